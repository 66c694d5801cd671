"""The real redis-cli 7.0 against Shardis: interactive hints built from our
COMMAND DOCS (redis-cli asserts on malformed replies, so a bad shape kills
it at startup), help text, and one-shot output of nested replies compared
with what the same redis-cli prints for a real redis-server."""

from __future__ import annotations

import os
import re
import shutil
import subprocess

import pexpect
import pytest

from server.table import render_arguments

CLI = shutil.which("redis-cli")
if CLI is None:
    pytest.fail("redis-cli is not installed") if os.environ.get("CI") else pytest.skip(
        "redis-cli not installed", allow_module_level=True)

ANSI_HINT = re.compile(r"\x1b\[0;90;49m(.*?)\x1b\[0m", re.S)


def one_shot(port: int, *args: str, proto3: bool = False) -> subprocess.CompletedProcess:
    cmd = [CLI, "-p", str(port), "--no-raw"] + (["-3"] if proto3 else []) + list(args)
    return subprocess.run(cmd, capture_output=True, text=True, timeout=10)


@pytest.fixture
def cli(shardis):
    env = dict(os.environ, REDISCLI_HISTFILE="/dev/null", REDISCLI_RCFILE="/dev/null",
               TERM="xterm")
    # wide enough for CLIENT KILL's whole hint (linenoise cuts hints at the edge)
    child = pexpect.spawn(CLI, ["-p", str(shardis.port)], encoding="utf-8", timeout=5,
                          dimensions=(40, 400), env=env)
    child.expect(f"127.0.0.1:{shardis.port}> ")
    yield child
    child.sendcontrol("c")
    child.close(force=True)


def hint_after_typing(child, text: str) -> str:
    """Type ``text`` one key at a time; the hint shown after the last key."""
    seen = ""
    for ch in text:
        child.send(ch)
        child.expect(pexpect.TIMEOUT, timeout=0.15)
        seen += child.before
    hints = ANSI_HINT.findall(seen)
    assert hints, repr(seen[-300:])
    return hints[-1].strip()


def _decode_arg(a: dict) -> dict:
    d = {k.decode(): v for k, v in a.items()}
    out = {"name": d["name"].decode(), "type": d["type"].decode()}
    if "token" in d:
        out["token"] = d["token"].decode()
    if "flags" in d:
        out["flags"] = [f.decode() if isinstance(f, bytes) else f for f in d["flags"]]
    if "arguments" in d:
        out["arguments"] = [_decode_arg(x) for x in d["arguments"]]
    return out


def expected_hint(r3, name: str) -> str:
    """What redis-cli should show: the server's COMMAND DOCS arguments (read
    over the wire) rendered the way redis-cli's cliAddArgument renders them."""
    words = name.split()
    conn = r3.connection_pool.get_connection()
    try:            # raw reply: redis-py's COMMAND callbacks reshape it
        conn.send_command("COMMAND", "DOCS", words[0])
        docs = conn.read_response()
    finally:
        r3.connection_pool.release(conn)
    doc = docs[words[0].encode()]
    if len(words) > 1:
        doc = doc[b"subcommands"][f"{words[0]}|{words[1]}".encode()]
    return render_arguments([_decode_arg(a) for a in doc.get(b"arguments", [])])


def test_typing_set_shows_the_documented_argument_hint(cli, r3):
    hint = hint_after_typing(cli, "set ")
    assert hint.startswith("key value [NX|XX]"), hint
    assert hint == expected_hint(r3, "set")


@pytest.mark.parametrize("line,expected", [
    ("mget ", "key [key ...]"),
    ("config get ", "parameter [parameter ...]"),
    ("client kill ", None),
    ("zadd ", None),
    ("sort ", None),
])
def test_hints_for_repeated_arguments_and_subcommands(cli, r3, line, expected):
    hint = hint_after_typing(cli, line)
    want = expected_hint(r3, line.strip())
    assert hint == want
    if expected is not None:
        assert hint == expected
    assert "[key [key" not in hint          # repetition is one 'multiple' argument


def test_interactive_help_prints_the_summary_from_command_docs(cli, shardis):
    cli.send("help get\r")
    cli.expect("summary:")
    cli.expect(f"127.0.0.1:{shardis.port}> ")
    text = re.sub(r"\x1b\[[0-9;]*m", "", cli.before)
    assert "since: 1.0.0" in text and "group: string" in text, text
    cli.send("set clikey 42\r")
    cli.expect("OK")
    cli.send("get clikey\r")
    cli.expect('"42"')


def test_one_shot_commands_print_like_redis(shardis, real_redis, r, rr):
    for c in (r, rr):
        c.zadd("z", {"a": 1, "b": 2.5})
        c.mset({"s1": "x", "s2": "y"})
    for args, proto3 in [(("zrange", "z", "0", "-1", "withscores"), False),
                         (("zrange", "z", "0", "-1", "withscores"), True),
                         (("mget", "s1", "missing", "s2"), False),
                         (("command", "info", "get"), False),
                         (("command", "info", "get"), True),
                         (("get", "missing"), False),
                         (("incr", "s1"), False),
                         (("config", "get", "appendonly"), True)]:
        ours = one_shot(shardis.port, *args, proto3=proto3)
        theirs = one_shot(real_redis.port, *args, proto3=proto3)
        assert ours.returncode == theirs.returncode == 0
        assert ours.stdout == theirs.stdout, args


def test_one_shot_nested_command_docs_output_is_well_formed(shardis):
    out = one_shot(shardis.port, "command", "docs", "set")
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0] == '1) "set"'
    assert lines[1] == '2)  1) "summary"'           # the map, flattened as redis-cli prints it
    assert '   11) "arguments"' in lines               # after Redis's history
    assert any(x.strip().endswith(") optional") for x in lines)   # flags: simple strings


def test_redis_cli_starts_cleanly_with_the_whole_command_docs(shardis):
    # redis-cli fetches COMMAND DOCS for every command at startup and asserts
    # on its shape: a one-shot with hints initialisation must not abort.
    child = pexpect.spawn(CLI, ["-p", str(shardis.port)], encoding="utf-8", timeout=5,
                          env=dict(os.environ, REDISCLI_HISTFILE="/dev/null", TERM="xterm"))
    child.expect(f"127.0.0.1:{shardis.port}> ")
    child.send("ping\r")
    child.expect("PONG")
    child.send("quit\r")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0


def test_hints_work_when_redis_cli_speaks_resp3(shardis, r3):
    # with -3 the COMMAND DOCS reply is a RESP3 map of maps with set-typed flags
    env = dict(os.environ, REDISCLI_HISTFILE="/dev/null", REDISCLI_RCFILE="/dev/null",
               TERM="xterm")
    child = pexpect.spawn(CLI, ["-3", "-p", str(shardis.port)], encoding="utf-8", timeout=5,
                          dimensions=(40, 250), env=env)
    try:
        child.expect(f"127.0.0.1:{shardis.port}> ")
        hint = hint_after_typing(child, "zadd ")
        assert hint == expected_hint(r3, "zadd")
        assert hint.endswith("score member [score member ...]")
    finally:
        child.sendcontrol("c")
        child.close(force=True)
