"""Bitmap commands (SETBIT GETBIT BITCOUNT BITPOS BITOP BITFIELD BITFIELD_RO)
compared with a real redis-server 7.0.15 as raw reply bytes, in RESP2 and
RESP3: same values, same reply types, same error texts.  Cross-shard BITOP is
checked with keys that provably live on different shards of the 4-shard
test server."""

from __future__ import annotations

import socket
import time

import hiredis
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from actors.slots import SlotMap

SHARDS = SlotMap(4)          # the `shardis` fixture runs 4 shards


class Raw:
    """One connection; ``call`` returns the raw reply bytes."""

    def __init__(self, port: int, proto: int):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.reader = hiredis.Reader()
        if proto == 3:
            assert self.call("HELLO", "3").startswith(b"%")

    def call(self, *args) -> bytes:
        args = [a if isinstance(a, bytes) else str(a).encode() for a in args]
        self.sock.sendall(b"*%d\r\n" % len(args)
                          + b"".join(b"$%d\r\n%b\r\n" % (len(a), a) for a in args))
        data = b""
        while True:
            if self.reader.gets() is not False:
                return data
            chunk = self.sock.recv(1 << 20)
            assert chunk, f"connection closed after {args!r}"
            data += chunk
            self.reader.feed(chunk)

    def close(self):
        self.sock.close()


@pytest.fixture(params=[2, 3], ids=["resp2", "resp3"])
def both(request, shardis, real_redis):
    a, b = Raw(shardis.port, request.param), Raw(real_redis.port, request.param)
    for c in (a, b):
        assert c.call("FLUSHALL") == b"+OK\r\n"
    yield a, b
    for c in (a, b):
        c.call("FLUSHALL")
        c.close()


def same(both, cmds):
    a, b = both
    for i, cmd in enumerate(cmds):
        ours, theirs = a.call(*cmd), b.call(*cmd)
        assert ours == theirs, f"step {i}: {cmd!r}\nshardis: {ours[:300]!r}\nredis:   {theirs[:300]!r}"


def on_different_shards(*keys: str) -> bool:
    return len({SHARDS.shard_of(k.encode()) for k in keys}) == len(keys)


def keys_on_distinct_shards(n: int, prefix: str) -> list[str]:
    out: list[str] = []
    i = 0
    while len(out) < n:
        k = f"{prefix}{i}"
        if on_different_shards(*out, k):
            out.append(k)
        i += 1
    return out


# ---------------------------------------------------------------- SETBIT / GETBIT

def test_setbit_and_getbit_match_redis_including_offset_and_value_errors(both):
    same(both, [
        ("SETBIT", "b", 7, 1), ("SETBIT", "b", 7, 0), ("SETBIT", "b", 100, 1), ("GET", "b"),
        ("GETBIT", "b", 100), ("GETBIT", "b", 99), ("GETBIT", "b", 100000), ("GETBIT", "nokey", 3),
        ("SETBIT", "b", -1, 1), ("SETBIT", "b", "abc", 1), ("SETBIT", "b", "01", 1), ("SETBIT", "b", "+1", 1),
        ("SETBIT", "b", 4294967296, 1), ("GETBIT", "b", 4294967296), ("GETBIT", "b", "#1"),
        ("SETBIT", "b", 1, 2), ("SETBIT", "b", 1, -1), ("SETBIT", "b", 1, "01"), ("SETBIT", "b", 1, ""),
        ("SADD", "s", "m"), ("SETBIT", "s", 1, 1), ("SETBIT", "s", "abc", 1), ("SETBIT", "s", 1, 5),
        ("GETBIT", "s", 1), ("GETBIT", "s", "x"),
        ("SET", "t", "v", "EX", 100), ("SETBIT", "t", 3, 1), ("TTL", "t"),
        ("SETBIT",), ("GETBIT", "b"), ("SETBIT", "b", 1),
    ])


def test_setbit_at_the_last_allowed_offset_grows_the_string_to_512_megabytes(both):
    # offset 2**32-1 is the last bit of proto-max-bulk-len; one more is refused
    same(both, [("SETBIT", "huge", 4294967295, 1), ("STRLEN", "huge"), ("GETBIT", "huge", 4294967295),
                ("BITCOUNT", "huge"), ("BITPOS", "huge", 1), ("SETBIT", "huge", 4294967296, 1),
                ("DEL", "huge")])


# ---------------------------------------------------------------- BITCOUNT / BITPOS

