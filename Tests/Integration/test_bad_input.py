"""Bad input against the real swetcd binary: garbage bytes, broken HTTP/2, broken gRPC frames,
undecodable protobuf, oversized requests, clients that vanish mid-call and thousands of idle
connections. After each, the server must still be alive, answer `etcdctl put/get` correctly, and
have logged no crash.

HTTP/2 is spoken with raw frames on a socket (HPACK literals without indexing, no Huffman) or
with the `nghttp` client (nghttp2-client), which prints the response headers and trailers. Only
local sockets are used.
"""
import os
import re
import resource
import socket
import struct
import subprocess
import tempfile
import time

import pytest

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
CRASH_MARKERS = ("Fatal error", "Segmentation fault", "Illegal instruction", "SIGSEGV", "SIGILL",
                 "SIGABRT", "Stack dump", "AddressSanitizer", "precondition failed", "Assertion failed")

DATA, HEADERS, RST_STREAM, SETTINGS, PING, GOAWAY, WINDOW_UPDATE = 0, 1, 3, 4, 6, 7, 8
END_STREAM, END_HEADERS, ACK = 0x1, 0x4, 0x1


# ---------------------------------------------------------------------------------------------
# HTTP/2 and gRPC by hand


def frame(ftype, flags, stream_id, payload=b""):
    n = len(payload)
    return struct.pack(">BHBBI", n >> 16, n & 0xFFFF, ftype, flags, stream_id & 0x7FFFFFFF) + payload


def hpack_int(value, prefix_bits, first=0):
    limit = (1 << prefix_bits) - 1
    if value < limit:
        return bytes([first | value])
    out = [first | limit]
    value -= limit
    while value >= 128:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def header_block(headers):
    """Literal header fields without indexing, new names, no Huffman."""
    out = b""
    for name, value in headers:
        n, v = name.encode(), value.encode()
        out += b"\x00" + hpack_int(len(n), 7) + n + hpack_int(len(v), 7) + v
    return out


def grpc_headers(path, extra=()):
    return [(":method", "POST"), (":scheme", "http"), (":path", path), (":authority", "127.0.0.1"),
            ("content-type", "application/grpc"), ("te", "trailers"), *extra]


def grpc_frame(message, compressed=False):
    return struct.pack(">BI", 1 if compressed else 0, len(message)) + message


def pb_bytes(field, value):
    key = (field << 3) | 2
    n = len(value)
    varint = b""
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            varint += bytes([b | 0x80])
        else:
            varint += bytes([b])
            break
    return bytes([key]) + varint + value


def put_request(key, value):
    return pb_bytes(1, key) + pb_bytes(2, value)


def parse_frames(data):
    frames, i = [], 0
    while i + 9 <= len(data):
        n = (data[i] << 16) | (data[i + 1] << 8) | data[i + 2]
        if i + 9 + n > len(data):
            break
        ftype, flags = data[i + 3], data[i + 4]
        sid = struct.unpack(">I", data[i + 5:i + 9])[0] & 0x7FFFFFFF
        frames.append((ftype, flags, sid, data[i + 9:i + 9 + n]))
        i += 9 + n
    return frames


