package contract

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// Subscription is what a WebSocket client may send to narrow its stream:
// {"subscribe":{"hosts":[globs],"types":[frame types]}}. Checking the globs
// and types is the broadcaster's job.
type Subscription struct {
	Hosts []string // nil or empty: every host
	Types []string // nil or empty: every type
}

// clientMessage is a client message's JSON form. Its name shows in the
// decoder's errors, which the client receives in an error frame.
type clientMessage struct {
	Subscribe *struct {
		Hosts []string `json:"hosts"`
		Types []string `json:"types"`
	} `json:"subscribe"`
}

// DecodeSubscription decodes a client's message: one JSON object with a
// "subscribe" object and nothing else. Unknown fields are errors, so that
// a typo ("host" for "hosts") is reported to the client instead of
// silently subscribing to everything.
func DecodeSubscription(msg []byte) (Subscription, error) {
	dec := json.NewDecoder(bytes.NewReader(msg))
	dec.DisallowUnknownFields()
	var m clientMessage
	if err := dec.Decode(&m); err != nil {
		return Subscription{}, fmt.Errorf("cannot decode message: %w", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return Subscription{}, errors.New("cannot decode message: data after the JSON object")
	}
	if m.Subscribe == nil {
		return Subscription{}, errors.New(`message has no "subscribe" object`)
	}
	return Subscription{Hosts: m.Subscribe.Hosts, Types: m.Subscribe.Types}, nil
}

// HostName returns the "name" of an encoded host object. AppendHost writes
// "name" first, and usually without escapes, so the common case is a
// prefix check and a scan; anything else is decoded properly.
func HostName(obj []byte) (string, bool) {
	const prefix = `{"name":"`
	if rest, ok := bytes.CutPrefix(obj, []byte(prefix)); ok {
		if i := bytes.IndexAny(rest, `"\`); i >= 0 && rest[i] == '"' {
			return string(rest[:i]), true
		}
	}
	var h struct {
		Name *string `json:"name"`
	}
	if err := json.Unmarshal(obj, &h); err != nil || h.Name == nil {
		return "", false
	}
	return *h.Name, true
}
