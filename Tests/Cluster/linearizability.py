"""Linearizability checker for histories of etcd key-value operations.

A history is a list of `Op`s recorded by concurrent clients: each has the wall-clock
(monotonic) time it was called and the time it returned, and an outcome:

  put(key, value)            ok with the revision of the write, or unknown (timeout, connection
                             lost: it may take effect at any moment after its call, or never)
  get(key)                   the value read (None: not found), its mod_revision and the
                             response's header revision
  cas(key, expected, value)  a Txn "if value(key) == expected then put(key, value) else
                             range(key)": ok+succeeded with the write's revision, ok+failed
                             (optionally with the value/mod_revision the failure branch read),
                             or unknown

Values written must be unique (every put/cas writes a value nobody else writes); that is what
lets the checker tie reads to writes and makes the search cheap. The workload is assumed to
have no deletes and one write per revision (no multi-put transactions).

Two groups of checks run:

1. Wing & Gong / Porcupine search, per key (linearizability is compositional, so keys are
   checked separately). The history becomes a doubly linked list of call and return events in
   time order; the search linearizes any op whose call is before the first pending return,
   backtracks when a return is reached whose op has not been linearized, and memoizes
   (set of linearized ops, model state) pairs so no configuration is explored twice. The
   model is a register whose state is the current value; a write may only follow a write of
   lower revision (etcd's revisions order all writes). Ops with an unknown outcome are
   optional: they may be linearized anywhere after their call, or not at all. A failed op has
   no effect and is dropped. As an exact reduction, an optional write whose value no op ever
   observes is dropped too (see `_reduce`). Writes whose revision is known are tried only in
   revision order, which keeps bursts of overlapping writes from being tried in every order;
   an unknown-outcome write whose revision is known (a read returned its value, or the caller
   found it in the server's write log) did happen, at that revision.

2. Revision checks across all keys (etcd revisions are one global counter):
   R1 every value has one revision: all reports of it (put ack, reads) agree, and two
      different written values never share a revision;
   R2 revisions follow real time: if op A returned before op B was called, then B's revision
      point is >= A's (strictly greater when B is a write). An acknowledged write's point is
      its revision; a linearizable read's point is its header revision (the store revision it
      read at, which lies between its call and return). Serializable reads are exempt.
   R3 a read is a snapshot at its header revision H: the value it returns with mod_revision m
      must be the latest write to that key with revision <= H, so m <= H and no known write
      to the key has a revision in (m, H]; a "not found" means no known write <= H. This holds
      for serializable reads too.
   R0 a value read was written by some put/cas on that key, called before the read returned.

Everything here is conservative: a reported violation is one no execution of a correct etcd
could produce given the recorded times (calls are stamped before sending, returns after
receiving, and ties are treated as concurrent).
"""

from __future__ import annotations

import bisect
import json
import math
import sys
import time
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Iterable, Optional

OK = "ok"            # completed, outcome known
FAIL = "fail"        # definitely had no effect
UNKNOWN = "unknown"  # may or may not have taken effect (any time after its call)

INF = math.inf


