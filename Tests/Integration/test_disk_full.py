"""A full disk: the data dir on a 100 MiB tmpfs. Writes stop with etcd's NOSPACE alarm and error
before the disk is full (also when something else fills it); the server keeps serving reads and
every acknowledged put; compaction, defragmentation and disarming the alarm bring writes back.
(etcd itself panics when its backend cannot write.) Needs permission to mount a tmpfs (root)."""
import os
import subprocess

import grpc
import pytest

import grpc_stubs
from conftest import Server, SWETCD


@pytest.fixture
def small_disk(tmp_path):
    mnt = tmp_path / "disk"
    mnt.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=100m", "tmpfs", str(mnt)], capture_output=True)
    if r.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {r.stderr.decode().strip()}")
    yield str(mnt)
    subprocess.run(["umount", "-l", str(mnt)])


def test_a_full_disk_raises_nospace_and_nothing_acknowledged_is_lost(small_disk):
    rpc_pb2, rpc_pb2_grpc = grpc_stubs.load()
    server = Server(SWETCD, small_disk).start()
    try:
        channel = grpc.insecure_channel(server.endpoint.replace("http://", ""))
        kv = rpc_pb2_grpc.KVStub(channel)
        value = os.urandom(100_000)
        acked = []
        refusal = None
        for i in range(1000):
            try:
                kv.Put(rpc_pb2.PutRequest(key=b"k%04d" % i, value=value))
                acked.append(i)
            except grpc.RpcError as e:
                refusal = e
                break
        assert refusal is not None, "the disk never filled"
        assert refusal.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert refusal.details() == "etcdserver: mvcc: database space exceeded"
        assert len(acked) > 100
        assert "alarm:NOSPACE" in server.ctl("alarm", "list").stdout_text

        # Something else fills the rest of the disk: still refused, still serving.
        filler = os.path.join(small_disk, "filler")
        subprocess.run(["dd", "if=/dev/zero", f"of={filler}", "bs=1M"], capture_output=True)
        r = server.ctl("put", "more", "x", check=False)
        assert r.returncode != 0 and "database space exceeded" in r.stderr_text
        assert server.proc.poll() is None
        got = kv.Range(rpc_pb2.RangeRequest(key=b"k", range_end=b"l", keys_only=True))
        assert [kv_.key for kv_ in got.kvs] == [b"k%04d" % i for i in acked]
        assert kv.Range(rpc_pb2.RangeRequest(key=b"k0000")).kvs[0].value == value

        # Recovery as with etcd: free space, compact, defragment, disarm; writes come back.
        os.remove(filler)
        rev = kv.Range(rpc_pb2.RangeRequest(key=b"k0000")).header.revision
        kv.DeleteRange(rpc_pb2.DeleteRangeRequest(key=b"k", range_end=b"l"))
        server.ctl("compact", str(rev + 1))
        server.ctl("defrag")
        server.ctl("alarm", "disarm")
        server.ctl("put", "after", "recovered")
        assert server.ctl("get", "after", "--print-value-only").stdout_text.strip() == "recovered"
        log = server.read_log()
        assert "Fatal error" not in log and "panic" not in log
    finally:
        server.stop()
