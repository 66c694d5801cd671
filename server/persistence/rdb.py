"""Redis's RDB format, version 10 (what Redis 7.0 writes): encoder and decoder.

File layout (rdb.c)::

    "REDIS0010"
    AUX name value ...                   (0xFA) redis-ver, redis-bits, ctime, used-mem, aof-base
    SELECTDB n                           (0xFE) for each non-empty database
    RESIZEDB keys expires                (0xFB) hash table size hints
    [EXPIRETIME_MS t] type key value     (0xFC, 8-byte little-endian unix ms)
    ...
    EOF                                  (0xFF)
    CRC64 of everything before it        (8 bytes little-endian, 0 = not checked)

A DUMP payload is one ``type value`` pair followed by the 2-byte RDB version
and the CRC64 of everything before the checksum (cluster.c createDumpPayload).

Writing uses the plain object types (STRING, LIST, SET, ZSET_2, HASH), which
every Redis since 4.0 loads and converts to its compact encodings itself.
Strings are integer-encoded where Redis would (so numbers take 2-5 bytes)
but never LZF-compressed (a pure-Python compressor would cost more time than
the bytes it saves).  Reading accepts everything Redis 7.0 writes for the
supported data types: integer-encoded and LZF-compressed strings, listpack
hashes and sorted sets, quicklists of listpacks (and the ziplist forms older
Redis versions wrote), intsets.  Streams and module types are refused with a
clear error.

Values are built and encoded by *type name* (``actors.keyspace.type_name``):
`register_encoder` / `register_builder` let a value class plug itself in.
"""

from __future__ import annotations

import struct

from actors.keyspace import _TYPE_NAMES, type_name

__all__ = [
    "RDB_VERSION", "RDBError", "PayloadVersionError", "crc64", "encode_length", "encode_string",
    "encode_value", "decode_value", "dump_payload", "restore_payload",
    "RDBWriter", "load_rdb", "register_encoder", "register_builder",
    "lzf_decompress",
]

RDB_VERSION = 10

# Object types (rdb.h)
T_STRING = 0
T_LIST = 1
T_SET = 2
T_ZSET = 3
T_HASH = 4
T_ZSET_2 = 5
T_MODULE = 6
T_MODULE_2 = 7
T_HASH_ZIPMAP = 9
T_LIST_ZIPLIST = 10
T_SET_INTSET = 11
T_ZSET_ZIPLIST = 12
T_HASH_ZIPLIST = 13
T_LIST_QUICKLIST = 14
T_STREAM_LISTPACKS = 15
T_HASH_LISTPACK = 16
T_ZSET_LISTPACK = 17
T_LIST_QUICKLIST_2 = 18
T_STREAM_LISTPACKS_2 = 19

# Opcodes
OP_FUNCTION2 = 245
OP_FUNCTION = 246
OP_MODULE_AUX = 247
OP_IDLE = 248
OP_FREQ = 249
OP_AUX = 250
OP_RESIZEDB = 251
OP_EXPIRETIME_MS = 252
OP_EXPIRETIME = 253
OP_SELECTDB = 254
OP_EOF = 255

# Special string encodings (first byte 11xxxxxx)
ENC_INT8 = 0
ENC_INT16 = 1
ENC_INT32 = 2
ENC_LZF = 3

QUICKLIST_NODE_PLAIN = 1
QUICKLIST_NODE_PACKED = 2


class RDBError(ValueError):
    """Malformed or unsupported RDB data."""


class PayloadVersionError(RDBError):
    """A DUMP payload whose RDB version is too new or whose CRC64 is wrong."""


# ---------------------------------------------------------------------- CRC64
# Redis's crc64 (crc64.c): Jones polynomial 0xad93d23594c935a9, reflected in
# and out, init 0, no final xor.  Reflected, the polynomial reads
# 0x95ac9329ac4bc9b5.  Slicing-by-8: eight 256-entry tables let the loop
# consume one 64-bit little-endian word per iteration (8x fewer Python steps).
_POLY_REFLECTED = 0x95AC9329AC4BC9B5


