package ws

import (
	"fmt"
	"strings"

	"github.com/valyala/fasthttp"

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

// urlSubscription reads the subscription a client may give in the URL,
// /hbd?hosts=web*,db01&types=host,message, so that its first snapshot is
// already the filtered one: a client that subscribes by message instead
// is sent the whole fleet first. Each parameter is a comma-separated list
// and may be repeated; without either, nil (every host, every type).
func urlSubscription(args *fasthttp.Args, maxGlobs int) (*broadcast.Filter, error) {
	list := func(key string) []string {
		var out []string
		for _, v := range args.PeekMulti(key) {
			for _, item := range strings.Split(string(v), ",") {
				if item != "" {
					out = append(out, item)
				}
			}
		}
		return out
	}
	hosts, types := list("hosts"), list("types")
	if len(hosts) == 0 && len(types) == 0 {
		return nil, nil
	}
	if len(hosts) > maxGlobs {
		return nil, fmt.Errorf("too many host patterns: %d (at most %d)", len(hosts), maxGlobs)
	}
	return broadcast.NewFilter(hosts, types)
}
