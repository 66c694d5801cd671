/* actors._runs: the C side of the shard's runners (actors/shard.py, RUNNERS;
 * docs/performance.md, "Prefetching a run's keys" and "A C GET runner").
 *
 *   warm(dicts, items, start, stop) -> None
 *   run_get(data, expires, items, i, replies, resp2, now_ms, handler)
 *       -> (j, hits)
 *   run_set(data, expires, items, i, replies, handler, ok) -> j
 *   KeyTable: a keyspace's table with the LRU clock in each key's slot
 *       (actors/_keytable.h; interface and specification actors/keytable.py)
 *
 * warm: the runners' prefetch on its own (the C loops below call it on each
 * window of their run; Python calls it only in tests).  For each batch item
 * items[start:stop] of the form (handler, argv,
 * ...) whose argv[1] is a bytes key, and for each table in the tuple `dicts`
 * (a keyspace's data, a KeyTable, and its expires, a dict), issue CPU
 * prefetches for what a lookup of that key will read.  In a KeyTable: the
 * key's home slot, then the slot's key object (compared with the looked-up
 * key) and value.  In a dict: the first probe slot of the index table, then
 * the entry it names, then the entry's key object.  Each stage runs over
 * the whole window before the next, so the cache misses of up to `stop -
 * start` keys are in flight together instead of one after another (the
 * runner's loop stalls on each miss in turn: with 100,000 random keys, most
 * of a GET's time).
 *
 * warm changes nothing: no reference is taken or released, no Python code
 * runs (a bytes key's hash is computed in C and cached, as the lookup would
 * do), nothing is written.  A prefetch is only a hint and never faults; the
 * loads that pick the next address (index slot, entry) stay inside the
 * dict's own tables.  Anything unexpected (not an exact dict, a dict of
 * str-only keys, an item of another shape, a non-bytes key) is skipped.
 * The dict layout read here is CPython 3.11's (Include/internal/
 * pycore_dict.h); on any other version dicts are skipped (ACTIVE = 0), so
 * the result is the same everywhere and only the speed differs.
 *
 * run_get: server.commands.strings.run_get's loop in C, the same contract
 * (that function calls it and keeps the Python loop as the fallback):
 * execute items[i:j], consecutive plain GETs (item[0] is `handler`, no
 * sink, argv [name, key] with a bytes key), appending each encoded reply to
 * `replies`, and stop at the first item it would not answer exactly as
 * cmd_get does: another command, a value that is not bytes (WRONGTYPE) or
 * of 1 KiB or more, a key whose TTL (`expires`, ms) is due at `now_ms`
 * (lazy expiry is the per-command path's).  A hit stamps the key's slot
 * with the table's clock (KeyTable.touch).  Returns j and the number of hits among
 * items[i:j] (the rest are misses).  It prefetches like warm, every
 * WARM_WINDOW items.  An exception (MemoryError) propagates with
 * `replies` partly appended; the caller drops them and redoes the
 * commands (GET is idempotent but for the clock stamp, which it rewrites).
 */

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#if PY_VERSION_HEX >= 0x030B0000 && PY_VERSION_HEX < 0x030C0000
#define WARM_LAYOUT 1
#define Py_BUILD_CORE 1
#include "internal/pycore_dict.h"
#undef Py_BUILD_CORE
#else
#define WARM_LAYOUT 0
#endif

#define MAX_WINDOW 256      /* keys per call (hashes kept on the C stack) */
#define WARM_WINDOW 32      /* run_get, run_set: keys prefetched at a time */
#define NHDR 1024           /* run_get: larger values take the per-command path (actors.shard.NHDR) */
#define MAX_DICTS 4
#define WARM_MIN_KEYS 4096  /* smaller tables are not prefetched (see prefetch_keys) */

_Static_assert(NHDR <= 10000, "bulk_header writes at most 4 digits");

#include "_keytable.h"

