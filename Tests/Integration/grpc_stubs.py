"""Python gRPC stubs generated at test time from our Protos/ (grpcio-tools), shared by tests."""
import os
import subprocess
import sys
import tempfile

from conftest import ROOT

PROTOS = os.path.join(ROOT, "Protos")
NEEDED = ["etcdserverpb/rpc.proto", "mvccpb/kv.proto", "authpb/auth.proto"]
_cache = {}


def load():
    if "mods" in _cache:
        return _cache["mods"]
    out = tempfile.mkdtemp(prefix="swetcd-gen-")
    r = subprocess.run([sys.executable, "-m", "grpc_tools.protoc", "-I", PROTOS, f"--python_out={out}",
                        f"--grpc_python_out={out}", *NEEDED], capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(r.stderr)
    sys.path.insert(0, out)
    os.environ.setdefault("PROTOCOL_BUFFERS_PYTHON_IMPLEMENTATION", "python")
    from etcdserverpb import rpc_pb2, rpc_pb2_grpc  # noqa: E402
    _cache["mods"] = (rpc_pb2, rpc_pb2_grpc)
    return _cache["mods"]
