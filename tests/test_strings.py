"""String and bitmap commands compared with a real redis-server, reply for reply."""

from __future__ import annotations

import pytest
import redis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st


def run(client, cmds):
    out = []
    for c in cmds:
        try:
            out.append(client.execute_command(*c))
        except redis.ResponseError as e:
            out.append(("err", str(e)))
    return out


CASES = {
    "set_options": [("SET", "k", "v", "NX"), ("SET", "k", "w", "NX"), ("SET", "k", "x", "XX"),
                    ("SET", "nx", "v", "XX"), ("SET", "k", "y", "GET"), ("SET", "k", "z", "NX", "GET"),
                    ("SET", "k", "1", "EX", "100"), ("TTL", "k"), ("SET", "k", "2", "KEEPTTL"), ("TTL", "k"),
                    ("SET", "k", "3"), ("TTL", "k"), ("SET", "k", "v", "EX", "0"), ("SET", "k", "v", "EX", "-1"),
                    ("SET", "k", "v", "EX", "x"), ("SET", "k", "v", "PX", "100", "EX", "100"),
                    ("SET", "k", "v", "NX", "XX"), ("SET", "k", "v", "KEEPTTL", "EX", "1"),
                    ("SET", "k", "v", "FOO"), ("SET", "k", "v", "EX", "9223372036854775807"),
                    ("SET", "k", "v", "EXAT", "1"), ("EXISTS", "k"), ("SET", "k", "v", "PXAT", "99999999999999"),
                    ("EXISTS", "k"), ("LPUSH", "l", "a"), ("SET", "l", "x", "GET"), ("SET", "l", "x"), ("TYPE", "l")],
    "setnx_setex_getset": [("SETNX", "a", "1"), ("SETNX", "a", "2"), ("GET", "a"), ("SETEX", "b", "10", "v"),
                           ("TTL", "b"), ("SETEX", "b", "0", "v"), ("SETEX", "b", "x", "v"),
                           ("PSETEX", "c", "10000", "v"), ("PSETEX", "c", "-5", "v"), ("GETSET", "a", "9"),
                           ("GETSET", "new", "1"), ("GET", "a"), ("LPUSH", "l", "x"), ("GETSET", "l", "y"),
                           ("GETDEL", "a"), ("GETDEL", "a"), ("GETDEL", "l")],
    "getex": [("SET", "a", "v"), ("GETEX", "a"), ("GETEX", "a", "EX", "100"), ("TTL", "a"),
              ("GETEX", "a", "PERSIST"), ("TTL", "a"), ("GETEX", "a", "PX", "0"), ("GETEX", "a", "EX", "1", "PX", "1"),
              ("GETEX", "a", "FOO"), ("GETEX", "nokey", "EX", "10"), ("GETEX", "a", "EXAT", "1"), ("EXISTS", "a")],
    "counters": [("INCR", "n"), ("INCRBY", "n", "10"), ("DECR", "n"), ("DECRBY", "n", "3"), ("GET", "n"),
                 ("INCRBY", "n", "x"), ("SET", "s", "abc"), ("INCR", "s"), ("SET", "s", " 1"), ("INCR", "s"),
                 ("SET", "s", "01"), ("INCR", "s"), ("SET", "big", "9223372036854775807"), ("INCR", "big"),
                 ("SET", "small", "-9223372036854775808"), ("DECR", "small"),
                 ("DECRBY", "n", "-9223372036854775808"), ("INCRBY", "n", "9223372036854775808"),
                 ("SET", "t", "5", "EX", "100"), ("INCR", "t"), ("TTL", "t"), ("LPUSH", "l", "x"), ("INCR", "l")],
    "incrbyfloat": [("INCRBYFLOAT", "f", "0.1"), ("INCRBYFLOAT", "f", "10000000000.1"), ("SET", "g", "1.1"),
                    ("INCRBYFLOAT", "g", "2.2"), ("SET", "h", "3.0e3"), ("INCRBYFLOAT", "h", "0"),
                    ("INCRBYFLOAT", "h", "1e-5"), ("INCRBYFLOAT", "h", "-3000.00001"), ("INCRBYFLOAT", "h", "abc"),
                    ("INCRBYFLOAT", "h", "inf"), ("SET", "s", "x"), ("INCRBYFLOAT", "s", "1"),
                    ("INCRBYFLOAT", "i", "-5.5"), ("INCRBYFLOAT", "i", "5.5"), ("INCRBYFLOAT", "j", "1e20"),
                    ("INCRBYFLOAT", "k", " 1")],
    "append_strlen_ranges": [("APPEND", "a", "hello"), ("APPEND", "a", " world"), ("STRLEN", "a"),
                             ("STRLEN", "none"), ("GETRANGE", "a", "0", "4"), ("GETRANGE", "a", "-5", "-1"),
                             ("GETRANGE", "a", "-1", "-5"), ("GETRANGE", "a", "5", "3"), ("GETRANGE", "a", "0", "100"),
                             ("GETRANGE", "a", "-100", "2"), ("GETRANGE", "none", "0", "1"), ("SUBSTR", "a", "1", "3"),
                             ("GETRANGE", "a", "x", "1"), ("SETRANGE", "a", "6", "WORLD"), ("GET", "a"),
                             ("SETRANGE", "b", "5", "x"), ("GET", "b"), ("SETRANGE", "c", "3", ""), ("EXISTS", "c"),
                             ("SETRANGE", "a", "-1", "x"), ("SETRANGE", "a", "536870912", "x"),
                             ("SETRANGE", "a", "2", ""), ("LPUSH", "l", "x"), ("APPEND", "l", "x"), ("STRLEN", "l")],
    "mget_mset_msetnx": [("MSET", "a", "1", "b", "2", "c", "3"), ("MGET", "a", "b", "c", "d"),
                         ("MSET", "a", "1", "b"), ("MSETNX", "x", "1", "y", "2"), ("MSETNX", "y", "3", "z", "4"),
                         ("MGET", "x", "y", "z"), ("MSETNX", "{t}1", "a", "{t}2", "b"), ("MSETNX", "q", "1", "r"),
                         ("LPUSH", "l", "x"), ("MGET", "a", "l")],
    "lcs": [("MSET", "a", "ohmytext", "b", "mynewtext"), ("LCS", "a", "b"), ("LCS", "a", "b", "LEN"),
            ("LCS", "a", "b", "IDX"), ("LCS", "a", "b", "IDX", "MINMATCHLEN", "4", "WITHMATCHLEN"),
            ("LCS", "a", "b", "LEN", "IDX"), ("LCS", "a", "nokey"), ("LCS", "a", "b", "FOO"),
            ("LPUSH", "l", "x"), ("LCS", "a", "l"), ("SET", "{z}1", "abcdefgh"), ("SET", "{z}2", "xbcyefz"),
            ("LCS", "{z}1", "{z}2", "IDX", "WITHMATCHLEN")],
    "bits": [("SETBIT", "b", "7", "1"), ("SETBIT", "b", "7", "0"), ("SETBIT", "b", "100", "1"), ("GETBIT", "b", "100"),
             ("GETBIT", "b", "1000"), ("GETBIT", "none", "0"), ("SETBIT", "b", "-1", "1"), ("SETBIT", "b", "1", "2"),
             ("SETBIT", "b", "4294967296", "1"), ("GET", "b"), ("SET", "k", "foobar"), ("BITCOUNT", "k"),
             ("BITCOUNT", "k", "1", "1"), ("BITCOUNT", "k", "-2", "-1"), ("BITCOUNT", "k", "5", "30", "BIT"),
             ("BITCOUNT", "k", "1"), ("BITCOUNT", "k", "a", "b"), ("BITCOUNT", "k", "1", "2", "foo"),
             ("BITCOUNT", "nokey", "a", "b"), ("BITPOS", "k", "1"), ("BITPOS", "k", "0"), ("BITPOS", "k", "1", "2"),
             ("BITPOS", "k", "1", "2", "-1", "BIT"), ("BITPOS", "k", "0", "-3", "-1", "BYTE"),
             ("BITPOS", "nokey", "0"), ("BITPOS", "nokey", "1"), ("BITPOS", "k", "2"), ("SET", "ones", "\xff\xff"),
             ("BITPOS", "ones", "0"), ("BITPOS", "ones", "0", "0", "-1"), ("BITPOS", "ones", "1", "10", "3"),
             ("SET", "e", ""), ("BITPOS", "e", "0"), ("BITCOUNT", "e")],
    "bitop": [("SET", "a", "abc"), ("SET", "b", "zz"), ("BITOP", "AND", "d", "a", "b"), ("GET", "d"),
              ("BITOP", "OR", "d", "a", "b"), ("GET", "d"), ("BITOP", "XOR", "d", "a", "b", "nokey"), ("GET", "d"),
              ("BITOP", "NOT", "d", "a"), ("GET", "d"), ("BITOP", "NOT", "d", "a", "b"), ("BITOP", "FOO", "d", "a"),
              ("BITOP", "AND", "d", "none1", "none2"), ("EXISTS", "d"), ("LPUSH", "l", "x"),
              ("BITOP", "AND", "d", "a", "l")],
    "bitfield": [("SET", "k", "foobar"), ("BITFIELD", "k", "GET", "i8", "0", "GET", "u4", "#2"),
                 ("BITFIELD", "k", "GET", "u64", "0"), ("BITFIELD", "k", "GET", "x8", "0"),
                 ("BITFIELD", "k", "GET", "i8", "-1"), ("BITFIELD", "k", "INCRBY", "u2", "100", "1", "OVERFLOW", "SAT",
                                                        "INCRBY", "u2", "102", "1"),
                 ("BITFIELD", "k", "SET", "i8", "#1", "255", "GET", "u4", "#2"), ("BITFIELD", "k", "INCRBY", "i8", "0", "300"),
                 ("BITFIELD", "k", "OVERFLOW", "FAIL", "INCRBY", "u8", "0", "300"), ("BITFIELD", "k", "OVERFLOW", "foo"),
                 ("BITFIELD_RO", "k", "SET", "i8", "0", "1"), ("BITFIELD_RO", "k", "GET", "i64", "3"),
                 ("BITFIELD", "nokey", "GET", "u4", "0"), ("EXISTS", "nokey"), ("BITFIELD", "k"),
                 ("BITFIELD", "k", "SET", "u8", "1000", "7"), ("STRLEN", "k"), ("BITFIELD", "k", "GET")],
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_string_commands_match_redis(name, r, rr):
    assert run(r, CASES[name]) == run(rr, CASES[name])


def test_string_commands_match_redis_in_resp3(shardis, real_redis):
    a = shardis.client(protocol=3)
    b = real_redis.client(protocol=3)
    a.flushall()
    b.flushall()
    for name in ("lcs", "counters", "bitfield"):
        assert run(a, CASES[name]) == run(b, CASES[name]), name


def test_msetnx_and_bitop_and_lcs_work_across_shards(r):
    keys = [f"xs{i}" for i in range(12)]
    assert r.msetnx({k: "v" for k in keys}) is True
    assert r.msetnx({"xs0": "w", "fresh": "1"}) is False
    assert r.get("fresh") is None
    r.set("src1", "abc")
    r.set("src2", "zz")
    assert r.bitop("OR", "dest9", "src1", "src2") == 3
    assert r.get("dest9") == bytes(a | b for a, b in zip(b"abc", b"zz\0"))
    r.mset({"lcs1": "ohmytext", "lcs2": "mynewtext"})
    assert r.execute_command("LCS", "lcs1", "lcs2") == b"mytext"


KEYS = st.sampled_from(["a", "b", "{t}a", "{t}b", "n", "bits"])
VALS = st.sampled_from(["", "0", "1", "-7", "10", "3.5", "abc", "9223372036854775807", "x" * 50])
INTS = st.sampled_from(["0", "1", "-1", "5", "-100", "100", "x"])
COMMANDS = st.one_of(
    st.tuples(st.just("SET"), KEYS, VALS),
    st.tuples(st.just("GET"), KEYS),
    st.tuples(st.just("APPEND"), KEYS, VALS),
    st.tuples(st.just("INCRBY"), KEYS, INTS),
    st.tuples(st.just("DECR"), KEYS),
    st.tuples(st.just("STRLEN"), KEYS),
    st.tuples(st.just("GETRANGE"), KEYS, INTS, INTS),
    st.tuples(st.just("SETRANGE"), KEYS, st.sampled_from(["0", "3", "-1"]), VALS),
    st.tuples(st.just("GETDEL"), KEYS),
    st.tuples(st.just("SETBIT"), KEYS, st.sampled_from(["0", "7", "33"]), st.sampled_from(["0", "1"])),
    st.tuples(st.just("BITCOUNT"), KEYS),
    st.tuples(st.just("BITPOS"), KEYS, st.sampled_from(["0", "1"])),
    st.tuples(st.just("MGET"), KEYS, KEYS, KEYS),
    st.tuples(st.just("MSETNX"), KEYS, VALS, KEYS, VALS),
    st.tuples(st.just("INCRBYFLOAT"), KEYS, st.sampled_from(["0.1", "-2.5", "1e3", "x"])),
    st.tuples(st.just("LCS"), KEYS, KEYS),
)


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.lists(COMMANDS, min_size=1, max_size=25))
def test_generated_string_sequences_match_redis(shardis, real_redis, cmds):
    a = shardis.client()
    b = real_redis.client()
    a.flushall()
    b.flushall()
    assert run(a, cmds) == run(b, cmds)


