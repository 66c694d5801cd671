"""Generic key commands (Redis's db.c and expire.c).

Where they run
    Commands on one key (TYPE, EXPIRE, TTL, MOVE, OBJECT ENCODING...) run on
    the key's shard.  DEL/UNLINK/EXISTS/TOUCH fan out per shard and sum.
    RENAME/RENAMENX/COPY run on one shard when both keys live there and
    otherwise as a cross-shard coordinator holding both shards: the value is
    removed from (RENAME) or copied on (COPY) the source shard inside the hop
    on that shard, and stored with its deadline in the next hop on the
    destination shard, so no value is ever shared between shard threads.
    KEYS, RANDOMKEY and SWAPDB run on every shard.  A key lives on the same
    shard in every database, so MOVE and COPY ... DB stay on one shard.

SCAN cursors
    ``cursor = local * nshards + shard``; ``shard`` is the shard being scanned
    and ``local = token << 33 | mode << 32 | pos`` its position (``local == 0``:
    start this shard).  ``token`` names a snapshot of the shard's keys kept in
    ``ShardActor.scan_snapshots`` (a bounded LRU), so a call costs O(COUNT):

    * mode 0, the normal case: the snapshot is the key list taken when the
      scan reached this shard and ``pos`` is the next index in it;
    * mode 1, after the snapshot was evicted (more concurrent scans than the
      LRU holds) or for a foreign cursor: the snapshot is sorted by CRC32 and
      ``pos`` is a hash threshold (every key hashing below it was covered).
      A mode-1 snapshot can be rebuilt from the live keys at any time, so
      such a scan always progresses and never skips a key, at the price of a
      sort when its snapshot had to be rebuilt.

    Keys that are gone, expired, or fail MATCH/TYPE are filtered out of each
    chunk.  Every key present for the whole scan is in its shard's snapshot,
    so it is returned at least once (the switch from mode 0 to mode 1 restarts
    the shard, which can repeat keys but not miss one).
"""

from __future__ import annotations

import random
from bisect import bisect_left
from itertools import chain, islice
from zlib import crc32

from actors.keyspace import encoding_of, type_name
from server.protocol import OK, CommandError, Err, Status
from server import tracking
from server.table import Route, command, subcommand

from .util import INT64_MAX, SYNTAX, compile_glob, glob_match, parse_int

NO_SUCH_KEY = "ERR no such key"
SAME_OBJECT = "ERR source and destination objects are the same"
DB_RANGE = "ERR DB index is out of range"
INT32_MIN, INT32_MAX = -(1 << 31), (1 << 31) - 1


def _first_error(parts):
    for p in parts:
        if type(p) is Err:
            return p
    return None


_KEY_MISS = 1 << 11        # server/notify.py KEY_MISS (m)


def _read_notouch(db, key, notify: bool = True):
    """Redis's lookupKeyReadWithFlags(LOOKUP_NOTOUCH): expires lazily and
    counts keyspace hits/misses (a miss is a ``keymiss`` event unless
    ``notify`` is False: LOOKUP_NONOTIFY, OBJECT's), but leaves the key's
    access time alone."""
    v = db.peek(key)
    if v is None:
        db.misses += 1
        if notify and db.shard.notify_flags:
            db.notify(_KEY_MISS, b"keymiss", key)
    else:
        db.hits += 1
    return v


def _copy_value(v):
    # strings are immutable bytes; every other value class provides copy()
    return v if type(v) is bytes else v.copy()


def _store(db, key: bytes, value, deadline) -> None:
    """dbAdd + setExpire: the destination side of RENAME/COPY/MOVE."""
    db.set(key, value)
    if deadline is not None:
        db.set_expire(key, deadline)


# ------------------------------------------------------------------ DEL & co.
@command("del", -2, flags=("write",), keys=(1, -1, 1), group="generic",
         summary="Deletes one or more keys.", syntax="key ...", fanout="sum",
         complexity="O(N) where N is the number of keys that will be removed.")
def cmd_del(db, argv):
    n = 0
    for k in argv[1:]:
        n += db.delete(k)
    return n


