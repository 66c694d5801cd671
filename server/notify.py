"""Keyspace notifications (Redis's notify.c) and the shard -> loop notice path.

Flags
    ``notify-keyspace-events`` holds Redis's letters: K (``__keyspace@<db>__:``
    channels), E (``__keyevent@<db>__:``), and the classes g $ l s h z x e t m
    d n; A is g$lshzxetd.  `parse_flags` / `flags_string` are Redis's
    keyspaceEventsStringToFlags / keyspaceEventsFlagsToString, so CONFIG GET
    shows the same normalised text (``KEA`` -> ``AKE``; n is hidden by A).

Where events come from (all on the shard thread that changed the key)
    * `Keyspace` write paths, for the events every command shares: ``new``
      (a key created), ``del`` (a key deleted by `Keyspace.delete`: DEL,
      UNLINK, GETDEL, a collection emptied, a store with an empty result),
      ``expired`` (lazy and active), ``keymiss`` (a read miss); ``evicted``
      comes from actors/memory.py.
    * `RULES` below, one per command, run by the shard right after the
      command returns (`after_command`): the command's own event(s), decided
      from its arguments, its reply and the keyspace after it, as the
      ``notifyKeyspaceEvent`` calls in Redis's t_*.c decide them.  Where
      only the handler knows (ZADD: whether a score changed; PERSIST and
      GETEX PERSIST: whether there was a TTL) it calls ``db.notify``.

Ordering invariant: on one shard, events are queued in the order Redis
emits them within a command - ``new`` and ``expired`` as they happen, then
the command's events, then the ``del`` of keys it deleted (`Keyspace.delete`
defers them to ``shard.notice_tail``) - and commands' events in execution
order.  The shard hands its queue to the loop (`Notice`, through the
bridge) before the reply of the batch that produced them, so a subscriber
that is also the writer sees the event before the reply, as with Redis, and
events of one shard reach subscribers in the order they happened.

Cost when off: ``shard.notify_flags`` is 0; each hook is one attribute test.
"""

from __future__ import annotations

from actors.messages import PRE_WAIT
from server.protocol import NULL_ARRAY, Err

__all__ = ["parse_flags", "flags_string", "apply", "after_command", "Notice"]

KEYSPACE = 1 << 0     # K
KEYEVENT = 1 << 1     # E
GENERIC = 1 << 2      # g
STRING = 1 << 3       # $
LIST = 1 << 4         # l
SET = 1 << 5          # s
HASH = 1 << 6         # h
ZSET = 1 << 7         # z
EXPIRED = 1 << 8      # x
EVICTED = 1 << 9      # e
STREAM = 1 << 10      # t
KEY_MISS = 1 << 11    # m
MODULE = 1 << 12      # d
NEW = 1 << 13         # n
ALL = GENERIC | STRING | LIST | SET | HASH | ZSET | EXPIRED | EVICTED | STREAM | MODULE

_LETTERS = {"A": ALL, "g": GENERIC, "$": STRING, "l": LIST, "s": SET, "h": HASH,
            "z": ZSET, "x": EXPIRED, "e": EVICTED, "K": KEYSPACE, "E": KEYEVENT,
            "t": STREAM, "m": KEY_MISS, "d": MODULE, "n": NEW}
_ORDER = ((GENERIC, "g"), (STRING, "$"), (LIST, "l"), (SET, "s"), (HASH, "h"),
          (ZSET, "z"), (EXPIRED, "x"), (EVICTED, "e"), (STREAM, "t"), (MODULE, "d"),
          (NEW, "n"))

BAD_FLAGS = "Invalid event class character. Use 'Ag$lshzxeKEtmdn'."


def parse_flags(s: str) -> int:
    """keyspaceEventsStringToFlags; ValueError on an unknown letter."""
    f = 0
    for ch in s:
        bit = _LETTERS.get(ch)
        if bit is None:
            raise ValueError(BAD_FLAGS)
        f |= bit
    return f


