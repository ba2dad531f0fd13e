//go:build !unix

package notify

import "os/exec"

// killProcessGroup keeps os/exec's default cancellation, which kills only
// the command itself: killing its descendants too would need
// platform-specific machinery (Windows job objects).
func killProcessGroup(cmd *exec.Cmd) {}
