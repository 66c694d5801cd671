"""Pub/Sub: redis-py clients, raw RESP2/RESP3 bytes, fan-out, slow subscribers."""

from __future__ import annotations

import socket
import threading
import time

import redis

from conftest import raw_command


def recv_until(s: socket.socket, n: int, timeout: float = 3.0) -> bytes:
    s.settimeout(timeout)
    data = b""
    deadline = time.monotonic() + timeout
    while len(data) < n and time.monotonic() < deadline:
        try:
            chunk = s.recv(65536)
        except socket.timeout:
            break
        if not chunk:
            break
        data += chunk
    return data


def exchange(port: int, payload: bytes, n: int) -> bytes:
    with socket.create_connection(("127.0.0.1", port)) as s:
        s.sendall(payload)
        return recv_until(s, n)


def test_subscribe_publish_and_patterns_with_redis_py(r):
    p = r.pubsub()
    p.subscribe("news")
    p.psubscribe("n*")
    assert p.get_message(timeout=1)["type"] == "subscribe"
    assert p.get_message(timeout=1)["data"] == 2
    assert r.publish("news", "hi") == 2
    m1, m2 = p.get_message(timeout=1), p.get_message(timeout=1)
    assert (m1["type"], m1["channel"], m1["data"]) == ("message", b"news", b"hi")
    assert (m2["type"], m2["pattern"], m2["data"]) == ("pmessage", b"n*", b"hi")
    assert r.pubsub_channels() == [b"news"]
    assert r.pubsub_numsub("news", "other") == [(b"news", 1), (b"other", 0)]
    assert r.pubsub_numpat() == 1
    p.close()


def test_subscribe_replies_match_redis_byte_for_byte(shardis, real_redis):
    script = (b"SUBSCRIBE a b\r\nUNSUBSCRIBE b\r\nPSUBSCRIBE x*\r\nPING\r\nPING hi\r\n"
              b"GET k\r\nPUNSUBSCRIBE\r\nUNSUBSCRIBE\r\nUNSUBSCRIBE\r\nGET k\r\n")
    want = exchange(real_redis.port, script, 10_000)
    got = exchange(shardis.port, script, len(want))
    assert got == want


def test_resp3_push_messages_mix_with_regular_replies(shardis, real_redis):
    script = b"HELLO 3\r\nSUBSCRIBE ch\r\nSET k v\r\nGET k\r\nPING\r\n"
    for port in (shardis.port,):
        with socket.create_connection(("127.0.0.1", port)) as s:
            s.sendall(script)
            data = recv_until(s, 10_000, timeout=0.5)
            assert b">3\r\n$9\r\nsubscribe\r\n$2\r\nch\r\n:1\r\n+OK\r\n$1\r\nv\r\n+PONG\r\n" in data
            pub = redis.Redis(port=port)
            assert pub.publish("ch", "m") == 1
            assert recv_until(s, 27) == b">3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$1\r\nm\r\n"


def test_publish_is_delivered_after_the_publishers_earlier_commands(shardis):
    sub = redis.Redis(port=shardis.port)
    p = sub.pubsub()
    p.subscribe("changed")
    p.get_message(timeout=1)
    pub = redis.Redis(port=shardis.port)
    reader = redis.Redis(port=shardis.port)
    for i in range(50):
        pipe = pub.pipeline(transaction=False)
        pipe.set(f"pk{i}", i)
        pipe.publish("changed", f"pk{i}")
        pipe.execute()
        msg = p.get_message(timeout=2)
        assert msg and msg["data"] == f"pk{i}".encode()
        assert reader.get(f"pk{i}") == str(i).encode()
    p.close()


def test_fan_out_to_200_subscribers_delivers_every_message_once_in_order(shardis):
    nsubs, nmsgs = 200, 100
    socks = []
    for _ in range(nsubs):
        s = socket.create_connection(("127.0.0.1", shardis.port))
        s.sendall(b"SUBSCRIBE fan\r\n")
        socks.append(s)
    for s in socks:
        assert recv_until(s, 32).startswith(b"*3\r\n$9\r\nsubscribe\r\n")
    pub = redis.Redis(port=shardis.port)
    assert pub.pubsub_numsub("fan") == [(b"fan", nsubs)]
    for i in range(nmsgs):
        assert pub.publish("fan", b"m%03d" % i) == nsubs
    expected = b"".join(b"*3\r\n$7\r\nmessage\r\n$3\r\nfan\r\n$4\r\nm%03d\r\n" % i for i in range(nmsgs))
    for s in socks:
        assert recv_until(s, len(expected), timeout=10) == expected
        s.close()