# ---------------------------------------------------------------- byte-exact checks
# The tests below compare raw reply bytes (so +OK vs $2 OK, integer vs bulk,
# RESP3 types and exact error texts all count), in RESP2 and RESP3.

import socket  # noqa: E402
import time  # noqa: E402

import hiredis  # noqa: E402

from actors.slots import SlotMap  # noqa: E402

SHARDS = SlotMap(4)          # the `shardis` fixture runs 4 shards


class Raw:
    def __init__(self, port: int, proto: int):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=20)
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
        if cmd[0] == "TTL" and ours != theirs:   # one second may tick between the two
            assert abs(int(ours[1:-2]) - int(theirs[1:-2])) <= 1, (cmd, ours, theirs)
            continue
        assert ours == theirs, f"step {i}: {cmd!r}\nshardis: {ours[:300]!r}\nredis:   {theirs[:300]!r}"


def keys_on_distinct_shards(n: int, prefix: str) -> list[str]:
    out: list[str] = []
    i = 0
    while len(out) < n:
        k = f"{prefix}{i}"
        if SHARDS.shard_of(k.encode()) not in {SHARDS.shard_of(x.encode()) for x in out}:
            out.append(k)
        i += 1
    return out


def test_set_accepts_repeated_options_and_checks_the_expire_value_after_the_syntax(both):
    same(both, [
        ("SET", "k", "v", "EX", 10, "EX", 20), ("TTL", "k"), ("SET", "k", "v", "EXAT", 1, "EXAT", 2), ("EXISTS", "k"),
        ("SET", "k", "v", "NX", "NX"), ("SET", "k", "v", "XX", "XX"), ("SET", "k", "v", "GET", "GET"),
        ("SET", "k", "v", "KEEPTTL", "KEEPTTL"), ("SET", "k", "v", "nx"), ("SET", "k", "w", "xx", "get"),
        ("SET", "k", "v", "EX", "abc", "BADOPT"), ("SET", "k", "v", "EX", "abc", "EX", 10), ("TTL", "k"),
        ("SET", "k", "v", "EX", 10, "EX", "abc"), ("SET", "k", "v", "EX", 10, "PX", 10), ("SET", "k", "v", "PX", 10, "EX", 10),
        ("SET", "k", "v", "EX", 10, "KEEPTTL"), ("SET", "k", "v", "KEEPTTL", "EX", 10), ("SET", "k", "v", "NX", "XX"),
        ("SET", "k", "v", "ex", 10, "px"), ("SET", "k", "v", "EX"), ("SET", "k", "v", "PERSIST"),
        ("SET", "k", "v", "EX", 0), ("SET", "k", "v", "EX", -1), ("SET", "k", "v", "PX", 0),
        ("SET", "k", "v", "EX", 9223372036854775807), ("SET", "k", "v", "PX", 9223372036854775807),
        ("SET", "k", "v", "EXAT", 9223372036854775), ("SET", "k", "v", "EXAT", 9223372036854776),
        ("SET", "k", "v", "PXAT", 9223372036854775807), ("SET", "k", "v", "EX", "1.5"),
        ("SET", "k", "v", "PXAT", 1, "GET"), ("EXISTS", "k"),
        ("SADD", "s", "m"), ("SET", "s", "v", "GET"), ("SET", "s", "v", "NX", "GET"), ("SET", "s", "v", "XX", "GET"),
        ("SET", "s", "v", "GET", "EX", 0), ("SET", "s", "v", "GET", "EX", "abc"), ("SET", "s", "v", "GET", "FOO"),
        ("TYPE", "s"), ("SET", "s", "v"), ("TYPE", "s"),
        ("SETEX", "k", 0, "v"), ("SETEX", "k", "abc", "v"), ("SETEX", "k", 9223372036854775807, "v"),
        ("PSETEX", "k", -5, "v"), ("PSETEX", "k", 9223372036854775807, "v"), ("SETEX", "k", 100, "v"), ("TTL", "k"),
    ])


