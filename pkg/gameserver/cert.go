package gameserver

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"fmt"
	"math/big"
	"net"
	"strings"
	"time"
)

// CertValidity is the validity of a certificate made by SelfSignedCert:
// browsers accept a certificate pinned by its digest
// (serverCertificateHashes) only when it is valid for at most 14 days.
const CertValidity = 13 * 24 * time.Hour

// Cert is a self-signed certificate and its digest.
type Cert struct {
	// DER is the certificate.
	DER []byte
	// Key is its private key.
	Key *ecdsa.PrivateKey
	// Digest is the SHA-256 digest of DER as CertDigest formats it.
	Digest string
}

// TLS returns the certificate for a tls.Config.
func (c *Cert) TLS() tls.Certificate {
	return tls.Certificate{Certificate: [][]byte{c.DER}, PrivateKey: c.Key}
}

// SelfSignedCert makes an ECDSA P-256 self-signed certificate for the given
// host names and IP addresses (default "localhost"), valid from a minute
// ago for CertValidity, as a WebTransport game server uses; its Digest is
// what the game server publishes in cert_digests.
func SelfSignedCert(hosts ...string) (*Cert, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate certificate key: %w", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, fmt.Errorf("certificate serial: %w", err)
	}
	if len(hosts) == 0 {
		hosts = []string{"localhost"}
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "bevygap game server"},
		NotBefore:             now.Add(-time.Minute),
		NotAfter:              now.Add(-time.Minute).Add(CertValidity),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
	}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else if h != "" {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("create certificate: %w", err)
	}
	return &Cert{DER: der, Key: key, Digest: CertDigest(der)}, nil
}

// CertDigest returns the SHA-256 digest of a DER certificate the way
// Lightyear reports it (wtransport's Sha256Digest): 32 lowercase hex bytes
// joined by colons, e.g. "e3:76:4d:...". The Rust client plugin strips the
// colons before handing it to the browser.
func CertDigest(der []byte) string {
	sum := sha256.Sum256(der)
	var b strings.Builder
	b.Grow(len(sum)*3 - 1)
	for i, c := range sum {
		if i > 0 {
			b.WriteByte(':')
		}
		b.WriteString(hex.EncodeToString([]byte{c}))
	}
	return b.String()
}
