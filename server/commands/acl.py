"""ACL command family (Redis 7.0's acl.c aclCommand) and MEMORY USAGE/STATS.

The users and rules live in `server.acl` (loop-owned); these handlers run on
the event loop.  MEMORY reports the per-shard estimate that maxmemory
enforces (actors/memory.py), so tests and operators see the number the
eviction policy acts on.
"""

from __future__ import annotations

import os
import time

from actors.memory import key_size, memory_stats
from server.acl import RuleError, acl_of, check_permissions
from server.protocol import OK, CommandError, Status, Verbatim
from server.table import TABLE, Route, command, subcommand

from .util import parse_int

CONN = Route.CONN
_ADMIN = ("admin", "noscript", "loading", "stale")
_ACL_ADMIN = ("@admin", "@slow", "@dangerous")
_NOFILE = ("ERR This Redis instance is not configured to use an ACL file. You may want to "
           "specify users via the ACL SETUSER command and then issue a CONFIG REWRITE "
           "(assuming you have a Redis configuration file set) in order to store users in "
           "the Redis configuration.")

_HELP = [
    "ACL <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "CAT [<category>]",
    "    List all commands that belong to <category>, or all command categories",
    "    when no category is specified.",
    "DELUSER <username> [<username> ...]",
    "    Delete a list of users.",
    "DRYRUN <username> <command> [<arg> ...]",
    "    Returns whether the user can execute the given command without executing the command.",
    "GETUSER <username>",
    "    Get the user's details.",
    "GENPASS [<bits>]",
    "    Generate a secure 256-bit user password. The optional `bits` argument can",
    "    be used to specify a different size.",
    "LIST",
    "    Show users details in config file format.",
    "LOAD",
    "    Reload users from the ACL file.",
    "LOG [<count> | RESET]",
    "    Show the ACL log entries.",
    "SAVE",
    "    Save the current config to the ACL file.",
    "SETUSER <username> <attribute> [<attribute> ...]",
    "    Create or modify a user with the specified attributes.",
    "USERS",
    "    List all the registered usernames.",
    "WHOAMI",
    "    Return the current connection username.",
    "HELP",
    "    Prints this help.",
]


def _syntax(argv) -> CommandError:
    return CommandError("ERR unknown subcommand or wrong number of arguments for '%s'. "
                        "Try ACL HELP." % argv[1].decode("utf-8", "replace"))


@command("acl", -2, group="server", route=CONN, since="6.0.0",
         summary="A container for Access List Control commands.", syntax="",
         complexity="Depends on subcommand.")
def cmd_acl(conn, argv):  # pragma: no cover - subcommands only
    raise _syntax(argv)


@subcommand("acl", "setuser", -3, flags=_ADMIN, since="6.0.0", acl=_ACL_ADMIN,
            summary="Creates and modifies an ACL user and its rules.",
            syntax="username [rule [rule ...]]",
            complexity="O(N). Where N is the number of rules provided.")
def cmd_acl_setuser(conn, argv):
    acl = acl_of(conn.server)
    name = argv[2]
    if b" " in name or b"\0" in name:
        raise CommandError("ERR Usernames can't contain spaces or null characters")
    old = acl.users.get(name)
    # rules apply to a copy: the user changes only if every rule is valid
    if old is not None:
        user = old.copy()
    else:
        from server.acl import User
        user = User(name)
    for op in argv[3:]:
        try:
            user.apply(op, acl.catalog)
        except RuleError as e:
            raise CommandError("ERR Error in ACL SETUSER modifier '%s': %s"
                               % (op.decode("utf-8", "replace"), e)) from None
    acl.users[name] = user
    if name == b"default":
        # requirepass mirrors the default user's password only through CONFIG
        acl.requirepass_seen = conn.server.config.requirepass or ""
    acl.user_changed(name)
    return OK


@subcommand("acl", "getuser", 3, flags=_ADMIN, since="6.0.0", acl=_ACL_ADMIN,
            summary="Lists the ACL rules of a user.", syntax="username",
            complexity="O(N). Where N is the number of password, command and pattern rules "
                       "that the user has.")
def cmd_acl_getuser(conn, argv):
    acl = acl_of(conn.server)
    u = acl.users.get(argv[2])
    if u is None:
        return None
    return {b"flags": [f.encode() for f in u.flags()],
            b"passwords": [h.encode() for h in u.passwords],
            b"commands": u.describe_commands(acl.catalog).encode(),
            b"keys": u.describe_keys().encode(),
            b"channels": u.describe_channels().encode(),
            b"selectors": []}


@subcommand("acl", "deluser", -3, flags=_ADMIN, since="6.0.0", acl=_ACL_ADMIN,
            summary="Deletes ACL users, and terminates their connections.",
            syntax="username [username ...]",
            complexity="O(1) amortized time considering the typical user.")
def cmd_acl_deluser(conn, argv):
    acl = acl_of(conn.server)
    if any(n == b"default" for n in argv[2:]):
        raise CommandError("ERR The 'default' user cannot be removed")
    n = 0
    for name in argv[2:]:
        if acl.users.pop(name, None) is not None:
            n += 1
            acl.drop_user_clients(name)
    return n


