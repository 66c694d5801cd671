"""Keyspace notifications: differential against redis-server 7.0.

Each test subscribes to ``__key*__:*`` (and a sentinel channel) on Shardis
and on the real server, runs the same commands from one client, publishes
the sentinel, and compares every message received before it, in order.
"""

from __future__ import annotations

import time

import pytest
import redis

from conftest import raw_command


def collect(server, flags: str, commands, db: int = 0):
    c = server.client(protocol=2, db=db)
    c.flushall()
    c.config_set("notify-keyspace-events", flags)
    p = c.pubsub()
    p.psubscribe("__key*__:*")
    p.subscribe("sentinel")
    for _ in range(2):
        assert p.get_message(timeout=2)["type"] in ("psubscribe", "subscribe")
    replies = []
    for cmd in commands:
        try:
            replies.append(c.execute_command(*cmd))
        except redis.ResponseError as e:
            replies.append(("error", str(e)))
    c.publish("sentinel", "end")
    msgs = []
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        m = p.get_message(timeout=1)
        if m is None:
            continue
        if m["channel"] == b"sentinel":
            break
        msgs.append((m["channel"], m["data"]))
    else:
        pytest.fail("sentinel not received")
    p.close()
    c.config_set("notify-keyspace-events", "")
    c.flushall()                    # leave no state behind for other test files
    c.close()
    return replies, msgs


def same(shardis, real_redis, flags, commands):
    want = collect(real_redis, flags, commands)
    got = collect(shardis, flags, commands)
    assert got[0] == want[0]            # replies
    if got[1] != want[1]:               # messages: show where they part
        import difflib
        diff = "\n".join(difflib.unified_diff([repr(m) for m in want[1]],
                                              [repr(m) for m in got[1]], "redis", "shardis",
                                              lineterm=""))
        pytest.fail(f"events differ for flags {flags!r}:\n{diff}")
    return got


def test_config_set_validates_and_normalises_flags_like_redis(r, rr):
    for value in ["KEA", "K", "Eg$lshzxetmdn", "KEAn", "AAKK", "gE", "", "Em", "xeK", "En"]:
        assert r.config_set("notify-keyspace-events", value) == rr.config_set(
            "notify-keyspace-events", value)
        assert r.config_get("notify-keyspace-events") == rr.config_get("notify-keyspace-events")
    for bad in ["Q", "KEAQ", "ke"]:
        with pytest.raises(redis.ResponseError) as e1:
            r.config_set("notify-keyspace-events", bad)
        with pytest.raises(redis.ResponseError) as e2:
            rr.config_set("notify-keyspace-events", bad)
        assert str(e1.value) == str(e2.value)
    r.config_set("notify-keyspace-events", "")
    rr.config_set("notify-keyspace-events", "")


def test_string_commands_emit_redis_events_on_both_channels(shardis, real_redis):
    same(shardis, real_redis, "KEA", [
        ("SET", "s", "1"), ("SET", "s", "2", "NX"), ("SET", "s", "3", "XX", "EX", "100"),
        ("SETNX", "s", "x"), ("SETNX", "s2", "x"), ("SETEX", "s3", "10", "v"),
        ("PSETEX", "s4", "1000", "v"), ("GETSET", "s", "4"), ("MSET", "{m}a", "1", "{m}b", "2"),
        ("MSETNX", "{t}a", "1", "{t}b", "2"), ("MSETNX", "{t}a", "1", "{t}c", "2"),
        ("APPEND", "s", "x"), ("APPEND", "new", "x"), ("SETRANGE", "s", "1", "yy"),
        ("SETRANGE", "s", "1", ""), ("INCR", "n"), ("DECR", "n"), ("INCRBY", "n", "5"),
        ("DECRBY", "n", "2"), ("INCRBYFLOAT", "f", "1.5"), ("GETDEL", "s"), ("GETDEL", "s"),
        ("GETEX", "{m}a", "EX", "100"), ("GETEX", "{m}a", "PERSIST"), ("GETEX", "{m}a", "PERSIST"),
        ("SETBIT", "bits", "7", "1"), ("BITFIELD", "bf", "SET", "u8", "0", "1"),
        ("BITFIELD", "bf", "GET", "u8", "0"), ("INCR", "s3"), ("SET", "n", "x"), ("INCR", "n"),
    ])


