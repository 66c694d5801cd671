"""``python -m bench``: Shardis against a real redis-server, in the same run.

    python -m bench                       # full suite, 3 rounds
    python -m bench --quick               # the four GET/SET connection/pipeline shapes
    python -m bench --scenario c1-p30 --scenario mset --rounds 5
    python -m bench --shards-sweep 1,2,4,8
    python -m bench --profile c1-p30 --profile-seconds 10
    python -m bench --list

Throughput scenarios run interleaved (redis, Shardis, redis, Shardis, ...)
for ``--rounds`` rounds; the report is per-test medians and the ratio of the
medians, Shardis / redis. Everything, raw rounds included, goes to
bench/results/<timestamp>.json (and ``--json PATH``). Both servers are
stopped in a ``finally``, also on Ctrl-C.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys
import time

from . import extra
from . import profile as prof
from . import rb
from .scenarios import (BIGZ_COMMANDS, BIGZ_KEY, BY_NAME, DEFAULT_SUITE, SCENARIOS, Scenario,
                        idle_connection_memory, key_memory, load_bigz, missing_commands, resolve)
from .servers import ROOT, Server, raise_fd_limit, start_redis, start_shardis, stop_all, supports

RESULTS_DIR = os.path.join(ROOT, "bench", "results")
SERVERS = ("redis", "shardis")

# The targets, as ratios to redis-server measured in the same run.
RPS_TARGETS = [("c1-p30", 0.6), ("c50-p30", 0.6), ("c50-p1", 0.5), ("c1-p1", 0.5)]
CONN_MEMORY_MAX_EXTRA = 4096     # bytes per idle connection above redis's
KEY_MEMORY_MAX_RATIO = 3.0       # bytes per 16-byte-value key, Shardis / redis


def log(msg: str = "") -> None:
    print(msg, flush=True)


def fmt_rps(v: float | None) -> str:
    return "-" if v is None else f"{v:,.0f}"


def fmt_ratio(v: float | None) -> str:
    return "-" if v is None else f"{v:.2f}x"


# ------------------------------------------------------------ machine info

def _cmd_out(argv: list[str]) -> str:
    try:
        return subprocess.run(argv, capture_output=True, text=True, timeout=10, cwd=ROOT).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


def _loadavg() -> str:
    try:
        with open("/proc/loadavg") as f:
            return " ".join(f.read().split()[:3])
    except OSError:
        return ""


def machine_info() -> dict:
    commit = _cmd_out(["git", "rev-parse", "HEAD"])
    dirty = bool(_cmd_out(["git", "status", "--porcelain", "--untracked-files=no"]))
    return {
        "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "nproc": _cmd_out(["nproc"]) or str(os.cpu_count()),
        "cpu_model": next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo")
                           if line.startswith("model name")), platform.processor()),
        "python": sys.version.split()[0],
        "python_version_output": _cmd_out([sys.executable, "--version"]),
        "redis_server_version": _cmd_out(["redis-server", "--version"]),
        "redis_benchmark_version": _cmd_out(["redis-benchmark", "--version"]),
        "platform": platform.platform(),
        "git_commit": commit,
        "git_dirty": dirty,
        "loadavg_start": _loadavg(),
    }


# ------------------------------------------------------------ running

class Context:
    """The two servers of a run. Shardis is restarted if it stops answering
    (a hung test must not take the rest of the suite with it)."""

    def __init__(self, args):
        self.args = args
        self.redis: Server = start_redis()
        self.shardis: Server = start_shardis(args.shards)
        self.restarted: list[dict] = []   # servers started after a hang, for the report

    def describe(self) -> dict:
        return {kind: {"pid": s.pid, "port": s.port, "argv": s.argv}
                for kind, s in (("redis", self.redis), ("shardis", self.shardis))}

    def server(self, kind: str) -> Server:
        return self.redis if kind == "redis" else self.shardis

    def ensure_alive(self, kind: str) -> str | None:
        """After a timeout: PING the server; restart it if dead or stuck.
        Returns a note for the report, or None if it is healthy."""
        s = self.server(kind)
        try:
            c = s.client(socket_timeout=5)
            c.ping()
            c.close()
            return None
        except Exception as e:  # noqa: BLE001 - any failure means restart
            note = f"{kind} did not answer PING after a timeout ({e!r}); restarted"
        s.stop()
        if kind == "redis":
            self.redis = start_redis()
        else:
            self.shardis = start_shardis(self.args.shards)
        self.restarted.append(self.describe()[kind])
        return note


def scaled(n: int, scale: float) -> int:
    return max(1, int(n * scale))


def run_merged(server: Server, runs: list[dict], timeout: float) -> dict:
    """Several redis-benchmark invocations against one server, reported as
    one result whose ``tests`` is the union (bigz, default suite)."""
    merged = {"argv": [], "seconds": 0.0, "tests": {}, "error": None}
    for kw in runs:
        label = kw.pop("label", None)
        r = rb.run(server.port, timeout=timeout, **kw)
        merged["argv"].append(r["argv"])
        merged["seconds"] += r["seconds"]
        tests = r["tests"]
        if label is not None:  # arbitrary-command mode names the test by the whole command line
            tests = {label: v for v in tests.values()}
        merged["tests"].update(tests)
        if r["error"] and not merged["error"]:
            merged["error"] = f"{label or kw.get('tests')}: {r['error']}"
    return merged


def median_of(rounds: list[dict], kind: str, test: str) -> dict | None:
    vals = [r[kind]["tests"][test] for r in rounds if test in r.get(kind, {}).get("tests", {})]
    if not vals:
        return None
    return {k: statistics.median(v[k] for v in vals) for k in ("rps", "p50_ms", "p99_ms") if k in vals[0]} \
        | {"rounds": len(vals)}


def summarize(rounds: list[dict]) -> dict:
    names: list[str] = []
    for r in rounds:
        for kind in SERVERS:
            for t in r.get(kind, {}).get("tests", {}):
                if t not in names:
                    names.append(t)
    out = {}
    for t in names:
        m = {kind: median_of(rounds, kind, t) for kind in SERVERS}
        ratio = None
        if m["redis"] and m["shardis"] and m["redis"]["rps"]:
            ratio = m["shardis"]["rps"] / m["redis"]["rps"]
        out[t] = {"redis": m["redis"], "shardis": m["shardis"], "ratio": ratio}
    return out


def interleaved(ctx: Context, rounds: int, runs_for, timeout: float, label: str) -> list[dict]:
    """``rounds`` rounds of (redis, Shardis); ``runs_for(kind)`` gives the
    redis-benchmark invocations of one server's turn."""
    out = []
    for i in range(rounds):
        rec = {}
        for kind in SERVERS:
            s = ctx.server(kind)
            res = run_merged(s, runs_for(kind), timeout)
            if res["error"] == "timeout" or (res["error"] or "").endswith(": timeout"):
                note = ctx.ensure_alive(kind)
                if note:
                    res["note"] = note
                    log(f"  !! {note}")
            rec[kind] = res
        out.append(rec)
        line = "  ".join(f"{kind} " + " ".join(f"{t}={fmt_rps(v['rps'])}" for t, v in rec[kind]["tests"].items())
                         + (f" [ERROR {rec[kind]['error'][:80]}]" if rec[kind]["error"] else "")
                         for kind in SERVERS)
        log(f"  {label} round {i + 1}/{rounds}: {line}")
    return out


