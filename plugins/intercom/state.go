package intercom

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"

	"github.com/livechatd/livechatd/sdk"
)

// store is where the plugin keeps what its calls did: the plugin state
// livechatd keeps for it (sdk.StateOf), and, on a host that keeps none (a
// livechatd older than plugin state, or sdktest's conformance suite), a
// journal of its own — in memory, and in a file under state_dir when set,
// so that it outlives a restart of the plugin.
type store struct {
	host sdk.StateStore

	mu     sync.Mutex
	noHost bool
	own    *journal
}

func (s *store) useOwn(err error) bool {
	if !errors.Is(err, sdk.ErrNoState) {
		return false
	}
	s.mu.Lock()
	s.noHost = true
	s.mu.Unlock()
	return true
}

func (s *store) hostless() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.noHost
}

func (s *store) get(ctx context.Context, k sdk.StateKey) (string, error) {
	if !s.hostless() {
		v, ok, err := s.host.GetState(ctx, k)
		if !s.useOwn(err) {
			if err != nil || !ok {
				return "", err
			}
			return string(v), nil
		}
	}
	return s.own.get(k), nil
}

func (s *store) set(ctx context.Context, k sdk.StateKey, v string) error {
	if !s.hostless() {
		err := s.host.SetState(ctx, k, []byte(v))
		if !s.useOwn(err) {
			return err
		}
	}
	return s.own.set(k, v)
}

// journal is the plugin's own state: a map, and the file it is appended
// to (none when dir is "").
type journal struct {
	path string

	mu sync.Mutex
	m  map[sdk.StateKey]string
}

type journalEntry struct {
	Session string `json:"s"`
	Key     string `json:"k"`
	Value   string `json:"v"`
}

// openJournal reads bot's journal in dir ("": in memory only).
func openJournal(dir, bot string) (*journal, error) {
	j := &journal{m: map[sdk.StateKey]string{}}
	if dir == "" {
		return j, nil
	}
	sum := sha256.Sum256([]byte(bot))
	j.path = filepath.Join(dir, "livechat-intercom-"+hex.EncodeToString(sum[:8])+".jsonl")
	f, err := os.Open(j.path)
	if errors.Is(err, os.ErrNotExist) {
		return j, nil
	}
	if err != nil {
		return nil, fmt.Errorf("state_dir: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), sdk.MaxStateValue+sdk.MaxStateKey+1024)
	for sc.Scan() {
		var e journalEntry
		if json.Unmarshal(sc.Bytes(), &e) == nil {
			j.m[sdk.StateKey{Bot: bot, SessionID: e.Session, Key: e.Key}] = e.Value
		}
	}
	return j, nil
}

func (j *journal) get(k sdk.StateKey) string {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.m[k]
}

func (j *journal) set(k sdk.StateKey, v string) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.m[k] = v
	if j.path == "" {
		return nil
	}
	line, _ := json.Marshal(journalEntry{Session: k.SessionID, Key: k.Key, Value: v})
	f, err := os.OpenFile(j.path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		return sdk.Retryable(fmt.Errorf("state_dir: %w", err), 0)
	}
	_, err = f.Write(append(line, '\n'))
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return sdk.Retryable(fmt.Errorf("state_dir: %w", err), 0)
	}
	return nil
}
