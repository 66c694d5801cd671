"""Sorted set commands (Redis's t_zset.c).

`ZSet` keeps ``scores`` (member -> score) and ``sl``, a sortedcontainers
``SortedList`` of ``(score, member)`` tuples: tuple order is Redis's order
(score, then member bytes as memcmp).  Invariant: both hold exactly the same
pairs.  ZADD/ZREM/ZRANK/ZSCORE are O(log n); rank ranges are index slices,
score and lex ranges are bisections, so no range command scans the set.

Reply shapes: handlers cannot see the connection's protocol, so score pairs
are returned flat (``[member, score, ...]``) as RESP2 expects; Redis 7.0's
RESP3 nests them (``[[member, score], ...]``) which needs a protocol-aware
reply type in server/protocol.py (reported, see tests/test_zsets.py).
Scores are ``float`` (RESP3 doubles; RESP2 bulk via format_double).

Multi-key commands (ZUNIONSTORE, ZRANGESTORE, ZMPOP, ...) share a pure core
between the single-shard handler and a ``cross=`` coordinator, like sets.py.
"""

from __future__ import annotations

import math
import random
import re

from sortedcontainers import SortedList

from actors.keyspace import WRONGTYPE, register_type
from server import protocol as _protocol
from server.protocol import NULL_ARRAY, CommandError
from server.table import command
from server.tracking import remembering

from .sets import (RedisSet, filter_match, gather, parse_cursor, positive_count,
                   raise_if_err, register_accept, scan_members, scan_options,
                   signed_count, store_on, store_value)
from .util import NOT_FLOAT, SYNTAX, parse_int

_ZSET_EVENTS = 1 << 7      # server/notify.py ZSET (z)

# Redis 7.0 defaults (zset-max-listpack-entries / -value); see sets.py on CONFIG.
ZSET_MAX_LISTPACK_ENTRIES = 128
ZSET_MAX_LISTPACK_VALUE = 64

RANGE_FLOAT = "ERR min or max is not a float"
RANGE_LEX = "ERR min or max not valid string range item"
NAN_SCORE = "ERR resulting score is not a number (NaN)"


class _Top:
    """Compares above every member: ``(score, TOP)`` sorts after all pairs
    with that score (exclusive lower / inclusive upper score bounds)."""
    __slots__ = ()

    def __lt__(self, other):
        return False

    def __gt__(self, other):
        return True

    def __eq__(self, other):
        return other is self

    def __hash__(self):
        return 0


TOP = _Top()


class ZSet:
    __slots__ = ("scores", "sl", "big")

    def __init__(self):
        self.scores: dict[bytes, float] = {}
        self.sl = SortedList()
        # Redis 7.0 converts listpack -> skiplist one way: set once the set
        # held more than 128 members or a member longer than 64 bytes.
        self.big = False

    def __len__(self):
        return len(self.scores)

    def redis_encoding(self) -> bytes:
        return b"skiplist" if self.big else b"listpack"

    def copy(self) -> "ZSet":
        z = ZSet()
        z.scores = dict(self.scores)
        z.sl = SortedList(self.sl)
        z.big = self.big
        return z

    def _grow(self, member: bytes) -> None:
        if not self.big and (len(self.scores) > ZSET_MAX_LISTPACK_ENTRIES
                             or len(member) > ZSET_MAX_LISTPACK_VALUE):
            self.big = True

    def set_score(self, member: bytes, score: float) -> None:
        """Insert or move ``member`` to ``score`` (-0.0 stored as 0.0, as a
        listpack stores it)."""
        score += 0.0
        old = self.scores.get(member)
        if old is not None:
            if old == score:
                return
            self.sl.remove((old, member))
        self.scores[member] = score
        self.sl.add((score, member))
        if old is None:
            self._grow(member)

    def remove(self, member: bytes) -> bool:
        old = self.scores.pop(member, None)
        if old is None:
            return False
        self.sl.remove((old, member))
        return True

    def rank(self, member: bytes):
        s = self.scores.get(member)
        if s is None:
            return None
        return self.sl.bisect_left((s, member))

    # --- index ranges [lo, hi) for score and lex bounds
    def score_span(self, rng) -> tuple[int, int]:
        mn, mnx, mx, mxx = rng
        sl = self.sl
        lo = sl.bisect_right((mn, TOP)) if mnx else sl.bisect_left((mn, b""))
        hi = sl.bisect_left((mx, b"")) if mxx else sl.bisect_right((mx, TOP))
        return lo, max(lo, hi)

    def lex_span(self, rng) -> tuple[int, int]:
        """Lex ranges assume one score for all members (as Redis documents);
        bisect within the score of the first member."""
        sl = self.sl
        n = len(sl)
        if not n:
            return 0, 0
        s0 = sl[0][0]
        (mn_kind, mn), (mx_kind, mx) = rng
        if mn_kind == "-":
            lo = 0
        elif mn_kind == "+":
            lo = n
        elif mn_kind == "[":
            lo = sl.bisect_left((s0, mn))
        else:
            lo = sl.bisect_right((s0, mn))
        if mx_kind == "+":
            hi = n
        elif mx_kind == "-":
            hi = 0
        elif mx_kind == "[":
            hi = sl.bisect_right((s0, mx))
        else:
            hi = sl.bisect_left((s0, mx))
        return lo, max(lo, hi)


register_type(ZSet, b"zset")
register_accept(b"zset-or-set", (ZSet, RedisSet))
register_accept(b"zset", (ZSet,))


