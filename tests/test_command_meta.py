"""COMMAND, COMMAND INFO/DOCS/COUNT/LIST/GETKEYS/GETKEYSANDFLAGS against a real
redis-server 7.0.15, for every command Shardis implements.

Replies are compared as typed RESP trees (simple string, bulk, set, map...
kept apart), in RESP2 and RESP3.  One thing is compared without order: a
running Redis lists subcommands in the order of its hash table, which
depends on a per-process random seed (two redis-servers disagree), so
subcommand lists and maps are compared sorted by name.
"""

from __future__ import annotations

import socket

import pytest

from server import commands  # noqa: F401 - registers every command
from server.commands.introspection import _has_keys, all_specs, keys_by_specs
from server.table import META, TABLE

# Subcommands Shardis implements that Redis 7.0 does not have (7.2 and later):
# they keep their declared information and are left out of the comparison.
NEWER = {b"client|maint_notifications", b"client|no-touch", b"client|setinfo"}


# ---------------------------------------------------------------- a typed RESP reader

class Raw:
    """A connection that sends pipelined commands and reads typed replies:
    ('+', b) ('$', b) ('=', b) (':', n) ('-', b) ('*'|'~'|'>', [..]) ('%', [(k, v)..]) ('_',)."""

    def __init__(self, port: int, proto: int):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.buf = b""
        self.pos = 0
        if proto == 3:
            self.run([["HELLO", "3"]])

    def _fill(self):
        d = self.sock.recv(1 << 20)
        assert d, "connection closed"
        self.buf = self.buf[self.pos:] + d
        self.pos = 0

    def _line(self) -> bytes:
        while True:
            i = self.buf.find(b"\r\n", self.pos)
            if i >= 0:
                line = self.buf[self.pos:i]
                self.pos = i + 2
                return line
            self._fill()

    def _read(self):
        line = self._line()
        t, rest = line[:1].decode(), line[1:]
        if t in "+-":
            return (t, rest)
        if t in ":":
            return (t, int(rest))
        if t == "_":
            return ("_",)
        if t in "$=":
            n = int(rest)
            if n < 0:
                return ("_",)
            while len(self.buf) < self.pos + n + 2:
                self._fill()
            v = self.buf[self.pos:self.pos + n]
            self.pos += n + 2
            return ("=", v[4:]) if t == "=" else ("$", v)
        if t in "*~>":
            n = int(rest)
            if n < 0:
                return ("_",)
            return (t, [self._read() for _ in range(n)])
        if t == "%":
            return (t, [(self._read(), self._read()) for _ in range(int(rest))])
        raise AssertionError(f"unexpected reply {line!r}")

    def run(self, cmds: list[list]) -> list:
        req = b"".join(
            b"*%d\r\n" % len(c) + b"".join(
                b"$%d\r\n%b\r\n" % (len(x), x) for x in
                (a if isinstance(a, bytes) else str(a).encode() for a in c))
            for c in cmds)
        self.sock.sendall(req)
        return [self._read() for _ in cmds]

    def close(self):
        self.sock.close()


def py(v):
    """A typed reply as plain values (for messages and set arithmetic)."""
    t = v[0]
    if t in "*~>":
        return [py(x) for x in v[1]]
    if t == "%":
        return {py(k): py(x) for k, x in v[1]}
    if t == "_":
        return None
    return v[1]


def _name_of_info(entry) -> bytes:
    return entry[1][0][1]


def norm_info(entry):
    """A COMMAND INFO entry with its subcommands sorted by name (Redis newer
    than 7.0 subcommands Shardis has left out)."""
    if entry[0] == "_":
        return entry
    t, items = entry
    subs = [norm_info(s) for s in items[9][1] if _name_of_info(s) not in NEWER]
    subs.sort(key=_name_of_info)
    return (t, items[:9] + [(items[9][0], subs)])


def norm_docs(doc):
    """A COMMAND DOCS record with the subcommands map sorted by name."""
    if doc[0] == "*":               # RESP2: a flat array of field, value
        pairs = list(zip(doc[1][0::2], doc[1][1::2]))
    else:
        pairs = doc[1]
    out = []
    for k, v in pairs:
        if k[1] == b"subcommands":
            sp = list(zip(v[1][0::2], v[1][1::2])) if v[0] == "*" else v[1]
            sp = sorted(((n, norm_docs(d)) for n, d in sp if n[1] not in NEWER),
                        key=lambda p: p[0][1])
            v = (v[0], [x for p in sp for x in p]) if v[0] == "*" else (v[0], sp)
        out.append((k, v))
    return ("*", [x for p in out for x in p]) if doc[0] == "*" else (doc[0], out)


