// Package archtest pins the layout's dependency rules (README, Architecture).
package archtest

import (
	"os/exec"
	"slices"
	"strings"
	"testing"
)

func goList(t *testing.T, args ...string) []string {
	t.Helper()
	out, err := exec.Command("go", append([]string{"list"}, args...)...).Output()
	if err != nil {
		t.Fatalf("go list %v: %v", args, err)
	}
	return strings.Fields(string(out))
}

// pkg/ holds only what another Go program should import.
func TestPublicPackages(t *testing.T) {
	want := []string{"edgegap", "edgegap/gen", "edgegap/gen/edgegapv1", "edgegap/gen/edgegapv2", "edgegapsim",
		"gameserver", "gameserver/caarg", "netcode", "protocol", "state"}
	var got []string
	for _, p := range goList(t, "github.com/bevygap/bevygap/pkg/...") {
		got = append(got, strings.TrimPrefix(p, "github.com/bevygap/bevygap/pkg/"))
	}
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Fatalf("public packages %v, want %v", got, want)
	}
}

// The Go game-server agent runs inside users' game servers: it must not
// drag in the simulator, the control plane or the CLI.
func TestAgentDependencies(t *testing.T) {
	for _, dep := range goList(t, "-deps", "github.com/bevygap/bevygap/pkg/gameserver") {
		for _, banned := range []string{"edgegapsim", "simserver", "internal/gateway", "internal/matchmaker", "spf13/cobra", "spf13/viper", "lipgloss"} {
			if strings.Contains(dep, banned) {
				t.Errorf("pkg/gameserver depends on %s", dep)
			}
		}
	}
}

// Domain packages never import the CLI, cobra, viper or lipgloss.
func TestDomainDependencies(t *testing.T) {
	for _, pkg := range []string{"pkg/...", "internal/matchmaker", "internal/gateway", "internal/check", "internal/simserver"} {
		for _, dep := range goList(t, "-deps", "github.com/bevygap/bevygap/"+pkg) {
			for _, banned := range []string{"internal/cli", "spf13/cobra", "spf13/viper", "lipgloss"} {
				if strings.Contains(dep, banned) {
					t.Errorf("%s depends on %s", pkg, dep)
				}
			}
		}
	}
}
