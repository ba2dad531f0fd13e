// Command hbd-agent reports this host to one or more hbd daemons: signed
// heartbeats over UDP (IPv4 and IPv6) and samples of its plugins.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"github.com/hbd-project/hbd/agent"
	"github.com/hbd-project/hbd/agent/plugins"
	"github.com/hbd-project/hbd/config"
	"github.com/hbd-project/hbd/internal/version"
	"github.com/hbd-project/hbd/transport/wire"
)

func main() {
	os.Exit(run(os.Args[1:]))
}

func run(args []string) int {
	fl := flag.NewFlagSet("hbd-agent", flag.ContinueOnError)
	cfgPath := fl.String("config", "", "config file (TOML); without one, built-in defaults are used")
	check := fl.Bool("check-config", false, "validate the config file and exit: 0 if valid, 1 if not")
	once := fl.Bool("once", false, "print one sample of every enabled plugin as JSON and exit")
	only := fl.String("plugin", "", "with -once: only this plugin (a built-in or an [[exec]] name), e.g. to test a new plugin")
	silence := fl.Duration("silence", 0, "ask the daemons not to notify about this host for this long (e.g. 10m before a reboot), then exit")
	silenceMetric := fl.String("silence-metric", "", "with -silence: only metrics matching this glob (e.g. \"heartbeat\"); default all")
	comment := fl.String("comment", "", "with -silence: why, shown in the daemon's journal and silences list")
	checkAcks := fl.Bool("check", false, "send one heartbeat to every address of every server, wait for the ACKs and print what came back; exit 0 if every address answered, 1 if not")
	checkTimeout := fl.Duration("check-timeout", 3*time.Second, "with -check: how long to wait for the ACKs")
	showVersion := fl.Bool("version", false, "print the version, commit, build date and Go version, then exit")
	help := fl.Bool("help", false, "print this help, then exit")
	fl.BoolVar(help, "h", false, "print this help, then exit")
	fl.Usage = func() { usage(fl.Output(), fl) }
	if err := fl.Parse(args); err != nil {
		return 2
	}
	if *help {
		usage(os.Stdout, fl)
		return 0
	}
	if *showVersion {
		fmt.Print(version.Get().String("hbd-agent"))
		return 0
	}
	if *checkTimeout <= 0 {
		fmt.Fprintf(os.Stderr, "hbd-agent: -check-timeout must be positive, got %s\n", *checkTimeout)
		return 2
	}
	cfg, err := config.LoadAgent(*cfgPath, plugins.Names())
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if *check {
		fmt.Println("configuration is valid")
		return 0
	}
	var level slog.Level
	_ = level.UnmarshalText([]byte(cfg.LogLevel))
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	ps := buildPlugins(cfg)
	if *once {
		if *only != "" {
			if ps = onlyPlugin(ps, *only); ps == nil {
				fmt.Fprintf(os.Stderr, "hbd-agent: -plugin %q: no such plugin is enabled in the config\n", *only)
				return 1
			}
		}
		return printOnce(ps)
	}

	key, err := wire.LoadKey(cfg.ResolvedKeyFile())
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			fmt.Fprintf(os.Stderr, "hbd-agent: key file %s does not exist: copy the daemon's key there, or set key_file (on the daemon's own machine, start hbd once and it creates it)\n", cfg.ResolvedKeyFile())
		} else {
			fmt.Fprintln(os.Stderr, "hbd-agent:", err)
		}
		return 1
	}
	a, err := agent.New(agent.Options{
		Name:          cfg.Name,
		Servers:       cfg.Servers,
		Interval:      cfg.Interval.Duration,
		FailoverAfter: cfg.FailoverPeriod(),
		ResolveEvery:  cfg.ResolveEvery.Duration,
		Key:           key,
		Plugins:       ps,
		Logger:        log,

		Parents:        cfg.Parents,
		DeclareParents: cfg.DeclareParents,
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "hbd-agent:", err)
		return 1
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if *checkAcks {
		return printCheck(os.Stdout, a.Check(ctx, *checkTimeout), *checkTimeout)
	}
	if *silence != 0 {
		if err := a.SendSilence(ctx, *silence, *silenceMetric, *comment); err != nil {
			fmt.Fprintln(os.Stderr, "hbd-agent:", err)
			return 1
		}
		fmt.Printf("asked %v to silence %s for %s\n", cfg.Servers, cfg.Name, *silence)
		return 0
	}
	if err := a.Run(ctx); err != nil {
		log.Error("agent failed", "err", err)
		return 1
	}
	return 0
}

