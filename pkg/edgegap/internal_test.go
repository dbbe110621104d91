package edgegap

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	cases := map[string]time.Duration{
		"":       0,
		"2":      2 * time.Second,
		" 1 ":    time.Second,
		"0.05":   50 * time.Millisecond,
		"0":      0,
		"-3":     0,
		"NaN":    0,
		"soon":   0,
		"999999": 24 * time.Hour,
		now.Add(90 * time.Second).Format(http.TimeFormat): 90 * time.Second,
		now.Add(-time.Minute).Format(http.TimeFormat):     0,
	}
	for in, want := range cases {
		if got := parseRetryAfter(in, now); got != want {
			t.Errorf("parseRetryAfter(%q) = %s, want %s", in, got, want)
		}
	}
}

func TestBackoffIsBoundedAndJittered(t *testing.T) {
	c := &Client{minBackoff: 100 * time.Millisecond, maxBackoff: time.Second}
	for attempt := 1; attempt <= 10; attempt++ {
		full := min(c.minBackoff<<(attempt-1), c.maxBackoff)
		seen := map[time.Duration]bool{}
		for range 50 {
			d := c.backoff(attempt)
			if d < full/2 || d > full {
				t.Fatalf("attempt %d: backoff %s outside [%s, %s]", attempt, d, full/2, full)
			}
			seen[d] = true
		}
		if len(seen) < 2 {
			t.Errorf("attempt %d: no jitter", attempt)
		}
	}
}

func TestErrorMessage(t *testing.T) {
	long := strings.Repeat("é", 600)
	cases := []struct{ body, want string }{
		{`{"message": "Session not found"}`, "Session not found"},
		{`{"message": ["a", "b"]}`, `["a","b"]`},
		{`{"message": null, "detail": "x"}`, `{"message": null, "detail": "x"}`},
		{"plain\ntext", "plain text"},
		{`{"message": "bad key token abc123 here"}`, "bad key [REDACTED] here"},
		{`{"message": "bad key abc123"}`, "bad key [REDACTED]"},
	}
	for _, c := range cases {
		if got := errorMessage([]byte(c.body), "token abc123"); got != c.want {
			t.Errorf("errorMessage(%q) = %q, want %q", c.body, got, c.want)
		}
	}
	got := errorMessage([]byte(`{"message":"`+long+`"}`), "")
	if len(got) > maxMessageLen+3 || !strings.HasSuffix(got, "...") || !strings.HasPrefix(got, "é") {
		t.Errorf("long message not cut cleanly: %d bytes", len(got))
	}
	for _, r := range strings.TrimSuffix(got, "...") {
		if r != 'é' {
			t.Fatalf("cut inside a rune: %q", got)
		}
	}
}

func TestNormalizeAPIKey(t *testing.T) {
	cases := map[string]string{
		"":              "",
		"  ":            "",
		"abc":           "token abc",
		"token abc":     "token abc",
		"Token abc":     "token abc",
		" token  abc ":  "token abc",
		"tokenabc":      "token tokenabc",
		"token-abc-def": "token token-abc-def",
	}
	for in, want := range cases {
		got, err := NormalizeAPIKey(in)
		if err != nil || got != want {
			t.Errorf("NormalizeAPIKey(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"token", "token a b", "a\tb", "a\x7fb"} {
		if _, err := NormalizeAPIKey(in); err == nil {
			t.Errorf("NormalizeAPIKey(%q) accepted", in)
		}
	}
}