def test_getex_checks_syntax_then_the_key_then_the_expire_value_like_redis(both):
    same(both, [
        ("SADD", "s", "m"), ("SET", "k", "v"),
        ("GETEX", "missing", "EX", 0), ("GETEX", "missing", "EX", "abc"), ("GETEX", "missing", "FOO"),
        ("GETEX", "s", "EX", 0), ("GETEX", "s"), ("GETEX", "s", "FOO"),
        ("GETEX", "k", "EX", 0), ("GETEX", "k", "EX", "abc"), ("GETEX", "k", "EX", 10, "EX", 20), ("TTL", "k"),
        ("GETEX", "k", "PERSIST", "PERSIST"), ("TTL", "k"), ("GETEX", "k", "EX", 10, "PERSIST"),
        ("GETEX", "k", "PERSIST", "EX", 10), ("GETEX", "k", "KEEPTTL"), ("GETEX", "k", "GET"), ("GETEX", "k", "NX"),
        ("GETEX", "k", "PX"), ("GETEX", "k", "EXAT", 9223372036854776), ("GETEX", "k", "EXAT", 1), ("EXISTS", "k"),
    ])


def test_incrbyfloat_parses_like_strtold_and_prints_like_redis(both):
    same(both, [
        ("INCRBYFLOAT", "f", "1.5"), ("INCRBYFLOAT", "f", "0x10"), ("INCRBYFLOAT", "f", "0x1p3"), ("INCRBYFLOAT", "f", "0x.8"),
        ("INCRBYFLOAT", "f", ".5"), ("INCRBYFLOAT", "f", "5."), ("INCRBYFLOAT", "f", "+5"), ("INCRBYFLOAT", "f", "-0.0"),
        ("INCRBYFLOAT", "f", "0x"), ("INCRBYFLOAT", "f", "0x1p"), ("INCRBYFLOAT", "f", "1e"), ("INCRBYFLOAT", "f", "1_0"),
        ("INCRBYFLOAT", "f", "1/2"), ("INCRBYFLOAT", "f", "nan"), ("INCRBYFLOAT", "f", "-Infinity"), ("INCRBYFLOAT", "f", "inf"),
        ("INCRBYFLOAT", "f", " 1"), ("INCRBYFLOAT", "f", "1 "), ("INCRBYFLOAT", "f", ""),
        # overflow and underflow to zero are ERANGE: not a valid float
        ("INCRBYFLOAT", "f", "1e5000"), ("INCRBYFLOAT", "f", "1e-5000"), ("INCRBYFLOAT", "f", "1.2e4932"),
        ("INCRBYFLOAT", "f", "0x1p16384"), ("INCRBYFLOAT", "f", "0x1p-16446"), ("INCRBYFLOAT", "f", "1e-4951"),
        ("INCRBYFLOAT", "f", "0e999999999999"), ("GET", "f"),
        # subnormals are fine; the largest long double prints in full
        ("INCRBYFLOAT", "g", "1.9e-4951"), ("INCRBYFLOAT", "g", "0x1p-16445"), ("INCRBYFLOAT", "h", "0x1p16383"),
        ("INCRBYFLOAT", "i", "1.18973149535723176502e+4932"), ("INCRBYFLOAT", "i", "1.18973149535723176502e+4932"),
        ("INCRBYFLOAT", "i", "-1.18973149535723176502e+4932"), ("INCRBYFLOAT", "i", "-1.18973149535723176502e+4932"),
        ("INCRBYFLOAT", "j", "10000000000.1"), ("INCRBYFLOAT", "j", "0.1"), ("INCRBYFLOAT", "j", "-10000000000.3"),
        ("INCRBYFLOAT", "j", "0.00000000000000001"), ("INCRBYFLOAT", "j", "0.000000000000000005"),
        ("INCRBYFLOAT", "k", "10.5"), ("INCRBYFLOAT", "k", "0.1"), ("INCRBYFLOAT", "k", "1.1e-17"),
        ("INCRBYFLOAT", "l", "1" + "0" * 5000), ("INCRBYFLOAT", "l", "0." + "0" * 5000 + "1"),
        ("INCRBYFLOAT", "m", "1" + "0" * 5118), ("INCRBYFLOAT", "m", "1" + "0" * 5119), ("INCRBYFLOAT", "m", "0x" + "f" * 5000),
        ("SET", "n", "inf"), ("INCRBYFLOAT", "n", "1"), ("SET", "n", "1 "), ("INCRBYFLOAT", "n", "1"),
        ("SET", "n", "0x10"), ("INCRBYFLOAT", "n", "1"), ("SET", "o", "1", "EX", 100), ("INCRBYFLOAT", "o", "1"), ("TTL", "o"),
        ("SADD", "s", "m"), ("INCRBYFLOAT", "s", "abc"),
    ])


