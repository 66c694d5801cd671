"""HyperLogLog commands, byte-compatible with Redis 7.0's hyperloglog.c.

A HyperLogLog is a string value, like in Redis (TYPE says "string", GET
returns the blob, SET/RESTORE can write one): the blob is exactly the one
redis-server stores, so GET, DUMP and STRLEN agree with Redis and a blob
copied from redis-server works here (and back).  docs/hyperloglog.md has
the layout; in short:

* header (16 bytes): ``b"HYLL"``, the encoding (0 dense, 1 sparse), 3
  unused bytes, the cached cardinality (8 bytes little endian; bit 7 of the
  last byte set = the cache is invalid);
* dense: 16384 registers of 6 bits, packed little endian (12288 bytes);
* sparse: run-length opcodes: ZERO ``00xxxxxx`` (1-64 zero registers),
  XZERO ``01xxxxxx yyyyyyyy`` (1-16384 zero registers), VAL ``1vvvvvxx``
  (1-4 registers of value 1-32).

A new HyperLogLog is sparse; PFADD edits the sparse opcodes in place as
Redis's hllSparseSet does (split the opcode covering the register, then
merge adjacent equal VAL opcodes), so the bytes equal Redis's, and switches
to dense when a register would exceed 32 or the blob would exceed
``hll-sparse-max-bytes``.  PFCOUNT on one key returns the cached value or
computes it and writes the cache into the value, as Redis does.

Hash: MurmurHash64A (seed 0xadc83b19) of the element: the low 14 bits pick
the register, the run of zeros from bit 14 up (plus one) is the candidate
value.  The estimate is Redis's hllCount (Ertl's improved raw estimator).
"""

from __future__ import annotations

import math
import struct

from server import tracking
from actors.keyspace import WRONGTYPE
from server.protocol import OK, CommandError, Err, Status
from server.table import command

from .sets import raise_if_err

HLL_P = 14
HLL_Q = 64 - HLL_P
HLL_REGISTERS = 1 << HLL_P
HLL_P_MASK = HLL_REGISTERS - 1
HLL_BITS = 6
HLL_REGISTER_MAX = (1 << HLL_BITS) - 1
HDR = 16                                    # header size
DENSE_BYTES = (HLL_REGISTERS * HLL_BITS + 7) // 8
DENSE_SIZE = HDR + DENSE_BYTES              # 12304
DENSE = 0
SPARSE = 1
VAL_MAX_VALUE = 32
VAL_MAX_LEN = 4
ZERO_MAX_LEN = 64
XZERO_MAX_LEN = 16384
SPARSE_MAX_BYTES = 3000                     # hll-sparse-max-bytes default
ALPHA_INF = 0.721347520444481703680
INVALID = "WRONGTYPE Key is not a valid HyperLogLog string value."
INVALIDOBJ = "INVALIDOBJ Corrupted HLL object detected"

# createHLLObject: sparse, one XZERO covering every register, cache valid (0)
EMPTY = b"HYLL\x01" + bytes(11) + bytes([0x40 | ((XZERO_MAX_LEN - 1) >> 8),
                                         (XZERO_MAX_LEN - 1) & 0xff])


def sparse_max_bytes() -> int:
    """CONFIG hll-sparse-max-bytes (read on the shard: one int attribute of
    the loop-owned Config; the default until the server has started)."""
    from server.persistence import snapshot
    srv = snapshot.RUNNING
    return SPARSE_MAX_BYTES if srv is None else srv.config.hll_sparse_max_bytes


# ---------------------------------------------------------------- hashing
_M = 0xc6a4a7935bd1e995
_MASK64 = (1 << 64) - 1


def murmurhash64a(data: bytes, seed: int = 0xadc83b19) -> int:
    """Redis's MurmurHash64A (little endian)."""
    n = len(data)
    h = (seed ^ (n * _M)) & _MASK64
    nblocks = n >> 3
    if nblocks:
        for k in struct.unpack_from(f"<{nblocks}Q", data):
            k = (k * _M) & _MASK64
            k ^= k >> 47
            k = (k * _M) & _MASK64
            h ^= k
            h = (h * _M) & _MASK64
    tail = n & 7
    if tail:
        h ^= int.from_bytes(data[n - tail:], "little")
        h = (h * _M) & _MASK64
    h ^= h >> 47
    h = (h * _M) & _MASK64
    h ^= h >> 47
    return h


