/* server._reqparse: client request parser, a port of Redis 7.0's
 * processInputBuffer / processMultibulkBuffer / processInlineBuffer
 * (networking.c) onto a private byte buffer.
 *
 *   p = Parser(max_bulk, split_inline, error=None)
 *   p.feed(data)          append bytes to the buffer
 *   p.take(limit) -> list up to `limit` complete requests, each a non-empty
 *                         list of bytes (*0, *-N and empty inline lines give
 *                         nothing)
 *   p.take_routed(limit, routes, items) -> (n, rest)
 *                         the same requests, the hot ones turned into batch
 *                         items (see Parser_take_routed)
 *   p.has_input() -> bool bytes are buffered
 *   p.max_bulk            proto-max-bulk-len, read/write
 *
 * Errors raise `error` (default: server.protocol.ProtocolError, imported on
 * first use) with Redis's text.  An error met after k >= 1 requests of the
 * same take() is deferred: those k are returned and the next take() raises.
 * After an error the parser stays failed: every later take() raises again.
 *
 * Inline requests (first byte not '*') are split by the `split_inline`
 * callable (Redis's sdssplitargs rules live in server/protocol.py).
 *
 * State between calls mirrors Redis's client struct: the request type, the
 * elements still expected (multibulklen), the length of the bulk being read
 * (bulklen, -1 while its header is not read) and the argv built so far, so a
 * large bulk arriving in pieces is never rescanned: each feed() only checks
 * whether bulklen+2 bytes are there yet.  Consumed bytes are dropped by
 * moving the (partial) request left at the end of a take() to the start of
 * the buffer; a fully consumed buffer is freed (no memory per idle client).
 *
 * The module also holds the reply side's hot case (server.protocol.encode):
 *
 *   bulk_array(seq, head, null) -> bytes or None
 *       a list (or list subclass) or tuple whose items are all bytes or
 *       None, encoded as an
 *       aggregate: head ("*", or "~" for a RESP3 set), the count, then each
 *       item as a bulk string, or `null` (the protocol's null) for None, in
 *       one allocation; None for anything else (encode's Python code then
 *       handles it).
 */

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <structmember.h>
#include <limits.h>
#include <string.h>

#define MAX_INLINE (64 * 1024)              /* PROTO_INLINE_MAX_SIZE */
#define MAX_MULTIBULK (8LL * 1024 * 1024)   /* server.protocol.MAX_MULTIBULK */
#define ARGV_PREALLOC 1024                  /* Redis: argv_len = min(count, 1024) */
#define LONG_STR_SIZE 21

enum { REQ_NONE = 0, REQ_INLINE = 1, REQ_MULTIBULK = 2 };
enum { R_DONE = 0, R_MORE = 1, R_ERROR = -1 };

typedef struct {
    PyObject_HEAD
    char *buf;
    Py_ssize_t len;         /* bytes in buf */
    Py_ssize_t cap;         /* allocated size of buf */
    Py_ssize_t pos;         /* start of the unconsumed bytes */
    Py_ssize_t scanned;     /* bytes from pos known to hold no line end */
    int reqtype;
    long long multibulklen; /* elements still to read */
    long long bulklen;      /* length of the bulk being read, -1: header not read */
    PyObject *argv;         /* request being built (untracked by GC until done) */
    Py_ssize_t argc;        /* elements in argv so far */
    long long max_bulk;
    PyObject *split_inline;
    PyObject *error_class;  /* NULL: server.protocol.ProtocolError, looked up lazily */
    PyObject *failed;       /* the exception raised by every take() once failed */
    PyObject *zero;         /* the int 0 (take_routed's items) */
    PyObject *name;         /* the last request's argv[0] (bytes), reused while
                             * requests name the same command: one object less
                             * to make and free, and its hash stays cached for
                             * the command table's lookup */
} Parser;

#define NAME_CACHE_MAX 32   /* longer command names are not kept */

/* One argv list kept for reuse, every slot NULL and untracked by the GC:
 * take_routed moves a request of a flat run out of its argv (the run's list
 * holds the arguments now) and leaves the emptied list here; the next
 * request of that length is parsed into it.  One for the module, not per
 * parser (an idle connection keeps nothing); the loop thread alone parses,
 * and a reentrant parse (a finalizer run by an allocation) finds it taken
 * and makes a list, so nothing is shared. */
