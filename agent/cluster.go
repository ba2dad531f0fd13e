package agent

import (
	"fmt"
	"net/netip"
	"time"

	"github.com/hbd-project/hbd/internal/clock"
)

// A servers entry of several members ("a:50003;b:50003;c:50003") is one
// hbd cluster: any member accepts a host's datagrams and hands them to the
// host's owner, so the agent sends each message to one member at a time,
// per address family, instead of multiplying the cluster's traffic by its
// size. It starts with the first member and moves to the next one when
// the member it sends to has left FailoverAfter without an ACK; it stays
// on the new member (a member that comes back is not preferred: going
// back would move the host twice), and after the last member it wraps
// around to the first. The member failed over to gets a heartbeat at once
// and, when the one before it had been answering, only probeAfter to
// answer it: a member that is alive answers in milliseconds, and the
// member before may have gone silent only because the host's owner died
// (its forwards were lost until the survivors took the host over), in
// which case the next member in turn may be the dead one. Waiting
// FailoverAfter on it too would leave the host's daemon without a
// heartbeat for two FailoverAfters, past down_after. Separate entries are independent daemons and each
// gets every message, as before.

// Address families, the index of a cluster's per-family state.
const (
	famV4 = iota
	famV6
	families
)

// familyOf returns the family index of addr.
func familyOf(addr netip.AddrPort) int {
	if addr.Addr().Is4() {
		return famV4
	}
	return famV6
}

func familyName(f int) string {
	if f == famV4 {
		return "IPv4"
	}
	return "IPv6"
}

// cluster is the fail-over state of one servers entry with several
// members. It is guarded by the Agent's mu.
type cluster struct {
	entry     string   // as written in servers
	members   []string // its members, in order
	fam       [families]clusterFamily
	failovers uint64 // fail-overs in all families since start
}

// clusterFamily is which member of a cluster one address family sends to.
type clusterFamily struct {
	active  int       // index into members
	lastAck time.Time // last ACK from the active member, or when it became active
	timer   clock.Timer
	// answered: the active member has sent an ACK since it became
	// active. probing: it has not yet, and the member before it had, so
	// it has only probeAfter to answer.
	answered, probing bool
}

// ClusterStatus is what the agent does with one cluster entry of servers.
type ClusterStatus struct {
	Entry   string
	Members []string
	// Active names the member each family sends to: IPv4, then IPv6;
	// "" when the family has no address of any member.
	Active    [families]string
	Failovers uint64
}

// newClusters returns the fail-over state of every entry of servers
// that has more than one member, by entry.
func newClusters(servers []string, split func(string) []string) map[string]*cluster {
	cs := make(map[string]*cluster)
	for _, e := range servers {
		if m := split(e); len(m) > 1 {
			cs[e] = &cluster{entry: e, members: m}
		}
	}
	return cs
}

// Clusters reports, for every cluster entry of servers, the member each
// address family sends to and how often the agent failed over.
func (a *Agent) Clusters() []ClusterStatus {
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []ClusterStatus
	for _, e := range a.opt.Servers {
		c, ok := a.clusters[e]
		if !ok {
			continue
		}
		st := ClusterStatus{Entry: e, Members: append([]string(nil), c.members...), Failovers: c.failovers}
		for f := range families {
			if a.hasDest(c, f, c.fam[f].active) {
				st.Active[f] = c.members[c.fam[f].active]
			}
		}
		out = append(out, st)
	}
	return out
}

// sending reports whether Run sends to d: d is not part of a cluster, or
// it is an address of the member its family sends to. Called with mu held.
func (a *Agent) sending(d *dest) bool {
	if d.cluster == nil {
		return true
	}
	return d.member == d.cluster.fam[familyOf(d.addr)].active
}

// hasDest reports whether member has an address of family f. Called with
// mu held.
func (a *Agent) hasDest(c *cluster, f, member int) bool {
	for _, d := range a.dests {
		if d.cluster == c && d.member == member && familyOf(d.addr) == f {
			return true
		}
	}
	return false
}

// nextMember returns the member after from, wrapping around, that has an
// address of family f; from itself if no other has one. Called with mu
// held.
func (a *Agent) nextMember(c *cluster, f, from int) int {
	for i := 1; i < len(c.members); i++ {
		m := (from + i) % len(c.members)
		if a.hasDest(c, f, m) {
			return m
		}
	}
	return from
}

// settleClusters moves a family whose member has no address of that
// family now (not resolved, or no socket for it) to the next member that
// has one. Called with mu held, after the dests changed.
func (a *Agent) settleClusters(now time.Time) {
	for _, c := range a.clusters {
		for f := range families {
			fs := &c.fam[f]
			if a.hasDest(c, f, fs.active) {
				continue
			}
			if m := a.nextMember(c, f, fs.active); m != fs.active && a.hasDest(c, f, m) {
				a.log.Info(fmt.Sprintf("cluster member %s has no %s address; sending to %s", c.members[fs.active], familyName(f), c.members[m]),
					"cluster", c.entry)
				fs.active, fs.lastAck = m, now
				fs.answered, fs.probing = false, false
			}
		}
	}
}

