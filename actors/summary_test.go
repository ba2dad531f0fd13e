package actors

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/hbd-project/hbd/internal/contract"
)

// The summary's typed fields and its JSON say the same: state, last seen,
// and per family the address, state, RTT (last and smoothed) and loss.
func TestHostSummaryTypedFields(t *testing.T) {
	const interval = 10 * time.Second
	h := newHostState("web01", true, interval, 3)
	h.heartbeat(t0, v4, interval, 1, 800*time.Microsecond)
	h.heartbeat(t0.Add(time.Millisecond), v6, interval, 1, 0)
	h.heartbeat(t0.Add(interval), v4, interval, 3, 1600*time.Microsecond) // seq 2 lost
	s := h.summary()
	if s.State != StateUp || !s.LastSeen.Equal(t0.Add(interval)) || len(s.Conns) != 2 {
		t.Fatalf("summary: state %s, last seen %s, %d connections", s.State, s.LastSeen, len(s.Conns))
	}
	c4, c6 := s.Conns[0], s.Conns[1]
	if c4.Family != "ipv4" || c4.Address != v4 || !c4.Up || !c4.HasRTT || c4.RTT != 1600*time.Microsecond || c4.SmoothedRTT != 900*time.Microsecond ||
		c4.LossPct < 33.3 || c4.LossPct > 33.4 || !c4.LastSeen.Equal(t0.Add(interval)) {
		t.Errorf("ipv4: %+v", c4)
	}
	if c6.Family != "ipv6" || c6.Address != v6 || !c6.Up || c6.HasRTT || c6.LossPct != 0 {
		t.Errorf("ipv6: %+v", c6)
	}

	var obj struct {
		State       string  `json:"state"`
		LastSeen    float64 `json:"last_seen"`
		Connections []struct {
			Family   string   `json:"family"`
			Address  string   `json:"address"`
			State    string   `json:"state"`
			RTT      *float64 `json:"rtt_ms"`
			Smoothed *float64 `json:"rtt_smoothed_ms"`
			Loss     float64  `json:"loss_pct"`
		} `json:"connections"`
	}
	if err := json.Unmarshal(s.JSON(), &obj); err != nil {
		t.Fatal(err)
	}
	if obj.State != s.State.String() || obj.LastSeen != float64(s.LastSeen.UnixMilli())/1e3 || len(obj.Connections) != 2 {
		t.Fatalf("JSON %s", s.JSON())
	}
	j4, j6 := obj.Connections[0], obj.Connections[1]
	if j4.Family != "ipv4" || j4.Address != v4.String() || j4.State != "UP" || j4.RTT == nil || *j4.RTT != 1.6 || *j4.Smoothed != 0.9 || j4.Loss != 33.33 {
		t.Errorf("ipv4 in JSON: %+v", j4)
	}
	if j6.Family != "ipv6" || j6.RTT != nil || j6.Smoothed != nil {
		t.Errorf("ipv6 in JSON: %+v", j6)
	}
}

// A query whose actor does not answer in time says which actor it was.
func TestNoAnswerNamesTheActor(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := await(ctx, make(chan Answer), "journal")
	var na *NoAnswerError
	if !errors.As(err, &na) || na.Actor != "journal" || err.Error() != "the journal's actor did not answer in time" {
		t.Fatalf("err %v", err)
	}
}

// A summary's object is the same whoever encodes it: concurrent first
// readers (the API, a snapshot) agree byte for byte, and the object the
// HostActor keeps from the stream's host frame is that frame's "data".
func TestHostSummaryJSONOnceAndShared(t *testing.T) {
	const interval = 10 * time.Second
	h := newHostState("web01", true, interval, 3)
	h.ver, h.agentVersion = 2, "1.4.0"
	h.heartbeat(t0, v4, interval, 1, 800*time.Microsecond)
	h.heartbeat(t0.Add(time.Millisecond), v6, interval, 1, 0)
	want := string(contract.EncodeHost(&contract.Host{Name: "web01", Dyn: true, Ver: 2, State: "UP", LastSeen: h.lastSeen,
		Interval: interval, AgentVersion: "1.4.0", Conns: h.summary().Conns}))

	lazy := h.summary()
	got := make([]string, 8)
	var wg sync.WaitGroup
	for i := range got {
		wg.Go(func() { got[i] = string(lazy.JSON()) })
	}
	wg.Wait()
	for i, g := range got {
		if g != want {
			t.Fatalf("reader %d: %s, want %s", i, g, want)
		}
	}
	if first, again := lazy.JSON(), lazy.JSON(); &first[0] != &again[0] {
		t.Error("JSON encoded again on a later read")
	}

	streamed := h.summary()
	frame := streamed.encodeFrame()
	if string(streamed.JSON()) != want || string(frame) != string(contract.HostFrame([]byte(want))) {
		t.Fatalf("streamed: object %s, frame %s", streamed.JSON(), frame)
	}
	if obj := streamed.JSON(); &obj[0] != &frame[len(frame)-len(obj)-1] {
		t.Error("the object is a copy, not the frame's data")
	}
}
