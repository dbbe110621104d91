package edgegap

import (
	"context"
	"fmt"
	"net/http"

	"github.com/bevygap/bevygap/pkg/edgegap/gen/edgegapv1"
)

// DeploymentTag is a tag of a deployment. The times are Edgegap's text
// ("2026-04-22 20:30:52.283949"); parse them with ParseTime.
type DeploymentTag struct {
	Name        string `json:"name"`
	CreateTime  string `json:"create_time,omitempty"`
	LastUpdated string `json:"last_updated,omitempty"`
}

// AddDeploymentTag tags a running deployment (POST
// /v1/deployments/{id}/tags). It does not change the variables injected
// into the deployment. A tag it already has fails with ErrConflict.
func (c *Client) AddDeploymentTag(ctx context.Context, requestID, tag string) (*DeploymentTag, error) {
	const op = EndpointDeploymentTagCreate
	if err := c.needKey(op); err != nil {
		return nil, err
	}
	if err := checkRequestID(requestID); err != nil {
		return nil, fmt.Errorf("edgegap %s: %w", op, err)
	}
	if err := checkTag("tag", tag); err != nil {
		return nil, fmt.Errorf("edgegap %s: %w", op, err)
	}
	rsp, err := c.call(ctx, op, func(ctx context.Context) (*http.Response, error) {
		return c.gen1.DeploymentTagCreate(ctx, requestID, nil, edgegapv1.DeploymentTag{Name: tag})
	})
	if err != nil {
		return nil, err
	}
	// The generated DeploymentTagResponse declares date-time fields that
	// Edgegap writes without a time zone; keep them as text.
	var t DeploymentTag
	if err := decode(op, rsp, &t); err != nil {
		return nil, err
	}
	return &t, nil
}

// ListDeploymentTags returns every tag of a deployment (GET
// /v1/deployments/{id}/tags), following the pagination.
func (c *Client) ListDeploymentTags(ctx context.Context, requestID string) ([]DeploymentTag, error) {
	const op = EndpointDeploymentTagList
	if err := c.needKey(op); err != nil {
		return nil, err
	}
	if err := checkRequestID(requestID); err != nil {
		return nil, fmt.Errorf("edgegap %s: %w", op, err)
	}
	return collect(allPages(op, func(page int) ([]DeploymentTag, bool, error) {
		params := &edgegapv1.DeploymentTagListParams{Page: &page, Limit: &c.pageSize}
		rsp, err := c.call(ctx, op, func(ctx context.Context) (*http.Response, error) {
			return c.gen1.DeploymentTagList(ctx, requestID, params)
		})
		if err != nil {
			return nil, false, err
		}
		var p struct {
			Tags       []DeploymentTag `json:"tags"`
			Pagination *struct {
				HasNext bool `json:"has_next"`
			} `json:"pagination"`
		}
		if err := decode(op, rsp, &p); err != nil {
			return nil, false, err
		}
		return p.Tags, p.Pagination != nil && p.Pagination.HasNext, nil
	}, func(t DeploymentTag) string { return t.Name }))
}

// DeleteDeploymentTag removes a tag from a deployment (DELETE
// /v1/deployments/{id}/tags/{tag}). A tag or deployment that does not exist
// fails with ErrNotFound.
func (c *Client) DeleteDeploymentTag(ctx context.Context, requestID, tag string) error {
	const op = EndpointDeploymentTagDelete
	if err := c.needKey(op); err != nil {
		return err
	}
	if err := checkRequestID(requestID); err != nil {
		return fmt.Errorf("edgegap %s: %w", op, err)
	}
	if err := checkTag("tag", tag); err != nil {
		return fmt.Errorf("edgegap %s: %w", op, err)
	}
	_, err := c.call(ctx, op, func(ctx context.Context) (*http.Response, error) {
		return c.gen1.DeploymentTagDelete(ctx, requestID, tag, nil)
	})
	return err
}
