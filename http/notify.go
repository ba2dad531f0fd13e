package http

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/hbd-project/hbd/actors"
)

var (
	descNotifyDropped = prometheus.NewDesc("hbd_notifications_dropped_total", "Notifications not queued for sending, by channel and reason (queue_full: the channel is slower than the alerts; closed: the daemon was stopping). Each is also journaled, added up per channel every 10 s.", []string{"channel", "reason"}, nil)
	descNotifyQueued  = prometheus.NewDesc("hbd_notification_queue_length", "Notifications waiting in a channel's queue.", []string{"channel"}, nil)
)

// notifyCollector exposes the notification channels' queues on /metrics.
type notifyCollector struct{ sys *actors.System }

func (c notifyCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- descNotifyDropped
	ch <- descNotifyQueued
}

func (c notifyCollector) Collect(ch chan<- prometheus.Metric) {
	for _, n := range c.sys.NotifyChannels() {
		ch <- prometheus.MustNewConstMetric(descNotifyDropped, prometheus.CounterValue, float64(n.Drops.QueueFull), n.Name, "queue_full")
		ch <- prometheus.MustNewConstMetric(descNotifyDropped, prometheus.CounterValue, float64(n.Drops.Closed), n.Name, "closed")
		ch <- prometheus.MustNewConstMetric(descNotifyQueued, prometheus.GaugeValue, float64(n.Queued), n.Name)
	}
}
