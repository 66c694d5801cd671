"""CLIENT TRACKING: server-assisted client-side caching (Redis's tracking.c).

Who owns what
    * Loop: each tracking `Client` has a `Tracking` state (``conn.tracking``;
      None when off) and `Registry` (one per server) knows the BCAST clients
      and their prefixes.
    * Shards: ``shard.tracking`` maps a key name to the ids of the clients
      that read it (Redis's TrackingTable: key names, whatever the database),
      owned by the shard actor; ``shard.bcast`` is true while any client
      tracks in BCAST mode, so every modified key is reported.

Flow
    1. A tracking client runs a read-only command (default mode; OPTIN after
       CLIENT CACHING yes, OPTOUT unless CLIENT CACHING no): `after_dispatch`
       appends a `remember` item for each involved shard to the same batch,
       so the shard records the keys in program order with the read.  A read
       run later by a coordinator on the loop (cross-shard SUNION, SORT_RO...)
       is remembered by the coordinator itself, inside its transaction or in
       the same message as the read (`remembering`, `hop`); a transaction's
       reads by EXEC (server/commands/transactions.py).
    2. A write (any ``write`` command run by its own handler: `after_write`;
       and `Keyspace.set`/removal/expiry/eviction, which covers the
       coordinators' helpers) calls ``shard.invalidate(key)``: the ids are
       popped (one invalidation per read, as in Redis) and queued with the
       key and the writing connection (for NOLOOP).
    3. The shard hands its invalidations to the loop in a `server.notify.Notice`
       (before the batch's replies); `deliver` sends RESP3 ``invalidate``
       pushes, or, with REDIRECT to a RESP2 client in Pub/Sub mode, a
       ``__redis__:invalidate`` message, exactly as Redis formats them.
    4. FLUSHDB/FLUSHALL send every tracking client an invalidation with a
       null key list and clear the shards' tables.

Ordering: invalidations of one shard are delivered in the order the writes
happened.  A connection's own pushes are queued behind its replies already
in flight (`Client.push`), so a client invalidated by its own write gets
the push after that write's reply, as Redis 7.0 does.
"""

from __future__ import annotations

from server.protocol import OK, CommandError, Push, RSet
from server.table import Route

__all__ = ["Tracking", "enable", "disable", "after_dispatch", "after_write", "deliver"]

SYNTAX = "ERR syntax error"
CHANNEL = b"__redis__:invalidate"


class Tracking:
    """One client's tracking mode (loop-owned)."""

    __slots__ = ("redirect", "bcast", "optin", "optout", "noloop", "caching",
                 "prefixes", "broken", "reading")

    def __init__(self):
        self.redirect = 0
        self.bcast = False
        self.optin = False
        self.optout = False
        self.noloop = False
        self.caching = False        # CLIENT CACHING yes/no for the next command
        self.prefixes: list[bytes] = []
        self.broken = False
        # the keys of the read a coordinator is running for this client, to
        # be remembered by that coordinator (None: not a remembered read)
        self.reading = None

    def tracks_next_read(self) -> bool:
        if self.bcast:
            return False
        if self.optin:
            return self.caching
        if self.optout:
            return not self.caching
        return True


class Registry:
    """BCAST prefixes: prefix -> clients (insertion order)."""

    def __init__(self):
        self.prefixes: dict[bytes, dict] = {}
        self.bcast_clients = 0


def registry(server) -> Registry:
    reg = server.extensions.get("tracking")
    if reg is None:
        reg = server.extensions["tracking"] = Registry()
        server.extensions.setdefault("on_disconnect", []).append(
            lambda c: disable(c) if getattr(c, "tracking", None) else None)
        server.extensions.setdefault("on_reset", []).append(
            lambda c: disable(c) if getattr(c, "tracking", None) else None)
    return reg


