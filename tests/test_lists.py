"""List commands, compared with a real redis-server reply for reply.

Every command is sent to Shardis (4 shards) and to redis-server over plain
sockets and the exact reply bytes are compared: types, nulls, error strings.
Key names are chosen so that multi-key commands (LMOVE, RPOPLPUSH, LMPOP)
run both on one shard and across shards.
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


@pytest.fixture
def pair(shardis, real_redis):
    a, b = Raw(shardis.port), Raw(real_redis.port)
    a.cmd("FLUSHALL")
    b.cmd("FLUSHALL")
    yield a, b
    a.close()
    b.close()


def same(pair, *args):
    a, b = pair
    ra, rb = a.cmd(*args), b.cmd(*args)
    assert ra == rb, f"{args}: shardis {ra!r} != redis {rb!r}"
    return ra


def run_all(pair, script: str):
    for line in script.strip().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            same(pair, *line.split())


def test_push_pop_and_length_replies_match_redis(pair):
    run_all(pair, """
        lpush l a b c
        rpush l d e
        lrange l 0 -1
        llen l
        llen nokey
        lpushx nokey a
        rpushx nokey a
        exists nokey
        lpushx l x y
        rpushx l z
        lrange l 0 -1
        lpop l
        rpop l
        lpop l 2
        rpop l 2
        lpop l 0
        rpop l 100
        exists l
        lpop l
        lpop l 3
        rpop l 0
        lpop l 1 2
        rpop l x
        lpop l -1
    """)


def test_pop_with_count_on_missing_key_is_null_array_and_zero_on_existing_is_empty(pair):
    run_all(pair, """
        lpop nokey 2
        rpop nokey 0
        rpush l a
        lpop l 0
        rpop l 0
        lpop l -5
    """)


def test_lrange_and_lindex_with_negative_and_out_of_range_indexes_match_redis(pair):
    same(pair, "rpush", "l", *"abcdefghij")
    for s, e in [(0, -1), (-3, -1), (-100, 2), (5, 2), (8, 100), (10, 20), (-1, -1),
                 (0, 0), (-11, -10), (3, -8), (9, 9)]:
        same(pair, "lrange", "l", s, e)
    for i in [0, 9, 10, -1, -10, -11, 4]:
        same(pair, "lindex", "l", i)
    run_all(pair, """
        lrange l x 1
        lrange l 0 y
        lindex l x
        lindex nokey x
        lrange nokey x 1
        lrange nokey 0 1
        lindex nokey 0
    """)


def test_lset_linsert_lrem_ltrim_errors_and_edge_cases_match_redis(pair):
    run_all(pair, """
        lset nokey 0 x
        rpush l a b c a b c a
        lset l 0 A
        lset l -1 Z
        lset l 7 x
        lset l -8 x
        lset l x x
        lrange l 0 -1
        linsert l before b B
        linsert l AFTER c C
        linsert l after nothere x
        linsert l middle b x
        linsert nokey before a x
        lrange l 0 -1
        lrem l 1 b
        lrem l -1 c
        lrem l 0 a
        lrem l 0 nothere
        lrem l x a
        lrem nokey 1 a
        lrange l 0 -1
        ltrim l 1 -2
        lrange l 0 -1
        ltrim l 0 x
        ltrim nokey 0 1
        ltrim l 5 2
        exists l
        rpush l a b c
        ltrim l -100 100
        lrange l 0 -1
        ltrim l -1 -1
        lrange l 0 -1
    """)


def test_lrem_with_counts_walks_from_head_or_tail_like_redis(pair):
    for count in [2, -2, 0, 5, -5, 1, -1]:
        same(pair, "del", "l")
        same(pair, "rpush", "l", "x", "a", "x", "b", "x", "c", "x")
        same(pair, "lrem", "l", count, "x")
        same(pair, "lrange", "l", 0, -1)


def test_lpos_options_and_errors_match_redis(pair):
    same(pair, "rpush", "l", *"abcabcabc")
    for opts in [[], ["rank", "2"], ["rank", "-1"], ["rank", "-3"], ["rank", "4"],
                 ["count", "0"], ["count", "2"], ["count", "0", "rank", "-2"],
                 ["maxlen", "4"], ["count", "0", "maxlen", "5"], ["rank", "2", "maxlen", "3"],
                 ["rank", "0"], ["rank", "x"], ["count", "-1"], ["count", "x"],
                 ["maxlen", "-1"], ["maxlen", "x"], ["count"], ["foo", "1"],
                 ["rank", "-9223372036854775808"], ["RANK", "1", "COUNT", "1", "MAXLEN", "0"]]:
        same(pair, "lpos", "l", "a", *opts)
        same(pair, "lpos", "l", "z", *opts)
    run_all(pair, """
        lpos nokey a
        lpos nokey a count 1
        lpos nokey a rank 0
    """)


def test_wrongtype_errors_for_every_list_command_match_redis(pair):
    same(pair, "set", "s", "v")
    for cmd in [["lpush", "s", "a"], ["rpush", "s", "a"], ["lpushx", "s", "a"],
                ["rpushx", "s", "a"], ["lpop", "s"], ["rpop", "s", "0"], ["llen", "s"],
                ["lrange", "s", "0", "-1"], ["lindex", "s", "0"], ["lset", "s", "0", "x"],
                ["linsert", "s", "before", "a", "b"], ["lrem", "s", "0", "a"],
                ["ltrim", "s", "0", "1"], ["lpos", "s", "a"], ["lmove", "s", "d", "left", "left"],
                ["rpoplpush", "s", "d"], ["lmpop", "1", "s", "left"],
                ["blpop", "s", "0"], ["brpop", "s", "0"], ["blmove", "s", "d", "left", "left", "0"],
                ["brpoplpush", "s", "d", "0"], ["blmpop", "0", "1", "s", "left"]]:
        same(pair, *cmd)


@pytest.mark.parametrize("dst", ["{src}dst", "dst"])   # same shard / another shard
def test_lmove_and_rpoplpush_match_redis_on_one_shard_and_across_shards(pair, dst):
    run_all(pair, f"""
        rpush src a b c d
        lmove src {dst} left right
        lmove src {dst} right left
        lmove src {dst} LEFT LEFT
        rpoplpush src {dst}
        lrange {dst} 0 -1
        exists src
        lmove src {dst} left left
        rpoplpush src {dst}
        lmove src {dst} up left
        lmove {dst} src left middle
        set {dst}x v
        rpush src a
        lmove src {dst}x left left
        lrange src 0 -1
        rpoplpush src {dst}x
        lmove nokey {dst}x left left
        lmove {dst}x src left left
    """)


def test_lmove_onto_the_same_list_rotates_it(pair):
    run_all(pair, """
        rpush l a b c
        lmove l l left right
        lrange l 0 -1
        rpoplpush l l
        lrange l 0 -1
        del l
        rpush l only
        lmove l l right left
        lrange l 0 -1
    """)


@pytest.mark.parametrize("k2", ["{k1}b", "b"])
def test_lmpop_arguments_and_results_match_redis(pair, k2):
    run_all(pair, f"""
        lmpop 2 k1 {k2} left
        rpush {k2} a b c d e
        lmpop 2 k1 {k2} left
        lmpop 2 k1 {k2} right count 2
        lmpop 2 k1 {k2} left count 10
        exists {k2}
        rpush k1 x y
        rpush {k2} z
        lmpop 2 {k2} k1 RIGHT COUNT 1
        lmpop 2 k1 {k2} left
        lmpop 0 k1 left
        lmpop -1 k1 left
        lmpop x k1 left
        lmpop 3 k1 left
        lmpop 1 k1 middle
        lmpop 1 k1 left count 0
        lmpop 1 k1 left count -1
        lmpop 1 k1 left count x
        lmpop 1 k1 left count
        lmpop 1 k1 left count 1 count 2
        lmpop 1 k1 left foo
        set s v
        lmpop 2 nokey s left
        lmpop 2 k1 s left
    """)


def test_arity_errors_match_redis(pair):
    for cmd in [["lpush", "l"], ["rpush"], ["lpop"], ["llen"], ["lrange", "l", "0"],
                ["lindex", "l"], ["lset", "l", "0"], ["linsert", "l", "before", "a"],
                ["lrem", "l", "0"], ["ltrim", "l", "0"], ["lpos", "l"], ["lmove", "a", "b", "left"],
                ["rpoplpush", "a"], ["lmpop", "1", "a"], ["blpop", "l"], ["blmove", "a", "b", "left", "left"],
                ["brpoplpush", "a", "b"], ["blmpop", "0", "1", "a"], ["lpushx", "l"]]:
        same(pair, *cmd)


def test_object_encoding_of_lists_is_quicklist_in_redis_7_0(pair):
    same(pair, "rpush", "small", "a")
    same(pair, "object", "encoding", "small")
    same(pair, "rpush", "big", *["x" * 100] * 200)
    same(pair, "object", "encoding", "big")
    same(pair, "type", "big")


def test_list_with_ttl_keeps_it_on_push_and_loses_the_key_when_emptied(pair):
    run_all(pair, """
        rpush l a b
        expire l 100
        rpush l c
        ttl l
        lpop l 3
        exists l
        ttl l
        rpush l a
        ttl l
    """)


def test_copy_of_a_list_is_independent(r):
    r.rpush("{c}a", "x", "y")
    assert r.copy("{c}a", "{c}b")
    r.rpush("{c}a", "z")
    assert r.lrange("{c}b", 0, -1) == [b"x", b"y"]
    assert r.object("encoding", "{c}b") == b"quicklist"


def test_resp3_replies_of_list_commands_match_redis(shardis, real_redis):
    a, b = Raw(shardis.port, 3), Raw(real_redis.port, 3)
    try:
        for c in (a, b):
            c.cmd("FLUSHALL")
        for cmd in [["rpush", "l", "a", "b"], ["lpop", "nokey"], ["lpop", "nokey", "2"],
                    ["lpop", "l", "0"], ["lrange", "l", "0", "-1"], ["lindex", "l", "5"],
                    ["lpos", "l", "z"], ["lmpop", "1", "nokey", "left"],
                    ["lmpop", "1", "l", "left", "count", "5"], ["blpop", "nokey", "0.01"],
                    ["blmove", "nokey", "x", "left", "left", "0.01"]]:
            assert a.cmd(*cmd) == b.cmd(*cmd), cmd
    finally:
        a.close()
        b.close()


# --------------------------------------------------------------- generated sequences
KEYS = ["a", "{a}b", "c", "d"]      # "a"/"{a}b" share a shard; c, d elsewhere
ELEMS = st.sampled_from(["x", "y", "z", "1"])
IDX = st.integers(-6, 6).map(str)
KEY = st.sampled_from(KEYS)
WHERE = st.sampled_from(["LEFT", "RIGHT", "left"])

COMMANDS = st.one_of(
    st.tuples(st.sampled_from(["lpush", "rpush", "lpushx", "rpushx"]), KEY,
              ELEMS).map(list),
    st.tuples(st.sampled_from(["lpush", "rpush"]), KEY, ELEMS, ELEMS).map(list),
    st.tuples(st.sampled_from(["lpop", "rpop"]), KEY).map(list),
    st.tuples(st.sampled_from(["lpop", "rpop"]), KEY, st.integers(-1, 4).map(str)).map(list),
    st.tuples(st.just("lrange"), KEY, IDX, IDX).map(list),
    st.tuples(st.just("lindex"), KEY, IDX).map(list),
    st.tuples(st.just("lset"), KEY, IDX, ELEMS).map(list),
    st.tuples(st.just("linsert"), KEY, st.sampled_from(["BEFORE", "AFTER"]), ELEMS,
              ELEMS).map(list),
    st.tuples(st.just("lrem"), KEY, st.integers(-3, 3).map(str), ELEMS).map(list),
    st.tuples(st.just("ltrim"), KEY, IDX, IDX).map(list),
    st.tuples(st.just("lpos"), KEY, ELEMS, st.just("RANK"), st.sampled_from(["1", "-1", "2"]),
              st.just("COUNT"), st.sampled_from(["0", "1", "2"])).map(list),
    st.tuples(st.just("lmove"), KEY, KEY, WHERE, WHERE).map(list),
    st.tuples(st.just("rpoplpush"), KEY, KEY).map(list),
    st.tuples(st.just("lmpop"), st.just("2"), KEY, KEY, WHERE, st.just("COUNT"),
              st.sampled_from(["1", "3"])).map(list),
    st.tuples(st.just("llen"), KEY).map(list),
    st.tuples(st.just("set"), KEY, st.just("str")).map(list),
    st.tuples(st.just("del"), KEY).map(list),
)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(COMMANDS, min_size=1, max_size=25))
def test_generated_list_command_sequences_match_redis(pair, cmds):
    a, b = pair
    a.cmd("FLUSHALL")
    b.cmd("FLUSHALL")
    for cmd in cmds:
        same(pair, *cmd)
    for k in KEYS:
        if same(pair, "type", k) == b"+list\r\n":
            same(pair, "lrange", k, 0, -1)
