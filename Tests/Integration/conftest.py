"""Integration test fixtures: start the built swetcd binary (and, for differential tests, a real
etcd 3.5.16, else 3.5.1) on free local ports, and drive them with the real etcdctl 3.5.1 and 3.4.23.

Paths come from the environment, with defaults matching `Tests/run.sh`:
  SWETCD_BIN            the swetcd binary (default .build/release/swetcd)
  ETCD_REFERENCE_DIR    etcd-reference output (default ~/.cache/etcd-reference)
"""
import os
import random
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time

import pytest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
REF = os.environ.get("ETCD_REFERENCE_DIR", os.path.expanduser("~/.cache/etcd-reference"))
SWETCD = os.environ.get("SWETCD_BIN", os.path.join(ROOT, ".build", "release", "swetcd"))
ETCD_351 = os.path.join(REF, "etcd-3.5.1", "etcd")
ETCD_3516 = os.path.join(REF, "etcd-3.5.16", "etcd")
ETCDCTL = {
    "3.5": os.path.join(REF, "etcd-3.5.1", "etcdctl"),
    "3.5.16": os.path.join(REF, "etcd-3.5.16", "etcdctl"),
    "3.4": os.path.join(REF, "etcd-3.4.23", "etcdctl"),
}


_handed_out = set()
_port_lock = threading.Lock()
_port_rng = random.Random()  # not seeded: ports must differ between concurrent runs


def _ephemeral_range():
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            lo, hi = (int(x) for x in f.read().split())
            return lo, hi
    except (OSError, ValueError):
        return 32768, 60999


def free_port():
    """A port free now that this process never handed out before (a port from bind(0) is free
    again at once, so two calls in a row could give one server the same client and peer port),
    chosen below the kernel's ephemeral range, which outgoing connections never take."""
    lo, _ = _ephemeral_range()
    with _port_lock:
        for _ in range(1000):
            port = _port_rng.randrange(10000, lo) if lo > 11000 else 0
            if port in _handed_out:
                continue
            with socket.socket() as s:
                try:
                    s.bind(("127.0.0.1", port))
                except OSError:
                    continue
                port = s.getsockname()[1]
            if port in _handed_out:
                continue
            _handed_out.add(port)
            return port
    raise RuntimeError("no free port found")


class Server:
    """One member process (swetcd or etcd) with its own data dir and ports."""

    def __init__(self, binary, workdir, name="default", tls=None, extra=()):
        self.binary = binary
        self.name = name
        self.data_dir = os.path.join(workdir, name + ".etcd")
        self.client_port = free_port()
        self.peer_port = free_port()
        self.tls = tls
        scheme = "https" if tls else "http"
        self.endpoint = f"{scheme}://127.0.0.1:{self.client_port}"
        self.extra = list(extra)
        self.proc = None
        self.log_path = os.path.join(workdir, name + ".log")

    def args(self):
        peer = f"http://127.0.0.1:{self.peer_port}"
        a = [
            self.binary, "--name", self.name, "--data-dir", self.data_dir,
            "--listen-client-urls", self.endpoint, "--advertise-client-urls", self.endpoint,
            "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
            "--initial-cluster", f"{self.name}={peer}", "--initial-cluster-token", "swetcd-test",
        ]
        if self.tls:
            a += ["--cert-file", self.tls.server_cert, "--key-file", self.tls.server_key,
                  "--trusted-ca-file", self.tls.ca_cert, "--client-cert-auth"]
        return a + self.extra

    def start(self, wait=True):
        env = {k: v for k, v in os.environ.items() if not k.startswith("ETCD")}
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(self.args(), stdout=self.log, stderr=subprocess.STDOUT, env=env)
        if wait:
            self.wait_ready()
        return self

    def wait_ready(self, timeout=30):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.binary} exited with {self.proc.returncode}:\n{self.read_log()}")
            try:
                # etcdctl 3.5.16: its client also speaks TLS 1.3 (a server may offer nothing else).
                r = self.ctl("get", "readiness-probe", check=False, timeout=5, version="3.5.16")
            except subprocess.TimeoutExpired:
                continue
            if r.returncode == 0:
                return
            time.sleep(0.1)
        raise RuntimeError(f"{self.binary} not ready after {timeout}s:\n{self.read_log()}")

    def read_log(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode(errors="replace")[-4000:]

    def ctl(self, *args, version="3.5", check=True, timeout=30, input=None, tls=None):
        return etcdctl(self, *args, version=version, check=check, timeout=timeout, input=input, tls=tls)

    def kill(self, sig=signal.SIGKILL):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(timeout=30)

    def stop(self):
        self.kill(signal.SIGTERM)


def etcdctl(server, *args, version="3.5", check=True, timeout=30, input=None, tls=None):
    tls = tls if tls is not None else server.tls
    cmd = [ETCDCTL[version], "--endpoints", server.endpoint, "--dial-timeout", "5s", "--command-timeout", "10s"]
    if tls:
        cmd += ["--cacert", tls.ca_cert, "--cert", tls.client_cert, "--key", tls.client_key]
    cmd += list(args)
    env = {k: v for k, v in os.environ.items() if not k.startswith("ETCDCTL")}
    if version == "3.4":
        env["ETCDCTL_API"] = "3"
    r = subprocess.run(cmd, capture_output=True, timeout=timeout, env=env, input=input)
    r.stdout_text = r.stdout.decode(errors="replace")
    r.stderr_text = r.stderr.decode(errors="replace")
    if check and r.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} failed ({r.returncode}):\n{r.stderr_text}")
    return r


