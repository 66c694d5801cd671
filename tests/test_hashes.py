"""Hash commands, compared with a real redis-server reply for reply.

Small hashes (listpack in Redis) have a defined order (insertion order), so
their HGETALL/HKEYS/HVALS/HSCAN replies are compared byte for byte.  Replies
of hashtable-encoded hashes are compared after sorting (Redis's order is its
hash table's).  HRANDFIELD is random: its shape and properties are checked.
"""

from __future__ import annotations

import hiredis
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.test_lists import Raw


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


def parse(raw: bytes):
    rd = hiredis.Reader()
    rd.feed(raw)
    return rd.gets()


def run_all(pair, script: str):
    for line in script.strip().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            same(pair, *line.split())


def test_hset_family_replies_match_redis(pair):
    run_all(pair, """
        hset h a 1 b 2
        hset h a 10 c 3
        hset h a
        hset h a 1 b
        hmset h d 4 e 5
        hmset h d
        hsetnx h a 100
        hsetnx h f 6
        hsetnx h f
        hgetall h
        hkeys h
        hvals h
        hlen h
        hlen nokey
        hget h a
        hget h zz
        hget nokey a
        hmget h a zz b
        hmget nokey a b
        hexists h a
        hexists h zz
        hexists nokey a
        hstrlen h a
        hstrlen h zz
        hstrlen nokey a
        hgetall nokey
        hkeys nokey
        hvals nokey
    """)


def test_hdel_removes_fields_and_the_key_when_empty(pair):
    run_all(pair, """
        hset h a 1 b 2 c 3
        hdel h a zz
        hdel h a
        hdel nokey a
        hdel h b c b
        exists h
        hset h a 1
        hdel h a a
        exists h
    """)


def test_deleted_field_re_added_goes_last_like_listpack(pair):
    run_all(pair, """
        hset h a 1 b 2 c 3
        hdel h a
        hset h a 9 b 8
        hgetall h
        hscan h 0
    """)


def test_hincrby_and_hincrbyfloat_errors_and_results_match_redis(pair):
    run_all(pair, """
        hincrby h n 5
        hincrby h n -7
        hincrby h n x
        hincrby h n 1.5
        hset h s abc f 1.5 big 9223372036854775807 small -9223372036854775808 inf inf
        hincrby h s 1
        hincrby h f 1
        hincrby h big 1
        hincrby h big 0
        hincrby h small -1
        hincrby h small 9223372036854775807
        hincrbyfloat h f 1.25
        hincrbyfloat h f -1e-20
        hincrbyfloat h n 0.1
        hincrbyfloat h s 1
        hincrbyfloat h inf 1
        hincrbyfloat h x inf
        hincrbyfloat h x -inf
        hincrbyfloat h x nan
        hincrbyfloat h x abc
        hincrbyfloat h x 1e5000
        hincrbyfloat h x 1e-5000
        hincrbyfloat h x 1e-400
        hset h huge 1e5000 tiny 1e-5000
        hincrbyfloat h huge 1
        hincrbyfloat h tiny 1
        hincrbyfloat h x 3.0e3
        hincrbyfloat h y 10.50
        hincrbyfloat h y 5.0e-1
        hgetall h
        hincrbyfloat nokey f 2
        hincrby nokey2 f 2
        hgetall nokey
    """)


def test_wrongtype_errors_for_every_hash_command_match_redis(pair):
    same(pair, "set", "s", "v")
    for cmd in [["hset", "s", "a", "1"], ["hmset", "s", "a", "1"], ["hsetnx", "s", "a", "1"],
                ["hget", "s", "a"], ["hmget", "s", "a"], ["hdel", "s", "a"], ["hlen", "s"],
                ["hstrlen", "s", "a"], ["hexists", "s", "a"], ["hkeys", "s"], ["hvals", "s"],
                ["hgetall", "s"], ["hincrby", "s", "a", "1"], ["hincrbyfloat", "s", "a", "1"],
                ["hscan", "s", "0"], ["hrandfield", "s"], ["hrandfield", "s", "2"],
                ["hincrby", "s", "a", "x"]]:
        same(pair, *cmd)


