"""The shard actor: owns the keyspaces of its slots, one per database.

A `ShardActor` is a pykka ``ThreadingActor``.  Its thread is the only one that
touches its `Keyspace` objects.  It receives:

* `Batch`: run the commands in order, encode replies, post to the bridge;
* `Call`: run an administrative function against the shard, post the result;
* `Tick`: the active expire cycle.

Handlers never raise out of ``on_receive`` (an exception in a pykka ``tell``
handler would stop the actor): a `CommandError` becomes an error reply, any
other exception is logged and becomes ``ERR`` reply, and the actor lives on.
"""

from __future__ import annotations

import logging
import queue
import time

import pykka
from pykka._envelope import Envelope

from server.protocol import BIG_BULK, INT_REPLY, NINT, BigBulk, CommandError, Err, Raw, encode

from .keyspace import Keyspace
from .keytable import KeyTable
from collections import deque

from .messages import (PRE_WAIT, RUN, Batch, Call, Tick, TxHold, TxRelease, expand_runs, run_argv,
                       run_items, run_len)

__all__ = ["ShardActor", "ShardStats"]


def _aof_log(aof, shard, db, fn, argv, v):
    # first call: bind the real function (actors/ must not import server/ at
    # load time); later calls go straight to it
    global _aof_log
    from server.persistence.aof import log_write
    _aof_log = log_write
    return log_write(aof, shard, db, fn, argv, v)


def _serve_blocked(shard, in_command):
    # clients blocked on keys that became ready (server/commands/lists.py);
    # bound on first use like the AOF hooks
    global _serve_blocked
    from server.commands.lists import serve_blocked
    _serve_blocked = serve_blocked
    return serve_blocked(shard, in_command)


def _after_command(shard, db, fn, argv, v):
    # notifications/tracking after a command (server/notify.py); bound on
    # first use like the AOF hooks
    global _after_command
    from server.notify import after_command
    _after_command = after_command
    return after_command(shard, db, fn, argv, v)


def _mark_events(events, start, argv, ri, marks):
    # which of a command's events go before its reply (server/notify.py)
    global _mark_events
    from server.notify import mark_events
    _mark_events = mark_events
    return mark_events(events, start, argv, ri, marks)


def _aof_post(aof, batch):
    global _aof_post
    from server.persistence.aof import post_after_fsync
    _aof_post = post_after_fsync
    post_after_fsync(aof, batch)

_clock = time.perf_counter_ns
_time_ns = time.time_ns

log = logging.getLogger("shardis.shard")


def count_error(stats: dict, reply: bytes) -> None:
    """INFO errorstats (Redis's afterErrorReply): an error reply counts under
    its code, the first word when a space ends it within 32 bytes of the
    ``-``; else under ERR (a bare ``-ERR``)."""
    sp = reply.find(b" ", 0, 31)
    code = bytes(reply[:sp]) if sp > 0 else b"ERR"
    stats[code] = stats.get(code, 0) + 1


def _latency_sample(shard, event, dt_ns):
    # the latency monitor (server/commands/latency.py), bound on first use
    global _latency_sample
    from server.commands.latency import shard_sample
    _latency_sample = shard_sample
    return shard_sample(shard, event, dt_ns)


# bulk reply headers for short values (two concatenations are cheaper than
# formatting the length); the GET runner (server/commands/strings.py) uses
# them too
NHDR = 1024
BULK_HDR = [b"$%d\r\n" % n for n in range(NHDR)]

# Run executors, registered by server/commands (actors/ does not import it):
# handler -> runner(db, items, i, replies, proto) -> j.  A runner executes
# items[i:j], consecutive plain calls of its handler (a pipeline of GETs),
# in one Python loop with the handler inlined, and appends their encoded
# replies; it stops at the first item it would not answer exactly as the
# handler does (an expired key, a wrong type, SET with options, a blocked
# client to wake...), which then takes the per-command path.  `_run_batch`
# calls runners only while no per-command hook is on (keyspace events,
# tracking, AOF, the dashboard's trace), and times a run as a whole: its
# commands share the run's mean duration in the latency histogram and the
# slowlog (docs/performance.md, "Shard runs, GC and one CPU").
RUNNERS: dict = {}

