"""One client connection: read, parse, route, dispatch, reply in order.

`Client` is an ``asyncio.Protocol``: the loop calls ``data_received`` when
bytes arrive (notification-driven reads; no reserved read buffer).  For each
complete request it looks the command up in the table and either

* appends ``(handler, argv)`` to the current `Batch` of the shard that owns
  the key (one Batch per shard per read burst; all are sent when the burst
  has been parsed), or
* splits it across shards (MGET, DEL, ...) with a `Pending` merging parts, or
* runs it on the loop (connection/server commands), or
* starts a coordinator coroutine for work spanning shards in several hops.

Every request appends exactly one entry to the `ReplySequencer`; replies are
written in request order, ready prefixes coalesced into one ``write``.

Ordering invariants
    1. Messages from one connection to one shard are sent in parse order and a
       shard runs its mailbox in FIFO order, so a connection always sees its
       own earlier writes (per-key program order).
    2. A *barrier* command (coordinator, blocking, EXEC across shards) is
       dispatched only after everything parsed before it has been sent, and
       requests parsed after it are parked (``parked``) until it finishes.
    3. State changes made on the loop (SELECT, HELLO) apply to requests parsed
       after them: the current Batch is sent and a new one started whenever
       ``db`` or ``proto`` changes, since a Batch carries one db and protocol.

Backpressure: the transport's write buffer has a high-water mark; when it is
passed asyncio calls ``pause_writing`` and we stop reading this client until
``resume_writing``.  Reading also pauses while too many replies are in flight.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from itertools import repeat
from types import CoroutineType

from binascii import crc_hqx

from contextvars import ContextVar

from actors.messages import RUN, Batch, Tx, TxHold, TxRelease, count_commands
from actors.slots import key_slot
from actors.sequencer import Pending, ReplySequencer

from .protocol import (OK, QUEUED, BigBulk, CommandError, Err, ProtocolError,
                       new_request_reader, encode)
from .notify import AFTER_REPLY, events_on
from .router import FANOUTS, ordered_fanout
from .table import TABLE, Route
from .tracking import FLUSHES as _FLUSHES, after_dispatch as tracking_after_dispatch

__all__ = ["Client"]

log = logging.getLogger("shardis.conn")

MAX_INFLIGHT = 20000          # entries waiting for replies before reading pauses
WRITE_HIGH_WATER = 4 * 1024 * 1024
WRITE_LOW_WATER = 1024 * 1024
# Commands parsed from buffered input in one go.  A read can hold thousands of
# pipelined requests; parsing stops after a burst and goes on only once its
# replies are written and the write buffer is under the high-water mark, so a
# client that sends much and reads nothing holds at most one burst of replies
# beyond the mark.  The burst shrinks to about WRITE_HIGH_WATER worth of
# replies at the connection's recent average reply size.
BURST_MAX = 1024
# Up to this many connections, batches go to their shard at once; beyond, they
# are merged per shard per loop iteration by the Dispatcher (measured: merging
# gains ~12% with 50 clients sending one command each, costs ~5% for one
# client pipelining, whose batches never merge)
DIRECT_SEND_CLIENTS = 2

# commands allowed while a MULTI is open that are not queued
_MULTI_DIRECT = {b"exec", b"discard", b"multi", b"watch", b"quit", b"reset"}


_LOOKUP_CACHE: dict = {}


def _lookup(name: bytes):
    spec = _LOOKUP_CACHE.get(name)
    if spec is None:
        spec = TABLE.get(name) or TABLE.get(name.lower())
        if spec is not None and len(_LOOKUP_CACHE) < 4096:
            _LOOKUP_CACHE[name] = spec   # only known names: bounded by case variants
    return spec


def unknown_command_error(argv: list[bytes]) -> Err:
    # Redis: arguments are quoted one by one, each cut to what is left of a
    # 128-byte budget, until the list reaches 128 bytes
    args = b""
    for a in argv[1:]:
        if len(args) >= 128:
            break
        args += b"'%b' " % a[:128 - len(args)]
    return Err(b"ERR unknown command '%b', with args beginning with: %b" % (argv[0][:128], args))


def count_error(server, reply) -> None:
    """INFO errorstats for an error replied from the loop (Redis's
    afterErrorReply); bound on first use (server/commands/latency.py)."""
    global count_error
    from .commands.latency import count_loop_error
    count_error = count_loop_error
    count_loop_error(server, reply)


def _loop_latency(server, spec, dt_ns) -> None:
    # latency histogram and monitor of loop-run commands, bound on first use
    global _loop_latency
    from .commands.latency import loop_command_time
    _loop_latency = loop_command_time
    loop_command_time(server, spec, dt_ns)


def _shard_zero(_key: bytes) -> int:
    """Client.shard_of of a one-shard server."""
    return 0


def arity_error(name: str) -> Err:
    return Err(b"ERR wrong number of arguments for '%s' command" % name.encode())


class FutureSink:
    """Delivers a hop's raw result into an asyncio future (coordinators)."""
    __slots__ = ("fut",)

    def __init__(self, fut):
        self.fut = fut

    def deliver(self, _i, v):
        if not self.fut.done():
            self.fut.set_result(v)


