"""Connection commands (Redis's networking.c / acl.c parts): run on the event
loop against the `Client` state.  CLIENT PAUSE and CLIENT REPLY are built
from the connection's own mechanisms:

* the server guard (``server.guard``, owned by server/acl.py), consulted for
  connections marked ``guarded``, answers NOAUTH/NOPERM and then parks the
  requests CLIENT PAUSE holds back (see `pause_guard`);
* CLIENT REPLY swaps in a `MutingSequencer`, which shares the connection's
  reply queue and drops the replies in muted ranges as it drains them.
"""

from __future__ import annotations

import time

from actors.sequencer import ReplySequencer
from server.protocol import OK, PONG, CommandError, Raw, Status, Verbatim
from server.table import Route, command, subcommand

from .util import SYNTAX, parse_int

CONN = Route.CONN


@command("ping", -1, flags=("fast", "sentinel"), group="connection", route=CONN,
         summary="Returns the server's liveliness response.", syntax="[message]")
def cmd_ping(conn, argv):
    if len(argv) > 2:
        raise CommandError("ERR wrong number of arguments for 'ping' command")
    return PONG if len(argv) == 1 else argv[1]


@command("echo", 2, flags=("fast",), group="connection", route=CONN,
         summary="Returns the given string.", syntax="message")
def cmd_echo(conn, argv):
    return argv[1]


@command("select", 2, flags=("loading", "stale", "fast"), group="connection", route=CONN,
         summary="Changes the selected database.", syntax="index")
def cmd_select(conn, argv):
    i = parse_int(argv[1])
    if i < 0 or i >= conn.server.config.databases:
        raise CommandError("ERR DB index is out of range")
    conn.set_db(i)
    return OK


@command("quit", -1, flags=("allow_busy", "fast", "noscript", "loading", "stale"),
         group="connection", route=CONN, summary="Closes the connection.", syntax="")
def cmd_quit(conn, argv):
    conn.closing = True
    return OK


def hello_map(conn):
    from server.app import VERSION
    return {b"server": b"redis", b"version": VERSION.encode(), b"proto": conn.proto,
            b"id": conn.id, b"mode": b"standalone", b"role": b"master", b"modules": []}


@command("hello", -1, flags=("noscript", "loading", "stale", "fast", "no_auth", "allow_busy"),
         group="connection", route=CONN, since="6.0.0",
         summary="Handshakes with the Redis server.",
         syntax="[protover [AUTH username password] [SETNAME clientname]]")
def cmd_hello(conn, argv):
    # Redis's helloCommand order: the version, every option checked, then
    # AUTH, then the authentication requirement, and only then any change
    proto = None
    if len(argv) > 1:
        try:
            proto = parse_int(argv[1])
        except CommandError:
            raise CommandError("ERR Protocol version is not an integer or out of range") from None
        if proto not in (2, 3):
            raise CommandError("NOPROTO unsupported protocol version")
    i = 2
    name = None
    creds = None
    while i < len(argv):
        opt = argv[i].upper()
        more = len(argv) - 1 - i
        if opt == b"AUTH" and more >= 2:
            creds = (argv[i + 1], argv[i + 2])
            i += 3
        elif opt == b"SETNAME" and more >= 1:
            name = argv[i + 1]
            _check_name(name)
            i += 2
        else:
            raise CommandError(f"ERR Syntax error in HELLO option '{argv[i].decode('utf-8', 'replace')}'")
    if creds is not None:
        from server.acl import auth
        auth(conn, *creds)          # WRONGPASS, or logged in (server/acl.py)
    if not conn.authenticated:
        raise CommandError(HELLO_NOAUTH)
    if name is not None:
        conn.name = name
    if proto is not None:
        conn.set_proto(proto)
    return hello_map(conn)


# Redis 7.0.15's exact text (its source comment says "HELLO <proto> AUTH", the
# reply does not)
HELLO_NOAUTH = ("NOAUTH HELLO must be called with the client already authenticated, otherwise "
                "the HELLO AUTH <user> <pass> option can be used to authenticate the client "
                "and select the RESP protocol version at the same time")


