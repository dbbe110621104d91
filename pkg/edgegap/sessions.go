package edgegap

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/netip"

	"github.com/bevygap/bevygap/pkg/edgegap/gen"
)

// CreateSession asks Edgegap for a session (POST /v1/session). The session
// is usually not ready yet: poll GetSession or wait for the webhook.
//
// Unlike the other calls it is retried only when Edgegap certainly did
// nothing (a 429 or a failed dial): after a 5xx or a lost connection a
// retry could create a second session nobody knows about. Such a failure
// therefore reaches the caller as an *OutcomeUnknownError
// (errors.Is(err, ErrOutcomeUnknown); a 5xx's *APIError is inside it); the
// orphan it may leave behind is what `bevygap sessions prune` finds.
func (c *Client) CreateSession(ctx context.Context, req SessionRequest) (*CreatedSession, error) {
	const op = EndpointSessionPost
	if err := c.needKey(op); err != nil {
		return nil, err
	}
	if req.AppName == "" {
		return nil, fmt.Errorf("edgegap %s: app name is required", op)
	}
	body := gen.SessionModel{AppName: req.AppName}
	if req.VersionName != "" {
		body.VersionName = &req.VersionName
	}
	if len(req.IPList) > 0 {
		ips := make([]string, len(req.IPList))
		for i, ip := range req.IPList {
			a, err := netip.ParseAddr(ip)
			if err != nil {
				return nil, fmt.Errorf("edgegap %s: ip_list[%d] %q is not an IP address", op, i, ip)
			}
			ips[i] = a.Unmap().String()
		}
		body.IpList = &ips
	}
	if req.WebhookURL != "" {
		body.WebhookUrl = &req.WebhookURL
	}
	rsp, err := c.call(ctx, op, func(ctx context.Context) (*http.Response, error) {
		return c.gen.SessionPost(ctx, body)
	})
	if err != nil {
		return nil, err
	}
	var sr gen.SessionRequest
	if err := decode(op, rsp, &sr); err != nil {
		return nil, &OutcomeUnknownError{Op: op, Err: err}
	}
	if sr.SessionId == "" {
		return nil, &OutcomeUnknownError{Op: op, Err: errors.New("response has no session_id")}
	}
	return &CreatedSession{
		ID:                  sr.SessionId,
		App:                 sr.App,
		Version:             sr.Version,
		DeploymentRequestID: deref(sr.DeploymentRequestId),
		WebhookURL:          deref(sr.WebhookUrl),
	}, nil
}

// GetSession returns a session (GET /v1/session/{id}), including its
// deployment's public IP and ports once it is linked.
func (c *Client) GetSession(ctx context.Context, id string) (*Session, error) {
	const op = EndpointGetSession
	if err := c.needKey(op); err != nil {
		return nil, err
	}
	if id == "" {
		return nil, fmt.Errorf("edgegap %s: session id is required", op)
	}
	rsp, err := c.call(ctx, op, func(ctx context.Context) (*http.Response, error) {
		return c.gen.GetSession(ctx, id)
	})
	if err != nil {
		return nil, err
	}
	var s gen.SessionGet
	if err := decode(op, rsp, &s); err != nil {
		return nil, err
	}
	return fromSessionGet(s), nil
}

// DeleteSession deletes a session (DELETE /v1/session/{id}). Its deployment
// keeps running. A session that does not exist fails with ErrNotFound, one
// already deleted with ErrGone; callers that only want it gone can treat
// both as success.
func (c *Client) DeleteSession(ctx context.Context, id string) error {
	const op = EndpointSessionDelete
	if err := c.needKey(op); err != nil {
		return err
	}
	if id == "" {
		return fmt.Errorf("edgegap %s: session id is required", op)
	}
	_, err := c.call(ctx, op, func(ctx context.Context) (*http.Response, error) {
		return c.gen.SessionDelete(ctx, id)
	})
	return err
}

