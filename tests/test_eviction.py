"""maxmemory: the per-shard estimate stays near the limit under every policy,
volatile-* policies evict only keys with a TTL, noeviction answers OOM while
reads and deletes keep working, LRU keeps recently read keys.

The estimate is read with MEMORY STATS (``total.allocated`` and the per-shard
``shards`` parts), the number the eviction code acts on.
"""

from __future__ import annotations

import time

import pytest
import redis

LIMIT = 1 << 20          # 1 MB over 2 shards: 512 KB each
VALUE = "v" * 150
OOM = "command not allowed when used memory > 'maxmemory'."


def _pairs(v):
    return v if isinstance(v, dict) else dict(zip(v[::2], v[1::2]))


def stats(c) -> dict:
    st = _pairs(c.execute_command("MEMORY", "STATS"))
    st[b"shards"] = [_pairs(p) for p in st[b"shards"]]
    return st


def fill(c, prefix: str, n: int, ex: int | None = None, chunk: int = 100) -> None:
    for start in range(0, n, chunk):
        p = c.pipeline(transaction=False)
        for i in range(start, min(n, start + chunk)):
            if ex is None:
                p.set(f"{prefix}{i}", VALUE)
            else:
                p.set(f"{prefix}{i}", VALUE, ex=ex + i)
        p.execute()


def server(shardis_factory, policy: str, limit: int = LIMIT):
    s = shardis_factory("--shards", "2", "--set", f"maxmemory={limit}",
                        "--set", f"maxmemory-policy={policy}", "--set", "maxmemory-samples=5")
    return s, s.client()


def assert_near_limit(c, limit: int = LIMIT) -> dict:
    st = stats(c)
    # a shard evicts before each batch, so it may end one batch (100 small
    # SETs, ~30 KB) over its share; it never sits far below it either
    assert 0.85 * limit <= st[b"total.allocated"] <= limit + 2 * 40_000, st
    for part in st[b"shards"]:
        assert part[b"used"] <= part[b"limit"] + 40_000, st
    return st


@pytest.mark.parametrize("policy", ["allkeys-lru", "allkeys-lfu", "allkeys-random"])
def test_allkeys_policies_keep_the_estimate_near_maxmemory(shardis_factory, policy):
    s, c = server(shardis_factory, policy)
    fill(c, "k", 12000)                     # ~4.4 MB of estimated data
    st = assert_near_limit(c)
    assert st[b"evicted.keys"] > 5000
    # DBSIZE's own batch may evict what the last write batch overshot
    assert c.dbsize() <= st[b"keys.count"] < 12000
    # the server keeps accepting writes: the newest key is there
    assert c.set("last", "x") and c.get("last") == b"x"


@pytest.mark.parametrize("policy", ["volatile-lru", "volatile-lfu", "volatile-random",
                                    "volatile-ttl"])
def test_volatile_policies_evict_only_keys_with_a_ttl(shardis_factory, policy):
    s, c = server(shardis_factory, policy)
    fill(c, "keep", 1000)                   # ~370 KB that must all survive
    fill(c, "tmp", 9000, ex=10_000)
    assert_near_limit(c)
    assert c.exists(*[f"keep{i}" for i in range(1000)]) == 1000
    assert stats(c)[b"evicted.keys"] > 3000


def test_volatile_ttl_evicts_the_nearest_deadlines_first(shardis_factory):
    s, c = server(shardis_factory, "volatile-ttl")
    fill(c, "t", 9000, ex=10_000)           # deadlines grow with i
    survivors = [i for i, v in enumerate(c.mget([f"t{i}" for i in range(9000)])) if v]
    evicted = set(range(9000)) - set(survivors)
    assert evicted
    # sampling is approximate; on average the survivors live longer
    assert sum(survivors) / len(survivors) > sum(evicted) / len(evicted)


