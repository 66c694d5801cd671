"""Bitmap commands (Redis's bitops.c) on string values.

Bits are numbered from the most significant bit of the first byte.  Counting
and searching use whole-string integer operations (``int.from_bytes``,
``bit_count``, ``bytes.translate``-free scans), never a Python loop per bit.
"""

from __future__ import annotations


from server.protocol import CommandError
from server.table import command

from .strings import MAX_STRING, lookup_write_str
from .util import SYNTAX, parse_int

BAD_OFFSET = "ERR bit offset is not an integer or out of range"
BAD_BIT = "ERR bit is not an integer or out of range"
MAX_BITS = MAX_STRING * 8


def _offset(b: bytes, hash_ok: bool = False, width: int = 1) -> int:
    """getBitOffsetFromArgument: a bit offset, or ``#n`` (n * width) for
    BITFIELD.  C multiplies in int64 (wrapping), then refuses negatives and
    offsets whose byte is at or past proto-max-bulk-len (512 MB default)."""
    mult = 1
    if hash_ok and b[:1] == b"#":
        b = b[1:]
        mult = width
    off = parse_int(b, BAD_OFFSET) * mult
    off = ((off + (1 << 63)) & ((1 << 64) - 1)) - (1 << 63)
    if off < 0 or (off >> 3) >= MAX_STRING:
        raise CommandError(BAD_OFFSET)
    return off


@command("setbit", 4, flags=("write", "denyoom"), keys=(1, 1, 1), group="bitmap", since="2.2.0",
         summary="Sets or clears the bit at offset of the string value. Creates the key if it doesn't exist.",
         syntax="key offset value")
def cmd_setbit(db, argv):
    off = _offset(argv[2])
    if argv[3] not in (b"0", b"1"):
        raise CommandError(BAD_BIT)
    on = argv[3] == b"1"
    v = lookup_write_str(db, argv[1])
    byte = off >> 3
    buf = bytearray(v or b"")
    if len(buf) <= byte:
        buf.extend(b"\0" * (byte + 1 - len(buf)))
    mask = 0x80 >> (off & 7)
    old = 1 if buf[byte] & mask else 0
    if on:
        buf[byte] |= mask
    else:
        buf[byte] &= ~mask & 0xFF
    if v is None:
        db.set(argv[1], bytes(buf))
    else:
        db.put(argv[1], bytes(buf))
    return old


@command("getbit", 3, flags=("readonly", "fast"), keys=(1, 1, 1), group="bitmap", since="2.2.0",
         summary="Returns a bit value by offset.", syntax="key offset")
def cmd_getbit(db, argv):
    off = _offset(argv[2])
    v = db.get_str(argv[1])
    if v is None or (off >> 3) >= len(v):
        return 0
    return 1 if v[off >> 3] & (0x80 >> (off & 7)) else 0


def _clamp(start: int, end: int, total: int):
    if start < 0:
        start = total + start
    if end < 0:
        end = total + end
    if start < 0:
        start = 0
    if end < 0:
        end = 0
    if end >= total:
        end = total - 1
    return start, end


def _bits_int(v: bytes, start_bit: int, end_bit: int) -> tuple[int, int]:
    """(integer of bits start..end inclusive, number of bits)."""
    first, last = start_bit >> 3, end_bit >> 3
    n = int.from_bytes(v[first:last + 1], "big")
    nbits = (last - first + 1) * 8
    lead = start_bit - first * 8
    trail = 7 - (end_bit - last * 8)
    n >>= trail
    width = nbits - lead - trail
    n &= (1 << width) - 1
    return n, width


@command("bitcount", -2, flags=("readonly",), keys=(1, 1, 1), group="bitmap", since="2.6.0",
         summary="Counts the number of set bits (population counting) in a string.",
         syntax="key [start end [BYTE | BIT]]", complexity="O(N)")
