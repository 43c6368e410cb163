"""Runs one seeded request sequence against a fresh swetcd and a fresh etcd side by side,
compares every answer, watches for swetcd crashes, and collects the divergences by class.

The loop, per op:
  1. resolve the op's Syms (revisions from etcd's last answer; lease/member IDs per server),
  2. send it to both servers at once (unary calls in two threads; stream ops on each server's
     persistent stream),
  3. if swetcd died: record a crash (the op, the crash lines of its log), restart it on the same
     data dir to see whether it comes back (a trap during apply also traps during replay), then
     start both servers fresh and go on (or stop, with stop_on_crash),
  4. compare (responses.classify); on a divergence, compare the servers' whole state (all keys,
     leases, alarms); if that differs, later answers would all differ too: start both fresh.
     The same state check runs every `state_check_every` ops to catch silent differences.

After the run, each divergence and crash class is replayed on fresh servers with the shortest
suffix of the sequence that shows it again (the op alone, then the last 4, 16, 64 ops, then
everything since the last fresh start): that is the reproducer reported.
"""
import concurrent.futures
import os
import shutil
import sys
import tempfile
import time

import grpc

import known_differences
from generator import Generator
from protos import M, build, fmt, request_class
from responses import (TRANSPORT_CODES, Identity, Outcome, classify, diff, merge_range_stream,
                       normalize, watch_body)
from servers import FuzzServer, ServerDied, crash_signature
from values import Sym

REF = os.environ.get("ETCD_REFERENCE_DIR", os.path.expanduser("~/.cache/etcd-reference"))
DEFAULT_ETCD = os.path.join(REF, "etcd-3.5.16", "etcd")
DEFAULT_SWETCD = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".build", "release", "swetcd"))

# Calls that wait for other clients (a held lock, an older candidate): a short deadline.
WAITING_CALLS = ("Lock.Lock", "Election.Campaign")
WAITING_CALL_TIMEOUT = 1.0


def answered(out):
    """An UNKNOWN that the server sent on purpose: v3lock and v3election pass their inner
    client's errors on as UNKNOWN with etcd's text (a dying connection has no such text)."""
    return out.code == "UNKNOWN" and out.message.startswith(
        ("etcdserver: ", "election: ", "mutex: ", '"leader" field'))


STATE_CHECKS = [
    ("KV.Range", {"key": b"\x00", "range_end": b"\x00"}),
    ("Lease.LeaseLeases", {}),
    ("Maintenance.Alarm", {"action": 0, "memberID": 0, "alarm": 0}),
]


SPARES = 2


class Crash(Exception):
    """swetcd died while serving an op."""


class ReferenceDied(Exception):
    """etcd died: the run cannot go on with this pair."""


class Record:
    """One divergence class or crash class: how often, and its examples."""

    def __init__(self, cls, kind):
        self.cls = cls
        self.kind = kind              # "divergence" / "crash" / "state"
        self.count = 0
        self.example = None           # the smallest request seen
        self.first = None             # the first occurrence
        self.reproducer = None        # filled by the minimizer

    def add(self, example):
        self.count += 1
        if self.first is None:
            self.first = example
        if self.example is None or example["size"] < self.example["size"]:
            self.example = example

    def to_json(self):
        return {"class": self.cls, "kind": self.kind, "count": self.count, "example": self.example,
                "first": self.first if self.first is not self.example else "same as example",
                "reproducer": self.reproducer,
                "known_reason": known_differences.known_reason(self.cls)}


