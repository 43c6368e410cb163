"""The Watch stream with a third-party client (Python grpcio, stubs from our Protos/): create with
a client-chosen watch ID, events with prev_kv, filters, progress requests (answered with watch
ID -1 and the current revision), cancel, duplicate IDs, and a compacted start revision."""
import queue
import threading

import grpc
import pytest

import grpc_stubs


class Stream:
    def __init__(self, stub, rpc_pb2):
        self.rpc_pb2 = rpc_pb2
        self.requests = queue.Queue()
        self.responses = queue.Queue()
        self.call = stub.Watch(iter(self.requests.get, None))
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        try:
            for r in self.call:
                self.responses.put(r)
        except grpc.RpcError as e:
            self.responses.put(e)

    def send(self, **kwargs):
        self.requests.put(self.rpc_pb2.WatchRequest(**kwargs))

    def next(self, timeout=5):
        return self.responses.get(timeout=timeout)

    def close(self):
        self.requests.put(None)
        self.call.cancel()


@pytest.fixture
def setup(swetcd):
    rpc_pb2, rpc_pb2_grpc = grpc_stubs.load()
    server = swetcd()
    channel = grpc.insecure_channel(server.endpoint.replace("http://", ""))
    yield rpc_pb2, rpc_pb2_grpc.KVStub(channel), rpc_pb2_grpc.WatchStub(channel)
    channel.close()


def test_watch_create_events_progress_and_cancel(setup):
    rpc_pb2, kv, watch = setup
    kv.Put(rpc_pb2.PutRequest(key=b"w/a", value=b"0"))  # rev 2
    s = Stream(watch, rpc_pb2)
    s.send(create_request=rpc_pb2.WatchCreateRequest(key=b"w/", range_end=b"w0", watch_id=7, prev_kv=True))
    created = s.next()
    assert created.created and created.watch_id == 7 and created.header.revision == 2

    kv.Put(rpc_pb2.PutRequest(key=b"w/a", value=b"1"))  # rev 3
    ev = s.next()
    assert ev.watch_id == 7 and ev.header.revision == 3
    assert [(e.type, e.kv.key, e.kv.value, e.prev_kv.value) for e in ev.events] == [(0, b"w/a", b"1", b"0")]

    # A second watcher on the same stream with an automatic ID and a NOPUT filter.
    s.send(create_request=rpc_pb2.WatchCreateRequest(key=b"w/a", filters=[rpc_pb2.WatchCreateRequest.NOPUT]))
    auto = s.next()
    assert auto.created and auto.watch_id == 0
    kv.DeleteRange(rpc_pb2.DeleteRangeRequest(key=b"w/a"))  # rev 4
    got = {s.next().watch_id: None, s.next().watch_id: None}
    assert set(got) == {0, 7}

    s.send(progress_request=rpc_pb2.WatchProgressRequest())
    progress = s.next()
    assert progress.watch_id == -1 and progress.header.revision == 4 and not progress.events

    s.send(create_request=rpc_pb2.WatchCreateRequest(key=b"x", watch_id=7))
    dup = s.next()
    assert dup.created and dup.canceled and dup.cancel_reason == "mvcc: duplicate watch ID provided on the WatchStream"

    s.send(cancel_request=rpc_pb2.WatchCancelRequest(watch_id=7))
    cancelled = s.next()
    assert cancelled.canceled and cancelled.watch_id == 7
    kv.Put(rpc_pb2.PutRequest(key=b"w/b", value=b"2"))  # rev 5: no watcher wants it
    with pytest.raises(queue.Empty):
        s.next(timeout=0.5)
    s.close()


def test_watch_from_a_compacted_revision_is_cancelled_with_the_compact_revision(setup):
    rpc_pb2, kv, watch = setup
    for i in range(5):
        kv.Put(rpc_pb2.PutRequest(key=b"c", value=str(i).encode()))  # revs 2..6
    kv.Compact(rpc_pb2.CompactionRequest(revision=5, physical=True))
    s = Stream(watch, rpc_pb2)
    s.send(create_request=rpc_pb2.WatchCreateRequest(key=b"c", start_revision=3))
    assert s.next().created
    compacted = s.next()
    assert compacted.canceled and compacted.compact_revision == 5
    # At the compaction point itself the history is still there.
    s.send(create_request=rpc_pb2.WatchCreateRequest(key=b"c", start_revision=5))
    assert s.next().created
    revisions = []
    while len(revisions) < 2:
        revisions += [e.kv.mod_revision for e in s.next().events]
    assert revisions == [5, 6]
    s.close()


def test_progress_notifications_reach_idle_watchers_that_asked_for_them(swetcd):
    rpc_pb2, rpc_pb2_grpc = grpc_stubs.load()
    server = swetcd(extra=["--experimental-watch-progress-notify-interval", "500ms"])
    channel = grpc.insecure_channel(server.endpoint.replace("http://", ""))
    kv, watch = rpc_pb2_grpc.KVStub(channel), rpc_pb2_grpc.WatchStub(channel)
    kv.Put(rpc_pb2.PutRequest(key=b"p", value=b"1"))  # rev 2
    s = Stream(watch, rpc_pb2)
    s.send(create_request=rpc_pb2.WatchCreateRequest(key=b"p", progress_notify=True, watch_id=3))
    assert s.next().created
    kv.Put(rpc_pb2.PutRequest(key=b"other", value=b"x"))  # rev 3: not this watcher's key
    # Idle for the watcher: empty responses for it carrying the current revision, within a few
    # intervals. One may already have gone out at revision 2, before the put above.
    seen = []
    while not seen or seen[-1] < 3:
        notification = s.next(timeout=5)
        assert notification.watch_id == 3 and not notification.events and not notification.created
        seen.append(notification.header.revision)
        assert len(seen) <= 3, seen
    assert seen[0] >= 2
    # A watcher without progress_notify on another stream hears nothing while idle.
    quiet = Stream(watch, rpc_pb2)
    quiet.send(create_request=rpc_pb2.WatchCreateRequest(key=b"p"))
    assert quiet.next().created
    with pytest.raises(queue.Empty):
        quiet.next(timeout=1.5)
    s.close()
    quiet.close()
    channel.close()
