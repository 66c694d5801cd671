"""Pipelining: many requests in flight on one connection, replies in request
order whatever the shards, read boundaries and concurrent clients.

The expected reply stream is what the real redis-server answers to the same
bytes, so every reply (values, errors, types) is checked, in order."""

from __future__ import annotations

import random
import socket
import threading
import time

import hiredis
import pytest


def cmd(*args) -> bytes:
    out = [b"*%d\r\n" % len(args)]
    for a in args:
        a = a if isinstance(a, bytes) else str(a).encode()
        out.append(b"$%d\r\n%b\r\n" % (len(a), a))
    return b"".join(out)


def read_replies(sock: socket.socket, n: int, timeout: float = 30.0) -> bytes:
    """Read exactly ``n`` complete replies; return their raw bytes."""
    reader = hiredis.Reader()
    data = []
    got = 0
    sock.settimeout(timeout)
    while got < n:
        chunk = sock.recv(1 << 18)
        assert chunk, f"connection closed after {got} of {n} replies"
        data.append(chunk)
        reader.feed(chunk)
        while reader.gets() is not False:
            got += 1
    assert got == n, f"{got} replies, expected {n}"
    assert not reader.has_data(), "more bytes than replies"
    return b"".join(data)


def run(port: int, payload: bytes, n: int, chunks: list[int] | None = None,
        pause: float = 0.0) -> bytes:
    with socket.create_connection(("127.0.0.1", port)) as s:
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if chunks is None:
            sender = threading.Thread(target=s.sendall, args=(payload,), daemon=True)
        else:
            def send():
                i = 0
                for size in chunks:
                    if i >= len(payload):
                        break       # (the chunk sizes may add up to more)
                    s.sendall(payload[i:i + size])
                    i += size
                    if pause:
                        time.sleep(pause)
                assert i >= len(payload)
            sender = threading.Thread(target=send, daemon=True)
        sender.start()
        out = read_replies(s, n)
        # every reply is in, so every byte was sent: the sender is finishing;
        # let it end before the socket closes under it
        sender.join(timeout=10)
        return out


KEYS = [f"k{i}" for i in range(40)] + [f"{{h{i % 3}}}m{i}" for i in range(20)] \
    + ["", "bin\x00\r\n", "{}", "{a}{b}"]


def mixed_commands(rnd: random.Random, n: int, extended: bool) -> list[bytes]:
    """A reproducible mix touching every shard: single-key, multi-key across
    shards, SELECT between databases, and errors mid-stream."""
    out = [cmd("FLUSHALL")]
    for i in range(n):
        k = rnd.choice(KEYS)
        x = rnd.random()
        if x < 0.25:
            out.append(cmd("SET", k, f"v{i}"))
        elif x < 0.45:
            out.append(cmd("GET", k))
        elif x < 0.52:
            ks = rnd.sample(KEYS, rnd.randint(1, 8))
            out.append(cmd("MGET", *ks))
        elif x < 0.58:
            ks = rnd.sample(KEYS, rnd.randint(1, 6))
            out.append(cmd("MSET", *[a for k2 in ks for a in (k2, f"m{i}")]))
        elif x < 0.63:
            out.append(cmd("DEL", *rnd.sample(KEYS, rnd.randint(1, 5))))
        elif x < 0.68:
            out.append(cmd("EXISTS", *rnd.sample(KEYS, rnd.randint(1, 5))))
        elif x < 0.72:
            out.append(cmd("SELECT", rnd.choice([0, 0, 1, 2, 15])))
        elif x < 0.75:
            out.append(cmd("PING") if rnd.random() < 0.5 else cmd("ECHO", f"e{i}"))
        elif x < 0.78:
            out.append(rnd.choice([cmd("NOSUCH", k), cmd("GET"), cmd("SET", k),
                                   cmd("SELECT", "x"), cmd("SELECT", 99),
                                   cmd("SET", k, "v", "NX", "XX"), cmd("MSET", k)]))
        elif not extended:
            out.append(cmd("SET", k, f"w{i}", "XX") if x < 0.9 else cmd("SET", k, "n", "NX", "GET"))
        else:
            out.append(rnd.choice([
                cmd("INCR", k), cmd("INCRBY", k, rnd.randint(-5, 5)), cmd("APPEND", k, "ab"),
                cmd("STRLEN", k), cmd("GETDEL", k), cmd("SETRANGE", k, 2, "zz"),
                cmd("GETRANGE", k, 0, -2), cmd("EXPIRE", k, 1000), cmd("PERSIST", k),
                cmd("TYPE", k), cmd("RPUSH", k, "a", "b"), cmd("LRANGE", k, 0, -1),
                cmd("HSET", k, "f", i), cmd("HGETALL", k), cmd("SADD", k, "x"),
                cmd("SCARD", k), cmd("ZADD", k, i, "m"), cmd("ZSCORE", k, "m"),
                cmd("RENAME", k, rnd.choice(KEYS)), cmd("COPY", k, rnd.choice(KEYS)),
            ]))
    out.append(cmd("SELECT", 0))
    return out


