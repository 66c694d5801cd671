"""Blocking sorted-set pops (BZPOPMIN, BZPOPMAX, BZMPOP) and wake-ups of
blocked clients by every command that creates a key (RENAME, COPY, MOVE,
RESTORE, SWAPDB, SORT ... STORE, Z*STORE, LMOVE), as Redis's dbAdd ->
signalKeyAsReady does.

Replies (RESP2 and RESP3, immediate, served after blocking, timed out) and
errors are compared byte for byte with redis-server; the wake-up tests block
a client on Shardis (4 shards, keys spread over shards where it matters) and
check who got what; the concurrency tests count every member.
"""

from __future__ import annotations

import socket
import threading
import time

import hiredis
import pytest
import redis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.test_blocking import blocked_count, run_load, shard_keys, wait_blocked
from tests.test_lists import Raw, pair, same  # noqa: F401 (pair is a fixture)


def _encode(args) -> bytes:
    out = b"*%d\r\n" % len(args)
    for a in args:
        a = a if isinstance(a, bytes) else str(a).encode()
        out += b"$%d\r\n%b\r\n" % (len(a), a)
    return out


def _read_reply(sock) -> bytes:
    rd = hiredis.Reader()
    buf = b""
    while True:
        d = sock.recv(1 << 16)
        assert d, "connection closed"
        buf += d
        rd.feed(d)
        if rd.gets() is not False:
            return buf


def served_reply(port: int, proto: int, block: list, trigger: list[list]) -> bytes:
    """Raw bytes of the reply to ``block`` sent on a fresh connection (RESP
    ``proto``), after the ``trigger`` commands were run by another client
    while it was blocked."""
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    ctl = redis.Redis(host="127.0.0.1", port=port)
    try:
        if proto == 3:
            s.sendall(_encode(["HELLO", "3"]))
            _read_reply(s)
        before = blocked_count(ctl)
        s.sendall(_encode(block))
        wait_blocked(ctl, before + 1)
        for t in trigger:
            ctl.execute_command(*t)
        return _read_reply(s)
    finally:
        s.close()
        ctl.close()


def blocked_call(client, fn, *args):
    """Run ``fn(*args)`` (a blocking command) in a thread; returns (thread,
    result list) — the result is appended when the call returns."""
    out: list = []
    t = threading.Thread(target=lambda: out.append(fn(*args)))
    t.start()
    return t, out


# --------------------------------------------------------------- replies and errors
def test_argument_errors_match_redis_in_redis_order(pair):
    for t in ["x", "", "-1", "inf", "nan", "1e20", "1 ", "0x"]:
        same(pair, "bzpopmin", "nokey", t)
        same(pair, "bzpopmax", "a", "b", t)
        same(pair, "bzmpop", t, "1", "nokey", "min")
    for cmd in [
        # numkeys, MIN|MAX and COUNT are checked before the timeout
        ["bzmpop", "abc", "0", "z", "min"], ["bzmpop", "abc", "1", "z", "min"],
        ["bzmpop", "abc", "1", "z", "min", "count", "0"], ["bzmpop", "abc", "-1", "z", "min"],
        ["bzmpop", "-1", "1", "z", "min"], ["bzmpop", "0", "1", "z", "foo"],
        ["bzmpop", "0", "1", "z", "min", "count", "-2"], ["bzmpop", "0", "1", "z", "min", "count"],
        ["bzmpop", "0", "1", "z", "min", "count", "2", "count", "2"],
        ["bzmpop", "0", "5", "z", "min"], ["bzmpop", "0", "2", "z"], ["bzmpop", "0", "1"],
        ["bzmpop", "0", "x", "z", "max"], ["bzmpop", "0", "1", "z", "max", "limit", "1"],
        ["bzpopmin"], ["bzpopmin", "k"], ["bzpopmax", "k"], ["bzmpop", "0"],
        # the same ordering for BLMPOP
        ["blmpop", "abc", "0", "l", "left"], ["blmpop", "abc", "1", "l", "left"],
        ["blmpop", "abc", "1", "l", "left", "count", "0"], ["blmpop", "abc", "1", "l", "up"],
    ]:
        same(pair, *cmd)