def _make_tables():
    t0 = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ _POLY_REFLECTED if c & 1 else c >> 1
        t0.append(c)
    tables = [t0]
    for _ in range(7):
        prev = tables[-1]
        tables.append([(v >> 8) ^ t0[v & 0xFF] for v in prev])
    return tables


_T = _make_tables()
_T0, _T1, _T2, _T3, _T4, _T5, _T6, _T7 = _T
_NATIVE_LE = struct.pack("=H", 1) == b"\x01\x00"


_CHUNK = 1024
_np_tabs = None
_np = None                # numpy, imported by the first CRC that can use it


def _numpy():
    """numpy if installed (an optional speed-up for whole files), else False.

    Imported on first use, not with this module: importing numpy takes about
    0.1 s and starts OpenBLAS's threads, which a server that never saves or
    loads a large file has no use for."""
    global _np
    if _np is None:
        try:
            import numpy
        except ImportError:     # pragma: no cover - numpy is not a dependency
            _np = False
        else:
            _np = numpy
    return _np


def _numpy_tables():
    """``rev[i][b]``: the CRC (init 0) of a _CHUNK-byte block that is all
    zeros except byte b at index i.  The CRC is linear over GF(2), so a
    block's CRC is the XOR of ``rev[i][block[i]]`` over i: one gather and one
    XOR-reduce in numpy.  ``shift[j]`` carries a running CRC across a block
    (the CRC register XORs into the block's first 8 bytes)."""
    global _np_tabs
    if _np_tabs is None:
        t0 = _np.array(_T0, dtype=_np.uint64)
        pos = _np.empty((_CHUNK, 256), dtype=_np.uint64)
        pos[0] = t0
        eight = _np.uint64(8)
        mask = _np.uint64(0xFF)
        for k in range(1, _CHUNK):
            p = pos[k - 1]
            pos[k] = t0[(p & mask).astype(_np.intp)] ^ (p >> eight)
        rev = _np.ascontiguousarray(pos[::-1])
        _np_tabs = (rev, [rev[j].tolist() for j in range(8)],
                    _np.arange(_CHUNK)[None, :])
    return _np_tabs


def _crc64_blocks(mv, crc: int) -> int:
    rev, (s0, s1, s2, s3, s4, s5, s6, s7), idx = _numpy_tables()
    m = len(mv) // _CHUNK
    arr = _np.frombuffer(mv, dtype=_np.uint8, count=m * _CHUNK).reshape(m, _CHUNK)
    for start in range(0, m, 256):
        crcs = _np.bitwise_xor.reduce(rev[idx, arr[start:start + 256]], axis=1)
        for c in crcs.tolist():
            crc = (c ^ s0[crc & 0xFF] ^ s1[(crc >> 8) & 0xFF] ^ s2[(crc >> 16) & 0xFF]
                   ^ s3[(crc >> 24) & 0xFF] ^ s4[(crc >> 32) & 0xFF]
                   ^ s5[(crc >> 40) & 0xFF] ^ s6[(crc >> 48) & 0xFF] ^ s7[crc >> 56])
    return crc


