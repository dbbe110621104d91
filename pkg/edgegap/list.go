package edgegap

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"net/http"
	"strings"
	"unicode"

	"github.com/bevygap/bevygap/pkg/edgegap/gen"
	"github.com/bevygap/bevygap/pkg/edgegap/gen/edgegapv1"
)

// MaxQueryValues bounds the tags and request ids of one DeploymentQuery.
const MaxQueryValues = 100

// DeploymentQuery filters ListDeployments (the `query` parameter of GET
// /v1/deployments). All set conditions must hold. The zero value lists every
// deployment.
type DeploymentQuery struct {
	// Tags: the deployment carries every one of them.
	Tags []string
	// Status: the deployment's status, in Edgegap's filter spelling
	// ("ready", "deploying", "error", ...).
	Status string
	// RequestIDs: the deployment is one of them.
	RequestIDs []string
}

// queryFilter is one condition of Edgegap's filter document, as in the
// spec's example {"filters":[{"field":"status","operator":"eq","value":"ready"}]}.
// Edgegap's filtering guide is not part of the specification; these are
// the forms bevygap sends and the simulator understands.
type queryFilter struct {
	Field    string `json:"field"`
	Operator string `json:"operator"`
	Value    any    `json:"value"`
}

// MaxQueryBytes bounds an encoded query DecodeDeploymentQuery accepts.
const MaxQueryBytes = 16 << 10

// DecodeDeploymentQuery parses the query parameter Encode produces (the
// simulator uses it to serve GET /v1/deployments). "" is the zero query.
// Unknown fields and operators fail with an error naming them.
func DecodeDeploymentQuery(s string) (DeploymentQuery, error) {
	var q DeploymentQuery
	if s == "" {
		return q, nil
	}
	if len(s) > MaxQueryBytes {
		return q, fmt.Errorf("query: %d bytes, at most %d", len(s), MaxQueryBytes)
	}
	var doc struct {
		Filters []struct {
			Field    string          `json:"field"`
			Operator string          `json:"operator"`
			Value    json.RawMessage `json:"value"`
		} `json:"filters"`
	}
	if err := json.Unmarshal([]byte(s), &doc); err != nil {
		return q, fmt.Errorf("query: not a filter document: %w", describeJSONError(err))
	}
	for i, f := range doc.Filters {
		var err error
		switch {
		case f.Field == "tags" && f.Operator == QueryOpContains:
			var tag string
			err = json.Unmarshal(f.Value, &tag)
			q.Tags = append(q.Tags, tag)
		case f.Field == "status" && f.Operator == QueryOpEq:
			err = json.Unmarshal(f.Value, &q.Status)
		case f.Field == "request_id" && f.Operator == QueryOpEq:
			var id string
			err = json.Unmarshal(f.Value, &id)
			q.RequestIDs = append(q.RequestIDs, id)
		case f.Field == "request_id" && f.Operator == QueryOpIn:
			var ids []string
			if err = json.Unmarshal(f.Value, &ids); err == nil && len(ids) == 0 {
				err = errors.New("empty list")
			}
			q.RequestIDs = append(q.RequestIDs, ids...)
		default:
			return q, fmt.Errorf("query filters[%d]: field %q with operator %q is not supported (tags contains, status eq, request_id eq/in)", i, f.Field, f.Operator)
		}
		if err != nil {
			return q, fmt.Errorf("query filters[%d] (%s): value: %w", i, f.Field, describeJSONError(err))
		}
	}
	if _, err := q.Encode(); err != nil {
		return q, err
	}
	return q, nil
}

// Filter operators of the query document.
const (
	QueryOpEq       = "eq"       // field equals value (a string)
	QueryOpIn       = "in"       // field is one of value (a list of strings)
	QueryOpContains = "contains" // list field (tags) contains value (a string)
)

