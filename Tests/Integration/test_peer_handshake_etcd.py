"""swetcd's peer wire is etcd's: handshakes against a real etcd 3.5.1 member.

1. The same raw HTTP/1.1 requests a Go etcd 3.5 member sends (stream GETs with X-Server-From,
   X-Etcd-Cluster-Id, X-Server-Version, X-Min-Cluster-Version, X-Raft-To, X-Peerurls; pipeline and
   snapshot POSTs; /members, /version, /raft/probing) go to an etcd 3.5.1 member and to a swetcd
   member started with the same flags; status codes, bodies and headers must be the same, modulo
   IDs, ports and version numbers. Each answer of etcd is also checked against what the case
   expects, so a probe that etcd does not answer as intended fails instead of passing vacuously.
   The members are alone in a two-member `--initial-cluster` whose other member ("ghost", a bound
   port nobody listens on) the probes impersonate: a stream needs a sender that is in the cluster.
   A second pair, ready one-member clusters, answers /version, /members, ... once published.
2. Mixed clusters, etcd 3.5.1 + one or two swetcd members, bootstrapped together with one
   --initial-cluster and --initial-cluster-token: the four streams between etcd and each swetcd
   member come up (etcd logs them) and stay up past Go's 5 s read timeout, a leader is elected
   (with both votes, in the cluster of two), and with each member leading in turn (move-leader),
   writes, linearizable reads and lease keep-alives work through every member; `member list`,
   `endpoint status/health/hashkv --cluster` agree whichever member answers.
3. The same two members with different tokens: each refuses the other's streams and pipeline
   messages with etcd's 412 `cluster ID mismatch`, both logs say so, and no leader is elected.

Differences from etcd found by these probes are kept as strict xfails (raising `SwetcdDiffers`,
never for a probe etcd itself does not answer as expected), so fixing one turns its case into an
XPASS that fails until the mark goes.
"""
import hashlib
import http.client
import json
import os
import re
import shutil
import socket
import subprocess
import tempfile
import threading
import time

import pytest

from conftest import ETCD_351, ETCDCTL, SWETCD, Server

pytestmark = pytest.mark.skipif(not os.path.exists(ETCD_351), reason="etcd 3.5.1 not installed")

KINDS = {"etcd": ETCD_351, "swetcd": SWETCD}

# What a Go 3.5 member writes as a link heartbeat on the `message` stream (u64 length 30, then
# raftpb.Message{Type: MsgHeartbeat} with every non-nullable field written) — Docs/rafthttp-wire.md
# §3.4, observed from etcd 3.5.16 and checked here against 3.5.1 as well.
GO_LINK_HEARTBEAT = bytes.fromhex(
    "000000000000001e" "08081000180020002800300040004a0a12080a0228001000180050005800")


class SwetcdDiffers(AssertionError):
    """swetcd answered a probe differently from etcd 3.5.1 (etcd answered as expected)."""


# ---------------------------------------------------------------------------------------------
# IDs, as etcd derives them (membership/member.go computeMemberId, cluster.go genID)

def member_id(peer_urls, token):
    b = "".join(sorted(peer_urls)).encode() + token.encode()
    return int.from_bytes(hashlib.sha1(b).digest()[:8], "big")


def cluster_id(ids):
    b = b"".join(i.to_bytes(8, "big") for i in sorted(ids))
    return int.from_bytes(hashlib.sha1(b).digest()[:8], "big")


# ---------------------------------------------------------------------------------------------
# Members

class Member(Server):
    """A member of a multi-member --initial-cluster (the initial cluster is set before start)."""

    def __init__(self, binary, workdir, name, extra=()):
        super().__init__(binary, workdir, name=name, extra=extra)
        self.peer_url = f"http://127.0.0.1:{self.peer_port}"
        self.initial = self.token = None

    def args(self):
        return [
            self.binary, "--name", self.name, "--data-dir", self.data_dir,
            "--listen-client-urls", self.endpoint, "--advertise-client-urls", self.endpoint,
            "--listen-peer-urls", self.peer_url, "--initial-advertise-peer-urls", self.peer_url,
            "--initial-cluster", self.initial, "--initial-cluster-token", self.token, *self.extra,
        ]

    def log_entries(self):
        """The JSON log lines written so far (etcd and swetcd both log JSON lines on stderr)."""
        entries = []
        with open(self.log_path, "rb") as f:
            for line in f.read().decode(errors="replace").splitlines():
                if line.startswith("{"):
                    try:
                        entries.append(json.loads(line))
                    except ValueError:
                        pass  # a line cut by the process being killed
        return entries

    def logged(self, msg, **fields):
        return [e for e in self.log_entries()
                if e.get("msg") == msg and all(e.get(k) == v for k, v in fields.items())]


def wait_for(what, condition, timeout=30, interval=0.1, procs=()):
    """Polls `condition` until it returns something truthy; fails after `timeout` seconds."""
    deadline = time.time() + timeout
    while True:
        got = condition()
        if got:
            return got
        for p in procs:
            if p.proc.poll() is not None:
                raise AssertionError(f"{p.name} exited ({p.proc.returncode}) waiting for {what}:\n{p.read_log()}")
        if time.time() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


# ---------------------------------------------------------------------------------------------
# Raw HTTP/1.1 on a peer URL

class Answer:
    def __init__(self, status, headers=(), body=b""):
        self.status = status
        self.headers = {k.lower(): v for k, v in headers}
        self.body = body

    def __repr__(self):
        return f"<{self.status} {self.headers} {self.body!r}>"


