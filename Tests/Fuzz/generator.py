"""Seeded generator of structured etcd v3 requests.

`Generator(seed).ops(n)` returns n `Op`s. The sequence depends on the seed only (never on what
the servers answer): values known only at run time are `values.Sym`s (see values.py). A request
is written as a *spec*: a dict of field name -> value (bytes, int, bool, str, Sym, nested dict for
a message or oneof member, list for a repeated field); `protos.build` turns it into a message.

Most requests stay in a small key space so that they meet each other's data: puts overwrite,
deletes hit, compares see real revisions, watchers see events. Edge values (0, ±1, Int64 min/max,
out-of-range enums, long keys, values around the request limit) are mixed in at low rates.
"""
import random

from values import (ALARM_ACTIONS_BAD, ALARM_TYPES_BAD, BIG_VALUE_SIZES, CMP_RESULTS,
                    CMP_RESULTS_BAD, CMP_TARGETS, CMP_TARGETS_BAD, I64_EDGES, I64_MAX, I64_MIN,
                    LONG_KEY_SIZES, LONG_LEASE_IDS, LONG_TTLS, MAX_LEASE_TTL, SHORT_LEASE_IDS,
                    SHORT_TTLS, SMALL_KEYS, SORT_ORDERS, SORT_ORDERS_BAD, SORT_TARGETS,
                    SORT_TARGETS_BAD, TOO_LARGE_TTLS, U64_EDGES, U64_MAX, WATCH_FILTERS,
                    WATCH_FILTERS_BAD, Sym)

WATCH_STREAMS = 3          # logical watch streams the generator spreads watchers over
MAX_TXN_DEPTH = 5          # nested txns this deep, at most


class Op:
    """One step of the sequence.

    method      "Service.Method" (unary or server-streaming RPC), or for the bidi streams
                "Watch.Send" / "Watch.Drain" / "Watch.Close" (on watch stream `stream`) and
                "Lease.LeaseKeepAlive" (one request, one answer, on a persistent stream).
    spec        the request (see module doc); None for Drain/Close.
    stream      watch stream number, for Watch.* ops.
    drain       for Watch.Send: compare what the stream delivered right after sending.
    auto_lease  for LeaseGrant with ID 0: the number under which the runner records the ID each
                server chose (later specs refer to it as Sym("lease", n)).
    probe       sent to swetcd only (etcd 3.5.16 itself crashes on it): swetcd must answer
                and stay up; nothing is compared.
    """

    __slots__ = ("index", "method", "spec", "stream", "drain", "auto_lease", "probe")

    def __init__(self, method, spec=None, stream=None, drain=False, auto_lease=None, probe=False):
        self.probe = probe
        self.index = None
        self.method = method
        self.spec = spec
        self.stream = stream
        self.drain = drain
        self.auto_lease = auto_lease

    def __repr__(self):
        return f"Op#{self.index}({self.method}, stream={self.stream})"


def prefix_end(key):
    """etcd's GetPrefixRangeEnd: the smallest key after every key with this prefix."""
    k = bytearray(key)
    while k and k[-1] == 0xFF:
        k.pop()
    if not k:
        return b"\x00"
    k[-1] += 1
    return bytes(k)


