"""Blocking list commands: BLPOP, BRPOP, BLMOVE, BRPOPLPUSH, BLMPOP.

Replies and errors are compared with redis-server; the concurrency tests use
real threads and connections against Shardis (4 shards): producers and
consumers on keys spread over shards, every element delivered exactly once,
nothing lost when consumers time out or disconnect, FIFO among clients
blocked on one key, timeouts honoured, pipelined commands waiting behind a
blocked command, CLIENT UNBLOCK.
"""

from __future__ import annotations

import socket
import threading
import time

import hiredis
import pytest
import redis

from tests.test_lists import Raw


def shard_keys(n: int) -> list[str]:
    """Key names on distinct shards of a 4-shard server (slot ranges)."""
    from actors.slots import SlotMap
    sm = SlotMap(4)
    found: dict[int, str] = {}
    i = 0
    while len(found) < n:
        k = f"k{i}"
        found.setdefault(sm.shard_of(k.encode()), k)
        i += 1
    return list(found.values())


@pytest.fixture
def pair(shardis, real_redis):
    a, b = Raw(shardis.port), Raw(real_redis.port)
    a.cmd("FLUSHALL")
    b.cmd("FLUSHALL")
    yield a, b
    a.close()
    b.close()


def same(pair, *args):
    a, b = pair
    ra, rb = a.cmd(*args), b.cmd(*args)
    assert ra == rb, f"{args}: shardis {ra!r} != redis {rb!r}"
    return ra


