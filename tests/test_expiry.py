"""Key expiry: EXPIRE/PEXPIRE/EXPIREAT/PEXPIREAT with NX XX GT LT, TTL, PTTL,
EXPIRETIME, PEXPIRETIME, PERSIST; lazy expiry on access and the active cycle.

Semantics are compared with a real redis-server.  TTLs in generated sequences
are far apart (at least 9 s) and long, so the only thing that differs between
the two servers is the few milliseconds between their clocks being read:
seconds replies are compared exactly, millisecond replies within a tolerance.
"""

from __future__ import annotations

import time

import pytest
import redis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from actors.slots import SlotMap

shard_of = SlotMap(4).shard_of
MS_TOLERANCE = 500


def run(client, cmd):
    try:
        return client.execute_command(*cmd)
    except redis.ResponseError as e:
        return ("error", str(e))


def same(r, rr, cmd):
    a, b = run(r, cmd), run(rr, cmd)
    assert a == b, f"{cmd}: shardis {a!r} != redis {b!r}"
    return a


def close(r, rr, cmd, tol):
    """Replies equal, or both integers >= 0 within ``tol`` (time passed)."""
    a, b = run(r, cmd), run(rr, cmd)
    if isinstance(a, int) and isinstance(b, int) and a >= 0 and b >= 0:
        assert abs(a - b) <= tol, f"{cmd}: shardis {a} vs redis {b}"
    else:
        assert a == b, f"{cmd}: shardis {a!r} != redis {b!r}"


# ------------------------------------------------------------------ errors
@pytest.mark.parametrize("cmd", ["EXPIRE", "PEXPIRE", "EXPIREAT", "PEXPIREAT"])
def test_expire_family_option_and_value_errors_match_redis(r, rr, cmd):
    for c in (r, rr):
        c.set("k", "v")
    for args in [("k", "100", "NX", "XX"), ("k", "100", "NX", "GT"), ("k", "100", "NX", "LT"),
                 ("k", "100", "GT", "LT"), ("k", "100", "XX", "GT", "LT"),
                 ("k", "100", "nx", "nx"), ("k", "100", "FOO"), ("k", "abc", "FOO"),
                 ("k", "abc"), ("k", "1.5"), ("k", ""), ("k", " 1"), ("k", "+1"),
                 ("k", "9223372036854775807"), ("k", "-9223372036854775808"),
                 ("k", "9223372036854775"), ("k", "9223372036854776"),
                 ("k", "-9223372036854776"), ("k", "9223372036854775808"),
                 ("k",), ()]:
        same(r, rr, (cmd, *args))


def test_pexpireat_accepts_the_largest_deadline_like_redis(r, rr):
    for c in (r, rr):
        c.set("k", "v")
    same(r, rr, ("PEXPIREAT", "k", "9223372036854775807"))
    same(r, rr, ("PEXPIRETIME", "k"))
    same(r, rr, ("EXPIRETIME", "k"))
    same(r, rr, ("PERSIST", "k"))
    same(r, rr, ("TTL", "k"))


# ------------------------------------------------------------------ semantics
def test_expire_flags_follow_redis_rules_for_keys_with_and_without_ttl(r, rr):
    script = [
        ("EXPIRE", "missing", "100"), ("EXPIRE", "missing", "100", "NX"),
        ("SET", "k", "v"),
        ("EXPIRE", "k", "100", "XX"), ("EXPIRE", "k", "100", "GT"),   # no TTL: fail
        ("EXPIRE", "k", "100", "LT"),                                  # no TTL = infinite
        ("TTL", "k"),
        ("EXPIRE", "k", "200", "NX"), ("EXPIRE", "k", "200", "XX"), ("TTL", "k"),
        ("EXPIRE", "k", "100", "GT"), ("EXPIRE", "k", "300", "GT"), ("TTL", "k"),
        ("EXPIRE", "k", "400", "LT"), ("EXPIRE", "k", "50", "LT"), ("TTL", "k"),
        ("EXPIRE", "k", "500", "XX", "GT"), ("TTL", "k"),
        ("EXPIRE", "k", "10", "xx", "lt"), ("TTL", "k"),
        ("PERSIST", "k"), ("PERSIST", "k"), ("PERSIST", "missing"), ("TTL", "k"),
        ("EXPIRE", "k", "-1", "GT"), ("EXISTS", "k"),        # no TTL: GT fails, key stays
        ("EXPIRE", "k", "-5", "LT"), ("EXISTS", "k"),        # passes, past: deleted
        ("SET", "k", "v"), ("EXPIRE", "k", "0"), ("EXISTS", "k"),
        ("SET", "k", "v"), ("PEXPIRE", "k", "-100"), ("GET", "k"),
        ("SET", "k", "v"), ("EXPIREAT", "k", "1"), ("EXISTS", "k"),
        ("SET", "k", "v"), ("PEXPIREAT", "k", "0"), ("EXISTS", "k"),
        ("SET", "k", "v", "EX", "100"), ("EXPIRE", "k", "0", "NX"), ("EXISTS", "k"),
        ("TTL", "missing"), ("PTTL", "missing"), ("EXPIRETIME", "missing"),
        ("PEXPIRETIME", "missing"), ("SET", "p", "v"), ("TTL", "p"), ("PTTL", "p"),
        ("EXPIRETIME", "p"), ("PEXPIRETIME", "p"),
        ("TTL",), ("TTL", "a", "b"), ("PERSIST",), ("EXPIRETIME", "a", "b"),
    ]
    for cmd in script:
        if cmd[0] == "PTTL" or cmd[0] == "PEXPIRETIME":
            close(r, rr, cmd, MS_TOLERANCE)
        elif cmd[0] == "EXPIRETIME":
            close(r, rr, cmd, 1)
        else:
            same(r, rr, cmd)


