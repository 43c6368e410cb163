#!/usr/bin/env bash
# The whole swetcd test suite (README's second command). Needs what .ci/run installs: the
# build dependencies, ../shared/tools/etcd-reference/setup.sh (real etcd + etcdctl + e2e suite),
# protoc, pytest and grpcio for the system python3.
#
#   Tests/run.sh            everything
#   SKIP_E2E=1 SKIP_DOCKER=1 Tests/run.sh   without etcd's e2e suite / the container test
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
REF_TOOLS=${REF_TOOLS:-$ROOT/../shared/tools/etcd-reference}
export ETCD_REFERENCE_DIR=${ETCD_REFERENCE_DIR:-$HOME/.cache/etcd-reference}
PY=/usr/bin/python3
failed=()
step() { echo; echo "=== $*"; }

# etcd 3.4.23's e2e suite: the KV, lease, watch, lock, elect and defrag tests on one member, and the
# tests that run a 3-member cluster (endpoints, quorum reads, move-leader, member list/add/remove/
# update, peer TLS with allowed CN / host name, unix peers; snapshot save/status/restore). TestCtlV3Alarm is left out: it encodes 3.4's /health
# body (no "reason"), which etcd 3.5 fails too; the 3.5.16 suite below runs it.
E2E_KV='^(TestCtlV3Lease.*|TestCtlV3Put|TestCtlV3PutNoTLS|TestCtlV3PutClientTLS|TestCtlV3PutClientAutoTLS|TestCtlV3PutPeerTLS|TestCtlV3PutTimeout|TestCtlV3PutClientTLSFlagByEnv|TestCtlV3PutIgnoreValue|TestCtlV3Get|TestCtlV3GetNoTLS|TestCtlV3GetClientTLS|TestCtlV3GetClientAutoTLS|TestCtlV3GetPeerTLS|TestCtlV3GetTimeout|TestCtlV3GetFormat|TestCtlV3GetRev|TestCtlV3GetKeysOnly|TestCtlV3GetRevokedCRL|TestCtlV3Del|TestCtlV3DelNoTLS|TestCtlV3DelClientTLS|TestCtlV3DelPeerTLS|TestCtlV3DelTimeout|TestCtlV3TxnInteractiveSuccess|TestCtlV3TxnInteractiveSuccessNoTLS|TestCtlV3TxnInteractiveSuccessClientTLS|TestCtlV3TxnInteractiveSuccessPeerTLS|TestCtlV3TxnInteractiveFail|TestCtlV3Compact|TestCtlV3CompactPhysical|TestCtlV3Version|TestCtlV3DialWithHTTPScheme|TestCtlV3Watch|TestCtlV3WatchNoTLS|TestCtlV3WatchClientTLS|TestCtlV3WatchPeerTLS|TestCtlV3WatchTimeout|TestCtlV3WatchInteractive|TestCtlV3WatchInteractiveNoTLS|TestCtlV3WatchInteractiveClientTLS|TestCtlV3WatchInteractivePeerTLS|TestCtlV3Lock|TestCtlV3Elect|TestCtlV3Defrag|TestCtlV3MakeMirror.*|TestCtlV3EndpointHealth|TestCtlV3EndpointStatus|TestCtlV3EndpointHashKV|TestCtlV3GetQuorum|TestCtlV3Member.*|TestCtlV3MoveLeaderScenarios|TestEtcdMultiPeer|TestEtcdUnixPeers|TestEtcdPeerCNAuth|TestEtcdPeerNameAuth|TestCtlV3Snapshot|TestCtlV3SnapshotCorrupt|TestCtlV3SnapshotStatusBeforeRestore|TestIssue6361)$'

