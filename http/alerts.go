package http

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/hbd-project/hbd/internal/silence"
	"io"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/hbd-project/hbd/actors"
	"github.com/hbd-project/hbd/internal/alert"
)

// hostAlerts answers /api/0/hosts/{hostname}/alerts from the host's actor:
// every metric it tracks, OK ones included, and the summary.
func (s *Server) hostAlerts(ctx *fasthttp.RequestCtx) {
	name, ok := hostParam(ctx)
	if !ok {
		return
	}
	s.ask(ctx, name, func(qctx context.Context) (actors.APIReply, bool) { return s.sys.QueryAlerts(qctx, name) })
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
	var list []*actors.AlertEntry
	var critical, warning, unknown int
	for _, h := range snap.Alerting {
		if hostGlob != "" {
			if ok, _ := path.Match(hostGlob, h.Name); !ok {
				continue
			}
		}
		for _, a := range h.Alerts {
			switch a.Level {
			case alert.LevelCritical:
				critical++
			case alert.LevelWarning:
				warning++
			case alert.LevelUnknown:
				unknown++
			}
			if !byLevel || a.Level == level {
				list = append(list, a)
			}
		}
	}
	// Most severe first, then the longest-standing, then by name.
	slices.SortStableFunc(list, func(x, y *actors.AlertEntry) int {
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
	})
	ctx.Response.Header.Set("X-Total-Count", strconv.Itoa(len(list)))
	if offset > len(list) {
		offset = len(list)
	}
	list = list[offset:min(len(list), offset+limit)]

	b := make([]byte, 0, 128+len(list)*260)
	b = append(b, `{"alerts":[`...)
	for i, a := range list {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, a.JSONOpen...)
		b = append(b, `,"silenced":`...)
		b = strconv.AppendBool(b, s.sys.Silences.Match(a.Host, a.Path) != nil)
		b = append(b, '}')
	}
	b = append(b, `],"summary":{"critical":`...)
	b = strconv.AppendInt(b, int64(critical), 10)
	b = append(b, `,"warning":`...)
	b = strconv.AppendInt(b, int64(warning), 10)
	b = append(b, `,"unknown":`...)
	b = strconv.AppendInt(b, int64(unknown), 10)
	b = append(b, `,"total":`...)
	b = strconv.AppendInt(b, int64(critical+warning+unknown), 10)
	b = append(b, `},"host_count":`...)
	b = strconv.AppendInt(b, int64(len(snap.Hosts)), 10)
	b = append(b, '}')
	writeJSON(ctx, fasthttp.StatusOK, b)
}

// silenceRequest is the body of POST /api/0/silences. until is unix
// seconds; duration ("2h") may be given instead.
type silenceRequest struct {
	Host     string   `json:"host"`
	Metric   string   `json:"metric"`
	Until    *float64 `json:"until"`
	Duration string   `json:"duration"`
	Comment  string   `json:"comment"`
}

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
	s.sys.Journal(actors.Event{Kind: "silence", Host: "",
		Msg:    fmt.Sprintf("silence %s added: host %q metric %q until %s (%s)", sil.ID, sil.Host, sil.Metric, sil.Until.UTC().Format(time.RFC3339), sil.Comment),
		Fields: map[string]any{"id": sil.ID, "host": sil.Host, "metric": sil.Metric}})
	b, _ := json.Marshal(sil)
	writeJSON(ctx, fasthttp.StatusCreated, b)
}

// parseSilence decodes the body of POST /api/0/silences into the silence
// to add, its expiry computed from until or duration at now. It checks the
// body's shape only; silence.Store.Add validates the globs and the caps.
func parseSilence(body []byte, now time.Time) (silence.Silence, error) {
	var req silenceRequest
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		return silence.Silence{}, err
	}
	// One JSON object and nothing after it: a body that is more is not
	// what the client meant, and guessing is how parsers get smuggled past.
	if _, err := dec.Token(); err != io.EOF {
		return silence.Silence{}, errors.New("unexpected data after the JSON object")
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
	b, _ := json.Marshal(struct {
		Silences []silence.Silence `json:"silences"`
	}{s.sys.Silences.List()})
	writeJSON(ctx, fasthttp.StatusOK, b)
}

func (s *Server) deleteSilence(ctx *fasthttp.RequestCtx) {
	id, _ := ctx.UserValue("id").(string)
	id = string([]byte(id))
	if !s.sys.Silences.Delete(id) {
		writeError(ctx, fasthttp.StatusNotFound, fmt.Sprintf("Silence '%s' not found", id))
		return
	}
	s.sys.Journal(actors.Event{Kind: "silence", Msg: fmt.Sprintf("silence %s deleted", id), Fields: map[string]any{"id": id}})
	writeJSON(ctx, fasthttp.StatusOK, []byte(`{"deleted":`+strconv.Quote(id)+`}`))
}
