"""Authentication and ACLs: requirepass, users, rules, NOPERM, protected mode.

Differential where Redis's output is deterministic (errors, rule
descriptions that compact to categories); single-command rule lists are
compared as sets, since Redis prints them in its command hash-table order.
"""

from __future__ import annotations

import socket

import pytest
import redis

from conftest import raw_command
from server.acl import DENIED_PROTECTED, protected_mode_denies


def both(r, rr, *cmd):
    out = []
    for c in (r, rr):
        try:
            out.append(c.execute_command(*cmd))
        except redis.ResponseError as e:
            out.append(("ERR", str(e)))
    return out


@pytest.fixture
def users(r, rr):
    made = []
    yield made
    for c in (r, rr):
        for name in made:
            c.execute_command("ACL", "DELUSER", name)


def test_setuser_errors_match_redis(r, rr, users):
    users.append("x")
    for rules in (["foo"], ["+nosuch"], ["+@nosuch"], ["#abc"], ["<nope"],
                  ["~*", "~x"], ["&*", "&x"], ["+config|get|x"], ["-select|0"],
                  ["%X~a"], ["%~a"]):
        a, b = both(r, rr, "ACL", "SETUSER", "x", *rules)
        assert a == b, rules
    assert both(r, rr, "ACL", "SETUSER", "a b") == [
        ("ERR", "Usernames can't contain spaces or null characters")] * 2
    assert both(r, rr, "ACL", "DELUSER", "default") == [
        ("ERR", "The 'default' user cannot be removed")] * 2


def test_acl_list_and_getuser_describe_users_like_redis(r, rr, users):
    users += ["alice", "bob", "dan", "dan2", "eve"]
    cases = [("alice",), ("bob", "allcommands", "allkeys", "allchannels", "on", "nopass"),
             ("bob", "-@all", "+@read", "-@read"), ("dan", "+@all", "-get"),
             ("dan2", "-@all", "+@read", "+@write", "-@all", "+@set"),
             ("eve", "on", ">a", ">b", "<a", "~a", "~b", "resetkeys", "~c", "allkeys")]
    for case in cases:
        assert both(r, rr, "ACL", "SETUSER", *case) == [b"OK", b"OK"]
    a, b = both(r, rr, "ACL", "LIST")
    assert a == b
    for name in ("alice", "eve", "default"):
        a, b = both(r, rr, "ACL", "GETUSER", name)
        assert a == b
    assert both(r, rr, "ACL", "GETUSER", "nobody") == [None, None]
    assert both(r, rr, "ACL", "USERS")[0] == both(r, rr, "ACL", "USERS")[1]


def test_single_command_rules_are_described_as_the_same_set(r, rr, users):
    users.append("alice")
    rules = ("alice", "on", ">p1", "+get", "+set", "-get", "+@string", "-@write", "~k*",
             "%R~r*", "&ch*", "+config|get")
    assert both(r, rr, "ACL", "SETUSER", *rules) == [b"OK", b"OK"]
    a, b = both(r, rr, "ACL", "GETUSER", "alice")
    da, db = dict(zip(a[::2], a[1::2])), dict(zip(b[::2], b[1::2]))
    ca, cb = da.pop(b"commands"), db.pop(b"commands")
    assert da == db
    assert ca.split()[0] == cb.split()[0] == b"-@all"
    # lcs/substr exist in Redis's @string; compare on the commands both have
    common = {b"+get", b"+mget", b"+strlen", b"+getrange", b"+config|get"}
    assert common <= set(ca.split()) and common <= set(cb.split())


def test_restricted_user_gets_noperm_errors_like_redis(shardis, real_redis, r, rr, users):
    users.append("u1")
    setup = ("ACL", "SETUSER", "u1", "on", ">pw", "+get", "+publish", "+subscribe",
             "+psubscribe", "+mget", "~k*", "&c*")
    assert both(r, rr, *setup) == [b"OK", b"OK"]
    a = shardis.client(username="u1", password="pw")
    b = real_redis.client(username="u1", password="pw")
    try:
        for cmd in (("SET", "k", "v"), ("GET", "x"), ("GET", "k1"), ("MGET", "k1", "z"),
                    ("PUBLISH", "zz", "m"), ("PUBLISH", "cx", "m"), ("CONFIG", "GET", "x"),
                    ("ACL", "WHOAMI")):
            mine, theirs = both(a, b, *cmd)
            assert mine == theirs, cmd
    finally:
        a.close()
        b.close()


