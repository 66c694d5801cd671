"""String commands (Redis's t_string.c).  Values are ``bytes``.

Multi-key commands whose keys live on several shards: MGET/MSET split per
shard in one step (atomic by the global send order, docs/transactions.md);
MSETNX and LCS run as coordinators holding their shards.
"""

from __future__ import annotations

import asyncio
import re
from fractions import Fraction

from actors.shard import BULK_HDR, FLAT_RUNNERS, NHDR, RUNNERS
import actors.shard as _shard     # the C loops read per run (tests swap them)
from server.protocol import OK, CommandError, Err
from server import tracking
from server.table import command

from .util import INT64_MAX, INT64_MIN, NOT_INT, SYNTAX, parse_int

MAX_STRING = 512 * 1024 * 1024
TOO_BIG = "ERR string exceeds maximum allowed size (proto-max-bulk-len)"
WRONGTYPE = "WRONGTYPE Operation against a key holding the wrong kind of value"


def _expire_arg(b: bytes, name: str, unit_ms: int, absolute: bool, now_ms: int) -> int:
    """getExpireMillisecondsOrReply: the absolute deadline in ms.  C adds
    ``now`` to a relative time in int64; an overflow wraps negative and is
    rejected, which is what the ``> INT64_MAX`` test reproduces."""
    v = parse_int(b)
    if v <= 0 or (unit_ms == 1000 and v > INT64_MAX // 1000):
        raise CommandError(f"ERR invalid expire time in '{name}' command")
    ms = v * unit_ms
    if not absolute:
        ms += now_ms
    if ms > INT64_MAX:
        raise CommandError(f"ERR invalid expire time in '{name}' command")
    return ms


# parseExtendedStringArgumentsOrReply: which options each one excludes.  A
# repeated option is accepted (the last EX/PX/... value wins), exactly as the
# C flag tests allow; only the combinations listed here are syntax errors.
_EXPIRE_OPTS = (b"EX", b"PX", b"EXAT", b"PXAT")
_EXCLUDES = {
    b"NX": (b"XX",), b"XX": (b"NX",), b"GET": (),
    b"KEEPTTL": (b"PERSIST",) + _EXPIRE_OPTS,
    b"PERSIST": (b"KEEPTTL",) + _EXPIRE_OPTS,
    b"EX": (b"KEEPTTL", b"PERSIST", b"EXAT", b"PX", b"PXAT"),
    b"PX": (b"KEEPTTL", b"PERSIST", b"EX", b"EXAT", b"PXAT"),
    b"EXAT": (b"KEEPTTL", b"PERSIST", b"EX", b"PX", b"PXAT"),
    b"PXAT": (b"KEEPTTL", b"PERSIST", b"EX", b"EXAT", b"PX"),
}
_SET_ONLY = (b"NX", b"XX", b"GET", b"KEEPTTL")


def parse_ext_args(opts: list[bytes], for_set: bool):
    """SET / GETEX options -> (flags, expire option or None, its raw value).

    Only the syntax is checked here; Redis validates the expire value later
    (after GETEX's key lookup, before SET's GET), see the callers."""
    flags: set[bytes] = set()
    expire = raw = None
    i, n = 0, len(opts)
    while i < n:
        o = opts[i].upper()
        ex = _EXCLUDES.get(o)
        if (ex is None or flags.intersection(ex)
                or (o in _SET_ONLY and not for_set) or (o == b"PERSIST" and for_set)
                or (o in _EXPIRE_OPTS and i + 1 >= n)):
            raise CommandError(SYNTAX)
        flags.add(o)
        if o in _EXPIRE_OPTS:
            expire, raw = o, opts[i + 1]
            i += 1
        i += 1
    return flags, expire, raw


def _deadline(expire: bytes, raw: bytes, name: str, now_ms: int) -> int:
    return _expire_arg(raw, name, 1000 if expire in (b"EX", b"EXAT") else 1,
                       expire in (b"EXAT", b"PXAT"), now_ms)


def lookup_write_str(db, key: bytes):
    """lookupKeyWrite + checkType(OBJ_STRING): the string value or None,
    WRONGTYPE for another type; like Redis's write path it counts no
    keyspace hit or miss (INFO stats)."""
    v = db.lookup(key)
    if v is None or type(v) is bytes:
        return v
    raise CommandError(WRONGTYPE)


def set_generic(db, key: bytes, value: bytes, opts: list[bytes], name: str = "set"):
    """SET with its option family; shared by SET, SETEX and PSETEX.

    Redis's order of checks: option syntax, the expire value, then GET's
    type check (WRONGTYPE even when NX/XX then skips the write), then NX/XX.
    A deadline already in the past (EXAT/PXAT) still writes: the key is
    stored and immediately gone, which GET sees as the old value."""
    flags, expire, raw = parse_ext_args(opts, True)
    deadline = _deadline(expire, raw, name, db.now_ms) if expire is not None else None
    get = b"GET" in flags
    old = db.get(key) if get else db.lookup(key)   # lookupKeyWrite counts no hit/miss
    if get and old is not None and type(old) is not bytes:
        raise CommandError(WRONGTYPE)
    if (b"NX" in flags and old is not None) or (b"XX" in flags and old is None):
        return old if get else None
    db.set(key, value, keep_ttl=b"KEEPTTL" in flags)
    if deadline is not None:
        if deadline <= db.now_ms:
            db.delete(key)
        else:
            db.set_expire(key, deadline)
    return old if get else OK


@command("get", 2, flags=("readonly", "fast"), keys=(1, 1, 1), group="string",
         summary="Returns the string value of a key.", syntax="key")
def cmd_get(db, argv):
    return db.get_str(argv[1])


@command("set", -3, flags=("write", "denyoom"), keys=(1, 1, 1), group="string",
         summary="Sets the string value of a key, ignoring its type. The key is created if it doesn't exist.",
         syntax="key value [NX | XX] [GET] [EX seconds | PX milliseconds | "
                "EXAT unix-time-seconds | PXAT unix-time-milliseconds | KEEPTTL]")
def cmd_set(db, argv):
    if len(argv) == 3:
        db.set(argv[1], argv[2])
        return OK
    return set_generic(db, argv[1], argv[2], argv[3:])


# Runs of plain GETs and SETs (a pipeline of them): executed by the shard in
# one loop each, see RUNNERS in actors/shard.py.  Each stops at the first
# command it would not answer exactly as cmd_get/cmd_set do, which then runs
# on its own.


def run_get(db, items, i, replies, proto):
    """GET of a string or a missing key; stops at a key with a TTL that is
    due (lazy expiry), a value of another type, or one of NHDR (1 KiB) or
    more bytes.  The loop below runs in C (actors/_runs.c, run_get) when
    the extension is built; this Python loop is its fallback and its
    specification (tests/test_runs_c.py compares the two)."""
    c_run = _shard.C_RUN_GET
    if c_run is not None:
        sh = db.shard
        j, hits = c_run(db.data, db.expires, items, i, replies, proto == 2,
                        sh.now_ms, cmd_get)
        db.hits += hits
        db.misses += j - i - hits
        return j
    touch = db.data.touch
    expires = db.expires
    now = db.shard.now_ms
    null = b"$-1\r\n" if proto == 2 else b"_\r\n"
    append = replies.append
    n = len(items)
    j = i
    hits = 0
    # no prefetching here (the C loop's): this loop runs without the
    # extension or on the Python table (SHARDIS_PURE_TABLE=1)
    while j < n:
        item = items[j]
        if item[0] is not cmd_get or item[2] is not None:
            break
        key = item[1][1]
        # the read's LRU stamp comes first; where the loop stops, the
        # per-command path stamps the key too (or expires it)
        v = touch(key)
        if v is None:
            append(null)
        else:
            if type(v) is not bytes or len(v) >= NHDR:
                break
            if expires:
                t = expires.get(key)
                if t is not None and t <= now:
                    break
            hits += 1
            append(BULK_HDR[len(v)] + v + b"\r\n")
        j += 1
    db.hits += hits
    db.misses += j - i - hits
    return j


OK_REPLY = b"+OK\r\n"      # SET's reply in both protocols


def run_set(db, items, i, replies, proto):
    """SET key value without options; stops at once while a client blocks
    on a key or a connection WATCHes one of this database (Keyspace.set's
    signal_ready and touched are per key).  The loop is in C when the
    extension is built (actors/_runs.c, run_set); the Python one below is
    its fallback and specification."""
    if db.shard.waiters or db.watchers:
        return i
    c_run = _shard.C_RUN_SET
    if c_run is not None:
        return c_run(db.data, db.expires, items, i, replies, cmd_set, OK_REPLY)
    data = db.data
    expires = db.expires
    append = replies.append
    n = len(items)
    j = i
    # no prefetching here, as in run_get's Python loop
    while j < n:
        item = items[j]
        argv = item[1]
        if item[0] is not cmd_set or item[2] is not None or len(argv) != 3:
            break
        key = argv[1]
        data[key] = argv[2]             # stamps the key's LRU clock too
        if expires and key in expires:
            del expires[key]
        append(OK_REPLY)
        j += 1
    return j


def run_get_flat(db, flat, width, replies, proto):
    """run_get over a flat run of GETs (actors/messages.py, Batch; width
    1): the number of requests answered from the first; the per-command
    path takes the next one.  In C when built; else exactly run_get over
    the run's ordinary items."""
    c_run = _shard.C_RUN_GET_FLAT
    if c_run is not None:
        k, hits = c_run(db.data, db.expires, flat, width, replies, proto == 2,
                        db.shard.now_ms)
        db.hits += hits
        db.misses += k - hits
        return k
    name = flat[0]
    return run_get(db, [(cmd_get, [name, key], None, 0) for key in flat[1:]], 0, replies, proto)


def run_set_flat(db, flat, width, replies, proto):
    """run_set over a flat run of plain SETs (width 2), as run_get_flat."""
    if db.shard.waiters or db.watchers:
        return 0
    c_run = _shard.C_RUN_SET_FLAT
    if c_run is not None:
        return c_run(db.data, db.expires, flat, width, replies, OK_REPLY)
    name = flat[0]
    return run_set(db, [(cmd_set, [name, flat[r], flat[r + 1]], None, 0)
                        for r in range(1, len(flat) - 1, 2)], 0, replies, proto)


RUNNERS[cmd_get] = run_get
RUNNERS[cmd_set] = run_set
FLAT_RUNNERS[cmd_get] = run_get_flat
FLAT_RUNNERS[cmd_set] = run_set_flat


@command("mget", -2, flags=("readonly", "fast"), keys=(1, -1, 1), group="string",
         summary="Atomically returns the string values of one or more keys.", syntax="key ...",
         complexity="O(N) where N is the number of keys to retrieve.", fanout="concat")
def cmd_mget(db, argv):
    out = []
    for k in argv[1:]:
        v = db.get(k)
        out.append(v if type(v) is bytes else None)
    return out


@command("mset", -3, flags=("write", "denyoom"), keys=(1, -1, 2), group="string",
         summary="Atomically creates or modifies the string values of one or more keys.",
         syntax="key value [key value ...]", complexity="O(N) where N is the number of keys to set.",
         fanout="pairs")
def cmd_mset(db, argv):
    if len(argv) % 2 == 0:
        raise CommandError("ERR wrong number of arguments for 'mset' command")
    for i in range(1, len(argv), 2):
        db.set(argv[i], argv[i + 1])
    return OK


def _check_size(n: int) -> None:
    if n > MAX_STRING:
        raise CommandError(TOO_BIG)


@command("setnx", 3, flags=("write", "denyoom", "fast"), keys=(1, 1, 1), group="string",
         summary="Set the string value of a key only when the key doesn't exist.",
         syntax="key value")
def cmd_setnx(db, argv):
    if db.lookup(argv[1]) is not None:
        return 0
    db.set(argv[1], argv[2])
    return 1


@command("setex", 4, flags=("write", "denyoom"), keys=(1, 1, 1), group="string", since="2.0.0",
         summary="Sets the string value and expiration time of a key. Creates the key if it doesn't exist.",
         syntax="key seconds value")
def cmd_setex(db, argv):
    return set_generic(db, argv[1], argv[3], [b"EX", argv[2]], "setex")


@command("psetex", 4, flags=("write", "denyoom"), keys=(1, 1, 1), group="string", since="2.6.0",
         summary="Sets both string value and expiration time in milliseconds of a key. The key is created if it doesn't exist.",
         syntax="key milliseconds value")
def cmd_psetex(db, argv):
    return set_generic(db, argv[1], argv[3], [b"PX", argv[2]], "psetex")


@command("getset", 3, flags=("write", "denyoom", "fast"), keys=(1, 1, 1), group="string",
         summary="Returns the previous string value of a key after setting it to a new value.",
         syntax="key value")
def cmd_getset(db, argv):
    old = db.get_str(argv[1])
    db.set(argv[1], argv[2])
    return old


@command("getdel", 2, flags=("write", "fast"), keys=(1, 1, 1), group="string", since="6.2.0",
         summary="Returns the string value of a key after deleting the key.", syntax="key")
def cmd_getdel(db, argv):
    v = db.get_str(argv[1])
    if v is not None:
        db.delete(argv[1])
    return v


@command("getex", -2, flags=("write", "fast"), keys=(1, 1, 1), group="string", since="6.2.0",
         summary="Returns the string value of a key after setting its expiration time.",
         syntax="key [EX seconds | PX milliseconds | EXAT unix-time-seconds | "
                "PXAT unix-time-milliseconds | PERSIST]")
def cmd_getex(db, argv):
    # Redis order: option syntax, then a missing key replies nil and another
    # type WRONGTYPE, then the expire value is validated
    key = argv[1]
    flags, expire, raw = parse_ext_args(argv[2:], False)
    v = db.get_str(key)
    if v is None:
        return None
    if expire is not None:
        deadline = _deadline(expire, raw, "getex", db.now_ms)
        if deadline <= db.now_ms:
            db.delete(key)
        else:
            db.set_expire(key, deadline)
    elif b"PERSIST" in flags:
        db.persist(key)
    return v


def msetnx_local(db, argv):
    """MSETNX on one shard: nothing is written if any key exists."""
    if len(argv) % 2 == 0:
        raise CommandError("ERR wrong number of arguments for 'msetnx' command")
    for i in range(1, len(argv), 2):
        if db.lookup(argv[i]) is not None:
            return 0
    for i in range(1, len(argv), 2):
        db.set(argv[i], argv[i + 1])
    return 1


def _any_exists(db, argv):
    return any(db.lookup(k) is not None for k in argv[1:])


async def msetnx_cross(conn, argv):
    """Keys on several shards (held by the transaction): check all, then write."""
    if len(argv) % 2 == 0:
        raise CommandError("ERR wrong number of arguments for 'msetnx' command")
    from server.notify import events_on
    from server.router import group_keys
    keys = argv[1::2]
    groups = group_keys(conn, keys)
    found = await asyncio.gather(*[conn.hop(s, _any_exists, [b"EXISTS"] + [keys[i] for i in pos])
                                   for s, pos in groups])
    if any(found):
        return 0
    ordered = events_on(conn.server)    # then the set events come in argument order
    writes = []
    for s, pos in (group_keys(conn, keys, True) if ordered else groups):
        a = [b"MSET"]
        for i in pos:
            a += [argv[1 + 2 * i], argv[2 + 2 * i]]
        if ordered:
            await conn.hop(s, cmd_mset, a)
        else:
            writes.append(conn.hop(s, cmd_mset, a))
    await asyncio.gather(*writes)
    return 1


@command("msetnx", -3, flags=("write", "denyoom"), keys=(1, -1, 2), group="string",
         since="1.0.1", summary="Atomically modifies the string values of one or more keys only when all keys don't exist.",
         syntax="key value [key value ...]", complexity="O(N) where N is the number of keys to set.",
         cross=msetnx_cross)
def cmd_msetnx(db, argv):
    return msetnx_local(db, argv)


@command("append", 3, flags=("write", "denyoom", "fast"), keys=(1, 1, 1), group="string",
         since="2.0.0", summary="Appends a string to the value of a key. Creates the key if it doesn't exist.",
         syntax="key value")
def cmd_append(db, argv):
    key = argv[1]
    v = lookup_write_str(db, key)
    if v is None:
        db.set(key, argv[2])
        return len(argv[2])
    _check_size(len(v) + len(argv[2]))
    nv = v + argv[2]
    db.put(key, nv)
    return len(nv)


@command("strlen", 2, flags=("readonly", "fast"), keys=(1, 1, 1), group="string", since="2.2.0",
         summary="Returns the length of a string value.", syntax="key")
def cmd_strlen(db, argv):
    v = db.get_str(argv[1])
    return 0 if v is None else len(v)


def incr_generic(db, key: bytes, delta: int) -> int:
    v = lookup_write_str(db, key)
    if v is None:
        cur = 0
    else:
        cur = parse_int(v) if len(v) <= 20 else _raise(NOT_INT)
    if (delta < 0 and cur < 0 and delta < INT64_MIN - cur) or \
       (delta > 0 and cur > 0 and delta > INT64_MAX - cur):
        raise CommandError("ERR increment or decrement would overflow")
    n = cur + delta
    if v is None:
        db.set(key, b"%d" % n)
    else:
        db.put(key, b"%d" % n)
    return n


def _raise(msg):
    raise CommandError(msg)


@command("incr", 2, flags=("write", "denyoom", "fast"), keys=(1, 1, 1), group="string",
         summary="Increments the integer value of a key by one. Uses 0 as initial value if the key doesn't exist.",
         syntax="key")
def cmd_incr(db, argv):
    return incr_generic(db, argv[1], 1)


@command("decr", 2, flags=("write", "denyoom", "fast"), keys=(1, 1, 1), group="string",
         summary="Decrements the integer value of a key by one. Uses 0 as initial value if the key doesn't exist.",
         syntax="key")
def cmd_decr(db, argv):
    return incr_generic(db, argv[1], -1)


@command("incrby", 3, flags=("write", "denyoom", "fast"), keys=(1, 1, 1), group="string",
         summary="Increments the integer value of a key by a number. Uses 0 as initial value if the key doesn't exist.",
         syntax="key increment")
def cmd_incrby(db, argv):
    return incr_generic(db, argv[1], parse_int(argv[2]))


@command("decrby", 3, flags=("write", "denyoom", "fast"), keys=(1, 1, 1), group="string",
         summary="Decrements a number from the integer value of a key. Uses 0 as initial value if the key doesn't exist.",
         syntax="key decrement")
def cmd_decrby(db, argv):
    d = parse_int(argv[2])
    if d == INT64_MIN:
        raise CommandError("ERR decrement would overflow")
    return incr_generic(db, argv[1], -d)


# -- INCRBYFLOAT: Redis computes in x87 long double (64-bit mantissa, 15-bit
# exponent) and prints with "%.17Lf" minus trailing zeros.  We reproduce that
# exactly with rationals: parse like strtold (decimal and hex, correctly
# rounded), add, round again, print the exact value rounded to 17 decimals.
# Invariant: every finite value handled here is a Fraction that is exactly
# representable as a long double; a parsed infinity is None.  hashes.py
# (HINCRBYFLOAT) shares these helpers.
_DEC_RE = re.compile(rb"([+-]?)(?:(\d+)(?:\.(\d*))?|\.(\d+))(?:[eE]([+-]?\d+))?\Z")
_HEX_RE = re.compile(rb"([+-]?)0[xX](?:([0-9a-fA-F]+)(?:\.([0-9a-fA-F]*))?|\.([0-9a-fA-F]+))"
                     rb"(?:[pP]([+-]?\d+))?\Z")
_INF_RE = re.compile(rb"[+-]?(inf|infinity)\Z", re.I)
_LD_MANT = 64                 # significand bits, explicit integer bit
_LD_EMAX = 16384              # values >= 2**16384 overflow
_LD_QMIN = -16445             # exponent of the smallest subnormal
_LD_MAX = Fraction(2 ** _LD_EMAX)
MAX_LONG_DOUBLE_CHARS = 5 * 1024
NOT_FLOAT = "ERR value is not a valid float"


class _Range(Exception):
    """strtold's ERANGE with an infinite or zero result (string2ld rejects it)."""


def _round_ld(num: int, den: int, neg: bool):
    """The long double nearest to num/den (> 0), round-half-even, with
    subnormals; raises _Range on overflow to infinity."""
    e = num.bit_length() - den.bit_length()
    if (num << max(0, -e)) < (den << max(0, e)):
        e -= 1                               # now 2**e <= num/den < 2**(e+1)
    q = max(e - (_LD_MANT - 1), _LD_QMIN)    # exponent of one unit in the last place
    if q >= 0:
        m, r = divmod(num, den << q)
        half = (den << q)
    else:
        m, r = divmod(num << -q, den)
        half = den
    if 2 * r > half or (2 * r == half and m & 1):
        m += 1
    if m == 0 or m.bit_length() + q > _LD_EMAX:
        raise _Range                         # underflow to zero / overflow
    v = Fraction(m << q) if q >= 0 else Fraction(m, 1 << -q)
    return -v if neg else v


def _round_bits(fr: Fraction) -> Fraction:
    """The long double nearest to fr; beyond the range, +-_LD_MAX (callers
    test ``abs(n) >= _LD_MAX`` for overflow), an underflow gives 0."""
    if fr == 0:
        return Fraction(0)
    try:
        return _round_ld(abs(fr.numerator), fr.denominator, fr < 0)
    except _Range:
        if abs(fr) < 1:
            return Fraction(0)
        return -_LD_MAX if fr < 0 else _LD_MAX


def _int_str(n: int) -> str:
    """str(n) for n >= 0 without the 4300-digit limit of int -> str."""
    if n < 10 ** 4000:
        return str(n)
    hi, lo = divmod(n, 10 ** 4000)
    return _int_str(hi) + str(lo).rjust(4000, "0")


def _digits_int(d: bytes) -> int:
    # int() refuses more than 4300 digits (sys.int_max_str_digits); strtold
    # takes up to 5119, so convert in chunks
    d = d.lstrip(b"0") or b"0"
    if len(d) <= 4000:
        return int(d)
    v = 0
    for i in range(0, len(d), 4000):
        c = d[i:i + 4000]
        v = v * 10 ** len(c) + int(c)
    return v


def _exp_int(b: bytes | None, limit: int) -> int:
    """An exponent, clamped to +-limit (beyond that only its sign matters)."""
    if not b:
        return 0
    neg = b[:1] == b"-"
    d = b.lstrip(b"+-").lstrip(b"0") or b"0"
    v = limit if len(d) > 7 else min(int(d), limit)
    return -v if neg else v


def parse_long_double(b: bytes, err: str = NOT_FLOAT):
    """Redis's string2ld: strtold over the whole string, no leading space,
    no NaN, no overflow or underflow to zero (ERANGE).  An infinity parses
    (Redis then refuses the result) and is returned as None."""
    if not b or len(b) >= MAX_LONG_DOUBLE_CHARS:
        raise CommandError(err)
    try:
        m = _DEC_RE.match(b)
        if m is not None:
            sign, ip, fp, only_fp, ex = m.groups()
            frac = fp if only_fp is None else only_fp
            ip = ip or b""
            frac = frac or b""
            mant = _digits_int(ip + frac)
            if mant == 0:
                return Fraction(0)
            e10 = _exp_int(ex, 1 << 20) - len(frac)
            ndig = len(str(mant)) if mant < 10 ** 4000 else len(ip + frac)
            if e10 + ndig - 1 > 4933:
                raise _Range                  # >= 1e4934 > LDBL_MAX
            if e10 + ndig < -4952:
                raise _Range                  # < 1e-4952: rounds to zero
            if e10 >= 0:
                return _round_ld(mant * 10 ** e10, 1, sign == b"-")
            return _round_ld(mant, 10 ** -e10, sign == b"-")
        m = _HEX_RE.match(b)
        if m is not None:
            sign, ip, fp, only_fp, ex = m.groups()
            frac = (fp if only_fp is None else only_fp) or b""
            mant = int((ip or b"") + frac or b"0", 16)
            if mant == 0:
                return Fraction(0)
            e2 = _exp_int(ex, 1 << 20) - 4 * len(frac)
            if mant.bit_length() + e2 > _LD_EMAX + 1:
                raise _Range
            if mant.bit_length() + e2 < _LD_QMIN - 1:
                raise _Range
            if e2 >= 0:
                return _round_ld(mant << e2, 1, sign == b"-")
            return _round_ld(mant, 1 << -e2, sign == b"-")
    except _Range:
        raise CommandError(err) from None
    if _INF_RE.match(b):
        return None
    raise CommandError(err)


def format_long_double(v: Fraction) -> bytes:
    """ld2string(LD_STR_HUMAN): "%.17Lf" of the exact value, trailing zeros
    and a trailing '.' removed, "-0" printed as "0"."""
    q = round(v * 10 ** 17)                  # round-half-even, like glibc
    neg = q < 0
    digits = _int_str(abs(q)).rjust(18, "0")
    s = digits[:-17] + "." + digits[-17:]
    s = s.rstrip("0").rstrip(".")
    if neg and s != "0":
        s = "-" + s
    return s.encode()


@command("incrbyfloat", 3, flags=("write", "denyoom", "fast"), keys=(1, 1, 1), group="string",
         since="2.6.0", summary="Increment the floating point value of a key by a number. Uses 0 as initial value if the key doesn't exist.",
         syntax="key increment")
def cmd_incrbyfloat(db, argv):
    # Redis order: type check, the stored value, the increment, then NaN/inf
    key = argv[1]
    v = lookup_write_str(db, key)
    cur = Fraction(0) if v is None else parse_long_double(v)
    inc = parse_long_double(argv[2])
    if cur is None or inc is None:
        raise CommandError("ERR increment would produce NaN or Infinity")
    n = _round_bits(cur + inc)
    if abs(n) >= _LD_MAX:
        raise CommandError("ERR increment would produce NaN or Infinity")
    out = format_long_double(n)
    if v is None:
        db.set(key, out)
    else:
        db.put(key, out)
    return out


def getrange_generic(v: bytes, start: int, end: int) -> bytes:
    n = len(v)
    if start < 0 and end < 0 and start > end:
        return b""
    if start < 0:
        start = n + start
    if end < 0:
        end = n + end
    if start < 0:
        start = 0
    if end < 0:
        end = 0
    if end >= n:
        end = n - 1
    if start > end or n == 0:
        return b""
    return v[start:end + 1]


@command("getrange", 4, flags=("readonly",), keys=(1, 1, 1), group="string", since="2.4.0",
         summary="Returns a substring of the string stored at a key.", syntax="key start end",
         complexity="O(N) where N is the length of the returned string.")
def cmd_getrange(db, argv):
    start, end = parse_int(argv[2]), parse_int(argv[3])
    v = db.get_str(argv[1])
    return b"" if v is None else getrange_generic(v, start, end)


@command("substr", 4, flags=("readonly",), keys=(1, 1, 1), group="string",
         summary="Returns a substring from a string value.", syntax="key start end",
         complexity="O(N) where N is the length of the returned string.")
def cmd_substr(db, argv):
    return cmd_getrange(db, argv)


@command("setrange", 4, flags=("write", "denyoom"), keys=(1, 1, 1), group="string", since="2.2.0",
         summary="Overwrites a part of a string value with another by an offset. Creates the key if it doesn't exist.",
         syntax="key offset value", complexity="O(1), not counting the time taken to copy the new string in place.")
def cmd_setrange(db, argv):
    key, value = argv[1], argv[3]
    offset = parse_int(argv[2])
    if offset < 0:
        raise CommandError("ERR offset is out of range")
    v = lookup_write_str(db, key)
    if v is None:
        if not value:
            return 0
        _check_size(offset + len(value))
        db.set(key, b"\0" * offset + value)
        return offset + len(value)
    if not value:
        return len(v)
    _check_size(offset + len(value))
    if offset > len(v):
        v = v + b"\0" * (offset - len(v))
    nv = v[:offset] + value + v[offset + len(value):]
    db.put(key, nv)
    return len(nv)


# -- LCS --------------------------------------------------------------------
# t_string.c fills an (alen+1) x (blen+1) table of uint32 and walks back from
# the end.  We compute the same table row by row with the bit-parallel LCS
# recurrence (Allison-Dix / Hyyro) on Python ints: row i is an int V_i whose
# bit j-1 is 0 exactly where LCS(i, j) > LCS(i, j-1), so
# LCS(i, j) = j - popcount(V_i & (2**j - 1)).  That is O(alen * blen / 64)
# word operations instead of a Python loop per cell, and the walk back asks
# the table the same questions in the same order as Redis, so ties resolve
# (and the IDX ranges come out) identically.
LCS_TOO_BIG = "ERR Insufficient memory, transient memory for LCS exceeds proto-max-bulk-len"
NOT_STRINGS = "ERR The specified keys must contain string values"


def _lcs_rows(a: bytes, b: bytes, keep: bool):
    """The V_i rows (all of them if ``keep``, else only the last)."""
    lb = len(b)
    full = (1 << lb) - 1
    masks: dict[int, int] = {}
    for j, ch in enumerate(b):
        masks[ch] = masks.get(ch, 0) | (1 << j)
    v = full
    rows = [v] if keep else None
    for ch in a:
        u = v & masks.get(ch, 0)
        v = ((v + u) | (v - u)) & full
        if keep:
            rows.append(v)
    return rows if keep else v


def lcs_reply(a: bytes, b: bytes, opts: list[bytes]):
    """LCS of two string values with LEN / IDX / MINMATCHLEN / WITHMATCHLEN."""
    getlen = getidx = withmatchlen = False
    minmatchlen = 0
    i = 0
    while i < len(opts):
        o = opts[i].upper()
        if o == b"IDX":
            getidx = True
        elif o == b"LEN":
            getlen = True
        elif o == b"WITHMATCHLEN":
            withmatchlen = True
        elif o == b"MINMATCHLEN" and i + 1 < len(opts):
            minmatchlen = parse_int(opts[i + 1])
            if minmatchlen < 0:
                minmatchlen = 0
            i += 1
        else:
            raise CommandError(SYNTAX)
        i += 1
    if getlen and getidx:
        raise CommandError("ERR If you want both the length and indexes, please just use IDX.")
    la, lb = len(a), len(b)
    # Redis refuses a table bigger than proto-max-bulk-len (512 MB default;
    # shards do not see CONFIG, so the default is used here)
    if (la + 1) * (lb + 1) * 4 > MAX_STRING:
        raise CommandError(LCS_TOO_BIG)
    if getlen and not getidx:
        v = _lcs_rows(a, b, False)
        return lb - v.bit_count()
    rows = _lcs_rows(a, b, True)

    def lcs(x, y):
        return y - (rows[x] & ((1 << y) - 1)).bit_count()

    total = lb - rows[la].bit_count()
    out = bytearray(total)
    idx = total
    matches = []
    x, y = la, lb
    # a_start == la means "no range open" (t_string.c's sentinel)
    a_start, a_end, b_start, b_end = la, 0, 0, 0
    while x > 0 and y > 0:
        emit = False
        if a[x - 1] == b[y - 1]:
            out[idx - 1] = a[x - 1]
            if a_start == la:
                a_start = a_end = x - 1
                b_start = b_end = y - 1
            elif a_start == x and b_start == y:
                a_start -= 1
                b_start -= 1
            else:
                emit = True
            if a_start == 0 or b_start == 0:
                emit = True
            idx -= 1
            x -= 1
            y -= 1
        else:
            if lcs(x - 1, y) > lcs(x, y - 1):
                x -= 1
            else:
                y -= 1
            if a_start != la:
                emit = True
        if emit:
            mlen = a_end - a_start + 1
            if getidx and (minmatchlen == 0 or mlen >= minmatchlen):
                m = [[a_start, a_end], [b_start, b_end]]
                if withmatchlen:
                    m.append(mlen)
                matches.append(m)
            a_start = la
    if getidx:
        return {b"matches": matches, b"len": total}
    return bytes(out)


def _get_for_lcs(db, argv):
    """Hop body / helper: ``[_, key]`` -> the string value ("" if missing)."""
    v = db.get(argv[1])
    if v is not None and type(v) is not bytes:
        raise CommandError(NOT_STRINGS)
    return v or b""


def _lcs_on_shard(db, argv):
    """Hop body: ``[_, key1, value2, opts...]``: LCS against key1's value,
    computed on key1's shard so the event loop never runs the table."""
    return lcs_reply(_get_for_lcs(db, argv), argv[2], argv[3:])


async def lcs_cross(conn, argv):
    """Keys on two shards (both held by the connection's transaction, so the
    pair is read atomically): fetch key2's value, then compute next to key1.
    Redis type-checks key1 and key2 before parsing options; both failures
    give the same message, so checking key2 first answers alike."""
    b = await conn.hop(conn.shard_of(argv[2]), _get_for_lcs, [b"LCS", argv[2]])
    if type(b) is Err:                       # hop results carry errors as Err
        raise CommandError(bytes(b))
    r = await conn.hop(conn.shard_of(argv[1]), _lcs_on_shard, [b"LCS", argv[1], b] + argv[3:])
    if type(r) is Err:
        raise CommandError(bytes(r))
    return r


@command("lcs", -3, flags=("readonly",), keys=(1, 2, 1), group="string", since="7.0.0",
         summary="Finds the longest common substring.",
         syntax="key1 key2 [LEN] [IDX] [MINMATCHLEN min-match-len] [WITHMATCHLEN]",
         complexity="O(N*M) where N and M are the lengths of s1 and s2, respectively",
         cross=tracking.remembering(lcs_cross))
def cmd_lcs(db, argv):
    a = _get_for_lcs(db, [b"LCS", argv[1]])
    b = _get_for_lcs(db, [b"LCS", argv[2]])
    return lcs_reply(a, b, argv[3:])
