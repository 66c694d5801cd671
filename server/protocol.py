"""RESP2/RESP3 on the wire: request parsing (C parser, or its pure-Python port) and reply encoding.

Requests: `new_request_reader(max_bulk)` gives a connection its parser, which
has ``feed(data)``, ``take(limit)`` (up to ``limit`` complete requests, each a
non-empty list of bytes; a protocol error met after some requests is raised
by the next call, and every call after that), ``has_input()`` and
``buffer_size()``:

* ``server._reqparse.Parser``, a C extension (server/_reqparse.c) porting
  Redis's processMultibulkBuffer / processInlineBuffer onto its own buffer,
  freed whenever all of it is consumed.  Used when it is built and the
  environment variable ``SHARDIS_PURE_PARSER`` is not ``1``.
* `RequestReader`, the pure-Python fallback: a port of that C parser (same
  states, same checks in the same order, same error texts), slower.

Both follow redis-server 7.0 (tests/test_reqparse.py feeds them the same
byte streams and pins Redis's answers): a request whose first byte is not
``*`` is an inline command (``PING\\r\\n``) split with Redis's quoting rules
(`split_inline`, ``sdssplitargs``); a header line ends at its ``\\r`` whatever
byte follows; a NUL before it means no line yet; ``*0`` and ``*-5`` are
ignored; every element must be a bulk string (``+``, ``:``... are errors); a
bulk over ``max_bulk`` is rejected as soon as its header is complete.

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

try:
    # a list/tuple/RSet of bytes and None encoded in one C call; None for
    # anything else (server/_reqparse.c); not built: encode's Python only
    from server._reqparse import bulk_array as _bulk_array
except ImportError:
    _bulk_array = None


# ":<n>\r\n" for 0 <= n < NINT, shared (as Redis shares its integers): the
# replies of INCR, HSET, LPUSH, ZADD, DEL... without a format and an
# allocation each; about 450 KB once per process
NINT = 10000
INT_REPLY = [b":%d\r\n" % n for n in range(NINT)]


def encode(v, proto: int = 2) -> bytes:
    """Encode one reply value; see the module docstring for the mapping."""
    t = type(v)
    if t is bytes:
        return b"$%d\r\n%b\r\n" % (len(v), v)
    if t is Raw:
        return v
    if t is int:
        return INT_REPLY[v] if 0 <= v < NINT else b":%d\r\n" % v
    if v is None:
        return _NULL2 if proto == 2 else _NULL3
    if t is list or t is tuple:
        if _bulk_array is not None:     # all bytes/None: one C call (server/_reqparse.c)
            r = _bulk_array(v, b"*", _NULL2 if proto == 2 else _NULL3)
            if r is not None:
                return r
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
        head = b"*" if proto == 2 else b"~"
        if _bulk_array is not None:
            r = _bulk_array(v, head, _NULL2 if proto == 2 else _NULL3)
            if r is not None:
                return r
        return b"%b%d\r\n%b" % (head, len(v), b"".join([encode(x, proto) for x in v]))
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


# elements per request: Redis accepts up to INT_MAX; both parsers cap the count
# so that one header cannot make a request build GBs of argv (8M elements =
# 64 MB of list, enough for a 4M-member ZADD or MSET)
MAX_MULTIBULK = 8 * 1024 * 1024
_LLONG_MAX = (1 << 63) - 1
_SMALL_REST = 4096      # a partial request up to this size is re-joined as bytes


def _string2ll(s: bytes) -> int | None:
    """Redis's string2ll (util.c): an optional '-', no '+', no leading zeros
    or spaces, at most 20 characters, within a long long; else None."""
    n = len(s)
    if n == 0 or n > 20:
        return None
    if s.isdigit():                     # ASCII digits only (bytes.isdigit)
        if s[0] == 48 and n > 1:
            return None
        v = int(s)
        return v if v <= _LLONG_MAX else None
    if s[0] == 45 and n > 1:            # '-'
        d = s[1:]
        if d.isdigit() and d[0] != 48:
            v = int(d)
            if v <= _LLONG_MAX + 1:
                return -v
    return None


_COUNT_HDR = {b"*%d" % i: i for i in range(1, 1025)}
_BULK_HDR = {b"$%d" % i: i for i in range(1025)}
_bulk_hdr_of = b"$%d".__mod__
_FAST_WINDOW = 65536


def _take_canonical(buf: bytes, pos: int, n: int, limit: int, max_bulk: int,
                    out: list) -> int:
    """Fast path of `RequestReader.take`: append up to ``limit`` complete
    requests written the canonical way (``*<c>\\r\\n`` then, per element,
    ``$<len>\\r\\n<data>\\r\\n``, c <= 1024, no CRLF inside the data) found
    from ``pos``; return the offset after the last one.

    The window (at most 64 KB, about 256 bytes per request wanted) is split at
    CRLF: a request is taken only if every header is canonical and each data
    token has exactly the announced length, which holds exactly when the C
    parser would read the same bytes as those elements (its header line ends
    at the header's CR, which is followed by LF).  Anything else - a longer
    count, a CRLF in a value, a bulk over max_bulk, a partial or malformed
    request - stops the fast path there, and the exact parser goes on (and
    raises the error, if any, with the C parser's text and timing).

    Requests are checked one by one, or, for a run of up to 128 with the same
    count token (a pipeline of GETs), column by column: the run's header
    tokens against its data tokens' lengths, one slice comparison per
    element position.  After a try that finds no such run, the next 8 go one
    by one."""
    w = n - pos
    if w > limit << 8:
        w = limit << 8
    if w > _FAST_WINDOW:
        w = _FAST_WINDOW
    toks = (buf if pos == 0 and w == n else buf[pos:pos + w]).split(b"\r\n")
    last = len(toks) - 1        # toks[last] is not followed by CRLF in the window
    lens = list(map(len, toks))
    vals = list(map(_BULK_HDR.get, toks))   # a bulk header's length, else None
    count_hdr = _COUNT_HDR.get
    append = out.append
    check = max_bulk < w        # else no data token can be over max_bulk
    i = 0
    k = 0
    skip = 0                    # single requests to take before trying a run again
    while k < limit:
        c = count_hdr(toks[i])
        if c is None:
            break
        s = 1 + 2 * c
        if skip:
            skip -= 1
        else:
            # a run of requests with the same count (a pipeline of GETs): check
            # and cut it column by column
            r = min(limit - k, (last - i) // s, 128)
            if r >= 4:
                end = i + r * s
                t0 = toks[i]
                heads = toks[i:end:s]
                if heads.count(t0) != r:
                    r = 1
                    while heads[r] == t0:
                        r += 1
                    end = i + r * s
                if r >= 4:
                    for e in range(i + 1, i + s, 2):
                        if vals[e:end:s] != lens[e + 1:end:s] or \
                                (check and max(lens[e + 1:end:s]) > max_bulk):
                            break
                    else:
                        out.extend(map(list, zip(*[toks[e:end:s]
                                                   for e in range(i + 2, i + s, 2)])))
                        k += r
                        i = end
                        continue
            skip = 8
        j = i + s
        if j > last:
            break
        if vals[i + 1:j:2] != lens[i + 2:j:2] \
                and list(map(_bulk_hdr_of, lens[i + 2:j:2])) != toks[i + 1:j:2]:
            break
        if check and max(lens[i + 2:j:2]) > max_bulk:
            break
        append(toks[i + 2:j:2])
        k += 1
        i = j
    if i == 0:
        return pos
    return pos + sum(lens[:i]) + 2 * i


def _line_end(buf: bytes, c: bytes, start: int, nul: int, n: int) -> tuple[int, int]:
    """Redis's strchr(c) on its NUL-terminated query buffer, from ``start``
    (the C parser's find_line_end): the offset of ``c``, or -1 when a NUL or
    the end of the data comes first; and the offset of the first NUL at or
    after ``start`` (``n`` if none), which the caller keeps in ``nul`` so
    the data is searched for it once."""
    if nul < start:
        nul = buf.find(b"\0", start)
        if nul < 0:
            nul = n
    i = buf.find(c, start)
    return (-1 if i < 0 or nul < i else i), nul


class RequestReader:
    """Pure-Python request parser: the fallback for ``server._reqparse.Parser``
    (server/_reqparse.c), and a port of it: the same states, checks in the
    same order, the same error texts, the same interface.

    ``feed(data)`` appends bytes; ``take(limit)`` returns up to ``limit``
    complete requests, each a non-empty list of bytes (``*0``, ``*-N`` and
    empty inline lines give nothing).  A protocol error met after k >= 1
    requests of one take() is deferred: those k are returned and the next
    take() raises it; from then on every take() raises it again.

    State between calls is Redis's (client struct): the request type, the
    elements still expected, the length of the bulk being read (-1 while its
    header line is incomplete), the argv built so far, and how far the line
    in progress has been scanned for its end (``\\r`` for headers, ``\\n``
    for inline lines; a NUL before it means no line yet, like ``strchr`` on
    Redis's query buffer).

    The buffer is a ``bytes`` plus an offset while parsing.  A small partial
    request is joined with the next read into new ``bytes``; a larger one
    (a big bulk or a long line arriving in pieces) is collected in a
    ``bytearray`` (appends are amortized) that take() leaves alone while the
    bulk is still short of its length or no line end has come, so such a
    request is never rescanned or recopied per read.  Consumed bytes are
    dropped when take() waits for input; a fully consumed buffer is released.

    Speed: at the first request boundary of a take(), a run of canonically
    written requests is taken in bulk by `_take_canonical` (split at CRLF,
    lengths checked); the exact state machine goes on from where it stops.
    """

    __slots__ = ("max_bulk", "_buf", "_pos", "_scanned", "_reqtype",
                 "_multibulklen", "_bulklen", "_argv", "_failed")

    def __init__(self, max_bulk: int = 512 * 1024 * 1024):
        self.max_bulk = max_bulk
        self._buf: bytes | bytearray = b""
        self._pos = 0           # start of the unconsumed bytes (0 for a bytearray)
        self._scanned = 0       # bytes from _pos known to hold no line end
        self._reqtype = 0       # 0: none, 1: inline, 2: multibulk
        self._multibulklen = 0  # elements still to read
        self._bulklen = -1      # length of the bulk being read; -1: header not read
        self._argv: list | None = None
        self._failed: BaseException | None = None   # raised by every take() once set

    def feed(self, data) -> None:
        """Append bytes (any bytes-like object) to the buffer."""
        if not len(data):
            return
        buf = self._buf
        pos = self._pos
        if pos >= len(buf):
            self._buf = data if type(data) is bytes else bytes(data)
            self._pos = 0
        elif type(buf) is bytearray:
            buf += data
        elif len(buf) - pos <= _SMALL_REST:
            self._buf = (buf[pos:] if pos else buf) + data
            self._pos = 0
        else:
            nb = bytearray(memoryview(buf)[pos:])
            nb += data
            self._buf = nb
            self._pos = 0

    def has_input(self) -> bool:
        """True if bytes are buffered."""
        return self._pos < len(self._buf)

    def buffer_size(self) -> int:
        """Bytes held by the buffer (0 once all of it is consumed)."""
        return len(self._buf)

    def take_routed(self, limit: int, routes: dict, items: list) -> tuple:
        """The C parser's ``take_routed`` (server/_reqparse.c): hot requests
        (name in ``routes``: exact bytes -> (handler, arity, stats), arity
        fits) become ``items`` entries (handler, argv, None, 0) with
        stats[0] += 1; the first other request ends the call as ``rest``.
        Returns (n, rest).  An error after n >= 1 of them is raised by the
        next call (the parser stays failed), as take() does.

        A route (handler, arity, stats, flat_argc, RUN) collects requests of
        exactly flat_argc arguments into flat runs instead: consecutive ones
        of one handler and one name (the C parser compares the name object,
        which it reuses while the name's bytes repeat) share one item
        (handler, [name, args after the name...], RUN, flat_argc - 1)."""
        n = 0
        flat = None         # the run being extended, its handler
        flat_fn = None
        while n < limit:
            try:
                reqs = self.take(1)
            except ProtocolError:
                if n:
                    return n, None
                raise
            if not reqs:
                break
            argv = reqs[0]
            route = routes.get(argv[0])
            if route is not None:
                handler, arity, stats = route[:3]
                k = len(argv)
                if k == arity or (arity < 0 and k >= -arity):
                    if len(route) == 5 and k == route[3] and k >= 2:
                        if flat is None or flat_fn is not handler or flat[0] != argv[0]:
                            flat = [argv[0]]
                            flat_fn = handler
                            items.append((handler, flat, route[4], k - 1))
                        flat += argv[1:]
                    else:
                        flat = None
                        items.append((handler, argv, None, 0))
                    stats[0] += 1
                    n += 1
                    continue
            return n, argv
        return n, None

    def take(self, limit: int) -> list:
        """Up to ``limit`` complete requests (see the class docstring)."""
        if self._failed is not None:
            raise self._failed.with_traceback(None)
        buf = self._buf
        pos = self._pos
        n = len(buf)
        if pos >= n or limit <= 0:
            if pos >= n and n:
                self._buf = b""
                self._pos = 0
            return []
        if type(buf) is bytearray:
            # a request larger than _SMALL_REST in progress (pos is 0): look
            # at it without copying until it can make progress
            if self._bulklen >= 0:
                if n < self._bulklen + 2:
                    return []
            else:
                rt = self._reqtype
                if rt == 1 or (rt == 0 and buf[0] != 42):
                    end = buf.find(b"\n", self._scanned)
                else:
                    end = buf.find(b"\r", self._scanned)
                nul = buf.find(b"\0", self._scanned, n if end < 0 else end)
                if (end < 0 or nul >= 0) and n <= MAX_INLINE:
                    self._scanned = (n if nul < 0 else nul)
                    return []
            buf = self._buf = bytes(buf)

        out: list = []
        reqtype = self._reqtype
        mbl = self._multibulklen
        bulklen = self._bulklen
        argv = self._argv
        scanned = self._scanned
        max_bulk = self.max_bulk
        more = False            # stopped waiting for input (R_MORE)
        fast = True             # _take_canonical not tried yet
        nul = -1                # first NUL at or after the last line start searched
        k = 0
        try:
            while k < limit and pos < n:
                if reqtype == 0:
                    if buf[pos] == 42:                          # '*'
                        if fast:
                            # once per take: canonical requests in bulk
                            fast = False
                            before = len(out)
                            pos = _take_canonical(buf, pos, n, limit - k,
                                                  max_bulk, out)
                            if len(out) != before:
                                k = len(out)
                                scanned = 0
                                continue
                        reqtype = 2
                    else:
                        reqtype = 1
                if reqtype == 1:
                    # processInlineBuffer
                    nl, nul = _line_end(buf, b"\n", pos + scanned, nul, n)
                    if nl < 0:
                        if n - pos > MAX_INLINE:
                            raise ProtocolError("too big inline request")
                        scanned = nul - pos
                        more = True
                        break
                    # not in Redis (whose limit applies to the buffer after
                    # each 16 KB read): the C parser's rule, kept
                    if nl - pos > MAX_INLINE:
                        raise ProtocolError("too big inline request")
                    end = nl
                    if end != pos and buf[end - 1] == 13:      # '\r'
                        end -= 1
                    line = buf[pos:end]
                    pos = nl + 1
                    scanned = 0
                    args = split_inline(line)
                    reqtype = 0
                    if len(args):
                        out.append(args)
                        k += 1
                    continue
                # processMultibulkBuffer
                if mbl == 0:
                    cr, nul = _line_end(buf, b"\r", pos + scanned, nul, n)
                    if cr < 0:
                        if n - pos > MAX_INLINE:
                            raise ProtocolError("too big mbulk count string")
                        scanned = nul - pos
                        more = True
                        break
                    # the buffer must also hold the byte after '\r' (unchecked)
                    if cr + 1 >= n:
                        more = True
                        break
                    s = buf[pos + 1:cr]
                    if s.isdigit() and (s[0] != 48 or len(s) == 1) and len(s) <= 20:
                        ll = int(s)
                    else:
                        ll = _string2ll(s)
                        if ll is None:
                            raise ProtocolError("invalid multibulk length")
                    if ll > MAX_MULTIBULK:
                        raise ProtocolError("invalid multibulk length")
                    pos = cr + 2
                    scanned = 0
                    if ll <= 0:
                        reqtype = 0
                        continue
                    mbl = ll
                    argv = []
                while mbl:
                    if bulklen == -1:
                        cr, nul = _line_end(buf, b"\r", pos + scanned, nul, n)
                        if cr < 0:
                            if n - pos > MAX_INLINE:
                                raise ProtocolError("too big bulk count string")
                            scanned = nul - pos
                            break
                        if cr + 1 >= n:
                            break
                        if buf[pos] != 36:                     # '$'
                            raise ProtocolError("expected '$', got '%c'" % buf[pos])
                        s = buf[pos + 1:cr]
                        if not (s.isdigit() and (s[0] != 48 or len(s) == 1)
                                and len(s) <= 20):
                            raise ProtocolError("invalid bulk length")
                        bulklen = int(s)
                        if bulklen > max_bulk or bulklen > _LLONG_MAX:
                            raise ProtocolError("invalid bulk length")
                        pos = cr + 2
                        scanned = 0
                    if n - pos < bulklen + 2:
                        break
                    argv.append(buf[pos:pos + bulklen])
                    pos += bulklen + 2
                    bulklen = -1
                    mbl -= 1
                else:
                    out.append(argv)
                    k += 1
                    argv = None
                    reqtype = 0
                    continue
                more = True
                break
        except Exception as e:
            # sticky: this and every later take() raise it (after the requests
            # already parsed by this call, which are returned first)
            self._failed = e
            self._pos = pos
            self._reqtype = 0
            self._multibulklen = 0
            self._bulklen = -1
            self._argv = None
            self._scanned = 0
            if out:
                return out
            raise e.with_traceback(None) from None
        self._reqtype = reqtype
        self._multibulklen = mbl
        self._bulklen = bulklen
        self._argv = argv
        self._scanned = scanned
        if pos >= n:
            self._buf = b""     # all consumed: no buffer while idle
            self._pos = 0
        elif more and pos:
            self._buf = buf[pos:]   # waiting for input: keep the partial request
            self._pos = 0
        else:
            self._pos = pos
        return out


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