@dataclass
class Op:
    kind: str                       # "put" | "get" | "cas"
    key: str
    call: float
    ret: Optional[float]            # None: never returned (unknown outcome)
    status: str = OK
    client: int = -1
    value: Optional[str] = None     # put/cas: value written
    expected: Optional[str] = None  # cas: compared value (None: key must be absent)
    succeeded: Optional[bool] = None  # cas with status ok
    write_rev: Optional[int] = None   # put/cas: revision of the write when known
    read: Optional[str] = None      # get / failed cas (if recorded): value read, None = absent
    read_rev: Optional[int] = None  # mod_revision of the value read
    header_rev: Optional[int] = None  # get / cas: response header revision
    read_recorded: bool = True      # failed cas: whether `read` holds what the failure branch read
    linearizable: bool = True       # get: False for serializable reads
    id: int = -1                    # position in the history (assigned by check())
    note: str = ""                  # free text shown in reports (member, error, ...)

    # -- classification -------------------------------------------------------------------
    def is_write_attempt(self) -> bool:
        return self.kind == "put" or self.kind == "cas"

    def is_acked_write(self) -> bool:
        return self.status == OK and (self.kind == "put" or (self.kind == "cas" and self.succeeded))

    def is_read(self) -> bool:
        """Completed op that reports the key's value (get, or failed cas with its read)."""
        if self.status != OK:
            return False
        if self.kind == "get":
            return True
        return self.kind == "cas" and self.succeeded is False and self.read_recorded

    def end(self) -> float:
        return INF if self.ret is None or self.status == UNKNOWN else self.ret

    def __str__(self) -> str:
        t = f"[{self.call:.3f}, {'?' if self.end() == INF else f'{self.ret:.3f}'}]"
        who = f"c{self.client} " if self.client >= 0 else ""
        if self.kind == "put":
            body = f"put({self.key}, {self.value!r})"
            res = f"ok rev={self.write_rev}" if self.status == OK else self.status
        elif self.kind == "get":
            body = f"get({self.key})" + ("" if self.linearizable else " serializable")
            res = (f"{self.read!r} mod_rev={self.read_rev} header_rev={self.header_rev}"
                   if self.status == OK else self.status)
        else:
            body = f"cas({self.key}, {self.expected!r} -> {self.value!r})"
            if self.status != OK:
                res = self.status
            elif self.succeeded:
                res = f"succeeded rev={self.write_rev}"
            else:
                res = "failed" + (f", read {self.read!r} mod_rev={self.read_rev}" if self.read_recorded else "")
        if self.write_rev is not None and self.status == UNKNOWN:
            res += f" (rev={self.write_rev} known from elsewhere)"
        return f"#{self.id} {who}{body} {t} -> {res}" + (f" {self.note}" if self.note else "")


def put(key, value, call, ret, status=OK, rev=None, client=-1, note=""):
    return Op("put", key, call, ret, status, client, value=value, write_rev=rev, note=note)


def get(key, read, call, ret, status=OK, mod_rev=None, header_rev=None, client=-1,
        linearizable=True, note=""):
    return Op("get", key, call, ret, status, client, read=read, read_rev=mod_rev,
              header_rev=header_rev, linearizable=linearizable, note=note)


def cas(key, expected, value, call, ret, status=OK, succeeded=None, rev=None, read=None,
        read_rev=None, header_rev=None, read_recorded=None, client=-1, note=""):
    if read_recorded is None:
        read_recorded = status == OK and succeeded is False and (read is not None or read_rev is not None)
    return Op("cas", key, call, ret, status, client, value=value, expected=expected,
              succeeded=succeeded, write_rev=rev, read=read, read_rev=read_rev,
              header_rev=header_rev, read_recorded=read_recorded, note=note)


@dataclass
class KeyReport:
    key: str
    ops: int
    searched: int           # ops left after the reduction
    steps: int
    seconds: float
    ok: Optional[bool]      # None: search budget exhausted (inconclusive)
    message: str = ""


@dataclass
class Result:
    ok: bool                          # no violation found and nothing inconclusive
    violations: list = field(default_factory=list)   # human-readable, one per finding
    inconclusive: list = field(default_factory=list)
    keys: list = field(default_factory=list)         # KeyReport per key
    linearizations: dict = field(default_factory=dict)  # key -> [op ids] when found

    def summary(self) -> str:
        lines = [f"linearizability: {'OK' if self.ok else 'VIOLATION' if self.violations else 'INCONCLUSIVE'}"]
        for k in self.keys:
            lines.append(f"  key {k.key!r}: {k.ops} ops ({k.searched} searched), {k.steps} steps, "
                         f"{k.seconds:.2f}s, {'ok' if k.ok else 'inconclusive' if k.ok is None else 'NOT linearizable'}")
        lines += [f"  ! {v}" for v in self.violations]
        lines += [f"  ? {v}" for v in self.inconclusive]
        return "\n".join(lines)


