"""List commands (Redis's t_list.c).  Values are `RedisList`, a ``deque`` of bytes.

Single-shard forms run on the key's shard as one batch item.  LMOVE and
RPOPLPUSH whose keys live on two shards use a ``cross=`` coroutine (run by
the connection inside a transaction holding both shards): a type check on
the destination's shard, the pop on the source's shard, the push on the
destination's shard, each a hop that does its part on the shard owning it.

Blocked clients (BLPOP & co, see `server.commands.blocking`) wait in
``shard.waiters[(db_index, key)]``, a FIFO of waiter objects per key, owned
by the shard thread.  A push to a key with waiters queues it in
``shard.ready`` (`signal_key` here, `Keyspace.set` for a new key made by any
command); the shard then serves its waiters, oldest first, while the key
has elements: each waiter is claimed (a one-shot token shared with the other
shards it waits on and with the loop's timeout/unblock/disconnect paths), its
element(s) popped here, and the result handed to the event loop through the
shard's bridge.  Waiters are served after the whole pushing command (or
transaction), as Redis's handleClientsBlockedOnKeys does: a variadic LPUSH
serves its last element, a MULTI pushing three elements serves the head left
at EXEC's end.
"""

from __future__ import annotations

from collections import deque
from itertools import islice

from actors.keyspace import WRONGTYPE, register_type
from server.protocol import NULL_ARRAY, OK, CommandError, Err
from server.table import command

from .util import INT64_MIN, SYNTAX, parse_int

_LIST_EVENTS = 1 << 4      # server/notify.py LIST (l)

# Redis 7.0's list-max-listpack-size default (-2: 8 KB per quicklist node).
# Redis 7.0 (unlike 7.2) always stores a list as a quicklist of listpack
# nodes, so OBJECT ENCODING answers "quicklist" whatever the size; the node
# size only shapes memory, which a deque does not model.
LIST_MAX_LISTPACK_SIZE = -2

OUT_OF_RANGE_POSITIVE = "ERR value is out of range, must be positive"
LEFT, RIGHT = 0, 1


class RedisList(deque):
    """A Redis list.  Invariant: never stored empty (the key is deleted)."""

    __slots__ = ()

    def redis_encoding(self) -> bytes:
        return b"quicklist"

    def copy(self) -> "RedisList":
        return RedisList(self)


register_type(RedisList, b"list")


# --------------------------------------------------------------- helpers
def _for_write(db, key: bytes):
    """lookupKeyWrite + checkType: the list or None (no hit/miss stats)."""
    v = db.lookup(key)
    if v is None or type(v) is RedisList:
        return v
    raise CommandError(WRONGTYPE)


def _for_read(db, key: bytes):
    """lookupKeyRead + checkType (counts keyspace hits/misses)."""
    return db.get_typed(key, RedisList)


def parse_where(b: bytes) -> int:
    """getListPositionFromObjectOrReply: LEFT or RIGHT, else a syntax error."""
    u = b.upper()
    if u == b"LEFT":
        return LEFT
    if u == b"RIGHT":
        return RIGHT
    raise CommandError(SYNTAX)


def positive_count(b: bytes, err: str = OUT_OF_RANGE_POSITIVE) -> int:
    """getPositiveLongFromObjectOrReply: a non-negative int64; a non-integer
    gets the same message as a negative value when a message is given."""
    try:
        v = parse_int(b)
    except CommandError:
        raise CommandError(err) from None
    if v < 0:
        raise CommandError(err)
    return v


def pop_n(lst: RedisList, where: int, n: int) -> list[bytes]:
    """Pop up to n elements from one end, in pop order."""
    n = min(n, len(lst))
    pop = lst.popleft if where == LEFT else lst.pop
    return [pop() for _ in range(n)]


def after_pop(db, key: bytes, lst: RedisList) -> None:
    """Keep the never-empty invariant after removing elements."""
    if lst:
        db.put(key, lst)
    else:
        db.delete(key)


