"""Generic key commands (DEL, UNLINK, EXISTS, TOUCH, TYPE, KEYS, SCAN, RANDOMKEY,
RENAME, RENAMENX, COPY, MOVE, SWAPDB, OBJECT), checked differentially against a
real redis-server wherever the reply is deterministic, and for the sharded
parts (SCAN cursors, cross-shard RENAME/COPY) against their invariants.
"""

from __future__ import annotations

import threading

import pytest
import redis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from actors.slots import SlotMap

SHARDS = 4                       # the session `shardis` fixture runs 4 shards
shard_of = SlotMap(SHARDS).shard_of


def run(client, cmd):
    """One command's reply, or ("error", message): comparable across servers."""
    try:
        return client.execute_command(*cmd)
    except redis.ResponseError as e:
        return ("error", str(e))


def same(r, rr, cmd):
    a, b = run(r, cmd), run(rr, cmd)
    assert a == b, f"{cmd}: shardis {a!r} != redis {b!r}"
    return a


def script(r, rr, cmds):
    for cmd in cmds:
        same(r, rr, cmd)


def keys_on_different_shards(prefix="k"):
    """Two key names owned by different shards."""
    first = f"{prefix}0".encode()
    for i in range(1, 1000):
        k = f"{prefix}{i}".encode()
        if shard_of(k) != shard_of(first):
            return first, k
    raise AssertionError("no two shards found")


def keys_on_same_shard(prefix="k"):
    first = f"{prefix}0".encode()
    for i in range(1, 1000):
        k = f"{prefix}{i}".encode()
        if shard_of(k) == shard_of(first):
            return first, k
    raise AssertionError("no shared shard found")


# ------------------------------------------------------------------ DEL & co.
def test_del_unlink_exists_touch_count_keys_across_shards_like_redis(r, rr):
    names = [f"key:{i}" for i in range(20)]
    assert len({shard_of(k.encode()) for k in names}) == SHARDS
    script(r, rr, [("MSET", *[x for k in names[:10] for x in (k, "v")])])
    script(r, rr, [
        ("EXISTS", *names),
        ("EXISTS", names[0], names[0], names[0]),     # duplicates count each time
        ("TOUCH", *names),
        ("TOUCH", names[1], names[1], "missing"),
        ("DEL", names[0], names[0], "missing"),
        ("UNLINK", *names[1:5], names[1]),
        ("EXISTS", *names),
        ("DEL", *names),
        ("EXISTS", *names),
        ("DEL",), ("UNLINK",), ("EXISTS",), ("TOUCH",),
    ])


def test_type_reports_string_none_and_arity_errors_like_redis(r, rr):
    script(r, rr, [("SET", "s", "v"), ("TYPE", "s"), ("TYPE", "missing"), ("TYPE",),
                   ("TYPE", "a", "b")])


# ------------------------------------------------------------------ KEYS
KEYS_SET = ["hello", "hallo", "hxllo", "heeello", "hllo", "h*llo", "h?llo", "h[llo",
            "h]llo", "h-llo", "h\\llo", "h^llo", "a", "ab", "abc", "", "foo:bar", "foo:baz",
            "\xe9t\xe9", "a\nb", "]", "[", "-", "^", "\\"]

KEYS_PATTERNS = ["*", "h?llo", "h*llo", "h[ae]llo", "h[^e]llo", "h[a-b]llo", "h[b-a]llo",
                 "h\\*llo", "h\\?llo", "h[\\]]llo", "h[\\-]llo", "h[a-]llo", "h[-a]llo",
                 "h[]llo", "h[^]llo", "h[", "h[^", "h[a", "\\", "a\\", "*\\", "[]", "[^]",
                 "[]]", "[\\", "[a-c]*", "[^a-c]*", "*o", "h**o", "?", "??", "???", "",
                 "foo:*", "foo:ba[rz]", "a?b", "a*b", "*[", "[[]", "[\\[]", "[^-]", "[-]",
                 "[z-a]*", "[a-\\]]*", "\\[*", "h\\[llo"]


@pytest.fixture
def keys_loaded(r, rr):
    for c in (r, rr):
        c.mset({k: "v" for k in KEYS_SET})
    return r, rr


@pytest.mark.parametrize("pattern", KEYS_PATTERNS)
def test_keys_tricky_patterns_match_exactly_what_redis_matches(keys_loaded, pattern):
    r, rr = keys_loaded
    assert sorted(r.keys(pattern)) == sorted(rr.keys(pattern))