def redis_replies(real_redis, payload: bytes, n: int) -> bytes:
    return run(real_redis.port, payload, n)


# four shards, and the default server (one shard: the parser routes the hot
# commands itself, take_routed)
SERVERS = pytest.mark.parametrize("server", ["shardis", "shardis_default"],
                                  ids=["4-shards", "one-shard"])


@SERVERS
@pytest.mark.parametrize("extended", [False, True], ids=["core", "all-types"])
def test_thousands_of_mixed_pipelined_commands_reply_like_redis_in_order(
        request, server, real_redis, extended):
    shardis = request.getfixturevalue(server)
    cmds = mixed_commands(random.Random(7), 5000, extended)
    payload = b"".join(cmds)
    expected = redis_replies(real_redis, payload, len(cmds))
    assert run(shardis.port, payload, len(cmds)) == expected


@SERVERS
def test_same_stream_in_random_chunks_with_pauses_gives_identical_replies(request, server,
                                                                          real_redis):
    shardis = request.getfixturevalue(server)
    rnd = random.Random(11)
    cmds = mixed_commands(rnd, 1500, False)
    payload = b"".join(cmds)
    expected = redis_replies(real_redis, payload, len(cmds))
    for trial in range(3):
        sizes = []
        total = 0
        while total < len(payload):
            sizes.append(rnd.choice([1, 2, 3, 5, 17, 100, 1000, 4096]))
            total += sizes[-1]
        pause = 0.0005 if trial == 0 else 0.0
        assert run(shardis.port, payload, len(cmds), sizes, pause) == expected, trial


def test_stream_split_at_every_byte_boundary_gives_identical_replies(shardis, real_redis):
    cmds = [cmd("SET", "{x}a", "1"), cmd("MSET", "k1", "a", "k2", "b", "k3", "c"),
            b"PING\r\n", cmd("MGET", "k1", "k2", "{x}a", "nokey"), cmd("SELECT", 1),
            cmd("GET", "k1"), cmd("SELECT", 0), cmd("DEL", "k1", "k2", "k3", "{x}a"),
            cmd("GET")]
    payload = b"".join(cmds)
    expected = redis_replies(real_redis, payload, len(cmds))
    for cut in range(1, len(payload)):
        got = run(shardis.port, payload, len(cmds), [cut, len(payload) - cut], 0.001)
        assert got == expected, cut
    # and one byte per write
    got = run(shardis.port, payload, len(cmds), [1] * len(payload), 0.0002)
    assert got == expected


def test_select_mid_pipeline_applies_only_to_later_commands(r):
    # SELECT is handled on the event loop while the SETs before it are still
    # queued for their shards; each command must use the db current when it
    # was parsed.
    pipe = r.pipeline(transaction=False)
    for db in (0, 1, 2, 0, 3):
        pipe.execute_command("SELECT", db)
        for i in range(50):
            pipe.set(f"s{i}", f"db{db}-{i}")
        pipe.mset({f"m{i}": f"db{db}" for i in range(20)})
    pipe.execute_command("SELECT", 0)
    pipe.execute()
    for db, want in ((0, "db0"), (1, "db1"), (2, "db2"), (3, "db3")):
        pipe = r.pipeline(transaction=False)
        pipe.execute_command("SELECT", db)
        pipe.mget([f"s{i}" for i in range(50)])
        pipe.mget([f"m{i}" for i in range(20)])
        pipe.execute_command("SELECT", 0)
        _, s_vals, m_vals, _ = pipe.execute()
        assert s_vals == [f"{want}-{i}".encode() for i in range(50)]
        assert m_vals == [want.encode()] * 20
    r.execute_command("FLUSHALL")


def test_errors_mid_pipeline_do_not_disturb_later_replies(r):
    pipe = r.pipeline(transaction=False)
    for i in range(200):
        pipe.set(f"e{i}", i)
        pipe.execute_command("NOSUCHCOMMAND", i)
        pipe.execute_command("GET")
        pipe.get(f"e{i}")
    res = pipe.execute(raise_on_error=False)
    for i in range(200):
        ok, unknown, arity, val = res[4 * i:4 * i + 4]
        assert ok is True
        assert str(unknown) == (f"unknown command 'NOSUCHCOMMAND', with args beginning "
                                f"with: '{i}' ")
        assert str(arity) == "wrong number of arguments for 'get' command"
        assert val == str(i).encode()