def test_incrbyfloat_with_a_huge_exponent_answers_at_once_and_does_not_freeze_the_server(shardis):
    # 1e9999999999 once meant computing 10**9999999999 on a shard thread,
    # holding the GIL and stalling every connection
    c = Raw(shardis.port, 2)
    try:
        t = time.monotonic()
        for v in ("1e9999999999", "1e-9999999999", "0x1p99999999999", "9" * 5000 + "e99999999"):
            assert c.call("INCRBYFLOAT", "dos", v) == b"-ERR value is not a valid float\r\n"
        assert c.call("PING") == b"+PONG\r\n"
        assert time.monotonic() - t < 2
    finally:
        c.close()


def test_lcs_options_errors_and_table_limit_match_redis(both):
    same(both, [
        ("SET", "a", "ohmytext"), ("SET", "b", "mynewtext"), ("SADD", "s", "m"),
        ("LCS", "a", "b", "IDX"), ("LCS", "a", "b", "IDX", "WITHMATCHLEN"), ("LCS", "a", "b", "idx", "minmatchlen", 4),
        ("LCS", "a", "b", "MINMATCHLEN", -5, "IDX"), ("LCS", "a", "b", "MINMATCHLEN"), ("LCS", "a", "b", "MINMATCHLEN", "x"),
        ("LCS", "a", "b", "LEN", "LEN"), ("LCS", "a", "b", "LEN", "IDX"), ("LCS", "a", "b", "WITHMATCHLEN"),
        ("LCS", "a", "s"), ("LCS", "s", "a", "FOO"), ("LCS", "a", "s", "FOO"), ("LCS", "nokey", "nokey2", "IDX"),
        ("LCS", "a", "a", "IDX", "WITHMATCHLEN"),
        # 12000 x 12000 needs a 576 MB table: over proto-max-bulk-len
        ("SET", "la", "a" * 12000), ("SET", "lb", "b" * 12000), ("LCS", "la", "lb"), ("LCS", "la", "lb", "LEN"),
        ("SET", "lc", "ab" * 3000), ("SET", "ld", "ba" * 3000 + "xyz"),
        ("LCS", "lc", "ld", "IDX", "MINMATCHLEN", 3, "WITHMATCHLEN"), ("LCS", "lc", "ld", "LEN"), ("LCS", "ld", "lc"),
    ])


