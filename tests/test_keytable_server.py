"""The keyspace table (actors/keytable.py) under a running server.

The session's ``shardis`` server runs on the C table when the extension is
built; a second server here runs on the pure-Python table
(``SHARDIS_PURE_TABLE=1``), the one an install without a compiler gets.  Both
must behave like redis-server: the differential sequences of
tests/test_differential.py run against the Python table, and the LRU clock
kept in the table (OBJECT IDLETIME; reads that touch it and reads that do
not; SWAPDB; RESTORE IDLETIME; the GET runner) is checked on both."""

from __future__ import annotations

import os
import time

import pytest
from hypothesis import given, settings

from conftest import start_shardis
from test_differential import KEYSPACE, SETTINGS, STRINGS, seq, run_sequence

import actors.keytable


@pytest.fixture(scope="module")
def pure_shardis(tmp_path_factory):
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SHARDIS_PURE_TABLE", "1")
        s = start_shardis(tmp_path_factory, "--shards", "4")
    yield s
    s.stop()


def test_the_default_server_runs_on_the_c_table_when_it_is_built():
    # the C table is what this suite's other tests exercise; say so if not
    if actors.keytable.C_KEYTABLE is None:
        if os.environ.get("CI"):
            pytest.fail("actors._runs is not built in CI")
        pytest.skip("actors._runs not built: every server here runs the Python table")
    assert actors.keytable.KeyTable is actors.keytable.C_KEYTABLE


@settings(max_examples=25, **SETTINGS)
@given(commands=seq(STRINGS + KEYSPACE, 40))
def test_the_python_table_behaves_like_redis(pure_shardis, real_redis, commands):
    run_sequence((pure_shardis.port, real_redis.port, 2), commands)


@pytest.fixture(params=["c", "python"])
def srv(request, shardis, pure_shardis):
    s = shardis if request.param == "c" else pure_shardis
    c = s.client()
    c.flushall()
    c.close()
    return s


@pytest.fixture
def client(srv):
    c = srv.client()
    yield c
    c.close()


def idle(c, key) -> int | None:
    return c.object("idletime", key)


def test_restore_idletime_sets_the_clock_and_reads_reset_it(client):
    c = client
    payload = (c.set("src", "v"), c.dump("src"))[1]
    # keys on several shards, one of them in a pipelined run of GETs
    keys = [f"k{i}" for i in range(8)]
    for k in keys:
        assert c.restore(k, 0, payload, idletime=1000)
    for k in keys:
        assert 1000 <= idle(c, k) <= 1001
    # reads that do not touch: TYPE, EXISTS, TTL, OBJECT
    for k in keys:
        c.type(k), c.exists(k), c.ttl(k), c.object("encoding", k)
    assert all(1000 <= idle(c, k) <= 1001 for k in keys)
    # a single GET, then a pipelined run of GETs (the shard's runner)
    assert c.get(keys[0]) == b"v"
    assert idle(c, keys[0]) == 0
    p = c.pipeline(transaction=False)
    for _ in range(3):
        for k in keys[1:6]:
            p.get(k)
    assert p.execute() == [b"v"] * 15
    assert [idle(c, k) for k in keys[1:6]] == [0] * 5
    assert all(1000 <= idle(c, k) <= 1001 for k in keys[6:])
    # a write stamps the clock too
    c.set(keys[6], "w")
    assert idle(c, keys[6]) == 0
    assert 1000 <= idle(c, keys[7]) <= 1001
    assert idle(c, "missing") is None


def test_the_clock_moves_and_swapdb_and_move_carry_it(srv, client):
    c = client
    c.set("a", "1")
    c.set("b", "2")
    time.sleep(2.1)
    assert idle(c, "a") >= 2
    assert c.swapdb(0, 1)
    assert idle(c, "a") is None
    c1 = srv.client(db=1)
    try:
        assert idle(c1, "a") >= 2          # SWAPDB moved the table, clocks and all
        assert c1.get("a") == b"1"
        assert idle(c1, "a") == 0
        assert c1.move("b", 0)             # MOVE writes a new key: a fresh stamp
        assert idle(c, "b") == 0
    finally:
        c1.close()


def test_keys_scan_randomkey_and_dbsize_see_every_key_after_growth_and_shrinking(client):
    c = client
    n = 3000
    p = c.pipeline(transaction=False)
    for i in range(n):
        p.set(f"key:{i}", i)
    p.execute()
    p = c.pipeline(transaction=False)
    for i in range(0, n, 3):
        p.delete(f"key:{i}")
    p.execute()
    live = {f"key:{i}".encode() for i in range(n) if i % 3}
    assert c.dbsize() == len(live)
    assert set(c.keys("*")) == live
    assert set(c.scan_iter(count=100)) == live
    assert all(c.randomkey() in live for _ in range(20))
    # drain most of it: the tables shrink, and what is left is still found
    p = c.pipeline(transaction=False)
    for k in sorted(live)[:-10]:
        p.delete(k)
    p.execute()
    rest = set(sorted(live)[-10:])
    assert set(c.keys("*")) == rest
    assert c.mget(sorted(rest)) == [c.get(k) for k in sorted(rest)]
    assert all(v is not None for v in c.mget(sorted(rest)))
