package app

import (
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/bevygap/bevygap/internal/matchmaker"
	"github.com/bevygap/bevygap/internal/settings"
	"github.com/bevygap/bevygap/pkg/edgegap"
	"github.com/bevygap/bevygap/pkg/edgegapsim"
)

// dev reads every setting serve reads, except the ones naming services it
// runs itself, and every dev setting.
func TestDevKeysCoverServe(t *testing.T) {
	t.Parallel()
	dev := DevKeys()
	for _, k := range ServeKeys {
		if slices.Contains(dev, k) == slices.Contains(DevIgnores, k) {
			t.Errorf("%s: in DevKeys %v, in DevIgnores %v", k, slices.Contains(dev, k), slices.Contains(DevIgnores, k))
		}
	}
	for _, d := range settings.Defs {
		if _, ok := settings.Lookup(d.Key); !ok || d.Section == settings.SectionDev && !slices.Contains(dev, d.Key) {
			t.Errorf("dev does not read %s", d.Key)
		}
	}
	for _, k := range append(append([]string{}, ServeKeys...), DevIgnores...) {
		if _, ok := settings.Lookup(k); !ok {
			t.Errorf("unknown key %s", k)
		}
	}
}

// The domain configs carry the settings, with "0 = unlimited" turned into
// the gateway's spelling, and dev's simulator serves the configured app.
func TestConfigsFromSettings(t *testing.T) {
	t.Parallel()
	s := DevSettings()
	s.Matchmaker.AppName, s.Matchmaker.AppVersion = "my-game", "v3"
	s.Matchmaker.UnclaimedTTL = 3 * time.Second
	s.Gateway.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}
	s.Gateway.MaxPendingTotal = 0
	o, err := Dev(s, nil)
	if err != nil {
		t.Fatal(err)
	}
	if o.Matchmaker.UnclaimedTTL != 3*time.Second || o.Matchmaker.AppName != "my-game" || o.Matchmaker.WebhookURL != "" {
		t.Errorf("matchmaker config %+v", o.Matchmaker)
	}
	if a := o.Simulator.Apps; len(a) != 1 || a[0].Name != "my-game" || a[0].Versions[0].Name != "v3" {
		t.Errorf("simulator apps %+v", a)
	}
	// dev's gateway has serve's defaults (CORS, rate and pending limits).
	serve := settings.Defaults().Gateway
	if o.Gateway.RatePerMinute != serve.RatePerMinute || o.Gateway.RatePerMinute == 0 || o.Gateway.MaxPendingTotal != 0 ||
		o.Gateway.MaxPendingPerIP != serve.MaxPendingPerIP || !slices.Equal(o.Gateway.CORSOrigins, serve.CORS) ||
		o.Gateway.AllowClientIPOverride || len(o.Gateway.TrustedProxies) != 1 {
		t.Errorf("gateway config %+v", o.Gateway)
	}
	if o.GameServers == nil || o.GatewayAddr != o.WebhookAddr || o.Embedded.StoreDir != "" || o.Simulator.Sockets != edgegapsim.DefaultSockets {
		t.Errorf("dev wiring %+v", o)
	}
	// --open relaxes the gateway, except what was set explicitly.
	s = DevSettings()
	s.Dev.Open = true
	s.Gateway.RatePerMinute = 30
	relaxed, err := DevOpen(&s, func(k string) settings.Source {
		if k == "rate-per-minute" {
			return "env BEVYGAP_RATE_PER_MINUTE"
		}
		return "default"
	})
	if err != nil || !slices.Equal(relaxed, []string{"cors", "allow-client-ip-override", "max-pending-per-ip"}) {
		t.Errorf("relaxed %v %v", relaxed, err)
	}
	if g := GatewayConfig(s.Gateway); !slices.Equal(g.CORSOrigins, []string{"*"}) || g.RatePerMinute != 30 || g.MaxPendingPerIP != 0 || !g.AllowClientIPOverride {
		t.Errorf("open gateway config %+v", g)
	}
	s.Dev.Open = false
	if relaxed, _ := DevOpen(&s, func(string) settings.Source { return "default" }); relaxed != nil {
		t.Errorf("relaxed without --open: %v", relaxed)
	}
	// serve: a missing API key or an all-zero key is refused by key.
	s = settings.Defaults()
	if _, err := Serve(s, Parts{Matchmaker: true}, nil, func() (string, error) { return t.TempDir(), nil }); !errors.Is(err, matchmaker.ErrInsecureKey) {
		t.Errorf("zero key: %v", err)
	}
	s.Matchmaker.AllowInsecureKey = true
	if _, err := Serve(s, Parts{Matchmaker: true}, nil, func() (string, error) { return t.TempDir(), nil }); !errors.Is(err, edgegap.ErrNoAPIKey) || !strings.Contains(err.Error(), "edgegap-api-key") {
		t.Errorf("no API key: %v", err)
	}
	// The default data-dir is per port under the state home, and created.
	dir := t.TempDir()
	o, err = Serve(s, Parts{Gateway: true}, nil, func() (string, error) { return dir, nil })
	if err != nil || o.Embedded.StoreDir != filepath.Join(dir, "bevygap", "nats-4222") {
		t.Errorf("default data dir %q %v", o.Embedded.StoreDir, err)
	}
}

// With gameserver-cmd and a TLS NATS, the CA game servers get is nats-ca,
// else the TLS certificate; an unreadable one is an error naming it.
func TestDevGameserverCmdCA(t *testing.T) {
	t.Parallel()
	s := DevSettings()
	s.Dev.GameserverCmd = "./server"
	if _, err := Dev(s, nil); err != nil {
		t.Fatalf("without TLS: %v", err)
	}
	s.Serve.NATSTLSCert = filepath.Join(t.TempDir(), "missing-cert.pem")
	if _, err := Dev(s, nil); err == nil || !strings.HasPrefix(err.Error(), "nats-tls-cert: ") {
		t.Errorf("missing TLS certificate: %v", err)
	}
	s.NATS.CA = filepath.Join(t.TempDir(), "missing-ca.pem")
	if _, err := Dev(s, nil); err == nil || !strings.HasPrefix(err.Error(), "nats-ca: ") {
		t.Errorf("missing CA: %v", err)
	}
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	s.NATS.CA = ca
	o, err := Dev(s, nil)
	if err != nil {
		t.Fatal(err)
	}
	// The hook refuses it once the stack gives it NATS.
	if _, err := o.GameServers(GameServerDeps{NC: &nats.Conn{}, NATSURL: "tls://127.0.0.1:4222"}); err == nil || !strings.Contains(err.Error(), "NATS CA for game servers") {
		t.Errorf("a CA that is no certificate: %v", err)
	}
}
