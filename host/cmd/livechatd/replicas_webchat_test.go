package main_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/livechatd/livechatd/host/internal/pgtest"
)

// pgServer starts a PostgreSQL cluster of the test's own (this package's
// TestMain is not pgtest's: the test stops it) and returns the DSN of its
// postgres database.
func pgServer(t *testing.T) string {
	t.Helper()
	srv, err := pgtest.Start()
	if err != nil {
		t.Fatalf("pgtest: %v (install: %s)", err, pgtest.InstallHint)
	}
	t.Cleanup(func() {
		if err := srv.Stop(); err != nil {
			t.Errorf("pgtest: stop: %v", err)
		}
	})
	return srv.DSN("postgres")
}

// replicaConfigs writes one config per replica name beside e.config: the
// same config but for storage, postgres at $DATABASE_URL, and the replica
// name. It returns their paths.
func replicaConfigs(t *testing.T, e *env, names ...string) []string {
	t.Helper()
	base := readFile(t, e.config)
	const sqliteLine = `storage "sqlite" { path = "data/livechat.db" }`
	if !strings.Contains(base, sqliteLine) {
		t.Fatalf("config has no %s", sqliteLine)
	}
	var paths []string
	for _, n := range names {
		cfg := strings.Replace(base, sqliteLine, fmt.Sprintf("storage \"postgres\" {\n  dsn     = env(\"DATABASE_URL\")\n  replica = %q\n}", n), 1)
		p := filepath.Join(filepath.Dir(e.config), "livechatd-"+n+".hcl")
		if err := os.WriteFile(p, []byte(cfg), 0o644); err != nil {
			t.Fatal(err)
		}
		paths = append(paths, p)
	}
	return paths
}

// sseEntry is one entry read from a webchat stream, with when it came.
type sseEntry struct {
	at    time.Time
	entry map[string]any
}

// openStream opens user's webchat stream on p and sends what it reads on
// the returned channel.
func openStream(t *testing.T, p *proc, user, token string) <-chan sseEntry {
	t.Helper()
	resp, err := http.Get(p.url + "/v1/bots/shop/users/" + url.PathEscape(user) + "/stream?token=" + url.QueryEscape(token))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("stream: %d", resp.StatusCode)
	}
	out := make(chan sseEntry, 64)
	go func() {
		defer close(out)
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			data, ok := strings.CutPrefix(sc.Text(), "data: ")
			if !ok {
				continue
			}
			var e map[string]any
			if json.Unmarshal([]byte(data), &e) == nil {
				out <- sseEntry{at: time.Now(), entry: e}
			}
		}
	}()
	return out
}

// webchatIdentity asks p for a new webchat user.
func webchatIdentity(t *testing.T, p *proc) (user, token string) {
	t.Helper()
	resp, err := http.Post(p.url+"/chat/shop/identity", "application/json", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var id struct {
		UserID string `json:"user_id"`
		Token  string `json:"token"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&id); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("identity: %d %v", resp.StatusCode, err)
	}
	return id.UserID, id.Token
}

// webchatSay posts a webchat user's event to p.
func webchatSay(t *testing.T, p *proc, user, token string, payload map[string]any) {
	t.Helper()
	b, _ := json.Marshal(map[string]any{"client": map[string]any{"user_id": user}, "payload": payload})
	req, _ := http.NewRequest(http.MethodPost, p.url+"/v1/bots/shop/events", bytes.NewReader(b))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Livechat-User-Token", token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		var out map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&out)
		t.Fatalf("event on %s: %d %v", p.url, resp.StatusCode, out)
	}
}

// entryText is a message entry's author and text ("" when it has none).
func entryText(e map[string]any) (author, text string) {
	if a, ok := e["author"].(map[string]any); ok {
		author, _ = a["type"].(string)
	}
	if p, ok := e["payload"].(map[string]any); ok {
		if c, ok := p["content"].(map[string]any); ok {
			text, _ = c["text"].(string)
		}
	}
	return author, text
}

// waitEntry reads stream until an entry of author with text comes, within
// d of since, and returns how long after since it came.
func waitEntry(t *testing.T, stream <-chan sseEntry, author, text string, since time.Time, d time.Duration) time.Duration {
	t.Helper()
	deadline := time.NewTimer(time.Until(since.Add(d)))
	defer deadline.Stop()
	for {
		select {
		case e, ok := <-stream:
			if !ok {
				t.Fatalf("the stream ended before %s %q came", author, text)
			}
			if a, x := entryText(e.entry); a == author && x == text {
				return e.at.Sub(since)
			}
		case <-deadline.C:
			t.Fatalf("%s %q did not reach the stream on the other replica within %s", author, text, d)
		}
	}
}

// TestReplicasWebchatStreamAcross: two livechatd replicas on one
// PostgreSQL; a webchat user's stream is open on replica a while their
// events go to replica b. What b records (the user's message) and the
// agent's reply (the echo plugin's push) reach the stream on a within 1 s.
func TestReplicasWebchatStreamAcross(t *testing.T) {
	dsn := pgServer(t)
	e := newEnv(t)
	e.writeConfig(t, demobot(t), "http://127.0.0.1:9/unused", "30m", "")
	cfg := strings.Replace(readFile(t, e.config), `channel_url     = "http://127.0.0.1:9/unused"`, `channel = "webchat"`, 1)
	if err := os.WriteFile(e.config, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	paths := replicaConfigs(t, e, "a", "b")
	a := startAs(t, livechatd(t), paths[0], nil, "DATABASE_URL="+dsn)
	b := startAs(t, livechatd(t), paths[1], nil, "DATABASE_URL="+dsn)

	user, token := webchatIdentity(t, a)
	stream := openStream(t, a, user, token)
	webchatSay(t, b, user, token, button("LIVECHAT_SESSION_START"))
	waitEntry(t, stream, "agent", "Hello from Echo.", time.Now(), 10*time.Second)

	for i := range 5 {
		msg := fmt.Sprintf("across %d", i)
		sent := time.Now()
		webchatSay(t, b, user, token, text(msg))
		own := waitEntry(t, stream, "user", msg, sent, time.Second)
		reply := waitEntry(t, stream, "agent", "echo: "+msg, sent, time.Second)
		t.Logf("%s: the user's message on replica a %s after it was sent to b, the agent's reply %s", msg, own.Round(time.Millisecond), reply.Round(time.Millisecond))
	}
}
