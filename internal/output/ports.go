package output

import (
	"fmt"
	"maps"
	"slices"

	"github.com/bevygap/bevygap/pkg/edgegap"
)

// AddPortRows adds a row "port <name>" = "<external> -> <internal>/<protocol>"
// to t for each port, in name order.
func (t *TablePrinter) AddPortRows(ports map[string]edgegap.Port) {
	for _, n := range slices.Sorted(maps.Keys(ports)) {
		p := ports[n]
		t.AddRow("port "+n, fmt.Sprintf("%d -> %d/%s", p.External, p.Internal, p.Protocol))
	}
}
