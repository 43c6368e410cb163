#!/usr/bin/env python3
"""Overload: thousands of client connections, many of them slow readers, against a fresh
swetcd and a fresh real etcd in the same run. Reports peak RSS and /health latency throughout.

    /usr/bin/python3 Tests/bench/overload.py [--swetcd BIN] [--etcd BIN] [--connections 3000]
        [--slow-readers 200] [--streams-per-slow-reader 20] [--seconds 30]

- Idle connections: HTTP/2 preface and SETTINGS, then nothing (never read).
- Slow readers: a tiny socket receive buffer, never read; each sends `streams` unary Range
  requests whose answers are ~2.5 MiB each (40 keys of 64 KiB), so every answer has to wait in
  the server for a client that never takes it.
- Watch slow readers: one watch stream each on the busy key, never read, while a writer puts.
- Throughout: GET /health on a new connection every 0.2 s (latency, failures) and the server's
  RSS from /proc (peak). Whoever answers /health slowly or not at all, or grows without bound,
  shows it here.
"""
import argparse
import os
import resource
import shutil
import signal
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
REF = os.environ.get("ETCD_REFERENCE_DIR", os.path.expanduser("~/.cache/etcd-reference"))
PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"


def frame(ftype, flags, sid, payload=b""):
    n = len(payload)
    return struct.pack(">BHBBI", n >> 16, n & 0xFFFF, ftype, flags, sid) + payload


def hpack_literal(name, value):
    def enc(s):
        b = s.encode()
        assert len(b) < 127
        return bytes([len(b)]) + b
    return b"\x00" + enc(name) + enc(value)


def grpc_request(sid, path, message):
    headers = b"".join(hpack_literal(n, v) for n, v in [
        (":method", "POST"), (":scheme", "http"), (":path", path), (":authority", "x"),
        ("content-type", "application/grpc"), ("te", "trailers")])
    body = struct.pack(">BI", 0, len(message)) + message
    return frame(1, 0x4, sid, headers) + frame(0, 0x1, sid, body)


def pb_bytes(field, value):
    out, n = b"", len(value)
    while True:
        b = n & 0x7F
        n >>= 7
        out += bytes([b | (0x80 if n else 0)])
        if not n:
            break
    return bytes([(field << 3) | 2]) + out + value


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_kib(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def start(binary, work, name):
    port, peer = free_port(), free_port()
    url, purl = f"http://127.0.0.1:{port}", f"http://127.0.0.1:{peer}"
    log = open(os.path.join(work, name + ".log"), "wb")
    proc = subprocess.Popen([binary, "--name", name, "--data-dir", os.path.join(work, name + ".etcd"),
                             "--listen-client-urls", url, "--advertise-client-urls", url,
                             "--listen-peer-urls", purl, "--initial-advertise-peer-urls", purl,
                             "--initial-cluster", f"{name}={purl}"], stdout=log, stderr=subprocess.STDOUT)
    deadline = time.time() + 30
    while time.time() < deadline:
        try:
            with urllib.request.urlopen(url + "/health", timeout=1) as r:
                if r.status == 200:
                    return proc, port
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"{binary} did not start")


def kv_stub(port):
    sys.path.insert(0, os.path.join(ROOT, "Tests", "Integration"))
    import grpc
    import grpc_stubs
    rpc, rpc_grpc = grpc_stubs.load()
    return rpc, rpc_grpc.KVStub(grpc.insecure_channel(f"127.0.0.1:{port}"))


def run(binary, name, args, work):
    proc, port = start(binary, work, name)
    try:
        rpc, kv = kv_stub(port)
        value = os.urandom(64 * 1024)
        for i in range(40):
            kv.Put(rpc.PutRequest(key=b"big/%02d" % i, value=value), timeout=10)
        range_all = pb_bytes(1, b"big/") + pb_bytes(2, b"big0")
        sockets = []
        opened_at = time.time()
        for _ in range(args.connections):
            s = socket.create_connection(("127.0.0.1", port))
            s.sendall(PREFACE + frame(4, 0, 0))
            sockets.append(s)
        for _ in range(args.slow_readers):
            s = socket.socket()
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            s.connect(("127.0.0.1", port))
            reqs = b"".join(grpc_request(2 * k + 1, "/etcdserverpb.KV/Range", range_all) for k in range(args.streams_per_slow_reader))
            s.sendall(PREFACE + frame(4, 0, 0) + reqs)
            sockets.append(s)
        for _ in range(args.watchers):
            s = socket.socket()
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            s.connect(("127.0.0.1", port))
            create = pb_bytes(1, pb_bytes(1, b"busy"))
            headers = b"".join(hpack_literal(n, v) for n, v in [
                (":method", "POST"), (":scheme", "http"), (":path", "/etcdserverpb.Watch/Watch"), (":authority", "x"),
                ("content-type", "application/grpc"), ("te", "trailers")])
            s.sendall(PREFACE + frame(4, 0, 0) + frame(1, 0x4, 1, headers) + frame(0, 0, 1, struct.pack(">BI", 0, len(create)) + create))
            sockets.append(s)
        setup_seconds = time.time() - opened_at

        stop = threading.Event()
        writes = [0]

        def writer():
            blob = os.urandom(8 * 1024)
            while not stop.is_set():
                try:
                    kv.Put(rpc.PutRequest(key=b"busy", value=blob), timeout=10)
                    writes[0] += 1
                except Exception:
                    time.sleep(0.05)

        t = threading.Thread(target=writer, daemon=True)
        t.start()
        latencies, failures, peak = [], 0, 0
        end = time.time() + args.seconds
        while time.time() < end:
            r = rss_kib(proc.pid)
            if r:
                peak = max(peak, r)
            t0 = time.time()
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=5) as resp:
                    ok = resp.status == 200
            except OSError:
                ok = False
            latencies.append(time.time() - t0)
            failures += 0 if ok else 1
            time.sleep(0.2)
        stop.set()
        t.join(timeout=10)
        alive = proc.poll() is None
        for s in sockets:
            s.close()
        lat = sorted(latencies)
        return {
            "server": name, "alive": alive, "connections": args.connections, "slow_readers": args.slow_readers,
            "streams_per_slow_reader": args.streams_per_slow_reader, "watch_slow_readers": args.watchers,
            "setup_s": round(setup_seconds, 1), "peak_rss_mib": round(peak / 1024, 1),
            "health_checks": len(lat), "health_failed": failures,
            "health_p50_ms": round(statistics.median(lat) * 1000, 1), "health_p99_ms": round(lat[int(len(lat) * 0.99) - 1] * 1000, 1),
            "health_max_ms": round(lat[-1] * 1000, 1), "writes": writes[0],
        }
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--swetcd", default=os.path.join(ROOT, ".build", "release", "swetcd"))
    p.add_argument("--etcd", default=os.path.join(REF, "etcd-3.5.16", "etcd"))
    p.add_argument("--connections", type=int, default=3000)
    p.add_argument("--slow-readers", type=int, default=200)
    p.add_argument("--streams-per-slow-reader", type=int, default=20)
    p.add_argument("--watchers", type=int, default=200)
    p.add_argument("--seconds", type=int, default=30)
    p.add_argument("--only", choices=["swetcd", "etcd"])
    args = p.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    work = tempfile.mkdtemp(prefix="swetcd-overload-")
    try:
        for name, binary in (("etcd", args.etcd), ("swetcd", args.swetcd)):
            if args.only and args.only != name:
                continue
            print(run(binary, name, args, work), flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
