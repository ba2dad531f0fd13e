package e2e

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/fasthttp/websocket"
)

// wss_port serves the same stream over TLS with the configured certificate.
func TestSecureWebSocket(t *testing.T) {
	dir := t.TempDir()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "hbd test"},
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, _ := x509.MarshalECPrivateKey(key)
	if err := os.WriteFile(filepath.Join(dir, "server.pem"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "server.key"), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	port := freePorts(t, 1)[0]
	d := startDaemon(t, fmt.Sprintf("wss_port = %d\ncert_path = %q\nwss_pem = \"server.pem\"\nwss_key = \"server.key\"\n", port, dir))

	cert, _ := x509.ParseCertificate(der)
	roots := x509.NewCertPool()
	roots.AddCert(cert)
	dialer := websocket.Dialer{TLSClientConfig: &tls.Config{RootCAs: roots}, HandshakeTimeout: 5 * time.Second}
	// The daemon opens wss_port after the API the harness waits for.
	var c *websocket.Conn
	var dialErr error
	waitFor(t, 10*time.Second, "the wss listener", func() bool {
		c, _, dialErr = dialer.Dial(fmt.Sprintf("wss://127.0.0.1:%d/hbd", port), nil)
		return dialErr == nil
	})
	defer c.Close()
	if f := next(t, c, "snapshot"); len(f.Data) == 0 {
		t.Fatal("empty snapshot over wss")
	}
	s := newSender(t, d, "tls01", d.key, false)
	s.heartbeat(time.Second, 1)
	var h host
	for h.Name != "tls01" {
		if err := jsonUnmarshal(next(t, c, "host").Data, &h); err != nil {
			t.Fatal(err)
		}
	}
	// A plain-text client on the TLS port gets nothing.
	if _, _, err := websocket.DefaultDialer.Dial(fmt.Sprintf("ws://127.0.0.1:%d/hbd", port), nil); err == nil {
		t.Error("a plain ws:// dial to wss_port succeeded")
	}
}
