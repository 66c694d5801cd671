"""Stopping the server: SIGINT, SIGTERM and SHUTDOWN exit with status 0 and a
clean log, after the replies already due have been written.

Like Redis, a successful SHUTDOWN gets no reply: the connection just closes.
Unlike Redis (which exits as soon as SHUTDOWN runs and may drop replies still
in its buffers), Shardis writes every reply to requests before it first."""

from __future__ import annotations

import signal
import socket
import subprocess
import threading
import time

import hiredis
import pytest
import redis

DIRTY = ("Traceback", "Exception ignored", "Task was destroyed", "was never awaited",
         "Fatal error", "Unhandled")


def cmd(*args) -> bytes:
    out = [b"*%d\r\n" % len(args)]
    for a in args:
        a = a if isinstance(a, bytes) else str(a).encode()
        out.append(b"$%d\r\n%b\r\n" % (len(a), a))
    return b"".join(out)


def wait_exit(server, timeout: float = 15.0) -> int:
    try:
        return server.proc.wait(timeout)
    except subprocess.TimeoutExpired:
        server.proc.kill()
        server.proc.wait()
        pytest.fail(f"server did not exit within {timeout}s:\n{server.log()[-2000:]}")


def assert_clean_log(server) -> None:
    log = server.log()
    for word in DIRTY:
        assert word not in log, f"{word!r} in server log:\n{log[-3000:]}"


def read_to_eof(sock: socket.socket, timeout: float = 5.0) -> bytes:
    sock.settimeout(timeout)
    data = b""
    while True:
        try:
            chunk = sock.recv(1 << 20)
        except ConnectionResetError:
            pytest.fail("connection reset instead of closed")
        if not chunk:
            return data
        data += chunk


