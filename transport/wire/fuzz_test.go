package wire

import (
	"bytes"
	"testing"

	"github.com/hbd-project/hbd/internal/limits"
)

// FuzzParse feeds arbitrary bytes through the receive path (Parse, Verify,
// the matching Decode*) twice: as they come, and re-signed with the fuzz key
// so that the fuzzer explores the decoders behind a valid MAC instead of
// stopping at Verify. Beyond "no panic" it checks:
//   - every rejection is an *Error with a Reason;
//   - a parsed Header accounts for every byte of the datagram and aliases it;
//   - a datagram that parses, verifies and decodes re-encodes to the same
//     bytes (samples: to the same plugin and data, and to the same bytes
//     when neither side is compressed), i.e. the encoding is canonical and
//     the decoders accept nothing the encoders cannot produce.
func FuzzParse(f *testing.F) {
	for _, b := range seedDatagrams(f) {
		f.Add(b)
	}
	f.Add([]byte{})
	f.Add([]byte("hb"))
	f.Add(build(testKey, KindSample, FlagCompressed, "h1", compressedSample("p", `{"a":[1,2,{"b":null}]}`)))
	f.Add(build(testKey, KindBoot, 0, "h1", append(u32s(1), 3, 'a')))
	f.Add(buildVer(1, testKey, KindSample, FlagCompressed, "h1", compressedSample("p", `{"v1":true}`)))
	f.Add(buildVer(1, testKey, KindSilence, 0, "h1", append(u32s(600), 0, 4, 'n', 'o', 't', 'e')))

	f.Fuzz(func(t *testing.T, b []byte) {
		s := NewSigner(testKey)
		checkReceive(t, s, b, false)
		if len(b) >= MACSize {
			checkReceive(t, s, resign(testKey, b), true)
		}
	})
}

func checkReceive(t *testing.T, s *Signer, b []byte, signed bool) {
	h, err := Parse(b)
	if err != nil {
		if r := ReasonOf(err); r == ReasonNone || r == ReasonBadMAC {
			t.Fatalf("Parse error %v has reason %v", err, r)
		}
		return
	}
	offHost := hostOffset(h.Version)
	if len(b) != offHost+len(h.Host)+2+len(h.Payload)+MACSize {
		t.Fatalf("header accounts for %d+%d bytes of %d", len(h.Host), len(h.Payload), len(b))
	}
	if &h.Host[0] != &b[offHost] || !ValidName(h.Host) || !h.Kind.Valid() {
		t.Fatalf("bad header %+v", h)
	}
	if (h.Version == 1) != (h.Instance == 0) {
		t.Fatalf("version %d datagram with instance %d", h.Version, h.Instance)
	}
	verified := s.Verify(b)
	if signed && !verified {
		t.Fatal("re-signed datagram does not verify")
	}
	// Decoders must be safe on unverified input too, even though receivers
	// never call them on it.
	e := Envelope{Host: string(h.Host), Seq: h.Seq, Time: h.Time, Instance: h.Instance}
	var out []byte
	switch h.Kind {
	case KindHeartbeat:
		v, err := DecodeHeartbeat(&h)
		if !decoded(t, err) {
			return
		}
		out, err = AppendHeartbeat(nil, s, e, v)
		mustEncode(t, err)
	case KindBoot:
		v, err := DecodeBoot(&h)
		if !decoded(t, err) {
			return
		}
		out, err = AppendBoot(nil, s, e, v)
		mustEncode(t, err)
	case KindShutdown:
		v, err := DecodeShutdown(&h)
		if !decoded(t, err) {
			return
		}
		out, err = AppendShutdown(nil, s, e, v)
		mustEncode(t, err)
	case KindAck:
		v, err := DecodeAck(&h)
		if !decoded(t, err) {
			return
		}
		out, err = AppendAck(nil, s, e, v)
		mustEncode(t, err)
	case KindSilence:
		v, err := DecodeSilence(&h)
		if !decoded(t, err) {
			return
		}
		out, err = AppendSilence(nil, s, e, v)
		mustEncode(t, err)
	case KindParents:
		v, err := DecodeParents(&h)
		if !decoded(t, err) {
			return
		}
		out, err = AppendParents(nil, s, e, v)
		mustEncode(t, err)
	case KindSample:
		v, _, err := DecodeSample(&h, nil)
		if !decoded(t, err) {
			return
		}
		if v.Keys != limits.CountKeys(v.Data) {
			t.Fatalf("sample %q has %d keys, CountKeys says %d", v.Data, v.Keys, limits.CountKeys(v.Data))
		}
		out, err = AppendSample(nil, s, e, string(v.Plugin), v.Data)
		mustEncode(t, err)
		h2, err := Parse(out)
		if err != nil {
			t.Fatalf("re-encoded sample does not parse: %v", err)
		}
		v2, _, err := DecodeSample(&h2, nil)
		if err != nil || !bytes.Equal(v2.Plugin, v.Plugin) || !bytes.Equal(v2.Data, v.Data) {
			t.Fatalf("re-encoded sample decodes differently: %v", err)
		}
		if h2.Compressed() && 1+len(v.Plugin)+len(v.Data) <= CompressThreshold {
			t.Fatal("encoder compressed a payload below the threshold")
		}
		if h.Compressed() || h2.Compressed() {
			return
		}
	}
	if verified && !bytes.Equal(out, b) {
		t.Fatalf("re-encoding differs:\n in  %x\n out %x", b, out)
	}
	if !verified && bytes.Equal(out, b) {
		t.Fatal("encoder output equals a datagram that failed Verify")
	}
}

// decoded reports whether a decoder succeeded, failing the test if its error
// is not a classified *Error.
func decoded(t *testing.T, err error) bool {
	if err == nil {
		return true
	}
	if ReasonOf(err) == ReasonNone {
		t.Fatalf("decode error %v has no reason", err)
	}
	return false
}

func mustEncode(t *testing.T, err error) {
	if err != nil {
		t.Fatalf("encoder rejects what the decoder accepted: %v", err)
	}
}
