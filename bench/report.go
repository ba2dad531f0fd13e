package bench

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"runtime"
	"sort"
	"strings"
	"time"
)

// Report is the result of one run. Its JSON form is the contract with
// scripts: the first twelve keys are always present, null where the run
// did not measure them (no -http, no WebSocket clients, no sink ...); the
// rest add context. Rates are per second, sizes in bytes, latencies in
// milliseconds.
type Report struct {
	Scenario             string     `json:"scenario"`
	OfferedPerS          *float64   `json:"offered_per_s"`            // datagrams the harness sent
	AcceptedPerS         *float64   `json:"accepted_per_s"`           // daemon's accepted counter
	LossPct              *float64   `json:"loss_pct"`                 // 1 - accepted/offered, percent
	DaemonCPUSPerMillion *float64   `json:"daemon_cpu_s_per_million"` // daemon CPU-seconds per million accepted datagrams
	RSSBytes             *float64   `json:"rss_bytes"`                // daemon RSS at the end
	BytesPerHost         *float64   `json:"bytes_per_host"`           // memory scenario
	BytesPerSample       *float64   `json:"bytes_per_sample"`         // memory scenario
	E2EMs                *Quantiles `json:"e2e_ms"`                   // sample sent -> WebSocket frame received
	// E2ESteadyMs is E2EMs over the frames received E2ESteadyAfterS
	// seconds or more into the run: the fleet past its start-up, when
	// every host's first contact (boot, new alerts) has been streamed.
	E2ESteadyMs     *Quantiles           `json:"e2e_steady_ms,omitempty"`
	E2ESteadyAfterS *float64             `json:"e2e_steady_after_s,omitempty"`
	APIMs           map[string]Quantiles `json:"api_ms"` // per route
	// DaemonAPIMs is the same routes' latency inside the daemon, from its
	// own histogram (hbd_http_request_duration_seconds, buckets from
	// 0.1 ms to 2.5 s): the rest of api_ms is queueing and the harness.
	DaemonAPIMs map[string]Quantiles `json:"daemon_api_ms"`
	WSCutOff    *float64             `json:"ws_cut_off"` // daemon's cut-off counter, delta
	// The daemon's stream hub at the end of the run: frames waiting for
	// their turn past the fan-out budget; over the run, frames replaced by
	// a newer one of their host and plugin while waiting, and dropped.
	WSPending   *float64 `json:"ws_hub_pending,omitempty"`
	WSConflated *float64 `json:"ws_frames_conflated,omitempty"`
	WSDropped   *float64 `json:"ws_frames_dropped,omitempty"`
	// Over the run: datagrams the kernel dropped on the daemon's full
	// sockets (part of the loss), and how long its readers paused at the
	// ingest backlog's bound.
	KernelDrops *float64 `json:"kernel_drops,omitempty"`
	PausedS     *float64 `json:"ingest_paused_s,omitempty"`
	SinkPerS    *float64 `json:"sink_per_s"` // bare receive rate of this machine

	Mode             string                    `json:"mode"` // load, ramp, memory, max, sink
	StartedAt        time.Time                 `json:"started_at"`
	DurationS        float64                   `json:"duration_s"`
	GoVersion        string                    `json:"go_version"`
	Machine          string                    `json:"machine"`
	Hosts            int                       `json:"hosts"`
	Targets          []string                  `json:"targets"`
	Cluster          bool                      `json:"cluster,omitempty"`   // targets are one cluster's members (-cluster)
	Failovers        *uint64                   `json:"failovers,omitempty"` // hosts moved to the next member
	Datagrams        *Counts                   `json:"datagrams"`
	DroppedByReason  map[string]float64        `json:"dropped_by_reason"`
	NominalPerS      *float64                  `json:"nominal_per_s"` // what the paced schedule asks for
	HarnessSendPerS  *float64                  `json:"harness_send_per_s"`
	HarnessCPUPct    *float64                  `json:"harness_cpu_pct"` // percent of one core
	HarnessMaxLagMs  *float64                  `json:"harness_max_lag_ms"`
	HarnessSlippedMs *float64                  `json:"harness_slipped_ms,omitempty"`
	AckRTTMs         *Quantiles                `json:"ack_rtt_ms"`
	APICodes         map[string]map[string]int `json:"api_codes"` // route -> status -> responses
	APISkipped       *uint64                   `json:"api_skipped"`
	WSFrames         *uint64                   `json:"ws_frames"`
	WSDisconnects    *uint64                   `json:"ws_disconnects"`
	SinkLossPct      *float64                  `json:"sink_loss_pct"`
	SinkTrials       []SinkTrial               `json:"sink_trials"`
	MaxVsSink        *float64                  `json:"max_vs_sink"` // highest lossless rate / sink rate
	MaxLosslessPerS  *float64                  `json:"max_lossless_per_s"`
	Steps            []StepResult              `json:"steps"`
	StopReason       string                    `json:"stop_reason"`
	SamplesHeld      *float64                  `json:"samples_held"`
	HeapBytes        *float64                  `json:"heap_bytes,omitempty"` // daemon's Go heap at the end
	// fleet-100k-full: the fill that came before the load.
	FillS       *float64 `json:"fill_s,omitempty"`
	FillLossPct *float64 `json:"fill_loss_pct,omitempty"`
	// restart: the clean stop, and the start until the API lists every
	// host again (FirstAnswerS: until it answers at all).
	StopS          *float64 `json:"stop_s,omitempty"`
	RestoreS       *float64 `json:"restore_s,omitempty"`
	FirstAnswerS   *float64 `json:"first_answer_s,omitempty"`
	StateDiskBytes *float64 `json:"state_disk_bytes,omitempty"`
	RSSBefore      *float64 `json:"rss_before_bytes,omitempty"`
	NewPID         int      `json:"new_pid,omitempty"`
	// Checkpoints while the run went on: their wall time, the part of it
	// spent working (encoding, compressing, writing: close to their CPU),
	// and the bytes written.
	CheckpointS     *float64 `json:"checkpoint_s,omitempty"`
	CheckpointWorkS *float64 `json:"checkpoint_work_s,omitempty"`
	CheckpointBytes *float64 `json:"checkpoint_bytes,omitempty"`
	Checkpoints     *float64 `json:"checkpoints,omitempty"`
	// detect: time to DOWN of killed hosts and false DOWNs per hour.
	Detect   *DetectResult `json:"detect,omitempty"`
	Warnings []string      `json:"warnings"`
}

