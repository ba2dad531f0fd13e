package main

import (
	"log/slog"
	"time"
)

// lifecycle starts the daemon's parts in order and stops them in reverse:
// each part is a start/stop pair, and a part starts only after everything
// it depends on has. A start that fails stops what had started, so a
// daemon that cannot bind its port leaves nothing running.
type lifecycle struct {
	log   *slog.Logger
	parts []part
}

type part struct {
	name string
	stop func()
}

// start runs one part's start and keeps its stop.
func (l *lifecycle) start(name string, start func() (stop func(), err error)) error {
	began := time.Now()
	stop, err := start()
	if err != nil {
		return err
	}
	l.log.Debug("started", "part", name, "took", time.Since(began).Round(time.Microsecond))
	l.parts = append(l.parts, part{name, stop})
	return nil
}

// stop stops every started part, the last started first. Safe to call
// more than once.
func (l *lifecycle) stop() {
	for len(l.parts) > 0 {
		p := l.parts[len(l.parts)-1]
		l.parts = l.parts[:len(l.parts)-1]
		began := time.Now()
		p.stop()
		l.log.Debug("stopped", "part", p.name, "took", time.Since(began).Round(time.Microsecond))
	}
}