# ------------------------------------------------------------------ CLIENT TRACKING
def client_tracking(conn, argv):
    """CLIENT TRACKING (ON|OFF) [REDIRECT id] [BCAST] [PREFIX p]... [OPTIN]
    [OPTOUT] [NOLOOP]: Redis's parse order and error texts."""
    redir = 0
    bcast = optin = optout = noloop = False
    prefixes: list[bytes] = []
    j = 3
    n = len(argv)
    while j < n:
        opt = argv[j].lower()
        more = j + 1 < n
        if opt == b"redirect" and more:
            j += 1
            if redir:
                raise CommandError("ERR A client can only redirect to a single other client")
            try:
                redir = int(argv[j])
                if not -(1 << 63) <= redir < (1 << 63) or argv[j].strip() != argv[j]:
                    raise ValueError
            except ValueError:
                raise CommandError("ERR value is not an integer or out of range") from None
            if redir not in conn.server.clients:
                raise CommandError("ERR The client ID you want redirect to does not exist")
        elif opt == b"bcast":
            bcast = True
        elif opt == b"optin":
            optin = True
        elif opt == b"optout":
            optout = True
        elif opt == b"noloop":
            noloop = True
        elif opt == b"prefix" and more:
            j += 1
            prefixes.append(argv[j])
        else:
            raise CommandError(SYNTAX)
        j += 1
    mode = argv[2].lower()
    if mode == b"on":
        cur = conn.tracking
        if not bcast and prefixes:
            raise CommandError("ERR PREFIX option requires BCAST mode to be enabled")
        if cur is not None and cur.bcast != bcast:
            raise CommandError("ERR You can't switch BCAST mode on/off before disabling "
                               "tracking for this client, and then re-enabling it with a "
                               "different mode.")
        if bcast and (optin or optout):
            raise CommandError("ERR OPTIN and OPTOUT are not compatible with BCAST")
        if optin and optout:
            raise CommandError("ERR You can't specify both OPTIN mode and OPTOUT mode")
        if cur is not None and ((optin and cur.optout) or (optout and cur.optin)):
            raise CommandError("ERR You can't switch OPTIN/OPTOUT mode before disabling "
                               "tracking for this client, and then re-enabling it with a "
                               "different mode.")
        if bcast:
            _check_prefixes(conn, prefixes)
        enable(conn, redir, bcast, optin, optout, noloop, prefixes)
    elif mode == b"off":
        disable(conn)
    else:
        raise CommandError(SYNTAX)
    return OK


def _check_prefixes(conn, prefixes) -> None:
    """checkPrefixCollisionsOrReply: a client's prefixes must not overlap."""
    have = conn.tracking.prefixes if conn.tracking is not None else []
    for i, p in enumerate(prefixes):
        for q in have:
            if p.startswith(q) or q.startswith(p):
                raise CommandError(b"ERR Prefix '%b' overlaps with an existing prefix '%b'. "
                                   b"Prefixes for a single client must not overlap." % (p, q))
        for k, q in enumerate(prefixes):
            if k != i and (p.startswith(q) or q.startswith(p)):
                raise CommandError(b"ERR Prefix '%b' overlaps with another provided prefix "
                                   b"'%b'. Prefixes for a single client must not overlap."
                                   % (p, q))


def enable(conn, redir, bcast, optin, optout, noloop, prefixes) -> None:
    """enableTracking: flags are replaced, BCAST prefixes accumulate."""
    reg = registry(conn.server)
    t = conn.tracking
    if t is None:
        t = conn.tracking = Tracking()
        if bcast:
            reg.bcast_clients += 1
            if reg.bcast_clients == 1:
                _set_bcast(conn.server, True)
    t.redirect = redir
    t.broken = False
    t.bcast, t.optin, t.optout, t.noloop = bcast, optin, optout, noloop
    if bcast:
        for p in (prefixes or [b""]):
            if p not in t.prefixes:
                t.prefixes.append(p)
                reg.prefixes.setdefault(p, {})[conn] = None


def disable(conn) -> None:
    """disableTracking: the shards forget this client lazily (an id whose
    client no longer tracks is skipped at delivery, as Redis does)."""
    t = conn.tracking
    if t is None:
        return
    reg = registry(conn.server)
    if t.bcast:
        for p in t.prefixes:
            subs = reg.prefixes.get(p)
            if subs is not None:
                subs.pop(conn, None)
                if not subs:
                    del reg.prefixes[p]
        reg.bcast_clients -= 1
        if reg.bcast_clients == 0:
            _set_bcast(conn.server, False)
    conn.tracking = None


