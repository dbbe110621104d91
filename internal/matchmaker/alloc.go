package matchmaker

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/bevygap/bevygap/pkg/edgegap"
	"github.com/bevygap/bevygap/pkg/protocol"
	"github.com/bevygap/bevygap/pkg/state"
)

// Allocator names (setting `allocator`).
const (
	AllocatorAuto        = "auto"
	AllocatorSessions    = "sessions"
	AllocatorDeployments = "deployments"
)

// allocator is the seam between a seat request and Edgegap: the sessions
// allocator asks Edgegap for a session per player (the 2024 API, what the
// Rust bevygap does); the deployments allocator packs seats on Edgegap
// deployments bevygap runs itself (the 2026 API, FLEET.md). Everything else
// (feedback, token minting, the mapping buckets, the game-server side) is
// the same for both.
type allocator interface {
	// seat places a client and returns its seat and the id written where
	// the Rust protocol has the session id (a session id, or a seat id).
	seat(ctx context.Context, clientIP string, progress func(protocol.Feedback)) (*protocol.Seat, string, error)
	// connected and disconnected follow active_connections.
	connected(ctx context.Context, id, clientID string, replay bool)
	disconnected(ctx context.Context, id string)
	// prepare runs once in Run before requests are served.
	prepare(ctx context.Context) error
	// loops are the allocator's cleanup loops, run under supervise.
	loops() []namedLoop
	// subscribe starts the allocator's NATS subscriptions (webhooks).
	subscribe() ([]*nats.Subscription, error)
}

type namedLoop struct {
	name string
	run  func(context.Context) error
}

// ResolveAllocator turns the allocator setting into sessions or deployments.
// auto picks sessions only when the app version has a Seat or Match
// session_config (the operator configured Edgegap sessions); otherwise
// deployments. why says what decided it.
func ResolveAllocator(ctx context.Context, eg *edgegap.Client, setting, app, version string) (name, why string, err error) {
	switch setting {
	case AllocatorSessions, AllocatorDeployments:
		return setting, "set by allocator", nil
	case "", AllocatorAuto:
	default:
		return "", "", fmt.Errorf("allocator %q: want auto, deployments or sessions", setting)
	}
	v, err := eg.GetAppVersion(ctx, app, version)
	if err != nil {
		return "", "", fmt.Errorf("allocator auto: reading app %q version %q: %w", app, version, err)
	}
	switch v.SessionKind {
	case "Seat", "Match":
		return AllocatorSessions, fmt.Sprintf("app version has a %s session_config", v.SessionKind), nil
	}
	return AllocatorDeployments, "app version has no Seat or Match session_config", nil
}

// sessions is the sessions allocator: the matchmaker's original code path,
// behind the seam unchanged.
type sessions struct{ m *Matchmaker }

func (s sessions) seat(ctx context.Context, clientIP string, progress func(protocol.Feedback)) (*protocol.Seat, string, error) {
	return s.m.sessionSeat(ctx, clientIP, progress)
}

func (s sessions) connected(ctx context.Context, sid, clientID string, replay bool) {
	if err := s.m.cfg.Store.DeleteUnclaimed(ctx, sid); err != nil {
		s.m.log.Warn("claiming session failed", "session_id", sid, "err", err)
	} else if !replay {
		s.m.log.Info("client connected, session claimed", "session_id", sid, "client_id", clientID)
	}
}

func (s sessions) disconnected(ctx context.Context, sid string) {
	if err := s.m.cfg.Store.EnqueueDelete(ctx, sid); err != nil {
		s.m.log.Error("queueing session of a disconnected client failed", "session_id", sid, "err", err)
		return
	}
	s.m.log.Info("client disconnected, session queued for deletion", "session_id", sid)
}

func (s sessions) prepare(context.Context) error { return nil }

func (s sessions) loops() []namedLoop {
	return []namedLoop{{"unclaimed_reaper", s.m.reap}, {"delete_worker", s.m.deleteWorker}}
}

func (s sessions) subscribe() ([]*nats.Subscription, error) {
	sub, err := s.m.cfg.NC.Subscribe(s.m.cfg.Store.Names.Webhook("session"), s.m.onWebhook)
	if err != nil {
		return nil, fmt.Errorf("subscribe to session webhooks: %w", err)
	}
	return []*nats.Subscription{sub}, nil
}

// newFleet opens the fleet's buckets and stream.
func newFleet(m *Matchmaker) (*fleet, error) {
	if err := m.cfg.Fleet.fillDefaults(); err != nil {
		return nil, fmt.Errorf("matchmaker: %w", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	js := m.cfg.Store.JS
	names := m.cfg.Store.Names
	ledger, err := state.OpenFleet(ctx, js, names, state.FleetOptions{Replicas: m.cfg.Fleet.Replicas, Now: m.cfg.Now})
	if err != nil {
		return nil, err
	}
	leases, err := state.OpenLeases(ctx, js, names, m.cfg.Fleet.Replicas, m.cfg.Now)
	if err != nil {
		return nil, err
	}
	stops, err := state.OpenStopQueue(ctx, js, names, m.cfg.Fleet.Replicas)
	if err != nil {
		return nil, err
	}
	return &fleet{
		m: m, cfg: m.cfg.Fleet, ledger: ledger, leases: leases, stops: stops, view: newFleetView(),
		holder: state.NewFleetID(), lastPoll: map[string]time.Time{},
	}, nil
}

func (f *fleet) connected(ctx context.Context, seatID, clientID string, replay bool) {
	cid, _ := strconv.ParseUint(clientID, 10, 64)
	d, err := f.ledger.SetSeat(ctx, seatID, cid, state.SeatConnected)
	if errors.Is(err, state.ErrNotFound) {
		return // not a fleet seat, or released meanwhile
	}
	if err != nil {
		f.m.log.Warn("recording a connected seat failed", "seat_id", seatID, "err", err)
		return
	}
	f.view.apply(d)
	if !replay {
		f.m.log.Info("client connected", "seat_id", seatID, "client_id", clientID)
	}
}

func (f *fleet) disconnected(ctx context.Context, seatID string) {
	d, err := f.ledger.Release(ctx, seatID)
	if err != nil {
		f.m.log.Error("releasing the seat of a disconnected client failed; the fleet reconciler will release it", "seat_id", seatID, "err", err)
		return
	}
	if d != nil {
		f.view.apply(d)
		f.m.log.Info("client disconnected, seat released", "seat_id", seatID, "seats_left", len(d.Seats))
	}
}

// prepare loads the ledger into the view, so the first request sees the
// running fleet.
func (f *fleet) prepare(ctx context.Context) error {
	all, err := f.ledger.List(ctx)
	if err != nil {
		return err
	}
	for _, d := range all {
		f.view.apply(d)
	}
	return nil
}

func (f *fleet) loops() []namedLoop {
	return []namedLoop{
		{"fleet_view", f.viewLoop}, {"fleet_janitor", f.janitor},
		{"stop_worker", f.stopWorker}, {"fleet_reconciler", f.reconcileLoop},
	}
}
