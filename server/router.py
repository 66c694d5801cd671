"""How a command whose keys live on several shards is split and merged.

Single-shard commands never come here: `Client.dispatch` sends them to their
shard as one batch item.  A command declared with ``fanout=`` is split into one
part per shard (same handler, the keys of that shard), all parts go out in the
current burst's batches (so per-shard FIFO order with the connection's other
commands holds), and a merge function builds the reply on the loop.

Fan-out strategies (``fanout=`` in ``@command``):

``concat``  keys only (MGET): reply is the list of per-key values in order
``sum``     keys only (DEL, EXISTS, UNLINK, TOUCH): reply is the sum
``pairs``   key value pairs (MSET): reply is the first error or OK
"""

from __future__ import annotations

from server.protocol import OK, CommandError, Err

__all__ = ["FANOUTS", "fanout_parts", "group_keys", "ordered_fanout"]


def group_keys(conn, keys, runs: bool = False) -> list[tuple[int, list[int]]]:
    """(shard, positions in ``keys`` of the keys it owns) per part: one part
    per shard, or with ``runs`` one per run of consecutive keys on one shard
    (parts in argument order, for `ordered_fanout`)."""
    shard_of = conn.shard_of
    if runs:
        out: list = []
        last = None
        for i, k in enumerate(keys):
            s = shard_of(k)
            if s == last:
                out[-1][1].append(i)
            else:
                out.append((s, [i]))
                last = s
        return out
    groups: dict[int, list[int]] = {}
    for i, k in enumerate(keys):
        groups.setdefault(shard_of(k), []).append(i)
    return list(groups.items())


async def hop_groups(conn, keys, fn, head: list, stop=None):
    """Run ``fn(db, head + keys of a part)`` for the parts of ``keys``: one
    hop per shard, all at once; with keyspace events on, one hop per run of
    consecutive same-shard keys, one after another, so reads report their
    ``keymiss`` in argument order, and stop after a result for which
    ``stop(result)`` is true (an error: Redis looks no further).  Returns
    (parts, results): parts as `group_keys` gives them ((shard, positions));
    results may be fewer than parts after a stop."""
    from server.notify import events_on
    if events_on(conn.server):
        parts = group_keys(conn, keys, True)
        res = []
        for s, pos in parts:
            r = await conn.hop(s, fn, head + [keys[i] for i in pos])
            res.append(r)
            if stop is not None and stop(r):
                break
        return parts, res
    import asyncio
    parts = group_keys(conn, keys)
    return parts, await asyncio.gather(*[conn.hop(s, fn, head + [keys[i] for i in pos])
                                         for s, pos in parts])


async def ordered_fanout(conn, spec, argv):
    """Run a fan-out command as hops in argument order, one after another
    (inside a transaction, so still atomic and isolated): with keyspace
    events on, its events then come in Redis's order (``del a``, then
    ``del b``) instead of in the order the shards happen to finish."""
    from server import tracking     # a tracking client's read is remembered with it
    parts, merge = fanout_parts(conn, spec, argv, True)
    return merge([await tracking.hop(conn, s, fn, a, j) for j, (s, fn, a) in enumerate(parts)])


ordered_fanout.remembers = True     # server/tracking.py: reads through tracking.hop


def _first_error(results):
    for r in results:
        if type(r) is Err:
            return r
    return None


def fanout_concat(conn, spec, argv, runs=False):
    keys = argv[1:]
    parts = []
    layout = []
    for s, pos in group_keys(conn, keys, runs):
        parts.append((s, spec.handler, [argv[0]] + [keys[i] for i in pos]))
        layout.append(pos)
    n = len(keys)

    def merge(results):
        err = _first_error(results)
        if err is not None:
            return err
        out = [None] * n
        for pos, res in zip(layout, results):
            for i, v in zip(pos, res):
                out[i] = v
        return out
    return parts, merge


def fanout_sum(conn, spec, argv, runs=False):
    keys = argv[1:]
    parts = [(s, spec.handler, [argv[0]] + [keys[i] for i in pos])
             for s, pos in group_keys(conn, keys, runs)]

    def merge(results):
        return _first_error(results) or sum(results)
    return parts, merge


def fanout_pairs(conn, spec, argv, runs=False):
    if len(argv) % 2 == 0:
        raise CommandError(f"ERR wrong number of arguments for '{spec.name}' command")
    keys = argv[1::2]
    parts = []
    for s, pos in group_keys(conn, keys, runs):
        a = [argv[0]]
        for i in pos:
            a.append(argv[1 + 2 * i])
            a.append(argv[2 + 2 * i])
        parts.append((s, spec.handler, a))

    def merge(results):
        return _first_error(results) or OK
    return parts, merge


FANOUTS = {"concat": fanout_concat, "sum": fanout_sum, "pairs": fanout_pairs}


def fanout_parts(conn, spec, argv, runs=False):
    """``FANOUTS[spec.fanout]`` for a fan-out run by a coroutine (ordered,
    inside EXEC): a refusal of its arguments is one failed call of the
    command, which no shard runs.  (Dispatched directly, `Client.execute`
    counts that refusal itself.)"""
    try:
        return FANOUTS[spec.fanout](conn, spec, argv, runs)
    except CommandError:
        spec.count_failed_call()
        raise
