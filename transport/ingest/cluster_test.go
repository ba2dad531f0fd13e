package ingest

import (
	"bytes"
	"sync"
	"testing"

	"github.com/hbd-project/hbd/internal/limits"
)

// remoteRoute is a RemoteRoute owned elsewhere while remote is true: it
// keeps copies of what it is handed.
type remoteRoute struct {
	recRoute
	mu     sync.Mutex
	remote bool
	got    []Datagram
}

func (rr *remoteRoute) Forward(d *Datagram) bool {
	rr.mu.Lock()
	defer rr.mu.Unlock()
	if !rr.remote {
		return false
	}
	c := *d
	c.Raw = bytes.Clone(d.Raw)
	rr.got = append(rr.got, c)
	return true
}

type remoteRouter struct {
	*recorder
	route *remoteRoute
}

func (r remoteRouter) Lookup(host string) (Route, bool) {
	if host == "remote01" {
		return r.route, true
	}
	return r.recorder.Lookup(host)
}

type ackRecorder struct {
	mu  sync.Mutex
	got []AckTo
	org []string
}

func (a *ackRecorder) Ack(origin string, to AckTo) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.got = append(a.got, to)
	a.org = append(a.org, origin)
}

// A host owned by another member gets its verified datagram undecoded,
// with the socket, source and time it was read; the others are delivered
// as always. The owner's Injector decodes it with that metadata, delivers
// it, and its ACK goes back to the receiving member's socket.
func TestForwardAndInject(t *testing.T) {
	rec := newRecorder("web01")
	rr := &remoteRoute{recRoute: recRoute{rec}, remote: true}
	h := newHarness(t, Config{AcceptDynamic: true}, limits.Config{}, rec)
	h.r.d.Router = remoteRouter{rec, rr}
	h.r.socket = 1
	raw := heartbeat(t, testKey, env("remote01", 9))
	h.run(heartbeat(t, testKey, env("web01", 1)), raw, sample(t, env("remote01", 10), "cpu", `{"v":2}`))
	if n := len(rec.messages()); n != 1 {
		t.Fatalf("%d messages delivered here, want 1 (web01's)", n)
	}
	if len(rr.got) != 2 {
		t.Fatalf("%d datagrams forwarded, want 2", len(rr.got))
	}
	d := rr.got[0]
	if d.Socket != 1 || d.From != from4 || !d.Recv.Equal(t0) || !bytes.Equal(d.Raw, raw) || d.Forwarded {
		t.Fatalf("forwarded %+v", d)
	}

	// The owner: the host is its own.
	owner := newRecorder("remote01")
	oh := newHarness(t, Config{AcceptDynamic: true}, limits.Config{}, owner)
	sink := &ackRecorder{}
	inj := &Injector{r: oh.r, sink: sink, acks: map[remoteKey]*ackWriter{}}
	for i := range rr.got {
		if res := inj.Inject("127.0.0.11:51310", &rr.got[i]); res != Injected {
			t.Fatalf("Inject = %v", res)
		}
	}
	got := owner.messages()
	if len(got) != 2 {
		t.Fatalf("owner got %d messages", len(got))
	}
	hb := got[0].(*Heartbeat)
	if hb.Host != "remote01" || hb.Seq != 9 || hb.From != from4 || !hb.Recv.Equal(t0) {
		t.Fatalf("injected header %+v", hb.Header)
	}
	hb.Ack()
	got[1].Head().Ack()
	if len(sink.got) != 2 || sink.org[0] != "127.0.0.11:51310" || sink.got[0].Socket != 1 || sink.got[0].Seq != 9 ||
		sink.got[0].To != from4 || sink.got[0].Host != "remote01" || !sink.got[0].Recv.Equal(t0) || sink.got[1].Seq != 10 {
		t.Fatalf("acks %+v from %v", sink.got, sink.org)
	}
	if len(inj.acks) != 1 {
		t.Errorf("%d ack sinks for one origin socket", len(inj.acks))
	}

	// A forwarded datagram whose host the owner thinks is elsewhere is
	// not forwarded on.
	rr2 := &remoteRoute{recRoute: recRoute{owner}, remote: true}
	oh.r.d.Router = remoteRouter{newRecorder(), rr2}
	oh.r.routes = map[string]route{}
	d2 := Datagram{Socket: 0, From: from4, Recv: t0, Raw: raw}
	if res := inj.Inject("127.0.0.12:51310", &d2); res != NotOwner || !rr2.got[0].Forwarded {
		t.Errorf("Inject = %v, forwarded %+v", res, rr2.got)
	}
	// Garbage is rejected and counted like a datagram read here.
	before := oh.stats.DroppedTotal()
	if res := inj.Inject("x:1", &Datagram{Raw: []byte("garbage")}); res != Rejected || oh.stats.DroppedTotal() != before+1 {
		t.Errorf("garbage: %v, drops %d -> %d", res, before, oh.stats.DroppedTotal())
	}
}
