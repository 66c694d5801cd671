"""CLIENT TRACKING: differential against redis-server 7.0, plus redis-py's
client-side cache on a RESP3 connection."""

from __future__ import annotations

import socket
import time

import pytest
import redis

from conftest import raw_command


def after_hello(data: bytes) -> bytes:
    # HELLO's map names the server, its version and the client id: compare
    # what follows it (HELLO is the first command of these scripts)
    i = data.index(b"$7\r\nmodules\r\n*0\r\n") + len(b"$7\r\nmodules\r\n*0\r\n")
    return data[i:]


def same_script(shardis, real_redis, script: bytes, hello=True):
    for s in (shardis, real_redis):
        raw_command(s.port, b"FLUSHALL\r\n", expect=5)
    want = raw_command(real_redis.port, script, timeout=0.6)
    got = raw_command(shardis.port, script, timeout=0.6)
    if hello:
        want, got = after_hello(want), after_hello(got)
    assert got == want
    return got


def test_tracking_options_and_errors_match_redis(shardis, real_redis):
    same_script(shardis, real_redis, (
        b"HELLO 3\r\nCLIENT TRACKINGINFO\r\nCLIENT GETREDIR\r\nCLIENT CACHING yes\r\n"
        b"CLIENT TRACKING on OPTIN\r\nCLIENT CACHING yes\r\nCLIENT TRACKINGINFO\r\n"
        b"CLIENT CACHING no\r\nCLIENT TRACKING on PREFIX a\r\nCLIENT TRACKING on REDIRECT 99999\r\n"
        b"CLIENT TRACKING on REDIRECT x\r\nCLIENT TRACKING maybe\r\nCLIENT TRACKING on FOO\r\n"
        b"CLIENT TRACKING on OPTIN OPTOUT\r\nCLIENT TRACKING on BCAST OPTIN\r\n"
        b"CLIENT TRACKING on OPTOUT\r\nCLIENT TRACKING on BCAST\r\nCLIENT TRACKING off\r\n"
        b"CLIENT CACHING yes\r\nCLIENT TRACKING\r\nCLIENT CACHING maybe\r\nCLIENT GETREDIR\r\n"
        b"CLIENT TRACKING on BCAST PREFIX a PREFIX b NOLOOP\r\nCLIENT TRACKINGINFO\r\n"
        b"CLIENT TRACKING on BCAST PREFIX ab\r\nCLIENT TRACKING on BCAST PREFIX c PREFIX cd\r\n"
        b"CLIENT TRACKING off\r\nCLIENT TRACKING on OPTOUT NOLOOP\r\nCLIENT CACHING no\r\n"
        b"CLIENT TRACKINGINFO\r\nGET x\r\nCLIENT TRACKINGINFO\r\n"))


def test_trackinginfo_in_resp2_is_a_flat_array(shardis, real_redis):
    same_script(shardis, real_redis, b"CLIENT TRACKINGINFO\r\nCLIENT TRACKING on\r\n"
                b"CLIENT TRACKINGINFO\r\nCLIENT GETREDIR\r\n", hello=False)


class Conn:
    """A raw connection: send one command, keep everything that arrives."""

    def __init__(self, port):
        self.s = socket.create_connection(("127.0.0.1", port))
        self.out = b""

    def cmd(self, line: bytes) -> None:
        self.s.sendall(line + b"\r\n")
        self.settle(reply=True)

    def settle(self, quiet: float = 0.05, reply: bool = False) -> None:
        """Read until ``quiet`` seconds pass without data; with ``reply``,
        first wait (up to 2 s) for something to arrive: the command's reply,
        which a loaded machine may delay past ``quiet``."""
        self.s.settimeout(quiet)
        deadline = time.monotonic() + 2
        n = len(self.out)
        while time.monotonic() < deadline:
            try:
                chunk = self.s.recv(65536)
            except socket.timeout:
                if reply and len(self.out) == n:
                    continue
                return
            if not chunk:
                return
            self.out += chunk

    def close(self):
        self.s.close()