def print_table(tests: dict, indent: str = "  ") -> None:
    log(f"{indent}{'test':<34} {'redis rps':>11} {'shardis rps':>12} {'ratio':>7}   "
        f"{'redis p50/p99 ms':>17}   {'shardis p50/p99 ms':>18}")
    for t, v in tests.items():
        r, s = v["redis"] or {}, v["shardis"] or {}
        lat = lambda m: f"{m['p50_ms']:.3f}/{m['p99_ms']:.3f}" if m and "p50_ms" in m else "-"  # noqa: E731
        log(f"{indent}{t[:34]:<34} {fmt_rps(r.get('rps')):>11} {fmt_rps(s.get('rps')):>12} "
            f"{fmt_ratio(v['ratio']):>7}   {lat(r):>17}   {lat(s):>18}")


def run_rb_scenario(ctx: Context, sc: Scenario, args) -> dict:
    n = {"shardis": scaled(sc.n, args.n_scale), "redis": scaled(sc.n * sc.redis_n_factor, args.n_scale)}
    rounds = interleaved(ctx, args.rounds, lambda kind: [sc.rb_kwargs(n[kind])], args.timeout, sc.name)
    return {"rounds": rounds, "tests": summarize(rounds)}


def run_tx_scenario(ctx: Context, sc: Scenario, args) -> dict:
    """Our own generators (bench/extra.py: tx, fanout) in the same interleaved rounds."""
    n = {"shardis": scaled(sc.n, args.n_scale), "redis": scaled(sc.n * sc.redis_n_factor, args.n_scale)}
    rounds = []
    for i in range(args.rounds):
        run = extra.run_tx if sc.kind == "tx" else extra.run_fanout
        rec = {kind: run(ctx.server(kind).port, n[kind], pipeline=sc.pipeline, timeout=args.timeout)
               for kind in SERVERS}
        rounds.append(rec)
        log(f"  {sc.name} round {i + 1}/{args.rounds}: " + "  ".join(
            f"{kind} " + " ".join(f"{t}={fmt_rps(v['rps'])}" for t, v in rec[kind]["tests"].items())
            + (f" [ERROR {rec[kind]['error'][:80]}]" if rec[kind]["error"] else "") for kind in SERVERS))
    return {"rounds": rounds, "tests": summarize(rounds)}


