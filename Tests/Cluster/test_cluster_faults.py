"""Cluster fault tests: a smoke test of the harness (partition through the peer proxy) and the
bounded fault run with its linearizability check.

    cd Tests/Cluster && python3 -m pytest -q                          # swetcd, 90 s of faults
    CLUSTER_BINARY=etcd python3 -m pytest -q test_cluster_faults.py   # reference etcd 3.5.16
    FAULT_SEED=1234 FAULT_SECONDS=120 python3 -m pytest -q -s test_cluster_faults.py

Knobs: see faults.Config.from_env (FAULT_SECONDS, FAULT_SEED, CLUSTER_BINARY, SWETCD_BIN, ...).
"""
import json
import os

import pytest

import cluster as clusterlib
import faults
import stubs

CFG = faults.Config.from_env()

pytestmark = pytest.mark.skipif(not os.access(CFG.binary, os.X_OK), reason=f"no binary at {CFG.binary}")


def test_partition_isolates_a_member_and_heals():
    """The proxy really cuts a member off (nothing gets through either way) and lets it back in."""
    pb = stubs.load().rpc_pb2
    with clusterlib.Cluster(CFG.binary, heartbeat_ms=CFG.heartbeat_ms, election_ms=CFG.election_ms) as c:
        leader = c.leader()
        leader.kv().Put(pb.PutRequest(key=b"k", value=b"before"), timeout=5)
        c.wait_converged(timeout=30)
        c.partition(leader)
        others = [m for m in c.members if m is not leader]
        # The majority elects a new leader and takes writes...
        new = c.leader(members=others, timeout=30)
        assert new is not leader
        new.kv().Put(pb.PutRequest(key=b"k", value=b"during"), timeout=5)
        # ...which do not reach the isolated member, and it cannot serve a linearizable read
        # (no quorum), within a deadline well past the election timeout.
        r = leader.kv().Range(pb.RangeRequest(key=b"k", serializable=True), timeout=5)
        assert r.kvs[0].value == b"before"
        assert not c.answers(leader, timeout=3 * CFG.election_ms / 1000)
        assert c.proxy.unidentified == 0, "a peer connection could not be attributed to a member"
        c.heal(leader)
        c.wait_ready(timeout=30)
        r = leader.kv().Range(pb.RangeRequest(key=b"k"), timeout=5)
        assert r.kvs[0].value == b"during"
        c.wait_converged(timeout=30)
        # etcdctl finds every member through MemberList and gets the same hash from each.
        out = c.etcdctl("endpoint", "hashkv", "--cluster", "-w", "json")
        assert out.returncode == 0, out.stderr
        hashes = {e["Endpoint"]: e["HashKV"]["hash"] for e in json.loads(out.stdout)}
        assert len(hashes) == 3 and len(set(hashes.values())) == 1, hashes


def test_fault_run():
    report = faults.run(CFG)
    print(report.summary())
    assert report.ok, report.summary()
