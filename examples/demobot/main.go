// Command demobot is a small chatbot for livechatd's demo: it answers in the
// CSML reply shape and follows the CSML livechat demo flow — it offers a
// human ("Yes, talk to a human!" sends LIVECHAT_SESSION_START), thanks the
// user on LIVECHAT_SESSION_END, and says so on LIVECHAT_SESSION_EXPIRED.
//
//	demobot -listen 127.0.0.1:9000     # livechatd's bot_url: http://127.0.0.1:9000/events
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"
)

// event is the part of a CSML event the bot reads.
type event struct {
	RequestID string         `json:"request_id"`
	Client    map[string]any `json:"client"`
	Metadata  map[string]any `json:"metadata"`
	Payload   struct {
		ContentType string         `json:"content_type"`
		Content     map[string]any `json:"content"`
	} `json:"payload"`
}

func (e event) value() string {
	for _, k := range []string{"payload", "text"} {
		if s, ok := e.Payload.Content[k].(string); ok {
			return strings.TrimSpace(s)
		}
	}
	return ""
}

type message map[string]any

func text(s string) message {
	return message{"content_type": "text", "content": map[string]any{"text": s}}
}

// offer is the demo flow's question.
func offer() message {
	return message{"content_type": "question", "content": map[string]any{
		"title": "Do you need some help from a human agent?",
		"buttons": []any{map[string]any{"content_type": "button", "content": map[string]any{
			"title": "Yes, talk to a human!", "payload": "LIVECHAT_SESSION_START"}}},
	}}
}

// answer is the demo flow: the question, then the reactions to the
// livechat events.
func answer(ev event) []message {
	switch v := ev.value(); {
	case v == "LIVECHAT_SESSION_END":
		return []message{text("Thanks for chatting with us today!")}
	case v == "LIVECHAT_SESSION_EXPIRED":
		return []message{text("Your livechat session expired.")}
	case v == "LIVECHAT_SESSION_FAILED":
		return []message{text("Sorry, no agent could be reached. Please try again later.")}
	case v == "LIVECHAT_SESSION_NO_AGENT":
		return []message{text("Our agents are all busy. Leave your email here and we will write to you.")}
	case v == "LIVECHAT_SESSION_CLOSED_HOURS":
		return []message{text("Our team is away right now. Leave your email here and we will write to you when we are back.")}
	case v == "" || isGreeting(v):
		name, _ := ev.Metadata["firstname"].(string)
		hello := "Hello! I am the demo bot."
		if name != "" {
			hello = fmt.Sprintf("Hello %s! I am the demo bot.", name)
		}
		return []message{text(hello), offer()}
	default:
		return []message{text("Please click on the button to confirm you need human assistance."), offer()}
	}
}

func isGreeting(v string) bool {
	switch strings.ToLower(strings.Trim(v, "!.? ")) {
	case "hi", "hello", "hey", "help", "start":
		return true
	}
	return false
}

func handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /events", func(w http.ResponseWriter, r *http.Request) {
		var ev event
		if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20)).Decode(&ev); err != nil {
			http.Error(w, `{"error":"malformed event"}`, http.StatusBadRequest)
			return
		}
		var msgs []any
		for i, m := range answer(ev) {
			msgs = append(msgs, map[string]any{"direction": "SEND", "interaction_order": i, "payload": m})
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{
			"request_id": ev.RequestID, "client": ev.Client, "conversation_end": false, "messages": msgs,
		})
	})
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
	return mux
}

func main() {
	log.SetFlags(0)
	log.SetPrefix("demobot: ") // its errors name it among the demo's processes
	listen := flag.String("listen", "127.0.0.1:9000", "address to listen on")
	flag.Parse()
	srv := &http.Server{Addr: *listen, Handler: handler(), ReadHeaderTimeout: 10 * time.Second}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		log.Fatal(err)
	}
	// The real address (for -listen :0), on stdout for scripts and tests.
	fmt.Printf("demobot listening on http://%s/events\n", ln.Addr())
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Fatal(err)
	}
}
