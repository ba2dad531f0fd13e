package actors

import (
	"github.com/hbd-project/hbd/internal/contract"
	"github.com/hbd-project/hbd/internal/rttwin"
)

// rttQuery asks a HostActor for /api/0/hosts/{h}/rtt. The actor answers
// on reply, which must have room for one value.
type rttQuery struct {
	reply chan<- Answer
}

// answerRTT encodes every connection's RTT window: the quantiles are
// looked up and the history read here, when somebody asks, not per
// heartbeat.
func (a *hostActor) answerRTT() Answer {
	var fams [numFamilies]contract.RTTFamily
	n := 0
	for f, c := range a.st.conns {
		if c == nil {
			continue
		}
		fams[n] = contract.RTTFamily{Family: family(f).String(), Address: c.addr}
		if w := c.rtts; w != nil {
			fams[n].Quantiles, fams[n].Count = w.Quantiles(), w.Count()
			fams[n].History = func(yield func(int64, uint32) bool) {
				for e := range w.All() {
					if !yield(e.UnixMilli, e.Micros) {
						return
					}
				}
			}
		}
		n++
	}
	// A full window is about 30 bytes a heartbeat.
	return Answer{Body: contract.AppendRTT(make([]byte, 0, 128+n*(96+rttwin.Size*32)), a.st.name, rttwin.Size, fams[:n])}
}
