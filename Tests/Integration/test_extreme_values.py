"""Requests with extreme integers that used to take the member down, sent through a real gRPC
client to the real binary: each one is answered (as etcd 3.5.16 answers it), the server keeps
serving, and a restart on the same data dir comes back — an entry that traps during apply is in
the WAL, so it would trap again on every replay.

Each case is sent to swetcd and to a real etcd 3.5.16 side by side; the status code, message and
the parts of the response that do not depend on the cluster's identity must match."""
import time

import grpc
import pytest

import grpc_stubs
from conftest import ETCD_3516

INT64_MAX = 2**63 - 1
INT64_MIN = -2**63


@pytest.fixture(scope="module")
def pb():
    return grpc_stubs.load()


def channel(server):
    return grpc.insecure_channel(server.endpoint.replace("http://", ""))


def call(fn, *args, **kwargs):
    """(code, details, response) of a unary call; code is OK on success."""
    try:
        return ("OK", "", fn(*args, timeout=10, **kwargs))
    except grpc.RpcError as e:
        return (e.code().name, e.details(), None)


def scrub(response):
    """The response as text without what differs between any two clusters."""
    if response is None:
        return None
    text = str(response)
    out = []
    for line in text.splitlines():
        if any(k in line for k in ("cluster_id", "member_id", "raft_term")):
            continue
        out.append(line)
    return "\n".join(out)


def cases(rpc):
    """(name, method, request): each one crashed or bricked swetcd before."""
    big_range = rpc.RangeRequest(key=b"a", limit=INT64_MAX)
    return [
        ("range limit Int64.max", "Range", big_range),
        ("range limit Int64.max, sorted", "Range", rpc.RangeRequest(key=b"a", range_end=b"z", limit=INT64_MAX, sort_order=2)),
        ("range limit Int64.min", "Range", rpc.RangeRequest(key=b"a", range_end=b"z", limit=INT64_MIN)),
        ("range revision Int64.min", "Range", rpc.RangeRequest(key=b"a", revision=INT64_MIN)),
        ("txn range limit Int64.max", "Txn", rpc.TxnRequest(success=[
            rpc.RequestOp(request_range=big_range),
            rpc.RequestOp(request_put=rpc.PutRequest(key=b"t", value=b"v"))])),
        ("txn range revision Int64.min", "Txn", rpc.TxnRequest(success=[
            rpc.RequestOp(request_range=rpc.RangeRequest(key=b"a", revision=INT64_MIN)),
            rpc.RequestOp(request_put=rpc.PutRequest(key=b"t2", value=b"v"))])),
        ("lease grant TTL 9e9", "LeaseGrant", rpc.LeaseGrantRequest(TTL=9_000_000_000, ID=7)),
        ("lease grant TTL 9e9+1", "LeaseGrant", rpc.LeaseGrantRequest(TTL=9_000_000_001, ID=8)),
        ("lease grant TTL Int64.max", "LeaseGrant", rpc.LeaseGrantRequest(TTL=INT64_MAX, ID=9)),
        ("lease grant TTL Int64.min", "LeaseGrant", rpc.LeaseGrantRequest(TTL=INT64_MIN, ID=10)),
        ("lease grant ID Int64.min", "LeaseGrant", rpc.LeaseGrantRequest(TTL=60, ID=INT64_MIN)),
        ("compact 0", "Compact", rpc.CompactionRequest(revision=0)),
        ("compact Int64.min", "Compact", rpc.CompactionRequest(revision=INT64_MIN)),
        ("compact Int64.max", "Compact", rpc.CompactionRequest(revision=INT64_MAX)),
    ]


def stubs(rpc_grpc, server):
    ch = channel(server)
    return {"kv": rpc_grpc.KVStub(ch), "lease": rpc_grpc.LeaseStub(ch), "watch": rpc_grpc.WatchStub(ch)}


def method(s, name):
    return getattr(s["lease"] if name.startswith("Lease") else s["kv"], name)


def watch_answers(rpc, s, requests, expected_responses):
    """Sends watch requests on one stream and collects `expected_responses` responses."""
    import queue
    q = queue.Queue()
    done = False

    def gen():
        for r in requests:
            yield r
        while not done:
            time.sleep(0.05)

    it = s["watch"].Watch(gen(), timeout=10)
    got = []
    try:
        for r in it:
            got.append(r)
            if len(got) >= expected_responses:
                break
    finally:
        done = True
        it.cancel()
    return [(r.watch_id, r.created, r.canceled, r.compact_revision, r.cancel_reason, len(r.events)) for r in got]