class Runner:
    def __init__(self, seed, requests, swetcd=DEFAULT_SWETCD, etcd=DEFAULT_ETCD, workdir=None,
                 stop_on_crash=False, progress_every=500, log=None, state_check_every=100,
                 call_timeout=10.0, from_index=0, minimize_budget=120.0):
        self.seed = seed
        self.requests = requests
        self.stop_on_crash = stop_on_crash
        self.progress_every = progress_every
        self.log = log or (lambda s: print(s, flush=True))
        self.state_check_every = state_check_every
        self.call_timeout = call_timeout
        self.from_index = from_index
        self.minimize_budget = minimize_budget
        self.own_workdir = workdir is None
        self.workdir = workdir or tempfile.mkdtemp(prefix="swetcd-fuzz-")
        self.binaries = (etcd, swetcd)
        self.etcd = self.sw = None
        self.pairs_made = 0
        self.pool = concurrent.futures.ThreadPoolExecutor(max_workers=2)
        # Fresh server pairs started ahead of need (etcd takes about a second to elect itself),
        # so that resets and reproducer replays rarely wait.
        self.spare_pool = concurrent.futures.ThreadPoolExecutor(max_workers=SPARES)
        self.spares = []
        self.ops = Generator(seed).ops(requests)
        self.records = {}             # class -> Record
        self.unimplemented = {}       # method -> count of UNIMPLEMENTED answers
        self.newly_implemented = {}   # method -> swetcd's first non-UNIMPLEMENTED answer
        self.stats = {"ops": 0, "compared": 0, "divergences": 0, "crashes": 0, "resets": 0,
                      "state_checks": 0, "skipped": 0, "probes": 0}
        self.notes = []
        self.rev = 1
        self.compact_rev = None
        self.reset_at = 0
        self.sw_log_offset = 0
        self.stream_history = {}      # watch stream -> texts of the requests sent on it

    # ----------------------------------------------------------------------------------------
    # Servers

    def new_pair(self):
        """A started (etcd, swetcd) pair on empty data dirs, in directories of its own."""
        self.pairs_made += 1
        d = os.path.join(self.workdir, f"pair{self.pairs_made}")
        etcd = FuzzServer("etcd", self.binaries[0], os.path.join(d, "etcd"))
        sw = FuzzServer("swetcd", self.binaries[1], os.path.join(d, "swetcd"))
        etcd.start(fresh=True)
        sw.start(fresh=True)
        try:
            etcd.wait_ready()
            try:
                sw.wait_ready()
            except ServerDied as e:
                raise RuntimeError(f"swetcd does not start on an empty data dir: {e.how}\n{e.log}")
        except BaseException:
            etcd.destroy()
            sw.destroy()
            raise
        return etcd, sw

    def start_fresh(self):
        """Swap in a fresh pair (a spare if one is ready) and order the next spare."""
        while len(self.spares) < SPARES:
            self.spares.append(self.spare_pool.submit(self.new_pair))
        fut = self.spares.pop(0)
        self.spares.append(self.spare_pool.submit(self.new_pair))
        for s in (self.etcd, self.sw):
            if s is not None:
                s.destroy()
        try:
            self.etcd, self.sw = fut.result()
        except RuntimeError:
            self.etcd = self.sw = None
            raise
        # A spare may have been waiting a while: nothing happened to it meanwhile.
        self.sw_log_offset = self.sw.log_size()
        self.etcd_log_offset = self.etcd.log_size()
        self.rev = 1
        self.compact_rev = None
        self.stream_history = {}
        # Set once a key was written with a lease ID each server chose for itself: from then on
        # the servers' histories hold different bytes and their HashKV hashes cannot agree.
        self.hash_covers_own_leases = False

    def reset(self, at_index):
        self.stats["resets"] += 1
        self.start_fresh()
        self.reset_at = at_index

    def close(self):
        for s in (self.etcd, self.sw):
            if s is not None:
                s.destroy()
        for fut in self.spares:
            try:
                for s in fut.result():
                    s.destroy()
            except Exception:  # noqa: BLE001
                pass
        self.pool.shutdown(wait=False)
        self.spare_pool.shutdown(wait=True)
        if self.own_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    # ----------------------------------------------------------------------------------------
    # Building and sending requests

    def resolver(self, side):
        def resolve(sym):
            if sym.kind == "rev":
                return self.rev + sym.arg
            if sym.kind == "compact":
                return (self.compact_rev if self.compact_rev is not None else 1) + sym.arg
            if sym.kind == "frac":
                return max(1, round(sym.arg * self.rev))
            if sym.kind == "lease":
                return side.auto_leases.get(sym.arg, 0)
            if sym.kind == "self":
                return side.member_id
            raise ValueError(sym.kind)
        return resolve

    def build(self, op, side):
        return build(request_class(op.method), op.spec, self.resolver(side))

    def ident(self, side):
        return Identity(side.member_id, side.server.client_port, side.server.peer_port, side.auto_leases)

    def unary(self, side, method, req):
        """One call on one server -> Outcome (server-streaming calls are read to the end)."""
        rpc = side.rpc(method)
        try:
            if method == "KV.RangeStream":
                resp = merge_range_stream(list(rpc(req, timeout=self.call_timeout)))
                method = "KV.Range"
            elif method in ("Maintenance.Snapshot", "Election.Observe"):
                chunks = []
                for c in rpc(req, timeout=3 if method == "Election.Observe" else self.call_timeout):
                    chunks.append(c)
                return Outcome("OK", body={"chunks": len(chunks)}, text=f"{len(chunks)} chunks")
            elif method in WAITING_CALLS:
                resp = rpc(req, timeout=WAITING_CALL_TIMEOUT)
            else:
                resp = rpc(req, timeout=self.call_timeout)
        except grpc.RpcError as e:
            code = e.code().name if e.code() else "UNKNOWN"
            if code == "DEADLINE_EXCEEDED" and method in WAITING_CALLS:
                # Whether the client's timer or the server's deadline ended it is a race.
                return Outcome(code, "")
            return Outcome(code, e.details() or "")
        return Outcome("OK", body=normalize(method, resp, self.ident(side)), text=fmt(resp), raw=resp)

    def wait_gone(self, side, key, timeout=10.0):
        """A Lock or Campaign that waited past its deadline deletes its key as it ends (etcd's
        Mutex.Lock and Election.Campaign do): wait for that, so the next request sees the same
        store on both servers."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if side.rpc("KV.Range")(M.rpc_pb2.RangeRequest(key=key, count_only=True), timeout=5).count == 0:
                    return
            except grpc.RpcError:
                return
            time.sleep(0.02)

    def both(self, f_etcd, f_sw):
        a = self.pool.submit(f_etcd)
        b = self.pool.submit(f_sw)
        return a.result(), b.result()

    def execute(self, op):
        """Send `op` to both servers -> (etcd Outcome, swetcd Outcome, request texts) or None
        when there is nothing to compare."""
        m = op.method
        if m in ("Watch.Send", "Watch.Drain", "Watch.Close"):
            return self.execute_watch(op)
        req_e, req_s = self.build(op, self.etcd), self.build(op, self.sw)
        texts = (fmt(req_e), fmt(req_s))
        if m == "Lease.LeaseKeepAlive":
            return self.execute_keepalive(req_e, req_s) + (texts,)
        if op.probe:
            out_s = self.unary(self.sw, m, req_s)
            self.stats["probes"] += 1
            return None, out_s, texts
        if m in known_differences.UNIMPLEMENTED and m not in self.newly_implemented:
            out_s = self.unary(self.sw, m, req_s)
            if out_s.code == "UNIMPLEMENTED":
                self.unimplemented[m] = self.unimplemented.get(m, 0) + 1
                return None, out_s, texts
            self.newly_implemented[m] = {"request": texts[1], "swetcd": out_s.describe()}
            self.log(f"note: {m} is no longer UNIMPLEMENTED in swetcd: {out_s.describe()[:200]}")
            if m not in known_differences.SAFE_ON_ETCD:
                return None, out_s, texts
            return self.unary(self.etcd, m, req_e), out_s, texts
        if m in known_differences.UNIMPLEMENTED and m not in known_differences.SAFE_ON_ETCD:
            return None, self.unary(self.sw, m, req_s), texts
        # etcd 3.5.16 has no RangeStream (3.7): swetcd's merged chunks must be etcd's Range answer.
        m_etcd = "KV.Range" if m == "KV.RangeStream" else m
        out_e, out_s = self.both(lambda: self.unary(self.etcd, m_etcd, req_e),
                                 lambda: self.unary(self.sw, m, req_s))
        if m in WAITING_CALLS:
            for side, out, req in ((self.etcd, out_e, req_e), (self.sw, out_s, req_s)):
                if out.code == "DEADLINE_EXCEEDED":
                    self.wait_gone(side, req.name + b"/" + Generator.go_hex(req.lease).encode())
        if m in ("KV.Put", "KV.Txn") and out_e.ok and out_s.ok and texts[0] != texts[1]:
            # The requests differ only where they name a server-chosen lease (or the member).
            self.hash_covers_own_leases = True
        if m == "Maintenance.HashKV" and self.hash_covers_own_leases and out_e.ok and out_s.ok:
            for out in (out_e, out_s):
                out.body["hash"] = "<covers keys with server-chosen lease IDs>"
        if op.auto_lease is not None:
            # Record the ID each server chose; in the grant's own answer show it as auto#n.
            for side, out in ((self.etcd, out_e), (self.sw, out_s)):
                if out.ok:
                    side.auto_leases[op.auto_lease] = out.raw.ID
                    out.body["ID"] = f"auto#{op.auto_lease}"
        return out_e, out_s, texts

    def execute_keepalive(self, req_e, req_s):
        streams = []
        for side, req in ((self.etcd, req_e), (self.sw, req_s)):
            s = side.keepalive_stream()
            s.take()
            s.send(req)
            streams.append((side, s))
        outs = []
        for side, s in streams:
            s.wait_count(1, timeout=5)
            got, closed = s.take()
            if got:
                outs.append(Outcome("OK", body=normalize("Lease.LeaseKeepAlive", got[0], self.ident(side)),
                                    text=fmt(got[0]) + (f" (+{len(got) - 1} more)" if len(got) > 1 else "")))
            elif closed is not None:
                outs.append(Outcome(closed[0], closed[1]))
            else:
                outs.append(Outcome("NO_ANSWER", "no keep-alive response within 5 s"))
        return outs[0], outs[1]

    def execute_watch(self, op):
        n = op.stream
        if op.method == "Watch.Close":
            for side in (self.etcd, self.sw):
                side.drop_watch_stream(n)
            self.stream_history.pop(n, None)
            return None
        texts = ("", "")
        streams = None
        create = (op.spec or {}).get("create_request") if op.method == "Watch.Send" else None
        if op.method == "Watch.Send":
            req_e, req_s = self.build(op, self.etcd), self.build(op, self.sw)
            texts = (f"[stream {n}] {fmt(req_e)}", f"[stream {n}] {fmt(req_s)}")
            self.stream_history.setdefault(n, []).append(texts[0])
            # The stream objects are taken once: one the server ends while this request is
            # handled must stay the one whose end is reported (watch_stream would open anew).
            sent = [self.etcd.watch_stream(n), self.sw.watch_stream(n)]
            created_before = [s.created for s in sent]
            sent[0].send(req_e)
            sent[1].send(req_s)
            if create is not None:
                # Both servers answer every create (an invalid or duplicate one with
                # created+canceled), or end the stream: wait for that, however loaded the
                # machine is, before the quiet window below.
                for s, before in zip(sent, created_before):
                    s.wait_created(before + 1, timeout=10)
        else:
            texts = (f"[stream {n}] drain", f"[stream {n}] drain")
            if n not in self.etcd.watch_streams and n not in self.sw.watch_streams:
                return None
        streams = [side.watch_streams.get(n) for side in (self.etcd, self.sw)]
        # Always let the servers act on the request before the sequence goes on: a create
        # racing a later put on another connection would see it or not by timing. A watcher
        # starting in the past is caught up by etcd's background sync (every 100 ms): give
        # that time; otherwise replies and events come at once.
        quiet = 0.15 if (create or {}).get("start_revision", 0) != 0 else 0.05
        self.settle([s for s in streams if s is not None], quiet=quiet)
        if op.method == "Watch.Send" and not op.drain:
            return None   # what arrived stays queued for the next drain of this stream
        taken = [s.take() if s is not None else ([], None) for s in streams]
        outs = self.watch_outcomes(taken)
        if classify(op.method, outs[0], outs[1]) is not None:
            # Events of earlier writes may still be on their way to one side (a loaded machine
            # outlasts any quiet window): before calling it a divergence, wait longer for both
            # and compare everything that arrived.
            self.settle([s for s in streams if s is not None], quiet=1.0, max_wait=5.0)
            more = [s.take() if s is not None else ([], None) for s in streams]
            taken = [(got + got2, closed2 if closed2 is not None else closed)
                     for (got, closed), (got2, closed2) in zip(taken, more)]
            outs = self.watch_outcomes(taken)
        return outs[0], outs[1], texts

    def watch_outcomes(self, taken):
        """(etcd, swetcd) outcomes of what each side's stream delivered."""
        outs = []
        for side, (got, closed) in zip((self.etcd, self.sw), taken):
            body = watch_body(got, closed, self.ident(side))
            text = "; ".join(fmt(r) for r in got[:20]) + (f" ... ({len(got)} responses)" if len(got) > 20 else "")
            if closed is not None:
                text += f" [stream ended: {closed[0]} {closed[1]}]"
            outs.append(Outcome("OK", body=body, text=text or "(nothing)"))
        return outs

    @staticmethod
    def settle(streams, quiet=0.15, max_wait=3.0):
        """Wait until no stream has delivered anything for `quiet` seconds."""
        start = time.monotonic()
        while True:
            now = time.monotonic()
            last = max(s.last_rx for s in streams) if streams else start
            if now - max(last, start) >= quiet or now - start >= max_wait:
                return
            time.sleep(min(0.05, quiet - (now - max(last, start)) + 0.005))

    # ----------------------------------------------------------------------------------------
    # Crashes

    def check_alive(self, out_s):
        """Raise Crash if swetcd died (waiting a moment when its answer looks like a dying
        connection), ReferenceDied if etcd did."""
        if not self.etcd.alive():
            raise ReferenceDied(self.etcd.exit_description())
        if self.sw.alive():
            if out_s is None or out_s.code not in TRANSPORT_CODES or answered(out_s):
                return
            if not self.sw.wait_exit(1.5):
                return
        raise Crash(self.sw.exit_description())

    def handle_crash(self, op, texts, how):
        lines = self.sw.crash_lines(self.sw_log_offset)
        sig = crash_signature(lines)
        cls = f"CRASH {op.method if op else 'state check'}: {sig}"
        self.stats["crashes"] += 1
        recovered, restart_log = self.restart_check()
        example = {
            "seed": self.seed, "index": op.index if op else None, "reset_at": self.reset_at,
            "method": op.method if op else "state check", "request": texts[1] if texts else "",
            "size": len(texts[1]) if texts else 0, "exit": how, "crash_lines": lines[:12],
            "recent": self.recent(op.index if op else self.reset_at),
            "restart_on_same_data_dir": "comes back" if recovered else "does NOT come back",
            "restart_log": restart_log,
        }
        rec = self.records.get(cls) or self.records.setdefault(cls, Record(cls, "crash"))
        rec.add(example)
        self.log(f"CRASH at seed {self.seed} #{example['index']} {example['method']}: {sig} ({how}); "
                 f"restart on the same data dir: {example['restart_on_same_data_dir']}\n    request: {example['request'][:300]}")

    def handle_reference_crash(self, op, how):
        """etcd itself died: a request the reference cannot take (the generator should send it
        as a swetcd-only probe instead). Recorded apart from swetcd's crashes."""
        lines = self.etcd.crash_lines(self.etcd_log_offset)
        sig = next((ln for ln in lines if "panic" in ln), lines[0] if lines else "no panic line")
        cls = f"ETCD CRASH {op.method}: {crash_signature([sig])}"
        texts = getattr(self, "_texts", None) or ("", "")
        rec = self.records.get(cls) or self.records.setdefault(cls, Record(cls, "etcd-crash"))
        rec.add({"seed": self.seed, "index": op.index, "reset_at": self.reset_at, "method": op.method,
                 "request": texts[0] or self.op_text(op), "size": len(texts[0]), "exit": how,
                 "crash_lines": lines[:12], "recent": self.recent(op.index),
                 "restart_on_same_data_dir": "not tried (reference)"})
        self.log(f"etcd (the reference) died at #{op.index} {op.method}: {sig[:200]}\n    request: {texts[0][:300]}")

    def restart_check(self):
        """Start swetcd again on the data dir it crashed with: does it come back?"""
        offset = self.sw.log_size()
        try:
            self.sw.start(fresh=False)
            self.sw.wait_ready(timeout=20)
            return True, []
        except ServerDied as e:
            return False, [e.how] + self.sw.crash_lines(offset)[:8]
        except RuntimeError as e:
            return False, [str(e)[:300]]
        finally:
            self.sw.stop()

    def recent(self, index, n=6):
        lo = max(self.reset_at, index - n)
        return [f"#{i} {self.op_text(self.ops[i])}" for i in range(lo, index)]

    def op_text(self, op):
        """A text of an op before resolution (Syms shown symbolically)."""
        if op.method == "Watch.Drain" or op.method == "Watch.Close":
            return f"{op.method}[stream {op.stream}]"
        try:
            msg = build(request_class(op.method), op.spec, lambda s: 0)
            text = fmt(msg, limit=300)
        except Exception as e:  # noqa: BLE001
            text = f"<{e}>"
        syms = _syms(op.spec)
        extra = f" with {', '.join(f'{k}={v!r}' for k, v in syms)}" if syms else ""
        stream = f"[stream {op.stream}] " if op.stream is not None else ""
        return f"{op.method} {stream}{text}{extra}"

    # ----------------------------------------------------------------------------------------
    # Comparison

    def compare(self, op, out_e, out_s, texts):
        method = op.method if op else "state"
        result = classify(method, out_e, out_s)
        if result is None:
            return False
        cls, paths = result
        self.stats["divergences"] += 1
        example = {
            "seed": self.seed, "index": op.index if op else None, "reset_at": self.reset_at,
            "method": method, "request": texts[0], "size": len(texts[0]),
            "etcd": out_e.describe()[:3000], "swetcd": out_s.describe()[:3000],
            "diff": [(p, repr(a)[:200], repr(b)[:200]) for p, a, b in paths[:10]],
        }
        if texts[1] != texts[0]:
            example["request_swetcd"] = texts[1]
        if op is not None and op.method.startswith("Watch."):
            example["stream_history"] = self.stream_history.get(op.stream, [])[-12:]
        rec = self.records.get(cls)
        if rec is None:
            rec = self.records[cls] = Record(cls, "divergence")
            known = known_differences.known_reason(cls)
            self.log(f"new divergence{' (known)' if known else ''} at seed {self.seed} #{example['index']}: {cls}\n"
                     f"    request: {texts[0][:300]}\n    etcd:    {example['etcd'][:300]}\n"
                     f"    swetcd:  {example['swetcd'][:300]}")
        rec.add(example)
        return True

    def note_revision(self, out_e, op):
        """Follow etcd's revision (for Syms) and its compactions."""
        if not out_e.ok or not isinstance(out_e.body, dict):
            return
        h = out_e.body.get("header")
        if isinstance(h, dict) and h.get("revision", 0) > 0:
            self.rev = h["revision"]
        if op is not None and op.method == "KV.Compact":
            rev = self.build(op, self.etcd).revision
            self.compact_rev = rev

    def state_differs(self):
        """Compare the whole state of both servers; the differing checks' classes, or []."""
        self.stats["state_checks"] += 1
        found = []
        for method, spec in STATE_CHECKS:
            req = build(request_class(method), spec, lambda s: 0)
            out_e, out_s = self.both(lambda: self.unary(self.etcd, method, req),
                                     lambda: self.unary(self.sw, method, req))
            self.check_alive(out_s)
            r = classify(method, out_e, out_s)
            if r is not None:
                found.append((method, r, out_e, out_s, fmt(req)))
        return found

    # ----------------------------------------------------------------------------------------
    # The run

    def run(self):
        t0 = time.time()
        try:
            self.start_fresh()
            self.reset_at = self.from_index
            last_check = self.from_index
            i = self.from_index
            while i < len(self.ops):
                op = self.ops[i]
                try:
                    self.step(op)
                    if i + 1 - last_check >= self.state_check_every:
                        last_check = i + 1
                        self.periodic_state_check(i)
                except Crash as c:
                    self.handle_crash(op, getattr(self, "_texts", None), str(c))
                    if self.stop_on_crash:
                        self.stats["ops"] += 1
                        break
                    self.reset(i + 1)
                except ReferenceDied as e:
                    self.handle_reference_crash(op, str(e))
                    self.reset(i + 1)
                self.stats["ops"] += 1
                i += 1
                if self.progress_every and self.stats["ops"] % self.progress_every == 0:
                    self.progress(t0)
            self.elapsed = time.time() - t0
            self.progress(t0, final=True)
            if self.minimize_budget > 0:
                self.minimize()
        finally:
            self.close()
        return self.report()

    def step(self, op, compare=True):
        self._texts = None
        res = self.execute(op)
        if res is None:
            self.check_alive(None)
            self.stats["skipped"] += 1
            return None
        out_e, out_s, texts = res
        self._texts = texts
        self.check_alive(out_s)
        if out_e is None:
            self.stats["skipped"] += 1
            return None
        self.stats["compared"] += 1
        self.note_revision(out_e, op)
        if not compare:
            return out_e, out_s, texts
        if self.compare(op, out_e, out_s, texts):
            if op.method.startswith("Watch."):
                # The stream's watchers may now differ: start that stream afresh on both.
                for side in (self.etcd, self.sw):
                    side.drop_watch_stream(op.stream)
                self.stream_history.pop(op.stream, None)
            if self.state_differs():
                self.reset(op.index + 1)
        return out_e, out_s, texts

    def periodic_state_check(self, i):
        found = self.state_differs()
        for method, (cls, paths), out_e, out_s, text in found:
            cls = f"STATE after #{self.reset_at}..#{i}: {cls}"
            rec = self.records.get(cls) or self.records.setdefault(cls, Record(cls, "state"))
            rec.add({"seed": self.seed, "index": i, "reset_at": self.reset_at, "method": method,
                     "request": text, "size": 10 ** 9, "etcd": out_e.describe()[:3000],
                     "swetcd": out_s.describe()[:3000],
                     "diff": [(p, repr(a)[:200], repr(b)[:200]) for p, a, b in paths[:10]],
                     "recent": self.recent(i + 1, n=20)})
            self.log(f"state differs after #{i} with no divergence seen: {cls}")
        if found:
            self.reset(i + 1)

    def progress(self, t0, final=False):
        dt = max(time.time() - t0, 1e-6)
        s = self.stats
        self.log(f"[seed {self.seed}] {'done ' if final else ''}{s['ops']}/{len(self.ops) - self.from_index} ops, "
                 f"{s['divergences']} divergences in {sum(1 for r in self.records.values() if r.kind != 'crash')} "
                 f"classes, {s['crashes']} crashes, {s['resets']} resets, {s['ops'] / dt:.0f} req/s")

    # ----------------------------------------------------------------------------------------
    # Reproducers

    def minimize(self):
        """For each class, a short list of requests that shows it again on fresh servers: the
        example alone if that does it; else the shortest suffix before it that does (4, 16,
        64 requests, or all since the last fresh start), then cut down further by delta
        debugging (dropping chunks of the earlier requests while the class still shows)."""
        deadline = time.time() + self.minimize_budget
        # Replays are not part of the run: keep its counters as they are.
        saved = (dict(self.stats), dict(self.unimplemented))
        try:
            self._minimize(deadline)
        finally:
            self.stats, self.unimplemented = saved

    def _minimize(self, deadline):
        todo = sorted((r for r in self.records.values() if r.kind in ("divergence", "crash")),
                      key=lambda r: (r.kind != "crash", r.example["index"] - r.example["reset_at"]))
        for n, rec in enumerate(todo):
            if time.time() > deadline:
                break
            # Share what is left fairly between the classes still to do.
            share = (deadline - time.time()) / (len(todo) - n)
            rec.reproducer = self.minimize_one(rec, min(deadline, time.time() + max(share, 10)))

    def minimize_one(self, rec, deadline):
        ex = rec.example
        idx, lo = ex["index"], ex["reset_at"]
        if idx is None:
            return None
        attempts = 0
        found = None
        for back in (0, 3, 15, 63, idx - lo):
            if back > idx - lo or time.time() > deadline:
                continue
            prefix = list(range(idx - back, idx))
            attempts += 1
            got = self.replay(prefix + [idx], rec)
            if got is not None:
                found = (prefix, got)
                break
            if back == idx - lo:
                break
        if found is None:
            return {"reproduces": False, "attempts": attempts,
                    "note": "not reproduced on fresh servers by replaying the requests before it "
                            "since the last fresh start (timing dependent?)" if time.time() <= deadline
                    else "no time left to look for a reproducer"}
        prefix, best = found
        # ddmin over the prefix (complements only: drop one chunk at a time).
        chunks = 2
        while len(prefix) >= 1 and time.time() < deadline:
            size = max(1, -(-len(prefix) // chunks))
            reduced = False
            for start in range(0, len(prefix), size):
                if time.time() > deadline:
                    break
                candidate = prefix[:start] + prefix[start + size:]
                attempts += 1
                got = self.replay(candidate + [idx], rec)
                if got is not None:
                    prefix, best, reduced = candidate, got, True
                    chunks = max(chunks - 1, 2)
                    break
            if not reduced:
                if size == 1:
                    break
                chunks = min(len(prefix), chunks * 2)
        best["attempts"] = attempts
        best["minimal"] = time.time() < deadline
        return best

    def replay(self, indices, rec):
        """Replay the ops `indices` (in order) on fresh servers; a reproducer dict if the last
        one shows `rec`'s class again."""
        try:
            self.start_fresh()
        except RuntimeError:
            return None
        self.reset_at = indices[0]
        texts = []
        for n, i in enumerate(indices):
            op = self.ops[i]
            last = n == len(indices) - 1
            try:
                res = self.step(op, compare=False)
            except Crash as c:
                if last and rec.kind == "crash":
                    lines = self.sw.crash_lines(self.sw_log_offset)
                    if rec.cls.endswith(crash_signature(lines)):
                        return {"reproduces": True, "standalone": len(indices) == 1, "requests": texts +
                                [f"#{i} {op.method} {(self._texts or ('', ''))[1]}"], "crash": str(c),
                                "crash_lines": lines[:8]}
                return None
            except ReferenceDied:
                return None
            t = self._texts[0] if self._texts else ""
            texts.append(f"#{i} {op.method} {t}" if t else f"#{i} {self.op_text(op)}")
            if last and res is not None and rec.kind == "divergence":
                out_e, out_s, _ = res
                r = classify(op.method, out_e, out_s)
                if r is not None and r[0] == rec.cls:
                    return {"reproduces": True, "standalone": len(indices) == 1, "requests": texts,
                            "etcd": out_e.describe()[:3000], "swetcd": out_s.describe()[:3000]}
        return None

    # ----------------------------------------------------------------------------------------
    # Report

    def report(self):
        return {
            "seed": self.seed, "requests": len(self.ops) - self.from_index,
            "elapsed_s": round(getattr(self, "elapsed", 0), 1),
            "req_per_s": round(self.stats["ops"] / max(getattr(self, "elapsed", 0), 1e-6), 1),
            "stats": dict(self.stats), "unimplemented": dict(self.unimplemented),
            "newly_implemented": self.newly_implemented, "notes": self.notes,
            "classes": [r.to_json() for r in sorted(self.records.values(), key=lambda r: (r.kind, r.cls))],
        }


def _syms(spec, path=""):
    out = []
    if isinstance(spec, dict):
        for k, v in spec.items():
            out.extend(_syms(v, f"{path}.{k}" if path else k))
    elif isinstance(spec, list):
        for i, v in enumerate(spec):
            out.extend(_syms(v, f"{path}[{i}]"))
    elif isinstance(spec, Sym):
        out.append((path, spec))
    return out


def main_sys_path():
    """Directories the fuzzer's modules import from (for callers outside Tests/Fuzz)."""
    return [os.path.dirname(os.path.abspath(__file__))]


if __name__ == "__main__":
    sys.exit("run Tests/Fuzz/differential.py")
