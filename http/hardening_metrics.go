package http

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/hbd-project/hbd/actors"
	"github.com/hbd-project/hbd/internal/limits"
)

var (
	descLimitRefused = prometheus.NewDesc("hbd_limit_refused_total",
		"What a [limits] cap refused, by limit: a sample, a new plugin, host, alert or silence. What the sender already had keeps working.", []string{"limit"}, nil)
	descJournalWriteErrors = prometheus.NewDesc("hbd_journal_write_errors_total",
		"Writes and fsyncs of the journal file that failed (a full disk, an I/O error).", nil, nil)
	descJournalLost = prometheus.NewDesc("hbd_journal_events_lost_total",
		"Events that did not reach the journal file because its write failed; the journal records how many once writing works again.", nil, nil)
)

// hardeningCollector exposes the caps' refusals and the journal's write
// failures: what the daemon refused or lost, so that neither is silent.
type hardeningCollector struct{ sys *actors.System }

func (c *hardeningCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- descLimitRefused
	ch <- descJournalWriteErrors
	ch <- descJournalLost
}

func (c *hardeningCollector) Collect(ch chan<- prometheus.Metric) {
	for _, l := range limits.All() {
		ch <- prometheus.MustNewConstMetric(descLimitRefused, prometheus.CounterValue, float64(c.sys.Refusals.Count(l)), l.String())
	}
	st := c.sys.Stats
	ch <- prometheus.MustNewConstMetric(descJournalWriteErrors, prometheus.CounterValue, float64(st.JournalWriteErrors.Load()))
	ch <- prometheus.MustNewConstMetric(descJournalLost, prometheus.CounterValue, float64(st.JournalEventsLost.Load()))
}
