package netcode

import (
	"encoding/binary"
	"fmt"
	"net/netip"
)

// IPv6Encoding selects how IPv6 server addresses are written in a token.
type IPv6Encoding uint8

const (
	// IPv6Lightyear writes the 16 address octets in network order, as
	// Lightyear's AddressList::write_to does. It is the default because
	// bevygap's game servers are Lightyear servers.
	IPv6Lightyear IPv6Encoding = iota
	// IPv6Standard writes eight u16 groups, each little-endian, as the
	// netcode STANDARD.md and the reference C implementation do. Use it for
	// conforming netcode.io servers.
	IPv6Standard
)

// String returns "lightyear" or "standard".
func (e IPv6Encoding) String() string {
	switch e {
	case IPv6Lightyear:
		return "lightyear"
	case IPv6Standard:
		return "standard"
	default:
		return fmt.Sprintf("IPv6Encoding(%d)", uint8(e))
	}
}

func (e IPv6Encoding) valid() bool { return e == IPv6Lightyear || e == IPv6Standard }

// Address types on the wire.
const (
	addrTypeIPv4 = 1
	addrTypeIPv6 = 2
)

// addrsSize is the encoded size of an address list, count included.
func addrsSize(addrs []netip.AddrPort) int {
	n := 4
	for _, a := range addrs {
		if a.Addr().Is4() {
			n += 1 + 4 + 2
		} else {
			n += 1 + 16 + 2
		}
	}
	return n
}

// putAddrs writes the count and the addresses at the start of b and returns
// the number of bytes written. The caller has validated the list and sized b
// with addrsSize. IPv4-mapped IPv6 addresses have been unmapped by Mint; any
// that remain are written as IPv6.
func putAddrs(b []byte, addrs []netip.AddrPort, enc IPv6Encoding) int {
	binary.LittleEndian.PutUint32(b, uint32(len(addrs)))
	n := 4
	for _, a := range addrs {
		ip := a.Addr()
		if ip.Is4() {
			b[n] = addrTypeIPv4
			v4 := ip.As4()
			copy(b[n+1:n+5], v4[:])
			n += 5
		} else {
			b[n] = addrTypeIPv6
			v6 := ip.As16()
			dst := b[n+1 : n+17]
			if enc == IPv6Standard {
				// Group g (big-endian in the address) is written little-endian.
				for g := 0; g < 16; g += 2 {
					dst[g], dst[g+1] = v6[g+1], v6[g]
				}
			} else {
				copy(dst, v6[:])
			}
			n += 17
		}
		binary.LittleEndian.PutUint16(b[n:], a.Port())
		n += 2
	}
	return n
}

// checkAddrs validates an address list for writing. what names one
// address of the list in errors ("server address").
func checkAddrs(what string, addrs []netip.AddrPort) error {
	if len(addrs) < 1 || len(addrs) > MaxServerAddresses {
		return fmt.Errorf("%w: %s list has %d, want 1 to %d", ErrAddressCount, what, len(addrs), MaxServerAddresses)
	}
	for i, a := range addrs {
		switch {
		case !a.Addr().IsValid():
			return fmt.Errorf("%w: %s %d is not set", ErrAddressType, what, i)
		case a.Addr().Zone() != "":
			return fmt.Errorf("%w: %s %d has an IPv6 zone, which a token cannot carry", ErrAddressType, what, i)
		}
	}
	return nil
}

// reader reads little-endian fields from a byte slice. Reading past the end
// sets short and returns zeros, so callers check short once at the end.
type reader struct {
	b     []byte
	off   int
	short bool
}

func (r *reader) next(n int) []byte {
	if r.short || n > len(r.b)-r.off {
		r.short = true
		return nil
	}
	s := r.b[r.off : r.off+n]
	r.off += n
	return s
}

func (r *reader) u8() byte {
	if s := r.next(1); s != nil {
		return s[0]
	}
	return 0
}

func (r *reader) u16() uint16 {
	if s := r.next(2); s != nil {
		return binary.LittleEndian.Uint16(s)
	}
	return 0
}

func (r *reader) u32() uint32 {
	if s := r.next(4); s != nil {
		return binary.LittleEndian.Uint32(s)
	}
	return 0
}

func (r *reader) u64() uint64 {
	if s := r.next(8); s != nil {
		return binary.LittleEndian.Uint64(s)
	}
	return 0
}

func (r *reader) array(dst []byte) {
	if s := r.next(len(dst)); s != nil {
		copy(dst, s)
	}
}

// addrs reads an address list. what names one address of the list in
// errors ("server address").
func (r *reader) addrs(what string, enc IPv6Encoding) ([]netip.AddrPort, error) {
	count := r.u32()
	if r.short {
		return nil, fmt.Errorf("%w: %s list runs past the end", ErrLength, what)
	}
	if count < 1 || count > MaxServerAddresses {
		return nil, fmt.Errorf("%w: %s list has %d, want 1 to %d", ErrAddressCount, what, count, MaxServerAddresses)
	}
	addrs := make([]netip.AddrPort, 0, count)
	for i := range int(count) {
		var ip netip.Addr
		switch typ := r.u8(); typ {
		case addrTypeIPv4:
			var v4 [4]byte
			r.array(v4[:])
			ip = netip.AddrFrom4(v4)
		case addrTypeIPv6:
			var v6 [16]byte
			r.array(v6[:])
			if enc == IPv6Standard {
				for g := 0; g < 16; g += 2 {
					v6[g], v6[g+1] = v6[g+1], v6[g]
				}
			}
			ip = netip.AddrFrom16(v6)
		default:
			if r.short {
				break
			}
			return nil, fmt.Errorf("%w: %s %d has type %d, want 1 (IPv4) or 2 (IPv6)", ErrAddressType, what, i, typ)
		}
		port := r.u16()
		if r.short {
			return nil, fmt.Errorf("%w: %s list runs past the end", ErrLength, what)
		}
		addrs = append(addrs, netip.AddrPortFrom(ip, port))
	}
	return addrs, nil
}
