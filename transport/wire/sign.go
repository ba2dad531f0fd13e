package wire

import (
	"crypto/hmac"
	"crypto/sha256"
	"hash"
)

// Signer computes and checks the HMAC-SHA256 that ends every datagram.
//
// It keeps one keyed hash state and a result buffer so that Sign and Verify
// do not allocate. It is NOT safe for concurrent use: give each goroutine or
// actor its own Signer (they are cheap, about 0.5 KiB).
type Signer struct {
	mac hash.Hash
	sum [MACSize]byte
}

// NewSigner returns a Signer for key. The key is not retained. Keys loaded
// with LoadKey are at least 16 bytes; NewSigner itself accepts any length so
// that tests can use short keys.
func NewSigner(key []byte) *Signer {
	return &Signer{mac: hmac.New(sha256.New, key)}
}

// Verify reports whether the last MACSize bytes of datagram are the
// HMAC-SHA256 of the bytes before them. The comparison is constant-time so
// that response timing does not leak how much of a forged MAC was right.
func (s *Signer) Verify(datagram []byte) bool {
	n := len(datagram) - MACSize
	if n < 0 {
		return false
	}
	s.mac.Reset()
	s.mac.Write(datagram[:n])
	sum := s.mac.Sum(s.sum[:0])
	return hmac.Equal(sum, datagram[n:])
}

// Sign appends the HMAC-SHA256 of all of dst to dst and returns the result.
func (s *Signer) Sign(dst []byte) []byte { return s.appendMAC(dst, 0) }

// appendMAC appends the MAC of dst[start:] to dst, so encoders can append a
// datagram to a buffer that already holds other data.
func (s *Signer) appendMAC(dst []byte, start int) []byte {
	s.mac.Reset()
	s.mac.Write(dst[start:])
	return s.mac.Sum(dst)
}