class RawConnection:
    """A TCP connection to the server that speaks (or mangles) HTTP/2 by hand."""

    def __init__(self, server, timeout=5.0):
        self.sock = socket.create_connection(("127.0.0.1", server.client_port), timeout=timeout)
        self.received = b""

    def send(self, data):
        self.sock.sendall(data)

    def handshake(self):
        self.send(PREFACE + frame(SETTINGS, 0, 0))

    def read_until_closed(self, seconds=5.0):
        """Reads until the server closes (True) or `seconds` pass (False)."""
        deadline = time.time() + seconds
        while time.time() < deadline:
            self.sock.settimeout(max(0.05, deadline - time.time()))
            try:
                chunk = self.sock.recv(65536)
            except socket.timeout:
                continue
            except (ConnectionResetError, BrokenPipeError):
                return True
            if not chunk:
                return True
            self.received += chunk
        return False

    def read_for(self, seconds):
        self.read_until_closed(seconds)
        return parse_frames(self.received)

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def nghttp(server, path, data=None, headers=(), timeout=10):
    """Runs nghttp -v against the server; returns (exit code, {header: value}) for stream 13
    (nghttp's first request stream)."""
    cmd = ["nghttp", "-v", "-t", "5"]
    for h in headers:
        cmd += ["-H", h]
    tmp = None
    if data is not None:
        tmp = tempfile.NamedTemporaryFile(delete=False)
        tmp.write(data)
        tmp.close()
        cmd += ["-d", tmp.name]
    cmd.append(f"http://127.0.0.1:{server.client_port}{path}")
    try:
        r = subprocess.run(cmd, capture_output=True, timeout=timeout)
    finally:
        if tmp:
            os.unlink(tmp.name)
    out = r.stdout.decode(errors="replace")
    fields = {}
    for m in re.finditer(r"recv \(stream_id=13\) ([^:\s][^:]*|:[a-z]+): (.*)", out):
        fields[m.group(1)] = m.group(2).strip()
    return r.returncode, fields, out


# ---------------------------------------------------------------------------------------------
# health of the server after each attack


def crash_report(log):
    """The part of a crash report that says where: the fatal error and the crashed thread."""
    lines = log.splitlines()
    keep = [l for l in lines if "Fatal error" in l or "Program crashed" in l]
    for i, l in enumerate(lines):
        if " crashed:" in l:
            keep += lines[i:i + 25]
            break
    return "\n".join(keep) or log[-4000:]


def assert_healthy(server, tag):
    if server.proc.poll() is not None:
        log = server.read_log()
        with open(f"/tmp/swetcd-crash-{tag}-{server.proc.pid}.log", "w") as f:
            f.write(log)
        raise AssertionError(f"swetcd exited ({server.proc.returncode}) after {tag}:\n{crash_report(log)}")
    key = f"after-{tag}"
    server.ctl("put", key, "value-" + tag)
    r = server.ctl("get", key)
    assert r.stdout_text.split() == [key, "value-" + tag], r.stdout_text
    log = server.read_log()
    for marker in CRASH_MARKERS:
        assert marker not in log, f"{marker!r} in the log after {tag}:\n{log}"


@pytest.fixture
def server(swetcd):
    s = swetcd()
    yield s
    assert_healthy(s, "teardown")


# ---------------------------------------------------------------------------------------------
# tests


def test_garbage_bytes_on_the_socket(server):
    for payload in [os.urandom(4096), b"\x00" * 100, b"\xff" * 65536, b"GET\r\n\r\n" * 50,
                    b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + os.urandom(500)]:
        c = RawConnection(server)
        c.send(payload)
        c.read_until_closed(3)
        c.close()
    assert_healthy(server, "garbage")


def test_garbage_frames_after_a_valid_preface(server):
    cases = [
        os.urandom(1000),
        frame(0xFF, 0xFF, 1, os.urandom(50)),                       # unknown frame type: ignored
        frame(DATA, 0, 0, b"x"),                                    # DATA on stream 0
        frame(HEADERS, END_HEADERS, 2, b"\x00"),                     # even (server) stream id
        frame(HEADERS, END_HEADERS, 1, os.urandom(64)),              # undecodable HPACK
        frame(SETTINGS, 0, 0, b"\x00\x04\xff\xff\xff\xff"),          # initial window too large
        frame(SETTINGS, 0, 0, b"\x00"),                              # bad SETTINGS length
        frame(WINDOW_UPDATE, 0, 0, b"\x00\x00\x00\x00"),             # zero increment
        frame(PING, 0, 0, b"short"),
        frame(RST_STREAM, 0, 7, b"\x00\x00\x00\x08"),                # RST on an idle stream
        b"\x00\x40\x00" + bytes([DATA, 0]) + b"\x00\x00\x00\x01",    # DATA header, no body, then EOF
        frame(HEADERS, 0, 1, header_block(grpc_headers("/etcdserverpb.KV/Range"))) + frame(DATA, 0, 3, b"x"),
        frame(HEADERS, END_HEADERS | END_STREAM, 1, header_block([(":method", "GET")])),  # missing :path
    ]
    for payload in cases:
        c = RawConnection(server)
        c.handshake()
        c.send(payload)
        c.read_until_closed(2)
        c.close()
    # A flood of PINGs and SETTINGS from a client that never reads its ACKs.
    c = RawConnection(server)
    c.handshake()
    try:
        c.send((frame(PING, 0, 0, b"12345678") + frame(SETTINGS, 0, 0)) * 20000)
    except OSError:
        pass
    c.close()
    assert_healthy(server, "garbage-frames")


