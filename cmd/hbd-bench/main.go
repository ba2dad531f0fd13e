// Command hbd-bench is the load-test harness for the hbd daemon: it
// simulates a fleet of agents from one process and measures the daemon
// through its /metrics counters. See docs/BENCHMARKS.md.
//
//	hbd-bench load  -addr 127.0.0.1:50003 -http http://127.0.0.1:50004 -key hbd.key -hosts 1000 -duration 1m
//	hbd-bench ramp  -scenario max ...
//	hbd-bench sink  -self -duration 5s
//	hbd-bench restart -http http://127.0.0.1:50004 -pid PID -exec "bin/hbd -config hbd.toml"
//	hbd-bench -scenario fleet-100k ...   (the scenario picks the subcommand)
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/hbd-project/hbd/bench"
	"github.com/hbd-project/hbd/internal/version"
	"github.com/hbd-project/hbd/transport/wire"
)

// maxDuration caps every run: a forgotten load test must end by itself.
const maxDuration = time.Hour

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// scenario is a named, reproducible run: a mode and flag values that
// replace the defaults (flags given on the command line still win).
type scenario struct {
	mode    string
	family  string // the subcommand it may be given to
	presets map[string]string
}

var scenarios = map[string]scenario{
	"max": {mode: "max", family: "ramp", presets: map[string]string{
		"hosts": "10000", "start": "50000", "step": "25000", "step-duration": "10s",
		"hb-interval": "10s", "duration": "30m", "sink-duration": "10s",
	}},
	"memory": {mode: "memory", family: "load", presets: map[string]string{
		"hosts": "20000", "plugins": "4", "history": "100", "hb-interval": "10s",
		"fill-rate": "50000", "duration": "30m",
	}},
	"fleet-100k": {mode: "load", family: "load", presets: map[string]string{
		"hosts": "100000", "hb-interval": "10s", "sample-interval": "30s", "plugins": "4",
		"ws-clients": "20", "http-rps": "2000", "duration": "2m",
	}},
	// fleet-100k with every ring full first: the fleet as it runs for
	// days. -duration is the load's; the fill may take up to -fill-timeout.
	"fleet-100k-full": {mode: "full", family: "load", presets: map[string]string{
		"hosts": "100000", "hb-interval": "10s", "sample-interval": "30s", "plugins": "4",
		"ws-clients": "20", "http-rps": "2000", "duration": "2m",
		"history": "100", "fill-rate": "50000", "fill-timeout": "40m",
	}},
}

// flagsOf lists the flags each mode reads; setting any other is an error,
// so a typo or a flag meant for another subcommand does not pass silently.
var flagsOf = map[string][]string{
	"load": {"addr", "cluster", "http", "ws", "key", "hosts", "first-host", "duration", "scenario", "json", "allow-remote", "senders", "seed", "quiet", "settle", "shutdown-rate",
		"hb-interval", "sample-interval", "plugins", "jitter", "ws-clients", "http-rps", "read-acks", "max-catch-up"},
	"memory": {"addr", "cluster", "http", "key", "hosts", "first-host", "duration", "scenario", "json", "allow-remote", "senders", "seed", "quiet", "settle", "shutdown-rate",
		"hb-interval", "plugins", "jitter", "history", "fill-rate", "read-acks"},
	"full": {"addr", "cluster", "http", "ws", "key", "hosts", "first-host", "duration", "scenario", "json", "allow-remote", "senders", "seed", "quiet", "settle", "shutdown-rate",
		"hb-interval", "sample-interval", "plugins", "jitter", "ws-clients", "http-rps", "read-acks", "history", "fill-rate", "fill-timeout", "max-catch-up"},
	"ramp": {"addr", "cluster", "http", "key", "hosts", "first-host", "duration", "scenario", "json", "allow-remote", "senders", "seed", "quiet", "settle", "shutdown-rate",
		"hb-interval", "jitter", "start", "step", "step-duration", "warmup", "max-loss", "read-acks"},
	"sink":    {"listen", "self", "senders", "duration", "json", "quiet"},
	"restart": {"http", "pid", "exec", "log", "duration", "json", "quiet", "allow-remote"},
}