def _check_name(name: bytes) -> None:
    if any(c < 33 or c > 126 for c in name):
        raise CommandError("ERR Client names cannot contain spaces, newlines or special characters.")


@command("reset", 1, flags=("noscript", "loading", "stale", "fast", "no_auth", "allow_busy"),
         group="connection", route=CONN, since="6.2.0",
         summary="Resets the connection.", syntax="")
def cmd_reset(conn, argv):
    conn.multi = None
    conn.multi_error = False
    conn.unwatch()
    conn.set_db(0)
    conn.set_proto(2)
    conn.name = b""
    for hook in conn.server.extensions.get("on_reset", ()):
        hook(conn)
    return Raw(b"+RESET\r\n")


# ------------------------------------------------------------------ AUTH

@command("auth", -2, flags=("noscript", "loading", "stale", "fast", "no_auth", "sentinel",
                            "allow_busy"),
         group="connection", route=CONN, since="1.0.0",
         summary="Authenticates the connection.", syntax="[username] password",
         complexity="O(N) where N is the number of passwords defined for the user",
         acl=("@fast", "@connection"))
def cmd_auth(conn, argv):
    # users, passwords and the NOAUTH/WRONGPASS rules are all server/acl.py's
    from server.acl import auth_command
    return auth_command(conn, argv)


# ------------------------------------------------------------------ the guard

class _Pause:
    """CLIENT PAUSE state (loop-owned): until ``end`` (monotonic seconds),
    requests of ``mode`` ("all" or "write") are parked; ``held`` are the
    connections with parked requests (each holds one barrier count)."""

    def __init__(self):
        self.end = 0.0
        self.mode = None
        self.timer = None
        self.held: dict = {}


def _pause_state(server) -> _Pause:
    st = server.extensions.get("client_pause")
    if st is None:
        st = server.extensions["client_pause"] = _Pause()
    return st


def _is_write(conn, spec) -> bool:
    flags = spec.flags
    if "write" in flags or "may_replicate" in flags:
        return True
    if spec.name == "exec" and conn.multi:
        return any("write" in s.flags or "may_replicate" in s.flags for s, _ in conn.multi)
    return False


_SWALLOW = Raw(b"")   # a guard reply that writes nothing: the request was parked


def pause_guard(conn, spec, argv):
    """CLIENT PAUSE's part of server.guard (server/acl.py's guard calls it after
    its own NOAUTH/NOPERM checks, the order Redis uses).

    A paused request is put back at the front of the connection's parked
    queue and the connection takes one barrier count, so it and everything
    after it wait, in order; `_unpause` releases them.  The empty reply keeps
    the sequencer's one-entry-per-request invariant without writing bytes."""
    st = conn.server.extensions.get("client_pause")
    if st is not None and st.mode is not None:
        if st.mode == "all" or (_is_write(conn, spec) and conn.multi is None) or (
                spec.name == "exec" and _is_write(conn, spec)):
            if conn.id not in st.held:
                st.held[conn.id] = conn
                conn.barrier += 1
            conn.parked.appendleft(argv)
            conn.cmds_processed -= 1       # counted again when it runs
            return _SWALLOW
    return None


def pause_active(server) -> bool:
    st = server.extensions.get("client_pause")
    return st is not None and st.mode is not None


def refresh_guards(server) -> None:
    """Recompute every connection's ``guarded`` (after a pause starts or ends):
    server.guard_applies is server/acl.py's, which includes `pause_active`."""
    for c in server.clients.values():
        c.guarded = server.guard_applies(c)


# ------------------------------------------------------------------ CLIENT

@command("client", -2, group="connection", route=CONN, since="2.4.0",
         summary="A container for client connection commands.", syntax="",
         complexity="Depends on subcommand.")
def cmd_client(conn, argv):
    raise CommandError("ERR unknown subcommand")


_CLIENT_FLAGS = ("noscript", "loading", "stale")
_CLIENT_ADMIN = ("admin", "noscript", "loading", "stale")
_ACL_CONN = ("@slow", "@connection")
_ACL_ADMIN = ("@admin", "@slow", "@dangerous", "@connection")


@subcommand("client", "id", 2, flags=_CLIENT_FLAGS, since="5.0.0",
            summary="Returns the unique client ID of the connection.", acl=_ACL_CONN)
