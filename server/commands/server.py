"""Server commands (Redis's server.c, config.c, debug.c, slowlog.c): keyspace-wide
operations, INFO, CONFIG, SLOWLOG, DEBUG, SHUTDOWN, TIME and friends.

Where state lives:

* keyspaces, per-handler command stats, expired counts and slow commands are
  owned by the shard threads; INFO and SLOWLOG read them with
  ``await server.call_all(fn)`` (a barrier: the reply waits for every shard);
* configuration, clients and the loop-run commands' stats are owned by the
  event loop and read directly.
"""

from __future__ import annotations

import asyncio
import heapq
import os
import platform
import resource
import sys
import time

from server.config import CONFIG_OPTIONS, ConfigError, rewrite_config_file
from server.protocol import OK, CommandError, Raw, Status, Verbatim
from server.table import TABLE, Route, command, subcommand

from . import latency
from .introspection import help_reply
from .util import SYNTAX, parse_int

CONN = Route.CONN


def _sum(parts):
    return sum(parts)


def _ok(parts):
    return OK


@command("dbsize", 1, flags=("readonly", "fast"), group="server", route=Route.ALL, merge=_sum,
         summary="Returns the number of keys in the database.", syntax="",
         acl=("@keyspace", "@read", "@fast"))
def cmd_dbsize(db, argv):
    return db.size()


def _flush_mode(argv):
    if len(argv) > 2:
        raise CommandError(SYNTAX)
    if len(argv) == 2 and argv[1].upper() not in (b"ASYNC", b"SYNC"):
        raise CommandError(SYNTAX)


@command("flushdb", -1, flags=("write",), group="server", route=Route.ALL, merge=_ok,
         summary="Remove all keys from the current database.", syntax="[ASYNC | SYNC]",
         complexity="O(N) where N is the number of keys in the selected database",
         acl=("@keyspace", "@write", "@slow", "@dangerous"))
def cmd_flushdb(db, argv):
    _flush_mode(argv)
    db.clear()
    return OK


@command("flushall", -1, flags=("write",), group="server", route=Route.ALL, merge=_ok,
         summary="Removes all keys from all databases.", syntax="[ASYNC | SYNC]",
         complexity="O(N) where N is the total number of keys in all databases",
         acl=("@keyspace", "@write", "@slow", "@dangerous"))
def cmd_flushall(db, argv):
    _flush_mode(argv)
    for d in db.shard.dbs:
        d.clear()
    return OK


# ------------------------------------------------------------------ shard reads

def _shard_snapshot(shard):
    """Everything INFO needs from one shard, read on its own thread."""
    dbs = [(d.index, d.size(), d.expires_count(), d.avg_ttl()) for d in shard.dbs if d.size()]
    hits = sum(d.hits for d in shard.dbs)
    misses = sum(d.misses for d in shard.dbs)
    stats = {h.spec.name: tuple(v) for h, v in shard.cmdstats.items() if hasattr(h, "spec")}
    from actors.memory import evicted_keys
    return {"dbs": dbs, "hits": hits, "misses": misses, "expired": shard.stats_expired,
            "cmdstats": stats, "commands": shard.stats.commands,
            "evicted": evicted_keys(shard)}


def _reset_shard_stats(shard):
    from actors.memory import reset_evicted
    reset_evicted(shard)
    shard.cmdstats.clear()
    shard.stats_expired = 0
    for d in shard.dbs:
        d.hits = d.misses = 0
    return None


# ------------------------------------------------------------------ INFO

_DEFAULT_SECTIONS = ("server", "clients", "memory", "persistence", "stats", "replication",
                     "cpu", "modules", "errorstats", "cluster", "keyspace")
_ALL_SECTIONS = _DEFAULT_SECTIONS[:-1] + ("commandstats", "latencystats") + ("keyspace",)
_ALL_ORDER = ("server", "clients", "memory", "persistence", "stats", "replication", "cpu",
              "modules", "commandstats", "errorstats", "latencystats", "cluster", "keyspace")


def _human(n: int) -> str:
    for unit, size in (("G", 1 << 30), ("M", 1 << 20), ("K", 1 << 10)):
        if n >= size:
            return f"{n / size:.2f}{unit}"
    return f"{n}B"


