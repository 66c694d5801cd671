"""Blocking commands: BLPOP, BRPOP, BLMOVE, BRPOPLPUSH, BLMPOP (Redis's
blockingPopGenericCommand, blmoveGenericCommand, blmpopCommand), BZPOPMIN,
BZPOPMAX, BZMPOP (blockingGenericZpopCommand), and CLIENT UNBLOCK.

Each is an ``async def`` CONN handler, so the connection runs it as a
barrier: requests pipelined after it wait for its reply.  The handler

1. parses its arguments in Redis's order (BLPOP/BZPOPMIN: timeout first;
   BLMPOP/BZMPOP: numkeys, direction and COUNT before the timeout);
2. tries the non-blocking form with hops to the keys' shards, keys in
   argument order (a WRONGTYPE key met before a non-empty one is an error);
3. inside MULTI/EXEC (a transaction holds the shards) it stops there and
   answers like a timeout, as Redis does for clients that may not block;
4. otherwise it creates a waiter (`Waiter` for lists, `ZWaiter` for sorted
   sets: the value type it can be served from) and registers it, with one message per
   shard involved, in that shard's per-key FIFO ``shard.waiters[(db, key)]``.
   Registering also serves it at once if a push slipped in between steps 2
   and 4.  The handler then awaits the waiter's future; neither the loop nor
   any shard blocks.

A waiter is resolved by exactly one of: a shard serving it (after a
command created or pushed to one of its keys, `lists.serve_ready`, result
posted through the bridge; see docs/blocking.md), its timeout timer,
CLIENT UNBLOCK, or the client disconnecting.  Each of these first *claims*
the waiter's one-shot token; only the winner acts.  That claim is the one
primitive shared across threads here: ``threading.Lock.acquire(blocking=
False)`` is an atomic test-and-set that never waits (the lock is never
released, so a failed attempt just means someone else won).  Consequences:

* an element is popped only by the shard that won the claim, so it goes to
  exactly one client, and the longest waiting client on a key (first in that
  key's FIFO) is served first;
* when the loop loses the claim (timeout or disconnect racing a serve) the
  result is already on its way: the handler waits for it; if the client is
  gone by then the popped elements are given back (list elements to the
  end they came from, sorted-set members with their scores), so a
  disconnecting consumer never loses an element.

After any outcome the loop sends each shard a message removing the waiter's
stale entries (serving also skips entries whose claim fails).
"""

from __future__ import annotations

import asyncio
import math
import threading
from decimal import Decimal, InvalidOperation

from server.protocol import NULL_ARRAY, CommandError, Err
from server.table import TABLE, Route, command, subcommand

from . import lists, zsets
from .lists import LEFT, RIGHT, RedisList, Delivery, parse_mpop, parse_where
from .zsets import ZSet
from .util import parse_int

_LIST_EVENTS = 1 << 4      # server/notify.py LIST (l)

CONN = Route.CONN

NOT_FLOAT = "ERR timeout is not a float or out of range"
NEGATIVE = "ERR timeout is negative"
UNBLOCKED = "UNBLOCKED client unblocked via CLIENT UNBLOCK"
# A timeout longer than this (about 31 years) is treated as "forever": the
# loop's timer cannot represent Redis's full long long range anyway.
FOREVER_MS = 10 ** 12


