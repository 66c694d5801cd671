"""RDB persistence and DUMP/RESTORE, checked against the real redis-server 7.0.

Both directions for files (Redis writes, Shardis loads; Shardis writes,
Redis loads) and for DUMP payloads, with every key's type, value and TTL
compared; RESTORE's errors compared byte for byte; the snapshot checked to be
a consistent cut while writers run.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
import time

import pytest
import redis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import free_port, wait_port
from server.persistence import rdb


# ------------------------------------------------------------------ helpers
def start_redis_in(d, dbfilename="dump.rdb", extra=()):
    exe = shutil.which("redis-server")
    if exe is None:
        pytest.fail("redis-server is not installed (tests/run.sh installs it)")
    port = free_port()
    proc = subprocess.Popen(
        [exe, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
         "--dir", str(d), "--dbfilename", dbfilename, "--logfile", str(d / "redis.log"),
         *extra],
        stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    wait_port(port, proc)
    return proc, port


def stop(proc):
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def supports(client, *argv) -> bool:
    """Whether the server knows a command (lists and hashes land separately)."""
    try:
        client.execute_command(*argv)
    except redis.ResponseError as e:
        if "unknown command" in str(e):
            return False
    return True


def read_value(c, key, typ):
    if typ == "string":
        return c.get(key)
    if typ == "set":
        return sorted(c.smembers(key))
    if typ == "zset":
        return c.zrange(key, 0, -1, withscores=True)
    if typ == "list":
        return c.lrange(key, 0, -1)
    if typ == "hash":
        return sorted(c.hgetall(key).items())
    raise AssertionError(typ)


def contents(port, dbs=(0, 1, 5)):
    """{db: {key: (type, value, pttl rounded to seconds or -1)}}."""
    out = {}
    for n in dbs:
        c = redis.Redis(port=port, db=n)
        d = {}
        for k in c.keys("*"):
            typ = c.type(k).decode()
            ttl = c.pttl(k)
            d[k] = (typ, read_value(c, k, typ), -1 if ttl < 0 else round(ttl / 1000))
        out[n] = d
        c.close()
    return out


def assert_same_contents(got, want, slack_s=3):
    """Same keys, types and values; TTLs equal within ``slack_s`` seconds
    (time passes between the two reads), and no TTL stays no TTL."""
    strip = lambda d: {n: {k: v[:2] for k, v in keys.items()} for n, keys in d.items()}
    assert strip(got) == strip(want)
    for n, keys in want.items():
        for k, (_, _, ttl) in keys.items():
            other = got[n][k][2]
            if ttl == -1:
                assert other == -1, k
            else:
                assert other != -1 and abs(other - ttl) <= slack_s, (k, other, ttl)


def fill(c, with_lists: bool, with_hashes: bool, tag=b""):
    """A dataset that exercises every encoding Redis 7.0 writes to an RDB file."""
    p = c.pipeline(transaction=False)
    p.set(b"int:small" + tag, b"7")
    p.set(b"int:16" + tag, b"-30000")
    p.set(b"int:32" + tag, b"2000000000")
    p.set(b"int:64" + tag, b"12345678901234")
    p.set(b"int:lead0" + tag, b"0123")
    p.set(b"str:empty" + tag, b"")
    p.set(b"str:bin" + tag, bytes(range(256)))
    p.set(b"str:lzf" + tag, b"abcdefgh" * 200)          # compressible: LZF in Redis's file
    p.set(b"str:long" + tag, os.urandom(20000))
    p.set(b"ttl:str" + tag, b"v", ex=5000)
    p.sadd(b"set:int" + tag, *range(-5, 50))              # intset
    p.sadd(b"set:int64" + tag, 1 << 40, -(1 << 40), 3)    # intset, 64-bit width
    p.sadd(b"set:str" + tag, b"a", b"b", b"\x00\xff")     # hashtable
    p.sadd(b"set:big" + tag, *range(600))                 # hashtable (> 512 ints)
    p.zadd(b"zset:lp" + tag, {b"a": 1, b"b": 2.5, b"c": -3, b"d": 1e300, b"inf": float("inf"),
                              b"ninf": float("-inf"), b"frac": 0.1})
    p.zadd(b"zset:sl" + tag, {b"m%d" % i: i / 7 for i in range(300)})   # skiplist
    p.zadd(b"zset:longm" + tag, {b"x" * 100: 1})
    p.expire(b"zset:lp" + tag, 7000)
    if with_lists:
        p.rpush(b"list:lp" + tag, b"a", b"1", b"-7", b"300000", b"x" * 70)
        p.rpush(b"list:big" + tag, *[b"e%d" % i for i in range(1000)])
        p.rpush(b"list:plain" + tag, b"y" * 20000)
        p.rpush(b"list:ints" + tag, *range(-200, 200, 3), 1 << 40, -(1 << 62))
    if with_hashes:
        p.hset(b"hash:lp" + tag, mapping={b"f": b"v", b"n": b"12", b"neg": b"-5000",
                                          b"e": b""})
        p.hset(b"hash:ht" + tag, mapping={b"f%d" % i: b"v%d" % i for i in range(200)})
        p.hset(b"hash:longv" + tag, mapping={b"f": b"z" * 100})
        p.expire(b"hash:lp" + tag, 9000)
    p.execute()
    c1 = redis.Redis(port=c.connection_pool.connection_kwargs["port"], db=1)
    c1.set(b"db1:k", b"one")
    c1.sadd(b"db1:s", b"q")
    c5 = redis.Redis(port=c.connection_pool.connection_kwargs["port"], db=5)
    c5.set(b"db5:k", b"five", px=100000)


@pytest.fixture
def probe(shardis):
    c = shardis.client()
    c.flushall()
    yield c
    c.flushall()


@pytest.fixture
def kinds(probe):
    lists = supports(probe, "LPUSH", "__probe_list", "x")
    hashes = supports(probe, "HSET", "__probe_hash", "f", "v")
    probe.flushall()
    return lists, hashes


# ------------------------------------------------------------------ pure format pieces
def test_crc64_matches_redis_test_vector():
    assert rdb.crc64(b"123456789") == 0xE9C6D914C4B8D9CA
    data = os.urandom(100_000)
    assert rdb.crc64(data[4321:], rdb.crc64(data[:4321])) == rdb.crc64(data)


def test_crc64_vectorised_path_agrees_with_the_byte_loop():
    data = os.urandom(70_001)
    saved = rdb._np
    try:
        rdb._np = False             # as without numpy: the byte loop
        slow = rdb.crc64(data)
    finally:
        rdb._np = saved
    assert rdb.crc64(data) == slow


def test_lengths_and_integer_strings_use_redis_encodings():
    assert rdb.encode_length(63) == b"\x3f"
    assert rdb.encode_length(64) == b"\x40\x40"
    assert rdb.encode_length(16383) == b"\x7f\xff"
    assert rdb.encode_length(16384) == b"\x80\x00\x00\x40\x00"
    assert rdb.encode_length(1 << 32) == b"\x81" + (1 << 32).to_bytes(8, "big")
    assert rdb.encode_string(b"7") == b"\xc0\x07"
    assert rdb.encode_string(b"-30000") == b"\xc1" + (-30000).to_bytes(2, "little", signed=True)
    assert rdb.encode_string(b"2000000000") == b"\xc2" + (2000000000).to_bytes(4, "little")
    # not canonical or too wide: plain strings
    assert rdb.encode_string(b"0123") == b"\x040123"
    assert rdb.encode_string(b"-0") == b"\x02-0"
    assert rdb.encode_string(b"3000000000") == b"\x0a3000000000"


def test_dump_payloads_of_strings_equal_redis_bytes(rr):
    for v in (b"hello", b"7", b"-30000", b"2000000000", b"", b"0123", bytes(range(20))):
        rr.set(b"k", v)
        assert rdb.dump_payload(v) == rr.dump(b"k"), v


def test_lzf_decompression_of_a_redis_payload(rr):
    v = b"abcdefgh" * 300 + b"tail"
    rr.set(b"k", v)
    payload = rr.dump(b"k")
    assert len(payload) < len(v) / 4      # Redis did compress it
    assert rdb.restore_payload(payload) == v


def _raw_items(t, body):
    """The elements a payload decodes to, before any value class is built:
    checks the listpack/quicklist/ziplist parsers on Redis's own bytes."""
    saved = dict(rdb.BUILDERS)
    try:
        for name in ("list", "set", "zset", "hash"):
            rdb.BUILDERS[name.encode()] = list
        return rdb.decode_value(t, body)
    finally:
        rdb.BUILDERS.clear()
        rdb.BUILDERS.update(saved)