def test_dryrun_and_log_report_denials(r, rr, users):
    users.append("u2")
    both(r, rr, "ACL", "SETUSER", "u2", "on", "nopass", "+get", "~k*", "&c*")
    for cmd in (("u2", "set", "k", "v"), ("u2", "get", "x"), ("u2", "get", "k1"),
                ("nouser", "get", "k"), ("u2", "nosuch"), ("u2", "get")):
        a, b = both(r, rr, "ACL", "DRYRUN", *cmd)
        assert a == b, cmd
    r.execute_command("ACL", "LOG", "RESET")
    c = redis.Redis(port=r.connection_pool.connection_kwargs["port"], username="u2",
                    password="x")
    for _ in range(2):
        with pytest.raises(redis.exceptions.NoPermissionError, match="run the 'set' command"):
            c.set("k", "v")
    c.close()
    log = r.execute_command("ACL", "LOG", "1")
    entry = dict(zip(log[0][::2], log[0][1::2]))
    assert entry[b"count"] == 2 and entry[b"reason"] == b"command"
    assert entry[b"object"] == b"set" and entry[b"username"] == b"u2"
    assert entry[b"context"] == b"toplevel"


def test_acl_cat_lists_categories_and_their_commands(r, rr):
    assert both(r, rr, "ACL", "CAT")[0] == both(r, rr, "ACL", "CAT")[1]
    assert both(r, rr, "ACL", "CAT", "nosuch") == [("ERR", "Unknown category 'nosuch'")] * 2
    mine = set(r.execute_command("ACL", "CAT", "string"))
    assert {b"get", b"set", b"incr", b"append"} <= mine
    assert b"sadd" not in mine
    assert both(r, rr, "ACL", "GENPASS", "0")[0] == both(r, rr, "ACL", "GENPASS", "0")[1]
    assert len(r.execute_command("ACL", "GENPASS")) == 64
    assert len(r.execute_command("ACL", "GENPASS", "5")) == 2


def test_requirepass_demands_auth_and_rejects_wrong_passwords(shardis_factory):
    s = shardis_factory("--requirepass", "s3cret", "--shards", "2")
    out = raw_command(s.port, b"GET k\r\nACL WHOAMI\r\nAUTH wrong\r\nAUTH nouser x\r\n"
                              b"AUTH s3cret\r\nACL WHOAMI\r\n", expect=176)
    assert out == (b"-NOAUTH Authentication required.\r\n"
                   b"-NOAUTH Authentication required.\r\n"
                   b"-WRONGPASS invalid username-password pair or user is disabled.\r\n"
                   b"-WRONGPASS invalid username-password pair or user is disabled.\r\n"
                   b"+OK\r\n$7\r\ndefault\r\n")
    c = s.client()
    with pytest.raises(redis.AuthenticationError):
        c.get("k")
    c.close()
    ok = s.client(password="s3cret")
    assert ok.set("k", "v") and ok.get("k") == b"v"
    assert ok.execute_command("ACL", "WHOAMI") == b"default"
    # a named user with full access returns to the fast path and works
    ok.execute_command("ACL", "SETUSER", "admin", "on", ">pw", "+@all", "~*", "&*")
    adm = s.client(username="admin", password="pw")
    pipe = adm.pipeline(transaction=False)
    for i in range(200):
        pipe.set(f"k{i}", i)
    assert all(pipe.execute())
    assert adm.execute_command("ACL", "WHOAMI") == b"admin"
    # deleting a user closes its connections
    ok.execute_command("ACL", "DELUSER", "admin")
    with pytest.raises(redis.ConnectionError):
        adm.connection_pool.get_connection().read_response()
    ok.close()


def test_rule_changes_apply_to_live_connections(shardis, r):
    r.execute_command("ACL", "SETUSER", "live", "on", ">pw", "+@all", "~*", "&*")
    try:
        c = shardis.client(username="live", password="pw")
        assert c.set("a", 1)
        r.execute_command("ACL", "SETUSER", "live", "-set")
        with pytest.raises(redis.ResponseError,
                           match="no permissions to run the 'set' command"):
            c.set("a", 2)
        assert c.get("a") == b"1"
        r.execute_command("ACL", "SETUSER", "live", "+set")
        assert c.set("a", 3)
        c.close()
    finally:
        r.execute_command("ACL", "DELUSER", "live")


def test_key_permissions_distinguish_read_and_write_patterns(shardis, r):
    r.execute_command("ACL", "SETUSER", "rw", "on", ">pw", "+@all", "%R~r*", "%W~w*",
                      "~both*")
    try:
        c = shardis.client(username="rw", password="pw")
        assert c.get("r1") is None
        assert c.set("w1", "x")
        assert c.set("both1", "x") and c.incr("both2") == 1
        with pytest.raises(redis.ResponseError, match="one of the keys"):
            c.set("r1", "x")
        with pytest.raises(redis.ResponseError, match="one of the keys"):
            c.get("w1")
        with pytest.raises(redis.ResponseError, match="one of the keys"):
            c.incr("w2")        # read-modify-write needs both
        # multi-key commands check every key, across shards
        with pytest.raises(redis.ResponseError, match="one of the keys"):
            c.mget("r1", "w1")
        c.close()
    finally:
        r.execute_command("ACL", "DELUSER", "rw")


