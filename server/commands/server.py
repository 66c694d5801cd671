"""Server commands: keyspace-wide operations, introspection, configuration."""

from __future__ import annotations

from server.protocol import OK, CommandError
from server.table import Route, command

from .util import SYNTAX


def _sum(parts):
    return sum(parts)


def _ok(parts):
    return OK


@command("dbsize", 1, flags=("readonly", "fast"), group="server", route=Route.ALL, merge=_sum,
         summary="Returns the number of keys in the database.", syntax="")
def cmd_dbsize(db, argv):
    return db.size()


def _flush_mode(argv):
    if len(argv) > 2:
        raise CommandError(SYNTAX)
    if len(argv) == 2 and argv[1].upper() not in (b"ASYNC", b"SYNC"):
        raise CommandError(SYNTAX)


@command("flushdb", -1, flags=("write",), group="server", route=Route.ALL, merge=_ok,
         summary="Remove all keys from the current database.", syntax="[ASYNC | SYNC]",
         complexity="O(N) where N is the number of keys in the selected database")
def cmd_flushdb(db, argv):
    _flush_mode(argv)
    db.clear()
    return OK


@command("flushall", -1, flags=("write",), group="server", route=Route.ALL, merge=_ok,
         summary="Removes all keys from all databases.", syntax="[ASYNC | SYNC]",
         complexity="O(N) where N is the total number of keys in all databases")
def cmd_flushall(db, argv):
    _flush_mode(argv)
    for d in db.shard.dbs:
        d.clear()
    return OK