def push_values(db, key: bytes, lst, values, where: int) -> int:
    """Push ``values`` one by one at ``where`` onto ``lst`` (created if None),
    store it and wake blocked clients.  Returns the length after the push,
    measured before blocked clients are served (LPUSH's reply in Redis)."""
    if lst is None:
        lst = RedisList()
        created = True
    else:
        created = False
    if where == LEFT:
        lst.extendleft(values)
    else:
        lst.extend(values)
    if created:
        db.set(key, lst)
    else:
        db.put(key, lst)
    n = len(lst)
    signal_key(db, key)
    return n


def normalize_range(start: int, end: int, llen: int):
    """LRANGE/LTRIM index arithmetic: (start, end) inclusive, or None if empty."""
    if start < 0:
        start += llen
    if end < 0:
        end += llen
    if start < 0:
        start = 0
    if start > end or start >= llen:
        return None
    if end >= llen:
        end = llen - 1
    return start, end


def _slice(lst: RedisList, start: int, end: int) -> list[bytes]:
    """Elements start..end inclusive, walking from the nearer end."""
    n = len(lst)
    if start <= n - 1 - end:
        return list(islice(lst, start, end + 1))
    out = list(islice(reversed(lst), n - 1 - end, n - start))
    out.reverse()
    return out


# --------------------------------------------------------------- blocked clients
def signal_key(db, key: bytes) -> None:
    """signalKeyAsReady after a push to an existing ``key`` (shard thread).

    Only queues the key in ``shard.ready``; a new key is queued by
    `Keyspace.set` itself (dbAdd's signal), whatever command created it.
    The shard serves the queue after the command that queued it returns
    (actors/shard.py), never inside it, so a pushing command computes its
    reply before any element leaves (LPUSH answers the length after the
    push) and a transaction serves only once it has finished: a single-shard
    EXEC is one command, a cross-shard transaction holds the shard and the
    queue is served at its release.  This is Redis's handleClientsBlockedOnKeys
    running after call(), with no need to know *where* we are."""
    shard = db.shard
    if shard.waiters and (db.index, key) in shard.waiters:
        shard.ready.append((db.index, key))


def signal_dbs(shard, dbis) -> None:
    """SWAPDB (scanDatabaseForReadyKeys, Redis 7.0): blocked clients wait on
    a database *number*; after a swap every key they wait on in ``dbis``
    that now holds a value is queued (the serve checks its type)."""
    for k in list(shard.waiters):
        if k[0] in dbis and shard.dbs[k[0]].lookup(k[1]) is not None:
            shard.ready.append(k)


def serve_blocked(shard, in_command: bool) -> None:
    """Entry point of actors/shard.py when ``shard.ready`` is non-empty and the
    shard is not held by a transaction: after a batch item (``in_command``:
    AOF records of the pops follow that command's own record), or after a
    Call / at a transaction's release (through `_deferred_serve`, which the
    AOF wraps to flush its records at once)."""
    if shard.serving:
        return
    if in_command:
        serve_ready(shard)
    else:
        _deferred_serve(shard)


def _deferred_serve(shard) -> None:
    serve_ready(shard)


def serve_ready(shard) -> None:
    """Serve waiters of the keys in ``shard.ready``, each key's oldest first.

    A waiter waits for one value type (``w.vtype``: a list for BLPOP & co,
    a sorted set for BZPOPMIN & co).  Waiters of another type than the key
    now holds are skipped and keep their place (Redis skips them too); a
    waiter whose claim fails was already served by another key or shard, or
    cancelled by the loop (timeout, CLIENT UNBLOCK, disconnect): it is
    dropped.  Serving a BLMOVE pushes onto its destination, which may queue
    that key in turn; the loop here (not recursion) handles it."""
    ready = shard.ready
    waiters = shard.waiters
    shard.serving = True
    try:
        while ready:
            dbi, key = ready.popleft()
            q = waiters.get((dbi, key))
            if q is None:
                continue
            db = shard.dbs[dbi]
            skipped = None
            while q:
                v = db.lookup(key)
                if v is None:
                    break
                w = q.popleft()
                if type(v) is not w.vtype:
                    if not w.claimed():
                        if skipped is None:
                            skipped = []
                        skipped.append(w)
                    continue
                if not w.claim():
                    continue
                try:
                    result = w.take(db, key, v)
                except CommandError as e:
                    result = e.reply
                if shard.notify_flags:      # the pop's keyspace events (server/notify.py)
                    from server.notify import served
                    served(db, key, w, result)
                aof = shard.aof
                if aof is not None and aof.always:
                    # appendfsync always: the served client's reply waits for
                    # the fsync covering the pop's record, like any write's
                    from server.persistence.aof import post_after_fsync
                    post_after_fsync(aof, Delivery(w, result))
                else:
                    shard.bridge.post(Delivery(w, result))
            if skipped:
                q.extendleft(reversed(skipped))
            if not q:
                waiters.pop((dbi, key), None)
    finally:
        shard.serving = False


