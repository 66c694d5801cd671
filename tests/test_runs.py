"""Runs: a pipeline of plain GETs or SETs is executed by the shard in one
loop (``RUNNERS`` in actors/shard.py, ``run_get``/``run_set`` in
server/commands/strings.py), which must answer exactly as the per-command
handlers do.  Every case here puts the command a run must not answer itself
(an expired key, a wrong type, a large value, SET with options, a watched
key, a blocked client) in the middle of a run, and compares the raw reply
bytes, INFO counters, commandstats and the slowlog with redis-server's.

Shardis runs with one shard (the default), so every key is in the same run.
"""

from __future__ import annotations

import socket
import threading
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from test_pipeline import cmd, read_replies


@pytest.fixture(scope="module")
def one_shard(tmp_path_factory):
    from conftest import start_shardis
    s = start_shardis(tmp_path_factory)
    yield s
    s.stop()


def exchange(port: int, requests: list[tuple], hello3: bool = False) -> bytes:
    payload = b"".join(cmd(*a) for a in requests)
    with socket.create_connection(("127.0.0.1", port)) as s:
        if hello3:
            s.sendall(cmd("HELLO", 3))
            read_replies(s, 1)
        s.sendall(payload)
        return read_replies(s, len(requests))


def both(one_shard, real_redis, requests, hello3=False, setup=()):
    out = []
    for srv in (one_shard, real_redis):
        if setup:
            exchange(srv.port, [("FLUSHALL",), *setup])
        out.append(exchange(srv.port, requests, hello3))
    return out


def gets(*keys):
    return [("GET", k) for k in keys]


@pytest.mark.parametrize("hello3", [False, True], ids=["resp2", "resp3"])
def test_get_run_with_misses_hits_and_every_exception_replies_like_redis(
        one_shard, real_redis, hello3):
    setup = [("SET", "s1", "v1"), ("SET", "s2", ""), ("RPUSH", "list", "x"),
             ("SET", "big", "b" * 3000), ("SET", "huge", "h" * 100_000),
             ("SET", "ttl", "t", "EX", 100), ("SET", "due", "d", "PX", 1)]
    for srv in (one_shard, real_redis):
        exchange(srv.port, [("FLUSHALL",), *setup])
    time.sleep(0.05)        # "due" has expired, nobody read it yet
    requests = (gets("s1", "nope", "s2") + gets("due", "s1") + gets("list", "s2")
                + gets("big", "s1", "huge", "ttl", "nope") + [("GET", "s1")] * 40)
    ours = exchange(one_shard.port, requests, hello3)
    theirs = exchange(real_redis.port, requests, hello3)
    assert ours == theirs


def test_set_run_with_options_ttl_and_errors_in_the_middle_replies_like_redis(one_shard, real_redis):
    setup = [("SET", "a", "old", "EX", 100), ("RPUSH", "l", "x")]
    requests = [("SET", "a", "1"), ("SET", "b", "2"), ("SET", "c", "3", "NX"),
                ("SET", "c", "4"), ("SET", "d", "5", "GET"), ("SET", "l", "str"),
                ("SET", "e", "6", "EX", "0"), ("SET", "e", "7"), ("SET", "f", "8", "XX"),
                *[("SET", f"k{i}", i) for i in range(40)],
                ("TTL", "a"), ("TYPE", "l"), ("GET", "d"), ("GET", "e"),
                ("MGET", "a", "b", "c", "f", "k0", "k39")]
    ours, theirs = both(one_shard, real_redis, requests, setup=setup)
    assert ours == theirs


def _info_fields(port: int, section: str, names: tuple) -> dict:
    with socket.create_connection(("127.0.0.1", port)) as s:
        s.sendall(cmd("INFO", section))
        text = read_replies(s, 1).decode()
    return {line.split(":", 1)[0]: line.split(":", 1)[1] for line in text.split("\r\n")
            if ":" in line and line.split(":", 1)[0] in names}


def test_runs_count_hits_misses_and_commandstats_calls_like_redis(one_shard, real_redis):
    requests = ([("SET", f"k{i}", i) for i in range(25)] + gets(*[f"k{i}" for i in range(30)])
                + [("SET", "x", "1", "NX")] + gets("x", "y") + [("SET", "k1", "z")] * 5)
    results = []
    for srv in (one_shard, real_redis):
        exchange(srv.port, [("FLUSHALL",), ("CONFIG", "RESETSTAT")])
        exchange(srv.port, requests)
        stats = _info_fields(srv.port, "stats", ("keyspace_hits", "keyspace_misses"))
        calls = {k: v.split(",")[:1] + v.split(",")[3:]   # calls, rejected, failed: not usec
                 for k, v in _info_fields(srv.port, "commandstats",
                                          ("cmdstat_get", "cmdstat_set")).items()}
        results.append((stats, calls))
    assert results[0] == results[1]
    assert results[0][0] == {"keyspace_hits": "26", "keyspace_misses": "6"}


