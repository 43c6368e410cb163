"""v3lock and v3election over gRPC, side by side with etcd 3.5.16: the same calls give the same
answers (codes, messages, keys, revisions, values), waiting calls wait until what they wait for
happens, and a waiter whose client goes away leaves nothing behind. (etcdctl's `lock` and `elect`
run these recipes client-side; the Rust client and other gRPC clients call these services.)"""
import concurrent.futures
import os
import re
import time

import grpc
import pytest

import grpc_stubs
from conftest import ETCD_3516

pytestmark = pytest.mark.skipif(not os.path.exists(ETCD_3516), reason="etcd 3.5.16 not installed (etcd-reference)")


class Client:
    def __init__(self, server):
        self.m = grpc_stubs.load_all()
        self.channel = grpc.insecure_channel(server.endpoint.replace("http://", ""))
        self.lock = self.m.v3lock_pb2_grpc.LockStub(self.channel)
        self.election = self.m.v3election_pb2_grpc.ElectionStub(self.channel)
        self.kv = self.m.rpc_pb2_grpc.KVStub(self.channel)
        self.lease = self.m.rpc_pb2_grpc.LeaseStub(self.channel)
        self.L, self.E, self.R = self.m.v3lock_pb2, self.m.v3election_pb2, self.m.rpc_pb2

    def keys(self, prefix):
        end = prefix[:-1] + bytes([prefix[-1] + 1])
        return [(kv.key, kv.value) for kv in self.kv.Range(self.R.RangeRequest(key=prefix, range_end=end), timeout=10).kvs]

    def wait_keys(self, prefix, predicate, what):
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            keys = self.keys(prefix)
            if predicate(keys):
                return keys
            time.sleep(0.02)
        raise AssertionError(f"timed out waiting for {what}: {self.keys(prefix)}")


def call(fn, request, timeout=10):
    try:
        return fn(request, timeout=timeout)
    except grpc.RpcError as e:
        return ("ERR", e.code().name, e.details())


def show(answer):
    """A transcript line: errors as they are, messages as text with server-chosen IDs masked."""
    if isinstance(answer, tuple):
        return answer
    text = str(answer).replace("\n", " ")
    text = re.sub(r"(cluster_id|member_id|raft_term): \d+", r"\1: N", text)
    text = re.sub(r"(lease|ID): \d{12,}", r"\1: GRANTED", text)
    return re.sub(r'/[0-9a-f]{12,16}"', '/GRANTED"', text)  # a server-chosen lease ID in hex: leading zeros dropped


def basics(c):
    """Every method once, the errors included."""
    L, E, R = c.L, c.E, c.R
    out = [show(call(c.lock.Lock, L.LockRequest(name=b"l", lease=12345)))]
    out.append(show(call(c.lock.Lock, L.LockRequest(name=b"l", lease=-5))))
    first = call(c.lock.Lock, L.LockRequest(name=b"l"))
    out.append(show(first))
    c.lease.LeaseGrant(R.LeaseGrantRequest(TTL=30, ID=0x77), timeout=10)
    out.append(show(call(c.lock.Unlock, L.UnlockRequest(key=first.key))))
    out.append(show(call(c.lock.Unlock, L.UnlockRequest(key=b"nope"))))
    out.append(show(call(c.lock.Unlock, L.UnlockRequest(key=b""))))
    out.append(show(call(c.election.Leader, E.LeaderRequest(name=b"e"))))
    out.append(show(call(c.election.Proclaim, E.ProclaimRequest(value=b"v"))))
    out.append(show(call(c.election.Resign, E.ResignRequest())))
    stale = E.LeaderKey(name=b"e", key=b"e/1", rev=5, lease=0x77)
    out.append(show(call(c.election.Proclaim, E.ProclaimRequest(leader=stale, value=b"v"))))
    out.append(show(call(c.election.Resign, E.ResignRequest(leader=stale))))
    won = call(c.election.Campaign, E.CampaignRequest(name=b"e", lease=0x77, value=b"one"))
    out.append(show(won))
    out.append(show(call(c.election.Leader, E.LeaderRequest(name=b"e"))))
    out.append(show(call(c.election.Campaign, E.CampaignRequest(name=b"e", lease=0x77, value=b"two"))))
    out.append(show(call(c.election.Leader, E.LeaderRequest(name=b"e"))))
    out.append(show(call(c.election.Proclaim, E.ProclaimRequest(leader=won.leader, value=b"three"))))
    out.append(show(call(c.election.Resign, E.ResignRequest(leader=won.leader))))
    out.append(show(call(c.election.Leader, E.LeaderRequest(name=b"e"))))
    out.append(show(call(c.election.Campaign, E.CampaignRequest(name=b"", lease=0x77, value=b""))))
    out.append(show(call(c.lock.Lock, L.LockRequest(name=b"", lease=0x77))))
    out.append(len(c.lease.LeaseLeases(R.LeaseLeasesRequest(), timeout=10).leases))
    return out


