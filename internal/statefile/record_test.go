package statefile

import (
	"bytes"
	"fmt"
	"math"
	"net/netip"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

func ts(sec int64) time.Time { return time.Unix(0, sec*1e9+123456789) }

// fullHost has every field set to a value other than its zero value, so a
// field the codec forgets fails the round trip.
func fullHost() Host {
	return Host{
		Name: "web-01.example.net", Dyn: true, Ver: 1, AgentVersion: "0.1.0", Interval: 10 * time.Second,
		State: 2, Stopped: true, LastSeen: ts(1795510724), LastBoot: ts(1795510000),
		Conns: []Conn{
			{Family: 1, Addr: netip.MustParseAddrPort("[2001:db8::7%eth0]:41235"), Up: true, LastSeen: ts(1795510723),
				RTT: time.Millisecond, SRTT: 2 * time.Millisecond, HasRTT: true, Loss: Loss{Top: 7, Seen: [2]uint64{0x7f, 3}, Span: 7, Started: true}},
			{Family: 0, Addr: netip.MustParseAddrPort("10.0.0.7:41234"), Up: true, LastSeen: ts(1795510724),
				RTT: 212 * time.Microsecond, SRTT: 230 * time.Microsecond, HasRTT: true,
				Loss: Loss{Top: 4000000000, Seen: [2]uint64{math.MaxUint64, 1 << 63}, Span: 128, Started: true}},
		},
		Replay: Replay{Floor: 1795510700000000000, Windows: []ReplayWindow{
			{Instance: 0x18e5a7d1c0de0001, Top: 9, Seen: [2]uint64{0x1ff, 1}, Last: 1795510724123456789, Floor: 1795510600000000000},
			{Instance: 0, Top: math.MaxUint64 - 5, Seen: [2]uint64{0xdeadbeef, 0xfeedface}, Last: -3, Floor: 1},
		}},
		LastSent: 1795510724123456789, LastRecv: ts(1795510725), LastSilence: 1795500000000000000,
		Plugins: []Plugin{
			{Name: "cpu_monitor", Samples: []Sample{
				{UnixNano: 1795510700000000000, Data: []byte(`{"cpu_percent":12.5}`)},
				{UnixNano: 1795510710000000000, Data: []byte(`{"cpu_percent":-0.0}`)},
				{UnixNano: -5, Data: []byte(`{}`)},
			}},
			{Name: "exec.nginx", Samples: []Sample{{UnixNano: 1, Data: bytes.Repeat([]byte(`{"a":"b"}`), 200)}}},
			// A ring in samplestore's saved form: opaque bytes here.
			{Name: "memory_monitor", Ring: []byte("W\x05saved ring"), Held: 5},
		},
		Alerts: []Alert{{
			Path: "disk_monitor./.percent", Rule: "disk_monitor.*.percent", Level: 2, Since: ts(1795510000), LastValue: 95.5, LastValueOK: true,
			LastCheck: ts(1795510724), NotificationCount: 3, Flapping: true, WarnSince: ts(1795509000), CritSince: ts(1795509500),
			WarnRun: true, CritRun: true, Changes: []time.Time{ts(1795509000), ts(1795509500)},
			NotifiedLevel: 2, NotifiedAt: ts(1795510001),
			Routes: []RouteSent{{Name: "pager", At: ts(1795510001)}, {Name: "mail", At: ts(1795510002)}},
		}},
		RTTs: []RTTWindow{
			{Family: 1, Whole: true, Entries: []RTTEntry{{UnixMilli: 1795510700123, Micros: 212}, {UnixMilli: 1795510710100, Micros: 0}, {UnixMilli: 1795510705000, Micros: math.MaxUint32}}},
			{Family: 0, Entries: []RTTEntry{{UnixMilli: -5, Micros: 1}}},
		},
		Parents: []string{"rack1-sw", "hv03.example.net"},
	}
}

// eitherOr are fields of which an element has one or the other: a plugin's
// samples come as JSON or as a saved ring. nonZero checks them on the
// element named.
var eitherOr = map[string]string{
	"Host.Plugins[0].Ring": "Host.Plugins[2]", "Host.Plugins[0].Held": "Host.Plugins[2]",
}

// nonZero fails for any field of v (recursively, through structs, slices'
// first elements and arrays) that holds its zero value.
func nonZero(t *testing.T, path string, v reflect.Value) {
	t.Helper()
	if elem, ok := eitherOr[path]; ok {
		path = strings.Replace(path, "Host.Plugins[0]", elem, 1)
		v = reflect.ValueOf(fullHost().Plugins[2]).FieldByName(path[strings.LastIndexByte(path, '.')+1:])
	}
	if v.Type() == reflect.TypeOf(time.Time{}) || v.Type() == reflect.TypeOf(netip.AddrPort{}) {
		if v.IsZero() {
			t.Errorf("%s is zero: the round trip does not cover it", path)
		}
		return
	}
	switch v.Kind() {
	case reflect.Struct:
		for i := 0; i < v.NumField(); i++ {
			nonZero(t, path+"."+v.Type().Field(i).Name, v.Field(i))
		}
	case reflect.Slice:
		if v.Len() == 0 {
			t.Errorf("%s is empty: the round trip does not cover it", path)
			return
		}
		if v.Type().Elem().Kind() != reflect.Uint8 {
			nonZero(t, path+"[0]", v.Index(0))
		}
	default:
		if v.IsZero() {
			t.Errorf("%s is zero: the round trip does not cover it", path)
		}
	}
}

func TestHostRoundTripEveryField(t *testing.T) {
	h := fullHost()
	nonZero(t, "Host", reflect.ValueOf(h))
	b := AppendHost(nil, &h)
	got, err := DecodeHost(b)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, h) {
		t.Errorf("round trip:\n got %+v\nwant %+v", got, h)
	}
	// NaN and infinities are stored bit for bit.
	h.Alerts[0].LastValue = math.Inf(-1)
	got, _ = DecodeHost(AppendHost(nil, &h))
	if !math.IsInf(got.Alerts[0].LastValue, -1) {
		t.Errorf("LastValue = %v, want -Inf", got.Alerts[0].LastValue)
	}
}