@settings(max_examples=100, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.text(alphabet="helo*?[]^-\\ax", max_size=8))
def test_keys_generated_patterns_agree_with_redis(keys_loaded, pattern):
    r, rr = keys_loaded
    assert sorted(r.keys(pattern)) == sorted(rr.keys(pattern)), pattern


def test_keys_skips_expired_keys_and_arity_errors_like_redis(r, rr):
    script(r, rr, [("SET", "live", "1"), ("SET", "dead", "1", "PX", "1"),
                   ("KEYS",), ("KEYS", "a", "b")])
    import time
    time.sleep(0.02)
    assert r.keys("*") == rr.keys("*") == [b"live"]


# ------------------------------------------------------------------ SCAN
def full_scan(client, **kw):
    seen = []
    cursor = 0
    calls = 0
    while True:
        cursor, keys = client.scan(cursor, **kw)
        seen.extend(keys)
        calls += 1
        assert calls < 100000
        if cursor == 0:
            return seen, calls


def test_scan_returns_every_key_across_all_shards_and_ends_with_cursor_zero(r):
    names = {f"scan:{i}".encode() for i in range(2000)}
    r.mset({k: b"v" for k in names})
    seen, calls = full_scan(r, count=100)
    assert set(seen) == names
    assert len(seen) == len(names)      # a quiet keyspace is scanned exactly once
    assert calls >= 2000 // 100


def test_scan_count_bounds_each_reply(r):
    r.mset({f"c:{i}": "v" for i in range(500)})
    cursor = 0
    while True:
        cursor, keys = r.scan(cursor, count=7)
        assert len(keys) <= 7
        if cursor == 0:
            break


def test_scan_match_and_type_filter_keys(r):
    r.mset({f"user:{i}": "v" for i in range(300)})
    r.mset({f"item:{i}": "v" for i in range(300)})
    seen, _ = full_scan(r, match="user:*", count=50)
    assert sorted(seen) == sorted(f"user:{i}".encode() for i in range(300))
    seen, _ = full_scan(r, match="user:1?", count=1000)
    assert sorted(seen) == sorted(f"user:1{i}".encode() for i in range(10))
    seen, _ = full_scan(r, _type="STRING", count=100)
    assert len(seen) == 600
    seen, _ = full_scan(r, _type="list", count=100)
    assert seen == []
    seen, _ = full_scan(r, _type="nosuchtype", count=100)
    assert seen == []


def test_scan_skips_expired_keys(r):
    r.set("keep", "1")
    for i in range(50):
        r.set(f"gone:{i}", "1", px=1)
    import time
    time.sleep(0.02)
    seen, _ = full_scan(r)
    assert seen == [b"keep"]


def test_scan_on_empty_database_answers_cursor_zero_in_one_call(r, rr):
    same(r, rr, ("SCAN", "0"))


def test_scan_cursor_and_option_errors_match_redis(r, rr):
    r.set("a", "1")
    rr.set("a", "1")
    for cmd in [("SCAN", " 0"), ("SCAN", "x"), ("SCAN", "1x"), ("SCAN", "+"), ("SCAN", "-"),
                ("SCAN", "18446744073709551616"), ("SCAN", "x", "COUNT", "0"),
                ("SCAN", "0", "COUNT", "0"), ("SCAN", "0", "COUNT", "-1"),
                ("SCAN", "0", "COUNT", "x"), ("SCAN", "0", "MATCH"), ("SCAN", "0", "TYPE"),
                ("SCAN", "0", "FOO", "bar"), ("SCAN", "0", "COUNT"), ("SCAN",),
                ("SCAN", "0", "COUNT", "1", "COUNT", "1000", "MATCH", "*", "TYPE", "string"),
                ("SCAN", "0", "match", "a", "type", "STRING", "count", "1000")]:
        same(r, rr, cmd)


def test_scan_accepts_every_cursor_redis_accepts(r):
    # strtoul semantics: "", "+n", "-n" and huge values are cursors, not errors
    r.mset({f"z{i}": "v" for i in range(30)})
    for cur in ["", "+0", "-0", "-1", "18446744073709551615", "123456789", "7"]:
        cursor, keys = r.execute_command("SCAN", cur)
        assert isinstance(keys, list)
        assert int(cursor) >= 0


