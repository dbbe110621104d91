package edgegap

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/bevygap/bevygap/pkg/edgegap/gen"
)

// DeploymentStatus returns the status of a deployment (GET
// /v1/status/{request_id}). An unknown deployment fails with ErrNotFound.
func (c *Client) DeploymentStatus(ctx context.Context, requestID string) (*DeploymentStatus, error) {
	const op = EndpointDeploymentStatusGet
	if err := c.needKey(op); err != nil {
		return nil, err
	}
	if err := checkRequestID(requestID); err != nil {
		return nil, fmt.Errorf("edgegap %s: %w", op, err)
	}
	rsp, err := c.call(ctx, op, func(ctx context.Context) (*http.Response, error) {
		return c.gen1.DeploymentGet(ctx, requestID, nil)
	})
	if err != nil {
		return nil, err
	}
	st, err := parseStatus(rsp.body)
	if err != nil {
		return nil, fmt.Errorf("edgegap %s: %w", op, err)
	}
	return st, nil
}

// StopOutcome tells how Edgegap took a stop request.
type StopOutcome int

const (
	// StopStopped: Edgegap answered 200, the deployment is being stopped
	// now (SIGTERM).
	StopStopped StopOutcome = iota + 1
	// StopPending: Edgegap answered 202, the deployment is not READY or
	// ERROR yet; Edgegap stops it once it gets there.
	StopPending
)

// String names the outcome.
func (o StopOutcome) String() string {
	switch o {
	case StopStopped:
		return "stopped"
	case StopPending:
		return "stopping"
	}
	return fmt.Sprintf("StopOutcome(%d)", int(o))
}

// StopDeployment stops a deployment gracefully (DELETE
// /v1/stop/{request_id}). Both 200 (StopStopped) and 202 (StopPending, the
// deployment will stop once ready) are success. A deployment that is
// unknown (404) or already terminated (410) fails with an error matching
// ErrAlreadyGone (and ErrNotFound or ErrGone); callers that only want it
// gone treat IsAlreadyGone(err) as success.
func (c *Client) StopDeployment(ctx context.Context, requestID string) (StopOutcome, error) {
	const op = EndpointDeploymentDelete
	if err := c.needKey(op); err != nil {
		return 0, err
	}
	if err := checkRequestID(requestID); err != nil {
		return 0, fmt.Errorf("edgegap %s: %w", op, err)
	}
	rsp, err := c.call(ctx, op, func(ctx context.Context) (*http.Response, error) {
		return c.gen1.DeploymentDelete(ctx, requestID, nil)
	})
	if err != nil {
		return 0, err
	}
	if rsp.status == http.StatusAccepted {
		return StopPending, nil
	}
	return StopStopped, nil
}

// checkRequestID checks a deployment id before it goes into a URL path.
func checkRequestID(id string) error {
	if id == "" {
		return errors.New("request id is required")
	}
	if len(id) > maxRequestIDLen || strings.ContainsFunc(id, func(r rune) bool { return r == '/' || r <= ' ' || r == 0x7f }) {
		return fmt.Errorf("request id %q: at most %d characters, no '/', spaces or control characters", id, maxRequestIDLen)
	}
	return nil
}

// GetContext fetches a deployment's own context, as a game server does at
// boot: a GET of contextURL (ARBITRIUM_CONTEXT_URL) with the raw token
// (ARBITRIUM_CONTEXT_TOKEN) as the authorization header and the Rust
// plugin's user agent. It needs no API key. The rate budget, retries and
// OnCall apply as for other calls (endpoint "context-get").
func (c *Client) GetContext(ctx context.Context, contextURL, token string) (*DeploymentContext, error) {
	const op = EndpointContextGet
	u, err := url.Parse(contextURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("edgegap %s: context url %q: want an absolute http(s) url", op, contextURL)
	}
	token = strings.TrimSpace(token)
	if token == "" {
		return nil, fmt.Errorf("edgegap %s: context token is empty", op)
	}
	for _, r := range token {
		if r < ' ' || r == 0x7f {
			return nil, fmt.Errorf("edgegap %s: context token contains control characters", op)
		}
	}
	rsp, err := c.call(ctx, op, func(ctx context.Context) (*http.Response, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
		if err != nil {
			return nil, err
		}
		req.Header.Set("Authorization", token)
		req.Header.Set("User-Agent", ContextUserAgent)
		req.Header.Set("Accept", "application/json")
		return c.hc.Do(req)
	})
	if err != nil {
		return nil, err
	}
	var d gen.Deployment
	if err := decode(op, rsp, &d); err != nil {
		return nil, err
	}
	return &DeploymentContext{Deployment: fromDeployment(d), Raw: json.RawMessage(rsp.body)}, nil
}
