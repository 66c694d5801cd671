"""COMMAND and its subcommands (Redis's commands.c / server.c), built from the
one command table so that COMMAND INFO, COMMAND DOCS, the redis-cli hints and
docs/commands.md can never disagree with what the server runs.

Every command Redis has carries Redis's own record (``spec.meta``, from
server/command_meta.json written by ``python -m server.gen_command_meta``):
its flags, ACL categories, legacy key triple, tips, key specs and COMMAND
DOCS record are replied as Redis replies them.  Commands Redis does not have
keep the information derived from their declaration.

Reply shapes follow Redis 7.0:

* COMMAND INFO entry: [name, arity, flags, first, last, step, acl-categories,
  tips, key-specs, subcommands]; flags and categories are sets of simple
  strings, tips a set, key specs and subcommands sets (all arrays in RESP2).
* COMMAND DOCS: map name -> map(summary, since, group, complexity,
  [arguments], [subcommands]); argument flags are sets of simple strings
  (redis-cli asserts on that).
"""

from __future__ import annotations

from server.protocol import CommandError, RSet, Status
from server.table import (TABLE, Route, command, meta_docs, meta_info, parse_syntax,
                          subcommand, subinfo_reply)

from .util import SYNTAX, glob_match

CONN = Route.CONN

# Redis's ACL category order (ACLCommandCategories): categories are listed in
# this order in COMMAND INFO.
ACL_ORDER = ("keyspace", "read", "write", "set", "sortedset", "list", "hash", "string",
             "bitmap", "hyperloglog", "geo", "stream", "pubsub", "admin", "fast", "slow",
             "blocking", "dangerous", "connection", "transaction", "scripting")

_GROUP_CATEGORY = {"generic": "keyspace", "string": "string", "list": "list", "hash": "hash",
                   "set": "set", "sorted_set": "sortedset", "bitmap": "bitmap",
                   "hyperloglog": "hyperloglog", "geo": "geo", "stream": "stream",
                   "pubsub": "pubsub", "connection": "connection",
                   "transactions": "transaction", "scripting": "scripting"}

# internal spellings of flags -> Redis's names in COMMAND INFO
_FLAG_NAMES = {"nomulti": "no_multi"}


def help_reply(lines: list[str]) -> list:
    """A HELP reply: one simple string per line, like Redis's addReplyHelp."""
    return [Status(x.encode()) for x in lines]


def info_flags(spec) -> list[str]:
    if spec.meta is not None:
        return list(spec.meta["flags"])
    out: list[str] = []
    for f in spec.flags:
        f = _FLAG_NAMES.get(f, f)
        if f not in out:
            out.append(f)
    if spec.key_fn is not None and "movablekeys" not in out:
        out.append("movablekeys")
    return out


def acl_categories(spec) -> list[str]:
    """Redis's categories; for commands Redis lacks the declared ones, else
    derived like Redis's setImplicitACLCategories plus the data-type category
    of the command's group."""
    if spec.meta is not None:
        return list(spec.meta["acl"])
    if spec.acl_categories:
        cats = {c.lstrip("@") for c in spec.acl_categories}
    elif len(spec.subcommands):
        cats = {"slow"}                       # containers: Redis lists only @slow
    else:
        flags = set(spec.flags)
        cats = set()
        if "write" in flags:
            cats.add("write")
        if "readonly" in flags:
            cats.add("read")
        if "admin" in flags:
            cats.update(("admin", "dangerous"))
        if "pubsub" in flags:
            cats.add("pubsub")
        if "blocking" in flags:
            cats.add("blocking")
        cats.add("fast" if "fast" in flags else "slow")
        g = _GROUP_CATEGORY.get(spec.group)
        if g is not None:
            cats.add(g)
    return ["@" + c for c in ACL_ORDER if c in cats]


def key_flags(spec) -> list[str]:
    f = set(spec.flags)
    if "write" in f:
        return ["RW", "update"]
    if "readonly" in f:
        return ["RO", "access"]
    return ["RO"]


def key_specs(spec) -> list[dict]:
    """One range key spec from (first, last, step); movable-key commands
    (custom key extraction and no fixed range) get an 'unknown' spec."""
    flags = RSet([Status(x.encode()) for x in key_flags(spec)])
    if spec.first_key > 0:
        last = spec.last_key - spec.first_key if spec.last_key >= 0 else spec.last_key
        return [{b"flags": flags,
                 b"begin_search": {b"type": b"index", b"spec": {b"index": spec.first_key}},
                 b"find_keys": {b"type": b"range",
                                b"spec": {b"lastkey": last, b"keystep": spec.step,
                                          b"limit": 0}}}]
    if spec.key_fn is not None:
        return [{b"flags": flags,
                 b"begin_search": {b"type": b"unknown", b"spec": {}},
                 b"find_keys": {b"type": b"unknown", b"spec": {}}}]
    return []


