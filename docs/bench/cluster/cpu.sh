#!/bin/bash
# cpu.sh PIDS...: total utime+stime in seconds
t=0; for p in "$@"; do s=$(awk '{print $14+$15}' /proc/$p/stat); t=$((t+s)); done; echo "scale=2; $t/$(getconf CLK_TCK)" | bc