def test_a_plain_http2_request_that_is_not_grpc(server):
    code, fields, out = nghttp(server, "/version")
    assert code == 0, out
    assert fields.get(":status") == "200", out
    assert '"etcdserver"' in out or "etcdserver" in out
    code, fields, out = nghttp(server, "/no/such/path")
    assert fields.get(":status") in ("404", "405"), out
    assert_healthy(server, "plain-http2")


def test_truncated_grpc_frames(server):
    # The prefix says 100 bytes; 10 are sent, then END_STREAM.
    code, fields, out = nghttp(server, "/etcdserverpb.KV/Range", data=struct.pack(">BI", 0, 100) + b"x" * 10,
                               headers=["content-type: application/grpc", "te: trailers"])
    assert fields.get("grpc-status") not in (None, "0"), out
    # Only part of a prefix.
    code, fields, out = nghttp(server, "/etcdserverpb.KV/Range", data=b"\x00\x00",
                               headers=["content-type: application/grpc", "te: trailers"])
    assert fields.get("grpc-status") not in (None, "0"), out
    # No message at all for a unary call.
    code, fields, out = nghttp(server, "/etcdserverpb.KV/Range", data=b"",
                               headers=["content-type: application/grpc", "te: trailers"])
    assert fields.get("grpc-status") not in (None, "0"), out
    assert_healthy(server, "truncated")


def test_protobuf_garbage_in_a_grpc_request(server):
    for method in ["/etcdserverpb.KV/Put", "/etcdserverpb.KV/Range", "/etcdserverpb.KV/Txn",
                   "/etcdserverpb.Lease/LeaseGrant", "/etcdserverpb.Maintenance/Status"]:
        for garbage in [os.urandom(200), b"\xff" * 20, b"\x0a\xff\xff\xff\xff\x0f", b"\x08" + b"\xff" * 11,
                        b"\x12\x05ab", b"\x0a\x03key\x12"]:
            code, fields, out = nghttp(server, method, data=grpc_frame(garbage),
                                       headers=["content-type: application/grpc", "te: trailers"])
            assert fields.get("grpc-status") is not None, out
    # A compressed flag nobody negotiated.
    code, fields, out = nghttp(server, "/etcdserverpb.KV/Range", data=grpc_frame(b"\x0a\x01a", compressed=True),
                               headers=["content-type: application/grpc", "te: trailers"])
    assert fields.get("grpc-status") == "13", out
    # Unknown service and method.
    code, fields, out = nghttp(server, "/etcdserverpb.KV/Nope", data=grpc_frame(b""),
                               headers=["content-type: application/grpc", "te: trailers"])
    assert fields.get("grpc-status") == "12", out
    assert_healthy(server, "protobuf-garbage")