#if WARM_LAYOUT
static inline Py_ssize_t
index_at(const PyDictKeysObject *dk, size_t i)
{
    int log2 = dk->dk_log2_size;
    if (log2 < 8)
        return ((const int8_t *)dk->dk_indices)[i];
    if (log2 < 16)
        return ((const int16_t *)dk->dk_indices)[i];
    if (log2 < 32)
        return ((const int32_t *)dk->dk_indices)[i];
    return ((const int64_t *)dk->dk_indices)[i];
}

/* The entry that hash h's first probe slot names, NULL for an empty or
 * deleted slot. */
static inline PyDictKeyEntry *
first_entry(PyDictKeysObject *dk, Py_hash_t h)
{
    size_t mask = ((size_t)1 << dk->dk_log2_size) - 1;
    Py_ssize_t ix = index_at(dk, (size_t)h & mask);
    return ix >= 0 && ix < dk->dk_nentries ? &DK_ENTRIES(dk)[ix] : NULL;
}

static inline const void *
index_addr(const PyDictKeysObject *dk, size_t i)
{
    int log2 = dk->dk_log2_size;
    size_t width = log2 < 8 ? 1 : log2 < 16 ? 2 : log2 < 32 ? 4 : 8;
    return dk->dk_indices + i * width;
}
#endif

/* The key of a batch item (handler, argv, sink, ...): argv[1] when argv is
 * a list of two or more and that is bytes (the parser's); NULL, with no
 * error set, for any other shape.  Borrowed. */
static inline PyObject *
item_key(PyObject *item)
{
    if (!PyTuple_CheckExact(item) || PyTuple_GET_SIZE(item) < 3)
        return NULL;
    PyObject *argv = PyTuple_GET_ITEM(item, 1);
    if (!PyList_CheckExact(argv) || PyList_GET_SIZE(argv) < 2)
        return NULL;
    PyObject *key = PyList_GET_ITEM(argv, 1);
    return PyBytes_CheckExact(key) ? key : NULL;
}

static void prefetch_keys(PyObject *const *dicts, Py_ssize_t ndicts, PyObject *const *keys,
                          int nkeys);

/* Whether any of the dicts is large enough to be prefetched (see
 * prefetch_keys): the keys are not even collected otherwise. */
static int
worth_prefetching(PyObject *const *dicts, Py_ssize_t ndicts)
{
    for (Py_ssize_t d = 0; d < ndicts; d++) {
        PyObject *o = dicts[d];
        if (KeyTable_Check(o) ? ((KeyTableObject *)o)->used >= WARM_MIN_KEYS
                : PyDict_Check(o) && PyDict_GET_SIZE(o) >= WARM_MIN_KEYS)
            return 1;
    }
    return 0;
}

/* Where a runner's requests come from: the batch items `seq` (width 0;
 * for run_get and run_set each must have the handler `handler`), or the
 * flat run `seq` (width: the arguments after the name per request, 1 for
 * GET, 2 for SET: run_get_flat, run_set_flat). */
typedef struct {
    PyObject *seq;
    PyObject *handler;
    Py_ssize_t width;
} Source;

/* Prefetch for requests [start, stop) of src in the given dicts (see
 * warm): an item's key is its argv[1], a flat run's request r's key is
 * flat[1 + r * width].  dicts[0]'s values are prefetched too (the data). */
static void
prefetch_source(PyObject *const *dicts, Py_ssize_t ndicts, const Source *src,
                Py_ssize_t start, Py_ssize_t stop)
{
    Py_ssize_t w = src->width, len = PyList_GET_SIZE(src->seq);
    Py_ssize_t n = w ? (len - 1) / w : len;
    if (start < 0)
        start = 0;
    if (stop > n)
        stop = n;
    if (stop - start > MAX_WINDOW)
        stop = start + MAX_WINDOW;
    if (stop <= start || !worth_prefetching(dicts, ndicts))
        return;
    PyObject *keys[MAX_WINDOW];
    int nk = 0;
    for (Py_ssize_t i = start; i < stop; i++) {
        PyObject *key = w ? PyList_GET_ITEM(src->seq, 1 + i * w)
                          : item_key(PyList_GET_ITEM(src->seq, i));
        if (key != NULL && PyBytes_CheckExact(key))
            keys[nk++] = key;
    }
    prefetch_keys(dicts, ndicts, keys, nk);
}

