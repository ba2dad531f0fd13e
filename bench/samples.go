package bench

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"
)

// Plugin is one kind of sample a simulated host sends. The JSON has the
// same shape as the real agent's collector of that name (agent/plugins), so
// the daemon stores, serves and evaluates alerts on realistic objects.
type Plugin uint8

// The simulated plugins. PluginCPU4 is cpu_monitor cut down to its four
// load values (cpu_percent and the three load averages): the small sample
// the ramp uses, so that the ramp measures datagram handling rather than
// copying.
const (
	PluginCPU Plugin = iota
	PluginMemory
	PluginDisk        // three partitions and one block device
	PluginNetwork     // three interfaces and the connection counts
	PluginCPU4        // cpu_monitor with four values
	numPlugins    int = iota
)

// Name returns the plugin name sent on the wire.
func (p Plugin) Name() string {
	switch p {
	case PluginCPU, PluginCPU4:
		return "cpu_monitor"
	case PluginMemory:
		return "memory_monitor"
	case PluginDisk:
		return "disk_monitor"
	case PluginNetwork:
		return "network_monitor"
	}
	return "plugin" + strconv.Itoa(int(p))
}

// StandardPlugins returns the first n (1..4) of cpu_monitor,
// memory_monitor, disk_monitor and network_monitor, the agent's built-ins
// in the order -plugins counts them.
func StandardPlugins(n int) ([]Plugin, error) {
	all := []Plugin{PluginCPU, PluginMemory, PluginDisk, PluginNetwork}
	if n < 0 || n > len(all) {
		return nil, fmt.Errorf("plugin count %d out of range 0..%d", n, len(all))
	}
	return all[:n], nil
}

// The simulated partitions and interfaces; fixed so every host's objects
// have the same keys, as a uniform fleet would.
var (
	benchPartitions = [3]struct{ mount, fstype, device string }{
		{"/", "ext4", "/dev/sda1"},
		{"/var", "xfs", "/dev/sda2"},
		{"/home", "ext4", "/dev/sdb1"},
	}
	benchInterfaces = [3]string{"eth0", "eth1", "lo"}
)

// walk is one host's random-walk state: every sample moves the values a
// little, as a real host's would, so consecutive samples differ and
// threshold rules see changing numbers. Sizes in MB/GB/bytes as named.
type walk struct {
	cores   int
	freqMHz float64
	cpu     float64 // percent
	load    [3]float64
	memMB   float64 // total
	memPct  float64
	swapMB  float64 // total; 0 = no swap
	swapPct float64
	diskGB  [3]float64 // totals
	diskPct [3]float64
	ioRead  uint64 // bytes, cumulative
	ioWrite uint64
	ioRd    uint64 // operations, cumulative
	ioWr    uint64
	ioRate  [2]float64 // read, write bytes/s
	netTx   [3]uint64  // bytes, cumulative
	netRx   [3]uint64
	netErr  [3]uint64
	netRate [3][2]float64 // sent, received bytes/s
	conns   [4]int        // total, established, listen, time_wait
}

// newWalk returns a starting state that differs from host to host (sizes
// are picked from typical machine shapes).
func newWalk(r *rand.Rand) walk {
	w := walk{
		cores:   []int{2, 4, 8, 16, 32}[r.IntN(5)],
		freqMHz: 2000 + float64(r.IntN(16))*100,
		cpu:     5 + r.Float64()*40,
		memMB:   []float64{4096, 8192, 16384, 32768, 65536}[r.IntN(5)],
		memPct:  20 + r.Float64()*50,
		swapMB:  []float64{0, 2048, 4096}[r.IntN(3)],
		swapPct: r.Float64() * 10,
		ioRead:  uint64(r.Int64N(1 << 40)),
		ioWrite: uint64(r.Int64N(1 << 40)),
		ioRd:    uint64(r.Int64N(1 << 30)),
		ioWr:    uint64(r.Int64N(1 << 30)),
		ioRate:  [2]float64{r.Float64() * 5e6, r.Float64() * 5e6},
		conns:   [4]int{100 + r.IntN(900), 10 + r.IntN(200), 5 + r.IntN(30), r.IntN(100)},
	}
	for i := range w.load {
		w.load[i] = w.cpu / 100 * float64(w.cores)
	}
	for i := range w.diskGB {
		w.diskGB[i] = []float64{50, 100, 200, 500, 1000}[r.IntN(5)]
		w.diskPct[i] = 10 + r.Float64()*70
	}
	for i := range w.netTx {
		w.netTx[i] = uint64(r.Int64N(1 << 42))
		w.netRx[i] = uint64(r.Int64N(1 << 42))
		w.netRate[i] = [2]float64{r.Float64() * 1e7, r.Float64() * 1e7}
	}
	return w
}

