"""actors._prefetch.warm: the shard runners' cache prefetching of a run's keys
(actors/_prefetch.c).  It must change nothing (no write, no reference
taken or dropped, no exception for odd input), and a runner must answer
the same with it and without it."""

from __future__ import annotations

import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import server.commands  # noqa: F401 - registers the handlers and runners
import actors.shard as shard_mod
from actors._prefetch import ACTIVE, warm
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
    # (shared singletons, whose counts move with anything, are left out)
    refs = [(id(o), sys.getrefcount(o)) for o in objs
            if not (o is None or isinstance(o, int) or (isinstance(o, (bytes, str)) and len(o) < 2))]
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


def _run(prefetch: bool):
    """One shard, a batch of GET and SET runs over 5,000 keys with misses,
    a TTL due, a wrong type and SET with options in the middle."""
    saved = shard_mod.WARM
    shard_mod.WARM = saved if prefetch else None
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
        shard_mod.WARM = saved


def test_runners_answer_the_same_with_and_without_prefetching():
    with_warm = _run(True)
    without = _run(False)
    assert with_warm == without
    replies = with_warm[0]
    assert b"-WRONGTYPE Operation against a key holding the wrong kind of value\r\n" in replies
    assert replies.count(b"+OK\r\n") == 67
