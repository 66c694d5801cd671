"""Persistence commands (Redis's rdb.c and cluster.c): SAVE, BGSAVE, LASTSAVE,
DUMP, RESTORE.

SAVE and BGSAVE take a consistent snapshot of every shard (see
server/persistence/snapshot.py and docs/persistence.md); DUMP and RESTORE
serialise one value in Redis's payload format (RDB value + RDB version +
CRC64), so payloads move between Shardis and Redis in both directions.
"""

from __future__ import annotations

from server.persistence import rdb, snapshot
from server.protocol import OK, CommandError, Err, Status
from server.table import TABLE, Route, command

# LASTSAVE is declared with the other server commands; import them first so
# the declaration exists and its handler can report real saves (below).
from . import server as _server_commands  # noqa: F401
from .util import SYNTAX, parse_int

BUSYKEY = "BUSYKEY Target key name already exists."
BAD_PAYLOAD = "ERR DUMP payload version or checksum are wrong"
BAD_FORMAT = "ERR Bad data format"


# ------------------------------------------------------------------ SAVE / BGSAVE
@command("save", 1, flags=("admin", "noscript", "no_async_loading", "no_multi", "nomulti"),
         group="server", route=Route.CONN, since="1.0.0",
         summary="Synchronously saves the database(s) to disk.", syntax="",
         complexity="O(N) where N is the total number of keys in all databases",
         acl=("@admin", "@slow", "@dangerous"))
async def cmd_save(conn, argv):
    server = conn.server
    p = snapshot.state(server)
    if p.task is not None and p.is_bgsave:
        raise CommandError("ERR Background save already in progress")
    if not await snapshot.save_now(server):
        return Err(b"ERR")          # Redis replies a bare -ERR when rdbSave fails
    return OK


@command("bgsave", -1, flags=("admin", "noscript", "no_async_loading"), group="server",
         route=Route.CONN, since="1.0.0",
         summary="Asynchronously saves the database(s) to disk.", syntax="[SCHEDULE]",
         complexity="O(1)", acl=("@admin", "@slow", "@dangerous"))
def cmd_bgsave(conn, argv):
    # SCHEDULE only matters in Redis when another kind of child process (an
    # AOF rewrite) runs; Shardis has none, so it starts the save right away.
    if len(argv) > 2 or (len(argv) == 2 and argv[1].lower() != b"schedule"):
        raise CommandError(SYNTAX)
    if not snapshot.bgsave(conn.server):
        raise CommandError("ERR Background save already in progress")
    return Status(b"Background saving started")


@command("bgrewriteaof", 1, flags=("admin", "noscript", "no_async_loading"), group="server",
         route=Route.CONN, since="1.0.0",
         summary="Asynchronously rewrites the append-only file to disk.", syntax="",
         complexity="O(1)", acl=("@admin", "@slow", "@dangerous"))
async def cmd_bgrewriteaof(conn, argv):
    """With the AOF on: a rewrite (new base + incr, aof.py).  With it off,
    Redis rewrites a one-off AOF; Shardis turns the AOF on only through
    ``appendonly yes``, so it writes the same files and turns logging off
    again."""
    from server.persistence import aof
    server = conn.server
    if server.aof is None:
        await aof.enable(server)
        await aof.disable(server)
        return Status(b"Background append only file rewriting started")
    if not aof.rewrite(server):
        raise CommandError("ERR Background append only file rewriting already in progress")
    return Status(b"Background append only file rewriting started")


def cmd_lastsave(conn, argv):
    return snapshot.state(conn.server).lastsave


if b"lastsave" in TABLE:
    TABLE[b"lastsave"].handler = cmd_lastsave
else:
    command("lastsave", 1, flags=("loading", "stale", "fast"), group="server",
            route=Route.CONN, since="1.0.0",
            summary="Returns the Unix timestamp of the last successful save to disk.",
            syntax="", acl=("@admin", "@fast", "@dangerous"))(cmd_lastsave)