def test_arity_errors_match_redis(pair):
    for cmd in [["hset", "h", "a"], ["hmset", "h"], ["hsetnx", "h", "a"], ["hget", "h"],
                ["hmget", "h"], ["hdel", "h"], ["hlen"], ["hstrlen", "h"], ["hexists", "h"],
                ["hkeys"], ["hvals", "h", "x"], ["hgetall"], ["hincrby", "h", "a"],
                ["hincrbyfloat", "h", "a"], ["hscan", "h"], ["hrandfield"]]:
        same(pair, *cmd)


def test_object_encoding_converts_to_hashtable_by_size_and_length_and_never_back(pair):
    same(pair, "hset", "h", "a", "1")
    same(pair, "object", "encoding", "h")
    same(pair, "hset", "h", "long", "v" * 64)
    same(pair, "object", "encoding", "h")
    same(pair, "hset", "h", "long", "v" * 65)
    same(pair, "object", "encoding", "h")
    same(pair, "hdel", "h", "long")
    same(pair, "object", "encoding", "h")          # stays hashtable
    same(pair, "hsetnx", "h2", "f" * 65, "1")
    same(pair, "object", "encoding", "h2")
    same(pair, "hincrby", "h3", "f" * 65, "1")
    same(pair, "object", "encoding", "h3")
    args = []
    for i in range(512):
        args += [f"f{i}", str(i)]
    same(pair, "hset", "h4", *args)
    same(pair, "object", "encoding", "h4")
    same(pair, "hset", "h4", "f0", "again")
    same(pair, "object", "encoding", "h4")
    same(pair, "hset", "h4", "one-more", "x")
    same(pair, "object", "encoding", "h4")
    same(pair, "hdel", "h4", "one-more", "f1", "f2")
    same(pair, "object", "encoding", "h4")


def test_hscan_small_hash_returns_everything_with_cursor_zero_like_redis(pair):
    run_all(pair, """
        hset h a 1 b 2 ab 3 c 4
        hscan h 0
        hscan h 0 MATCH a*
        hscan h 0 COUNT 1
        hscan h 0 count 0
        hscan h 0 count x
        hscan h 0 match
        hscan h x
        hscan h -1
        hscan h +5
        hscan h -
        hscan h 18446744073709551616
        hscan h 18446744073709551615
        hscan h 1x
        hscan nokey 0
        hscan nokey 0 count 0
        hscan nokey x
    """)


def test_hscan_of_a_large_hash_visits_every_field_exactly_once(r):
    fields = {f"f{i}".encode(): str(i).encode() for i in range(1000)}
    r.hset("big", mapping=fields)
    seen: dict = {}
    cursor = 0
    rounds = 0
    while True:
        cursor, page = r.hscan("big", cursor, count=50)
        for k, v in page.items():
            assert k not in seen
            seen[k] = v
        rounds += 1
        if cursor == 0:
            break
    assert seen == fields
    assert rounds > 5          # paged, not all at once
    cursor, page = r.hscan("big", 0, match="f99*", count=2000)
    assert cursor == 0 and set(page) == {b"f99", *(b"f99%d" % i for i in range(10))}


def test_hrandfield_argument_errors_match_redis(pair):
    run_all(pair, """
        hset h a 1 b 2 c 3
        hrandfield h x
        hrandfield h 1 withvalue
        hrandfield h 1 withvalues x
        hrandfield h -9223372036854775808
        hrandfield h -4611686018427387904 withvalues
        hrandfield h 4611686018427387904 withvalues
        hrandfield h 0
        hrandfield h 0 withvalues
        hrandfield nokey
        hrandfield nokey 3
        hrandfield nokey -3 withvalues
        hrandfield h 3
        hrandfield h 5 WITHVALUES
    """)


def test_hrandfield_counts_distinct_and_with_repeats(r):
    r.hset("h", mapping={"a": "1", "b": "2", "c": "3", "d": "4"})
    assert r.hrandfield("h") in {b"a", b"b", b"c", b"d"}
    two = r.hrandfield("h", 2)
    assert len(two) == 2 and len(set(two)) == 2 and set(two) <= {b"a", b"b", b"c", b"d"}
    assert sorted(r.hrandfield("h", 10)) == [b"a", b"b", b"c", b"d"]
    rep = r.hrandfield("h", -50)
    assert len(rep) == 50 and set(rep) <= {b"a", b"b", b"c", b"d"}
    assert len(set(rep)) > 1
    flat = r.hrandfield("h", -6, withvalues=True)
    assert len(flat) == 12
    for f, v in zip(flat[::2], flat[1::2]):
        assert r.hget("h", f) == v


