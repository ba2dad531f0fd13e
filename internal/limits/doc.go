// Package limits bounds what one sender can make the daemon keep: plugins
// per host, keys and bytes per sample, hosts per source address, alerts
// per host, silences per host and in total, and the length of globs and
// metric paths. A datagram signed with a valid key is authentic, not
// harmless: a compromised or broken agent must not be able to grow the
// daemon's memory without bound, so every structure fed from the network
// has a cap here.
//
// Config holds the caps ([limits] in hbd.toml). Refusals counts each
// refusal by limit (hbd_limit_refused_total{limit=...} on /metrics) and
// logs it at most once per LogEvery per source (the IP address or host
// name the caller names), with the refusals since that source's previous
// line, and at most LogBudget lines per LogEvery in all: a flood of
// refused datagrams costs a counter increment and a map lookup each,
// never an unbounded log. Its memory is bounded too: it remembers only
// the sources it logged within the last two periods, at most twice the
// budget.
//
// A cap refuses only what is new: a host at its plugin cap keeps updating
// the plugins it has, a host at its alert cap keeps evaluating the alerts
// it tracks. So a host that grows past a cap degrades, it does not go dark.
//
// Every method of Refusals is safe for concurrent use; the UDP readers,
// the HostActors, the registry and the API all call it. Time is what the
// caller passes in (the daemon's injected clock), so the once-per-period
// logic is tested without sleeping.
package limits
