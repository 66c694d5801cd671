"""HyperLogLog: byte-compatible with redis-server 7.0 (sparse and dense
encodings, cached cardinality), Redis's replies and errors, cross-shard merges.

Most tests run the same commands on Shardis and on a real redis-server and
compare the wire bytes (GET returns the HLL blob itself).  `crafted` builds
elements whose MurmurHash64A lands on a chosen register with a chosen run
length (the hash is invertible), so sequences can hit every case of Redis's
sparse update (opcode splits, VAL merges, values over 32) on purpose.
"""

from __future__ import annotations

import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_sets import Raw, parse, same

M = 0xc6a4a7935bd1e995
MASK = (1 << 64) - 1
MINV = pow(M, -1, 1 << 64)
SEED = 0xadc83b19


def _unxorshift47(y: int) -> int:
    return y ^ (y >> 47)


def crafted(index: int, count: int, salt: int = 0) -> bytes:
    """An 8-byte element hashing to register ``index`` with run length
    ``count`` (1..50): the MurmurHash64A steps inverted."""
    assert 0 <= index < 16384 and 1 <= count <= 50
    high = (salt * 0x9E3779B97F4A7C15) & MASK
    h = index | (1 << (14 + count - 1)) | ((high << (14 + count)) & MASK)
    b = _unxorshift47(h)             # h = b ^ b>>47
    a = (b * MINV) & MASK            # b = a * m
    h1 = _unxorshift47(a)            # a = h1 ^ h1>>47
    h0 = SEED ^ ((8 * M) & MASK)
    k2 = (((h1 * MINV) & MASK) ^ h0) * MINV & MASK
    k1 = _unxorshift47(k2)
    k = (k1 * MINV) & MASK
    return k.to_bytes(8, "little")


def test_crafted_elements_hash_where_asked():
    from server.commands.hll import hll_pattern
    for index, count in [(0, 1), (16383, 50), (77, 33), (5000, 7)]:
        assert hll_pattern(crafted(index, count, 3)) == (index, count)


@pytest.fixture
def both(shardis, real_redis):
    a, b = Raw(shardis.port), Raw(real_redis.port)
    a.cmd("FLUSHALL")
    b.cmd("FLUSHALL")
    yield a, b
    a.close()
    b.close()


def blob(raw: bytes) -> bytes:
    v = parse(raw)
    assert isinstance(v, bytes), raw
    return v


def same_value(both, key):
    """GET, STRLEN and PFDEBUG ENCODING of an HLL agree (bytes equal)."""
    v = same(both, "GET", key)
    same(both, "STRLEN", key)
    same(both, "PFDEBUG", "ENCODING", key)
    return blob(v)


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


# ---------------------------------------------------------------- encodings
def test_a_new_hyperloglog_is_sparse_and_byte_equal_to_redis(both):
    same(both, "PFADD", "{h}a")
    v = same_value(both, "{h}a")
    # header, encoding 1, cache invalidated by the creation, one XZERO
    assert v == b"HYLL\x01" + bytes(10) + b"\x80\x7f\xff"
    same(both, "PFADD", "{h}b", "a")
    v = same_value(both, "{h}b")
    assert len(v) == 21 and v[4] == 1
    same(both, "PFDEBUG", "DECODE", "{h}b")
    same(both, "PFCOUNT", "{h}b")
    v2 = same_value(both, "{h}b")          # the cache written back
    assert v2[8:16] == b"\x01" + bytes(7)
    same(both, "PFADD", "{h}b", "a")       # no change: the cache stays valid
    assert same_value(both, "{h}b") == v2
    same(both, "DUMP", "{h}b")


def _pfadd_both(both, key, elements, check_each=False):
    a, b = both
    ra = a.cmd("PFADD", key, *elements)
    rb = b.cmd("PFADD", key, *elements)
    assert ra == rb, (elements, ra, rb)
    if check_each:
        same(both, "GET", key)


