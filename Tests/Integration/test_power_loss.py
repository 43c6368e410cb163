"""Power loss: swetcd's data dir on lazyfs (Tests/PowerLoss/lazyfs.py), a FUSE file system that
keeps every write not yet fsynced in a volatile state and drops it on a simulated power cut.
Unlike kill -9 (the page cache survives), this finds a missing fsync or directory fsync.

First the file system's own model is checked (what a cut keeps, mmap coherence, freeze); then
power-loss cycles run against the release binary (see Tests/PowerLoss/powerloss.py): writers,
defrags, snapshots and WAL segment cuts, a cut at a seeded random moment or right after a chosen
file-system event, restart, and every acknowledged write checked at its revision.

Needs root, /dev/fuse and Debian's python3-pyfuse3 + fuse3 (skipped without them).
POWERLOSS_SEED and POWERLOSS_CYCLES override the seed and cycle count; a failure prints the seed.
For long runs: python3 Tests/PowerLoss/run.py --cycles 200 --seed S.
"""
import ctypes
import errno
import mmap
import os
import random
import sys
import threading
import time

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "PowerLoss"))
import powerloss  # noqa: E402

why_not = powerloss.fuse_available() or (None if os.geteuid() == 0 else "needs root for FUSE")
pytestmark = pytest.mark.skipif(why_not is not None, reason=f"lazyfs cannot run: {why_not}")

SEED = int(os.environ.get("POWERLOSS_SEED", str(random.randrange(1 << 31))))
CYCLES = int(os.environ.get("POWERLOSS_CYCLES", "8"))


@pytest.fixture
def lazy(workdir):
    """A mounted lazyfs; `remount()` after a power cut; unmounted at the end."""
    fs = powerloss.LazyMount(workdir).mount()

    def remount():
        fs.unmount()
        fs.mount()
        return fs.mountpoint

    fs.remount = remount
    yield fs
    if fs.proc and fs.proc.poll() is None:
        fs.ctl("thaw")
    fs.unmount()


def write_file(path, data, sync=True, flags=0):
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | flags, 0o600)
    try:
        os.pwrite(fd, data, 0)
        if sync:
            os.fsync(fd)
    finally:
        os.close(fd)


def sync_dir(path):
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def read(path):
    with open(path, "rb") as f:
        return f.read()


def test_lazyfs_keeps_exactly_what_was_synced(lazy):
    m = lazy.mountpoint
    write_file(f"{m}/synced", b"A" * 10000)
    write_file(f"{m}/old-name", b"B" * 10)
    write_file(f"{m}/doomed", b"D")
    os.mkdir(f"{m}/dir")
    sync_dir(m)
    # Not durable: data past the last fsync, a name in a directory not fsynced since, a rename,
    # an unlink, a new directory's contents, a truncation.
    with open(f"{m}/synced", "r+b") as f:
        f.seek(5000)
        f.write(b"X" * 8000)
    write_file(f"{m}/unnamed", b"C" * 100)  # data synced, name not
    os.rename(f"{m}/old-name", f"{m}/new-name")
    os.unlink(f"{m}/doomed")
    write_file(f"{m}/dir/inner", b"I")
    write_file(f"{m}/dsync", b"S" * 5, flags=os.O_DSYNC, sync=False)  # data durable, name not
    sync_dir(f"{m}/dir")  # makes dir/inner's name durable (dir's own name was synced above)
    os.truncate(f"{m}/new-name", 2)
    assert read(f"{m}/synced")[4999:5001] == b"AX"  # reads see the volatile state
    cut = lazy.ctl("power-cut")
    assert cut["ok"]
    m = lazy.remount()
    assert sorted(os.listdir(m)) == ["dir", "doomed", "old-name", "synced"]
    assert read(f"{m}/synced") == b"A" * 10000
    assert read(f"{m}/old-name") == b"B" * 10
    assert read(f"{m}/doomed") == b"D"
    assert os.listdir(f"{m}/dir") == ["inner"] and read(f"{m}/dir/inner") == b"I"
    paths = {e["path"] for e in cut["entries_dropped"]}
    assert {"unnamed", "new-name", "old-name", "doomed", "dsync"} <= paths

    # fsync of the directory makes creations and renames durable; O_DSYNC writes need no fsync.
    write_file(f"{m}/dsync", b"S" * 5, flags=os.O_DSYNC, sync=False)
    os.rename(f"{m}/old-name", f"{m}/new-name")
    sync_dir(m)
    lazy.ctl("power-cut")
    m = lazy.remount()
    assert sorted(os.listdir(m)) == ["dir", "doomed", "dsync", "new-name", "synced"]
    assert read(f"{m}/dsync") == b"S" * 5 and read(f"{m}/new-name") == b"B" * 10


