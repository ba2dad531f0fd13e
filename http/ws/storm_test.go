package ws

import (
	"bytes"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fasthttp/websocket"

	"github.com/hbd-project/hbd/actors/broadcast"
	"github.com/hbd-project/hbd/internal/contract"
)

// countingHosts is one fleet publication whose host objects count their
// reads: every read is work some goroutine did for a snapshot.
type countingHosts struct {
	objs  [][]byte
	reads *atomic.Int64
}

func (c countingHosts) Len() int { return len(c.objs) }
func (c countingHosts) Name(i int) string {
	name, _ := contract.HostName(c.objs[i])
	return name
}
func (c countingHosts) JSON(i int) []byte {
	c.reads.Add(1)
	return c.objs[i]
}

// A reconnect storm against a large fleet: clients connect, some read
// their snapshot and some hang up at once, and connect again, over and
// over, while the fleet publishes now and then and a steady client's live
// frames keep arriving, every one, in order. The work a reconnect costs
// is counted, not timed: the hub takes a pointer per (re)subscription and
// reads no host, the whole-fleet frame is built at most once per
// publication however many clients connect within it, and every client
// gets the same bytes.
func TestReconnectStormSharesOneSnapshotPerPublication(t *testing.T) {
	const (
		hosts     = 20000 // a 3 MB snapshot frame
		stormers  = 8
		minRounds = 6  // reconnects per stormer, at least
		live      = 60 // live frames the steady client must get during the storm
		pubEvery  = 15 // live frames per fleet publication
	)
	h := newHarness(t, Options{})
	var reads atomic.Int64
	objs := make([][]byte, hosts)
	for i := range objs {
		objs[i] = hostObject(fmt.Sprintf("host-%05d", i))
	}
	var (
		mu   sync.Mutex
		pubs []*broadcast.Hosts
	)
	publish := func(gen int) {
		next := append([][]byte(nil), objs...)
		next[gen%hosts] = bytes.Replace(next[gen%hosts], []byte(`"last_seen":1711234567.123`), fmt.Appendf(nil, `"last_seen":%d`, 1711234567+gen), 1)
		p := broadcast.NewHosts(countingHosts{next, &reads}, contract.SnapshotSize(next))
		mu.Lock()
		pubs = append(pubs, p)
		mu.Unlock()
		h.hosts.Store(p)
	}
	publish(0)

	steady := h.dial(t, nil)
	if names := snapshotHosts(t, readFrame(t, steady)); len(names) != hosts {
		t.Fatalf("steady client's snapshot holds %d hosts, want %d", len(names), hosts)
	}

	stop := make(chan struct{})
	var reconnects atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, stormers)
	for s := range stormers {
		wg.Go(func() {
			for round := 0; ; round++ {
				select {
				case <-stop:
					if round >= minRounds {
						return
					}
				default:
				}
				if err := reconnect(h, s%2 == 0); err != nil {
					errs <- fmt.Errorf("stormer %d, round %d: %w", s, round, err)
					return
				}
				reconnects.Add(1)
			}
		})
	}

	// The live frames, each awaited by the steady client before the next
	// is published, while the storm goes on.
	for seq := range live {
		if seq > 0 && seq%pubEvery == 0 {
			publish(seq)
		}
		h.hub.Publish(alertEvent("steady", seq))
		f := readFrame(t, steady)
		if host, got := seqOf(t, f); f.Type != "alert" || host != "steady" || got != seq {
			t.Fatalf("steady client got %s %s #%d, want alert steady #%d", f.Type, host, got, seq)
		}
	}
	close(stop)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}

	mu.Lock()
	defer mu.Unlock()
	built := 0
	for _, p := range pubs {
		if p.Built() {
			built++
		}
	}
	n := reconnects.Load()
	t.Logf("%d reconnects, %d publications, %d whole-fleet frames built, %d host reads", n, len(pubs), built, reads.Load())
	if n < stormers*minRounds {
		t.Fatalf("%d reconnects, want at least %d", n, stormers*minRounds)
	}
	if built < 1 || built > len(pubs) {
		t.Errorf("%d whole-fleet frames built for %d publications", built, len(pubs))
	}
	// Each build reads every host twice (its size, then its bytes); any
	// other read (the hub copying the fleet, a writer building its own
	// frame) would show here.
	if got, want := reads.Load(), int64(2*hosts*built); got != want {
		t.Errorf("%d host reads, want %d: 2 per host per build, nothing per reconnect", got, want)
	}
	if got, want := h.hub.Snapshots(), uint64(n)+1; got < want {
		t.Errorf("the hub queued %d snapshots, want one per connection (%d)", got, want)
	}
	if c := h.b.CutOff(); c != 0 {
		t.Errorf("%d clients cut off", c)
	}
}

// reconnect connects once, reads the snapshot if read (checking it is the
// whole fleet of the publication it was built from), and hangs up.
func reconnect(h *harness, read bool) error {
	d := &websocket.Dialer{HandshakeTimeout: 10 * time.Second} // no proxy from the environment
	c, resp, err := d.Dial(h.url(), nil)
	if err != nil {
		return err
	}
	if resp != nil && resp.Body != nil {
		_ = resp.Body.Close()
	}
	defer c.Close()
	if !read {
		return nil
	}
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second)) // turns a hang into a failure; not a check
	_, msg, err := c.ReadMessage()
	if err != nil {
		return err
	}
	if !bytes.HasPrefix(msg, []byte(`{"type":"snapshot","data":{"hosts":[`)) || bytes.Count(msg, []byte(`"name":`)) != 20000 {
		return fmt.Errorf("first frame of %d bytes is not a snapshot of every host", len(msg))
	}
	return nil
}
