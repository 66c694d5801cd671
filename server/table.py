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

What Redis itself says about a command (flags, ACL categories, key specs,
tips, the COMMAND DOCS record) is not typed here: it is read from a real
redis-server into ``server/command_meta.json`` (``python -m
server.gen_command_meta``) and merged into each declared spec (``spec.meta``).
Declarations keep what Redis hides (``may_replicate``) and what only
Shardis needs; commands Redis lacks keep their declared summary and syntax.

Routes:

``SHARD``   runs on the shard that owns its keys; commands whose keys live on
            several shards fall back to ``fanout`` (split per shard, merged)
            or ``cross`` (a coordinator on the event loop) if declared.
``ALL``     runs on every shard; ``merge`` combines the parts.
``CONN``    runs on the event loop against connection/server state.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from typing import Callable

from server.protocol import RSet, Status

__all__ = ["Route", "CommandSpec", "command", "TABLE", "subcommand", "parse_syntax",
           "get_keys", "META", "meta_info", "meta_docs", "subinfo_reply"]


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
    # Redis's own record for this command (server/command_meta.json), None for
    # commands Redis does not have: COMMAND INFO/DOCS and ACL categories
    meta: dict | None = None
    # loop-owned counters for INFO commandstats: calls (every dispatch), usec,
    # failed, rejected, and the calls of a shard command that no shard runs
    # whole: run across shards by a coordinator on the loop, or failed while
    # being routed (commands/server.py _merged_cmdstats)
    stats: list = field(default_factory=lambda: [0, 0, 0, 0, 0])

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

    def count_failed_call(self) -> None:
        """A call that failed before any shard ran it (a fan-out rejecting
        its arguments, a loop-run command's error): one failed call, counted
        on the loop (``stats``)."""
        self.stats[2] += 1
        if self.route is Route.SHARD:
            self.stats[4] += 1


TABLE: dict[bytes, CommandSpec] = {}

# ------------------------------------------------------------------ Redis's metadata
#
# server/command_meta.json is written by ``python -m server.gen_command_meta``
# from a running redis-server 7.0: flags, ACL categories, legacy key triple,
# tips, key specs and the COMMAND DOCS record of every command Shardis
# implements.  Each declaration below picks up its record (``spec.meta``);
# Shardis's own arity, handler, route and key extraction stay as declared.

_META_PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "command_meta.json")


def _load_meta() -> dict:
    try:
        with open(_META_PATH, encoding="utf-8") as f:
            return json.load(f)["commands"]
    except FileNotFoundError:
        return {}


META: dict = _load_meta()

_SET_FIELDS = ("flags", "doc_flags", "acl")     # sets of simple strings


def _resp(key, v):
    """A JSON metadata value as the reply value Redis sends: the field name
    tells sets of simple strings and the history set apart."""
    if key in _SET_FIELDS:
        return RSet([Status(x.encode()) for x in v])
    if key == "tips":                               # a set of bulk strings
        return RSet([x.encode() for x in v])
    if key == "history":
        return RSet([[x.encode() for x in e] for e in v])
    if isinstance(v, dict):
        return {k.encode(): _resp(k, x) for k, x in v.items()}
    if isinstance(v, list):
        return [_resp(None, x) for x in v]
    if isinstance(v, str):
        return v.encode()
    return v


def _merge_meta(spec: CommandSpec, rec: dict | None) -> None:
    """Attach Redis's record; Redis's visible flags join the declared ones
    (which keep the flags Redis hides from COMMAND INFO, such as
    may_replicate, and what routing needs)."""
    spec.meta = rec
    if rec is not None:
        extra = tuple(f for f in rec["flags"] if f not in spec.flags and f != "movablekeys")
        if extra:
            spec.flags = spec.flags + extra


def meta_info(name: str, rec: dict, subinfos: list, arity: int | None = None) -> list:
    """A COMMAND INFO entry from a metadata record."""
    first, last, step = rec["keys"]
    return [name.encode(), rec["arity"] if arity is None else arity,
            _resp("flags", rec["flags"]), first, last, step,
            _resp("acl", rec["acl"]), _resp("tips", rec["tips"]),
            RSet([_resp(None, k) for k in rec["key_specs"]]), subinfo_reply(subinfos)]


