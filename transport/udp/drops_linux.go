package udp

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

// procFiles list every UDP socket of the network namespace with its inode
// and the datagrams the kernel dropped on it (full receive buffer).
var procFiles = []string{"/proc/net/udp", "/proc/net/udp6"}

// KernelDrops returns how many datagrams the kernel dropped on this socket
// because its receive buffer was full: load the daemon did not read in
// time, which it cannot otherwise see. Linux reports it per socket in
// /proc/net/udp{,6} ("drops", matched by the socket's inode).
func (c *Conn) KernelDrops() (uint64, error) {
	var ino uint64
	var serr error
	if err := c.raw.Control(func(fd uintptr) {
		var st unix.Stat_t
		serr = unix.Fstat(int(fd), &st)
		ino = st.Ino
	}); err != nil {
		return 0, err
	}
	if serr != nil {
		return 0, serr
	}
	want := strconv.AppendUint(nil, ino, 10)
	for _, name := range procFiles {
		n, found, err := dropsOf(name, want)
		if err != nil {
			return 0, err
		}
		if found {
			return n, nil
		}
	}
	return 0, fmt.Errorf("socket inode %d not listed in %v", ino, procFiles)
}

// dropsOf finds the line of the socket with inode ino in a /proc/net/udp
// file and returns its drops column (the 10th field is the inode, the
// 13th the drops).
func dropsOf(name string, ino []byte) (uint64, bool, error) {
	f, err := os.Open(name)
	if err != nil {
		return 0, false, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Scan() // the header
	for sc.Scan() {
		fields := bytes.Fields(sc.Bytes())
		if len(fields) < 13 || !bytes.Equal(fields[9], ino) {
			continue
		}
		n, err := strconv.ParseUint(string(fields[12]), 10, 64)
		if err != nil {
			return 0, false, fmt.Errorf("%s: bad drops column %q: %w", name, fields[12], err)
		}
		return n, true, nil
	}
	return 0, false, sc.Err()
}
