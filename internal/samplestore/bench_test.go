package samplestore

import (
	"fmt"
	"math"
	"math/bits"
	"runtime"
	"runtime/debug"
	"strconv"
	"testing"
)

// benchRings returns hbd-bench's four plugins of one host: each ring's 100
// samples, oldest first.
func benchRings(tb testing.TB) [][]fixture {
	names, rings := byRing(loadFixtures(tb, "bench_mix.txt.gz"))
	out := make([][]fixture, 4)
	for i := range out {
		out[i] = rings[names[i]]
	}
	return out
}

// fill stores the samples of fs in r, round times over, each round later
// than the one before (by 100 intervals).
func fill(r *Ring, fs []fixture, round int) {
	for _, f := range fs {
		r.Insert(f.unixNano+int64(round)*100*31_000_000_000, f.data)
	}
}

// BenchmarkInsert stores the four plugins' samples in turn in full rings
// of 100, as the daemon does once its rings are full: the cost per sample
// of the 4-plugin mix, evictions included. json_bytes is the model of
// today's ring for comparison: a copy of the JSON per sample.
func BenchmarkInsert(b *testing.B) {
	rings := benchRings(b)
	b.Run("compact", func(b *testing.B) {
		rs := make([]*Ring, len(rings))
		for p := range rs {
			rs[p] = New(100)
			fill(rs[p], rings[p], 0)
		}
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			p, k := i%4, i/4%100
			f := rings[p][k]
			rs[p].Insert(f.unixNano+int64(1+i/400)*100*31_000_000_000, f.data)
			i++
		}
	})
	b.Run("json_bytes", func(b *testing.B) {
		ms := make([]*model, len(rings))
		for p := range ms {
			ms[p] = &model{limit: 100}
		}
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			p, k := i%4, i/4%100
			f := rings[p][k]
			ms[p].insert(f.unixNano+int64(1+i/400)*100*31_000_000_000, f.data)
			i++
		}
	})
}

// BenchmarkAppendJSON reads one sample of a full ring of network_monitor
// (the largest of the mix): the newest, which the API's plugin overview
// and the alert rules read, written from the ring's state; the oldest,
// the keyframe; and the second newest, decoded from the keyframe through
// every record.
func BenchmarkAppendJSON(b *testing.B) {
	r := New(100)
	fill(r, benchRings(b)[3], 0)
	for _, bc := range []struct {
		name string
		i    int
	}{{"newest", 0}, {"oldest", 99}, {"second_newest", 1}} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			var dst []byte
			for b.Loop() {
				dst = r.AppendJSON(dst[:0], bc.i)
			}
			b.SetBytes(int64(len(dst)))
		})
	}
}

// BenchmarkLatest reads a whole ring of each plugin newest first, as the
// API's per-plugin history does.
func BenchmarkLatest(b *testing.B) {
	rings := benchRings(b)
	rs := make([]*Ring, len(rings))
	for p := range rs {
		rs[p] = New(100)
		fill(rs[p], rings[p], 0)
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		n := 0
		for _, data := range rs[i%4].Latest(100) {
			n += len(data)
		}
		if n == 0 {
			b.Fatal("nothing read")
		}
		i++
	}
}

// TestMemoryPerSample measures the live heap per stored sample of hbd-bench's
// 4-plugin mix (the memory scenario's) in full rings of 100: compact rings
// against samples kept as their JSON bytes, one allocation each, as the
// daemon keeps them today. It logs both and fails if the compact rings
// take more than 64 bytes a sample.
func TestMemoryPerSample(t *testing.T) {
	if testing.Short() {
		t.Skip("fills 4,000 rings")
	}
	rings := benchRings(t)
	const hosts = 1000
	before := liveHeap()
	compact := make([]*Ring, 0, hosts*len(rings))
	held, size := 0, 0
	for h := range hosts {
		for _, fs := range rings {
			r := New(100)
			fill(r, fs, 0)
			// Wrap it: the steady state of a full ring.
			fill(r, fs[:50+h%50], 1)
			held += r.Len()
			size += r.Size()
			compact = append(compact, r)
		}
	}
	perSample := float64(liveHeap()-before) / float64(held)
	runtime.KeepAlive(compact)

	type sample struct {
		unixNano int64
		data     []byte
	}
	before = liveHeap()
	plain := make([][]sample, 0, hosts*len(rings))
	for range hosts {
		for _, fs := range rings {
			ss := make([]sample, 0, 100)
			for _, f := range fs {
				// The daemon copies the plugin name and the data in one
				// allocation.
				buf := make([]byte, len("network_monitor")+len(f.data))
				copy(buf[len("network_monitor"):], f.data)
				ss = append(ss, sample{f.unixNano, buf[len("network_monitor"):]})
			}
			plain = append(plain, ss)
		}
	}
	plainPerSample := float64(liveHeap()-before) / float64(held)
	runtime.KeepAlive(plain)

	jsonBytes := 0
	for _, fs := range rings {
		for _, f := range fs {
			jsonBytes += len(f.data)
		}
	}
	t.Logf("%d samples (%d rings of 100, hbd-bench's 4-plugin mix, JSON %.0f B/sample on average)",
		held, hosts*len(rings), float64(jsonBytes)/400)
	t.Logf("compact rings: %.1f B/sample live heap (Size() %.1f B/sample)", perSample, float64(size)/float64(held))
	t.Logf("JSON bytes:    %.1f B/sample live heap", plainPerSample)
	if perSample > 64 {
		t.Errorf("compact rings take %.1f B/sample, more than 64", perSample)
	}
}

