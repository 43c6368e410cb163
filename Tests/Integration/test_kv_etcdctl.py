"""The same etcdctl sessions against swetcd and a real etcd 3.5.1 must print the same thing
(after normalizing IDs and the raft term), with etcdctl 3.5.1 and 3.4.23, plaintext and TLS."""
import pytest

from normalize import normalize

TXN_OK = b'mod("foo") > "0"\n\nput foo txn-yes\nget foo\n\nput foo txn-no\n\n'
TXN_FAIL = b'value("foo") = "nope"\n\nput x 1\n\nget foo --prefix\nput x 2\n\n'
TXN_CREATE = b'create("newkey") = "0"\n\nput newkey created\n\n\n'
TXN_NESTED_VERSION = b'version("a") > "0"\ncreate("a") > "1"\n\nget a\ndel c\n\nput a x\n\n'
TXN_TOO_MANY = b"\n" + b"".join(b"put k%d v\n" % i for i in range(129)) + b"\n\n"
TXN_DUPLICATE = b"\nput dup 1\nput dup 2\n\n\n"
TXN_PUT_DELETED = b"\ndel a z\nput b 1\n\n\n"
BIG_VALUE = b"x" * (1024 * 1024 + 600 * 1024)  # over --max-request-bytes, under gRPC's limit

# (stdin, argv...) steps; every step is run on both servers and compared.
SESSION = [
    (None, "put", "foo", "bar"),
    (None, "put", "foo", "bar2", "--prev-kv"),
    (None, "get", "foo"),
    (None, "get", "foo", "-w", "json"),
    (None, "put", "a", "1"),
    (None, "put", "b", "2"),
    (None, "put", "c", "3"),
    (None, "put", "d", "4"),
    (None, "get", "a", "c"),
    (None, "get", "b", "--from-key"),
    (None, "get", "", "--prefix"),
    (None, "get", "", "--prefix", "--limit", "2", "-w", "json"),
    (None, "get", "", "--prefix", "--keys-only"),
    (None, "get", "", "--prefix", "--count-only", "-w", "json"),
    (None, "get", "", "--prefix", "--print-value-only"),
    (None, "get", "", "--prefix", "--sort-by", "MODIFY", "--order", "DESCEND"),
    (None, "get", "", "--prefix", "--sort-by", "VALUE", "--order", "ASCEND", "--limit", "3"),
    (None, "get", "", "--prefix", "--sort-by", "CREATE", "--order", "DESCEND", "-w", "json"),
    (None, "get", "", "--prefix", "--sort-by", "VERSION"),
    (None, "get", "foo", "--rev", "2"),
    (None, "get", "foo", "--rev", "3", "-w", "json"),
    (None, "get", "", "--prefix", "--rev", "4"),
    (None, "get", "missing"),
    (None, "get", "missing", "-w", "json"),
    (TXN_OK, "txn"),
    (TXN_OK, "txn", "-w", "json"),
    (TXN_FAIL, "txn"),
    (TXN_CREATE, "txn"),
    (TXN_CREATE, "txn", "-w", "json"),
    (TXN_NESTED_VERSION, "txn"),
    (None, "del", "b"),
    (None, "del", "b"),
    (None, "del", "a", "c", "--prev-kv"),
    (None, "del", "--from-key", "d", "--prev-kv", "-w", "json"),
    (None, "put", "a", "again"),
    (None, "get", "a", "-w", "json"),
    (None, "get", "", "--prefix", "--rev", "9"),
    (None, "compact", "5"),
    (None, "get", "foo", "--rev", "4"),
    (None, "get", "foo", "--rev", "5"),
    (None, "compact", "5"),
    (None, "compact", "1000"),
    (None, "get", "foo", "--rev", "1000"),
    (None, "put", "", "empty"),
    (None, "get", ""),
    (None, "del", ""),
    (BIG_VALUE, "put", "big"),
    (TXN_TOO_MANY, "txn"),
    (TXN_DUPLICATE, "txn"),
    (TXN_PUT_DELETED, "txn"),
    (None, "put", "k", "--ignore-value"),
    (None, "put", "foo", "--ignore-value"),
    (None, "get", "foo"),
    (None, "put", "foo", "v", "--lease", "1234abcd"),
    (None, "compact", "12", "--physical"),
    (None, "get", "", "--prefix", "-w", "json"),
    (None, "endpoint", "health"),
    (None, "member", "list", "-w", "table"),
]


def run_session(server, version, tls=None):
    out = []
    for step in SESSION:
        stdin, args = step[0], step[1:]
        if version == "3.4" and "--print-value-only" in args:
            continue
        r = server.ctl(*args, version=version, check=False, input=stdin)
        out.append(f"$ etcdctl {' '.join(args)}\nexit={r.returncode}\n{normalize(r.stdout_text)}\n{normalize(r.stderr_text)}")
    return out


def compare(ours, theirs):
    assert len(ours) == len(theirs)
    mismatches = [f"--- etcd 3.5.1\n{t}\n+++ swetcd\n{o}" for o, t in zip(ours, theirs) if o != t]
    assert not mismatches, "\n\n".join(mismatches[:40])


@pytest.mark.parametrize("version", ["3.5", "3.4"])
def test_etcdctl_kv_session_matches_real_etcd(swetcd, etcd, version):
    ours = run_session(swetcd(), version)
    theirs = run_session(etcd(), version)
    compare(ours, theirs)


@pytest.mark.parametrize("version", ["3.5", "3.4"])
def test_etcdctl_kv_session_over_mutual_tls_matches_real_etcd(swetcd, etcd, certs, version):
    ours = run_session(swetcd(tls=certs), version)
    theirs = run_session(etcd(tls=certs), version)
    compare(ours, theirs)


@pytest.mark.parametrize("version", ["3.5", "3.4"])
@pytest.mark.parametrize("tls", [False, True])
def test_endpoint_status_with_the_scheme_in_the_endpoint(swetcd, etcd, certs, version, tls):
    """etcdctl 3.4 dials Maintenance calls as passthrough:///http://host:port, so grpc-go sends
    `:authority: http://host:port`; etcd serves it (it once got RST_STREAM PROTOCOL_ERROR here).
    The columns that do not depend on the backend's layout must match a real etcd's."""
    def columns(server):
        r = server.ctl("endpoint", "status", version=version, check=False)
        assert r.returncode == 0, r.stderr_text
        assert server.endpoint.startswith("https://" if tls else "http://")
        cols = [c.strip() for c in r.stdout_text.strip().split(",")]
        # endpoint, ID, version, db size, is leader, is learner, raft term, raft index, applied, errors
        return [cols[0].split(":")[0], cols[4], cols[5], cols[-1]]

    ours = swetcd(tls=certs if tls else None)
    theirs = etcd(tls=certs if tls else None)
    assert columns(ours) == columns(theirs)