/* Prefetch what looking up keys[0:nkeys] (bytes) in the given dicts reads
 * (see warm). */
static void
prefetch_keys(PyObject *const *dicts, Py_ssize_t ndicts, PyObject *const *keys, int nkeys)
{
    if (nkeys <= 0)
        return;

    KeyTableObject *kts[MAX_DICTS];
    int nd = 0, nkt = 0;
#if WARM_LAYOUT
    PyDictKeysObject *tables[MAX_DICTS];
    int values[MAX_DICTS];
#endif
    /* A table of fewer than WARM_MIN_KEYS keys is skipped: its slots and
     * objects (a few hundred KiB at most) stay in the caches of a shard that
     * keeps using them, and hashing and prefetching every key of a run then
     * costs more than it saves (a tenth of the shard's time with one key). */
    for (Py_ssize_t d = 0; d < ndicts && nd + nkt < MAX_DICTS; d++) {
        PyObject *o = dicts[d];
        if (KeyTable_Check(o)) {
            if (((KeyTableObject *)o)->used >= WARM_MIN_KEYS)
                kts[nkt++] = (KeyTableObject *)o;
            continue;
        }
#if WARM_LAYOUT
        if (!PyDict_CheckExact(o))
            continue;
        PyDictObject *mp = (PyDictObject *)o;
        /* a general table (bytes keys), combined, and large enough */
        if (mp->ma_values != NULL || mp->ma_used < WARM_MIN_KEYS
                || mp->ma_keys->dk_kind != DICT_KEYS_GENERAL)
            continue;
        values[nd] = d == 0;
        tables[nd++] = mp->ma_keys;
#endif
    }
    if (nd == 0 && nkt == 0)
        return;

    /* stage 1: hash each key, prefetch its home slot in every KeyTable and
     * its first index slot in every dict */
    Py_hash_t hashes[MAX_WINDOW];
    int nk = 0;
    for (int i = 0; i < nkeys; i++) {
        Py_hash_t h = PyObject_Hash(keys[i]);     /* bytes: cannot fail, cached */
        hashes[nk++] = h;
        for (int d = 0; d < nkt; d++)
            __builtin_prefetch(&kts[d]->slots[(size_t)h & kts[d]->mask]);
#if WARM_LAYOUT
        for (int d = 0; d < nd; d++) {
            size_t mask = ((size_t)1 << tables[d]->dk_log2_size) - 1;
            __builtin_prefetch(index_addr(tables[d], (size_t)h & mask));
        }
#endif
    }
    /* stage 2, KeyTable: a slot holds what a dict's entry does, so its key
     * object (compared unless the same object) and value come next */
    for (int d = 0; d < nkt; d++) {
        for (int k = 0; k < nk; k++) {
            KTSlot *s = &kts[d]->slots[(size_t)hashes[k] & kts[d]->mask];
            if (s->key != NULL && s->hash == hashes[k]) {
                __builtin_prefetch(s->key);
                __builtin_prefetch(s->value);
            }
        }
    }
#if WARM_LAYOUT
    /* stage 2, dicts: the entry each slot names (a key of the same slot:
     * the first probe finds the looked-up key unless it collided) */
    for (int d = 0; d < nd; d++) {
        for (int k = 0; k < nk; k++) {
            PyDictKeyEntry *ep = first_entry(tables[d], hashes[k]);
            if (ep != NULL)
                __builtin_prefetch(ep);
        }
    }
    /* stage 3, dicts: the entry's key object (compared unless it is the
     * same object) and, in the data, the value */
    for (int d = 0; d < nd; d++) {
        for (int k = 0; k < nk; k++) {
            PyDictKeyEntry *ep = first_entry(tables[d], hashes[k]);
            if (ep != NULL && ep->me_hash == hashes[k]) {
                __builtin_prefetch(ep->me_key);
                if (values[d])
                    __builtin_prefetch(ep->me_value);
            }
        }
    }
#endif
}