def _rss() -> int:
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def _total_memory() -> int:
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError):
        return 0


def _lines(title: str, fields: list[tuple[str, object]]) -> str:
    return "# " + title + "\r\n" + "".join(f"{k}:{v}\r\n" for k, v in fields)


def _select_sections(argv) -> list[str]:
    """INFO's section arguments -> ordered section names (Redis 7 rules:
    several sections allowed, 'all' = everything but modules' own,
    'everything' = all, 'default' = the default set; unknown names are skipped)."""
    if len(argv) == 1:
        return list(_DEFAULT_SECTIONS)
    wanted: set[str] = set()
    for a in argv[1:]:
        s = a.decode("utf-8", "replace").lower()
        if s in ("all", "everything"):
            wanted.update(_ALL_ORDER)
        elif s == "default":
            wanted.update(_DEFAULT_SECTIONS)
        else:
            wanted.add(s)
    return [s for s in _ALL_ORDER if s in wanted]


def _merged_cmdstats(snaps) -> dict[str, list]:
    """name -> [calls, usec, rejected, failed]; shard handlers count calls and
    time where they run, loop-run commands count on ``spec.stats``."""
    out: dict[str, list] = {}
    for snap in snaps:
        for name, (calls, ns, failed) in snap["cmdstats"].items():
            e = out.setdefault(name, [0, 0, 0, 0])
            e[0] += calls
            e[1] += ns // 1000
            e[3] += failed
    specs = []
    for spec in TABLE.values():
        specs.append(spec)
        specs.extend(spec.subcommands.values())
    for spec in specs:
        calls, usec, failed, rejected, loop_calls = spec.stats
        if spec.route == Route.CONN or spec.route == Route.ALL:
            if calls or rejected or failed:
                e = out.setdefault(spec.name, [0, 0, 0, 0])
                if spec.route == Route.CONN:
                    e[0] += calls
                    e[1] += usec
                    e[3] += failed
                e[2] += rejected
        elif loop_calls or failed or rejected:
            # a shard command: its shards counted the calls they ran whole;
            # the loop counts those run across shards by a coordinator (or
            # failed while routed), with their time and failures
            e = out.setdefault(spec.name, [0, 0, 0, 0])
            e[0] += loop_calls
            e[1] += usec
            e[2] += rejected
            e[3] += failed
    return out