def new_zset(pairs) -> ZSet:
    """A zset built from (member, score) results (ZUNIONSTORE, ZRANGESTORE):
    encoding chosen from the final contents, like zsetConvertToListpackIfNeeded."""
    z = ZSet()
    scores = z.scores
    for m, s in pairs:
        scores[m] = s + 0.0
    z.sl = SortedList((s, m) for m, s in scores.items())
    z.big = (len(scores) > ZSET_MAX_LISTPACK_ENTRIES
             or any(len(m) > ZSET_MAX_LISTPACK_VALUE for m in scores))
    return z


def _typed(db, key: bytes):
    v = db.get(key)
    if v is None or type(v) is ZSet:
        return v
    raise CommandError(WRONGTYPE)


def _typed_write(db, key: bytes):
    v = db.lookup(key)
    if v is None or type(v) is ZSet:
        return v
    raise CommandError(WRONGTYPE)


def _after_write(db, key: bytes, z: ZSet) -> None:
    """Empty sorted sets are deleted (Redis never keeps empty keys)."""
    if not z.scores:
        db.delete(key)
    else:
        db.put(key, z)


# ------------------------------------------------------------------ parsing
_STRTOD = re.compile(
    rb"[+-]?(?:(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?|inf(?:inity)?|nan(?:\([0-9a-z_]*\))?)\Z",
    re.I)
_HEX = re.compile(rb"([+-]?)0x([0-9a-f]+\.?[0-9a-f]*|\.[0-9a-f]+)(p[+-]?[0-9]+)?\Z", re.I)


def _strtod(b: bytes):
    """C strtod over the whole string: (value, erange) or None."""
    if _STRTOD.match(b):
        v = float(b)
        if math.isinf(v) and b"n" not in b.lower():
            return v, True          # overflow
        if v == 0.0 and re.search(rb"[1-9]", b.lower().split(b"e")[0]):
            return v, True          # underflow to zero
        return v, False
    m = _HEX.match(b)
    if m:
        sign, mant, exp = m.groups()
        v = float.fromhex((b"%s0x%s%s" % (sign, mant, exp or b"p0")).decode())
        return v, False
    return None


def parse_score(b: bytes, err: str = NOT_FLOAT) -> float:
    """getDoubleFromObject: no leading space, full strtod, ERANGE overflow
    or underflow to zero rejected, NaN rejected."""
    if not b or b[:1] in b" \t\n\v\f\r":
        raise CommandError(err)
    r = _strtod(b)
    if r is None or r[1] or math.isnan(r[0]):
        raise CommandError(err)
    return r[0]


def _range_double(b: bytes) -> float:
    # zslParseRange's strtod: leading whitespace allowed, no ERANGE check
    r = _strtod(b.lstrip(b" \t\n\v\f\r"))
    if r is None or math.isnan(r[0]):
        raise CommandError(RANGE_FLOAT)
    return r[0]


def parse_score_range(bmin: bytes, bmax: bytes):
    """``(min, min_exclusive, max, max_exclusive)`` from ``1`` / ``(1`` / ``-inf``."""
    out = []
    for b in (bmin, bmax):
        if b[:1] == b"(":
            out += [_range_double(b[1:]), True]
        else:
            out += [_range_double(b), False]
    mn, mnx, mx, mxx = out
    return mn, mnx, mx, mxx


def _lex_item(b: bytes):
    c = b[:1]
    if c == b"+" and len(b) == 1:
        return ("+", None)
    if c == b"-" and len(b) == 1:
        return ("-", None)
    if c == b"[":
        return ("[", b[1:])
    if c == b"(":
        return ("(", b[1:])
    raise CommandError(RANGE_LEX)


def parse_lex_range(bmin: bytes, bmax: bytes):
    return _lex_item(bmin), _lex_item(bmax)


def rank_span(n: int, start: int, end: int):
    """Redis's rank sanitizing: negative from the end, clamp; None if empty."""
    if start < 0:
        start += n
    if end < 0:
        end += n
    if start < 0:
        start = 0
    if start > end or start >= n:
        return None
    if end >= n:
        end = n - 1
    return start, end


# A protocol-aware pair reply (RESP2 flat, RESP3 nested 2-element arrays),
# used as soon as server/protocol.py provides one under this name.
_PAIRS = getattr(_protocol, "Pairs", None)


def flat(pairs, withscores: bool) -> list:
    """``[(member, score)]`` as a reply: members only, or member/score pairs
    (flat RESP2 shape unless the protocol module offers `Pairs`; see the
    module docstring)."""
    if not withscores:
        return [m for m, _s in pairs]
    if _PAIRS is not None:
        return _PAIRS([m, s] for m, s in pairs)
    out = []
    for m, s in pairs:
        out.append(m)
        out.append(s)
    return out


