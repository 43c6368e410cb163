"""Unit tests of the linearizability checker on hand-made histories (fast, no servers)."""
import random

import pytest

from linearizability import FAIL, UNKNOWN, cas, check, get, put


def assert_ok(history):
    r = check(history)
    assert r.ok, r.summary()
    return r


def assert_violation(history, *fragments):
    r = check(history)
    assert not r.ok and r.violations, r.summary()
    text = "\n".join(r.violations)
    for f in fragments:
        assert f in text, r.summary()
    return r


# --- linearizable histories -------------------------------------------------------------------

def test_empty_and_sequential():
    assert_ok([])
    assert_ok([
        get("x", None, 0, 1),
        put("x", "a", 2, 3, rev=2),
        get("x", "a", 4, 5, mod_rev=2, header_rev=2),
        put("x", "b", 6, 7, rev=3),
        get("x", "b", 8, 9, mod_rev=3, header_rev=3),
    ])


def test_concurrent_ops_that_can_be_ordered():
    # The write overlaps both reads; the first read sees the old state, the second the new one.
    assert_ok([
        put("x", "a", 0, 10, rev=2),
        get("x", None, 1, 2, header_rev=1),
        get("x", "a", 3, 4, mod_rev=2, header_rev=2),
    ])
    # Two overlapping writes; readers see them in revision order.
    assert_ok([
        put("x", "a", 0, 5, rev=3),
        put("x", "b", 0, 5, rev=2),
        get("x", "b", 1, 2, mod_rev=2, header_rev=2),
        get("x", "a", 6, 7, mod_rev=3, header_rev=3),
    ])
    # Without revisions, the order of overlapping writes is free.
    assert_ok([
        put("x", "a", 0, 5), put("x", "b", 0, 5),
        get("x", "b", 1, 2), get("x", "a", 3, 4),
    ])


def test_ops_touching_at_an_instant_are_concurrent():
    assert_ok([put("x", "a", 0, 1), get("x", None, 1, 2)])


def test_unknown_write_may_take_effect_late_or_never():
    # Unknown outcome: not seen at first, then seen much later.
    assert_ok([
        put("x", "a", 0, None, status=UNKNOWN),
        get("x", None, 5, 6, header_rev=1),
        get("x", "a", 7, 8, mod_rev=2, header_rev=2),
    ])
    # Never seen at all (dropped by the reduction), interleaved with other writes.
    r = assert_ok([
        put("x", "a", 0, None, status=UNKNOWN),
        put("x", "b", 1, 2, rev=3),
        get("x", "b", 3, 4, mod_rev=3, header_rev=5),
        put("x", "c", 3.5, None, status=UNKNOWN),
        get("x", "b", 6, 7, mod_rev=3, header_rev=5),
    ])
    assert r.keys[0].searched == 3
    # A failed write never happened.
    assert_ok([put("x", "a", 0, 1, status=FAIL), get("x", None, 2, 3)])


def test_many_unknown_writes_stay_cheap():
    h = []
    for i in range(200):   # 200 concurrent unknown writes, one of which is read at the end
        h.append(put("x", f"v{i}", i * 0.01, None, status=UNKNOWN))
    h.append(get("x", "v123", 10, 11, mod_rev=500, header_rev=600))
    r = assert_ok(h)
    assert r.keys[0].steps < 100


def test_burst_of_concurrent_writes_in_revision_order():
    # 20 overlapping writes acknowledged with revisions in the reverse order of their calls,
    # then a read of the last: the search follows the revisions instead of trying orders.
    h = [put("x", f"v{i}", i * 0.01, 1.0, rev=100 - i) for i in range(20)]
    h.append(get("x", "v0", 2, 3, mod_rev=100, header_rev=100))
    r = assert_ok(h)
    assert r.keys[0].steps < 1000      # (about 2**20 without following the revisions)
    # The same burst, but a read in the middle of it sees a write older than one that had
    # already been acknowledged when the read started.
    h = [put("x", f"v{i}", i * 0.01, 1.0, rev=100 - i) for i in range(20)]
    h.append(put("x", "w", 1.1, 1.2, rev=101))
    h.append(get("x", "v0", 1.3, 1.4, mod_rev=100, header_rev=101))
    assert_violation(h, "not linearizable", "was written at revision 101")


