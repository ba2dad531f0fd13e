package e2e

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/fasthttp/websocket"
	"golang.org/x/crypto/bcrypt"
)

// call sends one request and returns status, headers and body.
func call(t *testing.T, c *http.Client, method, url, body string, hdr map[string]string) (int, http.Header, string) {
	t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, url, r)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		if k == "Host" {
			req.Host = v
			continue
		}
		req.Header.Set(k, v)
	}
	if c == nil {
		c = http.DefaultClient
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b)
}

// newToken runs `hbd -new-token` and returns the token and its hash.
func newToken(t *testing.T) (string, string) {
	t.Helper()
	out, err := exec.Command(bins.hbd, "-new-token").Output()
	if err != nil {
		t.Fatalf("hbd -new-token: %v", err)
	}
	tok := regexp.MustCompile(`(?m)^token: (\S+)$`).FindSubmatch(out)
	hash := regexp.MustCompile(`(?m)^hash:  (sha256:[0-9a-f]{64})$`).FindSubmatch(out)
	if tok == nil || hash == nil || !bytes.Contains(out, []byte("[[api.token]]")) {
		t.Fatalf("hbd -new-token printed:\n%s", out)
	}
	// -hash-token gives the same hash for the token on stdin.
	cmd := exec.Command(bins.hbd, "-hash-token")
	cmd.Stdin = strings.NewReader(string(tok[1]) + "\n")
	h2, err := cmd.Output()
	if err != nil || strings.TrimSpace(string(h2)) != string(hash[1]) {
		t.Fatalf("hbd -hash-token: %q, %v; want %s", h2, err, hash[1])
	}
	return string(tok[1]), string(hash[1])
}

func silencesCount(t *testing.T, d *daemon, hdr map[string]string) int {
	t.Helper()
	st, _, body := call(t, nil, "GET", d.http+"/api/0/silences", "", hdr)
	if st != 200 {
		t.Fatalf("GET silences: %d %s", st, body)
	}
	var l struct {
		Silences []json.RawMessage `json:"silences"`
	}
	if err := json.Unmarshal([]byte(body), &l); err != nil {
		t.Fatal(err)
	}
	return len(l.Silences)
}

const silenceBody = `{"host":"*","duration":"1h","comment":"e2e"}`

