//go:build !unix && !windows

package udp

import (
	"net"
	"syscall"
)

// msgTrunc is 0: these platforms (js, wasip1, plan9) cannot report
// truncation.
const msgTrunc = 0

func isTruncErr(error) bool { return false }

func setRecvBuffer(pc *net.UDPConn, _ syscall.RawConn, bytes int) error {
	return pc.SetReadBuffer(bytes)
}

func setSendBuffer(pc *net.UDPConn, _ syscall.RawConn, bytes int) error {
	return pc.SetWriteBuffer(bytes)
}

// recvBufferGranted returns 0, "unknown".
func recvBufferGranted(syscall.RawConn) (int, error) { return 0, nil }
