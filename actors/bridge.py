"""Completions from shard threads into the event loop.

pykka futures have no done-callback and awaiting one blocks the loop, so shards
hand finished messages to a `LoopBridge` instead.  ``post`` appends to a
thread-safe deque and schedules at most one ``drain`` on the loop with
``call_soon_threadsafe``; a drain completes everything queued so far.

Ordering invariant: ``post`` appends *before* it reads ``_scheduled`` and
``_drain`` clears ``_scheduled`` *before* it pops, so an item is always either
seen by a drain already scheduled or schedules a new one (no lost wake-up).
Items posted by one shard complete in the order that shard posted them.
"""

from __future__ import annotations

from collections import deque

__all__ = ["LoopBridge"]


class LoopBridge:
    __slots__ = ("loop", "_q", "_scheduled", "wakeups", "completed", "_dirty")

    def __init__(self, loop):
        self.loop = loop
        self._q: deque = deque()
        self._scheduled = False
        self.wakeups = 0
        self.completed = 0
        self._dirty: list = []

    def post(self, item) -> None:
        """Any thread: queue ``item`` to have ``item.complete()`` run on the loop."""
        self._q.append(item)
        if not self._scheduled:
            self._scheduled = True
            try:
                self.loop.call_soon_threadsafe(self._drain)
            except RuntimeError:  # loop closed during shutdown
                pass

    def _drain(self) -> None:
        self._scheduled = False
        self.wakeups += 1
        q = self._q
        dirty = self._dirty
        n = 0
        while q:
            item = q.popleft()
            n += 1
            try:
                conn = item.complete()
            except Exception:  # a broken owner must not stop the drain
                import logging
                logging.getLogger("shardis.bridge").exception("completion failed")
                continue
            # complete() returns an object whose output should be flushed once
            # after this drain (coalescing writes across many completions).
            if conn is not None and not conn.flush_scheduled:
                conn.flush_scheduled = True
                dirty.append(conn)
        self.completed += n
        if dirty:
            self._dirty = []
            for conn in dirty:
                conn.flush_scheduled = False
                conn.flush()