def test_every_command_of_a_run_is_in_the_slowlog_when_the_threshold_is_zero(one_shard, real_redis):
    requests = [("SET", "a", "1"), ("SET", "b", "2"), *gets("a", "b", "c"), ("SET", "c", "3")]
    logged = []
    for srv in (one_shard, real_redis):
        c = srv.client(protocol=2)
        c.flushall()
        c.config_set("slowlog-log-slower-than", 0)
        c.slowlog_reset()
        try:
            exchange(srv.port, requests)
            entries = c.slowlog_get(128)
        finally:
            c.config_set("slowlog-log-slower-than", 10000)
            c.close()
        logged.append([e["command"] for e in reversed(entries)
                       if not e["command"].startswith((b"SLOWLOG", b"CONFIG"))])
    assert logged[0] == logged[1]
    assert logged[0] == [b"SET a 1", b"SET b 2", b"GET a", b"GET b", b"GET c", b"SET c 3"]


def test_a_watched_key_set_by_a_pipelined_run_aborts_the_transaction(one_shard, real_redis):
    for srv in (one_shard, real_redis):
        c = srv.client(protocol=2)
        c.flushall()
        p = c.pipeline(transaction=True)
        p.watch("w")
        p.multi()
        p.set("w", "mine")
        exchange(srv.port, [("SET", "a", "1"), ("SET", "w", "theirs"), ("SET", "b", "2")])
        with pytest.raises(Exception, match="[Ww]atch"):
            p.execute()
        assert c.get("w") == b"theirs"
        c.close()


def test_a_client_blocked_on_a_key_is_served_by_a_push_inside_a_set_run(one_shard, real_redis):
    results = []
    for srv in (one_shard, real_redis):
        c = srv.client(protocol=2)
        c.flushall()
        got = []
        b = srv.client(protocol=2)
        t = threading.Thread(target=lambda: got.append(b.blpop("q", 5)))
        t.start()
        deadline = time.monotonic() + 5
        while c.info("clients")["blocked_clients"] < 1:
            assert time.monotonic() < deadline
            time.sleep(0.01)
        replies = exchange(srv.port, [("SET", "a", "1"), ("SET", "q2", "2"), ("RPUSH", "q", "x"),
                                      ("SET", "b", "3"), ("LLEN", "q"), ("GET", "b")])
        t.join(5)
        results.append((replies, got))
        b.close()
        c.close()
    assert results[0] == results[1]
    assert results[0][1] == [(b"q", b"x")]


def test_a_runner_that_raises_leaves_its_commands_to_the_per_command_path():
    """In process: a runner failing half-way (here on purpose; in life a
    MemoryError) must not lose the batch.  What it appended is dropped and
    the commands run one by one, so the replies are still whole."""
    import server.commands  # noqa: F401 - registers the handlers and runners
    from actors.messages import Batch
    from actors.shard import RUNNERS, ShardActor
    from server.commands.strings import cmd_get

    class Bridge:           # what the loop's LoopBridge receives
        def __init__(self):
            self.posted = []

        def post(self, item):
            self.posted.append(item)

    def broken(db, items, i, replies, proto):
        replies.append(b"garbage")
        raise MemoryError("simulated")

    bridge = Bridge()
    shard = ShardActor(0, 1, bridge)
    shard.dbs[0].set(b"a", b"1")
    batch = Batch(None, 0, 2)
    batch.items = [(cmd_get, [b"GET", b"a"], None, 0), (cmd_get, [b"GET", b"b"], None, 0)]
    saved = RUNNERS[cmd_get]
    RUNNERS[cmd_get] = broken
    try:
        shard.on_receive(batch)
    finally:
        RUNNERS[cmd_get] = saved
    assert bridge.posted == [batch]
    assert batch.replies == [b"$1\r\n1\r\n", b"$-1\r\n"]
    assert shard.dbs[0].hits == 1 and shard.dbs[0].misses == 1


# ---------------------------------------------------------------- flat runs, in process

def _shard_with(store, bridge):
    from actors.shard import ShardActor
    shard = ShardActor(0, 1, bridge)
    db = shard.dbs[0]
    for k, v in store.items():
        if v == "list":
            db.data[k] = __import__("collections").deque([b"x"])
        else:
            db.set(k, v)
    return shard, db


class _Bridge:
    def __init__(self):
        self.posted = []

    def post(self, item):
        self.posted.append(item)


