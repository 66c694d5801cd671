"""The server process: shard actors, the listener, timers, shutdown.

`Server` owns everything that lives on the event loop: the config, the client
registry, server-wide stats.  Shard actors own the data.  The loop reaches a
shard only by message (``inboxes[i](msg)``) and gets answers back through the
`LoopBridge`.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import signal
import socket
import select
import time

import pykka

from actors.bridge import LoopBridge
from actors.dispatch import Dispatcher, Inboxes
from actors.messages import TICK, Call
from actors.shard import ShardActor
from actors.slots import SlotMap
from actors.trace import Tracer

from .config import Config, ConfigError
from .connection import Client

__all__ = ["Server", "run"]

log = logging.getLogger("shardis")

# options whose value must be pushed into running state (apply_config) at
# startup; maxmemory* are pushed by apply_memory_config just before
STARTUP_APPLIED = ("slowlog-log-slower-than", "client-output-buffer-limit", "requirepass",
                   "latency-monitor-threshold", "latency-tracking")

VERSION = "7.0.15"          # the Redis version whose behaviour we follow
SHARDIS_VERSION = "0.1.0"


def _readable(fd: int) -> bool:
    """Whether a client socket has unread input (or EOF) waiting."""
    if fd < 0:
        return False
    try:
        return bool(select.select([fd], [], [], 0)[0])
    except (OSError, ValueError):
        return False


class ServerStats:
    def __init__(self):
        self.connections_received = 0
        self.commands_closed = 0      # commands of clients that have gone
        self.rejected = 0
        self.rejected_conns = 0
        self.ops_samples: list[tuple[float, int]] = []
        self.net_in_closed = 0
        self.net_out_closed = 0
        self.output_limit_kills = 0


class Server:
    def __init__(self, config: Config):
        self.config = config
        self.loop: asyncio.AbstractEventLoop | None = None
        self.bridge: LoopBridge | None = None
        self.shards: list = []
        self.inboxes: Inboxes = Inboxes()
        self.dispatcher: Dispatcher | None = None
        self.slotmap = SlotMap(config.shards)
        self.clients: dict[int, Client] = {}
        self._next_id = 0
        self.stats = ServerStats()
        self.started = time.time()
        self.started_mono = time.monotonic()
        self.listener = None
        self.port = config.port
        self.stopping: asyncio.Event | None = None
        self.shutdown_reason = None
        self._tick_handle = None
        self.run_id = os.urandom(20).hex()
        self.fast_table: dict = {}
        self.fast_routes: dict = {}
        # Command guard (auth/ACL): guard(conn, spec, argv) -> None or an Err;
        # guard_applies(conn) -> whether a new connection must be checked.
        self.guard = None
        self.guard_applies = lambda conn: False
        # client-output-buffer-limit per class: (hard, soft, soft_seconds) bytes
        self.output_limits = {"normal": (0, 0, 0), "pubsub": (32 << 20, 8 << 20, 60)}
        self.limit_normal = False    # the normal class has a limit (apply_config)
        self.over_soft: set = set()  # clients over their soft output limit (cron-checked)
        self.tracer = Tracer(every=1000)
        self.extensions: dict = {}   # per-feature loop-owned state (pubsub, dashboard...)
        self.aof = None              # server/persistence/aof.AOF while appendonly is on
        # slow commands run on the loop (CONN handlers, coordinators); the
        # shards keep their own (ShardActor.slow); SLOWLOG merges both
        self.slowlog_threshold_ns = 10_000_000
        self.loop_slow: list = []
        self.push_before = None     # (batch, reply index) while a Notice publishes

    # ---------------------------------------------------------------- lifecycle
    async def start(self) -> None:
        from .config import apply_renames
        from .table import fast_routes, fast_table
        apply_renames(self.config)   # rename-command, before the fast path is built
        self.fast_table = fast_table()
        # the C parser's routes (used with one shard only: Client.parse)
        self.fast_routes = fast_routes(fast_table(one_shard=self.config.shards == 1))
        self.loop = asyncio.get_running_loop()
        self.stopping = asyncio.Event()
        self.bridge = LoopBridge(self.loop)
        from functools import partial
        from .failures import shard_died
        for i in range(self.config.shards):
            ref = ShardActor.start(i, self.config.databases, self.bridge,
                                   on_death=partial(shard_died, self))
            self.shards.append(ref)
            self.inboxes.append(ref.tell)
        # connections queue their batches here: one message per shard per
        # loop iteration; indexing ``inboxes`` flushes it (actors/dispatch.py)
        self.dispatcher = Dispatcher(self.loop, self.inboxes)
        self.inboxes.dispatcher = self.dispatcher
        from .persistence import aof, snapshot   # load before clients, save rules
        # With appendonly yes the AOF takes precedence over the RDB (Redis);
        # with no AOF yet, the RDB is loaded and a first rewrite creates it.
        if not (self.config.appendonly and await aof.load_on_start(self)):
            await snapshot.load_on_start(self)
            if self.config.appendonly:
                await aof.enable(self)
        from actors.memory import apply_memory_config
        from .acl import install as install_acl
        install_acl(self)            # auth, ACLs, protected mode (server/acl.py)
        apply_memory_config(self)    # maxmemory share per shard (actors/memory.py)
        # options from the command line / config file take effect exactly as
        # if CONFIG SET had set them (timeout, maxclients, tcp-keepalive and
        # protected-mode are read where used and need no push)
        from .commands.server import apply_config
        for name in STARTUP_APPLIED:
            apply_config(self, name)
        self.listener = await self.loop.create_server(
            lambda: Client(self), host=self.config.bind.split()[0] or None,
            port=self.config.port, reuse_address=True, backlog=511)
        self.port = self.listener.sockets[0].getsockname()[1]
        if self.config.dashboard_port:   # opt-in: see docs/dashboard.md
            from .dashboard import start_dashboard
            await start_dashboard(self)
        self._schedule_tick()
        snapshot.start_timers(self)
        n = self.config.shards
        cpus = sorted(os.sched_getaffinity(0))
        policy = "SCHED_BATCH" if os.sched_getscheduler(0) == os.SCHED_BATCH else "SCHED_OTHER"
        log.info("Shardis %s (Redis %s compatible) ready on %s:%d with %d shard%s, on CPU%s %s"
                 " (%s)", SHARDIS_VERSION, VERSION, self.config.bind, self.port, n,
                 "" if n == 1 else "s", "" if len(cpus) == 1 else "s", ",".join(map(str, cpus)),
                 policy)

    def _schedule_tick(self) -> None:
        hz = max(1, int(self.config.hz))
        self._tick_handle = self.loop.call_later(1.0 / hz, self._tick)

    def _tick(self) -> None:
        for tell in self.inboxes:
            try:
                tell(TICK)
            except pykka.ActorDeadError:
                pass
        now = time.monotonic()
        s = self.stats.ops_samples
        s.append((now, self.total_commands()))
        if len(s) > 64:
            del s[:32]
        for c in list(self.over_soft):   # clientsCron's output-buffer check
            if c.closed or c.closing:
                self.over_soft.discard(c)
            else:
                c.check_output_limits()
        if self.config.timeout:
            # clientsCronHandleTimeout: idle clients are closed, except blocked
            # ones (their own timeout applies) and subscribers (they only read)
            limit = time.time() - self.config.timeout
            for c in list(self.clients.values()):
                if c.last_interaction < limit and not c.blocked and not c.sub_mode:
                    log.info("Closing idle client id=%d addr=%s", c.id, c.addr)
                    c.kill()
        self._schedule_tick()

    async def serve(self) -> None:
        await self.stopping.wait()
        if self.shutdown_reason in ("SIGTERM", "SIGINT") and self.config.save.strip():
            # like Redis on SIGTERM/SIGINT with save points: save before exiting
            from .persistence import snapshot
            if not await snapshot.save_now(self):
                log.warning("Error trying to save the DB, exiting anyway")
        await self._close()

    def request_shutdown(self, reason: str = "signal") -> None:
        if self.shutdown_reason is None:
            self.shutdown_reason = reason
            log.info("Shutting down (%s)", reason)
            self.stopping.set()

    async def _close(self) -> None:
        if self._tick_handle:
            self._tick_handle.cancel()
        if self.listener is not None:
            self.listener.close()
        if "dashboard" in self.extensions:
            from .dashboard import stop_dashboard
            await stop_dashboard(self)
        # let in-flight replies reach their clients (bounded wait).  Input
        # already sent counts as in flight too: a connection parsing a long
        # pipeline burst by burst (Client.parse) is busy while input is
        # buffered in its reader or waiting unread in its socket, so a
        # pipeline that reached the server before the signal is answered
        # (and the socket is not closed with unread data, which resets it)
        deadline = time.monotonic() + 3.0
        while time.monotonic() < deadline:
            busy = [c for c in self.clients.values()
                    if not c.closed and (len(c.seq) or c.pending_output() or (
                        not c.closing and (c.more_input or _readable(c.fd))))]
            if not busy:
                break
            await asyncio.sleep(0.01)
        for c in list(self.clients.values()):
            if c.transport is not None and not c.closed:
                c.transport.close()
        await asyncio.sleep(0)
        self.dispatcher.flush()      # batches queued this iteration go before the stops
        await self.loop.run_in_executor(None, self.stop_actors)
        if self.aof is not None:     # flush and fsync what the shards logged
            await self.loop.run_in_executor(None, self.aof.stop)

    def stop_actors(self) -> None:
        for ref in self.shards:
            try:
                ref.stop(block=True, timeout=5)
            except Exception:  # noqa: BLE001 - already dead or timed out
                pass

    # ---------------------------------------------------------------- clients
    def log_slow(self, argv, dt_ns: int, client) -> None:
        self.loop_slow.append((time.time_ns() // 1000 - dt_ns // 1000, dt_ns // 1000, argv, client))
        if len(self.loop_slow) > 256:
            del self.loop_slow[:128]

    def next_client_id(self) -> int:
        self._next_id += 1
        return self._next_id

    def client_connected(self, c: Client) -> None:
        self.stats.connections_received += 1
        if len(self.clients) >= self.config.maxclients:
            self.stats.rejected_conns += 1
            c.transport.write(b"-ERR max number of clients reached\r\n")
            c.closing = True
            c.transport.close()
            return
        self.clients[c.id] = c
        if self.config.tcp_keepalive:
            sock = c.transport.get_extra_info("socket")
            if sock is not None:
                try:
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
                    if hasattr(socket, "TCP_KEEPIDLE"):
                        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE,
                                        int(self.config.tcp_keepalive))
                except OSError:
                    pass
        for hook in self.extensions.get("on_connect", ()):
            hook(c)

    def client_disconnected(self, c: Client) -> None:
        if self.clients.pop(c.id, None) is not None:
            self.stats.commands_closed += c.cmds_processed
            self.stats.net_in_closed += c.net_in
            self.stats.net_out_closed += c.net_out
        for hook in self.extensions.get("on_disconnect", ()):
            hook(c)

    def total_commands(self) -> int:
        return self.stats.commands_closed + sum(c.cmds_processed for c in self.clients.values())

    # ---------------------------------------------------------------- shard calls
    def call_shard(self, s: int, fn, *args) -> asyncio.Future:
        """Run ``fn(shard, *args)`` on shard s; a loop future with the result."""
        from .connection import CURRENT_TX
        fut = self.loop.create_future()
        tx = CURRENT_TX.get()
        if tx is not None and s not in tx.shards:
            fut.set_exception(RuntimeError(f"call to shard {s} outside {tx}"))
            return fut

        def done(result, fut=fut):
            if fut.done():
                return
            if isinstance(result, BaseException):
                fut.set_exception(result)
            else:
                fut.set_result(result)
        try:
            self.inboxes[s](Call(fn, args, done, tx))
        except pykka.ActorDeadError as e:
            fut.set_exception(e)
        return fut

    async def call_all(self, fn, *args) -> list:
        return list(await asyncio.gather(*[self.call_shard(s, fn, *args)
                                           for s in range(len(self.shards))]))


def setup_logging(level: str) -> None:
    lv = {"debug": logging.DEBUG, "verbose": logging.INFO, "notice": logging.INFO,
          "warning": logging.WARNING, "nothing": logging.CRITICAL}.get(level, logging.INFO)
    logging.basicConfig(level=lv, format="%(asctime)s %(levelname).1s %(name)s: %(message)s")


def tune_gc() -> None:
    """Tune the cyclic garbage collector for a server's allocation pattern.

    Each request allocates containers (its argument list, its batch item)
    that die young by reference counting, so with CPython's default
    threshold (700) a collection starts every few hundred commands and
    catches the requests still in flight, which are promoted and later make
    full collections run: under ``redis-benchmark -c 50 -P 30`` that cost 10%
    of the loop thread, with 10-15 ms pauses (docs/performance.md, "Garbage
    collector").  Frozen: the code and tables loaded so far, never garbage.
    A young generation of 50,000 means requests in flight (bounded per
    connection) never trigger a collection; cyclic garbage is still found,
    after 50,000 net container allocations.
    """
    gc.freeze()
    gc.set_threshold(50_000, 20, 20)


async def _main(config: Config, ready=None) -> Server:
    # importing the command modules fills the command table
    from . import commands  # noqa: F401
    tune_gc()
    server = Server(config)
    await server.start()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, server.request_shutdown, sig.name)
        except (NotImplementedError, RuntimeError):
            pass
    if ready is not None:
        ready(server)
    await server.serve()
    return server


def run(config: Config) -> int:
    setup_logging(config.loglevel)
    try:
        import uvloop
        runner = asyncio.Runner(loop_factory=uvloop.new_event_loop)
    except ImportError:
        runner = asyncio.Runner()
    try:
        with runner:
            runner.run(_main(config))
    except (OSError, ConfigError) as e:
        log.error("cannot start: %s", e)
        return 1
    log.info("Shardis is now ready to exit, bye bye...")
    return 0