// Encode returns the query parameter value, "" for the zero query. It
// checks every value; the error names the field.
func (q DeploymentQuery) Encode() (string, error) {
	var filters []queryFilter
	if len(q.Tags) > MaxQueryValues {
		return "", fmt.Errorf("query tags: %d tags, at most %d", len(q.Tags), MaxQueryValues)
	}
	for i, t := range q.Tags {
		if err := checkTag(fmt.Sprintf("query tags[%d]", i), t); err != nil {
			return "", err
		}
		filters = append(filters, queryFilter{Field: "tags", Operator: QueryOpContains, Value: t})
	}
	if q.Status != "" {
		if len(q.Status) > 32 || strings.ContainsFunc(q.Status, func(r rune) bool { return !unicode.IsLetter(r) && r != '_' && r != '.' }) {
			return "", fmt.Errorf("query status %q: want a status name such as ready", q.Status)
		}
		filters = append(filters, queryFilter{Field: "status", Operator: QueryOpEq, Value: strings.ToLower(q.Status)})
	}
	if len(q.RequestIDs) > 0 {
		if len(q.RequestIDs) > MaxQueryValues {
			return "", fmt.Errorf("query request_id: %d ids, at most %d", len(q.RequestIDs), MaxQueryValues)
		}
		for i, id := range q.RequestIDs {
			if err := checkRequestID(id); err != nil {
				return "", fmt.Errorf("query request_id[%d]: %w", i, err)
			}
		}
		filters = append(filters, queryFilter{Field: "request_id", Operator: QueryOpIn, Value: append([]string(nil), q.RequestIDs...)})
	}
	if len(filters) == 0 {
		return "", nil
	}
	b, err := json.Marshal(struct {
		Filters []queryFilter `json:"filters"`
	}{filters})
	if err != nil {
		return "", fmt.Errorf("query: %w", err)
	}
	return string(b), nil
}

// DeploymentPage is one page of ListDeploymentsPage.
type DeploymentPage struct {
	Deployments []DeploymentSummary `json:"deployments"`
	TotalCount  int                 `json:"total_count"`
	Page        int                 `json:"page"`
	NumPages    int                 `json:"num_pages"`
	HasNext     bool                `json:"has_next"`
}

// ListDeploymentsPage returns one page of the deployments matching q (GET
// /v1/deployments). page counts from 1; limit <= 0 uses Config.PageSize.
func (c *Client) ListDeploymentsPage(ctx context.Context, q DeploymentQuery, page, limit int) (*DeploymentPage, error) {
	const op = EndpointDeploymentsGet
	if err := c.needKey(op); err != nil {
		return nil, err
	}
	if page < 1 {
		return nil, fmt.Errorf("edgegap %s: page %d: pages count from 1", op, page)
	}
	if limit <= 0 {
		limit = c.pageSize
	}
	query, err := q.Encode()
	if err != nil {
		return nil, fmt.Errorf("edgegap %s: %w", op, err)
	}
	params := &edgegapv1.DeploymentListParams{Page: &page, Limit: &limit}
	if query != "" {
		params.Query = &query
	}
	rsp, err := c.call(ctx, op, func(ctx context.Context) (*http.Response, error) {
		return c.gen1.DeploymentList(ctx, params)
	})
	if err != nil {
		return nil, err
	}
	// The 2024 Deployments type decodes the same answer with the port map
	// Edgegap sends (the 2026 schema allows only a "gameport" key).
	var d gen.Deployments
	if err := decode(op, rsp, &d); err != nil {
		return nil, err
	}
	out := &DeploymentPage{Deployments: []DeploymentSummary{}, TotalCount: deref(d.TotalCount), Page: page}
	for _, dd := range ptrSlice(d.Data) {
		out.Deployments = append(out.Deployments, fromDeploymentListData(dd))
	}
	out.Page, out.NumPages, out.HasNext = pageInfo(d.Pagination, page)
	return out, nil
}

// Deployments iterates over every deployment matching q, following the
// pagination with Config.PageSize deployments per request (each request
// draws from the list budget). A deployment that moves between pages while
// they are walked is yielded once. Iteration stops at the first error,
// which is yielded with a zero DeploymentSummary.
func (c *Client) Deployments(ctx context.Context, q DeploymentQuery) iter.Seq2[DeploymentSummary, error] {
	return allPages(EndpointDeploymentsGet, func(page int) ([]DeploymentSummary, bool, error) {
		p, err := c.ListDeploymentsPage(ctx, q, page, c.pageSize)
		if err != nil {
			return nil, false, err
		}
		return p.Deployments, p.HasNext, nil
	}, func(d DeploymentSummary) string { return d.RequestID })
}

