/* actors._runs.KeyTable: a keyspace's table, key -> value with each key's
 * LRU clock in the same slot.  The Python interface and its specification
 * are actors/keytable.py (PyKeyTable); tests/test_keytable.py holds this
 * implementation to it.  Included once, by actors/_runs.c (the GET loop
 * there reads slots directly).
 *
 * Layout: open addressing with linear probing over a power-of-two array of
 * 32-byte slots {hash, key, value, lru}.  An empty slot has key == NULL.
 * The home of a key is hash & mask; a key sits at its home or after it with
 * no empty slot in between (the probe invariant).  Deletion keeps that
 * invariant by shifting later members of the cluster back (no tombstones),
 * so a lookup stops at the first empty slot.  The table grows (doubles) when
 * more than 2/3 full and halves when under 1/8 full, never below MIN_SLOTS.
 *
 * Keys are bytes (PyBytes_Check); their hash is bytes' own (cached in the
 * object), and two keys are equal when the same object or of the same hash,
 * length and contents: no Python code runs during a probe, so the table
 * cannot change under one.  A non-bytes lookup key finds nothing.
 *
 * References: the table owns one reference to each key and value.  It is
 * not tracked by the cyclic GC: values never refer back to their table, and
 * objects reachable only through the table are kept alive by it, exactly as
 * their refcounts say.
 *
 * `version` counts structural changes (a key added or removed, a resize, a
 * clear); iterators compare it to refuse a changed table, as dict's do. */

#include <structmember.h>

#define KT_MIN_SLOTS 8

typedef struct {
    Py_hash_t hash;
    PyObject *key;          /* NULL: empty */
    PyObject *value;
    uint32_t lru;
    uint32_t _pad;
} KTSlot;

typedef struct {
    PyObject_HEAD
    KTSlot *slots;
    size_t mask;            /* number of slots - 1 */
    Py_ssize_t used;
    uint64_t version;
    uint32_t clock;
} KeyTableObject;

static PyTypeObject KeyTable_Type;
#define KeyTable_Check(o) (Py_TYPE(o) == &KeyTable_Type)

/* KeyError(key) whatever key is (a tuple key stays one argument, as with
 * dict's _PyErr_SetKeyError). */
static void
kt_key_error(PyObject *key)
{
    PyObject *args = PyTuple_Pack(1, key);
    if (args != NULL) {
        PyErr_SetObject(PyExc_KeyError, args);
        Py_DECREF(args);
    }
}

static inline int
kt_same(const KTSlot *s, PyObject *key, Py_hash_t h)
{
    if (s->key == key)
        return 1;
    if (s->hash != h)
        return 0;
    Py_ssize_t n = PyBytes_GET_SIZE(key);
    return PyBytes_GET_SIZE(s->key) == n
        && memcmp(PyBytes_AS_STRING(s->key), PyBytes_AS_STRING(key), n) == 0;
}

/* The slot holding key, or NULL.  key must be bytes, h its hash. */
static inline KTSlot *
kt_find(KeyTableObject *t, PyObject *key, Py_hash_t h)
{
    size_t i = (size_t)h & t->mask;
    for (;;) {
        KTSlot *s = &t->slots[i];
        if (s->key == NULL)
            return NULL;
        if (kt_same(s, key, h))
            return s;
        i = (i + 1) & t->mask;
    }
}

/* key's hash if it is bytes; -1 (no error set) if it is not, -1 with an
 * error if hashing failed. */
static inline Py_hash_t
kt_hash(PyObject *key)
{
    if (!PyBytes_Check(key))
        return -1;
    return PyObject_Hash(key);
}

/* The slot for key (NULL: not there; NULL with an error set: failure). */
static KTSlot *
kt_lookup(KeyTableObject *t, PyObject *key)
{
    Py_hash_t h = kt_hash(key);
    if (h == -1)
        return NULL;
    return kt_find(t, key, h);
}

static KTSlot *
kt_alloc(size_t n)
{
    KTSlot *s = PyMem_Calloc(n, sizeof(KTSlot));
    if (s == NULL)
        PyErr_NoMemory();
    return s;
}

/* A clock value: an int in [0, 2**32) (OverflowError otherwise, as for a
 * negative one). */
static int
kt_clock_arg(PyObject *o, uint32_t *out)
{
    unsigned long c = PyLong_AsUnsignedLong(o);
    if (c == (unsigned long)-1 && PyErr_Occurred())
        return -1;
    if (c > UINT32_MAX) {
        PyErr_SetString(PyExc_OverflowError, "a KeyTable clock is below 2**32");
        return -1;
    }
    *out = (uint32_t)c;
    return 0;
}

