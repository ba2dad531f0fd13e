package samplestore

import (
	"encoding/binary"
	"math"
	"slices"
	"strconv"
	"testing"
)

// FuzzRoundTrip plays a sequence of inserts on a small ring and on the
// model of today's ring, and compares them after each: what was stored,
// in which order, and every sample's bytes.
//
// The input is a limit byte, then per insert: a timestamp byte (its low two
// bits choose newer, late or the newest's own timestamp, the rest is the
// step), a byte whose top bit chooses a generated JSON object (else the
// payload is stored as it is, valid JSON or not) and whose low 7 bits are
// the payload's length, and the payload.
func FuzzRoundTrip(f *testing.F) {
	for _, seed := range fuzzSeeds() {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		if len(in) == 0 {
			return
		}
		limit := 1 + int(in[0]%12)
		in = in[1:]
		r := New(limit)
		m := &model{limit: limit}
		// saved follows r through its saved forms, as a restart would
		// read them back: whole first, then what changed every few inserts.
		var saved *Ring
		inserts := 0
		ts := int64(1 << 40)
		for len(in) >= 2 {
			h, l := in[0], in[1]
			in = in[2:]
			n := min(int(l&0x7f), len(in))
			payload := in[:n]
			in = in[n:]
			at := ts
			switch h & 3 {
			case 0, 1:
				ts += 1 + int64(h>>2)
				at = ts
			case 2:
				at = ts - int64(h>>2)
			}
			data := payload
			if l&0x80 != 0 {
				data = genObject(payload)
			}
			want := m.insert(at, data)
			if got := r.Insert(at, data); got != want {
				t.Fatalf("Insert(%d, %q) = %v, want %v", at, data, got, want)
			}
			checkRing(t, r, m)
			if inserts++; inserts%3 == 0 || len(in) < 2 {
				saved = saveAndRestore(t, r, saved, limit)
				checkRing(t, saved, m)
			}
		}
	})
}

// saveAndRestore saves r as a checkpoint does (whole the first time, then
// its changes since the last save) and applies that to saved, a ring that
// was restored from r's earlier saves (nil: none yet), which it returns.
func saveAndRestore(t testing.TB, r, saved *Ring, limit int) *Ring {
	t.Helper()
	var b []byte
	if saved == nil {
		saved = New(limit)
		b = r.AppendWhole(nil)
	} else {
		if !r.Changed() {
			return saved
		}
		b, _ = r.AppendChanges(nil)
	}
	r.Mark()
	if err := saved.Restore(b); err != nil {
		t.Fatalf("Restore of a saved form (%q): %v", b[:1], err)
	}
	return saved
}

// FuzzRestore feeds Restore any bytes, on an empty ring and on one holding
// samples: it must never panic, must leave the ring as it was when it
// fails, and a ring it accepted must go on storing samples.
func FuzzRestore(f *testing.F) {
	seed := New(8)
	for i := range int64(12) {
		seed.Insert(1<<40+i*10, sampleAt(i))
	}
	whole := seed.AppendWhole(nil)
	seed.Mark()
	seed.Insert(1<<40+200, sampleAt(20))
	seed.Insert(1<<40+210, []byte(`{"other":"shape","n":1.5}`))
	tail, _ := seed.AppendChanges(nil)
	f.Add(whole)
	f.Add(tail)
	f.Add([]byte{kindWhole})
	f.Add([]byte{kindTail, 1, 1, 0, 0, 1, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, base := range [][]byte{nil, whole} {
			r := New(8)
			if base != nil {
				if err := r.Restore(base); err != nil {
					t.Fatal(err)
				}
			}
			before := collectAll(r)
			if err := r.Restore(b); err != nil {
				if after := collectAll(r); !slices.Equal(before, after) {
					t.Fatalf("a failed Restore changed the ring: %q -> %q", before, after)
				}
				continue
			}
			// Adopt keeps the bytes instead of copying them: the same ring.
			adopted := New(8)
			if base != nil {
				_ = adopted.Restore(base)
			}
			if err := adopted.Adopt(slices.Clone(b)); err != nil || !slices.Equal(collectAll(adopted), collectAll(r)) {
				t.Fatalf("Adopt differs from Restore: %v", err)
			}
			n := r.Len()
			if got := len(collectAll(r)); got != n {
				t.Fatalf("Len %d, All gives %d", n, got)
			}
			newest := int64(1 << 50)
			if !r.Insert(newest, []byte(`{"after":1}`)) || r.Newest(0) != newest {
				t.Fatal("a restored ring does not store a newer sample")
			}
			if got := string(r.AppendJSON(nil, 0)); got != `{"after":1}` {
				t.Fatalf("newest after restore = %q", got)
			}
		}
	})
}

