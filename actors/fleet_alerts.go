package actors

import (
	"slices"
	"strings"
	"sync/atomic"

	"github.com/hbd-project/hbd/internal/alert"
)

// AlertIndex is every non-OK alert of the fleet in the order
// /api/0/alerts lists them (most severe first, then the longest-standing,
// then by host and metric), with the counts by level. The fleet index
// keeps it with each snapshot, changed by merge where hosts' alerts
// changed, so a request pages through it instead of sorting the fleet's
// alerts (a profile of 100,000 hosts under load had the per-request sort
// at a fifth of the daemon's CPU). Immutable once published.
type AlertIndex struct {
	Sorted                     []*AlertEntry
	Critical, Warning, Unknown int
}

// compareAlerts is the order of AlertIndex.Sorted: a total order, since
// a host has one alert per metric path.
func compareAlerts(x, y *AlertEntry) int {
	if d := y.Level.Severity() - x.Level.Severity(); d != 0 {
		return d
	}
	if c := x.Since.Compare(y.Since); c != 0 {
		return c
	}
	if c := strings.Compare(x.Host, y.Host); c != 0 {
		return c
	}
	return strings.Compare(x.Path, y.Path)
}

// count adds n (1 or -1) of e's level to the counts.
func (ix *AlertIndex) count(e *AlertEntry, n int) {
	switch e.Level {
	case alert.LevelCritical:
		ix.Critical += n
	case alert.LevelWarning:
		ix.Warning += n
	case alert.LevelUnknown:
		ix.Unknown += n
	}
}

// Select is the alerts of the hosts match takes (nil: every host) that
// keep takes (nil: all of them), in the index's order, counted by level
// over every alert of those hosts (keep aside): the answer of
// /api/0/alerts?host=GLOB&level=L. match is asked once per run of a
// host's alerts.
func (ix *AlertIndex) Select(match func(host string) bool, keep func(*AlertEntry) bool) *AlertIndex {
	sel := &AlertIndex{}
	last, ok := "", true
	for _, e := range ix.Sorted {
		if match != nil {
			if e.Host != last {
				last, ok = e.Host, match(e.Host)
			}
			if !ok {
				continue
			}
		}
		sel.count(e, 1)
		if keep == nil || keep(e) {
			sel.Sorted = append(sel.Sorted, e)
		}
	}
	return sel
}

// sameAlerts reports whether two of a host's alert lists are the same
// publication: a HostActor reuses its list while its alerts do not change.
func sameAlerts(a, b []*AlertEntry) bool {
	return len(a) == len(b) && (len(a) == 0 || &a[0] == &b[0])
}

// updateAlerts is old without the alerts in removed (the changed hosts'
// previous ones, each in old) and with those in added (their new ones).
// Each is found in old's order by binary search, and the runs of old
// between them are copied whole: a publication that changes k alerts of
// n costs O(k log n) comparisons and one copy of n pointers, not a pass
// comparing all n (BenchmarkAlertIndex).
func updateAlerts(old *AlertIndex, removed, added []*AlertEntry) *AlertIndex {
	if old == nil {
		old = &AlertIndex{}
	}
	prev := old.Sorted
	ix := &AlertIndex{Critical: old.Critical, Warning: old.Warning, Unknown: old.Unknown}
	gone := make([]int, 0, len(removed))
	for _, e := range removed {
		i, _ := slices.BinarySearchFunc(prev, e, compareAlerts)
		if i >= len(prev) || prev[i] != e {
			// Not where the order puts it: the index was built from
			// something else than the summaries it replaced. A bug;
			// rebuild rather than serve a wrong list.
			alertIndexRebuilds.Add(1)
			return rebuildAlerts(old, removed, added)
		}
		gone = append(gone, i)
		ix.count(e, -1)
	}
	slices.Sort(gone)
	slices.SortFunc(added, compareAlerts)
	ix.Sorted = make([]*AlertEntry, 0, len(prev)-len(gone)+len(added))
	// copyTo appends prev[from:to] but the removed ones.
	from := 0
	copyTo := func(to int) {
		for len(gone) > 0 && gone[0] < to {
			ix.Sorted = append(ix.Sorted, prev[from:gone[0]]...)
			from = gone[0] + 1
			gone = gone[1:]
		}
		ix.Sorted = append(ix.Sorted, prev[from:to]...)
		from = to
	}
	for _, e := range added {
		at, _ := slices.BinarySearchFunc(prev, e, compareAlerts)
		copyTo(max(at, from))
		ix.Sorted = append(ix.Sorted, e)
		ix.count(e, 1)
	}
	copyTo(len(prev))
	return ix
}

// alertIndexRebuilds counts updateAlerts' fallbacks to rebuildAlerts
// (none unless there is a bug; the tests check).
var alertIndexRebuilds atomic.Uint64

// rebuildAlerts is updateAlerts done by sorting everything again.
func rebuildAlerts(old *AlertIndex, removed, added []*AlertEntry) *AlertIndex {
	ix := &AlertIndex{}
	for _, e := range old.Sorted {
		if !slices.Contains(removed, e) {
			ix.Sorted = append(ix.Sorted, e)
		}
	}
	ix.Sorted = append(ix.Sorted, added...)
	slices.SortFunc(ix.Sorted, compareAlerts)
	for _, e := range ix.Sorted {
		ix.count(e, 1)
	}
	return ix
}