/* Rehash into n slots (a power of two that holds `used` under 2/3). */
static int
kt_resize(KeyTableObject *t, size_t n)
{
    KTSlot *old = t->slots, *ns = kt_alloc(n);
    size_t oldn = t->mask + 1, mask = n - 1;
    if (ns == NULL)
        return -1;
    for (size_t i = 0; i < oldn; i++) {
        if (old[i].key == NULL)
            continue;
        size_t j = (size_t)old[i].hash & mask;
        while (ns[j].key != NULL)
            j = (j + 1) & mask;
        ns[j] = old[i];
    }
    PyMem_Free(old);
    t->slots = ns;
    t->mask = mask;
    t->version++;
    return 0;
}

/* Store value under key (new references taken), stamping `lru`.  0 or -1. */
static int
kt_store(KeyTableObject *t, PyObject *key, Py_hash_t h, PyObject *value, uint32_t lru)
{
    size_t i = (size_t)h & t->mask;
    for (;;) {
        KTSlot *s = &t->slots[i];
        if (s->key == NULL)
            break;
        if (kt_same(s, key, h)) {
            PyObject *old = s->value;
            s->value = Py_NewRef(value);
            s->lru = lru;
            Py_DECREF(old);      /* last: a destructor may run Python code */
            return 0;
        }
        i = (i + 1) & t->mask;
    }
    if ((size_t)(t->used + 1) * 3 > (t->mask + 1) * 2) {
        if (kt_resize(t, (t->mask + 1) * 2) < 0)
            return -1;
        i = (size_t)h & t->mask;
        while (t->slots[i].key != NULL)
            i = (i + 1) & t->mask;
    }
    KTSlot *s = &t->slots[i];
    s->hash = h;
    s->key = Py_NewRef(key);
    s->value = Py_NewRef(value);
    s->lru = lru;
    t->used++;
    t->version++;
    return 0;
}

/* Empty slot s (its references are the caller's now) and shift the rest of
 * its cluster back so that every key stays reachable from its home. */
static void
kt_unlink(KeyTableObject *t, KTSlot *s)
{
    size_t mask = t->mask, i = (size_t)(s - t->slots), j = i;
    for (;;) {
        j = (j + 1) & mask;
        KTSlot *n = &t->slots[j];
        if (n->key == NULL)
            break;
        size_t home = (size_t)n->hash & mask;
        /* n may move to i unless its home lies cyclically in (i, j] */
        if (i <= j ? (home <= i || home > j) : (home <= i && home > j)) {
            t->slots[i] = *n;
            i = j;
        }
    }
    t->slots[i].key = NULL;
    t->slots[i].value = NULL;
    t->used--;
    t->version++;
}

/* After removals: halve while under 1/8 full.  A failed shrink is not an
 * error (the table stays larger). */
static void
kt_maybe_shrink(KeyTableObject *t)
{
    size_t n = t->mask + 1;
    if (n <= KT_MIN_SLOTS || (size_t)t->used * 8 >= n)
        return;
    while (n > KT_MIN_SLOTS && (size_t)t->used * 8 < n)
        n /= 2;
    if (n < KT_MIN_SLOTS)
        n = KT_MIN_SLOTS;
    if (kt_resize(t, n) < 0)
        PyErr_Clear();
}

/* ---------------------------------------------------------------- type */

static PyObject *
kt_new(PyTypeObject *type, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"clock", NULL};
    PyObject *clock_arg = NULL;
    uint32_t clock = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "|O:KeyTable", kwlist, &clock_arg))
        return NULL;
    if (clock_arg != NULL && kt_clock_arg(clock_arg, &clock) < 0)
        return NULL;
    KeyTableObject *t = (KeyTableObject *)type->tp_alloc(type, 0);
    if (t == NULL)
        return NULL;
    t->slots = kt_alloc(KT_MIN_SLOTS);
    if (t->slots == NULL) {
        Py_DECREF(t);
        return NULL;
    }
    t->mask = KT_MIN_SLOTS - 1;
    t->clock = clock;
    return (PyObject *)t;
}

/* Release every reference; the table is left empty with `slots` of n. */
static void
kt_release(KTSlot *slots, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        Py_XDECREF(slots[i].key);
        Py_XDECREF(slots[i].value);
    }
    PyMem_Free(slots);
}

