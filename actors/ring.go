package actors

import (
	"iter"

	"github.com/hbd-project/hbd/internal/samplestore"
)

// sample is one plugin sample: the agent's timestamp and the JSON object it
// sent, as the validated bytes of its datagram. The rings keep it coded
// (samplestore); a sample value is what goes in and what a delta record
// carries.
type sample struct {
	unixNano int64
	data     []byte
}

// ring keeps the last limit samples of one plugin in a samplestore.Ring: the
// keys once, the values coded in one buffer, about a tenth of the JSON's
// size, and each sample given back as the bytes it came with. It allocates
// nothing until its first sample, so a host whose plugins have sent little
// costs little memory. It is owned by one HostActor and not safe for
// concurrent use.
type ring struct {
	name  string // the plugin's
	store samplestore.Ring
	// counted is the store's size as last added to Stats.SamplesBytes.
	counted int
}

func newRing(name string, limit int) *ring {
	return &ring{name: name, store: *samplestore.New(limit)}
}

// insert stores s in time order (s.data is copied) and reports whether it
// was stored. The common case is a sample newer than everything. A sample
// that arrives late (UDP reorders, and a new host's first datagrams may
// overtake each other) is put in its place; one with a timestamp already
// stored (the agent sends each sample to every daemon address) is a
// duplicate and is not stored, nor is one older than everything in a full
// ring (it would be evicted at once). A full ring drops its oldest sample.
func (r *ring) insert(s sample) bool { return r.store.Insert(s.unixNano, s.data) }

// full reports whether the ring holds as many samples as it may: one more
// replaces the oldest.
func (r *ring) full() bool { return r.store.Len() == r.store.Limit() }

// size is the memory the ring's samples take, in bytes.
func (r *ring) size() int { return r.store.Size() }

// len returns how many samples are stored.
func (r *ring) len() int { return r.store.Len() }

// newestTime returns the timestamp of the latest sample; the ring must not
// be empty.
func (r *ring) newestTime() int64 { return r.store.Newest(0) }

// appendNewest appends the JSON of the latest sample to b, without decoding
// the ring; the ring must not be empty.
func (r *ring) appendNewest(b []byte) []byte { return r.store.AppendJSON(b, 0) }

// latest returns the n newest samples (all if n ≥ len), newest first,
// decoding the ring once. The JSON is valid only until the next iteration:
// copy it to keep it.
func (r *ring) latest(n int) iter.Seq2[int64, []byte] { return r.store.Latest(n) }

// all returns every sample, oldest first, decoding the ring once. The JSON
// is valid only until the next iteration: copy it to keep it.
func (r *ring) all() iter.Seq2[int64, []byte] { return r.store.All() }

// sizeDelta returns how much the ring's memory grew (or shrank) since the
// last call, for the hbd_samples_bytes gauge.
func (r *ring) sizeDelta() int64 {
	size := r.store.Size()
	d := size - r.counted
	r.counted = size
	return int64(d)
}
