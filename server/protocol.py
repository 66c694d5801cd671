"""RESP2/RESP3 on the wire: request parsing (C parser, or hiredis + inline) and reply encoding.

Requests: `new_request_reader(max_bulk)` gives a connection its parser, which
has ``feed(data)``, ``take(limit)`` (up to ``limit`` complete requests, each a
non-empty list of bytes; a protocol error met after some requests is raised
by the next call, and every call after that) and ``has_input()``:

* ``server._reqparse.Parser``, a C extension (server/_reqparse.c) porting
  Redis's processMultibulkBuffer / processInlineBuffer onto its own buffer,
  freed whenever all of it is consumed.  Used when it is built and the
  environment variable ``SHARDIS_PURE_PARSER`` is not ``1``.
* `RequestReader`, the pure-Python fallback (also ``next()``, one request at
  a time).  Multibulk requests are parsed by hiredis; a request whose first
  byte is not ``*`` is an inline command (``PING\\r\\n``) split with Redis's
  quoting rules (``sdssplitargs``).  Partial input is kept across reads inside
  hiredis (or our small inline buffer): no per-connection read buffer is
  reserved.

Both split inline lines with `split_inline`.  Where the two differ, the C
parser is the one that follows redis-server 7.0 (tests/test_reqparse.py lists
the cases: a header line ends at its ``\\r`` whatever byte follows, a NUL
before it means no line yet, ``*-5`` is ignored, an element's type is checked
once its header line is complete, a ``+`` element is an error).

Replies: command handlers return plain values; `encode(value, proto)` turns a
value into wire bytes for the connection's protocol version.  The value types:

=================  ===========================  ==========================
value              RESP2                        RESP3
=================  ===========================  ==========================
bytes              bulk string                  bulk string
int                integer                      integer
None               null bulk ``$-1``            null ``_``
Raw (bytes)        sent as is (pre-encoded)     sent as is
Status             ``+text``                    ``+text``
Err                ``-text``                    ``-text``
list / tuple       array                        array
NULL_ARRAY         ``*-1``                      null ``_``
float              bulk string (Redis format)   double ``,``
bool               integer 1/0                  boolean ``#t``/``#f``
dict               flat array k1 v1 k2 v2       map ``%``
RSet (list)        array                        set ``~``
Verbatim (bytes)   bulk string                  verbatim ``=txt:``
Push (list)        array                        push ``>``
=================  ===========================  ==========================
"""

from __future__ import annotations

import math
import os

import hiredis

__all__ = [
    "Raw", "Status", "Err", "RSet", "Verbatim", "Push", "Pairs", "NullArray", "NULL_ARRAY",
    "OK", "QUEUED", "PONG", "CommandError", "ProtocolError", "RequestReader",
    "new_request_reader",
    "encode", "format_double", "split_inline", "BigBulk", "BIG_BULK",
]

MAX_INLINE = 64 * 1024
BIG_BULK = 64 * 1024    # top-level bulk replies this large become BigBulk


class Raw(bytes):
    """Pre-encoded reply bytes, identical in RESP2 and RESP3."""
    __slots__ = ()


class Status(bytes):
    """A simple string reply (``+OK``)."""
    __slots__ = ()


class Err(bytes):
    """An error reply; the text starts with the error code (``ERR ...``)."""
    __slots__ = ()


class RSet(list):
    """A set reply: RESP3 ``~``, an array in RESP2."""
    __slots__ = ()


class Verbatim(bytes):
    """A verbatim text reply (INFO, CLIENT INFO): RESP3 ``=``, bulk in RESP2."""
    __slots__ = ()


class Pairs(list):
    """``[[member, score], ...]``: RESP3 nests each pair (Redis 7's
    WITHSCORES replies), RESP2 flattens them into one array."""
    __slots__ = ()


class Push(list):
    """An out-of-band push message: RESP3 ``>``, an array in RESP2."""
    __slots__ = ()


class BigBulk:
    """A large bulk-string reply not yet encoded: the connection writes its
    header and then the value itself, by reference (see Client.flush)."""

    __slots__ = ("value",)

    def __init__(self, value: bytes):
        self.value = value


