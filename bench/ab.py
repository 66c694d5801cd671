"""``python -m bench.ab``: Shardis under several interpreters, side by side.

Each ``--variant NAME=PYTHON[@TREE]`` starts Shardis with that Python
(``PYTHON -m server``), from this tree or from the checkout at ``TREE`` (an
A/B of two commits: ``git archive OLD | tar -x -C /tmp/old``, then
``--variant old=python@/tmp/old --variant new=python``); one redis-server
runs beside them.  Every round runs
``redis-benchmark -t set,get -r 100000`` (``--keyspace K``: ``-r K``; 0: no
``-r``, one key, as the harness's c1/c50 scenarios) at each ``C:P:N`` (clients,
pipeline, requests) against all servers, the order reversed every other
round so neither side always runs first, and prints the median rps and each
variant's ratio to redis.  Used for the interpreter comparison in
docs/performance.md (pyenv's build against Debian's ``/usr/bin/python3``).

``--variant NAME=reference[:ARGS]`` runs the bare actor server of
``bench/reference.py`` instead (ARGS: its options, comma-separated, e.g.
``reference:--atime``), a yardstick for what Shardis's own machinery costs.
``--cpu`` runs SET and GET as separate invocations and also prints the CPU
time each server spent per request (user + system, from /proc), split by
thread: the main thread (Shardis's event loop) and the busiest other one
(its shard).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile

from . import rb, servers

DEFAULT_SCENARIOS = "1:30:300000,1:1:30000,50:1:100000,50:30:600000"
TICK = os.sysconf("SC_CLK_TCK")


def thread_cpu(pid: int) -> dict[int, tuple[int, int]]:
    """{tid: (user ticks, system ticks)} of every thread of ``pid``."""
    out = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:         # the thread ended
            continue
        out[int(tid)] = (int(fields[11]), int(fields[12]))
    return out


def cpu_per_request(pid: int, before: dict, after: dict, requests: int) -> list[tuple[float, float]]:
    """(user us, system us) per request for each thread: the main thread
    (Shardis's event loop) first, then the others busiest first."""
    per = {}
    for tid, (u, s) in after.items():
        u0, s0 = before.get(tid, (0, 0))
        per[tid] = ((u - u0) * 1e6 / TICK / requests, (s - s0) * 1e6 / TICK / requests)
    main_thread = per.pop(pid, (0.0, 0.0))
    return [main_thread] + sorted(per.values(), key=lambda x: -(x[0] + x[1]))


def start_variant(spec: str):
    name, python = spec.split("=", 1)
    if python == "reference" or python.startswith("reference:"):
        _, _, opts = python.partition(":")
        port = servers.free_port()
        argv = [sys.executable, "-m", "bench.reference", "--port", str(port)]
        argv += [o for o in opts.split(",") if o]
        workdir = tempfile.mkdtemp(prefix="bench-reference-")
        return name, servers.Server("reference", argv, port, workdir, cwd=servers.ROOT,
                                    own_workdir=True)
    python, _, tree = python.partition("@")
    return name, servers.start_shardis(python_prefix=[python, "-m", "server"], tree=tree or None)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m bench.ab", description=__doc__.splitlines()[0])
    ap.add_argument("--variant", action="append", required=True, metavar="NAME=PYTHON[@TREE]")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--scenarios", default=DEFAULT_SCENARIOS, metavar="C:P:N,...")
    ap.add_argument("--keyspace", type=int, default=100000, metavar="K",
                    help="redis-benchmark -r K (random keys over K); 0: one key")
    ap.add_argument("--cpu", action="store_true",
                    help="also report each server's CPU time per request, by thread")
    args = ap.parse_args(argv)
    servers.raise_fd_limit()
    live = []
    try:
        for spec in args.variant:
            live.append(start_variant(spec))
        live.append(("redis", servers.start_redis()))
        scenarios = [tuple(int(x) for x in s.split(":")) for s in args.scenarios.split(",")]
        rps: dict[tuple, list[float]] = {}
        cpu: dict[tuple, list[list[tuple[float, float]]]] = {}
        runs = ["set", "get"] if args.cpu else ["set,get"]
        for r in range(args.rounds):
            for c, p, n in scenarios:
                for name, srv in (live if r % 2 == 0 else live[::-1]):
                    for tests in runs:
                        before = thread_cpu(srv.pid)
                        out = rb.run(srv.port, clients=c, pipeline=p, n=n, tests=tests,
                                     keyspace=args.keyspace or None)
                        after = thread_cpu(srv.pid)
                        for test, row in out["tests"].items():
                            rps.setdefault((c, p, n, test, name), []).append(row["rps"])
                            if args.cpu:
                                cpu.setdefault((c, p, n, test, name), []).append(
                                    cpu_per_request(srv.pid, before, after, rb.round_n(n, c, p)))
            print(f"round {r + 1}/{args.rounds} done", flush=True)
    finally:
        servers.stop_all()
    names = [name for name, _ in live]
    print("| `-c -P -n` | test | " + " | ".join(f"{n} rps" for n in names) + " | "
          + " | ".join(f"{n} / redis" for n in names[:-1]) + " |")
    for c, p, n in scenarios:
        for test in ("SET", "GET"):
            med = {name: statistics.median(rps.get((c, p, n, test, name)) or [0.0]) for name in names}
            base = med["redis"] or 1.0
            print(f"| {c} {p} {n} | {test} | " + " | ".join(f"{med[x]:,.0f}" for x in names) + " | "
                  + " | ".join(f"{med[x] / base:.2f}x" for x in names[:-1]) + " |")
    if args.cpu:
        print()
        print("CPU per request, us (median over rounds): total (main thread, busiest other thread)")
        print("| `-c -P -n` | test | " + " | ".join(names) + " |")
        for c, p, n in scenarios:
            for test in ("SET", "GET"):
                cells = []
                for name in names:
                    rows = cpu.get((c, p, n, test, name)) or []
                    if not rows:
                        cells.append("-")
                        continue
                    total = statistics.median(sum(u + s for u, s in row) for row in rows)
                    parts = []
                    for k in range(min(2, min(len(row) for row in rows))):
                        u = statistics.median(row[k][0] for row in rows)
                        sy = statistics.median(row[k][1] for row in rows)
                        parts.append(f"{u:.2f}u+{sy:.2f}s")
                    cells.append(f"{total:.2f} ({', '.join(parts)})")
                print(f"| {c} {p} {n} | {test} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