def run_bigz(ctx: Context, sc: Scenario, args) -> dict:
    members = scaled(sc.keyspace, args.n_scale)
    load = {}
    for kind in SERVERS:
        log(f"  loading {members:,} members into {kind} {BIGZ_KEY} ...")
        load[kind] = load_bigz(ctx.server(kind), members)
        log(f"  loaded in {load[kind]:.1f}s")
    n = {"shardis": scaled(sc.n, args.n_scale), "redis": scaled(sc.n * sc.redis_n_factor, args.n_scale)}
    rounds = interleaved(ctx, args.rounds,
                         lambda kind: [dict(label=label, command=cmd, clients=sc.clients, pipeline=sc.pipeline,
                                            n=n[kind], keyspace=members)
                                       for label, cmd in BIGZ_COMMANDS.items()],
                         args.timeout, sc.name)
    for kind in SERVERS:
        ctx.server(kind).client().delete(BIGZ_KEY)
    return {"members": members, "load_seconds": load, "rounds": rounds, "tests": summarize(rounds)}


def run_default_suite(ctx: Context, sc: Scenario, args) -> dict:
    n = scaled(20000, args.n_scale)
    supported, unsupported = [], []
    for name, probe in DEFAULT_SUITE:
        (supported if supports(ctx.shardis, *probe) else unsupported).append(name)
    if unsupported:
        log(f"  not supported yet by Shardis (skipped): {', '.join(unsupported)}")
    # One test per invocation, so a test that hangs is cut off by its own
    # timeout and the rest of the suite still runs.
    runs = [dict(tests=name, clients=50, pipeline=1, n=n) for name in supported]
    rounds = interleaved(ctx, args.suite_rounds, lambda kind: [dict(r) for r in runs],
                         args.suite_timeout, sc.name)
    return {"unsupported": unsupported, "rounds": rounds, "tests": summarize(rounds)}


def run_memory(args, sc: Scenario) -> dict:
    """Fresh servers, so that what earlier scenarios left in the allocators
    does not blur the delta."""
    out = {}
    for kind in SERVERS:
        s = start_redis() if kind == "redis" else start_shardis(args.shards)
        try:
            if sc.kind == "conn-memory":
                out[kind] = idle_connection_memory(s)
            else:
                out[kind] = key_memory(s, scaled(1_000_000, args.n_scale))
        finally:
            s.stop()
    key = "bytes_per_connection" if sc.kind == "conn-memory" else "bytes_per_key"
    r, s = out["redis"][key], out["shardis"][key]
    out["metric"] = key
    out["difference_bytes"] = s - r
    out["ratio"] = s / r if r > 0 else None
    log(f"  {key}: redis {r:,.0f}  shardis {s:,.0f}  (shardis - redis = {s - r:,.0f} bytes, "
        f"ratio {fmt_ratio(out['ratio'])})")
    return out


