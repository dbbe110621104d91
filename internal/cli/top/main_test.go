package top_test

import (
	"testing"

	"go.uber.org/goleak"
)

// top runs a screen, a collector and HTTP scrapes: nothing may outlive it.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
