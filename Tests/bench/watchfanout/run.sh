#!/usr/bin/env bash
# Watch fan-out: etcd 3.5.1 and swetcd, each fresh, each with
#   10,000 watchers on one key   (100 streams, 200 puts at 100/s: 2,000,000 events)
#   100,000 watchers on 100,000 distinct keys (1000 streams, 2000 puts at 200/s)
# printing delivery latency percentiles, events/s and the server's peak RSS (VmHWM).
#   Tests/bench/watchfanout/run.sh .build/release/swetcd
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
BIN=$(readlink -f "$1")
REF=${ETCD_REFERENCE_DIR:-$HOME/.cache/etcd-reference}
OUT=$(mktemp -d /tmp/watchfanout.XXXXXX)
trap 'rm -rf "$OUT"' EXIT
# Build in GOPATH mode against the reference setup's etcd 3.4 sources and Debian's Go packages.
mkdir -p "$OUT/gopath/src/watchfanout" && cp "$HERE/main.go" "$OUT/gopath/src/watchfanout/"
( cd "$OUT/gopath/src/watchfanout" && GO111MODULE=off GOPATH="$OUT/gopath:$REF/gopath:/usr/share/gocode" \
  GOCACHE="$REF/work/gocache" GOPROXY=off GOFLAGS= CGO_ENABLED=0 go build -o "$OUT/watchfanout" . )
PORT=26379
run() {  # server-binary label args...
  local server=$1 label=$2; shift 2
  local d="$OUT/data-$label"
  "$server" --name f --data-dir "$d" --listen-client-urls "http://127.0.0.1:$PORT" --advertise-client-urls "http://127.0.0.1:$PORT" \
    --listen-peer-urls "http://127.0.0.1:$((PORT+1))" --initial-advertise-peer-urls "http://127.0.0.1:$((PORT+1))" \
    --initial-cluster "f=http://127.0.0.1:$((PORT+1))" >"$OUT/$label.log" 2>&1 &
  local pid=$!
  until "$REF/etcd-3.5.1/etcdctl" --endpoints "127.0.0.1:$PORT" get probe >/dev/null 2>&1; do sleep 0.1; done
  printf '%-8s %s: ' "$label" "$*"
  ulimit -n 20000 2>/dev/null || true
  "$OUT/watchfanout" --endpoint "127.0.0.1:$PORT" "$@" | tr '\n' ' '
  echo " peak RSS $(grep VmHWM /proc/$pid/status | awk '{print $2/1024}') MiB"
  kill $pid; wait $pid 2>/dev/null || true
  rm -rf "$d"
}
for label in etcd swetcd; do
  srv=$REF/etcd-3.5.1/etcd; [ $label = swetcd ] && srv=$BIN
  run "$srv" $label --streams 100 --watchers 10000 --keys 1 --puts 200 --rate 100
  run "$srv" $label --streams 1000 --watchers 100000 --keys 100000 --puts 2000 --rate 200
done