def test_generic_commands_emit_del_expire_rename_move_copy_persist(shardis, real_redis):
    same(shardis, real_redis, "KEA", [
        ("SET", "{k}a", "1"), ("SET", "{k}b", "2"), ("DEL", "{k}a", "{k}b", "{k}c"),
        ("SET", "x", "1"), ("UNLINK", "x"), ("SET", "e", "1"), ("EXPIRE", "e", "100"),
        ("PEXPIRE", "e", "100000"), ("EXPIRE", "missing", "10"), ("PERSIST", "e"),
        ("PERSIST", "e"), ("EXPIREAT", "e", "1"), ("SET", "{r}a", "1"),
        ("RENAME", "{r}a", "{r}b"), ("SET", "{r}c", "1"), ("RENAME", "{r}c", "{r}b"),
        ("RENAMENX", "{r}b", "{r}b2"), ("SET", "{r}c", "3"), ("RENAMENX", "{r}c", "{r}b2"),
        ("COPY", "{r}b2", "{r}z"), ("COPY", "{r}b2", "{r}z"), ("COPY", "{r}b2", "{r}z", "REPLACE"),
        ("MOVE", "{r}z", "1"), ("SELECT", "0"), ("SET", "m", "1"), ("MOVE", "m", "1"),
        ("SET", "p", "1", "PX", "100000"), ("PEXPIREAT", "p", "1"),
    ])


def test_list_hash_set_zset_commands_emit_their_events_and_del_when_emptied(shardis, real_redis):
    same(shardis, real_redis, "KEA", [
        ("LPUSH", "l", "a", "b"), ("RPUSH", "l", "c"), ("LPUSHX", "nol", "a"), ("RPUSHX", "l", "d"),
        ("LINSERT", "l", "BEFORE", "a", "z"), ("LINSERT", "l", "BEFORE", "nope", "z"),
        ("LSET", "l", "0", "q"), ("LREM", "l", "0", "z"), ("LREM", "l", "0", "nope"),
        ("LPOP", "l"), ("RPOP", "l", "2"), ("LTRIM", "l", "0", "-1"), ("LTRIM", "l", "5", "6"),
        ("LTRIM", "l", "0", "1"), ("RPUSH", "{l}s", "1", "2"), ("LMOVE", "{l}s", "{l}d", "LEFT", "RIGHT"),
        ("RPOPLPUSH", "{l}s", "{l}d"), ("LMPOP", "1", "{l}d", "LEFT", "COUNT", "5"),
        ("HSET", "h", "a", "1", "b", "2"), ("HSET", "h", "a", "1"), ("HSETNX", "h", "a", "1"),
        ("HSETNX", "h", "c", "1"), ("HINCRBY", "h", "n", "2"), ("HINCRBYFLOAT", "h", "f", "1.5"),
        ("HDEL", "h", "zz"), ("HDEL", "h", "a", "b", "c", "n", "f"), ("HMSET", "h", "x", "1"),
        ("SADD", "s", "a", "b"), ("SADD", "s", "a"), ("SREM", "s", "zz"), ("SREM", "s", "a"),
        ("SPOP", "s"), ("SPOP", "s"), ("SADD", "{s}a", "1", "2"), ("SADD", "{s}b", "2", "3"),
        ("SINTERSTORE", "{s}i", "{s}a", "{s}b"), ("SUNIONSTORE", "{s}u", "{s}a", "{s}b"),
        ("SDIFFSTORE", "{s}d", "{s}a", "{s}b"), ("SINTERSTORE", "{s}i", "{s}a", "{s}none"),
        ("SMOVE", "{s}a", "{s}b", "1"), ("SMOVE", "{s}a", "{s}b", "nope"),
        ("ZADD", "z", "1", "a", "2", "b"), ("ZADD", "z", "1", "a"), ("ZADD", "z", "INCR", "5", "a"),
        ("ZINCRBY", "z", "1", "b"), ("ZREM", "z", "nope"), ("ZREM", "z", "a"),
        ("ZADD", "z", "1", "x", "2", "y", "3", "w"), ("ZREMRANGEBYSCORE", "z", "1", "1"),
        ("ZREMRANGEBYRANK", "z", "0", "0"), ("ZREMRANGEBYLEX", "z", "[a", "[b"),
        ("ZPOPMIN", "z"), ("ZPOPMAX", "z", "5"), ("ZPOPMAX", "z"),
        ("ZADD", "{z}a", "1", "a"), ("ZADD", "{z}b", "1", "a", "2", "b"),
        ("ZUNIONSTORE", "{z}u", "2", "{z}a", "{z}b"), ("ZINTERSTORE", "{z}i", "2", "{z}a", "{z}b"),
        ("ZDIFFSTORE", "{z}d", "2", "{z}b", "{z}a"), ("ZRANGESTORE", "{z}r", "{z}b", "0", "-1"),
        ("ZMPOP", "1", "{z}b", "MIN"), ("ZINTERSTORE", "{z}i", "2", "{z}a", "{z}none"),
    ])