static PyObject *spare_argv = NULL;

static PyObject *
new_argv(Py_ssize_t size)
{
    PyObject *l = spare_argv;
    if (l != NULL && PyList_GET_SIZE(l) == size) {
        spare_argv = NULL;
        return l;
    }
    return PyList_New(size);
}

/* Give argv, whose arguments were just copied elsewhere, back as the spare
 * when nothing else holds it; else release it. */
static void
recycle_argv(PyObject *argv)
{
    if (spare_argv != NULL || Py_REFCNT(argv) != 1 || !PyList_CheckExact(argv)) {
        Py_DECREF(argv);
        return;
    }
    PyObject_GC_UnTrack(argv);
    for (Py_ssize_t k = 0; k < PyList_GET_SIZE(argv); k++)
        Py_CLEAR(((PyListObject *)argv)->ob_item[k]);
    spare_argv = argv;
}

/* Redis's string2ll (util.c): no sign but '-', no leading zeros, no spaces. */
static int
string2ll(const char *s, size_t slen, long long *value)
{
    const char *p = s;
    size_t plen = 0;
    int negative = 0;
    unsigned long long v;

    if (plen == slen || slen >= LONG_STR_SIZE)
        return 0;
    if (slen == 1 && p[0] == '0') {
        *value = 0;
        return 1;
    }
    if (p[0] == '-') {
        negative = 1;
        p++; plen++;
        if (plen == slen)
            return 0;
    }
    if (p[0] >= '1' && p[0] <= '9') {
        v = p[0] - '0';
        p++; plen++;
    } else {
        return 0;
    }
    while (plen < slen && p[0] >= '0' && p[0] <= '9') {
        if (v > (ULLONG_MAX / 10))
            return 0;
        v *= 10;
        if (v > (ULLONG_MAX - (p[0] - '0')))
            return 0;
        v += p[0] - '0';
        p++; plen++;
    }
    if (plen < slen)
        return 0;
    if (negative) {
        if (v > ((unsigned long long)(-(LLONG_MIN + 1)) + 1))
            return 0;
        *value = -(long long)v;
    } else {
        if (v > LLONG_MAX)
            return 0;
        *value = (long long)v;
    }
    return 1;
}

/* strchr(buf + pos, c) on Redis's NUL-terminated query buffer: the offset of
 * the first `c` at or after pos, or -1 if a NUL or the end comes first.
 * Resumes after the bytes already scanned for this line. */
static Py_ssize_t
find_line_end(Parser *self, char c)
{
    const char *p = self->buf + self->pos + self->scanned;
    const char *end = self->buf + self->len;
    for (; p < end; p++) {
        char x = *p;
        if (x == c)
            return p - self->buf;
        if (x == '\0')
            break;
    }
    self->scanned = p - (self->buf + self->pos);
    return -1;
}

static PyObject *
get_error_class(Parser *self)
{
    if (self->error_class == NULL) {
        PyObject *mod = PyImport_ImportModule("server.protocol");
        if (mod == NULL)
            return NULL;
        self->error_class = PyObject_GetAttrString(mod, "ProtocolError");
        Py_DECREF(mod);
    }
    return self->error_class;
}

/* Set a protocol error (the exception is taken from there by take()). */
static int
protocol_error(Parser *self, const char *msg)
{
    PyObject *cls = get_error_class(self);
    if (cls != NULL)
        PyErr_SetString(cls, msg);
    return R_ERROR;
}

static void
reset_request(Parser *self)
{
    self->reqtype = REQ_NONE;
    self->multibulklen = 0;
    self->bulklen = -1;
    Py_CLEAR(self->argv);
    self->argc = 0;
}

static void
consume_to(Parser *self, Py_ssize_t pos)
{
    self->pos = pos;
    self->scanned = 0;
}

/* processInlineBuffer.  On R_DONE *out is the argv (new reference) or NULL
 * for an empty line. */
