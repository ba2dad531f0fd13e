package actors

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/hbd-project/hbd/internal/alert"
	"github.com/hbd-project/hbd/internal/contract"
	"github.com/hbd-project/hbd/internal/notify"
)

// heartbeatMetric is the metric path of the built-in liveness alert.
const heartbeatMetric = "heartbeat"

// AlertEntry is one non-OK alert in the fleet view. Immutable once published.
type AlertEntry struct {
	Host  string
	Path  string
	Level alert.Level
	Since time.Time
	// JSONOpen is the alert's JSON object (contract.AppendAlertOpen)
	// without its closing brace: the API appends "silenced", which depends
	// on silences that can change without the alert changing.
	JSONOpen []byte
}

// alertsQuery asks a HostActor for /api/0/hosts/{h}/alerts. The actor
// answers on reply, which must have room for one value.
type alertsQuery struct {
	reply chan<- Answer
}

// observeSample runs the host's rules over one sample, after raising the
// status alert of a check result. Samples of plugins no rule mentions are
// not parsed at all; the others were checked by the UDP reader's one scan
// (transport/wire), so they are not validated again.
func (a *hostActor) observeSample(ctx actor.Context, now time.Time, plugin string, data []byte) {
	isCheck := a.observeCheck(ctx, now, plugin, data)
	if a.rules == nil || !a.rules.HasPlugin(plugin) {
		return
	}
	_ = a.rules.EvaluateValid(plugin, data, func(path string, rule *alert.Rule, v alert.Value) {
		if isCheck && isCheckStatusPath(path, plugin) {
			return // the check's own alert; a rule on it would fight the check's level
		}
		t := a.alerts.get(path)
		if t == nil {
			if !a.admitAlert(now, path) {
				return
			}
			t = alert.NewTracker(path, now)
			a.alerts.put(t)
			defer a.publishLevels() // at its level after Observe
		}
		before := t.Level
		ch, changed := t.Observe(now, v, rule, a.env.cur().flap)
		if changed {
			a.alertChanged(ctx, t, ch)
		} else if before != alert.LevelOK {
			// last_value and last_check of an active alert moved.
			a.alertsDirty = true
		}
	})
}

// observeCheck raises the alert "<plugin>.status" of a check result
// (alert.ParseCheck) at the check's level, with its output as the text of
// the transition; it reports whether data was a check result. Like the
// heartbeat alert it needs no rule and applies to every host; flapping,
// silences and notifications work as for any alert. A check result with
// an invalid status is UNKNOWN, counted in Stats.ChecksInvalid.
func (a *hostActor) observeCheck(ctx actor.Context, now time.Time, plugin string, data []byte) bool {
	c, ok := alert.ParseCheck(data)
	if !ok {
		return false
	}
	if !c.Valid {
		a.env.stats.ChecksInvalid.Add(1)
	}
	path := plugin + "." + alert.CheckStatusKey
	t := a.alerts.get(path)
	if t == nil {
		if !a.admitAlert(now, path) {
			return true
		}
		// Tracked from the first result, OK included, so the API lists it.
		t = alert.NewTracker(path, now)
		a.alerts.put(t)
		a.alertsDirty = true
	}
	// The check owns its path, also if a rule made the tracker before the
	// plugin turned into a check.
	t.RuleMetric = ""
	before := t.Level
	ch, changed := t.Set(now, c.Level, alert.Value{}, a.env.cur().flap)
	switch {
	case changed:
		a.alertChangedWhy(ctx, t, ch, c.Text)
	case before != alert.LevelOK:
		a.alertsDirty = true // last_check of an active alert moved
	}
	return true
}

// isCheckStatusPath reports whether path is plugin's check status alert,
// without building the string.
func isCheckStatusPath(path, plugin string) bool {
	return len(path) == len(plugin)+1+len(alert.CheckStatusKey) && strings.HasPrefix(path, plugin) &&
		path[len(plugin)] == '.' && strings.HasSuffix(path, alert.CheckStatusKey)
}