def _set_bcast(server, on: bool) -> None:
    make = _factory(server)
    for s in range(len(server.shards)):
        server.call_shard(s, _shard_bcast, on, make)


def _shard_bcast(shard, on, make):
    shard.bcast = on
    if shard.notice_factory is None:
        shard.notice_factory = make
    return None


def _factory(server):
    from server.notify import notice_factory
    f = server.extensions.get("notice_factory")
    if f is None:
        f = server.extensions["notice_factory"] = notice_factory(server)
    return f


def client_caching(conn, argv):
    t = conn.tracking
    if t is None:
        raise CommandError("ERR CLIENT CACHING can be called only when the client is in "
                           "tracking mode with OPTIN or OPTOUT mode enabled")
    opt = argv[2].lower()
    if opt == b"yes":
        if not t.optin:
            raise CommandError("ERR CLIENT CACHING YES is only valid when tracking is "
                               "enabled in OPTIN mode.")
    elif opt == b"no":
        if not t.optout:
            raise CommandError("ERR CLIENT CACHING NO is only valid when tracking is "
                               "enabled in OPTOUT mode.")
    else:
        raise CommandError(SYNTAX)
    t.caching = True
    return OK


def client_getredir(conn, argv):
    return -1 if conn.tracking is None else conn.tracking.redirect


def client_trackinginfo(conn, argv):
    t = conn.tracking
    if t is None:
        flags = [b"off"]
    else:
        flags = [b"on"]
        if t.bcast:
            flags.append(b"bcast")
        if t.optin:
            flags.append(b"optin")
            if t.caching:
                flags.append(b"caching-yes")
        if t.optout:
            flags.append(b"optout")
            if t.caching:
                flags.append(b"caching-no")
        if t.noloop:
            flags.append(b"noloop")
        if t.broken:
            flags.append(b"broken_redirect")
    return {b"flags": RSet(flags), b"redirect": -1 if t is None else t.redirect,
            b"prefixes": list(t.prefixes) if t is not None else []}


# ------------------------------------------------------------------ reads (loop)
FLUSHES = frozenset(("flushall", "flushdb"))


def after_dispatch(conn, spec, argv) -> None:
    """After a command of a tracking client (or any FLUSHDB/FLUSHALL) was
    routed: remember the keys of a read (items in the same shard batches,
    after the read itself), reset the one-shot CLIENT CACHING flag, and
    schedule the flush invalidation."""
    name = spec.name
    if name in FLUSHES:
        if "tracking" in conn.server.extensions:
            _after_flush(conn)
        if conn.tracking is None:
            return
    t = conn.tracking
    # A command that became a barrier (a coordinator, a cross-shard EXEC:
    # requests are executed only while none runs) reads later, on the loop
    barrier = conn.barrier
    if barrier:
        t.reading = None
    if "readonly" in spec.flags and t.tracks_next_read():
        keys = spec.keys(argv)
        if not barrier:
            if spec.route is Route.SHARD:
                _remember(conn, keys)
        elif getattr(_coordinator(spec), "remembers", False):
            t.reading = keys or None    # its coordinator remembers them
        else:
            # a coordinator that does not remember its reads itself (see
            # docs/notifications.md): remembered now, before it reads
            _remember(conn, keys)
    if t.caching and conn.multi is None and not name.startswith("client"):
        t.caching = False


def _coordinator(spec):
    """The function a command that became a barrier runs on the loop."""
    if spec.route is Route.CONN:
        return spec.handler
    if spec.route is Route.SHARD:
        if spec.fanout is None:
            return spec.cross
        from server.router import ordered_fanout
        return ordered_fanout           # a fan-out run in argument order
    return None     # a Route.ALL command


def tracks(conn) -> bool:
    """Whether the command being dispatched now is remembered if it reads
    (taken while it is dispatched: the one-shot CLIENT CACHING flag is reset
    right after).  EXEC takes it for the reads it queued."""
    t = conn.tracking
    return t is not None and t.tracks_next_read()


