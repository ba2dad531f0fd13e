package http

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/hbd-project/hbd/internal/contract"
)

// connLimiter caps the open TCP connections of every listener together and
// of each client address, and keeps a listener serving when accept fails.
//
// Without it, idle connections exhaust the process's file descriptors;
// accept then fails with EMFILE, which fasthttp treats as permanent, and
// the daemon stopped. Now a connection over a cap is accepted and closed at
// once (with a 503 or 429 on plain-HTTP listeners, so a client sees why),
// and the total cap leaves descriptors for the journal, the state files
// and the notifiers. Should accept fail anyway (descriptors taken by
// something else), the listener waits and retries, 5 ms doubling to 1 s,
// and logs once a minute; it never returns the error.
//
// Connections upgraded to WebSocket stay counted until they close, since
// the count is released by the connection's Close, whoever calls it.
//
// The map of per-address counts holds only addresses with an open
// connection, so it is bounded by the total cap.
type connLimiter struct {
	max   int // total; 0 = no cap
	perIP int // per client address; 0 = no cap
	ref   *refusals
	log   *slog.Logger
	// sleep waits d or until done is closed (false then); tests replace it.
	sleep func(d time.Duration, done <-chan struct{}) bool

	mu    sync.Mutex
	total int
	byIP  map[netip.Prefix]int

	lmu       sync.Mutex
	listeners map[string]*listenerStats // by name: "api", "ws", "wss"
}

type listenerStats struct {
	open      atomic.Int64
	acceptErr atomic.Uint64
	lastLog   atomic.Int64 // unix nanoseconds of the last accept-error line
}

// Accept backoff bounds, as net/http's Server uses.
const (
	acceptBackoffMin = 5 * time.Millisecond
	acceptBackoffMax = time.Second
)

func newConnLimiter(maxConns, perIP int, ref *refusals, log *slog.Logger) *connLimiter {
	return &connLimiter{
		max: maxConns, perIP: perIP, ref: ref, log: log,
		sleep:     sleepOrDone,
		byIP:      map[netip.Prefix]int{},
		listeners: map[string]*listenerStats{},
	}
}

func sleepOrDone(d time.Duration, done <-chan struct{}) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-done:
		return false
	}
}

func (l *connLimiter) stats(name string) *listenerStats {
	l.lmu.Lock()
	defer l.lmu.Unlock()
	st := l.listeners[name]
	if st == nil {
		st = &listenerStats{}
		l.listeners[name] = st
	}
	return st
}

// wrap limits ln. plainHTTP says whether a refused connection may be
// answered with an HTTP status line (not on a TLS listener, where the
// client expects a handshake). name labels the listener's metrics.
func (l *connLimiter) wrap(name string, ln net.Listener, plainHTTP bool) net.Listener {
	return &limitListener{Listener: ln, lim: l, name: name, st: l.stats(name), plain: plainHTTP, done: make(chan struct{})}
}

// admit takes a slot for a connection from addr, or says which cap is
// full. release must be called exactly once.
func (l *connLimiter) admit(addr netip.Addr) (release func(), reason string) {
	key := clientKey(addr)
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.max > 0 && l.total >= l.max {
		return nil, ReasonConnLimit
	}
	if l.perIP > 0 && addr.IsValid() && l.byIP[key] >= l.perIP {
		return nil, ReasonPerIPLimit
	}
	l.total++
	if addr.IsValid() {
		l.byIP[key]++
	}
	return func() {
		l.mu.Lock()
		defer l.mu.Unlock()
		l.total--
		if addr.IsValid() {
			if n := l.byIP[key] - 1; n > 0 {
				l.byIP[key] = n
			} else {
				delete(l.byIP, key)
			}
		}
	}, ""
}

// open returns the connections open now, over every listener.
func (l *connLimiter) open() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.total
}

// limitListener is one listener under a connLimiter.
type limitListener struct {
	net.Listener
	lim   *connLimiter
	name  string
	st    *listenerStats
	plain bool

	closeOnce sync.Once
	done      chan struct{}
}

// Accept returns the next connection within the caps. It returns an error
// only once the listener is closed.
func (ll *limitListener) Accept() (net.Conn, error) {
	backoff := time.Duration(0)
	for {
		c, err := ll.Listener.Accept()
		if err != nil {
			select {
			case <-ll.done:
				return nil, net.ErrClosed
			default:
			}
			if errors.Is(err, net.ErrClosed) {
				return nil, err
			}
			backoff = min(max(2*backoff, acceptBackoffMin), acceptBackoffMax)
			ll.acceptFailed(err, backoff)
			if !ll.lim.sleep(backoff, ll.done) {
				return nil, net.ErrClosed
			}
			continue
		}
		backoff = 0
		addr := addrOf(c.RemoteAddr())
		release, reason := ll.lim.admit(addr)
		if reason != "" {
			ll.refuse(c, addr, reason)
			continue
		}
		ll.st.open.Add(1)
		return &limitedConn{Conn: c, release: func() { ll.st.open.Add(-1); release() }}, nil
	}
}