def request(port, method, path, headers=None, body=None, timeout=10, stream=False):
    """One request on a fresh connection. A connection closed without an answer (Go's HTTP
    server recovering from a handler panic) is status "dropped". With `stream`, a 200 answer's
    body is left unread and the open response is returned too."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        r = conn.getresponse()
    except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
        conn.close()
        return Answer("dropped")
    if stream and r.status == 200:
        return Answer(r.status, r.getheaders()), conn, r
    answer = Answer(r.status, r.getheaders(), r.read())
    conn.close()
    return answer


class Target:
    """One member alone in its --initial-cluster (with a ghost member the probes impersonate),
    or, with `solo`, a ready one-member cluster."""

    TOKEN = "peer-handshake"

    def __init__(self, kind, workdir, solo=False):
        self.kind = kind
        self.member = Member(KINDS[kind], os.path.join(workdir, kind + ("-solo" if solo else "")), "m1")
        os.makedirs(os.path.dirname(self.member.log_path), exist_ok=True)
        self.ghost_socket = None
        urls = {"m1": self.member.peer_url}
        if not solo:
            # Bound, never listening: the port is ours, dials to it are refused at once.
            self.ghost_socket = socket.socket()
            self.ghost_socket.bind(("127.0.0.1", 0))
            urls["m2"] = f"http://127.0.0.1:{self.ghost_socket.getsockname()[1]}"
        self.ghost_url = urls.get("m2")
        self.member.initial = ",".join(f"{n}={u}" for n, u in urls.items())
        self.member.token = self.TOKEN
        self.self_id = member_id([urls["m1"]], self.TOKEN)
        self.ghost_id = member_id([urls["m2"]], self.TOKEN) if not solo else None
        self.cluster_id = cluster_id([member_id([u], self.TOKEN) for u in urls.values()])
        self.solo = solo
        self.version = None

    @property
    def port(self):
        return self.member.peer_port

    def start(self):
        self.member.start(wait=False)
        return self

    def wait(self):
        if self.solo:
            self.member.wait_ready(timeout=60)
        else:
            wait_for(f"{self.kind}'s peer port", lambda: self._answers("/version"), timeout=60, procs=[self.member])
        self.version = json.loads(request(self.port, "GET", "/version").body)["etcdserver"]
        return self

    def _answers(self, path):
        try:
            return request(self.port, "GET", path, timeout=2).status == 200
        except OSError:
            return False

    def stop(self):
        self.member.kill()
        if self.ghost_socket:
            self.ghost_socket.close()

    def etcd_headers(self, **overrides):
        """The headers a Go etcd 3.5 member (the ghost) sends with a stream GET or a POST, in Go's
        canonical spelling (Docs/rafthttp-wire.md A.3). An override of None drops the header; a
        callable gets the default value."""
        h = {
            "User-Agent": "Go-http-client/1.1",
            "X-Etcd-Cluster-Id": format(self.cluster_id, "x"),
            "X-Min-Cluster-Version": "3.0.0",
            "X-Peerurls": self.ghost_url or "http://127.0.0.1:1",
            "X-Raft-To": format(self.self_id, "x"),
            "X-Server-From": format(self.ghost_id or 1, "x"),
            "X-Server-Version": "3.5.1",
            "Accept-Encoding": "gzip",
        }
        for name, value in overrides.items():
            name = name.replace("_", "-")
            if callable(value):
                value = value(h[name])
            if value is None:
                h.pop(name, None)
            else:
                h[name] = value
        return h

    def path(self, template):
        return template.format(self=format(self.self_id, "x"), ghost=format(self.ghost_id or 0, "x"),
                               GHOST=format(self.ghost_id or 0, "X"))

    def normalize(self, text):
        """IDs, ports and the version number replaced by names (bodies and header values)."""
        if isinstance(text, bytes):
            text = text.decode(errors="replace")
        subs = [(format(self.cluster_id, "x"), "<cluster-id>"), (format(self.self_id, "x"), "<self-id>"),
                (str(self.self_id), "<self-id-dec>"), (str(self.member.peer_port), "<peer-port>"),
                (str(self.member.client_port), "<client-port>")]
        if self.ghost_id:
            subs += [(format(self.ghost_id, "x"), "<ghost-id>"), (str(self.ghost_id), "<ghost-id-dec>"),
                     (self.ghost_url.rsplit(":", 1)[1], "<ghost-port>")]
        for old, new in subs:
            text = text.replace(old, new)
        text = re.sub(r'"etcdserver":"' + re.escape(self.version) + '"', '"etcdserver":"<version>"', text)
        return text


@pytest.fixture(scope="module")
def targets():
    """kind -> ghost-cluster Target, and ("solo", kind) -> ready one-member Target."""
    workdir = tempfile.mkdtemp(prefix="swetcd-peer-")
    made = {}
    try:
        for kind in KINDS:
            made[kind] = Target(kind, workdir).start()
            made[("solo", kind)] = Target(kind, workdir, solo=True).start()
        for t in made.values():
            t.wait()
        yield made
    finally:
        for t in made.values():
            t.stop()
        shutil.rmtree(workdir, ignore_errors=True)


# ---------------------------------------------------------------------------------------------
# 1. Probes: the same request to both, the same answer

class Case:
    def __init__(self, name, method, path, status, body=None, headers=None, data=None, solo=False, differs=None):
        self.name, self.method, self.path, self.status = name, method, path, status
        self.body, self.overrides, self.data, self.solo, self.differs = body, headers or {}, data, solo, differs

    def param(self):
        marks = [pytest.mark.xfail(raises=SwetcdDiffers, strict=True, reason=self.differs)] if self.differs else []
        return pytest.param(self, id=self.name, marks=marks)


OTHER_CLUSTER = format(cluster_id([1, 2]), "x")
STREAM = "/raft/stream/message/{ghost}"
MSGAPP = "/raft/stream/msgapp/{ghost}"

CASES = [
    # (a) a member of the cluster, etcd's headers: the stream is accepted
    Case("message-stream-accepted", "GET", STREAM, 200),
    Case("msgapp-stream-accepted", "GET", MSGAPP, 200),
    Case("query-string-ignored", "GET", STREAM + "?x=1", 200),
    Case("from-in-upper-case-accepted", "GET", "/raft/stream/message/{GHOST}", 200),
    Case("no-from-or-peerurls-headers-accepted", "GET", STREAM, 200, headers={"X-Server-From": None, "X-Peerurls": None}),
    Case("no-min-cluster-version-accepted", "GET", STREAM, 200, headers={"X-Min-Cluster-Version": None}),
    Case("min-cluster-version-3.5.99-accepted", "GET", STREAM, 200, headers={"X-Min-Cluster-Version": "3.5.99"}),
    Case("server-version-4.0.0-accepted", "GET", STREAM, 200, headers={"X-Server-Version": "4.0.0"}),
    Case("server-version-prerelease-accepted", "GET", STREAM, 200, headers={"X-Server-Version": "3.5.0-rc.1"}),
    Case("from-with-a-leading-zero-accepted", "GET", "/raft/stream/message/0{ghost}", 200),
    Case("server-version-with-leading-zero-accepted", "GET", STREAM, 200, headers={"X-Server-Version": "03.5.0"}),
    # (b) another cluster's ID
    Case("wrong-cluster-id", "GET", STREAM, 412, b"cluster ID mismatch\n", headers={"X-Etcd-Cluster-Id": OTHER_CLUSTER}),
    Case("wrong-cluster-id-msgapp", "GET", MSGAPP, 412, b"cluster ID mismatch\n", headers={"X-Etcd-Cluster-Id": OTHER_CLUSTER}),
    Case("cluster-id-in-upper-case", "GET", STREAM, 412, b"cluster ID mismatch\n", headers={"X-Etcd-Cluster-Id": str.upper}),
    Case("cluster-id-with-a-leading-zero", "GET", STREAM, 412, b"cluster ID mismatch\n", headers={"X-Etcd-Cluster-Id": lambda v: "0" + v}),
    Case("no-cluster-id", "GET", STREAM, 412, b"cluster ID mismatch\n", headers={"X-Etcd-Cluster-Id": None}),
    # (c) incompatible versions
    Case("server-version-2.3.7", "GET", STREAM, 412, b"incompatible version\n", headers={"X-Server-Version": "2.3.7"}),
    Case("no-server-version", "GET", STREAM, 412, b"incompatible version\n", headers={"X-Server-Version": None}),
    Case("min-cluster-version-3.6.0", "GET", STREAM, 412, b"incompatible version\n", headers={"X-Min-Cluster-Version": "3.6.0"}),
    Case("min-cluster-version-3.6.0-msgapp", "GET", MSGAPP, 412, b"incompatible version\n", headers={"X-Min-Cluster-Version": "3.6.0"}),
    Case("version-checked-before-cluster-id", "GET", STREAM, 412, b"incompatible version\n",
         headers={"X-Server-Version": "2.3.7", "X-Etcd-Cluster-Id": OTHER_CLUSTER}),
    Case("server-version-not-semver-dropped", "GET", STREAM, "dropped", headers={"X-Server-Version": "3.5"}),
    Case("server-version-v-prefix-dropped", "GET", STREAM, "dropped", headers={"X-Server-Version": "v3.5.0"}),
    Case("min-cluster-version-not-semver-dropped", "GET", STREAM, "dropped", headers={"X-Min-Cluster-Version": "abc"}),
    Case("server-version-with-plus-sign-dropped", "GET", STREAM, "dropped", headers={"X-Server-Version": "+3.5.0"}),
    Case("server-version-bad-prerelease-dropped", "GET", STREAM, "dropped", headers={"X-Server-Version": "3.5.0-a_b"}),
    # (d) unknown, own or malformed member IDs; a wrong X-Raft-To
    Case("unknown-member", "GET", "/raft/stream/message/abcdef", 404, b"error sender not found\n"),
    Case("own-id-as-sender", "GET", "/raft/stream/message/{self}", 404, b"error sender not found\n"),
    Case("id-zero", "GET", "/raft/stream/message/0", 404, b"error sender not found\n"),
    Case("unknown-member-msgapp", "GET", "/raft/stream/msgapp/abcdef", 404, b"error sender not found\n"),
    Case("from-not-hex", "GET", "/raft/stream/message/xyz", 404, b"invalid from\n"),
    Case("from-0x", "GET", "/raft/stream/message/0x1", 404, b"invalid from\n"),
    Case("from-empty", "GET", "/raft/stream/message/", 404, b"invalid from\n"),
    Case("wrong-raft-to", "GET", STREAM, 412, b"to field mismatch\n", headers={"X-Raft-To": "abcdef"}),
    Case("raft-to-in-upper-case", "GET", STREAM, 412, b"to field mismatch\n", headers={"X-Raft-To": str.upper}),
    Case("no-raft-to", "GET", STREAM, 412, b"to field mismatch\n", headers={"X-Raft-To": None}),
    Case("unknown-member-before-raft-to", "GET", "/raft/stream/message/abcdef", 404, b"error sender not found\n",
         headers={"X-Raft-To": "abcdef"}),
    # paths and methods
    Case("msgappv2-is-not-a-stream-path", "GET", "/raft/stream/msgappv2/{ghost}", 404, b"invalid path\n"),
    Case("unknown-stream-type", "GET", "/raft/stream/foo/{ghost}", 404, b"invalid path\n"),
    Case("stream-without-id", "GET", "/raft/stream/message", 404, b"invalid path\n"),
    Case("stream-path-too-deep", "GET", STREAM + "/x", 404, b"invalid path\n"),
    Case("stream-path-not-clean", "GET", "/raft/stream//message/{ghost}", 301,
         differs="swetcd answers 404 `invalid path`; Go's ServeMux redirects an unclean path (//, /./, /../) "
                 "with 301 Moved Permanently to the cleaned one"),
    Case("stream-by-post", "POST", STREAM, 405, b"Method Not Allowed\n", data=b""),
    # pipeline and snapshot
    Case("pipeline-garbage", "POST", "/raft", 400, b"error unmarshalling raft message\n", data=b"\xff\xff"),
    Case("pipeline-wrong-cluster-id", "POST", "/raft", 412, b"cluster ID mismatch\n", data=b"",
         headers={"X-Etcd-Cluster-Id": OTHER_CLUSTER, "X-Raft-To": None}),
    Case("pipeline-old-version", "POST", "/raft", 412, b"incompatible version\n", data=b"",
         headers={"X-Server-Version": "2.3.7", "X-Raft-To": None}),
    Case("pipeline-by-get", "GET", "/raft", 405, b"Method Not Allowed\n"),
    Case("snapshot-wrong-cluster-id", "POST", "/raft/snapshot", 412, b"cluster ID mismatch\n", data=b"",
         headers={"X-Etcd-Cluster-Id": OTHER_CLUSTER, "X-Raft-To": None}),
    Case("snapshot-by-get", "GET", "/raft/snapshot", 405, b"Method Not Allowed\n"),
    Case("snapshot-empty-body", "POST", "/raft/snapshot", 400, b"failed to decode raft message (EOF)\n", data=b"",
         headers={"X-Raft-To": None}),
    # other peer endpoints
    Case("probing", "GET", "/raft/probing", 200),
    Case("probing-by-post", "POST", "/raft/probing", 200, data=b"x"),
    Case("members-by-post", "POST", "/members", 405, b"Method Not Allowed\n", data=b""),
    Case("members-subpath", "GET", "/members/", 404, b"404 page not found\n"),
    Case("version", "GET", "/version", 200, b'{"etcdserver":"<version>","etcdcluster":"not_decided"}'),
    Case("version-by-post", "POST", "/version", 405, b"Method Not Allowed\n", data=b""),
    Case("leases-by-get", "GET", "/leases", 405, b"Method Not Allowed\n"),
    Case("raft-subtree", "GET", "/raft/", 404, b"404 page not found\n"),
    Case("raft-unknown", "GET", "/raft/foo", 404, b"404 page not found\n"),
    Case("root", "GET", "/", 404, b"404 page not found\n"),
    # a ready one-member cluster
    Case("solo-version", "GET", "/version", 200, b'{"etcdserver":"<version>","etcdcluster":"3.5.0"}', solo=True),
    Case("solo-own-id-as-sender", "GET", "/raft/stream/message/{self}", 404, b"error sender not found\n", solo=True),
    Case("solo-downgrade-enabled", "GET", "/downgrade/enabled", 200, b"false", solo=True),
    Case("solo-members-hashkv", "GET", "/members/hashkv", 200, solo=True, data=b'{"revision":0}'),
]


def probe(target, case):
    headers = target.etcd_headers(**case.overrides)
    got = request(target.port, case.method, target.path(case.path), headers=headers, body=case.data,
                  stream=case.path.startswith("/raft/stream/"))
    if isinstance(got, tuple):  # an accepted stream: its body is test_accepted_streams_speak_etcds_codecs's
        got, conn, _ = got
        conn.close()
    return got


def normalized(target, answer):
    """(status, headers, body) with IDs, ports, versions and times replaced; no Date (swetcd
    never sends one: test_answers_carry_a_date_header)."""
    headers = {}
    for name, value in answer.headers.items():
        if name == "date":
            continue
        if name == "content-length":
            value = "<n>"
        elif name == "x-server-version":
            assert value == target.version, f"{target.kind}: X-Server-Version {value}, /version says {target.version}"
            value = "<version>"
        elif name == "transfer-encoding":
            value = value.lower()
        headers[name] = target.normalize(value)
    body = answer.body.decode(errors="replace")
    body = re.sub(r'"Now":"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d*[1-9])?(Z|[+-]\d\d:\d\d)"', '"Now":"<time>"', body)
    body = re.sub(r'"(hash|revision|compact_revision)":-?\d+', r'"\1":<n>', body)
    return answer.status, headers, target.normalize(body)


@pytest.mark.parametrize("case", [c.param() for c in CASES])
def test_peer_endpoints_answer_as_etcd(targets, case):
    answers = {kind: probe(targets[("solo", kind) if case.solo else kind], case) for kind in KINDS}
    etcd = answers["etcd"]
    target = targets[("solo", "etcd") if case.solo else "etcd"]
    assert etcd.status == case.status, f"etcd 3.5.1 answered {etcd!r}, the case expects {case.status}"
    if case.body is not None:
        assert target.normalize(etcd.body) == case.body.decode(), f"etcd 3.5.1 answered {etcd!r}"
    if etcd.status not in ("dropped", 200, 301):
        # Every error etcd writes goes through Go's http.Error.
        assert etcd.headers["content-type"] == "text/plain; charset=utf-8", etcd
    if case.path.startswith("/raft/stream/") and etcd.status not in ("dropped", 301, 405):
        # The stream handler says who it is before any check.
        assert etcd.headers["x-etcd-cluster-id"] == format(target.cluster_id, "x"), etcd
        assert "x-server-version" in etcd.headers, etcd
    theirs = normalized(target, etcd)
    ours = normalized(targets[("solo", "swetcd") if case.solo else "swetcd"], answers["swetcd"])
    if ours != theirs:
        raise SwetcdDiffers(f"{case.method} {case.path} {case.overrides}:\n"
                            f"  etcd 3.5.1: {theirs}\n  swetcd:     {ours}")


def test_answers_carry_a_date_header(targets):
    """Go's net/http puts a Date header on every answer (RFC 9110 §6.6.1: an origin server with a
    clock must)."""
    etcd, ours = (request(targets[kind].port, "GET", "/version") for kind in KINDS)
    assert "date" in etcd.headers, etcd
    if "date" not in ours.headers:
        raise SwetcdDiffers(f"GET /version: etcd {etcd.headers}, swetcd {ours.headers}")


@pytest.mark.parametrize("solo", [False, True], ids=["ghost-cluster", "one-member"])
def test_members_lists_the_same_members_as_etcd(targets, solo):
    """/members: etcd's JSON (members by numeric ID, keys in Go's order, decimal IDs) with the IDs
    etcd derives, under the X-Etcd-Cluster-Id etcd derives."""
    shapes = {}
    for kind in KINDS:
        t = targets[("solo", kind) if solo else kind]
        a = request(t.port, "GET", "/members")
        assert a.status == 200 and a.headers["content-type"] == "application/json", (kind, a)
        assert a.headers["x-etcd-cluster-id"] == format(t.cluster_id, "x"), (kind, a)
        assert a.body.endswith(b"]\n"), (kind, a.body)
        members = json.loads(a.body, object_pairs_hook=list)
        ids = [dict(m)["id"] for m in members]
        assert ids == sorted(ids), f"{kind}: /members not in ID order: {a.body!r}"
        expected = {t.self_id} | ({t.ghost_id} if t.ghost_id else set())
        assert set(ids) == expected, f"{kind}: IDs {ids}, etcd derives {expected}"
        shapes[kind] = sorted(t.normalize(json.dumps(m, separators=(",", ":"))) for m in members)
    assert shapes["swetcd"] == shapes["etcd"]


def read_frames(conn, response, kind, deadline, heartbeats_wanted=2):
    """Reads one accepted stream until `heartbeats_wanted` link heartbeats came, returning
    [(seconds, frame bytes)]; a message stream's frames are u64 length + raftpb.Message, a msgapp
    stream's link heartbeat is the byte 0."""
    frames = []
    start = time.time()
    while sum(1 for _, f in frames if f in (GO_LINK_HEARTBEAT, b"\x00")) < heartbeats_wanted:
        conn.sock.settimeout(max(0.1, deadline - time.time()))
        if kind == "message":
            head = response.read(8)
            if len(head) < 8:
                break
            frame = head + response.read(int.from_bytes(head, "big"))
        else:
            frame = response.read(1)
            if frame != b"\x00":
                # 0x01/0x02 records need a leader; this member has none.
                frames.append((time.time() - start, frame + response.read(64)))
                break
        frames.append((time.time() - start, frame))
    return frames


