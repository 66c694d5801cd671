"""actors._runs (actors/_runs.c), the C side of the shard runners.

``warm``, the cache prefetching of a run's keys in dicts and KeyTables, must
change nothing (no write, no LRU stamp, no reference taken or dropped, no
exception for odd input), and the runners must answer the same with it and
without it.  ``run_get``, the GET runner's loop in C over a KeyTable, must
do exactly what the Python loop it replaces does (server/commands/
strings.py, run_get), item for item, LRU stamps included.  The table itself
is tests/test_keytable.py's."""

from __future__ import annotations

import subprocess
import sys
from types import SimpleNamespace

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

import server.commands  # noqa: F401 - registers the handlers and runners
import server.commands.strings
import actors.shard as shard_mod
from actors._runs import ACTIVE, WARM_MIN_KEYS, KeyTable, run_get as c_run_get, warm
from actors._runs import run_set as c_run_set
from actors.keytable import PyKeyTable
from actors.messages import Batch
from actors.shard import ShardActor
from server.commands.strings import cmd_get, cmd_set


def test_warm_reads_cpython_311_dicts_here_and_key_tables_anywhere():
    # the supported interpreter (pyproject: 3.11) has the dict layout warm
    # reads; on another version it skips dicts, but a KeyTable's slots are
    # its own, so the runners call it whenever the extension is built
    assert ACTIVE == (1 if sys.version_info[:2] == (3, 11) else 0)
    assert shard_mod.C_RUN_GET is c_run_get and shard_mod.C_RUN_SET is c_run_set


def _table_state(t):
    """A KeyTable as text: items in slot order, each key's stamp, the clock
    and the slot count (__sizeof__)."""
    return repr([(k, v, t.lru(k)) for k, v in t.items()]) + repr((t.clock, t.__sizeof__()))


def _snapshot(dicts, items):
    """Everything warm could disturb: contents, stamps, and every object's
    refcount."""
    objs = [o for d in dicts if isinstance(d, (dict, KeyTable)) for kv in d.items() for o in kv]
    objs += [o for it in items for o in (it if isinstance(it, (tuple, list)) else (it,))]
    objs += [a for it in items if isinstance(it, tuple) and len(it) > 1
             and isinstance(it[1], list) for a in it[1]]
    # counted: the test's own objects (fresh bytes of 2+ bytes, tuples,
    # lists); None, ints, str and 1-byte bytes may be shared with anything
    refs = [(id(o), sys.getrefcount(o)) for o in objs
            if isinstance(o, (tuple, list)) or (isinstance(o, bytes) and len(o) > 1)]
    # contents as text: a copy holding the objects would change their counts
    return [_table_state(d) if isinstance(d, (KeyTable, PyKeyTable))
            else repr(list(d.items())) if isinstance(d, dict) else repr(d) for d in dicts], refs


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
@given(data=st.lists(st.tuples(st.dictionaries(keys, st.binary(max_size=8), max_size=300),
                               st.sampled_from(["dict", "table", "pytable"])), max_size=4),
       dels=st.integers(0, 50), items=items_st, big=st.booleans(),
       start=st.integers(-5, 90), stop=st.integers(-5, 400), clock=st.integers(0, 2**32 - 1))
def test_warm_changes_nothing_whatever_it_is_given(data, dels, items, big, start, stop, clock):
    # fresh copies: objects of the test's own, which nothing else holds
    fresh = (lambda x: bytes(bytearray(x)) if isinstance(x, bytes) else x)
    tables = []
    for d, kind in data:
        # a KeyTable (of the bytes keys; stamps of its clock) or a dict;
        # the Python table is a dict subclass, which warm skips
        t = {} if kind == "dict" else KeyTable(clock) if kind == "table" else PyKeyTable(clock)
        for k, v in d.items():
            if kind == "dict" or isinstance(k, bytes):
                t[fresh(k)] = fresh(v)
        if big:     # warm skips tables under WARM_MIN_KEYS keys: pad some over it
            for i in range(WARM_MIN_KEYS):
                t[b"\x00pad%d" % i] = b"p"
        tables.append(t)
    data = tables
    items = [tuple(fresh(x) if not isinstance(x, list) else [fresh(a) for a in x] for x in it)
             if isinstance(it, tuple) else fresh(it) if isinstance(it, bytes)
             else [it[0], [fresh(a) for a in it[1]] if isinstance(it[1], list) else it[1]]
             for it in items]
    for d in data:      # deleted entries: a dict's dummies, a KeyTable's shifts and shrinks
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


