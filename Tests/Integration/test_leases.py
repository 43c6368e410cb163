"""Leases against swetcd and a real etcd 3.5.1: the same etcdctl (3.5.1 and 3.4.23) lease sessions
must print the same thing after normalizing IDs; leases expire on time and take their keys, also
when the server is SIGKILLed and restarted in between (the TTL restarts, as in etcd); and a Python
grpcio client drives the keep-alive stream and revoke directly."""
import json
import re
import time

import pytest

import grpc_stubs
from normalize import normalize

# Keys whose values are lease IDs (decimal in JSON output); they differ between any two servers.
LEASE_ID_KEYS = {"id", "ID", "lease"}


def _scrub_ids(obj):
    if isinstance(obj, dict):
        out = {}
        for k, v in obj.items():
            if k in LEASE_ID_KEYS and isinstance(v, int) and v not in (0, 4660):
                out[k] = "<lease>"
            elif k == "keys" and isinstance(v, list):
                out[k] = sorted(v)  # etcd lists a lease's keys in Go map order
            else:
                out[k] = _scrub_ids(v)
        return out
    if isinstance(obj, list):
        return [_scrub_ids(v) for v in obj]
    return obj


def _sorted_keys(m):
    return "attached keys([" + " ".join(sorted(m.group(1).split())) + "])"


def _remaining(m):
    # remaining(N s) is timing: anything within 5 s of the granted TTL reads the same.
    granted, remaining = int(m.group(1)), int(m.group(2))
    shown = "~ttl" if 0 <= granted - 5 <= remaining <= granted else str(remaining)
    return f"granted with TTL({granted}s), remaining({shown}s)"


def normalize_lease_output(text):
    lines = []
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("{") and stripped.endswith("}") and not line.startswith('{"level":'):
            try:
                obj = _scrub_ids(json.loads(stripped))
                if isinstance(obj.get("ttl"), int) and isinstance(obj.get("granted-ttl"), int):
                    if 0 <= obj["granted-ttl"] - 5 <= obj["ttl"] <= obj["granted-ttl"]:
                        obj["ttl"] = "~ttl"
                line = json.dumps(obj, sort_keys=True)
            except ValueError:
                pass
        line = re.sub(r"attached keys\(\[([^\]]*)\]\)", _sorted_keys, line)
        line = re.sub(r"granted with TTL\((\d+)s\), remaining\((-?\d+)s\)", _remaining, line)
        # -w fields: decimal lease IDs, and the remaining TTL (timing).
        line = re.sub(r'^"ID" : (\d{5,})$', '"ID" : <lease>', line)
        line = re.sub(r'^"(ClusterID|MemberID|RaftTerm)" : \d+$', r'"\1" : <id>', line)
        line = re.sub(r'^"TTL" : (9[5-9])$', '"TTL" : ~ttl', line)
        lines.append(line)
    return normalize("\n".join(lines))


def grant(server, ttl, version="3.5"):
    r = server.ctl("lease", "grant", str(ttl), version=version)
    m = re.match(r"lease ([0-9a-f]{16}) granted with TTL\((\d+)s\)", r.stdout_text)
    assert m, r.stdout_text
    return m.group(1)


def txn_put_with_lease(lease_hex):
    return f"\nput txnkey v --lease={lease_hex}\n\n\n".encode()


