"""Differential testing: generated command sequences go to Shardis and to the
real redis-server 7.0.15, step by step, and every reply must be the same.

Replies are compared as raw RESP bytes (stricter than comparing redis-py's
decoded values: ``+OK`` and ``$2 OK`` differ, and so do error texts), except

* replies whose order Redis leaves unspecified (SMEMBERS, HGETALL, ...), which
  are compared after sorting, and
* remaining-time replies (TTL, PTTL, EXPIRETIME of a relative expiry), which
  depend on when each server ran the command: negative codes must match
  exactly, remaining times within one second.

Keys come from a small pool, with and without ``{hashtags}``, so sequences hit
every shard, hit the same keys repeatedly, and mix types (WRONGTYPE).  Some
steps get a wrong number of arguments, bad integers or bad floats.  Each test
runs in RESP2 and RESP3, against four shards and against the default
server (one shard).  Budget: about 400 generated sequences in total."""

from __future__ import annotations

import socket

import hiredis
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st


# ---------------------------------------------------------------- raw clients

class RawClient:
    """One connection; ``call`` returns (raw reply bytes, parsed reply)."""

    def __init__(self, port: int, proto: int):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.reader = hiredis.Reader()
        self.buf = b""
        if proto == 3:
            raw, _ = self.call([b"HELLO", b"3"])
            assert raw.startswith(b"%7"), raw

    def call(self, args: list[bytes]):
        out = [b"*%d\r\n" % len(args)]
        for a in args:
            out.append(b"$%d\r\n%b\r\n" % (len(a), a))
        self.sock.sendall(b"".join(out))
        data = b""
        while True:
            try:
                reply = self.reader.gets()
            except hiredis.ProtocolError:
                raise AssertionError(f"unparseable reply to {args!r}: {data[:300]!r}") from None
            if reply is not False:
                break
            chunk = self.sock.recv(1 << 16)
            assert chunk, f"connection closed after {args!r}"
            data += chunk
            self.reader.feed(chunk)
        assert not self.reader.has_data(), f"extra bytes after the reply to {args!r}"
        return data, reply

    def close(self):
        self.sock.close()


@pytest.fixture(params=[(2, "shardis"), (3, "shardis"), (2, "shardis_default"),
                        (3, "shardis_default")],
                ids=["resp2", "resp3", "resp2-one-shard", "resp3-one-shard"])
def pair(request, real_redis):
    """(shardis port, redis port, protocol), against four shards and against
    the default one; each sequence opens fresh connections so that one
    failing example cannot disturb the next."""
    proto, server = request.param
    return request.getfixturevalue(server).port, real_redis.port, proto


# ---------------------------------------------------------------- comparison

UNORDERED = {b"SMEMBERS", b"SINTER", b"SUNION", b"SDIFF", b"HGETALL", b"HKEYS", b"HVALS",
             b"KEYS"}
TIMING = {b"TTL": 1, b"PTTL": 1000, b"EXPIRETIME": 1, b"PEXPIRETIME": 1000}


def _norm(v):
    if isinstance(v, dict):
        return sorted((repr(k), repr(x)) for k, x in v.items())
    if isinstance(v, (list, set, frozenset)):
        return sorted(repr(x) for x in v)
    return repr(v)


def _pairs(v):
    if isinstance(v, dict):
        return sorted(v.items())
    if isinstance(v, list):
        return sorted(zip(v[::2], v[1::2]))
    return v


def compare(step: int, args: list[bytes], ours, theirs, history) -> None:
    raw_a, val_a = ours
    raw_b, val_b = theirs
    name = args[0].upper()
    ctx = f"step {step}: {args!r}\nhistory: {history[-12:]!r}"
    if raw_a == raw_b:
        return
    if name in UNORDERED and not isinstance(val_b, hiredis.ReplyError):
        if name == b"HGETALL":
            assert _pairs(val_a) == _pairs(val_b), ctx
        else:
            assert _norm(val_a) == _norm(val_b), ctx
        return
    if name in TIMING and type(val_a) is int and type(val_b) is int:
        if val_a < 0 or val_b < 0:
            assert val_a == val_b, ctx
        else:
            assert abs(val_a - val_b) <= TIMING[name], ctx
        return
    assert raw_a == raw_b, f"{ctx}\nshardis: {raw_a[:300]!r}\nredis:   {raw_b[:300]!r}"


