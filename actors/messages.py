"""Messages between the event loop and shard actors.

Every message is a small ``__slots__`` object.  A message that expects an
answer carries its own completion: the shard fills in the result and hands the
message to the `LoopBridge`, which calls ``complete()`` on the event loop
thread.  No thread ever blocks on another: shards never wait, the loop never
calls ``Future.get()``.
"""

from __future__ import annotations

__all__ = ["Batch", "Call", "Tick", "Tx", "TxHold", "TxRelease", "PRE_WAIT", "RUN",
           "run_argv", "run_len", "run_items", "expand_runs", "count_commands"]

PRE_WAIT = object()     # Batch.pre while the batch's Notice is on its way


class _Run:
    """The sink of a flat run item (see `Batch`)."""

    __slots__ = ()

    def __repr__(self):
        return "RUN"


RUN = _Run()


def run_len(item) -> int:
    """Requests in the flat run ``item`` = (handler, flat, RUN, width)."""
    return (len(item[1]) - 1) // item[3]


def run_argv(item, r: int) -> list:
    """The argv of request ``r`` of the flat run ``item``."""
    flat = item[1]
    w = item[3]
    return [flat[0], *flat[1 + r * w:1 + (r + 1) * w]]


def run_items(item, first: int = 0) -> list:
    """The ordinary items of the flat run ``item``'s requests from ``first``."""
    fn = item[0]
    return [(fn, run_argv(item, r), None, 0) for r in range(first, run_len(item))]


def expand_runs(items: list, start: int = 0) -> int:
    """Turn the flat runs of ``items[start:]`` into ordinary items, in place
    (the per-command path, and every reader of items but the runners, sees
    only those); returns how many items were added."""
    added = 0
    i = start
    while i < len(items):
        item = items[i]
        if item[2] is RUN:
            new = run_items(item)
            items[i:i + 1] = new
            added += len(new) - 1
            i += len(new)
        else:
            i += 1
    return added


def count_commands(items: list) -> int:
    """Commands in ``items``: a flat run counts its requests."""
    n = len(items)
    for item in items:
        if item[2] is RUN:
            n += run_len(item) - 1
    return n


class Batch:
    """Commands of one connection for one shard, parsed in one read burst.

    ``items`` are ``(handler, argv, sink, index)`` in parse order; the shard
    runs them in that order against database ``db``.  An item may also be a
    *flat run* ``(handler, flat, RUN, width)`` (the C parser's, for a
    pipeline of plain GETs or SETs): consecutive requests of one handler
    with ``width`` arguments after the name each, ``flat = [name, arguments
    of the first, of the second, ...]``; it stands for those requests, with
    ``sink is None`` (one reply each), without a tuple and a list per
    request.  Runners take a run whole (``FLAT_RUNNERS``, actors/shard.py);
    anything else sees it only after `expand_runs`.  For ``sink is None`` the
    encoded reply (protocol ``proto``) is appended to ``replies``; otherwise the
    raw value goes to ``raws`` and, on the loop, to ``sink.deliver(index, v)``
    (parts of multi-shard commands, coordinator hops).

    The connection's reply sequencer holds this object once per ``sink is
    None`` item, in request order, and consumes ``replies`` through ``cursor``:
    replies of one batch are always consumed in the order they were produced.

    ``pre`` holds pushes that go before some of those replies: keyspace events
    a command of this batch caused, for a connection that is subscribed to
    them and is the batch's owner (Redis writes such an event before the
    command's reply).  None (nothing), `PRE_WAIT` (set by the shard before it
    posts the batch's Notice: the sequencer holds these replies until the loop
    has delivered it) or ``{reply index: [encoded push, ...]}``.
    """

    __slots__ = ("owner", "db", "proto", "items", "replies", "raws", "cursor", "tx", "trace",
                 "pre")

    def __init__(self, owner, db: int, proto: int, tx=None):
        self.owner = owner          # loop-side object with batch_done(batch)
        self.tx = tx                # the Tx this hop belongs to (None: ordinary)
        self.trace = None           # a sampled TraceRecord (actors/trace.py)
        self.db = db
        self.proto = proto
        self.items: list = []
        self.replies: list | None = None   # set by the shard when done
        self.raws: list | None = None
        self.cursor = 0
        self.pre = None

    def take(self):
        """Next ready reply for the sequencer, or None while executing."""
        r = self.replies
        if r is None:
            return None
        v = r[self.cursor]
        self.cursor += 1
        return v

    def complete(self):
        return self.owner.batch_done(self)


class Call:
    """Run ``fn(shard, *args)`` on a shard; ``done(result)`` runs on the loop.

    Used for administrative work (INFO, DBSIZE parts, dashboard snapshots).
    If ``fn`` raises, ``done`` receives the exception object.
    """

    __slots__ = ("fn", "args", "done", "result", "tx")

    def __init__(self, fn, args, done, tx=None):
        self.fn = fn
        self.args = args
        self.done = done
        self.result = None
        self.tx = tx

    def complete(self):
        self.done(self.result)
        return None


class Tick:
    """Periodic housekeeping (active expiry); sent by the loop's timer."""

    __slots__ = ()


TICK = Tick()


class Tx:
    """Identity of one cross-shard transaction (see docs/transactions.md)."""

    __slots__ = ("id", "shards")
    _next = 0

    def __init__(self, shards):
        Tx._next += 1           # only the event loop creates Tx objects
        self.id = Tx._next
        self.shards = shards

    def __repr__(self):
        return f"Tx({self.id})"


class TxHold:
    """Hold this shard for ``tx``: until the matching TxRelease the shard runs
    only messages tagged with ``tx`` and defers every other message, in order.

    The loop sends a transaction's holds to all its shards in one step, so all
    shards see holds in the same global order: no two transactions can each
    hold a shard the other is waiting for (no deadlock), and deferred messages
    run in arrival order (no starvation).  No reply: hops follow in FIFO order.
    """

    __slots__ = ("tx",)

    def __init__(self, tx):
        self.tx = tx


class TxRelease:
    """End of ``tx`` on this shard: run the deferred messages in order."""

    __slots__ = ("tx",)

    def __init__(self, tx):
        self.tx = tx
