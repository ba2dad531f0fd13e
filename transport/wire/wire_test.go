package wire

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/klauspost/compress/s2"
)

var (
	testKey  = bytes.Repeat([]byte{0x42}, 32)
	otherKey = bytes.Repeat([]byte{0x43}, 32)
	testEnv  = Envelope{Host: "web-01.example.net", Seq: 42, Time: 1767225605000000000, Instance: 0x18867251edfa5eed}
	// testEnvV1 is what a version-1 agent sends: no instance, and a
	// sequence that started at its boot time.
	testEnvV1 = Envelope{Host: "web-01.example.net", Seq: 1767225600000000042, Time: 1767225605000000000}
)

// build frames a version-2 datagram by hand, bypassing the encoders'
// validation, so tests can produce every kind of malformed input. It is
// signed with key.
func build(key []byte, kind Kind, flags byte, host string, payload []byte) []byte {
	return buildVer(Version, key, kind, flags, host, payload)
}

// buildVer is build for protocol version ver (1 has no instance field).
func buildVer(ver byte, key []byte, kind Kind, flags byte, host string, payload []byte) []byte {
	b := []byte{'h', 'b', ver, byte(kind), flags, byte(len(host))}
	b = binary.BigEndian.AppendUint64(b, testEnv.Seq)
	b = binary.BigEndian.AppendUint64(b, uint64(testEnv.Time))
	if ver != 1 {
		b = binary.BigEndian.AppendUint64(b, testEnv.Instance)
	}
	b = append(b, host...)
	b = binary.BigEndian.AppendUint16(b, uint16(len(payload)))
	b = append(b, payload...)
	return NewSigner(key).Sign(b)
}

// resign replaces the trailing MAC of b with a correct one for key, so a
// mutation is caught by the check under test and not by Verify.
func resign(key, b []byte) []byte {
	return NewSigner(key).Sign(slices.Clone(b[:len(b)-MACSize]))
}

// mutate returns a re-signed copy of b with f applied.
func mutate(b []byte, f func([]byte)) []byte {
	c := slices.Clone(b)
	f(c)
	return resign(testKey, c)
}

func u32s(vs ...uint32) []byte {
	var b []byte
	for _, v := range vs {
		b = binary.BigEndian.AppendUint32(b, v)
	}
	return b
}

func str8(s string) []byte { return append([]byte{byte(len(s))}, s...) }

func samplePayload(plugin, data string) []byte { return append(str8(plugin), data...) }

func compressedSample(plugin, data string) []byte {
	return s2.Encode(nil, samplePayload(plugin, data))
}

const smallJSON = `{"memory_used_percent":41.27,"memory_available_bytes":9876543210,"swap_used_percent":0.35,"memory_cached_bytes":2147483648}`

