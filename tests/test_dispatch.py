"""The request path's batching: per-run commandstats on the shard, the
sequencer's slices, and the Dispatcher that merges many connections' batches
into one message per shard per loop iteration (actors/dispatch.py).

With more than two connections open, batches take the Dispatcher; these tests
open several so that the merged path is what runs, and check what it must not
change: each connection's own order, cross-shard atomicity, exact counters,
and no client left waiting when a shard dies under load."""

from __future__ import annotations

import os
import threading

import pytest
import redis

N_CLIENTS = 8


def _run_threads(fns, timeout=60):
    errors = []

    def wrap(fn):
        try:
            fn()
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)
    ts = [threading.Thread(target=wrap, args=(f,)) for f in fns]
    for t in ts:
        t.start()
    for t in ts:
        t.join(timeout)
    assert not any(t.is_alive() for t in ts), "a client is still waiting"
    if errors:
        raise errors[0]


def test_many_pipelining_connections_each_see_their_own_writes_in_order(shardis, r):
    def client(c):
        def run():
            cl = shardis.client(socket_timeout=20)
            for rnd in range(20):
                p = cl.pipeline(transaction=False)
                for j in range(25):
                    k = f"c{c}:k{j % 7}"
                    p.set(k, f"{rnd}:{j}")
                    p.get(k)
                    p.incr(f"c{c}:n")
                    p.incr("shared")
                out = p.execute()
                base = rnd * 25
                for j in range(25):
                    s, g, n, _ = out[4 * j:4 * j + 4]
                    assert s is True
                    assert g == f"{rnd}:{j}".encode()
                    assert n == base + j + 1
            cl.close()
        return run
    _run_threads([client(c) for c in range(N_CLIENTS)])
    assert int(r.get("shared")) == N_CLIENTS * 20 * 25
    for c in range(N_CLIENTS):
        assert int(r.get(f"c{c}:n")) == 20 * 25


def test_direct_sends_never_overtake_batches_queued_before_them(shardis, r):
    # a pipeline mixing batched single-key commands with transactions, MSETNX
    # (a cross-shard coordinator) and fan-outs, from several connections at
    # once, so merged batches and direct sends interleave on the loop
    keys = [f"k{i}" for i in range(12)]

    def client(c):
        def run():
            cl = shardis.client(socket_timeout=20)
            for rnd in range(15):
                tag = f"{c}:{rnd}"
                p = cl.pipeline(transaction=False)
                p.set(f"own{c}", tag)
                p.execute_command("MULTI")
                p.get(f"own{c}")
                p.set(f"tx{c}", tag)
                p.execute_command("EXEC")
                p.get(f"tx{c}")
                p.delete(*[f"nx{c}:{k}" for k in keys])
                p.msetnx({f"nx{c}:{k}": tag for k in keys})
                p.mget([f"nx{c}:{k}" for k in keys])
                p.set(f"own{c}", tag + "!")
                p.get(f"own{c}")
                out = p.execute()
                assert out[2] == b"QUEUED" and out[3] in (b"QUEUED", False)  # redis-py SET callback
                assert out[4] in ([tag.encode(), b"OK"], [tag.encode(), True])
                assert out[5] == tag.encode()
                assert out[7] is True
                assert out[8] == [tag.encode()] * len(keys)
                assert out[10] == (tag + "!").encode()
            cl.close()
        return run
    _run_threads([client(c) for c in range(N_CLIENTS)])


def test_commandstats_count_runs_of_one_command_exactly_like_redis(shardis, real_redis, r, rr):
    for c in (r, rr):
        c.config_resetstat()
        c.set("s", "abc")
        p = c.pipeline(transaction=False)
        for i in range(40):
            p.get("s")
        for i in range(5):
            p.execute_command("INCR", "s")   # fails: not an integer
        for i in range(10):
            p.get("s")
            p.set("t", i)
        p.get("missing")
        p.execute(raise_on_error=False)
    def stats(c):
        info = c.info("commandstats")
        return {k: (v["calls"], v["failed_calls"], v["rejected_calls"])
                for k, v in info.items() if k in ("cmdstat_get", "cmdstat_set", "cmdstat_incr")}
    assert stats(r) == stats(rr)
    assert stats(r)["cmdstat_get"] == (51, 0, 0)
    assert stats(r)["cmdstat_incr"] == (5, 5, 0)


