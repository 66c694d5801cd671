"""A RESP3 connection subscribed to its own keyspace events: where each event
lands among the replies, compared with redis-server 7.0 command by command.

Redis writes an event where the command raises it: most commands raise
theirs before adding the reply, some (LPUSH, HSET, ZADD, GETDEL, ...) after
(server/notify.py AFTER_REPLY).  Each case runs its setup, then the command
between two PINGs, and compares the pattern of what came back: ``E:<event>``
for an event, ``R`` for a reply.  Keys like ``l`` and ``m`` live on different
shards of the 4-shard server, so coordinators are covered too.
"""

from __future__ import annotations

import shlex
import socket

import hiredis
import pytest

CASES = [
 ([], "SET a 1"), ([], "SETNX a 1"), ([], "SETEX a 100 v"), ([], "PSETEX a 100000 v"),
 ([], "MSET a 1 b 2"), ([], "MSETNX a 1 b 2"), (["SET a 1"], "GETSET a 2"), (["SET a 1"], "GETDEL a"),
 (["SET a 1"], "GETEX a EX 100"), (["SET a 1 EX 100"], "GETEX a PERSIST"), ([], "APPEND a x"),
 ([], "INCR a"), ([], "INCRBY a 2"), ([], "DECR a"), ([], "DECRBY a 2"), ([], "INCRBYFLOAT a 1.5"),
 ([], "SETRANGE a 2 x"), ([], "SETBIT a 3 1"), ([], "BITFIELD a SET u8 0 1"), (["SET b 1"], "BITOP NOT a b"),
 ([], "PFADD a x"), (["PFADD b x"], "PFMERGE a b"),
 (["SET a 1"], "DEL a"), (["SET a 1"], "UNLINK a"), (["SET a 1"], "EXPIRE a 100"), (["SET a 1"], "EXPIRE a 0"),
 (["SET a 1"], "PEXPIREAT a 1"), (["SET a 1 EX 100"], "PERSIST a"), (["SET a 1"], "RENAME a b"),
 (["SET a 1"], "RENAMENX a b"), (["SET a 1"], "COPY a b"), (["SET a 1"], "MOVE a 1"),
 ([], "LPUSH l x"), ([], "RPUSH l x y"), (["LPUSH l x"], "LPUSHX l y"), (["LPUSH l x"], "RPUSHX l y"),
 (["RPUSH l x y"], "LPOP l"), (["RPUSH l x"], "RPOP l"), (["RPUSH l x"], "LPOP l 5"), (["RPUSH l x y"], "LSET l 0 z"),
 (["RPUSH l x y"], "LINSERT l BEFORE x w"), (["RPUSH l x y x"], "LREM l 0 x"), (["RPUSH l x y"], "LTRIM l 1 1"),
 (["RPUSH l x y"], "LTRIM l 5 6"), (["RPUSH l x y"], "RPOPLPUSH l m"), (["RPUSH l x"], "LMOVE l m LEFT RIGHT"),
 (["RPUSH l x"], "LMPOP 1 l LEFT"), (["RPUSH l x"], "BLPOP l 0"), (["RPUSH l x"], "BRPOP l 0"),
 (["RPUSH l x"], "BLMOVE l m LEFT LEFT 0"), (["RPUSH l x"], "BLMPOP 0 1 l RIGHT"), (["RPUSH l x"], "BRPOPLPUSH l m 0"),
 ([], "SADD s a b"), (["SADD s a b"], "SREM s a"), (["SADD s a"], "SREM s a"), (["SADD s a"], "SPOP s"),
 (["SADD s a b"], "SMOVE s t a"), (["SADD s a", "SADD t b"], "SINTERSTORE u s t"), (["SADD s a"], "SUNIONSTORE u s"),
 (["SADD s a"], "SDIFFSTORE u s"),
 ([], "HSET h f v"), ([], "HMSET h f v"), ([], "HSETNX h f v"), (["HSET h f v g w"], "HDEL h f"),
 (["HSET h f v"], "HDEL h f"), ([], "HINCRBY h f 1"), ([], "HINCRBYFLOAT h f 1.5"),
 ([], "ZADD z 1 a"), (["ZADD z 1 a"], "ZADD z 2 a"), ([], "ZINCRBY z 1 a"), (["ZADD z 1 a 2 b"], "ZREM z a"),
 (["ZADD z 1 a"], "ZREM z a"), (["ZADD z 1 a 2 b"], "ZPOPMIN z"), (["ZADD z 1 a"], "ZPOPMAX z"),
 (["ZADD z 1 a"], "BZPOPMIN z 0"), (["ZADD z 1 a"], "BZPOPMAX z 0"), (["ZADD z 1 a"], "ZMPOP 1 z MIN"),
 (["ZADD z 1 a"], "BZMPOP 0 1 z MAX"), (["ZADD z 1 a 2 b"], "ZREMRANGEBYRANK z 0 0"),
 (["ZADD z 1 a 2 b"], "ZREMRANGEBYSCORE z 0 1"), (["ZADD z 0 a 0 b"], "ZREMRANGEBYLEX z - [a"),
 (["ZADD z 1 a"], "ZUNIONSTORE u 1 z"), (["ZADD z 1 a"], "ZINTERSTORE u 1 z"), (["ZADD z 1 a"], "ZDIFFSTORE u 1 z"),
 (["ZADD z 1 a"], "ZRANGESTORE u z 0 -1"), (["RPUSH l b a"], "SORT l STORE u ALPHA"),
 (["SET a 1"], "RESTORE b 0 \"\\x00\\x011\\n\\x00\\x81\\x1a\\x9aK\\x0c\\x8c\\x8e\\x85\""),
 ([], "GET nokey"), (["SET a 1"], "FLUSHDB"),
]


