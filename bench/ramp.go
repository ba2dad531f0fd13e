package bench

import "fmt"

// DefaultMaxLossPct is the ramp's loss limit per step, in percent: a step
// that loses more than 0.1 % of its datagrams ends the ramp.
const DefaultMaxLossPct = 0.1

// minOfferedFraction: a step whose measured offered rate falls below this
// share of its target shows that the harness, not the daemon, ran out of
// capacity; the ramp stops there rather than report a daemon limit it
// never reached.
const minOfferedFraction = 0.95

// StepResult is one step of a ramp. Offered and Accepted cover the step
// and the settle pause after it, so every datagram sent in the window has
// had time to be counted by the daemon.
type StepResult struct {
	TargetPerS     float64 `json:"target_per_s"`      // sample datagrams/s asked of the generator
	OfferedPerS    float64 `json:"offered_per_s"`     // all datagrams sent during the step, per second
	AcceptedPerS   float64 `json:"accepted_per_s"`    // OfferedPerS × (1 − loss): the rate the daemon kept up with
	Offered        uint64  `json:"offered"`           // datagrams sent in the window
	Accepted       float64 `json:"accepted"`          // daemon's accepted delta over the window
	LossPct        float64 `json:"loss_pct"`          // LossPct(Offered, Accepted)
	CPUSPerMillion float64 `json:"cpu_s_per_million"` // daemon CPU-seconds per million accepted
}

// RampVerdict decides what a step means for the ramp: whether it was
// lossless (loss at most maxLossPct), whether the ramp stops after it, and
// why. The rules, in order:
//
//   - nothing offered: stop, not lossless (the harness cannot send);
//   - loss above maxLossPct: stop, not lossless: the previous step is the
//     daemon's highest lossless rate;
//   - offered below 95 % of the target: lossless but stop: the harness has
//     reached its own limit, so the result is a lower bound;
//   - otherwise lossless, go on.
func RampVerdict(s StepResult, maxLossPct float64) (lossless, stop bool, reason string) {
	switch {
	case s.Offered == 0:
		return false, true, "the harness sent nothing in the step"
	case s.LossPct > maxLossPct:
		return false, true, fmt.Sprintf("loss %.3f%% at %.0f datagrams/s exceeds %.3f%%", s.LossPct, s.OfferedPerS, maxLossPct)
	case s.OfferedPerS < minOfferedFraction*s.TargetPerS:
		return true, true, fmt.Sprintf("the harness offered only %.0f of %.0f datagrams/s: the daemon's limit is above what this harness can send", s.OfferedPerS, s.TargetPerS)
	}
	return true, false, ""
}
