"""String commands (Redis's t_string.c).  Values are ``bytes``.

Multi-key commands whose keys live on several shards: MGET/MSET split per
shard in one step (atomic by the global send order, docs/transactions.md);
MSETNX and LCS run as coordinators holding their shards.
"""

from __future__ import annotations

import asyncio
import re
from fractions import Fraction

from server.protocol import OK, CommandError
from server.table import command

from .util import INT64_MAX, INT64_MIN, NOT_INT, SYNTAX, parse_int

MAX_STRING = 512 * 1024 * 1024
TOO_BIG = "ERR string exceeds maximum allowed size (proto-max-bulk-len)"
WRONGTYPE = "WRONGTYPE Operation against a key holding the wrong kind of value"


def _expire_arg(b: bytes, name: str, unit_ms: int, absolute: bool, now_ms: int) -> int:
    v = parse_int(b)
    if v <= 0:
        raise CommandError(f"ERR invalid expire time in '{name}' command")
    ms = v * unit_ms
    if not absolute:
        ms += now_ms
    if ms > (1 << 63) - 1:
        raise CommandError(f"ERR invalid expire time in '{name}' command")
    return ms


def set_generic(db, key: bytes, value: bytes, opts: list[bytes], name: str = "set"):
    """SET with its option family; shared by SET, SETEX, PSETEX, SETNX."""
    nx = xx = get = keepttl = False
    deadline = None
    expire_opt = None
    i = 0
    n = len(opts)
    while i < n:
        o = opts[i].upper()
        if o == b"NX" and not xx:
            nx = True
        elif o == b"XX" and not nx:
            xx = True
        elif o == b"GET":
            get = True
        elif o == b"KEEPTTL" and expire_opt is None:
            keepttl = True
            expire_opt = o
        elif o in (b"EX", b"PX", b"EXAT", b"PXAT") and expire_opt is None and i + 1 < n:
            expire_opt = o
            i += 1
            unit = 1000 if o in (b"EX", b"EXAT") else 1
            deadline = _expire_arg(opts[i], name, unit, o in (b"EXAT", b"PXAT"), db.now_ms)
        else:
            raise CommandError(SYNTAX)
        i += 1
    old = db.get(key)
    if get and old is not None and type(old) is not bytes:
        raise CommandError("WRONGTYPE Operation against a key holding the wrong kind of value")
    if (nx and old is not None) or (xx and old is None):
        return old if get else None
    db.set(key, value, keep_ttl=keepttl)
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
    if db.get(argv[1]) is not None:
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
    # Redis order: option syntax, then a missing key replies nil, then the
    # expire value is validated
    key = argv[1]
    opt = None
    persist = False
    i = 2
    while i < len(argv):
        o = argv[i].upper()
        if o in (b"EX", b"PX", b"EXAT", b"PXAT") and opt is None and not persist and i + 1 < len(argv):
            opt = (o, argv[i + 1])
            i += 2
        elif o == b"PERSIST" and opt is None and not persist:
            persist = True
            i += 1
        else:
            raise CommandError(SYNTAX)
    v = db.get_str(key)
    if v is None:
        return None
    if opt is not None:
        o, raw = opt
        unit = 1000 if o in (b"EX", b"EXAT") else 1
        deadline = _expire_arg(raw, "getex", unit, o in (b"EXAT", b"PXAT"), db.now_ms)
        if deadline <= db.now_ms:
            db.delete(key)
        else:
            db.set_expire(key, deadline)
    elif persist:
        db.persist(key)
    return v


def msetnx_local(db, argv):
    """MSETNX on one shard: nothing is written if any key exists."""
    if len(argv) % 2 == 0:
        raise CommandError("ERR wrong number of arguments for 'msetnx' command")
    for i in range(1, len(argv), 2):
        if db.get(argv[i]) is not None:
            return 0
    for i in range(1, len(argv), 2):
        db.set(argv[i], argv[i + 1])
    return 1


def _any_exists(db, argv):
    return any(db.get(k) is not None for k in argv[1:])


async def msetnx_cross(conn, argv):
    """Keys on several shards (held by the transaction): check all, then write."""
    if len(argv) % 2 == 0:
        raise CommandError("ERR wrong number of arguments for 'msetnx' command")
    from server.router import group_keys
    keys = argv[1::2]
    groups = group_keys(conn, keys)
    found = await asyncio.gather(*[conn.hop(s, _any_exists, [b"EXISTS"] + [keys[i] for i in pos])
                                   for s, pos in groups.items()])
    if any(found):
        return 0
    writes = []
    for s, pos in groups.items():
        a = [b"MSET"]
        for i in pos:
            a += [argv[1 + 2 * i], argv[2 + 2 * i]]
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
    v = db.get_str(key)
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
    v = db.get_str(key)
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