def run_clients(server, steps, names=("c", "w")) -> dict:
    """Run ``(client name, command)`` steps one at a time on fresh
    connections; return everything each connection received (after HELLO
    for those that sent one as their first command)."""
    raw_command(server.port, b"FLUSHALL\r\n", expect=5)
    conns = {n: Conn(server.port) for n in names}
    ids = {}
    for n, c in conns.items():
        c.cmd(b"CLIENT ID")
        ids[n] = c.out[1:].split(b"\r")[0]
        c.out = b""
    for name, line in steps:
        if name == "sleep":
            time.sleep(float(line))
            continue
        for n in names:                 # another connection's CLIENT ID
            line = line.replace(b"{id:%b}" % n.encode(), ids[n])
        conns[name].cmd(line)
        for c in conns.values():
            c.settle(0.02)
    out = {}
    for n, c in conns.items():
        c.settle()
        data = c.out
        out[n] = after_hello(data) if data.startswith(b"%7") else data
        c.close()
    raw_command(server.port, b"FLUSHALL\r\n", expect=5)    # leave no state behind
    return out


def same_clients(shardis, real_redis, steps, names=("c", "w")):
    want = run_clients(real_redis, steps, names)
    got = run_clients(shardis, steps, names)
    for n in names:     # on a difference, show where the streams part
        if got[n] != want[n]:
            i = next((j for j, (a, b) in enumerate(zip(got[n], want[n])) if a != b),
                     min(len(got[n]), len(want[n])))
            pytest.fail(f"client {n} differs at byte {i}:\nredis   ...{want[n][i - 300:i + 200]!r}"
                        f"\nshardis ...{got[n][i - 300:i + 200]!r}")
    return got


def test_resp3_reader_is_invalidated_once_after_its_own_write_reply(shardis, real_redis):
    got = same_clients(shardis, real_redis, [("c", x) for x in (
        b"HELLO 3", b"CLIENT TRACKING on", b"GET k", b"SET k 1", b"SET k 2", b"GET k",
        b"DEL k", b"MGET k k2", b"SET k2 x", b"FLUSHALL", b"PING")], names=("c",))
    assert b">2\r\n$10\r\ninvalidate\r\n*1\r\n$1\r\nk\r\n" in got["c"]


STEPS = {
    "default": [],
    "optin": [b"CLIENT TRACKING on OPTIN"],
    "optout": [b"CLIENT TRACKING on OPTOUT"],
    "noloop": [b"CLIENT TRACKING on NOLOOP"],
}


@pytest.mark.parametrize("mode", sorted(STEPS))
def test_other_clients_writes_invalidate_a_reader_like_redis(shardis, real_redis, mode):
    on = STEPS[mode] or [b"CLIENT TRACKING on"]
    steps = [("w", b"MSET a 1 b 2 c 3"), ("c", b"HELLO 3"), *[("c", x) for x in on]]
    if mode == "optin":
        steps.append(("c", b"CLIENT CACHING yes"))
    steps.append(("c", b"GET a"))
    if mode == "optout":
        steps.append(("c", b"CLIENT CACHING no"))
    steps += [("c", b"GET b"), ("c", b"GET c"), ("c", b"SET c mine"), ("w", b"SET a x"),
              ("w", b"SET b x"), ("w", b"SET a y"), ("w", b"DEL c"), ("w", b"LPUSH a2 x"),
              ("c", b"LRANGE a2 0 -1"), ("w", b"RPUSH a2 y"), ("w", b"EXPIRE a2 100"),
              ("c", b"PING")]
    same_clients(shardis, real_redis, steps)


def test_bcast_prefixes_get_every_matching_key(shardis, real_redis):
    got = same_clients(shardis, real_redis, [
        ("c", b"HELLO 3"), ("c", b"CLIENT TRACKING on BCAST PREFIX user: PREFIX obj:"),
        ("w", b"SET user:1 a"), ("w", b"SET other b"), ("w", b"SET obj:9 c"),
        ("w", b"DEL user:1"), ("c", b"SET user:2 mine"), ("c", b"PING")])
    assert got["c"].count(b"invalidate") == 4


