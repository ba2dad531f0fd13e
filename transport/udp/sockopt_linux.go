package udp

import (
	"net"
	"syscall"

	"golang.org/x/sys/unix"
)

// msgTrunc is the recvmsg flag for a datagram cut to the buffer size.
const msgTrunc = unix.MSG_TRUNC

// isTruncErr reports a read error that only means "truncated"; Linux flags
// truncation with MSG_TRUNC instead.
func isTruncErr(error) bool { return false }

func setRecvBuffer(_ *net.UDPConn, raw syscall.RawConn, bytes int) error {
	return setBuffer(raw, unix.SO_RCVBUFFORCE, unix.SO_RCVBUF, bytes)
}

func setSendBuffer(_ *net.UDPConn, raw syscall.RawConn, bytes int) error {
	return setBuffer(raw, unix.SO_SNDBUFFORCE, unix.SO_SNDBUF, bytes)
}

// setBuffer tries the FORCE option first because the plain one is capped at
// net.core.rmem_max / wmem_max (often only 208 KiB), far below what a
// daemon absorbing bursts from a large fleet needs. FORCE needs root or
// CAP_NET_ADMIN; without it the kernel says EPERM and the plain option
// grants what it can.
func setBuffer(raw syscall.RawConn, force, plain, bytes int) error {
	var serr error
	err := raw.Control(func(fd uintptr) {
		if unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, force, bytes) == nil {
			return
		}
		serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, plain, bytes)
	})
	if err != nil {
		return err
	}
	return serr
}

// recvBufferGranted returns half of getsockopt(SO_RCVBUF): Linux stores
// twice the requested size (socket(7)) to account for its own overhead, and
// half is the value comparable with Options.RecvBuffer.
func recvBufferGranted(raw syscall.RawConn) (int, error) {
	var v int
	var serr error
	err := raw.Control(func(fd uintptr) {
		v, serr = unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUF)
	})
	if err != nil {
		return 0, err
	}
	if serr != nil {
		return 0, serr
	}
	return v / 2, nil
}

func setReusePort(fd uintptr) error {
	return unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEPORT, 1)
}
