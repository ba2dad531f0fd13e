package clusterwire

import (
	"errors"
	"testing"
)

func TestHeaderRoundTrip(t *testing.T) {
	for k := KindForward; k <= maxKnownKind; k++ {
		b := AppendHeader([]byte(nil), k)
		b = append(b, "body"...)
		got, body, err := ParseHeader(b)
		if err != nil || got != k || string(body) != "body" {
			t.Errorf("ParseHeader(AppendHeader(%v)) = %v, %q, %v", k, got, body, err)
		}
		if k.String() == "" || k.String()[0] == 'k' {
			t.Errorf("kind %d has no name: %q", k, k.String())
		}
	}
}

func TestHeaderErrors(t *testing.T) {
	for _, tt := range []struct {
		in   []byte
		want error
	}{
		{nil, ErrShort},
		{[]byte("HC\x01"), ErrShort},
		{[]byte("XC\x01\x01"), ErrMagic},
		{[]byte("HC\x02\x01"), ErrVersion},
		{[]byte("HC\x01\x00"), ErrKind},
		{[]byte("HC\x01\x0b"), ErrKind},
	} {
		if _, _, err := ParseHeader(tt.in); !errors.Is(err, tt.want) {
			t.Errorf("ParseHeader(%q) = %v, want %v", tt.in, err, tt.want)
		}
	}
}

func FuzzParseHeader(f *testing.F) {
	f.Add(AppendHeader(nil, KindForward))
	f.Add([]byte("HC"))
	f.Fuzz(func(t *testing.T, b []byte) {
		k, body, err := ParseHeader(b)
		if err != nil {
			return
		}
		if again := append(AppendHeader(nil, k), body...); string(again) != string(b) {
			t.Fatalf("re-encoding %q gives %q", b, again)
		}
	})
}
