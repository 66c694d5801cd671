"""Dashboard server: sampler, history ring buffer, JSON API, SSE stream.

Everything here runs on the server's event loop thread (aiohttp shares it).
What the dashboard may touch, and how:

* loop-owned state (``server.clients``, ``Client`` fields, ``server.bridge``
  counters, ``server.tracer.recent``): read directly, it is our own thread;
* shard-owned state (keyspaces, ``cmdstats``, ``slow``): only through
  ``server.call_shard``/``call_all``, a `Call` message run on the shard thread;
* ``ShardStats`` ints, ``held_by``, ``len(backlog)`` and the mailbox size:
  read directly as a fallback (the shard replaces ints atomically under the
  GIL, so the loop sees a consistent value) when a shard does not answer in
  time: a shard held by a long transaction defers our Call behind the holder,
  and a debugging page must still show that shard, stuck as it is.

Cost invariant: nothing on the per-command path.  Once a second one Call per
shard (never a second one while the first is unanswered), plus a 10 Hz loop
timer reading ``qsize()`` of each mailbox to catch peaks between samples.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import logging
import os
import socket
import sys
import time
from collections import deque
from fnmatch import fnmatchcase
from itertools import islice

from aiohttp import web

from actors.keyspace import encoding_of, type_name
from actors.slots import key_slot

__all__ = ["Dashboard", "hist_percentile", "approx_size", "client_info"]

log = logging.getLogger("shardis.dashboard")

STATIC = os.path.join(os.path.dirname(os.path.abspath(__file__)), "static")
HISTORY_SECONDS = 300      # ring buffer: five minutes at one sample a second
POLL_HZ = 10               # mailbox peak polling between samples
CALL_TIMEOUT = 0.5         # how long a sample waits for a shard's answer
KEY_TIMEOUT = 2.0          # key inspector / key listing
STREAM_CLIENTS = 1000      # connections per SSE message (the API lists all)
SLOW_PER_SHARD = 32
MEM_EXACT_KEYS = 2048      # databases this small are measured key by key
MEM_SAMPLE_KEYS = 64       # larger ones: the first keys, scaled (biased to old keys)
PREVIEW_ITEMS = 32
PREVIEW_BYTES = 1024
LIST_SCAN_BUDGET = 20000   # keys a /api/keys request may look at per shard


# ---------------------------------------------------------------- helpers
def hist_percentile(hist, q: float):
    """Percentile (µs) of a log2 histogram: bucket i counts durations in
    [2**(i-1), 2**i) µs (bucket 0: < 1 µs); linear within the bucket."""
    total = sum(hist)
    if not total:
        return None
    target = q * total
    acc = 0
    for i, n in enumerate(hist):
        if n and acc + n >= target:
            lo = 0 if i == 0 else 1 << (i - 1)
            hi = 1 << i
            return round(lo + (hi - lo) * ((target - acc) / n), 1)
        acc += n
    return None


def _text(b, limit: int = 256) -> str:
    if isinstance(b, (bytes, bytearray, memoryview)):
        return bytes(b[:limit]).decode("utf-8", "backslashreplace")
    return str(b)[:limit]


def approx_size(obj, depth: int = 0) -> int:
    """``sys.getsizeof`` of obj plus a sampled estimate of what it holds:
    containers are measured on their first 8 elements and scaled by their
    length, value classes through their attributes (bounded depth, so the
    cost per key is a few dozen getsizeof calls whatever the value's size)."""
    size = sys.getsizeof(obj)
    t = type(obj)
    if t in (bytes, str, int, float, bool) or obj is None or depth >= 4:
        return size
    if isinstance(obj, dict):
        n = len(obj)
        if n:
            k = s = 0
            for a, b in islice(obj.items(), 8):
                s += approx_size(a, depth + 1) + approx_size(b, depth + 1)
                k += 1
            size += s * n // k
        return size
    if isinstance(obj, (list, tuple, set, frozenset, deque)):
        n = len(obj)
        if n:
            k = s = 0
            for a in islice(obj, 8):
                s += approx_size(a, depth + 1)
                k += 1
            size += s * n // k
        return size
    attrs = []
    d = getattr(obj, "__dict__", None)
    if d:
        attrs.extend(d.values())
    for cls in t.__mro__:
        for name in getattr(cls, "__slots__", ()):
            if name not in ("__dict__", "__weakref__"):
                v = getattr(obj, name, None)
                if v is not None:
                    attrs.append(v)
    for v in attrs:
        size += approx_size(v, depth + 1)
    return size


def client_info(c, now: float) -> dict:
    """One connection as the dashboard shows it (loop thread only)."""
    blocked_on = getattr(c, "blocked_on", ()) or ()
    try:
        blocked_on = [_text(k, 128) for k in islice(blocked_on, 8)]
    except TypeError:
        blocked_on = [_text(blocked_on, 128)]
    return {
        "id": c.id, "addr": c.addr, "laddr": c.laddr,
        "name": _text(c.name, 128), "lib": _text(c.lib_name, 64),
        "db": c.db, "resp": c.proto, "state": c.state(),
        "paused": sorted(c.read_paused), "in_flight": len(c.seq),
        "pending_bytes": c.pending_output(), "last_cmd": _text(c.last_cmd, 64),
        "age": int(now - c.created), "idle": int(now - c.last_interaction),
        "cmds": c.cmds_processed, "net_in": c.net_in, "net_out": c.net_out,
        "multi": None if c.multi is None else len(c.multi),
        "blocked": bool(c.blocked), "blocked_on": blocked_on,
    }


def _rss_bytes() -> int:
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


# ---------------------------------------------------------------- shard side
# These functions run on a shard thread (via Call); they only read the shard
# and return plain data, never references into its keyspaces.

def shard_snapshot(shard) -> dict:
    st = shard.stats
    dbs = []
    mem = 0
    for ks in shard.dbs:
        data = ks.data
        n = len(data)
        if not n:
            continue
        s = k = 0
        # the table's iterator is lazy (its items() is a list of every key)
        for key in islice(data, MEM_EXACT_KEYS if n <= MEM_EXACT_KEYS else MEM_SAMPLE_KEYS):
            s += sys.getsizeof(key) + approx_size(data[key])
            k += 1
        est = sys.getsizeof(data) + sys.getsizeof(ks.expires) + s * n // k
        mem += est
        dbs.append({"db": ks.index, "keys": n, "expires": len(ks.expires), "mem": est})
    peak = st.peak_mailbox
    st.peak_mailbox = 0
    slow = [{"shard": shard.index, "start_us": t0, "duration_us": d,
             "args": [_text(a, 64) for a in argv[:8]] + (["..."] if len(argv) > 8 else [])}
            for t0, d, argv, _owner in shard.slow[-SLOW_PER_SHARD:]]
    return {"actor": shard, "messages": st.messages, "commands": st.commands,
            "busy_ns": st.busy_ns, "errors": st.errors, "hist": list(st.lat_hist),
            "peak": peak, "held": shard.held_by is not None,
            "holder": repr(shard.held_by) if shard.held_by is not None else None,
            "deferred": len(shard.backlog), "tx_count": shard.tx_count,
            "expired": shard.stats_expired, "dbs": dbs, "mem": mem, "slow": slow}


def _attr_values(obj) -> list:
    out = []
    for cls in type(obj).__mro__:
        for name in getattr(cls, "__slots__", ()):
            if name not in ("__dict__", "__weakref__"):
                v = getattr(obj, name, None)
                if v is not None:
                    out.append(v)
    d = getattr(obj, "__dict__", None)
    if d:
        out.extend(d.values())
    return out


def _collection_items(v):
    """An iterator over a collection value's elements, in its natural order
    where it has one.  Value classes may define ``dashboard_preview(n)``;
    otherwise: ``items()`` for mappings, iteration for iterables, and for a
    wrapper class its first ordered container attribute (e.g. a zset's
    SortedList of (score, member)), else its first dict's items."""
    items_fn = getattr(v, "items", None)
    if callable(items_fn):
        return iter(items_fn())
    try:
        return iter(v)
    except TypeError:
        pass
    ordered = mapping = None
    for a in _attr_values(v):
        if isinstance(a, (bytes, str, int, float, bool)):
            continue
        if isinstance(a, dict):
            mapping = a if mapping is None else mapping
        elif ordered is None and hasattr(a, "__getitem__") and hasattr(a, "__len__"):
            ordered = a
    if ordered is not None:
        return iter(ordered)
    if mapping is not None:
        return iter(mapping.items())
    return iter([repr(v)[:PREVIEW_BYTES]])


def _preview(v):
    """A JSON-able preview of a value of any registered type: strings as text,
    collections as their first items (pairs for mappings; member and score
    for sorted sets, in rank order)."""
    if type(v) is bytes:
        return {"text": _text(v, PREVIEW_BYTES), "truncated": len(v) > PREVIEW_BYTES}
    hook = getattr(v, "dashboard_preview", None)
    if hook is not None:
        items = list(hook(PREVIEW_ITEMS))
    else:
        items = list(islice(_collection_items(v), PREVIEW_ITEMS))
        if type_name(v) == b"zset":
            items = [(x[1], x[0]) if isinstance(x, tuple) and len(x) == 2
                     and isinstance(x[0], (int, float)) else x for x in items]

    def conv(x):
        if isinstance(x, (tuple, list)):
            return [conv(y) for y in x[:8]]
        if isinstance(x, (int, float)) and not isinstance(x, bool):
            return x
        return _text(x, 256)
    try:
        n = len(v)
    except TypeError:
        n = None
    return {"items": [conv(x) for x in items],
            "truncated": n is not None and n > len(items)}


def inspect_key(shard, dbi: int, key: bytes) -> dict:
    """Read one key without side effects: no hit/miss count, no LRU touch, no
    lazy expiry (an expired key is reported missing and left to the shard)."""
    ks = shard.dbs[dbi]
    v = ks.data.get(key)
    deadline = ks.expires.get(key)
    now = shard.now_ms
    if v is None or (deadline is not None and deadline <= now):
        return {"exists": False}
    try:
        size = len(v)
    except TypeError:
        size = None
    return {"exists": True, "type": type_name(v).decode(), "encoding": encoding_of(v).decode(),
            "ttl_ms": -1 if deadline is None else deadline - now, "size": size,
            "mem": sys.getsizeof(key) + approx_size(v), "preview": _preview(v)}


def list_keys(shard, dbi: int, pattern: bytes, count: int) -> dict:
    ks = shard.dbs[dbi]
    now = shard.now_ms
    out = []
    scanned = 0
    pat = pattern.decode("latin-1")
    data = ks.data
    for key in data:            # lazy, unlike data.items()
        scanned += 1
        if scanned > LIST_SCAN_BUDGET or len(out) >= count:
            break
        v = data[key]
        t = ks.expires.get(key)
        if t is not None and t <= now:
            continue
        if pat == "*" or fnmatchcase(key.decode("latin-1"), pat):
            out.append({"key": _text(key, 256), "key_hex": key[:256].hex(),
                        "type": type_name(v).decode(), "shard": shard.index})
    return {"keys": out, "complete": scanned <= min(len(data), LIST_SCAN_BUDGET)
            and len(out) < count}


# ---------------------------------------------------------------- dashboard
class Dashboard:
    def __init__(self, server):
        self.server = server
        n = len(server.shards)
        self.history: deque = deque(maxlen=HISTORY_SECONDS)
        self.actor_objs: list = [None] * n      # ShardActor, learned from snapshots
        self.outstanding: list = [None] * n     # unanswered snapshot futures
        self.snap: list = [None] * n            # last answered snapshot per shard
        self.snap_time: list = [0.0] * n
        self.prev: list = [None] * n            # counters at the previous sample
        self.peaks = [0] * n
        self.max_lag = 0.0
        self.prev_loop = None
        self.actors: dict = {}                  # latest /api/actors payload
        self.slowlog: list = []
        self.subscribers: set = set()
        self.samples = 0
        self.runner = None
        self.site = None
        self.task = None
        self.port = 0
        self.closing = False

    # ------------------------------------------------------------ lifecycle
    async def start(self) -> None:
        app = web.Application(middlewares=[self._guard])
        app.on_response_prepare.append(_security_headers)
        app.router.add_get("/", self.page)
        app.router.add_static("/static/", STATIC)
        app.router.add_get("/api/actors", self.api_actors)
        app.router.add_get("/api/clients", self.api_clients)
        app.router.add_post("/api/clients/{id}/kill", self.api_kill)
        app.router.add_get("/api/history", self.api_history)
        app.router.add_get("/api/traces", self.api_traces)
        app.router.add_get("/api/slowlog", self.api_slowlog)
        app.router.add_get("/api/latency", self.api_latency)
        app.router.add_get("/api/key", self.api_key)
        app.router.add_get("/api/keys", self.api_keys)
        app.router.add_get("/api/stream", self.api_stream)
        self.runner = web.AppRunner(app, access_log=None, handle_signals=False,
                                    shutdown_timeout=1.0)
        await self.runner.setup()
        host = self.server.config.bind.split()[0] or "127.0.0.1"
        self.site = web.TCPSite(self.runner, host, self.server.config.dashboard_port,
                                reuse_address=True)
        await self.site.start()
        self.port = self.site._server.sockets[0].getsockname()[1]
        self.prev_loop = self._loop_counters()
        self.task = asyncio.get_running_loop().create_task(self._sampler())
        log.info("Dashboard on http://%s:%d/", host, self.port)

    async def stop(self) -> None:
        self.closing = True
        if self.task is not None:
            self.task.cancel()
        for q in list(self.subscribers):
            _offer(q, None)
        if self.runner is not None:
            await self.runner.cleanup()

    # ------------------------------------------------------------ sampling
    async def _sampler(self) -> None:
        loop = asyncio.get_running_loop()
        next_sample = loop.time() + 1.0
        step = 1.0 / POLL_HZ
        while not self.closing:
            try:
                now = loop.time()
                wake = min(now + step, next_sample)
                await asyncio.sleep(wake - now)
                # how late the loop ran our timer: event loop lag
                self.max_lag = max(self.max_lag, loop.time() - wake)
                self._poll_mailboxes()
                if loop.time() >= next_sample:
                    next_sample += 1.0
                    if next_sample < loop.time():   # fell far behind: resync
                        next_sample = loop.time() + 1.0
                    await self.sample()
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 - the page must outlive a bad sample
                log.exception("dashboard sample failed")

    def _poll_mailboxes(self) -> None:
        peaks = self.peaks
        for i, ref in enumerate(self.server.shards):
            q = ref.actor_inbox.qsize()
            if q > peaks[i]:
                peaks[i] = q

    def _loop_counters(self) -> dict:
        b = self.server.bridge
        return {"t": time.monotonic(), "completed": b.completed, "wakeups": b.wakeups,
                "commands": self.server.total_commands()}

    async def sample(self) -> None:
        """One sample: a Call per shard (unless its last one is unanswered),
        rates against the previous sample, one history point, one SSE push."""
        server = self.server
        t_sample = time.monotonic()
        for i in range(len(server.shards)):
            f = self.outstanding[i]
            if f is None or f.done():
                self.outstanding[i] = server.call_shard(i, shard_snapshot)
        pending = [f for f in self.outstanding if f is not None and not f.done()]
        if pending:
            await asyncio.wait(pending, timeout=CALL_TIMEOUT)
        shards = []
        merged_hist = [0] * 32
        for i, ref in enumerate(server.shards):
            shards.append(self._shard_row(i, ref, t_sample, merged_hist))
        loop_row = self._loop_row()
        self.samples += 1
        wall = time.time()
        rss = _rss_bytes()
        est_total = sum(s["mem"] for s in shards) or 1
        for s in shards:
            s["rss_share"] = rss * s["mem"] // est_total if rss else None
        self.actors = {"time": wall, "sample": self.samples, "server": self._server_info(rss),
                       "shards": shards, "loop": loop_row}
        point = {"t": wall,
                 "cmds": loop_row["commands_per_sec"],
                 "shard_cmds": [s["commands_per_sec"] for s in shards],
                 "p50_us": hist_percentile(merged_hist, 0.50),
                 "p99_us": hist_percentile(merged_hist, 0.99),
                 "mailbox": [s["mailbox_peak"] for s in shards],
                 "pending_bytes": loop_row["pending_bytes"],
                 "in_flight": loop_row["replies_in_flight"],
                 "lag_ms": loop_row["loop_lag_ms"], "clients": loop_row["clients"]}
        self.history.append(point)
        slow = []
        for s in self.snap:
            if s is not None:
                slow.extend(s["slow"])
        slow.sort(key=lambda e: e["start_us"], reverse=True)
        self.slowlog = slow[:128]
        if self.subscribers:
            payload = _sse("sample", {
                "actors": self.actors, "point": point, **self._clients_payload(STREAM_CLIENTS),
                "traces": self._traces(40), "slowlog": self.slowlog[:40]})
            for q in list(self.subscribers):
                _offer(q, payload)

    def _shard_row(self, i: int, ref, t_sample: float, merged_hist: list) -> dict:
        f = self.outstanding[i]
        alive = ref.is_alive()
        fresh = False
        if f is not None and f.done():
            self.outstanding[i] = None
            if not f.cancelled() and f.exception() is None:
                snap = f.result()
                self.actor_objs[i] = snap.pop("actor")
                self.snap[i] = snap
                self.snap_time[i] = t_sample
                fresh = True
        snap = self.snap[i] or {}
        actor = self.actor_objs[i]
        # counters: from the fresh snapshot, else read directly (see module doc)
        if fresh:
            cur = {k: snap[k] for k in ("messages", "commands", "busy_ns", "errors", "hist")}
            held, holder, deferred = snap["held"], snap["holder"], snap["deferred"]
            peak_shard = snap["peak"]
        elif actor is not None:
            st = actor.stats
            cur = {"messages": st.messages, "commands": st.commands, "busy_ns": st.busy_ns,
                   "errors": st.errors, "hist": list(st.lat_hist)}
            h = actor.held_by
            held, holder, deferred = h is not None, repr(h) if h is not None else None, len(actor.backlog)
            peak_shard = 0
        else:
            cur = None
            held, holder, deferred, peak_shard = False, None, 0, 0
        mailbox = ref.actor_inbox.qsize()
        peak = max(self.peaks[i], mailbox, peak_shard)
        self.peaks[i] = 0
        prev = self.prev[i]
        row = {"shard": i, "alive": alive, "fresh": fresh,
               "stale_s": round(t_sample - self.snap_time[i], 1) if self.snap_time[i] else None,
               "mailbox": mailbox, "mailbox_peak": peak,
               "messages_per_sec": None, "commands_per_sec": 0, "busy": None,
               "p50_us": None, "p99_us": None, "errors": 0,
               "held": held, "holder": holder, "deferred": deferred,
               "tx_count": snap.get("tx_count", 0), "expired": snap.get("expired", 0),
               "dbs": snap.get("dbs", []), "keys": sum(d["keys"] for d in snap.get("dbs", [])),
               "mem": snap.get("mem", 0), "slots": _slot_range(self.server, i)}
        if cur is not None:
            row["errors"] = cur["errors"]
            if prev is not None:
                dt = max(1e-6, t_sample - prev["t"])
                row["messages_per_sec"] = round((cur["messages"] - prev["messages"]) / dt, 1)
                row["commands_per_sec"] = round((cur["commands"] - prev["commands"]) / dt, 1)
                row["busy"] = round(min(1.0, (cur["busy_ns"] - prev["busy_ns"]) / (dt * 1e9)), 4)
                dh = [a - b for a, b in zip(cur["hist"], prev["hist"])]
                row["p50_us"] = hist_percentile(dh, 0.50)
                row["p99_us"] = hist_percentile(dh, 0.99)
                for j, n in enumerate(dh):
                    merged_hist[j] += n
            cur["t"] = t_sample
            self.prev[i] = cur
        return row

    def _loop_row(self) -> dict:
        now = time.time()
        cur = self._loop_counters()
        prev = self.prev_loop
        dt = max(1e-6, cur["t"] - prev["t"])
        in_flight = pending = paused = blocked = multi = 0
        for c in self.server.clients.values():
            in_flight += len(c.seq)
            pending += c.pending_output()
            if c.read_paused:
                paused += 1
            if c.blocked:
                blocked += 1
            if c.multi is not None:
                multi += 1
        completed = cur["completed"] - prev["completed"]
        wakeups = cur["wakeups"] - prev["wakeups"]
        self.prev_loop = cur
        lag = self.max_lag
        self.max_lag = 0.0
        return {"clients": len(self.server.clients), "replies_in_flight": in_flight,
                "pending_bytes": pending, "paused_clients": paused,
                "blocked_clients": blocked, "multi_clients": multi,
                "commands_per_sec": round(max(0, cur["commands"] - prev["commands"]) / dt, 1),
                "bridge_completions_per_sec": round(completed / dt, 1),
                "bridge_wakeups_per_sec": round(wakeups / dt, 1),
                "completions_per_wakeup": round(completed / wakeups, 2) if wakeups else None,
                "loop_lag_ms": round(lag * 1000, 2),
                "traces_kept": len(self.server.tracer.recent),
                "connections_received": self.server.stats.connections_received,
                "time": now}

    def _server_info(self, rss: int) -> dict:
        s = self.server
        from server.app import SHARDIS_VERSION, VERSION
        return {"version": SHARDIS_VERSION, "redis_version": VERSION, "pid": os.getpid(),
                "bind": s.config.bind, "port": s.port, "dashboard_port": self.port,
                "shards": len(s.shards), "databases": s.config.databases,
                "uptime_s": int(time.monotonic() - s.started_mono), "rss_bytes": rss,
                "trace_every": s.tracer.every, "history_seconds": HISTORY_SECONDS}

    def _clients_payload(self, limit: int | None = None) -> dict:
        now = time.time()
        cs = self.server.clients
        items = list(cs.values()) if limit is None else list(islice(cs.values(), limit))
        return {"clients": [client_info(c, now) for c in items], "clients_total": len(cs)}

    def _traces(self, limit: int) -> list:
        recent = self.server.tracer.recent
        start = max(0, len(recent) - limit)
        return [tr.as_dict() for tr in islice(recent, start, None)][::-1]

    # ------------------------------------------------------------ HTTP
    @web.middleware
    async def _guard(self, request, handler):
        # DNS rebinding: a hostile page that rebinds its name to 127.0.0.1
        # still sends its own name as Host; accept only addresses and local names.
        if not _host_ok(request.host, self.server.config.bind):
            return web.json_response({"error": "forbidden host"}, status=403)
        # CSRF: a cross-origin page can POST a form but cannot add a custom
        # header without a CORS preflight, which we never grant.
        if request.method not in ("GET", "HEAD") and request.headers.get("X-Shardis-Dashboard") != "1":
            return web.json_response({"error": "missing X-Shardis-Dashboard: 1 header"},
                                     status=403)
        return await handler(request)

    async def page(self, request):
        return web.FileResponse(os.path.join(STATIC, "index.html"))

    async def api_actors(self, request):
        # the sampler's first sample lands within a second of the start
        for _ in range(40):
            if self.actors:
                break
            await asyncio.sleep(0.05)
        return _json(self.actors)

    async def api_clients(self, request):
        return _json(self._clients_payload())

    async def api_kill(self, request):
        try:
            cid = int(request.match_info["id"])
        except ValueError:
            return _json({"error": "client id must be an integer"}, 400)
        c = self.server.clients.get(cid)
        if c is None:
            return _json({"error": f"no client with id {cid}"}, 404)
        addr = c.addr
        c.kill()
        log.info("dashboard killed client id=%d addr=%s", cid, addr)
        return _json({"killed": cid, "addr": addr})

    async def api_history(self, request):
        return _json({"interval_s": 1, "points": list(self.history)})

    async def api_traces(self, request):
        return _json({"every": self.server.tracer.every, "traces": self._traces(200)})

    async def api_slowlog(self, request):
        return _json({"threshold_us": None if not self.actor_objs[0] else
                      self.actor_objs[0].slowlog_threshold_ns // 1000,
                      "entries": self.slowlog})

    async def api_latency(self, request):
        # the numbers of LATENCY LATEST/HISTORY and INFO errorstats, merged
        # from the shards and the loop (server/commands/latency.py)
        from server.commands.latency import merged_errors, merged_events
        events = await merged_events(self.server)
        return _json({
            "threshold_ms": self.server.config.latency_monitor_threshold,
            "events": {name: {"max_ms": mx, "samples": samples}
                       for name, (mx, samples) in events.items()},
            "errorstats": await merged_errors(self.server)})

    def _db_param(self, request) -> int:
        raw = request.query.get("db", "0")
        try:
            db = int(raw)
        except ValueError:
            raise web.HTTPBadRequest(text=json.dumps({"error": "db must be an integer"}),
                                     content_type="application/json") from None
        if not 0 <= db < self.server.config.databases:
            raise web.HTTPBadRequest(text=json.dumps({"error": "db index is out of range"}),
                                     content_type="application/json")
        return db

    async def api_key(self, request):
        db = self._db_param(request)
        q = request.query
        if "key_hex" in q:
            try:
                key = bytes.fromhex(q["key_hex"])
            except ValueError:
                return _json({"error": "key_hex is not hexadecimal"}, 400)
        elif "key" in q:
            key = q["key"].encode("utf-8", "surrogateescape")
        else:
            return _json({"error": "give key=... or key_hex=..."}, 400)
        s = self.server.slotmap.shard_of(key)
        out = {"db": db, "key": _text(key, 1024), "key_hex": key[:1024].hex(),
               "shard": s, "slot": key_slot(key)}
        try:
            out.update(await asyncio.wait_for(
                self.server.call_shard(s, inspect_key, db, key), KEY_TIMEOUT))
        except asyncio.TimeoutError:
            return _json({**out, "error": f"shard {s} did not answer within {KEY_TIMEOUT}s "
                                          "(busy, or held by a transaction)"}, 504)
        except Exception as e:  # noqa: BLE001 - a dead shard, reported as such
            return _json({**out, "error": f"shard {s}: {e!r}"}, 502)
        return _json(out, 200 if out["exists"] else 404)

    async def api_keys(self, request):
        db = self._db_param(request)
        pattern = request.query.get("match", "*").encode("utf-8", "surrogateescape")
        try:
            count = max(1, min(1000, int(request.query.get("count", "100"))))
        except ValueError:
            return _json({"error": "count must be an integer"}, 400)
        futs = [self.server.call_shard(i, list_keys, db, pattern, count)
                for i in range(len(self.server.shards))]
        done, pending = await asyncio.wait(futs, timeout=KEY_TIMEOUT) if futs else (set(), set())
        keys = []
        complete = not pending
        for f in futs:
            if f in done and f.exception() is None:
                r = f.result()
                keys.extend(r["keys"])
                complete = complete and r["complete"]
            else:
                complete = False
        keys.sort(key=lambda k: k["key"])
        return _json({"db": db, "keys": keys[:count], "complete": complete and len(keys) <= count})

    async def api_stream(self, request):
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream",
                                           "Cache-Control": "no-cache"})
        await resp.prepare(request)
        q: asyncio.Queue = asyncio.Queue(maxsize=4)
        self.subscribers.add(q)
        try:
            await resp.write(_sse("history", {"interval_s": 1, "points": list(self.history)}))
            if self.actors:
                await resp.write(_sse("sample", {
                    "actors": self.actors, "point": None, **self._clients_payload(STREAM_CLIENTS),
                    "traces": self._traces(40), "slowlog": self.slowlog[:40]}))
            while not self.closing:
                item = await q.get()
                if item is None:
                    break
                await resp.write(item)
        except (ConnectionResetError, ConnectionError):
            pass
        finally:
            self.subscribers.discard(q)
        return resp