def test_scan_returns_every_original_key_while_keys_are_added_concurrently(r, shardis):
    base = {f"orig:{i}".encode() for i in range(3000)}
    r.mset({k: b"v" for k in base})
    stop = threading.Event()

    def writer():
        c = shardis.client()
        i = 0
        while not stop.is_set():
            c.set(f"new:{i}", "v")
            i += 1
        c.close()

    t = threading.Thread(target=writer)
    t.start()
    try:
        seen, _ = full_scan(r, count=37)
    finally:
        stop.set()
        t.join()
    assert base <= set(seen)


def test_scan_survives_many_interleaved_scans_evicting_snapshots(r, shardis):
    # more concurrent scans than a shard keeps snapshots for: evicted cursors
    # restart their shard, so keys may repeat but none is missed
    names = {f"m:{i}".encode() for i in range(400)}
    r.mset({k: b"v" for k in names})
    clients = [shardis.client() for _ in range(40)]
    cursors = [0] * len(clients)
    seen = [set() for _ in clients]
    done = [False] * len(clients)
    steps = 0
    while not all(done):
        for i, c in enumerate(clients):
            if done[i]:
                continue
            cur, keys = c.scan(cursors[i], count=10)
            seen[i].update(keys)
            cursors[i] = cur
            done[i] = cur == 0
        steps += 1
        assert steps < 5000
    for s in seen:
        assert s == names
    for c in clients:
        c.close()


# ------------------------------------------------------------------ RANDOMKEY
def test_randomkey_on_empty_database_is_nil_like_redis(r, rr):
    same(r, rr, ("RANDOMKEY",))
    same(r, rr, ("RANDOMKEY", "extra"))


def test_randomkey_returns_live_keys_from_every_shard(r):
    names = {f"rk:{i}".encode() for i in range(40)}
    r.mset({k: b"v" for k in names})
    got = {r.randomkey() for _ in range(400)}
    assert got <= names
    assert len({shard_of(k) for k in got}) == SHARDS


def test_randomkey_never_returns_an_expired_key(r):
    r.set("alive", "1")
    for i in range(200):
        r.set(f"exp:{i}", "1", px=1)
    import time
    time.sleep(0.02)
    assert {r.randomkey() for _ in range(50)} == {b"alive"}


# ------------------------------------------------------------------ RENAME
@pytest.mark.parametrize("placement", ["same_shard", "cross_shard"])
def test_rename_and_renamenx_semantics_match_redis(r, rr, placement):
    a, b = (keys_on_same_shard if placement == "same_shard" else keys_on_different_shards)()
    script(r, rr, [
        ("RENAME", a, b), ("RENAMENX", a, b),                # missing source
        ("SET", a, "va"), ("RENAME", a, a), ("RENAMENX", a, a),
        ("RENAME", a, b), ("GET", a), ("GET", b), ("EXISTS", a),
        ("SET", a, "new"), ("RENAMENX", a, b), ("GET", a), ("GET", b),
        ("RENAME", a, b), ("GET", b), ("EXISTS", a),
        ("RENAMENX", b, a), ("GET", a), ("EXISTS", b),
        ("RENAME", a), ("RENAME", a, b, "c"), ("RENAMENX", a),
    ])


@pytest.mark.parametrize("placement", ["same_shard", "cross_shard"])
def test_rename_keeps_the_ttl_and_drops_the_destinations_ttl(r, placement):
    a, b = (keys_on_same_shard if placement == "same_shard" else keys_on_different_shards)()
    r.set(a, "v", ex=1000)
    r.set(b, "old", ex=5)
    assert r.rename(a, b)
    assert r.get(b) == b"v"
    assert 990 <= r.ttl(b) <= 1000
    assert r.exists(a) == 0
    r.set(a, "plain")
    r.set(b, "x", ex=50)
    assert r.rename(a, b)
    assert r.ttl(b) == -1
    r.set(a, "again", px=800000)
    assert r.renamenx(a, b) == 0
    r.delete(b)
    assert r.renamenx(a, b) == 1
    assert 790000 <= r.pttl(b) <= 800000


