// Package bench is the load-test harness behind cmd/hbd-bench: it simulates
// many agents from one process and measures what an hbd daemon makes of
// them, from the outside, through the daemon's own /metrics counters.
//
// # Contract
//
// A [Generator] owns a set of simulated hosts (named bench-000001, ...) and
// a few sender goroutines, each with its own sockets, [wire.Signer] and
// share of the hosts, so that a host's sequence numbers are only ever
// touched by one goroutine and need no locking. It sends signed heartbeats
// and plugin samples paced per host (the shape a real fleet produces), and
// optionally a stream of samples at a fixed aggregate rate ([Generator.SetRate],
// [Generator.StartRounds]) for ramps and for filling the daemon's rings.
// Datagrams go out in sendmmsg batches ([udp.OutBatch]) and every datagram
// is sent to every target address, as an agent does.
//
// The measurements are: the harness's own send counters and CPU
// (getrusage); the daemon's counters scraped from /metrics ([Scraper],
// [ParseMetrics]); end-to-end latency seen by WebSocket clients ([RunWS]);
// HTTP API latency per route ([HTTPLoad]); the bare receive capacity of
// the machine ([RunSink]). Latencies go into [Histogram]s, which are
// log-linear (under 1 % relative error) and lock-free.
//
// The scenario runners ([RunLoad], [RunRamp], [RunMemory], [RunMax]) combine
// these, print a progress line every second and return a [Report], whose
// JSON form is what scripts read.
//
// # Concurrency
//
// [Histogram.Record] and the counters of [Generator] and [WSStats] are safe
// for concurrent use. A Generator's Run and Shutdown must not overlap;
// SetRate and StartRounds may be called from any goroutine while Run is
// running. Close is idempotent. The package has no package-level mutable
// state.
package bench
