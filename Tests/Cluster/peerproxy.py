"""TCP proxy for the members' peer (rafthttp) traffic, able to partition a member.

It runs as its own process (`python3 peerproxy.py`, driven by `PeerProxy` below over
stdin/stdout, one JSON object per line): in the test process it would share the GIL with the
client threads, and every hop would wait for a GIL switch (5 ms), which is enough to slow a
two-member quorum down a lot.

Each member advertises a proxy port (--initial-advertise-peer-urls, --initial-cluster) that
forwards to its real --listen-peer-urls. rafthttp sends messages over connections dialed by
either side (a stream carrying X's messages to Y is a GET that Y dials to X; pipeline POSTs
and snapshots are dialed by the sender), so cutting X off needs to know who dialed each
connection: the proxy finds the dialing socket in /proc/net/tcp and the member process holding
it in /proc/<pid>/fd (only while some member is partitioned). While X is partitioned, every connection X dialed or that was dialed to X
forwards nothing (bytes read are dropped, so neither side sees anything, as on a blackholed
link), and new ones are closed as soon as they are accepted. Healing closes the blackholed
connections (their byte streams are torn), so the members dial again.

Commands (replies are one JSON object each):
  {"op": "add", "name": N, "target": PORT}   -> {"port": P}   start forwarding P to PORT
  {"op": "pids", "pids": {N: PID, ...}}      -> {}            the member processes now running
  {"op": "partition", "name": N}             -> {}
  {"op": "heal", "name": N or null}          -> {}            null: heal everyone
  {"op": "stats"}                            -> {"unidentified": n, "refused": n, "links": n}
End of input stops the proxy.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import threading
from typing import Dict, Optional


def _socket_owners(pairs, pids: Dict[str, int]) -> Dict[tuple, str]:
    """For (client_port, server_port) pairs of connections to us, which member process holds
    the dialing socket: one pass over /proc/net/tcp{,6} and over each member's fds."""
    want = set(pairs)
    inode_of = {}
    for path in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(path) as f:
                next(f)
                for line in f:
                    parts = line.split()
                    pair = (int(parts[1].rsplit(":", 1)[1], 16), int(parts[2].rsplit(":", 1)[1], 16))
                    if pair in want:
                        inode_of[f"socket:[{parts[9]}]"] = pair
        except FileNotFoundError:
            continue
    owners = {}
    for name, pid in pids.items():
        fd_dir = f"/proc/{pid}/fd"
        try:
            fds = os.listdir(fd_dir)
        except OSError:
            continue
        for fd in fds:
            try:
                pair = inode_of.get(os.readlink(os.path.join(fd_dir, fd)))
            except OSError:
                continue
            if pair is not None:
                owners[pair] = name
    return owners


class _Link:
    """One proxied TCP connection: `src` dialed `dst` (member names; src None if unknown)."""

    def __init__(self, src, dst, down, ports):
        self.src, self.dst = src, dst
        self.ports = ports        # (dialer's port, our port): finds the dialer in /proc
        self.identified = src is not None
        self.down = down          # transport towards the dialer
        self.up = None            # transport towards the member listening
        self.blackholed = False

    def close(self):
        for t in (self.down, self.up):
            if t is not None and not t.is_closing():
                t.abort()


