"""A bounded fault run against a 3-member cluster, with a linearizability check at the end.

Clients (threads, one gRPC channel each, bound to a random member and moving to another after
any error) do puts, linearizable gets and compare-and-swaps on a few keys, writing unique
values, and record every call with its call/return times and outcome. Meanwhile a nemesis
injects one fault at a time, recovering (every member answers a linearizable read again)
before a quiet pause and the next one:

  kill_leader     kill -9 the leader; time until a survivor leads and until the first write is
                  acknowledged; restart it after a random delay
  kill_follower   kill -9 a follower, restart it after a random delay
  pause_leader    SIGSTOP the leader for longer than the election timeout, then SIGCONT
  partition       blackhole one random member's peer traffic for a few seconds, then heal
  lagging_follower  kill -9 a follower and keep it down until the others' raft log has moved
                  past what the leader keeps after a snapshot, so it catches up from a snapshot
  replace_member  remove a follower (it stops itself) and add a new member on an empty data dir,
                  which joins with --initial-cluster-state existing; by the seed, the leader is
                  killed between the add and the new member's start, or the new member starts
                  partitioned
  promote_learner add a learner, start it, promote it once in sync (by the seed, killing the
                  leader while the promotion is in flight), then remove an old follower

The faults come in shuffled rounds of all kinds, so every kind is exercised. Afterwards:

  (a) the history (plus final reads from every member) is linearizable, and its revisions are
      consistent (see linearizability.py);
  (b) every member's watch history from revision 1 is the same list of events; it contains
      every acknowledged write at its revision, and nothing that no client tried to write;
      the final contents of every member are what that history ends with;
  (c) Maintenance.HashKV at the common revision is equal on all members;
  (d) all members report the same revision, raft index and applied index;
  and no member exited on its own at any time.

Every random choice (operations, keys, members, faults, delays) comes from the seed; timing
of course does not. `python3 faults.py` runs one fault run from the environment (FAULT_SECONDS,
FAULT_SEED, CLUSTER_BINARY, ...); see `Config.from_env`.
"""

from __future__ import annotations

import json
import os
import random
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import List, Optional

import grpc

import cluster as clusterlib
import linearizability as lin
import stubs

PREFIX = b"/fault/"
SLOW_RECOVERY_S = 3.0   # reported (not failed) when all members take longer to serve again


@dataclass
class Config:
    binary: str = clusterlib.SWETCD
    seconds: float = 90.0
    seed: int = 0
    clients: int = 6
    keys: int = 4
    op_timeout: float = 1.0          # gRPC deadline of each client call
    get_fraction: float = 0.45
    cas_fraction: float = 0.10       # the rest are puts
    serializable_fraction: float = 0.0   # of the gets (only checked for snapshot consistency)
    heartbeat_ms: int = 50
    election_ms: int = 500
    snapshot_count: Optional[int] = 1000
    faults: tuple = ("kill_leader", "kill_follower", "pause_leader", "partition", "lagging_follower",
                     "replace_member", "promote_learner")
    keep_workdir_on_failure: bool = True
    keep_workdir: bool = False       # FAULT_KEEP=1: keep data dirs, logs and history.txt always

    @staticmethod
    def from_env() -> "Config":
        """FAULT_SECONDS, FAULT_SEED (default: random), FAULT_CLIENTS, FAULT_KEYS, FAULT_SERIALIZABLE
        (fraction of gets that are serializable, default 0), FAULT_FAULTS
        (comma list), FAULT_KEEP, FAULT_HEARTBEAT_MS, FAULT_ELECTION_MS, FAULT_SNAPSHOT_COUNT, and the binary:
        CLUSTER_BINARY (a path, or "etcd" for the reference etcd 3.5.16, or "swetcd"), else
        SWETCD_BIN, else .build/release/swetcd."""
        c = Config()
        b = os.environ.get("CLUSTER_BINARY", "")
        c.binary = {"etcd": clusterlib.ETCD, "swetcd": clusterlib.SWETCD, "": clusterlib.SWETCD}.get(b, b)
        c.seconds = float(os.environ.get("FAULT_SECONDS", c.seconds))
        seed = os.environ.get("FAULT_SEED")
        c.seed = int(seed) if seed else random.SystemRandom().randrange(1, 2**31)
        c.clients = int(os.environ.get("FAULT_CLIENTS", c.clients))
        c.keys = int(os.environ.get("FAULT_KEYS", c.keys))
        c.serializable_fraction = float(os.environ.get("FAULT_SERIALIZABLE", c.serializable_fraction))
        c.heartbeat_ms = int(os.environ.get("FAULT_HEARTBEAT_MS", c.heartbeat_ms))
        c.election_ms = int(os.environ.get("FAULT_ELECTION_MS", c.election_ms))
        if "FAULT_SNAPSHOT_COUNT" in os.environ:
            c.snapshot_count = int(os.environ["FAULT_SNAPSHOT_COUNT"]) or None
        c.keep_workdir = os.environ.get("FAULT_KEEP", "") not in ("", "0")
        if os.environ.get("FAULT_FAULTS"):
            c.faults = tuple(f.strip() for f in os.environ["FAULT_FAULTS"].split(",") if f.strip())
        return c


