"""`etcdctl snapshot save` against swetcd writes a bbolt file in etcd's layout: etcd's own
`etcdutl snapshot status` (3.5.16) and `etcdctl snapshot status` (3.4.23) read it, and
`etcdutl snapshot restore` turns it into a data dir a real etcd 3.5.16 serves with every key at
its revisions, the compacted revision, the leases, and the same HashKV."""
import json
import os

import pytest

from conftest import ETCD_3516, REF, SWETCD, Server

ETCDUTL = os.path.join(REF, "etcd-3.5.16", "etcdutl")
pytestmark = pytest.mark.skipif(not (os.access(ETCD_3516, os.X_OK) and os.access(ETCDUTL, os.X_OK)),
                                reason="no reference etcd 3.5.16")


def run(*cmd):
    import subprocess
    r = subprocess.run(list(cmd), capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, f"{' '.join(cmd)}:\n{r.stdout}{r.stderr}"
    return r.stdout


def make_history(s):
    s.ctl("put", "a", "1")
    s.ctl("put", "b", "1")
    s.ctl("put", "a", "2")
    s.ctl("del", "b")
    lease = s.ctl("lease", "grant", "600").stdout_text.split()[1]
    s.ctl("put", "leased", "x", "--lease", lease)
    s.ctl("txn", input=b"\nput t1 v\nput t2 v\n\n\n")
    s.ctl("compact", "4", "--physical")
    s.ctl("put", "big", "v" * 100_000)
    s.ctl("put", "a", "3")
    s.ctl("del", "t2")
    return lease


def kvs(server, *args):
    out = json.loads(server.ctl("get", "", "--prefix", "-w", "json", *args).stdout_text)
    return out["header"]["revision"], out.get("kvs", [])


def test_a_swetcd_snapshot_is_read_by_etcds_tools_and_restored_into_etcd(swetcd, workdir):
    s = swetcd()
    lease = make_history(s)
    revision, ours = kvs(s)
    saved = {}
    for version in ("3.5.16", "3.4"):
        path = os.path.join(workdir, f"snapshot-{version}.db")
        out = s.ctl("snapshot", "save", path, version=version)
        assert "Snapshot saved at" in out.stdout_text + out.stderr_text
        saved[version] = path
        # etcdctl appends the sha256 etcd's restore checks: the database is whole pages.
        assert os.path.getsize(path) % 512 == 32
    with open(saved["3.5.16"], "rb") as a, open(saved["3.4"], "rb") as b:
        assert a.read()[:-32] == b.read()[:-32], "two snapshots of the same data differ"

    status = json.loads(run(ETCDUTL, "snapshot", "status", saved["3.5.16"], "-w", "json"))
    assert status["revision"] == revision
    assert status["totalSize"] == os.path.getsize(saved["3.5.16"]) - 32
    # etcdctl 3.4's own reader gives the same hash, revision and count.
    import subprocess
    env = {k: v for k, v in os.environ.items() if not k.startswith("ETCDCTL")}
    env["ETCDCTL_API"] = "3"
    old = subprocess.run([os.path.join(REF, "etcd-3.4.23", "etcdctl"), "snapshot", "status", saved["3.4"], "-w", "json"],
                         capture_output=True, text=True, env=env, timeout=60)
    assert old.returncode == 0, old.stderr
    old = json.loads(old.stdout)
    assert (old["hash"], old["revision"], old["totalKey"]) == (status["hash"], status["revision"], status["totalKey"])

    # Restored by etcd's tool, served by etcd.
    restored = Server(ETCD_3516, os.path.join(workdir, "restored"), name="r1")
    os.makedirs(os.path.join(workdir, "restored"), exist_ok=True)
    peer = f"http://127.0.0.1:{restored.peer_port}"
    run(ETCDUTL, "snapshot", "restore", saved["3.5.16"], "--data-dir", restored.data_dir, "--name", "r1",
        "--initial-cluster", f"r1={peer}", "--initial-advertise-peer-urls", peer,
        "--initial-cluster-token", "swetcd-test")
    restored.start()
    try:
        theirs_revision, theirs = kvs(restored)
        assert theirs_revision == revision
        assert theirs == ours
        # History before the compaction is gone on both; after it, the same.
        for server in (s, restored):
            r = server.ctl("get", "a", "--rev", "3", check=False)
            assert "required revision has been compacted" in r.stderr_text
        assert kvs(restored, "--rev", "5")[1] == kvs(s, "--rev", "5")[1]
        # The lease, with its key.
        ttl = json.loads(restored.ctl("lease", "timetolive", lease, "--keys", "-w", "json").stdout_text)
        assert ttl["granted-ttl"] == 600 and [bytes(__import__("base64").b64decode(k)) for k in ttl["keys"]] == [b"leased"]
        # etcd's HashKV of the restored history equals swetcd's.
        ours_hash = json.loads(s.ctl("endpoint", "hashkv", "-w", "json").stdout_text)[0]["HashKV"]
        theirs_hash = json.loads(restored.ctl("endpoint", "hashkv", "-w", "json").stdout_text)[0]["HashKV"]
        assert ours_hash["hash"] == theirs_hash["hash"] and ours_hash["compact_revision"] == theirs_hash["compact_revision"]
    finally:
        restored.kill()


def test_swetcd_snapshot_tools_read_etcds_snapshots_as_etcdutl_does(swetcd, etcd, workdir):
    """An etcd 3.5.16 snapshot: `swetcd snapshot status` prints what `etcdutl snapshot status`
    prints in every format, and `swetcd snapshot restore` makes a data dir swetcd serves with
    etcd's keys, revisions, compaction and leases."""
    e = etcd()
    lease = make_history(e)
    revision, theirs = kvs(e)
    path = os.path.join(workdir, "etcd.db")
    e.ctl("snapshot", "save", path, version="3.5.16")
    ttl = json.loads(e.ctl("lease", "timetolive", lease, "--keys", "-w", "json").stdout_text)
    e.kill()
    for fmt in ("simple", "json", "table"):
        assert run(SWETCD, "snapshot", "status", path, "-w", fmt) == run(ETCDUTL, "snapshot", "status", path, "-w", fmt)

    restored = Server(SWETCD, os.path.join(workdir, "sw"), name="r1")
    os.makedirs(os.path.join(workdir, "sw"), exist_ok=True)
    peer = f"http://127.0.0.1:{restored.peer_port}"
    run(SWETCD, "snapshot", "restore", path, "--data-dir", restored.data_dir, "--name", "r1",
        "--initial-cluster", f"r1={peer}", "--initial-advertise-peer-urls", peer, "--initial-cluster-token", "swetcd-test")
    restored.start()
    try:
        ours_revision, ours = kvs(restored)
        assert (ours_revision, ours) == (revision, theirs)
        r = restored.ctl("get", "a", "--rev", "3", check=False)
        assert "required revision has been compacted" in r.stderr_text
        got = json.loads(restored.ctl("lease", "timetolive", lease, "--keys", "-w", "json").stdout_text)
        assert (got["granted-ttl"], got["keys"]) == (ttl["granted-ttl"], ttl["keys"])
        members = json.loads(restored.ctl("member", "list", "-w", "json").stdout_text)["members"]
        assert [(m["name"], m["peerURLs"]) for m in members] == [("r1", [peer])]
        restored.ctl("put", "after", "restore")
    finally:
        restored.kill()


def test_a_corrupt_or_unhashed_snapshot_is_refused_and_leaves_nothing(swetcd, workdir):
    s = swetcd()
    s.ctl("put", "k", "v")
    path = os.path.join(workdir, "s.db")
    s.ctl("snapshot", "save", path, version="3.5.16")
    import subprocess
    with open(path, "r+b") as f:       # as etcd's TestCtlV3SnapshotCorrupt does
        f.write(b"\0" * 512)
    target = os.path.join(workdir, "restored.etcd")
    r = subprocess.run([SWETCD, "snapshot", "restore", path, "--data-dir", target], capture_output=True, text=True, timeout=60)
    assert r.returncode != 0 and "expected sha256" in r.stderr
    assert not os.path.exists(target)
    data = open(path, "rb").read()
    with open(path, "wb") as f:
        f.write(data[:-32])
    r = subprocess.run([SWETCD, "snapshot", "restore", path, "--data-dir", target], capture_output=True, text=True, timeout=60)
    assert r.returncode != 0 and "snapshot missing hash but --skip-hash-check=false" in r.stderr
    assert not os.path.exists(target)