def parse_block_timeout(b: bytes) -> int:
    """getTimeoutFromObjectOrReply(UNIT_SECONDS) of Redis 7.0: a long double
    (strtold syntax, hex included; no surrounding spaces, no NaN; overflow or
    underflow of the long double range is "not a float"), times 1000, rounded
    up, cast to long long (out of range casts give LLONG_MIN, hence "is
    negative" for inf and huge values).  Returns milliseconds, 0 = forever."""
    if not b or b[:1].isspace() or b[-1:].isspace() or b"_" in b:
        raise CommandError(NOT_FLOAT)
    s = b.decode("latin-1")
    low = s.lower().lstrip("+-")
    if low.startswith("0x"):
        try:
            v = float.fromhex(s)
        except (ValueError, OverflowError):
            raise CommandError(NOT_FLOAT) from None
    else:
        try:
            d = Decimal(s)
        except InvalidOperation:
            raise CommandError(NOT_FLOAT) from None
        if d.is_nan():
            raise CommandError(NOT_FLOAT)
        if d.is_finite() and d != 0:
            e = d.adjusted()
            # outside long double's range: strtold sets ERANGE
            if e > 4931 or e < -4950:
                raise CommandError(NOT_FLOAT)
        v = float(d) if d.is_finite() else (math.inf if d > 0 else -math.inf)
        if d.is_finite() and math.isinf(v):
            raise CommandError(NEGATIVE)     # finite long double, cast overflows
    if math.isnan(v):
        raise CommandError(NOT_FLOAT)
    ms = v * 1000.0
    if math.isinf(ms) or ms >= 2.0 ** 63 or ms < -(2.0 ** 63):
        raise CommandError(NEGATIVE)
    t = math.ceil(ms)
    if t < 0:
        raise CommandError(NEGATIVE)
    return t


# --------------------------------------------------------------- waiters
POP, MPOP, MOVE, ZPOP, ZMPOP = 0, 1, 2, 3, 4

_TIMEOUT = object()       # timer fired, or CLIENT UNBLOCK ... TIMEOUT
_UNBLOCK_ERROR = object()  # CLIENT UNBLOCK ... ERROR
_GONE = object()          # the client disconnected


class Popped:
    """BLMOVE with the destination on another shard: the source shard popped
    ``value``; the handler pushes it to the destination."""

    __slots__ = ("value",)

    def __init__(self, value):
        self.value = value


class Waiter:
    """One blocked list command.  Registered on several shards' FIFOs at
    once; the claim token makes sure it is served (or cancelled) exactly
    once.  ``vtype`` is the value class it can be served from: a shard only
    hands it a key holding that type (`lists.serve_ready`)."""

    vtype = RedisList
    __slots__ = ("_token", "fut", "kind", "where", "whereto", "count", "dst",
                 "dst_local", "conn_id")

    def __init__(self, fut, kind, where, conn_id, count=1, dst=None, whereto=LEFT,
                 dst_local=True):
        self._token = threading.Lock()
        self.fut = fut
        self.kind = kind
        self.where = where
        self.count = count
        self.dst = dst
        self.whereto = whereto
        self.dst_local = dst_local
        self.conn_id = conn_id

    def claim(self) -> bool:
        """Any thread: True for exactly one caller, ever; never waits."""
        return self._token.acquire(blocking=False)

    def claimed(self) -> bool:
        return self._token.locked()

    # shard thread, after a successful claim, ``lst`` non-empty
    def take(self, db, key: bytes, lst: RedisList):
        if self.kind == POP:
            v = lst.popleft() if self.where == LEFT else lst.pop()
            lists.after_pop(db, key, lst)
            return [key, v]
        if self.kind == MPOP:
            out = lists.pop_n(lst, self.where, self.count)
            lists.after_pop(db, key, lst)
            return [key, out]
        if self.dst_local:
            # WRONGTYPE destination: an error for this client, nothing popped
            return lists.lmove_local(db, key, self.dst, self.where, self.whereto)
        v = lst.popleft() if self.where == LEFT else lst.pop()
        lists.after_pop(db, key, lst)
        return Popped(v)

    # loop thread
    def deliver(self, result) -> None:
        if not self.fut.done():
            self.fut.set_result(result)

    def cancel(self, why) -> bool:
        """Loop: resolve with ``why`` if the claim is won."""
        if self.claim():
            self.deliver(why)
            return True
        return False