// collectAll returns every sample as "timestamp json".
func collectAll(r *Ring) []string {
	var out []string
	for ts, d := range r.All() {
		out = append(out, strconv.FormatInt(ts, 10)+" "+string(d))
	}
	return out
}

// fuzzSeeds returns inputs with real samples and the odd numbers in them.
func fuzzSeeds() [][]byte {
	samples := [][]byte{
		[]byte(`{"cpu_percent":17.8,"load_1min":2.98,"load_5min":3.01,"load_15min":3.02,"frequency":2488,"cores":16}`),
		[]byte(`{"percent":33.3,"available_mb":10921.2,"total_mb":16384,"swap":{"percent":8.1,"total_mb":2048}}`),
		[]byte(`{"/":{"percent":15.73,"used_gb":14.33,"fstype":"ext4","device":"/dev/vda"},"io":{"vda":{"read_bytes":3937936384}}}`),
		[]byte(`{"a":-0,"b":1e400,"c":1.0,"d":9007199254740993,"e":"caf\u00e9","f":[1,{"g":null}],"h":true}`),
		[]byte(`{ "x" : 1 , "y" : [ ] }`),
	}
	var seeds [][]byte
	for i, s := range samples {
		in := []byte{byte(3 + i)}
		for j := range 6 {
			in = append(in, byte(j%3)|byte(j<<2), byte(len(s)))
			in = append(in, s...)
			if len(s) > 127 {
				break
			}
		}
		seeds = append(seeds, in)
	}
	// Generated objects.
	gen := []byte{5}
	for j := range 8 {
		gen = append(gen, byte(j%4)<<0|4, 0x80|24)
		for k := range 24 {
			gen = append(gen, byte(j*31+k*7))
		}
	}
	return append(seeds, gen)
}

// genObject builds a JSON object from b: a few keys from a small set (so
// shapes repeat) with values of every kind, numbers in the forms agents
// write and in forms that must be kept as they are.
func genObject(b []byte) []byte {
	keys := []string{"a", "b", "cpu_percent", "x y", "\u00e9", `q\"uote`}
	next := func() byte {
		if len(b) == 0 {
			return 0
		}
		c := b[0]
		b = b[1:]
		return c
	}
	var value func(out []byte, depth int) []byte
	value = func(out []byte, depth int) []byte {
		c := next()
		switch c % 12 {
		case 0:
			return strconv.AppendInt(out, int64(int8(next())), 10)
		case 1:
			var u [8]byte
			for i := range u {
				u[i] = next()
			}
			return strconv.AppendUint(out, binary.LittleEndian.Uint64(u[:]), 10)
		case 2:
			return appendGoFloat(out, float64(int16(uint16(next())<<8|uint16(next())))/100)
		case 3:
			var u [8]byte
			for i := range u {
				u[i] = next()
			}
			f := math.Float64frombits(binary.LittleEndian.Uint64(u[:]))
			if math.IsNaN(f) || math.IsInf(f, 0) {
				f = 0
			}
			return appendGoFloat(out, f)
		case 4:
			odd := []string{"-0", "1e400", "1.0", "9007199254740993", "-0.0", "1E5", "0.10", "1e-7", "5e-324"}
			return append(out, odd[int(next())%len(odd)]...)
		case 5:
			strs := []string{`"ok"`, `"warning"`, `"caf\u00e9 \"x\" \\"`, `""`, `"😀"`}
			return append(out, strs[int(next())%len(strs)]...)
		case 6:
			lits := []string{"true", "false", "null"}
			return append(out, lits[int(next())%len(lits)]...)
		case 7:
			if depth < 3 {
				out = append(out, '[')
				for i := range int(next() % 3) {
					if i > 0 {
						out = append(out, ',')
					}
					out = value(out, depth+1)
				}
				return append(out, ']')
			}
		case 8:
			if depth < 3 {
				return object(out, depth+1, keys, next, value)
			}
		}
		return strconv.AppendInt(out, int64(c), 10)
	}
	return object(nil, 0, keys, next, value)
}

func object(out []byte, depth int, keys []string, next func() byte, value func([]byte, int) []byte) []byte {
	out = append(out, '{')
	for i := range int(next()%4) + 1 {
		if i > 0 {
			out = append(out, ',')
		}
		out = append(out, '"')
		out = append(out, keys[int(next())%len(keys)]...)
		out = append(out, `":`...)
		out = value(out, depth)
	}
	return append(out, '}')
}

// appendGoFloat appends f as encoding/json writes a float64.
func appendGoFloat(b []byte, f float64) []byte {
	abs := math.Abs(f)
	format := byte('f')
	if abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	b = strconv.AppendFloat(b, f, format, -1, 64)
	if format == 'e' {
		// clean up e-09 to e-9
		n := len(b)
		if n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
			b[n-2] = b[n-1]
			b = b[:n-1]
		}
	}
	return b
}