_element = st.one_of(
    st.binary(max_size=20),
    st.builds(crafted, st.integers(0, 300), st.integers(1, 36), st.integers(0, 3)),
    st.builds(crafted, st.integers(0, 16383), st.integers(1, 20), st.integers(0, 3)),
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.lists(_element, max_size=12), min_size=1, max_size=12))
def test_generated_pfadd_sequences_are_byte_equal_to_redis(shardis, real_redis, batches):
    """Crafted elements on few registers exercise every case of the sparse
    update (split ZERO/XZERO/VAL, merge equal VALs, run-length limits, a
    value over 32 turning the HLL dense)."""
    both = Raw(shardis.port), Raw(real_redis.port)
    try:
        same(both, "DEL", "{g}h")
        for batch in batches:
            _pfadd_both(both, "{g}h", batch)
            same_value(both, "{g}h")
            same(both, "PFDEBUG", "DECODE", "{g}h")
        same(both, "PFCOUNT", "{g}h")
        same_value(both, "{g}h")
    finally:
        for c in both:
            c.close()


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(st.integers(0, 2**32), st.integers(0, 700)), min_size=1, max_size=6))
def test_generated_large_pfadds_cross_to_dense_like_redis(shardis, real_redis, batches):
    both = Raw(shardis.port), Raw(real_redis.port)
    try:
        same(both, "DEL", "{g}big")
        for seed, n in batches:
            rnd = random.Random(seed)
            _pfadd_both(both, "{g}big", [rnd.randbytes(rnd.randint(0, 24)) for _ in range(n)])
            same_value(both, "{g}big")
            same(both, "PFCOUNT", "{g}big")
            same_value(both, "{g}big")
    finally:
        for c in both:
            c.close()


def test_one_element_at_a_time_until_dense_is_byte_equal(both):
    """PFADD replies element by element and the value at checkpoints,
    through the sparse -> dense conversion (hll-sparse-max-bytes 3000)."""
    encs = set()
    for lo in range(0, 2600, 100):
        for i in range(lo, lo + 100):
            _pfadd_both(both, "{o}h", [b"el:%d" % i])
        v = same_value(both, "{o}h")
        encs.add(v[4])
        if v[4] == 1:
            assert len(v) <= 3000
        same(both, "PFCOUNT", "{o}h")
        same(both, "GET", "{o}h")
    assert encs == {0, 1}               # crossed from sparse to dense
    assert len(blob(same(both, "GET", "{o}h"))) == 12304


def test_a_register_over_32_turns_the_value_dense(both):
    same(both, "PFADD", "{v}h", crafted(10, 3), crafted(11, 32))
    assert blob(same(both, "GET", "{v}h"))[4] == 1
    same(both, "PFADD", "{v}h", crafted(12, 33))
    v = same_value(both, "{v}h")
    assert v[4] == 0 and len(v) == 12304
    same(both, "PFDEBUG", "GETREG", "{v}h")
    same(both, "PFCOUNT", "{v}h")
    same_value(both, "{v}h")


def test_hll_sparse_max_bytes_is_a_config_like_redis(both):
    same(both, "CONFIG", "GET", "hll-sparse-max-bytes")
    for bad in ["-1", "abc", "9223372036854775808", "1.5"]:
        same(both, "CONFIG", "SET", "hll-sparse-max-bytes", bad)
    try:
        same(both, "CONFIG", "SET", "hll-sparse-max-bytes", "1k")
        same(both, "CONFIG", "GET", "hll-sparse-max-bytes")
        same(both, "CONFIG", "SET", "hll-sparse-max-bytes", "60")
        encs = []
        for i in range(40):
            _pfadd_both(both, "{c}h", [b"x%d" % i])
            encs.append(same_value(both, "{c}h")[4])
        assert encs[0] == 1 and encs[-1] == 0
        same(both, "CONFIG", "SET", "hll-sparse-max-bytes", "0")
        same(both, "PFADD", "{c}z", "a")      # the first split already exceeds it
        assert same_value(both, "{c}z")[4] == 0
    finally:
        same(both, "CONFIG", "SET", "hll-sparse-max-bytes", "3000")


# ---------------------------------------------------------------- PFCOUNT's cache
def test_pfcount_writes_the_cached_cardinality_like_redis(both):
    rnd = random.Random(7)
    elems = [rnd.randbytes(8) for _ in range(300)]
    same(both, "PFADD", "{p}s", *elems)
    same(both, "PFADD", "{p}d", *elems, *[rnd.randbytes(8) for _ in range(3000)])
    assert same_value(both, "{p}d")[4] == 0
    for k in ("{p}s", "{p}d"):
        before = same_value(both, k)
        assert before[15] & 0x80
        same(both, "PFCOUNT", k)
        after = same_value(both, k)
        assert not after[15] & 0x80 and after[16:] == before[16:]
        same(both, "PFCOUNT", k)                 # from the cache
    # several keys: a union, nothing written
    same(both, "PFADD", "{p}t", "zz")
    t = same_value(both, "{p}t")
    same(both, "PFCOUNT", "{p}s", "{p}t", "{p}nosuch", "{p}d")
    assert same_value(both, "{p}t") == t
    same(both, "PFCOUNT", "{p}t", "{p}t")
    assert same_value(both, "{p}t") == t
    # a cache made up by hand is believed, as in Redis
    fake = bytearray(blob(same(both, "GET", "{p}s")))
    fake[8:16] = (12345).to_bytes(8, "little")
    same(both, "SET", "{p}f", bytes(fake))
    same(both, "PFCOUNT", "{p}f")


