// Package e2e holds integration tests that build and start the real hbd
// and hbd-agent binaries on loopback and talk to them over real UDP and
// HTTP. Nothing in here replaces a part of hbd with a stand-in.
package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hbd-project/hbd/transport/wire"
)

// bins holds the paths of the binaries built once for the whole run.
var bins struct {
	hbd, agent, bench string
}

func TestMain(m *testing.M) {
	flag.Parse()
	if testing.Short() {
		// make test-short is the quick loop: building and starting the real
		// binaries is what makes this suite slow.
		fmt.Println("e2e: skipped in -short mode")
		os.Exit(0)
	}
	dir, err := os.MkdirTemp("", "hbd-e2e-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	// The binaries are built with the race detector when the tests run
	// with it, so a data race in the real daemon fails the suite too.
	args := []string{"build", "-o", dir + "/"}
	if raceEnabled {
		args = append(args, "-race")
	}
	args = append(args, "../cmd/hbd", "../cmd/hbd-agent", "../cmd/hbd-bench")
	cmd := exec.Command("go", args...)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "cannot build binaries:", err)
		os.Exit(1)
	}
	bins.hbd = filepath.Join(dir, "hbd")
	bins.agent = filepath.Join(dir, "hbd-agent")
	bins.bench = filepath.Join(dir, "hbd-bench")
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// proc is a started binary whose output is kept for failure messages.
type proc struct {
	t    *testing.T
	cmd  *exec.Cmd
	out  *syncBuffer
	done chan struct{}
	err  error
	// stopWait is how long stop waits after SIGTERM; 0 = 10 s.
	stopWait time.Duration
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func start(t *testing.T, name string, env []string, args ...string) *proc {
	t.Helper()
	p := &proc{t: t, out: &syncBuffer{}, done: make(chan struct{})}
	p.cmd = exec.Command(name, args...)
	p.cmd.Env = append(os.Environ(), env...)
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	go func() { p.err = p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		_ = p.stop() // a test that needs a clean stop checks it itself
		if t.Failed() {
			t.Logf("output of %s:\n%s", filepath.Base(name), p.out.String())
		}
	})
	return p
}

// stop sends SIGTERM and waits for a clean exit (SIGKILL after 10 s).
func (p *proc) stop() error {
	select {
	case <-p.done:
		return p.err
	default:
	}
	wait := p.stopWait
	if wait == 0 {
		wait = 10 * time.Second
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(wait):
		_ = p.cmd.Process.Kill()
		<-p.done
		p.t.Errorf("%s did not stop within %s of SIGTERM", p.cmd.Path, wait)
	}
	return p.err
}

// daemon is a running hbd with its ports and key.
type daemon struct {
	*proc
	cfgPath string
	dir     string
	udpPort int
	http    string // base URL
	ws      string // ws://.../hbd on ws_port
	key     []byte
	keyPath string

	// wrapper, when set, runs the daemon through it: the command line is
	// wrapper followed by hbd and its arguments (e.g. a shell that lowers
	// ulimit -n first).
	wrapper []string
	// client, when set, is what waits for the API to come up (an HTTPS
	// client trusting the test's certificate).
	client *http.Client
	// env is added to the daemon's environment.
	env []string
}

// freePorts returns n ports free for TCP and for UDP on both loopbacks.
func freePorts(t *testing.T, n int) []int {
	t.Helper()
	var ports []int
	var closers []io.Closer
	defer func() {
		for _, c := range closers {
			c.Close()
		}
	}()
	for len(ports) < n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		closers = append(closers, l)
		port := l.Addr().(*net.TCPAddr).Port
		ok := true
		for _, a := range []string{fmt.Sprintf("127.0.0.1:%d", port), fmt.Sprintf("[::1]:%d", port)} {
			network := "udp4"
			if strings.HasPrefix(a, "[") {
				network = "udp6"
			}
			u, err := net.ListenPacket(network, a)
			if err != nil {
				ok = false
				break
			}
			closers = append(closers, u)
		}
		if ok {
			ports = append(ports, port)
		}
	}
	return ports
}

// startDaemon starts hbd on loopback with extra TOML appended to its config.
func startDaemon(t *testing.T, extra string) *daemon {
	t.Helper()
	return startDaemonKey(t, "", extra)
}

// startDaemonKey is startDaemon with key_file set to keyPath, another
// daemon's key, so that the two verify each other's datagrams; "" = a key
// of its own, created in its data directory.
func startDaemonKey(t *testing.T, keyPath, extra string) *daemon {
	t.Helper()
	d := newDaemonKey(t, keyPath, extra)
	d.start(t)
	return d
}

// newDaemon writes the config of a daemon on loopback, with extra TOML
// appended, without starting it; set wrapper or client, then call start.
func newDaemon(t *testing.T, extra string) *daemon {
	t.Helper()
	return newDaemonKey(t, "", extra)
}