def test_immediate_pops_take_keys_in_order_and_report_wrongtype_like_redis(pair):
    for cmd in [["zadd", "z", "1", "a", "2", "b", "3", "c"], ["zadd", "y", "-inf", "m", "inf", "n"],
                ["set", "s", "v"], ["rpush", "l", "x"],
                ["bzpopmin", "nokey", "z", "y", "0"], ["bzpopmax", "nokey", "y", "z", "0"],
                ["bzpopmin", "nokey", "s", "z", "0"], ["bzpopmin", "l", "0"],
                ["bzpopmax", "z", "s", "0"],
                ["bzmpop", "0", "3", "nokey", "s", "z", "min"],
                ["bzmpop", "0", "2", "nokey", "z", "max", "count", "10"],
                ["exists", "z"], ["bzmpop", "0", "2", "nokey", "y", "min", "count", "1"],
                ["bzpopmax", "y", "0.01"], ["exists", "y"],
                ["bzpopmin", "nokey", "0.01"], ["bzpopmax", "nokey", "other", "0.01"],
                ["bzmpop", "0.01", "2", "nokey", "other", "max", "count", "3"],
                ["zadd", "f", "1.5", "a", "1e300", "b", "-0", "c", "0.1", "d"],
                ["bzpopmin", "f", "0"], ["bzpopmin", "f", "0"], ["bzpopmax", "f", "0"],
                ["bzmpop", "0", "1", "f", "max"]]:
        same(pair, *cmd)


def test_blocking_zset_pops_inside_multi_answer_like_a_timeout(pair):
    a, b = pair
    for c in (a, b):
        c.cmd("ZADD", "full", "1", "m")
    for cmd in [["multi"], ["bzpopmin", "nokey", "0"], ["bzpopmax", "nokey", "other", "0"],
                ["bzmpop", "0", "1", "nokey", "min"], ["bzpopmin", "nokey", "-1"],
                ["bzmpop", "0", "1", "nokey", "min", "count", "0"],
                ["bzpopmax", "full", "0"], ["exec"]]:
        same(pair, *cmd)


@pytest.mark.parametrize("proto", [2, 3])
def test_immediate_and_timed_out_replies_match_redis_in_both_protocols(shardis, real_redis, proto):
    a, b = Raw(shardis.port, proto), Raw(real_redis.port, proto)
    try:
        for c in (a, b):
            c.cmd("FLUSHALL")
            c.cmd("ZADD", "z", "1", "a", "2.5", "b", "inf", "c", "-3", "d")
        for cmd in [["bzpopmin", "nokey", "0.01"], ["bzpopmax", "nokey", "0.01"],
                    ["bzmpop", "0.01", "1", "nokey", "min"],
                    ["bzpopmin", "z", "0"], ["bzpopmax", "z", "0"],
                    ["bzmpop", "0", "1", "z", "min", "count", "5"], ["exists", "z"]]:
            assert a.cmd(*cmd) == b.cmd(*cmd), cmd
    finally:
        a.close()
        b.close()


@pytest.mark.parametrize("proto", [2, 3])
@pytest.mark.parametrize("block,trigger", [
    (["bzpopmin", "z", "0"], [["zadd", "z", "2", "b", "1.5", "a"]]),
    (["bzpopmax", "nokey", "z", "0"], [["zadd", "z", "2", "b", "1.5", "a"]]),
    (["bzmpop", "0", "2", "nokey", "z", "max", "count", "5"],
     [["zadd", "z", "2", "b", "1.5", "a", "inf", "c"]]),
    (["bzmpop", "0", "1", "z", "min"], [["zincrby", "z", "0.25", "m"]]),
])
def test_replies_of_served_blocked_clients_match_redis_in_both_protocols(
        shardis, real_redis, proto, block, trigger):
    for port in (shardis.port, real_redis.port):
        redis.Redis(host="127.0.0.1", port=port).flushall()
    ours = served_reply(shardis.port, proto, block, trigger)
    theirs = served_reply(real_redis.port, proto, block, trigger)
    assert ours == theirs


