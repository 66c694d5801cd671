"""HyperLogLog commands (Redis's hyperloglog.c).

A HyperLogLog is a string value, like in Redis (TYPE says "string", GET
returns the blob, SET can overwrite it): ``b"HYLL"``, a 12-byte header
(unused here) and 16384 registers of one byte each.  The layout is not
bit-compatible with Redis's packed 6-bit dense/sparse encodings (not
required); a string that is not in this layout is rejected with Redis's
"not a valid HyperLogLog" WRONGTYPE error.

Registers: p = 14 (16384 registers, standard error 1.04/sqrt(m) = 0.81%),
the 64-bit hash is BLAKE2b's (well mixed; Redis uses MurmurHash64A): the
low 14 bits pick the register, the run of zeros from bit 14 up (plus one)
is the candidate value.  The estimate is Redis's: Ertl's improved raw
estimator (hllCount with hllTau/hllSigma), no bias tables needed.
"""

from __future__ import annotations

import asyncio
import math
from hashlib import blake2b

from actors.keyspace import WRONGTYPE
from server.protocol import OK, CommandError
from server.table import command

from .sets import raise_if_err

HLL_P = 14
HLL_Q = 64 - HLL_P
HLL_REGISTERS = 1 << HLL_P
HLL_MASK = HLL_REGISTERS - 1
HEADER = b"HYLL" + bytes(12)
HLL_SIZE = len(HEADER) + HLL_REGISTERS
ALPHA_INF = 0.721347520444481703680
INVALID = "WRONGTYPE Key is not a valid HyperLogLog string value."


def _registers(v) -> bytearray | None:
    """A mutable copy of a value's registers; raises for non-HLL values."""
    if v is None:
        return None
    if type(v) is not bytes:
        raise CommandError(WRONGTYPE)
    if len(v) != HLL_SIZE or not v.startswith(b"HYLL"):
        raise CommandError(INVALID)
    return bytearray(v[len(HEADER):])


def _pack(regs) -> bytes:
    return HEADER + bytes(regs)


def hll_pattern(element: bytes) -> tuple[int, int]:
    """(register index, run length) of an element (hllPatLen)."""
    h = int.from_bytes(blake2b(element, digest_size=8).digest(), "little")
    index = h & HLL_MASK
    h >>= HLL_P
    h |= 1 << HLL_Q     # guarantees the loop ends: count <= Q + 1
    count = 1
    bit = 1
    while not h & bit:
        count += 1
        bit <<= 1
    return index, count


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


def hll_count(regs) -> int:
    m = HLL_REGISTERS
    histo = [regs.count(k) for k in range(HLL_Q + 2)]
    z = m * _tau((m - histo[HLL_Q + 1]) / m)
    for k in range(HLL_Q, 0, -1):
        z += histo[k]
        z *= 0.5
    z += m * _sigma(histo[0] / m)
    if math.isinf(z):
        return 0
    return int(math.floor(ALPHA_INF * m * m / z + 0.5))


def merge_into(regs: bytearray, other) -> None:
    """Register-wise max (hllMerge)."""
    # bytes comparisons in C would be faster, but this is 16384 steps
    for i, (a, b) in enumerate(zip(regs, other)):
        if b > a:
            regs[i] = b


@command("pfadd", -2, flags=("write", "denyoom", "fast"), keys=(1, 1, 1), group="hyperloglog",
         summary="Adds elements to a HyperLogLog key. Creates the key if it doesn't exist.",
         syntax="key [element [element ...]]", since="2.8.9",
         complexity="O(1) to add every element.")
def cmd_pfadd(db, argv):
    key = argv[1]
    regs = _registers(db.lookup(key))
    created = regs is None
    if created:
        regs = bytearray(HLL_REGISTERS)
    changed = False
    for e in argv[2:]:
        i, c = hll_pattern(e)
        if regs[i] < c:
            regs[i] = c
            changed = True
    if created:
        db.set(key, _pack(regs))
        return 1
    if changed:
        db.put(key, _pack(regs))
        return 1
    return 0


def _fetch_registers(db, argv):
    """Hop body: registers (immutable blob) of each key, None if missing;
    the first invalid key's error is raised (in key order within the shard)."""
    out = []
    for k in argv[1:]:
        v = db.get(k)
        _registers(v)               # validates
        out.append(v)
    return out


@command("pfcount", -2, flags=("readonly", "may_replicate"), keys=(1, -1, 1), group="hyperloglog",
         summary="Returns the approximated cardinality of the set(s) observed by the HyperLogLog key(s).",
         syntax="key [key ...]", since="2.8.9",
         complexity="O(1) with a very small average constant time when called with a single key. O(N) with N being the number of keys, and much bigger constant times, when called with multiple keys.")
def cmd_pfcount(db, argv):
    return _count_blobs(_fetch_registers(db, argv))


def _count_blobs(blobs) -> int:
    regs = None
    for b in blobs:
        if b is None:
            continue
        r = b[len(HEADER):]
        if regs is None:
            regs = bytearray(r)
        else:
            merge_into(regs, r)
    return 0 if regs is None else hll_count(regs)


async def _gather_blobs(conn, keys):
    from server.router import hop_groups
    parts, res = await hop_groups(conn, keys, _fetch_registers, [b"PFCOUNT"],
                                  stop=lambda r: type(r) is not list)     # an error
    blobs = [None] * len(keys)
    for (s, pos), r in zip(parts, res):
        for i, b in zip(pos, raise_if_err(r)):
            blobs[i] = b
    return blobs


async def _cross_pfcount(conn, argv):
    return _count_blobs(await _gather_blobs(conn, argv[1:]))


cmd_pfcount.spec.cross = _cross_pfcount


def _store_merged(db, argv):
    """Hop body on the destination's shard: merge blobs into it (it is a
    source too, as in Redis) and store; validates the destination."""
    key, blobs = argv[1], argv[2]
    cur = db.lookup(key)
    regs = _registers(cur)
    if regs is None:
        regs = bytearray(HLL_REGISTERS)
    for b in blobs:
        if b is not None:
            merge_into(regs, b[len(HEADER):])
    if cur is None:
        db.set(key, _pack(regs))
    else:
        db.put(key, _pack(regs))
    return OK


@command("pfmerge", -2, flags=("write", "denyoom"), keys=(1, -1, 1), group="hyperloglog",
         summary="Merges one or more HyperLogLog values into a single key.",
         syntax="destkey [sourcekey [sourcekey ...]]", since="2.8.9",
         complexity="O(N) to merge N HyperLogLogs, but with high constant times.")
def cmd_pfmerge(db, argv):
    # Redis validates the destination (merged too) first, then each source
    _registers(db.get(argv[1]))     # a read lookup: a miss is a keymiss
    blobs = _fetch_registers(db, [b""] + argv[2:])
    return _store_merged(db, [b"", argv[1], blobs])


async def _cross_pfmerge(conn, argv):
    # the destination is read first, as a source (Redis's loop starts at it:
    # its keymiss and its validation come first); _store_merged merges it
    blobs = await _gather_blobs(conn, argv[1:])
    return raise_if_err(await conn.hop(conn.shard_of(argv[1]), _store_merged,
                                       [b"PFMERGE", argv[1], blobs[1:]]))


cmd_pfmerge.spec.cross = _cross_pfmerge