# warm skips tables under WARM_MIN_KEYS keys; from there a dict's index
# table is of 16-bit entries, from 43,691 keys of 32-bit ones
@pytest.mark.parametrize("n", [3, WARM_MIN_KEYS, 10_000, 70_000])
def test_warm_on_tables_of_every_index_width(n):
    data = {b"k%d" % i: b"v%d" % i for i in range(n)}
    expires = dict.fromkeys(data, 7)
    table = KeyTable(3)
    for k, v in data.items():
        table[k] = v
    for i in range(0, n, 3):
        del expires[b"k%d" % i]
        del table[b"k%d" % i]
    items = [(cmd_get, [b"GET", b"k%d" % (i * 7919 % (2 * n))], None, 0) for i in range(300)]
    for tables in ((data, expires), (table, expires), (table,), (expires, table, data)):
        before = _snapshot(tables, items)
        for start in range(0, 300, 32):
            warm(tables, items, start, start + 32)
        warm(tables, items, 0, 10**9)       # clamped to the window size
        assert _snapshot(tables, items) == before


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


def _run(c_loops: bool):
    """One shard, a batch of GET and SET runs over 5,000 keys with misses,
    a TTL due, a wrong type and SET with options in the middle; with the C
    loops (which prefetch: the table is over WARM_MIN_KEYS) or the Python
    ones (which do not)."""
    saved = shard_mod.C_RUN_GET, shard_mod.C_RUN_SET
    shard_mod.C_RUN_GET = saved[0] if c_loops else None
    shard_mod.C_RUN_SET = saved[1] if c_loops else None
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
        shard_mod.C_RUN_GET, shard_mod.C_RUN_SET = saved


def test_runners_answer_the_same_with_and_without_prefetching_and_the_c_loop():
    with_warm = _run(True)
    assert _run(False) == with_warm
    replies = with_warm[0]
    assert b"-WRONGTYPE Operation against a key holding the wrong kind of value\r\n" in replies
    assert replies.count(b"+OK\r\n") == 67


# ---------------------------------------------------------------- run_get

# every length of the C loop's bulk header (1 to 4 digits) and the first
# one it leaves to the per-command path
values = st.one_of(st.binary(max_size=12), st.just(b"v" * 1023), st.just(b"w" * 1024),
                   st.integers(0, 1023).map(lambda n: b"u" * n), st.just([b"a list"]))
# few names, so that stored keys, TTLs and requests meet
names = st.one_of(st.sampled_from([b"a", b"b", b"c", b"d", b"e", b"f"]),
                  st.binary(min_size=1, max_size=3))


class _KeyspaceLike:
    """What strings.run_get uses of a Keyspace: its table, TTLs, hit
    counters and the shard's time."""

    def __init__(self, data, now_ms: int):
        self.data = data
        self.expires: dict = {}
        self.hits = self.misses = 0
        self.shard = SimpleNamespace(now_ms=now_ms)


