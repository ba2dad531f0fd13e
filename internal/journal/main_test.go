package journal

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// fakeClock is a settable clock for Config.Now.
type fakeClock struct{ t time.Time }

func (c *fakeClock) Now() time.Time          { return c.t }
func (c *fakeClock) Advance(d time.Duration) { c.t = c.t.Add(d) }

var t0 = time.Date(2024, 3, 24, 12, 0, 0, 0, time.UTC)

// testRecord is record number i: a state change of host at t0 + i*step.
func testRecord(i int, host string, step time.Duration) Record {
	return Record{
		Time:   t0.Add(time.Duration(i) * step),
		Host:   host,
		Kind:   KindState,
		Msg:    host + " changed state",
		Fields: map[string]any{"i": i, "level": "warning"},
	}
}

// decoded returns what reading r back should give: millisecond time and
// fields as encoding/json decodes them.
func decoded(t testing.TB, r Record) Record {
	t.Helper()
	r.Time = time.UnixMilli(r.Time.UnixMilli())
	if len(r.Fields) == 0 {
		r.Fields = nil
		return r
	}
	b, err := json.Marshal(r.Fields)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	r.Fields = m
	return r
}

func sameRecord(a, b Record) bool {
	return a.Time.Equal(b.Time) && a.Host == b.Host && a.Kind == b.Kind && a.Msg == b.Msg &&
		reflect.DeepEqual(a.Fields, b.Fields)
}

// checkRecords fails unless got matches want (already decoded) one for one.
func checkRecords(t testing.TB, got, want []Record) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d records, want %d\ngot:  %v\nwant: %v", len(got), len(want), got, want)
	}
	for i := range got {
		if !sameRecord(got[i], want[i]) {
			t.Fatalf("record %d:\ngot  %+v\nwant %+v", i, got[i], want[i])
		}
	}
}

// index returns the "i" field of a record written by testRecord.
func index(t testing.TB, r Record) int {
	t.Helper()
	f, ok := r.Fields["i"].(float64)
	if !ok {
		t.Fatalf("record has no index: %+v", r)
	}
	return int(f)
}
