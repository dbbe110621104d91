package output

import (
	"testing"

	"github.com/bevygap/bevygap/internal/iostreams"
	"github.com/bevygap/bevygap/pkg/edgegap"
)

func TestAddPortRowsInNameOrder(t *testing.T) {
	io, _, out, _ := iostreams.Test()
	tb := NewTable(io, Plain, "Field", "Value")
	tb.AddPortRows(map[string]edgegap.Port{
		"web":      {External: 31001, Internal: 8080, Protocol: "TCP"},
		"gameport": {External: 31000, Internal: 6420, Protocol: "UDP"},
	})
	if err := tb.Render(); err != nil {
		t.Fatal(err)
	}
	want := "port gameport\t31000 -> 6420/UDP\nport web\t31001 -> 8080/TCP\n"
	if got := out.String(); got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
}