class Delivery:
    """A served waiter's result, carried to the loop by the shard's bridge."""

    __slots__ = ("waiter", "result")

    def __init__(self, waiter, result):
        self.waiter = waiter
        self.result = result

    def complete(self):
        self.waiter.deliver(self.result)
        return None


# --------------------------------------------------------------- push
def push_generic(db, argv, where: int, xx: bool):
    key = argv[1]
    lst = _for_write(db, key)
    if lst is None and xx:
        return 0
    return push_values(db, key, lst, argv[2:], where)


@command("lpush", -3, flags=("write", "denyoom", "fast"), keys=(1, 1, 1), group="list",
         summary="Prepends one or more elements to a list. Creates the key if it doesn't exist.",
         syntax="key element [element ...]",
         complexity="O(1) for each element added, so O(N) to add N elements when the command is called with multiple arguments.")
def cmd_lpush(db, argv):
    return push_generic(db, argv, LEFT, False)


@command("rpush", -3, flags=("write", "denyoom", "fast"), keys=(1, 1, 1), group="list",
         summary="Appends one or more elements to a list. Creates the key if it doesn't exist.",
         syntax="key element [element ...]",
         complexity="O(1) for each element added, so O(N) to add N elements when the command is called with multiple arguments.")
def cmd_rpush(db, argv):
    return push_generic(db, argv, RIGHT, False)


@command("lpushx", -3, flags=("write", "denyoom", "fast"), keys=(1, 1, 1), group="list",
         since="2.2.0", summary="Prepends one or more elements to a list only when the list exists.",
         syntax="key element [element ...]",
         complexity="O(1) for each element added, so O(N) to add N elements when the command is called with multiple arguments.")
def cmd_lpushx(db, argv):
    return push_generic(db, argv, LEFT, True)


@command("rpushx", -3, flags=("write", "denyoom", "fast"), keys=(1, 1, 1), group="list",
         since="2.2.0", summary="Appends an element to a list only when the list exists.",
         syntax="key element [element ...]",
         complexity="O(1) for each element added, so O(N) to add N elements when the command is called with multiple arguments.")
def cmd_rpushx(db, argv):
    return push_generic(db, argv, RIGHT, True)


# --------------------------------------------------------------- pop
def pop_generic(db, argv, where: int):
    if len(argv) > 3:
        raise CommandError("ERR wrong number of arguments for '%s' command"
                           % ("lpop" if where == LEFT else "rpop"))
    hascount = len(argv) == 3
    count = positive_count(argv[2]) if hascount else 0
    lst = _for_write(db, argv[1])
    if lst is None:
        return NULL_ARRAY if hascount else None
    if hascount and count == 0:
        return []      # Redis 7.0: an empty array for an existing list
    key = argv[1]
    if not hascount:
        v = lst.popleft() if where == LEFT else lst.pop()
        after_pop(db, key, lst)
        return v
    out = pop_n(lst, where, count)
    after_pop(db, key, lst)
    return out


@command("lpop", -2, flags=("write", "fast"), keys=(1, 1, 1), group="list",
         summary="Returns the first elements in a list after removing it. Deletes the list if the last element was popped.",
         syntax="key [count]", complexity="O(N) where N is the number of elements returned")