// liveHeap returns the bytes of live heap objects after a full collection.
func liveHeap() uint64 {
	runtime.GC()
	debug.FreeOSMemory()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// TestSmallerThanGorilla compares the ring's size for hbd-bench's mix
// with what the Gorilla paper's encoding (delta-of-delta timestamps, XOR
// of float64 values) would need for its timestamps and numbers alone: the
// agents' numbers are short decimals, whose float64 bits differ in most of
// the mantissa from one sample to the next.
func TestSmallerThanGorilla(t *testing.T) {
	ours, gorilla, n := 0, 0, 0
	for _, fs := range benchRings(t) {
		r := New(100)
		fill(r, fs, 0)
		ours += len(r.buf) - r.start
		gorilla += gorillaBytes(fs)
		n += len(fs)
	}
	t.Logf("per sample: %.1f B here, %.1f B Gorilla (timestamps and numbers only)", float64(ours)/float64(n), float64(gorilla)/float64(n))
	if ours >= gorilla {
		t.Errorf("%d B here, %d B with Gorilla's encoding", ours, gorilla)
	}
}

// gorillaBytes returns the size of fs's timestamps and numbers in the
// Gorilla paper's encoding (section 4.1).
func gorillaBytes(fs []fixture) int {
	var cols [][]float64
	var ts []int64
	for _, f := range fs {
		ts = append(ts, f.unixNano)
		vals, _ := split(f.data, nil)
		k := 0
		for _, v := range vals {
			x, err := strconv.ParseFloat(string(f.data[v.start:v.end]), 64)
			if err != nil {
				continue // a string
			}
			if k == len(cols) {
				cols = append(cols, nil)
			}
			cols[k] = append(cols[k], x)
			k++
		}
	}
	total := 64 + 14 // the first timestamp and delta
	for i := 2; i < len(ts); i++ {
		switch d := (ts[i] - ts[i-1]) - (ts[i-1] - ts[i-2]); {
		case d == 0:
			total++
		case d >= -63 && d <= 64:
			total += 2 + 7
		case d >= -255 && d <= 256:
			total += 3 + 9
		case d >= -2047 && d <= 2048:
			total += 4 + 12
		case d >= math.MinInt32 && d <= math.MaxInt32:
			total += 4 + 32
		default:
			// Beyond the paper's 32 bits (it stores seconds): 64, as
			// Prometheus does.
			total += 4 + 64
		}
	}
	for _, c := range cols {
		total += 64
		prev := math.Float64bits(c[0])
		lead, trail := -1, -1
		for _, v := range c[1:] {
			x := math.Float64bits(v) ^ prev
			prev = math.Float64bits(v)
			if x == 0 {
				total++
				continue
			}
			l, tz := min(bits.LeadingZeros64(x), 31), bits.TrailingZeros64(x)
			if lead >= 0 && l >= lead && tz >= trail {
				total += 2 + 64 - lead - trail
				continue
			}
			total += 2 + 5 + 6 + 64 - l - tz
			lead, trail = l, tz
		}
	}
	return (total + 7) / 8
}

// BenchmarkInsertLateCopy inserts the copy of a sample that arrives after
// newer samples of its plugin (a dual-stack agent whose IPv6 copy is read
// later than its IPv4 datagrams): a duplicate. After 3 newer ones it is
// found among the ring's newest timestamps; after 50 the ring's timestamps
// are decoded (its JSON is not).
func BenchmarkInsertLateCopy(b *testing.B) {
	rings := benchRings(b)
	for _, behind := range []int{3, 50} {
		b.Run(fmt.Sprintf("behind=%d", behind), func(b *testing.B) {
			r := New(100)
			fill(r, rings[3], 0)
			at := r.Newest(behind)
			data := rings[3][0].data
			b.ReportAllocs()
			for b.Loop() {
				if r.Insert(at, data) {
					b.Fatal("a copy was stored")
				}
			}
		})
	}
}