static int
ssize_arg(PyObject *o, Py_ssize_t *out)
{
    *out = PyLong_AsSsize_t(o);
    return !(*out == -1 && PyErr_Occurred());
}

static PyObject *
warm(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    Py_ssize_t start, stop;
    if (nargs != 4) {
        PyErr_SetString(PyExc_TypeError, "warm(dicts, items, start, stop)");
        return NULL;
    }
    PyObject *dicts = args[0], *items = args[1];
    if (!PyTuple_Check(dicts) || !PyList_Check(items)) {
        PyErr_SetString(PyExc_TypeError, "warm(dicts: tuple, items: list, start, stop)");
        return NULL;
    }
    if (!ssize_arg(args[2], &start) || !ssize_arg(args[3], &stop))
        return NULL;
    Source src = {items, NULL, 0};
    prefetch_source(&PyTuple_GET_ITEM(dicts, 0), PyTuple_GET_SIZE(dicts), &src, start, stop);
    Py_RETURN_NONE;
}

/* The arguments the runners share, (data, expires, items, i, replies, ...):
 * checks their count (`want`, else TypeError with the signature `sig`) and
 * types, and reads i.  1, or 0 with TypeError/OverflowError. */
static int
runner_args(const char *name, const char *sig, PyObject *const *args, Py_ssize_t nargs,
            Py_ssize_t want, Py_ssize_t *i)
{
    if (nargs != want) {
        PyErr_Format(PyExc_TypeError, "%s%s", name, sig);
        return 0;
    }
    if (!KeyTable_Check(args[0]) || !PyDict_CheckExact(args[1])
            || !PyList_CheckExact(args[2]) || !PyList_CheckExact(args[4])) {
        PyErr_Format(PyExc_TypeError, "%s: data must be a KeyTable, expires a dict; "
                     "items, replies lists", name);
        return 0;
    }
    return ssize_arg(args[3], i);
}

static PyObject *null2, *null3;      /* RESP2 and RESP3 nulls */

/* "$<n>\r\n" for 0 <= n < NHDR into hdr; its length.  snprintf took a
 * fifth of the shard thread's time in a one-key GET run (glibc parses the
 * format on every call). */
static inline int
bulk_header(char *hdr, Py_ssize_t n)
{
    char digits[4];
    int k = 0;
    do {
        digits[k++] = (char)('0' + n % 10);
        n /= 10;
    } while (n > 0);
    int len = 0;
    hdr[len++] = '$';
    while (k > 0)
        hdr[len++] = digits[--k];
    hdr[len++] = '\r';
    hdr[len++] = '\n';
    return len;
}

/* One GET of `key` for the runners: 1 with *reply (a new reference) and
 * *hit set, 0 where the run must stop (the per-command path answers that
 * key: a value that is not bytes or of NHDR bytes or more, a TTL that is
 * due or not an int), -1 with an exception. */
static inline int
get_one(KeyTableObject *table, PyObject *expires, int ttls, PyObject *key, long long now,
        PyObject *null, PyObject **reply, int *hit)
{
    KTSlot *slot = kt_find(table, key, PyObject_Hash(key));   /* bytes: cached */
    if (slot == NULL) {
        *reply = Py_NewRef(null);
        *hit = 0;
        return 1;
    }
    PyObject *v = slot->value;         /* borrowed */
    if (!PyBytes_CheckExact(v) || PyBytes_GET_SIZE(v) >= NHDR)
        return 0;
    if (ttls) {
        PyObject *t = PyDict_GetItemWithError(expires, key);
        if (t == NULL && PyErr_Occurred())
            return -1;
        if (t != NULL) {
            /* only an int: another type's __index__ could run code
             * that changes the table under `slot` */
            if (!PyLong_CheckExact(t))
                return 0;
            int overflow;
            long long when = PyLong_AsLongLongAndOverflow(t, &overflow);
            if (when == -1 && PyErr_Occurred())
                return -1;
            if (overflow < 0 || (!overflow && when <= now))
                return 0;          /* due: lazy expiry is cmd_get's */
        }
    }
    slot->lru = table->clock;
    *hit = 1;
    /* "$<len>\r\n<value>\r\n" in one allocation */
    Py_ssize_t vlen = PyBytes_GET_SIZE(v);
    char hdr[8];                        /* "$" + up to 4 digits + CRLF */
    int hlen = bulk_header(hdr, vlen);
    PyObject *r = PyBytes_FromStringAndSize(NULL, hlen + vlen + 2);
    if (r == NULL)
        return -1;
    char *p = PyBytes_AS_STRING(r);
    memcpy(p, hdr, hlen);
    memcpy(p + hlen, PyBytes_AS_STRING(v), vlen);
    p[hlen + vlen] = '\r';
    p[hlen + vlen + 1] = '\n';
    *reply = r;
    return 1;
}

