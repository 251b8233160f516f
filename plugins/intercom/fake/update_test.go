package fake_test

import (
	"net/http"
	"testing"

	"github.com/livechatd/livechatd/plugins/intercom/fake"
)

// TestUpdateConversationRead: PUT /conversations/{id} {"read": true} sets
// the read flag and answers the whole conversation; an unknown
// conversation is 404 not_found, a read that is not a boolean 400
// parameter_invalid, a wrong token 401, each in Intercom's error list.
func TestUpdateConversationRead(t *testing.T) {
	s := fake.New(t, fake.Options{})
	_, contact := call(t, s, http.MethodPost, "/contacts", s.Token(), map[string]any{"role": "user", "external_id": "u1"})
	_, msg := call(t, s, http.MethodPost, "/conversations", s.Token(), map[string]any{"from": map[string]any{"type": "user", "id": contact["id"]}, "body": "help"})
	conv, _ := msg["conversation_id"].(string)
	if conv == "" {
		t.Fatalf("no conversation: %v", msg)
	}
	if _, body := call(t, s, http.MethodGet, "/conversations/"+conv, s.Token(), nil); body["read"] != false {
		t.Fatalf("a new conversation's read: %v", body["read"])
	}

	resp, body := call(t, s, http.MethodPut, "/conversations/"+conv, "wrong", map[string]any{"read": true})
	if code, _ := errorCode(t, body); resp.StatusCode != http.StatusUnauthorized || code != "unauthorized" {
		t.Errorf("bad token: %d %v", resp.StatusCode, body)
	}
	resp, body = call(t, s, http.MethodPut, "/conversations/99", s.Token(), map[string]any{"read": true})
	if code, msg := errorCode(t, body); resp.StatusCode != http.StatusNotFound || code != "not_found" || msg != "Resource Not Found" {
		t.Errorf("unknown conversation: %d %v", resp.StatusCode, body)
	}
	resp, body = call(t, s, http.MethodPut, "/conversations/"+conv, s.Token(), map[string]any{"read": "yes"})
	if code, _ := errorCode(t, body); resp.StatusCode != http.StatusBadRequest || code != "parameter_invalid" {
		t.Errorf("read not a boolean: %d %v", resp.StatusCode, body)
	}
	if cv, _ := s.Conversation(conv); cv.Read {
		t.Fatal("read after refused calls")
	}

	resp, body = call(t, s, http.MethodPut, "/conversations/"+conv, s.Token(), map[string]any{"read": true})
	if resp.StatusCode != http.StatusOK || body["type"] != "conversation" || body["id"] != conv || body["read"] != true || body["conversation_parts"] == nil {
		t.Errorf("PUT read: %d %v", resp.StatusCode, body)
	}
	if cv, _ := s.Conversation(conv); !cv.Read {
		t.Error("the conversation is not read")
	}
	if _, body := call(t, s, http.MethodGet, "/conversations/"+conv, s.Token(), nil); body["read"] != true {
		t.Errorf("GET after PUT: read %v", body["read"])
	}
}
