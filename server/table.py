"""The one declarative command table.

Every command is declared once, next to its handler, with ``@command(...)``:
name, arity (Redis convention: N means exactly N words including the name,
-N means at least N), flags, key positions (first, last, step; last -1 means
the last argument), group, a one-line summary and the argument syntax.  That
one record drives:

* routing: where the command runs (``Route``) and which keys pick the shard;
* arity errors (``ERR wrong number of arguments for 'get' command``);
* ``COMMAND``, ``COMMAND INFO/DOCS/COUNT/LIST/GETKEYS`` for redis-cli;
* the generated ``docs/commands.md``.

Routes:

``SHARD``   runs on the shard that owns its keys; commands whose keys live on
            several shards fall back to ``fanout`` (split per shard, merged)
            or ``cross`` (a coordinator on the event loop) if declared.
``ALL``     runs on every shard; ``merge`` combines the parts.
``CONN``    runs on the event loop against connection/server state.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Callable

__all__ = ["Route", "CommandSpec", "command", "TABLE", "subcommand", "parse_syntax",
           "get_keys"]


class Route:
    SHARD = "shard"
    ALL = "all"
    CONN = "conn"


@dataclass(eq=False)
class CommandSpec:
    name: str                      # lower case, e.g. "get" or "config|get"
    arity: int
    flags: tuple[str, ...]
    first_key: int
    last_key: int
    step: int
    group: str
    summary: str
    syntax: str
    since: str
    complexity: str
    route: str
    handler: Callable | None = None
    # multi-shard strategies (loop side), see server/router.py
    fanout: str | None = None      # "concat" | "sum" | "ok" | ... for SHARD commands
    merge: Callable | None = None  # ALL: combine per-shard results
    cross: Callable | None = None  # coroutine for keys spanning shards
    subcommands: dict = field(default_factory=dict)
    parent: "CommandSpec | None" = None
    key_fn: Callable | None = None  # custom key extraction (argv) -> list of keys
    acl_categories: tuple[str, ...] = ()
    # loop-owned counters for INFO commandstats: calls, usec, failed, rejected
    stats: list = field(default_factory=lambda: [0, 0, 0, 0])

    @property
    def fullname(self) -> str:
        return self.name

    def __post_init__(self):
        self.bname = self.name.encode()

    def keys(self, argv: list[bytes]) -> list[bytes]:
        """The key arguments of one invocation, in order."""
        if self.key_fn is not None:
            return self.key_fn(argv)
        if self.first_key == 0:
            return []
        last = self.last_key if self.last_key >= 0 else len(argv) + self.last_key
        return argv[self.first_key:last + 1:self.step]

    def arity_ok(self, n: int) -> bool:
        a = self.arity
        return n == a if a >= 0 else n >= -a


TABLE: dict[bytes, CommandSpec] = {}


def _spec(name, arity, flags, keys, group, summary, syntax, since, complexity, route,
          fanout, merge, cross, key_fn, acl):
    first, last, step = keys
    return CommandSpec(name=name, arity=arity, flags=tuple(flags), first_key=first,
                       last_key=last, step=step, group=group, summary=summary,
                       syntax=syntax, since=since, complexity=complexity, route=route,
                       fanout=fanout, merge=merge, cross=cross, key_fn=key_fn,
                       acl_categories=tuple(acl))


def command(name: str, arity: int, flags=(), keys=(0, 0, 0), group="generic",
            summary="", syntax="", since="1.0.0", complexity="O(1)",
            route=Route.SHARD, fanout=None, merge=None, cross=None, key_fn=None,
            acl=()):
    """Declare a command; the decorated function is its handler.

    SHARD handlers are called on the shard thread as ``fn(db, argv)`` with
    ``db`` the connection's `actors.keyspace.Keyspace`; CONN handlers on the
    event loop as ``fn(conn, argv)``.  Handlers return a reply value (see
    server.protocol) or raise CommandError.
    """
    def deco(fn):
        spec = _spec(name, arity, flags, keys, group, summary, syntax, since, complexity,
                     route, fanout, merge, cross, key_fn, acl)
        spec.handler = fn
        key = name.encode()
        if key in TABLE:
            raise ValueError(f"command {name} declared twice")
        TABLE[key] = spec
        fn.spec = spec
        return fn
    return deco


def subcommand(parent: str, name: str, arity: int, flags=(), keys=(0, 0, 0),
               summary="", syntax="", since="1.0.0", complexity="O(1)",
               route=Route.CONN, merge=None, key_fn=None, acl=()):
    """Declare ``PARENT NAME`` (e.g. CONFIG GET) as a subcommand of a container."""
    def deco(fn):
        p = TABLE[parent.encode()]
        spec = _spec(f"{parent}|{name}", arity, flags, keys, p.group, summary, syntax,
                     since, complexity, route, None, merge, None, key_fn, acl)
        spec.handler = fn
        spec.parent = p
        p.subcommands[name.encode()] = spec
        fn.spec = spec
        return fn
    return deco


def fast_table() -> dict:
    """Single-key shard commands by the exact bytes clients send (lower, UPPER,
    Capitalized): the connection's inlined hot path looks them up directly."""
    out = {}
    for name, spec in TABLE.items():
        if (spec.route == Route.SHARD and spec.first_key == 1 and spec.last_key == 1
                and not spec.subcommands and spec.key_fn is None and spec.cross is None
                and spec.fanout is None and abs(spec.arity) >= 2):
            for v in (name, name.upper(), name.capitalize()):
                out[v] = spec
    return out


