package gateway

import (
	"errors"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/nats-io/nats.go"
)

// maxQueuedReplies bounds the replies buffered for one request while its
// handler is busy writing to a slow client.
const maxQueuedReplies = 64

// replyMux receives the replies of every request on one wildcard
// subscription (_INBOX.<id>.*) and hands each to the waiter registered for
// its last token, the way nats.go's own request mux works. A waiting request
// costs a map entry and a small struct, not a subscription with its own
// goroutine or 64k-slot channel.
//
// No responders: nats.go announces headers and no_responders support in
// CONNECT, so when a request is published with a reply subject and nobody
// is subscribed, the server itself sends a message with header
// "Status: 503" and an empty body to the reply subject. The mux delivers it
// like any other reply and isNoResponders recognises it.
type replyMux struct {
	nc     *nats.Conn
	prefix string
	sub    *nats.Subscription
	seq    atomic.Uint64

	mu      sync.Mutex
	waiters map[string]*waiter
}

func newReplyMux(nc *nats.Conn) (*replyMux, error) {
	m := &replyMux{nc: nc, prefix: nc.NewInbox() + ".", waiters: make(map[string]*waiter)}
	sub, err := nc.Subscribe(m.prefix+"*", m.dispatch)
	if err != nil {
		return nil, err
	}
	m.sub = sub
	return m, nil
}

func (m *replyMux) close() error {
	err := m.sub.Unsubscribe()
	if errors.Is(err, nats.ErrConnectionClosed) || errors.Is(err, nats.ErrBadSubscription) {
		return nil
	}
	return err
}

// waiter collects the replies of one request.
type waiter struct {
	mux    *replyMux
	token  string
	inbox  string
	notify chan struct{} // cap 1: "there is something to take"

	mu       sync.Mutex
	msgs     []*nats.Msg
	overflow bool
}

// register returns a waiter with a fresh reply subject. Call done when the
// request ends.
func (m *replyMux) register() *waiter {
	tok := strconv.FormatUint(m.seq.Add(1), 36)
	w := &waiter{mux: m, token: tok, inbox: m.prefix + tok, notify: make(chan struct{}, 1)}
	m.mu.Lock()
	m.waiters[tok] = w
	m.mu.Unlock()
	return w
}

func (w *waiter) done() {
	w.mux.mu.Lock()
	delete(w.mux.waiters, w.token)
	w.mux.mu.Unlock()
}

// count is the number of registered waiters.
func (m *replyMux) count() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.waiters)
}

// dispatch runs on the subscription's goroutine: it must never block.
func (m *replyMux) dispatch(msg *nats.Msg) {
	tok := msg.Subject[len(m.prefix):]
	m.mu.Lock()
	w := m.waiters[tok]
	m.mu.Unlock()
	if w == nil {
		return // late reply for a finished request
	}
	w.mu.Lock()
	if len(w.msgs) >= maxQueuedReplies {
		w.overflow = true
	} else {
		w.msgs = append(w.msgs, msg)
	}
	w.mu.Unlock()
	select {
	case w.notify <- struct{}{}:
	default:
	}
}

// take returns the replies received so far, and whether some were dropped.
func (w *waiter) take() ([]*nats.Msg, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	msgs := w.msgs
	w.msgs = nil
	return msgs, w.overflow
}

// isNoResponders recognises the server's no-responders status message.
func isNoResponders(m *nats.Msg) bool {
	return len(m.Data) == 0 && m.Header.Get("Status") == "503"
}

// isStatus recognises any server status message (a header-only message
// with a Status header).
func isStatus(m *nats.Msg) bool {
	return len(m.Data) == 0 && m.Header.Get("Status") != ""
}
