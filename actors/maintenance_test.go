package actors

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hbd-project/hbd/internal/notify"
	"github.com/hbd-project/hbd/internal/silence"
	"github.com/hbd-project/hbd/transport/ingest"
	"github.com/hbd-project/hbd/transport/wire"
)

// heldHarness is a daemon on a fake clock with one declared host "h", a
// webhook receiver and no grouping: what a silence holds back and
// releases is seen one notification at a time.
type heldHarness struct {
	t     *testing.T
	s     *System
	clock *fakeClock
	beat  func()

	mu   sync.Mutex
	got  []string // kind:level of each notification
	msgs []string // their messages
	fail bool     // answer 500 (and record nothing)
}

func newHeldHarness(t *testing.T, start time.Time) *heldHarness {
	h := &heldHarness{t: t, clock: newFakeClock(start)}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var n map[string]any
		b, _ := io.ReadAll(r.Body)
		_ = json.Unmarshal(b, &n)
		h.mu.Lock()
		if h.fail {
			h.mu.Unlock()
			w.WriteHeader(http.StatusInternalServerError)
			return
		}
		h.got = append(h.got, n["kind"].(string)+":"+n["level"].(string))
		msg, _ := n["message"].(string)
		h.msgs = append(h.msgs, msg)
		h.mu.Unlock()
	}))
	t.Cleanup(srv.Close)
	hook, err := notify.NewWebhook(notify.WebhookConfig{Name: "hook", URL: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	key := []byte("0123456789abcdef0123456789abcdef")
	s, err := Start(Config{
		Listener:      ingest.Config{Host: "127.0.0.1", Keys: ingest.NewKeys(key, nil), Watch: map[string]bool{"h": true}, MaxClockSkew: 24 * time.Hour, RecvBuffer: 1 << 20},
		Clock:         h.clock,
		Routes:        []notify.Route{{Channel: hook, MinLevel: "WARNING", Repeat: time.Minute}},
		RepeatCheck:   10 * time.Second,
		NotifyOptions: notify.DispatcherOptions{MaxAttempts: 1},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Stop)
	h.s = s
	sg := wire.NewSigner(key)
	seq := uint64(0)
	h.beat = func() {
		seq++
		b, _ := wire.AppendHeartbeat(nil, sg, wire.Envelope{Host: "h", Seq: seq, Time: h.clock.Now().UnixNano()}, wire.Heartbeat{IntervalMS: 10000, ConnSeq: uint32(seq)})
		sendUDP(t, s.UDPAddrs()[0], b)
		eventually(t, "heartbeat applied", func() bool { return s.Stats.AcceptedKind(wire.KindHeartbeat) == seq })
	}
	return h
}

func (h *heldHarness) sent() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return strings.Join(h.got, " ")
}

// heartbeatAlert is the host's heartbeat alert as the API shows it.
func (h *heldHarness) heartbeatAlert() (level string, silenced bool) {
	r, _ := h.s.QueryAlerts(context.Background(), "h")
	var v struct {
		Alerts []struct {
			MetricPath string `json:"metric_path"`
			Level      string `json:"level"`
			Silenced   bool   `json:"silenced"`
		} `json:"alerts"`
	}
	_ = json.Unmarshal(r.Body, &v)
	for _, a := range v.Alerts {
		if a.MetricPath == "heartbeat" {
			return a.Level, a.Silenced
		}
	}
	return "", false
}

func (h *heldHarness) journalHas(text string) bool {
	b, _ := h.s.Messages(context.Background(), MessagesQuery{Limit: 100})
	return strings.Contains(string(b), text)
}

// advance moves the clock in steps of at most 10 s, letting the notifier
// and the host act on each step before the next.
func (h *heldHarness) advance(d time.Duration) {
	for d > 0 {
		step := min(d, 10*time.Second)
		h.clock.Advance(step)
		d -= step
		h.s.wait(h.s.notifier)
		if pid, ok := h.s.Registry.Lookup("h"); ok {
			h.s.wait(pid)
		}
		h.s.wait(h.s.notifier)
	}
}

// advanceBeating is advance with a heartbeat every 10 s: the host stays UP.
func (h *heldHarness) advanceBeating(d time.Duration) {
	for ; d > 0; d -= 10 * time.Second {
		h.advance(min(d, 10*time.Second))
		h.beat()
	}
}

// Inside a window a host that goes DOWN is CRITICAL and silenced, and
// nothing is sent; when the window closes, the still-firing alert is sent
// once. A one-shot silence that expires behaves the same.
func TestSilenceEndSendsStillFiringAlertOnce(t *testing.T) {
	for _, kind := range []string{"window", "one-shot"} {
		t.Run(kind, func(t *testing.T) {
			// Wednesday 2026-01-07 12:00 UTC; the window is 12:01-12:03.
			h := newHeldHarness(t, time.Date(2026, 1, 7, 12, 0, 0, 0, time.UTC))
			sil := silence.Silence{Host: "h*", Origin: "api", Comment: "db upgrade"}
			if kind == "window" {
				sched, err := silence.ParseSchedule("Wed 12:01-12:03", 0, "UTC")
				if err != nil {
					t.Fatal(err)
				}
				sil.Schedule = sched
			} else {
				sil.Until = h.clock.Now().Add(3 * time.Minute)
			}
			if _, err := h.s.Silences.Add(sil); err != nil {
				t.Fatal(err)
			}
			h.beat()
			eventually(t, "h UP", func() bool { return stateOf(h.s, "h") == StateUp })
			h.advanceBeating(time.Minute) // 12:01, UP
			h.advance(40 * time.Second)   // DOWN at 12:01:30; 12:01:40
			eventually(t, "h CRITICAL and silenced", func() bool {
				l, s := h.heartbeatAlert()
				return l == "CRITICAL" && s
			})
			eventually(t, "journal: held back", func() bool { return h.journalHas("not sent: silenced (db upgrade)") })
			// Repeats (every minute) are held back as well.
			h.advance(70 * time.Second) // 12:02:50
			if got := h.sent(); got != "" {
				b, _ := h.s.Messages(context.Background(), MessagesQuery{Limit: 100})
				t.Fatalf("sent inside the silence: %s\n%s", got, b)
			}
			h.advance(10 * time.Second) // 12:03:00: the end
			eventually(t, "held problem sent", func() bool { return h.sent() == "problem:CRITICAL" })
			h.mu.Lock()
			msg := h.msgs[0]
			h.mu.Unlock()
			if !strings.Contains(msg, "held by db upgrade, which ended") {
				t.Errorf("message %q does not say what held it", msg)
			}
			if _, s := h.heartbeatAlert(); s {
				t.Error("still shown silenced after the end")
			}
			// Repeats resume from the release, a minute later; the
			// recovery after them is the barrier: nothing else came
			// in between.
			h.advance(time.Minute)
			eventually(t, "repeat", func() bool { return h.sent() == "problem:CRITICAL repeat:CRITICAL" })
			h.beat()
			eventually(t, "recovery", func() bool { return h.sent() == "problem:CRITICAL repeat:CRITICAL recovery:OK" })
		})
	}
}

// An alert that fires and recovers inside the window sends nothing when
// the window ends: nobody was paged, so nobody needs the all-clear.
func TestSilenceEndSendsNothingForAnAlertThatRecoveredInside(t *testing.T) {
	h := newHeldHarness(t, time.Date(2026, 1, 7, 12, 0, 0, 0, time.UTC))
	sched, err := silence.ParseSchedule("Wed 12:01-12:03", 0, "UTC")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.s.Silences.Add(silence.Silence{Host: "h", Origin: "api", Schedule: sched}); err != nil {
		t.Fatal(err)
	}
	h.beat()
	eventually(t, "h UP", func() bool { return stateOf(h.s, "h") == StateUp })
	h.advanceBeating(time.Minute)
	h.advance(40 * time.Second)
	eventually(t, "h CRITICAL", func() bool { l, _ := h.heartbeatAlert(); return l == "CRITICAL" })
	h.beat()
	eventually(t, "h OK", func() bool { l, _ := h.heartbeatAlert(); return l == "OK" })
	h.advanceBeating(80 * time.Second) // 12:03:00: the end, h UP all along
	// The host then dies after the window: its problem is the barrier;
	// a release of the earlier episode would be ahead of it.
	h.advance(40 * time.Second)
	eventually(t, "the later problem", func() bool { return h.sent() != "" })
	if got := h.sent(); got != "problem:CRITICAL" {
		t.Fatalf("sent %q, want only the problem after the window", got)
	}
	h.mu.Lock()
	msg := h.msgs[0]
	h.mu.Unlock()
	if strings.Contains(msg, "held by") {
		t.Errorf("the later problem %q came from the release", msg)
	}
}

// pagedThenBackInWindow is a harness whose host h goes DOWN and is paged
// at 12:00:30, before a window (comment) from 12:01 to 12:03, and
// heartbeats again at 12:01:10, inside it.
func pagedThenBackInWindow(t *testing.T, comment string) *heldHarness {
	t.Helper()
	h := newHeldHarness(t, time.Date(2026, 1, 7, 12, 0, 0, 0, time.UTC))
	sched, err := silence.ParseSchedule("Wed 12:01-12:03", 0, "UTC")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.s.Silences.Add(silence.Silence{Host: "h", Origin: "api", Schedule: sched, Comment: comment}); err != nil {
		t.Fatal(err)
	}
	h.beat()
	eventually(t, "h UP", func() bool { return stateOf(h.s, "h") == StateUp })
	h.advance(40 * time.Second) // DOWN at 12:00:30, before the window
	eventually(t, "the problem paged", func() bool { return h.sent() == "problem:CRITICAL" })
	h.advance(30 * time.Second) // 12:01:10, inside
	h.beat()
	return h
}

// An alert paged before the window that recovers inside it sends its
// recovery when the window ends: the page gets closed.
func TestSilenceEndSendsTheRecoveryOfAnAlertPagedBefore(t *testing.T) {
	h := pagedThenBackInWindow(t, "switch swap")
	eventually(t, "h OK", func() bool { l, _ := h.heartbeatAlert(); return l == "OK" })
	eventually(t, "journal: recovery held", func() bool { return h.journalHas("heartbeat recovery not sent: silenced (switch swap)") })
	h.advanceBeating(110 * time.Second) // 12:03:00: the end
	eventually(t, "the recovery sent", func() bool { return h.sent() == "problem:CRITICAL recovery:OK" })
	h.mu.Lock()
	msg := h.msgs[1]
	h.mu.Unlock()
	if !strings.Contains(msg, "recovered: CRITICAL -> OK (held by switch swap, which ended)") {
		t.Errorf("recovery message %q", msg)
	}
}

// An alert paged before a window that recovers and fails again inside it
// ends the window at the level it was paged at: nothing is released, and
// its repeats, held back inside the window, resume after it (the page was
// never closed). Before, the silenced recovery or problem stopped them.
func TestRepeatsResumeAfterAWindowWithSilencedChanges(t *testing.T) {
	h := pagedThenBackInWindow(t, "reboot")
	eventually(t, "journal: recovery held", func() bool { return h.journalHas("heartbeat recovery not sent: silenced (reboot)") })
	h.advance(40 * time.Second) // DOWN again at 12:01:40
	eventually(t, "journal: problem held", func() bool { return h.journalHas("heartbeat problem not sent: silenced (reboot)") })
	h.advance(80 * time.Second) // 12:03:10: the window ended at 12:03
	eventually(t, "the repeat", func() bool { return h.sent() == "problem:CRITICAL repeat:CRITICAL" })
	h.beat()
	eventually(t, "the recovery", func() bool { return h.sent() == "problem:CRITICAL repeat:CRITICAL recovery:OK" })
}

// A late notification (sent when a silence ends, for a level the host has
// no delivery of on record) whose level the notifier sent last is not sent
// again: at a window's end the host's change can go out at once and the
// end ask for it again before its delivery is acknowledged (the window's
// edge timer running late). One at another level goes out.
func TestALateNotificationAlreadySentIsNotSentAgain(t *testing.T) {
	h := newHeldHarness(t, time.Date(2026, 1, 7, 12, 0, 0, 0, time.UTC))
	host, ok := h.s.Registry.Lookup("h")
	if !ok {
		t.Fatal("h is not registered")
	}
	notice := func(kind, level string, late bool) {
		prev := "OK"
		if kind == notify.KindRecovery {
			prev = "WARNING"
		}
		n := notify.Notification{Kind: kind, Host: "h", MetricPath: "heartbeat", Level: level, PrevLevel: prev,
			Time: h.clock.Now(), Message: "heartbeat " + prev + " -> " + level}
		h.s.actors.Root.Send(h.s.notifier, &alertNotice{n: n, host: host, late: late})
	}
	notice(notify.KindProblem, "CRITICAL", false)
	eventually(t, "the page", func() bool { return h.sent() == "problem:CRITICAL" })
	notice(notify.KindProblem, "CRITICAL", true)
	eventually(t, "journal: not sent again", func() bool { return h.journalHas("heartbeat CRITICAL not sent again: it went out at") })
	notice(notify.KindProblem, "WARNING", true)
	eventually(t, "the late change of level", func() bool { return h.sent() == "problem:CRITICAL problem:WARNING" })
	// A recovery, then the same recovery late: once.
	notice(notify.KindRecovery, "OK", false)
	eventually(t, "the recovery", func() bool { return h.sent() == "problem:CRITICAL problem:WARNING recovery:OK" })
	notice(notify.KindRecovery, "OK", true)
	eventually(t, "journal: recovery not sent again", func() bool { return h.journalHas("heartbeat recovery not sent again: it went out at") })
	// A page whose delivery failed is sent when it comes late.
	h.mu.Lock()
	h.fail = true
	h.mu.Unlock()
	notice(notify.KindProblem, "CRITICAL", false)
	eventually(t, "journal: the failed delivery", func() bool { return h.journalHas("heartbeat problem via hook failed") })
	h.mu.Lock()
	h.fail = false
	h.mu.Unlock()
	notice(notify.KindProblem, "CRITICAL", true)
	eventually(t, "the late page after the failure", func() bool {
		return h.sent() == "problem:CRITICAL problem:WARNING recovery:OK problem:CRITICAL"
	})
}
