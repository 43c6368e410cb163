"""A 3-member swetcd cluster driven by the real etcdctl (3.5.1 and 3.4.23), plaintext and with
peer TLS: `member list`, `endpoint status/health/hashkv --cluster` print what they print against a
3-member etcd 3.5.16 (after normalizing IDs, ports, terms and timings); writes through every member;
a linearizable read through one member sees a write made through another; a lease kept alive
through a follower, and expiring once the leader that granted it is killed; a watch on a follower
sees writes made on the leader; `etcdctl move-leader`."""
import json
import os
import re
import subprocess
import threading
import time

import pytest

from conftest import ETCD_3516, ETCDCTL, SWETCD, free_port, Server

MEMBERS = 3


class Cluster:
    """N members of one binary on free local ports, bootstrapped together."""

    def __init__(self, binary, workdir, tls=None, token="swetcd-cluster-test", extra=()):
        self.servers = [Server(binary, workdir, name=f"m{i}", extra=extra) for i in range(MEMBERS)]
        scheme = "https" if tls else "http"
        self.tls = tls
        initial = ",".join(f"{s.name}={scheme}://127.0.0.1:{s.peer_port}" for s in self.servers)
        for s in self.servers:
            peer = f"{scheme}://127.0.0.1:{s.peer_port}"
            args = [
                binary, "--name", s.name, "--data-dir", s.data_dir,
                "--listen-client-urls", s.endpoint, "--advertise-client-urls", s.endpoint,
                "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
                "--initial-cluster", initial, "--initial-cluster-token", token,
                "--heartbeat-interval", "50", "--election-timeout", "500", *extra,
            ]
            if tls:
                args += ["--peer-cert-file", tls.server_cert, "--peer-key-file", tls.server_key,
                         "--peer-trusted-ca-file", tls.ca_cert, "--peer-client-cert-auth"]
            s.args = (lambda a: (lambda: a))(args)

    def start(self):
        for s in self.servers:
            s.start(wait=False)
        for s in self.servers:
            s.wait_ready()
        return self

    @property
    def endpoints(self):
        return ",".join(s.endpoint for s in self.servers)

    def ctl(self, *args, version="3.5", check=True, server=None, endpoints=None, input=None, timeout=30):
        server = server or self.servers[0]
        cmd = [ETCDCTL[version], "--endpoints", endpoints or server.endpoint, "--dial-timeout", "5s", "--command-timeout", "10s", *args]
        env = {k: v for k, v in os.environ.items() if not k.startswith("ETCDCTL")}
        if version == "3.4":
            env["ETCDCTL_API"] = "3"
        r = subprocess.run(cmd, capture_output=True, timeout=timeout, env=env, input=input)
        r.stdout_text, r.stderr_text = r.stdout.decode(errors="replace"), r.stderr.decode(errors="replace")
        if check and r.returncode != 0:
            raise AssertionError(f"{' '.join(cmd)} failed ({r.returncode}):\n{r.stderr_text}")
        return r

    def statuses(self):
        out = json.loads(self.ctl("endpoint", "status", "-w", "json", endpoints=self.endpoints).stdout_text)
        return {e["Endpoint"]: e["Status"] for e in out}

    def leader(self):
        """The member every member agrees leads (waits until they do)."""
        deadline = time.time() + 20
        while time.time() < deadline:
            try:
                st = self.statuses()
            except AssertionError:
                continue
            leaders = {s["leader"] for s in st.values()}
            if len(leaders) == 1 and 0 not in leaders:
                (lead,) = leaders
                for s in self.servers:
                    if st.get(s.endpoint, {}).get("header", {}).get("member_id") == lead:
                        return s
        raise AssertionError("no agreed leader")

    def kill(self):
        for s in self.servers:
            s.kill()


@pytest.fixture
def cluster(workdir):
    made = []

    def make(binary=SWETCD, tls=None, extra=()):
        c = Cluster(binary, os.path.join(workdir, f"c{len(made)}"), tls=tls, extra=extra)
        os.makedirs(os.path.join(workdir, f"c{len(made)}"), exist_ok=True)
        made.append(c)
        return c.start()

    yield make
    for c in made:
        c.kill()


def normalize_cluster(text):
    text = re.sub(r"\b[0-9a-f]{14,16}\b", "<id>", text)
    text = re.sub(r"127\.0\.0\.1:\d+", "127.0.0.1:<port>", text)
    text = re.sub(r"took = [0-9.]+[a-zµ]*s", "took = <t>", text)
    text = re.sub(r"\b\d+ kB\b", "<size>", text)
    lines = []
    for line in text.splitlines():
        if line.startswith(("+", "|")):
            line = re.sub(r"-+", "-", re.sub(r" +", " ", line))
            # Term and raft index differ between any two clusters; leader marks must not.
            cells = line.split("|")
            if len(cells) > 9 and cells[7].strip().isdigit():
                cells[7] = cells[8] = cells[9] = " <n> "
            line = "|".join(cells)
        lines.append(line)
    # Endpoints come back in the order given, but their members' IDs differ: sort rows.
    return "\n".join(sorted(lines) if any(l.startswith("|") for l in lines) else lines)


