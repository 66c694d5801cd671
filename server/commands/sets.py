"""Set commands (Redis's t_set.c).  Values are `RedisSet`, a ``set`` of bytes.

Multi-key commands (SINTER, SUNIONSTORE, SMOVE, ...) have one pure core that
works on already-fetched values.  When every key lives on one shard the
table's single-shard path runs the handler there in one message; otherwise a
``cross=`` coroutine (run by the connection inside a transaction holding the
keys' shards) fetches copies of the sources with one hop per shard (copied on
the source shard, inside the hop), computes on the loop, and stores with a
hop to the destination's shard.  Both paths share the cores, so they answer
alike, including which WRONGTYPE wins (the first offending key in order).
"""

from __future__ import annotations

import asyncio
import heapq
import random
import re

from actors.keyspace import WRONGTYPE, register_type
from server.protocol import CommandError, Err, RSet
from server.table import command
from server.tracking import remembering

from .keys import parse_scan_cursor
from .util import INT64_MAX, INT64_MIN, SYNTAX, compile_glob, parse_int

# Redis 7.0 defaults; the shard cannot see CONFIG (no hooks are passed), so
# set-max-intset-entries changes are not reflected in OBJECT ENCODING.
SET_MAX_INTSET_ENTRIES = 512

_INT_RE = re.compile(rb"-?(0|[1-9][0-9]*)\Z")


def is_int_member(m: bytes) -> bool:
    """Redis's string2ll acceptance: what an intset can hold."""
    if len(m) > 20 or not _INT_RE.match(m) or m == b"-0":
        return False
    return INT64_MIN <= int(m) <= INT64_MAX


class RedisSet(set):
    """A Redis set.  ``ht`` mirrors Redis 7.0's one-way conversion from intset
    to hashtable: once a non-integer member was added or the set outgrew
    set-max-intset-entries it stays "hashtable" (Redis never converts back)."""

    __slots__ = ("ht",)

    def __init__(self, items=()):
        super().__init__(items)
        self.ht = False
        self.check_encoding()

    def check_encoding(self) -> None:
        if not self.ht and (len(self) > SET_MAX_INTSET_ENTRIES
                            or not all(is_int_member(m) for m in self)):
            self.ht = True

    def add_member(self, m: bytes) -> bool:
        if m in self:
            return False
        self.add(m)
        if not self.ht and (len(self) > SET_MAX_INTSET_ENTRIES or not is_int_member(m)):
            self.ht = True
        return True

    def members(self) -> list[bytes]:
        """Members in Redis's reply order where it is defined: an intset is
        sorted numerically; a hashtable's order is unspecified."""
        if not self.ht:
            return sorted(self, key=int)
        return list(self)

    def redis_encoding(self) -> bytes:
        return b"hashtable" if self.ht else b"intset"

    def copy(self) -> "RedisSet":
        c = RedisSet.__new__(RedisSet)
        set.__init__(c, self)
        c.ht = self.ht
        return c


register_type(RedisSet, b"set")


def new_set(items) -> RedisSet:
    """A set built from a computation result (SINTERSTORE...): Redis starts
    those as intsets and converts as members arrive, which is what the
    constructor's encoding check gives."""
    return RedisSet(items)


def _typed(db, key: bytes):
    v = db.get(key)
    if v is None or type(v) is RedisSet:
        return v
    raise CommandError(WRONGTYPE)


def _typed_write(db, key: bytes):
    v = db.lookup(key)
    if v is None or type(v) is RedisSet:
        return v
    raise CommandError(WRONGTYPE)


# --------------------------------------------------------------- cross-shard helpers
def fetch_copies(db, argv):
    """Hop body: ``[_, cls_name, key...]`` -> per key ``(ok, value-copy|None)``.
    WRONGTYPE is reported per key (not raised) so the coordinator can pick the
    first offending key in command order, like Redis's single loop does."""
    accept = _ACCEPT[argv[1]]
    out = []
    for k in argv[2:]:
        v = db.get(k)
        if v is None:
            out.append((True, None))
        elif type(v) in accept:
            out.append((True, v.copy()))
        else:
            out.append((False, None))
            break               # Redis stops at the first key of another type
    return out


_ACCEPT: dict[bytes, tuple] = {b"set": (RedisSet,)}


def register_accept(name: bytes, classes: tuple) -> None:
    """Let another module (zsets: sets or zsets as inputs) use `gather`."""
    _ACCEPT[name] = classes