def _now() -> float:
    return time.monotonic()


class History:
    """Thread-safe op log."""

    def __init__(self):
        self.ops: List[lin.Op] = []
        self._lock = threading.Lock()
        self._seq = 0

    def add(self, op: lin.Op) -> lin.Op:
        self.ops.append(op)      # list.append is atomic under the GIL
        return op

    def unique(self, tag: str) -> str:
        with self._lock:
            self._seq += 1
            return f"{tag}-{self._seq}"


# ---------------------------------------------------------------------------------------------
# KV calls, recorded
# ---------------------------------------------------------------------------------------------

def do_put(kv, history: History, key: bytes, value: str, timeout: float, client: int, note: str):
    pb = stubs.load().rpc_pb2
    op = lin.put(key.decode(), value, _now(), None, status=lin.UNKNOWN, client=client, note=note)
    try:
        r = kv.Put(pb.PutRequest(key=key, value=value.encode()), timeout=timeout)
    except grpc.RpcError as e:
        op.note += f" {e.code().name}"
        return history.add(op), e
    op.ret, op.status, op.write_rev = _now(), lin.OK, r.header.revision
    return history.add(op), None


def do_get(kv, history: History, key: bytes, timeout: float, client: int, note: str, serializable=False):
    pb = stubs.load().rpc_pb2
    op = lin.get(key.decode(), None, _now(), None, status=lin.FAIL, client=client,
                 linearizable=not serializable, note=note)
    try:
        r = kv.Range(pb.RangeRequest(key=key, serializable=serializable), timeout=timeout)
    except grpc.RpcError as e:
        op.ret = _now()    # a failed read has no effect on anything: the checker drops it
        op.note += f" {e.code().name}"
        return history.add(op), e
    op.ret, op.status, op.header_rev = _now(), lin.OK, r.header.revision
    if r.kvs:
        op.read, op.read_rev = r.kvs[0].value.decode(), r.kvs[0].mod_revision
    return history.add(op), None


def do_cas(kv, history: History, key: bytes, expected: Optional[str], value: str, timeout: float,
           client: int, note: str):
    """Txn: if value(key) == expected (absent when None) then put else range."""
    pb = stubs.load().rpc_pb2
    if expected is None:
        cmp = pb.Compare(key=key, target=pb.Compare.CREATE, result=pb.Compare.EQUAL, create_revision=0)
    else:
        cmp = pb.Compare(key=key, target=pb.Compare.VALUE, result=pb.Compare.EQUAL, value=expected.encode())
    req = pb.TxnRequest(compare=[cmp],
                        success=[pb.RequestOp(request_put=pb.PutRequest(key=key, value=value.encode()))],
                        failure=[pb.RequestOp(request_range=pb.RangeRequest(key=key))])
    op = lin.cas(key.decode(), expected, value, _now(), None, status=lin.UNKNOWN, client=client, note=note)
    try:
        r = kv.Txn(req, timeout=timeout)
    except grpc.RpcError as e:
        op.note += f" {e.code().name}"
        return history.add(op), e
    op.ret, op.status, op.succeeded = _now(), lin.OK, r.succeeded
    if r.succeeded:
        op.write_rev = r.header.revision
    else:
        op.header_rev = r.header.revision
        kvs = r.responses[0].response_range.kvs
        op.read_recorded = True
        if kvs:
            op.read, op.read_rev = kvs[0].value.decode(), kvs[0].mod_revision
    return history.add(op), None


# ---------------------------------------------------------------------------------------------
# Clients
# ---------------------------------------------------------------------------------------------