def cmd_bitcount(db, argv):
    v = db.get_str(argv[1])
    if v is None:
        return 0
    n = len(argv)
    if n == 2:
        return int.from_bytes(v, "big").bit_count()
    if n not in (4, 5):
        raise CommandError(SYNTAX)
    start, end = parse_int(argv[2]), parse_int(argv[3])
    if start < 0 and end < 0 and start > end:
        return 0    # bitcountCommand's early exit: before clamping, and before BYTE|BIT is checked
    isbit = False
    if n == 5:
        u = argv[4].upper()
        if u == b"BIT":
            isbit = True
        elif u != b"BYTE":
            raise CommandError(SYNTAX)
    total = len(v) * 8 if isbit else len(v)
    start, end = _clamp(start, end, total)
    if start > end or total == 0:
        return 0
    if not isbit:
        return int.from_bytes(v[start:end + 1], "big").bit_count()
    return _bits_int(v, start, end)[0].bit_count()


@command("bitpos", -3, flags=("readonly",), keys=(1, 1, 1), group="bitmap", since="2.8.7",
         summary="Finds the first set (1) or clear (0) bit in a string.",
         syntax="key bit [start [end [BYTE | BIT]]]", complexity="O(N)")
def cmd_bitpos(db, argv):
    n = len(argv)
    bit = parse_int(argv[2])
    if bit not in (0, 1):
        raise CommandError("ERR The bit argument must be 1 or 0.")
    v = db.get_str(argv[1])
    if v is None:
        return -1 if bit else 0
    end_given = False
    isbit = False
    if n > 6:
        raise CommandError(SYNTAX)
    start = parse_int(argv[3]) if n >= 4 else 0
    if n >= 5:
        end = parse_int(argv[4])
        end_given = True
    if n == 6:
        u = argv[5].upper()
        if u == b"BIT":
            isbit = True
        elif u != b"BYTE":
            raise CommandError(SYNTAX)
    total = len(v) * 8 if isbit else len(v)
    if not end_given:
        end = total - 1
    start, end = _clamp(start, end, total)
    if start > end or total == 0:
        return -1
    if isbit:
        sbit, ebit = start, end
    else:
        sbit, ebit = start * 8, end * 8 + 7
    val, width = _bits_int(v, sbit, ebit)
    if bit == 1:
        if val == 0:
            return -1
        return sbit + (width - val.bit_length())
    inv = val ^ ((1 << width) - 1)
    if inv == 0:
        # all ones: looking for 0 past the range is only allowed with no end
        if end_given:
            return -1
        return ebit + 1
    return sbit + (width - inv.bit_length())


def _bitop(op: bytes, values: list[bytes]) -> bytes:
    maxlen = max((len(x) for x in values), default=0)
    if maxlen == 0:
        return b""
    ints = [int.from_bytes(x.ljust(maxlen, b"\0"), "big") for x in values]
    if op == b"NOT":
        r = ints[0] ^ ((1 << (8 * maxlen)) - 1)
    else:
        r = ints[0]
        for x in ints[1:]:
            if op == b"AND":
                r &= x
            elif op == b"OR":
                r |= x
            else:
                r ^= x
    return r.to_bytes(maxlen, "big")


def _bitop_check(argv) -> bytes:
    op = argv[1].upper()
    if op not in (b"AND", b"OR", b"XOR", b"NOT"):
        raise CommandError(SYNTAX)
    if op == b"NOT" and len(argv) != 4:
        raise CommandError("ERR BITOP NOT must be called with a single source key.")
    return op


def _read_sources(db, argv):
    out = []
    for k in argv[1:]:
        v = db.get_str(k)
        out.append(v or b"")
    return out


def _store(db, argv):
    dest, value = argv[1], argv[2]
    if value:
        db.set(dest, value)
    else:
        db.delete(dest)
    return len(value)


def _bitop_keys(argv):
    return argv[2:]


async def bitop_cross(conn, argv):
    op = _bitop_check(argv)
    srcs = argv[3:]
    from server.router import hop_groups
    parts, res = await hop_groups(conn, srcs, _read_sources, [b"GET"],
                                  stop=lambda r: isinstance(r, bytes))    # an error
    values = [b""] * len(srcs)
    for (s, pos), vals in zip(parts, res):
        if isinstance(vals, bytes):   # an error reply from the shard
            raise CommandError(vals)
        for i, v in zip(pos, vals):
            values[i] = v
    return await conn.hop(conn.shard_of(argv[2]), _store, [b"SET", argv[2], _bitop(op, values)])