// Counts are datagram totals over the measured window.
type Counts struct {
	Offered  uint64  `json:"offered"`
	Accepted float64 `json:"accepted"`
	Dropped  float64 `json:"dropped"`
	SendErrs uint64  `json:"send_errors"`
}

// RequiredKeys are the report's top-level keys that scripts rely on.
var requiredKeys = []string{
	"scenario", "offered_per_s", "accepted_per_s", "loss_pct", "daemon_cpu_s_per_million",
	"rss_bytes", "bytes_per_host", "bytes_per_sample", "e2e_ms", "api_ms", "ws_cut_off", "sink_per_s",
}

// newReport fills in the context fields.
func newReport(scenario, mode string, started time.Time) *Report {
	return &Report{
		Scenario:  scenario,
		Mode:      mode,
		StartedAt: started.UTC().Truncate(time.Second),
		GoVersion: runtime.Version(),
		Machine:   machine(),
	}
}

func ptr[T any](v T) *T { return &v }

func (r *Report) warn(format string, args ...any) {
	r.Warnings = append(r.Warnings, fmt.Sprintf(format, args...))
}

// WriteJSON writes the report to path, indented, with a final newline.
func (r *Report) WriteJSON(path string) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return fmt.Errorf("cannot encode report: %w", err)
	}
	if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("cannot write report: %w", err)
	}
	return nil
}

