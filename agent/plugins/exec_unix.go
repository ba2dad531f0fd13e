//go:build unix

package plugins

import (
	"errors"
	"os"
	"os/exec"
	"syscall"
)

// killProcessGroup makes cmd the leader of a new process group and makes
// cancellation kill that whole group, so that whatever the plugin started
// (a shell pipeline, a forked helper) dies with it instead of lingering.
func killProcessGroup(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error {
		// A negative pid signals the group whose id is the leader's pid.
		// The leader is not reaped yet when Cancel runs, so the id is
		// still ours.
		err := syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		if errors.Is(err, syscall.ESRCH) {
			return os.ErrProcessDone
		}
		return err
	}
}
