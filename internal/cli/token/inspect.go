package token

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/bevygap/bevygap/internal/cli/factory"
	"github.com/bevygap/bevygap/internal/output"
	"github.com/bevygap/bevygap/internal/settings"
	"github.com/bevygap/bevygap/pkg/netcode"
)

// InspectOptions of `token inspect`.
type InspectOptions struct {
	D       *Deps
	Token   string
	KeyFile string
	IPv6Std bool
}

// Inspection is the JSON shape of `token inspect`.
type Inspection struct {
	Version           string     `json:"version"`
	ProtocolID        uint64     `json:"protocol_id"`
	Created           time.Time  `json:"created"`
	Expires           *time.Time `json:"expires"`
	Expired           bool       `json:"expired"`
	TimeoutSeconds    int32      `json:"timeout_seconds"`
	ServerAddresses   []string   `json:"server_addresses"`
	ClientToServerKey string     `json:"client_to_server_key_fingerprint"`
	ServerToClientKey string     `json:"server_to_client_key_fingerprint"`
	Decrypted         bool       `json:"decrypted"`
	ClientID          *uint64    `json:"client_id,omitempty"`
	InternalAddresses []string   `json:"internal_addresses,omitempty"`
	UserData          string     `json:"user_data,omitempty"`
}

// NewCmdInspect builds `token inspect`.
func NewCmdInspect(d *Deps, runF func(context.Context, *InspectOptions) error) *cobra.Command {
	o := &InspectOptions{D: d}
	cmd := &cobra.Command{
		Use: "inspect [<token> | -]",
		Example: `  bevygap token inspect "$TOKEN"
  bevygap play -o json --jq .token | bevygap token inspect - --private-key-file key.txt`,
		Short: "Decode a connect token; with the private key, decrypt it too",
		Long: `Decode the public part of a base64 connect token (from the argument, or
stdin with - or when no argument is given): version, protocol id, times,
timeout, server addresses and fingerprints of the session keys (never the keys).
With the private key it also decrypts the private part: client id, internal
addresses and user data. Exit 1 for a malformed token, a wrong key or a
tampered token.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 1 {
				o.Token = args[0]
			}
			if runF != nil {
				return runF(cmd.Context(), o)
			}
			return inspectRun(cmd.Context(), o)
		},
	}
	cmd.Flags().StringVar(&o.KeyFile, "private-key-file", "", "read the private key from a file")
	cmd.Flags().BoolVar(&o.IPv6Std, "ipv6-standard", false, "read IPv6 addresses in the netcode standard encoding")
	settings.AddFlagAs(cmd.Flags(), "lightyear-private-key", "private-key")
	return cmd
}

func inspectRun(_ context.Context, o *InspectOptions) error {
	io := o.D.IO
	raw := o.Token
	if raw == "" || raw == "-" {
		if raw == "" && io.CanPrompt() {
			return factory.UsageErrorf("give the token as an argument, or - to read it from stdin")
		}
		b, err := readLimited(io.In, 8192)
		if err != nil {
			return err
		}
		raw = string(b)
	}
	opts := netcode.ParseOptions{}
	if o.IPv6Std {
		opts.IPv6 = netcode.IPv6Standard
	}
	t, err := opts.ParseBase64(strings.TrimSpace(raw))
	if err != nil {
		return fmt.Errorf("malformed connect token: %w", err)
	}
	now := o.D.Now()
	in := Inspection{
		Version: "NETCODE 1.02", ProtocolID: t.ProtocolID, Created: time.Unix(int64(t.CreateTimestamp), 0).UTC(),
		Expired: t.Expired(now), TimeoutSeconds: t.TimeoutSeconds, ServerAddresses: addrStrings(t.ServerAddrs),
		ClientToServerKey: keyFingerprint(t.ClientToServerKey[:]), ServerToClientKey: keyFingerprint(t.ServerToClientKey[:]),
	}
	if t.ExpireTimestamp != ^uint64(0) {
		e := time.Unix(int64(t.ExpireTimestamp), 0).UTC()
		in.Expires = &e
	}
	key, haveKey, err := privateKey(o.D, o.KeyFile, false)
	if err != nil {
		return err
	}
	if haveKey {
		pd, err := t.Decrypt(key, t.ProtocolID)
		if err != nil {
			if errors.Is(err, netcode.ErrDecrypt) {
				return fmt.Errorf("cannot decrypt the token: wrong private key, or the token was tampered with (key fingerprint %s)", key.Fingerprint())
			}
			return fmt.Errorf("cannot decrypt the token: %w", err)
		}
		in.Decrypted = true
		id := pd.ClientID
		in.ClientID = &id
		in.InternalAddresses = addrStrings(pd.ServerAddrs)
		in.UserData = hex.EncodeToString(pd.UserData[:])
	}
	if o.D.Format() == output.JSON {
		return output.WriteJSON(io.Out, in)
	}
	exp := "never"
	if in.Expires != nil {
		exp = in.Expires.Format(time.RFC3339)
		if d := in.Expires.Sub(now); d > 0 {
			exp += " (expires in " + output.Duration(d) + ")"
		} else {
			exp += " (expired " + output.Duration(-d) + " ago)"
		}
	}
	t2 := output.NewTable(io, o.D.Format(), "Field", "Value")
	t2.AddRow("version", in.Version)
	t2.AddRow("protocol_id", in.ProtocolID)
	t2.AddRow("created", in.Created.Format(time.RFC3339))
	t2.AddRow("expires", exp)
	t2.AddRow("timeout", fmt.Sprintf("%ds", in.TimeoutSeconds))
	t2.AddRow("servers", strings.Join(in.ServerAddresses, ", "))
	t2.AddRow("client_to_server_key", "fingerprint "+in.ClientToServerKey)
	t2.AddRow("server_to_client_key", "fingerprint "+in.ServerToClientKey)
	if in.Decrypted {
		t2.AddRow("client_id", *in.ClientID)
		t2.AddRow("internal_addresses", strings.Join(in.InternalAddresses, ", "))
		ud := strings.TrimRight(in.UserData, "0")
		if ud == "" {
			ud = "(256 zero bytes)"
		}
		t2.AddRow("user_data", ud)
	} else {
		t2.AddRow("private part", "encrypted (give --private-key to decrypt)")
	}
	return t2.Render()
}

func readLimited(r io.Reader, n int64) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, n+1))
	if err != nil {
		return nil, fmt.Errorf("reading the token from stdin: %w", err)
	}
	if int64(len(b)) > n {
		return nil, fmt.Errorf("stdin holds more than %d bytes: not a connect token", n)
	}
	return b, nil
}
