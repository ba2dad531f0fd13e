package main

import (
	"errors"
	"fmt"
	"path/filepath"

	"github.com/hbd-project/hbd/config"
	"github.com/hbd-project/hbd/internal/alert"
	"github.com/hbd-project/hbd/internal/journal"
	"github.com/hbd-project/hbd/internal/notify"
)

// compileRules turns the [[threshold]] tables into the alert engine's rules.
// Errors name the file and the line of the offending table.
func compileRules(cfg *config.Daemon) (*alert.Rules, error) {
	rules := make([]alert.Rule, 0, len(cfg.Thresholds))
	var errs config.Errors
	for i, t := range cfg.Thresholds {
		op, err := alert.ParseOp(t.Operator)
		if err != nil {
			errs = append(errs, config.Error{File: cfg.File, Line: t.Line, Key: fmt.Sprintf("threshold[%d].operator", i+1), Msg: err.Error()})
			continue
		}
		rules = append(rules, alert.Rule{Metric: t.Metric, Warning: t.Warning, Critical: t.Critical, Op: op, Hysteresis: t.Hysteresis, For: t.For.Duration, Hosts: t.Hosts})
	}
	if len(errs) > 0 {
		return nil, errs
	}
	compiled, err := alert.Compile(rules)
	if err != nil {
		var list []error
		if u, ok := err.(interface{ Unwrap() []error }); ok {
			list = u.Unwrap()
		} else {
			list = []error{err}
		}
		for _, e := range list {
			var re *alert.RuleError
			if errors.As(e, &re) && re.Index < len(cfg.Thresholds) {
				errs = append(errs, config.Error{File: cfg.File, Line: cfg.Thresholds[re.Index].Line, Key: fmt.Sprintf("threshold[%d].%s", re.Index+1, re.Field), Msg: re.Err.Error()})
			} else {
				errs = append(errs, config.Error{File: cfg.File, Msg: e.Error()})
			}
		}
		return nil, errs
	}
	return compiled, nil
}

// buildRoutes creates the notification channels of the [[notify]] tables.
func buildRoutes(cfg *config.Daemon) ([]notify.Route, error) {
	var routes []notify.Route
	var errs config.Errors
	for i, n := range cfg.Notify {
		key := fmt.Sprintf("notify[%d]", i+1)
		ch, err := notify.New(n)
		if err != nil {
			errs = append(errs, config.Error{File: cfg.File, Line: n.Line, Key: key, Msg: err.Error()})
			continue
		}
		routes = append(routes, notify.Route{Channel: ch, MinLevel: n.MinLevel, Hosts: n.Hosts, Repeat: n.Repeat.Duration, Group: n.Group})
	}
	if len(errs) > 0 {
		return nil, errs
	}
	return routes, nil
}

// journalConfig is the journal file's configuration, or nil when disabled.
func journalConfig(cfg *config.Daemon) *journal.Config {
	if !cfg.Journal.Enabled {
		return nil
	}
	fsync := cfg.Journal.Fsync.Duration
	if fsync == 0 {
		fsync = journal.SyncEveryBatch
	}
	backups := cfg.Journal.MaxBackups
	if backups == 0 {
		// max_backups = 0 keeps no rotated file; to the journal package a
		// zero field means its default (5), and "none" is negative.
		backups = -1
	}
	return &journal.Config{Dir: cfg.JournalDir(), File: cfg.Journal.File, MaxSize: cfg.Journal.MaxSize, MaxBackups: backups, Fsync: fsync}
}

func flapPolicy(cfg *config.Daemon) alert.FlapPolicy {
	return alert.FlapPolicy{Window: cfg.Alerting.FlapWindow.Duration, Start: cfg.Alerting.FlapStart, Stop: cfg.Alerting.FlapStop}
}

func silencesFile(cfg *config.Daemon) string {
	return filepath.Join(cfg.ResolvedDataDir(), "silences.json")
}
