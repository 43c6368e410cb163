"""Python gRPC stubs generated at test time from our Protos/ (grpcio-tools), shared by tests."""
import os
import shutil
import subprocess
import sys
import tempfile
import types

from conftest import ROOT

PROTOS = os.path.join(ROOT, "Protos")
NEEDED = ["etcdserverpb/rpc.proto", "mvccpb/kv.proto", "authpb/auth.proto",
          "v3lockpb/v3lock.proto", "v3electionpb/v3election.proto"]
# grpc/health/v1/health.proto would generate a top-level `grpc` package that shadows grpcio's;
# it is compiled from a copy under another directory (the proto package name stays
# grpc.health.v1, which is all the wire sees).
HEALTH = os.path.join(PROTOS, "grpc", "health", "v1", "health.proto")
_cache = {}


def _generate():
    if "out" in _cache:
        return _cache["out"]
    out = tempfile.mkdtemp(prefix="swetcd-gen-")
    r = subprocess.run([sys.executable, "-m", "grpc_tools.protoc", "-I", PROTOS, f"--python_out={out}",
                        f"--grpc_python_out={out}", *NEEDED], capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(r.stderr)
    health_src = os.path.join(out, "_health_src", "swetcdhealth")
    os.makedirs(health_src)
    shutil.copy(HEALTH, os.path.join(health_src, "health.proto"))
    r = subprocess.run([sys.executable, "-m", "grpc_tools.protoc", "-I", os.path.join(out, "_health_src"),
                        f"--python_out={out}", f"--grpc_python_out={out}", "swetcdhealth/health.proto"],
                       capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(r.stderr)
    sys.path.insert(0, out)
    os.environ.setdefault("PROTOCOL_BUFFERS_PYTHON_IMPLEMENTATION", "python")
    _cache["out"] = out
    return out


def load():
    """(rpc_pb2, rpc_pb2_grpc) of etcdserverpb."""
    if "mods" in _cache:
        return _cache["mods"]
    _generate()
    from etcdserverpb import rpc_pb2, rpc_pb2_grpc  # noqa: E402
    _cache["mods"] = (rpc_pb2, rpc_pb2_grpc)
    return _cache["mods"]


def load_all():
    """Every generated module, as attributes: rpc_pb2, rpc_pb2_grpc, kv_pb2, auth_pb2,
    v3lock_pb2(_grpc), v3election_pb2(_grpc), health_pb2(_grpc)."""
    if "all" in _cache:
        return _cache["all"]
    rpc_pb2, rpc_pb2_grpc = load()
    from mvccpb import kv_pb2  # noqa: E402
    from authpb import auth_pb2  # noqa: E402
    from v3lockpb import v3lock_pb2, v3lock_pb2_grpc  # noqa: E402
    from v3electionpb import v3election_pb2, v3election_pb2_grpc  # noqa: E402
    from swetcdhealth import health_pb2, health_pb2_grpc  # noqa: E402
    _cache["all"] = types.SimpleNamespace(
        rpc_pb2=rpc_pb2, rpc_pb2_grpc=rpc_pb2_grpc, kv_pb2=kv_pb2, auth_pb2=auth_pb2,
        v3lock_pb2=v3lock_pb2, v3lock_pb2_grpc=v3lock_pb2_grpc,
        v3election_pb2=v3election_pb2, v3election_pb2_grpc=v3election_pb2_grpc,
        health_pb2=health_pb2, health_pb2_grpc=health_pb2_grpc)
    return _cache["all"]
