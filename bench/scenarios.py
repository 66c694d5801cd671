"""The benchmark scenarios.

Each scenario is measured on both servers; throughput scenarios run
interleaved, redis then Shardis, for several rounds, so that background load
on a shared machine hits both about equally and the ratio stays meaningful
even when the absolute figures are noisy.

``n`` is sized so that one Shardis run lasts a few seconds on a 2-core
machine; ``round_n`` then makes it a multiple of ``-c * -P``.
"""

from __future__ import annotations

import socket
import time
from dataclasses import dataclass, field

from .servers import Server, supports


@dataclass
class Scenario:
    name: str
    kind: str                       # "rb", "bigz", "tx", "conn-memory", "key-memory", "default-suite"
    description: str
    quick: bool = False             # part of --quick
    clients: int = 1
    pipeline: int = 1
    n: int = 20000
    tests: str | None = None        # redis-benchmark -t
    command: list[str] | None = None  # redis-benchmark arbitrary-command mode
    datasize: int | None = None
    keyspace: int | None = None
    requires: list[list[str]] = field(default_factory=list)  # probe commands (Shardis must know them)
    # redis-server is several times faster: an -n sized for a few seconds of
    # Shardis is a fraction of a second of redis, too short for a stable
    # figure. requests/s does not depend on -n, so redis gets a larger one.
    redis_n_factor: int = 1
    label: str | None = None        # test name for arbitrary-command mode (else the command line)

    def rb_kwargs(self, n: int | None = None) -> dict:
        kw = dict(clients=self.clients, pipeline=self.pipeline, n=n or self.n, tests=self.tests,
                  command=self.command, datasize=self.datasize, keyspace=self.keyspace)
        if self.label:
            kw["label"] = self.label
        return kw


BIGZ_KEY = "bigz"
BIGZ_MEMBERS = 1_000_000
KEY_MEMORY_KEYS = 1_000_000
IDLE_CONNECTIONS = 1_000

SCENARIOS: list[Scenario] = [
    Scenario("c1-p30", "rb", "GET/SET, 1 connection, 30 pipelined, 3-byte values (the seed scenario)",
             quick=True, clients=1, pipeline=30, n=150_000, tests="set,get", redis_n_factor=4),
    Scenario("c1-p1", "rb", "GET/SET, 1 connection, no pipelining: pure round-trip latency",
             quick=True, clients=1, pipeline=1, n=20_000, tests="set,get", redis_n_factor=2),
    Scenario("c50-p1", "rb", "GET/SET, 50 connections, no pipelining: many small reads/writes",
             quick=True, clients=50, pipeline=1, n=40_000, tests="set,get", redis_n_factor=2),
    # n: a run of a second or more on each server (150,000 had become 0.2 s
    # of Shardis, a window that connection start-up and one slow scheduling
    # moment dominate; docs/performance.md, "How the numbers are taken")
    Scenario("c50-p30", "rb", "GET/SET, 50 connections, 30 pipelined: peak throughput",
             quick=True, clients=50, pipeline=30, n=900_000, tests="set,get", redis_n_factor=2),
    Scenario("c1-p30-d100", "rb", "GET/SET, c1 P30 with 100-byte values",
             clients=1, pipeline=30, n=150_000, tests="set,get", redis_n_factor=4, datasize=100),
    Scenario("c1-p30-rand", "rb", "GET/SET, c1 P30, random keys over 100,000 (-r 100000): spread over shards",
             clients=1, pipeline=30, n=150_000, tests="set,get", redis_n_factor=4, keyspace=100_000),
    Scenario("c50-p1-rand", "rb", "GET/SET, c50 P1, random keys over 100,000",
             clients=50, pipeline=1, n=40_000, tests="set,get", redis_n_factor=2, keyspace=100_000),
    Scenario("mset", "rb", "MSET of 10 random keys (spread over shards: the cross-shard path), c1 P30",
             clients=1, pipeline=30, n=30_000, tests="mset", keyspace=100_000,
             requires=[["MSET", "__bench_probe__", "1"]]),
    Scenario("mget", "rb", "MGET of 10 random keys (spread over shards: a fan-out and merge), c1 P30",
             clients=1, pipeline=30, n=30_000, keyspace=100_000, redis_n_factor=2,
             command=["MGET"] + [f"key{i}:__rand_int__" for i in range(10)], label="MGET (10 keys)",
             requires=[["MGET", "__bench_probe__"]]),
    Scenario("tx", "tx", "MULTI, INCR x3 (random keys over 100,000: usually 3 shards), EXEC; "
             "1 connection, 30 transactions per round trip (our own load generator)",
             clients=1, pipeline=30, n=15_000, redis_n_factor=3,
             requires=[["MULTI"], ["EXEC"]]),
    Scenario("fanout", "fanout", "Pub/Sub fan-out: 1 publisher (30 pipelined PUBLISHes of 16 bytes), "
             "50 subscribers of the channel; messages delivered per second",
             clients=1, pipeline=30, n=6_000, redis_n_factor=3, requires=[["PUBLISH", "x", "y"]]),
    Scenario("lists", "rb", "LPUSH then LPOP on one list, c1 P30",
             clients=1, pipeline=30, n=90_000, tests="lpush,lpop",
             requires=[["LPUSH", "__bench_probe__", "x"], ["LPOP", "__bench_probe__"]]),
    Scenario("hset", "rb", "HSET of random fields into one hash, c1 P30",
             clients=1, pipeline=30, n=60_000, tests="hset", keyspace=100_000,
             requires=[["HSET", "__bench_probe__", "f", "v"]]),
    Scenario("zadd", "rb", "ZADD of random members into one sorted set, c1 P30",
             clients=1, pipeline=30, n=60_000, tests="zadd", keyspace=100_000,
             requires=[["ZADD", "__bench_probe__", "1", "m"]]),
    Scenario("bigz", "bigz",
             f"ZADD (score update) / ZRANK / ZRANGE BYSCORE LIMIT 0 10 against a {BIGZ_MEMBERS:,}-member "
             "sorted set, random members, c1 P30",
             clients=1, pipeline=30, n=30_000, keyspace=BIGZ_MEMBERS, redis_n_factor=3,
             requires=[["ZADD", "__bench_probe__", "1", "m"], ["ZRANK", "__bench_probe__", "m"],
                       ["ZRANGE", "__bench_probe__", "0", "+inf", "BYSCORE", "LIMIT", "0", "1"]]),
    Scenario("conn-memory", "conn-memory",
             f"memory per idle connection: RSS delta after opening {IDLE_CONNECTIONS:,} sockets (each PINGed once)"),
    Scenario("key-memory", "key-memory",
             f"bytes per key: RSS delta after loading {KEY_MEMORY_KEYS:,} keys with 16-byte values"),
    Scenario("default-suite", "default-suite",
             "every redis-benchmark default test, -n 20000 -c 50, one test per invocation with a timeout"),
]

