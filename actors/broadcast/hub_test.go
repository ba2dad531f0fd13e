package broadcast

import (
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
)

func startHub(t *testing.T, opt Options) (*actor.ActorSystem, *Broadcaster) {
	t.Helper()
	cfg := actor.Configure()
	quiet := slog.New(slog.DiscardHandler)
	cfg.LoggerFactory = func(*actor.ActorSystem) *slog.Logger { return quiet }
	system := actor.NewActorSystemWithConfig(cfg)
	if opt.Logger == nil {
		opt.Logger = quiet
	}
	b := Start(system, opt)
	t.Cleanup(func() {
		b.Stop()
		system.Shutdown()
	})
	return system, b
}

// recv waits for the next value on ch; the deadline only turns a hang
// into a failure.
func recv[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(10 * time.Second):
		t.Fatalf("timed out waiting for %s", what)
	}
	var zero T
	return zero
}

// A message of a type the hub does not handle (a value where it expects a
// pointer) reaches Options.Unexpected; the messages it handles do not.
func TestUnexpectedMessageIsReported(t *testing.T) {
	got := make(chan any, 8)
	system, b := startHub(t, Options{Unexpected: func(m any) { got <- m }})
	// Handled messages first: the mailbox is in order, so if any of them
	// were reported it would come out before the values.
	system.Root.Send(b.PID(), &drain{})
	system.Root.Send(b.PID(), &flushTick{})
	system.Root.Send(b.PID(), &actor.ReceiveTimeout{})
	system.Root.Send(b.PID(), flushTick{})
	system.Root.Send(b.PID(), Event{})
	// Events reach the hub through Publish (its bounded inbox) only.
	system.Root.Send(b.PID(), &Event{Type: "host", Host: "web01", Frame: []byte(`{}`)})
	for _, want := range []string{"*actor.ReceiveTimeout", "broadcast.flushTick", "broadcast.Event", "*broadcast.Event"} {
		if m := recv(t, got, want); fmt.Sprintf("%T", m) != want {
			t.Fatalf("reported %T, want %s", m, want)
		}
	}
}

// recordingConn is a connection's queue as the hub sees it, without a
// socket: it accepts limit entries, then refuses.
type recordingConn struct {
	mu      sync.Mutex
	limit   int
	entries []string
	cuts    int
	events  chan string // every accepted entry and "cut", as it happens
}

func newRecordingConn(limit int) *recordingConn {
	return &recordingConn{limit: limit, events: make(chan string, 64)}
}

func (c *recordingConn) add(entry string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.entries) == c.limit {
		return false
	}
	c.entries = append(c.entries, entry)
	c.events <- entry
	return true
}

func (c *recordingConn) Enqueue(frame []byte, _ int) bool { return c.add(string(frame)) }

func (c *recordingConn) EnqueueReply(frame []byte, _ int) bool {
	return c.add("reply:" + string(frame))
}

func (c *recordingConn) EnqueueSnapshot(s *Snapshot, _ int) bool {
	return c.add("snapshot:" + string(s.Frame()))
}

// EnqueueBatch records each of the batch's frames as an entry; a batch
// that does not fit whole is refused whole.
func (c *recordingConn) EnqueueBatch(b *Batch, _ int) bool {
	c.mu.Lock()
	fits := len(c.entries)+b.Len() <= c.limit
	c.mu.Unlock()
	if !fits {
		return false
	}
	for _, f := range b.Frames() {
		c.add(string(f))
	}
	return true
}

func (c *recordingConn) CutOff() {
	c.mu.Lock()
	c.cuts++
	c.mu.Unlock()
	c.events <- "cut"
}

// The hub routes by filter, answers a rejected message in order, and cuts
// off a connection whose queue is full exactly once, after which it sends
// it nothing more; the other connection is unaffected.
func TestHubRoutesAndCutsOff(t *testing.T) {
	host := []byte(`{"name":"web01"}`)
	_, b := startHub(t, Options{Snapshot: func() *Hosts { return HostsOf([][]byte{host}) }})
	small, all := newRecordingConn(3), newRecordingConn(100)
	b.Register(small, nil)
	b.Register(all, nil)
	if n := b.Clients(); n != 2 {
		t.Fatalf("Clients() = %d, want 2", n)
	}
	snap := `snapshot:{"type":"snapshot","data":{"hosts":[{"name":"web01"}]}}`
	for _, c := range []*recordingConn{small, all} {
		if got := recv(t, c.events, "the first snapshot"); got != snap {
			t.Fatalf("first entry %q, want %q", got, snap)
		}
	}
	alerts, err := NewFilter([]string{"db*"}, []string{"alert"})
	if err != nil {
		t.Fatal(err)
	}
	b.Subscribe(small, alerts)
	if got, want := recv(t, small.events, "the filtered snapshot"), `snapshot:{"type":"snapshot","data":{"hosts":[]}}`; got != want {
		t.Fatalf("snapshot after subscribing = %q, want %q", got, want)
	}
	b.Publish(&Event{Type: "host", Host: "db01", Frame: []byte("host-db01")})     // filtered out for small
	b.Publish(&Event{Type: "alert", Host: "web01", Frame: []byte("alert-web01")}) // filtered out for small
	b.Publish(&Event{Type: "alert", Host: "db01", Frame: []byte("alert-db01")})   // small's third entry: full now
	b.Reject(small, []byte("bad"))                                                // does not fit: cut off
	b.Publish(&Event{Type: "alert", Host: "db02", Frame: []byte("alert-db02")})   // small is gone
	for _, want := range []string{"alert-db01", "cut"} {
		if got := recv(t, small.events, want); got != want {
			t.Fatalf("small got %q, want %q", got, want)
		}
	}
	for _, want := range []string{"host-db01", "alert-web01", "alert-db01", "alert-db02"} {
		if got := recv(t, all.events, want); got != want {
			t.Fatalf("all got %q, want %q", got, want)
		}
	}
	// all received alert-db02, published after small was cut off: the hub
	// has handled everything small could have been sent.
	small.mu.Lock()
	defer small.mu.Unlock()
	if small.cuts != 1 || len(small.entries) != 3 {
		t.Errorf("small: %d cut-offs, entries %q; want 1 cut-off and 3 entries", small.cuts, small.entries)
	}
}