# ------------------------------------------------------------------ ZADD family
def zadd_generic(db, key: bytes, opts: set, pairs: list, incr: bool):
    """zaddGenericCommand after parsing: returns the reply."""
    nx, xx, gt, lt, ch = ("nx" in opts, "xx" in opts, "gt" in opts, "lt" in opts,
                          "ch" in opts)
    z = _typed_write(db, key)
    created = False
    if z is None:
        if xx:
            return None if incr else 0
        z = ZSet()
        created = True
    added = updated = processed = 0
    score = None
    scores = z.scores
    # Many pairs (e.g. a million-member load): members new to the set are
    # collected and merged into the SortedList in one update() at the end;
    # ``fresh`` maps such a member to its slot in ``adds`` so a repeat of it
    # in the same command rewrites that slot instead of touching ``sl``.
    bulk = not incr and len(pairs) > 64
    adds: list = []
    fresh: dict = {}
    for s, m in pairs:
        cur = scores.get(m)
        if cur is not None:
            if nx:
                continue
            if incr:
                s = cur + s
                if math.isnan(s):
                    raise CommandError(NAN_SCORE)
            if (lt and s >= cur) or (gt and s <= cur):
                continue
            score = s
            processed += 1
            if s != cur:
                updated += 1
                i = fresh.get(m) if bulk else None
                if i is None:
                    z.set_score(m, s)
                else:
                    s += 0.0
                    scores[m] = s
                    adds[i] = (s, m)
        else:
            if xx:
                continue
            score = s
            processed += 1
            added += 1
            if bulk:
                s += 0.0
                scores[m] = s
                fresh[m] = len(adds)
                adds.append((s, m))
            else:
                z.set_score(m, s)
    if adds:
        z.sl.update(adds)
        if not z.big and (len(scores) > ZSET_MAX_LISTPACK_ENTRIES
                          or any(len(m) > ZSET_MAX_LISTPACK_VALUE for _s, m in adds)):
            z.big = True
    if created:
        if scores:
            db.set(key, z)
    elif added or updated:
        db.put(key, z)
    if (added or updated) and db.shard.notify_flags:
        # only here is it known whether anything changed (server/notify.py)
        db.notify(1 << 7, b"zincr" if incr else b"zadd", key)
    if incr:
        return score + 0.0 if processed else None
    return added + updated if ch else added


@command("zadd", -4, flags=("write", "denyoom", "fast"), keys=(1, 1, 1), group="sorted_set",
         summary="Adds one or more members to a sorted set, or updates their scores. Creates the key if it doesn't exist.",
         syntax="key [NX | XX] [GT | LT] [CH] [INCR] score member [score member ...]",
         since="1.2.0", complexity="O(log(N)) for each item added, where N is the number of elements in the sorted set.")
def cmd_zadd(db, argv):
    opts = set()
    i = 2
    n = len(argv)
    while i < n:
        o = argv[i].lower()
        if o in (b"nx", b"xx", b"ch", b"incr", b"gt", b"lt"):
            opts.add(o.decode())
            i += 1
        else:
            break
    elements = n - i
    if elements % 2 or not elements:
        raise CommandError(SYNTAX)
    elements //= 2
    if "nx" in opts and "xx" in opts:
        raise CommandError("ERR XX and NX options at the same time are not compatible")
    if ("gt" in opts and "nx" in opts) or ("lt" in opts and "nx" in opts) or \
            ("gt" in opts and "lt" in opts):
        raise CommandError("ERR GT, LT, and/or NX options at the same time are not compatible")
    incr = "incr" in opts
    if incr and elements > 1:
        raise CommandError("ERR INCR option supports a single increment-element pair")
    pairs = [(parse_score(argv[j]), argv[j + 1]) for j in range(i, n, 2)]
    return zadd_generic(db, argv[1], opts, pairs, incr)


@command("zincrby", 4, flags=("write", "denyoom", "fast"), keys=(1, 1, 1), group="sorted_set",
         summary="Increments the score of a member in a sorted set.",
         syntax="key increment member", since="1.2.0",
         complexity="O(log(N)) where N is the number of elements in the sorted set.")
def cmd_zincrby(db, argv):
    return zadd_generic(db, argv[1], set(), [(parse_score(argv[2]), argv[3])], True)


@command("zrem", -3, flags=("write", "fast"), keys=(1, 1, 1), group="sorted_set",
         summary="Removes one or more members from a sorted set. Deletes the sorted set if all members were removed.",
         syntax="key member [member ...]", since="1.2.0",
         complexity="O(M*log(N)) with N being the number of elements in the sorted set and M the number of elements to be removed.")
def cmd_zrem(db, argv):
    key = argv[1]
    z = _typed_write(db, key)
    if z is None:
        return 0
    n = 0
    for m in argv[2:]:
        n += z.remove(m)
    if n:
        _after_write(db, key, z)
    return n


@command("zcard", 2, flags=("readonly", "fast"), keys=(1, 1, 1), group="sorted_set",
         summary="Returns the number of members in a sorted set.", syntax="key", since="1.2.0")
def cmd_zcard(db, argv):
    z = _typed(db, argv[1])
    return 0 if z is None else len(z.scores)


@command("zscore", 3, flags=("readonly", "fast"), keys=(1, 1, 1), group="sorted_set",
         summary="Returns the score of a member in a sorted set.", syntax="key member",
         since="1.2.0")
def cmd_zscore(db, argv):
    z = _typed(db, argv[1])
    if z is None:
        return None
    return z.scores.get(argv[2])


@command("zmscore", -3, flags=("readonly", "fast"), keys=(1, 1, 1), group="sorted_set",
         summary="Returns the score of one or more members in a sorted set.",
         syntax="key member [member ...]", since="6.2.0",
         complexity="O(N) where N is the number of members being requested.")
def cmd_zmscore(db, argv):
    z = _typed(db, argv[1])
    if z is None:
        return [None] * (len(argv) - 2)
    get = z.scores.get
    return [get(m) for m in argv[2:]]


