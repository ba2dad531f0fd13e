package actors

import (
	"hash/maphash"
	"log/slog"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/hbd-project/hbd/internal/statefile"
	"github.com/hbd-project/hbd/transport/ingest"
)

// Registry maps host names to their HostActors. Lookup is safe from any
// goroutine. The UDP readers cache what it returns (transport/ingest), so
// it is asked on a reader's first datagram of a host and by the API's
// per-host routes, not per datagram. Only the registry actor writes to it,
// so a host is spawned exactly once.
//
// Plain maps in shards, each behind a read-write lock: an entry costs
// some 40 bytes where a sync.Map's cost 120 (an indirect node, an entry
// node and the key boxed), and the shards keep the writer from holding up
// many readers.
type Registry struct {
	shards [registryShards]registryShard
	count  atomic.Int64
	pid    *actor.PID
	// full holds the source addresses that registered as many dynamic
	// hosts as [limits] hosts_per_source allows (netip.Addr -> struct{}),
	// so the readers refuse their new hosts without asking the registry
	// actor. Written only by the registry actor.
	full sync.Map
}

// registryShards is how many shards the Registry's map is split in.
const registryShards = 64

type registryShard struct {
	mu    sync.RWMutex
	hosts map[string]*actor.PID
	_     [32]byte // pads a shard to 64 bytes, a cache line of its own
}

var registrySeed = maphash.MakeSeed()

func (r *Registry) shard(name string) *registryShard {
	return &r.shards[maphash.String(registrySeed, name)%registryShards]
}

// Lookup returns the HostActor of the named host.
func (r *Registry) Lookup(name string) (*actor.PID, bool) {
	sh := r.shard(name)
	sh.mu.RLock()
	pid, ok := sh.hosts[name]
	sh.mu.RUnlock()
	return pid, ok
}

// store registers the named host's HostActor.
func (r *Registry) store(name string, pid *actor.PID) {
	sh := r.shard(name)
	sh.mu.Lock()
	if sh.hosts == nil {
		sh.hosts = make(map[string]*actor.PID)
	}
	sh.hosts[name] = pid
	sh.mu.Unlock()
}

// PIDs returns every registered HostActor.
func (r *Registry) PIDs() []*actor.PID {
	out := make([]*actor.PID, 0, r.Len())
	for i := range r.shards {
		sh := &r.shards[i]
		sh.mu.RLock()
		for _, pid := range sh.hosts {
			out = append(out, pid)
		}
		sh.mu.RUnlock()
	}
	return out
}

// Len returns the number of registered hosts.
func (r *Registry) Len() int { return int(r.count.Load()) }

// registryActor spawns HostActors: the declared ones at start, dynamic ones
// on their first valid datagram. It is their parent and supervisor.
type registryActor struct {
	reg     *Registry
	env     *hostEnv
	watch   map[string]bool
	dynamic bool
	log     *slog.Logger
	// restore are the hosts read back from the state files, spawned
	// first; openedAt is when the UDP sockets opened (see hostActor.restore).
	restore  []statefile.HostRecords
	openedAt time.Time
	// restored receives the HostActors spawned at start once they are.
	restored chan<- spawnedAtStart
	// perSource counts the dynamic hosts each source address registered
	// (see admitHost); nil until the first.
	perSource map[netip.Addr]int
	// owns says whether this cluster member owns a host; nil on a single
	// node. A member spawns only the declared hosts it owns: the others
	// are their owners' (and UNKNOWN there until they report).
	owns func(host string) bool
}

// declared reports whether the registry spawns a declared host itself.
func (a *registryActor) declared(name string) bool {
	return a.owns == nil || a.owns(name)
}

// spawnedAtStart are the HostActors the registry spawns as it starts, all
// with their liveness paused until the resume step: the restored hosts,
// and the declared hosts not in the saved state.
type spawnedAtStart struct {
	restored, declared []*actor.PID
}

