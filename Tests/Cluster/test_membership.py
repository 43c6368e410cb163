"""Membership changes with the real etcdctl 3.5.16: growing and shrinking a cluster under writes,
replacing a member on a new data dir, learners (what they refuse, promotion once in sync,
forwarded to the leader), and etcd's refusals word for word against a real etcd 3.5.16.

    cd Tests/Cluster && python3 -m pytest -q test_membership.py

Every wait is on something observable (an etcdctl answer, a member's Status, a process exit).
"""
import os
import re
import shutil
import subprocess
import threading
import time

import pytest

import cluster as clusterlib
import stubs

SWETCD = clusterlib.SWETCD
pytestmark = pytest.mark.skipif(not os.access(SWETCD, os.X_OK), reason=f"no binary at {SWETCD}")

REMOVED_LINE = "the member has been permanently removed from the cluster"


def pb():
    return stubs.load().rpc_pb2


def ctl(c, *args, members=None, check=True):
    out = c.etcdctl(*args, members=[m for m in (members or c.members) if m.alive()])
    if check:
        assert out.returncode == 0, f"etcdctl {' '.join(args)}: {out.stderr}{out.stdout}"
    return out


def until(what, fn, timeout=60, interval=0.1):
    """Calls fn until it returns something truthy; fails with `what` after `timeout`."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = fn()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out waiting for {what}; last: {last!r}")


def member_list(c, members=None):
    out = ctl(c, "member", "list", "-w", "json", members=members)
    import json
    return json.loads(out.stdout).get("members", [])


def add_member(c, name, learner=False, binary=None):
    """`member add` (retried while etcd's strict check answers "unhealthy cluster": a member
    must have been connected to every voter for 5 s), then starts the new member with the
    values etcdctl printed. Returns the member."""
    m = c.new_member(name)
    m.binary = binary
    args = ["member", "add", name, f"--peer-urls={c.peer_url(m)}"] + (["--learner"] if learner else [])

    out = unless_unhealthy(c, f"member add {name}", *args, members=[x for x in c.members if x is not m])
    assert re.search(r"Member\s+[0-9a-f]+ added to cluster\s+[0-9a-f]+", out.stdout), out.stdout
    assert 'ETCD_INITIAL_CLUSTER_STATE="existing"' in out.stdout, out.stdout
    m.initial_cluster = re.search(r'ETCD_INITIAL_CLUSTER="([^"]*)"', out.stdout).group(1)
    m.member_id = int(re.search(r"Member\s+([0-9a-f]+) added", out.stdout).group(1), 16)
    c.start_member(m)
    return m


def wait_started(c, m):
    """Until every member lists `m` with its name (it published its attributes)."""
    until(f"{m.name} started", lambda: any(x.get("name") == m.name for x in member_list(c)), timeout=60)


def unless_unhealthy(c, what, *args, members=None):
    """Runs etcdctl until it succeeds, while etcd's strict check answers "unhealthy cluster" (a
    member proposes a change only once connected to every voter for 5 s)."""
    def attempt():
        out = ctl(c, *args, members=members, check=False)
        if out.returncode == 0:
            return out
        assert "unhealthy cluster" in out.stderr, out.stderr
        return None
    return until(what, attempt, timeout=60, interval=0.25)


def remove_member(c, m, via):
    out = unless_unhealthy(c, f"member remove {m.name}", "member", "remove", f"{m.member_id:x}", members=via)
    assert f"Member {m.member_id:16x} removed from cluster" in out.stdout, out.stdout
    # The removed member stops itself and exits 0, with etcd's log line.
    m.proc.wait(timeout=30)
    assert m.proc.returncode == 0, m.log_tail()
    assert REMOVED_LINE in m.log_tail(20000)
    m.expected_down = True


class Writer(threading.Thread):
    """Puts w/0, w/1, ... to whichever member answers; remembers every acknowledged write."""

    def __init__(self, c):
        super().__init__(daemon=True)
        self.c = c
        self.acked = {}
        self.stopping = threading.Event()
        self.errors = 0

    def run(self):
        n = 0
        while not self.stopping.is_set():
            key = f"w/{n:06d}".encode()
            value = f"v{n}".encode()
            for m in list(self.c.members):
                if not m.alive():
                    continue
                try:
                    r = m.kv().Put(pb().PutRequest(key=key, value=value), timeout=2)
                    self.acked[key] = (value, r.header.revision)
                    break
                except Exception:
                    self.errors += 1
            n += 1

    def stop(self):
        self.stopping.set()
        self.join(timeout=30)


def check_all_members_agree(c, acked):
    sts = c.wait_converged(timeout=60)
    revision = next(iter(sts.values())).header.revision
    hashes = {m.name: c.hashkv(m, revision).hash for m in c.members}
    assert len(set(hashes.values())) == 1, hashes
    for m in c.members:
        kvs = {kv.key: kv for kv in m.kv().Range(pb().RangeRequest(key=b"w/", range_end=b"w0", serializable=True), timeout=10).kvs}
        for key, (value, revision) in acked.items():
            assert key in kvs, f"{m.name} lost {key!r}"
            assert kvs[key].value == value and kvs[key].mod_revision == revision, (m.name, key, kvs[key])


def test_grow_to_five_and_shrink_to_three_under_writes():
    with clusterlib.Cluster(SWETCD, size=1, token="grow") as c:
        writer = Writer(c)
        writer.start()
        try:
            added = []
            for name in ["g1", "g2", "g3", "g4"]:
                m = add_member(c, name)
                wait_started(c, m)
                c.wait_ready()
                added.append(m)
            assert len(member_list(c)) == 5
            # A one-member cluster keeps no log behind its applied index: the first member added
            # got the leader's backend as a snapshot.
            assert "received and saved database snapshot" in added[0].log_tail(200000), added[0].log_tail()
            # Shrink back to three: remove two members, one of them through itself.
            remove_member(c, added[3], via=[x for x in c.members if x is not added[3]])
            c.forget(added[3])
            remove_member(c, added[2], via=[added[2]])
            c.forget(added[2])
            listed = member_list(c)
            assert sorted(x["name"] for x in listed) == sorted(m.name for m in c.members)
        finally:
            writer.stop()
        assert len(writer.acked) > 50, "the writer got too few writes through"
        check_all_members_agree(c, writer.acked)


def test_replace_a_member_on_a_new_data_dir():
    with clusterlib.Cluster(SWETCD, size=3, token="replace") as c:
        for i in range(20):
            c.leader().kv().Put(pb().PutRequest(key=f"w/{i:06d}".encode(), value=b"x"), timeout=5)
        victim = c.followers()[0]
        others = [m for m in c.members if m is not victim]
        remove_member(c, victim, via=others)
        # Its data dir now refuses to start: the member knows it was removed.
        c.start_member(victim)
        victim.proc.wait(timeout=30)
        assert victim.proc.returncode != 0
        assert REMOVED_LINE in victim.log_tail()
        c.forget(victim)
        # A new member on an empty data dir takes its place.
        m = add_member(c, victim.name + "b")
        wait_started(c, m)
        c.wait_ready()
        r = m.kv().Range(pb().RangeRequest(key=b"w/", range_end=b"w0", serializable=True), timeout=5)
        assert r.count == 20
        check_all_members_agree(c, {})


def test_removing_the_leader_hands_leadership_over_first():
    """The leader removed through itself transfers leadership before it stops (1 s after the
    answer, as etcd's member does): the others lead at once, not after an election timeout
    that starts only when the old leader falls silent."""
    with clusterlib.Cluster(SWETCD, size=3, token="rmleader") as c:
        leader = c.leader()
        others = [m for m in c.members if m is not leader]
        unless_unhealthy(c, "member remove", "member", "remove", f"{leader.member_id:x}", members=[leader])
        answered = time.monotonic()
        new = c.leader(members=others, timeout=30)
        assert time.monotonic() - answered < 1.0, "no leader among the others before the removed leader stopped"
        leader.proc.wait(timeout=30)
        assert leader.proc.returncode == 0 and REMOVED_LINE in leader.log_tail(20000)
        c.forget(leader)
        new.kv().Put(pb().PutRequest(key=b"after", value=b"removal"), timeout=5)
        check_all_members_agree(c, {})


def test_force_new_cluster_from_the_survivor_of_a_lost_majority():
    """Two of three members lose their data dirs: the survivor restarted with
    --force-new-cluster serves everything it had as a one-member cluster, and a new member can
    then be added back."""
    with clusterlib.Cluster(SWETCD, size=3, token="force") as c:
        acked = {}
        for i in range(30):
            r = c.leader().kv().Put(pb().PutRequest(key=f"w/{i:06d}".encode(), value=f"v{i}".encode()), timeout=5)
            acked[f"w/{i:06d}".encode()] = (f"v{i}".encode(), r.header.revision)
        c.wait_converged()
        survivor, lost = c.members[0], c.members[1:]
        for m in c.members:
            c.kill(m)
        for m in lost:
            shutil.rmtree(m.data_dir)
            c.forget(m)
        survivor.extra_args = ["--force-new-cluster"]
        c.start_member(survivor)
        c.wait_ready(timeout=60)
        assert "forcing restart member" in survivor.log_tail(20000)
        listed = member_list(c)
        assert [x["name"] for x in listed] == [survivor.name]
        survivor.kv().Put(pb().PutRequest(key=b"after", value=b"force"), timeout=5)
        # A restart without the flag keeps the one-member cluster.
        survivor.extra_args = []
        c.restart(survivor)
        c.wait_ready(timeout=60)
        assert len(member_list(c)) == 1
        m = add_member(c, "back")
        wait_started(c, m)
        c.wait_ready()
        check_all_members_agree(c, acked)


def test_learner_refuses_writes_and_is_promoted_once_in_sync():
    with clusterlib.Cluster(SWETCD, size=3, token="learner") as c:
        for i in range(50):
            c.leader().kv().Put(pb().PutRequest(key=f"w/{i:06d}".encode(), value=b"x"), timeout=5)
        learner = add_member(c, "l1", learner=True)
        # etcd allows one learner.
        extra = c.new_member("l2")
        out = ctl(c, "member", "add", "l2", f"--peer-urls={c.peer_url(extra)}", "--learner",
                  members=[x for x in c.members if x not in (learner, extra)], check=False)
        assert out.returncode != 0 and "etcdserver: too many learner members in cluster" in out.stderr, out.stderr
        c.forget(extra)
        wait_started(c, learner)
        listed = {x["name"]: x for x in member_list(c)}
        assert listed["l1"].get("isLearner") is True
        # A learner serves serializable reads and Status, and refuses the rest with etcd's error.
        def caught_up():
            r = learner.kv().Range(pb().RangeRequest(key=b"w/", range_end=b"w0", serializable=True), timeout=5)
            return r.count == 50
        until("the learner has the data", caught_up)
        for call in (lambda: learner.kv().Put(pb().PutRequest(key=b"a", value=b"b"), timeout=5),
                     lambda: learner.kv().Range(pb().RangeRequest(key=b"a"), timeout=5)):
            with pytest.raises(Exception) as e:
                call()
            assert "etcdserver: rpc not supported for learner" in str(e.value)
        out = ctl(c, "put", "a", "b", members=[learner], check=False)
        assert "etcdserver: rpc not supported for learner" in out.stderr, out.stderr
        assert c.status(learner) is not None
        # Promoted through a follower: forwarded to the leader, which knows it is in sync.
        follower = [m for m in c.followers() if m is not learner][0]
        out = until("promote", lambda: (lambda o: o if o.returncode == 0 else None)(
            ctl(c, "member", "promote", f"{learner.member_id:x}", members=[follower], check=False)))
        assert f"Member {learner.member_id:16x} promoted in cluster" in out.stdout, out.stdout
        listed = {x["name"]: x for x in member_list(c)}
        assert not listed["l1"].get("isLearner")
        learner.kv().Put(pb().PutRequest(key=b"after", value=b"promotion"), timeout=5)
        check_all_members_agree(c, {})


# --- mixed clusters ------------------------------------------------------------------------------

@pytest.mark.skipif(not os.access(clusterlib.ETCD, os.X_OK), reason="no reference etcd 3.5.16")
@pytest.mark.parametrize("cluster_binary,joiner", [("swetcd", "etcd"), ("etcd", "swetcd")],
                         ids=["etcd-joins-swetcd", "swetcd-joins-etcd"])
def test_the_other_kind_joins_and_replaces_a_member(cluster_binary, joiner):
    """An etcd 3.5.16 member added to a swetcd cluster (and a swetcd member added to an etcd
    cluster) joins with --initial-cluster-state existing, receives the log, serves the data, and
    a member of the first kind can then be removed: one log, two implementations."""
    binaries = {"swetcd": SWETCD, "etcd": clusterlib.ETCD}
    with clusterlib.Cluster(binaries[cluster_binary], size=3, token="mixed-join") as c:
        acked = {}
        for i in range(30):
            r = c.leader().kv().Put(pb().PutRequest(key=f"w/{i:06d}".encode(), value=f"v{i}".encode()), timeout=5)
            acked[f"w/{i:06d}".encode()] = (f"v{i}".encode(), r.header.revision)
        m = add_member(c, "joiner", binary=binaries[joiner])
        wait_started(c, m)
        c.wait_ready()
        r = m.kv().Range(pb().RangeRequest(key=b"w/", range_end=b"w0"), timeout=5)
        assert r.count == 30
        old = c.followers()[0] if c.followers()[0] is not m else c.followers()[1]
        remove_member(c, old, via=[x for x in c.members if x is not old])
        c.forget(old)
        m.kv().Put(pb().PutRequest(key=b"after", value=b"mixed"), timeout=5)
        check_all_members_agree(c, acked)


# --- etcd's refusals, against a real etcd 3.5.16 ---------------------------------------------

def refusal_transcript(binary):
    """The same misuses on a one-member cluster of `binary`, etcdctl's output normalized."""
    lines = []
    with clusterlib.Cluster(binary, size=1, proxy=False, token="refusals") as c:
        me = c.members[0]
        me_hex = f"{me.member_id:x}"
        spare = c.new_member("spare")
        spare2 = c.new_member("spare2")
        url = c.peer_url(spare)
        steps = [
            ("member", "add", "x", f"--peer-urls={c.peer_url(me)}"),          # URL in use
            ("member", "remove", "1234"),                                     # unknown ID
            ("member", "remove", "0"),                                        # no member has ID 0
            ("member", "promote", "0"),
            ("member", "update", "1234", f"--peer-urls={url}"),               # unknown ID
            ("member", "promote", me_hex),                                    # not a learner
            ("member", "promote", "1234"),                                    # unknown ID
            ("member", "add", "l1", f"--peer-urls={url}", "--learner"),       # a learner, not started
            ("member", "add", "l2", f"--peer-urls={c.peer_url(spare2)}", "--learner"),   # too many learners
            # URL in use (the learner's; with a second URL, so that the ID differs from the
            # learner's even within the same second: etcd's IDs hash the URLs and the time)
            ("member", "add", "l3", f"--peer-urls={url},{c.peer_url(spare2)}"),
            ("member", "promote", "LEARNER"),                                 # not in sync
            ("member", "update", me_hex, f"--peer-urls={url}"),               # URL in use
        ]
        learner_hex = None
        for step in steps:
            step = tuple(learner_hex if a == "LEARNER" else a for a in step)
            out = c.etcdctl(*step, members=[me])
            if step[1] == "add" and out.returncode == 0 and learner_hex is None:
                learner_hex = re.search(r"Member\s+([0-9a-f]+) added", out.stdout).group(1)
            text = (out.stdout + out.stderr)
            text = re.sub(r"\{\"level\".*\n", "", text)          # etcdctl's client-side JSON logs
            text = re.sub(r"127\.0\.0\.1:\d+", "HOST:PORT", text)
            text = re.sub(r"\b[0-9a-f]{8,16}\b", "ID", text)
            text = re.sub(r"\b(m0|spare|spare2)\b", "NAME", text)
            # etcdctl prints IDs with %16x (space-padded) and members in ID order (IDs differ).
            text = re.sub(r" +", " ", text)
            text = re.sub(r'ETCD_INITIAL_CLUSTER="([^"]*)"',
                          lambda g: 'ETCD_INITIAL_CLUSTER="' + ",".join(sorted(g.group(1).split(","))) + '"', text)
            lines.append(f"$ {' '.join(step[:2])} -> exit {out.returncode}\n{text}")
        c.forget(spare)
        c.forget(spare2)
    return lines


@pytest.mark.skipif(not os.access(clusterlib.ETCD, os.X_OK), reason="no reference etcd 3.5.16")
def test_refusals_match_etcd():
    ours = refusal_transcript(SWETCD)
    theirs = refusal_transcript(clusterlib.ETCD)
    for a, b in zip(ours, theirs):
        assert a == b, f"swetcd:\n{a}\netcd 3.5.16:\n{b}"
    assert len(ours) == len(theirs)
