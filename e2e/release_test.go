package e2e

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hbd-project/hbd/transport/wire"
)

// runBin runs a binary to completion and returns its exit code, stdout and
// stderr.
func runBin(t *testing.T, bin string, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("%s %v: %v", bin, args, err)
	}
	return code, stdout.String(), stderr.String()
}

// buildSetting is one "build\tKEY=VALUE" line of `go version -m BIN`, the
// build information the toolchain recorded, read without our code.
func buildSetting(t *testing.T, bin, key string) string {
	t.Helper()
	out, err := exec.Command("go", "version", "-m", bin).Output()
	if err != nil {
		t.Fatalf("go version -m %s: %v", bin, err)
	}
	for line := range strings.SplitSeq(string(out), "\n") {
		f := strings.Fields(line)
		if len(f) == 2 && f[0] == "build" && strings.HasPrefix(f[1], key+"=") {
			return strings.TrimPrefix(f[1], key+"=")
		}
	}
	return ""
}

// -version on every binary names the program and the Go toolchain that
// built it, and the commit the toolchain stamped when it did (VCS stamping
// is on by default in a checkout; CI's GOFLAGS may turn it off).
func TestVersionFromBuildInfo(t *testing.T) {
	for name, bin := range map[string]string{"hbd": bins.hbd, "hbd-agent": bins.agent, "hbd-bench": bins.bench} {
		code, out, errOut := runBin(t, bin, "-version")
		if code != 0 || errOut != "" {
			t.Fatalf("%s -version: exit %d, stderr %q", name, code, errOut)
		}
		if !strings.HasPrefix(out, name+" version ") {
			t.Errorf("%s -version starts %q, want %q", name, out, name+" version ")
		}
		for _, want := range []string{"\n  go version: " + runtime.Version() + "\n", "\n  platform:   " + runtime.GOOS + "/" + runtime.GOARCH + "\n"} {
			if !strings.Contains(out, want) {
				t.Errorf("%s -version = %q, want a line %q", name, out, want)
			}
		}
		if rev := buildSetting(t, bin, "vcs.revision"); rev != "" && !strings.Contains(out, "\n  commit:     "+rev) {
			t.Errorf("%s -version = %q, want the stamped vcs.revision %s", name, out, rev)
		} else if rev == "" && !strings.Contains(out, "\n  commit:     unknown\n") {
			t.Errorf("%s -version = %q: no vcs.revision was stamped, so the commit must be unknown", name, out)
		}
	}
}

// The link-time values the Makefile passes (-ldflags -X) win: a package
// names its release. The variables' import path is what the Makefile and
// the Dockerfile spell out, so renaming them fails here.
func TestVersionFromLdflags(t *testing.T) {
	dir := t.TempDir()
	const pkg = "github.com/hbd-project/hbd/internal/version"
	ldflags := fmt.Sprintf("-X %s.version=v9.8.7-3-gabcdef0 -X %s.commit=abcdef0123456789 -X %s.date=2031-02-03T04:05:06Z", pkg, pkg, pkg)
	// The flags of TestMain's build but -ldflags, which only the link step
	// sees: every package comes from the build cache.
	args := []string{"build", "-ldflags", ldflags, "-o", dir + "/"}
	if raceEnabled {
		args = append(args, "-race")
	}
	cmd := exec.Command("go", append(args, "../cmd/hbd", "../cmd/hbd-agent", "../cmd/hbd-bench")...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build -ldflags: %v\n%s", err, out)
	}
	for _, name := range []string{"hbd", "hbd-agent", "hbd-bench"} {
		code, out, _ := runBin(t, filepath.Join(dir, name), "-version")
		want := name + " version v9.8.7-3-gabcdef0\n  commit:     abcdef0123456789\n  build date: 2031-02-03T04:05:06Z\n  go version: " + runtime.Version() + "\n"
		if code != 0 || !strings.HasPrefix(out, want) {
			t.Errorf("%s -version: exit %d,\n%s\nwant it to start\n%s", name, code, out, want)
		}
	}
}

