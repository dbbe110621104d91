package edgegap_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bevygap/bevygap/internal/simtest"
	"github.com/bevygap/bevygap/pkg/edgegap"
	"github.com/bevygap/bevygap/pkg/edgegapsim"
)

// sendTimes is an http.RoundTripper that records when each request leaves
// the process, by endpoint class, and sends it over the real network.
type sendTimes struct {
	mu    sync.Mutex
	times map[edgegap.Class][]time.Time
	next  http.RoundTripper
}

func (s *sendTimes) RoundTrip(r *http.Request) (*http.Response, error) {
	var class edgegap.Class
	switch {
	case r.Method == http.MethodPost && r.URL.Path == "/v2/deployments":
		class = edgegap.ClassDeploy
	case r.Method == http.MethodGet && strings.HasPrefix(r.URL.Path, "/v1/status/"):
		class = edgegap.ClassDeploymentStatus
	case r.Method == http.MethodGet && r.URL.Path == "/v1/deployments":
		class = edgegap.ClassList
	}
	if class != "" {
		s.mu.Lock()
		s.times[class] = append(s.times[class], time.Now())
		s.mu.Unlock()
	}
	return s.next.RoundTrip(r)
}

// maxInWindow is the largest number of sends of class within any window.
func (s *sendTimes) maxInWindow(class edgegap.Class, w time.Duration) (best, total int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ts := s.times[class]
	for i, j := 0, 0; j < len(ts); j++ {
		for ts[j].Sub(ts[i]) >= w {
			i++
		}
		best = max(best, j-i+1)
	}
	return best, len(ts)
}

// average is the send rate of class over the span of its sends, not counting
// the burst that may leave at once.
func (s *sendTimes) average(class edgegap.Class, burst int) float64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	ts := s.times[class]
	if len(ts) < 2 {
		return 0
	}
	return float64(len(ts)-burst) / ts[len(ts)-1].Sub(ts[0]).Seconds()
}

