"""Profiling Shardis under one scenario: py-spy (sampling, all threads, no
change to the server), or cProfile in every thread as a fallback.

py-spy's raw format is one collapsed stack per line, ``thread (TID): NAME;
frame (file:line);...;frame (file:line) COUNT``. Without ``--idle`` py-spy
drops samples of threads that are off-CPU (waiting on a lock, epoll, a
queue), so a thread's sample count over (rate x duration) is its busy share.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from collections import Counter

# Leaf frames that are a thread blocked rather than working. py-spy's idle
# detection misses waits inside C calls that release the GIL: pykka's inbox
# get() shows up as the Python frame calling it, and uvloop's epoll wait as
# Runner.run (whose self time is therefore "epoll wait + uvloop's own C-level
# socket I/O", not pure idle; it is reported apart, not hidden).
WAIT_LEAVES = {
    "Actor._actor_loop_running (pykka/_actor.py)": "pykka inbox get (idle shard)",
    "Runner.run (asyncio/runners.py)": "uvloop C loop: epoll wait + C socket I/O",
    "Condition.wait (threading.py)": "lock wait",
    "Event.wait (threading.py)": "lock wait",
    "Queue.get (queue.py)": "queue wait",
    "EpollSelector.select (selectors.py)": "epoll wait",
}

_LINE_RE = re.compile(r"^(?P<stack>.*) (?P<count>\d+)$")
_LINENO_RE = re.compile(r":\d+\)$")


def ensure_py_spy() -> str | None:
    """The py-spy executable, pip-installing it once if missing."""
    path = shutil.which("py-spy")
    if path and subprocess.run([path, "--version"], capture_output=True, timeout=30).returncode == 0:
        return path
    try:
        subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "py-spy"],
                       timeout=300, check=True)
    except (subprocess.SubprocessError, OSError):
        return None
    return shutil.which("py-spy")


def _function(frame: str) -> str:
    # Aggregate by function, not by line: "f (server/x.py:12)" -> "f (server/x.py)".
    return _LINENO_RE.sub(")", frame)


def parse_raw(text: str, rate: int, seconds: float, top: int = 25) -> dict:
    threads: Counter = Counter()
    waits: Counter = Counter()
    self_c: Counter = Counter()
    incl_c: Counter = Counter()
    total = 0
    for line in text.splitlines():
        m = _LINE_RE.match(line.strip())
        if not m:
            continue
        count = int(m["count"])
        parts = m["stack"].split(";")
        thread = parts[0]
        if thread.startswith("thread ("):
            # "thread (TID): NAME" -> "NAME"; names are what tells shards apart.
            thread = thread.split(": ", 1)[-1]
            frames = [_function(f) for f in parts[1:]]
        else:
            frames = [_function(f) for f in parts]
            thread = "?"
        total += count
        threads[thread] += count
        if frames:
            self_c[frames[-1]] += count
            if frames[-1] in WAIT_LEAVES:
                waits[thread] += count
            for f in set(frames):
                incl_c[f] += count
    possible = max(1.0, rate * seconds)
    return {
        "samples": total,
        "threads": [{"thread": t, "samples": c, "share_of_samples": c / total if total else 0.0,
                     "busy": min(1.0, c / possible),
                     "busy_excluding_waits": min(1.0, (c - waits[t]) / possible)}
                    for t, c in threads.most_common()],
        "self": [{"frame": f, "samples": c, "share": c / total, "wait": WAIT_LEAVES.get(f)}
                 for f, c in self_c.most_common(top)],
        "inclusive": [{"frame": f, "samples": c, "share": c / total} for f, c in incl_c.most_common(top)],
    }


def format_profile(p: dict, unit: str = "samples") -> str:
    out = [f"{p['samples']} {unit} in total", "",
           "per thread (busy = share of wall time sampled as active; 'working' leaves out the"
           " blocking-wait leaves marked below):"]
    for t in p["threads"]:
        working = t.get("busy_excluding_waits")
        out.append(f"  {t['thread']:<28} busy {t['busy']:6.1%}"
                   + (f"  working {working:6.1%}" if working is not None else "")
                   + f"  {t['share_of_samples']:6.1%} of {unit}")
    for title, key in (("top functions by self time:", "self"),
                       ("top functions by inclusive time:", "inclusive")):
        out += ["", title]
        for i, row in enumerate(p[key], 1):
            mark = f"   [wait: {row['wait']}]" if row.get("wait") else ""
            out.append(f"  {i:2}. {row['share']:6.1%}  {row['frame']}{mark}")
    return "\n".join(out)


def record_py_spy(py_spy: str, pid: int, seconds: int, rate: int, out_path: str,
                  while_running) -> tuple[str, dict]:
    """Sample ``pid`` for ``seconds`` while ``while_running()`` keeps load on
    it (called repeatedly until py-spy finishes). Returns (raw text, parsed)."""
    argv = [py_spy, "record", "-p", str(pid), "--format", "raw", "-r", str(rate), "-d", str(seconds),
            "--threads", "-o", out_path]
    spy = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        while spy.poll() is None:
            while_running()
        out, _ = spy.communicate(timeout=seconds + 60)
    except BaseException:
        spy.kill()
        spy.wait()
        raise
    if spy.returncode != 0 or not os.path.exists(out_path):
        raise RuntimeError(f"py-spy failed ({spy.returncode}): {out[-500:]}")
    with open(out_path) as f:
        text = f.read()
    return text, parse_raw(text, rate, seconds)


# ------------------------------------------------------------ cProfile fallback

def cprofile_prefix() -> list[str]:
    """Command prefix that starts Shardis with cProfile in every thread; the
    merged stats go to $BENCH_CPROFILE_OUT when the server exits (SIGTERM is
    a clean shutdown)."""
    return [sys.executable, "-m", "bench._cprofile_server"]


def parse_cprofile(path: str, top: int = 25) -> dict:
    """Per-thread busy share over the server's lifetime (cProfile cannot
    sample just the loaded window: startup and shutdown are included)."""
    import marshal

    from ._cprofile_server import WAITS
    with open(path, "rb") as f:
        data = marshal.load(f)
    threads = data["threads"]             # {thread name: total self seconds}
    waits = data["waits"]                 # {thread name: self seconds in WAITS}
    wall_seconds = data["wall"]
    stats = data["stats"]                 # {func label: (self s, inclusive s)}
    total = sum(threads.values()) or 1.0
    by_self = sorted(stats.items(), key=lambda kv: -kv[1][0])[:top]
    by_incl = sorted(stats.items(), key=lambda kv: -kv[1][1])[:top]
    return {
        "samples": round(total, 3),
        "threads": [{"thread": t, "samples": s, "share_of_samples": s / total,
                     "busy": min(1.0, s / wall_seconds) if wall_seconds else 0.0,
                     "busy_excluding_waits": min(1.0, (s - waits.get(t, 0.0)) / wall_seconds)
                     if wall_seconds else 0.0}
                    for t, s in sorted(threads.items(), key=lambda kv: -kv[1])],
        "self": [{"frame": f, "samples": v[0], "share": v[0] / total,
                  "wait": "blocked" if f in WAITS else None} for f, v in by_self],
        "inclusive": [{"frame": f, "samples": v[1], "share": v[1] / total} for f, v in by_incl],
    }


def wait_for_file(path: str, timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if os.path.exists(path) and os.path.getsize(path) > 0:
            return True
        time.sleep(0.1)
    return False
