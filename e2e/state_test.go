package e2e

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"hash/crc32"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// stateConfig is daemon config for the restart tests: a webhook, a
// threshold rule, heartbeat alerts for every host, fast liveness.
func stateConfig(hook string, extra string) string {
	return fmt.Sprintf(`watchhosts = ["web-a"]
alert_dynamic = true
down_after = 2

[[threshold]]
metric = "probe.value"
critical = 90.0

[[notify]]
type = "webhook"
group = false
url = %q
min_level = "WARNING"
%s
`, hook, extra)
}

// answers is what the API says of some hosts, to compare across a restart.
func answers(t *testing.T, d *daemon, hosts ...string) map[string]string {
	t.Helper()
	out := map[string]string{}
	out["/api/0/hosts"] = getS(t, d.http+"/api/0/hosts")
	out["/api/0/alerts"] = getS(t, d.http+"/api/0/alerts")
	for _, h := range hosts {
		for _, p := range []string{"", "/plugins", "/plugins/probe?limit=100", "/alerts"} {
			u := "/api/0/hosts/" + h + p
			out[u] = getS(t, d.http+u)
		}
	}
	return out
}

// getS is get's body as a string.
func getS(t *testing.T, url string) string {
	t.Helper()
	_, b := get(t, url)
	return string(b)
}

// A clean restart (SIGTERM, start) is invisible: every answer of the API
// is byte for byte what it was, no page is sent twice, a recovery that
// happens after it is paged once, old datagrams stay replays, and a host
// that stayed silent turns DOWN down_after intervals after the restart.
func TestRestartLosesNothing(t *testing.T) {
	hook := newHookServer(t)
	d := startDaemon(t, stateConfig(hook.url, ""))
	web := newSender(t, d, "web-a", d.key, false)
	dead := newSender(t, d, "dead-b", d.key, true)
	quiet := newSender(t, d, "quiet-c", d.key, false)

	web.heartbeat(time.Minute, 1)
	quiet.heartbeat(3*time.Second, 1)
	var deadBeats [][]byte
	for i := 1; i <= 3; i++ {
		deadBeats = append(deadBeats, dead.heartbeat(time.Second, uint32(i)))
	}
	// 30 samples in web-a's ring, the last one CRITICAL.
	for i := 1; i <= 30; i++ {
		web.sample("probe", fmt.Sprintf(`{"value":%d,"n":%d,"name":"probe-%d"}`, 40+2*i, i, i))
		time.Sleep(2 * time.Millisecond) // distinct timestamps
	}
	// dead-b stops: DOWN two intervals later, and pages.
	waitFor(t, 15*time.Second, "two pages", func() bool {
		return hook.summary() == "problem:probe.value:CRITICAL problem:heartbeat:CRITICAL" ||
			hook.summary() == "problem:heartbeat:CRITICAL problem:probe.value:CRITICAL"
	})
	waitFor(t, 10*time.Second, "notification counts", func() bool {
		b := getS(t, d.http+"/api/0/alerts")
		return strings.Count(b, `"notification_count":1`) == 2
	})
	before := answers(t, d, "web-a", "dead-b", "quiet-c")
	for _, want := range []string{`"stored":30`, `"level":"CRITICAL"`, `"state":"DOWN"`} {
		if !strings.Contains(strings.Join(mapValues(before), "\n"), want) {
			t.Fatalf("the set-up lacks %s:\n%v", want, before)
		}
	}

	began := time.Now()
	d.restart(t)
	restarted := time.Now()
	t.Logf("restart took %s", restarted.Sub(began))
	after := answers(t, d, "web-a", "dead-b", "quiet-c")
	for k, want := range before {
		if after[k] != want {
			t.Errorf("%s after the restart:\n got %s\nwant %s", k, after[k], want)
		}
	}
	if msgs := d.messages(t); !strings.Contains(msgs, "state restored: 3 hosts, 30 samples, 4 alerts (2 firing)") {
		t.Errorf("journal lacks the restore:\n%s", msgs)
	}

	// Captured datagrams are replays after the restart too.
	replays := d.stats(t).Dropped["replay"]
	for _, b := range deadBeats {
		dead.send(b)
	}
	waitFor(t, 10*time.Second, "3 replays dropped", func() bool { return d.stats(t).Dropped["replay"] == replays+3 })

	// dead-b comes back: one RECOVERY, after the two problems and
	// nothing else (its arrival shows nothing else was sent before it).
	dead.heartbeat(time.Second, 10)
	waitFor(t, 10*time.Second, "recovery", func() bool { return strings.HasSuffix(hook.summary(), "recovery:heartbeat:OK") })
	if n := len(hook.received()); n != 3 {
		t.Fatalf("pages after the restart: %s", hook.summary())
	}

	// quiet-c (3 s interval, down after 2) said nothing since before the
	// restart: DOWN 6 s after the daemon came back, not before.
	waitFor(t, 20*time.Second, "quiet-c DOWN", func() bool {
		h, _ := d.host(t, "quiet-c")
		return h.State == "DOWN"
	})
	if since := time.Since(began); since < 6*time.Second {
		t.Fatalf("quiet-c DOWN %s after the daemon stopped: the restart's 6 s of grace were not given", since)
	}
	t.Logf("quiet-c DOWN %s after the restart", time.Since(restarted).Round(100*time.Millisecond))
}

