package edgegap_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/bevygap/bevygap/pkg/edgegap"
)

// readyWebhook is a webhook_on_ready body: the /v1/status shape of the 2026
// specification, plus a field Edgegap may add some day.
const readyWebhook = `{
  "request_id": "c0653765de3b", "fqdn": "c0653765de3b.pr.edgegap.net", "public_ip": "192.53.120.48",
  "app_name": "bevygap", "app_version": "v1", "current_status": "Status.READY", "running": true,
  "start_time": "2026-04-22 12:00:46.444265", "elapsed_time": 12, "max_duration": 1440,
  "last_status": "Status.DEPLOYING", "error": false,
  "ports": {"gameport": {"name": "gameport", "internal": 6420, "external": 31504, "protocol": "UDP", "link": "c0653765de3b.pr.edgegap.net:31504", "tls_upgrade": false},
            "web": {"name": "web", "internal": 8080, "external": 31505, "protocol": "HTTP", "tls_upgrade": true}},
  "location": {"city": "Montreal", "country": "Canada", "continent": "North America", "administrative_division": "Quebec", "timezone": "Eastern Time", "latitude": 45.508888, "longitude": -73.561668},
  "tags": ["bevygap", "fleet-a"], "command": "run", "arguments": "--port 6420",
  "something_new": {"nested": [1, 2, 3]}
}`

func TestParseDeploymentWebhook(t *testing.T) {
	st, err := edgegap.ParseDeploymentWebhook([]byte(readyWebhook))
	if err != nil {
		t.Fatal(err)
	}
	p, ok := (&edgegap.Deployment{Ports: st.Ports}).GamePort("gameport")
	if st.RequestID != "c0653765de3b" || st.PublicIP != "192.53.120.48" || !st.Ready() || st.CurrentStatus != edgegap.StatusReady ||
		!ok || p.External != 31504 || p.Protocol != "UDP" || st.Ports["web"].TLSUpgrade != true ||
		st.Location == nil || st.Location.City != "Montreal" || st.Location.Longitude != -73.561668 ||
		len(st.Tags) != 2 || st.Tags[1] != "fleet-a" || st.MaxDuration != 1440 || st.LastStatus != edgegap.StatusDeploying ||
		st.Command != "run" || st.Arguments != "--port 6420" || st.ElapsedTime != 12 {
		t.Errorf("parsed %+v", st)
	}
	if _, err := edgegap.ParseTime(st.StartTime); err != nil {
		t.Errorf("start time %q: %v", st.StartTime, err)
	}

	// Every field is optional: nakama-edgegap's subset, and nothing at all.
	st, err = edgegap.ParseDeploymentWebhook([]byte(`{"request_id":"a1","current_status":"Status.ERROR","error":true,"error_detail":"Pull image timeout exceeded"}`))
	if err != nil || st.RequestID != "a1" || !st.Error || st.ErrorDetail != "Pull image timeout exceeded" || st.Ready() || len(st.Ports) != 0 {
		t.Errorf("error webhook = %+v, %v", st, err)
	}
	if st, err := edgegap.ParseDeploymentWebhook([]byte(" {} ")); err != nil || st.RequestID != "" {
		t.Errorf("empty object = %+v, %v", st, err)
	}
}

func TestParseDeploymentWebhookRejects(t *testing.T) {
	for body, want := range map[string]string{
		``:                        "not a JSON object",
		`null`:                    "not a JSON object",
		`[]`:                      "not a JSON object",
		`{"running": "yes"}`:      "field running",
		`{"ports": {"x": 3}}`:     "field ports",
		`{"max_duration": "24h"}`: "field max_duration",
		`{"request_id": "a"`:      "invalid JSON",
	} {
		_, err := edgegap.ParseDeploymentWebhook([]byte(body))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ParseDeploymentWebhook(%q) = %v, want an error about %q", body, err, want)
		}
	}
	big := []byte(`{"request_id":"a","pad":"` + strings.Repeat("x", edgegap.MaxWebhookBytes) + `"}`)
	_, err := edgegap.ParseDeploymentWebhook(big)
	tooLarge, ok := errors.AsType[*edgegap.WebhookTooLargeError](err)
	if !ok || !errors.Is(err, edgegap.ErrWebhookTooLarge) || tooLarge.Limit != edgegap.MaxWebhookBytes || tooLarge.Size != len(big) ||
		!strings.Contains(err.Error(), "65536") {
		t.Errorf("oversized body: %v", err)
	}
}

// FuzzParseDeploymentWebhook: any input gives a result or an error, never a
// panic; a body beyond the limit is refused before parsing; what is accepted
// was a JSON object within the limit, and its request id survives a
// round trip through the status's own JSON.
func FuzzParseDeploymentWebhook(f *testing.F) {
	f.Add([]byte(readyWebhook))
	f.Add([]byte(`{}`))
	f.Add([]byte(`{"ports":{"p":{"external":-1}},"location":null,"tags":null}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		st, err := edgegap.ParseDeploymentWebhook(body)
		if len(body) > edgegap.MaxWebhookBytes {
			if !errors.Is(err, edgegap.ErrWebhookTooLarge) {
				t.Fatalf("%d bytes accepted or refused for another reason: %v", len(body), err)
			}
			return
		}
		if err != nil {
			if st != nil {
				t.Fatalf("error %v with a result", err)
			}
			return
		}
		trimmed := bytes.TrimSpace(body)
		if !json.Valid(body) || len(trimmed) == 0 || trimmed[0] != '{' {
			t.Fatalf("accepted %q, which is not a JSON object", body)
		}
		out, err := json.Marshal(st)
		if err != nil {
			t.Fatalf("marshal parsed status: %v", err)
		}
		again, err := edgegap.ParseDeploymentWebhook(out)
		if err != nil || again.RequestID != st.RequestID || again.Running != st.Running || len(again.Ports) != len(st.Ports) {
			t.Fatalf("round trip of %q: %+v, %v", out, again, err)
		}
	})
}