/* Append a reply (stolen) to replies: 0, or -1 with an exception. */
static inline int
add_reply(PyObject *replies, PyObject *reply)
{
    int rc = PyList_Append(replies, reply);
    Py_DECREF(reply);
    return rc;
}

static int
resp_and_now(PyObject *resp2_arg, PyObject *now_arg, PyObject **null, long long *now)
{
    int resp2 = PyObject_IsTrue(resp2_arg);
    if (resp2 < 0)
        return 0;
    *now = PyLong_AsLongLong(now_arg);
    if (*now == -1 && PyErr_Occurred())
        return 0;
    *null = resp2 ? null2 : null3;
    return 1;
}

/* Request j's argv slot k (1: the key, 2: SET's value), borrowed; NULL
 * (no error) where the run stops: the end, or a request of another shape
 * (items: another handler, a sink, argv not [name, bytes key, ...] or, for
 * SET, not of length 3; flat: a key that is not bytes). */
static inline PyObject *
source_arg(const Source *src, Py_ssize_t j, int k)
{
    if (src->width) {
        Py_ssize_t at = 1 + j * src->width;
        if (at + src->width > PyList_GET_SIZE(src->seq))
            return NULL;
        PyObject *key = PyList_GET_ITEM(src->seq, at);
        if (!PyBytes_CheckExact(key))
            return NULL;
        return PyList_GET_ITEM(src->seq, at + k - 1);
    }
    if (j >= PyList_GET_SIZE(src->seq))
        return NULL;
    PyObject *item = PyList_GET_ITEM(src->seq, j);
    PyObject *key = item_key(item);
    if (key == NULL || PyTuple_GET_ITEM(item, 0) != src->handler
            || PyTuple_GET_ITEM(item, 2) != Py_None)
        return NULL;
    PyObject *argv = PyTuple_GET_ITEM(item, 1);
    if (k == 2 && PyList_GET_SIZE(argv) != 3)
        return NULL;
    return PyList_GET_ITEM(argv, k);
}

/* The GET loop of run_get and run_get_flat from request j: (j', hits). */
static PyObject *
get_run(PyObject *data, PyObject *expires, const Source *src, Py_ssize_t j, PyObject *replies,
        PyObject *null, long long now)
{
    PyObject *dicts[2] = {data, expires};
    Py_ssize_t ndicts = PyDict_GET_SIZE(expires) ? 2 : 1;
    Py_ssize_t hits = 0, wend = j;

    for (;; j++) {
        if (j >= wend) {
            wend = j + WARM_WINDOW;
            prefetch_source(dicts, ndicts, src, j, wend);
        }
        /* argv[1] is the key, as in the Python loop (the table checked the
         * arity); any other shape is left to the per-command path */
        PyObject *key = source_arg(src, j, 1);
        if (key == NULL)
            break;
        PyObject *reply;
        int hit;
        int rc = get_one((KeyTableObject *)data, expires, ndicts == 2, key, now, null, &reply,
                         &hit);
        if (rc < 0)
            return NULL;
        if (rc == 0)
            break;
        hits += hit;
        if (add_reply(replies, reply) < 0)
            return NULL;
    }
    return Py_BuildValue("(nn)", j, hits);
}

