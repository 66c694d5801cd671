"""maxmemory on a shard: a memory estimate of its data and Redis's eviction
policies (evict.c), approximated by sampling like Redis does.

Each shard gets ``maxmemory / nshards`` (`apply_memory_config`, run on the
loop at startup and after ``CONFIG SET maxmemory*``).  While the limit is 0
the shard pays nothing: `ShardActor._run_batch` tests ``self.mem_limit``
once per batch and only then calls `ShardMemory.before_batch` /
`ShardMemory.after_batch`.

The estimate
    ``used`` is the sum of per-key estimates kept in ``sizes`` (one dict per
    database).  After a batch, every key named by its commands is re-measured
    (`key_size`: key object + value graph + table/TTL entry overheads,
    large containers measured from a sample of their elements), so writes
    through commands are tracked exactly as far as the size model goes.
    Changes that name no key on this shard (active expiry, FLUSHALL, SWAPDB,
    MOVE/COPY into another database, coordinator hops with synthetic argv)
    are caught by the reconcile walk: before a batch, at most every
    ``RECONCILE_EVERY_MS``, ``RECONCILE_CHUNK`` keys of a snapshot of the
    keyspace are re-measured or dropped.  docs/robustness.md gives the
    measured error against the process RSS.

Eviction
    Before a batch runs, while ``used > limit``, keys are evicted by the
    policy: candidates are drawn as ``maxmemory-samples`` random keys per
    database (from a key snapshot refreshed as it goes stale, standing in for
    Redis's dictGetSomeKeys) into a pool of the 16 best (Redis's
    EVPOOL_SIZE); the best is evicted.  LRU ranks by idle time (the
    key's LRU clock in the keyspace's table, 1 s resolution), LFU by Redis's logarithmic
    counter with decay (kept here in ``lfu``, counted for keys named in
    batches while an lfu policy is active), volatile-ttl by nearest deadline.
    volatile-* policies only consider keys with a TTL.  If nothing can be
    evicted (noeviction, or no volatile keys), commands flagged ``denyoom``
    in the batch are answered with Redis's OOM error instead of running;
    reads keep working.  Eviction is per batch, so one batch may overshoot
    the limit by what it writes (Redis checks before every command).
"""

from __future__ import annotations

import random
import sys
import time

from server.protocol import CommandError
from .keyspace import N_EVICTED

__all__ = ["ShardMemory", "key_size", "value_size", "apply_memory_config",
           "configure_shard", "shard_memory_stats", "memory_stats", "OOM_ERROR",
           "evicted_keys", "reset_evicted"]

OOM_ERROR = "OOM command not allowed when used memory > 'maxmemory'."

# Per-key bookkeeping beyond the key and value objects: the key's slot in
# ``data`` (a KeyTable: 32 bytes a slot, a third to seven eighths of them
# free, grown by doubling), plus allocator rounding.  Calibrated so
# that the estimate tracks RSS growth for 100-byte strings (docs/robustness.md);
# a volatile key adds its ``expires`` entry and its heap tuple.
KEY_OVERHEAD = 200
TTL_OVERHEAD = 120
SAMPLE = 8                 # container elements measured before extrapolating
MAX_DEPTH = 4
EVPOOL_SIZE = 16
RECONCILE_EVERY_MS = 100
RECONCILE_CHUNK = 2000
MAX_EVICT_PER_BATCH = 100_000

LFU_INIT_VAL = 5
LFU_LOG_FACTOR = 10
LFU_DECAY_MINUTES = 1

_getsizeof = sys.getsizeof
_SEQ = (list, tuple, set, frozenset)