class Client(threading.Thread):
    def __init__(self, idx: int, c: clusterlib.Cluster, cfg: Config, history: History, stop: threading.Event):
        super().__init__(name=f"client-{idx}", daemon=True)
        self.idx, self.c, self.cfg, self.history, self.stop_event = idx, c, cfg, history, stop
        self.rng = random.Random(f"{cfg.seed}/client/{idx}")
        self.keys = [PREFIX + f"k{i}".encode() for i in range(cfg.keys)]
        self.known = {}          # key -> last value this client saw (cas expectation)
        self.errors = 0
        self.switches = 0
        self.exception = None

    def run(self):
        try:
            self._run()
        except Exception as e:    # surfaced by the runner
            self.exception = e
            raise

    def _run(self):
        members = self.c.members
        member = self.rng.choice(members)
        ch = clusterlib.channel(member.address)
        kv = stubs.load().rpc_pb2_grpc.KVStub(ch)
        while not self.stop_event.is_set():
            key = self.rng.choice(self.keys)
            x = self.rng.random()
            note = f"@{member.name}"
            if x < self.cfg.get_fraction:
                serializable = self.rng.random() < self.cfg.serializable_fraction
                op, err = do_get(kv, self.history, key, self.cfg.op_timeout, self.idx, note, serializable)
                if err is None:
                    self.known[key] = op.read
            elif x < self.cfg.get_fraction + self.cfg.cas_fraction:
                value = self.history.unique(f"c{self.idx}")
                op, err = do_cas(kv, self.history, key, self.known.get(key), value, self.cfg.op_timeout,
                                 self.idx, note)
                if err is None:
                    self.known[key] = value if op.succeeded else op.read
            else:
                value = self.history.unique(f"c{self.idx}")
                op, err = do_put(kv, self.history, key, value, self.cfg.op_timeout, self.idx, note)
                if err is None:
                    self.known[key] = value
            if err is not None:
                # Any error: move to another member on a new channel.
                self.errors += 1
                self.switches += 1
                ch.close()
                member = self.rng.choice([m for m in members if m is not member])
                ch = clusterlib.channel(member.address)
                kv = stubs.load().rpc_pb2_grpc.KVStub(ch)
        ch.close()


# ---------------------------------------------------------------------------------------------
# Nemesis
# ---------------------------------------------------------------------------------------------

def first_write_after(c: clusterlib.Cluster, members, t0: float, history: History, deadline: float,
                      stop: threading.Event, every: float = 0.02, timeout: float = 1.0):
    """Measure how soon a write goes through: every `every` seconds, start a put on each given
    member (fresh channels, overlapping calls, each with a `timeout` deadline) until one is
    acknowledged. Returns (seconds from t0 to the first acknowledgement, member name), or
    (None, None). The attempts go into the history like any other op."""
    pb = stubs.load().rpc_pb2
    chans = {m.name: clusterlib.channel(m.address) for m in members}
    stubs_ = {n: stubs.load().rpc_pb2_grpc.KVStub(ch) for n, ch in chans.items()}
    lock = threading.Lock()
    first = {}
    pending = []
    acked = threading.Event()

    settled = threading.Condition(lock)
    count = [0]

    def finished(op, name, fut):
        # Runs on a gRPC thread, maybe after fut.result() returned elsewhere: `settled`
        # tells the waiter below when every op record is final.
        try:
            r = fut.result()
            op.ret, op.status, op.write_rev = _now(), lin.OK, r.header.revision
            with lock:
                if "t" not in first or op.ret < first["t"]:
                    first["t"], first["m"] = op.ret, name
            acked.set()
        except grpc.RpcError as e:
            op.note += f" {e.code().name}"
        finally:
            with settled:
                count[0] += 1
                settled.notify_all()

    try:
        while not acked.is_set() and not stop.is_set() and _now() < deadline:
            for m in members:
                value = history.unique("probe")
                op = history.add(lin.put((PREFIX + b"probe").decode(), value, _now(), None, status=lin.UNKNOWN,
                                         note=f"probe @{m.name}"))
                fut = stubs_[m.name].Put.future(pb.PutRequest(key=PREFIX + b"probe", value=value.encode()),
                                                timeout=timeout)
                fut.add_done_callback(lambda f, op=op, name=m.name: finished(op, name, f))
                pending.append(fut)
            acked.wait(every)
        with settled:            # let every attempt finish (their outcomes belong in the history)
            settled.wait_for(lambda: count[0] == len(pending), timeout=timeout + 10)
    finally:
        for ch in chans.values():
            ch.close()
    with lock:
        if "t" not in first:
            return None, None
        return first["t"] - t0, first["m"]