class NullArray:
    """The null array (``*-1`` in RESP2, ``_`` in RESP3)."""
    __slots__ = ()


NULL_ARRAY = NullArray()
OK = Raw(b"+OK\r\n")
QUEUED = Raw(b"+QUEUED\r\n")
PONG = Raw(b"+PONG\r\n")


class CommandError(Exception):
    """Raised by a handler to reply with an error; ``str(e)`` is the message."""

    def __init__(self, msg: str | bytes):
        super().__init__(msg)
        self.reply = Err(msg.encode() if isinstance(msg, str) else msg)


class ProtocolError(Exception):
    """Malformed request: reply with this error, then close the connection."""


_D2_LIMIT = 4503599627370496.0   # 2**52


def format_double(f: float) -> bytes:
    """Format a double as Redis 7.0's d2string does (scores, RESP3 doubles):
    integers below 2**52 as integers, everything else with ``%.17g``."""
    if math.isinf(f):
        return b"inf" if f > 0 else b"-inf"
    if math.isnan(f):
        return b"nan"
    if f == 0:
        return b"-0" if math.copysign(1.0, f) < 0 else b"0"
    if -_D2_LIMIT < f < _D2_LIMIT and f == int(f):
        return b"%d" % int(f)
    return b"%.17g" % f


_NULL2 = b"$-1\r\n"
_NULL3 = b"_\r\n"


def encode(v, proto: int = 2) -> bytes:
    """Encode one reply value; see the module docstring for the mapping."""
    t = type(v)
    if t is bytes:
        return b"$%d\r\n%b\r\n" % (len(v), v)
    if t is Raw:
        return v
    if t is int:
        return b":%d\r\n" % v
    if v is None:
        return _NULL2 if proto == 2 else _NULL3
    if t is list or t is tuple:
        return b"*%d\r\n%b" % (len(v), b"".join([encode(x, proto) for x in v]))
    if t is Err:
        if b"\r" in v or b"\n" in v:   # Redis turns newlines in errors into spaces
            v = v.replace(b"\r", b" ").replace(b"\n", b" ")
        return b"-%b\r\n" % v
    if t is Status:
        return b"+%b\r\n" % v
    if t is float:
        s = format_double(v)
        if proto == 2:
            return b"$%d\r\n%b\r\n" % (len(s), s)
        return b",%b\r\n" % s
    if t is bool:
        if proto == 2:
            return b":1\r\n" if v else b":0\r\n"
        return b"#t\r\n" if v else b"#f\r\n"
    if t is dict:
        if proto == 2:
            parts = []
            for k, x in v.items():
                parts.append(encode(k, proto))
                parts.append(encode(x, proto))
            return b"*%d\r\n%b" % (2 * len(v), b"".join(parts))
        return b"%%%d\r\n%b" % (len(v), b"".join(
            [encode(k, proto) + encode(x, proto) for k, x in v.items()]))
    if t is RSet:
        return b"%b%d\r\n%b" % (b"*" if proto == 2 else b"~", len(v),
                                b"".join([encode(x, proto) for x in v]))
    if t is NullArray:
        return b"*-1\r\n" if proto == 2 else _NULL3
    if t is Verbatim:
        if proto == 2:
            return b"$%d\r\n%b\r\n" % (len(v), v)
        return b"=%d\r\ntxt:%b\r\n" % (len(v) + 4, v)
    if t is Pairs:
        if proto == 2:
            return b"*%d\r\n%b" % (2 * len(v), b"".join(
                [encode(x, proto) for pair in v for x in pair]))
        return b"*%d\r\n%b" % (len(v), b"".join(
            [b"*2\r\n" + encode(pair[0], proto) + encode(pair[1], proto) for pair in v]))
    if t is Push:
        return b"%b%d\r\n%b" % (b"*" if proto == 2 else b">", len(v),
                                b"".join([encode(x, proto) for x in v]))
    if isinstance(v, (bytes, bytearray, memoryview)):
        v = bytes(v)
        return b"$%d\r\n%b\r\n" % (len(v), v)
    if isinstance(v, str):
        v = v.encode()
        return b"$%d\r\n%b\r\n" % (len(v), v)
    if isinstance(v, (set, frozenset)):
        return encode(RSet(v), proto)
    raise TypeError(f"cannot encode reply of type {t.__name__}")