# -- INCRBYFLOAT: Redis computes in x87 long double (64-bit mantissa) and prints
# with "%.17Lf" minus trailing zeros.  We reproduce that exactly with rationals:
# parse exactly, round to 64 significant bits (round-half-even, like strtold
# and the FPU), add, round again, print the exact value rounded to 17 decimals.
_FLOAT_RE = re.compile(rb"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?\Z")
_INF_RE = re.compile(rb"[+-]?(inf|infinity)\Z", re.I)
_LD_MAX = Fraction(2) ** 16384


def _round_bits(fr: Fraction, bits: int = 64) -> Fraction:
    if fr == 0:
        return Fraction(0)
    sign = -1 if fr < 0 else 1
    a = abs(fr)
    e = a.numerator.bit_length() - a.denominator.bit_length()
    if Fraction(2) ** e > a:
        e -= 1
    scaled = a * Fraction(2) ** (bits - 1 - e)
    m = round(scaled)            # round-half-even on an exact rational
    return sign * m * Fraction(2) ** (e - bits + 1)


def parse_long_double(b: bytes, err: str):
    if not b or b[:1].isspace() or b[-1:].isspace():
        raise CommandError(err)
    if _INF_RE.match(b):
        return None              # an infinity: only fatal once added
    if not _FLOAT_RE.match(b):
        raise CommandError(err)
    return _round_bits(Fraction(b.decode()))


def format_long_double(v: Fraction) -> bytes:
    q = round(v * 10 ** 17)
    neg = q < 0
    digits = str(abs(q)).rjust(18, "0")
    s = digits[:-17] + "." + digits[-17:]
    s = s.rstrip("0").rstrip(".")
    if neg and s != "0":
        s = "-" + s
    return s.encode()


@command("incrbyfloat", 3, flags=("write", "denyoom", "fast"), keys=(1, 1, 1), group="string",
         since="2.6.0", summary="Increment the floating point value of a key by a number. Uses 0 as initial value if the key doesn't exist.",
         syntax="key increment")
def cmd_incrbyfloat(db, argv):
    key = argv[1]
    v = db.get_str(key)
    cur = Fraction(0) if v is None else parse_long_double(v, "ERR value is not a valid float")
    inc = parse_long_double(argv[2], "ERR value is not a valid float")
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
    v = db.get_str(key)
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
def lcs_reply(a: bytes, b: bytes, opts: list[bytes]):
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
    # dp[i][j] = LCS length of a[:i], b[:j]
    dp = [[0] * (lb + 1) for _ in range(la + 1)]
    for x in range(1, la + 1):
        ax = a[x - 1]
        row, prev = dp[x], dp[x - 1]
        for y in range(1, lb + 1):
            if ax == b[y - 1]:
                row[y] = prev[y - 1] + 1
            else:
                row[y] = row[y - 1] if row[y - 1] > prev[y] else prev[y]
    total = dp[la][lb]
    if getlen:
        return total
    # walk back from the end collecting ranges, exactly as t_string.c does
    # (including its "restart at the next match" after emitting a range)
    out = bytearray(total)
    idx = total
    matches = []
    x, y = la, lb
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
            if dp[x - 1][y] > dp[x][y - 1]:
                x -= 1
            else:
                y -= 1
            if a_start != la:
                emit = True
        mlen = a_end - a_start + 1
        if emit:
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
    v = db.get(argv[1])
    if v is not None and type(v) is not bytes:
        raise CommandError("ERR The specified keys must contain string values")
    return v or b""


async def lcs_cross(conn, argv):
    a, b = await asyncio.gather(conn.hop(conn.shard_of(argv[1]), _get_for_lcs, [b"LCS", argv[1]]),
                                conn.hop(conn.shard_of(argv[2]), _get_for_lcs, [b"LCS", argv[2]]))
    return lcs_reply(a, b, argv[3:])


@command("lcs", -3, flags=("readonly",), keys=(1, 2, 1), group="string", since="7.0.0",
         summary="Finds the longest common substring.",
         syntax="key1 key2 [LEN] [IDX] [MINMATCHLEN min-match-len] [WITHMATCHLEN]",
         complexity="O(N*M) where N and M are the lengths of s1 and s2, respectively",
         cross=lcs_cross)
def cmd_lcs(db, argv):
    a = _get_for_lcs(db, [b"LCS", argv[1]])
    b = _get_for_lcs(db, [b"LCS", argv[2]])
    return lcs_reply(a, b, argv[3:])