// 200 concurrent callers per endpoint class, spread over two clients that
// share one Budget at Edgegap's limits: no class sends more than its limit
// in any one second, and the simulator (limits on, Edgegap's numbers)
// throttles nothing.
func TestBudgetBoundsEachDeploymentClass(t *testing.T) {
	if testing.Short() {
		t.Skip("runs callers for 3 s")
	}
	srv := simtest.Start(t, edgegapsim.Config{RateLimits: ptrTo(edgegapsim.DefaultRateLimits())})
	budget, err := edgegap.NewBudget(edgegap.DefaultBudgetConfig())
	if err != nil {
		t.Fatal(err)
	}
	sends := &sendTimes{times: map[edgegap.Class][]time.Time{}, next: &http.Transport{MaxIdleConnsPerHost: 100}}
	t.Cleanup(sends.next.(*http.Transport).CloseIdleConnections)
	mk := func() *edgegap.Client {
		return newClient(t, srv, func(cfg *edgegap.Config) {
			cfg.Budget = budget
			cfg.HTTPClient = &http.Client{Transport: sends, Timeout: 10 * time.Second}
		})
	}
	clients := []*edgegap.Client{mk(), mk()}
	first, err := clients[0].CreateDeployment(t.Context(), deployReq("budget"))
	if err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Second)
	defer cancel()
	calls := map[edgegap.Class]func(c *edgegap.Client) error{
		edgegap.ClassDeploy: func(c *edgegap.Client) error {
			_, err := c.CreateDeployment(ctx, deployReq("budget"))
			return err
		},
		edgegap.ClassDeploymentStatus: func(c *edgegap.Client) error {
			_, err := c.DeploymentStatus(ctx, first.RequestID)
			return err
		},
		edgegap.ClassList: func(c *edgegap.Client) error {
			_, err := c.ListDeploymentsPage(ctx, edgegap.DeploymentQuery{Tags: []string{"budget"}}, 1, 1)
			return err
		},
	}
	const callers = 200
	var wg sync.WaitGroup
	for _, call := range calls {
		for i := range callers {
			c := clients[i%len(clients)]
			wg.Go(func() {
				for ctx.Err() == nil {
					err := call(c)
					// The budget refuses a wait that would outlast the
					// deadline before the deadline passes.
					if errors.Is(err, context.DeadlineExceeded) || ctx.Err() != nil {
						return
					}
					if err != nil {
						t.Errorf("call: %v", err)
						return
					}
				}
			})
		}
	}
	wg.Wait()

	st := srv.Stats()
	for class, ep := range map[edgegap.Class]string{
		edgegap.ClassDeploy:           edgegapsim.EndpointDeploymentCreate,
		edgegap.ClassDeploymentStatus: edgegapsim.EndpointDeploymentStatusGet,
		edgegap.ClassList:             edgegapsim.EndpointDeploymentsGet,
	} {
		limit := budget.Limit(class)
		peak, total := sends.maxInWindow(class, time.Second)
		t.Logf("%s: %d sends, at most %d in any one second (budget %v/s, burst %d)", class, total, peak, limit.PerSecond, limit.Burst)
		// A token bucket lets out at most its rate plus its burst in any
		// second. A send is recorded after its token was taken, so on a
		// loaded machine a send the scheduler delayed can land in the next
		// second's window: allow 10% of the rate (at least one) for that,
		// as the session budget test does. Over the whole run the average
		// must stay within the rate.
		if slack := max(1, limit.PerSecond/10); float64(peak) > limit.PerSecond+float64(limit.Burst)+slack {
			t.Errorf("%s: %d calls left within one second, over the budget of %v/s", class, peak, limit.PerSecond)
		}
		if avg := sends.average(class, limit.Burst); avg > limit.PerSecond*1.05 {
			t.Errorf("%s: calls averaged %.1f/s, over the budget of %v/s", class, avg, limit.PerSecond)
		}
		if float64(total) <= limit.PerSecond {
			t.Errorf("%s: only %d calls in 3 s; the callers did not contend for the budget", class, total)
		}
		if n := st.Count(ep, http.StatusTooManyRequests); n != 0 {
			t.Errorf("%s: the simulator throttled %d calls at Edgegap's limits", ep, n)
		}
	}
}

// Clients created without a Budget share one per API key in the process.
func TestProcessBudgetIsShared(t *testing.T) {
	a, err := edgegap.New(edgegap.Config{APIKey: "token shared-key-test"})
	if err != nil {
		t.Fatal(err)
	}
	b, err := edgegap.New(edgegap.Config{APIKey: "shared-key-test"})
	if err != nil {
		t.Fatal(err)
	}
	other, err := edgegap.New(edgegap.Config{APIKey: "another-key-test"})
	if err != nil {
		t.Fatal(err)
	}
	if a.Budget() != b.Budget() || a.Budget() != edgegap.ProcessBudget("token shared-key-test") {
		t.Error("two clients of one key do not share the process budget")
	}
	if other.Budget() == a.Budget() {
		t.Error("clients of different keys share a budget")
	}
	d := edgegap.DefaultBudgetConfig()
	if d.Deploy.PerSecond != 40 || d.DeploymentStatus.PerSecond != 20 || d.List.PerSecond != 10 {
		t.Errorf("default budget %+v", d)
	}
	for ep, want := range map[string]edgegap.Class{
		edgegap.EndpointDeploymentCreate: edgegap.ClassDeploy, edgegap.EndpointDeploymentStatusGet: edgegap.ClassDeploymentStatus,
		edgegap.EndpointDeploymentsGet: edgegap.ClassList, edgegap.EndpointDeploymentTagCreate: edgegap.ClassOther,
		edgegap.EndpointDeploymentDelete: edgegap.ClassOther,
	} {
		if got := edgegap.ClassOf(ep); got != want {
			t.Errorf("ClassOf(%s) = %s, want %s", ep, got, want)
		}
	}
	if l := a.Budget().Limit(edgegap.ClassList); l.PerSecond != 10 || l.Burst != 1 {
		t.Errorf("process budget list limit %+v", l)
	}
}

func ptrTo[T any](v T) *T { return &v }
