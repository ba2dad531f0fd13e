//go:build !unix

package main

import "log/slog"

// raiseFDLimit has nothing to raise here; 0 means unknown.
func raiseFDLimit(*slog.Logger) uint64 { return 0 }
