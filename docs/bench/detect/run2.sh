#!/bin/bash
# rounds 2 and 3 of the issue-16 measurement, main's binaries, seeds 8 and 9
cd /tmp/h16m
for seed in 8 9; do
  for n in fixed ad3 ad6; do rm -rf $n/state $n/journal* ; done
  P=(); for n in fixed ad3 ad6; do bin/hbd -config $n/hbd.toml > $n/log-$seed 2>&1 & P+=($!); done
  sleep 3
  echo "== $(date -u +%T) seed $seed start load $(cut -d' ' -f1-3 /proc/loadavg)"
  B=()
  for spec in fixed:54001 ad3:54011 ad6:54021; do IFS=: read n p <<<"$spec"
    bin/hbd-bench detect -addr 127.0.0.1:$p -http http://127.0.0.1:$((p+1)) -ws ws://127.0.0.1:$((p+2))/hbd \
      -key /tmp/h16m/$n/hbd.key -hosts 10000 -hb-interval 2s -jitter 0.2 \
      -lossy-frac 0.05 -lossy-loss 10 -lossy-jitter normal:500ms \
      -kill 200 -warmup 2m -kill-spread 6m -duration 10m -seed $seed -quiet -json /tmp/h16m/$n-s$seed.json > $n-s$seed.out 2>&1 &
    B+=($!)
  done
  wait ${B[@]}
  echo "== $(date -u +%T) seed $seed end load $(cut -d' ' -f1-3 /proc/loadavg)"
  kill -TERM ${P[@]}; wait ${P[@]}
done
