"""actors._runs (actors/_runs.c), the C side of the shard runners.

``warm``, the cache prefetching of a run's keys, must change nothing (no
write, no reference taken or dropped, no exception for odd input), and the
runners must answer the same with it and without it.  ``run_get``, the GET
runner's loop in C, must do exactly what the Python loop it replaces does
(server/commands/strings.py, run_get), item for item."""

from __future__ import annotations

import sys

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

import server.commands  # noqa: F401 - registers the handlers and runners
import server.commands.strings
import actors.shard as shard_mod
from actors._runs import ACTIVE, warm
from actors.messages import Batch
from actors.shard import ShardActor
from server.commands.strings import cmd_get, cmd_set


def test_warm_reads_cpython_311_dicts_here():
    # the supported interpreter (pyproject: 3.11) has the layout warm reads;
    # on another version it is built as a no-op and the runners skip it
    assert ACTIVE == (1 if sys.version_info[:2] == (3, 11) else 0)
    assert shard_mod.WARM is (warm if ACTIVE else None)


def _snapshot(dicts, items):
    """Everything warm could disturb: contents, and every object's refcount."""
    objs = [o for d in dicts if isinstance(d, dict) for kv in d.items() for o in kv]
    objs += [o for it in items for o in (it if isinstance(it, (tuple, list)) else (it,))]
    objs += [a for it in items if isinstance(it, tuple) and len(it) > 1
             and isinstance(it[1], list) for a in it[1]]
    # counted: the test's own objects (fresh bytes of 2+ bytes, tuples,
    # lists); None, ints, str and 1-byte bytes may be shared with anything
    refs = [(id(o), sys.getrefcount(o)) for o in objs
            if isinstance(o, (tuple, list)) or (isinstance(o, bytes) and len(o) > 1)]
    # contents as text: a copy holding the objects would change their counts
    return [repr(list(d.items())) if isinstance(d, dict) else repr(d) for d in dicts], refs


keys = st.one_of(st.binary(max_size=20), st.text(max_size=5), st.integers(-5, 5))
argvs = st.one_of(
    st.lists(st.one_of(st.binary(max_size=20), st.integers()), max_size=4),
    st.tuples(st.binary(max_size=5), st.binary(max_size=5)),
    st.none())
items_st = st.lists(st.one_of(
    st.tuples(st.none(), argvs, st.none(), st.just(0)),
    st.tuples(st.none()),
    st.binary(max_size=3),
    st.builds(lambda a: [None, a], argvs)), max_size=80)


@settings(max_examples=300, deadline=None)
@given(data=st.lists(st.dictionaries(keys, st.binary(max_size=8), max_size=300), max_size=4),
       dels=st.integers(0, 50), items=items_st,
       start=st.integers(-5, 90), stop=st.integers(-5, 400))
def test_warm_changes_nothing_whatever_it_is_given(data, dels, items, start, stop):
    # fresh copies: objects of the test's own, which nothing else holds
    fresh = (lambda x: bytes(bytearray(x)) if isinstance(x, bytes) else x)
    data = [{fresh(k): fresh(v) for k, v in d.items()} for d in data]
    items = [tuple(fresh(x) if not isinstance(x, list) else [fresh(a) for a in x] for x in it)
             if isinstance(it, tuple) else fresh(it) if isinstance(it, bytes)
             else [it[0], [fresh(a) for a in it[1]] if isinstance(it[1], list) else it[1]]
             for it in items]
    for d in data:              # deleted entries leave dummies in the table
        for k in list(d)[:dels]:
            del d[k]
    # some lookups hit: use keys of the dicts as argv[1]
    for d in data:
        for k in list(d)[:5]:
            items.append((None, [b"GET", k], None, 0))
    dicts = tuple(data) + (None, "x")
    before = _snapshot(dicts, items)
    assert warm(dicts, items, start, stop) is None
    assert _snapshot(dicts, items) == before


@pytest.mark.parametrize("n", [3, 100, 1000, 70_000])    # 8, 16 and 32-bit index tables
def test_warm_on_tables_of_every_index_width(n):
    data = {b"k%d" % i: b"v%d" % i for i in range(n)}
    atime = dict.fromkeys(data, 7)
    for i in range(0, n, 3):
        del atime[b"k%d" % i]
    items = [(cmd_get, [b"GET", b"k%d" % (i * 7919 % (2 * n))], None, 0) for i in range(300)]
    before = _snapshot((data, atime), items)
    for start in range(0, 300, 32):
        warm((data, atime), items, start, start + 32)
    warm((data, atime), items, 0, 10**9)       # clamped to the window size
    assert _snapshot((data, atime), items) == before