def dump(ops: Iterable[Op], path: str):
    """Write a history as JSON lines (what `load` and `python3 linearizability.py FILE` read)."""
    with open(path, "w") as f:
        for op in ops:
            d = dict(op.__dict__)
            if d["ret"] is None:
                del d["ret"]
            f.write(json.dumps(d) + "\n")


def load(path: str) -> list:
    ops = []
    with open(path) as f:
        for line in f:
            d = json.loads(line)
            d.setdefault("ret", None)
            ops.append(Op(**d))
    return ops


# ---------------------------------------------------------------------------------------------
# Entry point
# ---------------------------------------------------------------------------------------------

def check(history: Iterable[Op], max_steps_per_key: int = 2_000_000,
          max_report: int = 20) -> Result:
    ops = list(history)
    for i, op in enumerate(ops):
        op.id = i
    res = Result(ok=True)
    violations = res.violations

    _check_values_written(ops, violations)
    rev_of = _check_revision_identity(ops, violations)
    _check_real_time_revisions(ops, rev_of, violations)
    _check_snapshot_reads(ops, rev_of, violations)

    by_key = defaultdict(list)
    for op in ops:
        by_key[op.key].append(op)
    for key in sorted(by_key, key=str):
        t0 = time.monotonic()
        kept = _reduce(by_key[key])
        ok, steps, message, order = _search(kept, rev_of, max_steps_per_key)
        res.keys.append(KeyReport(key, len(by_key[key]), len(kept), steps, time.monotonic() - t0, ok, message))
        if ok is False:
            violations.append(f"key {key!r} is not linearizable: {message}")
        elif ok is None:
            res.inconclusive.append(f"key {key!r}: {message}")
        else:
            res.linearizations[key] = order
    if len(violations) > max_report:
        extra = len(violations) - max_report
        del violations[max_report:]
        violations.append(f"... and {extra} more")
    res.ok = not res.violations and not res.inconclusive
    return res


# ---------------------------------------------------------------------------------------------
# Revision checks (R0-R3)
# ---------------------------------------------------------------------------------------------

def _check_values_written(ops, violations):
    """R0: every value read was written on that key by an op called before the read returned."""
    writers = {}
    for op in ops:
        if op.is_write_attempt() and op.value is not None:
            if (op.key, op.value) in writers:
                violations.append(f"history error: value {op.value!r} written twice on {op.key!r} "
                                  f"({writers[(op.key, op.value)]} and {op}); values must be unique")
            writers[(op.key, op.value)] = op
    for op in ops:
        if op.is_read() and op.read is not None:
            w = writers.get((op.key, op.read))
            if w is None:
                violations.append(f"read of a value never written: {op}")
            elif w.status == FAIL:
                violations.append(f"read of a value whose write definitely failed: {op} (write {w})")
            elif w.call > op.end():
                violations.append(f"read of a value written later: {op} (write {w})")


def _check_revision_identity(ops, violations):
    """R1: value -> revision map, from acknowledged writes and from reads."""
    rev_of = {}      # (key, value) -> (revision, op that told us)
    for op in ops:
        facts = []
        if op.is_write_attempt() and op.write_rev is not None and op.status != FAIL:
            facts.append((op.value, op.write_rev))
        if op.is_read() and op.read is not None and op.read_rev is not None:
            facts.append((op.read, op.read_rev))
        for value, rev in facts:
            seen = rev_of.get((op.key, value))
            if seen is None:
                rev_of[(op.key, value)] = (rev, op)
            elif seen[0] != rev:
                violations.append(f"value {value!r} of {op.key!r} has two revisions: {seen[0]} ({seen[1]}) "
                                  f"and {rev} ({op})")
    by_rev = {}
    for (key, value), (rev, op) in rev_of.items():
        other = by_rev.get(rev)
        if other is not None:
            violations.append(f"revision {rev} given to two writes: {other[0]!r}={other[1]!r} and "
                              f"{key!r}={value!r}")
        else:
            by_rev[rev] = (key, value)
    return {kv: r for kv, (r, _) in rev_of.items()}


