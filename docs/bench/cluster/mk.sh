#!/bin/bash
# mk.sh N: writes configs for an N-member cluster (N=1: single node, no [cluster]) under /tmp/r15/nN
N=$1; D=/tmp/r15/n$N; rm -rf $D; mkdir -p $D
[ -f /tmp/r15/hbd.key ] || /tmp/r15/bin/hbd -new-key /tmp/r15/hbd.key
PEERS=""
for i in $(seq 1 $N); do PEERS="$PEERS\"127.0.0.1$i:52011\","; done
for i in $(seq 1 $N); do
  mkdir -p $D/m$i
  cat > $D/m$i/hbd.toml <<EOC
hbd_host = "127.0.0.1$i"
hbd_port = 52004
ws_port = 0
udp_host = "127.0.0.1$i"
udp_port = 52003
data_dir = "$D/m$i"
key_file = "/tmp/r15/hbd.key"
log_level = "warn"
history = 100
accept_dynamic = true
[api]
pprof = true
[limits]
hosts_per_source = 0
EOC
  if [ $N -gt 1 ]; then cat >> $D/m$i/hbd.toml <<EOC
[cluster]
name = "bench"
listen = "127.0.0.1$i:52010"
provider = "static"
peers = [${PEERS%,}]
health_listen = "127.0.0.1$i:52011"
refresh = "1s"
EOC
  fi
done