def value_size(v, depth: int = 0) -> int:
    """Approximate bytes held by a value graph (containers sampled)."""
    t = type(v)
    if t is bytes or t is bytearray or t is int or t is float or t is str:
        return _getsizeof(v)
    size = _getsizeof(v)
    if depth >= MAX_DEPTH:
        return size
    if t is dict:
        n = len(v)
        if n:
            tot = 0
            k = 0
            for key, val in v.items():
                tot += value_size(key, depth + 1) + value_size(val, depth + 1)
                k += 1
                if k == SAMPLE:
                    break
            size += tot * n // k
        return size
    if isinstance(v, _SEQ) or hasattr(v, "__len__") and hasattr(v, "__iter__") \
            and not hasattr(v, "__dict__") and not hasattr(type(v), "__slots__"):
        try:
            n = len(v)
            if n:
                tot = 0
                k = 0
                for x in v:
                    tot += value_size(x, depth + 1)
                    k += 1
                    if k == SAMPLE:
                        break
                size += tot * n // max(1, k)
        except TypeError:
            pass
        return size
    # plain objects (value classes, SortedList...): their attributes
    d = getattr(v, "__dict__", None)
    if d is not None:
        for val in d.values():
            size += value_size(val, depth + 1)
    for cls in type(v).__mro__:
        for a in getattr(cls, "__slots__", ()):
            val = getattr(v, a, None)
            if val is not None:
                size += value_size(val, depth + 1)
    return size


def key_size(db, key: bytes) -> int:
    """Estimate of one key of a Keyspace (0 if it does not exist)."""
    v = db.data.get(key)
    if v is None:
        return 0
    n = KEY_OVERHEAD + _getsizeof(key) + value_size(v)
    if key in db.expires:
        n += TTL_OVERHEAD
    return n