def _revision_point(op, rev_of):
    """(revision, is_write) where op takes effect in the global revision order, or None."""
    if op.status == FAIL:
        return None
    if op.kind == "put" or (op.kind == "cas" and (op.succeeded or op.status == UNKNOWN)):
        # An unknown write whose value was seen (or whose revision is known otherwise) did
        # happen, at a revision created after its call; it only ever plays the later op in R2.
        rev = op.write_rev if op.write_rev is not None else rev_of.get((op.key, op.value))
        return None if rev is None else (rev, True)
    if op.status != OK or op.header_rev is None:
        return None
    if op.kind == "get" and not op.linearizable:
        return None
    return op.header_rev, False   # linearizable get, or failed cas (a read through raft)


def _check_real_time_revisions(ops, rev_of, violations):
    """R2. A sweep over ops by call time, keeping the largest write revision and the largest
    read revision among ops that returned strictly before the call."""
    points = []
    for op in ops:
        p = _revision_point(op, rev_of)
        if p is not None:
            points.append((op, p[0], p[1]))
    done = sorted((x for x in points if x[0].end() != INF), key=lambda x: x[0].ret)
    max_w = max_r = None  # (rev, op)
    i = 0
    for op, rev, is_write in sorted(points, key=lambda x: x[0].call):
        while i < len(done) and done[i][0].ret < op.call:
            a, arev, awrite = done[i]
            if awrite and (max_w is None or arev > max_w[0]):
                max_w = (arev, a)
            if not awrite and (max_r is None or arev > max_r[0]):
                max_r = (arev, a)
            i += 1
        for prior, prior_is_write in ((max_w, True), (max_r, False)):
            if prior is None:
                continue
            prev, pop = prior
            if is_write and rev <= prev:
                violations.append(f"revision order contradicts real time: {op} has revision {rev} but "
                                  f"{'write' if prior_is_write else 'read'} {pop} at revision {prev} "
                                  f"returned before it was called")
            elif not is_write and rev < prev:
                what = ("stale read: it misses write" if prior_is_write else
                        "read went back in time: an earlier read")
                violations.append(f"{what} {pop} (revision {prev}), which returned before {op} was called "
                                  f"(read at revision {rev})")


def _check_snapshot_reads(ops, rev_of, violations):
    """R3: a read at header revision H returns the key's latest write with revision <= H."""
    writes = defaultdict(list)   # key -> sorted [(rev, value)]
    for (key, value), rev in rev_of.items():
        writes[key].append((rev, value))
    revs_of = {}
    for key in writes:
        writes[key].sort()
        revs_of[key] = [r for r, _ in writes[key]]
    for op in ops:
        if not op.is_read() or op.header_rev is None:
            continue
        h = op.header_rev
        ws = writes.get(op.key, [])
        revs = revs_of.get(op.key, [])
        j = bisect.bisect_right(revs, h)   # writes with rev <= h: ws[:j]
        latest = ws[j - 1] if j else None
        if op.read is None:
            if latest is not None:
                violations.append(f"read at revision {h} found no value, but {op.key!r}={latest[1]!r} "
                                  f"was written at revision {latest[0]}: {op}")
            continue
        m = op.read_rev if op.read_rev is not None else rev_of.get((op.key, op.read))
        if m is None:
            continue
        if m > h:
            violations.append(f"read returned a value from its future (mod_revision {m} > header "
                              f"revision {h}): {op}")
        elif latest is not None and latest[0] > m:
            violations.append(f"read at revision {h} returned {op.read!r} (revision {m}), but "
                              f"{op.key!r}={latest[1]!r} was written at revision {latest[0]}: {op}")