def hll_pattern(element: bytes) -> tuple[int, int]:
    """(register index, run length) of an element (hllPatLen)."""
    h = murmurhash64a(element)
    index = h & HLL_P_MASK
    h = (h >> HLL_P) | (1 << HLL_Q)     # count <= Q + 1
    return index, (h & -h).bit_length()


# ---------------------------------------------------------------- validation
def check(v):
    """isHLLObjectOrReply: v itself (None if missing), or raises."""
    if v is None:
        return None
    if type(v) is not bytes:
        raise CommandError(WRONGTYPE)
    if (len(v) < HDR or v[:4] != b"HYLL" or v[4] > SPARSE
            or (v[4] == DENSE and len(v) != DENSE_SIZE)):
        raise CommandError(INVALID)
    return v


# ---------------------------------------------------------------- dense
def _table(f) -> bytes:
    return bytes(f(i) & 0xff for i in range(256))


_AND63 = _table(lambda b: b & 63)
_SHR6 = _table(lambda b: b >> 6)
_SHR4 = _table(lambda b: b >> 4)
_SHR2 = _table(lambda b: b >> 2)
_AND15_SHL2 = _table(lambda b: (b & 15) << 2)
_AND3_SHL4 = _table(lambda b: (b & 3) << 4)
_AND3_SHL6 = _table(lambda b: (b & 3) << 6)
_AND15_SHL4 = _table(lambda b: (b & 15) << 4)
_SHR4_AND3 = _table(lambda b: (b >> 4) & 3)
_SHR2_AND15 = _table(lambda b: (b >> 2) & 15)
_AND63_SHL2 = _table(lambda b: (b & 63) << 2)


def _or(a: bytes, b: bytes) -> bytes:
    n = len(a)
    return (int.from_bytes(a, "little") | int.from_bytes(b, "little")).to_bytes(n, "little")


def dense_registers(v) -> bytearray:
    """The 16384 registers of a dense blob, one byte each (6-bit fields,
    little endian: 4 registers in each 3 bytes)."""
    d = bytes(v[HDR:DENSE_SIZE])
    b0, b1, b2 = d[0::3], d[1::3], d[2::3]
    regs = bytearray(HLL_REGISTERS)
    regs[0::4] = b0.translate(_AND63)
    regs[1::4] = _or(b0.translate(_SHR6), b1.translate(_AND15_SHL2))
    regs[2::4] = _or(b1.translate(_SHR4), b2.translate(_AND3_SHL4))
    regs[3::4] = b2.translate(_SHR2)
    return regs


def pack_dense(regs) -> bytes:
    """Registers (one byte each, <= 63) -> the 12288 packed bytes."""
    r = bytes(regs)
    r0, r1, r2, r3 = r[0::4], r[1::4], r[2::4], r[3::4]
    out = bytearray(DENSE_BYTES)
    out[0::3] = _or(r0.translate(_AND63), r1.translate(_AND3_SHL6))
    out[1::3] = _or(r1.translate(_SHR2_AND15), r2.translate(_AND15_SHL4))
    out[2::3] = _or(r2.translate(_SHR4_AND3), r3.translate(_AND63_SHL2))
    return bytes(out)


def dense_get(buf, index: int) -> int:
    pos = index * HLL_BITS
    b = HDR + (pos >> 3)
    fb = pos & 7
    v = buf[b] >> fb
    if fb > 2:
        v |= buf[b + 1] << (8 - fb)
    return v & HLL_REGISTER_MAX


def dense_set(buf: bytearray, index: int, count: int) -> int:
    """hllDenseSet: raise the register to count; 1 if it changed."""
    pos = index * HLL_BITS
    b = HDR + (pos >> 3)
    fb = pos & 7
    old = buf[b] >> fb
    if fb > 2:
        old |= buf[b + 1] << (8 - fb)
    if count <= old & HLL_REGISTER_MAX:
        return 0
    buf[b] = (buf[b] & ~(HLL_REGISTER_MAX << fb) & 0xff) | ((count << fb) & 0xff)
    if fb > 2:
        fb8 = 8 - fb
        buf[b + 1] = (buf[b + 1] & ~(HLL_REGISTER_MAX >> fb8) & 0xff) | (count >> fb8)
    return 1


# ---------------------------------------------------------------- sparse
def _xzero_len(buf, p: int, end: int) -> int:
    # the byte after a lone XZERO at the end is the sds terminator (0) in Redis
    return (((buf[p] & 0x3f) << 8) | (buf[p + 1] if p + 1 < end else 0)) + 1


