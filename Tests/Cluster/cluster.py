"""Start and abuse an N-member cluster of swetcd or etcd on 127.0.0.1.

    with Cluster(binary, size=3) as c:       # temp dir, free ports, waits until ready
        leader = c.leader()                  # Maintenance.Status: leader == header.member_id
        c.kill(leader); c.restart(leader)    # kill -9, then start again on the same data dir
        c.pause(m); c.resume(m)              # SIGSTOP / SIGCONT
        c.partition(m); c.heal(m)            # blackhole m's peer traffic, both directions
        c.wait_ready()                       # every member answers a linearizable Range

Readiness is only ever decided by observing the servers (gRPC calls with short deadlines,
retried until an overall deadline); nothing sleeps to guess.

Partitions go through a TCP proxy per member (peerproxy.py, in a process of its own): each
member advertises the proxy's port in --initial-advertise-peer-urls / --initial-cluster, the
proxy forwards to its real --listen-peer-urls and can blackhole all peer traffic to and from
one member.
"""

from __future__ import annotations

import atexit
import os
import random
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from typing import Dict, List, Optional

import grpc

import stubs
from peerproxy import PeerProxy

REF = os.environ.get("ETCD_REFERENCE_DIR", os.path.expanduser("~/.cache/etcd-reference"))
ROOT = stubs.ROOT
ETCD = os.path.join(REF, "etcd-3.5.16", "etcd")
ETCDCTL = os.path.join(REF, "etcd-3.5.16", "etcdctl")
SWETCD = os.environ.get("SWETCD_BIN", os.path.join(ROOT, ".build", "release", "swetcd"))

# Reconnect quickly after a member comes back. gRPC's default backoff grows to two minutes,
# and after a refused connection a channel to "host:port" only retries once its resolver may
# re-resolve (every 30 s by default). Not set: grpc.min_reconnect_backoff_ms, which is also the
# connect+handshake deadline (100 ms of it fails handshakes on a busy machine).
CHANNEL_OPTIONS = [
    ("grpc.initial_reconnect_backoff_ms", 100),
    ("grpc.max_reconnect_backoff_ms", 500),
    ("grpc.dns_min_time_between_resolutions_ms", 100),
    ("grpc.enable_retries", 0),   # no transparent retries: each call is sent at most once
]


_handed_out = set()
_port_lock = threading.Lock()
_port_rng = random.Random()     # not the test seed: ports must differ between concurrent runs


def _ephemeral_range():
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            lo, hi = (int(x) for x in f.read().split())
            return lo, hi
    except (OSError, ValueError):
        return 32768, 60999


def free_port() -> int:
    """A port free now, chosen below the kernel's ephemeral range: bind(0) and outgoing
    connections never take those, so a member's port stays free while the member is down
    between a kill and its restart (a port from bind(0) can be taken by any connect())."""
    lo, _ = _ephemeral_range()
    with _port_lock:
        for _ in range(1000):
            port = _port_rng.randrange(10000, lo) if lo > 11000 else 0
            if port in _handed_out:
                continue
            with socket.socket() as s:
                try:
                    s.bind(("127.0.0.1", port))
                except OSError:
                    continue
                port = s.getsockname()[1]
            _handed_out.add(port)
            return port
    raise ClusterError("no free port found")


def channel(address: str) -> grpc.Channel:
    return grpc.insecure_channel(address, options=CHANNEL_OPTIONS)


class ClusterError(RuntimeError):
    pass


# ---------------------------------------------------------------------------------------------
# Members and cluster
# ---------------------------------------------------------------------------------------------