// With [api] tokens: no token is 401 (reads too, from loopback too), a read
// token reads but cannot write (403), a write token writes; basic-auth
// users work; the pages stay public; the stream takes ?token=; pprof stays
// off (404) unless enabled.
func TestAPITokens(t *testing.T) {
	readTok, readHash := newToken(t)
	writeTok, writeHash := newToken(t)
	pw, err := bcrypt.GenerateFromPassword([]byte("correct horse"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	d := startDaemon(t, fmt.Sprintf(`
[[api.token]]
name = "dashboard"
scope = "read"
hash = %q

[[api.token]]
name = "ops"
scope = "write"
hash = %q

[[api.user]]
name = "alice"
scope = "read"
password_hash = %q
`, readHash, writeHash, pw))
	rd := map[string]string{"Authorization": "Bearer " + readTok}
	wr := map[string]string{"Authorization": "Bearer " + writeTok, "Content-Type": "application/json"}
	rdJSON := map[string]string{"Authorization": "Bearer " + readTok, "Content-Type": "application/json"}

	st, hdr, body := call(t, nil, "GET", d.http+"/api/0/hosts", "", nil)
	if st != 401 || !strings.HasPrefix(body, `{"error":`) {
		t.Errorf("no token: %d %s, want 401 with a JSON error", st, body)
	}
	if ch := strings.Join(hdr.Values("WWW-Authenticate"), " | "); !strings.Contains(ch, `Bearer realm="hbd"`) || !strings.Contains(ch, `Basic realm="hbd"`) {
		t.Errorf("WWW-Authenticate %q, want Bearer and Basic challenges", ch)
	}
	if st, _, _ := call(t, nil, "GET", d.http+"/api/0/hosts", "", map[string]string{"Authorization": "Bearer " + readTok + "x"}); st != 401 {
		t.Errorf("wrong token: %d, want 401", st)
	}
	if st, _, body := call(t, nil, "GET", d.http+"/api/0/hosts", "", rd); st != 200 || !strings.HasPrefix(body, "[") {
		t.Errorf("read token: %d %s", st, body)
	}
	req, _ := http.NewRequest("GET", d.http+"/api/0/stats", nil)
	req.SetBasicAuth("alice", "correct horse")
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != 200 {
		t.Errorf("basic auth: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}

	if st, _, _ := call(t, nil, "POST", d.http+"/api/0/silences", silenceBody, map[string]string{"Content-Type": "application/json"}); st != 401 {
		t.Errorf("write without a token from loopback: %d, want 401", st)
	}
	if st, _, body := call(t, nil, "POST", d.http+"/api/0/silences", silenceBody, rdJSON); st != 403 || !strings.Contains(body, "scope") {
		t.Errorf("write with the read token: %d %s, want 403", st, body)
	}
	if n := silencesCount(t, d, rd); n != 0 {
		t.Fatalf("%d silences after refused writes, want 0", n)
	}
	st, _, body = call(t, nil, "POST", d.http+"/api/0/silences", silenceBody, wr)
	if st != 201 {
		t.Fatalf("write with the write token: %d %s", st, body)
	}
	var sil struct{ ID string }
	if err := json.Unmarshal([]byte(body), &sil); err != nil {
		t.Fatalf("silence body %q: %v", body, err)
	}
	if st, _, _ := call(t, nil, "DELETE", d.http+"/api/0/silences/"+sil.ID, "", rd); st != 403 {
		t.Errorf("delete with the read token: %d, want 403", st)
	}
	if n := silencesCount(t, d, rd); n != 1 {
		t.Errorf("%d silences, want the one the write token made", n)
	}
	if st, _, _ := call(t, nil, "DELETE", d.http+"/api/0/silences/"+sil.ID, "", wr); st != 200 {
		t.Errorf("delete with the write token: %d", st)
	}

	// Pages load without a token (they ask for one); data does not.
	if st, _, body := call(t, nil, "GET", d.http+"/live", "", nil); st != 200 || !strings.Contains(body, "<html") {
		t.Errorf("/live without a token: %d", st)
	}
	if st, _, _ := call(t, nil, "GET", d.http+"/metrics", "", nil); st != 401 {
		t.Errorf("/metrics without a token: %d, want 401", st)
	}
	if st, _, _ := call(t, nil, "GET", d.http+"/debug/pprof/", "", wr); st != 404 {
		t.Errorf("/debug/pprof/ with pprof off: %d, want 404", st)
	}

	// The stream: ws_port and the API port, ?token= or the header.
	for _, base := range []string{d.ws, strings.Replace(d.http, "http://", "ws://", 1) + "/hbd"} {
		if _, resp, err := websocket.DefaultDialer.Dial(base, nil); err == nil || resp == nil || resp.StatusCode != 401 {
			t.Errorf("%s without a token: %v, want a 401", base, err)
		}
		c := dialWS(t, base+"?token="+readTok)
		if f := next(t, c, "snapshot"); len(f.Data) == 0 {
			t.Errorf("%s?token=: empty snapshot", base)
		}
		c.Close()
	}
	c, _, err := websocket.DefaultDialer.Dial(d.ws, http.Header{"Authorization": {"Bearer " + readTok}})
	if err != nil {
		t.Fatalf("stream with the Authorization header: %v", err)
	}
	c.Close()

	m := metricsFrom(t, http.DefaultClient, d, readTok)
	if v := labelled(m, `hbd_http_refused_total{reason="auth"}`); v < 6 {
		t.Errorf("auth refusals %v, want at least 6", v)
	}
	if v := labelled(m, `hbd_http_refused_total{reason="scope"}`); v != 2 {
		t.Errorf("scope refusals %v, want 2", v)
	}
	if strings.Contains(d.proc.out.String(), readTok) || strings.Contains(d.proc.out.String(), writeTok) {
		t.Error("a token appears in the daemon's log")
	}
}

// Without tokens (the default), writes come from loopback only and only
// as JSON from this host's own pages: text/plain (415), a foreign Origin,
// Sec-Fetch-Site: cross-site and a rebinding Host (403) change nothing;
// trailing data after the JSON object is a 400. Reads are open, loopback
// is not rate limited, and pprof is off.
func TestWriteProtectionWithoutTokens(t *testing.T) {
	d := startDaemon(t, "")
	js := map[string]string{"Content-Type": "application/json"}
	with := func(kv ...string) map[string]string {
		m := map[string]string{"Content-Type": "application/json"}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	host := strings.TrimPrefix(d.http, "http://")
	refused := []struct {
		name   string
		body   string
		hdr    map[string]string
		status int
	}{
		{"text/plain", silenceBody, map[string]string{"Content-Type": "text/plain;charset=UTF-8"}, 415},
		{"form", silenceBody, map[string]string{"Content-Type": "application/x-www-form-urlencoded"}, 415},
		{"foreign Origin", silenceBody, with("Origin", "http://evil.example"), 403},
		{"cross-site fetch", silenceBody, with("Sec-Fetch-Site", "cross-site", "Origin", "http://localhost:1"), 403},
		{"rebinding Host", silenceBody, with("Host", "evil.example:"+strings.Split(host, ":")[1], "Origin", "http://evil.example:"+strings.Split(host, ":")[1]), 403},
		{"trailing object", silenceBody + `{"host":"x","duration":"1h"}`, js, 400},
		{"trailing garbage", silenceBody + ` ]`, js, 400},
	}
	for _, r := range refused {
		st, _, body := call(t, nil, "POST", d.http+"/api/0/silences", r.body, r.hdr)
		if st != r.status || !strings.HasPrefix(body, `{"error":`) {
			t.Errorf("%s: %d %s, want %d with a JSON error", r.name, st, body, r.status)
		}
	}
	if n := silencesCount(t, d, nil); n != 0 {
		t.Fatalf("%d silences after refused writes, want 0", n)
	}
	// The same write from this host's own page, and from a tool, succeed.
	if st, _, body := call(t, nil, "POST", d.http+"/api/0/silences", silenceBody, with("Origin", d.http, "Sec-Fetch-Site", "same-origin")); st != 201 {
		t.Errorf("same-origin write: %d %s", st, body)
	}
	if st, _, body := call(t, nil, "POST", d.http+"/api/0/silences", silenceBody+"\n", js); st != 201 {
		t.Errorf("write with a trailing newline: %d %s", st, body)
	}
	if n := silencesCount(t, d, nil); n != 2 {
		t.Errorf("%d silences, want 2", n)
	}
	// Loopback is exempt from the rate limit (burst 200) by default.
	probe := clientFrom("127.0.0.1")
	for i := range 300 {
		if st, _, _ := call(t, probe, "GET", d.http+"/api/0/stats", "", nil); st != 200 {
			t.Fatalf("request %d from loopback: %d", i+1, st)
		}
	}
	if st, _, _ := call(t, nil, "GET", d.http+"/debug/pprof/", "", nil); st != 404 {
		t.Errorf("pprof by default: %d, want 404", st)
	}
	m := metricsFrom(t, http.DefaultClient, d, "")
	for reason, want := range map[string]float64{"content_type": 2, "csrf": 3, "rate": 0, "auth": 0} {
		if v := labelled(m, `hbd_http_refused_total{reason="`+reason+`"}`); v != want {
			t.Errorf("%s refusals %v, want %v", reason, v, want)
		}
	}
}

// [api] rate: a client over its rate gets 429 with Retry-After and a JSON
// error, counted; other clients are not affected.
func TestAPIRateLimit(t *testing.T) {
	d := startDaemon(t, "[api]\nrate = 2.0\nburst = 5\nrate_exempt = []\n")
	flood := clientFrom("127.0.0.2")
	codes := map[int]int{}
	var retry, body string
	for range 20 {
		st, hdr, b := call(t, flood, "GET", d.http+"/api/0/hosts", "", nil)
		codes[st]++
		if st == 429 {
			retry, body = hdr.Get("Retry-After"), b
		}
	}
	if codes[200] < 5 || codes[429] < 10 || codes[200]+codes[429] != 20 {
		t.Errorf("20 quick requests at rate 2/s burst 5: %v", codes)
	}
	if retry != "1" || !strings.Contains(body, "too many requests") {
		t.Errorf("429 with Retry-After %q body %s", retry, body)
	}
	other := clientFrom("127.0.0.3")
	m := metricsFrom(t, other, d, "")
	if v := labelled(m, `hbd_http_refused_total{reason="rate"}`); v != float64(codes[429]) {
		t.Errorf("rate refusals %v, want %d", v, codes[429])
	}
}

// [api] pprof = true: profiles from loopback, seconds capped at 60, one at
// a time (409 while one runs).
func TestPprofCapped(t *testing.T) {
	d := startDaemon(t, "[api]\npprof = true\n")
	if st, _, body := call(t, nil, "GET", d.http+"/debug/pprof/profile?seconds=3600", "", nil); st != 400 || !strings.Contains(body, "60") {
		t.Errorf("a 1-hour profile: %d %s, want 400", st, body)
	}
	type result struct {
		status int
		body   []byte
	}
	done := make(chan result, 1)
	startFirst := func() {
		go func() {
			resp, err := http.Get(d.http + "/debug/pprof/profile?seconds=5")
			if err != nil {
				done <- result{}
				return
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			done <- result{resp.StatusCode, b}
		}()
	}
	startFirst()
	var busy bool
	var first result
	probe := clientFrom("127.0.0.1")
	for tries := 0; !busy; {
		select {
		case first = <-done:
			// On a loaded machine a probe can be the profile in progress
			// when the first request arrives: that one is then the
			// refused one. Start it again, a few times at most.
			if first.status != 409 || tries == 5 {
				t.Fatalf("the first profile ended (%d) before a second one was refused", first.status)
			}
			tries++
			startFirst()
		default:
		}
		st, hdr, _ := call(t, probe, "GET", d.http+"/debug/pprof/heap", "", nil)
		busy = st == 409 && hdr.Get("Retry-After") != ""
		time.Sleep(20 * time.Millisecond)
	}
	first = <-done
	if first.status != 200 || len(first.body) < 2 || first.body[0] != 0x1f || first.body[1] != 0x8b {
		t.Errorf("the first profile: %d, %d bytes (want a gzipped profile)", first.status, len(first.body))
	}
	if st, _, _ := call(t, probe, "GET", d.http+"/debug/pprof/heap", "", nil); st != 200 {
		t.Errorf("a profile after the first ended: %d", st)
	}
	if v := labelled(metricsFrom(t, probe, d, ""), `hbd_http_refused_total{reason="pprof_busy"}`); v < 1 {
		t.Errorf("pprof_busy refusals %v", v)
	}
}

// writeCert writes a self-signed certificate for 127.0.0.1 named cn and
// its key, and returns the certificate's PEM.
func writeCert(t *testing.T, certFile, keyFile, cn string) []byte {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: cn},
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
	kd, _ := x509.MarshalECPrivateKey(key)
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	// Written to temporary names and renamed, as certbot and
	// cert-manager do, so the daemon never reads half a file.
	for _, f := range []struct {
		path string
		data []byte
	}{{keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kd})}, {certFile, certPEM}} {
		if err := os.WriteFile(f.path+".tmp", f.data, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(f.path+".tmp", f.path); err != nil {
			t.Fatal(err)
		}
	}
	return certPEM
}

func servedCN(addr string) string {
	c, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		return ""
	}
	defer c.Close()
	return c.ConnectionState().PeerCertificates[0].Subject.CommonName
}

// TLS on the API port: curl talks to it with the test's CA; a certificate
// replaced on disk is served without a restart; wss:// works on /hbd.
func TestAPITLS(t *testing.T) {
	curl, err := exec.LookPath("curl")
	if err != nil {
		if isCI() {
			t.Fatal("curl is missing")
		}
		t.Skip("SKIPPED: curl is not installed")
	}
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "api.pem"), filepath.Join(dir, "api.key")
	first := writeCert(t, certFile, keyFile, "first")
	d := newDaemon(t, fmt.Sprintf("cert_path = %q\n[api]\ntls_pem = \"api.pem\"\ntls_key = \"api.key\"\n", dir))
	d.http = strings.Replace(d.http, "http://", "https://", 1)
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(first)
	d.client = &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}}}
	d.start(t)
	addr := strings.TrimPrefix(d.http, "https://")

	curlGet := func(caFile string) (string, error) {
		out, err := exec.Command(curl, "-sS", "--max-time", "5", "--cacert", caFile, "-w", " %{http_code}", d.http+"/api/0/hosts").CombinedOutput()
		return string(out), err
	}
	ca1 := filepath.Join(t.TempDir(), "ca1.pem")
	if err := os.WriteFile(ca1, first, 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := curlGet(ca1); err != nil || !strings.HasSuffix(out, " 200") || !strings.HasPrefix(out, "[") {
		t.Fatalf("curl over TLS: %v: %s", err, out)
	}
	if st, _, _ := callQuiet(strings.Replace(d.http, "https://", "http://", 1) + "/api/0/hosts"); st == 200 {
		t.Error("plain HTTP on the TLS port answered 200")
	}

	second := writeCert(t, certFile, keyFile, "second")
	ca2 := filepath.Join(t.TempDir(), "ca2.pem")
	if err := os.WriteFile(ca2, second, 0o600); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 15*time.Second, "the replaced certificate served", func() bool { return servedCN(addr) == "second" })
	if out, err := curlGet(ca2); err != nil || !strings.HasSuffix(out, " 200") {
		t.Errorf("curl with the new certificate: %v: %s", err, out)
	}
	if out, err := curlGet(ca1); err == nil {
		t.Errorf("curl trusting only the old certificate still succeeded: %s", out)
	}
	roots2 := x509.NewCertPool()
	roots2.AppendCertsFromPEM(second)
	dialer := websocket.Dialer{TLSClientConfig: &tls.Config{RootCAs: roots2}, HandshakeTimeout: 5 * time.Second}
	c, _, err := dialer.Dial("wss://"+addr+"/hbd", nil)
	if err != nil {
		t.Fatalf("wss on the API port: %v", err)
	}
	defer c.Close()
	if f := next(t, c, "snapshot"); len(f.Data) == 0 {
		t.Error("empty snapshot over wss on the API port")
	}
	if !strings.Contains(d.proc.out.String(), "reloaded the TLS certificate") {
		t.Error("the reload was not logged")
	}
}

// callQuiet is a GET that reports a transport error as status 0.
func callQuiet(url string) (int, http.Header, string) {
	c := &http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		return 0, nil, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b)
}
