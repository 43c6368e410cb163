#!/usr/bin/python3
"""Server memory for one list of every key: KV.Range (one message) against KV.RangeStream (chunks).

    Tests/bench/range-stream-rss.py [--swetcd BIN] [--keys 1000000] [--value-size 100]

Loads the keys with etcd's `benchmark put` (distinct sequential keys), then, for each method, on
a freshly restarted server (so nothing earlier is in its peak): VmRSS before, one list of all
keys by a Python gRPC client that reads every answer to the end, the server's anonymous memory
(RssAnon, its heap) sampled every 20 ms meanwhile, and VmHWM after (which also counts LMDB's map
of the data file). Prints one line per method and the ratio of the heap growths.
"""
import argparse
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "Tests", "Integration"))
import grpc  # noqa: E402

import grpc_stubs  # noqa: E402

REF = os.environ.get("ETCD_REFERENCE_DIR", os.path.expanduser("~/.cache/etcd-reference"))
BENCH = os.path.join(REF, "bin", "benchmark")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def status_kib(pid, field):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(field)


class Server:
    def __init__(self, binary, data_dir):
        self.binary, self.data_dir = binary, data_dir
        self.port, self.peer = free_port(), free_port()
        self.proc = None

    def start(self):
        url, peer = f"http://127.0.0.1:{self.port}", f"http://127.0.0.1:{self.peer}"
        self.proc = subprocess.Popen(
            [self.binary, "--data-dir", self.data_dir, "--listen-client-urls", url, "--advertise-client-urls", url,
             "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer, "--initial-cluster", f"default={peer}",
             "--quota-backend-bytes", str(8 << 30)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        rpc, rpc_grpc = grpc_stubs.load()
        kv = rpc_grpc.KVStub(grpc.insecure_channel(f"127.0.0.1:{self.port}"))
        deadline = time.monotonic() + 60
        while True:
            try:
                kv.Range(rpc.RangeRequest(key=b"x"), timeout=2)
                return self
            except grpc.RpcError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=30)


def list_all(port, method):
    rpc, rpc_grpc = grpc_stubs.load()
    channel = grpc.insecure_channel(f"127.0.0.1:{port}", options=[("grpc.max_receive_message_length", (1 << 31) - 1)])
    kv = rpc_grpc.KVStub(channel)
    request = rpc.RangeRequest(key=b"\x00", range_end=b"\x00")
    start = time.monotonic()
    if method == "Range":
        n = len(kv.Range(request, timeout=600).kvs)
    else:
        n = 0
        for chunk in kv.RangeStream(request, timeout=600):
            n += len(chunk.range_response.kvs)
    return n, time.monotonic() - start


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--swetcd", default=os.path.join(ROOT, ".build", "release", "swetcd"))
    ap.add_argument("--keys", type=int, default=1_000_000)
    ap.add_argument("--value-size", type=int, default=100)
    ap.add_argument("--data-dir", help="reuse a data dir this script loaded before (kept when given)")
    args = ap.parse_args()
    data = args.data_dir or os.path.join(tempfile.mkdtemp(prefix="range-stream-rss-"), "data")
    loaded = os.path.exists(data)
    server = Server(args.swetcd, data).start()
    if not loaded:
        print(f"loading {args.keys} keys of {args.value_size}-byte values ...", flush=True)
        subprocess.run([BENCH, f"--endpoints=127.0.0.1:{server.port}", "--conns=10", "--clients=100", "put",
                        f"--total={args.keys}", f"--key-space-size={args.keys}", "--sequential-keys",
                        "--key-size=16", f"--val-size={args.value_size}"], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    server.stop()
    peaks = {}
    for method in ("Range", "RangeStream"):
        server.start()
        pid = server.proc.pid
        base = status_kib(pid, "RssAnon")
        # Anonymous memory (the server's heap) sampled while the list runs: the file-backed part
        # of RSS is LMDB's map of the data file, which any read of every key touches either way.
        anon_peak = [base]
        done = threading.Event()

        def sample():
            while not done.is_set():
                anon_peak[0] = max(anon_peak[0], status_kib(pid, "RssAnon"))
                time.sleep(0.02)
        sampler = threading.Thread(target=sample)
        sampler.start()
        n, seconds = list_all(server.port, method)
        done.set()
        sampler.join()
        hwm = status_kib(pid, "VmHWM")
        server.stop()
        peaks[method] = (base, anon_peak[0])
        print(f"{method:12s} keys {n:8d}  {seconds:6.1f} s  server heap (RssAnon) before {base / 1024:6.1f} MiB"
              f"  peak {anon_peak[0] / 1024:7.1f} MiB (+{(anon_peak[0] - base) / 1024:.1f})  VmHWM {hwm / 1024:7.1f} MiB", flush=True)
    grow = {m: p - b for m, (b, p) in peaks.items()}
    print(f"heap growth RangeStream/Range: {grow['RangeStream'] / max(1, grow['Range']):.3f}")


if __name__ == "__main__":
    main()