class Member:
    def __init__(self, name: str, workdir: str):
        self.name = name
        self.data_dir = os.path.join(workdir, name + ".etcd")
        self.log_path = os.path.join(workdir, name + ".log")
        self.client_port = free_port()
        self.peer_port = free_port()        # --listen-peer-urls
        self.advertised_peer_port = self.peer_port   # the proxy's port when proxied
        self.proc: Optional[subprocess.Popen] = None
        self.member_id: Optional[int] = None
        self.paused = False
        self.expected_down = False          # killed on purpose (so an exit is no crash)
        # How the member starts: "new" with the cluster's --initial-cluster, or "existing" with
        # the --initial-cluster `member add` printed for it.
        self.cluster_state = "new"
        self.initial_cluster: Optional[str] = None
        self.extra_args: List[str] = []     # this member's own flags (after the cluster's)
        self.binary: Optional[str] = None   # another binary than the cluster's (mixed clusters)
        self._channel = None
        self._log = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.client_port}"

    @property
    def client_url(self) -> str:
        return f"http://{self.address}"

    @property
    def pid(self) -> Optional[int]:
        return self.proc.pid if self.proc and self.proc.poll() is None else None

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def channel(self) -> grpc.Channel:
        if self._channel is None:
            self._channel = channel(self.address)
        return self._channel

    def kv(self):
        return stubs.load().rpc_pb2_grpc.KVStub(self.channel())

    def maintenance(self):
        return stubs.load().rpc_pb2_grpc.MaintenanceStub(self.channel())

    def log_tail(self, chars=4000) -> str:
        try:
            with open(self.log_path, "rb") as f:
                f.seek(0, 2)
                f.seek(max(0, f.tell() - chars))
                return f.read().decode(errors="replace")
        except OSError:
            return ""

    def __repr__(self):
        return f"<{self.name} client={self.client_port} peer={self.peer_port}/{self.advertised_peer_port}>"


_running: List["Cluster"] = []


@atexit.register
def _stop_all():
    """Members must not outlive the test process (an exception or Ctrl-C on the way out)."""
    for c in list(_running):
        c.stop()


