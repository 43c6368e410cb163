"""A third-party client in another language: Python grpcio with stubs generated at test time
from our Protos/ by grpcio-tools (Debian's python3-grpc-tools), doing put/range/txn/compact and
checking what etcd's semantics say the answers are."""
import pytest

import grpc_stubs


@pytest.fixture(scope="module")
def pb():
    return grpc_stubs.load()


def test_python_grpcio_client_put_range_txn_compact(swetcd, pb):
    import grpc
    rpc_pb2, rpc_pb2_grpc = pb
    server = swetcd()
    channel = grpc.insecure_channel(server.endpoint.replace("http://", ""))
    kv = rpc_pb2_grpc.KVStub(channel)

    r1 = kv.Put(rpc_pb2.PutRequest(key=b"py/a", value=b"1"))
    assert r1.header.revision == 2
    r2 = kv.Put(rpc_pb2.PutRequest(key=b"py/b", value=b"2", prev_kv=True))
    assert r2.header.revision == 3 and not r2.HasField("prev_kv")
    r3 = kv.Put(rpc_pb2.PutRequest(key=b"py/a", value=b"11", prev_kv=True))
    assert r3.prev_kv.value == b"1" and r3.prev_kv.mod_revision == 2

    got = kv.Range(rpc_pb2.RangeRequest(key=b"py/", range_end=b"py0"))
    assert [(x.key, x.value, x.version, x.create_revision, x.mod_revision) for x in got.kvs] == [
        (b"py/a", b"11", 2, 2, 4), (b"py/b", b"2", 1, 3, 3)]
    assert got.count == 2 and not got.more and got.header.revision == 4

    limited = kv.Range(rpc_pb2.RangeRequest(key=b"py/", range_end=b"py0", limit=1))
    assert len(limited.kvs) == 1 and limited.more and limited.count == 2

    old = kv.Range(rpc_pb2.RangeRequest(key=b"py/a", revision=2))
    assert old.kvs[0].value == b"1"

    cmp = rpc_pb2.Compare(key=b"py/a", target=rpc_pb2.Compare.MOD, result=rpc_pb2.Compare.EQUAL, mod_revision=4)
    txn = kv.Txn(rpc_pb2.TxnRequest(
        compare=[cmp],
        success=[rpc_pb2.RequestOp(request_put=rpc_pb2.PutRequest(key=b"py/c", value=b"3")),
                 rpc_pb2.RequestOp(request_range=rpc_pb2.RangeRequest(key=b"py/c"))],
        failure=[rpc_pb2.RequestOp(request_range=rpc_pb2.RangeRequest(key=b"py/a"))]))
    assert txn.succeeded and txn.header.revision == 5
    assert txn.responses[1].response_range.kvs[0].value == b"3"

    # Kubernetes' create: put only if the key does not exist (mod_revision == 0); py/c exists now.
    create = rpc_pb2.Compare(key=b"py/c", target=rpc_pb2.Compare.MOD, result=rpc_pb2.Compare.EQUAL, mod_revision=0)
    stale = kv.Txn(rpc_pb2.TxnRequest(compare=[create], success=[
        rpc_pb2.RequestOp(request_put=rpc_pb2.PutRequest(key=b"py/c", value=b"again"))], failure=[
        rpc_pb2.RequestOp(request_range=rpc_pb2.RangeRequest(key=b"py/a"))]))
    assert stale.succeeded is False and stale.header.revision == 5

    deleted = kv.DeleteRange(rpc_pb2.DeleteRangeRequest(key=b"py/b", prev_kv=True))
    assert deleted.deleted == 1 and deleted.prev_kvs[0].value == b"2" and deleted.header.revision == 6

    kv.Compact(rpc_pb2.CompactionRequest(revision=4, physical=True))
    with pytest.raises(grpc.RpcError) as e:
        kv.Range(rpc_pb2.RangeRequest(key=b"py/a", revision=3))
    assert e.value.code() == grpc.StatusCode.OUT_OF_RANGE
    assert e.value.details() == "etcdserver: mvcc: required revision has been compacted"
    at4 = kv.Range(rpc_pb2.RangeRequest(key=b"py/", range_end=b"py0", revision=4))
    assert [x.key for x in at4.kvs] == [b"py/a", b"py/b"]

    with pytest.raises(grpc.RpcError) as e:
        kv.Range(rpc_pb2.RangeRequest(key=b"py/a", revision=100))
    assert e.value.code() == grpc.StatusCode.OUT_OF_RANGE
    assert e.value.details() == "etcdserver: mvcc: required revision is a future revision"

    with pytest.raises(grpc.RpcError) as e:
        kv.Put(rpc_pb2.PutRequest(key=b"", value=b"x"))
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert e.value.details() == "etcdserver: key is not provided"

    maint = rpc_pb2_grpc.MaintenanceStub(channel)
    status = maint.Status(rpc_pb2.StatusRequest())
    assert status.header.revision == 6 and status.leader == status.header.member_id and status.dbSize > 0

    with pytest.raises(grpc.RpcError) as e:
        rpc_pb2_grpc.AuthStub(channel).AuthStatus(rpc_pb2.AuthStatusRequest())
    assert e.value.code() == grpc.StatusCode.UNIMPLEMENTED
    channel.close()