def wait_blocked(r, n: int, timeout: float = 5.0) -> None:
    """Until n clients are blocked (CLIENT LIST flags=b, or INFO when CLIENT
    is not available)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if blocked_count(r) >= n:
            return
        time.sleep(0.01)
    raise AssertionError(f"{n} clients not blocked in time (have {blocked_count(r)})")


def blocked_count(r) -> int:
    try:
        return sum(1 for c in r.client_list() if "b" in c["flags"])
    except redis.ResponseError:
        return int(r.info("clients").get("blocked_clients", 0))


# --------------------------------------------------------------- replies and errors
def test_timeout_argument_errors_match_redis(pair):
    for t in ["x", "", " 1", "1 ", "-1", "-0.5", "inf", "-inf", "nan", "1e20", "9.3e15",
              "1_0", "+inf", "infinity", "1e5000", "0x"]:
        same(pair, "blpop", "nokey", t)
        same(pair, "blmove", "nokey", "d", "left", "left", t)
        same(pair, "blmpop", t, "1", "nokey", "left")
        same(pair, "brpoplpush", "nokey", "d", t)


@pytest.mark.parametrize("t", ["0.01", "1e-5", "0x0.1p-4", "+0.01", ".01", "1e-300"])
def test_short_timeouts_in_any_float_syntax_time_out_like_redis(pair, t):
    same(pair, "blpop", "nokey", t)
    same(pair, "brpop", "nokey", "other", t)
    same(pair, "blmove", "nokey", "d", "left", "left", t)    # *-1, Redis's quirk
    same(pair, "brpoplpush", "nokey", "d", t)
    same(pair, "blmpop", t, "2", "nokey", "other", "right", "count", "3")


def test_non_blocking_paths_pop_in_key_order_and_report_wrongtype_like_redis(pair):
    for cmd in [["rpush", "b", "1", "2"], ["rpush", "c", "3"], ["set", "s", "v"],
                ["blpop", "a", "b", "c", "0"], ["brpop", "a", "c", "b", "0"],
                ["blpop", "a", "s", "b", "0"], ["blpop", "b", "s", "0"],
                ["blmpop", "0", "3", "a", "s", "b", "left"],
                ["rpush", "b", "x", "y", "z"],
                ["blmpop", "0", "2", "a", "b", "right", "count", "2"],
                ["blmove", "b", "s", "left", "left", "0"],
                ["blmove", "b", "c", "left", "right", "0"], ["lrange", "c", "0", "-1"],
                ["rpush", "b", "p", "q"], ["brpoplpush", "b", "{b}d", "0"], ["lrange", "{b}d", "0", "-1"],
                ["blmove", "b", "x", "up", "left", "0"], ["blmove", "b", "x", "left", "up", "-1"],
                ["blmpop", "0", "0", "a", "left"], ["blmpop", "0", "5", "a", "left"],
                ["blmpop", "0", "1", "a", "middle"], ["blmpop", "0", "1", "a", "left", "count", "0"],
                ["blmpop", "x", "1", "a", "left"]]:
        same(pair, *cmd)


def test_blocking_commands_inside_multi_run_as_non_blocking_like_redis(pair):
    a, b = pair
    for c in (a, b):
        c.cmd("RPUSH", "full", "v")
    for cmd in [["multi"], ["blpop", "nokey", "0"], ["brpop", "nokey", "other", "0"],
                ["blmove", "nokey", "x", "left", "left", "0"], ["brpoplpush", "nokey", "x", "0"],
                ["blmpop", "0", "1", "nokey", "left"], ["blpop", "nokey", "-1"],
                ["blpop", "full", "0"], ["exec"]]:
        same(pair, *cmd)


def test_blocking_across_shards_inside_multi_does_not_block(r):
    k1, k2 = shard_keys(2)
    r.rpush(k2, "v")
    p = r.pipeline(transaction=True)
    p.blpop([k1, k2], 0)
    p.blmove(k1, k2, 0, "LEFT", "RIGHT")
    p.rpush(k1, "w")
    p.blmove(k1, k2, 0, "LEFT", "RIGHT")
    assert p.execute() == [(k2.encode(), b"v"), None, 1, b"w"]
    assert r.lrange(k2, 0, -1) == [b"w"]


def test_resp3_timeout_and_served_replies_match_redis(shardis, real_redis):
    a, b = Raw(shardis.port, 3), Raw(real_redis.port, 3)
    try:
        for c in (a, b):
            c.cmd("FLUSHALL")
            c.cmd("RPUSH", "l", "a", "b")
        for cmd in [["blpop", "nokey", "0.01"], ["blmove", "nokey", "x", "left", "left", "0.01"],
                    ["blmpop", "0.01", "1", "nokey", "left"], ["blpop", "l", "0"],
                    ["blmpop", "0", "1", "l", "left", "count", "5"]]:
            assert a.cmd(*cmd) == b.cmd(*cmd), cmd
    finally:
        a.close()
        b.close()


# --------------------------------------------------------------- blocking behaviour
def test_blpop_waits_and_is_served_by_a_later_push(shardis, r):
    c = shardis.client()
    out = []
    t = threading.Thread(target=lambda: out.append(c.blpop(["q"], 5)))
    t.start()
    wait_blocked(r, 1)
    assert r.rpush("q", "x", "y", "z") == 3
    t.join(5)
    assert out == [(b"q", b"x")]
    assert r.lrange("q", 0, -1) == [b"y", b"z"]


def test_variadic_lpush_serves_the_head_after_the_whole_command(shardis, r):
    c = shardis.client()
    out = []
    t = threading.Thread(target=lambda: out.append(c.blpop(["q"], 5)))
    t.start()
    wait_blocked(r, 1)
    r.lpush("q", "a", "b", "c")
    t.join(5)
    assert out == [(b"q", b"c")]


def test_multi_exec_serves_blocked_clients_only_after_exec_like_redis(shardis, r):
    c = shardis.client()
    out = []
    t = threading.Thread(target=lambda: out.append(c.blpop(["q"], 5)))
    t.start()
    wait_blocked(r, 1)
    p = r.pipeline(transaction=True)
    p.lpush("q", "a")
    p.lpush("q", "b")
    p.lpush("q", "c")
    p.execute()
    t.join(5)
    assert out == [(b"q", b"c")]
    # and a transaction that pushes then empties the list serves nobody
    out.clear()
    r.delete("q")
    t = threading.Thread(target=lambda: out.append(c.blpop(["q"], 0.5)))
    t.start()
    wait_blocked(r, 1)
    p = r.pipeline(transaction=True)
    p.rpush("q", "x")
    p.lpop("q")
    p.execute()
    t.join(5)
    assert out == [None]


def test_blpop_on_keys_of_several_shards_is_served_by_whichever_gets_data(shardis, r):
    keys = shard_keys(4)
    for target in keys:
        c = shardis.client()
        out = []
        t = threading.Thread(target=lambda c=c: out.append(c.blpop(keys, 5)))
        t.start()
        wait_blocked(r, 1)
        r.rpush(target, "v")
        t.join(5)
        assert out == [(target.encode(), b"v")]
        assert all(r.exists(k) == 0 for k in keys)
        c.close()
        time.sleep(0.05)
        assert blocked_count(r) == 0


def test_timeout_of_a_tenth_of_a_second_is_honoured(shardis):
    c = shardis.client()
    for cmd in (lambda: c.blpop(["nokey"], 0.1), lambda: c.brpop(["a", "b", "c"], 0.1),
                lambda: c.blmove("nokey", "d", 0.1), lambda: c.brpoplpush("nokey", "d", 0.1),
                lambda: c.blmpop(0.1, 2, "nokey", "x", direction="LEFT")):
        t0 = time.monotonic()
        assert cmd() is None
        dt = time.monotonic() - t0
        assert 0.09 <= dt < 0.6, dt


def test_fifo_the_longest_waiting_client_is_served_first(shardis, r):
    clients = [shardis.client() for _ in range(5)]
    results: dict[int, object] = {}
    threads = []
    for i, c in enumerate(clients):
        t = threading.Thread(target=lambda i=i, c=c: results.__setitem__(i, c.brpop(["q"], 5)))
        t.start()
        threads.append(t)
        wait_blocked(r, i + 1)       # register strictly in order
    for i in range(5):
        r.lpush("q", f"e{i}")
        threads[i].join(5)
        assert results[i] == (b"q", f"e{i}".encode()), (i, results)
    for c in clients:
        c.close()


def test_pipelined_commands_after_blpop_wait_for_its_reply(shardis, r):
    s = socket.create_connection(("127.0.0.1", shardis.port), timeout=5)
    s.sendall(b"*3\r\n$5\r\nBLPOP\r\n$1\r\nq\r\n$1\r\n0\r\n"
              b"*2\r\n$4\r\nLLEN\r\n$1\r\nq\r\n*1\r\n$4\r\nPING\r\n")
    wait_blocked(r, 1)
    s.settimeout(0.2)
    with pytest.raises(socket.timeout):
        s.recv(100)           # nothing: PING and LLEN wait behind BLPOP
    r.rpush("q", "a", "b")
    s.settimeout(5)
    want = b"*2\r\n$1\r\nq\r\n$1\r\na\r\n:1\r\n+PONG\r\n"
    got = b""
    while len(got) < len(want):
        got += s.recv(100)
    assert got == want
    s.close()


@pytest.mark.parametrize("same_shard", [True, False])
def test_blmove_waits_then_moves_to_the_destination(shardis, r, same_shard):
    from actors.slots import SlotMap
    sm = SlotMap(4)
    src = "src"
    dst = "{src}dst" if same_shard else next(
        k for k in shard_keys(4) if sm.shard_of(k.encode()) != sm.shard_of(b"src"))
    c = shardis.client()
    out = []
    t = threading.Thread(target=lambda: out.append(c.blmove(src, dst, 5, "RIGHT", "LEFT")))
    t.start()
    wait_blocked(r, 1)
    r.rpush(dst, "old")
    r.rpush(src, "a", "b")
    t.join(5)
    assert out == [b"b"]
    assert r.lrange(src, 0, -1) == [b"a"]
    assert r.lrange(dst, 0, -1) == [b"b", b"old"]


def test_blmove_onto_a_wrongtype_destination_errors_when_served_and_keeps_the_element(shardis, r):
    c = shardis.client()
    out = []

    def run():
        try:
            c.blmove("src", "{src}dst", 5)
        except redis.ResponseError as e:
            out.append(str(e))
    t = threading.Thread(target=run)
    t.start()
    wait_blocked(r, 1)
    r.set("{src}dst", "string")
    r.rpush("src", "a")
    t.join(5)
    assert out == ["WRONGTYPE Operation against a key holding the wrong kind of value"]
    assert r.lrange("src", 0, -1) == [b"a"]


def test_served_blocked_client_wakes_a_client_blocked_on_the_blmove_destination(shardis, r):
    c1, c2 = shardis.client(), shardis.client()
    out1, out2 = [], []
    t2 = threading.Thread(target=lambda: out2.append(c2.blpop(["{x}dst"], 5)))
    t2.start()
    wait_blocked(r, 1)
    t1 = threading.Thread(target=lambda: out1.append(c1.blmove("{x}src", "{x}dst", 5)))
    t1.start()
    wait_blocked(r, 2)
    r.rpush("{x}src", "v")
    t1.join(5)
    t2.join(5)
    assert out1 == [b"v"] and out2 == [(b"{x}dst", b"v")]
    assert r.exists("{x}src", "{x}dst") == 0


def test_client_list_shows_blocked_flag_while_waiting(shardis, r):
    c = shardis.client()
    t = threading.Thread(target=lambda: c.blpop(["q"], 5))
    t.start()
    wait_blocked(r, 1)
    r.rpush("q", "x")
    t.join(5)
    assert blocked_count(r) == 0


def test_client_unblock_with_timeout_and_error(shardis, r):
    # CLIENT UNBLOCK is registered by blocking.py under the CLIENT container
    assert r.execute_command("CLIENT", "UNBLOCK", "999999") == 0
    c = shardis.client()
    cid = c.client_id()
    out = []

    def run():
        try:
            out.append(c.blpop(["q"], 0))
        except redis.ResponseError as e:
            out.append(str(e))
    t = threading.Thread(target=run)
    t.start()
    wait_blocked(r, 1)
    assert r.client_unblock(cid) == 1
    t.join(5)
    assert out == [None]
    assert r.client_unblock(cid) == 0
    t = threading.Thread(target=run)
    t.start()
    wait_blocked(r, 1)
    assert r.client_unblock(cid, error=True) == 1
    t.join(5)
    assert out[-1] == "UNBLOCKED client unblocked via CLIENT UNBLOCK"
    r.rpush("q", "kept")
    assert r.lrange("q", 0, -1) == [b"kept"]


def test_disconnecting_blocked_client_stops_waiting_and_loses_nothing(shardis, r):
    s = socket.create_connection(("127.0.0.1", shardis.port), timeout=5)
    s.sendall(b"*3\r\n$5\r\nBLPOP\r\n$1\r\nq\r\n$1\r\n0\r\n")
    wait_blocked(r, 1)
    s.close()
    deadline = time.monotonic() + 5
    while blocked_count(r) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert blocked_count(r) == 0
    r.rpush("q", "a")
    time.sleep(0.1)
    assert r.lrange("q", 0, -1) == [b"a"]


def run_load(consumer, producer, n_consumers, n_producers, got, lock, total, stop) -> None:
    """Start the consumer threads, then the producers; once the producers are
    done, wait (up to 20 s) until ``total`` items were consumed, then stop
    the consumers."""
    consumers = [threading.Thread(target=consumer, args=(i,)) for i in range(n_consumers)]
    for t in consumers:
        t.start()
    producers = [threading.Thread(target=producer, args=(p,)) for p in range(n_producers)]
    for t in producers:
        t.start()
    for t in producers:
        t.join(30)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        with lock:
            if len(got) >= total:
                break
        time.sleep(0.05)
    stop.set()
    for t in consumers:
        t.join(10)


# --------------------------------------------------------------- concurrency
def test_many_producers_and_consumers_across_shards_deliver_each_element_once(shardis, r):
    keys = shard_keys(4)
    n_producers, per_producer = 4, 150
    total = n_producers * per_producer
    got: list[bytes] = []
    lock = threading.Lock()
    stop = threading.Event()

    def consumer(i):
        c = shardis.client()
        while not stop.is_set():
            # vary the forms: BLPOP/BRPOP over all keys, BLMPOP with count
            if i % 3 == 0:
                res = c.blpop(keys, 0.2)
                vals = [res[1]] if res else []
            elif i % 3 == 1:
                res = c.brpop(keys[::-1], 0.2)
                vals = [res[1]] if res else []
            else:
                res = c.blmpop(0.2, len(keys), *keys, direction="LEFT", count=3)
                vals = res[1] if res else []
            with lock:
                got.extend(vals)
        c.close()

    def producer(p):
        c = shardis.client()
        for j in range(per_producer):
            c.rpush(keys[(p + j) % len(keys)], f"{p}:{j}")
        c.close()

    run_load(consumer, producer, 6, n_producers, got, lock, total, stop)
    leftover = [v for k in keys for v in r.lrange(k, 0, -1)]
    everything = got + leftover
    assert len(everything) == total
    assert sorted(everything) == sorted(f"{p}:{j}".encode()
                                        for p in range(n_producers) for j in range(per_producer))


def test_consumers_that_time_out_or_disconnect_lose_no_element(shardis, r):
    keys = shard_keys(3)
    total = 300
    got: list[bytes] = []
    lock = threading.Lock()
    stop = threading.Event()

    def impatient(i):
        # short-lived BLPOPs ending in a disconnect while elements arrive.
        # The client half-closes and reads until the server closes: what
        # the server wrote before it saw the disconnect is counted as
        # consumed, everything else must still be in the lists.
        while not stop.is_set():
            s = socket.create_connection(("127.0.0.1", shardis.port), timeout=5)
            args = [b"BLPOP", *[k.encode() for k in keys], b"0"]
            s.sendall(b"*%d\r\n" % len(args) + b"".join(b"$%d\r\n%b\r\n" % (len(a), a)
                                                      for a in args))
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
                    got.append(reply[1])

    def patient():
        c = shardis.client()
        while not stop.is_set():
            res = c.blpop(keys, 0.01)
            if res:
                with lock:
                    got.append(res[1])
        c.close()

    threads = [threading.Thread(target=impatient, args=(i,)) for i in range(3)]
    threads += [threading.Thread(target=patient) for _ in range(2)]
    for t in threads:
        t.start()
    c = shardis.client()
    for j in range(total):
        c.rpush(keys[j % 3], str(j))
        if j % 50 == 0:
            time.sleep(0.01)
    time.sleep(0.5)
    stop.set()
    for t in threads:
        t.join(10)
    time.sleep(0.2)
    # what was served after a client went away was given back to the list
    leftover = [v for k in keys for v in r.lrange(k, 0, -1)]
    assert sorted(got + leftover, key=int) == [str(j).encode() for j in range(total)]
    c.close()


def test_blmove_chain_across_shards_under_load_keeps_every_element(shardis, r):
    a, b, c_ = shard_keys(3)
    total = 200
    stop = threading.Event()
    done: list[bytes] = []
    lock = threading.Lock()

    def mover(src, dst):
        c = shardis.client()
        while not stop.is_set():
            c.blmove(src, dst, 0.05, "LEFT", "RIGHT")
        c.close()

    def sink():
        c = shardis.client()
        while not stop.is_set():
            res = c.blpop([c_], 0.05)
            if res:
                with lock:
                    done.append(res[1])
        c.close()

    threads = [threading.Thread(target=mover, args=(a, b)) for _ in range(2)]
    threads += [threading.Thread(target=mover, args=(b, c_)) for _ in range(2)]
    threads += [threading.Thread(target=sink)]
    for t in threads:
        t.start()
    p = shardis.client()
    for j in range(total):
        p.rpush(a, str(j))
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        with lock:
            if len(done) >= total:
                break
        time.sleep(0.05)
    stop.set()
    for t in threads:
        t.join(10)
    rest = [v for k in (a, b, c_) for v in r.lrange(k, 0, -1)]
    assert sorted(done + rest, key=int) == [str(j).encode() for j in range(total)]
    assert len(done) == total
