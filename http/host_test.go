package http_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/hbd-project/hbd/actors"
	hbdhttp "github.com/hbd-project/hbd/http"
)

// TestHostSuspicionAtRequest: GET /api/0/hosts/{h} reads a connection's
// suspicion at the request, from the fleet snapshot (no actor round
// trip); the list keeps the value at the last heartbeat.
func TestHostSuspicionAtRequest(t *testing.T) {
	d := startDaemonWith(t, &actors.Liveness{Default: actors.Detection{Adaptive: true, DownAfter: 3, SuspectPhi: 5, DownPhi: 8,
		Window: 32, MinSamples: 8, MinStd: 0.1, AcceptablePause: 1}})
	a := client(t, serve(t, d.sys, hbdhttp.Options{}), "127.0.0.1:40000", nil)
	for i := range 13 {
		if i > 0 {
			d.clk.Advance(10 * time.Second)
		}
		d.heartbeat("web01")
		now := d.clk.Now()
		eventually(t, "heartbeat applied", func() bool {
			h := d.sys.Fleet.Snapshot().Find("web01")
			return h != nil && !h.LastSeen.Before(now)
		})
	}
	d.clk.Advance(12 * time.Second) // late, not yet SUSPECT
	type conn struct {
		State     string   `json:"state"`
		Suspicion *float64 `json:"suspicion"`
	}
	type host struct {
		Name        string `json:"name"`
		Connections []conn `json:"connections"`
	}
	phiOf := func(what string, h host) float64 {
		t.Helper()
		if len(h.Connections) != 1 || h.Connections[0].Suspicion == nil || h.Connections[0].State != "UP" {
			t.Fatalf("%s: %+v, want one UP connection with a suspicion", what, h)
		}
		return *h.Connections[0].Suspicion
	}
	var one host
	a.getJSON("/api/0/hosts/web01", &one)
	var list []host
	a.getJSON("/api/0/hosts", &list)
	if len(list) != 2 || list[1].Name != "web01" { // db01 is declared
		b, _ := json.Marshal(list)
		t.Fatalf("hosts %s", b)
	}
	now, listed := phiOf("host", one), phiOf("list", list[1])
	if listed > 0.5 || now <= listed+0.5 {
		t.Errorf("suspicion on the host's route %.2f, in the list %.2f: want the list's near 0 (at the heartbeat) and the route's above it", now, listed)
	}
}
