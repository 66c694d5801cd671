"""Hash commands (Redis's t_hash.c).  Values are `RedisHash`, a ``dict``
field -> value (both bytes).

Reply order: a Python dict keeps insertion order, an update keeps a field's
place and a deleted field re-added goes last, exactly like Redis's listpack
encoding, so small hashes answer HGETALL/HKEYS/HSCAN in Redis's order.  Once
a hash is "hashtable" encoded Redis's order is its hash table's; ours stays
insertion order (clients must not rely on either).
"""

from __future__ import annotations

import random
from fractions import Fraction

from actors.keyspace import WRONGTYPE, register_type
from server import protocol as _protocol
from server.protocol import OK, CommandError
from server.table import command

from .sets import filter_match, scan_members, scan_options
from .strings import _round_bits, format_long_double, parse_long_double, _LD_MAX
from .util import INT64_MAX, INT64_MIN, SYNTAX, parse_int

# Redis 7.0 defaults (hash-max-listpack-entries / hash-max-listpack-value,
# checked against redis-server 7.0.15: 512 and 64); the shard cannot see
# CONFIG, so changes to them are not reflected here.
HASH_MAX_LISTPACK_ENTRIES = 512
HASH_MAX_LISTPACK_VALUE = 64


class RedisHash(dict):
    """A Redis hash.  ``ht`` mirrors Redis's one-way conversion from listpack
    to hashtable: set once a field or value longer than
    HASH_MAX_LISTPACK_VALUE was stored or the hash outgrew
    HASH_MAX_LISTPACK_ENTRIES; Redis never converts back.
    Invariant: never stored empty (the key is deleted)."""

    __slots__ = ("ht",)

    def __init__(self, *a, **kw):
        super().__init__(*a, **kw)
        self.ht = False

    def set_field(self, field: bytes, value: bytes) -> bool:
        """hashTypeSet: store; True if the field is new."""
        if not self.ht and (len(field) > HASH_MAX_LISTPACK_VALUE
                            or len(value) > HASH_MAX_LISTPACK_VALUE):
            self.ht = True
        new = field not in self
        self[field] = value
        if new and not self.ht and len(self) > HASH_MAX_LISTPACK_ENTRIES:
            self.ht = True
        return new

    def redis_encoding(self) -> bytes:
        return b"hashtable" if self.ht else b"listpack"

    def copy(self) -> "RedisHash":
        c = RedisHash(self)
        c.ht = self.ht
        return c


register_type(RedisHash, b"hash")


_LD_MIN = Fraction(1, 2 ** 16382)     # smallest normal long double


def parse_ld(b: bytes, err: str):
    """string2ld: like strings.parse_long_double, and also refuses what
    strtold reports as ERANGE (beyond long double's range, or underflowing
    below its smallest normal value).  None for an infinity."""
    v = parse_long_double(b, err)
    if v is not None and v != 0 and (abs(v) >= _LD_MAX or abs(v) < _LD_MIN):
        raise CommandError(err)
    return v


def parse_cursor(b: bytes) -> int:
    """parseScanCursorOrReply: strtoul of the whole string.  strtoul takes
    an optional sign (a negative value wraps modulo 2**64) and an empty
    string is cursor 0; leading spaces and overflow are refused."""
    if b[:1].isspace():
        raise CommandError("ERR invalid cursor")
    digits = b[1:] if b[:1] in (b"+", b"-") else b
    if b and (not digits or not digits.isdigit()):
        raise CommandError("ERR invalid cursor")
    v = int(digits) if digits else 0
    if v >= 1 << 64:
        raise CommandError("ERR invalid cursor")
    return (-v) % (1 << 64) if b[:1] == b"-" else v


def _for_read(db, key: bytes):
    return db.get_typed(key, RedisHash)


def _for_write(db, key: bytes):
    """lookupKeyWrite + checkType (no hit/miss stats)."""
    v = db.lookup(key)
    if v is None or type(v) is RedisHash:
        return v
    raise CommandError(WRONGTYPE)


def _store(db, key: bytes, h: RedisHash, created: bool) -> None:
    if created:
        db.set(key, h)
    else:
        db.put(key, h)


def _write_or_create(db, key: bytes):
    """hashTypeLookupWriteOrCreate: (hash, created)."""
    h = _for_write(db, key)
    if h is None:
        return RedisHash(), True
    return h, False


# --------------------------------------------------------------- writes
def hset_generic(db, argv, name: str):
    if len(argv) % 2 == 1:
        raise CommandError("ERR wrong number of arguments for '%s' command" % name)
    key = argv[1]
    h, created = _write_or_create(db, key)
    added = 0
    for i in range(2, len(argv), 2):
        added += h.set_field(argv[i], argv[i + 1])
    _store(db, key, h, created)
    return added