def test_cross_shard_rename_under_concurrency_never_loses_or_duplicates_values(shardis):
    a, b = keys_on_different_shards("swap")
    c = shardis.client()
    c.flushall()
    c.set(a, "token")
    errors = []

    def flip(src, dst, n):
        cc = shardis.client()
        for _ in range(n):
            try:
                cc.rename(src, dst)
            except redis.ResponseError as e:
                if "no such key" not in str(e):
                    errors.append(str(e))
        cc.close()

    ts = [threading.Thread(target=flip, args=(a, b, 200)),
          threading.Thread(target=flip, args=(b, a, 200))]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert errors == []
    assert sorted(v for v in c.mget(a, b) if v is not None) == [b"token"]
    c.close()


def test_rename_inside_multi_works_across_shards(r):
    a, b = keys_on_different_shards("tx")
    r.set(a, "1", ex=100)
    p = r.pipeline(transaction=True)
    p.rename(a, b)
    p.get(b)
    p.ttl(b)
    res = p.execute()
    assert res[0] is True and res[1] == b"1" and 98 <= res[2] <= 100


# ------------------------------------------------------------------ COPY
@pytest.mark.parametrize("placement", ["same_shard", "cross_shard"])
def test_copy_semantics_and_errors_match_redis(r, rr, placement):
    a, b = (keys_on_same_shard if placement == "same_shard" else keys_on_different_shards)()
    script(r, rr, [
        ("COPY", a, b), ("SET", a, "va"),
        ("COPY", a, a), ("COPY", a, a, "DB", "0"), ("COPY", a, a, "DB", "1"),
        ("COPY", a, b), ("GET", b), ("COPY", a, b), ("SET", a, "vb"),
        ("COPY", a, b, "REPLACE"), ("GET", b), ("GET", a),
        ("COPY", a, b, "DB"), ("COPY", a, b, "DB", "x"), ("COPY", a, b, "DB", "16"),
        ("COPY", a, b, "DB", "-1"), ("COPY", a, b, "DB", "99999999999"),
        ("COPY", a, b, "FOO"), ("COPY", a, b, "REPLACE", "X"),
        ("COPY", a, b, "DB", "3"), ("COPY", a, b, "DB", "3"),
        ("COPY", a, b, "db", "3", "replace"), ("COPY", "missing", b, "DB", "99"),
        ("COPY", a), ("SELECT", "3"), ("GET", b), ("SELECT", "0"),
    ])


@pytest.mark.parametrize("placement", ["same_shard", "cross_shard"])
def test_copy_keeps_the_ttl_and_leaves_the_source(r, placement):
    a, b = (keys_on_same_shard if placement == "same_shard" else keys_on_different_shards)()
    r.set(a, "v", ex=1000)
    assert r.copy(a, b) is True
    assert r.get(a) == r.get(b) == b"v"
    assert 990 <= r.ttl(b) <= 1000
    assert 990 <= r.ttl(a) <= 1000
    assert r.copy(a, b, destination_db=5) is True
    c5 = r.connection_pool.connection_kwargs
    other = redis.Redis(host=c5["host"], port=c5["port"], db=5)
    assert other.get(b) == b"v"
    assert 990 <= other.ttl(b) <= 1000
    other.close()


# ------------------------------------------------------------------ MOVE
def test_move_semantics_and_errors_match_redis(r, rr):
    script(r, rr, [
        ("MOVE", "k", "1"), ("SET", "k", "v"), ("MOVE", "k", "0"), ("MOVE", "k", "x"),
        ("MOVE", "k", "16"), ("MOVE", "k", "-1"), ("MOVE", "k", "99999999999"),
        ("MOVE", "k", "1"), ("EXISTS", "k"), ("SELECT", "1"), ("GET", "k"),
        ("SET", "j", "in1"), ("SELECT", "0"), ("SET", "j", "in0"), ("MOVE", "j", "1"),
        ("GET", "j"), ("MOVE", "k"), ("MOVE", "missing", "x"),
    ])


def test_move_keeps_the_ttl(r, shardis):
    r.set("k", "v", ex=1000)
    assert r.move("k", 2) is True
    c = shardis.client(db=2)
    assert 990 <= c.ttl("k") <= 1000
    c.close()


# ------------------------------------------------------------------ SWAPDB
def test_swapdb_semantics_and_errors_match_redis(r, rr):
    script(r, rr, [
        ("SET", "a", "zero"), ("SELECT", "1"), ("SET", "b", "one"), ("SELECT", "0"),
        ("SWAPDB", "0", "1"), ("GET", "a"), ("GET", "b"), ("DBSIZE",),
        ("SWAPDB", "1", "1"), ("SWAPDB", "x", "1"), ("SWAPDB", "1", "y"),
        ("SWAPDB", "0", "16"), ("SWAPDB", "-1", "0"), ("SWAPDB", "99999999999", "0"),
        ("SWAPDB", "0"), ("SWAPDB", "1", "0"), ("GET", "a"), ("GET", "b"),
    ])


