#!/usr/bin/env python3
"""Long power-loss run of swetcd on lazyfs (see powerloss.py for what a cycle does).

    python3 Tests/PowerLoss/run.py --cycles 200 --seed 1234
    python3 Tests/PowerLoss/run.py --cycles 50 --keep 0.5      # torn cuts: keep half of the unsynced pages
    python3 Tests/PowerLoss/run.py --cycles 50 --keep 0.5 --keep-only '*.wal'   # torn WAL tails only
    python3 Tests/PowerLoss/run.py --cycles 50 --model journal # ext4-like namespace durability

Prints one line per cycle and a summary (cycles, acknowledged writes checked, lost writes);
exits 1 if any write was lost, any anomaly seen, or swetcd failed to start after a cut.
Needs root (FUSE), python3-pyfuse3, fuse3, python3-grpcio, python3-grpc-tools, the release
binary (SWETCD_BIN) and etcdctl 3.5.1 (ETCD_REFERENCE_DIR, as the integration tests).
"""
import argparse
import json
import os
import random
import shutil
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import powerloss  # noqa: E402


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--cycles", type=int, default=20)
    p.add_argument("--seed", type=int, default=None, help="default: random (printed)")
    p.add_argument("--writers", type=int, default=3)
    p.add_argument("--max-run", type=float, default=6.0, help="longest write phase of a cycle, seconds")
    p.add_argument("--snapshot-count", type=int, default=100)
    p.add_argument("--model", choices=["strict", "journal"], default="strict",
                   help="lazyfs namespace durability model (see lazyfs.py)")
    p.add_argument("--keep", type=float, default=0.0,
                   help="torn cuts: keep each unsynced page / size / directory change with this probability")
    p.add_argument("--sync-after-first-start", action="store_true",
                   help="make everything durable once after swetcd's first start (cuts only in later "
                        "starts)")
    p.add_argument("--keep-only", metavar="GLOB",
                   help="with --keep: tear only files whose path matches GLOB (e.g. '*.wal'); the rest strict")
    p.add_argument("--aim", metavar="TEXT",
                   help="every cut aimed at a file-system event whose label contains TEXT (see powerloss.EVENTS)")
    p.add_argument("--go-on", action="store_true",
                   help="after swetcd fails to start, start over on an empty data dir instead of stopping")
    p.add_argument("--workdir", help="keep files here (default: a temporary dir, removed unless a cycle failed)")
    p.add_argument("--trace", action="store_true", help="lazyfs writes an operation trace (lazyfs.trace)")
    p.add_argument("--swetcd-flag", action="append", default=[], metavar="FLAG",
                   help="extra swetcd flag (repeatable), e.g. --swetcd-flag=--unsafe-no-fsync to see the test fail")
    p.add_argument("--json", help="write the summary here as JSON")
    a = p.parse_args()

    why = powerloss.fuse_available()
    if why:
        sys.exit(f"cannot run: {why}")
    seed = a.seed if a.seed is not None else random.randrange(1 << 31)
    workdir = a.workdir or tempfile.mkdtemp(prefix="swetcd-powerloss-")
    os.makedirs(workdir, exist_ok=True)
    print(f"power-loss run: seed {seed}, {a.cycles} cycles, model {a.model}, keep {a.keep}, workdir {workdir}", flush=True)
    run = powerloss.Run(seed, workdir, writers=a.writers, max_run=a.max_run, snapshot_count=a.snapshot_count,
                        model=a.model, keep=a.keep, keep_only=a.keep_only, trace=a.trace, report=lambda line: print(line, flush=True),
                        sync_after_bootstrap=a.sync_after_first_start, extra=a.swetcd_flag, aim=a.aim)
    started = time.time()
    try:
        summary = run.run(a.cycles, stop_on_start_failure=not a.go_on)
    except KeyboardInterrupt:
        run.close()
        summary = run.summary
    s = summary
    elapsed = time.time() - started
    print()
    print(f"summary (seed {seed}): {s['cycles']} cycles in {elapsed:.0f}s, {s['acked_checked']} acknowledged writes "
          f"checked, {s['lost_writes']} lost writes, {s['anomalies']} anomalies, {s['start_failures']} failed "
          f"restarts; {s['wal_replays']} restarts replayed {s['entries_replayed']} WAL entries past LMDB's "
          f"durable point, {s['torn_tail_repairs']} torn-tail repairs, {s['defrags']} defrags, {s['bytes_dropped']} "
          f"unsynced bytes and {s['entries_dropped']} directory entries dropped by cuts; "
          f"{s['ops'] / max(s['run_seconds'], 1e-9):.0f} file-system ops/s while writing")
    print("scenarios: " + ", ".join(f"{k}: {v}" for k, v in sorted(s["scenarios"].items())))
    if a.json:
        with open(a.json, "w") as f:
            json.dump(s, f, indent=1)
    failed = s["lost_writes"] or s["anomalies"] or s["start_failures"]
    if failed:
        print(f"FAILED: files kept in {workdir} (disk: lazyfs.py export {workdir}/disk DEST)")
    elif not a.workdir:
        shutil.rmtree(workdir, ignore_errors=True)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
