#!/usr/bin/env bash
# Builds the Docker image (multi-stage Dockerfile), runs it, and drives it with the real etcdctl;
# then brings up docker-compose.yml and does the same. Docker here is podman behind
# ../shared/tools/containers (no Docker engine and no registry on this machine: the base images
# are made locally by its setup.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
TOOLS=${CONTAINERS_TOOLS:-../shared/tools/containers}
REF=${ETCD_REFERENCE_DIR:-$HOME/.cache/etcd-reference}
CTL=$REF/etcd-3.5.1/etcdctl
PORT=${SWETCD_DOCKER_PORT:-32379}

bash "$TOOLS/setup.sh" | tail -n 2
. "${CONTAINERS_TOOL_DIR:-$HOME/.cache/containers-tool}/env.sh"

echo "--- docker build"
docker build -t swetcd . | tail -n 3

cleanup() {
  docker rm -f swetcd-docker-test >/dev/null 2>&1 || true
  SWETCD_PORT=$PORT SWETCD_PORT2=$((PORT + 1)) SWETCD_PORT3=$((PORT + 2)) docker compose down -v --remove-orphans >/dev/null 2>&1 || true
}
trap cleanup EXIT
cleanup

wait_get() {
  for _ in $(seq 150); do
    if "$CTL" --endpoints "127.0.0.1:$1" --dial-timeout 1s get probe >/dev/null 2>&1; then return 0; fi
    sleep 0.2
  done
  return 1
}

echo "--- docker run"
docker run -d --name swetcd-docker-test -p "127.0.0.1:$PORT:2379" swetcd >/dev/null
wait_get "$PORT" || { docker logs swetcd-docker-test | tail -n 20; exit 1; }
[ "$("$CTL" --endpoints "127.0.0.1:$PORT" put docker-key docker-value)" = "OK" ]
[ "$("$CTL" --endpoints "127.0.0.1:$PORT" get docker-key --print-value-only)" = "docker-value" ]
docker logs swetcd-docker-test 2>&1 | grep -q '"msg":"ready to serve client requests"'
# The runtime image carries swetcd and its shared libraries only: no Swift toolchain.
docker run --rm --entrypoint sh swetcd -c '! command -v swift && ldd /usr/local/bin/swetcd' | sed 's/^/  /'
docker run --rm swetcd --version | head -n 2 | sed 's/^/  /'
# Data survives a container restart (named volume / container filesystem).
docker restart swetcd-docker-test >/dev/null
wait_get "$PORT"
[ "$("$CTL" --endpoints "127.0.0.1:$PORT" get docker-key --print-value-only)" = "docker-value" ]
docker rm -f swetcd-docker-test >/dev/null

echo "--- the README's first command, as written, in a fresh swift:6.3-bookworm container (root, no sudo, no apt lists)"
# It must install the build dependencies, build and start a member on localhost:2379 with the
# default data dir; the container's shell waits for /health there, then stops it.
FIRST=$(awk '/^```sh$/ { getline; print; exit }' README.md)
echo "  $FIRST"
docker run --rm -v "$PWD:/src:ro" -e FIRST="$FIRST" swift:6.3-bookworm bash -c '
  set -e
  ! command -v sudo >/dev/null
  [ -z "$(ls /var/lib/apt/lists/ 2>/dev/null | grep -v -e lock -e partial -e auxfiles)" ] || echo "  (the image has apt lists)"
  mkdir /w && cd /src && tar --exclude=./.build --exclude="./.build-*" --exclude=./.git -cf - . | tar -C /w -xf - && cd /w
  bash -c "$FIRST" > /tmp/first.log 2>&1 &
  # Up to 20 minutes: the command builds swetcd from scratch (swift-crypto included) on 2 cores.
  for _ in $(seq 2400); do
    if exec 3<>/dev/tcp/127.0.0.1/2379 2>/dev/null; then
      printf "GET /health HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n" >&3
      if grep -q "\"health\":\"true\"" <&3; then
        test -d default.etcd/member/wal && echo "  member up on localhost:2379, data in ./default.etcd" && exit 0
      fi
    fi
    sleep 0.5
  done
  tail -n 30 /tmp/first.log
  exit 1
