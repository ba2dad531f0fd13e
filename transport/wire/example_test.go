package wire

import (
	"bytes"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// docExample is the heartbeat shown in docs/PROTOCOL.md, as made by
// AppendHeartbeat with the key 32 bytes of 0x01.
func docExample(t *testing.T) []byte {
	t.Helper()
	s := NewSigner(bytes.Repeat([]byte{0x01}, 32))
	e := Envelope{Host: "web-01.example.net", Seq: 1767225600000000042, Time: 1767225605000000000}
	b, err := AppendHeartbeat(nil, s, e, Heartbeat{IntervalMS: 5000, ConnSeq: 42, RTTMicros: 1250})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestProtocolDocExample keeps the hex dump in docs/PROTOCOL.md true: it
// must be exactly what the encoder produces (hex.Dump format, as
// `hexdump -C`). Run with -v to print the dump after a deliberate change.
func TestProtocolDocExample(t *testing.T) {
	dump := hex.Dump(docExample(t))
	t.Logf("heartbeat example:\n%s", dump)
	doc, err := os.ReadFile(filepath.Join("..", "..", "docs", "PROTOCOL.md"))
	if err != nil {
		t.Fatalf("cannot read the protocol doc: %v", err)
	}
	if !strings.Contains(string(doc), dump) {
		t.Fatalf("docs/PROTOCOL.md does not contain the encoder's heartbeat dump:\n%s", dump)
	}
}