func mapValues(m map[string]string) []string {
	var out []string
	for _, v := range m {
		out = append(out, v)
	}
	return out
}

// After kill -9, everything the last checkpoint held is back: the host
// list, the rings, alert levels with their since and notification count,
// and no page is sent again.
func TestCrashLosesOnlyTheLastInterval(t *testing.T) {
	hook := newHookServer(t)
	d := startDaemon(t, stateConfig(hook.url, "[state]\ncheckpoint_interval = \"1s\"\n"))
	web := newSender(t, d, "web-a", d.key, false)
	web.heartbeat(time.Minute, 1)
	for i := 1; i <= 20; i++ {
		web.sample("probe", fmt.Sprintf(`{"value":%d}`, 80+i))
		time.Sleep(2 * time.Millisecond)
	}
	waitFor(t, 10*time.Second, "page", func() bool { return hook.summary() == "problem:probe.value:CRITICAL" })
	waitFor(t, 10*time.Second, "counted", func() bool {
		b := getS(t, d.http+"/api/0/hosts/web-a/alerts")
		return strings.Contains(b, `"notification_count":1`)
	})
	// A checkpoint that began after all of that.
	sent := time.Now()
	waitFor(t, 10*time.Second, "a checkpoint after the data", func() bool {
		return metric(t, d, "hbd_state_checkpoint_last_success_timestamp_seconds") > float64(sent.UnixNano())/1e9+0.1
	})
	before := answers(t, d, "web-a")
	d.crash(t)
	after := answers(t, d, "web-a")
	for _, k := range []string{"/api/0/hosts/web-a/plugins/probe?limit=100", "/api/0/hosts/web-a/alerts", "/api/0/alerts"} {
		if after[k] != before[k] {
			t.Errorf("%s after kill -9:\n got %s\nwant %s", k, after[k], before[k])
		}
	}
	if !strings.Contains(before["/api/0/hosts/web-a/plugins/probe?limit=100"], `"stored":20`) {
		t.Fatalf("set-up: %s", before["/api/0/hosts/web-a/plugins/probe?limit=100"])
	}
	// The alert clears: its recovery is the only new page.
	web.seq += 1e9
	web.sample("probe", `{"value":1}`)
	waitFor(t, 10*time.Second, "recovery", func() bool { return strings.HasSuffix(hook.summary(), "recovery:probe.value:OK") })
	if got := hook.summary(); got != "problem:probe.value:CRITICAL recovery:probe.value:OK" {
		t.Fatalf("pages: %s", got)
	}
}

// metric returns the value of an unlabelled metric from /metrics.
func metric(t *testing.T, d *daemon, name string) float64 {
	t.Helper()
	body := getS(t, d.http+"/metrics")
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(name) + ` (\S+)$`).FindStringSubmatch(body)
	if m == nil {
		return 0
	}
	v, _ := strconv.ParseFloat(m[1], 64)
	return v
}

// A state file with a flipped byte, or of a format this hbd does not read,
// is reported with its path, set aside and skipped; the daemon starts.
// hbd -check-state says the same before.
func TestDamagedStateIsReportedAndSkipped(t *testing.T) {
	d := startDaemon(t, "")
	s := newSender(t, d, "h1", d.key, false)
	s.heartbeat(time.Minute, 1)
	s.sample("probe", `{"value":1}`)
	waitFor(t, 10*time.Second, "h1 listed", func() bool { _, ok := d.host(t, "h1"); return ok })
	if err := d.proc.stop(); err != nil {
		t.Fatal(err)
	}
	stateDir := filepath.Join(d.dir, "state")
	snaps, _ := filepath.Glob(filepath.Join(stateDir, "snap-*.hbds"))
	if len(snaps) != 1 {
		t.Fatalf("snapshots after a clean stop: %v", snaps)
	}
	out, err := exec.Command(bins.hbd, "-check-state", "-config", d.cfgPath).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "intact") || !strings.Contains(string(out), "a start restores 1 hosts, 1 samples") {
		t.Fatalf("check-state on an intact state: %v\n%s", err, out)
	}
	b, err := os.ReadFile(snaps[0])
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)/2] ^= 0x40
	if err := os.WriteFile(snaps[0], b, 0o640); err != nil {
		t.Fatal(err)
	}
	// And a file from a future hbd (format version 9).
	future := bytes.Clone(b)
	copy(future, "HBDSTATE\x09\x00")
	binary.LittleEndian.PutUint32(future[28:32], crc32.Checksum(future[:28], crc32.MakeTable(crc32.Castagnoli)))
	futurePath := filepath.Join(stateDir, "delta-00000000000000ff.hbds")
	if err := os.WriteFile(futurePath, future, 0o640); err != nil {
		t.Fatal(err)
	}

	out, err = exec.Command(bins.hbd, "-check-state", "-config", d.cfgPath).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "NOT USABLE") {
		t.Fatalf("check-state on a damaged state: exit %v\n%s", err, out)
	}
	t.Logf("hbd -check-state:\n%s", out)

	d.startProc(t)
	if _, ok := d.host(t, "h1"); ok {
		t.Error("h1 was restored from a damaged file")
	}
	log := d.proc.out.String()
	if !strings.Contains(log, "state file not used") || !strings.Contains(log, snaps[0]) || !strings.Contains(log, futurePath) {
		t.Errorf("the log does not name the bad files:\n%s", log)
	}
	if msgs := d.messages(t); !strings.Contains(msgs, "state file not used: "+snaps[0]) {
		t.Errorf("journal:\n%s", msgs)
	}
	if _, err := os.Stat(snaps[0] + ".corrupt"); err != nil {
		t.Errorf("the damaged snapshot was not kept aside: %v", err)
	}
	if _, err := os.Stat(filepath.Join(stateDir, "unsupported", filepath.Base(futurePath))); err != nil {
		t.Errorf("the future file was not moved aside: %v", err)
	}
	// The daemon works: a new host is saved and comes back.
	s.heartbeat(time.Minute, 2)
	waitFor(t, 10*time.Second, "h1 listed again", func() bool { _, ok := d.host(t, "h1"); return ok })
	d.restart(t)
	if _, ok := d.host(t, "h1"); !ok {
		t.Error("h1 not restored after a clean restart")
	}
}

