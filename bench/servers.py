"""The two servers under test: a real ``redis-server`` and Shardis, each a
child process on a free loopback port.

Invariant: every process started here is registered in ``_LIVE`` until it is
stopped, so ``stop_all()`` (called from the harness's ``finally``, also on
Ctrl-C) can never leave a server behind.
"""

from __future__ import annotations

import os
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

import redis

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

_LIVE: list["Server"] = []


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def raise_fd_limit(want: int = 8192) -> None:
    """The connection-memory scenario opens 1,000 sockets per server, and
    redis-server lowers its maxclients to the fd limit it inherits: raise the
    soft limit before any child is spawned."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = want if hard == resource.RLIM_INFINITY else min(want, hard)
    if soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))


class Server:
    """One server process. ``kind`` is ``"redis"`` or ``"shardis"``."""

    def __init__(self, kind: str, argv: list[str], port: int, workdir: str, cwd: str | None = None,
                 own_workdir: bool = False):
        self.kind = kind
        self.own_workdir = own_workdir   # a temporary directory to remove on stop
        self.port = port
        self.workdir = workdir
        self.log_path = os.path.join(workdir, f"{kind}.log")
        self._log = open(self.log_path, "w")
        self.argv = argv
        # A new session: Ctrl-C in the terminal reaches only the harness, which
        # then stops the servers in order instead of racing their own handlers.
        self.proc = subprocess.Popen(argv, cwd=cwd, stdout=self._log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, start_new_session=True)
        _LIVE.append(self)
        try:
            self._wait_ready()
        except BaseException:
            self.stop()
            raise

    @property
    def pid(self) -> int:
        return self.proc.pid

    def _wait_ready(self, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.kind} exited with {self.proc.returncode}; log:\n{self.log_tail()}")
            try:
                c = self.client(socket_timeout=1)
                if c.ping():
                    c.close()
                    return
            except (redis.ConnectionError, redis.TimeoutError, OSError):
                time.sleep(0.05)
        raise RuntimeError(f"{self.kind} on port {self.port} did not answer PING within {timeout}s")

    def client(self, **kw) -> redis.Redis:
        kw.setdefault("socket_timeout", 60)
        return redis.Redis(host="127.0.0.1", port=self.port, protocol=2, **kw)

    def alive(self) -> bool:
        return self.proc.poll() is None

    def rss_kb(self) -> int:
        """Resident set size from /proc (the kernel's figure, comparable across
        a C and a Python process, unlike INFO used_memory)."""
        with open(f"/proc/{self.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        raise RuntimeError("VmRSS missing from /proc status")

    def flushall(self) -> None:
        c = self.client()
        try:
            c.flushall()
        finally:
            c.close()

    def log_tail(self, n: int = 20) -> str:
        try:
            with open(self.log_path, errors="replace") as f:
                return "".join(f.readlines()[-n:])
        except OSError:
            return ""

    def stop(self) -> None:
        if self.proc.poll() is None:
            try:
                self.proc.send_signal(signal.SIGTERM)
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self._log.close()
        if self.own_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)
        if self in _LIVE:
            _LIVE.remove(self)


def start_redis(workdir: str | None = None) -> Server:
    exe = shutil.which("redis-server")
    if exe is None:
        raise RuntimeError("redis-server is not installed")
    own = workdir is None
    workdir = workdir or tempfile.mkdtemp(prefix="bench-redis-")
    port = free_port()
    argv = [exe, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
            "--dir", workdir, "--logfile", os.path.join(workdir, "redis-server.log")]
    return Server("redis", argv, port, workdir, own_workdir=own)


def start_shardis(shards: int | None = None, workdir: str | None = None,
                  python_prefix: list[str] | None = None, extra: list[str] | None = None,
                  tree: str | None = None) -> Server:
    """``python_prefix`` replaces ``[python, -m, server]`` when the harness
    runs Shardis under a profiler wrapper.  ``tree``: run the Shardis of
    another checkout (``python -m server`` from there) instead of this one."""
    own = workdir is None
    workdir = workdir or tempfile.mkdtemp(prefix="bench-shardis-")
    port = free_port()
    argv = list(python_prefix or [sys.executable, "-m", "server"])
    argv += ["--port", str(port), "--loglevel", "warning"]
    if shards:
        argv += ["--shards", str(shards)]
    argv += extra or []
    return Server("shardis", argv, port, workdir, cwd=tree or ROOT, own_workdir=own)


def stop_all() -> None:
    for s in list(_LIVE):
        try:
            s.stop()
        except Exception:  # keep stopping the others
            s.proc.kill()


def supports(server: Server, *cmd) -> bool:
    """Whether the server knows ``cmd``: send it once; only an unknown-command
    error means no (a WRONGTYPE or syntax error still proves it exists)."""
    c = server.client(socket_timeout=10)
    try:
        c.execute_command(*cmd)
        return True
    except redis.ResponseError as e:
        # redis-py strips the "ERR " prefix; match the rest of Redis's text.
        return "unknown command" not in str(e)
    finally:
        try:
            c.delete(cmd[1]) if len(cmd) > 1 else None
        except redis.RedisError:
            pass
        c.close()
