// Package samplestore keeps the samples of one plugin of one host (a ring
// of the newest N) compactly, and gives each one back as exactly the bytes
// it was stored with.
//
// A plugin's samples share their keys and their values move little from
// one sample to the next, so a Ring keeps the keys once and codes each
// value as the difference from a prediction, in few bits. For hbd-bench's
// 4-plugin mix (365 bytes of JSON a sample on average) a full ring of 100
// holds about 38 bytes of live heap a sample where the JSON itself took
// about 440 (see TestMemoryPerSample), in one buffer per ring rather than
// one allocation per sample.
//
// # Templates
//
// A sample's template is its JSON with every scalar value (string, number,
// true, false, null; keys are not values) cut out and replaced by a
// placeholder: a zero byte and the column's kind. Everything between the
// values, whitespace and key order included, stays in the template as it
// is, so any input, even one that is not JSON, is its template with its
// values put back. Templates are interned (package unique), so the rings
// of hosts that send the same shape share one copy. A ring lists the
// templates its samples use; a sample whose shape differs from the
// previous one names its template in its record.
//
// A value is coded in one of two kinds of column, chosen by the value the
// template was made from:
//
//   - A number column holds numbers in canonical plain decimal form: an
//     optional minus, an integer part without leading zeros, an optional
//     fraction not ending in 0, no exponent, not -0, at most 19 digits
//     within int64, at most 18 decimals. This is how Go's encoding/json
//     writes integers and the floats between 1e-6 and 1e21 (which is what
//     the agent sends), and it is the one form that can be written back
//     from the value alone. A number is kept as an integer times 10^-scale,
//     the column's scale being the most decimals it has seen. Any other
//     number (1.0, -0, 1e-7, 2^64) is coded as its bytes, in that sample.
//   - A literal column holds the bytes of strings, true, false, null, or
//     whatever else: a bit says "as before", or the bytes follow.
//
// # Coding
//
// Each number column, and the timestamp, predicts its next value as the
// last one (a gauge) or the last one plus the last change (a counter:
// delta of delta, as Gorilla does for timestamps), whichever would have
// coded recent values in fewer bits. The difference from the prediction
// is zigzag-mapped and Rice coded: with k the column's running mean of
// bit lengths less one, z>>k in unary and then k bits of z, with an escape
// for large values (their bit length, then their bits) and for events (a
// literal in a number column, a larger scale). A value that does not
// change costs one bit.
//
// This suits the agents' numbers better than Gorilla's XOR of float64s:
// short decimals such as 45.3 and 45.4 differ in most of their mantissa
// bits, and hbd-bench's mix takes 2.3 times the space that way (see
// TestSmallerThanGorilla).
//
// # Layout
//
// A ring's buffer holds the oldest sample as a keyframe (its template and
// every column's state: value, last change, scale and coding parameters)
// and then one record per newer sample, each starting on a byte: a bit for
// a change of template (then the template's index), the timestamp, and
// each column's value. The newest sample's decoded state is kept beside
// the buffer: the next record is coded from it, and the newest sample is
// written from it without decoding anything. An older sample is decoded
// from the keyframe forward, so reading one costs up to a ring's worth of
// records: read many with All or Latest, which decode the ring once.
//
// When a full ring takes a sample, the oldest few (limit/16, at most 8)
// samples are dropped at once, past the limit: the keyframe is decoded,
// the records of the dropped samples applied, and the result written as
// the new keyframe in their place. Samples past the limit are never
// visible. The buffer is moved to its front or reallocated when its end is
// reached, so its slack stays a few percent.
//
// A sample that arrives late or out of order, which is rare, makes the
// ring decode all its samples and code them again in order; so does a
// ring that has collected more than 2 × limit + 8 templates (samples whose
// shape keeps changing), which then keeps only those still used.
package samplestore
