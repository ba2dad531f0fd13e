package udp

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"
)

// RunSink reads datagrams from c into b and only counts them in count, so
// `hbd-bench sink` can measure how many datagrams per second this machine
// can receive at all, with no decoding or actors in the way. Truncated
// datagrams count like the others.
//
// It returns nil when ctx is done, and an error wrapping the cause if
// reading fails otherwise (for example net.ErrClosed when c is closed). To
// unblock its read when ctx is done it sets a read deadline in the past on
// c and leaves it there: clear it with SetReadDeadline(time.Time{}) before
// reading from c again. The caller keeps ownership of c and b.
func RunSink(ctx context.Context, c *Conn, b *Batch, count *atomic.Uint64) error {
	fired := make(chan struct{})
	stop := context.AfterFunc(ctx, func() {
		defer close(fired)
		// Any time in the past wakes a blocked read at once.
		_ = c.SetReadDeadline(time.Unix(1, 0))
	})
	defer func() {
		// Wait for the deadline callback if it started, so no goroutine of
		// ours outlives the call.
		if !stop() {
			<-fired
		}
	}()
	for {
		n, err := c.ReadBatch(b)
		count.Add(uint64(n))
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("sink on %s stopped: %w", c.local, err)
		}
	}
}