async def build_info(conn, sections: list[str]) -> str:
    from server.app import SHARDIS_VERSION, VERSION
    server = conn.server
    cfg = server.config
    # a dead shard (server/failures.py) answers with an exception: INFO
    # reports the others and lists it in shards_down
    from server.failures import down_shards
    down = down_shards(server)
    snaps = [x for x in await asyncio.gather(
        *[server.call_shard(i, _shard_snapshot) for i in range(len(server.shards))],
        return_exceptions=True) if isinstance(x, dict)]
    errors = (await latency.merged_errors(server)
              if "stats" in sections or "errorstats" in sections else {})
    now = time.time()
    parts = []
    for sec in sections:
        if sec == "server":
            up = int(time.monotonic() - server.started_mono)
            parts.append(_lines("Server", [
                ("redis_version", VERSION), ("redis_git_sha1", "00000000"),
                ("redis_git_dirty", 0), ("redis_build_id", "shardis-" + SHARDIS_VERSION),
                ("redis_mode", "standalone"),
                ("os", f"{platform.system()} {platform.release()} {platform.machine()}"),
                ("arch_bits", 64), ("monotonic_clock", "POSIX clock_gettime"),
                ("multiplexing_api", "epoll"), ("atomicvar_api", "c11-builtin"),
                ("gcc_version", "0.0.0"), ("process_id", os.getpid()),
                ("process_supervised", "no"), ("run_id", server.run_id),
                ("tcp_port", server.port), ("server_time_usec", int(now * 1_000_000)),
                ("uptime_in_seconds", up), ("uptime_in_days", up // 86400),
                ("hz", cfg.hz), ("configured_hz", cfg.hz),
                ("lru_clock", int(now) & ((1 << 24) - 1)),
                ("executable", sys.executable), ("config_file", cfg.config_file or ""),
                ("io_threads_active", 0),
                ("shardis_version", SHARDIS_VERSION), ("shards", len(server.shards)),
                ("shards_down", ",".join(str(i) for i in sorted(down)))]))
        elif sec == "clients":
            clients = list(server.clients.values())
            parts.append(_lines("Clients", [
                ("connected_clients", len(clients)), ("cluster_connections", 0),
                ("maxclients", cfg.maxclients),
                ("client_recent_max_input_buffer", 0),
                ("client_recent_max_output_buffer",
                 max((c.pending_output() for c in clients), default=0)),
                ("blocked_clients", sum(1 for c in clients if c.blocked)),
                ("tracking_clients", 0), ("clients_in_timeout_table", 0)]))
        elif sec == "memory":
            rss = _rss()
            peak = max(rss, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)
            total = _total_memory()
            parts.append(_lines("Memory", [
                ("used_memory", rss), ("used_memory_human", _human(rss)),
                ("used_memory_rss", rss), ("used_memory_rss_human", _human(rss)),
                ("used_memory_peak", peak), ("used_memory_peak_human", _human(peak)),
                ("used_memory_peak_perc", f"{100.0 * rss / peak:.2f}%" if peak else "0.00%"),
                ("total_system_memory", total), ("total_system_memory_human", _human(total)),
                ("maxmemory", cfg.maxmemory), ("maxmemory_human", _human(cfg.maxmemory)),
                ("maxmemory_policy", cfg.maxmemory_policy),
                ("mem_fragmentation_ratio", "1.00"), ("mem_allocator", "pymalloc"),
                ("lazyfree_pending_objects", 0)]))
        elif sec == "persistence":
            from server.persistence import aof, snapshot
            rdb_fields = [f for f in snapshot.info_fields(server) if not f[0].startswith(
                ("aof_", "module_fork"))]
            parts.append(_lines("Persistence", rdb_fields + aof.info_fields(server)))
        elif sec == "stats":
            st = server.stats
            clients = list(server.clients.values())
            samples = st.ops_samples
            ops = 0
            if len(samples) >= 2:
                (t0, c0), (t1, c1) = samples[-min(len(samples), 10)], samples[-1]
                ops = int((c1 - c0) / (t1 - t0)) if t1 > t0 else 0
            ps = server.extensions.get("pubsub")
            parts.append(_lines("Stats", [
                ("total_connections_received", st.connections_received),
                ("total_commands_processed", server.total_commands()),
                ("instantaneous_ops_per_sec", ops),
                ("total_net_input_bytes", st.net_in_closed + sum(c.net_in for c in clients)),
                ("total_net_output_bytes",
                 st.net_out_closed + sum(c.net_out for c in clients)),
                ("rejected_connections", st.rejected_conns),
                ("expired_keys", sum(s["expired"] for s in snaps)),
                ("evicted_keys", sum(s["evicted"] for s in snaps)),
                ("evicted_clients", 0),
                ("keyspace_hits", sum(s["hits"] for s in snaps)),
                ("keyspace_misses", sum(s["misses"] for s in snaps)),
                ("pubsub_channels", len(ps.channels) if ps else 0),
                ("pubsub_patterns", len(ps.patterns) if ps else 0),
                ("pubsubshard_channels", len(ps.shard_channels) if ps else 0),
                ("total_error_replies", sum(errors.values())),
                ("client_output_buffer_limit_disconnections", st.output_limit_kills)]))
        elif sec == "replication":
            parts.append(_lines("Replication", [
                ("role", "master"), ("connected_slaves", 0),
                ("master_failover_state", "no-failover"),
                ("master_replid", server.run_id), ("master_replid2", "0" * 40),
                ("master_repl_offset", 0), ("second_repl_offset", -1),
                ("repl_backlog_active", 0), ("repl_backlog_size", 1048576),
                ("repl_backlog_first_byte_offset", 0), ("repl_backlog_histlen", 0)]))
        elif sec == "cpu":
            ru = resource.getrusage(resource.RUSAGE_SELF)
            rc = resource.getrusage(resource.RUSAGE_CHILDREN)
            parts.append(_lines("CPU", [
                ("used_cpu_sys", f"{ru.ru_stime:.6f}"), ("used_cpu_user", f"{ru.ru_utime:.6f}"),
                ("used_cpu_sys_children", f"{rc.ru_stime:.6f}"),
                ("used_cpu_user_children", f"{rc.ru_utime:.6f}")]))
        elif sec == "modules":
            parts.append("# Modules\r\n")
        elif sec == "commandstats":
            fields = []
            for name, (calls, usec, rejected, failed) in _merged_cmdstats(snaps).items():
                per = usec / calls if calls else 0.0
                fields.append((f"cmdstat_{name}",
                               f"calls={calls},usec={usec},usec_per_call={per:.2f},"
                               f"rejected_calls={rejected},failed_calls={failed}"))
            parts.append(_lines("Commandstats", fields))
        elif sec == "errorstats":
            # error replies by code, counted where produced (commands/latency.py)
            parts.append(_lines("Errorstats", [(f"errorstat_{code}", f"count={n}")
                                               for code, n in errors.items()]))
        elif sec == "latencystats":
            # percentiles estimated from power-of-two buckets (commands/latency.py)
            hists = await latency.merged_histograms(server)
            parts.append(_lines("Latencystats", latency.percentile_fields(
                hists, cfg.latency_tracking_info_percentiles)))
        elif sec == "cluster":
            parts.append(_lines("Cluster", [("cluster_enabled", 0)]))
        elif sec == "keyspace":
            per_db: dict[int, list] = {}
            for s in snaps:
                for idx, keys, expires, avg in s["dbs"]:
                    e = per_db.setdefault(idx, [0, 0, 0, 0])
                    e[0] += keys
                    e[1] += expires
                    if avg:
                        e[2] += avg * expires
                        e[3] += expires
            fields = []
            for idx in sorted(per_db):
                keys, expires, ttl_sum, n = per_db[idx]
                fields.append((f"db{idx}", f"keys={keys},expires={expires},"
                                           f"avg_ttl={int(ttl_sum / n) if n else 0}"))
            parts.append(_lines("Keyspace", fields))
    return "\r\n".join(parts)


@command("info", -1, flags=("loading", "stale"), group="server", route=CONN, since="1.0.0",
         summary="Returns information and statistics about the server.",
         syntax="[section [section ...]]", complexity="O(1)",
         acl=("@slow", "@dangerous"))
def cmd_info(conn, argv):
    sections = _select_sections(argv)

    async def run():
        return Verbatim((await build_info(conn, sections)).encode())
    return run()


# ------------------------------------------------------------------ CONFIG

@command("config", -2, group="server", route=CONN, since="2.0.0",
         summary="A container for server configuration commands.", syntax="",
         complexity="Depends on subcommand.")
def cmd_config(conn, argv):
    raise CommandError("ERR unknown subcommand")


@subcommand("config", "get", -3, flags=("admin", "noscript", "loading", "stale"),
            since="2.0.0", summary="Returns the effective values of configuration parameters.",
            syntax="parameter [parameter ...]",
            complexity="O(N) when N is the number of configuration parameters provided",
            acl=("@admin", "@slow", "@dangerous"))
def cmd_config_get(conn, argv):
    cfg = conn.server.config
    out = {}
    for pat in argv[2:]:
        for name in cfg.match(pat.decode("utf-8", "replace")):
            out[name.encode()] = cfg.get_any(name).encode()
    return out


@subcommand("config", "set", -4, flags=("admin", "noscript", "loading", "stale"),
            since="2.0.0", summary="Sets configuration parameters in-flight.",
            syntax="parameter value [parameter value ...]",
            complexity="O(N) when N is the number of configuration parameters provided",
            acl=("@admin", "@slow", "@dangerous"))
def cmd_config_set(conn, argv):
    if len(argv) % 2:
        raise CommandError(SYNTAX)
    pairs = [(argv[i].decode("utf-8", "replace"), argv[i + 1].decode("utf-8", "replace"))
             for i in range(2, len(argv), 2)]
    server = conn.server
    try:
        changed = server.config.set_many(pairs)
    except ConfigError as e:
        raise CommandError("ERR " + str(e)) from None
    for name in changed:
        apply_config(server, name)
    return OK


def apply_config(server, name: str) -> None:
    """Push a changed option into the running server (loop state or shards)."""
    cfg = server.config
    if name in ("slowlog-log-slower-than",):
        us = cfg.slowlog_log_slower_than
        ns = (1 << 62) if us < 0 else us * 1000
        server.slowlog_threshold_ns = ns
        for s in range(len(server.shards)):
            server.call_shard(s, _set_slowlog_threshold, ns)
    elif name in ("latency-monitor-threshold", "latency-tracking"):
        latency.apply(server)           # loop and shards (commands/latency.py)
    elif name == "requirepass":
        from server.acl import apply_auth_config
        apply_auth_config(server)       # the default user's password (server/acl.py)
    elif name in ("maxmemory", "maxmemory-policy", "maxmemory-samples"):
        from actors.memory import apply_memory_config
        apply_memory_config(server)     # each shard's share (actors/memory.py)
    elif name == "client-output-buffer-limit":
        server.output_limits.update(cfg.output_limits())
        server.limit_normal = any(server.output_limits["normal"][:2])
    elif name == "appendfsync" and server.aof is not None:
        server.aof.set_policy(cfg.appendfsync)
    elif name == "notify-keyspace-events":
        from server import notify
        notify.apply(server)
    elif name == "appendonly":
        # yes: a rewrite first (the base), then every write is logged; no:
        # stop logging and close the file (Redis's startAppendOnly/stop)
        from server.persistence import aof
        if cfg.appendonly and server.aof is None:
            task = server.loop.create_task(aof.enable(server))
            task.add_done_callback(lambda t: t.cancelled() or t.exception())
        elif not cfg.appendonly and server.aof is not None:
            task = server.loop.create_task(aof.disable(server))
            task.add_done_callback(lambda t: t.cancelled() or t.exception())


def _set_slowlog_threshold(shard, ns):
    shard.slowlog_threshold_ns = ns
    shard.update_slow_ns()
    return None


@subcommand("config", "resetstat", 2, flags=("admin", "noscript", "loading", "stale"),
            since="2.0.0", summary="Resets the server's statistics.",
            acl=("@admin", "@slow", "@dangerous"))
async def cmd_config_resetstat(conn, argv):
    server = conn.server
    await server.call_all(_reset_shard_stats)
    await latency.reset_stats(server)      # errorstats, loop histograms
    for spec in TABLE.values():
        for s in (spec, *spec.subcommands.values()):
            s.stats[:] = [0, 0, 0, 0, 0]
    st = server.stats
    st.rejected = st.rejected_conns = st.output_limit_kills = 0
    st.connections_received = 0
    st.net_in_closed = st.net_out_closed = 0
    for c in server.clients.values():
        c.net_in = c.net_out = 0
    return OK


@subcommand("config", "rewrite", 2, flags=("admin", "noscript", "loading", "stale"),
            since="2.8.0", summary="Persists the effective configuration to file.",
            acl=("@admin", "@slow", "@dangerous"))
def cmd_config_rewrite(conn, argv):
    cfg = conn.server.config
    if not cfg.config_file:
        raise CommandError("ERR The server is running without a config file")
    try:
        rewrite_config_file(cfg, cfg.config_file)
    except OSError as e:
        raise CommandError(f"ERR Rewriting config file: {e.strerror}") from None
    return OK


_CONFIG_HELP = [
    "CONFIG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "GET <pattern>",
    "    Return parameters matching the glob-like <pattern> and their values.",
    "SET <directive> <value>",
    "    Set the configuration <directive> to <value>.",
    "RESETSTAT",
    "    Reset statistics reported by the INFO command.",
    "REWRITE",
    "    Rewrite the configuration file.",
    "HELP",
    "    Prints this help.",
]


@subcommand("config", "help", 2, flags=("loading", "stale"), since="5.0.0",
            summary="Returns helpful text about the different subcommands.", acl=("@slow",))
def cmd_config_help(conn, argv):
    return help_reply(_CONFIG_HELP)


# ------------------------------------------------------------------ SLOWLOG

def _shard_slowlog(shard):
    return [(shard.index, *e) for e in shard.slow]


def _shard_slowlog_reset(shard):
    shard.slow.clear()
    return None


def _slow_args(argv) -> list[bytes]:
    """Redis keeps at most 32 arguments and 128 bytes of each in an entry."""
    out = []
    n = len(argv)
    for i, a in enumerate(argv):
        if i == 31 and n > 32:
            out.append(b"... (%d more arguments)" % (n - 31))
            break
        if not isinstance(a, bytes):
            # a coordinator's internal step (SORT's, a WATCH token...) carries
            # objects among its arguments: shown as text, never an error
            a = b"%d" % a if type(a) is int else str(a).encode("utf-8", "replace")
        if len(a) > 128:
            a = a[:128] + b"... (%d more bytes)" % (len(a) - 128)
        out.append(a)
    return out


async def _slowlog_entries(server) -> list:
    """All shards' slow entries, newest first, with stable ids assigned in
    completion order (Redis logs a command when it ends) the first time the
    loop sees an entry.  Each shard's list (and the loop's) is already in
    that order, as it appended its entries; the lists are merged by end time
    (start + duration) without reordering any one of them, so a shard's
    entries stay in execution order even where their wall-clock estimates
    disagree (a run's commands are logged with the run's mean duration; the
    wall clock can step back)."""
    ext = server.extensions.setdefault("slowlog", {"ids": {}, "next": 0})
    parts = await server.call_all(_shard_slowlog)
    parts.append([(-1, *e) for e in server.loop_slow])
    raw = heapq.merge(*parts, key=lambda e: e[1] + e[2])
    ids = ext["ids"]
    seen = set()
    out = []
    for shard, start_us, dur_us, argv, client in raw:
        key = (shard, start_us, dur_us, id(argv))
        seen.add(key)
        if key not in ids:
            ids[key] = ext["next"]
            ext["next"] += 1
        # the client's address and name as the loop sees them now
        addr = getattr(client, "addr", "")
        out.append((ids[key], start_us, dur_us, argv,
                    addr.encode() if isinstance(addr, str) else b"",
                    getattr(client, "name", b"") or b""))
    for k in list(ids):
        if k not in seen:
            del ids[k]
    out.reverse()
    return out[:max(server.config.slowlog_max_len, 0)]


@command("slowlog", -2, group="server", route=CONN, since="2.2.12",
         summary="A container for slow log commands.", syntax="",
         complexity="Depends on subcommand.")
def cmd_slowlog(conn, argv):
    raise CommandError("ERR unknown subcommand")


@subcommand("slowlog", "get", -2, flags=("admin", "loading", "stale"), since="2.2.12",
            summary="Returns the slow log's entries.", syntax="[count]",
            complexity="O(N) where N is the number of entries returned",
            acl=("@admin", "@slow", "@dangerous"))
def cmd_slowlog_get(conn, argv):
    count = 10
    if len(argv) > 3:
        raise CommandError("ERR unknown subcommand or wrong number of arguments for '%s'. "
                           "Try SLOWLOG HELP." % argv[1].decode("utf-8", "replace"))
    if len(argv) == 3:
        try:
            count = parse_int(argv[2])
        except CommandError:
            count = -2
        if count < -1:
            raise CommandError("ERR count should be greater than or equal to -1")

    async def run():
        entries = await _slowlog_entries(conn.server)
        if count >= 0:
            entries = entries[:count]
        return [[i, start // 1_000_000, dur, _slow_args(a), addr, name]
                for i, start, dur, a, addr, name in entries]
    return run()


@subcommand("slowlog", "len", 2, flags=("admin", "loading", "stale"), since="2.2.12",
            summary="Returns the number of entries in the slow log.",
            acl=("@admin", "@slow", "@dangerous"))
async def cmd_slowlog_len(conn, argv):
    return len(await _slowlog_entries(conn.server))


@subcommand("slowlog", "reset", 2, flags=("admin", "loading", "stale"), since="2.2.12",
            summary="Clears all entries from the slow log.",
            complexity="O(N) where N is the number of entries in the slowlog",
            acl=("@admin", "@slow", "@dangerous"))
async def cmd_slowlog_reset(conn, argv):
    await conn.server.call_all(_shard_slowlog_reset)
    conn.server.loop_slow.clear()
    conn.server.extensions.pop("slowlog", None)
    return OK


_SLOWLOG_HELP = [
    "SLOWLOG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "GET [<count>]",
    "    Return top <count> entries from the slowlog (default: 10, -1 mean all).",
    "    Entries are made of:",
    "    id, timestamp, time in microseconds, arguments array, client IP and port,",
    "    client name",
    "LEN",
    "    Return the length of the slowlog.",
    "RESET",
    "    Reset the slowlog.",
    "HELP",
    "    Prints this help.",
]


@subcommand("slowlog", "help", 2, flags=("loading", "stale"), since="6.2.0",
            summary="Show helpful text about the different subcommands", acl=("@slow",))
def cmd_slowlog_help(conn, argv):
    return help_reply(_SLOWLOG_HELP)


# ------------------------------------------------------------------ DEBUG

_DEBUG_HELP = [
    "DEBUG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "RELOAD",
    "    Save the RDB on disk and reload it back to memory.",
    "SLEEP <seconds>",
    "    Stop the server for <seconds>. Decimals allowed.",
    "HELP",
    "    Prints this help.",
]


@command("debug", -2, flags=("admin", "noscript", "loading", "stale"), group="server",
         route=CONN, since="1.0.0", summary="A container for debugging commands.",
         syntax="subcommand [argument [argument ...]]", complexity="Depends on subcommand.",
         acl=("@admin", "@slow", "@dangerous"))
def cmd_debug(conn, argv):
    sub = argv[1].lower()
    if sub == b"help" and len(argv) == 2:
        return help_reply(_DEBUG_HELP)
    if sub == b"sleep" and len(argv) == 3:
        try:
            secs = float(argv[2])
        except ValueError:
            secs = 0.0          # Redis uses atof: garbage sleeps 0 seconds
        if secs != secs or secs < 0:
            secs = 0.0

        async def sleep():
            # delays this connection's reply (and its later requests, which
            # park behind the barrier) without blocking anyone else
            # (the loop's timers may fire up to a millisecond early: sleep on
            # until the full time has passed, as usleep would)
            deadline = time.perf_counter() + secs
            while (rest := deadline - time.perf_counter()) > 0:
                await asyncio.sleep(rest)
            return OK
        return sleep()
    if sub == b"reload" and len(argv) == 2:
        return debug_reload(conn.server)
    if sub == b"shard-kill" and len(argv) == 3:
        return debug_shard_kill(conn, argv[2])
    raise CommandError("ERR unknown subcommand or wrong number of arguments for '%s'. "
                       "Try DEBUG HELP." % argv[1][:128].decode("utf-8", "replace"))


DEBUG_NOT_ALLOWED = (
    "ERR DEBUG command not allowed. If the enable-debug-command option is set to \"local\", "
    "you can run it from a local connection, otherwise you need to set this option in the "
    "configuration file, and then restart the server.")


async def debug_shard_kill(conn, arg: bytes):
    """DEBUG SHARD-KILL <n> (Shardis, for failure-isolation tests): kill shard
    n's actor as an unexpected exception would (server/failures.py), and
    reply once the server has taken over its mailbox.  Allowed only with
    ``enable-debug-command yes`` (or ``local`` from a loopback client)."""
    from server.acl import protected_mode_denies
    from server.failures import down_shards, kill_shard
    server = conn.server
    mode = server.config.enable_debug_command
    local = not protected_mode_denies(True, True, conn.addr.rpartition(":")[0])
    if mode == "no" or (mode == "local" and not local):
        raise CommandError(DEBUG_NOT_ALLOWED)
    i = parse_int(arg)
    if not 0 <= i < len(server.shards):
        raise CommandError("ERR shard index out of range")
    if i not in down_shards(server):
        kill_shard(server, i)
        deadline = time.monotonic() + 5.0
        while i not in down_shards(server) and time.monotonic() < deadline:
            await asyncio.sleep(0.005)
    return OK


def _flush_shard(shard):
    for db in shard.dbs:
        db.clear()
    return None


async def debug_reload(server):
    """DEBUG RELOAD: save the RDB, empty every database, load it back (Redis's
    debug.c; with the AOF on Redis also reloads from the RDB it just wrote)."""
    from server.connection import in_tx
    from server.persistence import snapshot
    if not await snapshot.save_now(server):
        raise CommandError("ERR Error trying to save the DB")

    async def reload():
        await server.call_all(_flush_shard)
        await snapshot.load_file(server, snapshot.rdb_path(server))
    try:
        await in_tx(server, range(len(server.shards)), reload())
    except OSError as e:
        raise CommandError("ERR Error trying to load the RDB dump: %s" % e) from None
    return OK


# ------------------------------------------------------------------ SHUTDOWN

@command("shutdown", -1, flags=("admin", "noscript", "loading", "stale", "no_multi", "nomulti",
                                "allow_busy"),
         group="server", route=CONN, since="1.0.0",
         summary="Synchronously saves the database(s) to disk and shuts down the Redis server.",
         syntax="[NOSAVE | SAVE] [NOW] [FORCE] [ABORT]",
         complexity="O(N) when saving, where N is the total number of keys in all databases "
                    "when saving data, otherwise O(1)",
         acl=("@admin", "@slow", "@dangerous"))
def cmd_shutdown(conn, argv):
    save = nosave = abort = False
    for a in argv[1:]:
        o = a.upper()
        if o == b"NOSAVE":
            nosave = True
        elif o == b"SAVE":
            save = True
        elif o == b"ABORT":
            abort = True
        elif o in (b"NOW", b"FORCE"):
            pass
        else:
            raise CommandError(SYNTAX)
    if (abort and len(argv) != 2) or (save and nosave):
        raise CommandError(SYNTAX)
    if abort:
        # shutdown here is immediate: there is never one in progress to abort
        raise CommandError("ERR No shutdown in progress.")
    # No reply (like Redis): the connection closes once the replies to
    # earlier requests are written, and the server stops its actors.
    from server.connection import DEFERRED
    server = conn.server
    if save or (not nosave and server.config.save.strip()):
        # SHUTDOWN SAVE, or save points configured: save first, and refuse to
        # stop if that fails, like Redis's prepareForShutdown (the RDB is
        # written whether or not the AOF is on)
        from server.persistence import snapshot

        async def save_then_stop():
            if not await snapshot.save_now(server):
                raise CommandError("ERR Errors trying to SHUTDOWN. Check logs.")
            conn.closing = True
            server.request_shutdown("SHUTDOWN")
            return Raw(b"")     # no reply; resolves this barrier's entry
        return save_then_stop()
    conn.closing = True
    server.request_shutdown("SHUTDOWN" + (" NOSAVE" if nosave else ""))
    return DEFERRED


# ------------------------------------------------------------------ misc

@command("time", 1, flags=("loading", "stale", "fast"), group="server", route=CONN,
         since="2.6.0", summary="Returns the server time.", syntax="", acl=("@fast",))
def cmd_time(conn, argv):
    us = time.time_ns() // 1000
    return [b"%d" % (us // 1_000_000), b"%d" % (us % 1_000_000)]


@command("lastsave", 1, flags=("loading", "stale", "fast"), group="server", route=CONN,
         since="1.0.0", summary="Returns the Unix timestamp of the last successful save to disk.",
         syntax="", acl=("@admin", "@fast", "@dangerous"))
def cmd_lastsave(conn, argv):
    # nothing is ever saved: the last "save" is the empty dataset at startup
    return int(conn.server.started)


@command("role", 1, flags=("noscript", "loading", "stale", "fast"), group="server", route=CONN,
         since="2.8.12", summary="Returns the replication role.", syntax="",
         acl=("@admin", "@fast", "@dangerous"))
def cmd_role(conn, argv):
    return [b"master", 0, []]


@command("wait", 3, flags=("noscript",), group="generic", route=CONN, since="3.0.0",
         summary="Blocks until the asynchronous replication of all preceding write commands "
                 "sent by the connection is completed.",
         syntax="numreplicas timeout", acl=("@slow", "@connection"))
def cmd_wait(conn, argv):
    parse_int(argv[1])
    try:
        timeout = parse_int(argv[2], "ERR timeout is not an integer or out of range")
    except CommandError:
        raise
    if timeout < 0:
        raise CommandError("ERR timeout is negative")
    return 0        # no replicas: nothing to wait for
