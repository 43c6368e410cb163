#!/bin/bash
# Server CPU time per workload: starts BINARY (swetcd or etcd) fresh on 127.0.0.1:23791, runs one
# etcd `benchmark` workload against it, and prints req/s, the server's user+system CPU seconds
# (from /proc/PID/stat, in 1/100 s) and its peak RSS. Throughput on a shared 2-core machine moves
# with the load; CPU seconds per request do not, so this is the number to compare.
#   Tests/bench/cpu-per-request.sh BINARY put --key-size=8 --sequential-keys --total=20000 --val-size=256
BIN=$(readlink -f "$1"); shift
D=$(mktemp -d); cd $D
$BIN --name b --data-dir $D/d --listen-client-urls http://127.0.0.1:23791 --advertise-client-urls http://127.0.0.1:23791 --listen-peer-urls http://127.0.0.1:23792 --initial-advertise-peer-urls http://127.0.0.1:23792 --initial-cluster b=http://127.0.0.1:23792 > log.txt 2>&1 &
P=$!
for i in $(seq 50); do ${ETCD_REFERENCE_DIR:-$HOME/.cache/etcd-reference}/etcd-3.5.1/etcdctl --endpoints 127.0.0.1:23791 put foo $(head -c 128 /dev/zero | tr '\0' 'x') >/dev/null 2>&1 && break; sleep 0.2; done
t0=$(awk '{print $14+$15}' /proc/$P/stat)
${ETCD_REFERENCE_DIR:-$HOME/.cache/etcd-reference}/bin/benchmark --endpoints=127.0.0.1:23791 --conns=10 --clients=100 "$@" 2>&1 | grep -E "Requests/sec" | tr -d '\n'
t1=$(awk '{print $14+$15}' /proc/$P/stat)
echo "  server-cpu-s $(( (t1-t0) ))/100  $(grep VmHWM /proc/$P/status)"
kill $P; wait $P 2>/dev/null; rm -rf $D
