#!/usr/bin/python3
"""etcd's `benchmark` tool against a 3-member swetcd and a 3-member etcd in the same run, clients
spread over all three endpoints (the tool round-robins its connections over --endpoints).

    Tests/bench/cluster-bench.py [--swetcd BIN] [--etcd BIN] [--rounds 2] [--workloads put,txn-put,range-l,range-s]

Each (round, workload, server) gets a fresh cluster in a fresh directory; odd rounds run etcd
first, even rounds swetcd first. Reported: median req/s and p99 over the rounds, the ratio
swetcd/etcd, and each cluster's peak RSS per member (VmHWM, max over members and rounds).
A leader-kill probe follows: on a fresh cluster of each binary, a writer puts continuously; the
leader is SIGKILLed; the time to the first successful put after the kill is reported.
"""
import argparse
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

REF = os.environ.get("ETCD_REFERENCE_DIR", os.path.expanduser("~/.cache/etcd-reference"))
BENCH = os.path.join(REF, "bin", "benchmark")
CTL = os.path.join(REF, "etcd-3.5.16", "etcdctl")
ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))

WORKLOADS = {
    "put": "put --key-size=8 --sequential-keys --total=20000 --val-size=256",
    "put-many": "put --key-size=8 --sequential-keys --key-space-size=100000 --total=20000 --val-size=256",
    "range-l": "range foo --consistency=l --total=20000",
    "range-s": "range foo --consistency=s --total=20000",
    "txn-put": "txn-put --key-size=8 --val-size=256 --total=20000 --key-space-size=100000 --txn-ops=1",
    "lease-keepalive": "lease-keepalive --total=20000",
}


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Cluster:
    def __init__(self, binary, workdir, members=3):
        self.binary = binary
        self.workdir = workdir
        self.ports = [(free_port(), free_port()) for _ in range(members)]
        self.procs = []
        self.names = [f"m{i}" for i in range(members)]
        self.initial = ",".join(f"{n}=http://127.0.0.1:{p}" for n, (_, p) in zip(self.names, self.ports))

    @property
    def endpoints(self):
        return [f"127.0.0.1:{c}" for c, _ in self.ports]

    def start_member(self, i):
        c, p = self.ports[i]
        log = open(os.path.join(self.workdir, f"{self.names[i]}.log"), "ab")
        args = [self.binary, "--name", self.names[i], "--data-dir", os.path.join(self.workdir, self.names[i]),
                "--listen-client-urls", f"http://127.0.0.1:{c}", "--advertise-client-urls", f"http://127.0.0.1:{c}",
                "--listen-peer-urls", f"http://127.0.0.1:{p}", "--initial-advertise-peer-urls", f"http://127.0.0.1:{p}",
                "--initial-cluster", self.initial, "--initial-cluster-token", "bench"]
        env = {k: v for k, v in os.environ.items() if not k.startswith("ETCD")}
        proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, env=env)
        if i < len(self.procs):
            self.procs[i] = proc
        else:
            self.procs.append(proc)

    def start(self):
        for i in range(len(self.ports)):
            self.start_member(i)
        deadline = time.time() + 60
        while time.time() < deadline:
            if ctl(self.endpoints, "put", "foo", "v" * 256, timeout=5).returncode == 0:
                if all(ctl([e], "get", "foo", timeout=5).returncode == 0 for e in self.endpoints):
                    return self
            time.sleep(0.1)
        raise RuntimeError(f"{self.binary}: cluster not ready")

    def peak_rss_mib(self):
        peak = 0
        for proc in self.procs:
            try:
                with open(f"/proc/{proc.pid}/status") as f:
                    for line in f:
                        if line.startswith("VmHWM:"):
                            peak = max(peak, int(line.split()[1]) / 1024)
            except OSError:
                pass
        return peak

    def leader_index(self):
        import json
        r = ctl(self.endpoints, "endpoint", "status", "-w", "json", timeout=10)
        for st in json.loads(r.stdout or b"[]"):
            if st["Status"]["leader"] == st["Status"]["header"]["member_id"]:
                return self.endpoints.index(st["Endpoint"].replace("http://", ""))
        return None

    def stop(self):
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()