def test_bulk_replies_of_every_length_class_match_redis(shardis, real_redis, r, rr):
    # the shard encodes bulk replies itself: short values with a prebuilt
    # header, longer ones formatted, and empty strings
    sizes = [0, 1, 9, 10, 99, 100, 1023, 1024, 1025, 70000]
    for c in (r, rr):
        p = c.pipeline(transaction=False)
        for n in sizes:
            p.set(f"v{n}", b"x" * n)
            p.get(f"v{n}")
        p.get("nope")
        p.execute()
    for n in sizes:
        assert r.get(f"v{n}") == rr.get(f"v{n}") == b"x" * n
    for proto in (2, 3):
        a = shardis.client(protocol=proto)
        b = real_redis.client(protocol=proto)
        assert a.mget([f"v{n}" for n in sizes] + ["nope"]) == \
            b.mget([f"v{n}" for n in sizes] + ["nope"])
        assert a.get("nope") is None and b.get("nope") is None


def test_a_shard_killed_under_many_pipelining_connections_leaves_no_client_waiting(
        shardis_factory):
    s = shardis_factory("--shards", "4", "--set", "enable-debug-command=yes")
    c = s.client(socket_timeout=10)
    keys = [f"key:{i}" for i in range(200)]
    c.mset({k: k for k in keys})
    stop = threading.Event()
    seen = {"ok": 0, "down": 0}
    lock = threading.Lock()

    def load():
        cl = s.client(socket_timeout=10)
        while not stop.is_set():
            p = cl.pipeline(transaction=False)
            for k in keys:
                p.get(k)
            for k, v in zip(keys, p.execute(raise_on_error=False)):
                with lock:
                    if isinstance(v, redis.ResponseError):
                        assert str(v) == "shard 1 is down"
                        seen["down"] += 1
                    else:
                        assert v == k.encode()
                        seen["ok"] += 1
        cl.close()

    def killer():
        import time
        time.sleep(0.4)
        assert c.execute_command("DEBUG", "SHARD-KILL", "1") == b"OK"
        time.sleep(0.4)
        stop.set()
    _run_threads([load] * N_CLIENTS + [killer], timeout=30)
    assert seen["ok"] > 0 and seen["down"] > 0
    # every later request still gets an answer, from live and dead shards
    res = [c.pipeline(transaction=False).get(k).execute(raise_on_error=False)[0] for k in keys]
    assert all(v == k.encode() or (isinstance(v, redis.ResponseError)
                                   and str(v) == "shard 1 is down")
               for k, v in zip(keys, res))


def test_cpu_affinity_pins_the_loop_and_every_shard_thread(shardis_factory):
    import os
    cpu = sorted(os.sched_getaffinity(0))[-1]
    s = shardis_factory("--shards", "3", "--cpu-affinity", str(cpu))
    c = s.client()
    c.set("k", "v")
    assert c.get("k") == b"v"
    masks = _thread_masks(s.proc.pid)
    assert len(masks) >= 4 and set(masks) == {str(cpu)}   # loop + 3 shards at least


def _answer(*servers) -> None:
    """Each server stores and reads a key (its threads have all started)."""
    for s in servers:
        c = s.client()
        c.set("k", "v")
        assert c.get("k") == b"v"
        c.close()


def _thread_masks(pid: int) -> list[str]:
    import glob
    masks = []
    for path in glob.glob(f"/proc/{pid}/task/*/status"):
        with open(path) as f:
            masks += [ln.split(":", 1)[1].strip() for ln in f if ln.startswith("Cpus_allowed_list")]
    return masks


def test_by_default_every_thread_shares_one_cpu_and_none_leaves_the_mask(shardis_factory):
    import os
    allowed = os.sched_getaffinity(0)
    if len(allowed) < 2:
        pytest.fail("this test needs a machine with two CPUs or more")
    pinned = shardis_factory("--shards", "2")
    free = shardis_factory("--shards", "2", "--cpu-affinity", "none")
    _answer(pinned, free)
    masks = _thread_masks(pinned.proc.pid)
    assert len(masks) >= 3 and len(set(masks)) == 1       # loop + 2 shards at least
    assert int(masks[0]) in allowed
    with open(pinned.log_path) as f:
        assert f"with 2 shards, on CPU {masks[0]}" in f.read()
    with open(f"/proc/{free.proc.pid}/status") as f:
        mask = [ln.split(":", 1)[1].strip() for ln in f if ln.startswith("Cpus_allowed_list")]
    with open("/proc/self/status") as f:
        ours = [ln.split(":", 1)[1].strip() for ln in f if ln.startswith("Cpus_allowed_list")]
    assert mask == ours


def _thread_policies(pid: int) -> list[int]:
    import glob
    return [os.sched_getscheduler(int(path.rsplit("/", 1)[1]))
            for path in glob.glob(f"/proc/{pid}/task/*")]