@command("unlink", -2, flags=("write", "fast"), keys=(1, -1, 1), group="generic",
         summary="Asynchronously deletes one or more keys.", syntax="key ...", fanout="sum",
         since="4.0.0",
         complexity="O(1) for each key removed regardless of its size. Then the command "
                    "does O(N) work in a different thread in order to reclaim memory, where "
                    "N is the number of allocations the deleted objects where composed of.")
def cmd_unlink(db, argv):
    # Dropping the last reference frees the value; there is no lazy-free
    # thread to hand it to, so UNLINK is DEL with its own stats entry.
    n = 0
    for k in argv[1:]:
        n += db.delete(k)
    return n


@command("exists", -2, flags=("readonly", "fast"), keys=(1, -1, 1), group="generic",
         summary="Determines whether one or more keys exist.", syntax="key ...", fanout="sum",
         since="1.0.0", complexity="O(N) where N is the number of keys to check.")
def cmd_exists(db, argv):
    # a key named twice counts twice, as in Redis
    n = 0
    for k in argv[1:]:
        n += _read_notouch(db, k) is not None
    return n


@command("touch", -2, flags=("readonly", "fast"), keys=(1, -1, 1), group="generic",
         summary="Returns the number of existing keys out of those specified after updating "
                 "the time they were last accessed.", syntax="key ...", fanout="sum",
         since="3.2.1", complexity="O(N) where N is the number of keys that will be touched.")
def cmd_touch(db, argv):
    n = 0
    for k in argv[1:]:
        n += db.get(k) is not None
    return n


@command("type", 2, flags=("readonly", "fast"), keys=(1, 1, 1), group="generic",
         summary="Determines the type of value stored at a key.", syntax="key")
def cmd_type(db, argv):
    v = _read_notouch(db, argv[1])
    return Status(b"none" if v is None else type_name(v))


# ------------------------------------------------------------------ KEYS
def _concat(parts):
    err = _first_error(parts)
    if err is not None:
        return err
    out = []
    for p in parts:
        out.extend(p)
    return out


@command("keys", 2, flags=("readonly",), group="generic", route=Route.ALL, merge=_concat,
         summary="Returns all key names that match a pattern.", syntax="pattern",
         complexity="O(N) with N being the number of keys in the database, under the "
                    "assumption that the key names in the database and the given pattern "
                    "have limited length.")
def cmd_keys(db, argv):
    pat = argv[1]
    data = db.data
    if pat == b"*":
        keys = list(data)
    else:
        match = compile_glob(pat).match
        keys = [k for k in data if match(k) is not None]
    exp = db.expires
    if exp and keys:
        # like keysCommand: logically expired keys are skipped, not deleted
        now = db.now_ms
        keys = [k for k in keys if exp.get(k, now + 1) > now]
    return keys


# ------------------------------------------------------------------ SCAN
SCAN_SNAPSHOTS = 16          # per shard: concurrent scans before the LRU evicts
_TOKEN_BITS = 23             # token << 33 | mode << 32 | pos, times nshards (<= 256)
_POS_MASK = (1 << 32) - 1    # fits 64 bits
_HASHED = 1 << 32


def parse_scan_cursor(b: bytes) -> int:
    """Redis's parseScanCursorOrReply: strtoul, no leading space, the whole
    string consumed, no overflow.  Like strtoul, "" is 0 and "-n" wraps."""
    if b[:1].isspace():
        raise CommandError("ERR invalid cursor")
    s = b
    neg = False
    if s[:1] in (b"+", b"-"):
        neg = s[:1] == b"-"
        s = s[1:]
        if not s:
            raise CommandError("ERR invalid cursor")   # strtoul consumed nothing
    if s and not s.isdigit():
        raise CommandError("ERR invalid cursor")
    v = int(s) if s else 0
    if v >= 1 << 64:
        raise CommandError("ERR invalid cursor")
    return ((1 << 64) - v) % (1 << 64) if neg else v


