"""CPU cost of each stage of the request path, in process, without threads.

``python -m bench.stages [--pipeline 30] [--command GET|SET] [--rounds N]``
builds a `Server` (not listening), one `Client` on a stub transport and real
`ShardActor` objects whose ``on_receive`` is called directly, then feeds the
same pipelined burst N times and reports the mean microseconds per burst of:

- ``parse``: ``Client.data_received`` (parse, route, queue/send the batch);
- ``shard``: ``ShardActor.on_receive`` of the batch (run, stats, encode);
- ``drain``: ``LoopBridge._drain`` (complete, order, ``flush``; the stub
  transport makes the write itself free).

No thread hand-off, socket, or GIL contention is in these figures: they are
the Python work that a round trip adds on top of those (docs/performance.md
compares them with the wall time per round trip).  A/B two trees by running
the module from each (``cd tree && python -m bench.stages``), interleaved.
"""

from __future__ import annotations

import argparse
import asyncio
import time


class _Transport:
    """Enough of an asyncio transport for `Client`; writes are dropped."""

    def __init__(self):
        self.written = 0

    def write(self, data):
        self.written += len(data)

    def writelines(self, parts):
        for p in parts:
            self.written += len(p)

    def set_write_buffer_limits(self, **_):
        pass

    def get_extra_info(self, key):
        return None if key == "socket" else ("127.0.0.1", 1)

    def get_write_buffer_size(self):
        return 0

    def pause_reading(self):
        pass

    def resume_reading(self):
        pass

    def close(self):
        pass


async def _measure(pipeline: int, command: str, rounds: int, shards: int,
                   clients: int = 1) -> dict:
    import server.commands  # noqa: F401 - registers the command table
    from actors.bridge import LoopBridge
    from actors.dispatch import Dispatcher, Inboxes
    from actors.shard import ShardActor
    from server.app import Server
    from server.config import Config
    from server.connection import Client
    from server.table import fast_routes, fast_table

    cfg = Config()
    cfg.shards = shards
    srv = Server(cfg)
    srv.fast_table = fast_table()
    srv.fast_routes = fast_routes(srv.fast_table)
    srv.loop = asyncio.get_running_loop()
    srv.bridge = LoopBridge(srv.loop)
    sent: list = []
    shard_objs = [ShardActor(i, cfg.databases, srv.bridge) for i in range(shards)]
    srv.shards = shard_objs
    srv.inboxes = Inboxes([sent.append] * shards)
    srv.dispatcher = Dispatcher(srv.loop, srv.inboxes)
    srv.inboxes.dispatcher = srv.dispatcher
    conns = []
    for _ in range(clients):
        c = Client(srv)
        c.connection_made(_Transport())
        conns.append(c)
    conn = conns[0]
    key = b"key:__rand_int__"
    if command == "GET":
        one = b"*2\r\n$3\r\nGET\r\n$%d\r\n%b\r\n" % (len(key), key)
    else:
        one = b"*3\r\n$3\r\nSET\r\n$%d\r\n%b\r\n$3\r\nxxx\r\n" % (len(key), key)
    data = one * pipeline
    owner = shard_objs[conn.shard_of(key)]
    owner.dbs[0].set(key, b"xxx")
    pc = time.perf_counter_ns
    tot = [0, 0, 0]
    for i in range(rounds):
        t0 = pc()
        for c in conns:
            c.data_received(data)
        if srv.dispatcher.dirty:
            srv.dispatcher.flush()
        t1 = pc()
        msgs = sent[:]
        sent.clear()
        for m in msgs:
            owner.on_receive(m)
        t2 = pc()
        srv.bridge._scheduled = False
        srv.bridge._drain()
        t3 = pc()
        tot[0] += t1 - t0
        tot[1] += t2 - t1
        tot[2] += t3 - t2
        if i % 100 == 99:
            await asyncio.sleep(0)   # run the call_soon(_threadsafe) handles piled up
    us = {k: v / rounds / 1000 for k, v in zip(("parse", "shard", "drain"), tot)}
    us["total"] = sum(us.values())
    us["per_command"] = us["total"] / pipeline / clients
    return us


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.stages", description=__doc__.split("\n")[0])
    p.add_argument("--pipeline", type=int, default=30)
    p.add_argument("--command", choices=("GET", "SET"), default="GET")
    p.add_argument("--rounds", type=int, default=5000)
    p.add_argument("--uvloop", action="store_true",
                   help="run on uvloop, as the server does (call_soon_threadsafe is cheaper there)")
    p.add_argument("--shards", type=int, default=1)
    p.add_argument("--clients", type=int, default=1,
                   help="connections each sending the burst per round (over 2: batches go "
                        "through the Dispatcher, as at redis-benchmark -c 50)")
    a = p.parse_args(argv)
    if a.uvloop:
        import uvloop
        us = uvloop.run(_measure(a.pipeline, a.command, a.rounds, a.shards, a.clients))
    else:
        us = asyncio.run(_measure(a.pipeline, a.command, a.rounds, a.shards, a.clients))
    who = f"{a.clients} clients x " if a.clients > 1 else ""
    print(f"{a.command} {who}x{a.pipeline}: parse {us['parse']:.1f} us  shard {us['shard']:.1f} us  "
          f"drain {us['drain']:.1f} us  total {us['total']:.1f} us  "
          f"({us['per_command']:.2f} us per command)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