# --------------------------------------------------------------------------- requests

_ESCAPES = {ord("n"): b"\n", ord("r"): b"\r", ord("t"): b"\t",
            ord("b"): b"\b", ord("a"): b"\a"}
_HEX = b"0123456789abcdefABCDEF"


def split_inline(line: bytes) -> list[bytes]:
    """Split an inline request like Redis's ``sdssplitargs``.

    Raises ProtocolError("unbalanced quotes in request") like Redis does.
    """
    args: list[bytes] = []
    # sdssplitargs works on a C string: a NUL ends the request wherever it is
    # (an open quote then is unbalanced), so cut the line there
    nul = line.find(b"\0")
    if nul >= 0:
        line = line[:nul]
    i, n = 0, len(line)
    while True:
        while i < n and line[i] in b" \n\r\t\v\f":
            i += 1
        if i >= n:
            return args
        cur = bytearray()
        inq = insq = False
        while True:
            if inq:
                if i >= n:
                    raise ProtocolError("unbalanced quotes in request")
                c = line[i]
                if (c == 0x5C and i + 3 < n and line[i + 1] == ord("x")
                        and line[i + 2] in _HEX and line[i + 3] in _HEX):
                    cur.append(int(line[i + 2:i + 4], 16))
                    i += 3
                elif c == 0x5C and i + 1 < n:
                    i += 1
                    cur += _ESCAPES.get(line[i], bytes([line[i]]))
                elif c == 0x22:
                    # closing quote must be followed by a space or nothing
                    if i + 1 < n and line[i + 1] not in b" \n\r\t\v\f":
                        raise ProtocolError("unbalanced quotes in request")
                    i += 1
                    break
                else:
                    cur.append(c)
            elif insq:
                if i >= n:
                    raise ProtocolError("unbalanced quotes in request")
                c = line[i]
                if c == 0x5C and i + 1 < n and line[i + 1] == 0x27:
                    i += 1
                    cur.append(0x27)
                elif c == 0x27:
                    if i + 1 < n and line[i + 1] not in b" \n\r\t\v\f":
                        raise ProtocolError("unbalanced quotes in request")
                    i += 1
                    break
                else:
                    cur.append(c)
            else:
                if i >= n:
                    break
                c = line[i]
                if c in b" \n\r\t\v\f":
                    break
                if c == 0x22:
                    inq = True
                elif c == 0x27:
                    insq = True
                else:
                    cur.append(c)
            i += 1
        args.append(bytes(cur))


# elements per request: Redis allows INT_MAX, but hiredis preallocates the
# argument list from the header, so a bound keeps one header from costing GBs
# (8M elements = 64 MB of list, enough for a 4M-member ZADD or MSET)
MAX_MULTIBULK = 8 * 1024 * 1024
_BYTES = bytes


