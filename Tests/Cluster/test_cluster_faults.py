"""Cluster fault tests: a smoke test of the harness (partition through the peer proxy) and the
bounded fault run with its linearizability check.

    cd Tests/Cluster && python3 -m pytest -q                     # swetcd, 60 s of faults
    CLUSTER_BINARY=etcd python3 -m pytest -q test_cluster_faults.py   # reference etcd 3.5.16
    FAULT_SEED=1234 FAULT_SECONDS=120 python3 -m pytest -q -s test_cluster_faults.py

Knobs: see faults.Config.from_env (FAULT_SECONDS, FAULT_SEED, CLUSTER_BINARY, SWETCD_BIN, ...).
"""
import os
import time

import pytest

import cluster as clusterlib
import faults

CFG = faults.Config.from_env()

pytestmark = pytest.mark.skipif(not os.access(CFG.binary, os.X_OK), reason=f"no binary at {CFG.binary}")


def test_partition_isolates_a_member_and_heals():
    """The proxy really cuts a member off (both directions) and lets it back in."""
    with clusterlib.Cluster(CFG.binary, heartbeat_ms=CFG.heartbeat_ms, election_ms=CFG.election_ms) as c:
        leader = c.leader()
        c.partition(leader)
        others = [m for m in c.members if m is not leader]
        # The majority elects a new leader and serves linearizable reads...
        new = c.leader(members=others, timeout=30)
        assert new is not leader
        c.wait_ready(members=others, timeout=30)
        # ...while the isolated member cannot (no quorum for ReadIndex), within a deadline
        # well past the election timeout.
        assert not c.answers(leader, timeout=3 * CFG.election_ms / 1000)
        assert c.proxy.unidentified == 0, "a peer connection could not be attributed to a member"
        c.heal(leader)
        c.wait_ready(timeout=30)
        c.wait_converged(timeout=30)


def test_fault_run():
    report = faults.run(CFG)
    print(report.summary())
    assert report.ok, report.summary()
