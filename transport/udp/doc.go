// Package udp holds hbd's UDP sockets: one socket per address family, a large
// receive buffer, and batched reads and writes. It moves bytes and addresses
// only; it knows nothing of the wire protocol or of actors.
//
// # Contract
//
// [Listen] binds one socket of one family ("udp4" or "udp6"). IPv6 sockets
// are IPV6_V6ONLY, so an IPv4 and an IPv6 socket can share a port and every
// datagram arrives on the socket of its own family. With
// [Options.ReusePort], several sockets can share a port so that each can have
// its own reader goroutine; the kernel spreads datagrams over them.
//
// [Conn.ReadBatch] fills a [Batch] with as many datagrams as are queued (up
// to the batch's capacity) in one system call, and [Conn.WriteBatch] sends
// every datagram queued in an [OutBatch]. On Linux these are recvmmsg(2) and
// sendmmsg(2) called directly through golang.org/x/sys/unix on buffers and
// message headers that each batch allocates once, so the steady state
// allocates nothing per datagram. golang.org/x/net's ipv4/ipv6
// PacketConn.ReadBatch is not used: it allocates a *net.UDPAddr and its IP
// slice for every datagram received (two allocations per message, see
// BenchmarkReadBatch/xnet), and its WriteBatch needs a net.Addr per message.
// On other platforms each call reads or writes one datagram per system call
// through the standard library, which is also allocation-free.
//
// A datagram longer than the batch's buffer size is cut to that size and
// flagged by [Batch.Truncated]; the rest of it is lost.
//
// # Concurrency
//
// A [Conn] is safe for concurrent use as long as each [Batch] and each
// [OutBatch] is used by one goroutine at a time: the per-call state of
// ReadBatch lives in the Batch and that of WriteBatch in the OutBatch.
// The usual pattern is one reader goroutine per socket with its own Batch
// and one writer goroutine with its own OutBatch. [Conn.WriteTo],
// [Conn.SetReadDeadline] and [Conn.Close] may be called from any goroutine.
// Close is idempotent and makes a pending or later ReadBatch return an error
// that matches [net.ErrClosed] under errors.Is.
package udp
