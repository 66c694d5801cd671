"""Write ``server/command_meta.json`` from a running redis-server 7.0.

    redis-server --port 7901 --save "" --daemonize yes
    python -m server.gen_command_meta --port 7901            # write the file
    python -m server.gen_command_meta --port 7901 --check    # exit 1 if it differs

Command metadata (flags, ACL categories, key specs, tips, the COMMAND DOCS
record) are facts of Redis's interface, so they are read from Redis itself
rather than typed by hand.  Only commands (and subcommands) that Shardis
implements are stored; `server.table` merges each record into the command's
spec at startup (`apply_meta`).  Shardis keeps its own arity, handler, route
and key extraction.

File layout (compact JSON): ``{"redis_version": ..., "commands": {name:
record}}``, a record being ``{"arity", "flags", "keys": [first, last, step],
"acl", "tips", "key_specs", "docs", "subcommands": {name: record}}``.  Lists
under ``flags``/``doc_flags``/``acl`` are RESP sets of simple strings, ``tips``
a set of bulk strings,
``history`` a set of [version, text] arrays, everything else maps, arrays,
bulk strings and integers as Redis writes them; the generator checks that
rebuilding each record gives back Redis's exact RESP3 bytes.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import sys

__all__ = ["main", "OUTPUT"]

OUTPUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "command_meta.json")


# ---------------------------------------------------------------- a raw RESP3 reader

class _Status(str):
    pass


class _Set(list):
    pass


class _Conn:
    def __init__(self, host: str, port: int):
        self.sock = socket.create_connection((host, port), timeout=10)
        self.buf = b""
        self.last_raw = b""

    def _fill(self):
        d = self.sock.recv(1 << 20)
        if not d:
            raise ConnectionError("server closed the connection")
        self.buf += d

    def _line(self) -> bytes:
        while b"\r\n" not in self.buf[self.pos:]:
            self._fill()
        i = self.buf.index(b"\r\n", self.pos)
        line = self.buf[self.pos:i]
        self.pos = i + 2
        return line

    def _read(self):
        line = self._line()
        t, rest = line[:1], line[1:]
        if t == b"+":
            return _Status(rest.decode())
        if t == b"-":
            raise RuntimeError(rest.decode())
        if t == b":":
            return int(rest)
        if t == b"_":
            return None
        if t in (b"$", b"="):
            n = int(rest)
            while len(self.buf) < self.pos + n + 2:
                self._fill()
            s = self.buf[self.pos:self.pos + n]
            self.pos += n + 2
            return s.decode()[4 if t == b"=" else 0:]
        if t in (b"*", b"~"):
            items = [self._read() for _ in range(int(rest))]
            return _Set(items) if t == b"~" else items
        if t == b"%":
            out = {}
            for _ in range(int(rest)):
                k = self._read()
                out[k] = self._read()
            return out
        raise RuntimeError(f"unexpected RESP type {line!r}")

    def call(self, *args: str):
        req = b"*%d\r\n" % len(args) + b"".join(
            b"$%d\r\n%b\r\n" % (len(a.encode()), a.encode()) for a in args)
        self.sock.sendall(req)
        self.pos = 0
        v = self._read()
        self.last_raw = self.buf[:self.pos]
        self.buf = self.buf[self.pos:]
        return v


# ---------------------------------------------------------------- typed tree -> record

def _plain(v):
    """The typed tree as plain JSON values (sets and statuses become lists and
    strings: their RESP types are implied by the field names)."""
    if isinstance(v, dict):
        return {k: _plain(x) for k, x in v.items()}
    if isinstance(v, list):
        return [_plain(x) for x in v]
    if isinstance(v, _Status):
        return str(v)
    return v


def _record(info: list, docs: dict) -> dict:
    _name, arity, flags, first, last, step, acl, tips, kspecs, subs = info
    rec = {"arity": arity, "flags": _plain(flags), "keys": [first, last, step],
           "acl": _plain(acl), "tips": _plain(tips), "key_specs": _plain(kspecs)}
    d = {k: _plain(v) for k, v in docs.items() if k != "subcommands"}
    rec["docs"] = d
    if subs:
        subdocs = docs.get("subcommands", {})
        rec["subcommands"] = {}
        for s in sorted(subs, key=lambda e: e[0]):
            rec["subcommands"][s[0].split("|", 1)[1]] = _record(s, subdocs[s[0]])
    return rec


def _implemented() -> dict[str, set[str]]:
    from server import commands  # noqa: F401 - registers every command
    from server.table import TABLE
    return {name.decode(): {s.decode() for s in spec.subcommands} for name, spec in
            TABLE.items()}


def collect(host: str, port: int, only: dict | None) -> dict:
    c = _Conn(host, port)
    c.call("HELLO", "3")
    version = c.call("INFO", "server").split("redis_version:")[1].split()[0]
    names = sorted(c.call("COMMAND", "LIST")) if only is None else list(only)
    out: dict = {"redis_version": version, "commands": {}}
    for name in names:
        info = c.call("COMMAND", "INFO", name)[0]
        if info is None:
            continue               # not a Redis command: keeps its declared info
        docs = c.call("COMMAND", "DOCS", name)[name]
        rec = _record(info, docs)
        if only is not None and "subcommands" in rec:
            rec["subcommands"] = {k: v for k, v in rec["subcommands"].items()
                                  if k in only[name]}
        out["commands"][name] = rec
    _verify(c, out)
    return out


def _verify(c: _Conn, meta: dict) -> None:
    """Rebuilding every stored record must give Redis's own RESP3 bytes
    (subcommands aside: Redis lists them in hash-table order)."""
    from server.protocol import encode
    from server.table import meta_docs, meta_info
    for name, rec in meta["commands"].items():
        for sub, srec in [(None, rec), *rec.get("subcommands", {}).items()]:
            if sub is not None:
                full = f"{name}|{sub}"
            elif "subcommands" in rec:
                continue
            else:
                full = name
            c.call("COMMAND", "INFO", full)
            want = c.last_raw
            got = b"*1\r\n" + encode(meta_info(full, srec, []), 3)
            if got != want:
                raise SystemExit(f"round trip of COMMAND INFO {full} differs:\n{got!r}\n{want!r}")
            c.call("COMMAND", "DOCS", full)
            want = c.last_raw
            got = encode({full.encode(): meta_docs(srec, {})}, 3)
            if got != want:
                raise SystemExit(f"round trip of COMMAND DOCS {full} differs:\n{got!r}\n{want!r}")


def dumps(meta: dict) -> str:
    return json.dumps(meta, separators=(",", ":"), ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m server.gen_command_meta",
                                description="Write server/command_meta.json from redis-server.")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=6379)
    p.add_argument("--output", default=OUTPUT)
    p.add_argument("--all", action="store_true",
                   help="store every Redis command, not only the implemented ones")
    p.add_argument("--check", action="store_true",
                   help="do not write; exit 1 if the file differs")
    args = p.parse_args(argv)
    text = dumps(collect(args.host, args.port, None if args.all else _implemented()))
    if args.check:
        try:
            with open(args.output, encoding="utf-8") as f:
                current = f.read()
        except FileNotFoundError:
            current = None
        if current != text:
            print(f"{args.output} is out of date", file=sys.stderr)
            return 1
        return 0
    with open(args.output, "w", encoding="utf-8") as f:
        f.write(text)
    print(f"wrote {args.output}: {len(text)} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
