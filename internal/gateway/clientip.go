package gateway

import (
	"fmt"
	"net/http"
	"net/netip"
	"strings"

	"github.com/bevygap/bevygap/pkg/protocol"
)

// clientAddr is who a request comes from.
type clientAddr struct {
	// network is the address limits are counted against: the TCP peer, or
	// the first untrusted hop of X-Forwarded-For when the peer is a trusted
	// proxy. A client_ip override never changes it.
	network netip.Addr
	// client is the address sent to the matchmaker (and on to Edgegap):
	// network, or the client_ip override when allowed, with a loopback
	// address replaced by the fake IP.
	client netip.Addr
	// overridden is set when client came from a client_ip override.
	overridden bool
}

// resolveClient works out the client address of r:
//
//  1. the TCP peer;
//  2. if the peer is a trusted proxy, X-Forwarded-For is walked from the
//     right (the entry the nearest proxy appended) through trusted proxies;
//     the first address that is not a trusted proxy is the client. A
//     malformed entry stops the walk at the hop that forwarded it;
//  3. with AllowClientIPOverride, a client_ip query parameter wins;
//  4. a loopback result becomes the fake IP.
//
// The Rust gateway believed the first X-Forwarded-For entry from anyone,
// which let every client choose its own geolocation.
func (s *Server) resolveClient(r *http.Request) (clientAddr, error) {
	var ca clientAddr
	peer, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return ca, fmt.Errorf("peer address %q: %w", r.RemoteAddr, err)
	}
	ip := peer.Addr().Unmap()
	if s.trusted(ip) {
		ip = s.walkForwardedFor(ip, r.Header.Values("X-Forwarded-For"))
	}
	ca.network = ip
	ca.client = ip
	if s.cfg.AllowClientIPOverride {
		if q := r.URL.Query().Get("client_ip"); q != "" {
			o, err := parseOverride(q)
			if err != nil {
				return ca, err
			}
			ca.client, ca.overridden = o, true
		}
	}
	ca.client = s.replaceLoopback(ca.client)
	return ca, nil
}

// withOverride applies the client_ip field of a websocket request message:
// only with AllowClientIPOverride and when no query parameter already did.
func (s *Server) withOverride(ca clientAddr, field *string) (clientAddr, error) {
	if !s.cfg.AllowClientIPOverride || ca.overridden || field == nil || *field == "" {
		return ca, nil
	}
	o, err := parseOverride(*field)
	if err != nil {
		return ca, err
	}
	ca.client, ca.overridden = s.replaceLoopback(o), true
	return ca, nil
}

func parseOverride(v string) (netip.Addr, error) {
	a, err := netip.ParseAddr(strings.TrimSpace(v))
	if err != nil || a.Zone() != "" {
		return netip.Addr{}, protocol.Errorf(protocol.CodeBadRequest, "client_ip %.64q is not an IP address", v)
	}
	return a.Unmap(), nil
}

func (s *Server) replaceLoopback(a netip.Addr) netip.Addr {
	if a.IsLoopback() || a.IsUnspecified() {
		return s.cfg.FakeIP
	}
	return a
}

func (s *Server) trusted(a netip.Addr) bool {
	for _, p := range s.cfg.TrustedProxies {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// walkForwardedFor returns the rightmost address of the X-Forwarded-For
// chain that is not a trusted proxy, starting from peer (which is one).
func (s *Server) walkForwardedFor(peer netip.Addr, values []string) netip.Addr {
	var hops []string
	for _, v := range values {
		hops = append(hops, strings.Split(v, ",")...)
	}
	ip := peer
	for i := len(hops) - 1; i >= 0 && s.trusted(ip); i-- {
		h, ok := parseHop(hops[i])
		if !ok {
			break
		}
		ip = h
	}
	return ip
}

// parseHop reads one X-Forwarded-For entry: an address, optionally with a
// port ("1.2.3.4:5", "[::1]:5").
func parseHop(h string) (netip.Addr, bool) {
	h = strings.TrimSpace(h)
	if a, err := netip.ParseAddr(h); err == nil && a.Zone() == "" {
		return a.Unmap(), true
	}
	if ap, err := netip.ParseAddrPort(h); err == nil && ap.Addr().Zone() == "" {
		return ap.Addr().Unmap(), true
	}
	return netip.Addr{}, false
}
