package edgegap

import (
	"context"
	"crypto/sha256"
	"fmt"
	"math"
	"sync"

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

	// Endpoints of the 2026 API. A URL that the 2024 API had too keeps its
	// 2024 name above (GET /v1/status is "deployment-status-get", GET
	// /v1/deployments "deployments-get", DELETE /v1/stop
	// "deployment-delete"); the others use the 2026 operation ids.
	EndpointDeploymentCreate    = "v2-deployment-create"
	EndpointDeploymentsBulkStop = "deployment-bulk-delete"
	EndpointDeploymentTagCreate = "deployment-tag-create"
	EndpointDeploymentTagList   = "deployment-tag-list"
	EndpointDeploymentTagDelete = "deployment-tag-delete"
)

// Class groups endpoints that share one Edgegap rate limit.
type Class string

const (
	// ClassCreate is session creation: POST /v1/session. Edgegap documents
	// 40 requests per second.
	ClassCreate Class = "create"
	// ClassStatus is session status polling: GET /v1/session/{id} and GET
	// /v1/context/... Edgegap documents 10 requests per second.
	ClassStatus Class = "status"
	// ClassDeploy is deployment creation: POST /v2/deployments. Edgegap's
	// 2026 specification documents 40 requests per second.
	ClassDeploy Class = "deploy"
	// ClassDeploymentStatus is deployment status polling: GET
	// /v1/status/{id}. Edgegap's 2026 specification documents 20 requests
	// per second.
	ClassDeploymentStatus Class = "deployment-status"
	// ClassList is deployment listing: GET /v1/deployments. Edgegap's 2026
	// specification documents 10 requests per second.
	ClassList Class = "list"
	// ClassOther is every other endpoint (session listing, deletes, stops,
	// tags, app admin).
	ClassOther Class = "other"
)

// Classes lists every Class.
var Classes = []Class{ClassCreate, ClassStatus, ClassDeploy, ClassDeploymentStatus, ClassList, ClassOther}

// ClassOf returns the rate class of an endpoint name.
func ClassOf(endpoint string) Class {
	switch endpoint {
	case EndpointSessionPost:
		return ClassCreate
	case EndpointGetSession, EndpointContextGet:
		return ClassStatus
	case EndpointDeploymentCreate:
		return ClassDeploy
	case EndpointDeploymentStatusGet:
		return ClassDeploymentStatus
	case EndpointDeploymentsGet:
		return ClassList
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
	Create           Limit
	Status           Limit
	Deploy           Limit
	DeploymentStatus Limit
	List             Limit
	Other            Limit
}

// DefaultBudgetConfig returns Edgegap's documented limits: 40/s for session
// and deployment creation, 10/s for session status calls, 20/s for
// deployment status, 10/s for deployment listing, others unlimited.
func DefaultBudgetConfig() BudgetConfig {
	return BudgetConfig{
		Create:           Limit{PerSecond: 40, Burst: 1},
		Status:           Limit{PerSecond: 10, Burst: 1},
		Deploy:           Limit{PerSecond: 40, Burst: 1},
		DeploymentStatus: Limit{PerSecond: 20, Burst: 1},
		List:             Limit{PerSecond: 10, Burst: 1},
	}
}

func (cfg BudgetConfig) limit(c Class) Limit {
	switch c {
	case ClassCreate:
		return cfg.Create
	case ClassStatus:
		return cfg.Status
	case ClassDeploy:
		return cfg.Deploy
	case ClassDeploymentStatus:
		return cfg.DeploymentStatus
	case ClassList:
		return cfg.List
	}
	return cfg.Other
}

// Budget is a client-side rate budget per endpoint class. One Budget may be
// shared by any number of Clients and goroutines; all of them then draw from
// the same per-class allowance, as Edgegap counts per API key.
type Budget struct {
	limiters map[Class]*rate.Limiter // one per Class, never changed after NewBudget
}

// NewBudget returns a Budget with the given limits. The zero BudgetConfig is
// an unlimited budget.
func NewBudget(cfg BudgetConfig) (*Budget, error) {
	b := &Budget{limiters: make(map[Class]*rate.Limiter, len(Classes))}
	for _, c := range Classes {
		l, err := newLimiter(c, cfg.limit(c))
		if err != nil {
			return nil, err
		}
		b.limiters[c] = l
	}
	return b, nil
}

var (
	processBudgetsMu sync.Mutex
	processBudgets   = map[[sha256.Size]byte]*Budget{}
)

// ProcessBudget returns the Budget with DefaultBudgetConfig that every
// Client of this process created without Config.Budget for apiKey shares, so
// that all its callers together stay within Edgegap's limits for the key.
// The key is kept only as a hash.
func ProcessBudget(apiKey string) *Budget {
	h := sha256.Sum256([]byte(apiKey))
	processBudgetsMu.Lock()
	defer processBudgetsMu.Unlock()
	b := processBudgets[h]
	if b == nil {
		var err error
		if b, err = NewBudget(DefaultBudgetConfig()); err != nil {
			panic("edgegap: default budget config is invalid: " + err.Error())
		}
		processBudgets[h] = b
	}
	return b
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
	if l, ok := b.limiters[c]; ok {
		return l
	}
	return b.limiters[ClassOther]
}
