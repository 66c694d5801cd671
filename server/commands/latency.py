"""LATENCY (Redis's latency.c and sparkline.c), the per-command latency
histograms behind INFO latencystats / LATENCY HISTOGRAM, and the error
counters behind INFO errorstats.

Where the numbers live (no locks: each owner writes only its own):

* the latency monitor (``latency-monitor-threshold`` ms, 0 = off): Redis keeps,
  per event, the last 160 samples, one per second (the max within that
  second) plus the all-time max.  Each shard records the events that happen
  on it (``command`` / ``fast-command`` for its commands, ``expire-cycle`` for
  its active expiry) in ``shard.latency``; the loop records its own
  loop-run commands in `LoopLatency.events`.  LATENCY merges them when asked:
  per second the max over sources, the newest 160 seconds, the max of maxes.
* per-command latency histograms (``latency-tracking yes``): power-of-two
  microsecond buckets, bucket ``i`` counting calls that took less than
  ``2**i`` us (``(dt_us).bit_length()``): one list increment per command.
  Shards keep them per handler (``shard.cmdhist``, next to ``cmdstats``; the
  list is looked up once per run of one handler in a batch), the loop per
  spec (`LoopLatency.hist`).  Percentiles are estimated from
  the buckets: the reported value is the upper bound of the bucket holding
  the percentile (factor-of-two resolution; Redis's HdrHistogram has three
  significant digits).
* error replies by code (the first word of the error): shards count the
  errors their handlers raise for a direct reply (``shard.errstats``, on the
  failure path only); the loop counts the errors it produces or that become
  replies there (unknown command, arity, guards, fan-out merges, coordinator
  results) in `LoopLatency.errors`.
"""

from __future__ import annotations

import asyncio
import time

from server.protocol import CommandError, Raw, Verbatim, encode
from server.table import TABLE, Route, command, subcommand

from .introspection import help_reply

__all__ = ["LATENCY_TS_LEN", "LoopLatency", "loop_state", "add_sample", "render_graph",
           "merged_histograms", "merged_errors", "percentile_fields", "count_loop_error"]

LATENCY_TS_LEN = 160          # samples kept per event (Redis's LATENCY_TS_LEN)
GRAPH_COLS = 80               # LATENCY_GRAPH_COLS
HIST_BUCKETS = 64             # (dt_us).bit_length() < 64 for any real duration

CONN = Route.CONN


# ------------------------------------------------------------------ time series

def add_sample(events: dict, event: str, ms: int, now: int) -> None:
    """latencyAddSample: ``events[event] = [max, [[time, ms], ...]]``; a
    sample in the same second as the previous one only raises it."""
    ts = events.get(event)
    if ts is None:
        ts = events[event] = [0, []]
    if ms > ts[0]:
        ts[0] = ms
    samples = ts[1]
    if samples and samples[-1][0] == now:
        if ms > samples[-1][1]:
            samples[-1][1] = ms
        return
    samples.append([now, ms])
    if len(samples) > LATENCY_TS_LEN:
        del samples[0]


