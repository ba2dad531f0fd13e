package actors

import "github.com/hbd-project/hbd/internal/clock"

// Clock is the daemon's source of time (see internal/clock); tests pass a
// fake so liveness and alert timing are checked without sleeping.
type Clock = clock.Clock

// Timer is a pending AfterFunc call.
type Timer = clock.Timer

// RealClock is the wall clock.
type RealClock = clock.Real