def run_sequence(pair, commands) -> None:
    port_a, port_b, proto = pair
    a, b = RawClient(port_a, proto), RawClient(port_b, proto)
    try:
        for cl in (a, b):
            raw, _ = cl.call([b"FLUSHALL"])
            assert raw == b"+OK\r\n"
        history = []
        for step, args in enumerate(commands):
            args = [x if isinstance(x, bytes) else str(x).encode("utf-8", "surrogateescape")
                    for x in args]
            history.append(args)
            compare(step, args, a.call(args), b.call(args), history)
    finally:
        a.close()
        b.close()


# ---------------------------------------------------------------- argument pools

KEYS = ["a", "b", "c", "{t}a", "{t}b", "{u}x", "k:1", "k:2", "", "bin\x00\xff"]
VALUES = ["", "v", "hello", "0", "1", "-1", "10", "007", "42", "9223372036854775807",
          "-9223372036854775808", "1.5", "-0.0", "3e2", " 1", "1 ", "0x10", "+5",
          "inf", "nan", "x" * 45, "\x00\xff\r\n"]
INTS = ["0", "1", "-1", "2", "5", "-3", "100", "-100", "9223372036854775807",
        "-9223372036854775808", "9223372036854775808", "abc", "1.5", "", " 2", "02"]
FLOATS = ["0", "1", "-1", "1.5", "-2.25", "1e3", "inf", "-inf", "+inf", "nan", "abc", "",
          "0.1", "1e400", "5.0e-1"]
IDX = ["0", "1", "-1", "2", "-2", "3", "10", "-10", "100", "x"]

key = st.sampled_from(KEYS)
val = st.one_of(st.sampled_from(VALUES), st.binary(max_size=6))
int_ = st.sampled_from(INTS)
flt = st.sampled_from(FLOATS)
idx = st.sampled_from(IDX)
small_count = st.sampled_from(["0", "1", "2", "3", "5", "-1", "x"])
# far-future expiry: remaining times stay well-defined on both servers
secs = st.sampled_from(["100", "1000", "0", "-5", "abc", "9223372036854775807"])
msecs = st.sampled_from(["100000", "1000000", "0", "-1", "x"])
abs_secs = st.sampled_from(["4102444800", "1", "0", "-1", "y"])      # 2100-01-01, the past
abs_msecs = st.sampled_from(["4102444800000", "1", "0"])


def c(*parts):
    """A command strategy: each part a constant or a strategy."""
    return st.tuples(*[p if isinstance(p, st.SearchStrategy) else st.just(p) for p in parts]) \
        .map(list)


def opt(*choices):
    """Zero or one of the given option lists."""
    return st.sampled_from([[]] + [list(x) for x in choices])


def cat(*strats):
    return st.tuples(*strats).map(lambda t: [x for part in t for x in part])


def maybe_bad_arity(strategy):
    """Occasionally drop the last argument or add a stray one."""
    def mutate(args, how):
        if how == 1 and len(args) > 1:
            return args[:-1]
        if how == 2:
            return args + ["extra"]
        return args
    return st.tuples(strategy, st.sampled_from([0] * 18 + [1, 2])).map(lambda t: mutate(*t))


# ---------------------------------------------------------------- command grammars

set_opts = cat(opt(["NX"], ["XX"]), opt(["GET"]),
               st.one_of(opt(["KEEPTTL"]), st.tuples(st.sampled_from(["EX", "PX"]), secs).map(list),
                         st.tuples(st.just("EXAT"), abs_secs).map(list),
                         st.tuples(st.just("PXAT"), abs_msecs).map(list)))
