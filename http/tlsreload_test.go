package http

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

// writePair writes a fresh self-signed certificate named cn and its key.
func writePair(t *testing.T, certFile, keyFile, cn string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: cn},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kd, _ := x509.MarshalECPrivateKey(key)
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kd}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}

func servedCN(t *testing.T, r *CertReloader) string {
	t.Helper()
	c, err := r.GetCertificate(nil)
	if err != nil || c == nil || c.Leaf == nil {
		t.Fatalf("GetCertificate: %v, %v", c, err)
	}
	return c.Leaf.Subject.CommonName
}

// A changed pair is served after the next check; a pair that does not
// load keeps the previous certificate in service, logged once.
func TestCertReloader(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cert, key := filepath.Join(dir, "c.pem"), filepath.Join(dir, "k.pem")
	writePair(t, cert, key, "first")
	log, buf := testLogger()
	r, err := NewCertReloader(cert, key, log)
	if err != nil {
		t.Fatal(err)
	}
	clk := newFakeClock()
	r.now = clk.now
	if cn := servedCN(t, r); cn != "first" {
		t.Fatalf("serves %q, want first", cn)
	}

	writePair(t, cert, key, "second")
	// Modification times can be equal within the file system's
	// granularity; the size differs only by chance, so set the time.
	future := time.Now().Add(time.Minute)
	if err := os.Chtimes(cert, future, future); err != nil {
		t.Fatal(err)
	}
	if cn := servedCN(t, r); cn != "first" {
		t.Errorf("reloaded before the check interval: serves %q", cn)
	}
	clk.advance(certCheckEvery)
	if cn := servedCN(t, r); cn != "second" {
		t.Errorf("after the change: serves %q, want second", cn)
	}

	// A broken certificate file: the previous pair stays.
	if err := os.WriteFile(cert, []byte("-----BEGIN CERTIFICATE-----\nbroken\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	later := future.Add(time.Minute)
	if err := os.Chtimes(cert, later, later); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		clk.advance(certCheckEvery)
		if cn := servedCN(t, r); cn != "second" {
			t.Fatalf("with a broken file: serves %q, want the previous (second)", cn)
		}
	}
	if n := strings.Count(buf.String(), "do not load"); n != 1 {
		t.Errorf("a persisting load error was logged %d times, want once:\n%s", n, buf.String())
	}
	writePair(t, cert, key, "third")
	last := later.Add(time.Minute)
	if err := os.Chtimes(cert, last, last); err != nil {
		t.Fatal(err)
	}
	clk.advance(certCheckEvery)
	if cn := servedCN(t, r); cn != "third" {
		t.Errorf("after the files were fixed: serves %q, want third", cn)
	}
	if _, err := NewCertReloader(filepath.Join(dir, "missing.pem"), key, log); err == nil {
		t.Error("NewCertReloader accepted a missing file")
	}
}

// pprof: seconds is capped, and a second profile while one runs is a 409
// with Retry-After, counted; after it ends the next one runs.
func TestPprofGate(t *testing.T) {
	t.Parallel()
	log, _ := testLogger()
	clk := newFakeClock()
	g := &pprofGate{ref: newRefusals(log, clk.now), now: clk.now}
	started, release := make(chan struct{}), make(chan struct{})
	blocking := g.wrap(func(ctx *fasthttp.RequestCtx) {
		close(started)
		<-release
		ctx.SetStatusCode(200)
	})
	quick := g.wrap(func(ctx *fasthttp.RequestCtx) { ctx.SetStatusCode(200) })
	mk := func(profile, uri string) *fasthttp.RequestCtx {
		ctx := req{method: "GET", uri: uri, from: loop}.ctx(t)
		ctx.SetUserValue("profile", profile)
		return ctx
	}

	for _, uri := range []string{"/debug/pprof/profile?seconds=61", "/debug/pprof/trace?seconds=3600", "/debug/pprof/profile?seconds=-1", "/debug/pprof/profile?seconds=1e3"} {
		ctx := mk(strings.TrimPrefix(strings.SplitN(uri, "?", 2)[0], "/debug/pprof/"), uri)
		quick(ctx)
		if ctx.Response.StatusCode() != 400 {
			t.Errorf("%s: %d, want 400", uri, ctx.Response.StatusCode())
		}
	}

	var wg sync.WaitGroup
	first := mk("profile", "/debug/pprof/profile?seconds=20")
	wg.Go(func() { blocking(first) })
	<-started
	clk.advance(5 * time.Second)
	second := mk("heap", "/debug/pprof/heap")
	quick(second)
	if second.Response.StatusCode() != 409 || string(second.Response.Header.Peek("Retry-After")) != "15" {
		t.Errorf("a profile while another runs: %d, Retry-After %q; want 409, 15", second.Response.StatusCode(), second.Response.Header.Peek("Retry-After"))
	}
	if g.ref.count(ReasonPprofBusy) != 1 {
		t.Errorf("pprof_busy refusals = %d, want 1", g.ref.count(ReasonPprofBusy))
	}
	// The index and symbol lookups are not profiles and are not held up.
	idx := mk("", "/debug/pprof/")
	quick(idx)
	if idx.Response.StatusCode() != 200 {
		t.Errorf("the index while a profile runs: %d, want 200", idx.Response.StatusCode())
	}
	close(release)
	wg.Wait()
	if first.Response.StatusCode() != 200 {
		t.Errorf("the first profile: %d", first.Response.StatusCode())
	}
	third := mk("heap", "/debug/pprof/heap")
	quick(third)
	if third.Response.StatusCode() != 200 {
		t.Errorf("a profile after the first ended: %d, want 200", third.Response.StatusCode())
	}
}