# (C loop?, table): the C loop reads a C table's slots; the Python loop
# takes either table
LOOPS = [(True, KeyTable), (False, KeyTable), (False, PyKeyTable)]


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
    # each key's stamp before the run: its own, so that a restamp shows
    before = {k: n for n, k in enumerate(store)}
    results, stamps = [], []
    for c_loop, T in LOOPS:
        saved = shard_mod.C_RUN_GET
        shard_mod.C_RUN_GET = c_run_get if c_loop else None
        try:
            table = T(5)
            for k, v in store.items():
                table[k] = v
                table.set_lru(k, before[k])
            table.clock = 77
            db = _KeyspaceLike(table, now)
            for k, t in ttls.items():
                if k in table:
                    db.expires[k] = t
            replies = [b"before"]
            j = server.commands.strings.run_get(db, items, start, replies, 2 if resp2 else 3)
            results.append((j, replies, db.hits, db.misses, sorted(table.items(), key=repr),
                            sorted(db.expires.items())))
            stamps.append({k: table.lru(k) for k in store})
        finally:
            shard_mod.C_RUN_GET = saved
    assert results[0] == results[1] == results[2]
    j, hits = results[0][0], results[0][2]
    answered = [it[1][1] for it in items[start:j]]
    assert hits == sum(k in store for k in answered)
    # a hit stamps the key with the table's clock; nothing else is stamped
    want = {k: 77 if k in answered else before[k] for k in store}
    assert stamps[0] == want
    # the Python loop stamps (touch) before it looks at the value, so the
    # key it stops at is stamped too; the per-command path that answers it
    # then stamps it anyway, or expires it
    if j < len(items) and items[j][0] is cmd_get and items[j][2] is None \
            and items[j][1][1] in store:
        want[items[j][1][1]] = 77
    assert stamps[1] == stamps[2] == want


def test_c_run_get_leaves_a_key_that_is_not_bytes_to_the_per_command_path():
    # the parser only makes bytes; anything else stops the C loop, which the
    # Python loop (and cmd_get) would have answered as a miss
    items = [(cmd_get, [b"GET", b"a"], None, 0), (cmd_get, [b"GET", "a"], None, 0)]
    t = KeyTable(3)
    t[b"a"] = b"1"
    t.clock = 9
    replies = []
    assert c_run_get(t, {}, items, 0, replies, True, 0, cmd_get) == (1, 1)
    assert replies == [b"$1\r\n1\r\n"] and t.lru(b"a") == 9


def test_c_run_get_rejects_wrong_arguments_and_propagates_errors():
    t = KeyTable()
    with pytest.raises(TypeError):
        c_run_get(t, {}, [], 0, [], True, 0)
    with pytest.raises(TypeError):
        c_run_get(t, {}, [], 0, [], True, 0, 1, cmd_get)      # the old signature's clock
    # the C loop reads the C table's slots: a dict or the Python table is refused
    for data in ({}, PyKeyTable(), []):
        with pytest.raises(TypeError):
            c_run_get(data, {}, [], 0, [], True, 0, cmd_get)
    with pytest.raises(TypeError):
        c_run_get(t, [], [], 0, [], True, 0, cmd_get)
    with pytest.raises(TypeError):
        c_run_get(t, {}, (), 0, [], True, 0, cmd_get)
    with pytest.raises(TypeError):
        c_run_get(t, {}, [], 0, (), True, 0, cmd_get)

    class Boom:
        def __bool__(self):
            raise ValueError("boom")
    with pytest.raises(ValueError):
        c_run_get(t, {}, [], 0, [], Boom(), 0, cmd_get)
    # a TTL that is not an int (the server stores only ints): the loop stops
    # there, unstamped, and leaves the key to the per-command path
    t[b"a"], t[b"b"] = b"1", b"2"
    t.clock = 9
    replies = []
    items = [(cmd_get, [b"GET", b"a"], None, 0), (cmd_get, [b"GET", b"b"], None, 0)]
    assert c_run_get(t, {b"b": "soon"}, items, 0, replies, True, 0, cmd_get) == (1, 1)
    assert replies == [b"$1\r\n1\r\n"]
    assert t.lru(b"a") == 9 and t.lru(b"b") == 0


# ---------------------------------------------------------------- run_set

SET_LOOPS = [(True, KeyTable), (False, KeyTable), (False, PyKeyTable)]


