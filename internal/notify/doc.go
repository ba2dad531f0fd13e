// Package notify delivers hbd's alert notifications on webhook, exec and
// email channels, and on the APIs of pushover, matrix, mattermost, slack,
// signal (signal-cli REST), sms (Twilio's Messages API), telegram and ntfy.
//
// A Channel sends one Notification and returns when it is delivered or has
// failed; each channel bounds its own attempt with a timeout (exec and
// email 30 s, the HTTP channels 10 s by default). Channels are safe for
// concurrent use. The HTTP channels share one poster (httppost.go), which
// sends a request and classifies the answer, and one renderer (render.go),
// which writes a notification in each service's format.
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
// backoff, or after an HTTP answer's Retry-After; an HTTP 4xx that a retry
// cannot cure ends the attempts at once. The final outcome of every queued notification on every route,
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