_ZK = ["z1", "z2", "{z1}x", "s"]
_SCORE = st.sampled_from(["1", "2", "-1.5", "inf", "-inf", "0", "3e10"])
_MEMBER = st.sampled_from(["a", "b", "c", "d"])
_TIMEOUT = st.sampled_from(["0.01", "0", "x", "-1"])
_ZOPS = st.one_of(
    st.tuples(st.just("ZADD"), st.sampled_from(_ZK), _SCORE, _MEMBER),
    st.tuples(st.just("SET"), st.just("s"), st.just("v")),
    st.tuples(st.just("DEL"), st.sampled_from(_ZK)),
    st.tuples(st.sampled_from(["BZPOPMIN", "BZPOPMAX"]),
              st.lists(st.sampled_from(_ZK), min_size=1, max_size=3), _TIMEOUT),
    st.tuples(st.just("BZMPOP"), _TIMEOUT, st.lists(st.sampled_from(_ZK), min_size=1, max_size=3),
              st.sampled_from(["MIN", "MAX", "mid"]), st.sampled_from([None, "1", "3", "0"])),
    st.tuples(st.just("ZUNIONSTORE"), st.sampled_from(_ZK), st.sampled_from(_ZK)),
    st.tuples(st.just("ZRANGE"), st.sampled_from(_ZK), st.just("0"), st.just("-1"),
              st.just("WITHSCORES")),
)


def _zop_args(op) -> list:
    if op[0] in ("BZPOPMIN", "BZPOPMAX"):
        return [op[0], *op[1], op[2]]
    if op[0] == "BZMPOP":
        _, t, keys, where, count = op
        args = ["BZMPOP", t, str(len(keys)), *keys, where]
        return args + (["COUNT", count] if count is not None else [])
    if op[0] == "ZUNIONSTORE":
        return ["ZUNIONSTORE", op[1], "1", op[2]]
    return list(op)


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=st.lists(_ZOPS, min_size=1, max_size=12))
def test_generated_sequences_of_zset_pops_match_redis(shardis, real_redis, ops):
    """Sequences that never block for long (a timeout of 0 only meets data or
    an error: those that would block forever are given a short timeout)."""
    a, b = Raw(shardis.port), Raw(real_redis.port)
    try:
        for c in (a, b):
            c.cmd("FLUSHALL")
        for op in ops:
            args = _zop_args(op)
            if args[0] in ("BZPOPMIN", "BZPOPMAX", "BZMPOP"):
                # replace a forever-timeout by 0.01 when no named key exists
                keys = args[1:-1] if args[0] != "BZMPOP" else args[3:3 + int(args[2])]
                tpos = len(args) - 1 if args[0] != "BZMPOP" else 1
                if args[tpos] == "0" and not any(b.cmd("EXISTS", k) != b":0\r\n" for k in keys):
                    args[tpos] = "0.01"
            ra, rb = a.cmd(*args), b.cmd(*args)
            assert ra == rb, f"{args}: shardis {ra!r} != redis {rb!r}"
    finally:
        a.close()
        b.close()


# --------------------------------------------------------------- blocking behaviour
def test_bzpopmin_is_served_by_a_zadd_from_another_client(shardis, r):
    c = shardis.client()
    t, out = blocked_call(c, c.bzpopmin, ["z"], 5)
    wait_blocked(r, 1)
    # the reply of the pushing command is computed before anyone is served
    assert r.zadd("z", {"a": 1, "b": 2}) == 2
    t.join(5)
    assert out == [(b"z", b"a", 1.0)]
    assert r.zrange("z", 0, -1, withscores=True) == [(b"b", 2.0)]


def test_longest_waiting_client_is_served_first_and_each_once(shardis, r):
    clients = [shardis.client() for _ in range(3)]
    results: list = []
    threads = []
    for i, c in enumerate(clients):
        t = threading.Thread(target=lambda c=c, i=i: results.append((i, c.bzpopmax(["z"], 5))))
        t.start()
        threads.append(t)
        wait_blocked(r, i + 1)
    r.zadd("z", {"a": 1, "b": 2})
    for t in threads[:2]:
        t.join(5)
    time.sleep(0.1)
    assert sorted(results) == [(0, (b"z", b"b", 2.0)), (1, (b"z", b"a", 1.0))]
    assert blocked_count(r) == 1
    r.zadd("z", {"c": 3})
    threads[2].join(5)
    assert sorted(results)[2] == (2, (b"z", b"c", 3.0))
    assert r.exists("z") == 0


