package matchmaker

import (
	"encoding/json"
	"errors"
	"strconv"

	"github.com/nats-io/nats.go/micro"

	"github.com/bevygap/bevygap/pkg/protocol"
)

// gensession service metadata (PROTOCOL.md section 4).
const (
	ServiceName        = "gensession"
	ServiceVersion     = "0.0.1"
	ServiceDescription = "Generate sessions for clients who want to play"
	ServiceQueueGroup  = "session_queue"
	ServiceEndpoint    = "gensession"
)

// addGenSession registers GenSessionInstances instances of the
// session.gensession micro service: one request, one JSON reply (no
// progress), errors in the service headers. Each instance answers one
// request at a time inside its handler, so micro's own stats (requests,
// errors, processing time: `nats micro stats gensession`) are true; the
// instances share the queue group, so a replica serves that many at once.
func (m *Matchmaker) addGenSession() ([]micro.Service, error) {
	var svcs []micro.Service
	stop := func() {
		for _, s := range svcs {
			_ = s.Stop()
		}
	}
	for range m.cfg.GenSessionInstances {
		svc, err := micro.AddService(m.cfg.NC, micro.Config{
			Name: ServiceName, Version: ServiceVersion, Description: ServiceDescription,
		})
		if err != nil {
			stop()
			return nil, err
		}
		svcs = append(svcs, svc)
		g := svc.AddGroup(m.cfg.Store.Names.GenSessionGroup(), micro.WithGroupQueueGroup(ServiceQueueGroup))
		if err := g.AddEndpoint(ServiceEndpoint, micro.HandlerFunc(m.onGenSession)); err != nil {
			stop()
			return nil, err
		}
	}
	return svcs, nil
}

// onGenSession serves one gensession request and answers it through req
// before returning: micro counts the request, its processing time and,
// when it fails, the error.
func (m *Matchmaker) onGenSession(req micro.Request) {
	done, ok := m.admitRequest()
	if !ok {
		_ = req.Error("503", "matchmaker shutting down", nil)
		return
	}
	defer done()
	select {
	case m.inflight <- struct{}{}:
	default:
		m.metrics.requests.WithLabelValues("503").Inc()
		_ = req.Error("503", "matchmaker busy", nil)
		return
	}
	defer func() { <-m.inflight }()
	m.metrics.inflight.Inc()
	defer m.metrics.inflight.Dec()
	r, err := protocol.ParseMatchmakerRequest(req.Data())
	var seat *protocol.Seat
	if err == nil {
		seat, _, err = m.Seat(m.reqCtx, r.ClientIP, nil)
	}
	if err != nil {
		var pe *protocol.Error
		if !errors.As(err, &pe) {
			pe = &protocol.Error{Code: protocol.CodeInternal, Message: err.Error()}
		}
		m.metrics.requests.WithLabelValues(strconv.Itoa(pe.Code)).Inc()
		m.respond(req, req.Error(strconv.Itoa(pe.Code), pe.Message, nil))
		return
	}
	b, _ := json.Marshal(protocol.SessionResponse{
		ConnectToken: seat.Token, GameserverIP: seat.IP, GameserverPort: seat.Port, CertDigest: seat.CertDigest,
	})
	m.respond(req, req.Respond(b))
}

// respond logs a gensession reply that could not be sent (unless the
// request had no reply subject: nobody to answer).
func (m *Matchmaker) respond(req micro.Request, err error) {
	if err != nil && req.Reply() != "" {
		m.log.Warn("gensession reply not sent", "err", err)
	}
}
