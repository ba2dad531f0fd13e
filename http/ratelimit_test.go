package http

import (
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeClock is a settable clock for the limiters and log pacing.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock { return &fakeClock{t: time.Unix(1_800_000_000, 0)} }

func (c *fakeClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func TestClientLimitersRate(t *testing.T) {
	t.Parallel()
	clk := newFakeClock()
	c := newClientLimiters(2, 3, []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}, clk.now)
	a := netip.MustParseAddr("192.0.2.7")
	for i := range 3 {
		if ok, _ := c.allow(a); !ok {
			t.Fatalf("request %d within the burst refused", i+1)
		}
	}
	ok, wait := c.allow(a)
	if ok || wait != 500*time.Millisecond {
		t.Fatalf("4th request: allowed %v, wait %s; want refused, 500ms (rate 2/s)", ok, wait)
	}
	clk.advance(500 * time.Millisecond)
	if ok, _ := c.allow(a); !ok {
		t.Error("refused after the wait it was told")
	}
	// Another address has its own bucket; the same IPv6 /64 shares one.
	if ok, _ := c.allow(netip.MustParseAddr("192.0.2.8")); !ok {
		t.Error("a second address was limited by the first's bucket")
	}
	v6a, v6b := netip.MustParseAddr("2001:db8:0:1::1"), netip.MustParseAddr("2001:db8:0:1::2")
	for range 3 {
		c.allow(v6a)
	}
	if ok, _ := c.allow(v6b); ok {
		t.Error("another address in the same /64 escaped the limit")
	}
	// Exempt addresses are never limited and take no map entry.
	before := c.size()
	for range 100 {
		if ok, _ := c.allow(netip.MustParseAddr("127.0.0.1")); !ok {
			t.Fatal("an exempt address was limited")
		}
	}
	if c.size() != before {
		t.Errorf("exempt requests added buckets: %d -> %d", before, c.size())
	}
}

// The map of buckets never grows past its bound; the least recently seen
// client is the one dropped, and it starts again with a full burst.
func TestClientLimitersBound(t *testing.T) {
	t.Parallel()
	clk := newFakeClock()
	c := newClientLimiters(1, 2, nil, clk.now)
	c.max = 8
	addr := func(i int) netip.Addr { return netip.MustParseAddr(fmt.Sprintf("10.0.%d.%d", i/256, i%256)) }
	first := addr(0)
	c.allow(first)
	c.allow(first)
	if ok, _ := c.allow(first); ok {
		t.Fatal("the first client's bucket is not empty after its burst")
	}
	for i := 1; i <= 1000; i++ {
		c.allow(addr(i))
		if n := c.size(); n > c.max {
			t.Fatalf("after %d clients the map holds %d buckets, bound %d", i+1, n, c.max)
		}
	}
	if ok, _ := c.allow(first); !ok {
		t.Error("the evicted client did not start again with a full bucket")
	}
	// Recently used clients stay: touch 999 and 1000, add 6 new ones.
	c.allow(addr(999))
	c.allow(addr(1000))
	if ok, _ := c.allow(addr(1000)); ok {
		t.Fatal("client 1000's bucket (burst 2) should be empty now")
	}
	for i := 2000; i < 2006; i++ {
		c.allow(addr(i))
	}
	if ok, _ := c.allow(addr(1000)); ok {
		t.Error("a recently used client was evicted before older ones")
	}
}

// Refusals are counted every time but logged once a minute per source,
// with how many were not logged in between.
func TestRefusalLogPacing(t *testing.T) {
	t.Parallel()
	log, buf := testLogger()
	clk := newFakeClock()
	r := newRefusals(log, clk.now)
	for range 5 {
		r.refuse(ReasonAuth, "192.0.2.1", "no token")
	}
	r.refuse(ReasonRate, "192.0.2.2", "too fast")
	if got := strings.Count(buf.String(), "refused"); got < 2 {
		t.Fatalf("log:\n%s", buf.String())
	}
	if n := strings.Count(buf.String(), "source=192.0.2.1"); n != 1 {
		t.Errorf("source 192.0.2.1 logged %d times in a minute, want 1", n)
	}
	clk.advance(time.Minute)
	r.refuse(ReasonCSRF, "192.0.2.1", "cross-site")
	if n := strings.Count(buf.String(), "source=192.0.2.1"); n != 2 {
		t.Errorf("source 192.0.2.1 logged %d times after a minute, want 2", n)
	}
	if !strings.Contains(buf.String(), "refused_since_last_line=4") {
		t.Errorf("the second line does not count the 4 unlogged refusals:\n%s", buf.String())
	}
	if r.count(ReasonAuth) != 5 || r.count(ReasonRate) != 1 || r.count(ReasonCSRF) != 1 {
		t.Errorf("counts auth %d rate %d csrf %d, want 5 1 1", r.count(ReasonAuth), r.count(ReasonRate), r.count(ReasonCSRF))
	}
}

// The memory of who was logged is bounded: a flood of distinct sources
// shares one line a minute past the bound.
func TestRefusalLogBounded(t *testing.T) {
	t.Parallel()
	log, buf := testLogger()
	clk := newFakeClock()
	r := newRefusals(log, clk.now)
	for i := range maxLogSources + 500 {
		r.refuse(ReasonRate, fmt.Sprintf("10.%d.%d.%d", i>>16&255, i>>8&255, i&255), "x")
	}
	r.mu.Lock()
	n := len(r.sources)
	r.mu.Unlock()
	if n > maxLogSources+1 {
		t.Errorf("remembers %d sources, bound %d", n, maxLogSources+1)
	}
	if lines := strings.Count(buf.String(), "\n"); lines != maxLogSources+1 {
		t.Errorf("%d log lines, want %d (one per remembered source, one for the rest)", lines, maxLogSources+1)
	}
	if r.count(ReasonRate) != maxLogSources+500 {
		t.Errorf("counted %d, want %d", r.count(ReasonRate), maxLogSources+500)
	}
	// A minute later the old sources are forgotten and new ones are logged.
	clk.advance(time.Minute + time.Second)
	r.refuse(ReasonRate, "192.0.2.99", "x")
	if !strings.Contains(buf.String(), "source=192.0.2.99") {
		t.Error("a new source was not logged after the old ones expired")
	}
}