def test_lcs_of_random_strings_matches_redis_including_every_idx_range(both):
    import random
    rnd = random.Random(7)
    cmds = []
    for i in range(40):
        x = "".join(rnd.choice("abc") for _ in range(rnd.randint(0, 30)))
        y = "".join(rnd.choice("abcd") for _ in range(rnd.randint(0, 30)))
        cmds += [("MSET", "{r}x", x, "{r}y", y), ("LCS", "{r}x", "{r}y"),
                 ("LCS", "{r}x", "{r}y", "IDX", "WITHMATCHLEN"), ("LCS", "{r}y", "{r}x", "IDX", "MINMATCHLEN", 2)]
    same(both, cmds)


def test_lcs_of_two_five_thousand_byte_strings_takes_well_under_a_second(shardis):
    import random
    rnd = random.Random(3)
    c = Raw(shardis.port, 2)
    try:
        c.call("SET", "{p}a", bytes(rnd.choice(b"ACGT") for _ in range(5000)))
        c.call("SET", "{p}b", bytes(rnd.choice(b"ACGT") for _ in range(5000)))
        t = time.monotonic()
        assert c.call("LCS", "{p}a", "{p}b", "IDX").startswith(b"*4\r\n$7\r\nmatches\r\n")
        assert time.monotonic() - t < 1.0
    finally:
        c.close()