def _by_shard(conn, keys) -> dict:
    by_shard: dict[int, list] = {}
    for k in keys:
        by_shard.setdefault(conn.shard_of(k), []).append(k)
    return by_shard


def remember_items(conn, keys) -> list:
    """``(shard, fn, argv)``: the items remembering ``keys`` for ``conn``,
    one per shard owning some of them (sent with the sink `IGNORE`)."""
    make = _factory(conn.server)
    return [(s, remember, [b"remember", conn.id, make, *ks])
            for s, ks in _by_shard(conn, keys).items()]


def shard_reads(conn, keys) -> tuple:
    """What a shard-side step needs to remember reads itself
    (`remember_keys`): ``(client id, Notice constructor, keys)``."""
    return conn.id, _factory(conn.server), keys


def _remember(conn, keys) -> None:
    if keys:
        for s, fn, a in remember_items(conn, keys):
            conn.to_shard(s, fn, a, IGNORE, 0)


# ------------------------------------------------------------------ reads (coordinators)
def remembering(coordinator):
    """Wrap a read-only command's ``cross=`` coordinator so that the read of
    a tracking client is remembered on each key's shard when it returns
    (even with an error, as Redis's call() remembers), still inside its
    transaction: no write can come between the read and the remember.
    Inside a cross-shard EXEC it does nothing (EXEC remembers its reads)."""
    async def run(conn, argv):
        try:
            return await coordinator(conn, argv)
        finally:
            remember_reads(conn)
    run.__name__ = getattr(coordinator, "__name__", "cross")
    run.__qualname__ = getattr(coordinator, "__qualname__", run.__name__)
    run.remembers = True
    return run


def remembers(handler):
    """Mark a loop-run read-only command (Route.CONN) whose handler reads
    through `hop`, which remembers the keys with the read."""
    handler.remembers = True
    return handler


def remember_reads(conn) -> None:
    """A coordinator has read the keys of the running command: remember them
    on their shards, behind its hops (tagged with its transaction)."""
    t = conn.tracking
    keys = t.reading if t is not None else None
    if not keys:
        return
    t.reading = None
    from actors.messages import Batch
    from server.connection import CURRENT_TX
    tx = CURRENT_TX.get()
    for s, fn, a in remember_items(conn, keys):
        b = Batch(conn, conn.db, conn.proto, tx)
        b.items.append((fn, a, IGNORE, 0))
        conn.inboxes[s](b)


def hop(conn, s: int, fn, argv, part: int = 0):
    """``conn.hop`` for a loop-run read: while the running command's read is
    remembered, the same message carries a `remember` item for its keys on
    shard ``s``, right behind ``fn`` (atomic with the read)."""
    t = conn.tracking
    keys = t.reading if t is not None else None
    if keys:
        ks = [k for k in keys if conn.shard_of(k) == s]
        if ks:
            from actors.messages import Batch
            from server.connection import CURRENT_TX, FutureSink
            tx = CURRENT_TX.get()
            if tx is not None and s not in tx.shards:
                raise RuntimeError(f"hop to shard {s} outside {tx}")
            fut = conn.server.loop.create_future()
            b = Batch(conn, conn.db, conn.proto, tx)
            b.items.append((fn, argv, FutureSink(fut), part))
            b.items.append((remember, [b"remember", conn.id, _factory(conn.server), *ks],
                            IGNORE, 0))
            conn.inboxes[s](b)
            return fut
    return conn.hop(s, fn, argv, part=part)


def _after_flush(conn) -> None:
    """trackingInvalidateKeysOnFlush: once every shard has run the flush
    (an item behind it in each shard's batch), every tracking client gets
    an invalidation with a null key list; the shards' tables are cleared."""
    sink = _FlushSink(conn.server, conn.nshards)
    for s in range(conn.nshards):
        conn.to_shard(s, _clear_table, [b"flush-tracking"], sink, s)


class _FlushSink:
    __slots__ = ("server", "left")

    def __init__(self, server, n):
        self.server = server
        self.left = n

    def deliver(self, idx, v):
        self.left -= 1
        if self.left == 0:
            for c in list(self.server.clients.values()):
                if getattr(c, "tracking", None) is not None:
                    _send(self.server, c, None)