static int
process_inline(Parser *self, PyObject **out)
{
    Py_ssize_t nl = find_line_end(self, '\n');
    Py_ssize_t end;
    PyObject *line, *args;

    *out = NULL;
    if (nl < 0) {
        if (self->len - self->pos > MAX_INLINE)
            return protocol_error(self, "too big inline request");
        return R_MORE;
    }
    /* Not in Redis, whose limit applies to the buffer after each 16 KB read
     * (a longer line may get through there): RequestReader's rule, kept. */
    if (nl - self->pos > MAX_INLINE)
        return protocol_error(self, "too big inline request");
    end = nl;
    if (end != self->pos && self->buf[end - 1] == '\r')
        end--;
    line = PyBytes_FromStringAndSize(self->buf + self->pos, end - self->pos);
    if (line == NULL)
        return R_ERROR;
    consume_to(self, nl + 1);
    args = PyObject_CallOneArg(self->split_inline, line);
    Py_DECREF(line);
    if (args == NULL)
        return R_ERROR;
    {
        Py_ssize_t n = PyList_CheckExact(args) ? PyList_GET_SIZE(args)
                                               : PyObject_Length(args);
        if (n < 0) {
            Py_DECREF(args);
            return R_ERROR;
        }
        if (n == 0) {
            Py_DECREF(args);
            return R_DONE;
        }
    }
    *out = args;
    return R_DONE;
}

/* processMultibulkBuffer.  On R_DONE *out is the argv (new reference) or
 * NULL for a count <= 0. */
static int
process_multibulk(Parser *self, PyObject **out)
{
    Py_ssize_t cr;
    long long ll;
    const char *buf = self->buf;

    *out = NULL;
    if (self->multibulklen == 0) {
        cr = find_line_end(self, '\r');
        if (cr < 0) {
            if (self->len - self->pos > MAX_INLINE)
                return protocol_error(self, "too big mbulk count string");
            return R_MORE;
        }
        /* the buffer must also hold the byte after '\r' (not checked to be '\n') */
        if (cr + 1 >= self->len)
            return R_MORE;
        if (!string2ll(buf + self->pos + 1, cr - (self->pos + 1), &ll)
                || ll > MAX_MULTIBULK)
            return protocol_error(self, "invalid multibulk length");
        consume_to(self, cr + 2);
        if (ll <= 0)
            return R_DONE;
        self->multibulklen = ll;
        self->argv = new_argv(ll < ARGV_PREALLOC ? (Py_ssize_t)ll : ARGV_PREALLOC);
        if (self->argv == NULL)
            return R_ERROR;
        /* its slots are NULL until filled: keep it away from gc.get_objects() */
        PyObject_GC_UnTrack(self->argv);
        self->argc = 0;
    }

    while (self->multibulklen) {
        PyObject *arg;
        if (self->bulklen == -1) {
            cr = find_line_end(self, '\r');
            if (cr < 0) {
                if (self->len - self->pos > MAX_INLINE)
                    return protocol_error(self, "too big bulk count string");
                return R_MORE;
            }
            if (cr + 1 >= self->len)
                return R_MORE;
            if (buf[self->pos] != '$') {
                PyObject *cls = get_error_class(self);
                if (cls != NULL) {
                    PyObject *msg = PyUnicode_FromFormat(
                        "expected '$', got '%c'", (int)(unsigned char)buf[self->pos]);
                    if (msg != NULL) {
                        PyErr_SetObject(cls, msg);
                        Py_DECREF(msg);
                    }
                }
                return R_ERROR;
            }
            if (!string2ll(buf + self->pos + 1, cr - (self->pos + 1), &ll)
                    || ll < 0 || ll > self->max_bulk)
                return protocol_error(self, "invalid bulk length");
            consume_to(self, cr + 2);
            self->bulklen = ll;
        }
        if (self->len - self->pos < self->bulklen + 2)
            return R_MORE;
        if (self->argc == 0 && self->name != NULL
                && PyBytes_GET_SIZE(self->name) == (Py_ssize_t)self->bulklen
                && memcmp(PyBytes_AS_STRING(self->name), buf + self->pos,
                          (size_t)self->bulklen) == 0) {
            arg = Py_NewRef(self->name);
        } else {
            arg = PyBytes_FromStringAndSize(buf + self->pos, (Py_ssize_t)self->bulklen);
            if (arg == NULL)
                return R_ERROR;
            if (self->argc == 0 && self->bulklen <= NAME_CACHE_MAX)
                Py_XSETREF(self->name, Py_NewRef(arg));
        }
        if (self->argc < PyList_GET_SIZE(self->argv)) {
            PyList_SET_ITEM(self->argv, self->argc, arg);
        } else {
            int rc = PyList_Append(self->argv, arg);
            Py_DECREF(arg);
            if (rc < 0)
                return R_ERROR;
        }
        self->argc++;
        consume_to(self, self->pos + (Py_ssize_t)self->bulklen + 2);
        self->bulklen = -1;
        self->multibulklen--;
    }
    PyObject_GC_Track(self->argv);
    *out = self->argv;
    self->argv = NULL;
    self->argc = 0;
    return R_DONE;
}