def test_every_method_answers_as_etcd(swetcd, etcd):
    answers = {name: basics(Client(server)) for name, server in
               {"etcd": etcd(binary=ETCD_3516), "swetcd": swetcd()}.items()}
    for i, (theirs, ours) in enumerate(zip(answers["etcd"], answers["swetcd"])):
        assert ours == theirs, f"step {i}"
    assert len(answers["etcd"]) == len(answers["swetcd"])


def contention(c, pool):
    """A second Lock waits for the first holder's Unlock; a third waits for a lease revoke."""
    L, R = c.L, c.R
    for lease in (1, 2, 3):
        c.lease.LeaseGrant(R.LeaseGrantRequest(TTL=60, ID=lease), timeout=10)
    out = []
    first = c.lock.Lock(L.LockRequest(name=b"job", lease=1), timeout=10)
    out.append(show(first))
    second = pool.submit(call, c.lock.Lock, L.LockRequest(name=b"job", lease=2), 30)
    c.wait_keys(b"job/", lambda ks: len(ks) == 2, "the second Lock's key")
    third = pool.submit(call, c.lock.Lock, L.LockRequest(name=b"job", lease=3), 30)
    c.wait_keys(b"job/", lambda ks: len(ks) == 3, "the third Lock's key")
    assert not second.done() and not third.done()
    out.append(show(c.lock.Unlock(L.UnlockRequest(key=first.key), timeout=10)))
    out.append(show(second.result()))
    assert not third.done()
    # The holder's lease ends: its key goes with it and the next waiter holds the lock.
    out.append(show(c.lease.LeaseRevoke(R.LeaseRevokeRequest(ID=2), timeout=10)))
    out.append(show(third.result()))
    # A waiter whose deadline passes takes its key away (etcd's Mutex.Lock unlocks on error).
    c.lease.LeaseGrant(R.LeaseGrantRequest(TTL=60, ID=4), timeout=10)
    out.append(show(call(c.lock.Lock, L.LockRequest(name=b"job", lease=4), 1)))
    out.append(c.wait_keys(b"job/", lambda ks: ks == [(b"job/3", b"")], "the cancelled waiter's key to go"))
    return out


def test_lock_waits_for_the_holder_as_etcd(swetcd, etcd):
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        answers = {name: contention(Client(server), pool) for name, server in
                   {"etcd": etcd(binary=ETCD_3516), "swetcd": swetcd()}.items()}
    assert answers["swetcd"] == answers["etcd"]


def election(c, pool):
    """Observe follows the leader through proclamations, a resignation and a lease revoke; a
    second campaign waits until the first leader is gone."""
    E, R = c.E, c.R
    for lease in (10, 11):
        c.lease.LeaseGrant(R.LeaseGrantRequest(TTL=60, ID=lease), timeout=10)
    out = []
    observed = c.election.Observe(E.LeaderRequest(name=b"pick"), timeout=30)
    seen = []

    def next_seen():
        response = next(observed)
        seen.append(show(response))
        return response
    # No leader yet: Observe waits for the first candidate.
    a = c.election.Campaign(E.CampaignRequest(name=b"pick", lease=10, value=b"a"), timeout=10)
    out.append(show(a))
    assert next_seen().kv.value == b"a"
    b = pool.submit(call, c.election.Campaign, E.CampaignRequest(name=b"pick", lease=11, value=b"b"), 30)
    c.wait_keys(b"pick/", lambda ks: len(ks) == 2, "the second candidate's key")
    out.append(show(c.election.Proclaim(E.ProclaimRequest(leader=a.leader, value=b"a2"), timeout=10)))
    assert next_seen().kv.value == b"a2"
    assert not b.done()
    out.append(show(c.election.Resign(E.ResignRequest(leader=a.leader), timeout=10)))
    won = b.result()
    out.append(show(won))
    assert next_seen().kv.value == b"b"
    out.append(show(c.election.Leader(E.LeaderRequest(name=b"pick"), timeout=10)))
    out.append(show(c.election.Proclaim(E.ProclaimRequest(leader=won.leader, value=b"b2"), timeout=10)))
    assert next_seen().kv.value == b"b2"
    # The leader's lease is revoked: no leader, and Observe waits for the next one.
    c.lease.LeaseRevoke(R.LeaseRevokeRequest(ID=11), timeout=10)
    out.append(show(call(c.election.Leader, E.LeaderRequest(name=b"pick"))))
    out.append(show(c.election.Campaign(E.CampaignRequest(name=b"pick", lease=10, value=b"c"), timeout=10)))
    assert next_seen().kv.value == b"c"
    observed.cancel()
    return out + seen


def test_election_and_observe_as_etcd(swetcd, etcd):
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        answers = {name: election(Client(server), pool) for name, server in
                   {"etcd": etcd(binary=ETCD_3516), "swetcd": swetcd()}.items()}
    for i, (theirs, ours) in enumerate(zip(answers["etcd"], answers["swetcd"])):
        assert ours == theirs, f"line {i}"
    assert len(answers["etcd"]) == len(answers["swetcd"])