def raise_if_err(v):
    """A hop's raw result: CommandErrors arrive as `Err` values."""
    if type(v) is Err:
        raise CommandError(bytes(v))
    return v


async def gather(conn, keys, kind: bytes = b"set") -> list:
    """Copies of ``keys``' values (None if missing), one hop per shard;
    raises WRONGTYPE for the first key (in order) of another type."""
    from server.router import hop_groups
    parts, res = await hop_groups(conn, keys, fetch_copies, [b"FETCH", kind],
                                  stop=lambda r: type(r) is not list or not r[-1][0])
    out = [None] * len(keys)
    ok = [True] * len(keys)
    for (s, pos), r in zip(parts, res):
        r = raise_if_err(r)
        for i, (good, v) in zip(pos, r):
            out[i] = v
            ok[i] = good
    for good in ok:
        if not good:
            raise CommandError(WRONGTYPE)
    return out


def store_value(db, argv):
    """Hop body: ``[_, key, value]``: store value (an empty one deletes the
    key, as Redis never keeps empty collections); returns its size."""
    key, value = argv[1], argv[2]
    if value is None or not len(value):
        db.delete(key)
        return 0
    db.set(key, value)
    return len(value)


async def store_on(conn, key: bytes, value) -> int:
    return raise_if_err(await conn.hop(conn.shard_of(key), store_value, [b"STORE", key, value]))


# --------------------------------------------------------------- single key
@command("sadd", -3, flags=("write", "denyoom", "fast"), keys=(1, 1, 1), group="set",
         summary="Adds one or more members to a set. Creates the key if it doesn't exist.",
         syntax="key member [member ...]", complexity="O(1) for each element added, so O(N) to add N elements when the command is called with multiple arguments.")
def cmd_sadd(db, argv):
    key = argv[1]
    s = _typed_write(db, key)
    created = s is None
    if created:
        s = RedisSet()
    n = 0
    for m in argv[2:]:
        n += s.add_member(m)
    if created:
        db.set(key, s)
    elif n:
        db.put(key, s)
    return n


@command("srem", -3, flags=("write", "fast"), keys=(1, 1, 1), group="set",
         summary="Removes one or more members from a set. Deletes the set if the last member was removed.",
         syntax="key member [member ...]", complexity="O(N) where N is the number of members to be removed.")
def cmd_srem(db, argv):
    key = argv[1]
    s = _typed_write(db, key)
    if s is None:
        return 0
    n = 0
    for m in argv[2:]:
        if m in s:
            s.discard(m)
            n += 1
    if n:
        if not s:
            db.delete(key)
        else:
            db.put(key, s)
    return n


@command("scard", 2, flags=("readonly", "fast"), keys=(1, 1, 1), group="set",
         summary="Returns the number of members in a set.", syntax="key")
def cmd_scard(db, argv):
    s = _typed(db, argv[1])
    return 0 if s is None else len(s)


@command("sismember", 3, flags=("readonly", "fast"), keys=(1, 1, 1), group="set",
         summary="Determines whether a member belongs to a set.", syntax="key member")
def cmd_sismember(db, argv):
    s = _typed(db, argv[1])
    return int(s is not None and argv[2] in s)


@command("smismember", -3, flags=("readonly", "fast"), keys=(1, 1, 1), group="set",
         summary="Determines whether multiple members belong to a set.",
         syntax="key member [member ...]", since="6.2.0",
         complexity="O(N) where N is the number of elements being checked for membership")
def cmd_smismember(db, argv):
    s = _typed(db, argv[1])
    if s is None:
        return [0] * (len(argv) - 2)
    return [int(m in s) for m in argv[2:]]


@command("smembers", 2, flags=("readonly",), keys=(1, 1, 1), group="set",
         summary="Returns all members of a set.", syntax="key",
         complexity="O(N) where N is the set cardinality.")
def cmd_smembers(db, argv):
    s = _typed(db, argv[1])
    return RSet() if s is None else RSet(s.members())


POSITIVE = "ERR value is out of range, must be positive"
RANGE_LONG = ("ERR value is out of range, value must between -9223372036854775807 "
              "and 9223372036854775807")


def positive_count(b: bytes) -> int:
    # getPositiveLongFromObjectOrReply(msg=NULL): one message for both a
    # non-integer and a negative value
    v = parse_int(b, POSITIVE)
    if v < 0:
        raise CommandError(POSITIVE)
    return v


