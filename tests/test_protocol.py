"""RESP on the wire, byte for byte: reply types, inline commands, protocol
errors and request limits.  Wherever Redis 7.0.15 defines the bytes, the same
payload goes to Shardis and to the real redis-server and the answers (up to the
connection close) must be identical."""

from __future__ import annotations

import os
import re
import socket
import time

import pytest

from server.protocol import MAX_MULTIBULK


EOF = b"<EOF>"


def exchange(port: int, payload: bytes | list[bytes], timeout: float = 1.0,
             expect: int | None = None, pause: float = 0.0) -> bytes:
    """Send ``payload`` (or its pieces, ``pause`` seconds apart) and return
    everything received until the server closes (marked with EOF), ``expect``
    bytes arrived, or ``timeout`` passed without data."""
    pieces = payload if isinstance(payload, list) else [payload]
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        for p in pieces:
            s.sendall(p)
            if pause:
                time.sleep(pause)
        data = b""
        while expect is None or len(data) < expect:
            try:
                chunk = s.recv(1 << 16)
            except socket.timeout:
                break
            except ConnectionResetError:
                return data + EOF
            if not chunk:
                return data + EOF
            data += chunk
        return data


def same_as_redis(shardis, real_redis, payload, **kw) -> bytes:
    ours = exchange(shardis.port, payload, **kw)
    theirs = exchange(real_redis.port, payload, **kw)
    assert ours == theirs, f"\nshardis: {ours[:300]!r}\nredis:   {theirs[:300]!r}"
    return ours


@pytest.fixture
def clean(r, rr):
    """Both servers flushed (``r``/``rr`` flush on creation)."""
    yield


def cmd(*args: bytes | str) -> bytes:
    out = [b"*%d\r\n" % len(args)]
    for a in args:
        a = a.encode() if isinstance(a, str) else a
        out.append(b"$%d\r\n%b\r\n" % (len(a), a))
    return b"".join(out)


# ------------------------------------------------------------------ RESP2 replies

def test_resp2_simple_bulk_null_integer_and_error_replies_match_redis(shardis, real_redis, clean):
    out = same_as_redis(shardis, real_redis, b"".join([
        cmd("PING"), cmd("PING", "hi"), cmd("SET", "k", "v"), cmd("GET", "k"),
        cmd("GET", "missing"), cmd("EXISTS", "k", "missing"), cmd("DEL", "k"),
        cmd("ECHO", ""), cmd("NOSUCHCMD", "a", "b"), cmd("GET"),
        cmd("MGET", "a", "b"), cmd("DEL", "a")]), expect=10**9, timeout=0.5)
    assert out == (b"+PONG\r\n$2\r\nhi\r\n+OK\r\n$1\r\nv\r\n$-1\r\n:1\r\n:1\r\n$0\r\n\r\n"
                   b"-ERR unknown command 'NOSUCHCMD', with args beginning with: 'a' 'b' \r\n"
                   b"-ERR wrong number of arguments for 'get' command\r\n"
                   b"*2\r\n$-1\r\n$-1\r\n:0\r\n")


def test_resp2_null_array_and_flat_map_and_double_as_bulk_match_redis(shardis, real_redis, clean):
    # LPOP with a count on a missing key is Redis's classic null array (*-1);
    # HGETALL is a map (flat array in RESP2); ZSCORE a double (bulk in RESP2).
    same_as_redis(shardis, real_redis, b"".join([
        cmd("LPOP", "nolist", "2"), cmd("HSET", "h", "f", "v"), cmd("HGETALL", "h"),
        cmd("ZADD", "z", "1.5", "m"), cmd("ZSCORE", "z", "m"), cmd("ZINCRBY", "z", "1", "m"),
        cmd("SADD", "s", "x"), cmd("SMEMBERS", "s"), cmd("DEL", "h", "z", "s")]),
        expect=10**9, timeout=0.5)