static void
free_buffer(Parser *self)
{
    PyMem_Free(self->buf);
    self->buf = NULL;
    self->len = self->cap = self->pos = 0;
    self->scanned = 0;
}

/* Drop consumed bytes: move the unconsumed tail to the start of the buffer
 * and give back most of a buffer that became much larger than its content. */
static void
compact(Parser *self)
{
    Py_ssize_t rest = self->len - self->pos;
    if (rest == 0) {
        free_buffer(self);
        return;
    }
    if (self->pos > 0) {
        memmove(self->buf, self->buf + self->pos, rest);
        self->len = rest;
        self->pos = 0;
    }
    if (self->cap > 16384 && self->cap > 4 * rest) {
        char *nb = PyMem_Realloc(self->buf, rest);
        if (nb != NULL) {
            self->buf = nb;
            self->cap = rest;
        }
    }
}

static PyObject *
raise_failed(Parser *self)
{
    PyException_SetTraceback(self->failed, Py_None);
    PyErr_SetObject((PyObject *)Py_TYPE(self->failed), self->failed);
    return NULL;
}

/* The next complete request into *req (NULL for *0, *-N or an empty
 * inline line): R_DONE, R_MORE (incomplete) or R_ERROR (exception set). */
static int
next_request(Parser *self, PyObject **req)
{
    int rc;
    if (self->reqtype == REQ_NONE)
        self->reqtype = self->buf[self->pos] == '*' ? REQ_MULTIBULK : REQ_INLINE;
    if (self->reqtype == REQ_INLINE)
        rc = process_inline(self, req);
    else
        rc = process_multibulk(self, req);
    if (rc == R_DONE)
        self->reqtype = REQ_NONE;
    return rc;
}

/* After R_ERROR: keep the exception as the parser's sticky failure (this
 * and every later take raise it, after the requests already parsed by this
 * call, which are returned first). */
static void
set_failed(Parser *self)
{
    PyObject *type, *value, *tb;
    PyErr_Fetch(&type, &value, &tb);
    PyErr_NormalizeException(&type, &value, &tb);
    Py_XDECREF(type);
    Py_XDECREF(tb);
    if (value == NULL) {
        PyErr_SetString(PyExc_SystemError, "parser error without exception");
        PyErr_Fetch(&type, &value, &tb);
        PyErr_NormalizeException(&type, &value, &tb);
        Py_XDECREF(type);
        Py_XDECREF(tb);
    }
    self->failed = value;
    reset_request(self);
}

static PyObject *
Parser_take(Parser *self, PyObject *arg)
{
    Py_ssize_t limit = PyLong_AsSsize_t(arg);
    PyObject *result, *req;
    int rc = R_DONE;

    if (limit == -1 && PyErr_Occurred())
        return NULL;
    if (self->failed != NULL)
        return raise_failed(self);
    result = PyList_New(0);
    if (result == NULL)
        return NULL;
    while (PyList_GET_SIZE(result) < limit && self->pos < self->len) {
        rc = next_request(self, &req);
        if (rc != R_DONE)
            break;
        if (req != NULL) {
            int e = PyList_Append(result, req);
            Py_DECREF(req);
            if (e < 0) {
                rc = R_ERROR;
                break;
            }
        }
    }
    if (rc == R_ERROR) {
        set_failed(self);
        if (PyList_GET_SIZE(result) == 0) {
            Py_DECREF(result);
            return raise_failed(self);
        }
        return result;
    }
    if (rc == R_MORE || self->pos == self->len)
        compact(self);          /* waiting for input: keep only the partial request */
    return result;
}

