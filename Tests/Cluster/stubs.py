"""etcd v3 gRPC stubs generated once per process from the repo's Protos/ (grpcio-tools), as
Tests/Integration/grpc_stubs.py does; only the KV, Maintenance, Cluster and Watch services of
etcdserverpb are needed here."""
import atexit
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import types

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
PROTOS = os.path.join(ROOT, "Protos")
_lock = threading.Lock()
_mods = None


def load():
    """Namespace with rpc_pb2, rpc_pb2_grpc and kv_pb2."""
    global _mods
    with _lock:
        if _mods is None:
            out = tempfile.mkdtemp(prefix="swetcd-cluster-gen-")
            atexit.register(shutil.rmtree, out, True)
            r = subprocess.run([sys.executable, "-m", "grpc_tools.protoc", "-I", PROTOS,
                                f"--python_out={out}", f"--grpc_python_out={out}",
                                "etcdserverpb/rpc.proto", "mvccpb/kv.proto", "authpb/auth.proto"],
                               capture_output=True, text=True)
            if r.returncode != 0:
                raise RuntimeError(r.stderr)
            sys.path.insert(0, out)
            from etcdserverpb import rpc_pb2, rpc_pb2_grpc  # noqa: E402
            from mvccpb import kv_pb2  # noqa: E402
            _mods = types.SimpleNamespace(rpc_pb2=rpc_pb2, rpc_pb2_grpc=rpc_pb2_grpc, kv_pb2=kv_pb2)
        return _mods
