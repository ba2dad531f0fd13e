// Package ingest is the daemon's UDP ingest loop: it owns the sockets, one
// reader goroutine and one ACK writer per socket, and hands every valid
// datagram, decoded, to a [Router] that the actors implement. It imports no
// actor code.
//
// Each reader reads a batch of datagrams (recvmmsg), and for each one
// parses the header, verifies its HMAC with the host's key, checks its
// timestamp against the clock, applies the [limits] caps that need no
// per-host state (sample_bytes, keys_per_sample, and hosts_per_source for
// hosts not yet registered), decodes the payload into one message of its
// kind ([*Heartbeat], [*Boot], [*Shutdown], [*Sample], [*Silence]) and
// delivers it. A datagram that fails a check is dropped, counted by reason
// in [Counters] and noted with its source in the socket's rejected.Table;
// the daemon never answers it. Checks that need per-host state (the replay
// window, plugins_per_host, ...) belong to the message's receiver.
//
// # Contract with the receiver
//
// Goroutines. Reader i (of socket i) is the only caller of the Router and
// Route methods for the datagrams of its socket; readers run in parallel,
// so a Router's methods must be safe for concurrent use. Each reader calls,
// per datagram, at most one of Route.Deliver or Router.Unrouted, after at
// most one Router.Lookup and one Router.SourceFull (only on a miss of its
// cache). [Header.Ack] may be called from any goroutine, any number of
// times, also after [Ingest.Stop].
//
// Ownership. A delivered message and everything it references (its byte
// slices and strings) belong to the callee from the call on: the reader
// keeps no reference to it, never writes to it again, and allocated its
// slices for this message alone, so the callee may keep them, or hand them
// on, for as long as it likes. The reader's own buffers (the batch the
// socket was read into, the decompression scratch) are reused for the next
// datagram and are never part of a message.
//
// Blocking. Deliver, Unrouted, Lookup and SourceFull run on the reader
// goroutine: while one runs, the socket is not read and the kernel's
// buffer fills. They must not block or do I/O; queue the message (an
// actor's mailbox) and return. Ack does not block either: it queues on the
// socket's writer and, when that queue is full, drops the ACK and counts it
// in Counters.AcksDropped (the agent measures no RTT that time).
//
// Routing cache. A reader remembers the Route that Lookup returned for a
// host and never asks again: a Route must stay valid while the Ingest runs
// (a host's actor is never replaced). A host Lookup does not know goes to
// Unrouted with Header.Host set, every time, until Lookup knows it; the
// Router decides whether to admit it (the declared and dynamic-host checks
// are done before: see Config.Watch and Config.AcceptDynamic).
//
// Cost. For a valid datagram the loop takes no lock of its own and allocates
// only the message (and, for a sample, one slice holding plugin and data):
// the host name is the cached route's, the HMAC state is the reader's.
// BenchmarkReadLoop measures it.
package ingest
