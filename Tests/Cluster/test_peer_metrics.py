"""etcd's `etcd_network_*` metrics on a 3-member cluster, read with Prometheus' own parser:
bytes both ways, the `/raft/probing` round trip and active peers for every pair of members; a
killed member shows up as a disconnected, inactive peer on the others."""
import os
import sys
import time

import pytest

import cluster as clusterlib
import stubs

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "Integration"))
import prometheus_text  # noqa: E402
from prometheus_text import value  # noqa: E402

SWETCD = clusterlib.SWETCD
pytestmark = pytest.mark.skipif(not os.access(SWETCD, os.X_OK), reason=f"no binary at {SWETCD}")


def scrape(m):
    return prometheus_text.scrape(m.client_url)


def until(what, fn, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if fn():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def test_peer_traffic_round_trips_and_disconnections_are_counted():
    pb = stubs.load().rpc_pb2
    with clusterlib.Cluster(SWETCD, size=3, token="peer-metrics") as c:
        for i in range(20):
            c.leader().kv().Put(pb.PutRequest(key=f"k{i}".encode(), value=b"v" * 100), timeout=5)
        c.wait_converged()

        def pairs_counted():
            for m in c.members:
                samples, _ = scrape(m)
                for o in c.members:
                    if o is m:
                        continue
                    peer = f"{o.member_id:x}"
                    if not (value(samples, "etcd_network_peer_sent_bytes_total", To=peer) or 0) > 0:
                        return False
                    if not (value(samples, "etcd_network_peer_received_bytes_total", From=peer) or 0) > 0:
                        return False
                    if value(samples, "etcd_network_active_peers", Local=f"{m.member_id:x}", Remote=peer) != 1:
                        return False
                    if not (value(samples, "etcd_network_peer_round_trip_time_seconds_count", To=peer) or 0) >= 1:
                        return False
            return True
        until("every pair's traffic, round trip and activity", pairs_counted)
        _, types = scrape(c.members[0])
        assert types["etcd_network_peer_round_trip_time_seconds"] == "histogram"
        assert types["etcd_network_peer_sent_bytes"] == "counter"

        victim = c.followers()[0]
        c.kill(victim)
        others = [m for m in c.members if m is not victim]
        peer = f"{victim.member_id:x}"

        def seen_down():
            for m in others:
                samples, _ = scrape(m)
                local = f"{m.member_id:x}"
                if value(samples, "etcd_network_active_peers", Local=local, Remote=peer) != 0:
                    return False
                if not (value(samples, "etcd_network_disconnected_peers_total", Local=local, Remote=peer) or 0) >= 1:
                    return False
            return True
        # Writes keep the leader sending to the dead member until it gives up on it.
        until("the killed member counted as disconnected",
              lambda: (c.leader(members=others).kv().Put(pb.PutRequest(key=b"x", value=b"y"), timeout=5), seen_down())[1])
