package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"reflect"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/KimMachineGun/automemlimit/memlimit"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/hbd-project/hbd/actors"
	"github.com/hbd-project/hbd/config"
	"github.com/hbd-project/hbd/internal/notify"
)

// daemon is a running hbd, as far as a reload needs it: SIGHUP and
// POST /-/reload call reload.
type daemon struct {
	log   *slog.Logger
	level *slog.LevelVar
	sys   *actors.System
	stats *reloadStats

	mu  sync.Mutex     // one reload at a time
	cfg *config.Daemon // the config in force: the file as last applied, with the keys that need a restart as they were at start
}

// ReloadResult is what a reload applied and what it left for a restart.
type ReloadResult struct {
	File string `json:"file"`
	// Changed are the keys applied in place, each with what changed:
	// "threshold: 1 added, 1 changed", "log_level: info -> debug".
	Changed []string `json:"changed"`
	// NeedsRestart are the keys whose new values take effect only after
	// a restart; until then the daemon runs with the old ones.
	NeedsRestart []string `json:"needs_restart"`
	Hosts        int      `json:"hosts"`   // HostActors given the new alert settings
	TookMs       float64  `json:"took_ms"` // from reading the file to the last HostActor done
}

// reload re-reads the config file the daemon was started with and applies
// it: threshold rules, notification channels, [alerting], the silence caps,
// watchhosts, alert_dynamic, log_level and [runtime] change in place;
// every other key that changed is reported as needing a restart and left
// as it was. A config with any error (decode, validation, a rule that does
// not compile, a channel that cannot be built) is refused whole: the error
// lists every problem, each with its file and line, and nothing changes.
func (d *daemon) reload() (ReloadResult, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	// systemd (Type=notify) shows the unit as reloading until READY=1,
	// whether the new config was taken or refused.
	sdReloading(d.log)
	defer sdNotify(d.log, sdReady)
	began := time.Now()
	res, err := d.apply()
	d.stats.record(err == nil, time.Now())
	if err != nil {
		d.log.Error("config reload refused; the running config stays", "file", d.cfg.File, "problems", problemCount(err))
		for _, p := range problems(err) {
			d.log.Error("config reload: " + p)
		}
		d.sys.Journal(actors.Event{Kind: "system", Msg: fmt.Sprintf("config reload refused (%d problems); the running config stays: %s", problemCount(err), problems(err)[0]),
			Fields: map[string]any{"problems": problems(err)}})
		return ReloadResult{}, err
	}
	res.TookMs = float64(time.Since(began).Microseconds()) / 1000
	d.log.Info("config reloaded", "file", res.File, "changed", strings.Join(res.Changed, "; "), "hosts", res.Hosts, "took", time.Since(began).Round(time.Microsecond))
	for _, k := range res.NeedsRestart {
		d.log.Warn("config key changed but needs a restart; the old value stays until then", "key", k, "why", keyClass(k).why)
	}
	msg := "config reloaded: " + orNone(res.Changed)
	if len(res.NeedsRestart) > 0 {
		msg += "; needs a restart: " + strings.Join(res.NeedsRestart, ", ")
	}
	d.sys.Journal(actors.Event{Kind: "system", Msg: msg, Fields: map[string]any{"changed": res.Changed, "needs_restart": res.NeedsRestart}})
	return res, nil
}

func orNone(list []string) string {
	if len(list) == 0 {
		return "nothing changed"
	}
	return strings.Join(list, "; ")
}

