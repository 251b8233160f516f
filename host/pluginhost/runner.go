package pluginhost

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
	"unicode/utf8"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin/runner"
)

// procRunner is the go-plugin runner.Runner for one plugin process. go-plugin
// has one of its own, but it tells nobody when the process exits, nor what
// the plugin printed before it failed; the supervisor needs both.
type procRunner struct {
	cmd    *exec.Cmd
	stdout io.ReadCloser
	stderr io.ReadCloser

	// exited is closed when the process has exited; exitErr says how.
	exited  chan struct{}
	exitErr error
	pid     int

	// handshake is the first line the plugin printed on stdout.
	handshakeOnce sync.Once
	handshake     chan string
	// tail keeps the end of stderr, to say why a plugin failed.
	tail *tailBuffer
	// out logs what the plugin prints on stdout after its handshake, both
	// straight to its file descriptor 1 (raw) and through go-plugin's
	// stdio stream (synced, the writer given as SyncStdout).
	out         *stdoutLog
	raw, synced *lineWriter
}

var _ runner.Runner = (*procRunner)(nil)

// newProcRunner prepares path to run with exactly env: go-plugin's own
// variables and nothing of the host's environment. What the process
// prints on stdout after its handshake goes to out, as does what synced
// is given (go-plugin's SyncStdout).
func newProcRunner(path string, env []string, out *stdoutLog, synced *lineWriter) (*procRunner, error) {
	cmd := exec.Command(path)
	cmd.Env = env
	cmd.Dir = "/"
	cmd.SysProcAttr = pluginProcAttr()
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	r := &procRunner{
		cmd:       cmd,
		exited:    make(chan struct{}),
		handshake: make(chan string, 1),
		tail:      &tailBuffer{max: 2048},
		out:       out,
		raw:       out.writer(),
		synced:    synced,
	}
	r.stdout = &firstLineReader{r: stdout, closer: stdout, line: r.setHandshake, rest: r.afterHandshake, eof: r.stdoutEnded}
	r.stderr = struct {
		io.Reader
		io.Closer
	}{io.TeeReader(stderr, r.tail), stderr}
	return r, nil
}

func (r *procRunner) setHandshake(line string) {
	r.handshakeOnce.Do(func() { r.handshake <- line })
}

// afterHandshake gets what the plugin printed on stdout after its first
// line. go-plugin reads it and throws it away; it is logged when the first
// line was a handshake (else the start failed, and the error says so).
func (r *procRunner) afterHandshake(p []byte) {
	if line, ok := r.handshakeLine(); ok && isHandshake(line) {
		_, _ = r.raw.Write(p)
	}
}

// stdoutEnded runs when the process's stdout ends, which is when it exits:
// the last partial lines are logged and the count of lines not logged.
func (r *procRunner) stdoutEnded() {
	r.raw.flush()
	r.synced.flush()
	r.out.flush()
}

// isHandshake reports whether line looks like go-plugin's handshake:
// CORE-PROTOCOL|APP-PROTOCOL|NETWORK|ADDRESS|PROTOCOL...
func isHandshake(line string) bool {
	parts := strings.Split(strings.TrimSpace(line), "|")
	if len(parts) < 4 {
		return false
	}
	_, err := strconv.Atoi(parts[0])
	return err == nil
}

// printedBeforeHandshake returns the plugin's first line on stdout when it
// is not a handshake: something the plugin printed before go-plugin's.
func (r *procRunner) printedBeforeHandshake() (string, bool) {
	line, ok := r.handshakeLine()
	if !ok || isHandshake(line) || strings.TrimSpace(line) == "" {
		return "", false
	}
	return line, true
}

// handshakeLine returns the plugin's handshake line if it printed one.
func (r *procRunner) handshakeLine() (string, bool) {
	select {
	case l := <-r.handshake:
		r.handshake <- l
		return l, true
	default:
		return "", false
	}
}

