"""Users, passwords, ACL rules and the command guard (Redis 7.0's acl.c).

All ACL state lives on the event loop (`Acl`, one per server in
``server.extensions["acl"]``); shards never read it.  Connections check it
through ``server.guard(conn, spec, argv)``, which `Client.execute` calls after
the arity check and before dispatch, but only while ``conn.guarded`` is true.

Invariant: ``conn.guarded`` is false exactly when the connection is
authenticated as an enabled user with full access (``+@all ~* &*``), so the
common case (no password, default user unrestricted) pays nothing: the
connection stays on the inlined fast path.  Every change to a user (SETUSER,
DELUSER, CONFIG SET requirepass) recomputes ``guarded`` for the connections
logged in as that user, because Redis applies rule changes to live
connections immediately.

Permissions are kept per *command unit*: a plain command (``get``) or one
subcommand of a container (``config|get``).  Categories come from the command
table through `server.commands.introspection.acl_categories`, the same mapping
COMMAND INFO reports, so ``ACL CAT`` and enforcement always agree.
"""

from __future__ import annotations

import hashlib
import ipaddress
import time

from .protocol import CommandError, Err
from .table import TABLE

__all__ = ["Acl", "User", "install", "acl_of", "auth", "auth_command",
           "apply_auth_config", "protected_mode_denies", "DENIED_PROTECTED",
           "NOAUTH", "WRONGPASS"]

NOAUTH = Err(b"NOAUTH Authentication required.")
WRONGPASS = "WRONGPASS invalid username-password pair or user is disabled."
DENIED_PROTECTED = (
    b"-DENIED Redis is running in protected mode because protected mode is enabled and no "
    b"password is set for the default user. In this mode connections are only accepted from "
    b"the loopback interface. If you want to connect from external computers to Redis you "
    b"may adopt one of the following solutions: 1) Just disable protected mode sending the "
    b"command 'CONFIG SET protected-mode no' from the loopback interface by connecting to "
    b"Redis from the same host the server is running, however MAKE SURE Redis is not "
    b"publicly accessible from internet if you do so. Use CONFIG REWRITE to make this change "
    b"permanent. 2) Alternatively you can just disable the protected mode by editing the "
    b"Redis configuration file, and setting the protected mode option to 'no', and then "
    b"restarting the server. 3) If you started the server manually just for testing, restart "
    b"it with the '--protected-mode no' option. 4) Setup a an authentication password for the "
    b"default user. NOTE: You only need to do one of the above things in order for the server "
    b"to start accepting connections from the outside.\r\n")

# ACLSetUserStringError's reasons, by the errno Redis uses internally
E_SYNTAX = "Syntax error"
E_UNKNOWN = "Unknown command or category name in ACL"
E_ALLKEYS = ("Adding a pattern after the * pattern (or the 'allkeys' flag) is not valid and "
             "does not have any effect. Try 'resetkeys' to start with an empty list of patterns")
E_ALLCHANNELS = ("Adding a pattern after the * pattern (or the 'allchannels' flag) is not "
                 "valid and does not have any effect. Try 'resetchannels' to start with an "
                 "empty list of channels")
E_NOPASS = "The password you are trying to remove from the user does not exist"
E_HASH = ("The password hash must be exactly 64 characters and contain only lowercase "
          "hexadecimal characters")
E_SUBFIRSTARG = "Allowing first-arg of a subcommand is not supported"


class RuleError(Exception):
    pass


# Commands allowed before authentication: Redis's CMD_NO_AUTH flag, plus the
# ones Redis 7.0 flags no_auth whose declarations here may lack it.
NO_AUTH_NAMES = {"auth", "hello", "quit", "reset"}

# Write commands that only overwrite or remove their keys (Redis's OW/RM key
# specs): they need write permission on the key, not read+write.
_WRITE_ONLY = {"set", "del", "unlink", "mset", "msetnx", "setex", "psetex"}

# Pub/Sub commands and how their arguments name channels.
_CHANNEL_ARGS = {"publish": "one", "spublish": "one", "subscribe": "all",
                 "ssubscribe": "all", "psubscribe": "patterns"}


def sha256_hex(password: bytes) -> str:
    return hashlib.sha256(password).hexdigest()


# ---------------------------------------------------------------- categories