// apply is reload without the bookkeeping.
func (d *daemon) apply() (ReloadResult, error) {
	old := d.cfg
	if old.File == "" {
		return ReloadResult{}, errors.New("hbd was started without -config: there is no file to reload")
	}
	next, err := config.LoadDaemon(old.File)
	if err != nil {
		return ReloadResult{}, err
	}
	rules, rerr := compileRules(next)
	routes, nerr := buildRoutes(next)
	if err := errors.Join(rerr, nerr); err != nil {
		closeRoutes(routes)
		return ReloadResult{}, err
	}
	diff := diffConfig(old, next)
	res := ReloadResult{File: next.File, Changed: []string{}, NeedsRestart: []string{}}
	for _, c := range diff {
		if c.restart {
			res.NeedsRestart = append(res.NeedsRestart, c.key)
			revert(next, old, c.key)
			continue
		}
		res.Changed = append(res.Changed, c.key+": "+c.what)
	}

	changed := func(keys ...string) bool {
		return slices.ContainsFunc(diff, func(c keyChange) bool {
			return !c.restart && slices.ContainsFunc(keys, func(k string) bool { return c.key == k || strings.HasPrefix(c.key, k+".") })
		})
	}
	if changed("log_level") {
		var l slog.Level
		_ = l.UnmarshalText([]byte(next.LogLevel)) // validated by config
		d.level.Set(l)
	}
	if changed("runtime") {
		got, err := applyRuntime(next.Runtime, memlimit.FromCgroup)
		logRuntime(d.log, got, err)
	}
	rc := actors.Reconfig{
		Rules: rules, Watch: watchSet(next), AlertDynamic: next.AlertDynamic, Flap: flapPolicy(next),
		StoppedAfter: next.Alerting.StoppedAfter.Duration, UnreportedAfter: next.Alerting.UnreportedAfter.Duration,
		Grouping:   grouping(next),
		SwapRoutes: changed("notify"),
		Alerting:   changed("threshold", "watchhosts", "alert_dynamic", "alerting", "dependencies"),
	}
	rc.Dependencies = next.DependencyRules()
	if rc.SwapRoutes {
		rc.Routes = routes
	} else {
		// Built to check them; the running ones stay.
		closeRoutes(routes)
	}
	if changed("limits") {
		rc.SilencesPerHost, rc.SilencesTotal, rc.GlobLength = next.Limits.SilencesPerHost, next.Limits.SilencesTotal, next.Limits.GlobLength
	}
	if changed("threshold", "watchhosts", "alert_dynamic", "alerting", "notify", "limits", "dependencies") {
		st := d.sys.Reconfigure(rc)
		res.Hosts = st.Hosts
	}
	if changed("maintenance") {
		// Validated with the config: the windows parse. One that was
		// open and is gone ends now, and sends what it held back.
		windows, err := next.MaintenanceSilences()
		if err == nil {
			err = d.sys.Silences.SetConfig(windows)
		}
		if err != nil {
			d.log.Error("[[maintenance]] windows not reloaded", "err", err)
		}
	}
	d.cfg = next
	return res, nil
}

// closeRoutes closes the channels of routes that hold resources.
func closeRoutes(routes []notify.Route) {
	for _, r := range routes {
		if c, ok := r.Channel.(io.Closer); ok {
			_ = c.Close()
		}
	}
}

func watchSet(cfg *config.Daemon) map[string]bool {
	watch := make(map[string]bool, len(cfg.WatchHosts))
	for _, h := range cfg.WatchHosts {
		watch[h] = true
	}
	return watch
}

func grouping(cfg *config.Daemon) actors.Grouping {
	return actors.Grouping{
		Wait:           cfg.Alerting.GroupWait.Duration,
		OutageFraction: cfg.Alerting.OutageFraction,
		OutageMinHosts: cfg.Alerting.OutageMinHosts,
	}
}

// problems are the lines of a refused config's error, one per problem.
func problems(err error) []string {
	var ce config.Errors
	if errors.As(err, &ce) {
		// The rules' and the channels' errors come joined: flatten them.
		var out []string
		for _, e := range strings.Split(err.Error(), "\n") {
			if e != "" {
				out = append(out, e)
			}
		}
		return out
	}
	return strings.Split(err.Error(), "\n")
}

func problemCount(err error) int { return len(problems(err)) }

// reloadKey is what a reload does with one config key: apply it in place,
// or leave it for a restart, and why.
type reloadKey struct {
	reload bool
	why    string
}

// Why keys need a restart.
const (
	whyListener = "a listener's address or options: the sockets are opened at start"
	whyTLSPath  = "a certificate file's path (new contents of the same files are picked up without a reload)"
	whyFiles    = "where the daemon keeps files it holds open"
	whyHostData = "the shape of every host's state, set when its actor is made"
	whyDatagram = "read on the datagram path, which takes no lock: it is set at start"
	whyKeys     = "the keys that verify every datagram: a changed key would cut off the agents that have the old one until they are given the new"
	whyHTTP     = "the HTTP listeners' guard (credentials, origins, limits) is built at start"
	whyDeadman  = "the dead man's switch is started with the daemon"
	whyFleet    = "/metrics/fleet is built at start"
	whyCluster  = "cluster membership is joined at start: a member that changed its address, peers or periods would be another member"
)

