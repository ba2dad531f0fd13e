package udp

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strconv"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// haveMmsg says recvmmsg(2) and sendmmsg(2) are used (Linux >= 3.0).
const haveMmsg = true

// Socket address sizes in bytes (struct sockaddr_in, struct sockaddr_in6).
const (
	sizeofSockaddrInet4 = unix.SizeofSockaddrInet4
	sizeofSockaddrInet6 = unix.SizeofSockaddrInet6
)

// mmsgRecv is the recvmmsg state of one Batch: message headers, iovecs and
// source-address storage that point into the batch's buffers. It is built
// once, so a read allocates nothing.
type mmsgRecv struct {
	hdrs  []unix.Mmsghdr
	iovs  []unix.Iovec
	names [][sizeofSockaddrInet6]byte
	// zones caches the zone string of each IPv6 scope ID seen, so a
	// link-local source does not allocate a string per datagram.
	zones map[uint32]string
	// ctrl receives the first datagram's control message: its kernel
	// receive time (SO_TIMESTAMPNS, enabled by enableTimestamps). The
	// other datagrams get none: the first of a batch waited longest.
	ctrl [64]byte

	// Results of the last call of fn.
	n     int
	errno syscall.Errno
	// fn is r.recv bound once: passing a method value to RawConn.Read
	// would otherwise allocate a closure per call.
	fn func(fd uintptr) bool
}

func (r *mmsgRecv) init(bufs [][]byte) {
	n := len(bufs)
	r.hdrs = make([]unix.Mmsghdr, n)
	r.iovs = make([]unix.Iovec, n)
	r.names = make([][sizeofSockaddrInet6]byte, n)
	for i := range bufs {
		r.iovs[i].Base = &bufs[i][0]
		r.iovs[i].SetLen(len(bufs[i]))
		h := &r.hdrs[i].Hdr
		h.Iov = &r.iovs[i]
		h.SetIovlen(1)
		h.Name = &r.names[i][0]
	}
	r.hdrs[0].Hdr.Control = &r.ctrl[0]
	r.fn = r.recv
}

// recv runs inside RawConn.Read; returning false means "not ready, wait for
// the poller".
func (r *mmsgRecv) recv(fd uintptr) bool {
	// The kernel overwrites the name length and flags of each header it
	// fills, so restore them before every call.
	for i := range r.hdrs {
		r.hdrs[i].Hdr.Namelen = sizeofSockaddrInet6
		r.hdrs[i].Hdr.Flags = 0
		r.hdrs[i].Len = 0
	}
	r.hdrs[0].Hdr.SetControllen(len(r.ctrl))
	for {
		n, _, e := unix.Syscall6(unix.SYS_RECVMMSG, fd,
			uintptr(unsafe.Pointer(&r.hdrs[0])), uintptr(len(r.hdrs)),
			unix.MSG_DONTWAIT, 0 /* no timeout */, 0)
		switch e {
		case 0:
			r.n, r.errno = int(n), 0
			return true
		case unix.EINTR:
			// Retry at once: the poller is edge-triggered and would not
			// wake us again for datagrams that are already queued.
			continue
		case unix.EAGAIN:
			return false
		default:
			r.n, r.errno = 0, e
			return true
		}
	}
}

func (c *Conn) readMmsg(b *Batch) (int, error) {
	r := &b.recv
	if err := c.raw.Read(r.fn); err != nil {
		return 0, err
	}
	if r.errno != 0 {
		return 0, fmt.Errorf("cannot read from %s: %w", c.local, os.NewSyscallError("recvmmsg", r.errno))
	}
	for i := range r.n {
		h := &r.hdrs[i]
		b.lens[i] = int(h.Len)
		b.trunc[i] = h.Hdr.Flags&unix.MSG_TRUNC != 0
		b.addrs[i] = r.source(i)
	}
	b.arrived = 0
	if r.n > 0 {
		b.arrived = r.stamp()
	}
	return r.n, nil
}

// stamp is the first datagram's kernel receive time in Unix nanoseconds
// (SCM_TIMESTAMPNS), or 0 when the kernel gave none. Parsed in place: a
// read allocates nothing.
func (r *mmsgRecv) stamp() int64 {
	n := int(r.hdrs[0].Hdr.Controllen)
	off := unix.CmsgLen(0) // the header, aligned: where the data starts
	if n < off+int(unsafe.Sizeof(unix.Timespec{})) {
		return 0
	}
	h := (*unix.Cmsghdr)(unsafe.Pointer(&r.ctrl[0]))
	if h.Level != unix.SOL_SOCKET || h.Type != unix.SCM_TIMESTAMPNS {
		return 0
	}
	ts := (*unix.Timespec)(unsafe.Pointer(&r.ctrl[off]))
	return ts.Nano()
}

// enableTimestamps asks the kernel to stamp each datagram with its
// receive time (socket(7), SO_TIMESTAMPNS): how long datagrams wait in
// the socket is then known (Batch.Arrived).
func enableTimestamps(raw syscall.RawConn) error {
	var serr error
	err := raw.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_TIMESTAMPNS, 1)
	})
	if err != nil {
		return err
	}
	return serr
}