def test_dump_and_load(tmp_path):
    from linearizability import dump, load
    h = [put("x", "a", 0, None, status=UNKNOWN), cas("x", "a", "b", 1, 2, succeeded=False, read="c", read_rev=3,
                                                       header_rev=4), get("x", None, 0, 1, linearizable=False)]
    dump(h, str(tmp_path / "h.jsonl"))
    assert [o.__dict__ for o in load(str(tmp_path / "h.jsonl"))] == [o.__dict__ for o in h]


def test_compare_and_swap():
    assert_ok([
        put("x", "a", 0, 1, rev=2),
        cas("x", "a", "b", 2, 3, succeeded=True, rev=3),
        cas("x", "a", "c", 4, 5, succeeded=False, read="b", read_rev=3, header_rev=3),
        cas("x", "b", "d", 6, None, status=UNKNOWN),
        get("x", "d", 7, 8, mod_rev=4, header_rev=4),
    ])
    # A cas on an absent key (expected None) and a failed cas without a recorded read.
    assert_ok([
        cas("x", None, "a", 0, 1, succeeded=True, rev=2),
        cas("x", None, "b", 2, 3, succeeded=False),
        get("x", "a", 4, 5, mod_rev=2, header_rev=2),
    ])


def test_serializable_reads_may_be_stale():
    assert_ok([
        put("x", "a", 0, 1, rev=2),
        put("x", "b", 2, 3, rev=3),
        get("x", "a", 4, 5, mod_rev=2, header_rev=2, linearizable=False),
    ])


# --- violations -------------------------------------------------------------------------------

def test_stale_read_after_completed_write():
    # Values only (no revisions): found by the search.
    assert_violation([
        put("x", "a", 0, 1), put("x", "b", 2, 3), get("x", "a", 4, 5),
    ], "not linearizable")
    # With revisions: also found by the revision checks, with a precise message.
    assert_violation([
        put("x", "a", 0, 1, rev=2), put("x", "b", 2, 3, rev=3),
        get("x", "a", 4, 5, mod_rev=2, header_rev=2),
    ], "stale read", "not linearizable")


def test_lost_acknowledged_write():
    assert_violation([put("x", "a", 0, 1), get("x", None, 2, 3)], "not linearizable")
    assert_violation([
        put("x", "a", 0, 1, rev=2), put("y", "b", 2, 3, rev=3),
        get("x", None, 4, 5, header_rev=3),
    ], "found no value", "not linearizable")


def test_read_of_a_value_never_written():
    assert_violation([put("x", "a", 0, 1), get("x", "zzz", 2, 3)], "never written")
    # ... including a value written on another key, or whose write definitely failed.
    assert_violation([put("y", "a", 0, 1), get("x", "a", 2, 3)], "never written")
    assert_violation([put("x", "a", 0, 1, status=FAIL), get("x", "a", 2, 3)], "definitely failed")
    # ... or by a write called only after the read returned (an unknown write too).
    assert_violation([get("x", "a", 0, 1), put("x", "a", 2, None, status=UNKNOWN)], "written later")


def test_value_comes_back():
    # a and b race; one reader sees a, a later one b, a third a again: impossible with unique values.
    assert_violation([
        put("x", "a", 0, 1), put("x", "b", 0, 1),
        get("x", "a", 2, 3), get("x", "b", 4, 5), get("x", "a", 6, 7),
    ], "not linearizable")


def test_unknown_write_cannot_be_undone():
    assert_violation([
        put("x", "a", 0, None, status=UNKNOWN),
        get("x", "a", 1, 2), get("x", None, 3, 4),
    ], "not linearizable")


def test_cas_violations():
    # A cas succeeded although the value it compared against had been overwritten.
    assert_violation([
        put("x", "a", 0, 1), put("x", "b", 2, 3),
        cas("x", "a", "c", 4, 5, succeeded=True),
    ], "not linearizable")
    # A cas failed although its compare held.
    assert_violation([
        put("x", "a", 0, 1),
        cas("x", "a", "c", 2, 3, succeeded=False, read="a"),
    ], "not linearizable")


