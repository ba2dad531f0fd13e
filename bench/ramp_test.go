package bench

import (
	"strings"
	"testing"
)

func TestRampVerdict(t *testing.T) {
	step := func(target, offeredPerS float64, offered uint64, accepted float64) StepResult {
		return StepResult{TargetPerS: target, OfferedPerS: offeredPerS, Offered: offered, Accepted: accepted,
			LossPct: LossPct(float64(offered), accepted)}
	}
	tests := []struct {
		name         string
		s            StepResult
		lossless     bool
		stop         bool
		reasonPrefix string
	}{
		{"no loss", step(50000, 50000, 550000, 550000), true, false, ""},
		{"loss exactly at the limit", step(50000, 50000, 1000000, 999000), true, false, ""},
		{"loss just above the limit", step(50000, 50000, 1000000, 998999), false, true, "loss"},
		{"heavy loss", step(200000, 200000, 2000000, 1500000), false, true, "loss"},
		{"more accepted than offered", step(50000, 50000, 1000, 1100), true, false, ""},
		{"harness short of target", step(300000, 250000, 2500000, 2500000), true, true, "the harness offered only"},
		{"harness at 95 % is enough", step(100000, 95000, 950000, 950000), true, false, ""},
		{"harness short and lossy: loss wins", step(300000, 250000, 2500000, 2000000), false, true, "loss"},
		{"nothing sent", step(50000, 0, 0, 0), false, true, "the harness sent nothing"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			lossless, stop, reason := RampVerdict(tt.s, DefaultMaxLossPct)
			if lossless != tt.lossless || stop != tt.stop || !strings.HasPrefix(reason, tt.reasonPrefix) {
				t.Errorf("RampVerdict(%+v) = %v, %v, %q; want %v, %v, %q...", tt.s, lossless, stop, reason, tt.lossless, tt.stop, tt.reasonPrefix)
			}
			if !stop && reason != "" {
				t.Errorf("a reason (%q) without a stop", reason)
			}
		})
	}
}