def crc64(data, crc: int = 0) -> int:
    """CRC-64-Jones of ``data`` continuing from ``crc`` (0 for a new one)."""
    mv = memoryview(data).cast("B")
    if len(mv) >= 16 * _CHUNK and _numpy():
        whole = len(mv) - len(mv) % _CHUNK
        crc = _crc64_blocks(mv[:whole], crc)
        mv = mv[whole:]
    n = len(mv) & ~7
    t0, t1, t2, t3, t4, t5, t6, t7 = _T
    if n:
        words = mv[:n].cast("Q") if _NATIVE_LE else struct.unpack(f"<{n // 8}Q", mv[:n])
        for w in words:
            x = crc ^ w
            crc = (t7[x & 0xFF] ^ t6[(x >> 8) & 0xFF] ^ t5[(x >> 16) & 0xFF]
                   ^ t4[(x >> 24) & 0xFF] ^ t3[(x >> 32) & 0xFF] ^ t2[(x >> 40) & 0xFF]
                   ^ t1[(x >> 48) & 0xFF] ^ t0[x >> 56])
    for b in mv[n:]:
        crc = t0[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc


# ---------------------------------------------------------------------- LZF
def lzf_decompress(data: bytes, out_len: int) -> bytes:
    """liblzf's lzf_decompress: literal runs (ctrl < 32) and back references
    (length in the top 3 bits, 7 = extended; offset 13 bits)."""
    out = bytearray()
    i = 0
    n = len(data)
    while i < n:
        ctrl = data[i]
        i += 1
        if ctrl < 32:
            ctrl += 1
            if i + ctrl > n:
                raise RDBError("LZF: literal run past the input")
            out += data[i:i + ctrl]
            i += ctrl
        else:
            length = ctrl >> 5
            if length == 7:
                if i >= n:
                    raise RDBError("LZF: truncated length")
                length += data[i]
                i += 1
            if i >= n:
                raise RDBError("LZF: truncated reference")
            ref = len(out) - ((ctrl & 0x1F) << 8) - data[i] - 1
            i += 1
            length += 2
            if ref < 0:
                raise RDBError("LZF: reference before the output start")
            if ref + length <= len(out):
                out += out[ref:ref + length]
            else:                      # overlapping copy: byte by byte
                for k in range(length):
                    out.append(out[ref + k])
    if len(out) != out_len:
        raise RDBError("LZF: decompressed length mismatch")
    return bytes(out)


# ---------------------------------------------------------------------- writing
_SMALL_LENGTHS = tuple(bytes((n,)) for n in range(64))


def encode_length(n: int) -> bytes:
    """rdbSaveLen: 6-bit, 14-bit, 32-bit or 64-bit big-endian length."""
    if n < 64:
        return _SMALL_LENGTHS[n]
    if n < 16384:
        return bytes((0x40 | (n >> 8), n & 0xFF))
    if n <= 0xFFFFFFFF:
        return b"\x80" + n.to_bytes(4, "big")
    return b"\x81" + n.to_bytes(8, "big")


_INT_START = frozenset(b"-0123456789")


def encode_string(s: bytes) -> bytes:
    """rdbSaveRawString without compression: strings that are the canonical
    form of an int32 (rdbTryIntegerEncoding: at most 11 chars, string2ll then
    ll2string gives the same bytes) are stored as 1/2/4-byte integers."""
    n = len(s)
    if 0 < n <= 11 and s[0] in _INT_START:
        try:
            v = int(s)
        except ValueError:
            v = None
        if v is not None and str(v).encode() == s:
            if -128 <= v <= 127:
                return b"\xc0" + v.to_bytes(1, "little", signed=True)
            if -32768 <= v <= 32767:
                return b"\xc1" + v.to_bytes(2, "little", signed=True)
            if -(1 << 31) <= v < (1 << 31):
                return b"\xc2" + v.to_bytes(4, "little", signed=True)
    if n < 64:
        return _SMALL_LENGTHS[n] + s
    return encode_length(n) + s


_pack_double = struct.Struct("<d").pack


def _enc_string(v):
    return T_STRING, encode_string(v)


def _enc_list(v):
    out = [encode_length(len(v))]
    out.extend(encode_string(x) for x in v)
    return T_LIST, b"".join(out)


def _enc_set(v):
    # members sorted: a set's iteration order follows Python's per-process
    # string hash seed, and the same set must dump to the same bytes (DUMP
    # compared across a restart, an AOF replay, two servers)
    out = [encode_length(len(v))]
    out.extend(encode_string(x) for x in sorted(v))
    return T_SET, b"".join(out)


def _enc_zset(v):
    # ZSET_2: member, then the score as a binary little-endian double.
    # Written highest score first like Redis (zsetAdd on load then always
    # inserts at the head of its skiplist).
    out = [encode_length(len(v))]
    for score, member in reversed(v.sl):
        out.append(encode_string(member))
        out.append(_pack_double(score))
    return T_ZSET_2, b"".join(out)


def _enc_hash(v):
    out = [encode_length(len(v))]
    for f, x in v.items():
        out.append(encode_string(f))
        out.append(encode_string(x))
    return T_HASH, b"".join(out)


# type name -> fn(value) -> (rdb type, encoded value)
ENCODERS = {
    b"string": _enc_string,
    b"list": _enc_list,
    b"set": _enc_set,
    b"zset": _enc_zset,
    b"hash": _enc_hash,
}


def register_encoder(name: bytes, fn) -> None:
    """Let a value class choose its RDB encoding: ``fn(v) -> (type, bytes)``."""
    ENCODERS[name] = fn


def encode_value(v) -> tuple[int, bytes]:
    if type(v) is bytes:
        return T_STRING, encode_string(v)
    name = type_name(v)
    enc = ENCODERS.get(name)
    if enc is None:
        raise RDBError(f"no RDB encoding for values of type {name.decode()}")
    return enc(v)


def dump_payload(v) -> bytes:
    """DUMP's serialization: type, value, RDB version (2 bytes LE), CRC64."""
    t, body = encode_value(v)
    buf = bytes((t,)) + body + RDB_VERSION.to_bytes(2, "little")
    return buf + crc64(buf).to_bytes(8, "little")


class RDBWriter:
    """Streams an RDB file to a binary file object, computing the CRC64 as
    it goes.  ``write_db`` takes the database's (key -> value) and
    (key -> deadline) dicts; keys whose deadline is before ``now_ms`` are
    left out (they are logically gone)."""

    FLUSH_AT = 1 << 20

    def __init__(self, f):
        self.f = f
        self.crc = 0
        self.buf: list[bytes] = []
        self.size = 0
        self.pending = 0
        self.keys = 0
        self._put(b"REDIS%04d" % RDB_VERSION)

    def _put(self, b: bytes) -> None:
        self.buf.append(b)
        self.pending += len(b)
        if self.pending >= self.FLUSH_AT:
            self._flush()

    def _flush(self) -> None:
        if self.buf:
            chunk = b"".join(self.buf)
            self.buf = []
            self.pending = 0
            self.crc = crc64(chunk, self.crc)
            self.f.write(chunk)
            self.size += len(chunk)

    def aux(self, name: bytes, value: bytes) -> None:
        self._put(b"\xfa" + encode_string(name) + encode_string(value))

    def write_db(self, index: int, parts, now_ms: int) -> None:
        """``parts``: (data, expires, lru) per shard for database ``index``:
        the key -> value and key -> deadline dicts, and None or the table's
        ({key: clock stamp}, clock now), for an IDLE opcode (seconds) before
        each key as Redis writes under an LRU policy.  Nothing is written
        for an empty database."""
        live = 0
        vol = 0
        for data, expires, _lru in parts:
            live += len(data)
            vol += len(expires)
        if not live:
            return
        self._put(b"\xfe" + encode_length(index))
        self._put(b"\xfb" + encode_length(live) + encode_length(vol))
        put = self._put
        es = encode_string
        small = _SMALL_LENGTHS
        for data, expires, lru in parts:
            stamps, clock = lru if lru is not None else (None, 0)
            for key, v in data.items():
                if expires:
                    t = expires.get(key)
                    if t is not None:
                        if t <= now_ms:
                            continue
                        put(b"\xfc" + t.to_bytes(8, "little", signed=True))
                if stamps is not None:
                    put(b"\xf8" + encode_length(max(0, clock - stamps.get(key, clock))))
                if type(v) is bytes:
                    # the common case inlined: short non-numeric strings
                    if len(v) < 64 and (not v or v[0] not in _INT_START):
                        put(b"\x00" + es(key) + small[len(v)] + v)
                    else:
                        put(b"\x00" + es(key) + es(v))
                else:
                    t_, body = encode_value(v)
                    put(bytes((t_,)) + es(key) + body)
                self.keys += 1

    def finish(self) -> int:
        """EOF opcode and checksum; returns the file size."""
        self._put(b"\xff")
        self._flush()
        self.f.write(self.crc.to_bytes(8, "little"))
        self.size += 8
        return self.size


# ---------------------------------------------------------------------- reading
class _Reader:
    __slots__ = ("b", "pos")

    def __init__(self, b: bytes, pos: int = 0):
        self.b = b
        self.pos = pos

    def take(self, n: int) -> bytes:
        p = self.pos
        e = p + n
        if e > len(self.b):
            raise RDBError("unexpected end of data")
        self.pos = e
        return self.b[p:e]

    def byte(self) -> int:
        p = self.pos
        if p >= len(self.b):
            raise RDBError("unexpected end of data")
        self.pos = p + 1
        return self.b[p]

    def length(self) -> tuple[int, bool]:
        """rdbLoadLenByRef: (length, is_encoded)."""
        c = self.byte()
        kind = c >> 6
        if kind == 0:
            return c & 0x3F, False
        if kind == 1:
            return ((c & 0x3F) << 8) | self.byte(), False
        if kind == 3:
            return c & 0x3F, True
        if c == 0x80:
            return int.from_bytes(self.take(4), "big"), False
        if c == 0x81:
            return int.from_bytes(self.take(8), "big"), False
        raise RDBError(f"unknown length encoding {c:#x}")

    def plain_length(self) -> int:
        n, enc = self.length()
        if enc:
            raise RDBError("encoded value where a length was expected")
        return n

    def string(self) -> bytes:
        n, enc = self.length()
        if not enc:
            return self.take(n)
        if n == ENC_INT8:
            return str(int.from_bytes(self.take(1), "little", signed=True)).encode()
        if n == ENC_INT16:
            return str(int.from_bytes(self.take(2), "little", signed=True)).encode()
        if n == ENC_INT32:
            return str(int.from_bytes(self.take(4), "little", signed=True)).encode()
        if n == ENC_LZF:
            clen = self.plain_length()
            ulen = self.plain_length()
            return lzf_decompress(self.take(clen), ulen)
        raise RDBError(f"unknown string encoding {n}")

    def double_string(self) -> float:
        """rdbLoadDoubleValue (ZSET type 3): length byte, 253 nan, 254 +inf,
        255 -inf, else that many ASCII characters."""
        n = self.byte()
        if n == 253:
            return float("nan")
        if n == 254:
            return float("inf")
        if n == 255:
            return float("-inf")
        try:
            return float(self.take(n))
        except ValueError:
            raise RDBError("bad double value") from None

    def binary_double(self) -> float:
        return struct.unpack("<d", self.take(8))[0]


def _listpack_entries(blob: bytes) -> list:
    """The entries of a listpack (listpack.c): bytes or int each."""
    if len(blob) < 7:
        raise RDBError("listpack too short")
    total = int.from_bytes(blob[0:4], "little")
    if total != len(blob):
        raise RDBError("listpack length mismatch")
    b = blob
    p = 6
    out = []
    end = len(b) - 1
    while p < end:
        c = b[p]
        if c < 0x80:                       # 0xxxxxxx 7-bit uint
            out.append(c)
            n = 1
        elif c < 0xC0:                     # 10xxxxxx 6-bit string length
            ln = c & 0x3F
            out.append(b[p + 1:p + 1 + ln])
            n = 1 + ln
        elif c < 0xE0:                     # 110xxxxx 13-bit signed int
            v = ((c & 0x1F) << 8) | b[p + 1]
            if v >= 1 << 12:
                v -= 1 << 13
            out.append(v)
            n = 2
        elif c < 0xF0:                     # 1110xxxx 12-bit string length
            ln = ((c & 0x0F) << 8) | b[p + 1]
            out.append(b[p + 2:p + 2 + ln])
            n = 2 + ln
        elif c == 0xF0:                    # 32-bit string length
            ln = int.from_bytes(b[p + 1:p + 5], "little")
            out.append(b[p + 5:p + 5 + ln])
            n = 5 + ln
        elif c in _LP_INTS:
            w = _LP_INTS[c]
            out.append(int.from_bytes(b[p + 1:p + 1 + w], "little", signed=True))
            n = 1 + w
        elif c == 0xFF:
            break
        else:
            raise RDBError(f"bad listpack encoding {c:#x}")
        p += n + _backlen_size(n)
        if p > end:
            raise RDBError("listpack entry past the end")
    if b[end] != 0xFF:
        raise RDBError("listpack without terminator")
    return out


_LP_INTS = {0xF1: 2, 0xF2: 3, 0xF3: 4, 0xF4: 8}


def _backlen_size(n: int) -> int:
    if n <= 127:
        return 1
    if n < 16383:
        return 2
    if n < 2097151:
        return 3
    if n < 268435455:
        return 4
    return 5


def _ziplist_entries(blob: bytes) -> list:
    """The entries of a ziplist (ziplist.c, RDB files of Redis <= 6.2)."""
    b = blob
    if len(b) < 11 or int.from_bytes(b[0:4], "little") != len(b):
        raise RDBError("bad ziplist header")
    p = 10
    out = []
    end = len(b) - 1
    while p < end:
        p += 1 if b[p] < 254 else 5          # prevlen
        c = b[p]
        kind = c >> 6
        if kind == 0:
            ln = c & 0x3F
            out.append(b[p + 1:p + 1 + ln])
            p += 1 + ln
        elif kind == 1:
            ln = ((c & 0x3F) << 8) | b[p + 1]
            out.append(b[p + 2:p + 2 + ln])
            p += 2 + ln
        elif kind == 2:
            ln = int.from_bytes(b[p + 1:p + 5], "big")
            out.append(b[p + 5:p + 5 + ln])
            p += 5 + ln
        elif c == 0xC0:
            out.append(int.from_bytes(b[p + 1:p + 3], "little", signed=True))
            p += 3
        elif c == 0xD0:
            out.append(int.from_bytes(b[p + 1:p + 5], "little", signed=True))
            p += 5
        elif c == 0xE0:
            out.append(int.from_bytes(b[p + 1:p + 9], "little", signed=True))
            p += 9
        elif c == 0xF0:
            out.append(int.from_bytes(b[p + 1:p + 4], "little", signed=True))
            p += 4
        elif c == 0xFE:
            out.append(int.from_bytes(b[p + 1:p + 2], "little", signed=True))
            p += 2
        elif 0xF1 <= c <= 0xFD:
            out.append((c & 0x0F) - 1)
            p += 1
        else:
            raise RDBError(f"bad ziplist encoding {c:#x}")
    if p != end or b[end] != 0xFF:
        raise RDBError("ziplist without terminator")
    return out


def _intset_members(blob: bytes) -> list[bytes]:
    if len(blob) < 8:
        raise RDBError("intset too short")
    width = int.from_bytes(blob[0:4], "little")
    n = int.from_bytes(blob[4:8], "little")
    if width not in (2, 4, 8) or len(blob) != 8 + width * n:
        raise RDBError("bad intset")
    return [str(int.from_bytes(blob[8 + i * width:8 + (i + 1) * width], "little",
                               signed=True)).encode() for i in range(n)]


def _as_bytes(x) -> bytes:
    return x if type(x) is bytes else str(x).encode()


def _as_score(x) -> float:
    if type(x) is int:
        return float(x)
    try:
        return float(x)
    except ValueError:
        raise RDBError("bad score in a sorted set") from None


def _pairs(items: list, what: str) -> list:
    if len(items) % 2:
        raise RDBError(f"odd number of entries in a {what}")
    return [(items[i], items[i + 1]) for i in range(0, len(items), 2)]


# ---- building values of the registered classes, by type name
def _class_of(name: bytes):
    for cls, n in _TYPE_NAMES.items():
        if n == name:
            return cls
    raise RDBError(f"this server has no {name.decode()} type")


def _finish(v):
    # value classes that track Redis's encoding (intset/hashtable...) recompute it
    chk = getattr(v, "check_encoding", None)
    if chk is not None:
        chk()
    return v


def _build_list(items):
    v = _class_of(b"list")()
    v.extend(items)
    return _finish(v)


def _build_set(members):
    v = _class_of(b"set")()
    v.update(members)
    return _finish(v)


def _build_zset(pairs):
    z = _class_of(b"zset")()
    for m, s in pairs:
        if s != s:
            raise RDBError("NaN score in a sorted set")
        z.set_score(m, s)
    if len(z) != len(pairs):
        raise RDBError("duplicate sorted set member")
    return z


def _build_hash(pairs):
    v = _class_of(b"hash")()
    v.update(pairs)
    if len(v) != len(pairs):
        raise RDBError("duplicate hash field")
    return _finish(v)


# type name -> fn(items) -> value (items: list of bytes, or of pairs)
BUILDERS = {
    b"list": _build_list,
    b"set": _build_set,
    b"zset": _build_zset,
    b"hash": _build_hash,
}


def register_builder(name: bytes, fn) -> None:
    BUILDERS[name] = fn


def _read_object(r: _Reader, t: int):
    """rdbLoadObject: the value of type ``t``; RDBError if malformed, if it
    is an empty collection (Redis refuses those too) or of an unsupported type."""
    if t == T_STRING:
        return r.string()
    if t in (T_LIST, T_SET):
        n = r.plain_length()
        items = [r.string() for _ in range(n)]
        name = b"list" if t == T_LIST else b"set"
    elif t == T_ZSET or t == T_ZSET_2:
        n = r.plain_length()
        rd = r.binary_double if t == T_ZSET_2 else r.double_string
        items = []
        for _ in range(n):
            m = r.string()
            items.append((m, rd()))
        name = b"zset"
    elif t == T_HASH:
        n = r.plain_length()
        items = [(r.string(), r.string()) for _ in range(n)]
        name = b"hash"
    elif t == T_SET_INTSET:
        items = _intset_members(r.string())
        name = b"set"
    elif t in (T_HASH_LISTPACK, T_HASH_ZIPLIST):
        blob = r.string()
        ents = _listpack_entries(blob) if t == T_HASH_LISTPACK else _ziplist_entries(blob)
        items = [(_as_bytes(f), _as_bytes(v)) for f, v in _pairs(ents, "hash")]
        name = b"hash"
    elif t in (T_ZSET_LISTPACK, T_ZSET_ZIPLIST):
        blob = r.string()
        ents = _listpack_entries(blob) if t == T_ZSET_LISTPACK else _ziplist_entries(blob)
        items = [(_as_bytes(m), _as_score(s)) for m, s in _pairs(ents, "sorted set")]
        name = b"zset"
    elif t == T_LIST_QUICKLIST_2:
        items = []
        for _ in range(r.plain_length()):
            container = r.plain_length()
            blob = r.string()
            if container == QUICKLIST_NODE_PLAIN:
                items.append(blob)
            elif container == QUICKLIST_NODE_PACKED:
                ents = _listpack_entries(blob)
                if not ents:
                    raise RDBError("empty quicklist node")
                items.extend(_as_bytes(x) for x in ents)
            else:
                raise RDBError(f"bad quicklist container {container}")
        name = b"list"
    elif t == T_LIST_QUICKLIST:
        items = []
        for _ in range(r.plain_length()):
            items.extend(_as_bytes(x) for x in _ziplist_entries(r.string()))
        name = b"list"
    elif t == T_LIST_ZIPLIST:
        items = [_as_bytes(x) for x in _ziplist_entries(r.string())]
        name = b"list"
    elif t in (T_STREAM_LISTPACKS, T_STREAM_LISTPACKS_2):
        raise RDBError("streams are not supported")
    elif t in (T_MODULE, T_MODULE_2):
        raise RDBError("module data types are not supported")
    elif t == T_HASH_ZIPMAP:
        raise RDBError("zipmap hashes (Redis < 2.6) are not supported")
    else:
        raise RDBError(f"unknown object type {t}")
    if not items:
        raise RDBError("empty collection")
    builder = BUILDERS.get(name)
    if builder is None:
        raise RDBError(f"this server has no {name.decode()} type")
    return builder(items)


def decode_value(t: int, body: bytes):
    """The value of an encoded ``(type, body)`` pair; the whole body must be used."""
    r = _Reader(body)
    v = _read_object(r, t)
    if r.pos != len(body):
        raise RDBError("trailing bytes after the value")
    return v


def restore_payload(payload: bytes):
    """RESTORE's checks (verifyDumpPayload) and decoding: PayloadVersionError
    for a bad footer, RDBError for a body that does not decode."""
    if len(payload) < 10:
        raise PayloadVersionError("payload too short")
    footer = payload[-10:]
    ver = footer[0] | (footer[1] << 8)
    if ver > RDB_VERSION:
        raise PayloadVersionError(f"RDB version {ver}")
    if crc64(memoryview(payload)[:-8]) != int.from_bytes(footer[2:], "little"):
        raise PayloadVersionError("checksum")
    # the body is everything before the footer (Redis reads the object from
    # the start of the buffer and ignores what follows it)
    r = _Reader(payload[:-10])
    try:
        return _read_object(r, r.byte())
    except RDBError:
        raise
    except (ValueError, IndexError, OverflowError, struct.error) as e:
        raise RDBError(f"bad data: {e}") from None


# ---- whole files
class LoadResult:
    """What a file held: ``keys[db]`` lists (key, value, deadline_ms or
    None, idle_seconds or None) per database, the AUX fields, and how many
    keys were skipped because they had already expired."""

    def __init__(self):
        self.keys: dict[int, list] = {}
        self.aux: dict[bytes, bytes] = {}
        self.expired_skipped = 0
        self.version = 0
        self.checksum_checked = False


def load_rdb(data: bytes, now_ms: int | None = None) -> LoadResult:
    """Parse a whole RDB file (versions 1-10).  Keys already expired at
    ``now_ms`` are skipped, as Redis does when it loads as a master."""
    if data[:5] != b"REDIS" or len(data) < 9:
        raise RDBError("wrong signature trying to load DB from file")
    try:
        ver = int(data[5:9])
    except ValueError:
        raise RDBError("wrong signature trying to load DB from file") from None
    if ver < 1 or ver > RDB_VERSION:
        raise RDBError(f"can't handle RDB format version {ver}")
    res = LoadResult()
    res.version = ver
    r = _Reader(data, 9)
    db = 0
    cur = res.keys.setdefault(0, [])
    deadline = None
    idle = None
    while True:
        op = r.byte()
        if op == OP_EXPIRETIME_MS:
            deadline = int.from_bytes(r.take(8), "little", signed=True)
            continue
        if op == OP_EXPIRETIME:
            deadline = int.from_bytes(r.take(4), "little", signed=True) * 1000
            continue
        if op == OP_IDLE:
            idle = r.plain_length()
            continue
        if op == OP_FREQ:
            r.byte()       # LFU counter: Shardis keeps no LFU state
            continue
        if op == OP_SELECTDB:
            db = r.plain_length()
            cur = res.keys.setdefault(db, [])
            continue
        if op == OP_RESIZEDB:
            r.plain_length()
            r.plain_length()
            continue
        if op == OP_AUX:
            k = r.string()
            res.aux[k] = r.string()
            continue
        if op == OP_FUNCTION2:
            # a function library (Redis 7 functions): Shardis has no scripting
            r.string()
            continue
        if op == OP_FUNCTION:
            raise RDBError("pre-GA function format not supported")
        if op == OP_MODULE_AUX:
            raise RDBError("module auxiliary data is not supported")
        if op == OP_EOF:
            break
        key = r.string()
        v = _read_object(r, op)
        if deadline is not None and now_ms is not None and deadline <= now_ms:
            res.expired_skipped += 1
        else:
            cur.append((key, v, deadline, idle))
        deadline = None
        idle = None
    if ver >= 5:
        end = r.pos
        expected = int.from_bytes(r.take(8), "little")
        if expected:
            if crc64(memoryview(data)[:end]) != expected:
                raise RDBError("RDB CRC error")
            res.checksum_checked = True
    return res
