package actors

import "time"

// Clock is the daemon's source of time. The real one wraps package time;
// tests pass a fake so liveness and alert timing are checked without sleeping.
type Clock interface {
	Now() time.Time
	// AfterFunc calls f in its own goroutine after d. Stop cancels it.
	AfterFunc(d time.Duration, f func()) Timer
}

// Timer is a pending AfterFunc call.
type Timer interface {
	Stop() bool
}

// RealClock is the wall clock.
type RealClock struct{}

// Now returns time.Now().
func (RealClock) Now() time.Time { return time.Now() }

// AfterFunc wraps time.AfterFunc.
func (RealClock) AfterFunc(d time.Duration, f func()) Timer { return time.AfterFunc(d, f) }