def run_scenario(ctx: Context, sc: Scenario, args) -> dict:
    log(f"\n== {sc.name}: {sc.description}")
    base = {"kind": sc.kind, "description": sc.description}
    if sc.kind in ("rb", "bigz", "tx", "fanout"):
        base.update(clients=sc.clients, pipeline=sc.pipeline,
                    n=rb.round_n(scaled(sc.n, args.n_scale), sc.clients, sc.pipeline),
                    n_redis=rb.round_n(scaled(sc.n * sc.redis_n_factor, args.n_scale),
                                       sc.clients, sc.pipeline))
        missing = missing_commands(ctx.shardis, sc)
        if missing:
            log(f"  {sc.name}: not supported yet (Shardis answers unknown command to {', '.join(missing)})")
            return base | {"skipped": f"not supported yet: {', '.join(missing)}"}
    for kind in SERVERS:
        ctx.server(kind).flushall()
    if sc.kind == "rb":
        res = run_rb_scenario(ctx, sc, args)
    elif sc.kind == "bigz":
        res = run_bigz(ctx, sc, args)
    elif sc.kind in ("tx", "fanout"):
        res = run_tx_scenario(ctx, sc, args)
    elif sc.kind == "default-suite":
        res = run_default_suite(ctx, sc, args)
    else:
        res = run_memory(args, sc)
    if "tests" in res:
        print_table(res["tests"])
    return base | res


def pipelining(results: dict) -> dict | None:
    """Pipelining efficiency: rps at c1 P30 over rps at c1 P1, per server."""
    p30, p1 = results.get("c1-p30", {}).get("tests"), results.get("c1-p1", {}).get("tests")
    if not p30 or not p1:
        return None
    out = {}
    for t in p30:
        if t not in p1:
            continue
        eff = {}
        for kind in SERVERS:
            a, b = p30[t][kind], p1[t][kind]
            eff[kind] = a["rps"] / b["rps"] if a and b and b["rps"] else None
        rel = eff["shardis"] / eff["redis"] if eff["redis"] and eff["shardis"] else None
        out[t] = {"redis": eff["redis"], "shardis": eff["shardis"], "shardis_over_redis": rel}
    return out


def targets(results: dict, pipe: dict | None) -> list[dict]:
    out = []
    for name, minimum in RPS_TARGETS:
        for t, v in results.get(name, {}).get("tests", {}).items():
            out.append({"target": f"{name} {t} ratio >= {minimum}", "value": v["ratio"],
                        "met": v["ratio"] is not None and v["ratio"] >= minimum})
    for t, v in (pipe or {}).items():
        out.append({"target": f"pipelining efficiency {t} >= redis's", "value": v["shardis_over_redis"],
                    "met": v["shardis_over_redis"] is not None and v["shardis_over_redis"] >= 1.0})
    cm = results.get("conn-memory")
    if cm and "difference_bytes" in cm:
        out.append({"target": f"bytes per idle connection <= redis + {CONN_MEMORY_MAX_EXTRA}",
                    "value": cm["difference_bytes"], "met": cm["difference_bytes"] <= CONN_MEMORY_MAX_EXTRA})
    km = results.get("key-memory")
    if km and km.get("ratio") is not None:
        out.append({"target": f"bytes per 16-byte-value key <= {KEY_MEMORY_MAX_RATIO}x redis",
                    "value": km["ratio"], "met": km["ratio"] <= KEY_MEMORY_MAX_RATIO})
    return out


def print_summary(results: dict, pipe: dict | None, tgts: list[dict]) -> None:
    log("\n==== summary (medians; ratio = Shardis / redis-server, same run)")
    rows = {}
    for name, res in results.items():
        if res.get("skipped"):
            log(f"  {name}: {res['skipped']}")
        for t, v in res.get("tests", {}).items():
            rows[f"{name} {t}"] = v
    print_table(rows)
    if pipe:
        log("\n  pipelining efficiency (c1 P30 rps / c1 P1 rps):")
        for t, v in pipe.items():
            log(f"    {t:<6} redis {v['redis']:.1f}x  shardis {v['shardis']:.1f}x  "
                f"(shardis/redis {fmt_ratio(v['shardis_over_redis'])})")
    if tgts:
        log("\n  targets:")
        for t in tgts:
            val = t["value"]
            shown = "-" if val is None else (f"{val:,.0f} B" if "connection" in t["target"] else f"{val:.2f}")
            log(f"    [{'met' if t['met'] else 'MISSED'}] {t['target']}: {shown}")


def write_json(doc: dict, extra_path: str | None) -> str:
    os.makedirs(RESULTS_DIR, exist_ok=True)
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    path = os.path.join(RESULTS_DIR, f"{stamp}.json")
    for p in [path] + ([extra_path] if extra_path else []):
        d = os.path.dirname(os.path.abspath(p))
        os.makedirs(d, exist_ok=True)
        with open(p + ".tmp", "w") as f:
            json.dump(doc, f, indent=1, sort_keys=False)
        os.replace(p + ".tmp", p)
    return path