@command("hset", -4, flags=("write", "denyoom", "fast"), keys=(1, 1, 1), group="hash",
         since="2.0.0", summary="Creates or modifies the value of a field in a hash.",
         syntax="key field value [field value ...]",
         complexity="O(1) for each field/value pair added, so O(N) to add N field/value pairs when the command is called with multiple field/value pairs.")
def cmd_hset(db, argv):
    return hset_generic(db, argv, "hset")


@command("hmset", -4, flags=("write", "denyoom", "fast"), keys=(1, 1, 1), group="hash",
         since="2.0.0", summary="Sets the values of multiple fields.",
         syntax="key field value [field value ...]",
         complexity="O(N) where N is the number of fields being set.")
def cmd_hmset(db, argv):
    hset_generic(db, argv, "hmset")
    return OK


@command("hsetnx", 4, flags=("write", "denyoom", "fast"), keys=(1, 1, 1), group="hash",
         since="2.0.0", summary="Sets the value of a field in a hash only when the field doesn't exist.",
         syntax="key field value")
def cmd_hsetnx(db, argv):
    key = argv[1]
    h, created = _write_or_create(db, key)
    if argv[2] in h:
        return 0
    h.set_field(argv[2], argv[3])
    _store(db, key, h, created)
    return 1


@command("hdel", -3, flags=("write", "fast"), keys=(1, 1, 1), group="hash", since="2.0.0",
         summary="Deletes one or more fields and their values from a hash. Deletes the hash if no fields remain.",
         syntax="key field [field ...]", complexity="O(N) where N is the number of fields to be removed.")
def cmd_hdel(db, argv):
    key = argv[1]
    h = _for_write(db, key)
    if h is None:
        return 0
    n = 0
    for f in argv[2:]:
        if f in h:
            del h[f]
            n += 1
            if not h:
                break
    if n:
        if h:
            db.put(key, h)
        else:
            db.delete(key)
    return n


@command("hincrby", 4, flags=("write", "denyoom", "fast"), keys=(1, 1, 1), group="hash",
         since="2.0.0", summary="Increments the integer value of a field in a hash by a number. Uses 0 as initial value if the field doesn't exist.",
         syntax="key field increment")
def cmd_hincrby(db, argv):
    incr = parse_int(argv[3])
    key, field = argv[1], argv[2]
    h, created = _write_or_create(db, key)
    cur = h.get(field)
    if cur is None:
        value = 0
    else:
        try:
            value = parse_int(cur)
        except CommandError:
            raise CommandError("ERR hash value is not an integer") from None
    new = value + incr
    if new > INT64_MAX or new < INT64_MIN:
        raise CommandError("ERR increment or decrement would overflow")
    h.set_field(field, b"%d" % new)
    _store(db, key, h, created)
    return new


@command("hincrbyfloat", 4, flags=("write", "denyoom", "fast"), keys=(1, 1, 1),
         group="hash", since="2.6.0",
         summary="Increments the floating point value of a field by a number. Uses 0 as initial value if the field doesn't exist.",
         syntax="key field increment")
def cmd_hincrbyfloat(db, argv):
    incr = parse_ld(argv[3], "ERR value is not a valid float")
    if incr is None:
        raise CommandError("ERR value is NaN or Infinity")
    key, field = argv[1], argv[2]
    h, created = _write_or_create(db, key)
    cur = h.get(field)
    if cur is None:
        value = 0
    else:
        value = parse_ld(cur, "ERR hash value is not a float")
        if value is None:        # a stored infinity
            raise CommandError("ERR increment would produce NaN or Infinity")
    n = _round_bits(value + incr)
    if abs(n) >= _LD_MAX:
        raise CommandError("ERR increment would produce NaN or Infinity")
    out = format_long_double(n)
    h.set_field(field, out)
    _store(db, key, h, created)
    return out


# --------------------------------------------------------------- reads
@command("hget", 3, flags=("readonly", "fast"), keys=(1, 1, 1), group="hash", since="2.0.0",
         summary="Returns the value of a field in a hash.", syntax="key field")
def cmd_hget(db, argv):
    h = _for_read(db, argv[1])
    return None if h is None else h.get(argv[2])


@command("hmget", -3, flags=("readonly", "fast"), keys=(1, 1, 1), group="hash", since="2.0.0",
         summary="Returns the values of all fields in a hash.", syntax="key field [field ...]",
         complexity="O(N) where N is the number of fields being requested.")
def cmd_hmget(db, argv):
    h = _for_read(db, argv[1])
    if h is None:
        return [None] * (len(argv) - 2)
    return [h.get(f) for f in argv[2:]]