STRINGS = [
    cat(c("SET", key, val), set_opts),
    c("GET", key), c("GETSET", key, val), c("SETNX", key, val),
    c("SETEX", key, secs, val), c("PSETEX", key, msecs, val),
    c("MSET", key, val, key, val), c("MSETNX", key, val, key, val),
    c("MGET", key, key, key), c("APPEND", key, val), c("STRLEN", key),
    c("INCR", key), c("DECR", key), c("INCRBY", key, int_), c("DECRBY", key, int_),
    c("INCRBYFLOAT", key, flt), c("GETRANGE", key, idx, idx), c("SETRANGE", key, idx, val),
    c("GETDEL", key),
    cat(c("GETEX", key), st.one_of(opt(["PERSIST"]),
                                   st.tuples(st.sampled_from(["EX", "PX"]), secs).map(list),
                                   st.tuples(st.just("EXAT"), abs_secs).map(list))),
    c("OBJECT", "ENCODING", key), c("SET", key, "x", "BADOPT"),
]
KEYSPACE = [
    c("DEL", key, key), c("UNLINK", key), c("EXISTS", key, key), c("TYPE", key),
    c("RENAME", key, key), c("RENAMENX", key, key), c("COPY", key, key),
    cat(c("COPY", key, key), opt(["REPLACE"], ["DB", "1"], ["DB", "0", "REPLACE"], ["DB", "99"])),
    cat(c("EXPIRE", key, secs), opt(["NX"], ["XX"], ["GT"], ["LT"], ["NX", "XX"], ["FOO"])),
    cat(c("PEXPIRE", key, msecs), opt(["NX"], ["XX"], ["GT"], ["LT"])),
    c("EXPIREAT", key, abs_secs), c("PEXPIREAT", key, abs_msecs),
    c("TTL", key), c("PTTL", key), c("EXPIRETIME", key), c("PEXPIRETIME", key),
    c("PERSIST", key), c("TOUCH", key, key), c("DBSIZE"),
    c("MOVE", key, st.sampled_from(["1", "0", "x", "99"])),
]
LISTS = [
    c(st.sampled_from(["LPUSH", "RPUSH"]), key, val, val),
    c(st.sampled_from(["LPUSHX", "RPUSHX"]), key, val),
    c(st.sampled_from(["LPOP", "RPOP"]), key), c(st.sampled_from(["LPOP", "RPOP"]), key, small_count),
    c("LRANGE", key, idx, idx), c("LLEN", key), c("LINDEX", key, idx), c("LSET", key, idx, val),
    c("LREM", key, idx, val), c("LINSERT", key, st.sampled_from(["BEFORE", "AFTER", "MIDDLE"]), val, val),
    c("LTRIM", key, idx, idx),
    cat(c("LPOS", key, val), opt(["RANK", "1"], ["RANK", "-1"], ["RANK", "0"], ["COUNT", "0"],
                                 ["COUNT", "2"], ["MAXLEN", "1"])),
    c("LMOVE", key, key, st.sampled_from(["LEFT", "RIGHT"]), st.sampled_from(["LEFT", "RIGHT", "UP"])),
    c("RPOPLPUSH", key, key), c("OBJECT", "ENCODING", key),
]
field = st.sampled_from(["f", "g", "h", "1", ""])
HASHES = [
    c("HSET", key, field, val), c("HSET", key, field, val, field, val), c("HSETNX", key, field, val),
    c("HGET", key, field), c("HMGET", key, field, field), c("HDEL", key, field, field),
    c("HLEN", key), c("HEXISTS", key, field), c("HSTRLEN", key, field),
    c("HINCRBY", key, field, int_), c("HINCRBYFLOAT", key, field, flt),
    c("HGETALL", key), c("HKEYS", key), c("HVALS", key), c("HMSET", key, field, val),
    c("OBJECT", "ENCODING", key),
]
member = st.sampled_from(["m", "n", "1", "2", "-3", "x" * 70, ""])
SETS = [
    c("SADD", key, member, member), c("SREM", key, member), c("SCARD", key),
    c("SISMEMBER", key, member), c("SMISMEMBER", key, member, member), c("SMEMBERS", key),
    c(st.sampled_from(["SINTER", "SUNION", "SDIFF"]), key, key),
    c(st.sampled_from(["SINTERSTORE", "SUNIONSTORE", "SDIFFSTORE"]), key, key, key),
    c("SMOVE", key, key, member), c("SINTERCARD", st.sampled_from(["1", "2", "0", "x"]), key, key),
    c("SPOP", key, st.sampled_from(["10", "0", "-1"])),          # >= card: all members
    c("OBJECT", "ENCODING", key),
]
score = st.sampled_from(["1", "2.5", "-1", "0", "inf", "-inf", "nan", "x", "1e3"])
ZSETS = [
    cat(c("ZADD", key), opt(["NX"], ["XX"], ["GT"], ["LT"], ["CH"], ["INCR"], ["NX", "XX"]),
        c(score, member)),
    c("ZADD", key, score, member, score, member),
    c("ZSCORE", key, member), c("ZMSCORE", key, member, member), c("ZINCRBY", key, score, member),
    c("ZCARD", key), c("ZREM", key, member), c("ZRANK", key, member), c("ZREVRANK", key, member),
    cat(c("ZRANGE", key, idx, idx), opt(["WITHSCORES"], ["REV"], ["REV", "WITHSCORES"])),
    cat(c("ZRANGE", key, st.sampled_from(["-inf", "(1", "0", "[a"]),
          st.sampled_from(["+inf", "2", "(3", "[z"])),
        opt(["BYSCORE"], ["BYSCORE", "WITHSCORES"], ["BYSCORE", "LIMIT", "0", "2"], ["BYLEX"])),
    c("ZRANGEBYSCORE", key, st.sampled_from(["-inf", "0", "(1"]), st.sampled_from(["+inf", "2"])),
    c("ZCOUNT", key, st.sampled_from(["-inf", "0", "(1", "x"]), st.sampled_from(["+inf", "2"])),
    c(st.sampled_from(["ZPOPMIN", "ZPOPMAX"]), key), c(st.sampled_from(["ZPOPMIN", "ZPOPMAX"]), key, small_count),
    c("ZREMRANGEBYRANK", key, idx, idx), c("OBJECT", "ENCODING", key),
]