def signed_count(b: bytes) -> int:
    # getRangeLongFromObjectOrReply(-LONG_MAX, LONG_MAX, msg=NULL)
    v = parse_int(b)
    if v == INT64_MIN:
        raise CommandError(RANGE_LONG)
    return v


@command("spop", -2, flags=("write", "fast"), keys=(1, 1, 1), group="set",
         summary="Returns one or more random members from a set after removing them. Deletes the set if the last member was popped.",
         syntax="key [count]", complexity="Without the count argument O(1), otherwise O(N) where N is the value of the passed count.")
def cmd_spop(db, argv):
    if len(argv) > 3:
        raise CommandError(SYNTAX)
    key = argv[1]
    if len(argv) == 3:
        count = positive_count(argv[2])
        s = _typed_write(db, key)
        if s is None or count == 0:
            return RSet()
        if count >= len(s):
            db.delete(key)
            return RSet(s.members())
        picked = random.sample(list(s), count)
        s.difference_update(picked)
        db.put(key, s)
        return RSet(picked)
    s = _typed_write(db, key)
    if s is None:
        return None
    m = random.choice(list(s)) if len(s) > 64 else random.sample(list(s), 1)[0]
    s.discard(m)
    if not s:
        db.delete(key)
    else:
        db.put(key, s)
    return m


@command("srandmember", -2, flags=("readonly",), keys=(1, 1, 1), group="set",
         summary="Get one or multiple random members from a set",
         syntax="key [count]", complexity="Without the count argument O(1), otherwise O(N) where N is the absolute value of the passed count.")
def cmd_srandmember(db, argv):
    if len(argv) > 3:
        raise CommandError(SYNTAX)
    if len(argv) == 2:
        s = _typed(db, argv[1])
        return None if s is None else random.choice(list(s))
    # getRangeLongFromObjectOrReply(-LONG_MAX, LONG_MAX)
    count = signed_count(argv[2])
    s = _typed(db, argv[1])
    if s is None or count == 0:
        return []
    items = list(s)
    if count < 0:
        # repeats allowed: -count independent draws
        return random.choices(items, k=-count)
    if count >= len(items):
        return items
    return random.sample(items, count)


@command("smove", 4, flags=("write", "fast"), keys=(1, 2, 1), group="set",
         summary="Moves a member from one set to another.",
         syntax="source destination member")
def cmd_smove(db, argv):
    src_key, dst_key, m = argv[1], argv[2], argv[3]
    src = db.lookup(src_key)
    dst = db.lookup(dst_key)
    if src is None:
        return 0
    if type(src) is not RedisSet or (dst is not None and type(dst) is not RedisSet):
        raise CommandError(WRONGTYPE)
    if src is dst:
        return int(m in src)
    if m not in src:
        return 0
    src.discard(m)
    if not src:
        db.delete(src_key)
    else:
        db.put(src_key, src)
    if dst is None:
        dst = RedisSet()
        dst.add_member(m)
        db.set(dst_key, dst)
    elif dst.add_member(m):
        db.put(dst_key, dst)
    else:
        db.touched(dst_key)
    return 1


def _smove_check(db, argv):
    """Hop on the source shard: 0 if source missing, WRONGTYPE, else 1."""
    v = db.lookup(argv[1])
    if v is None:
        return 0
    if type(v) is not RedisSet:
        raise CommandError(WRONGTYPE)
    return 1


def _type_check_set(db, argv):
    v = db.lookup(argv[1])
    if v is not None and type(v) is not RedisSet:
        raise CommandError(WRONGTYPE)
    return 1


def _smove_take(db, argv):
    """Hop on the source shard: remove the member; 1 if it was there."""
    key, m = argv[1], argv[2]
    s = db.lookup(key)
    if s is None or m not in s:
        return 0
    s.discard(m)
    if not s:
        db.delete(key)
    else:
        db.put(key, s)
    return 1


def _smove_give(db, argv):
    key, m = argv[1], argv[2]
    s = db.lookup(key)
    if s is None:
        s = RedisSet()
        s.add_member(m)
        db.set(key, s)
    elif s.add_member(m):
        db.put(key, s)
    else:
        db.touched(key)
    return 1


async def cross_smove(conn, argv):
    src_key, dst_key, m = argv[1], argv[2], argv[3]
    ss, ds = conn.shard_of(src_key), conn.shard_of(dst_key)
    if not raise_if_err(await conn.hop(ss, _smove_check, [b"", src_key])):
        return 0
    raise_if_err(await conn.hop(ds, _type_check_set, [b"", dst_key]))
    if not raise_if_err(await conn.hop(ss, _smove_take, [b"", src_key, m])):
        return 0
    raise_if_err(await conn.hop(ds, _smove_give, [b"", dst_key, m]))
    return 1