def test_slow_subscriber_is_disconnected_without_hurting_others(shardis):
    slow = socket.create_connection(("127.0.0.1", shardis.port))
    slow.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    slow.sendall(b"SUBSCRIBE big\r\n")
    recv_until(slow, 32)
    fast = redis.Redis(port=shardis.port).pubsub()
    fast.subscribe("big")
    fast.get_message(timeout=1)
    pub = redis.Redis(port=shardis.port)
    payload = b"x" * (1 << 20)
    # 40 MB for a client that reads nothing: past the 32 MB hard limit
    received = 0
    for _ in range(40):
        received = pub.publish("big", payload)
        m = fast.get_message(timeout=5)
        assert m and m["data"] == payload
    assert received == 1        # the slow one was cut off on the way
    assert pub.pubsub_numsub("big") == [(b"big", 1)]
    assert pub.ping()
    fast.close()
    slow.close()


def test_subscriber_disconnect_removes_its_subscriptions(shardis):
    s = socket.create_connection(("127.0.0.1", shardis.port))
    s.sendall(b"SUBSCRIBE gone\r\nPSUBSCRIBE g*\r\n")
    recv_until(s, 60)
    r = redis.Redis(port=shardis.port)
    assert r.pubsub_numsub("gone") == [(b"gone", 1)]
    s.close()
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline and r.pubsub_numsub("gone") != [(b"gone", 0)]:
        time.sleep(0.05)
    assert r.pubsub_numsub("gone") == [(b"gone", 0)]
    assert r.pubsub_numpat() == 0


def test_pubsub_subcommand_errors_match_redis(shardis, real_redis):
    payload = b"PUBSUB NOPE\r\nPUBSUB\r\nPUBSUB CHANNELS a b\r\nPUBSUB NUMPAT x\r\n"
    want = raw_command(real_redis.port, payload, expect=None, timeout=0.5)
    assert raw_command(shardis.port, payload, expect=len(want)) == want


# ---------------------------------------------------------------- more differential
def _two_sockets(port):
    a = socket.create_connection(("127.0.0.1", port))
    b = socket.create_connection(("127.0.0.1", port))
    return a, b


def _session(port, sub_script: bytes, pub_script: bytes, settle: float = 0.3) -> tuple[bytes, bytes]:
    """A subscriber sends ``sub_script``; then a publisher sends
    ``pub_script``; returns what each received."""
    a, b = _two_sockets(port)
    try:
        a.sendall(sub_script)
        time.sleep(settle)
        b.sendall(pub_script)
        time.sleep(settle)
        return recv_until(a, 1 << 20, 0.5), recv_until(b, 1 << 20, 0.5)
    finally:
        a.close()
        b.close()


GLOB_PATTERNS = [b"h?llo", b"h*llo", b"h[ae]llo", b"h[^e]llo", b"h[a-b]llo", b"h\\*llo", b"*",
                 b"[", b"h[", b"\\", b"a[b-]c", b"?*?", b"*o*o*"]
GLOB_CHANNELS = [b"hello", b"hallo", b"hxllo", b"hllo", b"heeeello", b"h*llo", b"a-c", b"abc",
                 b"[", b"foo", b"oo", b""]      # "": no pattern matches it, not even "*"


def test_pattern_subscriptions_match_channels_like_redis_glob(shardis, real_redis):
    sub = b"".join(b"*2\r\n$10\r\nPSUBSCRIBE\r\n$%d\r\n%b\r\n" % (len(p), p) for p in GLOB_PATTERNS)
    pub = b"".join(b"*3\r\n$7\r\nPUBLISH\r\n$%d\r\n%b\r\n$1\r\nx\r\n" % (len(c), c)
                   for c in GLOB_CHANNELS)
    ours, theirs = _session(shardis.port, sub, pub), _session(real_redis.port, sub, pub)
    assert ours[1] == theirs[1]         # receiver counts per PUBLISH
    # Redis keeps patterns in a hash table: for one channel, the order of the
    # pmessages of several matching patterns is its hash order; compare the
    # messages as a multiset, and the subscribe replies exactly
    def parse(data):
        import hiredis
        r = hiredis.Reader()
        r.feed(data)
        out = []
        while (m := r.gets()) is not False:
            out.append(m)
        return out
    a, b = parse(ours[0]), parse(theirs[0])
    assert [m for m in a if m[0] != b"pmessage"] == [m for m in b if m[0] != b"pmessage"]
    assert sorted(m for m in a if m[0] == b"pmessage") == sorted(m for m in b if m[0] == b"pmessage")
    # per channel, messages still follow the publish order
    chans = [m[2] for m in a if m[0] == b"pmessage"]
    assert chans == sorted(chans, key=GLOB_CHANNELS.index)


