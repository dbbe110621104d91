package gateway

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"runtime/debug"
	"time"

	"github.com/coder/websocket"

	"github.com/bevygap/bevygap/pkg/protocol"
)

// errUnexpectedData is the reader's error when a client sends a second data
// message: one request per connection.
var errUnexpectedData = errors.New("unexpected data message after the request")

// wsSession is one websocket client. Two goroutines serve it once the
// upgrade is done (net/http's connection goroutine returns): run (request,
// relay, close) and a reader that takes the request message and then keeps
// reading so pongs and the client's close frame are processed.
type wsSession struct {
	s     *Server
	c     *websocket.Conn // set under s.mu once accepted
	first chan firstMsg   // cap 1: the request message (or the read error)
	// readerDone is closed when the reader stops; readErr is then set.
	readerDone chan struct{}
	readErr    error

	// Owned by the session goroutine.
	start   time.Time
	ca      clientAddr
	ipErr   error
	release func()       // pending slot, once taken
	w       *waiter      // reply waiter, once the request is sent
	ticker  *time.Ticker // keepalive pings
	outcome string
}

type firstMsg struct {
	typ  websocket.MessageType
	data []byte
	err  error
}

func (s *Server) handleWS(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	ss := &wsSession{s: s, first: make(chan firstMsg, 1), readerDone: make(chan struct{}), start: start, outcome: outClientGone}
	if !s.track(ss) {
		s.metrics.rejections.WithLabelValues("shutting_down").Inc()
		http.Error(w, "gateway shutting down", http.StatusServiceUnavailable)
		return
	}
	ss.ca, ss.ipErr = s.resolveClient(r)
	if hj, ok := w.(http.Hijacker); ok {
		w = smallBuffers{ResponseWriter: w, hj: hj}
	}
	// The origin was checked by s.cors, with the same rules as CORS.
	c, err := websocket.Accept(w, r, &websocket.AcceptOptions{InsecureSkipVerify: true})
	if err != nil {
		s.untrack(ss)
		s.metrics.rejections.WithLabelValues("bad_upgrade").Inc()
		s.log.Debug("websocket upgrade failed", "err", err)
		return
	}
	s.mu.Lock()
	ss.c = c
	s.mu.Unlock()
	s.metrics.conns.Inc()
	c.SetReadLimit(s.cfg.WebsocketReadLimit)
	// The session continues on its own goroutine so that net/http's
	// connection goroutine, its request and its buffers are released while
	// the client waits.
	go ss.run()
}

// run serves an accepted session on its own goroutine, which owns the
// reader goroutine. Waiting clients are parked in relay.step, called from
// this shallow loop.
func (ss *wsSession) run() {
	defer ss.finish()
	go ss.read()
	rl := ss.begin()
	if rl == nil {
		return
	}
	for rl.step() {
	}
	ss.end(rl.res)
}

// finish releases everything the session holds; it is deferred by run and
// recovers a panic as a last resort.
func (ss *wsSession) finish() {
	s := ss.s
	if v := recover(); v != nil {
		s.log.Error("websocket session panic", "panic", v, "stack", string(debug.Stack()))
		ss.outcome = "panic"
	}
	if ss.ticker != nil {
		ss.ticker.Stop()
	}
	if ss.w != nil {
		ss.w.done()
	}
	if ss.release != nil {
		ss.release()
	}
	ss.c.CloseNow()
	<-ss.readerDone
	s.metrics.conns.Dec()
	s.observe(routeWS, ss.start, ss.outcome)
	s.untrack(ss)
}

// wsBufferSize is the size of a websocket connection's read and write
// buffers: requests are at most a few hundred bytes and frames are written
// through, so net/http's 4 KiB buffers would only cost memory while
// thousands of clients wait.
const wsBufferSize = 512

// smallBuffers hands the websocket library small buffers on Hijack instead
// of net/http's 4 KiB reader and writer, keeping any bytes the client sent
// early.
type smallBuffers struct {
	http.ResponseWriter
	hj http.Hijacker
}

func (w smallBuffers) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	conn, brw, err := w.hj.Hijack()
	if err != nil {
		return nil, nil, err
	}
	if err := brw.Writer.Flush(); err != nil {
		conn.Close()
		return nil, nil, err
	}
	n := brw.Reader.Buffered()
	early, _ := brw.Reader.Peek(n)
	early = bytes.Clone(early)
	br := bufio.NewReaderSize(io.MultiReader(bytes.NewReader(early), conn), max(wsBufferSize, n))
	if n > 0 {
		// Load the early bytes into the new buffer: the websocket library
		// keeps what is buffered and reads the rest from conn.
		if _, err := br.Peek(n); err != nil {
			conn.Close()
			return nil, nil, err
		}
	}
	return conn, bufio.NewReadWriter(br, bufio.NewWriterSize(conn, wsBufferSize)), nil
}

// read is the session's reader goroutine; the handler waits for it.
func (ss *wsSession) read() {
	defer close(ss.readerDone)
	defer func() {
		if v := recover(); v != nil {
			ss.s.log.Error("websocket reader panic", "panic", v)
			ss.readErr = errors.New("reader panic")
			ss.c.CloseNow()
		}
	}()
	typ, data, err := ss.c.Read(ss.s.hardCtx)
	ss.first <- firstMsg{typ, data, err}
	if err != nil {
		ss.readErr = err
		return
	}
	// Keep reading: control frames are handled inside Reader. A data message
	// breaks the one-request protocol.
	_, _, err = ss.c.Reader(ss.s.hardCtx)
	if err == nil {
		err = errUnexpectedData
	}
	ss.readErr = err
}

