"""Scenarios redis-benchmark cannot express, and the dashboard-overhead mode.

* ``tx``: MULTI / INCR a / INCR b / INCR c / EXEC, keys drawn at random from
  100,000 (so a transaction's three keys usually live on different shards:
  the cross-shard transaction path), one connection, 30 transactions per
  round trip.  Our own load generator: transactions are pre-encoded (2,000
  distinct ones, cycled), replies counted with hiredis; the generator costs
  the same for both servers, which run in the same interleaved rounds.
* dashboard overhead (``--dashboard-overhead``): two Shardis processes, one
  plain and one with ``--dashboard-port`` and a watcher reading its live
  stream (``/api/stream``, what the page's EventSource reads) plus the page's
  periodic API polls, measured interleaved under redis-benchmark; the figure
  is the throughput ratio watched / plain.
"""

from __future__ import annotations

import random
import socket
import statistics
import threading
import time
import urllib.request

import hiredis

from . import rb
from .servers import Server, free_port, start_shardis

TX_KEYS = 100_000
TX_DISTINCT = 2_000


def _req(*args: bytes | str) -> bytes:
    out = [b"*%d\r\n" % len(args)]
    for a in args:
        b = a if isinstance(a, bytes) else str(a).encode()
        out.append(b"$%d\r\n%b\r\n" % (len(b), b))
    return b"".join(out)


def tx_payloads(pipeline: int, seed: int = 7) -> list[bytes]:
    """Pre-encoded pipelines of ``pipeline`` transactions each."""
    rnd = random.Random(seed)
    txs = []
    for _ in range(TX_DISTINCT):
        keys = [f"tx:{rnd.randrange(TX_KEYS)}" for _ in range(3)]
        txs.append(_req("MULTI") + b"".join(_req("INCR", k) for k in keys) + _req("EXEC"))
    out = []
    for i in range(0, TX_DISTINCT, pipeline):
        chunk = txs[i:i + pipeline]
        if len(chunk) == pipeline:
            out.append(b"".join(chunk))
    return out


