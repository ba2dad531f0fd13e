package actors

import (
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"

	"github.com/asynkron/protoactor-go/actor"
)

// Messages no Receive has a case for. Each actor's switch ends in
// unexpected: a message of the wrong type (a value where a pointer is
// expected, say) is a programming error that would otherwise vanish and
// surface elsewhere as a timeout.
var (
	unexpectedCount  atomic.Uint64
	unexpectedLogged sync.Map // actor + type -> true: the set of Go types is finite
)

// UnexpectedMessages is how many messages the daemon's actors received and
// had no case for, since the process started.
func UnexpectedMessages() uint64 { return unexpectedCount.Load() }

// unexpected counts msg, received by actor who, and logs the first of each
// type. protoactor's own lifecycle and system messages are expected by
// every actor and ignored.
func unexpected(who string, msg any) {
	switch msg.(type) {
	case actor.SystemMessage, actor.AutoReceiveMessage:
		return
	}
	unexpectedCount.Add(1)
	typ := fmt.Sprintf("%T", msg)
	if _, seen := unexpectedLogged.LoadOrStore(who+"\x00"+typ, true); !seen {
		slog.Error("actor received a message it has no case for: dropped", "actor", who, "type", typ)
	}
}