# ---------------------------------------------------------------- plumbing
def _slot_range(server, i: int) -> list:
    r = server.slotmap.slots_of(i)
    return [r.start, r.stop - 1]


def _offer(q: asyncio.Queue, item) -> None:
    """Queue for a subscriber; a slow one loses its oldest message, never
    holds up the sampler or the others."""
    while True:
        try:
            q.put_nowait(item)
            return
        except asyncio.QueueFull:
            try:
                q.get_nowait()
            except asyncio.QueueEmpty:
                pass


def _sse(event: str, data) -> bytes:
    return f"event: {event}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n".encode()


def _json(data, status: int = 200):
    return web.json_response(data, status=status, dumps=lambda d: json.dumps(d, separators=(",", ":")))


def _host_ok(host: str, bind: str) -> bool:
    if not host:
        return False
    if host.startswith("["):
        name = host[1:host.find("]")] if "]" in host else host
    else:
        name = host.rsplit(":", 1)[0] if host.count(":") == 1 else host
    name = name.lower()
    if name in ("localhost", socket.gethostname().lower()) or name in bind.lower().split():
        return True
    try:
        ipaddress.ip_address(name)
        return True
    except ValueError:
        return False


async def _security_headers(request, response) -> None:
    h = response.headers
    # Defence in depth behind textContent-only rendering: no inline script,
    # nothing from elsewhere, and no framing (the kill button).
    h["Content-Security-Policy"] = ("default-src 'self'; script-src 'self'; style-src 'self'; "
                                    "img-src 'self' data:; connect-src 'self'; "
                                    "frame-ancestors 'none'; base-uri 'none'; form-action 'self'")
    h["X-Content-Type-Options"] = "nosniff"
    h["X-Frame-Options"] = "DENY"
    h["Referrer-Policy"] = "no-referrer"
    h.setdefault("Cache-Control", "no-store")
