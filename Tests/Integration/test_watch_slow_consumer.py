"""A client that stops reading its watch stream slows down nobody else and cannot make the server
buffer without bound: while it is stuck, 100 MB of events are written; another watcher keeps
receiving everything, writes keep being acknowledged, the server's anonymous memory stays
bounded, and when the stuck client reads again it gets every event, in order, exactly once."""
import os
import queue
import threading
import time

import grpc

import grpc_stubs

VALUE = b"v" * (50 * 1024)
PUTS = 2000  # 100 MB of values


def rss_anon_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("RssAnon:"):
                return int(line.split()[1])
    return 0


def test_a_stuck_watch_stream_is_bounded_and_caught_up_later(swetcd):
    rpc_pb2, rpc_pb2_grpc = grpc_stubs.load()
    server = swetcd()
    target = server.endpoint.replace("http://", "")
    kv = rpc_pb2_grpc.KVStub(grpc.insecure_channel(target))
    opts = [("grpc.max_receive_message_length", 64 << 20)]

    def open_watch():
        reqs = queue.Queue()
        reqs.put(rpc_pb2.WatchRequest(create_request=rpc_pb2.WatchCreateRequest(key=b"slow/", range_end=b"slow0")))
        stub = rpc_pb2_grpc.WatchStub(grpc.insecure_channel(target, options=opts))
        return reqs, stub.Watch(iter(reqs.get, None))

    stuck_reqs, stuck = open_watch()
    assert next(stuck).created  # then do not read for a while
    live_reqs, live = open_watch()
    assert next(live).created
    live_revisions = []

    def read_live():
        for r in live:
            live_revisions.extend(e.kv.mod_revision for e in r.events)
            if len(live_revisions) >= PUTS:
                return

    reader = threading.Thread(target=read_live)
    reader.start()
    base = rss_anon_kib(server.proc.pid)
    peak = base
    acked = []
    for i in range(PUTS):
        acked.append(kv.Put(rpc_pb2.PutRequest(key=b"slow/%05d" % i, value=VALUE), timeout=10).header.revision)
        if i % 100 == 0:
            peak = max(peak, rss_anon_kib(server.proc.pid))
    reader.join(timeout=60)
    assert live_revisions == acked, "the reading watcher missed events while another stream was stuck"
    peak = max(peak, rss_anon_kib(server.proc.pid))
    # 100 MB went to the stuck watcher; the server may hold a few MiB for it, not the lot.
    assert peak - base < 48 * 1024, f"anonymous memory grew by {(peak - base) // 1024} MiB"

    got = []
    deadline = time.time() + 120
    for r in stuck:
        got.extend(e.kv.mod_revision for e in r.events)
        if len(got) >= PUTS or time.time() > deadline:
            break
    assert got == acked, f"stuck watcher got {len(got)} events, expected {len(acked)}"
    stuck_reqs.put(None)
    live_reqs.put(None)
