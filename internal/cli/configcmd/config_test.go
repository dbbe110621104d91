package configcmd

import (
	"strings"
	"testing"

	"github.com/bevygap/bevygap/internal/iostreams"
	"github.com/bevygap/bevygap/internal/output"
	"github.com/bevygap/bevygap/internal/settings"
)

// show runs `config show` on settings loaded from vars alone: the command
// takes its streams, settings and format, so the test builds them directly.
func show(t *testing.T, vars map[string]string, format output.Format) (string, string) {
	t.Helper()
	loaded, err := settings.Load(settings.LoadOptions{Env: settings.MapEnv(t.TempDir(), vars)})
	if err != nil {
		t.Fatal(err)
	}
	io, _, out, errOut := iostreams.Test()
	o := &ShowOptions{IO: io, Settings: func() *settings.Loaded { return loaded }, Format: func() output.Format { return format }}
	if err := showRun(t.Context(), o); err != nil {
		t.Fatal(err)
	}
	return out.String(), errOut.String()
}

func TestShowTableTypesSourcesAndWarnings(t *testing.T) {
	t.Parallel()
	out, errOut := show(t, map[string]string{"NATS_HOST": "n:4222", "BEVYGAP_MAX_INFLIGHT": "lots", "EDGEGAP_API_KEY": "token sekrit"}, output.Plain)
	for _, want := range []string{"nats-host", "env NATS_HOST", "n:4222", "duration", "[redacted]"} {
		if !strings.Contains(out, want) {
			t.Errorf("config show lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out+errOut, "sekrit") {
		t.Error("config show printed the API key")
	}
	if !strings.Contains(errOut, `Warning: invalid max-inflight (from env BEVYGAP_MAX_INFLIGHT, value "lots"): want a whole number`) {
		t.Errorf("no warning for the bad max-inflight: %q", errOut)
	}
}

func TestShowJSON(t *testing.T) {
	t.Parallel()
	out, _ := show(t, nil, output.JSON)
	if !strings.Contains(out, `"key": "unclaimed-ttl"`) || !strings.Contains(out, `"type": "duration"`) || !strings.Contains(out, `"source": "default"`) {
		t.Errorf("config show -o json:\n%s", out)
	}
}