@command("hlen", 2, flags=("readonly", "fast"), keys=(1, 1, 1), group="hash", since="2.0.0",
         summary="Returns the number of fields in a hash.", syntax="key")
def cmd_hlen(db, argv):
    h = _for_read(db, argv[1])
    return 0 if h is None else len(h)


@command("hstrlen", 3, flags=("readonly", "fast"), keys=(1, 1, 1), group="hash",
         since="3.2.0", summary="Returns the length of the value of a field.", syntax="key field")
def cmd_hstrlen(db, argv):
    h = _for_read(db, argv[1])
    if h is None:
        return 0
    v = h.get(argv[2])
    return 0 if v is None else len(v)


@command("hexists", 3, flags=("readonly", "fast"), keys=(1, 1, 1), group="hash",
         since="2.0.0", summary="Determines whether a field exists in a hash.", syntax="key field")
def cmd_hexists(db, argv):
    h = _for_read(db, argv[1])
    return int(h is not None and argv[2] in h)


@command("hkeys", 2, flags=("readonly",), keys=(1, 1, 1), group="hash", since="2.0.0",
         summary="Returns all fields in a hash.", syntax="key",
         complexity="O(N) where N is the size of the hash.")
def cmd_hkeys(db, argv):
    h = _for_read(db, argv[1])
    return [] if h is None else list(h)


@command("hvals", 2, flags=("readonly",), keys=(1, 1, 1), group="hash", since="2.0.0",
         summary="Returns all values in a hash.", syntax="key",
         complexity="O(N) where N is the size of the hash.")
def cmd_hvals(db, argv):
    h = _for_read(db, argv[1])
    return [] if h is None else list(h.values())


@command("hgetall", 2, flags=("readonly",), keys=(1, 1, 1), group="hash", since="2.0.0",
         summary="Returns all fields and values in a hash.", syntax="key",
         complexity="O(N) where N is the size of the hash.")
def cmd_hgetall(db, argv):
    h = _for_read(db, argv[1])
    # a plain dict: a RESP3 map, a flat array in RESP2
    return {} if h is None else dict(h)


@command("hscan", -3, flags=("readonly",), keys=(1, 1, 1), group="hash", since="2.8.0",
         summary="Iterates over fields and values of a hash.",
         syntax="key cursor [MATCH pattern] [COUNT count]",
         complexity="O(1) for every call. O(N) for a complete iteration, including enough command calls for the cursor to return back to 0. N is the number of elements inside the collection.")
def cmd_hscan(db, argv):
    cursor = parse_cursor(argv[2])
    h = _for_read(db, argv[1])
    if h is None:
        return [b"0", []]
    pattern, count = scan_options(argv, 3)
    # a listpack hash answers everything at once with cursor 0, as Redis does
    nxt, fields = scan_members(h, cursor, count, not h.ht)
    out = []
    for f in filter_match(pattern, fields):
        out.append(f)
        out.append(h[f])
    return [str(nxt).encode(), out]


@command("hrandfield", -2, flags=("readonly",), keys=(1, 1, 1), group="hash", since="6.2.0",
         summary="Returns one or more random fields from a hash.",
         syntax="key [count [WITHVALUES]]",
         complexity="O(N) where N is the number of fields returned")
def cmd_hrandfield(db, argv):
    if len(argv) == 2:
        h = _for_read(db, argv[1])
        if h is None:
            return None
        return random.choice(list(h))
    count = parse_int(argv[2])
    if count == INT64_MIN:
        raise CommandError("ERR value is out of range, value must between "
                           "-9223372036854775807 and 9223372036854775807")
    withvalues = False
    if len(argv) > 4 or (len(argv) == 4 and argv[3].lower() != b"withvalues"):
        raise CommandError(SYNTAX)
    if len(argv) == 4:
        withvalues = True
        if count < -(INT64_MAX // 2) or count > INT64_MAX // 2:
            raise CommandError("ERR value is out of range")
    h = _for_read(db, argv[1])
    if h is None or count == 0:
        return []
    fields = list(h)
    if count < 0:
        picked = random.choices(fields, k=-count)     # repeats allowed
    elif count >= len(fields):
        picked = fields
    else:
        picked = random.sample(fields, count)
    if not withvalues:
        return picked
    if _PAIRS is not None:
        return _PAIRS([f, h[f]] for f in picked)
    out = []
    for f in picked:
        out.append(f)
        out.append(h[f])
    return out


# HRANDFIELD ... WITHVALUES replies nested [field, value] arrays in RESP3 and
# a flat array in RESP2.  Handlers cannot see the protocol, so the shape is
# left to protocol.Pairs; the flat fallback only matters for a protocol
# module without it.
_PAIRS = getattr(_protocol, "Pairs", None)