# Where Shardis differs, on purpose or as a known limit (docs/notifications.md):
# the expected Shardis pattern.
KNOWN = {
    # Redis 7.0 writes these pops' event inside the reply array (RESP3 allows
    # a push only between replies); Shardis writes it before the reply
    "ZPOPMIN z": "E:zpopmin R", "ZPOPMAX z": "E:zpopmax E:del R",
    "BZPOPMIN z 0": "E:zpopmin E:del R", "BZPOPMAX z 0": "E:zpopmax E:del R",
    "ZMPOP 1 z MIN": "E:zpopmin E:del R", "BZMPOP 0 1 z MAX": "E:zpopmax E:del R",
    # the source and destination on two shards: the hops' events all come
    # before the coordinator's reply (Redis: the push, the reply, the pop)
    "RPOPLPUSH l m": "E:lpush E:rpop R", "LMOVE l m LEFT RIGHT": "E:rpush E:lpop E:del R",
    "BLMOVE l m LEFT LEFT 0": "E:lpush E:lpop E:del R",
    "BRPOPLPUSH l m 0": "E:lpush E:rpop E:del R",
}


def _enc(cmd: str) -> bytes:
    parts = shlex.split(cmd)
    out = b"*%d\r\n" % len(parts)
    for p in parts:
        b = p.encode("latin-1").decode("unicode_escape").encode("latin-1")
        out += b"$%d\r\n%b\r\n" % (len(b), b)
    return out


def pattern(port: int, setup, cmd, flags: str = "KEAm") -> str:
    """``cmd``: one command or a list sent together."""
    s = socket.create_connection(("127.0.0.1", port))
    s.settimeout(5)
    r = hiredis.Reader()

    def read():
        while True:
            x = r.gets()
            if x is not False:
                return x
            data = s.recv(65536)
            assert data, "connection closed"
            r.feed(data)
    try:
        for c in ["HELLO 3", "FLUSHALL", f"CONFIG SET notify-keyspace-events {flags}"] + setup:
            s.sendall(_enc(c))
        for _ in range(3 + len(setup)):
            read()
        s.sendall(_enc("PSUBSCRIBE __keyevent@0__:*") + _enc("PING"))
        while read() != b"PONG":
            pass
        cmds = [cmd] if isinstance(cmd, str) else cmd
        s.sendall(b"".join(_enc(c) for c in cmds) + _enc("PING"))
        out = []
        while (x := read()) != b"PONG":
            if isinstance(x, list) and len(x) == 4 and x[0] == b"pmessage":
                out.append("E:" + x[2].decode().split(":")[-1])
            else:
                out.append("R")
        s.sendall(_enc('CONFIG SET notify-keyspace-events ""'))
        read()
        return " ".join(out)
    finally:
        s.close()


@pytest.mark.parametrize("setup,cmd", CASES, ids=[c for _, c in CASES])
def test_own_event_lands_where_redis_puts_it(shardis, real_redis, setup, cmd):
    want = pattern(real_redis.port, setup, cmd)
    got = pattern(shardis.port, setup, cmd)
    if cmd in KNOWN:
        assert got == KNOWN[cmd], f"redis: {want}"
    else:
        assert got == want


@pytest.mark.parametrize("cmds", [
    ["MULTI", "SET a 1", "SADD s m", "LPUSH l x", "EXEC"],         # over shards
    ["MULTI", "SET {t}a 1", "LPUSH {t}l x", "INCR {t}b", "EXEC"],  # one shard
])
def test_transaction_events_come_before_the_exec_reply(shardis, cmds):
    # Redis 7.0 writes them inside EXEC's array, which RESP3 forbids (a
    # parser sees them as elements of the array, the reply comes out
    # garbled); Shardis writes them just before the array, at the top level
    got = pattern(shardis.port, [], cmds)
    events = [("E:" + c.split()[0].lower()).replace("E:incr", "E:incrby") for c in cmds[1:-1]]
    assert got == " ".join(["R"] * len(cmds[:-1]) + events + ["R"])
