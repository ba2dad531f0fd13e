//go:build unix && !linux

package udp

import (
	"net"
	"syscall"

	"golang.org/x/sys/unix"
)

// msgTrunc is the recvmsg flag for a datagram cut to the buffer size.
const msgTrunc = syscall.MSG_TRUNC

// isTruncErr reports a read error that only means "truncated"; Unix flags
// truncation with MSG_TRUNC instead.
func isTruncErr(error) bool { return false }

func setRecvBuffer(pc *net.UDPConn, _ syscall.RawConn, bytes int) error {
	return pc.SetReadBuffer(bytes)
}

func setSendBuffer(pc *net.UDPConn, _ syscall.RawConn, bytes int) error {
	return pc.SetWriteBuffer(bytes)
}

// recvBufferGranted returns getsockopt(SO_RCVBUF) as is: unlike Linux, the
// BSDs report the size that was set.
func recvBufferGranted(raw syscall.RawConn) (int, error) {
	var v int
	var serr error
	err := raw.Control(func(fd uintptr) {
		v, serr = unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUF)
	})
	if err != nil {
		return 0, err
	}
	return v, serr
}