class Catalog:
    """Command units and categories, built once from the command table."""

    def __init__(self):
        from .commands.introspection import ACL_ORDER, acl_categories
        self.order = list(ACL_ORDER)
        self.units: list[str] = []              # table order
        self.by_cat: dict[str, set[str]] = {c: set() for c in ACL_ORDER}
        self.containers: dict[str, list[str]] = {}
        self.specs: dict[str, object] = {}
        for spec in TABLE.values():
            if spec.subcommands:
                subs = []
                for sub in spec.subcommands.values():
                    subs.append(sub.name)
                    self._add(sub, acl_categories(sub))
                self.containers[spec.name] = subs
            else:
                self._add(spec, acl_categories(spec))
        self.all = frozenset(self.units)

    def _add(self, spec, cats) -> None:
        self.units.append(spec.name)
        self.specs[spec.name] = spec
        for c in cats:
            self.by_cat.setdefault(c.lstrip("@"), set()).add(spec.name)


# ---------------------------------------------------------------- users

class User:
    __slots__ = ("name", "enabled", "nopass", "passwords", "allowed", "allcommands",
                 "firstargs", "allkeys", "keys", "allchannels", "channels")

    def __init__(self, name: bytes):
        self.name = name
        self.enabled = False
        self.nopass = False
        self.passwords: list[str] = []          # sha256 hex, insertion order
        self.allowed: set[str] = set()          # command units
        self.allcommands = False                 # Redis's "future commands" bit
        self.firstargs: dict[str, list[bytes]] = {}
        self.allkeys = False
        self.keys: list[tuple[bytes, str]] = []  # (pattern, "R" | "W" | "RW")
        self.allchannels = False
        self.channels: list[bytes] = []

    def copy(self) -> "User":
        u = User(self.name)
        for a in self.__slots__:
            v = getattr(self, a)
            if isinstance(v, (list, set)):
                v = type(v)(v)
            elif isinstance(v, dict):
                v = {k: list(x) for k, x in v.items()}
            setattr(u, a, v)
        return u

    def full_access(self, catalog: Catalog) -> bool:
        return (self.enabled and self.allcommands and self.allkeys and self.allchannels
                and len(self.allowed) == len(catalog.all))

    def check_password(self, password: bytes) -> bool:
        return self.nopass or sha256_hex(password) in self.passwords

    # -------------------------------------------------------- rules (ACLSetUser)
    def apply(self, op: bytes, catalog: Catalog) -> None:
        low = op.lower()
        if low == b"on":
            self.enabled = True
        elif low == b"off":
            self.enabled = False
        elif low == b"nopass":
            self.nopass = True
            self.passwords = []
        elif low == b"resetpass":
            self.nopass = False
            self.passwords = []
        elif low == b"allkeys" or op == b"~*":
            self.allkeys = True
            self.keys = []
        elif low == b"resetkeys":
            self.allkeys = False
            self.keys = []
        elif low == b"allchannels" or op == b"&*":
            self.allchannels = True
            self.channels = []
        elif low == b"resetchannels":
            self.allchannels = False
            self.channels = []
        elif low in (b"allcommands", b"+@all"):
            self.allcommands = True
            self.allowed = set(catalog.all)
            self.firstargs = {}
        elif low in (b"nocommands", b"-@all"):
            self.allcommands = False
            self.allowed = set()
            self.firstargs = {}
        elif low == b"reset":
            for r in (b"resetpass", b"resetkeys", b"resetchannels", b"off", b"-@all"):
                self.apply(r, catalog)
        elif op[:1] == b">":
            h = sha256_hex(op[1:])
            if h not in self.passwords:
                self.passwords.append(h)
            self.nopass = False
        elif op[:1] == b"#":
            h = op[1:].decode("latin-1")
            if len(h) != 64 or any(c not in "0123456789abcdef" for c in h):
                raise RuleError(E_HASH)
            if h not in self.passwords:
                self.passwords.append(h)
            self.nopass = False
        elif op[:1] in (b"<", b"!"):
            h = sha256_hex(op[1:]) if op[:1] == b"<" else op[1:].decode("latin-1")
            if op[:1] == b"!" and (len(h) != 64 or any(c not in "0123456789abcdef" for c in h)):
                raise RuleError(E_HASH)
            if h not in self.passwords:
                raise RuleError(E_NOPASS)
            self.passwords.remove(h)
        elif op[:1] == b"~":
            if self.allkeys:
                raise RuleError(E_ALLKEYS)
            self._add_key(op[1:], "RW")
        elif op[:1] == b"%":
            # %R~pattern, %W~pattern, %RW~pattern
            if self.allkeys:
                raise RuleError(E_ALLKEYS)
            perm, tilde, pat = op[1:].partition(b"~")
            p = perm.upper()
            if not tilde or not p or any(c not in b"RW" for c in p):
                raise RuleError(E_SYNTAX)
            self._add_key(pat, ("R" if b"R" in p else "") + ("W" if b"W" in p else ""))
        elif op[:1] == b"&":
            if self.allchannels:
                raise RuleError(E_ALLCHANNELS)
            if op[1:] not in self.channels:
                self.channels.append(op[1:])
        elif op[:2] in (b"+@", b"-@"):
            cat = low[2:].decode("latin-1")
            units = catalog.by_cat.get(cat)
            if units is None:
                raise RuleError(E_UNKNOWN)
            if op[:1] == b"+":
                self.allowed |= units
            else:
                self.allowed -= units
            for u in units:
                self.firstargs.pop(u, None)
        elif op[:1] in (b"+", b"-"):
            self._command_rule(op[:1] == b"+", low[1:].decode("latin-1"), op[1:], catalog)
        elif op[:1] == b"(" or low == b"clearselectors":
            # selectors (Redis 7 "(...)" rule groups) are not implemented
            raise RuleError(E_SYNTAX)
        else:
            raise RuleError(E_SYNTAX)

    def _add_key(self, pat: bytes, perm: str) -> None:
        for i, (p, old) in enumerate(self.keys):
            if p == pat:
                merged = "".join(c for c in "RW" if c in old or c in perm)
                self.keys[i] = (p, merged)
                return
        self.keys.append((pat, perm))

    def _command_rule(self, allow: bool, name: str, raw: bytes, catalog: Catalog) -> None:
        if name in catalog.containers:
            units = catalog.containers[name]
        elif name in catalog.specs:
            units = [name]
        elif "|" in name:
            # cmd|sub of a container, or cmd|firstarg of a plain command
            parent, _, rest = name.partition("|")
            if parent in catalog.containers:
                if "|" in rest:
                    raise RuleError(E_SUBFIRSTARG)
                if name not in catalog.specs:
                    raise RuleError(E_UNKNOWN)
                units = [name]
            elif parent in catalog.specs and allow:
                if "|" in rest:
                    raise RuleError(E_SUBFIRSTARG)
                if parent not in self.allowed:
                    arg = raw.partition(b"|")[2].lower()
                    args = self.firstargs.setdefault(parent, [])
                    if arg not in args:
                        args.append(arg)
                return
            else:
                raise RuleError(E_UNKNOWN)
        else:
            raise RuleError(E_UNKNOWN)
        for u in units:
            self.firstargs.pop(u, None)
            if allow:
                self.allowed.add(u)
            else:
                self.allowed.discard(u)

    # -------------------------------------------------------- description
    def describe_commands(self, catalog: Catalog) -> str:
        """Redis 7.0's ACLDescribeSelectorCommandRules: +@all or -@all, then each
        category that covers more than it misses, then single commands."""
        additive = not self.allcommands
        rules = ["-@all" if additive else "+@all"]
        fake = set() if additive else set(catalog.all)
        for cat in catalog.order:
            units = catalog.by_cat.get(cat, set())
            on = len(units & self.allowed)
            off = len(units) - on
            if (additive and on > off) or (not additive and off > on):
                rules.append(("+@" if additive else "-@") + cat)
                if additive:
                    fake |= units
                else:
                    fake -= units
        for u in catalog.units:
            mine = u in self.allowed
            if mine != (u in fake):
                rules.append(("+" if mine else "-") + u)
            elif not mine:
                base = u
                for arg in self.firstargs.get(base, ()):
                    rules.append(f"+{base}|{arg.decode('latin-1')}")
        return " ".join(rules)

    def describe_keys(self) -> str:
        if self.allkeys:
            return "~*"
        out = []
        for pat, perm in self.keys:
            prefix = "~" if perm == "RW" else f"%{perm}~"
            out.append(prefix + pat.decode("latin-1"))
        return " ".join(out)

    def describe_channels(self) -> str:
        if self.allchannels:
            return "&*"
        return " ".join("&" + c.decode("latin-1") for c in self.channels)

    def flags(self) -> list[str]:
        out = ["on" if self.enabled else "off"]
        if self.nopass:
            out.append("nopass")
        return out

    def describe(self, catalog: Catalog) -> str:
        parts = ["user", self.name.decode("latin-1"), *self.flags()]
        parts += ["#" + h for h in self.passwords]
        keys = self.describe_keys()
        if keys:
            parts.append(keys)
        if self.allchannels:
            parts.append("&*")
        else:
            parts.append("resetchannels")
            if self.channels:
                parts.append(self.describe_channels())
        parts.append(self.describe_commands(catalog))
        return " ".join(parts)

    # -------------------------------------------------------- checks
    def command_allowed(self, spec, argv) -> bool:
        name = spec.name
        if name in self.allowed:
            return True
        args = self.firstargs.get(name)
        return bool(args) and len(argv) > 1 and argv[1].lower() in args

    def key_allowed(self, key: bytes, need: str) -> bool:
        from .commands.util import glob_match
        for pat, perm in self.keys:
            if all(c in perm for c in need) and glob_match(pat, key):
                return True
        return False

    def channel_allowed(self, channel: bytes, literal: bool) -> bool:
        if self.allchannels:
            return True
        if literal:       # PSUBSCRIBE: the pattern must be one of the user's
            return channel in self.channels
        from .commands.util import glob_match
        return any(glob_match(p, channel) for p in self.channels)