// observeLiveness sets the built-in heartbeat alert, which every host has:
// CRITICAL when DOWN or when a declared host never reported within its
// grace, WARNING when DEGRADED or STOPPED for longer than stopped_after,
// OK otherwise (a clean shutdown is OK: the host was stopped on purpose).
// SUSPECT is OK too: the detector's early warning is in the host's state,
// the API, /live and the stream, but a level change would be notified
// (WARNING pages channels with min_level WARNING), and a SUSPECT that
// clears at the next heartbeat is exactly the page an on-call engineer
// woken by a flapping host does not want.
func (a *hostActor) observeLiveness(ctx actor.Context, now time.Time) {
	level, why := alert.LevelOK, ""
	switch a.st.state {
	case StateDown:
		level, why = alert.LevelCritical, "host DOWN: no heartbeat on any address"
		if w := a.livenessWhy(); w != "" {
			why = w
		}
	case StateUnreachable:
		// Seen, not paged: its parent's page covers it (deps.go).
		level, why = alert.LevelWarning, a.livenessWhy()
	case StateDegraded:
		level, why = alert.LevelWarning, "host DEGRADED: some addresses stopped sending"
	case StateStopped:
		if a.st.flags.has(flagStoppedLong) {
			level, why = alert.LevelWarning, fmt.Sprintf("host STOPPED for longer than %s", a.st.stoppedAfter)
		}
	case StateUnknown:
		if !a.st.flags.has(flagOverdue) {
			return
		}
		level, why = alert.LevelCritical, "declared host never reported"
	}
	t := a.alerts.get(heartbeatMetric)
	if t == nil {
		if level == alert.LevelOK {
			// Track from the first contact so the API lists it as OK.
			a.alerts.put(alert.NewTracker(heartbeatMetric, now))
			a.alertsDirty = true
			return
		}
		t = alert.NewTracker(heartbeatMetric, now)
		a.alerts.put(t)
	}
	if ch, changed := t.Set(now, level, alert.Value{}, a.env.cur().flap); changed {
		if ch.Kind == alert.ChangeRecovery || level == alert.LevelOK {
			why = ""
		}
		if a.dep != nil {
			ch = a.depGate(ctx, ch, noticeText(ch, why))
		}
		a.alertChangedWhy(ctx, t, ch, why)
	}
}

// alertChanged journals a transition and, unless the engine says not to
// (flapping), asks the notifier to deliver it.
func (a *hostActor) alertChanged(ctx actor.Context, t *alert.Tracker, ch alert.Change) {
	a.alertChangedWhy(ctx, t, ch, "")
}

// alertChangedWhy is alertChanged with the reason, if any, appended to the
// message ("heartbeat OK -> CRITICAL: host DOWN: ...").
func (a *hostActor) alertChangedWhy(ctx actor.Context, t *alert.Tracker, ch alert.Change, why string) {
	a.alertsDirty = true
	a.rep |= repNow // the successor learns of it at once (replicate)
	now := ch.At
	msg := noticeText(ch, why)
	fields := map[string]any{"metric_path": ch.Path, "level": ch.To.String(), "prev_level": ch.From.String(), "change": ch.Kind.String()}
	if ch.Value.OK {
		fields["value"] = ch.Value.Num
	}
	ctx.Send(a.env.journal, &Event{Time: now, Host: a.st.name, Kind: "alert", Msg: msg, Fields: fields})
	if a.env.streaming() {
		a.env.publish(ctx, contract.FrameAlert, a.st.name, t.Path, a.alertFrame(t, ch.From))
	}
	if !ch.Notify || a.env.notifier == nil {
		return
	}
	a.sendNotice(ctx, t, ch, msg)
}

// noticeText is the message of change ch, with its reason if any.
func noticeText(ch alert.Change, why string) string {
	msg := alertMessage(ch)
	if why != "" {
		msg += ": " + why
	}
	return msg
}

// sendNotice asks the notifier to deliver change ch of tracker t.
// unnotifiedChange is the change that brings whoever is notified about t
// up to date: from the level last notified (OK if none) to t's level now.
func unnotifiedChange(t *alert.Tracker, now time.Time) alert.Change {
	from := alert.LevelOK
	if !t.NotifiedAt.IsZero() {
		from = t.NotifiedLevel
	}
	ch := alert.Change{Kind: alert.ChangeLevel, Path: t.Path, From: from, To: t.Level, Value: t.LastValue, At: now, Notify: true}
	if t.Level == alert.LevelOK {
		ch.Kind = alert.ChangeRecovery
	}
	return ch
}

// sendUnnotified sends a change that was not notified when it happened
// (the daemon restarted, the host's cluster member left, a silence held
// it): as any change, a heartbeat change of a host with parents goes
// through the dependency gate (an UNREACHABLE host's is not sent, a DOWN
// one's is held for its parents, a page already held is not sent twice),
// and an UNREACHABLE host's heartbeat never pages on its own.
func (a *hostActor) sendUnnotified(ctx actor.Context, t *alert.Tracker, ch alert.Change, msg string) {
	if ch.Path == heartbeatMetric {
		if a.st.state == StateUnreachable {
			return
		}
		if ch = a.depGate(ctx, ch, msg); !ch.Notify {
			return
		}
	}
	a.sendNoticeAs(ctx, t, ch, msg, true)
}

