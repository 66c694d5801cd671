"""Sampled request tracing: where the time of a request goes.

One batch in ``every`` (per server) carries a `TraceRecord` through its life:
parsed on the loop (``t_parsed``), sent to its shard (``t_sent``), executed
(``t_exec_start``/``t_exec_end`` on the shard thread), completion seen by the
loop (``t_done``), replies written to the socket (``t_replied``).  Timestamps
are ``time.perf_counter_ns`` (one clock for all threads).  Ownership moves
with the batch: the loop writes the first two stamps, the shard the next two
while it holds the message, the loop the rest.  Finished records go to the
bounded ``Tracer.recent`` deque (dashboard trace view, /api/traces).
"""

from __future__ import annotations

import time
from collections import deque

__all__ = ["Tracer", "TraceRecord"]


class TraceRecord:
    __slots__ = ("client_id", "addr", "cmd", "shard", "ncmds", "t_parsed", "t_sent",
                 "t_exec_start", "t_exec_end", "t_done", "t_replied", "shard_mailbox",
                 "wall")

    def __init__(self, client_id, addr, cmd, shard):
        self.client_id = client_id
        self.addr = addr
        self.cmd = cmd
        self.shard = shard
        self.ncmds = 0
        self.t_parsed = time.perf_counter_ns()
        self.wall = time.time()
        self.t_sent = self.t_exec_start = self.t_exec_end = self.t_done = self.t_replied = 0
        self.shard_mailbox = 0

    def as_dict(self) -> dict:
        def us(a, b):
            return round((b - a) / 1000, 1) if a and b else None
        return {"client": self.client_id, "addr": self.addr, "cmd": self.cmd,
                "shard": self.shard, "commands": self.ncmds, "time": self.wall,
                "mailbox_at_exec": self.shard_mailbox,
                "stages_us": {"parse_to_send": us(self.t_parsed, self.t_sent),
                              "queued_in_mailbox": us(self.t_sent, self.t_exec_start),
                              "execute": us(self.t_exec_start, self.t_exec_end),
                              "back_to_loop": us(self.t_exec_end, self.t_done),
                              "wait_for_order_and_write": us(self.t_done, self.t_replied)},
                "total_us": us(self.t_parsed, self.t_replied)}


class Tracer:
    """Loop-owned sampler.  ``every`` = 0 disables tracing."""

    def __init__(self, every: int = 1000, keep: int = 200):
        self.every = every
        self.countdown = every if every else 1 << 62
        self.recent: deque = deque(maxlen=keep)

    def start(self, conn, shard: int) -> TraceRecord:
        self.countdown = self.every if self.every else 1 << 62
        return TraceRecord(conn.id, conn.addr, "", shard)

    def replied(self, conn) -> None:
        """After a write: finish records whose batch's replies are all out."""
        keep = []
        now = time.perf_counter_ns()
        for b in conn.traced:
            r = b.replies
            if r is not None and b.cursor >= len(r):
                tr = b.trace
                tr.t_replied = now
                if not tr.cmd and b.items:
                    a = b.items[0][1]
                    tr.cmd = a[0].decode("utf-8", "replace").upper() if a else ""
                self.recent.append(tr)
            else:
                keep.append(b)
        conn.traced = keep
