"""The generated etcd stubs (via Tests/Integration/grpc_stubs.py), the table of methods the fuzzer
calls, turning a request spec into a message, and a compact text form of messages for reports."""
import hashlib
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "Integration"))

import grpc_stubs  # noqa: E402

from values import Sym  # noqa: E402

M = grpc_stubs.load_all()

from google.protobuf import symbol_database  # noqa: E402

_SYMBOLS = symbol_database.Default()

# Service name as the generator writes it -> (stub class, full service name in its proto file).
SERVICES = {
    "KV": (M.rpc_pb2_grpc.KVStub, M.rpc_pb2, "KV"),
    "Watch": (M.rpc_pb2_grpc.WatchStub, M.rpc_pb2, "Watch"),
    "Lease": (M.rpc_pb2_grpc.LeaseStub, M.rpc_pb2, "Lease"),
    "Cluster": (M.rpc_pb2_grpc.ClusterStub, M.rpc_pb2, "Cluster"),
    "Maintenance": (M.rpc_pb2_grpc.MaintenanceStub, M.rpc_pb2, "Maintenance"),
    "Auth": (M.rpc_pb2_grpc.AuthStub, M.rpc_pb2, "Auth"),
    "Lock": (M.v3lock_pb2_grpc.LockStub, M.v3lock_pb2, "Lock"),
    "Election": (M.v3election_pb2_grpc.ElectionStub, M.v3election_pb2, "Election"),
    "Health": (M.health_pb2_grpc.HealthStub, M.health_pb2, "Health"),
}
# Methods whose server answers with a stream (the fuzzer reads it to the end).
SERVER_STREAMING = {"KV.RangeStream", "Maintenance.Snapshot", "Election.Observe"}
# Bidirectional streams, driven through persistent streams by the runner.
BIDI = {"Watch.Watch": "Watch.Send", "Lease.LeaseKeepAlive": "Lease.LeaseKeepAlive"}


def request_class(method):
    """The request message class of "Service.Method" (Watch.Send -> WatchRequest)."""
    if method.startswith("Watch."):
        return M.rpc_pb2.WatchRequest
    service, rpc = method.split(".")
    _, module, name = SERVICES[service]
    desc = module.DESCRIPTOR.services_by_name[name].methods_by_name[rpc]
    return _SYMBOLS.GetSymbol(desc.input_type.full_name)


def build(cls, spec, resolve):
    """A message of class `cls` from a spec (see generator.py); `resolve(sym)` gives a Sym's
    value for the server the message is for."""
    msg = cls()
    fill(msg, spec, resolve)
    return msg


def fill(msg, spec, resolve):
    for name, value in spec.items():
        field = msg.DESCRIPTOR.fields_by_name[name]
        if field.label == field.LABEL_REPEATED:
            target = getattr(msg, name)
            for item in value:
                if isinstance(item, dict):
                    fill(target.add(), item, resolve)
                else:
                    target.append(resolve(item) if isinstance(item, Sym) else item)
        elif field.message_type is not None:
            sub = getattr(msg, name)
            sub.SetInParent()  # an empty dict still selects the oneof member / sets presence
            fill(sub, value, resolve)
        else:
            setattr(msg, name, resolve(value) if isinstance(value, Sym) else value)


def short_bytes(b, limit=40):
    """bytes for humans: repr when short, else size, head and a digest."""
    if len(b) <= limit:
        return repr(b)
    run = b[:1] * len(b) == b
    if run:
        return f"{b[:1]!r}*{len(b)}"
    return f"<{len(b)} bytes {b[:16]!r}... sha1:{hashlib.sha1(b).hexdigest()[:10]}>"


def fmt(msg, limit=4000):
    """One-line text of a message, default fields left out: `Name{field=value, ...}`."""
    text = _fmt(msg)
    if len(text) > limit:
        text = text[:limit] + f"... ({len(text)} chars)"
    return text


def _fmt(msg):
    parts = []
    for field, value in msg.ListFields():
        if field.label == field.LABEL_REPEATED:
            items = [(_fmt(v) if field.message_type else _scalar(field, v)) for v in value]
            if len(items) > 8 and len(set(items)) == 1:
                parts.append(f"{field.name}=[{items[0]}]*{len(items)}")
            else:
                parts.append(f"{field.name}=[{', '.join(items)}]")
        elif field.message_type is not None:
            parts.append(f"{field.name}={_fmt(value)}")
        else:
            parts.append(f"{field.name}={_scalar(field, value)}")
    return f"{msg.DESCRIPTOR.name}{{{', '.join(parts)}}}"


def _scalar(field, value):
    if isinstance(value, bytes):
        return short_bytes(value)
    if field.enum_type is not None:
        ev = field.enum_type.values_by_number.get(value)
        return ev.name if ev else str(value)
    return repr(value) if isinstance(value, str) else str(value)
