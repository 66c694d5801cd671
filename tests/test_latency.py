"""LATENCY, INFO latencystats and INFO errorstats against a real redis-server.

Both servers here are this module's own (the latency monitor, RESETSTAT and
the error counters are server-wide state other modules must not see): a
Shardis with 4 shards and a redis-server 7.0 with DEBUG enabled.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import time

import pytest
import redis

from conftest import ServerProc, free_port, start_shardis, wait_port
from server.commands.latency import render_graph


@pytest.fixture(scope="module")
def shardis_l(tmp_path_factory):
    s = start_shardis(tmp_path_factory, "--shards", "4")
    yield s
    s.stop()


@pytest.fixture(scope="module")
def redis_l(tmp_path_factory):
    exe = shutil.which("redis-server")
    if exe is None:
        pytest.fail("redis-server is not installed")
    port = free_port()
    d = tmp_path_factory.mktemp("redis-latency")
    log_path = str(d / "redis.log")
    proc = subprocess.Popen(
        [exe, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
         "--dir", str(d), "--logfile", log_path, "--enable-debug-command", "yes"],
        stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    wait_port(port, proc)
    s = ServerProc(proc, port, log_path)
    yield s
    s.stop()


def _fresh(c):
    """Every test starts from the same state on both servers."""
    c.config_set("latency-monitor-threshold", 0)
    c.config_set("latency-tracking", "yes")
    c.config_set("latency-tracking-info-percentiles", "50 99 99.9")
    c.execute_command("LATENCY", "RESET")
    c.flushall()
    c.config_resetstat()


@pytest.fixture
def both(shardis_l, redis_l):
    s = shardis_l.client(protocol=2)
    r = redis_l.client(protocol=2)
    for c in (s, r):
        _fresh(c)
    yield s, r
    s.close()
    r.close()


def reply(c, *args):
    """The reply, or the error text (compared exactly between servers)."""
    try:
        return c.execute_command(*args)
    except redis.ResponseError as e:
        return ("error", str(e))


def section(c, name) -> dict[str, str]:
    """INFO <section> as {field: raw value text}, read from the raw reply."""
    port = c.connection_pool.connection_kwargs["port"]
    raw = _raw(port, ("INFO", name), 2)
    body = raw.split(b"\r\n", 1)[1]
    out = {}
    for line in body.decode().split("\r\n"):
        if line and not line.startswith("#"):
            k, _, v = line.partition(":")
            out[k] = v
    return out


# ------------------------------------------------------------------ replies and errors

LATENCY_CALLS = [
    ("LATENCY", "HELP"),
    ("LATENCY", "help"),
    ("LATENCY", "LATEST"),
    ("LATENCY", "HISTORY", "command"),
    ("LATENCY", "HISTORY", "nosuch"),
    ("LATENCY", "GRAPH", "command"),
    ("LATENCY", "GRAPH", "nosuch-event"),
    ("LATENCY", "RESET"),
    ("LATENCY", "RESET", "command", "nosuch", "command"),
    ("LATENCY", "DOCTOR"),
    ("LATENCY", "foo"),
    ("LATENCY", "foo", "bar"),
    ("LATENCY",),
    ("LATENCY", "GRAPH"),
    ("LATENCY", "GRAPH", "a", "b"),
    ("LATENCY", "HISTORY"),
    ("LATENCY", "HISTORY", "a", "b"),
    ("LATENCY", "LATEST", "x"),
    ("LATENCY", "DOCTOR", "x"),
    ("LATENCY", "HELP", "x"),
    ("LATENCY", "HISTOGRAM", "nosuch-command"),
]


@pytest.mark.parametrize("args", LATENCY_CALLS, ids=lambda a: " ".join(a))
def test_latency_replies_and_errors_match_redis_with_the_monitor_off(both, args):
    s, r = both
    assert reply(s, *args) == reply(r, *args)


def test_latency_doctor_with_the_monitor_on_and_no_event_matches_redis(both):
    s, r = both
    for c in (s, r):
        c.config_set("latency-monitor-threshold", 1000)
    assert reply(s, "LATENCY", "DOCTOR") == reply(r, "LATENCY", "DOCTOR")
    assert reply(s, "LATENCY", "DOCTOR").startswith(b"Dave, no latency spike")


def test_latency_doctor_and_graph_are_verbatim_strings_in_resp3(shardis_l, redis_l, both):
    s3 = shardis_l.client(protocol=3)
    r3 = redis_l.client(protocol=3)
    try:
        for c in (s3, r3):
            c.config_set("latency-monitor-threshold", 10)
            c.execute_command("DEBUG", "SLEEP", "0.02")
        for args in (("LATENCY", "DOCTOR"), ("LATENCY", "GRAPH", "command")):
            raw_s = _raw(shardis_l.port, args, 3)
            raw_r = _raw(redis_l.port, args, 3)
            assert raw_s[:1] == raw_r[:1] == b"="
            assert raw_s.split(b"\r\n", 1)[1][:4] == raw_r.split(b"\r\n", 1)[1][:4] == b"txt:"
            raw_s2 = _raw(shardis_l.port, args, 2)
            assert raw_s2[:1] == _raw(redis_l.port, args, 2)[:1] == b"$"
    finally:
        s3.close()
        r3.close()


def _raw(port, args, proto) -> bytes:
    import socket
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        if proto == 3:
            sock.sendall(b"*2\r\n$5\r\nHELLO\r\n$1\r\n3\r\n")
            _read_reply(sock)
        payload = b"*%d\r\n" % len(args) + b"".join(
            b"$%d\r\n%b\r\n" % (len(a), a.encode()) for a in args)
        sock.sendall(payload)
        return _read_reply(sock)


def _read_reply(sock) -> bytes:
    # enough for one top-level reply: read until the socket is quiet
    sock.settimeout(0.3)
    data = b""
    while True:
        try:
            chunk = sock.recv(65536)
        except TimeoutError:
            return data
        if not chunk:
            return data
        data += chunk


# ------------------------------------------------------------------ the monitor

def test_a_slow_loop_command_over_the_threshold_is_a_command_event(both):
    s, r = both
    s.config_set("latency-monitor-threshold", 10)
    before = int(time.time())
    s.execute_command("DEBUG", "SLEEP", "0.05")
    latest = s.execute_command("LATENCY", "LATEST")
    assert len(latest) == 1
    name, t, last, mx = latest[0]
    assert name == b"command" and before <= t <= time.time() + 1
    assert 50 <= last <= 500 and mx == last
    hist = s.execute_command("LATENCY", "HISTORY", "command")
    assert hist == [[t, last]]
    graph = s.execute_command("LATENCY", "GRAPH", "command").decode()
    assert graph.startswith(f"command - high {last} ms, low {last} ms (all time high {last} ms)\n"
                            + "-" * 80 + "\n")
    doctor = s.execute_command("LATENCY", "DOCTOR").decode()
    assert f"1. command: 1 latency spikes (average {last}ms, mean deviation 0ms" in doctor
    assert "Check your Slow Log" in doctor
    # a second spike in the same second only raises that second's sample
    s.execute_command("DEBUG", "SLEEP", "0.02")
    assert len(s.execute_command("LATENCY", "HISTORY", "command")) in (1, 2)
    assert s.execute_command("LATENCY", "RESET", "command", "command", "nosuch") == 1
    assert s.execute_command("LATENCY", "LATEST") == []


def test_commands_under_the_threshold_or_with_the_monitor_off_record_nothing(both):
    s, _ = both
    s.execute_command("DEBUG", "SLEEP", "0.03")          # monitor off
    s.config_set("latency-monitor-threshold", 1000)
    s.execute_command("DEBUG", "SLEEP", "0.03")          # under the threshold
    assert s.execute_command("LATENCY", "LATEST") == []


def test_a_slow_shard_command_is_recorded_by_its_shard(both):
    s, _ = both
    s.rpush("biglist", *range(100_000))
    s.config_set("latency-monitor-threshold", 1)
    s.lrange("biglist", 0, -1)        # not a fast command: event "command"
    events = {e[0]: e for e in s.execute_command("LATENCY", "LATEST")}
    assert b"command" in events and events[b"command"][3] >= 1


def test_the_active_expire_cycle_over_the_threshold_is_an_expire_cycle_event(both):
    s, _ = both
    # the threshold first, and a TTL longer than loading takes, so the keys
    # expire in active cycles the monitor watches (on a loaded machine the
    # load alone can outlast a short TTL)
    s.config_set("latency-monitor-threshold", 1)
    p = s.pipeline(transaction=False)
    for i in range(40_000):
        p.set(f"k{i}", "v", px=800)
    p.execute()
    deadline = time.time() + 5
    names = set()
    while time.time() < deadline and b"expire-cycle" not in names:
        time.sleep(0.2)
        names = {e[0] for e in s.execute_command("LATENCY", "LATEST")}
    assert b"expire-cycle" in names
    doctor = s.execute_command("LATENCY", "DOCTOR").decode()
    assert "expire-cycle:" in doctor and "'hz' configuration parameter to 100" in doctor


def test_latency_graph_renders_redis_samples_exactly_like_redis(both):
    """Redis's own samples through our sparkline renderer give Redis's graph."""
    _, r = both
    r.config_set("latency-monitor-threshold", 10)
    r.execute_command("DEBUG", "SLEEP", "0.02")
    time.sleep(1.05)
    r.execute_command("DEBUG", "SLEEP", "0.06")
    time.sleep(1.05)
    r.execute_command("DEBUG", "SLEEP", "0.04")
    for _ in range(5):
        t0 = int(time.time())
        history = r.execute_command("LATENCY", "HISTORY", "command")
        mx = r.execute_command("LATENCY", "LATEST")[0][3]
        graph = r.execute_command("LATENCY", "GRAPH", "command").decode()
        if int(time.time()) == t0:     # the labels are ages in seconds
            break
    assert len(history) == 3
    assert render_graph("command", mx, history, now=t0) == graph


def test_graph_of_many_samples_wraps_at_80_columns():
    samples = [[1000 + i, (i * 37) % 200 + 1] for i in range(100)]
    g = render_graph("x", 200, samples, now=1100)
    lines = g.split("\n")
    assert lines[0] == "x - high 200 ms, low 1 ms (all time high 200 ms)"
    assert lines[1] == "-" * 80
    assert max(len(line) for line in lines[2:]) == 80
    assert "" in lines[2:-1]        # a blank line between the two ranges


# ------------------------------------------------------------------ histograms

def _histogram(c, *names):
    """{name: (calls, bucket bounds, cumulative counts)} from either reply form."""
    raw = c.execute_command("LATENCY", "HISTOGRAM", *names)
    if isinstance(raw, list):
        raw = dict(zip(raw[::2], raw[1::2]))
    out = {}
    for name, body in raw.items():
        if isinstance(body, list):
            body = dict(zip(body[::2], body[1::2]))
        buckets = body[b"histogram_usec"]
        if isinstance(buckets, list):
            buckets = dict(zip(buckets[::2], buckets[1::2]))
        out[name] = (body[b"calls"], list(buckets), list(buckets.values()))
    return out


def test_latency_histogram_has_redis_structure_for_a_known_set_of_commands(both):
    s, r = both
    for c in (s, r):
        c.config_resetstat()
        for i in range(20):
            c.set(f"k{i}", i)
        for i in range(7):
            c.get(f"k{i}")
        c.config_get("maxmemory")
        c.config_get("hz")
    hs = _histogram(s, "set", "GET", "config", "nosuch", "config|get")
    hr = _histogram(r, "set", "GET", "config", "nosuch", "config|get")
    # (a container's subcommands come in dict order, in Redis a hash order)
    assert list(hs)[:2] == list(hr)[:2] == [b"set", b"get"]
    assert set(hs) == set(hr) == {b"set", b"get", b"config|resetstat", b"config|get"}
    for name in hs:
        calls, bounds, cum = hs[name]
        assert calls == hr[name][0]
        assert cum == sorted(cum) and cum[-1] == calls and len(set(cum)) == len(cum)
        assert bounds == sorted(bounds) and all(b & (b - 1) == 0 for b in bounds)
    # without arguments: every command with data (the histogram of this very
    # call is recorded after its reply, as in Redis)
    alls = _histogram(s)
    assert {b"set", b"get", b"config|get", b"config|resetstat"} <= set(alls)
    assert set(_histogram(r)) - {b"latency|histogram", b"flushall", b"config|set",
                                 b"latency|reset"} <= set(alls)


def test_latency_histogram_repeats_a_command_named_twice_like_redis(shardis_l, redis_l, both):
    s, r = both
    for c in (s, r):
        c.set("a", 1)
        c.config_get("hz")
    for proto in (2, 3):
        for args in (("LATENCY", "HISTOGRAM", "set", "SET"),
                     ("LATENCY", "HISTOGRAM", "set", "config", "config|get", "nosuch"),
                     ("LATENCY", "HISTOGRAM", "nosuch")):
            hs = _raw(shardis_l.port, args, proto).split(b"\r\n", 1)[0]
            hr = _raw(redis_l.port, args, proto).split(b"\r\n", 1)[0]
            assert hs == hr, (args, proto)


def test_latency_histogram_is_a_map_of_maps_in_resp3(shardis_l, redis_l, both):
    s3 = shardis_l.client(protocol=3)
    r3 = redis_l.client(protocol=3)
    try:
        for c in (s3, r3):
            c.set("a", 1)
        hs = s3.execute_command("LATENCY", "HISTOGRAM", "set")
        hr = r3.execute_command("LATENCY", "HISTOGRAM", "set")
        assert list(hs) == list(hr) == [b"set"]
        assert set(hs[b"set"]) == set(hr[b"set"]) == {b"calls", b"histogram_usec"}
        assert isinstance(hs[b"set"][b"histogram_usec"], dict)
        assert sum(1 for _ in hs[b"set"][b"histogram_usec"]) >= 1
    finally:
        s3.close()
        r3.close()


_PCT = re.compile(r"^p[0-9.]+=[0-9]+\.[0-9]{3}$")


def test_info_latencystats_lists_percentiles_per_command_like_redis(both):
    s, r = both
    for c in (s, r):
        c.config_resetstat()
        c.set("a", 1)
        c.get("a")
        c.config_get("hz")
    ls, lr = section(s, "latencystats"), section(r, "latencystats")
    for name in ("set", "get", "config|get"):
        key = f"latency_percentiles_usec_{name}"
        assert key in ls and key in lr
        ps, pr = ls[key].split(","), lr[key].split(",")
        assert [x.split("=")[0] for x in ps] == [x.split("=")[0] for x in pr] == \
            ["p50", "p99", "p99.9"]
        assert all(_PCT.match(x) for x in ps)
    for c in (s, r):
        c.config_set("latency-tracking-info-percentiles", "99.90 0 100 12.5")
    assert s.config_get("latency-tracking-info-percentiles") == \
        r.config_get("latency-tracking-info-percentiles")
    ls, lr = section(s, "latencystats"), section(r, "latencystats")
    keys = ["p99.9", "p0", "p100", "p12.5"]
    assert [x.split("=")[0] for x in ls["latency_percentiles_usec_set"].split(",")] == keys
    assert [x.split("=")[0] for x in lr["latency_percentiles_usec_set"].split(",")] == keys
    # "# Latencystats" is part of INFO everything, not of the default INFO
    assert "latency_percentiles_usec_set" in section(s, "everything")
    assert "latency_percentiles_usec_set" not in section(s, "default")


@pytest.mark.parametrize("value", ["50 101", "50 abc", "-1", "nan", ""])
def test_latency_tracking_info_percentiles_config_errors_match_redis(both, value):
    s, r = both
    assert reply(s, "CONFIG", "SET", "latency-tracking-info-percentiles", value) == \
        reply(r, "CONFIG", "SET", "latency-tracking-info-percentiles", value)
    assert s.config_get("latency-tracking-info-percentiles") == \
        r.config_get("latency-tracking-info-percentiles")


def test_latency_tracking_no_stops_recording_histograms(both):
    s, r = both
    for c in (s, r):
        c.config_set("latency-tracking", "no")
        c.config_resetstat()
        c.set("a", 1)
        c.get("a")
    assert section(s, "latencystats") == section(r, "latencystats") == {}
    assert _histogram(s, "set", "get") == _histogram(r, "set", "get") == {}
    assert reply(s, "CONFIG", "SET", "latency-tracking", "maybe") == \
        reply(r, "CONFIG", "SET", "latency-tracking", "maybe")


# ------------------------------------------------------------------ errorstats

FAILING = [
    ("NOSUCH", "a"),                       # unknown command: ERR, no commandstats
    ("GET",),                              # arity: rejected
    ("SET", "s", "x"),
    ("LPUSH", "s", "x"),                   # WRONGTYPE: failed
    ("INCR", "s"),                         # ERR: failed
    ("EXEC",),                             # EXEC without MULTI: failed
    ("CONFIG", "GET"),                     # subcommand arity: rejected config|get
    ("LATENCY", "foo"),                    # unknown subcommand: no commandstats
    ("GET", "s", "extra"),
    ("SET", "n", "1", "EX", "0"),          # invalid expire time: ERR, failed
    ("HSET", "s", "f", "v"),
    ("OBJECT", "ENCODING", "missing"),
    ("MULTI",), ("SET", "a"), ("SET", "b", "c"), ("EXEC",),      # EXECABORT
    ("MULTI",), ("INCR", "s"), ("SET", "q", "1"), ("EXEC",),     # error inside EXEC
    ("MULTI",), ("MULTI",), ("DISCARD",),                       # nested MULTI
    ("DISCARD",),
    ("WATCH",),
    ("SELECT", "99"),
    ("PING", "a", "b"),
]


def _errorstats(c) -> dict:
    return section(c, "errorstats")


def _cmdstats(c) -> dict:
    out = {}
    for k, v in section(c, "commandstats").items():
        f = dict(x.split("=") for x in v.split(","))
        out[k] = (f["calls"], f["rejected_calls"], f["failed_calls"])
    return out


def test_errorstats_after_a_fixed_failing_sequence_match_redis(both):
    s, r = both
    for c in (s, r):
        c.config_resetstat()
        for args in FAILING:
            reply(c, *args)
    assert _errorstats(s) == _errorstats(r)
    assert section(s, "stats")["total_error_replies"] == section(r, "stats")["total_error_replies"]
    cs, cr = _cmdstats(s), _cmdstats(r)
    for name in ("cmdstat_get", "cmdstat_lpush", "cmdstat_incr", "cmdstat_exec",
                 "cmdstat_config|get", "cmdstat_set", "cmdstat_hset", "cmdstat_multi",
                 "cmdstat_discard", "cmdstat_watch", "cmdstat_select", "cmdstat_ping",
                 "cmdstat_object|encoding"):
        assert cs.get(name) == cr.get(name), name
    assert "cmdstat_latency" not in cs and "cmdstat_latency" not in cr
    assert "cmdstat_nosuch" not in cs


def test_errors_inside_a_single_shard_transaction_are_counted_like_redis(both):
    """Every queued command here is on one shard (hash tag): EXEC's fast path
    (transactions.exec_on_shard) runs them in one call."""
    s, r = both
    for c in (s, r):
        c.config_resetstat()
        c.set("{t}s", "x")
        p = c.pipeline(transaction=True)
        p.incr("{t}s")
        p.lpush("{t}s", "v")
        p.set("{t}q", 1)
        try:
            p.execute()
        except redis.ResponseError:
            pass
    assert _errorstats(s) == _errorstats(r)
    assert _cmdstats(s).get("cmdstat_incr") == _cmdstats(r).get("cmdstat_incr")


def test_errorstats_and_total_error_replies_are_reset_by_config_resetstat(both):
    s, _ = both
    reply(s, "NOSUCH")
    reply(s, "LPUSH", "k")
    assert _errorstats(s) == {"errorstat_ERR": "count=2"}
    s.config_resetstat()
    assert _errorstats(s) == {}
    assert section(s, "stats")["total_error_replies"] == "0"


def test_an_error_from_a_cross_shard_command_counts_once(both):
    s, r = both
    for c in (s, r):
        c.config_resetstat()
        c.set("a", "x")
        c.rpush("b", "x")
        reply(c, "SMOVE", "a", "b", "m")       # keys on different shards in Shardis
        reply(c, "LMOVE", "b", "a", "LEFT", "LEFT")
    assert _errorstats(s) == _errorstats(r)
    assert section(s, "stats")["total_error_replies"] == section(r, "stats")["total_error_replies"]


def test_startup_latency_monitor_threshold_reaches_the_shards(tmp_path_factory):
    srv = start_shardis(tmp_path_factory, "--shards", "2",
                        "--set", "latency-monitor-threshold=1")
    try:
        c = srv.client()
        c.rpush("biglist", *range(100_000))
        c.lrange("biglist", 0, -1)
        assert b"command" in {e[0] for e in c.execute_command("LATENCY", "LATEST")}
    finally:
        srv.stop()


def test_dashboard_api_latency_serves_the_same_events_and_error_counts(tmp_path_factory):
    import json
    import urllib.request
    dport = free_port()
    srv = start_shardis(tmp_path_factory, "--shards", "2", "--dashboard-port", str(dport))
    try:
        c = srv.client()
        c.config_set("latency-monitor-threshold", 10)
        c.execute_command("DEBUG", "SLEEP", "0.03")
        reply(c, "LPUSH", "k")
        c.set("s", "x")
        reply(c, "LPUSH", "s", "v")
        deadline = time.monotonic() + 10
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{dport}/api/latency",
                                            timeout=2) as resp:
                    body = json.loads(resp.read())
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        latest = c.execute_command("LATENCY", "LATEST")
        assert body["threshold_ms"] == 10
        assert body["events"]["command"]["max_ms"] == latest[0][3]
        assert body["events"]["command"]["samples"] == c.execute_command(
            "LATENCY", "HISTORY", "command")
        assert body["errorstats"] == {"ERR": 1, "WRONGTYPE": 1}
    finally:
        srv.stop()
