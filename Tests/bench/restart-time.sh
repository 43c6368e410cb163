#!/usr/bin/env bash
# Restart time with N keys (default 1,000,000, 256-byte values): load them with etcd's benchmark
# tool, SIGKILL the server, start it again on the same data dir and time until a linearizable
# `etcdctl get` succeeds. Prints one line per restart.
#   Tests/bench/restart-time.sh [BINARY] [KEYS] [RESTARTS]
set -euo pipefail
BIN=${1:-$(pwd)/.build/release/swetcd}
KEYS=${2:-1000000}
RESTARTS=${3:-3}
REF=${ETCD_REFERENCE_DIR:-$HOME/.cache/etcd-reference}
CTL=$REF/etcd-3.5.1/etcdctl
PORT=${PORT:-24379}
D=$(mktemp -d /tmp/swetcd-restart.XXXXXX)
trap 'kill -9 $P 2>/dev/null || true; [ -n "${KEEP:-}" ] || rm -rf $D' EXIT
args=(--name r --data-dir "$D/data" --listen-client-urls "http://127.0.0.1:$PORT" --advertise-client-urls "http://127.0.0.1:$PORT"
      --listen-peer-urls "http://127.0.0.1:$((PORT+1))" --initial-advertise-peer-urls "http://127.0.0.1:$((PORT+1))"
      --initial-cluster "r=http://127.0.0.1:$((PORT+1))")
now() { date +%s.%N; }
wait_ready() { until "$CTL" --endpoints "127.0.0.1:$PORT" --dial-timeout 1s get probe >/dev/null 2>&1; do sleep 0.005; done; }

"$BIN" "${args[@]}" >"$D/log" 2>&1 & P=$!
wait_ready
t0=$(now)
"$REF/bin/benchmark" --endpoints="127.0.0.1:$PORT" --conns=10 --clients=100 put --key-size=16 --val-size=256 \
  --total="$KEYS" --key-space-size="$KEYS" --sequential-keys >/dev/null 2>&1
echo "loaded $KEYS keys in $(echo "$(now) - $t0" | bc) s; db $(du -h "$D/data/member/snap/db" | cut -f1), wal $(du -sh "$D/data/member/wal" | cut -f1)"
"$CTL" --endpoints "127.0.0.1:$PORT" get "" --prefix --count-only -w fields | grep Count
for i in $(seq "$RESTARTS"); do
  kill -9 $P; wait $P 2>/dev/null || true
  t0=$(now)
  "$BIN" "${args[@]}" >>"$D/log" 2>&1 & P=$!
  wait_ready
  server_ms=$(grep -o '"startup-ms":"[0-9]*"' "$D/log" | tail -n 1 | grep -o '[0-9]*')
  echo "restart $i: serving after $(echo "$(now) - $t0" | bc) s from exec to the first successful linearizable get (etcdctl included); server-side start-up ${server_ms} ms"
done