def test_unknown_command_error_truncates_long_arguments_like_redis(shardis, real_redis):
    # Redis caps the quoted argument list at 128 characters in total
    same_as_redis(shardis, real_redis, cmd("X" * 200, "y" * 300, "z"), expect=10**9, timeout=0.5)
    same_as_redis(shardis, real_redis, cmd("NOSUCH", *["a%d" % i for i in range(60)]),
                  expect=10**9, timeout=0.5)


def test_error_replies_never_carry_raw_newlines(shardis, real_redis):
    # Redis turns CR/LF inside an error message into spaces so that the reply
    # stays one protocol line; the next reply must still parse.
    out = same_as_redis(shardis, real_redis, cmd("NO\r\nSUCH", "a\r\nb") + cmd("PING"),
                        expect=10**9, timeout=0.5)
    assert out.count(b"\r\n") == 2 and out.endswith(b"+PONG\r\n")
    out = same_as_redis(shardis, real_redis, cmd("CONFIG", "a\r\nb") + cmd("PING"),
                        expect=10**9, timeout=0.5)
    assert out.count(b"\r\n") == 2 and out.endswith(b"+PONG\r\n")


def test_quit_replies_ok_then_closes_before_later_pipelined_requests(shardis, real_redis):
    out = same_as_redis(shardis, real_redis,
                        cmd("SET", "q", "1") + b"PING\r\n" + cmd("QUIT") + cmd("DEL", "q"))
    assert out == b"+OK\r\n+PONG\r\n+OK\r\n" + EOF
    with shardis.client() as c, real_redis.client() as c2:
        assert c.get("q") == c2.get("q") == b"1"     # the DEL after QUIT never ran
        c.delete("q")
        c2.delete("q")


def test_protocol_error_after_pipelined_shard_commands_answers_them_first(shardis, real_redis):
    payload = b"".join(cmd("SET", f"pe{i}", f"{i}") for i in range(100)) + cmd("MGET", "pe1", "pe99") \
        + b"*1\r\n:7\r\n" + cmd("PING")
    out = same_as_redis(shardis, real_redis, payload)
    assert out == (b"+OK\r\n" * 100 + b"*2\r\n$1\r\n1\r\n$2\r\n99\r\n"
                   b"-ERR Protocol error: expected '$', got ':'\r\n" + EOF)


# ------------------------------------------------------------------ RESP3 replies

def _hello3(id_: int) -> bytes:
    return (b"%7\r\n$6\r\nserver\r\n$5\r\nredis\r\n$7\r\nversion\r\n$6\r\n7.0.15\r\n"
            b"$5\r\nproto\r\n:3\r\n$2\r\nid\r\n:" + str(id_).encode() + b"\r\n"
            b"$4\r\nmode\r\n$10\r\nstandalone\r\n$4\r\nrole\r\n$6\r\nmaster\r\n"
            b"$7\r\nmodules\r\n*0\r\n")


def _strip_hello(out: bytes) -> bytes:
    m = re.match(rb"%7\r\n.*?\$2\r\nid\r\n:(\d+)\r\n.*?\$7\r\nmodules\r\n\*0\r\n", out, re.S)
    assert m, out[:200]
    assert out[:m.end()] == _hello3(int(m.group(1)))
    return out[m.end():]


def test_hello_3_replies_with_a_resp3_map_like_redis(shardis, real_redis):
    for port in (shardis.port, real_redis.port):
        out = exchange(port, cmd("HELLO", "3"), expect=10**9, timeout=0.5)
        assert _strip_hello(out) == b""


