package actors

import (
	"cmp"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hbd-project/hbd/internal/alert"
	"github.com/hbd-project/hbd/internal/deps"
	"github.com/hbd-project/hbd/internal/limits"
	"github.com/hbd-project/hbd/internal/notify"
	"github.com/hbd-project/hbd/transport/ingest"
	"github.com/hbd-project/hbd/transport/wire"
)

// hookRecorder is a real HTTP server on loopback that records the kind and
// level of every notification posted to it, and answers with status().
type hookRecorder struct {
	*httptest.Server
	mu     sync.Mutex
	posts  []string
	msgs   []string
	bodies []map[string]any
	status int
}

func newHookRecorder(t *testing.T) *hookRecorder {
	h := &hookRecorder{status: http.StatusNoContent}
	h.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var n map[string]any
		b, _ := io.ReadAll(r.Body)
		_ = json.Unmarshal(b, &n)
		h.mu.Lock()
		defer h.mu.Unlock()
		h.posts = append(h.posts, n["kind"].(string)+":"+n["metric_path"].(string)+":"+n["level"].(string))
		h.msgs = append(h.msgs, n["message"].(string))
		h.bodies = append(h.bodies, n)
		w.WriteHeader(h.status)
	}))
	t.Cleanup(h.Close)
	return h
}

func (h *hookRecorder) got() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return strings.Join(h.posts, " ")
}

// gotSorted is got in sorted order, for pages whose order is not defined
// (two hosts overdue at the same instant).
func (h *hookRecorder) gotSorted() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return strings.Join(slices.Sorted(slices.Values(h.posts)), " ")
}

func (h *hookRecorder) setStatus(code int) {
	h.mu.Lock()
	h.status = code
	h.mu.Unlock()
}

var testKey = []byte("0123456789abcdef0123456789abcdef")

type persistOpts struct {
	dir     string
	listen  string // the listener's host; "" = 127.0.0.1
	hook    string // webhook URL; "" = no notifications
	rules   []alert.Rule
	history int
	watch   []string

	noAlertDynamic bool
	stoppedAfter   time.Duration
	grouping       Grouping
	limits         limits.Config
	replica        *ReplicaConfig
	deps           *deps.Rules
	liveness       *Liveness
}

// startPersist starts a System with durable state in o.dir.
func startPersist(t *testing.T, clock *fakeClock, o persistOpts) *System {
	t.Helper()
	w := map[string]bool{}
	for _, h := range o.watch {
		w[h] = true
	}
	cfg := Config{
		Listener: ingest.Config{
			Host: cmp.Or(o.listen, "127.0.0.1"), RecvBuffer: 1 << 20, Keys: ingest.NewKeys(testKey, nil), Watch: w,
			AcceptDynamic: true, MaxClockSkew: time.Hour,
		},
		History:      max(o.history, 5),
		DownAfter:    3,
		PublishEvery: time.Millisecond,
		Clock:        clock,
		AlertDynamic: !o.noAlertDynamic,
		StoppedAfter: o.stoppedAfter,
		Grouping:     o.grouping,
		State:        &StateConfig{Dir: o.dir, Every: 10 * time.Second},
		NotifyGrace:  time.Second,
		NotifyOptions: notify.DispatcherOptions{
			MaxAttempts: 1,
		},
		Limits:  o.limits,
		Replica: o.replica,

		Dependencies: o.deps,
		Liveness:     o.liveness,
	}
	if o.history > 0 {
		cfg.History = o.history
	}
	if len(o.rules) > 0 {
		rs, err := alert.Compile(o.rules)
		if err != nil {
			t.Fatal(err)
		}
		cfg.Rules = rs
	}
	if o.hook != "" {
		hook, err := notify.NewWebhook(notify.WebhookConfig{Name: "hook", URL: o.hook})
		if err != nil {
			t.Fatal(err)
		}
		cfg.Routes = []notify.Route{{Channel: hook, MinLevel: "WARNING", Group: true}}
	}
	s, err := Start(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Stop)
	return s
}

// agent sends signed datagrams of one host over real UDP: protocol
// version 1 unless it has an instance.
type agent struct {
	t        *testing.T
	s        *System
	clock    *fakeClock
	name     string
	instance uint64
	seq      uint64
	conn     uint32
	sent     [][]byte
}

func newTestAgent(t *testing.T, s *System, clock *fakeClock, name string) *agent {
	return &agent{t: t, s: s, clock: clock, name: name, seq: uint64(clock.Now().UnixNano())}
}

