"""Per-connection reply ordering (the connection actor's state).

Each parsed request gets exactly one entry in `ReplySequencer.entries`, in
parse order.  An entry is either the reply's bytes (ready at once: errors,
connection commands) or an object with ``take()`` that returns the encoded
reply once it is ready and None before:

* a `Batch` (``actors.messages``): one entry per command in the batch; the
  batch hands out its replies in order through its cursor;
* a `Pending`: a reply assembled from several parts (a command split across
  shards, a coordinator, a timer).

Invariant: replies reach the socket in parse order.  A batch's ``pre`` pushes
(keyspace events its own commands caused, for a subscribed owner) are written
right before the reply of the command that caused them; while the shard's
Notice for the batch is still on its way (``pre is PRE_WAIT``) the batch
counts as not ready, so an event can never fall behind its reply.  ``drain`` only ever
removes a prefix of ready entries, so a slow entry holds back everything
behind it (as Redis's single thread would) and nothing is reordered.

Everything here runs on the event loop thread.
"""

from __future__ import annotations

from collections import deque

from server.protocol import encode

from .messages import PRE_WAIT, Batch

__all__ = ["ReplySequencer", "Pending"]


class Pending:
    """A reply assembled on the loop from ``need`` parts (or set directly).

    ``deliver(i, v)`` stores part i; when all parts arrived ``merge(parts)``
    gives the reply value, encoded with the protocol captured at dispatch.
    """

    __slots__ = ("reply", "parts", "need", "merge", "proto", "on_ready")

    def __init__(self, need: int, merge, proto: int, on_ready=None):
        self.reply = None
        self.parts = [None] * need
        self.need = need
        self.merge = merge
        self.proto = proto
        self.on_ready = on_ready

    def deliver(self, i: int, v) -> None:
        self.parts[i] = v
        self.need -= 1
        if self.need == 0:
            self.resolve(self.merge(self.parts))

    def resolve(self, value) -> None:
        self.reply = encode(value, self.proto)
        if self.on_ready is not None:
            self.on_ready(self)

    def take(self):
        return self.reply


class ReplySequencer:
    __slots__ = ("entries",)

    def __init__(self):
        self.entries: deque = deque()

    def __len__(self) -> int:
        return len(self.entries)

    def drain(self) -> list[bytes]:
        """Pop the ready prefix; return its replies in order."""
        q = self.entries
        out = []
        while q:
            e = q[0]
            if type(e) is Batch:
                # a run of consecutive entries of one batch (a pipeline of
                # commands for one shard) is taken in one slice
                r = e.replies
                if r is None:
                    break
                pre = e.pre
                if pre is PRE_WAIT:     # its keyspace events are not delivered yet
                    break
                c = e.cursor
                k = len(r) - c
                if len(q) == k:
                    # the batch has one entry here per reply it has not
                    # handed out, so a queue of that length holds nothing
                    # else (a pipeline's burst, the common case): no walk
                    q.clear()
                else:
                    q.popleft()
                    k = 1
                    while q and q[0] is e:
                        q.popleft()
                        k += 1
                e.cursor = c + k
                if pre is None:
                    out += r[c:c + k]
                else:                   # own keyspace events go before their replies
                    for j in range(c, c + k):
                        p = pre.get(j)
                        if p:
                            out += p
                        out.append(r[j])
                    if c + k == len(r):
                        p = pre.get(c + k)
                        if p:
                            out += p
                continue
            if isinstance(e, bytes):   # bytes or Raw: ready at parse time
                out.append(e)
            else:
                r = e.take()
                if r is None:
                    break
                out.append(r)
            q.popleft()
        return out
