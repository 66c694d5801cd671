"""RESP3 through redis-py (``protocol=3``): the handshake, and maps, sets,
doubles, nulls and push messages arriving as the Python types redis-py builds
from them; each checked against the real redis-server where it answers the
same way."""

from __future__ import annotations

import socket
import time

import pytest


@pytest.fixture
def rr3(real_redis):
    c = real_redis.client(protocol=3)
    c.flushall()
    yield c
    c.close()


def both(r3, rr3, *args):
    ours = r3.execute_command(*args)
    theirs = rr3.execute_command(*args)
    assert ours == theirs, f"{args}: shardis {ours!r} redis {theirs!r}"
    assert type(ours) is type(theirs), args
    return ours


def test_hello_3_reply_is_a_map_with_proto_3(r3, rr3):
    ours = r3.execute_command("HELLO", "3")
    theirs = rr3.execute_command("HELLO", "3")
    assert isinstance(ours, dict)
    assert ours[b"proto"] == 3
    assert ours[b"server"] == b"redis" and ours[b"version"] == b"7.0.15"
    assert isinstance(ours[b"id"], int)
    assert {k: v for k, v in ours.items() if k != b"id"} == \
        {k: v for k, v in theirs.items() if k != b"id"}


def test_hello_without_version_keeps_the_current_protocol(r3, r):
    assert r3.execute_command("HELLO")[b"proto"] == 3
    flat = r.execute_command("HELLO")             # RESP2: a flat key/value array
    assert isinstance(flat, list)
    assert dict(zip(flat[::2], flat[1::2]))[b"proto"] == 2


def test_hello_setname_sets_the_client_name(shardis):
    with shardis.client(protocol=3) as c:
        c.execute_command("HELLO", "3", "SETNAME", "resp3-client")
        assert c.client_getname() in (b"resp3-client", "resp3-client")


def test_null_replies_are_none(r3, rr3):
    assert both(r3, rr3, "GET", "missing") is None
    assert both(r3, rr3, "MGET", "missing", "x") == [None, None]
    assert both(r3, rr3, "LPOP", "missing", "2") is None       # null array is RESP3 null too
    assert both(r3, rr3, "ZSCORE", "missing", "m") is None


def test_maps_arrive_as_dicts(r3, rr3):
    for c in (r3, rr3):
        c.hset("h", mapping={"a": "1", "b": "2"})
    assert both(r3, rr3, "HGETALL", "h") == {b"a": b"1", b"b": b"2"}
    assert both(r3, rr3, "HGETALL", "missing") == {}
    assert both(r3, rr3, "CONFIG", "GET", "maxclients") == {b"maxclients": b"10000"}


def test_sets_arrive_as_python_sets(r3, rr3):
    for c in (r3, rr3):
        c.sadd("s", "a", "b", "c")
    assert both(r3, rr3, "SMEMBERS", "s") == {b"a", b"b", b"c"}
    assert both(r3, rr3, "SMEMBERS", "missing") == set()
    for c in (r3, rr3):
        c.sadd("{s}1", "a", "b")
        c.sadd("{s}2", "b", "c")
    assert both(r3, rr3, "SINTER", "{s}1", "{s}2") == {b"b"}
    assert both(r3, rr3, "SUNION", "{s}1", "{s}2") == {b"a", b"b", b"c"}


def test_doubles_arrive_as_floats(r3, rr3):
    for c in (r3, rr3):
        c.zadd("z", {"a": 1.5, "b": -2, "c": float("inf")})
    assert both(r3, rr3, "ZSCORE", "z", "a") == 1.5
    assert both(r3, rr3, "ZSCORE", "z", "c") == float("inf")
    assert both(r3, rr3, "ZINCRBY", "z", "1", "b") == -1.0
    assert both(r3, rr3, "ZMSCORE", "z", "a", "nope") == [1.5, None]
    assert both(r3, rr3, "ZRANGE", "z", "0", "-1", "WITHSCORES") == \
        [[b"b", -1.0], [b"a", 1.5], [b"c", float("inf")]]
    assert both(r3, rr3, "ZPOPMIN", "z") == [b"b", -1.0]


