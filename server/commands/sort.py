"""SORT and SORT_RO (Redis's sort.c) over lists, sets and sorted sets.

BY and GET patterns name other keys (``weight_*``, ``object_*->field``),
known only once the elements are read, and those keys may live on any
shard.  So SORT runs on the loop as a coordinator:

1. one hop to the sort key's shard runs the whole command there (atomic, one
   message) as long as every key it touches -- pattern keys and the STORE
   destination -- is on that shard; the first key found elsewhere aborts the
   attempt before anything was written (`_Remote`);
2. otherwise the command runs again inside a transaction holding every shard
   (`in_tx`): copy the elements by a hop, resolve all pattern keys with one
   hop per shard, sort on the loop, store with a hop to the destination.
   Inside MULTI/EXEC the transaction already holds every shard (EXEC holds
   all shards for coroutine commands) and step 2 runs directly.

This is standalone Redis's behaviour (patterns may name any key), not Redis
Cluster's (which rejects BY/GET patterns in 7.0).  Hash dereferences
(``->field``) read any hash value with a dict-like ``get``.
"""

from __future__ import annotations

import asyncio
import math

from actors.keyspace import WRONGTYPE, type_name
from server.protocol import CommandError
from server.table import Route, command
from server.tracking import hop as tracked_hop, remembers

from .sets import RedisSet, raise_if_err
from .util import SYNTAX, parse_int
from .zsets import ZSet, _strtod

SCORE_ERR = "ERR One or more scores can't be converted into double"


class _Remote(Exception):
    """A key SORT needs is on another shard (local attempt only)."""


REMOTE = ("sort-remote",)


class SortOpts:
    __slots__ = ("key", "desc", "alpha", "start", "count", "store", "by", "dontsort", "gets")


def parse_sort(argv, readonly: bool) -> SortOpts:
    o = SortOpts()
    o.key = argv[1]
    o.desc = o.alpha = o.dontsort = False
    o.start, o.count = 0, -1
    o.store = o.by = None
    o.gets = []
    j = 2
    n = len(argv)
    while j < n:
        a = argv[j].lower()
        left = n - j - 1
        if a == b"asc":
            o.desc = False
        elif a == b"desc":
            o.desc = True
        elif a == b"alpha":
            o.alpha = True
        elif a == b"limit" and left >= 2:
            o.start = parse_int(argv[j + 1])
            o.count = parse_int(argv[j + 2])
            j += 2
        elif a == b"store" and left >= 1 and not readonly:
            o.store = argv[j + 1]
            j += 1
        elif a == b"by" and left >= 1:
            o.by = argv[j + 1]
            # a BY pattern without '*' (e.g. "nosort") means: don't sort, and
            # a later BY with a pattern does not undo it (as in Redis)
            if b"*" not in o.by:
                o.dontsort = True
            j += 1
        elif a == b"get" and left >= 1:
            o.gets.append(argv[j + 1])
            j += 1
        else:
            raise CommandError(SYNTAX)
        j += 1
    return o


def pattern_target(pattern: bytes, subst: bytes):
    """lookupKeyByPattern's key name and hash field: (key, field|None), or
    None when the pattern cannot name a key (no '*')."""
    p = pattern.find(b"*")
    if p < 0:
        return None
    f = pattern.find(b"->", p + 1)
    field = None
    if f >= 0 and f + 2 < len(pattern):
        field = pattern[f + 2:]
        post = pattern[p + 1:f]
    else:
        post = pattern[p + 1:]
    return pattern[:p] + subst + post, field


def resolve_value(v, field):
    """What a pattern reads from a key's value: a string, or a hash field;
    anything else reads as missing."""
    if v is None:
        return None
    if field is None:
        return v if type(v) is bytes else None
    if type_name(v) != b"hash":
        return None
    got = v.get(field)
    return got if got is None or type(got) is bytes else str(got).encode()