// TestDecodedRecordOwnsItsBytes: what a decoded record keeps (rings,
// samples) is copied out of the buffer it was decoded from, so the loader
// can drop each file's buffers as it reads and keep only what the hosts
// need; a ring aliasing its record would hold the whole record.
func TestDecodedRecordOwnsItsBytes(t *testing.T) {
	h := fullHost()
	h.Plugins = append(h.Plugins, Plugin{Name: "json_era", Samples: []Sample{{UnixNano: 7, Data: []byte(`{"a":1}`)}}})
	b := AppendHost(nil, &h)
	got, err := DecodeHost(b)
	if err != nil {
		t.Fatal(err)
	}
	want := make([]string, len(got.Plugins))
	for i, p := range got.Plugins {
		want[i] = fmt.Sprint(p)
	}
	for i := range b {
		b[i] = 0xAA
	}
	for i, p := range got.Plugins {
		if fmt.Sprint(p) != want[i] {
			t.Errorf("plugin %s changed with the buffer it was decoded from", p.Name)
		}
	}
}

func TestHostRoundTripEmpty(t *testing.T) {
	h := Host{Name: "a"}
	got, err := DecodeHost(AppendHost(nil, &h))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, h) {
		t.Errorf("got %+v, want %+v", got, h)
	}
}

func TestDecodeHostRejectsDamage(t *testing.T) {
	h := fullHost()
	b := AppendHost(nil, &h)
	for n := 0; n < len(b); n += 7 {
		if _, err := DecodeHost(b[:n]); err == nil {
			t.Fatalf("a record cut to %d of %d bytes decoded without error", n, len(b))
		}
	}
	if _, err := DecodeHost(append(b, 0)); err == nil {
		t.Error("a record with a trailing byte decoded without error")
	}
}