@command("bitop", -4, flags=("write", "denyoom"), keys=(2, -1, 1), group="bitmap", since="2.6.0",
         summary="Performs bitwise operations on multiple strings, and stores the result.",
         syntax="AND | OR | XOR | NOT destkey key [key ...]", complexity="O(N)",
         cross=bitop_cross)
def cmd_bitop(db, argv):
    op = _bitop_check(argv)
    values = _read_sources(db, [b"GET"] + argv[3:])
    return _store(db, [b"SET", argv[2], _bitop(op, values)])


# -- BITFIELD -----------------------------------------------------------------
BAD_TYPE = ("ERR Invalid bitfield type. Use something like i16 u8. "
            "Note that u64 is not supported but i64 is.")
RO_ONLY_GET = "ERR BITFIELD_RO only supports the GET subcommand"


def _ftype(b: bytes):
    """getBitfieldTypeFromArgument: 'i' or 'u' (lower case only), then a
    width parsed by string2ll: i1..i64, u1..u63."""
    if b[:1] == b"i":
        signed = True
    elif b[:1] == b"u":
        signed = False
    else:
        raise CommandError(BAD_TYPE)
    bits = parse_int(b[1:], BAD_TYPE)
    if bits < 1 or bits > (64 if signed else 63):
        raise CommandError(BAD_TYPE)
    return signed, bits


def _get_field(buf, off: int, bits: int, signed: bool) -> int:
    """The field at bit ``off``; bits past the end of the string read as 0."""
    first = off >> 3
    need = (off + bits + 7) >> 3
    n = int.from_bytes(bytes(buf[first:need]).ljust(need - first, b"\0"), "big")
    n >>= (need - first) * 8 - (off & 7) - bits
    n &= (1 << bits) - 1
    if signed and n >> (bits - 1):
        n -= 1 << bits
    return n


def _set_field(buf: bytearray, off: int, bits: int, value: int) -> None:
    """Store the low ``bits`` bits of value at bit ``off`` (buf is long enough)."""
    first = off >> 3
    need = (off + bits + 7) >> 3
    n = int.from_bytes(buf[first:need], "big")
    shift = (need - first) * 8 - (off & 7) - bits
    mask = ((1 << bits) - 1) << shift
    n = (n & ~mask) | ((value & ((1 << bits) - 1)) << shift)
    buf[first:need] = n.to_bytes(need - first, "big")


def _i64(x: int) -> int:
    """x wrapped to int64, as C's two's-complement arithmetic does."""
    return ((x + (1 << 63)) & ((1 << 64) - 1)) - (1 << 63)


def _overflow_signed(value: int, incr: int, bits: int, mode: bytes):
    """checkSignedBitfieldOverflow, int64 wrap-arounds included: for a SET
    (incr 0) of a value near INT64_MIN into a narrower field, ``max - value``
    wraps negative and Redis reports an overflow *upwards* (SAT stores max).
    Returns the value to store, or None when FAIL refuses it."""
    hi = (1 << (bits - 1)) - 1
    lo = -hi - 1
    maxincr, minincr = _i64(hi - value), _i64(lo - value)
    if (value > hi or (bits != 64 and incr > maxincr)
            or (value >= 0 and incr > 0 and incr > maxincr)):
        sat = hi
    elif (value < lo or (bits != 64 and incr < minincr)
            or (value < 0 and incr < 0 and incr < minincr)):
        sat = lo
    else:
        return value + incr
    if mode == b"FAIL":
        return None
    if mode == b"SAT":
        return sat
    c = (value + incr) & ((1 << bits) - 1)      # handle_wrap: sign-extend the low bits
    return c - (1 << bits) if c >> (bits - 1) else c