BY_NAME = {s.name: s for s in SCENARIOS}
# "pipelining" is derived (P30 rps / P1 rps at one connection), so asking for
# it means running the two scenarios it is computed from.
ALIASES = {"pipelining": ["c1-p1", "c1-p30"]}

BIGZ_COMMANDS = {
    # redis-benchmark draws each __rand_int__ separately: a random existing
    # member gets a new random score (an update that moves it in the order).
    "ZADD": ["ZADD", BIGZ_KEY, "__rand_int__", "member:__rand_int__"],
    "ZRANK": ["ZRANK", BIGZ_KEY, "member:__rand_int__"],
    "ZRANGE BYSCORE": ["ZRANGE", BIGZ_KEY, "__rand_int__", "+inf", "BYSCORE", "LIMIT", "0", "10"],
}

# redis-benchmark -t names of its default suite, with the command that has to
# exist for the test's figure to mean anything (redis-benchmark counts error
# replies as completed requests).
DEFAULT_SUITE = [
    ("ping_inline", ["PING"]), ("ping_mbulk", ["PING"]), ("set", ["SET", "__bench_probe__", "x"]),
    ("get", ["GET", "__bench_probe__"]), ("incr", ["INCR", "__bench_probe__"]),
    ("lpush", ["LPUSH", "__bench_probe__", "x"]), ("rpush", ["RPUSH", "__bench_probe__", "x"]),
    ("lpop", ["LPOP", "__bench_probe__"]), ("rpop", ["RPOP", "__bench_probe__"]),
    ("sadd", ["SADD", "__bench_probe__", "x"]), ("hset", ["HSET", "__bench_probe__", "f", "x"]),
    ("spop", ["SPOP", "__bench_probe__"]), ("zadd", ["ZADD", "__bench_probe__", "1", "x"]),
    ("zpopmin", ["ZPOPMIN", "__bench_probe__"]),
    ("lrange_100", ["LRANGE", "__bench_probe__", "0", "99"]),
    ("lrange_300", ["LRANGE", "__bench_probe__", "0", "299"]),
    ("lrange_500", ["LRANGE", "__bench_probe__", "0", "499"]),
    ("lrange_600", ["LRANGE", "__bench_probe__", "0", "599"]),
    ("mset", ["MSET", "__bench_probe__", "x"]),
]


def resolve(names: list[str]) -> list[Scenario]:
    out: list[Scenario] = []
    for name in names:
        for n in ALIASES.get(name, [name]):
            if n not in BY_NAME:
                raise SystemExit(f"unknown scenario {n!r}; known: {', '.join(list(BY_NAME) + list(ALIASES))}")
            if BY_NAME[n] not in out:
                out.append(BY_NAME[n])
    return out