// WriteTable writes the report as an aligned two-column table for people.
func (r *Report) WriteTable(w io.Writer) error {
	var b bytes.Buffer
	var rows [][2]string
	row := func(k, v string) { rows = append(rows, [2]string{k, v}) }
	num := func(k string, v *float64, unit string, prec int) {
		if v != nil {
			row(k, strings.TrimSpace(fmt.Sprintf("%.*f %s", prec, *v, unit)))
		}
	}
	q := func(k string, v *Quantiles) {
		if v != nil {
			row(k, fmt.Sprintf("p50 %.3f  p99 %.3f  p99.9 %.3f ms  (n=%d)", v.P50, v.P99, v.P999, v.N))
		}
	}
	fmt.Fprintf(&b, "hbd-bench %s", r.Mode)
	if r.Scenario != "" && r.Scenario != r.Mode {
		fmt.Fprintf(&b, " -scenario %s", r.Scenario)
	}
	fmt.Fprintf(&b, " (%s, %s)\n", r.GoVersion, r.Machine)
	if r.Hosts > 0 {
		row("hosts", fmt.Sprint(r.Hosts))
	}
	if len(r.Targets) > 0 {
		what := "targets"
		if r.Cluster {
			what = "cluster"
		}
		row(what, strings.Join(r.Targets, " "))
	}
	if r.Failovers != nil {
		row("fail-overs", fmt.Sprint(*r.Failovers))
	}
	row("duration", fmt.Sprintf("%.1f s", r.DurationS))
	num("offered", r.OfferedPerS, "datagrams/s", 0)
	num("accepted", r.AcceptedPerS, "datagrams/s", 0)
	num("loss", r.LossPct, "%", 3)
	num("max lossless", r.MaxLosslessPerS, "datagrams/s", 0)
	num("sink", r.SinkPerS, "datagrams/s", 0)
	num("sink loss", r.SinkLossPct, "%", 3)
	for _, tr := range r.SinkTrials {
		row(fmt.Sprintf("sink, %d sender(s)", tr.Senders), fmt.Sprintf("received %.0f/s  loss %.3f%%", tr.PerS, tr.LossPct))
	}
	num("max / sink", r.MaxVsSink, "", 3)
	num("daemon CPU", r.DaemonCPUSPerMillion, "s per million accepted", 2)
	if r.RSSBytes != nil {
		row("daemon RSS", fmt.Sprintf("%.1f MiB", *r.RSSBytes/(1<<20)))
	}
	if r.HeapBytes != nil {
		row("daemon Go heap", fmt.Sprintf("%.1f MiB", *r.HeapBytes/(1<<20)))
	}
	if r.FillS != nil {
		row("fill", fmt.Sprintf("%.1f s, loss %.3f %%", *r.FillS, valueOr0(r.FillLossPct)))
	}
	num("bytes per host", r.BytesPerHost, "B", 0)
	num("bytes per sample", r.BytesPerSample, "B", 0)
	num("samples held", r.SamplesHeld, "", 0)
	if r.RSSBefore != nil {
		row("RSS before the restart", fmt.Sprintf("%.1f MiB", *r.RSSBefore/(1<<20)))
	}
	num("clean stop", r.StopS, "s", 2)
	num("start to first answer", r.FirstAnswerS, "s", 2)
	num("start to every host listed", r.RestoreS, "s", 2)
	if r.StateDiskBytes != nil {
		row("state on disk", fmt.Sprintf("%.1f MiB", *r.StateDiskBytes/(1<<20)))
	}
	if r.NewPID != 0 {
		row("new daemon pid", fmt.Sprint(r.NewPID))
	}
	num("checkpoints", r.Checkpoints, "", 0)
	num("checkpoint time", r.CheckpointS, "s (wall)", 2)
	num("checkpoint work", r.CheckpointWorkS, "s (encode, compress, write)", 2)
	if r.CheckpointBytes != nil {
		row("checkpoint bytes", fmt.Sprintf("%.1f MiB", *r.CheckpointBytes/(1<<20)))
	}
	q("e2e latency", r.E2EMs)
	if r.E2ESteadyAfterS != nil {
		q(fmt.Sprintf("e2e latency from %.0fs on", *r.E2ESteadyAfterS), r.E2ESteadyMs)
	}
	routes := make([]string, 0, len(r.APIMs))
	for k := range r.APIMs {
		routes = append(routes, k)
	}
	sort.Strings(routes)
	for _, k := range routes {
		v := r.APIMs[k]
		q("api "+k, &v)
	}
	routes = routes[:0]
	for k := range r.DaemonAPIMs {
		routes = append(routes, k)
	}
	sort.Strings(routes)
	for _, k := range routes {
		v := r.DaemonAPIMs[k]
		q("daemon api "+k, &v)
	}
	if r.APISkipped != nil && *r.APISkipped > 0 {
		row("api requests skipped", fmt.Sprint(*r.APISkipped))
	}
	num("ws cut off", r.WSCutOff, "", 0)
	num("ws hub pending at end", r.WSPending, "frames", 0)
	num("ws frames conflated", r.WSConflated, "", 0)
	num("ws frames dropped (daemon)", r.WSDropped, "", 0)
	num("kernel drops (daemon sockets)", r.KernelDrops, "datagrams", 0)
	num("ingest paused", r.PausedS, "s (summed over readers)", 1)
	if r.WSDisconnects != nil {
		row("ws disconnects (harness)", fmt.Sprint(*r.WSDisconnects))
	}
	q("ack rtt", r.AckRTTMs)
	num("harness send", r.HarnessSendPerS, "datagrams/s", 0)
	num("harness CPU", r.HarnessCPUPct, "% of one core", 1)
	num("harness max lag", r.HarnessMaxLagMs, "ms", 1)
	num("harness schedule slipped", r.HarnessSlippedMs, "ms", 1)
	if r.StopReason != "" {
		row("stopped", r.StopReason)
	}
	for _, s := range r.Steps {
		row(fmt.Sprintf("step %.0f/s", s.TargetPerS), fmt.Sprintf("offered %.0f/s  accepted %.0f/s  loss %.3f%%  cpu %.2f s/M", s.OfferedPerS, s.AcceptedPerS, s.LossPct, s.CPUSPerMillion))
	}
	if d := r.Detect; d != nil {
		row("killed", fmt.Sprintf("%d clean hosts, %d seen DOWN (%d hosts on the lossy profile)", d.Killed, d.Detected, d.Lossy))
		if d.DetectMs != nil {
			row("time to DOWN", fmt.Sprintf("p50 %.0f  p99 %.0f  max %.0f ms", d.DetectMs.P50, d.DetectMs.P99, d.MaxMs))
		}
		row("false DOWNs", fmt.Sprintf("%d (%.1f/hour: %d clean, %d lossy, on %d hosts) over %s", d.FalseDown, d.FalseDownPerHour,
			d.FalseDownClean, d.FalseDownLossy, d.FalseDownHosts, time.Duration(d.Hours*float64(time.Hour)).Round(time.Second)))
		row("SUSPECT transitions", fmt.Sprintf("%.1f/hour", d.SuspectPerHour))
	}
	for _, w := range r.Warnings {
		row("warning", w)
	}
	width := 0
	for _, kv := range rows {
		width = max(width, len(kv[0]))
	}
	for _, kv := range rows {
		fmt.Fprintf(&b, "  %-*s  %s\n", width, kv[0], kv[1])
	}
	_, err := w.Write(b.Bytes())
	return err
}

// LossPct is the share of offered datagrams the daemon did not accept, in
// percent. It is 0 when nothing was offered, and never negative: a daemon
// that accepted more than this harness offered had other senders, which
// the report warns about separately.
func LossPct(offered, accepted float64) float64 {
	if offered <= 0 {
		return 0
	}
	// (offered-accepted)*100/offered rounds once, so a loss of exactly
	// 0.1 % compares equal to the limit rather than a hair above it.
	return max(0, (offered-accepted)*100/offered)
}

// cpuPerMillion is daemon CPU-seconds per million accepted datagrams, or
// nil when nothing was accepted.
func cpuPerMillion(cpuS, accepted float64) *float64 {
	if accepted <= 0 {
		return nil
	}
	return ptr(cpuS / accepted * 1e6)
}

// machine describes this machine for the report header.
func machine() string {
	s := fmt.Sprintf("%s/%s, %d CPUs", runtime.GOOS, runtime.GOARCH, runtime.NumCPU())
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				s += ", " + strings.TrimSpace(v)
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		s += ", kernel " + strings.TrimSpace(string(b))
	}
	return s
}

func valueOr0(p *float64) float64 {
	if p == nil {
		return 0
	}
	return *p
}
