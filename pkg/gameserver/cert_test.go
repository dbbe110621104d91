package gameserver

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"regexp"
	"strings"
	"testing"
	"time"
)

var digestRE = regexp.MustCompile(`^([0-9a-f]{2}:){31}[0-9a-f]{2}$`)

func TestCertDigestFormat(t *testing.T) {
	// SHA-256("abc"), the FIPS 180-2 example.
	want := "ba:78:16:bf:8f:01:cf:ea:41:41:40:de:5d:ae:22:23:b0:03:61:a3:96:17:7a:9c:b4:10:ff:61:f2:00:15:ad"
	if got := CertDigest([]byte("abc")); got != want {
		t.Errorf("CertDigest(abc) = %s", got)
	}
}

func TestSelfSignedCert(t *testing.T) {
	c, err := SelfSignedCert("game.example.com", "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	if !digestRE.MatchString(c.Digest) {
		t.Errorf("digest %q is not colon-separated lowercase hex", c.Digest)
	}
	sum := sha256.Sum256(c.DER)
	if strings.ReplaceAll(c.Digest, ":", "") != hex.EncodeToString(sum[:]) {
		t.Errorf("digest %s is not the SHA-256 of the certificate", c.Digest)
	}
	cert, err := x509.ParseCertificate(c.DER)
	if err != nil {
		t.Fatal(err)
	}
	pub, ok := cert.PublicKey.(*ecdsa.PublicKey)
	if !ok || pub.Curve != elliptic.P256() {
		t.Errorf("public key %T, want ECDSA P-256", cert.PublicKey)
	}
	if v := cert.NotAfter.Sub(cert.NotBefore); v > 14*24*time.Hour {
		t.Errorf("valid for %v: browsers refuse pinned certificates valid over 14 days", v)
	}
	if err := cert.CheckSignature(cert.SignatureAlgorithm, cert.RawTBSCertificate, cert.Signature); err != nil {
		t.Errorf("not self-signed: %v", err)
	}
	if err := cert.VerifyHostname("game.example.com"); err != nil {
		t.Error(err)
	}
	if err := cert.VerifyHostname("127.0.0.1"); err != nil {
		t.Error(err)
	}
	tc := c.TLS()
	if len(tc.Certificate) != 1 || tc.PrivateKey != c.Key {
		t.Errorf("TLS() = %+v", tc)
	}
	_ = tls.Config{Certificates: []tls.Certificate{tc}}
	other, err := SelfSignedCert()
	if err != nil {
		t.Fatal(err)
	}
	if other.Digest == c.Digest {
		t.Error("two certificates, one digest")
	}
}