# Steps: (stdin, argv...) with {A}/{B} standing for the session's two lease IDs.
SESSION = [
    (None, "lease", "timetolive", "{A}"),
    (None, "lease", "timetolive", "{A}", "-w", "json"),
    (None, "put", "k1", "v1", "--lease", "{A}"),
    (None, "put", "k2", "v2", "--lease", "{A}"),
    (None, "put", "k3", "v3", "--lease", "{B}"),
    (None, "lease", "timetolive", "{A}", "--keys"),
    (None, "lease", "timetolive", "{A}", "--keys", "-w", "json"),
    (None, "lease", "timetolive", "{B}", "--keys", "-w", "fields"),
    (None, "lease", "list"),
    (None, "lease", "list", "-w", "json"),
    (None, "lease", "keep-alive", "--once", "{A}"),
    (None, "lease", "keep-alive", "--once", "{B}", "-w", "json"),
    (None, "lease", "keep-alive", "--once", "1234"),
    (None, "lease", "timetolive", "1234"),
    (None, "lease", "timetolive", "1234", "-w", "json"),
    (None, "put", "k4", "v4", "--lease", "1234"),
    (None, "get", "", "--prefix", "-w", "json"),
    (None, "put", "k1", "detached"),
    (None, "lease", "timetolive", "{A}", "--keys"),
    (None, "put", "k3", "moved", "--lease", "{A}"),
    (None, "lease", "timetolive", "{B}", "--keys"),
    (None, "del", "k2"),
    (None, "lease", "timetolive", "{A}", "--keys"),
    ("TXN_B", "txn"),
    (None, "lease", "timetolive", "{B}", "--keys"),
    (None, "lease", "revoke", "{A}"),
    (None, "lease", "revoke", "{A}"),
    (None, "get", "", "--prefix"),
    (None, "get", "", "--prefix", "-w", "json"),
    (None, "lease", "timetolive", "{A}"),
    (None, "lease", "grant", "9000000001"),
    (None, "lease", "grant", "0"),
    (None, "lease", "grant", "1"),
    (None, "lease", "grant", "9000000000"),
    (None, "lease", "list"),
    (None, "lease", "revoke", "{B}", "-w", "json"),
    (None, "get", "", "--prefix", "--keys-only"),
]


def run_session(server, version):
    a = grant(server, 100, version)
    b = grant(server, 100, version)
    out = []
    for step in SESSION:
        stdin, args = step[0], [x.replace("{A}", a).replace("{B}", b) for x in step[1:]]
        if stdin == "TXN_B":
            stdin = txn_put_with_lease(b)
        r = server.ctl(*args, version=version, check=False, input=stdin)
        out.append(f"$ etcdctl {' '.join(step[1:])}\nexit={r.returncode}\n"
                   f"{normalize_lease_output(r.stdout_text)}\n{normalize_lease_output(r.stderr_text)}")
    return out


def compare(ours, theirs):
    assert len(ours) == len(theirs)
    mismatches = [f"--- etcd 3.5.1\n{t}\n+++ swetcd\n{o}" for o, t in zip(ours, theirs) if o != t]
    assert not mismatches, "\n\n".join(mismatches[:40])


@pytest.mark.parametrize("version", ["3.5", "3.4"])
def test_etcdctl_lease_session_matches_real_etcd(swetcd, etcd, version):
    ours = run_session(swetcd(), version)
    theirs = run_session(etcd(), version)
    compare(ours, theirs)


def test_etcdctl_lease_session_over_mutual_tls_matches_real_etcd(swetcd, etcd, certs):
    compare(run_session(swetcd(tls=certs), "3.5"), run_session(etcd(tls=certs), "3.5"))


# ---- expiry -------------------------------------------------------------------------------------

def key_exists(server, key):
    r = server.ctl("get", key, "--print-value-only")
    return r.stdout_text.strip() != ""


def wait_gone(server, key, deadline):
    """Polls until `key` is gone; returns the time it was first seen gone (or None at deadline)."""
    while time.monotonic() < deadline:
        if not key_exists(server, key):
            return time.monotonic()
        time.sleep(0.05)
    return None


