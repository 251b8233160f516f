package httpapi_test

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/livechatd/livechatd/host/httpapi"
	"github.com/livechatd/livechatd/host/sqlite"
	"github.com/livechatd/livechatd/host/webchat"
)

// Close ends the webchat streams as it starts, so an open chat tab does not
// hold it: it returns without using its grace, and the stream ends cleanly.
func TestCloseEndsWebchatStreams(t *testing.T) {
	db, err := sqlite.Open(filepath.Join(t.TempDir(), "db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	chat := webchat.New(db, map[string]string{"shop": "secret"}, nil)
	srv := &httpapi.Server{Store: db, Webchat: chat}
	if err := srv.Open("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close(context.Background()) })

	resp, err := validatingClient(t, nil).Get("http://" + srv.Addr() + "/v1/bots/shop/users/u1/stream?token=" + chat.Token("shop", "u1"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	br := bufio.NewReader(resp.Body)
	if line, err := br.ReadString('\n'); resp.StatusCode != http.StatusOK || err != nil || line != "retry: 1000\n" {
		t.Fatalf("stream: %d, first line %q, %v", resp.StatusCode, line, err)
	}

	// The grace is far longer than Close may take; running out of it is the
	// failure.
	const grace = 5 * time.Second
	ctx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	began := time.Now()
	if err := srv.Close(ctx); err != nil {
		t.Fatalf("Close with a stream open: %v after %v", err, time.Since(began))
	}
	if _, err := io.Copy(io.Discard, br); err != nil {
		t.Errorf("the stream ended with %v, want a clean end", err)
	}
}