def cmd_lpop(db, argv):
    return pop_generic(db, argv, LEFT)


@command("rpop", -2, flags=("write", "fast"), keys=(1, 1, 1), group="list",
         summary="Returns and removes the last elements of a list. Deletes the list if the last element was popped.",
         syntax="key [count]", complexity="O(N) where N is the number of elements returned")
def cmd_rpop(db, argv):
    return pop_generic(db, argv, RIGHT)


# --------------------------------------------------------------- LMPOP
def parse_mpop(argv, first: int):
    """``numkeys key [key ...] LEFT|RIGHT [COUNT count]`` from argv[first]:
    (keys, where, count, hascount) with lmpopGenericCommand's errors."""
    try:
        numkeys = parse_int(argv[first])
    except CommandError:
        raise CommandError("ERR numkeys should be greater than 0") from None
    if numkeys <= 0:
        raise CommandError("ERR numkeys should be greater than 0")
    where_idx = first + 1 + numkeys
    if numkeys > len(argv) - first - 2:
        raise CommandError(SYNTAX)
    where = parse_where(argv[where_idx])
    count = 1
    hascount = False
    i = where_idx + 1
    while i < len(argv):
        if argv[i].upper() == b"COUNT" and i + 1 < len(argv) and not hascount:
            try:
                count = parse_int(argv[i + 1])
            except CommandError:
                raise CommandError("ERR count should be greater than 0") from None
            if count <= 0:
                raise CommandError("ERR count should be greater than 0")
            hascount = True
            i += 2
        else:
            raise CommandError(SYNTAX)
    return argv[first + 1:where_idx], where, count, hascount


def mpop_keys(first: int):
    """key_fn for LMPOP/BLMPOP: the numkeys keys (none if numkeys is bad,
    the handler then reports the error)."""
    def keys(argv):
        try:
            n = int(argv[first])
        except (ValueError, IndexError):
            return []
        if n <= 0 or n > len(argv) - first - 2:
            return []
        return argv[first + 1:first + 1 + n]
    return keys


def mpop_on_shard(db, keys, where: int, count: int):
    """The first non-empty list among ``keys`` (in order): [key, elements]
    popped, None if all are empty, WRONGTYPE for the first non-list met."""
    for key in keys:
        lst = _for_write(db, key)
        if lst:
            out = pop_n(lst, where, count)
            after_pop(db, key, lst)
            return [key, out]
    return None


@command("lmpop", -4, flags=("write", "movablekeys"), keys=(0, 0, 0), key_fn=mpop_keys(1),
         group="list", since="7.0.0",
         summary="Returns multiple elements from a list after removing them. Deletes the list if the last element was popped.",
         syntax="numkeys key [key ...] LEFT | RIGHT [COUNT count]",
         complexity="O(N+M) where N is the number of provided keys and M is the number of elements returned.")
def cmd_lmpop(db, argv):
    keys, where, count, _ = parse_mpop(argv, 1)
    r = mpop_on_shard(db, keys, where, count)
    return NULL_ARRAY if r is None else r


def _mpop_part(db, argv):
    """Hop body for a cross-shard LMPOP (and a blocking pop's first try):
    argv = [_, where, count, key...].  Emits the pop's keyspace event itself
    (the command's rule applies only to its own handler)."""
    r = mpop_on_shard(db, argv[3:], argv[1], argv[2])
    if type(r) is list:
        db.notify(_LIST_EVENTS, b"lpop" if argv[1] == LEFT else b"rpop", r[0])
    return r


async def cross_lmpop(conn, argv):
    """Keys on several shards: try them in argument order, one hop per run of
    consecutive keys on the same shard (inside the transaction holding all
    of them, so the result is what one atomic pass would give)."""
    keys, where, count, _ = parse_mpop(argv, 1)
    r = await mpop_across(conn, keys, where, count)
    return NULL_ARRAY if r is None else r


