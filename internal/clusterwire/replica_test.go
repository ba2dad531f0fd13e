package clusterwire

import (
	"encoding/binary"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/hbd-project/hbd/internal/statefile"
)

func hostRecord(name string) []byte {
	h := statefile.Host{Name: name, Ver: 2, State: 1, Interval: 10 * time.Second, LastSeen: time.Unix(1764770000, 5),
		Alerts: []statefile.Alert{{Path: "heartbeat", Level: 2, Since: time.Unix(1764769990, 0), NotifiedLevel: 2, NotifiedAt: time.Unix(1764769991, 0),
			Routes: []statefile.RouteSent{{Name: "ops", At: time.Unix(1764769991, 0)}}}}}
	return statefile.AppendHost(nil, &h)
}

func testRecords() *Records {
	return &Records{From: "127.0.0.11:51510", Seq: 42, Sent: 1764770000123456789, Records: []Record{
		{Host: "web01", Seq: 1, Bytes: hostRecord("web01")},
		{Host: "db-ü", Seq: 1 << 40, Bytes: hostRecord("db-ü")},
	}}
}

func TestRecordsRoundTrip(t *testing.T) {
	for _, k := range []Kind{KindReplica, KindHandoff} {
		for _, in := range []*Records{testRecords(), {From: "a:1"}} {
			b := AppendRecords(nil, k, in)
			kind, body, err := ParseHeader(b)
			if err != nil || kind != k {
				t.Fatalf("%s: header: %v, %v", k, kind, err)
			}
			out, err := DecodeRecords(body)
			if err != nil {
				t.Fatalf("%s: %v", k, err)
			}
			if !reflect.DeepEqual(&out, in) {
				t.Errorf("%s: round trip\n got %+v\nwant %+v", k, out, *in)
			}
		}
	}
}

func TestAckRoundTrip(t *testing.T) {
	for _, k := range []Kind{KindReplicaAck, KindHandoffAck} {
		in := Ack{From: "127.0.0.12:51510", Seq: 7, Sent: -3, Taken: 250, Refused: 6}
		kind, body, err := ParseHeader(AppendAck(nil, k, &in))
		if err != nil || kind != k {
			t.Fatalf("%s: header: %v, %v", k, kind, err)
		}
		out, err := DecodeAck(body)
		if err != nil || out != in {
			t.Errorf("%s: got %+v, %v; want %+v", k, out, err, in)
		}
	}
}

func TestRecordsRejectBadInput(t *testing.T) {
	_, body, _ := ParseHeader(AppendRecords(nil, KindReplica, testRecords()))
	// Every cut is an error, never a shorter frame taken for whole.
	for i := range body {
		if _, err := DecodeRecords(body[:i]); !errors.Is(err, ErrRecords) {
			t.Fatalf("cut at %d of %d: err = %v", i, len(body), err)
		}
	}
	if _, err := DecodeRecords(append(body[:len(body):len(body)], 0)); err == nil {
		t.Error("a trailing byte was accepted")
	}
	// A record named otherwise than its entry, a damaged record, no name.
	for name, r := range map[string]Record{
		"mismatch": {Host: "web01", Bytes: hostRecord("web02")},
		"damaged":  {Host: "web01", Bytes: hostRecord("web01")[:5]},
		"unnamed":  {Host: "", Bytes: hostRecord("")},
	} {
		in := testRecords()
		in.Records = append(in.Records, r)
		_, body, _ := ParseHeader(AppendRecords(nil, KindReplica, in))
		if _, err := DecodeRecords(body); !errors.Is(err, ErrRecords) {
			t.Errorf("%s: err = %v, want ErrRecords", name, err)
		}
	}
	// A count over the bound, whatever follows.
	over := appendString(nil, "a:1")
	over = append(over, 1, 2)
	over = binary.AppendUvarint(over, MaxRecords+1)
	over = append(over, make([]byte, 1024)...)
	if _, err := DecodeRecords(over); !errors.Is(err, ErrRecords) {
		t.Errorf("count over MaxRecords: err = %v", err)
	}
	_, ack, _ := ParseHeader(AppendAck(nil, KindReplicaAck, &Ack{From: "a:1", Seq: 1, Taken: 3}))
	for i := range ack {
		if _, err := DecodeAck(ack[:i]); !errors.Is(err, ErrRecords) {
			t.Fatalf("ack cut at %d: err = %v", i, err)
		}
	}
}

func TestAppendRecordsPanicsOnCallerBugs(t *testing.T) {
	for name, f := range map[string]func(){
		"kind":  func() { AppendRecords(nil, KindForward, &Records{}) },
		"count": func() { AppendRecords(nil, KindReplica, &Records{Records: make([]Record, MaxRecords+1)}) },
		"ack":   func() { AppendAck(nil, KindReplica, &Ack{}) },
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: no panic", name)
				}
			}()
			f()
		}()
	}
}

func FuzzReplica(f *testing.F) {
	_, body, _ := ParseHeader(AppendRecords(nil, KindReplica, testRecords()))
	f.Add(body)
	_, ack, _ := ParseHeader(AppendAck(nil, KindReplicaAck, &Ack{From: "a:1", Seq: 9, Taken: 2}))
	f.Add(ack)
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		if r, err := DecodeRecords(b); err == nil {
			// What decodes encodes and decodes to the same (varints may
			// come in longer forms than ours, so not the same bytes).
			_, again, _ := ParseHeader(AppendRecords(nil, KindReplica, &r))
			r2, err := DecodeRecords(again)
			if err != nil || !reflect.DeepEqual(r, r2) {
				t.Fatalf("re-encoded frame: %v\n%+v\n%+v", err, r, r2)
			}
		}
		if a, err := DecodeAck(b); err == nil {
			_, again, _ := ParseHeader(AppendAck(nil, KindReplicaAck, &a))
			if a2, err := DecodeAck(again); err != nil || a2 != a {
				t.Fatalf("re-encoded ack: %v, %+v, %+v", err, a, a2)
			}
		}
	})
}
