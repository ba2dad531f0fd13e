package udp

import (
	"errors"
	"net"
	"syscall"
)

// msgTrunc is MSG_TRUNC of Winsock, which the syscall package lacks.
const msgTrunc = 0x0100

// wsaeMsgSize is WSAEMSGSIZE: Winsock fails a read whose datagram did not
// fit, after filling the buffer with its head.
const wsaeMsgSize = syscall.Errno(10040)

func isTruncErr(err error) bool { return errors.Is(err, wsaeMsgSize) }

func setRecvBuffer(pc *net.UDPConn, _ syscall.RawConn, bytes int) error {
	return pc.SetReadBuffer(bytes)
}

func setSendBuffer(pc *net.UDPConn, _ syscall.RawConn, bytes int) error {
	return pc.SetWriteBuffer(bytes)
}

// recvBufferGranted returns 0, "unknown": hbd does not read socket options
// back on Windows.
func recvBufferGranted(syscall.RawConn) (int, error) { return 0, nil }