def _rank(db, argv, rev: bool):
    z = _typed(db, argv[1])
    if z is None:
        return None
    r = z.rank(argv[2])
    if r is None:
        return None
    return len(z.scores) - 1 - r if rev else r


@command("zrank", 3, flags=("readonly", "fast"), keys=(1, 1, 1), group="sorted_set",
         summary="Returns the index of a member in a sorted set ordered by ascending scores.",
         syntax="key member", since="2.0.0", complexity="O(log(N))")
def cmd_zrank(db, argv):
    return _rank(db, argv, False)


@command("zrevrank", 3, flags=("readonly", "fast"), keys=(1, 1, 1), group="sorted_set",
         summary="Returns the index of a member in a sorted set ordered by descending scores.",
         syntax="key member", since="2.0.0", complexity="O(log(N))")
def cmd_zrevrank(db, argv):
    return _rank(db, argv, True)


@command("zcount", 4, flags=("readonly", "fast"), keys=(1, 1, 1), group="sorted_set",
         summary="Returns the count of members in a sorted set that have scores within a range.",
         syntax="key min max", since="2.0.0", complexity="O(log(N)) with N being the number of elements in the sorted set.")
def cmd_zcount(db, argv):
    rng = parse_score_range(argv[2], argv[3])
    z = _typed(db, argv[1])
    if z is None:
        return 0
    lo, hi = z.score_span(rng)
    return hi - lo


@command("zlexcount", 4, flags=("readonly", "fast"), keys=(1, 1, 1), group="sorted_set",
         summary="Returns the number of members in a sorted set within a lexicographical range.",
         syntax="key min max", since="2.8.9", complexity="O(log(N)) with N being the number of elements in the sorted set.")
def cmd_zlexcount(db, argv):
    rng = parse_lex_range(argv[2], argv[3])
    z = _typed(db, argv[1])
    if z is None:
        return 0
    lo, hi = z.lex_span(rng)
    return hi - lo


# ------------------------------------------------------------------ ZRANGE family
class RangeSpec:
    """A parsed Z*RANGE*: kind ("rank" | "score" | "lex"), reverse, bounds,
    LIMIT offset/count (count -1: no limit), withscores."""
    __slots__ = ("kind", "rev", "start", "end", "rng", "offset", "limit", "withscores")


def parse_range(argv, base: int, kind: str | None, rev: bool | None, store: bool) -> RangeSpec:
    """zrangeGenericCommand's parsing.  ``base``: index of the min/start
    argument; ``kind``/``rev`` fixed by legacy commands (None: ZRANGE's
    options decide).  Raises with Redis's messages, in Redis's order."""
    withscores = False
    offset, limit = 0, -1
    i = base + 2
    n = len(argv)
    while i < n:
        o = argv[i].lower()
        left = n - i - 1
        if o == b"withscores" and not store:
            withscores = True
        elif o == b"limit" and left >= 2:
            offset = parse_int(argv[i + 1])
            limit = parse_int(argv[i + 2])
            i += 2
        elif rev is None and o == b"rev":
            rev = True
        elif kind is None and o == b"bylex":
            kind = "lex"
        elif kind is None and o == b"byscore":
            kind = "score"
        else:
            raise CommandError(SYNTAX)
        i += 1
    rev = bool(rev)
    kind = kind or "rank"
    if limit != -1 and kind == "rank":
        raise CommandError("ERR syntax error, LIMIT is only supported in combination "
                           "with either BYSCORE or BYLEX")
    if withscores and kind == "lex":
        raise CommandError("ERR syntax error, WITHSCORES not supported in combination with BYLEX")
    a, b = argv[base], argv[base + 1]
    if rev and kind != "rank":
        a, b = b, a         # range given as max, min
    spec = RangeSpec()
    spec.kind, spec.rev, spec.withscores = kind, rev, withscores
    spec.offset, spec.limit = offset, limit
    spec.start = spec.end = spec.rng = None
    if kind == "rank":
        spec.start = parse_int(a)
        spec.end = parse_int(b)
    elif kind == "score":
        spec.rng = parse_score_range(a, b)
    else:
        spec.rng = parse_lex_range(a, b)
    return spec


def range_pairs(z: ZSet, spec: RangeSpec) -> list:
    """The ``(member, score)`` pairs a range selects, in reply order."""
    sl = z.sl
    n = len(sl)
    if spec.kind == "rank":
        span = rank_span(n, spec.start, spec.end)
        if span is None:
            return []
        s, e = span
        if spec.rev:
            items = sl[n - 1 - e:n - s]
            items.reverse()
        else:
            items = sl[s:e + 1]
        return [(m, sc) for sc, m in items]
    lo, hi = z.score_span(spec.rng) if spec.kind == "score" else z.lex_span(spec.rng)
    offset, limit = spec.offset, spec.limit
    if offset < 0 or lo >= hi:
        return []
    if spec.rev:
        stop = hi - offset
        start = lo if limit < 0 else max(lo, stop - limit)
        if stop <= start:
            return []
        items = list(sl.islice(start, stop, reverse=True))
    else:
        start = lo + offset
        stop = hi if limit < 0 else min(hi, start + limit)
        if stop <= start:
            return []
        items = list(sl.islice(start, stop))
    return [(m, sc) for sc, m in items]


def _range_reply(db, argv, base, kind, rev):
    spec = parse_range(argv, base, kind, rev, False)
    z = _typed(db, argv[1])
    if z is None:
        return []
    return flat(range_pairs(z, spec), spec.withscores)


