//go:build !linux

package udp

import "errors"

// errNoDrops says the platform cannot tell.
var errNoDrops = errors.New("the kernel's per-socket drop count is not available on this platform")

// KernelDrops returns how many datagrams the kernel dropped on this socket
// because its receive buffer was full; only Linux tells, elsewhere it
// returns an error.
func (c *Conn) KernelDrops() (uint64, error) { return 0, errNoDrops }