def test_extreme_values_answer_like_etcd_and_survive_restart(swetcd, etcd, pb):
    rpc, rpc_grpc = pb
    ours = swetcd()
    ref = etcd(binary=ETCD_3516)
    so, sr = stubs(rpc_grpc, ours), stubs(rpc_grpc, ref)
    for s in (so, sr):
        s["kv"].Put(rpc.PutRequest(key=b"a", value=b"1"), timeout=10)
        s["kv"].Put(rpc.PutRequest(key=b"b", value=b"2"), timeout=10)
    for name, m, request in cases(rpc):
        got = call(method(so, m), request)
        want = call(method(sr, m), request)
        assert ours.proc.poll() is None, f"{name}: swetcd died:\n{ours.read_log()}"
        assert got[:2] == want[:2], f"{name}: swetcd {got[:2]}, etcd {want[:2]}"
        assert scrub(got[2]) == scrub(want[2]), f"{name}: swetcd {got[2]}, etcd {want[2]}"

    # Watches from the extreme start revisions, then a duplicate watch ID on one stream.
    for start in (INT64_MIN, -2, -1, INT64_MAX):
        reqs = [rpc.WatchRequest(create_request=rpc.WatchCreateRequest(key=b"a", start_revision=start))]
        n = 2 if start < -1 else 1
        assert watch_answers(rpc, so, reqs, n) == watch_answers(rpc, sr, reqs, n), f"start_revision {start}"
        assert ours.proc.poll() is None, f"watch from {start}: swetcd died:\n{ours.read_log()}"
    dup = [rpc.WatchRequest(create_request=rpc.WatchCreateRequest(key=b"a", watch_id=5)),
           rpc.WatchRequest(create_request=rpc.WatchCreateRequest(key=b"b", watch_id=5))]
    assert watch_answers(rpc, so, dup, 2) == watch_answers(rpc, sr, dup, 2)

    # What was applied comes back after a crash: the log replays without trapping.
    before = call(so["kv"].Range, rpc.RangeRequest(key=b"\0", range_end=b"\0"))
    ours.kill()
    ours.start()
    so = stubs(rpc_grpc, ours)
    after = call(so["kv"].Range, rpc.RangeRequest(key=b"\0", range_end=b"\0"))
    assert scrub(after[2]) == scrub(before[2])
    ttl = so["lease"].LeaseTimeToLive(rpc.LeaseTimeToLiveRequest(ID=7), timeout=10)
    assert ttl.grantedTTL == 9_000_000_000 and ttl.TTL > 8_999_999_000


def test_long_keys_behave_as_in_etcd(swetcd, etcd, pb):
    """Keys past LMDB's 511-byte key limit (the backend stores them digested): puts, overwrites,
    prefix ranges with every sort, deletes, txns and a lease revoke, next to a real etcd."""
    rpc, rpc_grpc = pb
    ours, ref = swetcd(), etcd(binary=ETCD_3516)
    so, sr = stubs(rpc_grpc, ours), stubs(rpc_grpc, ref)
    shared = b"p" * 479
    keys = [shared, shared + b"\0", shared + b"a" * 600, shared + b"b", shared + b"a", b"p" * 478 + b"q",
            b"k" * 1024, b"k" * 4096, b"k" * 100_000, b"k" * 1023 + b"l", b"short"]
    requests = []
    for i, k in enumerate(keys):
        requests.append(("Put", rpc.PutRequest(key=k, value=b"v%d" % i, prev_kv=True)))
    requests.append(("LeaseGrant", rpc.LeaseGrantRequest(TTL=600, ID=42)))
    for k in keys[2:5] + keys[7:9]:
        requests.append(("Put", rpc.PutRequest(key=k, value=b"leased", lease=42, prev_kv=True)))
    for order in (0, 1, 2):
        for target in (0, 1, 2, 3, 4):
            requests.append(("Range", rpc.RangeRequest(key=b"p", range_end=b"q", sort_order=order, sort_target=target)))
    requests += [
        ("Range", rpc.RangeRequest(key=b"\0", range_end=b"\0", keys_only=True, limit=4)),
        ("Range", rpc.RangeRequest(key=shared + b"a", range_end=shared + b"b\0", count_only=True)),
        ("Range", rpc.RangeRequest(key=b"k" * 1024, revision=8)),
        ("Txn", rpc.TxnRequest(
            compare=[rpc.Compare(key=b"k" * 4096, target=rpc.Compare.VERSION, result=rpc.Compare.EQUAL, version=2)],
            success=[rpc.RequestOp(request_put=rpc.PutRequest(key=b"k" * 2000, value=b"t")),
                     rpc.RequestOp(request_range=rpc.RangeRequest(key=b"k", range_end=b"l", keys_only=True))])),
        ("DeleteRange", rpc.DeleteRangeRequest(key=shared, range_end=shared + b"b", prev_kv=True)),
        ("LeaseTimeToLive", rpc.LeaseTimeToLiveRequest(ID=42, keys=True)),
        ("LeaseRevoke", rpc.LeaseRevokeRequest(ID=42)),
        ("Range", rpc.RangeRequest(key=b"\0", range_end=b"\0")),
    ]
    for m, request in requests:
        got, want = call(method(so, m), request), call(method(sr, m), request)
        assert got[:2] == want[:2], f"{m}: swetcd {got[:2]}, etcd {want[:2]}"
        g, w = got[2], want[2]
        if m == "LeaseTimeToLive":
            # etcd lists a lease's keys in map order; compare them as a set, and the TTL loosely.
            assert sorted(g.keys) == sorted(w.keys) and g.grantedTTL == w.grantedTTL
            continue
        assert scrub(g) == scrub(w), f"{m} {str(request)[:200]}: differs"
    assert ours.proc.poll() is None
