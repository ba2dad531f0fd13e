// Package broadcast is hbd's WebSocket broadcaster: a protoactor actor that
// owns the set of WebSocket clients and fans the daemon's events out to
// them, plus the fasthttp handler that upgrades "/hbd" requests.
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
// A client may send {"subscribe":{"hosts":[globs],"types":[types]}} to
// narrow what it receives; it then gets a fresh snapshot filtered by the
// host globs. A message that is not a valid subscription is answered with
// an "error" frame and changes nothing.
//
// # What a client may cost
//
// Everything a client sends, messages, pings and pongs, takes a token from
// its own bucket (Options.MessageRate, MessageBurst); a client out of
// tokens gets a close frame with code 1008 and is cut off. A message over
// Options.ReadLimit is cut off too (1009), a subscription over
// Options.MaxGlobs is refused with an error frame. A client has at most
// one snapshot waiting: a new subscription replaces it. Snapshots count
// against the queue's byte bound, which is QueueBytes plus one snapshot of
// the whole fleet. The actor only takes the fleet's host objects (shared,
// immutable) for a snapshot; the client's writer filters them and builds
// the frame just before sending it. Every cut-off is counted by reason
// (CutOffs) and logged at most once a minute per reason.
//
// Browser Origins are checked against Options.AllowedOrigins only, never
// against the request's Host, which DNS rebinding lets an attacker choose.
//
// # Ownership and concurrency
//
//   - The actor owns the clients' routing set (their filters) and the
//     coalescing buffer. It never reads, writes or closes a socket: it only
//     appends frames to each client's bounded queue, which never blocks.
//   - Each client has exactly one writer goroutine, the only code that
//     writes to its connection (with a write deadline of
//     Options.WriteTimeout per frame), and one reader goroutine (the
//     hijacked fasthttp connection's goroutine) that reads subscriptions and
//     pongs and forwards subscriptions to the actor.
//   - A client whose queue would exceed Options.QueueFrames frames or its
//     byte bound is cut off at once: the actor drops it and its queue and
//     counts it, and its writer closes the connection as soon as its
//     current write returns (at most WriteTimeout later). It is never
//     waited for, so one slow reader cannot slow the others or ingest.
//   - "host" and "plugin" events with the same (Type, Host, Key) that arrive
//     within one Options.Coalesce window are merged: only the latest is sent,
//     when the window's timer fires. "alert" and "message" events are never
//     coalesced or delayed.
//
// Publish, PID, Handler, Clients, FramesSent, CutOff, CutOffs,
// OriginsRefused and Stop are safe to call from any goroutine. Stop closes
// every client with a close frame (fasthttp's Server.Shutdown does not
// close hijacked connections), waits for the clients' goroutines and stops
// the actor; it is safe to call more than once.
package broadcast