def port_closed(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return False
    except OSError:
        return True


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_signal_stops_the_server_with_status_0_and_a_clean_log(shardis_factory, sig):
    s = shardis_factory("--shards", "3")
    with s.client() as c:
        c.mset({f"k{i}": i for i in range(100)})
        idle = socket.create_connection(("127.0.0.1", s.port))
        s.proc.send_signal(sig)
        assert wait_exit(s) == 0
    assert read_to_eof(idle) == b""             # idle clients see a plain close
    idle.close()
    assert_clean_log(s)
    assert port_closed(s.port)


def test_shutdown_command_closes_without_reply_and_exits_0(shardis_factory):
    s = shardis_factory("--shards", "2")
    with socket.create_connection(("127.0.0.1", s.port)) as sock:
        sock.sendall(cmd("SET", "a", "1") + cmd("SHUTDOWN"))
        assert read_to_eof(sock) == b"+OK\r\n"
    assert wait_exit(s) == 0
    assert_clean_log(s)
    assert port_closed(s.port)


def test_redis_py_shutdown_succeeds(shardis_factory):
    # redis-py treats a reply to SHUTDOWN as failure and a closed connection
    # as success.
    s = shardis_factory("--shards", "2")
    with s.client() as c:
        c.set("x", "y")
        c.shutdown(nosave=True)
    assert wait_exit(s) == 0
    assert_clean_log(s)


@pytest.mark.parametrize("args", [("NOSAVE",), ("SAVE",), ("NOW", "NOSAVE", "FORCE"),
                                  ("nosave",)])
def test_shutdown_options_are_accepted(shardis_factory, args):
    s = shardis_factory("--shards", "2")
    with socket.create_connection(("127.0.0.1", s.port)) as sock:
        sock.sendall(cmd("SHUTDOWN", *args))
        assert read_to_eof(sock) == b""
    assert wait_exit(s) == 0
    assert_clean_log(s)


def test_pipeline_before_shutdown_gets_every_reply(shardis_factory):
    s = shardis_factory("--shards", "4")
    n = 10000
    payload = b"".join(cmd("SET", f"k{i}", i) for i in range(n)) + cmd("SHUTDOWN")
    with socket.create_connection(("127.0.0.1", s.port)) as sock:
        threading.Thread(target=sock.sendall, args=(payload,), daemon=True).start()
        data = read_to_eof(sock)
    assert data == b"+OK\r\n" * n
    assert wait_exit(s) == 0
    assert_clean_log(s)


def test_requests_after_shutdown_in_the_same_read_are_not_executed(shardis_factory):
    s = shardis_factory("--shards", "2")
    with socket.create_connection(("127.0.0.1", s.port)) as sock:
        sock.sendall(cmd("PING") + cmd("SHUTDOWN") + cmd("PING") + cmd("SET", "late", "1"))
        assert read_to_eof(sock) == b"+PONG\r\n"
    assert wait_exit(s) == 0
    assert_clean_log(s)


def test_signal_while_a_client_pipelines_still_delivers_replies_due(shardis_factory):
    s = shardis_factory("--shards", "4")
    n = 10000
    payload = b"".join(cmd("SET", f"k{i}", "v" * 100) for i in range(n))
    with socket.create_connection(("127.0.0.1", s.port)) as sock:
        sock.sendall(payload)
        sock.settimeout(10)
        first = sock.recv(5)
        assert first == b"+OK\r\n"
        s.proc.send_signal(signal.SIGTERM)
        data = first + read_to_eof(sock)
    # every request the server read was answered; it read all of them, since
    # the first reply came back (the pipeline fits in one burst of reads)
    reader = hiredis.Reader()
    reader.feed(data)
    count = 0
    while (rep := reader.gets()) is not False:
        assert rep == b"OK"
        count += 1
    assert not reader.has_data()
    assert count == n
    assert wait_exit(s) == 0
    assert_clean_log(s)


def test_other_clients_see_a_clean_close_on_shutdown(shardis_factory):
    s = shardis_factory("--shards", "2")
    others = [socket.create_connection(("127.0.0.1", s.port)) for _ in range(5)]
    for o in others:
        o.sendall(cmd("PING"))
        assert o.recv(10) == b"+PONG\r\n"
    with socket.create_connection(("127.0.0.1", s.port)) as sock:
        sock.sendall(cmd("SHUTDOWN", "NOSAVE"))
        assert read_to_eof(sock) == b""
    for o in others:
        assert read_to_eof(o) == b""
        o.close()
    assert wait_exit(s) == 0
    assert_clean_log(s)


def test_shutdown_with_bad_arguments_errors_like_redis_and_keeps_running(shardis, real_redis):
    payload = (cmd("SHUTDOWN", "foo") + cmd("SHUTDOWN", "NOSAVE", "SAVE")
               + cmd("SHUTDOWN", "ABORT") + cmd("MULTI") + cmd("SHUTDOWN") + cmd("DISCARD")
               + cmd("PING"))
    outs = []
    for port in (shardis.port, real_redis.port):
        with socket.create_connection(("127.0.0.1", port), timeout=3) as sock:
            sock.sendall(payload)
            data = b""
            while not data.endswith(b"+PONG\r\n"):
                chunk = sock.recv(4096)
                assert chunk, data
                data += chunk
            outs.append(data)
    assert outs[0] == outs[1]
    assert outs[1] == (b"-ERR syntax error\r\n-ERR syntax error\r\n"
                       b"-ERR No shutdown in progress.\r\n+OK\r\n"
                       b"-ERR Command not allowed inside a transaction\r\n+OK\r\n+PONG\r\n")
    with shardis.client() as c:
        assert c.ping() is True


def test_server_exits_even_if_a_client_never_reads_its_replies(shardis_factory):
    # Replies are drained for a bounded time only: a stuck client cannot keep
    # the process alive.
    s = shardis_factory("--shards", "2")
    with s.client() as c:
        c.set("big", b"x" * 65536)
    stuck = socket.create_connection(("127.0.0.1", s.port))
    stuck.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
    stuck.sendall(cmd("GET", "big") * 2000)      # 128 MB of replies, never read
    time.sleep(0.5)
    t0 = time.monotonic()
    s.proc.send_signal(signal.SIGTERM)
    assert wait_exit(s, timeout=20) == 0
    assert time.monotonic() - t0 < 15
    stuck.close()
    assert_clean_log(s)
    with pytest.raises(redis.ConnectionError):
        s.client(socket_connect_timeout=0.5).ping()
