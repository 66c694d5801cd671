"""MULTI / EXEC / DISCARD / WATCH / UNWATCH.

How a transaction runs (the argument is in docs/transactions.md):

* every queued command and every WATCHed key on one shard: EXEC is a single
  batch item (`exec_on_shard`) that checks the watches and runs all commands
  in one call on that shard's thread: atomic and isolated by construction,
  one message, no cross-shard machinery;
* otherwise EXEC is a coordinator (`run_exec`) holding every shard involved
  (`in_tx`: holds sent in one loop step; held shards defer everyone else's
  messages), which checks the watches, then runs the commands one after
  another with hops tagged with the transaction, then releases.

WATCH registers a `WatchToken` on the shard owning each key (as an item of
that shard's batch, so it is ordered after the connection's earlier
commands).  From then on only that shard's thread touches the token: a write
to a watched key marks it dirty (`Keyspace.touched`), and EXEC asks the shard.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from types import CoroutineType

from server.protocol import NULL_ARRAY, OK, CommandError, Err
from server.notify import events_on
from server.router import fanout_parts, ordered_fanout
from server.table import Route, command
from server.tracking import IGNORE, remember_items, shard_reads, tracks

CONN = Route.CONN


class WatchToken:
    """One connection's WATCHes on one shard; owned by that shard's thread
    once registered (the loop only passes it back in messages)."""

    __slots__ = ("dirty", "keys")

    def __init__(self):
        self.dirty = False
        self.keys: list[tuple[int, bytes]] = []


# --------------------------------------------------------------- shard side
def watch_on_shard(db, argv):
    """Batch item: register ``argv[1]`` (a WatchToken) for keys ``argv[2:]``."""
    token = argv[1]
    for key in argv[2:]:
        db.lookup(key)                      # expire first: a key already gone is not "modified"
        db.watchers.setdefault(key, set()).add(token)
        token.keys.append((db.index, key))
    return None


def _check_watch(shard, token) -> bool:
    """True if a watched key changed.  Looking each key up expires it lazily,
    so a watched key that expired since WATCH counts as modified (Redis 7)."""
    if token is None:
        return False
    for dbi, key in token.keys:
        shard.dbs[dbi].lookup(key)
    return token.dirty


def unwatch_on_shard(shard, token) -> None:
    for dbi, key in token.keys:
        ks = shard.dbs[dbi]
        tokens = ks.watchers.get(key)
        if tokens is not None:
            tokens.discard(token)
            if not tokens:
                del ks.watchers[key]
    token.keys = []
    return None


def check_and_unwatch(shard, token) -> bool:
    dirty = _check_watch(shard, token)
    unwatch_on_shard(shard, token)
    return dirty


def exec_on_shard(db, argv):
    """Batch item: the whole transaction on one shard, in one call.
    ``argv[3]``: None, or CLIENT TRACKING's ``(client id, Notice constructor,
    keys read by each queued command or None)``: those keys are remembered
    right after their command, as Redis's call() does for each command."""
    token, queued, track = argv[1], argv[2], argv[3]
    if token is not None and check_and_unwatch(db.shard, token):
        return NULL_ARRAY
    out = []
    shard = db.shard
    clock = time.perf_counter_ns
    for j, (fn, a) in enumerate(queued):
        d = shard.dbs[a[0]]
        t0 = clock()
        failed = 0
        try:
            v = fn(d, a[1])
        except CommandError as e:
            v = e.reply
            failed = 1
            # counted like a command run alone: errorstats and failed_calls
            from actors.shard import count_error
            count_error(shard.errstats, v)
        # commandstats, latency histogram and slowlog, as for a command run alone
        shard.account(fn, a[1], clock() - t0, failed)
        out.append(v)
        if shard.notify_flags or shard.tracking or shard.bcast:
            # each queued command's events/invalidations, as if run alone
            from server.notify import after_command
            after_command(shard, d, fn, a[1], v)
        if track is not None and track[2][j]:
            from server.tracking import remember_keys
            remember_keys(shard, track[0], track[1], track[2][j])
    return out


def _watch_check_item(db, argv):
    return check_and_unwatch(db.shard, argv[1])


# --------------------------------------------------------------- commands
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


@command("watch", -2, flags=("noscript", "loading", "stale", "fast", "allow_busy"),
         keys=(1, -1, 1), group="transactions", route=CONN, since="2.2.0",
         summary="Monitors changes to keys to determine the execution of a transaction.",
         syntax="key [key ...]", complexity="O(1) for every key.")