def test_bzpopmin_on_keys_of_several_shards_is_served_once_by_whichever_gets_data(shardis, r):
    keys = shard_keys(4)
    c = shardis.client()
    t, out = blocked_call(c, c.bzpopmin, keys, 5)
    wait_blocked(r, 1)
    r.zadd(keys[2], {"x": 5})
    t.join(5)
    assert out == [(keys[2].encode(), b"x", 5.0)]
    r.zadd(keys[3], {"y": 6})
    time.sleep(0.1)
    assert r.zrange(keys[3], 0, -1) == [b"y"]


def test_multi_exec_serves_the_blocked_client_after_exec(shardis, r):
    c = shardis.client()
    t, out = blocked_call(c, c.bzpopmin, ["z"], 5)
    wait_blocked(r, 1)
    p = r.pipeline(transaction=True)
    p.zadd("z", {"a": 1})
    p.zrem("z", "a")
    p.zadd("z", {"b": 2, "c": 3})
    p.zcard("z")
    assert p.execute() == [1, 1, 2, 2]
    t.join(5)
    assert out == [(b"z", b"b", 2.0)]


def test_cross_shard_transaction_serves_blocked_clients_at_its_end(shardis, r):
    k1, k2 = shard_keys(2)
    c1, c2 = shardis.client(), shardis.client()
    t1, out1 = blocked_call(c1, c1.bzpopmin, [k1], 5)
    wait_blocked(r, 1)
    t2, out2 = blocked_call(c2, c2.blpop, [k2], 5)
    wait_blocked(r, 2)
    p = r.pipeline(transaction=True)
    p.zadd(k1, {"a": 1})
    p.rpush(k2, "x", "y")
    p.zadd(k1, {"b": 0})
    p.llen(k2)
    assert p.execute() == [1, 2, 1, 2]
    t1.join(5)
    t2.join(5)
    assert out1 == [(k1.encode(), b"b", 0.0)]
    assert out2 == [(k2.encode(), b"x")]


def test_a_list_waiter_does_not_hold_up_zset_waiters_on_the_same_key(shardis, r):
    c1, c2 = shardis.client(), shardis.client()
    t1, out1 = blocked_call(c1, c1.blpop, ["k"], 3)
    wait_blocked(r, 1)
    t2, out2 = blocked_call(c2, c2.bzpopmin, ["k"], 5)
    wait_blocked(r, 2)
    r.zadd("k", {"m": 1})
    t2.join(5)
    assert out2 == [(b"k", b"m", 1.0)]
    # the older BLPOP client keeps waiting (a zset cannot serve it), as in Redis
    assert blocked_count(r) == 1
    r.rpush("k", "v")
    t1.join(5)
    assert out1 == [(b"k", b"v")]


def test_disconnecting_bzpopmin_client_stops_waiting_and_loses_nothing(shardis, r):
    s = socket.create_connection(("127.0.0.1", shardis.port), timeout=5)
    s.sendall(_encode(["BZPOPMIN", "z", "0"]))
    wait_blocked(r, 1)
    s.close()
    deadline = time.monotonic() + 5
    while blocked_count(r) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert blocked_count(r) == 0
    r.zadd("z", {"a": 1})
    time.sleep(0.1)
    assert r.zrange("z", 0, -1, withscores=True) == [(b"a", 1.0)]


def test_client_unblock_ends_bzmpop_with_timeout_or_error(shardis, r):
    c = shardis.client()
    cid = c.client_id()
    t, out = blocked_call(c, c.bzmpop, 0, 1, ["z"], True)
    wait_blocked(r, 1)
    assert r.client_unblock(cid) == 1
    t.join(5)
    assert out == [None]
    errs: list = []

    def run():
        try:
            c.bzpopmin(["z"], 0)
        except redis.ResponseError as e:
            errs.append(str(e))
    t = threading.Thread(target=run)
    t.start()
    wait_blocked(r, 1)
    assert r.client_unblock(cid, error=True) == 1
    t.join(5)
    assert errs == ["UNBLOCKED client unblocked via CLIENT UNBLOCK"]