def test_class_filters_new_keymiss_and_channel_selection(shardis, real_redis):
    cmds = [("SET", "a", "1"), ("GET", "nokey"), ("LPUSH", "l", "x"), ("SADD", "s", "1"),
            ("HSET", "h", "f", "v"), ("DEL", "a", "l"), ("GET", "a"), ("SET", "a", "2")]
    for flags in ["K$", "El", "Kg", "Ez", "Kh", "Es", "En", "Km", "KEn", "g", "KEm$"]:
        same(shardis, real_redis, flags, cmds)


def test_multi_key_commands_over_shards_emit_events_in_argument_order(shardis, real_redis):
    # 20 keys spread over the 4 shards: the parts' events must not come in
    # the order the shards happen to finish
    keys = [f"key:{i}" for i in range(20)]
    pairs = [x for k in keys for x in (k, "v")]
    cmds = [("MSET", *pairs), ("MGET", *keys, "missing:1", "missing:2"), ("DEL", *keys[::2]),
            ("UNLINK", *keys), ("MSETNX", *pairs), ("DEL", *reversed(keys))]
    for _ in range(3):
        same(shardis, real_redis, "KEA", cmds)
        same(shardis, real_redis, "KEAm", cmds)


def test_multi_exec_over_shards_emits_events_in_command_order(shardis, real_redis):
    same(shardis, real_redis, "KEA", [
        ("MULTI",), ("SET", "a", "1"), ("LPUSH", "l", "x"), ("SADD", "s", "m"), ("DEL", "l", "a"),
        ("MSET", "x", "1", "y", "2", "z", "3"), ("INCR", "n"), ("DEL", "z", "s", "y", "x"),
        ("EXEC",),
    ])


def test_events_in_other_databases_name_their_database(shardis, real_redis):
    for server in (shardis, real_redis):
        c = server.client(protocol=2, db=3)
        c.flushall()
        c.close()
    assert collect(real_redis, "KEA", [("SET", "a", "1"), ("DEL", "a")], db=3) == \
        collect(shardis, "KEA", [("SET", "a", "1"), ("DEL", "a")], db=3)


def test_multi_exec_emits_each_commands_events_in_order(shardis, real_redis):
    same(shardis, real_redis, "KEA", [
        ("MULTI",), ("SET", "{m}a", "1"), ("LPUSH", "{m}l", "x"), ("DEL", "{m}a"),
        ("INCR", "{m}n"), ("EXEC",),
    ])


def test_expired_events_come_from_lazy_and_active_expiry(shardis, real_redis):
    for server in (shardis, real_redis):
        c = server.client(protocol=2)
        c.flushall()
        c.config_set("notify-keyspace-events", "Ex")
        p = c.pubsub()
        p.psubscribe("__keyevent@0__:expired")
        assert p.get_message(timeout=2)["type"] == "psubscribe"
        c.set("lazy", "1", px=50)
        c.set("active", "1", px=50)
        time.sleep(0.1)
        assert c.get("lazy") is None      # lazy expiry on access
        got = set()
        deadline = time.monotonic() + 5
        while len(got) < 2 and time.monotonic() < deadline:
            m = p.get_message(timeout=0.5)
            if m and m["type"] == "pmessage":
                assert m["channel"] == b"__keyevent@0__:expired"
                got.add(m["data"])
        assert got == {b"lazy", b"active"}, server
        p.close()
        c.config_set("notify-keyspace-events", "")
        c.close()