def test_warm_rejects_wrong_arguments():
    with pytest.raises(TypeError):
        warm(({},), [])
    with pytest.raises(TypeError):
        warm([{}], [], 0, 1)
    with pytest.raises(TypeError):
        warm(({},), (), 0, 1)
    with pytest.raises(TypeError):
        warm(({},), [], "0", 1)
    with pytest.raises(OverflowError):
        warm(({},), [], 0, 1 << 80)


class _Bridge:
    def __init__(self):
        self.posted = []

    def post(self, item):
        self.posted.append(item)


def _run(prefetch: bool, c_get: bool = True):
    """One shard, a batch of GET and SET runs over 5,000 keys with misses,
    a TTL due, a wrong type and SET with options in the middle."""
    saved = shard_mod.WARM, shard_mod.C_RUN_GET
    shard_mod.WARM = saved[0] if prefetch else None
    shard_mod.C_RUN_GET = saved[1] if c_get else None
    try:
        shard = ShardActor(0, 1, _Bridge())
        db = shard.dbs[0]
        for i in range(5000):
            db.set(b"k%d" % i, b"v%d" % i)
        db.set(b"gone", b"x")
        db.set_expire(b"gone", 1)          # due long ago
        db.set(b"list", [b"x"])             # not a string
        items = []
        for i in range(200):
            k = b"k%d" % (i * 37 % 6000)    # some miss
            items.append((cmd_get, [b"GET", k], None, 0))
            if i % 50 == 25:
                items += [(cmd_get, [b"GET", b"gone"], None, 0),
                          (cmd_get, [b"GET", b"list"], None, 0),
                          (cmd_set, [b"SET", k, b"new", b"NX"], None, 0)]
            if i % 3 == 0:
                items.append((cmd_set, [b"SET", b"s%d" % i, b"w"], None, 0))
        batch = Batch(None, 0, 2)
        batch.items = items
        shard.on_receive(batch)
        return batch.replies, dict(db.data), dict(db.expires), db.hits, db.misses
    finally:
        shard_mod.WARM, shard_mod.C_RUN_GET = saved


def test_runners_answer_the_same_with_and_without_prefetching_and_the_c_loop():
    with_warm = _run(True)
    assert _run(False) == with_warm
    assert _run(True, c_get=False) == with_warm
    assert _run(False, c_get=False) == with_warm
    replies = with_warm[0]
    assert b"-WRONGTYPE Operation against a key holding the wrong kind of value\r\n" in replies
    assert replies.count(b"+OK\r\n") == 67


# ---------------------------------------------------------------- run_get

values = st.one_of(st.binary(max_size=12), st.just(b"v" * 1023), st.just(b"w" * 1024),
                   st.just([b"a list"]))
# few names, so that stored keys, TTLs and requests meet
names = st.one_of(st.sampled_from([b"a", b"b", b"c", b"d", b"e", b"f"]),
                  st.binary(min_size=1, max_size=3))


@settings(max_examples=300, deadline=None)
@given(store=st.dictionaries(names, values, max_size=30),
       ttls=st.dictionaries(names,     # due at now: <= 1000
                            st.sampled_from([0, 999, 1000, 1001, 5000, -(1 << 70), 1 << 70]),
                            max_size=10),
       reqs=st.lists(st.one_of(
           st.tuples(st.just("get"), names),
           st.tuples(st.just("get3"), names),  # wrong arity
           st.tuples(st.just("sink"), names),
           st.tuples(st.just("set"), names)), max_size=80),
       start=st.integers(0, 5), resp2=st.booleans(), now=st.just(1000))
@example(store={b"a": b"1", b"b": b"2"}, ttls={b"a": 1000, b"b": 1001},
         reqs=[("get", b"b"), ("get", b"a")], start=0, resp2=True, now=1000)
def test_c_run_get_does_what_the_python_loop_does(store, ttls, reqs, start, resp2, now):
    items = []
    for kind, key in reqs:
        if kind == "get":
            items.append((cmd_get, [b"GET", key], None, 0))
        elif kind == "get3":
            items.append((cmd_get, [b"GET", key, key], None, 0))
        elif kind == "sink":
            items.append((cmd_get, [b"GET", key], object(), 0))
        else:
            items.append((cmd_set, [b"SET", key, b"x"], None, 0))
    results = []
    for c_get in (True, False):
        saved = shard_mod.C_RUN_GET
        shard_mod.C_RUN_GET = saved if c_get else None
        try:
            shard = ShardActor(0, 1, _Bridge())
            shard.now_ms = now
            shard.clock = 77
            db = shard.dbs[0]
            for k, v in store.items():
                db.data[k] = v
            for k, t in ttls.items():
                if k in db.data:
                    db.expires[k] = t
            replies = [b"before"]
            j = server.commands.strings.run_get(db, items, start, replies, 2 if resp2 else 3)
            results.append((j, replies, db.hits, db.misses, sorted(db.atime.items()),
                            sorted(db.data.items(), key=repr), sorted(db.expires.items())))
        finally:
            shard_mod.C_RUN_GET = saved
    assert results[0] == results[1]