// netFlags shape the simulated network of the heartbeats.
var netFlags = []string{"net-jitter", "loss", "burst-loss", "lossy-frac", "lossy-loss", "lossy-jitter", "lossy-burst-loss"}

func init() {
	flagsOf["max"] = append(slices.Clone(flagsOf["ramp"]), "sink-duration", "sink-listen")
	flagsOf["load"] = append(flagsOf["load"], netFlags...)
	flagsOf["detect"] = append([]string{"addr", "http", "ws", "key", "hosts", "first-host", "duration", "scenario", "json", "allow-remote", "senders", "seed",
		"quiet", "settle", "shutdown-rate", "hb-interval", "jitter", "read-acks", "warmup", "kill", "kill-spread", "detect-wait"}, netFlags...)
}

type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

type options struct {
	addrs        listFlag
	cluster      string
	httpBase     string
	wsURL        string
	keyFile      string
	hosts        int
	firstHost    int
	duration     time.Duration
	scenario     string
	jsonOut      string
	allowRemote  bool
	senders      int
	seed         uint64
	quiet        bool
	settle       time.Duration
	shutdownRate float64
	readAcks     bool

	hbInterval     time.Duration
	sampleInterval time.Duration
	plugins        int
	jitter         float64
	wsClients      int
	httpRPS        float64
	maxCatchUp     time.Duration

	start        float64
	step         float64
	stepDuration time.Duration
	warmup       time.Duration
	maxLoss      float64
	sinkDuration time.Duration
	sinkListen   string

	history     int
	fillRate    float64
	fillTimeout time.Duration

	netJitter, burstLoss, lossyJitter, lossyBurstLoss string
	loss, lossyFrac, lossyLoss                        float64
	kill                                              int
	killSpread, detectWait                            time.Duration

	listen string
	self   bool

	pid     int
	execCmd string
	logFile string

	version, help bool

	set map[string]bool // flags given on the command line
}