def test_hrandfield_withvalues_in_resp3_is_nested_pairs_like_redis(shardis, real_redis):
    a, b = Raw(shardis.port, 3), Raw(real_redis.port, 3)
    try:
        for c in (a, b):
            c.cmd("FLUSHALL")
            c.cmd("HSET", "h", "only", "1")
        assert a.cmd("HRANDFIELD", "h", "1", "WITHVALUES") == b.cmd("HRANDFIELD", "h", "1", "WITHVALUES")
        assert a.cmd("HRANDFIELD", "h", "-2", "WITHVALUES") == b.cmd("HRANDFIELD", "h", "-2", "WITHVALUES")
    finally:
        a.close()
        b.close()


def test_hgetall_is_a_map_in_resp3_and_matches_redis(shardis, real_redis, r3):
    a, b = Raw(shardis.port, 3), Raw(real_redis.port, 3)
    try:
        for c in (a, b):
            c.cmd("FLUSHALL")
            c.cmd("HSET", "h", "a", "1", "b", "2")
        for cmd in [["HGETALL", "h"], ["HGETALL", "nokey"], ["HMGET", "h", "a", "x"],
                    ["HGET", "h", "x"], ["HSCAN", "h", "0"], ["HRANDFIELD", "nokey"],
                    ["HRANDFIELD", "h", "0"], ["HINCRBYFLOAT", "h", "a", "0.5"]]:
            ra = a.cmd(*cmd)
            assert ra == b.cmd(*cmd), cmd
        assert a.cmd("HGETALL", "h").startswith(b"%2\r\n")
    finally:
        a.close()
        b.close()
    r3.hset("x", mapping={"f": "v"})
    assert r3.hgetall("x") == {b"f": b"v"}


# --------------------------------------------------------------- generated sequences
KEY = st.sampled_from(["h", "g"])
FIELD = st.sampled_from(["a", "b", "c", "n"])
VALUE = st.sampled_from(["1", "-2", "x", "1.5", "10"])

COMMANDS = st.one_of(
    st.tuples(st.just("hset"), KEY, FIELD, VALUE).map(list),
    st.tuples(st.just("hset"), KEY, FIELD, VALUE, FIELD, VALUE).map(list),
    st.tuples(st.just("hsetnx"), KEY, FIELD, VALUE).map(list),
    st.tuples(st.just("hdel"), KEY, FIELD).map(list),
    st.tuples(st.just("hdel"), KEY, FIELD, FIELD).map(list),
    st.tuples(st.just("hget"), KEY, FIELD).map(list),
    st.tuples(st.just("hmget"), KEY, FIELD, FIELD).map(list),
    st.tuples(st.just("hincrby"), KEY, FIELD, st.sampled_from(["1", "-5", "x"])).map(list),
    st.tuples(st.just("hincrbyfloat"), KEY, FIELD, st.sampled_from(["0.5", "-1", "2e2"])).map(list),
    st.tuples(st.sampled_from(["hlen", "hkeys", "hvals", "hgetall"]), KEY).map(list),
    st.tuples(st.just("hstrlen"), KEY, FIELD).map(list),
    st.tuples(st.just("hexists"), KEY, FIELD).map(list),
    st.tuples(st.just("hscan"), KEY, st.just("0"), st.just("MATCH"),
              st.sampled_from(["*", "a", "[ab]"])).map(list),
    st.tuples(st.just("set"), KEY, st.just("str")).map(list),
    st.tuples(st.just("del"), KEY).map(list),
    st.tuples(st.just("object"), st.just("encoding"), KEY).map(list),
)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(COMMANDS, min_size=1, max_size=25))
def test_generated_hash_command_sequences_match_redis(pair, cmds):
    a, b = pair
    a.cmd("FLUSHALL")
    b.cmd("FLUSHALL")
    for cmd in cmds:
        same(pair, *cmd)
