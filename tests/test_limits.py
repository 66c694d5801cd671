"""Issue 8 wiring, end to end on real server processes: configuration applied
at startup and by CONFIG SET (maxmemory, slowlog, requirepass, output
limits), rename-command, AUTH/HELLO against redis-server, client limits
(maxclients, timeout, tcp-keepalive, output buffers of the normal and pubsub
classes), 10,000 idle connections, and a dead shard answered with an error.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import threading
import time
import urllib.request

import pytest
import redis

from conftest import free_port, raw_command


def info(c, section) -> dict:
    return c.info(section)


def rss(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


def connect(port: int, rcvbuf: int | None = None) -> socket.socket:
    s = socket.socket()
    if rcvbuf is not None:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    s.connect(("127.0.0.1", port))
    return s


def client_ids(c) -> set[int]:
    return {int(x["id"]) for x in c.client_list()}


def wait_until(cond, timeout: float, step: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(step)
    return cond()


def closed_by_peer(s: socket.socket, timeout: float = 3.0) -> bool:
    """Read (and discard) until EOF or reset: True if the server closed it."""
    s.settimeout(timeout)
    try:
        while True:
            if not s.recv(1 << 20):
                return True
    except ConnectionResetError:
        return True
    except socket.timeout:
        return False


def resp(*args: bytes | str) -> bytes:
    out = [b"*%d\r\n" % len(args)]
    for a in args:
        a = a.encode() if isinstance(a, str) else a
        out.append(b"$%d\r\n%b\r\n" % (len(a), a))
    return b"".join(out)


# ------------------------------------------------------------------ maxmemory by CONFIG SET

def test_config_set_maxmemory_reconfigures_the_shards_and_info_counts_evictions(
        shardis_factory):
    s = shardis_factory("--shards", "2")
    c = s.client()
    for i in range(300):
        c.set(f"pre:{i}", "x" * 100)
    c.config_set("maxmemory-policy", "allkeys-random")
    c.config_set("maxmemory", "1mb")
    c.config_set("maxmemory-samples", "7")
    mem = info(c, "memory")
    assert mem["maxmemory"] == 1048576
    assert mem["maxmemory_policy"] == "allkeys-random"
    p = c.pipeline(transaction=False)
    for i in range(4000):
        p.set(f"k:{i}", "v" * 500)
    assert all(p.execute())            # allkeys-random: writes succeed by evicting
    n = c.dbsize()
    evicted = info(c, "stats")["evicted_keys"]
    assert n < 4300
    # every key written is either still there or was evicted (no expiry here)
    assert evicted == 4300 - n
    # noeviction: writes are refused with Redis's OOM error, reads still work
    c.config_set("maxmemory-policy", "noeviction")
    accepted = 0
    with pytest.raises(redis.ResponseError) as e:
        for i in range(200):        # the estimate is just under the limit
            c.set(f"more:{i}", "v" * 500)
            accepted += 1
    # redis-py turns the -OOM prefix into the exception class
    assert type(e.value) is redis.exceptions.OutOfMemoryError
    assert str(e.value) == "command not allowed when used memory > 'maxmemory'."
    assert c.get("k:0") in (None, b"v" * 500)
    n += accepted
    assert c.dbsize() == n
    # back to no limit: everything is accepted again, the count survives
    c.config_set("maxmemory", "0")
    for i in range(2000):
        c.set(f"after:{i}", "v" * 500)
    assert c.dbsize() == n + 2000
    assert info(c, "stats")["evicted_keys"] == evicted
    c.config_resetstat()
    assert info(c, "stats")["evicted_keys"] == 0


# ------------------------------------------------------------------ startup config

def test_options_from_the_config_file_take_effect_at_startup(shardis_factory, tmp_path):
    conf = tmp_path / "shardis.conf"
    conf.write_text(
        "maxmemory 1mb\n"
        "maxmemory-policy allkeys-lru\n"
        "slowlog-log-slower-than 0\n"
        "requirepass s3cret\n"
        'rename-command FLUSHALL ""\n'
        "rename-command CONFIG myconfig\n"
        "client-output-buffer-limit normal 2mb 0 0\n"
        "maxclients 50\n")
    s = shardis_factory(str(conf), "--shards", "2")
    assert raw_command(s.port, b"PING\r\n") == b"-NOAUTH Authentication required.\r\n"
    c = s.client(password="s3cret")
    assert c.ping()
    # slowlog-log-slower-than 0: every command is logged, shard or loop run
    c.set("a", "1")
    c.get("a")
    assert c.slowlog_len() >= 2
    # the normal output limit from the file is enforced (a client that reads
    # nothing of 12 MB of replies)
    c.set("big", b"x" * 200_000)
    before = client_ids(c)
    hog = connect(s.port, rcvbuf=4096)
    hog.sendall(resp("AUTH", "s3cret") + resp("GET", "big") * 60)
    assert wait_until(lambda: c.info("stats")["client_output_buffer_limit_disconnections"] >= 1,
                      5)
    assert client_ids(c) == before
    assert closed_by_peer(hog)
    hog.close()
    # maxmemory applied to the shards: writing 3 MB keeps about 1 MB
    p = c.pipeline(transaction=False)
    for i in range(3000):
        p.set(f"k:{i}", "v" * 1000)
    p.execute()
    assert c.dbsize() < 2000
    assert c.info("stats")["evicted_keys"] > 1000
    # renamed and disabled commands answer like unknown ones
    with pytest.raises(redis.ResponseError) as e:
        c.execute_command("CONFIG", "GET", "maxclients")
    assert str(e.value) == ("unknown command 'CONFIG', with args beginning with: "
                            "'GET' 'maxclients' ")
    with pytest.raises(redis.ResponseError) as e:
        c.execute_command("FLUSHALL")
    assert str(e.value).startswith("unknown command 'FLUSHALL'")
    assert c.execute_command("MYCONFIG", "GET", "maxclients") == [b"maxclients", b"50"]
    assert c.execute_command("myconfig", "get", "client-output-buffer-limit")[1].startswith(
        b"normal 2097152 0 0")


def test_rename_command_of_an_unknown_command_refuses_to_start(tmp_path):
    conf = tmp_path / "bad.conf"
    conf.write_text("rename-command NOSUCHCMD other\n")
    port = free_port()
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    p = subprocess.run(["python3", "-m", "server", str(conf), "--port", str(port)],
                       cwd=root, capture_output=True, text=True, timeout=30)
    assert p.returncode != 0
    assert "No such command in rename-command: nosuchcmd" in p.stdout + p.stderr


# ------------------------------------------------------------------ AUTH / HELLO vs Redis

AUTH_CASES = [
    resp("AUTH", "x"),
    resp("AUTH", "a", "b", "c"),
    resp("HELLO", "3"),
    resp("HELLO", "3", "AUTH", "default", "wrong"),
    resp("HELLO", "3", "SETNAME"),
    resp("HELLO", "3", "AUTH", "default"),
    resp("HELLO", "4", "AUTH", "default", "pw"),
    resp("GET", "k"),
    resp("AUTH", "nobody", "pw"),
    resp("AUTH", "default", "pw") + resp("HELLO", "2", "SETNAME", "me") + resp("CLIENT",
                                                                              "GETNAME"),
    resp("HELLO", "2", "AUTH", "default", "pw", "SETNAME", "x y"),
]


def _auth_replies(port: int) -> list[bytes]:
    return [raw_command(port, req, timeout=0.25) for req in AUTH_CASES]


def _strip_ids(b: bytes) -> bytes:
    return re.sub(rb"\$2\r\nid\r\n:\d+", b"$2\r\nid\r\n:N", b)


def test_auth_and_hello_replies_match_redis_with_and_without_a_password(shardis, real_redis,
                                                                           r, rr):
    assert ([_strip_ids(x) for x in _auth_replies(shardis.port)]
            == [_strip_ids(x) for x in _auth_replies(real_redis.port)])
    r.config_set("requirepass", "pw")
    rr.config_set("requirepass", "pw")
    try:
        got = [_strip_ids(x) for x in _auth_replies(shardis.port)]
        want = [_strip_ids(x) for x in _auth_replies(real_redis.port)]
        assert got == want
        assert b"NOAUTH HELLO must be called" in got[2]
    finally:
        # the connections made before requirepass stay authenticated (Redis)
        r.config_set("requirepass", "")
        rr.config_set("requirepass", "")


def test_client_list_and_info_show_the_connections_user(shardis, real_redis, r, rr):
    for c, srv in ((r, shardis), (rr, real_redis)):
        c.acl_setuser("alice", enabled=True, passwords=["+apw"], commands=["+@all"],
                      keys=["*"], channels=["*"])
        a = srv.client(username="alice", password="apw")
        try:
            line = a.execute_command("CLIENT", "INFO").decode()
            assert " user=alice " in line
            me = a.client_id()
            users = {int(x["id"]): x["user"] for x in c.client_list()}
            assert users[me] == "alice"
            assert users[c.client_id()] == "default"
        finally:
            a.close()
            c.acl_deluser("alice")


# ------------------------------------------------------------------ small defaults/parsers

def test_hash_listpack_default_matches_redis(r, rr):
    assert (r.config_get("hash-max-listpack-entries")
            == rr.config_get("hash-max-listpack-entries")
            == {"hash-max-listpack-entries": "512"})


@pytest.mark.parametrize("cursor", ["-1", "+5", "-0", "+0", " 5", "5x", "", "+", "-",
                                    "18446744073709551615", "18446744073709551616",
                                    "-18446744073709551615"])
def test_sscan_and_zscan_cursor_parsing_matches_redis(r, rr, cursor):
    def run(c):
        c.sadd("s", 1, 2, 3)                 # intset: one page, whatever the cursor
        c.zadd("z", {"a": 1, "b": 2})        # listpack: likewise
        out = []
        for cmd in (("SSCAN", "s", cursor), ("ZSCAN", "z", cursor), ("SSCAN", "nokey", cursor)):
            try:
                out.append(c.execute_command(*cmd))
            except redis.ResponseError as e:
                out.append(("error", str(e)))
        return out
    assert run(r) == run(rr)


# ------------------------------------------------------------------ client limits

def test_maxclients_refuses_the_extra_connection_with_redis_error(shardis_factory):
    s = shardis_factory("--shards", "1", "--maxclients", "3")
    socks = [connect(s.port) for _ in range(3)]
    try:
        for x in socks:
            x.sendall(b"PING\r\n")
            assert x.recv(100) == b"+PONG\r\n"
        extra = connect(s.port)
        extra.settimeout(3)
        assert extra.recv(100) == b"-ERR max number of clients reached\r\n"
        assert extra.recv(100) == b""
        extra.close()
        socks.pop().close()
        assert wait_until(lambda: raw_command(s.port, b"PING\r\n") == b"+PONG\r\n", 3)
        c = s.client()
        assert c.info("stats")["rejected_connections"] >= 1
    finally:
        for x in socks:
            x.close()


def test_timeout_closes_idle_clients_but_not_subscribers_or_blocked_ones(shardis_factory):
    s = shardis_factory("--shards", "2", "--set", "timeout=1")
    idle = connect(s.port)
    multi = connect(s.port)
    sub = connect(s.port)
    blocked = connect(s.port)
    active = s.client()
    try:
        multi.sendall(resp("MULTI"))
        assert multi.recv(100) == b"+OK\r\n"
        sub.sendall(resp("SUBSCRIBE", "ch"))
        assert b"subscribe" in sub.recv(100)
        blocked.sendall(resp("BLPOP", "nolist", "0"))
        deadline = time.monotonic() + 3.5
        while time.monotonic() < deadline:     # a busy client is never idle
            assert active.ping()
            time.sleep(0.2)
        assert closed_by_peer(idle, 0.5)
        assert closed_by_peer(multi, 0.5)      # Redis closes idle MULTI clients too
        active.rpush("nolist", "v")
        blocked.settimeout(2)
        assert blocked.recv(100) == b"*2\r\n$6\r\nnolist\r\n$1\r\nv\r\n"
        active.publish("ch", "hello")
        sub.settimeout(2)
        assert b"hello" in sub.recv(100)
    finally:
        for x in (idle, multi, sub, blocked):
            x.close()


def _keepalive_timers(port: int) -> list[str]:
    out = subprocess.run(["ss", "-tnoH", "state", "established", f"( sport = :{port} )"],
                         capture_output=True, text=True).stdout
    return [line for line in out.splitlines() if line.strip()]


@pytest.mark.parametrize("setting", ["300", "0"])
def test_tcp_keepalive_is_set_on_accepted_sockets(shardis_factory, setting):
    s = shardis_factory("--shards", "1", "--set", f"tcp-keepalive={setting}")
    c = connect(s.port)
    try:
        c.sendall(b"PING\r\n")
        assert c.recv(10) == b"+PONG\r\n"
        lines = _keepalive_timers(s.port)
        assert len(lines) == 1
        if setting == "0":
            assert "keepalive" not in lines[0]
        else:
            # the idle time Redis sets (TCP_KEEPIDLE = tcp-keepalive seconds)
            m = re.search(r"timer:\(keepalive,(\d+)min", lines[0])
            assert m and 4 <= int(m.group(1)) <= 5, lines[0]
    finally:
        c.close()


# ------------------------------------------------------------------ output buffer limits

def _hog(port: int, nget: int) -> socket.socket:
    hog = connect(port, rcvbuf=4096)
    hog.sendall(resp("GET", "big") * nget)
    return hog


@pytest.mark.parametrize("target", ["shardis", "redis"])
def test_normal_class_hard_limit_closes_a_client_that_does_not_read(shardis, real_redis,
                                                                    target):
    srv = shardis if target == "shardis" else real_redis
    c = srv.client()
    c.config_set("client-output-buffer-limit", "normal 2mb 0 0")
    try:
        c.set("big", b"x" * (1 << 20))
        before = client_ids(c)
        hog = _hog(srv.port, 40)
        # closed by the server while it reads nothing (reading would drain it)
        assert wait_until(lambda: client_ids(c) == before, 5)
        assert closed_by_peer(hog)
        hog.close()
        assert c.get("big") == b"x" * (1 << 20)
    finally:
        c.config_set("client-output-buffer-limit", "normal 0 0 0")
        c.delete("big")
        c.close()


@pytest.mark.parametrize("target", ["shardis", "redis"])
def test_normal_class_soft_limit_closes_only_after_soft_seconds(shardis, real_redis, target):
    srv = shardis if target == "shardis" else real_redis
    c = srv.client()
    c.config_set("client-output-buffer-limit", "normal 0 1mb 2")
    try:
        c.set("big", b"x" * (1 << 20))
        hog = _hog(srv.port, 20)
        time.sleep(0.8)
        # over the soft limit for less than 2 s: still connected
        assert len(client_ids(c)) == 2
        t0 = time.monotonic()
        assert wait_until(lambda: len(client_ids(c)) == 1, 5.0)
        assert time.monotonic() - t0 >= 0.5
        hog.close()
    finally:
        c.config_set("client-output-buffer-limit", "normal 0 0 0")
        c.delete("big")
        c.close()


@pytest.mark.parametrize("limit", ["pubsub 512kb 0 0", "pubsub 0 256kb 1"])
def test_pubsub_class_limits_close_a_subscriber_that_does_not_read(shardis, limit):
    c = shardis.client()
    c.config_set("client-output-buffer-limit", limit)
    try:
        sub = connect(shardis.port, rcvbuf=4096)
        sub.sendall(resp("SUBSCRIBE", "flood"))
        time.sleep(0.2)
        payload = b"m" * 65536
        t0 = time.monotonic()
        gone = False
        while time.monotonic() - t0 < 6 and not gone:
            c.publish("flood", payload)
            gone = c.pubsub_numsub("flood")[0][1] == 0
            time.sleep(0.01)
        assert gone
        if "0 0" not in limit:             # soft: not before soft_seconds
            assert time.monotonic() - t0 >= 1.0
        assert closed_by_peer(sub, 3.0)
        sub.close()
        assert c.ping()
    finally:
        c.config_set("client-output-buffer-limit", "pubsub 33554432 8388608 60")
        c.close()


# ------------------------------------------------------------------ 10,000 idle connections

def test_ten_thousand_idle_connections_are_served_and_cost_little_memory(shardis_factory):
    import resource
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    need = 10_000 + 200
    if soft < need:
        if hard < need:
            pytest.fail(f"fd limit {hard} < {need}: cannot hold 10,000 connections")
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    s = shardis_factory("--shards", "2", "--maxclients", "10100")
    c = s.client()
    c.set("witness", "ok")
    pid = s.proc.pid
    time.sleep(0.3)
    r0 = rss(pid)
    socks = []
    try:
        for _ in range(10_000):
            socks.append(connect(s.port))
        assert wait_until(lambda: c.info("clients")["connected_clients"] >= 10_001, 30, 0.2)
        time.sleep(0.5)
        r1 = rss(pid)
        per_conn = (r1 - r0) / 10_000
        print(f"\n10,000 idle connections: RSS {r0 / 1e6:.1f} MB -> {r1 / 1e6:.1f} MB, "
              f"{per_conn / 1024:.2f} KB per connection")
        # every one of them is live: a sample answers at once
        for x in socks[::1000]:
            x.sendall(b"PING\r\n")
            x.settimeout(5)
            assert x.recv(10) == b"+PONG\r\n"
        t = time.perf_counter()
        assert c.get("witness") == b"ok"
        assert time.perf_counter() - t < 0.5
        assert per_conn < 16 * 1024
    finally:
        for x in socks:
            x.close()
    assert wait_until(lambda: c.info("clients")["connected_clients"] == 1, 30, 0.2)


# ------------------------------------------------------------------ a dead shard

def test_debug_shard_kill_needs_enable_debug_command(shardis, real_redis, r, rr):
    with pytest.raises(redis.ResponseError) as e:
        r.execute_command("DEBUG", "SHARD-KILL", "0")
    with pytest.raises(redis.ResponseError) as e2:
        rr.execute_command("DEBUG", "SLEEP", "0")     # Redis refuses every DEBUG so
    assert str(e.value) == str(e2.value)
    assert r.config_get("enable-debug-command") == rr.config_get("enable-debug-command")
    with pytest.raises(redis.ResponseError) as e:
        r.config_set("enable-debug-command", "yes")
    with pytest.raises(redis.ResponseError) as e2:
        rr.config_set("enable-debug-command", "yes")
    assert str(e.value) == str(e2.value)
    assert r.ping()


def test_a_dead_shard_answers_errors_while_the_others_keep_serving(shardis_factory):
    port = free_port()
    s = shardis_factory("--shards", "4", "--set", "enable-debug-command=yes",
                        "--dashboard-port", str(port))
    c = s.client(socket_timeout=5)
    keys = [f"key:{i}" for i in range(400)]
    for k in keys:
        c.set(k, k)
    # a client blocked forever on a key of shard 1 when it dies
    from actors.slots import SlotMap
    on1 = next(k for k in (f"list:{i}" for i in range(1000))
               if SlotMap(4).shard_of(k.encode()) == 1)
    probe = s.client(socket_timeout=5)
    blocked: dict = {}

    def block():
        try:
            blocked["reply"] = probe.blpop([on1], 0)
        except redis.ResponseError as e:
            blocked["error"] = str(e)
    bt = threading.Thread(target=block)
    bt.start()
    assert wait_until(lambda: c.info("clients")["blocked_clients"] == 1, 3)
    results: dict = {}
    stop = threading.Event()

    def load():
        # pipelined traffic to every shard while the shard dies
        lc = s.client(socket_timeout=5)
        n = 0
        while not stop.is_set():
            p = lc.pipeline(transaction=False)
            for k in keys[:50]:
                p.get(k)
            for k, v in zip(keys[:50], p.execute(raise_on_error=False)):
                assert v == k.encode() or (isinstance(v, redis.ResponseError)
                                           and str(v) == "shard 1 is down"), v
            n += 1
        results["rounds"] = n
    t = threading.Thread(target=load)
    t.start()
    time.sleep(0.3)
    assert c.execute_command("DEBUG", "SHARD-KILL", "1") == b"OK"
    time.sleep(0.3)
    stop.set()
    t.join(10)
    assert not t.is_alive() and results["rounds"] > 0
    ok, down = [], []
    for k in keys:
        try:
            assert c.get(k) == k.encode()
            ok.append(k)
        except redis.ResponseError as e:
            assert str(e) == "shard 1 is down"
            down.append(k)
    assert 40 < len(down) < 200 and len(ok) + len(down) == 400
    # writes to live shards work, to the dead one fail; nothing hangs
    c.set(ok[0], "new")
    assert c.get(ok[0]) == b"new"
    with pytest.raises(redis.ResponseError, match="^shard 1 is down$"):
        c.set(down[0], "new")
    # the client blocked on the dead shard's key got the error, not a hang;
    # blocking on its keys now fails at once
    bt.join(5)
    assert blocked == {"error": "shard 1 is down"}
    with pytest.raises(redis.ResponseError, match="^shard 1 is down$"):
        probe.blpop([on1], 0)
    assert all(SlotMap(4).shard_of(k.encode()) == 1 for k in down)
    # multi-shard commands touching it answer the error as a whole
    with pytest.raises(redis.ResponseError, match="^shard 1 is down$"):
        c.mget(ok[:3] + down[:1])
    assert c.mget(ok[:3]) == [b"new", ok[1].encode(), ok[2].encode()]
    with pytest.raises(redis.ResponseError, match="^shard 1 is down$"):
        c.dbsize()
    # INFO still answers and reports it; the log says why
    srv = c.info("server")
    assert srv["shards"] == 4 and str(srv["shards_down"]) == "1"
    assert "Shard 1 is down (ShardCrash: DEBUG SHARD-KILL 1)" in s.log()
    # the dashboard shows the actor dead
    def shard_rows():
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/actors", timeout=5) as f:
            return json.load(f)["shards"]
    assert wait_until(lambda: [x["alive"] for x in shard_rows()] == [True, False, True, True],
                      5, 0.2)
    # killing it again is a no-op; other shards' admin work still runs
    assert c.execute_command("DEBUG", "SHARD-KILL", "1") == b"OK"
    assert c.ping()
