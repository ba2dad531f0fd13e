package broadcast

import (
	"sync"
	"testing"

	"github.com/hbd-project/hbd/internal/contract"
)

// The whole-fleet frame of one publication is built once, whoever asks
// and however many ask at once, and is the bytes AppendSnapshot gives;
// Size is the estimate until then and exact after. A filtered snapshot is
// built on its own, with the hosts its globs want.
func TestHostsFrameBuiltOnceAndShared(t *testing.T) {
	objs := [][]byte{[]byte(`{"name":"db01"}`), []byte(`{"name":"web01"}`), []byte(`{"name":"web02"}`)}
	hosts := NewHosts(encodedHosts(objs), 1000)
	if hosts.Built() || hosts.Size() != 1000 || hosts.Len() != 3 {
		t.Fatalf("before any build: built %v, size %d, len %d", hosts.Built(), hosts.Size(), hosts.Len())
	}
	want := string(contract.AppendSnapshot(nil, objs))
	frames := make([][]byte, 8)
	var wg sync.WaitGroup
	for i := range frames {
		wg.Go(func() { frames[i] = (&Snapshot{Hosts: hosts, Filter: &Filter{}}).Frame() })
	}
	wg.Wait()
	for i, f := range frames {
		if string(f) != want || &f[0] != &frames[0][0] {
			t.Fatalf("frame %d: %s (shared: %v), want %s", i, f, &f[0] == &frames[0][0], want)
		}
	}
	if !hosts.Built() || hosts.Size() != len(want) {
		t.Errorf("after the build: built %v, size %d, want %d", hosts.Built(), hosts.Size(), len(want))
	}

	web, err := NewFilter([]string{"web*"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := string((&Snapshot{Hosts: hosts, Filter: web}).Frame()), string(contract.AppendSnapshot(nil, objs[1:])); got != want {
		t.Errorf("filtered: %s, want %s", got, want)
	}
	if got, want := string((&Snapshot{}).Frame()), `{"type":"snapshot","data":{"hosts":[]}}`; got != want {
		t.Errorf("no hosts: %s, want %s", got, want)
	}
	if h := HostsOf(objs); h.Size() != contract.SnapshotSize(objs) {
		t.Errorf("HostsOf's size %d before a build, want SnapshotSize's %d", h.Size(), contract.SnapshotSize(objs))
	}
}