// hbd-bench restart, the measurement behind docs/BENCHMARKS.md, against a
// real daemon holding a small fleet: it stops it with SIGTERM, starts it
// again, and the restarted daemon lists every host with every sample.
func TestBenchRestart(t *testing.T) {
	d := startDaemon(t, "")
	addr := fmt.Sprintf("127.0.0.1:%d", d.udpPort)
	load := exec.Command(bins.bench, "load", "-addr", addr, "-http", d.http, "-key", d.keyPath, "-hosts", "300",
		"-duration", "3s", "-hb-interval", "1s", "-sample-interval", "1s", "-plugins", "2", "-quiet", "-shutdown-rate", "0")
	if out, err := load.CombinedOutput(); err != nil {
		t.Fatalf("hbd-bench load: %v\n%s", err, out)
	}
	held := metric(t, d, "hbd_samples_held")
	if held < 300 {
		t.Fatalf("samples held %v after the load", held)
	}
	report := filepath.Join(t.TempDir(), "restart.json")
	restart := exec.Command(bins.bench, "restart", "-http", d.http, "-pid", strconv.Itoa(d.proc.cmd.Process.Pid),
		"-exec", bins.hbd+" -config "+d.cfgPath, "-log", filepath.Join(d.dir, "restarted.log"), "-duration", "60s", "-json", report, "-quiet")
	out, err := restart.CombinedOutput()
	var rep struct {
		Hosts          int      `json:"hosts"`
		SamplesHeld    float64  `json:"samples_held"`
		StopS          *float64 `json:"stop_s"`
		RestoreS       *float64 `json:"restore_s"`
		StateDiskBytes *float64 `json:"state_disk_bytes"`
		NewPID         int      `json:"new_pid"`
		Warnings       []string `json:"warnings"`
	}
	if b, rerr := os.ReadFile(report); rerr == nil {
		_ = json.Unmarshal(b, &rep)
	}
	if rep.NewPID > 0 {
		t.Cleanup(func() {
			if p, err := os.FindProcess(rep.NewPID); err == nil {
				_ = p.Signal(syscall.SIGTERM)
				for i := 0; i < 200 && p.Signal(syscall.Signal(0)) == nil; i++ {
					time.Sleep(50 * time.Millisecond)
				}
			}
		})
	}
	if err != nil {
		t.Fatalf("hbd-bench restart: %v\n%s", err, out)
	}
	if <-d.proc.done; d.proc.err != nil {
		t.Errorf("the daemon did not stop cleanly: %v", d.proc.err)
	}
	if rep.Hosts != 300 || rep.StopS == nil || rep.RestoreS == nil || rep.StateDiskBytes == nil || *rep.StateDiskBytes <= 0 || len(rep.Warnings) > 0 {
		t.Fatalf("report: %+v\n%s", rep, out)
	}
	status, body := get(t, d.http+"/api/0/hosts?limit=1")
	if status != 200 || !strings.Contains(string(body), "bench-") {
		t.Fatalf("restarted daemon: %d %s", status, body)
	}
	if got := metric(t, d, "hbd_samples_held"); got != held {
		t.Errorf("samples held %v after the restart, %v before", got, held)
	}
	t.Logf("300 hosts, %.0f samples: stop %.2f s, restore %.2f s", held, *rep.StopS, *rep.RestoreS)
}