def test_listpack_and_quicklist_payloads_from_redis_parse_to_their_elements(rr):
    items = [b"a", b"1", b"-7", b"127", b"128", b"-4096", b"4095", b"-4097", b"70000",
             b"-8388608", b"2147483648", b"9223372036854775807", b"x" * 70, b"y" * 5000]
    rr.rpush(b"l", *items)
    p = rr.dump(b"l")
    assert p[0] == rdb.T_LIST_QUICKLIST_2
    assert _raw_items(p[0], p[1:-10]) == items
    rr.hset(b"h", mapping={b"f": b"v", b"n": b"12", b"big": b"-70000"})
    p = rr.dump(b"h")
    assert p[0] == rdb.T_HASH_LISTPACK
    assert _raw_items(p[0], p[1:-10]) == [(b"f", b"v"), (b"n", b"12"), (b"big", b"-70000")]
    rr.zadd(b"z", {b"a": 1, b"b": 2.5, b"c": float("inf")})
    p = rr.dump(b"z")
    assert p[0] == rdb.T_ZSET_LISTPACK
    assert _raw_items(p[0], p[1:-10]) == [(b"a", 1.0), (b"b", 2.5), (b"c", float("inf"))]
    rr.sadd(b"s", 1, -2, 1 << 40)
    p = rr.dump(b"s")
    assert p[0] == rdb.T_SET_INTSET
    assert sorted(_raw_items(p[0], p[1:-10])) == sorted([b"1", b"-2", b"1099511627776"])


