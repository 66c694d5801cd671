"""Connection commands: PING, ECHO, AUTH, CLIENT (ID, GETNAME/SETNAME,
SETINFO, LIST, INFO, KILL, REPLY, PAUSE/UNPAUSE, NO-EVICT, NO-TOUCH, HELP),
with redis-py in RESP2 and RESP3 and errors compared with redis-server."""

from __future__ import annotations

import socket
import threading
import time

import pytest
import redis


def err(client, *args) -> str:
    # redis-py raises some error replies as other RedisError subclasses
    # (AuthenticationError for AUTH's), so catch them all and compare text
    with pytest.raises(redis.RedisError) as ei:
        client.execute_command(*args)
    return str(ei.value)


def same_error(r, rr, *args) -> str:
    ours, theirs = err(r, *args), err(rr, *args)
    assert ours == theirs, args
    return ours


def raw(client, *args):
    conn = client.connection_pool.get_connection()
    try:
        conn.send_command(*args)
        return conn.read_response()
    finally:
        client.connection_pool.release(conn)


def exchange(port: int, payload: bytes, until: bytes, timeout: float = 3.0) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(payload)
        data = b""
        while not data.endswith(until):
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
        return data


# ------------------------------------------------------------------ PING / ECHO

def test_ping_and_echo_in_both_protocols(r, r3, rr):
    assert r.ping() is True and r3.ping() is True
    assert r.echo("hi") == rr.echo("hi") == b"hi"
    assert raw(r, "PING", "msg") == b"msg"
    same_error(r, rr, "PING", "a", "b")
    same_error(r, rr, "ECHO")


# ------------------------------------------------------------------ AUTH

def test_auth_without_a_password_configured_is_redis_error(r, rr):
    same_error(r, rr, "AUTH", "secret")
    same_error(r, rr, "AUTH", "someone", "secret")
    same_error(r, rr, "AUTH", "a", "b", "c")


def test_auth_default_user_without_password_accepts_any_password(r, rr):
    assert raw(r, "AUTH", "default", "anything") == raw(rr, "AUTH", "default", "anything")


def test_requirepass_makes_clients_authenticate(shardis_factory):
    s = shardis_factory("--shards", "2", "--requirepass", "s3cret")
    with s.client() as c:
        # redis-py's connection handshake itself is refused with NOAUTH
        with pytest.raises(redis.AuthenticationError):
            c.get("k")
    with s.client(password="wrong") as c:
        with pytest.raises(redis.AuthenticationError):
            c.get("k")
    with s.client(password="s3cret") as c:
        assert c.set("k", "v") is True and c.get("k") == b"v"
    with s.client(password="s3cret", protocol=3) as c:
        assert c.get("k") == b"v"
    with socket.create_connection(("127.0.0.1", s.port), timeout=3) as sock:
        sock.sendall(b"GET k\r\nPING\r\nAUTH wrong\r\nAUTH s3cret\r\nGET k\r\n")
        data = b""
        while not data.endswith(b"$1\r\nv\r\n"):
            data += sock.recv(1000)
    assert data == (b"-NOAUTH Authentication required.\r\n"
                    b"-NOAUTH Authentication required.\r\n"
                    b"-WRONGPASS invalid username-password pair or user is disabled.\r\n"
                    b"+OK\r\n$1\r\nv\r\n")


def test_config_set_requirepass_applies_to_new_connections(shardis_factory):
    s = shardis_factory("--shards", "1")
    with s.client() as admin:
        admin.config_set("requirepass", "pw")
        assert admin.ping() is True                  # already connected: stays in
        with s.client() as c:
            with pytest.raises(redis.AuthenticationError):
                c.get("x")
        with s.client(password="pw") as c:
            assert c.ping() is True
        admin.config_set("requirepass", "")
    with s.client() as c:
        assert c.ping() is True