// protocolVersion is the protocol version the plugin announced, if any.
func (r *procRunner) protocolVersion() (int, bool) {
	line, ok := r.handshakeLine()
	if !ok {
		return 0, false
	}
	parts := strings.Split(strings.TrimSpace(line), "|")
	if len(parts) < 2 {
		return 0, false
	}
	v, err := strconv.Atoi(parts[1])
	return v, err == nil
}

func (r *procRunner) Start(context.Context) error {
	if err := r.cmd.Start(); err != nil {
		return err
	}
	r.pid = r.cmd.Process.Pid
	return nil
}

// Wait is called once by go-plugin after the pipes are drained.
func (r *procRunner) Wait(context.Context) error {
	err := r.cmd.Wait()
	r.exitErr = err
	close(r.exited)
	return err
}

func (r *procRunner) Kill(context.Context) error {
	if r.cmd.Process == nil {
		return nil
	}
	if err := r.cmd.Process.Kill(); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return err
	}
	return nil
}

func (r *procRunner) Stdout() io.ReadCloser { return r.stdout }
func (r *procRunner) Stderr() io.ReadCloser { return r.stderr }
func (r *procRunner) Name() string          { return r.cmd.Path }
func (r *procRunner) ID() string {
	if r.pid == 0 {
		return ""
	}
	return strconv.Itoa(r.pid)
}

func (r *procRunner) Diagnose(ctx context.Context) string {
	// go-plugin asks as soon as stdout ends, which can be before it has read
	// the plugin's last words on stderr: wait, briefly, for the process to
	// be reaped, which happens once both pipes are drained. A plugin that
	// printed before its handshake is most likely still running: the wait
	// is shorter, and the start error names what it printed (launch).
	d := 2 * time.Second
	if _, printed := r.printedBeforeHandshake(); printed {
		d = 200 * time.Millisecond
	}
	wait := time.NewTimer(d)
	defer wait.Stop()
	select {
	case <-r.exited:
	case <-ctx.Done():
	case <-wait.C:
	}
	if t := r.tail.String(); t != "" {
		return "the plugin printed on stderr: " + t
	}
	return fmt.Sprintf("%s printed no go-plugin handshake: is it a livechatd provider plugin built with the SDK?", r.cmd.Path)
}

func (r *procRunner) PluginToHost(network, addr string) (string, string, error) {
	return network, addr, nil
}

func (r *procRunner) HostToPlugin(network, addr string) (string, string, error) {
	return network, addr, nil
}

// describeExit says how a process ended, for logs and failure reasons.
func describeExit(err error) string {
	if err == nil {
		return "exited with status 0"
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return "killed by signal " + ws.Signal().String()
		}
	}
	return err.Error()
}

// firstLineReader hands the first line read through it to line, what
// follows it to rest, and calls eof once the reader ends.
type firstLineReader struct {
	r      io.Reader
	closer io.Closer
	line   func(string)
	rest   func([]byte)
	eof    func()
	buf    []byte
	done   bool
	ended  bool
}

func (f *firstLineReader) Read(p []byte) (int, error) {
	n, err := f.r.Read(p)
	switch {
	case f.done && n > 0:
		f.rest(p[:n])
	case n > 0:
		f.buf = append(f.buf, p[:n]...)
		if i := bytes.IndexByte(f.buf, '\n'); i >= 0 || len(f.buf) > 4096 {
			rest := []byte(nil)
			if i < 0 {
				i = len(f.buf)
			} else {
				rest = f.buf[i+1:]
			}
			f.line(string(f.buf[:i]))
			f.done, f.buf = true, nil
			if len(rest) > 0 {
				f.rest(rest)
			}
		}
	}
	if err != nil && !f.done && len(f.buf) > 0 {
		f.line(string(f.buf))
		f.done, f.buf = true, nil
	}
	if err != nil && !f.ended {
		f.ended = true
		f.eof()
	}
	return n, err
}

func (f *firstLineReader) Close() error { return f.closer.Close() }

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	b   []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if len(t.b) > t.max {
		t.b = append([]byte(nil), t.b[len(t.b)-t.max:]...)
	}
	return len(p), nil
}