def sparse_registers(v) -> bytearray | None:
    """The registers of a sparse blob (hllSparseToDense's walk), or None if
    the opcodes do not cover exactly 16384 registers."""
    regs = bytearray()
    idx = 0
    p = HDR
    end = len(v)
    while p < end:
        op = v[p]
        if op & 0x80:
            run = (op & 3) + 1
            if idx + run > HLL_REGISTERS:
                return None                 # overflow
            regs += bytes((((op >> 2) & 0x1f) + 1,)) * run
            idx += run
            p += 1
        elif op & 0x40:
            run = _xzero_len(v, p, end)
            regs += bytes(min(run, HLL_REGISTERS + 1))
            idx += run
            p += 2
        else:
            run = (op & 0x3f) + 1
            regs += bytes(run)
            idx += run
            p += 1
        if idx > HLL_REGISTERS:
            return None
    return regs if idx == HLL_REGISTERS else None


def sparse_histogram(v) -> list[int] | None:
    """hllSparseRegHisto: register value -> count, None if invalid."""
    histo = [0] * 64
    idx = 0
    p = HDR
    end = len(v)
    while p < end:
        op = v[p]
        if op & 0x80:
            run = (op & 3) + 1
            histo[((op >> 2) & 0x1f) + 1] += run
            p += 1
        elif op & 0x40:
            run = _xzero_len(v, p, end)
            histo[0] += run
            p += 2
        else:
            run = (op & 0x3f) + 1
            histo[0] += run
            p += 1
        idx += run
    return histo if idx == HLL_REGISTERS else None


def to_dense(v) -> bytes | None:
    """hllSparseToDense: the dense blob (header copied: magic, unused bytes
    and cached cardinality), None if the sparse data is corrupt."""
    if v[4] == DENSE:
        return bytes(v)
    regs = sparse_registers(v)
    if regs is None:
        return None
    return bytes(v[:4]) + b"\x00" + bytes(v[5:HDR]) + pack_dense(regs)


def _val(value: int, run: int) -> int:
    return 0x80 | ((value - 1) << 2) | (run - 1)


def _zeros(seq: bytearray, n: int) -> None:
    if n > ZERO_MAX_LEN:
        seq.append(0x40 | ((n - 1) >> 8))
        seq.append((n - 1) & 0xff)
    else:
        seq.append(n - 1)


PROMOTE = 2


def sparse_set(buf: bytearray, index: int, count: int, max_bytes: int, cursor=None):
    """hllSparseSet on a sparse blob, in place: (result, cursor) with result
    1 (updated), 0 (nothing to do), -1 (corrupt) or PROMOTE (the caller must
    convert to dense and set the register there; buf is unchanged).

    ``cursor`` (from the previous call, for calls with increasing indexes)
    is an opcode where the search may start instead of the first one:
    (position, its first register, the position of the opcode before it or
    None).  Everything before the opcode before the target is unchanged by
    a call, so the search reaches the same opcode, with the same 'prev'."""
    if count > VAL_MAX_VALUE:
        return PROMOTE, None
    end = len(buf)
    if cursor is None:
        p, first, prev = HDR, 0, None
    else:
        p, first, prev = cursor
    fprev = -1 if prev is not None else 0   # the first register of prev (-1: unknown)
    pprev = None
    # Step 1: the opcode covering the register
    span = 0
    while p < end:
        op = buf[p]
        oplen = 1
        if op & 0xc0 == 0:
            span = (op & 0x3f) + 1
        elif op & 0x80:
            span = (op & 3) + 1
        else:
            span = _xzero_len(buf, p, end)
            oplen = 2
        if index <= first + span - 1:
            break
        pprev, prev, fprev = prev, p, first
        p += oplen
        first += span
    if span == 0 or p >= end:
        return -1, None
    op = buf[p]
    is_xzero = op & 0xc0 == 0x40
    nxt = p + 2 if is_xzero else p + 1
    if nxt >= end:
        nxt = None
    # the cursor for a later call: prev keeps its position and first register
    # (merges from prev leave the merged opcode there), pprev is untouched
    new_cursor = (prev, fprev, pprev) if prev is not None and fprev >= 0 else None
    if op & 0x80:
        runlen = (op & 3) + 1
        old = ((op >> 2) & 0x1f) + 1
        if old >= count:                                    # case A
            return 0, new_cursor
        if runlen == 1:                                     # case B
            buf[p] = _val(count, 1)
            return _merge(buf, prev), new_cursor
    elif op & 0xc0 == 0:
        runlen = (op & 0x3f) + 1
        if runlen == 1:                                     # case C
            buf[p] = _val(count, 1)
            return _merge(buf, prev), new_cursor
    # case D: split the opcode into up to three
    last = first + span - 1
    seq = bytearray()
    if not op & 0x80:
        if index != first:
            _zeros(seq, index - first)
        seq.append(_val(count, 1))
        if index != last:
            _zeros(seq, last - index)
    else:
        cur = ((op >> 2) & 0x1f) + 1
        if index != first:
            seq.append(_val(cur, index - first))
        seq.append(_val(count, 1))
        if index != last:
            seq.append(_val(cur, last - index))
    # Step 3: replace the old opcode with the sequence
    oldlen = 2 if is_xzero else 1
    delta = len(seq) - oldlen
    if delta > 0 and end + delta > max_bytes:
        return PROMOTE, None
    if nxt is not None:
        buf[p:nxt] = seq
    else:
        newlen = end + delta
        buf[p:] = seq
        del buf[newlen:]
    return _merge(buf, prev), new_cursor


