"""Power-loss test of swetcd: its data dir on lazyfs (lazyfs.py), concurrent writers whose
acknowledged writes are recorded, and at a seeded random moment a power cut: freeze the file
system, SIGKILL swetcd, drop everything not fsynced, remount, restart swetcd, and check that
every acknowledged write is there.

One *run* is a sequence of cycles on one data dir (state carries over, so recovery after
recovery is exercised too). Each cycle:

1. writers (threads, Python gRPC, several requests in flight each) put new keys, overwrite and
   delete their own keys, run compare-and-put txns over two keys, and now and then put a large
   value (so WAL segments fill and are cut); a defrag thread runs `etcdctl defrag` now and then;
2. the cut comes either at a random time, or a random delay after a chosen file-system event
   (a WAL segment renamed into place or deleted, a .snap renamed into place, defrag's rename of
   the data file, a spare segment created), or right after start-up (a cut during recovery);
3. freeze, SIGKILL, power-cut (lazyfs answers the killed process's pending requests with EIO
   so it can exit), unmount, mount again from the durable state, restart swetcd;
4. check: the store revision is at least the highest acknowledged one; every write
   acknowledged in this cycle is there *at its revision* (a Range at that revision returns its
   value with that mod revision, or nothing for a delete); every key's current value is its
   last acknowledged write, or the effect of the one request on it whose answer never came;
   no unexpected key exists. Then the model adopts what is there, and the store is compacted
   (so defrag has something to do and old revisions need not be kept).

A key has at most one request in flight (the writer skips busy keys), and a key whose request
went unanswered is not touched again in the cycle: so the check is exact.

Each key's history is checked against the writes that writer's own thread made, so the test
needs nothing but the answers. Cycle randomness comes from random.Random(f"{seed}/{cycle}/...").
"""
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(ROOT, "Tests", "Integration"))

import lazyfs  # noqa: E402

SWETCD = os.environ.get("SWETCD_BIN", os.path.join(ROOT, ".build", "release", "swetcd"))
REF = os.environ.get("ETCD_REFERENCE_DIR", os.path.expanduser("~/.cache/etcd-reference"))
ETCDCTL = os.path.join(REF, "etcd-3.5.1", "etcdctl")
CHANNEL_OPTIONS = [("grpc.max_receive_message_length", 256 << 20), ("grpc.max_send_message_length", 64 << 20)]
PREFIX = b"pl/"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def fs_python():
    """A Python that has pyfuse3 (this one, or Debian's, where the package installs it)."""
    for exe in (os.environ.get("LAZYFS_PYTHON"), sys.executable, "/usr/bin/python3"):
        if exe and subprocess.run([exe, "-c", "import pyfuse3, trio"], capture_output=True).returncode == 0:
            return exe
    return None


def fuse_available():
    """Why lazyfs cannot run here, or None."""
    if not os.path.exists("/dev/fuse"):
        return "no /dev/fuse"
    if fs_python() is None:
        return "pyfuse3 is not installed (apt-get install python3-pyfuse3 fuse3)"
    return None


# --------------------------------------------------------------------------------------------
# The file system and the server
# --------------------------------------------------------------------------------------------

