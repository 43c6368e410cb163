"""kill -9 at random moments loses no acknowledged write: a writer streams puts (many in
flight), the server is SIGKILLed at a random moment, restarted on the same data dir, and every
put that was acknowledged must be there with the revision its response carried."""
import os
import random
import threading
import time

import grpc

import grpc_stubs

KILLS = int(os.environ.get("CRASH_KILLS", "25"))
IN_FLIGHT = 32
# The check reads every key written so far in one Range: more than gRPC's default 4 MiB.
CHANNEL_OPTIONS = [("grpc.max_receive_message_length", 256 << 20)]


def writer(stub, rpc_pb2, prefix, acked, stop):
    n = 0
    pending = []
    while not stop.is_set():
        while len(pending) < IN_FLIGHT and not stop.is_set():
            key = f"{prefix}/{n:08d}".encode()
            value = f"value-{prefix}-{n}".encode() * 4
            pending.append((key, value, stub.Put.future(rpc_pb2.PutRequest(key=key, value=value), timeout=5)))
            n += 1
        still = []
        for key, value, fut in pending:
            if fut.done():
                try:
                    acked.append((key, value, fut.result().header.revision))
                except grpc.RpcError:
                    pass  # not acknowledged: the server died first
            else:
                still.append((key, value, fut))
        pending = still
        time.sleep(0.001)
    for key, value, fut in pending:
        try:
            acked.append((key, value, fut.result(timeout=5).header.revision))
        except Exception:
            pass


def test_sigkill_at_random_moments_loses_no_acknowledged_put(swetcd):
    seed = int(os.environ.get("CRASH_SEED", str(random.randrange(1 << 30))))
    rng = random.Random(seed)
    print(f"crash test seed {seed}")
    rpc_pb2, rpc_pb2_grpc = grpc_stubs.load()
    server = swetcd(extra=["--snapshot-count", "500"])
    acked = []
    max_revision_seen = 1
    for round_ in range(KILLS):
        channel = grpc.insecure_channel(server.endpoint.replace("http://", ""))
        stub = rpc_pb2_grpc.KVStub(channel)
        stop = threading.Event()
        round_acked = []
        t = threading.Thread(target=writer, args=(stub, rpc_pb2, f"r{round_:03d}", round_acked, stop))
        t.start()
        time.sleep(rng.uniform(0.05, 0.6))
        server.kill()
        stop.set()
        t.join(timeout=30)
        channel.close()
        acked.extend(round_acked)
        server.start()

        channel = grpc.insecure_channel(server.endpoint.replace("http://", ""), options=CHANNEL_OPTIONS)
        stub = rpc_pb2_grpc.KVStub(channel)
        status = rpc_pb2_grpc.MaintenanceStub(channel).Status(rpc_pb2.StatusRequest())
        stored = {kv.key: kv for kv in stub.Range(rpc_pb2.RangeRequest(key=b"r", range_end=b"s")).kvs}
        for key, value, revision in acked:
            kv = stored.get(key)
            assert kv is not None, f"seed {seed}: acknowledged {key!r} (rev {revision}) lost after kill {round_}"
            assert kv.value == value and kv.mod_revision == revision, \
                f"seed {seed}: {key!r} has rev {kv.mod_revision}, acknowledged at {revision}"
            max_revision_seen = max(max_revision_seen, revision)
        assert status.header.revision >= max_revision_seen
        channel.close()
    assert len(acked) > KILLS, f"seed {seed}: too few writes acknowledged to mean anything ({len(acked)})"
    print(f"crash test: {KILLS} kills, {len(acked)} acknowledged puts verified, final revision {max_revision_seen}")