def flags_string(f: int) -> str:
    """keyspaceEventsFlagsToString (A hides n, as in Redis 7.0)."""
    if f & ALL == ALL:
        out = "A"
    else:
        out = "".join(ch for bit, ch in _ORDER if f & bit)
    if f & KEYSPACE:
        out += "K"
    if f & KEYEVENT:
        out += "E"
    if f & KEY_MISS:
        out += "m"
    return out


class FlagText(str):
    """The stored option: Redis's canonical text (what CONFIG GET shows) and
    the flags themselves, which the text may not show (A hides n)."""
    __slots__ = ("flags",)


def normalise(value: str) -> str:
    """CONFIG SET's conversion: validate, store Redis's canonical text."""
    f = parse_flags(value)
    out = FlagText(flags_string(f))
    out.flags = f
    return out


# ------------------------------------------------------------------ loop side
class Notice:
    """Events (and tracking invalidations) of one shard, delivered on the loop
    in the order the shard queued them; posted through the bridge.

    For a batch's events the shard also names the ``batch`` and ``marks``:
    (end, i) pairs saying that the events before index ``end`` go before the
    batch's reply i (``nreplies``: how many replies it has).  While they are
    published, ``server.push_before`` is (batch, i), so a subscriber that owns
    the batch puts the event before that reply (`Client.push`, Batch.pre),
    as Redis writes it; everyone else gets it as usual."""

    __slots__ = ("deliver", "events", "invalidations", "batch", "marks", "nreplies")

    def __init__(self, deliver, events, invalidations):
        self.deliver = deliver
        self.events = events
        self.invalidations = invalidations
        self.batch = None

    def complete(self):
        self.deliver(self)
        return None


def _deliver(server, notice: Notice) -> None:
    if notice.invalidations:
        from server import tracking
        tracking.deliver(server, notice.invalidations)
    batch = notice.batch
    if batch is None:
        if notice.events:
            _publish(server, notice.events)
        return
    try:
        if notice.events:
            _publish(server, notice.events, notice.marks, notice.nreplies, batch)
    finally:
        server.push_before = None
        if batch.pre is PRE_WAIT:       # (the batch itself completes after this
            batch.pre = None            # notice, on the same bridge: it flushes)


# Commands whose reply Redis 7.0 writes before (some of) their events: the
# number of the command's own events that still come before the reply.  Events
# raised while the command runs (new, keymiss, expired) always come first;
# the rest - its own events and the ``del`` of an emptied key - after the
# reply.  (ZPOPMIN/ZPOPMAX/ZMPOP and their blocking forms: Redis 7.0 writes
# the event inside the reply array, which RESP3 forbids; Shardis writes it
# before.)  Seen on the wire with a RESP3 connection subscribed to its own
# events.
AFTER_REPLY = {
    b"getset": 0, b"getdel": 0, b"getex": 0, b"bitfield": 0,
    b"expire": 0, b"pexpire": 0, b"expireat": 0, b"pexpireat": 0,
    b"lpush": 0, b"rpush": 0, b"lpushx": 0, b"rpushx": 0, b"lpop": 0, b"rpop": 0,
    b"lset": 0, b"lmpop": 0, b"rpoplpush": 1, b"lmove": 1, b"spop": 1,
    b"sunionstore": 0, b"sdiffstore": 0, b"sinterstore": 0,
    b"hset": 0, b"hmset": 0, b"hsetnx": 0, b"hincrby": 0, b"hincrbyfloat": 0,
    b"zadd": 0, b"zincrby": 0, b"zunionstore": 0, b"zinterstore": 0, b"zdiffstore": 0,
    b"zrangestore": 0, b"blpop": 0, b"brpop": 0, b"blmpop": 0,
}
_EARLY = (b"new", b"keymiss", b"expired")
_EXPIRES = (b"expire", b"pexpire", b"expireat", b"pexpireat")


