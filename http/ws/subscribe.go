package ws

import (
	"fmt"

	"github.com/hbd-project/hbd/actors/broadcast"
	"github.com/hbd-project/hbd/internal/contract"
)

// parseSubscription decodes a client's message (contract.DecodeSubscription)
// into a filter with at most maxGlobs host globs; broadcast.NewFilter
// checks and compiles the globs and types.
func parseSubscription(msg []byte, maxGlobs int) (*broadcast.Filter, error) {
	sub, err := contract.DecodeSubscription(msg)
	if err != nil {
		return nil, err
	}
	if len(sub.Hosts) > maxGlobs {
		return nil, fmt.Errorf("too many host patterns: %d (at most %d)", len(sub.Hosts), maxGlobs)
	}
	return broadcast.NewFilter(sub.Hosts, sub.Types)
}