// newDaemonKey is newDaemon with startDaemonKey's keyPath.
func newDaemonKey(t *testing.T, keyPath, extra string) *daemon {
	t.Helper()
	dir := t.TempDir()
	ports := freePorts(t, 3)
	d := &daemon{dir: dir, udpPort: ports[0], http: fmt.Sprintf("http://127.0.0.1:%d", ports[1]), ws: fmt.Sprintf("ws://127.0.0.1:%d/hbd", ports[2])}
	d.keyPath = filepath.Join(dir, "hbd.key")
	if keyPath != "" {
		d.keyPath = keyPath
		extra = fmt.Sprintf("key_file = %q\n", keyPath) + extra
	}
	cfg := fmt.Sprintf(`hbd_host = "127.0.0.1"
hbd_port = %d
ws_port = %d
udp_host = "localhost"
udp_port = %d
data_dir = %q
log_level = "debug"
%s
`, ports[1], ports[2], ports[0], dir, extra)
	d.cfgPath = filepath.Join(dir, "hbd.toml")
	if err := os.WriteFile(d.cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return d
}

// start starts the daemon newDaemon prepared and reads the key it made.
func (d *daemon) start(t *testing.T) {
	t.Helper()
	d.startProc(t)
	key, err := wire.LoadKey(d.keyPath)
	if err != nil {
		t.Fatalf("daemon did not create its key: %v", err)
	}
	d.key = key
}

// startProc starts the daemon's process and waits for its API.
func (d *daemon) startProc(t *testing.T) {
	t.Helper()
	if len(d.wrapper) > 0 {
		args := append(append(append([]string(nil), d.wrapper[1:]...), bins.hbd), "-config", d.cfgPath)
		d.proc = start(t, d.wrapper[0], d.env, args...)
	} else {
		d.proc = start(t, bins.hbd, d.env, "-config", d.cfgPath)
	}
	client := d.client
	if client == nil {
		client = http.DefaultClient
	}
	waitFor(t, 15*time.Second, "daemon HTTP API up", func() bool {
		select {
		case <-d.proc.done:
			t.Fatalf("hbd exited: %v\n%s", d.proc.err, d.proc.out.String())
		default:
		}
		resp, err := client.Get(d.http + "/api/0/hosts")
		if err != nil {
			return false
		}
		resp.Body.Close()
		// 401: up, with [api] tokens configured.
		return resp.StatusCode == 200 || resp.StatusCode == 401
	})
}

// restart stops the daemon with SIGTERM (which must succeed) and starts it
// again with the same config and data directory.
func (d *daemon) restart(t *testing.T) {
	t.Helper()
	if err := d.proc.stop(); err != nil {
		t.Fatalf("hbd did not stop cleanly: %v\n%s", err, d.proc.out.String())
	}
	d.startProc(t)
}

// crash kills the daemon with SIGKILL, as a crash or the OOM killer would,
// and starts it again.
func (d *daemon) crash(t *testing.T) {
	t.Helper()
	_ = d.proc.cmd.Process.Kill()
	<-d.proc.done
	d.startProc(t)
}

// startAgent starts hbd-agent against d with extra TOML appended.
func startAgent(t *testing.T, d *daemon, name, extra string) *proc {
	t.Helper()
	cfg := fmt.Sprintf(`name = %q
servers = ["127.0.0.1:%d", "[::1]:%d"]
key_file = %q
interval = "1s"
log_level = "debug"
%s
`, name, d.udpPort, d.udpPort, d.keyPath, extra)
	path := filepath.Join(t.TempDir(), "agent.toml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return start(t, bins.agent, nil, "-config", path)
}

// waitFor polls cond every 50 ms until it holds or timeout passes. It waits
// for real processes to do real work; no test logic depends on its timing.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// get fetches url and returns the status and body.
func get(t *testing.T, url string) (int, []byte) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	if ct := resp.Header.Get("Content-Type"); resp.StatusCode != 200 || strings.Contains(url, "/api/") {
		if !strings.HasPrefix(ct, "application/json") && strings.Contains(url, "/api/") {
			t.Fatalf("GET %s: Content-Type %q, want application/json", url, ct)
		}
	}
	return resp.StatusCode, b
}

// getJSON fetches url, requires 200 and decodes the body into v.
func getJSON(t *testing.T, url string, v any) {
	t.Helper()
	status, body := get(t, url)
	if status != 200 {
		t.Fatalf("GET %s: status %d: %s", url, status, body)
	}
	if err := json.Unmarshal(body, v); err != nil {
		t.Fatalf("GET %s: invalid JSON %q: %v", url, body, err)
	}
}

// sender crafts datagrams with the real wire encoder, for tests that need
// exact control (forged, replayed, stopped hosts).
type sender struct {
	t    *testing.T
	conn *net.UDPConn
	dst  netip.AddrPort
	sg   *wire.Signer
	host string
	seq  uint64
	// instance: 0 sends protocol version 1, as agents before sender
	// instances did; otherwise version 2 from this sender instance.
	instance uint64
}

func newSender(t *testing.T, d *daemon, host string, key []byte, v6 bool) *sender {
	t.Helper()
	network, ip := "udp4", netip.MustParseAddr("127.0.0.1")
	if v6 {
		network, ip = "udp6", netip.IPv6Loopback()
	}
	c, err := net.ListenUDP(network, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &sender{t: t, conn: c, dst: netip.AddrPortFrom(ip, uint16(d.udpPort)), sg: wire.NewSigner(key), host: host, seq: uint64(time.Now().UnixNano())}
}

func (s *sender) env() wire.Envelope {
	s.seq++
	return wire.Envelope{Host: s.host, Seq: s.seq, Time: time.Now().UnixNano(), Instance: s.instance}
}

func (s *sender) send(b []byte) {
	s.t.Helper()
	if _, err := s.conn.WriteToUDPAddrPort(b, s.dst); err != nil {
		s.t.Fatalf("send: %v", err)
	}
}

func (s *sender) heartbeat(interval time.Duration, connSeq uint32) []byte {
	s.t.Helper()
	b, err := wire.AppendHeartbeat(nil, s.sg, s.env(), wire.Heartbeat{IntervalMS: uint32(interval.Milliseconds()), ConnSeq: connSeq})
	if err != nil {
		s.t.Fatal(err)
	}
	s.send(b)
	return b
}

func (s *sender) sample(plugin, data string) []byte {
	s.t.Helper()
	b, err := wire.AppendSample(nil, s.sg, s.env(), plugin, []byte(data))
	if err != nil {
		s.t.Fatal(err)
	}
	s.send(b)
	return b
}

// stats is the daemon's /api/0/stats answer.
type stats struct {
	Received uint64            `json:"received"`
	Accepted uint64            `json:"accepted"`
	Dropped  map[string]uint64 `json:"dropped"`
	Hosts    int               `json:"hosts"`
}

func (d *daemon) stats(t *testing.T) stats {
	t.Helper()
	var s stats
	getJSON(t, d.http+"/api/0/stats", &s)
	return s
}

// host is one entry of /api/0/hosts.
type host struct {
	Name        string       `json:"name"`
	Dyn         bool         `json:"dyn"`
	Ver         *int         `json:"ver"`
	State       string       `json:"state"`
	LastSeen    *float64     `json:"last_seen"`
	Connections []connection `json:"connections"`
}

type connection struct {
	Family        string   `json:"family"`
	Address       string   `json:"address"`
	State         string   `json:"state"`
	LastSeen      *float64 `json:"last_seen"`
	RTTMs         *float64 `json:"rtt_ms"`
	RTTSmoothedMs *float64 `json:"rtt_smoothed_ms"`
	LossPct       *float64 `json:"loss_pct"`
	P50           *float64 `json:"rtt_p50_ms"`
	P95           *float64 `json:"rtt_p95_ms"`
	P99           *float64 `json:"rtt_p99_ms"`
}

func (d *daemon) host(t *testing.T, name string) (host, bool) {
	t.Helper()
	var hs []host
	getJSON(t, d.http+"/api/0/hosts", &hs)
	for _, h := range hs {
		if h.Name == name {
			return h, true
		}
	}
	return host{}, false
}

func (d *daemon) messages(t *testing.T) string {
	t.Helper()
	var ms []struct {
		Time float64 `json:"time"`
		Host string  `json:"host"`
		Msg  string  `json:"msg"`
	}
	getJSON(t, d.http+"/api/0/messages?limit=1000", &ms)
	var b strings.Builder
	for _, m := range ms {
		fmt.Fprintf(&b, "%s: %s\n", m.Host, m.Msg)
	}
	return b.String()
}

var _ = context.Background

// hostQuiet is host without failing the test when the daemon is not up yet.
func (d *daemon) hostQuiet(name string) (host, bool) {
	st, body := getQuiet(d.http + "/api/0/hosts")
	if st != 200 {
		return host{}, false
	}
	var hs []host
	if json.Unmarshal(body, &hs) != nil {
		return host{}, false
	}
	for _, h := range hs {
		if h.Name == name {
			return h, true
		}
	}
	return host{}, false
}

func getQuiet(url string) (int, []byte) {
	resp, err := http.Get(url)
	if err != nil {
		return 0, nil
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// isCI reports whether the suite runs under CI, where every optional tool
// must be installed and a missing one is a failure, not a skip.
func isCI() bool { return os.Getenv("CI") != "" }

// builtinPluginsOff is agent config that disables the four built-in
// plugins, for tests that only need heartbeats or an [[exec]] plugin.
const builtinPluginsOff = `
[plugins.cpu_monitor]
enabled = false
[plugins.memory_monitor]
enabled = false
[plugins.disk_monitor]
enabled = false
[plugins.network_monitor]
enabled = false
`