def test_bitcount_matches_redis_for_byte_and_bit_ranges_and_errors(both):
    same(both, [
        ("SET", "k", "foobar"), ("BITCOUNT", "k"), ("BITCOUNT", "k", 0, 0), ("BITCOUNT", "k", 1, 1, "BYTE"),
        ("BITCOUNT", "k", 5, 30, "BIT"), ("BITCOUNT", "k", -5, -1, "bit"), ("BITCOUNT", "k", -9, -2, "BIT"),
        ("BITCOUNT", "k", -1, -5), ("BITCOUNT", "k", 3, 1), ("BITCOUNT", "k", 0, 9223372036854775807),
        ("BITCOUNT", "k", -9223372036854775808, -1), ("BITCOUNT", "k", -9223372036854775808, -1, "BIT"),
        ("BITCOUNT", "k", 0, 9223372036854775807, "BIT"), ("BITCOUNT", "k", 0), ("BITCOUNT", "k", 0, 1, 2),
        ("BITCOUNT", "k", 0, 1, "BAD"), ("BITCOUNT", "k", "a", "b"), ("BITCOUNT", "k", 0, -1, "BIT", "x"),
        ("BITCOUNT", "nokey"), ("BITCOUNT", "nokey", "a", "b"), ("BITCOUNT", "nokey", 0),
        ("BITCOUNT", "nokey", 0, 1, "BAD"), ("SADD", "s", "m"), ("BITCOUNT", "s"), ("BITCOUNT", "s", 0, 1),
        ("SET", "e", ""), ("BITCOUNT", "e"), ("BITCOUNT", "e", 0, -1, "BIT"), ("BITCOUNT",),
        # both negative with start > end: 0 before any clamping
        ("BITCOUNT", "k", -100, -9223372036854775808), ("BITCOUNT", "k", -1, -100, "BIT"),
        ("BITCOUNT", "k", -100, -200), ("BITCOUNT", "k", -200, -100),
    ])


def test_bitpos_matches_redis_for_clear_and_set_bits_ranges_and_errors(both):
    same(both, [
        ("SET", "bp", b"\xff\xf0\x00"), ("BITPOS", "bp", 0), ("BITPOS", "bp", 1), ("BITPOS", "bp", 0, 2),
        ("BITPOS", "bp", 1, 2), ("BITPOS", "bp", 0, 0, 0), ("BITPOS", "bp", 0, 0, -1, "BIT"),
        ("BITPOS", "bp", 1, 7, 15, "BIT"), ("BITPOS", "bp", 0, 7, 15, "bit"), ("BITPOS", "bp", 0, 12, 15, "BIT"),
        ("BITPOS", "bp", 1, -9223372036854775808, 9223372036854775807, "BIT"),
        ("BITPOS", "bp", 0, 9223372036854775807), ("BITPOS", "bp", 0, -9223372036854775808),
        ("SET", "ones", b"\xff\xff"), ("BITPOS", "ones", 0), ("BITPOS", "ones", 0, 0), ("BITPOS", "ones", 0, 0, -1),
        ("BITPOS", "ones", 0, 0, -1, "BIT"), ("BITPOS", "ones", 0, 0, 8, "BIT"), ("BITPOS", "ones", 0, 3, "BIT"),
        ("BITPOS", "ones", 0, -3), ("BITPOS", "ones", 1, -1), ("BITPOS", "ones", 1, 5, 2), ("BITPOS", "ones", 0, 5),
        ("SET", "z", b"\x00\x00"), ("BITPOS", "z", 1), ("BITPOS", "z", 0), ("BITPOS", "z", 1, 0, -1, "BIT"),
        ("BITPOS", "z", 1, 100, 200), ("SET", "e", ""), ("BITPOS", "e", 0), ("BITPOS", "e", 1),
        ("BITPOS", "nokey", 0), ("BITPOS", "nokey", 1), ("BITPOS", "nokey", 2), ("BITPOS", "nokey", 0, 1, 2, "BAD"),
        ("BITPOS", "bp", 2), ("BITPOS", "bp", "abc"), ("BITPOS", "bp", -1), ("BITPOS", "bp", 1, "a"),
        ("BITPOS", "bp", 1, 0, "a"), ("BITPOS", "bp", 1, 0, 1, "BAD"), ("BITPOS", "bp", 1, 0, 1, "BIT", "extra"),
        ("SADD", "s", "m"), ("BITPOS", "s", 1), ("BITPOS", "s", 5), ("BITPOS", "bp"),
    ])


