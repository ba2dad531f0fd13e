package actors

import (
	"testing"
	"time"

	"github.com/hbd-project/hbd/internal/contract"
)

// The hub gets one snapshot source per fleet publication: the same one for
// every client until the fleet publishes again. Its frame lists every
// host's object, and the next source's estimated size comes from it.
func TestStreamSnapshotsOnePerPublication(t *testing.T) {
	f := &Fleet{}
	a := newFleetActor(f, RealClock{}, time.Hour, nil, NewStats())
	src := streamSnapshots(f)
	for _, name := range []string{"web02", "db01", "web01"} {
		h := newHostState(name, true, 10*time.Second, 3)
		h.heartbeat(t0, v4, 10*time.Second, 1, time.Millisecond)
		a.pending[name] = h.summary()
	}
	a.publish()
	first := src()
	if again := src(); again != first {
		t.Fatal("a second client within one publication got another snapshot source")
	}
	if first.Size() != 64+(hostBytesGuess+1)*3 {
		t.Errorf("estimate %d before any build, want %d", first.Size(), 64+(hostBytesGuess+1)*3)
	}
	var objs [][]byte
	for _, h := range f.Snapshot().Hosts {
		objs = append(objs, h.JSON())
	}
	if got, want := string(first.Frame()), string(contract.AppendSnapshot(nil, objs)); got != want {
		t.Fatalf("frame %s, want %s", got, want)
	}
	if first.Size() != len(first.Frame()) {
		t.Errorf("size %d once built, want %d", first.Size(), len(first.Frame()))
	}

	h := newHostState("db02", true, 10*time.Second, 3)
	a.pending["db02"] = h.summary()
	a.publish()
	next := src()
	if next == first || next.Len() != 4 {
		t.Fatalf("after a publication: same source %v, %d hosts", next == first, next.Len())
	}
	if want := 64 + (len(first.Frame())/3+1)*4; next.Size() != want {
		t.Errorf("estimate %d, want %d from the last build", next.Size(), want)
	}
}