_RANGE_C = "O(log(N)+M) with N being the number of elements in the sorted set and M the number of elements returned."


@command("zrange", -4, flags=("readonly",), keys=(1, 1, 1), group="sorted_set",
         summary="Returns members in a sorted set within a range of indexes.",
         syntax="key start stop [BYSCORE | BYLEX] [REV] [LIMIT offset count] [WITHSCORES]",
         since="1.2.0", complexity=_RANGE_C)
def cmd_zrange(db, argv):
    return _range_reply(db, argv, 2, None, None)


@command("zrevrange", -4, flags=("readonly",), keys=(1, 1, 1), group="sorted_set",
         summary="Returns members in a sorted set within a range of indexes in reverse order.",
         syntax="key start stop [WITHSCORES]", since="1.2.0", complexity=_RANGE_C)
def cmd_zrevrange(db, argv):
    return _range_reply(db, argv, 2, "rank", True)


@command("zrangebyscore", -4, flags=("readonly",), keys=(1, 1, 1), group="sorted_set",
         summary="Returns members in a sorted set within a range of scores.",
         syntax="key min max [WITHSCORES] [LIMIT offset count]", since="1.0.5",
         complexity=_RANGE_C)
def cmd_zrangebyscore(db, argv):
    return _range_reply(db, argv, 2, "score", False)


@command("zrevrangebyscore", -4, flags=("readonly",), keys=(1, 1, 1), group="sorted_set",
         summary="Returns members in a sorted set within a range of scores in reverse order.",
         syntax="key max min [WITHSCORES] [LIMIT offset count]", since="2.2.0",
         complexity=_RANGE_C)
def cmd_zrevrangebyscore(db, argv):
    return _range_reply(db, argv, 2, "score", True)


@command("zrangebylex", -4, flags=("readonly",), keys=(1, 1, 1), group="sorted_set",
         summary="Returns members in a sorted set within a lexicographical range.",
         syntax="key min max [LIMIT offset count]", since="2.8.9", complexity=_RANGE_C)
def cmd_zrangebylex(db, argv):
    return _range_reply(db, argv, 2, "lex", False)


@command("zrevrangebylex", -4, flags=("readonly",), keys=(1, 1, 1), group="sorted_set",
         summary="Returns members in a sorted set within a lexicographical range in reverse order.",
         syntax="key max min [LIMIT offset count]", since="2.8.9", complexity=_RANGE_C)
def cmd_zrevrangebylex(db, argv):
    return _range_reply(db, argv, 2, "lex", True)


# ZRANGESTORE dst src min max ...: parse, then read src, then store on dst
@command("zrangestore", -5, flags=("write", "denyoom"), keys=(1, 2, 1), group="sorted_set",
         summary="Stores a range of members from sorted set in a key.",
         syntax="dst src min max [BYSCORE | BYLEX] [REV] [LIMIT offset count]",
         since="6.2.0", complexity="O(log(N)+M) with N being the number of elements in the sorted set and M the number of elements stored into the destination key.")
def cmd_zrangestore(db, argv):
    spec = parse_range(argv, 3, None, None, True)
    z = _typed(db, argv[2])
    pairs = range_pairs(z, spec) if z is not None else []
    return store_value(db, [b"", argv[1], new_zset(pairs) if pairs else None])


async def _cross_zrangestore(conn, argv):
    spec = parse_range(argv, 3, None, None, True)
    z, = await gather(conn, [argv[2]], b"zset")
    pairs = range_pairs(z, spec) if z is not None else []
    return await store_on(conn, argv[1], new_zset(pairs) if pairs else None)


cmd_zrangestore.spec.cross = _cross_zrangestore


# ------------------------------------------------------------------ ZREMRANGE*
def _zremrange(db, argv, kind):
    if kind == "rank":
        start, end = parse_int(argv[2]), parse_int(argv[3])
    elif kind == "score":
        rng = parse_score_range(argv[2], argv[3])
    else:
        rng = parse_lex_range(argv[2], argv[3])
    key = argv[1]
    z = _typed_write(db, key)
    if z is None:
        return 0
    sl = z.sl
    if kind == "rank":
        span = rank_span(len(sl), start, end)
        if span is None:
            return 0
        lo, hi = span[0], span[1] + 1
    elif kind == "score":
        lo, hi = z.score_span(rng)
    else:
        lo, hi = z.lex_span(rng)
    if lo >= hi:
        return 0
    for _sc, m in sl.islice(lo, hi):
        del z.scores[m]
    del sl[lo:hi]
    _after_write(db, key, z)
    return hi - lo


@command("zremrangebyrank", 4, flags=("write",), keys=(1, 1, 1), group="sorted_set",
         summary="Removes members in a sorted set within a range of indexes. Deletes the sorted set if all members were removed.",
         syntax="key start stop", since="2.0.0",
         complexity="O(log(N)+M) with N being the number of elements in the sorted set and M the number of elements removed by the operation.")
def cmd_zremrangebyrank(db, argv):
    return _zremrange(db, argv, "rank")


@command("zremrangebyscore", 4, flags=("write",), keys=(1, 1, 1), group="sorted_set",
         summary="Removes members in a sorted set within a range of scores. Deletes the sorted set if all members were removed.",
         syntax="key min max", since="1.2.0",
         complexity="O(log(N)+M) with N being the number of elements in the sorted set and M the number of elements removed by the operation.")