def test_absolute_deadlines_are_reported_back_exactly(r):
    at = int(time.time()) + 1000
    r.set("k", "v")
    assert r.expireat("k", at)
    assert r.expiretime("k") == at
    assert r.pexpiretime("k") == at * 1000
    assert r.pexpireat("k", at * 1000 + 777)
    assert r.pexpiretime("k") == at * 1000 + 777
    assert r.expiretime("k") == at + 1            # rounded like Redis: (ms + 500) / 1000
    assert 999 <= r.ttl("k") <= 1001


def test_ttl_rounds_to_the_nearest_second_and_pttl_counts_down(r):
    r.set("k", "v", px=10400)
    assert r.ttl("k") == 10
    r.pexpire("k", 10600)
    assert r.ttl("k") == 11
    p1 = r.pttl("k")
    time.sleep(0.05)
    p2 = r.pttl("k")
    assert 10400 < p2 < p1 <= 10600


def test_writes_that_replace_a_value_clear_the_ttl_and_persist_keeps_the_value(r):
    r.set("k", "v", ex=100)
    r.set("k", "w")
    assert r.ttl("k") == -1
    r.expire("k", 100)
    assert r.persist("k") is True
    assert r.get("k") == b"w" and r.ttl("k") == -1


# ------------------------------------------------------------------ generated
KEYS = ["k0", "k1", "k2", "k3"]
FLAGS = [(), ("NX",), ("XX",), ("GT",), ("LT",), ("XX", "GT"), ("XX", "LT")]

op = st.one_of(
    st.tuples(st.just("SET"), st.sampled_from(KEYS), st.integers(0, 40), st.booleans()),
    st.tuples(st.just("EXPIRE"), st.sampled_from(KEYS), st.integers(-3, 40),
              st.sampled_from(FLAGS)),
    st.tuples(st.just("PEXPIRE"), st.sampled_from(KEYS), st.integers(-3, 40),
              st.sampled_from(FLAGS)),
    st.tuples(st.just("EXPIREAT"), st.sampled_from(KEYS), st.integers(-3, 40),
              st.sampled_from(FLAGS)),
    st.tuples(st.just("PERSIST"), st.sampled_from(KEYS)),
    st.tuples(st.just("DEL"), st.sampled_from(KEYS)),
    st.tuples(st.just("RENAME"), st.sampled_from(KEYS), st.sampled_from(KEYS)),
    st.tuples(st.just("COPY"), st.sampled_from(KEYS), st.sampled_from(KEYS), st.booleans()),
    st.tuples(st.just("MOVE"), st.sampled_from(KEYS)),
    st.tuples(st.just("SWAPDB"),),
)


def to_command(o, i):
    """A concrete command; every TTL differs from every other one by >= 9 s."""
    kind = o[0]
    if kind == "SET":
        _, k, n, with_ttl = o
        return ("SET", k, f"v{i}") + (("EX", 1000 + 1000 * n + 10 * i) if with_ttl else ())
    if kind in ("EXPIRE", "PEXPIRE", "EXPIREAT"):
        _, k, n, flags = o
        secs = 1000 + 1000 * n + 10 * i if n >= 0 else n
        if kind == "PEXPIRE":
            return ("PEXPIRE", k, secs * 1000, *flags)
        if kind == "EXPIREAT":
            return ("EXPIREAT", k, int(time.time()) + secs, *flags)
        return ("EXPIRE", k, secs, *flags)
    if kind == "COPY":
        return ("COPY", o[1], o[2]) + (("REPLACE",) if o[3] else ())
    if kind == "MOVE":
        return ("MOVE", o[1], "1")
    if kind == "SWAPDB":
        return ("SWAPDB", "0", "1")
    return o


