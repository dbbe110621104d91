package edgegap

import (
	"context"
	"fmt"
	"math"

	"golang.org/x/time/rate"
)

// Endpoint names, the Edgegap operation ids. They name calls in Config.OnCall,
// errors and the Budget, and are the names the simulator counts calls under.
const (
	EndpointSessionPost         = "session-post"
	EndpointGetSession          = "get-session"
	EndpointSessionDelete       = "session-delete"
	EndpointListSessions        = "list-sessions"
	EndpointSessionsBulkStop    = "sessions-bulk-stop"
	EndpointApplicationGet      = "application-get"
	EndpointApplicationsGet     = "applications-get"
	EndpointAppVersionGet       = "app-version-get"
	EndpointAppVersionsPatch    = "app-versions-patch"
	EndpointAppVersionsGet      = "app-versions-get"
	EndpointDeploymentsGet      = "deployments-get"
	EndpointDeploymentStatusGet = "deployment-status-get"
	EndpointDeploymentDelete    = "deployment-delete"
	EndpointContextGet          = "context-get"
)

// Class groups endpoints that share one Edgegap rate limit.
type Class string

const (
	// ClassCreate is session (and deployment) creation: POST /v1/session.
	// Edgegap documents 40 requests per second.
	ClassCreate Class = "create"
	// ClassStatus is status polling: GET /v1/session/{id}, GET
	// /v1/status/{id} and GET /v1/context/... Edgegap documents 10 requests
	// per second.
	ClassStatus Class = "status"
	// ClassOther is every other endpoint (listing, deletes, app admin).
	ClassOther Class = "other"
)

// ClassOf returns the rate class of an endpoint name.
func ClassOf(endpoint string) Class {
	switch endpoint {
	case EndpointSessionPost:
		return ClassCreate
	case EndpointGetSession, EndpointDeploymentStatusGet, EndpointContextGet:
		return ClassStatus
	}
	return ClassOther
}

// Limit is a request rate. PerSecond <= 0 means unlimited. Burst is the
// number of requests that may go out back to back; values below 1 mean 1,
// which spaces requests evenly so that no one-second window sees more than
// PerSecond of them.
type Limit struct {
	PerSecond float64
	Burst     int
}

// BudgetConfig holds one Limit per Class.
type BudgetConfig struct {
	Create Limit
	Status Limit
	Other  Limit
}

// DefaultBudgetConfig returns Edgegap's documented limits: 40/s for session
// creation, 10/s for status calls, others unlimited.
func DefaultBudgetConfig() BudgetConfig {
	return BudgetConfig{
		Create: Limit{PerSecond: 40, Burst: 1},
		Status: Limit{PerSecond: 10, Burst: 1},
	}
}

// Budget is a client-side rate budget per endpoint class. One Budget may be
// shared by any number of Clients and goroutines; all of them then draw from
// the same per-class allowance, as Edgegap counts per API key.
type Budget struct {
	create, status, other *rate.Limiter
}

// NewBudget returns a Budget with the given limits. The zero BudgetConfig is
// an unlimited budget.
func NewBudget(cfg BudgetConfig) (*Budget, error) {
	b := &Budget{}
	var err error
	if b.create, err = newLimiter(ClassCreate, cfg.Create); err != nil {
		return nil, err
	}
	if b.status, err = newLimiter(ClassStatus, cfg.Status); err != nil {
		return nil, err
	}
	if b.other, err = newLimiter(ClassOther, cfg.Other); err != nil {
		return nil, err
	}
	return b, nil
}

func newLimiter(c Class, l Limit) (*rate.Limiter, error) {
	if math.IsNaN(l.PerSecond) {
		return nil, fmt.Errorf("edgegap: budget %s: rate is NaN", c)
	}
	if l.PerSecond <= 0 || math.IsInf(l.PerSecond, 1) {
		return rate.NewLimiter(rate.Inf, 1), nil
	}
	burst := max(l.Burst, 1)
	return rate.NewLimiter(rate.Limit(l.PerSecond), burst), nil
}

// Wait blocks until the class of endpoint has budget for one request, or ctx
// is done.
func (b *Budget) Wait(ctx context.Context, endpoint string) error {
	if err := b.limiter(ClassOf(endpoint)).Wait(ctx); err != nil {
		// rate.Limiter reports a deadline that would pass while waiting
		// with its own error; make it a context error.
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fmt.Errorf("rate budget: %w", context.DeadlineExceeded)
	}
	return nil
}

// Limit returns the current limit of a class.
func (b *Budget) Limit(c Class) Limit {
	l := b.limiter(c)
	if l.Limit() == rate.Inf {
		return Limit{}
	}
	return Limit{PerSecond: float64(l.Limit()), Burst: l.Burst()}
}

// SetLimit changes the limit of a class at run time.
func (b *Budget) SetLimit(c Class, l Limit) error {
	if math.IsNaN(l.PerSecond) {
		return fmt.Errorf("edgegap: budget %s: rate is NaN", c)
	}
	lim := b.limiter(c)
	if l.PerSecond <= 0 || math.IsInf(l.PerSecond, 1) {
		lim.SetLimit(rate.Inf)
		return nil
	}
	lim.SetBurst(max(l.Burst, 1))
	lim.SetLimit(rate.Limit(l.PerSecond))
	return nil
}

func (b *Budget) limiter(c Class) *rate.Limiter {
	switch c {
	case ClassCreate:
		return b.create
	case ClassStatus:
		return b.status
	}
	return b.other
}