# ------------------------------------------------------------ modes

def mode_suite(args, doc: dict) -> None:
    if args.scenario:
        scenarios = resolve([n for s in args.scenario for n in s.split(",") if n])
    elif args.quick:
        scenarios = [s for s in SCENARIOS if s.quick]
    else:
        scenarios = list(SCENARIOS)
    doc["scenarios"] = results = {}
    ctx = Context(args)
    doc["servers"] = ctx.describe()
    doc["restarts"] = ctx.restarted   # the same list: filled in as it happens
    for sc in scenarios:
        results[sc.name] = run_scenario(ctx, sc, args)
    doc["pipelining"] = pipe = pipelining(results)
    doc["targets"] = tgts = targets(results, pipe)
    print_summary(results, pipe, tgts)


def mode_sweep(args, doc: dict) -> None:
    counts = [int(x) for x in args.shards_sweep.split(",") if x]
    doc["shards_sweep"] = sweep = {}
    ctx = None
    try:
        for count in counts:
            args.shards = count
            if ctx is None:
                ctx = Context(args)
            else:
                ctx.shardis.stop()
                ctx.shardis = start_shardis(count)
            log(f"\n######## --shards {count}")
            sweep[str(count)] = {sc.name: run_scenario(ctx, sc, args) for sc in resolve(["c1-p30", "c50-p1"])}
    finally:
        log("\n==== shards sweep (medians; ratio = Shardis / redis-server)")
        log(f"  {'shards':>6}  {'scenario':<8} {'test':<5} {'redis rps':>11} {'shardis rps':>12} {'ratio':>7}")
        for count, scs in sweep.items():
            for name, res in scs.items():
                for t, v in res.get("tests", {}).items():
                    log(f"  {count:>6}  {name:<8} {t:<5} {fmt_rps((v['redis'] or {}).get('rps')):>11} "
                        f"{fmt_rps((v['shardis'] or {}).get('rps')):>12} {fmt_ratio(v['ratio']):>7}")


def mode_profile(args, doc: dict) -> None:
    sc = BY_NAME.get(args.profile)
    if sc is None or sc.kind not in ("rb", "bigz"):
        raise SystemExit(f"--profile takes a throughput scenario: "
                         f"{', '.join(s.name for s in SCENARIOS if s.kind in ('rb', 'bigz'))}")
    py_spy = None if args.cprofile else prof.ensure_py_spy()
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    os.makedirs(RESULTS_DIR, exist_ok=True)
    cprof_out = os.path.join(RESULTS_DIR, f"profile-{stamp}-{sc.name}.cprof")
    if py_spy is None:
        log(("--cprofile" if args.cprofile else "py-spy unavailable") +
            ": profiling with cProfile in every thread (deterministic, slows Python code more than sampling)")
        os.environ["BENCH_CPROFILE_OUT"] = cprof_out
        shardis = start_shardis(args.shards, python_prefix=prof.cprofile_prefix())
    else:
        shardis = start_shardis(args.shards)
    missing = [cmd[0] for cmd in sc.requires if not supports(shardis, *cmd)]
    if missing:
        raise SystemExit(f"{sc.name}: not supported yet (unknown command {', '.join(missing)})")
    if sc.kind == "bigz":
        members = scaled(sc.keyspace, args.n_scale)
        log(f"loading {members:,} members into {BIGZ_KEY} ...")
        load_bigz(shardis, members)
        runs = [dict(label=lbl, command=cmd, clients=sc.clients, pipeline=sc.pipeline,
                     n=scaled(sc.n, args.n_scale), keyspace=members) for lbl, cmd in BIGZ_COMMANDS.items()]
    else:
        runs = [sc.rb_kwargs(scaled(sc.n, args.n_scale))]
    load_runs: list[dict] = []

    def keep_loaded():
        load_runs.append(run_merged(shardis, [dict(r) for r in runs], args.timeout))

    log(f"profiling Shardis (pid {shardis.pid}) under {sc.name} for {args.profile_seconds}s ...")
    if py_spy is not None:
        raw_path = os.path.join(RESULTS_DIR, f"profile-{stamp}-{sc.name}.txt")
        _, parsed = prof.record_py_spy(py_spy, shardis.pid, args.profile_seconds, 200, raw_path, keep_loaded)
        doc["profile"] = {"tool": "py-spy", "raw_path": raw_path, "scenario": sc.name,
                          "seconds": args.profile_seconds, "rate": 200} | parsed
        unit = "samples"
    else:
        t0 = time.monotonic()
        while time.monotonic() - t0 < args.profile_seconds:
            keep_loaded()
        wall = time.monotonic() - t0
        tail = shardis.log_tail()
        shardis.stop()   # SIGTERM: clean exit, the wrapper writes the stats (stop removes the log)
        if not prof.wait_for_file(cprof_out):
            raise RuntimeError("the cProfile wrapper wrote no stats; log:\n" + tail)
        doc["profile"] = {"tool": "cProfile", "stats_path": cprof_out, "scenario": sc.name,
                          "seconds": wall} | prof.parse_cprofile(cprof_out)
        unit = "self-seconds"
    doc["profile"]["load_runs"] = load_runs
    log(prof.format_profile(doc["profile"], unit))
    rates = [t["rps"] for r in load_runs for t in r["tests"].values()]
    if rates:
        log(f"\nthroughput while profiled (profiler overhead included): median {fmt_rps(statistics.median(rates))} rps")