def run_tx(port: int, n: int, pipeline: int = 30, timeout: float = 120.0) -> dict:
    """``n`` transactions over one connection, ``pipeline`` per round trip.
    Returns a redis-benchmark-like record: rps (transactions/s) and the
    round-trip latency percentiles of a pipeline."""
    payloads = tx_payloads(pipeline)
    replies_per = pipeline * 5
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    reader = hiredis.Reader()
    rounds = max(1, n // pipeline)
    lat = []
    error = None
    t0 = time.perf_counter()
    try:
        for i in range(rounds):
            t = time.perf_counter()
            s.sendall(payloads[i % len(payloads)])
            got = 0
            while got < replies_per:
                data = s.recv(1 << 16)
                if not data:
                    raise ConnectionError("server closed the connection")
                reader.feed(data)
                while got < replies_per:
                    r = reader.gets()
                    if r is False:
                        break
                    if isinstance(r, hiredis.ReplyError) or (isinstance(r, list) and any(
                            isinstance(x, hiredis.ReplyError) for x in r)):
                        error = error or f"error reply: {r!r}"[:200]
                    got += 1
            lat.append(time.perf_counter() - t)
    except (OSError, ConnectionError) as e:
        error = repr(e)
    finally:
        s.close()
    secs = time.perf_counter() - t0
    lat.sort()
    done = len(lat) * pipeline
    return {"argv": [f"tx n={n} pipeline={pipeline}"], "seconds": secs, "error": error,
            "tests": {"MULTI+3xINCR+EXEC": {
                "rps": done / secs if secs > 0 else 0.0,
                "p50_ms": lat[len(lat) // 2] * 1e3 if lat else 0.0,
                "p99_ms": lat[min(len(lat) - 1, int(len(lat) * 0.99))] * 1e3 if lat else 0.0}}}


# ---------------------------------------------------------------- dashboard
class Watcher:
    """What an open dashboard page costs the server: the live event stream,
    plus the page's polls of the connection table and traces once a second."""

    def __init__(self, port: int):
        self.port = port
        self.stop = threading.Event()
        self.events = 0
        self.polls = 0
        self.threads = [threading.Thread(target=self._stream, daemon=True),
                        threading.Thread(target=self._poll, daemon=True)]
        for t in self.threads:
            t.start()

    def _stream(self) -> None:
        while not self.stop.is_set():
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/api/stream",
                                            timeout=5) as r:
                    while not self.stop.is_set():
                        line = r.readline()
                        if not line:
                            break
                        if line.startswith(b"data:"):
                            self.events += 1
            except OSError:
                time.sleep(0.2)

    def _poll(self) -> None:
        while not self.stop.wait(1.0):
            for path in ("/api/clients", "/api/traces", "/api/slowlog"):
                try:
                    with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{path}", timeout=5) as r:
                        r.read()
                    self.polls += 1
                except OSError:
                    pass

    def close(self) -> None:
        self.stop.set()


def start_watched_shardis(shards: int | None) -> tuple[Server, Watcher, int]:
    dport = free_port()
    s = start_shardis(shards, extra=["--dashboard-port", str(dport)])
    return s, Watcher(dport), dport


def dashboard_overhead(args, log, fmt_rps, scenarios) -> dict:
    """Interleaved rounds of each scenario on a plain and a watched Shardis;
    ratio watched / plain per test (medians)."""
    plain = start_shardis(args.shards)
    watched, watcher, dport = start_watched_shardis(args.shards)
    out: dict = {"dashboard_port": dport, "scenarios": {}}
    try:
        time.sleep(1.5)    # the watcher is connected and the sampler running
        for sc in scenarios:
            log(f"\n== dashboard overhead: {sc.name}: {sc.description}")
            n = rb.round_n(max(1, int(sc.n * args.n_scale)), sc.clients, sc.pipeline)
            per: dict = {"plain": {}, "watched": {}}
            for i in range(args.rounds):
                for label, srv in (("plain", plain), ("watched", watched)):
                    kw = sc.rb_kwargs(n)
                    kw.pop("label", None)
                    r = rb.run(srv.port, timeout=args.timeout, **kw)
                    for t, v in r["tests"].items():
                        per[label].setdefault(t, []).append(v["rps"])
                log(f"  round {i + 1}/{args.rounds}: " + "  ".join(
                    f"{label} " + " ".join(f"{t}={fmt_rps(v[-1])}" for t, v in per[label].items())
                    for label in per))
            res = {}
            for t in per["plain"]:
                p = statistics.median(per["plain"][t])
                w = statistics.median(per["watched"].get(t, [0.0]))
                res[t] = {"plain_rps": p, "watched_rps": w, "ratio": w / p if p else None}
                log(f"  {t:<6} plain {fmt_rps(p)}  watched {fmt_rps(w)}  ratio {w / p:.3f}"
                    f"  ({(1 - w / p) * 100:+.1f}% drop)" if p else f"  {t}: no figure")
            out["scenarios"][sc.name] = res
        out["watcher"] = {"stream_events": watcher.events, "api_polls": watcher.polls}
        log(f"\n  watcher received {watcher.events} stream events and made {watcher.polls} API polls")
        if watcher.events == 0:
            out["error"] = "the watcher received no stream events: the figure is not a watched one"
            log("  !! " + out["error"])
    finally:
        watcher.close()
        plain.stop()
        watched.stop()
    return out



# ---------------------------------------------------------------- pub/sub fan-out
def run_fanout(port: int, n: int, subscribers: int = 50, pipeline: int = 30,
               timeout: float = 120.0) -> dict:
    """One publisher, ``subscribers`` subscribers of one channel: ``n``
    PUBLISHes pipelined ``pipeline`` at a time; the figure is messages
    delivered per second (n * subscribers / time until the last arrived)."""
    import selectors
    payload = b"x" * 16
    msg_len = len(b"*3\r\n$7\r\nmessage\r\n$2\r\nfo\r\n$16\r\n" + payload + b"\r\n")
    subs = []
    for _ in range(subscribers):
        s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        s.sendall(_req("SUBSCRIBE", "fo"))
        subs.append(s)
    confirm = len(b"*3\r\n$9\r\nsubscribe\r\n$2\r\nfo\r\n:1\r\n")
    for s in subs:
        got = b""
        while len(got) < confirm:
            got += s.recv(confirm - len(got))
        s.setblocking(False)
    sel = selectors.DefaultSelector()
    for s in subs:
        sel.register(s, selectors.EVENT_READ)
    want = n * msg_len
    received = {s: 0 for s in subs}
    done = threading.Event()

    def drain():
        left = subscribers
        while left and not done.is_set():
            for key, _ in sel.select(0.5):
                s = key.fileobj
                try:
                    data = s.recv(1 << 18)
                except BlockingIOError:
                    continue
                received[s] += len(data)
                if received[s] >= want:
                    sel.unregister(s)
                    left -= 1
        done.set()

    reader = threading.Thread(target=drain, daemon=True)
    pub = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    batch = _req("PUBLISH", "fo", payload) * pipeline
    reply_len = len(b":%d\r\n" % subscribers)
    t0 = time.perf_counter()
    reader.start()
    error = None
    try:
        for _ in range(max(1, n // pipeline)):
            pub.sendall(batch)
            need, got = reply_len * pipeline, 0
            while got < need:
                data = pub.recv(need - got)
                if not data:
                    raise ConnectionError("publisher connection closed")
                got += len(data)
        reader.join(timeout)
    except (OSError, ConnectionError) as e:
        error = repr(e)
    secs = time.perf_counter() - t0
    done.set()
    total = sum(received.values()) // msg_len
    if total < n * subscribers and error is None:
        error = f"only {total} of {n * subscribers} messages arrived"
    for s in subs + [pub]:
        s.close()
    return {"argv": [f"fanout n={n} subscribers={subscribers} pipeline={pipeline}"],
            "seconds": secs, "error": error,
            "tests": {f"PUBLISH -> {subscribers} subscribers (msgs/s)": {"rps": total / secs if secs else 0.0}}}