def test_pfcount_cache_update_invalidates_a_watch_like_redis(shardis, real_redis):
    for srv in (shardis, real_redis):
        r = srv.client()
        r.delete("{w}h")
        r.pfadd("{w}h", "a", "b")
        with r.pipeline() as p:
            p.watch("{w}h")
            r.pfcount("{w}h")          # writes the cache: the key was modified
            p.multi()
            p.get("{w}h")
            with pytest.raises(Exception, match="Watched variable changed"):
                p.execute()
        with r.pipeline() as p:
            p.watch("{w}h")
            r.pfcount("{w}h")          # the cache is valid: nothing written
            p.multi()
            p.get("{w}h")
            assert p.execute()[0][15] & 0x80 == 0
        r.delete("{w}h")
        r.close()


# ---------------------------------------------------------------- PFMERGE
def _sparse_sources(both, prefix, sizes, seed):
    rnd = random.Random(seed)
    keys = []
    for i, n in enumerate(sizes):
        k = f"{prefix}src{i}"
        _pfadd_both(both, k, [rnd.randbytes(6) for _ in range(n)])
        keys.append(k)
    return keys


@pytest.mark.parametrize("tag", ["{m}", ""])
def test_pfmerge_results_are_byte_equal_to_redis(both, tag):
    """Sparse inputs merge into a sparse destination (Redis 7.0 keeps it
    sparse unless an input is dense); a dense input makes it dense; a union
    outgrowing the sparse limit turns dense midway.  Without a tag the keys
    live on different shards."""
    small = _sparse_sources(both, tag + "a", [5, 40, 120], 1)
    same(both, "PFMERGE", tag + "d1", *small)
    assert same_value(both, tag + "d1")[4] == 1
    same(both, "PFCOUNT", tag + "d1")
    same_value(both, tag + "d1")
    # the destination's own registers count, and it stays sparse
    same(both, "PFADD", tag + "d2", "own", "registers")
    same(both, "PFMERGE", tag + "d2", *small[:2])
    assert same_value(both, tag + "d2")[4] == 1
    # the union needs more than 3000 bytes sparse: dense by promotion
    big = _sparse_sources(both, tag + "b", [900, 900, 900], 2)
    for k in big:
        assert same_value(both, k)[4] == 1
    same(both, "PFMERGE", tag + "d3", *big)
    assert same_value(both, tag + "d3")[4] == 0
    # a dense input: dense destination, converted before the merge
    same(both, "PFADD", tag + "dense", *[b"q%d" % i for i in range(4000)])
    assert same_value(both, tag + "dense")[4] == 0
    same(both, "PFADD", tag + "d4", "x")
    same(both, "PFCOUNT", tag + "d4")           # a valid cache, then merged
    same(both, "PFMERGE", tag + "d4", tag + "dense", small[0], tag + "nosuch")
    same_value(both, tag + "d4")
    same(both, "PFCOUNT", tag + "d4", *small, *big)
    same(both, "PFMERGE", tag + "d5")
    same_value(both, tag + "d5")
    same(both, "PFMERGE", tag + "d1", tag + "d1")
    same_value(both, tag + "d1")


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.lists(_element, max_size=30), min_size=1, max_size=4), st.booleans())
def test_generated_pfmerges_are_byte_equal_to_redis(shardis, real_redis, sources, dest_exists):
    both = Raw(shardis.port), Raw(real_redis.port)
    try:
        keys = [f"{{q}}s{i}" for i in range(len(sources))]
        same(both, "DEL", "{q}d", *keys)
        for k, elems in zip(keys, sources):
            _pfadd_both(both, k, elems)
        if dest_exists:
            _pfadd_both(both, "{q}d", [crafted(3, 2), crafted(150, 1)])
        same(both, "PFMERGE", "{q}d", *keys)
        same_value(both, "{q}d")
        same(both, "PFDEBUG", "DECODE", "{q}d")
        same(both, "PFCOUNT", "{q}d")
        same_value(both, "{q}d")
    finally:
        for c in both:
            c.close()


