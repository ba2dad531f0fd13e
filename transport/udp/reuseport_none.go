//go:build !linux && !aix && !darwin && !dragonfly && !freebsd && !netbsd && !openbsd && !zos

package udp

import (
	"errors"
	"runtime"
)

func setReusePort(uintptr) error {
	return errors.New("SO_REUSEPORT is not supported on " + runtime.GOOS)
}
