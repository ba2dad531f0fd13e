// Package notify delivers hbd's alert notifications on webhook, exec and
// email channels.
//
// A Channel sends one Notification and returns when it is delivered or has
// failed; each channel bounds its own attempt with a timeout (webhook 10 s,
// exec 30 s, email 30 s by default). Channels are safe for concurrent use.
//
// Types is the registry of channel types: New builds the channel of a
// validated config.Notify through it, so a new type is one file and one row
// there (plus its keys and checks in config).
//
// A Route is a channel plus the notifications it takes (minimum level, host
// globs). The Dispatcher gives each route its own bounded queue and worker
// goroutine: Submit never blocks, a full queue drops the notification and
// says so (the caller counts and journals drops), and a channel that is down
// or slow delays only its own queue. Failed sends are retried with doubling
// backoff; the final outcome of every queued notification on every route,
// including those still queued at Close, is reported through
// DispatcherOptions.Result, so no notification is lost silently.
//
// Dispatcher methods are safe for concurrent use. Close stops accepting, lets
// each worker finish the attempt in hand, cancels retry waits, waits for the
// workers, then closes channels that implement io.Closer; it may be called
// more than once.
//
// This package is plain Go; the daemon wraps the Dispatcher in its notifier
// actor.
package notify
