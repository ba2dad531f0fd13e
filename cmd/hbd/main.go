// Command hbd is the fleet heartbeat daemon: it receives signed heartbeats
// and plugin samples from hbd-agent over UDP and serves the fleet's state
// over HTTP.
package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"github.com/KimMachineGun/automemlimit/memlimit"
	"golang.org/x/time/rate"

	"github.com/hbd-project/hbd/actors"
	"github.com/hbd-project/hbd/actors/broadcast"
	"github.com/hbd-project/hbd/config"
	hbdhttp "github.com/hbd-project/hbd/http"
	"github.com/hbd-project/hbd/http/ws"
	"github.com/hbd-project/hbd/internal/deadman"
	"github.com/hbd-project/hbd/internal/version"
	"github.com/hbd-project/hbd/transport/ingest"
	"github.com/hbd-project/hbd/transport/wire"
)

func main() {
	os.Exit(run(os.Args[1:]))
}

func run(args []string) int {
	fl := flag.NewFlagSet("hbd", flag.ContinueOnError)
	cfgPath := fl.String("config", "", "config file (TOML); without one, built-in defaults are used")
	check := fl.Bool("check-config", false, "validate the config file and exit: 0 if valid, 1 if not")
	checkSt := fl.Bool("check-state", false, "report what the state directory ([state] dir) holds and whether it is intact, then exit: 0 if every file is usable, 1 if not")
	newTok := fl.Bool("new-token", false, "print a fresh random API token, its hash and the [[api.token]] table for hbd.toml, then exit")
	hashTok := fl.Bool("hash-token", false, "read an API token on standard input and print its hash for [[api.token]] hash, then exit")
	newKey := fl.String("new-key", "", "write a fresh random fleet key to this `file` (mode 0600; an existing file is never replaced), then exit")
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
		fmt.Print(version.Get().String("hbd"))
		return 0
	}
	if *newKey != "" {
		return writeNewKey(*newKey)
	}
	if *newTok || *hashTok {
		var err error
		if *newTok {
			err = newToken(os.Stdout)
		} else {
			err = hashToken(os.Stdin, os.Stdout)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		return 0
	}
	cfg, err := config.LoadDaemon(*cfgPath)
	if err == nil {
		// Rules and channels are checked here too, so -check-config
		// catches what only the engine knows (e.g. a bad template).
		_, rerr := compileRules(cfg)
		_, nerr := buildRoutes(cfg)
		err = errors.Join(rerr, nerr)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if *checkSt {
		return checkState(cfg, os.Stdout, time.Now())
	}
	if *check {
		name := cfg.File
		if name == "" {
			name = "built-in defaults"
		}
		fmt.Printf("%s: configuration is valid\n", name)
		return 0
	}
	log, level := newLogger(cfg.LogLevel)
	got, rerr := applyRuntime(cfg.Runtime, memlimit.FromCgroup)
	logRuntime(log, got, rerr)
	if err := serve(cfg, log, level); err != nil {
		log.Error("hbd stopped with an error", "err", err)
		return 1
	}
	return 0
}

// newLogger is the daemon's logger at level; a reload sets the level
// through the LevelVar.
func newLogger(level string) (*slog.Logger, *slog.LevelVar) {
	var l slog.Level
	_ = l.UnmarshalText([]byte(level)) // validated by config
	lv := new(slog.LevelVar)
	lv.Set(l)
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: lv})), lv
}