// -help explains the binary, lists every flag and points to the config
// example and the docs; it goes to stdout with exit 0 (a help that was
// asked for), while a bad flag gets the usage on stderr and exit 2.
func TestHelp(t *testing.T) {
	tests := []struct {
		name, bin string
		flags     []string
		wants     []string
	}{
		{"hbd", bins.hbd,
			[]string{"-config", "-check-config", "-check-state", "-new-token", "-hash-token", "-new-key", "-version", "-help"},
			[]string{"Usage: hbd [flags]", "fleet heartbeat daemon", "UDP (port 50003)", "(port 50004)", "(port 50005)", "Channel types: webhook, exec, email",
				"config/example/hbd.toml", "/etc/hbd/hbd.toml", "docs/INSTALL.md", "/usr/share/doc/hbd"}},
		{"hbd-agent", bins.agent,
			[]string{"-config", "-check-config", "-once", "-plugin", "-silence", "-silence-metric", "-comment", "-check", "-check-timeout", "-version", "-help"},
			[]string{"Usage: hbd-agent [flags]", "reports this host", "cpu_monitor", "fleet key",
				"config/example/hbd-agent.toml", "/etc/hbd/hbd-agent.toml", "docs/INSTALL.md", "docs/PLUGINS.md"}},
		{"hbd-bench", bins.bench,
			[]string{"-addr", "-http", "-key", "-hosts", "-duration", "-scenario", "-allow-remote", "-version", "-help"},
			[]string{"usage: hbd-bench", "load-tests an hbd daemon", "loopback only", "docs/BENCHMARKS.md", "config/example/hbd.toml"}},
	}
	for _, tc := range tests {
		for _, h := range []string{"-help", "-h"} {
			code, out, errOut := runBin(t, tc.bin, h)
			if code != 0 || errOut != "" {
				t.Errorf("%s %s: exit %d, stderr %q; want 0 and the help on stdout", tc.name, h, code, errOut)
			}
			for _, f := range tc.flags {
				if !strings.Contains(out, "\n  "+f+" ") && !strings.Contains(out, "\n  "+f+"\n") && !strings.Contains(out, "\n  "+f+"\t") {
					t.Errorf("%s %s does not list flag %s:\n%s", tc.name, h, f, out)
				}
			}
			for _, w := range tc.wants {
				if !strings.Contains(out, w) {
					t.Errorf("%s %s lacks %q:\n%s", tc.name, h, w, out)
				}
			}
		}
		code, out, errOut := runBin(t, tc.bin, "-no-such-flag")
		if code != 2 || out != "" || !strings.Contains(errOut, "flag provided but not defined: -no-such-flag") || !strings.Contains(strings.ToLower(errOut), "usage: "+tc.name) {
			t.Errorf("%s -no-such-flag: exit %d, stdout %q, stderr %q; want 2, the error and the usage on stderr", tc.name, code, out, errOut)
		}
	}
}

