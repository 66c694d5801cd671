"""Argument parsing shared by command handlers, with Redis's exact errors."""

from __future__ import annotations

import math
import re

from server.protocol import CommandError

__all__ = ["parse_int", "parse_float", "NOT_INT", "NOT_FLOAT", "SYNTAX", "glob_match",
           "compile_glob", "INT64_MAX", "INT64_MIN", "parse_timeout"]

NOT_INT = "ERR value is not an integer or out of range"
NOT_FLOAT = "ERR value is not a valid float"
SYNTAX = "ERR syntax error"
INT64_MAX = (1 << 63) - 1
INT64_MIN = -(1 << 63)

_INT_RE = re.compile(rb"-?(0|[1-9][0-9]*)\Z")


def parse_int(b: bytes, err: str = NOT_INT) -> int:
    """Redis's string2ll: optional '-', no '+', no spaces, no leading zeros."""
    if len(b) > 20 or not _INT_RE.match(b) or b == b"-0":
        raise CommandError(err)
    v = int(b)
    if v > INT64_MAX or v < INT64_MIN:
        raise CommandError(err)
    return v


def parse_float(b: bytes, err: str = NOT_FLOAT) -> float:
    """Redis's string2ld: a full strtold parse, no surrounding spaces, no NaN."""
    if not b or b[:1].isspace() or b[-1:].isspace():
        raise CommandError(err)
    try:
        v = float(b)
    except ValueError:
        raise CommandError(err) from None
    if math.isnan(v):
        raise CommandError(err)
    low = b.lower()
    if b"_" in b or low.startswith((b"0x", b"-0x", b"+0x")):
        raise CommandError(err)
    return v


def parse_timeout(b: bytes) -> float:
    try:
        v = float(b)
    except ValueError:
        raise CommandError("ERR timeout is not a float or out of range") from None
    if math.isnan(v) or math.isinf(v):
        raise CommandError("ERR timeout is not a float or out of range")
    if v < 0:
        raise CommandError("ERR timeout is negative")
    return v


_glob_cache: dict[bytes, re.Pattern] = {}


def compile_glob(pattern: bytes) -> re.Pattern:
    """Translate a Redis glob (stringmatchlen) into a regex."""
    rx = _glob_cache.get(pattern)
    if rx is not None:
        return rx
    out = []
    i, n = 0, len(pattern)
    while i < n:
        c = pattern[i:i + 1]
        if c == b"*":
            out.append(b".*")
        elif c == b"?":
            out.append(b".")
        elif c == b"\\" and i + 1 < n:
            i += 1
            out.append(re.escape(pattern[i:i + 1]))
        elif c == b"[":
            j = i + 1
            neg = False
            if j < n and pattern[j:j + 1] == b"^":
                neg = True
                j += 1
            items = []
            while j < n and pattern[j:j + 1] != b"]":
                if pattern[j:j + 1] == b"\\" and j + 1 < n:
                    j += 1
                    items.append(re.escape(pattern[j:j + 1]))
                elif j + 2 < n and pattern[j + 1:j + 2] == b"-":
                    # stringmatchlen takes any 3 remaining bytes "x-y" as a
                    # range, even when y is the closing ']' ("[a-]" is ']'..'a',
                    # and the class is then unterminated)
                    a, b = pattern[j], pattern[j + 2]
                    if a > b:
                        a, b = b, a
                    items.append(re.escape(bytes([a])) + b"-" + re.escape(bytes([b])))
                    j += 2
                else:
                    items.append(re.escape(pattern[j:j + 1]))
                j += 1
            # an unterminated '[' matches what was listed so far (Redis is lenient)
            body = b"".join(items)
            if not body:
                out.append(b"[^\\s\\S]" if not neg else b"[\\s\\S]")
            else:
                out.append(b"[" + (b"^" if neg else b"") + body + b"]")
            i = j
        else:
            out.append(re.escape(c))
        i += 1
    # stringmatchlen never enters its loop for an empty string: only an empty
    # pattern matches it ("*" does only through KEYS/SCAN's match-all path)
    rx = re.compile((b"(?=.)" if n else b"") + b"".join(out) + b"\\Z", re.DOTALL)
    if len(_glob_cache) > 1000:
        _glob_cache.clear()
    _glob_cache[pattern] = rx
    return rx


def glob_match(pattern: bytes, s: bytes) -> bool:
    # no '*' shortcut here: "*" must not match b"" (pub/sub, ACL key and
    # channel patterns); KEYS and SCAN take their match-all path themselves
    return compile_glob(pattern).match(s) is not None
