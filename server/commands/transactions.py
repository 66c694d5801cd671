"""MULTI / EXEC / DISCARD.

A transaction whose queued commands all run on one shard is sent as a single
batch to that shard, which runs it in one step (atomic and isolated by
construction: the shard thread owns all its keys).  Transactions spanning
shards run through `exec_raw`, one command at a time, as a barrier on the
connection.
"""

from __future__ import annotations

import asyncio
from types import CoroutineType

from server.protocol import OK, CommandError, Err, NULL_ARRAY
from server.router import FANOUTS
from server.table import Route, command

CONN = Route.CONN


@command("multi", 1, flags=("noscript", "loading", "stale", "fast", "allow_busy"),
         group="transactions", route=CONN, since="1.2.0",
         summary="Starts a transaction.", syntax="")
def cmd_multi(conn, argv):
    if conn.multi is not None:
        raise CommandError("ERR MULTI calls can not be nested")
    conn.multi = []
    conn.multi_error = False
    return OK


@command("discard", 1, flags=("noscript", "loading", "stale", "fast", "allow_busy"),
         group="transactions", route=CONN, since="2.0.0",
         summary="Discards a transaction.", syntax="")
def cmd_discard(conn, argv):
    if conn.multi is None:
        raise CommandError("ERR DISCARD without MULTI")
    conn.multi = None
    conn.multi_error = False
    conn.unwatch()
    return OK


@command("exec", 1, flags=("noscript", "loading", "stale", "skip_slowlog"),
         group="transactions", route=CONN, since="1.2.0",
         summary="Executes all commands in a transaction.", syntax="")
def cmd_exec(conn, argv):
    if conn.multi is None:
        raise CommandError("ERR EXEC without MULTI")
    queued, conn.multi = conn.multi, None
    if conn.multi_error:
        conn.multi_error = False
        conn.unwatch()
        raise CommandError("EXECABORT Transaction discarded because of previous errors.")
    if conn.watch_dirty():
        conn.unwatch()
        return NULL_ARRAY
    conn.unwatch()
    if not queued:
        return []
    s = single_shard(conn, queued)
    if s is not None:
        # fast path: one message to one shard runs the whole transaction
        from server.connection import DEFERRED
        p = conn.fan_parts([(s, spec.handler, a) for spec, a in queued], list)
        return DEFERRED if p is not None else []
    return run_sequential(conn, queued)


def single_shard(conn, queued):
    """The one shard all queued commands run on, or None."""
    shard = None
    for spec, argv in queued:
        if spec.route is not Route.SHARD:
            return None
        for k in spec.keys(argv):
            s = conn.shard_of(k)
            if shard is None:
                shard = s
            elif s != shard:
                return None
    return 0 if shard is None else shard


async def run_sequential(conn, queued):
    out = []
    for spec, argv in queued:
        try:
            out.append(await exec_raw(conn, spec, argv))
        except CommandError as e:
            out.append(e.reply)
    return out


async def exec_raw(conn, spec, argv):
    """Run one command and return its raw reply value (used inside EXEC)."""
    spec.stats[0] += 1
    if spec.route is Route.SHARD:
        keys = spec.keys(argv)
        shards = {conn.shard_of(k) for k in keys} or {0}
        if len(shards) == 1:
            return await conn.hop(shards.pop(), spec.handler, argv)
        if spec.fanout is not None:
            parts, merge = FANOUTS[spec.fanout](conn, spec, argv)
            res = await asyncio.gather(*[conn.hop(s, fn, a) for s, fn, a in parts])
            return merge(list(res))
        if spec.cross is not None:
            return await spec.cross(conn, argv)
        return Err(b"CROSSSLOT Keys in request don't hash to the same slot")
    if spec.route is Route.CONN:
        v = spec.handler(conn, argv)
        if type(v) is CoroutineType:
            v = await v
        from server.connection import DEFERRED
        if v is DEFERRED:
            return Err(b"ERR command not supported inside MULTI")
        return v
    res = await asyncio.gather(*[conn.hop(s, spec.handler, argv) for s in range(conn.nshards)])
    return spec.merge(list(res))