def test_channel_permissions_for_publish_and_subscribe(shardis, r):
    r.execute_command("ACL", "SETUSER", "ps", "on", ">pw", "+@all", "~*", "resetchannels",
                      "&news.*")
    try:
        c = shardis.client(username="ps", password="pw")
        assert c.publish("news.a", "m") == 0
        with pytest.raises(redis.ResponseError, match="one of the channels"):
            c.publish("other", "m")
        p = c.pubsub()
        with pytest.raises(redis.ResponseError, match="one of the channels"):
            p.subscribe("other")
            p.get_message(timeout=1)
        p.close()
        c.close()
    finally:
        r.execute_command("ACL", "DELUSER", "ps")


def test_protected_mode_decision_refuses_only_non_loopback_peers_without_password():
    # A non-loopback peer cannot be produced on 127.0.0.1 alone; the decision
    # function is what Acl.on_connect applies to each peer address.
    assert protected_mode_denies(True, True, "10.1.2.3")
    assert protected_mode_denies(True, True, "192.168.0.7")
    assert not protected_mode_denies(True, True, "127.0.0.1")
    assert not protected_mode_denies(True, True, "127.0.0.2")
    assert not protected_mode_denies(True, True, "::1")
    assert not protected_mode_denies(True, True, "::ffff:127.0.0.1")
    assert protected_mode_denies(True, True, "::ffff:10.0.0.1")
    assert not protected_mode_denies(False, True, "10.1.2.3")
    assert not protected_mode_denies(True, False, "10.1.2.3")
    assert DENIED_PROTECTED.startswith(b"-DENIED Redis is running in protected mode")


def test_protected_mode_accepts_loopback_clients(shardis):
    with socket.create_connection(("127.0.0.1", shardis.port), timeout=2) as s:
        s.sendall(b"PING\r\n")
        assert s.recv(100) == b"+PONG\r\n"


_NETNS_SCRIPT = r"""
set -e
ip link set lo up
ip addr add 10.253.0.1/32 dev lo
cd "$ROOT"
python3 -m server --bind 0.0.0.0 --port 7401 --shards 1 > /dev/null 2>&1 &
A=$!
python3 -m server --bind 0.0.0.0 --port 7402 --shards 1 --requirepass pw > /dev/null 2>&1 &
B=$!
python3 -m server --bind 0.0.0.0 --port 7403 --shards 1 --set protected-mode=no > /dev/null 2>&1 &
C=$!
redis-server --bind 0.0.0.0 --port 7404 --save '' --protected-mode yes > /dev/null 2>&1 &
D=$!
python3 - <<'PY'
import socket, time
def ask(host, port):
    for _ in range(100):
        try:
            s = socket.create_connection((host, port), timeout=2)
            break
        except OSError:
            time.sleep(0.1)
    s.sendall(b"PING\r\n")
    data = b""
    while True:
        try:
            chunk = s.recv(4096)
        except OSError:
            break
        if not chunk:
            break
        data += chunk
        if data.endswith(b"\r\n") and not data.startswith(b"-DENIED"):
            break
    return repr(data)
for port in (7401, 7402, 7403, 7404):
    print(port, ask("10.253.0.1", port), ask("127.0.0.1", port))
PY
kill $A $B $C $D
"""


def test_protected_mode_refuses_a_non_loopback_peer_in_a_network_namespace():
    """A private network namespace (root only) gives a non-loopback address
    (10.253.0.1 on its own lo) without exposing anything outside it."""
    import os
    import shutil
    import subprocess
    if os.geteuid() != 0 or not shutil.which("unshare") or not shutil.which("ip"):
        pytest.skip("needs root, unshare and ip to build a private network namespace")
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    out = subprocess.run(["unshare", "-n", "sh", "-c", _NETNS_SCRIPT], capture_output=True,
                         text=True, timeout=60, env={**os.environ, "ROOT": root})
    assert out.returncode == 0, out.stderr
    lines = {int(l.split(" ", 1)[0]): l.split(" ", 1)[1] for l in out.stdout.splitlines()}
    denied = repr(DENIED_PROTECTED)
    pong = repr(b"+PONG\r\n")
    noauth = repr(b"-NOAUTH Authentication required.\r\n")
    assert lines[7404] == f"{denied} {pong}"       # redis-server itself
    assert lines[7401] == f"{denied} {pong}"       # no password: refused
    assert lines[7402] == f"{noauth} {noauth}"     # a password: normal auth
    assert lines[7403] == f"{pong} {pong}"         # protected-mode no