def test_hello_with_auth_authenticates(shardis_factory):
    s = shardis_factory("--shards", "1", "--requirepass", "pw")
    with socket.create_connection(("127.0.0.1", s.port), timeout=3) as sock:
        sock.sendall(b"HELLO 2 AUTH default bad\r\nHELLO 2 AUTH default pw\r\nPING\r\n")
        data = b""
        while not data.endswith(b"+PONG\r\n"):
            data += sock.recv(4096)
    assert data.startswith(b"-WRONGPASS invalid username-password pair")
    assert b"*14\r\n$6\r\nserver\r\n" in data


# ------------------------------------------------------------------ CLIENT basics

def test_client_id_is_unique_and_matches_client_info(shardis):
    with shardis.client() as a, shardis.client() as b:
        ia, ib = a.client_id(), b.client_id()
        assert ia != ib and ia > 0
        assert f"id={ia} " in a.execute_command("CLIENT", "INFO").decode()


def test_client_setname_getname_and_errors(r, rr):
    assert r.client_getname() is None
    assert r.client_setname("worker-1") is True
    assert r.client_getname() in (b"worker-1", "worker-1")
    assert "name=worker-1 " in r.execute_command("CLIENT", "INFO").decode()
    assert r.client_setname("") is True
    assert r.client_getname() is None
    same_error(r, rr, "CLIENT", "SETNAME", "a b")
    same_error(r, rr, "CLIENT", "SETNAME", "a\nb")
    same_error(r, rr, "CLIENT", "SETNAME")
    same_error(r, rr, "CLIENT", "FOO")
    same_error(r, rr, "CLIENT")


def test_client_setinfo_sets_library_name_and_version(r):
    assert raw(r, "CLIENT", "SETINFO", "LIB-NAME", "mylib") == b"OK"
    assert raw(r, "CLIENT", "SETINFO", "lib-ver", "1.2.3") == b"OK"
    info = r.execute_command("CLIENT", "INFO").decode()
    assert "lib-name=mylib " in info and info.rstrip().endswith("lib-ver=1.2.3")
    assert err(r, "CLIENT", "SETINFO", "FOO", "x") == "Unrecognized option 'FOO'"
    assert err(r, "CLIENT", "SETINFO", "LIB-NAME", "a b") == \
        "LIB-NAME cannot contain spaces, newlines or special characters."


def test_redis_py_8_connects_with_resp3_by_default(shardis):
    # redis-py 8 sends CLIENT SETINFO and CLIENT MAINT_NOTIFICATIONS on connect
    with redis.Redis(host="127.0.0.1", port=shardis.port) as c:
        assert c.ping() is True
        info = c.client_info()
        assert info["lib-name"] == "redis-py"
        assert c.set("rp8", "1") is True and c.get("rp8") == b"1"
        c.delete("rp8")


def test_client_list_format_filters_and_errors(shardis, r, rr):
    with shardis.client() as other:
        other.client_setname("other")
        oid = other.client_id()
        text = r.execute_command("CLIENT", "LIST").decode()
        lines = text.splitlines()
        assert text.endswith("\n") and len(lines) >= 2
        assert any(l.startswith(f"id={oid} ") and " name=other " in l for l in lines)
        fields = [kv.split("=")[0] for kv in lines[0].split(" ")]
        assert fields[:8] == ["id", "addr", "laddr", "fd", "name", "age", "idle", "flags"]
        only = r.execute_command("CLIENT", "LIST", "ID", str(oid)).decode().splitlines()
        assert len(only) == 1 and only[0].startswith(f"id={oid} ")
        assert r.execute_command("CLIENT", "LIST", "ID", "999999") == b""
        normal = r.execute_command("CLIENT", "LIST", "TYPE", "normal").decode()
        assert f"id={oid} " in normal
        assert r.execute_command("CLIENT", "LIST", "TYPE", "pubsub") == b""
        assert r.client_list()[0]["id"]
    for args in (("CLIENT", "LIST", "TYPE", "foo"), ("CLIENT", "LIST", "ID", "x"),
                 ("CLIENT", "LIST", "foo")):
        same_error(r, rr, *args)