@settings(max_examples=300, deadline=None)
@given(store=st.dictionaries(names, values, max_size=30),
       ttls=st.dictionaries(names, st.integers(0, 5000), max_size=10),
       reqs=st.lists(st.one_of(
           st.tuples(st.just("set"), names, values),
           st.tuples(st.just("setnx"), names, values),     # SET with an option
           st.tuples(st.just("sink"), names, values),
           st.tuples(st.just("get"), names, values)), max_size=80),
       big=st.booleans(), start=st.integers(0, 5))
def test_c_run_set_does_what_the_python_loop_does(store, ttls, reqs, big, start):
    items = []
    for kind, key, v in reqs:
        if kind == "set":
            items.append((cmd_set, [b"SET", key, v], None, 0))
        elif kind == "setnx":
            items.append((cmd_set, [b"SET", key, v, b"NX"], None, 0))
        elif kind == "sink":
            items.append((cmd_set, [b"SET", key, v], object(), 0))
        else:
            items.append((cmd_get, [b"GET", key], None, 0))
    # a table past WARM_MIN_KEYS: the C loop's prefetching runs too
    pad = {b"\x00pad%d" % n: b"p" for n in range(WARM_MIN_KEYS if big else 0)}
    before = {k: n for n, k in enumerate(store)}
    results = []
    for c_loop, T in SET_LOOPS:
        saved = shard_mod.C_RUN_SET
        shard_mod.C_RUN_SET = c_run_set if c_loop else None
        try:
            table = T(5)
            for k, v in {**pad, **store}.items():
                table[k] = v
                table.set_lru(k, before.get(k, 1))
            table.clock = 77
            db = _KeyspaceLike(table, 1000)
            db.watchers = None
            db.shard.waiters = None
            for k, t in ttls.items():
                if k in table:
                    db.expires[k] = t
            replies = [b"before"]
            j = server.commands.strings.run_set(db, items, start, replies, 2)
            results.append((j, replies, {k: (table[k], table.lru(k)) for k in table if k not in pad},
                            sorted(db.expires.items()), len(table)))
        finally:
            shard_mod.C_RUN_SET = saved
    assert results[0] == results[1] == results[2]
    j, replies, contents = results[0][:3]
    stored = {it[1][1]: it[1][2] for it in items[start:j]}
    assert replies == [b"before"] + [b"+OK\r\n"] * (j - start)
    # each stored key holds its last value, stamped with the clock, no TTL
    for k, v in stored.items():
        assert contents[k] == (v, 77) and k not in dict(results[0][3])
    # and the run stopped at the first item that is not a plain SET
    if j < len(items):
        it = items[j]
        assert it[0] is not cmd_set or it[2] is not None or len(it[1]) != 3


def test_c_run_set_stops_at_a_key_that_is_not_bytes_and_rejects_wrong_arguments():
    t = KeyTable(3)
    items = [(cmd_set, [b"SET", b"a", b"1"], None, 0), (cmd_set, [b"SET", "a", b"2"], None, 0)]
    replies = []
    assert c_run_set(t, {}, items, 0, replies, cmd_set, b"+OK\r\n") == 1
    assert replies == [b"+OK\r\n"] and dict(t.items()) == {b"a": b"1"}
    with pytest.raises(TypeError):
        c_run_set(t, {}, [], 0, [], cmd_set)
    for data in ({}, PyKeyTable(), []):
        with pytest.raises(TypeError):
            c_run_set(data, {}, [], 0, [], cmd_set, b"+OK\r\n")
    with pytest.raises(TypeError):
        c_run_set(t, [], [], 0, [], cmd_set, b"+OK\r\n")
    with pytest.raises(TypeError):
        c_run_set(t, {}, (), 0, [], cmd_set, b"+OK\r\n")
    with pytest.raises(TypeError):
        c_run_set(t, {}, [], 0, (), cmd_set, b"+OK\r\n")