def test_bcast_noloop_skips_the_clients_own_writes(shardis, real_redis):
    same_clients(shardis, real_redis, [
        ("c", b"HELLO 3"), ("c", b"CLIENT TRACKING on BCAST NOLOOP"),
        ("w", b"SET x 1"), ("c", b"SET y 1"), ("c", b"PING")])


def test_resp2_redirect_sends_invalidate_messages_to_a_subscribed_client(shardis, real_redis):
    got = same_clients(shardis, real_redis, [
        ("s", b"SUBSCRIBE __redis__:invalidate"),
        ("c", b"CLIENT TRACKING on REDIRECT {id:s}"), ("c", b"GET k"), ("w", b"SET k v"), ("c", b"GET k"), ("w", b"FLUSHALL"),
        ("c", b"PING")], names=("s", "c", "w"))
    assert b"__redis__:invalidate" in got["s"]


def test_resp3_redirect_to_a_resp3_client_gets_pushes(shardis, real_redis):
    same_clients(shardis, real_redis, [
        ("s", b"HELLO 3"), ("c", b"CLIENT TRACKING on REDIRECT {id:s}"),
        ("c", b"GET k"), ("w", b"SET k v"), ("s", b"PING")], names=("s", "c", "w"))


def test_flushall_invalidates_every_tracking_client_with_a_null(shardis, real_redis):
    same_clients(shardis, real_redis, [
        ("c", b"HELLO 3"), ("c", b"CLIENT TRACKING on"), ("w", b"FLUSHALL"),
        ("w", b"FLUSHDB"), ("c", b"PING")])


def test_redis_py_client_side_cache_needs_a_server_newer_than_7_0(shardis, real_redis):
    """redis-py 8's client-side cache refuses servers older than 7.4; Shardis
    reports Redis 7.0.15 like the server it implements, so redis-py declines
    it exactly as it declines redis-server 7.0 (the tracking protocol that
    cache would use is tested byte for byte above)."""
    from redis.cache import CacheConfig
    for server in (shardis, real_redis):
        c = redis.Redis(port=server.port, protocol=3, cache_config=CacheConfig())
        with pytest.raises(redis.ConnectionError, match="Redis 7.4 or later"):
            c.get("x")
        c.close()


def test_getredir_and_trackinginfo_name_the_redirection_target(r):
    target = r.client_id()
    c = redis.Redis(port=r.connection_pool.connection_kwargs["port"], single_connection_client=True)
    assert c.execute_command("CLIENT", "GETREDIR") == -1
    c.execute_command("CLIENT", "TRACKING", "ON", "REDIRECT", target)
    assert c.execute_command("CLIENT", "GETREDIR") == target
    info = c.execute_command("CLIENT", "TRACKINGINFO")
    assert {k.decode() if isinstance(k, bytes) else k: v for k, v in info.items()}[
        "redirect"] == target
    c.execute_command("CLIENT", "TRACKING", "OFF")
    assert c.execute_command("CLIENT", "GETREDIR") == -1
    c.close()


def test_a_broken_redirection_is_reported_to_a_resp3_client(shardis, real_redis):
    # the target disconnects; the next invalidation tells the tracking client
    outs = []
    for server in (real_redis, shardis):
        raw_command(server.port, b"FLUSHALL\r\n", expect=5)
        t = Conn(server.port)
        t.cmd(b"CLIENT ID")
        tid = t.out[1:].split(b"\r")[0]
        c = Conn(server.port)
        c.cmd(b"HELLO 3")
        c.out = b""
        c.cmd(b"CLIENT TRACKING on REDIRECT " + tid)
        c.cmd(b"GET k")
        t.close()
        time.sleep(0.1)
        w = Conn(server.port)
        w.cmd(b"SET k 1")
        c.cmd(b"CLIENT TRACKINGINFO")
        c.settle()
        outs.append(c.out.replace(tid, b"ID"))
        c.close()
        w.close()
        raw_command(server.port, b"FLUSHALL\r\n", expect=5)
    assert outs[1] == outs[0]
    assert b"tracking-redir-broken" in outs[0]