class Nemesis(threading.Thread):
    def __init__(self, c: clusterlib.Cluster, cfg: Config, history: History, stop: threading.Event):
        super().__init__(name="nemesis", daemon=True)
        self.c, self.cfg, self.history, self.stop_event = c, cfg, history, stop
        self.rng = random.Random(f"{cfg.seed}/nemesis")
        self.log: List[dict] = []
        self.exception = None
        self.t_start = _now()

    def _say(self, msg):
        print(f"[nemesis {(_now() - self.t_start):7.2f}s] {msg}", flush=True)

    def run(self):
        try:
            schedule = []
            while not self.stop_event.is_set():
                if not schedule:
                    schedule = list(self.cfg.faults)
                    self.rng.shuffle(schedule)
                quiet = self.rng.uniform(1.0, 2.0)
                if self.stop_event.wait(quiet):
                    break
                name = schedule.pop(0)
                entry = {"fault": name, "at": round(_now() - self.t_start, 3)}
                getattr(self, name)(entry)
                entry["recovered_s"] = round(self._recover(), 3)
                self.log.append(entry)
                self._say(json.dumps(entry))
        except Exception as e:
            self.exception = e
            self._say(f"error: {e!r}")
        finally:
            # Leave the cluster whole whatever happened (unless it is being torn down).
            try:
                self.c.heal()
                for m in self.c.members:
                    if m.paused:
                        self.c.resume(m)
                    if not m.alive():
                        self.c.start_member(m)
            except clusterlib.ClusterError:
                pass

    def _recover(self) -> float:
        t = _now()
        self.c.wait_ready(timeout=60)
        return _now() - t

    def _delay(self, lo, hi):
        self.stop_event.wait(self.rng.uniform(lo, hi))   # part of the fault schedule, not a readiness guess

    def _wait_new_leader(self, survivors, old_id, t0, deadline):
        """Seconds from t0 until a survivor says it leads (with another ID than old_id)."""
        while _now() < deadline:
            m = self.c.current_leader(survivors)
            if m is not None and m.member_id != old_id:
                return _now() - t0, m.name
            time.sleep(0.01)
        return None, None

    def kill_leader(self, entry):
        leader = self.c.leader()
        survivors = [m for m in self.c.members if m is not leader]
        entry["member"] = leader.name
        t0 = _now()
        self.c.kill(leader)
        deadline = t0 + 30
        box = {}
        probe = threading.Thread(target=lambda: box.update(
            w=first_write_after(self.c, survivors, t0, self.history, deadline, self.stop_event)), daemon=True)
        probe.start()
        entry["new_leader_s"], entry["new_leader"] = self._wait_new_leader(survivors, leader.member_id, t0, deadline)
        probe.join()
        entry["first_write_s"], entry["first_write_at"] = box.get("w", (None, None))
        for k in ("new_leader_s", "first_write_s"):
            if entry[k] is not None:
                entry[k] = round(entry[k], 4)
        self._delay(0.0, 1.5)
        self.c.start_member(leader)

    def kill_follower(self, entry):
        m = self.rng.choice(self.c.followers())
        entry["member"] = m.name
        self.c.kill(m)
        self._delay(0.5, 3.0)
        self.c.start_member(m)

    def lagging_follower(self, entry):
        """Kill a follower and keep it down until the others' log has moved on by more than
        etcd's SnapshotCatchUpEntries (5000) plus --snapshot-count entries, so the leader has
        compacted past it and must send it a snapshot when it comes back."""
        m = self.rng.choice(self.c.followers())
        st = self.c.status(m)
        behind_from = st.raftIndex if st else 0
        target = behind_from + 5000 + (self.cfg.snapshot_count or 100000) + 500
        entry.update(member=m.name, down_from_index=behind_from, until_index=target)
        self.c.kill(m)
        t0 = _now()
        others = [x for x in self.c.members if x is not m]
        index = behind_from
        while not self.stop_event.is_set() and _now() < t0 + 60:
            sts = [self.c.status(x) for x in others]
            index = max([s.raftIndex for s in sts if s is not None] + [index])
            if index >= target:
                break
            self.stop_event.wait(0.1)
        entry["down_s"], entry["reached_index"] = round(_now() - t0, 3), index
        self.c.start_member(m)

    def pause_leader(self, entry):
        leader = self.c.leader()
        survivors = [m for m in self.c.members if m is not leader]
        pause = self.rng.uniform(2.0, 5.0) * self.cfg.election_ms / 1000.0
        entry["member"], entry["pause_s"] = leader.name, round(pause, 3)
        t0 = _now()
        self.c.pause(leader)
        new, who = self._wait_new_leader(survivors, leader.member_id, t0, t0 + 30)
        entry["new_leader_s"], entry["new_leader"] = (round(new, 4) if new else None), who
        self.stop_event.wait(max(0.0, t0 + pause - _now()))
        self.c.resume(leader)

    # -- membership changes ---------------------------------------------------------------------
    def _cluster_call(self, method: str, request, done_if=(), timeout: float = 60):
        """A Cluster call through any member that answers. Retried while etcd's checks refuse for
        now (UNAVAILABLE: unhealthy cluster, no leader, timed out; a change still pending) and
        when the call's outcome is unknown; an error whose message is one of `done_if` means an
        earlier attempt took effect. Returns the response, or None for such an error."""
        deadline = _now() + timeout
        last = None
        while _now() < deadline:
            for m in list(self.c.members):
                if not m.alive() or m.paused:
                    continue
                try:
                    stub = stubs.load().rpc_pb2_grpc.ClusterStub(m.channel())
                    return getattr(stub, method)(request, timeout=5)
                except grpc.RpcError as e:
                    last = f"{e.code().name} {e.details()}"
                    if e.details() in done_if:
                        return None
            time.sleep(0.2)
        raise RuntimeError(f"{method} did not succeed within {timeout}s: {last}")

    def _add_member(self, learner: bool) -> clusterlib.Member:
        pb = stubs.load().rpc_pb2
        self.added = getattr(self, "added", 0) + 1
        m = self.c.new_member(f"n{self.added}")
        url = self.c.peer_url(m)
        resp = self._cluster_call("MemberAdd", pb.MemberAddRequest(peerURLs=[url], isLearner=learner),
                                  done_if=("etcdserver: Peer URLs already exists",))
        members = resp.members if resp else self._cluster_call("MemberList", pb.MemberListRequest()).members
        me = next(x for x in members if url in x.peerURLs)
        m.member_id = me.ID
        m.initial_cluster = ",".join(f"{m.name if x.ID == me.ID else x.name}={u}" for x in members for u in x.peerURLs)
        return m

    def _remove_member(self, m: clusterlib.Member):
        pb = stubs.load().rpc_pb2
        self._cluster_call("MemberRemove", pb.MemberRemoveRequest(ID=m.member_id), done_if=("etcdserver: member not found",))
        # It stops itself once it applied its removal (or a peer answered it 410 Gone).
        if m.alive():
            try:
                m.proc.wait(timeout=30)
            except Exception:
                pass
        self.c.forget(m)

    def replace_member(self, entry):
        victim = self.rng.choice(self.c.followers())
        variant = self.rng.choice(["plain", "kill_leader_after_add", "partition_new_member"])
        entry.update(member=victim.name, variant=variant)
        self._remove_member(victim)
        new = self._add_member(learner=False)
        entry["new_member"] = new.name
        if variant == "kill_leader_after_add":
            # Two voters of three run: killing one loses the quorum until the new member joins
            # or the leader is back.
            leader = self.c.leader()
            entry["killed"] = leader.name
            self.c.kill(leader)
            self.c.start_member(new)
            self._delay(0.5, 2.0)
            self.c.start_member(leader)
        elif variant == "partition_new_member":
            self.c.partition(new)
            self.c.start_member(new)
            new.expected_down = True      # it may exit: see below
            self._delay(1.0, 3.0)
            self.c.heal(new)
            # A member that cannot reach any peer cannot learn the cluster and exits, as etcd's
            # does; one whose last try was still under way when the partition healed may join.
            # Either way, until it serves or has exited.
            deadline = _now() + 60
            while True:
                if new.proc.poll() is not None:
                    assert "cannot fetch cluster info" in new.log_tail(), new.log_tail()
                    entry["restarted_after_failed_join"] = True
                    self.c.start_member(new)
                    break
                if self.c.answers(new, timeout=1.0):
                    new.expected_down = False
                    break
                if _now() > deadline:
                    raise RuntimeError(f"{new.name} neither joined nor exited within 60 s")
                time.sleep(0.05)
        else:
            self.c.start_member(new)

    def promote_learner(self, entry):
        pb = stubs.load().rpc_pb2
        learner = self._add_member(learner=True)
        entry["new_member"] = learner.name
        self.c.start_member(learner)
        kill = self.rng.random() < 0.5
        entry["kill_leader_during_promote"] = kill
        deadline = _now() + 60
        while True:
            if kill:
                # The promotion goes in while the leader dies: its outcome is unknown to us.
                leader = self.c.leader()
                stub = stubs.load().rpc_pb2_grpc.ClusterStub(leader.channel())
                future = stub.MemberPromote.future(pb.MemberPromoteRequest(ID=learner.member_id), timeout=5)
                self.c.kill(leader)
                try:
                    future.result()
                except grpc.RpcError:
                    pass
                self._delay(0.2, 1.0)
                self.c.start_member(leader)
                kill = False
                continue
            try:
                self._cluster_call("MemberPromote", pb.MemberPromoteRequest(ID=learner.member_id),
                                   done_if=("etcdserver: can only promote a learner member",), timeout=5)
            except RuntimeError:
                pass
            listed = self._cluster_call("MemberList", pb.MemberListRequest()).members
            if not next(x for x in listed if x.ID == learner.member_id).isLearner:
                break
            if _now() > deadline:
                raise RuntimeError(f"{learner.name} was not promoted within 60 s")
        # Back to three voters.
        old = self.rng.choice([m for m in self.c.followers() if m is not learner])
        entry["removed"] = old.name
        self._remove_member(old)

    def partition(self, entry):
        m = self.rng.choice(self.c.members)
        was_leader = self.c.current_leader() is m
        length = self.rng.uniform(2.0, 4.0)
        entry.update(member=m.name, was_leader=was_leader, length_s=round(length, 3))
        self.c.partition(m)
        self.stop_event.wait(length)
        self.c.heal(m)


