package actors

import (
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
)

// A message of a type an actor does not handle (here a value where the
// HostActor expects a pointer) is counted, not silently lost; lifecycle
// messages are not.
func TestUnexpectedMessageIsCounted(t *testing.T) {
	clock := newFakeClock(time.Unix(1795510000, 0))
	s := startPersist(t, clock, persistOpts{dir: t.TempDir(), watch: []string{"h"}})
	settle(s)
	before := UnexpectedMessages()
	pid, ok := s.Registry.Lookup("h")
	if !ok {
		t.Fatal("h not registered")
	}
	s.actors.Root.Send(pid, barrier{}) // a value: the actor handles *barrier
	s.actors.Root.Send(pid, &actor.ReceiveTimeout{})
	s.wait(pid)
	if got := UnexpectedMessages() - before; got != 2 {
		t.Fatalf("unexpected messages counted %d, want 2", got)
	}
}
