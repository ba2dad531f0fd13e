// Package clock is the daemon's source of time, as an interface so that
// everything timed (liveness deadlines, alert repeats, checkpoints, the
// dead man's pings) can be driven by a fake clock in tests.
package clock

import "time"

// Clock is a source of time. The real one wraps package time.
type Clock interface {
	Now() time.Time
	// AfterFunc calls f in its own goroutine after d. Stop cancels it.
	AfterFunc(d time.Duration, f func()) Timer
}

// Timer is a pending AfterFunc call.
type Timer interface {
	Stop() bool
}

// Real is the wall clock.
type Real struct{}

// Now returns time.Now().
func (Real) Now() time.Time { return time.Now() }

// AfterFunc wraps time.AfterFunc.
func (Real) AfterFunc(d time.Duration, f func()) Timer { return time.AfterFunc(d, f) }
