package protocol

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/bevygap/bevygap/internal/golden"
)

// Every SessionRequestFeedback shape, as serde writes it (PROTOCOL.md section 5).
func TestFeedbackShapes(t *testing.T) {
	seq := []Feedback{
		Acknowledged(),
		Accepted("950dd2eaff09-S"),
		Progress("Waiting (1)"),
		Ready(Seat{Token: "AAAA", IP: "1.2.3.4", Port: 30004, CertDigest: "e3:76:4d"}),
		Failure(408, "session still not ready, timed out."),
	}
	var buf bytes.Buffer
	for _, f := range seq {
		b, err := json.Marshal(f)
		if err != nil {
			t.Fatal(err)
		}
		buf.Write(b)
		buf.WriteByte('\n')
		var back Feedback
		if err := json.Unmarshal(b, &back); err != nil {
			t.Fatalf("round trip of %s: %v", b, err)
		}
		b2, _ := json.Marshal(back)
		if !bytes.Equal(b, b2) {
			t.Fatalf("round trip changed %s into %s", b, b2)
		}
	}
	golden.Assert(t, "feedback.jsonl", buf.Bytes())
}

func TestFeedbackRejectsUnknown(t *testing.T) {
	for _, in := range []string{
		`"Nope"`, `{}`, `{"Error":[1]}`, `{"Error":[70000,"x"]}`, `ERR boom`,
		`{"SessionReady":{"token":"a","ip":"b","port":1,"cert_digest":"c","x":1}}`,
		`{"ProgressReport":"a","Acknowledged":"b"}`, `{"SessionReady":{"port":-1}}`,
	} {
		var f Feedback
		if err := json.Unmarshal([]byte(in), &f); err == nil {
			t.Errorf("%s accepted as %+v", in, f)
		}
	}
	var f Feedback
	if err := json.Unmarshal([]byte(`"`+strings.Repeat("a", 20000)+`"`), &f); err == nil {
		t.Error("oversized message accepted")
	}
}

func TestRequestValidate(t *testing.T) {
	cases := map[string]struct {
		game, ver, want string
	}{
		"ok":       {"bevygap-spaceships", "1", ""},
		"space":    {"my game", "1", "Game name invalid"},
		"tab ver":  {"a", "v\t1", "Game version invalid"},
		"bad name": {"a.b", "1", "Game name invalid"},
		"bad ver":  {"a", "1.0", "Game version invalid"},
		"empty":    {"", "1", "Game name invalid"},
		"long":     {strings.Repeat("a", 31), "1", "Game name too long (max 30 chars)"},
		"long ver": {"a", strings.Repeat("1", 31), "Game version too long (max 30 chars)"},
	}
	for name, c := range cases {
		err := RequestSession{Game: c.game, Version: c.ver}.Validate()
		got := ""
		if err != nil {
			got = err.(*Error).Message
		}
		if got != c.want {
			t.Errorf("%s: got %q want %q", name, got, c.want)
		}
	}
}

func TestParseMatchmakerRequest(t *testing.T) {
	if r, err := ParseMatchmakerRequest([]byte(`{"client_ip":"81.128.157.100", "game":"g", "version":"1"}`)); err != nil || r.ClientIP != "81.128.157.100" {
		t.Fatalf("%+v %v", r, err)
	}
	for in, want := range map[string]string{
		`{`:                    "not valid JSON",
		`{"game":"g"}`:         "no client_ip",
		`{"client_ip":"nope"}`: "not an IP address",
		`{"client_ip":null}`:   "no client_ip",
		`[1,2]`:                "not valid JSON",
	} {
		_, err := ParseMatchmakerRequest([]byte(in))
		pe, ok := err.(*Error)
		if !ok || pe.Code != 400 || !strings.Contains(pe.Message, want) {
			t.Errorf("%s: got %v, want 400 containing %q", in, err, want)
		}
	}
}
