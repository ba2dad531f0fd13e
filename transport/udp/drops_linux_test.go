package udp

import (
	"bytes"
	"net"
	"testing"
)

// A socket nobody reads overflows: the kernel's count of what it dropped
// is this socket's own (another socket's stays 0), and it cannot exceed
// what was sent.
func TestKernelDrops(t *testing.T) {
	full, err := Listen("udp4", "127.0.0.1:0", Options{RecvBuffer: 4096})
	if err != nil {
		t.Fatal(err)
	}
	defer full.Close()
	quiet, err := Listen("udp4", "127.0.0.1:0", Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer quiet.Close()
	for _, c := range []*Conn{full, quiet} {
		if n, err := c.KernelDrops(); err != nil || n != 0 {
			t.Fatalf("a new socket: KernelDrops() = %d, %v; want 0, nil", n, err)
		}
	}
	out, err := net.DialUDP("udp4", nil, full.LocalAddr())
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	const sent = 500
	payload := bytes.Repeat([]byte("x"), 1000)
	for range sent {
		if _, err := out.Write(payload); err != nil {
			t.Fatal(err)
		}
	}
	n, err := full.KernelDrops()
	if err != nil {
		t.Fatal(err)
	}
	// A 4 KiB buffer (the kernel doubles it) holds a handful of 1,000-byte
	// datagrams; loopback loses nothing else, and the count is final when
	// the last write returns.
	if n == 0 || n > sent {
		t.Fatalf("KernelDrops() = %d after %d datagrams into a 4 KiB buffer nobody reads, want between 1 and %d", n, sent, sent)
	}
	if q, err := quiet.KernelDrops(); err != nil || q != 0 {
		t.Fatalf("the other socket: KernelDrops() = %d, %v; want 0, nil", q, err)
	}
}
