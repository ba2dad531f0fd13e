//go:build unix

package main

import (
	"log/slog"
	"syscall"
)

// raiseFDLimit raises the soft RLIMIT_NOFILE to the hard limit and returns
// the limit in use. Go (1.19+) already does this at start on most Unix
// systems; doing it here too costs nothing, and logging the result shows
// what the connection caps were derived from.
func raiseFDLimit(log *slog.Logger) uint64 {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		log.Warn("cannot read the file descriptor limit", "err", err)
		return 0
	}
	if lim.Cur < lim.Max {
		want := lim
		want.Cur = lim.Max
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &want); err != nil {
			log.Warn("cannot raise the file descriptor limit to the hard limit", "soft", lim.Cur, "hard", lim.Max, "err", err)
		} else {
			lim = want
		}
	}
	log.Info("file descriptor limit", "soft", lim.Cur, "hard", lim.Max)
	return uint64(lim.Cur)
}