def test_reads_inside_multi_exec_are_tracked(shardis, real_redis):
    same_clients(shardis, real_redis, [
        ("w", b"SET {t}a 1"), ("c", b"HELLO 3"), ("c", b"CLIENT TRACKING on"), ("c", b"MULTI"),
        ("c", b"GET {t}a"), ("c", b"GET {t}b"), ("c", b"EXEC"), ("w", b"SET {t}a 2"),
        ("w", b"SET {t}b 2"), ("c", b"MULTI"), ("c", b"GET {t}a"), ("c", b"DISCARD"),
        ("w", b"SET {t}a 3"), ("c", b"PING")])


def test_a_key_expired_by_the_active_cycle_invalidates_its_readers(shardis, real_redis):
    got = same_clients(shardis, real_redis, [
        ("w", b"SET e 1 PX 800"), ("c", b"HELLO 3"), ("c", b"CLIENT TRACKING on"),
        ("c", b"GET e"), ("sleep", b"1.2"), ("c", b"PING")])
    assert b"invalidate" in got["c"]


def test_client_info_shows_tracking_flags_and_redirection(shardis, real_redis):
    outs = []
    for server in (real_redis, shardis):
        t = Conn(server.port)
        t.cmd(b"CLIENT ID")
        tid = t.out[1:].split(b"\r")[0].decode()
        c = Conn(server.port)
        c.cmd(b"CLIENT TRACKING on BCAST REDIRECT " + tid.encode())
        c.out = b""
        c.cmd(b"CLIENT INFO")
        info = c.out.decode()
        row = [info.split("flags=")[1].split()[0], info.split("redir=")[1].split()[0] == tid]
        t.close()
        time.sleep(0.1)
        w = Conn(server.port)
        w.cmd(b"SET x 1")
        c.settle()
        c.out = b""
        c.cmd(b"CLIENT INFO")
        row.append(c.out.decode().split("flags=")[1].split()[0])
        c.cmd(b"CLIENT TRACKING off")
        c.out = b""
        c.cmd(b"CLIENT INFO")
        row.append(c.out.decode().split("redir=")[1].split()[0])
        outs.append(row)
        c.close()
        w.close()
        raw_command(server.port, b"FLUSHALL\r\n", expect=5)
    assert outs[1] == outs[0] == [outs[0][0], True, outs[0][2], "-1"]


# ---------------------------------------------------------------- reads run on the loop
# With the 4 shards of the `shardis` fixture: a, {x}1, s1 -> shard 3; b, k2,
# s2, z1 -> shard 0; c, k, s3 -> shard 1; d, l, w_1 -> shard 2.
MODES = {
    "default": ([b"CLIENT TRACKING on"], None),
    "optin": ([b"CLIENT TRACKING on OPTIN"], b"CLIENT CACHING yes"),
    "optout": ([b"CLIENT TRACKING on OPTOUT"], b"CLIENT CACHING no"),
}
NO_EVENTS = b"*4\r\n$6\r\nCONFIG\r\n$3\r\nSET\r\n$22\r\nnotify-keyspace-events\r\n$0\r\n"


def tracking_steps(mode):
    on, caching = MODES[mode]
    return [("c", b"HELLO 3"), *[("c", x) for x in on]], caching


@pytest.mark.parametrize("mode,events", [("default", False), ("optin", False), ("optout", False),
                                         ("default", True)],
                         ids=["default-plain", "optin-plain", "optout-plain", "default-events-on"])
