#!/bin/sh
# Builds the EtcdProto decoder fuzzer (Sources/FuzzEtcdProto) with libFuzzer and AddressSanitizer
# and runs a bounded burst.
#
#   Tests/fuzz.sh                 200000 runs
#   Tests/fuzz.sh -runs=5000000   any libFuzzer flags are passed on
#
# Build flags (see the top of Sources/FuzzEtcdProto/main.swift for why each is there):
#   swift build -c release --scratch-path .build-fuzz --product FuzzEtcdProto \
#       -Xswiftc -sanitize=fuzzer,address -Xswiftc -use-ld=lld
#
# The corpus lives in fuzz-corpus/ (git-ignored) and grows across runs; seed it with valid encodings
# of every message type by `SWETCD_FUZZ_SEED_CORPUS=$PWD/fuzz-corpus swift test --filter FuzzCorpusSeeder`.
# A crash is written as crash-<sha1> in the package root and replayed with
# `.build-fuzz/release/FuzzEtcdProto crash-<sha1>` (or, without sanitizers, by a plain build:
# `swift run FuzzEtcdProto crash-<sha1>`).
# On this shared machine, builds go through `swiftb` (a lock around `swift`) when it exists.
set -eu
cd "$(dirname "$0")/.."

SWIFT=swift
if command -v swiftb >/dev/null 2>&1; then SWIFT=swiftb; fi

$SWIFT build -c release --scratch-path .build-fuzz --product FuzzEtcdProto \
    -Xswiftc -sanitize=fuzzer,address -Xswiftc -use-ld=lld

RUNS="-runs=200000"
for arg in "$@"; do
    case "$arg" in -runs=*) RUNS="" ;; esac
done

mkdir -p fuzz-corpus
exec .build-fuzz/release/FuzzEtcdProto $RUNS -max_len=4096 -print_final_stats=1 "$@" fuzz-corpus