def test_evicted_events_are_sent_for_keys_removed_by_maxmemory(shardis_factory):
    s = shardis_factory("--shards", "2", "--set", "maxmemory=1mb",
                        "--set", "maxmemory-policy=allkeys-random")
    c = s.client(protocol=2)
    c.config_set("notify-keyspace-events", "Ee")
    p = c.pubsub()
    p.psubscribe("__keyevent@0__:*")
    p.subscribe("sentinel")
    for _ in range(2):
        assert p.get_message(timeout=2)["type"] in ("psubscribe", "subscribe")
    for i in range(2000):
        c.set(f"k{i}", "x" * 1000)
    left = {k for k in c.keys("*")}
    c.publish("sentinel", "end")     # after every event of the commands above
    evicted = []
    while True:
        m = p.get_message(timeout=2)
        assert m is not None, "sentinel not received"
        if m["channel"] == b"sentinel":
            break
        assert m["channel"] == b"__keyevent@0__:evicted"
        evicted.append(m["data"])
    assert evicted, "no evicted event"
    assert len(evicted) == len(set(evicted))
    assert set(evicted) | left == {f"k{i}".encode() for i in range(2000)}
    assert not set(evicted) & left


def test_notifications_off_publish_nothing(shardis):
    c = shardis.client(protocol=2)
    c.config_set("notify-keyspace-events", "")
    p = c.pubsub()
    p.psubscribe("__key*__:*")
    assert p.get_message(timeout=2)["type"] == "psubscribe"
    c.set("a", "1")
    c.delete("a")
    assert p.get_message(timeout=0.3) is None
    p.close()
    c.close()


def test_commands_whose_keys_span_shards_emit_the_same_events(shardis, real_redis):
    # no hash tags: with 4 shards most of these pairs live on different
    # shards, so they run as coordinators (events decided on the loop)
    same(shardis, real_redis, "KEA", [
        ("SET", "a", "1"), ("RENAME", "a", "b"), ("SET", "c", "1"), ("RENAME", "c", "b"),
        ("RENAMENX", "b", "zz"), ("SET", "q", "1"), ("RENAMENX", "q", "zz"),
        ("COPY", "zz", "yy"), ("COPY", "zz", "yy"), ("COPY", "zz", "yy", "REPLACE"),
        ("RPUSH", "l1", "x", "y", "z"), ("LMOVE", "l1", "l2", "LEFT", "RIGHT"),
        ("RPOPLPUSH", "l1", "l3"), ("LMOVE", "nol", "l2", "LEFT", "LEFT"),
        ("SADD", "s1", "a", "b"), ("SADD", "s2", "b"), ("SMOVE", "s1", "s2", "a"),
        ("SMOVE", "s1", "s2", "nope"), ("SINTERSTORE", "s3", "s1", "s2"),
        ("SUNIONSTORE", "s4", "s1", "s2"), ("SDIFFSTORE", "s5", "s1", "s2"),
        ("ZADD", "z1", "1", "a"), ("ZUNIONSTORE", "z2", "1", "z1"),
        ("ZINTERSTORE", "z4", "2", "z1", "z2"), ("ZDIFFSTORE", "z5", "2", "z1", "z2"),
        ("ZRANGESTORE", "z3", "z1", "0", "-1"), ("SET", "m1", "ab"),
        ("BITOP", "NOT", "bo", "m1"), ("PFADD", "h1", "a"), ("PFMERGE", "h2", "h1"),
        ("SORT", "l2", "ALPHA", "STORE", "so"),
    ])


def _blocked_then_push(server, block_cmd: bytes, push_cmds):
    import socket
    c = server.client(protocol=2)
    c.flushall()
    c.config_set("notify-keyspace-events", "KEA")
    p = c.pubsub()
    p.psubscribe("__key*__:*")
    p.subscribe("sentinel")
    for _ in range(2):
        p.get_message(timeout=2)
    blocked = socket.create_connection(("127.0.0.1", server.port))
    blocked.sendall(block_cmd)
    time.sleep(0.2)
    for cmd in push_cmds:
        c.execute_command(*cmd)
    blocked.settimeout(2)
    assert blocked.recv(1000)           # the blocked client was served
    blocked.close()
    c.publish("sentinel", "end")
    msgs = []
    while True:
        m = p.get_message(timeout=2)
        assert m is not None, "sentinel not received"
        if m["channel"] == b"sentinel":
            break
        msgs.append((m["channel"], m["data"]))
    p.close()
    c.config_set("notify-keyspace-events", "")
    c.flushall()
    c.close()
    return msgs


