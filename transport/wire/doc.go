// Package wire implements versions 2 and 1 of the hbd UDP wire protocol:
// the byte layout of the datagrams that agents send to the daemon
// (heartbeat, sample, boot, shutdown, silence) and of the daemon's ACK,
// their HMAC-SHA256 signatures, replay protection and the key files.
// docs/PROTOCOL.md is the normative description; this package is its
// reference implementation.
//
// Version 2 adds a sender instance to the header: every agent process has
// a sequence space of its own, so a one-shot run (hbd-agent -silence) next
// to the running agent cannot make the daemon take the running one's
// datagrams for replays. [Parse] reads both versions; the encoders write
// version 2 for an [Envelope] with an Instance and version 1 without one,
// and a daemon answers each datagram in its own version.
//
// The contract, in the order a receiver applies it:
//
//  1. [Parse] checks framing only (magic, version, kind, flags, lengths, host
//     name charset). It never allocates and never trusts a length it has not
//     checked against the buffer. It does not check the MAC, so that a
//     receiver with per-host keys can pick the key by [Header.Host] first.
//  2. [Signer.Verify] checks the trailing HMAC-SHA256 in constant time.
//     Nothing from a datagram that fails it may be acted upon.
//  3. [ClockOK] and [ReplayGuard.Check] reject replays: a timestamp outside
//     the allowed clock skew, or a sequence number seen before or older than
//     its sender instance's 128-entry [ReplayWindow], or one that leaps too
//     far ahead of it. The guard keeps windows for MaxInstances instances
//     per host and refuses datagrams of an instance it had to forget unless
//     they are newer than anything that instance had sent.
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
// [ReplayGuard] holds per-host state; neither is safe for concurrent use,
// so give each goroutine (or actor) its own.
//
// Values returned by [Parse] and the Decode* functions alias the input
// buffer (or the scratch buffer of [DecodeSample]); copy them before the
// buffer is reused.
package wire
