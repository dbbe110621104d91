package app_test

import (
	"testing"

	"github.com/bevygap/bevygap/internal/natsconn"
)

// natsOpts runs the embedded server in-process only, with a temp store.
func natsOpts(t *testing.T) natsconn.EmbeddedOptions {
	return natsconn.EmbeddedOptions{StoreDir: t.TempDir()}
}
