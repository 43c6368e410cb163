#!/usr/bin/env python3
"""lazyfs: a FUSE file system that forgets everything that was not made durable.

In the spirit of LazyFS (dsrhaslab/lazyfs, used by Jepsen): a power-loss test needs a file
system that, on a simulated power cut, drops exactly what a real one may drop. `kill -9`
cannot show a missing fsync (the page cache survives the process); this can.

How it works
------------
The file system lives in a backing directory ("the disk"):

    <backing>/data/<ino>     the bytes of regular file <ino>
    <backing>/disk.json      the durable namespace and inode table (written at power cut/unmount)

While mounted, `data/<ino>` holds the *live* bytes (what reads and mmap see, as a page cache
would) and the daemon keeps, in memory, enough to go back to the *durable* state: for every
4 KiB page of a file overwritten since the file's last fsync, the page's durable bytes (an undo
copy taken at the first write), and the file's durable size. Directories are kept in memory:
each has its live entries and its durable entries (a copy taken at its last fsync). A power cut
puts every file back to its durable bytes and size, and every directory back to its durable
entries, then writes `disk.json`; the next mount starts from that state, as a machine rebooting
on the same disk.

Durability model (strict POSIX; what a power cut keeps)
-------------------------------------------------------
* File data and size: the bytes and size a file had at its last `fsync` or `fdatasync`
  (both count the same: fdatasync must persist a size change too). Writes through a descriptor
  opened with O_SYNC or O_DSYNC are durable when the write returns. Truncation, growth by writes,
  and fallocate-like extension (glibc emulates posix_fallocate with writes here: this FUSE layer
  has no fallocate) are size changes: durable at the next fsync of the file.
* File attributes (mode, uid, gid): as of the file's last fsync. Timestamps are not modelled.
* Directory entries: a directory's entries are what they were at its last fsync (`fsync` on a
  directory descriptor). So a created file, a mkdir, a symlink, a hard link, an unlink, an
  rmdir, and each side of a rename are durable only once the directory holding that entry is
  fsynced. `fsync` of a file does NOT make its name durable; fsync of a directory does not make
  the directory's own name in its parent durable. A rename between two directories is two
  changes, one per directory: if only one is synced the file may end up under both names or
  under none (POSIX allows it; a journalling file system would not, see `--model journal`).
* A new directory's durable contents are empty until it is fsynced.
* After a cut, what is reachable from the root through durable entries is the disk. A file
  with synced data but no durable name is lost (counted as orphaned). A directory durably
  reachable through two names keeps the first in name order (counted as an fsck fix).

`--model journal` is the weaker, ext4-like model (an fsync or fdatasync of any file or directory
also makes every namespace change made before it durable, as a journal commit would): use it to
tell a missing directory fsync from other bugs. Data is strict in both models.

Torn power cuts (`power-cut keep=P`): instead of dropping every volatile change, each dirty
4 KiB page of each file is independently kept (as if written back) with probability P, each
file ends at its live size with probability P (else its durable size; pages reverted inside it
read back their durable bytes, or zeros past the durable size), and each directory with pending
changes keeps its live entries with probability P. That is what real writeback may leave; it
is expected to break software that relies on ordering without fsync.

Control channel
---------------
A Unix socket (`--control PATH`), one command per line, one JSON reply per line:

    ping                       {"ok": true}
    freeze                     block every later operation (requests wait in the daemon)
    thaw                       let them go on
    arm OP GLOB DELAY [N]      freeze DELAY seconds after the N-th (default 1) completed
                               operation OP (create, mkdir, rename, unlink, rmdir, link,
                               symlink, fsync, fsyncdir, truncate, write, or any) whose entry name
                               (for rename: the new name; for fsync/write/truncate: the file's
                               name) matches the shell pattern GLOB
    disarm                     cancel an armed trigger
    stats                      counters, frozen/armed/triggered state
    sync                       make everything durable (as sync(1))
    power-cut [keep=P] [seed=S] [only=GLOB]
                               drop every volatile change (or a random part: see above;
                               with only=, tear only files whose path matches GLOB),
                               write disk.json, and fail every later request with EIO, pending
                               ones included (so a process killed while frozen can exit).
                               Reply: what was dropped (paths, bytes).
    exit                       unmount and exit (after a sync, unless the power was cut)

Freeze + SIGKILL + power-cut + exit + mount again is the power-loss cycle (see powerloss.py).

Usage:
    lazyfs.py mount BACKING MOUNTPOINT --control SOCKET [--model strict|journal] [--trace FILE]
    lazyfs.py export BACKING DEST      copy the disk's durable tree to DEST as plain files
    lazyfs.py ctl SOCKET COMMAND...    send one control command, print the reply

Needs pyfuse3 (Debian: python3-pyfuse3, which brings python3-trio and libfuse3-3; the fuse3
package for fusermount3) and /dev/fuse.
"""
import errno
import fnmatch
import json
import os
import random
import shutil
import socket
import stat
import sys
import time

PAGE = 4096
ZERO_PAGE = bytes(PAGE)
# The kernel may cache what we answer for this long: nothing changes behind its back (a power
# cut is followed by unmounting), so long timeouts only save round trips.
CACHE_SECONDS = 3600.0