def test_swapdb_moves_every_shards_keys_and_ttls(r, shardis):
    names = [f"sw:{i}" for i in range(50)]
    for k in names:
        r.set(k, k, ex=1000)
    assert r.swapdb(0, 7)
    assert r.dbsize() == 0
    c7 = shardis.client(db=7)
    assert c7.dbsize() == 50
    assert c7.mget(names) == [k.encode() for k in names]
    assert all(990 <= c7.ttl(k) <= 1000 for k in names)
    c7.set("extra", "1")
    assert r.swapdb(7, 0)
    assert r.dbsize() == 51 and c7.dbsize() == 0
    c7.close()


def test_swapdb_invalidates_watch_on_a_key_that_changes(shardis):
    c = shardis.client(single_connection_client=True)
    c.flushall()
    c.set("w", "0")
    c.execute_command("WATCH", "w")
    other = shardis.client()
    other.swapdb(0, 1)
    c.execute_command("MULTI")
    c.execute_command("SET", "w", "1")
    assert c.execute_command("EXEC") is None
    other.close()
    c.close()


# ------------------------------------------------------------------ OBJECT
def test_object_subcommands_and_errors_match_redis(r, rr):
    script(r, rr, [
        ("SET", "int", "123"), ("SET", "big", "12345678901234567890"),
        ("SET", "neg", "-5"), ("SET", "emb", "x" * 44), ("SET", "raw", "x" * 45),
        ("SET", "lead", "0123"), ("SET", "small", "9999"), ("SET", "notsmall", "10000"),
        ("OBJECT", "ENCODING", "int"), ("OBJECT", "ENCODING", "big"),
        ("OBJECT", "encoding", "neg"), ("OBJECT", "ENCODING", "emb"),
        ("OBJECT", "ENCODING", "raw"), ("OBJECT", "ENCODING", "lead"),
        ("OBJECT", "ENCODING", "missing"),
        ("OBJECT", "REFCOUNT", "small"), ("OBJECT", "REFCOUNT", "notsmall"),
        ("OBJECT", "REFCOUNT", "neg"), ("OBJECT", "REFCOUNT", "emb"),
        ("OBJECT", "REFCOUNT", "missing"),
        ("OBJECT", "IDLETIME", "missing"),
        ("OBJECT", "FREQ", "int"), ("OBJECT", "FREQ", "missing"),
        ("OBJECT", "HELP"), ("OBJECT", "help", "x"), ("OBJECT", "ENCODING"),
        ("OBJECT", "ENCODING", "a", "b"), ("OBJECT", "NOPE", "x"), ("OBJECT",),
    ])


def test_object_idletime_grows_without_access_and_resets_on_read(r):
    import time
    r.set("k", "v")
    time.sleep(2.1)
    assert r.object("idletime", "k") >= 2
    assert r.type("k") == b"string"            # TYPE does not touch the key
    assert r.object("idletime", "k") >= 2
    r.get("k")
    assert r.object("idletime", "k") == 0


def test_object_freq_works_and_idletime_errors_under_an_lfu_policy(shardis_factory):
    s = shardis_factory("--shards", "2", "--set", "maxmemory-policy=allkeys-lfu")
    c = s.client()
    c.set("k", "v")
    assert c.object("freq", "k") == 5
    assert c.object("freq", "missing") is None
    assert c.object("idletime", "missing") is None
    with pytest.raises(redis.ResponseError, match="An LFU maxmemory policy is selected"):
        c.object("idletime", "k")
    c.close()


def test_the_empty_key_matches_only_match_all_and_the_empty_pattern(r, rr):
    # Redis's stringmatchlen never matches an empty string against a
    # non-empty pattern; KEYS and SCAN treat a lone "*" as "everything"
    for c in (r, rr):
        c.mset({"": "1", "a": "2"})
    for pat in ("*", "**", "?*", "", "a*"):
        assert sorted(r.keys(pat)) == sorted(rr.keys(pat)), pat
        assert sorted(r.scan(0, match=pat, count=100)[1]) == \
            sorted(rr.scan(0, match=pat, count=100)[1]), pat