def test_client_list_shows_pubsub_clients_by_type(shardis, r):
    p = shardis.client().pubsub()
    p.subscribe("chan")
    p.get_message(timeout=1)
    try:
        text = r.execute_command("CLIENT", "LIST", "TYPE", "pubsub").decode()
        assert len(text.splitlines()) == 1 and " sub=1 " in text
    finally:
        p.close()


def test_client_list_and_info_are_verbatim_in_resp3(shardis):
    data = exchange(shardis.port, b"HELLO 3\r\nCLIENT LIST\r\n", until=b"\n\r\n")
    assert b"\r\n=" in data and b"txt:id=" in data


# ------------------------------------------------------------------ CLIENT KILL

def wait_closed(sock: socket.socket) -> bool:
    sock.settimeout(2)
    try:
        return sock.recv(10) == b""
    except (ConnectionResetError, socket.timeout):
        return True


def test_client_kill_by_address_old_form(shardis, r, rr):
    victim = socket.create_connection(("127.0.0.1", shardis.port))
    addr = "%s:%d" % victim.getsockname()
    time.sleep(0.1)
    assert r.execute_command("CLIENT", "KILL", addr) in (True, b"OK")
    assert wait_closed(victim)
    victim.close()
    same_error(r, rr, "CLIENT", "KILL", "1.2.3.4:5")


def test_client_kill_filters_return_the_number_killed(shardis, r):
    victims = [shardis.client() for _ in range(3)]
    ids = [v.client_id() for v in victims]
    assert r.execute_command("CLIENT", "KILL", "ID", str(ids[0])) == 1
    assert r.execute_command("CLIENT", "KILL", "ID", str(ids[0])) == 0
    name_of = {}
    for v in victims[1:]:
        v.client_setname("victim")
    lines = r.execute_command("CLIENT", "LIST").decode().splitlines()
    addr = next(l.split(" ")[1][5:] for l in lines if l.startswith(f"id={ids[1]} "))
    assert r.execute_command("CLIENT", "KILL", "ADDR", addr, "SKIPME", "yes") == 1
    me = r.client_id()
    assert r.execute_command("CLIENT", "KILL", "MAXAGE", "100000") == 0
    killed = r.execute_command("CLIENT", "KILL", "TYPE", "normal", "ID", str(ids[2]))
    assert killed == 1
    assert r.client_id() == me                      # SKIPME yes by default
    del name_of
    for v in victims:
        v.close()


def test_client_kill_skipme_no_kills_the_caller_after_replying(shardis):
    with socket.create_connection(("127.0.0.1", shardis.port), timeout=3) as s:
        s.sendall(b"CLIENT ID\r\n")
        my_id = int(s.recv(100)[1:].strip())
        s.sendall(b"CLIENT KILL ID %d SKIPME no\r\n" % my_id)
        data = b""
        while True:
            chunk = s.recv(100)
            if not chunk:
                break
            data += chunk
    assert data == b":1\r\n"


@pytest.mark.parametrize("args", [
    ("CLIENT", "KILL", "ID", "x"), ("CLIENT", "KILL", "ID", "0"),
    ("CLIENT", "KILL", "foo", "bar"), ("CLIENT", "KILL", "TYPE", "foo"),
    ("CLIENT", "KILL", "SKIPME", "maybe"), ("CLIENT", "KILL", "MAXAGE", "x"),
    ("CLIENT", "KILL", "ID", "1", "TYPE"), ("CLIENT", "KILL"),
])
def test_client_kill_errors_match_redis(r, rr, args):
    same_error(r, rr, *args)


def test_client_kill_id_of_missing_client_is_zero_like_redis(r, rr):
    assert r.execute_command("CLIENT", "KILL", "ID", "99999999") == \
        rr.execute_command("CLIENT", "KILL", "ID", "99999999") == 0


# ------------------------------------------------------------------ CLIENT REPLY

