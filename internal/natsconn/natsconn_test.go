package natsconn

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func embedded(t *testing.T, o EmbeddedOptions) *Embedded {
	t.Helper()
	o.Listen, o.StoreDir = "127.0.0.1:0", t.TempDir()
	e, err := StartEmbedded(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Shutdown)
	return e
}

// hostOf is the server's host:port, whatever its URL scheme.
func hostOf(e *Embedded) string {
	u := e.ClientURL()
	return u[strings.Index(u, "://")+3:]
}

func TestConnectInsecure(t *testing.T) {
	e := embedded(t, EmbeddedOptions{})
	nc, err := Connect(context.Background(), Options{Host: hostOf(e), Insecure: true, Name: "matchmaker"})
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	if !nc.IsConnected() {
		t.Fatal("not connected")
	}
}

func TestAuthErrorNamesUserNotPassword(t *testing.T) {
	e := embedded(t, EmbeddedOptions{User: "game", Password: "right-pass"})
	_, err := Connect(context.Background(), Options{Host: hostOf(e), Insecure: true, User: "game", Password: "wrong-hunter2"})
	if !errors.Is(err, ErrAuth) {
		t.Fatalf("want ErrAuth, got %v", err)
	}
	if msg := err.Error(); !strings.Contains(msg, `"game"`) || !strings.Contains(msg, hostOf(e)) || strings.Contains(msg, "hunter2") || strings.Contains(msg, "right-pass") {
		t.Fatalf("message %q", msg)
	}
	nc, err := Connect(context.Background(), Options{Host: hostOf(e), Insecure: true, User: "game", Password: "right-pass"})
	if err != nil {
		t.Fatal(err)
	}
	nc.Close()
	if _, err := Connect(context.Background(), Options{Host: hostOf(e), Insecure: true, User: "game"}); !errors.Is(err, ErrConfig) {
		t.Fatalf("user without password: %v", err)
	}
}

func TestTLSRequiredAgainstPlainServer(t *testing.T) {
	e := embedded(t, EmbeddedOptions{})
	_, err := Connect(context.Background(), Options{Host: hostOf(e), ConnectTimeout: 2 * time.Second})
	if !errors.Is(err, ErrTLS) || !strings.Contains(err.Error(), "nats-insecure") {
		t.Fatalf("want a TLS error that mentions nats-insecure, got %v", err)
	}
}

func TestUnreachable(t *testing.T) {
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := ln.Addr().String()
	ln.Close()
	_, err := Connect(context.Background(), Options{Host: addr, Insecure: true, ConnectTimeout: time.Second})
	if !errors.Is(err, ErrUnreachable) || !strings.Contains(err.Error(), addr) {
		t.Fatalf("want ErrUnreachable naming %s, got %v", addr, err)
	}
	if _, err := Connect(context.Background(), Options{}); !errors.Is(err, ErrNoHost) {
		t.Fatalf("no host: %v", err)
	}
}

// A self-signed server: trusted with NATS_CA_CONTENTS on one line (as the
// --ca_contents docker argument carries it) or NATS_CA; refused otherwise.
func TestTLSWithCA(t *testing.T) {
	dir := t.TempDir()
	certPEM, keyPEM := selfSigned(t)
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	os.WriteFile(certFile, certPEM, 0o600)
	os.WriteFile(keyFile, keyPEM, 0o600)
	e := embedded(t, EmbeddedOptions{TLSCert: certFile, TLSKey: keyFile})
	host := hostOf(e)

	// The embedded server's own client connects in-process, TLS or not.
	self, err := e.Connect("bevygap")
	if err != nil {
		t.Fatalf("embedded client with TLS on: %v", err)
	}
	self.Close()

	_, err = Connect(context.Background(), Options{Host: host})
	if !errors.Is(err, ErrTLS) || !strings.Contains(err.Error(), "not trusted") {
		t.Fatalf("untrusted certificate: %v", err)
	}
	oneLine := strings.ReplaceAll(string(certPEM), "\n", "")
	for name, o := range map[string]Options{
		"contents": {Host: host, CAContents: oneLine},
		"file":     {Host: host, CAFile: certFile},
		"tls url":  {Host: "tls://" + host, CAFile: certFile},
	} {
		nc, err := Connect(context.Background(), o)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		nc.Close()
	}
	if _, err := Connect(context.Background(), Options{Host: host, CAContents: "not a pem"}); !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), "nats-ca-contents") {
		t.Fatalf("bad CA contents: %v", err)
	}
	if _, err := Connect(context.Background(), Options{Host: host, CAFile: filepath.Join(dir, "missing.pem")}); !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), "nats-ca") {
		t.Fatalf("missing CA file: %v", err)
	}
}

func TestURLs(t *testing.T) {
	for in, want := range map[string]string{
		"nats.example.com":        "tls://nats.example.com:4222",
		"10.0.0.1:4333":           "tls://10.0.0.1:4333",
		"nats://a:1,b:2":          "nats://a:1,tls://b:2",
		"tls://user:pw@host:4222": "tls://host:4222",
		"[::1]:4222":              "tls://[::1]:4222",
	} {
		got, err := Options{Host: in}.URLs()
		if err != nil || strings.Join(got, ",") != want {
			t.Errorf("%q: %v %v, want %s", in, got, err, want)
		}
	}
	got, _ := Options{Host: "h", Insecure: true}.URLs()
	if got[0] != "nats://h:4222" {
		t.Errorf("insecure: %v", got)
	}
	for _, bad := range []string{"http://h:1", "h:99999", "h:abc"} {
		if _, err := (Options{Host: bad}).URLs(); !errors.Is(err, ErrConfig) {
			t.Errorf("%q accepted: %v", bad, err)
		}
	}
}

func TestEmbeddedBadOptions(t *testing.T) {
	for _, o := range []EmbeddedOptions{
		{Listen: "127.0.0.1:0"},
		{Listen: "nope", StoreDir: t.TempDir()},
		{Listen: "127.0.0.1:70000", StoreDir: t.TempDir()},
		{Listen: "127.0.0.1:0", StoreDir: t.TempDir(), User: "u"},
	} {
		if e, err := StartEmbedded(o); err == nil {
			e.Shutdown()
			t.Errorf("%+v accepted", o)
		}
	}
	// In-process only: no TCP URL, connections still work.
	e, err := StartEmbedded(EmbeddedOptions{StoreDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Shutdown()
	nc, err := e.Connect("t")
	if err != nil || e.ClientURL() != "" {
		t.Fatalf("in-process: %v %q", err, e.ClientURL())
	}
	nc.Close()
}

func selfSigned(t *testing.T) (certPEM, keyPEM []byte) {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "nats test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, DNSNames: []string{"localhost"},
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IsCA: true, BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, _ := x509.MarshalECPrivateKey(key)
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb})
}
