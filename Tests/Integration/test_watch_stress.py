"""Watch correctness under load: concurrent writers (puts, deletes, two-put txns) while
watchers start at random past revisions over random ranges and read at random speeds — one of
them stops reading for a while so that the server must fall back to catching it up from
storage. Every watcher must receive exactly the acknowledged history of its range from its
start revision: in order, no gaps, no duplicates, all events of a revision in one response."""
import os
import random
import threading
import time

import grpc

import grpc_stubs

SECONDS = float(os.environ.get("WATCH_STRESS_SECONDS", "6"))
KEYS = [f"k{i:02d}".encode() for i in range(40)]


def writer(stub, rpc_pb2, rng, log, stop, value_bytes):
    while not stop.is_set():
        roll = rng.random()
        key = rng.choice(KEYS)
        if roll < 0.7:
            value = os.urandom(8).hex().encode() * (value_bytes // 16)
            r = stub.Put(rpc_pb2.PutRequest(key=key, value=value))
            log.append((r.header.revision, 0, "PUT", key, value))
        elif roll < 0.85:
            r = stub.DeleteRange(rpc_pb2.DeleteRangeRequest(key=key))
            if r.deleted:
                log.append((r.header.revision, 0, "DELETE", key, b""))
        else:
            a, b = rng.sample(KEYS, 2)
            ops = [rpc_pb2.RequestOp(request_put=rpc_pb2.PutRequest(key=a, value=b"txn-a")),
                   rpc_pb2.RequestOp(request_put=rpc_pb2.PutRequest(key=b, value=b"txn-b"))]
            r = stub.Txn(rpc_pb2.TxnRequest(success=ops))
            log.append((r.header.revision, 0, "PUT", a, b"txn-a"))
            log.append((r.header.revision, 1, "PUT", b, b"txn-b"))


class Watcher:
    def __init__(self, rpc_pb2, rpc_pb2_grpc, channel, start, lo, hi, pace, pause_at):
        self.rpc_pb2, self.start, self.lo, self.hi = rpc_pb2, start, lo, hi
        self.pace, self.pause_at = pace, pause_at
        self.events = []          # (revision, type, key, value)
        self.responses = []       # revisions per response
        self.requests = []
        self.cv = threading.Condition()
        self.done = False
        self.stub = rpc_pb2_grpc.WatchStub(channel)
        create = rpc_pb2.WatchCreateRequest(key=lo, range_end=hi, start_revision=start)
        self.requests.append(rpc_pb2.WatchRequest(create_request=create))
        self.thread = threading.Thread(target=self.run)
        self.thread.start()

    def request_iter(self):
        for r in self.requests:
            yield r
        with self.cv:
            while not self.done:
                self.cv.wait(0.5)

    def run(self):
        n = 0
        try:
            for resp in self.stub.Watch(self.request_iter()):
                if resp.events:
                    self.responses.append(sorted({e.kv.mod_revision for e in resp.events}))
                    for e in resp.events:
                        kind = "DELETE" if e.type == 1 else "PUT"
                        self.events.append((e.kv.mod_revision, kind, e.kv.key, e.kv.value))
                n += 1
                if self.pause_at and n == self.pause_at:
                    time.sleep(3)
                elif self.pace:
                    time.sleep(self.pace)
                if self.done:
                    break
        except grpc.RpcError:
            pass

    def close(self):
        with self.cv:
            self.done = True
            self.cv.notify_all()


def test_watchers_get_exactly_their_history_under_concurrent_writes(swetcd):
    seed = int(os.environ.get("WATCH_STRESS_SEED", str(random.randrange(1 << 30))))
    rng = random.Random(seed)
    print(f"watch stress seed {seed}")
    rpc_pb2, rpc_pb2_grpc = grpc_stubs.load()
    server = swetcd()
    target = server.endpoint.replace("http://", "")
    channel = grpc.insecure_channel(target)
    kv = rpc_pb2_grpc.KVStub(channel)
    log = []
    stop = threading.Event()
    writers = [threading.Thread(target=writer, args=(rpc_pb2_grpc.KVStub(grpc.insecure_channel(target)), rpc_pb2,
                                                       random.Random(seed + i), log, stop, 2048)) for i in range(3)]
    for w in writers:
        w.start()
    watchers = []
    t0 = time.time()
    while time.time() - t0 < SECONDS:
        time.sleep(SECONDS / 10)
        current = kv.Range(rpc_pb2.RangeRequest(key=b"k", count_only=True)).header.revision
        start = rng.randint(1, current)
        a, b = sorted(rng.sample(range(len(KEYS) + 1), 2))
        lo = KEYS[a]
        hi = KEYS[b] if b < len(KEYS) else b"l"
        pace = rng.choice([0, 0, 0.001, 0.005])
        pause_at = rng.choice([0, 0, 5])
        watchers.append(Watcher(rpc_pb2, rpc_pb2_grpc, grpc.insecure_channel(target), start, lo, hi, pace, pause_at))
    stop.set()
    for w in writers:
        w.join()
    final = kv.Range(rpc_pb2.RangeRequest(key=b"k", count_only=True)).header.revision
    log.sort()
    deadline = time.time() + 60
    for w in watchers:
        expected = [(rev, kind, key, value) for rev, _, kind, key, value in log
                    if rev >= w.start and w.lo <= key < w.hi]
        while len(w.events) < len(expected) and time.time() < deadline:
            time.sleep(0.05)
        w.close()
        assert w.events == expected, (f"seed {seed}: watcher from {w.start} on [{w.lo!r},{w.hi!r}) got "
                                      f"{len(w.events)} events, expected {len(expected)} (final rev {final})")
        seen = set()
        for revisions in w.responses:
            for r in revisions:
                assert r not in seen, f"seed {seed}: revision {r} split across responses"
            seen.update(revisions)
    print(f"watch stress: {len(watchers)} watchers, {len(log)} changes, final revision {final}")
