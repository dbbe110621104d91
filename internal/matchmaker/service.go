package matchmaker

import (
	"encoding/json"
	"errors"
	"strconv"

	"github.com/nats-io/nats.go"
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

// addGenSession registers the session.gensession micro service: one
// request, one JSON reply (no progress), errors in the service headers.
func (m *Matchmaker) addGenSession() (micro.Service, error) {
	svc, err := micro.AddService(m.cfg.NC, micro.Config{
		Name: ServiceName, Version: ServiceVersion, Description: ServiceDescription,
	})
	if err != nil {
		return nil, err
	}
	g := svc.AddGroup(m.cfg.Store.Names.GenSessionGroup(), micro.WithGroupQueueGroup(ServiceQueueGroup))
	err = g.AddEndpoint(ServiceEndpoint, micro.HandlerFunc(m.onGenSession))
	if err != nil {
		_ = svc.Stop()
		return nil, err
	}
	return svc, nil
}

func (m *Matchmaker) onGenSession(req micro.Request) {
	done, ok := m.admitRequest()
	if !ok {
		_ = req.Error("503", "matchmaker shutting down", nil)
		return
	}
	select {
	case m.inflight <- struct{}{}:
	default:
		done()
		m.metrics.requests.WithLabelValues("503").Inc()
		_ = req.Error("503", "matchmaker busy", nil)
		return
	}
	// The reply is sent from this goroutine with the connection, not with
	// req: micro reads req's state once the handler returns, so a request
	// answered later must not touch it (a data race otherwise). micro's own
	// error and timing stats are therefore not kept for gensession; the
	// Prometheus metrics count every outcome.
	data, reply := req.Data(), req.Reply()
	go func() {
		defer done()
		defer func() { <-m.inflight }()
		m.metrics.inflight.Inc()
		defer m.metrics.inflight.Dec()
		r, err := protocol.ParseMatchmakerRequest(data)
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
			m.reply(reply, nil, nats.Header{
				micro.ErrorHeader:     []string{pe.Message},
				micro.ErrorCodeHeader: []string{strconv.Itoa(pe.Code)},
			})
			return
		}
		b, _ := json.Marshal(protocol.SessionResponse{
			ConnectToken: seat.Token, GameserverIP: seat.IP, GameserverPort: seat.Port, CertDigest: seat.CertDigest,
		})
		m.reply(reply, b, nil)
	}()
}

// reply answers a gensession request after its handler has returned.
func (m *Matchmaker) reply(subject string, data []byte, h nats.Header) {
	if subject == "" {
		return // published without a reply subject: nobody to answer
	}
	if err := m.cfg.NC.PublishMsg(&nats.Msg{Subject: subject, Data: data, Header: h}); err != nil {
		m.log.Warn("gensession reply not sent", "err", err)
	}
}