# ---------------------------------------------------------------------------------------------
# Final checks
# ---------------------------------------------------------------------------------------------

def watch_history(m: clusterlib.Member, upto: int, timeout: Optional[float] = None):
    """All events under PREFIX from revision 1 through `upto`, as [(rev, key, value, type)]."""
    if timeout is None:
        timeout = 30 + upto / 2000     # etcd replays about 10,000 revisions a second
    mods = stubs.load()
    pb = mods.rpc_pb2
    ch = clusterlib.channel(m.address)
    try:
        watch = mods.rpc_pb2_grpc.WatchStub(ch)
        end = PREFIX[:-1] + bytes([PREFIX[-1] + 1])
        done = threading.Event()

        def requests():
            yield pb.WatchRequest(create_request=pb.WatchCreateRequest(key=PREFIX, range_end=end, start_revision=1))
            done.wait(timeout)

        events = []
        stream = watch.Watch(requests(), timeout=timeout)
        try:
            for resp in stream:
                if resp.canceled:
                    raise AssertionError(f"{m.name}: watch canceled: {resp.cancel_reason} "
                                         f"(compact_revision {resp.compact_revision})")
                for ev in resp.events:
                    events.append((ev.kv.mod_revision, ev.kv.key.decode(), ev.kv.value.decode(), ev.type))
                if events and events[-1][0] >= upto:
                    break
        finally:
            done.set()
            stream.cancel()
        return events
    finally:
        ch.close()