def raft_fields(message):
    """The varint fields of a protobuf message (type=1, to=2, from=3, term=4, ...)."""
    fields, i = {}, 0
    while i < len(message):
        key, i = varint(message, i)
        number, wire = key >> 3, key & 7
        if wire == 0:
            fields[number], i = varint(message, i)
        elif wire == 2:
            length, i = varint(message, i)
            i += length
        else:
            raise AssertionError(f"wire type {wire} in a raft message: {message.hex()}")
    return fields


def varint(b, i):
    value = shift = 0
    while True:
        byte = b[i]
        i += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if byte < 0x80:
            return value, i


@pytest.mark.parametrize("kind", ["message", "msgapp"])
def test_accepted_streams_speak_etcds_codecs(targets, kind):
    """The ghost's stream GET is answered 200 with a chunked body in etcd's codec: link heartbeats
    byte for byte as Go writes them, often enough for Go's 5 s read timeout, and any raft message
    (the member campaigning) addressed from the member to the ghost."""
    results = {}

    def read(kind_of_server):
        t = targets[kind_of_server]
        got = request(t.port, "GET", t.path(f"/raft/stream/{kind}/{{ghost}}"), headers=t.etcd_headers(), stream=True)
        if not isinstance(got, tuple):
            results[kind_of_server] = got
            return
        answer, conn, response = got
        try:
            results[kind_of_server] = (answer, read_frames(conn, response, kind, time.time() + 15))
        except Exception as e:  # reported below, per server
            results[kind_of_server] = (answer, e)
        finally:
            conn.close()

    threads = [threading.Thread(target=read, args=(k,)) for k in KINDS]
    for th in threads:
        th.start()
    for th in threads:
        th.join(timeout=30)
    shapes = {}
    for server in KINDS:
        t = targets[server]
        got = results.get(server)
        assert isinstance(got, tuple), f"{server}: {got!r}"
        answer, frames = got
        assert not isinstance(frames, Exception), f"{server}: reading the stream failed: {frames!r}"
        assert answer.headers.get("x-etcd-cluster-id") == format(t.cluster_id, "x"), (server, answer)
        assert answer.headers.get("x-server-version") == t.version, (server, answer)
        assert answer.headers.get("transfer-encoding", "").lower() == "chunked", (server, answer)
        assert "content-type" not in answer.headers, (server, answer)
        heartbeat = GO_LINK_HEARTBEAT if kind == "message" else b"\x00"
        beats = [at for at, f in frames if f == heartbeat]
        others = [f for _, f in frames if f != heartbeat]
        assert len(beats) >= 2, f"{server}: no two link heartbeats {heartbeat.hex()} in 15 s: {[f.hex() for _, f in frames]}"
        gaps = [b - a for a, b in zip(beats, beats[1:])]
        assert all(g < 5 for g in gaps), f"{server}: heartbeats {gaps} s apart; a Go reader gives up after 5 s"
        for f in others:
            assert kind == "message", f"{server}: a msgapp record without a leader: {f.hex()}"
            assert int.from_bytes(f[:8], "big") == len(f) - 8, f"{server}: frame {f.hex()}"
            m = raft_fields(f[8:])
            assert (m.get(2), m.get(3)) == (t.ghost_id, t.self_id), f"{server}: message not from the member to the ghost: {m}"
        shapes[server] = (answer.status, sorted(k for k in answer.headers if k != "date"))
    assert shapes["swetcd"] == shapes["etcd"]