def compare_state(r, rr):
    for k in KEYS:
        same(r, rr, ("GET", k))
        same(r, rr, ("EXISTS", k))
        same(r, rr, ("TTL", k))
        close(r, rr, ("PTTL", k), MS_TOLERANCE)
        close(r, rr, ("EXPIRETIME", k), 1)
    same(r, rr, ("DBSIZE",))


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(op, min_size=1, max_size=25))
def test_generated_key_and_expiry_sequences_agree_with_redis(r, rr, ops):
    for c in (r, rr):
        c.flushall()
    for i, o in enumerate(ops):
        cmd = to_command(o, i)
        same(r, rr, cmd)
        if i % 5 == 4:
            compare_state(r, rr)
    compare_state(r, rr)
    for db in ("0", "1"):
        same(r, rr, ("SELECT", db))
        assert sorted(r.keys("*")) == sorted(rr.keys("*"))
    same(r, rr, ("SELECT", "0"))


# ------------------------------------------------------------------ lazy expiry
def test_expired_key_is_gone_on_access_before_any_active_cycle(shardis_factory):
    # hz=1: the active cycle runs once a second, so within the first 300 ms
    # only lazy expiry can make the key disappear
    s = shardis_factory("--shards", "2", "--set", "hz=1")
    c = s.client()
    deadline = time.monotonic() + 5
    while True:
        c.flushall()
        c.set("k", "v", px=60)
        c.set("other", "v", px=60)
        t0 = time.monotonic()
        time.sleep(0.1)
        size_before = c.dbsize()
        got = c.get("k")
        size_after = c.dbsize()
        if time.monotonic() - t0 < 0.3 and size_before == 2:
            break            # no active cycle ran in between: the case under test
        assert time.monotonic() < deadline, "an active cycle ran every attempt"
    assert got is None
    assert size_after == 1            # GET deleted "k"; "other" waits for the cycle
    assert c.exists("other") == 0
    assert c.dbsize() == 0
    c.close()


@pytest.mark.parametrize("read", [
    ("GET",), ("EXISTS",), ("TTL",), ("PTTL",), ("TYPE",), ("OBJECT", "ENCODING"),
    ("EXPIRETIME",), ("PERSIST",), ("TOUCH",),
])
def test_every_read_sees_an_expired_key_as_missing(r, rr, read):
    for c in (r, rr):
        c.set("k", "v", px=1)
    time.sleep(0.01)
    cmd = (read[0], *read[1:], "k")
    same(r, rr, cmd)
    same(r, rr, ("EXISTS", "k"))


def test_expired_source_of_rename_copy_move_counts_as_missing(r, rr):
    for c in (r, rr):
        c.set("a", "v", px=1)
        c.set("b", "w")
    time.sleep(0.01)
    for cmd in (("RENAME", "a", "b"), ("RENAMENX", "a", "b"), ("COPY", "a", "c"),
                ("MOVE", "a", "1"), ("GET", "b"), ("EXPIRE", "a", "100"), ("PERSIST", "a")):
        same(r, rr, cmd)


# ------------------------------------------------------------------ active expiry
def test_active_expiry_removes_ten_thousand_untouched_keys(r):
    pipe = r.pipeline(transaction=False)
    for i in range(10000):
        pipe.set(f"ae:{i}", "v", px=100)
    pipe.execute()
    assert r.dbsize() > 0
    deadline = time.monotonic() + 3
    while r.dbsize() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert r.dbsize() == 0


def test_active_expiry_covers_every_database_and_spares_persistent_keys(r, shardis):
    c3 = shardis.client(db=3)
    for c in (r, c3):
        pipe = c.pipeline(transaction=False)
        for i in range(500):
            pipe.set(f"x:{i}", "v", px=50)
        pipe.set("keep", "v")
        pipe.set("later", "v", ex=100)
        pipe.execute()
    deadline = time.monotonic() + 3
    while (r.dbsize() > 2 or c3.dbsize() > 2) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert r.dbsize() == 2 and c3.dbsize() == 2
    assert sorted(c3.keys("*")) == [b"keep", b"later"]
    c3.close()


def test_a_ttl_lengthened_before_its_old_deadline_is_not_expired_early(r):
    r.set("k", "v", px=100)
    r.pexpire("k", 100000)
    r.set("j", "v", px=100)
    r.persist("j")
    time.sleep(0.4)
    assert r.get("k") == b"v" and r.get("j") == b"v"
    assert r.dbsize() == 2


def test_cross_shard_rename_and_copy_carry_the_deadline_to_the_new_shard(r):
    a = b"ttl-src"
    b = next(f"ttl-dst{i}".encode() for i in range(1000)
             if shard_of(f"ttl-dst{i}".encode()) != shard_of(a))
    c = next(f"ttl-cp{i}".encode() for i in range(1000)
             if shard_of(f"ttl-cp{i}".encode()) not in (shard_of(a), shard_of(b)))
    r.set(a, "v", px=300)
    deadline = r.pexpiretime(a)
    r.copy(a, c)
    r.rename(a, b)
    assert r.pexpiretime(b) == deadline == r.pexpiretime(c)
    time.sleep(0.6)
    assert r.dbsize() == 0            # expired on the destination shards