'

echo "--- docker compose: a three-member cluster, through a leader kill"
P1=$PORT; P2=$((PORT + 1)); P3=$((PORT + 2))
EPS="127.0.0.1:$P1,127.0.0.1:$P2,127.0.0.1:$P3"
export SWETCD_PORT=$P1 SWETCD_PORT2=$P2 SWETCD_PORT3=$P3
docker compose up -d --wait --wait-timeout 120
for p in $P1 $P2 $P3; do wait_get "$p"; done
"$CTL" --endpoints "$EPS" member list -w table
"$CTL" --endpoints "$EPS" endpoint status -w table
"$CTL" --endpoints "$EPS" endpoint health
status_json() { "$CTL" --endpoints "$EPS" --command-timeout 2s endpoint status -w json 2>/dev/null || true; }
leader_port() {  # the published port of the member all members agree leads
  status_json | python3 -c '
import json, sys
try:
    st = json.load(sys.stdin)
except ValueError:
    st = []
leaders = {s["Status"]["leader"] for s in st}
if len(st) >= 2 and len(leaders) == 1:
    for s in st:
        if s["Status"]["header"]["member_id"] in leaders:
            print(s["Endpoint"].rsplit(":", 1)[1])'
}
for i in $(seq 1 100); do [ "$("$CTL" --endpoints "$EPS" put "before/$i" "v$i")" = "OK" ]; done
LEADER=$(leader_port); [ -n "$LEADER" ]
case $LEADER in $P1) VICTIM=etcd1 ;; $P2) VICTIM=etcd2 ;; *) VICTIM=etcd3 ;; esac
OTHERS=$(echo "$EPS" | tr ',' '\n' | grep -v ":$LEADER\$" | paste -sd,)
echo "  leader: $VICTIM (127.0.0.1:$LEADER); docker kill"
KILLED_AT=$(date +%s.%N)
docker compose kill "$VICTIM" >/dev/null
# A new leader among the other two, and writes through them, within 3 s of the kill.
for _ in $(seq 1 300); do
  "$CTL" --endpoints "$OTHERS" --command-timeout 1s put after-kill x >/dev/null 2>&1 && break
  sleep 0.01
done
WROTE_AT=$(date +%s.%N)
ELAPSED=$(python3 -c "print(round($WROTE_AT - $KILLED_AT, 2))")
echo "  first write after the kill: ${ELAPSED} s"
python3 -c "import sys; sys.exit(0 if $ELAPSED < 3 else 1)"
for i in $(seq 1 100); do [ "$("$CTL" --endpoints "$OTHERS" put "after/$i" "v$i")" = "OK" ]; done
echo "  docker start $VICTIM: it catches up"
docker compose start "$VICTIM" >/dev/null
wait_get "$LEADER"
for _ in $(seq 1 100); do
  H=$("$CTL" --endpoints "$EPS" endpoint hashkv -w json 2>/dev/null | python3 -c 'import json,sys; print(len({h["HashKV"]["hash"] for h in json.load(sys.stdin)}))' 2>/dev/null || echo 0)
  [ "$H" = "1" ] && break
  sleep 0.2
done
[ "$H" = "1" ]
[ "$("$CTL" --endpoints "127.0.0.1:$LEADER" get after/100 --print-value-only --consistency=s)" = "v100" ]
[ "$("$CTL" --endpoints "$EPS" get before/ --prefix --keys-only | grep -c '^before/')" = "100" ]
"$CTL" --endpoints "$EPS" endpoint status -w table
# The data lives in the volumes: the whole cluster restarts with it.
docker compose stop >/dev/null
docker compose up -d --wait --wait-timeout 120
for p in $P1 $P2 $P3; do wait_get "$p"; done
[ "$("$CTL" --endpoints "$EPS" get after/100 --print-value-only)" = "v100" ]
docker compose down -v --remove-orphans >/dev/null
echo "docker test: passed"