def test_pfmerge_over_shards_keys_without_tags(both):
    # a, b, c without a tag: on different shards of the 4-shard server
    same(both, "PFADD", "a", *[b"a%d" % i for i in range(50)])
    same(both, "PFADD", "b", *[b"b%d" % i for i in range(2000)])
    same(both, "PFADD", "c", *[b"a%d" % i for i in range(25, 75)])
    same(both, "PFMERGE", "c", "a", "b")
    same_value(both, "c")
    same(both, "PFCOUNT", "a", "b", "c")
    same(both, "PFCOUNT", "c")
    same_value(both, "c")
    same(both, "PFMERGE", "a", "b")
    same_value(both, "a")


# ---------------------------------------------------------------- values from redis-server
def test_a_sparse_blob_from_redis_works_here(both):
    a, b = both
    rnd = random.Random(3)
    b.cmd("PFADD", "{r}h", *[rnd.randbytes(7) for _ in range(200)])
    v = blob(b.cmd("GET", "{r}h"))
    assert v[4] == 1
    a.cmd("SET", "{r}h", v)
    same_value(both, "{r}h")
    for _ in range(4):
        same(both, "PFADD", "{r}h", *[rnd.randbytes(7) for _ in range(700)])
        same_value(both, "{r}h")
        same(both, "PFCOUNT", "{r}h")
        same_value(both, "{r}h")
    # DUMP from redis-server, RESTORE here
    b.cmd("PFADD", "{r}k", "x", "y")
    dump = blob(b.cmd("DUMP", "{r}k"))
    assert a.cmd("RESTORE", "{r}k", "0", dump) == b"+OK\r\n"
    same_value(both, "{r}k")
    same(both, "PFADD", "{r}k", "z")
    same(both, "PFMERGE", "{r}k", "{r}h")
    same_value(both, "{r}k")
    # larger values: Redis's DUMP compresses them (LZF), Shardis's does not;
    # each RESTOREs the other's
    same(both, "PFADD", "{r}sp", *[b"s%d" % i for i in range(400)])
    assert same_value(both, "{r}h")[4] == 0 and same_value(both, "{r}sp")[4] == 1
    for k in ("{r}h", "{r}sp"):
        a.cmd("DEL", k + "2")
        b.cmd("DEL", k + "2")
        assert a.cmd("RESTORE", k + "2", "0", blob(b.cmd("DUMP", k))) == b"+OK\r\n"
        assert b.cmd("RESTORE", k + "2", "0", blob(a.cmd("DUMP", k))) == b"+OK\r\n"
        same_value(both, k + "2")
        same(both, "PFADD", k + "2", "more")
        same_value(both, k + "2")


def _set_both(both, key, value: bytes):
    same(both, "SET", key, value)


def test_corrupt_values_get_redis_errors(both):
    hdr = b"HYLL\x01" + bytes(10) + b"\x80"
    cases = {
        "{x}short": hdr + b"\x7f\x00",                 # XZERO of 16129: too few registers
        "{x}long": hdr + b"\x7f\xff\x80",              # one register too many
        "{x}empty": hdr,                               # no opcodes
        "{x}lone": hdr + b"\x7f",                      # XZERO cut short
        "{x}over": hdr + b"\x7f\xfe\x8b",              # VAL run past the end
    }
    for k, v in cases.items():
        _set_both(both, k, v)
    _set_both(both, "{x}good", hdr + b"\x7f\xff")
    _set_both(both, "{x}dense-short", b"HYLL\x00" + bytes(11) + bytes(100))
    _set_both(both, "{x}enc2", b"HYLL\x02" + bytes(11) + b"\x7f\xff")
    _set_both(both, "{x}nomagic", b"HYLX\x01" + bytes(11) + b"\x7f\xff")
    _set_both(both, "{x}tiny", b"HYLL\x01")
    for k in list(cases) + ["{x}dense-short", "{x}enc2", "{x}nomagic", "{x}tiny"]:
        for args in [("PFCOUNT", k), ("PFCOUNT", k, "{x}good"), ("PFCOUNT", "{x}good", k),
                     ("PFMERGE", "{x}dst", k), ("PFDEBUG", "GETREG", k),
                     ("PFDEBUG", "DECODE", k), ("PFDEBUG", "ENCODING", k),
                     ("PFDEBUG", "TODENSE", k)]:
            same(both, *args)
        same(both, "GET", k)
        if k == "{x}lone":
            # Redis's split writes the last byte of its new opcodes over the
            # string's terminator, which a lone XZERO then reads: not kept
            continue
        # PFADD edits in place: registers before the damage are set
        same(both, "PFADD", k, crafted(5, 3), crafted(16300, 2), crafted(6, 40))
        same(both, "GET", k)
        same(both, "PFADD", k, crafted(7, 2))
        same(both, "GET", k)
    same(both, "EXISTS", "{x}dst")
    same(both, "PFCOUNT", "{x}long", "{x}nosuch")
    # across shards: the first bad key in argument order decides the error
    _set_both(both, "bad1", cases["{x}short"])
    _set_both(both, "str", b"plain")
    same(both, "PFADD", "ok", "a")
    for keys in [("ok", "bad1", "str"), ("ok", "str", "bad1"), ("bad1", "ok", "str"),
                 ("str", "ok", "bad1")]:
        same(both, "PFCOUNT", *keys)
        same(both, "PFMERGE", *keys)
        same(both, "PFMERGE", "newdest", *keys)
        same(both, "EXISTS", "newdest")