static void
kt_dealloc(KeyTableObject *t)
{
    if (t->slots != NULL)
        kt_release(t->slots, t->mask + 1);
    Py_TYPE(t)->tp_free((PyObject *)t);
}

static Py_ssize_t
kt_len(KeyTableObject *t)
{
    return t->used;
}

static PyObject *
kt_getitem(KeyTableObject *t, PyObject *key)
{
    KTSlot *s = kt_lookup(t, key);
    if (s == NULL) {
        if (!PyErr_Occurred())
            kt_key_error(key);
        return NULL;
    }
    return Py_NewRef(s->value);
}

/* Remove key; its references are released last.  1 removed, 0 missing,
 * -1 error.  *value_out (if given) receives the value's reference. */
static int
kt_remove(KeyTableObject *t, PyObject *key, PyObject **value_out)
{
    KTSlot *s = kt_lookup(t, key);
    if (s == NULL)
        return PyErr_Occurred() ? -1 : 0;
    PyObject *k = s->key, *v = s->value;
    kt_unlink(t, s);
    kt_maybe_shrink(t);
    Py_DECREF(k);
    if (value_out != NULL)
        *value_out = v;
    else
        Py_DECREF(v);
    return 1;
}

static int
kt_ass_subscript(KeyTableObject *t, PyObject *key, PyObject *value)
{
    if (value == NULL) {
        int r = kt_remove(t, key, NULL);
        if (r == 0)
            kt_key_error(key);
        return r > 0 ? 0 : -1;
    }
    if (!PyBytes_Check(key)) {
        PyErr_SetString(PyExc_TypeError, "KeyTable keys must be bytes");
        return -1;
    }
    Py_hash_t h = PyObject_Hash(key);
    if (h == -1)
        return -1;
    return kt_store(t, key, h, value, t->clock);
}

static int
kt_contains(KeyTableObject *t, PyObject *key)
{
    if (kt_lookup(t, key) != NULL)
        return 1;
    return PyErr_Occurred() ? -1 : 0;
}

static PyObject *
kt_get(KeyTableObject *t, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs < 1 || nargs > 2) {
        PyErr_SetString(PyExc_TypeError, "get(key, default=None)");
        return NULL;
    }
    KTSlot *s = kt_lookup(t, args[0]);
    if (s != NULL)
        return Py_NewRef(s->value);
    if (PyErr_Occurred())
        return NULL;
    return Py_NewRef(nargs == 2 ? args[1] : Py_None);
}

static PyObject *
kt_touch(KeyTableObject *t, PyObject *key)
{
    KTSlot *s = kt_lookup(t, key);
    if (s != NULL) {
        s->lru = t->clock;
        return Py_NewRef(s->value);
    }
    if (PyErr_Occurred())
        return NULL;
    Py_RETURN_NONE;
}

static PyObject *
kt_lru(KeyTableObject *t, PyObject *key)
{
    KTSlot *s = kt_lookup(t, key);
    if (s != NULL)
        return PyLong_FromUnsignedLong(s->lru);
    if (PyErr_Occurred())
        return NULL;
    Py_RETURN_NONE;
}

static PyObject *
kt_set_lru(KeyTableObject *t, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "set_lru(key, clock)");
        return NULL;
    }
    uint32_t c;
    if (kt_clock_arg(args[1], &c) < 0)
        return NULL;
    KTSlot *s = kt_lookup(t, args[0]);
    if (s == NULL) {
        if (PyErr_Occurred())
            return NULL;
        Py_RETURN_FALSE;
    }
    s->lru = c;
    Py_RETURN_TRUE;
}

static PyObject *
kt_pop(KeyTableObject *t, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs < 1 || nargs > 2) {
        PyErr_SetString(PyExc_TypeError, "pop(key[, default])");
        return NULL;
    }
    PyObject *v;
    int r = kt_remove(t, args[0], &v);
    if (r > 0)
        return v;
    if (r < 0)
        return NULL;
    if (nargs == 2)
        return Py_NewRef(args[1]);
    kt_key_error(args[0]);
    return NULL;
}

static PyObject *
kt_clear(KeyTableObject *t, PyObject *unused)
{
    KTSlot *fresh = kt_alloc(KT_MIN_SLOTS), *old = t->slots;
    if (fresh == NULL)
        return NULL;
    size_t n = t->mask + 1;
    t->slots = fresh;
    t->mask = KT_MIN_SLOTS - 1;
    t->used = 0;
    t->version++;
    kt_release(old, n);      /* after: destructors see an empty table */
    Py_RETURN_NONE;
}

