"""RESP2/RESP3 on the wire: request parsing (hiredis + inline) and reply encoding.

Requests: `RequestReader.feed(data)` then `RequestReader.next()` until it
returns None.  Multibulk requests are parsed by hiredis; a request whose first
byte is not ``*`` is an inline command (``PING\\r\\n``) split with Redis's
quoting rules (``sdssplitargs``).  Partial input is kept across reads inside
hiredis (or our small inline buffer): no per-connection read buffer is reserved.

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

import hiredis

__all__ = [
    "Raw", "Status", "Err", "RSet", "Verbatim", "Push", "NullArray", "NULL_ARRAY",
    "OK", "QUEUED", "PONG", "CommandError", "ProtocolError", "RequestReader",
    "encode", "format_double", "split_inline",
]

MAX_INLINE = 64 * 1024


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


class Push(list):
    """An out-of-band push message: RESP3 ``>``, an array in RESP2."""
    __slots__ = ()


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


def format_double(f: float) -> bytes:
    """Format a double the way Redis 7 prints scores and INCRBYFLOAT-free doubles."""
    if math.isinf(f):
        return b"inf" if f > 0 else b"-inf"
    if math.isnan(f):
        return b"nan"
    if f == int(f) and abs(f) < 1e17:
        return b"%d" % int(f)
    return repr(f).encode()


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
                if c in b" \n\r\t\v\f\0":
                    break
                if c == 0x22:
                    inq = True
                elif c == 0x27:
                    insq = True
                else:
                    cur.append(c)
            i += 1
        args.append(bytes(cur))


class RequestReader:
    """Incremental request parser for one connection.

    Invariant: while ``_in_resp`` is set, hiredis owns the stream (it holds a
    partial multibulk request, or unparsed bytes after a complete one).  Only
    at a request boundary (``_in_resp`` clear, hiredis empty) do we look at the
    first byte to choose between multibulk (``*``) and an inline line, which
    is collected in ``_inline`` until its newline arrives.
    """

    __slots__ = ("_reader", "_pending", "_inline", "_in_resp", "max_bulk")

    def __init__(self, max_bulk: int = 512 * 1024 * 1024):
        self.max_bulk = max_bulk
        self._reader = hiredis.Reader()
        self._reader.setmaxbuf(0)
        self._pending: list[bytes] = []   # raw chunks not yet handed to a parser
        self._inline = b""
        self._in_resp = False

    def feed(self, data: bytes) -> None:
        if self._in_resp:
            self._reader.feed(data)
        else:
            self._pending.append(data)

    def next(self):
        """Return the next complete request (list of bytes) or None."""
        r = self._reader
        while True:
            if self._in_resp:
                try:
                    req = r.gets()
                except hiredis.ProtocolError as e:
                    raise ProtocolError(_hiredis_message(str(e))) from None
                if req is False:
                    if self._pending:
                        r.feed(self._pending.pop(0))
                        continue
                    return None
                if not r.has_data():
                    self._in_resp = False
                if type(req) is not list:
                    raise ProtocolError("expected '*', got something else")
                return req
            if not self._pending:
                return None
            data = self._pending.pop(0)
            if self._inline:
                data = self._inline + data
                self._inline = b""
            elif data[:1] == b"*":
                self._in_resp = True
                r.feed(data)
                continue
            if not data:
                continue
            nl = data.find(b"\n")
            if nl < 0:
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


def _hiredis_message(msg: str) -> str:
    low = msg.lower()
    if "multibulk length" in low or "multi-bulk" in low:
        return "invalid multibulk length"
    if "bulk length" in low:
        return "invalid bulk length"
    return msg