def shard_sample(shard, event: str, dt_ns: int) -> None:
    """Called on the shard thread (actors/shard.py) for a duration over the
    threshold."""
    add_sample(shard.latency, event, dt_ns // 1_000_000, int(time.time()))


class LoopLatency:
    """The loop's share: events of loop-run commands, their histograms, and
    the error replies produced on the loop.  ``threshold_ns`` / ``track``
    mirror the config (apply_config keeps them current)."""

    __slots__ = ("events", "hist", "errors", "threshold_ns", "track")

    def __init__(self, cfg):
        self.events: dict = {}
        self.hist: dict = {}          # spec -> buckets
        self.errors: dict = {}        # error code (bytes) -> count
        self.threshold_ns = cfg.latency_monitor_threshold * 1_000_000
        self.track = cfg.latency_tracking


def loop_state(server) -> LoopLatency:
    st = server.extensions.get("latency")
    if st is None:
        st = server.extensions["latency"] = LoopLatency(server.config)
    return st


def loop_command_time(server, spec, dt_ns: int) -> None:
    """A loop-run command's duration (server/connection.py loop_time)."""
    st = loop_state(server)
    if st.track:
        h = st.hist.get(spec)
        if h is None:
            h = st.hist[spec] = [0] * HIST_BUCKETS
        h[(dt_ns // 1000).bit_length()] += 1
    if st.threshold_ns and dt_ns >= st.threshold_ns:
        add_sample(st.events, "fast-command" if "fast" in spec.flags else "command",
                   dt_ns // 1_000_000, int(time.time()))


def count_loop_error(server, reply) -> None:
    """afterErrorReply for an error produced (or turned into a reply) on the loop."""
    from actors.shard import count_error
    count_error(loop_state(server).errors, reply)


def configure_shard(shard, threshold_ns: int, track: bool) -> None:
    """Call on a shard: the latency monitor threshold and latency-tracking."""
    shard.latency_threshold_ns = threshold_ns
    shard.lat_track = track
    shard.update_slow_ns()
    return None


def apply(server) -> None:
    """latency-monitor-threshold / latency-tracking changed: loop and shards."""
    cfg = server.config
    st = loop_state(server)
    st.threshold_ns = cfg.latency_monitor_threshold * 1_000_000
    st.track = cfg.latency_tracking
    for s in range(len(server.shards)):
        server.call_shard(s, configure_shard, st.threshold_ns, st.track)


# ------------------------------------------------------------------ merging

async def _call_live(server, fn, *args) -> list:
    """``fn(shard, *args)`` on every shard; a dead shard (server/failures.py)
    is left out, so INFO and LATENCY still answer about the others."""
    res = await asyncio.gather(*[server.call_shard(s, fn, *args)
                                 for s in range(len(server.shards))],
                               return_exceptions=True)
    return [r for r in res if not isinstance(r, BaseException)]


def _shard_events(shard):
    return {e: [ts[0], [list(x) for x in ts[1]]] for e, ts in shard.latency.items()}


def _reset_events(ev: dict, names) -> set:
    gone = set(ev) if names is None else {n for n in names if n in ev}
    for n in gone:
        del ev[n]
    return gone


def _shard_reset(shard, names):
    return _reset_events(shard.latency, names)


async def merged_events(server) -> dict:
    """event -> [max, samples oldest first]: per second the max over shards
    and loop, the newest LATENCY_TS_LEN seconds."""
    sources = list(await _call_live(server, _shard_events))
    sources.append(loop_state(server).events)
    out: dict = {}
    for ev in sources:
        for name, (mx, samples) in ev.items():
            e = out.setdefault(name, [0, {}])
            e[0] = max(e[0], mx)
            per = e[1]
            for t, ms in samples:
                if ms > per.get(t, -1):
                    per[t] = ms
    for name in sorted(out):
        mx, per = out.pop(name)
        out[name] = [mx, [[t, per[t]] for t in sorted(per)][-LATENCY_TS_LEN:]]
    return out


def _shard_histograms(shard):
    out: dict = {}
    for fn, h in shard.cmdhist.items():
        spec = getattr(fn, "spec", None)
        if spec is not None and any(h):
            _add_hist(out, spec.name, h)
    return out


def _add_hist(out: dict, name: str, h) -> None:
    acc = out.get(name)
    if acc is None:
        out[name] = list(h)
    else:
        for i, n in enumerate(h):
            acc[i] += n


async def merged_histograms(server) -> dict:
    """command full name -> buckets, over every shard and the loop."""
    out: dict = {}
    for part in await _call_live(server, _shard_histograms):
        for name, h in part.items():
            _add_hist(out, name, h)
    for spec, h in loop_state(server).hist.items():
        if any(h):
            _add_hist(out, spec.name, h)
    return out


def _shard_errors(shard):
    return dict(shard.errstats)


async def merged_errors(server) -> dict:
    """error code (str) -> count, shards and loop; INFO errorstats order is
    Redis's rax order: byte order of the codes."""
    out: dict = {}
    for part in [*await _call_live(server, _shard_errors), loop_state(server).errors]:
        for code, n in part.items():
            out[code] = out.get(code, 0) + n
    return {c.decode("utf-8", "replace"): out[c] for c in sorted(out)}


def _shard_reset_stats(shard):
    shard.errstats.clear()
    shard.cmdhist.clear()
    return None


async def reset_stats(server) -> None:
    """CONFIG RESETSTAT: error counts and latency histograms."""
    await _call_live(server, _shard_reset_stats)
    st = loop_state(server)
    st.errors.clear()
    st.hist.clear()


def cdf(h) -> dict:
    """fillCommandCDF: bucket upper bound (us) -> cumulative count, only
    where the count grows."""
    out = {}
    total = 0
    for i, n in enumerate(h):
        if n:
            total += n
            out[1 << i] = total
    return out


def fmt_percentile(p: float) -> str:
    # Redis: "%f" then trimDoubleString (99.900000 -> 99.9, 50.000000 -> 50)
    s = "%f" % p
    if "." in s:
        s = s.rstrip("0").rstrip(".")
    return s


def percentile_fields(hists: dict, percentiles) -> list[tuple[str, str]]:
    """INFO latencystats lines: ``latency_percentiles_usec_<cmd>`` ->
    ``p50=...,p99=...`` (hdr_value_at_percentile on our buckets)."""
    fields = []
    for name, h in hists.items():
        total = sum(h)
        if not total:
            continue
        vals = []
        for p in percentiles:
            want = max(int(p / 100.0 * total + 0.5), 1)
            acc = 0
            for i, n in enumerate(h):
                acc += n
                if acc >= want:
                    break
            vals.append(f"p{fmt_percentile(p)}={float(1 << i):.3f}")
        fields.append((f"latency_percentiles_usec_{name}", ",".join(vals)))
    return fields


# ------------------------------------------------------------------ graph (sparkline.c)

_CHARSET = "_-`"
_CHARSET_FILL = "_o#"


def _render_range(out: list, samples, vmin: float, vmax: float, rows: int, fill: bool) -> None:
    """sparklineRenderRange: ``rows`` rows of bars, then the labels written
    vertically under their column, one blank row between."""
    relmax = (vmax - vmin) or 1
    steps = len(_CHARSET) * rows
    has_labels = any(label for _v, label in samples)
    row = 0
    charset = _CHARSET_FILL if fill else _CHARSET
    while True:
        more = False
        chars = [" "] * len(samples)
        for i, (value, label) in enumerate(samples):
            # C: step = (int)(relval*steps)/relmax, truncated to int on store
            step = int(int((value - vmin) * steps) / relmax)
            step = min(max(step, 0), steps - 1)
            if row < rows:
                more = True
                idx = step - (rows - row - 1) * len(_CHARSET)
                if 0 <= idx < len(_CHARSET):
                    chars[i] = charset[idx]
                elif fill and idx >= len(_CHARSET):
                    chars[i] = "|"
            else:
                if has_labels and row - rows < 1:     # label_margin_top
                    more = True
                    break
                if label:
                    k = row - rows - 1
                    if len(label) > k:
                        more = True
                        chars[i] = label[k]
        if not more:
            return
        row += 1
        out.append("".join(chars) + "\n")


def render_graph(event: str, mx: int, samples, now: int | None = None) -> str:
    """latencyCommandGenSparkeline: a header, a ruler, then 4-row sparklines
    of at most 80 columns, labelled with the age of each sample."""
    if now is None:
        now = int(time.time())
    seq = []
    for t, ms in samples:
        elapsed = now - t
        if elapsed < 60:
            label = f"{elapsed}s"
        elif elapsed < 3600:
            label = f"{elapsed // 60}m"
        elif elapsed < 86400:
            label = f"{elapsed // 3600}h"
        else:
            label = f"{elapsed // 86400}d"
        seq.append((ms, label))
    lo = min((v for v, _ in seq), default=0)
    hi = max((v for v, _ in seq), default=0)
    out = [f"{event} - high {hi} ms, low {lo} ms (all time high {mx} ms)\n",
           "-" * GRAPH_COLS + "\n"]
    for j in range(0, len(seq), GRAPH_COLS):
        if j:
            out.append("\n")
        _render_range(out, seq[j:j + GRAPH_COLS], lo, hi, 4, True)
    return "".join(out)


# ------------------------------------------------------------------ doctor

def _analyze(samples, now: int):
    """analyzeLatencyForEvent: count, avg, mean absolute deviation, period."""
    n = len(samples)
    if not n:
        return 0, 0, 0, 0
    total = sum(ms for _t, ms in samples)
    avg = total // n
    period = now - min(t for t, _ms in samples) or 1
    mad = sum(abs(avg - ms) for _t, ms in samples) // n
    return n, avg, mad, period


def _thp_anon_huge_pages() -> int:
    # THPGetAnonHugePagesSize: AnonHugePages of this process
    try:
        with open("/proc/self/smaps_rollup") as f:
            for line in f:
                if line.startswith("AnonHugePages:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return 0


_ADVICE = {
    "slowlog_inspect": "- Check your Slow Log to understand what are the commands you are running "
                       "which are too slow to execute. Please check "
                       "https://redis.io/commands/slowlog for more information.\n",
    "scheduler": "- The system is slow to execute Redis code paths not containing system calls. "
                 "This usually means the system does not provide Redis CPU time to run for long "
                 "periods. You should try to:\n"
                 "  1) Lower the system load.\n"
                 "  2) Use a computer / VM just for Redis if you are running other software in "
                 "the same system.\n"
                 "  3) Check if you have a \"noisy neighbour\" problem.\n"
                 "  4) Check with 'redis-cli --intrinsic-latency 100' what is the intrinsic "
                 "latency in your system.\n"
                 "  5) Check if the problem is allocator-related by recompiling Redis with "
                 "MALLOC=libc, if you are using Jemalloc. However this may create "
                 "fragmentation problems.\n",
    "hz": "- In order to make the Redis keys expiring process more incremental, try to set the "
          "'hz' configuration parameter to 100 using 'CONFIG SET hz 100'.\n",
    "large_objects": "- Deleting, expiring or evicting (because of maxmemory policy) large "
                     "objects is a blocking operation. If you have very large objects that are "
                     "often deleted, expired, or evicted, try to fragment those objects into "
                     "multiple smaller objects.\n",
    "mass_eviction": "- Sudden changes to the 'maxmemory' setting via 'CONFIG SET', or "
                     "allocation of large objects via sets or sorted sets intersections, STORE "
                     "option of SORT, Redis Cluster large keys migrations (RESTORE command), may "
                     "create sudden memory pressure forcing the server to block trying to evict "
                     "keys. \n",
    "disable_thp": "- I detected a non zero amount of anonymous huge pages used by your process. "
                   "This creates very serious latency events in different conditions, especially "
                   "when Redis is persisting on disk. To disable THP support use the command "
                   "'echo never > /sys/kernel/mm/transparent_hugepage/enabled', make sure to "
                   "also add it into /etc/rc.local so that the command will be executed again "
                   "after a reboot. Note that even if you have already disabled THP, you still "
                   "need to restart the Redis process to get rid of the huge pages already "
                   "created.\n",
}


def doctor_report(server, events: dict, now: int | None = None) -> str:
    """createLatencyReport, for the events Shardis records (command,
    fast-command, expire-cycle, eviction-*), with Redis's texts."""
    cfg = server.config
    if not events and cfg.latency_monitor_threshold == 0:
        return ("I'm sorry, Dave, I can't do that. Latency monitoring is disabled in this Redis "
                "instance. You may use \"CONFIG SET latency-monitor-threshold <milliseconds>.\" "
                "in order to enable it. If we weren't in a deep space mission I'd suggest to "
                "take a look at https://redis.io/topics/latency-monitor.\n")
    if now is None:
        now = int(time.time())
    out = []
    advise: set[str] = set()
    advices = 0
    slow_us = cfg.slowlog_log_slower_than
    threshold = cfg.latency_monitor_threshold
    for num, (event, (mx, samples)) in enumerate(events.items(), 1):
        if num == 1:
            out.append("Dave, I have observed latency spikes in this Redis instance. "
                       "You don't mind talking about it, do you Dave?\n\n")
        n, avg, mad, period = _analyze(samples, now)
        out.append(f"{num}. {event}: {n} latency spikes (average {avg}ms, mean deviation "
                   f"{mad}ms, period {period / n if n else 0:.2f} sec). "
                   f"Worst all time event {mx}ms.")
        if event == "command":
            if slow_us < 0:
                advise.add("slowlog_enabled")
                advices += 1
            elif slow_us // 1000 > threshold:
                advise.add("slowlog_tuning")
                advices += 1
            advise.update(("slowlog_inspect", "large_objects"))
            advices += 2
        elif event == "fast-command":
            advise.add("scheduler")
            advices += 1
        elif event == "expire-cycle":
            advise.update(("hz", "large_objects"))
            advices += 2
        elif event == "eviction-del":
            advise.add("large_objects")
            advices += 1
        elif event == "eviction-cycle":
            advise.add("mass_eviction")
            advices += 1
        out.append("\n")
    if _thp_anon_huge_pages() > 0:
        advise.add("disable_thp")
        advices += 1
    if not events and not advices:
        out.append("Dave, no latency spike was observed during the lifetime of this Redis "
                   "instance, not in the slightest bit. I honestly think you ought to sit down "
                   "calmly, take a stress pill, and think things over.\n")
    elif events and not advices:
        out.append("\nWhile there are latency events logged, I'm not able to suggest any easy "
                   "fix. Please use the Redis community to get some help, providing this report "
                   "in your help request.\n")
    else:
        out.append("\nI have a few advices for you:\n\n")
        if "slowlog_enabled" in advise:
            out.append("- There are latency issues with potentially slow commands you are "
                       "using. Try to enable the Slow Log Redis feature using the command "
                       f"'CONFIG SET slowlog-log-slower-than {threshold * 1000}'. If the Slow "
                       "log is disabled Redis is not able to log slow commands execution for "
                       "you.\n")
        if "slowlog_tuning" in advise:
            out.append("- Your current Slow Log configuration only logs events that are slower "
                       "than your configured latency monitor threshold. Please use "
                       f"'CONFIG SET slowlog-log-slower-than {threshold * 1000}'.\n")
        for key in ("slowlog_inspect", "scheduler"):
            if key in advise:
                out.append(_ADVICE[key])
        if "hz" in advise and cfg.hz < 100:
            out.append(_ADVICE["hz"])
        for key in ("large_objects", "mass_eviction", "disable_thp"):
            if key in advise:
                out.append(_ADVICE[key])
    return "".join(out)


# ------------------------------------------------------------------ LATENCY

@command("latency", -2, group="server", route=CONN, since="2.8.13",
         summary="A container for latency diagnostics commands.", syntax="",
         complexity="Depends on subcommand.")
def cmd_latency(conn, argv):
    raise CommandError("ERR unknown subcommand")


_ADMIN = ("admin", "noscript", "loading", "stale")
_ADMIN_ACL = ("@admin", "@slow", "@dangerous")


@subcommand("latency", "latest", 2, flags=_ADMIN, since="2.8.13",
            summary="Returns the latest latency samples for all events.",
            complexity="O(1)", acl=_ADMIN_ACL)
async def cmd_latency_latest(conn, argv):
    events = await merged_events(conn.server)
    return [[name.encode(), samples[-1][0], samples[-1][1], mx]
            for name, (mx, samples) in events.items()]


@subcommand("latency", "history", 3, flags=_ADMIN, since="2.8.13",
            summary="Returns timestamp-latency samples for an event.", syntax="event",
            complexity="O(1)", acl=_ADMIN_ACL)
async def cmd_latency_history(conn, argv):
    events = await merged_events(conn.server)
    ts = events.get(argv[2].decode("utf-8", "surrogateescape"))
    return [] if ts is None else [[t, ms] for t, ms in ts[1]]


@subcommand("latency", "graph", 3, flags=_ADMIN, since="2.8.13",
            summary="Returns a latency graph for an event.", syntax="event",
            complexity="O(1)", acl=_ADMIN_ACL)
async def cmd_latency_graph(conn, argv):
    name = argv[2].decode("utf-8", "surrogateescape")
    events = await merged_events(conn.server)
    ts = events.get(name)
    if ts is None:
        raise CommandError(b"ERR No samples available for event '%b'" % argv[2])
    return Verbatim(render_graph(name, ts[0], ts[1]).encode())


@subcommand("latency", "doctor", 2, flags=_ADMIN, since="2.8.13",
            summary="Returns a human-readable latency analysis report.",
            complexity="O(1)", acl=_ADMIN_ACL)
async def cmd_latency_doctor(conn, argv):
    events = await merged_events(conn.server)
    return Verbatim(doctor_report(conn.server, events).encode())


@subcommand("latency", "reset", -2, flags=_ADMIN, since="2.8.13",
            summary="Resets the latency data for one or more events.",
            syntax="[event [event ...]]", complexity="O(1)", acl=_ADMIN_ACL)
async def cmd_latency_reset(conn, argv):
    # the number of distinct events that existed (anywhere) and are gone
    names = None if len(argv) == 2 else [a.decode("utf-8", "surrogateescape")
                                         for a in argv[2:]]
    gone: set = set()
    for part in await _call_live(conn.server, _shard_reset, names):
        gone |= part
    gone |= _reset_events(loop_state(conn.server).events, names)
    return len(gone)


@subcommand("latency", "histogram", -2, flags=_ADMIN, since="7.0.0",
            summary="Returns the cumulative distribution of latencies of a subset or all "
                    "commands.",
            syntax="[command [command ...]]",
            complexity="O(N) where N is the number of commands with latency information being "
                       "retrieved.", acl=_ADMIN_ACL)
async def cmd_latency_histogram(conn, argv):
    hists = await merged_histograms(conn.server)
    if len(argv) == 2:
        names = list(hists)
    else:
        # latencySpecificCommandsFillCDF: each name in turn (a container adds
        # its subcommands with data); unknown names are skipped, a name
        # given twice is replied twice, as Redis does
        names = []
        for a in argv[2:]:
            spec = _lookup_fullname(a)
            if spec is None:
                continue
            names.extend(s.name for s in (spec, *spec.subcommands.values()) if s.name in hists)
    # a map that may repeat a key: encoded here, not as a dict
    proto = conn.proto
    head = b"%%%d\r\n" % len(names) if proto == 3 else b"*%d\r\n" % (2 * len(names))
    return Raw(head + b"".join(
        encode(n.encode(), proto)
        + encode({b"calls": sum(hists[n]), b"histogram_usec": cdf(hists[n])}, proto)
        for n in names))


def _lookup_fullname(a: bytes):
    """lookupCommandBySds: ``name`` or ``container|sub``, any case."""
    parts = a.lower().split(b"|")
    spec = TABLE.get(parts[0])
    if spec is None or len(parts) > 2:
        return None
    if len(parts) == 2:
        return spec.subcommands.get(parts[1])
    return spec


_LATENCY_HELP = [
    "LATENCY <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "DOCTOR",
    "    Return a human readable latency analysis report.",
    "GRAPH <event>",
    "    Return an ASCII latency graph for the <event> class.",
    "HISTORY <event>",
    "    Return time-latency samples for the <event> class.",
    "LATEST",
    "    Return the latest latency samples for all events.",
    "RESET [<event> ...]",
    "    Reset latency data of one or more <event> classes.",
    "    (default: reset all data for all event classes)",
    "HISTOGRAM [COMMAND ...]",
    "    Return a cumulative distribution of latencies in the format of a histogram for the "
    "specified command names.",
    "    If no commands are specified then all histograms are replied.",
    "HELP",
    "    Prints this help.",
]


@subcommand("latency", "help", 2, flags=("loading", "stale"), since="2.8.13",
            summary="Returns helpful text about the different subcommands.", acl=("@slow",))
def cmd_latency_help(conn, argv):
    return help_reply(_LATENCY_HELP)