class _Frame:
    """Header-level view of the one request hiredis holds incomplete.

    hiredis buffers a partial request without limits and does not expose the
    headers it has consumed, so for the request in progress (and only it) we
    follow the headers ourselves: multibulk count, then per element the bulk
    header, whose payload is skipped arithmetically.  That lets us reject a
    bulk over ``proto-max-bulk-len`` as soon as its header arrives, before the
    payload is buffered, like Redis's processMultibulkBuffer.
    """

    __slots__ = ("need", "skip", "line", "max_bulk", "max_count")

    def __init__(self, max_bulk: int, max_count: int = MAX_MULTIBULK):
        self.need = -1        # elements still to come; -1: count not read yet
        self.skip = 0         # payload bytes (incl. CRLF) of the current bulk to skip
        self.line = b""       # a header line without its newline yet
        self.max_bulk = max_bulk
        self.max_count = max_count

    def advance(self, data: bytes, i: int = 0) -> int:
        """Consume ``data[i:]``; return the offset where the request ended, or -1.

        Raises ProtocolError with Redis's text for oversized headers and for
        element types other than bulk strings.
        """
        n = len(data)
        while i < n:
            if self.skip:
                take = min(self.skip, n - i)
                self.skip -= take
                i += take
                if self.skip == 0 and self.need == 0:
                    return i
                continue
            if self.need == 0:
                return i
            line = self.line
            if line:
                if line[-1:] == b"\r" and data[i:i + 1] == b"\n":
                    head = line[:-1]              # CRLF split between reads
                    i += 1
                else:
                    nl = data.find(b"\r\n", i)
                    if nl < 0:
                        self.line = line + data[i:]
                        self._check_line()
                        return -1
                    head = line + data[i:nl]
                    i = nl + 2
                self.line = b""
            else:
                nl = data.find(b"\r\n", i)
                if nl < 0:
                    self.line = data[i:]
                    self._check_line()
                    return -1
                head = data[i:nl]
                i = nl + 2
            self._header(head)
            if self.need == 0 and not self.skip:
                return i
        return -1

    def _check_line(self) -> None:
        # Redis: a header line over PROTO_INLINE_MAX_SIZE without its newline
        if len(self.line) > MAX_INLINE:
            self._type_check(self.line[:1])
            raise ProtocolError("too big mbulk count string" if self.need < 0
                                else "too big bulk count string")
        if self.need >= 0:
            self._type_check(self.line[:1])

    def _type_check(self, t: bytes) -> None:
        if self.need >= 0 and t != b"$":
            raise ProtocolError("expected '$', got '%s'" % t.decode("latin-1"))

    def _header(self, head: bytes) -> None:
        if self.need < 0:
            # the request's own "*<count>"; hiredis validates the syntax
            try:
                count = int(head[1:])
            except ValueError:
                raise ProtocolError("invalid multibulk length") from None
            if count > self.max_count:
                raise ProtocolError("invalid multibulk length")
            self.need = max(count, 0)
            return
        self._type_check(head[:1])
        try:
            size = int(head[1:])
        except ValueError:
            raise ProtocolError("invalid bulk length") from None
        if size < 0 or size > self.max_bulk:
            raise ProtocolError("invalid bulk length")
        self.need -= 1
        self.skip = size + 2


def _bad_element(req: list) -> ProtocolError:
    """The error Redis gives for a request element that is not a bulk string."""
    for a in req:
        t = type(a)
        if t is _BYTES:
            continue
        if a is None:
            return ProtocolError("invalid bulk length")      # $-1
        sym = {int: ":", list: "*", float: ",", bool: "#", dict: "%"}.get(t, "-")
        return ProtocolError("expected '$', got '%s'" % sym)
    return ProtocolError("invalid bulk length")