func (a *agent) env() wire.Envelope {
	a.seq++
	return wire.Envelope{Host: a.name, Seq: a.seq, Time: a.clock.Now().UnixNano(), Instance: a.instance}
}

func (a *agent) send(b []byte, err error) {
	a.t.Helper()
	if err != nil {
		a.t.Fatal(err)
	}
	a.sent = append(a.sent, b)
	sendUDP(a.t, a.s.UDPAddrs()[0], b)
}

// beat sends a heartbeat and waits until it is applied.
func (a *agent) beat() {
	a.t.Helper()
	a.conn++
	before := a.s.Stats.AcceptedKind(wire.KindHeartbeat)
	a.send(wire.AppendHeartbeat(nil, wire.NewSigner(testKey), a.env(), wire.Heartbeat{IntervalMS: 10000, ConnSeq: a.conn, RTTMicros: 250}))
	eventually(a.t, "heartbeat accepted", func() bool { return a.s.Stats.AcceptedKind(wire.KindHeartbeat) > before })
	settle(a.s) // accepted is counted by the listener: wait for the HostActor too
}

// shutdown announces a clean stop and waits until it is applied.
func (a *agent) shutdown() {
	a.t.Helper()
	before := a.s.Stats.AcceptedKind(wire.KindShutdown)
	a.send(wire.AppendShutdown(nil, wire.NewSigner(testKey), a.env(), wire.Shutdown{Reason: []byte("maintenance")}))
	eventually(a.t, "shutdown accepted", func() bool { return a.s.Stats.AcceptedKind(wire.KindShutdown) > before })
	settle(a.s)
}

// sample sends one sample and waits until it is applied.
func (a *agent) sample(plugin, data string) {
	a.t.Helper()
	before := a.s.Stats.AcceptedKind(wire.KindSample)
	a.send(wire.AppendSample(nil, wire.NewSigner(testKey), a.env(), plugin, []byte(data)))
	eventually(a.t, "sample accepted", func() bool { return a.s.Stats.AcceptedKind(wire.KindSample) > before })
	settle(a.s)
}

// settle waits until every HostActor has processed what was sent to it and
// the fleet index has published what they sent it.
func settle(s *System) {
	for _, pid := range s.Registry.PIDs() {
		s.wait(pid)
	}
	// What the hosts told the notifier (a transition that opens a group
	// and arms its timer) is handled before the test moves the clock on.
	if s.notifier != nil {
		s.wait(s.notifier)
	}
	s.wait(s.fleetPID)
}

func hostJSON(s *System, name string) string {
	if h := s.Fleet.Snapshot().Find(name); h != nil {
		return string(h.JSON())
	}
	return ""
}

// answerer turns a query's (answer, error) into the body, failing the test
// for anything but an answer: answerer{t}.of(s.QueryAlerts(ctx, "h")).
type answerer struct{ t *testing.T }

func (a answerer) of(r Answer, err error) string {
	a.t.Helper()
	if err != nil || r.Missing != MissingNothing {
		a.t.Fatalf("query: missing %d, err %v: %s", r.Missing, err, r.Body)
	}
	return string(r.Body)
}