def test_concurrent_pipelining_connections_each_get_their_own_replies(shardis):
    n_conn, n_cmds = 6, 2000
    errors: list = []

    def client(c: int):
        try:
            values: dict = {}
            cmds, expected = [], []
            for i in range(n_cmds):
                key = f"c{c}:{i % 97}"
                if i % 3 == 0:
                    cmds.append(cmd("SET", key, f"{c}/{i}"))
                    expected.append(b"+OK\r\n")
                    last = f"{c}/{i}".encode()
                    values[key] = last
                elif i % 3 == 1:
                    cmds.append(cmd("GET", key))
                    v = values.get(key)
                    expected.append(b"$-1\r\n" if v is None else b"$%d\r\n%b\r\n" % (len(v), v))
                else:
                    cmds.append(cmd("ECHO", f"{c}-{i}"))
                    t = f"{c}-{i}".encode()
                    expected.append(b"$%d\r\n%b\r\n" % (len(t), t))
            payload = b"".join(cmds)
            sizes = [random.Random(c).choice([50, 333, 4096])] * (len(payload) // 50 + 1)
            got = run(shardis.port, payload, len(cmds), sizes, 0.0)
            if got != b"".join(expected):
                errors.append(f"client {c}: replies differ")
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(f"client {c}: {e!r}")

    with shardis.client() as r0:
        r0.flushall()
    threads = [threading.Thread(target=client, args=(c,)) for c in range(n_conn)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors


def test_slow_reader_gets_every_reply_in_order_and_server_stays_responsive(shardis):
    value = b"x" * 4096
    n = 20000                          # ~80 MB of replies, far over the 4 MB high-water mark
    with shardis.client() as r0:
        r0.set("bp:big", value)
    payload = b"".join(cmd("GET", "bp:big") if i % 2 else cmd("ECHO", f"n{i}") for i in range(n))
    with socket.create_connection(("127.0.0.1", shardis.port)) as slow:
        sender = threading.Thread(target=slow.sendall, args=(payload,), daemon=True)
        sender.start()
        time.sleep(0.5)
        # the slow client reads nothing: other clients must still be served
        with socket.create_connection(("127.0.0.1", shardis.port), timeout=2) as other:
            for i in range(20):
                t0 = time.monotonic()
                other.sendall(cmd("ECHO", f"other{i}"))
                want = b"$%d\r\nother%d\r\n" % (len(f"other{i}"), i)
                got = b""
                while len(got) < len(want):
                    got += other.recv(100)
                assert got == want
                assert time.monotonic() - t0 < 1.0
        time.sleep(0.5)
        # now read everything: all replies, in order
        reader = hiredis.Reader()
        slow.settimeout(30)
        i = 0
        while i < n:
            chunk = slow.recv(1 << 20)
            assert chunk, f"closed after {i} replies"
            reader.feed(chunk)
            while True:
                rep = reader.gets()
                if rep is False:
                    break
                assert rep == (value if i % 2 else f"n{i}".encode()), i
                i += 1
        sender.join(10)
        assert not sender.is_alive()


def test_write_backpressure_stops_reading_from_a_client_that_does_not_read(shardis):
    # While a client reads nothing, the server must stop reading its requests
    # once its pending output passes the high-water mark (4 MB), so a client
    # that keeps sending eventually blocks instead of the server buffering
    # unbounded output.  Our socket buffers are kept small; the server's
    # receive buffer may autotune up to tcp_rmem's max (32 MB here), so the
    # sender must block well before 128 MB.
    limit = 128 * 1024 * 1024
    req = cmd("ECHO", b"z" * 4096)
    block = req * 256
    sent = 0
    with socket.create_connection(("127.0.0.1", shardis.port)) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 65536)
        s.settimeout(3.0)
        view = memoryview(block)
        try:
            while sent < limit:
                sent += s.send(view[sent % len(block):])
        except socket.timeout:
            pass
        assert sent < limit, "server kept reading a client that reads nothing"
        with shardis.client(socket_timeout=2) as other:
            assert other.ping() is True
        # reading resumes once the client drains its replies; finish the
        # request cut by the timeout so that every request sent is complete
        rest = (-sent) % len(req)
        threading.Thread(target=s.sendall, args=(req[len(req) - rest:],), daemon=True).start()
        s.settimeout(10.0)
        reader = hiredis.Reader()
        want = (sent + rest) // len(req)
        got = 0
        while got < want:
            chunk = s.recv(1 << 20)
            assert chunk
            reader.feed(chunk)
            while reader.gets() is not False:
                got += 1
        assert got == want
