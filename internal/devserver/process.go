package devserver

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// process is one running game-server command. Its waiter goroutine ends
// when the process exits; stop makes it exit.
type process struct {
	cmd   *exec.Cmd
	grace time.Duration
	done  chan struct{} // closed once the process exited and its output is copied
	err   error         // cmd.Wait's, valid once done is closed

	stopping atomic.Bool
	stopCh   chan struct{}
	stopOnce sync.Once
}

// shellName is $0 of the command's shell.
const shellName = "bevygap-gameserver"

// startProcess runs command with sh -c; args are its positional
// parameters, appended to it unless it uses "$@" itself.
func startProcess(command string, args, env []string, out *prefixWriter, grace time.Duration) (*process, error) {
	sh, err := exec.LookPath("sh")
	if err != nil {
		return nil, fmt.Errorf("a POSIX shell (sh) runs the command: %w", err)
	}
	script := command
	if len(args) > 0 && !strings.Contains(command, "$@") {
		script += ` "$@"`
	}
	cmd := exec.Command(sh, append([]string{"-c", script, shellName}, args...)...)
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = out, out // the same writer: one write at a time
	cmd.WaitDelay = grace             // a grandchild holding the output open does not hold Wait forever
	ownGroup(cmd)
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p := &process{cmd: cmd, grace: grace, done: make(chan struct{}), stopCh: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		out.Flush()
		close(p.done)
	}()
	return p, nil
}

func (p *process) pid() int { return p.cmd.Process.Pid }

// stop ends the process: SIGTERM to its process group, SIGKILL after the
// grace. It returns once the process exited; safe to call more than once.
func (p *process) stop() {
	p.stopOnce.Do(func() {
		p.stopping.Store(true)
		close(p.stopCh)
		select {
		case <-p.done:
			return
		default:
		}
		terminate(p.cmd)
		// The shell may exit on SIGTERM while what it started ignores it:
		// what counts is the whole process group, which gets SIGKILL once
		// the grace is over unless it is gone by then.
		deadline := time.Now().Add(p.grace)
		for groupAlive(p.cmd) && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
		}
		if groupAlive(p.cmd) {
			kill(p.cmd)
		}
	})
	<-p.done
}

// watch calls exited with the exit error if the process ends before stop
// is called. The returned function waits for the watcher; call it after
// stop.
func (p *process) watch(exited func(error)) (wait func()) {
	var wg sync.WaitGroup
	wg.Go(func() {
		select {
		case <-p.done:
			if !p.stopping.Load() {
				exited(p.err)
			}
		case <-p.stopCh:
		}
	})
	return wg.Wait
}

// describeExit says how a process ended.
func describeExit(err error) string {
	if err == nil {
		return "exit status 0"
	}
	if ee, ok := errors.AsType[*exec.ExitError](err); ok {
		return ee.String()
	}
	return err.Error()
}

// lockedWriter serializes writes of several deployments' output.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// maxLine bounds a buffered output line: a longer one is written in pieces.
const maxLine = 64 << 10

// prefixWriter writes each complete line with a prefix, in one Write of
// the underlying writer so that lines of different deployments never mix.
type prefixWriter struct {
	w      io.Writer
	prefix string
	buf    []byte
}

func newPrefixWriter(w io.Writer, prefix string) *prefixWriter {
	return &prefixWriter{w: w, prefix: prefix}
}

func (pw *prefixWriter) Write(p []byte) (int, error) {
	pw.buf = append(pw.buf, p...)
	for {
		i := bytes.IndexByte(pw.buf, '\n')
		if i < 0 {
			if len(pw.buf) >= maxLine {
				pw.line(pw.buf)
				pw.buf = pw.buf[:0]
			}
			return len(p), nil
		}
		pw.line(pw.buf[:i])
		pw.buf = pw.buf[i+1:]
	}
}

// Flush writes a last line without a newline.
func (pw *prefixWriter) Flush() {
	if len(pw.buf) > 0 {
		pw.line(pw.buf)
		pw.buf = nil
	}
}

func (pw *prefixWriter) line(l []byte) {
	b := make([]byte, 0, len(pw.prefix)+len(l)+1)
	b = append(b, pw.prefix...)
	b = append(b, bytes.TrimSuffix(l, []byte("\r"))...)
	b = append(b, '\n')
	_, _ = pw.w.Write(b) // dev's log: nothing to do about a failed write
}