def test_bitcount_and_bitpos_on_an_eight_megabyte_string_take_milliseconds_not_seconds(shardis):
    c = Raw(shardis.port, 2)
    try:
        big = b"\x00" * (8 << 20) + b"\x01" + b"\xff" * 1000
        c.call("SET", "bigbits", big)
        t = time.monotonic()
        for _ in range(5):
            assert c.call("BITCOUNT", "bigbits") == b":8001\r\n"
            assert c.call("BITPOS", "bigbits", 1) == b":%d\r\n" % ((8 << 20) * 8 + 7)
            assert c.call("BITPOS", "bigbits", 0, 8 << 20) == b":%d\r\n" % ((8 << 20) * 8)
            assert c.call("BITCOUNT", "bigbits", 1, -2, "BIT") == b":8000\r\n"
        # 20 whole-string scans: a per-bit Python loop would take minutes
        assert time.monotonic() - t < 10
        c.call("DEL", "bigbits")
    finally:
        c.close()


# ---------------------------------------------------------------- BITOP

def test_bitop_matches_redis_for_every_operation_and_error(both):
    same(both, [
        ("SET", "a", b"\x0f\xf0abc"), ("SET", "b", "zz"), ("BITOP", "AND", "d", "a", "b"), ("GET", "d"),
        ("BITOP", "or", "d", "a", "b", "nokey"), ("GET", "d"), ("BITOP", "XOR", "d", "a", "b", "a"), ("GET", "d"),
        ("BITOP", "NOT", "d", "a"), ("GET", "d"), ("BITOP", "NOT", "d", "a", "b"), ("BITOP", "NOT", "d", "nokey"),
        ("EXISTS", "d"), ("SET", "d", "x", "EX", 100), ("BITOP", "AND", "d", "nokey", "nokey2"), ("EXISTS", "d"),
        ("SET", "d", "x", "EX", 100), ("BITOP", "OR", "d", "a"), ("TTL", "d"),
        ("BITOP", "FOO", "d", "a"), ("BITOP", "AND", "d"), ("SADD", "s", "m"), ("BITOP", "AND", "d", "a", "s"),
        ("BITOP", "AND", "s", "a"), ("TYPE", "s"), ("BITOP", "NOT", "s", "s"), ("BITOP", "FOO", "d", "s"),
        ("SET", "e", ""), ("BITOP", "XOR", "d", "e"), ("EXISTS", "d"),
    ])


def test_bitop_with_destination_and_sources_on_different_shards_matches_redis(both):
    d, s1, s2, s3 = keys_on_distinct_shards(4, "bx")
    same(both, [
        ("SET", s1, b"\xff\x0f\x01"), ("SET", s2, b"\x0f\xff"), ("SET", s3, "abcdef"),
        ("BITOP", "AND", d, s1, s2, s3), ("GET", d), ("BITOP", "OR", d, s1, s2, s3), ("GET", d),
        ("BITOP", "XOR", d, s3, s1, s2), ("GET", d), ("BITOP", "NOT", d, s3), ("GET", d),
        ("BITOP", "AND", d, "nokey", s1), ("GET", d), ("BITOP", "AND", d, "nokey{x}", "nokey{y}"), ("EXISTS", d),
        ("DEL", s2), ("SADD", s2, "m"),
        ("BITOP", "OR", d, s1, s2), ("BITOP", "OR", s2, s1, s3), ("TYPE", s2), ("BITOP", "FOO", d, s1, s3),
    ])


def test_bitop_across_shards_replaces_the_destination_whatever_its_type(r):
    d, s1, s2 = keys_on_distinct_shards(3, "by")
    r.sadd(d, "m")
    r.set(s1, b"\x01")
    r.set(s2, b"\x02\x80")
    assert r.bitop("OR", d, s1, s2) == 2
    assert r.type(d) == b"string"
    assert r.get(d) == b"\x03\x80"
    # the sources are left untouched
    assert r.get(s1) == b"\x01" and r.get(s2) == b"\x02\x80"


# ---------------------------------------------------------------- BITFIELD