// step moves x by a normal step of deviation sd and keeps it in [lo, hi].
func step(r *rand.Rand, x, sd, lo, hi float64) float64 {
	return min(max(x+r.NormFloat64()*sd, lo), hi)
}

// round keeps JSON numbers short; n is the number of decimals.
func round(x float64, n int) float64 {
	p := math.Pow10(n)
	return math.Round(x*p) / p
}

// appendSample moves w for plugin p and appends the plugin's JSON object
// to b. elapsedS is the nominal time since the previous sample in seconds,
// which cumulative counters advance by. It allocates nothing once b has
// grown to a sample's size.
func (w *walk) appendSample(b []byte, p Plugin, r *rand.Rand, elapsedS float64) []byte {
	switch p {
	case PluginCPU, PluginCPU4:
		w.cpu = step(r, w.cpu, 3, 0.5, 99.5)
		now := w.cpu / 100 * float64(w.cores)
		// The 1, 5 and 15 minute averages follow the current load with
		// decreasing weight, as the kernel's exponential averages do.
		w.load[0] += (now - w.load[0]) * 0.3
		w.load[1] += (now - w.load[1]) * 0.08
		w.load[2] += (now - w.load[2]) * 0.03
		b = append(b, `{"cpu_percent":`...)
		b = appendNum(b, w.cpu, 1)
		b = append(b, `,"load_1min":`...)
		b = appendNum(b, w.load[0], 2)
		b = append(b, `,"load_5min":`...)
		b = appendNum(b, w.load[1], 2)
		b = append(b, `,"load_15min":`...)
		b = appendNum(b, w.load[2], 2)
		if p == PluginCPU {
			b = append(b, `,"frequency":`...)
			b = appendNum(b, w.freqMHz+r.NormFloat64()*20, 1)
			b = append(b, `,"cores":`...)
			b = strconv.AppendInt(b, int64(w.cores), 10)
		}
		return append(b, '}')
	case PluginMemory:
		w.memPct = step(r, w.memPct, 1, 3, 99)
		w.swapPct = step(r, w.swapPct, 0.3, 0, 100)
		used := w.memMB * w.memPct / 100
		b = append(b, `{"percent":`...)
		b = appendNum(b, w.memPct, 1)
		b = append(b, `,"available_mb":`...)
		b = appendNum(b, w.memMB-used, 1)
		b = append(b, `,"total_mb":`...)
		b = appendNum(b, w.memMB, 1)
		b = append(b, `,"used_mb":`...)
		b = appendNum(b, used, 1)
		swapPct := w.swapPct
		if w.swapMB == 0 {
			swapPct = 0
		}
		b = append(b, `,"swap":{"percent":`...)
		b = appendNum(b, swapPct, 1)
		b = append(b, `,"used_mb":`...)
		b = appendNum(b, w.swapMB*swapPct/100, 1)
		b = append(b, `,"total_mb":`...)
		b = appendNum(b, w.swapMB, 1)
		return append(b, "}}"...)
	case PluginDisk:
		b = append(b, '{')
		for i, part := range benchPartitions {
			w.diskPct[i] = step(r, w.diskPct[i], 0.05, 1, 99.9)
			used := w.diskGB[i] * w.diskPct[i] / 100
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, '"')
			b = append(b, part.mount...)
			b = append(b, `":{"percent":`...)
			b = appendNum(b, w.diskPct[i], 1)
			b = append(b, `,"used_gb":`...)
			b = appendNum(b, used, 2)
			b = append(b, `,"free_gb":`...)
			b = appendNum(b, w.diskGB[i]-used, 2)
			b = append(b, `,"total_gb":`...)
			b = appendNum(b, w.diskGB[i], 2)
			b = append(b, `,"fstype":"`...)
			b = append(b, part.fstype...)
			b = append(b, `","device":"`...)
			b = append(b, part.device...)
			b = append(b, `"}`...)
		}
		w.ioRate[0] = step(r, w.ioRate[0], 2e5, 0, 5e8)
		w.ioRate[1] = step(r, w.ioRate[1], 2e5, 0, 5e8)
		w.ioRead += uint64(w.ioRate[0] * elapsedS)
		w.ioWrite += uint64(w.ioRate[1] * elapsedS)
		// 16 KiB per operation on average.
		w.ioRd += uint64(w.ioRate[0] * elapsedS / 16384)
		w.ioWr += uint64(w.ioRate[1] * elapsedS / 16384)
		b = append(b, `,"io":{"sda":{"read_bytes":`...)
		b = strconv.AppendUint(b, w.ioRead, 10)
		b = append(b, `,"write_bytes":`...)
		b = strconv.AppendUint(b, w.ioWrite, 10)
		b = append(b, `,"read_count":`...)
		b = strconv.AppendUint(b, w.ioRd, 10)
		b = append(b, `,"write_count":`...)
		b = strconv.AppendUint(b, w.ioWr, 10)
		b = append(b, `,"read_bytes_per_s":`...)
		b = appendNum(b, w.ioRate[0], 1)
		b = append(b, `,"write_bytes_per_s":`...)
		b = appendNum(b, w.ioRate[1], 1)
		return append(b, "}}}"...)
	case PluginNetwork:
		b = append(b, `{"interfaces":{`...)
		for i, name := range benchInterfaces {
			w.netRate[i][0] = step(r, w.netRate[i][0], 3e5, 0, 1.25e9)
			w.netRate[i][1] = step(r, w.netRate[i][1], 3e5, 0, 1.25e9)
			w.netTx[i] += uint64(w.netRate[i][0] * elapsedS)
			w.netRx[i] += uint64(w.netRate[i][1] * elapsedS)
			if r.IntN(50) == 0 {
				w.netErr[i]++
			}
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, '"')
			b = append(b, name...)
			b = append(b, `":{"bytes_sent":`...)
			b = strconv.AppendUint(b, w.netTx[i], 10)
			b = append(b, `,"bytes_recv":`...)
			b = strconv.AppendUint(b, w.netRx[i], 10)
			// About 900 bytes per packet.
			b = append(b, `,"packets_sent":`...)
			b = strconv.AppendUint(b, w.netTx[i]/900, 10)
			b = append(b, `,"packets_recv":`...)
			b = strconv.AppendUint(b, w.netRx[i]/900, 10)
			b = append(b, `,"errin":`...)
			b = strconv.AppendUint(b, w.netErr[i], 10)
			b = append(b, `,"errout":0,"dropin":`...)
			b = strconv.AppendUint(b, w.netErr[i]/2, 10)
			b = append(b, `,"dropout":0,"bytes_sent_per_s":`...)
			b = appendNum(b, w.netRate[i][0], 1)
			b = append(b, `,"bytes_recv_per_s":`...)
			b = appendNum(b, w.netRate[i][1], 1)
			b = append(b, '}')
		}
		for i := range w.conns {
			w.conns[i] = max(w.conns[i]+r.IntN(11)-5, 0)
		}
		b = append(b, `},"connections":{"total":`...)
		b = strconv.AppendInt(b, int64(w.conns[0]), 10)
		b = append(b, `,"established":`...)
		b = strconv.AppendInt(b, int64(w.conns[1]), 10)
		b = append(b, `,"listen":`...)
		b = strconv.AppendInt(b, int64(w.conns[2]), 10)
		b = append(b, `,"time_wait":`...)
		b = strconv.AppendInt(b, int64(w.conns[3]), 10)
		return append(b, "}}"...)
	}
	return append(b, "{}"...)
}

// appendNum appends x with n decimals; the walk keeps x finite, which JSON
// needs.
func appendNum(b []byte, x float64, n int) []byte {
	return strconv.AppendFloat(b, round(x, n), 'f', -1, 64)
}
