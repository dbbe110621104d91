package edgegapsim

import (
	"fmt"
	"math"
	"math/rand/v2"
	"net/http"
	"sync"
	"time"
)

// EndpointFaults are failures injected into one endpoint, on top of Faults.
// Probabilities are in [0, 1]. Set them with SetEndpointFaults, at any time.
type EndpointFaults struct {
	// ErrorRate is the probability of answering ErrorStatus without doing
	// anything.
	ErrorRate float64
	// ErrorStatus is the injected 5xx status. Default DefaultErrorStatus.
	ErrorStatus int
	// Latency is added to every call of the endpoint.
	Latency time.Duration
	// CapacityRate is the probability that POST /v2/deployments answers
	// 422 "Couldn't Allocate Server" with a request_id, creating nothing.
	CapacityRate float64
	// GhostRate is the probability of a ghost create: the request is
	// carried out (the session or deployment exists and runs) but the
	// caller gets GhostStatus, or a dropped connection with GhostDrop.
	// Meant for session-post and v2-deployment-create.
	GhostRate float64
	// GhostStatus is the 5xx a ghost create answers. Default 500.
	GhostStatus int
	// GhostDrop closes the connection without an answer instead.
	GhostDrop bool
}

// endpointFaults holds EndpointFaults per endpoint. It owns its lock and its
// random source.
type endpointFaults struct {
	mu  sync.Mutex
	rng *rand.Rand
	by  map[string]EndpointFaults
}

func newEndpointFaults(seed uint64) *endpointFaults {
	return &endpointFaults{
		rng: rand.New(rand.NewPCG(seed^0x94d049bb133111eb, seed+1)),
		by:  make(map[string]EndpointFaults),
	}
}

// SetEndpointFaults replaces the faults injected into endpoint (an
// Endpoint... name); the zero EndpointFaults removes them.
func (s *Simulator) SetEndpointFaults(endpoint string, f EndpointFaults) error {
	for name, p := range map[string]float64{"error rate": f.ErrorRate, "capacity rate": f.CapacityRate, "ghost rate": f.GhostRate} {
		if math.IsNaN(p) || p < 0 || p > 1 {
			return fmt.Errorf("edgegapsim: %s %s %v out of range [0, 1]", endpoint, name, p)
		}
	}
	if f.ErrorStatus == 0 {
		f.ErrorStatus = DefaultErrorStatus
	}
	if f.GhostStatus == 0 {
		f.GhostStatus = http.StatusInternalServerError
	}
	for name, st := range map[string]int{"error status": f.ErrorStatus, "ghost status": f.GhostStatus} {
		if st < 500 || st > 599 {
			return fmt.Errorf("edgegapsim: %s %s %d is not a 5xx", endpoint, name, st)
		}
	}
	if f.Latency < 0 {
		return fmt.Errorf("edgegapsim: %s latency is negative", endpoint)
	}
	s.epFaults.mu.Lock()
	defer s.epFaults.mu.Unlock()
	if f == (EndpointFaults{ErrorStatus: DefaultErrorStatus, GhostStatus: http.StatusInternalServerError}) {
		delete(s.epFaults.by, endpoint)
		return nil
	}
	s.epFaults.by[endpoint] = f
	return nil
}

// EndpointFaultsOf returns the faults injected into endpoint.
func (s *Simulator) EndpointFaultsOf(endpoint string) EndpointFaults {
	s.epFaults.mu.Lock()
	defer s.epFaults.mu.Unlock()
	return s.epFaults.by[endpoint]
}

// fault is what happens to one request.
type fault struct {
	latency  time.Duration
	status   int  // answer this 5xx without doing anything
	capacity bool // answer 422 with a request_id
	ghost    int  // after doing it, answer this 5xx instead (0: no ghost)
	drop     bool // after doing it, drop the connection
}

func (ef *endpointFaults) decide(endpoint string) fault {
	ef.mu.Lock()
	defer ef.mu.Unlock()
	f, ok := ef.by[endpoint]
	if !ok {
		return fault{}
	}
	out := fault{latency: f.Latency}
	switch draw := ef.rng.Float64; {
	case f.ErrorRate > 0 && draw() < f.ErrorRate:
		out.status = f.ErrorStatus
	case f.CapacityRate > 0 && endpoint == EndpointDeploymentCreate && draw() < f.CapacityRate:
		out.capacity = true
	case f.GhostRate > 0 && draw() < f.GhostRate:
		out.drop = f.GhostDrop
		if !f.GhostDrop {
			out.ghost = f.GhostStatus
		}
	}
	return out
}

// capacityError answers 422 "Couldn't Allocate Server" with a fresh
// request_id, as Edgegap's POST /v2/deployments does.
func (s *Simulator) capacityError(w http.ResponseWriter) {
	s.mu.Lock()
	id := s.hexLocked(12)
	s.mu.Unlock()
	writeJSON(w, http.StatusUnprocessableEntity, map[string]string{"request_id": id, "message": "Couldn't Allocate Server"})
}