# ------------------------------------------------------------------ RDB files
def test_an_rdb_file_written_by_redis_loads_into_shardis(rr, real_redis, shardis_factory,
                                                         tmp_path, kinds):
    lists, hashes = kinds
    rr.flushall()
    fill(rr, lists, hashes)
    rr.set(b"gone", b"x", px=1)
    time.sleep(0.01)
    assert rr.save()
    want = contents(real_redis.port)
    src = os.path.join(rr.config_get("dir")["dir"], "dump.rdb")
    shutil.copy(src, tmp_path / "from-redis.rdb")
    rr.flushall()
    s = shardis_factory("--shards", "4", "--set", f"dir={tmp_path}",
                        "--set", "dbfilename=from-redis.rdb")
    got = contents(s.port)
    assert_same_contents(got, want)
    assert b"gone" not in got[0]
    c = s.client()
    assert c.object("encoding", b"set:int") == b"intset"
    assert c.object("encoding", b"set:big") == b"hashtable"
    assert c.object("encoding", b"zset:sl") == b"skiplist"
    assert c.object("encoding", b"zset:lp") == b"listpack"


def test_an_rdb_file_written_by_shardis_loads_into_redis(shardis_factory, tmp_path, kinds):
    lists, hashes = kinds
    s = shardis_factory("--shards", "4", "--set", f"dir={tmp_path}",
                        "--set", "dbfilename=from-shardis.rdb")
    c = s.client()
    fill(c, lists, hashes)
    assert c.save()
    want = contents(s.port)
    check = subprocess.run(["redis-check-rdb", str(tmp_path / "from-shardis.rdb")],
                           capture_output=True, text=True)
    assert "RDB looks OK" in check.stdout, check.stdout + check.stderr
    proc, port = start_redis_in(tmp_path, "from-shardis.rdb")
    try:
        assert_same_contents(contents(port), want)
        rc = redis.Redis(port=port)
        # Redis converts the plain types back to its compact encodings
        assert rc.object("encoding", b"set:int") == b"intset"
        assert rc.object("encoding", b"zset:lp") == b"listpack"
        assert rc.object("encoding", b"zset:sl") == b"skiplist"
    finally:
        stop(proc)