def _merge(buf: bytearray, prev) -> int:
    """Step 4 of hllSparseSet: merge adjacent VAL opcodes of one value
    (scanning up to 5 opcodes from prev), then invalidate the cache."""
    p = HDR if prev is None else prev
    end = len(buf)
    scan = 5
    while p < end:
        if scan == 0:
            break
        scan -= 1
        op = buf[p]
        if op & 0xc0 == 0x40:
            p += 2
            continue
        if op & 0xc0 == 0:
            p += 1
            continue
        if p + 1 < end and buf[p + 1] & 0x80:
            op2 = buf[p + 1]
            v1 = ((op >> 2) & 0x1f) + 1
            if v1 == ((op2 >> 2) & 0x1f) + 1:
                run = (op & 3) + (op2 & 3) + 2
                if run <= VAL_MAX_LEN:
                    buf[p + 1] = _val(v1, run)
                    del buf[p]
                    end -= 1
                    continue
        p += 1
    buf[15] |= 0x80
    return 1


def hll_set(buf: bytearray, index: int, count: int, max_bytes: int, cursor=None):
    """hllDenseSet / hllSparseSet (with the promotion to dense) on a blob:
    (1 updated / 0 / -1 corrupt, cursor).  buf may become dense."""
    if buf[4] == DENSE:
        return dense_set(buf, index, count), None
    r, cursor = sparse_set(buf, index, count, max_bytes, cursor)
    if r != PROMOTE:
        return r, cursor
    dense = to_dense(buf)
    if dense is None:
        return -1, None
    buf[:] = dense
    dense_set(buf, index, count)
    return 1, None


# ---------------------------------------------------------------- counting
def _tau(x: float) -> float:
    if x == 0.0 or x == 1.0:
        return 0.0
    y = 1.0
    z = 1 - x
    while True:
        x = math.sqrt(x)
        z_prime = z
        y *= 0.5
        z -= (1 - x) ** 2 * y
        if z_prime == z:
            return z / 3


def _sigma(x: float) -> float:
    if x == 1.0:
        return math.inf
    y = 1.0
    z = x
    while True:
        x *= x
        z_prime = z
        z += x * y
        y += y
        if z_prime == z:
            return z


def count_histogram(histo) -> int:
    """hllCount from a register histogram."""
    m = float(HLL_REGISTERS)
    z = m * _tau((m - histo[HLL_Q + 1]) / m)
    for k in range(HLL_Q, 0, -1):
        z += histo[k]
        z *= 0.5
    z += m * _sigma(histo[0] / m)
    e = ALPHA_INF * m * m / z
    f = math.floor(e)          # llroundl: half away from zero (e >= 0)
    return int(f) + (1 if e - f >= 0.5 else 0)


def histogram(regs) -> list[int]:
    return [regs.count(k) for k in range(64)]


def registers_of(v) -> bytearray | None:
    """Registers of a valid HLL blob (one byte each), None if corrupt."""
    if v[4] == DENSE:
        return dense_registers(v)
    return sparse_registers(v)