def test_integer_replies_stay_integers_in_resp3(r3, rr3):
    for c in (r3, rr3):
        c.set("k", "v")
        c.sadd("s", "a")
    assert both(r3, rr3, "EXISTS", "k") == 1
    assert both(r3, rr3, "SISMEMBER", "s", "a") == 1
    assert both(r3, rr3, "SETNX", "k", "w") == 0
    assert both(r3, rr3, "DEL", "k", "s") == 2


def test_error_replies_are_the_same_in_resp3(r3, rr3):
    import redis
    r3.set("str", "x")
    rr3.set("str", "x")
    for args in (("INCR", "str"), ("GET",), ("NOSUCH", "a"), ("SADD", "str", "m")):
        errs = []
        for c in (r3, rr3):
            with pytest.raises(redis.ResponseError) as ei:
                c.execute_command(*args)
            errs.append(str(ei.value))
        assert errs[0] == errs[1], args


def test_client_info_is_verbatim_text_with_resp_3(r3):
    info = r3.execute_command("CLIENT", "INFO")
    text = info.decode() if isinstance(info, bytes) else str(info)
    assert text.startswith("id=") and " resp=3" in text


def test_reset_returns_the_connection_to_resp2(shardis):
    with socket.create_connection(("127.0.0.1", shardis.port), timeout=2) as s:
        s.sendall(b"HELLO 3\r\nRESET\r\nGET nokey\r\n")
        data = b""
        while not data.endswith(b"$-1\r\n"):
            chunk = s.recv(4096)
            assert chunk, data
            data += chunk
        assert data.endswith(b"+RESET\r\n$-1\r\n")


def _read_exact(sock, n_bytes_hint: bytes) -> bytes:
    data = b""
    deadline = time.monotonic() + 3
    while not data.endswith(n_bytes_hint) and time.monotonic() < deadline:
        chunk = sock.recv(4096)
        if not chunk:
            break
        data += chunk
    return data


def test_pubsub_messages_are_resp3_pushes_like_redis(shardis, real_redis):
    outs = []
    for port in (shardis.port, real_redis.port):
        with socket.create_connection(("127.0.0.1", port), timeout=3) as sub, \
                socket.create_connection(("127.0.0.1", port), timeout=3) as pub:
            sub.sendall(b"HELLO 3\r\n")
            _read_exact(sub, b"modules\r\n*0\r\n")
            sub.sendall(b"SUBSCRIBE ch\r\n")
            got = _read_exact(sub, b":1\r\n")
            pub.sendall(b"PUBLISH ch hello\r\n")
            assert _read_exact(pub, b"\r\n") == b":1\r\n"
            got += _read_exact(sub, b"hello\r\n")
            # a regular command from a RESP3 subscriber is allowed and answered
            sub.sendall(b"PING\r\n")
            got += _read_exact(sub, b"PONG\r\n")
            outs.append(got)
    assert outs[0] == outs[1]
    assert outs[1] == (b">3\r\n$9\r\nsubscribe\r\n$2\r\nch\r\n:1\r\n"
                       b">3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$5\r\nhello\r\n+PONG\r\n")


def test_redis_py_resp3_pubsub_receives_messages(shardis):
    with shardis.client(protocol=3) as c, shardis.client(protocol=3) as pub:
        p = c.pubsub()
        p.subscribe("news")
        deadline = time.monotonic() + 3
        msg = None
        while time.monotonic() < deadline:
            msg = p.get_message(timeout=0.2)
            if msg and msg["type"] == "subscribe":
                break
        assert msg and msg["type"] == "subscribe"
        assert pub.publish("news", "hi") == 1
        while time.monotonic() < deadline:
            msg = p.get_message(timeout=0.2)
            if msg and msg["type"] == "message":
                break
        assert msg["data"] == b"hi" and msg["channel"] == b"news"
        p.close()