# ---------------------------------------------------------------- fixtures

@pytest.fixture(scope="module")
def conns(shardis, real_redis):
    made = {(who, proto): Raw(srv.port, proto)
            for who, srv in (("s", shardis), ("r", real_redis)) for proto in (2, 3)}
    yield made
    for c in made.values():
        c.close()


def both(conns, cmds, proto=2):
    return conns["s", proto].run(cmds), conns["r", proto].run(cmds)


def implemented_names() -> list[bytes]:
    return [s.bname for s in all_specs() if s.bname not in NEWER]


# ---------------------------------------------------------------- COMMAND INFO / DOCS

def test_every_command_has_redis_metadata_except_newer_subcommands():
    missing = [s.name for s in all_specs() if s.meta is None and s.bname not in NEWER]
    assert missing == [], ("regenerate server/command_meta.json: "
                           "python -m server.gen_command_meta --port <redis-server port>")
    # the data file holds only what Shardis implements
    stored = set(META)
    assert stored == {n.decode() for n in TABLE}
    for name, rec in META.items():
        assert set(rec.get("subcommands", {})) <= {
            s.decode() for s in TABLE[name.encode()].subcommands}


def test_declared_arity_is_redis_arity():
    wrong = [(s.name, s.arity, s.meta["arity"]) for s in all_specs()
             if s.meta is not None and s.arity != s.meta["arity"]]
    assert wrong == []


@pytest.mark.parametrize("proto", [2, 3])
def test_command_info_of_every_command_equals_redis(conns, proto):
    names = implemented_names()
    got, want = both(conns, [["COMMAND", "INFO", n] for n in names], proto)
    bad = [(n, py(g), py(w)) for n, g, w in zip(names, got, want)
           if norm_info(g[1][0]) != norm_info(w[1][0])]
    assert bad == []


@pytest.mark.parametrize("proto", [2, 3])
def test_command_docs_of_every_command_equals_redis(conns, proto):
    names = implemented_names()
    got, want = both(conns, [["COMMAND", "DOCS", n] for n in names], proto)
    bad = []
    for n, g, w in zip(names, got, want):
        g = g[1][1] if g[0] == "*" else g[1][0][1]      # the one record
        w = w[1][1] if w[0] == "*" else w[1][0][1]
        if norm_docs(g) != norm_docs(w):
            bad.append((n, py(g), py(w)))
    assert bad == []


@pytest.mark.parametrize("proto", [2, 3])
def test_bare_command_lists_every_implemented_command_as_redis_does(conns, proto):
    got, want = both(conns, [["COMMAND"]], proto)
    ours = {_name_of_info(e): norm_info(e) for e in got[0][1]}
    theirs = {_name_of_info(e): norm_info(e) for e in want[0][1]}
    assert set(ours) == {n for n in TABLE}
    assert {n: e for n, e in ours.items()} == {n: theirs[n] for n in ours}


def test_command_info_unknown_names_are_nil_entries(conns):
    for proto in (2, 3):
        cmd = [["COMMAND", "INFO", "get", "nosuchcmd", "config|nosuch", "SET", "acl|whoami"]]
        got, want = both(conns, cmd, proto)
        assert got == want
        assert got[0][1][1] == ("_",) and got[0][1][2] == ("_",)


def test_command_docs_leaves_unknown_names_out(conns):
    for proto in (2, 3):
        got, want = both(conns, [["COMMAND", "DOCS", "nosuchcmd", "get", "client|nosuch"]],
                         proto)
        assert got == want


def test_command_count_is_the_number_implemented(conns, shardis):
    got = conns["s", 2].run([["COMMAND", "COUNT"], ["COMMAND"]])
    assert got[0] == (":", len(TABLE))
    assert len(got[1][1]) == len(TABLE)


# ---------------------------------------------------------------- COMMAND LIST

def _names(reply) -> list[bytes]:
    return [x[1] for x in reply[1]]


def test_command_list_is_redis_list_restricted_to_implemented(conns):
    got, want = both(conns, [["COMMAND", "LIST"]])
    ours = _names(got[0])
    assert len(ours) == len(set(ours))
    impl = set(implemented_names())
    assert set(ours) - NEWER == impl
    assert impl <= set(_names(want[0]))


