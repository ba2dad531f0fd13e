package http

import (
	"slices"

	"github.com/valyala/fasthttp"
)

// cors adds CORS headers for the configured origins, so a dashboard served
// elsewhere (Grafana, an internal portal) can call the API from a browser.
// With no origins configured it adds nothing: browsers then refuse
// cross-origin reads, which is the safe default.
type cors struct {
	any     bool
	origins []string
}

func newCORS(origins []string) *cors {
	return &cors{any: slices.Contains(origins, "*"), origins: origins}
}

func (c *cors) enabled() bool { return c.any || len(c.origins) > 0 }

// wrap sets the headers on every response whose Origin is allowed and
// answers preflight requests.
func (c *cors) wrap(next fasthttp.RequestHandler) fasthttp.RequestHandler {
	if !c.enabled() {
		return next
	}
	return func(ctx *fasthttp.RequestCtx) {
		origin := string(ctx.Request.Header.Peek("Origin"))
		allowed := origin != "" && (c.any || slices.Contains(c.origins, origin))
		if allowed {
			h := &ctx.Response.Header
			if c.any {
				h.Set("Access-Control-Allow-Origin", "*")
			} else {
				h.Set("Access-Control-Allow-Origin", origin)
				h.Add("Vary", "Origin")
			}
			if ctx.IsOptions() && len(ctx.Request.Header.Peek("Access-Control-Request-Method")) > 0 {
				h.Set("Access-Control-Allow-Methods", "GET, POST, DELETE, OPTIONS")
				h.Set("Access-Control-Allow-Headers", "Content-Type")
				h.Set("Access-Control-Max-Age", "600")
				ctx.SetStatusCode(fasthttp.StatusNoContent)
				return
			}
			h.Set("Access-Control-Expose-Headers", "X-Total-Count")
		}
		next(ctx)
	}
}
