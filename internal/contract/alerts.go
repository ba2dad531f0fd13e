package contract

import (
	"slices"
	"time"

	"github.com/hbd-project/hbd/internal/alert"
)

// Alert is one alert object: an entry of GET /api/0/hosts/{hostname}/alerts
// (without "hostname"), of GET /api/0/alerts (with it), and the data of
// an alert frame (with "hostname" and "prev_level").
type Alert struct {
	Host              string
	MetricPath        string
	Level             alert.Level
	Since             time.Time
	LastValue         float64
	HasValue          bool // false: last_value is null (not a number, or none yet)
	LastCheck         time.Time
	NotificationCount int
	Flapping          bool
	// Text is what the alert says beyond its level: a check's output line
	// (the newest). "" for alerts without one; "text" is then left out.
	Text string
}

// AppendAlertOpen appends a's alert object without "silenced" and without
// its closing brace: whether a silence covers an alert can change without
// the alert changing, so the fleet index keeps this part and the answer
// adds the rest (AppendAlertClose). withHost writes "hostname" first.
func AppendAlertOpen(b []byte, a *Alert, withHost bool) []byte {
	return appendAlertOpen(b, a, withHost, nil)
}

// AppendAlertClose ends an alert object begun by AppendAlertOpen.
func AppendAlertClose(b []byte, silenced bool) []byte {
	b = append(b, `,"silenced":`...)
	b = appendBool(b, silenced)
	return append(b, '}')
}

func appendAlertOpen(b []byte, a *Alert, withHost bool, prev *alert.Level) []byte {
	b = append(b, '{')
	if withHost {
		b = append(b, `"hostname":`...)
		b = appendString(b, a.Host)
		b = append(b, ',')
	}
	b = append(b, `"metric_path":`...)
	b = appendString(b, a.MetricPath)
	b = append(b, `,"level":`...)
	b = appendString(b, a.Level.String())
	if prev != nil {
		b = append(b, `,"prev_level":`...)
		b = appendString(b, prev.String())
	}
	b = append(b, `,"since":`...)
	b = appendUnixTime(b, a.Since)
	b = append(b, `,"last_value":`...)
	if a.HasValue {
		b = appendFloat(b, a.LastValue)
	} else {
		b = append(b, "null"...)
	}
	b = append(b, `,"last_check":`...)
	b = appendUnixTime(b, a.LastCheck)
	b = append(b, `,"notification_count":`...)
	b = appendInt(b, a.NotificationCount)
	b = append(b, `,"flapping":`...)
	b = appendBool(b, a.Flapping)
	if a.Text != "" {
		b = append(b, `,"text":`...)
		b = appendString(b, a.Text)
	}
	return b
}

// HostAlert is an entry of a host's alerts answer.
type HostAlert struct {
	Alert
	Silenced bool
}

// AppendHostAlerts appends the answer of GET /api/0/hosts/{hostname}/alerts:
// every alert the host tracks, in the order given, and the count of each
// level: {"hostname","alerts":[...],"summary":{"ok","warning","critical","unknown"}}.
func AppendHostAlerts(b []byte, host string, alerts []HostAlert) []byte {
	b = slices.Grow(b, 128+len(alerts)*200)
	var sum alert.Summary
	b = append(b, `{"hostname":`...)
	b = appendString(b, host)
	b = append(b, `,"alerts":[`...)
	for i := range alerts {
		a := &alerts[i]
		sum.Add(a.Level)
		if i > 0 {
			b = append(b, ',')
		}
		b = AppendAlertOpen(b, &a.Alert, false)
		b = AppendAlertClose(b, a.Silenced)
	}
	b = append(b, `],"summary":{"ok":`...)
	b = appendInt(b, sum.OK)
	b = append(b, `,"warning":`...)
	b = appendInt(b, sum.Warning)
	b = append(b, `,"critical":`...)
	b = appendInt(b, sum.Critical)
	b = append(b, `,"unknown":`...)
	b = appendInt(b, sum.Unknown)
	return append(b, "}}"...)
}

// FleetAlert is an entry of the fleet's alerts answer: its object as
// AppendAlertOpen wrote it (with "hostname"), and whether it is silenced.
type FleetAlert struct {
	Open     []byte
	Silenced bool
}

// FleetSummary counts the active alerts of GET /api/0/alerts by level,
// before the answer's filters and pages.
type FleetSummary struct {
	Critical, Warning, Unknown int
}

// AppendFleetAlerts appends the answer of GET /api/0/alerts:
// {"alerts":[...],"summary":{"critical","warning","unknown","total"},"host_count"}.
func AppendFleetAlerts(b []byte, alerts []FleetAlert, sum FleetSummary, hostCount int) []byte {
	b = slices.Grow(b, 128+len(alerts)*260)
	b = append(b, `{"alerts":[`...)
	for i, a := range alerts {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, a.Open...)
		b = AppendAlertClose(b, a.Silenced)
	}
	b = append(b, `],"summary":{"critical":`...)
	b = appendInt(b, sum.Critical)
	b = append(b, `,"warning":`...)
	b = appendInt(b, sum.Warning)
	b = append(b, `,"unknown":`...)
	b = appendInt(b, sum.Unknown)
	b = append(b, `,"total":`...)
	b = appendInt(b, sum.Critical+sum.Warning+sum.Unknown)
	b = append(b, `},"host_count":`...)
	b = appendInt(b, hostCount)
	return append(b, '}')
}

// AlertFrame is the WebSocket frame of an alert that changed level from
// prev: the alert object with "hostname" and "prev_level".
func AlertFrame(a *Alert, prev alert.Level, silenced bool) []byte {
	b := append(make([]byte, 0, 320), `{"type":"alert","data":`...)
	b = appendAlertOpen(b, a, true, &prev)
	b = AppendAlertClose(b, silenced)
	return append(b, '}')
}
