"""Maintenance.Hash: a hash of the whole backend (swetcd's own number: etcd hashes bbolt's pages'
buckets, whose layout is not LMDB's). What a user relies on: it stays the same across restarts
and defrag while the data does, changes when the data does, and is equal on members with equal
data."""
import grpc

import grpc_stubs
from test_cluster_etcdctl import cluster, exercise  # noqa: F401  (the cluster fixture)


def backend_hash(server):
    rpc, rpc_grpc = grpc_stubs.load()
    m = rpc_grpc.MaintenanceStub(grpc.insecure_channel(server.endpoint.replace("http://", "")))
    r = m.Hash(rpc.HashRequest(), timeout=10)
    return r.hash, r.header.revision


def test_hash_is_stable_across_restart_and_defrag_and_follows_the_data(swetcd, workdir):
    server = swetcd()
    for i in range(50):
        server.ctl("put", f"k{i}", "v" * i)
    lease = server.ctl("lease", "grant", "600").stdout_text.split()[1]
    server.ctl("put", "leased", "x", "--lease", lease)
    server.ctl("del", "k7")
    server.ctl("compact", "20")
    first = backend_hash(server)
    assert first == backend_hash(server)
    server.ctl("defrag")
    assert backend_hash(server) == first
    server.stop()
    server.start()
    assert backend_hash(server) == first
    server.ctl("put", "k1", "changed")
    changed = backend_hash(server)
    assert changed[0] != first[0] and changed[1] == first[1] + 1


def test_hash_is_equal_on_every_member(cluster):  # noqa: F811
    c = cluster()
    exercise(c)  # writes through every member; equal hashkv on all
    hashes = {s.name: backend_hash(s) for s in c.servers}
    assert len(set(hashes.values())) == 1, hashes