class Inode:
    """One file, directory or symlink: live state, and what a power cut would go back to."""

    __slots__ = (
        "ino", "kind", "mode", "uid", "gid", "target", "atime", "mtime", "ctime",
        # regular files
        "fd", "size", "durable_size", "saved", "dirty", "durable_attrs", "opens",
        # directories
        "entries", "durable_entries", "parent",
        # bookkeeping
        "nlink", "durable_links",
    )

    def __init__(self, ino, kind, mode, uid, gid):
        now = time.time_ns()
        self.ino = ino
        self.kind = kind  # "file", "dir" or "symlink"
        self.mode = mode
        self.uid = uid
        self.gid = gid
        self.target = b""
        self.atime = self.mtime = self.ctime = now
        self.fd = -1
        self.size = 0  # live size
        self.durable_size = 0
        self.saved = {}  # page number -> durable bytes of that page (None: all zeros)
        self.dirty = set()  # pages written (or cut off) since the last fsync
        self.durable_attrs = (mode, uid, gid)
        self.opens = 0
        self.entries = {} if kind == "dir" else None  # name (bytes) -> ino, live
        self.durable_entries = {} if kind == "dir" else None  # as of the last fsync
        self.parent = None  # directories: live parent inode number
        self.nlink = 0  # live names
        self.durable_links = 0  # durable names (entries in some durable_entries)

    def has_volatile_data(self):
        return bool(self.dirty) or self.size != self.durable_size or \
            self.durable_attrs != (self.mode, self.uid, self.gid)


class Disk:
    """The durable state in the backing directory: `data/<ino>` files and `disk.json`."""

    def __init__(self, backing):
        self.backing = os.path.abspath(backing)
        self.data_dir = os.path.join(self.backing, "data")
        self.meta_path = os.path.join(self.backing, "disk.json")

    def data_path(self, ino):
        return os.path.join(self.data_dir, str(ino))

    def load(self):
        """The inode table and next inode number (a fresh disk: an empty root)."""
        os.makedirs(self.data_dir, exist_ok=True)
        if not os.path.exists(self.meta_path):
            return {1: {"kind": "dir", "mode": stat.S_IFDIR | 0o755, "uid": os.getuid(),
                        "gid": os.getgid(), "entries": {}}}, 2
        with open(self.meta_path) as f:
            doc = json.load(f)
        table = {}
        for ino, rec in doc["inodes"].items():
            if "entries" in rec:
                rec["entries"] = {bytes.fromhex(k): v for k, v in rec["entries"].items()}
            if "target" in rec:
                rec["target"] = bytes.fromhex(rec["target"])
            table[int(ino)] = rec
        return table, doc["next_ino"]

    def store(self, table, next_ino):
        """Writes the inode table (records as `load` returns them) and deletes data files of
        inodes not in it."""
        doc = {"next_ino": next_ino, "inodes": {}}
        for ino, rec in table.items():
            rec = dict(rec)
            if "entries" in rec:
                rec["entries"] = {k.hex(): v for k, v in rec["entries"].items()}
            if "target" in rec:
                rec["target"] = rec["target"].hex()
            doc["inodes"][str(ino)] = rec
        tmp = self.meta_path + ".tmp"
        with open(tmp, "w") as f:
            json.dump(doc, f)
        os.replace(tmp, self.meta_path)
        for name in os.listdir(self.data_dir):
            if not name.isdigit() or int(name) not in table:
                os.unlink(os.path.join(self.data_dir, name))

    def export(self, dest):
        """Copies the durable tree to `dest` as ordinary files (for inspecting a failure)."""
        table, _ = self.load()

        def walk(ino, path):
            rec = table[ino]
            os.makedirs(path, exist_ok=True)
            for name, child in sorted(rec["entries"].items()):
                c = table[child]
                p = os.path.join(path, os.fsdecode(name))
                if c["kind"] == "dir":
                    walk(child, p)
                elif c["kind"] == "symlink":
                    os.symlink(c["target"], p)
                else:
                    shutil.copyfile(self.data_path(child), p)
                    with open(p, "r+b") as f:
                        f.truncate(c["size"])
        walk(1, dest)


def _import_pyfuse3():
    try:
        import pyfuse3
        import trio
    except ImportError as e:  # pragma: no cover - environment problem
        sys.exit(f"lazyfs needs pyfuse3 and trio (Debian: apt-get install python3-pyfuse3 fuse3): {e}")
    return pyfuse3, trio