def final_checks(c: clusterlib.Cluster, history: History, cfg: Config, problems: List[str]) -> dict:
    pb = stubs.load().rpc_pb2
    info = {}
    c.wait_ready(timeout=60)
    statuses = c.wait_converged(timeout=60)
    revision = next(iter(statuses.values())).header.revision
    info["revision"] = revision
    info["raft_index"] = next(iter(statuses.values())).raftIndex

    # Final reads, part of the history: a linearizable and a serializable get of every key
    # on every member.
    keys = [PREFIX + f"k{i}".encode() for i in range(cfg.keys)] + [PREFIX + b"probe"]
    for m in c.members:
        kv = m.kv()
        for key in keys:
            for serializable in (False, True):
                _, err = do_get(kv, history, key, 10, -2, f"final @{m.name}", serializable=serializable)
                if err is not None:
                    problems.append(f"final read of {key!r} on {m.name} failed: {err.code().name} {err.details()}")

    # (c) HashKV, and contents at the common revision.
    hashes = {}
    contents = {}
    end = PREFIX[:-1] + bytes([PREFIX[-1] + 1])
    for m in c.members:
        try:
            h = c.hashkv(m, revision)
            hashes[m.name] = (h.hash, h.compact_revision)
            r = m.kv().Range(pb.RangeRequest(key=PREFIX, range_end=end, revision=revision, serializable=True), timeout=10)
            contents[m.name] = [(kv.key.decode(), kv.value.decode(), kv.mod_revision) for kv in r.kvs]
        except grpc.RpcError as e:
            problems.append(f"{m.name}: HashKV/Range at revision {revision} failed: {e.code().name} {e.details()}")
    info["hashkv"] = {n: f"{h:#010x}" for n, (h, _) in hashes.items()}
    if len(set(hashes.values())) > 1:
        problems.append(f"HashKV at revision {revision} differs between members: {info['hashkv']}")
    if len({json.dumps(v) for v in contents.values()}) > 1:
        problems.append(f"contents at revision {revision} differ between members: {contents}")

    # (b) Watch histories: equal on all members, agreeing with the clients' records.
    last_write = max((kv[2] for kvs in contents.values() for kv in kvs), default=0)
    watches = {}
    t_watch = _now()

    def read_watch(m):   # in parallel: etcd replays history at about 1000 revisions per 100 ms
        try:
            watches[m.name] = watch_history(m, last_write) if last_write else []
        except (grpc.RpcError, AssertionError) as e:
            problems.append(f"{m.name}: could not read the watch history: {e}")

    readers = [threading.Thread(target=read_watch, args=(m,)) for m in c.members]
    for t in readers:
        t.start()
    for t in readers:
        t.join()
    watches = {m.name: watches[m.name] for m in c.members if m.name in watches}
    info["watch_s"] = round(_now() - t_watch, 2)
    names = list(watches)
    for n in names[1:]:
        if watches[n] != watches[names[0]]:
            a, b = watches[names[0]], watches[n]
            i = next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))
            problems.append(f"watch histories differ: {names[0]} and {n} from event {i}: "
                            f"{a[i:i + 3]} vs {b[i:i + 3]} (lengths {len(a)}, {len(b)})")
    if watches:
        events = watches[names[0]]
        info["write_events"] = len(events)
        _check_write_log(events, history, contents.get(names[0], []), problems)
    info["statuses"] = {n: (s.header.revision, s.raftIndex, s.raftAppliedIndex) for n, s in statuses.items()}
    return info