def mark_events(events, start: int, argv, ri: int, marks: list) -> int:
    """Shard side: the command just run (its reply will be reply ``ri`` of
    its batch) queued ``events[start:]``; add the marks that place them
    around that reply (Notice.marks) and return the new start."""
    end = len(events)
    name = argv[0].lower()
    k = AFTER_REPLY.get(name)
    if k is None or (name in _EXPIRES and events[end - 1][1] == b"del"):
        marks.append((end, ri))     # (an EXPIRE that deletes: del, then reply)
        return end
    j = start
    while j < end:
        if events[j][1] not in _EARLY:
            if k == 0 or events[j][1] == b"del":
                break
            k -= 1
        j += 1
    if j > start:
        marks.append((j, ri))
    marks.append((end, ri + 1))
    return end


def _publish(server, events, marks=(), nreplies=0, batch=None) -> None:
    from server.commands.pubsub import registry
    ps = registry(server)
    flags = server.extensions.get("notify_flags", 0)
    publish = ps.publish
    m = 0
    nm = len(marks)
    for n, (dbi, event, key) in enumerate(events):
        if batch is not None:
            while m < nm and marks[m][0] <= n:
                m += 1
            server.push_before = (batch.owner, batch, min(marks[m][1], nreplies) if nreplies
                                  else None) if m < nm else None
        if flags & KEYSPACE:
            publish(b"__keyspace@%d__:%b" % (dbi, key), event)
        if flags & KEYEVENT:
            publish(b"__keyevent@%d__:%b" % (dbi, event), key)


def events_on(server) -> bool:
    """Are keyspace events published (K or E, and some class)?"""
    f = server.extensions.get("notify_flags", 0)
    return bool(f & (KEYSPACE | KEYEVENT) and f & ~(KEYSPACE | KEYEVENT))


def notice_factory(server):
    def deliver(notice, server=server):
        _deliver(server, notice)

    def make(events, invalidations):
        return Notice(deliver, events, invalidations)
    return make


def apply(server) -> None:
    """CONFIG SET notify-keyspace-events: tell every shard which event
    classes to queue (0 unless K or E is on: nothing would be published)."""
    value = server.config.notify_keyspace_events
    flags = getattr(value, "flags", None)
    if flags is None:
        flags = parse_flags(value)
    server.extensions["notify_flags"] = flags
    classes = flags & ~(KEYSPACE | KEYEVENT) if flags & (KEYSPACE | KEYEVENT) else 0
    make = notice_factory(server)
    for s in range(len(server.shards)):
        server.call_shard(s, _set_shard_flags, classes, make)


def _set_shard_flags(shard, classes, make):
    shard.notice_factory = make
    shard.notify_flags = classes
    return None


# ------------------------------------------------------------------ shard side
def after_command(shard, db, fn, argv, v) -> None:
    """Run on the shard after each command while notifications or tracking
    are on: the command's own events, then the deferred ``del`` events; the
    tracking invalidation of the keys a write command touched.

    Redis calls signalModifiedKey where it notifies the command's event, so
    for a command with a rule the keys its rule names (whatever the
    notify-keyspace-events classes) are the keys invalidated: a write that
    changed nothing (SREM of a non-member, SETNX of an existing key...)
    invalidates nothing.  Other writes invalidate all their keys."""
    if type(v) is not Err:
        tracking = shard.tracking or shard.bcast
        rule = RULES.get(argv[0].lower()) if fn in handlers() else None
        modified = None
        if rule is not None and (shard.notify_flags or tracking):
            if tracking:
                modified = shard.modified = []      # filled by _ev
            try:
                rule(db, argv, v)
            except (IndexError, ValueError, TypeError):   # an unusual reply shape
                modified = None                     # (then every key is invalidated)
            shard.modified = None
        elif tracking and _unchanged(fn, argv, v):
            modified = []
        if tracking:
            from server.tracking import after_write
            after_write(shard, db, fn, argv, modified)
    tail = shard.notice_tail
    if tail:
        shard.notices.extend(tail)
        tail.clear()


