package notify

import (
	"fmt"
	"strconv"
	"strings"
)

// MaxListed bounds the members a grouped notification lists in its JSON,
// environment and mail body; GroupSize always has the whole count. A mass
// outage of 10,000 hosts is one page, not a 3 MB webhook body.
const MaxListed = 100

// Outage describes a mass outage: many hosts stopped reporting (or came
// back) within one group.
type Outage struct {
	Hosts     int  // hosts in the group: stopped reporting, or reporting again
	WereUp    int  // hosts that were UP before (for a recovery: hosts known)
	Receiving bool // whether the daemon's ingest accepted anything from any host meanwhile
	// Window is how long the group collected transitions, as text ("30s").
	Window string
}

// Group builds the one notification that stands for members: transitions
// of the same kind, alert and level, on different hosts. Members keeps the
// whole list (the caller tells each host its alert was notified); the
// rendering lists at most MaxListed. One member is returned as it is.
// outage, when set, makes it a mass-outage notification.
func Group(members []Notification, outage *Outage) Notification {
	if len(members) == 1 && outage == nil {
		return members[0]
	}
	first := members[0]
	n := Notification{
		Kind: first.Kind, MetricPath: first.MetricPath, Level: first.Level, PrevLevel: first.PrevLevel,
		Since: first.Since, Time: first.Time,
		Host:    strconv.Itoa(len(members)) + " hosts",
		Members: members, GroupSize: len(members), Outage: outage,
	}
	for _, m := range members {
		n.Dependents += m.Dependents
		if room := MaxDependentsListed - len(n.DependentHosts); room > 0 {
			n.DependentHosts = append(n.DependentHosts, m.DependentHosts[:min(room, len(m.DependentHosts))]...)
		}
	}
	for _, m := range members[1:] {
		if m.Since.Before(n.Since) {
			n.Since = m.Since
		}
		if m.Time.After(n.Time) {
			n.Time = m.Time
		}
	}
	names := n.HostNames()
	list := strings.Join(names, ", ")
	if more := len(members) - len(names); more > 0 {
		list += fmt.Sprintf(" and %d more", more)
	}
	switch {
	case outage != nil && first.Kind == KindRecovery:
		n.Message = fmt.Sprintf("mass recovery: %d of %d hosts reporting again within %s: %s", outage.Hosts, outage.WereUp, outage.Window, list)
	case outage != nil:
		ingest := "the daemon still receives from other hosts, so these hosts (or their network) are down"
		if !outage.Receiving {
			ingest = "the daemon received nothing from any host meanwhile: its own network or ingest is more likely broken than every host"
		}
		n.Message = fmt.Sprintf("mass outage: %d of %d hosts stopped reporting within %s; %s: %s", outage.Hosts, outage.WereUp, outage.Window, ingest, list)
	default:
		// The members' own message without their host: "heartbeat OK -> CRITICAL: host DOWN: ..."
		n.Message = fmt.Sprintf("%d hosts: %s: %s", len(members), first.Message, list)
	}
	return n
}

// HostNames lists the members' hosts, at most MaxListed.
func (n Notification) HostNames() []string {
	k := min(len(n.Members), MaxListed)
	names := make([]string, k)
	for i := range k {
		names[i] = n.Members[i].Host
	}
	return names
}

// appendGroupJSON appends the fields a grouped notification adds:
// "group_size", "hosts" (at most MaxListed), "alerts" (the members, as
// many) and, for a mass outage, "outage".
func (n Notification) appendGroupJSON(b []byte) []byte {
	if n.GroupSize == 0 {
		return b
	}
	b = append(b, `,"group_size":`...)
	b = strconv.AppendInt(b, int64(n.GroupSize), 10)
	b = append(b, `,"hosts":[`...)
	for i, h := range n.HostNames() {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendJSONString(b, h)
	}
	b = append(b, `],"alerts":[`...)
	for i := range min(len(n.Members), MaxListed) {
		if i > 0 {
			b = append(b, ',')
		}
		b = n.Members[i].appendJSON(b)
	}
	b = append(b, ']')
	if o := n.Outage; o != nil {
		b = append(b, `,"outage":{"hosts":`...)
		b = strconv.AppendInt(b, int64(o.Hosts), 10)
		b = append(b, `,"were_up":`...)
		b = strconv.AppendInt(b, int64(o.WereUp), 10)
		b = append(b, `,"ingest_receiving":`...)
		b = strconv.AppendBool(b, o.Receiving)
		b = append(b, '}')
	}
	return b
}
