package plugins

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	psnet "github.com/shirou/gopsutil/v4/net"
)

// networkSample is the network_monitor data object.
type networkSample struct {
	Interfaces map[string]ifaceSample `json:"interfaces"`
	// Connections is absent when the socket table cannot be read.
	Connections *connSample `json:"connections,omitempty"`
}

// ifaceSample is one interface's counters (cumulative since the interface
// appeared) and its byte rates since the previous Collect.
type ifaceSample struct {
	BytesSent     uint64   `json:"bytes_sent"`
	BytesRecv     uint64   `json:"bytes_recv"`
	PacketsSent   uint64   `json:"packets_sent"`
	PacketsRecv   uint64   `json:"packets_recv"`
	Errin         uint64   `json:"errin"`
	Errout        uint64   `json:"errout"`
	Dropin        uint64   `json:"dropin"`
	Dropout       uint64   `json:"dropout"`
	BytesSentPerS *float64 `json:"bytes_sent_per_s,omitempty"`
	BytesRecvPerS *float64 `json:"bytes_recv_per_s,omitempty"`
}

// connSample counts the host's sockets, of every kind gopsutil knows
// ("all": TCP, UDP and Unix, IPv4 and IPv6), and the TCP ones in three
// telling states.
type connSample struct {
	Total       int `json:"total"`
	Established int `json:"established"`
	Listen      int `json:"listen"`
	TimeWait    int `json:"time_wait"`
}

// networkCollector is network_monitor. Its state (prev, prevAt) belongs to
// Collect: it is not safe for concurrent Collect calls.
type networkCollector struct {
	now         func() time.Time
	ioCounters  func(ctx context.Context) ([]psnet.IOCountersStat, error)
	connections func(ctx context.Context) ([]psnet.ConnectionStat, error)

	prev   map[string]psnet.IOCountersStat
	prevAt time.Time
}

// NewNetwork returns the network_monitor collector: {"interfaces": per
// interface {"bytes_sent", "bytes_recv", "packets_sent", "packets_recv",
// "errin", "errout", "dropin", "dropout", "bytes_sent_per_s",
// "bytes_recv_per_s"}, "connections": {"total", "established", "listen",
// "time_wait"}}. When the socket table cannot be read (permissions, an
// unsupported OS) "connections" is omitted rather than failing the sample.
func NewNetwork() Collector {
	return &networkCollector{
		now: time.Now,
		ioCounters: func(ctx context.Context) ([]psnet.IOCountersStat, error) {
			return psnet.IOCountersWithContext(ctx, true)
		},
		connections: func(ctx context.Context) ([]psnet.ConnectionStat, error) {
			// The owners' UIDs are not needed to count sockets and cost one
			// file read per socket.
			return psnet.ConnectionsWithoutUidsWithContext(ctx, "all")
		},
	}
}

func (n *networkCollector) Name() string { return "network_monitor" }

func (n *networkCollector) Collect(ctx context.Context) ([]byte, error) {
	counters, err := n.ioCounters(ctx)
	if err != nil {
		return nil, fmt.Errorf("network_monitor: cannot read interface counters: %w", err)
	}
	now := n.now()
	elapsed := now.Sub(n.prevAt)
	cur := make(map[string]psnet.IOCountersStat, len(counters))
	s := networkSample{Interfaces: make(map[string]ifaceSample, len(counters))}
	for _, c := range counters {
		cur[c.Name] = c
		is := ifaceSample{
			BytesSent:   c.BytesSent,
			BytesRecv:   c.BytesRecv,
			PacketsSent: c.PacketsSent,
			PacketsRecv: c.PacketsRecv,
			Errin:       c.Errin,
			Errout:      c.Errout,
			Dropin:      c.Dropin,
			Dropout:     c.Dropout,
		}
		if p, ok := n.prev[c.Name]; ok {
			is.BytesSentPerS = optRate(p.BytesSent, c.BytesSent, elapsed)
			is.BytesRecvPerS = optRate(p.BytesRecv, c.BytesRecv, elapsed)
		}
		s.Interfaces[c.Name] = is
	}
	n.prev, n.prevAt = cur, now

	if conns, err := n.connections(ctx); err == nil {
		s.Connections = countConnections(conns)
	}
	return json.Marshal(&s)
}

func countConnections(conns []psnet.ConnectionStat) *connSample {
	cs := &connSample{Total: len(conns)}
	for i := range conns {
		switch conns[i].Status {
		case "ESTABLISHED":
			cs.Established++
		case "LISTEN":
			cs.Listen++
		case "TIME_WAIT":
			cs.TimeWait++
		}
	}
	return cs
}