def seq(groups, max_size=30):
    return st.lists(maybe_bad_arity(st.one_of(*groups)), min_size=1, max_size=max_size)


SETTINGS = dict(deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture,
                                       HealthCheck.too_slow])


# ---------------------------------------------------------------- the tests

@settings(max_examples=40, **SETTINGS)
@given(commands=seq(STRINGS + KEYSPACE, 40))
def test_strings_keys_and_expiry_behave_like_redis(pair, commands):
    run_sequence(pair, commands)


@settings(max_examples=12, **SETTINGS)
@given(commands=seq(LISTS + KEYSPACE[:8] + [c("SET", key, val)]))
def test_lists_behave_like_redis(pair, commands):
    run_sequence(pair, commands)


@settings(max_examples=12, **SETTINGS)
@given(commands=seq(HASHES + KEYSPACE[:8] + [c("SET", key, val)]))
def test_hashes_behave_like_redis(pair, commands):
    run_sequence(pair, commands)


@settings(max_examples=12, **SETTINGS)
@given(commands=seq(SETS + KEYSPACE[:8] + [c("SET", key, val)]))
def test_sets_behave_like_redis(pair, commands):
    run_sequence(pair, commands)


@settings(max_examples=12, **SETTINGS)
@given(commands=seq(ZSETS + KEYSPACE[:8] + [c("SET", key, val)]))
def test_sorted_sets_behave_like_redis(pair, commands):
    run_sequence(pair, commands)


@settings(max_examples=12, **SETTINGS)
@given(commands=seq(STRINGS + KEYSPACE + LISTS + HASHES + SETS + ZSETS, 50))
def test_mixed_types_behave_like_redis(pair, commands):
    run_sequence(pair, commands)


# ---------------------------------------------------------------- fixed regressions

@pytest.mark.parametrize("commands", [
    [["SET", "a", "1"], ["INCRBY", "a", "9223372036854775807"], ["GET", "a"]],
    [["SET", "a", "x"], ["EXPIRE", "a", "100"], ["SET", "a", "y", "KEEPTTL"], ["TTL", "a"],
     ["SET", "a", "z"], ["TTL", "a"]],
    [["SET", "{t}a", "v"], ["RENAME", "{t}a", "b"], ["GET", "b"], ["EXISTS", "{t}a"]],
    [["SET", "a", "v"], ["EXPIREAT", "a", "1"], ["EXISTS", "a"], ["DBSIZE"]],
    [["MSET", "a", "1", "b", "2", "{t}a", "3"], ["MGET", "a", "b", "{t}a", "nokey"],
     ["DEL", "a", "b", "{t}a"]],
    [["SET", "a", "v", "EX", "0"], ["SET", "a", "v", "PX", "-1"], ["SET", "a", "v", "NX", "XX"],
     ["GETEX", "a", "EX", "10", "PX", "10"], ["SET"], ["GET", "a", "b"]],
], ids=["incr-overflow", "keepttl", "rename-across-shards", "expireat-past", "mset-mget",
        "set-errors"])
def test_known_edge_sequences_behave_like_redis(pair, commands):
    run_sequence(pair, commands)