@pytest.mark.parametrize("block_cmd,push_cmds", [
    (b"BLPOP bl 0\r\n", [("RPUSH", "bl", "x")]),
    (b"BRPOP bl 0\r\n", [("RPUSH", "bl", "x", "y")]),
    (b"BLMOVE {b}src {b}dst LEFT RIGHT 0\r\n", [("RPUSH", "{b}src", "x")]),
    (b"BLMPOP 0 1 bl RIGHT COUNT 3\r\n", [("LPUSH", "bl", "a", "b")]),
    (b"BZPOPMIN bz 0\r\n", [("ZADD", "bz", "1", "a")]),
    (b"BZPOPMAX bz 0\r\n", [("ZADD", "bz", "1", "a", "2", "b")]),
])
def test_serving_a_blocked_client_emits_its_pop_and_the_del_like_redis(
        shardis, real_redis, block_cmd, push_cmds):
    want = _blocked_then_push(real_redis, block_cmd, push_cmds)
    got = _blocked_then_push(shardis, block_cmd, push_cmds)
    assert got == want


# ------------------------------------------------------------------ generated sequences
from hypothesis import HealthCheck, given, settings, strategies as st  # noqa: E402

_K = st.sampled_from(["{h}a", "{h}b", "{h}c"])
_V = st.sampled_from(["1", "2", "x", ""])
_CMD = st.one_of(
    st.tuples(st.sampled_from(["SET", "GETSET", "APPEND", "SETNX"]), _K, _V),
    st.tuples(st.sampled_from(["INCR", "DECR", "DEL", "PERSIST", "LPOP", "RPOP", "SPOP",
                               "ZPOPMIN", "GETDEL", "GET", "LLEN"]), _K),
    st.tuples(st.sampled_from(["LPUSH", "RPUSH", "LPUSHX", "SADD", "SREM", "LREM"]), _K, _V)
    .map(lambda t: (t[0], t[1], "1", t[2]) if t[0] == "LREM" else t),
    st.tuples(st.just("HSET"), _K, _V, _V), st.tuples(st.just("HDEL"), _K, _V),
    st.tuples(st.just("ZADD"), _K, st.sampled_from(["1", "2"]), _V),
    st.tuples(st.just("ZINCRBY"), _K, st.sampled_from(["1", "2"]), _V),
    st.tuples(st.just("EXPIRE"), _K, st.sampled_from(["100", "0", "-1"])),
    st.tuples(st.sampled_from(["RENAME", "RENAMENX", "COPY", "SMOVE", "LMOVE"]), _K, _K)
    .map(lambda t: t + (("LEFT", "RIGHT") if t[0] == "LMOVE" else ("1",) if t[0] == "SMOVE"
                        else ())),
    st.tuples(st.just("SINTERSTORE"), _K, _K, _K), st.tuples(st.just("ZUNIONSTORE"), _K,
                                                               st.just("2"), _K, _K),
    st.tuples(st.just("LTRIM"), _K, st.sampled_from(["0", "1"]), st.sampled_from(["0", "-1"])),
    st.tuples(st.just("MSET"), _K, _V, _K, _V),
    st.tuples(st.sampled_from(["HINCRBY", "SETRANGE", "LSET"]), _K, st.sampled_from(["0", "1"]),
              _V).map(lambda t: (t[0], t[1], t[3] or "f", t[2]) if t[0] == "HINCRBY" else t),
    st.tuples(st.just("LINSERT"), _K, st.sampled_from(["BEFORE", "AFTER"]), _V, _V),
    st.tuples(st.sampled_from(["ZREM", "HSETNX", "SISMEMBER", "SMISMEMBER"]), _K, _V)
    .map(lambda t: t + ("v",) if t[0] == "HSETNX" else t),
    st.tuples(st.just("ZREMRANGEBYSCORE"), _K, st.just("-inf"), st.sampled_from(["1", "+inf"])),
    st.tuples(st.just("GETEX"), _K, st.sampled_from(["PERSIST", "EX"]))
    .map(lambda t: t + ("100",) if t[2] == "EX" else t),
    st.tuples(st.sampled_from(["SETEX"]), _K, st.just("100"), _V),
)


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(cmds=st.lists(_CMD, min_size=1, max_size=12),
       flags=st.sampled_from(["KEA", "KEAn", "Eg", "K$lshz", "Em", "KEAm"]))