def parse_scan_options(argv: list[bytes], start: int, with_type: bool = True):
    """(count, pattern or None, type or None) as scanGenericCommand parses them."""
    count, pat, typ = 10, None, None
    i, n = start, len(argv)
    while i < n:
        o = argv[i].lower()
        more = n - i >= 2
        if o == b"count" and more:
            count = parse_int(argv[i + 1])
            if count < 1:
                raise CommandError(SYNTAX)
        elif o == b"match" and more:
            pat = None if argv[i + 1] == b"*" else argv[i + 1]
        elif o == b"type" and with_type and more:
            typ = argv[i + 1].lower()
        else:
            raise CommandError(SYNTAX)
        i += 2
    return count, pat, typ


def _new_token(shard) -> int:
    shard.scan_token = shard.scan_token % ((1 << _TOKEN_BITS) - 1) + 1
    return shard.scan_token


def _hashed_snapshot(db):
    pairs = sorted((crc32(k), k) for k in db.data)
    return [h for h, _ in pairs], [k for _, k in pairs]


def scan_on_shard(db, argv):
    """One SCAN step on this shard: ``argv`` is ``[SCAN, local-cursor, opts...]``.
    Returns ``(next local cursor or 0 when this shard is done, keys, number
    of snapshot entries consumed)``."""
    local = int(argv[1])
    count, pat, typ = parse_scan_options(argv, 2)
    shard = db.shard
    snaps = shard.scan_snapshots
    token, hashed, pos = local >> 33, local & _HASHED, local & _POS_MASK
    snap = snaps.pop(token, None) if token else None
    if snap is not None and (snap[0] is not db or bool(snap[1]) != bool(hashed)):
        snap = None
    if snap is None:
        if not db.data:
            return 0, [], 0
        if local == 0:
            snap = (db, None, list(db.data))         # a fresh scan of this shard
        elif hashed:
            snap = (db, *_hashed_snapshot(db))       # rebuilt: pos stays valid
        else:
            # the index snapshot is lost: continue in hash order from the start
            snap = (db, *_hashed_snapshot(db))
            hashed, pos = _HASHED, 0
        token = _new_token(shard)
    _, hashes, keys = snap
    if hashes is None:
        chunk = keys[pos:pos + count]
        end = pos + len(chunk)
        nxt = end
    else:
        start = bisect_left(hashes, pos)
        end = min(start + count, len(keys))
        # never split keys of one hash over two calls: the cursor is a hash
        while end < len(keys) and hashes[end] == hashes[end - 1]:
            end += 1
        chunk = keys[start:end]
        nxt = hashes[end] if end < len(keys) else 0
    out = []
    match = compile_glob(pat).match if pat is not None and pat != b"*" else None
    for k in chunk:
        if match is not None and match(k) is None:
            continue
        v = db.peek(k)
        if v is None:
            continue
        if typ is not None and type_name(v) != typ:
            continue
        out.append(k)
    used = len(chunk)
    if end >= len(keys):
        return 0, out, used
    snaps[token] = snap          # most recently used goes last
    while len(snaps) > SCAN_SNAPSHOTS:
        del snaps[next(iter(snaps))]
    return token << 33 | hashed | nxt, out, used


@command("scan", -2, flags=("readonly",), group="generic", route=Route.CONN,
         summary="Iterates over the key names in the database.",
         syntax="cursor [MATCH pattern] [COUNT count] [TYPE type]", since="2.8.0",
         complexity="O(1) for every call. O(N) for a complete iteration, including enough "
                    "command calls for the cursor to return back to 0. N is the number of "
                    "elements inside the collection.")
async def cmd_scan(conn, argv):
    cursor = parse_scan_cursor(argv[1])
    count, pat, typ = parse_scan_options(argv, 2)   # errors before any shard is visited
    filters = []
    if pat is not None:
        filters += [b"MATCH", pat]
    if typ is not None:
        filters += [b"TYPE", typ]
    n = conn.nshards
    shard, local = cursor % n, cursor // n
    out = []
    budget = count
    while True:
        res = await conn.hop(shard, scan_on_shard,
                             [argv[0], b"%d" % local, b"COUNT", b"%d" % budget, *filters])
        if type(res) is Err:
            return res
        nxt, keys, used = res
        out += keys
        if nxt:
            return [b"%d" % (nxt * n + shard), out]
        shard += 1
        budget -= used
        if shard >= n:
            return [b"0", out]
        if budget <= 0:
            return [b"%d" % shard, out]
        # this shard is done with COUNT to spare: go on to the next one, so
        # small keyspaces finish in one call as in Redis
        local = 0


