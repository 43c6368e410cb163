"""KV.RangeStream (etcd 3.7, which Kubernetes tries before Range): the chunks of one answer,
merged as protobuf merges them, are exactly what KV.Range answers (kvs, count, more, header);
large answers come in several chunks, only the last carrying header, count and more; every chunk
is read at the revision the stream started at, whatever is written meanwhile; errors are Range's."""
import grpc
import pytest

import grpc_stubs

VALUE = b"v" * 1024
KEYS = 3000  # about 3 MiB of values: several chunks of about 1 MiB


@pytest.fixture
def kv(swetcd):
    rpc, rpc_grpc = grpc_stubs.load()
    server = swetcd()
    stub = rpc_grpc.KVStub(grpc.insecure_channel(server.endpoint.replace("http://", ""),
                                                 options=[("grpc.max_receive_message_length", 64 << 20)]))
    for i in range(KEYS):
        stub.Put(rpc.PutRequest(key=b"k/%05d" % i, value=VALUE), timeout=10)
    return rpc, stub


def merged(rpc, stub, request):
    chunks = list(stub.RangeStream(request, timeout=30))
    out = rpc.RangeResponse()
    for c in chunks:
        out.MergeFrom(c.range_response)
    return chunks, out


def test_merged_chunks_are_the_range_answer(kv):
    rpc, stub = kv
    requests = {
        "prefix": rpc.RangeRequest(key=b"k/", range_end=b"k0"),
        "from key": rpc.RangeRequest(key=b"k/01000", range_end=b"\x00"),
        "limit 10": rpc.RangeRequest(key=b"k/", range_end=b"k0", limit=10),
        "limit 2500": rpc.RangeRequest(key=b"k/", range_end=b"k0", limit=2500),
        "limit past the end": rpc.RangeRequest(key=b"k/", range_end=b"k0", limit=KEYS + 5),
        "keys only": rpc.RangeRequest(key=b"k/", range_end=b"k0", keys_only=True),
        "serializable": rpc.RangeRequest(key=b"k/", range_end=b"k0", serializable=True),
        "one key": rpc.RangeRequest(key=b"k/00042"),
        "no key": rpc.RangeRequest(key=b"nothing"),
        "empty range": rpc.RangeRequest(key=b"k0", range_end=b"k/"),
        "count only": rpc.RangeRequest(key=b"k/", range_end=b"k0", count_only=True),
        "sorted descending": rpc.RangeRequest(key=b"k/", range_end=b"k0", limit=5, sort_order=2),
        "past revision": rpc.RangeRequest(key=b"k/", range_end=b"k0", revision=1500),
    }
    for label, request in requests.items():
        chunks, got = merged(rpc, stub, request)
        want = stub.Range(request, timeout=30)
        assert got == want, label
        for c in chunks[:-1]:
            r = c.range_response
            assert not r.HasField("header") and r.count == 0 and not r.more, label
        if label in ("prefix", "keys only", "serializable", "past revision"):
            assert len(chunks) > 1, label


def test_every_chunk_is_read_at_the_revision_the_stream_started_at(kv):
    rpc, stub = kv
    request = rpc.RangeRequest(key=b"k/", range_end=b"k0")
    before = stub.Range(request, timeout=30)
    stream = stub.RangeStream(request, timeout=30)
    first = next(stream)
    # Written after the first chunk: changes keys the later chunks cover.
    stub.Put(rpc.PutRequest(key=b"k/02999", value=b"changed"), timeout=10)
    stub.DeleteRange(rpc.DeleteRangeRequest(key=b"k/02000", range_end=b"k/02100"), timeout=10)
    stub.Put(rpc.PutRequest(key=b"k/99999", value=b"new"), timeout=10)
    got = rpc.RangeResponse()
    got.MergeFrom(first.range_response)
    for c in stream:
        got.MergeFrom(c.range_response)
    assert got == before
    assert stub.Range(request, timeout=30).count == KEYS - 100 + 1


def test_errors_are_ranges_errors(kv):
    rpc, stub = kv
    cases = [
        rpc.RangeRequest(key=b""),
        rpc.RangeRequest(key=b"k/", range_end=b"k0", revision=10 ** 9),
    ]
    stub.Compact(rpc.CompactionRequest(revision=100), timeout=10)
    cases.append(rpc.RangeRequest(key=b"k/", range_end=b"k0", revision=50))
    for request in cases:
        with pytest.raises(grpc.RpcError) as streamed:
            list(stub.RangeStream(request, timeout=10))
        with pytest.raises(grpc.RpcError) as ranged:
            stub.Range(request, timeout=10)
        assert (streamed.value.code(), streamed.value.details()) == (ranged.value.code(), ranged.value.details())


def test_no_chunk_is_larger_than_max_request_bytes_whatever_the_value_sizes(swetcd):
    rpc, rpc_grpc = grpc_stubs.load()
    server = swetcd()
    stub = rpc_grpc.KVStub(grpc.insecure_channel(server.endpoint.replace("http://", ""),
                                                 options=[("grpc.max_receive_message_length", 64 << 20)]))
    # Small keys first (the sizing learns small sizes), then values near the request limit.
    sizes = [10] * 200 + [1_400_000, 10, 900_000, 1_400_000] + [10] * 50 + [700_000] * 6
    for i, n in enumerate(sizes):
        stub.Put(rpc.PutRequest(key=b"b/%04d" % i, value=b"x" * n), timeout=30)
    request = rpc.RangeRequest(key=b"b/", range_end=b"b0")
    chunks, got = merged(rpc, stub, request)
    assert got == stub.Range(request, timeout=30)
    assert max(c.ByteSize() for c in chunks) <= 1572864 + 512
