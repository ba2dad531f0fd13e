package actors

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hbd-project/hbd/transport/wire"
)

// A published host's plugin queries are answered beside its actor, under
// the lock it takes to change its rings: no message reaches the actor (so
// a busy mailbox does not delay them), the answer is the one the actor
// would give, and queries while samples are being stored race with
// nothing (run under -race).
func TestPluginQueriesBypassTheMailbox(t *testing.T) {
	clock := newFakeClock(time.Unix(1795510000, 0))
	s := startPersist(t, clock, persistOpts{dir: t.TempDir()})
	a := newTestAgent(t, s, clock, "h")
	a.beat()
	a.sample("cpu_monitor", `{"v":1}`)
	settle(s)
	eventually(t, "h published", func() bool { return s.Fleet.Snapshot().Find("h") != nil })

	before := s.Stats.ActorMessages()["host"]
	got := answerer{t}.of(s.QueryPlugins(context.Background(), "h", "cpu_monitor", 10))
	if !strings.Contains(got, `{"v":1}`) {
		t.Fatalf("answer %s", got)
	}
	if _, err := s.QueryPlugins(context.Background(), "h", "nope", 10); err != nil {
		t.Fatal(err)
	}
	if r, _ := s.QueryPlugins(context.Background(), "h", "nope", 10); r.Missing != MissingPlugin {
		t.Fatalf("unknown plugin: missing %d", r.Missing)
	}
	if after := s.Stats.ActorMessages()["host"]; after != before {
		t.Fatalf("the queries sent %d messages to host actors", after-before)
	}
	// The same answer through the mailbox.
	ch := make(chan Answer, 1)
	pid, _ := s.Registry.Lookup("h")
	s.actors.Root.Send(pid, &pluginsQuery{plugin: "cpu_monitor", limit: 10, reply: ch})
	if via := <-ch; string(via.Body) != got {
		t.Fatalf("through the mailbox %s, beside it %s", via.Body, got)
	}

	// Samples stored while queries run.
	var wg sync.WaitGroup
	stop := make(chan struct{})
	wg.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			answerer{t}.of(s.QueryPlugins(context.Background(), "h", "", 0))
			answerer{t}.of(s.QueryPlugins(context.Background(), "h", "cpu_monitor", 100))
		}
	})
	for i := 2; i <= 150; i++ {
		clock.Advance(100 * time.Millisecond) // a sample's timestamp is its agent's clock
		a.send(wire.AppendSample(nil, wire.NewSigner(testKey), a.env(), "cpu_monitor", fmt.Appendf(nil, `{"v":%d}`, i)))
		if i%10 == 0 {
			a.send(wire.AppendSample(nil, wire.NewSigner(testKey), a.env(), fmt.Sprintf("p%d", i), []byte(`{"x":1}`)))
		}
	}
	eventually(t, "samples stored", func() bool {
		return strings.Contains(answerer{t}.of(s.QueryPlugins(context.Background(), "h", "cpu_monitor", 1)), `{"v":150}`)
	})
	close(stop)
	wg.Wait()
}