# etcd 3.5.16's e2e suite (the suite of record): single-member behaviour (alarms, TLS versions,
# bootstrap defrag, the rejected-connection log line, watch delete events and progress
# notifications, health) and fixed 3-member clusters (endpoints, quorum reads, move-leader, member
# list, peer TLS with allowed CNs and host names, cluster version, in-place recovery, failover on
# defrag, leases across leader changes, the metrics endpoint; member add/remove/update and
# replacing a member on a new data dir; snapshot save, status and restore with etcdctl and etcdutl). TestAuthority (almost 4 minutes)
# runs on its own with a longer limit.
# TestHTTPHealthHandler passes most runs; its network-partition case races the test's proxy
# (the first health check may go out before the blackhole takes), so it is not run here.
E2E35='^(TestCtlV3Alarm|TestCtlV3Put|TestCtlV3PutNoTLS|TestCtlV3PutClientTLS|TestCtlV3Get|TestCtlV3GetNoTLS|TestCtlV3GetRev|TestCtlV3Del|TestCtlV3Watch|TestCtlV3TxnInteractiveSuccess|TestCtlV3LeaseKeepAlive|TestCtlV3Version|TestDeleteEventDrop_Issue18089|TestEtcdTLSVersion|TestBootstrapDefragFlag|TestConnectionRejectMessage|TestWatchDelayForPeriodicProgressNotification|TestWatchDelayForManualProgressNotification|TestWatchDelayForEvent|TestVerifyHashKVAfterCompact|TestServerJsonLogging|TestCtlV3EndpointHealth|TestCtlV3EndpointStatus|TestCtlV3EndpointHashKV|TestCtlV3GetQuorum|TestCtlV3MoveLeaderScenarios|TestCtlV3Member.*|TestMemberReplace|TestCtlV3Snapshot.*|TestIssue6361.*|TestRestoreCompactionRevBump|TestEtcdMultiPeer|TestEtcdUnixPeers|TestEtcdPeerCNAuth|TestEtcdPeerMultiCNAuth|TestEtcdPeerNameAuth|TestEtcdListenMetricsURLsWithMissingClientTLSInfo|TestClusterVersion|TestInPlaceRecovery|TestFailoverOnDefrag|TestLeaseRevoke_IgnoreOldLeader|TestLeaseRevoke_ClientSwitchToOtherMember|TestV3MetricsSecure|TestV3MetricsInsecure)$'

