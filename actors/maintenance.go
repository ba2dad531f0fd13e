package actors

import (
	"fmt"
	"path"
	"strings"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/hbd-project/hbd/internal/silence"
)

// Silences and maintenance windows hold notifications back: inside one an
// alert changes level (the API, /alerts and the journal show it) and the
// notifier sends nothing. When it ends (its window closes, it expires, it
// is deleted, a reload removes it) the silence store reports it (OnEnd);
// the HostActors it covered then send what it held back, once: each alert
// whose level differs from the last one notified (alert.Tracker's
// Unnotified). A problem still firing is sent; one that recovered inside
// the window sends nothing, as nobody was paged; an alert paged before the
// window that recovered inside it sends its recovery, so the page is
// closed. An alert another silence still covers waits for that one's end.
//
// Across a restart the same rule holds without this file: what was never
// notified is sent when the daemon resumes (resumeAlerts), unless a
// silence still covers it, in which case its end sends it.

// releaseHeld tells a HostActor that silences covering it ended.
type releaseHeld struct{ by []heldBy }

// heldBy is one ended silence as a HostActor needs it.
type heldBy struct {
	metric string // the silence's metric glob
	label  string // how the journal names it
}

// covering returns the label of the first ended silence whose metric glob
// covers metric path p, or "".
func (m *releaseHeld) covering(p string) string {
	for _, b := range m.by {
		if silence.MatchMetric(b.metric, p) {
			return b.label
		}
	}
	return ""
}

// startSilenceEnds has the silence store report the silences that end
// to the HostActors they covered. It runs once the hosts have resumed and
// the notifier is up; what ended before is reported at once.
func (s *System) startSilenceEnds() (func(), error) {
	if s.Silences == nil {
		return func() {}, nil
	}
	s.Silences.OnEnd(s.releaseEnded)
	return func() { s.Silences.OnEnd(nil) }, nil
}

// releaseEnded sends each HostActor that an ended silence covered one
// releaseHeld with all of them. It runs on the store's timer goroutine.
func (s *System) releaseEnded(ended []silence.Silence) {
	for i := range ended {
		what := "silence " + ended[i].ID
		if ended[i].Recurring() {
			what = "maintenance window " + ended[i].ID
		}
		how := "ended"
		if ended[i].Narrowed {
			how = "changed while open, released for what it no longer covers"
		}
		s.Journal(Event{Time: s.clock.Now(), Kind: "silence", Msg: fmt.Sprintf("%s (%s) %s: host %q metric %q", what, ended[i].Label(), how, ended[i].Host, ended[i].Metric),
			Fields: map[string]any{"id": ended[i].ID, "host": ended[i].Host, "metric": ended[i].Metric}})
	}
	if s.env == nil || s.env.notifier == nil {
		return // no channels: nothing was held back
	}
	per := map[*actor.PID]*releaseHeld{}
	for i := range ended {
		b := heldBy{metric: ended[i].Metric, label: ended[i].Label()}
		for _, pid := range s.Registry.matching(ended[i].Host) {
			m := per[pid]
			if m == nil {
				m = &releaseHeld{}
				per[pid] = m
			}
			m.by = append(m.by, b)
		}
	}
	for pid, m := range per {
		s.actors.Root.Send(pid, m)
	}
}

// matching returns the HostActors whose host names match glob (path.Match,
// as silences match). A glob without wildcards is one lookup.
func (r *Registry) matching(glob string) []*actor.PID {
	if !strings.ContainsAny(glob, `*?[\`) {
		if pid, ok := r.Lookup(glob); ok {
			return []*actor.PID{pid}
		}
		return nil
	}
	var out []*actor.PID
	for i := range r.shards {
		sh := &r.shards[i]
		sh.mu.RLock()
		for name, pid := range sh.hosts {
			if ok, _ := path.Match(glob, name); ok {
				out = append(out, pid)
			}
		}
		sh.mu.RUnlock()
	}
	return out
}

// releaseHeld sends what ended silences held back for this host (see the
// top of this file).
func (a *hostActor) releaseHeld(ctx actor.Context, m *releaseHeld) {
	if a.env.notifier == nil || a.frozen || a.rep&handedOff != 0 {
		return
	}
	now := a.env.clock.Now()
	for _, t := range a.alerts.all() {
		if !t.Unnotified() {
			continue
		}
		label := m.covering(t.Path)
		if label == "" || a.silenced(t.Path) {
			continue
		}
		if t.Path == heartbeatMetric && a.st.state == StateUnreachable {
			continue // never paged on its own: its parent's page covers it
		}
		ch := unnotifiedChange(t, now)
		msg := fmt.Sprintf("%s (held by %s, which ended)", alertMessage(ch), label)
		ctx.Send(a.env.journal, &Event{Time: now, Host: a.st.name, Kind: "silence",
			Msg:    fmt.Sprintf("%s %s held back by %s: sent now that it ended", t.Path, t.Level, label),
			Fields: map[string]any{"metric_path": t.Path, "level": t.Level.String()}})
		a.sendUnnotified(ctx, t, ch, msg)
	}
}
