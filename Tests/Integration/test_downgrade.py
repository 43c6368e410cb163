"""Maintenance.Downgrade side by side with etcd 3.5.16: validate, enable and cancel, with every
error etcd gives (version format, target, a downgrade in progress or none), and the flag a
joining member reads from the peer URL's /downgrade/enabled."""
import json
import os
import time
import urllib.request

import grpc
import pytest

import grpc_stubs
from conftest import ETCD_3516

pytestmark = pytest.mark.skipif(not os.path.exists(ETCD_3516), reason="etcd 3.5.16 not installed (etcd-reference)")

VALIDATE, ENABLE, CANCEL = 0, 1, 2


def wait_cluster_version(server):
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with urllib.request.urlopen(server.endpoint + "/version", timeout=5) as r:
            if json.loads(r.read())["etcdcluster"] != "not_decided":
                return
        time.sleep(0.05)
    raise AssertionError("no cluster version")


def peer_downgrade_enabled(server):
    with urllib.request.urlopen(f"http://127.0.0.1:{server.peer_port}/downgrade/enabled", timeout=5) as r:
        return r.read().decode().strip()


def session(server):
    rpc, rpc_grpc = grpc_stubs.load()
    wait_cluster_version(server)
    m = rpc_grpc.MaintenanceStub(grpc.insecure_channel(server.endpoint.replace("http://", "")))

    def call(action, version=""):
        try:
            r = m.Downgrade(rpc.DowngradeRequest(action=action, version=version), timeout=10)
            return ("OK", r.version, r.header.revision > 0)
        except grpc.RpcError as e:
            return (e.code().name, e.details())

    out = []
    for v in ["3.4", "3.4.0", "3.4.7", "3.4.0-rc.1", "3.4.0+build.5", "03.004", "3.3", "3.5", "4.4", "2.4",
              "x", "", "v3.4", "3.4.", "3.4.0.1", "3.4.-1", "3.4.0-", "3.4.0-a_b", "99999999999999999999.4"]:
        out.append(("validate", v, call(VALIDATE, v)))
    out.append(("enable 3.3", call(ENABLE, "3.3")))
    out.append(("cancel none", call(CANCEL)))
    out.append(("peer flag", peer_downgrade_enabled(server)))
    out.append(("enable 3.4", call(ENABLE, "3.4")))
    out.append(("peer flag", peer_downgrade_enabled(server)))
    out.append(("validate during", call(VALIDATE, "3.4")))
    out.append(("enable again", call(ENABLE, "3.4")))
    out.append(("enable bad format during", call(ENABLE, "nope")))
    out.append(("cancel", call(CANCEL)))
    out.append(("peer flag", peer_downgrade_enabled(server)))
    out.append(("cancel again", call(CANCEL)))
    out.append(("unknown action", call(5, "3.4")))
    return out


# etcd 3.5.16 applies ENABLE and CANCEL (the peer flag changes) but never answers their proposer,
# who gets "request timed out" after its request timeout; swetcd answers them with the cluster
# version. The one deliberate difference.
APPLIED_WITHOUT_ANSWER = {"enable 3.4", "cancel"}


def test_downgrade_answers_as_etcd(swetcd, etcd):
    ours = session(swetcd())
    theirs = session(etcd(binary=ETCD_3516))
    for a, b in zip(theirs, ours):
        if a[0] in APPLIED_WITHOUT_ANSWER:
            assert a[1] == ("UNAVAILABLE", "etcdserver: request timed out")
            assert b[1] == ("OK", "3.5.0", True)
        else:
            assert b == a
    assert len(ours) == len(theirs)


def test_an_enabled_downgrade_survives_a_restart(swetcd):
    server = swetcd()
    rpc, rpc_grpc = grpc_stubs.load()
    wait_cluster_version(server)
    m = rpc_grpc.MaintenanceStub(grpc.insecure_channel(server.endpoint.replace("http://", "")))
    m.Downgrade(rpc.DowngradeRequest(action=ENABLE, version="3.4"), timeout=10)
    server.kill()
    server.start()
    wait_cluster_version(server)
    m = rpc_grpc.MaintenanceStub(grpc.insecure_channel(server.endpoint.replace("http://", "")))
    with pytest.raises(grpc.RpcError) as e:
        m.Downgrade(rpc.DowngradeRequest(action=VALIDATE, version="3.4"), timeout=10)
    assert e.value.details() == "etcdserver: cluster has a downgrade job in progress"
    assert peer_downgrade_enabled(server) == "true"