@subcommand("acl", "list", 2, flags=_ADMIN, since="6.0.0", acl=_ACL_ADMIN,
            summary="Dumps the effective rules in ACL file format.",
            complexity="O(N). Where N is the number of configured users.")
def cmd_acl_list(conn, argv):
    acl = acl_of(conn.server)
    acl.sync_requirepass()
    return [acl.users[n].describe(acl.catalog).encode() for n in sorted(acl.users)]


@subcommand("acl", "users", 2, flags=_ADMIN, since="6.0.0", acl=_ACL_ADMIN,
            summary="Lists all ACL users.",
            complexity="O(N). Where N is the number of configured users.")
def cmd_acl_users(conn, argv):
    return sorted(acl_of(conn.server).users)


@subcommand("acl", "whoami", 2, flags=("noscript", "loading", "stale"), since="6.0.0",
            acl=("@slow",), summary="Returns the authenticated username of the current "
                                    "connection.")
def cmd_acl_whoami(conn, argv):
    return conn.user


@subcommand("acl", "cat", -2, flags=("noscript", "loading", "stale"), since="6.0.0",
            acl=("@slow",), syntax="[category]",
            summary="Lists the ACL categories, or the commands inside a category.",
            complexity="O(1) since the categories and commands are a fixed set.")
def cmd_acl_cat(conn, argv):
    acl = acl_of(conn.server)
    if len(argv) == 2:
        return [c.encode() for c in acl.catalog.order]
    if len(argv) > 3:
        raise _syntax(argv)
    cat = argv[2].lower().decode("latin-1")
    units = acl.catalog.by_cat.get(cat)
    if units is None:
        raise CommandError("ERR Unknown category '%s'" % argv[2].decode("utf-8", "replace"))
    return [u.encode() for u in acl.catalog.units if u in units]


@subcommand("acl", "log", -2, flags=_ADMIN, since="6.0.0", acl=_ACL_ADMIN,
            syntax="[count | RESET]", summary="Lists recent security events generated due "
                                              "to ACL rules.",
            complexity="O(N) with N being the number of entries shown.")
def cmd_acl_log(conn, argv):
    acl = acl_of(conn.server)
    count = 10
    if len(argv) > 3:
        raise _syntax(argv)
    if len(argv) == 3:
        if argv[2].lower() == b"reset":
            acl.log.clear()
            return OK
        count = parse_int(argv[2])
    now = time.time() * 1000
    out = []
    for e in acl.log[:max(0, count)]:
        out.append({b"count": e["count"], b"reason": e["reason"].encode(),
                    b"context": e["context"].encode(), b"object": e["object"],
                    b"username": e["username"],
                    b"age-seconds": (now - e["ts"]) / 1000.0,
                    b"client-info": e["client"].encode()})
    return out


@subcommand("acl", "dryrun", -4, flags=_ADMIN, since="7.0.0", acl=_ACL_ADMIN,
            syntax="username command [arg [arg ...]]",
            summary="Simulates the execution of a command by a user, without executing the "
                    "command.", complexity="O(1).")
def cmd_acl_dryrun(conn, argv):
    acl = acl_of(conn.server)
    user = acl.users.get(argv[2])
    if user is None:
        raise CommandError("ERR User '%s' not found" % argv[2].decode("utf-8", "replace"))
    cargv = argv[3:]
    spec = TABLE.get(cargv[0].lower())
    if spec is None:
        raise CommandError("ERR Command '%s' not found" % cargv[0].decode("utf-8", "replace"))
    if spec.subcommands and len(cargv) > 1:
        spec = spec.subcommands.get(cargv[1].lower(), spec)
    if not spec.arity_ok(len(cargv)):
        raise CommandError("ERR wrong number of arguments for '%s' command" % spec.name)
    denied = check_permissions(user, spec, cargv)
    if denied is None:
        return OK
    reason, obj = denied
    if reason == "command":
        return b"This user has no permissions to run the '%b' command" % spec.name.encode()
    return b"This user has no permissions to access the '%b' %b" % (obj, reason.encode())


@subcommand("acl", "genpass", -2, flags=("noscript", "loading", "stale"), since="6.0.0",
            acl=("@slow",), syntax="[bits]",
            summary="Generates a pseudorandom, secure password that can be used to identify "
                    "ACL users.", complexity="O(N)")