def make_filesystem_class():
    """Defined late so `export`/`ctl` work without pyfuse3."""
    pyfuse3, trio = _import_pyfuse3()
    FUSEError = pyfuse3.FUSEError

    class LazyFS(pyfuse3.Operations):
        enable_writeback_cache = False  # write-through: each write() reaches us before it returns

        def __init__(self, backing, model="strict", trace=None):
            super().__init__()
            assert model in ("strict", "journal")
            self.disk = Disk(backing)
            self.model = model
            self.trace_file = open(trace, "a", buffering=1) if trace else None
            self.inodes = {}
            self.handles = {}  # fh -> (inode, sync_writes) for files, [inode, listing] for dirs
            self.next_fh = 1
            self.ns_dirty = set()  # directories whose live entries differ from the durable ones
            self.frozen = False
            self.frozen_at = None
            self.dead = False  # power was cut: every request fails
            self.thawed = trio.Event()
            self.thawed.set()
            self.trigger = None  # dict: op, glob, delay, remaining
            self.triggered = False
            self.nursery = None
            self.counters = dict(ops=0, writes=0, bytes_written=0, reads=0, fsyncs=0,
                                 fdatasyncs=0, fsyncdirs=0, namespace_ops=0, power_cuts=0,
                                 internal_errors=0)
            self.op_counts = {}
            self._load()

        # ---- loading and saving the disk ----------------------------------------------------

        def _load(self):
            table, self.next_ino = self.disk.load()
            for ino, rec in table.items():
                node = Inode(ino, rec["kind"], rec["mode"], rec["uid"], rec["gid"])
                if node.kind == "dir":
                    node.entries = dict(rec["entries"])
                    node.durable_entries = dict(rec["entries"])
                elif node.kind == "symlink":
                    node.target = rec["target"]
                else:
                    path = self.disk.data_path(ino)
                    node.fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
                    os.ftruncate(node.fd, rec["size"])
                    node.size = node.durable_size = rec["size"]
                self.inodes[ino] = node
            for node in list(self.inodes.values()):
                if node.kind == "dir":
                    for child in node.entries.values():
                        c = self.inodes[child]
                        c.nlink += 1
                        c.durable_links += 1
                        if c.kind == "dir":
                            c.parent = node.ino
            self.inodes[1].parent = 1
            self.inodes[1].nlink = self.inodes[1].durable_links = 1

        def _durable_table(self):
            """The durable inode table: what is reachable from the root through durable
            entries, at durable sizes. Call after the cut (live == durable)."""
            table = {}
            for node in self.inodes.values():
                if node.ino != 1 and node.nlink == 0:
                    continue
                rec = {"kind": node.kind, "mode": node.mode, "uid": node.uid, "gid": node.gid}
                if node.kind == "dir":
                    rec["entries"] = dict(node.entries)
                elif node.kind == "symlink":
                    rec["target"] = node.target
                else:
                    rec["size"] = node.size
                table[node.ino] = rec
            return table

        # ---- request gate, counters, triggers ------------------------------------------------

        async def _enter(self, op):
            while self.frozen and not self.dead:
                await self.thawed.wait()
            if self.dead:
                raise FUSEError(errno.EIO)
            self.counters["ops"] += 1
            self.op_counts[op] = self.op_counts.get(op, 0) + 1

        def _done(self, op, name):
            """Called after an operation took effect: fires an armed trigger."""
            if self.trace_file and op not in ("write",):
                self.trace_file.write(f"{time.time():.6f} {op} {os.fsdecode(name) if name else ''}\n")
            t = self.trigger
            if t is None or (t["op"] != "any" and t["op"] != op):
                return
            if not fnmatch.fnmatchcase(os.fsdecode(name or b""), t["glob"]):
                return
            t["remaining"] -= 1
            if t["remaining"] > 0:
                return
            self.trigger = None
            self.triggered = {"op": op, "name": os.fsdecode(name or b""), "at": time.time()}
            if t["delay"] <= 0:
                self.freeze()
            else:
                self.nursery.start_soon(self._freeze_later, t["delay"])

        async def _freeze_later(self, delay):
            await trio.sleep(delay)
            self.freeze()

        def freeze(self):
            if not self.frozen:
                self.frozen = True
                self.frozen_at = time.time()
                self.thawed = trio.Event()

        def thaw(self):
            self.frozen = False
            self.thawed.set()

        def _name_of(self, node):
            """Some live name of a file (for triggers and traces), or b''."""
            for d in self.inodes.values():
                if d.kind == "dir":
                    for name, ino in d.entries.items():
                        if ino == node.ino:
                            return name
            return b""

        def _file_path(self, node):
            """A live path of a file (for reports), or a note that it has no name."""
            for d in self.inodes.values():
                if d.kind == "dir":
                    for name, ino in d.entries.items():
                        if ino == node.ino:
                            return self.path_of(d.ino, name)
            return f"<unlinked ino {node.ino}>"

        def path_of(self, dir_ino, name=None):
            """A live path (relative to the mount) of a directory, plus an entry name."""
            parts = [] if name is None else [os.fsdecode(name)]
            ino = dir_ino
            seen = set()
            while ino != 1 and ino not in seen:
                seen.add(ino)
                node = self.inodes[ino]
                parent = self.inodes.get(node.parent)
                if parent is None:
                    parts.append(f"<ino {ino}>")
                    break
                pname = next((n for n, i in parent.entries.items() if i == ino), None)
                if pname is None:
                    pname = next((n for n, i in parent.durable_entries.items() if i == ino), None)
                parts.append(os.fsdecode(pname) if pname is not None else f"<ino {ino}>")
                ino = parent.ino
            return "/".join(reversed(parts))

        # ---- attributes -------------------------------------------------------------------------

        def _attrs(self, node):
            a = pyfuse3.EntryAttributes()
            a.st_ino = node.ino
            a.generation = 0
            a.entry_timeout = CACHE_SECONDS
            a.attr_timeout = CACHE_SECONDS
            a.st_mode = node.mode
            if node.kind == "dir":
                a.st_nlink = 2 + sum(1 for i in node.entries.values() if self.inodes[i].kind == "dir")
            else:
                a.st_nlink = max(node.nlink, 0)
            a.st_uid = node.uid
            a.st_gid = node.gid
            a.st_rdev = 0
            size = node.size if node.kind == "file" else (len(node.target) if node.kind == "symlink" else 4096)
            a.st_size = size
            a.st_blksize = PAGE
            a.st_blocks = (size + 511) // 512
            a.st_atime_ns = node.atime
            a.st_mtime_ns = node.mtime
            a.st_ctime_ns = node.ctime
            return a

        def _node(self, ino):
            node = self.inodes.get(ino)
            if node is None:
                raise FUSEError(errno.ENOENT)
            return node

        def _dir(self, ino):
            node = self._node(ino)
            if node.kind != "dir":
                raise FUSEError(errno.ENOTDIR)
            return node

        def _new_inode(self, kind, mode, ctx):
            ino = self.next_ino
            self.next_ino += 1
            node = Inode(ino, kind, mode, ctx.uid, ctx.gid)
            if kind == "file":
                node.fd = os.open(self.disk.data_path(ino), os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
            self.inodes[ino] = node
            return node

        # ---- the volatile state: data ------------------------------------------------------------

        def _save_pages(self, node, start, end):
            """Before bytes [start, end) of `node` change: keep the durable bytes of each page
            in that range not yet saved, and mark the pages dirty."""
            if end <= start:
                return
            first, last = start // PAGE, (end - 1) // PAGE
            durable = node.durable_size
            saved, dirty = node.saved, node.dirty
            for p in range(first, last + 1):
                if p in dirty:
                    continue
                dirty.add(p)
                off = p * PAGE
                if off < durable and p not in saved:
                    data = os.pread(node.fd, min(PAGE, durable - off), off)
                    saved[p] = None if data == ZERO_PAGE[:len(data)] else data

        def _write(self, node, off, buf):
            n = len(buf)
            self._save_pages(node, off, off + n)
            written = os.pwrite(node.fd, buf, off)
            if off + written > node.size:
                node.size = off + written
            node.mtime = node.ctime = time.time_ns()
            self.counters["writes"] += 1
            self.counters["bytes_written"] += written
            return written

        def _truncate(self, node, size):
            if size < node.size:
                self._save_pages(node, size, max(node.size, node.durable_size))
            elif size > node.size:
                self._save_pages(node, node.size, size)
            os.ftruncate(node.fd, size)
            node.size = size
            node.mtime = node.ctime = time.time_ns()

        def _make_durable(self, node):
            """fsync/fdatasync of a file: its data, size and attributes become durable."""
            if node.kind == "file":
                node.saved = {}
                node.dirty = set()
                node.durable_size = node.size
            node.durable_attrs = (node.mode, node.uid, node.gid)
            if self.model == "journal":
                self._commit_namespace()

        # ---- the volatile state: namespace -------------------------------------------------------

        def _link(self, d, name, ino):
            d.entries[name] = ino
            self.inodes[ino].nlink += 1
            self._ns_changed(d)

        def _unlink(self, d, name):
            ino = d.entries.pop(name)
            node = self.inodes[ino]
            node.nlink -= 1
            self._ns_changed(d)
            self._maybe_free(node)
            return node

        def _ns_changed(self, d):
            self.ns_dirty.add(d.ino)
            d.mtime = d.ctime = time.time_ns()
            self.counters["namespace_ops"] += 1

        def _sync_dir(self, d):
            """fsync of a directory: its entries become durable."""
            if d.entries == d.durable_entries:
                self.ns_dirty.discard(d.ino)
                return
            old = d.durable_entries
            for ino in old.values():
                self.inodes[ino].durable_links -= 1
            d.durable_entries = dict(d.entries)
            for ino in d.durable_entries.values():
                self.inodes[ino].durable_links += 1
            self.ns_dirty.discard(d.ino)
            for ino in old.values():
                self._maybe_free(self.inodes[ino])

        def _commit_namespace(self):
            for ino in list(self.ns_dirty):
                self._sync_dir(self.inodes[ino])

        def _maybe_free(self, node):
            """Deletes a file's bytes once nothing can reach them again: no live name, no open
            descriptor, no durable name."""
            if node.kind == "file" and node.nlink == 0 and node.opens == 0 and node.durable_links == 0 and node.fd >= 0:
                os.close(node.fd)
                node.fd = -1
                os.unlink(self.disk.data_path(node.ino))

        # ---- power cut ------------------------------------------------------------------------------

        def power_cut(self, keep=0.0, seed=None, only=None):
            """Drops the volatile state (all of it, or with `keep` > 0 a random part: of the files
            whose path matches `only` if given, and then directories are not torn), writes the
            disk, and fails every request from now on. Returns what was dropped."""
            rng = random.Random(seed)
            report = {"bytes_dropped": 0, "pages_dropped": 0, "pages_kept": 0, "files_reverted": [],
                      "entries_dropped": [], "dirs_kept": 0, "orphaned_inodes": 0, "fsck_fixes": 0}
            # What the dropped namespace changes were, for the report (paths from the live tree).
            for ino in sorted(self.ns_dirty):
                d = self.inodes[ino]
                if keep > 0 and only is None and rng.random() < keep:
                    report["dirs_kept"] += 1
                    self._sync_dir(d)
                    continue
                for name in sorted(set(d.entries) | set(d.durable_entries)):
                    live, durable = d.entries.get(name), d.durable_entries.get(name)
                    if live == durable:
                        continue
                    what = ("not durable: created or renamed here, directory not fsynced" if durable is None
                            else "comes back: unlinked or renamed away, directory not fsynced" if live is None
                            else "replaced, directory not fsynced: the old file comes back")
                    report["entries_dropped"].append({"path": self.path_of(ino, name), "what": what})
            # File data: back to the durable bytes and size.
            for node in self.inodes.values():
                if node.kind == "file" and node.fd >= 0 and node.has_volatile_data():
                    torn = keep if only is None or fnmatch.fnmatchcase(self._file_path(node), only) else 0.0
                    report["files_reverted"].append(self._revert_file(node, torn, rng, report))
            # Directories: back to the durable entries.
            for node in self.inodes.values():
                if node.kind == "dir":
                    node.entries = dict(node.durable_entries)
                node.nlink = 0
            self.ns_dirty.clear()
            self._reachable(report)
            table = self._durable_table()
            for node in self.inodes.values():
                if node.kind == "file" and node.ino not in table and node.fd >= 0:
                    report["orphaned_inodes"] += 1
                    os.close(node.fd)
                    node.fd = -1
            self.disk.store(table, self.next_ino)
            self.dead = True
            self.counters["power_cuts"] += 1
            self.thawed.set()  # pending requests wake up and fail with EIO
            return report

        def _revert_file(self, node, keep, rng, report):
            """Puts one file back to its durable bytes and size (or, with `keep`, part of the way)."""
            info = {"path": self._file_path(node), "ino": node.ino, "live_size": node.size,
                    "durable_size": node.durable_size, "dirty_pages": len(node.dirty)}
            durable = node.durable_size
            final = node.size if (keep > 0 and rng.random() < keep) else durable
            if final != node.size:
                os.ftruncate(node.fd, final)
            for p in sorted(node.dirty):
                off = p * PAGE
                if off >= final:
                    continue  # cut off by the size
                if keep > 0 and rng.random() < keep:
                    report["pages_kept"] += 1  # this page was written back before the cut
                    continue
                length = min(PAGE, final - off)
                if off < durable:
                    old = node.saved[p]  # every dirty page below the durable size was saved
                    old = ZERO_PAGE[:min(PAGE, durable - off)] if old is None else old
                else:
                    old = b""  # past the durable size: never written back, reads as zeros
                os.pwrite(node.fd, (old + ZERO_PAGE)[:length], off)
                report["pages_dropped"] += 1
                report["bytes_dropped"] += length
            if final < node.size:
                report["bytes_dropped"] += node.size - final
            node.size = node.durable_size = final
            node.saved, node.dirty = {}, set()
            node.mode, node.uid, node.gid = node.durable_attrs
            info["final_size"] = final
            return info

        def _reachable(self, report):
            """After directories went back to their durable entries: recount names from the
            root, drop a second name of a directory (an fsck would), fix parent pointers."""
            root = self.inodes[1]
            root.nlink, root.parent = 1, 1
            queue, seen_dirs = [root], {1}
            while queue:
                d = queue.pop(0)
                for name in sorted(d.entries):
                    child = self.inodes[d.entries[name]]
                    if child.kind == "dir":
                        if child.ino in seen_dirs:
                            del d.entries[name]
                            report["fsck_fixes"] += 1
                            continue
                        seen_dirs.add(child.ino)
                        child.parent = d.ino
                        queue.append(child)
                    child.nlink += 1
                d.durable_entries = dict(d.entries)
            for node in self.inodes.values():
                if node.kind == "dir" and node.ino not in seen_dirs:
                    node.entries, node.durable_entries = {}, {}

        def sync_all(self):
            for node in self.inodes.values():
                if node.kind == "file" and node.fd >= 0:
                    self._make_durable(node)
            self._commit_namespace()

        def shutdown_store(self):
            """A clean unmount: everything is written back, then the disk is stored."""
            if not self.dead:
                self.sync_all()
                self.disk.store(self._durable_table(), self.next_ino)

        # ---- FUSE operations --------------------------------------------------------------------

        async def lookup(self, parent_inode, name, ctx=None):
            await self._enter("lookup")
            d = self._dir(parent_inode)
            if name == b".":
                return self._attrs(d)
            if name == b"..":
                return self._attrs(self.inodes[d.parent or 1])
            ino = d.entries.get(name)
            if ino is None:
                raise FUSEError(errno.ENOENT)
            return self._attrs(self.inodes[ino])

        async def getattr(self, inode, ctx=None):
            await self._enter("getattr")
            return self._attrs(self._node(inode))

        async def setattr(self, inode, attr, fields, fh, ctx):
            await self._enter("setattr")
            node = self._node(inode)
            if fields.update_size:
                if node.kind != "file":
                    raise FUSEError(errno.EINVAL)
                self._truncate(node, attr.st_size)
                if self.trigger or self.trace_file:
                    self._done("truncate", self._name_of(node))
            if fields.update_mode:
                node.mode = stat.S_IFMT(node.mode) | stat.S_IMODE(attr.st_mode)
            if fields.update_uid:
                node.uid = attr.st_uid
            if fields.update_gid:
                node.gid = attr.st_gid
            if fields.update_atime:
                node.atime = attr.st_atime_ns
            if fields.update_mtime:
                node.mtime = attr.st_mtime_ns
            node.ctime = time.time_ns()
            return self._attrs(node)

        async def readlink(self, inode, ctx):
            await self._enter("readlink")
            node = self._node(inode)
            if node.kind != "symlink":
                raise FUSEError(errno.EINVAL)
            return node.target

        def _check_new(self, d, name):
            if name in d.entries:
                raise FUSEError(errno.EEXIST)
            if len(name) > 255:
                raise FUSEError(errno.ENAMETOOLONG)

        async def mknod(self, parent_inode, name, mode, rdev, ctx):
            await self._enter("mknod")
            if not stat.S_ISREG(mode):
                raise FUSEError(errno.ENOSYS)
            d = self._dir(parent_inode)
            self._check_new(d, name)
            node = self._new_inode("file", mode, ctx)
            self._link(d, name, node.ino)
            self._done("create", name)
            return self._attrs(node)

        async def mkdir(self, parent_inode, name, mode, ctx):
            await self._enter("mkdir")
            d = self._dir(parent_inode)
            self._check_new(d, name)
            node = self._new_inode("dir", stat.S_IFDIR | stat.S_IMODE(mode), ctx)
            node.parent = d.ino
            self._link(d, name, node.ino)
            self._done("mkdir", name)
            return self._attrs(node)

        async def symlink(self, parent_inode, name, target, ctx):
            await self._enter("symlink")
            d = self._dir(parent_inode)
            self._check_new(d, name)
            node = self._new_inode("symlink", stat.S_IFLNK | 0o777, ctx)
            node.target = target
            self._link(d, name, node.ino)
            self._done("symlink", name)
            return self._attrs(node)

        async def link(self, inode, new_parent_inode, new_name, ctx):
            await self._enter("link")
            node = self._node(inode)
            if node.kind == "dir":
                raise FUSEError(errno.EPERM)
            d = self._dir(new_parent_inode)
            self._check_new(d, new_name)
            self._link(d, new_name, node.ino)
            node.ctime = time.time_ns()
            self._done("link", new_name)
            return self._attrs(node)

        async def unlink(self, parent_inode, name, ctx):
            await self._enter("unlink")
            d = self._dir(parent_inode)
            ino = d.entries.get(name)
            if ino is None:
                raise FUSEError(errno.ENOENT)
            if self.inodes[ino].kind == "dir":
                raise FUSEError(errno.EISDIR)
            self._unlink(d, name)
            self._done("unlink", name)

        async def rmdir(self, parent_inode, name, ctx):
            await self._enter("rmdir")
            d = self._dir(parent_inode)
            ino = d.entries.get(name)
            if ino is None:
                raise FUSEError(errno.ENOENT)
            node = self.inodes[ino]
            if node.kind != "dir":
                raise FUSEError(errno.ENOTDIR)
            if node.entries:
                raise FUSEError(errno.ENOTEMPTY)
            self._unlink(d, name)
            self._done("rmdir", name)

        def _is_ancestor(self, ino, dir_ino):
            """Whether directory `ino` is `dir_ino` or one of its ancestors (live)."""
            seen = set()
            while dir_ino not in seen:
                if dir_ino == ino:
                    return True
                seen.add(dir_ino)
                if dir_ino == 1:
                    return False
                dir_ino = self.inodes[dir_ino].parent
            return False

        async def rename(self, parent_inode_old, name_old, parent_inode_new, name_new, flags, ctx):
            await self._enter("rename")
            src_dir, dst_dir = self._dir(parent_inode_old), self._dir(parent_inode_new)
            src_ino = src_dir.entries.get(name_old)
            if src_ino is None:
                raise FUSEError(errno.ENOENT)
            src = self.inodes[src_ino]
            dst_ino = dst_dir.entries.get(name_new)
            dst = self.inodes[dst_ino] if dst_ino is not None else None
            if src.kind == "dir" and self._is_ancestor(src.ino, dst_dir.ino):
                raise FUSEError(errno.EINVAL)
            if flags & pyfuse3.RENAME_EXCHANGE:
                if dst is None:
                    raise FUSEError(errno.ENOENT)
                if dst.kind == "dir" and self._is_ancestor(dst.ino, src_dir.ino):
                    raise FUSEError(errno.EINVAL)
                src_dir.entries[name_old], dst_dir.entries[name_new] = dst.ino, src.ino
                if src.kind == "dir":
                    src.parent = dst_dir.ino
                if dst.kind == "dir":
                    dst.parent = src_dir.ino
                self._ns_changed(src_dir)
                self._ns_changed(dst_dir)
                self._done("rename", name_new)
                return
            if dst is not None:
                if dst.ino == src.ino:
                    return  # same file: rename does nothing
                if flags & pyfuse3.RENAME_NOREPLACE:
                    raise FUSEError(errno.EEXIST)
                if dst.kind == "dir":
                    if src.kind != "dir":
                        raise FUSEError(errno.EISDIR)
                    if dst.entries:
                        raise FUSEError(errno.ENOTEMPTY)
                elif src.kind == "dir":
                    raise FUSEError(errno.ENOTDIR)
                self._unlink(dst_dir, name_new)
            del src_dir.entries[name_old]
            src.nlink -= 1
            self._ns_changed(src_dir)
            self._link(dst_dir, name_new, src.ino)
            if src.kind == "dir":
                src.parent = dst_dir.ino
            src.ctime = time.time_ns()
            self._done("rename", name_new)

        async def open(self, inode, flags, ctx):
            await self._enter("open")
            node = self._node(inode)
            if node.kind != "file":
                raise FUSEError(errno.EISDIR if node.kind == "dir" else errno.ELOOP)
            if flags & os.O_TRUNC and node.size:
                self._truncate(node, 0)
            return self._new_handle(node, flags)

        def _new_handle(self, node, flags):
            fh = self.next_fh
            self.next_fh += 1
            sync_writes = bool(flags & (os.O_SYNC | os.O_DSYNC))
            self.handles[fh] = (node, sync_writes)
            node.opens += 1
            # keep_cache=False: the kernel drops the file's cached pages at open; direct_io=False:
            # reads and mmap go through the kernel page cache, which write-through keeps coherent.
            return pyfuse3.FileInfo(fh=fh, direct_io=False, keep_cache=False)

        async def create(self, parent_inode, name, mode, flags, ctx):
            await self._enter("create")
            d = self._dir(parent_inode)
            self._check_new(d, name)
            node = self._new_inode("file", stat.S_IFREG | stat.S_IMODE(mode), ctx)
            self._link(d, name, node.ino)
            info = self._new_handle(node, flags)
            self._done("create", name)
            return info, self._attrs(node)

        async def read(self, fh, off, size):
            await self._enter("read")
            node = self.handles[fh][0]
            self.counters["reads"] += 1
            return os.pread(node.fd, size, off)

        async def write(self, fh, off, buf):
            await self._enter("write")
            node, sync_writes = self.handles[fh]
            n = self._write(node, off, buf)
            if sync_writes:
                self._make_durable(node)
            if self.trigger is not None:
                self._done("write", self._name_of(node))
            return n

        async def flush(self, fh):
            await self._enter("flush")

        async def release(self, fh):
            # Not gated: closing changes nothing durable (and must not hang a dying process).
            entry = self.handles.pop(fh, None)
            if entry is not None:
                node = entry[0]
                node.opens -= 1
                if not self.dead:
                    self._maybe_free(node)

        async def fsync(self, fh, datasync):
            await self._enter("fsync")
            node = self.handles[fh][0]
            self.counters["fdatasyncs" if datasync else "fsyncs"] += 1
            self._make_durable(node)
            if self.trigger or self.trace_file:
                self._done("fsync", self._name_of(node))

        async def opendir(self, inode, ctx):
            await self._enter("opendir")
            node = self._dir(inode)
            fh = self.next_fh
            self.next_fh += 1
            self.handles[fh] = [node, None]
            return fh

        async def readdir(self, fh, start_id, token):
            await self._enter("readdir")
            entry = self.handles[fh]
            node = entry[0]
            if start_id == 0 or entry[1] is None:
                entry[1] = sorted(node.entries.items())  # one listing per pass: ids stay valid
            listing = entry[1]
            for i in range(start_id, len(listing)):
                name, ino = listing[i]
                child = self.inodes.get(ino)
                if child is None:
                    continue
                if not pyfuse3.readdir_reply(token, name, self._attrs(child), i + 1):
                    break

        async def releasedir(self, fh):
            self.handles.pop(fh, None)

        async def fsyncdir(self, fh, datasync):
            await self._enter("fsyncdir")
            d = self.handles[fh][0]
            self.counters["fsyncdirs"] += 1
            if self.model == "journal":
                self._commit_namespace()
            else:
                self._sync_dir(d)
            if self.trigger or self.trace_file:
                self._done("fsyncdir", self._name_of(d) if d.ino != 1 else b"/")

        async def statfs(self, ctx):
            await self._enter("statfs")
            s = os.statvfs(self.disk.backing)
            out = pyfuse3.StatvfsData()
            out.f_bsize = PAGE
            out.f_frsize = PAGE
            out.f_blocks = s.f_blocks * s.f_frsize // PAGE
            out.f_bfree = s.f_bfree * s.f_frsize // PAGE
            out.f_bavail = s.f_bavail * s.f_frsize // PAGE
            out.f_files = 1 << 20
            out.f_ffree = (1 << 20) - len(self.inodes)
            out.f_favail = out.f_ffree
            out.f_namemax = 255
            return out

        async def access(self, inode, mode, ctx):
            await self._enter("access")
            self._node(inode)
            return True

        async def forget(self, inode_list):
            pass  # inode records are kept (they are small); data files go when unreachable

        # ---- control channel ------------------------------------------------------------------------

        def stats(self):
            unsynced = sum(1 for n in self.inodes.values() if n.kind == "file" and n.fd >= 0 and n.has_volatile_data())
            return {"ok": True, "frozen": self.frozen, "dead": self.dead, "model": self.model,
                    "armed": self.trigger, "triggered": self.triggered, "counters": dict(self.counters),
                    "op_counts": dict(self.op_counts), "files_with_unsynced_data": unsynced,
                    "dirs_with_unsynced_entries": len(self.ns_dirty),
                    "unsynced_pages": sum(len(n.dirty) for n in self.inodes.values() if n.kind == "file")}

        def command(self, line):
            words = line.split()
            if not words:
                return {"ok": False, "error": "empty command"}
            cmd, args = words[0], words[1:]
            kv = dict(a.split("=", 1) for a in args if "=" in a)
            if cmd == "ping":
                return {"ok": True}
            if cmd == "freeze":
                self.freeze()
                return {"ok": True}
            if cmd == "thaw":
                self.thaw()
                return {"ok": True}
            if cmd == "arm":
                if len(args) < 3:
                    return {"ok": False, "error": "arm OP GLOB DELAY [N]"}
                self.trigger = {"op": args[0], "glob": args[1], "delay": float(args[2]),
                                "remaining": int(args[3]) if len(args) > 3 else 1}
                self.triggered = False
                return {"ok": True}
            if cmd == "disarm":
                self.trigger = None
                return {"ok": True}
            if cmd == "stats":
                return self.stats()
            if cmd == "sync":
                self.sync_all()
                return {"ok": True}
            if cmd == "power-cut":
                if self.dead:
                    return {"ok": False, "error": "power already cut"}
                report = self.power_cut(keep=float(kv.get("keep", 0)), seed=kv.get("seed"), only=kv.get("only"))
                return {"ok": True, **report}
            return {"ok": False, "error": f"unknown command {cmd}"}

        async def serve_control(self, path, task_status=trio.TASK_STATUS_IGNORED):
            if os.path.exists(path):
                os.unlink(path)
            sock = trio.socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            await sock.bind(path)
            sock.listen(16)
            task_status.started()
            async with trio.open_nursery() as nursery:
                while True:
                    conn, _ = await sock.accept()
                    nursery.start_soon(self._control_connection, conn)

        async def _control_connection(self, conn):
            stream = trio.SocketStream(conn)
            try:
                async with stream:
                    buf = b""
                    while True:
                        data = await stream.receive_some(65536)
                        if not data:
                            return
                        buf += data
                        while b"\n" in buf:
                            line, buf = buf.split(b"\n", 1)
                            if line.strip() == b"exit":
                                # Answer first: terminating cancels this task.
                                await stream.send_all(b'{"ok": true}\n')
                                pyfuse3.terminate()
                                return
                            try:
                                reply = self.command(line.decode())
                            except Exception as e:  # a bad command must not take the FS down
                                reply = {"ok": False, "error": f"{type(e).__name__}: {e}"}
                            await stream.send_all((json.dumps(reply) + "\n").encode())
            except (trio.BrokenResourceError, trio.ClosedResourceError, OSError):
                pass  # the client went away

    import functools
    import traceback

    def guarded(fn):
        @functools.wraps(fn)
        async def wrapper(self, *args):
            try:
                return await fn(self, *args)
            except FUSEError:
                raise
            except Exception:
                self.counters["internal_errors"] += 1
                sys.stderr.write(f"lazyfs: internal error in {fn.__name__}{args!r}:\n{traceback.format_exc()}")
                sys.stderr.flush()
                raise FUSEError(errno.EIO)
        return wrapper

    for name in ("lookup", "getattr", "setattr", "readlink", "mknod", "mkdir", "symlink", "link", "unlink",
                 "rmdir", "rename", "open", "create", "read", "write", "flush", "release", "fsync", "opendir",
                 "readdir", "releasedir", "fsyncdir", "statfs", "access"):
        setattr(LazyFS, name, guarded(getattr(LazyFS, name)))
    return LazyFS, pyfuse3, trio


def mount(backing, mountpoint, control, model="strict", trace=None, debug=False):
    LazyFS, pyfuse3, trio = make_filesystem_class()
    fs = LazyFS(backing, model=model, trace=trace)
    options = set(pyfuse3.default_options)
    options.add("fsname=lazyfs")
    options.add("subtype=lazyfs")
    if debug:
        options.add("debug")
    pyfuse3.init(fs, mountpoint, options)

    async def main():
        async with trio.open_nursery() as nursery:
            fs.nursery = nursery
            await nursery.start(fs.serve_control, control)
            await pyfuse3.main(min_tasks=4, max_tasks=64)
            nursery.cancel_scope.cancel()

    try:
        trio.run(main)
    finally:
        fs.shutdown_store()
        pyfuse3.close(unmount=True)
        if os.path.exists(control):
            os.unlink(control)


def control(path, command, timeout=60.0):
    """Sends one command to a mounted lazyfs, returns the decoded reply."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(timeout)
        s.connect(path)
        s.sendall(command.encode() + b"\n")
        buf = b""
        while not buf.endswith(b"\n"):
            data = s.recv(1 << 20)
            if not data:
                raise ConnectionError(f"lazyfs closed the control connection during {command!r}")
            buf += data
    return json.loads(buf)


def main(argv):
    import argparse
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    m = sub.add_parser("mount")
    m.add_argument("backing")
    m.add_argument("mountpoint")
    m.add_argument("--control", required=True)
    m.add_argument("--model", choices=["strict", "journal"], default="strict")
    m.add_argument("--trace")
    m.add_argument("--debug", action="store_true")
    e = sub.add_parser("export")
    e.add_argument("backing")
    e.add_argument("dest")
    c = sub.add_parser("ctl")
    c.add_argument("socket")
    c.add_argument("words", nargs="+")
    a = p.parse_args(argv)
    if a.cmd == "mount":
        mount(a.backing, a.mountpoint, a.control, model=a.model, trace=a.trace, debug=a.debug)
    elif a.cmd == "export":
        Disk(a.backing).export(a.dest)
    else:
        print(json.dumps(control(a.socket, " ".join(a.words)), indent=1))


if __name__ == "__main__":
    main(sys.argv[1:])