def test_msetnx_lcs_and_wrongtype_across_shards_match_redis(both):
    k1, k2, k3 = keys_on_distinct_shards(3, "sx")
    same(both, [
        ("MSETNX", k1, "ohmytext", k2, "mynewtext"), ("MGET", k1, k2, k3),
        ("MSETNX", k3, "x", k1, "y"), ("EXISTS", k3), ("MSETNX", k3, "x", k3, "y"), ("GET", k3),
        ("MSETNX", k1, "a", k2), ("MSET", k1, "a", k2),
        ("SET", k1, "ohmytext"), ("LCS", k1, k2), ("LCS", k1, k2, "LEN"), ("LCS", k2, k1, "IDX", "WITHMATCHLEN"),
        ("LCS", k1, k2, "FOO"), ("DEL", k3), ("SADD", k3, "m"), ("LCS", k1, k3), ("LCS", k3, k1, "FOO"),
        ("LCS", k1, k3, "LEN"), ("MSETNX", k3, "v", "fresh{z}", "1"), ("EXISTS", "fresh{z}"),
    ])


def _hits_misses(c: Raw) -> tuple[int, int]:
    info = c.call("INFO", "stats").decode()
    vals = dict(line.split(":", 1) for line in info.splitlines() if line.startswith("keyspace_"))
    return int(vals["keyspace_hits"]), int(vals["keyspace_misses"])


