"""etcd flags swetcd implements, each tried on the real binary beside a real etcd 3.5.16 with the
same flags, and the rule that no flag is accepted and ignored: a flag for something swetcd does
not do is refused at start with the reason, unless it has etcd's default value."""
import json
import os
import subprocess
import time
import urllib.error
import urllib.request

import grpc
import pytest

import grpc_stubs
from conftest import ETCD_3516, SWETCD, Certificates, free_port


def http_get(url, timeout=5):
    """(status, body) of a GET."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def wait_for(predicate, timeout=30, what="condition"):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def both(swetcd, etcd, extra):
    return swetcd(extra=extra), etcd(binary=ETCD_3516, extra=extra)


def test_unsupported_flags_are_refused_with_the_reason_and_defaults_are_accepted(workdir):
    r = subprocess.run([SWETCD, "--data-dir", os.path.join(workdir, "d"), "--discovery", "https://discovery.example/x"],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode != 0
    assert "--discovery=https://discovery.example/x is not supported by swetcd: discovery is not implemented" in r.stderr
    r = subprocess.run([SWETCD, "--data-dir", os.path.join(workdir, "d"), "--grpc-keepalive-min-time", "1s"],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode != 0 and "not supported by swetcd" in r.stderr
    assert not os.path.exists(os.path.join(workdir, "d")), "a refused start must not create the data dir"


def test_metrics_urls_serve_health_livez_readyz_like_etcd(swetcd, etcd, pb):
    rpc, rpc_grpc = pb
    ports = {}
    servers = []
    for start, name in ((swetcd, "swetcd"), (lambda extra: etcd(binary=ETCD_3516, extra=extra), "etcd")):
        port = free_port()
        ports[name] = port
        servers.append(start(extra=["--listen-metrics-urls", f"http://127.0.0.1:{port}"]))
    answers = {}
    for name, port in ports.items():
        base = f"http://127.0.0.1:{port}"
        answers[name] = {
            "health": http_get(base + "/health"),
            "health-serializable": http_get(base + "/health?serializable=true&exclude=NOSPACE"),
            "livez": http_get(base + "/livez"),
            "livez-verbose": http_get(base + "/livez?verbose"),
            "readyz-check": http_get(base + "/readyz/serializable_read"),
            "readyz-excluded": http_get(base + "/readyz?exclude=linearizable_read&exclude=data_corruption&verbose"),
            "missing": http_get(base + "/readyz/no_such_check")[0],
        }
    assert answers["swetcd"] == answers["etcd"]
    # The readyz listing is in check order for etcd only by chance (Go maps): compare as sets.
    for name, port in ports.items():
        status, body = http_get(f"http://127.0.0.1:{port}/readyz?verbose")
        assert status == 200
        assert sorted(body.splitlines()) == sorted(["[+]data_corruption ok", "[+]serializable_read ok", "[+]linearizable_read ok", "ok"])

    # A CORRUPT alarm fails /health and /readyz (not /livez), with etcd's reasons.
    for server in servers:
        ch = grpc.insecure_channel(server.endpoint.replace("http://", ""))
        maint = rpc_grpc.MaintenanceStub(ch)
        status = maint.Status(rpc.StatusRequest(), timeout=10)
        maint.Alarm(rpc.AlarmRequest(action=rpc.AlarmRequest.ACTIVATE, memberID=status.header.member_id,
                                     alarm=rpc.CORRUPT), timeout=10)
    for name, port in ports.items():
        base = f"http://127.0.0.1:{port}"
        assert http_get(base + "/health") == (503, '{"health":"false","reason":"ALARM CORRUPT"}\n'), name
        status, body = http_get(base + "/readyz?verbose")
        assert status == 503 and "[-]data_corruption failed: alarm activated: CORRUPT" in body, (name, body)
        assert http_get(base + "/livez")[0] == 200, name
        assert http_get(base + "/readyz?exclude=data_corruption")[0] == 200, name


@pytest.fixture(scope="module")
def pb():
    return grpc_stubs.load()


def test_periodic_auto_compaction_compacts_the_history_of_one_retention_ago(swetcd, pb):
    rpc, rpc_grpc = pb
    server = swetcd(extra=["--auto-compaction-mode", "periodic", "--auto-compaction-retention", "1s"])
    kv = rpc_grpc.KVStub(grpc.insecure_channel(server.endpoint.replace("http://", "")))
    first = kv.Put(rpc.PutRequest(key=b"k", value=b"1"), timeout=10).header.revision
    kv.Put(rpc.PutRequest(key=b"k", value=b"2"), timeout=10)

    def compacted_past_first():
        try:
            kv.Range(rpc.RangeRequest(key=b"k", revision=first), timeout=10)
            return False
        except grpc.RpcError as e:
            assert e.details() == "etcdserver: mvcc: required revision has been compacted"
            return True

    wait_for(compacted_past_first, timeout=30, what="the periodic compaction")
    assert '"msg":"completed auto periodic compaction"' in server.read_log()
    assert kv.Range(rpc.RangeRequest(key=b"k"), timeout=10).kvs[0].value == b"2"


def test_revision_auto_compaction_starts_and_logs_its_retention(swetcd):
    server = swetcd(extra=["--auto-compaction-mode", "revision", "--auto-compaction-retention", "10"])
    assert '"revision-compaction-retention":"10"' in server.read_log()


def test_bootstrap_defrag_threshold_logs_etcds_skip_line(swetcd):
    server = swetcd(extra=["--experimental-bootstrap-defrag-threshold-megabytes", "1000"])
    assert '"msg":"Skipping defragmentation"' in server.read_log()


def openssl_handshake(endpoint_port, version_flag, certs):
    r = subprocess.run(["openssl", "s_client", "-connect", f"127.0.0.1:{endpoint_port}", version_flag, "-CAfile", certs.ca_cert,
                        "-cert", certs.client_cert, "-key", certs.client_key],
                       input=b"", capture_output=True, timeout=30)
    return r.returncode == 0 and b"BEGIN CERTIFICATE" in r.stdout


def test_tls_min_and_max_version_as_etcd(swetcd, etcd, certs):
    for extra, tls12, tls13 in ((["--tls-min-version", "TLS1.3"], False, True),
                                (["--tls-max-version", "TLS1.2"], True, False)):
        ours, ref = swetcd(tls=certs, extra=extra), etcd(binary=ETCD_3516, tls=certs, extra=extra)
        for server in (ours, ref):
            port = int(server.endpoint.rsplit(":", 1)[1])
            assert openssl_handshake(port, "-tls1_2", certs) == tls12, (server.binary, extra)
            assert openssl_handshake(port, "-tls1_3", certs) == tls13, (server.binary, extra)
            # etcdctl 3.5.1 (Go 1.16) offers TLS 1.2 only; 3.5.16's client speaks 1.3.
            assert server.ctl("put", "k", "v", version="3.5.16").stdout_text.strip() == "OK"
        ours.kill()
        ref.kill()


def test_client_cert_allowed_hostname_is_enforced_as_etcd(swetcd, etcd, certs, tmp_path):
    # A second client certificate that names "allowed.example" in its SANs.
    named = Certificates.__new__(Certificates)
    named.dir = str(tmp_path)
    cert, key = str(tmp_path / "named.pem"), str(tmp_path / "named-key.pem")
    named._leaf("named", cert, key, certs.ca_cert, certs.ca_key,
                "subjectAltName=DNS:allowed.example\nextendedKeyUsage=clientAuth\n")

    class Named:
        ca_cert, client_cert, client_key = certs.ca_cert, cert, key

    extra = ["--client-cert-allowed-hostname", "allowed.example"]
    for server in (swetcd(tls=certs, extra=extra, wait=False), etcd(binary=ETCD_3516, tls=certs, extra=extra, wait=False)):
        wait_for(lambda: server.ctl("put", "k", "v", tls=Named, check=False).returncode == 0, what=f"{server.binary} serving")
        refused = server.ctl("put", "k", "v", check=False)
        assert refused.returncode != 0, server.binary