// bigJSON returns a compressible JSON object of about n bytes.
func bigJSON(n int) []byte {
	var b strings.Builder
	b.WriteString(`{"mounts":[`)
	for i := 0; b.Len() < n-80; i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"path":"/srv/data%03d","fstype":"ext4","percent":%d.%d,"free_bytes":%d}`, i, i%100, i%7, 1<<30+i*4096)
	}
	b.WriteString(`]}`)
	return []byte(b.String())
}

// exactJSON returns a (very compressible) JSON object of exactly n bytes.
func exactJSON(n int) []byte {
	return []byte(`{"p":"` + strings.Repeat("x", n-8) + `"}`)
}

// randomJSON returns a JSON object of about n bytes that s2 cannot shrink.
func randomJSON(n int) []byte {
	r := rand.New(rand.NewPCG(1, 2))
	raw := make([]byte, n/2)
	for i := range raw {
		raw[i] = byte(r.Uint32())
	}
	return []byte(`{"blob":"` + hex.EncodeToString(raw) + `"}`)
}

func mustParse(t *testing.T, b []byte) Header {
	t.Helper()
	h, err := Parse(b)
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return h
}

func TestRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		name string
		env  Envelope
		ver  uint8
	}{{"v2", testEnv, 2}, {"v1", testEnvV1, 1}} {
		t.Run(tc.name, func(t *testing.T) { roundTrip(t, tc.env, tc.ver) })
	}
}

func roundTrip(t *testing.T, testEnv Envelope, ver uint8) {
	s := NewSigner(testKey)
	check := func(t *testing.T, b []byte, kind Kind) Header {
		t.Helper()
		h := mustParse(t, b)
		if h.Kind != kind || h.Version != ver || h.Seq != testEnv.Seq || h.Time != testEnv.Time || h.Instance != testEnv.Instance || string(h.Host) != testEnv.Host {
			t.Fatalf("header = %+v", h)
		}
		if !s.Verify(b) {
			t.Fatal("Verify failed on an encoder's output")
		}
		if NewSigner(otherKey).Verify(b) {
			t.Fatal("Verify succeeded with the wrong key")
		}
		return h
	}

	t.Run("heartbeat", func(t *testing.T) {
		want := Heartbeat{IntervalMS: 5000, ConnSeq: 1 << 31, RTTMicros: 1250}
		b, err := AppendHeartbeat(nil, s, testEnv, want)
		if err != nil {
			t.Fatal(err)
		}
		h := check(t, b, KindHeartbeat)
		got, err := DecodeHeartbeat(&h)
		if err != nil || got != want {
			t.Fatalf("DecodeHeartbeat = %+v, %v; want %+v", got, err, want)
		}
		if len(b) != hostOffset(ver)+len(testEnv.Host)+2+heartbeatSize+MACSize {
			t.Fatalf("heartbeat is %d bytes", len(b))
		}
	})
	t.Run("boot", func(t *testing.T) {
		for _, v := range []string{"", "hbd-agent 1.2.3 (linux/amd64)", strings.Repeat("v", 255)} {
			b, err := AppendBoot(nil, s, testEnv, Boot{IntervalMS: 1000, AgentVersion: []byte(v)})
			if err != nil {
				t.Fatal(err)
			}
			h := check(t, b, KindBoot)
			got, err := DecodeBoot(&h)
			if err != nil || got.IntervalMS != 1000 || string(got.AgentVersion) != v {
				t.Fatalf("DecodeBoot = %+v, %v", got, err)
			}
		}
	})
	t.Run("shutdown", func(t *testing.T) {
		for _, r := range []string{"", "systemctl stop hbd-agent"} {
			b, err := AppendShutdown(nil, s, testEnv, Shutdown{Reason: []byte(r)})
			if err != nil {
				t.Fatal(err)
			}
			h := check(t, b, KindShutdown)
			got, err := DecodeShutdown(&h)
			if err != nil || string(got.Reason) != r {
				t.Fatalf("DecodeShutdown = %+v, %v", got, err)
			}
		}
	})
	t.Run("silence", func(t *testing.T) {
		want := Silence{Seconds: 600, Metric: []byte("heartbeat"), Comment: []byte("rebooting")}
		b, err := AppendSilence(nil, s, testEnv, want)
		if err != nil {
			t.Fatal(err)
		}
		h := check(t, b, KindSilence)
		got, err := DecodeSilence(&h)
		if err != nil || got.Seconds != 600 || string(got.Metric) != "heartbeat" || string(got.Comment) != "rebooting" {
			t.Fatalf("DecodeSilence = %+v, %v", got, err)
		}
		if _, err := AppendSilence(nil, s, testEnv, Silence{Seconds: 0}); err == nil {
			t.Fatal("AppendSilence accepted a silence of 0 s")
		}
	})
	t.Run("parents", func(t *testing.T) {
		want := Parents{Names: [][]byte{[]byte("rack1-sw"), []byte("hv03.example.net")}}
		b, err := AppendParents(nil, s, testEnv, want)
		if err != nil {
			t.Fatal(err)
		}
		h := check(t, b, KindParents)
		got, err := DecodeParents(&h)
		if err != nil || len(got.Names) != 2 || string(got.Names[0]) != "rack1-sw" || string(got.Names[1]) != "hv03.example.net" {
			t.Fatalf("DecodeParents = %q, %v", got.Names, err)
		}
		long := make([][]byte, MaxParents)
		for i := range long {
			long[i] = []byte(strings.Repeat("p", 200) + strconv.Itoa(i))
		}
		if _, err := AppendParents(nil, s, testEnv, Parents{Names: long}); ReasonOf(err) != ReasonOversize {
			t.Fatalf("AppendParents of %d long names: %v, want oversize", len(long), err)
		}
		if _, err := AppendParents(nil, s, testEnv, Parents{Names: [][]byte{[]byte("a"), []byte("a")}}); err == nil {
			t.Fatal("AppendParents accepted a parent twice")
		}
	})
	t.Run("ack", func(t *testing.T) {
		want := Ack{Seq: 1<<64 - 1, Time: -5, HoldNanos: 123456}
		b, err := AppendAck(nil, s, testEnv, want)
		if err != nil {
			t.Fatal(err)
		}
		h := check(t, b, KindAck)
		got, err := DecodeAck(&h)
		if err != nil || got != want {
			t.Fatalf("DecodeAck = %+v, %v; want %+v", got, err, want)
		}
	})
	for _, tc := range []struct {
		name           string
		data           []byte
		wantCompressed bool
	}{
		{"sample small", []byte(smallJSON), false},
		{"sample empty object", []byte(`{}`), false},
		{"sample 4KiB compressible", bigJSON(4096), true},
		{"sample 4KiB incompressible", randomJSON(4096), false},
		{"sample at MaxPayload", exactJSON(MaxPayload - 1 - len("disk")), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, err := AppendSample(nil, s, testEnv, "disk", tc.data)
			if err != nil {
				t.Fatal(err)
			}
			h := check(t, b, KindSample)
			if h.Compressed() != tc.wantCompressed {
				t.Fatalf("compressed = %v, want %v (payload %d bytes, data %d)", h.Compressed(), tc.wantCompressed, len(h.Payload), len(tc.data))
			}
			if h.Compressed() && len(h.Payload) >= 1+len("disk")+len(tc.data) {
				t.Fatalf("compressed payload %d bytes is not smaller than %d", len(h.Payload), len(tc.data))
			}
			got, scratch, err := DecodeSample(&h, nil)
			if err != nil {
				t.Fatal(err)
			}
			if string(got.Plugin) != "disk" || !bytes.Equal(got.Data, tc.data) {
				t.Fatalf("DecodeSample = %q, %d bytes of data; want disk, %d", got.Plugin, len(got.Data), len(tc.data))
			}
			if h.Compressed() && cap(scratch) < len(tc.data) {
				t.Fatalf("scratch not returned for reuse: cap %d", cap(scratch))
			}
		})
	}
}

// TestAppendToNonEmpty checks that encoders append (leaving dst's contents
// alone) and sign only the new datagram, and that a failing encoder leaves
// dst as it was.
func TestAppendToNonEmpty(t *testing.T) {
	s := NewSigner(testKey)
	prefix := []byte("previous datagram bytes")
	dst := slices.Clone(prefix)
	dst, err := AppendHeartbeat(dst, s, testEnv, Heartbeat{IntervalMS: 1})
	if err != nil {
		t.Fatal(err)
	}
	dst, err = AppendSample(dst, s, testEnv, "disk", bigJSON(3000))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(dst, prefix) {
		t.Fatal("prefix overwritten")
	}
	hbLen := offHostV2 + len(testEnv.Host) + 2 + heartbeatSize + MACSize
	hb := dst[len(prefix) : len(prefix)+hbLen]
	sample := dst[len(prefix)+hbLen:]
	for _, d := range [][]byte{hb, sample} {
		mustParse(t, d)
		if !s.Verify(d) {
			t.Fatal("appended datagram does not verify")
		}
	}
	before := len(dst)
	dst, err = AppendHeartbeat(dst, s, Envelope{Host: "-bad"}, Heartbeat{IntervalMS: 1})
	if err == nil || len(dst) != before {
		t.Fatalf("failing encoder: err %v, len %d -> %d", err, before, len(dst))
	}
	dst, err = AppendSample(dst, s, testEnv, "disk", []byte(`[1]`))
	if err == nil || len(dst) != before {
		t.Fatalf("failing encoder: err %v, len %d -> %d", err, before, len(dst))
	}
}

// TestReasons reaches every reason the parser and decoders produce.
func TestReasons(t *testing.T) {
	hbPayload := u32s(5000, 1, 0)
	hb := build(testKey, KindHeartbeat, 0, "h1", hbPayload)
	hb1 := buildVer(1, testKey, KindHeartbeat, 0, "h1", hbPayload)
	sample := build(testKey, KindSample, 0, "h1", samplePayload("disk", smallJSON))

	// A compressed sample that claims one byte more than MaxPayload after
	// decompression: only its varint header is real.
	bomb := binary.AppendUvarint(nil, MaxPayload+1)
	bomb = append(bomb, 0, 0, 0, 0)

	tests := []struct {
		name  string
		b     []byte
		stage string // "parse", "verify" or "decode": where the datagram must fail
		want  Reason
	}{
		{"empty", nil, "parse", ReasonTruncated},
		{"one byte", []byte{'h'}, "parse", ReasonTruncated},
		{"bad magic", mutate(hb, func(b []byte) { b[0] = 'H' }), "parse", ReasonBadMagic},
		{"bad magic second byte", mutate(hb, func(b []byte) { b[1] = 'x' }), "parse", ReasonBadMagic},
		{"bad magic short", []byte("GE"), "parse", ReasonBadMagic},
		{"version 0", mutate(hb, func(b []byte) { b[offVersion] = 0 }), "parse", ReasonVersion},
		{"version 3", mutate(hb, func(b []byte) { b[offVersion] = 3 }), "parse", ReasonVersion},
		{"version 255", mutate(hb, func(b []byte) { b[offVersion] = 255 }), "parse", ReasonVersion},
		{"instance 0 in version 2", mutate(hb, func(b []byte) { clear(b[offInstance : offInstance+8]) }), "parse", ReasonBadPayload},
		// A version byte changed (and the MAC made to match) makes the
		// host name be read from the wrong place.
		{"version 1 relabelled 2", mutate(hb1, func(b []byte) { b[offVersion] = 2 }), "parse", ReasonBadHost},
		{"version 2 relabelled 1", mutate(hb, func(b []byte) { b[offVersion] = 1 }), "parse", ReasonBadHost},
		{"version 1 bad host", buildVer(1, testKey, KindHeartbeat, 0, "a b", hbPayload), "parse", ReasonBadHost},
		{"version 1 heartbeat 11 bytes", buildVer(1, testKey, KindHeartbeat, 0, "h1", hbPayload[:11]), "decode", ReasonBadPayload},
		{"kind 0", mutate(hb, func(b []byte) { b[offKind] = 0 }), "parse", ReasonKind},
		{"kind 8", mutate(hb, func(b []byte) { b[offKind] = 8 }), "parse", ReasonKind},
		{"parents: 9", build(testKey, KindParents, 0, "h1", []byte{9}), "decode", ReasonBadPayload},
		{"parents: bad name", build(testKey, KindParents, 0, "h1", []byte{1, 3, 'a', ' ', 'b'}), "decode", ReasonBadPayload},
		{"parents: twice", build(testKey, KindParents, 0, "h1", []byte{2, 1, 'a', 1, 'a'}), "decode", ReasonBadPayload},
		{"parents: truncated", build(testKey, KindParents, 0, "h1", []byte{2, 1, 'a', 3, 'b'}), "decode", ReasonBadPayload},
		{"parents: trailing byte", build(testKey, KindParents, 0, "h1", []byte{1, 1, 'a', 0}), "decode", ReasonBadPayload},
		{"parents: empty payload", build(testKey, KindParents, 0, "h1", nil), "decode", ReasonBadPayload},
		{"silence of 0 s", build(testKey, KindSilence, 0, "h1", []byte{0, 0, 0, 0, 0, 0}), "decode", ReasonBadPayload},
		{"silence over 7 days", build(testKey, KindSilence, 0, "h1", []byte{0, 0x09, 0x3a, 0x81, 0, 0}), "decode", ReasonBadPayload},
		{"silence trailing byte", build(testKey, KindSilence, 0, "h1", []byte{0, 0, 0, 60, 0, 0, 9}), "decode", ReasonBadPayload},
		{"kind 255", mutate(hb, func(b []byte) { b[offKind] = 255 }), "parse", ReasonKind},
		{"reserved flag bit 1", mutate(hb, func(b []byte) { b[offFlags] = 2 }), "parse", ReasonBadPayload},
		{"reserved flag bit 7", mutate(sample, func(b []byte) { b[offFlags] = 0x81 }), "parse", ReasonBadPayload},
		{"compressed heartbeat", mutate(hb, func(b []byte) { b[offFlags] = FlagCompressed }), "parse", ReasonBadPayload},
		{"host length 0", build(testKey, KindHeartbeat, 0, "", hbPayload), "parse", ReasonBadHost},
		{"host length 254", build(testKey, KindHeartbeat, 0, strings.Repeat("a", 254), hbPayload), "parse", ReasonBadHost},
		{"host with space", build(testKey, KindHeartbeat, 0, "a b", hbPayload), "parse", ReasonBadHost},
		{"host with slash", build(testKey, KindHeartbeat, 0, "a/b", hbPayload), "parse", ReasonBadHost},
		{"host with NUL", build(testKey, KindHeartbeat, 0, "a\x00", hbPayload), "parse", ReasonBadHost},
		{"host non-ASCII", build(testKey, KindHeartbeat, 0, "höst", hbPayload), "parse", ReasonBadHost},
		{"host leading dot", build(testKey, KindHeartbeat, 0, ".h", hbPayload), "parse", ReasonBadHost},
		{"host leading dash", build(testKey, KindHeartbeat, 0, "-h", hbPayload), "parse", ReasonBadHost},
		{"payload length too long", mutate(hb, func(b []byte) { b[offHostV2+2+1]++ }), "parse", ReasonTruncated},
		{"payload length too short", mutate(hb, func(b []byte) { b[offHostV2+2+1]-- }), "parse", ReasonBadPayload},
		{"version 1 payload length too long", mutate(hb1, func(b []byte) { b[offHostV1+2+1]++ }), "parse", ReasonTruncated},
		{"trailing byte", resign(testKey, append(slices.Clone(hb), 0)), "parse", ReasonBadPayload},
		{"datagram over MaxDatagram", make([]byte, MaxDatagram+1), "parse", ReasonOversize},
		{"heartbeat over MaxSmall", build(testKey, KindHeartbeat, 0, "h1", make([]byte, MaxSmall)), "parse", ReasonOversize},
		{"sample payload over MaxPayload", build(testKey, KindSample, 0, "h1", samplePayload("disk", `{"a":"`+strings.Repeat("x", MaxPayload)+`"}`)), "parse", ReasonOversize},
		{"wrong key", build(otherKey, KindHeartbeat, 0, "h1", hbPayload), "verify", ReasonBadMAC},
		{"MAC zeroed", append(slices.Clone(hb[:len(hb)-MACSize]), make([]byte, MACSize)...), "verify", ReasonBadMAC},
		{"heartbeat payload 11 bytes", build(testKey, KindHeartbeat, 0, "h1", hbPayload[:11]), "decode", ReasonBadPayload},
		{"heartbeat payload 13 bytes", build(testKey, KindHeartbeat, 0, "h1", append(slices.Clone(hbPayload), 0)), "decode", ReasonBadPayload},
		{"heartbeat interval 0", build(testKey, KindHeartbeat, 0, "h1", u32s(0, 1, 0)), "decode", ReasonBadPayload},
		{"ack payload 19 bytes", build(testKey, KindAck, 0, "h1", make([]byte, 19)), "decode", ReasonBadPayload},
		{"ack payload 21 bytes", build(testKey, KindAck, 0, "h1", make([]byte, 21)), "decode", ReasonBadPayload},
		{"boot empty payload", build(testKey, KindBoot, 0, "h1", nil), "decode", ReasonBadPayload},
		{"boot without version length", build(testKey, KindBoot, 0, "h1", u32s(1000)), "decode", ReasonBadPayload},
		{"boot version overruns", build(testKey, KindBoot, 0, "h1", append(u32s(1000), 5, 'a')), "decode", ReasonBadPayload},
		{"boot trailing byte", build(testKey, KindBoot, 0, "h1", append(append(u32s(1000), str8("v1")...), 0)), "decode", ReasonBadPayload},
		{"boot version control char", build(testKey, KindBoot, 0, "h1", append(u32s(1000), str8("v1\n")...)), "decode", ReasonBadPayload},
		{"boot interval 0", build(testKey, KindBoot, 0, "h1", append(u32s(0), str8("v1")...)), "decode", ReasonBadPayload},
		{"shutdown empty payload", build(testKey, KindShutdown, 0, "h1", nil), "decode", ReasonBadPayload},
		{"shutdown reason overruns", build(testKey, KindShutdown, 0, "h1", []byte{3, 'a'}), "decode", ReasonBadPayload},
		{"shutdown reason DEL", build(testKey, KindShutdown, 0, "h1", str8("stop\x7f")), "decode", ReasonBadPayload},
		{"shutdown trailing byte", build(testKey, KindShutdown, 0, "h1", append(str8("stop"), 'x')), "decode", ReasonBadPayload},
		{"sample empty payload", build(testKey, KindSample, 0, "h1", nil), "decode", ReasonBadPayload},
		{"sample plugin overruns", build(testKey, KindSample, 0, "h1", []byte{10, 'a'}), "decode", ReasonBadPayload},
		{"sample plugin empty", build(testKey, KindSample, 0, "h1", samplePayload("", `{}`)), "decode", ReasonBadPayload},
		{"sample plugin 65 bytes", build(testKey, KindSample, 0, "h1", samplePayload(strings.Repeat("p", 65), `{}`)), "decode", ReasonBadPayload},
		{"sample plugin bad char", build(testKey, KindSample, 0, "h1", samplePayload("di sk", `{}`)), "decode", ReasonBadPayload},
		{"sample no data", build(testKey, KindSample, 0, "h1", str8("disk")), "decode", ReasonBadPayload},
		{"sample invalid JSON", build(testKey, KindSample, 0, "h1", samplePayload("disk", `{"a":}`)), "decode", ReasonBadPayload},
		{"sample JSON truncated", build(testKey, KindSample, 0, "h1", samplePayload("disk", `{"a":1`)), "decode", ReasonBadPayload},
		{"sample JSON array", build(testKey, KindSample, 0, "h1", samplePayload("disk", `[{"a":1}]`)), "decode", ReasonBadPayload},
		{"sample JSON string", build(testKey, KindSample, 0, "h1", samplePayload("disk", `"x"`)), "decode", ReasonBadPayload},
		{"sample JSON leading space", build(testKey, KindSample, 0, "h1", samplePayload("disk", ` {}`)), "decode", ReasonBadPayload},
		{"sample two objects", build(testKey, KindSample, 0, "h1", samplePayload("disk", `{}{}`)), "decode", ReasonBadPayload},
		{"compressed sample corrupt", build(testKey, KindSample, FlagCompressed, "h1", []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}), "decode", ReasonBadPayload},
		{"compressed sample bad block", build(testKey, KindSample, FlagCompressed, "h1", []byte{20, 0xff, 0xff}), "decode", ReasonBadPayload},
		{"compressed sample empty", build(testKey, KindSample, FlagCompressed, "h1", nil), "decode", ReasonBadPayload},
		{"compressed sample JSON array", build(testKey, KindSample, FlagCompressed, "h1", compressedSample("disk", `[1,2,3]`)), "decode", ReasonBadPayload},
		{"compressed sample over MaxPayload", build(testKey, KindSample, FlagCompressed, "h1", bomb), "decode", ReasonOversize},
	}
	s := NewSigner(testKey)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h, err := Parse(tc.b)
			if tc.stage == "parse" {
				if got := ReasonOf(err); got != tc.want {
					t.Fatalf("Parse reason = %v (%v), want %v", got, err, tc.want)
				}
				return
			}
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			verified := s.Verify(tc.b)
			if tc.stage == "verify" {
				if verified {
					t.Fatalf("Verify succeeded, want %v", tc.want)
				}
				return
			}
			if !verified {
				t.Fatal("Verify failed")
			}
			if got := ReasonOf(decode(&h)); got != tc.want {
				t.Fatalf("decode reason = %v (%v), want %v", got, decode(&h), tc.want)
			}
		})
	}
}

// decode runs the decoder matching h.Kind and returns its error.
func decode(h *Header) error {
	var err error
	switch h.Kind {
	case KindHeartbeat:
		_, err = DecodeHeartbeat(h)
	case KindBoot:
		_, err = DecodeBoot(h)
	case KindShutdown:
		_, err = DecodeShutdown(h)
	case KindAck:
		_, err = DecodeAck(h)
	case KindSilence:
		_, err = DecodeSilence(h)
	case KindParents:
		_, err = DecodeParents(h)
	case KindSample:
		_, _, err = DecodeSample(h, nil)
	}
	return err
}

// TestDecoderKindMismatch: every decoder refuses the other kinds.
func TestDecoderKindMismatch(t *testing.T) {
	for k := KindHeartbeat; k <= KindParents; k++ {
		h := Header{Version: Version, Kind: k, Host: []byte("h"), Payload: make([]byte, 20)}
		errs := map[Kind]error{}
		_, errs[KindHeartbeat] = DecodeHeartbeat(&h)
		_, errs[KindBoot] = DecodeBoot(&h)
		_, errs[KindShutdown] = DecodeShutdown(&h)
		_, errs[KindAck] = DecodeAck(&h)
		_, errs[KindSilence] = DecodeSilence(&h)
		_, errs[KindParents] = DecodeParents(&h)
		_, _, errs[KindSample] = DecodeSample(&h, nil)
		for dk, err := range errs {
			if dk != k && ReasonOf(err) != ReasonKind {
				t.Errorf("%v decoder on %v datagram: %v, want reason kind", dk, k, err)
			}
		}
	}
}

// TestTruncatedEverywhere cuts a valid datagram of every kind at every
// offset; each prefix must be reported as truncated.
func TestTruncatedEverywhere(t *testing.T) {
	for _, b := range seedDatagrams(t) {
		for i := 0; i < len(b); i++ {
			_, err := Parse(b[:i])
			if ReasonOf(err) != ReasonTruncated {
				t.Fatalf("%s cut at %d: %v, want truncated", Kind(b[offKind]), i, err)
			}
		}
	}
}

// TestBitFlips flips every bit of a heartbeat and of a sample; none may
// still pass Parse + Verify.
func TestBitFlips(t *testing.T) {
	s := NewSigner(testKey)
	for _, orig := range seedDatagrams(t)[:2] {
		for i := range len(orig) * 8 {
			b := slices.Clone(orig)
			b[i/8] ^= 1 << (i % 8)
			if _, err := Parse(b); err == nil && s.Verify(b) {
				t.Fatalf("%s with bit %d flipped still verifies", Kind(orig[offKind]), i)
			}
		}
	}
}

func TestEncoderRejects(t *testing.T) {
	s := NewSigner(testKey)
	hb := Heartbeat{IntervalMS: 1000}
	tests := []struct {
		name string
		enc  func() ([]byte, error)
		want Reason
	}{
		{"empty host", func() ([]byte, error) { return AppendHeartbeat(nil, s, Envelope{}, hb) }, ReasonBadHost},
		{"host 254", func() ([]byte, error) {
			return AppendHeartbeat(nil, s, Envelope{Host: strings.Repeat("a", 254)}, hb)
		}, ReasonBadHost},
		{"host leading dot", func() ([]byte, error) { return AppendAck(nil, s, Envelope{Host: ".a"}, Ack{}) }, ReasonBadHost},
		{"host space", func() ([]byte, error) { return AppendShutdown(nil, s, Envelope{Host: "a b"}, Shutdown{}) }, ReasonBadHost},
		{"host on boot", func() ([]byte, error) {
			return AppendBoot(nil, s, Envelope{Host: "a:b"}, Boot{IntervalMS: 1})
		}, ReasonBadHost},
		{"host on sample", func() ([]byte, error) { return AppendSample(nil, s, Envelope{Host: ""}, "p", []byte(`{}`)) }, ReasonBadHost},
		{"heartbeat interval 0", func() ([]byte, error) { return AppendHeartbeat(nil, s, testEnv, Heartbeat{}) }, ReasonBadPayload},
		{"boot interval 0", func() ([]byte, error) { return AppendBoot(nil, s, testEnv, Boot{}) }, ReasonBadPayload},
		{"boot version 256 bytes", func() ([]byte, error) {
			return AppendBoot(nil, s, testEnv, Boot{IntervalMS: 1, AgentVersion: bytes.Repeat([]byte("v"), 256)})
		}, ReasonBadPayload},
		{"boot version newline", func() ([]byte, error) {
			return AppendBoot(nil, s, testEnv, Boot{IntervalMS: 1, AgentVersion: []byte("1\n")})
		}, ReasonBadPayload},
		{"shutdown reason non-ASCII", func() ([]byte, error) {
			return AppendShutdown(nil, s, testEnv, Shutdown{Reason: []byte("arrêt")})
		}, ReasonBadPayload},
		{"plugin empty", func() ([]byte, error) { return AppendSample(nil, s, testEnv, "", []byte(`{}`)) }, ReasonBadPayload},
		{"plugin 65", func() ([]byte, error) {
			return AppendSample(nil, s, testEnv, strings.Repeat("p", 65), []byte(`{}`))
		}, ReasonBadPayload},
		{"plugin slash", func() ([]byte, error) { return AppendSample(nil, s, testEnv, "a/b", []byte(`{}`)) }, ReasonBadPayload},
		{"data array", func() ([]byte, error) { return AppendSample(nil, s, testEnv, "p", []byte(`[]`)) }, ReasonBadPayload},
		{"data empty", func() ([]byte, error) { return AppendSample(nil, s, testEnv, "p", nil) }, ReasonBadPayload},
		{"data invalid", func() ([]byte, error) { return AppendSample(nil, s, testEnv, "p", []byte(`{"a"}`)) }, ReasonBadPayload},
		{"data over MaxPayload", func() ([]byte, error) {
			return AppendSample(nil, s, testEnv, "p", exactJSON(MaxPayload-1))
		}, ReasonOversize},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b, err := tc.enc()
			if got := ReasonOf(err); got != tc.want {
				t.Fatalf("reason = %v (%v), want %v", got, err, tc.want)
			}
			if len(b) != 0 {
				t.Fatalf("failing encoder appended %d bytes", len(b))
			}
		})
	}
}

// TestSmallDatagramsFit: the largest heartbeat, boot, shutdown and ack the
// encoders can produce stay within MaxSmall.
func TestSmallDatagramsFit(t *testing.T) {
	s := NewSigner(testKey)
	// Version 2, whose header is the longer one.
	e := Envelope{Host: strings.Repeat("h", MaxNameLen), Instance: 1}
	long := bytes.Repeat([]byte("x"), maxStringLen)
	var out [][]byte
	for _, f := range []func() ([]byte, error){
		func() ([]byte, error) { return AppendHeartbeat(nil, s, e, Heartbeat{IntervalMS: 1}) },
		func() ([]byte, error) { return AppendBoot(nil, s, e, Boot{IntervalMS: 1, AgentVersion: long}) },
		func() ([]byte, error) { return AppendShutdown(nil, s, e, Shutdown{Reason: long}) },
		func() ([]byte, error) { return AppendAck(nil, s, e, Ack{}) },
	} {
		b, err := f()
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, b)
	}
	for _, b := range out {
		if len(b) > MaxSmall {
			t.Errorf("%s datagram is %d bytes > %d", Kind(b[offKind]), len(b), MaxSmall)
		}
		mustParse(t, b)
	}
}

func TestDecodeSampleScratch(t *testing.T) {
	s := NewSigner(testKey)
	data := bigJSON(4096)
	b, err := AppendSample(nil, s, testEnv, "disk", data)
	if err != nil {
		t.Fatal(err)
	}
	h := mustParse(t, b)
	if !h.Compressed() {
		t.Fatal("4 KiB sample not compressed")
	}
	scratch := make([]byte, 0, 8192)
	got, out, err := DecodeSample(&h, scratch)
	if err != nil {
		t.Fatal(err)
	}
	if cap(out) != 8192 || &out[:1][0] != &scratch[:1][0] {
		t.Fatal("large enough scratch was not reused")
	}
	if !bytes.Equal(got.Data, data) {
		t.Fatal("data mismatch")
	}
	// A decompression bomb must not touch (or grow) scratch.
	bomb := build(testKey, KindSample, FlagCompressed, "h1", binary.AppendUvarint(nil, 1<<31))
	hb := mustParse(t, bomb)
	_, out, err = DecodeSample(&hb, nil)
	if ReasonOf(err) != ReasonOversize || out != nil {
		t.Fatalf("bomb: err %v, scratch cap %d", err, cap(out))
	}
}

func TestZeroAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are checked without -race (make test runs this test again without it)")
	}
	s := NewSigner(testKey)
	b, err := AppendHeartbeat(nil, s, testEnv, Heartbeat{IntervalMS: 1000, ConnSeq: 7})
	if err != nil {
		t.Fatal(err)
	}
	b1, err := AppendHeartbeat(nil, s, testEnvV1, Heartbeat{IntervalMS: 1000, ConnSeq: 7})
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 0, 512)
	var g ReplayGuard
	seq := uint64(0)
	smp, err := AppendSample(nil, s, testEnv, "disk", []byte(`{"a":[1,-0.5e3,{"b":"\u00e9"}],"c":null}`))
	if err != nil {
		t.Fatal(err)
	}
	for name, f := range map[string]func(){
		"DecodeSample": func() {
			h, _ := Parse(smp)
			_, _, _ = DecodeSample(&h, nil)
		},
		"Parse":   func() { _, _ = Parse(b) },
		"ParseV1": func() { _, _ = Parse(b1) },
		"Verify":  func() { _ = s.Verify(b) },
		// Every call opens a window for a new instance, forgetting another
		// once the guard is full: the most expensive path.
		"ReplayGuard": func() {
			seq++
			g.Check(seq, 1, int64(seq))
			g.Check(seq, 2, int64(seq))
			g.Check(0, seq, int64(seq))
		},
		"DecodeHeartbeat": func() {
			h, _ := Parse(b)
			_, _ = DecodeHeartbeat(&h)
		},
		"AppendHeartbeat": func() { buf, _ = AppendHeartbeat(buf[:0], s, testEnv, Heartbeat{IntervalMS: 1000}) },
		"ReplayWindow": func() {
			var w ReplayWindow
			w.Check(5)
			w.Check(3)
		},
	} {
		if n := testing.AllocsPerRun(100, f); n != 0 {
			t.Errorf("%s: %v allocs/op, want 0", name, n)
		}
	}
}

func TestStrings(t *testing.T) {
	kinds := map[Kind]string{KindHeartbeat: "heartbeat", KindSample: "sample", KindBoot: "boot", KindShutdown: "shutdown", KindAck: "ack", 0: "kind(0)", 9: "kind(9)"}
	for k, want := range kinds {
		if got := k.String(); got != want {
			t.Errorf("Kind(%d) = %q, want %q", k, got, want)
		}
	}
	want := []string{"truncated", "bad_magic", "version", "kind", "oversize", "bad_host", "bad_mac", "bad_payload", "replay", "clock_skew", "unknown_host", "seq_jump"}
	var got []string
	for _, r := range AllReasons() {
		got = append(got, r.String())
	}
	if !slices.Equal(got, want) {
		t.Errorf("AllReasons = %v, want %v", got, want)
	}
	if ReasonNone.String() != "none" || Reason(200).String() != "reason(200)" {
		t.Error("ReasonNone/unknown String wrong")
	}
}

func TestErrorType(t *testing.T) {
	_, err := Parse(make([]byte, 10))
	var we *Error
	if !errors.As(err, &we) {
		t.Fatalf("%T is not *Error", err)
	}
	if we.Reason != ReasonBadMagic {
		t.Fatalf("reason %v", we.Reason)
	}
	_, err = Parse([]byte("hb\x01\x01\x00\x05abcdefghij"))
	if got, want := err.Error(), "truncated datagram: need 61 bytes, have 16"; got != want {
		t.Fatalf("Error() = %q, want %q", got, want)
	}
	wrapped := fmt.Errorf("cannot decode datagram from 127.0.0.1:9: %w", err)
	if ReasonOf(wrapped) != ReasonTruncated || ReasonOf(errors.New("x")) != ReasonNone || ReasonOf(nil) != ReasonNone {
		t.Fatal("ReasonOf does not see through wrapping")
	}
	bad := build(testKey, KindSample, FlagCompressed, "h1", []byte{20, 0xff, 0xff})
	h := mustParse(t, bad)
	_, _, err = DecodeSample(&h, nil)
	if !errors.Is(err, s2.ErrCorrupt) {
		t.Fatalf("s2 cause not wrapped: %v", err)
	}
	if (&Error{Reason: ReasonReplay}).Error() != "replay" {
		t.Fatal("empty Msg should fall back to the reason")
	}
}

func TestValidName(t *testing.T) {
	for _, tc := range []struct {
		name   string
		host   bool
		plugin bool
	}{
		{"a", true, true},
		{"web-01.example.net", true, true},
		{"A_b-c.d9", true, true},
		{"_x", true, true},
		{"9x", true, true},
		{"", false, false},
		{".a", false, false},
		{"-a", false, false},
		{"a b", false, false},
		{"a\tb", false, false},
		{"a:b", false, false},
		{"ünï", false, false},
		{strings.Repeat("a", 64), true, true},
		{strings.Repeat("a", 65), true, false},
		{strings.Repeat("a", 253), true, false},
		{strings.Repeat("a", 254), false, false},
	} {
		if got := ValidName([]byte(tc.name)); got != tc.host {
			t.Errorf("ValidName(%q) = %v", tc.name, got)
		}
		if got := ValidPluginName([]byte(tc.name)); got != tc.plugin {
			t.Errorf("ValidPluginName(%q) = %v", tc.name, got)
		}
	}
}

// seedDatagrams returns one valid datagram of every kind, plus a compressed
// sample, in version 2 and then in version 1; the first two are a heartbeat
// and a sample of version 2.
func seedDatagrams(tb testing.TB) [][]byte {
	return append(seedDatagramsOf(tb, testEnv), seedDatagramsOf(tb, testEnvV1)...)
}

func seedDatagramsOf(tb testing.TB, testEnv Envelope) [][]byte {
	tb.Helper()
	s := NewSigner(testKey)
	var out [][]byte
	add := func(b []byte, err error) {
		if err != nil {
			tb.Fatal(err)
		}
		out = append(out, b)
	}
	add(AppendHeartbeat(nil, s, testEnv, Heartbeat{IntervalMS: 5000, ConnSeq: 42, RTTMicros: 1250}))
	add(AppendSample(nil, s, testEnv, "cpu", []byte(smallJSON)))
	add(AppendSample(nil, s, testEnv, "disk_monitor", bigJSON(2048)))
	add(AppendBoot(nil, s, testEnv, Boot{IntervalMS: 5000, AgentVersion: []byte("hbd-agent 0.1.0")}))
	add(AppendShutdown(nil, s, testEnv, Shutdown{Reason: []byte("SIGTERM")}))
	add(AppendAck(nil, s, testEnv, Ack{Seq: testEnv.Seq, Time: testEnv.Time, HoldNanos: 25000}))
	return out
}
