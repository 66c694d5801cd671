"""Regenerate docs/dashboard.png: ``python -m server.dashboard.screenshot``.

Starts a Shardis server (4 shards, dashboard on), puts it under a mixed load
from a few redis-py threads (pipelined SETs/GETs, a client with a big pending
reply, a named client, keys with TTLs), lets the dashboard collect some
history, and photographs the page in Debian's headless Chromium through
Playwright.  Everything stays on 127.0.0.1 and stops by itself.
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"port {port} did not open")


def load(port: int, stop: threading.Event, seed: int) -> None:
    """Pipelined traffic until ``stop``; bounded by the caller's duration."""
    import redis
    r = redis.Redis(host="127.0.0.1", port=port)
    r.execute_command("HELLO", "2", "SETNAME", f"loadgen-{seed}")
    i = 0
    while not stop.is_set():
        p = r.pipeline(transaction=False)
        for j in range(50):
            k = f"user:{seed}:{(i + j) % 2000}"
            p.set(k, "x" * (16 + j))
            p.get(k)
        p.execute()
        i += 50
        time.sleep(0.002)
    r.close()


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=os.path.join(ROOT, "docs", "dashboard.png"))
    ap.add_argument("--seconds", type=float, default=20.0, help="load time before the shot")
    ap.add_argument("--chromium", default="/usr/bin/chromium")
    args = ap.parse_args(argv)

    import redis
    from playwright.sync_api import sync_playwright

    port, dport = free_port(), free_port()
    server = subprocess.Popen([sys.executable, "-m", "server", "--port", str(port), "--shards", "4",
                               "--dashboard-port", str(dport), "--loglevel", "warning"], cwd=ROOT)
    stop = threading.Event()
    threads = []
    held = None
    try:
        wait_port(port)
        wait_port(dport)
        r = redis.Redis(host="127.0.0.1", port=port)
        r.set("session:<b>42</b>", "ttl'd value", ex=3600)
        r.set("big", b"v" * (1 << 20))
        r.execute_command("HELLO", "3", "SETNAME", "inspector")
        # a client that asked for a lot and reads nothing: paused by backpressure
        held = socket.create_connection(("127.0.0.1", port))
        held.sendall(b"HELLO 2 SETNAME slow-reader\r\n" + b"GET big\r\n" * 48)
        for seed in range(3):
            t = threading.Thread(target=load, args=(port, stop, seed), daemon=True)
            t.start()
            threads.append(t)
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=args.chromium, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            page.goto(f"http://127.0.0.1:{dport}/")
            time.sleep(args.seconds)
            page.fill("#key-name", "session:<b>42</b>")
            page.click("#key-inspect")
            page.wait_for_selector("#key-result dl")
            page.screenshot(path=args.out, full_page=True)
            browser.close()
        print(f"wrote {args.out}")
        return 0
    finally:
        stop.set()
        for t in threads:
            t.join(5)
        if held is not None:
            held.close()
        server.terminate()
        try:
            server.wait(10)
        except subprocess.TimeoutExpired:
            server.kill()


if __name__ == "__main__":
    sys.exit(main())