func (a *registryActor) Receive(ctx actor.Context) {
	a.env.stats.registryMsgs.Add(1)
	switch m := ctx.Message().(type) {
	case *actor.Started:
		var restored []*actor.PID
		elsewhere := 0
		for i := range a.restore {
			hr := &a.restore[i]
			if !a.watch[hr.Name] && !a.dynamic {
				a.log.Warn("host in the saved state is no longer declared and accept_dynamic is off; dropped", "host", hr.Name)
				continue
			}
			if !a.declared(hr.Name) {
				// Another member owns it now and has its state (its
				// replica, or a hand-over): a copy here would turn DOWN
				// for want of datagrams and page.
				elsewhere++
				continue
			}
			// The records are applied in the actor's Started, on the
			// pool's workers, so restoring a large fleet uses every core
			// rather than the registry's one goroutine.
			h := newHostActor(a.env, hr.Name, !a.watch[hr.Name])
			h.saved = &savedHost{recs: hr.Records, openedAt: a.openedAt}
			h.restored, h.frozen = true, true
			pid := a.env.spawner.spawn(ctx, h)
			a.env.stats.HostsRegistered.Add(1)
			if !a.watch[hr.Name] {
				a.countRestored(hr.Records)
			}
			a.publish(hr.Name, pid)
			restored = append(restored, pid)
		}
		a.restore = nil // the records now live in the actors
		if elsewhere > 0 {
			a.log.Info("cluster: hosts in the saved state owned by other members now; left to them", "hosts", elsewhere)
		}
		// Declared hosts never heard from wait, like the restored ones,
		// for the resume step: they are expected from then (ingest
		// starts right after it), not from whenever their actors happen
		// to start, nor while a long restore runs.
		var declared []*actor.PID
		for name := range a.watch {
			if _, ok := a.reg.Lookup(name); !ok && a.declared(name) {
				pid := a.spawnDeclared(ctx, name, true, time.Time{})
				a.publish(name, pid)
				declared = append(declared, pid)
			}
		}
		if a.restored != nil {
			a.restored <- spawnedAtStart{restored: restored, declared: declared}
		}
	case *setWatch:
		// A reload: hosts newly declared are expected from now on.
		a.watch = m.watch
		now := a.env.clock.Now()
		for name := range a.watch {
			if _, ok := a.reg.Lookup(name); !ok && a.declared(name) {
				a.publish(name, a.spawnDeclared(ctx, name, false, now))
			}
		}
		close(m.done)
	case *barrier:
		close(m.done)
	case *adoptHosts:
		a.adopt(ctx, m)
	case *releaseHosts:
		a.release(ctx, m)
	case *ingest.Heartbeat, *ingest.Boot, *ingest.Shutdown, *ingest.Sample, *ingest.Silence, *ingest.Parents:
		// Taken here; handed on to a HostActor, it waits again.
		a.env.stats.Taken()
		a.route(ctx, m.(ingest.Message))
	default:
		unexpected("registry", ctx.Message())
	}
}

// route hands a message of a host the readers did not find to its
// HostActor, spawning it first if the host may be registered.
func (a *registryActor) route(ctx actor.Context, m ingest.Message) {
	h := m.Head()
	pid, ok := a.reg.Lookup(h.Host)
	if !ok {
		if !a.watch[h.Host] && !a.dynamic {
			// The readers check this before routing; this is the backstop.
			return
		}
		if !a.watch[h.Host] && !a.admitHost(h) {
			return
		}
		// Send before publishing the PID, so a reader that finds it
		// cannot overtake this first message.
		pid = a.spawn(ctx, h.Host, !a.watch[h.Host])
		a.env.stats.Backlog.Add(1)
		ctx.Send(pid, m)
		a.publish(h.Host, pid)
		return
	}
	a.env.stats.Backlog.Add(1)
	ctx.Send(pid, m)
}

func (a *registryActor) spawn(ctx actor.Context, name string, dyn bool) *actor.PID {
	return a.spawnActor(ctx, newHostActor(a.env, name, dyn))
}

// spawnActor spawns h and counts it.
func (a *registryActor) spawnActor(ctx actor.Context, h *hostActor) *actor.PID {
	pid := a.env.spawner.spawn(ctx, h)
	a.env.stats.HostsRegistered.Add(1)
	return pid
}

// spawnDeclared spawns the HostActor of a declared host that has not
// reported: expected since since, or, frozen, from its resume.
func (a *registryActor) spawnDeclared(ctx actor.Context, name string, frozen bool, since time.Time) *actor.PID {
	h := newHostActor(a.env, name, false)
	h.st.expectSince, h.frozen = since, frozen
	return a.spawnActor(ctx, h)
}

func (a *registryActor) publish(name string, pid *actor.PID) {
	a.reg.store(name, pid)
	a.reg.count.Add(1)
}

// resumeHosts is the HostActors' supervisor strategy. A panic in one host's
// message must not erase that host's history, which a Restart would do: the
// actor is resumed with its state and the failure is logged.
func resumeHosts(log *slog.Logger) actor.SupervisorStrategy {
	return actor.NewOneForOneStrategy(100, time.Minute, func(reason any) actor.Directive {
		log.Error("host actor failed; resuming with its state", "reason", reason)
		return actor.ResumeDirective
	})
}