def test_c_run_get_leaves_a_key_that_is_not_bytes_to_the_per_command_path():
    # the parser only makes bytes; anything else stops the C loop, which the
    # Python loop (and cmd_get) would have answered as a miss
    from actors._runs import run_get
    items = [(cmd_get, [b"GET", b"a"], None, 0), (cmd_get, [b"GET", "a"], None, 0)]
    replies = []
    assert run_get({b"a": b"1"}, {}, {}, items, 0, replies, True, 0, 1, cmd_get) == (1, 1)
    assert replies == [b"$1\r\n1\r\n"]


def test_c_run_get_rejects_wrong_arguments_and_propagates_errors():
    from actors._runs import run_get
    with pytest.raises(TypeError):
        run_get({}, {}, {}, [], 0, [], True, 0, 1)
    with pytest.raises(TypeError):
        run_get([], {}, {}, [], 0, [], True, 0, 1, cmd_get)
    with pytest.raises(TypeError):
        run_get({}, {}, {}, (), 0, [], True, 0, 1, cmd_get)

    class Boom:
        def __bool__(self):
            raise ValueError("boom")
    with pytest.raises(ValueError):
        run_get({}, {}, {}, [], 0, [], Boom(), 0, 1, cmd_get)
    # a TTL that is not an int: the error comes out, the replies so far stay
    replies = []
    items = [(cmd_get, [b"GET", b"a"], None, 0), (cmd_get, [b"GET", b"b"], None, 0)]
    with pytest.raises(TypeError):
        run_get({b"a": b"1", b"b": b"2"}, {b"b": "soon"}, {}, items, 0, replies, True, 0, 1,
                cmd_get)
    assert replies == [b"$1\r\n1\r\n"]


# ---------------------------------------------------------------- memory safety

_ASAN_DRIVER = r'''
import random, sys
from actors import _runs

rnd = random.Random(int(sys.argv[1]))
HANDLER = object()
def key():
    return rnd.choice([b"k%d" % rnd.randrange(100000), b"", "str", 7, b"x" * rnd.randrange(40)])
for rep in range(int(sys.argv[2])):
    dicts = []
    for _ in range(rnd.randint(0, 3)):
        d = {}
        for _ in range(rnd.choice([0, 3, 100, 2000, 70000])):
            d[key()] = rnd.choice([b"v", b"w" * 2000, [1], rnd.randrange(-5, 5000)])
        for k in list(d)[:rnd.randrange(50)]:
            del d[k]
        dicts.append(d)
    items = []
    for _ in range(rnd.randint(0, 300)):
        shape = rnd.randrange(6)
        if shape == 0:
            items.append((HANDLER, [b"GET", key()], None, 0))
        elif shape == 1:
            items.append((HANDLER, [b"GET"], None, 0))
        elif shape == 2:
            items.append((HANDLER, (b"GET", key()), None, 0))
        elif shape == 3:
            items.append((None,))
        elif shape == 4:
            items.append(b"junk")
        else:
            items.append((object(), [b"SET", key(), b"v"], object(), 0))
    start, stop = rnd.randint(-5, 320), rnd.randint(-5, 400)
    _runs.warm(tuple(dicts), items, start, stop)
    data, expires, atime = (dicts + [{}, {}, {}])[:3]
    try:
        _runs.run_get(data, expires, atime, items, rnd.randint(0, 300), [], rnd.random() < 0.5,
                      rnd.randrange(-5, 5000), 1, HANDLER)
    except TypeError:       # a TTL that is not an int
        pass
print("ok")
'''


def test_runs_extension_is_clean_under_address_and_undefined_behaviour_sanitizers(tmp_path):
    """Build actors/_runs.c with ASan + UBSan and drive warm and run_get with
    random dicts (8-, 16- and 32-bit index tables, deleted entries, keys of
    every type) and items of every shape: any out-of-bounds read of a table,
    use after free or undefined behaviour aborts the child process."""
    import subprocess

    from conftest import build_sanitized

    env = build_sanitized("actors/_runs.c", "actors._runs", tmp_path)
    for seed in (1, 2):
        out = subprocess.run([sys.executable, "-c", _ASAN_DRIVER, str(seed), "60"],
                             cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
        assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr[-3000:]
        assert "runtime error" not in out.stderr, out.stderr[-3000:]
