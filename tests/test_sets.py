"""Set commands, compared with a real redis-server reply for reply.

`Raw` sends a command on a plain socket and returns the exact reply bytes,
so differential checks compare wire bytes (types, error strings, nulls).
Set replies have no defined order in Redis (hashtable encoding): those are
compared after sorting their elements with `norm`.
"""

from __future__ import annotations

import socket

import hiredis
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st


class Raw:
    """A connection returning raw reply bytes (one reply per command)."""

    def __init__(self, port: int, proto: int = 2):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        if proto == 3:
            self.cmd("HELLO", "3")

    def cmd(self, *args) -> bytes:
        out = b"*%d\r\n" % len(args)
        for a in args:
            a = a if isinstance(a, bytes) else str(a).encode()
            out += b"$%d\r\n%b\r\n" % (len(a), a)
        self.sock.sendall(out)
        rd = hiredis.Reader()
        buf = b""
        while True:
            d = self.sock.recv(1 << 20)
            assert d, "connection closed"
            buf += d
            rd.feed(d)
            if rd.gets() is not False:
                return buf

    def close(self):
        self.sock.close()


def parse(raw: bytes):
    rd = hiredis.Reader()
    rd.feed(raw)
    return rd.gets()


def norm(raw: bytes):
    """A set-like reply with its elements sorted (order is unspecified)."""
    if raw[:1] == b"-":
        return raw
    v = parse(raw)
    if isinstance(v, list):
        return sorted(v, key=repr)
    return v


@pytest.fixture
def both(shardis, real_redis):
    a, b = Raw(shardis.port), Raw(real_redis.port)
    a.cmd("FLUSHALL")
    b.cmd("FLUSHALL")
    yield a, b
    a.close()
    b.close()


@pytest.fixture
def both3(shardis, real_redis):
    a, b = Raw(shardis.port, 3), Raw(real_redis.port, 3)
    a.cmd("FLUSHALL")
    b.cmd("FLUSHALL")
    yield a, b
    a.close()
    b.close()


def same(both, *args):
    a, b = both
    ra, rb = a.cmd(*args), b.cmd(*args)
    assert ra == rb, (args, ra, rb)
    return ra


def same_unordered(both, *args):
    a, b = both
    ra, rb = a.cmd(*args), b.cmd(*args)
    assert norm(ra) == norm(rb), (args, ra, rb)
    assert ra[:1] == rb[:1], (args, ra, rb)       # same reply type
    return ra


def test_single_key_set_commands_reply_like_redis(both):
    same(both, "SADD", "s", "a", "b", "c", "a")
    same(both, "SADD", "s", "c", "d")
    same(both, "SCARD", "s")
    same(both, "SCARD", "nosuch")
    same(both, "SISMEMBER", "s", "a")
    same(both, "SISMEMBER", "s", "zz")
    same(both, "SISMEMBER", "nosuch", "a")
    same(both, "SMISMEMBER", "s", "a", "zz", "d")
    same(both, "SMISMEMBER", "nosuch", "a", "b")
    same_unordered(both, "SMEMBERS", "s")
    same(both, "SMEMBERS", "nosuch")
    same(both, "SREM", "s", "a", "zz")
    same(both, "SREM", "nosuch", "a")
    same(both, "SREM", "s", "b", "c", "d")
    same(both, "EXISTS", "s")              # the emptied set is gone


def test_intset_members_come_back_in_numeric_order_like_redis(both):
    same(both, "SADD", "n", "10", "-3", "2", "100", "0")
    same(both, "SMEMBERS", "n")
    same(both, "SINTER", "n")
    same(both, "SUNION", "n", "nosuch")


