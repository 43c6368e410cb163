"""Defragment: `etcdctl defrag` (3.5.1 and 3.4.23) prints what it prints against etcd 3.5.1, the
backend file shrinks after a compaction, nothing is lost, writes during the defragmentation are
served, and the data survives a SIGKILL right after it."""
import signal
import threading

import grpc
import pytest

import grpc_stubs
from normalize import normalize


def fill(server, rpc_pb2, rpc_pb2_grpc, count=3000, size=4096):
    channel = grpc.insecure_channel(server.endpoint.replace("http://", ""))
    kv = rpc_pb2_grpc.KVStub(channel)
    for i in range(count):
        kv.Put(rpc_pb2.PutRequest(key=b"big/%05d" % i, value=bytes([i % 251]) * size))
    return channel, kv


def status(channel, rpc_pb2, rpc_pb2_grpc):
    return rpc_pb2_grpc.MaintenanceStub(channel).Status(rpc_pb2.StatusRequest())


@pytest.mark.parametrize("version", ["3.5", "3.4"])
def test_etcdctl_defrag_prints_what_etcd_prints(swetcd, etcd, version):
    def run(server):
        server.ctl("put", "a", "1", version=version)
        r = server.ctl("defrag", version=version, check=False)
        return r.returncode, normalize(r.stdout_text), normalize(r.stderr_text)
    assert run(swetcd()) == run(etcd())


def test_defrag_shrinks_the_backend_keeps_every_key_and_serves_writes_meanwhile(swetcd):
    rpc_pb2, rpc_pb2_grpc = grpc_stubs.load()
    server = swetcd()
    channel, kv = fill(server, rpc_pb2, rpc_pb2_grpc)
    # Delete nine keys in ten and compact: the pages are free, but the file keeps its size.
    for i in range(3000):
        if i % 10:
            kv.DeleteRange(rpc_pb2.DeleteRangeRequest(key=b"big/%05d" % i))
    rev = kv.Range(rpc_pb2.RangeRequest(key=b"big/", range_end=b"big0", count_only=True)).header.revision
    kv.Compact(rpc_pb2.CompactionRequest(revision=rev, physical=True))
    before = status(channel, rpc_pb2, rpc_pb2_grpc).dbSize

    written = []
    stop = threading.Event()

    def writer():
        n = 0
        while not stop.is_set():
            kv.Put(rpc_pb2.PutRequest(key=b"during/%05d" % n, value=b"x"))
            written.append(n)
            n += 1
    t = threading.Thread(target=writer)
    t.start()
    r = server.ctl("defrag")
    stop.set()
    t.join()
    assert "Finished defragmenting etcd member[" in r.stdout_text
    after = status(channel, rpc_pb2, rpc_pb2_grpc).dbSize
    assert after < before / 3, (before, after)
    assert len(written) > 0
    got = kv.Range(rpc_pb2.RangeRequest(key=b"big/", range_end=b"big0"))
    assert [kv_.key for kv_ in got.kvs] == [b"big/%05d" % i for i in range(0, 3000, 10)]
    assert all(kv_.value == bytes([int(kv_.key[4:]) % 251]) * 4096 for kv_ in got.kvs)
    during = kv.Range(rpc_pb2.RangeRequest(key=b"during/", range_end=b"during0", count_only=True)).count
    assert during == len(written)
    log = server.read_log()
    assert '"msg":"finished defragmenting directory"' in log

    # A SIGKILL right after: the restarted member has the compacted file and every key.
    server.ctl("put", "last", "one")
    server.kill(signal.SIGKILL)
    server.start()
    channel = grpc.insecure_channel(server.endpoint.replace("http://", ""))
    kv = rpc_pb2_grpc.KVStub(channel)
    assert kv.Range(rpc_pb2.RangeRequest(key=b"big/", range_end=b"big0", count_only=True)).count == 300
    assert kv.Range(rpc_pb2.RangeRequest(key=b"during/", range_end=b"during0", count_only=True)).count == len(written)
    assert kv.Range(rpc_pb2.RangeRequest(key=b"last")).kvs[0].value == b"one"