class ZWaiter(Waiter):
    """A blocked BZPOPMIN/BZPOPMAX (kind ZPOP) or BZMPOP (ZMPOP); ``where``
    is True for the highest scores."""

    vtype = ZSet
    __slots__ = ()

    # shard thread, after a successful claim, ``z`` non-empty
    def take(self, db, key: bytes, z):
        pairs = zsets.pop_pairs(db, key, z, self.count, self.where)
        _aof_emit(db, [b"ZPOPMAX" if self.where else b"ZPOPMIN", key, b"%d" % len(pairs)])
        if self.kind == ZPOP:
            return [key, pairs[0][0], pairs[0][1]]
        return [key, [[m, sc] for m, sc in pairs]]


def _aof_emit(db, cmd) -> None:
    """Log a pop done while serving a zset waiter as the equivalent command
    (the AOF wraps `Waiter.take` for list waiters the same way): queued
    behind the record of the command that woke the waiter."""
    if db.shard.aof is not None:
        from server.persistence.aof import _emit
        _emit(db.shard, db.index, [cmd])


def register_on_shard(shard, dbi: int, w: Waiter, keys) -> None:
    """Append ``w`` to the FIFO of each key, then serve the keys that already
    hold its type (a push that happened since the non-blocking attempt)."""
    if w.claimed():
        return          # timed out or unblocked before this message ran
    waiters = shard.waiters
    ready = shard.ready
    db = shard.dbs[dbi]
    for k in keys:
        waiters.setdefault((dbi, k), lists.deque()).append(w)
    for k in keys:
        if type(db.lookup(k)) is w.vtype:
            ready.append((dbi, k))
    if ready and not shard.serving:
        lists.serve_ready(shard)


def unregister_on_shard(shard, dbi: int, w: Waiter, keys) -> None:
    waiters = getattr(shard, "waiters", None)
    if not waiters:
        return
    for k in keys:
        q = waiters.get((dbi, k))
        if q is None:
            continue
        try:
            q.remove(w)
        except ValueError:
            pass
        if not q:
            del waiters[(dbi, k)]


def requeue_on_shard(shard, dbi: int, key: bytes, where: int, values) -> None:
    """Give elements popped for a client that went away back to the end they
    came from, in their original order (and serve other waiters)."""
    db = shard.dbs[dbi]
    lst = db.lookup(key)
    if lst is not None and type(lst) is not RedisList:
        # the key was overwritten by another type meanwhile: Redis would have
        # delivered them; here nobody can take them any more
        return
    lists.push_values(db, key, lst, list(reversed(values)), where)
    if shard.ready:
        lists.serve_ready(shard)


def zrequeue_on_shard(shard, dbi: int, key: bytes, pairs) -> None:
    """The sorted-set give-back: re-add the popped (member, score) pairs
    (a member added again meanwhile keeps its new score), then serve."""
    db = shard.dbs[dbi]
    z = db.lookup(key)
    if z is not None and type(z) is not ZSet:
        return          # overwritten by another type meanwhile (see above)
    created = z is None
    if created:
        z = ZSet()
    back = [(m, sc) for m, sc in pairs if m not in z.scores]
    if not back:
        return
    for m, sc in back:
        z.set_score(m, sc)
    aof = shard.aof
    if aof is not None:
        # the give-back's record first, then those of the waiters it serves
        from server.persistence.aof import _flush_after, _route
        cmd = [b"ZADD", key]
        for m, sc in back:
            cmd += [zsets.fmt_score(sc), m]
        _route(aof, shard, [(dbi, cmd)])
    if created:
        db.set(key, z)          # queues the key if clients wait on it
    else:
        db.put(key, z)
        lists.signal_key(db, key)
    if shard.ready:
        lists.serve_ready(shard)
    if aof is not None:
        _flush_after(shard)


class BlockState:
    """Loop-owned: the waiter of each blocked connection (by client id)."""

    def __init__(self):
        self.waiting: dict[int, Waiter] = {}

    def drop_client(self, conn) -> None:
        w = self.waiting.get(conn.id)
        if w is not None:
            w.cancel(_GONE)