def test_lazyfs_mmap_sees_pwrite_and_growth(lazy):
    """LMDB maps its data file read-only (larger than the file) and writes with pwrite."""
    path = f"{lazy.mountpoint}/mapped"
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    ro = os.open(path, os.O_RDONLY)
    libc = ctypes.CDLL(None, use_errno=True)
    libc.mmap.restype = ctypes.c_void_p
    libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_long]
    size = 1 << 20
    addr = libc.mmap(None, size, mmap.PROT_READ, mmap.MAP_SHARED, ro, 0)
    assert addr not in (None, ctypes.c_void_p(-1).value), f"mmap failed: errno {ctypes.get_errno()}"
    try:
        os.pwrite(fd, b"\0" * 8192, 0)
        os.pwrite(fd, b"hello", 100)
        assert ctypes.string_at(addr + 100, 5) == b"hello"
        os.pwrite(fd, b"Z", 4095)  # unaligned, across a page boundary next
        os.pwrite(fd, b"ab", 4095)
        assert ctypes.string_at(addr + 4095, 2) == b"ab"
        os.pwrite(fd, b"grow" * 2048, 8192)  # the file grows under the map
        assert ctypes.string_at(addr + 8192, 8) == b"growgrow"
        os.pwrite(fd, b"again", 100)  # a page already faulted in
        assert ctypes.string_at(addr + 100, 5) == b"again"
    finally:
        libc.munmap(ctypes.c_void_p(addr), ctypes.c_size_t(size))
        os.close(ro)
        os.close(fd)


def test_lazyfs_freeze_blocks_and_power_cut_fails_pending_requests(lazy):
    m = lazy.mountpoint
    write_file(f"{m}/f", b"x")
    sync_dir(m)
    lazy.ctl("freeze")
    result = {}

    def blocked_write():
        try:
            write_file(f"{m}/f", b"y")
            result["ok"] = True
        except OSError as e:
            result["errno"] = e.errno

    t = threading.Thread(target=blocked_write)
    t.start()
    time.sleep(0.3)
    assert t.is_alive(), "an operation went through a frozen file system"
    lazy.ctl("power-cut")
    t.join(timeout=10)
    assert result.get("errno") == errno.EIO
    m = lazy.remount()
    assert read(f"{m}/f") == b"x"


def test_lazyfs_armed_trigger_freezes_after_the_event(lazy):
    m = lazy.mountpoint
    lazy.ctl("arm rename *.wal 0")
    write_file(f"{m}/0.tmp", b"h")
    os.rename(f"{m}/0.tmp", f"{m}/0.wal")
    st = lazy.ctl("stats")
    assert st["frozen"] and st["triggered"]["name"] == "0.wal"
    lazy.ctl("thaw")
    sync_dir(m)


def test_lazyfs_torn_cut_keeps_part_of_the_unsynced_pages(lazy):
    m = lazy.mountpoint
    write_file(f"{m}/torn", b"\0" * (64 * 4096))
    sync_dir(m)
    fd = os.open(f"{m}/torn", os.O_WRONLY)
    for p in range(64):
        os.pwrite(fd, b"\xff" * 4096, p * 4096)
    os.close(fd)
    cut = lazy.ctl("power-cut keep=0.5 seed=7")
    m = lazy.remount()
    data = read(f"{m}/torn")
    kept = sum(1 for p in range(64) if data[p * 4096] == 0xff)
    assert len(data) == 64 * 4096 and 0 < kept < 64 and kept == cut["pages_kept"]
    assert all(data[p * 4096:(p + 1) * 4096] in (b"\0" * 4096, b"\xff" * 4096) for p in range(64))


def report_failures(run, summary):
    lines = [f"power-loss seed {run.seed} (rerun: POWERLOSS_SEED={run.seed} or "
             f"python3 Tests/PowerLoss/run.py --seed {run.seed}): {summary['lost_writes']} lost writes, "
             f"{summary['anomalies']} anomalies, {summary['start_failures']} failed restarts"]
    for f in summary["failures"][:3]:
        lines.append(f"cycle {f['cycle']} ({f['scenario']}):")
        lines += ["  " + x for x in (f["lost"] + f["anomalies"])[:8]]
        lines.append("  directory entries the cut dropped: " + ", ".join(
            f"{e['path']} ({e['what']})" for e in f["cut_entries_dropped"][:12]))
        lines.append("  server log:\n" + "\n".join("    " + x for x in f["server_log"][-2500:].splitlines()))
    return "\n".join(lines)


