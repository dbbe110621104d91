package output

import (
	"strings"
	"testing"
)

func TestRedactURL(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"":                               "",
		"https://h.example/hook/session": "https://h.example/hook/session",
		"https://h.example/hook/session?secret=s3cr3t": "https://h.example/hook/session?secret=[redacted]",
		"https://h/x?a=1&Secret=s3cr3t&b=2":            "https://h/x?Secret=[redacted]&a=1&b=2",
		"https://user:s3cr3t@h/x":                      "https://user:[redacted]@h/x",
		"https://h/x?secret=a%2Bs3cr3t":                "https://h/x?secret=[redacted]",
		"::not a url?secret=s3cr3t":                    "[redacted]",
		"https://h/x?secret=%zzs3cr3t":                 "[redacted]",
	} {
		got := RedactURL(in)
		if got != want {
			t.Errorf("RedactURL(%q) = %q, want %q", in, got, want)
		}
		if strings.Contains(got, "s3cr3t") {
			t.Errorf("RedactURL(%q) leaks the secret: %q", in, got)
		}
	}
}