def test_revision_order_against_real_time():
    assert_violation([put("x", "a", 0, 1, rev=5), put("y", "b", 2, 3, rev=4)], "revision order contradicts")
    # A read must not go back in revisions, across keys.
    assert_violation([
        put("x", "a", 0, 1, rev=2), put("y", "b", 1, 2, rev=3),
        get("y", "b", 3, 4, mod_rev=3, header_rev=3),
        get("x", "a", 5, 6, mod_rev=2, header_rev=2),
    ], "went back in time")
    # Write after a read must get a higher revision.
    assert_violation([get("x", None, 0, 1, header_rev=7), put("x", "a", 2, 3, rev=7)],
                     "revision order contradicts")
    # Overlapping ops are not constrained.
    assert_ok([put("x", "a", 0, 3, rev=5), put("y", "b", 1, 2, rev=4)])


def test_revision_identity_and_snapshot_reads():
    assert_violation([put("x", "a", 0, 1, rev=2), get("x", "a", 2, 3, mod_rev=3, header_rev=3)],
                     "two revisions")
    assert_violation([put("x", "a", 0, 1, rev=2), put("y", "b", 0, 1, rev=2)], "given to two writes")
    assert_violation([put("x", "a", 0, 3, rev=4), get("x", "a", 1, 2, mod_rev=4, header_rev=3)],
                     "from its future")
    # A serializable read at revision 5 must still see the write at revision 4.
    assert_violation([
        put("x", "a", 0, 1, rev=2), put("x", "b", 2, 3, rev=4),
        get("x", "a", 4, 5, mod_rev=2, header_rev=5, linearizable=False),
    ], "was written at revision 4")


# --- scale ------------------------------------------------------------------------------------

def simulate(seed, clients=6, ops_per_client=400, keys=("k0", "k1", "k2"), unknown_rate=0.05):
    """A history of a correct store: every op takes effect at a random instant inside its
    interval; revisions are a global counter in the order of those instants."""
    rng = random.Random(seed)
    plans = []   # (effect time, op)
    seq = 0
    for c in range(clients):
        t = rng.random()
        for _ in range(ops_per_client):
            call = t
            ret = call + rng.expovariate(1.0)
            effect = rng.uniform(call, ret)
            key = rng.choice(keys)
            if rng.random() < 0.5:
                seq += 1
                unknown = rng.random() < unknown_rate
                if unknown and rng.random() < 0.5:
                    effect = None   # never happened
                plans.append((effect, put(key, f"v{seq}", call, None if unknown else ret,
                                          status=UNKNOWN if unknown else "ok", client=c)))
            else:
                plans.append((effect, get(key, None, call, ret, client=c)))
            t = ret + rng.expovariate(5.0)
    state, rev = {}, 1
    for effect, op in sorted((p for p in plans if p[0] is not None), key=lambda p: p[0]):
        if op.kind == "put":
            rev += 1
            state[op.key] = (op.value, rev)
            if op.status == "ok":
                op.write_rev = rev
        else:
            op.read, op.read_rev = state.get(op.key, (None, None))
            op.header_rev = rev
    return [op for _, op in plans]


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_large_simulated_histories(seed):
    h = simulate(seed)
    r = check(h)
    assert r.ok, r.summary()
    assert sum(k.seconds for k in r.keys) < 10


def test_large_history_with_one_stale_read():
    h = simulate(7)
    # Make one read return the previous value of its key: found by both kinds of checks.
    # Find a read after (in real time) two sequential acknowledged writes of its key.
    for op in sorted((o for o in h if o.kind == "get" and o.read is not None), key=lambda o: o.call):
        writes = sorted((w for w in h if w.kind == "put" and w.key == op.key and w.status == "ok"
                         and w.ret < op.call), key=lambda w: w.write_rev)
        if len(writes) >= 2 and writes[-1].value == op.read and writes[-2].ret < writes[-1].call:
            op.read, op.read_rev = writes[-2].value, writes[-2].write_rev
            break
    else:
        pytest.skip("no suitable read")
    assert_violation(h, "not linearizable")
    # And without any revisions, the search alone still finds it.
    for o in h:
        o.write_rev = o.read_rev = o.header_rev = None
    assert_violation(h, "not linearizable")
