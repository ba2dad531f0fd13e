package member

import (
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
)

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// Before Start a node places every host on itself, and its messaging
// refuses or drops without a cluster behind it. (No test here starts a
// cluster: the e2e tests run real members.)
func TestNodeBeforeStart(t *testing.T) {
	n := NewNode(nil, Config{Name: "t", Listen: "127.0.0.11:51310", Provider: ProviderStatic, Logger: quiet()})
	p := n.Placement()
	if p == nil || p.Version != 1 || len(p.Members) != 1 || p.Self != "127.0.0.11:51310" || !p.Local("any") {
		t.Fatalf("initial placement %+v", p)
	}
	n = NewNode(nil, Config{Listen: "0.0.0.0:51310", Advertise: "10.0.0.1:51310", Logger: quiet()})
	if n.Self() != "10.0.0.1:51310" {
		t.Errorf("Self() = %q, want the advertised address", n.Self())
	}
	if _, err := n.Request(n.Self(), "x", nil, time.Millisecond); err == nil {
		t.Error("Request before Start succeeded")
	}
	n.Send(n.Self(), "x", nil) // dropped, no panic
	if _, ok := n.Consensus(); ok {
		t.Error("consensus before Start")
	}
	n.Stop() // safe without Start
}

// A provider the config does not name, or an unusable health address, is
// an error from Start, with nothing left running.
func TestNodeStartErrors(t *testing.T) {
	for name, cfg := range map[string]Config{
		"provider":      {Name: "t", Listen: "127.0.0.11:51310", Provider: "consul"},
		"listen":        {Name: "t", Listen: "nonsense", Provider: ProviderStatic},
		"health_listen": {Name: "t", Listen: "127.0.0.11:51310", Provider: ProviderStatic, HealthListen: "127.0.0.11"},
	} {
		cfg.Logger = quiet()
		if err := NewNode(actor.NewActorSystem(), cfg).Start(); err == nil {
			t.Errorf("%s: Start succeeded", name)
		}
	}
}

// Handle after Start is a programming error.
func TestHandleAfterStartPanics(t *testing.T) {
	n := NewNode(nil, Config{Listen: "nonsense", Logger: quiet()})
	_ = n.Start()
	defer func() {
		if recover() == nil {
			t.Error("Handle after Start did not panic")
		}
	}()
	n.Handle("x", func(string, []byte) []byte { return nil })
}

// An outbox queue holds at most Queue entries: the rest are dropped and
// counted, never blocking the caller.
func TestOutboxQueueBounded(t *testing.T) {
	n := NewNode(nil, Config{Listen: "127.0.0.11:51310", Logger: quiet()})
	o := NewOutbox(n, "ingress", "test entries", func(e []byte, _ int) []byte { return e }, OutboxOptions{Queue: 4})
	o.Stop() // nobody drains: what is queued stays
	q := o.Queue("127.0.0.12:51310")
	for i := range 10 {
		ok := q.Put([]byte{byte(i)})
		if ok != (i < 4) {
			t.Fatalf("Put #%d = %v", i, ok)
		}
	}
	if q.Dropped.Load() != 6 || q.Sent.Load() != 0 {
		t.Errorf("dropped %d, sent %d", q.Dropped.Load(), q.Sent.Load())
	}
	if qs := o.Queues(); len(qs) != 1 || qs[0] != q || o.Queue("127.0.0.12:51310") != q {
		t.Errorf("queues %v", qs)
	}
}

// The sender packs what is queued into frames of at most Batch entries.
func TestOutboxBatches(t *testing.T) {
	n := NewNode(nil, Config{Listen: "127.0.0.11:51310", Logger: quiet()})
	frames := make(chan []byte, 10)
	o := NewOutbox(n, "ingress", "test entries", func(e []byte, k int) []byte {
		frames <- append([]byte{byte(k)}, e...)
		return nil
	}, OutboxOptions{Batch: 3, Linger: time.Hour})
	defer o.Stop()
	q := o.Queue("127.0.0.12:51310")
	for i := range 6 {
		q.Put([]byte{byte('a' + i)})
	}
	var got []string
	for range 2 {
		select {
		case f := <-frames:
			got = append(got, string(rune('0'+f[0]))+string(f[1:]))
		case <-time.After(10 * time.Second):
			t.Fatalf("frames so far %v", got)
		}
	}
	if got[0] != "3abc" || got[1] != "3def" {
		t.Errorf("frames %v, want 3abc 3def", got)
	}
}