// reloadKeys classifies every key of hbd.toml. A key missing here needs a
// restart (see keyClass); TestEveryKeyIsClassified keeps the table whole.
var reloadKeys = map[string]reloadKey{
	"hbd_host": {why: whyListener}, "hbd_port": {why: whyListener}, "ws_port": {why: whyListener}, "wss_port": {why: whyListener},
	"cert_path": {why: whyTLSPath}, "wss_pem": {why: whyTLSPath}, "wss_key": {why: whyTLSPath},
	"udp_host": {why: whyListener}, "udp_port": {why: whyListener}, "udp_recv_buffer": {why: whyListener},
	"history":        {why: whyHostData},
	"watchhosts":     {reload: true},
	"accept_dynamic": {why: "decides which hosts may exist; turned off, a restart drops the undeclared ones, which a reload would have to do too"},
	"down_after":     {why: whyHostData},
	"max_clock_skew": {why: whyDatagram},
	"key_file":       {why: whyKeys}, "host_keys": {why: whyKeys},
	"data_dir":      {why: whyFiles},
	"log_level":     {reload: true},
	"alert_dynamic": {reload: true},
	"threshold":     {reload: true},
	"notify":        {reload: true},
	"dependencies":  {reload: true},
	"maintenance":   {reload: true},

	"journal.enabled": {why: whyFiles}, "journal.dir": {why: whyFiles}, "journal.file": {why: whyFiles}, "journal.max_size": {why: whyFiles},
	"journal.max_backups": {why: whyFiles}, "journal.fsync": {why: whyFiles}, "journal.keep": {why: "the size of the journal's memory, allocated at start"},

	"alerting.flap_window": {reload: true}, "alerting.flap_start": {reload: true}, "alerting.flap_stop": {reload: true},
	"alerting.stopped_after": {reload: true}, "alerting.unreported_after": {reload: true}, "alerting.group_wait": {reload: true},
	"alerting.outage_fraction": {reload: true}, "alerting.outage_min_hosts": {reload: true},

	"state.enabled": {why: whyFiles}, "state.dir": {why: whyFiles}, "state.checkpoint_interval": {why: "the checkpointer's period, set at start"},

	"deadman.url": {why: whyDeadman}, "deadman.method": {why: whyDeadman}, "deadman.interval": {why: whyDeadman},
	"deadman.timeout": {why: whyDeadman}, "deadman.peer": {why: whyDeadman}, "deadman.name": {why: whyDeadman},

	"limits.plugins_per_host": {why: whyDatagram}, "limits.keys_per_sample": {why: whyDatagram}, "limits.sample_bytes": {why: whyDatagram},
	"limits.hosts_per_source": {why: whyDatagram}, "limits.alerts_per_host": {why: whyDatagram}, "limits.bytes_per_host": {why: whyDatagram},
	"limits.metric_path_length": {why: whyDatagram},
	"limits.ingest_backlog":     {why: "the readers' bound, set when they start"},
	"limits.silences_per_host":  {reload: true}, "limits.silences_total": {reload: true}, "limits.glob_length": {reload: true},
	"limits.fleet_label_values": {why: whyFleet}, "limits.fleet_families": {why: whyFleet},

	"runtime.gogc": {reload: true}, "runtime.memory_limit": {reload: true},

	"liveness.detector": {why: whyHostData}, "liveness.suspect_phi": {why: whyHostData}, "liveness.down_phi": {why: whyHostData},
	"liveness.window": {why: whyHostData}, "liveness.min_samples": {why: whyHostData}, "liveness.min_std": {why: whyHostData},
	"liveness.acceptable_pause": {why: whyHostData}, "liveness.hosts": {why: whyHostData},

	"cors_origins": {why: whyHTTP}, "ws_origins": {why: whyHTTP},
	"websocket.message_rate": {why: whyHTTP}, "websocket.message_burst": {why: whyHTTP}, "websocket.max_message_size": {why: whyHTTP},
	"websocket.max_globs": {why: whyHTTP}, "websocket.queue_bytes": {why: whyHTTP},
	"websocket.fanout_rate": {why: "the stream hub's budget, set when it starts"},

	"api.token": {why: whyHTTP}, "api.user": {why: whyHTTP}, "api.tls_pem": {why: whyTLSPath}, "api.tls_key": {why: whyTLSPath},
	"api.pprof": {why: whyHTTP}, "api.rate": {why: whyHTTP}, "api.burst": {why: whyHTTP}, "api.rate_exempt": {why: whyHTTP},
	"api.max_conns": {why: whyHTTP}, "api.max_conns_per_ip": {why: whyHTTP}, "api.read_timeout": {why: whyHTTP}, "api.idle_timeout": {why: whyHTTP},

	"cluster.name": {why: whyCluster}, "cluster.listen": {why: whyCluster}, "cluster.advertise": {why: whyCluster},
	"cluster.provider": {why: whyCluster}, "cluster.peers": {why: whyCluster}, "cluster.health_listen": {why: whyCluster},
	"cluster.refresh": {why: whyCluster}, "cluster.etcd_endpoints": {why: whyCluster}, "cluster.etcd_prefix": {why: whyCluster},
	"cluster.replicate_every": {why: whyCluster}, "cluster.fleet_every": {why: whyCluster},
}