// Close stops Accept, also while it waits to retry.
func (ll *limitListener) Close() error {
	ll.closeOnce.Do(func() { close(ll.done) })
	return ll.Listener.Close()
}

func (ll *limitListener) acceptFailed(err error, backoff time.Duration) {
	n := ll.st.acceptErr.Add(1)
	now := time.Now().UnixNano()
	last := ll.st.lastLog.Load()
	if last != 0 && time.Duration(now-last) < logEvery {
		return
	}
	if !ll.st.lastLog.CompareAndSwap(last, now) {
		return
	}
	ll.lim.log.Error("cannot accept connections; still serving the open ones and retrying (UDP ingest is not affected)",
		"listener", ll.name, "err", err, "retry_in", backoff.String(), "accept_errors_total", n, "next_line_in", logEvery.String())
}

// refuse closes a connection over a cap, after a short HTTP answer on a
// plain listener. The answer fits the socket buffer of a new connection,
// so the write does not block the accept loop; the deadline is a guard.
func (ll *limitListener) refuse(c net.Conn, addr netip.Addr, reason string) {
	src := sourceName(addr)
	var status int
	var msg string
	if reason == ReasonConnLimit {
		status, msg = 503, fmt.Sprintf("too many connections: the daemon is at its limit of %d (api max_conns)", ll.lim.max)
		ll.lim.ref.refuse(reason, src, fmt.Sprintf("%s listener: every listener together is at max_conns = %d", ll.name, ll.lim.max))
	} else {
		status, msg = 429, fmt.Sprintf("too many connections from %s: at most %d (api max_conns_per_ip)", src, ll.lim.perIP)
		ll.lim.ref.refuse(reason, src, fmt.Sprintf("%s listener: the address is at max_conns_per_ip = %d", ll.name, ll.lim.perIP))
	}
	if ll.plain {
		body := contract.ErrorBody(msg)
		_ = c.SetWriteDeadline(time.Now().Add(100 * time.Millisecond))
		_, _ = fmt.Fprintf(c, "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\nConnection: close\r\nRetry-After: 1\r\n\r\n%s",
			status, statusText(status), len(body), body)
	}
	_ = c.Close()
}

func statusText(status int) string {
	if status == 503 {
		return "Service Unavailable"
	}
	return "Too Many Requests"
}

// limitedConn releases its slot when closed, once.
type limitedConn struct {
	net.Conn
	release func()
	once    sync.Once
}

func (c *limitedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}

// sourceName is how a client address appears in logs and messages: the
// address for IPv4, the /64 for IPv6 (the unit the limits count in).
func sourceName(a netip.Addr) string {
	if !a.IsValid() {
		return "unknown"
	}
	if a.Is4() {
		return a.String()
	}
	return clientKey(a).String()
}

var (
	descConns      = prometheus.NewDesc("hbd_http_connections", "Open TCP connections, by listener (api, ws, wss); upgraded WebSocket connections included.", []string{"listener"}, nil)
	descConnsMax   = prometheus.NewDesc("hbd_http_connections_limit", "The cap on open TCP connections of all listeners together ([api] max_conns, or 3/4 of the fd limit); 0 = none.", nil, nil)
	descAcceptErrs = prometheus.NewDesc("hbd_http_accept_errors_total", "Failed accepts (for example EMFILE: out of file descriptors), by listener; each is retried after a backoff.", []string{"listener"}, nil)
)

func (l *connLimiter) describe(ch chan<- *prometheus.Desc) {
	ch <- descConns
	ch <- descConnsMax
	ch <- descAcceptErrs
}

func (l *connLimiter) collect(ch chan<- prometheus.Metric) {
	l.lmu.Lock()
	defer l.lmu.Unlock()
	for name, st := range l.listeners {
		ch <- prometheus.MustNewConstMetric(descConns, prometheus.GaugeValue, float64(st.open.Load()), name)
		ch <- prometheus.MustNewConstMetric(descAcceptErrs, prometheus.CounterValue, float64(st.acceptErr.Load()), name)
	}
	ch <- prometheus.MustNewConstMetric(descConnsMax, prometheus.GaugeValue, float64(l.max))
}
