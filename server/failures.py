"""Failure isolation: what happens when a shard actor dies.

A command handler's exception never kills a shard (`ShardActor._handle`
turns it into an error reply).  An actor can still die from an exception
outside any handler (its message loop, or ``DEBUG SHARD-KILL`` injecting
one); pykka then stops it.  Without care its clients would wait forever:
their batches sit in a mailbox nobody reads, and the next ``tell`` raises.

`shard_died` runs on the dying shard's thread, from ``ShardActor.on_receive``
just before the exception reaches pykka:

1. it asks the loop to swap ``server.inboxes[i]`` for a `DownInbox` and
   *waits* until the loop has done so.  The loop is the only sender and is
   single-threaded, so once the swap has run every message the loop will
   ever send through the old mailbox is already in it, and every later one
   goes to the `DownInbox`, which answers at once;
2. it answers what the shard will never run: the message being handled, the
   transaction backlog, everything left in its mailbox, and clients blocked
   on its keys; then the exception goes on to pykka, which logs it and stops
   the actor with an empty mailbox.

Answers are Redis errors, ``-ERR shard N is down``: every command whose keys
hash to that shard's slots gets it immediately, multi-shard commands touching
it get it as their whole reply, and other shards keep serving.  INFO (server
section: ``shards_down``) and the dashboard (its actor row turns "dead") report
the dead shard; the log has the traceback and a summary line.
"""

from __future__ import annotations

import logging
import queue
import threading
import time

from actors.messages import RUN, Batch, Call, run_len
from actors.sequencer import Pending

from .protocol import Err, encode

__all__ = ["ShardDownError", "DownInbox", "shard_died", "down_shards", "kill_shard"]

log = logging.getLogger("shardis")

SWAP_WAIT = 5.0       # seconds the dying shard waits for the loop to swap its inbox


class ShardDownError(RuntimeError):
    """The result of a `Call` to a dead shard (``server.call_shard`` futures)."""


def down_error(i: int) -> Err:
    return Err(b"ERR shard %d is down" % i)


class DownInbox:
    """Stands in for a dead shard's mailbox: answers every message at once
    through the bridge, as the shard would have, with ``-ERR shard N is down``.
    Called on the loop (the only sender), and on the dying shard's thread for
    the messages it leaves behind."""

    def __init__(self, server, index: int):
        self.server = server
        self.index = index
        self.err = down_error(index)

    def __call__(self, msg) -> None:
        t = type(msg)
        if t is list:       # batches merged by the Dispatcher: each answered
            for m in msg:
                self(m)
            return
        if t is Batch:
            if msg.replies is not None:      # already answered by the shard
                return
            err = self.err
            raws = []
            replies = []
            for item in msg.items:
                sink = item[2]
                if sink is None:
                    replies.append(encode(err, msg.proto))
                elif sink is RUN:       # a flat run: one reply per request
                    replies += [encode(err, msg.proto)] * run_len(item)
                else:
                    if type(sink) is Pending:
                        # the multi-shard command cannot complete: its whole
                        # reply is this error, whatever the other parts say
                        sink.merge = lambda _parts, e=err: e
                    raws.append(err)
            msg.raws = raws or None
            msg.replies = replies
            self.server.bridge.post(msg)
        elif t is Call:
            if getattr(msg.fn, "__name__", "") == "register_on_shard":
                # a client about to block on keys of this shard: it would
                # never be served
                waiter = msg.args[1]
                self.server.loop.call_soon_threadsafe(waiter.cancel, self.err)
            msg.result = ShardDownError(f"shard {self.index} is down")
            self.server.bridge.post(msg)
        # Tick, TxHold, TxRelease, Crash: nothing to answer


def down_shards(server) -> dict:
    """index -> {"since": unix time, "reason": str} of the dead shards."""
    return server.extensions.setdefault("shards_down", {})


def _swap_on_loop(server, i: int, reason: str, done: threading.Event) -> None:
    try:
        server.inboxes[i] = DownInbox(server, i)
        down_shards(server)[i] = {"since": time.time(), "reason": reason}
        log.error("Shard %d is down (%s): commands for its slots now get "
                  "'-ERR shard %d is down'", i, reason, i)
    finally:
        done.set()


def shard_died(server, shard, message, exc) -> None:
    """Shard thread, from ``ShardActor.on_receive``: see the module doc."""
    i = shard.index
    reason = f"{type(exc).__name__}: {exc}"[:200]
    done = threading.Event()
    try:
        server.loop.call_soon_threadsafe(_swap_on_loop, server, i, reason, done)
    except RuntimeError:           # loop closed: shutting down, nobody waits
        return
    if not done.wait(SWAP_WAIT):
        log.error("shard %d: the loop did not take over its mailbox in %.0f s",
                  i, SWAP_WAIT)
    down = DownInbox(server, i)
    down(message)
    backlog = shard.backlog
    while backlog:
        down(backlog.popleft())
    inbox = shard.actor_inbox
    while True:
        try:
            envelope = inbox.get_nowait()
        except queue.Empty:
            break
        down(getattr(envelope, "message", envelope))
    # blocked clients waiting for keys of this shard
    for waiters in list(shard.waiters.values()):
        for w in list(waiters):
            server.loop.call_soon_threadsafe(w.cancel, down.err)
    shard.waiters.clear()


def kill_shard(server, i: int) -> None:
    """DEBUG SHARD-KILL: make shard i raise out of its message loop."""
    from actors.shard import CRASH
    server.inboxes[i](CRASH)