# The same for flat runs (actors/messages.py, Batch): handler ->
# runner(db, flat, width, replies, proto) -> k, the requests of the run it
# answered from the first (the rest take the per-command path).  The C
# parser makes flat runs of exactly the handlers registered here, with
# abs(arity) arguments (server/table.py, fast_routes).
FLAT_RUNNERS: dict = {}

# actors/_runs.c: ``C_RUN_GET`` and ``C_RUN_SET`` are the GET and SET
# runners' loops in C (server/commands/strings.py, run_get and run_set).
# They prefetch each window of a run's keys themselves, so the cache misses
# of a large table overlap instead of stalling the loop one key at a time
# (``_runs.warm`` exposes that prefetch alone, for its tests).  None when the
# extension is not built (the keyspace's table is then
# actors.keytable.PyKeyTable) or the Python table is chosen over it
# (SHARDIS_PURE_TABLE=1): the C loops read the C table's slots.
try:
    from actors import _runs
except ImportError:
    _runs = None
C_RUN_GET = _runs.run_get if _runs is not None and KeyTable is _runs.KeyTable else None
C_RUN_SET = _runs.run_set if C_RUN_GET is not None else None
C_RUN_GET_FLAT = _runs.run_get_flat if C_RUN_GET is not None else None
C_RUN_SET_FLAT = _runs.run_set_flat if C_RUN_GET is not None else None


def _add_stats(cmdstats: dict, fn, n: int, ns: int, failed: int) -> None:
    """Add a run of ``n`` calls of handler ``fn`` to the shard's commandstats
    ([calls, ns, failed] per handler)."""
    cs = cmdstats.get(fn)
    if cs is None:
        cmdstats[fn] = [n, ns, failed]
    else:
        cs[0] += n
        cs[1] += ns
        cs[2] += failed


def _next_run(cmdstats: dict, cmdhist: dict, fn, n: int, ns: int, failed: int, new_fn) -> list:
    """A run of one handler ends in `_run_batch`: add it to commandstats
    (``fn`` None: there was none) and return the latency histogram of the
    handler whose run starts."""
    if fn is not None:
        _add_stats(cmdstats, fn, n, ns, failed)
    hist = cmdhist.get(new_fn)
    if hist is None:
        hist = cmdhist[new_fn] = [0] * 64
    return hist


# Active expiry: at most this many keys per database per tick (100 ms), so a
# mass expiry never stalls the shard for long (Redis bounds its cycle by time).
EXPIRE_BUDGET = 2000


class ShardStats:
    """Counters owned by the shard thread; the loop only reads them (ints are
    replaced atomically under the GIL, so a reader sees a consistent value)."""

    __slots__ = ("messages", "commands", "busy_ns", "errors", "started_ns",
                 "peak_mailbox", "lat_hist")

    def __init__(self):
        self.messages = 0
        self.commands = 0
        self.busy_ns = 0
        self.errors = 0
        self.started_ns = time.monotonic_ns()
        self.peak_mailbox = 0
        # service time histogram of Batch messages: bucket i counts batches
        # that took < 2**i microseconds
        self.lat_hist = [0] * 32


class Crash:
    """DEBUG SHARD-KILL (tests only): the shard raises `ShardCrash` out of its
    message loop, as a bug outside any handler would, and dies."""
    __slots__ = ()


CRASH = Crash()


class ShardCrash(RuntimeError):
    pass


class _ExpandingInbox:
    """A dying shard's mailbox as its ``on_death`` hook and pykka's stop
    drain it: a list message (actors/dispatch.py) comes out as its messages,
    one envelope each, so whoever answers them sees only single messages."""

    def __init__(self, q):
        self.q = q
        self.buf: deque = deque()

    def _next(self, get):
        if self.buf:
            return self.buf.popleft()
        env = get()
        m = env.message
        if type(m) is not list:
            return env
        self.buf.extend(Envelope(x) for x in m)
        return self.buf.popleft() if self.buf else self._next(get)

    def get_nowait(self):
        return self._next(self.q.get_nowait)

    def get(self, block=True, timeout=None):
        return self._next(lambda: self.q.get(block, timeout))

    def empty(self) -> bool:
        return not self.buf and self.q.empty()

    def qsize(self) -> int:
        return len(self.buf) + self.q.qsize()

    def put(self, item, block=True, timeout=None):
        self.q.put(item)


