package plugins

import (
	"context"
	"errors"
	"testing"
	"time"

	psnet "github.com/shirou/gopsutil/v4/net"
)

func TestNetworkCollectWithRates(t *testing.T) {
	readings := [][]psnet.IOCountersStat{
		{
			{Name: "eth0", BytesSent: 1000, BytesRecv: 5000, PacketsSent: 10, PacketsRecv: 50, Errin: 1, Errout: 2, Dropin: 3, Dropout: 4},
			{Name: "lo", BytesSent: 100, BytesRecv: 100, PacketsSent: 1, PacketsRecv: 1},
		},
		{
			{Name: "eth0", BytesSent: 3000, BytesRecv: 5000, PacketsSent: 30, PacketsRecv: 50, Errin: 1, Errout: 2, Dropin: 3, Dropout: 4},
			{Name: "lo", BytesSent: 300, BytesRecv: 300, PacketsSent: 3, PacketsRecv: 3},
		},
		{
			// eth0 was re-created: its sent counter restarted.
			{Name: "eth0", BytesSent: 10, BytesRecv: 5500, PacketsSent: 1, PacketsRecv: 51},
		},
	}
	conns := [][]psnet.ConnectionStat{
		{{Status: "LISTEN"}, {Status: "ESTABLISHED"}, {Status: "ESTABLISHED"}, {Status: "TIME_WAIT"}, {Status: "CLOSE_WAIT"}, {Status: "NONE"}},
		nil, // unreadable
		{},
	}
	n := NewNetwork().(*networkCollector)
	clock := &fakeClock{t: time.Unix(1_700_000_000, 0), steps: []time.Duration{0, 2 * time.Second, 4 * time.Second}}
	n.now = clock.now
	n.ioCounters = func(context.Context) ([]psnet.IOCountersStat, error) {
		r := readings[0]
		readings = readings[1:]
		return r, nil
	}
	n.connections = func(context.Context) ([]psnet.ConnectionStat, error) {
		c := conns[0]
		conns = conns[1:]
		if c == nil {
			return nil, errors.New("permission denied")
		}
		return c, nil
	}
	want := []string{
		`{"interfaces":{` +
			`"eth0":{"bytes_sent":1000,"bytes_recv":5000,"packets_sent":10,"packets_recv":50,"errin":1,"errout":2,"dropin":3,"dropout":4},` +
			`"lo":{"bytes_sent":100,"bytes_recv":100,"packets_sent":1,"packets_recv":1,"errin":0,"errout":0,"dropin":0,"dropout":0}},` +
			`"connections":{"total":6,"established":2,"listen":1,"time_wait":1}}`,
		`{"interfaces":{` +
			`"eth0":{"bytes_sent":3000,"bytes_recv":5000,"packets_sent":30,"packets_recv":50,"errin":1,"errout":2,"dropin":3,"dropout":4,"bytes_sent_per_s":1000,"bytes_recv_per_s":0},` +
			`"lo":{"bytes_sent":300,"bytes_recv":300,"packets_sent":3,"packets_recv":3,"errin":0,"errout":0,"dropin":0,"dropout":0,"bytes_sent_per_s":100,"bytes_recv_per_s":100}}}`,
		`{"interfaces":{` +
			`"eth0":{"bytes_sent":10,"bytes_recv":5500,"packets_sent":1,"packets_recv":51,"errin":0,"errout":0,"dropin":0,"dropout":0,"bytes_recv_per_s":125}},` +
			`"connections":{"total":0,"established":0,"listen":0,"time_wait":0}}`,
	}
	for i, w := range want {
		got, err := n.Collect(context.Background())
		if err != nil {
			t.Fatalf("Collect %d: %v", i+1, err)
		}
		if string(got) != w {
			t.Errorf("Collect %d:\n got %s\nwant %s", i+1, got, w)
		}
	}
}

func TestNetworkCountersError(t *testing.T) {
	n := NewNetwork().(*networkCollector)
	boom := errors.New("no /proc/net/dev")
	n.ioCounters = func(context.Context) ([]psnet.IOCountersStat, error) { return nil, boom }
	if _, err := n.Collect(context.Background()); !errors.Is(err, boom) {
		t.Fatalf("err = %v, want it to wrap %v", err, boom)
	}
}
