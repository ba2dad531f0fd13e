//go:build !linux

package udp

import "syscall"

// haveMmsg is false: outside Linux there is no recvmmsg/sendmmsg worth
// using, and the portable path reads and writes one datagram per call.
const haveMmsg = false

type mmsgRecv struct{}

func (*mmsgRecv) init([][]byte) {}

type mmsgSend struct{}

func (*mmsgSend) init(int) {}

// readMmsg and writeMmsg are never reached because Conn.batched is false;
// they exist so conn.go compiles everywhere.
func (c *Conn) readMmsg(b *Batch) (int, error) { return c.readOne(b) }

func (c *Conn) writeMmsg(o *OutBatch, f *writeFailures) { c.writeEach(o, f) }

// enableTimestamps does nothing: without recvmmsg the receive time is not
// read (Batch.Arrived reports it unknown).
func enableTimestamps(syscall.RawConn) error { return nil }
