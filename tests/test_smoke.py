"""The request path end to end: connect, route to shards, reply in order."""

import socket

from conftest import raw_command


def test_ping_set_get_round_trip(r):
    assert r.ping() is True
    assert r.set("a", "1") is True
    assert r.get("a") == b"1"


def test_multi_key_commands_span_shards_and_merge_in_order(r):
    keys = [f"k{i}" for i in range(50)]
    r.mset({k: k.upper() for k in keys})
    assert r.mget(keys + ["missing"]) == [k.upper().encode() for k in keys] + [None]
    assert r.exists(*keys, "missing") == 50
    assert r.delete(*keys[:10]) == 10
    assert r.dbsize() == 40


def test_inline_commands_with_quotes_are_parsed_like_redis(shardis):
    out = raw_command(shardis.port, b'PING\r\nSET "a b" "x\\ny"\r\nGET "a b"\r\n', expect=20)
    assert out == b"+PONG\r\n+OK\r\n$3\r\nx\ny\r\n"


def test_unknown_command_and_wrong_arity_errors_match_redis(shardis):
    out = raw_command(shardis.port, b"*2\r\n$3\r\nFOO\r\n$3\r\nbar\r\n*1\r\n$3\r\nGET\r\n",
                      expect=90)
    assert out == (b"-ERR unknown command 'FOO', with args beginning with: 'bar' \r\n"
                   b"-ERR wrong number of arguments for 'get' command\r\n")


def test_pipeline_of_thousands_of_commands_replies_in_request_order(shardis):
    n = 5000
    payload = b"".join(
        b"*3\r\n$3\r\nSET\r\n$%d\r\nk%d\r\n$%d\r\n%d\r\n" % (len(b"k%d" % i), i, len(b"%d" % i), i)
        + b"*2\r\n$3\r\nGET\r\n$%d\r\nk%d\r\n" % (len(b"k%d" % i), i)
        for i in range(n))
    expected = b"".join(b"+OK\r\n$%d\r\n%d\r\n" % (len(b"%d" % i), i) for i in range(n))
    with socket.create_connection(("127.0.0.1", shardis.port)) as s:
        s.sendall(payload)
        data = b""
        while len(data) < len(expected):
            chunk = s.recv(1 << 20)
            assert chunk
            data += chunk
    assert data == expected
