"""Server configuration: command-line options, redis.conf files, CONFIG GET/SET.

`CONFIG_OPTIONS` declares every option once: its name as in redis.conf, its
type, default, and whether CONFIG SET may change it at run time.  The command
line (`server.main`) and config files fill a `Config`; CONFIG GET/SET read and
write the same object on the event loop (the only thread that owns it).
"""

from __future__ import annotations

import fnmatch
import os
import shlex
from dataclasses import dataclass

__all__ = ["Config", "CONFIG_OPTIONS", "parse_config_file", "ConfigError", "parse_memory",
           "apply_renames"]


class ConfigError(Exception):
    pass


def parse_memory(v: str) -> int:
    s = v.strip().lower()
    if "-" in s:        # Redis's memtoull: no negative sizes
        raise ConfigError("argument must be a memory value")
    mult = 1
    for suf, m in (("gb", 1 << 30), ("mb", 1 << 20), ("kb", 1 << 10), ("g", 10**9),
                   ("m", 10**6), ("k", 1000), ("b", 1)):
        if s.endswith(suf):
            s, mult = s[: -len(suf)], m
            break
    try:
        n = int(s)
    except ValueError:
        raise ConfigError("argument must be a memory value") from None
    return n * mult


def _fmt_double(p: float) -> str:
    # Redis prints these doubles with "%f" trimmed of trailing zeros (99.9, 50)
    s = "%f" % p
    return s.rstrip("0").rstrip(".") if "." in s else s


def _parse_percentiles(value: str) -> tuple:
    """latency-tracking-info-percentiles: space separated doubles in [0, 100]
    (Redis's setConfigLatencyTrackingInfoPercentilesOutputOption)."""
    out = []
    for word in value.split():
        try:
            p = float(word)
        except ValueError:
            raise ConfigError("Invalid latency-tracking-info-percentiles parameters") from None
        if p != p or p in (float("inf"), float("-inf")):
            raise ConfigError("Invalid latency-tracking-info-percentiles parameters")
        if not 0.0 <= p <= 100.0:
            raise ConfigError("latency-tracking-info-percentiles parameters should sit "
                              "between [0.0,100.0]")
        out.append(p)
    return tuple(out)


def _bool(v: str) -> bool:
    s = v.lower()
    if s in ("yes", "1", "true"):
        return True
    if s in ("no", "0", "false"):
        return False
    raise ConfigError("argument must be 'yes' or 'no'")


@dataclass
class Option:
    name: str
    kind: str          # int | str | bool | memory | enum
    default: object
    mutable: bool = True
    choices: tuple = ()
    attr: str = ""
    minimum: int | None = None
    maximum: int | None = None
    clamp: bool = False       # out-of-range values are clamped, not refused (hz)
    hidden: tuple = ()        # extra accepted enum values not listed in errors
    protected: bool = False   # Redis 7's PROTECTED_CONFIG: CONFIG SET needs enable-protected-configs

    def __post_init__(self):
        if not self.attr:
            self.attr = self.name.replace("-", "_")


INT_MAX = (1 << 31) - 1
UINT_MAX = (1 << 32) - 1
LLONG_MAX = (1 << 63) - 1