# ------------------------------------------------------------------ RANDOMKEY
def randomkey_on_shard(db, argv):
    """(a random live key or None, number of keys): the loop picks a shard
    weighted by size.  Expired keys met on the way are expired."""
    data = db.data
    if not data:
        return None, 0
    n = len(data)
    i = random.randrange(n)
    exp = db.expires
    if not exp:
        return next(islice(data, i, None)), n
    now = db.now_ms
    found = None
    dead = []
    for k in chain(islice(data, i, None), islice(data, i)):
        t = exp.get(k)
        if t is not None and t <= now:
            dead.append(k)
            continue
        found = k
        break
    for k in dead:
        db.peek(k)                 # expires it
    return found, len(data)


def _pick_random(parts):
    err = _first_error(parts)
    if err is not None:
        return err
    live = [(k, size) for k, size in parts if k is not None]
    if not live:
        return None
    return random.choices([k for k, _ in live], weights=[s for _, s in live])[0]


@command("randomkey", 1, flags=("readonly",), group="generic", route=Route.ALL,
         merge=_pick_random, summary="Returns a random key name from the database.", syntax="")
def cmd_randomkey(db, argv):
    return randomkey_on_shard(db, argv)


# ------------------------------------------------------------------ RENAME
def rename_generic(db, argv, nx: bool):
    """Both keys on this shard (renameGenericCommand)."""
    src, dst = argv[1], argv[2]
    v = db.lookup(src)
    if v is None:
        raise CommandError(NO_SUCH_KEY)
    if src == dst:
        return 0 if nx else OK
    deadline = db.expires.get(src)
    if db.lookup(dst) is not None:
        if nx:
            return 0
        db.pop(dst)   # replaced silently: no 'del' event
    db.pop(src)
    _store(db, dst, v, deadline)
    return 1 if nx else OK


def _exists_item(db, argv):
    return db.lookup(argv[1]) is not None


def _pop_item(db, argv):
    """Source half of a cross-shard RENAME: remove the key, hand over value
    and deadline (None if the key is missing)."""
    return db.pop(argv[1])


def _store_item(db, argv):
    """Destination half: ``[cmd, key, value, deadline or None, replace]``;
    returns False (nothing stored) if the key exists and replace is off."""
    key, value, deadline, replace = argv[1], argv[2], argv[3], argv[4]
    if db.lookup(key) is not None:
        if not replace:
            return False
        db.pop(key)   # replaced silently: no 'del' event
    _store(db, key, value, deadline)
    return True


def _check(v):
    if type(v) is Err:
        raise CommandError(bytes(v))
    return v


async def rename_cross(conn, argv):
    """RENAME/RENAMENX with the keys on two shards (both held by the caller)."""
    nx = argv[0].lower() == b"renamenx"
    src, dst = argv[1], argv[2]
    ss, ds = conn.shard_of(src), conn.shard_of(dst)
    if nx:
        if not _check(await conn.hop(ss, _exists_item, [argv[0], src])):
            raise CommandError(NO_SUCH_KEY)
        if _check(await conn.hop(ds, _exists_item, [argv[0], dst])):
            return 0
    moved = _check(await conn.hop(ss, _pop_item, [argv[0], src]))
    if moved is None:
        raise CommandError(NO_SUCH_KEY)
    value, deadline = moved
    _check(await conn.hop(ds, _store_item, [argv[0], dst, value, deadline, True]))
    return 1 if nx else OK


@command("rename", 3, flags=("write",), keys=(1, 2, 1), group="generic", cross=rename_cross,
         summary="Renames a key and overwrites the destination.", syntax="key newkey")