// printCheck prints one line per daemon address and returns the exit
// status: 0 if every address answered.
func printCheck(w io.Writer, res []agent.CheckResult, timeout time.Duration) int {
	status, silent := 0, false
	if len(res) == 0 {
		fmt.Fprintln(w, "no servers configured")
		return 1
	}
	for _, r := range res {
		where := r.Server
		if r.Addr.IsValid() && r.Addr.String() != r.Server {
			where = fmt.Sprintf("%s (%s)", r.Addr, r.Server)
		}
		switch {
		case r.Err != nil:
			fmt.Fprintf(w, "%s: %v\n", where, r.Err)
			status = 1
		case r.RTT > 0:
			fmt.Fprintf(w, "%s: OK rtt %s\n", where, fmtRTT(r.RTT))
		default:
			fmt.Fprintf(w, "%s: no answer within %s (daemon down, wrong key, or blocked)\n", where, timeout)
			status, silent = 1, true
		}
	}
	if silent {
		fmt.Fprintln(w, "hbd never answers a datagram it rejects, so no answer looks the same for all three; "+
			"the daemon's log (\"rejected datagrams\") and GET /api/0/stats (rejected_sources) name this host's address and the reason, e.g. bad_mac for a wrong key")
	}
	return status
}

// fmtRTT prints a round trip in milliseconds: 0.4ms, 12.3ms.
func fmtRTT(d time.Duration) string {
	ms := float64(d) / float64(time.Millisecond)
	if ms < 0.1 {
		return strconv.FormatFloat(ms, 'f', 3, 64) + "ms"
	}
	return strconv.FormatFloat(ms, 'f', 1, 64) + "ms"
}

// buildPlugins creates the enabled built-in plugins, in registry order, and
// the [[exec]] plugins. The config was checked against the same registry,
// so every [plugins.NAME] table names a plugin that exists.
func buildPlugins(cfg *config.Agent) []agent.Plugin {
	var ps []agent.Plugin
	for _, b := range plugins.Builtins() {
		if !cfg.PluginEnabled(b.Name) {
			continue
		}
		ps = append(ps, agent.Plugin{Collector: b.New(), Interval: cfg.PluginInterval(b.Name)})
	}
	for _, e := range cfg.Exec {
		ps = append(ps, agent.Plugin{Collector: execCollector(e), Interval: e.Interval.Duration})
	}
	return ps
}

// onlyPlugin returns the plugin of ps named name, or nil.
func onlyPlugin(ps []agent.Plugin, name string) []agent.Plugin {
	for _, p := range ps {
		if p.Collector.Name() == name {
			return []agent.Plugin{p}
		}
	}
	return nil
}

// printOnce prints {"plugin": data, ...} for every plugin; a failing plugin
// is reported on stderr and makes the exit status 1.
func printOnce(ps []agent.Plugin) int {
	out := make(map[string]json.RawMessage, len(ps))
	status := 0
	for _, p := range ps {
		data, err := p.Collector.Collect(context.Background())
		if err != nil {
			fmt.Fprintf(os.Stderr, "hbd-agent: %s: %v\n", p.Collector.Name(), err)
			status = 1
			continue
		}
		out[p.Collector.Name()] = data
	}
	b, err := json.Marshal(out)
	if err != nil {
		fmt.Fprintln(os.Stderr, "hbd-agent:", err)
		return 1
	}
	var pretty bytes.Buffer
	if err := json.Indent(&pretty, b, "", "  "); err != nil {
		pretty.Reset()
		pretty.Write(b)
	}
	pretty.WriteByte('\n')
	os.Stdout.Write(pretty.Bytes())
	return status
}

// execCollector is the collector of an [[exec]] table: a JSON plugin, or a
// monitoring-plugins check with format = "nagios".
func execCollector(e config.Exec) plugins.Collector {
	if e.Format == config.ExecFormatNagios {
		return plugins.NewCheck(e.Name, e.Command.Args, e.Timeout.Duration)
	}
	return plugins.NewExec(e.Name, e.Command.Args, e.Timeout.Duration)
}