@pytest.mark.parametrize("kind", ["swetcd", "etcd"])
def test_a_minimum_ttl_lease_takes_its_keys_on_time(swetcd, etcd, kind):
    server = swetcd() if kind == "swetcd" else etcd()
    before = time.monotonic()
    lease = grant(server, 2)  # etcd's minimum TTL with the default election timeout (1.5 s, rounded up)
    granted = time.monotonic()
    server.ctl("put", "ephemeral", "v", "--lease", lease)
    server.ctl("put", "ephemeral2", "v", "--lease", lease)
    server.ctl("put", "stays", "v")
    assert key_exists(server, "ephemeral")
    gone = wait_gone(server, "ephemeral", granted + 6)
    assert gone is not None, "the leased key outlived its lease"
    assert gone >= before + 2.0
    # etcd's expiry loop runs every 500 ms; swetcd revokes when the lease is due.
    assert gone <= granted + 2.0 + (0.6 if kind == "etcd" else 0.5) + 0.5
    assert not key_exists(server, "ephemeral2")
    assert key_exists(server, "stays")
    r = server.ctl("lease", "timetolive", lease)
    assert "already expired" in r.stdout_text


@pytest.mark.parametrize("kind", ["swetcd", "etcd"])
def test_the_ttl_restarts_when_the_server_is_killed_and_restarted(swetcd, etcd, kind):
    server = swetcd() if kind == "swetcd" else etcd()
    lease = grant(server, 3)
    granted = time.monotonic()
    server.ctl("put", "ephemeral", "v", "--lease", lease)
    time.sleep(2.0)
    server.kill()
    server.start()
    ready = time.monotonic()
    # The lease came back with its full TTL plus an election timeout (1 s) from the restart:
    # past the original expiry (granted + 3 s) the key is still there.
    while time.monotonic() < max(granted + 3.5, ready + 2.0):
        assert key_exists(server, "ephemeral"), "the lease expired on its pre-restart clock"
        time.sleep(0.2)
    r = server.ctl("lease", "timetolive", lease, "--keys")
    assert "attached keys([ephemeral])" in r.stdout_text
    gone = wait_gone(server, "ephemeral", ready + 3 + 1 + 3)
    assert gone is not None, "the leased key outlived its restarted lease"
    assert gone >= ready + 3.0


def test_a_lease_that_expires_while_the_server_is_down_expires_after_the_restart(swetcd):
    server = swetcd()
    lease = grant(server, 2)
    server.ctl("put", "ephemeral", "v", "--lease", lease)
    server.kill()
    time.sleep(2.5)
    server.start()
    ready = time.monotonic()
    assert key_exists(server, "ephemeral")
    assert wait_gone(server, "ephemeral", ready + 2 + 1 + 3) is not None


