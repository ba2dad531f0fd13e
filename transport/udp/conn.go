package udp

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"syscall"
	"time"
)

// Family is the address family of a socket.
type Family uint8

// The two families hbd speaks. The values are the IP version numbers.
const (
	IPv4 Family = 4
	IPv6 Family = 6
)

// String returns "ipv4" or "ipv6", the names the HTTP API uses for a host's
// connections.
func (f Family) String() string {
	switch f {
	case IPv4:
		return "ipv4"
	case IPv6:
		return "ipv6"
	default:
		return "Family(" + strconv.Itoa(int(f)) + ")"
	}
}

// ErrFamily reports a destination address of the other family than the
// socket's (for example an IPv6 address given to an IPv4 socket).
var ErrFamily = errors.New("destination address family does not match the socket")

// Options for [Listen]. The zero value binds a plain socket with the kernel's
// default buffers.
type Options struct {
	// RecvBuffer is the wanted SO_RCVBUF in bytes; 0 keeps the kernel
	// default. On Linux SO_RCVBUFFORCE is tried first because it can exceed
	// net.core.rmem_max (it needs root or CAP_NET_ADMIN); without that
	// privilege SO_RCVBUF is used and the kernel caps the value at
	// rmem_max. See [Conn.RecvBufferGranted] for what was granted.
	RecvBuffer int
	// SendBuffer is the wanted SO_SNDBUF in bytes; 0 keeps the kernel
	// default. On Linux SO_SNDBUFFORCE is tried first, as for RecvBuffer.
	SendBuffer int
	// ReusePort sets SO_REUSEPORT before bind, so several sockets (one
	// reader goroutine each) can share a port. Listen fails where the
	// platform has no SO_REUSEPORT.
	ReusePort bool
}

// Conn is one UDP socket of one address family. See the package
// documentation for its concurrency rules.
type Conn struct {
	pc     *net.UDPConn
	raw    syscall.RawConn
	family Family
	local  netip.AddrPort
	// rcvGranted is the receive buffer in bytes as read back after Listen.
	rcvGranted int
	// batched selects recvmmsg/sendmmsg; false reads and writes one
	// datagram per system call. Tests clear it to cover the portable path
	// on Linux too.
	batched bool

	closeOnce sync.Once
	closeErr  error
}

// Listen binds one socket. network is "udp4" or "udp6"; addr is a literal
// host:port such as "0.0.0.0:50003" or "[::1]:0". A "udp6" socket is
// IPV6_V6ONLY, so an IPv4 socket can bind the same port.
func Listen(network, addr string, opt Options) (*Conn, error) {
	return listen(network, addr, opt, haveMmsg)
}

// ListenAny binds an ephemeral port on the unspecified address of the family
// of network ("udp4" or "udp6"). The agent and the bench use it to send to
// many destinations and read the replies.
func ListenAny(network string) (*Conn, error) {
	switch network {
	case "udp4":
		return Listen(network, "0.0.0.0:0", Options{})
	case "udp6":
		return Listen(network, "[::]:0", Options{})
	default:
		return nil, fmt.Errorf("cannot listen on %q: network must be udp4 or udp6", network)
	}
}