def cmd_rename(db, argv):
    return rename_generic(db, argv, False)


@command("renamenx", 3, flags=("write", "fast"), keys=(1, 2, 1), group="generic",
         cross=rename_cross, summary="Renames a key only when the target key name doesn't exist.",
         syntax="key newkey")
def cmd_renamenx(db, argv):
    return rename_generic(db, argv, True)


# ------------------------------------------------------------------ COPY / MOVE
def parse_int32(b: bytes) -> int:
    """getIntFromObjectOrReply: a long long first, then the int range."""
    i = parse_int(b)
    if not INT32_MIN <= i <= INT32_MAX:
        raise CommandError("ERR value is out of range, value must between "
                           "-2147483648 and 2147483647")
    return i


def _db_index(b: bytes, ndbs: int) -> int:
    i = parse_int32(b)
    if i < 0 or i >= ndbs:
        raise CommandError(DB_RANGE)
    return i


def parse_copy_options(argv, ndbs: int):
    """(destination db index or None, replace) as copyCommand parses them."""
    dbid, replace = None, False
    j, n = 3, len(argv)
    while j < n:
        o = argv[j].lower()
        if o == b"replace":
            replace = True
        elif o == b"db" and j + 1 < n:
            dbid = _db_index(argv[j + 1], ndbs)
            j += 1
        else:
            raise CommandError(SYNTAX)
        j += 1
    return dbid, replace


def _copy_out_item(db, argv):
    """Source half of a cross-shard COPY: a private copy made on this shard."""
    v = db.get(argv[1])
    if v is None:
        return None
    return _copy_value(v), db.expires.get(argv[1])


async def copy_cross(conn, argv):
    dbid, replace = parse_copy_options(argv, conn.server.config.databases)
    dst_db = conn.db if dbid is None else dbid
    src, dst = argv[1], argv[2]
    ss, ds = conn.shard_of(src), conn.shard_of(dst)
    got = _check(await conn.hop(ss, _copy_out_item, [argv[0], src]))
    if got is None:
        return 0
    value, deadline = got
    stored = _check(await conn.hop(ds, _store_item, [argv[0], dst, value, deadline, replace],
                                   db=dst_db))
    return 1 if stored else 0


@command("copy", -3, flags=("write", "denyoom"), keys=(1, 2, 1), group="generic",
         summary="Copies the value of a key to a new key.",
         syntax="source destination [DB destination-db] [REPLACE]", since="6.2.0",
         complexity="O(N) worst case for collections, where N is the number of nested items. "
                    "O(1) for string values.", cross=copy_cross)
def cmd_copy(db, argv):
    dbs = db.shard.dbs
    dbid, replace = parse_copy_options(argv, len(dbs))
    dst_db = db if dbid is None else dbs[dbid]
    src, dst = argv[1], argv[2]
    if dst_db is db and src == dst:
        raise CommandError(SAME_OBJECT)
    v = db.get(src)
    if v is None:
        return 0
    deadline = db.expires.get(src)
    if dst_db.lookup(dst) is not None:
        if not replace:
            return 0
        dst_db.pop(dst)   # replaced silently: no 'del' event
    _store(dst_db, dst, _copy_value(v), deadline)
    return 1




@command("move", 3, flags=("write", "fast"), keys=(1, 1, 1), group="generic",
         summary="Moves a key to another database.", syntax="key db")
def cmd_move(db, argv):
    dbs = db.shard.dbs
    dst = dbs[_db_index(argv[2], len(dbs))]
    if dst is db:
        raise CommandError(SAME_OBJECT)
    key = argv[1]
    v = db.lookup(key)
    if v is None:
        return 0
    deadline = db.expires.get(key)
    if dst.lookup(key) is not None:
        return 0
    db.pop(key)
    _store(dst, key, v, deadline)
    return 1


# ------------------------------------------------------------------ SWAPDB
def _db_arg(b: bytes, err: str) -> int:
    i = parse_int(b, err)
    if not INT32_MIN <= i <= INT32_MAX:
        raise CommandError(err)
    return i


