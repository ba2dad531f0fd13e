package ingest

import (
	"net/netip"
	"time"

	"github.com/klauspost/compress/s2"

	"github.com/hbd-project/hbd/internal/limits"
	"github.com/hbd-project/hbd/transport/wire"
)

// The [limits] caps the readers apply, before anything is stored or sent
// to a receiver: sample_bytes and keys_per_sample, and hosts_per_source for
// a host the Router does not know yet. The caps that need per-host state
// (plugins, alerts, bytes per host) are the receiver's.

// admitSampleSize reports whether a sample datagram's payload is within
// [limits] sample_bytes once decompressed. It reads the size an s2 block
// declares, so an oversize sample costs no decompression; a block whose
// size cannot be read is left for the decoder to reject.
func (r *reader) admitSampleSize(now time.Time, from netip.AddrPort, h *wire.Header) bool {
	n := len(h.Payload)
	if h.Flags&wire.FlagCompressed != 0 {
		d, err := s2.DecodedLen(h.Payload)
		if err != nil {
			return true
		}
		n = d
	}
	if n <= r.d.Limits.SampleBytes {
		return true
	}
	r.d.Refusals.Refuse(now, limits.SampleBytes, limits.Source{Addr: from.Addr().Unmap(), Host: string(h.Host)},
		"sample refused: larger than [limits] sample_bytes once decompressed",
		"bytes", n, "max", r.d.Limits.SampleBytes, "compressed", h.Flags&wire.FlagCompressed != 0)
	return false
}

// admitSampleKeys reports whether a decoded sample, with n object keys,
// has at most [limits] keys_per_sample. n comes from the wire decoder's
// validating scan (wire.Sample.Keys), so the cap costs no pass of its own.
func (r *reader) admitSampleKeys(now time.Time, m *Sample, n int) bool {
	maxKeys := r.d.Limits.KeysPerSample
	if n <= maxKeys {
		return true
	}
	r.d.Refusals.Refuse(now, limits.KeysPerSample, limits.Source{Addr: m.From.Addr().Unmap(), Host: m.Host},
		"sample refused: more JSON keys than [limits] keys_per_sample",
		"plugin", string(m.Plugin), "keys", n, "max", maxKeys)
	return false
}

// refuseNewHost counts and logs a datagram of a new dynamic host from an
// address that registered as many hosts as hosts_per_source allows.
func (r *reader) refuseNewHost(now time.Time, from netip.AddrPort, host string) {
	r.d.Refusals.Refuse(now, limits.HostsPerSource, limits.Source{Addr: from.Addr().Unmap()},
		"new host refused: its source address registered as many dynamic hosts as [limits] hosts_per_source allows",
		"host", host, "max", r.d.Limits.HostsPerSource)
}