def test_generated_command_sequences_emit_the_same_events_as_redis(shardis, real_redis, cmds,
                                                                   flags):
    same(shardis, real_redis, flags, cmds)


def test_resp3_subscriber_that_writes_gets_the_event_before_its_reply(shardis, real_redis):
    script = (b"HELLO 3\r\nCONFIG SET notify-keyspace-events KA\r\nPSUBSCRIBE __keyspace@0__:*\r\n"
              b"SET k v\r\nDEL k\r\nPING\r\n")
    outs = []
    for server in (real_redis, shardis):
        raw_command(server.port, b"FLUSHALL\r\n", expect=5)
        data = raw_command(server.port, script, timeout=1)
        outs.append(data[data.index(b"+OK\r\n"):])    # HELLO's map names the server
        raw_command(server.port, b"CONFIG SET notify-keyspace-events \"\"\r\n", expect=5)
    assert outs[1] == outs[0]


def test_flags_given_at_startup_apply_from_the_first_subscription(shardis_factory):
    s = shardis_factory("--shards", "2", "--set", "notify-keyspace-events=KEA")
    c = s.client(protocol=2)
    assert c.config_get("notify-keyspace-events") == {"notify-keyspace-events": "AKE"}
    p = c.pubsub()
    p.psubscribe("__keyevent@0__:*")
    assert p.get_message(timeout=2)["type"] == "psubscribe"
    c.set("a", "1")
    m = p.get_message(timeout=2)
    assert (m["channel"], m["data"]) == (b"__keyevent@0__:set", b"a")
    p.close()
    c.close()


# keys on different shards of the 4-shard server: coordinators, ordered
# fan-outs and the blocking commands' first try (timeouts short: a pop on an
# empty key waits 10 ms and answers nil on both servers)
_X = st.sampled_from(["a", "b", "l", "m"])
_XCMD = st.one_of(
    st.tuples(st.sampled_from(["RPUSH", "LPUSH", "SADD"]), _X, _V),
    st.tuples(st.just("ZADD"), _X, st.sampled_from(["1", "2"]), _V),
    st.tuples(st.just("SET"), _X, _V),
    st.tuples(st.sampled_from(["DEL", "UNLINK", "MGET", "EXISTS"]), _X, _X, _X),
    st.tuples(st.just("MSET"), _X, _V, _X, _V, _X, _V),
    st.tuples(st.sampled_from(["RENAME", "COPY", "SMOVE", "RPOPLPUSH"]), _X, _X)
    .map(lambda t: t + ("1",) if t[0] == "SMOVE" else t),
    st.tuples(st.just("LMOVE"), _X, _X, st.sampled_from(["LEFT", "RIGHT"]),
              st.sampled_from(["LEFT", "RIGHT"])),
    st.tuples(st.sampled_from(["BLPOP", "BRPOP", "BZPOPMIN", "BZPOPMAX"]), _X, _X,
              st.just("0.01")),
    st.tuples(st.just("BLMOVE"), _X, _X, st.just("LEFT"), st.just("RIGHT"), st.just("0.01")),
    st.tuples(st.just("LMPOP"), st.just("2"), _X, _X, st.sampled_from(["LEFT", "RIGHT"])),
    st.tuples(st.just("ZMPOP"), st.just("2"), _X, _X, st.sampled_from(["MIN", "MAX"])),
    st.tuples(st.sampled_from(["SUNIONSTORE", "SINTERSTORE", "SDIFFSTORE"]), _X, _X, _X),
    st.tuples(st.sampled_from(["ZUNIONSTORE", "ZINTERSTORE"]), _X, st.just("2"), _X, _X),
    st.tuples(st.sampled_from(["PFADD", "PFMERGE", "PFCOUNT"]), _X, _X),
    st.tuples(st.just("BITOP"), st.sampled_from(["OR", "AND"]), _X, _X, _X),
    st.tuples(st.sampled_from(["TYPE", "TTL", "TOUCH", "EXPIRETIME"]), _X),
)


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(cmds=st.lists(_XCMD, min_size=1, max_size=10), flags=st.sampled_from(["KEA", "KEAm"]))
def test_generated_sequences_over_shards_emit_the_same_events_as_redis(shardis, real_redis,
                                                                       cmds, flags):
    same(shardis, real_redis, flags, cmds)
