package http

import (
	"context"
	"errors"
	"fmt"
	"path"
	"strconv"
	"sync"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/hbd-project/hbd/actors"
	"github.com/hbd-project/hbd/internal/alert"
	"github.com/hbd-project/hbd/internal/contract"
	"github.com/hbd-project/hbd/internal/silence"
)

// hostAlerts answers /api/0/hosts/{hostname}/alerts from the host's actor:
// every metric it tracks, OK ones included, and the summary.
func (s *Server) hostAlerts(ctx *fasthttp.RequestCtx) {
	name, ok := hostParam(ctx)
	if !ok {
		return
	}
	s.ask(ctx, name, "", func(qctx context.Context) (actors.Answer, error) { return s.sys.QueryAlerts(qctx, name) })
}

// alerts answers /api/0/alerts: the active (non-OK) alerts of the whole
// fleet from the fleet index's snapshot, most severe first. Filters:
// ?level=CRITICAL|WARNING|UNKNOWN, ?host=GLOB; pages: ?limit=, ?offset=.
func (s *Server) alerts(ctx *fasthttp.RequestCtx) {
	args := ctx.QueryArgs()
	var level alert.Level
	byLevel := false
	if v := args.Peek("level"); v != nil {
		l, ok := alert.ParseLevel(string(v))
		if !ok || l == alert.LevelOK {
			writeError(ctx, fasthttp.StatusBadRequest, fmt.Sprintf("invalid level '%s': must be CRITICAL, WARNING or UNKNOWN", v))
			return
		}
		level, byLevel = l, true
	}
	hostGlob := string(args.Peek("host"))
	if _, err := path.Match(hostGlob, ""); err != nil {
		writeError(ctx, fasthttp.StatusBadRequest, fmt.Sprintf("invalid host glob '%s'", hostGlob))
		return
	}
	limit, err := intArg(args, "limit", maxHostsPage, 1, maxHostsPage)
	if err != nil {
		writeError(ctx, fasthttp.StatusBadRequest, err.Error())
		return
	}
	offset, err := intArg(args, "offset", 0, 0, maxHostsPage)
	if err != nil {
		writeError(ctx, fasthttp.StatusBadRequest, err.Error())
		return
	}

	snap := s.sys.Fleet.Snapshot()
	ix := snap.Alerts
	if ix == nil {
		ix = &actors.AlertIndex{}
	}
	// The index is in the order of the answer: unfiltered, a page is a
	// slice of it; filtered, of the matches taken in its order.
	if hostGlob != "" || byLevel {
		var match func(string) bool
		if hostGlob != "" {
			match = func(h string) bool { ok, _ := path.Match(hostGlob, h); return ok }
		}
		var keep func(*actors.AlertEntry) bool
		if byLevel {
			keep = func(a *actors.AlertEntry) bool { return a.Level == level }
		}
		ix = ix.Select(match, keep)
	}
	list := ix.Sorted
	sum := contract.FleetSummary{Critical: ix.Critical, Warning: ix.Warning, Unknown: ix.Unknown}
	ctx.Response.Header.Set("X-Total-Count", strconv.Itoa(len(list)))
	if offset > len(list) {
		offset = len(list)
	}
	list = list[offset:min(len(list), offset+limit)]

	pp := alertPages.Get().(*[]contract.FleetAlert)
	page := (*pp)[:0]
	for _, a := range list {
		page = append(page, contract.FleetAlert{Open: a.JSONOpen, Silenced: s.sys.Silences.Match(a.Host, a.Path) != nil})
	}
	setPartial(ctx, snap)
	// As /api/0/hosts' pages, in a pooled buffer: a fleet in trouble has
	// thousands of alerts, a megabyte an answer, which pollers ask for
	// many times a second.
	bp := pageBufs.Get().(*[]byte)
	b := appendPartial(contract.AppendFleetAlerts((*bp)[:0], page, sum, len(snap.Hosts)), snap)
	writeJSON(ctx, fasthttp.StatusOK, b)
	putPage(bp, b)
	if cap(page) <= maxPooledAlerts {
		clear(page) // the pool must not keep the snapshot's JSON alive
		*pp = page[:0]
		alertPages.Put(pp)
	}
}

// alertPages holds the lists /api/0/alerts builds its answer from, up to
// maxPooledAlerts entries each.
var alertPages = sync.Pool{New: func() any { p := make([]contract.FleetAlert, 0, 256); return &p }}

const maxPooledAlerts = 1 << 16

