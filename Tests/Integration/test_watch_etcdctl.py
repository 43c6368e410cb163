"""etcdctl watch against swetcd and a real etcd 3.5.1 prints the same events (after the usual
normalization): single key, prefix, ranges, --rev history, --prev-kv, JSON, filters through
txn writes, deletes, and a watch from a compacted revision."""
import subprocess
import time

import pytest

from conftest import ETCDCTL
from normalize import normalize

WATCHES = [
    ("watch", "foo"),
    ("watch", "foo", "--prev-kv"),
    ("watch", "--prefix", "f"),
    ("watch", "a", "c"),
    ("watch", "foo", "--rev", "2"),
    ("watch", "--prefix", "", "--rev", "1", "-w", "json"),
    ("watch", "b", "--rev", "3", "--prev-kv"),
]

TXN = b'\n\nput foo t1\nput bar t2\nput b t3\n\n\n'


def session(server, version):
    # History the --rev watchers replay.
    for k, v in [("foo", "1"), ("b", "2"), ("foo", "3")]:
        server.ctl("put", k, v, version=version)
    procs = []
    for args in WATCHES:
        cmd = [ETCDCTL[version], "--endpoints", server.endpoint, *args]
        env = {"ETCDCTL_API": "3"} if version == "3.4" else {}
        procs.append((args, subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env)))
    time.sleep(1.5)  # watchers registered
    server.ctl("put", "foo", "4", version=version)
    server.ctl("put", "foo2", "5", version=version)
    server.ctl("txn", input=TXN, version=version)
    server.ctl("del", "--prefix", "f", "--prev-kv", version=version)
    server.ctl("put", "b", "6", version=version)
    time.sleep(1.5)
    out = []
    for args, p in procs:
        p.terminate()
        text = p.communicate(timeout=10)[0].decode(errors="replace")
        out.append(f"$ etcdctl {' '.join(args)}\n{normalize(text)}")
    # A watch from before the compaction point is cancelled with the compact revision.
    server.ctl("compact", "6", version=version)
    r = server.ctl("watch", "foo", "--rev", "2", check=False, timeout=10, version=version)
    out.append(f"$ etcdctl watch foo --rev 2 (compacted)\nexit={r.returncode}\n{normalize(r.stdout_text)}\n{normalize(r.stderr_text)}")
    return out


@pytest.mark.parametrize("version", ["3.5", "3.4"])
def test_etcdctl_watch_output_matches_real_etcd(swetcd, etcd, version):
    ours = session(swetcd(), version)
    theirs = session(etcd(), version)
    mismatches = [f"--- etcd 3.5.1\n{t}\n+++ swetcd\n{o}" for o, t in zip(ours, theirs) if o != t]
    assert not mismatches, "\n\n".join(mismatches)
