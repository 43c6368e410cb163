"""One server under test (swetcd or the reference etcd): its process (Tests/Integration's
`Server`: own data dir, free ports, the same flags for both binaries), a gRPC channel and stubs,
and the persistent bidirectional streams (watch streams, one keep-alive stream)."""
import os
import queue
import re
import shutil
import signal
import socket
import subprocess
import threading
import time

import grpc

from protos import M, SERVICES
from conftest import Server

CHANNEL_OPTIONS = [
    ("grpc.max_receive_message_length", -1),
    ("grpc.max_send_message_length", -1),
    # Reconnect quickly after a restart (the default backoff grows to minutes).
    ("grpc.initial_reconnect_backoff_ms", 50),
    ("grpc.max_reconnect_backoff_ms", 300),
]
CRASH_MARKERS = ("Fatal error", "Segmentation fault", "Illegal instruction", "SIGSEGV", "SIGILL",
                 "SIGABRT", "SIGTRAP", "Stack dump", "precondition failed", "Assertion failed",
                 "panic:", "Crash")


class BidiStream:
    """A bidirectional stream: requests are queued, a thread collects every response."""

    def __init__(self, rpc):
        self._q = queue.Queue()
        self.cond = threading.Condition()
        self.responses = []
        self.closed = None            # (code name, details) once the server ended the stream
        self.last_rx = time.monotonic()
        self.created = 0              # watch responses with `created` set, ever
        self.call = rpc(self._requests(), metadata=(("hasleader", "true"),))
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _requests(self):
        while True:
            r = self._q.get()
            if r is None:
                return
            yield r

    def _read(self):
        try:
            for resp in self.call:
                with self.cond:
                    self.responses.append(resp)
                    if getattr(resp, "created", False):
                        self.created += 1
                    self.last_rx = time.monotonic()
                    self.cond.notify_all()
            closed = ("OK", "")
        except grpc.RpcError as e:
            closed = (e.code().name if e.code() else "UNKNOWN", e.details() or "")
        except Exception as e:  # noqa: BLE001 - a decoding failure is an answer too
            closed = ("CLIENT_ERROR", repr(e))
        with self.cond:
            self.closed = closed
            self.last_rx = time.monotonic()
            self.cond.notify_all()

    def send(self, req):
        with self.cond:
            self.last_rx = time.monotonic()
        self._q.put(req)

    def take(self):
        """Everything received since the last take, and the close status if the stream ended."""
        with self.cond:
            out, self.responses = self.responses, []
            return out, self.closed

    def wait_count(self, n, timeout):
        deadline = time.monotonic() + timeout
        with self.cond:
            while len(self.responses) < n and self.closed is None:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self.cond.wait(left)

    def wait_created(self, n, timeout):
        """Until `n` created responses in all (every watch create is answered by one, an
        invalid or duplicate one too), the stream ended, or `timeout` passed."""
        deadline = time.monotonic() + timeout
        with self.cond:
            while self.created < n and self.closed is None:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self.cond.wait(left)

    def close(self):
        self._q.put(None)
        self.call.cancel()


