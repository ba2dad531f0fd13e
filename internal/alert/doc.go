// Package alert is hbd's threshold rule engine and per-metric alert state
// machine. It is pure logic: no actors, no I/O, no goroutines and no clock
// reads. Every method that depends on time takes now, so the caller owns the
// clock and tests inject times.
//
// # Rules and metric paths
//
// A [Rule] is one [[threshold]] entry of the daemon config. [Compile]
// validates a rule list (reporting every problem, each a [*RuleError] with
// the rule's 0-based index) and returns immutable [Rules]. [Rules.ForHost]
// picks the rules for one host: a rule with Hosts globs applies when a glob
// matches (path.Match syntax), whatever the host's default-set membership;
// a rule without Hosts applies when the caller says the host is in the
// default set (declared in watchhosts, or dynamic with alert_dynamic on).
//
// A metric path is the plugin name, then the keys leading to a value inside
// the sample's data object, joined by dots: "cpu_monitor.cpu_percent",
// "disk_monitor./.percent" (the mount point "/" is one key). In a rule's
// pattern, a segment "*" after the plugin name matches exactly one key;
// the plugin name is spelled out. A key or plugin name that itself contains
// dots is matched by as many literal segments, so "net.eth0.100.rx" finds
// the key "eth0.100". [HostRules.Evaluate] walks a sample and reports each
// matching concrete path with the rule that wins it: of all rules whose
// pattern matches the path, the last one in config order. It does not
// descend into arrays. Values that are present but not numbers (string,
// bool, null, object, array, or a number beyond the float64 range) are
// reported with Value.OK false; booleans are not read as 0/1. Paths absent
// from a sample are not reported at all, so a metric that disappears keeps
// its last level.
//
// # Levels
//
// For a numeric value v, the raw level under a rule with operator op is:
// CRITICAL if "v op critical", else WARNING if "v op warning", else OK; a
// nil threshold never matches. This holds for all six operators; == and !=
// compare exactly. [Level.Severity] orders levels OK < WARNING < UNKNOWN <
// CRITICAL.
//
// Hysteresis h (>, >=, <, <= only) delays clearing. While the current
// level is CRITICAL, the critical test is also passed by "v op (critical
// shifted by h towards the clearing side)": critical-h for > and >=,
// critical+h for < and <=. While the current level is WARNING or CRITICAL,
// the warning test likewise uses warning∓h. The operator itself is kept,
// so the boundary follows it: with ">" critical 90, h 5, a CRITICAL alert
// stays CRITICAL at 85.1 and leaves at exactly 85; with ">=" it stays at
// exactly 85. Levels are entered only through the unshifted thresholds.
// Shifted thresholds are computed in float64.
//
// "for" (Rule.For) delays raises. Raw levels are ordered on the ladder OK <
// WARNING < CRITICAL, and the tracker keeps, for WARNING and CRITICAL, the
// start of the current unbroken run of observations whose raw level is at
// or above it. A change to a higher severity takes effect at the first
// observation at which that level's run has lasted at least For; while
// waiting the tracker stays at its level, and when the raw level falls
// below the pending one the run, and so the pending raise, is cancelled.
// If the raw level is CRITICAL but only the WARNING run has lasted For, the
// tracker goes to WARNING and CRITICAL follows once its own run has lasted
// For; a raise from WARNING to CRITICAL waits For as well. Lowering
// (including recovery) is immediate, subject only to hysteresis. For = 0
// raises at once. There is no timer: time is measured between
// observations, so if samples stop arriving nothing changes.
//
// A non-numeric value sets UNKNOWN at once and breaks every run. From
// UNKNOWN, a numeric value is rated afresh (no hysteresis): OK and WARNING
// take effect at once, since they rank below UNKNOWN, while CRITICAL is a
// raise and waits For like any other.
//
// # Trackers, notifications and flapping
//
// A [Tracker] holds one metric path's state. [Tracker.Observe] applies one
// value under its rule; [Tracker.Set] forces a level (for the built-in
// heartbeat alert) without hysteresis or "for". Each call returns at most
// one [Change]: a level change (ChangeLevel, or ChangeRecovery when the new
// level is OK), or a flap-state change. Since is the time of the last level
// change; LastValue and LastCheck are updated on every call.
// NotificationCount counts the notifications the caller reports through
// [Tracker.NoteNotified] and restarts at 0 when a new episode begins (a
// change away from OK).
//
// Flap detection ([FlapPolicy], default: start on the 7th level change
// within 10 minutes, stop at 2 or fewer) is checked on every Observe and
// Set. The call whose level change starts flapping returns ChangeFlapStart
// instead of the level change; while flapping, level changes come back with
// Notify false; the call at which the count within the window has dropped to
// Stop returns ChangeFlapStop with Notify true, and the caller then reports
// the current level (Change.To). Like "for", flap state advances only when
// the caller observes.
//
// # Concurrency
//
// [Rules] and [HostRules] are immutable after construction and safe for
// concurrent use; Evaluate keeps its state on the caller's stack. A
// [Tracker] is not safe for concurrent use: one host's actor owns that
// host's trackers and calls them from its Receive.
package alert
