"""``python -m bench.ab``: Shardis under several interpreters, side by side.

Each ``--variant NAME=PYTHON[@TREE]`` starts Shardis with that Python
(``PYTHON -m server``), from this tree or from the checkout at ``TREE`` (an
A/B of two commits: ``git archive OLD | tar -x -C /tmp/old``, then
``--variant old=python@/tmp/old --variant new=python``); one redis-server
runs beside them.  Every round runs
``redis-benchmark -t set,get -r 100000`` at each ``C:P:N`` (clients,
pipeline, requests) against all servers, the order reversed every other
round so neither side always runs first, and prints the median rps and each
variant's ratio to redis.  Used for the interpreter comparison in
docs/performance.md (pyenv's build against Debian's ``/usr/bin/python3``).
"""

from __future__ import annotations

import argparse
import statistics

from . import rb, servers

DEFAULT_SCENARIOS = "1:30:300000,1:1:30000,50:1:100000,50:30:600000"


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m bench.ab", description=__doc__.splitlines()[0])
    ap.add_argument("--variant", action="append", required=True, metavar="NAME=PYTHON[@TREE]")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--scenarios", default=DEFAULT_SCENARIOS, metavar="C:P:N,...")
    args = ap.parse_args(argv)
    servers.raise_fd_limit()
    live = []
    try:
        for spec in args.variant:
            name, python = spec.split("=", 1)
            python, _, tree = python.partition("@")
            live.append((name, servers.start_shardis(python_prefix=[python, "-m", "server"],
                                                     tree=tree or None)))
        live.append(("redis", servers.start_redis()))
        scenarios = [tuple(int(x) for x in s.split(":")) for s in args.scenarios.split(",")]
        rps: dict[tuple, list[float]] = {}
        for r in range(args.rounds):
            for c, p, n in scenarios:
                for name, srv in (live if r % 2 == 0 else live[::-1]):
                    out = rb.run(srv.port, clients=c, pipeline=p, n=n, tests="set,get", keyspace=100000)
                    for test, row in out["tests"].items():
                        rps.setdefault((c, p, n, test, name), []).append(row["rps"])
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


if __name__ == "__main__":
    main()