def _state(server) -> BlockState:
    st = server.extensions.get("blocking")
    if st is None:
        st = server.extensions["blocking"] = BlockState()
        server.extensions.setdefault("on_disconnect", []).append(st.drop_client)
    return st


def unblock_client(server, client_id: int, error: bool) -> int:
    """CLIENT UNBLOCK: 1 if the client was blocked here and is now unblocked
    (with a timeout reply, or the UNBLOCKED error), else 0."""
    st = server.extensions.get("blocking")
    w = st.waiting.get(client_id) if st is not None else None
    if w is None:
        return 0
    return int(w.cancel(_UNBLOCK_ERROR if error else _TIMEOUT))


def gone(conn) -> bool:
    """The client can no longer receive a reply: disconnected, or its
    transport is closing (EOF seen; connection_lost comes a loop turn later
    and a write in between would be dropped)."""
    t = conn.transport
    return conn.closed or t is None or t.is_closing()


def _in_tx() -> bool:
    from server.connection import CURRENT_TX
    return CURRENT_TX.get() is not None


async def wait_for(conn, keys, timeout_ms: int, cls=Waiter, **kw):
    """Block on ``keys`` until served, timed out, unblocked or disconnected;
    the raw result or one of the sentinels.  ``cls`` is the waiter class
    (list or sorted-set waiter), ``kw`` its parameters."""
    server = conn.server
    loop = server.loop
    st = _state(server)
    w = cls(loop.create_future(), conn_id=conn.id, **kw)
    groups: dict[int, list[bytes]] = {}
    for k in keys:
        ks = groups.setdefault(conn.shard_of(k), [])
        if k not in ks:
            ks.append(k)
    dbi = conn.db
    st.waiting[conn.id] = w
    conn.blocked = True
    conn.blocked_on = tuple(keys)
    handle = None
    try:
        if gone(conn):
            w.cancel(_GONE)
        for s, ks in groups.items():
            server.call_shard(s, register_on_shard, dbi, w, ks)
        if timeout_ms and timeout_ms < FOREVER_MS:
            handle = loop.call_later(timeout_ms / 1000.0, w.cancel, _TIMEOUT)
        return await w.fut
    finally:
        if handle is not None:
            handle.cancel()
        if st.waiting.get(conn.id) is w:
            del st.waiting[conn.id]
        conn.blocked = False
        conn.blocked_on = ()
        for s, ks in groups.items():
            server.call_shard(s, unregister_on_shard, dbi, w, ks)


def _outcome(res, timeout_reply):
    """Map a sentinel to its reply; None for a real result."""
    if res is _TIMEOUT:
        return timeout_reply
    if res is _UNBLOCK_ERROR:
        raise CommandError(UNBLOCKED)
    if type(res) is Err:
        raise CommandError(bytes(res))
    return None


# --------------------------------------------------------------- generic blocking pop
async def bpop_generic(conn, keys, timeout_ms: int, attempt, giveback, cls, **kw):
    """blockingPopGenericCommand / blockingGenericZpopCommand after parsing.

    ``attempt()`` is the non-blocking pop over ``keys`` in order (the reply,
    or None if every key is missing; WRONGTYPE raised); ``giveback(reply)``
    returns the popped elements to their key on its shard.  A reply is only
    lost to its client by a disconnect, and then given back."""
    r = await attempt()
    if r is not None:
        if gone(conn):
            # the client went away while the pop was on its way: give back
            giveback(r)
            return None
        if not _in_tx():
            _giveback_if_unsent(conn, giveback, r)
        return r
    if _in_tx():
        return NULL_ARRAY       # CLIENT_DENY_BLOCKING: answered like a timeout
    res = await wait_for(conn, keys, timeout_ms, cls=cls, **kw)
    if res is _GONE:
        return None
    out = _outcome(res, NULL_ARRAY)
    if out is not None:
        return out
    if gone(conn):
        # served while the client was going away: give the elements back
        giveback(res)
        return None
    _giveback_if_unsent(conn, giveback, res)
    return res