def merge_max(a: bytes | bytearray, b) -> bytes:
    """Register-wise maximum (hllMerge into the 'max' array)."""
    return bytes(map(max, a, b))


# ---------------------------------------------------------------- PFADD
@command("pfadd", -2, flags=("write", "denyoom", "fast"), keys=(1, 1, 1), group="hyperloglog",
         summary="Adds elements to a HyperLogLog key. Creates the key if it doesn't exist.",
         syntax="key [element [element ...]]", since="2.8.9",
         complexity="O(1) to add every element.")
def cmd_pfadd(db, argv):
    key = argv[1]
    v = check(db.lookup(key))          # lookupKeyWrite: no hit/miss stats
    created = v is None
    buf = bytearray(EMPTY if created else v)
    updated = 1 if created else 0
    max_bytes = sparse_max_bytes()
    for e in argv[2:]:
        i, c = hll_pattern(e)
        r, _ = hll_set(buf, i, c, max_bytes)
        if r == 1:
            updated += 1
        elif r == -1:
            # Redis edits the value in place: what was set before stays
            if bytes(buf) != v:
                db.put(key, bytes(buf))
            raise CommandError(INVALIDOBJ)
    if not updated:
        return 0
    buf[15] |= 0x80                    # HLL_INVALIDATE_CACHE
    if created:
        db.set(key, bytes(buf))
    else:
        db.put(key, bytes(buf))
    return 1


# ---------------------------------------------------------------- PFCOUNT
def _signal_modified(db, key) -> None:
    """signalModifiedKey for a value changed in place by a read command
    (PFCOUNT's cache): WATCH and client-side caching."""
    if db.watchers:
        db.touched(key)
    sh = db.shard
    if sh.tracking or sh.bcast:
        sh.invalidate(key)


def _count_one(db, key) -> int:
    v = check(db.get(key))
    if v is None:
        return 0
    if not v[15] & 0x80:                               # HLL_VALID_CACHE
        return int.from_bytes(v[8:16], "little")
    if v[4] == DENSE:
        histo = histogram(dense_registers(v))
    else:
        histo = sparse_histogram(v)
        if histo is None:
            raise CommandError(INVALIDOBJ)
    card = count_histogram(histo)
    db.put(key, v[:8] + card.to_bytes(8, "little") + v[16:])
    _signal_modified(db, key)
    return card


def _fetch_registers(db, argv):
    """Hop body: for each key in order, None (missing) or (registers, dense?);
    at the first invalid key (not a HyperLogLog: WRONGTYPE; corrupt: Redis's
    hllMerge error) an `Err` ends the list, as Redis looks no further."""
    out = []
    for k in argv[1:]:
        try:
            v = check(db.get(k))       # lookupKeyRead
            if v is None:
                out.append(None)
                continue
            regs = registers_of(v)
            if regs is None:
                raise CommandError(INVALIDOBJ)
        except CommandError as e:
            out.append(e.reply)
            break
        out.append((regs, v[4] == DENSE))
    return out


def _union(entries):
    """(max registers or None, any dense?) of fetched entries in key order;
    raises the first error."""
    regs = None
    dense = False
    for e in entries:
        if e is None:
            continue
        if type(e) is Err:
            raise_if_err(e)
        r, d = e
        dense = dense or d
        regs = bytes(r) if regs is None else merge_max(regs, r)
    return regs, dense


@command("pfcount", -2, flags=("readonly", "may_replicate"), keys=(1, -1, 1), group="hyperloglog",
         summary="Returns the approximated cardinality of the set(s) observed by the HyperLogLog key(s).",
         syntax="key [key ...]", since="2.8.9",
         complexity="O(1) with a very small average constant time when called with a single key. O(N) with N being the number of keys, and much bigger constant times, when called with multiple keys.")
def cmd_pfcount(db, argv):
    if len(argv) == 2:
        return _count_one(db, argv[1])
    regs, _ = _union(_fetch_registers(db, argv))
    return _count_raw(regs)


def _count_raw(regs) -> int:
    if regs is None:
        regs = bytes(HLL_REGISTERS)
    return count_histogram(histogram(regs))


async def _gather(conn, keys):
    """Fetched entries of keys (in key order) from their shards; positions
    after a shard's error are left None (an earlier key has the error)."""
    from server.router import hop_groups
    parts, res = await hop_groups(
        conn, keys, _fetch_registers, [b"PFCOUNT"],
        stop=lambda r: type(r) is not list or (r and type(r[-1]) is Err))
    entries = [None] * len(keys)
    for (s, pos), r in zip(parts, res):
        for i, e in zip(pos, raise_if_err(r)):
            entries[i] = e
    return entries