/* The keys, values and/or clock stamps (any out pointer may be NULL) as
 * lists of one scan: new references.  The scan allocates no object the
 * garbage collector tracks (the lists come first; a stamp's int is not
 * tracked), so no collection, and so no Python code, can change the table
 * in the middle; items(), copy() and stamps() build their tuples or dicts
 * afterwards, from the lists. */
static int
kt_pairs(KeyTableObject *t, PyObject **keys, PyObject **values, PyObject **lrus)
{
    PyObject *k = keys ? PyList_New(t->used) : NULL;
    PyObject *v = values ? PyList_New(t->used) : NULL;
    PyObject *c = lrus ? PyList_New(t->used) : NULL;
    int failed = (keys && k == NULL) || (values && v == NULL) || (lrus && c == NULL);
    Py_ssize_t n = 0;
    for (size_t i = 0; !failed && i <= t->mask; i++) {
        KTSlot *s = &t->slots[i];
        if (s->key == NULL)
            continue;
        if (k != NULL)
            PyList_SET_ITEM(k, n, Py_NewRef(s->key));
        if (v != NULL)
            PyList_SET_ITEM(v, n, Py_NewRef(s->value));
        if (c != NULL) {
            PyObject *stamp = PyLong_FromUnsignedLong(s->lru);
            failed = stamp == NULL;
            PyList_SET_ITEM(c, n, stamp);       /* (a NULL item is fine to free) */
        }
        n++;
    }
    if (failed) {
        Py_XDECREF(k);
        Py_XDECREF(v);
        Py_XDECREF(c);
        return -1;
    }
    if (keys)
        *keys = k;
    if (values)
        *values = v;
    if (lrus)
        *lrus = c;
    return 0;
}

static PyObject *
kt_keys(KeyTableObject *t, PyObject *u)
{
    PyObject *keys;
    return kt_pairs(t, &keys, NULL, NULL) < 0 ? NULL : keys;
}

static PyObject *
kt_values(KeyTableObject *t, PyObject *u)
{
    PyObject *values;
    return kt_pairs(t, NULL, &values, NULL) < 0 ? NULL : values;
}

static PyObject *
kt_items(KeyTableObject *t, PyObject *unused)
{
    PyObject *keys, *values;
    if (kt_pairs(t, &keys, &values, NULL) < 0)
        return NULL;
    Py_ssize_t n = PyList_GET_SIZE(keys);
    PyObject *out = PyList_New(n);
    for (Py_ssize_t i = 0; out != NULL && i < n; i++) {
        PyObject *pair = PyTuple_Pack(2, PyList_GET_ITEM(keys, i), PyList_GET_ITEM(values, i));
        if (pair == NULL)
            Py_CLEAR(out);
        else
            PyList_SET_ITEM(out, i, pair);
    }
    Py_DECREF(keys);
    Py_DECREF(values);
    return out;
}

/* A plain dict of every key and its value (copy) or clock stamp (stamps). */
static PyObject *
kt_dict(KeyTableObject *t, int stamps)
{
    PyObject *keys, *vals;
    if (kt_pairs(t, &keys, stamps ? NULL : &vals, stamps ? &vals : NULL) < 0)
        return NULL;
    PyObject *d = PyDict_New();
    for (Py_ssize_t i = 0; d != NULL && i < PyList_GET_SIZE(keys); i++) {
        if (PyDict_SetItem(d, PyList_GET_ITEM(keys, i), PyList_GET_ITEM(vals, i)) < 0)
            Py_CLEAR(d);
    }
    Py_DECREF(keys);
    Py_DECREF(vals);
    return d;
}

static PyObject *
kt_copy(KeyTableObject *t, PyObject *unused)
{
    return kt_dict(t, 0);
}

/* {key: stamp} of every key: a snapshot's LRU idle times. */
static PyObject *
kt_stamps(KeyTableObject *t, PyObject *unused)
{
    return kt_dict(t, 1);
}

static PyObject *
kt_sizeof(KeyTableObject *t, PyObject *unused)
{
    return PyLong_FromSize_t(sizeof(KeyTableObject) + (t->mask + 1) * sizeof(KTSlot));
}

static PyObject *
kt_repr(KeyTableObject *t)
{
    return PyUnicode_FromFormat("<KeyTable of %zd keys>", t->used);
}

static PyObject *
kt_get_clock(KeyTableObject *t, void *unused)
{
    return PyLong_FromUnsignedLong(t->clock);
}