def cmd_acl_genpass(conn, argv):
    bits = 256
    if len(argv) > 3:
        raise _syntax(argv)
    if len(argv) == 3:
        try:
            bits = parse_int(argv[2])
        except CommandError:
            bits = 0
        if bits <= 0 or bits > 4096:
            raise CommandError("ERR ACL GENPASS argument must be the number of bits for the "
                               "output password, a positive number up to 4096")
    chars = (bits + 3) // 4
    return os.urandom((chars + 1) // 2).hex()[:chars].encode()


@subcommand("acl", "load", 2, flags=_ADMIN, since="6.0.0", acl=_ACL_ADMIN,
            summary="Reloads the rules from the configured ACL file.",
            complexity="O(N). Where N is the number of configured users.")
def cmd_acl_load(conn, argv):
    raise CommandError(_NOFILE)


@subcommand("acl", "save", 2, flags=_ADMIN, since="6.0.0", acl=_ACL_ADMIN,
            summary="Saves the effective ACL rules in the configured ACL file.",
            complexity="O(N). Where N is the number of configured users.")
def cmd_acl_save(conn, argv):
    raise CommandError(_NOFILE)


@subcommand("acl", "help", 2, flags=("loading", "stale"), since="6.0.0", acl=("@slow",),
            summary="Returns helpful text about the different subcommands.")
def cmd_acl_help(conn, argv):
    return [Status(line.encode()) for line in _HELP]


# ------------------------------------------------------------------ MEMORY

@command("memory", -2, group="server", route=CONN, since="4.0.0",
         summary="A container for memory diagnostics commands.", syntax="",
         complexity="Depends on subcommand.")
def cmd_memory(conn, argv):  # pragma: no cover - subcommands only
    raise CommandError("ERR unknown subcommand")


@subcommand("memory", "usage", -3, flags=("readonly",), keys=(2, 2, 1), since="4.0.0",
            route=Route.SHARD, syntax="key [SAMPLES count]",
            summary="Estimates the memory usage of a key.",
            complexity="O(N) where N is the number of samples.")
def cmd_memory_usage(db, argv):
    if len(argv) not in (3, 5):
        raise CommandError("ERR syntax error")
    if len(argv) == 5:
        if argv[3].lower() != b"samples":
            raise CommandError("ERR syntax error")
        parse_int(argv[4])
    if db.peek(argv[2]) is None:
        return None
    return key_size(db, argv[2])


@subcommand("memory", "stats", 2, since="4.0.0",
            summary="Returns details about memory usage.")
async def cmd_memory_stats(conn, argv):
    """The dataset estimate maxmemory acts on, summed over shards, with the
    per-shard parts (``shards``: used / limit / evicted / keys / oom)."""
    parts = await memory_stats(conn.server)
    used = sum(p["used"] for p in parts)
    return {b"total.allocated": used,
            b"keys.count": sum(p["keys"] for p in parts),
            b"dataset.bytes": used,
            b"evicted.keys": sum(p["evicted"] for p in parts),
            b"oom.rejections": sum(p["oom"] for p in parts),
            b"maxmemory": conn.server.config.maxmemory,
            b"shards": [{b"used": p["used"], b"limit": p["limit"], b"evicted": p["evicted"],
                         b"keys": p["keys"]} for p in parts]}


_DOCTOR_EMPTY = (
    "Hi Sam, this instance is empty or is using very little memory, "
    "my issues detector can't be used in these conditions. "
    "Please, leave for your mission on Earth and fill it with some data. "
    "The new Sam and I will be back to our programming as soon as I "
    "finished rebooting.\n")
_DOCTOR_FINE = ("Hi Sam, I can't find any memory issue in your instance. "
                "I can only account for what occurs on this base.\n")


@subcommand("memory", "doctor", 2, since="4.0.0", summary="Outputs a memory problems report.")
async def cmd_memory_doctor(conn, argv):
    """Redis's report; its detectors (fragmentation, RSS overhead, big client
    buffers) have no counterpart here, so below 5 MB it is the 'empty
    instance' text and otherwise 'no issue found', as Redis says then."""
    used = sum(p["used"] for p in await memory_stats(conn.server))
    return Verbatim((_DOCTOR_EMPTY if used < 5 * 1024 * 1024 else _DOCTOR_FINE).encode())


@subcommand("memory", "malloc-stats", 2, since="4.0.0",
            summary="Returns the allocator statistics.")
def cmd_memory_malloc_stats(conn, argv):
    # what Redis answers when built without jemalloc
    return Verbatim(b"Stats not supported for the current allocator")


@subcommand("memory", "purge", 2, since="4.0.0",
            summary="Asks the allocator to release memory.")
def cmd_memory_purge(conn, argv):
    return OK


@subcommand("memory", "help", 2, flags=("loading", "stale"), since="4.0.0",
            summary="Returns helpful text about the different subcommands.")
def cmd_memory_help(conn, argv):
    return [Status(line.encode()) for line in (
        "MEMORY <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        "DOCTOR",
        "    Return memory problems reports.",
        "MALLOC-STATS",
        "    Return internal statistics report from the memory allocator.",
        "PURGE",
        "    Attempt to purge dirty pages for reclamation by the allocator.",
        "STATS",
        "    Return information about the memory usage of the server.",
        "USAGE <key> [SAMPLES <count>]",
        "    Return memory in bytes used by <key> and its value. Nested values are",
        "    sampled up to <count> times (default: 5, 0 means sample all).",
        "HELP",
        "    Prints this help.")]