async def _cross_pfcount(conn, argv):
    regs, _ = _union(await _gather(conn, argv[1:]))
    return _count_raw(regs)


cmd_pfcount.spec.cross = tracking.remembering(_cross_pfcount)


# ---------------------------------------------------------------- PFMERGE
def _store_merged(db, argv):
    """Hop body on the destination's shard (pfmergeCommand after its read
    loop): create or take the destination, make it dense if any input was,
    raise its registers to the merged maximum, invalidate the cache."""
    key, regs, use_dense = argv[1], argv[2], argv[3]
    cur = db.lookup(key)               # lookupKeyWrite
    buf = bytearray(EMPTY if cur is None else cur)
    if use_dense and buf[4] != DENSE:
        dense = to_dense(buf)
        if dense is None:
            if cur is None:
                db.set(key, bytes(buf))
            raise CommandError(INVALIDOBJ)
        buf[:] = dense
    if regs is not None:
        max_bytes = sparse_max_bytes()
        cursor = None
        for j, m in enumerate(regs):
            if m:
                _, cursor = hll_set(buf, j, m, max_bytes, cursor)
    buf[15] |= 0x80
    if cur is None:
        db.set(key, bytes(buf))
    else:
        db.put(key, bytes(buf))
    return OK


@command("pfmerge", -2, flags=("write", "denyoom"), keys=(1, -1, 1), group="hyperloglog",
         summary="Merges one or more HyperLogLog values into a single key.",
         syntax="destkey [sourcekey [sourcekey ...]]", since="2.8.9",
         complexity="O(N) to merge N HyperLogLogs, but with high constant times.")
def cmd_pfmerge(db, argv):
    # the destination is a source too: Redis's read loop starts at it
    regs, dense = _union(_fetch_registers(db, argv))
    return _store_merged(db, [b"", argv[1], regs, dense])


async def _cross_pfmerge(conn, argv):
    regs, dense = _union(await _gather(conn, argv[1:]))
    return raise_if_err(await conn.hop(conn.shard_of(argv[1]), _store_merged,
                                       [b"PFMERGE", argv[1], regs, dense]))


cmd_pfmerge.spec.cross = _cross_pfmerge


# ---------------------------------------------------------------- PFDEBUG
@command("pfdebug", 3, flags=("write", "denyoom", "admin"), keys=(2, 2, 1),
         group="hyperloglog", summary="Internal commands for debugging HyperLogLog values.",
         syntax="subcommand key", since="2.8.9", complexity="N/A")
def cmd_pfdebug(db, argv):
    sub = argv[1]
    key = argv[2]
    v = db.lookup(key)                 # lookupKeyWrite
    if v is None:
        raise CommandError("ERR The specified key does not exist")
    check(v)
    name = sub.lower()
    if name == b"getreg":
        if v[4] == SPARSE:
            dense = to_dense(v)
            if dense is None:
                raise CommandError(INVALIDOBJ)
            db.put(key, dense)
            v = dense
        return list(dense_registers(v))
    if name == b"decode":
        if v[4] != SPARSE:
            raise CommandError("ERR HLL encoding is not sparse")
        out = []
        p = HDR
        end = len(v)
        while p < end:
            op = v[p]
            if op & 0xc0 == 0:
                out.append(b"z:%d" % ((op & 0x3f) + 1))
                p += 1
            elif op & 0xc0 == 0x40:
                out.append(b"Z:%d" % _xzero_len(v, p, end))
                p += 2
            else:
                out.append(b"v:%d,%d" % (((op >> 2) & 0x1f) + 1, (op & 3) + 1))
                p += 1
        return b" ".join(out)
    if name == b"encoding":
        return Status(b"sparse" if v[4] == SPARSE else b"dense")
    if name == b"todense":
        if v[4] != SPARSE:
            return 0
        dense = to_dense(v)
        if dense is None:
            raise CommandError(INVALIDOBJ)
        db.put(key, dense)
        return 1
    # addReplyErrorFormat: the name as given, newlines made spaces
    raise CommandError(b"ERR Unknown PFDEBUG subcommand '%b'"
                       % sub.replace(b"\r", b" ").replace(b"\n", b" "))
