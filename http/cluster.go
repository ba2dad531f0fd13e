package http

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/valyala/fasthttp"

	"github.com/hbd-project/hbd/actors"
	"github.com/hbd-project/hbd/internal/contract"
)

// cluster answers GET /api/0/cluster: this member's view of the cluster,
// or {"enabled":false} on a daemon running alone.
func (s *Server) cluster(ctx *fasthttp.RequestCtx) {
	c := s.sys.Cluster
	if c == nil {
		writeJSON(ctx, fasthttp.StatusOK, contract.ClusterDisabledBody())
		return
	}
	p := c.Node.Placement()
	hash, consensus := c.Node.Consensus()
	if hash == 0 {
		hash = p.Hash
	}
	cfg := c.Node.Config()
	out := &contract.Cluster{Name: cfg.Name, Self: p.Self, Provider: cfg.Provider, HostsOwned: s.sys.Registry.Len(),
		Version: p.Version, Hash: hash, Consensus: consensus, Changes: c.Node.TopologyChanges()}
	for i, m := range p.Members {
		out.Members = append(out.Members, contract.ClusterMember{Address: m, ID: p.IDs[i], Self: m == p.Self})
	}
	writeJSON(ctx, fasthttp.StatusOK, contract.AppendCluster(nil, out))
}

var (
	descClusterMembers   = prometheus.NewDesc("hbd_cluster_members", "Members in this member's current cluster topology, itself included.", nil, nil)
	descClusterChanges   = prometheus.NewDesc("hbd_cluster_topology_changes_total", "Cluster topology changes this member has seen.", nil, nil)
	descClusterConsensus = prometheus.NewDesc("hbd_cluster_topology_consensus", "1 when every member gossips the same topology, else 0.", nil, nil)
	descClusterOwned     = prometheus.NewDesc("hbd_cluster_hosts_owned", "Hosts whose state lives on this member.", nil, nil)
	descFwdDatagrams     = prometheus.NewDesc("hbd_cluster_forwarded_datagrams_total", "Verified datagrams forwarded to the member that owns their host, by member.", []string{"member"}, nil)
	descFwdBytes         = prometheus.NewDesc("hbd_cluster_forwarded_bytes_total", "Bytes of datagrams (with their receive metadata) forwarded to their owner, by member.", []string{"member"}, nil)
	descFwdFrames        = prometheus.NewDesc("hbd_cluster_forward_frames_total", "Frames of forwarded datagrams sent, by member.", []string{"member"}, nil)
	descFwdDropped       = prometheus.NewDesc("hbd_cluster_forward_dropped_total", "Datagrams not forwarded: the member's queue was full (queue_full), or forwarded here for a host this member thinks the named member owns (not_owner).", []string{"member", "reason"}, nil)
	descFwdIn            = prometheus.NewDesc("hbd_cluster_forwarded_in_total", "Datagrams other members forwarded here, by result (applied, rejected, not_ready: before ingest started).", []string{"result"}, nil)
	descAckReqOut        = prometheus.NewDesc("hbd_cluster_ack_requests_sent_total", "ACK requests sent back to the member that received the datagram, by member.", []string{"member"}, nil)
	descAckReqDropped    = prometheus.NewDesc("hbd_cluster_ack_requests_dropped_total", "ACK requests dropped: the queue to the member was full, by member.", []string{"member"}, nil)
	descAckReqIn         = prometheus.NewDesc("hbd_cluster_ack_requests_received_total", "ACK requests from owners, by result (sent: handed to the socket's ACK writer, no_socket).", []string{"result"}, nil)
	descClusterBadFrames = prometheus.NewDesc("hbd_cluster_bad_frames_total", "Frames from members that did not decode; nothing of them was applied.", nil, nil)
)

// clusterCollector exposes cluster mode's counters on /metrics.
type clusterCollector struct {
	c   *actors.Cluster
	reg *actors.Registry
}

func (c clusterCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descClusterMembers, descClusterChanges, descClusterConsensus, descClusterOwned,
		descFwdDatagrams, descFwdBytes, descFwdFrames, descFwdDropped, descFwdIn, descAckReqOut, descAckReqDropped, descAckReqIn, descClusterBadFrames} {
		ch <- d
	}
}

func (c clusterCollector) Collect(ch chan<- prometheus.Metric) {
	cl := c.c
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	gauge(descClusterMembers, float64(len(cl.Node.Placement().Members)))
	counter(descClusterChanges, cl.Node.TopologyChanges())
	consensus := 0.0
	if _, ok := cl.Node.Consensus(); ok {
		consensus = 1
	}
	gauge(descClusterConsensus, consensus)
	gauge(descClusterOwned, float64(c.reg.Len()))
	for _, q := range cl.Forwarded() {
		counter(descFwdDatagrams, q.Sent.Load(), q.Member)
		counter(descFwdBytes, q.Bytes.Load(), q.Member)
		counter(descFwdFrames, q.Frames.Load(), q.Member)
		counter(descFwdDropped, q.Dropped.Load(), q.Member, "queue_full")
	}
	for m, n := range cl.NotOwner() {
		counter(descFwdDropped, n, m, "not_owner")
	}
	counter(descFwdIn, cl.Injected.Load(), "applied")
	counter(descFwdIn, cl.Rejected.Load(), "rejected")
	counter(descFwdIn, cl.NotReady.Load(), "not_ready")
	for _, q := range cl.AckRequests() {
		counter(descAckReqOut, q.Sent.Load(), q.Member)
		counter(descAckReqDropped, q.Dropped.Load(), q.Member)
	}
	counter(descAckReqIn, cl.AcksSent.Load(), "sent")
	counter(descAckReqIn, cl.AcksNoSocket.Load(), "no_socket")
	counter(descClusterBadFrames, cl.BadFrames.Load())
}