// ListSessions returns one page of the active sessions (GET /v1/sessions).
// page counts from 1; limit <= 0 uses the server's default page size.
func (c *Client) ListSessions(ctx context.Context, page, limit int) (*SessionPage, error) {
	const op = EndpointListSessions
	if err := c.needKey(op); err != nil {
		return nil, err
	}
	if page < 1 {
		return nil, fmt.Errorf("edgegap %s: page %d: pages count from 1", op, page)
	}
	rsp, err := c.call(ctx, op, func(ctx context.Context) (*http.Response, error) {
		return c.gen.ListSessions(ctx, withPage(page, limit))
	})
	if err != nil {
		return nil, err
	}
	var s gen.Sessions
	if err := decode(op, rsp, &s); err != nil {
		return nil, err
	}
	out := &SessionPage{Sessions: []SessionSummary{}, TotalCount: deref(s.TotalCount), Page: page}
	for _, sc := range ptrSlice(s.Data) {
		out.Sessions = append(out.Sessions, fromSessionContext(sc))
	}
	out.Page, out.NumPages, out.HasNext = pageInfo(s.Pagination, page)
	return out, nil
}

// ListAllSessions returns every active session, following the pagination
// with Config.PageSize sessions per request.
func (c *Client) ListAllSessions(ctx context.Context) ([]SessionSummary, error) {
	return collect(allPages(EndpointListSessions, func(page int) ([]SessionSummary, bool, error) {
		p, err := c.ListSessions(ctx, page, c.pageSize)
		if err != nil {
			return nil, false, err
		}
		return p.Sessions, p.HasNext, nil
	}, func(s SessionSummary) string { return s.ID }))
}

// BulkStopField selects what BulkStop matches on.
type BulkStopField string

// BulkStop filter fields, as Edgegap names them.
const (
	BulkStopSessionID     BulkStopField = "session_id"
	BulkStopRequestID     BulkStopField = "request_id"
	BulkStopDeploymentTag BulkStopField = "deployment_tags"
)

// BulkStop permanently deletes all sessions whose field matches any of
// values (POST /v1/sessions/bulk-stop) and returns the ids Edgegap accepted.
func (c *Client) BulkStop(ctx context.Context, field BulkStopField, values []string) ([]string, error) {
	const op = EndpointSessionsBulkStop
	if err := c.needKey(op); err != nil {
		return nil, err
	}
	switch field {
	case BulkStopSessionID, BulkStopRequestID, BulkStopDeploymentTag:
	default:
		return nil, fmt.Errorf("edgegap %s: unknown filter field %q (want session_id, request_id or deployment_tags)", op, field)
	}
	if len(values) == 0 {
		return nil, fmt.Errorf("edgegap %s: no values to match", op)
	}
	body := gen.SessionBulkStopPayload{Filters: []gen.SessionBulkStopFiltersPayload{{
		Field:      gen.SessionBulkStopFiltersPayloadField(field),
		FilterType: "any",
		Values:     values,
	}}}
	rsp, err := c.call(ctx, op, func(ctx context.Context) (*http.Response, error) {
		return c.gen.SessionsBulkStop(ctx, body)
	})
	if err != nil {
		return nil, err
	}
	var r gen.SessionBulkStopResponse
	if err := decode(op, rsp, &r); err != nil {
		return nil, err
	}
	ids := make([]string, 0, len(r.Processable))
	for _, p := range r.Processable {
		ids = append(ids, p.SessionId)
	}
	return ids, nil
}

// decode unmarshals a JSON response body.
func decode(op string, rsp *response, v any) error {
	if err := json.Unmarshal(rsp.body, v); err != nil {
		var se *json.SyntaxError
		if errors.As(err, &se) {
			return fmt.Errorf("edgegap %s: response is not JSON: %w", op, err)
		}
		return fmt.Errorf("edgegap %s: decode response: %w", op, err)
	}
	return nil
}