def test_set_commands_on_wrong_type_and_bad_arguments_reply_redis_errors(both):
    same(both, "SET", "str", "x")
    for args in [("SADD", "str", "a"), ("SREM", "str", "a"), ("SCARD", "str"),
                 ("SISMEMBER", "str", "a"), ("SMISMEMBER", "str", "a"), ("SMEMBERS", "str"),
                 ("SPOP", "str"), ("SPOP", "str", "2"), ("SRANDMEMBER", "str"),
                 ("SRANDMEMBER", "str", "2"), ("SINTER", "str"), ("SUNION", "nosuch", "str"),
                 ("SDIFF", "str"), ("SINTERSTORE", "d", "str"), ("SSCAN", "str", "0"),
                 ("SMOVE", "str", "d", "a"), ("SINTERCARD", "1", "str"),
                 ("SADD", "s"), ("SPOP", "s", "1", "2"), ("SPOP", "s", "-1"), ("SPOP", "s", "x"),
                 ("SRANDMEMBER", "s", "x"), ("SRANDMEMBER", "s", "1", "2"),
                 ("SRANDMEMBER", "s", "-9223372036854775808"),
                 ("SINTERCARD", "0", "s"), ("SINTERCARD", "x", "s"), ("SINTERCARD", "2", "s"),
                 ("SINTERCARD", "1", "s", "LIMIT", "-1"), ("SINTERCARD", "1", "s", "LIMIT", "x"),
                 ("SINTERCARD", "1", "s", "LIMIT"), ("SINTERCARD", "1", "s", "FOO", "1"),
                 ("SSCAN", "s", "x"), ("SSCAN", "nosuch", "x"), ("SSCAN", "nosuch", "0", "COUNT", "0"),
                 ("SMISMEMBER", "s"), ("SMOVE", "a", "b")]:
        same(both, *args)
    same(both, "SADD", "s", "a")
    same(both, "SSCAN", "s", "0", "COUNT", "0")
    same(both, "SSCAN", "s", "0", "MATCH")
    same(both, "SMOVE", "s", "str", "a")      # destination of the wrong type
    same(both, "SMOVE", "nosuch", "str", "a")  # missing source wins: 0


def test_spop_and_srandmember_counts_follow_redis_rules(both):
    a, b = both
    same(both, "SADD", "s", "a", "b", "c", "d", "e")
    same(both, "SRANDMEMBER", "s", "0")
    same(both, "SPOP", "s", "0")
    same(both, "SRANDMEMBER", "nosuch")
    same(both, "SRANDMEMBER", "nosuch", "3")
    same(both, "SPOP", "nosuch")
    same(both, "SPOP", "nosuch", "3")
    same_unordered(both, "SRANDMEMBER", "s", "10")
    for _ in range(5):
        got = parse(a.cmd("SRANDMEMBER", "s", "-8"))
        assert len(got) == 8 and set(got) <= {b"a", b"b", b"c", b"d", b"e"}
        got = parse(a.cmd("SRANDMEMBER", "s", "3"))
        assert len(got) == 3 and len(set(got)) == 3
    popped = parse(a.cmd("SPOP", "s", "2"))
    assert len(set(popped)) == 2
    assert parse(a.cmd("SCARD", "s")) == 3
    one = parse(a.cmd("SPOP", "s"))
    assert one in {b"a", b"b", b"c", b"d", b"e"} and one not in popped
    rest = parse(a.cmd("SPOP", "s", "10"))
    assert len(rest) == 2
    assert parse(a.cmd("EXISTS", "s")) == 0


def test_resp3_set_replies_are_sets_and_counts_arrays(both3):
    same(both3, "SADD", "s", "a", "b")
    same_unordered(both3, "SMEMBERS", "s")
    same(both3, "SMEMBERS", "nosuch")
    same_unordered(both3, "SINTER", "s", "s")
    same_unordered(both3, "SUNION", "s")
    same_unordered(both3, "SDIFF", "s", "nosuch")
    same_unordered(both3, "SRANDMEMBER", "s", "5")
    same(both3, "SPOP", "nosuch", "1")
    same(both3, "SRANDMEMBER", "nosuch", "1")
    same_unordered(both3, "SPOP", "s", "2")        # the whole set: deterministic


@pytest.mark.parametrize("tag", ["", "{t}"])
def test_multi_key_algebra_matches_redis_within_and_across_shards(both, tag):
    k = [f"{tag}k{i}" for i in range(4)]
    same(both, "SADD", k[0], "a", "b", "c", "1")
    same(both, "SADD", k[1], "b", "c", "d")
    same(both, "SADD", k[2], "c", "x")
    for cmd in ("SINTER", "SUNION", "SDIFF"):
        same_unordered(both, cmd, k[0], k[1])
        same_unordered(both, cmd, k[0], k[1], k[2])
        same_unordered(both, cmd, k[0], k[3])
        same_unordered(both, cmd, k[3], k[0])
    for cmd in ("SINTERSTORE", "SUNIONSTORE", "SDIFFSTORE"):
        same(both, cmd, k[3], k[0], k[1], k[2])
        same_unordered(both, "SMEMBERS", k[3])
        same(both, cmd, k[3], k[0], f"{tag}nosuch")
        same(both, "EXISTS", k[3])
    same(both, "SINTERCARD", "2", k[0], k[1])
    same(both, "SINTERCARD", "3", k[0], k[1], k[2], "LIMIT", "1")
    same(both, "SINTERCARD", "2", k[0], f"{tag}nosuch")
    same(both, "SET", f"{tag}str", "v")
    same(both, "SINTER", f"{tag}nosuch", f"{tag}str")
    same(both, "SUNIONSTORE", k[3], k[0], f"{tag}str")
    same(both, "SINTERCARD", "2", k[0], f"{tag}str")
    # the destination may be an existing key of another type: overwritten
    same(both, "SINTERSTORE", f"{tag}str", k[0], k[1])
    same_unordered(both, "SMEMBERS", f"{tag}str")


