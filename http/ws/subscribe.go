package ws

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/hbd-project/hbd/actors/broadcast"
)

// clientMessage is what a client may send.
type clientMessage struct {
	Subscribe *struct {
		Hosts []string `json:"hosts"`
		Types []string `json:"types"`
	} `json:"subscribe"`
}

// parseSubscription decodes a client's message into a filter with at most
// maxGlobs host globs; broadcast.NewFilter checks and compiles the globs
// and types. Unknown fields are errors, so that a typo ("host" for
// "hosts") is reported to the client instead of silently subscribing to
// everything.
func parseSubscription(msg []byte, maxGlobs int) (*broadcast.Filter, error) {
	dec := json.NewDecoder(bytes.NewReader(msg))
	dec.DisallowUnknownFields()
	var m clientMessage
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("cannot decode message: %w", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, errors.New("cannot decode message: data after the JSON object")
	}
	if m.Subscribe == nil {
		return nil, errors.New(`message has no "subscribe" object`)
	}
	s := m.Subscribe
	if len(s.Hosts) > maxGlobs {
		return nil, fmt.Errorf("too many host patterns: %d (at most %d)", len(s.Hosts), maxGlobs)
	}
	return broadcast.NewFilter(s.Hosts, s.Types)
}

// errorFrame encodes {"type":"error","data":{"error":msg}}.
func errorFrame(msg string) []byte {
	type data struct {
		Error string `json:"error"`
	}
	b, _ := json.Marshal(struct {
		Type string `json:"type"`
		Data data   `json:"data"`
	}{"error", data{msg}})
	return b
}
