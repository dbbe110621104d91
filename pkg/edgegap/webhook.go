package edgegap

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/bevygap/bevygap/pkg/edgegap/gen"
)

// MaxWebhookBytes bounds the deployment webhook body ParseDeploymentWebhook
// accepts. A /v1/status body with a few ports is about 2 KiB.
const MaxWebhookBytes = 64 << 10

// ErrWebhookTooLarge matches a *WebhookTooLargeError.
var ErrWebhookTooLarge = errors.New("edgegap: webhook body too large")

// WebhookTooLargeError is a webhook body beyond the limit.
type WebhookTooLargeError struct {
	// Size is the body's length in bytes, Limit the most accepted.
	Size, Limit int
}

// Error implements error.
func (e *WebhookTooLargeError) Error() string {
	return fmt.Sprintf("edgegap: parse deployment webhook: body is %d bytes, limit is %d bytes (MaxWebhookBytes)", e.Size, e.Limit)
}

// Is matches ErrWebhookTooLarge.
func (e *WebhookTooLargeError) Is(target error) bool { return target == ErrWebhookTooLarge }

// ParseDeploymentWebhook decodes the body Edgegap POSTs to a deployment's
// webhook_on_ready, webhook_on_error and webhook_on_terminated URLs: the
// /v1/status body. Every field is optional (a missing one is its zero
// value: fall back to DeploymentStatus for what is missing), unknown fields
// are ignored, and a body above MaxWebhookBytes fails with a
// *WebhookTooLargeError before it is parsed. A field of the wrong JSON type
// fails with an error naming it. The body must be a JSON object.
//
// The body says nothing about who sent it: authenticate the webhook by a
// secret carried in its URL.
func ParseDeploymentWebhook(body []byte) (*DeploymentStatus, error) {
	if len(body) > MaxWebhookBytes {
		return nil, &WebhookTooLargeError{Size: len(body), Limit: MaxWebhookBytes}
	}
	st, err := parseStatus(body)
	if err != nil {
		return nil, fmt.Errorf("edgegap: parse deployment webhook: %w", err)
	}
	return st, nil
}

// statusExtra holds the /v1/status fields of the 2026 specification that the
// 2024 Status type does not declare.
type statusExtra struct {
	LastStatus  *string `json:"last_status"`
	MaxDuration *int    `json:"max_duration"`
	Command     *string `json:"command"`
	// Location again, with float64 coordinates (the 2024 type has float32).
	Location *Location `json:"location"`
}

// parseStatus decodes a /v1/status body. It uses the 2024 generated Status
// type, a superset of the 2026 V1DeploymentStatus whose generated form does
// not fit Edgegap's answers: its start_time is a date-time while Edgegap
// sends "2026-04-22 12:00:46.444265", and its ports allow only a "gameport"
// key.
func parseStatus(body []byte) (*DeploymentStatus, error) {
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) == 0 || trimmed[0] != '{' {
		return nil, errors.New("body is not a JSON object")
	}
	var s gen.Status
	if err := json.Unmarshal(trimmed, &s); err != nil {
		return nil, describeJSONError(err)
	}
	var x statusExtra
	if err := json.Unmarshal(trimmed, &x); err != nil {
		return nil, describeJSONError(err)
	}
	st := fromStatus(s)
	st.LastStatus = deref(x.LastStatus)
	st.MaxDuration = deref(x.MaxDuration)
	st.Command = deref(x.Command)
	if x.Location != nil {
		st.Location = x.Location
	}
	return st, nil
}

// describeJSONError names the field of a type mismatch.
func describeJSONError(err error) error {
	if te, ok := errors.AsType[*json.UnmarshalTypeError](err); ok {
		if te.Field == "" {
			return fmt.Errorf("JSON %s where %s was expected", te.Value, te.Type)
		}
		return fmt.Errorf("field %s: JSON %s where %s was expected", te.Field, te.Value, te.Type)
	}
	return fmt.Errorf("invalid JSON: %w", err)
}
