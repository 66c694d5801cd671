"""One mailbox message per shard per event-loop iteration.

Connections hand their finished per-burst `Batch`es to the `Dispatcher`
instead of sending them.  At the end of the loop iteration (one
``call_soon`` after all ``data_received`` callbacks of this poll), `flush`
sends each shard a single list of every batch queued for it, from every
connection.  With 50 clients each sending one command, a shard gets one
message instead of fifty: fewer queue operations, thread wake-ups and GIL
hand-offs.

Ordering invariants:
- a connection's batches for a shard stay in the order it queued them, so
  per-connection FIFO per shard (docs/architecture.md, invariant 2) holds;
- `flush` sends to all shards in one synchronous step, so a multi-shard
  operation's parts still reach every shard in one global order (invariant 5);
- anything that must be ordered after queued batches (a transaction's holds,
  a barrier's first hop) calls `flush` first.
"""

from __future__ import annotations

import time

__all__ = ["Dispatcher"]


class Dispatcher:
    __slots__ = ("loop", "inboxes", "pending", "dirty", "scheduled", "flushes", "batches")

    def __init__(self, loop, inboxes):
        self.loop = loop
        self.inboxes = inboxes
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
        if not self.dirty:
            return
        self.flushes += 1
        pending = self.pending
        inboxes = self.inboxes
        now = 0
        for s in self.dirty:
            msg = pending[s]
            pending[s] = []
            self.batches += len(msg)
            for b in msg:
                if b.trace is not None:
                    now = now or time.perf_counter_ns()
                    b.trace.t_sent = now
                    b.trace.ncmds = len(b.items)
            inboxes[s](msg[0] if len(msg) == 1 else msg)
        self.dirty = []