def test_requests_over_max_request_bytes(swetcd):
    server = swetcd(extra=["--max-request-bytes", "65536"])
    # Over --max-request-bytes but under gRPC's limit (+512 KiB): etcd's own error.
    r = server.ctl("put", "big", check=False, input=b"x" * (70 * 1024))
    assert r.returncode != 0
    assert "etcdserver: request is too large" in r.stderr_text, r.stderr_text
    # Over gRPC's limit: refused from the length prefix.
    limit = 65536 + 512 * 1024
    code, fields, out = nghttp(server, "/etcdserverpb.KV/Put", data=grpc_frame(put_request(b"k", b"v" * (limit + 10))),
                               headers=["content-type: application/grpc", "te: trailers"], timeout=30)
    assert fields.get("grpc-status") == "8", out
    assert "received message larger than max" in fields.get("grpc-message", ""), out
    # Only the prefix of a 4 GiB message, never the body: answered at once.
    c = RawConnection(server)
    c.handshake()
    c.send(frame(HEADERS, END_HEADERS, 1, header_block(grpc_headers("/etcdserverpb.KV/Put"))))
    c.send(frame(DATA, 0, 1, b"\x00\xff\xff\xff\xff"))
    frames = c.read_for(1.0)
    c.close()
    assert any(f[0] == HEADERS and f[2] == 1 for f in frames), frames
    assert_healthy(server, "max-request-bytes")


def disconnect_mid_call_round(server, watch_read_seconds):
    for i in range(50):
        c = RawConnection(server)
        c.handshake()
        sid = 1
        c.send(frame(HEADERS, END_HEADERS, sid, header_block(grpc_headers("/etcdserverpb.KV/Put"))))
        if i % 3 == 0:
            c.send(frame(DATA, 0, sid, grpc_frame(put_request(b"mid", b"x" * 1000))[:500]))
        elif i % 3 == 1:
            c.send(frame(DATA, 0, sid, grpc_frame(put_request(b"mid-%d" % i, b"v"))))  # whole message, no END_STREAM
        else:
            c.send(frame(DATA, END_STREAM, sid, grpc_frame(put_request(b"mid-%d" % i, b"v"))))  # and leave at once
        if i % 2:
            c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # RST, not FIN
        c.close()
    # A watch stream whose client vanishes.
    c = RawConnection(server)
    c.handshake()
    watch_create = pb_bytes(1, pb_bytes(1, b"w"))  # WatchRequest{create_request{key:"w"}}
    c.send(frame(HEADERS, END_HEADERS, 1, header_block(grpc_headers("/etcdserverpb.Watch/Watch"))))
    c.send(frame(DATA, 0, 1, grpc_frame(watch_create)))
    c.read_for(watch_read_seconds)
    c.close()


def test_clients_that_disconnect_mid_call(server):
    # 100 rounds: a reset landing while the server installed its HTTP/2 handler once crashed it
    # (ProtocolSniffer); one round in a few hundred hit it.
    for _ in range(100):
        disconnect_mid_call_round(server, 0.05)
        assert server.proc.poll() is None, crash_report(server.read_log())
    disconnect_mid_call_round(server, 0.5)
    server.ctl("put", "w", "after-watcher-left")
    # A stream reset by the client mid-call.
    c = RawConnection(server)
    c.handshake()
    c.send(frame(HEADERS, END_HEADERS, 1, header_block(grpc_headers("/etcdserverpb.KV/Range"))))
    c.send(frame(RST_STREAM, 0, 1, b"\x00\x00\x00\x08"))
    c.send(frame(HEADERS, END_HEADERS, 3, header_block(grpc_headers("/etcdserverpb.KV/Range"))))
    c.send(frame(DATA, END_STREAM, 3, grpc_frame(pb_bytes(1, b"w"))))
    frames = c.read_for(1.0)
    c.close()
    assert any(f[0] == HEADERS and f[2] == 3 for f in frames), frames
    assert_healthy(server, "disconnects")


def test_many_streams_with_partial_messages_on_one_connection(server):
    # Each stream announces 1 MiB and sends 60 KiB of it; the server's buffer stays bounded and
    # it keeps serving this and other connections.
    c = RawConnection(server)
    c.handshake()
    for i in range(200):
        sid = 1 + 2 * i
        c.send(frame(HEADERS, END_HEADERS, sid, header_block(grpc_headers("/etcdserverpb.KV/Put"))))
        try:
            c.send(frame(DATA, 0, sid, struct.pack(">BI", 0, 1 << 20) + b"x" * 16000))
        except OSError:
            break
    c.read_for(0.5)
    assert_healthy(server, "partial-messages")
    c.close()