def _ev(db, cls, event, key):
    shard = db.shard
    if shard.modified is not None:      # the keys a command modified (after_command)
        shard.modified.append(key)
    if shard.notify_flags & cls:
        shard.notices.append((db.index, event, key))


def _present(db, key) -> bool:
    return key in db.data


# Rules: fn(db, argv, reply).  Helpers for the usual shapes.
def _always(cls, event, pos=1):
    def rule(db, argv, v):
        _ev(db, cls, event, argv[pos])
    return rule


def _if_positive(cls, event, pos=1):
    def rule(db, argv, v):
        if type(v) is int and v > 0:
            _ev(db, cls, event, argv[pos])
    return rule


def _if_value(cls, event, pos=1):
    """Popping commands: an event if something was popped (not nil, not an
    empty or null array)."""
    def rule(db, argv, v):
        if v is not None and v is not NULL_ARRAY and (type(v) is bytes or len(v)):
            _ev(db, cls, event, argv[pos])
    return rule


def _store(cls, event, pos=1):
    """*STORE commands: the event if the destination holds a result (an empty
    result deleted it: that is the ``del`` of `Keyspace.delete`)."""
    def rule(db, argv, v):
        if _present(db, argv[pos]):
            _ev(db, cls, event, argv[pos])
    return rule


def _set(db, argv, v):
    up = [a.upper() for a in argv[3:]]
    if v is None and b"GET" not in up:
        return              # NX/XX refused
    if b"GET" in up and (b"NX" in up or b"XX" in up) and db.data.get(argv[1]) != argv[2]:
        return
    if not _present(db, argv[1]):
        return              # a deadline in the past deleted it (the 'del' event)
    _ev(db, STRING, b"set", argv[1])
    if any(a in up for a in (b"EX", b"PX", b"EXAT", b"PXAT")):
        _ev(db, GENERIC, b"expire", argv[1])


def _setex(db, argv, v):
    _ev(db, STRING, b"set", argv[1])
    _ev(db, GENERIC, b"expire", argv[1])


def _mset(db, argv, v):
    if v == 0:
        return              # MSETNX refused
    # Redis interleaves per key: new k1, set k1, new k2, set k2...  The
    # 'new' events of this MSET are the last ones queued: take them back.
    notices = db.shard.notices
    keys = set(argv[1::2])
    news = {}
    while notices and notices[-1][1] == b"new" and notices[-1][2] in keys \
            and notices[-1][0] == db.index:
        e = notices.pop()
        news[e[2]] = e
    for i in range(1, len(argv), 2):
        e = news.pop(argv[i], None)
        if e is not None:
            notices.append(e)
        _ev(db, STRING, b"set", argv[i])


def _getex(db, argv, v):
    # GETEX PERSIST's event comes from `Keyspace.persist` (only it knows
    # whether there was a TTL to remove)
    if v is not None and len(argv) > 2 and argv[2].upper() != b"PERSIST" \
            and _present(db, argv[1]):
        _ev(db, GENERIC, b"expire", argv[1])


def _setrange(db, argv, v):
    if argv[3]:
        _ev(db, STRING, b"setrange", argv[1])


def _expire(db, argv, v):
    if v == 1 and _present(db, argv[1]):
        _ev(db, GENERIC, b"expire", argv[1])


def _rename(db, argv, v):
    if v == 0:
        return              # RENAMENX refused
    if argv[1] == argv[2]:
        return              # same key: Redis replies before any change
    _ev(db, GENERIC, b"rename_from", argv[1])
    _ev(db, GENERIC, b"rename_to", argv[2])


