"""``python -m bench.reference --port N [--atime]``: the smallest actor server.

A yardstick for Shardis's request path, not a server: uvloop and hiredis on
the event loop, one thread that owns a dict, one ``queue.SimpleQueue``
message per loop iteration for every connection's burst, one
``call_soon_threadsafe`` per finished message, one ``transport.write`` per
connection and burst; the process on one CPU as Shardis's ``--cpu-affinity
auto`` does.  It is the design of docs/architecture.md with nothing else:
no stats, no TTLs, no per-connection reply sequencing, only GET, SET and
PING (anything else gets an empty array, which is all redis-benchmark's
``CONFIG GET`` needs).

``--atime`` adds the one piece of bookkeeping Shardis cannot leave out of a
GET: a per-key access time (OBJECT IDLETIME) in a dict beside the data, as
``Keyspace.atime`` keeps it.  ``python -m bench.ab --variant ref=reference
--variant refatime=reference:--atime`` runs both beside Shardis and
redis-server (docs/performance.md, "Against a bare actor server").
"""

from __future__ import annotations

import argparse
import asyncio
import os
import queue
import threading
from collections import deque

import hiredis
import uvloop

HDR = [b"$%d\r\n" % i for i in range(1024)]


def own_cpu() -> int:
    # field 39 of /proc/self/stat: the CPU this process last ran on
    return int(open("/proc/self/stat").read().rsplit(")", 1)[1].split()[36])


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m bench.reference", description=__doc__.splitlines()[0])
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--bind", default="127.0.0.1")
    ap.add_argument("--atime", action="store_true", help="keep a per-key access time")
    ap.add_argument("--no-pin", action="store_true", help="do not pin to one CPU")
    args = ap.parse_args(argv)
    if not args.no_pin:
        os.sched_setaffinity(0, {own_cpu()})
    data: dict = {}
    atime: dict | None = {} if args.atime else None
    inbox: queue.SimpleQueue = queue.SimpleQueue()
    done: deque = deque()
    pending: list = []
    state = {"drain": False, "flush": False}
    loop = uvloop.new_event_loop()

    def shard() -> None:            # the data's only owner
        while True:
            out = []
            for conn, cmds in inbox.get():
                r = []
                for c in cmds:
                    name = c[0].upper()
                    if name == b"GET" and len(c) == 2:
                        v = data.get(c[1])
                        if v is None:
                            r.append(b"$-1\r\n")
                        else:
                            if atime is not None:
                                atime[c[1]] = 1
                            r.append(HDR[len(v)] + v + b"\r\n" if len(v) < 1024
                                     else b"$%d\r\n%b\r\n" % (len(v), v))
                    elif name == b"SET" and len(c) == 3:
                        data[c[1]] = c[2]
                        if atime is not None:
                            atime[c[1]] = 1
                        r.append(b"+OK\r\n")
                    elif name == b"PING":
                        r.append(b"+PONG\r\n")
                    else:
                        r.append(b"*0\r\n")
                out.append((conn, b"".join(r)))
            done.append(out)
            if not state["drain"]:
                state["drain"] = True
                loop.call_soon_threadsafe(drain)

    def drain() -> None:
        state["drain"] = False
        while done:
            for conn, b in done.popleft():
                if conn.transport is not None:
                    conn.transport.write(b)

    def flush() -> None:
        state["flush"] = False
        msg = pending[:]
        pending.clear()
        inbox.put(msg)

    class Conn(asyncio.Protocol):
        def connection_made(self, transport):
            self.transport = transport
            self.reader = hiredis.Reader()

        def connection_lost(self, exc):
            self.transport = None

        def data_received(self, chunk):
            reader = self.reader
            reader.feed(chunk)
            cmds = []
            while (c := reader.gets()) is not False:
                cmds.append(c)
            if cmds:
                pending.append((self, cmds))
                if not state["flush"]:
                    state["flush"] = True
                    loop.call_soon(flush)

    threading.Thread(target=shard, name="shard", daemon=True).start()
    server = loop.run_until_complete(loop.create_server(Conn, args.bind, args.port))
    try:
        loop.run_forever()
    finally:
        server.close()


if __name__ == "__main__":
    main()
