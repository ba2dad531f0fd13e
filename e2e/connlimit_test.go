package e2e

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// underULimit makes a daemon start with a file descriptor limit of n, soft
// and hard, as `ulimit -n n` in its service unit would.
func underULimit(n int) []string {
	return []string{"/bin/sh", "-c", fmt.Sprintf(`ulimit -n %d && exec "$@"`, n), "sh"}
}

// openIdle opens n connections from loopback address src to addr and
// sends nothing on them. It returns how many dials succeeded; the
// connections are closed by the returned function (and at cleanup).
func openIdle(t *testing.T, src, addr string, n int) (int, func()) {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: 5 * time.Second}
	var conns []net.Conn
	for range n {
		c, err := d.Dial("tcp", addr)
		if err != nil {
			continue
		}
		conns = append(conns, c)
	}
	closeAll := func() {
		for _, c := range conns {
			c.Close()
		}
		conns = nil
	}
	t.Cleanup(closeAll)
	return len(conns), closeAll
}

// clientFrom is an HTTP client whose connections come from loopback
// address src and are not kept alive, so every request is a new
// connection that the caps see.
func clientFrom(src string) *http.Client {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: 5 * time.Second}
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DialContext: d.DialContext, DisableKeepAlives: true}}
}

// labelled returns the value of one sample of /metrics, e.g.
// `hbd_http_refused_total{reason="csrf"}`, or -1 when it is absent.
func labelled(body, sample string) float64 {
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(sample) + ` (\S+)$`).FindStringSubmatch(body)
	if m == nil {
		return -1
	}
	v, _ := strconv.ParseFloat(m[1], 64)
	return v
}

// metricsFrom fetches /metrics with c (and an optional bearer token).
func metricsFrom(t *testing.T, c *http.Client, d *daemon, token string) string {
	t.Helper()
	req, _ := http.NewRequest("GET", d.http+"/metrics", nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("GET /metrics: %v", err)
	}
	defer resp.Body.Close()
	var b strings.Builder
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		b.WriteString(sc.Text() + "\n")
	}
	if resp.StatusCode != 200 {
		t.Fatalf("GET /metrics: %d", resp.StatusCode)
	}
	return b.String()
}

func alive(t *testing.T, d *daemon) {
	t.Helper()
	select {
	case <-d.proc.done:
		t.Fatalf("hbd exited: %v\n%s", d.proc.err, d.proc.out.String())
	default:
	}
}

