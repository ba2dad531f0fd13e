package wire

import (
	"bytes"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// docExample is the version-2 heartbeat shown in docs/PROTOCOL.md, as made
// by AppendHeartbeat with the key 32 bytes of 0x01; docExampleV1 is the
// same heartbeat from a version-1 agent.
func docExample(t *testing.T) []byte {
	t.Helper()
	return docHeartbeat(t, Envelope{Host: "web-01.example.net", Seq: 42, Time: 1767225605000000000, Instance: 0x18867251edfa5eed})
}

func docExampleV1(t *testing.T) []byte {
	t.Helper()
	return docHeartbeat(t, Envelope{Host: "web-01.example.net", Seq: 1767225600000000042, Time: 1767225605000000000})
}

func docHeartbeat(t *testing.T, e Envelope) []byte {
	t.Helper()
	s := NewSigner(bytes.Repeat([]byte{0x01}, 32))
	b, err := AppendHeartbeat(nil, s, e, Heartbeat{IntervalMS: 5000, ConnSeq: 42, RTTMicros: 1250})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestProtocolDocExample keeps the hex dumps in docs/PROTOCOL.md true: they
// must be exactly what the encoder produces (hex.Dump format, as
// `hexdump -C`). Run with -v to print the dumps after a deliberate change.
func TestProtocolDocExample(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join("..", "..", "docs", "PROTOCOL.md"))
	if err != nil {
		t.Fatalf("cannot read the protocol doc: %v", err)
	}
	for name, b := range map[string][]byte{"version 2": docExample(t), "version 1": docExampleV1(t)} {
		dump := hex.Dump(b)
		t.Logf("%s heartbeat example:\n%s", name, dump)
		if !strings.Contains(string(doc), dump) {
			t.Errorf("docs/PROTOCOL.md does not contain the encoder's %s heartbeat dump:\n%s", name, dump)
		}
	}
}