def test_bitfield_get_set_incrby_and_overflow_modes_match_redis(both):
    same(both, [
        ("BITFIELD", "bf", "SET", "i8", 0, 100), ("BITFIELD", "bf", "GET", "i8", 0),
        ("BITFIELD", "bf", "INCRBY", "i8", 0, 100), ("BITFIELD", "bf", "OVERFLOW", "SAT", "INCRBY", "i8", 0, 100),
        ("BITFIELD", "bf", "OVERFLOW", "FAIL", "INCRBY", "i8", 0, 100),
        ("BITFIELD", "bf", "OVERFLOW", "FAIL", "SET", "i8", 0, 1000), ("BITFIELD", "bf", "OVERFLOW", "SAT", "SET", "i8", 0, 1000),
        ("BITFIELD", "bf", "SET", "u8", 0, 1000), ("BITFIELD", "bf", "GET", "u63", 0), ("BITFIELD", "bf", "GET", "i64", 0),
        ("BITFIELD", "bf", "GET", "i8", "#2"), ("BITFIELD", "bf", "SET", "i8", "#2", 5), ("GET", "bf"),
        ("BITFIELD", "bf", "overflow", "wrap", "incrby", "u2", 100, 1), ("BITFIELD", "bf", "incrby", "u2", 100, 5),
        ("BITFIELD", "bf", "overflow", "sat", "incrby", "u2", 100, -9),
        ("BITFIELD", "bf", "SET", "i64", 0, -9223372036854775808), ("BITFIELD", "bf", "INCRBY", "i64", 0, -1),
        ("BITFIELD", "bf", "OVERFLOW", "SAT", "INCRBY", "i64", 0, -1),
        ("BITFIELD", "bf", "SET", "u63", 0, 9223372036854775807), ("BITFIELD", "bf", "INCRBY", "u63", 0, 1),
        ("BITFIELD", "bf", "OVERFLOW", "WRAP", "INCRBY", "u63", 0, -9223372036854775808),
        ("BITFIELD", "bf", "OVERFLOW", "SAT", "INCRBY", "i5", 0, 9223372036854775807),
        ("BITFIELD", "bf", "OVERFLOW", "SAT", "INCRBY", "u5", 0, -9223372036854775808),
        # an unsigned SET takes the int64 as uint64: -1 is huge, not negative
        ("BITFIELD", "bf", "OVERFLOW", "SAT", "SET", "u5", 0, -9223372036854775808),
        ("BITFIELD", "bf", "OVERFLOW", "WRAP", "SET", "u5", 0, -9223372036854775808),
        ("BITFIELD", "bf", "OVERFLOW", "SAT", "SET", "u5", 0, -1), ("BITFIELD", "bf", "OVERFLOW", "FAIL", "SET", "u5", 0, -1),
        ("BITFIELD", "bf", "SET", "i5", 0, -17), ("BITFIELD", "bf", "OVERFLOW", "SAT", "SET", "i5", 0, -17),
        ("BITFIELD", "bf", "OVERFLOW", "SAT", "OVERFLOW", "WRAP", "INCRBY", "u4", 0, 100),
        ("BITFIELD", "bf", "SET", "i64", 3, -1, "GET", "u63", 4, "GET", "i64", 3), ("GET", "bf"),
        ("BITFIELD", "bf", "SET", "i8", 0, 1, "GET", "i8", 0, "INCRBY", "i8", 0, 2, "GET", "u16", 0),
    ])


def test_bitfield_creates_and_pads_the_key_for_writes_even_when_overflow_fail_refuses_them(both):
    same(both, [
        ("SET", "bf", "ab"), ("BITFIELD", "bf", "OVERFLOW", "FAIL", "INCRBY", "u8", 100, 300),
        ("STRLEN", "bf"), ("GET", "bf"),
        ("BITFIELD", "bf", "GET", "u8", 200, "OVERFLOW", "FAIL", "SET", "u8", 150, 300), ("STRLEN", "bf"),
        ("BITFIELD", "new", "OVERFLOW", "FAIL", "SET", "i8", 0, 1000), ("EXISTS", "new"), ("GET", "new"),
        ("BITFIELD", "ro", "GET", "u8", 0), ("EXISTS", "ro"), ("BITFIELD", "ro"), ("EXISTS", "ro"),
        ("BITFIELD", "z", "INCRBY", "u8", 0, 0), ("GET", "z"),
        ("BITFIELD", "w", "INCRBY", "u1", 1000, 1, "INCRBY", "u1", 1000, 1), ("STRLEN", "w"),
        ("SET", "t", "v", "EX", 100), ("BITFIELD", "t", "SET", "u8", 8, 1), ("TTL", "t"),
    ])