// A clean stop and a start from the same directory: every host, ring and
// alert comes back exactly as it was; nothing is notified again; time
// since the restart counts towards liveness; old datagrams stay replays.
func TestStateSurvivesCleanRestart(t *testing.T) {
	dir := t.TempDir()
	hook := newHookRecorder(t)
	clock := newFakeClock(time.Unix(1795510000, 0))
	o := persistOpts{dir: dir, hook: hook.URL, watch: []string{"never"},
		rules: []alert.Rule{{Metric: "cpu_monitor.cpu_percent", Op: alert.OpGT, Critical: ptr(90.0)}}}
	s := startPersist(t, clock, o)

	dead, live := newTestAgent(t, s, clock, "dead"), newTestAgent(t, s, clock, "live")
	dead.beat()
	live.beat()
	for i, v := range []string{"10", "95", "20", "96"} {
		clock.Advance(time.Second)
		live.sample("cpu_monitor", `{"cpu_percent":`+v+`,"n":`+string(rune('0'+i))+`}`)
		live.beat()
	}
	// "dead" stops: DOWN after 3 intervals, its heartbeat alert pages; so
	// does "never", declared and silent since the start.
	for i := 0; i < 3; i++ {
		clock.Advance(10 * time.Second)
		live.beat()
	}
	eventually(t, "dead DOWN", func() bool { return stateOf(s, "dead") == StateDown })
	eventually(t, "the pages", func() bool {
		return hook.gotSorted() == "problem:cpu_monitor.cpu_percent:CRITICAL problem:cpu_monitor.cpu_percent:CRITICAL problem:heartbeat:CRITICAL problem:heartbeat:CRITICAL recovery:cpu_monitor.cpu_percent:OK"
	})
	ctx := context.Background()
	eventually(t, "notification counts", func() bool {
		for _, h := range []string{"dead", "never"} {
			if r, _ := s.QueryAlerts(ctx, h); !strings.Contains(string(r.Body), `"notification_count":1`) {
				return false
			}
		}
		return true
	})
	settle(s)
	before := map[string]string{}
	for _, h := range []string{"dead", "live", "never"} {
		before[h+" host"] = hostJSON(s, h)
		before[h+" alerts"] = answerer{t}.of(s.QueryAlerts(ctx, h))
		before[h+" plugins"] = answerer{t}.of(s.QueryPlugins(ctx, h, "", 0))
	}
	before["live ring"] = answerer{t}.of(s.QueryPlugins(ctx, "live", "cpu_monitor", 100))
	s.Stop()

	clock.Advance(5 * time.Second) // the daemon is down for 5 s
	s = startPersist(t, clock, o)
	for k, want := range before {
		var got string
		host, what, _ := strings.Cut(k, " ")
		switch what {
		case "host":
			got = hostJSON(s, host)
		case "alerts":
			got = answerer{t}.of(s.QueryAlerts(ctx, host))
		case "plugins":
			got = answerer{t}.of(s.QueryPlugins(ctx, host, "", 0))
		case "ring":
			got = answerer{t}.of(s.QueryPlugins(ctx, host, "cpu_monitor", 100))
		}
		if got != want {
			t.Errorf("%s after the restart:\n got %s\nwant %s", k, got, want)
		}
	}
	if !strings.Contains(before["live ring"], `"stored":4`) || !strings.Contains(before["dead alerts"], `"level":"CRITICAL"`) {
		t.Fatalf("the test did not set up what it checks: %s %s", before["live ring"], before["dead alerts"])
	}
	r, _ := s.Messages(ctx, MessagesQuery{Limit: 10})
	if !strings.Contains(string(r), "state restored: 3 hosts, 4 samples, 4 alerts (3 firing) (checkpoint age 5.0 s)") {
		t.Errorf("journal lacks the restore: %s", r)
	}

	// Datagrams from before the restart are replays: an old one resent,
	// and one the daemon never got (as if captured on the wire while it
	// was down, or after its last checkpoint before a crash).
	replays := s.Stats.Dropped(wire.ReasonReplay)
	sendUDP(t, s.UDPAddrs()[0], dead.sent[0])
	old := newTestAgent(t, s, clock, "dead")
	old.seq = dead.seq + 1000
	oldBeat, _ := wire.AppendHeartbeat(nil, wire.NewSigner(testKey),
		wire.Envelope{Host: "dead", Seq: old.seq, Time: clock.Now().Add(-3 * time.Second).UnixNano()}, wire.Heartbeat{IntervalMS: 10000, ConnSeq: 9})
	sendUDP(t, s.UDPAddrs()[0], oldBeat)
	eventually(t, "two replays dropped", func() bool { return s.Stats.Dropped(wire.ReasonReplay) == replays+2 })
	if st := stateOf(s, "dead"); st != StateDown {
		t.Fatalf("a replay changed dead to %s", st)
	}

	// "live" sent nothing while the daemon was down: it turns DOWN three
	// intervals after the restart, not at once and not three intervals
	// after its last heartbeat.
	clock.Advance(29 * time.Second)
	live2 := newTestAgent(t, s, clock, "dead") // dead comes back: its RECOVERY is the barrier
	live2.seq = dead.seq + 5000
	live2.beat()
	eventually(t, "dead's recovery", func() bool { return strings.Contains(hook.got(), "recovery:heartbeat:OK") })
	if st := stateOf(s, "live"); st != StateUp {
		t.Fatalf("live is %s 29 s after the restart, want UP", st)
	}
	clock.Advance(time.Second)
	eventually(t, "live DOWN 30 s after the restart", func() bool { return stateOf(s, "live") == StateDown })
	// No page was sent twice: the problems before the restart, then only
	// what happened after it.
	eventually(t, "live's page", func() bool { return strings.HasSuffix(hook.got(), "problem:heartbeat:CRITICAL") })
	want := "problem:cpu_monitor.cpu_percent:CRITICAL problem:cpu_monitor.cpu_percent:CRITICAL problem:heartbeat:CRITICAL problem:heartbeat:CRITICAL problem:heartbeat:CRITICAL recovery:cpu_monitor.cpu_percent:OK recovery:heartbeat:OK"
	if got := hook.gotSorted(); got != want {
		t.Fatalf("pages:\n got %s\nwant %s", got, want)
	}
	if n := s.Stats.SamplesHeld.Load(); n != 4 {
		t.Errorf("samples held %d after the restart, want 4", n)
	}
	if n := s.Stats.SamplesBytes.Load(); n <= 0 {
		t.Errorf("samples bytes %d after the restart, want the restored rings' size", n)
	}
}