def test_a_shardis_snapshot_round_trips_through_a_restart(shardis_factory, tmp_path, kinds):
    lists, hashes = kinds
    s = shardis_factory("--shards", "3", "--set", f"dir={tmp_path}")
    c = s.client()
    fill(c, lists, hashes)
    c.pfadd(b"hll", *[b"e%d" % i for i in range(1000)])
    count = c.pfcount(b"hll")
    assert c.bgsave() in (True, b"Background saving started")
    deadline = time.monotonic() + 30
    while not os.path.exists(tmp_path / "dump.rdb") and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.5)
    want = contents(s.port)
    s.stop()
    # a different shard count: keys are routed to their new shards on load
    s2 = shardis_factory("--shards", "5", "--set", f"dir={tmp_path}")
    assert_same_contents(contents(s2.port), want)
    assert s2.client().pfcount(b"hll") == count


def _idle_file(c, path):
    """Keys with known idle times (RESTORE IDLETIME), one just written, one
    with a TTL; SAVE; the file's {key: idle opcode or None}."""
    payload = c.dump(b"seed")
    for i in range(20):
        c.restore(b"k%d" % i, 0, payload, idletime=1000 + 10 * i)
    c.restore(b"ttl", 600_000, payload, idletime=500)
    c.set(b"fresh", b"v")
    c.delete(b"seed")
    assert c.save()
    with open(path, "rb") as f:
        res = rdb.load_rdb(f.read())
    return {k: idle for k, _v, _dl, idle in res.keys[0]}


@pytest.mark.parametrize("policy", ["allkeys-lru", "volatile-lru", "noeviction", "allkeys-lfu"])
def test_a_snapshot_records_idle_times_under_an_lru_policy_as_redis_does(
        shardis_factory, tmp_path, policy):
    # Redis writes an IDLE opcode (seconds) before each key when the
    # maxmemory-policy is an LRU one, with or without a maxmemory limit
    want = {b"k%d" % i: 1000 + 10 * i for i in range(20)}
    want.update({b"ttl": 500, b"fresh": 0})
    lru = policy.endswith("-lru")
    (tmp_path / "redis").mkdir()
    proc, port = start_redis_in(tmp_path / "redis", extra=("--maxmemory-policy", policy))
    try:
        rc = redis.Redis(port=port)
        rc.set(b"seed", b"x")
        theirs = _idle_file(rc, tmp_path / "redis" / "dump.rdb")
    finally:
        stop(proc)
    s = shardis_factory("--shards", "2", "--set", f"dir={tmp_path}",
                        "--set", f"maxmemory-policy={policy}")
    c = s.client()
    c.set(b"seed", b"x")
    ours = _idle_file(c, tmp_path / "dump.rdb")
    for got in (theirs, ours):
        assert set(got) == set(want)
        if lru:     # a second or two may pass between RESTORE and SAVE
            assert all(want[k] <= got[k] <= want[k] + 3 for k in want), got
        else:
            assert set(got.values()) == {None}
    # loaded back (a restart, and redis-server from our file): the idle
    # times carry on from the file
    s.stop()
    s2 = shardis_factory("--shards", "3", "--set", f"dir={tmp_path}",
                         "--set", f"maxmemory-policy={policy}")
    proc, port = start_redis_in(tmp_path, extra=("--maxmemory-policy", policy))
    try:
        for client in (s2.client(), redis.Redis(port=port)):
            for k, idle in want.items():
                if policy.endswith("-lfu"):     # no idle time under LFU
                    with pytest.raises(redis.ResponseError, match="LFU maxmemory policy"):
                        client.object("idletime", k)
                    continue
                got = client.object("idletime", k)
                if lru:
                    assert idle <= got <= idle + 6, (k, got)
                else:
                    assert got <= 5, (k, got)
    finally:
        stop(proc)