def test_reads_of_a_cross_shard_exec_are_remembered_like_redis(shardis, real_redis, mode, events):
    """A transaction over several shards runs as a coordinator: each
    read-only command's keys are remembered on their shards right behind it
    (default mode; OPTIN after CLIENT CACHING yes; OPTOUT unless CLIENT
    CACHING no), so another client's writes invalidate them; with keyspace
    events on the commands run one at a time (another path)."""
    steps, caching = tracking_steps(mode)
    steps = [("w", b"MSET a 1 b 2 d 4"), ("w", b"SADD c x"), ("w", b"RPUSH l 2 1"),
             ("w", b"ZADD z1 1 m"), *steps]
    if events:
        steps.insert(0, ("w", b"CONFIG SET notify-keyspace-events KA"))
    # the first transaction reads with the mode's CLIENT CACHING given, the
    # second without it
    for flag in (True, False):
        if flag and caching:
            steps.append(("c", caching))
        steps += [("c", b"MULTI"), ("c", b"GET a"), ("c", b"SMEMBERS c"),
                  ("c", b"MGET b d") if flag else ("c", b"MGET k k2"),
                  ("c", b"SUNION c s2") if flag else ("c", b"SUNION s3 s1"),
                  ("c", b"SORT_RO l"), ("c", b"ZUNION 2 z1 a2"), ("c", b"SET e 1"),
                  ("c", b"GET e"), ("c", b"GET {x}1"), ("c", b"EXEC")]
    steps += [("w", b"SET a 2"), ("w", b"SADD c y"), ("w", b"SET b 3"), ("w", b"SET d 3"),
              ("w", b"SET k 1"), ("w", b"SET k2 1"), ("w", b"SADD s2 1"), ("w", b"SADD s3 1"),
              ("w", b"SADD s1 1"), ("w", b"RPUSH l 0"), ("w", b"ZADD z1 2 m"),
              ("w", b"ZADD a2 2 m"), ("w", b"SET e 2"), ("w", b"SET {x}1 2"), ("c", b"PING")]
    try:
        got = same_clients(shardis, real_redis, steps)
    finally:
        if events:
            for server in (shardis, real_redis):
                raw_command(server.port, NO_EVENTS, expect=5)
    if mode != "optout":
        for key in (b"a", b"c", b"b", b"d", b"s2", b"l", b"z1", b"a2", b"{x}1"):
            assert b"$%d\r\n%b\r\n" % (len(key), key) in got["c"], key


def test_an_aborted_transaction_remembers_nothing(shardis, real_redis):
    # a dirty WATCH (on one shard and over several) and EXECABORT: no
    # command ran, so no key was read
    same_clients(shardis, real_redis, [
        ("c", b"HELLO 3"), ("c", b"CLIENT TRACKING on"),
        ("c", b"WATCH a"), ("w", b"SET a 1"), ("c", b"MULTI"), ("c", b"GET a"),
        ("c", b"GET b"), ("c", b"EXEC"),
        ("c", b"WATCH {x}1"), ("w", b"SET {x}1 1"), ("c", b"MULTI"), ("c", b"GET {x}1"),
        ("c", b"GET {x}2"), ("c", b"EXEC"),
        ("c", b"MULTI"), ("c", b"GET c"), ("c", b"NOSUCH"), ("c", b"EXEC"),
        ("c", b"MULTI"), ("c", b"GET {x}2"), ("c", b"GET k"), ("c", b"NOSUCH"), ("c", b"EXEC"),
        ("w", b"SET a 2"), ("w", b"SET b 2"), ("w", b"SET c 2"), ("w", b"SET {x}1 2"),
        ("w", b"SET {x}2 2"), ("w", b"SET k 2"), ("c", b"PING")])


