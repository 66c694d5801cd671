"""The benchmark harness must not rot: run it in a minimal mode (one
scenario, one round, a tiny -n) against real servers and check the JSON it
writes, and that it stops both servers, also when interrupted."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

pytestmark = pytest.mark.skipif(
    not (shutil.which("redis-server") and shutil.which("redis-benchmark")),
    reason="redis-server / redis-benchmark not installed")


def _gone(pid: int, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with open(f"/proc/{pid}/status") as f:
                if any(line.startswith("State:") and "Z" in line.split()[1] for line in f):
                    return True   # exited, not yet reaped by its (former) parent
        except FileNotFoundError:
            return True
        time.sleep(0.1)
    return False


def test_minimal_run_writes_json_with_a_ratio_and_stops_both_servers(tmp_path):
    out = tmp_path / "bench.json"
    proc = subprocess.run(
        [sys.executable, "-m", "bench", "--scenario", "c1-p30", "--rounds", "1",
         "--n-scale", "0.02", "--shards", "2", "--json", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    doc = json.loads(out.read_text())
    tests = doc["scenarios"]["c1-p30"]["tests"]
    assert set(tests) == {"SET", "GET"}
    for name, v in tests.items():
        assert v["ratio"] > 0, name
        assert v["redis"]["rps"] > 0 and v["shardis"]["rps"] > 0
        assert v["shardis"]["p99_ms"] >= v["shardis"]["p50_ms"] > 0
    rounds = doc["scenarios"]["c1-p30"]["rounds"]
    assert len(rounds) == 1 and rounds[0]["shardis"]["error"] is None
    # -n 3000 rounded to a multiple of -c 1 * -P 30
    assert doc["scenarios"]["c1-p30"]["n"] % 30 == 0
    m = doc["machine"]
    assert m["nproc"] and m["python"] and "7." in m["redis_server_version"] and m["git_commit"]
    # the timestamped copy next to the harness holds the same report
    stamped = re.search(r"JSON: (\S+\.json)", proc.stdout).group(1)
    assert json.load(open(stamped))["scenarios"]["c1-p30"]["tests"] == tests
    for kind, info in doc["servers"].items():
        assert _gone(info["pid"]), f"{kind} (pid {info['pid']}) still running after the harness exited"


def _sigint_as_at_a_terminal() -> None:
    """In the child before exec: SIGINT unblocked and at its default, as a
    shell gives it (Python then installs its KeyboardInterrupt handler).  A
    test runner's worker may hand its children SIGINT blocked or ignored:
    the full suite lost this test's Ctrl-C twice that way, never alone."""
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _sig_masks(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/status") as f:
            return "".join(line for line in f if line.startswith(("SigBlk", "SigIgn", "SigCgt")))
    except OSError:
        return "(gone)"


def test_ctrl_c_stops_both_servers_and_still_writes_the_partial_report(tmp_path):
    out = tmp_path / "bench.json"
    proc = subprocess.Popen(
        [sys.executable, "-m", "bench", "--scenario", "c1-p1", "--rounds", "3", "--shards", "2",
         "--json", str(out)],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        preexec_fn=_sigint_as_at_a_terminal)
    masks = ""
    try:
        # wait for the first measurement line, then interrupt mid-run
        lines = []
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            lines.append(line)
            if "round 1/3" in line or not line:
                break
        assert any("round 1/3" in l for l in lines), "".join(lines)
        masks = _sig_masks(proc.pid)
        proc.send_signal(signal.SIGINT)
        rest, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130, masks + "".join(lines) + rest
    doc = json.loads(out.read_text())
    assert doc["interrupted"] is True
    for kind, info in doc["servers"].items():
        assert _gone(info["pid"]), f"{kind} (pid {info['pid']}) survived Ctrl-C of the harness"


def test_ab_runs_shardis_beside_the_reference_server_and_reports_cpu():
    """``bench.ab`` with a reference variant (bench/reference.py, the bare
    actor server) and ``--cpu``: every server answers, every ratio and CPU
    figure is there, and no server is left behind."""
    # servers of bench runs (argv holds bench.reference, or redis's --dir
    # bench-redis-*): other test files' redis-servers do not count
    before = set(_children_named("bench.reference")) | set(_children_named("bench-redis-"))
    proc = subprocess.run(
        [sys.executable, "-m", "bench.ab", "--variant", "shardis=" + sys.executable,
         "--variant", "ref=reference:--atime", "--rounds", "1", "--scenarios", "2:10:2000",
         "--cpu"],
        cwd=ROOT, capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    # a throughput row, then a CPU row, for each test
    lines = [line for line in proc.stdout.splitlines() if line.startswith("| 2 10 2000 |")]
    assert [line.split("|")[2].strip() for line in lines] == ["SET", "GET", "SET", "GET"], proc.stdout
    throughput, cpu = lines[:2], lines[2:]
    for line in throughput:
        cells = [c.strip() for c in line.split("|")[3:-1]]
        # shardis, ref, redis rps; then shardis/redis and ref/redis
        assert len(cells) == 5, line
        assert all(float(c.rstrip("x").replace(",", "")) > 0 for c in cells), line
    for line in cpu:
        cells = [c.strip() for c in line.split("|")[3:-1]]
        assert len(cells) == 3, line
        for c in cells:
            assert re.fullmatch(r"\d+\.\d\d \(\d+\.\d\du\+\d+\.\d\ds, \d+\.\d\du\+\d+\.\d\ds\)", c), c
    after = set(_children_named("bench.reference")) | set(_children_named("bench-redis-"))
    assert not after - before, "a server started by bench.ab is still running"


def _children_named(word: str) -> list[int]:
    pids = []
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                with open(f"/proc/{pid}/cmdline", "rb") as f:
                    if word.encode() in f.read():
                        pids.append(int(pid))
            except OSError:
                pass
    return pids
