package gameserver

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/netip"
	"slices"
	"strings"
	"testing"
)

const (
	secretContext = "dfaf50b9333b9ee07b22ed247e4a17e6"
	secretDelete  = "7df4cd933df87084b34ae80d8abde293"
)

// mockEnv is Edgegap's documented example (utils/set-mock-arbitrium-envs.sh).
func mockEnv() map[string]string {
	return map[string]string{
		EnvRequestID:          "f0000000000f",
		EnvDeleteURL:          "https://api.edgegap.com/v1/self/stop/9f511e17/660",
		EnvDeleteToken:        secretDelete,
		EnvDeploymentLocation: `{"city":"Montreal","country":"Canada","continent":"North America","administrative_division":"Quebec","timezone":"Eastern Time","latitude":45.513707,"longitude":-73.619073}`,
		EnvContextURL:         "https://api.edgegap.com/v1/context/9170f5211e17/17",
		EnvContextToken:       secretContext,
		EnvPublicIP:           "162.254.141.66",
		EnvPortsMapping:       `{"ports":{"5000":{"name":"game_port","internal":5000,"external":31500,"protocol":"HTTP"}}}`,
	}
}

func TestEnvFromMap(t *testing.T) {
	env, err := EnvFromMap(mockEnv())
	if err != nil {
		t.Fatal(err)
	}
	if env.RequestID != "f0000000000f" || env.ContextToken != secretContext || env.DeleteToken != secretDelete ||
		env.ContextURL != "https://api.edgegap.com/v1/context/9170f5211e17/17" || env.PublicIP != netip.MustParseAddr("162.254.141.66") ||
		env.Location.City != "Montreal" || env.Location.Country != "Canada" || env.Location.Latitude != 45.513707 {
		t.Errorf("env = %#v %+v", env, env.Location)
	}
	p, ok := env.GamePort("")
	if !ok || p.Name != "game_port" || p.Internal != 5000 || p.External != 31500 {
		t.Errorf("GamePort = %+v, %v", p, ok)
	}
	if a, ok := env.PublicAddr("game_port"); !ok || a != netip.MustParseAddrPort("162.254.141.66:31500") {
		t.Errorf("PublicAddr = %v, %v", a, ok)
	}
	if _, ok := (Env{}).PublicAddr(""); ok {
		t.Error("PublicAddr of an empty env")
	}
}

func TestEnvGamePortChoice(t *testing.T) {
	m := mockEnv()
	m[EnvPortsMapping] = `{"ports":{"7000":{"name":"web","internal":7000,"external":31001},"5000":{"name":"game","internal":5000,"external":31002}}}`
	env, err := EnvFromMap(m)
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]int{"web": 31001, "game": 31002, "7000": 31001, "": 31002, "nope": 31002} {
		if p, ok := env.GamePort(name); !ok || p.External != want {
			t.Errorf("GamePort(%q) = %+v, %v; want external %d", name, p, ok, want)
		}
	}
}

func TestEnvMissing(t *testing.T) {
	for _, name := range EnvNames {
		t.Run(name, func(t *testing.T) {
			for _, v := range []string{"", "  "} {
				m := mockEnv()
				if v == "" {
					delete(m, name)
				} else {
					m[name] = v
				}
				_, err := EnvFromMap(m)
				ee, ok := errors.AsType[*EnvError](err)
				if !ok {
					t.Fatalf("err = %v, want *EnvError", err)
				}
				if !slices.Equal(ee.Names(), []string{name}) || !ee.Vars[0].Missing || !strings.Contains(err.Error(), name+" is not set") {
					t.Errorf("err = %v (names %v)", err, ee.Names())
				}
				ve, ok := errors.AsType[*VarError](err)
				if !ok || ve.Name != name {
					t.Errorf("errors.As VarError = %v", ve)
				}
				checkNoSecrets(t, err.Error())
			}
		})
	}
	_, err := EnvFromMap(nil)
	ee, ok := errors.AsType[*EnvError](err)
	if !ok || !slices.Equal(ee.Names(), EnvNames) {
		t.Errorf("empty env: %v", err)
	}
}

