"""How long a killed follower takes to serve again after its restart, under write load.

    python3 restart_latency.py [etcd|swetcd|PATH] [restarts=8] [down_seconds=2]

Per restart: kill -9 a follower while two writer threads keep putting, restart it after
`down_seconds`, and time from the restart until it answers a linearizable Range. Prints each
time and whether the member logged a snapshot received at startup.
"""
import sys
import threading
import time

import grpc

import cluster as clusterlib
import stubs


def main():
    which = sys.argv[1] if len(sys.argv) > 1 else "swetcd"
    binary = {"etcd": clusterlib.ETCD, "swetcd": clusterlib.SWETCD}.get(which, which)
    restarts = int(sys.argv[2]) if len(sys.argv) > 2 else 8
    down = float(sys.argv[3]) if len(sys.argv) > 3 else 2.0
    pb = stubs.load().rpc_pb2
    stop = threading.Event()
    with clusterlib.Cluster(binary, snapshot_count=1000, proxy=False) as c:
        def writer(i):
            n = 0
            while not stop.is_set():
                for m in c.members:
                    if stop.is_set() or not m.alive():
                        continue
                    try:
                        m.kv().Put(pb.PutRequest(key=b"w%d" % i, value=b"%d" % n), timeout=1)
                        n += 1
                    except grpc.RpcError:
                        pass
        threads = [threading.Thread(target=writer, args=(i,), daemon=True) for i in range(2)]
        for t in threads:
            t.start()
        times = []
        for _ in range(restarts):
            m = c.followers()[0]
            c.kill(m)
            stop.wait(down)
            with open(m.log_path, "rb") as f:
                log_start = len(f.read())
            t0 = time.monotonic()
            c.start_member(m)
            c.wait_ready(members=[m], timeout=60)
            took = time.monotonic() - t0
            with open(m.log_path, "rb") as f:
                f.seek(log_start)
                log = f.read().decode(errors="replace")
            snap = "snapshot at start" if "snapshot" in log and "receiv" in log else ""
            times.append(took)
            print(f"{m.name}: serving {took * 1000:6.0f} ms after restart  {snap}", flush=True)
            c.wait_ready(timeout=60)
        stop.set()
        for t in threads:
            t.join()
    times.sort()
    print(f"{binary}: median {times[len(times) // 2] * 1000:.0f} ms, max {times[-1] * 1000:.0f} ms")


if __name__ == "__main__":
    main()