async def mpop_across(conn, keys, where: int, count: int):
    for s, run in shard_runs(conn, keys):
        r = await conn.hop(s, _mpop_part, [b"", where, count, *run])
        if type(r) is Err:
            raise CommandError(bytes(r))
        if r is not None:
            return r
    return None


def shard_runs(conn, keys):
    """Consecutive keys grouped by shard, in order: [(shard, [keys])]."""
    runs: list = []
    for k in keys:
        s = conn.shard_of(k)
        if runs and runs[-1][0] == s:
            runs[-1][1].append(k)
        else:
            runs.append((s, [k]))
    return runs


cmd_lmpop.spec.cross = cross_lmpop


# --------------------------------------------------------------- read
@command("llen", 2, flags=("readonly", "fast"), keys=(1, 1, 1), group="list",
         summary="Returns the length of a list.", syntax="key")
def cmd_llen(db, argv):
    lst = _for_read(db, argv[1])
    return 0 if lst is None else len(lst)


@command("lrange", 4, flags=("readonly",), keys=(1, 1, 1), group="list",
         summary="Returns a range of elements from a list.", syntax="key start stop",
         complexity="O(S+N) where S is the distance of start offset from HEAD for small lists, from nearest end (HEAD or TAIL) for large lists; and N is the number of elements in the specified range.")
def cmd_lrange(db, argv):
    start = parse_int(argv[2])
    end = parse_int(argv[3])
    lst = _for_read(db, argv[1])
    if lst is None:
        return []
    r = normalize_range(start, end, len(lst))
    return [] if r is None else _slice(lst, *r)


@command("lindex", 3, flags=("readonly",), keys=(1, 1, 1), group="list",
         summary="Returns an element from a list by its index.", syntax="key index",
         complexity="O(N) where N is the number of elements to traverse to get to the element at index. This makes asking for the first or the last element of the list O(1).")
def cmd_lindex(db, argv):
    lst = _for_read(db, argv[1])
    if lst is None:
        return None
    i = parse_int(argv[2])
    n = len(lst)
    if i < 0:
        i += n
    if i < 0 or i >= n:
        return None
    return lst[i]


@command("lpos", -3, flags=("readonly",), keys=(1, 1, 1), group="list", since="6.0.6",
         summary="Returns the index of matching elements in a list.",
         syntax="key element [RANK rank] [COUNT num-matches] [MAXLEN len]",
         complexity="O(N) where N is the number of elements in the list, for the average case. When searching for elements near the head or the tail of the list, or when the MAXLEN option is provided, the command may run in constant time.")
def cmd_lpos(db, argv):
    rank, count, maxlen = 1, -1, 0
    i, n = 3, len(argv)
    while i < n:
        opt = argv[i].upper()
        more = i + 1 < n
        if opt == b"RANK" and more:
            rank = parse_int(argv[i + 1])
            if rank == 0:
                raise CommandError(
                    "ERR RANK can't be zero: use 1 to start from the first match, "
                    "2 from the second ... or use negative to start from the end of the list")
        elif opt == b"COUNT" and more:
            count = positive_count(argv[i + 1], "ERR COUNT can't be negative")
        elif opt == b"MAXLEN" and more:
            maxlen = positive_count(argv[i + 1], "ERR MAXLEN can't be negative")
        else:
            raise CommandError(SYNTAX)
        i += 2
    lst = _for_read(db, argv[1])
    if lst is None:
        return [] if count != -1 else None
    elem = argv[2]
    llen = len(lst)
    if rank > 0:
        it, index, step = iter(lst), 0, 1
        skip = rank - 1
    else:
        it, index, step = reversed(lst), llen - 1, -1
        # Redis negates rank in a C long: LLONG_MIN stays negative, which
        # makes every match qualify, i.e. it acts as rank -1
        skip = 0 if rank == INT64_MIN else -rank - 1
    want = count if count > 0 else (llen if count == 0 else 1)
    found: list[int] = []
    seen = 0
    for v in it:
        if maxlen and seen >= maxlen:
            break
        seen += 1
        if v == elem:
            if skip:
                skip -= 1
            else:
                found.append(index)
                if len(found) >= want:
                    break
        index += step
    if count != -1:
        return found
    return found[0] if found else None