func TestEnvMalformed(t *testing.T) {
	cases := []struct {
		name, value, want string
	}{
		{EnvDeploymentLocation, "Montreal", "not valid JSON"},
		{EnvDeploymentLocation, `["Montreal"]`, "want a JSON object"},
		{EnvDeploymentLocation, `{"city":5}`, `field "city"`},
		{EnvDeploymentLocation, `{"city":"x"` + strings.Repeat(" ", 70000) + `}`, "limit"},
		{EnvPortsMapping, "5000", "want a JSON object"},
		{EnvPortsMapping, `{"5000":{}}`, `no "ports" object`},
		{EnvPortsMapping, `{"ports":[]}`, `field "ports"`},
		{EnvPortsMapping, `{"ports":{"5000":{"external":70000}}}`, "want 0 to 65535"},
		{EnvPortsMapping, `{"ports":{"5000":{"internal":-1}}}`, "want 0 to 65535"},
		{EnvPortsMapping, `{"ports":{"5000":{"external":"x"}}}`, `field "ports.external"`},
		{EnvPublicIP, "not-an-ip", "not an IP address"},
		{EnvPublicIP, "fe80::1%eth0", "not an IP address"},
		{EnvContextURL, "/v1/context/x/1", "absolute http(s) URL"},
		{EnvContextURL, "ftp://api.edgegap.com/x", "absolute http(s) URL"},
		{EnvDeleteURL, "://", "absolute http(s) URL"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m := mockEnv()
			m[c.name] = c.value
			_, err := EnvFromMap(m)
			ee, ok := errors.AsType[*EnvError](err)
			if !ok || !slices.Equal(ee.Names(), []string{c.name}) || ee.Vars[0].Missing {
				t.Fatalf("err = %v", err)
			}
			if msg := err.Error(); !strings.Contains(msg, c.name+" is malformed") || !strings.Contains(msg, c.want) {
				t.Errorf("err = %q, want %q", msg, c.want)
			}
			checkNoSecrets(t, err.Error())
		})
	}
}

func TestEnvSeveralBadNamesAll(t *testing.T) {
	m := mockEnv()
	m[EnvPublicIP] = "x"
	delete(m, EnvContextToken)
	m[EnvPortsMapping] = "{"
	_, err := EnvFromMap(m)
	ee, ok := errors.AsType[*EnvError](err)
	if !ok || !slices.Equal(ee.Names(), []string{EnvContextToken, EnvPublicIP, EnvPortsMapping}) {
		t.Fatalf("err = %v", err)
	}
}

// Tokens never appear in errors or in any printed form of Env.
func TestEnvNeverShowsTokens(t *testing.T) {
	m := mockEnv()
	env, err := EnvFromMap(m)
	if err != nil {
		t.Fatal(err)
	}
	var logged bytes.Buffer
	slog.New(slog.NewTextHandler(&logged, nil)).Info("env", "env", env)
	slog.New(slog.NewJSONHandler(&logged, nil)).Info("env", "env", env)
	for _, s := range []string{fmt.Sprint(env), fmt.Sprintf("%+v", env), fmt.Sprintf("%#v", env), env.String(), logged.String()} {
		checkNoSecrets(t, s)
		if !strings.Contains(s, "f0000000000f") {
			t.Errorf("request id missing from %q", s)
		}
	}
	// Tokens are taken verbatim: a token full of JSON or URL characters
	// does not make another variable's error quote it.
	bad := maps.Clone(m)
	bad[EnvContextToken] = `{"token": "` + secretContext + `"}`
	bad[EnvPortsMapping] = secretContext
	bad[EnvDeploymentLocation] = `{"city":"` + secretDelete + `",`
	_, err = EnvFromMap(bad)
	if err == nil {
		t.Fatal("no error")
	}
	checkNoSecrets(t, err.Error())
}

func checkNoSecrets(t *testing.T, s string) {
	t.Helper()
	for _, secret := range []string{secretContext, secretDelete} {
		if strings.Contains(s, secret) {
			t.Errorf("%q shows a token", s)
		}
	}
}