def _check_write_log(events, history: History, contents, problems):
    """The watch history is the log of every write: check it against what clients recorded,
    and use it to resolve which unknown-outcome writes happened (their revisions become known;
    their call times still bound them)."""
    writes = {}
    for op in history.ops:
        if op.is_write_attempt():
            writes[(op.key, op.value)] = op
    prev = 0
    seen = set()
    for rev, key, value, etype in events:
        if etype != 0:
            problems.append(f"unexpected delete event at revision {rev} on {key!r}")
            continue
        if rev <= prev:
            problems.append(f"watch revisions not increasing: {rev} after {prev}")
        prev = rev
        op = writes.get((key, value))
        if op is None:
            problems.append(f"phantom write: {key!r}={value!r} at revision {rev} was never written by a client")
            continue
        if (key, value) in seen:
            problems.append(f"write applied twice: {key!r}={value!r} again at revision {rev}")
        seen.add((key, value))
        if op.write_rev is not None and op.write_rev != rev:
            problems.append(f"{op} acknowledged revision {op.write_rev}, but the watch shows it at revision {rev}")
        if op.status == lin.UNKNOWN and op.write_rev is None:
            op.write_rev = rev    # resolved: it happened, at this revision
    for op in history.ops:
        if op.is_acked_write() and (op.key, op.value) not in seen:
            problems.append(f"lost acknowledged write: {op} is not in the watch history")
    latest = {}
    for rev, key, value, _ in events:
        latest[key] = (value, rev)
    final = {k: (v, r) for k, v, r in contents}
    if final != latest:
        problems.append(f"final contents {final} are not where the write log ends {latest}")


# ---------------------------------------------------------------------------------------------
# The run
# ---------------------------------------------------------------------------------------------

@dataclass
class Report:
    config: Config
    ok: bool = False
    problems: List[str] = field(default_factory=list)
    faults: List[dict] = field(default_factory=list)
    counts: dict = field(default_factory=dict)
    info: dict = field(default_factory=dict)
    check_summary: str = ""
    workdir: str = ""
    seconds: float = 0.0

    def leader_kill_timings(self):
        """[(kill -> new leader s, kill -> first acknowledged write s)] for each leader kill."""
        return [(f.get("new_leader_s"), f.get("first_write_s")) for f in self.faults if f["fault"] == "kill_leader"]

    def summary(self) -> str:
        cfg = self.config
        lines = [f"fault run: {'PASS' if self.ok else 'FAIL'}  seed={cfg.seed}  binary={cfg.binary}",
                 f"  reproduce: FAULT_SEED={cfg.seed} FAULT_SECONDS={cfg.seconds:g} CLUSTER_BINARY={cfg.binary}",
                 f"  {self.seconds:.1f}s total; ops: {self.counts}"]
        kinds = {}
        for f in self.faults:
            kinds[f["fault"]] = kinds.get(f["fault"], 0) + 1
        lines.append(f"  faults: {kinds}")
        for f in self.faults:
            if f["fault"] in ("kill_leader", "pause_leader"):
                lines.append(f"    {f['fault']:<13} {f['member']}: new leader {f.get('new_leader')} after "
                             f"{_ms(f.get('new_leader_s'))}" + (f", first write after {_ms(f.get('first_write_s'))}"
                                                               if f['fault'] == 'kill_leader' else ""))
        kills = self.leader_kill_timings()
        if kills:
            nl = [a for a, _ in kills if a is not None]
            fw = [b for _, b in kills if b is not None]
            lines.append(f"  leader kill -> new leader: {_stats(nl)}; -> first write: {_stats(fw)}")
        rec = {}
        for f in self.faults:
            rec.setdefault(f["fault"], []).append(f.get("recovered_s") or 0.0)
        if rec:
            lines.append("  recovery (fault over -> all members answer a linearizable read), max: " +
                         ", ".join(f"{k} {_ms(max(v))}" for k, v in rec.items()))
        for f in self.faults:   # not a failure (machines can be slow), but worth a look
            if (f.get("recovered_s") or 0) > SLOW_RECOVERY_S:
                lines.append(f"  WARNING: slow recovery after {f['fault']} of {f.get('member')} at {f['at']}s: "
                             f"{_ms(f['recovered_s'])}")
        for k in ("revision", "raft_index", "write_events", "hashkv", "watch_s", "check_s"):
            if k in self.info:
                lines.append(f"  {k}: {self.info[k]}")
        if self.check_summary:
            lines.append("  " + self.check_summary.replace("\n", "\n  "))
        lines += [f"  PROBLEM: {p}" for p in self.problems[:40]]
        if len(self.problems) > 40:
            lines.append(f"  ... {len(self.problems) - 40} more problems")
        if self.workdir:
            lines.append(f"  data dirs and member logs kept in {self.workdir}")
        return "\n".join(lines)


