//go:build !unix

package plugins

import "os/exec"

// killProcessGroup keeps os/exec's default cancellation, which kills the
// plugin's process only: without Unix process groups, killing descendants
// would need platform-specific machinery (Windows job objects).
func killProcessGroup(cmd *exec.Cmd) {}
