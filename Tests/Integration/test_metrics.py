"""/metrics in Prometheus text, read with Prometheus' own Python parser, on the client URL and on
--listen-metrics-urls: etcd's metric names, types and labels, and values that follow what clients
did (the counts etcd's TestV3Metrics* check, gRPC calls by method and code, has_leader, sizes)."""
import grpc
import pytest

import grpc_stubs
from conftest import free_port
from prometheus_text import scrape, value


def test_watchers_and_the_events_sent_to_them_are_counted(swetcd):
    server = swetcd()
    rpc, rpc_grpc = grpc_stubs.load()
    watch = rpc_grpc.WatchStub(grpc.insecure_channel(server.endpoint.replace("http://", "")))
    requests = [rpc.WatchRequest(create_request=rpc.WatchCreateRequest(key=b"w", range_end=b"x")),
                rpc.WatchRequest(create_request=rpc.WatchCreateRequest(key=b"w1"))]
    import queue
    sent = queue.Queue()
    for r in requests:
        sent.put(r)
    stream = watch.Watch(iter(sent.get, None), timeout=30)
    assert next(stream).created and next(stream).created
    server.ctl("put", "w1", "a")
    server.ctl("put", "w2", "b")
    seen = 0
    while seen < 3:  # w1 to both watchers, w2 to the range watcher
        seen += len(next(stream).events)
    samples, _ = scrape(server.endpoint)
    assert value(samples, "etcd_debugging_mvcc_watcher_total") == 2
    assert value(samples, "etcd_debugging_mvcc_watch_stream_total") == 1
    assert value(samples, "etcd_debugging_mvcc_slow_watcher_total") == 0
    assert value(samples, "etcd_debugging_mvcc_events_total") == 3
    bidi = dict(grpc_method="Watch", grpc_service="etcdserverpb.Watch", grpc_type="bidi_stream")
    assert value(samples, "grpc_server_msg_received_total", **bidi) == 2  # two create requests
    assert value(samples, "grpc_server_msg_sent_total", **bidi) >= 4  # two created, then the events
    sent.put(None)
    stream.cancel()


def test_metrics_follow_what_clients_did(swetcd):
    metrics_port = free_port()
    server = swetcd(extra=["--listen-metrics-urls", f"http://127.0.0.1:{metrics_port}"])
    server.ctl("put", "k", "v")
    for i in range(1, 4):
        server.ctl("put", str(i), "v")
        server.ctl("del", str(i))
    server.ctl("get", "k")
    server.ctl("txn", input=b"\nput t1 a\nput t2 b\n\n\n")
    server.ctl("lock", "mutex", "--", "true")
    rpc, rpc_grpc = grpc_stubs.load()
    kv = rpc_grpc.KVStub(grpc.insecure_channel(server.endpoint.replace("http://", "")))
    with pytest.raises(grpc.RpcError):
        kv.Range(rpc.RangeRequest(key=b""), timeout=10)

    for url in (server.endpoint, f"http://127.0.0.1:{metrics_port}"):
        samples, types = scrape(url)
        # etcd's TestV3Metrics* lines, after the same puts and deletes.
        assert value(samples, "etcd_server_version", server_version="3.5.16") == 1
        assert value(samples, "etcd_cluster_version", cluster_version="3.5") == 1
        assert value(samples, "etcd_debugging_mvcc_keys_total") == 3  # k, t1, t2 (the lock key is gone)
        # puts: k, 1, 2, 3, t1, t2 and the lock's key; deletes: 1, 2, 3 and the unlock.
        assert value(samples, "etcd_mvcc_put_total") == 7
        assert value(samples, "etcd_mvcc_delete_total") == 4
        assert value(samples, "etcd_mvcc_txn_total") >= 2  # the txn above and the lock's acquire
        assert types["etcd_mvcc_put"] == "counter"  # the parser names a counter family without _total
        assert value(samples, "etcd_server_has_leader") == 1
        assert value(samples, "etcd_server_is_leader") == 1
        assert value(samples, "etcd_server_leader_changes_seen_total") == 1
        assert value(samples, "etcd_server_proposals_applied_total") >= 10
        assert value(samples, "etcd_server_proposals_pending") == 0
        assert value(samples, "etcd_mvcc_db_total_size_in_bytes") >= value(samples, "etcd_mvcc_db_total_size_in_use_in_bytes") > 0
        assert types["etcd_disk_wal_fsync_duration_seconds"] == "histogram"
        assert value(samples, "etcd_disk_wal_fsync_duration_seconds_count") > 0
        assert value(samples, "etcd_disk_backend_commit_duration_seconds_count") > 0
        unary = dict(grpc_service="etcdserverpb.KV", grpc_type="unary")
        assert value(samples, "grpc_server_started_total", grpc_method="Put", **unary) == 4
        assert value(samples, "grpc_server_handled_total", grpc_code="OK", grpc_method="Put", **unary) == 4
        assert value(samples, "grpc_server_handled_total", grpc_code="InvalidArgument", grpc_method="Range", **unary) == 1
        assert value(samples, "grpc_server_handled_total", grpc_code="OK", grpc_method="Range", **unary) >= 1
        assert value(samples, "grpc_server_msg_received_total", grpc_method="Put", **unary) == 4
        assert value(samples, "grpc_server_msg_sent_total", grpc_method="Put", **unary) == 4
        assert value(samples, "etcd_debugging_mvcc_watcher_total") == 0
        # the lock's session lease: granted (TTL 60), kept alive, not revoked
        assert value(samples, "etcd_debugging_lease_granted_total") == 1
        assert value(samples, "etcd_debugging_lease_revoked_total") == 0
        assert value(samples, "etcd_debugging_lease_ttl_total_count") == 1
        assert value(samples, "etcd_debugging_lease_ttl_total_bucket", le="64.0") == 1
        assert value(samples, "etcd_debugging_mvcc_events_total") >= 0
        assert value(samples, "process_resident_memory_bytes") > 1 << 20
        assert value(samples, "process_open_fds") > 0


def test_extensive_metrics_add_grpc_handling_time_histograms(swetcd):
    """`--metrics extensive`: go-grpc-prometheus's `grpc_server_handling_seconds` for every method
    (what etcd's etcdGRPCRequestsSlow alert reads); `basic` has none. The server's slow-apply,
    heartbeat and read-index failure counters exist from the start, at zero."""
    basic = swetcd(name="basic")
    samples, types = scrape(basic.endpoint)
    assert "grpc_server_handling_seconds" not in types
    for name in ("etcd_server_slow_apply_total", "etcd_server_heartbeat_send_failures_total",
                 "etcd_server_read_indexes_failed_total"):
        assert value(samples, name) == 0, name
    extensive = swetcd(name="extensive", extra=["--metrics", "extensive"])
    for i in range(3):
        extensive.ctl("put", f"k{i}", "v")
    samples, types = scrape(extensive.endpoint)
    assert types["grpc_server_handling_seconds"] == "histogram"
    put = dict(grpc_method="Put", grpc_service="etcdserverpb.KV", grpc_type="unary")
    assert value(samples, "grpc_server_handling_seconds_count", **put) == 3
    assert value(samples, "grpc_server_handling_seconds_bucket", le="+Inf", **put) == 3
    assert 0 < value(samples, "grpc_server_handling_seconds_sum", **put) < 30
    # Pre-registered, as go-grpc-prometheus does: a method never called has its series at zero.
    assert value(samples, "grpc_server_handling_seconds_count", grpc_method="Compact",
                 grpc_service="etcdserverpb.KV", grpc_type="unary") == 0