func listen(network, addr string, opt Options, batched bool) (*Conn, error) {
	var family Family
	switch network {
	case "udp4":
		family = IPv4
	case "udp6":
		family = IPv6
	default:
		return nil, fmt.Errorf("cannot listen on %s %q: network must be udp4 or udp6", network, addr)
	}
	if opt.RecvBuffer < 0 || opt.SendBuffer < 0 {
		return nil, fmt.Errorf("cannot listen on %s %s: negative buffer size (recv %d, send %d bytes)",
			network, addr, opt.RecvBuffer, opt.SendBuffer)
	}
	lc := net.ListenConfig{}
	if opt.ReusePort {
		// SO_REUSEPORT only works when set before bind(2), hence Control.
		lc.Control = func(_, _ string, rc syscall.RawConn) error {
			var serr error
			if err := rc.Control(func(fd uintptr) { serr = setReusePort(fd) }); err != nil {
				return err
			}
			return serr
		}
	}
	// Go already sets IPV6_V6ONLY on "udp6" sockets (net.favoriteAddrFamily);
	// TestListenDualStack checks that it stays so.
	pconn, err := lc.ListenPacket(context.Background(), network, addr)
	if err != nil {
		return nil, fmt.Errorf("cannot listen on %s %s: %w", network, addr, err)
	}
	pc := pconn.(*net.UDPConn)
	c := &Conn{pc: pc, family: family, batched: batched}
	if err := c.setup(opt); err != nil {
		_ = pc.Close()
		return nil, fmt.Errorf("cannot set up %s socket on %s: %w", network, addr, err)
	}
	return c, nil
}

func (c *Conn) setup(opt Options) error {
	raw, err := c.pc.SyscallConn()
	if err != nil {
		return err
	}
	c.raw = raw
	c.local = c.pc.LocalAddr().(*net.UDPAddr).AddrPort()
	if opt.RecvBuffer > 0 {
		if err := setRecvBuffer(c.pc, raw, opt.RecvBuffer); err != nil {
			return fmt.Errorf("cannot set receive buffer to %d bytes: %w", opt.RecvBuffer, err)
		}
	}
	if opt.SendBuffer > 0 {
		if err := setSendBuffer(c.pc, raw, opt.SendBuffer); err != nil {
			return fmt.Errorf("cannot set send buffer to %d bytes: %w", opt.SendBuffer, err)
		}
	}
	if c.batched {
		if err := enableTimestamps(raw); err != nil {
			return fmt.Errorf("cannot enable receive timestamps: %w", err)
		}
	}
	granted, err := recvBufferGranted(raw)
	if err != nil {
		return fmt.Errorf("cannot read back receive buffer size: %w", err)
	}
	c.rcvGranted = granted
	return nil
}

// LocalAddr returns the bound address, with the port the kernel chose when
// port 0 was asked for. The result is a fresh copy.
func (c *Conn) LocalAddr() *net.UDPAddr {
	return net.UDPAddrFromAddrPort(c.local)
}

// Family returns the socket's address family.
func (c *Conn) Family() Family { return c.family }

// RecvBufferGranted returns the receive buffer the kernel granted, in bytes,
// in the same unit as [Options.RecvBuffer], so granted < requested means the
// request was capped (at net.core.rmem_max when SO_RCVBUFFORCE was refused).
// Linux doubles the value set with SO_RCVBUF to leave room for its
// per-packet bookkeeping, and getsockopt reports that doubled memory budget;
// this method reports half of it, the size one would have to request to get
// that budget. With RecvBuffer 0 the budget is net.core.rmem_default, not
// doubled, so the report is half of that sysctl (106496 for the usual
// 212992). Other platforms report getsockopt(SO_RCVBUF) as is, or 0 where it
// cannot be read. The value is read once, right after Listen.
func (c *Conn) RecvBufferGranted() int { return c.rcvGranted }

// SetReadDeadline sets the time after which a pending or later ReadBatch
// fails with an error matching os.ErrDeadlineExceeded. The zero time clears
// it.
func (c *Conn) SetReadDeadline(t time.Time) error {
	return c.pc.SetReadDeadline(t)
}

// Close closes the socket and unblocks a pending ReadBatch, which then
// returns an error matching net.ErrClosed. Calls after the first return the
// first call's result.
func (c *Conn) Close() error {
	c.closeOnce.Do(func() { c.closeErr = c.pc.Close() })
	return c.closeErr
}

