// Package wire implements version 1 of the hbd UDP wire protocol: the byte
// layout of the datagrams that agents send to the daemon (heartbeat, sample,
// boot, shutdown) and of the daemon's ACK, their HMAC-SHA256 signatures, the
// replay window and the key files. docs/PROTOCOL.md is the normative
// description; this package is its reference implementation.
//
// The contract, in the order a receiver applies it:
//
//  1. [Parse] checks framing only (magic, version, kind, flags, lengths, host
//     name charset). It never allocates and never trusts a length it has not
//     checked against the buffer. It does not check the MAC, so that a
//     receiver with per-host keys can pick the key by [Header.Host] first.
//  2. [Signer.Verify] checks the trailing HMAC-SHA256 in constant time.
//     Nothing from a datagram that fails it may be acted upon.
//  3. [ReplayWindow.Check] and [ClockOK] reject replays: a sequence number
//     seen before or older than the 128-entry window, or a timestamp outside
//     the allowed clock skew.
//  4. The Decode* function matching [Header.Kind] validates and returns the
//     typed payload.
//
// Every rejection is an [*Error] carrying a [Reason], so receivers can keep
// one drop counter per reason ([AllReasons] lists them for registration).
//
// The Append* encoders build a complete signed datagram by appending to a
// caller-supplied buffer; with enough capacity they do not allocate. They
// refuse to build anything the decoders would reject.
//
// Concurrency: the package has no global mutable state. Functions are safe to
// call from any goroutine. A [Signer] holds a keyed hash state and a
// [ReplayWindow] holds per-host state; neither is safe for concurrent use,
// so give each goroutine (or actor) its own.
//
// Values returned by [Parse] and the Decode* functions alias the input
// buffer (or the scratch buffer of [DecodeSample]); copy them before the
// buffer is reused.
package wire
