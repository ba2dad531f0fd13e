package contract

import (
	"slices"

	"github.com/hbd-project/hbd/internal/rejected"
)

// Stats is the answer of GET /api/0/stats: the ingest counters.
type Stats struct {
	Received, Accepted uint64
	Dropped            []Count // by reason, in the order given
	Hosts              int
	SamplesHeld        int64
	AcksSent           uint64
	AcksDropped        uint64
	// RejectedSources are the sources with the most rejected datagrams.
	RejectedSources        []rejected.Source
	RejectedSourcesEvicted uint64
	ReplayInstancesEvicted uint64
}

// Count is one named counter.
type Count struct {
	Name string
	N    uint64
}

// AppendStats appends s as the stats object.
func AppendStats(b []byte, s *Stats) []byte {
	b = slices.Grow(b, 512)
	b = append(b, `{"received":`...)
	b = appendUint(b, s.Received)
	b = append(b, `,"accepted":`...)
	b = appendUint(b, s.Accepted)
	b = append(b, `,"dropped":{`...)
	for i, c := range s.Dropped {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendString(b, c.Name)
		b = append(b, ':')
		b = appendUint(b, c.N)
	}
	b = append(b, `},"hosts":`...)
	b = appendInt(b, s.Hosts)
	b = append(b, `,"samples_held":`...)
	b = appendInt64(b, s.SamplesHeld)
	b = append(b, `,"acks_sent":`...)
	b = appendUint(b, s.AcksSent)
	b = append(b, `,"acks_dropped":`...)
	b = appendUint(b, s.AcksDropped)
	b = append(b, `,"rejected_sources":`...)
	b = AppendRejectedSources(b, s.RejectedSources)
	b = append(b, `,"rejected_sources_evicted":`...)
	b = appendUint(b, s.RejectedSourcesEvicted)
	b = append(b, `,"replay_instances_evicted":`...)
	b = appendUint(b, s.ReplayInstancesEvicted)
	return append(b, '}')
}

// AppendRejectedSources appends srcs as a JSON array of
// {"address", "host", "reason", "count", "last_seen"}; host is null when
// the datagram's header did not parse.
func AppendRejectedSources(b []byte, srcs []rejected.Source) []byte {
	b = append(b, '[')
	for i, src := range srcs {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"address":`...)
		b = appendString(b, src.Addr.String())
		b = append(b, `,"host":`...)
		if src.Host == "" {
			b = append(b, "null"...)
		} else {
			b = appendString(b, src.Host)
		}
		b = append(b, `,"reason":`...)
		b = appendString(b, src.Reason.String())
		b = append(b, `,"count":`...)
		b = appendUint(b, src.Count)
		b = append(b, `,"last_seen":`...)
		b = appendUnixMilli(b, src.LastSeen.UnixMilli())
		b = append(b, '}')
	}
	return append(b, ']')
}
