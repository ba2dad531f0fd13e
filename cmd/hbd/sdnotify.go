package main

import (
	"fmt"
	"log/slog"

	sd "github.com/coreos/go-systemd/v22/daemon"
	"golang.org/x/sys/unix"
)

// sdNotify tells the service manager about the daemon's state, for a
// systemd unit of Type=notify (packaging/systemd/hbd.service): "READY=1"
// once every listener is open, so that `systemctl start` returns, and units
// ordered after hbd start, only when agents and clients can connect;
// "STOPPING=1" when a clean stop begins; a reload (SIGHUP, POST
// /-/reload) sends "RELOADING=1" first and "READY=1" when done.
//
// Outside systemd (no NOTIFY_SOCKET) it does nothing. A failure to notify
// is logged and otherwise ignored: with Type=notify, systemd reports the
// start as timed out, which names the problem better than an exit would.
// NOTIFY_SOCKET stays set: the next state change needs it, and systemd
// ignores what children send (NotifyAccess=main).
func sdNotify(log *slog.Logger, state string) {
	sent, err := sd.SdNotify(false, state)
	switch {
	case err != nil:
		log.Warn("cannot notify systemd", "state", state, "err", err)
	case sent:
		log.Debug("notified systemd", "state", state)
	}
}

// sdReloading is the RELOADING=1 a reload starts with. MONOTONIC_USEC is
// when, on CLOCK_MONOTONIC: systemd's Type=notify-reload needs it to tell
// this reload from an earlier one.
func sdReloading(log *slog.Logger) {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		sdNotify(log, sd.SdNotifyReloading)
		return
	}
	sdNotify(log, fmt.Sprintf("%s\nMONOTONIC_USEC=%d", sd.SdNotifyReloading, ts.Nano()/1000))
}

// The states the daemon sends besides reloading.
const (
	sdReady    = sd.SdNotifyReady
	sdStopping = sd.SdNotifyStopping
)
