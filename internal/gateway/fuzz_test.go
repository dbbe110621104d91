package gateway

import (
	"net/http/httptest"
	"testing"

	"github.com/nats-io/nats.go"
)

// Nothing a client sends as its request message panics or yields an error
// that is not a 400.
func FuzzParseRequest(f *testing.F) {
	for _, s := range []string{
		goodRequest, `{"game":"a","version":"b","client_ip":"1.2.3.4"}`, `{"game":"a b","version":"1"}`,
		`null`, `[]`, `{"game":"\u0000","version":"1"}`, `{"game":"a","version":"1","client_ip":7}`, "\xff",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		req, err := parseRequest(data)
		if err != nil {
			if err.Code != 400 {
				t.Fatalf("code %d for %q", err.Code, data)
			}
			return
		}
		if validateNames(req.Game, req.Version) != nil {
			t.Fatalf("accepted invalid names %q %q", req.Game, req.Version)
		}
	})
}

// Any X-Forwarded-For resolves to a valid address without panicking.
func FuzzResolveClient(f *testing.F) {
	for _, s := range []string{"1.1.1.1", "1.1.1.1, 10.0.0.1", "[::1]:80, bogus", ",,,", "fe80::1%eth0", "10.0.0.1:99999"} {
		f.Add(s, "5.5.5.5")
	}
	cfg, err := Config{NATS: &nats.Conn{}, TrustedProxies: mustPrefixes("10.0.0.0/8", "127.0.0.0/8"), AllowClientIPOverride: true}.withDefaults()
	if err != nil {
		f.Fatal(err)
	}
	s := &Server{cfg: cfg}
	f.Fuzz(func(t *testing.T, xff, override string) {
		r := httptest.NewRequest("GET", "/matchmaker/ws", nil)
		r.RemoteAddr = "10.0.0.1:5"
		r.Header.Set("X-Forwarded-For", xff)
		q := r.URL.Query()
		q.Set("client_ip", override)
		r.URL.RawQuery = q.Encode()
		ca, err := s.resolveClient(r)
		if err != nil {
			return
		}
		if !ca.network.IsValid() || !ca.client.IsValid() || ca.client.IsLoopback() {
			t.Fatalf("resolved %+v from %q", ca, xff)
		}
	})
}