def cmd_watch(conn, argv):
    if conn.multi is not None:
        raise CommandError("ERR WATCH inside MULTI is not allowed")
    if conn.watching is None:
        conn.watching = {}
    groups: dict[int, list[bytes]] = {}
    for key in argv[1:]:
        groups.setdefault(conn.shard_of(key), []).append(key)
    parts = []
    for s, keys in groups.items():
        token = conn.watching.get(s)
        if token is None:
            token = conn.watching[s] = WatchToken()
        parts.append((s, watch_on_shard, [b"WATCH", token, *keys]))
    conn.fan_parts(parts, lambda _results: OK)
    from server.connection import DEFERRED
    return DEFERRED


@command("unwatch", 1, flags=("noscript", "loading", "stale", "fast", "allow_busy"),
         group="transactions", route=CONN, since="2.2.0",
         summary="Forgets about watched keys of a transaction.", syntax="")
def cmd_unwatch(conn, argv):
    conn.unwatch()
    return OK


@command("exec", 1, flags=("noscript", "loading", "stale", "skip_slowlog"),
         group="transactions", route=CONN, since="1.2.0",
         summary="Executes all commands in a transaction.", syntax="",
         complexity="Depends on commands in the transaction")
def cmd_exec(conn, argv):
    if conn.multi is None:
        raise CommandError("ERR EXEC without MULTI")
    queued, conn.multi = conn.multi, None
    if conn.multi_error:
        conn.multi_error = False
        conn.unwatch()
        raise CommandError("EXECABORT Transaction discarded because of previous errors.")
    watching, conn.watching = conn.watching or {}, None
    for spec, _a in queued:
        spec.stats[0] += 1
    # CLIENT TRACKING: the reads of the transaction are remembered if EXEC is
    # (decided now: a one-shot CLIENT CACHING flag is reset after dispatch)
    track = tracks(conn)
    s = single_shard(conn, queued, watching)
    if s is not None:
        # fast path: one message to one shard runs the whole transaction
        token = watching.get(s)
        items = [(spec.handler, (conn.db, a)) for spec, a in queued]
        reads = shard_reads(conn, [read_keys(spec, a) for spec, a in queued]) if track else None
        conn.to_shard(s, exec_on_shard, [b"EXEC", token, items, reads])
        from server.connection import DEFERRED
        return DEFERRED
    shards = involved_shards(conn, queued) | set(watching)
    from server.connection import in_tx
    return in_tx(conn.server, shards, run_exec(conn, queued, watching, track))


def read_keys(spec, argv):
    """The keys a tracking client remembers for a command: a read-only
    command's keys (trackingRememberKeys), else None."""
    if "readonly" in spec.flags:
        return spec.keys(argv) or None
    return None


def single_shard(conn, queued, watching):
    """The one shard running every queued command and holding every watch,
    or None.  Commands that run on the loop or on all shards disqualify
    (SELECT too: the batch carries one database)."""
    shard = None
    for s in watching:
        if shard is None:
            shard = s
        elif s != shard:
            return None
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


def involved_shards(conn, queued) -> set[int]:
    """Shards a multi-shard EXEC must hold: the keys' shards, or all shards
    when a command works database-wide or its shards are not known upfront."""
    shards: set[int] = set()
    for spec, argv in queued:
        if spec.route is Route.SHARD:
            keys = spec.keys(argv)
            if keys:
                shards |= conn.shards_of(keys)
            else:
                shards.add(0)
        elif spec.route is Route.ALL or inspect.iscoroutinefunction(spec.handler):
            return set(range(conn.nshards))
    return shards


