//go:build unix

package notify

import (
	"errors"
	"os"
	"os/exec"
	"syscall"
)

// killProcessGroup starts cmd in a new process group and makes cancellation
// kill the whole group: a notification script that runs curl or sendmail
// must not leave them running after its timeout.
func killProcessGroup(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error {
		// The leader is not reaped before Cancel returns, so its pid, which
		// is also the group id, still names our group.
		err := syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		if errors.Is(err, syscall.ESRCH) {
			return os.ErrProcessDone
		}
		return err
	}
}