cmd_smove.spec.cross = cross_smove


# --------------------------------------------------------------- algebra
def set_algebra(op: str, sets: list) -> set:
    """SINTER / SUNION / SDIFF over fetched values (None = empty set)."""
    if op == "inter":
        if any(s is None for s in sets):
            return set()
        ordered = sorted(sets, key=len)
        out = set(ordered[0])
        for s in ordered[1:]:
            if not out:
                break
            out &= s
        return out
    if op == "union":
        out = set()
        for s in sets:
            if s is not None:
                out |= s
        return out
    # diff: first minus the others
    first = sets[0]
    if first is None:
        return set()
    out = set(first)
    for s in sets[1:]:
        if s is not None and out:
            out -= s
    return out


def _algebra_handler(op: str, store: bool):
    def handler(db, argv):
        keys = argv[2:] if store else argv[1:]
        sets = [_typed(db, k) for k in keys]
        res = set_algebra(op, sets)
        if store:
            return store_value(db, [b"", argv[1], new_set(res) if res else None])
        return RSet(_reply_order(res))

    async def cross(conn, argv):
        keys = argv[2:] if store else argv[1:]
        sets = await gather(conn, keys)
        res = set_algebra(op, sets)
        if store:
            return await store_on(conn, argv[1], new_set(res) if res else None)
        return RSet(_reply_order(res))
    return handler, cross


def _reply_order(res: set) -> list:
    # an all-integer small result is an intset in Redis: numeric order
    if len(res) <= SET_MAX_INTSET_ENTRIES and all(is_int_member(m) for m in res):
        return sorted(res, key=int)
    return list(res)


def _declare_algebra(name, op, store, summary, complexity):
    handler, cross = _algebra_handler(op, store)
    handler.__name__ = f"cmd_{name}"
    if store:
        command(name, -3, flags=("write", "denyoom"), keys=(1, -1, 1), group="set",
                summary=summary, syntax="destination key [key ...]",
                complexity=complexity, cross=cross)(handler)
    else:
        command(name, -2, flags=("readonly",), keys=(1, -1, 1), group="set",
                summary=summary, syntax="key [key ...]", complexity=complexity,
                cross=remembering(cross))(handler)
    return handler


_INTER_C = "O(N*M) worst case where N is the cardinality of the smallest set and M is the number of sets."
_UNION_C = "O(N) where N is the total number of elements in all given sets."
cmd_sinter = _declare_algebra("sinter", "inter", False, "Returns the intersect of multiple sets.", _INTER_C)
cmd_sunion = _declare_algebra("sunion", "union", False, "Returns the union of multiple sets.", _UNION_C)
cmd_sdiff = _declare_algebra("sdiff", "diff", False, "Returns the difference of multiple sets.", _UNION_C)
cmd_sinterstore = _declare_algebra("sinterstore", "inter", True, "Stores the intersect of multiple sets in a key.", _INTER_C)
cmd_sunionstore = _declare_algebra("sunionstore", "union", True, "Stores the union of multiple sets in a key.", _UNION_C)
cmd_sdiffstore = _declare_algebra("sdiffstore", "diff", True, "Stores the difference of multiple sets in a key.", _UNION_C)


# --------------------------------------------------------------- SINTERCARD
def numkeys_keys(argv, first: int = 1) -> list[bytes]:
    """key_fn for ``CMD numkeys key ... [options]``: the keys if numkeys is
    valid, else none (the handler then reports the error on shard 0)."""
    try:
        n = int(argv[first])
    except ValueError:
        return []
    if n <= 0 or n > len(argv) - first - 1:
        return []
    return argv[first + 1:first + 1 + n]


def parse_numkeys(argv, first: int = 1) -> int:
    # getRangeLongFromObjectOrReply(1, LONG_MAX, "numkeys should be ...")
    err = "ERR numkeys should be greater than 0"
    n = parse_int(argv[first], err)
    if n <= 0:
        raise CommandError(err)
    if n > len(argv) - first - 1:
        raise CommandError("ERR Number of keys can't be greater than number of args")
    return n