def test_timeout_is_honoured(shardis, r):
    c = shardis.client()
    t0 = time.monotonic()
    assert c.bzpopmin(["nokey"], 0.2) is None
    assert 0.18 <= time.monotonic() - t0 < 2


# --------------------------------------------------------------- wake-ups by key creation
def _blocked_bzpopmin(shardis, r, key):
    c = shardis.client()
    t, out = blocked_call(c, c.bzpopmin, [key], 5)
    wait_blocked(r, 1)
    return t, out


def _blocked_blpop(shardis, r, key):
    c = shardis.client()
    t, out = blocked_call(c, c.blpop, [key], 5)
    wait_blocked(r, 1)
    return t, out


@pytest.mark.parametrize("store", ["zunionstore", "zinterstore", "zdiffstore"])
@pytest.mark.parametrize("same_shard", [True, False])
def test_bzpopmin_is_served_by_a_set_operation_storing_the_key(shardis, r, store, same_shard):
    dst = "{t}dst" if same_shard else shard_keys(2)[1]
    src = "{t}src" if same_shard else shard_keys(2)[0]
    r.zadd(src, {"a": 1, "b": 2})
    t, out = _blocked_bzpopmin(shardis, r, dst)
    # the stored count is the reply, whatever the blocked client then takes
    assert r.execute_command(store.upper(), dst, 1, src) == 2
    t.join(5)
    assert out == [(dst.encode(), b"a", 1.0)]
    assert r.zrange(dst, 0, -1) == [b"b"]


@pytest.mark.parametrize("same_shard", [True, False])
def test_bzpopmin_is_served_by_zrangestore(shardis, r, same_shard):
    src, dst = ("{t}src", "{t}dst") if same_shard else shard_keys(2)
    r.zadd(src, {"a": 1, "b": 2, "c": 3})
    t, out = _blocked_bzpopmin(shardis, r, dst)
    assert r.zrangestore(dst, src, 1, 2) == 2
    t.join(5)
    assert out == [(dst.encode(), b"b", 2.0)]


@pytest.mark.parametrize("same_shard", [True, False])
@pytest.mark.parametrize("cmd", ["rename", "renamenx"])
def test_bzpopmin_is_served_by_renaming_a_zset_onto_its_key(shardis, r, same_shard, cmd):
    src, dst = ("{t}src", "{t}dst") if same_shard else shard_keys(2)
    r.zadd(src, {"a": 1, "b": 2})
    t, out = _blocked_bzpopmin(shardis, r, dst)
    assert r.execute_command(cmd.upper(), src, dst) in (True, 1, b"OK")
    t.join(5)
    assert out == [(dst.encode(), b"a", 1.0)]
    assert r.zrange(dst, 0, -1) == [b"b"] and r.exists(src) == 0


@pytest.mark.parametrize("same_shard", [True, False])
def test_bzpopmin_is_served_by_copy(shardis, r, same_shard):
    src, dst = ("{t}src", "{t}dst") if same_shard else shard_keys(2)
    r.zadd(src, {"a": 1, "b": 2})
    t, out = _blocked_bzpopmin(shardis, r, dst)
    assert r.copy(src, dst) == 1
    t.join(5)
    assert out == [(dst.encode(), b"a", 1.0)]
    assert r.zrange(src, 0, -1) == [b"a", b"b"]


def test_bzpopmin_in_db_0_is_served_by_move_and_by_copy_from_another_db(shardis, r):
    r1 = shardis.client(db=1)
    try:
        r1.zadd("z", {"a": 1})
        t, out = _blocked_bzpopmin(shardis, r, "z")
        assert r1.move("z", 0) == 1
        t.join(5)
        assert out == [(b"z", b"a", 1.0)]
        r1.zadd("w", {"b": 2})
        t, out = _blocked_bzpopmin(shardis, r, "z")
        assert r1.copy("w", "z", destination_db=0) == 1
        t.join(5)
        assert out == [(b"z", b"b", 2.0)]
    finally:
        r1.flushdb()
        r1.close()


