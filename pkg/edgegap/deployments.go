package edgegap

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/bevygap/bevygap/pkg/edgegap/gen"
)

// ListDeployments returns all deployments of the account (GET
// /v1/deployments), following the pagination.
func (c *Client) ListDeployments(ctx context.Context) ([]DeploymentSummary, error) {
	const op = EndpointDeploymentsGet
	if err := c.needKey(op); err != nil {
		return nil, err
	}
	all := []DeploymentSummary{}
	seen := make(map[string]bool)
	for page := 1; ; page++ {
		if page > maxPages {
			return nil, fmt.Errorf("edgegap %s: more than %d pages", op, maxPages)
		}
		rsp, err := c.call(ctx, op, func(ctx context.Context) (*http.Response, error) {
			return c.gen.DeploymentsGet(ctx, withPage(page, c.pageSize))
		})
		if err != nil {
			return nil, err
		}
		var d gen.Deployments
		if err := decode(op, rsp, &d); err != nil {
			return nil, err
		}
		data := ptrSlice(d.Data)
		for _, dd := range data {
			if !seen[dd.RequestId] {
				seen[dd.RequestId] = true
				all = append(all, fromDeploymentListData(dd))
			}
		}
		if d.Pagination == nil || !deref(d.Pagination.HasNext) || len(data) == 0 {
			return all, nil
		}
	}
}

// DeploymentStatus returns the status of a deployment (GET
// /v1/status/{request_id}).
func (c *Client) DeploymentStatus(ctx context.Context, requestID string) (*DeploymentStatus, error) {
	const op = EndpointDeploymentStatusGet
	if err := c.needKey(op); err != nil {
		return nil, err
	}
	if requestID == "" {
		return nil, fmt.Errorf("edgegap %s: request id is required", op)
	}
	rsp, err := c.call(ctx, op, func(ctx context.Context) (*http.Response, error) {
		return c.gen.DeploymentStatusGet(ctx, requestID)
	})
	if err != nil {
		return nil, err
	}
	var s gen.Status
	if err := decode(op, rsp, &s); err != nil {
		return nil, err
	}
	return fromStatus(s), nil
}

// StopDeployment stops a deployment and all its sessions (DELETE
// /v1/stop/{request_id}). A deployment already stopped fails with ErrGone.
func (c *Client) StopDeployment(ctx context.Context, requestID string) error {
	const op = EndpointDeploymentDelete
	if err := c.needKey(op); err != nil {
		return err
	}
	if requestID == "" {
		return fmt.Errorf("edgegap %s: request id is required", op)
	}
	_, err := c.call(ctx, op, func(ctx context.Context) (*http.Response, error) {
		return c.gen.DeploymentDelete(ctx, requestID, nil)
	})
	return err
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