# take_routed's output list (Client.parse): one for the whole loop thread,
# emptied after each call, so an idle connection costs no list of its own
_ROUTED: list = []


class Client(asyncio.Protocol):
    tracking = None     # server/tracking.py Tracking while CLIENT TRACKING is on

    def __init__(self, server):
        self.server = server
        self.id = server.next_client_id()
        self.transport = None
        self.reader = new_request_reader(server.config.proto_max_bulk_len)
        self.seq = ReplySequencer()
        self.nshards = len(server.shards)
        # with one shard every key is shard 0's: nothing to hash
        self.shard_of = server.slotmap.shard_of if self.nshards > 1 else _shard_zero
        self.slot_table = server.slotmap.table
        self.inboxes = server.inboxes
        self.batches: list = [None] * self.nshards
        self.dirty_shards: list[int] = []
        self.parked: deque = deque()
        self.barrier = 0
        self.barrier_p = None       # the running barrier's Pending (one at a time)
        self.barrier_name = None    # and its command's name, if it is one command
        self.db = 0
        self.proto = 2
        self.name = b""
        self.lib_name = b""
        self.lib_ver = b""
        self.addr = "?"
        self.laddr = "?"
        self.fd = -1
        self.created = time.time()
        self.last_interaction = self.created
        self.last_cmd = b"NULL"
        self.flush_scheduled = False
        self.closing = False          # close once all replies are written
        self.closed = False
        self.read_paused: set[str] = set()
        self.multi: list | None = None   # queued (spec, argv) while in MULTI
        self.multi_error = False
        self.watching = None
        self.flags = b"N"
        self.cmds_processed = 0
        self.net_in = 0
        self.net_out = 0
        self.blocked = False
        self.blocked_on = ()
        # Pub/Sub subscriptions (dicts used as ordered sets); sub_mode is true
        # while any exist (RESP2 then allows only the pub/sub commands)
        self.subs: dict = {}
        self.psubs: dict = {}
        self.ssubs: dict = {}
        self.sub_mode = False
        self.soft_limit_since = None
        # True while every command must pass server.guard (a password or ACL
        # rules apply to this connection); keeps the hot path one test
        self.guarded = server.guard is not None and server.guard_applies(self)
        self.user = b"default"
        self.authenticated = not self.guarded
        self.traced: list = []       # sampled batches whose replies are not all written
        self.pushes: list = []       # pushed messages not yet written (see push)
        self.push_bytes = 0
        self.burst = BURST_MAX       # commands parsed per pass (see BURST_MAX)
        self.avg_reply = 16          # moving average of reply bytes, sizes the burst
        self.more_input = False      # parsing stopped after a burst, input left
        self.continue_scheduled = False

    # ------------------------------------------------------------ transport
    def connection_made(self, transport):
        self.transport = transport
        transport.set_write_buffer_limits(high=WRITE_HIGH_WATER, low=WRITE_LOW_WATER)
        peer = transport.get_extra_info("peername")
        sock = transport.get_extra_info("sockname")
        self.addr = _fmt_addr(peer)
        self.laddr = _fmt_addr(sock)
        s = transport.get_extra_info("socket")
        self.fd = s.fileno() if s is not None else -1
        self.server.client_connected(self)

    def connection_lost(self, exc):
        self.closed = True
        self.unwatch()
        self.server.client_disconnected(self)

    def pause_writing(self):
        self._pause("backpressure")

    def resume_writing(self):
        self._resume("backpressure")
        if self.more_input:
            self._maybe_continue()

    def _pause(self, why: str):
        if not self.read_paused and self.transport is not None:
            self.transport.pause_reading()
        self.read_paused.add(why)

    def _resume(self, why: str):
        if why in self.read_paused:
            self.read_paused.discard(why)
            if not self.read_paused and not self.closed and self.transport is not None:
                self.transport.resume_reading()

    def pending_output(self) -> int:
        t = self.transport
        return t.get_write_buffer_size() if t is not None and not self.closed else 0

    # ------------------------------------------------------------ input
    def data_received(self, data: bytes):
        if self.closing:
            return
        self.net_in += len(data)
        self.last_interaction = time.time()
        self.reader.feed(data)
        if not self.more_input:
            self.parse()

    def _maybe_continue(self) -> None:
        """Parse the next burst of buffered input once the last one's replies
        are out: few entries in flight and the write buffer under its mark."""
        if (not self.continue_scheduled and not self.closing
                and len(self.seq) < self.burst and "backpressure" not in self.read_paused
                and self.pending_output() < WRITE_HIGH_WATER):
            self.continue_scheduled = True
            self.server.loop.call_soon(self._continue_input)

    def _continue_input(self) -> None:
        self.continue_scheduled = False
        if self.closing or self.closed:
            return
        self.more_input = False
        self._resume("burst")
        self.parse()

    def parse(self) -> None:
        """Parse and dispatch up to one burst of buffered requests."""
        reader = self.reader
        limit = self.burst
        nparsed = 0
        # Hot path, inlined: single-key shard commands (GET, SET, INCR, ...)
        # go straight into their shard's batch.  Everything else, and every
        # request while a barrier/MULTI/tracking is active, takes execute().
        fast = self.server.fast_table
        slots = self.slot_table
        one_shard = self.nshards == 1       # every key is shard 0's: no hashing
        batches = self.batches
        append_entry = self.seq.entries.append
        nfast = 0
        spec = None
        fast_fn = None
        routed = _ROUTED
        # Only execute() changes what _slow_path() tests (a fast-path command
        # merely joins a batch), so it is re-evaluated after each execute().
        slow = self._slow_path()
        try:
            while nparsed < limit:
                if one_shard and not slow:
                    # the same hot path in C: the parser appends the hot
                    # requests to ``items`` as batch items and stops at the
                    # first other one (``rest``), which takes execute()
                    items = routed
                    if items:           # left by a failed call (never reused)
                        items.clear()
                    n, rest = reader.take_routed(limit - nparsed, self.server.fast_routes, items)
                    if n:
                        b = batches[0]
                        if b is None:
                            b = self.new_batch(0)
                        b.items += items
                        fast_fn = items[-1][0]
                        items.clear()
                        self.seq.entries.extend(repeat(b, n))
                        nfast += n
                        nparsed += n
                    if rest is None:
                        if n:
                            continue    # to the end of the burst (or a deferred error)
                        break
                    nparsed += 1
                    fast_fn = None
                    self.execute(rest)
                    if self.closing:
                        break
                    slow = self._slow_path()
                    continue
                # the reader hands over whole requests, up to what the burst
                # has left (a protocol error after some of them is raised by
                # the next take, so those run first, as in Redis)
                reqs = reader.take(limit - nparsed)
                if not reqs:
                    break
                nparsed += len(reqs)
                for argv in reqs:
                    if slow:
                        if self.barrier or self.parked:
                            self.parked.append(argv)
                        else:
                            self.execute(argv)
                            if self.closing:
                                break
                            slow = self._slow_path()
                        continue
                    spec = fast.get(argv[0])
                    if spec is not None:
                        n = len(argv)
                        a = spec.arity
                        if n == a or (a < 0 and n >= -a):
                            if one_shard:
                                s = 0
                            else:
                                key = argv[1]
                                if b"{" in key:
                                    s = slots[key_slot(key)]
                                else:
                                    s = slots[crc_hqx(key, 0) & 0x3FFF]
                            b = batches[s]
                            if b is None:
                                b = self.new_batch(s)
                            b.items.append((spec.handler, argv, None, 0))
                            append_entry(b)
                            spec.stats[0] += 1
                            nfast += 1
                            continue
                    self.execute(argv)
                    if self.closing:
                        break
                    slow = self._slow_path()
                if self.closing:
                    break
            else:
                if reader.has_input():
                    self.more_input = True
        except ProtocolError as e:
            self.protocol_error(str(e))
        if nfast:
            self.cmds_processed += nfast
            if fast_fn is not None:
                self.last_cmd = fast_fn.spec.bname
            elif spec is not None:
                self.last_cmd = spec.bname
        self.send_batches()
        # flush what is ready; nothing is when the oldest entry is a batch
        # still out at its shard (every entry that becomes ready later is
        # flushed by whatever made it ready: batch_done, a Pending's
        # on_ready...), the common case of a burst of batched commands
        q = self.seq.entries
        if not q or type(q[0]) is not Batch or q[0].replies is not None or self.pushes \
                or self.closing:
            self.flush()
        if self.more_input:
            # stop reading: this client's input waits in the kernel (bounded)
            self._pause("burst")
            self._maybe_continue()
        elif len(self.seq) > MAX_INFLIGHT:
            self._pause("inflight")

    def _slow_path(self) -> bool:
        """True while every request must take execute() (or be parked)."""
        return bool(self.barrier or self.parked or self.multi is not None or self.sub_mode
                    or self.guarded or self.tracking is not None)

    def protocol_error(self, msg: str):
        self.send_batches()
        err = Err(b"ERR Protocol error: " + msg.encode())
        count_error(self.server, err)
        self.seq.entries.append(encode(err))
        self.closing = True
        self.parked.clear()
        if self.transport is not None:
            self.transport.pause_reading()

    # ------------------------------------------------------------ routing
    def execute(self, argv: list[bytes]) -> None:
        spec = _lookup(argv[0])
        self.cmds_processed += 1
        if spec is None:
            self.server.stats.rejected += 1
            if self.multi is not None:
                self.multi_error = True
            err = unknown_command_error(argv)
            count_error(self.server, err)
            return self.seq.entries.append(encode(err))
        n = len(argv)
        a = spec.arity
        if n != a and (a >= 0 or n < -a):
            spec_reject(spec)
            if self.multi is not None:
                self.multi_error = True
            err = arity_error(spec.name)
            count_error(self.server, err)
            return self.seq.entries.append(encode(err))
        if spec.subcommands and n > 1:
            # (a bare container allowed by its arity, like COMMAND, runs the
            # parent handler)
            sub = spec.subcommands.get(argv[1].lower())
            if sub is None:
                # no command was found: Redis counts no rejected call for
                # the container, only the error
                if self.multi is not None:
                    self.multi_error = True
                err = Err(b"ERR unknown subcommand '%b'. Try %b HELP."
                          % (argv[1][:128], spec.name.upper().encode()))
                count_error(self.server, err)
                return self.seq.entries.append(encode(err))
            if not sub.arity_ok(n):
                spec_reject(sub)
                if self.multi is not None:
                    self.multi_error = True
                err = arity_error(sub.name)
                count_error(self.server, err)
                return self.seq.entries.append(encode(err))
            spec = sub
        if self.guarded:
            # authentication / ACL (server.guard, installed by server/acl.py):
            # returns None to allow, or the error to reply (NOAUTH, NOPERM...)
            err = self.server.guard(self, spec, argv)
            if err is not None:
                if self.multi is not None:
                    self.multi_error = True
                if type(err) is Err:        # rejectCommand: NOAUTH, NOPERM...
                    spec_reject(spec)
                    count_error(self.server, err)
                return self.seq.entries.append(encode(err, self.proto))
        if self.sub_mode and self.proto == 2 and spec.name == "ping" and len(argv) <= 2:
            # RESP2 subscribed mode: PING answers like a pub/sub message
            return self.seq.entries.append(encode([b"pong", argv[1] if len(argv) > 1 else b""]))
        if self.sub_mode and self.proto == 2 and spec.name.split("|")[0] not in _SUB_ALLOWED:
            err = Err(
                b"ERR Can't execute '%b': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET"
                b" are allowed in this context" % spec.bname)
            spec_reject(spec)
            count_error(self.server, err)
            return self.seq.entries.append(encode(err))
        if self.multi is not None and spec.name not in _MULTI_NAMES:
            return self.queue_multi(spec, argv)
        n_entries = len(self.seq.entries)
        try:
            self.dispatch(spec, argv)
        except CommandError as e:
            # raised while routing (e.g. a fan-out checking its arguments):
            # one failed call, counted here as no shard runs it
            spec.count_failed_call()
            if len(self.seq.entries) == n_entries:
                count_error(self.server, e.reply)
                self.seq.entries.append(encode(e.reply, self.proto))
        except Exception as e:  # noqa: BLE001 - a bug becomes an error reply, never a dead connection
            log.exception("dispatch of %r failed", argv[:1])
            if len(self.seq.entries) == n_entries:
                spec.stats[2] += 1
                err = Err(b"ERR internal error: " + repr(e).encode()[:200])
                count_error(self.server, err)
                self.seq.entries.append(encode(err, self.proto))
        if self.tracking is not None or spec.name in _FLUSHES:
            # CLIENT TRACKING: remember the keys read, the one-shot CLIENT
            # CACHING flag, flush invalidations (server/tracking.py)
            tracking_after_dispatch(self, spec, argv)

    def dispatch(self, spec, argv: list[bytes]) -> None:
        """Route an arity-checked command; appends exactly one sequencer entry."""
        self.last_cmd = spec.bname
        route = spec.route
        if route is not Route.CONN:
            spec.stats[0] += 1
        if route is Route.SHARD:
            if spec.first_key == 1 and spec.last_key == 1 and spec.key_fn is None:
                s = self.shard_of(argv[1])
            else:
                keys = spec.keys(argv)
                if not keys:
                    s = 0
                else:
                    shard_of = self.shard_of
                    s = shard_of(keys[0])
                    for k in keys:
                        if shard_of(k) != s:
                            return self.multi_shard(spec, argv, keys)
            b = self.batches[s]
            if b is None:
                b = self.new_batch(s)
            b.items.append((spec.handler, argv, None, 0))
            self.seq.entries.append(b)
            return
        if route is Route.CONN:
            t0 = time.perf_counter_ns()
            try:
                v = spec.handler(self, argv)
            except CommandError as e:
                v = e.reply
            if type(v) is Err:
                spec.stats[2] += 1
                count_error(self.server, v)
            elif type(v) is CoroutineType:
                return self.run_barrier(v, spec, argv, t0)   # counted when it ends
            # counted once it ran, as Redis's call() does: INFO does not see
            # its own call, CONFIG RESETSTAT's call survives the reset
            spec.stats[0] += 1
            self.loop_time(spec, argv, t0)
            if v is not DEFERRED:
                self.seq.entries.append(encode(v, self.proto))
            return
        # Route.ALL: the handler runs on every shard, spec.merge combines
        if self.server.aof is not None and "write" in spec.flags:
            # FLUSHALL/FLUSHDB/SWAPDB with the AOF on: one transaction over
            # every shard, logged once (server/persistence/aof.py)
            from .persistence.aof import all_write, record_loop
            return self.run_tx(range(self.nshards),
                               record_loop(self, argv, all_write(self, spec, argv)))
        self.fan_all(spec.handler, argv, spec.merge)

    # -- helpers for handlers ------------------------------------------------
    def reply_now(self, value) -> None:
        self.seq.entries.append(encode(value, self.proto))

    def to_shard(self, s: int, fn, argv, sink=None, idx=0) -> None:
        """Append one item to shard s's batch (no sequencer entry if sink)."""
        b = self.batches[s]
        if b is None:
            b = self.new_batch(s)
        b.items.append((fn, argv, sink, idx))
        if sink is None:
            self.seq.entries.append(b)

    def fan_parts(self, parts, merge) -> Pending:
        """Send ``(shard, fn, argv)`` parts; one sequencer entry for the merge."""
        p = Pending(len(parts), merge, self.proto, self._fan_done)
        for i, (s, fn, argv) in enumerate(parts):
            self.to_shard(s, fn, argv, p, i)
        self.seq.entries.append(p)
        return p

    def _fan_done(self, p: Pending) -> None:
        # a merged reply that is an error: the parts' errors were not counted
        # on the shards (they may be several), the one reply is counted here
        r = p.reply
        if r[:1] == b"-":
            count_error(self.server, r[1:])

    def fan_all(self, fn, argv, merge) -> Pending:
        return self.fan_parts([(s, fn, argv) for s in range(self.nshards)], merge)

    def multi_shard(self, spec, argv, keys) -> None:
        if spec.fanout is not None:
            if self.server.extensions.get("notify_flags") and events_on(self.server):
                # keyspace events in argument order (server/router.py)
                return self.run_tx(self.shards_of(keys), ordered_fanout(self, spec, argv))
            return self.fan_parts(*FANOUTS[spec.fanout](self, spec, argv))
        if spec.cross is not None:
            coro = spec.cross(self, argv)
            if self.server.extensions.get("notify_flags"):
                from .notify import notify_cross    # the command's keyspace events
                coro = notify_cross(self, argv, coro)
            if self.server.aof is not None and "write" in spec.flags:
                from .persistence.aof import record_loop   # logged once, as the command
                coro = record_loop(self, argv, coro)
            # one call, timed from here to its reply (commandstats, slowlog):
            # its hops run helpers, which the shards do not count as commands
            spec.stats[4] += 1
            self.run_barrier(in_tx(self.server, self.shards_of(keys), coro), spec, argv,
                             time.perf_counter_ns())
            return None
        err = Err(b"CROSSSLOT Keys in request don't hash to the same slot")
        count_error(self.server, err)
        self.seq.entries.append(encode(err, self.proto))

    # -- coordinators -------------------------------------------------------
    def hop(self, s: int, fn, argv, db: int | None = None, part: int = 0) -> asyncio.Future:
        """Run ``fn(db, argv)`` on shard s now; a future with the raw result.

        Inside a transaction (`in_tx`) the hop is tagged with it, so the held
        shard runs it; a hop to a shard the transaction does not hold would
        risk a deadlock and is refused."""
        tx = CURRENT_TX.get()
        if tx is not None and s not in tx.shards:
            raise RuntimeError(f"hop to shard {s} outside {tx} (holds {sorted(tx.shards)})")
        fut = self.server.loop.create_future()
        b = Batch(self, self.db if db is None else db, self.proto, tx)
        b.items.append((fn, argv, FutureSink(fut), part))   # part: ShardActor._run_batch
        self.inboxes[s](b)
        return fut

    def call_shard(self, s: int, fn, *args) -> asyncio.Future:
        return self.server.call_shard(s, fn, *args)

    def shards_of(self, keys) -> set[int]:
        shard_of = self.shard_of
        return {shard_of(k) for k in keys}

    def run_tx(self, shards, coro) -> None:
        """Run a coroutine as a barrier holding ``shards`` (atomic, isolated)."""
        self.run_barrier(in_tx(self.server, shards, coro))

    def run_barrier(self, coro, spec=None, argv=None, t0=0) -> None:
        """Run a coroutine as a barrier: requests parsed after it wait.

        With ``spec``, the coroutine is that command's handler and its time
        (from ``t0``) counts in commandstats and the slowlog, except for
        blocking commands, whose waiting Redis does not count either."""
        self.send_batches()
        p = Pending(1, None, self.proto)
        self.seq.entries.append(p)
        self.barrier += 1
        self.barrier_p = p
        self.barrier_name = argv[0].lower() if argv else None
        task = self.server.loop.create_task(coro)
        if spec is not None and "blocking" not in spec.flags:
            task.add_done_callback(lambda t, p=p: (self.loop_time(spec, argv, t0),
                                                   self._barrier_done(t, p, spec)))
        else:
            task.add_done_callback(lambda t, p=p: self._barrier_done(t, p, spec))

    def loop_time(self, spec, argv, t0: int) -> None:
        """Account a loop-run command's time like the shards do theirs."""
        dt = time.perf_counter_ns() - t0
        spec.stats[1] += dt // 1000
        if dt >= self.server.slowlog_threshold_ns:
            self.server.log_slow(argv, dt, self)
        _loop_latency(self.server, spec, dt)

    def _barrier_done(self, task, p: Pending, spec=None) -> None:
        if spec is not None and spec.route is Route.CONN:
            spec.stats[0] += 1      # a loop-run command counts once it ran (dispatch)
        self.barrier -= 1
        if self.barrier_p is p:
            self.barrier_p = None
        if task.cancelled():
            v = Err(b"ERR command cancelled")
        else:
            exc = task.exception()
            if exc is None:
                v = task.result()
            elif isinstance(exc, CommandError):
                v = exc.reply
            else:
                log.error("coordinator failed", exc_info=exc)
                v = Err(b"ERR internal error: " + repr(exc).encode()[:200])
        if type(v) is Err:
            # a coordinator's reply (its hops' errors were not counted on
            # the shards); with spec, the command failed
            count_error(self.server, v)
            if spec is not None:
                spec.stats[2] += 1
        elif spec is not None and type(v) is list and spec.name == "exec":
            for x in v:     # each error inside EXEC's reply is an error reply
                if type(x) is Err:
                    count_error(self.server, x)
        if v is not DEFERRED:
            p.resolve(v)
        if self.closed:
            return
        self.resume_parked()
        self.flush()

    def resume_parked(self) -> None:
        parked = self.parked
        while parked and not self.barrier and not self.closing:
            self.execute(parked.popleft())
        self.send_batches()
        if not parked and "inflight" not in self.read_paused:
            pass

    # -- MULTI ----------------------------------------------------------------
    def queue_multi(self, spec, argv) -> None:
        if spec.flags and ("no_multi" in spec.flags or "nomulti" in spec.flags):
            self.multi_error = True
            spec_reject(spec)
            err = Err(b"ERR Command not allowed inside a transaction")
            count_error(self.server, err)
            return self.reply_now(err)
        self.multi.append((spec, argv))
        self.seq.entries.append(QUEUED)

    # -- WATCH (see server/commands/transactions.py) -------------------------
    def unwatch(self) -> None:
        """Forget this connection's WATCHes: each shard drops its token."""
        if self.watching:
            from .commands.transactions import unwatch_on_shard
            for s, token in self.watching.items():
                self.server.call_shard(s, unwatch_on_shard, token)
            self.watching = None

    # -- Pub/Sub --------------------------------------------------------------
    def update_sub_mode(self) -> None:
        self.sub_mode = bool(self.subs or self.psubs or self.ssubs)

    def push(self, msg, data: bytes | None = None) -> None:
        """Out-of-band message (pub/sub, invalidation), or its encoding for
        this connection's protocol in ``data`` (a publisher encodes once per
        protocol).  Queued behind the replies in flight if any; else collected
        in ``pushes`` and written once at the end of this loop iteration (or
        by the next flush, before its replies): one write for many messages."""
        if self.closed or self.closing:
            return
        if data is None:
            data = encode(msg, self.proto)
        pb = self.server.push_before
        if pb is not None and pb[0] is self and self.own_event_first(pb[1], pb[2], data):
            return
        if self.seq.entries:
            self.seq.entries.append(data)
        else:
            if not self.pushes:
                self.server.loop.call_soon(self.write_pushes)
            self.pushes.append(data)
            self.push_bytes += len(data)
        self.check_output_limits()

    def own_event_first(self, batch, i, data: bytes) -> bool:
        """A keyspace event caused by this connection's own command goes
        before that command's reply, as Redis writes it (server/notify.py):
        batch ``batch``'s reply i (Batch.pre), or the running barrier's reply
        (a coordinator or cross-shard transaction; batch or i None).  False:
        queue it as usual."""
        if batch is not None and i is not None:
            pre = batch.pre
            if type(pre) is not dict:
                pre = batch.pre = {}
            p = pre.get(i)
            if p is None:
                pre[i] = [data]
            else:
                p.append(data)
            return True
        bp = self.barrier_p
        if bp is None or bp.reply is not None:
            return False
        if batch is not None and AFTER_REPLY.get(self.barrier_name) == 0:
            return False        # a hop's event that Redis writes after the reply
        q = self.seq.entries
        for j in range(len(q) - 1, -1, -1):
            if q[j] is bp:
                q.insert(j, data)
                return True
        return False

    def write_pushes(self) -> None:
        pp = self.pushes
        if pp:
            self.pushes = []
            self.push_bytes = 0
            if not self.closed and self.transport is not None:
                data = pp[0] if len(pp) == 1 else b"".join(pp)
                self.net_out += len(data)
                self.transport.write(data)

    def check_output_limits(self, pending: int | None = None) -> None:
        """client-output-buffer-limit (hard/soft/seconds) of this client's
        class: ``pubsub`` while subscribed, else ``normal``.  Like Redis's
        checkClientOutputBufferLimits it runs when output is added (a push, a
        flush) and, for clients over their soft limit (``server.over_soft``),
        from the server's cron (`Server._tick`), so a client that is paused
        for backpressure and gets no new output is still closed once it has
        been over the soft limit for more than soft_seconds."""
        limits = self.server.output_limits.get("pubsub" if self.sub_mode else "normal")
        if not limits or not (limits[0] or limits[1]):
            return
        hard, soft, secs = limits
        if pending is None:
            pending = self.pending_output() + self.push_bytes + sum(
                len(e) for e in self.seq.entries if isinstance(e, bytes))
        now = time.monotonic()
        if hard and pending > hard:
            return self._kill_for_output(pending)
        if soft and pending > soft:
            if self.soft_limit_since is None:
                self.soft_limit_since = now
                self.server.over_soft.add(self)
            elif now - self.soft_limit_since > secs:
                return self._kill_for_output(pending)
        elif self.soft_limit_since is not None:
            self.soft_limit_since = None
            self.server.over_soft.discard(self)

    def _kill_for_output(self, pending: int) -> None:
        self.server.over_soft.discard(self)
        log.warning("Client id=%d addr=%s closed for overcoming of output buffer limits "
                    "(%d bytes pending)", self.id, self.addr, pending)
        self.server.stats.output_limit_kills += 1
        self.kill()

    # ------------------------------------------------------------ output
    def new_batch(self, s: int) -> Batch:
        """Start this burst's batch for shard s (one message per shard per burst)."""
        b = self.batches[s] = Batch(self, self.db, self.proto)
        self.dirty_shards.append(s)
        tracer = self.server.tracer
        tracer.countdown -= 1
        if tracer.countdown <= 0:
            # sampled: the batch carries a TraceRecord through every stage
            b.trace = tracer.start(self, s)
            self.traced.append(b)
        return b

    def send_batches(self) -> None:
        """Hand this burst's batches on, one per shard."""
        if self.dirty_shards:
            batches = self.batches
            if len(self.server.clients) > DIRECT_SEND_CLIENTS:
                # queued with the server's Dispatcher: each shard gets one
                # message per loop iteration for all connections
                # (actors/dispatch.py)
                queue = self.server.dispatcher.queue
                for s in self.dirty_shards:
                    queue(s, batches[s])
                    batches[s] = None
            else:
                # with this few connections there is rarely anything to merge
                # and queueing costs a loop turn: send now (indexing inboxes
                # flushes whatever is queued first, so order holds)
                inboxes = self.inboxes
                for s in self.dirty_shards:
                    b = batches[s]
                    if b.trace is not None:
                        b.trace.t_sent = time.perf_counter_ns()
                        b.trace.ncmds = count_commands(b.items)
                    inboxes[s](b)
                    batches[s] = None
            self.dirty_shards = []

    def set_db(self, db: int) -> None:
        if db != self.db:
            self.send_batches()
            self.db = db

    def set_proto(self, proto: int) -> None:
        if proto != self.proto:
            self.send_batches()
            self.proto = proto

    def batch_done(self, batch: Batch):
        if batch.trace is not None:
            batch.trace.t_done = time.perf_counter_ns()
        raws = batch.raws
        if raws is not None:
            j = 0
            for _fn, _argv, sink, idx in batch.items:
                if sink is not None and sink is not RUN:    # (a flat run only has replies)
                    sink.deliver(idx, raws[j])
                    j += 1
        return None if self.closed else self

    def flush(self) -> None:
        if self.closed:
            return
        if self.pushes:         # pushes collected before these replies go first
            self.write_pushes()
        out = self.seq.drain()
        if out:
            try:
                data = out[0] if len(out) == 1 else b"".join(out)
            except TypeError:       # a BigBulk among them
                data = out
            if type(data) is BigBulk or type(data) is list:
                n = self._write_parts(out)
            else:
                n = len(data)
                self.transport.write(data)
            self.net_out += n
            # the burst size follows the recent average reply size
            self.avg_reply = (self.avg_reply * 3 + n // len(out)) >> 2
            self.burst = max(1, min(BURST_MAX, WRITE_HIGH_WATER // (self.avg_reply + 1)))
            if self.traced:
                self.server.tracer.replied(self)
            if self.sub_mode or self.server.limit_normal:   # client-output-buffer-limit
                self.check_output_limits(self.pending_output())
        if self.closing and not self.seq.entries:
            self.closed = True
            self.transport.close()
        elif self.more_input:
            self._maybe_continue()
        elif "inflight" in self.read_paused and len(self.seq) < MAX_INFLIGHT // 2:
            self._resume("inflight")

    def _write_parts(self, out: list) -> int:
        """Write replies some of which are BigBulk: their values go to the
        transport by reference (uvloop keeps the buffer, no copy), so a value
        asked for many times is held once however slowly the client reads."""
        parts = []
        small = []
        n = 0
        for x in out:
            if type(x) is BigBulk:
                if small:
                    parts.append(b"".join(small))
                    small = []
                v = x.value
                parts.append(b"$%d\r\n" % len(v))
                parts.append(v)
                parts.append(b"\r\n")
                n += len(v) + 16
            else:
                small.append(x)
                n += len(x)
        if small:
            parts.append(b"".join(small))
        self.transport.writelines(parts)
        return n

    def kill(self) -> None:
        """Close now (CLIENT KILL): pending replies are dropped."""
        self.closing = True
        if self.transport is not None and not self.closed:
            self.transport.abort()

    # ------------------------------------------------------------ introspection
    def state(self) -> str:
        if self.blocked:
            return "blocked"
        if "backpressure" in self.read_paused:
            return "paused"
        if self.multi is not None:
            return "multi"
        return "reading" if not self.read_paused else "paused"

    def info_line(self) -> str:
        now = time.time()
        flags = "x" if self.multi is not None else ("b" if self.blocked else "")
        t = self.tracking
        if t is not None:       # CLIENT TRACKING: t, R (broken redirection), B (BCAST)
            flags += "t" + ("R" if t.broken else "") + ("B" if t.bcast else "")
        flags = flags or "N"
        return (f"id={self.id} addr={self.addr} laddr={self.laddr} fd={self.fd} "
                f"name={self.name.decode('utf-8', 'replace')} "
                f"age={int(now - self.created)} idle={int(now - self.last_interaction)} "
                f"flags={flags} db={self.db} sub={len(self.subs)} psub={len(self.psubs)} "
                f"ssub={len(self.ssubs)} "
                f"multi={-1 if self.multi is None else len(self.multi)} "
                f"qbuf=0 qbuf-free=0 argv-mem=0 multi-mem=0 rbs=0 rbp=0 obl=0 "
                f"oll={len(self.seq)} omem={self.pending_output()} "
                f"tot-mem={self.pending_output()} events=r "
                f"cmd={self.last_cmd.decode('utf-8', 'replace')} "
                f"user={self.user.decode('utf-8', 'replace')} redir={-1 if t is None else t.redirect} "
                f"resp={self.proto} lib-name={self.lib_name.decode('utf-8', 'replace')} "
                f"lib-ver={self.lib_ver.decode('utf-8', 'replace')}")


CURRENT_TX: ContextVar = ContextVar("shardis_tx", default=None)


async def in_tx(server, shards, coro):
    """Hold ``shards`` for the duration of ``coro`` (see docs/transactions.md).

    The holds are sent to every shard in one synchronous step, before the
    first await: that step is the transaction's place in the global order.
    Hops made by ``coro`` (and `Server.call_shard`) are tagged with the
    transaction through a context variable, so held shards run them."""
    shards = frozenset(shards)
    tx = Tx(shards)
    tell = server.inboxes
    for s in shards:
        tell[s](TxHold(tx))
    token = CURRENT_TX.set(tx)
    aof = server.aof
    try:
        return await coro
    finally:
        CURRENT_TX.reset(token)
        # the AOF gets the transaction's records as one MULTI/EXEC entry
        # before any held shard runs anything sent after (aof.py's invariant)
        synced = aof.commit_tx(tx) if aof is not None else None
        for s in shards:
            tell[s](TxRelease(tx))
        if synced is not None:
            await synced        # appendfsync always: reply after the fsync


class _Deferred:
    """Returned by a CONN handler that has appended its own sequencer entry."""
    __slots__ = ()


DEFERRED = _Deferred()
_MULTI_NAMES = {"exec", "discard", "multi", "watch", "quit", "reset"}
_SUB_ALLOWED = {"subscribe", "ssubscribe", "sunsubscribe", "psubscribe", "unsubscribe",
                "punsubscribe", "ping", "reset", "quit"}


def spec_reject(spec) -> None:
    spec.stats[3] += 1


def _fmt_addr(a) -> str:
    if not a:
        return "?"
    if isinstance(a, tuple):
        host = a[0]
        if ":" in host:
            return f"[{host}]:{a[1]}" if False else f"{host}:{a[1]}"
        return f"{host}:{a[1]}"
    return str(a)