def elements_of(v, o: SortOpts) -> list[bytes]:
    """The elements to sort, in the value's native order (zsets by rank,
    reversed for DESC when not sorting, as Redis loads them)."""
    if v is None:
        return []
    t = type(v)
    if t is RedisSet:
        return v.members()
    if t is ZSet:
        items = [m for _s, m in v.sl]
        if o.dontsort and o.desc:
            items.reverse()
        return items
    if type_name(v) == b"list":
        items = list(v)
        if o.dontsort and o.desc:
            items.reverse()
        return items
    raise CommandError(WRONGTYPE)


def _score(b: bytes):
    """strtod as sort.c uses it (leading spaces and "" allowed); None on error."""
    s = b.lstrip(b" \t\n\v\f\r")
    if not s:
        return 0.0
    r = _strtod(s)
    if r is None or r[1] or math.isnan(r[0]):
        return None
    return r[0]


def sort_core(o: SortOpts, is_set: bool, elems: list, by_value):
    """sortCommandGeneric after loading: the selected elements in order.
    ``by_value(pattern, element)`` resolves a pattern for an element."""
    dontsort, alpha, by = o.dontsort, o.alpha, o.by
    if dontsort and is_set and o.store is not None:
        # a set has no native order: force a deterministic ALPHA sort
        dontsort, alpha, by = False, True, None
    n = len(elems)
    start = 0 if o.start < 0 else o.start
    end = n - 1 if o.count < 0 else start + o.count - 1
    if start >= n:
        start, end = n - 1, n - 2
    if end >= n:
        end = n - 1
    if dontsort:
        return elems[start:end + 1] if end >= start else []
    if alpha:
        if by is not None:
            keyed = [(by_value(by, e), e) for e in elems]
            # NULL compare objects sort first; equal keys keep native order
            keyed.sort(key=lambda t: (t[0] is not None, t[0] or b""), reverse=o.desc)
            out = [e for _k, e in keyed]
        else:
            out = sorted(elems, reverse=o.desc)
    else:
        keyed = []
        bad = False
        for e in elems:
            if by is not None:
                bv = by_value(by, e)
                if bv is None:
                    keyed.append((0.0, e))
                    continue
            else:
                bv = e
            sc = _score(bv)
            if sc is None:
                bad = True
                sc = 0.0
            keyed.append((sc, e))
        if bad:
            raise CommandError(SCORE_ERR)
        keyed.sort(reverse=o.desc)
        out = [e for _k, e in keyed]
    return out[start:end + 1] if end >= start else []


def output(o: SortOpts, selected: list, get_value, store: bool) -> list:
    """The reply items (or list items to store) with GET patterns applied."""
    if not o.gets:
        return list(selected)
    out = []
    for e in selected:
        for g in o.gets:
            v = e if g == b"#" else get_value(g, e)
            if v is None and store:
                v = b""
            out.append(v)
    return out


def _list_class():
    from actors.keyspace import _TYPE_NAMES
    for cls, name in _TYPE_NAMES.items():
        if name == b"list":
            return cls
    raise CommandError("ERR SORT STORE needs the list type, which is not available")


def store_list(db, argv):
    """Hop body / local step: store ``items`` as a list at ``key`` (deleted
    when empty, like Redis); returns the count."""
    key, items = argv[1], argv[2]
    if not items:
        db.delete(key)
        return 0
    db.set(key, _list_class()(items))
    if db.shard.notify_flags:       # keyspace event (server/notify.py)
        db.notify(1 << 4, b"sortstore", key)
    return len(items)


# ------------------------------------------------------------------ local attempt
def sort_local(db, argv):
    """Hop body on the sort key's shard: the whole SORT, or REMOTE if a key
    it needs lives on another shard (decided before any write)."""
    o, shard_of, me = argv[1], argv[2], argv[3]
    v = db.get(o.key)
    elems = elements_of(v, o)
    if o.store is not None and shard_of(o.store) != me:
        return REMOTE

    def value(pattern, e):
        t = pattern_target(pattern, e)
        if t is None:
            return None
        k, field = t
        if shard_of(k) != me:
            raise _Remote
        return resolve_value(db.lookup(k), field)
    try:
        selected = sort_core(o, type(v) is RedisSet, elems, value)
        items = output(o, selected, value, o.store is not None)
    except _Remote:
        return REMOTE
    if o.store is not None:
        return store_list(db, [b"", o.store, items])
    return items


