"""SORT / SORT_RO compared byte for byte with redis-server.

BY/GET pattern keys without a {tag} land on other shards than the sorted
key: those runs take the coordinated path (all shards held); {tag}ged
ones run in one hop on the key's shard.  Both must answer like Redis.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from test_sets import Raw, same


@pytest.fixture
def both(shardis, real_redis):
    a, b = Raw(shardis.port), Raw(real_redis.port)
    a.cmd("FLUSHALL")
    b.cmd("FLUSHALL")
    yield a, b
    a.close()
    b.close()


def _has(both, name: str) -> bool:
    # an arity error means the command exists; an unknown one says so
    return not both[0].cmd(name).startswith(b"-ERR unknown command")


@pytest.mark.parametrize("tag", ["", "{t}"])
def test_sort_of_sets_and_sorted_sets_with_patterns_matches_redis(both, tag):
    s, z = f"{tag}s", f"{tag}z"
    same(both, "SADD", s, "3", "1", "2", "10", "-4")
    same(both, "ZADD", z, "1", "c", "2", "a", "3", "b")
    for i, w in (("1", "50"), ("2", "7"), ("3", "30"), ("10", "0"), ("-4", "7")):
        same(both, "SET", f"{tag}w_{i}", w)
        same(both, "SET", f"{tag}o_{i}", f"obj{i}")
    for x, w in (("a", "3"), ("b", "1"), ("c", "2")):
        same(both, "SET", f"{tag}w_{x}", w)
    cases = [
        ("SORT", s), ("SORT", s, "DESC"), ("SORT", s, "ALPHA"), ("SORT", s, "ALPHA", "DESC"),
        ("SORT", s, "LIMIT", "1", "2"), ("SORT", s, "LIMIT", "-5", "2"), ("SORT", s, "LIMIT", "2", "-1"),
        ("SORT", s, "LIMIT", "10", "2"), ("SORT", s, "LIMIT", "0", "0"),
        ("SORT", s, "BY", f"{tag}w_*"), ("SORT", s, "BY", f"{tag}w_*", "DESC"),
        ("SORT", s, "BY", f"{tag}w_*", "GET", f"{tag}o_*", "GET", "#"),
        ("SORT", s, "BY", f"{tag}w_*", "GET", f"{tag}missing_*", "GET", "nostar"),
        ("SORT", s, "BY", f"{tag}w_*", "ALPHA", "LIMIT", "0", "3"),
        ("SORT", s, "GET", "#", "GET", f"{tag}o_*"),
        ("SORT", z), ("SORT", z, "ALPHA"), ("SORT", z, "BY", "nosort"), ("SORT", z, "BY", "nosort", "DESC"),
        ("SORT", z, "BY", "nosort", "LIMIT", "1", "5"), ("SORT", z, "BY", "nosort", "DESC", "LIMIT", "1", "1"),
        ("SORT", z, "BY", f"{tag}w_*"), ("SORT", z, "BY", f"{tag}w_*", "GET", "#", "GET", f"{tag}w_*"),
        ("SORT_RO", s, "BY", f"{tag}w_*", "DESC"), ("SORT_RO", z, "ALPHA", "DESC"),
        ("SORT", f"{tag}nosuch"), ("SORT", f"{tag}nosuch", "BY", f"{tag}w_*", "GET", "#"),
    ]
    for args in cases:
        same(both, *args)


def test_sort_errors_match_redis(both):
    same(both, "SET", "str", "x")
    same(both, "SADD", "words", "a", "b", "1")
    same(both, "SADD", "nums", "1", "2")
    same(both, "SET", "w_1", "abc")
    for args in [("SORT", "str"), ("SORT", "words"), ("SORT", "nums", "BY", "w_*"),
                 ("SORT", "nums", "LIMIT", "0"), ("SORT", "nums", "LIMIT", "x", "1"),
                 ("SORT", "nums", "FOO"), ("SORT", "nums", "GET"), ("SORT", "nums", "BY"),
                 ("SORT_RO", "nums", "STORE", "d"), ("SORT", "str", "FOO"),
                 ("SORT_RO", "str"), ("SORT",)]:
        same(both, *args)


def test_sort_scores_accept_what_strtod_accepts(both):
    same(both, "SADD", "s", "a", "b", "c", "d")
    for k, v in (("a", " 12"), ("b", "0x10"), ("c", ""), ("d", "-inf")):
        same(both, "SET", f"w_{k}", v)
    same(both, "SORT", "s", "BY", "w_*")
    same(both, "SET", "w_d", "nan")
    same(both, "SORT", "s", "BY", "w_*")


def test_sort_inside_multi_uses_the_transaction(both):
    same(both, "SADD", "s", "2", "1")
    same(both, "SET", "w_1", "9")
    same(both, "SET", "w_2", "3")
    same(both, "MULTI")
    same(both, "SORT", "s", "BY", "w_*")
    same(both, "SET", "w_2", "99")
    same(both, "SORT", "s", "BY", "w_*")
    same(both, "EXEC")


@pytest.mark.parametrize("tag", ["", "{t}"])
def test_sort_store_writes_a_list_like_redis(both, tag):
    if not _has(both, "rpush"):
        pytest.skip("SORT ... STORE needs the list type (server/commands/lists.py) which is not built yet")
    s, d = f"{tag}s", f"{tag}dest"
    same(both, "SADD", s, "b", "a", "c")
    same(both, "SET", f"{tag}o_a", "A")
    for args in [("SORT", s, "ALPHA", "STORE", d), ("LRANGE", d, "0", "-1"),
                 ("SORT", s, "BY", "nosort", "STORE", d), ("LRANGE", d, "0", "-1"),
                 ("SORT", s, "ALPHA", "GET", f"{tag}o_*", "STORE", d), ("LRANGE", d, "0", "-1"),
                 ("SORT", f"{tag}nosuch", "STORE", d), ("EXISTS", d),
                 ("RPUSH", f"{tag}l", "3", "1", "2"), ("SORT", f"{tag}l"),
                 ("SORT", f"{tag}l", "BY", "nosort", "DESC"), ("SORT", f"{tag}l", "DESC", "STORE", d),
                 ("LRANGE", d, "0", "-1")]:
        same(both, *args)


def test_sort_by_hash_fields_matches_redis(both):
    if not _has(both, "hset"):
        pytest.skip("hash patterns need the hash type (server/commands/hashes.py) which is not built yet")
    same(both, "SADD", "s", "1", "2", "3")
    for i, w in (("1", "30"), ("2", "10"), ("3", "20")):
        same(both, "HSET", f"obj_{i}", "weight", w, "name", f"n{i}")
    same(both, "SORT", "s", "BY", "obj_*->weight", "GET", "obj_*->name", "GET", "obj_*->nofield")
    same(both, "SORT", "s", "BY", "obj_*->", "GET", "obj_*->")


_elems = st.lists(st.sampled_from(["1", "2", "3", "10", "-7", "2.5", "40"]), min_size=0, max_size=7)
_weights = st.dictionaries(st.sampled_from(["1", "2", "3", "10", "-7", "2.5", "40"]),
                           st.sampled_from(["0", "5", "-1", "3.5", "inf", "7"]), max_size=7)


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(elems=_elems, weights=_weights, tag=st.sampled_from(["", "{t}"]),
       opts=st.lists(st.sampled_from([("DESC",), ("ALPHA",), ("LIMIT", "1", "3"), ("LIMIT", "-1", "2"),
                                      ("BY", "w_*"), ("GET", "#"), ("GET", "w_*"), ("BY", "nosort")]),
                     max_size=4),
       kind=st.sampled_from(["SADD", "ZADD"]))
def test_generated_sorts_match_redis(shardis, real_redis, elems, weights, tag, opts, kind):
    a, b = Raw(shardis.port), Raw(real_redis.port)
    try:
        for c in (a, b):
            c.cmd("FLUSHALL")
            if elems:
                if kind == "SADD":
                    c.cmd("SADD", f"{tag}k", *elems)
                else:
                    c.cmd("ZADD", f"{tag}k", *[x for i, e in enumerate(elems) for x in (str(i), e)])
            for e, w in weights.items():
                c.cmd("SET", f"{tag}w_{e}", w)
        args = ["SORT", f"{tag}k"]
        for o in opts:
            if o[0] in ("BY", "GET") and o[1] != "#" and o[1] != "nosort":
                o = (o[0], tag + o[1])
            args += o
        if "BY" in args and "ALPHA" in args:
            return      # equal ALPHA BY keys have no defined order in Redis (qsort)
        bys = [args[i + 1] for i, x in enumerate(args) if x == "BY"]
        if kind == "SADD" and "nosort" in bys:
            return      # a set's unsorted order is its hash table's (any BY nosort counts)
        same((a, b), *args)
    finally:
        a.close()
        b.close()


def test_a_by_without_a_pattern_is_not_undone_by_a_later_by(shardis, real_redis):
    # Redis's "don't sort" flag is sticky: BY nosort BY w_* does not sort
    a, b = Raw(shardis.port), Raw(real_redis.port)
    try:
        for c in (a, b):
            c.cmd("FLUSHALL")
            c.cmd("RPUSH", "l", "3", "1", "2")
            c.cmd("ZADD", "z", "1", "c", "2", "a", "3", "b")
            c.cmd("MSET", "w_1", "9", "w_2", "5", "w_3", "1")
        for args in (("SORT", "l", "BY", "nosort", "BY", "w_*"),
                     ("SORT", "l", "DESC", "BY", "nosort", "BY", "w_*"),
                     ("SORT", "z", "BY", "nosort", "BY", "w_*", "LIMIT", "0", "2"),
                     ("SORT", "z", "DESC", "BY", "x", "BY", "w_*")):
            same((a, b), *args)
    finally:
        a.close()
        b.close()