def missing_commands(server: Server, sc: Scenario) -> list[str]:
    """The probe commands of ``sc`` the server answers 'unknown command' to."""
    return [cmd[0] for cmd in sc.requires if not supports(server, *cmd)]


# ---------------------------------------------------------------- loading

def load_bigz(server: Server, members: int = BIGZ_MEMBERS, batch: int = 1000) -> float:
    """ZADD bigz i member:<i as redis-benchmark's 12-digit __rand_int__>, so
    the benchmark's random member names all exist. Pipelined through redis-py,
    ``batch`` members per ZADD, 50 ZADDs per round trip. Returns seconds."""
    t0 = time.monotonic()
    c = server.client(socket_timeout=300)
    try:
        c.delete(BIGZ_KEY)
        pipe = c.pipeline(transaction=False)
        for start in range(0, members, batch):
            mapping = {f"member:{i:012d}": i for i in range(start, min(start + batch, members))}
            pipe.zadd(BIGZ_KEY, mapping)
            if len(pipe) >= 50:
                pipe.execute()
        pipe.execute()
        got = c.zcard(BIGZ_KEY)
        if got != members:
            raise RuntimeError(f"{server.kind}: ZCARD {BIGZ_KEY} is {got}, expected {members}")
    finally:
        c.close()
    return time.monotonic() - t0


def load_keys(server: Server, keys: int = KEY_MEMORY_KEYS, batch: int = 10_000) -> float:
    """SET k:<7-digit i> <16 bytes> for i < keys, pipelined ``batch`` commands
    per round trip over a raw socket (redis-py spends ~40 s of client CPU
    packing a million commands; pre-encoded RESP takes a second). SET, not
    MSET, so that Shardis loads through its single-shard path and the load
    does not depend on cross-shard MSET. Every reply must be +OK. Returns
    seconds."""
    value = b"v" * 16
    ok = b"+OK\r\n"
    t0 = time.monotonic()
    with socket.create_connection(("127.0.0.1", server.port), timeout=300) as sock:
        for start in range(0, keys, batch):
            count = min(batch, keys - start)
            payload = b"".join(b"*3\r\n$3\r\nSET\r\n$9\r\nk:%07d\r\n$16\r\n%s\r\n" % (i, value)
                               for i in range(start, start + count))
            sock.sendall(payload)
            want = len(ok) * count
            got = bytearray()
            while len(got) < want:
                chunk = sock.recv(max(65536, want - len(got)))
                if not chunk:
                    raise RuntimeError(f"{server.kind} closed the connection while loading keys")
                got += chunk
            if got != ok * count:
                raise RuntimeError(f"{server.kind} answered {bytes(got[:80])!r}... to SET while loading")
    c = server.client()
    try:
        got_keys = c.dbsize()
    finally:
        c.close()
    if got_keys != keys:
        raise RuntimeError(f"{server.kind}: DBSIZE is {got_keys} after loading, expected {keys}")
    return time.monotonic() - t0


# ---------------------------------------------------------------- memory

def settle_rss(server: Server, wait: float = 0.5) -> int:
    time.sleep(wait)
    return server.rss_kb()


def idle_connection_memory(server: Server, count: int = IDLE_CONNECTIONS) -> dict:
    """RSS delta over ``count`` idle connections, each PINGed once so the
    server has fully set it up (accepted, buffers allocated, client state
    registered) before RSS is read."""
    before = settle_rss(server)
    socks: list[socket.socket] = []
    try:
        for _ in range(count):
            s = socket.create_connection(("127.0.0.1", server.port), timeout=10)
            s.sendall(b"PING\r\n")
            socks.append(s)
        for s in socks:
            reply = b""
            while not reply.endswith(b"\r\n"):
                chunk = s.recv(64)
                if not chunk:
                    raise RuntimeError(f"{server.kind} closed an idle connection")
                reply += chunk
            if reply != b"+PONG\r\n":
                raise RuntimeError(f"{server.kind} answered {reply!r} to PING")
        after = settle_rss(server)
    finally:
        for s in socks:
            s.close()
    return {"connections": count, "rss_before_kb": before, "rss_after_kb": after,
            "bytes_per_connection": (after - before) * 1024 / count}


def key_memory(server: Server, keys: int = KEY_MEMORY_KEYS) -> dict:
    server.flushall()
    before = settle_rss(server)
    seconds = load_keys(server, keys)
    after = settle_rss(server)
    server.flushall()
    return {"keys": keys, "value_bytes": 16, "load_seconds": seconds, "rss_before_kb": before,
            "rss_after_kb": after, "bytes_per_key": (after - before) * 1024 / keys}
