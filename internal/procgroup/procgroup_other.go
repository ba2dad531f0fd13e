//go:build !unix

package procgroup

import "os/exec"

// KillOnCancel keeps os/exec's default cancellation, which kills only the
// command itself: killing its descendants too would need platform-specific
// machinery (Windows job objects).
func KillOnCancel(cmd *exec.Cmd) {}