def parse_args(argv: list[str] | None = None):
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--scenario", action="append", default=[],
                   help="scenario name (repeatable or comma-separated); see --list")
    p.add_argument("--quick", action="store_true", help="only the quick group (c1/c50 x P1/P30 GET/SET)")
    p.add_argument("--rounds", type=int, default=3, help="interleaved rounds per throughput scenario (3)")
    p.add_argument("--suite-rounds", type=int, default=1,
                   help="rounds of the default-suite scenario (1: it is a sweep, not a precise figure)")
    p.add_argument("--shards", type=int, default=None, help="Shardis --shards (default: its own default)")
    p.add_argument("--n-scale", type=float, default=1.0,
                   help="scale every -n, member and key count (e.g. 0.05 for a smoke run)")
    p.add_argument("--timeout", type=float, default=180.0, help="seconds per redis-benchmark run")
    p.add_argument("--suite-timeout", type=float, default=60.0, help="seconds per default-suite test")
    p.add_argument("--json", help="also write the JSON report here")
    p.add_argument("--shards-sweep", metavar="N,N,...", help="c1-p30 and c50-p1 with each Shardis shard count")
    p.add_argument("--profile", metavar="SCENARIO", help="profile Shardis under one scenario")
    p.add_argument("--profile-seconds", type=int, default=10)
    p.add_argument("--cprofile", action="store_true", help="profile with cProfile even if py-spy is there")
    p.add_argument("--dashboard-overhead", action="store_true",
                   help="throughput of Shardis with the dashboard on and watched vs off "
                        "(redis-benchmark scenarios; default c1-p30,c50-p1)")
    p.add_argument("--list", action="store_true", help="list the scenarios and exit")
    args = p.parse_args(argv)
    if args.rounds < 1 or args.suite_rounds < 1:
        p.error("rounds must be >= 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.list:
        for s in SCENARIOS:
            log(f"  {s.name:<14} {'quick' if s.quick else 'full ':<6} {s.description}")
        log(f"  {'pipelining':<14} {'quick':<6} derived: c1-p30 rps / c1-p1 rps per server")
        return 0
    raise_fd_limit()
    doc = {"machine": machine_info(), "argv": sys.argv[1:] if argv is None else argv,
           "config": {k: v for k, v in vars(args).items()}}
    t0 = time.monotonic()
    status = 0
    try:
        if args.profile:
            mode_profile(args, doc)
        elif args.dashboard_overhead:
            names = args.scenario or ["c1-p30", "c50-p1"]
            doc["dashboard_overhead"] = extra.dashboard_overhead(
                args, log, fmt_rps, resolve([n for s in names for n in s.split(",") if n]))
        elif args.shards_sweep:
            mode_sweep(args, doc)
        else:
            mode_suite(args, doc)
    except KeyboardInterrupt:
        log("\ninterrupted: stopping the servers, writing what was measured")
        doc["interrupted"] = True
        status = 130
    finally:
        stop_all()
        doc["machine"]["loadavg_end"] = _loadavg()
        doc["elapsed_seconds"] = round(time.monotonic() - t0, 1)
        path = write_json(doc, args.json)
        log(f"\nJSON: {path}" + (f" and {args.json}" if args.json else "")
            + f"  ({doc['elapsed_seconds']}s)")
    return status


if __name__ == "__main__":
    sys.exit(main())