func newFlagSet(o *options, stderr io.Writer) *flag.FlagSet {
	fl := flag.NewFlagSet("hbd-bench", flag.ContinueOnError)
	fl.SetOutput(stderr)
	fl.Var(&o.addrs, "addr", "daemon UDP `host:port`; repeat for several (e.g. one IPv4, one IPv6); every datagram goes to each")
	fl.StringVar(&o.cluster, "cluster", "", "the UDP `host:port,...` of one hbd cluster's members, instead of -addr: each host sends to one member at a time, host i starting on member i mod n, and fails over to the next when its member sends no ACK for two heartbeat intervals")
	fl.StringVar(&o.httpBase, "http", "", "daemon HTTP base `URL` for /metrics and the API, e.g. http://127.0.0.1:50004; for a cluster, every member's, separated by commas: the report sums the members' counters and the API load goes to each in turn")
	fl.StringVar(&o.wsURL, "ws", "", "daemon WebSocket `URL`, e.g. ws://127.0.0.1:50005/hbd")
	fl.StringVar(&o.keyFile, "key", "", "the daemon's key `file` (hex)")
	fl.IntVar(&o.hosts, "hosts", 1000, "simulated hosts")
	fl.IntVar(&o.firstHost, "first-host", 1, "number of the first host name (bench-000001); lets two harnesses share a daemon")
	fl.DurationVar(&o.duration, "duration", 0, "how long to run (load, sink: required; ramp, memory: a cap, default 30m); at most 1h")
	fl.StringVar(&o.scenario, "scenario", "", "named scenario: max, memory, fleet-100k, fleet-100k-full (see docs/BENCHMARKS.md)")
	fl.StringVar(&o.jsonOut, "json", "", "write the report as JSON to `file`")
	fl.BoolVar(&o.allowRemote, "allow-remote", false, "allow targets that are not loopback addresses")
	fl.IntVar(&o.senders, "senders", bench.DefaultSenders, "sender goroutines (sink -self: default searches 1..2×CPUs for the highest lossless rate)")
	fl.Uint64Var(&o.seed, "seed", 1, "random seed for the hosts' values and jitter")
	fl.BoolVar(&o.quiet, "quiet", false, "no progress lines")
	fl.DurationVar(&o.settle, "settle", bench.DefaultSettle, "wait after sending before reading the daemon's counters")
	fl.Float64Var(&o.shutdownRate, "shutdown-rate", 20000, "after the run, send every host's shutdown at this many datagrams/s (0: none; the hosts then go DOWN)")
	fl.BoolVar(&o.readAcks, "read-acks", true, "read the daemon's ACKs and report their round trip")

	fl.DurationVar(&o.hbInterval, "hb-interval", 10*time.Second, "heartbeat interval per host")
	fl.DurationVar(&o.sampleInterval, "sample-interval", 30*time.Second, "sample interval per host and plugin")
	fl.IntVar(&o.plugins, "plugins", 4, "plugins per host, 0..4: cpu_monitor, memory_monitor, disk_monitor, network_monitor")
	fl.Float64Var(&o.jitter, "jitter", 0.1, "timer jitter as a fraction of the interval (0..1)")
	fl.IntVar(&o.wsClients, "ws-clients", 0, "WebSocket clients measuring end-to-end latency (needs -ws)")
	fl.Float64Var(&o.httpRPS, "http-rps", 0, "HTTP API requests per second (needs -http)")
	fl.DurationVar(&o.maxCatchUp, "max-catch-up", bench.DefaultMaxCatchUp, "load, full: a sender this far behind its schedule (the harness short of CPU) moves the schedule on, as a pause of its hosts, instead of sending what is overdue in a burst; the report's harness_slipped_ms says how far (negative: always catch up)")

	fl.Float64Var(&o.start, "start", 50000, "ramp: first step's offered rate, datagrams/s")
	fl.Float64Var(&o.step, "step", 25000, "ramp: increase per step, datagrams/s")
	fl.DurationVar(&o.stepDuration, "step-duration", 10*time.Second, "ramp: length of a step")
	fl.DurationVar(&o.warmup, "warmup", 0, "ramp: heartbeats only before the first step (0: one heartbeat interval + 1s)")
	fl.Float64Var(&o.maxLoss, "max-loss", bench.DefaultMaxLossPct, "ramp: loss in percent that ends the ramp")
	fl.DurationVar(&o.sinkDuration, "sink-duration", 10*time.Second, "max: length of the sink measurement")
	fl.StringVar(&o.sinkListen, "sink-listen", "", "max: sink address (default: loopback of the first -addr's family, port 0)")

	fl.IntVar(&o.history, "history", 100, "memory: the daemon's history (samples kept per plugin per host)")
	fl.Float64Var(&o.fillRate, "fill-rate", 50000, "memory: datagrams/s while filling the rings")
	fl.DurationVar(&o.fillTimeout, "fill-timeout", 40*time.Minute, "fleet-100k-full: cap on filling the rings before the load")

	fl.StringVar(&o.netJitter, "net-jitter", "", "network delay of each heartbeat: normal:`DURATION` (|N(0,σ)|) or uniform:DURATION (0..max); default none")
	fl.Float64Var(&o.loss, "loss", 0, "heartbeats lost at random, percent")
	fl.StringVar(&o.burstLoss, "burst-loss", "", "`N/M`: N heartbeats lost in a row every M")
	fl.Float64Var(&o.lossyFrac, "lossy-frac", 0, "fraction of the hosts (0..1, picked by -seed) on the lossy profile (-lossy-*) instead")
	fl.Float64Var(&o.lossyLoss, "lossy-loss", 10, "lossy profile: heartbeats lost at random, percent")
	fl.StringVar(&o.lossyJitter, "lossy-jitter", "normal:500ms", "lossy profile: network delay of each heartbeat (as -net-jitter)")
	fl.StringVar(&o.lossyBurstLoss, "lossy-burst-loss", "", "lossy profile: `N/M` bursts (as -burst-loss)")
	fl.IntVar(&o.kill, "kill", 10, "detect: clean hosts that stop sending after the warm-up")
	fl.DurationVar(&o.killSpread, "kill-spread", time.Minute, "detect: the kills are spread evenly over this time")
	fl.DurationVar(&o.detectWait, "detect-wait", 0, "detect: the run goes on at least this long after the last kill (0: 10 heartbeat intervals)")

	fl.StringVar(&o.listen, "listen", "127.0.0.1:0", "sink: address to receive on")
	fl.BoolVar(&o.self, "self", false, "sink: also run a sender to it")

	fl.IntVar(&o.pid, "pid", 0, "restart: the running daemon's process ID")
	fl.StringVar(&o.execCmd, "exec", "", "restart: the command that starts the daemon again, split at spaces (e.g. \"bin/hbd -config hbd.toml\")")
	fl.StringVar(&o.logFile, "log", "", "restart: append the new daemon's output to `file`")

	fl.BoolVar(&o.version, "version", false, "print the version, commit, build date and Go version, then exit")
	fl.BoolVar(&o.help, "help", false, "print this help, then exit")
	fl.BoolVar(&o.help, "h", false, "print this help, then exit")
	return fl
}