def _giveback_if_unsent(conn, giveback, reply) -> None:
    """The reply with the popped elements is written by the connection when
    this handler's task is done (its done callback, added before ours); if
    the client disconnected in the loop turns between our last check and
    that callback, the connection drops the reply (it is closed).  Our done
    callback runs right after the connection's, with no I/O in between, and
    gives the elements back in that case.  A transport already closing
    (EOF seen, connection_lost not yet run) drops writes too (uvloop)."""
    def check(_task):
        if gone(conn):
            giveback(reply)
    asyncio.current_task().add_done_callback(check)


# --------------------------------------------------------------- BLPOP / BRPOP / BLMPOP
def _list_pop(conn, keys, where: int, count: int, timeout_ms: int, mpop: bool):
    """BLPOP/BRPOP reply [key, element]; BLMPOP [key, [elements]]."""
    dbi = conn.db

    async def attempt():
        r = await lists.mpop_across(conn, keys, where, count)
        if r is None or mpop:
            return r
        return [r[0], r[1][0]]

    def giveback(reply):
        values = reply[1] if mpop else [reply[1]]
        conn.server.call_shard(conn.shard_of(reply[0]), requeue_on_shard, dbi,
                               reply[0], where, values)
    return bpop_generic(conn, keys, timeout_ms, attempt, giveback, Waiter,
                        kind=MPOP if mpop else POP, where=where, count=count)


@command("blpop", -3, flags=("write", "noscript", "blocking"), keys=(1, -2, 1),
         group="list", route=CONN, since="2.0.0",
         summary="Removes and returns the first element in a list. Blocks until an element is available otherwise. Deletes the list if the last element was popped.",
         syntax="key [key ...] timeout", complexity="O(N) where N is the number of provided keys.")
async def cmd_blpop(conn, argv):
    timeout = parse_block_timeout(argv[-1])
    return await _list_pop(conn, argv[1:-1], LEFT, 1, timeout, False)


@command("brpop", -3, flags=("write", "noscript", "blocking"), keys=(1, -2, 1),
         group="list", route=CONN, since="2.0.0",
         summary="Removes and returns the last element in a list. Blocks until an element is available otherwise. Deletes the list if the last element was popped.",
         syntax="key [key ...] timeout", complexity="O(N) where N is the number of provided keys.")
async def cmd_brpop(conn, argv):
    timeout = parse_block_timeout(argv[-1])
    return await _list_pop(conn, argv[1:-1], RIGHT, 1, timeout, False)


@command("blmpop", -5, flags=("write", "blocking", "movablekeys"), keys=(0, 0, 0),
         key_fn=lists.mpop_keys(2), group="list", route=CONN, since="7.0.0",
         summary="Pops the first element from one of multiple lists. Blocks until an element is available otherwise. Deletes the list if the last element was popped.",
         syntax="timeout numkeys key [key ...] LEFT | RIGHT [COUNT count]",
         complexity="O(N+M) where N is the number of provided keys and M is the number of elements returned.")
async def cmd_blmpop(conn, argv):
    # lmpopGenericCommand parses numkeys, direction and COUNT before the
    # timeout (blockingPopGenericCommand): errors come in that order
    keys, where, count, _ = parse_mpop(argv, 2)
    timeout = parse_block_timeout(argv[1])
    return await _list_pop(conn, keys, where, count, timeout, True)


# --------------------------------------------------------------- BLMOVE / BRPOPLPUSH
async def _lmove_once(conn, src, dst, wherefrom, whereto):
    """The non-blocking LMOVE: one hop when both keys share a shard, else
    the cross-shard move inside a transaction holding both shards."""
    ss, ds = conn.shard_of(src), conn.shard_of(dst)
    if ss == ds:
        v = await conn.hop(ss, _lmove_item, [b"", src, dst, wherefrom, whereto])
        if type(v) is Err:
            raise CommandError(bytes(v))
        return v
    if _in_tx():
        return await lists.lmove_across(conn, src, dst, wherefrom, whereto)
    from server.connection import in_tx
    return await in_tx(conn.server, {ss, ds},
                       lists.lmove_across(conn, src, dst, wherefrom, whereto))