# Ranges and error texts follow Redis 7.0's config.c (createIntConfig ...).
CONFIG_OPTIONS: dict[str, Option] = {o.name: o for o in [
    Option("bind", "str", "127.0.0.1", mutable=False),
    Option("port", "int", 6379, mutable=False, minimum=0, maximum=65535),
    Option("databases", "int", 16, mutable=False, minimum=1, maximum=INT_MAX),
    Option("shards", "int", 0, mutable=False, minimum=0, maximum=256),
    Option("loglevel", "enum", "notice", choices=("debug", "verbose", "notice", "warning"),
           hidden=("nothing",)),
    Option("logfile", "str", "", mutable=False),
    Option("dashboard-port", "int", 0, mutable=False, minimum=0, maximum=65535),
    Option("save", "str", ""),
    Option("appendonly", "bool", False),
    Option("appendfsync", "enum", "everysec", choices=("always", "everysec", "no")),
    Option("appendfilename", "str", "appendonly.aof", mutable=False),
    Option("appenddirname", "str", "appendonlydir", mutable=False),
    Option("auto-aof-rewrite-percentage", "int", 100, minimum=0, maximum=INT_MAX),
    Option("auto-aof-rewrite-min-size", "memory", 64 << 20, minimum=0, maximum=LLONG_MAX),
    Option("aof-load-truncated", "bool", True),
    Option("aof-use-rdb-preamble", "bool", True),
    Option("dir", "str", ".", protected=True),
    Option("dbfilename", "str", "dump.rdb", protected=True),
    Option("maxclients", "int", 10000, minimum=1, maximum=UINT_MAX),
    Option("timeout", "int", 0, minimum=0, maximum=INT_MAX),
    Option("tcp-keepalive", "int", 300, minimum=0, maximum=INT_MAX),
    Option("maxmemory", "memory", 0, minimum=0, maximum=LLONG_MAX),
    Option("maxmemory-policy", "enum", "noeviction",
           choices=("volatile-lru", "volatile-lfu", "volatile-random", "volatile-ttl",
                    "allkeys-lru", "allkeys-lfu", "allkeys-random", "noeviction")),
    Option("maxmemory-samples", "int", 5, minimum=1, maximum=64),
    Option("proto-max-bulk-len", "memory", 512 * 1024 * 1024, minimum=1024 * 1024,
           maximum=LLONG_MAX),
    Option("client-query-buffer-limit", "memory", 1024 * 1024 * 1024, minimum=1024 * 1024,
           maximum=LLONG_MAX),
    Option("requirepass", "str", ""),
    Option("protected-mode", "bool", True),
    Option("slowlog-log-slower-than", "int", 10000, minimum=-1, maximum=LLONG_MAX),
    Option("slowlog-max-len", "int", 128, minimum=0, maximum=LLONG_MAX),
    Option("latency-monitor-threshold", "int", 0, minimum=0, maximum=LLONG_MAX),
    Option("latency-tracking", "bool", True),
    # INFO latencystats percentiles: a list of doubles in [0, 100]
    Option("latency-tracking-info-percentiles", "percentiles", (50.0, 99.0, 99.9)),
    Option("notify-keyspace-events", "notify", ""),
    Option("hz", "int", 10, minimum=1, maximum=500, clamp=True),
    Option("lua-time-limit", "int", 5000, minimum=0, maximum=LLONG_MAX),
    Option("hash-max-listpack-entries", "int", 512, minimum=0, maximum=LLONG_MAX),
    Option("hash-max-listpack-value", "int", 64, minimum=0, maximum=LLONG_MAX),
    Option("set-max-intset-entries", "int", 512, minimum=0, maximum=LLONG_MAX),
    Option("zset-max-listpack-entries", "int", 128, minimum=0, maximum=LLONG_MAX),
    Option("zset-max-listpack-value", "int", 64, minimum=0, maximum=LLONG_MAX),
    Option("list-max-listpack-size", "int", -2, minimum=-(1 << 31), maximum=INT_MAX),
    # a HyperLogLog's sparse encoding grows up to this many bytes (header
    # included), then turns dense (server/commands/hll.py)
    Option("hll-sparse-max-bytes", "memory", 3000, minimum=0, maximum=LLONG_MAX),
    Option("daemonize", "bool", False, mutable=False),
    Option("pidfile", "str", "", mutable=False),
    Option("client-output-buffer-limit", "special",
           "normal 0 0 0 slave 268435456 67108864 60 pubsub 33554432 8388608 60"),
    Option("lazyfree-lazy-user-flush", "bool", False),
    # Redis 7's protected config; here it gates only the test-only DEBUG
    # subcommands (DEBUG SHARD-KILL), DEBUG SLEEP/RELOAD stay available
    Option("enable-debug-command", "enum", "no", mutable=False, choices=("no", "yes", "local")),
    # Redis 7: CONFIG SET of dir/dbfilename (where files are written) only
    # when enabled; "local" allows it as "yes" does, since CONFIG SET
    # reaches the config without knowing the connection (documented)
    Option("enable-protected-configs", "enum", "no", mutable=False, choices=("no", "yes", "local")),
]}

# Directives that configure something other than one option's value: read from
# the command line / config file only (Redis: not visible to CONFIG GET/SET).
STARTUP_DIRECTIVES = ("rename-command",)

# Redis's old names, accepted everywhere the new name is (CONFIG GET matches both)
ALIASES = {"hash-max-ziplist-entries": "hash-max-listpack-entries",
           "hash-max-ziplist-value": "hash-max-listpack-value",
           "zset-max-ziplist-entries": "zset-max-listpack-entries",
           "zset-max-ziplist-value": "zset-max-listpack-value",
           "list-max-ziplist-size": "list-max-listpack-size"}

_CLIENT_CLASSES = ("normal", "slave", "replica", "pubsub")

# ``shards 0`` (the default) means this many.  Under the GIL a second shard
# thread adds no parallelism, only a mailbox message and a thread hand-off per
# shard touched: measured on 2 cores with random keys (docs/performance.md),
# one shard beats two by 21-33% at c1 P30, 3-10% at c50 P1, ~6% at c50 P30,
# and ties at c1 P1.  More shards remain a choice (--shards N).
DEFAULT_SHARDS = 1


