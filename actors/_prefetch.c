/* actors._prefetch: bring a run of keys' dict entries into cache before the
 * shard's runner looks them up (docs/performance.md, "Prefetching a run's
 * keys").
 *
 *   warm(dicts, items, start, stop) -> None
 *
 * For each batch item items[start:stop] of the form (handler, argv, ...)
 * whose argv[1] is a bytes key, and for each dict in the tuple `dicts`
 * (a keyspace's data, atime, expires), issue CPU prefetches for what a
 * lookup of that key will read: the first probe slot of the index table,
 * then the entry it names, then the entry's key object (compared with the
 * looked-up key) and, for the first dict, its value.  Each stage runs over
 * the whole window before the next, so the cache misses of up to `stop -
 * start` keys are in flight together instead of one after another (the
 * runner's loop stalls on each miss in turn: with 100,000 random keys, most
 * of a GET's time).
 *
 * It changes nothing: no reference is taken or released, no Python code
 * runs (a bytes key's hash is computed in C and cached, as the lookup would
 * do), nothing is written.  A prefetch is only a hint and never faults; the
 * loads that pick the next address (index slot, entry) stay inside the
 * dict's own tables.  Anything unexpected (not an exact dict, a dict of
 * str-only keys, an item of another shape, a non-bytes key) is skipped.
 *
 * The table layout read here is CPython 3.11's (Include/internal/
 * pycore_dict.h); on any other version warm() is a no-op, so the result is
 * the same everywhere and only the speed differs.
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
#define MAX_DICTS 4

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

static inline const void *
index_addr(const PyDictKeysObject *dk, size_t i)
{
    int log2 = dk->dk_log2_size;
    size_t width = log2 < 8 ? 1 : log2 < 16 ? 2 : log2 < 32 ? 4 : 8;
    return dk->dk_indices + i * width;
}
#endif

static PyObject *
warm(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 4) {
        PyErr_SetString(PyExc_TypeError, "warm(dicts, items, start, stop)");
        return NULL;
    }
    PyObject *dicts = args[0], *items = args[1];
    if (!PyTuple_Check(dicts) || !PyList_Check(items)) {
        PyErr_SetString(PyExc_TypeError, "warm(dicts: tuple, items: list, start, stop)");
        return NULL;
    }
    Py_ssize_t start = PyLong_AsSsize_t(args[2]);
    if (start == -1 && PyErr_Occurred())
        return NULL;
    Py_ssize_t stop = PyLong_AsSsize_t(args[3]);
    if (stop == -1 && PyErr_Occurred())
        return NULL;
#if WARM_LAYOUT
    Py_ssize_t n = PyList_GET_SIZE(items);
    if (start < 0)
        start = 0;
    if (stop > n)
        stop = n;
    if (stop - start > MAX_WINDOW)
        stop = start + MAX_WINDOW;
    if (stop <= start)
        Py_RETURN_NONE;

    PyDictKeysObject *tables[MAX_DICTS];
    int nd = 0;
    for (Py_ssize_t d = 0; d < PyTuple_GET_SIZE(dicts) && nd < MAX_DICTS; d++) {
        PyObject *o = PyTuple_GET_ITEM(dicts, d);
        if (!PyDict_CheckExact(o))
            continue;
        PyDictObject *mp = (PyDictObject *)o;
        /* a general table (bytes keys), combined, and not empty */
        if (mp->ma_values != NULL || mp->ma_used == 0 || mp->ma_keys->dk_kind != DICT_KEYS_GENERAL)
            continue;
        tables[nd++] = mp->ma_keys;
    }
    if (nd == 0)
        Py_RETURN_NONE;

    /* stage 1: hash each key, prefetch its first index slot in every table */
    Py_hash_t hashes[MAX_WINDOW];
    int nk = 0;
    for (Py_ssize_t i = start; i < stop; i++) {
        PyObject *item = PyList_GET_ITEM(items, i);
        if (!PyTuple_CheckExact(item) || PyTuple_GET_SIZE(item) < 2)
            continue;
        PyObject *argv = PyTuple_GET_ITEM(item, 1);
        if (!PyList_CheckExact(argv) || PyList_GET_SIZE(argv) < 2)
            continue;
        PyObject *key = PyList_GET_ITEM(argv, 1);
        if (!PyBytes_CheckExact(key))
            continue;
        Py_hash_t h = PyObject_Hash(key);     /* bytes: cannot fail, cached */
        hashes[nk++] = h;
        for (int d = 0; d < nd; d++) {
            size_t mask = ((size_t)1 << tables[d]->dk_log2_size) - 1;
            __builtin_prefetch(index_addr(tables[d], (size_t)h & mask));
        }
    }
    /* stage 2: the entry each slot names (a key of the same slot: the first
     * probe finds the looked-up key unless it collided) */
    for (int d = 0; d < nd; d++) {
        PyDictKeysObject *dk = tables[d];
        size_t mask = ((size_t)1 << dk->dk_log2_size) - 1;
        PyDictKeyEntry *ep0 = DK_ENTRIES(dk);
        for (int k = 0; k < nk; k++) {
            Py_ssize_t ix = index_at(dk, (size_t)hashes[k] & mask);
            if (ix >= 0 && ix < dk->dk_nentries)
                __builtin_prefetch(&ep0[ix]);
        }
    }
    /* stage 3: the entry's key object (compared unless it is the same
     * object) and, in the first table (the data), the value */
    for (int d = 0; d < nd; d++) {
        PyDictKeysObject *dk = tables[d];
        size_t mask = ((size_t)1 << dk->dk_log2_size) - 1;
        PyDictKeyEntry *ep0 = DK_ENTRIES(dk);
        for (int k = 0; k < nk; k++) {
            Py_ssize_t ix = index_at(dk, (size_t)hashes[k] & mask);
            if (ix >= 0 && ix < dk->dk_nentries) {
                PyDictKeyEntry *ep = &ep0[ix];
                if (ep->me_hash == hashes[k]) {
                    __builtin_prefetch(ep->me_key);
                    if (d == 0)
                        __builtin_prefetch(ep->me_value);
                }
            }
        }
    }
#else
    (void)dicts;
    (void)items;
#endif
    Py_RETURN_NONE;
}

static PyMethodDef methods[] = {
    {"warm", (PyCFunction)(void (*)(void))warm, METH_FASTCALL,
     "warm(dicts, items, start, stop): prefetch the dict entries that the\n"
     "keys of items[start:stop] (argv[1] of each batch item) will be looked\n"
     "up in; changes nothing."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "actors._prefetch",
    "Cache prefetching of a run's keys (see warm).", -1, methods,
};

PyMODINIT_FUNC
PyInit__prefetch(void)
{
    PyObject *m = PyModule_Create(&module);
    if (m != NULL && PyModule_AddIntConstant(m, "ACTIVE", WARM_LAYOUT) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