// A record ends with sections; one of a tag this version does not know is
// skipped, a known one must be whole and appear once.
func TestHostSections(t *testing.T) {
	h := fullHost()
	b := AppendHost(nil, &h)
	unknown := appendSection(slices.Clone(b), 99, func(b []byte) []byte { return append(b, "a later field"...) })
	got, err := DecodeHost(unknown)
	if err != nil || !reflect.DeepEqual(got, h) {
		t.Fatalf("record with an unknown section: %v\n got %+v\nwant %+v", err, got, h)
	}
	r := Replay{Windows: []ReplayWindow{{Instance: 5, Top: 1}}}
	twice := appendSection(slices.Clone(b), sectionReplay, func(b []byte) []byte { return appendReplay(b, &r) })
	if _, err := DecodeHost(twice); err == nil || !strings.Contains(err.Error(), "twice") {
		t.Errorf("replay section twice: err %v", err)
	}
	bare := AppendHost(nil, &Host{Name: "a"})
	long := appendSection(slices.Clone(bare), sectionReplay, func(b []byte) []byte { return append(appendReplay(b, &r), 0) })
	if _, err := DecodeHost(long); err == nil {
		t.Error("a replay section with a trailing byte decoded")
	}
	rtts := appendSection(slices.Clone(b), sectionRTT, func(b []byte) []byte { return appendRTTs(b, h.RTTs, rttBase(&h)) })
	if _, err := DecodeHost(rtts); err == nil || !strings.Contains(err.Error(), "twice") {
		t.Errorf("RTT section twice: err %v", err)
	}
	badFlag := appendSection(slices.Clone(bare), sectionRTT, func(b []byte) []byte { return append(b, 1, 0, 7, 0) })
	if _, err := DecodeHost(badFlag); err == nil || !strings.Contains(err.Error(), "RTT section") {
		t.Errorf("RTT window with a whole flag of 7: err %v", err)
	}
	// Version 1 records have no sections.
	if _, err := decodeHost(b, 1); err == nil {
		t.Error("a version-1 record with a section decoded")
	}
	if got, err := decodeHost(bare, 1); err != nil || got.Name != "a" {
		t.Errorf("a version-1 record without sections: %+v, %v", got, err)
	}
}

// TestReadVersion1File reads a snapshot written by the hbd before sender
// instances (format version 1, kept in testdata): the host's one window
// becomes the window of instance 0, the version-1 senders'.
func TestReadVersion1File(t *testing.T) {
	h, recs, err := ReadFile(filepath.Join("testdata", "v1", "snap-0000000000000001.hbds"))
	if err != nil {
		t.Fatal(err)
	}
	if h.Version != 1 || len(recs) != 2 {
		t.Fatalf("header %+v, %d records", h, len(recs))
	}
	web := recs[0].Host
	want := Replay{Windows: []ReplayWindow{{Instance: 0, Top: 1795500000000000123, Seen: [2]uint64{7, 0}, Last: 1795509990000000000}}}
	if web.Name != "web-01" || !reflect.DeepEqual(web.Replay, want) || web.LastSent != 1795509990000000000 || web.Samples() != 1 {
		t.Fatalf("web-01 = %+v", web)
	}
	if n := recs[1].Host; n.Name != "never" || n.Replay.Windows != nil {
		t.Fatalf("never = %+v", n)
	}
	// Written back, it is a version-2 record that reads the same.
	again, err := DecodeHost(AppendHost(nil, &web))
	if err != nil || !reflect.DeepEqual(again, web) {
		t.Fatalf("re-encoded: %v\n got %+v\nwant %+v", err, again, web)
	}
}

func FuzzDecodeHost(f *testing.F) {
	h := fullHost()
	f.Add(AppendHost(nil, &h))
	f.Add(appendSection(AppendHost(nil, &Host{Name: "s"}), 7, func(b []byte) []byte { return append(b, 1, 2, 3) }))
	if _, recs, err := ReadFile(filepath.Join("testdata", "v1", "snap-0000000000000001.hbds")); err == nil {
		f.Add(AppendHost(nil, &recs[0].Host))
	}
	f.Add(AppendHost(nil, &Host{Name: "x"}))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := DecodeHost(b)
		if err != nil {
			return
		}
		// Whatever decodes must encode back to the same bytes' meaning.
		again, err := DecodeHost(AppendHost(nil, &h))
		if err != nil {
			t.Fatalf("re-encoded record does not decode: %v", err)
		}
		if !reflect.DeepEqual(normal(again), normal(h)) {
			t.Fatalf("re-encoded record differs:\n%+v\n%+v", again, h)
		}
	})
}

// normal makes NaN values comparable and drops time locations.
func normal(h Host) Host {
	for i := range h.Alerts {
		if math.IsNaN(h.Alerts[i].LastValue) {
			h.Alerts[i].LastValue = 0
		}
	}
	return h
}