def get_keys(spec: CommandSpec, argv: list[bytes]) -> list[bytes]:
    return spec.keys(argv)


# ------------------------------------------------------------------ syntax -> docs

_TOKEN = re.compile(r"\[|\]|\(|\)|\||\.\.\.|[^\s\[\]()|]+")

_INTEGER_NAMES = {"count", "seconds", "milliseconds", "offset", "start", "end", "index",
                  "numkeys", "timeout", "db", "destination-db", "cursor", "len",
                  "unix-time-seconds", "unix-time-milliseconds", "increment", "decrement",
                  "rank", "num-locals", "maxlen", "limit", "ttl", "port", "id",
                  "bit", "numsamples", "numsub", "encoding-count", "value-int",
                  "unit", "number", "ms", "timeout-int", "delta"}
_DOUBLE_NAMES = {"score", "min", "max", "increment-float", "weight", "float-increment"}


def _arg_type(name: str) -> str:
    if name in ("key", "source", "destination", "newkey", "destkey", "srckey",
                "sourcekey") or name.endswith("key"):
        return "key"
    if name == "pattern":
        return "pattern"
    if name.startswith("unix-time"):
        return "unix-time"
    if name in _INTEGER_NAMES:
        return "integer"
    if name in _DOUBLE_NAMES:
        return "double"
    return "string"


def parse_syntax(syntax: str) -> list[dict]:
    """Turn ``key value [EX seconds | PX milliseconds] [NX | XX]`` into the
    argument tree of ``COMMAND DOCS`` (name, type, token, flags, arguments).

    Grammar: lower-case words are arguments, UPPER-CASE words are tokens,
    ``[...]`` is optional, ``a | b`` is a choice, ``...`` repeats the item before.
    """
    toks = _TOKEN.findall(syntax)
    pos = 0

    def seq(stop):
        nonlocal pos
        alts: list[list[dict]] = [[]]
        while pos < len(toks) and toks[pos] not in stop:
            t = toks[pos]
            pos += 1
            cur = alts[-1]
            if t == "|":
                alts.append([])
            elif t in ("[", "("):
                inner = seq({"]"} if t == "[" else {")"})
                pos += 1  # closing bracket
                item = _group(inner)
                if t == "[":
                    item.setdefault("flags", []).append("optional")
                cur.append(item)
            elif t == "...":
                if cur:
                    cur[-1].setdefault("flags", []).append("multiple")
            elif t.isupper() or (not t[0].isalpha() and t.upper() == t and t not in ("-",)):
                cur.append({"name": t.lower(), "type": "pure-token", "token": t})
            else:
                cur.append({"name": t, "type": _arg_type(t)})
        # merge TOKEN arg pairs into token-carrying args
        alts = [_attach_tokens(a) for a in alts]
        if len(alts) == 1:
            return alts[0]
        return [{"name": "choice", "type": "oneof",
                 "arguments": [a[0] if len(a) == 1 else
                               {"name": "block", "type": "block", "arguments": a}
                               for a in alts]}]

    def _group(items):
        if len(items) == 1:
            return dict(items[0])
        return {"name": "block", "type": "block", "arguments": items}

    out = seq(set())
    _name_blocks(out)
    return out


def _attach_tokens(items: list[dict]) -> list[dict]:
    out: list[dict] = []
    i = 0
    while i < len(items):
        it = items[i]
        if (it["type"] == "pure-token" and i + 1 < len(items)
                and items[i + 1]["type"] not in ("pure-token",)
                and "token" not in items[i + 1] and "flags" not in it):
            nxt = dict(items[i + 1])
            nxt["token"] = it["token"]
            out.append(nxt)
            i += 2
            continue
        out.append(it)
        i += 1
    return out


def _name_blocks(args: list[dict]) -> None:
    for a in args:
        if "arguments" in a:
            _name_blocks(a["arguments"])
            if a["name"] in ("block", "choice"):
                tok = next((x.get("token") for x in a["arguments"] if x.get("token")), None)
                if tok:
                    a["name"] = tok.lower() if a["type"] == "block" else (
                        "-".join(x.get("token", x["name"]).lower() for x in a["arguments"])[:40])


def syntax_line(spec: CommandSpec) -> str:
    return f"{spec.name.replace('|', ' ').upper()} {spec.syntax}".strip()
