"""etcd's corruption checks between members (`--experimental-initial-corrupt-check`,
`--experimental-corrupt-check-time`) on a 3-member swetcd cluster, with one member's data really
corrupted: a stored value changed in place in its LMDB file (python3-lmdb) while it was down.
etcd's own e2e corruption tests do the same to bbolt files, which swetcd does not use."""
import json
import os
import signal
import time

import pytest

from conftest import SWETCD
from test_cluster_etcdctl import Cluster, wait_for_log

lmdb = pytest.importorskip("lmdb")


def corrupt_one_value(data_dir, old=b"value-7", new=b"value-X"):
    """Rewrites the stored KeyValue that holds `old` so that it holds `new` (same length, so the
    record stays well-formed: only the data is wrong)."""
    env = lmdb.open(os.path.join(data_dir, "member", "snap", "db"), subdir=False, max_dbs=16, map_size=1 << 33, lock=True)
    changed = 0
    with env.begin(write=True) as txn:
        revisions = env.open_db(b"rev", txn=txn)
        cursor = txn.cursor(db=revisions)
        for key, value in cursor:
            if old in value:
                txn.put(key, value.replace(old, new), db=revisions)
                changed += 1
    env.close()
    assert changed == 1, changed


def start_cluster(workdir, extra):
    c = Cluster(SWETCD, workdir, extra=extra)
    os.makedirs(workdir, exist_ok=True)
    c.start()
    c.leader()
    for i in range(10):
        c.ctl("put", f"key-{i}", f"value-{i}")
    # Every member has applied every write before one of them is stopped.
    deadline = time.time() + 20
    while time.time() < deadline:
        revisions = {json.loads(c.ctl("get", "key-9", "-w", "json", "--consistency=s", server=s).stdout_text)["header"]["revision"]
                     for s in c.servers}
        if len(revisions) == 1:
            return c
        time.sleep(0.05)
    raise AssertionError("members did not converge")


def follower(c):
    lead = c.leader()
    return next(s for s in c.servers if s is not lead)


def test_a_restarting_member_with_corrupt_data_refuses_to_start(workdir):
    c = start_cluster(os.path.join(workdir, "initial"), ("--experimental-initial-corrupt-check",))
    try:
        victim = follower(c)
        victim.stop()
        corrupt_one_value(victim.data_dir)
        victim.start(wait=False)
        assert victim.proc.wait(timeout=60) != 0
        log = victim.read_log()
        assert "found different hash values from remote peer" in log
        assert "found data inconsistency with peers" in log and "checkInitialHashKV failed" in log
        # The others go on serving.
        c.ctl("put", "after", "x", server=next(s for s in c.servers if s is not victim))
    finally:
        c.kill()


def test_a_clean_restart_passes_the_initial_check(workdir):
    c = start_cluster(os.path.join(workdir, "clean"), ("--experimental-initial-corrupt-check",))
    try:
        victim = follower(c)
        victim.stop()
        victim.start()
        wait_for_log([victim], "initial corruption checking passed; no corruption")
    finally:
        c.kill()


def test_the_leader_raises_the_corrupt_alarm_for_a_member_with_corrupt_data(workdir):
    c = start_cluster(os.path.join(workdir, "periodic"), ("--experimental-corrupt-check-time", "1s"))
    try:
        victim = follower(c)
        victim.stop()
        corrupt_one_value(victim.data_dir)
        victim.start()
        deadline = time.time() + 60
        alarms = ""
        while time.time() < deadline:
            alarms = c.ctl("alarm", "list", check=False).stdout_text
            if "CORRUPT" in alarms:
                break
            time.sleep(0.2)
        victim_id = json.loads(c.ctl("endpoint", "status", "-w", "json", server=victim).stdout_text)[0]["Status"]["header"]["member_id"]
        assert alarms.strip() == f"memberID:{victim_id} alarm:CORRUPT", alarms
        # A corrupt cluster refuses writes, as etcd does.
        r = c.ctl("put", "k", "v", check=False)
        assert r.returncode != 0 and "etcdserver: corrupt cluster" in r.stderr_text, r.stderr_text
        wait_for_log(c.servers, "same compact revision then hashes must match")
    finally:
        c.kill()