def cmd_client_id(conn, argv):
    return conn.id


@subcommand("client", "getname", 2, flags=_CLIENT_FLAGS, since="2.6.9",
            summary="Returns the name of the connection.", acl=_ACL_CONN)
def cmd_client_getname(conn, argv):
    return conn.name or None


@subcommand("client", "setname", 3, flags=_CLIENT_FLAGS, since="2.6.9",
            summary="Sets the connection name.", syntax="connection-name", acl=_ACL_CONN)
def cmd_client_setname(conn, argv):
    _check_name(argv[2])
    conn.name = argv[2]
    return OK


@subcommand("client", "setinfo", 4, flags=_CLIENT_FLAGS, since="7.2.0",
            summary="Sets information specific to the client or connection.",
            syntax="LIB-NAME libname | LIB-VER libver", acl=_ACL_CONN)
def cmd_client_setinfo(conn, argv):
    attr = argv[2].upper()
    if attr not in (b"LIB-NAME", b"LIB-VER"):
        raise CommandError("ERR Unrecognized option '%s'" % argv[2].decode("utf-8", "replace"))
    v = argv[3]
    if any(c < 33 or c > 126 for c in v):
        raise CommandError("ERR %s cannot contain spaces, newlines or special characters."
                           % attr.decode())
    if attr == b"LIB-NAME":
        conn.lib_name = v
    else:
        conn.lib_ver = v
    return OK


@subcommand("client", "maint_notifications", -3, flags=_CLIENT_FLAGS, since="8.0.0",
            summary="Enables or disables maintenance notifications (not supported).",
            syntax="ON | OFF [option value [option value ...]]", acl=_ACL_CONN)
def cmd_client_maint(conn, argv):
    # redis-py 8 sends this on connect and ignores an error: there are no
    # maintenance events here, so it is refused like an older Redis would.
    raise CommandError("ERR unknown subcommand 'maint_notifications'. Try CLIENT HELP.")


def _client_type(c) -> bytes:
    return b"pubsub" if (c.subs or c.psubs or c.ssubs) else b"normal"


_TYPES = {b"normal": b"normal", b"master": b"master", b"replica": b"replica",
          b"slave": b"replica", b"pubsub": b"pubsub"}


def _parse_type(v: bytes) -> bytes:
    t = _TYPES.get(v.lower())
    if t is None:
        raise CommandError("ERR Unknown client type '%s'" % v.decode("utf-8", "replace"))
    return t


def _line(c) -> str:
    return c.info_line().replace("cmd=" + c.last_cmd.decode("utf-8", "replace"),
                                 "cmd=" + c.last_cmd.decode("utf-8", "replace").lower(), 1)


@subcommand("client", "list", -2, flags=_CLIENT_ADMIN, since="2.4.0",
            summary="Lists open connections.",
            syntax="[TYPE NORMAL | MASTER | REPLICA | PUBSUB] [ID client-id [client-id ...]]",
            complexity="O(N) where N is the number of client connections",
            acl=_ACL_ADMIN)
def cmd_client_list(conn, argv):
    clients = list(conn.server.clients.values())
    i = 2
    while i < len(argv):
        opt = argv[i].upper()
        if opt == b"TYPE" and i + 1 < len(argv):
            t = _parse_type(argv[i + 1])
            clients = [c for c in clients if _client_type(c) == t]
            i += 2
        elif opt == b"ID" and i + 1 < len(argv):
            ids = set()
            for a in argv[i + 1:]:
                try:
                    n = parse_int(a)
                except CommandError:
                    raise CommandError("ERR Invalid client ID") from None
                if n <= 0:
                    raise CommandError("ERR Invalid client ID")
                ids.add(n)
            clients = [c for c in clients if c.id in ids]
            i = len(argv)
        else:
            raise CommandError(SYNTAX)
    return Verbatim("".join(_line(c) + "\n" for c in clients).encode())


@subcommand("client", "info", 2, flags=_CLIENT_FLAGS, since="6.2.0",
            summary="Returns information about the connection.", acl=_ACL_CONN)
def cmd_client_info(conn, argv):
    return Verbatim((_line(conn) + "\n").encode())