async def run_exec(conn, queued, watching, track=False):
    """A transaction over several shards (its shards held by ``in_tx``).
    ``track``: a tracking client's reads are remembered, each right behind
    the command on the shards owning its keys, inside the transaction."""
    if watching:
        dirty = await asyncio.gather(*[
            conn.hop(s, _watch_check_item, [b"WATCH", token]) for s, token in watching.items()])
        if any(dirty):
            return NULL_ARRAY
    # The transaction holds its shards, so nothing else runs on them until it
    # ends: commands that each stay on one shard (and fan-out parts) need only
    # their shard's own order.  They are gathered into one batch per shard and
    # sent together, so independent commands on different shards overlap
    # instead of costing a round trip each.  A command that needs the loop
    # (cross-shard coroutines, CONN and ALL commands) is a barrier: everything
    # gathered before it is sent and awaited first.
    from server.connection import CURRENT_TX, FutureSink
    from actors.messages import Batch
    loop = conn.server.loop
    tx = CURRENT_TX.get()
    out: list = [None] * len(queued)
    batches: dict = {}
    waits: list = []

    def add(s, fn, argv, sink=None, part=0):
        if tx is not None and s not in tx.shards:
            raise RuntimeError(f"hop to shard {s} outside {tx}")
        b = batches.get(s)
        if b is None:
            b = batches[s] = Batch(conn, conn.db, conn.proto, tx)
        fut = None
        if sink is None:
            fut = loop.create_future()
            sink = FutureSink(fut)
        b.items.append((fn, argv, sink, part))     # part: see ShardActor._run_batch
        return fut

    def remember(spec, argv):
        # queued behind the command: sent by the next settle(), before
        # anything the transaction sends those shards later
        keys = read_keys(spec, argv) if track else None
        if keys:
            for s, fn, a in remember_items(conn, keys):
                add(s, fn, a, IGNORE)

    async def settle():
        for s, b in batches.items():
            conn.inboxes[s](b)
        batches.clear()
        for i, futs, merge in waits:
            try:
                out[i] = await futs if merge is None else merge([await f for f in futs])
            except CommandError as e:
                out[i] = e.reply
        waits.clear()

    # With keyspace events on, commands run one at a time (exec_raw), so
    # the events of different shards come in the order of the commands
    ordered = events_on(conn.server)
    for i, (spec, argv) in enumerate(queued):
        if spec.route is Route.SHARD and not ordered:
            shards = conn.shards_of(spec.keys(argv)) or {0}
            if len(shards) == 1:
                waits.append((i, add(shards.pop(), spec.handler, argv), None))
                remember(spec, argv)
                continue
            if spec.fanout is not None:
                try:
                    parts, merge = fanout_parts(conn, spec, argv)
                except CommandError as e:
                    out[i] = e.reply
                    continue
                waits.append((i, [add(s, fn, a, None, j) for j, (s, fn, a) in enumerate(parts)],
                               merge))
                remember(spec, argv)
                continue
        await settle()
        try:
            out[i] = await exec_raw(conn, spec, argv)
        except CommandError as e:
            out[i] = e.reply
        remember(spec, argv)
    await settle()
    return out


async def exec_raw(conn, spec, argv):
    """Run one command inside a transaction and return its raw reply value.

    INFO commandstats counts it once, like Redis's call(): a hop running the
    command's own handler counts on its shard (fan-out parts and Route.ALL
    hops carry their part index: only part 0 counts the call); a call no
    shard runs whole (a coordinator, a failure before any hop) and loop-run
    failures count on the loop (``spec.stats``)."""
    if spec.route is Route.SHARD:
        keys = spec.keys(argv)
        shards = conn.shards_of(keys) or {0}
        if len(shards) == 1:
            return await conn.hop(shards.pop(), spec.handler, argv)
        if spec.fanout is not None:
            if events_on(conn.server):     # keyspace events in argument order
                return await ordered_fanout(conn, spec, argv)
            parts, merge = fanout_parts(conn, spec, argv)
            res = await asyncio.gather(*[conn.hop(s, fn, a, part=j)
                                         for j, (s, fn, a) in enumerate(parts)])
            return merge(list(res))
        if spec.cross is not None:
            spec.stats[4] += 1
            if conn.server.aof is not None and "write" in spec.flags:
                from server.persistence.aof import record_loop   # logged once, as the command
                return await record_loop(conn, argv, spec.cross(conn, argv))
            return await spec.cross(conn, argv)
        return Err(b"CROSSSLOT Keys in request don't hash to the same slot")
    if spec.route is Route.CONN:
        try:
            v = spec.handler(conn, argv)
            if type(v) is CoroutineType:
                v = await v
        except CommandError:
            spec.count_failed_call()
            raise
        from server.connection import DEFERRED
        if v is DEFERRED:
            return Err(b"ERR command not supported inside MULTI")
        if type(v) is Err:
            spec.count_failed_call()
        return v
    if conn.server.aof is not None and "write" in spec.flags:
        from server.persistence.aof import all_write, record_loop   # FLUSHALL...: logged once
        return await record_loop(conn, argv, all_write(conn, spec, argv))
    res = await asyncio.gather(*[conn.hop(s, spec.handler, argv, part=s)
                                 for s in range(conn.nshards)])
    return spec.merge(list(res))