def test_c_run_set_survives_a_destructor_that_empties_the_run():
    # the old value's destructor runs inside the store; here it clears the
    # items and the table under the loop, which must neither crash nor read
    # freed items (it stops at the new end)
    items = []
    t = KeyTable(1)

    class Old:
        def __del__(self):
            items.clear()
            t.clear()
    t[b"a"] = Old()
    items += [(cmd_set, [b"SET", b"a", b"1"], None, 0), (cmd_set, [b"SET", b"b", b"2"], None, 0)]
    replies = []
    assert c_run_set(t, {b"a": 5}, items, 0, replies, cmd_set, b"+OK\r\n") == 1
    assert replies == [b"+OK\r\n"] and len(t) == 0


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
        # (warm skips tables under 4096 keys: WARM_MIN_KEYS)
        for _ in range(rnd.choice([0, 3, 100, 2000, 5000, 70000])):
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
        else:       # a SET, for run_set (with the GET handler: run_get reads it too)
            items.append((rnd.choice([HANDLER, object()]), [b"SET", key(), b"v"],
                          rnd.choice([None, object()]), 0))
    start, stop = rnd.randint(-5, 320), rnd.randint(-5, 400)
    # the table: the first dict's bytes keys, some deleted (shifted back,
    # the table shrunk)
    data, expires = (dicts + [{}, {}])[:2]
    table = _runs.KeyTable(rnd.randrange(2**32))
    for k, v in data.items():
        if isinstance(k, bytes):
            table[k] = v
    for k in list(table)[:rnd.randrange(50)]:
        del table[k]
    tables = dicts + [table, _runs.KeyTable()]
    rnd.shuffle(tables)
    _runs.warm(tuple(tables), items, start, stop)
    try:
        _runs.run_get(table, expires, items, rnd.randint(0, 300), [], rnd.random() < 0.5,
                      rnd.randrange(-5, 5000), HANDLER)
    except TypeError:       # a TTL that is not an int
        pass
    _runs.run_set(table, expires, items, rnd.randint(0, 300), [], HANDLER, b"+OK\r\n")
    # the flat runners (a flat run: [name, args...]), keys of every type and
    # runs cut anywhere (a SET run missing its last value)
    flat = [b"GET"] + [key() for _ in range(rnd.randint(0, 300))]
    try:
        _runs.run_get_flat(table, expires, flat, 1, [], rnd.random() < 0.5,
                           rnd.randrange(-5, 5000))
    except TypeError:       # a TTL that is not an int
        pass
    flat = [b"SET"] + [rnd.choice([key(), b"v"]) for _ in range(rnd.randint(0, 301))]
    _runs.run_set_flat(table, expires, flat, 2, [], b"+OK\r\n")
print("ok")
'''


@pytest.fixture(scope="module")
def sanitized(tmp_path_factory):
    """actors._runs built with ASan + UBSan: (directory, environment)."""
    from conftest import build_sanitized

    d = tmp_path_factory.mktemp("asan")
    return d, build_sanitized("actors/_runs.c", "actors._runs", d)


def test_runs_extension_is_clean_under_address_and_undefined_behaviour_sanitizers(sanitized):
    """Build actors/_runs.c with ASan + UBSan and drive warm, run_get and run_set (and
    their flat-run forms) with
    random dicts (8-, 16- and 32-bit index tables, small ones that warm
    skips and larger ones that it reads, deleted entries, keys of
    every type), KeyTables (grown and shrunk) and items of every shape: any
    out-of-bounds read of a table, use after free or undefined behaviour
    aborts the child process."""
    d, env = sanitized
    for seed in (1, 2):
        out = subprocess.run([sys.executable, "-c", _ASAN_DRIVER, str(seed), "60"],
                             cwd=d, env=env, capture_output=True, text=True, timeout=300)
        assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr[-3000:]
        assert "runtime error" not in out.stderr, out.stderr[-3000:]


_TTL_INDEX = r'''
from actors import _runs
t = _runs.KeyTable()
for i in range(100):
    t[b"k%d" % i] = b"v%d" % i