/* take_routed counts calls per run of requests of one route: add the run's
 * *calls to (*stats)[0] and start a run of `next` (NULL: none).  One int
 * made per run instead of one per request.  0, or -1 with an error (the
 * run's count is then lost, as a failed add of one would lose one). */
static int
add_calls(PyObject **stats, Py_ssize_t *calls, PyObject *next)
{
    int r = 0;
    if (*stats != NULL && *calls > 0 && PyList_GET_SIZE(*stats) > 0) {
        PyObject *k = PyLong_FromSsize_t(*calls);
        PyObject *sum = k == NULL ? NULL : PyNumber_Add(PyList_GET_ITEM(*stats, 0), k);
        Py_XDECREF(k);
        if (sum == NULL)
            r = -1;
        else
            PyList_SetItem(*stats, 0, sum);     /* steals sum */
    }
    Py_XDECREF(*stats);
    *stats = Py_XNewRef(next);
    *calls = 0;
    return r;
}

/* take_routed(limit, routes, items) -> (n, rest): the connection's hot path
 * (server/connection.py, Client.parse) for one shard.  Requests whose name
 * is a key of ``routes`` (exact bytes -> (handler, arity, stats) or
 * (handler, arity, stats, flat_argc, RUN)) and whose length fits that arity
 * are appended to ``items`` as (handler, argv, None, 0), counted in
 * stats[0] (one add per run of one route), up to ``limit`` of them; the
 * first other request ends the call and is returned as ``rest`` (None when
 * there was none).
 *
 * A request of exactly flat_argc arguments instead joins a flat run: one
 * item (handler, flat, RUN, width) for consecutive such requests of one
 * handler and one name object, flat = [name, the arguments after the name
 * of each request in order], width = flat_argc - 1 (actors/messages.py,
 * Batch).  No tuple and no argv list per request: the emptied argv is
 * parsed into again (spare_argv).  n still counts requests.
 *
 * Errors behave as in take(): raised at once if nothing was parsed, else
 * on the next call. */