# ---------------------------------------------------------------------------------------------
# 2-3. Mixed clusters

ETCD_STREAMS = ["stream Message", "stream MsgApp v2"]
SWETCD_STREAM_TROUBLE = ("peer refused a stream", "request sent was ignored by remote peer due to cluster ID mismatch",
                         "request sent was ignored by remote peer due to server version incompatibility",
                         "peer became inactive (message send to peer failed)",
                         "lost a stream from a peer: malformed data", "request from a peer of another cluster")


class Mixed:
    """etcd 3.5.1 member e0 and swetcd members s1 (, s2) bootstrapped with one --initial-cluster;
    swetcd logs at debug level (its refused streams are logged there)."""

    def __init__(self, workdir, swetcds=1, etcd_token="mixed-token", swetcd_token="mixed-token"):
        self.etcd = Member(ETCD_351, workdir, "e0")
        self.swetcds = [Member(SWETCD, workdir, f"s{i}", extra=["--log-level", "debug"]) for i in range(1, swetcds + 1)]
        self.swetcd = self.swetcds[0]
        self.members = [self.etcd, *self.swetcds]
        initial = ",".join(f"{m.name}={m.peer_url}" for m in self.members)
        for m in self.members:
            token = etcd_token if m is self.etcd else swetcd_token
            m.initial, m.token = initial, token
            # Each side's view: member and cluster IDs from its own token.
            m.ids = {o.name: member_id([o.peer_url], token) for o in self.members}
            m.id = m.ids[m.name]
            m.cluster_id = cluster_id(m.ids.values())

    def start(self):
        for m in self.members:
            m.start(wait=False)
        return self

    def kill(self):
        for m in self.members:
            m.kill()

    def logs(self):
        return "\n".join(f"--- {m.name} ({os.path.basename(m.binary)}) log:\n{m.read_log()}" for m in self.members)

    def ctl(self, *args, via=None, check=True):
        endpoints = ",".join(m.endpoint for m in (via or self.members))
        cmd = [ETCDCTL["3.5"], "--endpoints", endpoints, "--dial-timeout", "5s", "--command-timeout", "15s", *args]
        env = {k: v for k, v in os.environ.items() if not k.startswith("ETCDCTL")}
        r = subprocess.run(cmd, capture_output=True, timeout=60, env=env)
        r.stdout_text, r.stderr_text = r.stdout.decode(errors="replace"), r.stderr.decode(errors="replace")
        if check and r.returncode != 0:
            raise AssertionError(f"{' '.join(cmd)} failed ({r.returncode}):\n{r.stderr_text}\n{self.logs()}")
        return r

    def statuses(self):
        r = self.ctl("endpoint", "status", "-w", "json", check=False)
        if r.returncode != 0:
            return None
        return {e["Endpoint"]: e["Status"] for e in json.loads(r.stdout_text)}

    def agreed_leader(self):
        """The leader every member reports, once they agree on one and on the raft index."""
        st = self.statuses()
        if not st or len(st) != len(self.members):
            return None
        leaders = {s["leader"] for s in st.values()}
        indexes = {s.get("raftIndex") for s in st.values()}
        if len(leaders) == 1 and 0 not in leaders and len(indexes) == 1:
            (lead,) = leaders
            return next(m for m in self.members if m.id == lead)
        return None