def _key_need(spec) -> str:
    flags = spec.flags
    if "write" in flags:
        return "W" if spec.name in _WRITE_ONLY else "RW"
    return "R"


def check_permissions(user: User, spec, argv) -> tuple[str, bytes] | None:
    """None if allowed, else (reason, object): reason is command/key/channel,
    in Redis's order (command first, then keys, then channels)."""
    if not user.command_allowed(spec, argv):
        return "command", spec.name.encode()
    if not user.allkeys and (spec.first_key or spec.key_fn is not None):
        try:
            keys = spec.keys(argv)
        except Exception:  # noqa: BLE001 - malformed arguments: the handler reports them
            keys = []
        need = _key_need(spec)
        for k in keys:
            if not user.key_allowed(k, need):
                return "key", k
    kind = _CHANNEL_ARGS.get(spec.name)
    if kind is not None and not user.allchannels:
        chans = argv[1:2] if kind == "one" else argv[1:]
        for ch in chans:
            if not user.channel_allowed(ch, kind == "patterns"):
                return "channel", ch
    return None


def noperm_error(reason: str, spec) -> Err:
    if reason == "command":
        return Err(b"NOPERM this user has no permissions to run the '%b' command"
                   % spec.name.encode())
    if reason == "key":
        return Err(b"NOPERM this user has no permissions to access one of the keys used "
                   b"as arguments")
    return Err(b"NOPERM this user has no permissions to access one of the channels used "
               b"as arguments")