# ---------------------------------------------------------------------------------------------
# Per-key search
# ---------------------------------------------------------------------------------------------

def _reduce(ops):
    """The ops of one key that the search must consider.

    Failed ops never took effect: dropped. Reads that are not linearizable (serializable gets)
    are not part of the real-time contract: dropped (R0, R1 and R3 still cover them).

    An op with an unknown outcome that writes a value no op ever observes is dropped too. This
    is exact: in any linearization that applies it, the ops between it and the next write to
    the key are reads, each of which would read its unobserved value, so there are none;
    removing it leaves every other op seeing the same state. "Observed" counts every value a
    read returned and every value a cas compared against. A failed cas whose read was not
    recorded only tells us state != expected, which removing a write could change, so keys
    with such ops keep all their ops.
    """
    kept = [op for op in ops if op.status != FAIL and not (op.kind == "get" and not op.linearizable)]
    blind_cas = any(op.kind == "cas" and op.status == OK and op.succeeded is False and not op.read_recorded
                    for op in kept)
    if blind_cas:
        return kept
    observed = set()
    for op in kept:
        if op.is_read():
            observed.add(op.read)
        if op.kind == "cas":
            observed.add(op.expected)
    return [op for op in kept if not (op.status == UNKNOWN and op.value not in observed)]


def _step(state, op, rev_of):
    """Register model: state is the current value (None: absent). Returns (ok, new state).
    Writes must come in revision order (when both revisions are known)."""
    if op.kind == "get":
        return state == op.read, state
    if op.kind == "cas" and op.status == OK and op.succeeded is False:
        if op.read_recorded:
            return state == op.read and state != op.expected, state
        return state != op.expected, state
    if op.kind == "cas" and state != op.expected:
        return False, state   # a cas that succeeded (or, unknown, is tried as succeeding)
    new_rev = rev_of.get((op.key, op.value))
    cur_rev = rev_of.get((op.key, state)) if state is not None else None
    if new_rev is not None and cur_rev is not None and new_rev <= cur_rev:
        return False, state
    return True, op.value


