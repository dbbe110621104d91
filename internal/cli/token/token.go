// Package token implements `bevygap token`: mint and inspect Lightyear
// connect tokens without a matchmaker.
package token

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/bevygap/bevygap/internal/cli/factory"
	"github.com/bevygap/bevygap/pkg/netcode"
)

// NewCmdToken builds `bevygap token`.
func NewCmdToken(f *factory.Factory) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "token <command>",
		Short: "Mint and inspect Lightyear connect tokens",
		Long: `Mint and inspect Lightyear (netcode.io 1.02) connect tokens, the 2048-byte
tickets a game client presents to a game server. Useful to test a game server
without a matchmaker, and to see what a client was given.`,
	}
	cmd.AddCommand(NewCmdMint(f, nil), NewCmdInspect(f, nil))
	return cmd
}

// privateKey resolves the key from --private-key-file or the
// lightyear-private-key setting (flag --private-key, env, config file).
func privateKey(f *factory.Factory, file string, required bool) (netcode.PrivateKey, bool, error) {
	raw := f.S().Matchmaker.PrivateKey
	if file != "" {
		if raw != "" && strings.HasPrefix(string(f.Settings.Source("lightyear-private-key")), "flag") {
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