def subinfo_reply(subinfos: list):
    """Redis writes no subcommands as an empty set, subcommands as an array."""
    return list(subinfos) if subinfos else RSet()


def meta_docs(rec: dict, subdocs: dict) -> dict:
    """A COMMAND DOCS record from a metadata record (subcommands given)."""
    d = _resp(None, rec["docs"])
    if subdocs:
        d[b"subcommands"] = subdocs
    return d


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
        _merge_meta(spec, META.get(name))
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
        if p.meta is not None:
            _merge_meta(spec, p.meta.get("subcommands", {}).get(name))
        subs = p.subcommands
        subs[name.encode()] = spec
        # Redis's source order (its commands table lists subcommands by name;
        # the reply order of a running Redis follows its hash seed)
        ordered = sorted(subs.items())
        subs.clear()
        subs.update(ordered)
        fn.spec = spec
        return fn
    return deco


def fast_table(one_shard: bool = False) -> dict:
    """Single-key shard commands by the exact bytes clients send (lower, UPPER,
    Capitalized): the connection's inlined hot path looks them up directly.

    With ``one_shard`` (a server of one shard) every shard command whose
    keys are plain argument positions joins them (MGET, MSET, DEL, RENAME,
    SUNIONSTORE...): there is no key to hash, and ``dispatch`` would put
    them in shard 0's batch exactly so.  Commands with subcommands or a
    ``key_fn`` (numkeys arguments, whose parsing can reject the call before
    any shard runs it) still take ``execute``."""
    out = {}
    for name, spec in TABLE.items():
        if spec.route != Route.SHARD or spec.subcommands or spec.key_fn is not None:
            continue
        if one_shard or (spec.first_key == 1 and spec.last_key == 1 and spec.cross is None
                         and spec.fanout is None and abs(spec.arity) >= 2):
            for v in (name, name.upper(), name.capitalize()):
                out[v] = spec
    return out


def fast_routes(fast: dict) -> dict:
    """`fast_table` as the C parser's ``take_routed`` reads it: name ->
    (handler, arity, stats), the three fields the hot path uses (the stats
    list is the spec's own, reset in place by CONFIG RESETSTAT), or, for a
    handler with a flat runner (actors.shard.FLAT_RUNNERS: GET, SET),
    (handler, arity, stats, abs(arity), RUN): its requests of exactly
    abs(arity) arguments are collected as flat runs (actors/messages.py,
    Batch)."""
    from actors.messages import RUN
    from actors.shard import FLAT_RUNNERS
    routes = {}
    for name, spec in fast.items():
        if spec.handler in FLAT_RUNNERS:
            routes[name] = (spec.handler, spec.arity, spec.stats, abs(spec.arity), RUN)
        else:
            routes[name] = (spec.handler, spec.arity, spec.stats)
    return routes


def get_keys(spec: CommandSpec, argv: list[bytes]) -> list[bytes]:
    return spec.keys(argv)


# ------------------------------------------------------------------ syntax -> docs
#
# ``syntax`` strings follow Redis's documented argument syntax; parse_syntax
# turns them into the argument trees of COMMAND DOCS, which redis-cli renders
# back into its hints (cliAddArgument).  Invariant: rendering the tree the way
# redis-cli does gives back the documented syntax, so ``key [key ...]`` must
# become one ``key`` argument flagged ``multiple``, not two arguments.

_TOKEN = re.compile(r"\[|\]|\(|\)|\||\.\.\.|[^\s\[\]()|]+")

_INTEGER_NAMES = {"count", "seconds", "milliseconds", "offset", "start", "end", "index",
                  "numkeys", "timeout", "db", "destination-db", "cursor", "len",
                  "increment", "decrement", "rank", "num-locals", "maxlen", "limit",
                  "ttl", "port", "id", "bit", "numsamples", "numsub", "encoding-count",
                  "value-int", "number", "ms", "delta", "stop", "protover", "index1",
                  "index2", "numreplicas", "pos", "maxage"}