func (s *Server) addSilence(ctx *fasthttp.RequestCtx) {
	req, err := parseSilence(ctx.PostBody(), s.sys.Now())
	if err != nil {
		writeError(ctx, fasthttp.StatusBadRequest, "invalid silence: "+err.Error())
		return
	}
	sil, err := s.sys.Silences.Add(req)
	if errors.Is(err, silence.ErrTooMany) {
		// A cap, not a mistake in the request: it clears as silences expire.
		writeError(ctx, fasthttp.StatusTooManyRequests, "silence refused: "+err.Error())
		return
	}
	if err != nil {
		writeError(ctx, fasthttp.StatusBadRequest, "invalid silence: "+err.Error())
		return
	}
	msg := fmt.Sprintf("silence %s added: host %q metric %q until %s (%s)", sil.ID, sil.Host, sil.Metric, sil.Until.UTC().Format(time.RFC3339), sil.Comment)
	if sil.Schedule != nil {
		msg = windowAdded(&sil)
	}
	s.sys.Journal(actors.Event{Kind: "silence", Host: "", Msg: msg,
		Fields: map[string]any{"id": sil.ID, "host": sil.Host, "metric": sil.Metric}})
	writeJSON(ctx, fasthttp.StatusCreated, contract.SilenceBody(&sil, s.sys.Now()))
}

// parseSilence decodes the body of POST /api/0/silences into the silence
// to add, its expiry computed from until or duration at now. It checks the
// body's shape only; silence.Store.Add validates the globs and the caps.
func parseSilence(body []byte, now time.Time) (silence.Silence, error) {
	req, err := contract.DecodeSilenceRequest(body)
	if err != nil {
		return silence.Silence{}, err
	}
	if req.Schedule != "" || req.Timezone != "" {
		return parseWindow(&req)
	}
	var until time.Time
	switch {
	case req.Until != nil && req.Duration != "":
		return silence.Silence{}, errors.New("give until or duration, not both")
	case req.Until != nil:
		until = time.UnixMilli(int64(*req.Until * 1e3))
	case req.Duration != "":
		d, err := time.ParseDuration(req.Duration)
		if err != nil || d <= 0 {
			return silence.Silence{}, fmt.Errorf("duration '%s' is not a positive duration like \"2h\"", req.Duration)
		}
		until = now.Add(d)
	default:
		return silence.Silence{}, errors.New("until (unix seconds) or duration is required")
	}
	return silence.Silence{Host: req.Host, Metric: req.Metric, Until: until, Comment: req.Comment, Origin: "api"}, nil
}

func (s *Server) listSilences(ctx *fasthttp.RequestCtx) {
	writeJSON(ctx, fasthttp.StatusOK, contract.SilencesBody(s.sys.Silences.List(), s.sys.Now()))
}

func (s *Server) deleteSilence(ctx *fasthttp.RequestCtx) {
	id, _ := ctx.UserValue("id").(string)
	id = string([]byte(id))
	if err := s.sys.Silences.Remove(id); err != nil {
		if errors.Is(err, silence.ErrFromConfig) {
			// Deleting it here would last until the next reload.
			writeError(ctx, fasthttp.StatusConflict, fmt.Sprintf("Silence '%s' cannot be deleted with the API: %v", id, err))
			return
		}
		writeError(ctx, fasthttp.StatusNotFound, fmt.Sprintf("Silence '%s' not found", id))
		return
	}
	s.sys.Journal(actors.Event{Kind: "silence", Msg: fmt.Sprintf("silence %s deleted", id), Fields: map[string]any{"id": id}})
	writeJSON(ctx, fasthttp.StatusOK, contract.DeletedBody(id))
}

// parseWindow is parseSilence for a recurring maintenance window: a
// schedule in a zone and, for a cron schedule, a duration. A window has
// no until: it lasts until deleted.
func parseWindow(req *contract.SilenceRequest) (silence.Silence, error) {
	if req.Until != nil {
		return silence.Silence{}, errors.New("a recurring window (schedule) has no until: it lasts until deleted")
	}
	if req.Schedule == "" {
		return silence.Silence{}, errors.New("timezone is given without a schedule")
	}
	var d time.Duration
	if req.Duration != "" {
		var err error
		if d, err = time.ParseDuration(req.Duration); err != nil || d <= 0 {
			return silence.Silence{}, fmt.Errorf("duration '%s' is not a positive duration like \"2h\"", req.Duration)
		}
	}
	sched, err := silence.ParseSchedule(req.Schedule, d, req.Timezone)
	if err != nil {
		return silence.Silence{}, err
	}
	return silence.Silence{Host: req.Host, Metric: req.Metric, Schedule: sched, Comment: req.Comment, Origin: "api"}, nil
}

// windowAdded is the journal's line for a maintenance window added.
func windowAdded(sil *silence.Silence) string {
	loc := sil.Schedule.Zone()
	return fmt.Sprintf("maintenance window %s added: host %q metric %q schedule %q (%s), next %s to %s (%s)", sil.ID, sil.Host, sil.Metric,
		sil.Schedule, loc, sil.Window.Start.In(loc).Format(time.DateTime), sil.Window.End.In(loc).Format(time.DateTime), sil.Comment)
}