def _lmove_item(db, argv):
    v = lists.lmove_local(db, argv[1], argv[2], argv[3], argv[4])
    if v is not None and type(v) is not Err:    # LMOVE's events: push, then pop
        db.notify(_LIST_EVENTS, b"lpush" if argv[4] == LEFT else b"rpush", argv[2])
        db.notify(_LIST_EVENTS, b"lpop" if argv[3] == LEFT else b"rpop", argv[1])
    return v


async def blmove_generic(conn, src, dst, wherefrom, whereto, timeout_ms):
    v = await _lmove_once(conn, src, dst, wherefrom, whereto)
    if v is not None:
        return v
    if _in_tx():
        return None
    dst_local = conn.shard_of(src) == conn.shard_of(dst)
    res = await wait_for(conn, [src], timeout_ms, kind=MOVE, where=wherefrom,
                         dst=dst, whereto=whereto, dst_local=dst_local)
    if res is _GONE:
        return None
    out = _outcome(res, NULL_ARRAY)
    if out is not None:
        return out
    if type(res) is Popped:
        # finish the move on the destination's shard (even if the client has
        # gone: the move was decided when the source shard served it)
        ok = await conn.hop(conn.shard_of(dst), lists.push_for_move,
                            [b"", dst, whereto, res.value])
        if ok is not True:
            conn.server.call_shard(conn.shard_of(src), requeue_on_shard, conn.db,
                                   src, wherefrom, [res.value])
            raise CommandError(lists.WRONGTYPE)
        return res.value
    return res


@command("blmove", 6, flags=("write", "denyoom", "noscript", "blocking"), keys=(1, 2, 1),
         group="list", route=CONN, since="6.2.0",
         summary="Pops an element from a list, pushes it to another list and returns it. Blocks until an element is available otherwise. Deletes the list if the last element was moved.",
         syntax="source destination LEFT | RIGHT LEFT | RIGHT timeout", complexity="O(1)")
async def cmd_blmove(conn, argv):
    wherefrom = parse_where(argv[3])
    whereto = parse_where(argv[4])
    timeout = parse_block_timeout(argv[5])
    return await blmove_generic(conn, argv[1], argv[2], wherefrom, whereto, timeout)


@command("brpoplpush", 4, flags=("write", "denyoom", "noscript", "blocking"),
         keys=(1, 2, 1), group="list", route=CONN, since="2.2.0",
         summary="Pops an element from a list, pushes it to another list and returns it. Block until an element is available otherwise. Deletes the list if the last element was popped.",
         syntax="source destination timeout", complexity="O(1)")
async def cmd_brpoplpush(conn, argv):
    timeout = parse_block_timeout(argv[3])
    return await blmove_generic(conn, argv[1], argv[2], RIGHT, LEFT, timeout)


# --------------------------------------------------------------- BZPOPMIN / BZPOPMAX / BZMPOP
def _zset_pop(conn, keys, maximum: bool, count: int, timeout_ms: int, mpop: bool):
    """BZPOPMIN/BZPOPMAX reply [key, member, score]; BZMPOP [key, [[member,
    score], ...]] (scores are doubles in RESP3, bulk strings in RESP2)."""
    dbi = conn.db

    async def attempt():
        # the keys in argument order, one hop each (the hop body is ZMPOP's,
        # which the AOF logs as ZPOPMIN/ZPOPMAX key count)
        for k in keys:
            r = await conn.hop(conn.shard_of(k), zsets._zmpop_one, [b"", k, maximum, count])
            if type(r) is Err:
                raise CommandError(bytes(r))
            if r is not None:
                if mpop:
                    return r
                return [r[0], r[1][0][0], r[1][0][1]]
        return None

    def giveback(reply):
        if mpop:
            pairs = [(m, sc) for m, sc in reply[1]]
        else:
            pairs = [(reply[1], reply[2])]
        conn.server.call_shard(conn.shard_of(reply[0]), zrequeue_on_shard, dbi,
                               reply[0], pairs)
    return bpop_generic(conn, keys, timeout_ms, attempt, giveback, ZWaiter,
                        kind=ZMPOP if mpop else ZPOP, where=maximum, count=count)


