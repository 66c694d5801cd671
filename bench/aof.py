"""SET throughput with the append-only file on (``appendfsync everysec``),
Shardis vs redis-server, interleaved rounds (issue 9).

    python3 -m bench.aof [--rounds 3] [--n 100000]

Both servers start from bench/servers.py with their usual arguments; the
AOF is switched on with ``CONFIG SET appendonly yes`` / ``appendfsync
everysec`` (each writes its base first) before the runs.  Scenarios: 50
connections without pipelining, and 1 connection with 30 pipelined.
"""

from __future__ import annotations

import argparse
import statistics
import time

import redis

from . import rb
from .servers import start_redis, start_shardis, stop_all

CASES = [("c50-p1", 50, 1), ("c1-p30", 1, 30)]


def _enable_aof(port: int) -> None:
    c = redis.Redis(port=port)
    c.config_set("appendfsync", "everysec")
    c.config_set("appendonly", "yes")
    for _ in range(200):
        if c.info("persistence").get("aof_enabled") == 1 and \
                c.info("persistence").get("aof_rewrite_in_progress", 0) == 0:
            return
        time.sleep(0.05)
    raise RuntimeError("AOF did not turn on")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--n", type=int, default=100_000)
    a = ap.parse_args()
    # both write their AOF into their own temporary workdir (redis-server
    # runs with --dir there; Shardis gets it as ``dir``)
    import tempfile
    wd = tempfile.mkdtemp(prefix="bench-shardis-")
    servers = [start_redis(), start_shardis(workdir=wd, extra=["--set", f"dir={wd}"])]
    try:
        for s in servers:
            _enable_aof(s.port)
        res = {(s.kind, c): [] for s in servers for c, _, _ in CASES}
        for _ in range(a.rounds):
            for name, clients, pipeline in CASES:
                for s in servers:      # interleaved: background load hits both
                    out = rb.run(s.port, clients=clients, pipeline=pipeline, n=a.n,
                                 tests="set")
                    rps = next(iter(out["tests"].values()))["rps"] if out["tests"] else 0
                    res[(s.kind, name)].append(rps)
        print("| scenario | redis-server rps | Shardis rps | ratio |")
        print("| --- | --- | --- | --- |")
        for name, _, _ in CASES:
            r = statistics.median(res[("redis", name)])
            sh = statistics.median(res[("shardis", name)])
            print(f"| SET {name}, appendfsync everysec | {r:,.0f} | {sh:,.0f} | "
                  f"{sh / r if r else 0:.2f} |")
    finally:
        stop_all()
        import shutil
        shutil.rmtree(wd, ignore_errors=True)


if __name__ == "__main__":
    main()
