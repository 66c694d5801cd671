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

__all__ = ["Config", "CONFIG_OPTIONS", "parse_config_file", "ConfigError", "parse_memory"]


class ConfigError(Exception):
    pass


def parse_memory(v: str) -> int:
    s = v.strip().lower()
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
    kind: str          # int | str | bool | memory | enum | special
    default: object
    mutable: bool = True
    choices: tuple = ()
    attr: str = ""
    minimum: int | None = None
    maximum: int | None = None

    def __post_init__(self):
        if not self.attr:
            self.attr = self.name.replace("-", "_")


CONFIG_OPTIONS: dict[str, Option] = {o.name: o for o in [
    Option("bind", "str", "127.0.0.1", mutable=False),
    Option("port", "int", 6379, mutable=False, minimum=0, maximum=65535),
    Option("databases", "int", 16, mutable=False, minimum=1),
    Option("shards", "int", 0, mutable=False, minimum=0, maximum=256),
    Option("loglevel", "enum", "notice", choices=("debug", "verbose", "notice", "warning", "nothing")),
    Option("logfile", "str", "", mutable=False),
    Option("dashboard-port", "int", 0, mutable=False, minimum=0, maximum=65535),
    Option("save", "str", ""),
    Option("appendonly", "bool", False),
    Option("appendfsync", "enum", "everysec", choices=("always", "everysec", "no")),
    Option("dir", "str", "."),
    Option("dbfilename", "str", "dump.rdb"),
    Option("maxclients", "int", 10000, minimum=1),
    Option("timeout", "int", 0, minimum=0),
    Option("tcp-keepalive", "int", 300, minimum=0),
    Option("maxmemory", "memory", 0),
    Option("maxmemory-policy", "enum", "noeviction",
           choices=("noeviction", "allkeys-lru", "allkeys-lfu", "allkeys-random",
                    "volatile-lru", "volatile-lfu", "volatile-random", "volatile-ttl")),
    Option("maxmemory-samples", "int", 5, minimum=1),
    Option("proto-max-bulk-len", "memory", 512 * 1024 * 1024, minimum=1024 * 1024),
    Option("client-query-buffer-limit", "memory", 1024 * 1024 * 1024),
    Option("requirepass", "str", ""),
    Option("protected-mode", "bool", True),
    Option("slowlog-log-slower-than", "int", 10000),
    Option("slowlog-max-len", "int", 128, minimum=0),
    Option("latency-monitor-threshold", "int", 0, minimum=0),
    Option("notify-keyspace-events", "str", ""),
    Option("hz", "int", 10, minimum=1, maximum=500),
    Option("lua-time-limit", "int", 5000),
    Option("hash-max-listpack-entries", "int", 128, minimum=0),
    Option("hash-max-listpack-value", "int", 64, minimum=0),
    Option("set-max-intset-entries", "int", 512, minimum=0),
    Option("zset-max-listpack-entries", "int", 128, minimum=0),
    Option("zset-max-listpack-value", "int", 64, minimum=0),
    Option("list-max-listpack-size", "int", -2),
    Option("daemonize", "bool", False, mutable=False),
    Option("pidfile", "str", "", mutable=False),
    Option("client-output-buffer-limit", "str", "normal 0 0 0 slave 268435456 67108864 60 pubsub 33554432 8388608 60"),
    Option("lazyfree-lazy-user-flush", "bool", False),
]}


class Config:
    """Current values, attribute per option (``config.proto_max_bulk_len``)."""

    def __init__(self):
        for o in CONFIG_OPTIONS.values():
            setattr(self, o.attr, o.default)
        if not self.shards:
            self.shards = os.cpu_count() or 1

    def set(self, name: str, value: str, startup: bool = False) -> None:
        o = CONFIG_OPTIONS.get(name.lower())
        if o is None:
            raise ConfigError(f"Unknown option or number of arguments for CONFIG SET - '{name}'")
        if not o.mutable and not startup:
            raise ConfigError(f"can't set immutable config")
        setattr(self, o.attr, self.convert(o, value))

    @staticmethod
    def convert(o: Option, value: str):
        if o.kind == "int":
            try:
                v = int(value)
            except ValueError:
                raise ConfigError("argument couldn't be parsed into an integer") from None
            if (o.minimum is not None and v < o.minimum) or (o.maximum is not None and v > o.maximum):
                raise ConfigError(f"argument must be between {o.minimum} and {o.maximum} inclusive")
            return v
        if o.kind == "memory":
            return parse_memory(value)
        if o.kind == "bool":
            return _bool(value)
        if o.kind == "enum":
            if value.lower() not in o.choices:
                raise ConfigError("argument(s) must be one of the following: " + ", ".join(o.choices))
            return value.lower()
        return value

    def get(self, name: str) -> str:
        o = CONFIG_OPTIONS[name]
        v = getattr(self, o.attr)
        if o.kind == "bool":
            return "yes" if v else "no"
        return str(v)

    def match(self, pattern: str) -> list[str]:
        pat = pattern.lower()
        return [n for n in CONFIG_OPTIONS if fnmatch.fnmatchcase(n, pat)]


def parse_config_file(path: str) -> list[tuple[str, str]]:
    """Read redis.conf syntax: ``name value...`` per line, ``#`` comments,
    quoted values, ``include other.conf``."""
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
                out.extend(parse_config_file(os.path.join(os.path.dirname(path), words[1])))
                continue
            if len(words) < 2:
                value = ""
            else:
                value = " ".join(words[1:])
            out.append((name, value))
    return out