def command_info(spec) -> list:
    cached = spec.__dict__.get("_info_reply")
    if cached is not None:
        return cached
    subs = [command_info(s) for s in spec.subcommands.values()]
    if spec.meta is not None:
        out = meta_info(spec.name, spec.meta, subs, spec.arity)
    else:
        out = [spec.bname, spec.arity,
               RSet([Status(f.encode()) for f in info_flags(spec)]),
               spec.first_key, spec.last_key, spec.step,
               RSet([Status(c.encode()) for c in acl_categories(spec)]),
               RSet([]),
               RSet(key_specs(spec)),
               subinfo_reply(subs)]
    spec._info_reply = out
    return out


def _doc_arg(a: dict, key_index: list) -> dict:
    # field order as Redis writes it: name, type, key_spec_index, token, flags, arguments
    d = {b"name": a["name"].encode(), b"type": a["type"].encode()}
    if a["type"] == "key":
        d[b"key_spec_index"] = min(key_index[0], key_index[1])
        key_index[0] += 1
    if "token" in a:
        d[b"token"] = a["token"].encode()
    if a.get("flags"):
        d[b"flags"] = RSet([Status(f.encode()) for f in a["flags"]])
    if "arguments" in a:
        d[b"arguments"] = [_doc_arg(x, key_index) for x in a["arguments"]]
    return d


def command_docs(spec) -> dict:
    cached = spec.__dict__.get("_docs_reply")
    if cached is not None:
        return cached
    subs = {s.bname: command_docs(s) for s in spec.subcommands.values()}
    if spec.meta is not None:
        d = meta_docs(spec.meta, subs)
    else:
        d = {b"summary": spec.summary.encode(), b"since": spec.since.encode(),
             b"group": spec.group.encode(), b"complexity": spec.complexity.encode()}
        args = parse_syntax(spec.syntax)
        if args:
            nspecs = max(len(key_specs(spec)) - 1, 0)
            d[b"arguments"] = [_doc_arg(a, [0, nspecs]) for a in args]
        if subs:
            d[b"subcommands"] = subs
    spec._docs_reply = d
    return d


def lookup_spec(name: bytes):
    """A command or ``container|sub`` by name, case-insensitively."""
    name = name.lower()
    if b"|" in name:
        parent, _, sub = name.partition(b"|")
        p = TABLE.get(parent)
        return p.subcommands.get(sub) if p is not None else None
    return TABLE.get(name)


def all_specs():
    for spec in TABLE.values():
        yield spec
        yield from spec.subcommands.values()


# ------------------------------------------------------------------ COMMAND

@command("command", -1, flags=("loading", "stale"), group="server", route=CONN,
         since="2.8.13", summary="Returns detailed information about all commands.",
         complexity="O(N) where N is the total number of Redis commands",
         acl=("@slow", "@connection"), syntax="")
def cmd_command(conn, argv):
    if len(argv) == 1:
        return [command_info(s) for s in TABLE.values()]
    spec = cmd_command.spec
    sub = spec.subcommands.get(argv[1].lower())
    if sub is None:
        raise CommandError("ERR unknown subcommand '%s'. Try COMMAND HELP."
                           % argv[1][:128].decode("utf-8", "replace"))
    if not sub.arity_ok(len(argv)):
        raise CommandError(f"ERR wrong number of arguments for '{sub.name}' command")
    # count the call under its subcommand (cmdstat_command|docs), like Redis
    spec.stats[0] -= 1
    sub.stats[0] += 1
    return sub.handler(conn, argv)


class _BareContainerSubs(dict):
    """COMMAND runs bare as well as with subcommands, but `Client.execute`
    treats any container as needing a subcommand (and indexes argv[1]).  A
    falsy subcommand table makes it hand every form to `cmd_command`, which
    dispatches itself; COMMAND INFO/DOCS still list the subcommands."""

    def __bool__(self):
        return False


cmd_command.spec.subcommands = _BareContainerSubs()


@subcommand("command", "count", 2, flags=("loading", "stale"), since="2.8.13",
            summary="Returns a count of commands.", acl=("@slow", "@connection"))
def cmd_command_count(conn, argv):
    return len(TABLE)


