// Package rejected remembers who sends the daemon datagrams it rejects, so
// that an agent with the wrong key, a clock that is off or a name the
// daemon does not accept shows up in the daemon's log and API with its
// address and reason, not only as a drop counter.
//
// A Table counts rejected datagrams per source (IP address and reason) and
// logs a source at most once per Options.LogEvery, with the number of
// datagrams since its previous line. It is bounded: it keeps at most
// Options.Capacity sources and, when full, forgets the least recently seen
// one, counts that (Evicted) and says so in the log at most once per
// LogEvery. However many sources there are, it writes at most
// Options.LogBudget source lines per LogEvery; the lines it held back are
// counted and summarized in one line when the next period begins. So a
// flood of forged datagrams from spoofed addresses costs a map lookup per
// datagram and a bounded amount of memory and log, never more.
//
// Sources is a set of Tables, one per UDP reader goroutine (and one that
// the HostActors share for replays), so that readers never wait for each
// other on the reject path. Every method of Table and Sources is safe for
// concurrent use: each Table has its own mutex, taken once per rejected
// datagram by its reader and briefly by Top, which the API calls. A source
// seen by two readers (SO_REUSEPORT spreads one IP's ports over several
// sockets) is logged by each; Top adds its counts up.
//
// Time is what the caller passes in (the datagram's receive time from the
// daemon's injected clock), so the once-per-period logic is tested without
// sleeping.
package rejected