class Cluster:
    def __init__(self, binary: str = SWETCD, size: int = 3, workdir: Optional[str] = None,
                 proxy: bool = True, heartbeat_ms: int = 50, election_ms: int = 500,
                 snapshot_count: Optional[int] = None, extra_args=(), token: str = "fault-test",
                 keep_workdir: bool = False):
        self.binary = binary
        self.own_workdir = workdir is None
        self.workdir = workdir or tempfile.mkdtemp(prefix="swetcd-cluster-")
        self.keep_workdir = keep_workdir
        self.heartbeat_ms = heartbeat_ms
        self.election_ms = election_ms
        self.snapshot_count = snapshot_count
        self.extra_args = list(extra_args)
        self.token = token
        self.members: List[Member] = [Member(f"m{i}", self.workdir) for i in range(size)]
        self.proxy = PeerProxy() if proxy else None
        # Starting and stopping processes are serialized, and nothing starts once stop() has
        # begun (a nemesis thread may still be restarting a member when the test gives up).
        self._lifecycle = threading.RLock()
        self._stopped = False
        _running.append(self)
        if self.proxy:
            for m in self.members:
                m.advertised_peer_port = self.proxy.add(m.name, m.peer_port)

    # -- lifecycle ------------------------------------------------------------------------------
    def _pids(self) -> Dict[str, int]:
        return {m.name: m.proc.pid for m in self.members if m.proc is not None and m.proc.poll() is None}

    def _tell_proxy(self):
        """The proxy attributes connections to members by process: keep it told who runs.
        (A member needs far longer to start dialing peers than this takes.)"""
        if self.proxy:
            self.proxy.set_pids(self._pids())

    def initial_cluster(self) -> str:
        return ",".join(f"{m.name}=http://127.0.0.1:{m.advertised_peer_port}" for m in self.members)

    def args(self, m: Member) -> List[str]:
        a = [m.binary or self.binary, "--name", m.name, "--data-dir", m.data_dir,
             "--listen-client-urls", m.client_url, "--advertise-client-urls", m.client_url,
             "--listen-peer-urls", f"http://127.0.0.1:{m.peer_port}",
             "--initial-advertise-peer-urls", f"http://127.0.0.1:{m.advertised_peer_port}",
             "--initial-cluster", m.initial_cluster or self.initial_cluster(), "--initial-cluster-token", self.token,
             "--initial-cluster-state", m.cluster_state,
             "--heartbeat-interval", str(self.heartbeat_ms), "--election-timeout", str(self.election_ms)]
        if self.snapshot_count is not None:
            a += ["--snapshot-count", str(self.snapshot_count)]
        return a + self.extra_args + m.extra_args

    def start_member(self, m: Member):
        with self._lifecycle:
            self._start_member(m)

    def _start_member(self, m: Member):
        if self._stopped:
            raise ClusterError("the cluster has been stopped")
        if m.alive():
            raise ClusterError(f"{m.name} is already running")
        env = {k: v for k, v in os.environ.items() if not k.startswith("ETCD")}
        if m._log is None:
            m._log = open(m.log_path, "ab")
        m._log.write(f"\n===== start {time.strftime('%H:%M:%S')} =====\n".encode())
        m._log.flush()
        m.proc = subprocess.Popen(self.args(m), stdout=m._log, stderr=subprocess.STDOUT, env=env,
                                  cwd=self.workdir)
        self._tell_proxy()
        m.paused = False
        m.expected_down = False

    def new_member(self, name: str) -> Member:
        """A member that is not in the cluster yet (for `member add`): its ports (and its proxy
        port), not started. Start it with `--initial-cluster-state existing` once added."""
        with self._lifecycle:
            m = Member(name, self.workdir)
            if self.proxy:
                m.advertised_peer_port = self.proxy.add(m.name, m.peer_port)
            m.cluster_state = "existing"
            self.members.append(m)
            return m

    def forget(self, m: Member):
        """Stops tracking a member removed from the cluster (it stops itself; killed if not)."""
        with self._lifecycle:
            if m.alive():
                self._kill(m, signal.SIGKILL)
            self._drop_channel(m)
            if m._log:
                m._log.close()
                m._log = None
            self.members.remove(m)

    def peer_url(self, m: Member) -> str:
        return f"http://127.0.0.1:{m.advertised_peer_port}"

    def start(self, timeout: float = 60):
        try:
            for m in self.members:
                self.start_member(m)
            self.wait_ready(timeout=timeout)
            self.learn_ids(timeout=timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def learn_ids(self, timeout: float = 30):
        deadline = time.monotonic() + timeout
        for m in self.members:
            while m.member_id is None:
                st = self.status(m)
                if st is not None:
                    m.member_id = st.header.member_id
                elif time.monotonic() > deadline:
                    raise ClusterError(f"{m.name}: no Status answer within {timeout}s\n{m.log_tail()}")
                else:
                    time.sleep(0.05)

    def kill(self, m: Member, sig=signal.SIGKILL):
        """kill -9 (default) and reap."""
        with self._lifecycle:
            self._kill(m, sig)

    def _kill(self, m: Member, sig):
        if m.alive():
            m.expected_down = True
            if m.paused:
                os.kill(m.proc.pid, signal.SIGCONT)   # a stopped process still dies of SIGKILL, but reap cleanly
            m.proc.send_signal(sig)
            m.proc.wait(timeout=30)
            self._tell_proxy()
        m.paused = False
        m.expected_down = True
        self._drop_channel(m)

    def restart(self, m: Member):
        with self._lifecycle:
            self.kill(m)
            self.start_member(m)

    def pause(self, m: Member):
        with self._lifecycle:
            if m.alive():
                os.kill(m.proc.pid, signal.SIGSTOP)
                m.paused = True

    def resume(self, m: Member):
        with self._lifecycle:
            if m.alive():
                os.kill(m.proc.pid, signal.SIGCONT)
            m.paused = False

    def partition(self, m: Member):
        with self._lifecycle:
            if not self.proxy:
                raise ClusterError("no peer proxy (not started with one, or stopped)")
            self.proxy.partition(m.name)

    def heal(self, m: Optional[Member] = None):
        with self._lifecycle:
            if self.proxy:
                self.proxy.heal(None if m is None else m.name)

    def crashed(self) -> List[Member]:
        """Members whose process exited without being killed on purpose."""
        return [m for m in self.members if m.proc is not None and m.proc.poll() is not None and not m.expected_down]

    def stop(self):
        with self._lifecycle:
            self._stopped = True
            self._stop()

    def _stop(self):
        if self in _running:
            _running.remove(self)
        for m in self.members:
            if m.alive():
                if m.paused:
                    os.kill(m.proc.pid, signal.SIGCONT)
                m.expected_down = True
                m.proc.kill()
                m.proc.wait(timeout=30)
            self._drop_channel(m)
            if m._log:
                m._log.close()
                m._log = None
        if self.proxy:
            self.proxy.close()
            self.proxy = None
        if self.own_workdir and not self.keep_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def _drop_channel(self, m: Member):
        if m._channel is not None:
            m._channel.close()
            m._channel = None

    # -- observations ---------------------------------------------------------------------------
    def member_by_id(self, member_id: int) -> Optional[Member]:
        return next((m for m in self.members if m.member_id == member_id), None)

    def status(self, m: Member, timeout: float = 0.5):
        """Maintenance.Status, or None if it does not answer in time."""
        if not m.alive() or m.paused:
            return None
        pb = stubs.load().rpc_pb2
        try:
            return m.maintenance().Status(pb.StatusRequest(), timeout=timeout)
        except grpc.RpcError:
            return None

    def linearizable_get(self, m: Member, key: bytes = b"health-probe", timeout: float = 1.0):
        pb = stubs.load().rpc_pb2
        return m.kv().Range(pb.RangeRequest(key=key), timeout=timeout)

    def answers(self, m: Member, timeout: float = 1.0) -> bool:
        try:
            self.linearizable_get(m, timeout=timeout)
            return True
        except grpc.RpcError:
            return False

    def current_leader(self, members=None) -> Optional[Member]:
        """The member that says it leads (leader == its own member_id), in one poll. If two do
        (a deposed leader that has not heard of the new term yet), the higher term wins."""
        best = None
        for m in members or self.members:
            st = self.status(m)
            if st is not None and st.leader != 0 and st.leader == st.header.member_id:
                if best is None or st.raftTerm > best[1]:
                    best = (m, st.raftTerm)
        return best[0] if best else None

    def leader(self, timeout: float = 30, members=None) -> Member:
        deadline = time.monotonic() + timeout
        while True:
            m = self.current_leader(members)
            if m is not None:
                return m
            self._check_crashes()
            if time.monotonic() > deadline:
                raise ClusterError(f"no leader within {timeout}s")
            time.sleep(0.02)

    def followers(self) -> List[Member]:
        lead = self.leader()
        return [m for m in self.members if m is not lead]

    def _check_crashes(self):
        bad = self.crashed()
        if bad:
            raise ClusterError("member(s) exited on their own: " + ", ".join(
                f"{m.name} (exit {m.proc.returncode})\n{m.log_tail()}" for m in bad))

    def wait_ready(self, members=None, timeout: float = 60):
        """Until every member (alive, not paused) answers a linearizable Range."""
        deadline = time.monotonic() + timeout
        pending = [m for m in (members or self.members)]
        while pending:
            self._check_crashes()
            pending = [m for m in pending if not self.answers(m, timeout=1.0)]
            if pending and time.monotonic() > deadline:
                raise ClusterError(f"not ready within {timeout}s: {[m.name for m in pending]}\n" +
                                   "\n".join(f"--- {m.name}\n{m.log_tail(2000)}" for m in pending))
            if pending:
                time.sleep(0.05)

    def wait_converged(self, timeout: float = 30):
        """Until all members report the same revision, raft index and applied index, and agree
        on one leader. Returns the Status responses by member name."""
        deadline = time.monotonic() + timeout
        last = None
        while True:
            self._check_crashes()
            sts = {m.name: self.status(m, timeout=1.0) for m in self.members}
            if all(sts.values()):
                keys = {(s.header.revision, s.raftIndex, s.raftAppliedIndex, s.leader) for s in sts.values()}
                if len(keys) == 1 and next(iter(keys))[3] != 0:
                    return sts
                last = {n: (s.header.revision, s.raftIndex, s.raftAppliedIndex, s.leader) for n, s in sts.items()}
            if time.monotonic() > deadline:
                raise ClusterError(f"members did not converge within {timeout}s: "
                                   f"(revision, raftIndex, appliedIndex, leader) = {last}")
            time.sleep(0.05)

    def hashkv(self, m: Member, revision: int, timeout: float = 10):
        pb = stubs.load().rpc_pb2
        return m.maintenance().HashKV(pb.HashKVRequest(revision=revision), timeout=timeout)

    def etcdctl(self, *args, timeout: float = 30, members=None) -> subprocess.CompletedProcess:
        endpoints = ",".join(m.client_url for m in (members or self.members))
        env = {k: v for k, v in os.environ.items() if not k.startswith("ETCDCTL")}
        return subprocess.run([ETCDCTL, "--endpoints", endpoints, "--dial-timeout", "3s",
                               "--command-timeout", "10s", *args],
                              capture_output=True, text=True, timeout=timeout, env=env)
