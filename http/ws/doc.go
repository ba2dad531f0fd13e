// Package ws is the connection side of hbd's WebSocket stream: the
// fasthttp handler that upgrades "/hbd" requests, and each client's
// reader, writer and bounded queue. What each client receives is decided
// by the hub, package actors/broadcast, which this package registers every
// connection with (as a broadcast.Conn) and hands decoded subscriptions
// to. docs/WEBSOCKET.md is the contract for consumers.
//
// # Subscriptions
//
// A client may send {"subscribe":{"hosts":[globs],"types":[types]}} to
// narrow what it receives; the reader decodes it and passes the compiled
// filter (broadcast.NewFilter) to the hub, which answers with a fresh
// snapshot filtered by the host globs. A message that is not a valid
// subscription is answered with an "error" frame and changes nothing.
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
// the whole fleet. The snapshot of the whole fleet is one shared frame per
// fleet publication (broadcast.Hosts), written without a copy; a client
// with host globs has its writer build its own. Every cut-off is counted by reason (CutOffs) and logged
// at most once a minute per reason.
//
// Browser Origins are checked against Options.AllowedOrigins only, never
// against the request's Host, which DNS rebinding lets an attacker choose.
//
// # Ownership and concurrency
//
//   - The hub's actor owns the routing set; it appends to a client's queue
//     (the broadcast.Conn methods), which never blocks: it holds the
//     client's mutex only for a slice operation.
//   - Each client has exactly one writer goroutine, the only code that
//     writes to its connection (with a write deadline of
//     Options.WriteTimeout per frame; pings, pongs and close frames go out
//     from it too), and one reader goroutine (the hijacked fasthttp
//     connection's goroutine) that reads subscriptions and pongs and
//     forwards subscriptions to the hub.
//   - A client whose queue would exceed Options.QueueFrames frames or its
//     byte bound is cut off at once: the hub drops it, its queue is dropped
//     and the cut-off counted, and its writer closes the connection as soon
//     as its current write returns (at most WriteTimeout later).
//   - The Endpoint tracks its live connections for shutdown only (like
//     net/http's tracked connections): closing must not depend on the hub
//     being alive.
//
// Handler, Clients, FramesSent, CutOff, CutOffs, OriginsRefused and Stop
// are safe to call from any goroutine. Stop closes every client with a
// close frame (fasthttp's Server.Shutdown does not close hijacked
// connections) and waits for the clients' goroutines; it is safe to call
// more than once. Stop the Endpoint before its hub.
package ws