static PyObject *
run_get(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    Py_ssize_t i;
    if (!runner_args("run_get", "(data, expires, items, i, replies, resp2, now_ms, handler)",
                     args, nargs, 8, &i))
        return NULL;
    PyObject *null;
    long long now;
    if (!resp_and_now(args[5], args[6], &null, &now))
        return NULL;
    Source src = {args[2], args[7], 0};
    return get_run(args[0], args[1], &src, i < 0 ? 0 : i, args[4], null, now);
}

/* The arguments of the flat runners, (data, expires, flat, width, replies,
 * ...): count and types; `width` must be `want_width` (the requests' shape
 * the runner knows).  The number of requests in *n, 1; 0 with TypeError. */
static int
flat_args(const char *name, const char *sig, PyObject *const *args, Py_ssize_t nargs,
          Py_ssize_t want, Py_ssize_t want_width, Py_ssize_t *n)
{
    if (nargs != want) {
        PyErr_Format(PyExc_TypeError, "%s%s", name, sig);
        return 0;
    }
    Py_ssize_t width;
    if (!KeyTable_Check(args[0]) || !PyDict_CheckExact(args[1])
            || !PyList_CheckExact(args[2]) || !PyList_CheckExact(args[4])) {
        PyErr_Format(PyExc_TypeError, "%s: data must be a KeyTable, expires a dict; "
                     "flat, replies lists", name);
        return 0;
    }
    if (!ssize_arg(args[3], &width))
        return 0;
    if (width != want_width || PyList_GET_SIZE(args[2]) < 1) {
        PyErr_Format(PyExc_TypeError, "%s: a run of width %zd", name, want_width);
        return 0;
    }
    *n = (PyList_GET_SIZE(args[2]) - 1) / width;
    return 1;
}

/* run_get_flat: run_get for a flat run (actors/messages.py, Batch), the
 * same contract over its requests: request r's key is flat[1 + r].
 * Returns (k, hits): requests [0, k) answered (k < the run's length: the
 * per-command path takes request k on). */
static PyObject *
run_get_flat(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    Py_ssize_t n;
    if (!flat_args("run_get_flat", "(data, expires, flat, width, replies, resp2, now_ms)",
                   args, nargs, 7, 1, &n))
        return NULL;
    PyObject *null;
    long long now;
    if (!resp_and_now(args[5], args[6], &null, &now))
        return NULL;
    Source src = {args[2], NULL, 1};
    return get_run(args[0], args[1], &src, 0, args[4], null, now);
}

/* One plain SET for the runners: store value under key with the table's
 * clock, drop the key's TTL.  0, or -1 with an exception (MemoryError
 * growing the table). */
static inline int
set_one(KeyTableObject *table, PyObject *expires, PyObject *key, PyObject *value)
{
    /* held: the old value's destructor runs inside kt_store */
    Py_INCREF(value);
    Py_INCREF(key);
    Py_hash_t h = PyObject_Hash(key);       /* bytes: cached after the first */
    int rc = kt_store(table, key, h, value, table->clock);
    Py_DECREF(value);
    if (rc == 0 && PyDict_GET_SIZE(expires)) {
        PyObject *t = PyDict_GetItemWithError(expires, key);
        if (t != NULL)
            rc = PyDict_DelItem(expires, key);
        else if (PyErr_Occurred())
            rc = -1;
    }
    Py_DECREF(key);
    return rc;
}

/* The SET loop of run_set and run_set_flat from request j: j'. */
static PyObject *
set_run(PyObject *data, PyObject *expires, const Source *src, Py_ssize_t j, PyObject *replies,
        PyObject *ok)
{
    PyObject *dicts[2] = {data, expires};
    Py_ssize_t wend = j;

    for (;; j++) {
        if (j >= wend) {
            wend = j + WARM_WINDOW;
            prefetch_source(dicts, PyDict_GET_SIZE(expires) ? 2 : 1, src, j, wend);
        }
        /* re-read each time: a destructor run by kt_store (the old value's)
         * may change the items or the run */
        PyObject *key = source_arg(src, j, 1);
        PyObject *value = key == NULL ? NULL : source_arg(src, j, 2);
        if (value == NULL)
            break;
        if (set_one((KeyTableObject *)data, expires, key, value) < 0
                || PyList_Append(replies, ok) < 0)
            return NULL;
    }
    return PyLong_FromSsize_t(j);
}