def test_every_thread_runs_under_sched_batch_only_when_asked(shardis_factory):
    batch = shardis_factory("--shards", "2", "--sched", "batch")
    normal = shardis_factory("--shards", "2")
    _answer(batch, normal)
    # the loop, both shards and any helper thread
    policies = _thread_policies(batch.proc.pid)
    assert len(policies) >= 3 and set(policies) == {os.SCHED_BATCH}
    assert set(_thread_policies(normal.proc.pid)) == {os.SCHED_OTHER}
    with open(batch.log_path) as f:
        assert "(SCHED_BATCH)" in f.read()
    with open(normal.log_path) as f:
        assert "(SCHED_OTHER)" in f.read()


def test_an_invalid_cpu_list_is_refused_at_start():
    import subprocess
    import sys
    p = subprocess.run([sys.executable, "-m", "server", "--cpu-affinity", "1-x", "--port", "0"],
                       capture_output=True, text=True, timeout=30,
                       cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    assert p.returncode == 2 and "invalid CPU list '1-x'" in p.stderr


@pytest.mark.parametrize("events", ["", "KEA"], ids=["plain", "keyspace-events-on"])
def test_cross_shard_commands_count_once_in_commandstats_like_redis(shardis, real_redis, r, rr,
                                                                     events):
    # fan-outs (DEL/EXISTS/MGET/MSET, and the ordered hops used while keyspace
    # events are on), Route.ALL commands (DBSIZE, KEYS) and coordinators
    # (RENAME, SUNIONSTORE across shards) are one call each, as in Redis;
    # a fan-out that fails while being routed is one failed call
    # with 4 shards: k0..k7 cover every shard, k5 -> k0 and s1/s2/s3 each
    # cross shards (3 -> 2; 3, 0, 1: slot * 4 // 16384)
    keys = [f"k{i}" for i in range(8)]
    def run(c):
        c.config_set("notify-keyspace-events", events)
        c.flushall()
        c.config_resetstat()
        c.mset({k: "1" for k in keys})
        c.mget(keys)
        c.exists(*keys)
        c.delete(*keys[:4])
        c.dbsize()
        c.keys("*")
        c.rename("k5", "k0")
        c.sadd("s1", "x")
        c.sadd("s2", "y")
        c.sunionstore("s3", ["s1", "s2"])
        try:
            c.execute_command("MSET", "a", "1", "b")
        except redis.ResponseError:
            pass
        info = c.info("commandstats")
        c.config_set("notify-keyspace-events", "")
        return {k: (v["calls"], v["failed_calls"], v["rejected_calls"]) for k, v in info.items()
                if k.split("_", 1)[1] in ("mset", "mget", "exists", "del", "dbsize", "keys",
                                          "rename", "sadd", "sunionstore")}
    ours, theirs = run(r), run(rr)
    assert ours == theirs
    assert ours["cmdstat_del"] == (1, 0, 0)
    assert ours["cmdstat_sunionstore"] == (1, 0, 0)


def test_one_shard_routes_multi_key_commands_in_the_parser_and_counts_them(shardis_default):
    # with one shard the C parser batches MGET/MSET/DEL/RENAME... itself
    # (server.table.fast_table(one_shard=True)); replies, commandstats and
    # CLIENT LIST's cmd= are what execute() gives
    c = redis.Redis(port=shardis_default.port)
    other = redis.Redis(port=shardis_default.port)
    c.flushall()            # a server shared with other modules' tests
    c.config_resetstat()
    p = c.pipeline(transaction=False)
    for i in range(50):
        p.mset({f"a{i}": i, f"b{i}": i})
        p.mget(f"a{i}", f"b{i}", "nokey")
        p.execute_command("MSET", "x", "1", "y")    # the handler's arity error
        p.execute_command("MSET", "odd")            # the table's (rejected)
        p.exists(f"a{i}", f"b{i}", f"a{i}")
        p.rename(f"a{i}", f"c{i}")
        p.delete(f"b{i}", f"c{i}")
    out = p.execute(raise_on_error=False)
    assert out[:7] == [True, [b"0", b"0", None], out[2], out[3], 3, True, 2]
    assert str(out[2]) == str(out[3]) == "wrong number of arguments for 'mset' command"
    p = c.pipeline(transaction=False)
    for _ in range(3):
        p.mget("x", "y")
    p.execute()
    cmd = [cl["cmd"] for cl in other.client_list() if cl["id"] != str(other.client_id())]
    assert cmd == ["mget"]
    stats = c.info("commandstats")
    assert (stats["cmdstat_mset"]["calls"], stats["cmdstat_mset"]["failed_calls"],
            stats["cmdstat_mset"]["rejected_calls"]) == (100, 50, 50)
    assert stats["cmdstat_mget"]["calls"] == 53 and stats["cmdstat_del"]["calls"] == 50
    assert stats["cmdstat_rename"]["calls"] == 50 and stats["cmdstat_exists"]["calls"] == 50
    assert c.dbsize() == 0
    c.close()
    other.close()