def test_etcdctl_keep_alive_keeps_the_keys_until_it_stops(swetcd):
    import subprocess
    from conftest import ETCDCTL
    server = swetcd()
    lease = grant(server, 2)
    server.ctl("put", "kept", "v", "--lease", lease)
    proc = subprocess.Popen([ETCDCTL["3.5"], "--endpoints", server.endpoint, "lease", "keep-alive", lease],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        time.sleep(4.5)
        assert key_exists(server, "kept")
    finally:
        proc.kill()
        out = proc.communicate()[0].decode()
    assert out.count(f"lease {lease} keepalived with TTL(2)") >= 3, out
    stopped = time.monotonic()
    assert wait_gone(server, "kept", stopped + 2 + 2) is not None


# ---- Python grpcio: keep-alive stream, revoke, errors ------------------------------------------

@pytest.fixture(scope="module")
def pb():
    return grpc_stubs.load()


def test_python_grpcio_keep_alive_stream_and_revoke(swetcd, pb):
    import grpc
    rpc_pb2, rpc_pb2_grpc = pb
    server = swetcd()
    channel = grpc.insecure_channel(server.endpoint.replace("http://", ""))
    leases = rpc_pb2_grpc.LeaseStub(channel)
    kv = rpc_pb2_grpc.KVStub(channel)

    g = leases.LeaseGrant(rpc_pb2.LeaseGrantRequest(TTL=30))
    assert g.ID > 0 and g.TTL == 30 and g.header.revision == 1 and g.header.member_id != 0
    mine = leases.LeaseGrant(rpc_pb2.LeaseGrantRequest(TTL=5, ID=777))
    assert mine.ID == 777 and mine.TTL == 5
    kv.Put(rpc_pb2.PutRequest(key=b"a", value=b"1", lease=g.ID))
    kv.Put(rpc_pb2.PutRequest(key=b"b", value=b"2", lease=g.ID))
    kv.Put(rpc_pb2.PutRequest(key=b"c", value=b"3", lease=777))

    # One stream, answered in order: the granted TTL, TTL 0 for an unknown lease.
    requests = [rpc_pb2.LeaseKeepAliveRequest(ID=i) for i in (g.ID, 777, 424242, g.ID)]
    answers = list(leases.LeaseKeepAlive(iter(requests), metadata=(("hasleader", "true"),)))
    assert [(a.ID, a.TTL) for a in answers] == [(g.ID, 30), (777, 5), (424242, 0), (g.ID, 30)]
    assert all(a.header.revision == 4 for a in answers)

    ttl = leases.LeaseTimeToLive(rpc_pb2.LeaseTimeToLiveRequest(ID=g.ID, keys=True))
    assert ttl.ID == g.ID and ttl.grantedTTL == 30 and 28 <= ttl.TTL <= 30 and sorted(ttl.keys) == [b"a", b"b"]
    listed = leases.LeaseLeases(rpc_pb2.LeaseLeasesRequest())
    assert [x.ID for x in listed.leases] == [777, g.ID]  # soonest expiry first

    revoked = leases.LeaseRevoke(rpc_pb2.LeaseRevokeRequest(ID=g.ID))
    assert revoked.header.revision == 5  # both keys deleted at one revision
    assert [x.key for x in kv.Range(rpc_pb2.RangeRequest(key=b"\0", range_end=b"\0")).kvs] == [b"c"]
    gone = leases.LeaseTimeToLive(rpc_pb2.LeaseTimeToLiveRequest(ID=g.ID))
    assert gone.TTL == -1 and gone.ID == g.ID and gone.header.revision == 5

    with pytest.raises(grpc.RpcError) as e:
        leases.LeaseRevoke(rpc_pb2.LeaseRevokeRequest(ID=g.ID))
    assert e.value.code() == grpc.StatusCode.NOT_FOUND and e.value.details() == "etcdserver: requested lease not found"
    with pytest.raises(grpc.RpcError) as e:
        leases.LeaseGrant(rpc_pb2.LeaseGrantRequest(TTL=5, ID=777))
    assert e.value.code() == grpc.StatusCode.FAILED_PRECONDITION and e.value.details() == "etcdserver: lease already exists"
    with pytest.raises(grpc.RpcError) as e:
        leases.LeaseGrant(rpc_pb2.LeaseGrantRequest(TTL=9000000001))
    assert e.value.code() == grpc.StatusCode.OUT_OF_RANGE and e.value.details() == "etcdserver: too large lease TTL"
    with pytest.raises(grpc.RpcError) as e:
        kv.Put(rpc_pb2.PutRequest(key=b"d", value=b"4", lease=g.ID))
    assert e.value.code() == grpc.StatusCode.NOT_FOUND and e.value.details() == "etcdserver: requested lease not found"
    # Requests that require a leader are served: the single member leads.
    assert kv.Range(rpc_pb2.RangeRequest(key=b"c"), metadata=(("hasleader", "true"),)).count == 1


def test_python_grpcio_keep_alive_of_an_expiring_lease_answers_ttl_zero_after_its_revoke(swetcd, pb):
    import grpc
    import threading
    rpc_pb2, rpc_pb2_grpc = pb
    server = swetcd()
    channel = grpc.insecure_channel(server.endpoint.replace("http://", ""))
    leases = rpc_pb2_grpc.LeaseStub(channel)
    kv = rpc_pb2_grpc.KVStub(channel)
    g = leases.LeaseGrant(rpc_pb2.LeaseGrantRequest(TTL=2))
    kv.Put(rpc_pb2.PutRequest(key=b"e", value=b"1", lease=g.ID))

    sent = threading.Event()

    def requests():
        yield rpc_pb2.LeaseKeepAliveRequest(ID=g.ID)
        time.sleep(2.3)  # past the expiry
        yield rpc_pb2.LeaseKeepAliveRequest(ID=g.ID)
        sent.set()

    answers = []
    for a in leases.LeaseKeepAlive(requests()):
        answers.append(a.TTL)
        if len(answers) == 1:
            # The first renewal moved the expiry to ~2 s from now; the key is still there.
            assert kv.Range(rpc_pb2.RangeRequest(key=b"e")).count == 1
        if len(answers) == 2:
            # A renewal after expiry is never honoured: TTL 0, and the keys are already gone.
            assert kv.Range(rpc_pb2.RangeRequest(key=b"e")).count == 0
    assert answers == [2, 0]


def _watch_events(stub, rpc_pb2, key, range_end, count, timeout=10):
    """Opens a watch, then returns (created response, a function that collects `count` events)."""
    import queue
    import threading
    requests, responses = queue.Queue(), queue.Queue()
    call = stub.Watch(iter(requests.get, None))

    def read():
        try:
            for r in call:
                responses.put(r)
        except Exception as e:  # the call is cancelled at the end
            responses.put(e)

    threading.Thread(target=read, daemon=True).start()
    requests.put(rpc_pb2.WatchRequest(create_request=rpc_pb2.WatchCreateRequest(key=key, range_end=range_end, prev_kv=True)))
    created = responses.get(timeout=timeout)

    def collect():
        events = []
        deadline = time.monotonic() + timeout
        while len(events) < count:
            r = responses.get(timeout=max(0.1, deadline - time.monotonic()))
            assert not isinstance(r, Exception), r
            events += [(e.type, e.kv.key, e.kv.mod_revision, e.prev_kv.value, r.header.revision) for e in r.events]
        requests.put(None)
        call.cancel()
        return events

    return created, collect


@pytest.mark.parametrize("how", ["revoke", "expiry"])
def test_watchers_see_a_leases_keys_deleted_at_one_revision(swetcd, pb, how):
    import grpc
    rpc_pb2, rpc_pb2_grpc = pb
    server = swetcd()
    channel = grpc.insecure_channel(server.endpoint.replace("http://", ""))
    leases, kv = rpc_pb2_grpc.LeaseStub(channel), rpc_pb2_grpc.KVStub(channel)
    g = leases.LeaseGrant(rpc_pb2.LeaseGrantRequest(TTL=2 if how == "expiry" else 60))
    for k in (b"ep/b", b"ep/a", b"ep/c"):
        kv.Put(rpc_pb2.PutRequest(key=k, value=b"v-" + k, lease=g.ID))  # revisions 2, 3, 4
    kv.Put(rpc_pb2.PutRequest(key=b"ep/kept", value=b"x"))  # 5
    created, collect = _watch_events(rpc_pb2_grpc.WatchStub(channel), rpc_pb2, b"ep/", b"ep0", 3)
    assert created.created
    if how == "revoke":
        assert leases.LeaseRevoke(rpc_pb2.LeaseRevokeRequest(ID=g.ID)).header.revision == 6
    events = collect()
    # Three DELETEs, all at revision 6, in key order, with the deleted values as prev_kv.
    assert events == [(1, b"ep/a", 6, b"v-ep/a", 6), (1, b"ep/b", 6, b"v-ep/b", 6), (1, b"ep/c", 6, b"v-ep/c", 6)]
    assert [x.key for x in kv.Range(rpc_pb2.RangeRequest(key=b"ep/", range_end=b"ep0")).kvs] == [b"ep/kept"]