LOOP_READS = [
    # (setup by the writer, the read, writes that must invalidate it: each
    # changes its key, "#" being the round; Shardis also invalidates after a
    # write that changed nothing, see docs/notifications.md)
    ([b"SADD a 1", b"SADD b 2"], b"SUNION a b", [b"SADD a 9#", b"SADD b 9#"]),
    ([b"SADD a 1 2", b"SADD b 2"], b"SINTER a b", [b"SADD a 9#", b"SADD b 9#"]),
    ([b"SADD a 1 2", b"SADD b 2"], b"SDIFF a b", [b"SADD a 9#", b"SADD b 9#"]),
    ([b"SADD a 1 2", b"SADD b 2"], b"SINTERCARD 2 a b", [b"SADD a 9#", b"SADD b 9#"]),
    ([b"ZADD z1 1 m", b"ZADD a 2 m"], b"ZUNION 2 z1 a WITHSCORES", [b"ZADD z1 3# m", b"ZADD a 3# n"]),
    ([b"ZADD z1 1 m", b"ZADD a 2 m"], b"ZINTER 2 z1 a", [b"ZADD z1 3# m", b"ZADD a 3# n"]),
    ([b"ZADD z1 1 m", b"ZADD a 2 m"], b"ZDIFF 2 z1 a", [b"ZADD z1 3# m", b"ZADD a 3# n"]),
    ([b"ZADD z1 1 m", b"ZADD a 2 m"], b"ZINTERCARD 2 z1 a", [b"ZADD z1 3# m", b"ZADD a 3# n"]),
    # SORT_RO: the sort key only (BY/GET pattern keys are not the command's keys);
    # BY w_* on another shard makes it a transaction over every shard
    ([b"RPUSH l 3 1 2"], b"SORT_RO l", [b"RPUSH l 9#"]),
    ([b"RPUSH l 3 1 2", b"SET w_1 5", b"SET a_1 x"], b"SORT_RO l BY w_* GET a_*",
     [b"SET w_1 6#", b"SET a_1 y#", b"RPUSH l 9#"]),
    # one shard: not a coordinator (integer members: Redis's intset order is
    # fixed, a hash table's is seeded at random per process)
    ([b"SADD a 5"], b"SUNION a", [b"SADD a 7#"]),
    ([b"SADD a 1", b"SADD b 2"], b"SUNION a b nokey", [b"SADD nokey 1#"]),
    ([b"SET a x", b"SADD b y"], b"SUNION b a", [b"SET a z#", b"SADD b z#"]),   # WRONGTYPE
    ([b"SET a abcd", b"SET b xbcy"], b"LCS a b", [b"SET a q#", b"SET b r#"]),
    ([b"PFADD a 1", b"PFADD b 2"], b"PFCOUNT a b", [b"PFADD a 9#", b"PFADD b 9#"]),
    # (a missing key, deleted again after the write: an idle time in seconds
    # would make the test timing-bound; the DEL finds nothing tracked)
    ([], b"OBJECT IDLETIME nokey", [b"SET nokey y#", b"DEL nokey"]),
]


@pytest.mark.parametrize("mode", ["default", "optout"])
def test_fan_outs_run_in_argument_order_are_remembered_like_redis(shardis, real_redis, mode):
    """With keyspace events on, MGET/EXISTS over shards run as ordered hops
    (server/router.py): the reads are remembered with them."""
    steps, caching = tracking_steps(mode)
    steps = [("w", b"CONFIG SET notify-keyspace-events KA"), ("w", b"MSET a 1 b 2 c 3"),
             *steps]
    for read in (b"MGET a b c", b"EXISTS c b a"):
        for flag in (True, False):
            if flag and caching:
                steps.append(("c", caching))
            steps.append(("c", read))
            steps += [("w", b"SET %b %d" % (k, 5 + flag)) for k in (b"a", b"b", b"c")]
    steps.append(("c", b"PING"))
    try:
        same_clients(shardis, real_redis, steps)
    finally:
        for server in (shardis, real_redis):
            raw_command(server.port, NO_EVENTS, expect=5)


@pytest.mark.parametrize("mode", sorted(MODES))
def test_reads_run_on_the_loop_are_remembered_like_redis(shardis, real_redis, mode):
    """SORT_RO (a loop-run command) and the cross-shard set and sorted-set
    reads (coordinators) remember their keys on each key's shard."""
    steps, caching = tracking_steps(mode)
    # every read in the default mode; OPTIN/OPTOUT (the same decision for
    # every command) with a sample, to keep the suite's time in bounds
    rows = LOOP_READS if mode == "default" else LOOP_READS[::4]
    for setup, read, writes in rows:
        steps += [("w", x) for x in setup]
        for flag in (True, False):      # with and without the mode's CLIENT CACHING
            if flag and caching:
                steps.append(("c", caching))
            steps.append(("c", read))
            steps += [("w", x.replace(b"#", b"%d" % flag)) for x in writes]
        steps.append(("w", b"FLUSHALL"))
    steps.append(("c", b"PING"))
    got = same_clients(shardis, real_redis, steps)
    if mode == "default":
        assert got["c"].count(b"invalidate\r\n*1\r\n") >= 20


