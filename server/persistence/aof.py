"""The append-only file (Redis 7's multi-part layout: base + incr + manifest).

Who writes what
    * A shard logs each successful write command it executes (``log`` below,
      called from ``ShardActor._run_batch`` only when ``shard.aof`` is set:
      one attribute test when appendonly is off).  Records are RESP, rewritten
      like Redis 7 does so replay is time-correct: relative expiries become
      absolute (SET ... PXAT, PEXPIREAT), SPOP becomes SREM, RESTORE gets
      ABSTTL.
    * Outside a transaction the record goes straight to the global queue
      ``AOF.q`` (a deque: appends from several threads are atomic).
    * While a shard is held by a cross-shard transaction (``shard.held_by``),
      the record goes to that transaction's buffer; ``commit_tx`` (called by
      ``server.connection.in_tx`` on the loop *before* it releases the shards)
      moves the whole buffer into the queue as one MULTI ... EXEC entry.
    * Work that runs on the loop rather than as one shard command (``cross=``
      coroutines such as a cross-shard RENAME, FLUSHALL/FLUSHDB/SWAPDB) is
      recorded once, as the command itself, into the running transaction's
      buffer (``record_loop``); shards do not log while it runs.

Ordering invariant
    The queue order is a valid serial order of all executed writes: a shard
    appends its records in its execution order; a transaction's block is
    appended after every held shard has executed everything sent before the
    holds (the holds are in the shards' FIFO ahead of the hops whose results
    the coroutine awaited) and before any held shard runs anything sent
    after (the releases are sent after the append).  Records of different
    shards outside transactions touch disjoint keys, so any interleaving of
    them is equivalent.  A transaction is one entry, written with one
    ``write`` call: a crash leaves it whole or (at the tail) cut, and a cut
    MULTI block is dropped at load, as Redis does.

The writer thread
    drains the queue, adds SELECT whenever the database changes, writes, and
    fsyncs by policy: ``always`` after every group (group commit: everything
    queued since the last fsync shares one), ``everysec`` at most once a
    second, ``no`` never.  With ``always`` a shard hands a batch that logged
    records to the writer instead of the loop bridge (``AOF.posts``); the
    writer posts it only after the fsync covering its records, so no reply of
    a logged write leaves before it is on disk.  Shards and the loop never
    wait on the disk.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import os
import threading
import time
from collections import deque

log = logging.getLogger("shardis.aof")

__all__ = ["AOF", "log_write", "log_evicted", "commit_tx", "record_loop", "enable", "disable",
           "load_on_start", "rewrite", "info_fields"]

_TX = object()       # queue entry: (_TX, [(db, rec), ...]) one MULTI/EXEC block
_CUT = object()      # queue entry: (_CUT, callback) switch to a new incr file
_MULTI = b"*1\r\n$5\r\nMULTI\r\n"
_EXEC = b"*1\r\n$4\r\nEXEC\r\n"


def pack(argv: tuple) -> bytes:
    """RESP of a command (hiredis's C encoder when available)."""
    return resp(argv)


try:
    from hiredis import pack_command as pack   # noqa: F811
except ImportError:   # pragma: no cover
    pass


def resp(argv) -> bytes:
    return b"*%d\r\n" % len(argv) + b"".join([b"$%d\r\n%b\r\n" % (len(a), a) for a in argv])


# ---------------------------------------------------------------- record rewriting
def _state_of(db, key):
    """The key's resulting state as commands: Redis writes SET EX/PX/EXAT,
    SETEX, PSETEX, GETEX and the EXPIRE family as absolute-time commands."""
    v = db.data.get(key)
    if v is None:
        return [[b"DEL", key]]
    d = db.expires.get(key)
    if type(v) is bytes:
        return [[b"SET", key, v] + ([b"PXAT", b"%d" % d] if d is not None else [])]
    if d is not None:
        return [[b"PEXPIREAT", key, b"%d" % d]]
    return [[b"PERSIST", key]]


def _rw_set(db, argv, v):
    if len(argv) > 3 and any(a.lower() in (b"ex", b"px", b"exat", b"pxat") for a in argv[3:]):
        return _state_of(db, argv[1])
    return None


def _rw_state(db, argv, v):
    return _state_of(db, argv[1])


def _rw_expire(db, argv, v):
    if not v:
        return []
    d = db.expires.get(argv[1])
    if argv[1] not in db.data:
        return [[b"DEL", argv[1]]]           # a time in the past deleted it
    return [[b"PEXPIREAT", argv[1], b"%d" % d]] if d is not None else [[b"PERSIST", argv[1]]]


def _rw_getex(db, argv, v):
    return _state_of(db, argv[1]) if len(argv) > 2 and v is not None else []


def _rw_spop(db, argv, v):
    if v is None or v == [] or isinstance(v, (int,)):
        return []
    return [[b"SREM", argv[1]] + (v if isinstance(v, list) else [v])]


def _rw_restore(db, argv, v):
    if argv[2] == b"0" or any(a.lower() == b"absttl" for a in argv[4:]):
        return None
    d = db.expires.get(argv[1])
    if d is None:
        return [[b"DEL", argv[1]]]
    return [argv[:2] + [b"%d" % d] + argv[3:] + [b"ABSTTL"]]


REWRITES = {"set": _rw_set, "setex": _rw_state, "psetex": _rw_state, "getex": _rw_getex,
            "expire": _rw_expire, "pexpire": _rw_expire, "expireat": _rw_expire,
            "pexpireat": _rw_expire, "spop": _rw_spop, "restore": _rw_restore}


def _plain(db, argv, v):
    return None         # logged as sent


# handler -> rewrite function, for every write command run by shards as one
# command (built lazily from the table: Route.SHARD write commands)
FNS: dict = {}


def _build_fns():
    from server.table import TABLE, Route
    from server.commands.transactions import exec_on_shard
    for spec in TABLE.values():
        for s in [spec, *spec.subcommands.values()]:
            if "write" in s.flags and s.route is Route.SHARD:
                FNS[s.handler] = REWRITES.get(s.name, _plain)
    FNS[exec_on_shard] = _exec_block
    _hook_list_internals()


# ---------------------------------------------------------------- list internals
# Blocking commands and cross-shard list moves change lists through their
# own shard functions (hops, served waiters, give-backs), not a command
# handler.  Each is logged as the equivalent command, on the shard, in its
# execution order, so replay pops and pushes exactly what was popped and
# pushed.
_END = {0: b"LEFT", 1: b"RIGHT"}


def _pop(where):
    return b"LPOP" if where == 0 else b"RPOP"


def _push(where):
    return b"LPUSH" if where == 0 else b"RPUSH"


def _emit(shard, dbi, cmds) -> None:
    """Log commands from inside a shard function.  A waiter is served from
    inside the push that woke it (lists.push_values), before that push's own
    record exists: these records wait in ``shard.aof_after`` and are logged
    right after the record of the command running now (``log_write``) or,
    outside a command (a Call), when the function returns (``_flush_after``)."""
    if shard.aof is None or not cmds:
        return
    shard.__dict__.setdefault("aof_after", []).extend((dbi, c) for c in cmds)


def _flush_after(shard) -> None:
    after = shard.__dict__.pop("aof_after", None)
    aof = shard.aof
    if after and aof is not None:
        _route(aof, shard, after)


def _route(aof, shard, recs) -> bool:
    """Queue records (or buffer them in the holding transaction); True if
    they went to the global queue."""
    tx = shard.held_by
    if tx is not None:
        if tx not in aof.suppressed:
            aof.txbuf.setdefault(tx, []).extend(recs)
        return False
    q = aof.q
    for r in recs:
        q.append(r)
    aof.kick()
    return True


def log_evicted(aof, shard, dbi: int, key: bytes) -> None:
    """On the shard: a key evicted under maxmemory is logged as DEL (Redis
    propagates evictions the same way), else a replay would bring it back.
    In a transaction it joins its block even while the loop records the
    transaction's command itself (the eviction is not part of that)."""
    rec = (dbi, [b"DEL", key])
    tx = shard.held_by
    if tx is not None:
        aof.txbuf.setdefault(tx, []).append(rec)
        return
    aof.q.append(rec)
    aof.kick()


def _hook_list_internals() -> None:
    from server.commands import blocking, lists, zsets
    from server.protocol import Err

    def ok(v):
        return v is not None and type(v) is not Err

    FNS[blocking._lmove_item] = lambda db, a, v: (
        [[b"LMOVE", a[1], a[2], _END[a[3]], _END[a[4]]]] if ok(v) else [])
    FNS[lists._mpop_part] = lambda db, a, v: (
        [[_pop(a[1]), v[0], b"%d" % len(v[1])]] if ok(v) else [])
    FNS[lists.push_for_move] = lambda db, a, v: [[_push(a[2]), a[1], a[3]]] if v is True else []
    FNS[lists.pop_for_move] = lambda db, a, v: ([[_pop(a[2]), a[1]]] if ok(v) else [])
    # SORT ... STORE (a loop-run command): its store step is logged as its
    # effect, DEL then RPUSH of the stored elements, one atomic block
    from server.commands import sort

    def stored(dest, items):
        return [[b"DEL", dest]] + ([[b"RPUSH", dest, *items]] if items else [])

    FNS[sort.store_list] = lambda db, a, v: stored(a[1], a[2]) if type(v) is int else []
    FNS[sort.sort_local] = lambda db, a, v: (
        stored(a[1].store, list(db.lookup(a[1].store) or ()))
        if a[1].store is not None and type(v) is int else [])
    FNS[zsets._zmpop_one] = lambda db, a, v: (
        [[b"ZPOPMAX" if a[2] else b"ZPOPMIN", v[0], b"%d" % len(v[1])]] if ok(v) else [])

    take = blocking.Waiter.take
    if getattr(take, "_aof", False):
        return

    def logged_take(self, db, key, lst):
        r = take(self, db, key, lst)
        if db.shard.aof is not None and type(r) is not Err:
            if self.kind == blocking.POP:
                cmds = [[_pop(self.where), key]]
            elif self.kind == blocking.MPOP:
                cmds = [[_pop(self.where), key, b"%d" % len(r[1])]]
            elif self.dst_local:
                cmds = [[b"LMOVE", key, self.dst, _END[self.where], _END[self.whereto]]] \
                    if r is not None else []
            else:
                cmds = [[_pop(self.where), key]]
            _emit(db.shard, db.index, cmds)
        return r
    logged_take._aof = True
    blocking.Waiter.take = logged_take

    requeue = blocking.requeue_on_shard

    def logged_requeue(shard, dbi, key, where, values):
        lst = shard.dbs[dbi].lookup(key)
        if shard.aof is not None and (lst is None or type(lst) is lists.RedisList):
            # the give-back first, then whatever it served
            _route(shard.aof, shard, [(dbi, [_push(where), key, *reversed(list(values))])])
        requeue(shard, dbi, key, where, values)
        _flush_after(shard)
    blocking.requeue_on_shard = logged_requeue

    register = blocking.register_on_shard

    def logged_register(shard, dbi, w, keys):
        register(shard, dbi, w, keys)
        _flush_after(shard)
    blocking.register_on_shard = logged_register

    deferred = lists._deferred_serve

    def logged_deferred(shard):
        deferred(shard)
        _flush_after(shard)
    lists._deferred_serve = logged_deferred


def _exec_block(db, argv, v):
    return None         # marker: handled in log_write


# ---------------------------------------------------------------- shard side
def log_write(aof, shard, db, fn, argv, v) -> bool:
    """Runs on the shard after ``fn`` succeeded.  True if a record went to
    the global queue (the batch's replies must then wait for the fsync with
    ``appendfsync always``).  Records are argv lists (the writer encodes
    them; no handler mutates its argv)."""
    rw = FNS.get(fn)
    if rw is None:
        return False
    tx = shard.held_by
    d = shard.__dict__
    after = d.pop("aof_after") if "aof_after" in d else None   # served by this command
    if rw is _exec_block:
        if tx is not None and tx in aof.suppressed:
            return False
        if not isinstance(v, list):
            return False            # WATCH failed: nothing ran
        recs = []
        for (hfn, (dbi, a)), res in zip(argv[2], v):
            r = FNS.get(hfn)
            if r is None or type(res).__name__ == "Err":
                continue
            cmds = r(shard.dbs[dbi], a, res)
            for c in ([a] if cmds is None else cmds):
                recs.append((dbi, c))
        if after:
            recs.extend(after)
        if not recs:
            return False
        if tx is not None:
            aof.txbuf.setdefault(tx, []).extend(recs)
            return False
        aof.q.append((_TX, recs))
        aof.kick()
        return True
    cmds = rw(db, argv, v)          # None: the command as sent
    if tx is None and after is None:
        # the common case, kept short
        if cmds is None:
            aof.q.append((db.index, argv))
        elif not cmds:
            return False
        elif len(cmds) == 1:
            aof.q.append((db.index, cmds[0]))
        else:   # one command's effect in several records: atomic, like Redis 7
            aof.q.append((_TX, [(db.index, c) for c in cmds]))
        if not aof.awake:
            aof.kick()
        return True
    recs = [(db.index, argv)] if cmds is None else [(db.index, c) for c in cmds]
    if after:
        recs.extend(after)
    if not recs:
        return False
    return _route(aof, shard, recs)


def post_after_fsync(aof, batch) -> None:
    aof.posts.append(batch)
    aof.kick()


# ---------------------------------------------------------------- loop side
def commit_tx(aof, tx):
    """On the loop, before ``tx`` releases its shards: its records become
    one MULTI/EXEC entry.  Returns a future for the fsync (``always``)."""
    recs = aof.txbuf.pop(tx, None)
    aof.suppressed.discard(tx)
    if not recs:
        return None
    aof.q.append((_TX, recs) if len(recs) > 1 else recs[0])
    if aof.always:
        fut = aof.loop.create_future()
        aof.posts.append(fut)
        aof.kick()
        return fut
    aof.kick()
    return None


async def record_loop(conn, argv, coro):
    """Run a loop-coordinated write (cross= coroutine, FLUSHALL...) inside the
    current transaction and record it once, as the command itself."""
    from server.connection import CURRENT_TX
    from server.protocol import Err
    aof = conn.server.aof
    tx = CURRENT_TX.get()
    if aof is None or tx is None:
        return await coro
    aof.suppressed.add(tx)
    db = conn.db
    try:
        v = await coro
    finally:
        aof.suppressed.discard(tx)
    if type(v) is not Err:
        aof.txbuf.setdefault(tx, []).append((db, argv))
    return v


async def all_write(conn, spec, argv):
    """A Route.ALL write (FLUSHALL, FLUSHDB, SWAPDB) with the AOF on: run on
    every shard inside a transaction holding them all, logged once."""
    res = await asyncio.gather(*[conn.hop(s, spec.handler, argv) for s in range(conn.nshards)])
    return spec.merge(list(res))


# ---------------------------------------------------------------- files
class Manifest:
    """appendonly.aof.manifest: ``file <name> seq <n> type b|h|i`` lines."""

    def __init__(self, base=None, incrs=None):
        self.base = base                  # (name, seq) or None
        self.incrs = list(incrs or [])    # [(name, seq)]

    @classmethod
    def parse(cls, text: str, path: str):
        m = cls()
        for line in text.splitlines():
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            w = line.split()
            kv = {w[i]: w[i + 1] for i in range(0, len(w) - 1, 2)}
            if "file" not in kv or "seq" not in kv or "type" not in kv:
                raise OSError(f"Invalid AOF manifest file format {path}")
            if kv["type"] == "b":
                m.base = (kv["file"], int(kv["seq"]))
            elif kv["type"] == "i":
                m.incrs.append((kv["file"], int(kv["seq"])))
        return m

    def text(self) -> str:
        out = []
        if self.base:
            out.append(f"file {self.base[0]} seq {self.base[1]} type b\n")
        for name, seq in self.incrs:
            out.append(f"file {name} seq {seq} type i\n")
        return "".join(out)


class AOF:
    def __init__(self, server):
        cfg = server.config
        self.server = server
        self.loop = server.loop
        self.dir = os.path.join(cfg.dir, cfg.appenddirname)
        self.name = cfg.appendfilename
        self.q: deque = deque()
        self.posts: deque = deque()
        self.txbuf: dict = {}
        self.suppressed: set = set()
        self.wake = threading.Event()
        self.awake = False
        self.lock = threading.Lock()
        self.set_policy(cfg.appendfsync)
        self.f = None
        self.cur_db = -1
        self.manifest = Manifest()
        self.size = 0                # current incr file size
        self.base_size = 0           # base + incr size after the last rewrite
        self.last_fsync = time.monotonic()
        self.stopping = False
        self.thread = None
        self.last_write_ok = True
        self.rewrite_task = None
        self.rewrites = 0
        self.rewrite_failures = 0
        self.last_rewrite_ok = True
        self.last_rewrite_secs = -1
        self.rewrite_started = 0.0
        self.delayed_fsyncs = 0

    def commit_tx(self, tx):
        return commit_tx(self, tx)

    def kick(self) -> None:
        """Wake the writer.  ``awake`` is cleared by the writer before it
        drains, so an append after that sees it false and wakes it again;
        an Event.set (a lock) per record is avoided while it is busy."""
        if not self.awake:
            self.awake = True
            self.wake.set()

    def set_policy(self, policy: str) -> None:
        self.policy = policy
        self.always = policy == "always"

    # -- files -------------------------------------------------------------
    def manifest_path(self) -> str:
        return os.path.join(self.dir, self.name + ".manifest")

    def write_manifest(self, m: Manifest) -> None:
        tmp = self.manifest_path() + ".tmp"
        with open(tmp, "w") as f:
            f.write(m.text())
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.manifest_path())
        self.manifest = m

    def open_incr(self, name: str) -> None:
        """Writer thread or before it starts: append to ``name``."""
        if self.f is not None:
            self.f.flush()
            os.fsync(self.f.fileno())
            self.f.close()
        self.f = open(os.path.join(self.dir, name), "ab", buffering=0)
        self.size = self.f.tell()
        self.cur_db = -1

    def next_seq(self) -> int:
        seqs = [s for _, s in self.manifest.incrs] + ([self.manifest.base[1]]
                                                     if self.manifest.base else [])
        return max(seqs, default=0) + 1

    # -- writer thread -----------------------------------------------------
    def start(self) -> None:
        self.thread = threading.Thread(target=self._run, name="aof-writer", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while True:
            self.wake.wait(1.0 if not self.always else 0.5)
            if not self.always:
                # everysec/no: let a few records gather, fewer GIL handoffs
                # (a kill -9 can lose what was acknowledged in this window)
                time.sleep(0.001)
            self.wake.clear()
            self.awake = False
            try:
                self._drain()
            except Exception:  # noqa: BLE001 - keep the writer alive
                self.last_write_ok = False
                log.exception("AOF write failed")
            if self.stopping and not self.q and not self.posts:
                break

    def _drain(self) -> None:
        q, posts = self.q, self.posts
        nposts = len(posts)          # batches whose records are already queued
        out = []
        wrote = False
        while q:
            item = q.popleft()
            kind = item[0]
            if kind is _CUT:
                if out:
                    self._write(out)
                    out = []
                    wrote = True
                item[1]()            # switches self.f (fsyncs the old file)
                continue
            if kind is _TX:
                out.append(_MULTI)
                for dbi, rec in item[1]:
                    if dbi != self.cur_db:
                        out.append(resp([b"SELECT", b"%d" % dbi]))
                        self.cur_db = dbi
                    out.append(pack(tuple(rec)))
                out.append(_EXEC)
                continue
            if kind != self.cur_db:
                out.append(resp([b"SELECT", b"%d" % kind]))
                self.cur_db = kind
            out.append(pack(tuple(item[1])))
        if out:
            self._write(out)
            wrote = True
        now = time.monotonic()
        if self.f is not None and (
                (self.always and wrote)
                or (self.policy == "everysec" and now - self.last_fsync >= 1.0
                    and self.size != getattr(self, "_synced_size", -1))):
            os.fsync(self.f.fileno())
            self._synced_size = self.size
            self.last_fsync = now
        bridge = self.server.bridge
        for _ in range(nposts):
            p = posts.popleft()
            if isinstance(p, asyncio.Future):
                self.loop.call_soon_threadsafe(_resolve, p)
            else:
                bridge.post(p)

    def _write(self, out) -> None:
        data = b"".join(out)
        self.f.write(data)
        self.size += len(data)
        self.last_write_ok = True

    def stop(self) -> None:
        """Flush and fsync everything queued, stop the thread."""
        self.stopping = True
        self.wake.set()
        if self.thread is not None:
            self.thread.join(10)
        if self.f is not None:
            try:
                self._drain()
                os.fsync(self.f.fileno())
                self.f.close()
            except Exception:  # noqa: BLE001
                log.exception("AOF close failed")
            self.f = None


def _resolve(fut):
    if not fut.done():
        fut.set_result(None)


# ---------------------------------------------------------------- shards on/off
def _attach(shard, aof):
    shard.aof = aof
    return None


async def enable(server, *, initial: bool = False) -> None:
    """Turn the AOF on: a rewrite first (base = the data now, new incr for
    what follows), like Redis does for CONFIG SET appendonly yes."""
    if server.aof is not None or server.extensions.get("aof_enabling"):
        return
    if not FNS:
        _build_fns()
    aof = AOF(server)
    server.extensions["aof_enabling"] = True
    try:
        await _enable(server, aof)
    finally:
        server.extensions["aof_enabling"] = False


async def _enable(server, aof) -> None:
    os.makedirs(aof.dir, exist_ok=True)
    mp = aof.manifest_path()
    if os.path.exists(mp):
        with open(mp) as f:
            aof.manifest = Manifest.parse(f.read(), mp)
    try:
        await _rewrite(server, aof, attach=True)
    except Exception:
        if server.aof is aof:
            await disable(server)
        raise


async def resume(server, aof) -> None:
    """After loading an existing AOF at start: append to its last incr."""
    if not FNS:
        _build_fns()
    m = aof.manifest
    if not m.incrs:
        name = f"{aof.name}.{aof.next_seq()}.incr.aof"
        m = Manifest(m.base, [(name, aof.next_seq())])
        aof.write_manifest(m)
    aof.open_incr(m.incrs[-1][0])
    aof.base_size = aof.size + _size(aof, m.base[0] if m.base else None)
    await server.call_all(_attach, aof)
    aof.start()
    server.aof = aof


def _size(aof, name) -> int:
    try:
        return os.path.getsize(os.path.join(aof.dir, name)) if name else 0
    except OSError:
        return 0


async def disable(server) -> None:
    aof = server.aof
    if aof is None:
        return
    if aof.rewrite_task is not None:
        try:
            await asyncio.shield(aof.rewrite_task)
        except Exception:  # noqa: BLE001
            pass
    await server.call_all(_attach, None)
    server.aof = None
    await server.loop.run_in_executor(None, aof.stop)


# ---------------------------------------------------------------- rewrite
async def _rewrite(server, aof, attach: bool = False) -> None:
    """BGREWRITEAOF: in one hold of every shard, copy the data and cut the
    log (what is queued before goes to the old incr, what follows to a new
    one, already listed in the manifest); then write the base in a worker
    thread and switch the manifest to new base + new incr."""
    from server.connection import in_tx
    from . import snapshot
    seq = aof.next_seq()
    rdb_base = server.config.aof_use_rdb_preamble
    base_name = f"{aof.name}.{seq}.base.{'rdb' if rdb_base else 'aof'}"
    incr_name = f"{aof.name}.{seq}.incr.aof"
    switched = aof.loop.create_future()

    def cut():
        # writer thread (or here, before the thread runs): new incr, and a
        # manifest that keeps the old files, so a crash before the base is
        # complete still replays everything
        aof.open_incr(incr_name)
        with aof.lock:
            aof.write_manifest(Manifest(aof.manifest.base, aof.manifest.incrs + [(incr_name, seq)]))
        aof.loop.call_soon_threadsafe(_resolve, switched)

    async def hold():
        # an RDB preamble records idle times as a snapshot does
        got = await server.call_all(snapshot._copy_shard,
                                    rdb_base and snapshot.saves_lru(server))
        if attach:
            # inside the hold: every write after it is logged, and every
            # transaction starting after it commits into this AOF
            await server.call_all(_attach, aof)
            server.aof = aof
        if aof.thread is None:
            cut()
        else:
            aof.q.append((_CUT, cut))
            aof.kick()
        return got

    t0 = time.monotonic()
    aof.rewrite_started = time.time()
    try:
        got = await in_tx(server, range(len(server.shards)), hold())
        await switched
        if aof.thread is None:
            aof.start()
        parts = [g[0] for g in got]
        now_ms = time.time_ns() // 1_000_000
        if rdb_base:
            aux = [a for a in snapshot._aux(server, True)
                   if a[0] != b"aof-base"] + [(b"aof-base", b"1")]
            await server.loop.run_in_executor(None, snapshot._write_file, aof.dir, base_name,
                                              parts, now_ms, aux)
        else:
            await server.loop.run_in_executor(None, _write_resp_base, aof.dir, base_name,
                                              parts, now_ms)
        old = aof.manifest
        with aof.lock:
            aof.write_manifest(Manifest((base_name, seq), [(incr_name, seq)]))
        for name in ([old.base[0]] if old.base else []) + [n for n, _ in old.incrs]:
            if name not in (base_name, incr_name):
                try:
                    os.unlink(os.path.join(aof.dir, name))
                except OSError:
                    pass
        aof.base_size = _size(aof, base_name) + aof.size
        aof.rewrites += 1
        aof.rewrite_failures = 0
        aof.last_rewrite_ok = True
        log.info("Background AOF rewrite finished successfully")
    except Exception:
        aof.last_rewrite_ok = False
        aof.rewrite_failures += 1
        log.exception("Background AOF rewrite failed")
        raise
    finally:
        aof.last_rewrite_secs = int(time.monotonic() - t0)


def _write_resp_base(d, name, parts, now_ms) -> None:
    """``aof-use-rdb-preamble no``: the base as RESP commands.  Each key is
    one RESTORE of its DUMP payload with an absolute TTL (Redis writes type
    commands; RESTORE replays to the same value in Shardis and Redis)."""
    from . import rdb
    tmp = os.path.join(d, f"temp-rewrite-{os.getpid()}-{time.monotonic_ns()}.aof")
    try:
        with open(tmp, "wb") as f:
            ndbs = max((len(p) for p in parts), default=0)
            for i in range(ndbs):
                selected = False
                for p in parts:
                    if p[i] is None:
                        continue
                    data, expires, _lru = p[i]
                    out = []
                    for k, v in data.items():
                        dl = expires.get(k)
                        if dl is not None and dl <= now_ms:
                            continue
                        out.append(resp([b"RESTORE", k, b"%d" % (dl or 0),
                                         rdb.dump_payload(v), b"ABSTTL"]))
                    if out and not selected:
                        f.write(resp([b"SELECT", b"%d" % i]))
                        selected = True
                    f.write(b"".join(out))
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, os.path.join(d, name))
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def rewrite(server) -> bool:
    """Start BGREWRITEAOF; False if one is already running."""
    aof = server.aof
    if aof.rewrite_task is not None:
        return False
    task = aof.rewrite_task = server.loop.create_task(
        _rewrite(server, aof), context=contextvars.Context())

    def done(t):
        aof.rewrite_task = None
        if not t.cancelled():
            t.exception()
    task.add_done_callback(done)
    return True


