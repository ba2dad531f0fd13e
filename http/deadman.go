package http

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/hbd-project/hbd/internal/deadman"
)

var (
	descDeadmanPings   = prometheus.NewDesc("hbd_deadman_pings_total", "Pings of the dead man's switch ([deadman]), by target (url, peer) and result (ok, failed).", []string{"target", "result"}, nil)
	descDeadmanSuccess = prometheus.NewDesc("hbd_deadman_last_success_timestamp_seconds", "When a ping of the dead man's switch last succeeded, by target, as a unix time in seconds.", []string{"target"}, nil)
)

// DeadmanCollector exposes the dead man's switch's counters on /metrics;
// pass it in Options.Collectors.
func DeadmanCollector(d *deadman.Deadman) prometheus.Collector { return deadmanCollector{d} }

type deadmanCollector struct{ d *deadman.Deadman }

func (c deadmanCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- descDeadmanPings
	ch <- descDeadmanSuccess
}

func (c deadmanCollector) Collect(ch chan<- prometheus.Metric) {
	for _, t := range c.d.Counts() {
		ch <- prometheus.MustNewConstMetric(descDeadmanPings, prometheus.CounterValue, float64(t.OK), t.Target, "ok")
		ch <- prometheus.MustNewConstMetric(descDeadmanPings, prometheus.CounterValue, float64(t.Failed), t.Target, "failed")
		if !t.LastSuccess.IsZero() {
			ch <- prometheus.MustNewConstMetric(descDeadmanSuccess, prometheus.GaugeValue, float64(t.LastSuccess.UnixNano())/1e9, t.Target)
		}
	}
}
