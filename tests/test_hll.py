"""HyperLogLog: error bound, Redis's replies and errors, cross-shard merges."""

from __future__ import annotations

import pytest

from test_sets import Raw, same


@pytest.fixture
def both(shardis, real_redis):
    a, b = Raw(shardis.port), Raw(real_redis.port)
    a.cmd("FLUSHALL")
    b.cmd("FLUSHALL")
    yield a, b
    a.close()
    b.close()


def test_pfcount_of_100000_distinct_elements_is_within_two_percent(shardis):
    r = shardis.client()
    r.delete("hll")
    pipe = r.pipeline(transaction=False)
    for lo in range(0, 100_000, 5000):
        pipe.pfadd("hll", *[f"element:{i}" for i in range(lo, lo + 5000)])
    pipe.execute()
    n = r.pfcount("hll")
    assert abs(n - 100_000) / 100_000 < 0.02, n
    # adding the same elements again changes nothing
    assert r.pfadd("hll", "element:1", "element:99999") == 0
    assert r.pfcount("hll") == n
    r.delete("hll")


def test_small_cardinalities_are_exact_like_redis(both):
    same(both, "PFADD", "h", "a", "b", "c")
    same(both, "PFADD", "h", "a")
    same(both, "PFADD", "h")
    same(both, "PFADD", "empty")
    same(both, "PFADD", "empty")
    same(both, "PFCOUNT", "h")
    same(both, "PFCOUNT", "empty")
    same(both, "PFCOUNT", "nosuch")
    same(both, "PFADD", "h2", "c", "d")
    same(both, "PFCOUNT", "h", "h2", "nosuch")
    same(both, "PFMERGE", "m", "h", "h2")
    same(both, "PFCOUNT", "m")
    same(both, "PFMERGE", "fresh")
    same(both, "PFCOUNT", "fresh")
    same(both, "TYPE", "h")
    same(both, "EXISTS", "fresh")


def test_non_hyperloglog_values_are_rejected_with_redis_errors(both):
    same(both, "SET", "str", "hello")
    same(both, "SADD", "set", "a")
    for args in [("PFADD", "str", "a"), ("PFCOUNT", "str"), ("PFCOUNT", "nosuch", "str"),
                 ("PFMERGE", "str", "nosuch"), ("PFMERGE", "d", "str"), ("PFADD", "set", "a"),
                 ("PFCOUNT", "set"), ("PFMERGE", "d", "set"), ("PFCOUNT",), ("PFMERGE",)]:
        same(both, *args)


@pytest.mark.parametrize("tag", ["", "{t}"])
def test_pfcount_and_pfmerge_merge_registers_across_shards(shardis, tag):
    r = shardis.client()
    keys = [f"{tag}h{i}" for i in range(4)]
    r.delete(*keys, f"{tag}dest")
    for i, k in enumerate(keys):
        r.pfadd(k, *[f"e{j}" for j in range(i * 1000, i * 1000 + 1500)])
    union = r.pfcount(*keys)
    assert abs(union - 4500) / 4500 < 0.02, union
    assert r.pfmerge(f"{tag}dest", *keys)
    assert r.pfcount(f"{tag}dest") == union
    # the destination is one of the merged values
    r.pfadd(f"{tag}dest", *[f"x{j}" for j in range(500)])
    before = r.pfcount(f"{tag}dest")
    assert r.pfmerge(f"{tag}dest", keys[0])
    assert r.pfcount(f"{tag}dest") == before
    r.set(f"{tag}str", "x")
    with pytest.raises(Exception, match="not a valid HyperLogLog"):
        r.pfcount(keys[0], f"{tag}str")
    r.delete(*keys, f"{tag}dest", f"{tag}str")
