// Package statefile is hbd's durable host state on disk: the record codec
// of one host's state, the files that hold those records, and the rules for
// reading a state directory back.
//
// A state directory holds one snapshot and the deltas written after it:
//
//	snap-<seq>.hbds    every host's full record (connections, replay
//	                   windows, rings, alert states, RTT windows)
//	delta-<seq>.hbds   the hosts that changed since the previous file: their
//	                   whole small state plus only the samples stored (and
//	                   the heartbeats' RTTs recorded) since
//	                   (a new host, or one that lost its changes, writes a
//	                   full record instead)
//
// seq grows with every file written. The state is the newest intact
// snapshot followed, in seq order, by every intact delta with a higher seq;
// for one host that is a full record and then its deltas, which the caller
// applies in order (a full record replaces, a delta's samples are inserted
// into the rings). This is the layout of Prometheus' head (a checkpoint and
// the WAL segments after it) with the host as the unit: a delta costs what
// changed, and no file is ever modified after it is written.
//
// Every file is written under a temporary name, synced and renamed, so a
// crash leaves either the whole file or none of it. Inside, a header with
// the format version and a CRC, then framed records each with a CRC-32C,
// then an end record with the count. A file that fails any check (a torn
// tail, a flipped bit, a wrong count) is rejected whole, never loaded
// half-way; [Load] reports it with its path, renames it *.corrupt and goes
// on without it. A file of a format version this package does not read
// (newer than [Version], older than [MinVersion]) is moved into
// unsupported/ and reported, never overwritten. A host record ends with
// sections (tag, length, body) that a reader skips when it does not know
// them, so most new fields need no new format version.
//
// Concurrency: the package has no global state. A [Writer] is used by one
// goroutine. [Load], [Check] and [Prune] must not run while a Writer writes
// to the same directory; hbd reads the directory once at start, before its
// checkpointer starts.
package statefile