class ShardActor(pykka.ThreadingActor):
    use_daemon_thread = True
    # maxmemory share of this shard (actors/memory.py configures both); 0: off
    mem_limit = 0
    memory = None

    @staticmethod
    def _create_actor_inbox():
        # SimpleQueue: put/get without a Condition, ~3x cheaper than Queue.
        return queue.SimpleQueue()

    def __init__(self, index: int, databases: int, bridge, hooks=None, on_death=None):
        super().__init__()
        self.index = index
        # fn(shard, message, exc) run on this thread when an exception is
        # about to kill the actor (server/failures.py: answer what it leaves)
        self.on_death = on_death
        self.bridge = bridge
        self.now_ms = time.time_ns() // 1_000_000
        self.clock = self.now_ms // 1000
        self.dbs = [Keyspace(self, i) for i in range(databases)]
        self.stats = ShardStats()
        self.stats_expired = 0
        self.hooks = hooks      # server-wide read-only config (encoding limits...)
        self.scan_snapshots: dict = {}
        self.scan_token = 0
        # per-command [calls, ns, failed], keyed by handler (INFO commandstats,
        # SLOWLOG); owned by this thread, read through Call messages.
        self.cmdstats: dict = {}
        self.slowlog_threshold_ns = 10_000_000
        self.slow: list = []   # (start_unix_us, duration_us, argv) recent slow commands
        # Latency monitor events of this shard (server/commands/latency.py)
        # and its threshold (0: off); ``slow_ns`` is the smaller of the two
        # thresholds, so the hot path compares one number.  ``lat_track``:
        # latency-tracking.
        self.latency: dict = {}
        self.latency_threshold_ns = 0
        self.slow_ns = self.slowlog_threshold_ns
        self.lat_track = True
        # per-handler latency histograms: bucket i counts calls under 2**i us
        self.cmdhist: dict = {}
        # INFO errorstats: error code -> count, counted on the failure path
        self.errstats: dict = {}
        # Cross-shard transactions: while ``held_by`` is a Tx, only messages
        # tagged with it run; all others wait in ``backlog`` in arrival order.
        self.held_by = None
        self.backlog: deque = deque()
        # The append-only file (server/persistence/aof.py) while appendonly
        # is on; None otherwise: the write path tests only this attribute.
        self.aof = None
        self.tx_count = 0
        # Blocked clients (BLPOP, BZPOPMIN...): per (db, key) FIFO of waiters,
        # and the keys a command made ready; served after each command, or at
        # the release of a holding transaction (server/commands/lists.py).
        self.waiters: dict = {}
        self.ready: deque = deque()
        self.serving = False
        # Keyspace notifications (server/notify.py): enabled event classes
        # (0: off, the only test on the write paths), events queued by this
        # thread, ``del`` events deferred to the end of the running command,
        # and the loop-side Notice constructor set with the flags.
        self.notify_flags = 0
        self.notices: list = []
        self.notice_tail: list = []
        self.notice_factory = None
        # CLIENT TRACKING (server/tracking.py): key -> ids of clients that
        # read it (empty: off), BCAST prefixes, invalidations to deliver.
        self.tracking: dict = {}
        self.bcast: dict = {}
        self.invalidations: list = []
        self.remembered = 0     # `remember` items run in this batch: not commands
        self.modified = None    # while a command's event rule runs: the keys it names
        self.writer = None      # owner of the running batch (only compared, for NOLOOP)

    # pykka entry point ---------------------------------------------------
    def on_receive(self, message):
        # A list is the batches of one loop iteration (actors/dispatch.py):
        # run in order, exactly as if they had arrived one by one.
        msgs = message if type(message) is list else (message,)
        i = 0
        try:
            for i, m in enumerate(msgs):
                if self.held_by is None and not self.backlog:
                    self._handle(m)
                    continue
                # A transaction holds this shard, or deferred messages are still
                # waiting: keep arrival order except for the holder's own messages.
                if self.held_by is not None and getattr(m, "tx", None) is self.held_by:
                    self._handle(m)
                else:
                    self.backlog.append(m)
                self._pump()
        except Exception as e:
            # about to die (pykka stops an actor whose on_receive raises):
            # let the server answer everything this shard leaves behind
            # (the rest of a list goes to the backlog, lists still in the
            # mailbox are read one message at a time, see _ExpandingInbox)
            if len(msgs) > 1:
                self.backlog.extend(msgs[i + 1:])
            if self.on_death is not None:
                self.actor_inbox = _ExpandingInbox(self.actor_inbox)
                try:
                    self.on_death(self, msgs[i], e)
                except Exception:  # noqa: BLE001 - the original error matters more
                    log.exception("shard %d: on_death failed", self.index)
            raise

    def _pump(self) -> None:
        """Run deferred messages: from the front while not held; when held,
        only the holder's (they were all sent after its TxHold, so running
        them ahead of the others keeps the global order)."""
        backlog = self.backlog
        while backlog:
            if self.held_by is None:
                self._handle(backlog.popleft())
                continue
            tx = self.held_by
            mine = [m for m in backlog if getattr(m, "tx", None) is tx]
            if not mine:
                return
            for m in mine:
                backlog.remove(m)
            for m in mine:
                self._handle(m)
            if self.held_by is tx:
                return

    def set_clock(self, c: int) -> None:
        """Move the LRU clock (seconds): each database's table stamps keys
        with it (actors/keytable.py)."""
        self.clock = c
        for db in self.dbs:
            db.data.clock = c

    def _handle(self, message):
        t0 = _clock()
        ms = _time_ns() // 1_000_000
        self.now_ms = ms
        c = ms // 1000
        if c != self.clock:
            self.set_clock(c)
        st = self.stats
        st.messages += 1
        try:
            tm = type(message)
            if tm is Batch:
                self._run_batch(message)
            elif tm is Call:
                try:
                    message.result = message.fn(self, *message.args)
                except Exception as e:  # noqa: BLE001 - becomes the result
                    if not isinstance(e, CommandError):
                        log.exception("shard %d: call %r failed", self.index, message.fn)
                    message.result = e
                if self.ready and self.held_by is None:
                    _serve_blocked(self, False)
                if self.notices or self.invalidations:
                    self.post_notices()
                self.bridge.post(message)
            elif tm is Tick:
                self._expire_cycle()
                if self.notices or self.invalidations:
                    self.post_notices()
            elif tm is TxHold:
                if self.held_by is None:
                    self.held_by = message.tx
                    self.tx_count += 1
                else:   # cannot happen: holds are queued behind the holder
                    self.backlog.append(message)
            elif tm is TxRelease:
                if self.held_by is message.tx:
                    self.held_by = None
                    if self.ready:      # pushes made by the transaction
                        _serve_blocked(self, False)
            elif tm is Crash:
                raise ShardCrash(f"DEBUG SHARD-KILL {self.index}")
            else:
                log.warning("shard %d: unexpected message %r", self.index, message)
        except ShardCrash:
            raise
        except Exception:  # noqa: BLE001 - never let a message kill the shard
            log.exception("shard %d: message failed", self.index)
        dt = _clock() - t0
        st.busy_ns += dt
        st.lat_hist[min(31, (dt // 1000).bit_length())] += 1

    def _run_batch(self, batch: Batch) -> None:
        items = batch.items
        # The common batch, a pipeline of GETs or SETs of one connection with
        # no per-command hook on, is one runner call: a flat run (the C
        # parser's, actors/messages.py) or a run of items; its bookkeeping
        # here is what the general loop below would do for one run.  Where
        # the runner stops short, the loop takes over from there with the
        # run so far (the commands it ran are neither run nor counted twice).
        if (items and batch.trace is None and not (self.notify_flags or self.bcast or self.tracking
                                                   or self.mem_limit or self.aof is not None)):
            item0 = items[0]
            fn = item0[0]
            flat = item0[2] is RUN
            if flat:
                runner = FLAT_RUNNERS.get(fn) if len(items) == 1 else None
            else:
                runner = RUNNERS.get(fn)
            if runner is not None:
                db = self.dbs[batch.db]
                self.writer = batch.owner
                replies = []
                t = _clock()
                try:
                    if flat:
                        j = runner(db, item0[1], item0[3], replies, batch.proto)
                    else:
                        j = runner(db, items, 0, replies, batch.proto)
                except Exception:  # noqa: BLE001 - redone by the per-command path
                    log.exception("shard %d: runner for %r failed", self.index, item0[1][:1])
                    replies.clear()
                    j = 0
                t2 = _clock()
                dt = t2 - t
                if j:
                    mean = dt // j
                    if self.lat_track:
                        hist = self.cmdhist.get(fn)
                        if hist is None:
                            hist = _next_run(None, self.cmdhist, None, 0, 0, 0, fn)
                        hist[(mean // 1000).bit_length()] += j
                    if mean >= self.slow_ns:
                        for r in range(j):
                            argv = run_argv(item0, r) if flat else items[r][1]
                            self._slow_path(fn, argv, mean, batch.owner)
                total = run_len(item0) if flat else len(items)
                if j == total:
                    cs = self.cmdstats.get(fn)
                    if cs is None:
                        self.cmdstats[fn] = [j, dt, 0]
                    else:
                        cs[0] += j
                        cs[1] += dt
                    self.stats.commands += j
                    if self.notices or self.invalidations:
                        self.post_notices()
                    batch.replies = replies   # publish last: the loop tests replies for done
                    self.bridge.post(batch)
                    return
                if flat:
                    # the rest of the run as ordinary items, for the loop
                    items[0:1] = run_items(item0, j)
                    return self._run_items(batch, db, replies, 0, fn, j, dt, t2, j)
                return self._run_items(batch, db, replies, j, fn, j, dt, t2)
        return self._run_items(batch, self.dbs[batch.db], [], 0, None, 0, 0, _clock())

    def _run_items(self, batch: Batch, db, replies: list, i: int, run_fn, run_n: int,
                   run_ns: int, t: int, done: int = 0) -> None:
        """Run ``batch.items[i:]``, every command through the per-command
        path or a runner; ``replies`` holds the replies of the commands run
        so far, a run of ``run_n`` calls of ``run_fn`` taking ``run_ns``
        (none: run_n 0), already in the latency histogram and the slowlog;
        ``t`` is when they ended.  They are items[:i] and ``done`` more
        commands no longer in items (the part of a flat run already run)."""
        self.writer = batch.owner
        proto = batch.proto
        raws = None
        cmdstats = self.cmdstats
        clock = _clock
        trace = batch.trace
        # a per-command hook on: runners may not take commands, and (as the
        # memory hooks do) the hooks read items, so no flat run stays
        hooks = bool(self.notify_flags or self.bcast or self.aof is not None or trace is not None)
        if hooks or self.mem_limit:
            expand_runs(batch.items, i)
        if trace is not None:
            trace.t_exec_start = t
            trace.shard_mailbox = self.actor_inbox.qsize()
        if self.mem_limit:      # evict, or turn denyoom commands into OOM errors
            self.memory.before_batch(db, batch)
        aof = self.aof
        logged = False
        ready = self.ready
        slow_ns = self.slow_ns      # min(slowlog, latency monitor) thresholds
        cmdhist = self.cmdhist
        track = self.lat_track
        # commandstats are summed per run of consecutive calls of one handler
        # (a pipeline of GETs is one run) and added to ``cmdstats`` when the
        # run ends: the same figures as per-command updates, one dict lookup
        # per run.  Every command is still timed on its own for the slowlog.
        run_failed = 0
        run_hist = None
        if run_n:               # the run _run_batch's runner call made
            run_hist = _next_run(cmdstats, cmdhist, None, 0, 0, 0, run_fn)
        else:
            run_fn = None
        extra = done            # commands run that are not (or not one) item
        # With keyspace events on: ``marks`` says which reply each event goes
        # before, for an owner subscribed to its own events (Batch.pre):
        # (end, i) = the events up to ``end`` in self.notices come before the
        # batch's reply i (i = len(replies): none yet, after the last one)
        marks = [] if self.notify_flags else None
        nmark = len(self.notices)
        items = batch.items
        nitems = len(items)
        # runners only while no per-command hook can be on for this batch
        # (tracking is re-tested per run: remember items turn it on)
        runners = None if hooks else RUNNERS
        while i < nitems:
            fn, argv, sink, part = items[i]
            i += 1
            flat = sink is RUN      # a flat run: argv is its flat list, part its width
            if flat or (runners is not None and fn in runners and not self.tracking):
                # a runner's run: k commands answered from this item on
                k = 0
                runner = None
                if runners is not None and not self.tracking:
                    runner = FLAT_RUNNERS.get(fn) if flat else runners[fn]
                if runner is not None:
                    nrep = len(replies)
                    try:
                        if flat:
                            k = runner(db, argv, part, replies, proto)
                        else:
                            k = runner(db, items, i - 1, replies, proto) - (i - 1)
                    except Exception:  # noqa: BLE001 - never lose the batch
                        # what the run did is redone by the per-command path
                        # (GET and SET of the same values are idempotent)
                        log.exception("shard %d: runner for %r failed", self.index, argv[:1])
                        del replies[nrep:]
                        k = 0
                if k:
                    t2 = clock()
                    dt = t2 - t
                    t = t2
                    if fn is not run_fn:
                        run_hist = _next_run(cmdstats, cmdhist, run_fn, run_n, run_ns,
                                             run_failed, fn)
                        run_fn = fn
                        run_n = run_ns = run_failed = 0
                    run_n += k
                    run_ns += dt
                    mean = dt // k
                    if track:
                        run_hist[(mean // 1000).bit_length()] += k
                    if mean >= slow_ns:
                        for r in range(k):
                            slow_argv = run_argv(items[i - 1], r) if flat else items[i - 1 + r][1]
                            self._slow_path(fn, slow_argv, mean, batch.owner)
                if flat:
                    total = (len(argv) - 1) // part
                    if k == total:
                        extra += k - 1
                        continue
                    # what the runner left becomes ordinary items in its place
                    i -= 1
                    items[i:i + 1] = run_items(items[i], k)
                    nitems = len(items)
                    extra += k
                    continue
                if k:
                    i += k - 1
                    continue
            try:
                v = fn(db, argv)
                failed = 0
            except CommandError as e:
                v = e.reply
                failed = 1
                if sink is None:    # a hop's or part's error counts where it is replied
                    count_error(self.errstats, v)
            except Exception as e:  # noqa: BLE001
                log.exception("shard %d: %r failed", self.index, argv[:1])
                self.stats.errors += 1
                failed = 1
                v = Err(b"ERR internal error: " + repr(e).encode()[:200])
                if sink is None:
                    count_error(self.errstats, v)
            if self.notify_flags or self.tracking or self.bcast:
                _after_command(self, db, fn, argv, v)
                if marks is not None and len(self.notices) > nmark:
                    nmark = _mark_events(self.notices, nmark, argv, len(replies), marks)
            if ready and self.held_by is None:
                # serve clients blocked on keys this command filled before
                # anything else runs (handleClientsBlockedOnKeys after call())
                _serve_blocked(self, True)
                if marks is not None and len(self.notices) > nmark:
                    nmark = len(self.notices)       # after this command's reply
                    marks.append((nmark, len(replies) + (sink is None)))
            if aof is not None and not failed and type(v) is not Err:
                logged = _aof_log(aof, self, db, fn, argv, v) or logged
            # one clock read per command: each command's time runs from the
            # end of the previous one (encoding included)
            t2 = clock()
            dt = t2 - t
            t = t2
            # ``part``: the index of a fan-out part (DEL/MGET/MSET... split
            # over shards, Route.ALL commands): the command is one call, which
            # part 0 counts; every part adds its time
            if fn is not run_fn:
                run_hist = _next_run(cmdstats, cmdhist, run_fn, run_n, run_ns, run_failed, fn)
                run_fn = fn
                run_n = run_ns = run_failed = 0
            if not part:
                run_n += 1
            run_ns += dt
            run_failed += failed
            if track and not part:  # latency-tracking: one bucket increment per command
                run_hist[(dt // 1000).bit_length()] += 1
            if dt >= slow_ns:
                self._slow_path(fn, argv, dt, batch.owner)
            if sink is None:
                # encode() inlined for the common reply types
                tv = type(v)
                if tv is bytes:
                    n = len(v)
                    if n < NHDR:
                        replies.append(BULK_HDR[n] + v + b"\r\n")
                    elif n < BIG_BULK:
                        replies.append(b"$%d\r\n%b\r\n" % (n, v))
                    else:
                        replies.append(BigBulk(v))   # written by reference, no copy
                elif tv is int and 0 <= v < NINT:
                    replies.append(INT_REPLY[v])
                elif tv is Raw:
                    replies.append(v)
                else:
                    replies.append(encode(v, proto))
            else:
                if raws is None:
                    raws = []
                raws.append(v)
        if run_fn is not None:
            _add_stats(cmdstats, run_fn, run_n, run_ns, run_failed)
        n = nitems + extra
        if self.remembered:     # CLIENT TRACKING's remember items are not commands
            n -= self.remembered
            self.remembered = 0
        self.stats.commands += n
        if self.mem_limit:      # re-measure the keys this batch wrote
            self.memory.after_batch(db, batch)
        if trace is not None:
            trace.t_exec_end = clock()
        if self.notices or self.invalidations:
            # before the replies: Redis emits during the command
            self.post_notices(batch if marks else None, marks, len(replies))
        batch.raws = raws
        batch.replies = replies   # publish last: the loop tests replies for done
        if logged and aof.always:
            # appendfsync always: the writer posts it after the fsync
            _aof_post(aof, batch)
        else:
            self.bridge.post(batch)

    def post_notices(self, batch=None, marks=None, nreplies=0) -> None:
        """Hand queued keyspace events and tracking invalidations to the loop
        (server/notify.py), in the order this thread queued them.  ``batch``
        and ``marks``: the events' places among that batch's replies; the
        batch waits (Batch.pre) until the loop has delivered them."""
        events, inv = self.notices, self.invalidations
        self.notices, self.invalidations = [], []
        if self.notice_tail:        # deletes outside a command (eviction...)
            events.extend(self.notice_tail)
            self.notice_tail.clear()
        if self.notice_factory is not None:
            notice = self.notice_factory(events, inv)
            if batch is not None:
                notice.batch = batch
                notice.marks = marks
                notice.nreplies = nreplies
                if nreplies:
                    batch.pre = PRE_WAIT    # set before the post: the loop clears it
            self.bridge.post(notice)

    def invalidate(self, key: bytes) -> None:
        """signalModifiedKey's tracking half: clients that read ``key`` and
        BCAST clients with a matching prefix get an invalidation."""
        ids = self.tracking.pop(key, None) if self.tracking else None
        if ids or self.bcast:
            self.invalidations.append((key, ids, self.writer))

    def update_slow_ns(self) -> None:
        lat = self.latency_threshold_ns
        self.slow_ns = min(self.slowlog_threshold_ns, lat) if lat else self.slowlog_threshold_ns

    def account(self, fn, argv, dt_ns: int, failed: int) -> None:
        """Count one command run outside `_run_batch`'s loop (the queued
        commands of a single-shard EXEC, which Redis's call() counts each):
        commandstats, its latency histogram, the slowlog."""
        _add_stats(self.cmdstats, fn, 1, dt_ns, failed)
        if self.lat_track:
            h = self.cmdhist.get(fn)
            if h is None:
                h = self.cmdhist[fn] = [0] * 64
            h[(dt_ns // 1000).bit_length()] += 1
        if dt_ns >= self.slow_ns:
            self._slow_path(fn, argv, dt_ns, self.writer)

    def _slow_path(self, fn, argv, dt_ns: int, owner) -> None:
        """A command over the slowlog or the latency monitor threshold."""
        if getattr(fn, "not_a_command", False):    # CLIENT TRACKING's remember items
            return
        if dt_ns >= self.slowlog_threshold_ns:
            self._slow(argv, dt_ns, owner)
        lat = self.latency_threshold_ns
        if lat and dt_ns >= lat:
            spec = getattr(fn, "spec", None)
            fast = spec is not None and "fast" in spec.flags
            _latency_sample(self, "fast-command" if fast else "command", dt_ns)

    def _slow(self, argv, dt_ns: int, owner=None) -> None:
        # ``owner`` (the connection) is only kept, never read here: the loop
        # reads its address and name when SLOWLOG GET asks
        self.slow.append((time.time_ns() // 1000 - dt_ns // 1000, dt_ns // 1000, argv, owner))
        if len(self.slow) > 256:
            del self.slow[:128]

    def _expire_cycle(self) -> None:
        now = self.now_ms
        t0 = time.perf_counter_ns()
        for db in self.dbs:
            if db._heap and db._heap[0][0] <= now:
                db.expire_cycle(now, EXPIRE_BUDGET)
        lat = self.latency_threshold_ns
        if lat:     # activeExpireCycle's "expire-cycle" latency event
            dt = time.perf_counter_ns() - t0
            if dt >= lat:
                _latency_sample(self, "expire-cycle", dt)
