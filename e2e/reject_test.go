package e2e

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// writeAgentConfig writes an hbd-agent config with a 1 s interval (the
// shortest the config accepts) and no plugins, and returns its path.
func writeAgentConfig(t *testing.T, name, keyPath string, servers ...string) string {
	t.Helper()
	cfg := fmt.Sprintf("name = %q\nservers = [%s]\nkey_file = %q\ninterval = \"1s\"\nlog_level = \"debug\"\n%s",
		name, `"`+strings.Join(servers, `", "`)+`"`, keyPath, builtinPluginsOff)
	path := filepath.Join(t.TempDir(), "agent.toml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// writeKey writes a valid key file that is not the daemon's.
func writeKey(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "other.key")
	if err := os.WriteFile(path, []byte(strings.Repeat("5a", 32)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// rejectedSource is one entry of /api/0/stats rejected_sources.
type rejectedSource struct {
	Address  string   `json:"address"`
	Host     *string  `json:"host"`
	Reason   string   `json:"reason"`
	Count    uint64   `json:"count"`
	LastSeen *float64 `json:"last_seen"`
}

func (d *daemon) rejectedSources(t *testing.T) []rejectedSource {
	t.Helper()
	var s struct {
		Received        *uint64           `json:"received"`
		Dropped         map[string]uint64 `json:"dropped"`
		RejectedSources *[]rejectedSource `json:"rejected_sources"`
		Evicted         *uint64           `json:"rejected_sources_evicted"`
	}
	getJSON(t, d.http+"/api/0/stats", &s)
	if s.Received == nil || s.Dropped == nil || s.RejectedSources == nil || s.Evicted == nil {
		t.Fatalf("/api/0/stats lacks received, dropped, rejected_sources or rejected_sources_evicted: %+v", s)
	}
	return *s.RejectedSources
}

// An agent with the wrong key: the daemon drops its heartbeats, logs its
// address, name and the reason, and lists it in /api/0/stats and /metrics;
// the agent, which gets no ACK, warns after three intervals.
func TestWrongKeyVisibleOnBothSides(t *testing.T) {
	d := startDaemon(t, "")
	cfg := writeAgentConfig(t, "wrongkey01", writeKey(t), fmt.Sprintf("127.0.0.1:%d", d.udpPort), fmt.Sprintf("[::1]:%d", d.udpPort))
	agent := start(t, bins.agent, nil, "-config", cfg)

	warning := regexp.MustCompile(`no ACK from 127\.0\.0\.1:` + fmt.Sprint(d.udpPort) + ` for ([0-9.]+s): daemon down, wrong key or blocked`)
	var m []string
	waitFor(t, 30*time.Second, "the agent's no-ACK warning", func() bool {
		m = warning.FindStringSubmatch(agent.out.String())
		return m != nil
	})
	// Three heartbeats went unanswered: at least three intervals less the
	// ±10% jitter.
	if silent, err := time.ParseDuration(m[1]); err != nil || silent < 2700*time.Millisecond {
		t.Errorf("warned after %s of silence, want at least 3 intervals (2.7 s with jitter)", m[1])
	}
	if !strings.Contains(agent.out.String(), "no ACK from [::1]:"+fmt.Sprint(d.udpPort)+" for ") {
		t.Errorf("no warning for the IPv6 address:\n%s", agent.out.String())
	}

	logLine := regexp.MustCompile(`msg="rejected datagrams" source=(127\.0\.0\.1:[0-9]+) host=wrongkey01 reason=bad_mac`)
	var src []string
	waitFor(t, 10*time.Second, "the daemon's rejected-source line", func() bool {
		src = logLine.FindStringSubmatch(d.out.String())
		return src != nil
	})
	var found rejectedSource
	waitFor(t, 10*time.Second, "the source in /api/0/stats with 3 datagrams", func() bool {
		for _, s := range d.rejectedSources(t) {
			if s.Address == src[1] {
				found = s
				return s.Count >= 3
			}
		}
		return false
	})
	if found.Host == nil || *found.Host != "wrongkey01" || found.Reason != "bad_mac" || found.LastSeen == nil || time.Since(time.Unix(int64(*found.LastSeen), 0)) > time.Minute {
		t.Errorf("rejected source %+v, want host wrongkey01, reason bad_mac, last_seen about now", found)
	}
	// Logged once a minute, not per datagram: three datagrams, one line.
	if n := len(logLine.FindAllString(d.out.String(), -1)); n != 1 {
		t.Errorf("%d log lines for the source after %d datagrams, want 1", n, found.Count)
	}
	_, body := get(t, d.http+"/metrics")
	if !regexp.MustCompile(`hbd_rejected_source_datagrams\{reason="bad_mac",source="127\.0\.0\.1"\} [1-9]`).Match(body) {
		t.Errorf("/metrics lacks the source's series:\n%s", grepLines(string(body), "rejected"))
	}
}

func grepLines(text, sub string) string {
	var out []string
	for _, l := range strings.Split(text, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// runCheck runs hbd-agent -check and returns its stdout and exit status.
func runCheck(t *testing.T, cfg string, timeout string) (string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bins.agent, "-config", cfg, "-check", "-check-timeout", timeout)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	var exit *exec.ExitError
	switch {
	case err == nil:
		return string(out), 0
	case errors.As(err, &exit):
		return string(out), exit.ExitCode()
	}
	t.Fatalf("hbd-agent -check: %v\n%s", err, stderr.String())
	return "", -1
}

// hbd-agent -check against a daemon that has its key: every address OK,
// exit 0. With another key, or a port nobody listens on: no answer, exit 1,
// and the daemon with the other key names the source.
func TestAgentCheck(t *testing.T) {
	d := startDaemon(t, "")
	v4, v6 := fmt.Sprintf("127.0.0.1:%d", d.udpPort), fmt.Sprintf("[::1]:%d", d.udpPort)

	out, code := runCheck(t, writeAgentConfig(t, "check01", d.keyPath, v4, v6), "5s")
	if code != 0 {
		t.Fatalf("-check against a running daemon: exit %d, want 0:\n%s", code, out)
	}
	for _, a := range []string{v4, v6} {
		if !regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(a) + `: OK rtt [0-9.]+ms$`).MatchString(out) {
			t.Errorf("-check output lacks %q: OK rtt ...ms:\n%s", a, out)
		}
	}

	out, code = runCheck(t, writeAgentConfig(t, "check02", writeKey(t), v4), "1s")
	if code != 1 || !strings.Contains(out, v4+": no answer within 1s (daemon down, wrong key, or blocked)") ||
		!strings.Contains(out, "hbd never answers a datagram it rejects") {
		t.Fatalf("-check with another key: exit %d, want 1 and no answer:\n%s", code, out)
	}
	waitFor(t, 10*time.Second, "the daemon listing check02's bad_mac", func() bool {
		for _, s := range d.rejectedSources(t) {
			if s.Host != nil && *s.Host == "check02" && s.Reason == "bad_mac" && strings.HasPrefix(s.Address, "127.0.0.1:") {
				return true
			}
		}
		return false
	})

	closed := fmt.Sprintf("127.0.0.1:%d", freePorts(t, 1)[0])
	out, code = runCheck(t, writeAgentConfig(t, "check03", d.keyPath, v4, closed), "1s")
	if code != 1 || !strings.Contains(out, v4+": OK rtt ") || !strings.Contains(out, closed+": no answer within 1s") {
		t.Fatalf("-check with one closed port: exit %d, want 1, OK for %s and no answer for %s:\n%s", code, v4, closed, out)
	}
}