@pytest.mark.skipif(not os.path.exists(ETCD_3516), reason="etcd 3.5.16 not installed")
@pytest.mark.parametrize("version", ["3.5", "3.4"])
def test_cluster_commands_print_what_they_print_against_etcd(cluster, version):
    ours, theirs = cluster(), cluster(binary=ETCD_3516)
    for c in (ours, theirs):
        c.ctl("put", "k", "v", version=version)
    for args in (["member", "list", "-w", "table"], ["endpoint", "status", "--cluster", "-w", "table"],
                 ["endpoint", "hashkv", "--cluster", "-w", "table"], ["endpoint", "health", "--cluster"]):
        got = [normalize_cluster(c.ctl(*args, version=version).stdout_text) for c in (ours, theirs)]
        if args[1] == "health":
            # One line per member, in the order the members answered.
            got = [sorted(g.splitlines()) for g in got]
        assert got[0] == got[1], f"etcdctl {version} {' '.join(args)}:\nswetcd:\n{got[0]}\netcd:\n{got[1]}"
    # One leader, equal hashes, equal revisions.
    for c in (ours, theirs):
        st = c.statuses()
        assert len({s["leader"] for s in st.values()}) == 1
        assert len({s["header"]["revision"] for s in st.values()}) == 1
        hashes = json.loads(c.ctl("endpoint", "hashkv", "--cluster", "-w", "json").stdout_text)
        assert len({h["HashKV"]["hash"] for h in hashes}) == 1


def exercise(c):
    """Writes through every member, reads through every other one (linearizable)."""
    for i, writer in enumerate(c.servers):
        c.ctl("put", f"from-{writer.name}", f"value-{i}", server=writer)
        for reader in c.servers:
            got = c.ctl("get", f"from-{writer.name}", "--print-value-only", server=reader).stdout_text
            assert got == f"value-{i}\n", f"{reader.name} did not see {writer.name}'s write: {got!r}"
    hashes = json.loads(c.ctl("endpoint", "hashkv", "--cluster", "-w", "json").stdout_text)
    assert len({h["HashKV"]["hash"] for h in hashes}) == 1


def test_every_member_serves_reads_and_writes(cluster):
    exercise(cluster())


def test_every_member_serves_reads_and_writes_over_peer_tls(cluster, certs):
    c = cluster(tls=certs)
    exercise(c)
    members = c.ctl("member", "list", "-w", "json").stdout_text
    assert all(u.startswith("https://") for m in json.loads(members)["members"] for u in m["peerURLs"])


def test_a_follower_keeps_a_lease_alive_and_it_expires_after_the_leader_dies(cluster):
    c = cluster()
    leader = c.leader()
    follower = next(s for s in c.servers if s is not leader)
    lease = c.ctl("lease", "grant", "3", server=follower).stdout_text.split()[1]
    c.ctl("put", "leased", "x", "--lease", lease, server=follower)
    # Kept alive through the follower past its TTL.
    deadline = time.time() + 5
    while time.time() < deadline:
        out = c.ctl("lease", "keep-alive", "--once", lease, server=follower).stdout_text
        assert "keepalived with TTL(3)" in out, out
        time.sleep(0.5)
    assert c.ctl("get", "leased", "--print-value-only", server=follower).stdout_text == "x\n"
    ttl = c.ctl("lease", "timetolive", lease, server=follower).stdout_text
    assert "granted with TTL(3s)" in ttl, ttl
    # The leader dies: a new leader restarts the lease's TTL, then it expires.
    leader.kill()
    survivors = [s for s in c.servers if s is not leader]
    deadline = time.time() + 30
    while time.time() < deadline:
        r = c.ctl("get", "leased", "--print-value-only", server=survivors[0], check=False)
        if r.returncode == 0 and r.stdout_text == "":
            break
        time.sleep(0.2)
    else:
        raise AssertionError("the lease's key outlived its lease after the leader died")
    r = c.ctl("lease", "timetolive", lease, server=survivors[1])
    assert "already expired" in r.stdout_text, r.stdout_text


def test_a_watch_on_a_follower_sees_the_leaders_writes(cluster):
    c = cluster()
    leader = c.leader()
    follower = next(s for s in c.servers if s is not leader)
    cmd = [ETCDCTL["3.5"], "--endpoints", follower.endpoint, "watch", "w", "--prefix"]
    watcher = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        # The watch is registered once a write made through the follower itself comes back.
        lines = []
        reader = threading.Thread(target=lambda: lines.extend(iter(watcher.stdout.readline, b"")), daemon=True)
        reader.start()
        deadline = time.time() + 10
        while b"w/probe\n" not in lines and time.time() < deadline:
            c.ctl("put", "w/probe", "p", server=follower)
            time.sleep(0.1)
        assert b"w/probe\n" in lines
        for i in range(5):
            c.ctl("put", f"w/{i}", f"v{i}", server=leader)
        deadline = time.time() + 10
        while time.time() < deadline and f"w/4\n".encode() not in lines:
            time.sleep(0.05)
        got = [l for l in lines if l.startswith(b"w/") and l != b"w/probe\n"]
        assert got == [f"w/{i}\n".encode() for i in range(5)], got
    finally:
        watcher.kill()


