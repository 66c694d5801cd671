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