def test_resp3_null_map_set_double_and_null_array_bytes_match_redis(shardis, real_redis, clean):
    payload = cmd("HELLO", "3") + b"".join([
        cmd("GET", "missing"), cmd("MGET", "missing"), cmd("HSET", "h", "f", "v"),
        cmd("HGETALL", "h"), cmd("HGETALL", "missing"), cmd("SADD", "s", "a"),
        cmd("SMEMBERS", "s"), cmd("ZADD", "z", "1.5", "a"), cmd("ZSCORE", "z", "a"),
        cmd("ZADD", "z", "inf", "b"), cmd("ZSCORE", "z", "b"), cmd("ZINCRBY", "z", "1", "c"),
        cmd("ZSCORE", "z", "missing"), cmd("LPOP", "nolist", "2"),
        cmd("CONFIG", "GET", "maxclients"), cmd("DEL", "h", "s", "z")])
    ours = _strip_hello(exchange(shardis.port, payload, expect=10**9, timeout=0.5))
    theirs = _strip_hello(exchange(real_redis.port, payload, expect=10**9, timeout=0.5))
    assert ours == theirs
    assert theirs.startswith(b"_\r\n*1\r\n_\r\n:1\r\n%1\r\n$1\r\nf\r\n$1\r\nv\r\n%0\r\n:1\r\n"
                             b"~1\r\n$1\r\na\r\n:1\r\n,1.5\r\n:1\r\n,inf\r\n,1\r\n_\r\n_\r\n")


def test_resp3_integer_replies_are_not_turned_into_booleans(shardis, real_redis, clean):
    # Redis 7.0 commands never reply with RESP3 booleans (#t/#f): their 0/1
    # answers stay integers in RESP3 (only Lua with redis.setresp(3) makes #).
    payload = cmd("HELLO", "3") + b"".join([
        cmd("SET", "k", "v"), cmd("SETNX", "k", "v"), cmd("EXPIRE", "k", "100"),
        cmd("PERSIST", "k"), cmd("SADD", "s", "a"), cmd("SISMEMBER", "s", "a"),
        cmd("HSET", "h", "f", "v"), cmd("HEXISTS", "h", "f"), cmd("EXISTS", "k"),
        cmd("DEL", "k", "s", "h")])
    ours = _strip_hello(exchange(shardis.port, payload, expect=10**9, timeout=0.5))
    theirs = _strip_hello(exchange(real_redis.port, payload, expect=10**9, timeout=0.5))
    assert ours == theirs
    assert b"#" not in ours


def test_resp3_client_info_is_a_verbatim_string(shardis):
    out = _strip_hello(exchange(shardis.port, cmd("HELLO", "3") + cmd("CLIENT", "INFO"),
                                expect=10**9, timeout=0.5))
    m = re.match(rb"=(\d+)\r\ntxt:", out)
    assert m, out[:80]
    body = out[m.end() - 4:]
    assert body.endswith(b"\r\n") and len(body) - 2 == int(m.group(1))
    assert b" resp=3" in body


def test_resp2_client_info_is_a_plain_bulk_string(shardis):
    out = exchange(shardis.port, cmd("CLIENT", "INFO"), expect=10**9, timeout=0.5)
    m = re.match(rb"\$(\d+)\r\nid=", out)
    assert m, out[:80]
    assert len(out) - m.end() + 3 - 2 == int(m.group(1))


def test_hello_2_switches_back_to_resp2_encodings(shardis, real_redis, clean):
    payload = (cmd("HELLO", "3") + cmd("HELLO", "2") + cmd("GET", "missing")
               + cmd("SADD", "s", "a") + cmd("SMEMBERS", "s") + cmd("DEL", "s"))
    ours = exchange(shardis.port, payload, expect=10**9, timeout=0.5)
    theirs = exchange(real_redis.port, payload, expect=10**9, timeout=0.5)
    tail = b"$-1\r\n:1\r\n*1\r\n$1\r\na\r\n:1\r\n"
    assert ours.endswith(tail) and theirs.endswith(tail)


def test_hello_with_unsupported_protocol_version_errors_like_redis(shardis, real_redis):
    same_as_redis(shardis, real_redis, cmd("HELLO", "4") + cmd("HELLO", "x") + cmd("PING"),
                  expect=10**9, timeout=0.5)


