"""One database's keys on one shard.

Owned by exactly one `ShardActor`: only that actor's thread reads or writes a
Keyspace (handlers receive it as ``db``).  Values are plain Python objects:
``bytes`` for strings; the other data types add their own classes.

Keys and values live in ``data``, a `KeyTable` (actors/keytable.py): a
mapping that also keeps each key's LRU clock (OBJECT IDLETIME, LRU eviction)
in the key's own slot.  Every store stamps it; reads stamp it through
``touch`` (`lookup`), and LOOKUP_NOTOUCH reads (`peek`) use ``get``.  The
shard sets ``data.clock`` when its clock moves (`set_clock`).

Expiry
    ``expires`` maps key -> absolute deadline in ms.  Reads expire lazily
    (`lookup`).  For the active cycle every deadline is also pushed on
    ``_heap`` as ``(deadline, key)``; `expire_cycle` pops due entries and
    deletes the key if its current deadline is still that one.  Stale heap
    entries (TTL changed or removed) are skipped when popped and the heap is
    rebuilt when it grows past twice the live TTL count, so memory stays
    proportional to the number of volatile keys.
"""

from __future__ import annotations

import heapq
import time

from actors.keytable import KeyTable
from server.protocol import CommandError

__all__ = ["Keyspace", "WRONGTYPE", "type_name", "register_type", "encoding_of"]

WRONGTYPE = "WRONGTYPE Operation against a key holding the wrong kind of value"

_TYPE_NAMES: dict[type, bytes] = {bytes: b"string"}


# Event classes of server/notify.py used by the write paths here (actors/
# must not import server/ at load time); the shard's ``notify_flags`` holds
# the enabled classes, 0 when notifications are off.
N_GENERIC = 1 << 2
N_EXPIRED = 1 << 8
N_EVICTED = 1 << 9
N_KEY_MISS = 1 << 11
N_NEW = 1 << 13


def type_name(v) -> bytes:
    """The TYPE reply for a value (``string``, ``list``, ...)."""
    return _TYPE_NAMES.get(type(v)) or getattr(v, "redis_type", b"none")


def register_type(cls: type, name: bytes) -> None:
    _TYPE_NAMES[cls] = name


def encoding_of(v) -> bytes:
    """OBJECT ENCODING: Redis's names (int/embstr/raw for strings; other value
    classes answer through their ``redis_encoding()`` method)."""
    if type(v) is bytes:
        if len(v) <= 20:
            try:
                if str(int(v)).encode() == v and -(1 << 63) <= int(v) < (1 << 63):
                    return b"int"
            except ValueError:
                pass
        return b"embstr" if len(v) <= 44 else b"raw"
    return v.redis_encoding()


