// Package journal is hbd's durable message journal: an append-only JSON
// Lines file with size-based rotation, batched writes, periodic fsync and
// read-back after a restart.
//
// Each line is one Record, encoded as a single JSON object:
//
//	{"time":1711234567.123,"host":"web1","kind":"state","msg":"web1 is DOWN","fields":{"level":"critical"}}
//
// "time" is Unix seconds with millisecond precision; "host" is always
// present ("" for daemon-wide records); "fields" is omitted when empty.
// Kinds are an open set: readers accept kinds they do not know.
//
// # Writing
//
// A Writer appends batches to Config.File in Config.Dir. Each batch is
// encoded into one buffer and handed to the kernel in one write(2), so a
// crash leaves at most one torn line at the end of the file. Before a batch
// that would take the file past Config.MaxSize, the file is rotated:
// File.1 is the newest backup, File.N the oldest, and backups beyond
// Config.MaxBackups are deleted. A batch larger than MaxSize is never
// split: it lands whole in one file.
//
// Write fsyncs at most once per Config.Fsync. The data of the batches in
// between is in the page cache, not yet on disk, so the owner should call
// Sync when its queue drains (or on a ticker of period Fsync) to bound how
// long a quiet journal stays unsynced; Sync is a no-op when nothing is
// pending.
//
// A write that fails (a full disk, an I/O error) loses its batch, never
// part of it: what reached the file is cut off again. Write reports the
// loss as an *IOError, and the first write that succeeds afterwards starts
// with a record of kind "dropped" saying how many events were lost,
// between when and why ("12 events lost between T1 and T2: no space left
// on device"); Close tries once more. A torn last line left by a crash is
// removed by Open (Repaired reports its size).
//
// A Writer is NOT safe for concurrent use: one goroutine owns it, so that
// the journal actor itself never blocks on disk I/O.
//
// # Reading
//
// Read and Tail read records back, newest first (Tail returns them
// chronologically), across the current file and its backups. They read
// files backwards in fixed-size chunks, so fetching the last few records
// of a 64 MiB file costs one chunk, not the whole file. A line that does
// not parse (a torn line Open could not remove, a hand edit) is skipped.
// Read and Tail only read files: they are safe to call from any goroutine,
// also while a Writer appends to the same journal.
package journal
