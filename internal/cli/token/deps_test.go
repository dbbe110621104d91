package token

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/bevygap/bevygap/internal/iostreams"
	"github.com/bevygap/bevygap/internal/output"
	"github.com/bevygap/bevygap/internal/settings"
)

// mint takes its streams, clock, format and settings, so a test builds
// them directly: the token's creation time is the given clock's.
func TestMintTakesDeps(t *testing.T) {
	t.Parallel()
	loaded, err := settings.Load(settings.LoadOptions{Env: settings.MapEnv(t.TempDir(), map[string]string{
		"LIGHTYEAR_PRIVATE_KEY": "1,2,3,4,5,6,7,8,9,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,1", "BEVYGAP_LIGHTYEAR_PROTOCOL_ID": "99",
	})})
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	io, _, out, _ := iostreams.Test()
	d := &Deps{IO: io, Now: func() time.Time { return at }, Format: func() output.Format { return output.JSON }, Settings: func() *settings.Loaded { return loaded }}
	if err := mintRun(t.Context(), &MintOptions{D: d, Servers: []string{"127.0.0.1:6420"}, Count: 1, Expire: 30, Timeout: 15}); err != nil {
		t.Fatal(err)
	}
	var m Minted
	if err := json.Unmarshal(out.Bytes(), &m); err != nil {
		t.Fatalf("%q: %v", out.String(), err)
	}
	if !m.Created.Equal(at) || m.ProtocolID != 99 || m.Expires == nil || !m.Expires.Equal(at.Add(30*time.Second)) {
		t.Fatalf("minted %+v", m)
	}
}