class Keyspace:
    __slots__ = ("index", "shard", "data", "expires", "_heap", "watchers",
                 "expired_count", "hits", "misses")

    def __init__(self, shard, index: int):
        self.shard = shard
        self.index = index
        # key -> value, with each key's LRU clock (seconds) beside it
        self.data = KeyTable(shard.clock)
        self.expires: dict[bytes, int] = {}
        self._heap: list[tuple[int, bytes]] = []
        # key -> set of watch tokens (MULTI/WATCH); touched on every write
        self.watchers: dict[bytes, set] = {}
        self.expired_count = 0
        self.hits = 0
        self.misses = 0

    # ------------------------------------------------------------------ reads
    @property
    def now_ms(self) -> int:
        return self.shard.now_ms

    def lookup(self, key: bytes):
        """The live value of key, or None; expires it lazily if due.  Stamps
        the key's LRU clock (an expired key is deleted, stamp and all)."""
        v = self.data.touch(key)
        if v is None:
            return None
        if self.expires:
            t = self.expires.get(key)
            if t is not None and t <= self.shard.now_ms:
                self._expire_now(key)
                return None
        return v

    def peek(self, key: bytes):
        """lookup() without touching the access time (Redis's LOOKUP_NOTOUCH:
        TYPE, TTL, EXISTS, OBJECT, RANDOMKEY); still expires the key lazily."""
        v = self.data.get(key)
        if v is None:
            return None
        if self.expires:
            t = self.expires.get(key)
            if t is not None and t <= self.shard.now_ms:
                self._expire_now(key)
                return None
        return v

    def get(self, key: bytes):
        """lookup() that also counts keyspace hits/misses (for INFO)."""
        v = self.lookup(key)
        if v is None:
            self.misses += 1
            if self.shard.notify_flags:
                self.notify(N_KEY_MISS, b"keymiss", key)
        else:
            self.hits += 1
        return v

    def get_typed(self, key: bytes, cls: type):
        """The value if it is a ``cls``, None if missing, else WRONGTYPE."""
        v = self.get(key)
        if v is None or type(v) is cls:
            return v
        raise CommandError(WRONGTYPE)

    def get_str(self, key: bytes):
        # lookup() + get() inlined: this is GET's whole path
        v = self.data.touch(key)
        if v is None:
            self.misses += 1
            if self.shard.notify_flags:
                self.notify(N_KEY_MISS, b"keymiss", key)
            return None
        if self.expires:
            t = self.expires.get(key)
            if t is not None and t <= self.shard.now_ms:
                self._expire_now(key)
                self.misses += 1
                if self.shard.notify_flags:
                    self.notify(N_KEY_MISS, b"keymiss", key)
                return None
        self.hits += 1
        if type(v) is bytes:
            return v
        raise CommandError(WRONGTYPE)

    def exists(self, key: bytes) -> bool:
        return self.lookup(key) is not None

    def ttl_ms(self, key: bytes) -> int | None:
        """Remaining ms, None if the key has no TTL (caller checks existence)."""
        t = self.expires.get(key)
        return None if t is None else max(0, t - self.shard.now_ms)

    # ------------------------------------------------------------------ writes
    def set(self, key: bytes, value, keep_ttl: bool = False) -> None:
        """Store value; clears the TTL unless keep_ttl (SET semantics)."""
        sh = self.shard
        if sh.waiters:
            self.signal_ready(key)
        if sh.notify_flags and key not in self.data:
            self.notify(N_NEW, b"new", key)
        if sh.tracking:
            sh.invalidate(key)
        self.data[key] = value              # stamps the LRU clock too
        if not keep_ttl and self.expires and key in self.expires:
            del self.expires[key]
        if self.watchers:
            self.touched(key)

    def signal_ready(self, key: bytes) -> None:
        """dbAdd's signalKeyAsReady, called before a store: a key *created*
        by any command (a push, ZADD, RENAME, COPY, MOVE, RESTORE, SORT
        STORE, ZUNIONSTORE...) may serve clients blocked on it.  Overwriting
        a live key does not signal (Redis 7.0's dbOverwrite does not either;
        RENAME/COPY/RESTORE REPLACE delete the old key first, as Redis does).
        Only queued here; the shard serves ``shard.ready`` after the current
        command (server/commands/lists.py).  Costs one test in `set` while
        the shard has no blocked client."""
        k = (self.index, key)
        if k in self.shard.waiters and self.peek(key) is None:
            self.shard.ready.append(k)

    def put(self, key: bytes, value) -> None:
        """Replace the value of a key in place, keeping its TTL (APPEND, INCR...)."""
        self.data[key] = value
        if self.watchers:
            self.touched(key)

    def delete(self, key: bytes) -> bool:
        """Delete a key with Redis's ``del`` event (deferred until the
        command's own events: server/notify.py).  Deletions that Redis makes
        silently (RENAME's or COPY's replaced destination) use `pop`."""
        if self.lookup(key) is None:
            return False
        self._remove(key)
        if self.watchers:
            self.touched(key)
        if self.shard.notify_flags:
            self.notify(N_GENERIC, b"del", key, True)
        return True

    def pop(self, key: bytes):
        """Remove and return (value, deadline or None), or None if missing."""
        v = self.lookup(key)
        if v is None:
            return None
        t = self.expires.get(key)
        self._remove(key)
        if self.watchers:
            self.touched(key)
        return v, t

    def _remove(self, key: bytes) -> None:
        if self.shard.tracking:
            self.shard.invalidate(key)
        del self.data[key]
        self.expires.pop(key, None)

    def set_expire(self, key: bytes, deadline_ms: int) -> None:
        self.expires[key] = deadline_ms
        heapq.heappush(self._heap, (deadline_ms, key))
        if len(self._heap) > 2 * len(self.expires) + 1024:
            self._heap = [(t, k) for k, t in self.expires.items()]
            heapq.heapify(self._heap)
        if self.watchers:
            self.touched(key)

    def persist(self, key: bytes) -> bool:
        if key in self.expires:
            del self.expires[key]
            if self.watchers:
                self.touched(key)
            if self.shard.notify_flags:      # PERSIST, GETEX PERSIST
                self.notify(N_GENERIC, b"persist", key)
            return True
        return False

    def notify(self, cls: int, event: bytes, key: bytes, tail: bool = False) -> None:
        """Queue a keyspace event if its class is on (server/notify.py
        delivers it); ``tail``: after the running command's own events."""
        sh = self.shard
        if sh.notify_flags & cls:
            (sh.notice_tail if tail else sh.notices).append((self.index, event, key))

    def touched(self, key: bytes) -> None:
        """A write hit key: invalidate WATCHes on it."""
        tokens = self.watchers.pop(key, None)
        if tokens:
            for tok in tokens:
                tok.dirty = True

    def clear(self) -> int:
        n = len(self.data)
        if self.watchers:
            for key in list(self.watchers):
                if key in self.data:
                    self.touched(key)
        self.data = KeyTable(self.shard.clock)
        self.expires = {}
        self._heap = []
        return n

    # ------------------------------------------------------------------ expiry
    def _expire_now(self, key: bytes) -> None:
        self._remove(key)
        self.expired_count += 1
        self.shard.stats_expired += 1
        if self.watchers:
            self.touched(key)
        if self.shard.notify_flags:
            self.notify(N_EXPIRED, b"expired", key)

    def expire_cycle(self, now_ms: int, budget: int) -> int:
        """Delete up to ``budget`` due keys; return how many were deleted."""
        heap = self._heap
        done = 0
        exp = self.expires
        while heap and heap[0][0] <= now_ms and done < budget:
            t, key = heapq.heappop(heap)
            if exp.get(key) == t:
                self._expire_now(key)
                done += 1
        return done

    def size(self) -> int:
        return len(self.data)

    def expires_count(self) -> int:
        return len(self.expires)

    def avg_ttl(self) -> int:
        if not self.expires:
            return 0
        now = self.shard.now_ms
        return int(sum(max(0, t - now) for t in self.expires.values()) / len(self.expires))


def wall_ms() -> int:
    return time.time_ns() // 1_000_000