func serve(cfg *config.Daemon, log *slog.Logger, level *slog.LevelVar) error {
	started := time.Now()
	// From the start, so that a SIGHUP during start-up waits for the
	// reload below instead of killing the daemon (its default action).
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	// SIGINT and SIGTERM too: one during start-up (the sockets may be
	// open already) stops the daemon cleanly once it has started, instead
	// of killing it with nothing saved.
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	keys, err := loadKeys(cfg, log)
	if err != nil {
		return err
	}
	rules, err := compileRules(cfg)
	if err != nil {
		return err
	}
	routes, err := buildRoutes(cfg)
	if err != nil {
		return err
	}
	maintenance, err := cfg.MaintenanceSilences()
	if err != nil {
		return err
	}
	watch := watchSet(cfg)
	sys := actors.New(actors.Config{
		Listener: ingest.Config{
			Host:          cfg.UDPHost,
			Port:          cfg.UDPPort,
			RecvBuffer:    cfg.UDPRecvBuffer,
			Keys:          keys,
			Watch:         watch,
			AcceptDynamic: cfg.AcceptDynamic,
			MaxClockSkew:  cfg.MaxClockSkew.Duration,
			MaxBacklog:    cfg.Limits.IngestBacklog,
		},
		History:         cfg.History,
		DownAfter:       cfg.DownAfter,
		Liveness:        liveness(cfg),
		KeepEvents:      cfg.Journal.Keep,
		Logger:          log,
		Rules:           rules,
		AlertDynamic:    cfg.AlertDynamic,
		Flap:            flapPolicy(cfg),
		Routes:          routes,
		StoppedAfter:    cfg.Alerting.StoppedAfter.Duration,
		UnreportedAfter: cfg.Alerting.UnreportedAfter.Duration,
		Grouping:        grouping(cfg),
		Journal:         journalConfig(cfg),
		SilencesFile:    silencesFile(cfg),
		Maintenance:     maintenance,
		State:           stateConfig(cfg),
		Limits:          cfg.Limits.Caps(),
		// The coalescing window merges what arrives together, above all
		// the IPv4 and IPv6 copies of a host's heartbeat, milliseconds
		// apart; a host changes only once per heartbeat interval, so a
		// longer window would add latency (the fleet-100k target is a
		// UDP-to-WebSocket p99 of 50 ms) and merge little. The byte bound
		// (below) is what cuts a slow client off; the frame bound holds a
		// flush. The fan-out budget bounds the stream's CPU (see
		// [websocket] fanout_rate).
		WebSocket:  &broadcast.Options{Coalesce: broadcast.DefaultCoalesce, FanoutRate: cfg.WebSocket.FanoutRate},
		Cluster:    clusterConfig(cfg),
		FleetEvery: cfg.Cluster.FleetEvery.Duration,
		Replica:    replicaConfig(cfg),

		Dependencies: cfg.DependencyRules(),
	})

	// Every part is a start/stop pair: started in this order, stopped in
	// the reverse one, whatever fails half-way.
	lc := &lifecycle{log: log}
	defer lc.stop()
	if err := lc.start("actor system", func() (func(), error) { return sys.Close, nil }); err != nil {
		return err
	}
	for _, st := range sys.Steps() {
		if err := lc.start(st.Name, st.Start); err != nil {
			return err
		}
	}
	// The stream's connections are hijacked, closed by nothing else, and
	// stop before the hub they feed on.
	var stream *ws.Endpoint
	if err := lc.start("websocket connections", func() (func(), error) {
		stream = ws.New(sys.Broadcaster, ws.Options{
			QueueFrames:    1 << 16,
			QueueBytes:     cfg.WebSocket.QueueBytes,
			ReadLimit:      int64(cfg.WebSocket.MaxMessageSize),
			MessageRate:    rate.Limit(cfg.WebSocket.MessageRate),
			MessageBurst:   cfg.WebSocket.MessageBurst,
			MaxGlobs:       cfg.WebSocket.MaxGlobs,
			AllowedOrigins: wsOrigins(cfg, log),
			Logger:         log,
		})
		return stream.Stop, nil
	}); err != nil {
		return err
	}
	var dm *deadman.Deadman
	if err := lc.start("dead man's switch", func() (func(), error) {
		var err error
		dm, err = startDeadman(cfg, log)
		return dm.Stop, err
	}); err != nil {
		return err
	}
	guard, err := buildGuard(cfg, log, raiseFDLimit(log))
	if err != nil {
		return err
	}
	serveErr := make(chan error, 3)
	d := &daemon{log: log, level: level, sys: sys, stats: newReloadStats(started), cfg: cfg}
	var api *hbdhttp.Server
	if err := lc.start("api", func() (func(), error) {
		tlsCfg, err := apiTLS(cfg, log)
		if err != nil {
			return nil, err
		}
		api = hbdhttp.New(sys, hbdhttp.Options{Logger: log, CORSOrigins: cfg.CORSOrigins, Collectors: append(deadmanCollectors(dm), d.stats.collectors()...), Reload: d.reloadHTTP, Guard: guard, TLS: tlsCfg, WebSocket: stream,
			Fleet: hbdhttp.FleetOptions{LabelValues: cfg.Limits.FleetLabelValues, Families: cfg.Limits.FleetFamilies}})
		if err := api.Listen(net.JoinHostPort(cfg.HBDHost, strconv.Itoa(cfg.HBDPort))); err != nil {
			return nil, err
		}
		go func() { serveErr <- api.Serve() }()
		scheme := "http"
		if tlsCfg != nil {
			scheme = "https"
		}
		log.Info("HTTP API ready", "addr", api.Addr().String(), "hosts", scheme+"://"+displayAddr(api.Addr())+"/api/0/hosts")
		return func() { shutdown(log, "HTTP API", api.Shutdown) }, nil
	}); err != nil {
		return err
	}
	if err := startWS(cfg, stream, log, guard, serveErr, lc); err != nil {
		return err
	}
	for _, a := range sys.UDPAddrs() {
		log.Info("listening for agents", "udp", a.String())
	}
	// Every socket is open: agents' datagrams queue in the kernel and the
	// HTTP and WebSocket ports accept.
	sdNotify(log, sdReady)

	// A listener that stops serving is logged, never fatal: UDP ingest,
	// alerting and the other listeners go on. (The listeners retry failed
	// accepts themselves, so this is for what cannot be retried.)
	for running := true; running; {
		select {
		case <-ctx.Done():
			log.Info("shutting down")
			sdNotify(log, sdStopping)
			dm.Stop() // first: a peer hears of the clean stop at once
			running = false
		case <-hup:
			log.Info("SIGHUP: reloading the config", "file", cfg.File)
			_, _ = d.reload() // logged, journaled and counted by reload
		case err := <-serveErr:
			log.Error("an HTTP listener stopped serving; UDP ingest and the other listeners continue", "err", err)
		}
	}
	lc.stop()
	log.Info("stopped")
	return nil
}