// ReadBatch blocks until at least one datagram arrives, then fills b with up
// to its capacity of the datagrams that are queued, without blocking again.
// It returns the number of datagrams, which is also b.Len(). Payloads alias
// b's buffers and stay valid until the next ReadBatch on b. On platforms
// other than Linux it returns one datagram per call.
//
// After Close it returns an error matching net.ErrClosed; after the read
// deadline, one matching os.ErrDeadlineExceeded.
func (c *Conn) ReadBatch(b *Batch) (int, error) {
	b.n, b.arrived = 0, 0
	var n int
	var err error
	if c.batched {
		n, err = c.readMmsg(b)
	} else {
		n, err = c.readOne(b)
	}
	if err != nil {
		return 0, err
	}
	b.n = n
	return n, nil
}

// readOne is the portable read: one datagram per system call through the
// standard library, which allocates nothing for netip.AddrPort sources.
func (c *Conn) readOne(b *Batch) (int, error) {
	n, _, flags, from, err := c.pc.ReadMsgUDPAddrPort(b.bufs[0], nil)
	trunc := flags&msgTrunc != 0
	if err != nil {
		if !isTruncErr(err) {
			return 0, err
		}
		trunc, n = true, len(b.bufs[0])
	}
	b.lens[0] = n
	b.trunc[0] = trunc
	b.addrs[0] = from
	return 1, nil
}

// WriteBatch sends every datagram queued in o and returns how many were
// sent. It keeps going past a datagram the kernel refuses (too large, no
// route, wrong family) so that one bad destination does not hold back the
// others; the error then says how many failed and wraps the cause for the
// earliest failed datagram. It does not Reset o.
func (c *Conn) WriteBatch(o *OutBatch) (sent int, err error) {
	if o.Len() == 0 {
		return 0, nil
	}
	var f writeFailures
	if c.batched {
		c.writeMmsg(o, &f)
	} else {
		c.writeEach(o, &f)
	}
	if f.n > 0 {
		return o.Len() - f.n, fmt.Errorf("cannot send %d of %d datagrams from %s, first to %s: %w",
			f.n, o.Len(), c.local, f.dst, f.err)
	}
	return o.Len(), nil
}

// writeFailures collects the datagrams of one WriteBatch that were not sent.
type writeFailures struct {
	n     int
	index int // OutBatch index of the earliest failed datagram
	dst   netip.AddrPort
	err   error
}

func (f *writeFailures) add(index int, dst netip.AddrPort, err error) {
	if f.n == 0 || index < f.index {
		f.index, f.dst, f.err = index, dst, err
	}
	f.n++
}

// writeEach is the portable write: one sendto per datagram.
func (c *Conn) writeEach(o *OutBatch, f *writeFailures) {
	for i := range o.Len() {
		if err := c.writeTo(o.payload(i), o.dsts[i]); err != nil {
			f.add(i, o.dsts[i], err)
		}
	}
}

// WriteTo sends one datagram to dst. It is safe for concurrent use.
func (c *Conn) WriteTo(p []byte, dst netip.AddrPort) error {
	if err := c.writeTo(p, dst); err != nil {
		return fmt.Errorf("cannot send %d bytes from %s to %s: %w", len(p), c.local, dst, err)
	}
	return nil
}

func (c *Conn) writeTo(p []byte, dst netip.AddrPort) error {
	dst, err := c.checkDst(dst)
	if err != nil {
		return err
	}
	_, err = c.pc.WriteToUDPAddrPort(p, dst)
	return err
}

// checkDst returns dst in the form the socket's family needs, or ErrFamily.
// An IPv4-mapped IPv6 address counts as IPv4: an IPV6_V6ONLY socket cannot
// reach it, and an IPv4 socket can once it is unmapped.
func (c *Conn) checkDst(dst netip.AddrPort) (netip.AddrPort, error) {
	a := dst.Addr().Unmap()
	switch {
	case !a.IsValid():
		return dst, errors.New("invalid destination address")
	case c.family == IPv4 && a.Is4():
		return netip.AddrPortFrom(a, dst.Port()), nil
	case c.family == IPv6 && a.Is6():
		return dst, nil
	default:
		return dst, fmt.Errorf("%w: %s socket, destination %s", ErrFamily, c.family, dst)
	}
}