def _parse_output_limits(value: str) -> dict[str, tuple[int, int, int]]:
    words = value.split()
    if not words or len(words) % 4:
        raise ConfigError("Wrong number of arguments in buffer limit configuration.")
    out = {}
    for i in range(0, len(words), 4):
        cls, hard, soft, secs = words[i:i + 4]
        cls = cls.lower()
        if cls not in _CLIENT_CLASSES:
            raise ConfigError("Invalid client class specified in buffer limit configuration.")
        try:
            h, s_, t = parse_memory(hard), parse_memory(soft), int(secs)
        except (ConfigError, ValueError):
            raise ConfigError("Error in hard, soft or soft_seconds setting in buffer limit "
                              "configuration.") from None
        if h < 0 or s_ < 0 or t < 0:
            raise ConfigError("Error in hard, soft or soft_seconds setting in buffer limit "
                              "configuration.")
        out["slave" if cls == "replica" else cls] = (h, s_, t)
    return out


class Config:
    """Current values, attribute per option (``config.proto_max_bulk_len``).
    Owned by the event loop; ``config_file`` is the file it was loaded from."""

    def __init__(self):
        for o in CONFIG_OPTIONS.values():
            setattr(self, o.attr, o.default)
        self.renamed: list[tuple[str, str]] = []    # rename-command, in order
        if not self.shards:
            self.shards = DEFAULT_SHARDS

    @property
    def config_file(self) -> str:
        # read at use: the command line builds the Config before reading the file
        return loaded_config_file

    @staticmethod
    def option(name: str) -> Option | None:
        name = name.lower()
        return CONFIG_OPTIONS.get(ALIASES.get(name, name))

    def set(self, name: str, value: str, startup: bool = False) -> None:
        if startup and name.lower() == "rename-command":
            return self._rename_command(value)
        o = self.option(name)
        if o is None:
            raise ConfigError(f"Unknown option or number of arguments for CONFIG SET - '{name}'")
        if not o.mutable and not startup:
            raise ConfigError("can't set immutable config")
        setattr(self, o.attr, self.convert(o, value, startup))

    def set_many(self, pairs: list[tuple[str, str]]) -> list[str]:
        """CONFIG SET: all or nothing.  Checks every name first (unknown ->
        the 'Unknown option' error, duplicates and immutables -> 'CONFIG SET
        failed'), converts every value, and only then assigns.  Returns the
        canonical names set."""
        opts = []
        for name, _ in pairs:
            o = self.option(name)
            if o is None:
                raise ConfigError(
                    f"Unknown option or number of arguments for CONFIG SET - '{name}'")
            opts.append(o)
        seen = set()
        for (name, _), o in zip(pairs, opts):
            if o.name in seen:
                raise ConfigError(f"CONFIG SET failed (possibly related to argument "
                                  f"'{name}') - duplicate parameter")
            seen.add(o.name)
            if not o.mutable:
                raise ConfigError(f"CONFIG SET failed (possibly related to argument "
                                  f"'{name}') - can't set immutable config")
            if o.protected and self.enable_protected_configs == "no":
                raise ConfigError(f"CONFIG SET failed (possibly related to argument "
                                  f"'{name}') - can't set protected config")
        values = []
        for (name, value), o in zip(pairs, opts):
            try:
                values.append(self.convert(o, value))
            except ConfigError as e:
                raise ConfigError(f"CONFIG SET failed (possibly related to argument "
                                  f"'{name}') - {e}") from None
        for o, v in zip(opts, values):
            setattr(self, o.attr, v)
        return [o.name for o in opts]

    def _rename_command(self, value: str) -> None:
        """``rename-command <name> <new-name>`` (``""``: disable the command).
        Kept in order in ``renamed``; the server applies them to the command
        table before it accepts connections (server/app.py)."""
        try:
            words = shlex.split(value)
        except ValueError:
            words = []
        if len(words) != 2:
            raise ConfigError("wrong number of arguments for rename-command")
        self.renamed.append((words[0].lower(), words[1]))

    @staticmethod
    def convert(o: Option, value: str, startup: bool = False):
        if o.kind in ("int", "memory"):
            if o.kind == "int":
                try:
                    v = int(value)
                except ValueError:
                    raise ConfigError("argument couldn't be parsed into an integer") from None
            else:
                v = parse_memory(value)
            lo, hi = o.minimum, o.maximum
            if (lo is not None and v < lo) or (hi is not None and v > hi):
                if o.clamp:
                    return max(lo, min(hi, v))
                raise ConfigError(f"argument must be between {lo} and {hi} inclusive")
            return v
        if o.kind == "bool":
            return _bool(value)
        if o.kind == "enum":
            v = value.lower()
            if v not in o.choices and v not in o.hidden:
                raise ConfigError("argument(s) must be one of the following: "
                                  + ", ".join(o.choices))
            return v
        if o.kind == "notify":        # Redis's letters, stored normalised (KEA -> AKE)
            from .notify import normalise
            try:
                return normalise(value)
            except ValueError as e:
                raise ConfigError(str(e)) from None
        if o.kind == "special":       # client-output-buffer-limit: validate, keep text
            _parse_output_limits(value)
            return value
        if o.kind == "percentiles":
            return _parse_percentiles(value)
        return value

    def get(self, name: str) -> str:
        o = CONFIG_OPTIONS[name]
        v = getattr(self, o.attr)
        if o.kind == "bool":
            return "yes" if v else "no"
        if o.kind == "percentiles":
            return " ".join(_fmt_double(p) for p in v)
        if o.kind == "special":
            limits = _parse_output_limits(v)
            full = {"normal": (0, 0, 0), "slave": (268435456, 67108864, 60),
                    "pubsub": (33554432, 8388608, 60)}
            full.update(limits)
            return " ".join(f"{c} {h} {s} {t}" for c, (h, s, t) in full.items())
        return str(v)

    def output_limits(self) -> dict[str, tuple[int, int, int]]:
        return _parse_output_limits(self.client_output_buffer_limit)

    def match(self, pattern: str) -> list[str]:
        """Option names matching a CONFIG GET glob (case-insensitive; an old
        alias matching yields its option, once)."""
        pat = pattern.lower()
        out = [n for n in CONFIG_OPTIONS if fnmatch.fnmatchcase(n, pat)]
        for alias, n in ALIASES.items():
            if fnmatch.fnmatchcase(alias, pat) and alias not in out:
                out.append(alias)
        return out

    def get_any(self, name: str) -> str:
        return self.get(ALIASES.get(name, name))


