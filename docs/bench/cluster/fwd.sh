#!/bin/bash
# fwd.sh N HOSTS DUR: CPU of all members per million accepted datagrams, agents sending one member at a time
N=$1; H=$2; DUR=$3; D=/tmp/r15/n$N
/tmp/r15/mk.sh $N
PIDS=()
for i in $(seq 1 $N); do /tmp/r15/bin/hbd -config $D/m$i/hbd.toml > $D/m$i/log 2>&1 & PIDS+=($!); done
for i in $(seq 1 $N); do for j in $(seq 100); do curl -s -o /dev/null http://127.0.0.1$i:52004/api/0/hosts && break; sleep 0.2; done; done
ADDRS=""; for i in $(seq 1 $N); do ADDRS="$ADDRS,127.0.0.1$i:52003"; done; ADDRS=${ADDRS#,}
HTTPS=""; for i in $(seq 1 $N); do HTTPS="$HTTPS,http://127.0.0.1$i:52004"; done; HTTPS=${HTTPS#,}
if [ $N -gt 1 ]; then TGT="-cluster $ADDRS"; else TGT="-addr $ADDRS"; fi
acc0=0; for i in $(seq 1 $N); do a=$(curl -s http://127.0.0.1$i:52004/metrics | awk '/^hbd_datagrams_accepted_total/{s+=$2} END{print s+0}'); acc0=$(echo "$acc0+$a" | bc); done
c0=$(/tmp/r15/cpu.sh ${PIDS[@]})
/tmp/r15/bin/hbd-bench load $TGT -http $HTTPS -key /tmp/r15/hbd.key -hosts $H -hb-interval 10s -plugins 4 -sample-interval 30s -duration $DUR -ws-clients 0 -http-rps 0 -quiet -json $D/bench.json > $D/bench.out 2>&1
c1=$(/tmp/r15/cpu.sh ${PIDS[@]})
acc1=0; for i in $(seq 1 $N); do a=$(curl -s http://127.0.0.1$i:52004/metrics | awk '/^hbd_datagrams_accepted_total/{s+=$2} END{print s+0}'); acc1=$(echo "$acc1+$a" | bc); done
fwd=0; for i in $(seq 1 $N); do f=$(curl -s http://127.0.0.1$i:52004/metrics | awk '/^hbd_cluster_forwarded_datagrams_total/{s+=$2} END{print s+0}'); fwd=$(echo "$fwd+$f" | bc); done
off=$(python3 -c "import json;print(json.load(open('$D/bench.json'))['datagrams']['offered'])"); echo "N=$N hosts=$H offered=$off cpu=$(echo "$c1-$c0" | bc) accepted=$(echo "$acc1-$acc0" | bc) forwarded=$fwd cpu_per_M=$(echo "scale=2; ($c1-$c0)*1000000/($acc1-$acc0)" | bc) loss=$(python3 -c "import json;print(json.load(open('$D/bench.json'))['loss_pct'])")"
kill -TERM ${PIDS[@]}; wait