def _all_ok(parts):
    return _first_error(parts) or OK


@command("swapdb", 3, flags=("write", "fast"), group="server", route=Route.ALL, merge=_all_ok,
         summary="Swaps two Redis databases.", syntax="index1 index2", since="4.0.0",
         complexity="O(N) where N is the count of clients watching or blocking on keys from "
                    "both databases.")
def cmd_swapdb(db, argv):
    a = _db_arg(argv[1], "ERR invalid first DB index")
    b = _db_arg(argv[2], "ERR invalid second DB index")
    dbs = db.shard.dbs
    if not (0 <= a < len(dbs) and 0 <= b < len(dbs)):
        raise CommandError(DB_RANGE)
    if a == b:
        return OK
    x, y = dbs[a], dbs[b]
    # WATCHes belong to a database number, not to its contents: a watched
    # key whose value changes (exists in either db) is touched, and the
    # watcher tables stay with their numbers (touchAllWatchedKeysInDb).
    for ks, other in ((x, y), (y, x)):
        for key in list(ks.watchers):
            if key in ks.data or key in other.data:
                ks.touched(key)
    # The contents move; the Keyspace objects stay with their numbers, so a
    # batch that already resolved its database (pipelined commands after
    # this SWAPDB in the same batch) writes to the right one, as Redis's
    # client keeps its db number.
    for f in ("data", "expires", "_heap", "expired_count"):
        va, vb = getattr(x, f), getattr(y, f)
        setattr(x, f, vb)
        setattr(y, f, va)
    mem = getattr(db.shard, "memory", None)
    if mem is not None:     # per-db-number size and LFU tables follow the contents
        for t in (mem.sizes, mem.lfu):
            t[a], t[b] = t[b], t[a]
    if db.shard.waiters:
        # blocked clients stay with their db numbers too; keys they wait on
        # may now hold data (scanDatabaseForReadyKeys, Redis 7.0)
        from .lists import signal_dbs
        signal_dbs(db.shard, (a, b))
    return OK


# ------------------------------------------------------------------ OBJECT
OBJECT_HELP = [
    b"OBJECT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    b"ENCODING <key>",
    b"    Return the kind of internal representation used in order to store the value",
    b"    associated with a <key>.",
    b"FREQ <key>",
    b"    Return the access frequency index of the <key>. The returned integer is",
    b"    proportional to the logarithm of the recent access frequency of the key.",
    b"IDLETIME <key>",
    b"    Return the idle time of the <key>, that is the approximated number of",
    b"    seconds elapsed since the last access to the key.",
    b"REFCOUNT <key>",
    b"    Return the number of references of the value associated with the specified",
    b"    <key>.",
    b"HELP",
    b"    Prints this help.",
]

OBJ_SHARED_REFCOUNT = (1 << 31) - 1
OBJ_SHARED_INTEGERS = 10000
LFU_INIT_VAL = 5
_LFU_TAIL = ("Please note that when switching between policies at runtime LRU and LFU data "
             "will take some time to adjust.")


@command("object", -2, group="generic", route=Route.CONN,
         summary="A container for object introspection commands.", syntax="", since="2.2.3",
         complexity="Depends on subcommand.")
def cmd_object(conn, argv):
    raise CommandError("ERR unknown subcommand")   # dispatch always picks a subcommand


@subcommand("object", "help", 2, flags=("loading", "stale"), route=Route.CONN,
            summary="Returns helpful text about the different subcommands.", syntax="",
            since="6.2.0")
def cmd_object_help(conn, argv):
    return list(OBJECT_HELP)


@subcommand("object", "encoding", 3, flags=("readonly",), keys=(2, 2, 1), route=Route.SHARD,
            summary="Returns the internal encoding of a Redis object.", syntax="key")
def cmd_object_encoding(db, argv):
    v = _read_notouch(db, argv[2], False)
    return None if v is None else encoding_of(v)


@subcommand("object", "refcount", 3, flags=("readonly",), keys=(2, 2, 1), route=Route.SHARD,
            summary="Returns the reference count of a value of a key.", syntax="key")