def test_command_list_filterby_aclcat_equals_redis(conns):
    cats = _names(conns["r", 2].run([["ACL", "CAT"]])[0])
    impl = set(implemented_names())
    cmds = [["COMMAND", "LIST", "FILTERBY", "ACLCAT", c] for c in cats]
    got, want = both(conns, cmds)
    for c, g, w in zip(cats, got, want):
        assert set(_names(g)) - NEWER == set(_names(w)) & impl, c


@pytest.mark.parametrize("pattern", ["*", "z*", "acl|*", "*SET*", "client|*", "?et",
                                     "co[mn]*", "nosuch*", "MEMORY*"])
def test_command_list_filterby_pattern_equals_redis(conns, pattern):
    got, want = both(conns, [["COMMAND", "LIST", "FILTERBY", "PATTERN", pattern]])
    impl = set(implemented_names())
    assert set(_names(got[0])) - NEWER == set(_names(want[0])) & impl


def test_command_list_filterby_module_and_errors_equal_redis(conns):
    cmds = [["COMMAND", "LIST", "FILTERBY", "MODULE", "foo"],
            ["COMMAND", "LIST", "FILTERBY", "ACLCAT", "nosuchcat"],
            ["COMMAND", "LIST", "FILTERBY", "NOSUCH", "x"],
            ["COMMAND", "LIST", "FILTERBY"],
            ["COMMAND", "LIST", "x"]]
    got, want = both(conns, cmds)
    assert got == want


# ---------------------------------------------------------------- GETKEYS