_DOUBLE_NAMES = {"score", "min", "max", "increment-float", "weight", "float-increment",
                 "longitude", "latitude", "radius", "width", "height"}
_KEY_NAMES = {"key", "source", "destination", "newkey", "destkey", "srckey", "sourcekey"}


def _arg_type(name: str) -> str:
    if name in _KEY_NAMES or name.endswith("key"):
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


def _is_token(t: str) -> bool:
    """UPPER-CASE words (and punctuation such as ``~`` or ``*``) are literal tokens."""
    if t in ("[", "]", "(", ")", "|", "..."):
        return False
    return t.isupper() or (not any(c.isalpha() for c in t))


def _flag(item: dict, flag: str) -> dict:
    flags = item.setdefault("flags", [])
    if flag not in flags:
        flags.append(flag)
    return item


def parse_syntax(syntax: str) -> list[dict]:
    """Turn ``key value [EX seconds | PX milliseconds] [NX | XX]`` into the
    argument tree of ``COMMAND DOCS`` (name, type, token, flags, arguments).

    Grammar: lower-case words are arguments, UPPER-CASE words are tokens,
    ``[...]`` is optional, ``(...)`` groups, ``...`` repeats the item before
    (or the whole group when it closes a group of alternatives), and the
    documented repetition forms ``x [x ...]``, ``a b [a b ...]`` and
    ``TOKEN x [TOKEN x ...]`` become one argument flagged ``multiple``.

    ``|`` separates alternatives.  At the top level it binds the two words
    next to it (``AND | OR | XOR | NOT destkey``, ``MIN | MAX``).  Inside a
    group it separates whole sequences (``[EX seconds | PX milliseconds]``),
    except between bare tokens (``[OVERFLOW WRAP | SAT | FAIL]``).
    """
    toks = _TOKEN.findall(syntax)
    pos = 0

    def bare_token_at(i: int) -> bool:
        # a token not followed by an argument of its own
        if i < 0 or i >= len(toks) or not _is_token(toks[i]):
            return False
        nxt = toks[i + 1] if i + 1 < len(toks) else "]"
        return nxt in ("|", "]", ")", "[", "(") or _is_token(nxt)

    def seq(closer: str | None) -> list[dict]:
        nonlocal pos
        top = closer is None
        alts: list[list[dict]] = [[]]
        tight = False          # the next item joins a oneof with the previous one
        group_multiple = False
        while pos < len(toks) and toks[pos] != closer:
            t = toks[pos]
            pos += 1
            cur = alts[-1]
            if t == "|":
                if top or (bare_token_at(pos - 2) and bare_token_at(pos)):
                    tight = True
                else:
                    alts.append([])
                continue
            if t == "...":
                if (not top and len(alts) > 1 and pos < len(toks) and toks[pos] == closer):
                    group_multiple = True
                elif cur:
                    _flag(cur[-1], "multiple")
                continue
            if t in ("[", "("):
                inner = seq("]" if t == "[" else ")")
                pos += 1  # the closing bracket
                item = _wrap(inner)
                if t == "[":
                    _flag(item, "optional")
            elif _is_token(t):
                item = {"name": t.lower(), "type": "pure-token", "token": t}
            else:
                item = {"name": t, "type": _arg_type(t)}
            if tight and cur:
                prev = cur[-1]
                if prev.get("_tight"):
                    prev["arguments"].append(item)
                else:
                    cur[-1] = {"name": "choice", "type": "oneof", "_tight": True,
                               "arguments": [prev, item]}
                tight = False
            else:
                cur.append(item)
        alts = [_normalize(a) for a in alts]
        if len(alts) == 1:
            out = alts[0]
        else:
            out = [{"name": "choice", "type": "oneof",
                    "arguments": [_wrap(a) for a in alts]}]
        if group_multiple:
            _flag(out[0], "multiple")
        return out

    out = seq(None)
    _finish(out)
    return out


