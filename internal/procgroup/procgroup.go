// Package procgroup makes a command's cancellation kill the process group it
// leads, so that what a plugin or notification script started (a shell
// pipeline, curl, sendmail) dies with it instead of lingering after its
// timeout. KillOnCancel is safe for concurrent use on different commands.
package procgroup