def test_bitfield_argument_errors_match_redis_and_change_nothing(both):
    same(both, [
        ("SET", "bf", "ab"), ("SADD", "s", "m"),
        ("BITFIELD", "bf", "GET", "u64", 0), ("BITFIELD", "bf", "GET", "i65", 0), ("BITFIELD", "bf", "GET", "i0", 0),
        ("BITFIELD", "bf", "GET", "x8", 0), ("BITFIELD", "bf", "GET", "I8", 0), ("BITFIELD", "bf", "GET", "U8", 0),
        ("BITFIELD", "bf", "GET", "i08", 0), ("BITFIELD", "bf", "GET", "i+8", 0), ("BITFIELD", "bf", "GET", "u-8", 0),
        ("BITFIELD", "bf", "GET", "i8 ", 0), ("BITFIELD", "bf", "GET", "i", 0),
        ("BITFIELD", "bf", "GET", "i8", -1), ("BITFIELD", "bf", "GET", "i8", "abc"), ("BITFIELD", "bf", "GET", "u8", "#-1"),
        ("BITFIELD", "bf", "GET", "u8", "##1"), ("BITFIELD", "bf", "GET", "u8", "#"),
        ("BITFIELD", "bf", "GET", "u8", 4294967296), ("BITFIELD", "bf", "GET", "u8", 4294967288),
        ("BITFIELD", "bf", "GET", "i64", "#67108864"), ("BITFIELD", "bf", "GET", "i64", "#67108863"),
        # "#n" is multiplied in int64 and wraps, like C
        ("BITFIELD", "bf", "GET", "u8", "#2305843009213693953"), ("BITFIELD", "bf", "GET", "i64", "#144115188075855873"),
        ("BITFIELD", "bf", "GET", "i8"), ("BITFIELD", "bf", "FOO"), ("BITFIELD", "bf", "GET"),
        ("BITFIELD", "bf", "SET", "u8", 0), ("BITFIELD", "bf", "INCRBY", "u8", 0),
        ("BITFIELD", "bf", "SET", "i8", 0, "abc"), ("BITFIELD", "bf", "SET", "i8", 0, "99999999999999999999"),
        ("BITFIELD", "bf", "OVERFLOW", "BAD"), ("BITFIELD", "bf", "OVERFLOW"),
        ("BITFIELD", "bf", "SET", "u8", 0, 1, "FOO"), ("BITFIELD", "bf", "SET", "u8", "#3", 1, "OVERFLOW"),
        ("BITFIELD", "bf", "SET", "u8", 0, "x", "GET", "i99", 0), ("BITFIELD", "bf", "GET", "i99", 0, "SET", "u8", 0, "x"),
        ("GET", "bf"),
        ("BITFIELD", "s", "GET", "u8", 0), ("BITFIELD", "s"), ("BITFIELD", "s", "FOO"), ("BITFIELD", "s", "SET", "u8", 0, 1),
        ("BITFIELD", "s", "GET", "x8", 0), ("BITFIELD",),
    ])


def test_bitfield_ro_allows_get_and_overflow_and_refuses_writes_after_parsing(both):
    same(both, [
        ("SET", "bf", "ab"), ("SADD", "s", "m"),
        ("BITFIELD_RO", "bf", "GET", "u8", 0, "GET", "i4", "#3"), ("BITFIELD_RO", "bf"),
        ("BITFIELD_RO", "bf", "OVERFLOW", "SAT"), ("BITFIELD_RO", "bf", "OVERFLOW", "BAD"), ("BITFIELD_RO", "bf", "OVERFLOW"),
        ("BITFIELD_RO", "bf", "GET", "u8", 0, "OVERFLOW", "FAIL", "GET", "u8", 8),
        ("BITFIELD_RO", "bf", "SET", "u8", 0, 1), ("BITFIELD_RO", "bf", "INCRBY", "u8", 0, 1),
        ("BITFIELD_RO", "bf", "SET", "u8", 0, "abc"), ("BITFIELD_RO", "bf", "SET", "x8", 0, 1),
        ("BITFIELD_RO", "bf", "SET", "u8", 0, 1, "FOO"), ("BITFIELD_RO", "bf", "GET", "u8", 0, "SET", "u8", 0, 1),
        ("BITFIELD_RO", "s", "SET", "u8", 0, 1), ("BITFIELD_RO", "s", "GET", "u8", 0), ("BITFIELD_RO", "s"),
        ("BITFIELD_RO", "bf", "FOO"), ("BITFIELD_RO", "bf", "GET", "x8", 0), ("BITFIELD_RO", "nokey", "GET", "u8", 0),
        ("EXISTS", "nokey"), ("GET", "bf"), ("BITFIELD_RO",),
    ])


# ---------------------------------------------------------------- generated sequences