# ------------------------------------------------------------------ coordinated
def _fetch_elements(db, argv):
    o = argv[1]
    v = db.get(o.key)
    return elements_of(v, o), type(v) is RedisSet


def _fetch_patterns(db, argv):
    """Hop body: resolve (key, field) targets of this shard."""
    return [resolve_value(db.lookup(k), f) for k, f in argv[1]]


async def sort_coordinated(conn, o: SortOpts):
    # (SORT_RO of a tracking client: the sort key is remembered with the read)
    elems, is_set = raise_if_err(await tracked_hop(conn, conn.shard_of(o.key), _fetch_elements,
                                                   [b"SORT", o]))
    patterns = ([o.by] if o.by is not None else []) + [g for g in o.gets if g != b"#"]
    targets = {}
    for p in patterns:
        for e in elems:
            t = pattern_target(p, e)
            if t is not None:
                targets[t] = None
    groups: dict[int, list] = {}
    for t in targets:
        groups.setdefault(conn.shard_of(t[0]), []).append(t)
    res = await asyncio.gather(*[conn.hop(s, _fetch_patterns, [b"SORT", ts])
                                 for s, ts in groups.items()])
    for (s, ts), vals in zip(groups.items(), res):
        for t, val in zip(ts, raise_if_err(vals)):
            targets[t] = val

    def value(pattern, e):
        t = pattern_target(pattern, e)
        return None if t is None else targets.get(t)
    selected = sort_core(o, is_set, elems, value)
    items = output(o, selected, value, o.store is not None)
    if o.store is not None:
        return raise_if_err(await conn.hop(conn.shard_of(o.store), store_list,
                                           [b"SORT", o.store, items]))
    return items


async def sort_generic(conn, argv, readonly: bool):
    from server.connection import CURRENT_TX, in_tx
    o = parse_sort(argv, readonly)
    if CURRENT_TX.get() is not None:
        return await sort_coordinated(conn, o)
    s = conn.shard_of(o.key)
    r = raise_if_err(await tracked_hop(conn, s, sort_local, [b"SORT", o, conn.shard_of, s]))
    if r is not REMOTE:
        return r
    return await in_tx(conn.server, range(conn.nshards), sort_coordinated(conn, o))


def _sort_keys(argv):
    """The sort key and, for SORT, the STORE destination (COMMAND GETKEYS)."""
    keys = [argv[1]]
    for i in range(2, len(argv) - 1):
        if argv[i].lower() == b"store":
            keys.append(argv[i + 1])
    return keys


_SYNTAX = "key [BY pattern] [LIMIT offset count] [GET pattern [GET pattern ...]] [ASC | DESC] [ALPHA]"
_C = "O(N+M*log(M)) where N is the number of elements in the list or set to sort, and M the number of returned elements. When the elements are not sorted, complexity is O(N)."


@command("sort", -2, flags=("write", "denyoom"), keys=(1, 1, 1), key_fn=_sort_keys,
         group="generic", route=Route.CONN, since="1.0.0", complexity=_C,
         summary="Sorts the elements in a list, a set, or a sorted set, optionally storing the result.",
         syntax=_SYNTAX + " [STORE destination]")
async def cmd_sort(conn, argv):
    return await sort_generic(conn, argv, False)


@command("sort_ro", -2, flags=("readonly",), keys=(1, 1, 1), group="generic",
         route=Route.CONN, since="7.0.0", complexity=_C,
         summary="Returns the sorted elements of a list, a set, or a sorted set.",
         syntax=_SYNTAX)
@remembers      # its reads go through tracking.hop
async def cmd_sort_ro(conn, argv):
    return await sort_generic(conn, argv, True)