@subcommand("client", "kill", -3, flags=_CLIENT_ADMIN, since="2.4.0",
            summary="Terminates open connections.",
            syntax="ip:port | [ID client-id] [TYPE NORMAL | MASTER | SLAVE | REPLICA | PUBSUB] "
                   "[USER username] [ADDR ip:port] [LADDR ip:port] [SKIPME YES | NO] "
                   "[MAXAGE maxage]",
            complexity="O(N) where N is the number of client connections",
            acl=_ACL_ADMIN)
def cmd_client_kill(conn, argv):
    clients = conn.server.clients
    if len(argv) == 3:
        # old form: CLIENT KILL ip:port -> OK or an error
        addr = argv[2].decode("utf-8", "replace")
        for c in list(clients.values()):
            if c.addr == addr:
                _kill(conn, c)
                return OK
        raise CommandError("ERR No such client")
    if len(argv) % 2:
        raise CommandError(SYNTAX)
    tests = []
    skipme = True
    for i in range(2, len(argv), 2):
        opt, v = argv[i].upper(), argv[i + 1]
        if opt == b"ID":
            try:
                cid = parse_int(v)
            except CommandError:
                cid = 0
            if cid <= 0:
                raise CommandError("ERR client-id should be greater than 0")
            tests.append(lambda c, cid=cid: c.id == cid)
        elif opt == b"TYPE":
            t = _parse_type(v)
            tests.append(lambda c, t=t: _client_type(c) == t)
        elif opt == b"ADDR":
            a = v.decode("utf-8", "replace")
            tests.append(lambda c, a=a: c.addr == a)
        elif opt == b"LADDR":
            a = v.decode("utf-8", "replace")
            tests.append(lambda c, a=a: c.laddr == a)
        elif opt == b"USER":
            tests.append(lambda c, u=v: c.user == u)
        elif opt == b"SKIPME":
            if v.lower() == b"yes":
                skipme = True
            elif v.lower() == b"no":
                skipme = False
            else:
                raise CommandError(SYNTAX)
        elif opt == b"MAXAGE":
            try:
                age = parse_int(v)
            except CommandError:
                raise CommandError(SYNTAX) from None
            now = time.time()
            tests.append(lambda c, age=age, now=now: now - c.created >= age)
        else:
            raise CommandError(SYNTAX)
    killed = 0
    for c in list(clients.values()):
        if skipme and c is conn:
            continue
        if all(t(c) for t in tests):
            _kill(conn, c)
            killed += 1
    return killed


def _kill(me, c) -> None:
    if c is me:
        # the reply to this CLIENT KILL is still written, then the connection closes
        c.closing = True
    else:
        c.kill()


@subcommand("client", "no-evict", 3, flags=_CLIENT_ADMIN, since="7.0.0",
            summary="Sets the client eviction mode of the connection.", syntax="ON | OFF",
            acl=_ACL_ADMIN)
def cmd_client_no_evict(conn, argv):
    v = argv[2].lower()
    if v not in (b"on", b"off"):
        raise CommandError(SYNTAX)
    conn.no_evict = v == b"on"
    return OK


@subcommand("client", "no-touch", 3, flags=_CLIENT_FLAGS, since="7.2.0",
            summary="Controls whether commands sent by the client affect the LRU/LFU of "
                    "accessed keys.", syntax="ON | OFF", acl=_ACL_CONN)
def cmd_client_no_touch(conn, argv):
    v = argv[2].lower()
    if v not in (b"on", b"off"):
        raise CommandError(SYNTAX)
    conn.no_touch = v == b"on"
    return OK