def start_member(fs, workdir, name="swetcd.log"):
    data = os.path.join(fs.mountpoint, "data")
    if not os.path.exists(data):
        os.makedirs(data, mode=0o700)
        fs.ctl("sync")  # the data dir itself is the operator's: durable before the server runs
    return powerloss.Member(data, os.path.join(workdir, name), ["--snapshot-count", "100"]).start()


def power_cut(fs, member):
    """Freeze, SIGKILL, drop what is volatile, remount: returns the cut's report."""
    fs.ctl("freeze")
    member.kill()
    cut = fs.ctl("power-cut")
    member.wait_exit(60)
    fs.unmount()
    fs.mount()
    return cut


def test_power_loss_after_bootstrap_keeps_acknowledged_writes(lazy, workdir):
    """A fresh member, some acknowledged puts, a power cut: all of them must be there."""
    import grpc
    rpc_pb2, rpc_pb2_grpc = powerloss.load_stubs()
    member = start_member(lazy, workdir)
    member.wait_ready()
    acked = []
    with grpc.insecure_channel(member.endpoint) as ch:
        kv = rpc_pb2_grpc.KVStub(ch)
        for i in range(20):
            acked.append((b"k%d" % i, kv.Put(rpc_pb2.PutRequest(key=b"k%d" % i, value=b"v%d" % i)).header.revision))
    cut = power_cut(lazy, member)
    member = start_member(lazy, workdir)
    try:
        member.wait_ready()
        with grpc.insecure_channel(member.endpoint) as ch:
            kv = rpc_pb2_grpc.KVStub(ch)
            got = {x.key: x.mod_revision for x in kv.Range(rpc_pb2.RangeRequest(key=b"k", range_end=b"l")).kvs}
    finally:
        member.kill()
        member.wait_exit()
    lost = [(k, rev) for k, rev in acked if got.get(k) != rev]
    assert not lost, (f"{len(lost)} of {len(acked)} acknowledged puts lost; the cut dropped these directory "
                      f"entries: {[e['path'] for e in cut['entries_dropped']]}")


def test_crash_during_first_start_leaves_a_startable_data_dir(lazy, workdir):
    """Stop the very first start right after the first segment's temporary file is fsynced,
    keep everything (as kill -9 would), and start again."""
    lazy.ctl("arm fsync *.wal.tmp 0")
    member = start_member(lazy, workdir)
    deadline = time.time() + 60
    while not lazy.ctl("stats")["frozen"] and time.time() < deadline:
        time.sleep(0.02)
    assert lazy.ctl("stats")["triggered"], "the first start never fsynced a .wal.tmp"
    lazy.ctl("sync")  # nothing is lost: this is what kill -9 at this moment leaves
    power_cut(lazy, member)
    member = start_member(lazy, workdir)
    try:
        member.wait_ready(timeout=30)
    except powerloss.ServerFailed as e:
        pytest.fail(f"swetcd cannot start after a crash during its first start: {e}\n{e.log[-1500:]}")
    finally:
        member.kill()
        member.wait_exit()


def test_power_loss_cycles_lose_no_acknowledged_write(workdir):
    """Cycles of writes + defrags + snapshots + segment cuts, power cuts at random moments or
    right after chosen file-system events, restarts, full checks. The first cut may fall in the
    very first start too."""
    print(f"power-loss seed {SEED}, {CYCLES} cycles")
    run = powerloss.Run(SEED, workdir, max_run=5.0, report=print, sync_after_bootstrap=False)
    summary = run.run(CYCLES)
    print(f"seed {SEED}: {summary['cycles']} cycles, {summary['acked_checked']} acknowledged writes checked, "
          f"scenarios {summary['scenarios']}")
    assert not summary["lost_writes"] and not summary["start_failures"] and not summary["anomalies"], \
        report_failures(run, summary)
    assert summary["cycles"] == CYCLES
    assert summary["acked_checked"] > 10 * CYCLES, f"seed {SEED}: too few writes acknowledged to mean anything"
