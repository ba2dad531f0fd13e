// Package actors is hbd's state pipeline, built on protoactor-go.
//
// Data flows one way:
//
//	UDP sockets -> readers (transport/ingest) -> HostActor (one per host) -> fleet index, journal
//
// The readers (one per socket, in transport/ingest) parse each datagram,
// verify its HMAC, check its timestamp and decode its payload; a datagram
// that fails any check is dropped and counted by reason in Stats and changes
// nothing. Each valid datagram arrives here as one message of its kind
// (*ingest.Heartbeat, *ingest.Sample, ...), delivered by ingestRouter
// straight to the host's HostActor, found through the Registry, or to the
// registry actor, which spawns it on first contact when the host is
// declared or dynamic hosts are accepted.
//
// A HostActor owns everything about its host: the replay window, liveness
// and per-address-family connections, and the ring buffers of plugin
// samples. Nothing else touches that state; the HTTP API asks with messages
// and gets finished JSON back (encoded with internal/contract), or a flag
// saying what was not found; status codes are the API's. Receive never
// blocks: ACKs are queued to a per-socket writer goroutine, events go to
// the journal actor, and summaries to the fleet index, which publishes an
// immutable FleetSnapshot that any goroutine may read without locks.
//
// Every message is a pointer, and every Receive ends in a default case that
// counts (hbd_actor_unexpected_messages_total) and logs a message it has no
// case for, so a value sent where a pointer is handled is found, not lost.
//
// Liveness is driven by time, not traffic: each HostActor arms a timer for
// its next connection deadline, so a host that falls silent turns DOWN on
// time. All time comes from a Clock, so tests control it.
//
// A System is built by New and started by its Steps, each a start/stop
// pair run in order (cmd/hbd runs them beside its own parts; Start runs
// them all, for tests). Stopping them in reverse stops ingest first, then
// the actors in dependency order. A System is safe for concurrent use;
// Stop may be called more than once.
package actors