// 3,000 idle connections against a daemon limited to 1,024 descriptors:
// one address gets max_conns_per_ip, the rest are refused and counted,
// and the daemon stays up, ingests UDP and answers the API on both TCP
// ports for everyone else. Then a crowd of addresses fills the total cap
// (3/4 of the limit): new connections get a 503, UDP ingest goes on, and
// the API answers again once the crowd leaves.
func TestIdleConnectionsUnderFDLimit(t *testing.T) {
	d := newDaemon(t, "[api]\nread_timeout = \"5m\"\nidle_timeout = \"5m\"\n")
	d.wrapper = underULimit(1024)
	d.start(t)
	if !strings.Contains(d.proc.out.String(), `msg="file descriptor limit" soft=1024 hard=1024`) ||
		!strings.Contains(d.proc.out.String(), "max_conns=768 max_conns_per_ip=256") {
		t.Fatalf("the daemon did not log the descriptor limit and the caps derived from it:\n%s", d.proc.out.String())
	}
	apiAddr := strings.TrimPrefix(d.http, "http://")
	wsAddr := strings.TrimSuffix(strings.TrimPrefix(d.ws, "ws://"), "/hbd")

	// Phase 1: one address, 3,000 idle connections over both ports.
	n1, _ := openIdle(t, "127.0.0.2", apiAddr, 1500)
	n2, _ := openIdle(t, "127.0.0.2", wsAddr, 1500)
	if n1+n2 != 3000 {
		t.Fatalf("only %d of 3000 connections could be opened", n1+n2)
	}
	probe := clientFrom("127.0.0.1")
	waitFor(t, 30*time.Second, "every idle connection admitted or refused", func() bool {
		alive(t, d)
		return labelled(metricsFrom(t, probe, d, ""), `hbd_http_refused_total{reason="per_ip_limit"}`) == 3000-256
	})
	m := metricsFrom(t, probe, d, "")
	if open := labelled(m, `hbd_http_connections{listener="api"}`) + labelled(m, `hbd_http_connections{listener="ws"}`); open < 256 || open > 256+2 {
		t.Errorf("open connections %v, want the 256 from 127.0.0.2 (+ this probe)", open)
	}
	s := newSender(t, d, "fd01", d.key, false)
	s.heartbeat(time.Minute, 1)
	waitFor(t, 10*time.Second, "fd01 ingested while 3,000 connections were tried", func() bool {
		_, ok := d.hostQuiet("fd01")
		return ok
	})
	ws := dialWS(t, d.ws)
	if f := next(t, ws, "snapshot"); len(f.Data) == 0 {
		t.Error("the WebSocket port gave an empty snapshot")
	}
	ws.Close()

	// Phase 2: a crowd of addresses fills the total cap.
	var crowd []func()
	for i := 1; i <= 4; i++ {
		_, closeAll := openIdle(t, fmt.Sprintf("127.0.1.%d", i), apiAddr, 200)
		crowd = append(crowd, closeAll)
	}
	waitFor(t, 30*time.Second, "the total cap reached", func() bool {
		alive(t, d)
		c, err := net.DialTimeout("tcp", apiAddr, 5*time.Second)
		if err != nil {
			return false
		}
		defer c.Close()
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		line, _ := bufio.NewReader(c).ReadString('\n')
		return strings.HasPrefix(line, "HTTP/1.1 503")
	})
	s2 := newSender(t, d, "fd02", d.key, false)
	s2.heartbeat(time.Minute, 1)
	for _, closeAll := range crowd {
		closeAll()
	}
	waitFor(t, 30*time.Second, "the API answering again after the crowd left", func() bool {
		alive(t, d)
		resp, err := probe.Get(d.http + "/api/0/hosts/fd02")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	})
	m = metricsFrom(t, probe, d, "")
	if v := labelled(m, `hbd_http_refused_total{reason="conn_limit"}`); v < 1 {
		t.Errorf("conn_limit refusals %v, want some", v)
	}
	if v := labelled(m, "hbd_http_connections_limit"); v != 768 {
		t.Errorf("hbd_http_connections_limit %v, want 768", v)
	}
	if !strings.Contains(d.proc.out.String(), "reason=per_ip_limit source=127.0.0.2") {
		t.Errorf("the per-address refusals were not logged")
	}
	if n := strings.Count(d.proc.out.String(), "source=127.0.0.2"); n > 2 {
		t.Errorf("127.0.0.2's 2,744 refusals took %d log lines, want at most one a minute", n)
	}
	alive(t, d)
}

// With max_conns above the descriptor limit, accept itself fails with
// EMFILE. The listener backs off and retries instead of stopping: the
// daemon stays up and ingests UDP while out of descriptors, logs the
// failure once, and serves again as soon as descriptors are freed.
func TestAcceptBackoffOutOfDescriptors(t *testing.T) {
	d := newDaemon(t, "[api]\nmax_conns = 5000\nmax_conns_per_ip = 0\nread_timeout = \"5m\"\n")
	d.wrapper = underULimit(1024)
	d.start(t)
	apiAddr := strings.TrimPrefix(d.http, "http://")
	n, closeAll := openIdle(t, "127.0.0.2", apiAddr, 1500)
	if n < 1100 {
		t.Fatalf("only %d connections could be opened; the test needs more than the daemon's 1024 descriptors", n)
	}
	waitFor(t, 30*time.Second, "accept failing with EMFILE, logged", func() bool {
		alive(t, d)
		return strings.Contains(d.proc.out.String(), "too many open files")
	})
	s := newSender(t, d, "emfile01", d.key, false)
	s.heartbeat(time.Minute, 1)
	alive(t, d)
	closeAll()
	probe := clientFrom("127.0.0.1")
	waitFor(t, 60*time.Second, "the API answering after descriptors were freed", func() bool {
		alive(t, d)
		resp, err := probe.Get(d.http + "/api/0/hosts/emfile01")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	})
	m := metricsFrom(t, probe, d, "")
	if v := labelled(m, `hbd_http_accept_errors_total{listener="api"}`); v < 1 {
		t.Errorf("accept errors counted %v, want some", v)
	}
	if n := strings.Count(d.proc.out.String(), "cannot accept connections"); n != 1 {
		t.Errorf("accept failures logged %d times within a minute, want once", n)
	}
	if strings.Contains(d.proc.out.String(), "Permanent error") {
		t.Error("fasthttp saw a permanent accept error")
	}
}