class LazyMount:
    """A lazyfs daemon: `backing` is the disk, `mountpoint` where swetcd sees it."""

    def __init__(self, workdir, model="strict", trace=False):
        self.backing = os.path.join(workdir, "disk")
        self.mountpoint = os.path.join(workdir, "mnt")
        self.socket = os.path.join(workdir, "lazyfs.sock")
        self.log_path = os.path.join(workdir, "lazyfs.log")
        self.trace_path = os.path.join(workdir, "lazyfs.trace") if trace else None
        self.model = model
        self.proc = None
        os.makedirs(self.backing, exist_ok=True)
        os.makedirs(self.mountpoint, exist_ok=True)

    def mount(self):
        if os.path.exists(self.socket):
            os.unlink(self.socket)
        cmd = [fs_python(), os.path.join(HERE, "lazyfs.py"), "mount", self.backing, self.mountpoint,
               "--control", self.socket, "--model", self.model]
        if self.trace_path:
            cmd += ["--trace", self.trace_path]
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.time() + 20
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"lazyfs exited with {self.proc.returncode}:\n{self.read_log()}")
            if os.path.ismount(self.mountpoint) and os.path.exists(self.socket):
                try:
                    if self.ctl("ping")["ok"]:
                        return self
                except OSError:
                    pass
            time.sleep(0.05)
        raise RuntimeError(f"lazyfs did not mount:\n{self.read_log()}")

    def ctl(self, command, timeout=120):
        return lazyfs.control(self.socket, command, timeout=timeout)

    def unmount(self):
        """Asks the daemon to exit (a clean unmount: it syncs first unless the power was cut)."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            try:
                self.ctl("exit", timeout=10)
            except OSError:
                pass
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        if os.path.ismount(self.mountpoint):
            subprocess.run(["fusermount3", "-u", "-z", self.mountpoint], capture_output=True)
        self.proc = None

    def read_log(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode(errors="replace")[-4000:]
        except OSError:
            return ""


class Member:
    """One swetcd process on `data_dir`; a new one (new ports) for each start."""

    def __init__(self, data_dir, log_path, extra):
        self.data_dir = data_dir
        self.log_path = log_path
        self.extra = list(extra)
        self.proc = None
        self.endpoint = None

    def start(self, note=""):
        client, peer = free_port(), free_port()
        self.endpoint = f"127.0.0.1:{client}"
        url, purl = f"http://{self.endpoint}", f"http://127.0.0.1:{peer}"
        args = [SWETCD, "--name", "pl", "--data-dir", self.data_dir,
                "--listen-client-urls", url, "--advertise-client-urls", url,
                "--listen-peer-urls", purl, "--initial-advertise-peer-urls", purl,
                "--initial-cluster", f"pl={purl}", "--initial-cluster-token", "swetcd-powerloss", *self.extra]
        env = {k: v for k, v in os.environ.items() if not k.startswith("ETCD")}
        with open(self.log_path, "ab") as log:
            log.write(f"\n===== start {time.strftime('%H:%M:%S')} {note}\n".encode())
            log.flush()
            self.log_offset = log.tell()
            self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=env)
        return self

    def wait_ready(self, timeout=60):
        import grpc
        rpc_pb2, rpc_pb2_grpc = load_stubs()
        deadline = time.time() + timeout
        # A new channel per attempt: one channel would back off for seconds after the first
        # refused connection (the port opens a moment after the process starts).
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise ServerFailed(f"swetcd exited with {self.proc.returncode}", self.this_start_log())
            with grpc.insecure_channel(self.endpoint, options=CHANNEL_OPTIONS) as ch:
                try:
                    rpc_pb2_grpc.KVStub(ch).Range(rpc_pb2.RangeRequest(key=b"readiness-probe"), timeout=2)
                    return
                except grpc.RpcError:
                    pass
            time.sleep(0.05)
        raise ServerFailed(f"swetcd not ready after {timeout}s", self.this_start_log())

    def kill(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)

    def wait_exit(self, timeout=60):
        if self.proc:
            self.proc.wait(timeout=timeout)

    def this_start_log(self, limit=6000):
        try:
            with open(self.log_path, "rb") as f:
                f.seek(self.log_offset)
                return f.read().decode(errors="replace")[-limit:]
        except OSError:
            return ""


class ServerFailed(Exception):
    def __init__(self, message, log):
        super().__init__(message)
        self.log = log


_stubs = {}


def load_stubs():
    if "m" not in _stubs:
        import grpc_stubs
        _stubs["m"] = grpc_stubs.load()
    return _stubs["m"]


# --------------------------------------------------------------------------------------------
# The model: what each key must hold
# --------------------------------------------------------------------------------------------

class KeyState:
    __slots__ = ("value", "mod_rev", "unknown")

    def __init__(self, value=None, mod_rev=0):
        self.value = value  # None: absent (never written, or deleted)
        self.mod_rev = mod_rev  # revision of the last acknowledged change (0: none)
        self.unknown = None  # the effect of a request whose answer never came: ("put", v) / ("del",)


class Model:
    """Every key the writers own, their last acknowledged state, and the acknowledged writes of
    the current cycle (to check at their revisions). Writers lock `lock` to update it."""

    def __init__(self):
        self.keys = {}
        self.acked = []  # (key, value or None, revision, what) this cycle
        self.max_acked_rev = 0
        self.anomalies = []  # answers that contradict the model while running
        self.unknown_txns = []  # [(key1, v1), (key2, v2)] of txns whose answer never came
        self.lock = threading.Lock()


# --------------------------------------------------------------------------------------------
# Writers and the defrag thread
# --------------------------------------------------------------------------------------------

class Writer(threading.Thread):
    """Keys `pl/<wid>/…`: new keys, overwrites, deletes, 2-key txns, big values; at most
    `in_flight` requests outstanding, at most one per key."""

    def __init__(self, wid, endpoint, model, rng, stop, cycle, in_flight=8, big_fraction=0.08):
        super().__init__(daemon=True, name=f"writer-{wid}")
        self.wid, self.endpoint, self.model, self.rng = wid, endpoint, model, rng
        self.stop, self.cycle, self.in_flight, self.big_fraction = stop, cycle, in_flight, big_fraction
        self.prefix = PREFIX + f"{wid}/".encode()
        self.busy = set()
        self.pending = []  # (future, kind, keys, values, prior_states)
        self.seq = 0
        self.counts = {"put": 0, "overwrite": 0, "delete": 0, "txn": 0, "big": 0, "failed": 0}
        with model.lock:
            self.mine = [k for k in model.keys if k.startswith(self.prefix)]

    def idle_keys(self, n, present=False):
        """Up to `n` distinct random keys of this writer that have no request outstanding and
        no unanswered one (and, with `present`, that hold a value)."""
        out = []
        for _ in range(4 * n):
            if not self.mine or len(out) == n:
                break
            k = self.rng.choice(self.mine)
            st = self.model.keys.get(k)
            if k in self.busy or k in out or st is None or st.unknown is not None or (present and st.value is None):
                continue
            out.append(k)
        return out

    def value(self, big=False):
        self.seq += 1
        head = f"c{self.cycle}:w{self.wid}:s{self.seq}:".encode()
        size = self.rng.randint(100_000, 400_000) if big else self.rng.randint(8, 300)
        return head + bytes([97 + self.rng.randrange(26)]) * size

    def issue(self, kv, rpc_pb2):
        r = self.rng.random()
        if r < self.big_fraction:
            key = self.prefix + f"big{self.rng.randrange(3)}".encode()
            if key in self.busy or (key in self.model.keys and self.model.keys[key].unknown is not None):
                return
            v = self.value(big=True)
            if key not in self.model.keys and key not in self.mine:
                self.mine.append(key)
            self.counts["big"] += 1
            self.send("put", [key], [v], kv.Put.future(rpc_pb2.PutRequest(key=key, value=v), timeout=30))
        elif r < 0.40 or len(self.mine) < 8:
            key = self.prefix + f"c{self.cycle}/n{self.seq}".encode()
            v = self.value()
            self.mine.append(key)
            self.counts["put"] += 1
            self.send("put", [key], [v], kv.Put.future(rpc_pb2.PutRequest(key=key, value=v), timeout=30))
        elif r < 0.70:
            keys = self.idle_keys(1)
            if not keys:
                return
            key = keys[0]
            v = self.value()
            self.counts["overwrite"] += 1
            self.send("put", [key], [v], kv.Put.future(rpc_pb2.PutRequest(key=key, value=v), timeout=30))
        elif r < 0.82:
            keys = self.idle_keys(1, present=True)
            if not keys:
                return
            key = keys[0]
            self.counts["delete"] += 1
            self.send("del", [key], [None], kv.DeleteRange.future(rpc_pb2.DeleteRangeRequest(key=key), timeout=30))
        else:
            keys = self.idle_keys(2)
            if len(keys) < 2:
                return
            k1, k2 = keys
            v1, v2 = self.value(), self.value()
            with self.model.lock:
                rev1 = self.model.keys[k1].mod_rev if self.model.keys[k1].value is not None else 0
            cmp = rpc_pb2.Compare(key=k1, target=rpc_pb2.Compare.MOD, result=rpc_pb2.Compare.EQUAL, mod_revision=rev1)
            req = rpc_pb2.TxnRequest(
                compare=[cmp],
                success=[rpc_pb2.RequestOp(request_put=rpc_pb2.PutRequest(key=k1, value=v1)),
                         rpc_pb2.RequestOp(request_put=rpc_pb2.PutRequest(key=k2, value=v2))],
                failure=[rpc_pb2.RequestOp(request_range=rpc_pb2.RangeRequest(key=k1))])
            self.counts["txn"] += 1
            self.send("txn", [k1, k2], [v1, v2], kv.Txn.future(req, timeout=30), expect_rev=rev1)

    def send(self, kind, keys, values, future, expect_rev=None):
        self.busy.update(keys)
        self.pending.append((future, kind, keys, values, expect_rev))

    def settle(self, entry, block):
        """Records the outcome of one request; False if it is not done and `block` is false."""
        import grpc
        future, kind, keys, values, expect_rev = entry
        if not block and not future.done():
            return False
        try:
            resp = future.result(timeout=60)
        except (grpc.RpcError, grpc.FutureTimeoutError, grpc.FutureCancelledError):
            self.counts["failed"] += 1
            with self.model.lock:
                for k, v in zip(keys, values):
                    st = self.model.keys.setdefault(k, KeyState())
                    st.unknown = ("del",) if kind == "del" else ("put", v)
                if kind == "txn":
                    self.model.unknown_txns.append(list(zip(keys, values)))
            self.busy.difference_update(keys)
            return True
        rev = resp.header.revision
        with self.model.lock:
            if kind == "txn" and not resp.succeeded:
                self.model.anomalies.append(
                    f"txn compare mod_revision({keys[0]!r}) == {expect_rev} failed: the key is at "
                    f"{[(kv.mod_revision, kv.value[:40]) for kv in resp.responses[0].response_range.kvs]}")
            elif kind == "del" and resp.deleted != 1:
                self.model.anomalies.append(f"delete of {keys[0]!r} (acknowledged present at rev "
                                            f"{self.model.keys[keys[0]].mod_rev}) deleted {resp.deleted} keys")
            else:
                for k, v in zip(keys, values):
                    st = self.model.keys.setdefault(k, KeyState())
                    st.value, st.mod_rev = v, rev
                    self.model.acked.append((k, v, rev, kind))
                self.model.max_acked_rev = max(self.model.max_acked_rev, rev)
        self.busy.difference_update(keys)
        return True

    def run(self):
        import grpc
        rpc_pb2, rpc_pb2_grpc = load_stubs()
        with grpc.insecure_channel(self.endpoint, options=CHANNEL_OPTIONS) as ch:
            kv = rpc_pb2_grpc.KVStub(ch)
            while not self.stop.is_set():
                self.pending = [e for e in self.pending if not self.settle(e, block=False)]
                if len(self.pending) < self.in_flight:
                    self.issue(kv, rpc_pb2)
                else:
                    time.sleep(0.0005)
            for e in self.pending:  # the server is being killed: each fails or was answered
                self.settle(e, block=True)
            self.pending = []


class Defragger(threading.Thread):
    """`etcdctl defrag` every few seconds (random); outcomes do not matter to the model."""

    def __init__(self, endpoint, rng, stop, log):
        super().__init__(daemon=True, name="defrag")
        self.endpoint, self.rng, self.stop, self.log = endpoint, rng, stop, log
        self.runs = self.ok = 0

    def run(self):
        env = {k: v for k, v in os.environ.items() if not k.startswith("ETCDCTL")}
        while not self.stop.wait(self.rng.uniform(0.5, 3.0)):
            self.runs += 1
            proc = subprocess.Popen([ETCDCTL, "--endpoints", self.endpoint, "--command-timeout", "60s", "defrag"],
                                    stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
            while proc.poll() is None:
                if self.stop.wait(0.02):
                    proc.kill()  # the server is gone: etcdctl would retry until its timeout
                    proc.wait()
                    return
            if proc.returncode == 0:
                self.ok += 1


# --------------------------------------------------------------------------------------------
# Checking after a restart
# --------------------------------------------------------------------------------------------

def describe(v):
    return "absent" if v is None else f"{v[:40]!r}…({len(v)} bytes)"


def verify(endpoint, model, cycle, seed):
    """Returns (lost, anomalies, checked): lost acknowledged writes and other contradictions,
    and how many acknowledged writes were checked. Then makes the model match the store."""
    import grpc
    rpc_pb2, rpc_pb2_grpc = load_stubs()
    lost, anomalies = [], list(model.anomalies)
    with grpc.insecure_channel(endpoint, options=CHANNEL_OPTIONS) as ch:
        kv = rpc_pb2_grpc.KVStub(ch)
        store_rev = kv.Range(rpc_pb2.RangeRequest(key=b"\0", limit=1), timeout=30).header.revision
        if store_rev < model.max_acked_rev:
            lost.append(f"store revision {store_rev} < highest acknowledged revision {model.max_acked_rev}")

        # 1. Every acknowledged write of this cycle, at its revision.
        def check_batch(batch):
            ops = [rpc_pb2.RequestOp(request_range=rpc_pb2.RangeRequest(key=k, revision=rev)) for k, _, rev, _ in batch]
            try:
                resp = kv.Txn(rpc_pb2.TxnRequest(success=ops), timeout=60)
            except grpc.RpcError as e:
                if len(batch) > 1:  # find which one (a revision in the future fails the whole txn)
                    for one in batch:
                        check_batch([one])
                    return
                k, v, rev, what = batch[0]
                lost.append(f"{what} of {k!r} = {describe(v)} acknowledged at rev {rev}: reading at that "
                            f"revision fails: {e.code().name} {e.details()}")
                return
            for (k, v, rev, what), r in zip(batch, resp.responses):
                kvs = r.response_range.kvs
                if v is None:
                    if kvs:
                        lost.append(f"delete of {k!r} acknowledged at rev {rev}: at rev {rev} it holds "
                                    f"{describe(kvs[0].value)} (mod rev {kvs[0].mod_revision})")
                elif not kvs:
                    lost.append(f"{what} of {k!r} = {describe(v)} acknowledged at rev {rev}: absent at rev {rev}")
                elif kvs[0].value != v or kvs[0].mod_revision != rev:
                    lost.append(f"{what} of {k!r} = {describe(v)} acknowledged at rev {rev}: at rev {rev} it holds "
                                f"{describe(kvs[0].value)} with mod rev {kvs[0].mod_revision}")

        acked = list(model.acked)
        for i in range(0, len(acked), 100):
            check_batch(acked[i:i + 100])

        # 2. Every key's current state: last acknowledged, or the unanswered request's effect.
        stored = {}
        resp = kv.Range(rpc_pb2.RangeRequest(key=PREFIX, range_end=PREFIX[:-1] + bytes([PREFIX[-1] + 1])), timeout=120)
        for x in resp.kvs:
            stored[x.key] = (x.value, x.mod_revision)
        txn_of = {}
        for pairs in model.unknown_txns:
            for k, _ in pairs:
                txn_of[k] = pairs
        applied_txns = set()
        for k, st in sorted(model.keys.items()):
            got = stored.get(k)
            got_value = got[0] if got else None
            matches_acked = (got is None and st.value is None) or \
                (got is not None and got_value == st.value and got[1] == st.mod_rev)
            matches_unknown = st.unknown is not None and (
                (st.unknown[0] == "del" and got is None) or
                (st.unknown[0] == "put" and got is not None and got_value == st.unknown[1] and got[1] > st.mod_rev))
            if matches_unknown and not matches_acked and k in txn_of:
                applied_txns.add(id(txn_of[k]))
            if not (matches_acked or matches_unknown):
                lost.append(f"{k!r}: last acknowledged {describe(st.value)} at rev {st.mod_rev}"
                            f"{'' if st.unknown is None else ', or unanswered ' + st.unknown[0]}; found "
                            f"{describe(got_value)}{'' if got is None else f' at mod rev {got[1]}'}")
        for pairs in model.unknown_txns:  # an unanswered txn: all of it or nothing
            if id(pairs) in applied_txns:
                for k, v in pairs:
                    got = stored.get(k)
                    if got is None or got[0] != v:
                        anomalies.append(f"unanswered txn applied partly: {k!r} is {describe(got and got[0])}")
        for k in stored:
            if k not in model.keys:
                anomalies.append(f"unexpected key {k!r} = {describe(stored[k][0])} at mod rev {stored[k][1]}")

        # 3. Adopt what is there; compact, so old revisions go and defrag has pages to free.
        with model.lock:
            for k, st in model.keys.items():
                got = stored.get(k)
                st.value, st.mod_rev = (got[0], got[1]) if got else (None, st.mod_rev)
                st.unknown = None
            for k, (v, rev) in stored.items():
                if k not in model.keys:
                    model.keys[k] = KeyState(v, rev)
            model.acked = []
            model.unknown_txns = []
            model.anomalies = []
            now = kv.Range(rpc_pb2.RangeRequest(key=b"\0", limit=1), timeout=30).header.revision
            model.max_acked_rev = max(model.max_acked_rev, max((r for _, r in stored.values()), default=0))
            if lost:
                model.max_acked_rev = min(model.max_acked_rev, now)  # do not report one loss every cycle
        try:
            kv.Compact(rpc_pb2.CompactionRequest(revision=now, physical=True), timeout=60)
        except grpc.RpcError:
            pass
    return lost, anomalies, len(acked)


# --------------------------------------------------------------------------------------------
# A run
# --------------------------------------------------------------------------------------------

# (name, lazyfs op, name pattern): where a cut may be aimed.
EVENTS = [
    ("segment cut (new .wal renamed into place)", "rename", "*.wal"),
    ("segment released (old .wal deleted)", "unlink", "*.wal"),
    ("spare segment created", "create", "*[0-9].tmp"),
    ("snapshot (.snap renamed into place)", "rename", "*.snap"),
    ("defrag (compacted copy renamed over db)", "rename", "db"),
    ("snapshot dir fsynced", "fsyncdir", "snap"),
    ("WAL append, before its fdatasync", "write", "*.wal"),
    ("LMDB page write (not synced: MDB_NOSYNC)", "write", "db"),
]


class Run:
    """A sequence of power-loss cycles on one data dir. `report` gets progress lines."""

    def __init__(self, seed, workdir, writers=3, min_run=1.0, max_run=6.0, snapshot_count=100,
                 model="strict", keep=0.0, keep_only=None, trace=False, report=print, extra=(),
                 sync_after_bootstrap=False, aim=None):
        self.seed, self.workdir, self.writers = seed, workdir, writers
        self.min_run, self.max_run, self.keep, self.keep_only = min_run, max_run, keep, keep_only
        self.sync_after_bootstrap = sync_after_bootstrap
        # Only cuts aimed at events whose label contains `aim` (None: every kind of cut).
        self.events = [e for e in EVENTS if aim is None or aim in e[0]]
        if not self.events:
            raise ValueError(f"no event matches {aim!r}: {[e[0] for e in EVENTS]}")
        self.aim = aim
        self.report = report
        self.fs = LazyMount(workdir, model=model, trace=trace)
        self.data_dir = os.path.join(self.fs.mountpoint, "data")
        self.member = Member(self.data_dir, os.path.join(workdir, "swetcd.log"),
                             ["--snapshot-count", str(snapshot_count), "--max-wals", "1", "--max-snapshots", "2", *extra])
        self.model = Model()
        self.summary = {"seed": seed, "cycles": 0, "acked_checked": 0, "lost_writes": 0, "anomalies": 0,
                        "start_failures": 0, "failures": [], "scenarios": {}, "bytes_dropped": 0,
                        "entries_dropped": 0, "torn_tail_repairs": 0, "wal_replays": 0, "entries_replayed": 0, "defrags": 0, "ops": 0,
                        "writes_acked": 0, "run_seconds": 0.0}
        self.cut_reports = []

    def setup(self):
        self.fs.mount()
        # The data dir's own entry is the operator's business: make it durable before the server
        # ever runs, so every finding is about what swetcd creates inside it.
        os.makedirs(self.data_dir, mode=0o700, exist_ok=True)
        self.fs.ctl("sync")
        self.member.start("initial")
        self.member.wait_ready()
        if self.sync_after_bootstrap:
            # Work around a known missing directory fsync at bootstrap (member/, member/wal/ and
            # member/snap/ are never made durable): one global sync after the first start, so the
            # cycles test everything else.
            self.fs.ctl("sync")

    def close(self):
        self.member.kill()
        try:
            self.member.wait_exit(30)
        except Exception:
            pass
        if self.fs.proc and self.fs.proc.poll() is None:
            try:
                self.fs.ctl("thaw")
            except OSError:
                pass
        self.fs.unmount()

    def cycle(self, n):
        rng = random.Random(f"{self.seed}/{n}/cut")
        scenario = "event" if self.aim else rng.choices(["random", "event", "startup"], weights=[4, 5, 1])[0]
        label, detail = scenario, ""
        if scenario == "event":
            label, op, glob = rng.choice(self.events)
            delay = rng.choice([0.0, rng.uniform(0.0, 0.05), rng.uniform(0.05, 0.8)])
            if op == "write":
                delay = 0.0  # right after the write, before whatever sync follows it
            count = rng.randint(1, 2) if op != "write" else rng.randint(1, 400)
            self.fs.ctl(f"arm {op} {glob} {delay:.4f} {count}")
            detail = f"{op} {glob} +{delay:.3f}s (#{count})"
        elif scenario == "random":
            at = rng.uniform(self.min_run, self.max_run)
            detail = f"at {at:.2f}s"
        self.summary["scenarios"][label] = self.summary["scenarios"].get(label, 0) + 1

        stop = threading.Event()
        writers = [Writer(w, self.member.endpoint, self.model, random.Random(f"{self.seed}/{n}/w{w}"), stop, n)
                   for w in range(self.writers)]
        defrag = Defragger(self.member.endpoint, random.Random(f"{self.seed}/{n}/defrag"), stop, None)
        started = time.time()
        threads = []
        if scenario == "startup":
            # Cut while the server recovers: restart it, freeze soon after (maybe before ready).
            self.member.kill()
            self.member.wait_exit(30)
            self.member.start(f"cycle {n}: start-up cut")
            time.sleep(rng.uniform(0.0, 0.6))
            self.fs.ctl("freeze")
            detail = f"{time.time() - started:.2f}s after start"
        else:
            threads = writers + [defrag]
            for t in threads:
                t.start()
            deadline = started + (at if scenario == "random" else self.max_run * 2)
            while time.time() < deadline:
                if scenario == "event" and self.fs.ctl("stats")["frozen"]:
                    break
                time.sleep(0.02)
            self.fs.ctl("freeze")
            st = self.fs.ctl("stats")
            if scenario == "event":
                self.fs.ctl("disarm")
                if st["triggered"]:
                    detail += f" fired on {st['triggered']['name']} after {st['triggered']['at'] - started:.2f}s"
                else:
                    detail += " (never fired: cut at the time limit)"
        # The power cut.
        t_cut = time.time()
        stop.set()
        stats = self.fs.ctl("stats")
        self.member.kill()
        cut = self.fs.ctl(f"power-cut keep={self.keep} seed={self.seed}-{n}" +
                          (f" only={self.keep_only}" if self.keep_only else ""))
        self.member.wait_exit(60)
        t_exited = time.time()
        for t in threads:
            t.join(timeout=120)
        t_joined = time.time()
        self.fs.unmount()
        self.cut_reports.append(cut)
        if stats["counters"]["internal_errors"]:
            raise RuntimeError(f"lazyfs had internal errors (a bug in the test file system):\n{self.fs.read_log()}")
        self.summary["bytes_dropped"] += cut["bytes_dropped"]
        self.summary["entries_dropped"] += len(cut["entries_dropped"])
        self.summary["defrags"] += defrag.ok
        self.summary["ops"] += stats["counters"]["ops"]
        elapsed = t_cut - started
        self.summary["run_seconds"] += elapsed

        # Back up, and check.
        t_mount = time.time()
        self.fs.mount()
        self.member.start(f"cycle {n}: after the power cut ({label} {detail})")
        try:
            self.member.wait_ready()
        except ServerFailed as e:
            self.summary["start_failures"] += 1
            self.fail(n, label, detail, cut, [f"swetcd failed to start after the power cut: {e}"], [], e.log)
            return False
        t_ready = time.time()
        log = self.member.this_start_log(limit=200000)
        self.summary["torn_tail_repairs"] += log.count("repaired the WAL's torn tail")
        for line in log.splitlines():
            if '"restarting local member"' in line:
                try:
                    rec = json.loads(line)
                    replayed = int(rec["commit-index"]) - int(rec["applied-index"])
                except (ValueError, KeyError):
                    continue
                self.summary["wal_replays"] += replayed > 0
                self.summary["entries_replayed"] += max(replayed, 0)
        acked = len(self.model.acked)
        lost, anomalies, checked = verify(self.member.endpoint, self.model, n, self.seed)
        t_done = time.time()
        phases = f"cut {t_mount - t_cut:.1f}s"
        if t_mount - t_cut > 5:
            phases += f" (server exit {t_exited - t_cut:.1f}s, clients {t_joined - t_exited:.1f}s, unmount {t_mount - t_joined:.1f}s)"
        phases += f", restart {t_ready - t_mount:.1f}s, check {t_done - t_ready:.1f}s"
        self.summary["cycles"] += 1
        self.summary["acked_checked"] += checked
        self.summary["writes_acked"] += acked
        counts = {}
        for t in writers:
            for k, v in t.counts.items():
                counts[k] = counts.get(k, 0) + v
        self.report(f"cycle {n}: {label} {detail}; {acked} acked ({counts}), {defrag.ok} defrags, "
                    f"{stats['counters']['fdatasyncs'] + stats['counters']['fsyncs']} fsyncs, "
                    f"{stats['counters']['fsyncdirs']} dir fsyncs in {elapsed:.1f}s; cut dropped "
                    f"{cut['bytes_dropped']} bytes, {len(cut['entries_dropped'])} entries; {phases}; "
                    f"{'OK' if not lost and not anomalies else f'{len(lost)} LOST, {len(anomalies)} anomalies'}")
        if lost or anomalies:
            self.fail(n, label, detail, cut, lost, anomalies, log)
        return True

    def fail(self, n, label, detail, cut, lost, anomalies, log):
        self.summary["lost_writes"] += len(lost)
        self.summary["anomalies"] += len(anomalies)
        entry = {"cycle": n, "seed": self.seed, "scenario": f"{label} {detail}", "lost": lost[:20],
                 "lost_count": len(lost), "anomalies": anomalies[:20],
                 "cut_entries_dropped": cut["entries_dropped"][:40],
                 "cut_files_reverted": [f for f in cut["files_reverted"]][:40], "server_log": log[-6000:]}
        self.summary["failures"].append(entry)
        self.report(f"cycle {n} FAILED (seed {self.seed}): {len(lost)} lost writes, {len(anomalies)} anomalies")
        for line in (lost + anomalies)[:10]:
            self.report(f"    {line}")
        self.report("    volatile directory entries the cut dropped: " +
                    json.dumps(cut["entries_dropped"][:20]))
        self.report("    server log after restart (tail):\n" + "\n".join("      " + l for l in log[-3000:].splitlines()))

    def run(self, cycles, stop_on_start_failure=True):
        try:
            self.setup()
            for n in range(1, cycles + 1):
                if not self.cycle(n):
                    if stop_on_start_failure:
                        break
                    # Start over on an empty data dir so a long run goes on.
                    self.member.kill()
                    self.fs.unmount()
                    shutil.rmtree(self.fs.backing)
                    self.model = Model()
                    self.setup()
        finally:
            self.close()
        return self.summary