// keyClass is how a reload treats key: a key nobody classified needs a
// restart, the safe default.
func keyClass(key string) reloadKey {
	if k, ok := reloadKeys[key]; ok {
		return k
	}
	return reloadKey{why: "not known to be reloadable"}
}

// keyChange is one key whose value differs between two configs.
type keyChange struct {
	key     string
	restart bool
	what    string // for the log and the answer: "info -> debug", "1 added"
}

// diffConfig lists the keys whose values differ between old and next, in
// the order of config.Daemon's fields.
func diffConfig(old, next *config.Daemon) []keyChange {
	var out []keyChange
	walkKeys(reflect.ValueOf(old).Elem(), reflect.ValueOf(next).Elem(), "", func(key string, a, b reflect.Value) {
		if reflect.DeepEqual(canon(a), canon(b)) {
			return
		}
		out = append(out, keyChange{key: key, restart: !keyClass(key).reload, what: describe(key, a, b)})
	})
	return out
}

// walkKeys calls fn with every leaf key of two values of the same struct
// type: a field with a toml name, tables ([journal], [api]) walked into;
// arrays of tables ([[threshold]]) and Durations are leaves.
func walkKeys(a, b reflect.Value, prefix string, fn func(key string, a, b reflect.Value)) {
	t := a.Type()
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("toml"), ",")
		if name == "" || name == "-" || !f.IsExported() {
			continue
		}
		key := prefix + name
		if f.Type.Kind() == reflect.Struct && f.Type != reflect.TypeFor[config.Duration]() {
			walkKeys(a.Field(i), b.Field(i), key+".", fn)
			continue
		}
		fn(key, a.Field(i), b.Field(i))
	}
}

// revert sets key in next back to its value in old.
func revert(next, old *config.Daemon, key string) {
	walkKeys(reflect.ValueOf(next).Elem(), reflect.ValueOf(old).Elem(), "", func(k string, n, o reflect.Value) {
		if k == key {
			n.Set(o)
		}
	})
}

// canon is v for comparing: tables with their header's Line cleared, so a
// rule that only moved down the file is unchanged.
func canon(v reflect.Value) any {
	if v.Kind() != reflect.Slice || v.Type().Elem().Kind() != reflect.Struct {
		return v.Interface()
	}
	if _, ok := v.Type().Elem().FieldByName("Line"); !ok {
		return v.Interface()
	}
	c := reflect.MakeSlice(v.Type(), v.Len(), v.Len())
	reflect.Copy(c, v)
	for i := range c.Len() {
		c.Index(i).FieldByName("Line").SetInt(0)
	}
	return c.Interface()
}

