package bench

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"
	"strings"
	"time"
)

// NetProfile is what the network does to a simulated host's heartbeats
// (samples are not touched: liveness is what these settings exercise):
// each heartbeat is delayed by a draw from Delay, lost with probability
// LossPct, and in every BurstEvery heartbeats BurstLen in a row are lost.
// A lost heartbeat still takes its conn_seq, as a datagram lost on the
// way does, so the daemon sees the gap. The zero value is a perfect path.
type NetProfile struct {
	Delay      Dist
	LossPct    float64 // 0..100
	BurstLen   int     // heartbeats lost in a row per burst; 0 = no bursts
	BurstEvery int     // heartbeats from one burst's start to the next's (> BurstLen)
}

// Dist is a distribution of delays: none, "normal" (the absolute value of
// a normal draw with standard deviation Scale: a delay is never negative)
// or "uniform" (between 0 and Scale).
type Dist struct {
	Kind  string
	Scale time.Duration
}

// MaxDelay bounds a drawn delay, so a wild draw cannot hold a heartbeat
// for longer than any sane path would.
const MaxDelay = time.Minute

// ParseDist parses "normal:200ms", "uniform:1s" or "" (none).
func ParseDist(s string) (Dist, error) {
	if s == "" || s == "none" {
		return Dist{}, nil
	}
	kind, scale, ok := strings.Cut(s, ":")
	if !ok || (kind != "normal" && kind != "uniform") {
		return Dist{}, fmt.Errorf("delay distribution %q: want normal:DURATION or uniform:DURATION", s)
	}
	d, err := time.ParseDuration(scale)
	if err != nil || d < 0 || d > MaxDelay {
		return Dist{}, fmt.Errorf("delay distribution %q: want a duration between 0 and %s", s, MaxDelay)
	}
	return Dist{Kind: kind, Scale: d}, nil
}

func (d Dist) String() string {
	if d.Kind == "" {
		return "none"
	}
	return d.Kind + ":" + d.Scale.String()
}

// draw returns one delay.
func (d Dist) draw(r *rand.Rand) time.Duration {
	var x float64
	switch d.Kind {
	case "normal":
		x = math.Abs(r.NormFloat64()) * float64(d.Scale)
	case "uniform":
		x = r.Float64() * float64(d.Scale)
	default:
		return 0
	}
	return min(time.Duration(x), MaxDelay)
}

// ParseBurst parses "N/M": N heartbeats lost in a row every M; "" is none.
func ParseBurst(s string) (n, every int, err error) {
	if s == "" {
		return 0, 0, nil
	}
	a, b, ok := strings.Cut(s, "/")
	n, err1 := strconv.Atoi(a)
	every, err2 := strconv.Atoi(b)
	if !ok || err1 != nil || err2 != nil || n < 1 || every <= n || every > 1e6 {
		return 0, 0, fmt.Errorf("burst loss %q: want N/M, N heartbeats lost in a row every M (1 <= N < M <= 1000000)", s)
	}
	return n, every, nil
}

func (p *NetProfile) validate() error {
	var errs []error
	if !(p.LossPct >= 0 && p.LossPct <= 100) {
		errs = append(errs, fmt.Errorf("loss %g%% out of range 0..100", p.LossPct))
	}
	if p.BurstLen < 0 || (p.BurstLen > 0 && p.BurstEvery <= p.BurstLen) {
		errs = append(errs, fmt.Errorf("burst of %d every %d: need 0, or fewer than every", p.BurstLen, p.BurstEvery))
	}
	if p.Delay.Scale < 0 || p.Delay.Scale > MaxDelay {
		errs = append(errs, fmt.Errorf("delay scale %s out of range 0..%s", p.Delay.Scale, MaxDelay))
	}
	return errors.Join(errs...)
}

// lost decides whether heartbeat number n (from 0) of a host is lost. The
// first never is: it registers the host. phase shifts the bursts per
// host, so a lossy fleet does not lose its bursts in lockstep.
func (p *NetProfile) lost(n uint32, phase uint32, r *rand.Rand) bool {
	if n == 0 {
		return false
	}
	if p.BurstLen > 0 && int((n+phase)%uint32(p.BurstEvery)) < p.BurstLen {
		return true
	}
	return p.LossPct > 0 && r.Float64()*100 < p.LossPct
}

// Kill stops one simulated host at an offset from the start of Run: it
// sends nothing more, as an agent killed with SIGKILL does.
type Kill struct {
	Host int           // index from 0 (host name number FirstHost+Host)
	At   time.Duration // after Run's start
}