def test_remember_items_are_not_commands(shardis):
    """The shards' `remember` items are not commands: with a 0 threshold
    the slow log (which failed on them) and commandstats list the same
    commands whether the client tracks or not.  (Shardis's slow log has one
    entry per shard part of a multi-shard command, not Redis's one entry:
    compared with itself here.)"""
    outs = []
    for on in (b"on", b"off"):
        raw_command(shardis.port, b"FLUSHALL\r\n", expect=5)
        raw_command(shardis.port, (
            b"HELLO 3\r\nCLIENT TRACKING " + on + b"\r\n"
            b"CONFIG SET slowlog-log-slower-than 0\r\nSLOWLOG RESET\r\nCONFIG RESETSTAT\r\n"
            b"GET a\r\nMGET b c d\r\nSUNION a b\r\nMULTI\r\nGET a\r\nGET b\r\nEXEC\r\n"
            b"MULTI\r\nGET {x}1\r\nGET {x}2\r\nEXEC\r\n"
            b"CONFIG SET slowlog-log-slower-than 10000\r\n"), timeout=0.6)
        c = redis.Redis(port=shardis.port)
        try:
            entries = c.slowlog_get(100)
            stats = c.info("commandstats")
            c.slowlog_reset()
            c.config_resetstat()
        finally:
            c.close()
        outs.append((sorted(e["command"] for e in entries),
                     {k: v["calls"] for k, v in stats.items() if k != "cmdstat_client|tracking"}))
    assert outs[0] == outs[1]
    assert b"GET a" in outs[0][0] and "cmdstat_get" in outs[0][1]


# writes that change nothing: Redis signals a key where it notifies the
# command's event, so these invalidate nothing there (server/notify.py
# after_command; DEL/UNLINK/GETDEL/PERSIST by their reply).  Still
# different, not listed: ZADD/ZINCRBY that change no score, SETBIT of an
# unchanged bit (they invalidate all their keys).
NO_OP_WRITES = [b"SREM s zz", b"HDEL h zz", b"ZREM z zz", b"LREM l 0 zz", b"EXPIRE missing 10",
                b"EXPIRE k 100 XX", b"SETNX k w", b"HSETNX h f w", b"SADD s a",
                b"LPUSHX missing x", b"SMOVE s s2 zz", b"SPOP missing", b"LPOP missing",
                b"ZPOPMIN missing", b"MSETNX k 1 n 2", b"RENAMENX k n", b"COPY k n",
                b"ZREMRANGEBYSCORE z 5 6", b"LINSERT l BEFORE nope y", b"PFADD p a",
                b"SINTERSTORE missing nope1", b"PERSIST k", b"DEL missing",
                b"UNLINK missing nope2", b"GETDEL missing", b"DEL missing k2{k}"]


def test_writes_that_change_nothing_invalidate_nothing_like_redis(shardis, real_redis):
    steps = [("c", b"HELLO 3"), ("c", b"CLIENT TRACKING on")]
    setup = [b"SADD s a", b"HSET h f v", b"ZADD z 1 m", b"RPUSH l x", b"SET k v", b"SET n 5",
             b"PFADD p a"]
    reads = [b"SMEMBERS s", b"HGETALL h", b"ZRANGE z 0 -1", b"LRANGE l 0 -1", b"GET k", b"GET n",
             b"GET missing", b"GET s2", b"PFCOUNT p"]
    steps += [("w", x) for x in setup]
    for write in NO_OP_WRITES:
        steps += [("c", r) for r in reads]
        steps += [("w", write), ("c", b"PING")]
    # and writes that do change something still invalidate
    steps += [("c", r) for r in reads]
    steps += [("w", b"SREM s a"), ("w", b"HDEL h f"), ("w", b"EXPIRE k 100"),
              ("w", b"PERSIST k"), ("w", b"DEL missing n"), ("w", b"GETDEL l"), ("c", b"PING")]
    same_clients(shardis, real_redis, steps)
