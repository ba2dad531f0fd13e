// Package logx holds the daemon's small additions to log/slog.
package logx

import (
	"context"
	"log/slog"
)

// AtLeast returns a handler that passes h the records at min or above and
// drops the rest: protoactor logs routine events at Info, and the daemon
// keeps only its warnings.
func AtLeast(h slog.Handler, min slog.Level) slog.Handler { return atLeast{Handler: h, min: min} }

type atLeast struct {
	slog.Handler
	min slog.Level
}

func (h atLeast) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= h.min && h.Handler.Enabled(ctx, l)
}

func (h atLeast) WithAttrs(as []slog.Attr) slog.Handler {
	return atLeast{Handler: h.Handler.WithAttrs(as), min: h.min}
}

func (h atLeast) WithGroup(name string) slog.Handler {
	return atLeast{Handler: h.Handler.WithGroup(name), min: h.min}
}