def test_bzpopmin_is_served_by_restore(shardis, r):
    r.zadd("src", {"a": 1, "b": 2})
    payload = r.dump("src")
    t, out = _blocked_bzpopmin(shardis, r, "z")
    assert r.restore("z", 0, payload) == b"OK"
    t.join(5)
    assert out == [(b"z", b"a", 1.0)]


def test_swapdb_serves_clients_blocked_in_either_db(shardis, r):
    r1 = shardis.client(db=1)
    try:
        keys = shard_keys(2)
        r1.zadd(keys[0], {"a": 1})
        r1.rpush(keys[1], "x")
        c1, c2 = shardis.client(), shardis.client()
        t1, out1 = blocked_call(c1, c1.bzpopmin, [keys[0]], 5)
        wait_blocked(r, 1)
        t2, out2 = blocked_call(c2, c2.blpop, [keys[1]], 5)
        wait_blocked(r, 2)
        assert r.swapdb(0, 1) is True
        t1.join(5)
        t2.join(5)
        assert out1 == [(keys[0].encode(), b"a", 1.0)]
        assert out2 == [(keys[1].encode(), b"x")]
        assert r.dbsize() == 0 and r1.dbsize() == 0
    finally:
        r1.flushall()
        r1.close()


@pytest.mark.parametrize("same_shard", [True, False])
def test_blpop_is_served_by_rename_of_a_list(shardis, r, same_shard):
    src, dst = ("{t}src", "{t}dst") if same_shard else shard_keys(2)
    r.rpush(src, "a", "b")
    t, out = _blocked_blpop(shardis, r, dst)
    assert r.rename(src, dst) is True
    t.join(5)
    assert out == [(dst.encode(), b"a")]
    assert r.lrange(dst, 0, -1) == [b"b"]


@pytest.mark.parametrize("same_shard", [True, False])
def test_blpop_is_served_by_sort_store(shardis, r, same_shard):
    src, dst = ("{t}src", "{t}dst") if same_shard else shard_keys(2)
    r.rpush(src, "3", "1", "2")
    t, out = _blocked_blpop(shardis, r, dst)
    assert r.sort(src, store=dst) == 3
    t.join(5)
    assert out == [(dst.encode(), b"1")]
    assert r.lrange(dst, 0, -1) == [b"2", b"3"]


@pytest.mark.parametrize("same_shard", [True, False])
def test_blpop_is_served_by_lmove_creating_the_destination(shardis, r, same_shard):
    src, dst = ("{t}src", "{t}dst") if same_shard else shard_keys(2)
    r.rpush(src, "a", "b")
    t, out = _blocked_blpop(shardis, r, dst)
    assert r.lmove(src, dst, "LEFT", "RIGHT") == b"a"
    t.join(5)
    assert out == [(dst.encode(), b"a")]
    assert r.exists(dst) == 0


def test_blpop_is_served_by_copy_and_restore(shardis, r):
    r.rpush("src", "a")
    t, out = _blocked_blpop(shardis, r, "l")
    assert r.copy("src", "l") == 1
    t.join(5)
    assert out == [(b"l", b"a")]
    payload = r.dump("src")
    t, out = _blocked_blpop(shardis, r, "l")
    assert r.restore("l", 0, payload) == b"OK"
    t.join(5)
    assert out == [(b"l", b"a")]


def test_smove_and_sunionstore_create_sets_which_wake_nobody(shardis, r):
    r.sadd("{t}s", "a")
    c = shardis.client()
    t, out = blocked_call(c, c.blpop, ["{t}d"], 0.5)
    wait_blocked(r, 1)
    assert r.smove("{t}s", "{t}d", "a") is True
    t.join(5)
    assert out == [None]       # timed out: a set serves no blocked client