def _move(db, argv, v):
    if v == 1:
        _ev(db, GENERIC, b"move_from", argv[1])
        dst = db.shard.dbs[int(argv[2])]
        _ev(dst, GENERIC, b"move_to", argv[1])


def _copy(db, argv, v):
    if v != 1:
        return
    dst = db
    up = [a.upper() for a in argv[3:]]
    if b"DB" in up:
        dst = db.shard.dbs[int(argv[3 + up.index(b"DB") + 1])]
    _ev(dst, GENERIC, b"copy_to", argv[2])


def _pop_named(cls, event):
    """BLPOP/LMPOP/BZPOPMIN...: the popped key is the reply's first element."""
    def rule(db, argv, v):
        if isinstance(v, list) and v:
            _ev(db, cls, event, v[0])
    return rule


def _mpop(cls, left_event, right_event, after_numkeys_offset):
    def rule(db, argv, v):
        if isinstance(v, list) and v:
            i = after_numkeys_offset + int(argv[after_numkeys_offset - 1])
            where = argv[i].upper()
            _ev(db, cls, left_event if where in (b"LEFT", b"MIN") else right_event, v[0])
    return rule


def _lmove(db, argv, v):
    if v is None:
        return
    # LMOVE src dst wherefrom whereto / RPOPLPUSH src dst (BLMOVE/BRPOPLPUSH
    # add a timeout after them)
    name = argv[0].lower()
    if name in (b"rpoplpush", b"brpoplpush"):
        wf, wt = b"RIGHT", b"LEFT"
    else:
        wf, wt = argv[3].upper(), argv[4].upper()
    _ev(db, LIST, b"lpush" if wt == b"LEFT" else b"rpush", argv[2])
    _ev(db, LIST, b"lpop" if wf == b"LEFT" else b"rpop", argv[1])


def _ltrim(db, argv, v):
    # the key existed if it is still there or LTRIM just deleted it
    key = argv[1]
    if _present(db, key) or any(k == key for _, _, k in db.shard.notice_tail):
        _ev(db, LIST, b"ltrim", key)


def _smove(db, argv, v):
    if v == 1:
        _ev(db, SET, b"srem", argv[1])
        _ev(db, SET, b"sadd", argv[2])


def _bitfield(db, argv, v):
    if any(a.upper() in (b"SET", b"INCRBY") for a in argv[2:]):
        _ev(db, STRING, b"setbit", argv[1])


def _bitop(db, argv, v):
    if _present(db, argv[2]):
        _ev(db, STRING, b"set", argv[2])


def _hset(db, argv, v):
    _ev(db, HASH, b"hset", argv[1])


def _pfadd(db, argv, v):
    if v == 1:
        _ev(db, STRING, b"pfadd", argv[1])


def _restore(db, argv, v):
    _ev(db, GENERIC, b"restore", argv[1])