def cmd_object_refcount(db, argv):
    v = _read_notouch(db, argv[2], False)
    if v is None:
        return None
    # Redis stores 0..9999 as shared integer objects with a pinned refcount
    if type(v) is bytes and encoding_of(v) == b"int" and 0 <= int(v) < OBJ_SHARED_INTEGERS:
        return OBJ_SHARED_REFCOUNT
    return 1


def _idle_item(db, argv):
    """Seconds since the key's last access, or None if it is missing."""
    if _read_notouch(db, argv[2], False) is None:
        return None
    clock = db.shard.clock
    t = db.data.lru(argv[2])
    return 0 if t is None else max(0, clock - t)


def _lfu_policy(conn) -> bool:
    return "lfu" in str(conn.server.config.maxmemory_policy)


@subcommand("object", "idletime", 3, flags=("readonly",), keys=(2, 2, 1), route=Route.CONN,
            summary="Returns the time since the last access to a Redis object.", syntax="key")
@tracking.remembers
async def cmd_object_idletime(conn, argv):
    idle = _check(await tracking.hop(conn, conn.shard_of(argv[2]), _idle_item, argv))
    if idle is None:
        return None
    if _lfu_policy(conn):
        raise CommandError("ERR An LFU maxmemory policy is selected, idle time not tracked. "
                           + _LFU_TAIL)
    return idle


@subcommand("object", "freq", 3, flags=("readonly",), keys=(2, 2, 1), route=Route.CONN,
            summary="Returns the logarithmic access frequency counter of a Redis object.",
            syntax="key", since="4.0.0")