func (a *hostActor) sendNotice(ctx actor.Context, t *alert.Tracker, ch alert.Change, msg string) {
	a.sendNoticeAs(ctx, t, ch, msg, false)
}

// sendNoticeAs sends a notification of t's change to the notifier (in a
// cluster, through the replicator). late marks one sent after the change
// (sendUnnotified): the notifier does not send it if the same level went
// out meanwhile.
func (a *hostActor) sendNoticeAs(ctx actor.Context, t *alert.Tracker, ch alert.Change, msg string, late bool) {
	kind := notify.KindProblem
	switch ch.Kind {
	case alert.ChangeRecovery:
		kind = notify.KindRecovery
	case alert.ChangeFlapStart:
		kind = notify.KindFlappingStart
	case alert.ChangeFlapStop:
		kind = notify.KindFlappingStop
	}
	n := notify.Notification{
		Kind:              kind,
		Host:              a.st.name,
		MetricPath:        ch.Path,
		Level:             ch.To.String(),
		PrevLevel:         ch.From.String(),
		Since:             t.Since,
		Time:              ch.At,
		NotificationCount: t.NotificationCount,
		Message:           msg,
	}
	if ch.Value.OK {
		v := ch.Value.Num
		n.Value = &v
	}
	a.noteDependents(&n)
	to := a.env.notifier
	if a.env.replicator != nil && !a.frozen {
		// In a cluster the transition reaches the host's successor
		// before anyone is paged (replicatorActor.hold), so a page
		// repeated after a takeover is the same event, with the same ID.
		to = a.env.replicator
	}
	ctx.Send(to, &alertNotice{n: n, host: ctx.Self(), late: late})
}

// resumeAlerts runs once for a host restored at start, when it resumes. It drops the alerts
// whose threshold rule is no longer configured (clearing them with the
// people who were paged, as Alertmanager resolves the alerts of a deleted
// rule); tells the notifier which alerts are firing and were already
// notified, so their repeats continue and nothing is sent twice; and sends
// what was never delivered: a problem whose notification was lost, or a
// recovery that happened as the daemon stopped.
func (a *hostActor) resumeAlerts(ctx actor.Context) {
	now := a.env.clock.Now()
	// A copy: trackers are removed on the way.
	for _, t := range slices.Clone(a.alerts.all()) {
		path := t.Path
		gone := t.RuleMetric != "" && !a.rules.HasRule(t.RuleMetric)
		if path == heartbeatMetric && t.RuleMetric == "" {
			gone = !a.inDefault
		}
		if gone {
			why := "its rule " + t.RuleMetric + " is no longer configured for this host"
			if path == heartbeatMetric {
				why = "the host is no longer in the set the heartbeat alert covers"
			}
			a.dropAlert(ctx, t, now, why)
			continue
		}
		if a.env.notifier == nil {
			continue
		}
		switch {
		case path == heartbeatMetric && a.st.state == StateUnreachable:
			// Never paged on its own: its parent's page covers it.
		case t.Unnotified():
			ch := unnotifiedChange(t, now)
			msg := alertMessage(ch) + " (not delivered before the restart)"
			if a.rep&takenOver != 0 {
				msg = alertMessage(ch) + " (not delivered before its cluster member left)"
			}
			a.sendUnnotified(ctx, t, ch, msg)
		case t.Level != alert.LevelOK:
			n := notify.Notification{
				Kind: notify.KindProblem, Host: a.st.name, MetricPath: path, Level: t.Level.String(),
				Since: t.Since, Time: t.NotifiedAt, NotificationCount: t.NotificationCount,
				Message: alertMessage(alert.Change{Path: path, From: t.NotifiedLevel, To: t.Level, Value: t.LastValue}),
			}
			if t.LastValue.OK {
				v := t.LastValue.Num
				n.Value = &v
			}
			ctx.Send(a.env.notifier, &restoreFiring{n: n, host: ctx.Self(), sent: maps.Clone(t.RouteSent)})
		}
	}
}

// dropAlert stops tracking t, whose rule is gone: the removal is journaled
// and, if people were paged about t, they get its recovery, as
// Alertmanager resolves the alerts of a deleted rule.
func (a *hostActor) dropAlert(ctx actor.Context, t *alert.Tracker, now time.Time, why string) {
	path := t.Path
	a.alerts.remove(path)
	a.dirty, a.alertsDirty = true, true
	a.rep |= repNow
	ch := alert.Change{Kind: alert.ChangeRecovery, Path: path, From: t.Level, To: alert.LevelOK, At: now, Notify: true}
	msg := fmt.Sprintf("%s cleared: %s", path, why)
	ctx.Send(a.env.journal, &Event{Time: now, Host: a.st.name, Kind: "alert", Msg: msg,
		Fields: map[string]any{"metric_path": path, "level": "OK", "prev_level": t.Level.String(), "change": "removed"}})
	if a.env.streaming() && t.Level != alert.LevelOK {
		ca := a.alertOf(t)
		ca.Level, ca.Since = alert.LevelOK, now
		a.env.publish(ctx, contract.FrameAlert, a.st.name, path, contract.AlertFrame(&ca, t.Level, a.silenced(path)))
	}
	if a.env.notifier != nil && t.Level != alert.LevelOK && !t.NotifiedAt.IsZero() && t.NotifiedLevel != alert.LevelOK {
		a.sendNotice(ctx, t, ch, msg)
	}
}