static PyObject *
Parser_take_routed(Parser *self, PyObject *const *args, Py_ssize_t nargs)
{
    PyObject *routes, *items, *req, *rest = NULL;
    PyObject *run_stats = NULL;     /* the stats list of the current run of one route */
    PyObject *flat = NULL;          /* the flat run being extended (held) */
    PyObject *flat_fn = NULL;       /* and its handler (borrowed from routes) */
    Py_ssize_t limit, n = 0, run_calls = 0;
    int rc = R_DONE;

    if (nargs != 3) {
        PyErr_SetString(PyExc_TypeError, "take_routed(limit, routes, items)");
        return NULL;
    }
    limit = PyLong_AsSsize_t(args[0]);
    routes = args[1];
    items = args[2];
    if (limit == -1 && PyErr_Occurred())
        return NULL;
    if (!PyDict_CheckExact(routes) || !PyList_CheckExact(items)) {
        PyErr_SetString(PyExc_TypeError, "take_routed: routes must be a dict, items a list");
        return NULL;
    }
    if (self->failed != NULL)
        return raise_failed(self);
    while (n < limit && self->pos < self->len) {
        rc = next_request(self, &req);
        if (rc != R_DONE)
            break;
        if (req == NULL)
            continue;
        PyObject *route = PyDict_GetItemWithError(routes, PyList_GET_ITEM(req, 0));
        if (route == NULL && PyErr_Occurred()) {
            Py_DECREF(req);
            rc = R_ERROR;
            break;
        }
        Py_ssize_t rsize = route != NULL && PyTuple_CheckExact(route) ? PyTuple_GET_SIZE(route) : 0;
        if (rsize == 3 || rsize == 5) {
            Py_ssize_t argc = PyList_GET_SIZE(req);
            Py_ssize_t arity = PyLong_AsSsize_t(PyTuple_GET_ITEM(route, 1));
            PyObject *stats = PyTuple_GET_ITEM(route, 2);
            PyObject *handler = PyTuple_GET_ITEM(route, 0);
            Py_ssize_t flat_argc = rsize == 5 ? PyLong_AsSsize_t(PyTuple_GET_ITEM(route, 3)) : 0;
            if ((arity == -1 || flat_argc == -1) && PyErr_Occurred()) {
                Py_DECREF(req);
                rc = R_ERROR;
                break;
            }
            if ((argc == arity || (arity < 0 && argc >= -arity)) && PyList_CheckExact(stats)
                    && PyList_GET_SIZE(stats) > 0) {
                if (argc == flat_argc && argc >= 2) {
                    PyObject *name = PyList_GET_ITEM(req, 0);
                    int fresh = flat == NULL || flat_fn != handler
                                || PyList_GET_ITEM(flat, 0) != name;
                    if (fresh) {
                        /* a new run: [name] and its item */
                        Py_CLEAR(flat);
                        PyObject *width = PyLong_FromSsize_t(argc - 1);
                        flat = PyList_New(1);
                        PyObject *item = NULL;
                        if (flat != NULL && width != NULL) {
                            PyList_SET_ITEM(flat, 0, Py_NewRef(name));
                            item = PyTuple_Pack(4, handler, flat, PyTuple_GET_ITEM(route, 4),
                                                width);
                        }
                        Py_XDECREF(width);
                        if (item == NULL || PyList_Append(items, item) < 0) {
                            Py_XDECREF(item);
                            Py_DECREF(req);
                            rc = R_ERROR;
                            break;
                        }
                        Py_DECREF(item);
                        flat_fn = handler;
                    }
                    Py_ssize_t had = PyList_GET_SIZE(flat);
                    int bad = 0;
                    for (Py_ssize_t k = 1; k < argc && !bad; k++)
                        bad = PyList_Append(flat, PyList_GET_ITEM(req, k)) < 0;
                    recycle_argv(req);
                    if (bad) {
                        /* undo this request's part (and its run's item if
                         * it started one): `items` holds the n before it */
                        PyObject *et, *ev, *tb;
                        PyErr_Fetch(&et, &ev, &tb);
                        if (fresh) {
                            Py_ssize_t m = PyList_GET_SIZE(items);
                            PyList_SetSlice(items, m - 1, m, NULL);
                        } else {
                            PyList_SetSlice(flat, had, PyList_GET_SIZE(flat), NULL);
                        }
                        PyErr_Clear();
                        PyErr_Restore(et, ev, tb);
                        rc = R_ERROR;
                        break;
                    }
                } else {
                    Py_CLEAR(flat);     /* the next flat request starts a new run */
                    PyObject *item = PyTuple_Pack(4, handler, req, Py_None, self->zero);
                    Py_DECREF(req);
                    if (item == NULL || PyList_Append(items, item) < 0) {
                        Py_XDECREF(item);
                        rc = R_ERROR;
                        break;
                    }
                    Py_DECREF(item);
                }
                if (stats != run_stats && add_calls(&run_stats, &run_calls, stats) < 0) {
                    rc = R_ERROR;
                    break;
                }
                run_calls++;
                n++;
                continue;
            }
        }
        rest = req;
        break;
    }
    Py_XDECREF(flat);
    /* the last run's count, with any pending error set aside meanwhile; a
     * failure of its own is an error like any other (the requests already
     * taken stand, the next call raises) */
    if (run_stats != NULL) {
        PyObject *et, *ev, *tb;
        PyErr_Fetch(&et, &ev, &tb);
        int failed = add_calls(&run_stats, &run_calls, NULL) < 0;
        if (et != NULL) {
            if (failed)
                PyErr_Clear();
            PyErr_Restore(et, ev, tb);
        } else if (failed) {
            rc = R_ERROR;
        }
    }
    if (rc == R_ERROR) {
        Py_XDECREF(rest);       /* (only after a failed count: the parser stays failed) */
        set_failed(self);
        if (n == 0)
            return raise_failed(self);
        return Py_BuildValue("(nO)", n, Py_None);
    }
    if (rc == R_MORE || self->pos == self->len)
        compact(self);
    if (rest == NULL)
        return Py_BuildValue("(nO)", n, Py_None);
    return Py_BuildValue("(nN)", n, rest);
}

