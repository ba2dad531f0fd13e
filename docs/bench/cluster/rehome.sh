#!/bin/bash
# rehome.sh HOSTS: 3 members, HOSTS agents (hbd-bench -cluster), kill -9 of member 3, time until the survivors own every host
H=$1; N=3; D=/tmp/r15/n$N
/tmp/r15/mk.sh $N
PIDS=()
for i in 1 2 3; do /tmp/r15/bin/hbd -config $D/m$i/hbd.toml > $D/m$i/log 2>&1 & PIDS+=($!); done
for i in 1 2 3; do for j in $(seq 100); do curl -s -o /dev/null http://127.0.0.1$i:52004/api/0/hosts && break; sleep 0.2; done; done
/tmp/r15/bin/hbd-bench load -cluster 127.0.0.11:52003,127.0.0.12:52003,127.0.0.13:52003 -http http://127.0.0.11:52004 -key /tmp/r15/hbd.key -hosts $H -hb-interval 10s -plugins 0 -duration 150s -ws-clients 0 -http-rps 0 -quiet -json $D/rehome-bench.json > $D/rehome-bench.out 2>&1 &
B=$!
owned() { local s=0; for i in "$@"; do o=$(curl -s -m 1 http://127.0.0.1$i:52004/api/0/cluster | python3 -c "import json,sys;print(json.load(sys.stdin)['hosts_owned'])" 2>/dev/null || echo 0); s=$((s+o)); done; echo $s; }
for j in $(seq 120); do [ "$(owned 1 2 3)" -ge $H ] && break; sleep 1; done
echo "registered: $(owned 1 2 3) owned after ${j}s"; sleep 25
before=$(owned 3); echo "member 3 owns $before"
T0=$(date +%s.%N); kill -9 ${PIDS[2]}
while :; do o=$(owned 1 2); [ "$o" -ge $H ] && break; sleep 0.1; done
T1=$(date +%s.%N); echo "rehomed: survivors own $o hosts after $(echo "$T1-$T0" | bc) s"
down=0; for k in $(seq 35); do d=$(curl -s -D - -o /dev/null "http://127.0.0.11:52004/api/0/hosts?state=DOWN&limit=1" | tr -d '\r' | awk -F': ' 'tolower($1)=="x-total-count"{print $2+0}'); u=$(curl -s -D - -o /dev/null "http://127.0.0.11:52004/api/0/hosts?state=UNKNOWN&limit=1" | tr -d '\r' | awk -F': ' 'tolower($1)=="x-total-count"{print $2+0}'); [ "${d:-0}" -gt $down ] && down=$d; echo "t+$k s: down=$d unknown=$u"; sleep 1; done
grep -c "" $D/m1/log; grep -i "takeover\|took over" $D/m1/log $D/m2/log | head -4
kill -TERM ${PIDS[0]} ${PIDS[1]} $B; wait 2>/dev/null