RULES = {
    b"set": _set, b"setex": _setex, b"psetex": _setex, b"setnx": _if_positive(STRING, b"set"),
    b"getset": _always(STRING, b"set"), b"mset": _mset, b"msetnx": _mset,
    b"getex": _getex, b"append": _always(STRING, b"append"), b"setrange": _setrange,
    b"incr": _always(STRING, b"incrby"), b"decr": _always(STRING, b"incrby"),
    b"incrby": _always(STRING, b"incrby"), b"decrby": _always(STRING, b"incrby"),
    b"incrbyfloat": _always(STRING, b"incrbyfloat"),
    b"setbit": _always(STRING, b"setbit"), b"bitfield": _bitfield, b"bitop": _bitop,
    b"expire": _expire, b"pexpire": _expire, b"expireat": _expire, b"pexpireat": _expire,
    b"rename": _rename, b"renamenx": _rename, b"move": _move,
    b"copy": _copy, b"restore": _restore,
    b"lpush": _if_positive(LIST, b"lpush"), b"rpush": _if_positive(LIST, b"rpush"),
    b"lpushx": _if_positive(LIST, b"lpush"), b"rpushx": _if_positive(LIST, b"rpush"),
    b"linsert": _if_positive(LIST, b"linsert"),
    b"lpop": _if_value(LIST, b"lpop"), b"rpop": _if_value(LIST, b"rpop"),
    b"lset": _always(LIST, b"lset"), b"lrem": _if_positive(LIST, b"lrem"),
    b"ltrim": _ltrim,
    b"lmove": _lmove, b"rpoplpush": _lmove, b"blmove": _lmove, b"brpoplpush": _lmove,
    b"blpop": _pop_named(LIST, b"lpop"), b"brpop": _pop_named(LIST, b"rpop"),
    b"lmpop": _mpop(LIST, b"lpop", b"rpop", 2), b"blmpop": _mpop(LIST, b"lpop", b"rpop", 3),
    b"hset": _hset, b"hmset": _hset, b"hsetnx": _if_positive(HASH, b"hset"),
    b"hdel": _if_positive(HASH, b"hdel"), b"hincrby": _always(HASH, b"hincrby"),
    b"hincrbyfloat": _always(HASH, b"hincrbyfloat"),
    b"sadd": _if_positive(SET, b"sadd"), b"srem": _if_positive(SET, b"srem"),
    b"spop": _if_value(SET, b"spop"), b"smove": _smove,
    b"sinterstore": _store(SET, b"sinterstore"), b"sunionstore": _store(SET, b"sunionstore"),
    b"sdiffstore": _store(SET, b"sdiffstore"),
    b"zrem": _if_positive(ZSET, b"zrem"),
    b"zremrangebyscore": _if_positive(ZSET, b"zremrangebyscore"),
    b"zremrangebyrank": _if_positive(ZSET, b"zremrangebyrank"),
    b"zremrangebylex": _if_positive(ZSET, b"zremrangebylex"),
    b"zpopmin": _if_value(ZSET, b"zpopmin"), b"zpopmax": _if_value(ZSET, b"zpopmax"),
    b"bzpopmin": _pop_named(ZSET, b"zpopmin"), b"bzpopmax": _pop_named(ZSET, b"zpopmax"),
    # ZMPOP: its event comes from zsets._zmpop_one (shared with the hops)
    b"bzmpop": _mpop(ZSET, b"zpopmin", b"zpopmax", 3),
    b"zunionstore": _store(ZSET, b"zunionstore"), b"zinterstore": _store(ZSET, b"zinterstore"),
    b"zdiffstore": _store(ZSET, b"zdiffstore"), b"zrangestore": _store(ZSET, b"zrangestore"),
    b"pfadd": _pfadd, b"pfmerge": _always(STRING, b"pfadd"),
}


# Writes without a rule (their events come from the keyspace) whose reply
# says they changed nothing: DEL/UNLINK of missing keys, GETDEL of a missing
# key, PERSIST of a key without a TTL.  (A fan-out part of DEL runs DEL's
# handler on its keys: its own reply says the same of them.)
_UNCHANGED = {b"del": 0, b"unlink": 0, b"persist": 0, b"getdel": None}
_UNCHANGED_FNS: dict | None = None


def _unchanged(fn, argv, v) -> bool:
    global _UNCHANGED_FNS
    if _UNCHANGED_FNS is None:
        from server.table import TABLE
        _UNCHANGED_FNS = {TABLE[n].handler: n for n in _UNCHANGED if n in TABLE}
    name = _UNCHANGED_FNS.get(fn)
    if name is None:
        return False
    nothing = _UNCHANGED[name]
    return v is None if nothing is None else v == nothing


_HANDLERS: set | None = None


def handlers() -> set:
    """The table handlers of the commands in `RULES`: a rule applies only to
    a command run by its own handler (a command, a fan-out part, a queued
    EXEC command), never to a coordinator's helper that happens to carry
    the same argv.  Built on first use: the table is complete only once
    every command module has been imported."""
    global _HANDLERS
    if _HANDLERS is None:
        from server.table import TABLE
        _HANDLERS = {TABLE[n].handler for n in RULES if n in TABLE}
    return _HANDLERS