class FuzzServer:
    """A member process plus its client side."""

    def __init__(self, label, binary, workdir):
        self.label = label            # "etcd" or "swetcd"
        self.binary = binary
        self.workdir = workdir
        self.server = None
        self.channel = None
        self.stubs = {}
        self.member_id = 0
        self.watch_streams = {}       # stream number -> BidiStream
        self.keepalive = None         # BidiStream
        self.auto_leases = {}         # auto-lease number -> ID this server chose
        self.starts = 0

    # ---------------------------------------------------------------------------------------
    # Process

    def start(self, fresh=True, timeout=30):
        """Start the member; `fresh` wipes its data dir first (and takes new ports)."""
        self.close_client()
        if fresh or self.server is None:
            if self.server is not None:
                shutil.rmtree(self.server.data_dir, ignore_errors=True)
            os.makedirs(self.workdir, exist_ok=True)
            # FUZZ_SERVER_FLAGS: extra flags for both servers (a long run may pass
            # --unsafe-no-fsync to both: the fuzzer compares answers, not durability).
            extra = os.environ.get("FUZZ_SERVER_FLAGS", "").split()
            self.server = Server(self.binary, self.workdir, name="fz", extra=extra)
            shutil.rmtree(self.server.data_dir, ignore_errors=True)
        self.starts += 1
        self._wait_binary()
        self.server.start(wait=False)
        self.auto_leases = {}
        return self

    def _wait_binary(self, timeout=600):
        """The binary may be rebuilt under us: wait until it is there again."""
        deadline = time.time() + timeout
        while not os.access(self.binary, os.X_OK):
            if time.time() > deadline:
                raise RuntimeError(f"{self.binary} missing for {timeout}s")
            time.sleep(1)

    def wait_ready(self, timeout=30):
        """Wait until a Range answers; learn the member ID from its header."""
        deadline = time.time() + timeout
        port = self.server.client_port
        while True:
            if not self.alive():
                raise ServerDied(self.exit_description(), self.log_tail())
            if time.time() > deadline:
                raise RuntimeError(f"{self.label} not ready after {timeout}s:\n{self.log_tail()}")
            try:
                socket.create_connection(("127.0.0.1", port), 0.5).close()
                break
            except OSError:
                time.sleep(0.02)
        self.channel = grpc.insecure_channel(f"127.0.0.1:{port}", options=CHANNEL_OPTIONS)
        self.stubs = {name: cls(self.channel) for name, (cls, _, _) in SERVICES.items()}
        kv = self.stubs["KV"]
        while True:
            if not self.alive():
                raise ServerDied(self.exit_description(), self.log_tail())
            try:
                resp = kv.Range(M.rpc_pb2.RangeRequest(key=b"\x00fuzz-ready"), timeout=2)
                self.member_id = resp.header.member_id
                return
            except grpc.RpcError:
                if time.time() > deadline:
                    raise RuntimeError(f"{self.label} not answering after {timeout}s:\n{self.log_tail()}")
                time.sleep(0.05)

    def alive(self):
        return self.server is not None and self.server.proc is not None and self.server.proc.poll() is None

    def wait_exit(self, timeout):
        """True if the process exits within `timeout` seconds."""
        try:
            self.server.proc.wait(timeout=timeout)
            return True
        except subprocess.TimeoutExpired:
            return False

    def exit_description(self):
        rc = self.server.proc.returncode if self.server and self.server.proc else None
        if rc is None:
            return "running"
        if rc < 0:
            try:
                return f"killed by {signal.Signals(-rc).name}"
            except ValueError:
                return f"killed by signal {-rc}"
        return f"exit status {rc}"

    def log_tail(self, n=4000):
        try:
            return self.server.read_log()[-n:]
        except OSError:
            return ""

    def crash_lines(self, since=0):
        """Lines of the log (from byte offset `since`) that look like a crash report."""
        try:
            with open(self.server.log_path, "rb") as f:
                f.seek(since)
                text = f.read().decode(errors="replace")
        except OSError:
            return []
        return [line.strip() for line in text.splitlines() if any(m in line for m in CRASH_MARKERS)]

    def log_size(self):
        try:
            return os.path.getsize(self.server.log_path)
        except OSError:
            return 0

    def stop(self):
        self.close_client()
        if self.server is not None:
            self.server.kill()

    def destroy(self):
        self.stop()
        if self.server is not None:
            shutil.rmtree(self.server.data_dir, ignore_errors=True)

    # ---------------------------------------------------------------------------------------
    # Client side

    def close_client(self):
        for s in self.watch_streams.values():
            s.close()
        self.watch_streams = {}
        if self.keepalive is not None:
            self.keepalive.close()
            self.keepalive = None
        if self.channel is not None:
            self.channel.close()
            self.channel = None

    def rpc(self, method):
        service, name = method.split(".")
        return getattr(self.stubs[service], name)

    def watch_stream(self, n):
        s = self.watch_streams.get(n)
        if s is None or s.closed is not None:
            s = self.watch_streams[n] = BidiStream(self.stubs["Watch"].Watch)
        return s

    def drop_watch_stream(self, n):
        s = self.watch_streams.pop(n, None)
        if s is not None:
            s.close()

    def keepalive_stream(self):
        if self.keepalive is None or self.keepalive.closed is not None:
            self.keepalive = BidiStream(self.stubs["Lease"].LeaseKeepAlive)
        return self.keepalive

    def ports_pattern(self):
        """(client port, peer port) of this member, to scrub from URLs."""
        return self.server.client_port, self.server.peer_port


class ServerDied(Exception):
    def __init__(self, how, log):
        super().__init__(how)
        self.how = how
        self.log = log


def crash_signature(lines):
    """A stable one-line name for a crash report: its first fatal line, numbers and
    addresses taken out."""
    for line in lines:
        if "Fatal error" in line or "panic:" in line or "precondition" in line.lower():
            return _scrub(line)
    return _scrub(lines[0]) if lines else "no crash report in the log"


def _scrub(line):
    line = re.sub(r"0x[0-9a-f]+", "0x…", line)
    line = re.sub(r"^\S*\s*(?=Fatal error)", "", line)
    return line[:300]