class MutingSequencer(ReplySequencer):
    """A connection's sequencer after CLIENT REPLY OFF/SKIP: shares the same
    entry queue (the connection may hold a bound ``entries.append``), counts
    entries as they are drained, and drops the replies whose position falls in
    a muted range [start, end) (end None: until CLIENT REPLY ON).  Batch
    entries are still taken so the batch's reply cursor stays in step."""

    __slots__ = ("drained", "muted")

    def __init__(self, entries):
        super().__init__()
        self.entries = entries
        self.drained = 0
        self.muted: list[list] = []

    def position(self) -> int:
        """Absolute position of the next entry appended."""
        return self.drained + len(self.entries)

    def is_muted(self, pos: int) -> bool:
        for start, end in self.muted:
            if start <= pos and (end is None or pos < end):
                return True
        return False

    def drain(self) -> list[bytes]:
        q = self.entries
        out = []
        while q:
            e = q[0]
            if isinstance(e, bytes):
                r = e
            else:
                r = e.take()
                if r is None:
                    break
            q.popleft()
            if not self.is_muted(self.drained):
                out.append(r)
            self.drained += 1
        self.muted = [m for m in self.muted if m[1] is None or m[1] > self.drained]
        return out


@subcommand("client", "reply", 3, flags=_CLIENT_FLAGS, since="3.2.0",
            summary="Instructs the server whether to reply to commands.",
            syntax="ON | OFF | SKIP", acl=_ACL_CONN)
def cmd_client_reply(conn, argv):
    mode = argv[2].lower()
    if mode not in (b"on", b"off", b"skip"):
        raise CommandError(SYNTAX)
    seq = conn.seq
    if not isinstance(seq, MutingSequencer):
        if mode == b"on":
            return OK
        seq = conn.seq = MutingSequencer(seq.entries)
    # this command's own reply will be the next entry appended
    pos = seq.position()
    off = seq.muted and seq.muted[-1][1] is None
    if mode == b"on":
        if off:
            seq.muted[-1][1] = pos          # ON's own +OK is sent
        return OK
    if mode == b"off":
        if not off:
            seq.muted.append([pos, None])
    elif not off:                           # SKIP: this reply and the next command's
        seq.muted.append([pos, pos + 2])
    return OK


@subcommand("client", "pause", -3, flags=_CLIENT_ADMIN, since="3.0.0",
            summary="Suspends commands processing.", syntax="timeout [WRITE | ALL]",
            complexity="O(1)", acl=_ACL_ADMIN)
def cmd_client_pause(conn, argv):
    try:
        ms = parse_int(argv[2])
    except CommandError:
        raise CommandError("ERR timeout is not an integer or out of range") from None
    if ms < 0:
        raise CommandError("ERR timeout is negative")
    mode = "all"
    if len(argv) == 4:
        m = argv[3].upper()
        if m == b"WRITE":
            mode = "write"
        elif m != b"ALL":
            raise CommandError("ERR CLIENT PAUSE mode must be WRITE or ALL")
    elif len(argv) > 4:
        raise CommandError(SYNTAX)
    server = conn.server
    st = _pause_state(server)
    end = time.monotonic() + ms / 1000.0
    # like Redis: a pause never shortens one in force, and ALL wins over WRITE
    if st.mode is not None:
        end = max(end, st.end)
        if st.mode == "all":
            mode = "all"
    st.mode, st.end = mode, end
    if st.timer is not None:
        st.timer.cancel()
    st.timer = server.loop.call_at(server.loop.time() + (end - time.monotonic()),
                                   _unpause, server)
    for c in server.clients.values():
        c.guarded = True
    return OK


def _unpause(server) -> None:
    st = _pause_state(server)
    if st.timer is not None:
        st.timer.cancel()
        st.timer = None
    st.mode = None
    held, st.held = st.held, {}
    refresh_guards(server)
    for c in held.values():
        c.barrier -= 1
        if not c.closed:
            c.resume_parked()
            c.flush()


@subcommand("client", "unpause", 2, flags=_CLIENT_ADMIN, since="6.2.0",
            summary="Resumes processing of clients that were paused.",
            complexity="O(N) Where N is the number of paused clients", acl=_ACL_ADMIN)
def cmd_client_unpause(conn, argv):
    _unpause(conn.server)
    return OK


