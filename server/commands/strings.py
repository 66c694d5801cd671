"""String commands (Redis's t_string.c).  Values are ``bytes``."""

from __future__ import annotations

from server.protocol import OK, CommandError
from server.table import command

from .util import SYNTAX, parse_int

MAX_STRING = 512 * 1024 * 1024


def _expire_arg(b: bytes, name: str, unit_ms: int, absolute: bool, now_ms: int) -> int:
    v = parse_int(b)
    if v <= 0:
        raise CommandError(f"ERR invalid expire time in '{name}' command")
    ms = v * unit_ms
    if not absolute:
        ms += now_ms
    if ms > (1 << 63) - 1:
        raise CommandError(f"ERR invalid expire time in '{name}' command")
    return ms


def set_generic(db, key: bytes, value: bytes, opts: list[bytes], name: str = "set"):
    """SET with its option family; shared by SET, SETEX, PSETEX, SETNX."""
    nx = xx = get = keepttl = False
    deadline = None
    expire_opt = None
    i = 0
    n = len(opts)
    while i < n:
        o = opts[i].upper()
        if o == b"NX" and not xx:
            nx = True
        elif o == b"XX" and not nx:
            xx = True
        elif o == b"GET":
            get = True
        elif o == b"KEEPTTL" and expire_opt is None:
            keepttl = True
            expire_opt = o
        elif o in (b"EX", b"PX", b"EXAT", b"PXAT") and expire_opt is None and i + 1 < n:
            expire_opt = o
            i += 1
            unit = 1000 if o in (b"EX", b"EXAT") else 1
            deadline = _expire_arg(opts[i], name, unit, o in (b"EXAT", b"PXAT"), db.now_ms)
        else:
            raise CommandError(SYNTAX)
        i += 1
    old = db.get(key)
    if get and old is not None and type(old) is not bytes:
        raise CommandError("WRONGTYPE Operation against a key holding the wrong kind of value")
    if (nx and old is not None) or (xx and old is None):
        return old if get else None
    db.set(key, value, keep_ttl=keepttl)
    if deadline is not None:
        if deadline <= db.now_ms:
            db.delete(key)
        else:
            db.set_expire(key, deadline)
    return old if get else OK


@command("get", 2, flags=("readonly", "fast"), keys=(1, 1, 1), group="string",
         summary="Returns the string value of a key.", syntax="key")
def cmd_get(db, argv):
    return db.get_str(argv[1])


@command("set", -3, flags=("write", "denyoom"), keys=(1, 1, 1), group="string",
         summary="Sets the string value of a key, ignoring its type. The key is created if it doesn't exist.",
         syntax="key value [NX | XX] [GET] [EX seconds | PX milliseconds | "
                "EXAT unix-time-seconds | PXAT unix-time-milliseconds | KEEPTTL]")
def cmd_set(db, argv):
    if len(argv) == 3:
        db.set(argv[1], argv[2])
        return OK
    return set_generic(db, argv[1], argv[2], argv[3:])


@command("mget", -2, flags=("readonly", "fast"), keys=(1, -1, 1), group="string",
         summary="Atomically returns the string values of one or more keys.", syntax="key ...",
         complexity="O(N) where N is the number of keys to retrieve.", fanout="concat")
def cmd_mget(db, argv):
    out = []
    for k in argv[1:]:
        v = db.get(k)
        out.append(v if type(v) is bytes else None)
    return out


@command("mset", -3, flags=("write", "denyoom"), keys=(1, -1, 2), group="string",
         summary="Atomically creates or modifies the string values of one or more keys.",
         syntax="key value [key value ...]", complexity="O(N) where N is the number of keys to set.",
         fanout="pairs")
def cmd_mset(db, argv):
    if len(argv) % 2 == 0:
        raise CommandError("ERR wrong number of arguments for 'mset' command")
    for i in range(1, len(argv), 2):
        db.set(argv[i], argv[i + 1])
    return OK