def test_two_thousand_idle_connections(swetcd):
    # Raise our soft limit first: the server inherits it.
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = 2000 + 500
    if soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, wanted), hard))
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < wanted:
        pytest.skip(f"RLIMIT_NOFILE hard limit {hard} is below {wanted}")
    server = swetcd()
    conns = []
    try:
        for i in range(2000):
            s = socket.create_connection(("127.0.0.1", server.client_port), timeout=10)
            if i % 4 == 1:
                s.sendall(PREFACE + frame(SETTINGS, 0, 0))   # an idle HTTP/2 connection
            elif i % 4 == 2:
                s.sendall(PREFACE[:10])                       # half a preface
            elif i % 4 == 3:
                s.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n")  # half an HTTP/1.1 request
            conns.append(s)
        assert_healthy(server, "idle-connections")
        r = server.ctl("get", "after-idle-connections", "--print-value-only")
        assert r.stdout_text.strip() == "value-idle-connections"
    finally:
        for s in conns:
            s.close()
    assert_healthy(server, "idle-connections-closed")


def test_max_concurrent_streams_is_honoured(swetcd):
    server = swetcd(extra=["--max-concurrent-streams", "2"])
    # The limit is announced in the server's SETTINGS.
    c = RawConnection(server)
    c.handshake()
    frames = c.read_for(0.5)
    settings = [f for f in frames if f[0] == SETTINGS and not f[1] & ACK]
    assert settings, frames
    entries = {struct.unpack(">H", p[i:i + 2])[0]: struct.unpack(">I", p[i + 2:i + 6])[0]
               for (_, _, _, p) in settings for i in range(0, len(p), 6)}
    assert entries.get(0x3) == 2, entries
    # A client that opens more streams than that before acknowledging SETTINGS gets the extra one
    # refused, and the others are still served.
    for sid in (1, 3, 5):
        c.send(frame(HEADERS, END_HEADERS, sid, header_block(grpc_headers("/etcdserverpb.KV/Range"))))
    for sid in (1, 3):
        c.send(frame(DATA, END_STREAM, sid, grpc_frame(pb_bytes(1, b"k"))))
    frames = c.read_for(1.0)
    c.close()
    assert any(f[0] == RST_STREAM and f[2] == 5 and f[3] == b"\x00\x00\x00\x07" for f in frames), frames
    assert any(f[0] == HEADERS and f[2] == 1 for f in frames) and any(f[0] == HEADERS and f[2] == 3 for f in frames)
    # A client that keeps to the limit (SETTINGS acknowledged) is served round after round on
    # one connection: finished streams free their slots.
    c = RawConnection(server)
    c.handshake()
    c.read_for(0.3)
    c.send(frame(SETTINGS, ACK, 0))
    sid = 1
    for _ in range(10):
        ids = (sid, sid + 2)
        for i in ids:
            c.send(frame(HEADERS, END_HEADERS, i, header_block(grpc_headers("/etcdserverpb.KV/Range"))))
            c.send(frame(DATA, END_STREAM, i, grpc_frame(pb_bytes(1, b"k"))))
        c.received = b""
        frames = c.read_for(0.3)
        for i in ids:
            assert any(f[0] == HEADERS and f[2] == i and f[1] & END_STREAM for f in frames), (i, frames)
        assert not any(f[0] == GOAWAY for f in frames), frames
        sid += 4
    c.close()
    # nghttp sends all its requests before it has seen our SETTINGS: the ones over the limit are
    # refused (REFUSED_STREAM, as grpc-go does too), the rest answered.
    r = subprocess.run(["nghttp", "-n", "-s", "-m", "5", f"http://127.0.0.1:{server.client_port}/version"],
                       capture_output=True, timeout=30)
    assert b"processed=2" in r.stderr or r.returncode == 0, r.stdout + r.stderr
    assert_healthy(server, "max-concurrent-streams")