class RequestReader:
    """Incremental request parser for one connection.

    Invariant: while ``_in_resp`` is set, hiredis owns the stream (it holds a
    partial multibulk request, or unparsed bytes after a complete one).  Only
    at a request boundary (``_in_resp`` clear, hiredis empty) do we look at the
    first byte to choose between multibulk (``*``) and an inline line, which
    is collected in ``_inline`` until its newline arrives.

    Limits (Redis's processMultibulkBuffer / processInlineBuffer): a bulk over
    ``max_bulk`` or a count over MAX_MULTIBULK is rejected when its header
    arrives, an inline line over 64 KB without newline is rejected.  Complete
    requests parsed by hiredis in the same read cost nothing extra beyond a
    per-element type check; only the one request left incomplete at the end
    of a read is followed header by header (`_Frame`).  To find where that
    request starts, we look for the wire suffix of the last complete request
    in the read (its last element) and check that what follows parses as one
    incomplete request; if that cannot be established the limits are not
    enforced for that request (hiredis still parses it correctly).
    """

    __slots__ = ("_reader", "_pending", "_inline", "_in_resp", "max_bulk",
                 "_frame", "_done", "_last", "_prev", "_fed", "_fresh", "_error")

    def __init__(self, max_bulk: int = 512 * 1024 * 1024):
        self.max_bulk = max_bulk
        self._reader = hiredis.Reader()
        self._reader.setmaxbuf(0)
        self._pending: list[bytes] = []   # raw chunks not yet handed to a parser
        self._inline = b""
        self._in_resp = False
        self._frame: _Frame | None = None  # headers of the incomplete request
        self._done = 0          # requests completed since the last _check_partial
        self._last = None       # the last complete request returned
        self._prev = b""        # tail of the data fed before _fed (suffix search overlap)
        self._fed: list[bytes] = []   # chunks fed to hiredis since the last check
        self._fresh = False     # _fed[0] starts at a request boundary
        self._error: ProtocolError | None = None   # raised by every take() once set

    def feed(self, data: bytes) -> None:
        if self._in_resp:
            self._feed_resp(data, False)
        else:
            self._pending.append(data)

    def has_input(self) -> bool:
        """True if bytes are buffered that may hold further requests."""
        return bool(self._pending) or (self._in_resp and self._reader.has_data())

    def _feed_resp(self, data: bytes, fresh: bool) -> None:
        self._reader.feed(data)
        if fresh:
            self._fed = [data]
            self._fresh = True
            self._done = 0
        else:
            self._fed.append(data)

    def take(self, limit: int) -> list:
        """Up to ``limit`` complete requests (as many `next` calls).

        A protocol error met after k >= 1 requests is deferred: those k are
        returned and the next call raises it; once raised, every later call
        raises it again (the parser stays failed), like the C Parser.
        """
        if self._error is not None:
            raise self._error.with_traceback(None)
        out = []
        while len(out) < limit:
            try:
                req = self.next()
            except ProtocolError as e:
                self._error = e
                if out:
                    return out
                raise
            if req is None:
                break
            out.append(req)
        return out

    def next(self):
        """Return the next complete request (list of bytes) or None."""
        r = self._reader
        while True:
            if self._in_resp:
                try:
                    req = r.gets()
                except hiredis.ProtocolError as e:
                    rest = self._rest_after_last()
                    if rest is None or rest[:1] == b"*":
                        raise ProtocolError(_hiredis_message(str(e))) from None
                    # Not a multibulk after all: Redis decides per request, so
                    # an inline command may follow a multibulk one.
                    self._reset_resp()
                    self._pending.insert(0, rest)
                    continue
                if req is False:
                    if self._pending:
                        self._feed_resp(self._pending.pop(0), False)
                        continue
                    self._check_partial()
                    return None
                if type(req) is not list and req is not None:
                    # a top-level non-array: Redis reads it as an inline line
                    rest = self._rest_after_last()
                    if rest is None or rest[:1] == b"*":
                        raise ProtocolError("expected '*', got something else")
                    self._reset_resp()
                    self._pending.insert(0, rest)
                    continue
                self._done += 1
                self._last = req
                if not r.has_data():
                    # a clean request boundary: hiredis holds nothing
                    self._in_resp = False
                    self._frame = None
                    self._fed = []
                if req is None:           # "*-1": Redis ignores it
                    continue
                for a in req:
                    if type(a) is not _BYTES:
                        raise _bad_element(req)
                if req:
                    return req
                continue                  # "*0": ignored as well
            if not self._pending:
                return None
            data = self._pending.pop(0)
            if self._inline:
                data = self._inline + data
                self._inline = b""
            elif data[:1] == b"*":
                self._in_resp = True
                self._frame = None
                self._prev = b""
                self._feed_resp(data, True)
                continue
            if not data:
                continue
            nl = data.find(b"\n")
            # Redis finds the newline with strchr, which stops at a NUL: an
            # inline request with a NUL before its newline never completes
            # (no reply) until the buffer passes the inline limit.
            nul = data.find(b"\0", 0, nl if nl >= 0 else len(data))
            if nl < 0 or nul >= 0:
                if len(data) > MAX_INLINE:
                    raise ProtocolError("too big inline request")
                self._inline = data
                continue
            line, rest = data[:nl], data[nl + 1:]
            if rest:
                self._pending.insert(0, rest)
            if len(line) > MAX_INLINE:
                raise ProtocolError("too big inline request")
            args = split_inline(line)
            if args:
                return args
            # empty lines are ignored, like Redis

    def _reset_resp(self) -> None:
        self._reader = hiredis.Reader()
        self._reader.setmaxbuf(0)
        self._in_resp = False
        self._frame = None
        self._fed = []
        self._done = 0
        self._fresh = False

    def _rest_after_last(self) -> bytes | None:
        """After a hiredis error: the bytes following the last complete request
        of this read, if they can be found (else None)."""
        if not self._done or not self._fed:
            return None
        region = self._prev + b"".join(self._fed)
        start = self._end_of_last(region, len(region))
        return None if start < 0 else region[start:]

    def _end_of_last(self, region: bytes, end: int) -> int:
        """Offset just past the last occurrence (ending before ``end``) of the
        wire suffix of the last complete request, or -1."""
        last = self._last
        if last is None:
            sfx = b"*-1\r\n"
        elif type(last) is not list:
            return -1
        elif not last:
            sfx = b"*0\r\n"
        else:
            a = last[-1]
            if type(a) is not _BYTES:
                return -1
            if len(a) <= 256:
                sfx = b"$%d\r\n%b\r\n" % (len(a), a)
            else:
                sfx = a[-256:] + b"\r\n"
        pos = region.rfind(sfx, 0, end)
        return -1 if pos < 0 else pos + len(sfx)

    def _check_partial(self) -> None:
        """hiredis holds an incomplete request: follow its headers (see class doc)."""
        fed = self._fed
        if not self._in_resp or not fed:
            return
        data = fed[0] if len(fed) == 1 else b"".join(fed)
        done, fresh = self._done, self._fresh
        prev = self._prev
        self._fed = []
        self._done = 0
        self._fresh = False
        self._prev = data[-512:] if len(data) >= 512 else (prev + data)[-512:]
        frame = self._frame
        if done == 0:
            # still the request that was incomplete after the previous read,
            # or one that starts with this data (entered at a request boundary)
            if frame is None:
                if not fresh:
                    return
                frame = self._frame = _Frame(self.max_bulk)
            if frame.advance(data) >= 0:
                self._frame = None        # out of step with hiredis: stop following
            return
        self._frame = None
        region = data
        start = self._locate(region)
        if start < 0 and prev:
            # the last complete request may have ended right at the start of
            # this data, its suffix straddling the previous read (rare: copy)
            region = prev + data[:4096]
            start = self._locate(region)
            if start >= 0:
                region = prev + data
        if start < 0:
            return
        frame = _Frame(self.max_bulk)
        if frame.advance(region, start) < 0:
            self._frame = frame

    def _locate(self, region: bytes) -> int:
        """Offset in ``region`` where the incomplete request starts, or -1."""
        end = len(region)
        for _ in range(4):
            start = self._end_of_last(region, end)
            if start < 0:
                return -1
            if region[start:start + 1] == b"*" and _plausible(region, start):
                return start
            end = start - 1
        return -1