static int
kt_set_clock(KeyTableObject *t, PyObject *v, void *unused)
{
    if (v == NULL) {
        PyErr_SetString(PyExc_TypeError, "cannot delete clock");
        return -1;
    }
    return kt_clock_arg(v, &t->clock);
}

/* ---------------------------------------------------------------- iterator */

typedef struct {
    PyObject_HEAD
    KeyTableObject *table;     /* NULL once exhausted */
    size_t pos;
    uint64_t version;
} KTIterObject;

static PyTypeObject KTIter_Type;

static PyObject *
kt_iter(KeyTableObject *t)
{
    KTIterObject *it = PyObject_New(KTIterObject, &KTIter_Type);
    if (it == NULL)
        return NULL;
    it->table = (KeyTableObject *)Py_NewRef(t);
    it->pos = 0;
    it->version = t->version;
    return (PyObject *)it;
}

static PyObject *
ktiter_next(KTIterObject *it)
{
    KeyTableObject *t = it->table;
    if (t == NULL)
        return NULL;
    if (t->version != it->version) {
        PyErr_SetString(PyExc_RuntimeError, "KeyTable changed size during iteration");
        return NULL;
    }
    for (; it->pos <= t->mask; it->pos++) {
        KTSlot *s = &t->slots[it->pos];
        if (s->key != NULL) {
            it->pos++;
            return Py_NewRef(s->key);
        }
    }
    it->table = NULL;
    Py_DECREF(t);
    return NULL;
}

static void
ktiter_dealloc(KTIterObject *it)
{
    Py_XDECREF(it->table);
    PyObject_Free(it);
}

static PyTypeObject KTIter_Type = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "actors._runs.KeyTableIterator",
    .tp_basicsize = sizeof(KTIterObject),
    .tp_dealloc = (destructor)ktiter_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_iter = PyObject_SelfIter,
    .tp_iternext = (iternextfunc)ktiter_next,
};

/* ---------------------------------------------------------------- tables */

static PyMappingMethods kt_as_mapping = {
    .mp_length = (lenfunc)kt_len,
    .mp_subscript = (binaryfunc)kt_getitem,
    .mp_ass_subscript = (objobjargproc)kt_ass_subscript,
};

static PySequenceMethods kt_as_sequence = {
    .sq_contains = (objobjproc)kt_contains,
};

static PyMethodDef kt_methods[] = {
    {"get", (PyCFunction)(void (*)(void))kt_get, METH_FASTCALL, "get(key, default=None)"},
    {"touch", (PyCFunction)kt_touch, METH_O,
     "touch(key): the value or None; a present key is stamped with clock"},
    {"lru", (PyCFunction)kt_lru, METH_O, "lru(key): the key's clock stamp, None if missing"},
    {"set_lru", (PyCFunction)(void (*)(void))kt_set_lru, METH_FASTCALL,
     "set_lru(key, clock) -> bool: restamp a present key"},
    {"pop", (PyCFunction)(void (*)(void))kt_pop, METH_FASTCALL, "pop(key[, default])"},
    {"clear", (PyCFunction)kt_clear, METH_NOARGS, "remove every key"},
    {"keys", (PyCFunction)kt_keys, METH_NOARGS, "a list of the keys"},
    {"values", (PyCFunction)kt_values, METH_NOARGS, "a list of the values"},
    {"items", (PyCFunction)kt_items, METH_NOARGS, "a list of (key, value)"},
    {"copy", (PyCFunction)kt_copy, METH_NOARGS, "a plain dict of the same items"},
    {"stamps", (PyCFunction)kt_stamps, METH_NOARGS, "a dict of every key's clock stamp"},
    {"__sizeof__", (PyCFunction)kt_sizeof, METH_NOARGS, NULL},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef kt_getset[] = {
    {"clock", (getter)kt_get_clock, (setter)kt_set_clock,
     "the LRU clock stamped on stores and touches", NULL},
    {NULL},
};

static PyTypeObject KeyTable_Type = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "actors._runs.KeyTable",
    .tp_doc = "KeyTable(clock=0): a keyspace's table (actors/keytable.py)",
    .tp_basicsize = sizeof(KeyTableObject),
    .tp_dealloc = (destructor)kt_dealloc,
    .tp_repr = (reprfunc)kt_repr,
    .tp_as_sequence = &kt_as_sequence,
    .tp_as_mapping = &kt_as_mapping,
    .tp_hash = PyObject_HashNotImplemented,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_iter = (getiterfunc)kt_iter,
    .tp_methods = kt_methods,
    .tp_getset = kt_getset,
    .tp_new = kt_new,
};