// describe says how a key changed: rules and channels by how many were
// added, changed and removed (rules matched by metric, channels by name),
// other keys as old -> new.
func describe(key string, a, b reflect.Value) string {
	switch key {
	case "threshold":
		return countChanges(a, b, "Metric")
	case "notify", "maintenance":
		return countChanges(a, b, "Name")
	case "watchhosts":
		return countHosts(a.Interface().([]string), b.Interface().([]string))
	case "api.token", "api.user", "host_keys":
		return "changed" // secrets, or paths to them
	}
	as, _ := json.Marshal(a.Interface())
	bs, _ := json.Marshal(b.Interface())
	return fmt.Sprintf("%s -> %s", as, bs)
}

// countHosts says how many hosts a new watchhosts adds and removes.
func countHosts(a, b []string) string {
	before, after := make(map[string]bool, len(a)), make(map[string]bool, len(b))
	for _, h := range a {
		before[h] = true
	}
	for _, h := range b {
		after[h] = true
	}
	added, removed := 0, 0
	for h := range after {
		if !before[h] {
			added++
		}
	}
	for h := range before {
		if !after[h] {
			removed++
		}
	}
	return fmt.Sprintf("%d added, %d removed", added, removed)
}

// countChanges compares two slices of tables matched by the field id.
func countChanges(a, b reflect.Value, id string) string {
	index := func(v reflect.Value) map[string]any {
		m := make(map[string]any, v.Len())
		for i := range v.Len() {
			e := reflect.New(v.Type().Elem()).Elem()
			e.Set(v.Index(i))
			e.FieldByName("Line").SetInt(0)
			k := e.FieldByName(id).String()
			if _, dup := m[k]; dup {
				k = fmt.Sprintf("%s#%d", k, i) // later rules of a metric win; keep each
			}
			m[k] = e.Interface()
		}
		return m
	}
	before, after := index(a), index(b)
	var added, changed, removed int
	for k, v := range after {
		w, ok := before[k]
		switch {
		case !ok:
			added++
		case !reflect.DeepEqual(v, w):
			changed++
		}
	}
	for k := range before {
		if _, ok := after[k]; !ok {
			removed++
		}
	}
	var parts []string
	for _, p := range []struct {
		n    int
		what string
	}{{added, "added"}, {changed, "changed"}, {removed, "removed"}} {
		if p.n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", p.n, p.what))
		}
	}
	if len(parts) == 0 {
		return "reordered"
	}
	return strings.Join(parts, ", ")
}

// reloadStats are the reloads' metrics, named as Prometheus and
// Alertmanager name theirs.
type reloadStats struct {
	total      *prometheus.CounterVec
	successful prometheus.Gauge
	lastOK     prometheus.Gauge
}

func newReloadStats(started time.Time) *reloadStats {
	s := &reloadStats{
		total: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hbd_config_reloads_total",
			Help: "Config reloads (SIGHUP, POST /-/reload) by result: success, or failure when the new config was refused.",
		}, []string{"result"}),
		successful: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "hbd_config_last_reload_successful",
			Help: "1 if the last config reload succeeded (or none was tried), 0 if it was refused.",
		}),
		lastOK: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "hbd_config_last_reload_success_timestamp_seconds",
			Help: "When the config was last loaded successfully (the start, or the last successful reload), in Unix seconds.",
		}),
	}
	s.total.WithLabelValues("success")
	s.total.WithLabelValues("failure")
	s.successful.Set(1)
	s.lastOK.Set(float64(started.UnixMilli()) / 1e3)
	return s
}

func (s *reloadStats) record(ok bool, now time.Time) {
	if !ok {
		s.total.WithLabelValues("failure").Inc()
		s.successful.Set(0)
		return
	}
	s.total.WithLabelValues("success").Inc()
	s.successful.Set(1)
	s.lastOK.Set(float64(now.UnixMilli()) / 1e3)
}

func (s *reloadStats) collectors() []prometheus.Collector {
	return []prometheus.Collector{s.total, s.successful, s.lastOK}
}

// reloadHTTP answers POST /-/reload: 200 with the ReloadResult, or 422
// with every problem of a refused config.
func (d *daemon) reloadHTTP() (int, []byte) {
	res, err := d.reload()
	if err != nil {
		body, _ := json.Marshal(struct {
			Error    string   `json:"error"`
			Problems []string `json:"problems"`
		}{fmt.Sprintf("config refused (%d problems); the running config stays", problemCount(err)), problems(err)})
		return 422, body
	}
	body, _ := json.Marshal(res)
	return 200, body
}