@pytest.mark.parametrize("block,trigger", [
    # a store over a live key (dbOverwrite) wakes nobody in Redis 7.0...
    (["bzpopmin", "k", "0.3"], [["set", "k", "s"], ["zadd", "src", "1", "a"],
                                ["zunionstore", "k", "1", "src"]]),
    (["blpop", "k", "0.3"], [["set", "k", "s"], ["rpush", "src", "b", "a"],
                             ["sort", "src", "alpha", "store", "k"]]),
    # ...but RENAME, COPY REPLACE and RESTORE REPLACE delete it first (dbAdd)
    (["bzpopmin", "k", "0.3"], [["set", "k", "s"], ["zadd", "src", "1", "a"],
                                ["rename", "src", "k"]]),
    (["blpop", "k", "0.3"], [["set", "k", "s"], ["rpush", "src", "a"],
                             ["copy", "src", "k", "replace"]]),
])
def test_overwriting_a_key_wakes_blocked_clients_only_where_redis_does(
        shardis, real_redis, block, trigger):
    for port in (shardis.port, real_redis.port):
        redis.Redis(host="127.0.0.1", port=port).flushall()
    ours = served_reply(shardis.port, 2, block, trigger)
    theirs = served_reply(real_redis.port, 2, block, trigger)
    assert ours == theirs


# --------------------------------------------------------------- concurrency
def test_many_producers_and_consumers_across_shards_deliver_each_member_once(shardis, r):
    keys = shard_keys(4)
    n_producers, per_producer = 4, 120
    total = n_producers * per_producer
    got: list[bytes] = []
    lock = threading.Lock()
    stop = threading.Event()

    def consumer(i):
        c = shardis.client()
        while not stop.is_set():
            if i % 3 == 0:
                res = c.bzpopmin(keys, 0.2)
                vals = [res[1]] if res else []
            elif i % 3 == 1:
                res = c.bzpopmax(keys[::-1], 0.2)
                vals = [res[1]] if res else []
            else:
                res = c.bzmpop(0.2, len(keys), keys, min=True, count=3)
                vals = [m for m, _s in res[1]] if res else []
            with lock:
                got.extend(vals)
        c.close()

    def producer(p):
        c = shardis.client()
        for j in range(per_producer):
            k = keys[(p + j) % len(keys)]
            if j % 5 == 0:
                # a zset appearing through another command than ZADD (the
                # temporary key is this producer's own, on k's shard)
                tmp = f"{{{k}}}tmp{p}"
                c.zadd(tmp, {f"{p}:{j}": j})
                c.execute_command("ZUNIONSTORE", k, 2, k, tmp)
                c.delete(tmp)
            else:
                c.zadd(k, {f"{p}:{j}": j})
        c.close()

    run_load(consumer, producer, 6, n_producers, got, lock, total, stop)
    leftover = [m for k in keys for m in r.zrange(k, 0, -1)]
    everything = got + leftover
    assert sorted(everything) == sorted(f"{p}:{j}".encode()
                                        for p in range(n_producers) for j in range(per_producer))


