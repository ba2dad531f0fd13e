package http

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/valyala/fasthttp"

	"github.com/hbd-project/hbd/actors"
	"github.com/hbd-project/hbd/internal/clusterwire"
)

// One API, any node (cluster mode): the fleet snapshot already holds every
// member's hosts, so the lists answer for the whole cluster; when it may
// miss some (a member's fleet frames stopped, or it left) the answer says
// so: the X-Hbd-Partial header names those members on every answer built
// from the snapshot, and objects also carry "partial": true and the
// members in "missing". The per-host routes that ask a HostActor go to the
// host's owner when that is another member. In single-node mode none of
// this runs: no header, the same bytes.

// PartialHeader names the members a cluster-wide answer may miss.
const PartialHeader = "X-Hbd-Partial"

// queriedKey marks a request another member passed on: it is answered
// here, never passed on again.
const queriedKey = "hbd.cluster.queried"

// setPartial sets PartialHeader when the snapshot misses members.
func setPartial(ctx *fasthttp.RequestCtx, snap *actors.FleetSnapshot) {
	if len(snap.Partial) > 0 {
		ctx.Response.Header.Set(PartialHeader, strings.Join(snap.Partial, ","))
	}
}

// appendPartial adds "partial": true and "missing" to the JSON object b
// when the snapshot misses members.
func appendPartial(b []byte, snap *actors.FleetSnapshot) []byte {
	if len(snap.Partial) == 0 || len(b) == 0 || b[len(b)-1] != '}' {
		return b
	}
	missing, _ := json.Marshal(snap.Partial)
	b = append(b[:len(b)-1], `,"partial":true,"missing":`...)
	b = append(b, missing...)
	return append(b, '}')
}

// byOwner wraps a per-host route: when the host belongs to another member
// it asks that member (KindQuery) and relays its answer; an owner that
// does not answer is a 503 naming it.
func (s *Server) byOwner(h fasthttp.RequestHandler) fasthttp.RequestHandler {
	c := s.sys.Cluster
	if c == nil {
		return h
	}
	return func(ctx *fasthttp.RequestCtx) {
		if ctx.UserValue(queriedKey) != nil {
			h(ctx)
			return
		}
		name, ok := hostParam(ctx)
		if !ok {
			return
		}
		if _, local := s.sys.Registry.Lookup(name); local {
			h(ctx)
			return
		}
		owner := c.Node.Placement().Owner(name)
		if owner == c.Node.Self() {
			h(ctx)
			return
		}
		q := clusterwire.AppendQuery(nil, &clusterwire.Query{Origin: c.Node.Self(), URI: string(ctx.RequestURI())})
		frame, err := c.Node.Request(owner, actors.QueryService, q, s.timeout)
		var r clusterwire.QueryReply
		if err == nil {
			var body []byte
			var k clusterwire.Kind
			if k, body, err = clusterwire.ParseHeader(frame); err == nil && k != clusterwire.KindQueryReply {
				err = fmt.Errorf("answered with a %s frame", k)
			}
			if err == nil {
				r, err = clusterwire.DecodeQueryReply(body)
			}
		}
		if err != nil {
			writeError(ctx, fasthttp.StatusServiceUnavailable,
				fmt.Sprintf("host '%s' belongs to cluster member %s, which did not answer: %v", name, owner, err))
			return
		}
		for _, kv := range r.Headers {
			ctx.Response.Header.Set(kv[0], kv[1])
		}
		ctx.SetStatusCode(r.Status)
		ctx.SetContentType(r.ContentType)
		ctx.Response.Header.Set("Cache-Control", "no-store")
		ctx.SetBody(r.Body)
	}
}

// relayedHeaders are the headers of a per-host answer the asking member
// passes on, beyond status, content type and body.
var relayedHeaders = []string{"X-Total-Count"}

// answerQuery answers another member's per-host query through the router,
// as if the request had come to this member's own listener. Only GETs of
// per-host routes come here: the asking member checked the client.
func (s *Server) answerQuery(uri string) clusterwire.QueryReply {
	if !strings.HasPrefix(uri, "/api/0/hosts/") {
		return clusterwire.QueryReply{Status: fasthttp.StatusBadRequest, ContentType: "application/json",
			Body: []byte(`{"error":"only per-host routes are answered for other members"}`)}
	}
	var req fasthttp.Request
	req.Header.SetMethod(fasthttp.MethodGet)
	req.SetRequestURI(uri)
	var ctx fasthttp.RequestCtx
	ctx.Init(&req, nil, nil)
	ctx.SetUserValue(queriedKey, true)
	s.router.Handler(&ctx)
	r := clusterwire.QueryReply{Status: ctx.Response.StatusCode(), ContentType: string(ctx.Response.Header.ContentType()),
		Body: append([]byte(nil), ctx.Response.Body()...)}
	for _, h := range relayedHeaders {
		if v := ctx.Response.Header.Peek(h); v != nil {
			r.Headers = append(r.Headers, [2]string{h, string(v)})
		}
	}
	if len(r.Body) > clusterwire.MaxReplyBody {
		return clusterwire.QueryReply{Status: fasthttp.StatusInternalServerError, ContentType: "application/json",
			Body: []byte(`{"error":"the answer is larger than a cluster frame allows (` + strconv.Itoa(clusterwire.MaxReplyBody) + ` bytes)"}`)}
	}
	return r
}

// fleetExchangeCollector exposes the fleet exchange's counters (cluster
// mode only).
type fleetExchangeCollector struct{ sys *actors.System }

var (
	descFleetFrames = prometheus.NewDesc("hbd_cluster_fleet_frames_total",
		"Frames of host summaries exchanged with the other members, by direction (out, in).", []string{"direction"}, nil)
	descFleetBad = prometheus.NewDesc("hbd_cluster_fleet_bad_frames_total",
		"Fleet and query frames, or host summaries in them, that did not decode or were invalid: ignored.", nil, nil)
	descFleetRefused = prometheus.NewDesc("hbd_cluster_fleet_refused_total",
		"Other members' hosts not taken into this member's view because it held its maximum.", nil, nil)
	descFleetPartial = prometheus.NewDesc("hbd_cluster_fleet_partial_members",
		"Members whose hosts this member's answers may miss (the X-Hbd-Partial header).", nil, nil)
)

func (c fleetExchangeCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descFleetFrames, descFleetBad, descFleetRefused, descFleetPartial} {
		ch <- d
	}
}

func (c fleetExchangeCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.sys.Stats
	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	counter(descFleetFrames, st.ClusterFleetFramesOut.Load(), "out")
	counter(descFleetFrames, st.ClusterFleetFramesIn.Load(), "in")
	counter(descFleetBad, st.ClusterBadFrames.Load())
	counter(descFleetRefused, st.ClusterFleetRefused.Load())
	ch <- prometheus.MustNewConstMetric(descFleetPartial, prometheus.GaugeValue, float64(len(c.sys.Fleet.Snapshot().Partial)))
}