@pytest.mark.parametrize("tag", ["", "{t}"])
def test_smove_moves_within_and_across_shards_like_redis(both, tag):
    src, dst = f"{tag}src", f"{tag}dst"
    same(both, "SADD", src, "a", "b")
    same(both, "SMOVE", src, dst, "a")
    same(both, "SMOVE", src, dst, "zz")
    same(both, "SMOVE", src, src, "b")
    same(both, "SMOVE", src, dst, "b")
    same(both, "EXISTS", src)
    same_unordered(both, "SMEMBERS", dst)
    same(both, "SMOVE", dst, f"{tag}third", "a")
    same(both, "SMEMBERS", f"{tag}third")


def test_object_encoding_follows_redis_7_0_intset_and_hashtable(both):
    same(both, "SADD", "i", *range(512))
    same(both, "OBJECT", "ENCODING", "i")
    same(both, "SADD", "i", "512")
    same(both, "OBJECT", "ENCODING", "i")
    same(both, "SADD", "h", "1", "a")
    same(both, "OBJECT", "ENCODING", "h")
    same(both, "SREM", "h", "a")
    same(both, "OBJECT", "ENCODING", "h")     # no conversion back in 7.0
    same(both, "SINTERSTORE", "d", "i")
    same(both, "OBJECT", "ENCODING", "d")
    same(both, "TYPE", "i")


def test_sscan_visits_every_member_of_a_large_set(shardis):
    r = shardis.client()
    r.delete("big")
    members = {f"m{i}".encode() for i in range(3000)}
    r.sadd("big", *members)
    seen = []
    cursor = 0
    calls = 0
    while True:
        cursor, page = r.sscan("big", cursor, count=100)
        seen.extend(page)
        calls += 1
        if cursor == 0:
            break
    assert set(seen) == members and len(seen) == len(members)
    assert calls > 10
    _, page = r.sscan("big", 0, match="m1*", count=5000)
    assert set(page) == {m for m in members if m.startswith(b"m1")}
    r.delete("big")


_members = st.sampled_from([b"a", b"b", b"c", b"1", b"2", b"-5", b"x" * 3])
_keys = st.sampled_from([b"s1", b"s2", b"s3", b"{t}s1", b"{t}s2", b"str"])
_ops = st.one_of(
    st.tuples(st.just(b"SADD"), _keys, _members, _members),
    st.tuples(st.just(b"SREM"), _keys, _members),
    st.tuples(st.just(b"SCARD"), _keys),
    st.tuples(st.just(b"SISMEMBER"), _keys, _members),
    st.tuples(st.sampled_from([b"SINTER", b"SUNION", b"SDIFF"]), _keys, _keys),
    st.tuples(st.sampled_from([b"SINTERSTORE", b"SUNIONSTORE", b"SDIFFSTORE"]), _keys, _keys, _keys),
    st.tuples(st.just(b"SMOVE"), _keys, _keys, _members),
    st.tuples(st.just(b"SMEMBERS"), _keys),
    st.tuples(st.just(b"SINTERCARD"), st.just(b"2"), _keys, _keys),
    st.tuples(st.just(b"SET"), st.just(b"str"), _members),
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(_ops, min_size=1, max_size=25))
def test_generated_set_command_sequences_match_redis(shardis, real_redis, ops):
    a, b = Raw(shardis.port), Raw(real_redis.port)
    try:
        a.cmd("FLUSHALL")
        b.cmd("FLUSHALL")
        for op in ops:
            ra, rb = a.cmd(*op), b.cmd(*op)
            assert norm(ra) == norm(rb), (op, ra, rb)
        for k in (b"s1", b"s2", b"s3", b"{t}s1", b"{t}s2"):
            assert norm(a.cmd("SMEMBERS", k)) == norm(b.cmd("SMEMBERS", k))
    finally:
        a.close()
        b.close()
