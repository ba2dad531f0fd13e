//go:build !unix

package bench

import "time"

// processCPU is not available here; the report then shows 0 % harness CPU.
func processCPU() time.Duration { return 0 }