def test_keys_expired_at_save_time_are_not_written(shardis_factory, tmp_path):
    s = shardis_factory("--shards", "2", "--set", f"dir={tmp_path}")
    c = s.client()
    c.set(b"short", b"x", px=30)
    c.set(b"long", b"y", ex=1000)
    time.sleep(0.1)
    assert c.save()
    res = rdb.load_rdb((tmp_path / "dump.rdb").read_bytes())
    assert [e[0] for e in res.keys.get(0, [])] == [b"long"]
    assert res.checksum_checked


def test_a_corrupt_rdb_file_stops_shardis_from_starting(shardis_factory, tmp_path):
    s = shardis_factory("--shards", "2", "--set", f"dir={tmp_path}")
    s.client().set(b"k", b"v" * 100)
    assert s.client().save()
    s.stop()
    data = bytearray((tmp_path / "dump.rdb").read_bytes())
    data[-20] ^= 0xFF
    (tmp_path / "dump.rdb").write_bytes(bytes(data))
    with pytest.raises(RuntimeError, match="exited"):
        shardis_factory("--shards", "2", "--set", f"dir={tmp_path}")


def test_snapshot_is_a_consistent_cut_while_writers_run(shardis_factory, tmp_path):
    """Writers MSET the same counter into keys on every shard; any snapshot
    must hold one counter value in all of them (MSET is atomic and the
    snapshot holds every shard at one point of the global order)."""
    s = shardis_factory("--shards", "4", "--set", f"dir={tmp_path}")
    c = s.client()
    keys = [b"k%d" % i for i in range(16)]
    for i in range(2000):
        c.set(b"filler%d" % i, b"x" * 50)
    c.mset({k: 0 for k in keys})
    stop_flag = threading.Event()

    def writer():
        w = s.client()
        n = 0
        while not stop_flag.is_set():
            n += 1
            w.mset({k: n for k in keys})
    threads = [threading.Thread(target=writer) for _ in range(2)]
    seen = set()
    for t in threads:
        t.start()
    try:
        for _ in range(5):
            time.sleep(0.05)
            assert c.save()
            res = rdb.load_rdb((tmp_path / "dump.rdb").read_bytes())
            vals = {k: v for k, v, _, _ in res.keys[0] if k in keys}
            assert len(vals) == 16
            assert len(set(vals.values())) == 1, vals
            seen.add(vals[keys[0]])
    finally:
        stop_flag.set()
        for t in threads:
            t.join()
    assert len(seen) > 1        # the writers really ran between snapshots


# ------------------------------------------------------------------ commands
def test_save_updates_lastsave_and_bgsave_refuses_a_second_save(shardis_factory, tmp_path):
    s = shardis_factory("--shards", "2", "--set", f"dir={tmp_path}")
    c = s.client()
    before = c.lastsave()
    time.sleep(1.1)
    assert c.save() is True
    assert c.lastsave() > before
    for i in range(20000):
        c.set(b"k%d" % i, b"v" * 20)
    raw = s.client()
    assert raw.execute_command("BGSAVE") is True     # redis-py: +Background saving started
    with pytest.raises(redis.ResponseError, match="^Background save already in progress$"):
        raw.execute_command("BGSAVE")
    with pytest.raises(redis.ResponseError, match="^Background save already in progress$"):
        raw.execute_command("SAVE")


def test_save_command_errors_match_redis(r, rr):
    for argv in (["BGSAVE", "foo"], ["BGSAVE", "SCHEDULE", "x"], ["SAVE", "x"],
                 ["LASTSAVE", "x"]):
        errs = []
        for c in (r, rr):
            with pytest.raises(redis.ResponseError) as e:
                c.execute_command(*argv)
            errs.append(str(e.value))
        assert errs[0] == errs[1], argv