# --------------------------------------------------------------- modify
@command("lset", 4, flags=("write", "denyoom"), keys=(1, 1, 1), group="list",
         summary="Sets the value of an element in a list by its index.",
         syntax="key index element",
         complexity="O(N) where N is the length of the list. Setting either the first or the last element of the list is O(1).")
def cmd_lset(db, argv):
    lst = _for_write(db, argv[1])
    if lst is None:
        raise CommandError("ERR no such key")
    i = parse_int(argv[2])
    n = len(lst)
    if i < 0:
        i += n
    if i < 0 or i >= n:
        raise CommandError("ERR index out of range")
    lst[i] = argv[3]
    db.put(argv[1], lst)
    return OK


@command("linsert", 5, flags=("write", "denyoom"), keys=(1, 1, 1), group="list",
         since="2.2.0", summary="Inserts an element before or after another element in a list.",
         syntax="key BEFORE | AFTER pivot element",
         complexity="O(N) where N is the number of elements to traverse before seeing the value pivot. This means that inserting somewhere on the left end on the list (head) can be considered O(1) and inserting somewhere on the right end (tail) is O(N).")
def cmd_linsert(db, argv):
    w = argv[2].upper()
    if w == b"BEFORE":
        after = False
    elif w == b"AFTER":
        after = True
    else:
        raise CommandError(SYNTAX)
    key = argv[1]
    lst = _for_write(db, key)
    if lst is None:
        return 0
    try:
        i = lst.index(argv[3])
    except ValueError:
        return -1
    lst.insert(i + 1 if after else i, argv[4])
    db.put(key, lst)
    return len(lst)


@command("lrem", 4, flags=("write",), keys=(1, 1, 1), group="list",
         summary="Removes elements from a list. Deletes the list if the last element was removed.",
         syntax="key count element",
         complexity="O(N+M) where N is the length of the list and M is the number of elements removed.")
def cmd_lrem(db, argv):
    count = parse_int(argv[2])
    key = argv[1]
    lst = _for_write(db, key)
    if lst is None:
        return 0
    elem = argv[3]
    if count == 0:
        kept = [v for v in lst if v != elem]
        removed = len(lst) - len(kept)
        if removed:
            lst.clear()
            lst.extend(kept)
    else:
        # remove |count| matches walking from the head (count > 0) or tail
        items = list(lst) if count > 0 else list(reversed(lst))
        limit = abs(count)
        removed = 0
        kept = []
        for v in items:
            if removed < limit and v == elem:
                removed += 1
            else:
                kept.append(v)
        if removed:
            if count < 0:
                kept.reverse()
            lst.clear()
            lst.extend(kept)
    if removed:
        after_pop(db, key, lst)
    return removed


@command("ltrim", 4, flags=("write",), keys=(1, 1, 1), group="list",
         summary="Removes elements from both ends a list. Deletes the list if all elements were trimmed.",
         syntax="key start stop", complexity="O(N) where N is the number of elements to be removed by the operation.")
def cmd_ltrim(db, argv):
    start = parse_int(argv[2])
    end = parse_int(argv[3])
    key = argv[1]
    lst = _for_write(db, key)
    if lst is None:
        return OK
    llen = len(lst)
    r = normalize_range(start, end, llen)
    if r is None:
        ltrim, rtrim = llen, 0
    else:
        ltrim, rtrim = r[0], llen - r[1] - 1
    for _ in range(ltrim):
        lst.popleft()
    for _ in range(rtrim):
        lst.pop()
    after_pop(db, key, lst)
    return OK


# --------------------------------------------------------------- LMOVE
def lmove_local(db, src_key: bytes, dst_key: bytes, wherefrom: int, whereto: int):
    """lmoveGenericCommand with both keys on this shard: the element, or None
    when the source is missing (the destination's type is then not checked)."""
    src = _for_write(db, src_key)
    if src is None:
        return None
    dst = _for_write(db, dst_key)
    v = src.popleft() if wherefrom == LEFT else src.pop()
    if src is dst:
        # rotation: the list cannot become empty
        push_values(db, dst_key, dst, (v,), whereto)
        return v
    after_pop(db, src_key, src)
    push_values(db, dst_key, dst, (v,), whereto)
    return v


