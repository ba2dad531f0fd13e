package actors

// HostSummary is one host's entry in the fleet view. It is immutable once
// sent to the fleet index: readers on any goroutine may use it without locks.
type HostSummary struct {
	Name  string
	State HostState
	// JSON is the host's object in /api/0/hosts, encoded once by its
	// HostActor so that listing 100,000 hosts is a concatenation.
	JSON []byte
	// Alerts are the host's non-OK alerts, sorted by metric path.
	Alerts []*AlertEntry
}

// summary builds the host's immutable fleet entry.
func (h *hostState) summary() *HostSummary {
	return &HostSummary{
		Name:  h.name,
		State: h.state,
		JSON:  h.appendJSON(make([]byte, 0, 384)),
	}
}

// appendJSON appends the host object of /api/0/hosts: the seed's name, dyn,
// ver and connections, plus state, last_seen and what the agent told us.
func (h *hostState) appendJSON(b []byte) []byte {
	b = append(b, `{"name":`...)
	b = appendJSONString(b, h.name)
	b = append(b, `,"dyn":`...)
	b = appendBool(b, h.dyn)
	b = append(b, `,"ver":`...)
	if h.ver == 0 {
		b = append(b, "null"...)
	} else {
		b = appendFloat(b, float64(h.ver))
	}
	b = append(b, `,"state":`...)
	b = appendJSONString(b, h.state.String())
	b = append(b, `,"last_seen":`...)
	b = appendUnixTime(b, h.lastSeen)
	b = append(b, `,"interval":`...)
	b = appendFloat(b, h.interval.Seconds())
	b = append(b, `,"agent_version":`...)
	if h.agentVersion == "" {
		b = append(b, "null"...)
	} else {
		b = appendJSONString(b, h.agentVersion)
	}
	b = append(b, `,"connections":[`...)
	first := true
	for f, c := range h.conns {
		if c == nil {
			continue
		}
		if !first {
			b = append(b, ',')
		}
		first = false
		b = append(b, `{"family":"`...)
		b = append(b, family(f).String()...)
		b = append(b, `","address":`...)
		b = appendJSONString(b, c.addr.String())
		b = append(b, `,"state":`...)
		if c.up {
			b = append(b, `"UP"`...)
		} else {
			b = append(b, `"DOWN"`...)
		}
		b = append(b, `,"last_seen":`...)
		b = appendUnixTime(b, c.lastSeen)
		b = append(b, `,"rtt_ms":`...)
		if c.hasRTT {
			b = appendMillis(b, c.rtt)
		} else {
			b = append(b, "null"...)
		}
		b = append(b, `,"rtt_smoothed_ms":`...)
		if c.hasRTT {
			b = appendMillis(b, c.srtt)
		} else {
			b = append(b, "null"...)
		}
		b = append(b, `,"loss_pct":`...)
		b = appendFloat(b, float64(int(c.loss.lossPct()*100+0.5))/100)
		b = append(b, '}')
	}
	return append(b, "]}"...)
}