class ShardMemory:
    def __init__(self, shard):
        self.shard = shard
        self.limit = 0
        self.policy = "noeviction"
        self.samples = 5
        self.sizes: list[dict] = [dict() for _ in shard.dbs]
        self.data_ids = [id(db.data) for db in shard.dbs]
        self.used = 0
        self.evicted = 0
        self.pool: list = []            # (score, db index, key): best last
        self.snapshots: list = [None] * len(shard.dbs)
        self.snap_picks = [0] * len(shard.dbs)
        self.lfu: list[dict] = [dict() for _ in shard.dbs]
        self.reconcile_list: list | None = None
        self.reconcile_pos = 0
        self.last_reconcile = 0
        self.oom_rejections = 0

    # ------------------------------------------------------------ estimate
    def recount(self) -> None:
        """Measure every key (when maxmemory is first enabled)."""
        self.used = 0
        for i, db in enumerate(self.shard.dbs):
            sizes = self.sizes[i] = {}
            self.data_ids[i] = id(db.data)
            for k in db.data:
                n = key_size(db, k)
                sizes[k] = n
                self.used += n

    def measure(self, db, key: bytes) -> None:
        sizes = self.sizes[db.index]
        n = key_size(db, key)
        old = sizes.get(key, 0)
        if n:
            sizes[key] = n
        elif old:
            del sizes[key]
        self.used += n - old

    def _check_cleared(self) -> None:
        # FLUSHDB/FLUSHALL/SWAPDB replace a Keyspace's dict: its sizes are void
        for i, db in enumerate(self.shard.dbs):
            if id(db.data) != self.data_ids[i]:
                self.data_ids[i] = id(db.data)
                self.used -= sum(self.sizes[i].values())
                self.sizes[i] = {}
                self.lfu[i] = {}
                self.snapshots[i] = None
                for k in db.data:
                    self.measure(db, k)

    def reconcile(self) -> None:
        """Re-measure a chunk of keys nobody named (expired, moved...)."""
        self._check_cleared()
        lst = self.reconcile_list
        if lst is None or self.reconcile_pos >= len(lst):
            lst = self.reconcile_list = []
            for i, db in enumerate(self.shard.dbs):
                if db.data or self.sizes[i]:
                    lst.extend((i, k) for k in db.data)
                    lst.extend((i, k) for k in self.sizes[i] if k not in db.data)
            self.reconcile_pos = 0
        end = min(len(lst), self.reconcile_pos + RECONCILE_CHUNK)
        dbs = self.shard.dbs
        for j in range(self.reconcile_pos, end):
            i, k = lst[j]
            self.measure(dbs[i], k)
        self.reconcile_pos = end

    # ------------------------------------------------------------ batch hooks
    def before_batch(self, db, batch) -> None:
        now = self.shard.now_ms
        if now - self.last_reconcile >= RECONCILE_EVERY_MS:
            self.last_reconcile = now
            self.reconcile()
        if self.used <= self.limit:
            return
        if self.policy != "noeviction":
            self.evict()
        if self.used > self.limit:
            items = batch.items
            for j, item in enumerate(items):
                spec = getattr(item[0], "spec", None)
                if spec is not None and "denyoom" in spec.flags:
                    items[j] = (_oom, item[1], item[2], item[3])
                    self.oom_rejections += 1

    def after_batch(self, db, batch) -> None:
        lfu = self.policy.endswith("lfu")
        from server.table import TABLE
        for fn, argv, _sink, _ in batch.items:
            spec = getattr(fn, "spec", None)
            if spec is None:
                # coordinator hops and OOM stand-ins: the command by name
                spec = TABLE.get(argv[0].lower()) if argv else None
                if spec is None:
                    continue
            if spec.subcommands and len(argv) > 1:
                spec = spec.subcommands.get(argv[1].lower(), spec)
            try:
                keys = spec.keys(argv)
            except Exception:  # noqa: BLE001 - malformed: the handler already failed
                continue
            if not keys:
                continue
            flags = spec.flags
            if "write" in flags:
                for k in keys:
                    self.measure(db, k)
            if lfu:
                for k in keys:
                    if k in db.data:
                        self.lfu_touch(db.index, k)

    # ------------------------------------------------------------ LFU (evict.c)
    def lfu_touch(self, i: int, key: bytes) -> None:
        t = self.lfu[i]
        minutes = self.shard.now_ms // 60000
        ent = t.get(key)
        if ent is None:
            t[key] = [LFU_INIT_VAL, minutes]
            return
        ent[0] = self._lfu_decayed(ent, minutes)
        ent[1] = minutes
        c = ent[0]
        if c < 255:
            base = max(0, c - LFU_INIT_VAL)
            if random.random() < 1.0 / (base * LFU_LOG_FACTOR + 1):
                ent[0] = c + 1

    @staticmethod
    def _lfu_decayed(ent, minutes: int) -> int:
        periods = (minutes - ent[1]) // LFU_DECAY_MINUTES
        return max(0, ent[0] - periods) if periods > 0 else ent[0]

    # ------------------------------------------------------------ eviction
    def _sample(self, i: int, source: dict) -> list:
        snap = self.snapshots[i]
        n = len(source)
        if (snap is None or self.snap_picks[i] > max(64, len(snap) // 4)
                or len(snap) < n // 2 or (not snap and n)):
            snap = self.snapshots[i] = list(source)
            self.snap_picks[i] = 0
        if not snap:
            return []
        self.snap_picks[i] += self.samples
        return [snap[random.randrange(len(snap))] for _ in range(self.samples)]

    def _score(self, db, key: bytes) -> float | None:
        """Higher is a better eviction candidate; None if not a candidate."""
        if key not in db.data:
            return None
        volatile = self.policy.startswith("volatile")
        deadline = db.expires.get(key)
        if volatile and deadline is None:
            return None
        p = self.policy
        if p.endswith("lru"):
            return float(self.shard.clock - (db.data.lru(key) or 0))
        if p.endswith("lfu"):
            ent = self.lfu[db.index].get(key)
            c = LFU_INIT_VAL if ent is None else self._lfu_decayed(
                ent, self.shard.now_ms // 60000)
            return 255.0 - c
        if p == "volatile-ttl":
            return float(-deadline)
        return random.random()        # *-random

    def evict_one(self) -> bool:
        volatile = self.policy.startswith("volatile")
        dbs = self.shard.dbs
        pool = self.pool
        # refresh the pool's scores (keys may have been touched or deleted)
        fresh = []
        for _s, i, k in pool:
            s = self._score(dbs[i], k)
            if s is not None:
                fresh.append((s, i, k))
        for db in dbs:
            source = db.expires if volatile else db.data
            if not source:
                continue
            for k in self._sample(db.index, source):
                s = self._score(db, k)
                if s is not None:
                    fresh.append((s, db.index, k))
        if not fresh:
            self.pool = []
            return False
        fresh.sort(key=lambda e: e[0])
        # dedupe keeping the best score per key
        seen = set()
        uniq = []
        for e in reversed(fresh):
            if (e[1], e[2]) not in seen:
                seen.add((e[1], e[2]))
                uniq.append(e)
        best = uniq[0]
        self.pool = list(reversed(uniq[1:EVPOOL_SIZE + 1]))
        _s, i, k = best
        db = dbs[i]
        db.pop(k)       # no 'del' event: Redis emits only 'evicted'
        if db.shard.notify_flags:
            db.notify(N_EVICTED, b"evicted", k)
        if db.shard.aof is not None:
            from server.persistence.aof import log_evicted
            log_evicted(db.shard.aof, db.shard, i, k)
        self.lfu[i].pop(k, None)
        self.measure(db, k)
        self.evicted += 1
        return True

    def evict(self) -> None:
        n = 0
        while self.used > self.limit and n < MAX_EVICT_PER_BATCH:
            if not self.evict_one():
                break
            n += 1


def _oom(db, argv):
    raise CommandError(OOM_ERROR)


# ---------------------------------------------------------------- configuration

def configure_shard(shard, limit: int, policy: str, samples: int) -> None:
    """Runs on the shard thread (a Call): set this shard's share of maxmemory."""
    mem = getattr(shard, "memory", None)
    if limit and mem is None:
        mem = shard.memory = ShardMemory(shard)
        mem.recount()
    if mem is not None:
        mem.limit = limit
        mem.policy = policy
        mem.samples = max(1, samples)
        mem.pool = []
    if not limit and mem is not None:
        shard.evicted_past = getattr(shard, "evicted_past", 0) + mem.evicted
        shard.memory = None
    shard.mem_limit = limit


def evicted_keys(shard) -> int:
    """INFO stats evicted_keys of this shard: evictions since the last CONFIG
    RESETSTAT, kept across maxmemory being switched off and on."""
    mem = getattr(shard, "memory", None)
    return getattr(shard, "evicted_past", 0) + (mem.evicted if mem is not None else 0)


def reset_evicted(shard) -> None:
    shard.evicted_past = 0
    mem = getattr(shard, "memory", None)
    if mem is not None:
        mem.evicted = 0


def apply_memory_config(server) -> None:
    """Push maxmemory / maxmemory-policy / maxmemory-samples to every shard.
    Call at startup and after CONFIG SET of any of them (loop side)."""
    cfg = server.config
    n = max(1, len(server.shards))
    limit = int(cfg.maxmemory) // n if cfg.maxmemory else 0
    if cfg.maxmemory and not limit:
        limit = 1
    for s in range(len(server.shards)):
        server.call_shard(s, configure_shard, limit, cfg.maxmemory_policy,
                          int(cfg.maxmemory_samples))


def shard_memory_stats(shard) -> dict:
    mem = getattr(shard, "memory", None)
    keys = sum(len(db.data) for db in shard.dbs)
    if mem is None:
        # maxmemory off: a one-off estimate, sampled per database
        used = 0
        for db in shard.dbs:
            n = len(db.data)
            if not n:
                continue
            tot = 0
            k = 0
            for key in db.data:
                tot += key_size(db, key)
                k += 1
                if k == 64:
                    break
            used += tot * n // k
        return {"used": used, "limit": 0, "evicted": 0, "keys": keys, "oom": 0}
    return {"used": mem.used, "limit": mem.limit, "evicted": mem.evicted, "keys": keys,
            "oom": mem.oom_rejections}


async def memory_stats(server) -> list[dict]:
    """Per-shard estimate (loop side): used/limit/evicted/keys/oom."""
    return await server.call_all(shard_memory_stats)


def lfu_counter(shard, db_index: int, key: bytes) -> int:
    mem = getattr(shard, "memory", None)
    if mem is None:
        return LFU_INIT_VAL
    ent = mem.lfu[db_index].get(key)
    return LFU_INIT_VAL if ent is None else mem._lfu_decayed(ent, shard.now_ms // 60000)