// clusterAcked notes an ACK from d's member. Called with mu held.
func (a *Agent) clusterAcked(d *dest, now time.Time) {
	if d.cluster == nil {
		return
	}
	if fs := &d.cluster.fam[familyOf(d.addr)]; fs.active == d.member {
		fs.lastAck = now
		fs.answered, fs.probing = true, false
	}
}

// startFailover arms the fail-over timer of every cluster and family:
// from now on, the member each sends to has FailoverAfter to answer.
func (a *Agent) startFailover() {
	a.mu.Lock()
	defer a.mu.Unlock()
	now := a.opt.Clock.Now()
	a.failStopped = false
	for _, c := range a.clusters {
		for f := range families {
			c.fam[f].lastAck = now
			c.fam[f].answered, c.fam[f].probing = false, false
			a.armFailover(c, f, a.opt.FailoverAfter)
		}
	}
}

// stopFailover stops the fail-over timers; it waits for a fail-over in
// progress, so nothing is sent by them after it returns.
func (a *Agent) stopFailover() {
	a.failMu.Lock()
	defer a.failMu.Unlock()
	a.mu.Lock()
	defer a.mu.Unlock()
	a.failStopped = true
	for _, c := range a.clusters {
		for f := range families {
			if t := c.fam[f].timer; t != nil {
				t.Stop()
			}
		}
	}
}

// armFailover sets family f's timer to fire after d. Called with mu held.
func (a *Agent) armFailover(c *cluster, f int, d time.Duration) {
	c.fam[f].timer = a.opt.Clock.AfterFunc(d, func() { a.checkFailover(c, f) })
}

// checkFailover runs when the member family f of c sends to may have
// been silent for FailoverAfter: if it has, the family moves to the next
// member, which gets a heartbeat at once. The timer is armed again for
// the moment the (new) member's time is up.
func (a *Agent) checkFailover(c *cluster, f int) {
	a.failMu.Lock()
	defer a.failMu.Unlock()
	a.mu.Lock()
	if a.failStopped {
		a.mu.Unlock()
		return
	}
	now := a.opt.Clock.Now()
	fs := &c.fam[f]
	var moved []*dest
	if now.Sub(fs.lastAck) >= a.failoverPeriod(fs) && a.hasDest(c, f, fs.active) {
		moved = a.failover(c, f, now)
	}
	period := a.failoverPeriod(fs)
	next := fs.lastAck.Add(period).Sub(now)
	if next <= 0 {
		next = period // this family has no address now; look again later
	}
	a.armFailover(c, f, next)
	a.mu.Unlock()
	for _, d := range moved {
		_ = a.heartbeatTo(d) // logged by sendTo; the next interval tries again
	}
}

// probeAfter is how long a member failed over to, after one that had been
// answering, has to answer the heartbeat it got at once: half an interval,
// at least a second, at most FailoverAfter.
func (a *Agent) probeAfter() time.Duration {
	return min(a.opt.FailoverAfter, max(a.opt.Interval/2, time.Second))
}

// failoverPeriod is how long fs's member may go without an ACK. Called
// with mu held.
func (a *Agent) failoverPeriod(fs *clusterFamily) time.Duration {
	if fs.probing {
		return a.probeAfter()
	}
	return a.opt.FailoverAfter
}

// failover moves family f of c from its silent member to the next one and
// returns the new member's addresses of that family. With no other member
// to go to it stays, and the ACK watch warns about the silence. Called
// with mu held.
func (a *Agent) failover(c *cluster, f int, now time.Time) (moved []*dest) {
	fs := &c.fam[f]
	silent := now.Sub(fs.lastAck)
	from := fs.active
	to := a.nextMember(c, f, from)
	fs.lastAck = now
	fs.probing, fs.answered = fs.answered, false
	if to == from {
		fs.probing = false
		return nil
	}
	fs.active = to
	c.failovers++
	for _, d := range a.dests {
		switch {
		case d.cluster != c || familyOf(d.addr) != f:
		case d.member == from:
			// No longer sent to: its silence is the fail-over's, not
			// an outage to warn about if it becomes active again.
			d.watch = ackWatch{}
			clear(d.pending)
		case d.member == to:
			moved = append(moved, d)
		}
	}
	a.log.Warn(fmt.Sprintf("no ACK from cluster member %s over %s for %s: failing over to %s", c.members[from], familyName(f), roundDuration(silent), c.members[to]),
		"cluster", c.entry, "from", c.members[from], "to", c.members[to], "family", familyName(f), "failovers", c.failovers)
	return moved
}