// String returns the last few non-empty lines, as plain text when the plugin
// logged JSON.
func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	var lines []string
	sc := bufio.NewScanner(bytes.NewReader(t.b))
	for sc.Scan() {
		if l := strings.TrimSpace(sc.Text()); l != "" {
			lines = append(lines, l)
		}
	}
	if len(lines) > 3 {
		lines = lines[len(lines)-3:]
	}
	return strings.Join(lines, " | ")
}

// What a plugin prints on stdout after its handshake is a bug (its logs go
// to stderr), but it may say why the plugin misbehaves: each line is logged
// at warn under the plugin's name, cut at stdoutMaxLine bytes, at most
// stdoutBurst lines per stdoutWindow so a plugin printing in a loop cannot
// flood the host's log; the lines beyond are counted, and the count logged
// at the first line of the next window or when the process ends.
const (
	stdoutMaxLine = 512
	stdoutBurst   = 20
	stdoutWindow  = time.Minute
)

// stdoutLog logs one plugin's stdout lines, rate-limited across its
// processes: a plugin that crashes and restarts does not get a new budget.
type stdoutLog struct {
	log  hclog.Logger
	name string
	now  func() time.Time

	mu        sync.Mutex
	window    time.Time // start of the current window
	logged    int       // lines logged in it
	notLogged int       // lines not logged since the last count was logged
}

func newStdoutLog(log hclog.Logger, name string, now func() time.Time) *stdoutLog {
	return &stdoutLog{log: log, name: name, now: now}
}

// writer returns a writer that splits what it is given into lines for s.
func (s *stdoutLog) writer() *lineWriter { return &lineWriter{line: s.line} }

func (s *stdoutLog) line(l string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if now := s.now(); s.window.IsZero() || now.Sub(s.window) >= stdoutWindow || now.Before(s.window) {
		s.reportLocked()
		s.window, s.logged = now, 0
	}
	if s.logged >= stdoutBurst {
		s.notLogged++
		return
	}
	s.logged++
	s.log.Warn("plugin printed on stdout, which is not for output: log with sdk.Logger() (stderr)", "plugin", s.name, "line", l)
}

// flush logs the count of lines not logged, if any.
func (s *stdoutLog) flush() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.reportLocked()
}

func (s *stdoutLog) reportLocked() {
	if s.notLogged == 0 {
		return
	}
	s.log.Warn("plugin printed more on stdout than is logged", "plugin", s.name, "lines_not_logged", s.notLogged, "per", stdoutWindow.String(), "logged", stdoutBurst)
	s.notLogged = 0
}

// lineWriter splits a stream into lines of at most stdoutMaxLine bytes
// (the rest of a longer line is dropped, marked by an ellipsis) and hands
// them to line.
type lineWriter struct {
	line func(string)

	mu   sync.Mutex
	buf  []byte
	long bool // the current line was cut: skip to its end
}

func (w *lineWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	n := len(p)
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		chunk := p
		if i >= 0 {
			chunk = p[:i]
		}
		if !w.long {
			w.buf = append(w.buf, chunk...)
			if len(w.buf) > stdoutMaxLine {
				w.emit(truncate(string(w.buf), stdoutMaxLine))
				w.buf, w.long = w.buf[:0], true
			}
		}
		if i < 0 {
			break
		}
		if !w.long {
			w.emit(string(w.buf))
		}
		w.buf, w.long = w.buf[:0], false
		p = p[i+1:]
	}
	return n, nil
}

// flush hands over a last line without its newline.
func (w *lineWriter) flush() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.buf) > 0 && !w.long {
		w.emit(string(w.buf))
	}
	w.buf, w.long = w.buf[:0], false
}

func (w *lineWriter) emit(l string) {
	if l = strings.TrimRight(l, "\r"); l != "" {
		w.line(l)
	}
}

// truncate cuts s to at most max bytes, on a rune boundary, marking the cut.
func truncate(s string, max int) string {
	if len(s) <= max {
		return s
	}
	cut := max
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

// discardLogger is for go-plugin's client when no logger is given.
var discardLogger = hclog.NewNullLogger()