// shutdown stops an HTTP server, giving its requests 5 seconds.
func shutdown(log *slog.Logger, what string, f func(context.Context) error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := f(ctx); err != nil {
		log.Warn(what+" shutdown incomplete", "err", err)
	}
}

// wsOrigins is every browser origin allowed to open the WebSocket stream:
// the daemon's own pages (derived from hbd_host and hbd_port, never from a
// request) and ws_origins.
func wsOrigins(cfg *config.Daemon, log *slog.Logger) []string {
	hostname, _ := os.Hostname()
	var addrs []netip.Addr
	if ifaddrs, err := net.InterfaceAddrs(); err == nil {
		for _, a := range ifaddrs {
			if p, err := netip.ParsePrefix(a.String()); err == nil {
				addrs = append(addrs, p.Addr())
			}
		}
	}
	origins := append(cfg.PageOrigins(hostname, addrs), cfg.WSOrigins...)
	log.Debug("browser origins allowed on the WebSocket stream", "origins", origins)
	return origins
}

// startWS starts the WebSocket-only listeners, each a part of lc:
// ws_port, and wss_port with TLS from cert_path/wss_pem/wss_key.
func startWS(cfg *config.Daemon, stream *ws.Endpoint, log *slog.Logger, guard *hbdhttp.Guard, serveErr chan<- error, lc *lifecycle) error {
	listen := func(port int, tlsCfg *tls.Config, scheme string) error {
		return lc.start(scheme+" listener", func() (func(), error) {
			w := hbdhttp.NewWSServer(stream, log, guard)
			if err := w.Listen(net.JoinHostPort(cfg.HBDHost, strconv.Itoa(port)), tlsCfg); err != nil {
				return nil, err
			}
			go func() { serveErr <- w.Serve() }()
			log.Info("WebSocket stream ready", "url", scheme+"://"+displayAddr(w.Addr())+"/hbd")
			return func() { shutdown(log, "WebSocket listener", w.Shutdown) }, nil
		})
	}
	if cfg.WSPort != 0 {
		if err := listen(cfg.WSPort, nil, "ws"); err != nil {
			return err
		}
	}
	if cfg.WSSPort != 0 {
		certs, err := hbdhttp.NewCertReloader(cfg.WSSPemPath(), cfg.WSSKeyPath(), log.With("listener", "wss"))
		if err != nil {
			return fmt.Errorf("cannot load the wss certificate: %w", err)
		}
		if err := listen(cfg.WSSPort, certs.TLSConfig(), "wss"); err != nil {
			return err
		}
	}
	return nil
}

// loadKeys reads the fleet key, creating it on first start when no
// key_file is configured, and any per-host keys.
func loadKeys(cfg *config.Daemon, log *slog.Logger) (*ingest.Keys, error) {
	path := cfg.ResolvedKeyFile()
	key, err := wire.LoadKey(path)
	if errors.Is(err, fs.ErrNotExist) && cfg.KeyFile == "" {
		key, err = wire.GenerateKeyFile(path)
		if err == nil {
			log.Info("created a new fleet key; give this file to your agents (key_file)", "path", path)
		}
	}
	if err != nil {
		return nil, err
	}
	log.Info("using fleet key", "path", path)
	if wire.KeyFileTooOpen(path) {
		log.Warn("the fleet key file is readable by other users; anyone who can read it can forge heartbeats (chmod 600)", "path", path)
	}
	perHost := make(map[string][]byte, len(cfg.HostKeys))
	for host, p := range cfg.HostKeys {
		k, err := wire.LoadKey(p)
		if err != nil {
			return nil, fmt.Errorf("host_keys.%s: %w", host, err)
		}
		perHost[host] = k
	}
	return ingest.NewKeys(key, perHost), nil
}

func displayAddr(a net.Addr) string {
	ta, ok := a.(*net.TCPAddr)
	if !ok {
		return a.String()
	}
	if ta.IP.IsUnspecified() {
		return net.JoinHostPort("localhost", strconv.Itoa(ta.Port))
	}
	return ta.String()
}

// liveness is [liveness] as the actors take it: the default detection and
// one per [[liveness.hosts]] table, in file order (the first match wins).
func liveness(cfg *config.Daemon) *actors.Liveness {
	conv := func(d config.Detection) actors.Detection {
		return actors.Detection{Adaptive: d.Adaptive, DownAfter: d.DownAfter, SuspectPhi: d.SuspectPhi, DownPhi: d.DownPhi,
			Window: d.Window, MinSamples: d.MinSamples, MinStd: d.MinStd, AcceptablePause: d.AcceptablePause}
	}
	l := &actors.Liveness{Default: conv(cfg.Liveness.Base(cfg.DownAfter))}
	for i, h := range cfg.Liveness.Hosts {
		l.Hosts = append(l.Hosts, actors.HostDetection{Match: h.Match, Detection: conv(cfg.Liveness.Override(i, cfg.DownAfter))})
	}
	return l
}
