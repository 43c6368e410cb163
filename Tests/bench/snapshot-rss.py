#!/usr/bin/python3
"""Server memory while `etcdctl snapshot save` copies a large backend (Maintenance.Snapshot).

    Tests/bench/snapshot-rss.py [--swetcd BIN] [--keys 1000000] [--value-size 2000] [--data-dir D]

Loads the keys with etcd's `benchmark put`, restarts the server (so nothing earlier is in its
peak), then saves a snapshot with etcdctl 3.5.16 while sampling the server's anonymous memory
(RssAnon: its heap; the file-backed part of RSS is LMDB's map of the data file, which a copy of
every page touches either way) every 20 ms, and checks the file with `etcdutl snapshot status`.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(__file__))
import importlib  # noqa: E402

rss = importlib.import_module("range-stream-rss")

REF = rss.REF


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--swetcd", default=os.path.join(rss.ROOT, ".build", "release", "swetcd"))
    ap.add_argument("--keys", type=int, default=1_000_000)
    ap.add_argument("--value-size", type=int, default=2000)
    ap.add_argument("--data-dir", help="reuse a data dir this script loaded before (kept when given)")
    args = ap.parse_args()
    work = tempfile.mkdtemp(prefix="snapshot-rss-")
    data = args.data_dir or os.path.join(work, "data")
    loaded = os.path.exists(data)
    server = rss.Server(args.swetcd, data).start()
    if not loaded:
        print(f"loading {args.keys} keys of {args.value_size}-byte values ...", flush=True)
        subprocess.run([rss.BENCH, f"--endpoints=127.0.0.1:{server.port}", "--conns=10", "--clients=100", "put",
                        f"--total={args.keys}", f"--key-space-size={args.keys}", "--sequential-keys",
                        "--key-size=16", f"--val-size={args.value_size}"], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    server.stop()
    server.start()
    pid = server.proc.pid
    base = rss.status_kib(pid, "RssAnon")
    peak = [base]
    done = threading.Event()

    def sample():
        while not done.is_set():
            peak[0] = max(peak[0], rss.status_kib(pid, "RssAnon"))
            time.sleep(0.02)
    sampler = threading.Thread(target=sample)
    sampler.start()
    path = os.path.join(work, "snapshot.db")
    start = time.monotonic()
    subprocess.run([os.path.join(REF, "etcd-3.5.16", "etcdctl"), f"--endpoints=127.0.0.1:{server.port}",
                    "--command-timeout=1h", "snapshot", "save", path], check=True, capture_output=True)
    seconds = time.monotonic() - start
    done.set()
    sampler.join()
    server.stop()
    status = json.loads(subprocess.run([os.path.join(REF, "etcd-3.5.16", "etcdutl"), "snapshot", "status", path, "-w", "json"],
                                       check=True, capture_output=True, text=True).stdout)
    size = os.path.getsize(path)
    print(f"snapshot {size / (1 << 30):.2f} GiB in {seconds:.1f} s; etcdutl status: revision {status['revision']}, "
          f"{status['totalKey']} keys; server heap (RssAnon) before {base / 1024:.1f} MiB, "
          f"peak {peak[0] / 1024:.1f} MiB (+{(peak[0] - base) / 1024:.1f})", flush=True)
    os.remove(path)


if __name__ == "__main__":
    main()