func usage(w io.Writer, fl *flag.FlagSet) {
	fmt.Fprintln(w, `usage: hbd-bench load|ramp|sink|restart|detect [flags]
       hbd-bench [load|ramp] -scenario max|memory|fleet-100k|fleet-100k-full [flags]
       hbd-bench -version | -help

hbd-bench load-tests an hbd daemon: it simulates a fleet of agents from one
process (signed heartbeats and plugin samples over UDP, WebSocket clients,
API requests) and measures the daemon through its /metrics counters. It
sends to loopback only unless -allow-remote is given, and every run ends by
itself (-duration, at most 1h). It needs the daemon's key file (-key).

load     simulate -hosts agents (heartbeats, plugin samples) for -duration
ramp     raise the offered rate step by step until loss exceeds -max-loss
sink     measure this machine's bare UDP receive rate
restart  stop a running daemon (SIGTERM), start it again, and time the
         clean stop and the restore until the API lists every host
detect   run a fleet (with -net-jitter, -loss, -burst-loss and a -lossy-frac
         of hosts on a worse path), kill -kill clean hosts after -warmup, and
         report the time to DOWN of each and the false DOWNs per hour of the
         others, from the daemon's journal over the WebSocket (-ws)

flags:`)
	out := fl.Output()
	fl.SetOutput(w)
	fl.PrintDefaults()
	fl.SetOutput(out)
	fmt.Fprintln(w, `
The scenarios, how to run them and the figures measured so far are in
docs/BENCHMARKS.md of the source tree; the daemon's config example with
every key is config/example/hbd.toml (installed as /etc/hbd/hbd.toml).`)
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	var o options
	fl := newFlagSet(&o, stderr)
	fl.Usage = func() { usage(stderr, fl) }
	sub := ""
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		sub, args = args[0], args[1:]
	}
	if err := fl.Parse(args); err != nil {
		return 2
	}
	if o.help {
		usage(stdout, fl)
		return 0
	}
	if o.version {
		fmt.Fprint(stdout, version.Get().String("hbd-bench"))
		return 0
	}
	if fl.NArg() > 0 {
		fmt.Fprintf(stderr, "hbd-bench: unexpected argument %q\n", fl.Arg(0))
		return 2
	}
	mode, err := resolveMode(sub, &o, fl)
	if err != nil {
		fmt.Fprintln(stderr, "hbd-bench:", err)
		return 2
	}
	rep, err := execute(ctx, mode, &o, stderr)
	if rep != nil {
		if rep.Scenario == "" {
			rep.Scenario = mode
		}
		_ = rep.WriteTable(stdout)
		if o.jsonOut != "" {
			if jerr := rep.WriteJSON(o.jsonOut); jerr != nil {
				fmt.Fprintln(stderr, "hbd-bench:", jerr)
				return 1
			}
		}
	}
	if err != nil {
		if errors.Is(err, context.Canceled) {
			fmt.Fprintln(stderr, "hbd-bench: interrupted; the report above is partial")
			return 130
		}
		fmt.Fprintln(stderr, "hbd-bench:", err)
		return 1
	}
	return 0
}