# ------------------------------------------------------------------ FLUSHALL
def _flushall_saves(merge):
    """FLUSHALL with save points configured also saves the (now empty)
    dataset, like Redis's flushAllDataAndResetRDB.  Redis saves before it
    replies; here the save starts as the reply goes out (the merge runs on
    the loop once every shard has flushed)."""
    def merged(results):
        v = merge(results)
        server = snapshot.RUNNING
        if (server is not None and type(v) is not Err and str(server.config.save).strip()):
            import contextvars
            task = server.loop.create_task(snapshot.save_now(server),
                                           context=contextvars.Context())
            task.add_done_callback(lambda t: t.cancelled() or t.exception())
        return v
    return merged


if b"flushall" in TABLE:
    TABLE[b"flushall"].merge = _flushall_saves(TABLE[b"flushall"].merge)


# ------------------------------------------------------------------ DUMP / RESTORE
@command("dump", 2, flags=("readonly",), keys=(1, 1, 1), group="generic", since="2.6.0",
         summary="Returns a serialized representation of the value stored at a key.",
         syntax="key", complexity="O(1) to access the key and additional O(N*M) to "
         "serialize it, where N is the number of Redis objects composing the value "
         "and M their average size.", acl=("@keyspace", "@read", "@slow"))
def cmd_dump(db, argv):
    v = db.get(argv[1])
    if v is None:
        return None
    return rdb.dump_payload(v)


@command("restore", -4, flags=("write", "denyoom"), keys=(1, 1, 1), group="generic",
         since="2.6.0",
         summary="Creates a key from the serialized representation of a value.",
         syntax="key ttl serialized-value [REPLACE] [ABSTTL] [IDLETIME seconds] "
                "[FREQ frequency]",
         complexity="O(1) to create the new key and additional O(N*M) to reconstruct "
         "the serialized value, where N is the number of Redis objects composing the "
         "value and M their average size.",
         acl=("@keyspace", "@write", "@slow", "@dangerous"))
def cmd_restore(db, argv):
    """restoreCommand (cluster.c), checks in Redis's order: options, then
    BUSYKEY, then the TTL, then the payload's footer, then its body."""
    replace = absttl = False
    idle = freq = -1
    n = len(argv)
    j = 4
    while j < n:
        o = argv[j].lower()
        more = n - j - 1
        if o == b"replace":
            replace = True
        elif o == b"absttl":
            absttl = True
        elif o == b"idletime" and more >= 1 and freq == -1:
            idle = parse_int(argv[j + 1])
            if idle < 0:
                raise CommandError("ERR Invalid IDLETIME value, must be >= 0")
            j += 1
        elif o == b"freq" and more >= 1 and idle == -1:
            freq = parse_int(argv[j + 1])
            if freq < 0 or freq > 255:
                raise CommandError("ERR Invalid FREQ value, must be >= 0 and <= 255")
            j += 1
        else:
            raise CommandError(SYNTAX)
        j += 1
    key = argv[1]
    if not replace and db.lookup(key) is not None:
        raise CommandError(BUSYKEY)
    ttl = parse_int(argv[2])
    if ttl < 0:
        raise CommandError("ERR Invalid TTL value, must be >= 0")
    try:
        v = rdb.restore_payload(argv[3])
    except rdb.PayloadVersionError:
        raise CommandError(BAD_PAYLOAD) from None
    except rdb.RDBError:
        raise CommandError(BAD_FORMAT) from None
    if replace:
        db.pop(key)   # replaced silently: no 'del' event
    now = db.now_ms
    if ttl and not absttl:
        ttl += now
    if ttl and ttl <= now:
        # already expired: Redis replies OK and stores nothing (the old
        # value, if REPLACE, is gone)
        return OK
    db.set(key, v)
    if ttl:
        db.set_expire(key, ttl)
    if idle >= 0:
        # Shardis keeps an access clock per key (OBJECT IDLETIME) but no LFU
        # counter, so FREQ is validated and otherwise ignored.
        db.data.set_lru(key, max(0, db.shard.clock - idle))
    return OK
