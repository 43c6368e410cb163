"""Moving from etcd to swetcd in place: etcd 3.5.16 runs on a data dir, stops (or is killed),
and swetcd started with the same flags on the same data dir serves the same keys at the same
revisions, the same compaction, leases, members and HashKV; etcd's own files are kept aside.
A data dir whose etcd still runs is refused and left untouched."""
import json
import os
import signal
import subprocess

import pytest

from conftest import ETCD_3516, REF, SWETCD, Server

ETCD_3423 = os.path.join(REF, "etcd-3.4.23", "etcd")

pytestmark = pytest.mark.skipif(not os.access(ETCD_3516, os.X_OK), reason="no reference etcd 3.5.16")


def state(server):
    out = json.loads(server.ctl("get", "", "--prefix", "-w", "json").stdout_text)
    leases = server.ctl("lease", "list").stdout_text.split()[2:]
    members = json.loads(server.ctl("member", "list", "-w", "json").stdout_text)["members"]
    hashkv = json.loads(server.ctl("endpoint", "hashkv", "-w", "json").stdout_text)[0]["HashKV"]
    return {
        "revision": out["header"]["revision"], "kvs": out.get("kvs", []), "leases": sorted(leases),
        "members": [(m["ID"], m["name"], m["peerURLs"]) for m in members],
        "cluster": out["header"]["cluster_id"], "member": out["header"]["member_id"],
        "hashkv": (hashkv["hash"], hashkv["compact_revision"]),
    }


def history(server, n=30):
    for i in range(n):
        server.ctl("put", f"k{i % 7}", f"v{i}")
    server.ctl("del", "k3")
    lease = server.ctl("lease", "grant", "900").stdout_text.split()[1]
    server.ctl("put", "leased", "x", "--lease", lease)
    server.ctl("compact", "10")
    for i in range(5):
        server.ctl("put", f"late{i}", "y")


@pytest.mark.parametrize("binary,stop", [(ETCD_3516, "sigterm"), (ETCD_3516, "sigkill"), (ETCD_3423, "sigkill")],
                         ids=["3.5.16-stopped", "3.5.16-killed", "3.4.23-killed"])
def test_swetcd_starts_on_the_data_dir_etcd_left(workdir, binary, stop):
    if not os.access(binary, os.X_OK):
        pytest.skip(f"no {binary}")
    etcd = Server(binary, workdir, name="m1")
    etcd.start()
    history(etcd)
    before = state(etcd)
    etcd.kill(signal.SIGTERM if stop == "sigterm" else signal.SIGKILL)
    # The same flags, the same data dir, another binary.
    swetcd = Server(SWETCD, workdir, name="m1")
    swetcd.client_port, swetcd.peer_port, swetcd.endpoint = etcd.client_port, etcd.peer_port, etcd.endpoint
    swetcd.log_path = os.path.join(workdir, "m1-swetcd.log")
    swetcd.start()
    try:
        after = state(swetcd)
        assert after == before
        r = swetcd.ctl("get", "k1", "--rev", "5", check=False)
        assert "required revision has been compacted" in r.stderr_text
        swetcd.ctl("put", "after", "migration")
        assert os.path.isdir(os.path.join(etcd.data_dir, "member.etcd-backup", "wal"))
        assert os.path.exists(os.path.join(etcd.data_dir, "member.etcd-backup", "snap", "db"))
        log = open(swetcd.log_path).read()
        assert "migrated an etcd data dir" in log
    finally:
        swetcd.kill()


def test_a_data_dir_etcd_still_runs_on_is_refused_and_left_alone(workdir):
    etcd = Server(ETCD_3516, workdir, name="m1")
    etcd.start()
    etcd.ctl("put", "k", "v")
    try:
        swetcd = Server(SWETCD, workdir, name="m1")
        swetcd.log_path = os.path.join(workdir, "m1-swetcd.log")
        swetcd.start(wait=False)
        assert swetcd.proc.wait(timeout=30) != 0
        assert "etcd is still running on this data dir" in open(swetcd.log_path).read()
        assert sorted(os.listdir(etcd.data_dir)) == ["member"]
        assert etcd.ctl("get", "k", "--print-value-only").stdout_text.strip() == "v"
    finally:
        etcd.kill()
