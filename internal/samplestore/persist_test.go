package samplestore

import (
	"errors"
	"slices"
	"testing"
)

// TestSavedRingsFollowTheLiveOnes saves rings of the agent's and
// hbd-bench's real samples as checkpoints do, every few samples, and reads
// the saves back into other rings: after every save the restored ring
// gives exactly the live one's samples, the saves between are tails (a
// small part of the whole), and a restored ring with a shorter history
// keeps the newest.
func TestSavedRingsFollowTheLiveOnes(t *testing.T) {
	fs := append(loadFixtures(t, "bench_mix.txt.gz"), loadFixtures(t, "agent_linux.txt")...)
	names, rings := byRing(fs)
	for _, name := range names {
		samples := rings[name]
		live := New(20)
		restored, short := New(20), New(5)
		var tails, wholes, tailBytes, wholeBytes int
		for i, f := range samples {
			live.Insert(f.unixNano, f.data)
			if i%7 != 6 && i != len(samples)-1 {
				continue
			}
			var b []byte
			if i == 6 {
				b = live.AppendWhole(nil)
			} else {
				var tail bool
				b, tail = live.AppendChanges(nil)
				if tail {
					tails++
					tailBytes += len(b)
					whole := live.AppendWhole(nil)
					wholes++
					wholeBytes += len(whole)
				}
			}
			live.Mark()
			for _, r := range []*Ring{restored, short} {
				if err := r.Restore(b); err != nil {
					t.Fatalf("%s: sample %d: %v", name, i, err)
				}
			}
			want := collectAll(live)
			if got := collectAll(restored); !slices.Equal(got, want) {
				t.Fatalf("%s: after sample %d the restored ring differs:\n got %q\nwant %q", name, i, got, want)
			}
			if got := collectAll(short); !slices.Equal(got, want[max(len(want)-5, 0):]) {
				t.Fatalf("%s: after sample %d the shorter ring differs:\n got %q\nwant its newest of %q", name, i, got, want)
			}
		}
		if tails == 0 {
			t.Fatalf("%s: no save was a tail", name)
		}
		// 7 samples of a ring of 20: a tail should be well under half.
		if tailBytes*2 > wholeBytes {
			t.Errorf("%s: tails take %d bytes against %d for the same rings whole", name, tailBytes, wholeBytes)
		}
	}
}

// TestRestoreRefusesATailThatDoesNotFollow: a tail whose save before it was
// lost does not apply, and the ring is left as it was.
func TestRestoreRefusesATailThatDoesNotFollow(t *testing.T) {
	live, restored := New(10), New(10)
	for i := range int64(5) {
		live.Insert(1000+i, sampleAt(i))
	}
	if err := restored.Restore(live.AppendWhole(nil)); err != nil {
		t.Fatal(err)
	}
	live.Mark()
	live.Insert(2000, sampleAt(6))
	if _, tail := live.AppendChanges(nil); !tail {
		t.Fatal("one newer sample is not saved as a tail")
	}
	live.Mark() // this save is "lost"
	live.Insert(3000, sampleAt(7))
	b, tail := live.AppendChanges(nil)
	if !tail {
		t.Fatal("one newer sample is not saved as a tail")
	}
	before := collectAll(restored)
	if err := restored.Restore(b); !errors.Is(err, ErrNotNext) {
		t.Fatalf("Restore of a tail after a lost one: %v, want ErrNotNext", err)
	}
	if got := collectAll(restored); !slices.Equal(got, before) {
		t.Fatalf("the refused tail changed the ring: %q", got)
	}
}

// TestLateSampleSavesWhole: a sample stored out of order codes the ring
// again, so the next save is the whole ring, and it restores exactly.
func TestLateSampleSavesWhole(t *testing.T) {
	live, restored := New(10), New(10)
	for i := range int64(5) {
		live.Insert(1000+10*i, sampleAt(i))
	}
	_ = restored.Restore(live.AppendWhole(nil))
	live.Mark()
	live.Insert(1015, sampleAt(9))
	b, tail := live.AppendChanges(nil)
	if tail {
		t.Fatal("a ring coded again was saved as a tail")
	}
	if err := restored.Restore(b); err != nil {
		t.Fatal(err)
	}
	if got, want := collectAll(restored), collectAll(live); !slices.Equal(got, want) {
		t.Fatalf("got %q, want %q", got, want)
	}
}

// BenchmarkSave is what a checkpoint costs per ring of 100 of hbd-bench's
// samples: the whole ring, and the tail of one new sample.
func BenchmarkSave(b *testing.B) {
	rs := benchRings(b)
	r := New(100)
	fill(r, rs[0], 0)
	fill(r, rs[0], 1)
	b.Run("whole", func(b *testing.B) {
		b.ReportAllocs()
		var buf []byte
		for b.Loop() {
			buf = r.AppendWhole(buf[:0])
		}
		b.ReportMetric(float64(len(buf)), "bytes/save")
	})
	b.Run("restore-whole", func(b *testing.B) {
		b.ReportAllocs()
		buf := r.AppendWhole(nil)
		for b.Loop() {
			if err := New(100).Restore(buf); err != nil {
				b.Fatal(err)
			}
		}
	})
}
