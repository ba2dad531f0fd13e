package http

import (
	"container/list"
	"math"
	"net/netip"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// maxLimiters bounds the per-client token buckets kept: about 200 bytes
// each, so 16384 clients take ~3 MiB. Past it the least recently seen
// client's bucket is dropped; that client starts again with a full burst,
// which costs at most one burst per eviction, and an attacker needs 16384
// addresses (IPv6 /64s) to cause evictions at all.
const maxLimiters = 16384

// clientLimiters is the per-client-address rate limit of the API: a token
// bucket (golang.org/x/time/rate) per address, in a map bounded by LRU
// eviction. Safe for concurrent use.
type clientLimiters struct {
	limit  rate.Limit
	burst  int
	exempt []netip.Prefix
	max    int
	now    func() time.Time

	mu  sync.Mutex
	m   map[netip.Prefix]*list.Element
	lru *list.List // of *limiterEntry, most recently used first
}

type limiterEntry struct {
	key netip.Prefix
	lim *rate.Limiter
}

func newClientLimiters(perSecond float64, burst int, exempt []netip.Prefix, now func() time.Time) *clientLimiters {
	return &clientLimiters{
		limit: rate.Limit(perSecond), burst: burst, exempt: exempt, max: maxLimiters, now: now,
		m: map[netip.Prefix]*list.Element{}, lru: list.New(),
	}
}

// allow takes one request from addr's bucket. When the bucket is empty it
// returns false and how long until a request would be allowed.
func (c *clientLimiters) allow(addr netip.Addr) (bool, time.Duration) {
	for _, p := range c.exempt {
		if p.Contains(addr) {
			return true, 0
		}
	}
	key := clientKey(addr)
	now := c.now()
	c.mu.Lock()
	defer c.mu.Unlock()
	var lim *rate.Limiter
	if e, ok := c.m[key]; ok {
		c.lru.MoveToFront(e)
		lim = e.Value.(*limiterEntry).lim
	} else {
		if c.lru.Len() >= c.max {
			old := c.lru.Back()
			c.lru.Remove(old)
			delete(c.m, old.Value.(*limiterEntry).key)
		}
		lim = rate.NewLimiter(c.limit, c.burst)
		c.m[key] = c.lru.PushFront(&limiterEntry{key: key, lim: lim})
	}
	if lim.AllowN(now, 1) {
		return true, 0
	}
	missing := 1 - lim.TokensAt(now)
	wait := time.Duration(math.Ceil(missing / float64(c.limit) * float64(time.Second)))
	return false, wait
}

// size returns the number of buckets held.
func (c *clientLimiters) size() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lru.Len()
}