_CLIENT_HELP = [
    "CLIENT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "CACHING (YES|NO)",
    "    Enable/disable tracking of the keys for next command in OPTIN/OPTOUT modes.",
    "GETREDIR",
    "    Return the client ID we are redirecting to when tracking is enabled.",
    "GETNAME",
    "    Return the name of the current connection.",
    "ID",
    "    Return the ID of the current connection.",
    "INFO",
    "    Return information about the current client connection.",
    "KILL <ip:port>",
    "    Kill connection made from <ip:port>.",
    "KILL <option> <value> [<option> <value> [...]]",
    "    Kill connections. Options are:",
    "    * ADDR (<ip:port>|<unixsocket>:0)",
    "      Kill connections made from the specified address",
    "    * LADDR (<ip:port>|<unixsocket>:0)",
    "      Kill connections made to specified local address",
    "    * TYPE (NORMAL|MASTER|REPLICA|PUBSUB)",
    "      Kill connections by type.",
    "    * USER <username>",
    "      Kill connections authenticated by <username>.",
    "    * SKIPME (YES|NO)",
    "      Skip killing current connection (default: yes).",
    "    * ID <client-id>",
    "      Kill connections by client id.",
    "    * MAXAGE <maxage>",
    "      Kill connections older than the specified age.",
    "LIST [options ...]",
    "    Return information about client connections. Options:",
    "    * TYPE (NORMAL|MASTER|REPLICA|PUBSUB)",
    "      Return clients of specified type.",
    "UNPAUSE",
    "    Stop the current client pause, resuming traffic.",
    "PAUSE <timeout> [WRITE|ALL]",
    "    Suspend all, or just write, clients for <timeout> milliseconds.",
    "REPLY (ON|OFF|SKIP)",
    "    Control the replies sent to the current connection.",
    "SETNAME <name>",
    "    Assign the name <name> to the current connection.",
    "SETINFO <option> <value>",
    "    Set client meta attr. Options are:",
    "    * LIB-NAME: the client lib name.",
    "    * LIB-VER: the client lib version.",
    "TRACKING (ON|OFF) [REDIRECT <id>] [BCAST] [PREFIX <prefix> [...]]",
    "         [OPTIN] [OPTOUT] [NOLOOP]",
    "    Control server assisted client side caching.",
    "TRACKINGINFO",
    "    Report tracking status for the current connection.",
    "NO-EVICT (ON|OFF)",
    "    Protect current client connection from eviction.",
    "NO-TOUCH (ON|OFF)",
    "    Will not touch LRU/LFU stats when this mode is on.",
    "HELP",
    "    Prints this help.",
]


@subcommand("client", "help", 2, flags=("loading", "stale"), since="5.0.0",
            summary="Returns helpful text about the different subcommands.", acl=_ACL_CONN)
def cmd_client_help(conn, argv):
    return [Status(x.encode()) for x in _CLIENT_HELP]


# ------------------------------------------------------------------ CLIENT TRACKING
# (server/tracking.py holds the state and the invalidation machinery)

@subcommand("client", "tracking", -3, flags=_CLIENT_FLAGS, since="6.0.0",
            summary="Enable or disable server assisted client side caching support",
            syntax="ON | OFF [REDIRECT client-id] [PREFIX prefix [PREFIX prefix ...]] "
                   "[BCAST] [OPTIN] [OPTOUT] [NOLOOP]",
            complexity="O(1). Some options may introduce additional complexity.",
            acl=_ACL_CONN)
def cmd_client_tracking(conn, argv):
    from server.tracking import client_tracking
    return client_tracking(conn, argv)


@subcommand("client", "caching", 3, flags=_CLIENT_FLAGS, since="6.0.0",
            summary="Instructs the server about tracking or not keys in the next request",
            syntax="YES | NO", acl=_ACL_CONN)
def cmd_client_caching(conn, argv):
    from server.tracking import client_caching
    return client_caching(conn, argv)


@subcommand("client", "getredir", 2, flags=_CLIENT_FLAGS, since="6.0.0",
            summary="Get tracking notifications redirection client ID if any", acl=_ACL_CONN)
def cmd_client_getredir(conn, argv):
    from server.tracking import client_getredir
    return client_getredir(conn, argv)


@subcommand("client", "trackinginfo", 2, flags=_CLIENT_FLAGS, since="6.2.0",
            summary="Return information about server assisted client side caching for the "
                    "current connection", acl=_ACL_CONN)
def cmd_client_trackinginfo(conn, argv):
    from server.tracking import client_trackinginfo
    return client_trackinginfo(conn, argv)
