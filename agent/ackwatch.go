package agent

import "time"

// missedBeforeWarning is how many heartbeats in a row an address may leave
// unanswered before the agent warns: one lost datagram is normal for UDP,
// three in a row is an outage.
const missedBeforeWarning = 3

// ackWatch notices when one daemon address stops acknowledging heartbeats
// and when it starts again. The daemon answers nothing it rejects, so
// silence is all the agent can see of a wrong key or a firewall. It is
// part of a dest and guarded by the Agent's mu.
type ackWatch struct {
	unanswered int       // heartbeats sent since the last ACK
	quietSince time.Time // when the first of them was sent
	warned     bool      // this outage has been reported
}

// sent records a heartbeat about to be sent at now. When the previous
// missedBeforeWarning went unanswered and this outage has not been
// reported yet, it returns warn and how long the address has been silent
// (since the first unanswered heartbeat).
func (w *ackWatch) sent(now time.Time) (silent time.Duration, warn bool) {
	if w.unanswered >= missedBeforeWarning && !w.warned {
		w.warned, silent, warn = true, now.Sub(w.quietSince), true
	}
	if w.unanswered == 0 {
		w.quietSince = now
	}
	w.unanswered++
	return silent, warn
}

// acked records an ACK received at now. If it ends an outage that was
// reported, it returns resumed and how long the outage lasted.
func (w *ackWatch) acked(now time.Time) (outage time.Duration, resumed bool) {
	if w.warned {
		outage, resumed = now.Sub(w.quietSince), true
	}
	*w = ackWatch{}
	return outage, resumed
}

// roundDuration rounds d for a log line: to the second from 10 s up, else
// to 100 ms.
func roundDuration(d time.Duration) time.Duration {
	if d >= 10*time.Second {
		return d.Round(time.Second)
	}
	return d.Round(100 * time.Millisecond)
}