def test_pfdebug_like_redis(both):
    same(both, "PFADD", "{d}h", *[b"e%d" % i for i in range(20)])
    same(both, "PFDEBUG", "DECODE", "{d}h")
    same(both, "PFDEBUG", "ENCODING", "{d}h")
    same(both, "PFDEBUG", "encoding", "{d}h")
    same(both, "PFDEBUG", "GETREG", "{d}h")     # converts to dense
    same_value(both, "{d}h")
    same(both, "PFDEBUG", "DECODE", "{d}h")
    same(both, "PFDEBUG", "TODENSE", "{d}h")
    same(both, "PFADD", "{d}g", "x")
    same(both, "PFDEBUG", "TODENSE", "{d}g")
    same_value(both, "{d}g")
    same(both, "PFCOUNT", "{d}g")
    same(both, "PFDEBUG", "NOPE", "{d}g")
    same(both, "PFDEBUG", "NOPE", "{d}nosuch")
    same(both, "PFDEBUG", b"\xff\r\nx", "{d}g")
    same(both, "PFDEBUG", "ENCODING", "{d}nosuch")
    same(both, "SET", "{d}s", "str")
    same(both, "LPUSH", "{d}l", "x")
    for k in ("{d}s", "{d}l"):
        same(both, "PFDEBUG", "ENCODING", k)
    same(both, "PFDEBUG", "ENCODING")
    same(both, "PFDEBUG", "ENCODING", "{d}g", "x")
    # name, arity, flags, key positions, ACL categories (the key specs'
    # access flags are the table's generic ones)
    a, b = both
    ia, ib = parse(a.cmd("COMMAND", "INFO", "PFDEBUG")), parse(b.cmd("COMMAND", "INFO", "PFDEBUG"))
    assert ia[0][:7] == ib[0][:7]


def _until_pong(c: Raw) -> bytes:
    c.sock.sendall(b"*1\r\n$4\r\nPING\r\n")
    buf = b""
    while not buf.endswith(b"+PONG\r\n"):
        d = c.sock.recv(1 << 16)
        assert d, "connection closed"
        buf += d
    return buf


def test_pfcount_cache_write_invalidates_client_side_caches_like_redis(shardis, real_redis):
    out = []
    for srv in (shardis, real_redis):
        a, b = Raw(srv.port, proto=3), Raw(srv.port)
        try:
            b.cmd("DEL", "{i}h")
            b.cmd("PFADD", "{i}h", "x", "y")
            a.cmd("CLIENT", "TRACKING", "ON")
            a.cmd("GET", "{i}h")
            b.cmd("PFCOUNT", "{i}h")        # writes the cache: an invalidation
            first = _until_pong(a)
            a.cmd("GET", "{i}h")
            b.cmd("PFCOUNT", "{i}h")        # the cache is valid: none
            second = _until_pong(a)
            out.append((first, second))
            b.cmd("DEL", "{i}h")
        finally:
            a.close()
            b.close()
    assert out[0] == out[1]
    assert b"invalidate" in out[0][0] and b"invalidate" not in out[0][1]
