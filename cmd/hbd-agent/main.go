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
	"io/fs"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/hbd-project/hbd/agent"
	"github.com/hbd-project/hbd/agent/plugins"
	"github.com/hbd-project/hbd/config"
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
	silence := fl.Duration("silence", 0, "ask the daemons not to notify about this host for this long (e.g. 10m before a reboot), then exit")
	silenceMetric := fl.String("silence-metric", "", "with -silence: only metrics matching this glob (e.g. \"heartbeat\"); default all")
	comment := fl.String("comment", "", "with -silence: why, shown in the daemon's journal and silences list")
	if err := fl.Parse(args); err != nil {
		return 2
	}
	cfg, err := config.LoadAgent(*cfgPath)
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
		Name:         cfg.Name,
		Servers:      cfg.Servers,
		Interval:     cfg.Interval.Duration,
		ResolveEvery: cfg.ResolveEvery.Duration,
		Key:          key,
		Plugins:      ps,
		Logger:       log,
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "hbd-agent:", err)
		return 1
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
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

func buildPlugins(cfg *config.Agent) []agent.Plugin {
	var ps []agent.Plugin
	builtin := map[string]func() plugins.Collector{
		"cpu_monitor":     plugins.NewCPU,
		"memory_monitor":  plugins.NewMemory,
		"disk_monitor":    plugins.NewDisk,
		"network_monitor": plugins.NewNetwork,
	}
	for _, name := range config.KnownPlugins() {
		if !cfg.PluginEnabled(name) {
			continue
		}
		ps = append(ps, agent.Plugin{Collector: builtin[name](), Interval: cfg.PluginInterval(name)})
	}
	for _, e := range cfg.Exec {
		ps = append(ps, agent.Plugin{Collector: plugins.NewExec(e.Name, e.Command, e.Timeout.Duration), Interval: e.Interval.Duration})
	}
	return ps
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