@command("bzpopmin", -3, flags=("write", "noscript", "blocking", "fast"), keys=(1, -2, 1),
         group="sorted_set", route=CONN, since="5.0.0",
         summary="Removes and returns the member with the lowest score from one or more sorted sets. Blocks until a member is available otherwise. Deletes the sorted set if the last element was popped.",
         syntax="key [key ...] timeout",
         complexity="O(log(N)) with N being the number of elements in the sorted set.")
async def cmd_bzpopmin(conn, argv):
    timeout = parse_block_timeout(argv[-1])
    return await _zset_pop(conn, argv[1:-1], False, 1, timeout, False)


@command("bzpopmax", -3, flags=("write", "noscript", "blocking", "fast"), keys=(1, -2, 1),
         group="sorted_set", route=CONN, since="5.0.0",
         summary="Removes and returns the member with the highest score from one or more sorted sets. Blocks until a member available otherwise.  Deletes the sorted set if the last element was popped.",
         syntax="key [key ...] timeout",
         complexity="O(log(N)) with N being the number of elements in the sorted set.")
async def cmd_bzpopmax(conn, argv):
    timeout = parse_block_timeout(argv[-1])
    return await _zset_pop(conn, argv[1:-1], True, 1, timeout, False)


def _bzmpop_keys(argv):
    return zsets._zmpop_keys(argv[1:])


@command("bzmpop", -5, flags=("write", "blocking", "movablekeys"), keys=(0, 0, 0),
         key_fn=_bzmpop_keys, group="sorted_set", route=CONN, since="7.0.0",
         summary="Removes and returns a member by score from one or more sorted sets. Blocks until a member is available otherwise. Deletes the sorted set if the last element was popped.",
         syntax="timeout numkeys key [key ...] MIN | MAX [COUNT count]",
         complexity="O(K) + O(M*log(N)) where K is the number of provided keys, N being the number of elements in the sorted set, and M being the number of elements popped.")
async def cmd_bzmpop(conn, argv):
    # zmpopGenericCommand: numkeys, MIN|MAX and COUNT are checked before the
    # timeout (parsed by blockingGenericZpopCommand)
    keys, maximum, count = zsets._zmpop_args(argv[1:])
    timeout = parse_block_timeout(argv[1])
    return await _zset_pop(conn, keys, maximum, count, timeout, True)


# --------------------------------------------------------------- CLIENT UNBLOCK
def cmd_client_unblock(conn, argv):
    cid = parse_int(argv[2])
    error = False
    if len(argv) == 4:
        mode = argv[3].upper()
        if mode == b"ERROR":
            error = True
        elif mode != b"TIMEOUT":
            raise CommandError("ERR CLIENT UNBLOCK reason should be TIMEOUT or ERROR")
    return unblock_client(conn.server, cid, error)


if b"client" in TABLE and b"unblock" not in TABLE[b"client"].subcommands:
    # the CLIENT container is declared by the connection commands module,
    # imported before this one (see server/commands/__init__.py)
    subcommand("client", "unblock", -3, flags=("admin", "noscript", "loading", "stale"),
               summary="Unblocks a client blocked by a blocking command from a different connection.",
               syntax="client-id [TIMEOUT | ERROR]", since="5.0.0",
               complexity="O(log N) where N is the number of client connections")(cmd_client_unblock)

__all__ = ["parse_block_timeout", "unblock_client", "Waiter", "Delivery"]
