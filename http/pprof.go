package http

import (
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/valyala/fasthttp"
)

// maxProfileSeconds caps the seconds parameter of /debug/pprof: a CPU
// profile or trace longer than a minute is rarely what anyone wants, and
// an abandoned long one would hold the profiler for everyone else.
const maxProfileSeconds = 60

// pprofGate runs one profile at a time. Go has one CPU profiler per
// process, so a second CPU profile would fail anyway; the gate makes that
// a clear 409 with Retry-After for every profile kind, and keeps two
// clients from doubling the daemon's profiling overhead.
type pprofGate struct {
	ref *refusals
	now func() time.Time

	mu    sync.Mutex
	busy  bool
	until time.Time // when the running profile should end
}

// instant lists the endpoints that answer at once and are not profiles.
var instant = map[string]bool{"": true, "cmdline": true, "symbol": true}

func (p *pprofGate) wrap(next fasthttp.RequestHandler) fasthttp.RequestHandler {
	return func(ctx *fasthttp.RequestCtx) {
		name, _ := ctx.UserValue("profile").(string)
		secs := 0
		if v := ctx.QueryArgs().Peek("seconds"); v != nil {
			n, err := strconv.Atoi(string(v))
			if err != nil || n < 0 || n > maxProfileSeconds {
				writeError(ctx, fasthttp.StatusBadRequest, fmt.Sprintf("invalid seconds '%s': must be an integer from 0 to %d", v, maxProfileSeconds))
				return
			}
			secs = n
		} else if name == "profile" {
			secs = 30 // net/http/pprof's default
		}
		if instant[name] {
			next(ctx)
			return
		}
		now := p.now()
		p.mu.Lock()
		if p.busy {
			left := max(1, int(p.until.Sub(now).Seconds()+0.999))
			p.mu.Unlock()
			ctx.Response.Header.Set("Retry-After", strconv.Itoa(left))
			addr := remoteAddr(ctx)
			msg := fmt.Sprintf("another profile is running (about %d s left); one at a time", left)
			p.ref.refuse(ReasonPprofBusy, sourceName(addr), msg)
			writeError(ctx, fasthttp.StatusConflict, msg)
			return
		}
		p.busy, p.until = true, now.Add(time.Duration(secs)*time.Second)
		p.mu.Unlock()
		defer func() {
			p.mu.Lock()
			p.busy = false
			p.mu.Unlock()
		}()
		next(ctx)
	}
}