def test_save_inside_multi_is_refused_like_redis(r, rr):
    for c in (r, rr):
        p = c.pipeline(transaction=True)
        p.execute_command("SAVE")
        with pytest.raises(redis.ResponseError) as e:
            p.execute()
        assert "EXECABORT" in str(e.value) or "not allowed" in str(e.value)


def test_save_rules_trigger_a_background_save(shardis_factory, tmp_path):
    s = shardis_factory("--shards", "2", "--set", f"dir={tmp_path}", "--set", "save=1 2")
    c = s.client()
    c.set(b"a", b"1")
    c.set(b"b", b"2")
    deadline = time.monotonic() + 10
    while not (tmp_path / "dump.rdb").exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    time.sleep(0.3)
    res = rdb.load_rdb((tmp_path / "dump.rdb").read_bytes())
    assert sorted(k for k, *_ in res.keys[0]) == [b"a", b"b"]


# ------------------------------------------------------------------ DUMP / RESTORE
def _same(c1, c2, key):
    t1 = c1.type(key).decode()
    assert c2.type(key).decode() == t1
    assert read_value(c1, key, t1) == read_value(c2, key, t1)


def test_dump_from_redis_restores_into_shardis_for_every_type(r, rr, kinds):
    lists, hashes = kinds
    rr.flushall()
    fill(rr, lists, hashes)
    for k in rr.keys("*"):
        payload = rr.dump(k)
        assert r.restore(k, 0, payload) == b"OK"
        _same(rr, r, k)


def test_dump_from_shardis_restores_into_redis_for_every_type(r, rr, kinds):
    lists, hashes = kinds
    fill(r, lists, hashes)
    rr.flushall()
    for k in r.keys("*"):
        payload = r.dump(k)
        assert rr.restore(k, 0, payload) == b"OK"
        _same(r, rr, k)


def test_dump_of_a_missing_key_is_null(r):
    assert r.dump(b"nope") is None


def test_restore_ttl_absttl_and_idletime(r):
    r.set(b"src", b"v")
    p = r.dump(b"src")
    assert r.restore(b"a", 5000, p)
    assert 4000 < r.pttl(b"a") <= 5000
    at = int(time.time() * 1000) + 60000
    assert r.restore(b"b", at, p, absttl=True)
    assert 58000 < r.pttl(b"b") <= 60000
    assert r.restore(b"c", 0, p, idletime=1000)
    assert r.object("idletime", b"c") >= 1000
    assert r.pttl(b"c") == -1


def test_restore_with_a_past_ttl_replies_ok_and_removes_the_old_key(r, rr):
    for c in (r, rr):
        c.set(b"src", b"v")
        p = c.dump(b"src")
        c.set(b"k", b"old")
        assert c.restore(b"k", 1000, p, replace=True, absttl=True) == b"OK"
        assert c.exists(b"k") == 0


RESTORE_CASES = [
    ["RESTORE", "k", "0", "{p}"],                         # BUSYKEY
    ["RESTORE", "new", "-1", "{p}"],
    ["RESTORE", "new", "abc", "{p}"],
    ["RESTORE", "k", "abc", "{p}"],                      # BUSYKEY before the TTL
    ["RESTORE", "new", "0", "garbage"],
    ["RESTORE", "new", "0", "{bad_crc}"],
    ["RESTORE", "new", "0", "{new_version}"],
    ["RESTORE", "new", "0", "{bad_body}"],
    ["RESTORE", "new", "0", "{p}", "FOO"],
    ["RESTORE", "new", "0", "{p}", "IDLETIME"],
    ["RESTORE", "new", "0", "{p}", "IDLETIME", "-1"],
    ["RESTORE", "new", "0", "{p}", "IDLETIME", "x"],
    ["RESTORE", "new", "0", "{p}", "FREQ", "256"],
    ["RESTORE", "new", "0", "{p}", "FREQ", "-1"],
    ["RESTORE", "new", "0", "{p}", "IDLETIME", "1", "FREQ", "1"],
    ["RESTORE", "new", "0", "{p}", "FREQ", "1", "IDLETIME", "1"],
    ["RESTORE", "k", "-1", "{p}", "REPLACE"],
    ["RESTORE", "new"],
    ["DUMP"],
    ["DUMP", "a", "b"],
]


