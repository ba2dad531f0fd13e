// Package broadcast is hbd's WebSocket hub: a protoactor actor that owns
// the routing set of WebSocket clients (each with its filter) and fans the
// daemon's events out to them. It does no I/O: the connections (upgrade,
// Origin check, reader and writer goroutines, queues, close handshake) are
// package http/ws, which hands each one to the hub as a Conn.
//
// # Frames
//
// Every frame is one JSON text message {"type":..., "data":...}. Other
// actors encode their events once and hand the broadcaster an *Event whose
// Frame is shared, unmodified, by every client. A client first receives a
// "snapshot" frame holding every host object (Options.Snapshot), then live
// "host", "plugin", "alert" and "message" frames. docs/WEBSOCKET.md is the
// contract for consumers.
//
// A client's subscription, once http/ws has decoded it, reaches the hub as
// a compiled *Filter (NewFilter); the client then gets a fresh snapshot
// filtered by the host globs. A message that is not a valid subscription
// is answered with an error frame that http/ws builds and the hub queues
// (Reject), so that it keeps its place among the client's frames.
//
// # Ownership and concurrency
//
//   - The actor owns the routing set (each Conn's Filter) and the
//     coalescing buffer. It never reads, writes or closes a socket: all it
//     does to a connection is call Conn, whose methods never block.
//   - A Conn's Enqueue methods report a full queue by returning false; the
//     actor then drops the connection from the routing set and calls its
//     CutOff, once. It is never waited for, so one slow reader cannot slow
//     the others or ingest. A queue may hold one snapshot of the whole
//     fleet beyond its own byte bound (the allowance passed to Enqueue).
//   - For a snapshot the actor only takes the current publication's Hosts
//     (Options.Snapshot: a pointer, the same for every client until the
//     fleet publishes again); the connection's writer builds the frame
//     (Snapshot.Frame) just before sending it. The frame of every host is
//     built once per publication, by the first writer that needs it, and
//     shared by every client whose filter has no host globs; a filtered
//     one is built by its client's writer. A reconnect storm thus costs
//     the actor a pointer per client and the daemon at most one full
//     build per publication, and cannot delay the live frames.
//   - "host" and "plugin" events with the same (Type, Host, Key) that arrive
//     within one Options.Coalesce window are merged: only the latest is sent,
//     when the window's timer fires. "alert" and "message" events are never
//     coalesced; without a fan-out budget they are not delayed either.
//   - With a fan-out budget (Options.FanoutRate), a flush hands out at
//     most a window's share of it, alert and message events first, in
//     order; the host and plugin events left wait,
//     in order, one per (Type, Host, Key), the newest in the place of the
//     first, for the next windows. The stream thus has a CPU budget and a
//     bound in bytes (Options.PendingBytes), whatever the fleet's rate.
//   - Every message the actor receives is a pointer; one it has no case
//     for goes to Options.Unexpected.
//
// Publish, PID, Clients, Register, Subscribe, Reject, Unregister, Flush and
// Stop are safe to call from any goroutine. Stop stops the actor and waits
// for it; the connections are stopped first by their owner (http/ws's
// Endpoint.Stop), since the hub never closes them. It is safe to call more
// than once.
package broadcast
