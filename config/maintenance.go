package config

import (
	"errors"
	"path"
	"regexp"
	"strings"

	"github.com/hbd-project/hbd/internal/silence"
)

// Maintenance is one [[maintenance]] window: a recurring silence of the
// alerts of matching hosts and metrics. Inside it alerts change level and
// send nothing; when it ends, what is still firing is sent once. See
// docs/ALERTING.md, "Maintenance windows", and silence.Schedule for the
// schedule's forms and what DST does to them.
type Maintenance struct {
	// Name identifies the window in the API (id "config:<name>"), the
	// journal and /alerts; unique; letters, digits, "-", "_" and ".".
	Name string `toml:"name"`
	// Hosts is a path.Match glob of host names ("db*"); required.
	Hosts string `toml:"hosts"`
	// Metrics is a metric-path glob ("disk_monitor.*.percent"); "" or
	// "**" (the default) is every alert of the host, heartbeat included.
	Metrics string `toml:"metrics"`
	// Schedule is "Sat 02:00-04:00" (weekdays and a time range) or a
	// cron schedule of the windows' starts ("0 2 * * 6", optionally with
	// seconds first), which then needs Duration.
	Schedule string   `toml:"schedule"`
	Duration Duration `toml:"duration"`
	// Timezone is the schedule's IANA zone ("Europe/Berlin"); default UTC.
	Timezone string `toml:"timezone"`
	Comment  string `toml:"comment"`

	// Line is the line of the window's [[maintenance]] header.
	Line int `toml:"-"`
}

// maintenanceName is what a window's name may hold: it goes in a URL path.
var maintenanceName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$`)

// Silence is the window as the silence store takes it (SetConfig). The
// config has been validated, so the schedule parses.
func (m *Maintenance) Silence() (silence.Silence, error) {
	sched, err := silence.ParseSchedule(m.Schedule, m.Duration.Duration, m.Timezone)
	if err != nil {
		return silence.Silence{}, err
	}
	return silence.Silence{Name: m.Name, Host: m.Hosts, Metric: m.Metrics, Comment: m.Comment, Schedule: sched, Origin: silence.OriginConfig}, nil
}

// MaintenanceSilences is every [[maintenance]] window as a silence.
func (d *Daemon) MaintenanceSilences() ([]silence.Silence, error) {
	out := make([]silence.Silence, 0, len(d.Maintenance))
	for i := range d.Maintenance {
		s, err := d.Maintenance[i].Silence()
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, nil
}

func (m *Maintenance) validate(r *report, p keyPath, names map[string]int) {
	np := p.key("name")
	switch j, dup := names[m.Name]; {
	case m.Name == "":
		r.invalidAt(p, np, `required: a name for the window, e.g. "db-patching"`)
	case !maintenanceName.MatchString(m.Name):
		r.invalid(np, "%q: use up to 64 letters, digits, '-', '_' and '.', starting with a letter or digit", m.Name)
	case dup:
		r.invalid(np, "duplicate name %q (also [[maintenance]] %d)", m.Name, j+1)
	default:
		names[m.Name] = len(names)
	}
	hp := p.key("hosts")
	if m.Hosts == "" {
		r.invalidAt(p, hp, `required: a host name or glob, e.g. "db*"`)
	} else if _, err := path.Match(m.Hosts, ""); errors.Is(err, path.ErrBadPattern) {
		r.invalid(hp, "bad host pattern %q: use path.Match syntax (*, ?, [a-z], \\ to escape)", m.Hosts)
	}
	if mt := m.Metrics; strings.Contains(mt, "..") || strings.HasPrefix(mt, ".") || strings.HasSuffix(mt, ".") {
		r.invalid(p.key("metrics"), "invalid metric glob %q: empty segment", mt)
	}
	if len(m.Comment) > 1024 {
		r.invalid(p.key("comment"), "is longer than 1024 bytes")
	}
	sp := p.key("schedule")
	if m.Schedule == "" {
		r.invalidAt(p, sp, `required: weekdays and a time range ("Sat 02:00-04:00"), or a cron schedule ("0 2 * * 6") with a duration`)
		return
	}
	if !r.decoded(p.key("duration")) {
		return
	}
	// The zone and the schedule are checked apart, so a bad zone does not
	// hide a bad schedule.
	zone := m.Timezone
	if _, err := silence.LoadZone(zone); err != nil {
		r.invalid(p.key("timezone"), "%s", err.Error())
		zone = ""
	}
	if _, err := silence.ParseSchedule(m.Schedule, m.Duration.Duration, zone); err != nil {
		// Blame the duration if the message is about it and it is in
		// the file; a missing one, at the schedule that needs it.
		at := sp
		if strings.Contains(err.Error(), "duration") && r.isSet(p.key("duration")) {
			at = p.key("duration")
		}
		r.invalid(at, "%s", err.Error())
	}
}

// validateMaintenance checks every [[maintenance]] window, and that they
// fit the [limits] caps on silences, which they count towards.
func (d *Daemon) validateMaintenance(r *report) {
	names := map[string]int{}
	perHost := map[string]int{}
	for i := range d.Maintenance {
		p := top("maintenance").at(i)
		d.Maintenance[i].validate(r, p, names)
		if h := d.Maintenance[i].Hosts; h != "" {
			if perHost[h]++; perHost[h] > d.Limits.SilencesPerHost && r.decoded(top("limits").key("silences_per_host")) {
				r.invalid(p.key("hosts"), "more windows for %q than [limits] silences_per_host (%d)", h, d.Limits.SilencesPerHost)
			}
		}
		if i == d.Limits.SilencesTotal && r.decoded(top("limits").key("silences_total")) {
			r.invalid(p, "more [[maintenance]] windows than [limits] silences_total (%d)", d.Limits.SilencesTotal)
		}
		if g := d.Limits.GlobLength; g > 0 && (len(d.Maintenance[i].Hosts) > g || len(d.Maintenance[i].Metrics) > g) {
			r.invalid(p, "a glob is longer than [limits] glob_length (%d)", g)
		}
	}
}