KEYS = st.sampled_from(["a", "b", "{t}a", "{t}b", "c", "set"])
OFFS = st.sampled_from(["0", "1", "7", "8", "13", "63", "100", "-1", "x", "#1", "#3"])
SMALL = st.sampled_from(["0", "1", "2", "-1", "-2", "5", "-100", "100", "x"])
TYPES = st.sampled_from(["i1", "u1", "i5", "u7", "i8", "u8", "i16", "u63", "i64", "u64", "x3"])
VALS = st.sampled_from(["0", "1", "-1", "127", "128", "-129", "300", "9223372036854775807",
                        "-9223372036854775808", "abc"])
MODE = st.sampled_from(["WRAP", "SAT", "FAIL", "bad"])


def _bitfield_ops():
    op = st.one_of(
        st.tuples(st.just("GET"), TYPES, OFFS),
        st.tuples(st.just("SET"), TYPES, OFFS, VALS),
        st.tuples(st.just("INCRBY"), TYPES, OFFS, VALS),
        st.tuples(st.just("OVERFLOW"), MODE),
    )
    return st.lists(op, max_size=4).map(lambda ops: tuple(x for o in ops for x in o))


BITCMDS = st.one_of(
    st.tuples(st.just("SET"), KEYS, st.sampled_from(["", "a", "foobar", "\x00\xff", "\xff\xff\xff", "0"])),
    st.tuples(st.just("SETBIT"), KEYS, OFFS, st.sampled_from(["0", "1", "2"])),
    st.tuples(st.just("GETBIT"), KEYS, OFFS),
    st.tuples(st.just("BITCOUNT"), KEYS),
    st.tuples(st.just("BITCOUNT"), KEYS, SMALL, SMALL),
    st.tuples(st.just("BITCOUNT"), KEYS, SMALL, SMALL, st.sampled_from(["BIT", "BYTE", "bad"])),
    st.tuples(st.just("BITPOS"), KEYS, st.sampled_from(["0", "1", "2"])),
    st.tuples(st.just("BITPOS"), KEYS, st.sampled_from(["0", "1"]), SMALL),
    st.tuples(st.just("BITPOS"), KEYS, st.sampled_from(["0", "1"]), SMALL, SMALL,
              st.sampled_from(["BIT", "BYTE"])),
    st.tuples(st.just("BITOP"), st.sampled_from(["AND", "OR", "XOR", "NOT", "bad"]), KEYS, KEYS),
    st.tuples(st.just("BITOP"), st.sampled_from(["AND", "OR", "XOR"]), KEYS, KEYS, KEYS, KEYS),
    st.tuples(st.just("SADD"), st.just("set"), st.just("m")),
    st.tuples(st.just("GET"), KEYS),
    st.tuples(st.just("BITFIELD"), KEYS).flatmap(lambda t: _bitfield_ops().map(lambda o: t + o)),
    st.tuples(st.just("BITFIELD_RO"), KEYS).flatmap(lambda t: _bitfield_ops().map(lambda o: t + o)),
)


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.lists(BITCMDS, min_size=1, max_size=25))
def test_generated_bitmap_sequences_match_redis_byte_for_byte(shardis, real_redis, cmds):
    # fresh connections per example, RESP3 so doubles/maps/nulls are typed
    a, b = Raw(shardis.port, 3), Raw(real_redis.port, 3)
    try:
        for c in (a, b):
            c.call("FLUSHALL")
        same((a, b), cmds)
    finally:
        a.close()
        b.close()


def test_bitfield_overflow_checks_follow_redis_int64_arithmetic_for_every_width_and_mode(both):
    # includes Redis's wrap-around quirk: SET of a value near INT64_MIN into
    # a narrow signed field counts as an overflow upwards (SAT stores max)
    vals = ["-9223372036854775808", "-9223372036854775807", "-9223372036854743041", "-9223372036854743040",
            "-1", "0", "127", "128", "-129", "9223372036854775807", "9223372036854743040"]
    cmds = [("SET", "bf", "\x00" * 16)]
    for t in ("i1", "i2", "i8", "i16", "i63", "i64", "u1", "u8", "u63"):
        for mode in ("WRAP", "SAT", "FAIL"):
            for v in vals:
                cmds.append(("BITFIELD", "bf", "OVERFLOW", mode, "SET", t, 3, v, "GET", t, 3))
                cmds.append(("BITFIELD", "bf", "OVERFLOW", mode, "INCRBY", t, 3, v))
    same(both, cmds)
