package config_test

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/livechatd/livechatd/config"
)

func TestHandoffBlocks(t *testing.T) {
	src := withReconcile(`
  waiting {
    still_waiting_every = "30s"
    max_wait            = "5m"
    message             = "Still there!"
    no_agent            = "Nobody came."
  }
  hours {
    time_zone = "Europe/Paris"
    weekly = {
      mon = ["14:00-18:00", "09:00-12:30"]
      sat = ["10:00-24:00"]
    }
    holidays       = ["2026-12-25"]
    offline_ticket = true
  }
  csat {
    question = "How was it?"
    scale    = 3
    labels   = ["Bad", "OK", "Good"]
  }
  messages {
    closed       = "Closed!"
    agent_joined = "{agent} is here."
  }`)
	f, err := config.Parse("livechatd.hcl", []byte(src), env(nil))
	if err != nil {
		t.Fatal(err)
	}
	b := f.Bots[0]
	if want := (config.Waiting{Enabled: true, StillWaitingEvery: 30 * time.Second, MaxWait: 5 * time.Minute, Message: "Still there!", NoAgent: "Nobody came."}); b.Waiting != want {
		t.Errorf("waiting %+v, want %+v", b.Waiting, want)
	}
	paris, _ := time.LoadLocation("Europe/Paris")
	want := &config.Hours{TimeZone: "Europe/Paris", Location: paris,
		Weekly:   map[time.Weekday][]config.Span{time.Monday: {{From: 540, To: 750}, {From: 840, To: 1080}}, time.Saturday: {{From: 600, To: 1440}}},
		Holidays: []string{"2026-12-25"}, OfflineTicket: true}
	if diff := cmp.Diff(want, b.Hours, cmpopts.IgnoreFields(config.Hours{}, "Location")); diff != "" {
		t.Errorf("hours (-want +got):\n%s", diff)
	}
	if b.Hours.Location == nil || b.Hours.Location.String() != "Europe/Paris" {
		t.Errorf("location %v", b.Hours.Location)
	}
	if want := (&config.CSAT{Question: "How was it?", Scale: 3, Labels: []string{"Bad", "OK", "Good"}, Thanks: config.DefaultCSAT.Thanks}); !cmp.Equal(want, b.CSAT) {
		t.Errorf("csat %+v, want %+v", b.CSAT, want)
	}
	if b.Messages.Closed != "Closed!" || b.Messages.AgentJoined != "{agent} is here." || b.Messages.Ended != config.DefaultMessages.Ended {
		t.Errorf("messages %+v", b.Messages)
	}
}

func TestHandoffDefaults(t *testing.T) {
	f, err := config.Parse("livechatd.hcl", []byte(withReconcile("")), env(nil))
	if err != nil {
		t.Fatal(err)
	}
	b := f.Bots[0]
	if b.Waiting != config.DefaultWaiting || b.Hours != nil || b.CSAT != nil {
		t.Errorf("defaults: waiting %+v, hours %+v, csat %+v", b.Waiting, b.Hours, b.CSAT)
	}
	if want := (config.Waiting{Enabled: true, StillWaitingEvery: time.Minute, MaxWait: 0,
		Message: config.DefaultWaiting.Message, NoAgent: config.DefaultWaiting.NoAgent}); config.DefaultWaiting != want {
		t.Errorf("DefaultWaiting = %+v; update docs/handoff.md too", config.DefaultWaiting)
	}
	f, err = config.Parse("livechatd.hcl", []byte(withReconcile("waiting { enabled = false }\n csat {}")), env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if f.Bots[0].Waiting.Enabled || f.Bots[0].CSAT == nil || f.Bots[0].CSAT.Scale != 5 {
		t.Errorf("waiting off, csat defaults: %+v %+v", f.Bots[0].Waiting, f.Bots[0].CSAT)
	}
}

func TestHandoffErrors(t *testing.T) {
	const bot = ` in bot "shop"`
	tests := []struct {
		name, block, want string
	}{
		{"interval too short", `waiting { still_waiting_every = "100ms" }`, `still_waiting_every` + bot + ` waiting must be at least 1s, got "100ms"`},
		{"max_wait too long", `waiting { max_wait = "200h" }`, `max_wait` + bot + ` waiting must be at most 168h`},
		{"empty message", `waiting { message = " " }`, `message` + bot + ` waiting must not be empty`},
		{"no time zone", `hours { weekly = { mon = ["09:00-18:00"] } }`, `missing required attribute "time_zone"` + bot + ` hours`},
		{"bad time zone", `hours {
    time_zone = "Mars/Olympus"
    weekly = { mon = ["09:00-18:00"] }
  }`, `time_zone` + bot + ` hours must be an IANA time zone such as "Europe/Paris" or "UTC", got "Mars/Olympus"`},
		{"no weekly", `hours { time_zone = "UTC" }`, `missing required attribute "weekly"` + bot + ` hours`},
		{"bad day", `hours {
    time_zone = "UTC"
    weekly = { monday = ["09:00-18:00"] }
  }`, `weekly` + bot + ` hours: unknown day "monday": use mon, tue, wed, thu, fri, sat and sun`},
		{"bad range", `hours {
    time_zone = "UTC"
    weekly = { mon = ["9h-18h"] }
  }`, `weekly.mon` + bot + ` hours: "9h-18h" is not a range written HH:MM-HH:MM`},
		{"backwards", `hours {
    time_zone = "UTC"
    weekly = { tue = ["18:00-09:00"] }
  }`, `weekly.tue` + bot + ` hours: "18:00-09:00" ends before it starts`},
		{"impossible time", `hours {
    time_zone = "UTC"
    weekly = { tue = ["09:00-25:00"] }
  }`, `weekly.tue` + bot + ` hours: "09:00-25:00" holds a time that does not exist`},
		{"overlap", `hours {
    time_zone = "UTC"
    weekly = { wed = ["09:00-12:00", "11:00-13:00"] }
  }`, `weekly.wed` + bot + ` hours: the ranges 09:00-12:00 and 11:00-13:00 overlap`},
		{"bad holiday", `hours {
    time_zone = "UTC"
    weekly = { mon = ["09:00-18:00"] }
    holidays = ["25/12/2026"]
  }`, `holidays` + bot + ` hours: "25/12/2026" is not a date written YYYY-MM-DD`},
		{"scale", `csat { scale = 11 }`, `scale` + bot + ` csat must be a whole number from 2 to 10`},
		{"labels", `csat {
    scale  = 2
    labels = ["a"]
  }`, `labels` + bot + ` csat holds 1 titles; it needs one per score, 2 (scale)`},
		{"unknown csat key", `csat { questoin = "?" }`, `unknown attribute "questoin"` + bot + ` csat; did you mean "question"?`},
		{"duplicate hours", "hours {\n time_zone = \"UTC\"\n weekly = {}\n}\n hours {\n time_zone = \"UTC\"\n weekly = {}\n}", `duplicate hours block` + bot},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := config.Parse("livechatd.hcl", []byte(withReconcile(tt.block)), env(nil))
			if err == nil {
				t.Fatal("no error")
			}
			if got := errorText(t, err); !strings.Contains(got, tt.want) {
				t.Errorf("error:\n got %s\nwant it to contain %s", got, tt.want)
			}
		})
	}
}