class ProxyServer:
    def __init__(self):
        self.pids: Dict[str, int] = {}
        self.targets: Dict[str, int] = {}
        self.servers = {}
        self.partitioned = set()
        self.links = set()
        self.unidentified = 0
        self.refused = 0

    def blocked(self, src, dst) -> bool:
        return dst in self.partitioned or (src is not None and src in self.partitioned)

    async def add(self, name, target):
        server = await asyncio.start_server(lambda r, w: self.accept(name, r, w), "127.0.0.1", 0,
                                            reuse_address=True)
        self.servers[name] = server
        self.targets[name] = target
        return server.sockets[0].getsockname()[1]

    def identify(self, links):
        """Find who dialed each link. Only done while a partition needs it: the lookup reads
        every TCP socket of the host, and members redial dead peers many times a second."""
        todo = [link for link in links if not link.identified]
        if not todo:
            return
        owners = _socket_owners([link.ports for link in todo], self.pids)
        for link in todo:
            link.src = owners.get(link.ports)
            link.identified = True
            if link.src is None:
                self.unidentified += 1

    async def accept(self, dst, reader, writer):
        down = writer.transport
        ports = (writer.get_extra_info("peername")[1], writer.get_extra_info("sockname")[1])
        link = _Link(None, dst, down, ports)
        if self.partitioned and dst not in self.partitioned:
            self.identify([link])
        if self.blocked(link.src, dst):
            self.refused += 1
            down.abort()
            return
        try:
            up_reader, up_writer = await asyncio.wait_for(
                asyncio.open_connection("127.0.0.1", self.targets[dst]), 5)
        except (OSError, asyncio.TimeoutError):
            down.abort()
            return
        link.up = up_writer.transport
        if self.partitioned:            # a partition started while connecting
            self.identify([link])
            if self.blocked(link.src, dst):
                link.close()
                return
        self.links.add(link)
        try:
            await asyncio.gather(self.pump(reader, up_writer, link), self.pump(up_reader, writer, link))
        finally:
            self.links.discard(link)
            link.close()

    @staticmethod
    async def pump(reader, writer, link):
        try:
            while True:
                data = await reader.read(65536)
                if not data:
                    break
                if link.blackholed:
                    continue        # dropped on the floor
                writer.write(data)
                await writer.drain()
        except (OSError, asyncio.CancelledError):
            pass
        finally:
            link.close()

    def partition(self, name):
        self.partitioned.add(name)
        self.identify(self.links)
        for link in self.links:
            if self.blocked(link.src, link.dst):
                link.blackholed = True

    def heal(self, name):
        if name is None:
            self.partitioned.clear()
        else:
            self.partitioned.discard(name)
        for link in list(self.links):
            if link.blackholed and not self.blocked(link.src, link.dst):
                link.close()

    async def handle(self, cmd):
        op = cmd["op"]
        if op == "add":
            return {"port": await self.add(cmd["name"], cmd["target"])}
        if op == "pids":
            self.pids = {k: int(v) for k, v in cmd["pids"].items()}
            return {}
        if op == "partition":
            self.partition(cmd["name"])
            return {}
        if op == "heal":
            self.heal(cmd.get("name"))
            return {}
        if op == "stats":
            return {"unidentified": self.unidentified, "refused": self.refused, "links": len(self.links),
                    "partitioned": sorted(self.partitioned)}
        return {"error": f"unknown op {op}"}


async def _serve():
    proxy = ProxyServer()
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while True:
        line = await reader.readline()
        if not line:
            break
        try:
            reply = await proxy.handle(json.loads(line))
        except Exception as e:    # report, keep serving
            reply = {"error": repr(e)}
        sys.stdout.write(json.dumps(reply) + "\n")
        sys.stdout.flush()
    for s in proxy.servers.values():
        s.close()
    for link in list(proxy.links):
        link.close()


class PeerProxy:
    """Controller for a proxy process."""

    def __init__(self):
        self._proc = subprocess.Popen([sys.executable, os.path.abspath(__file__)], stdin=subprocess.PIPE,
                                      stdout=subprocess.PIPE, text=True, bufsize=1)
        self._lock = threading.Lock()

    def _ask(self, **cmd) -> dict:
        with self._lock:
            self._proc.stdin.write(json.dumps(cmd) + "\n")
            self._proc.stdin.flush()
            line = self._proc.stdout.readline()
        if not line:
            raise RuntimeError(f"peer proxy exited ({self._proc.poll()})")
        reply = json.loads(line)
        if "error" in reply:
            raise RuntimeError(f"peer proxy: {reply['error']}")
        return reply

    def add(self, name: str, target_port: int) -> int:
        """Start forwarding a new port to target_port; returns the new port."""
        return self._ask(op="add", name=name, target=target_port)["port"]

    def set_pids(self, pids: Dict[str, int]):
        self._ask(op="pids", pids=pids)

    def partition(self, name: str):
        self._ask(op="partition", name=name)

    def heal(self, name: Optional[str] = None):
        self._ask(op="heal", name=name)

    def stats(self) -> dict:
        return self._ask(op="stats")

    @property
    def unidentified(self) -> int:
        return self.stats()["unidentified"]

    def close(self):
        if self._proc.poll() is None:
            self._proc.stdin.close()
            try:
                self._proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        self._proc.stdout.close()


if __name__ == "__main__":
    asyncio.run(_serve())
