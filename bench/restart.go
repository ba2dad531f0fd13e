package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// RestartConfig configures RunRestart.
type RestartConfig struct {
	HTTPBase string   // the running daemon's HTTP base URL
	PID      int      // its process ID
	Command  []string // how to start it again (the same config and data)
	LogFile  string   // where the new daemon's output goes ("" = discarded)
	Timeout  time.Duration
	Progress io.Writer
}

// RunRestart measures what a restart costs a running daemon: it reads the
// fleet's size, stops the daemon with SIGTERM and times the clean stop
// (the state is saved), starts it again with Command and times how long
// until the first /api/0/hosts answer that lists every host again (the
// state is read back). The new daemon is left running, detached, so the
// fleet can be loaded further.
func RunRestart(ctx context.Context, cfg RestartConfig) (*Report, error) {
	if cfg.HTTPBase == "" || cfg.PID <= 0 || len(cfg.Command) == 0 {
		return nil, errors.New("restart: needs -http, -pid and -exec")
	}
	rep := newReport("", "restart", time.Now())
	sc, err := NewScraper(cfg.HTTPBase)
	if err != nil {
		return nil, err
	}
	defer sc.Close()
	m0, err := sc.Scrape(ctx)
	if err != nil {
		return nil, err
	}
	hosts := int(m0.Hosts)
	rep.Hosts = hosts
	rep.SamplesHeld = ptr(m0.SamplesHeld)
	rep.RSSBefore = ptr(m0.RSSBytes)
	progress(cfg.Progress, "daemon %d holds %d hosts and %.0f samples (RSS %.0f MiB); stopping it", cfg.PID, hosts, m0.SamplesHeld, m0.RSSBytes/(1<<20))

	began := time.Now()
	if err := syscall.Kill(cfg.PID, syscall.SIGTERM); err != nil {
		return rep, fmt.Errorf("restart: cannot signal %d: %w", cfg.PID, err)
	}
	// Not our child: poll until the process is gone.
	for running(cfg.PID) {
		if time.Since(began) > cfg.Timeout {
			return rep, fmt.Errorf("restart: daemon %d still running %s after SIGTERM", cfg.PID, cfg.Timeout)
		}
		if waitCtx(ctx, 5*time.Millisecond); ctx.Err() != nil {
			return rep, ctx.Err()
		}
	}
	rep.StopS = ptr(time.Since(began).Seconds())
	progress(cfg.Progress, "stopped in %.2f s; starting %s", *rep.StopS, strings.Join(cfg.Command, " "))

	cmd := exec.Command(cfg.Command[0], cfg.Command[1:]...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true} // outlives the harness
	if cfg.LogFile != "" {
		f, err := os.OpenFile(cfg.LogFile, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
		if err != nil {
			return rep, err
		}
		defer f.Close()
		cmd.Stdout, cmd.Stderr = f, f
	}
	started := time.Now()
	if err := cmd.Start(); err != nil {
		return rep, fmt.Errorf("restart: cannot start the daemon: %w", err)
	}
	rep.NewPID = cmd.Process.Pid
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()

	client := &http.Client{Timeout: 5 * time.Second}
	defer client.CloseIdleConnections()
	url := strings.TrimSuffix(cfg.HTTPBase, "/") + "/api/0/hosts?limit=1"
	firstAnswer := time.Duration(0)
poll:
	for {
		select {
		case err := <-exited:
			return rep, fmt.Errorf("restart: the daemon exited: %v", err)
		default:
		}
		if time.Since(started) > cfg.Timeout {
			return rep, fmt.Errorf("restart: the daemon did not list %d hosts within %s", hosts, cfg.Timeout)
		}
		if resp, err := client.Get(url); err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			n, _ := strconv.Atoi(resp.Header.Get("X-Total-Count"))
			if resp.StatusCode == 200 && firstAnswer == 0 {
				firstAnswer = time.Since(started)
			}
			if resp.StatusCode == 200 && n >= hosts {
				break poll
			}
		}
		if waitCtx(ctx, 5*time.Millisecond); ctx.Err() != nil {
			return rep, ctx.Err()
		}
	}
	rep.RestoreS = ptr(time.Since(started).Seconds())
	rep.FirstAnswerS = ptr(firstAnswer.Seconds())
	m1, err := sc.Scrape(ctx)
	if err != nil {
		return rep, err
	}
	rep.StateDiskBytes = ptr(m1.StateDiskBytes)
	rep.RSSBytes = ptr(m1.RSSBytes)
	if m1.SamplesHeld != m0.SamplesHeld {
		rep.warn("samples held went from %.0f to %.0f across the restart", m0.SamplesHeld, m1.SamplesHeld)
	}
	rep.DurationS = time.Since(began).Seconds()
	progress(cfg.Progress, "pid %d lists all %d hosts %.2f s after it started; state on disk %.0f MiB", rep.NewPID, hosts, *rep.RestoreS, m1.StateDiskBytes/(1<<20))
	return rep, nil
}

// running reports whether process pid exists and has not exited: a
// process that exited but that its parent has not reaped yet (a zombie)
// still answers signal 0.
func running(pid int) bool {
	if syscall.Kill(pid, 0) != nil {
		return false
	}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	// pid (comm) state ...: comm may hold spaces and parentheses.
	if i := strings.LastIndexByte(string(b), ')'); i >= 0 && i+2 < len(b) {
		return b[i+2] != 'Z'
	}
	return true
}

func progress(w io.Writer, format string, args ...any) {
	if w != nil {
		fmt.Fprintf(w, format+"\n", args...)
	}
}
