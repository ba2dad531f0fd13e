package http_test

import (
	"fmt"
	"testing"
	"time"

	hbdhttp "github.com/hbd-project/hbd/http"
	"github.com/hbd-project/hbd/transport/wire"
)

// TestAPIRTT: heartbeats with RTTs and a gap in conn_seq make the host
// entry's quantiles and /rtt's history, the missed heartbeats as nulls;
// an unknown host is a 404 like the other per-host routes.
func TestAPIRTT(t *testing.T) {
	d := startDaemon(t)
	ln := serve(t, d.sys, hbdhttp.Options{})
	a := client(t, ln, "127.0.0.1:40000", nil)

	// conn_seq 1..6 with 4 and 5 lost; RTTs 1, 2, 3, 10 ms.
	deref := func(p *float64) any {
		if p == nil {
			return nil
		}
		return *p
	}
	for i, hb := range []struct {
		connSeq uint32
		rttUS   uint32
	}{{1, 1000}, {2, 2000}, {3, 3000}, {6, 10000}} {
		d.send("rtt01", func(e wire.Envelope, _ uint64) ([]byte, error) {
			return wire.AppendHeartbeat(nil, d.sg, e, wire.Heartbeat{IntervalMS: 10000, ConnSeq: hb.connSeq, RTTMicros: hb.rttUS})
		})
		eventually(t, "heartbeat accepted", func() bool { return d.sys.Stats.Accepted.Load() >= uint64(i+1) })
		d.clk.Advance(10 * time.Second)
	}

	type rttJSON struct {
		Host     string `json:"host"`
		Window   int    `json:"window"`
		Families []struct {
			Family  string        `json:"family"`
			Address string        `json:"address"`
			P50     *float64      `json:"p50_ms"`
			P95     *float64      `json:"p95_ms"`
			P99     *float64      `json:"p99_ms"`
			Count   int           `json:"count"`
			History [][2]*float64 `json:"history"`
		} `json:"families"`
	}
	var v rttJSON
	eventually(t, "four heartbeats in the window", func() bool {
		a.getJSON("/api/0/hosts/rtt01/rtt", &v)
		return len(v.Families) == 1 && v.Families[0].Count == 4
	})
	f := v.Families[0]
	if v.Host != "rtt01" || v.Window != 44 || f.Family != "ipv4" || f.Address != d.udp.LocalAddr().String() {
		t.Fatalf("answer %+v", v)
	}
	if f.P50 == nil || *f.P50 != 2 || *f.P95 != 10 || *f.P99 != 10 {
		t.Fatalf("quantiles %v %v %v, want 2, 10, 10", f.P50, f.P95, f.P99)
	}
	var rtts []any
	for _, p := range f.History {
		if p[1] == nil {
			rtts = append(rtts, nil)
		} else {
			rtts = append(rtts, *p[1])
		}
	}
	if len(rtts) != 6 || rtts[0] != 1.0 || rtts[2] != 3.0 || rtts[3] != nil || rtts[4] != nil || rtts[5] != 10.0 {
		t.Fatalf("history RTTs %v, want 1 2 3 null null 10", rtts)
	}
	if t1, t0 := *f.History[5][0], *f.History[0][0]; t1-t0 < 29.9 || t1-t0 > 30.1 {
		t.Fatalf("history spans %.3f s, want 30 (the missed heartbeats spread in the gap)", t1-t0)
	}

	var hosts []struct {
		Name  string `json:"name"`
		Conns []struct {
			P50 *float64 `json:"rtt_p50_ms"`
			P95 *float64 `json:"rtt_p95_ms"`
			P99 *float64 `json:"rtt_p99_ms"`
		} `json:"connections"`
	}
	// The list is the fleet snapshot's, published after the actor took
	// the heartbeat: wait for the fourth one's quantiles, then check all.
	var got string
	ok := func() bool {
		hosts = nil
		a.getJSON("/api/0/hosts", &hosts)
		if len(hosts) < 1 || len(hosts[len(hosts)-1].Conns) != 1 {
			got = fmt.Sprintf("hosts %+v", hosts)
			return false
		}
		c := hosts[len(hosts)-1].Conns[0]
		got = fmt.Sprintf("%s: p50 %v p95 %v p99 %v", hosts[len(hosts)-1].Name, deref(c.P50), deref(c.P95), deref(c.P99))
		return hosts[len(hosts)-1].Name == "rtt01" && c.P50 != nil && *c.P50 == 2 && c.P95 != nil && *c.P95 == 10 && c.P99 != nil && *c.P99 == 10
	}
	for deadline := time.Now().Add(10 * time.Second); !ok(); time.Sleep(2 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("host entry %s; want rtt01 with p50 2, p95 10, p99 10", got)
		}
	}

	// A host that never sent an RTT has its connection with no history.
	d.heartbeat("web01")
	eventually(t, "web01 known", func() bool { return a.get("/api/0/hosts/web01/rtt").status == 200 })
	a.getJSON("/api/0/hosts/web01/rtt", &v)
	if len(v.Families) != 1 || v.Families[0].P50 != nil || v.Families[0].Count != 0 || len(v.Families[0].History) != 0 {
		t.Fatalf("host without RTTs: %+v", v)
	}
	wantError(t, "unknown host", a.get("/api/0/hosts/nosuch/rtt"), 404, "Host 'nosuch' not found")
	wantError(t, "bad host name", a.get("/api/0/hosts/bad%20name/rtt"), 404, "not found")
}