def _clear_table(db, argv):
    db.shard.tracking = {}
    return None


class _Ignore:
    """Sink for the `remember` items: their result is not a reply."""
    __slots__ = ()

    def deliver(self, idx, v):
        pass


IGNORE = _Ignore()


def remember(db, argv):
    """Shard, a batch item: trackingRememberKeys for client ``argv[1]``
    (not a command: not counted in the shard's commands nor slow-logged)."""
    shard = db.shard
    shard.remembered += 1
    remember_keys(shard, argv[1], argv[2], argv[3:])
    return None


remember.not_a_command = True


def remember_keys(shard, cid, make, keys) -> None:
    """Shard: record that client ``cid`` read ``keys`` (``make``: the loop's
    Notice constructor, for the invalidations to come)."""
    if shard.notice_factory is None:
        shard.notice_factory = make
    table = shard.tracking
    for k in keys:
        ids = table.get(k)
        if ids is None:
            table[k] = {cid}
        else:
            ids.add(cid)


# ------------------------------------------------------------------ writes (shard)
_WRITE_HANDLERS: dict | None = None


def _write_specs() -> dict:
    global _WRITE_HANDLERS
    if _WRITE_HANDLERS is None:
        from server.table import TABLE
        out = {}
        for spec in TABLE.values():
            for sp in (spec, *spec.subcommands.values()):
                if "write" in sp.flags and sp.route == Route.SHARD:
                    out[sp.handler] = sp
        _WRITE_HANDLERS = out
    return _WRITE_HANDLERS


def after_write(shard, db, fn, argv, keys=None) -> None:
    """signalModifiedKey for the keys of a write command run by its own
    handler (the value may have changed in place, which the keyspace does
    not see): ``keys``, the keys it modified when known (server/notify.py
    after_command), else all its keys.  A key invalidated earlier in the
    command has no ids left."""
    spec = _write_specs().get(fn)
    if spec is None:
        return
    if keys is None:
        try:
            keys = spec.keys(argv)
        except Exception:  # noqa: BLE001 - argv of an unusual shape: nothing to do
            return
    for k in keys:
        shard.invalidate(k)


# ------------------------------------------------------------------ delivery (loop)
def deliver(server, invalidations) -> None:
    """Invalidations of one shard, in order: ``(key, ids, writer)``."""
    clients = server.clients
    reg = server.extensions.get("tracking")
    bcast_keys: dict = {}
    for key, ids, writer in invalidations:
        if ids:
            for cid in ids:
                c = clients.get(cid)
                t = getattr(c, "tracking", None) if c is not None else None
                if t is None or t.bcast:
                    continue
                if t.noloop and c is writer:
                    continue
                _send(server, c, [key])
        if reg is not None and reg.prefixes:
            for p, subs in reg.prefixes.items():
                if key.startswith(p):
                    bcast_keys.setdefault(p, {})[key] = writer
    # BCAST: one message per prefix with its keys (trackingBroadcastInvalidationMessages)
    for p, keys in bcast_keys.items():
        for c in list(reg.prefixes.get(p, ())):
            t = c.tracking
            if t is None:
                continue
            ks = [k for k, w in keys.items() if not (t.noloop and w is c)]
            if ks:
                _send(server, c, ks)


def _send(server, c, keys) -> None:
    """sendTrackingMessage: to the client or its redirection target."""
    t = c.tracking
    target = c
    if t.redirect:
        target = server.clients.get(t.redirect)
        if target is None:
            if not t.broken:
                t.broken = True
                if c.proto == 3:
                    c.push(Push([b"tracking-redir-broken", t.redirect]))
            return
    if target.proto == 3:
        target.push(Push([b"invalidate", keys]))
    elif t.redirect and target.sub_mode:
        if keys is None:
            from server.protocol import Raw
            target.push(Raw(b"*3\r\n$7\r\nmessage\r\n$20\r\n__redis__:invalidate\r\n$-1\r\n"))
        else:
            target.push(Push([b"message", CHANNEL, keys]))