# One or more sample invocations of every keyed command (keys are k1, k2...).
SAMPLES = {
    "append": ["append k1 v"], "bitcount": ["bitcount k1", "bitcount k1 0 1 BIT"],
    "bitfield": ["bitfield k1 GET u8 0", "bitfield k1 OVERFLOW SAT GET u8 0 GET u4 4",
                 "bitfield k1 SET u8 0 1", "bitfield k1 GET u8 0 INCRBY u8 0 1"],
    "bitfield_ro": ["bitfield_ro k1 GET u8 0"],
    "bitop": ["bitop AND k1 k2 k3", "bitop NOT k1 k2"], "bitpos": ["bitpos k1 1 0"],
    "blmove": ["blmove k1 k2 LEFT RIGHT 0"], "blmpop": ["blmpop 0 2 k1 k2 LEFT COUNT 2"],
    "blpop": ["blpop k1 k2 0"], "brpop": ["brpop k1 0"], "brpoplpush": ["brpoplpush k1 k2 0"],
    "bzmpop": ["bzmpop 1 3 k1 k2 k3 MIN"], "bzpopmax": ["bzpopmax k1 k2 0"],
    "bzpopmin": ["bzpopmin k1 0"], "copy": ["copy k1 k2 REPLACE"], "decr": ["decr k1"],
    "decrby": ["decrby k1 2"], "del": ["del k1 k2 k3"], "dump": ["dump k1"],
    "exists": ["exists k1 k2"], "expire": ["expire k1 10 NX"], "expireat": ["expireat k1 10"],
    "expiretime": ["expiretime k1"], "get": ["get k1"], "getbit": ["getbit k1 1"],
    "getdel": ["getdel k1"], "getex": ["getex k1 PERSIST"], "getrange": ["getrange k1 0 1"],
    "getset": ["getset k1 v"], "hdel": ["hdel k1 f g"], "hexists": ["hexists k1 f"],
    "hget": ["hget k1 f"], "hgetall": ["hgetall k1"], "hincrby": ["hincrby k1 f 1"],
    "hincrbyfloat": ["hincrbyfloat k1 f 1.5"], "hkeys": ["hkeys k1"], "hlen": ["hlen k1"],
    "hmget": ["hmget k1 f g"], "hmset": ["hmset k1 f v"], "hrandfield": ["hrandfield k1 2"],
    "hscan": ["hscan k1 0 COUNT 5"], "hset": ["hset k1 f v g w"], "hsetnx": ["hsetnx k1 f v"],
    "hstrlen": ["hstrlen k1 f"], "hvals": ["hvals k1"], "incr": ["incr k1"],
    "incrby": ["incrby k1 2"], "incrbyfloat": ["incrbyfloat k1 1.5"], "lcs": ["lcs k1 k2 LEN"],
    "lindex": ["lindex k1 0"], "linsert": ["linsert k1 BEFORE a b"], "llen": ["llen k1"],
    "lmove": ["lmove k1 k2 LEFT LEFT"], "lmpop": ["lmpop 2 k1 k2 RIGHT"],
    "lpop": ["lpop k1 2"], "lpos": ["lpos k1 a RANK 1"], "lpush": ["lpush k1 a b"],
    "lpushx": ["lpushx k1 a"], "lrange": ["lrange k1 0 -1"], "lrem": ["lrem k1 0 a"],
    "lset": ["lset k1 0 a"], "ltrim": ["ltrim k1 0 1"], "memory|usage": ["memory usage k1"],
    "mget": ["mget k1 k2 k3"], "move": ["move k1 1"], "mset": ["mset k1 v k2 w"],
    "msetnx": ["msetnx k1 v k2 w"], "object|encoding": ["object encoding k1"],
    "object|freq": ["object freq k1"], "object|idletime": ["object idletime k1"],
    "object|refcount": ["object refcount k1"], "persist": ["persist k1"],
    "pexpire": ["pexpire k1 10"], "pexpireat": ["pexpireat k1 10"],
    "pexpiretime": ["pexpiretime k1"], "pfadd": ["pfadd k1 a b"], "pfcount": ["pfcount k1 k2"],
    "pfdebug": ["pfdebug GETREG k1"], "pfmerge": ["pfmerge k1 k2 k3"],
    "psetex": ["psetex k1 100 v"], "pttl": ["pttl k1"], "rename": ["rename k1 k2"],
    "renamenx": ["renamenx k1 k2"], "restore": ["restore k1 0 payload REPLACE"],
    "rpop": ["rpop k1"], "rpoplpush": ["rpoplpush k1 k2"], "rpush": ["rpush k1 a"],
    "rpushx": ["rpushx k1 a b"], "sadd": ["sadd k1 a b"], "scard": ["scard k1"],
    "sdiff": ["sdiff k1 k2"], "sdiffstore": ["sdiffstore k1 k2 k3"],
    "set": ["set k1 v", "set k1 v GET", "set k1 v EX 10 NX", "set k1 v get"],
    "setbit": ["setbit k1 1 1"], "setex": ["setex k1 10 v"], "setnx": ["setnx k1 v"],
    "setrange": ["setrange k1 0 v"], "sinter": ["sinter k1 k2 k3"],
    "sintercard": ["sintercard 2 k1 k2 LIMIT 1"], "sinterstore": ["sinterstore k1 k2"],
    "sismember": ["sismember k1 a"], "smembers": ["smembers k1"],
    "smismember": ["smismember k1 a b"], "smove": ["smove k1 k2 a"],
    "sort": ["sort k1", "sort k1 BY w_* GET o_* LIMIT 0 1 ALPHA STORE k2", "sort k1 DESC"],
    "sort_ro": ["sort_ro k1", "sort_ro k1 BY w_* GET # ALPHA"],
    "spop": ["spop k1 2"], "srandmember": ["srandmember k1 2"], "srem": ["srem k1 a"],
    "sscan": ["sscan k1 0"], "strlen": ["strlen k1"], "substr": ["substr k1 0 1"],
    "sunion": ["sunion k1 k2"], "sunionstore": ["sunionstore k1 k2 k3"],
    "touch": ["touch k1 k2"], "ttl": ["ttl k1"], "type": ["type k1"],
    "unlink": ["unlink k1 k2"], "watch": ["watch k1 k2"], "zadd": ["zadd k1 1 a 2 b"],
    "zcard": ["zcard k1"], "zcount": ["zcount k1 0 1"], "zdiff": ["zdiff 2 k1 k2 WITHSCORES"],
    "zdiffstore": ["zdiffstore k1 2 k2 k3"], "zincrby": ["zincrby k1 1 a"],
    "zinter": ["zinter 2 k1 k2 WEIGHTS 1 2"], "zintercard": ["zintercard 2 k1 k2"],
    "zinterstore": ["zinterstore k1 2 k2 k3 AGGREGATE MAX"], "zlexcount": ["zlexcount k1 - +"],
    "zmpop": ["zmpop 2 k1 k2 MAX COUNT 3"], "zmscore": ["zmscore k1 a b"],
    "zpopmax": ["zpopmax k1"], "zpopmin": ["zpopmin k1 2"],
    "zrandmember": ["zrandmember k1 1"], "zrange": ["zrange k1 0 -1 WITHSCORES"],
    "zrangebylex": ["zrangebylex k1 - +"], "zrangebyscore": ["zrangebyscore k1 0 1"],
    "zrangestore": ["zrangestore k1 k2 0 -1"], "zrank": ["zrank k1 a"],
    "zrem": ["zrem k1 a"], "zremrangebylex": ["zremrangebylex k1 - +"],
    "zremrangebyrank": ["zremrangebyrank k1 0 1"],
    "zremrangebyscore": ["zremrangebyscore k1 0 1"], "zrevrange": ["zrevrange k1 0 1"],
    "zrevrangebylex": ["zrevrangebylex k1 + -"], "zrevrangebyscore": ["zrevrangebyscore k1 1 0"],
    "zrevrank": ["zrevrank k1 a"], "zscan": ["zscan k1 0"], "zscore": ["zscore k1 a"],
    "zunion": ["zunion 3 k1 k2 k3"], "zunionstore": ["zunionstore k1 1 k2"],
}


