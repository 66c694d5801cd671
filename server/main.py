"""``shardis`` command line: ``shardis [config-file] [--option value ...]``."""

from __future__ import annotations

import argparse
import os
import sys

from .config import DEFAULT_SHARDS, Config, ConfigError, parse_config_file

__all__ = ["main", "build_config"]


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="shardis",
        description="Shardis: a Redis-compatible in-memory server built on shard actors.",
        epilog="Options may also come from a redis.conf-style file given as the first "
               "argument; command-line options override it.")
    p.add_argument("config_file", nargs="?", help="config file in redis.conf syntax")
    p.add_argument("--bind", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, help="TCP port (default 6379; 0 picks a free port)")
    p.add_argument("--shards", type=int,
                   help="number of shard actors (default %d: see docs/performance.md)"
                   % DEFAULT_SHARDS)
    p.add_argument("--databases", type=int, help="number of databases for SELECT (default 16)")
    p.add_argument("--loglevel", choices=["debug", "verbose", "notice", "warning", "nothing"],
                   help="log verbosity (default notice)")
    p.add_argument("--dashboard-port", type=int, dest="dashboard_port",
                   help="port of the actor-debugging dashboard on --bind (default 0: off)")
    p.add_argument("--requirepass", help="password clients must AUTH with")
    p.add_argument("--maxclients", type=int, help="maximum simultaneous clients (default 10000)")
    p.add_argument("--cpu-affinity", dest="cpu_affinity", metavar="CPUS", default="auto",
                   help="pin the whole process (loop and shard threads) to these CPUs, "
                        "e.g. 1 or 0,2-3; 'auto' (the default): the one CPU it starts on; "
                        "'none': not pinned (see docs/performance.md)")
    p.add_argument("--sched", choices=["normal", "batch"], default="normal",
                   help="the threads' scheduling policy: 'normal' (the default, SCHED_OTHER) "
                        "or 'batch' (SCHED_BATCH: a woken thread does not preempt; fewer "
                        "switches on a CPU of its own, far slower replies on a shared one; "
                        "see docs/performance.md)")
    p.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                   help="any other config option, as in redis.conf (repeatable)")
    return p


def build_config(argv: list[str]) -> Config:
    args = _parser().parse_args(argv)
    cfg = Config()
    explicit_shards = False
    if args.config_file:
        for name, value in parse_config_file(args.config_file):
            cfg.set(name, value, startup=True)
            explicit_shards |= name == "shards"
    for name in ("bind", "port", "shards", "databases", "loglevel", "dashboard_port",
                 "requirepass", "maxclients"):
        v = getattr(args, name)
        if v is not None:
            cfg.set(name.replace("_", "-"), str(v), startup=True)
    for item in args.set:
        name, _, value = item.partition("=")
        cfg.set(name, value, startup=True)
    if cfg.shards <= 0:
        cfg.shards = DEFAULT_SHARDS
    return cfg


def parse_cpus(text: str) -> set[int]:
    """``1`` / ``0,2-3`` -> {0, 2, 3} (a CPU list as taskset -c takes it)."""
    cpus: set[int] = set()
    for part in text.split(","):
        lo, sep, hi = part.strip().partition("-")
        if not lo.isdigit() or (sep and not hi.isdigit()):
            raise ConfigError(f"invalid CPU list '{text}'")
        cpus.update(range(int(lo), int(hi if sep else lo) + 1))
    if not cpus:
        raise ConfigError(f"invalid CPU list '{text}'")
    return cpus


def affinity_cpus(text: str) -> set[int] | None:
    """The CPUs ``--cpu-affinity`` pins the process to; None: leave it.

    ``auto`` is one CPU, the one this process is running on (when it may run
    on more than one).  The GIL lets one thread run Python at a time, so a
    second CPU buys the server little, while every loop<->shard hand-off
    between two CPUs is a cross-CPU wake-up (an interprocessor interrupt,
    costly under virtualisation); on one CPU it is a plain context switch.
    Measured on the 2-core benchmark machine, pinned against not pinned, in
    the same run: c50 P30 +26/+52% (SET/GET), c1 P1 +17/+8%, c50 P1 +11/0%,
    c1 P30 +5/-3% (docs/performance.md, "Shard runs, GC and one CPU").
    """
    if text == "none":
        return None
    if text != "auto":
        return parse_cpus(text)
    allowed = os.sched_getaffinity(0)
    if len(allowed) < 2:
        return None
    with open("/proc/self/stat") as f:
        # field 39, "processor": the CPU this process last ran on (the
        # command name, field 2, is in parentheses and may hold spaces)
        cpu = int(f.read().rsplit(")", 1)[1].split()[36])
    return {cpu if cpu in allowed else min(allowed)}


def set_sched_batch() -> None:
    """Put this thread, and so every thread it starts, under SCHED_BATCH.

    The loop and the shard threads hand work to each other on one CPU
    (``--cpu-affinity auto``).  Under SCHED_OTHER a woken thread preempts the
    one that woke it: the loop's send wakes the shard, which runs at once,
    finds the GIL held by the loop and sleeps again; the shard's completion
    does the same to the loop.  Four switches where two would do.  A
    SCHED_BATCH thread never preempts on wake-up (the kernel's
    check_preempt_wakeup skips it), so the woken thread runs when the waker
    blocks, with the GIL free; the CPU share is the same as SCHED_OTHER.
    Measured under ``redis-benchmark -c 1 -P 30``: 7.5 context switches per
    round trip, 3.0 with it (docs/performance.md, "SCHED_BATCH").  Any user
    may lower its own threads to it.

    Not the default: the same rule keeps the server from preempting any
    other busy process on its CPU, so each wake-up can wait for that
    process's tick.  With a spinning process on the server's CPU, ``-c 1
    -P 1`` fell from 2,800-3,400 to 264 requests/s (p50 0.18 -> 4 ms),
    while the gains on a CPU of its own were under the run-to-run noise."""
    os.sched_setscheduler(0, os.SCHED_BATCH, os.sched_param(0))


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    try:
        cfg = build_config(argv)
        args = _parser().parse_args(argv)
        cpus = affinity_cpus(args.cpu_affinity)
        # both before any thread starts: threads inherit the mask and the policy
        if cpus:
            os.sched_setaffinity(0, cpus)
    except (ConfigError, OSError) as e:
        print(f"shardis: {e}", file=sys.stderr)
        return 2
    if args.sched == "batch":
        try:
            set_sched_batch()
        except OSError as e:     # a sandbox that forbids it: run as before
            print(f"shardis: SCHED_BATCH not set ({e}); running under SCHED_OTHER",
                  file=sys.stderr)
    from .app import run
    return run(cfg)


if __name__ == "__main__":
    sys.exit(main())
