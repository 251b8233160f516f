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
}

var _ runner.Runner = (*procRunner)(nil)

// newProcRunner prepares path to run with exactly env: go-plugin's own
// variables and nothing of the host's environment.
func newProcRunner(path string, env []string) (*procRunner, error) {
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
	}
	r.stdout = &firstLineReader{r: stdout, closer: stdout, line: r.setHandshake}
	r.stderr = struct {
		io.Reader
		io.Closer
	}{io.TeeReader(stderr, r.tail), stderr}
	return r, nil
}

func (r *procRunner) setHandshake(line string) {
	r.handshakeOnce.Do(func() { r.handshake <- line })
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
	// be reaped, which happens once both pipes are drained.
	wait := time.NewTimer(2 * time.Second)
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

// firstLineReader hands the first line read through it to line.
type firstLineReader struct {
	r      io.Reader
	closer io.Closer
	line   func(string)
	buf    []byte
	done   bool
}

func (f *firstLineReader) Read(p []byte) (int, error) {
	n, err := f.r.Read(p)
	if !f.done && n > 0 {
		f.buf = append(f.buf, p[:n]...)
		if i := bytes.IndexByte(f.buf, '\n'); i >= 0 || len(f.buf) > 4096 {
			if i < 0 {
				i = len(f.buf)
			}
			f.line(string(f.buf[:i]))
			f.done, f.buf = true, nil
		}
	}
	if err != nil && !f.done && len(f.buf) > 0 {
		f.line(string(f.buf))
		f.done, f.buf = true, nil
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

// discardLogger is for go-plugin's client when no logger is given.
var discardLogger = hclog.NewNullLogger()