@subcommand("command", "info", -2, flags=("loading", "stale"), since="2.8.13",
            summary="Returns information about one, multiple or all commands.",
            complexity="O(N) where N is the number of commands to look up",
            syntax="[command-name [command-name ...]]", acl=("@slow", "@connection"))
def cmd_command_info(conn, argv):
    if len(argv) == 2:
        return [command_info(s) for s in TABLE.values()]
    out = []
    for name in argv[2:]:
        spec = lookup_spec(name)
        out.append(None if spec is None else command_info(spec))
    return out


@subcommand("command", "docs", -2, flags=("loading", "stale"), since="7.0.0",
            summary="Returns documentary information about one, multiple or all commands.",
            complexity="O(N) where N is the number of commands to look up",
            syntax="[command-name [command-name ...]]", acl=("@slow", "@connection"))
def cmd_command_docs(conn, argv):
    if len(argv) == 2:
        return {s.bname: command_docs(s) for s in TABLE.values()}
    out = {}
    for name in argv[2:]:
        spec = lookup_spec(name)
        if spec is not None:          # unknown names are left out, like Redis
            out[spec.bname] = command_docs(spec)
    return out


@subcommand("command", "list", -2, flags=("loading", "stale"), since="7.0.0",
            summary="Returns a list of command names.",
            complexity="O(N) where N is the total number of Redis commands",
            syntax="[FILTERBY MODULE module-name | ACLCAT category | PATTERN pattern]",
            acl=("@slow", "@connection"))
def cmd_command_list(conn, argv):
    if len(argv) == 2:
        return [s.bname for s in all_specs()]
    if len(argv) != 5 or argv[2].upper() != b"FILTERBY":
        raise CommandError(SYNTAX)
    kind, arg = argv[3].upper(), argv[4]
    if kind == b"MODULE":
        return []                     # no modules are loaded
    if kind == b"ACLCAT":
        cat = "@" + arg.lower().decode("utf-8", "replace")
        return [s.bname for s in all_specs() if cat in acl_categories(s)]
    if kind == b"PATTERN":
        pat = arg.lower()             # Redis matches names case-insensitively
        return [s.bname for s in all_specs() if glob_match(pat, s.bname)]
    raise CommandError(SYNTAX)


# ------------------------------------------------------------------ GETKEYS