# ------------------------------------------------------------------ inline commands

@pytest.mark.parametrize("payload", [
    b"PING\r\n",
    b"PING\n",
    b"\r\n\n   \r\nPING\r\n",                          # empty lines are ignored
    b'ECHO "\\x41\\x4g\\n\\z\\t\\"q"\r\n',             # escapes in double quotes
    b"ECHO 'a\\'b'\r\n",                               # \' in single quotes
    b"ECHO 'a\\nb'\r\n",                               # no other escapes in single quotes
    b'SET "a b" "x\\ny"\r\nGET "a b"\r\nDEL "a b"\r\n',
    b'ECHO ""\r\n',                                    # an empty argument
    b"   ECHO    spaced    \r\n",
    b"ECHO a b\r\n",                                   # wrong arity
    b'ECHO "\\xff\\x00\\x0D"\r\n',                     # binary through hex escapes
    b"ping\r\nPiNg\r\n",
    b"ECHO \"a\"\t'b'\r\n",
])
def test_inline_commands_are_split_like_redis(shardis, real_redis, clean, payload):
    same_as_redis(shardis, real_redis, payload, expect=10**9, timeout=0.4)


def test_inline_command_split_across_reads_is_reassembled(shardis, real_redis):
    pieces = [b"EC", b"HO \"hel", b"lo wor", b"ld\"\r", b"\nPING\r\n"]
    assert same_as_redis(shardis, real_redis, pieces, pause=0.05, expect=19) == \
        b"$11\r\nhello world\r\n+PONG\r\n"


@pytest.mark.parametrize("line", [b'SET "a b\r\n', b"SET 'a\r\n", b'SET "a"b c\r\n',
                                  b"SET 'a'b c\r\n"])
def test_unbalanced_quotes_reply_protocol_error_and_close(shardis, real_redis, line):
    out = same_as_redis(shardis, real_redis, b"PING\r\n" + line + b"PING\r\n")
    assert out == b"+PONG\r\n-ERR Protocol error: unbalanced quotes in request\r\n" + EOF


def test_protocol_error_on_one_connection_leaves_others_working(shardis):
    with socket.create_connection(("127.0.0.1", shardis.port), timeout=2) as other:
        other.sendall(b"SET pe-other 1\r\n")
        assert other.recv(100) == b"+OK\r\n"
        assert exchange(shardis.port, b'ECHO "oops\r\n') == \
            b"-ERR Protocol error: unbalanced quotes in request\r\n" + EOF
        other.sendall(b"GET pe-other\r\nDEL pe-other\r\n")
        got = b""
        while len(got) < 11:
            got += other.recv(100)
        assert got == b"$1\r\n1\r\n:1\r\n"


def test_inline_request_over_64kb_without_newline_is_rejected(shardis, real_redis):
    out = same_as_redis(shardis, real_redis, b"x" * (70 * 1024), timeout=2.0)
    assert out == b"-ERR Protocol error: too big inline request\r\n" + EOF


# ------------------------------------------------------------------ multibulk errors

@pytest.mark.parametrize("payload", [
    b"*x\r\n", b"*1a\r\n", b"*\r\n", b"* 1\r\n", b"*+1\r\n$4\r\nPING\r\n",
    b"*01\r\n$4\r\nPING\r\n",
    b"*2\r\n$x\r\n", b"*1\r\n$\r\n", b"*1\r\n$1a\r\n", b"*1\r\n$-5\r\n", b"*1\r\n$-1\r\n",
    b"*1\r\n$+4\r\nPING\r\n", b"*1\r\n$04\r\nPING\r\n",
    b"*1\r\nx3\r\nfoo\r\n", b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\nx1\r\n",
    b"*1\r\n:1\r\n", b"*2\r\n$4\r\nECHO\r\n*1\r\n$1\r\na\r\n",
    b"*1\r\n$536870913\r\n",
    b"*1\r\n$" + b"1" * 70000,
    b"*" + b"1" * 70000,
    # earlier requests of the same read are answered before the error
    b"*1\r\n$4\r\nPING\r\n*2\r\n$4\r\nECHO\r\n$600000000\r\nabc",
    b"*1\r\n$4\r\nPING\r\n*1\r\n$4\r\nPING\r\n*3\r\n$3\r\nSET\r\n$1\r\nk\r\n:5\r\n",
    b"*1\r\n$4\r\nPING\r\n*1\r\n$" + b"1" * 70000,
    b"PING\r\n*1\r\nx\r\n",
])
def test_malformed_multibulk_gets_redis_error_text_and_close(shardis, real_redis, payload):
    out = same_as_redis(shardis, real_redis, payload)
    assert out.endswith(EOF) and b"-ERR Protocol error: " in out