def test_zset_consumers_that_disconnect_lose_no_member(shardis, r):
    keys = shard_keys(3)
    total = 240
    got: list[bytes] = []
    lock = threading.Lock()
    stop = threading.Event()

    def impatient(i):
        # BZPOPMIN/BZMPOP then a disconnect while members arrive: what the
        # server wrote before it saw the disconnect counts as consumed,
        # everything else must still be in the sorted sets
        n = 0
        while not stop.is_set():
            s = socket.create_connection(("127.0.0.1", shardis.port), timeout=5)
            if n % 2:
                args = ["BZPOPMIN", *keys, "0"]
            else:
                args = ["BZMPOP", "0", str(len(keys)), *keys, "MAX", "COUNT", "2"]
            n += 1
            s.sendall(_encode(args))
            time.sleep(0.001 * (i % 3))
            s.shutdown(socket.SHUT_WR)
            data = b""
            while True:
                d = s.recv(65536)
                if not d:
                    break
                data += d
            s.close()
            rd = hiredis.Reader()
            rd.feed(data)
            reply = rd.gets()
            if reply:
                with lock:
                    if args[0] == "BZPOPMIN":
                        got.append(reply[1])
                    else:
                        got.extend(m for m, _s in reply[1])

    threads = [threading.Thread(target=impatient, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    c = shardis.client()
    for j in range(total):
        c.zadd(keys[j % 3], {str(j): j})
        if j % 40 == 0:
            time.sleep(0.01)
    time.sleep(0.5)
    stop.set()
    for t in threads:
        t.join(10)
    time.sleep(0.2)
    leftover = [m for k in keys for m in r.zrange(k, 0, -1)]
    assert sorted(got + leftover, key=int) == [str(j).encode() for j in range(total)]
    # given-back members keep their scores
    for k in keys:
        for m, sc in r.zrange(k, 0, -1, withscores=True):
            assert sc == int(m)
    c.close()


# --------------------------------------------------------------- append-only file
def _dump_all(c) -> dict:
    return {k: c.dump(k) for k in c.keys("*")}


def test_served_zset_waiters_and_wake_ups_by_key_creation_replay_from_the_aof(
        shardis_factory, tmp_path):
    from tests.test_aof import aof_server
    s = aof_server(shardis_factory, tmp_path, "always")
    c = s.client()
    k1, k2 = shard_keys(2)
    results: dict = {}

    def blocked(name, *cmd):
        results[name] = redis.Redis(port=s.port).execute_command(*cmd)

    ts = [threading.Thread(target=blocked, args=("min", "BZPOPMIN", "z1", 5)),
          threading.Thread(target=blocked, args=("mpop", "BZMPOP", 5, 2, "z2", k1, "MAX",
                                                  "COUNT", 2)),
          threading.Thread(target=blocked, args=("renamed", "BZPOPMAX", k2, 5)),
          threading.Thread(target=blocked, args=("sorted", "BLPOP", "{z1}l", 5))]
    for t in ts:
        t.start()
    wait_blocked(c, len(ts))
    c.zadd("z1", {"a": 1, "b": 2})
    c.zadd("src", {"p": 1, "q": 2, "r": 3})
    c.zunionstore(k1, ["src"])                       # keys on two shards
    c.zadd("other", {"x": 7, "y": 8})
    c.rename("other", k2)                            # keys on two shards
    c.rpush("{z1}src", "1", "2", "3")
    # (not SORT ... STORE: SORT is not logged to the AOF at all, a separate
    # bug reported with this work)
    c.copy("{z1}src", "{z1}l")
    for t in ts:
        t.join()
    # a client that disconnects while blocked: nothing popped, nothing logged
    sock = socket.create_connection(("127.0.0.1", s.port), timeout=5)
    sock.sendall(_encode(["BZPOPMIN", "gone", "0"]))
    wait_blocked(c, 1)
    sock.close()
    deadline = time.monotonic() + 5
    while blocked_count(c) and time.monotonic() < deadline:
        time.sleep(0.01)
    c.zadd("gone", {"g": 1})
    assert results["min"] == (b"z1", b"a", 1.0)
    assert results["mpop"] == [k1.encode(), [[b"r", b"3"], [b"q", b"2"]]]
    assert results["renamed"] == (k2.encode(), b"y", 8.0)
    assert list(results["sorted"]) == [b"{z1}l", b"1"]
    before = _dump_all(c)
    assert sorted(before) == sorted([b"z1", b"src", k1.encode(), k2.encode(), b"{z1}src", b"{z1}l", b"gone"])
    s.stop()
    s2 = aof_server(shardis_factory, tmp_path, "always")
    after = _dump_all(s2.client())
    assert {k: (before[k], after.get(k)) for k in before if before[k] != after.get(k)} == {}


def test_sort_store_survives_a_restart_from_the_aof(shardis_factory, tmp_path):
    """SORT is a loop-run (Route.CONN) write command, and the AOF logs only
    shard-run handlers and cross= coordinators: SORT ... STORE is lost on
    restart.  Fails until SORT's store is logged (e.g. record_loop around the
    CONN handler of write commands, or SORT logging its store hop)."""
    from tests.test_aof import aof_server
    s = aof_server(shardis_factory, tmp_path, "always")
    c = s.client()
    c.rpush("{t}src", "3", "1", "2")
    assert c.sort("{t}src", store="{t}dst") == 3
    s.stop()
    s2 = aof_server(shardis_factory, tmp_path, "always")
    assert s2.client().lrange("{t}dst", 0, -1) == [b"1", b"2", b"3"]
