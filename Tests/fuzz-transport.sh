#!/bin/sh
# Builds the transport fuzzer (Sources/FuzzTransport: client bytes → sniffer → nghttp2 → gRPC
# framing/routing, or HTTP/1.1) with libFuzzer and AddressSanitizer and runs a bounded burst.
# Same conventions as Tests/fuzz.sh (FuzzEtcdProto).
#
#   Tests/fuzz-transport.sh                 200000 runs
#   Tests/fuzz-transport.sh -runs=1000000   any libFuzzer flags are passed on
#
# Build flags (see the top of Sources/FuzzTransport/main.swift):
#   swift build -c release --scratch-path .build-fuzz --product FuzzTransport \
#       -Xswiftc -sanitize=fuzzer,address -Xswiftc -use-ld=lld
#
# The working corpus is fuzz-corpus-transport/ (git-ignored; it grows across runs), seeded from the
# committed Tests/FuzzCorpus/Transport (valid exchanges captured from the unit tests' nghttp2 client;
# regenerate with `SWETCD_FUZZ_TRANSPORT_CORPUS=$PWD/Tests/FuzzCorpus/Transport swift test --filter
# FuzzTransportSeeder`). A crash is written as crash-<sha1> in the package root and replayed with
# `.build-fuzz/release/FuzzTransport crash-<sha1>` (or, without sanitizers, `swift run FuzzTransport crash-<sha1>`).
# On this shared machine, builds go through `swiftb` (a lock around `swift`) when it exists.
set -eu
cd "$(dirname "$0")/.."

SWIFT=swift
if command -v swiftb >/dev/null 2>&1; then SWIFT=swiftb; fi

$SWIFT build -c release --scratch-path .build-fuzz --product FuzzTransport \
    -Xswiftc -sanitize=fuzzer,address -Xswiftc -use-ld=lld

RUNS="-runs=200000"
for arg in "$@"; do
    case "$arg" in -runs=*) RUNS="" ;; esac
done

mkdir -p fuzz-corpus-transport
exec .build-fuzz/release/FuzzTransport $RUNS -max_len=8192 -print_final_stats=1 "$@" fuzz-corpus-transport Tests/FuzzCorpus/Transport