# ---------------------------------------------------------------- the registry

class Acl:
    LOG_MAX = 128                  # acllog-max-len
    GROUP_WINDOW_MS = 60000        # similar entries within a minute are grouped

    def __init__(self, server):
        self.server = server
        self.catalog = Catalog()
        default = User(b"default")
        for r in (b"on", b"nopass", b"~*", b"&*", b"+@all"):
            default.apply(r, self.catalog)
        self.users: dict[bytes, User] = {b"default": default}
        self.requirepass_seen = ""
        self.default_restricted = False   # new connections must be guarded
        self.log: list[dict] = []
        self.sync_requirepass()

    # The default user's password follows `requirepass` (CONFIG SET
    # requirepass replaces it, an empty one makes the user nopass).
    def sync_requirepass(self) -> None:
        pw = self.server.config.requirepass or ""
        if pw == self.requirepass_seen:
            return
        self.requirepass_seen = pw
        d = self.users[b"default"]
        d.passwords = []
        if pw:
            d.nopass = False
            d.apply(b">" + pw.encode(), self.catalog)
        else:
            d.nopass = True
        self.user_changed(b"default")

    def user_changed(self, name: bytes) -> None:
        """Recompute the guard state of new and live connections of ``name``."""
        d = self.users[b"default"]
        self.default_restricted = not (d.full_access(self.catalog) and d.nopass)
        user = self.users.get(name)
        full = user is not None and user.full_access(self.catalog)
        for c in self.server.clients.values():
            if c.user == name and c.authenticated:
                c.guarded = not full

    def drop_user_clients(self, name: bytes) -> None:
        for c in list(self.server.clients.values()):
            if c.user == name and c.authenticated:
                c.kill()

    # -------------------------------------------------------- connection hooks
    def conn_guarded(self, conn) -> bool:
        """Whether ``conn`` must pass the guard: a connection being created
        (no ``authenticated`` yet) if the default user is restricted; a live
        one unless authenticated as a user with full access."""
        self.sync_requirepass()
        if "authenticated" not in vars(conn):
            return self.default_restricted
        if not conn.authenticated:
            return True
        user = self.users.get(conn.user)
        return user is None or not user.full_access(self.catalog)

    def on_connect(self, conn) -> None:
        """New connection: logged in as default iff that user needs no password
        (Redis's authRequired); protected mode refuses non-loopback peers."""
        d = self.users[b"default"]
        conn.user = b"default"
        conn.authenticated = d.nopass and d.enabled
        conn.guarded = not (conn.authenticated and d.full_access(self.catalog))
        st = self.server.extensions.get("client_pause")
        if st is not None and st.mode is not None:
            conn.guarded = True
        cfg = self.server.config
        if protected_mode_denies(cfg.protected_mode, d.nopass, conn.addr.rpartition(":")[0]):
            conn.transport.write(DENIED_PROTECTED)
            conn.closing = True
            conn.transport.close()

    def guard(self, conn, spec, argv):
        if not conn.authenticated:
            if spec.name in NO_AUTH_NAMES or "no_auth" in spec.flags:
                return None
            return NOAUTH
        user = self.users.get(conn.user)
        if user is None:
            return noperm_error("command", spec)
        denied = check_permissions(user, spec, argv)
        if denied is None:
            return None
        reason, obj = denied
        self.add_log(conn, reason, obj, user.name,
                     "multi" if conn.multi is not None else "toplevel")
        return noperm_error(reason, spec)

    def authenticate(self, conn, username: bytes, password: bytes) -> None:
        self.sync_requirepass()
        user = self.users.get(username)
        if user is None or not user.enabled or not user.check_password(password):
            self.add_log(conn, "auth", b"AUTH", username, "toplevel")
            raise CommandError(WRONGPASS)
        conn.user = username
        conn.authenticated = True
        conn.guarded = not user.full_access(self.catalog)

    # -------------------------------------------------------- ACL LOG
    def add_log(self, conn, reason: str, obj: bytes, username: bytes, context: str) -> None:
        now = time.time() * 1000
        for e in self.log:
            if (e["reason"] == reason and e["object"] == obj and e["username"] == username
                    and e["context"] == context and now - e["ts"] < self.GROUP_WINDOW_MS):
                e["count"] += 1
                e["ts"] = now
                e["client"] = conn.info_line()
                self.log.remove(e)
                self.log.insert(0, e)
                return
        self.log.insert(0, {"count": 1, "reason": reason, "context": context, "object": obj,
                            "username": username, "ts": now, "client": conn.info_line()})
        del self.log[self.LOG_MAX:]