// hbd -new-key writes a key the daemon and agents load, mode 0600, and
// never replaces one: the packages' postinstall relies on both.
func TestNewKey(t *testing.T) {
	path := filepath.Join(t.TempDir(), "etc", "hbd.key")
	code, out, errOut := runBin(t, bins.hbd, "-new-key", path)
	if code != 0 || !strings.Contains(out, path) {
		t.Fatalf("hbd -new-key: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("key file mode %v, want 0600", fi.Mode().Perm())
	}
	before, _ := os.ReadFile(path)
	if _, err := wire.LoadKey(path); err != nil {
		t.Fatalf("the new key does not load: %v", err)
	}
	code, _, errOut = runBin(t, bins.hbd, "-new-key", path)
	after, _ := os.ReadFile(path)
	if code != 1 || !strings.Contains(errOut, "exists") || !bytes.Equal(before, after) {
		t.Errorf("second -new-key: exit %d, stderr %q, key changed %v; want 1, an error naming the existing file, the key kept", code, errOut, !bytes.Equal(before, after))
	}

	// A daemon and an agent configured with key_file use it: the agent's
	// -check gets its ACKs only if both sign with this key.
	d := startDaemonKey(t, path, "")
	cfg := filepath.Join(t.TempDir(), "agent.toml")
	if err := os.WriteFile(cfg, fmt.Appendf(nil, "name = \"newkey\"\nservers = [\"127.0.0.1:%d\"]\nkey_file = %q\n", d.udpPort, path), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, errOut = runBin(t, bins.agent, "-config", cfg, "-check", "-check-timeout", "10s")
	if code != 0 || !strings.Contains(out, "OK rtt") {
		t.Errorf("hbd-agent -check with the new key: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
}

// Under systemd (Type=notify) hbd sends READY=1 only once every socket is
// open, and STOPPING=1 when a clean stop begins. The socket here plays
// systemd's part: a unixgram socket named by NOTIFY_SOCKET.
func TestSystemdNotify(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "notify.sock")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	d := newDaemon(t, "")
	d.proc = start(t, bins.hbd, []string{"NOTIFY_SOCKET=" + sock}, "-config", d.cfgPath)

	recv := func(timeout time.Duration) string {
		t.Helper()
		buf := make([]byte, 4096)
		_ = conn.SetReadDeadline(time.Now().Add(timeout))
		n, err := conn.Read(buf)
		if err != nil {
			t.Fatalf("no notification within %s: %v\n%s", timeout, err, d.proc.out.String())
		}
		return string(buf[:n])
	}
	if msg := recv(30 * time.Second); msg != "READY=1" {
		t.Fatalf("first notification %q, want READY=1", msg)
	}
	// At READY=1, no retries: the API and the WebSocket port accept at
	// once, and a heartbeat sent now is received (a UDP socket bound later
	// would have dropped it).
	key, err := wire.LoadKey(d.keyPath)
	if err != nil {
		t.Fatal(err)
	}
	newSender(t, d, "ready-host", key, false).heartbeat(10*time.Second, 1)
	if st, body := getQuiet(d.http + "/api/0/hosts"); st != 200 {
		t.Errorf("GET /api/0/hosts right after READY=1: status %d %s", st, body)
	}
	wsAddr := strings.TrimSuffix(strings.TrimPrefix(d.ws, "ws://"), "/hbd")
	if c, err := net.Dial("tcp", wsAddr); err != nil {
		t.Errorf("WebSocket port right after READY=1: %v", err)
	} else {
		c.Close()
	}
	waitFor(t, 15*time.Second, "the heartbeat sent at READY=1 registers its host", func() bool {
		_, ok := d.host(t, "ready-host")
		return ok
	})

	// A reload is framed by RELOADING=1 (with the monotonic time systemd's
	// Type=notify-reload needs) and READY=1.
	_ = d.proc.cmd.Process.Signal(syscall.SIGHUP)
	if msg := recv(10 * time.Second); !regexp.MustCompile(`^RELOADING=1\nMONOTONIC_USEC=[1-9][0-9]*$`).MatchString(msg) {
		t.Errorf("notification after SIGHUP %q, want RELOADING=1 and MONOTONIC_USEC", msg)
	}
	if msg := recv(10 * time.Second); msg != "READY=1" {
		t.Errorf("notification after the reload %q, want READY=1", msg)
	}

	_ = d.proc.cmd.Process.Signal(syscall.SIGTERM)
	if msg := recv(10 * time.Second); msg != "STOPPING=1" {
		t.Errorf("notification after SIGTERM %q, want STOPPING=1", msg)
	}
	if err := d.proc.stop(); err != nil {
		t.Errorf("hbd did not stop cleanly: %v", err)
	}
}
