"""Fixtures: real server processes on ephemeral loopback ports.

``shardis``  a Shardis server (module-scoped); ``shardis_factory`` starts more
             with custom options.
``real_redis`` a real ``redis-server`` (Debian package) for differential tests.
``r`` / ``r2`` / ``r3``  redis-py clients (RESP2 / RESP3) to the Shardis server,
             with the current database flushed.
"""

from __future__ import annotations

import os
import random
import shutil
import socket
import subprocess
import sys
import time

import pytest
import redis

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


# Ports for the servers the tests start.  Not the kernel's bind(0): with two
# pytest-xdist workers, both could be handed the same just-released port and
# one worker's server would fail to bind while its wait_port() connected to
# the other worker's server.  Each worker takes its own range below the
# ephemeral range (32768+, where client sockets get their ports), scanning
# from a random point for a port nobody holds.
_WORKER = os.environ.get("PYTEST_XDIST_WORKER", "")
_WORKER_ID = int(_WORKER[2:]) if _WORKER[2:].isdigit() else 0
_PORT_SPAN = 1500
_PORT_BASE = 20000 + (_WORKER_ID % 8) * _PORT_SPAN
_port_next = [random.randrange(_PORT_SPAN)]


def free_port() -> int:
    for _ in range(_PORT_SPAN):
        port = _PORT_BASE + _port_next[0] % _PORT_SPAN
        _port_next[0] += 1
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        return port
    raise RuntimeError("no free port in this worker's range")


def wait_port(port: int, proc: subprocess.Popen, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"server on port {port} did not start")


class ServerProc:
    def __init__(self, proc, port, log_path):
        self.proc = proc
        self.port = port
        self.host = "127.0.0.1"
        self.log_path = log_path

    def client(self, **kw) -> redis.Redis:
        kw.setdefault("protocol", 2)
        return redis.Redis(host=self.host, port=self.port, **kw)

    def log(self) -> str:
        with open(self.log_path, errors="replace") as f:
            return f.read()

    def stop(self, sig=None) -> int:
        if self.proc.poll() is None:
            self.proc.terminate() if sig is None else self.proc.send_signal(sig)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode


def start_shardis(tmp_path_factory, *args: str) -> ServerProc:
    port = free_port()
    logdir = tmp_path_factory.mktemp("shardis")
    log_path = str(logdir / "server.log")
    logf = open(log_path, "w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "server", "--port", str(port), "--loglevel", "verbose", *args],
        cwd=ROOT, stdout=logf, stderr=subprocess.STDOUT)
    wait_port(port, proc)
    return ServerProc(proc, port, log_path)


def start_redis(tmp_path_factory) -> ServerProc:
    exe = shutil.which("redis-server")
    if exe is None:
        if os.environ.get("CI"):
            pytest.fail("redis-server is not installed (the test command installs it)")
        pytest.skip("redis-server not installed")
    port = free_port()
    d = tmp_path_factory.mktemp("redis")
    log_path = str(d / "redis.log")
    proc = subprocess.Popen(
        [exe, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
         "--dir", str(d), "--logfile", log_path],
        stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    wait_port(port, proc)
    return ServerProc(proc, port, log_path)


@pytest.fixture(scope="session")
def shardis(tmp_path_factory):
    s = start_shardis(tmp_path_factory, "--shards", "4")
    yield s
    s.stop()


@pytest.fixture(scope="session")
def shardis_default(tmp_path_factory):
    """Shardis as it starts with no options: one shard, where the parser
    routes the hot commands itself (take_routed) and no key is hashed."""
    s = start_shardis(tmp_path_factory)
    yield s
    s.stop()


@pytest.fixture
def shardis_factory(tmp_path_factory):
    started = []

    def make(*args):
        s = start_shardis(tmp_path_factory, *args)
        started.append(s)
        return s
    yield make
    for s in started:
        s.stop()


@pytest.fixture(scope="session")
def real_redis(tmp_path_factory):
    s = start_redis(tmp_path_factory)
    yield s
    s.stop()


@pytest.fixture
def r(shardis):
    c = shardis.client(protocol=2)
    c.flushall()
    yield c
    c.close()


@pytest.fixture
def r3(shardis):
    c = shardis.client(protocol=3)
    c.flushall()
    yield c
    c.close()


@pytest.fixture
def rr(real_redis):
    c = real_redis.client(protocol=2)
    c.flushall()
    yield c
    c.close()


def raw_command(port: int, payload: bytes, timeout: float = 2.0, expect: int | None = None) -> bytes:
    """Send raw bytes, return what the server answers within ``timeout``
    (or as soon as ``expect`` bytes arrived)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(payload)
        data = b""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if expect is not None and len(data) >= expect:
                break
            try:
                chunk = s.recv(65536)
            except socket.timeout:
                break
            if not chunk:
                break
            data += chunk
        return data


def build_sanitized(c_source: str, module: str, dest) -> dict:
    """Build ``c_source`` (a path under the repository) with ASan and UBSan as
    the extension ``module`` ("pkg.name") under the directory ``dest``, and
    return the environment that runs Python with it: the sanitizer runtimes
    preloaded, ``dest`` first on the path, any error fatal.  The caller puts
    whatever pure-Python modules the package needs beside it."""
    import sysconfig
    gcc = shutil.which("gcc")
    assert gcc, "gcc is needed (it built the extension)"
    libs = []
    for lib in ("libasan.so", "libubsan.so"):
        path = subprocess.run([gcc, f"-print-file-name={lib}"], capture_output=True,
                              text=True).stdout.strip()
        assert os.path.isabs(path), f"{lib} not found (Debian's gcc ships it)"
        libs.append(path)
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    pkg, name = module.split(".")
    (dest / pkg).mkdir(exist_ok=True)
    if not (dest / pkg / "__init__.py").exists():
        (dest / pkg / "__init__.py").write_text("")
    so = dest / pkg / (name + sysconfig.get_config_var("EXT_SUFFIX"))
    build = subprocess.run(
        [gcc, "-shared", "-fPIC", "-g", "-O1", "-fno-omit-frame-pointer",
         "-fsanitize=address,undefined", "-fno-sanitize-recover=undefined",
         "-I" + sysconfig.get_paths()["include"], os.path.join(root, c_source),
         "-o", str(so)], capture_output=True, text=True)
    assert build.returncode == 0, build.stderr
    return dict(os.environ, LD_PRELOAD=" ".join(libs), PYTHONPATH=str(dest),
                ASAN_OPTIONS="detect_leaks=0:verify_asan_link_order=0:abort_on_error=1",
                UBSAN_OPTIONS="print_stacktrace=1")
