"""Robustness against a live server: parser fuzzing, garbage storms, many idle
connections, a slow reader, a failing command handler.

Every test runs against a real server process; the invariants are the same
throughout: the offending connection gets a protocol error and is closed,
other connections and acknowledged data are unaffected, the server keeps
answering.  Measured figures are printed (``-s``) and quoted in
docs/robustness.md.
"""

from __future__ import annotations

import os
import random
import socket
import subprocess
import sys
import threading
import time

import pytest
import redis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import ROOT, ServerProc, free_port, start_shardis, wait_port


def rss(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS")


@pytest.fixture(scope="module")
def srv(tmp_path_factory):
    s = start_shardis(tmp_path_factory, "--shards", "2")
    yield s
    s.stop()


@pytest.fixture(scope="module")
def witness(srv):
    """A connection holding acknowledged data that no fuzzing may disturb."""
    c = srv.client()
    c.flushall()
    assert c.set("witness:str", b"v" * 100)
    assert c.sadd("witness:set", *range(50)) == 50
    yield c
    c.close()


def assert_healthy(srv, witness) -> None:
    assert srv.proc.poll() is None, "server died"
    assert witness.ping()
    assert witness.get("witness:str") == b"v" * 100
    assert witness.scard("witness:set") == 50


def exchange(port: int, payload: bytes, timeout: float = 0.5) -> tuple[bytes, bool]:
    """Send payload, read until the server closes or goes quiet; return
    (bytes received, whether the server closed the connection)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(payload)
        data = b""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                chunk = s.recv(65536)
            except socket.timeout:
                return data, False
            except ConnectionResetError:
                return data, True
            if not chunk:
                return data, True
            data += chunk
        return data, False


def check_protocol_error_closes(data: bytes, closed: bool) -> None:
    if b"-ERR Protocol error" in data:
        assert closed, data[-200:]
        # the protocol error is the last thing the connection ever says
        assert data.rstrip(b"\r\n").rsplit(b"\r\n", 1)[-1].startswith(b"-ERR Protocol error")


# commands safe to fuzz (never SHUTDOWN/FLUSHALL/DEBUG): the witness keys
# live under "witness:", fuzzed requests use other names
_SAFE = [[b"SET", b"fz", b"1"], [b"GET", b"fz"], [b"PING"], [b"ECHO", b"hello"],
         [b"INCR", b"fz:n"], [b"SADD", b"fz:s", b"a", b"b"], [b"MGET", b"a", b"b", b"c"],
         [b"DEL", b"fz"], [b"EXISTS", b"fz", b"b"]]


def encode_req(argv: list[bytes]) -> bytes:
    return b"*%d\r\n" % len(argv) + b"".join(b"$%d\r\n%b\r\n" % (len(a), a) for a in argv)


FUZZ = settings(max_examples=80, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture])


@FUZZ
@given(st.binary(min_size=1, max_size=300))
def test_random_bytes_never_hurt_other_connections(srv, witness, blob):
    # inline commands made of random bytes must not spell a dangerous command
    if any(w in blob.upper() for w in (b"SHUTDOWN", b"FLUSH", b"DEBUG", b"CONFIG",
                                       b"ACL", b"CLIENT", b"SWAPDB", b"QUIT")):
        return
    data, closed = exchange(srv.port, blob, timeout=0.3)
    check_protocol_error_closes(data, closed)
    assert_healthy(srv, witness)


@FUZZ
@given(st.lists(st.sampled_from(_SAFE), min_size=1, max_size=5), st.data())
def test_truncated_requests_get_no_reply_for_the_incomplete_part(srv, witness, reqs, data):
    payload = b"".join(encode_req(r) for r in reqs)
    cut = data.draw(st.integers(min_value=1, max_value=len(payload) - 1))
    out, closed = exchange(srv.port, payload[:cut], timeout=0.3)
    assert not closed, out
    # complete requests before the cut are answered, nothing more
    complete = 0
    pos = 0
    for r in reqs:
        pos += len(encode_req(r))
        if pos <= cut:
            complete += 1
    assert out.count(b"\r\n") >= complete or complete == 0
    assert b"Protocol error" not in out
    assert_healthy(srv, witness)


@FUZZ
@given(st.lists(st.sampled_from(_SAFE), min_size=1, max_size=5), st.data())
def test_corrupted_requests_either_parse_or_end_the_connection(srv, witness, reqs, data):
    payload = bytearray(b"".join(encode_req(r) for r in reqs))
    for _ in range(data.draw(st.integers(min_value=1, max_value=3))):
        i = data.draw(st.integers(min_value=0, max_value=len(payload) - 1))
        payload[i] = data.draw(st.sampled_from(b"*$\r\n-0123456789xX:+ \"'\\"))
    out, closed = exchange(srv.port, bytes(payload), timeout=0.3)
    check_protocol_error_closes(out, closed)
    assert_healthy(srv, witness)


def test_specific_protocol_errors_match_redis_and_close(srv, witness, real_redis):
    for payload in (b"*1\r\n$abc\r\n", b"*-5x\r\n", b"*1\r\n$-2\r\n", b"*3\r\nfoo\r\n",
                    b'SET "unbalanced\r\n', b"SET 'a'b\r\n"):
        mine, closed = exchange(srv.port, payload, timeout=0.5)
        theirs, their_closed = exchange(real_redis.port, payload, timeout=0.5)
        assert (mine, closed) == (theirs, their_closed), payload
    assert_healthy(srv, witness)


def test_nul_byte_in_an_inline_request_does_not_hang_the_server(shardis_factory,
                                                                real_redis):
    """Redis looks for an inline request's newline with strchr, which stops
    at a NUL: the request never completes and gets no reply (until the
    inline limit closes the connection); other clients are unaffected.  An
    earlier split_inline looped forever here, appending empty arguments."""
    s = shardis_factory("--shards", "1")
    payload = b"ECHO a\0b\r\nPING\r\n"
    theirs, _ = exchange(real_redis.port, payload, timeout=0.5)
    mine, _ = exchange(s.port, payload, timeout=2.0)
    assert mine == theirs == b""
    payload += b"x" * (70 * 1024)       # past the inline limit: error, closed
    theirs = exchange(real_redis.port, payload, timeout=1.0)
    mine = exchange(s.port, payload, timeout=2.0)
    assert mine == theirs
    assert theirs[1]
    c = s.client(socket_timeout=2)
    assert c.ping()
    c.close()


def test_garbage_storm_from_many_connections_leaves_data_intact(srv, witness):
    stop = time.monotonic() + 3.0
    errors: list = []

    def garbage(seed: int):
        rnd = random.Random(seed)
        while time.monotonic() < stop:
            try:
                with socket.create_connection(("127.0.0.1", srv.port), timeout=1) as s:
                    for _ in range(rnd.randint(1, 5)):
                        s.sendall(encode_req(rnd.choice(_SAFE)))
                    s.sendall(bytes(rnd.randrange(0, 256) for _ in range(rnd.randint(1, 200))))
                    if rnd.random() < 0.5:
                        s.recv(65536)
            except OSError:
                pass

    def good(i: int):
        c = redis.Redis(port=srv.port, socket_timeout=10)
        n = 0
        try:
            while time.monotonic() < stop:
                key = f"good:{i}:{n}"
                c.set(key, n)
                if c.get(key) != str(n).encode():
                    errors.append((key, c.get(key)))
                n += 1
        except Exception as e:  # noqa: BLE001
            errors.append(e)
        finally:
            c.close()

    threads = [threading.Thread(target=garbage, args=(i,)) for i in range(16)]
    threads += [threading.Thread(target=good, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert_healthy(srv, witness)


def test_two_thousand_idle_connections_cost_little_memory(srv, witness):
    time.sleep(0.2)
    before = rss(srv.proc.pid)
    socks = []
    try:
        for _ in range(2000):
            socks.append(socket.create_connection(("127.0.0.1", srv.port), timeout=5))
        # make sure the server has accepted them all
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            n = int(witness.info("clients")["connected_clients"])
            if n >= 2001:
                break
            time.sleep(0.1)
        assert n >= 2001
        time.sleep(0.5)
        after = rss(srv.proc.pid)
        per_conn = (after - before) / 2000
        print(f"\nidle connections: RSS {before / 1e6:.1f} MB -> {after / 1e6:.1f} MB, "
              f"{per_conn / 1024:.1f} KB per connection")
        assert per_conn < 32 * 1024
        assert_healthy(srv, witness)
    finally:
        for s in socks:
            s.close()


def test_slow_reader_keeps_server_memory_bounded_and_others_fast(srv, witness):
    """Pipelined GETs of a 1 MB value, reading nothing: the connection stops
    being read at the 4 MB write-buffer mark (docs/backpressure.md), so the
    server must not hold the replies of every request it was sent."""
    witness.set("big", b"x" * (1 << 20))
    time.sleep(0.2)
    before = rss(srv.proc.pid)
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.connect(("127.0.0.1", srv.port))
    try:
        s.sendall(encode_req([b"GET", b"big"]) * 100)   # 100 MB of replies asked
        time.sleep(2.0)
        grown = rss(srv.proc.pid) - before
        lat = []
        for _ in range(50):
            t = time.perf_counter()
            witness.ping()
            lat.append(time.perf_counter() - t)
        lat.sort()
        print(f"\nslow reader: RSS grew {grown / 1e6:.1f} MB for 100 pipelined 1 MB GETs; "
              f"other client p50 {lat[25] * 1e3:.2f} ms, max {lat[-1] * 1e3:.2f} ms")
        assert lat[-1] < 0.2
        assert_healthy(srv, witness)
        # bounded: the 4 MB high-water mark plus a few values in flight
        assert grown < 32 * 1024 * 1024, f"RSS grew {grown / 1e6:.1f} MB"
    finally:
        s.close()
        witness.delete("big")


def test_slow_reader_of_generated_replies_is_parsed_one_burst_at_a_time(srv, witness):
    """5,000 pipelined GETRANGEs, each building a new 20 KB reply (100 MB in
    all), from a client that reads nothing: the server parses one burst of
    at most 1,024 requests, and the next only once the write buffer is under
    its mark, so it holds about one burst of replies, not all of them."""
    witness.set("mid", b"y" * 20_000)
    time.sleep(0.2)
    before = rss(srv.proc.pid)
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.connect(("127.0.0.1", srv.port))
    try:
        s.sendall(encode_req([b"GETRANGE", b"mid", b"0", b"-1"]) * 5000)
        time.sleep(2.0)
        grown = rss(srv.proc.pid) - before
        print(f"\nslow reader, generated replies: RSS grew {grown / 1e6:.1f} MB "
              f"for 100 MB of replies asked")
        assert_healthy(srv, witness)
        assert grown < 40 * 1024 * 1024, f"RSS grew {grown / 1e6:.1f} MB"
        # and the client still gets every reply, in order, once it reads
        s.settimeout(10)
        want = len(b"$20000\r\n") + 20_002
        got = 0
        while got < want * 5000:
            chunk = s.recv(1 << 20)
            assert chunk
            got += len(chunk)
        assert got == want * 5000
    finally:
        s.close()
        witness.delete("mid")


# A handler that raises: injected into a real server process by the test
# (no test-only command in production code).  GET of "__boom__" raises.
_BOOT = """
import sys
from server import commands
from server.table import TABLE
spec = TABLE[b"get"]
orig = spec.handler
def get(db, argv):
    if argv[1] == b"__boom__":
        raise RuntimeError("injected failure")
    return orig(db, argv)
get.spec = spec
spec.handler = get
from server.main import main
sys.exit(main(sys.argv[1:]))
"""


def test_exception_in_a_handler_becomes_an_error_and_the_shard_keeps_working(tmp_path):
    port = free_port()
    log = tmp_path / "server.log"
    with open(log, "w") as logf:
        proc = subprocess.Popen([sys.executable, "-c", _BOOT, "--port", str(port),
                                 "--shards", "2"], cwd=ROOT, stdout=logf,
                                stderr=subprocess.STDOUT)
    s = ServerProc(proc, port, str(log))
    try:
        wait_port(port, proc)
        c = s.client()
        c.set("__boom__", "x")
        p = c.pipeline(transaction=False)
        p.set("a{__boom__}", 1)            # same shard as the failing key
        p.get("__boom__")
        p.get("a{__boom__}")
        p.incr("a{__boom__}")
        res = p.execute(raise_on_error=False)
        assert res[0] is True and res[2] == b"1" and res[3] == 2
        assert isinstance(res[1], redis.ResponseError)
        assert str(res[1]).startswith("internal error: RuntimeError('injected failure')")
        for _ in range(3):
            with pytest.raises(redis.ResponseError, match="internal error"):
                c.get("__boom__")
        assert c.get("a{__boom__}") == b"2" and c.ping()
        assert "injected failure" in s.log()
        c.close()
    finally:
        s.stop()
    assert os.path.exists(log)