func ptr[T any](v T) *T { return &v }

// A crash (no clean stop) loses only what came after the last checkpoint.
// The crash is the state directory as the last checkpoint left it, copied
// aside while the daemon runs on.
func TestCheckpointBoundsWhatACrashLoses(t *testing.T) {
	dir := t.TempDir()
	clock := newFakeClock(time.Unix(1795510000, 0))
	s := startPersist(t, clock, persistOpts{dir: dir})
	a := newTestAgent(t, s, clock, "h")
	a.beat()
	a.sample("p", `{"v":1}`)
	wrote := s.State.Snapshots.Load() + s.State.Deltas.Load()
	clock.Advance(10 * time.Second)
	eventually(t, "first checkpoint", func() bool { return s.State.Snapshots.Load()+s.State.Deltas.Load() > wrote })
	a.sample("p", `{"v":2}`)
	clock.Advance(10 * time.Second)
	eventually(t, "second checkpoint", func() bool { return s.State.Snapshots.Load()+s.State.Deltas.Load() > wrote+1 })
	if s.State.LastSuccess.Load() != clock.Now().UnixNano() {
		t.Errorf("last success %d, want the clock's %d", s.State.LastSuccess.Load(), clock.Now().UnixNano())
	}
	a.sample("p", `{"v":3}`) // after the last checkpoint: lost in the crash
	crashed := t.TempDir()
	copyDir(t, dir, crashed)

	s2 := startPersist(t, clock, persistOpts{dir: crashed})
	got := answerer{t}.of(s2.QueryPlugins(context.Background(), "h", "p", 10))
	if !strings.Contains(got, `{"v":2}`) || !strings.Contains(got, `{"v":1}`) || strings.Contains(got, `{"v":3}`) {
		t.Fatalf("after the crash: %s", got)
	}
	if st := stateOf(s2, "h"); st != StateUp {
		t.Fatalf("h is %s after the crash, want UP", st)
	}
	// The second checkpoint saved the ring's tail, which applied.
	if s.State.Deltas.Load() == 0 {
		t.Fatal("no delta was written: the test does not cover tails")
	}
	if n := s2.Stats.StateRingsLost.Load(); n != 0 {
		t.Fatalf("%d rings lost at restore", n)
	}
}

func copyDir(t *testing.T, from, to string) {
	t.Helper()
	ents, err := os.ReadDir(from)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if e.IsDir() {
			continue
		}
		b, err := os.ReadFile(filepath.Join(from, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(to, e.Name()), b, 0o640); err != nil {
			t.Fatal(err)
		}
	}
}

// A page that could not be delivered before the daemon stopped is sent
// after it starts again, once.
func TestUndeliveredPageIsSentAfterRestart(t *testing.T) {
	dir := t.TempDir()
	hook := newHookRecorder(t)
	hook.setStatus(http.StatusServiceUnavailable)
	clock := newFakeClock(time.Unix(1795510000, 0))
	o := persistOpts{dir: dir, hook: hook.URL}
	s := startPersist(t, clock, o)
	a := newTestAgent(t, s, clock, "h")
	a.beat()
	clock.Advance(30 * time.Second)
	eventually(t, "the page tried and failed", func() bool { return s.Stats.NotifyFailed.Load() == 1 })
	s.Stop()

	hook.setStatus(http.StatusNoContent)
	s = startPersist(t, clock, o)
	eventually(t, "the page sent after the restart", func() bool {
		return hook.got() == "problem:heartbeat:CRITICAL problem:heartbeat:CRITICAL"
	})
	hook.mu.Lock()
	msg := hook.msgs[1]
	hook.mu.Unlock()
	if !strings.Contains(msg, "not delivered before the restart") {
		t.Errorf("message %q", msg)
	}
	eventually(t, "counted", func() bool {
		r, _ := s.QueryAlerts(context.Background(), "h")
		return strings.Contains(string(r.Body), `"notification_count":1`)
	})
	// Restarted again: delivered now, so not sent a third time. The
	// recovery that follows is the barrier.
	s.Stop()
	s = startPersist(t, clock, o)
	a = newTestAgent(t, s, clock, "h")
	a.seq += 1e6
	a.beat()
	eventually(t, "recovery", func() bool { return strings.HasSuffix(hook.got(), "recovery:heartbeat:OK") })
	if got := hook.got(); got != "problem:heartbeat:CRITICAL problem:heartbeat:CRITICAL recovery:heartbeat:OK" {
		t.Fatalf("pages %s", got)
	}
}