@pytest.fixture
def mixed(workdir):
    made = []

    def make(**kwargs):
        c = Mixed(os.path.join(workdir, f"mixed{len(made)}"), **kwargs)
        os.makedirs(os.path.join(workdir, f"mixed{len(made)}"), exist_ok=True)
        made.append(c)
        return c.start()

    yield make
    for c in made:
        c.kill()


def etcd_streams(c, role, peer):
    """The streams etcd logged as established with swetcd member `peer`, by type, for `role`
    "reader" (etcd dialed swetcd) or "writer" (swetcd dialed etcd)."""
    entries = c.etcd.logged("established TCP streaming connection with remote peer",
                            **{"remote-peer-id": format(peer.id, "x")})
    return sorted(e[f"stream-{role}-type"] for e in entries if f"stream-{role}-type" in e)


def all_streams_up(c):
    return all(etcd_streams(c, role, s) == ETCD_STREAMS for s in c.swetcds for role in ("reader", "writer"))


def leader_lines(c, leader):
    """Whether the last leader each member logged is `leader` (etcd: "raft.node: <local> elected
    leader <id> at term <n>", or "... changed leader from <old> to <id> ..." when it saw no vote
    between the two; swetcd: "raft.node: elected leader" with leader-member-id)."""
    etcd_says = [x["msg"] for x in c.etcd.log_entries() if re.match(r"raft\.node: \S+ (elected|changed|lost) leader", x.get("msg", ""))]
    if not etcd_says or not re.fullmatch(
            rf"raft\.node: {c.etcd.id:x} (elected leader|changed leader from [0-9a-f]+ to) {leader.id:x} at term \d+", etcd_says[-1]):
        return False
    return all((s.logged("raft.node: elected leader") or [{}])[-1].get("leader-member-id") == format(leader.id, "x")
               for s in c.swetcds)