// begin takes a pending slot, waits for the request message, validates it
// and sends it to the matchmaker. It returns the relay for the replies, or
// nil when the session already ended (ss.outcome set, client told).
func (ss *wsSession) begin() *relay {
	s := ss.s
	if ss.ipErr != nil {
		ss.fail(outBadRequest, asProtocolError(ss.ipErr))
		return nil
	}
	release, rej := s.limits.acquire(ss.ca.network)
	if rej != nil {
		s.metrics.rejections.WithLabelValues(rej.reason).Inc()
		s.log.Info("websocket request rejected", "reason", rej.reason, "ip", ss.ca.network.String())
		ss.fail(outRejected, protocol.Errorf(rej.code, "%s", rej.msg))
		return nil
	}
	ss.release = release

	timer := time.NewTimer(s.cfg.FirstMessageTimeout)
	var m firstMsg
	select {
	case m = <-ss.first:
		timer.Stop()
	case <-timer.C:
		s.metrics.rejections.WithLabelValues("first_message_timeout").Inc()
		ss.fail(outBadRequest, protocol.Errorf(protocol.CodeTimeout, "no request message within %s", durationText(s.cfg.FirstMessageTimeout)))
		return nil
	case <-s.stopping:
		timer.Stop()
		ss.fail(outShutdown, shutdownError())
		return nil
	}
	if m.err != nil {
		if errors.Is(m.err, websocket.ErrMessageTooBig) {
			// The websocket library already closed with 1009.
			s.metrics.rejections.WithLabelValues("too_large").Inc()
			ss.outcome = outBadRequest
		}
		return nil
	}
	if m.typ != websocket.MessageText {
		ss.fail(outBadRequest, protocol.Errorf(protocol.CodeBadRequest, "expected a text message with the session request"))
		return nil
	}
	req, rerr := parseRequest(m.data)
	if rerr != nil {
		ss.fail(outBadRequest, rerr)
		return nil
	}
	ca, err := s.withOverride(ss.ca, req.ClientIP)
	if err != nil {
		ss.fail(outBadRequest, asProtocolError(err))
		return nil
	}
	w, perr := s.publishRequest(req.Game, req.Version, ca.client)
	if perr != nil {
		ss.fail(outUnavailable, perr)
		return nil
	}
	ss.w = w
	f := feed{send: ss.write, gone: ss.readerDone}
	if s.cfg.PingInterval > 0 {
		ss.ticker = time.NewTicker(s.cfg.PingInterval)
		f.tick, f.keepalive = ss.ticker.C, ss.ping
	}
	return s.newRelay(f, w, ss.start.Add(s.cfg.MaxRequestDuration), req.Game, req.Version)
}

// end closes the connection after the relay: 1000 "Goodbye" when the
// matchmaker finished, an Error frame and a close otherwise.
func (ss *wsSession) end(res result) {
	switch {
	case res.outcome == outClientGone && ss.readerStopped() && errors.Is(ss.readErr, errUnexpectedData):
		ss.fail(outBadRequest, protocol.Errorf(protocol.CodeBadRequest, "only one request message per connection"))
	case res.outcome == outClientGone:
		ss.outcome = res.outcome
	case res.fail != nil:
		ss.fail(res.outcome, res.fail)
	default:
		ss.outcome = res.outcome
		ss.c.Close(websocket.StatusNormalClosure, "Goodbye")
	}
}

// fail records outcome, sends one Error feedback frame, then closes the
// connection with a code matching the failure. The Rust client plugin shows
// the Error; it ignores close frames.
func (ss *wsSession) fail(outcome string, e *protocol.Error) {
	ss.outcome = outcome
	if err := ss.write(protocol.Failure(e.Code, e.Message).Encode()); err != nil {
		return
	}
	code, reason := closeStatus(e.Code)
	if outcome == outShutdown {
		code, reason = websocket.StatusGoingAway, "going away"
	}
	ss.c.Close(code, reason)
}

// readerStopped reports whether the reader goroutine ended (readErr is then safe to read).
func (ss *wsSession) readerStopped() bool {
	select {
	case <-ss.readerDone:
		return true
	default:
		return false
	}
}

func (ss *wsSession) write(msg []byte) error {
	ctx, cancel := context.WithTimeout(ss.s.hardCtx, ss.s.cfg.WriteTimeout)
	defer cancel()
	return ss.c.Write(ctx, websocket.MessageText, msg)
}

func (ss *wsSession) ping() error {
	ctx, cancel := context.WithTimeout(ss.s.hardCtx, ss.s.cfg.WriteTimeout)
	defer cancel()
	return ss.c.Ping(ctx)
}

// parseRequest decodes and validates the client's request message.
func parseRequest(data []byte) (protocol.RequestSession, *protocol.Error) {
	var req protocol.RequestSession
	if err := json.Unmarshal(data, &req); err != nil {
		return req, protocol.Errorf(protocol.CodeBadRequest, "invalid request message: %v", err)
	}
	if err := validateNames(req.Game, req.Version); err != nil {
		return req, asProtocolError(err)
	}
	return req, nil
}

// closeStatus maps an Error feedback code to a websocket close code and reason.
func closeStatus(code int) (websocket.StatusCode, string) {
	switch {
	case code == 429 || code == 503:
		return websocket.StatusTryAgainLater, http.StatusText(code)
	case code >= 500:
		return websocket.StatusInternalError, http.StatusText(code)
	default:
		return websocket.StatusPolicyViolation, http.StatusText(code)
	}
}

func shutdownError() *protocol.Error {
	return protocol.Errorf(protocol.CodeUnavailable, "gateway shutting down, try again")
}

// asProtocolError keeps a *protocol.Error and turns anything else into a 500.
func asProtocolError(err error) *protocol.Error {
	var pe *protocol.Error
	if errors.As(err, &pe) {
		return pe
	}
	return protocol.Errorf(protocol.CodeInternal, "%v", err)
}