def test_keyspace_hits_and_misses_count_reads_but_not_write_lookups_like_redis(shardis, real_redis):
    # Redis's write paths (lookupKeyWrite: SET, APPEND, INCR, SETBIT, ...)
    # count nothing; reads (GET, GETEX, SET ... GET, BITOP sources) do
    cmds = [("SET", "k", "v"), ("APPEND", "k", "x"), ("INCR", "n"), ("SETRANGE", "k", 1, "y"), ("SETBIT", "k", 1, 1),
            ("SETNX", "k", "v"), ("MSETNX", "k", "v", "z", "w"), ("INCRBYFLOAT", "f", 1), ("SET", "k", "v", "NX"),
            ("SET", "k", "v", "XX", "GET"), ("BITFIELD", "k", "SET", "u8", 0, 1), ("GETEX", "k"), ("BITOP", "OR", "d", "k"),
            ("GET", "k"), ("GET", "nokey"), ("MGET", "k", "nokey"), ("LCS", "k", "n"), ("BITCOUNT", "k"),
            ("GETRANGE", "k", 0, 1), ("STRLEN", "k"), ("GETDEL", "nokey"), ("GETSET", "k", "v"), ("DECRBY", "n", 2),
            ("BITFIELD", "k", "GET", "u8", 0), ("BITFIELD_RO", "k", "GET", "u8", 0), ("BITPOS", "k", 1),
            ("GETBIT", "k", 1), ("SUBSTR", "k", 0, 1)]
    out = []
    for port in (shardis.port, real_redis.port):
        c = Raw(port, 2)
        try:
            c.call("FLUSHALL")
            assert c.call("CONFIG", "RESETSTAT") == b"+OK\r\n"
            for cmd in cmds:
                c.call(*cmd)
            out.append(_hits_misses(c))
        finally:
            c.close()
    assert out[0] == out[1]
