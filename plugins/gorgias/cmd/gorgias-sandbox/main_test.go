package main

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// syncBuffer is a bytes.Buffer safe for a writer and a reader goroutine.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestMain_RunsAndStops(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	out, in := io.Pipe()
	var errOut syncBuffer
	code := make(chan int, 1)
	go func() {
		code <- Main(ctx, []string{"-listen", "127.0.0.1:0", "-email", "a@b.c", "-api-key", "k", "-quiet",
			"-integration-url", "http://127.0.0.1:9/receive?text={{message.body_text}}", "-integration-header", "X-Token: t"}, in, &errOut)
		in.Close()
	}()

	lines := bufio.NewScanner(out)
	var api, desk string
	var integration bool
	for (api == "" || desk == "" || !integration) && lines.Scan() {
		f := strings.Fields(lines.Text())
		switch {
		case len(f) >= 2 && f[0] == "API":
			api = f[1]
		case len(f) >= 2 && f[0] == "desk":
			desk = f[1]
		case strings.HasPrefix(lines.Text(), "integration #"):
			integration = strings.Contains(lines.Text(), "{{message.body_text}}")
		}
	}
	go func() { _, _ = io.Copy(io.Discard, out) }()
	if api == "" || desk == "" || !integration {
		t.Fatalf("start output: api %q desk %q integration %v; stderr %s", api, desk, integration, errOut.String())
	}

	req, _ := http.NewRequest("GET", api+"integrations", nil)
	req.SetBasicAuth("a@b.c", "k")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), `"X-Token":"t"`) {
		t.Errorf("GET integrations: %d %s", resp.StatusCode, body)
	}
	resp, err = http.Get(desk)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("desk: %d", resp.StatusCode)
	}

	cancel()
	select {
	case c := <-code:
		if c != 0 {
			t.Errorf("exit code %d; stderr %s", c, errOut.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Main did not stop")
	}
}

func TestMain_BadFlags(t *testing.T) {
	for _, args := range [][]string{{"-nope"}, {"extra"}, {"-integration-url", "not a url"}, {"-integration-header", "novalue"}} {
		var out, errOut bytes.Buffer
		if c := Main(context.Background(), args, &out, &errOut); c != 2 {
			t.Errorf("%q: exit code %d, want 2", args, c)
		}
	}
}
