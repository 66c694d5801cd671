"""A keyspace's table: key -> value, with each key's LRU clock kept beside it.

Redis keeps a key's access time (the LRU clock read by OBJECT IDLETIME and
the allkeys-lru/volatile-lru eviction) inside the value's ``robj``, so a read
that touches it writes memory the lookup has just read.  A second dict keyed
the same way costs a second table's cache misses on every read, and with
100,000 random keys that was the largest single cost left on the GET path
(docs/performance.md, "The access time beside the value").

``KeyTable`` is a mapping of bytes keys to values (the dict operations the
keyspace and the command handlers use: ``len``, ``in``, ``[]``, ``get``,
``pop``, ``del``, iteration, ``keys``/``values``/``items``, ``copy`` to a
plain dict, ``clear``) plus the clock:

- ``clock``: the table's current LRU clock (seconds); the owning shard sets
  it when its clock moves.
- every store (``t[k] = v``) stamps the key with ``clock``, as Redis's
  object creation and write lookups do;
- ``touch(key)``: the value (None if missing) and, when present, stamps the
  key (a read: ``lookupKey``);
- ``lru(key)``: the key's stamp, None if missing; ``set_lru(key, clock)``
  restamps a present key (RESTORE IDLETIME, loading a snapshot) and says
  whether it was there; ``stamps()``: a dict of every key's stamp (saving a
  snapshot under an LRU policy).

Keys are ``bytes``: storing any other key raises TypeError, and in the C
table a lookup of one finds nothing (the Python table, a dict, hashes it: an
unhashable key raises TypeError, a memoryview finds the bytes it views).  The
clock is an int in [0, 2**32) (the C table raises OverflowError outside).
Iteration raises RuntimeError if keys are added or removed meanwhile (the C
table: even an add and a remove that leave the size as it was); replacing a
value is allowed.  ``keys``/``values``/``items`` return lists.

The implementation is C (actors/_keytable.h, built into ``actors._runs``):
open addressing with the hash, key, value and clock of a key in one 32-byte
slot, so a lookup reads one cache line and the shard's C GET loop stamps the
clock in it.  The Python class below is the fallback when the extension is
not built and the specification tests/test_keytable.py holds the C table to.
The environment variable ``SHARDIS_PURE_TABLE=1`` picks it even when the
extension is built (tests/test_keytable_server.py runs a server on each).
"""

from __future__ import annotations

import os

__all__ = ["KeyTable", "PyKeyTable", "C_KEYTABLE"]

_MISSING = object()


class PyKeyTable(dict):
    """The pure-Python KeyTable: a dict of values plus a dict of clocks."""

    __slots__ = ("clock", "_lru")

    def __init__(self, clock: int = 0):
        super().__init__()
        self.clock = clock
        self._lru: dict[bytes, int] = {}

    def __setitem__(self, key, value):
        if not isinstance(key, bytes):
            raise TypeError("KeyTable keys must be bytes")
        # stamp first: the replaced value's destructor may delete the key
        self._lru[key] = self.clock
        dict.__setitem__(self, key, value)

    # the stamps change before the values: a value's destructor may run code
    # that uses the table
    def __delitem__(self, key):
        self._lru.pop(key, None)
        dict.__delitem__(self, key)

    def touch(self, key):
        v = dict.get(self, key, _MISSING)
        if v is _MISSING:
            return None
        self._lru[key] = self.clock
        return v

    def lru(self, key):
        return self._lru.get(key)

    def set_lru(self, key, clock: int) -> bool:
        if key in self._lru:
            self._lru[key] = int(clock)
            return True
        return False

    def stamps(self) -> dict:
        return dict(self._lru)

    def pop(self, key, default=_MISSING):
        if key in self:
            del self._lru[key]
            return dict.pop(self, key)
        if default is _MISSING:
            raise KeyError(key)
        return default

    def clear(self):
        self._lru.clear()
        dict.clear(self)

    def copy(self) -> dict:
        return dict(self)

    def keys(self) -> list:
        return list(dict.keys(self))

    def values(self) -> list:
        return list(dict.values(self))

    def items(self) -> list:
        return list(dict.items(self))

    def __sizeof__(self) -> int:
        return dict.__sizeof__(self) + self._lru.__sizeof__()

    def __repr__(self) -> str:
        return f"<KeyTable of {len(self)} keys>"

    # what the dict base would offer but a KeyTable does not
    def _unsupported(self, *a, **kw):
        raise TypeError("not a KeyTable operation")

    setdefault = update = popitem = fromkeys = _unsupported
    __or__ = __ior__ = __ror__ = _unsupported


try:
    from actors._runs import KeyTable as C_KEYTABLE
except ImportError:          # no C compiler at install: the Python table
    C_KEYTABLE = None

KeyTable = (C_KEYTABLE if C_KEYTABLE is not None and os.environ.get("SHARDIS_PURE_TABLE") != "1"
            else PyKeyTable)
