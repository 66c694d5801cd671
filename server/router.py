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

__all__ = ["FANOUTS", "group_keys"]


def group_keys(conn, keys) -> dict[int, list[int]]:
    """shard -> positions (in ``keys``) of the keys it owns."""
    shard_of = conn.shard_of
    groups: dict[int, list[int]] = {}
    for i, k in enumerate(keys):
        groups.setdefault(shard_of(k), []).append(i)
    return groups


def _first_error(results):
    for r in results:
        if type(r) is Err:
            return r
    return None


def fanout_concat(conn, spec, argv):
    keys = argv[1:]
    groups = group_keys(conn, keys)
    parts = []
    layout = []
    for s, pos in groups.items():
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


def fanout_sum(conn, spec, argv):
    keys = argv[1:]
    groups = group_keys(conn, keys)
    parts = [(s, spec.handler, [argv[0]] + [keys[i] for i in pos])
             for s, pos in groups.items()]

    def merge(results):
        return _first_error(results) or sum(results)
    return parts, merge


def fanout_pairs(conn, spec, argv):
    if len(argv) % 2 == 0:
        raise CommandError(f"ERR wrong number of arguments for '{spec.name}' command")
    keys = argv[1::2]
    groups = group_keys(conn, keys)
    parts = []
    for s, pos in groups.items():
        a = [argv[0]]
        for i in pos:
            a.append(argv[1 + 2 * i])
            a.append(argv[2 + 2 * i])
        parts.append((s, spec.handler, a))

    def merge(results):
        return _first_error(results) or OK
    return parts, merge


FANOUTS = {"concat": fanout_concat, "sum": fanout_sum, "pairs": fanout_pairs}