// resolveMode picks the mode from the subcommand and the scenario, applies
// the scenario's presets to the flags not given, and rejects flags the
// mode does not read.
func resolveMode(sub string, o *options, fl *flag.FlagSet) (string, error) {
	set := map[string]bool{}
	fl.Visit(func(f *flag.Flag) { set[f.Name] = true })
	o.set = set
	switch sub {
	case "", "load", "ramp", "sink", "restart", "detect":
	default:
		return "", fmt.Errorf("unknown subcommand %q: want load, ramp, sink, restart or detect", sub)
	}
	mode := sub
	if o.scenario != "" {
		sc, ok := scenarios[o.scenario]
		if !ok {
			names := make([]string, 0, len(scenarios))
			for n := range scenarios {
				names = append(names, n)
			}
			sort.Strings(names)
			return "", fmt.Errorf("unknown scenario %q: want one of %s", o.scenario, strings.Join(names, ", "))
		}
		if sub != "" && sub != sc.family {
			return "", fmt.Errorf("scenario %s is a %s run, not %s", o.scenario, sc.family, sub)
		}
		mode = sc.mode
		for name, v := range sc.presets {
			if !set[name] {
				if err := fl.Set(name, v); err != nil {
					return "", fmt.Errorf("scenario %s: %w", o.scenario, err)
				}
			}
		}
	}
	if mode == "" {
		return "", errors.New("need a subcommand (load, ramp, sink) or -scenario")
	}
	allowed := flagsOf[mode]
	for name := range set {
		if !slices.Contains(allowed, name) {
			return "", fmt.Errorf("flag -%s is not used by %s", name, mode)
		}
	}
	return mode, nil
}

