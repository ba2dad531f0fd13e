package e2e

import (
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// pingReceiver is a real HTTP server on loopback standing where a
// healthchecks.io-style service would: it counts the requests it gets and
// the connections open to it.
type pingReceiver struct {
	mu      sync.Mutex
	times   []time.Time
	methods map[string]int
	open    int // connections not yet closed
	url     string
}

func newPingReceiver(t *testing.T) *pingReceiver {
	t.Helper()
	p := &pingReceiver{methods: map[string]int{}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			p.mu.Lock()
			defer p.mu.Unlock()
			p.times = append(p.times, time.Now())
			p.methods[r.Method]++
		}),
		ConnState: func(_ net.Conn, st http.ConnState) {
			p.mu.Lock()
			defer p.mu.Unlock()
			switch st {
			case http.StateNew:
				p.open++
			case http.StateClosed, http.StateHijacked:
				p.open--
			}
		},
	}
	go func() { _ = srv.Serve(ln) }() // returns when the test closes srv
	t.Cleanup(func() { srv.Close() })
	p.url = "http://" + ln.Addr().String() + "/ping/0f3c"
	return p
}

func (p *pingReceiver) count() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.times)
}

func (p *pingReceiver) openConns() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.open
}

// The daemon pings its [deadman] url every interval while it runs, counts
// the pings on /metrics, and once it is killed (kill -9: no goodbye) the
// pings stop, which is what the receiving service alerts on.
func TestDeadmanURLStopsWhenDaemonDies(t *testing.T) {
	const interval = 200 * time.Millisecond
	recv := newPingReceiver(t)
	d := startDaemon(t, fmt.Sprintf("[deadman]\nurl = %q\ninterval = %q\n", recv.url, interval))

	waitFor(t, 20*time.Second, "5 pings", func() bool { return recv.count() >= 5 })
	recv.mu.Lock()
	first, n, last, gets := recv.times[0], len(recv.times), recv.times[len(recv.times)-1], recv.methods["GET"]
	recv.mu.Unlock()
	// Pings are timed from one to the next, so there can never be more
	// than one per interval (the daemon's timer can only be late).
	if most := int(last.Sub(first)/interval) + 2; n > most {
		t.Errorf("%d pings in %s: more than one per %s interval", n, last.Sub(first), interval)
	}
	if gets != n {
		t.Errorf("%d of %d pings were GET, want all (the default method)", gets, n)
	}
	var metrics string
	waitFor(t, 10*time.Second, "pings counted on /metrics", func() bool {
		_, body := get(t, d.http+"/metrics")
		metrics = string(body)
		return strings.Contains(metrics, `hbd_deadman_pings_total{result="ok",target="url"}`) &&
			!strings.Contains(metrics, `hbd_deadman_pings_total{result="ok",target="url"} 0`) &&
			strings.Contains(metrics, `hbd_deadman_pings_total{result="failed",target="url"} 0`) &&
			strings.Contains(metrics, `hbd_deadman_last_success_timestamp_seconds{target="url"}`)
	})
	lintMetrics(t, metrics)

	if err := d.proc.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-d.proc.done // the process is gone: it cannot send anything any more
	// A request the daemon wrote just before it died may still be in the
	// receiver's socket; once the receiver has seen every connection
	// close, there is nothing left in flight.
	waitFor(t, 10*time.Second, "the dead daemon's connections closed", func() bool { return recv.openConns() == 0 })
	before := recv.count()
	deadline := time.Now().Add(5 * interval)
	for time.Now().Before(deadline) {
		if got := recv.count(); got != before {
			t.Fatalf("%d pings after the daemon was killed", got-before)
		}
		time.Sleep(interval / 4)
	}
	if got := recv.count(); got != before {
		t.Fatalf("%d pings after the daemon was killed", got-before)
	}
}

// Two daemons sharing the fleet key watch each other: one sends the other
// heartbeats as an agent would ([deadman] peer), so it shows as a host
// there, UP while it runs and DOWN once it is killed.
func TestDeadmanPeerWatchesDaemon(t *testing.T) {
	watcher := startDaemon(t, "")
	watched := startDaemonKey(t, watcher.keyPath, fmt.Sprintf("[deadman]\npeer = \"127.0.0.1:%d\"\nname = \"hbd-b\"\ninterval = \"200ms\"\n", watcher.udpPort))

	waitFor(t, 20*time.Second, "hbd-b UP on the watcher", func() bool {
		h, ok := watcher.host(t, "hbd-b")
		return ok && h.State == "UP"
	})
	if h, _ := watcher.host(t, "hbd-b"); !h.Dyn || len(h.Connections) != 1 || h.Connections[0].Family != "ipv4" {
		t.Errorf("hbd-b on the watcher: %+v, want a dynamic host with one ipv4 connection", h)
	}
	// The peer's ACKs come back, so the watched daemon counts its pings as
	// delivered.
	waitFor(t, 10*time.Second, "peer pings counted ok", func() bool {
		_, body := get(t, watched.http+"/metrics")
		return strings.Contains(string(body), `hbd_deadman_pings_total{result="ok",target="peer"}`) &&
			!strings.Contains(string(body), `hbd_deadman_pings_total{result="ok",target="peer"} 0`)
	})

	if err := watched.proc.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-watched.proc.done
	// Three missed 200 ms heartbeats (down_after = 3).
	waitFor(t, 20*time.Second, "hbd-b DOWN on the watcher", func() bool {
		h, ok := watcher.host(t, "hbd-b")
		return ok && h.State == "DOWN"
	})
}