@pytest.mark.parametrize("payload", [
    b"*-1\r\nPING\r\n", b"*0\r\nPING\r\n", b"*0\r\n*1\r\n$4\r\nPING\r\n",
    b"*1\r\n$4\r\nPING\r\nPING\r\n",                 # inline after multibulk, one read
    b"PING\r\n*1\r\n$4\r\nPING\r\nPING\r\n",
    b"*1\r\n$4\r\nPING\r\n$3\r\nfoo\r\n:1\r\nPING\r\n",   # top-level non-arrays are inline
])
def test_empty_multibulk_is_ignored_and_inline_may_follow_multibulk(shardis, real_redis, payload):
    out = same_as_redis(shardis, real_redis, payload, timeout=0.5)
    assert out.endswith(b"+PONG\r\n")


def test_protocol_error_header_split_byte_by_byte_is_detected(shardis, real_redis):
    payload = cmd("PING") + b"*2\r\n$4\r\nECHO\r\n$600000000\r\n"
    out = same_as_redis(shardis, real_redis, [payload[i:i + 1] for i in range(len(payload))],
                        pause=0.002, timeout=2.0)
    assert out == b"+PONG\r\n-ERR Protocol error: invalid bulk length\r\n" + EOF


# ------------------------------------------------------------------ limits

