package sqlite

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/livechatd/livechatd/host"
)

// errLocked is tryLock's answer when another process holds the lock.
var errLocked = errors.New("locked by another process")

// fileLock is an exclusive lock (flock; LockFileEx on Windows) on "<database>.lock",
// held for as long as the store is open. The engine assumes it is the only
// worker of the file: it releases every claim when it starts. A second
// process on the same file (a rolling restart, a second replica) would run
// the same items twice, so it is refused at Open instead. The kernel drops
// the lock when its holder dies, SIGKILL included.
type fileLock struct{ f *os.File }

func lockFile(dbPath string) (*fileLock, error) {
	path := dbPath + ".lock"
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o640)
	if err != nil {
		return nil, fmt.Errorf("sqlite: lock file: %w", err)
	}
	if err := tryLock(f); err != nil {
		holder, _ := os.ReadFile(path)
		f.Close()
		if errors.Is(err, errLocked) {
			who := strings.TrimSpace(string(holder))
			if who == "" {
				who = "another process"
			}
			return nil, &host.Error{Code: host.ECONFLICT, Field: "storage.path", Message: fmt.Sprintf(
				"sqlite: %s is in use by %s; one livechatd process per SQLite file (use PostgreSQL for several replicas)", dbPath, who)}
		}
		return nil, fmt.Errorf("sqlite: lock %s: %w", path, err)
	}
	host, _ := os.Hostname()
	info := fmt.Sprintf("livechatd pid %d on %s since %s\n", os.Getpid(), host, time.Now().UTC().Format(time.RFC3339))
	if err := f.Truncate(0); err == nil {
		_, _ = f.WriteAt([]byte(info), 0)
	}
	return &fileLock{f: f}, nil
}

// release drops the lock. The file stays: removing it would race a process
// that has just opened it.
func (l *fileLock) release() error {
	if l == nil {
		return nil
	}
	return l.f.Close()
}