/* run_set: server.commands.strings.run_set's loop in C (that function
 * checks first that no client blocks on a key and no connection WATCHes
 * one, and keeps the Python loop as the fallback and specification):
 * execute items[i:j], consecutive plain SETs (item[0] is `handler`, no
 * sink, argv [name, key, value] with a bytes key), storing each value with
 * the table's clock as its stamp, dropping the key's TTL, and appending
 * `ok` to `replies`; stop at the first other item.  Returns j.  An
 * exception (MemoryError growing the table) propagates after the items
 * before it were stored and answered; the caller drops the replies and
 * redoes those commands (storing the same values again changes nothing). */
static PyObject *
run_set(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    Py_ssize_t i;
    if (!runner_args("run_set", "(data, expires, items, i, replies, handler, ok)",
                     args, nargs, 7, &i))
        return NULL;
    Source src = {args[2], args[5], 0};
    return set_run(args[0], args[1], &src, i < 0 ? 0 : i, args[4], args[6]);
}

/* run_set_flat: run_set for a flat run: request r is SET flat[1 + 2r]
 * flat[2 + 2r].  Returns k, the requests answered (all of them but after
 * a key that is not bytes).  Exceptions as run_set's. */
static PyObject *
run_set_flat(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    Py_ssize_t n;
    if (!flat_args("run_set_flat", "(data, expires, flat, width, replies, ok)",
                   args, nargs, 6, 2, &n))
        return NULL;
    Source src = {args[2], NULL, 2};
    return set_run(args[0], args[1], &src, 0, args[4], args[5]);
}

static PyMethodDef methods[] = {
    {"warm", (PyCFunction)(void (*)(void))warm, METH_FASTCALL,
     "warm(dicts, items, start, stop): prefetch the dict entries that the\n"
     "keys of items[start:stop] (argv[1] of each batch item) will be looked\n"
     "up in; changes nothing."},
    {"run_get", (PyCFunction)(void (*)(void))run_get, METH_FASTCALL,
     "run_get(data, expires, items, i, replies, resp2, now_ms, handler)\n"
     "-> (j, hits): the GET runner's loop (see the module source)."},
    {"run_get_flat", (PyCFunction)(void (*)(void))run_get_flat, METH_FASTCALL,
     "run_get_flat(data, expires, flat, width, replies, resp2, now_ms) -> (k, hits): "
     "run_get over a flat run of GETs (width 1)."},
    {"run_set_flat", (PyCFunction)(void (*)(void))run_set_flat, METH_FASTCALL,
     "run_set_flat(data, expires, flat, width, replies, ok) -> k: run_set over a flat "
     "run of SETs (width 2)."},
    {"run_set", (PyCFunction)(void (*)(void))run_set, METH_FASTCALL,
     "run_set(data, expires, items, i, replies, handler, ok) -> j: the SET\n"
     "runner's loop (see the module source)."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "actors._runs",
    "The C side of the shard's runners (warm, run_get, run_set) and the keyspace's table "
    "(KeyTable).",
    -1, methods,
};

PyMODINIT_FUNC
PyInit__runs(void)
{
    if (null2 == NULL) {
        null2 = PyBytes_FromString("$-1\r\n");
        null3 = PyBytes_FromString("_\r\n");
        if (null2 == NULL || null3 == NULL)
            return NULL;
    }
    if (PyType_Ready(&KeyTable_Type) < 0 || PyType_Ready(&KTIter_Type) < 0)
        return NULL;
    PyObject *m = PyModule_Create(&module);
    if (m != NULL && (PyModule_AddIntConstant(m, "ACTIVE", WARM_LAYOUT) < 0
                      || PyModule_AddIntConstant(m, "WARM_MIN_KEYS", WARM_MIN_KEYS) < 0
                      || PyModule_AddObjectRef(m, "KeyTable", (PyObject *)&KeyTable_Type) < 0)) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
