package contract

import (
	"iter"
	"net/netip"
)

// RTTFamily is one connection's entry in the answer of
// GET /api/0/hosts/{hostname}/rtt: the quantiles of its recent heartbeats'
// RTTs and the heartbeats themselves.
type RTTFamily struct {
	Family  string // "ipv4" or "ipv6"
	Address netip.AddrPort
	// Quantiles are p50, p95 and p99 in µs, as in Conn; 0 is null.
	Quantiles [3]uint32
	Count     int // heartbeats in History with an RTT
	// History yields the heartbeats oldest first: when each was received
	// (unix ms; estimated for a missed one) and its RTT in µs, 0 for none
	// (missed, or sent without a measurement), written as null so that a
	// chart draws a gap.
	History iter.Seq2[int64, uint32]
}

// AppendRTT appends the answer of GET /api/0/hosts/{hostname}/rtt: window
// is how many heartbeats a connection's history holds at most.
func AppendRTT(b []byte, host string, window int, families []RTTFamily) []byte {
	b = append(b, `{"host":`...)
	b = appendString(b, host)
	b = append(b, `,"window":`...)
	b = appendInt(b, window)
	b = append(b, `,"families":[`...)
	for i := range families {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendRTTFamily(b, &families[i])
	}
	return append(b, "]}"...)
}

var rttFamilyKeys = [3]string{`,"p50_ms":`, `,"p95_ms":`, `,"p99_ms":`}

func appendRTTFamily(b []byte, f *RTTFamily) []byte {
	b = append(b, `{"family":`...)
	b = appendString(b, f.Family)
	b = append(b, `,"address":`...)
	b = appendAddrPort(b, f.Address)
	for i, key := range rttFamilyKeys {
		b = append(b, key...)
		b = appendMicros(b, f.Quantiles[i])
	}
	b = append(b, `,"count":`...)
	b = appendInt(b, f.Count)
	b = append(b, `,"history":[`...)
	first := true
	if f.History != nil {
		for ms, us := range f.History {
			if !first {
				b = append(b, ',')
			}
			first = false
			b = append(b, '[')
			b = appendUnixMilli(b, ms)
			b = append(b, ',')
			b = appendMicros(b, us)
			b = append(b, ']')
		}
	}
	return append(b, "]}"...)
}
