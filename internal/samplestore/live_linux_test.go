package samplestore

import (
	"context"
	"testing"
	"time"

	"github.com/hbd-project/hbd/agent/plugins"
)

// TestGoldenLiveCollectors stores what the agent's collectors report on the
// machine the test runs on, as the daemon would receive it, and checks it
// comes back byte for byte.
func TestGoldenLiveCollectors(t *testing.T) {
	ctx := context.Background()
	for _, c := range []plugins.Collector{plugins.NewCPU(), plugins.NewMemory(), plugins.NewDisk(), plugins.NewNetwork()} {
		r := New(100)
		m := &model{limit: 100}
		ts := time.Now().UnixNano()
		// The second and later samples carry rates the first has not.
		for i := range 4 {
			data, err := c.Collect(ctx)
			if err != nil {
				t.Fatalf("%s Collect %d: %v", c.Name(), i+1, err)
			}
			ts += 10_000_000_000 + int64(i)*1_234_567
			if !r.Insert(ts, data) || !m.insert(ts, data) {
				t.Fatalf("%s: sample %d not stored", c.Name(), i+1)
			}
			checkRing(t, r, m)
		}
	}
}