// ListDeployments returns every deployment matching q (all pages, see
// Deployments). The zero query lists all deployments of the account.
func (c *Client) ListDeployments(ctx context.Context, q DeploymentQuery) ([]DeploymentSummary, error) {
	return collect(c.Deployments(ctx, q))
}

// FilterType is how a DeploymentStopFilter matches its values.
type FilterType string

// Filter types of POST /v1/deployments/bulk-stop.
const (
	FilterAny FilterType = "any" // the field matches any of the values
	FilterAll FilterType = "all" // the field matches all of the values
	FilterNot FilterType = "not" // the field matches none of the values
)

// DeploymentStopFilter selects deployments for BulkStopDeployments. Field is
// BulkStopRequestID or BulkStopDeploymentTag.
type DeploymentStopFilter struct {
	Field  BulkStopField
	Type   FilterType
	Values []string
}

// BulkStopDeployments stops every deployment matching all filters (POST
// /v1/deployments/bulk-stop) and returns the request ids Edgegap will stop.
func (c *Client) BulkStopDeployments(ctx context.Context, filters ...DeploymentStopFilter) ([]string, error) {
	const op = EndpointDeploymentsBulkStop
	if err := c.needKey(op); err != nil {
		return nil, err
	}
	body, err := bulkStopBody(filters)
	if err != nil {
		return nil, fmt.Errorf("edgegap %s: %w", op, err)
	}
	rsp, err := c.call(ctx, op, func(ctx context.Context) (*http.Response, error) {
		return c.gen1.DeploymentBulkDelete(ctx, nil, body)
	})
	if err != nil {
		return nil, err
	}
	var r struct {
		Processable []struct {
			RequestID string `json:"request_id"`
		} `json:"processable"`
	}
	if err := decode(op, rsp, &r); err != nil {
		return nil, err
	}
	ids := make([]string, 0, len(r.Processable))
	for _, p := range r.Processable {
		ids = append(ids, p.RequestID)
	}
	return ids, nil
}

func bulkStopBody(filters []DeploymentStopFilter) (edgegapv1.DeploymentBulkDeleteJSONRequestBody, error) {
	var body edgegapv1.DeploymentBulkDeleteJSONRequestBody
	if len(filters) == 0 {
		return body, errors.New("no filters: refusing to stop every deployment")
	}
	for i, f := range filters {
		switch f.Field {
		case BulkStopRequestID, BulkStopDeploymentTag:
		default:
			return body, fmt.Errorf("filters[%d].field %q: want request_id or deployment_tags", i, f.Field)
		}
		switch f.Type {
		case FilterAny, FilterAll, FilterNot:
		default:
			return body, fmt.Errorf("filters[%d].filter_type %q: want any, all or not", i, f.Type)
		}
		if len(f.Values) == 0 || len(f.Values) > MaxQueryValues {
			return body, fmt.Errorf("filters[%d].values: %d values, want 1 to %d", i, len(f.Values), MaxQueryValues)
		}
		for j, v := range f.Values {
			if v == "" || strings.ContainsFunc(v, unicode.IsControl) {
				return body, fmt.Errorf("filters[%d].values[%d] %q: want a non-empty value without control characters", i, j, v)
			}
		}
		body.Filters = append(body.Filters, struct {
			Field      edgegapv1.DeploymentBulkDeleteJSONBodyFiltersField      `json:"field"`
			FilterType edgegapv1.DeploymentBulkDeleteJSONBodyFiltersFilterType `json:"filter_type"`
			Values     []string                                                `json:"values"`
		}{
			Field:      edgegapv1.DeploymentBulkDeleteJSONBodyFiltersField(f.Field),
			FilterType: edgegapv1.DeploymentBulkDeleteJSONBodyFiltersFilterType(f.Type),
			Values:     append([]string(nil), f.Values...),
		})
	}
	return body, nil
}
