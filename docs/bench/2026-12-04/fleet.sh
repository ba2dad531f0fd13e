#!/bin/bash
# fleet.sh TAG SCENARIO [hbd-bench flags...]: one hbd-bench load run against
# a freshly started daemon (history 100, state on, no per-source host cap,
# pprof on), as in BENCHMARKS.md "Issue 12's table on a quiet machine".
#   EXTRA   more hbd.toml lines (e.g. '[runtime]\ngogc = 35')
#   HBD     the daemon binary (default bin/hbd)
#   WSFLAG  set empty for scenarios without WebSocket clients (memory)
#   OUT     where the data directories and reports go (default /tmp/hbd-fleet)
# The report is $OUT/TAG.json; RSS is sampled every 10 s into $OUT/data-TAG/rss.log.
set -u
TAG=$1; SC=$2; shift 2
ROOT=$(cd "$(dirname "$0")/../../.." && pwd)
OUT=${OUT:-/tmp/hbd-fleet}
D=$OUT/data-$TAG
rm -rf "$D"; mkdir -p "$D"
cat > "$D/hbd.toml" <<EOT
udp_host = "localhost"
udp_port = 50003
hbd_host = "127.0.0.1"
hbd_port = 50004
ws_port = 50005
history = 100
log_level = "warn"
data_dir = "$D"
[limits]
hosts_per_source = 0
[api]
pprof = true
$(printf '%b' "${EXTRA:-}")
EOT
"${HBD:-$ROOT/bin/hbd}" -config "$D/hbd.toml" > "$D/hbd.log" 2>&1 & hbd=$!
for _ in $(seq 100); do [ -s "$D/hbd.key" ] && break; sleep 0.1; done
sleep 1
( while kill -0 $hbd 2>/dev/null; do echo "$(date +%s) $(grep -E 'VmRSS|VmHWM' /proc/$hbd/status | tr -s ' ' | tr '\n' ' ')" >> "$D/rss.log"; sleep 10; done ) &
"$ROOT/bin/hbd-bench" load -scenario "$SC" -addr 127.0.0.1:50003 -addr '[::1]:50003' -http http://127.0.0.1:50004 \
  -key "$D/hbd.key" ${WSFLAG--ws ws://127.0.0.1:50005/hbd} -json "$OUT/$TAG.json" "$@" > "$D/bench.out" 2>&1
echo "bench rc=$?" >> "$D/bench.out"
curl -s http://127.0.0.1:50004/metrics > "$D/metrics.txt"
grep -E 'VmRSS|VmHWM' /proc/$hbd/status >> "$D/bench.out"
kill -TERM $hbd; wait $hbd