// An alert whose rule was removed from the config before the restart is
// dropped, and the people paged for it are told it cleared.
func TestAlertOfRemovedRuleIsCleared(t *testing.T) {
	dir := t.TempDir()
	hook := newHookRecorder(t)
	clock := newFakeClock(time.Unix(1795510000, 0))
	o := persistOpts{dir: dir, hook: hook.URL, rules: []alert.Rule{{Metric: "cpu_monitor.cpu_percent", Op: alert.OpGT, Critical: ptr(90.0)}}}
	s := startPersist(t, clock, o)
	a := newTestAgent(t, s, clock, "h")
	a.beat()
	a.sample("cpu_monitor", `{"cpu_percent":99}`)
	eventually(t, "problem", func() bool { return hook.got() == "problem:cpu_monitor.cpu_percent:CRITICAL" })
	eventually(t, "counted", func() bool {
		r, _ := s.QueryAlerts(context.Background(), "h")
		return strings.Contains(string(r.Body), `"notification_count":1`)
	})
	s.Stop()

	o.rules = nil
	s = startPersist(t, clock, o)
	eventually(t, "cleared", func() bool {
		return hook.got() == "problem:cpu_monitor.cpu_percent:CRITICAL recovery:cpu_monitor.cpu_percent:OK"
	})
	if got := (answerer{t}).of(s.QueryAlerts(context.Background(), "h")); strings.Contains(got, "cpu_monitor") {
		t.Fatalf("the alert is still tracked: %s", got)
	}
}

// A smaller history after the restart keeps the newest samples.
func TestRestoreWithSmallerHistory(t *testing.T) {
	dir := t.TempDir()
	clock := newFakeClock(time.Unix(1795510000, 0))
	s := startPersist(t, clock, persistOpts{dir: dir, history: 10})
	a := newTestAgent(t, s, clock, "h")
	for i := 0; i < 6; i++ {
		clock.Advance(time.Second)
		a.sample("p", `{"i":`+string(rune('0'+i))+`}`)
	}
	s.Stop()
	s = startPersist(t, clock, persistOpts{dir: dir, history: 2})
	got := answerer{t}.of(s.QueryPlugins(context.Background(), "h", "p", 10))
	if !strings.Contains(got, `"samples":[{"timestamp":1795510006.000,"data":{"i":5}},{"timestamp":1795510005.000,"data":{"i":4}}],"sample_count":2,"stored":2`) {
		t.Fatalf("ring %s", got)
	}
	if n := s.Stats.SamplesHeld.Load(); n != 2 {
		t.Errorf("samples held %d", n)
	}
}

// A restored host whose state did not change writes nothing: the files
// already hold it.
func TestRestoredHostsAreNotRewritten(t *testing.T) {
	dir := t.TempDir()
	clock := newFakeClock(time.Unix(1795510000, 0))
	s := startPersist(t, clock, persistOpts{dir: dir})
	a := newTestAgent(t, s, clock, "h")
	a.beat()
	a.sample("p", `{"v":1}`)
	s.Stop()
	s = startPersist(t, clock, persistOpts{dir: dir})
	files := func() int { ents, _ := os.ReadDir(dir); return len(ents) }
	before := files()
	if !s.ckpt.round() {
		t.Fatal("checkpoint failed")
	}
	if after := files(); after != before || s.State.LastBytes.Load() != 0 {
		t.Fatalf("a round after the restore wrote %d bytes (%d files, %d before)", s.State.LastBytes.Load(), after, before)
	}
	// One change, and the round writes that host.
	a = newTestAgent(t, s, clock, "h")
	a.seq += 1e6
	a.beat()
	if !s.ckpt.round() || s.State.LastBytes.Load() == 0 {
		t.Fatal("a round after a change wrote nothing")
	}
}
