package wire

import (
	"encoding/json"
	"testing"

	"github.com/hbd-project/hbd/internal/limits"
)

func benchHeartbeat(b *testing.B) (*Signer, []byte) {
	s := NewSigner(testKey)
	d, err := AppendHeartbeat(nil, s, testEnv, Heartbeat{IntervalMS: 5000, ConnSeq: 42, RTTMicros: 1250})
	if err != nil {
		b.Fatal(err)
	}
	return s, d
}

func BenchmarkParse(b *testing.B) {
	_, d := benchHeartbeat(b)
	b.ReportAllocs()
	b.SetBytes(int64(len(d)))
	for b.Loop() {
		if _, err := Parse(d); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVerify(b *testing.B) {
	s, d := benchHeartbeat(b)
	b.ReportAllocs()
	b.SetBytes(int64(len(d)))
	for b.Loop() {
		if !s.Verify(d) {
			b.Fatal("Verify failed")
		}
	}
}

func BenchmarkDecodeHeartbeat(b *testing.B) {
	_, d := benchHeartbeat(b)
	h, err := Parse(d)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.SetBytes(int64(len(h.Payload)))
	for b.Loop() {
		if _, err := DecodeHeartbeat(&h); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkAppendHeartbeat(b *testing.B) {
	s, d := benchHeartbeat(b)
	buf := make([]byte, 0, MaxSmall)
	b.ReportAllocs()
	b.SetBytes(int64(len(d)))
	for b.Loop() {
		var err error
		buf, err = AppendHeartbeat(buf[:0], s, testEnv, Heartbeat{IntervalMS: 5000, ConnSeq: 42, RTTMicros: 1250})
		if err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkReceiveHeartbeat is the daemon's whole per-heartbeat wire cost:
// parse, verify, replay check, decode.
func BenchmarkReceiveHeartbeat(b *testing.B) {
	s, d := benchHeartbeat(b)
	var g ReplayGuard
	for i := range uint64(MaxInstances - 1) { // the instance is found after the others
		g.Check(i+1, 1, testEnv.Time)
	}
	seq := uint64(0)
	b.ReportAllocs()
	b.SetBytes(int64(len(d)))
	for b.Loop() {
		h, err := Parse(d)
		if err != nil || !s.Verify(d) {
			b.Fatal(err)
		}
		seq++
		// The datagram's own seq would be a replay after the first loop.
		if r, _ := g.Check(h.Instance, seq, h.Time); r != ReasonNone {
			b.Fatal(r)
		}
		if _, err := DecodeHeartbeat(&h); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeSample(b *testing.B) {
	s := NewSigner(testKey)
	for _, bc := range []struct {
		name       string
		data       []byte
		compressed bool
	}{
		{"json120B", []byte(smallJSON), false},
		{"json4KiB-s2", bigJSON(4096), true},
	} {
		b.Run(bc.name, func(b *testing.B) {
			d, err := AppendSample(nil, s, testEnv, "cpu", bc.data)
			if err != nil {
				b.Fatal(err)
			}
			h, err := Parse(d)
			if err != nil || h.Compressed() != bc.compressed {
				b.Fatalf("setup: %v, compressed %v", err, h.Compressed())
			}
			var scratch []byte
			b.ReportAllocs()
			b.SetBytes(int64(len(bc.data)))
			for b.Loop() {
				var smp Sample
				smp, scratch, err = DecodeSample(&h, scratch)
				if err != nil || len(smp.Data) != len(bc.data) {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkAppendSample(b *testing.B) {
	s := NewSigner(testKey)
	for _, bc := range []struct {
		name string
		data []byte
	}{
		{"json120B", []byte(smallJSON)},
		{"json4KiB-s2", bigJSON(4096)},
	} {
		b.Run(bc.name, func(b *testing.B) {
			buf := make([]byte, 0, 3*len(bc.data)+512)
			b.ReportAllocs()
			b.SetBytes(int64(len(bc.data)))
			for b.Loop() {
				var err error
				buf, err = AppendSample(buf[:0], s, testEnv, "cpu", bc.data)
				if err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkReplayWindow and BenchmarkReplayGuard compare one host's replay
// check before and after sender instances: the guard looks its instance up
// among MaxInstances slots (here the last one) before the window check.
func BenchmarkReplayWindow(b *testing.B) {
	var w ReplayWindow
	seq := uint64(0)
	b.ReportAllocs()
	for b.Loop() {
		seq++
		if !w.Check(seq) {
			b.Fatal("refused")
		}
	}
}

func BenchmarkReplayGuard(b *testing.B) {
	var g ReplayGuard
	for i := range uint64(MaxInstances) {
		g.Check(i+1, 1, 1)
	}
	seq := uint64(1)
	b.ReportAllocs()
	for b.Loop() {
		seq++
		if r, _ := g.Check(MaxInstances, seq, 2); r != ReasonNone {
			b.Fatal(r)
		}
	}
}

// BenchmarkScanObject compares the read path's one-pass check of a
// sample's JSON with what it replaced, json.Valid and then
// limits.CountKeys, on the agent's four plugins as hbd-bench sends them
// (the first four lines of testdata/samples.txt).
func BenchmarkScanObject(b *testing.B) {
	for _, s := range testSamples(b)[:4] {
		data := []byte(s.data)
		want := limits.CountKeys(data)
		b.Run(s.plugin+"/scan", func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				if keys, ok := scanObject(data); !ok || keys != want {
					b.Fatal("scanObject refused a sample")
				}
			}
		})
		b.Run(s.plugin+"/json.Valid+CountKeys", func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				if !json.Valid(data) || limits.CountKeys(data) != want {
					b.Fatal("json.Valid refused a sample")
				}
			}
		})
	}
}