def test_client_reply_off_skip_on_over_the_wire(shardis):
    payload = (b"CLIENT REPLY OFF\r\nSET a 1\r\nGET a\r\nCLIENT REPLY ON\r\nGET a\r\n"
               b"CLIENT REPLY SKIP\r\nSET b 2\r\nGET b\r\n")
    data = exchange(shardis.port, payload, until=b"$1\r\n2\r\n")
    assert data == b"+OK\r\n$1\r\n1\r\n$1\r\n2\r\n"


def test_client_reply_matches_redis_byte_for_byte(shardis, real_redis, rr):
    payload = (b"CLIENT REPLY SKIP\r\nPING\r\nPING x\r\nCLIENT REPLY OFF\r\nPING\r\n"
               b"CLIENT REPLY ON\r\nECHO end\r\n")
    ours = exchange(shardis.port, payload, until=b"end\r\n")
    theirs = exchange(real_redis.port, payload, until=b"end\r\n")
    assert ours == theirs == b"$1\r\nx\r\n+OK\r\n$3\r\nend\r\n"


def test_client_reply_errors_match_redis(r, rr):
    same_error(r, rr, "CLIENT", "REPLY", "foo")
    same_error(r, rr, "CLIENT", "REPLY")


# ------------------------------------------------------------------ CLIENT PAUSE

def test_client_pause_all_delays_other_clients_until_it_ends(shardis, r):
    with shardis.client() as other:
        assert r.client_pause(400) is True
        t0 = time.monotonic()
        assert other.set("paused", "1") is True
        assert other.get("paused") == b"1"
        assert time.monotonic() - t0 >= 0.3


def test_client_pause_write_lets_reads_through(shardis, r):
    r.set("pw", "1")
    with shardis.client() as other:
        assert r.client_pause(500, all=False) is True
        t0 = time.monotonic()
        assert other.get("pw") == b"1"
        assert time.monotonic() - t0 < 0.3
        assert other.set("pw", "2") is True
        assert time.monotonic() - t0 >= 0.4
    assert r.get("pw") == b"2"


def test_client_unpause_releases_parked_requests_in_order(shardis, r):
    with shardis.client() as admin, socket.create_connection(("127.0.0.1", shardis.port),
                                                             timeout=5) as s:
        admin.client_pause(10000, all=False)
        s.sendall(b"SET po 1\r\nINCR po\r\nGET po\r\n")
        time.sleep(0.2)
        s.settimeout(0.2)
        with pytest.raises(socket.timeout):
            s.recv(100)
        threading.Timer(0.1, admin.client_unpause).start()
        s.settimeout(5)
        data = b""
        while not data.endswith(b"$1\r\n2\r\n"):
            data += s.recv(100)
    assert data == b"+OK\r\n:2\r\n$1\r\n2\r\n"


def test_client_pause_errors_match_redis(r, rr):
    for args in (("CLIENT", "PAUSE", "x"), ("CLIENT", "PAUSE", "-1"),
                 ("CLIENT", "PAUSE", "10", "FOO"), ("CLIENT", "PAUSE")):
        same_error(r, rr, *args)
    assert r.client_unpause() in (True, b"OK")


# ------------------------------------------------------------------ misc

def test_client_no_evict_and_no_touch(r, rr):
    assert raw(r, "CLIENT", "NO-EVICT", "on") == raw(rr, "CLIENT", "NO-EVICT", "on") == b"OK"
    assert raw(r, "CLIENT", "NO-EVICT", "off") == b"OK"
    same_error(r, rr, "CLIENT", "NO-EVICT", "maybe")
    assert raw(r, "CLIENT", "NO-TOUCH", "on") == b"OK"
    assert raw(r, "CLIENT", "NO-TOUCH", "off") == b"OK"
    assert err(r, "CLIENT", "NO-TOUCH", "maybe") == "syntax error"


def test_client_help_lists_subcommands(r3):
    lines = raw(r3, "CLIENT", "HELP")
    assert lines[0] == b"CLIENT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:"
    assert b"PAUSE <timeout> [WRITE|ALL]" in lines and lines[-1] == b"    Prints this help."
