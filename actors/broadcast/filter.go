package broadcast

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path"
)

// Event types a client can subscribe to, as a bit set.
const (
	typeHost uint8 = 1 << iota
	typePlugin
	typeAlert
	typeMessage
)

// maxPatterns bounds the host globs of one subscription, so that matching
// one event against one client stays cheap.
const maxPatterns = 256

// typeBit maps an event type to its bit; an unknown type has none.
func typeBit(t string) uint8 {
	switch t {
	case "host":
		return typeHost
	case "plugin":
		return typePlugin
	case "alert":
		return typeAlert
	case "message":
		return typeMessage
	}
	return 0
}

// filter is one client's subscription. The zero filter accepts everything.
// It is immutable once built: the actor replaces it, never edits it.
type filter struct {
	hosts []string // path.Match globs; empty means every host
	types uint8    // bit set of type*; 0 means every type
}

// wants reports whether an event of type typ about host passes the filter.
// An event type the filter does not know passes only an unfiltered client.
func (f *filter) wants(typ, host string) bool {
	if f.types != 0 && f.types&typeBit(typ) == 0 {
		return false
	}
	return f.wantsHost(host)
}

// wantsHost reports whether host matches one of the globs. An event without
// a host (a daemon-wide message) reaches only clients without host globs.
func (f *filter) wantsHost(host string) bool {
	if len(f.hosts) == 0 {
		return true
	}
	if host == "" {
		return false
	}
	for _, p := range f.hosts {
		// The patterns were validated when parsed, so Match cannot fail.
		if ok, _ := path.Match(p, host); ok {
			return true
		}
	}
	return false
}

// clientMessage is what a client may send.
type clientMessage struct {
	Subscribe *struct {
		Hosts []string `json:"hosts"`
		Types []string `json:"types"`
	} `json:"subscribe"`
}

// parseSubscription decodes a client's message into a filter. Unknown
// fields are errors, so that a typo ("host" for "hosts") is reported to
// the client instead of silently subscribing to everything.
func parseSubscription(msg []byte) (*filter, error) {
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
	if len(s.Hosts) > maxPatterns {
		return nil, fmt.Errorf("too many host patterns: %d (at most %d)", len(s.Hosts), maxPatterns)
	}
	f := &filter{}
	for _, p := range s.Hosts {
		if p == "" {
			return nil, errors.New("empty host pattern")
		}
		if _, err := path.Match(p, ""); err != nil {
			return nil, fmt.Errorf("invalid host pattern %q: %w", p, err)
		}
	}
	if len(s.Hosts) > 0 {
		f.hosts = s.Hosts
	}
	for _, t := range s.Types {
		bit := typeBit(t)
		if bit == 0 {
			return nil, fmt.Errorf("unknown type %q (want host, plugin, alert or message)", t)
		}
		f.types |= bit
	}
	return f, nil
}

// hostName returns the "name" of a host object. hbd encodes host objects
// with "name" first and usually without escapes, so the common case is a
// prefix check and a scan; anything else is decoded properly.
func hostName(obj []byte) (string, bool) {
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
