// Package plugins holds the hbd agent's metric collectors: the built-in
// cpu_monitor, memory_monitor, disk_monitor and network_monitor, and exec
// plugins that run an external command and forward the JSON object it prints.
//
// A Collector returns one sample per Collect call as an encoded JSON object.
// The object's keys are part of hbd's contract: the daemon stores the object
// as the sample's "data", alert rules address values inside it by key path
// (disk_monitor./.percent) and the web pages display it. So keys never change
// spelling, percentages and sizes in MB or GB are rounded to 2 decimals for
// display, and counters stay integers.
//
// The built-in collectors read the host through github.com/shirou/gopsutil/v4
// rather than parsing /proc themselves, so the agent works wherever gopsutil
// does. Sizes use binary units: 1 MB = 2^20 bytes, 1 GB = 2^30 bytes.
//
// Rates (the *_per_s fields and cpu_percent) are computed from the previous
// Collect of the same collector, so a collector keeps state between calls.
// Fields that need a previous sample are absent from the first one, except
// cpu_percent, which the first Collect measures over a short blocking
// interval (200 ms) so that even the first sample is a real measurement.
//
// Concurrency: distinct collectors may Collect concurrently, but a single
// collector is not safe for concurrent Collect calls; the agent runs each one
// from its own ticker goroutine, one call at a time. Name is always safe.
package plugins