def _keyed() -> list:
    return [s for s in all_specs() if _has_keys(s) and not len(s.subcommands)]


def _samples():
    for name, argvs in SAMPLES.items():
        for a in argvs:
            yield name, a.split()


def test_every_keyed_command_has_a_sample():
    assert sorted(s.name for s in _keyed()) == sorted(SAMPLES)


def _lookup(argv):
    spec = TABLE[argv[0].lower().encode()]
    if len(spec.subcommands):
        spec = spec.subcommands[argv[1].lower().encode()]
    return spec


def test_key_extraction_agrees_with_redis_key_specs():
    """The keys a command routes by are the keys Redis's key specs find
    (SORT/SORT_RO/SET/BITFIELD, whose specs Redis does not use for that, aside)."""
    bad = []
    for name, argv in _samples():
        spec = _lookup(argv)
        bargv = [a.encode() for a in argv]
        ours = spec.keys(bargv)
        assert ours, name
        by_specs = keys_by_specs(spec, bargv)
        if by_specs is None:
            assert name in ("sort", "sort_ro", "set", "bitfield"), name
            continue
        if [k for k, _ in by_specs] != ours:
            bad.append((name, argv, ours, by_specs))
    assert bad == []


@pytest.mark.parametrize("sub", ["GETKEYS", "GETKEYSANDFLAGS"])
def test_getkeys_of_every_keyed_command_equals_redis(conns, sub):
    samples = list(_samples())
    for proto in (2, 3):
        got, want = both(conns, [["COMMAND", sub, *argv] for _, argv in samples], proto)
        bad = [(argv, py(g), py(w)) for (_, argv), g, w in zip(samples, got, want) if g != w]
        assert bad == []
        assert all(g[0] != "-" for g in got)


def test_getkeys_errors_equal_redis(conns):
    cmds = [["COMMAND", "GETKEYS", "ping", "x"],            # keyless
            ["COMMAND", "GETKEYS", "nosuch", "x"],
            ["COMMAND", "GETKEYS", "get"],                  # wrong arity
            ["COMMAND", "GETKEYS", "get", "a", "b"],
            ["COMMAND", "GETKEYS", "client", "list"],       # keyless subcommand
            ["COMMAND", "GETKEYS", "object", "nosuch", "k"],
            ["COMMAND", "GETKEYS", "object"],               # a container
            ["COMMAND", "GETKEYS", "spublish", "ch", "m"],  # channel, not key
            ["COMMAND", "GETKEYS", "ssubscribe", "ch"],
            ["COMMAND", "GETKEYS", "zunionstore", "d", "0", "k"],
            ["COMMAND", "GETKEYS", "zunion", "x", "k"],
            ["COMMAND", "GETKEYS", "lmpop", "5", "k", "LEFT"],
            ["COMMAND", "GETKEYS", "sintercard", "-1", "k"],
            ["COMMAND", "GETKEYSANDFLAGS", "ping"],
            ["COMMAND", "GETKEYSANDFLAGS", "set", "k"],
            ["COMMAND", "GETKEYS"],
            ["COMMAND", "GETKEYSANDFLAGS", "GET"]]
    for proto in (2, 3):
        got, want = both(conns, cmds, proto)
        assert [(c, g) for c, g in zip(cmds, got)] == [(c, w) for c, w in zip(cmds, want)]


# ---------------------------------------------------------------- MEMORY subcommands

def test_memory_purge_doctor_malloc_stats_reply_like_redis(conns):
    cmds = [["MEMORY", "PURGE"], ["MEMORY", "DOCTOR"], ["MEMORY", "HELP"],
            ["MEMORY", "PURGE", "x"]]
    for proto in (2, 3):
        got, want = both(conns, cmds, proto)
        assert got[0] == want[0] == ("+", b"OK")
        assert got[1][0] == want[1][0] == ("$" if proto == 2 else "=")
        assert got[1][1].startswith(b"Hi Sam, ")
        assert got[2:] == want[2:]
    got = conns["s", 3].run([["MEMORY", "MALLOC-STATS"]])[0]
    assert got == ("=", b"Stats not supported for the current allocator")
