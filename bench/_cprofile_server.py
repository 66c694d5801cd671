"""``python -m bench._cprofile_server [shardis options]``: Shardis with a
cProfile profiler in every thread (the profiling fallback when py-spy is not
available). cProfile hooks only the thread that enables it, so
``threading.Thread.run`` is wrapped to give each shard thread its own; at
exit the per-thread stats are merged and written with marshal to
$BENCH_CPROFILE_OUT as ``{"threads": {name: self seconds}, "waits": {name: blocked seconds},
"wall": server lifetime seconds, "stats": {function: (self seconds,
inclusive seconds)}}``.
"""

from __future__ import annotations

import atexit
import cProfile
import marshal
import os
import pstats
import sys
import re
import threading
import time

_profiles: list[tuple[str, cProfile.Profile]] = []
_started = time.monotonic()
# Self time in these is a thread blocked, not working (a shard waiting on its
# inbox, the loop inside uvloop's C run_forever: epoll plus its C socket I/O).
WAITS = {"<method 'get' of '_queue.SimpleQueue' objects>", "run (asyncio/runners.py)",
         "<method 'acquire' of '_thread.lock' objects>", "<method 'poll' of 'select.epoll' objects>"}
_STDLIB_RE = re.compile(r".*/lib/python3\.\d+/")
_orig_run = threading.Thread.run


def _profiled_run(self):
    p = cProfile.Profile()
    _profiles.append((self.name, p))
    p.enable()
    try:
        _orig_run(self)
    finally:
        p.disable()


def _label(func: tuple) -> str:
    filename, line, name = func
    if filename == "~":
        return name
    if filename.startswith(os.getcwd()):
        filename = os.path.relpath(filename)
    else:
        filename = _STDLIB_RE.sub("", filename).replace("site-packages/", "")
    return f"{name} ({filename})"


def _dump() -> None:
    out = os.environ.get("BENCH_CPROFILE_OUT")
    if not out:
        return
    threads: dict[str, float] = {}
    waits: dict[str, float] = {}
    stats: dict[str, list[float]] = {}
    for name, p in _profiles:
        p.disable()
        st = pstats.Stats(p)
        threads[name] = threads.get(name, 0.0) + st.total_tt
        for func, (cc, nc, tt, ct, callers) in st.stats.items():
            label = _label(func)
            if label in WAITS:
                waits[name] = waits.get(name, 0.0) + tt
            acc = stats.setdefault(label, [0.0, 0.0])
            acc[0] += tt
            acc[1] += ct
    with open(out + ".tmp", "wb") as f:
        marshal.dump({"threads": threads, "waits": waits, "wall": time.monotonic() - _started,
                      "stats": {k: tuple(v) for k, v in stats.items()}}, f)
    os.replace(out + ".tmp", out)


def main() -> int:
    threading.Thread.run = _profiled_run
    main_profile = cProfile.Profile()
    _profiles.append(("MainThread", main_profile))
    atexit.register(_dump)
    from server.main import main as server_main
    main_profile.enable()
    try:
        return server_main(sys.argv[1:])
    finally:
        main_profile.disable()


if __name__ == "__main__":
    sys.exit(main())