def _spec_keys(ks: dict, argv: list[bytes]) -> list[int] | None:
    """Positions one Redis key spec finds in ``argv`` (Redis's
    getKeysUsingKeySpecs); None when the spec cannot be used (unknown
    search, a bad numkeys, out of range)."""
    bs, fk = ks["begin_search"], ks["find_keys"]
    argc = len(argv)
    if bs["type"] == "index":
        first = bs["spec"]["index"]
    elif bs["type"] == "keyword":
        kw, start = bs["spec"]["keyword"].lower().encode(), bs["spec"]["startfrom"]
        first = 0
        rng = range(start, argc) if start > 0 else range(argc + start, 0, -1)
        for i in rng:
            if 1 <= i < argc and argv[i].lower() == kw:
                first = i + 1
                break
        if not first:
            return []
    else:
        return None
    if fk["type"] == "range":
        last_rel, limit = fk["spec"]["lastkey"], fk["spec"]["limit"]
        if last_rel >= 0:
            last = first + last_rel
        elif not limit:
            last = argc + last_rel
        else:
            last = first + ((argc - first) // limit + last_rel)
        step = fk["spec"]["keystep"]
    elif fk["type"] == "keynum":
        idx = first + fk["spec"]["keynumidx"]
        if idx >= argc:
            return None
        try:
            n = int(argv[idx])
        except ValueError:
            return None
        if n < 0:
            return None
        first += fk["spec"]["firstkey"]
        last = first + n - 1
        step = fk["spec"]["keystep"]
    else:
        return None
    if last >= argc or last < first or first >= argc:
        return None
    return list(range(first, last + 1, step))


def keys_by_specs(spec, argv: list[bytes]) -> list[tuple[bytes, list[str]]] | None:
    """Keys and key flags of one invocation from Redis's key specs, or None
    when Redis asks the command's getkeys procedure instead (variable flags,
    a search of unknown type).  A spec that does not apply (bad numkeys, out
    of range) gives no keys: the procedures of those commands (Redis's
    genericGetKeys) find none either."""
    specs = spec.meta["key_specs"]
    if any("variable_flags" in k["flags"] or k["begin_search"]["type"] == "unknown"
           or k["find_keys"]["type"] == "unknown" for k in specs):
        return None
    out = []
    for ks in specs:
        if "not_key" in ks["flags"]:
            continue
        pos = _spec_keys(ks, argv)
        if pos is None:
            return []
        out += [(argv[i], ks["flags"]) for i in pos]
    return out


def _proc_flags(spec, argv: list[bytes], keys: list[bytes]) -> list[list[str]]:
    """Key flags where Redis asks the command's getkeys procedure (SET's and
    BITFIELD's depend on the arguments, SORT's STORE key is written)."""
    name = spec.name
    if name == "set":
        get = any(a.lower() == b"get" for a in argv[3:])
        return [["RW", "access", "update"] if get else ["OW", "update"]]
    if name == "bitfield":
        ro, i = True, 2
        while i < len(argv):
            arg, rem = argv[i].lower(), len(argv) - i - 1
            if arg == b"get" and rem >= 2:
                i += 3
            elif arg == b"overflow" and rem >= 1:
                i += 2
            else:
                ro = False
                break
        return [["RO", "access"] if ro else ["RW", "access", "update"]]
    if name in ("sort", "sort_ro"):
        return [["RO", "access"]] + [["OW", "update"]] * (len(keys) - 1)
    if spec.meta is not None and spec.meta["key_specs"]:
        return [spec.meta["key_specs"][0]["flags"]] * len(keys)
    return [key_flags(spec)] * len(keys)


def _has_keys(spec) -> bool:
    if spec.meta is not None:
        return any("not_key" not in k["flags"] for k in spec.meta["key_specs"])
    return bool(spec.first_key or spec.key_fn)


def _getkeys(argv) -> list[tuple[bytes, list[str]]]:
    """Keys and their flags of the command in ``argv[2:]``, with Redis's
    errors in Redis's order (COMMAND GETKEYS's getKeysSubcommandImpl)."""
    target = argv[2:]
    spec = TABLE.get(target[0].lower())
    if spec is not None and len(spec.subcommands) and len(target) > 1:
        spec = spec.subcommands.get(target[1].lower())
    if spec is None:
        raise CommandError("ERR Invalid command specified")
    if not _has_keys(spec):
        raise CommandError("ERR The command has no key arguments")
    if not spec.arity_ok(len(target)):
        raise CommandError("ERR Invalid number of arguments specified for command")
    out = keys_by_specs(spec, target) if spec.meta is not None else None
    if out is None:
        try:
            keys = spec.keys(target)
        except Exception:  # noqa: BLE001 - malformed arguments: no keys found
            keys = []
        out = list(zip(keys, _proc_flags(spec, target, keys)))
    if not out:
        if "no_mandatory_keys" in info_flags(spec):
            return []
        raise CommandError("ERR Invalid arguments specified for command")
    return out


@subcommand("command", "getkeys", -4, flags=("loading", "stale"), since="2.8.13",
            summary="Extracts the key names from an arbitrary command.",
            complexity="O(N) where N is the number of arguments to the command",
            syntax="command [arg [arg ...]]", acl=("@slow", "@connection"))
def cmd_command_getkeys(conn, argv):
    return [k for k, _ in _getkeys(argv)]


@subcommand("command", "getkeysandflags", -4, flags=("loading", "stale"), since="7.0.0",
            summary="Extracts the key names and access flags for an arbitrary command.",
            complexity="O(N) where N is the number of arguments to the command",
            syntax="command [arg [arg ...]]", acl=("@slow", "@connection"))
def cmd_command_getkeysandflags(conn, argv):
    return [[k, RSet([Status(f.encode()) for f in flags])] for k, flags in _getkeys(argv)]


_COMMAND_HELP = [
    "COMMAND <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "(no subcommand)",
    "    Return details about all Redis commands.",
    "COUNT",
    "    Return the total number of commands in this Redis server.",
    "LIST",
    "    Return a list of all commands in this Redis server.",
    "INFO [<command-name> ...]",
    "    Return details about multiple Redis commands.",
    "    If no command names are given, documentation details for all",
    "    commands are returned.",
    "DOCS [<command-name> ...]",
    "    Return documentation details about multiple Redis commands.",
    "    If no command names are given, documentation details for all",
    "    commands are returned.",
    "GETKEYS <full-command>",
    "    Return the keys from a full Redis command.",
    "GETKEYSANDFLAGS <full-command>",
    "    Return the keys and the access flags from a full Redis command.",
    "HELP",
    "    Prints this help.",
]


@subcommand("command", "help", 2, flags=("loading", "stale"), since="5.0.0",
            summary="Returns helpful text about the different subcommands.",
            acl=("@slow", "@connection"))
def cmd_command_help(conn, argv):
    return help_reply(_COMMAND_HELP)