func execute(ctx context.Context, mode string, o *options, stderr io.Writer) (*bench.Report, error) {
	var progress io.Writer = stderr
	if o.quiet {
		progress = nil
	}
	dur := o.duration
	if dur == 0 && (mode == "ramp" || mode == "max" || mode == "memory") {
		dur = 30 * time.Minute
	}
	if dur == 0 && mode == "restart" {
		dur = 10 * time.Minute
	}
	if dur <= 0 || dur > maxDuration {
		return nil, fmt.Errorf("-duration must be between 0 and %s (got %s)", maxDuration, o.duration)
	}
	if mode == "sink" {
		started := time.Now()
		senders := 0 // search for the best sender count
		if o.set["senders"] {
			senders = o.senders
		}
		r, err := bench.RunSink(ctx, bench.SinkConfig{Listen: o.listen, Duration: dur, Self: o.self, Senders: senders, Progress: progress})
		if r.Addr != "" {
			return bench.SinkReport(o.scenario, started, r), err
		}
		return nil, err
	}

	if mode == "restart" {
		if len(bench.SplitBases(o.httpBase)) > 1 {
			return nil, errors.New("restart: -http names one daemon, not a cluster")
		}
		if !o.allowRemote {
			if err := bench.CheckLoopback(ctx, nil, []string{o.httpBase}); err != nil {
				return nil, err
			}
		}
		return bench.RunRestart(ctx, bench.RestartConfig{HTTPBase: o.httpBase, PID: o.pid, Command: strings.Fields(o.execCmd),
			LogFile: o.logFile, Timeout: dur, Progress: progress})
	}
	addrs := []string(o.addrs)
	switch {
	case o.cluster != "" && len(o.addrs) > 0:
		return nil, errors.New("-cluster and -addr exclude each other: -cluster lists the members, each host sends to one")
	case o.cluster != "":
		addrs = strings.Split(o.cluster, ",")
		if !o.readAcks {
			return nil, errors.New("-cluster needs -read-acks: missing ACKs are what make a host fail over")
		}
	case len(o.addrs) == 0:
		return nil, errors.New("need at least one -addr (or -cluster)")
	}
	if o.keyFile == "" {
		return nil, errors.New("need the daemon's key: -key FILE")
	}
	key, err := wire.LoadKey(o.keyFile)
	if err != nil {
		return nil, err
	}
	targets, err := bench.ResolveTargets(ctx, addrs)
	if err != nil {
		return nil, err
	}
	if !o.allowRemote {
		if err := bench.CheckLoopback(ctx, targets, append(bench.SplitBases(o.httpBase), o.wsURL)); err != nil {
			return nil, err
		}
	}
	plugins, err := bench.StandardPlugins(o.plugins)
	if err != nil {
		return nil, err
	}
	common := bench.Common{
		Scenario: o.scenario,
		Gen: bench.GenConfig{
			Targets: targets, Cluster: o.cluster != "", Key: key, Hosts: o.hosts, FirstHost: o.firstHost, Senders: o.senders,
			HeartbeatInterval: o.hbInterval, Jitter: o.jitter, Boot: true, ReadAcks: o.readAcks, Seed: o.seed,
		},
		HTTPBase:     o.httpBase,
		Settle:       o.settle,
		Progress:     progress,
		ShutdownRate: o.shutdownRate,
	}
	if err := netProfiles(o, &common.Gen); err != nil {
		return nil, err
	}
	switch mode {
	case "detect":
		if o.wsURL == "" {
			return nil, errors.New("detect needs the daemon's WebSocket URL: -ws")
		}
		return bench.RunDetect(ctx, bench.DetectConfig{Common: common, WSURL: o.wsURL, Warmup: o.warmup, Kill: o.kill,
			KillSpread: o.killSpread, Duration: dur, DetectWait: o.detectWait})
	case "load":
		common.Gen.SampleInterval = o.sampleInterval
		common.Gen.Plugins = plugins
		common.Gen.MaxCatchUp = o.maxCatchUp
		if len(plugins) == 0 {
			common.Gen.SampleInterval = 0
		}
		return bench.RunLoad(ctx, bench.LoadConfig{Common: common, Duration: dur, WSURL: o.wsURL, WSClients: o.wsClients, HTTPRPS: o.httpRPS})
	case "memory":
		common.Gen.RatePlugins = plugins
		return bench.RunMemory(ctx, bench.MemoryConfig{Common: common, History: o.history, FillRate: o.fillRate, Timeout: dur})
	case "full":
		fill := common
		fill.Gen.RatePlugins = plugins
		fill.ShutdownRate = 0              // the load comes next
		fill.Gen.MaxCatchUp = o.maxCatchUp // the fill's generator runs on into the load
		load := common
		load.Gen.SampleInterval = o.sampleInterval
		load.Gen.Plugins = plugins
		load.Gen.MaxCatchUp = o.maxCatchUp
		return bench.RunFull(ctx, bench.FullConfig{
			Fill: bench.MemoryConfig{Common: fill, History: o.history, FillRate: o.fillRate, Timeout: o.fillTimeout},
			Load: bench.LoadConfig{Common: load, Duration: dur, WSURL: o.wsURL, WSClients: o.wsClients, HTTPRPS: o.httpRPS},
		})
	case "ramp", "max":
		common.Gen.RatePlugins = []bench.Plugin{bench.PluginCPU4}
		rc := bench.RampConfig{Common: common, Start: o.start, Step: o.step, StepDuration: o.stepDuration,
			Warmup: o.warmup, MaxLossPct: o.maxLoss, Duration: dur}
		if mode == "ramp" {
			return bench.RunRamp(ctx, rc)
		}
		listen := o.sinkListen
		if listen == "" {
			listen = "127.0.0.1:0"
			if !targets[0].Addr().Unmap().Is4() {
				listen = "[::1]:0"
			}
		}
		return bench.RunMax(ctx, bench.MaxConfig{Ramp: rc, Sink: bench.SinkConfig{Listen: listen, Duration: o.sinkDuration, Progress: progress}})
	}
	return nil, fmt.Errorf("unknown mode %q", mode)
}

// netProfiles fills the generator's network profiles from the flags; the
// lossy profile only with -lossy-frac.
func netProfiles(o *options, g *bench.GenConfig) error {
	var errs []error
	profile := func(jitter string, loss float64, burst string, what string) bench.NetProfile {
		var p bench.NetProfile
		var err error
		if p.Delay, err = bench.ParseDist(jitter); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", what, err))
		}
		if p.BurstLen, p.BurstEvery, err = bench.ParseBurst(burst); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", what, err))
		}
		p.LossPct = loss
		return p
	}
	g.Net = profile(o.netJitter, o.loss, o.burstLoss, "-net-jitter/-burst-loss")
	if o.lossyFrac > 0 {
		g.LossyFrac = o.lossyFrac
		g.Lossy = profile(o.lossyJitter, o.lossyLoss, o.lossyBurstLoss, "-lossy-jitter/-lossy-burst-loss")
	}
	return errors.Join(errs...)
}