def _sintercard_args(argv):
    n = parse_numkeys(argv)
    keys = argv[2:2 + n]
    limit = 0
    i = 2 + n
    while i < len(argv):
        if argv[i].upper() == b"LIMIT" and i + 1 < len(argv):
            limit = parse_int(argv[i + 1], "ERR LIMIT can't be negative")
            if limit < 0:
                raise CommandError("ERR LIMIT can't be negative")
            i += 2
        else:
            raise CommandError(SYNTAX)
    return keys, limit


def intercard(sets: list, limit: int) -> int:
    if any(s is None for s in sets):
        return 0
    ordered = sorted(sets, key=len)
    others = ordered[1:]
    n = 0
    for m in ordered[0]:
        if all(m in s for s in others):
            n += 1
            if limit and n >= limit:
                break
    return n


@command("sintercard", -3, flags=("readonly",), keys=(2, 2, 1), key_fn=numkeys_keys,
         group="set", since="7.0.0",
         summary="Returns the number of members of the intersect of multiple sets.",
         syntax="numkeys key [key ...] [LIMIT limit]",
         complexity="O(N*M) worst case where N is the cardinality of the smallest set and M is the number of sets.")
def cmd_sintercard(db, argv):
    keys, limit = _sintercard_args(argv)
    return intercard([_typed(db, k) for k in keys], limit)


async def _cross_sintercard(conn, argv):
    keys, limit = _sintercard_args(argv)
    return intercard(await gather(conn, keys), limit)


cmd_sintercard.spec.cross = remembering(_cross_sintercard)


# --------------------------------------------------------------- SSCAN
def parse_cursor(b: bytes) -> int:
    """parseScanCursorOrReply: strtoul of the whole string, the same parser
    as SCAN (keys.parse_scan_cursor): an optional sign (``-1`` wraps to
    2**64-1, ``+5`` is 5), ``""`` is 0; a leading space, other trailing bytes
    or overflow are ``-ERR invalid cursor``."""
    return parse_scan_cursor(b)


def scan_options(argv, start: int):
    """MATCH / COUNT of the *SCAN family (scanGenericCommand)."""
    pattern = None
    count = 10
    i = start
    n = len(argv)
    while i < n:
        o = argv[i].upper()
        if o == b"COUNT" and i + 1 < n:
            count = parse_int(argv[i + 1])
            if count < 1:
                raise CommandError(SYNTAX)
            i += 2
        elif o == b"MATCH" and i + 1 < n:
            pattern = argv[i + 1]
            i += 2
        else:
            raise CommandError(SYNTAX)
    return pattern, count


_HMASK = (1 << 62) - 1


def _scan_hash(m: bytes) -> int:
    # stable within the process (bytes hashing is seeded per process); the
    # cursor is the next position in this order, so an element present for
    # the whole iteration is returned exactly once unless its hash collides
    # at a page boundary (then it may be returned twice, which SCAN allows).
    return (hash(m) & _HMASK) + 1


def scan_members(items, cursor: int, count: int, whole: bool):
    """One page of a collection scan: (next cursor, members).

    ``whole``: small encodings (intset/listpack) reply everything with cursor
    0 in one call, as Redis does.  Otherwise members are visited in hash
    order starting at ``cursor``; about ``count`` per call."""
    if whole:
        return 0, list(items)
    if cursor == 0:
        cands = ((_scan_hash(m), m) for m in items)
    else:
        cands = ((h, m) for h, m in ((_scan_hash(m), m) for m in items) if h >= cursor)
    page = heapq.nsmallest(count + 1, cands)
    if len(page) <= count:
        return 0, [m for _h, m in page]
    nxt = page[count][0]
    # never split a run of equal hashes across pages
    return nxt, [m for h, m in page[:count] if h < nxt]


def filter_match(pattern, members):
    if pattern is None or pattern == b"*":
        return members
    rx = compile_glob(pattern)
    return [m for m in members if rx.match(m)]


@command("sscan", -3, flags=("readonly",), keys=(1, 1, 1), group="set", since="2.8.0",
         summary="Iterates over members of a set.",
         syntax="key cursor [MATCH pattern] [COUNT count]",
         complexity="O(1) for every call. O(N) for a complete iteration, including enough command calls for the cursor to return back to 0. N is the number of elements inside the collection.")
def cmd_sscan(db, argv):
    cursor = parse_cursor(argv[2])
    s = _typed(db, argv[1])
    if s is None:
        return [b"0", []]
    pattern, count = scan_options(argv, 3)
    if not s.ht:
        return [b"0", filter_match(pattern, s.members())]
    nxt, page = scan_members(s, cursor, count, False)
    return [str(nxt).encode(), filter_match(pattern, page)]