_keys = st.sampled_from([b"a", b"b", b"c", b"big", b"list", b"due", b"none"])
_segment = st.one_of(
    st.tuples(st.just("gets"), st.lists(_keys, min_size=1, max_size=6)),
    st.tuples(st.just("sets"), st.lists(st.tuples(_keys, st.sampled_from([b"1", b"22"])),
                                        min_size=1, max_size=6)),
    st.tuples(st.just("setnx"), _keys),
    st.tuples(st.just("incr"), _keys))


@settings(max_examples=150, deadline=None)
@given(segments=st.lists(_segment, min_size=1, max_size=6), slow=st.booleans(),
       proto=st.sampled_from([2, 3]))
def test_a_batch_with_flat_runs_runs_as_the_same_batch_of_items(segments, slow, proto):
    """A batch of flat runs (the C parser's shape for pipelined GETs and
    SETs) and other items gives the replies, keyspace, hits, misses,
    commandstats, command count and slowlog of the same requests as
    ordinary items, wherever a runner stops (an expired key, a wrong type, a
    value of 1 KiB or more, a SET the per-command path must answer)."""
    import server.commands  # noqa: F401 - registers the handlers and runners
    from actors.messages import RUN, Batch, count_commands, expand_runs
    from server.commands.strings import cmd_get, cmd_incr, cmd_set

    items = []
    for kind, arg in segments:
        if kind == "gets":
            items.append((cmd_get, [b"GET", *arg], RUN, 1))
        elif kind == "sets":
            items.append((cmd_set, [b"SET", *[x for kv in arg for x in kv]], RUN, 2))
        elif kind == "setnx":
            items.append((cmd_set, [b"SET", arg, b"n", b"NX"], None, 0))
        else:
            items.append((cmd_incr, [b"INCR", arg], None, 0))
    store = {b"a": b"1", b"b": b"x", b"big": b"v" * 2000, b"list": "list", b"due": b"d"}
    out = []
    for shape in ("flat", "items"):
        bridge = _Bridge()
        shard, db = _shard_with(store, bridge)
        db.expires[b"due"] = 1          # long past
        if slow:
            shard.slowlog_threshold_ns = 0
            shard.update_slow_ns()
        batch = Batch(None, 0, proto)
        batch.items = [(f, list(a), s, p) for f, a, s, p in items]
        if shape == "items":
            expand_runs(batch.items)
            assert RUN not in [it[2] for it in batch.items]
        n = count_commands(batch.items)
        shard.on_receive(batch)
        assert bridge.posted[-1] is batch and len(batch.replies) == n
        stats = {fn.__name__: cs for fn, cs in shard.cmdstats.items()}
        out.append((batch.replies, sorted(db.data.items(), key=repr), db.hits, db.misses,
                    {k: (v[0], v[2]) for k, v in stats.items()}, shard.stats.commands,
                    [e[2] for e in shard.slow]))
    assert out[0] == out[1]


def test_a_flat_runner_that_raises_leaves_its_requests_to_the_per_command_path():
    import server.commands  # noqa: F401
    from actors.messages import RUN, Batch
    from actors.shard import FLAT_RUNNERS
    from server.commands.strings import cmd_get

    def broken(db, flat, width, replies, proto):
        replies.append(b"garbage")
        raise MemoryError("simulated")

    for lead in ([], [(cmd_get, [b"GET", b"a"], None, 0)]):   # lean path, general loop
        bridge = _Bridge()
        shard, db = _shard_with({b"a": b"1"}, bridge)
        batch = Batch(None, 0, 2)
        batch.items = lead + [(cmd_get, [b"GET", b"a", b"b", b"a"], RUN, 1)]
        saved = FLAT_RUNNERS[cmd_get]
        FLAT_RUNNERS[cmd_get] = broken
        try:
            shard.on_receive(batch)
        finally:
            FLAT_RUNNERS[cmd_get] = saved
        one = b"$1\r\n1\r\n"
        assert batch.replies == [one] * len(lead) + [one, b"$-1\r\n", one]
        assert (db.hits, db.misses) == (2 + len(lead), 1)
        assert shard.stats.commands == 3 + len(lead)


def test_a_dead_shard_answers_each_request_of_a_flat_run():
    """server/failures.py: the batches a dead shard leaves get one error
    reply per request, flat runs included."""
    from types import SimpleNamespace
    from actors.messages import RUN, Batch
    from server.commands.strings import cmd_get
    from server.failures import DownInbox

    bridge = _Bridge()
    down = DownInbox(SimpleNamespace(bridge=bridge), 1)
    batch = Batch(None, 0, 2)
    batch.items = [(cmd_get, [b"GET", b"a", b"b"], RUN, 1), (cmd_get, [b"GET", b"c"], None, 0)]
    down([batch])
    assert bridge.posted == [batch] and len(batch.replies) == 3
    assert len(set(batch.replies)) == 1 and batch.replies[0].startswith(b"-")