def _payloads(c):
    c.set(b"src", b"hello world")
    p = c.dump(b"src")
    bad_crc = p[:-1] + bytes([p[-1] ^ 1])
    new_version = p[:-10] + (11).to_bytes(2, "little")
    new_version += rdb.crc64(new_version).to_bytes(8, "little")
    bad_body = b"\x00\x20short" + (10).to_bytes(2, "little")
    bad_body += rdb.crc64(bad_body).to_bytes(8, "little")
    return {"{p}": p, "{bad_crc}": bad_crc, "{new_version}": new_version,
            "{bad_body}": bad_body}


@pytest.mark.parametrize("argv", RESTORE_CASES, ids=lambda a: " ".join(a)[:60])
def test_restore_and_dump_errors_match_redis(r, rr, argv):
    out = []
    for c in (r, rr):
        c.set(b"k", b"existing")
        subst = _payloads(c)
        args = [subst.get(a, a) for a in argv]
        try:
            out.append(("ok", c.execute_command(*args)))
        except redis.ResponseError as e:
            out.append(("err", str(e)))
        out.append(c.exists(b"new"))
    assert out[0] == out[2] and out[1] == out[3], out


members = st.binary(min_size=0, max_size=80)
scores = st.one_of(st.floats(allow_nan=False), st.integers(-10**6, 10**6).map(float))
values = st.one_of(
    st.tuples(st.just("string"), st.one_of(members, st.integers(-2**63, 2**63 - 1).map(
        lambda i: str(i).encode()), st.binary(min_size=100, max_size=3000))),
    st.tuples(st.just("set"), st.sets(st.one_of(members, st.integers(-2**63, 2**63 - 1).map(
        lambda i: str(i).encode())), min_size=1, max_size=40)),
    st.tuples(st.just("zset"), st.dictionaries(members, scores, min_size=1, max_size=40)),
)


def _write(c, key, kind, v):
    c.delete(key)
    if kind == "string":
        c.set(key, v)
    elif kind == "set":
        c.sadd(key, *v)
    else:
        c.zadd(key, v)


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(values)
def test_generated_values_dump_and_restore_across_both_servers(r, rr, value):
    kind, v = value
    _write(rr, b"g", kind, v)
    _write(r, b"g", kind, v)
    r.restore(b"from-redis", 0, rr.dump(b"g"), replace=True)
    rr.restore(b"from-shardis", 0, r.dump(b"g"), replace=True)
    want = read_value(rr, b"g", kind)
    assert read_value(r, b"from-redis", kind) == want
    assert read_value(rr, b"from-shardis", kind) == want
    assert r.object("encoding", b"from-redis") == rr.object("encoding", b"g")


def test_lists_and_hashes_round_trip_through_files_and_dump(r, rr, kinds):
    lists, hashes = kinds
    if not (lists and hashes):
        pytest.skip("Shardis has no list or hash commands yet (issue in progress): "
                    "their RDB paths are covered by the parser tests above only")
    rr.rpush(b"l", *range(300))
    rr.hset(b"h", mapping={b"a": b"1", b"b": b"x" * 100})
    for k in (b"l", b"h"):
        assert r.restore(k, 0, rr.dump(k)) == b"OK"
        assert rr.restore(k + b"2", 0, r.dump(k)) == b"OK"
        _same(rr, r, k)
        t = rr.type(k).decode()
        assert read_value(rr, k + b"2", t) == read_value(rr, k, t)
