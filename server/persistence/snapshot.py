"""Point-in-time snapshots of every shard, written as one RDB file.

A snapshot is a consistent cut: it runs as a transaction holding *every*
shard (`server.connection.in_tx`, docs/transactions.md).  The holds are sent
in one synchronous step of the event loop, so every shard sees the same
"before" (everything sent earlier) and "after" (everything sent later).
Inside the hold each shard makes a shallow copy of its databases - bytes are
immutable and shared; sets, sorted sets, lists and hashes are copied because
the shard keeps mutating them after the release - and the shards are
released.  Encoding and writing the file happen afterwards in a worker
thread (``loop.run_in_executor``), to a temp file renamed over ``dbfilename``
when complete, so a crash mid-save never leaves a torn file.

State (`Persistence`, in ``server.extensions["persistence"]``) is owned by
the event loop: counters for INFO persistence, the save task, the
``save <seconds> <changes>`` timer.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import os
import time

from server.connection import in_tx

from . import rdb

__all__ = ["Persistence", "state", "bgsave", "save_now", "load_on_start", "start_timers",
           "parse_save_rules", "info_fields", "changes_count"]

log = logging.getLogger("shardis.persistence")

BGSAVE_RETRY_DELAY = 5    # seconds before a save rule retries after a failure (Redis)


class Persistence:
    def __init__(self, started: float):
        self.lastsave = int(started)              # LASTSAVE: last successful save (or start)
        self.task: asyncio.Task | None = None     # the save in progress, if any
        self.is_bgsave = False
        self.started = 0.0
        self.last_status_ok = True
        self.last_bgsave_time_sec = -1
        self.last_try = 0.0
        self.saves = 0
        self.changes_base = 0                     # changes_count() at the last save
        self.last_hold_ms = 0.0                   # the whole hold, seen from the loop
        self.last_copy_ms = 0.0                   # the slowest shard's copy inside it
        self.last_size = 0
        self.last_keys = 0
        self.loaded_keys = 0
        self.loaded_expired = 0
        self.timer = None


def state(server) -> Persistence:
    p = server.extensions.get("persistence")
    if p is None:
        p = server.extensions["persistence"] = Persistence(server.started)
    return p


def changes_count(server) -> int:
    """Successful write commands dispatched so far (approximates Redis's
    ``server.dirty``: a write that changed nothing still counts)."""
    from server.table import TABLE
    n = 0
    for spec in TABLE.values():
        if "write" in spec.flags:
            n += spec.stats[0] - spec.stats[2]
        for sub in spec.subcommands.values():
            if "write" in sub.flags:
                n += sub.stats[0] - sub.stats[2]
    return n


# ---------------------------------------------------------------------- shard side
def saves_lru(server) -> bool:
    """Whether a snapshot records each key's idle time: under an LRU
    maxmemory-policy, as Redis's rdbSaveKeyValuePair does (with or without
    a maxmemory limit)."""
    return server.config.maxmemory_policy in ("allkeys-lru", "volatile-lru")


def _copy_shard(shard, lru: bool = False):
    """Runs on each held shard: its databases as (data, expires, lru)
    triples, ``lru`` None or (the table's {key: stamp}, its clock) when
    asked for (`saves_lru`).

    This is the whole time the shard is held, so it stays in C where it can:
    two dict copies, and a scan of the value types (``set(map(type, ...))``)
    that finds whether any value is mutable.  Only then does a Python loop
    copy the mutable values (bytes are immutable and shared).  Expired keys
    are copied too and skipped by the writer.  Returns (databases, ms spent)."""
    t0 = time.perf_counter()
    out = []
    for db in shard.dbs:
        if not db.data:
            out.append(None)
            continue
        data = db.data.copy()
        if set(map(type, data.values())) - {bytes}:
            for k, v in data.items():
                if type(v) is not bytes:
                    data[k] = v.copy()
        out.append((data, db.expires.copy(),
                    (db.data.stamps(), db.data.clock) if lru else None))
    return out, (time.perf_counter() - t0) * 1000


def _install(shard, entries, clock):
    """Runs on a shard at load: store (db, key, value, deadline, idle) entries."""
    now = shard.now_ms
    n = 0
    for dbi, key, v, deadline, idle in entries:
        db = shard.dbs[dbi]
        if deadline is not None and deadline <= now:
            continue
        db.set(key, v)
        if deadline is not None:
            db.set_expire(key, deadline)
        if idle is not None:
            db.data.set_lru(key, max(0, clock - idle))
        n += 1
    return n


# ---------------------------------------------------------------------- writing
def rdb_path(server) -> str:
    return os.path.join(server.config.dir, server.config.dbfilename)


def _write_file(server_dir, filename, parts, now_ms, aux) -> tuple[int, int]:
    """Worker thread: encode and write the snapshot atomically."""
    tmp = os.path.join(server_dir, f"temp-{os.getpid()}-{time.monotonic_ns()}.rdb")
    final = os.path.join(server_dir, filename)
    try:
        with open(tmp, "wb") as f:
            w = rdb.RDBWriter(f)
            for name, value in aux:
                w.aux(name, value)
            ndbs = max((len(p) for p in parts), default=0)
            for i in range(ndbs):
                w.write_db(i, [p[i] for p in parts if p[i] is not None], now_ms)
            size = w.finish()
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, final)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    return size, w.keys


def _aux(server, bgsave: bool):
    from server.app import VERSION
    return [(b"redis-ver", VERSION.encode()), (b"redis-bits", b"64"),
            (b"ctime", str(int(time.time())).encode()),
            (b"used-mem", b"0"), (b"aof-base", b"0")]


async def _save(server, bgsave: bool) -> None:
    p = state(server)
    start = time.monotonic()
    p.started = time.time()
    p.last_try = start
    base = changes_count(server)
    try:
        t0 = time.perf_counter()
        got = await in_tx(server, range(len(server.shards)), server.call_all(_copy_shard,
                                                                          saves_lru(server)))
        p.last_hold_ms = (time.perf_counter() - t0) * 1000
        parts = [g[0] for g in got]
        p.last_copy_ms = max(g[1] for g in got)
        now_ms = time.time_ns() // 1_000_000
        size, keys = await server.loop.run_in_executor(
            None, _write_file, server.config.dir, server.config.dbfilename, parts,
            now_ms, _aux(server, bgsave))
    except Exception:
        p.last_status_ok = False
        log.exception("%s failed", "Background saving" if bgsave else "SAVE")
        raise
    finally:
        p.last_bgsave_time_sec = int(time.monotonic() - start)
    p.last_status_ok = True
    p.lastsave = int(time.time())
    p.changes_base = base
    p.saves += 1
    p.last_size = size
    p.last_keys = keys
    log.info("DB saved on disk (%d keys, %d bytes, shards held %.1f ms (copy %.1f ms), "
             "%.2f s total)", keys, size, p.last_hold_ms, p.last_copy_ms,
             time.monotonic() - start)


def _start(server, bgsave: bool) -> asyncio.Task:
    p = state(server)
    p.is_bgsave = bgsave
    # A fresh context: a save started from inside a transaction (BGSAVE in
    # EXEC) must not inherit that transaction's CURRENT_TX; its own holds
    # queue behind the transaction's and run once it releases.
    task = p.task = server.loop.create_task(_save(server, bgsave),
                                            context=contextvars.Context())

    def done(t):
        if p.task is t:
            p.task = None
        if not t.cancelled():
            t.exception()     # retrieved: already logged in _save
    task.add_done_callback(done)
    return task


def bgsave(server) -> bool:
    """Start a background save; False if one is already running."""
    p = state(server)
    if p.task is not None:
        return False
    _start(server, True)
    return True


async def save_now(server) -> bool:
    """Save and wait for it (SAVE, SHUTDOWN SAVE, DEBUG RELOAD): waits for a
    save already in progress first, then takes a fresh snapshot.  True if the
    file was written."""
    p = state(server)
    while p.task is not None:
        try:
            await asyncio.shield(p.task)
        except Exception:  # noqa: BLE001 - its failure is not ours
            pass
    try:
        await _start(server, False)
    except Exception:  # noqa: BLE001 - logged in _save
        return False
    return True


# ---------------------------------------------------------------------- loading
def _read_and_parse(path: str):
    with open(path, "rb") as f:
        data = f.read()
    return rdb.load_rdb(data, time.time_ns() // 1_000_000)


async def load_file(server, path: str) -> int:
    """Parse an RDB file and route its keys to their shards; returns how
    many keys were stored.  Raises OSError for an unreadable or bad file."""
    try:
        res = await server.loop.run_in_executor(None, _read_and_parse, path)
    except rdb.RDBError as e:
        raise OSError(f"Bad RDB file {path}: {e}") from None
    ndb = server.config.databases
    shard_of = server.slotmap.shard_of
    per_shard: list[list] = [[] for _ in server.shards]
    for dbi, entries in res.keys.items():
        if not entries:
            continue
        if dbi >= ndb:
            raise OSError(f"Bad RDB file {path}: database {dbi} out of range "
                          f"(databases {ndb})")
        for key, v, deadline, idle in entries:
            per_shard[shard_of(key)].append((dbi, key, v, deadline, idle))
    clock = int(time.time())
    counts = await asyncio.gather(*[server.call_shard(s, _install, per_shard[s], clock)
                                    for s in range(len(server.shards)) if per_shard[s]])
    p = state(server)
    p.loaded_keys = sum(counts)
    p.loaded_expired = res.expired_skipped
    return p.loaded_keys


async def load_on_start(server) -> None:
    """Load ``dir/dbfilename`` if it exists (called before the listener opens)."""
    path = rdb_path(server)
    if not os.path.exists(path):
        return
    t0 = time.monotonic()
    n = await load_file(server, path)
    p = state(server)
    p.lastsave = int(os.path.getmtime(path))
    log.info("DB loaded from disk: %d keys (%d expired skipped) in %.3f seconds",
             n, p.loaded_expired, time.monotonic() - t0)


# ---------------------------------------------------------------------- save rules
def parse_save_rules(s: str) -> list[tuple[int, int]]:
    """``save "3600 1 300 100"`` -> [(3600, 1), (300, 100)]; "" disables."""
    words = str(s or "").split()
    if len(words) % 2:
        raise ValueError("Invalid save parameters")
    rules = []
    for i in range(0, len(words), 2):
        secs, changes = int(words[i]), int(words[i + 1])
        if secs < 1 or changes < 0:
            raise ValueError("Invalid save parameters")
        rules.append((secs, changes))
    return rules


def _check_rules(server) -> None:
    """serverCron's save-point check: a rule fires when at least ``changes``
    writes happened and ``seconds`` elapsed since the last save; after a
    failed save, retry only after BGSAVE_RETRY_DELAY seconds."""
    p = state(server)
    if p.task is not None:
        return
    try:
        rules = parse_save_rules(server.config.save)
    except ValueError:
        return
    if not rules:
        return
    changes = changes_count(server) - p.changes_base
    now = time.time()
    for secs, need in rules:
        if (changes >= need and now - p.lastsave > secs
                and (p.last_status_ok or time.monotonic() - p.last_try > BGSAVE_RETRY_DELAY)):
            log.info("%d changes in %d seconds. Saving...", need, secs)
            _start(server, True)
            return


RUNNING = None     # the Server, for hooks that get no server argument (FLUSHALL's merge)


def start_timers(server) -> None:
    """The once-a-second save-rule check (serverCron)."""
    global RUNNING
    RUNNING = server
    p = state(server)

    def tick():
        try:
            _check_rules(server)
            from . import aof
            aof.check_auto_rewrite(server)
        finally:
            if not server.stopping.is_set():
                p.timer = server.loop.call_later(1.0, tick)
    p.timer = server.loop.call_later(1.0, tick)


# ---------------------------------------------------------------------- INFO
def info_fields(server) -> list[tuple[str, object]]:
    """The ``# Persistence`` section of INFO, with Redis's field names."""
    p = state(server)
    running = p.task is not None
    return [
        ("loading", 0), ("async_loading", 0),
        ("current_cow_peak", 0), ("current_cow_size", 0), ("current_cow_size_age", 0),
        ("current_fork_perc", "0.00"), ("current_save_keys_processed", 0),
        ("current_save_keys_total", 0),
        ("rdb_changes_since_last_save", max(0, changes_count(server) - p.changes_base)),
        ("rdb_bgsave_in_progress", int(running)),
        ("rdb_last_save_time", p.lastsave),
        ("rdb_last_bgsave_status", "ok" if p.last_status_ok else "err"),
        ("rdb_last_bgsave_time_sec", p.last_bgsave_time_sec),
        ("rdb_current_bgsave_time_sec", int(time.time() - p.started) if running else -1),
        ("rdb_saves", p.saves),
        ("rdb_last_cow_size", 0),
        ("rdb_last_load_keys_expired", p.loaded_expired),
        ("rdb_last_load_keys_loaded", p.loaded_keys),
        ("aof_enabled", 0), ("aof_rewrite_in_progress", 0), ("aof_rewrite_scheduled", 0),
        ("aof_last_rewrite_time_sec", -1), ("aof_current_rewrite_time_sec", -1),
        ("aof_last_bgrewrite_status", "ok"), ("aof_rewrites", 0),
        ("aof_last_write_status", "ok"), ("aof_last_cow_size", 0),
        ("module_fork_in_progress", 0), ("module_fork_last_cow_size", 0),
    ]
