package ingest

import "github.com/hbd-project/hbd/transport/wire"

// Keys holds the fleet key and optional per-host keys. Immutable after
// construction; safe for concurrent use.
type Keys struct {
	fleet   []byte
	perHost map[string][]byte
}

// NewKeys returns the key set; perHost may be nil.
func NewKeys(fleet []byte, perHost map[string][]byte) *Keys {
	return &Keys{fleet: fleet, perHost: perHost}
}

// For returns the key datagrams from host are signed with.
func (k *Keys) For(host []byte) []byte {
	if key, ok := k.perHost[string(host)]; ok {
		return key
	}
	return k.fleet
}

// signers caches one keyed HMAC state per key for one goroutine.
type signers struct {
	keys    *Keys
	fleet   *wire.Signer
	perHost map[string]*wire.Signer
}

func newSigners(k *Keys) *signers {
	return &signers{keys: k, fleet: wire.NewSigner(k.fleet), perHost: make(map[string]*wire.Signer)}
}

// forHost returns the signer for a datagram's host field. The common case
// (one fleet key) touches no map; the map lookups with string(host) do not
// allocate.
func (s *signers) forHost(host []byte) *wire.Signer {
	if len(s.keys.perHost) == 0 {
		return s.fleet
	}
	if sg, ok := s.perHost[string(host)]; ok {
		return sg
	}
	return s.forName(string(host))
}

// forName is forHost for a name already held as a string (the ACK writer's).
func (s *signers) forName(host string) *wire.Signer {
	if len(s.keys.perHost) == 0 {
		return s.fleet
	}
	if sg, ok := s.perHost[host]; ok {
		return sg
	}
	key, ok := s.keys.perHost[host]
	if !ok {
		return s.fleet
	}
	sg := wire.NewSigner(key)
	s.perHost[host] = sg
	return sg
}
