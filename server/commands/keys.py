"""Generic key commands (Redis's db.c and expire.c)."""

from __future__ import annotations

from server.table import command


@command("del", -2, flags=("write",), keys=(1, -1, 1), group="generic",
         summary="Deletes one or more keys.", syntax="key ...", fanout="sum",
         complexity="O(N) where N is the number of keys that will be removed.")
def cmd_del(db, argv):
    n = 0
    for k in argv[1:]:
        n += db.delete(k)
    return n


@command("exists", -2, flags=("readonly", "fast"), keys=(1, -1, 1), group="generic",
         summary="Determines whether one or more keys exist.", syntax="key ...", fanout="sum",
         since="1.0.0", complexity="O(N) where N is the number of keys to check.")
def cmd_exists(db, argv):
    n = 0
    for k in argv[1:]:
        n += db.lookup(k) is not None
    return n
