// Package config loads the TOML configuration of the hbd daemon ([Daemon],
// hbd.toml) and of the agent ([Agent], hbd-agent.toml).
//
// Loading has three steps, in the style of Prometheus' config package:
//
//  1. Defaults: start from [DefaultDaemon] or [DefaultAgent].
//  2. Strict decode: every key in the file must name a field (names are
//     matched exactly, case included), and every value must have the field's
//     type. Unknown keys and wrong types are errors. Then the defaults that
//     depend on other keys are filled in for the keys the file leaves out
//     (a [[notify]] channel's name and timeout depend on its type and
//     position), and the header lines of [[threshold]] and [[notify]]
//     tables are recorded in their Line fields.
//  3. Validation: ranges, enumerations, host names, port clashes, files that
//     must exist, cross-field rules.
//
// Every problem found in all three steps is returned at once, as [Errors],
// sorted by line. Each [Error] carries the file, the 1-based line of the key
// (0 when the value is a default, not in the file) and the dotted key path,
// so one run of `hbd -check-config` shows everything the user must fix:
//
//	hbd.toml:7: hbd_prot: unknown key (did you mean hbd_port?)
//	hbd.toml:9: ws_port: must be 0 (off) or between 1 and 65535, got 70000
//
// Keys inside arrays are written with an index: exec[1].timeout is the
// timeout of the second [[exec]] table. A TOML syntax error stops the load
// and is the only error reported, because nothing after it can be trusted.
//
// BurntSushi/toml parses the file, but its struct decoder is not used to fill
// the structs: it stops at the first type mismatch, visits table keys in Go
// map order (so which of two mistakes it reports would be random), and
// matches field names case-insensitively. Instead this package walks the
// parsed tree itself, so every mistake is reported and the output is
// deterministic. The same walk finds unknown keys, which is what
// MetaData.Undecoded would give. BurntSushi/toml also does not expose key
// positions, so a small scanner over the file text finds each key's line.
//
// Concurrency: the package has no package-level mutable state. All functions
// are safe to call from any goroutine. The returned configs are plain values
// owned by the caller.
package config