def _plausible(region: bytes, start: int) -> bool:
    """Can ``region[start:]`` be the start of one incomplete request?

    Rules out a suffix match inside some payload: every complete header line
    must hold an integer and the request must not complete.  Limits are not
    checked here (the caller's frame enforces them).
    """
    f = _Frame(1 << 62, 1 << 62)
    try:
        return f.advance(region, start) < 0
    except ProtocolError as e:
        return not str(e).startswith("invalid")


def _hiredis_message(msg: str) -> str:
    """Redis's text for a hiredis parse error (networking.c wording)."""
    low = msg.lower()
    if "multi-bulk" in low or "multibulk" in low:
        return "invalid multibulk length"
    if "bulk" in low:
        return "invalid bulk length"
    if "reply type byte" in low:
        # 'Protocol error, got "x" as reply type byte'
        q = msg.find('"')
        got = msg[q + 1:msg.find('"', q + 1)] if q >= 0 else "?"
        return "expected '$', got '%s'" % got
    return msg


try:
    from server._reqparse import Parser as _CParser
except ImportError:        # not built (no C compiler at install): pure Python
    _CParser = None


def new_request_reader(max_bulk: int = 512 * 1024 * 1024):
    """The request parser for one connection: the C ``Parser`` when it is
    built and ``SHARDIS_PURE_PARSER`` is not ``1``, else `RequestReader`."""
    if _CParser is not None and os.environ.get("SHARDIS_PURE_PARSER") != "1":
        return _CParser(max_bulk, split_inline, ProtocolError)
    return RequestReader(max_bulk)
