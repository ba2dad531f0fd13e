package http

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/hbd-project/hbd/actors"
)

var (
	descReplicaLag        = prometheus.NewDesc("hbd_cluster_replica_lag_seconds", "How long the oldest host record sent to its successor has waited for the successor's ack; 0 when replication is caught up.", nil, nil)
	descReplicaSent       = prometheus.NewDesc("hbd_cluster_replica_records_sent_total", "Host records sent to their successors.", nil, nil)
	descReplicaFrames     = prometheus.NewDesc("hbd_cluster_replica_frames_total", "Replica frames sent to successors, by result (acked, given_up: no ack in time).", []string{"result"}, nil)
	descReplicaStored     = prometheus.NewDesc("hbd_cluster_replicas", "Records of other members' hosts this member keeps as their successor.", nil, nil)
	descReplicaRefused    = prometheus.NewDesc("hbd_cluster_replica_refused_total", "Host records refused because the replica store was full, by where (here, or by the successor).", []string{"where"}, nil)
	descReplicaBadFrames  = prometheus.NewDesc("hbd_cluster_replica_bad_frames_total", "Replica and hand-over frames that did not decode; nothing of them was applied.", nil, nil)
	descReplicaTakenOver  = prometheus.NewDesc("hbd_cluster_takeover_hosts_total", "Hosts restored from their replicas after their owner left the cluster.", nil, nil)
	descReplicaHandedOver = prometheus.NewDesc("hbd_cluster_handoff_hosts_total", "Hosts handed over with their whole state, by direction (out: to a member that joined; in: from their previous owner).", []string{"direction"}, nil)
)

// replicaCollector exposes replication's counters (cluster mode) on
// /metrics.
type replicaCollector struct{ sys *actors.System }

func (c replicaCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descReplicaLag, descReplicaSent, descReplicaFrames, descReplicaStored, descReplicaRefused,
		descReplicaBadFrames, descReplicaTakenOver, descReplicaHandedOver} {
		ch <- d
	}
}

func (c replicaCollector) Collect(ch chan<- prometheus.Metric) {
	r := c.sys.Replica
	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	ch <- prometheus.MustNewConstMetric(descReplicaLag, prometheus.GaugeValue, c.sys.ReplicaLag().Seconds())
	counter(descReplicaSent, r.RecordsSent.Load())
	counter(descReplicaFrames, r.Acked.Load(), "acked")
	counter(descReplicaFrames, r.GivenUp.Load(), "given_up")
	ch <- prometheus.MustNewConstMetric(descReplicaStored, prometheus.GaugeValue, float64(r.Stored.Load()))
	counter(descReplicaRefused, r.Refused.Load(), "here")
	counter(descReplicaRefused, r.RefusedByPeer.Load(), "successor")
	counter(descReplicaBadFrames, r.BadFrames.Load())
	counter(descReplicaTakenOver, r.TakenOver.Load())
	counter(descReplicaHandedOver, r.HandedOver.Load(), "out")
	counter(descReplicaHandedOver, r.Received.Load(), "in")
}
