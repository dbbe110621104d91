package edgegapsim_test

import (
	"testing"

	"github.com/bevygap/bevygap/pkg/edgegapsim"
)

func TestConfigValidation(t *testing.T) {
	bad := []edgegapsim.Config{
		{DeployDelay: -1},
		{InternalPort: 70000},
		{FirstExternalPort: 70000},
		{Faults: edgegapsim.Faults{RateLimitRate: -0.1}},
		{Faults: edgegapsim.Faults{ErrorStatus: 404}},
		{RateLimits: &edgegapsim.RateLimits{Create: -1}},
		{Apps: []edgegapsim.App{{Name: ""}}},
	}
	for i, cfg := range bad {
		if s, err := edgegapsim.New(cfg); err == nil {
			s.Close()
			t.Errorf("config %d accepted", i)
		}
	}
}