def test_pubsub_channels_lists_the_empty_channel_only_without_a_pattern(shardis, real_redis):
    sub = b"*3\r\n$9\r\nSUBSCRIBE\r\n$0\r\n\r\n$1\r\nc\r\n"
    ask = (b"*3\r\n$6\r\nPUBSUB\r\n$8\r\nCHANNELS\r\n$1\r\n*\r\n"
           b"*2\r\n$6\r\nPUBSUB\r\n$8\r\nCHANNELS\r\n"
           b"*3\r\n$6\r\nPUBSUB\r\n$8\r\nCHANNELS\r\n$2\r\n?*\r\n")
    import hiredis

    def answers(port):
        r = hiredis.Reader()
        r.feed(_session(port, sub, ask)[1])
        out = []
        while (m := r.gets()) is not False:
            out.append(sorted(m))
        return out
    ours = answers(shardis.port)
    assert ours == answers(real_redis.port)
    assert ours == [[b"c"], [b"", b"c"], [b"c"]]


def test_resp2_subscribed_mode_refuses_other_commands_like_redis(shardis, real_redis):
    script = (b"SUBSCRIBE c\r\nGET k\r\nSET k v\r\nMULTI\r\nPING\r\nQUIT\r\n")
    want = exchange(real_redis.port, script, 10_000)
    assert exchange(shardis.port, script, len(want)) == want


def test_sharded_pubsub_matches_redis(shardis, real_redis):
    sub = b"SSUBSCRIBE {a}1 {a}2\r\nSSUBSCRIBE {b}x\r\n"
    pub = (b"SPUBLISH {a}1 m1\r\nSPUBLISH {b}x m2\r\nSPUBLISH nobody m3\r\nPUBLISH {a}1 plain\r\n"
           b"PUBSUB SHARDCHANNELS\r\nPUBSUB SHARDCHANNELS {a}*\r\nPUBSUB SHARDNUMSUB {a}1 {b}x zz\r\n"
           b"PUBSUB CHANNELS\r\n")
    ours = _session(shardis.port, sub, pub)
    theirs = _session(real_redis.port, sub, pub)
    assert ours[0] == theirs[0]
    # PUBSUB SHARDCHANNELS lists in hash order: compare its elements as sets
    assert sorted(ours[1].split(b"\r\n")) == sorted(theirs[1].split(b"\r\n"))
    unsub = b"SSUBSCRIBE {a}1\r\nSUNSUBSCRIBE {a}1 never\r\nSUNSUBSCRIBE\r\n"
    assert exchange(shardis.port, unsub, 10_000) == exchange(real_redis.port, unsub, 10_000)


def test_redis_py_pubsub_worker_thread_receives_every_message_in_order(shardis):
    c = redis.Redis(port=shardis.port)
    got: list = []
    p = c.pubsub()
    p.subscribe(**{"t": lambda m: got.append(m["data"])})
    worker = p.run_in_thread(sleep_time=0.01, daemon=True)
    try:
        deadline = time.monotonic() + 3
        while c.pubsub_numsub("t")[0][1] != 1 and time.monotonic() < deadline:
            time.sleep(0.01)
        for i in range(500):
            c.publish("t", str(i))
        deadline = time.monotonic() + 5
        while len(got) < 500 and time.monotonic() < deadline:
            time.sleep(0.02)
    finally:
        worker.stop()
        worker.join(5)          # it may be inside get_message: let it leave first
        p.close()
        c.close()
    assert got == [str(i).encode() for i in range(500)]


def test_redis_py_asyncio_pubsub_over_resp3(shardis):
    import asyncio
    import redis.asyncio as aredis

    async def main():
        sub = aredis.Redis(port=shardis.port, protocol=3)
        pub = aredis.Redis(port=shardis.port)
        p = sub.pubsub()
        await p.subscribe("ac")
        await p.psubscribe("a*")
        msgs = []
        while len(msgs) < 2:        # the two subscribe confirmations
            m = await p.get_message(timeout=1)
            if m:
                msgs.append(m)
        assert await pub.publish("ac", "one") == 2
        got = []
        deadline = asyncio.get_running_loop().time() + 3
        while len(got) < 2 and asyncio.get_running_loop().time() < deadline:
            m = await p.get_message(timeout=0.5)
            if m:
                got.append((m["type"], m["data"]))
        # the connection still answers ordinary commands between pushes (RESP3)
        await p.unsubscribe()
        await p.punsubscribe()
        await p.aclose()
        await sub.aclose()
        await pub.aclose()
        return got

    got = asyncio.run(main())
    assert got == [("message", b"one"), ("pmessage", b"one")]