class Certificates:
    """A CA, a server certificate for localhost/127.0.0.1 and a client certificate, made with
    the openssl command line."""

    def __init__(self, directory):
        self.dir = directory
        self.ca_cert = os.path.join(directory, "ca.pem")
        self.ca_key = os.path.join(directory, "ca-key.pem")
        self.server_cert = os.path.join(directory, "server.pem")
        self.server_key = os.path.join(directory, "server-key.pem")
        self.client_cert = os.path.join(directory, "client.pem")
        self.client_key = os.path.join(directory, "client-key.pem")
        self.other_ca_cert = os.path.join(directory, "other-ca.pem")
        self.other_client_cert = os.path.join(directory, "other-client.pem")
        self.other_client_key = os.path.join(directory, "other-client-key.pem")
        self._make()

    def _run(self, *args):
        subprocess.run(["openssl", *args], check=True, capture_output=True)

    def _make(self):
        d = self.dir
        self._ca(self.ca_cert, self.ca_key, "swetcd-test-ca")
        self._leaf("server", self.server_cert, self.server_key, self.ca_cert, self.ca_key,
                   "subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth,clientAuth\n")
        self._leaf("client", self.client_cert, self.client_key, self.ca_cert, self.ca_key,
                   "extendedKeyUsage=clientAuth\n")
        other_key = os.path.join(d, "other-ca-key.pem")
        self._ca(self.other_ca_cert, other_key, "other-ca")
        self._leaf("client", self.other_client_cert, self.other_client_key, self.other_ca_cert, other_key,
                   "extendedKeyUsage=clientAuth\n")

    def _ca(self, cert, key, cn):
        self._run("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                  "-keyout", key, "-out", cert, "-days", "2", "-subj", f"/CN={cn}")

    def _leaf(self, cn, cert, key, ca_cert, ca_key, ext):
        csr = cert + ".csr"
        extfile = cert + ".ext"
        with open(extfile, "w") as f:
            f.write(ext)
        self._run("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                  "-keyout", key, "-out", csr, "-subj", f"/CN={cn}")
        self._run("x509", "-req", "-in", csr, "-CA", ca_cert, "-CAkey", ca_key, "-CAcreateserial",
                  "-out", cert, "-days", "2", "-extfile", extfile)


@pytest.fixture(scope="session")
def certs(tmp_path_factory):
    return Certificates(str(tmp_path_factory.mktemp("certs")))


@pytest.fixture
def workdir():
    d = tempfile.mkdtemp(prefix="swetcd-it-")
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def swetcd(workdir):
    servers = []

    def start(tls=None, extra=(), name="default", wait=True):
        s = Server(SWETCD, workdir, name=name, tls=tls, extra=extra).start(wait=wait)
        servers.append(s)
        return s

    yield start
    for s in servers:
        s.kill()


@pytest.fixture
def etcd(workdir):
    servers = []

    def start(tls=None, extra=(), name="default", binary=ETCD_3516 if os.path.exists(ETCD_3516) else ETCD_351, wait=True):
        s = Server(binary, os.path.join(workdir, "ref"), name=name, tls=tls, extra=extra)
        os.makedirs(os.path.join(workdir, "ref"), exist_ok=True)
        s.start(wait=wait)
        servers.append(s)
        return s

    yield start
    for s in servers:
        s.kill()