def protected_mode_denies(protected_mode: bool, default_nopass: bool, host: str) -> bool:
    """Redis's clientAcceptHandlerCommon: with protected mode on and no password
    for the default user, only loopback (and unix socket) peers are accepted."""
    if not protected_mode or not default_nopass:
        return False
    host = host.strip("[]")
    if not host or host == "?":        # unix socket or unknown: local
        return False
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return False
    if ip.version == 6 and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return not ip.is_loopback


# ---------------------------------------------------------------- installation

def acl_of(server) -> Acl:
    return server.extensions["acl"]


def install(server) -> Acl:
    """Create the ACL registry and make it the server's one command guard
    (idempotent).  Authentication (NOAUTH), permissions (NOPERM) and then
    CLIENT PAUSE (server/commands/connection.py's `pause_guard`, which only
    parks requests) are checked in that order, as in Redis where ACL errors
    come before pausing.  ``guard_applies`` is the single answer to "must
    this connection be checked": restricted or unauthenticated user, or a
    pause in force."""
    acl = server.extensions.get("acl")
    if acl is not None:
        return acl
    acl = server.extensions["acl"] = Acl(server)
    from .commands.connection import pause_active, pause_guard

    def guard(conn, spec, argv):
        err = acl.guard(conn, spec, argv)
        if err is not None:
            return err
        return pause_guard(conn, spec, argv)

    def guard_applies(conn) -> bool:
        return acl.conn_guarded(conn) or pause_active(conn.server)

    server.guard = guard
    server.guard_applies = guard_applies
    server.extensions.setdefault("on_connect", []).append(acl.on_connect)
    return acl


def apply_auth_config(server) -> None:
    """Call after CONFIG SET requirepass (also done lazily on each connect)."""
    acl_of(server).sync_requirepass()


def auth(conn, username: bytes, password: bytes) -> None:
    """HELLO ... AUTH and AUTH: raises WRONGPASS, or logs the connection in."""
    acl_of(conn.server).authenticate(conn, username, password)


def auth_command(conn, argv):
    """The whole AUTH command (``AUTH [username] password``), Redis 7.0 errors."""
    from .protocol import OK
    if len(argv) not in (2, 3):
        raise CommandError("ERR syntax error")
    acl = acl_of(conn.server)
    acl.sync_requirepass()
    if len(argv) == 2:
        d = acl.users[b"default"]
        if d.nopass:
            raise CommandError("ERR AUTH <password> called without any password configured "
                               "for the default user. Are you sure your configuration is "
                               "correct?")
        acl.authenticate(conn, b"default", argv[1])
    else:
        acl.authenticate(conn, argv[1], argv[2])
    return OK
