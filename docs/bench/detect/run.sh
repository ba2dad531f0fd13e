#!/bin/bash
# issue 16 measurement: fixed vs adaptive (down_after 3) vs adaptive (down_after 6), concurrently, same load
cd /tmp/h16m
P=(); for n in fixed ad3 ad6; do bin/hbd -config $n/hbd.toml > $n/log 2>&1 & P+=($!); done
sleep 3
echo "== $(date -u +%T) start load $(cut -d' ' -f1-3 /proc/loadavg)"
B=()
for spec in fixed:54001 ad3:54011 ad6:54021; do IFS=: read n p <<<"$spec"
  bin/hbd-bench detect -addr 127.0.0.1:$p -http http://127.0.0.1:$((p+1)) -ws ws://127.0.0.1:$((p+2))/hbd \
    -key /tmp/h16m/$n/hbd.key -hosts 10000 -hb-interval 2s -jitter 0.2 \
    -lossy-frac 0.05 -lossy-loss 10 -lossy-jitter normal:500ms \
    -kill 200 -warmup 2m -kill-spread 6m -duration 10m -seed 7 -quiet -json /tmp/h16m/$n.json > $n.out 2>&1 &
  B+=($!)
done
wait ${B[@]}
echo "== $(date -u +%T) end load $(cut -d' ' -f1-3 /proc/loadavg)"
kill -TERM ${P[@]}; wait
