package actors

import (
	"net/netip"
	"time"

	"github.com/hbd-project/hbd/internal/limits"
	"github.com/hbd-project/hbd/internal/statefile"
	"github.com/hbd-project/hbd/transport/ingest"
)

// The [limits] caps, where the pipeline applies them: sample size and keys
// in the UDP readers (transport/ingest, before anything is stored or sent
// to an actor), hosts per source address in the registry (and, for a source
// already full, in the readers through ingestRouter.SourceFull), plugins and
// alerts per host in the HostActor that owns them. Silences are capped in
// silence.Store.Add.

// sourceFull reports whether addr may register no more dynamic hosts.
func (r *Registry) sourceFull(addr netip.Addr) bool {
	_, full := r.full.Load(addr.Unmap())
	return full
}

// admitHost reports whether the dynamic host m announces may be
// registered: its source address has registered fewer than
// hosts_per_source hosts. Admitting counts it.
func (a *registryActor) admitHost(m *ingest.Header) bool {
	lim := a.env.limits
	if lim == nil || lim.HostsPerSource == limits.Off {
		return true
	}
	addr := m.From.Addr().Unmap()
	if a.perSource[addr] >= lim.HostsPerSource {
		// A reader that had not yet seen the address as full.
		a.env.refusals.Refuse(m.Recv, limits.HostsPerSource, limits.Source{Addr: addr},
			"new host refused: its source address registered as many dynamic hosts as [limits] hosts_per_source allows",
			"host", m.Host, "max", lim.HostsPerSource)
		return false
	}
	a.countSource(addr)
	return true
}

// countRestored counts a restored dynamic host against the address it last
// reported from, so a restart does not reset hosts_per_source.
func (a *registryActor) countRestored(recs []*statefile.Record) {
	if len(recs) == 0 {
		return
	}
	h := &recs[len(recs)-1].Host
	if len(h.Conns) == 0 || !h.Conns[0].Addr.IsValid() {
		return
	}
	a.countSource(h.Conns[0].Addr.Addr().Unmap())
}

func (a *registryActor) countSource(addr netip.Addr) {
	lim := a.env.limits
	if lim == nil || lim.HostsPerSource == limits.Off {
		return
	}
	if a.perSource == nil {
		a.perSource = make(map[netip.Addr]int)
	}
	a.perSource[addr]++
	if a.perSource[addr] >= lim.HostsPerSource {
		a.reg.full.Store(addr, struct{}{})
	}
}

// admitSample reports whether m's sample may be stored: a new plugin only
// below plugins_per_host, and any sample only if the host's rings (their
// coded size) stay within bytes_per_host.
func (a *hostActor) admitSample(m *ingest.Sample) bool {
	lim := a.env.limits
	if lim == nil {
		return true
	}
	r := a.plugins[string(m.Plugin)]
	if r == nil && len(a.plugins) >= lim.PluginsPerHost {
		a.env.refusals.Refuse(m.Recv, limits.PluginsPerHost, limits.Source{Host: a.st.name},
			"sample of a new plugin refused: the host reports as many plugins as [limits] plugins_per_host allows",
			"plugin", string(m.Plugin), "max", lim.PluginsPerHost)
		return false
	}
	// The ring's coded size after the insert is not known before it; the
	// sample's JSON bounds what it can add. A full ring replaces its oldest
	// sample, so a host at the cap keeps updating what it has, until its
	// rings have grown past the cap that way.
	grows := r == nil || !r.full() || a.sampleBytes > lim.BytesPerHost
	if grows && a.sampleBytes+len(m.Data) > lim.BytesPerHost {
		a.env.refusals.Refuse(m.Recv, limits.BytesPerHost, limits.Source{Host: a.st.name},
			"sample refused: the host's samples would take more memory than [limits] bytes_per_host allows",
			"plugin", string(m.Plugin), "bytes", len(m.Data), "held", a.sampleBytes, "max", lim.BytesPerHost)
		return false
	}
	return true
}

// admitAlert reports whether a new metric path may be tracked as an alert:
// a path that is valid (see limits.Config.CheckMetricPath), on a host
// tracking fewer than alerts_per_host paths.
func (a *hostActor) admitAlert(now time.Time, path string) bool {
	lim := a.env.limits
	if lim == nil {
		return true
	}
	if l, ok := lim.CheckMetricPath(path); !ok {
		msg := "metric path refused: a sample key has control characters or invalid UTF-8"
		if l == limits.MetricPathLength {
			msg = "metric path refused: longer than [limits] metric_path_length"
		}
		a.env.refusals.Refuse(now, l, limits.Source{Host: a.st.name}, msg,
			"path", limits.Snippet(path), "bytes", len(path), "max", lim.MetricPathLength)
		return false
	}
	if a.alerts.len() >= lim.AlertsPerHost {
		a.env.refusals.Refuse(now, limits.AlertsPerHost, limits.Source{Host: a.st.name},
			"alert not tracked: the host tracks as many metric paths as [limits] alerts_per_host allows",
			"path", limits.Snippet(path), "max", lim.AlertsPerHost)
		return false
	}
	return true
}
