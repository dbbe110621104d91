// Package token implements `bevygap token`: mint and inspect Lightyear
// connect tokens without a matchmaker.
package token

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/bevygap/bevygap/internal/cli/factory"
	"github.com/bevygap/bevygap/internal/iostreams"
	"github.com/bevygap/bevygap/internal/output"
	"github.com/bevygap/bevygap/internal/settings"
	"github.com/bevygap/bevygap/pkg/netcode"
)

// Deps are what the token commands need: streams, clock, output format and
// the loaded settings (the last two read when a command runs).
type Deps struct {
	IO       *iostreams.IOStreams
	Now      func() time.Time
	Format   func() output.Format
	Settings func() *settings.Loaded
}

// DepsOf takes the token commands' dependencies from the factory.
func DepsOf(f *factory.Factory) *Deps {
	return &Deps{IO: f.IOStreams, Now: f.Now, Format: func() output.Format { return f.Format }, Settings: func() *settings.Loaded { return f.Settings }}
}

// NewCmdToken builds `bevygap token`.
func NewCmdToken(f *factory.Factory) *cobra.Command {
	d := DepsOf(f)
	cmd := &cobra.Command{
		Use: "token <command>",
		Example: `  bevygap token mint --server 127.0.0.1:5000 --private-key-file key.txt
  bevygap token inspect "$TOKEN"`,
		Short: "Mint and inspect Lightyear connect tokens",
		Long: `Mint and inspect Lightyear (netcode.io 1.02) connect tokens, the 2048-byte
tickets a game client presents to a game server. Useful to test a game server
without a matchmaker, and to see what a client was given.`,
	}
	cmd.AddCommand(NewCmdMint(d, nil), NewCmdInspect(d, nil))
	return cmd
}

// privateKey resolves the key from --private-key-file or the
// lightyear-private-key setting (flag --private-key, env, config file).
func privateKey(d *Deps, file string, required bool) (netcode.PrivateKey, bool, error) {
	l := d.Settings()
	raw := l.Matchmaker.PrivateKey
	if file != "" {
		if raw != "" && strings.HasPrefix(string(l.Source("lightyear-private-key")), "flag") {
			return netcode.PrivateKey{}, false, factory.UsageErrorf("use --private-key or --private-key-file, not both")
		}
		b, err := os.ReadFile(file)
		if err != nil {
			return netcode.PrivateKey{}, false, fmt.Errorf("--private-key-file: %w", err)
		}
		if len(b) > 4096 {
			return netcode.PrivateKey{}, false, fmt.Errorf("--private-key-file %s is %d bytes; a key file is at most 4096", file, len(b))
		}
		raw = strings.TrimSpace(string(b))
	}
	if raw == "" {
		if required {
			return netcode.PrivateKey{}, false, &factory.AuthError{Err: fmt.Errorf("no Lightyear private key: set --private-key, --private-key-file or LIGHTYEAR_PRIVATE_KEY")}
		}
		return netcode.PrivateKey{}, false, nil
	}
	k, err := netcode.ParsePrivateKey(raw)
	if err != nil {
		return netcode.PrivateKey{}, false, err
	}
	return k, true, nil
}

// keyFingerprint identifies a 32-byte session key without revealing it.
func keyFingerprint(k []byte) string {
	sum := sha256.Sum256(k)
	return hex.EncodeToString(sum[:4])
}