def check_auto_rewrite(server) -> None:
    """serverCron: rewrite when the log grew ``auto-aof-rewrite-percentage``
    over its size after the last rewrite and is over the minimum size."""
    aof = server.aof
    if aof is None or aof.rewrite_task is not None:
        return
    cfg = server.config
    pct = cfg.auto_aof_rewrite_percentage
    total = aof.size + _size(aof, aof.manifest.base[0] if aof.manifest.base else None)
    if pct and total > cfg.auto_aof_rewrite_min_size:
        base = aof.base_size or 1
        if (total - base) * 100 // base >= pct:
            log.info("Starting automatic rewriting of AOF on %d%% growth",
                     (total - base) * 100 // base)
            rewrite(server)


# ---------------------------------------------------------------- loading
class AOFLoadError(OSError):
    pass


def scan(data: bytes):
    """Validate RESP commands: (end of the last complete command outside a
    MULTI block, whether the tail is incomplete, an error or None)."""
    n = len(data)
    pos = 0
    good = 0          # end of the last complete command, or before an open MULTI
    in_multi = False
    multi_start = 0
    while pos < n:
        if data[pos] != 42:      # '*'
            return good, False, f"Bad file format reading the append only file"
        e = data.find(b"\r\n", pos)
        if e < 0:
            return good, True, None
        try:
            argc = int(data[pos + 1:e])
        except ValueError:
            return good, False, "Bad file format reading the append only file"
        p = e + 2
        first = None
        for i in range(argc):
            if p >= n:
                return good, True, None
            if data[p] != 36:    # '$'
                return good, False, "Bad file format reading the append only file"
            e = data.find(b"\r\n", p)
            if e < 0:
                return good, True, None
            ln = int(data[p + 1:e])
            p = e + 2 + ln + 2
            if p > n:
                return good, True, None
            if i == 0:
                first = data[e + 2:e + 2 + ln].lower()
        pos = p
        if first == b"multi":
            in_multi = True
            multi_start = good
        elif first == b"exec":
            in_multi = False
        if not in_multi:
            good = pos
    if in_multi:
        return multi_start, True, None
    return good, False, None


class _Sink(asyncio.Transport):
    """The transport of the replay client: replies are counted, not sent."""

    def __init__(self):
        super().__init__()
        self.errors = 0
        self.first_error = None

    def write(self, data):
        if data[:1] == b"-":
            self.errors += 1
            if self.first_error is None:
                self.first_error = bytes(data[:200])

    def writelines(self, parts):
        for p in parts:
            self.write(bytes(p))

    def get_extra_info(self, name, default=None):
        return default

    def set_write_buffer_limits(self, high=None, low=None):
        pass

    def get_write_buffer_size(self):
        return 0

    def pause_reading(self):
        pass

    def resume_reading(self):
        pass

    def close(self):
        pass

    def abort(self):
        pass

    def is_closing(self):
        return False


async def replay(server, data: bytes) -> int:
    """Execute RESP commands through a connection of our own (MULTI blocks,
    SELECT, cross-shard commands all take their normal paths)."""
    from server.connection import Client
    c = Client(server)
    sink = _Sink()
    c.connection_made(sink)
    try:
        step = 1 << 20
        for i in range(0, len(data), step):
            c.data_received(data[i:i + step])
            while c.more_input or c.barrier or len(c.seq) or c.parked:
                await asyncio.sleep(0.001)
        while c.barrier or len(c.seq) or c.parked:
            await asyncio.sleep(0.001)
    finally:
        c.connection_lost(None)
    if sink.errors:
        log.warning("AOF replay: %d commands failed, first: %r", sink.errors, sink.first_error)
    return c.cmds_processed


async def load(server, aof) -> bool:
    """Load base + incr files listed in the manifest.  False if none."""
    from . import snapshot
    mp = aof.manifest_path()
    if not os.path.exists(mp):
        return False
    with open(mp) as f:
        m = aof.manifest = Manifest.parse(f.read(), mp)
    files = ([m.base[0]] if m.base else []) + [n for n, _ in m.incrs]
    for idx, name in enumerate(files):
        path = os.path.join(aof.dir, name)
        if not os.path.exists(path):
            raise AOFLoadError(f"Append only file {path} doesn't exist")
        with open(path, "rb") as f:
            head = f.read(5)
        if head == b"REDIS":
            await snapshot.load_file(server, path)
            continue
        with open(path, "rb") as f:
            data = f.read()
        good, truncated, err = scan(data)
        last = idx == len(files) - 1
        if err is not None:
            raise AOFLoadError(f"{err} {name}: make a backup of your AOF file, then use "
                               f"./redis-check-aof --fix <filename.manifest>")
        if truncated:
            if not last or not server.config.aof_load_truncated:
                raise AOFLoadError(
                    f"Unexpected end of file reading the append only file {name}. You can: "
                    "1) Make a backup of your AOF file, then use ./redis-check-aof --fix "
                    "<filename.manifest>. 2) Alternatively you can set the "
                    "'aof-load-truncated' configuration option to yes and restart the server.")
            log.warning("!!! Warning: short read while loading the AOF file %s!!!", name)
            log.warning("AOF %s loaded anyway because aof-load-truncated is enabled", name)
            with open(path, "r+b") as f:
                f.truncate(good)
            data = data[:good]
        await replay(server, data)
    return True


async def load_on_start(server) -> bool:
    """appendonly yes at start: load the AOF (it takes precedence over the
    RDB), then keep appending to it.  With no AOF yet, the RDB (if any) is
    loaded by the caller and a first rewrite creates the AOF.  Returns
    whether an AOF was loaded."""
    server.aof = None
    aof = AOF(server)
    t0 = time.monotonic()
    if not await load(server, aof):
        return False
    log.info("DB loaded from append only file: %.3f seconds", time.monotonic() - t0)
    await resume(server, aof)
    return True


# ---------------------------------------------------------------- INFO
def info_fields(server) -> list[tuple[str, object]]:
    aof = server.aof
    if aof is None:
        return [("aof_enabled", 0), ("aof_rewrite_in_progress", 0),
                ("aof_rewrite_scheduled", 0), ("aof_last_rewrite_time_sec", -1),
                ("aof_current_rewrite_time_sec", -1), ("aof_last_bgrewrite_status", "ok"),
                ("aof_rewrites", 0), ("aof_rewrites_consecutive_failures", 0),
                ("aof_last_write_status", "ok"),
                ("aof_last_cow_size", 0), ("module_fork_in_progress", 0),
                ("module_fork_last_cow_size", 0)]
    running = aof.rewrite_task is not None
    total = aof.size + _size(aof, aof.manifest.base[0] if aof.manifest.base else None)
    return [("aof_enabled", 1), ("aof_rewrite_in_progress", int(running)),
            ("aof_rewrite_scheduled", 0), ("aof_last_rewrite_time_sec", aof.last_rewrite_secs),
            ("aof_current_rewrite_time_sec",
             int(time.time() - aof.rewrite_started) if running else -1),
            ("aof_last_bgrewrite_status", "ok" if aof.last_rewrite_ok else "err"),
            ("aof_rewrites", aof.rewrites),
            ("aof_rewrites_consecutive_failures", aof.rewrite_failures),
            ("aof_last_write_status", "ok" if aof.last_write_ok else "err"),
            ("aof_last_cow_size", 0), ("module_fork_in_progress", 0),
            ("module_fork_last_cow_size", 0),
            ("aof_current_size", total), ("aof_base_size", aof.base_size),
            ("aof_pending_rewrite", 0), ("aof_buffer_length", 0),
            ("aof_pending_bio_fsync", 0), ("aof_delayed_fsync", aof.delayed_fsyncs)]