def cmd_zremrangebyscore(db, argv):
    return _zremrange(db, argv, "score")


@command("zremrangebylex", 4, flags=("write",), keys=(1, 1, 1), group="sorted_set",
         summary="Removes members in a sorted set within a lexicographical range. Deletes the sorted set if all members were removed.",
         syntax="key min max", since="2.8.9",
         complexity="O(log(N)+M) with N being the number of elements in the sorted set and M the number of elements removed by the operation.")
def cmd_zremrangebylex(db, argv):
    return _zremrange(db, argv, "lex")


# ------------------------------------------------------------------ pops
def pop_pairs(db, key: bytes, z: ZSet, count: int, maximum: bool) -> list:
    """Remove and return up to ``count`` lowest/highest pairs."""
    sl = z.sl
    k = min(count, len(sl))
    if maximum:
        items = sl[len(sl) - k:]
        items.reverse()
        del sl[len(sl) - k:]
    else:
        items = sl[:k]
        del sl[:k]
    for _sc, m in items:
        del z.scores[m]
    _after_write(db, key, z)
    return [(m, sc) for sc, m in items]


def _zpop(db, argv, maximum: bool):
    if len(argv) > 3:
        raise CommandError(SYNTAX)
    count = positive_count(argv[2]) if len(argv) == 3 else None
    z = _typed_write(db, argv[1])
    if z is None or count == 0:
        return []
    pairs = pop_pairs(db, argv[1], z, 1 if count is None else count, maximum)
    if count is None:
        return [pairs[0][0], pairs[0][1]]    # flat in RESP3 too (Redis 7.0)
    return flat(pairs, True)


@command("zpopmin", -2, flags=("write", "fast"), keys=(1, 1, 1), group="sorted_set",
         summary="Returns the lowest-scoring members from a sorted set after removing them. Deletes the sorted set if the last member was popped.",
         syntax="key [count]", since="5.0.0",
         complexity="O(log(N)*M) with N being the number of elements in the sorted set, and M being the number of elements popped.")
def cmd_zpopmin(db, argv):
    return _zpop(db, argv, False)


@command("zpopmax", -2, flags=("write", "fast"), keys=(1, 1, 1), group="sorted_set",
         summary="Returns the highest-scoring members from a sorted set after removing them. Deletes the sorted set if the last member was popped.",
         syntax="key [count]", since="5.0.0",
         complexity="O(log(N)*M) with N being the number of elements in the sorted set, and M being the number of elements popped.")
def cmd_zpopmax(db, argv):
    return _zpop(db, argv, True)


def _zmpop_args(argv):
    err = "ERR numkeys should be greater than 0"
    n = parse_int(argv[1], err)
    if n <= 0:
        raise CommandError(err)
    where = 2 + n
    if where >= len(argv):
        raise CommandError(SYNTAX)
    w = argv[where].upper()
    if w not in (b"MIN", b"MAX"):
        raise CommandError(SYNTAX)
    count = None
    j = where + 1
    while j < len(argv):
        if count is None and argv[j].upper() == b"COUNT" and j + 1 < len(argv):
            cerr = "ERR count should be greater than 0"
            count = parse_int(argv[j + 1], cerr)
            if count <= 0:
                raise CommandError(cerr)
            j += 2
        else:
            raise CommandError(SYNTAX)
    return argv[2:2 + n], w == b"MAX", count or 1


def _zmpop_keys(argv):
    try:
        n = int(argv[1])
    except ValueError:
        return []
    if n <= 0 or 2 + n > len(argv):
        return []
    return argv[2:2 + n]


def _zmpop_one(db, argv):
    """Pop from key argv[1] if it is a non-empty zset: the reply item, None
    if missing; WRONGTYPE raised."""
    key, maximum, count = argv[1], argv[2], argv[3]
    z = _typed_write(db, key)
    if z is None:
        return None
    r = [key, [[m, s] for m, s in pop_pairs(db, key, z, count, maximum)]]
    # ZMPOP's event (and a cross-shard ZMPOP's, a blocking pop's first try)
    db.notify(_ZSET_EVENTS, b"zpopmax" if maximum else b"zpopmin", key)
    return r


@command("zmpop", -4, flags=("write",), keys=(2, 2, 1), key_fn=_zmpop_keys, group="sorted_set",
         summary="Returns the highest- or lowest-scoring members from one or more sorted sets after removing them. Deletes the sorted set if the last member was popped.",
         syntax="numkeys key [key ...] MIN | MAX [COUNT count]", since="7.0.0",
         complexity="O(K) + O(M*log(N)) where K is the number of provided keys, N being the number of elements in the sorted set, and M being the number of elements popped.")
def cmd_zmpop(db, argv):
    keys, maximum, count = _zmpop_args(argv)
    for k in keys:
        r = _zmpop_one(db, [b"", k, maximum, count])
        if r is not None:
            return r
    return NULL_ARRAY


async def _cross_zmpop(conn, argv):
    keys, maximum, count = _zmpop_args(argv)
    for k in keys:
        r = raise_if_err(await conn.hop(conn.shard_of(k), _zmpop_one, [b"", k, maximum, count]))
        if r is not None:
            return r
    return NULL_ARRAY


cmd_zmpop.spec.cross = _cross_zmpop