def ctl(endpoints, *args, timeout=10, command_timeout="3s"):
    env = {k: v for k, v in os.environ.items() if not k.startswith("ETCDCTL")}
    return subprocess.run([CTL, "--endpoints", ",".join(endpoints), "--dial-timeout", "2s", "--command-timeout", command_timeout, *args],
                          capture_output=True, timeout=timeout, env=env)


def parse(out):
    rps = p99 = None
    for line in out.splitlines():
        if "Requests/sec:" in line:
            rps = float(line.split()[-1])
        m = re.match(r"\s+99% in ([0-9.]+) secs", line)
        if m:
            p99 = float(m.group(1))
    return rps, p99


def run_workload(binary, workload, workdir):
    cluster = Cluster(binary, workdir).start()
    try:
        cmd = [BENCH, "--endpoints=" + ",".join(cluster.endpoints), "--conns=10", "--clients=100", *WORKLOADS[workload].split()]
        r = subprocess.run(cmd, capture_output=True, timeout=600)
        rps, p99 = parse(r.stdout.decode(errors="replace"))
        return rps, p99, cluster.peak_rss_mib()
    finally:
        cluster.stop()


def leader_kill(binary, workdir):
    """Seconds from SIGKILL of the leader to the first successful put, and to a new leader."""
    cluster = Cluster(binary, workdir).start()
    try:
        lead = cluster.leader_index()
        others = [e for i, e in enumerate(cluster.endpoints) if i != lead]
        cluster.procs[lead].kill()
        t0 = time.time()
        first_write = None
        while time.time() - t0 < 30:
            # Short attempts: a put that reached the dead leader (or a member still following it)
            # is lost, as in etcd; the next attempt goes to whoever leads by then.
            if ctl(others, "put", "after-kill", "x", timeout=5, command_timeout="300ms").returncode == 0:
                first_write = time.time() - t0
                break
        return first_write
    finally:
        cluster.stop()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--swetcd", default=os.path.join(ROOT, ".build", "release", "swetcd"))
    ap.add_argument("--etcd", default=os.path.join(REF, "etcd-3.5.16", "etcd"))
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--workloads", default="put,txn-put,range-l,range-s")
    ap.add_argument("--kills", type=int, default=3, help="leader-kill probes per binary")
    ap.add_argument("--only-kills", action="store_true", help="skip the workloads")
    args = ap.parse_args()
    servers = {"etcd": args.etcd, "swetcd": args.swetcd}
    results = {}
    base = tempfile.mkdtemp(prefix="cluster-bench-")
    try:
        for r in range(0 if args.only_kills else args.rounds):
            order = ["etcd", "swetcd"] if r % 2 == 0 else ["swetcd", "etcd"]
            for w in args.workloads.split(","):
                for name in order:
                    d = os.path.join(base, f"r{r}-{w}-{name}")
                    os.makedirs(d)
                    rps, p99, rss = run_workload(servers[name], w, d)
                    results.setdefault((w, name), []).append((rps, p99, rss))
                    print(f"round {r + 1} {w:10s} {name:7s} {rps} req/s p99 {p99} s peak {rss:.1f} MiB", flush=True)
        kills = {}
        for name in ["etcd", "swetcd"]:
            for k in range(args.kills):
                d = os.path.join(base, f"kill{k}-{name}")
                os.makedirs(d)
                kills.setdefault(name, []).append(leader_kill(servers[name], d))
        print()
        print(f"{'workload':10s} {'etcd req/s':>11s} {'swetcd req/s':>13s} {'ratio':>6s} {'etcd p99 ms':>12s} {'swetcd p99 ms':>14s} {'etcd MiB':>9s} {'swetcd MiB':>11s}")
        for w in args.workloads.split(",") if not args.only_kills else []:
            e, s = results[(w, "etcd")], results[(w, "swetcd")]
            med = lambda rows, i: statistics.median([x[i] for x in rows if x[i] is not None]) if any(x[i] is not None for x in rows) else float("nan")
            erps, srps = med(e, 0), med(s, 0)
            print(f"{w:10s} {erps:11.0f} {srps:13.0f} {srps / erps:6.2f} {med(e, 1) * 1000:12.1f} {med(s, 1) * 1000:14.1f} "
                  f"{max(x[2] for x in e):9.1f} {max(x[2] for x in s):11.1f}")
        for name, times in kills.items():
            shown = ", ".join("none" if t is None else f"{t:.2f}" for t in times)
            print(f"leader kill -> first write ({name}): {shown} s")
    finally:
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