@pytest.mark.parametrize("swetcds", [1, 2], ids=["etcd+swetcd", "etcd+2swetcd"])
def test_mixed_cluster_elects_a_leader_and_serves_through_every_member(mixed, swetcds):
    c = mixed(swetcds=swetcds)
    e = c.etcd
    # Both sides derive the same IDs (swetcd logs them at start, etcd when it adds the members).
    assert all(s.ids == e.ids and s.cluster_id == e.cluster_id for s in c.swetcds)
    for s in c.swetcds:
        start = wait_for(f"{s.name}'s start", lambda: s.logged("starting local member"), procs=c.members)[0]
        assert (start["cluster-id"], start["local-member-id"]) == (format(s.cluster_id, "x"), format(s.id, "x")), start
    added = wait_for("etcd's members", lambda: (lambda a: len(a) == len(c.members) and a)(e.logged("added member")),
                     procs=c.members)
    assert {(a["cluster-id"], a["added-peer-id"]) for a in added} == \
        {(format(e.cluster_id, "x"), format(i, "x")) for i in e.ids.values()}, added

    # The four streams with each swetcd member: etcd dialed swetcd (swetcd's handler accepted
    # etcd's GETs: "stream-reader-type") and swetcd dialed etcd (etcd's handler accepted swetcd's
    # GETs: "stream-writer-type").
    wait_for("the streams in both directions", lambda: all_streams_up(c), timeout=60, procs=c.members)
    # swetcd says so in etcd's words too, for its readers and its writers.
    for s in c.swetcds:
        for role in ("stream-reader-type", "stream-writer-type"):
            for stream in ETCD_STREAMS:
                wait_for(f"{s.name}'s {role} {stream} with etcd", lambda: s.logged(
                    "established TCP streaming connection with remote peer",
                    **{role: stream, "remote-peer-id": format(e.id, "x"), "local-member-id": format(s.id, "x")}),
                    procs=c.members)
    established_at = time.time()
    # What swetcd logged about its own dials so far: while its peers start, a dial may find no
    # listener yet; no member refuses another (every member, etcd and swetcd, registers its
    # initial peers before it serves the peer port). Nothing at all from now on.
    startup = {m.name: {msg: m.logged(msg) for msg in SWETCD_STREAM_TROUBLE} for m in c.swetcds}
    for name, logged in startup.items():
        assert not logged["peer refused a stream"], (name, logged)
        assert not logged["lost a stream from a peer: malformed data"], (name, logged)
        assert not logged["request from a peer of another cluster"], (name, logged)
    for s in c.swetcds:
        assert e.logged("peer became active", **{"peer-id": format(s.id, "x")}), e.read_log()

    # An elected leader (in a cluster of two it needs both votes), named in every log.
    leader = wait_for("an agreed leader", c.agreed_leader, timeout=60, interval=0.2, procs=c.members)
    for m in c.members:
        m.wait_ready(timeout=60)
    wait_for(f"every log naming {leader.name} leader", lambda: leader_lines(c, leader), procs=c.members)

    # Under each member as leader in turn: writes through every member, linearizable reads
    # through every other one, a lease kept alive through each follower (forwarded to the
    # leader's peer URL: POST /leases and /leases/internal across implementations).
    order = [leader] + [m for m in c.members if m is not leader]
    for turn, want in enumerate(order):
        if want is not leader:
            out = c.ctl("move-leader", format(want.id, "x")).stdout_text  # needs the leader among the endpoints
            assert "Leadership transferred" in out, out
            leader = wait_for(f"{want.name} leading", lambda: (lambda l: l is want and l)(c.agreed_leader()),
                              timeout=30, interval=0.2, procs=c.members)
            wait_for(f"every log naming {leader.name} leader", lambda: leader_lines(c, leader), procs=c.members)
        for writer in c.members:
            c.ctl("put", f"k-{turn}-{writer.name}", f"by-{writer.name}", via=[writer])
            for reader in c.members:
                if reader is not writer:
                    got = c.ctl("get", f"k-{turn}-{writer.name}", "--print-value-only", via=[reader]).stdout_text
                    assert got == f"by-{writer.name}\n", f"{reader.name} read {got!r} after {writer.name}'s put (leader {leader.name})"
        for follower in c.members:
            if follower is leader:
                continue
            lease = c.ctl("lease", "grant", "60", via=[follower]).stdout_text.split()[1]
            out = c.ctl("lease", "keep-alive", "--once", lease, via=[follower]).stdout_text
            assert f"lease {lease} keepalived with TTL(60)" in out, out
            ttl = c.ctl("lease", "timetolive", lease, via=[follower]).stdout_text
            assert f"lease {lease} granted with TTL(60s)" in ttl, ttl

    # Cluster-wide views agree, whichever member answers.
    lists = {m.name: c.ctl("member", "list", "-w", "table", via=[m]).stdout_text for m in c.members}
    assert len(set(lists.values())) == 1, lists
    table = lists[e.name]
    for m in c.members:
        row = [format(m.id, "x"), "started", m.name, m.peer_url, m.endpoint, "false"]
        assert any(re.split(r" *\| *", line.strip(" |")) == row for line in table.splitlines()), (row, table)
    endpoints = sorted(m.endpoint for m in c.members)
    for via in c.members:
        st = json.loads(c.ctl("endpoint", "status", "--cluster", "-w", "json", via=[via]).stdout_text)
        assert sorted(x["Endpoint"] for x in st) == endpoints, st
        assert {x["Status"]["leader"] for x in st} == {leader.id}, st
        health = c.ctl("endpoint", "health", "--cluster", via=[via]).stdout_text
        assert sorted(l.split(" is ")[0] for l in health.splitlines()) == endpoints, health
        assert all(" is healthy: " in l for l in health.splitlines()), health
        hashes = json.loads(c.ctl("endpoint", "hashkv", "--cluster", "-w", "json", via=[via]).stdout_text)
        assert len(hashes) == len(c.members) and len({h["HashKV"]["hash"] for h in hashes}) == 1, hashes

    # The streams outlive Go's 5 s read timeout (each side's link heartbeats reach the other):
    # etcd established each exactly once and never lost one; swetcd neither refused nor lost one.
    time.sleep(max(0.0, established_at + 6 - time.time()))
    assert all_streams_up(c), e.read_log()
    lost = e.logged("lost TCP streaming connection with remote peer")
    assert not lost, lost
    for s in c.swetcds:
        for msg in SWETCD_STREAM_TROUBLE:
            assert s.logged(msg) == startup[s.name][msg], s.read_log()
    for m in c.members:
        assert m.proc.poll() is None, m.read_log()