// source decodes the struct sockaddr_in or sockaddr_in6 of datagram i.
func (r *mmsgRecv) source(i int) netip.AddrPort {
	sa := &r.names[i]
	port := binary.BigEndian.Uint16(sa[2:4])
	switch binary.NativeEndian.Uint16(sa[0:2]) {
	case unix.AF_INET:
		return netip.AddrPortFrom(netip.AddrFrom4([4]byte(sa[4:8])), port)
	case unix.AF_INET6:
		a := netip.AddrFrom16([16]byte(sa[8:24]))
		if scope := binary.NativeEndian.Uint32(sa[24:28]); scope != 0 {
			a = a.WithZone(r.zone(scope))
		}
		return netip.AddrPortFrom(a, port)
	default:
		return netip.AddrPort{}
	}
}

func (r *mmsgRecv) zone(scope uint32) string {
	if z, ok := r.zones[scope]; ok {
		return z
	}
	if r.zones == nil {
		r.zones = make(map[uint32]string)
	}
	// A numeric zone needs no interface lookup and is accepted back by
	// zoneIndex and by the net package.
	z := strconv.FormatUint(uint64(scope), 10)
	r.zones[scope] = z
	return z
}

// mmsgSend is the sendmmsg state of one OutBatch. Headers are rebuilt on
// every WriteBatch because the arena may have moved since Add.
type mmsgSend struct {
	hdrs  []unix.Mmsghdr
	iovs  []unix.Iovec
	names [][sizeofSockaddrInet6]byte
	// index[k] is the OutBatch index of header k; datagrams with a
	// destination of the wrong family get no header.
	index []int
	off   int // first header not yet handed to the kernel
	cnt   int // headers built

	// Results of the last call of fn.
	n     int
	errno syscall.Errno
	fn    func(fd uintptr) bool
}

func (s *mmsgSend) init(n int) {
	s.hdrs = make([]unix.Mmsghdr, n)
	s.iovs = make([]unix.Iovec, n)
	s.names = make([][sizeofSockaddrInet6]byte, n)
	s.index = make([]int, n)
	for k := range s.hdrs {
		h := &s.hdrs[k].Hdr
		h.Iov = &s.iovs[k]
		h.SetIovlen(1)
		h.Name = &s.names[k][0]
	}
	s.fn = s.send
}

func (s *mmsgSend) send(fd uintptr) bool {
	for {
		n, _, e := unix.Syscall6(unix.SYS_SENDMMSG, fd,
			uintptr(unsafe.Pointer(&s.hdrs[s.off])), uintptr(s.cnt-s.off),
			unix.MSG_DONTWAIT, 0, 0)
		switch e {
		case 0:
			s.n, s.errno = int(n), 0
			return true
		case unix.EINTR:
			continue
		case unix.EAGAIN:
			return false
		default:
			s.n, s.errno = 0, e
			return true
		}
	}
}

func (c *Conn) writeMmsg(o *OutBatch, f *writeFailures) {
	s := &o.send
	s.cnt = 0
	for i := range o.Len() {
		dst, err := c.checkDst(o.dsts[i])
		if err != nil {
			f.add(i, o.dsts[i], err)
			continue
		}
		k := s.cnt
		p := o.payload(i)
		if len(p) > 0 {
			s.iovs[k].Base = &p[0]
		} else {
			s.iovs[k].Base = nil // a zero-length datagram is legal
		}
		s.iovs[k].SetLen(len(p))
		s.hdrs[k].Hdr.Namelen = putSockaddr(&s.names[k], dst)
		s.hdrs[k].Len = 0
		s.index[k] = i
		s.cnt++
	}
	for s.off = 0; s.off < s.cnt; {
		if err := c.raw.Write(s.fn); err != nil {
			// The socket is closed: nothing more can go out.
			for k := s.off; k < s.cnt; k++ {
				f.add(s.index[k], o.dsts[s.index[k]], err)
			}
			return
		}
		if s.errno != 0 || s.n <= 0 {
			// sendmmsg fails only when its first datagram fails; one sent
			// after a failure is reported as a short count and the error
			// comes back when that datagram is retried here. Skip it.
			var err error = os.NewSyscallError("sendmmsg", s.errno)
			if s.errno == 0 {
				err = errors.New("sendmmsg sent nothing")
			}
			i := s.index[s.off]
			f.add(i, o.dsts[i], err)
			s.off++
			continue
		}
		s.off += s.n
	}
}

// putSockaddr writes dst as a struct sockaddr_in (IPv4) or sockaddr_in6
// into sa and returns its length in bytes. dst has passed checkDst.
func putSockaddr(sa *[sizeofSockaddrInet6]byte, dst netip.AddrPort) uint32 {
	*sa = [sizeofSockaddrInet6]byte{}
	a := dst.Addr()
	binary.BigEndian.PutUint16(sa[2:4], dst.Port())
	if a.Is4() {
		binary.NativeEndian.PutUint16(sa[0:2], unix.AF_INET)
		a4 := a.As4()
		copy(sa[4:8], a4[:])
		return sizeofSockaddrInet4
	}
	binary.NativeEndian.PutUint16(sa[0:2], unix.AF_INET6)
	a16 := a.As16()
	copy(sa[8:24], a16[:])
	binary.NativeEndian.PutUint32(sa[24:28], zoneIndex(a.Zone()))
	return sizeofSockaddrInet6
}

// zoneIndex turns an IPv6 zone (numeric, as Batch.Addr gives it, or an
// interface name) into a scope ID; 0 means none.
func zoneIndex(zone string) uint32 {
	if zone == "" {
		return 0
	}
	if n, err := strconv.ParseUint(zone, 10, 32); err == nil {
		return uint32(n)
	}
	if ifi, err := net.InterfaceByName(zone); err == nil {
		return uint32(ifi.Index)
	}
	return 0
}