def _overflow_unsigned(value: int, incr: int, bits: int, mode: bytes):
    """checkUnsignedBitfieldOverflow (value is a uint64, incr an int64; no
    wrap-around can occur for fields of at most 63 bits)."""
    hi = (1 << bits) - 1
    if value > hi or (incr > 0 and incr > hi - value):
        sat = hi
    elif incr < 0 and incr < -value:
        sat = 0
    else:
        return value + incr
    if mode == b"FAIL":
        return None
    if mode == b"SAT":
        return sat
    return (value + incr) & hi


def bitfield_generic(db, argv, readonly: bool):
    """BITFIELD / BITFIELD_RO (bitfieldGeneric).

    Every argument is parsed before anything runs (so a late syntax error
    changes nothing).  With at least one SET/INCRBY the key is created or
    zero-padded up to the highest bit any write touches, even when every
    write then fails under OVERFLOW FAIL, as lookupStringForBitCommand does;
    BITFIELD_RO refuses writes only after the whole parse."""
    ops = []
    i, n = 2, len(argv)
    mode = b"WRAP"
    writes = False
    highest = -1
    while i < n:
        sub = argv[i].upper()
        left = n - i - 1
        if sub == b"OVERFLOW" and left >= 1:
            m = argv[i + 1].upper()
            if m not in (b"WRAP", b"SAT", b"FAIL"):
                raise CommandError("ERR Invalid OVERFLOW type specified")
            mode = m
            i += 2
            continue
        if not ((sub == b"GET" and left >= 2) or (sub in (b"SET", b"INCRBY") and left >= 3)):
            raise CommandError(SYNTAX)
        signed, bits = _ftype(argv[i + 1])
        off = _offset(argv[i + 2], True, bits)
        val = 0
        if sub != b"GET":
            writes = True
            highest = max(highest, off + bits - 1)
            val = parse_int(argv[i + 3])
            if sub == b"SET" and not signed:
                val &= (1 << 64) - 1          # C stores the int64 in a uint64
        ops.append((sub, signed, bits, off, val, mode))
        i += 3 if sub == b"GET" else 4
    key = argv[1]
    if not writes:
        v = db.get_str(key)
        return [_get_field(v or b"", off, bits, signed) for _, signed, bits, off, _, _ in ops]
    if readonly:
        raise CommandError(RO_ONLY_GET)
    v = lookup_write_str(db, key)
    buf = bytearray(v or b"")
    need = (highest >> 3) + 1
    if len(buf) < need:
        buf.extend(bytes(need - len(buf)))
    out = []
    for sub, signed, bits, off, val, m in ops:
        if sub == b"GET":
            out.append(_get_field(buf, off, bits, signed))
            continue
        old = _get_field(buf, off, bits, signed)
        check = _overflow_signed if signed else _overflow_unsigned
        new = check(val, 0, bits, m) if sub == b"SET" else check(old, val, bits, m)
        if new is None:
            out.append(None)
            continue
        _set_field(buf, off, bits, new)
        out.append(old if sub == b"SET" else new)
    if v is None:
        db.set(key, bytes(buf))
    else:
        db.put(key, bytes(buf))
    return out


@command("bitfield", -2, flags=("write", "denyoom"), keys=(1, 1, 1), group="bitmap", since="3.2.0",
         summary="Performs arbitrary bitfield integer operations on strings.",
         syntax="key [GET encoding offset | [OVERFLOW WRAP | SAT | FAIL] "
                "SET encoding offset value | INCRBY encoding offset increment ...]",
         complexity="O(1) for each subcommand specified")
def cmd_bitfield(db, argv):
    return bitfield_generic(db, argv, False)


@command("bitfield_ro", -2, flags=("readonly", "fast"), keys=(1, 1, 1), group="bitmap", since="6.0.0",
         summary="Performs arbitrary read-only bitfield integer operations on strings.",
         syntax="key [GET encoding offset ...]", complexity="O(1) for each subcommand specified")
def cmd_bitfield_ro(db, argv):
    return bitfield_generic(db, argv, True)
