"""Raised alarms, side by side with etcd 3.5.16 (both found by the differential fuzzer).

--quota-backend-bytes reached (seed 1078): which writes etcd refuses with NOSPACE and which it
still applies.

etcd refuses a Put, a LeaseGrant and a Txn whose top-level branches put (its quota cost,
`costTxn`, looks at top-level puts only); a Txn of deletes, or one whose only puts are inside a
nested Txn, costs nothing and is applied."""
import os

import grpc
import pytest

import grpc_stubs
from conftest import ETCD_3516

QUOTA = 2 * 1024 * 1024  # bytes: small, so a few puts of 256 KiB fill it


def call(fn, request):
    try:
        return ("OK", "", fn(request, timeout=10))
    except grpc.RpcError as e:
        return (e.code().name, e.details(), None)


def fill_until_nospace(rpc, kv):
    for i in range(200):
        code, details, _ = call(kv.Put, rpc.PutRequest(key=b"fill/%03d" % i, value=b"x" * (256 * 1024)))
        if code != "OK":
            return code, details
    raise AssertionError("the quota was never reached")


@pytest.mark.skipif(not os.path.exists(ETCD_3516), reason="etcd 3.5.16 not installed (etcd-reference)")
def test_writes_refused_and_applied_under_nospace_as_etcd(swetcd, etcd):
    rpc, rpc_grpc = grpc_stubs.load()
    flags = ["--quota-backend-bytes", str(QUOTA)]
    servers = {"swetcd": swetcd(extra=flags), "etcd": etcd(binary=ETCD_3516, extra=flags)}
    kvs = {n: rpc_grpc.KVStub(grpc.insecure_channel(s.endpoint.replace("http://", ""))) for n, s in servers.items()}
    leases = {n: rpc_grpc.LeaseStub(grpc.insecure_channel(s.endpoint.replace("http://", ""))) for n, s in servers.items()}

    for name, kv in kvs.items():
        code, details = fill_until_nospace(rpc, kv)
        assert (code, details) == ("RESOURCE_EXHAUSTED", "etcdserver: mvcc: database space exceeded"), name

    put = rpc.RequestOp(request_put=rpc.PutRequest(key=b"p", value=b"v"))
    delete = rpc.RequestOp(request_delete_range=rpc.DeleteRangeRequest(key=b"fill/000"))
    nested_put = rpc.RequestOp(request_txn=rpc.TxnRequest(success=[put]))
    cases = [
        ("put", "Put", rpc.PutRequest(key=b"q", value=b"v")),
        ("txn put", "Txn", rpc.TxnRequest(success=[put])),
        ("txn put in failure branch", "Txn", rpc.TxnRequest(failure=[delete, put])),
        ("txn delete", "Txn", rpc.TxnRequest(success=[delete])),
        ("txn nested put", "Txn", rpc.TxnRequest(success=[nested_put])),
        ("delete range", "DeleteRange", rpc.DeleteRangeRequest(key=b"fill/001")),
        ("lease grant", "LeaseGrant", rpc.LeaseGrantRequest(TTL=60, ID=42)),
    ]
    for label, method, request in cases:
        answers = {}
        for name in servers:
            stub = leases[name] if method.startswith("Lease") else kvs[name]
            code, details, response = call(getattr(stub, method), request)
            answers[name] = (code, details, getattr(response, "succeeded", None))
        assert answers["swetcd"] == answers["etcd"], f"{label}: {answers}"
        assert servers["swetcd"].proc.poll() is None

    # What the nested put wrote is there on both.
    for name, kv in kvs.items():
        assert call(kv.Range, rpc.RangeRequest(key=b"p"))[2].count == 1, name


@pytest.mark.skipif(not os.path.exists(ETCD_3516), reason="etcd 3.5.16 not installed (etcd-reference)")
def test_a_txn_with_a_nested_txn_is_a_write_under_the_corrupt_alarm(swetcd, etcd):
    """CORRUPT raised (seed 2034): etcd refuses every txn that is not all ranges, a nested txn
    that only reads included (its isTxnReadonly), and still serves one of plain ranges."""
    rpc, rpc_grpc = grpc_stubs.load()
    servers = {"swetcd": swetcd(), "etcd": etcd(binary=ETCD_3516)}
    answers = {}
    for name, server in servers.items():
        ch = grpc.insecure_channel(server.endpoint.replace("http://", ""))
        kv, maint = rpc_grpc.KVStub(ch), rpc_grpc.MaintenanceStub(ch)
        kv.Put(rpc.PutRequest(key=b"a", value=b"1"), timeout=10)
        member = maint.Status(rpc.StatusRequest(), timeout=10).header.member_id
        maint.Alarm(rpc.AlarmRequest(action=rpc.AlarmRequest.ACTIVATE, memberID=member,
                                     alarm=rpc.CORRUPT), timeout=10)
        read = rpc.RequestOp(request_range=rpc.RangeRequest(key=b"a"))
        nested = rpc.RequestOp(request_txn=rpc.TxnRequest(success=[read]))
        answers[name] = [
            call(kv.Txn, rpc.TxnRequest(success=[read]))[:2],
            call(kv.Txn, rpc.TxnRequest(success=[nested]))[:2],
            call(kv.Txn, rpc.TxnRequest(success=[rpc.RequestOp()]))[:2],
        ]
        assert server.proc.poll() is None
    assert answers["swetcd"] == answers["etcd"], answers
    assert answers["etcd"][1] == ("DATA_LOSS", "etcdserver: corrupt cluster")