def _wrap(items: list[dict]) -> dict:
    if len(items) == 1:
        return items[0]
    return {"name": "block", "type": "block", "arguments": items}


def _same(a: dict, b: dict) -> bool:
    """Structural equality, ignoring flags."""
    if (a["name"], a["type"], a.get("token")) != (b["name"], b["type"], b.get("token")):
        return False
    xa, xb = a.get("arguments", []), b.get("arguments", [])
    return len(xa) == len(xb) and all(_same(p, q) for p, q in zip(xa, xb))


def _merge_repeats(items: list[dict]) -> list[dict]:
    """``x [x ...]`` -> x (multiple); ``a b [a b ...]`` -> block(a b) (multiple);
    ``TOKEN x [TOKEN x ...]`` (token attached) -> x (multiple, multiple_token)."""
    out: list[dict] = []
    for it in items:
        flags = it.get("flags", [])
        if "optional" in flags and out:
            if it["type"] == "block" and "token" not in it:
                content = it["arguments"]
            else:
                content = [it]
            last_flags = content[-1].get("flags", [])
            n = len(content)
            if ("multiple" in (last_flags if n > 1 else flags) and n <= len(out)
                    and all(_same(p, q) for p, q in zip(out[-n:], content))
                    and all(not p.get("flags") for p in out[-n:])):
                if n == 1:
                    rep = out[-1]
                    _flag(rep, "multiple")
                    if rep.get("token"):
                        _flag(rep, "multiple_token")
                else:
                    rep = {"name": "block", "type": "block", "arguments": out[-n:]}
                    _flag(rep, "multiple")
                    del out[-n:]
                    out.append(rep)
                continue
        out.append(it)
    return out


def _attach_tokens(items: list[dict]) -> list[dict]:
    """``TOKEN arg`` -> one argument carrying the token (``EX seconds``)."""
    out: list[dict] = []
    i = 0
    while i < len(items):
        it = items[i]
        if (it["type"] == "pure-token" and i + 1 < len(items)
                and items[i + 1]["type"] != "pure-token"
                and "token" not in items[i + 1] and "flags" not in it
                and "optional" not in items[i + 1].get("flags", ())):
            nxt = dict(items[i + 1])
            nxt["token"] = it["token"]
            out.append(nxt)
            i += 2
            continue
        out.append(it)
        i += 1
    return out


def _normalize(items: list[dict]) -> list[dict]:
    return _merge_repeats(_attach_tokens(_merge_repeats(items)))


def _finish(args: list[dict]) -> None:
    """Drop parse-only marks; name blocks and choices after their tokens."""
    for a in args:
        a.pop("_tight", None)
        if "arguments" in a:
            _finish(a["arguments"])
            if a["name"] in ("block", "choice"):
                if a["type"] == "block":
                    tok = next((x.get("token") for x in a["arguments"] if x.get("token")), None)
                    a["name"] = tok.lower() if tok else "block"
                else:
                    a["name"] = "-".join(x.get("token", x["name"]).lower()
                                         for x in a["arguments"])[:40]


def render_arguments(args: list[dict]) -> str:
    """The hint redis-cli builds from a COMMAND DOCS argument list (its
    cliAddArgument): the documented syntax with ``a|b`` choices."""
    return " ".join(_render(a) for a in args)


def _render(a: dict) -> str:
    t = a["type"]
    flags = a.get("flags", ())
    if t == "oneof":
        rep = "|".join(_render(x) for x in a["arguments"])
    elif t == "block":
        rep = " ".join(_render(x) for x in a["arguments"])
    elif t == "pure-token":
        rep = ""
    else:
        rep = a["name"]
    tok = a.get("token", "")
    if tok and t != "pure-token":
        tok += " "
    s = tok + rep
    if "multiple" in flags:
        s += " [" + (tok if "multiple_token" in flags else "") + rep + " ...]"
    return f"[{s}]" if "optional" in flags else s


def syntax_line(spec: CommandSpec) -> str:
    return f"{spec.name.replace('|', ' ').upper()} {spec.syntax}".strip()