# ------------------------------------------------------------------ coordinators
# A command whose keys span shards runs as a coordinator (``cross=``) made of
# helper hops, to which `RULES` do not apply (MSETNX's hops run MSET's
# handler: its rule applies on each shard).  Its own events are decided on
# the loop from its arguments and reply, and published when it returns -
# still inside its transaction, so before anything those shards run next.
# The keyspace-level events of its hops (new, del of an emptied source)
# come from the shards and precede them.

def _cross_events(dbi: int, argv, v) -> list:
    name = argv[0].lower()
    out = []

    def add(cls, event, key, db=dbi):
        out.append((cls, db, event, key))
    if name in (b"rename", b"renamenx"):
        if v != 0:
            add(GENERIC, b"rename_from", argv[1])
            add(GENERIC, b"rename_to", argv[2])
    elif name == b"copy":
        if v == 1:
            up = [a.upper() for a in argv[3:]]
            db = int(argv[3 + up.index(b"DB") + 1]) if b"DB" in up else dbi
            add(GENERIC, b"copy_to", argv[2], db)
    # (LMOVE/RPOPLPUSH over shards: the hops emit theirs, lists.lmove_across)
    elif name == b"smove":
        if v == 1:
            add(SET, b"srem", argv[1])
            add(SET, b"sadd", argv[2])
    elif name in (b"sinterstore", b"sunionstore", b"sdiffstore"):
        if v:
            add(SET, name, argv[1])
    elif name in (b"zunionstore", b"zinterstore", b"zdiffstore", b"zrangestore"):
        if v:
            add(ZSET, name, argv[1])
    elif name == b"bitop":
        if v:
            add(STRING, b"set", argv[2])
    elif name == b"pfmerge":
        add(STRING, b"pfadd", argv[1])
    return out


async def notify_cross(conn, argv, coro):
    """Wrap a coordinator: publish the command's events after it returns."""
    v = await coro
    publish_cross(conn, argv, v)
    return v


def publish_cross(conn, argv, v) -> None:
    """A coordinator's own events, decided from its arguments and reply."""
    server = conn.server
    flags = server.extensions.get("notify_flags", 0)
    if flags & (KEYSPACE | KEYEVENT) and type(v) is not Err:
        events = [(db, e, k) for cls, db, e, k in _cross_events(conn.db, argv, v)
                  if flags & cls]
        if events:      # the connection's own subscription gets them before the reply
            k = AFTER_REPLY.get(argv[0].lower(), len(events))   # (those Redis writes first)
            try:
                if k:
                    server.push_before = (conn, None, None)
                    _publish(server, events[:k])
                server.push_before = None
                _publish(server, events[k:])
            finally:
                server.push_before = None


# ------------------------------------------------------------------ blocked clients
def served(db, key, w, result) -> None:
    """A blocked client served from ``key`` on this shard (serve_ready): the
    pop's event, then the ``del`` of a key it emptied - Redis's
    serveClientBlockedOnList order - before anything the shard runs next."""
    if type(result) is Err:
        return
    from server.commands.blocking import ZWaiter
    if isinstance(w, ZWaiter):
        _ev(db, ZSET, b"zpopmax" if w.where else b"zpopmin", key)
    else:
        from server.commands.blocking import POP, MPOP
        from server.commands.lists import LEFT
        if w.kind not in (POP, MPOP) and w.dst_local:
            _ev(db, LIST, b"lpush" if w.whereto == LEFT else b"rpush", w.dst)
        _ev(db, LIST, b"lpop" if w.where == LEFT else b"rpop", key)
    tail = db.shard.notice_tail
    if tail:
        db.shard.notices.extend(tail)
        tail.clear()