@tracking.remembers
async def cmd_object_freq(conn, argv):
    idle = _check(await tracking.hop(conn, conn.shard_of(argv[2]), _idle_item, argv))
    if idle is None:
        return None
    if not _lfu_policy(conn):
        raise CommandError("ERR An LFU maxmemory policy is not selected, access frequency "
                           "not tracked. " + _LFU_TAIL)
    # Shardis keeps one access clock per key, not Redis's probabilistic
    # counter: report the initial counter decayed by one per idle minute
    # (lfu-decay-time 1), which is what Redis reports for a key not accessed
    # since it was written.
    return max(0, LFU_INIT_VAL - idle // 60)


# ------------------------------------------------------------------ EXPIRE
EXPIRE_NX, EXPIRE_XX, EXPIRE_GT, EXPIRE_LT = 1, 2, 4, 8
_SECONDS_LIMIT = INT64_MAX // 1000       # C's LLONG_MAX / 1000 == -(LLONG_MIN / 1000)


def parse_expire_flags(argv) -> int:
    """parseExtendedExpireArgumentsOrReply."""
    flags = 0
    for opt in argv[3:]:
        o = opt.lower()
        if o == b"nx":
            flags |= EXPIRE_NX
        elif o == b"xx":
            flags |= EXPIRE_XX
        elif o == b"gt":
            flags |= EXPIRE_GT
        elif o == b"lt":
            flags |= EXPIRE_LT
        else:
            raise CommandError(b"ERR Unsupported option " + opt)
    if flags & EXPIRE_NX and flags & (EXPIRE_XX | EXPIRE_GT | EXPIRE_LT):
        raise CommandError("ERR NX and XX, GT or LT options at the same time are not compatible")
    if flags & EXPIRE_GT and flags & EXPIRE_LT:
        raise CommandError("ERR GT and LT options at the same time are not compatible")
    return flags


def expire_generic(db, argv, name: str, unit_ms: int, absolute: bool):
    """EXPIRE, PEXPIRE, EXPIREAT, PEXPIREAT (expireGenericCommand)."""
    flags = parse_expire_flags(argv)
    when = parse_int(argv[2])
    err = f"ERR invalid expire time in '{name}' command"
    if unit_ms == 1000:
        if when > _SECONDS_LIMIT or when < -_SECONDS_LIMIT:
            raise CommandError(err)
        when *= 1000
    base = 0 if absolute else db.now_ms
    if when > INT64_MAX - base:
        raise CommandError(err)
    when += base
    key = argv[1]
    if db.lookup(key) is None:
        return 0
    if flags:
        cur = db.expires.get(key)
        if flags & EXPIRE_NX and cur is not None:
            return 0
        if flags & EXPIRE_XX and cur is None:
            return 0
        # no TTL counts as an infinite one
        if flags & EXPIRE_GT and (cur is None or when <= cur):
            return 0
        if flags & EXPIRE_LT and cur is not None and when >= cur:
            return 0
    if when <= db.now_ms:
        db.delete(key)          # a deadline already passed deletes the key
    else:
        db.set_expire(key, when)
    return 1


_EXPIRE_SYNTAX = "[NX | XX | GT | LT]"


@command("expire", -3, flags=("write", "fast"), keys=(1, 1, 1), group="generic",
         summary="Sets the expiration time of a key in seconds.",
         syntax="key seconds " + _EXPIRE_SYNTAX)
def cmd_expire(db, argv):
    return expire_generic(db, argv, "expire", 1000, False)


@command("pexpire", -3, flags=("write", "fast"), keys=(1, 1, 1), group="generic",
         summary="Sets the expiration time of a key in milliseconds.",
         syntax="key milliseconds " + _EXPIRE_SYNTAX, since="2.6.0")
def cmd_pexpire(db, argv):
    return expire_generic(db, argv, "pexpire", 1, False)


@command("expireat", -3, flags=("write", "fast"), keys=(1, 1, 1), group="generic",
         summary="Sets the expiration time of a key to a Unix timestamp.",
         syntax="key unix-time-seconds " + _EXPIRE_SYNTAX, since="1.2.0")
def cmd_expireat(db, argv):
    return expire_generic(db, argv, "expireat", 1000, True)


@command("pexpireat", -3, flags=("write", "fast"), keys=(1, 1, 1), group="generic",
         summary="Sets the expiration time of a key to a Unix milliseconds timestamp.",
         syntax="key unix-time-milliseconds " + _EXPIRE_SYNTAX, since="2.6.0")
def cmd_pexpireat(db, argv):
    return expire_generic(db, argv, "pexpireat", 1, True)


def ttl_generic(db, key: bytes, ms: bool, absolute: bool) -> int:
    """TTL, PTTL, EXPIRETIME, PEXPIRETIME (ttlGenericCommand)."""
    if _read_notouch(db, key) is None:
        return -2
    t = db.expires.get(key)
    if t is None:
        return -1
    v = t if absolute else t - db.now_ms
    if v < 0:
        v = 0
    return v if ms else (v + 500) // 1000


@command("ttl", 2, flags=("readonly", "fast"), keys=(1, 1, 1), group="generic",
         summary="Returns the expiration time in seconds of a key.", syntax="key")
def cmd_ttl(db, argv):
    return ttl_generic(db, argv[1], False, False)


@command("pttl", 2, flags=("readonly", "fast"), keys=(1, 1, 1), group="generic",
         summary="Returns the expiration time in milliseconds of a key.", syntax="key",
         since="2.6.0")
def cmd_pttl(db, argv):
    return ttl_generic(db, argv[1], True, False)


@command("expiretime", 2, flags=("readonly", "fast"), keys=(1, 1, 1), group="generic",
         summary="Returns the expiration time of a key as a Unix timestamp.", syntax="key",
         since="7.0.0")
def cmd_expiretime(db, argv):
    return ttl_generic(db, argv[1], False, True)


@command("pexpiretime", 2, flags=("readonly", "fast"), keys=(1, 1, 1), group="generic",
         summary="Returns the expiration time of a key as a Unix milliseconds timestamp.",
         syntax="key", since="7.0.0")
def cmd_pexpiretime(db, argv):
    return ttl_generic(db, argv[1], True, True)


@command("persist", 2, flags=("write", "fast"), keys=(1, 1, 1), group="generic",
         summary="Removes the expiration time of a key.", syntax="key", since="2.2.0")
def cmd_persist(db, argv):
    if db.lookup(argv[1]) is None:
        return 0
    return int(db.persist(argv[1]))