class Deadline:                 # a TTL that is not an int: converted by __index__
    def __index__(self):
        t.clear()               # frees the slot run_get is about to stamp
        return 10**15

print(_runs.run_get(t, {b"k1": Deadline()}, [(None, [b"GET", b"k1"], None, 0)], 0, [], True,
                    0, None))
'''


# run_get reads a TTL only if it is an exact int: converting another type
# would call its __index__ while the loop holds the key's slot and value
def test_c_run_get_survives_a_ttl_whose_conversion_changes_the_table(sanitized):
    # the server only stores ints as TTLs; this is about memory safety
    d, env = sanitized
    out = subprocess.run([sys.executable, "-c", _TTL_INDEX], cwd=d, env=env,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-3000:]


# ---------------------------------------------------------------- flat runs

from actors._runs import run_get_flat as c_run_get_flat, run_set_flat as c_run_set_flat


def _flat(name, reqs):
    """A flat run (actors/messages.py, Batch) of `reqs` (argument tuples)."""
    return [name] + [a for r in reqs for a in r]


# (flat run?, C loops?, table): each flat way against the C item runner
FLAT_WAYS = [(True, True, KeyTable), (True, False, KeyTable), (True, False, PyKeyTable),
             (False, True, KeyTable)]


def _db_with(T, contents, stamps, ttls):
    """A keyspace-like db on a table T holding `contents` (each key stamped
    from `stamps`, default 1; the clock at 77) and the `ttls` of its keys."""
    table = T(5)
    for k, v in contents.items():
        table[k] = v
        table.set_lru(k, stamps.get(k, 1))
    table.clock = 77
    db = _KeyspaceLike(table, 1000)
    for k, t in ttls.items():
        if k in table:
            db.expires[k] = t
    return db


@settings(max_examples=300, deadline=None)
@given(store=st.dictionaries(names, values, max_size=30),
       ttls=st.dictionaries(names, st.sampled_from([0, 999, 1000, 1001, 5000, -(1 << 70), 1 << 70]),
                            max_size=10),
       keys=st.lists(names, min_size=1, max_size=80), resp2=st.booleans(), big=st.booleans())
def test_flat_get_runner_does_what_the_item_runner_does(store, ttls, keys, resp2, big):
    """run_get_flat over a run, in C and in Python, answers what run_get
    answers over the run's ordinary items: requests, replies, hits, misses,
    stamps and the table, prefetching or not."""
    pad = {b"\x00pad%d" % n: b"p" for n in range(WARM_MIN_KEYS if big else 0)}
    flat = _flat(b"GET", [(k,) for k in keys])
    items = [(cmd_get, [b"GET", k], None, 0) for k in keys]
    before = {k: n for n, k in enumerate(store)}
    results = []
    for is_flat, c_loop, T in FLAT_WAYS:
        saved = shard_mod.C_RUN_GET, shard_mod.C_RUN_GET_FLAT
        shard_mod.C_RUN_GET = c_run_get if c_loop else None
        shard_mod.C_RUN_GET_FLAT = c_run_get_flat if c_loop else None
        try:
            db = _db_with(T, {**pad, **store}, before, ttls)
            table = db.data
            replies = [b"before"]
            proto = 2 if resp2 else 3
            if is_flat:
                j = server.commands.strings.run_get_flat(db, list(flat), 1, replies, proto)
            else:
                j = server.commands.strings.run_get(db, items, 0, replies, proto)
            results.append((j, replies, db.hits, db.misses,
                            {k: (table[k], table.lru(k)) for k in store if k in table}))
        finally:
            shard_mod.C_RUN_GET, shard_mod.C_RUN_GET_FLAT = saved
    # the Python loop stamps the key it stops at (see the item test above):
    # compare stamps between the C loops only, the rest among all
    c_flat, py_flat, py_flat_t, c_items = results
    assert c_flat == c_items
    assert [r[:4] for r in results] == [c_flat[:4]] * 4
    j = c_flat[0]
    assert 0 <= j <= len(keys)


@settings(max_examples=300, deadline=None)
@given(store=st.dictionaries(names, values, max_size=30),
       ttls=st.dictionaries(names, st.integers(0, 5000), max_size=10),
       reqs=st.lists(st.tuples(names, values), min_size=1, max_size=80), big=st.booleans(),
       blocked=st.booleans())
def test_flat_set_runner_does_what_the_item_runner_does(store, ttls, reqs, big, blocked):
    """run_set_flat, in C and in Python, stores and answers what run_set
    does over the run's ordinary items; with a client blocked on a key (or
    a WATCH) both leave the whole run to the per-command path."""
    pad = {b"\x00pad%d" % n: b"p" for n in range(WARM_MIN_KEYS if big else 0)}
    flat = _flat(b"SET", reqs)
    items = [(cmd_set, [b"SET", k, v], None, 0) for k, v in reqs]
    results = []
    for is_flat, c_loop, T in FLAT_WAYS:
        saved = shard_mod.C_RUN_SET, shard_mod.C_RUN_SET_FLAT
        shard_mod.C_RUN_SET = c_run_set if c_loop else None
        shard_mod.C_RUN_SET_FLAT = c_run_set_flat if c_loop else None
        try:
            db = _db_with(T, {**pad, **store}, {}, ttls)
            table = db.data
            db.watchers = None
            db.shard.waiters = {b"somekey": 1} if blocked else None
            replies = [b"before"]
            if is_flat:
                j = server.commands.strings.run_set_flat(db, list(flat), 2, replies, 2)
            else:
                j = server.commands.strings.run_set(db, items, 0, replies, 2)
            results.append((j, replies, {k: (table[k], table.lru(k)) for k in table if k not in pad},
                            sorted(db.expires.items())))
        finally:
            shard_mod.C_RUN_SET, shard_mod.C_RUN_SET_FLAT = saved
    assert results == [results[0]] * 4
    j, replies, contents, expires = results[0]
    assert j == (0 if blocked else len(reqs))
    assert replies == [b"before"] + [b"+OK\r\n"] * j
    for k, v in dict(reqs[:j]).items():
        assert contents[k] == (v, 77) and k not in dict(expires)


def test_flat_runners_stop_at_a_key_that_is_not_bytes_and_reject_wrong_arguments():
    t = KeyTable(3)
    t[b"a"] = b"1"
    replies = []
    assert c_run_get_flat(t, {}, [b"GET", b"a", "a", b"a"], 1, replies, True, 0) == (1, 1)
    assert c_run_set_flat(t, {}, [b"SET", b"b", b"2", "c", b"3"], 2, replies, b"+OK\r\n") == 1
    assert replies == [b"$1\r\n1\r\n", b"+OK\r\n"] and t[b"b"] == b"2"
    # an odd-length SET run: the last key without a value is not a request
    assert c_run_set_flat(t, {}, [b"SET", b"c", b"3", b"d"], 2, [], b"+OK\r\n") == 1
    assert b"d" not in t
    for bad in ([t, {}, [b"GET", b"a"], 2, [], True, 0],        # width
                [t, {}, [], 1, [], True, 0],                     # no name
                [{}, {}, [b"GET", b"a"], 1, [], True, 0],        # not a KeyTable
                [t, [], [b"GET", b"a"], 1, [], True, 0],
                [t, {}, (b"GET", b"a"), 1, [], True, 0],
                [t, {}, [b"GET", b"a"], 1, (), True, 0],
                [t, {}, [b"GET", b"a"], 1, []]):                  # count
        with pytest.raises(TypeError):
            c_run_get_flat(*bad)
    with pytest.raises(TypeError):
        c_run_set_flat(t, {}, [b"SET", b"a", b"1"], 1, [], b"+OK\r\n")
    with pytest.raises(TypeError):
        c_run_set_flat(t, {}, [b"SET", b"a", b"1"], 2, [])
