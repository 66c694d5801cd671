"""Running ``redis-benchmark`` and parsing its ``--csv`` report.

redis-benchmark 7.0 prints, with ``--csv``, one header line and one line per
test: ``"test","rps","avg_latency_ms","min_latency_ms","p50_latency_ms",
"p95_latency_ms","p99_latency_ms","max_latency_ms"``. It does not check
replies: an unknown command still "completes", which is why scenarios probe
support first (``servers.supports``).
"""

from __future__ import annotations

import csv
import io
import os
import shutil
import signal
import subprocess
import time

FIELDS = {"rps": "rps", "avg_latency_ms": "avg_ms", "min_latency_ms": "min_ms",
          "p50_latency_ms": "p50_ms", "p95_latency_ms": "p95_ms",
          "p99_latency_ms": "p99_ms", "max_latency_ms": "max_ms"}


def exe() -> str:
    path = shutil.which("redis-benchmark")
    if path is None:
        raise RuntimeError("redis-benchmark is not installed")
    return path


def _kill_group(pid: int) -> None:
    # redis-benchmark runs in its own session (so Ctrl-C reaches only the
    # harness); it may have exited on its own a moment ago.
    try:
        os.killpg(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def round_n(n: int, clients: int, pipeline: int) -> int:
    """redis-benchmark has a completion race when -n is not a multiple of
    -c * -P (the last pipelined batch can be left waiting): round up."""
    step = clients * pipeline
    return -(-n // step) * step


def parse_csv(text: str) -> dict[str, dict[str, float]]:
    """``{test name: {rps, avg_ms, p50_ms, ...}}`` from --csv output; stray
    lines (warnings, progress) are ignored."""
    rows = [line for line in text.splitlines() if line.startswith('"')]
    out: dict[str, dict[str, float]] = {}
    for row in csv.DictReader(io.StringIO("\n".join(rows))):
        name = row.get("test")
        if not name or name == "test":
            continue
        out[name] = {short: float(row[long]) for long, short in FIELDS.items() if row.get(long)}
    return out


def run(port: int, *, clients: int = 1, pipeline: int = 1, n: int = 10000,
        tests: str | None = None, datasize: int | None = None, keyspace: int | None = None,
        command: list[str] | None = None, timeout: float = 120.0,
        extra: list[str] | None = None) -> dict:
    """One redis-benchmark invocation against 127.0.0.1:``port``.

    Returns ``{"argv", "seconds", "tests": {...}, "error"}``; ``error`` is
    ``None``, ``"timeout"`` (the server stopped answering: the run is killed
    so the harness goes on) or redis-benchmark's stderr on a failed exit.
    """
    n = round_n(n, clients, pipeline)
    argv = [exe(), "-h", "127.0.0.1", "-p", str(port), "-c", str(clients), "-P", str(pipeline),
            "-n", str(n), "--csv"]
    if datasize is not None:
        argv += ["-d", str(datasize)]
    if keyspace is not None:
        argv += ["-r", str(keyspace)]
    if extra:
        argv += extra
    if tests:
        argv += ["-t", tests]
    if command:
        argv += list(command)
    t0 = time.monotonic()
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            stdin=subprocess.DEVNULL, text=True, start_new_session=True)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        _kill_group(proc.pid)
        out, err = proc.communicate()
        return {"argv": argv, "seconds": time.monotonic() - t0, "tests": parse_csv(out or ""),
                "error": "timeout"}
    except BaseException:  # Ctrl-C: do not leave the benchmark running
        _kill_group(proc.pid)
        proc.wait()
        raise
    result = {"argv": argv, "seconds": time.monotonic() - t0, "tests": parse_csv(out), "error": None}
    if proc.returncode != 0 or not result["tests"]:
        result["error"] = (err or out or f"exit {proc.returncode}").strip()[-500:]
    return result