def _search(ops, rev_of, max_steps):
    """Porcupine-style depth-first search. Returns (ok, steps, message, order)."""
    n = len(ops)
    if n == 0:
        return True, 0, "", []
    ops = sorted(ops, key=lambda o: o.call)
    # Events: (time, 0=call / 1=return, op index). Calls sort before returns at equal times,
    # so ops touching at an instant count as concurrent (conservative).
    events = []
    for i, op in enumerate(ops):
        events.append((op.call, 0, i))
        if op.end() != INF:
            events.append((op.ret, 1, i))
    events.sort()
    m = len(events)
    # Dancing-links list over entries 1..m, 0 is the head sentinel, m+1 the tail.
    nxt = list(range(1, m + 2)) + [m + 1]
    prv = [0] + list(range(0, m + 1))
    is_call = [False] * (m + 2)
    op_of = [-1] * (m + 2)
    ret_entry = {}
    call_entry = [0] * n
    for e, (_, kind, i) in enumerate(events, start=1):
        is_call[e] = kind == 0
        op_of[e] = i
        if kind == 0:
            call_entry[i] = e
        else:
            ret_entry[i] = e
    required = [op.end() != INF for op in ops]
    tail = m + 1
    # The set of linearized ops is two bitsets: required ops (numbered in call order) and
    # optional ones (few: unknown-outcome writes someone observed). A required op must be
    # linearized before it returns, so the required set is all ones below a window of currently
    # overlapping ops; the memo stores it as (position of the lowest zero, bits from there),
    # which keeps each entry small however long the history is.
    bit = [0] * n
    n_req = n_opt = 0
    for i in range(n):
        if required[i]:
            bit[i], n_req = 1 << n_req, n_req + 1
        else:
            bit[i], n_opt = 1 << n_opt, n_opt + 1
    # Writes whose revision is known can only be linearized in revision order, so the next one
    # must be the lowest-ranked not yet linearized. Checking that before trying a write (rather
    # than only when a later read or write fails) keeps the search from trying every order of
    # a burst of concurrent writes. The linearized ones are always a prefix of the ranking, so a
    # counter is all the state this needs (and the memo key, the bitset, determines it).
    rank = {}
    ranked = []
    for i, op in enumerate(ops):
        if op.kind == "put" or (op.kind == "cas" and (op.succeeded or op.status == UNKNOWN)):
            rev = op.write_rev if op.write_rev is not None else rev_of.get((op.key, op.value))
            if rev is not None:
                ranked.append((rev, i))
    for k, (_, i) in enumerate(sorted(ranked)):
        rank[i] = k
    next_rank = 0

    def unlink(e):
        nxt[prv[e]] = nxt[e]
        prv[nxt[e]] = prv[e]

    def relink(e):
        nxt[prv[e]] = e
        prv[nxt[e]] = e

    remaining = sum(required)
    state = None
    lin_req = lin_opt = 0
    cache = set()
    stack = []          # (call entry, state before)
    steps = 0
    best = (-1, None, None)   # (depth, blocking op, state) for the report
    entry = nxt[0]
    while remaining > 0:
        steps += 1
        if steps > max_steps:
            return None, steps, f"search budget of {max_steps} steps exhausted ({n} ops)", None
        if entry == tail:  # cannot happen while a required op (and so its return) is listed
            raise AssertionError("search ran off the event list")
        i = op_of[entry]
        if is_call[entry]:
            r = rank.get(i)
            if r is not None and r != next_rank:
                ok, new_state = False, state
            else:
                ok, new_state = _step(state, ops[i], rev_of)
            if ok:
                if required[i]:
                    new_req, new_opt = lin_req | bit[i], lin_opt
                else:
                    new_req, new_opt = lin_req, lin_opt | bit[i]
                low = ((new_req + 1) & ~new_req).bit_length() - 1   # lowest zero bit
                memo = (new_state, low, new_req >> low, new_opt)
                if memo not in cache:
                    cache.add(memo)
                    stack.append((entry, state))
                    state = new_state
                    lin_req, lin_opt = new_req, new_opt
                    if r is not None:
                        next_rank += 1
                    unlink(entry)
                    if required[i]:
                        unlink(ret_entry[i])
                        remaining -= 1
                    entry = nxt[0]
                    continue
            entry = nxt[entry]
        else:
            # The op returning here was not linearized yet: this branch is dead.
            if len(stack) > best[0]:
                best = (len(stack), ops[i], state)
            if not stack:
                break
            entry, state = stack.pop()
            j = op_of[entry]
            if required[j]:
                lin_req &= ~bit[j]
            else:
                lin_opt &= ~bit[j]
            if j in rank:
                next_rank -= 1
            if required[j]:
                relink(ret_entry[j])
                remaining += 1
            relink(entry)
            entry = nxt[entry]
    if remaining == 0:
        order = [ops[op_of[e]].id for e, _ in stack]
        return True, steps, "", order
    depth, blocker, st = best
    concurrent = [op for op in ops if op.call <= blocker.end() and op.end() >= blocker.call and op is not blocker]
    msg = (f"after at most {depth} of {n} ops the register holds {st!r}, and {blocker} cannot take effect "
           f"before it returns; ops overlapping it: " + ("; ".join(str(o) for o in concurrent[:8]) or "none") +
           (" ..." if len(concurrent) > 8 else ""))
    return False, steps, msg, None


if __name__ == "__main__":
    # Re-check a saved history: python3 linearizability.py history.jsonl
    result = check(load(sys.argv[1]))
    print(result.summary())
    sys.exit(0 if result.ok else 1)