step "test dependencies"
# What the tests use besides the build: protoc (codec cross-check), pytest + grpcio + grpcio-tools
# for the system python3 (integration tests, third-party client), fuse3 + pyfuse3 (power-loss
# test), openssl (test certificates),
# and real etcd 3.5.1 / etcdctl 3.5.1 + 3.4.23 / etcd's e2e suite and benchmark tool.
need=()
command -v protoc >/dev/null || need+=(protobuf-compiler)
command -v openssl >/dev/null || need+=(openssl)
command -v curl >/dev/null || need+=(curl)
$PY -c 'import pytest' 2>/dev/null || need+=(python3-pytest)
$PY -c 'import grpc, grpc_tools, google.protobuf' 2>/dev/null || need+=(python3-grpcio python3-grpc-tools python3-protobuf)
$PY -c 'import h2' 2>/dev/null || need+=(python3-h2)
# the power-loss test's FUSE file system (lazyfs)
$PY -c 'import pyfuse3' 2>/dev/null || need+=(python3-pyfuse3)
command -v fusermount3 >/dev/null || need+=(fuse3)
# the corruption-check test corrupts a member's LMDB file in place
$PY -c 'import lmdb' 2>/dev/null || need+=(python3-lmdb)
# the metrics test reads /metrics with Prometheus' own text parser
$PY -c 'import prometheus_client' 2>/dev/null || need+=(python3-prometheus-client)
if [ ${#need[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO=sudo
  $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
# setup.sh is idempotent (seconds when done); Tests/tools/drain-head keeps its `| head -1`
# from killing etcdctl with SIGPIPE (see that script).
if ! PATH="$ROOT/Tests/tools/drain-head:$PATH" bash "$REF_TOOLS/setup.sh" > /tmp/swetcd-reference-setup.log 2>&1; then
  cat /tmp/swetcd-reference-setup.log
  echo "etcd-reference setup failed"
  exit 1
fi
tail -n 1 /tmp/swetcd-reference-setup.log
if [ -z "${SKIP_E2E:-}" ]; then
  # etcd 3.5.16's own e2e suite (seconds when already built).
  if ! bash "$REF_TOOLS/setup35.sh" > /tmp/swetcd-reference-setup35.log 2>&1; then
    tail -n 30 /tmp/swetcd-reference-setup35.log
    echo "etcd-reference setup35 failed"
    exit 1
  fi
  tail -n 1 /tmp/swetcd-reference-setup35.log
fi

step "build (release)"
swift build -c release --product swetcd
BIN=$ROOT/.build/release/swetcd

step "unit tests"
# The full log stays in /tmp/swetcd-unit-tests.log; what failed is printed here.
if swift test --parallel > /tmp/swetcd-unit-tests.log 2>&1; then
  grep -E "^(✔ Test run|Executed .* tests)" /tmp/swetcd-unit-tests.log || tail -n 3 /tmp/swetcd-unit-tests.log
else
  grep -E "✘|error:|Fatal error|failed \(" /tmp/swetcd-unit-tests.log | head -n 60 || true
  tail -n 15 /tmp/swetcd-unit-tests.log
  failed+=("unit tests")
fi

step "integration tests (real etcdctl 3.5.1 / 3.4.23, real etcd 3.5.1, python grpcio)"
SWETCD_BIN=$BIN $PY -m pytest -q -p no:cacheprovider Tests/Integration || failed+=("integration tests")

step "cluster faults: 3 members under kill -9, SIGSTOP, partitions, a lagging follower; linearizability checked"
(cd Tests/Cluster && SWETCD_BIN=$BIN FAULT_SECONDS=${FAULT_SECONDS:-60} $PY -m pytest -q -p no:cacheprovider .) || failed+=("cluster faults")

if [ -z "${SKIP_E2E:-}" ]; then
  step "etcd 3.4.23's e2e suite: KV, lease, watch and 3-member subset"
  "$REF_TOOLS/e2e.sh" --timeout 20m "$BIN" "$E2E_KV" || failed+=("etcd 3.4 e2e subset")
  step "etcd 3.5.16's e2e suite: single-member and 3-member subset"
  E2E35_TEST_TIMEOUT_S=180 "$REF_TOOLS/e2e35.sh" "$BIN" "$E2E35" || failed+=("etcd 3.5.16 e2e subset")
  step "etcd 3.5.16's TestAuthority: the :authority clients send, on 1- and 3-member clusters, TLS and not (about 4 minutes)"
  E2E35_TEST_TIMEOUT_S=420 "$REF_TOOLS/e2e35.sh" "$BIN" '^TestAuthority$' || failed+=("etcd 3.5.16 TestAuthority")
fi

if [ -z "${SKIP_DOCKER:-}" ]; then
  step "docker image and compose (podman through ../shared/tools/containers)"
  Tests/docker-test.sh || failed+=("docker")
fi

step "fuzz burst"
Tests/fuzz.sh -runs=${FUZZ_RUNS:-200000} || failed+=("fuzz")
step "fuzz burst: transport (gRPC/HTTP/2 input path)"
Tests/fuzz-transport.sh -runs=${FUZZ_TRANSPORT_RUNS:-100000} || failed+=("fuzz transport")
step "fuzz burst: apply path (log entries applied to fresh stores)"
Tests/fuzz-apply.sh -runs=${FUZZ_APPLY_RUNS:-200000} || failed+=("fuzz apply")

echo
if [ ${#failed[@]} -eq 0 ]; then
  echo "ALL PASSED"
else
  echo "FAILED: ${failed[*]}"
  exit 1
fi
