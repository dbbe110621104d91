package token

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"net/netip"
	"time"

	"github.com/spf13/cobra"

	"github.com/bevygap/bevygap/internal/cli/factory"
	"github.com/bevygap/bevygap/internal/output"
	"github.com/bevygap/bevygap/internal/settings"
	"github.com/bevygap/bevygap/pkg/netcode"
)

// MintOptions of `token mint`.
type MintOptions struct {
	D        *Deps
	Servers  []string
	Internal []string
	ClientID string
	Expire   int64
	Timeout  int32
	UserData string
	Count    int
	KeyFile  string
	IPv6Std  bool
}

// Minted is the JSON shape of one minted token.
type Minted struct {
	Token             string     `json:"token"`
	ClientID          uint64     `json:"client_id"`
	ProtocolID        uint64     `json:"protocol_id"`
	Created           time.Time  `json:"created"`
	Expires           *time.Time `json:"expires"`
	TimeoutSeconds    int32      `json:"timeout_seconds"`
	ServerAddresses   []string   `json:"server_addresses"`
	InternalAddresses []string   `json:"internal_addresses"`
	KeyFingerprint    string     `json:"private_key_fingerprint"`
}

// NewCmdMint builds `token mint`.
func NewCmdMint(d *Deps, runF func(context.Context, *MintOptions) error) *cobra.Command {
	o := &MintOptions{D: d}
	cmd := &cobra.Command{
		Use:   "mint --server <ip:port> [flags]",
		Short: "Mint connect tokens for a game server",
		Long: `Mint Lightyear connect tokens for a game server, as the matchmaker does.

Piped, it prints the base64 token alone, so $(bevygap token mint ...) works;
on a terminal it prints a summary; -o json prints token, client id, times and
addresses (an object; with --count above 1, an array of them). --count N
prints N tokens, one per line (for load tests).
The private key is never printed, only its fingerprint.`,
		Example: `  bevygap token mint --server 127.0.0.1:6420 --protocol-id 80085 --private-key-file key.txt
  LIGHTYEAR_PRIVATE_KEY='1,2,3,...' bevygap token mint --server 10.0.0.5:31000 -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if runF != nil {
				return runF(cmd.Context(), o)
			}
			return mintRun(cmd.Context(), o)
		},
	}
	fl := cmd.Flags()
	fl.StringArrayVar(&o.Servers, "server", nil, "public game server address ip:port (repeatable, 1 to 32)")
	fl.StringArrayVar(&o.Internal, "internal", nil, "internal server address ip:port written into the private part (repeatable)")
	fl.StringVar(&o.ClientID, "client-id", "", "client id (u64; default random)")
	fl.Int64Var(&o.Expire, "expire", 30, "seconds until the token expires; negative = never")
	fl.Int32Var(&o.Timeout, "timeout", 15, "connection timeout seconds; negative = none")
	fl.StringVar(&o.UserData, "user-data", "", "user data as hex (at most 256 bytes)")
	fl.IntVar(&o.Count, "count", 1, "number of tokens (1 to 100000)")
	fl.StringVar(&o.KeyFile, "private-key-file", "", "read the private key from a file")
	fl.BoolVar(&o.IPv6Std, "ipv6-standard", false, "write IPv6 addresses in the netcode standard encoding instead of Lightyear's")
	settings.AddFlagAs(fl, "lightyear-private-key", "private-key")
	settings.AddFlagAs(fl, "lightyear-protocol-id", "protocol-id")
	return cmd
}

func parseAddrs(flag string, in []string) ([]netip.AddrPort, error) {
	out := make([]netip.AddrPort, 0, len(in))
	for _, s := range in {
		a, err := netip.ParseAddrPort(s)
		if err != nil {
			return nil, factory.UsageErrorf("--%s %q: want ip:port (IPv6 as [addr]:port)", flag, s)
		}
		out = append(out, netip.AddrPortFrom(a.Addr().Unmap(), a.Port()))
	}
	if len(out) > 32 {
		return nil, factory.UsageErrorf("--%s given %d times: at most 32 addresses", flag, len(out))
	}
	return out, nil
}

func mintRun(_ context.Context, o *MintOptions) error {
	p, fixedID, err := mintParams(o)
	if err != nil {
		return err
	}
	key, _, err := privateKey(o.D, o.KeyFile, true)
	if err != nil {
		return err
	}
	m, err := netcode.NewMinter(key)
	if err != nil {
		return err
	}
	m.Now = o.D.Now
	var all []Minted
	io := o.D.IO
	piped := o.D.Format() == output.Plain // tokens alone, one per line
	for range o.Count {
		mt, err := mintOne(m, &p, fixedID, key)
		if err != nil {
			return err
		}
		if piped {
			if _, err := fmt.Fprintln(io.Out, mt.Token); err != nil {
				return err
			}
			continue
		}
		all = append(all, mt)
	}
	return printMinted(o, all)
}

// mintParams checks the flags and builds the token parameters (without
// the client id) and the fixed client id, if one was given.
func mintParams(o *MintOptions) (netcode.Params, *uint64, error) {
	var p netcode.Params
	if len(o.Servers) == 0 {
		return p, nil, factory.UsageErrorf("--server is required: the game server address clients connect to (ip:port)")
	}
	servers, err := parseAddrs("server", o.Servers)
	if err != nil {
		return p, nil, err
	}
	internal, err := parseAddrs("internal", o.Internal)
	if err != nil {
		return p, nil, err
	}
	if o.Count < 1 || o.Count > 100000 {
		return p, nil, factory.UsageErrorf("--count %d: want 1 to 100000", o.Count)
	}
	p = netcode.Params{ServerAddrs: servers, InternalAddrs: internal, ProtocolID: o.D.Settings().Matchmaker.ProtocolID, ExpireSeconds: o.Expire, TimeoutSeconds: o.Timeout}
	if o.Expire == 0 {
		return p, nil, factory.UsageErrorf("--expire 0: a token must live at least 1 second (negative = never expires)")
	}
	if o.Timeout == 0 {
		return p, nil, factory.UsageErrorf("--timeout 0: use a positive number of seconds, or negative for none")
	}
	if o.IPv6Std {
		p.IPv6 = netcode.IPv6Standard
	}
	if o.UserData != "" {
		b, err := hex.DecodeString(o.UserData)
		if err != nil || len(b) > netcode.UserDataSize {
			return p, nil, factory.UsageErrorf("--user-data: want at most %d bytes of hex", netcode.UserDataSize)
		}
		copy(p.UserData[:], b)
	}
	if o.ClientID == "" {
		return p, nil, nil
	}
	var id uint64
	if _, err := fmt.Sscan(o.ClientID, &id); err != nil || fmt.Sprint(id) != o.ClientID {
		return p, nil, factory.UsageErrorf("--client-id %q: want a whole number from 0 to 18446744073709551615", o.ClientID)
	}
	return p, &id, nil
}

// mintOne mints one token for fixedID, or a random client id.
func mintOne(m *netcode.Minter, p *netcode.Params, fixedID *uint64, key netcode.PrivateKey) (Minted, error) {
	if fixedID != nil {
		p.ClientID = *fixedID
	} else {
		var b [8]byte
		if _, err := rand.Read(b[:]); err != nil {
			return Minted{}, err
		}
		p.ClientID = binary.LittleEndian.Uint64(b[:])
	}
	t, err := m.Mint(*p)
	if err != nil {
		return Minted{}, err
	}
	mt := Minted{
		Token: t.Base64(), ClientID: p.ClientID, ProtocolID: t.ProtocolID,
		Created: time.Unix(int64(t.CreateTimestamp), 0).UTC(), TimeoutSeconds: t.TimeoutSeconds,
		ServerAddresses: addrStrings(p.ServerAddrs), InternalAddresses: addrStrings(p.InternalAddrs), KeyFingerprint: key.Fingerprint(),
	}
	if t.ExpireTimestamp != ^uint64(0) {
		e := time.Unix(int64(t.ExpireTimestamp), 0).UTC()
		mt.Expires = &e
	}
	return mt, nil
}

// printMinted writes the tokens as JSON or as a summary for a terminal.
func printMinted(o *MintOptions, all []Minted) error {
	io := o.D.IO
	switch {
	case o.D.Format() == output.JSON && o.Count == 1:
		return output.WriteJSON(io.Out, all[0])
	case o.D.Format() == output.JSON:
		return output.WriteJSON(io.Out, all)
	case len(all) == 0:
		return nil
	}
	th := output.NewTheme(o.D.IO)
	for _, mt := range all {
		exp := "never"
		if mt.Expires != nil {
			exp = mt.Expires.Format(time.RFC3339)
		}
		fmt.Fprintf(io.Out, "%s %d\n%s %d\n%s %s\n%s %s\n%s %v\n%s %s\n\n%s\n",
			th.Bold.Render("Client id:  "), mt.ClientID,
			th.Bold.Render("Protocol id:"), mt.ProtocolID,
			th.Bold.Render("Created:    "), mt.Created.Format(time.RFC3339),
			th.Bold.Render("Expires:    "), exp,
			th.Bold.Render("Servers:    "), mt.ServerAddresses,
			th.Bold.Render("Key:        "), "fingerprint "+mt.KeyFingerprint,
			mt.Token)
	}
	return nil
}

func addrStrings(a []netip.AddrPort) []string {
	out := make([]string, len(a))
	for i, x := range a {
		out[i] = x.String()
	}
	return out
}