func alertMessage(ch alert.Change) string {
	val := ""
	if ch.Value.OK {
		val = " (value " + strconv.FormatFloat(ch.Value.Num, 'g', -1, 64) + ")"
	}
	switch ch.Kind {
	case alert.ChangeFlapStart:
		return fmt.Sprintf("%s is flapping (now %s)%s", ch.Path, ch.To, val)
	case alert.ChangeFlapStop:
		return fmt.Sprintf("%s stopped flapping (now %s)%s", ch.Path, ch.To, val)
	case alert.ChangeRecovery:
		return fmt.Sprintf("%s recovered: %s -> OK%s", ch.Path, ch.From, val)
	}
	return fmt.Sprintf("%s %s -> %s%s", ch.Path, ch.From, ch.To, val)
}

// alertOf is tracker t of host as the API shows it.
func alertOf(host string, t *alert.Tracker) contract.Alert {
	return contract.Alert{Host: host, MetricPath: t.Path, Level: t.Level, Since: t.Since, LastValue: t.LastValue.Num, HasValue: t.LastValue.OK,
		LastCheck: t.LastCheck, NotificationCount: t.NotificationCount, Flapping: t.Flapping}
}

// alertOf is tracker t as the API shows it, with the text of a check's
// status alert: the output line of the plugin's newest check result, read
// from its ring when asked, so trackers keep no text of their own and the
// text survives restarts with the ring.
func (a *hostActor) alertOf(t *alert.Tracker) contract.Alert {
	ca := alertOf(a.st.name, t)
	ca.Text = a.checkText(t)
	return ca
}

// checkText is the text of t if it is a check's status alert, else "".
func (a *hostActor) checkText(t *alert.Tracker) string {
	plugin, ok := strings.CutSuffix(t.Path, "."+alert.CheckStatusKey)
	if !ok || t.RuleMetric != "" {
		return ""
	}
	r := a.plugins[plugin]
	if r == nil || r.len() == 0 {
		return ""
	}
	c, ok := alert.ParseCheck(r.appendNewest(nil))
	if !ok {
		return ""
	}
	return c.Text
}

// activeAlerts returns the host's non-OK alerts for the fleet index.
func (a *hostActor) activeAlerts() []*AlertEntry {
	var out []*AlertEntry
	for _, t := range a.alerts.all() {
		if t.Level == alert.LevelOK {
			continue
		}
		out = append(out, &AlertEntry{
			Host: a.st.name, Path: t.Path, Level: t.Level, Since: t.Since,
			JSONOpen: a.alertOpen(t),
		})
	}
	slices.SortFunc(out, func(x, y *AlertEntry) int { return strings.Compare(x.Path, y.Path) })
	return out
}

// alertOpen is the open alert object the fleet index keeps for t.
func (a *hostActor) alertOpen(t *alert.Tracker) []byte {
	ca := a.alertOf(t)
	return contract.AppendAlertOpen(make([]byte, 0, 256), &ca, true)
}

// silenced reports whether a silence covers the host's metric path now.
func (a *hostActor) silenced(path string) bool {
	return a.env.silences != nil && a.env.silences.Match(a.st.name, path) != nil
}

// answerAlerts builds /api/0/hosts/{h}/alerts: every tracked metric's state
// and the summary.
func (a *hostActor) answerAlerts() []byte {
	list := make([]contract.HostAlert, 0, a.alerts.len())
	for _, t := range a.alerts.all() {
		list = append(list, contract.HostAlert{Alert: a.alertOf(t), Silenced: a.silenced(t.Path)})
	}
	slices.SortFunc(list, func(x, y contract.HostAlert) int { return strings.Compare(x.MetricPath, y.MetricPath) })
	return contract.AppendHostAlerts(nil, a.st.name, list)
}

// alertFrame is the WebSocket frame for an alert's new state.
func (a *hostActor) alertFrame(t *alert.Tracker, prev alert.Level) []byte {
	ca := a.alertOf(t)
	return contract.AlertFrame(&ca, prev, a.silenced(t.Path))
}