# ------------------------------------------------------------------ ZRANDMEMBER
@command("zrandmember", -2, flags=("readonly",), keys=(1, 1, 1), group="sorted_set",
         summary="Returns one or more random members from a sorted set.",
         syntax="key [count [WITHSCORES]]", since="6.2.0",
         complexity="O(N) where N is the number of members returned")
def cmd_zrandmember(db, argv):
    n = len(argv)
    if n > 4 or (n == 4 and argv[3].lower() != b"withscores"):
        raise CommandError(SYNTAX)
    if n == 2:
        z = _typed(db, argv[1])
        if z is None:
            return None
        return z.sl[random.randrange(len(z.sl))][1]
    count = signed_count(argv[2])
    withscores = n == 4
    if withscores and count < -(((1 << 63) - 1) // 2):
        raise CommandError("ERR value is out of range")
    z = _typed(db, argv[1])
    if z is None or count == 0:
        return []
    sl = z.sl
    size = len(sl)
    if count < 0:
        idx = [random.randrange(size) for _ in range(-count)]
    elif count >= size:
        idx = range(size)
    else:
        idx = random.sample(range(size), count)
    return flat([(sl[i][1], sl[i][0]) for i in idx], withscores)


# ------------------------------------------------------------------ ZUNION / ZINTER / ZDIFF
def _zsetop_keys(first: int):
    def key_fn(argv):
        try:
            n = int(argv[first])
        except ValueError:
            return argv[1:2] if first == 2 else []
        if n <= 0 or first + 1 + n > len(argv):
            return argv[1:2] if first == 2 else []
        keys = argv[first + 1:first + 1 + n]
        return [argv[1]] + keys if first == 2 else keys
    return key_fn


class SetOp:
    __slots__ = ("op", "store", "card", "keys", "weights", "agg", "withscores", "limit",
                 "nkeys_index", "name")


def _setop_head(argv, op: str, store: bool, card: bool, name: str) -> SetOp:
    """numkeys and the key list (checked before anything else)."""
    p = SetOp()
    p.op, p.store, p.card, p.name = op, store, card, name
    ni = 2 if store else 1
    p.nkeys_index = ni
    n = parse_int(argv[ni])
    if n < 1:
        raise CommandError(f"ERR at least 1 input key is needed for '{name}' command")
    if n > len(argv) - ni - 1:
        raise CommandError(SYNTAX)
    p.keys = argv[ni + 1:ni + 1 + n]
    return p


def _setop_tail(argv, p: SetOp) -> None:
    """Options after the keys (parsed after the key type checks, as Redis does)."""
    n = len(p.keys)
    p.weights = [1.0] * n
    p.agg = "sum"
    p.withscores = False
    p.limit = 0
    j = p.nkeys_index + 1 + n
    remaining = len(argv) - j
    while remaining:
        o = argv[j].lower()
        if p.op != "diff" and not p.card and remaining >= n + 1 and o == b"weights":
            for i in range(n):
                p.weights[i] = parse_score(argv[j + 1 + i], "ERR weight value is not a float")
            j += n + 1
            remaining -= n + 1
        elif p.op != "diff" and not p.card and remaining >= 2 and o == b"aggregate":
            a = argv[j + 1].lower()
            if a not in (b"sum", b"min", b"max"):
                raise CommandError(SYNTAX)
            p.agg = a.decode()
            j += 2
            remaining -= 2
        elif remaining >= 1 and not p.store and not p.card and o == b"withscores":
            p.withscores = True
            j += 1
            remaining -= 1
        elif p.card and remaining >= 2 and o == b"limit":
            err = "ERR LIMIT can't be negative"
            p.limit = parse_int(argv[j + 1], err)
            if p.limit < 0:
                raise CommandError(err)
            j += 2
            remaining -= 2
        else:
            raise CommandError(SYNTAX)


def _items(v) -> dict:
    """member -> score of an input (sets count as score 1)."""
    if v is None:
        return {}
    if type(v) is RedisSet:
        return dict.fromkeys(v, 1.0)
    return v.scores


def _aggregate(agg: str, a: float, b: float) -> float:
    if agg == "sum":
        r = a + b
        return 0.0 if math.isnan(r) else r
    if agg == "min":
        return a if a < b else b
    return a if a > b else b


def setop_compute(p: SetOp, values: list):
    """zunionInterDiffGenericCommand's computation over fetched inputs:
    a dict member -> score (or the cardinality for ZINTERCARD)."""
    srcs = [(_items(v), w) for v, w in zip(values, p.weights)]
    agg = p.agg
    if p.op == "diff":
        first = srcs[0][0]
        out = {}
        for m, s in first.items():
            if not any(m in d for d, _w in srcs[1:]):
                out[m] = s
        return out
    # smallest first, as Redis sorts its sources by cardinality
    srcs.sort(key=lambda t: len(t[0]))
    if p.op == "inter":
        if not srcs[0][0]:
            return 0 if p.card else {}
        first, w0 = srcs[0]
        rest = srcs[1:]
        out = {}
        n = 0
        for m, s in first.items():
            score = s * w0
            if math.isnan(score):
                score = 0.0
            for d, w in rest:
                o = d.get(m)
                if o is None:
                    break
                v = o * w
                if math.isnan(v):
                    v = 0.0
                score = _aggregate(agg, score, v)
            else:
                if p.card:
                    n += 1
                    if p.limit and n >= p.limit:
                        return n
                else:
                    out[m] = score
        return n if p.card else out
    out = {}
    for d, w in srcs:
        for m, s in d.items():
            v = s * w
            if math.isnan(v):
                v = 0.0
            o = out.get(m)
            out[m] = v if o is None else _aggregate(agg, o, v)
    return out


def _setop_reply(p: SetOp, res):
    if p.card:
        return res
    if p.store:
        return None
    pairs = sorted(res.items(), key=lambda t: (t[1] + 0.0, t[0]))
    return flat([(m, s + 0.0) for m, s in pairs], p.withscores)


def _setop_handler(op: str, store: bool, card: bool, name: str):
    def handler(db, argv):
        p = _setop_head(argv, op, store, card, name)
        values = []
        for k in p.keys:
            v = db.get(k)
            if v is not None and type(v) not in (ZSet, RedisSet):
                raise CommandError(WRONGTYPE)
            values.append(v)
        _setop_tail(argv, p)
        res = setop_compute(p, values)
        if store:
            return store_value(db, [b"", argv[1], new_zset(res.items()) if res else None])
        return _setop_reply(p, res)

    async def cross(conn, argv):
        p = _setop_head(argv, op, store, card, name)
        values = await gather(conn, p.keys, b"zset-or-set")
        _setop_tail(argv, p)
        res = setop_compute(p, values)
        if store:
            return await store_on(conn, argv[1], new_zset(res.items()) if res else None)
        return _setop_reply(p, res)
    return handler, cross


def _declare_setop(name, op, store, card, summary, syntax, since, complexity):
    handler, cross = _setop_handler(op, store, card, name)
    handler.__name__ = f"cmd_{name}"
    first = 2 if store else 1
    command(name, -3 if not store else -4,
            flags=("write", "denyoom") if store else ("readonly",),
            # not (1, 1, 1): Client.dispatch routes first=last=1 by argv[1]
            # alone without asking key_fn; the key_fn gives the real keys
            keys=(1, 2, 1) if store else (2, 2, 1), key_fn=_zsetop_keys(first),
            group="sorted_set", summary=summary, syntax=syntax, since=since,
            complexity=complexity, cross=cross if store else remembering(cross))(handler)
    return handler


_U = "O(N)+O(M*log(M)) with N being the sum of the sizes of the input sorted sets, and M being the number of elements in the resulting sorted set."
_I = "O(N*K)+O(M*log(M)) worst case with N being the smallest input sorted set, K being the number of input sorted sets and M being the number of elements in the resulting sorted set."
_D = "O(L + (N-K)log(N)) worst case where L is the total number of elements in all the sets, N is the size of the first set, and K is the size of the result set."
_W = "[WEIGHTS weight [weight ...]] [AGGREGATE SUM | MIN | MAX]"
cmd_zunion = _declare_setop("zunion", "union", False, False, "Returns the union of multiple sorted sets.",
                            f"numkeys key [key ...] {_W} [WITHSCORES]", "6.2.0", _U)
cmd_zinter = _declare_setop("zinter", "inter", False, False, "Returns the intersect of multiple sorted sets.",
                            f"numkeys key [key ...] {_W} [WITHSCORES]", "6.2.0", _I)
cmd_zdiff = _declare_setop("zdiff", "diff", False, False, "Returns the difference between multiple sorted sets.",
                           "numkeys key [key ...] [WITHSCORES]", "6.2.0", _D)
cmd_zunionstore = _declare_setop("zunionstore", "union", True, False,
                                 "Stores the union of multiple sorted sets in a key.",
                                 f"destination numkeys key [key ...] {_W}", "2.0.0", _U)
cmd_zinterstore = _declare_setop("zinterstore", "inter", True, False,
                                 "Stores the intersect of multiple sorted sets in a key.",
                                 f"destination numkeys key [key ...] {_W}", "2.0.0", _I)
cmd_zdiffstore = _declare_setop("zdiffstore", "diff", True, False,
                                "Stores the difference of multiple sorted sets in a key.",
                                "destination numkeys key [key ...]", "6.2.0", _D)
cmd_zintercard = _declare_setop("zintercard", "inter", False, True,
                                "Returns the number of members of the intersect of multiple sorted sets.",
                                "numkeys key [key ...] [LIMIT limit]", "7.0.0",
                                "O(N*K) worst case with N being the smallest input sorted set, K being the number of input sorted sets.")


# ------------------------------------------------------------------ ZSCAN
def fmt_score(s: float) -> bytes:
    """Scores as ZSCAN sends them (Redis 7.0's d2string: %.17g)."""
    if s == 0:
        return b"0"
    return b"%.17g" % s


@command("zscan", -3, flags=("readonly",), keys=(1, 1, 1), group="sorted_set",
         summary="Iterates over members and scores of a sorted set.",
         syntax="key cursor [MATCH pattern] [COUNT count]", since="2.8.0",
         complexity="O(1) for every call. O(N) for a complete iteration, including enough command calls for the cursor to return back to 0. N is the number of elements inside the collection.")
def cmd_zscan(db, argv):
    cursor = parse_cursor(argv[2])
    z = _typed(db, argv[1])
    if z is None:
        return [b"0", []]
    pattern, count = scan_options(argv, 3)
    if not z.big:
        nxt, page = 0, [m for _s, m in z.sl]
    else:
        nxt, page = scan_members(z.scores, cursor, count, False)
    out = []
    scores = z.scores
    for m in filter_match(pattern, page):
        out.append(m)
        out.append(fmt_score(scores[m]))
    return [str(nxt).encode(), out]
