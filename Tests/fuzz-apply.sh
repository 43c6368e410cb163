#!/bin/sh
# Builds the apply-path fuzzer (Sources/FuzzApply: random log entries applied to a fresh store, as
# the raft thread applies them, each input twice with different batching) with libFuzzer and
# AddressSanitizer, and runs a bounded burst.
#
#   Tests/fuzz-apply.sh                  100000 runs
#   Tests/fuzz-apply.sh -runs=10000000   any libFuzzer flags are passed on
#
# Build flags: see the top of Sources/FuzzEtcdProto/main.swift. The corpus grows in
# fuzz-corpus-apply/ (git-ignored), seeded with well-formed entries of every kind
# (`FuzzApply --write-seeds`). A crash is written as crash-<sha1> in the package root and replayed
# with `.build-fuzz/release/FuzzApply crash-<sha1>`.
set -eu
cd "$(dirname "$0")/.."

SWIFT=swift
if command -v swiftb >/dev/null 2>&1; then SWIFT=swiftb; fi

$SWIFT build -c release --scratch-path .build-fuzz --product FuzzApply \
    -Xswiftc -sanitize=fuzzer,address -Xswiftc -use-ld=lld

RUNS="-runs=100000"
for arg in "$@"; do
    case "$arg" in -runs=*) RUNS="" ;; esac
done

mkdir -p fuzz-corpus-apply
.build-fuzz/release/FuzzApply --write-seeds fuzz-corpus-apply
# detect_leaks=0: LMDB keeps its environment's buffers until close, which every input does, but
# libFuzzer's leak check runs per input and would flag the map of the harness still open.
# SWIFT_BACKTRACE=enable=no: Swift's crash reporter reads the crashed stack in ways AddressSanitizer
# reports as a second error; the fatalError message is what matters. Tests/FuzzCorpus/Apply holds
# inputs that once failed (replayed first, every run).
SWIFT_BACKTRACE=enable=no ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=0} \
exec .build-fuzz/release/FuzzApply $RUNS -max_len=4096 -print_final_stats=1 "$@" fuzz-corpus-apply Tests/FuzzCorpus/Apply
