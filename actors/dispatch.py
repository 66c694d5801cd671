"""One mailbox message per shard per event-loop iteration.

Connections hand their finished per-burst `Batch`es to the `Dispatcher`
instead of sending them.  At the end of the loop iteration (one
``call_soon`` after all ``data_received`` callbacks of this poll), `flush`
sends each shard a single list of every batch queued for it, from every
connection.  With 50 clients each sending one command, a shard gets one
message (one queue put, one thread wake-up, one GIL hand-off) instead of
fifty; the shard runs the list's batches in order (`ShardActor.on_receive`).

Every other message to a shard is sent through ``server.inboxes[i](msg)``.
`Inboxes` is that list: *indexing it flushes the dispatcher first*, so a
message sent directly (a transaction's holds, a coordinator's hop, a `Call`)
never overtakes a batch queued before it.  Hence:

- a connection's batches for a shard reach it in the order it queued them,
  and before anything it sends that shard later (per-connection FIFO,
  docs/architecture.md, invariant 1);
- `flush` sends to all shards in one synchronous step on the loop thread, so
  a multi-shard operation's parts still reach every shard in one global
  order (invariant 5);
- an entry of `Inboxes` replaced at run time (a dead shard's `DownInbox`,
  server/failures.py) takes effect for batches still queued: `flush` reads
  the entry when it sends, and gives a list only to the original actor
  ``tell`` (the one sender known to accept lists), one message at a time to
  anything else.

Everything here runs on the event loop thread.
"""

from __future__ import annotations

import logging
import time

from .messages import count_commands

__all__ = ["Dispatcher", "Inboxes"]

log = logging.getLogger("shardis.dispatch")

_get = list.__getitem__


class Inboxes(list):
    """``server.inboxes``: shard i's send function at index i.  Indexing
    flushes the dispatcher's queued batches first (see the module doc);
    iterating does not (only the periodic Tick is sent that way, and it does
    not need ordering)."""

    __slots__ = ("dispatcher",)

    def __init__(self, *args):
        super().__init__(*args)
        self.dispatcher = None

    def __getitem__(self, i):
        d = self.dispatcher
        if d is not None and d.dirty:
            d.flush()
        return _get(self, i)


class Dispatcher:
    __slots__ = ("loop", "inboxes", "lists_ok", "pending", "dirty", "scheduled", "flushes",
                 "batches")

    def __init__(self, loop, inboxes: Inboxes):
        self.loop = loop
        self.inboxes = inboxes
        # the actor tells present now accept a list of messages; an entry
        # swapped in later (DownInbox) gets them one by one
        self.lists_ok = list(inboxes)
        self.pending: list[list] = [[] for _ in inboxes]
        self.dirty: list[int] = []
        self.scheduled = False
        self.flushes = 0
        self.batches = 0

    def queue(self, s: int, batch) -> None:
        p = self.pending[s]
        if not p:
            self.dirty.append(s)
        p.append(batch)
        if not self.scheduled:
            self.scheduled = True
            self.loop.call_soon(self.flush)

    def flush(self) -> None:
        self.scheduled = False
        dirty = self.dirty
        if not dirty:
            return
        # cleared before sending: nothing below re-enters, but a failure
        # must not leave batches to be sent twice
        self.dirty = []
        self.flushes += 1
        pending = self.pending
        inboxes = self.inboxes
        now = 0
        for s in dirty:
            msg = pending[s]
            pending[s] = []
            self.batches += len(msg)
            for b in msg:
                if b.trace is not None:
                    now = now or time.perf_counter_ns()
                    b.trace.t_sent = now
                    b.trace.ncmds = count_commands(b.items)
            send = _get(inboxes, s)
            try:
                if len(msg) == 1:
                    send(msg[0])
                elif send is self.lists_ok[s]:
                    send(msg)
                else:
                    for m in msg:
                        send(m)
            except Exception:  # noqa: BLE001 - a dead actor during shutdown
                log.exception("shard %d: sending %d batches failed", s, len(msg))
