package actors

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/hbd-project/hbd/internal/alert"
	"github.com/hbd-project/hbd/internal/notify"
	"github.com/hbd-project/hbd/transport/ingest"
	"github.com/hbd-project/hbd/transport/wire"
)

func compile(t testing.TB, rules ...alert.Rule) *alert.Rules {
	t.Helper()
	r, err := alert.Compile(rules)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func num(f float64) *float64 { return &f }

// startReloadSystem starts a System with the hosts declared and rules.
func startReloadSystem(t testing.TB, rules *alert.Rules, hosts ...string) *System {
	t.Helper()
	w := map[string]bool{}
	for _, h := range hosts {
		w[h] = true
	}
	s, err := Start(Config{
		Listener: ingest.Config{
			Host: "127.0.0.1", RecvBuffer: 1 << 20, Keys: ingest.NewKeys([]byte("0123456789abcdef0123456789abcdef"), nil),
			Watch: w, AcceptDynamic: true, MaxClockSkew: time.Hour,
		},
		History: 5, PublishEvery: time.Millisecond, Clock: newFakeClock(time.Now()), Rules: rules,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Stop)
	return s
}

// A reload's watchhosts reach the registry and the hosts: a newly declared
// host is listed (UNKNOWN, not dynamic), a host that left watchhosts turns
// dynamic.
func TestReconfigureWatchhosts(t *testing.T) {
	s := startReloadSystem(t, nil, "a", "b")
	eventually(t, "a and b listed", func() bool { return stateOf(s, "a") == StateUnknown && stateOf(s, "b") == StateUnknown })
	st := s.Reconfigure(Reconfig{Alerting: true, Watch: map[string]bool{"b": true, "c": true}})
	if st.Hosts != 3 {
		t.Errorf("Reconfigure told %d hosts, want 3", st.Hosts)
	}
	eventually(t, "c listed as declared and a as dynamic", func() bool {
		snap := s.Fleet.Snapshot()
		a, c := snap.Find("a"), snap.Find("c")
		return a != nil && c != nil && a.dyn && !c.dyn && c.State == StateUnknown
	})
}

// A reload keeps the alerts of rules that still apply (level, since,
// notification count) and drops those of a removed rule; a host spawned
// afterwards gets the new rules.
func TestReconfigureRules(t *testing.T) {
	keep := alert.Rule{Metric: "q.depth", Warning: num(50), Op: alert.OpGT}
	gone := alert.Rule{Metric: "g.x", Warning: num(1), Op: alert.OpGT}
	s := startReloadSystem(t, compile(t, keep, gone), "h")
	pid, _ := s.Registry.Lookup("h")
	now := s.clock.Now()
	for _, smp := range []struct{ plugin, data string }{{"q", `{"depth": 70}`}, {"g", `{"x": 5}`}} {
		s.actors.Root.Send(pid, &ingest.Sample{Header: ingest.Header{Host: "h", Seq: uint64(len(smp.plugin) + len(smp.data)), Sent: now.UnixNano(), Recv: now},
			Plugin: []byte(smp.plugin), Data: []byte(smp.data)})
	}
	eventually(t, "two WARNINGs", func() bool {
		snap := s.Fleet.Snapshot()
		h := snap.Find("h")
		return h != nil && len(h.Alerts) == 2
	})
	before := s.Fleet.Snapshot().Find("h").Alerts[1] // sorted by path: g.x, q.depth
	changed := keep
	changed.Critical = num(90) // q.depth's rule changes, and stays
	s.Reconfigure(Reconfig{Alerting: true, Rules: compile(t, changed), Watch: map[string]bool{"h": true, "late": true}})
	s.wait(s.fleetPID)
	alerts := s.Fleet.Snapshot().Find("h").Alerts
	if len(alerts) != 1 || alerts[0].Path != "q.depth" || alerts[0].Level != before.Level || !alerts[0].Since.Equal(before.Since) {
		t.Fatalf("after the reload %+v, want q.depth as before (%+v)", alerts, before)
	}
	late, _ := s.Registry.Lookup("late")
	if late == nil {
		t.Fatal("the newly declared host was not spawned")
	}
	if hr := s.env.cur().rules.ForHost("late", true); !hr.HasRule("q.depth") || hr.HasRule("g.x") {
		t.Error("the settings in force for new hosts are not the reload's")
	}
}

// reloadHosts is the fleet the reload's cost is measured with.
const reloadHosts = 10000

// Reloading the alert settings of 10,000 hosts: every HostActor is told
// once, a batch at a time. The time is logged (go test -v -run
// TestReconfigure10k ./actors); BenchmarkReconfigure measures it.
func TestReconfigure10k(t *testing.T) {
	if testing.Short() {
		t.Skip("10,000 hosts")
	}
	s, rc := reloadFleet(t)
	st := s.Reconfigure(rc)
	if st.Hosts != reloadHosts {
		t.Fatalf("told %d hosts, want %d", st.Hosts, reloadHosts)
	}
	t.Logf("reload of %d hosts took %s (%s per host)", st.Hosts, st.Took, st.Took/time.Duration(st.Hosts))
}

// BenchmarkReconfigure is one reload of 10,000 hosts' alert settings, with
// a rule scoped by a host glob, so every host selects its rules anew.
func BenchmarkReconfigure(b *testing.B) {
	s, rc := reloadFleet(b)
	b.ReportAllocs()
	for b.Loop() {
		s.Reconfigure(rc)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/reloadHosts, "ns/host")
}

func reloadFleet(t testing.TB) (*System, Reconfig) {
	t.Helper()
	rules := compile(t,
		alert.Rule{Metric: "cpu_monitor.cpu_percent", Warning: num(80), Critical: num(90), Op: alert.OpGT},
		alert.Rule{Metric: "disk_monitor.*.percent", Warning: num(80), Op: alert.OpGT, Hosts: []string{"web*"}},
	)
	hosts := make([]string, reloadHosts)
	watch := make(map[string]bool, reloadHosts)
	for i := range hosts {
		hosts[i] = fmt.Sprintf("web%05d", i)
		watch[hosts[i]] = true
	}
	s := startReloadSystem(t, rules, hosts...)
	if n := s.Registry.Len(); n != reloadHosts {
		t.Fatalf("%d hosts registered", n)
	}
	changed := compile(t,
		alert.Rule{Metric: "cpu_monitor.cpu_percent", Warning: num(85), Critical: num(95), Op: alert.OpGT},
		alert.Rule{Metric: "disk_monitor.*.percent", Warning: num(80), Op: alert.OpGT, Hosts: []string{"web*"}},
	)
	return s, Reconfig{Alerting: true, Rules: changed, Watch: watch}
}

// A reload that replaces the channels loses nothing the old ones had:
// the send in hand and the queued notifications are delivered by the old
// dispatcher, while the next notification goes to the new channel. The
// receivers are real HTTP servers on loopback.
func TestReconfigureRoutesDeliversWhatWasQueued(t *testing.T) {
	release := make(chan struct{})
	var mu sync.Mutex
	var oldGot, newGot []string
	record := func(list *[]string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			var n notify.Notification
			_ = json.NewDecoder(r.Body).Decode(&n)
			if list == &oldGot {
				<-release
			}
			mu.Lock()
			*list = append(*list, n.Host)
			mu.Unlock()
		}
	}
	slow, fast := httptest.NewServer(record(&oldGot)), httptest.NewServer(record(&newGot))
	defer slow.Close()
	defer fast.Close()
	hook := func(name, url string) notify.Route {
		c, err := notify.NewWebhook(notify.WebhookConfig{Name: name, URL: url, Timeout: time.Minute})
		if err != nil {
			t.Fatal(err)
		}
		return notify.Route{Channel: c, MinLevel: "WARNING"}
	}
	watch := map[string]bool{"h1": true, "h2": true, "h3": true, "h4": true}
	clock := newFakeClock(time.Now())
	key := []byte("0123456789abcdef0123456789abcdef")
	s, err := Start(Config{
		Listener:     ingest.Config{Host: "127.0.0.1", Keys: ingest.NewKeys(key, nil), Watch: watch, MaxClockSkew: time.Hour, RecvBuffer: 1 << 20},
		Clock:        clock,
		Logger:       slog.New(slog.NewTextHandler(io.Discard, nil)),
		PublishEvery: time.Millisecond,
		Routes:       []notify.Route{hook("old", slow.URL)},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Stop()
	defer func() { // before Stop, which lets the send in hand finish
		select {
		case <-release:
		default:
			close(release)
		}
	}()
	sg := wire.NewSigner(key)
	beat := func(seq uint64, names ...string) {
		for _, name := range names {
			b, _ := wire.AppendHeartbeat(nil, sg, wire.Envelope{Host: name, Seq: seq, Time: clock.Now().UnixNano()}, wire.Heartbeat{IntervalMS: 1000, ConnSeq: 1})
			sendUDP(t, s.UDPAddrs()[0], b)
		}
	}
	beat(1, "h1", "h2", "h3", "h4")
	eventually(t, "every host UP", func() bool { return s.Fleet.Snapshot().CountByState(StateUp) == 4 })
	clock.Advance(2 * time.Second)
	beat(2, "h4") // h4 stays UP
	clock.Advance(2 * time.Second)
	eventually(t, "three hosts DOWN, their pages queued on the old channel", func() bool {
		return s.Fleet.Snapshot().CountByState(StateDown) == 3 && s.NotifyChannels()[0].Queued >= 2
	})
	s.wait(s.notifier)
	queued := s.NotifyChannels()[0].Queued

	s.Reconfigure(Reconfig{SwapRoutes: true, Routes: []notify.Route{hook("new", fast.URL)}})
	if ch := s.NotifyChannels(); len(ch) != 1 || ch[0].Name != "new" {
		t.Errorf("channels after the reload: %+v", ch)
	}
	clock.Advance(5 * time.Second) // h4 DOWN: a page for the new channel
	eventually(t, "h4's page on the new channel", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(newGot) == 1 && newGot[0] == "h4"
	})
	close(release)
	eventually(t, "the old channel's pages delivered, the one in hand and the queued ones", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(oldGot) == queued+1
	})
	mu.Lock()
	defer mu.Unlock()
	if len(newGot) != 1 {
		t.Errorf("the new channel got %v, want h4 only", newGot)
	}

}