def test_move_leader_hands_leadership_over(cluster):
    c = cluster()
    leader = c.leader()
    target = next(s for s in c.servers if s is not leader)
    target_id = c.statuses()[target.endpoint]["header"]["member_id"]
    out = c.ctl("move-leader", format(target_id, "x"), endpoints=c.endpoints).stdout_text
    assert f"Leadership transferred from" in out and format(target_id, "x") in out, out
    assert c.leader() is target
    # Through a follower alone, etcdctl itself refuses (it finds the leader by its status).
    r = c.ctl("move-leader", format(target_id, "x"), server=leader, check=False)
    assert r.returncode != 0 and "no leader endpoint given" in r.stderr_text, r.stderr_text
    # And the new leader can hand it back.
    back_id = c.statuses()[leader.endpoint]["header"]["member_id"]
    c.ctl("move-leader", format(back_id, "x"), endpoints=c.endpoints)
    assert c.leader() is leader


def wait_for_log(servers, text, timeout=30):
    """Waits until one of the members' logs contains `text`; returns that member's log."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        for s in servers:
            log = open(s.log_path, "rb").read().decode(errors="replace")
            if text in log:
                return log
        time.sleep(0.1)
    raise AssertionError(f"no member logged {text!r}:\n{servers[0].read_log()}")


@pytest.fixture(scope="module")
def wrong_san_client(certs):
    """A peer client certificate from the cluster's CA that names another host (10.255.255.1)."""
    cert = os.path.join(certs.dir, "wrong-san-client.pem")
    key = os.path.join(certs.dir, "wrong-san-client-key.pem")
    if not os.path.exists(cert):
        certs._leaf("peer-client", cert, key, certs.ca_cert, certs.ca_key,
                    "subjectAltName=IP:10.255.255.1\nextendedKeyUsage=clientAuth\n")
    return cert, key


@pytest.mark.skipif(not os.path.exists(ETCD_3516), reason="etcd 3.5.16 not installed")
@pytest.mark.parametrize("binary", ["etcd", "swetcd"])
def test_a_peer_client_certificate_naming_another_host_is_refused(workdir, certs, wrong_san_client, binary):
    """etcd's peer listener checks that a client certificate with SANs names the address it
    connects from (`checkSAN`): members dialing with such a certificate cannot form a cluster,
    and `--experimental-peer-skip-client-san-verification` lets them."""
    cert, key = wrong_san_client
    path = ETCD_3516 if binary == "etcd" else SWETCD
    extra = ("--peer-client-cert-file", cert, "--peer-client-key-file", key)
    c = Cluster(path, os.path.join(workdir, "refused"), tls=certs, extra=extra)
    os.makedirs(os.path.join(workdir, "refused"), exist_ok=True)
    try:
        for s in c.servers:
            s.start(wait=False)
        if binary == "swetcd":
            log = wait_for_log(c.servers, "rejected connection on peer endpoint")
            assert "x509: certificate is valid for 10.255.255.1, not 127.0.0.1" in log
        # No member hears another: nobody leads (an election needs a peer's vote).
        r = c.ctl("endpoint", "status", "-w", "json", "--command-timeout", "3s", check=False)
        statuses = json.loads(r.stdout_text or "[]")
        assert r.returncode != 0 or all(e["Status"]["leader"] == 0 for e in statuses), r.stdout_text
    finally:
        c.kill()

    c = Cluster(path, os.path.join(workdir, "skipped"), tls=certs,
                extra=extra + ("--experimental-peer-skip-client-san-verification",))
    os.makedirs(os.path.join(workdir, "skipped"), exist_ok=True)
    try:
        c.start()
        c.leader()
        c.ctl("put", "k", "v", server=c.servers[1])
        assert c.ctl("get", "k", "--print-value-only", server=c.servers[2]).stdout_text.strip() == "v"
    finally:
        c.kill()


@pytest.mark.skipif(not os.path.exists(ETCD_3516), reason="etcd 3.5.16 not installed")
@pytest.mark.parametrize("binary", ["etcd", "swetcd"])
def test_a_fresh_cluster_fast_forwards_its_election_ticks_unless_told_not_to(cluster, binary):
    """etcd's --initial-election-tick-advance (on by default): once its peers are connected a
    new member advances its election timer, and says so; with =false it says it skips that."""
    path = ETCD_3516 if binary == "etcd" else SWETCD
    c = cluster(binary=path)
    c.leader()
    wait_for_log(c.servers, "initialized peer connections; fast-forwarding election ticks")
    c = cluster(binary=path, extra=("--initial-election-tick-advance=false",))
    c.leader()
    wait_for_log(c.servers, "skipping initial election tick advance")