static PyObject *
Parser_feed(Parser *self, PyObject *arg)
{
    Py_buffer view;
    if (PyObject_GetBuffer(arg, &view, PyBUF_SIMPLE) < 0)
        return NULL;
    if (view.len > 0) {
        Py_ssize_t need;
        if (self->pos > 0 && self->len + view.len > self->cap) {
            Py_ssize_t rest = self->len - self->pos;
            memmove(self->buf, self->buf + self->pos, rest);
            self->len = rest;
            self->pos = 0;
        }
        need = self->len + view.len;
        if (need > self->cap) {
            Py_ssize_t ncap = self->len == 0 ? need : self->cap * 2;
            char *nb;
            if (ncap < need)
                ncap = need;
            nb = PyMem_Realloc(self->buf, ncap);
            if (nb == NULL) {
                PyBuffer_Release(&view);
                return PyErr_NoMemory();
            }
            self->buf = nb;
            self->cap = ncap;
        }
        memcpy(self->buf + self->len, view.buf, view.len);
        self->len += view.len;
    }
    PyBuffer_Release(&view);
    Py_RETURN_NONE;
}

static PyObject *
Parser_has_input(Parser *self, PyObject *Py_UNUSED(ignored))
{
    return PyBool_FromLong(self->pos < self->len);
}

static PyObject *
Parser_buffer_size(Parser *self, PyObject *Py_UNUSED(ignored))
{
    return PyLong_FromSsize_t(self->cap);
}

static int
Parser_init(Parser *self, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"max_bulk", "split_inline", "error", NULL};
    long long max_bulk;
    PyObject *split = NULL, *error = Py_None;

    if (!PyArg_ParseTupleAndKeywords(args, kwds, "LO|O", kwlist,
                                     &max_bulk, &split, &error))
        return -1;
    if (!PyCallable_Check(split)) {
        PyErr_SetString(PyExc_TypeError, "split_inline must be callable");
        return -1;
    }
    self->max_bulk = max_bulk;
    Py_INCREF(split);
    Py_XSETREF(self->split_inline, split);
    if (error != Py_None) {
        Py_INCREF(error);
        Py_XSETREF(self->error_class, error);
    }
    self->bulklen = -1;
    if (self->zero == NULL) {
        self->zero = PyLong_FromLong(0);
        if (self->zero == NULL)
            return -1;
    }
    return 0;
}

static void
Parser_dealloc(Parser *self)
{
    PyMem_Free(self->buf);
    if (self->argv != NULL && !PyObject_GC_IsTracked(self->argv))
        PyObject_GC_Track(self->argv);
    Py_XDECREF(self->argv);
    Py_XDECREF(self->split_inline);
    Py_XDECREF(self->error_class);
    Py_XDECREF(self->failed);
    Py_XDECREF(self->zero);
    Py_XDECREF(self->name);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyMethodDef Parser_methods[] = {
    {"feed", (PyCFunction)Parser_feed, METH_O,
     "feed(data): append bytes to the buffer."},
    {"take", (PyCFunction)Parser_take, METH_O,
     "take(limit) -> list of up to limit complete requests (lists of bytes)."},
    {"take_routed", (PyCFunction)(void (*)(void))Parser_take_routed, METH_FASTCALL,
     "take_routed(limit, routes, items) -> (n, rest): the one-shard hot path."},
    {"has_input", (PyCFunction)Parser_has_input, METH_NOARGS,
     "has_input() -> True if bytes are buffered."},
    {"buffer_size", (PyCFunction)Parser_buffer_size, METH_NOARGS,
     "buffer_size() -> bytes allocated for the buffer (0 once all is consumed)."},
    {NULL, NULL, 0, NULL}
};

static PyMemberDef Parser_members[] = {
    {"max_bulk", T_LONGLONG, offsetof(Parser, max_bulk), 0,
     "largest bulk length accepted (proto-max-bulk-len)"},
    {NULL, 0, 0, 0, NULL}
};

static PyTypeObject ParserType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "server._reqparse.Parser",
    .tp_doc = "Parser(max_bulk, split_inline, error=None): Redis request parser.",
    .tp_basicsize = sizeof(Parser),
    .tp_itemsize = 0,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)Parser_init,
    .tp_dealloc = (destructor)Parser_dealloc,
    .tp_methods = Parser_methods,
    .tp_members = Parser_members,
};