def _ms(s):
    return "-" if s is None else f"{s * 1000:.0f} ms"


def _stats(xs):
    if not xs:
        return "-"
    xs = sorted(xs)
    return f"n={len(xs)} min {_ms(xs[0])} median {_ms(xs[len(xs) // 2])} max {_ms(xs[-1])}"


def run(cfg: Config) -> Report:
    report = Report(config=cfg)
    t_begin = _now()
    print(f"fault run: seed={cfg.seed} binary={cfg.binary} seconds={cfg.seconds:g}", flush=True)
    c = clusterlib.Cluster(cfg.binary, size=3, heartbeat_ms=cfg.heartbeat_ms, election_ms=cfg.election_ms,
                           snapshot_count=cfg.snapshot_count, keep_workdir=True)
    history = History()
    stop = threading.Event()
    keep = False
    try:
        c.start(timeout=60)
        clients = [Client(i, c, cfg, history, stop) for i in range(cfg.clients)]
        nemesis = Nemesis(c, cfg, history, stop)
        for t in clients:
            t.start()
        nemesis.start()
        stop.wait(cfg.seconds)
        stop.set()
        nemesis.join(300)      # the fault in progress finishes and recovers first
        for t in clients:
            t.join(30)
        report.faults = nemesis.log
        if nemesis.is_alive():
            raise RuntimeError("the nemesis did not finish within 300 s")
        if nemesis.exception is not None:
            report.problems.append(f"nemesis: {nemesis.exception}")
        for t in clients:
            if t.exception is not None:
                report.problems.append(f"{t.name}: {t.exception!r}")
        crashed = c.crashed()
        for m in crashed:
            report.problems.append(f"{m.name} exited on its own (code {m.proc.returncode}):\n{m.log_tail()}")
        if not crashed:
            try:
                report.info = final_checks(c, history, cfg, report.problems)
            except clusterlib.ClusterError as e:
                report.problems.append(f"cluster did not recover: {e}")
        ops = history.ops
        report.counts = {
            "total": len(ops),
            "acked_writes": sum(1 for o in ops if o.is_acked_write()),
            "unknown_writes": sum(1 for o in ops if o.is_write_attempt() and o.status == lin.UNKNOWN),
            "reads": sum(1 for o in ops if o.kind == "get" and o.status == lin.OK),
            "failed_reads": sum(1 for o in ops if o.kind == "get" and o.status != lin.OK),
            "cas_succeeded": sum(1 for o in ops if o.kind == "cas" and o.status == lin.OK and o.succeeded),
        }
        if report.counts["acked_writes"] == 0:
            report.problems.append("no write was acknowledged during the run")
        t_check = _now()
        result = lin.check(ops)
        report.info["check_s"] = round(_now() - t_check, 2)
        report.check_summary = result.summary()
        if not result.ok:
            report.problems += result.violations + result.inconclusive
        report.ok = not report.problems
        keep = cfg.keep_workdir or (not report.ok and cfg.keep_workdir_on_failure)
        if keep:
            _dump_history(c.workdir, ops)
    finally:
        stop.set()
        report.workdir = c.workdir if keep else ""
        c.keep_workdir = keep
        c.stop()
        report.seconds = _now() - t_begin
    return report


def _dump_history(workdir, ops):
    """history.txt to read (ops in call order), history.jsonl to re-check:
    python3 linearizability.py <workdir>/history.jsonl"""
    ordered = sorted(ops, key=lambda o: o.call)
    with open(os.path.join(workdir, "history.txt"), "w") as f:
        for op in ordered:
            f.write(str(op) + "\n")
    lin.dump(ordered, os.path.join(workdir, "history.jsonl"))


if __name__ == "__main__":
    import signal
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))   # so that the cluster is stopped
    rep = run(Config.from_env())
    print(rep.summary())
    sys.exit(0 if rep.ok else 1)