def test_volatile_policy_without_volatile_keys_answers_oom(shardis_factory):
    s, c = server(shardis_factory, "volatile-lru")
    with pytest.raises(redis.exceptions.OutOfMemoryError, match=OOM):
        fill(c, "p", 5000)
    assert stats(c)[b"evicted.keys"] == 0
    with pytest.raises(redis.exceptions.OutOfMemoryError, match=OOM):
        c.set("more", "x")
    assert c.get("p1") == VALUE.encode()


def test_noeviction_refuses_denyoom_writes_while_reads_and_deletes_work(
        shardis_factory, real_redis):
    s, c = server(shardis_factory, "noeviction")
    with pytest.raises(redis.exceptions.OutOfMemoryError):
        fill(c, "k", 6000)
    st = stats(c)
    assert st[b"evicted.keys"] == 0 and st[b"oom.rejections"] > 0
    with pytest.raises(redis.exceptions.OutOfMemoryError) as mine:
        c.set("new", "x")
    assert c.get("k1") == VALUE.encode()
    assert c.dbsize() == st[b"keys.count"]
    # DEL is not denyoom: freeing memory is always allowed, then writes work
    keys = [f"k{i}" for i in range(3000)]
    assert c.delete(*keys) > 0
    time.sleep(0.05)
    assert c.set("new", "x")
    # the same error text as redis-server
    rr = real_redis.client()
    try:
        rr.config_set("maxmemory", "1")
        with pytest.raises(redis.exceptions.OutOfMemoryError) as theirs:
            rr.set("new", "x")
    finally:
        rr.config_set("maxmemory", "0")
        rr.close()
    assert str(mine.value) == str(theirs.value)


def test_lru_keeps_keys_read_after_the_others(shardis_factory):
    s, c = server(shardis_factory, "allkeys-lru")
    fill(c, "old", 2000)                    # ~740 KB: under the limit
    assert stats(c)[b"evicted.keys"] == 0
    time.sleep(2.2)                         # the LRU clock has 1 s resolution
    hot = [f"old{i}" for i in range(0, 2000, 6)]
    c.mget(hot)
    time.sleep(1.1)
    fill(c, "new", 1200)                    # forces ~500 evictions
    st = stats(c)
    assert st[b"evicted.keys"] > 300
    hot_alive = sum(1 for v in c.mget(hot) if v)
    cold = [f"old{i}" for i in range(2000) if i % 6]
    cold_alive = sum(1 for v in c.mget(cold) if v)
    assert hot_alive / len(hot) > 0.9
    assert cold_alive / len(cold) < hot_alive / len(hot) - 0.15


def test_memory_usage_grows_with_the_value(shardis, r):
    r.set("small", "x")
    r.set("big", "x" * 10000)
    r.sadd("set", *range(1000))
    small = r.execute_command("MEMORY", "USAGE", "small")
    big = r.execute_command("MEMORY", "USAGE", "big")
    assert 200 < small < 400 and 10000 < big < 10500
    assert r.execute_command("MEMORY", "USAGE", "set") > 1000 * 40
    assert r.execute_command("MEMORY", "USAGE", "nosuch") is None


def test_lfu_keeps_frequently_read_keys(shardis_factory):
    s, c = server(shardis_factory, "allkeys-lfu")
    fill(c, "old", 2000)                    # ~740 KB: under the limit
    hot = [f"old{i}" for i in range(0, 2000, 6)]
    for _ in range(20):                     # the log counter climbs past the others
        c.mget(hot)
    fill(c, "new", 1200)                    # forces ~500 evictions
    assert stats(c)[b"evicted.keys"] > 300
    hot_alive = sum(1 for v in c.mget(hot) if v) / len(hot)
    cold = [f"old{i}" for i in range(2000) if i % 6]
    cold_alive = sum(1 for v in c.mget(cold) if v) / len(cold)
    assert hot_alive > 0.9
    assert cold_alive < hot_alive - 0.15