/* Decimal digits of n >= 0. */
static Py_ssize_t
n_digits(Py_ssize_t n)
{
    Py_ssize_t d = 1;
    while (n >= 10) {
        n /= 10;
        d++;
    }
    return d;
}

/* Write "<c><n>\r\n" (n >= 0) at p; returns the end. */
static char *
put_header(char *p, char c, Py_ssize_t n)
{
    Py_ssize_t d = n_digits(n);
    *p++ = c;
    for (Py_ssize_t k = d - 1; k >= 0; k--) {
        p[k] = (char)('0' + n % 10);
        n /= 10;
    }
    p += d;
    *p++ = '\r';
    *p++ = '\n';
    return p;
}

static PyObject *
bulk_array(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 3 || !PyBytes_CheckExact(args[1]) || PyBytes_GET_SIZE(args[1]) != 1
            || !PyBytes_CheckExact(args[2])) {
        PyErr_SetString(PyExc_TypeError, "bulk_array(seq, head: 1 byte, null: bytes)");
        return NULL;
    }
    PyObject *seq = args[0], *null = args[2];
    if (!PyList_Check(seq) && !PyTuple_CheckExact(seq))     /* (RSet is a list) */
        Py_RETURN_NONE;
    /* both passes read the items with no Python code in between: the size
     * counted is the size written */
    Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
    PyObject **items = PySequence_Fast_ITEMS(seq);
    Py_ssize_t nnull = PyBytes_GET_SIZE(null);
    Py_ssize_t total = 3 + n_digits(n);
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *x = items[i];
        if (x == Py_None) {
            total += nnull;
        } else if (PyBytes_CheckExact(x)) {
            Py_ssize_t len = PyBytes_GET_SIZE(x);
            total += 5 + n_digits(len) + len;
        } else {
            Py_RETURN_NONE;
        }
    }
    PyObject *out = PyBytes_FromStringAndSize(NULL, total);
    if (out == NULL)
        return NULL;
    char *p = put_header(PyBytes_AS_STRING(out), PyBytes_AS_STRING(args[1])[0], n);
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *x = items[i];
        if (x == Py_None) {
            memcpy(p, PyBytes_AS_STRING(null), nnull);
            p += nnull;
            continue;
        }
        Py_ssize_t len = PyBytes_GET_SIZE(x);
        p = put_header(p, '$', len);
        memcpy(p, PyBytes_AS_STRING(x), len);
        p += len;
        *p++ = '\r';
        *p++ = '\n';
    }
    return out;
}

static PyMethodDef module_methods[] = {
    {"bulk_array", (PyCFunction)(void (*)(void))bulk_array, METH_FASTCALL,
     "bulk_array(seq, head, null) -> bytes, or None unless every item is bytes or None:\n"
     "seq encoded as a RESP aggregate of bulk strings (see the module source)."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef reqparse_module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "server._reqparse",
    .m_doc = "Redis request parser (port of networking.c's processInputBuffer), and the "
             "reply encoder's bulk-string aggregates.",
    .m_size = -1,
    .m_methods = module_methods,
};

PyMODINIT_FUNC
PyInit__reqparse(void)
{
    PyObject *m;
    if (PyType_Ready(&ParserType) < 0)
        return NULL;
    m = PyModule_Create(&reqparse_module);
    if (m == NULL)
        return NULL;
    Py_INCREF(&ParserType);
    if (PyModule_AddObject(m, "Parser", (PyObject *)&ParserType) < 0) {
        Py_DECREF(&ParserType);
        Py_DECREF(m);
        return NULL;
    }
    if (PyModule_AddIntConstant(m, "MAX_INLINE", MAX_INLINE) < 0
            || PyModule_AddIntConstant(m, "MAX_MULTIBULK", (long)MAX_MULTIBULK) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