@command("lmove", 5, flags=("write", "denyoom"), keys=(1, 2, 1), group="list", since="6.2.0",
         summary="Returns an element after popping it from one list and pushing it to another. Deletes the list if the last element was moved.",
         syntax="source destination LEFT | RIGHT LEFT | RIGHT", complexity="O(1)")
def cmd_lmove(db, argv):
    wherefrom = parse_where(argv[3])
    whereto = parse_where(argv[4])
    return lmove_local(db, argv[1], argv[2], wherefrom, whereto)


@command("rpoplpush", 3, flags=("write", "denyoom"), keys=(1, 2, 1), group="list",
         since="1.2.0",
         summary="Returns the last element of a list after removing and pushing it to another list. Deletes the list if the last element was popped.",
         syntax="source destination", complexity="O(1)")
def cmd_rpoplpush(db, argv):
    return lmove_local(db, argv[1], argv[2], RIGHT, LEFT)


def peek_for_move(db, argv):
    """Hop on the source's shard: argv = [_, key, wherefrom].  The element
    LMOVE would move (the source stays as it is), None if the source is
    missing; WRONGTYPE for a non-list source."""
    lst = _for_write(db, argv[1])
    if lst is None:
        return None
    return lst[0] if argv[2] == LEFT else lst[-1]


def push_for_move(db, argv):
    """Hop on the destination's shard: argv = [_, key, whereto, element].
    Push it (with LMOVE's push event), or False for a non-list destination."""
    key = argv[1]
    v = db.lookup(key)
    if v is not None and type(v) is not RedisList:
        return False
    push_values(db, key, v, (argv[3],), argv[2])
    db.notify(_LIST_EVENTS, b"lpush" if argv[2] == LEFT else b"rpush", key)
    return True


def pop_for_move(db, argv):
    """Hop on the source's shard, after push_for_move: argv = [_, key,
    wherefrom]; pops the element peek_for_move saw (the transaction holds
    the shard in between), with LMOVE's pop event and the ``del`` of an
    emptied source after it."""
    lst = _for_write(db, argv[1])
    v = lst.popleft() if argv[2] == LEFT else lst.pop()
    db.notify(_LIST_EVENTS, b"lpop" if argv[2] == LEFT else b"rpop", argv[1])
    after_pop(db, argv[1], lst)
    return v


async def cross_lmove(conn, argv):
    """LMOVE/RPOPLPUSH with the keys on two shards (inside a transaction
    holding both): type-check the destination, pop, push."""
    if len(argv) == 5:
        wherefrom, whereto = parse_where(argv[3]), parse_where(argv[4])
    else:
        wherefrom, whereto = RIGHT, LEFT
    return await lmove_across(conn, argv[1], argv[2], wherefrom, whereto)


async def lmove_across(conn, src: bytes, dst: bytes, wherefrom: int, whereto: int):
    """LMOVE over two shards, inside a transaction holding both: look at the
    source (its type is checked first, as Redis does), push on the
    destination (or WRONGTYPE), then pop the source.  Three hops, in the
    order Redis emits the events: the push, the pop, the source's ``del``."""
    ss, ds = conn.shard_of(src), conn.shard_of(dst)
    v = await conn.hop(ss, peek_for_move, [b"", src, wherefrom])
    if type(v) is Err:
        raise CommandError(bytes(v))
    if v is None:
        return None
    if await conn.hop(ds, push_for_move, [b"", dst, whereto, v]) is not True:
        raise CommandError(WRONGTYPE)
    await conn.hop(ss, pop_for_move, [b"", src, wherefrom])
    return v


cmd_lmove.spec.cross = cross_lmove
cmd_rpoplpush.spec.cross = cross_lmove


# the blocking commands register themselves (the package imports this module)
from . import blocking  # noqa: E402,F401