def test_different_tokens_refuse_each_other_with_cluster_id_mismatch(mixed):
    c = mixed(etcd_token="token-of-etcd", swetcd_token="token-of-swetcd")
    e, s = c.etcd, c.swetcd
    assert e.cluster_id != s.cluster_id
    ecid, scid = format(e.cluster_id, "x"), format(s.cluster_id, "x")
    # etcd, serving: swetcd's stream GETs carry swetcd's cluster ID.
    refused_by_etcd = wait_for("etcd refusing swetcd's requests", lambda: e.logged(
        "request cluster ID mismatch", **{"local-member-cluster-id": ecid, "remote-peer-cluster-id": scid,
                                          "remote-peer-server-name": format(s.id, "x")}), timeout=60, procs=c.members)
    assert refused_by_etcd[0]["level"] == "warn"
    # etcd, dialing: swetcd answered its stream GETs 412 with swetcd's X-Etcd-Cluster-Id and body
    # `cluster ID mismatch` (etcd logs the header and the parsed body) ...
    ignored = wait_for("etcd's streams refused by swetcd", lambda: e.logged(
        "request sent was ignored by remote peer due to cluster ID mismatch",
        **{"remote-peer-cluster-id": scid, "local-member-cluster-id": ecid, "error": "cluster ID mismatch"}),
        timeout=60, procs=c.members)
    assert {x["remote-peer-id"] for x in ignored} == {format(e.ids["s1"], "x")}, ignored
    # ... and its pipeline POSTs (the pre-votes) too.
    wait_for("etcd's pipeline refused by swetcd", lambda: e.logged(
        "request sent was ignored due to cluster ID mismatch", **{"remote-peer-id": format(e.ids["s1"], "x")}),
        timeout=60, procs=c.members)
    # swetcd, serving and dialing.
    wait_for("swetcd refusing etcd's requests", lambda: s.logged(
        "request from a peer of another cluster", **{"local-member-cluster-id": scid, "remote-peer-cluster-id": ecid}),
        timeout=60, procs=c.members)
    for stream in ETCD_STREAMS:
        refused = wait_for(f"swetcd's {stream} refused by etcd", lambda: s.logged(
            "request sent was ignored by remote peer due to cluster ID mismatch",
            **{"remote-peer-id": format(s.ids["e0"], "x"), "stream-reader-type": stream, "local-member-cluster-id": scid}),
            timeout=60, procs=c.members)
        assert refused[0]["level"] == "warn", refused
    # Neither side gets a vote from the other: etcd keeps campaigning at term 1 (pre-vote), and
    # after three of its elections nobody has been elected.
    wait_for("three elections of etcd", lambda: len(e.logged(f"{format(e.id, 'x')} is starting a new election at term 1")) >= 3,
             timeout=60, procs=c.members)
    for m in c.members:
        elected = [x for x in m.log_entries() if "elected leader" in x.get("msg", "") or "became leader" in x.get("msg", "")]
        assert not elected, elected
        v = request(m.peer_port, "GET", "/version")
        assert json.loads(v.body)["etcdcluster"] == "not_decided", (m.name, v)
        assert m.proc.poll() is None, m.read_log()