class Generator:
    def __init__(self, seed):
        self.r = random.Random(seed)
        self.next_auto_lease = 0

    # ----------------------------------------------------------------------------------------
    # The sequence

    def ops(self, n):
        out = []
        while len(out) < n:
            out.extend(self.step())
        out = out[:n]
        for i, op in enumerate(out):
            op.index = i
        return out

    def step(self):
        """One top-level choice: a single request or a short compound of related ones."""
        r = self.r
        kinds = [
            (18, lambda: [Op("KV.Range", self.range_spec())]),
            (0.5, self.probe_bad_sort_target),
            (0.3, self.probe_bad_alarm),
            (18, lambda: [Op("KV.Put", self.put_spec())]),
            (6, lambda: [Op("KV.DeleteRange", self.delete_spec())]),
            (14, lambda: [Op("KV.Txn", self.txn_spec(0))]),
            (2, lambda: [Op("KV.Compact", self.compact_spec())]),
            (1, lambda: [Op("KV.RangeStream", self.range_spec())]),
            (8, self.watch_send),
            (3, lambda: [Op("Watch.Drain", stream=r.randrange(WATCH_STREAMS))]),
            (0.3, lambda: [Op("Watch.Close", stream=r.randrange(WATCH_STREAMS))]),
            (2, lambda: [Op("Lease.LeaseGrant", self.long_grant_spec())]),
            (1, lambda: [Op("Lease.LeaseRevoke", {"ID": self.any_lease_id()})]),
            (2, lambda: [Op("Lease.LeaseTimeToLive", {"ID": self.any_lease_id(), "keys": r.random() < 0.5})]),
            (1, lambda: [Op("Lease.LeaseLeases", {})]),
            (2, lambda: [Op("Lease.LeaseKeepAlive", {"ID": self.any_lease_id()})]),
            (2, self.short_lease_compound),
            (1, lambda: [Op("Maintenance.Status", {})]),
            (1, lambda: [Op("Maintenance.Alarm", self.alarm_get_spec())]),
            (0.6, self.alarm_compound),
            (0.2, lambda: [Op("Maintenance.Alarm", {"action": r.choice(ALARM_ACTIONS_BAD),
                                                    "memberID": self.member_id(),
                                                    "alarm": r.choice([0, 1, 2])})]),
            (2, lambda: [Op("Maintenance.HashKV", {"revision": self.revision()})]),
            (0.3, lambda: [Op("Maintenance.Defragment", {})]),
            (0.5, lambda: [Op("Maintenance.MoveLeader", {"targetID": self.member_id()})]),
            (1, lambda: [Op("Cluster.MemberList", {"linearizable": r.random() < 0.5})]),
            (0.5, lambda: [Op("Health.Check", {"service": r.choice(["", "", "etcdserverpb.KV", "nope"])})]),
            (1.2, self.unimplemented_op),
            (0.6, self.lock_election_op),
        ]
        total = sum(w for w, _ in kinds)
        x = r.random() * total
        for w, f in kinds:
            x -= w
            if x < 0:
                return f()
        return kinds[0][1]()

    # ----------------------------------------------------------------------------------------
    # Field values

    def p(self, prob):
        return self.r.random() < prob

    def key(self):
        r = self.r
        x = r.random()
        if x < 0.90:
            return r.choice(SMALL_KEYS)
        if x < 0.93:
            return b""
        if x < 0.975:
            return bytes(r.choice(b"ab\x00\xff/") for _ in range(r.randint(1, 6)))
        # Long keys, weighted towards the cheap sizes.
        size = LONG_KEY_SIZES[min(int(r.expovariate(0.45)), len(LONG_KEY_SIZES) - 1)]
        return b"long/" + b"x" * (size - 5)

    def range_end(self, key):
        r = self.r
        return r.choice([b"\x00", b"\x00", prefix_end(key) if key else b"\x00", prefix_end(key) if key else b"b",
                         self.key(), key, key + b"\x00", b"\xff", b"\xff\xff\xff", b"a"])

    def value(self):
        r = self.r
        x = r.random()
        if x < 0.55:
            return b"v%d" % r.randrange(1000)
        if x < 0.70:
            return b""
        if x < 0.85:
            return bytes(r.randrange(256) for _ in range(r.randint(1, 24)))
        if x < 0.98:
            return r.choice([b"\x00", b"\xff" * 3, b"x" * 100, b"y" * 300])
        size = BIG_VALUE_SIZES[min(int(r.expovariate(0.35)), len(BIG_VALUE_SIZES) - 1)]
        return b"V" * size

    def revision(self):
        """A revision: mostly relative to the live history, sometimes an edge value."""
        r = self.r
        x = r.random()
        if x < 0.35:
            return 0
        if x < 0.60:
            return Sym("rev", r.choice([0, 0, -1, 1, 2, -2]))
        if x < 0.72:
            return Sym("frac", r.random())
        if x < 0.85:
            return Sym("compact", r.choice([0, -1, 1]))
        return r.choice(I64_EDGES)

    def small_int(self):
        return self.r.choice([0, 1, 2, 3, -1, 5, 100] + I64_EDGES)

    def lease_in_put(self):
        return self.r.choice(LONG_LEASE_IDS + [0, 12345, I64_MAX, I64_MIN])

    def any_lease_id(self):
        return self.r.choice(LONG_LEASE_IDS + [0, 12345, 5000])

    def member_id(self):
        r = self.r
        return Sym("self") if r.random() < 0.5 else r.choice(U64_EDGES)

    # ----------------------------------------------------------------------------------------
    # KV

    def range_spec(self):
        r = self.r
        k = self.key()
        s = {"key": k}
        if self.p(0.6):
            s["range_end"] = self.range_end(k)
        if self.p(0.25):
            s["limit"] = r.choice([1, 1, 2, 3, 5, 1000, 0, -1, I64_MAX, I64_MIN, I64_MAX - 1, 1 << 32])
        if self.p(0.25):
            s["revision"] = self.revision()
        if self.p(0.2):
            s["sort_order"] = r.choice(SORT_ORDERS) if self.p(0.85) else r.choice(SORT_ORDERS_BAD)
        if self.p(0.2):
            s["sort_target"] = r.choice(SORT_TARGETS)
        if self.p(0.2):
            s["serializable"] = True
        if self.p(0.15):
            s["keys_only"] = True
        if self.p(0.1):
            s["count_only"] = True
        for f in ("min_mod_revision", "max_mod_revision", "min_create_revision", "max_create_revision"):
            if self.p(0.05):
                s[f] = self.revision()
        return s

    def probe_bad_sort_target(self):
        """etcd 3.5.16 panics on an out-of-range sort_target (sort.Sort of a nil sorter), so
        this goes to swetcd alone: it must answer, whatever it answers."""
        s = self.range_spec()
        s["sort_target"] = self.r.choice(SORT_TARGETS_BAD)
        return [Op("KV.Range", s, probe=True)]

    def probe_bad_alarm(self):
        """etcd 3.5.16 panics applying ACTIVATE of an unknown alarm type: swetcd alone gets it
        (and the DEACTIVATE that clears it again)."""
        alarm = self.r.choice(ALARM_TYPES_BAD)
        member = self.member_id()
        return [Op("Maintenance.Alarm", {"action": 1, "memberID": member, "alarm": alarm}, probe=True),
                Op("Maintenance.Alarm", {"action": 2, "memberID": member, "alarm": alarm}, probe=True)]

    def put_spec(self):
        s = {"key": self.key(), "value": self.value()}
        if self.p(0.15):
            s["lease"] = self.lease_in_put()
        if self.p(0.3):
            s["prev_kv"] = True
        if self.p(0.07):
            s["ignore_value"] = True
            if self.p(0.7):
                s["value"] = b""
        if self.p(0.07):
            s["ignore_lease"] = True
            if self.p(0.7):
                s.pop("lease", None)
        return s

    def delete_spec(self):
        k = self.key()
        s = {"key": k}
        if self.p(0.6):
            s["range_end"] = self.range_end(k)
        if self.p(0.4):
            s["prev_kv"] = True
        return s

    def compare(self):
        r = self.r
        target = r.choice(CMP_TARGETS) if self.p(0.92) else r.choice(CMP_TARGETS_BAD)
        c = {"key": self.key(),
             "result": r.choice(CMP_RESULTS) if self.p(0.92) else r.choice(CMP_RESULTS_BAD),
             "target": target}
        if self.p(0.15):
            c["range_end"] = self.range_end(c["key"])
        # The operand: mostly the member that matches the target, sometimes another or none.
        members = ["version", "create_revision", "mod_revision", "value", "lease"]
        if self.p(0.85) and 0 <= target < len(members):
            member = members[target]
        elif self.p(0.7):
            member = r.choice(members)
        else:
            member = None
        if member == "version":
            c["version"] = r.choice([0, 0, 1, 1, 2, 3, -1, I64_MAX, I64_MIN])
        elif member in ("create_revision", "mod_revision"):
            c[member] = self.revision()
        elif member == "value":
            c["value"] = self.value() if self.p(0.5) else b"v%d" % r.randrange(1000)
        elif member == "lease":
            c["lease"] = self.lease_in_put()
        return c

    def request_op(self, depth):
        x = self.r.random()
        if x < 0.35:
            return {"request_range": self.range_spec()}
        if x < 0.70:
            return {"request_put": self.put_spec()}
        if x < 0.88 or depth >= MAX_TXN_DEPTH:
            return {"request_delete_range": self.delete_spec()}
        return {"request_txn": self.txn_spec(depth + 1)}

    def op_count(self):
        r = self.r
        x = r.random()
        if x < 0.97:
            return r.choice([0, 1, 1, 2, 2, 3, 4])
        return r.choice([127, 128, 129])

    def txn_spec(self, depth):
        r = self.r
        n_cmp = self.op_count() if depth == 0 else r.choice([0, 1, 2])
        s = {"compare": [self.compare() for _ in range(n_cmp)]}
        for branch in ("success", "failure"):
            n = self.op_count() if depth == 0 else r.choice([0, 1, 2, 3])
            if n > 100:
                # A big branch: distinct keys (or all the same key, for duplicates) of one kind.
                same = self.p(0.3)
                kind = r.choice(["put", "range", "delete"])
                ops = []
                for i in range(n):
                    key = b"t/dup" if same else b"t/%03d" % i
                    if kind == "put":
                        ops.append({"request_put": {"key": key, "value": b"x"}})
                    elif kind == "range":
                        ops.append({"request_range": {"key": key}})
                    else:
                        ops.append({"request_delete_range": {"key": key}})
                s[branch] = ops
            else:
                s[branch] = [self.request_op(depth) for _ in range(n)]
        return s

    def compact_spec(self):
        r = self.r
        rev = r.choice([0, 1, -1, Sym("rev"), Sym("rev", -1), Sym("rev", 1), Sym("rev", 5),
                        Sym("compact"), Sym("compact", -1), Sym("compact", 1), Sym("frac", r.random()),
                        Sym("frac", r.random()), I64_MIN, I64_MAX])
        s = {"revision": rev}
        if self.p(0.5):
            s["physical"] = True
        return s

    # ----------------------------------------------------------------------------------------
    # Watch

    def watch_id(self):
        return self.r.choice([0, 0, 1, 2, 3, 4, 5, -1, -5, I64_MAX, I64_MIN])

    def watch_create(self):
        r = self.r
        k = self.key()
        s = {"key": k}
        if self.p(0.5):
            s["range_end"] = self.range_end(k)
        x = r.random()
        if x < 0.4:
            pass
        elif x < 0.85:
            s["start_revision"] = self.revision()
        else:
            s["start_revision"] = r.choice([1, -1, I64_MIN, I64_MAX, I64_MAX - 1, I64_MIN + 1])
        if self.p(0.2):
            s["progress_notify"] = True
        if self.p(0.2):
            s["filters"] = [r.choice(WATCH_FILTERS) if self.p(0.8) else r.choice(WATCH_FILTERS_BAD)
                            for _ in range(r.randint(1, 2))]
        if self.p(0.3):
            s["prev_kv"] = True
        if self.p(0.5):
            s["watch_id"] = self.watch_id()
        if self.p(0.2):
            s["fragment"] = True
        return s

    def watch_send(self):
        r = self.r
        x = r.random()
        if x < 0.6:
            req = {"create_request": self.watch_create()}
        elif x < 0.8:
            req = {"cancel_request": {"watch_id": r.choice([0, 1, 2, 3, 4, 5, -1, 99, I64_MAX, I64_MIN])}}
        elif x < 0.96:
            req = {"progress_request": {}}
        else:
            req = {}  # no member of the oneof set
        return [Op("Watch.Send", req, stream=r.randrange(WATCH_STREAMS), drain=self.p(0.8))]

    # ----------------------------------------------------------------------------------------
    # Leases

    def long_grant_spec(self):
        r = self.r
        x = r.random()
        if x < 0.85:
            ttl = r.choice(LONG_TTLS)
        elif x < 0.95:
            ttl = r.choice(TOO_LARGE_TTLS)
        else:
            ttl = MAX_LEASE_TTL
        return {"ID": r.choice(LONG_LEASE_IDS), "TTL": ttl}

    def short_lease_compound(self):
        """Grant a lease that would expire within seconds, use it, revoke it right away, so
        that expiry timing never decides what the servers hold."""
        r = self.r
        lid = r.choice(SHORT_LEASE_IDS)
        grant = Op("Lease.LeaseGrant", {"ID": lid, "TTL": r.choice(SHORT_TTLS)})
        if lid == 0:
            grant.auto_lease = self.next_auto_lease
            ref = Sym("lease", self.next_auto_lease)
            self.next_auto_lease += 1
        else:
            ref = lid
        ops = [grant]
        if self.p(0.6):
            ops.append(Op("KV.Put", {"key": r.choice(SMALL_KEYS), "value": self.value(), "lease": ref,
                                     "prev_kv": self.p(0.5)}))
        if self.p(0.5):
            ops.append(Op("Lease.LeaseTimeToLive", {"ID": ref, "keys": True}))
        if self.p(0.3):
            ops.append(Op("Lease.LeaseKeepAlive", {"ID": ref}))
        if self.p(0.2):
            ops.append(Op("KV.Put", {"key": r.choice(SMALL_KEYS), "ignore_lease": True}))
        if self.p(0.2):
            ops.append(Op("Lease.LeaseLeases", {}))
        ops.append(Op("Lease.LeaseRevoke", {"ID": ref}))
        if self.p(0.4):
            ops.append(Op("Lease.LeaseTimeToLive", {"ID": ref, "keys": self.p(0.5)}))
        return ops

    # ----------------------------------------------------------------------------------------
    # Maintenance

    def alarm_get_spec(self):
        r = self.r
        return {"action": 0, "memberID": r.choice([0, 0, Sym("self"), 1]),
                "alarm": r.choice([0, 0, 1, 2] + ALARM_TYPES_BAD)}

    def alarm_compound(self):
        """Raise an alarm, try a few requests under it, lower it again."""
        r = self.r
        alarm = r.choice([1, 1, 2, 0])
        member = r.choice([Sym("self"), Sym("self"), 0, 1, U64_MAX])
        ops = [Op("Maintenance.Alarm", {"action": 1, "memberID": member, "alarm": alarm})]
        for _ in range(r.randint(1, 3)):
            ops.append(r.choice([lambda: Op("KV.Put", self.put_spec()),
                                 lambda: Op("KV.Range", self.range_spec()),
                                 lambda: Op("KV.Txn", self.txn_spec(1)),
                                 lambda: Op("KV.DeleteRange", self.delete_spec()),
                                 lambda: Op("Lease.LeaseGrant", self.long_grant_spec()),
                                 lambda: Op("Maintenance.Status", {})])())
        ops.append(Op("Maintenance.Alarm", self.alarm_get_spec()))
        ops.append(Op("Maintenance.Alarm", {"action": 2, "memberID": member, "alarm": alarm}))
        ops.append(Op("Maintenance.Alarm", {"action": 0, "memberID": 0, "alarm": 0}))
        return ops

    # ----------------------------------------------------------------------------------------
    # Services swetcd answers UNIMPLEMENTED today (sent to swetcd only; see known_differences)

    def lock_election_op(self):
        """v3lock and v3election, compared. Leases are ones the run grants with fixed IDs (or none
        such): lease 0 would make each server grant a session lease with an ID of its own choice.
        A Lock or Campaign behind another holder waits; the runner gives those a short deadline
        and waits for the waiter's key to go (etcd deletes it when the call ends)."""
        r = self.r
        name = bytes(r.choice(b"abr") for _ in range(r.randint(0, 3)))
        lease = r.choice(LONG_LEASE_IDS + [12345])
        leader = {"name": name, "key": name + b"/" + self.go_hex(r.choice(LONG_LEASE_IDS)).encode(),
                  "rev": r.choice([0, 1, self.revision()]), "lease": lease}
        choices = [
            ("Lock.Lock", {"name": name, "lease": lease}),
            ("Lock.Unlock", {"key": r.choice([name, name + b"/" + self.go_hex(lease).encode(), b""])}),
            ("Election.Leader", {"name": name}),
            ("Election.Campaign", {"name": name, "lease": lease, "value": r.choice([b"v", b"w", b""])}),
            ("Election.Resign", {"leader": leader}),
            ("Election.Proclaim", {"leader": leader, "value": r.choice([b"v", b"x"])}),
            ("Election.Proclaim", {"value": b"v"}),
            ("Election.Resign", {}),
        ]
        method, spec = r.choice(choices)
        return [Op(method, spec)]

    @staticmethod
    def go_hex(n):
        """Go's %x of an int64 (a v3lock/v3election session key suffix)."""
        return "-" + format(-n, "x") if n < 0 else format(n, "x")

    def unimplemented_op(self):
        r = self.r
        name = bytes(r.choice(b"abr") for _ in range(r.randint(0, 4)))
        choices = [
            ("Maintenance.Hash", {}),
            ("Maintenance.Downgrade", {"action": r.choice([0, 1, 2, 5]), "version": r.choice(["3.4", "", "x"])}),
            ("Auth.AuthStatus", {}),
            ("Auth.AuthEnable", {}),
            ("Auth.AuthDisable", {}),
            ("Auth.Authenticate", {"name": name.decode(), "password": "pw"}),
            ("Auth.UserAdd", {"name": name.decode(), "password": "pw"}),
            ("Auth.UserGet", {"name": name.decode()}),
            ("Auth.UserList", {}),
            ("Auth.UserDelete", {"name": name.decode()}),
            ("Auth.RoleAdd", {"name": name.decode()}),
            ("Auth.RoleGet", {"role": name.decode()}),
            ("Auth.RoleList", {}),
        ]
        method, spec = r.choice(choices)
        return [Op(method, spec)]