def test_bulk_over_proto_max_bulk_len_is_rejected_before_its_payload(shardis):
    # Only the header is sent: the server must answer without waiting for
    # (and buffering) 512 MB.
    t0 = time.monotonic()
    out = exchange(shardis.port, b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$536870913\r\n", timeout=3.0)
    assert out == b"-ERR Protocol error: invalid bulk length\r\n" + EOF
    assert time.monotonic() - t0 < 2.5


def test_bulk_length_limit_follows_config_and_applies_after_pipelined_requests(shardis_factory):
    s = shardis_factory("--shards", "2", "--set", "proto-max-bulk-len=2mb")
    limit = 2 * 1024 * 1024
    with s.client() as c:
        c.set("exact", b"v" * limit)                     # exactly at the limit: fine
        assert len(c.get("exact")) == limit
    head = b"".join(cmd("SET", f"k{i}", f"v{i}") for i in range(300))
    out = exchange(s.port, head + b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$%d\r\nxxxx" % (limit + 1),
                   timeout=3.0)
    assert out == b"+OK\r\n" * 300 + b"-ERR Protocol error: invalid bulk length\r\n" + EOF
    # the same with the payload trickling in behind the header
    with socket.create_connection(("127.0.0.1", s.port), timeout=3) as sock:
        sock.sendall(cmd("PING") + b"*2\r\n$4\r\nECHO\r\n")
        time.sleep(0.05)
        sock.sendall(b"$%d\r\n" % (limit + 1))
        data = b""
        while not data.endswith(b"length\r\n"):
            chunk = sock.recv(1000)
            assert chunk
            data += chunk
        assert data == b"+PONG\r\n-ERR Protocol error: invalid bulk length\r\n"
        assert sock.recv(100) == b""


def test_multibulk_count_over_the_cap_is_rejected(shardis):
    # Redis 7.0.15 allows up to INT_MAX elements; Shardis caps a request at
    # MAX_MULTIBULK (8M elements, 64 MB of argument list before the bytes
    # themselves; docs/parsing.md).  Past the cap: Redis's error for an
    # invalid count, then close.
    over = b"*%d\r\n" % (MAX_MULTIBULK + 1)
    out = exchange(shardis.port, over, timeout=2.0)
    assert out == b"-ERR Protocol error: invalid multibulk length\r\n" + EOF
    out = exchange(shardis.port, cmd("PING") + over + b"$3\r\nDEL\r\n", timeout=2.0)
    assert out == b"+PONG\r\n-ERR Protocol error: invalid multibulk length\r\n" + EOF


def test_multibulk_count_over_one_million_is_accepted_like_redis_7(shardis):
    n = 1024 * 1024 + 1
    payload = b"*%d\r\n$3\r\nDEL\r\n" % n + b"$1\r\nx\r\n" * (n - 1)
    out = exchange(shardis.port, payload, timeout=10.0, expect=4)
    assert out == b":0\r\n"


# ------------------------------------------------------------------ binary safety

BINARY = [b"a\x00b", b"crlf\r\nin key", b"\xff\xfe\x00\r\n", b"", b"{tag}\x00\xff",
          bytes(range(256))]


def test_binary_keys_and_values_round_trip(r):
    for i, k in enumerate(BINARY):
        if not k:
            continue
        v = BINARY[-1 - i] + b"\r\n\x00"
        assert r.set(k, v) is True
        assert r.get(k) == v
    keys = [k for k in BINARY if k]
    assert r.mget(keys) == [BINARY[-1 - i] + b"\r\n\x00"
                            for i, k in enumerate(BINARY) if k]
    assert r.delete(*keys) == len(keys)


def test_empty_key_and_empty_value_are_valid(r, rr):
    for c in (r, rr):
        assert c.set(b"", b"") is True
        assert c.get(b"") == b""
        assert c.exists(b"") == 1
        assert c.delete(b"") == 1


def test_multi_megabyte_values_round_trip_exactly(r):
    big = os.urandom(3 * 1024 * 1024) + b"\r\n$5\r\n*1\r\n" + os.urandom(2 * 1024 * 1024)
    assert r.set("big", big) is True
    assert r.get("big") == big
    r.mset({"big2": big[::-1], "{t}big3": big[:1000]})
    assert r.mget("big", "big2", "{t}big3") == [big, big[::-1], big[:1000]]


def test_value_looking_like_resp_does_not_confuse_the_parser(shardis):
    # A value carrying an encoded request (and a huge bulk header) must be
    # taken as data, whatever the read boundaries.
    evil = cmd("ECHO", "x") + b"*1\r\n$600000000\r\n" + cmd("PING")
    payload = b"".join(cmd("SET", f"e{i}", evil) for i in range(50)) + cmd("GET", "e7") \
        + cmd("DEL", *[f"e{i}" for i in range(50)])
    expect = b"+OK\r\n" * 50 + b"$%d\r\n%b\r\n" % (len(evil), evil)
    for size in (1, 7, 13, 64, 1000):
        pieces = [payload[i:i + size] for i in range(0, len(payload), size)]
        with socket.create_connection(("127.0.0.1", shardis.port), timeout=3) as s:
            for p in pieces:
                s.sendall(p)
            data = b""
            while len(data) < len(expect) + 5:
                chunk = s.recv(1 << 16)
                assert chunk, data[-200:]
                data += chunk
        assert data == expect + b":50\r\n"


# (both request parsers reject it, the C one and its pure-Python port; the old
# fallback, built on hiredis, could not tell a '+' element from a bulk string)
def test_simple_string_element_in_a_request_is_a_protocol_error(shardis, real_redis):
    same_as_redis(shardis, real_redis, b"*1\r\n+PING\r\n")
