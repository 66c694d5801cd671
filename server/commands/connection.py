"""Connection commands: run on the event loop against the `Client` state."""

from __future__ import annotations

from server.protocol import OK, PONG, CommandError, Raw
from server.table import Route, command

from .util import parse_int

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
    proto = conn.proto
    if len(argv) > 1:
        try:
            proto = parse_int(argv[1])
        except CommandError:
            raise CommandError("ERR Protocol version is not an integer or out of range") from None
        if proto not in (2, 3):
            raise CommandError("NOPROTO unsupported protocol version")
    i = 2
    name = None
    while i < len(argv):
        opt = argv[i].upper()
        if opt == b"AUTH" and i + 2 < len(argv):
            auth = conn.server.extensions.get("auth")
            if auth is not None:
                auth(conn, argv[i + 1], argv[i + 2])
            elif not (argv[i + 1] == b"default" and not conn.server.config.requirepass):
                if argv[i + 2].decode("utf-8", "replace") != conn.server.config.requirepass:
                    raise CommandError("WRONGPASS invalid username-password pair or user is disabled.")
            i += 3
        elif opt == b"SETNAME" and i + 1 < len(argv):
            name = argv[i + 1]
            _check_name(name)
            i += 2
        else:
            raise CommandError(f"ERR Syntax error in HELLO option '{argv[i].decode('utf-8', 'replace')}'")
    if name is not None:
        conn.name = name
    conn.set_proto(proto)
    return hello_map(conn)


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