def apply_renames(cfg: Config) -> None:
    """Apply ``rename-command`` to the command table (at startup, before the
    fast-path table is built): the command answers to its new name only, or
    to none if renamed to "".  Like Redis, an unknown command or a new name
    already taken refuses the configuration."""
    from .table import TABLE
    for old, new in cfg.renamed:
        spec = TABLE.pop(old.encode(), None)
        if spec is None:
            raise ConfigError(f"No such command in rename-command: {old}")
        if new:
            if new.lower().encode() in TABLE:
                raise ConfigError(f"Target command name already exists in rename-command: "
                                  f"{new}")
            TABLE[new.lower().encode()] = spec


loaded_config_file = ""    # the top-level file parse_config_file read (CONFIG REWRITE)


def parse_config_file(path: str, _include: bool = False) -> list[tuple[str, str]]:
    """Read redis.conf syntax: ``name value...`` per line, ``#`` comments,
    quoted values, ``include other.conf``."""
    global loaded_config_file
    if not _include:
        loaded_config_file = os.path.abspath(path)
    out: list[tuple[str, str]] = []
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            try:
                words = shlex.split(line)
            except ValueError as e:
                raise ConfigError(f"{path}:{lineno}: {e}") from None
            name = words[0].lower()
            if name == "include":
                out.extend(parse_config_file(os.path.join(os.path.dirname(path), words[1]),
                                              _include=True))
                continue
            if len(words) < 2:
                value = ""
            elif name in STARTUP_DIRECTIVES:
                # keep the words apart (rename-command CONFIG "" has an empty one)
                value = " ".join(shlex.quote(w) for w in words[1:])
            else:
                value = " ".join(words[1:])
            out.append((name, value))
    return out


def _quote(v: str) -> str:
    if v == "" or any(c.isspace() or c in "\"'\\" for c in v):
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return v


def rewrite_config_file(cfg: Config, path: str) -> None:
    """CONFIG REWRITE: keep the file's comments and layout, replace the first
    line of each option with its current value (dropping later duplicates),
    and append options that differ from their defaults.  Written to a
    temporary file and renamed over the original, so a crash never leaves a
    half-written config."""
    with open(path, encoding="utf-8") as f:
        lines = f.read().splitlines()
    done: set[str] = set()
    out: list[str] = []
    header = False
    for line in lines:
        words = line.strip().split(None, 1)
        name = words[0].lower() if words and not words[0].startswith("#") else ""
        o = cfg.option(name) if name else None
        if o is None:
            out.append(line)
            continue
        if o.name in done:
            continue
        done.add(o.name)
        out.append(f"{o.name} {_quote(cfg.get(o.name))}")
    for o in CONFIG_OPTIONS.values():
        if o.name in done or o.name == "shards":
            continue
        if getattr(cfg, o.attr) != o.default:
            if not header:
                out.append("# Generated by CONFIG REWRITE")
                header = True
            out.append(f"{o.name} {_quote(cfg.get(o.name))}")
    tmp = f"{path}.tmp-{os.getpid()}"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write("\n".join(out) + "\n")
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
