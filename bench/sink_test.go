package bench

import (
	"testing"
	"time"
)

func TestSinkCountsWhatIsSent(t *testing.T) {
	for _, listen := range []string{"127.0.0.1:0", "[::1]:0"} {
		t.Run(listen, func(t *testing.T) {
			const n = 5000
			r, err := RunSink(t.Context(), SinkConfig{Listen: listen, Self: true, Senders: 2, Count: n, Duration: time.Minute})
			if err != nil {
				t.Fatal(err)
			}
			// 5000 datagrams of ~140 bytes fit the 16 MiB buffer many
			// times over: nothing may be lost, and nothing counted twice.
			if r.Sent != n || r.Received != n || r.LossPct != 0 {
				t.Fatalf("sent %d, received %d, loss %g%%; want %d, %d, 0", r.Sent, r.Received, r.LossPct, n, n)
			}
			if r.PerS <= 0 || r.Seconds <= 0 || r.Addr == "" {
				t.Fatalf("result %+v", r)
			}
		})
	}
}

func TestSinkConfigErrors(t *testing.T) {
	for _, c := range []SinkConfig{
		{Listen: "localhost:0", Duration: time.Second},
		{Listen: "127.0.0.1:0"},
	} {
		if _, err := RunSink(t.Context(), c); err == nil {
			t.Errorf("RunSink(%+v) accepted", c)
		}
	}
}

func TestSinkSearch(t *testing.T) {
	r, err := RunSink(t.Context(), SinkConfig{Listen: "127.0.0.1:0", Self: true, Duration: 400 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Trials) == 0 {
		t.Fatal("no trials")
	}
	found := false
	for i, tr := range r.Trials {
		if tr.Senders != i+1 || tr.Received > tr.Sent || tr.Sent == 0 {
			t.Errorf("trial %d: %+v", i, tr)
		}
		// Only the last trial may be the one that lost too much.
		if i < len(r.Trials)-1 && tr.LossPct > sinkMaxLossPct {
			t.Errorf("trial %d lost %.3f%% but the search went on", i, tr.LossPct)
		}
		if tr.Senders == r.Senders && tr.PerS == r.PerS && tr.Received == r.Received {
			found = true
		}
		// The best trial is the fastest lossless one.
		if tr.LossPct <= sinkMaxLossPct && r.LossPct <= sinkMaxLossPct && tr.PerS > r.PerS {
			t.Errorf("trial %d (%.0f/s) beats the reported best (%.0f/s)", i, tr.PerS, r.PerS)
		}
	}
	if !found {
		t.Errorf("the result %+v is none of the trials", r)
	}
}
