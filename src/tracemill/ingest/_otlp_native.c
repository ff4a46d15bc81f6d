/* Optional C fast path for OTLP/JSON lines: each line parsed with yyjson and its spans mapped onto frozen
 * ``Span``s, and the spans turned into the loader's Arrow columns.
 *
 * map_line() does what ``orjson.loads`` + ``otlp_json.request_items`` (``span_item`` + ``semconv.map_span``)
 * + ``loader._freeze`` do, for the common shape only: a GenAI-convention span whose events (if any) are
 * exceptions or evaluation results, with lowercase hex ids, plain attribute values and GenAI parts-based
 * messages. It reads yyjson's values in place: Python
 * objects are made only for the Span's own fields, and the JSON columns (raw, attributes, messages) are
 * written here as orjson writes them. Anything else (OpenInference, Vercel, deprecated forms, evaluation
 * attributes, odd types, repeated keys, any error) is *declined*: the Python path (otlp_json.span_item)
 * maps that span, so its results and its quarantine reasons stay the reference. A line it cannot take as a
 * whole (not JSON, or a request of another shape) is left to the caller. Value rules that are not plain
 * (token coercion, tags, JSON sniffing, message shapes off the fast path) call the Python helpers
 * themselves, so they cannot drift. tests/test_native_parity.py checks both paths agree.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <structmember.h>
#include <stdlib.h>
#include <stdint.h>
#include <string.h>
#include <limits.h>

/* yyjson (MIT, vendored unchanged in _vendor/yyjson) reads the lines. Its symbols stay inside
 * this module, away from the copy other extensions (orjson) may carry. */
#define YYJSON_DISABLE_WRITER 1
#define YYJSON_DISABLE_UTILS 1
#define yyjson_api __attribute__((visibility("hidden")))
#include "_vendor/yyjson/yyjson.c"

/* -- configuration (set once by setup()) ------------------------------------------------------------ */

static PyObject *f_dumps, *f_loads, *f_int, *f_float, *f_str, *f_tags, *f_maybe_json, *f_normalize,
    *f_render, *f_json_text, *f_observe, *f_tool_call, *f_eval_fb;
static PyObject *kind_map, *status_map, *role_aliases, *fast_keys, *decline_prefixes, *decline_keys;
static PyTypeObject *span_type;
static PyObject *descrs;           /* tuple of the Span slot descriptors, in field order */
static PyObject *kw_default;       /* ("default",) */
static PyObject *roles_user, *roles_assistant, *roles_input;
static int configured = 0;
static int decline_line = 0;   /* where the last span was declined: for tests and diagnosis */
static int debug = 0;          /* TRACEMILL_NATIVE_DEBUG set: print the error behind a decline */
#define DECLINE do { decline_line = __LINE__; goto decline; } while (0)

#define NFIELDS 32
static Py_ssize_t slot_off[NFIELDS];    /* their slots' offsets in a Span (checked to be plain object slots) */
#define SLOT(obj, i) (*(PyObject **)((char *)(obj) + slot_off[i]))   /* borrowed; NULL = unset */
enum {
    S_TRACE_ID, S_SPAN_ID, S_SOURCE, S_PARENT, S_NAME, S_KIND, S_START, S_END, S_STATUS_CODE, S_STATUS_MSG,
    S_MODEL, S_PROVIDER, S_IN_TOK, S_OUT_TOK, S_TOTAL_TOK, S_COST, S_IN_TEXT, S_OUT_TEXT, S_IN_MSGS,
    S_OUT_MSGS, S_TOOL_NAME, S_TOOL_ID, S_TOOL_ARGS, S_TOOL_RES, S_USER, S_SESSION, S_TAGS, S_ENV,
    S_VERSION, S_SERVICE, S_ATTRS, S_RAW
};

/* semconv._FIELDS order */
enum { F_MODEL, F_PROVIDER, F_IN, F_OUT, F_TOTAL, F_COST, F_SESSION, F_TOOL_NAME, F_TOOL_ID, F_TOOL_ARGS,
       F_TOOL_RES, F_USER, F_TAGS, F_ENV, F_VERSION, F_SERVICE, NF };

#define K_INERT (-1)
#define K_DECLINE (-2)
#define K_MSG_IN (-3)
#define K_MSG_OUT (-4)

static PyObject *s_name, *s_role, *s_content, *s_id, *s_arguments, *s_tool_calls, *s__traces, *s_user,
    *s_assistant, *s_tool, *s_llm, *s_unknown, *s_unset, *s_error;

/* -- small helpers ------------------------------------------------------------------------------------ */

/* Borrowed d[k] or NULL (no error set on a miss; -1/error means decline). */
static inline PyObject *dget(PyObject *d, PyObject *k) { return PyDict_GetItemWithError(d, k); }

static PyObject *call1(PyObject *f, PyObject *a) { return PyObject_CallOneArg(f, a); }

/* str(v) for a non-None value, new ref. */
static PyObject *as_str(PyObject *v) {
    if (v == NULL || v == Py_None) Py_RETURN_NONE;
    if (PyUnicode_CheckExact(v)) return Py_NewRef(v);
    return PyObject_Str(v);
}

/* semconv._str: None -> None, str -> itself, else compact JSON. */
static PyObject *json_str(PyObject *v) {
    if (v == NULL || v == Py_None) Py_RETURN_NONE;
    if (PyUnicode_CheckExact(v)) return Py_NewRef(v);
    return call1(f_str, v);
}

/* orjson.dumps(v, default=str): the JSON text as UTF-8 bytes (the column builder copies them as they are;
 * decoding them to str first would cost more than the rest of the copy). */
static PyObject *dumps_json(PyObject *v) {
    PyObject *args[2] = {v, (PyObject *)&PyUnicode_Type};
    return PyObject_Vectorcall(f_dumps, args, 1, kw_default);
}

/* semconv._int for the plain cases, the Python helper for the rest. */
static PyObject *to_int(PyObject *v) {
    if (v == NULL || v == Py_None) Py_RETURN_NONE;
    if (PyLong_CheckExact(v)) {
        int overflow = 0;
        long long x = PyLong_AsLongLongAndOverflow(v, &overflow);
        if (!overflow && x != LLONG_MIN) return Py_NewRef(v);
        if (x == -1 && PyErr_Occurred()) return NULL;
    }
    return call1(f_int, v);
}

/* semconv._maybe_json */
static PyObject *maybe_json(PyObject *v) {
    if (v == NULL || v == Py_None) Py_RETURN_NONE;
    if (!PyUnicode_CheckExact(v)) return Py_NewRef(v);
    return call1(f_maybe_json, v);
}

/* semconv.normalize_messages(value, role), for the message values fast_msg() does not take. */
static PyObject *normalize(PyObject *value, PyObject *role) {
    PyObject *args[2] = {value, role};
    return PyObject_Vectorcall(f_normalize, args, 2, NULL);
}

/* semconv._last_content: borrowed-free (new ref) result, Py_None when nothing matches. */
static PyObject *last_content(PyObject *msgs, PyObject *roles) {
    if (msgs == NULL || msgs == Py_None || !PyList_Check(msgs) || PyList_GET_SIZE(msgs) == 0) Py_RETURN_NONE;
    for (Py_ssize_t i = PyList_GET_SIZE(msgs) - 1; i >= 0; i--) {
        PyObject *m = PyList_GET_ITEM(msgs, i);
        if (!PyDict_Check(m)) return NULL;
        PyObject *role = dget(m, s_role);
        if (role == NULL && PyErr_Occurred()) return NULL;
        int hit = PySequence_Contains(roles, role ? role : Py_None);
        if (hit < 0) return NULL;
        if (!hit) continue;
        PyObject *c = dget(m, s_content);
        if (c != NULL) {
            int t = PyObject_IsTrue(c);
            if (t < 0) return NULL;
            if (t) return Py_NewRef(c);
        } else if (PyErr_Occurred()) {
            return NULL;
        }
        PyObject *tc = dget(m, s_tool_calls);
        if (tc != NULL) {
            int t = PyObject_IsTrue(tc);
            if (t < 0) return NULL;
            if (t) return call1(f_render, tc);
        } else if (PyErr_Occurred()) {
            return NULL;
        }
    }
    Py_RETURN_NONE;
}

/* -- the ToolCallTracker's records ------------------------------------------------------------------ */

static int check_ready(void) {
    if (!configured) PyErr_SetString(PyExc_RuntimeError, "_otlp_native.setup() was not called");
    return configured;
}

/* The tracker's entry of a trace (borrowed): ToolCallTracker._entry. NULL with an error on failure, NULL
 * without one when the entry is not the [next seq, executed, requests] list this code knows. */
static PyObject *trace_entry(PyObject *traces, PyObject *trace_id) {
    PyObject *e = dget(traces, trace_id);
    if (e == NULL) {
        if (PyErr_Occurred()) return NULL;
        if ((e = PyList_New(3)) == NULL) return NULL;
        PyObject *zero = PyLong_FromLong(0), *a = PyList_New(0), *b = PyList_New(0);
        if (zero == NULL || a == NULL || b == NULL) {
            Py_XDECREF(zero);
            Py_XDECREF(a);
            Py_XDECREF(b);
            Py_DECREF(e);
            return NULL;
        }
        PyList_SET_ITEM(e, 0, zero);
        PyList_SET_ITEM(e, 1, a);
        PyList_SET_ITEM(e, 2, b);
        int rc = PyDict_SetItem(traces, trace_id, e);
        Py_DECREF(e);
        if (rc < 0) return NULL;
    }
    if (!PyList_CheckExact(e) || PyList_GET_SIZE(e) != 3 || !PyLong_CheckExact(PyList_GET_ITEM(e, 0)) ||
        !PyList_CheckExact(PyList_GET_ITEM(e, 1)) || !PyList_CheckExact(PyList_GET_ITEM(e, 2)))
        return NULL;
    return e;
}

/* e[0] += 1; returns the old value (new ref). */
static PyObject *next_seq(PyObject *e) {
    PyObject *seq = Py_NewRef(PyList_GET_ITEM(e, 0));
    PyObject *one = PyLong_FromLong(1), *next = one ? PyNumber_Add(seq, one) : NULL;
    Py_XDECREF(one);
    if (next == NULL || PyList_SetItem(e, 0, next) < 0) {
        Py_DECREF(seq);
        return NULL;
    }
    return seq;
}

/* The tracker's entry of the span's trace (borrowed) and the span's reference (new): what a requested
 * call's record holds. 1 ok, 0 not the layout this code knows, -1 error. */
static int request_start(PyObject *traces, PyObject *span, PyObject **e, PyObject **ref) {
    if ((*e = trace_entry(traces, SLOT(span, S_TRACE_ID))) == NULL) return PyErr_Occurred() ? -1 : 0;
    PyObject *sid = SLOT(span, S_SPAN_ID), *src = SLOT(span, S_SOURCE), *end = SLOT(span, S_END);
    if (sid == NULL || src == NULL || end == NULL) return 0;
    *ref = PyTuple_Pack(3, sid, src, end);   /* not the span: the loader may mutate it */
    return *ref == NULL ? -1 : 1;
}

/* One requested call's record, (seq, ref, message index, call index, call), appended to e[2]. 0 / -1. */
static int add_request(PyObject *e, PyObject *ref, Py_ssize_t i, Py_ssize_t j, PyObject *call) {
    PyObject *seq = next_seq(e), *pi = PyLong_FromSsize_t(i), *pj = PyLong_FromSsize_t(j);
    PyObject *rec = (seq && pi && pj) ? PyTuple_Pack(5, seq, ref, pi, pj, call) : NULL;
    int rc = rec == NULL ? -1 : PyList_Append(PyList_GET_ITEM(e, 2), rec);
    Py_XDECREF(rec);
    Py_XDECREF(seq);
    Py_XDECREF(pi);
    Py_XDECREF(pj);
    return rc;
}

/* ToolCallTracker.observe(span, outm) for a span mapped here, on the tracker's ``_traces`` (the layout
 * semconv.ToolCallTracker documents): the same records, and the ToolCall of a tool span appended to
 * ``out``. 1 = done, 0 = a shape only the Python method takes (nothing changed), -1 = error. */
static int track(PyObject *out, PyObject *traces, PyObject *span, PyObject *outm) {
    PyObject *kind = SLOT(span, S_KIND), *tid = SLOT(span, S_TRACE_ID);
    if (kind == NULL || tid == NULL || !PyUnicode_CheckExact(kind)) return 0;
    if (PyUnicode_Compare(kind, s_tool) == 0) {
        PyObject *e = trace_entry(traces, tid);
        if (e == NULL) return PyErr_Occurred() ? -1 : 0;
        PyObject *name = SLOT(span, S_TOOL_NAME), *cid = SLOT(span, S_TOOL_ID);
        if (name == NULL || cid == NULL) return 0;
        int t = PyObject_IsTrue(name);
        if (t < 0) return -1;
        if (!t && (name = SLOT(span, S_NAME)) == NULL) return 0;
        PyObject *seq = next_seq(e);
        if (seq == NULL) return -1;
        PyObject *pair = PyTuple_Pack(2, cid, name);
        int rc = pair == NULL ? -1 : PyList_Append(PyList_GET_ITEM(e, 1), pair);
        Py_XDECREF(pair);
        PyObject *a[2] = {span, seq};
        PyObject *tc = rc < 0 ? NULL : PyObject_Vectorcall(f_tool_call, a, 2, NULL);
        Py_DECREF(seq);
        rc = tc == NULL ? -1 : PyList_Append(out, tc);
        Py_XDECREF(tc);
        return rc < 0 ? -1 : 1;
    }
    if (outm == NULL || outm == Py_None) return 1;
    if (!PyList_CheckExact(outm)) return 0;
    /* the requested calls: every message a dict, its tool_calls absent, None or a list */
    Py_ssize_t nreq = 0;
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(outm); i++) {
        PyObject *m = PyList_GET_ITEM(outm, i);
        if (!PyDict_CheckExact(m)) return 0;
        PyObject *tc = dget(m, s_tool_calls);
        if (tc == NULL) {
            if (PyErr_Occurred()) return -1;
            continue;
        }
        if (tc == Py_None) continue;
        if (!PyList_CheckExact(tc)) return 0;
        nreq += PyList_GET_SIZE(tc);
    }
    if (nreq == 0) return 1;
    PyObject *e, *ref;
    int rc = request_start(traces, span, &e, &ref);
    if (rc <= 0) return rc;
    rc = 0;
    for (Py_ssize_t i = 0; rc == 0 && i < PyList_GET_SIZE(outm); i++) {
        PyObject *tcs = dget(PyList_GET_ITEM(outm, i), s_tool_calls);
        if (tcs == NULL || tcs == Py_None) continue;
        for (Py_ssize_t j = 0; rc == 0 && j < PyList_GET_SIZE(tcs); j++) rc = add_request(e, ref, i, j, PyList_GET_ITEM(tcs, j));
    }
    Py_DECREF(ref);
    return rc < 0 ? -1 : 1;
}

static int append_call(PyObject *out, PyObject *observe, PyObject *span, PyObject *outm) {
    PyObject *a[2] = {span, outm};
    PyObject *tc = PyObject_Vectorcall(observe, a, outm ? 2 : 1, NULL);
    if (tc == NULL) return -1;
    int rc = tc == Py_None ? 0 : PyList_Append(out, tc);
    Py_DECREF(tc);
    return rc;
}


/* -- yyjson values ------------------------------------------------------------------------------------- */

static yyjson_alc *yy_alc;   /* reused between lines: no malloc per document */
#define YY_DEPTH 1024        /* orjson's nesting limit: a deeper document is rejected, as orjson rejects it */

/* Every container of the document nests at most YY_DEPTH deep (the values are stored in document order,
 * a container's offset pointing past its last descendant). */
static int yy_depth_ok(yyjson_doc *doc, size_t len) {
    if (len < 2 * YY_DEPTH) return 1;
    yyjson_val *v = yyjson_doc_get_root(doc), *end = v + yyjson_doc_get_val_count(doc);
    yyjson_val *stack[YY_DEPTH];
    int d = 0;
    for (; v < end; v++) {
        while (d && v >= stack[d - 1]) d--;
        if (unsafe_yyjson_is_ctn(v)) {
            if (d == YY_DEPTH) return 0;
            stack[d++] = unsafe_yyjson_get_next(v);
        }
    }
    return 1;
}

static yyjson_doc *yy_read(const char *s, size_t n) {
    yyjson_read_err err;
    yyjson_doc *doc = yyjson_read_opts((char *)s, n, YYJSON_READ_NOFLAG, yy_alc, &err);
    if (doc != NULL && !yy_depth_ok(doc, n)) {
        yyjson_doc_free(doc);
        return NULL;
    }
    return doc;
}

static int yy_key(yyjson_val *k, const char *s, size_t n) {
    return unsafe_yyjson_get_len(k) == n && memcmp(unsafe_yyjson_get_str(k), s, n) == 0;
}
#define YY_KEY(k, lit) yy_key(k, lit, sizeof(lit) - 1)

/* obj[key] when the key is there once; NULL when absent; *dup set when it is there more than once. */
static yyjson_val *yy_get(yyjson_val *obj, const char *key, size_t n, int *dup) {
    size_t i, max;
    yyjson_val *k, *v, *hit = NULL;
    yyjson_obj_foreach(obj, i, max, k, v) {
        if (yy_key(k, key, n)) {
            if (hit != NULL) *dup = 1;
            hit = v;
        }
    }
    return hit;
}
#define YY_GET(obj, lit, dup) yy_get(obj, lit, sizeof(lit) - 1, dup)

/* Python's truth value of the object orjson would make. */
static int yy_truthy(yyjson_val *v) {
    if (v == NULL) return 0;
    switch (yyjson_get_type(v)) {
    case YYJSON_TYPE_NULL: return 0;
    case YYJSON_TYPE_BOOL: return yyjson_get_bool(v);
    case YYJSON_TYPE_NUM: return yyjson_get_num(v) != 0.0;
    default: return unsafe_yyjson_get_len(v) != 0;   /* str, arr, obj */
    }
}

/* The object orjson.loads makes of v (new ref). */
static PyObject *yy_py(yyjson_val *v) {
    switch (yyjson_get_tag(v)) {
    case YYJSON_TYPE_NULL | YYJSON_SUBTYPE_NONE: Py_RETURN_NONE;
    case YYJSON_TYPE_BOOL | YYJSON_SUBTYPE_TRUE: Py_RETURN_TRUE;
    case YYJSON_TYPE_BOOL | YYJSON_SUBTYPE_FALSE: Py_RETURN_FALSE;
    case YYJSON_TYPE_NUM | YYJSON_SUBTYPE_UINT: return PyLong_FromUnsignedLongLong(unsafe_yyjson_get_uint(v));
    case YYJSON_TYPE_NUM | YYJSON_SUBTYPE_SINT: return PyLong_FromLongLong(unsafe_yyjson_get_sint(v));
    case YYJSON_TYPE_NUM | YYJSON_SUBTYPE_REAL: return PyFloat_FromDouble(unsafe_yyjson_get_real(v));
    case YYJSON_TYPE_STR | YYJSON_SUBTYPE_NONE:
    case YYJSON_TYPE_STR | YYJSON_SUBTYPE_NOESC:
        return PyUnicode_DecodeUTF8(unsafe_yyjson_get_str(v), (Py_ssize_t)unsafe_yyjson_get_len(v), NULL);
    case YYJSON_TYPE_ARR | YYJSON_SUBTYPE_NONE: {
        PyObject *out = PyList_New((Py_ssize_t)unsafe_yyjson_get_len(v));
        size_t i, max;
        yyjson_val *x;
        if (out == NULL) return NULL;
        yyjson_arr_foreach(v, i, max, x) {
            PyObject *o = yy_py(x);
            if (o == NULL) { Py_DECREF(out); return NULL; }
            PyList_SET_ITEM(out, (Py_ssize_t)i, o);
        }
        return out;
    }
    case YYJSON_TYPE_OBJ | YYJSON_SUBTYPE_NONE: {
        PyObject *out = PyDict_New();
        size_t i, max;
        yyjson_val *k, *x;
        if (out == NULL) return NULL;
        yyjson_obj_foreach(v, i, max, k, x) {
            PyObject *ko = yy_py(k), *o = ko ? yy_py(x) : NULL;
            int rc = o == NULL ? -1 : PyDict_SetItem(out, ko, o);
            Py_XDECREF(ko);
            Py_XDECREF(o);
            if (rc < 0) { Py_DECREF(out); return NULL; }
        }
        return out;
    }
    }
    PyErr_SetString(PyExc_ValueError, "unexpected JSON value");
    return NULL;
}

/* -- JSON text, written as orjson.dumps writes it ------------------------------------------------------ */

typedef struct { char *p; size_t len, cap; } W;
static unsigned char esc_tab[256];   /* 1: a byte orjson escapes */

static int w_grow(W *w, size_t n) {
    if (w->len + n <= w->cap) return 0;
    size_t cap = w->cap ? w->cap : 4096;
    while (cap < w->len + n) cap *= 2;
    char *p = PyMem_RawRealloc(w->p, cap);
    if (p == NULL) { PyErr_NoMemory(); return -1; }
    w->p = p;
    w->cap = cap;
    return 0;
}

static inline int w_put(W *w, const char *s, size_t n) {
    if (w_grow(w, n) < 0) return -1;
    memcpy(w->p + w->len, s, n);
    w->len += n;
    return 0;
}
#define W_LIT(w, lit) w_put(w, lit, sizeof(lit) - 1)

/* Non-zero when one of the 8 bytes is one orjson escapes (< 0x20, '"' or '\\'); may flag a clean block
 * after a flagged byte, never misses one. */
static inline uint64_t esc8(uint64_t x) {
    const uint64_t ones = 0x0101010101010101ULL, high = 0x8080808080808080ULL;
    uint64_t q = x ^ (ones * '"'), b = x ^ (ones * '\\');
    return ((x - ones * 0x20) | (q - ones) | (b - ones)) & ~x & high;
}

/* A JSON string, escaped as orjson escapes: '"', '\\' and control characters; nothing else. */
static int w_str(W *w, const char *s, size_t n) {
    if (w_grow(w, 6 * n + 2) < 0) return -1;
    char *o = w->p + w->len;
    *o++ = '"';
    size_t i = 0;
    for (;;) {
        unsigned char c;
        if (i + 8 <= n) {   /* 8 bytes at a time; the lowest flagged byte is always a real one */
            uint64_t x, m;
            memcpy(&x, s + i, 8);
            memcpy(o, &x, 8);   /* room: 6 bytes reserved per byte left */
            if ((m = esc8(x)) == 0) {
                i += 8;
                o += 8;
                continue;
            }
            unsigned k = (unsigned)__builtin_ctzll(m) >> 3;
            i += k;
            o += k;
        } else {
            while (i < n && !esc_tab[(unsigned char)s[i]]) *o++ = s[i++];
            if (i == n) break;
        }
        c = (unsigned char)s[i++];
        *o++ = '\\';
        switch (c) {
        case '"': *o++ = '"'; break;
        case '\\': *o++ = '\\'; break;
        case '\b': *o++ = 'b'; break;
        case '\f': *o++ = 'f'; break;
        case '\n': *o++ = 'n'; break;
        case '\r': *o++ = 'r'; break;
        case '\t': *o++ = 't'; break;
        default:
            memcpy(o, "u00", 3);
            o[3] = "0123456789abcdef"[c >> 4];
            o[4] = "0123456789abcdef"[c & 15];
            o += 5;
        }
    }
    *o++ = '"';
    w->len = (size_t)(o - w->p);
    return 0;
}

/* A yyjson string value: one yyjson read as plain ASCII without escapes needs none written. */
static int w_yystr(W *w, yyjson_val *v) {
    size_t n = unsafe_yyjson_get_len(v);
    if (!(yyjson_get_subtype(v) & YYJSON_SUBTYPE_NOESC)) return w_str(w, unsafe_yyjson_get_str(v), n);
    if (w_grow(w, n + 2) < 0) return -1;
    char *o = w->p + w->len;
    o[0] = '"';
    memcpy(o + 1, unsafe_yyjson_get_str(v), n);
    o[n + 1] = '"';
    w->len += n + 2;
    return 0;
}

static int w_u64(W *w, unsigned long long x) {
    char b[20];
    int i = 20;
    do b[--i] = (char)('0' + x % 10); while ((x /= 10) != 0);
    return w_put(w, b + i, (size_t)(20 - i));
}

static int w_i64(W *w, long long x) {
    if (x >= 0) return w_u64(w, (unsigned long long)x);
    return w_put(w, "-", 1) < 0 ? -1 : w_u64(w, 0 - (unsigned long long)x);
}

/* A float as orjson writes it (its own shortest form): asked of orjson itself; floats are rare here. */
static int w_float(W *w, double d) {
    PyObject *f = PyFloat_FromDouble(d);
    PyObject *b = f ? PyObject_CallOneArg(f_dumps, f) : NULL;
    Py_XDECREF(f);
    if (b == NULL) return -1;
    int rc = PyBytes_Check(b) ? w_put(w, PyBytes_AS_STRING(b), (size_t)PyBytes_GET_SIZE(b)) : -1;
    Py_DECREF(b);
    return rc;
}

/* Keys repeated in an object: orjson keeps one (the last value), so such text is left to Python. */
static int yy_has_dup_keys(yyjson_val *obj) {
    size_t n = unsafe_yyjson_get_len(obj);
    if (n < 2) return 0;
    if (n > 64) return 1;   /* not checked: treated as repeated */
    yyjson_val *keys[64];
    size_t i, max, m = 0;
    yyjson_val *k, *v;
    yyjson_obj_foreach(obj, i, max, k, v) {
        size_t kn = unsafe_yyjson_get_len(k);
        const char *ks = unsafe_yyjson_get_str(k);
        for (size_t j = 0; j < m; j++) {
            const char *js = unsafe_yyjson_get_str(keys[j]);
            if (unsafe_yyjson_get_len(keys[j]) == kn && (kn == 0 || (js[0] == ks[0] && memcmp(js, ks, kn) == 0)))
                return 1;
        }
        keys[m++] = k;
    }
    return 0;
}

/* Where the span's raw text holds each escaped string it wrote, by the string's place in the line's
 * document: the attributes text copies a string from there instead of escaping it again (a message
 * list in a string attribute is most of a span's text, and needs the most escapes). */
typedef struct { uint32_t off, len; } Memo;
static Memo *memo;              /* by value index; len 0: not written in this span's raw */
static size_t memo_cap;
static yyjson_val *memo_root;   /* the line's first value: NULL while no raw text is written */
static W w_raw, w_attrs_buf;

#define W_DEPTH 254   /* orjson.dumps' nesting limit (it reads 1,024): deeper, Python quarantines the span */

/* orjson.dumps(orjson.loads(v)), v inside ``depth`` containers of the value dumped: -1 on error, -2 when
 * the value has repeated keys or nests deeper than orjson writes. */
static int w_val(W *w, yyjson_val *v, int depth) {
    switch (yyjson_get_tag(v)) {
    case YYJSON_TYPE_NULL | YYJSON_SUBTYPE_NONE: return W_LIT(w, "null");
    case YYJSON_TYPE_BOOL | YYJSON_SUBTYPE_TRUE: return W_LIT(w, "true");
    case YYJSON_TYPE_BOOL | YYJSON_SUBTYPE_FALSE: return W_LIT(w, "false");
    case YYJSON_TYPE_NUM | YYJSON_SUBTYPE_UINT: return w_u64(w, unsafe_yyjson_get_uint(v));
    case YYJSON_TYPE_NUM | YYJSON_SUBTYPE_SINT: return w_i64(w, unsafe_yyjson_get_sint(v));
    case YYJSON_TYPE_NUM | YYJSON_SUBTYPE_REAL: return w_float(w, unsafe_yyjson_get_real(v));
    case YYJSON_TYPE_STR | YYJSON_SUBTYPE_NOESC:
        return w_yystr(w, v);
    case YYJSON_TYPE_STR | YYJSON_SUBTYPE_NONE: {
        size_t at = w->len;
        if (w_str(w, unsafe_yyjson_get_str(v), unsafe_yyjson_get_len(v)) < 0) return -1;
        if (w == &w_raw && memo_root != NULL && w->len - at < UINT32_MAX && w->len < UINT32_MAX)
            memo[v - memo_root] = (Memo){(uint32_t)at, (uint32_t)(w->len - at)};
        return 0;
    }
    case YYJSON_TYPE_ARR | YYJSON_SUBTYPE_NONE: {
        size_t i, max;
        yyjson_val *x;
        if (depth >= W_DEPTH) return -2;
        if (w_put(w, "[", 1) < 0) return -1;
        yyjson_arr_foreach(v, i, max, x) {
            int rc = (i && w_put(w, ",", 1) < 0) ? -1 : w_val(w, x, depth + 1);
            if (rc < 0) return rc;
        }
        return w_put(w, "]", 1);
    }
    case YYJSON_TYPE_OBJ | YYJSON_SUBTYPE_NONE: {
        size_t i, max;
        yyjson_val *k, *x;
        if (depth >= W_DEPTH || yy_has_dup_keys(v)) return -2;
        if (w_put(w, "{", 1) < 0) return -1;
        yyjson_obj_foreach(v, i, max, k, x) {
            if (i && w_put(w, ",", 1) < 0) return -1;
            if (w_yystr(w, k) < 0 || w_put(w, ":", 1) < 0) return -1;
            int rc = w_val(w, x, depth + 1);
            if (rc < 0) return rc;
        }
        return w_put(w, "}", 1);
    }
    }
    return -1;
}

static PyObject *w_bytes(W *w) { return PyBytes_FromStringAndSize(w->p, (Py_ssize_t)w->len); }

/* -- attributes ------------------------------------------------------------------------------------------ */

enum { A_STR, A_INT, A_DBL, A_BOOL, A_ARR };
typedef struct {
    const char *k;
    size_t kn;
    uint64_t h;
    int cls, flags, t;
    yyjson_val *x;   /* A_STR: the string, A_BOOL: the bool, A_ARR: the values array (NULL: empty) */
    long long i;
    double d;
} Attr;
#define FL_OP 1
#define FL_TOOL_NAME 2
#define FL_HINT 4

/* key -> class (field*16+rank or a K_* code) and flags: open addressing, filled at setup and on first sight */
typedef struct { char *k; size_t kn; uint64_t h; int cls, flags; } KEnt;
#define KCAP (1 << 15)
static KEnt *ktab;
static size_t kcount;
static char **decl_prefix;
static size_t *decl_prefix_len, n_decl_prefix;
static char **decl_key;
static size_t *decl_key_len, n_decl_key;
static char **alias_key;
static size_t *alias_key_len, n_alias_key;

/* A key's hash, 8 bytes at a time (attribute keys are 10-40 bytes long). */
static uint64_t khash(const char *s, size_t n) {
    uint64_t h = 0x9E3779B97F4A7C15ULL ^ n;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t x;
        memcpy(&x, s + i, 8);
        h = (h ^ x) * 0xFF51AFD7ED558CCDULL;
        h ^= h >> 32;
    }
    if (i < n) {
        uint64_t x = 0;
        memcpy(&x, s + i, n - i);
        h = (h ^ x) * 0xC4CEB9FE1A85EC53ULL;
    }
    return h ^ (h >> 29);
}

static KEnt *kslot(const char *k, size_t kn, uint64_t h) {
    size_t i = (size_t)h & (KCAP - 1);
    while (ktab[i].k != NULL && !(ktab[i].h == h && ktab[i].kn == kn && memcmp(ktab[i].k, k, kn) == 0))
        i = (i + 1) & (KCAP - 1);
    return &ktab[i];
}

static KEnt *kput(const char *k, size_t kn, uint64_t h, int cls) {
    KEnt *e = kslot(k, kn, h);
    if (e->k == NULL) {
        if ((e->k = PyMem_RawMalloc(kn ? kn : 1)) == NULL) return NULL;
        memcpy(e->k, k, kn);
        e->kn = kn;
        e->h = h;
        e->cls = cls;
        e->flags = 0;
        kcount++;
    }
    return e;
}

static int in_list(const char *s, size_t n, char **list, size_t *lens, size_t count, int prefix) {
    for (size_t i = 0; i < count; i++)
        if ((prefix ? lens[i] <= n : lens[i] == n) && memcmp(s, list[i], lens[i]) == 0) return 1;
    return 0;
}

/* The class of a key that is no field's: the message keys, keys only Python maps, the rest inert. */
static int rule_class(const char *k, size_t kn) {
    if (kn == 21 && memcmp(k, "gen_ai.input.messages", kn) == 0) return K_MSG_IN;
    if (kn == 22 && memcmp(k, "gen_ai.output.messages", kn) == 0) return K_MSG_OUT;
    return (in_list(k, kn, decl_key, decl_key_len, n_decl_key, 0) ||
            in_list(k, kn, decl_prefix, decl_prefix_len, n_decl_prefix, 1)) ? K_DECLINE : K_INERT;
}

/* The class and flags of a key: the table's (fields first, set up from fast_keys), else rule_class(). */
static void key_class_of(Attr *a) {
    a->h = khash(a->k, a->kn);
    KEnt *e = kslot(a->k, a->kn, a->h);
    if (e->k != NULL) {
        a->cls = e->cls;
        a->flags = e->flags;
        return;
    }
    int cls = rule_class(a->k, a->kn);
    a->cls = cls;
    a->flags = 0;
    if (kcount < KCAP / 2) kput(a->k, a->kn, a->h, cls);   /* a full table only stops caching */
}

/* A plain decimal int64 (what int() reads the same way), else 0. */
static int plain_int(const char *s, size_t n, long long *out) {
    size_t i = 0;
    int neg = 0;
    if (n && s[0] == '-') { neg = 1; i = 1; }
    if (i == n || n - i > 19) return 0;
    unsigned long long x = 0;
    for (; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') return 0;
        x = x * 10 + (unsigned)(s[i] - '0');   /* 19 digits fit in 64 bits */
    }
    if (x > (unsigned long long)LLONG_MAX + neg) return 0;
    *out = neg ? (long long)(0 - x) : (long long)x;
    return 1;
}

/* One OTLP AnyValue of a plain kind into a (its key untouched). 0 ok, -1 off the fast path. */
static int any_val(yyjson_val *v, Attr *a, int depth) {
    if (!yyjson_is_obj(v) || unsafe_yyjson_get_len(v) != 1 || depth > 8) return -1;
    yyjson_val *k = unsafe_yyjson_get_first(v), *x = k + 1;
    if (YY_KEY(k, "stringValue")) {
        if (!yyjson_is_str(x)) return -1;
        a->t = A_STR;
        a->x = x;
        return 0;
    }
    if (YY_KEY(k, "intValue")) {
        a->t = A_INT;
        if (yyjson_is_sint(x)) { a->i = yyjson_get_sint(x); return 0; }
        if (yyjson_is_uint(x) && yyjson_get_uint(x) <= (uint64_t)LLONG_MAX) { a->i = (long long)yyjson_get_uint(x); return 0; }
        if (yyjson_is_str(x) && plain_int(yyjson_get_str(x), yyjson_get_len(x), &a->i)) return 0;
        return -1;
    }
    if (YY_KEY(k, "doubleValue")) {
        if (!yyjson_is_num(x)) return -1;
        a->t = A_DBL;
        a->d = yyjson_is_real(x) ? yyjson_get_real(x)
             : yyjson_is_sint(x) ? (double)yyjson_get_sint(x) : (double)yyjson_get_uint(x);
        return 0;
    }
    if (YY_KEY(k, "boolValue")) {
        if (!yyjson_is_bool(x)) return -1;
        a->t = A_BOOL;
        a->x = x;
        return 0;
    }
    if (YY_KEY(k, "arrayValue")) {
        if (!yyjson_is_obj(x)) return -1;
        a->t = A_ARR;
        if (unsafe_yyjson_get_len(x) == 0) { a->x = NULL; return 0; }
        yyjson_val *vk = unsafe_yyjson_get_first(x), *vals = vk + 1;
        if (unsafe_yyjson_get_len(x) != 1 || !YY_KEY(vk, "values") || !yyjson_is_arr(vals)) return -1;
        size_t i, max;
        yyjson_val *e;
        Attr sub;
        yyjson_arr_foreach(vals, i, max, e) if (any_val(e, &sub, depth + 1) < 0) return -1;
        a->x = vals;
        return 0;
    }
    return -1;
}

static int w_attr(W *w, const Attr *a) {
    switch (a->t) {
    case A_STR:
        if (memo_root != NULL && !(yyjson_get_subtype(a->x) & YYJSON_SUBTYPE_NOESC) && a->x >= memo_root) {
            Memo mm = memo[a->x - memo_root];   /* written escaped into this span's raw text just now */
            if (mm.len) return w_put(w, w_raw.p + mm.off, mm.len);
        }
        return w_yystr(w, a->x);
    case A_INT: return w_i64(w, a->i);
    case A_DBL: return w_float(w, a->d);
    case A_BOOL: return yyjson_get_bool(a->x) ? W_LIT(w, "true") : W_LIT(w, "false");
    case A_ARR: {
        size_t i, max;
        yyjson_val *e;
        if (w_put(w, "[", 1) < 0) return -1;
        if (a->x != NULL) {
            yyjson_arr_foreach(a->x, i, max, e) {
                Attr sub;
                if ((i && w_put(w, ",", 1) < 0) || any_val(e, &sub, 0) < 0 || w_attr(w, &sub) < 0) return -1;
            }
        }
        return w_put(w, "]", 1);
    }
    }
    return -1;
}

static PyObject *attr_py(const Attr *a) {
    if (a == NULL) Py_RETURN_NONE;
    switch (a->t) {
    case A_STR: return yy_py(a->x);
    case A_INT: return PyLong_FromLongLong(a->i);
    case A_DBL: return PyFloat_FromDouble(a->d);
    case A_BOOL: return PyBool_FromLong(yyjson_get_bool(a->x));
    case A_ARR: {
        PyObject *out = PyList_New(a->x ? (Py_ssize_t)yyjson_arr_size(a->x) : 0);
        size_t i, max;
        yyjson_val *e;
        if (out == NULL || a->x == NULL) return out;
        yyjson_arr_foreach(a->x, i, max, e) {
            Attr sub;
            PyObject *o = any_val(e, &sub, 0) < 0 ? NULL : attr_py(&sub);
            if (o == NULL) {
                if (!PyErr_Occurred()) PyErr_SetString(PyExc_ValueError, "array value");
                Py_DECREF(out);
                return NULL;
            }
            PyList_SET_ITEM(out, (Py_ssize_t)i, o);
        }
        return out;
    }
    }
    PyErr_SetString(PyExc_ValueError, "attribute value");
    return NULL;
}

/* A growable list of attributes, merged as dict.update merges: a repeated key keeps its first place. */
typedef struct { Attr *a; size_t n, cap; } Attrs;

static int attrs_put(Attrs *m, const Attr *x) {
    for (size_t i = 0; i < m->n; i++) {
        Attr *o = &m->a[i];
        if (o->h == x->h && o->kn == x->kn && memcmp(o->k, x->k, x->kn) == 0) {
            o->t = x->t; o->x = x->x; o->i = x->i; o->d = x->d;
            return 0;
        }
    }
    if (m->n == m->cap) {
        size_t cap = m->cap ? 2 * m->cap : 64;
        Attr *p = PyMem_RawRealloc(m->a, cap * sizeof(Attr));
        if (p == NULL) { PyErr_NoMemory(); return -1; }
        m->a = p;
        m->cap = cap;
    }
    m->a[m->n++] = *x;
    return 0;
}

/* decode_kvlist of a [{"key", "value"}] array into m. 0 ok, -1 off the fast path. */
static int decode_kvs(yyjson_val *kvs, Attrs *m) {
    if (!yyjson_is_arr(kvs)) return -1;
    size_t i, max;
    yyjson_val *kv;
    yyjson_arr_foreach(kvs, i, max, kv) {
        if (!yyjson_is_obj(kv) || unsafe_yyjson_get_len(kv) != 2) return -1;
        yyjson_val *k1 = unsafe_yyjson_get_first(kv), *v1 = k1 + 1, *k2 = unsafe_yyjson_get_next(v1), *v2 = k2 + 1;
        yyjson_val *key, *val;
        if (YY_KEY(k1, "key") && YY_KEY(k2, "value")) { key = v1; val = v2; }
        else if (YY_KEY(k1, "value") && YY_KEY(k2, "key")) { key = v2; val = v1; }
        else return -1;
        if (!yyjson_is_str(key)) return -1;
        Attr a;
        a.k = unsafe_yyjson_get_str(key);
        a.kn = unsafe_yyjson_get_len(key);
        if (any_val(val, &a, 0) < 0) return -1;
        key_class_of(&a);
        if (attrs_put(m, &a) < 0) return -1;
    }
    return 0;
}

static int w_attrs(W *w, const Attrs *m) {
    if (w_put(w, "{", 1) < 0) return -1;
    for (size_t i = 0; i < m->n; i++) {
        if ((i && w_put(w, ",", 1) < 0) || w_str(w, m->a[i].k, m->a[i].kn) < 0 || w_put(w, ":", 1) < 0 ||
            w_attr(w, &m->a[i]) < 0)
            return -1;
    }
    return w_put(w, "}", 1);
}

/* -- messages (normalize_messages' fast path) ---------------------------------------------------------------- */

enum { M_TEXT, M_CALL, M_RESP };
typedef struct {
    int kind;
    const char *role;
    size_t rn;
    const char *c;      /* M_TEXT: the content */
    size_t cn;
    Py_ssize_t coff;    /* M_RESP: the content's offset in aux (-1: None) */
    PyObject *call;     /* M_CALL: the call dict (owned) */
    Py_ssize_t aoff, alen;   /* M_CALL: _str(arguments) at json[aoff:aoff+alen]; when aoff < 0, c/cn (a str) */
} Msg;

typedef struct {
    int present;        /* the attribute was there */
    PyObject *py;       /* normalize_messages' list when the fast path did not take it (owned) */
    Msg *m;
    size_t n, cap;
    W json, aux;
    yyjson_doc *doc;    /* the parsed message list the Msg pointers point into */
} Msgs;

static void msgs_reset(Msgs *s) {
    for (size_t i = 0; i < s->n; i++) Py_CLEAR(s->m[i].call);
    Py_CLEAR(s->py);
    s->n = 0;
    s->present = 0;
    s->json.len = 0;
    s->aux.len = 0;
}

/* The one JSON-looking string rule of _maybe_json, on bytes: 1 = parse it, 0 = keep the string, -1 = only
 * Python can tell (it strips Unicode whitespace). */
static int looks_json(const char *s, size_t n) {
    size_t i = 0;
    while (i < n && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r')) i++;
    if (i == n) return 0;
    unsigned char c = (unsigned char)s[i];
    if (c == '{' || c == '[') return 1;
    if (c == 0x0b || c == 0x0c || (c >= 0x1c && c <= 0x1f) || c >= 0x80) return -1;
    return 0;
}

/* str(v) of an id or name: None, a str, or an int's digits. 0 ok (written to w, *py set), -1 off the path. */
static int call_field(W *w, yyjson_val *v, PyObject **py) {
    if (v == NULL || yyjson_is_null(v)) {
        *py = Py_NewRef(Py_None);
        return W_LIT(w, "null");
    }
    if (yyjson_is_str(v)) {
        *py = yy_py(v);
        return *py == NULL ? -1 : w_val(w, v, 0);
    }
    if (yyjson_is_int(v)) {
        W t = {0};
        int rc = w_val(&t, v, 0);
        *py = rc < 0 ? NULL : PyUnicode_FromStringAndSize(t.p, (Py_ssize_t)t.len);
        rc = *py == NULL ? -1 : w_str(w, t.p, t.len);
        PyMem_RawFree(t.p);
        return rc;
    }
    return -1;
}

/* One fast-path message written to s->json and recorded in s->m; 0 ok, -1 off the fast path. */
static int fast_msg(Msgs *s, yyjson_val *m) {
    if (!yyjson_is_obj(m) || unsafe_yyjson_get_len(m) > 3 || yy_has_dup_keys(m)) return -1;
    int dup = 0;
    yyjson_val *parts = YY_GET(m, "parts", &dup), *role = YY_GET(m, "role", &dup), *fr = YY_GET(m, "finish_reason", &dup);
    if (parts == NULL || !yyjson_is_arr(parts) || unsafe_yyjson_get_len(parts) != 1) return -1;
    yyjson_val *p = unsafe_yyjson_get_first(parts);
    if (!yyjson_is_obj(p) || role == NULL || !yyjson_is_str(role) || yy_has_dup_keys(p)) return -1;
    const char *r = unsafe_yyjson_get_str(role);
    size_t rn = unsafe_yyjson_get_len(role);
    if (in_list(r, rn, alias_key, alias_key_len, n_alias_key, 0)) return -1;
    if (fr != NULL && yyjson_is_null(fr)) fr = NULL;
    yyjson_val *t = YY_GET(p, "type", &dup);
    if (!(unsafe_yyjson_get_len(m) == 2 || fr != NULL) || t == NULL || !yyjson_is_str(t)) return -1;
    if (s->n == s->cap) {
        size_t cap = s->cap ? 2 * s->cap : 16;
        Msg *q = PyMem_RawRealloc(s->m, cap * sizeof(Msg));
        if (q == NULL) { PyErr_NoMemory(); return -1; }
        s->m = q;
        s->cap = cap;
    }
    Msg *g = &s->m[s->n++];   /* counted from here, so that msgs_reset releases its call */
    memset(g, 0, sizeof *g);
    g->role = r;
    g->rn = rn;
    g->coff = -1;
    W *w = &s->json;
    if (s->n > 1 && w_put(w, ",", 1) < 0) return -1;
    if (YY_KEY(t, "text")) {
        yyjson_val *c = YY_GET(p, "content", &dup);
        if (c == NULL || !yyjson_is_str(c)) return -1;
        g->kind = M_TEXT;
        g->c = unsafe_yyjson_get_str(c);
        g->cn = unsafe_yyjson_get_len(c);
        if (W_LIT(w, "{\"role\":") < 0 || w_str(w, r, rn) < 0 || W_LIT(w, ",\"content\":") < 0 || w_val(w, c, 0) < 0)
            return -1;
    } else if (YY_KEY(t, "tool_call")) {
        yyjson_val *args = YY_GET(p, "arguments", &dup);
        PyObject *cid = NULL, *name = NULL, *pargs = NULL;
        g->kind = M_CALL;
        int ok = W_LIT(w, "{\"role\":") == 0 && w_str(w, r, rn) == 0 &&
                 W_LIT(w, ",\"content\":null,\"tool_calls\":[{\"id\":") == 0 &&
                 call_field(w, YY_GET(p, "id", &dup), &cid) == 0 && W_LIT(w, ",\"name\":") == 0 &&
                 call_field(w, YY_GET(p, "name", &dup), &name) == 0 && W_LIT(w, ",\"arguments\":") == 0;
        g->aoff = -1;   /* no arguments (None): rendered as nothing */
        if (ok && (args == NULL || yyjson_is_null(args))) {
            pargs = Py_NewRef(Py_None);
            ok = W_LIT(w, "null") == 0;
        } else if (ok) {   /* _maybe_json of a str; any other value as it is */
            int lj = yyjson_is_str(args) ? looks_json(unsafe_yyjson_get_str(args), unsafe_yyjson_get_len(args)) : 2;
            yyjson_doc *d = lj == 1 ? yy_read(unsafe_yyjson_get_str(args), unsafe_yyjson_get_len(args)) : NULL;
            yyjson_val *use = d ? yyjson_doc_get_root(d) : args;   /* a parsed str is a container */
            size_t at = w->len;
            ok = lj >= 0 && (pargs = yy_py(use)) != NULL && w_val(w, use, 4) == 0;   /* under [{"tool_calls": [{...}]}] */
            if (yyjson_is_str(use)) {   /* _str() of a str is the str (in the messages' document) */
                g->c = unsafe_yyjson_get_str(use);
                g->cn = unsafe_yyjson_get_len(use);
            } else {                    /* of anything else, its compact JSON: just written */
                g->aoff = (Py_ssize_t)at;
                g->alen = (Py_ssize_t)(w->len - at);
            }
            if (d) yyjson_doc_free(d);
        }
        ok = ok && W_LIT(w, "}]") == 0 && (g->call = PyDict_New()) != NULL &&
             PyDict_SetItem(g->call, s_id, cid) == 0 && PyDict_SetItem(g->call, s_name, name) == 0 &&
             PyDict_SetItem(g->call, s_arguments, pargs) == 0;
        Py_XDECREF(cid);
        Py_XDECREF(name);
        Py_XDECREF(pargs);
        if (!ok) return -1;
    } else if (YY_KEY(t, "tool_call_response") && fr == NULL) {
        yyjson_val *resp = YY_GET(p, "response", &dup), *rid = YY_GET(p, "id", &dup);
        PyObject *ignore = NULL;
        g->kind = M_RESP;
        g->role = "tool";
        g->rn = 4;
        if (W_LIT(w, "{\"role\":\"tool\",\"content\":") < 0) return -1;
        if (resp == NULL || yyjson_is_null(resp)) {
            if (W_LIT(w, "null") < 0) return -1;
        } else {   /* _str(response): a str as it is, anything else as compact JSON text */
            g->coff = (Py_ssize_t)s->aux.len;
            int rc = yyjson_is_str(resp) ? w_put(&s->aux, unsafe_yyjson_get_str(resp), unsafe_yyjson_get_len(resp))
                                         : w_val(&s->aux, resp, 0);
            if (rc < 0 || w_str(w, s->aux.p + g->coff, s->aux.len - (size_t)g->coff) < 0) return -1;
            g->cn = s->aux.len - (size_t)g->coff;
        }
        if (W_LIT(w, ",\"tool_call_id\":") < 0 || call_field(w, rid, &ignore) < 0) return -1;
        Py_DECREF(ignore);
        return w_put(w, "}", 1);
    } else {
        return -1;
    }
    if (fr != NULL && (W_LIT(w, ",\"finish_reason\":") < 0 || w_val(w, fr, 2) < 0)) return -1;
    return w_put(w, "}", 1);
}

/* normalize_messages(value, role) of a message attribute: the fast path here, Python for the rest.
 * 0 ok, -1 error (decline). */
static int messages(Msgs *s, const Attr *a, PyObject *role) {
    msgs_reset(s);
    if (a == NULL) return 0;
    s->present = 1;
    if (a->t == A_STR && looks_json(yyjson_get_str(a->x), yyjson_get_len(a->x)) == 1) {
        const char *str = yyjson_get_str(a->x);
        size_t n = yyjson_get_len(a->x), i = 0;
        while (str[i] != '{' && str[i] != '[') i++;
        yyjson_doc *d = str[i] == '[' ? yy_read(str, n) : NULL;
        yyjson_val *root = d ? yyjson_doc_get_root(d) : NULL;
        int ok = root != NULL && yyjson_is_arr(root) && w_put(&s->json, "[", 1) == 0;
        if (ok) {
            size_t j, max;
            yyjson_val *m;
            yyjson_arr_foreach(root, j, max, m) {
                if (fast_msg(s, m) < 0) { ok = 0; break; }
            }
        }
        ok = ok && w_put(&s->json, "]", 1) == 0;
        if (ok) {   /* the Msg pointers point into d: keep it until the span is done */
            if (s->doc != NULL) yyjson_doc_free(s->doc);
            s->doc = d;
            return 0;
        }
        if (d) yyjson_doc_free(d);
        if (PyErr_Occurred() && !PyErr_ExceptionMatches(PyExc_MemoryError)) PyErr_Clear();
        if (PyErr_Occurred()) return -1;
        msgs_reset(s);
        s->present = 1;
    }
    PyObject *v = attr_py(a);
    if (v == NULL) return -1;
    s->py = normalize(v, role);
    Py_DECREF(v);
    if (s->py == NULL) return -1;
    if (s->py == Py_None) return 0;
    if (!PyList_Check(s->py)) return -1;
    PyObject *b = dumps_json(s->py);
    if (b == NULL) return -1;
    int rc = PyBytes_Check(b) ? w_put(&s->json, PyBytes_AS_STRING(b), (size_t)PyBytes_GET_SIZE(b)) : -1;
    Py_DECREF(b);
    return rc;
}

static void msgs_done(Msgs *s) {
    msgs_reset(s);
    if (s->doc != NULL) {
        yyjson_doc_free(s->doc);
        s->doc = NULL;
    }
}

/* Messages present and not empty (a truthy list in semconv.map_span). */
static int msgs_nonempty(const Msgs *s) {
    if (!s->present) return 0;
    if (s->py != NULL) return s->py != Py_None && PyList_GET_SIZE(s->py) > 0;
    return s->n > 0;
}

static int role_in(const Msg *g, PyObject *roles) {
    for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(roles); i++) {
        Py_ssize_t n;
        const char *r = PyUnicode_AsUTF8AndSize(PyTuple_GET_ITEM(roles, i), &n);
        if (r != NULL && (size_t)n == g->rn && memcmp(r, g->role, g->rn) == 0) return 1;
    }
    return 0;
}

/* _last_content over the messages (new ref; Py_None when none; NULL on error). */
static PyObject *msgs_last_content(Msgs *s, PyObject *roles) {
    if (!s->present) Py_RETURN_NONE;
    if (s->py != NULL) return s->py == Py_None ? Py_NewRef(Py_None) : last_content(s->py, roles);
    for (size_t i = s->n; i-- > 0;) {
        Msg *g = &s->m[i];
        if (!role_in(g, roles)) continue;
        if (g->kind == M_TEXT && g->cn) return PyUnicode_DecodeUTF8(g->c, (Py_ssize_t)g->cn, NULL);
        if (g->kind == M_RESP && g->coff >= 0 && g->cn)
            return PyUnicode_DecodeUTF8(s->aux.p + g->coff, (Py_ssize_t)g->cn, NULL);
        if (g->kind == M_CALL) {   /* render_tool_calls([call]): "name(arguments)" */
            PyObject *name = PyDict_GetItemWithError(g->call, s_name);
            const char *nm = "None";
            Py_ssize_t nn = 4;
            if (name != NULL && name != Py_None && (nm = PyUnicode_AsUTF8AndSize(name, &nn)) == NULL) return NULL;
            if (name == NULL && PyErr_Occurred()) return NULL;
            static W t;
            t.len = 0;
            if (w_put(&t, nm, (size_t)nn) < 0 || w_put(&t, "(", 1) < 0 ||
                (g->aoff >= 0 ? w_put(&t, s->json.p + g->aoff, (size_t)g->alen) : w_put(&t, g->c, g->cn)) < 0 ||
                w_put(&t, ")", 1) < 0)
                return NULL;
            return PyUnicode_DecodeUTF8(t.p, (Py_ssize_t)t.len, NULL);
        }
    }
    Py_RETURN_NONE;
}

/* The output messages as Python objects, for an observe() that is not the tracker's (new ref). */
static PyObject *msgs_py(Msgs *s) {
    if (!s->present) Py_RETURN_NONE;
    if (s->py != NULL) return Py_NewRef(s->py);
    PyObject *b = PyBytes_FromStringAndSize(s->json.p, (Py_ssize_t)s->json.len);
    PyObject *r = b ? call1(f_loads, b) : NULL;
    Py_XDECREF(b);
    return r;
}

/* track() for a span whose output messages are Msgs: the same records. 1 done, 0 not this layout, -1 error. */
static int track_msgs(PyObject *out, PyObject *traces, PyObject *span, Msgs *s) {
    if (s->py != NULL || SLOT(span, S_KIND) == NULL || !PyUnicode_CheckExact(SLOT(span, S_KIND)) ||
        PyUnicode_Compare(SLOT(span, S_KIND), s_tool) == 0)
        return track(out, traces, span, s->py != NULL ? s->py : Py_None);
    size_t ncalls = 0;
    for (size_t i = 0; i < s->n; i++) ncalls += s->m[i].kind == M_CALL;
    if (ncalls == 0) return 1;
    PyObject *e, *ref;
    int rc = request_start(traces, span, &e, &ref);
    if (rc <= 0) return rc;
    rc = 0;
    for (size_t i = 0; rc == 0 && i < s->n; i++)   /* a fast-path message has one call */
        if (s->m[i].kind == M_CALL) rc = add_request(e, ref, (Py_ssize_t)i, 0, s->m[i].call);
    Py_DECREF(ref);
    return rc < 0 ? -1 : 1;
}

/* -- one span -------------------------------------------------------------------------------------------- */

static Attrs merged_buf;
static Msgs msgs_in, msgs_out;

/* semconv._tags: a list of str kept (None when empty), anything else by the Python helper. */
static PyObject *tags(PyObject *v) {
    if (v == NULL || v == Py_None) Py_RETURN_NONE;
    if (!PyList_CheckExact(v)) return call1(f_tags, v);
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(v); i++)
        if (!PyUnicode_CheckExact(PyList_GET_ITEM(v, i))) return call1(f_tags, v);
    return PyList_GET_SIZE(v) ? PyList_GetSlice(v, 0, PyList_GET_SIZE(v)) : Py_NewRef(Py_None);
}

/* otlp_json.unix_ns for the plain cases (digits, or a non-negative int): new ref, NULL = decline. */
static PyObject *yy_time(yyjson_val *v) {
    if (v == NULL || yyjson_is_null(v)) Py_RETURN_NONE;
    if (yyjson_is_str(v)) {
        const char *s = unsafe_yyjson_get_str(v);
        size_t n = unsafe_yyjson_get_len(v);
        if (n == 0) Py_RETURN_NONE;
        long long x;
        return s[0] == '-' || !plain_int(s, n, &x) ? NULL : PyLong_FromLongLong(x);
    }
    if (yyjson_is_uint(v) && yyjson_get_uint(v) <= (uint64_t)LLONG_MAX) return PyLong_FromUnsignedLongLong(yyjson_get_uint(v));
    if (yyjson_is_sint(v) && yyjson_get_sint(v) >= 0) return PyLong_FromLongLong(yyjson_get_sint(v));
    return NULL;
}

/* n lowercase hex digits, not all zeros: 1 = yes, 0 = all zeros, -1 = anything else. */
static int yy_lower_hex(yyjson_val *v, size_t n) {
    if (v == NULL || !yyjson_is_str(v) || unsafe_yyjson_get_len(v) != n) return -1;
    const char *c = unsafe_yyjson_get_str(v);
    int nonzero = 0;
    for (size_t i = 0; i < n; i++) {
        char x = c[i];
        if (!((x >= '0' && x <= '9') || (x >= 'a' && x <= 'f'))) return -1;
        if (x != '0') nonzero = 1;
    }
    return nonzero;
}

static PyObject *ascii_str(yyjson_val *v) {
    return PyUnicode_FromStringAndSize(unsafe_yyjson_get_str(v), (Py_ssize_t)unsafe_yyjson_get_len(v));
}

/* One event of the shapes mapped here (otlp_json._events): its name ("exception" or
 * "gen_ai.evaluation.result"), its time (new ref in *t when t is given) and attributes (into ea).
 * 1 = an exception, 2 = an evaluation result, -1 = anything else (decline). */
static int event_parts(yyjson_val *ev, PyObject **t, Attrs *ea) {
    if (!yyjson_is_obj(ev) || yy_has_dup_keys(ev)) return -1;
    int dup = 0, kind;
    yyjson_val *nm = YY_GET(ev, "name", &dup), *a = YY_GET(ev, "attributes", &dup);
    if (nm == NULL || !yyjson_is_str(nm)) return -1;
    if (YY_KEY(nm, "exception")) kind = 1;
    else if (YY_KEY(nm, "gen_ai.evaluation.result")) kind = 2;
    else return -1;
    PyObject *time = yy_time(YY_GET(ev, "timeUnixNano", &dup));
    if (time == NULL) return -1;
    if (t != NULL) *t = time;
    else Py_DECREF(time);
    ea->n = 0;
    if (yy_truthy(a) && decode_kvs(a, ea) < 0) {
        if (t != NULL) Py_CLEAR(*t);
        return -1;
    }
    return kind;
}

static const Attr *attrs_get(const Attrs *m, const char *k) {
    size_t n = strlen(k);
    for (size_t i = 0; i < m->n; i++)
        if (m->a[i].kn == n && memcmp(m->a[i].k, k, n) == 0) return &m->a[i];
    return NULL;
}

static Attrs event_buf;
static PyObject *pending_fbs;   /* the Feedback of the span map_one just returned, for map_line to append */

/* The frozen Span of one OTLP span (new ref), its scope's attributes in ``base``; None (new ref) when the
 * span is declined. Never NULL: any error is a decline. Its messages stay in msgs_in / msgs_out. */
static PyObject *map_one(yyjson_val *sp, const Attrs *base, PyObject *source) {
    PyObject *f[NFIELDS] = {0};
    PyObject *vals[NF] = {0}, *tool_args = NULL, *result = NULL, *tmp = NULL;
    int ranks[NF];
    for (int i = 0; i < NF; i++) ranks[i] = 100;
    Attrs *m = &merged_buf;
    m->n = 0;
    msgs_reset(&msgs_in);
    msgs_reset(&msgs_out);
    if (!yyjson_is_obj(sp)) DECLINE;

    yyjson_val *tid = NULL, *sid = NULL, *pid = NULL, *name = NULL, *start = NULL, *end = NULL, *st = NULL,
               *evs = NULL, *a = NULL;
    {
        size_t i, max;
        yyjson_val *k, *v;
        yyjson_obj_foreach(sp, i, max, k, v) {
            yyjson_val **slot = NULL;
            if (YY_KEY(k, "traceId")) slot = &tid;
            else if (YY_KEY(k, "spanId")) slot = &sid;
            else if (YY_KEY(k, "parentSpanId")) slot = &pid;
            else if (YY_KEY(k, "name")) slot = &name;
            else if (YY_KEY(k, "startTimeUnixNano")) slot = &start;
            else if (YY_KEY(k, "endTimeUnixNano")) slot = &end;
            else if (YY_KEY(k, "status")) slot = &st;
            else if (YY_KEY(k, "events")) slot = &evs;
            else if (YY_KEY(k, "attributes")) slot = &a;
            if (slot == NULL) continue;
            if (*slot != NULL) DECLINE;   /* a repeated key: orjson keeps the last, Python maps it */
            *slot = v;
        }
    }
    if (yy_lower_hex(tid, 32) != 1 || yy_lower_hex(sid, 16) != 1) DECLINE;
    if ((f[S_TRACE_ID] = ascii_str(tid)) == NULL || (f[S_SPAN_ID] = ascii_str(sid)) == NULL) DECLINE;
    if (pid == NULL || yyjson_is_null(pid) || (yyjson_is_str(pid) && unsafe_yyjson_get_len(pid) == 0)) {
        f[S_PARENT] = Py_NewRef(Py_None);
    } else {
        int h = yy_lower_hex(pid, 16);
        if (h < 0) DECLINE;
        if ((f[S_PARENT] = h ? ascii_str(pid) : Py_NewRef(Py_None)) == NULL) DECLINE;
    }
    /* events: exceptions and evaluation results are mapped here (semconv.map_span's rules), others in Python */
    int has_events = yy_truthy(evs);
    if (has_events) {
        if (!yyjson_is_arr(evs)) DECLINE;
        size_t i, max;
        yyjson_val *ev;
        yyjson_arr_foreach(evs, i, max, ev) if (event_parts(ev, NULL, &event_buf) < 0) DECLINE;
    }
    if ((f[S_START] = yy_time(start)) == NULL) DECLINE;
    if ((f[S_END] = yy_time(end)) == NULL) DECLINE;
    if (!yy_truthy(st)) {
        f[S_STATUS_CODE] = Py_NewRef(s_unset);
        f[S_STATUS_MSG] = Py_NewRef(Py_None);
    } else {
        if (!yyjson_is_obj(st) || yy_has_dup_keys(st)) DECLINE;
        int dup = 0;
        yyjson_val *code = YY_GET(st, "code", &dup);
        if (code == NULL) code = YY_GET(st, "status_code", &dup);
        if (code == NULL) {
            tmp = Py_NewRef(Py_None);
        } else if (yyjson_is_ctn(code) || (tmp = yy_py(code)) == NULL) {
            DECLINE;   /* unhashable: Python rejects it */
        }
        PyObject *sc = dget(status_map, tmp);
        Py_CLEAR(tmp);
        if (PyErr_Occurred()) DECLINE;
        f[S_STATUS_CODE] = Py_NewRef(sc ? sc : s_unset);
        yyjson_val *msg = YY_GET(st, "message", &dup);
        if (msg == NULL) msg = YY_GET(st, "description", &dup);
        if ((f[S_STATUS_MSG] = yy_truthy(msg) ? yy_py(msg) : Py_NewRef(Py_None)) == NULL) DECLINE;
    }
    if (has_events && f[S_STATUS_MSG] == Py_None && PyUnicode_Compare(f[S_STATUS_CODE], s_error) == 0) {
        /* the first exception with a message: "type: message" */
        size_t i, max;
        yyjson_val *ev;
        yyjson_arr_foreach(evs, i, max, ev) {
            if (event_parts(ev, NULL, &event_buf) != 1) continue;
            const Attr *msg = attrs_get(&event_buf, "exception.message"), *typ = attrs_get(&event_buf, "exception.type");
            if (msg == NULL) continue;
            PyObject *mo = attr_py(msg), *to = mo ? attr_py(typ) : NULL, *text = NULL;
            int tt = to == NULL ? -1 : PyObject_IsTrue(to);
            if (tt > 0) text = PyUnicode_FromFormat("%S: %S", to, mo);
            else if (tt == 0) text = PyObject_Str(mo);
            Py_XDECREF(mo);
            Py_XDECREF(to);
            if (text == NULL) DECLINE;
            Py_SETREF(f[S_STATUS_MSG], text);
            break;
        }
    }
    if (name != NULL && !yyjson_is_null(name) && !yyjson_is_str(name)) DECLINE;
    if ((f[S_NAME] = (name && yyjson_is_str(name)) ? yy_py(name) : Py_NewRef(Py_None)) == NULL) DECLINE;
    f[S_SOURCE] = Py_NewRef(source);

    /* attributes: the scope's, updated by the span's own */
    for (size_t i = 0; i < base->n; i++)
        if (attrs_put(m, &base->a[i]) < 0) DECLINE;
    if (yy_truthy(a) && decode_kvs(a, m) < 0) DECLINE;

    const Attr *msg_in = NULL, *msg_out = NULL, *op = NULL, *fields[NF] = {0};
    int has_tool_name = 0, has_hint = 0;
    for (size_t i = 0; i < m->n; i++) {
        const Attr *x = &m->a[i];
        if (x->flags & FL_OP) op = x;
        if (x->flags & FL_TOOL_NAME) has_tool_name = 1;
        if (x->flags & FL_HINT) has_hint = 1;
        int cls = x->cls;
        if (cls == K_DECLINE) DECLINE;
        if (cls == K_INERT) continue;
        if (cls == K_MSG_IN) { msg_in = x; continue; }
        if (cls == K_MSG_OUT) { msg_out = x; continue; }
        int fi = cls / 16, rk = cls % 16;
        if (fi < 0 || fi >= NF) DECLINE;
        if (rk < ranks[fi]) {
            ranks[fi] = rk;
            fields[fi] = x;
        }
    }
    for (int i = 0; i < NF; i++)
        if (fields[i] != NULL && (vals[i] = attr_py(fields[i])) == NULL) DECLINE;

    /* kind */
    PyObject *kind = NULL;
    if (op != NULL && op->t == A_STR) {
        if ((tmp = yy_py(op->x)) == NULL) DECLINE;
        kind = dget(kind_map, tmp);
        Py_CLEAR(tmp);
        if (PyErr_Occurred()) DECLINE;
    }
    if (kind == NULL) kind = has_tool_name ? s_tool : has_hint ? s_llm : s_unknown;
    f[S_KIND] = Py_NewRef(kind);
    int is_tool = PyUnicode_Compare(kind, s_tool) == 0;

    if ((f[S_MODEL] = as_str(vals[F_MODEL])) == NULL) DECLINE;
    if ((f[S_PROVIDER] = as_str(vals[F_PROVIDER])) == NULL) DECLINE;
    if ((f[S_IN_TOK] = to_int(vals[F_IN])) == NULL) DECLINE;
    if ((f[S_OUT_TOK] = to_int(vals[F_OUT])) == NULL) DECLINE;
    if ((f[S_TOTAL_TOK] = to_int(vals[F_TOTAL])) == NULL) DECLINE;
    f[S_COST] = vals[F_COST] ? call1(f_float, vals[F_COST]) : Py_NewRef(Py_None);
    if (f[S_COST] == NULL) DECLINE;
    if ((f[S_USER] = as_str(vals[F_USER])) == NULL) DECLINE;
    if ((f[S_SESSION] = as_str(vals[F_SESSION])) == NULL) DECLINE;
    if ((f[S_TAGS] = tags(vals[F_TAGS])) == NULL) DECLINE;
    if ((f[S_ENV] = as_str(vals[F_ENV])) == NULL) DECLINE;
    if ((f[S_VERSION] = as_str(vals[F_VERSION])) == NULL) DECLINE;
    if ((f[S_SERVICE] = as_str(vals[F_SERVICE])) == NULL) DECLINE;

    if (is_tool || vals[F_TOOL_NAME] != NULL) {
        if ((f[S_TOOL_NAME] = as_str(vals[F_TOOL_NAME])) == NULL) DECLINE;
        if ((f[S_TOOL_ID] = as_str(vals[F_TOOL_ID])) == NULL) DECLINE;
        if ((f[S_TOOL_RES] = json_str(vals[F_TOOL_RES])) == NULL) DECLINE;
        const Attr *ta = fields[F_TOOL_ARGS];
        yyjson_doc *d = NULL;
        if (ta != NULL && ta->t == A_STR && looks_json(yyjson_get_str(ta->x), yyjson_get_len(ta->x)) == 1 &&
            (d = yy_read(yyjson_get_str(ta->x), yyjson_get_len(ta->x))) != NULL) {
            /* json_text(_maybe_json(s)) and _str() of it: both the parsed value's compact JSON */
            static W t;
            t.len = 0;
            int rc = w_val(&t, yyjson_doc_get_root(d), 0);
            yyjson_doc_free(d);
            if (rc < 0 || (tool_args = PyUnicode_DecodeUTF8(t.p, (Py_ssize_t)t.len, NULL)) == NULL) DECLINE;
            f[S_TOOL_ARGS] = Py_NewRef(tool_args);
        } else {
            if ((tool_args = maybe_json(vals[F_TOOL_ARGS])) == NULL) DECLINE;
            f[S_TOOL_ARGS] = tool_args == Py_None ? Py_NewRef(Py_None) : call1(f_json_text, tool_args);
            if (f[S_TOOL_ARGS] == NULL) DECLINE;
        }
    } else {
        tool_args = Py_NewRef(Py_None);
        f[S_TOOL_NAME] = Py_NewRef(Py_None);
        f[S_TOOL_ID] = Py_NewRef(Py_None);
        f[S_TOOL_ARGS] = Py_NewRef(Py_None);
        f[S_TOOL_RES] = Py_NewRef(Py_None);
    }

    if (messages(&msgs_in, msg_in, s_user) < 0 || messages(&msgs_out, msg_out, s_assistant) < 0) DECLINE;

    PyObject *in_text = msgs_last_content(&msgs_in, roles_user);
    if (in_text == NULL) DECLINE;
    if (in_text == Py_None) {
        Py_DECREF(in_text);
        if (is_tool && tool_args != Py_None) in_text = json_str(tool_args);
        else in_text = msgs_nonempty(&msgs_in) ? msgs_last_content(&msgs_in, roles_input) : Py_NewRef(Py_None);
        if (in_text == NULL) DECLINE;
    }
    f[S_IN_TEXT] = in_text;
    PyObject *out_text = msgs_last_content(&msgs_out, roles_assistant);
    if (out_text == NULL) DECLINE;
    if (out_text == Py_None && is_tool && f[S_TOOL_RES] != Py_None) {
        Py_DECREF(out_text);
        out_text = Py_NewRef(f[S_TOOL_RES]);
    }
    f[S_OUT_TEXT] = out_text;

    int none_in = !msgs_in.present || msgs_in.py == Py_None, none_out = !msgs_out.present || msgs_out.py == Py_None;
    if ((f[S_IN_MSGS] = none_in ? Py_NewRef(Py_None) : w_bytes(&msgs_in.json)) == NULL) DECLINE;
    if ((f[S_OUT_MSGS] = none_out ? Py_NewRef(Py_None) : w_bytes(&msgs_out.json)) == NULL) DECLINE;
    w_raw.len = 0;   /* raw first: the attributes text copies its escaped strings (memo) */
    if (w_val(&w_raw, sp, 0) < 0 || (f[S_RAW] = w_bytes(&w_raw)) == NULL) DECLINE;
    w_attrs_buf.len = 0;
    if (w_attrs(&w_attrs_buf, m) < 0 || (f[S_ATTRS] = w_bytes(&w_attrs_buf)) == NULL) DECLINE;

    PyObject *span = span_type->tp_alloc(span_type, 0);
    if (span == NULL) DECLINE;
    for (int i = 0; i < NFIELDS; i++) {
        SLOT(span, i) = f[i];
        f[i] = NULL;
    }
    if (has_events) {   /* _evaluation_feedback(span, event attributes, event time) of each evaluation result */
        size_t i, max;
        yyjson_val *ev;
        yyjson_arr_foreach(evs, i, max, ev) {
            PyObject *t = NULL, *ea = NULL, *fb = NULL;
            if (event_parts(ev, &t, &event_buf) != 2) {
                Py_XDECREF(t);
                continue;
            }
            int ok = (ea = PyDict_New()) != NULL;
            for (size_t j = 0; ok && j < event_buf.n; j++) {
                const Attr *x = &event_buf.a[j];
                PyObject *k = PyUnicode_DecodeUTF8(x->k, (Py_ssize_t)x->kn, NULL), *v = k ? attr_py(x) : NULL;
                ok = v != NULL && PyDict_SetItem(ea, k, v) == 0;
                Py_XDECREF(k);
                Py_XDECREF(v);
            }
            if (ok) {
                PyObject *a3[3] = {span, ea, t};
                fb = PyObject_Vectorcall(f_eval_fb, a3, 3, NULL);
                ok = fb != NULL && (fb == Py_None || PyList_Append(pending_fbs, fb) == 0);
            }
            Py_XDECREF(fb);
            Py_XDECREF(ea);
            Py_XDECREF(t);
            if (!ok) {
                Py_DECREF(span);
                DECLINE;
            }
        }
    }
    result = span;
    goto done;

decline:
    if (debug && PyErr_Occurred()) PyErr_Print();
    PyErr_Clear();
    if (pending_fbs != NULL) PyList_SetSlice(pending_fbs, 0, PyList_GET_SIZE(pending_fbs), NULL);
    result = Py_NewRef(Py_None);
done:
    for (int i = 0; i < NFIELDS; i++) Py_XDECREF(f[i]);
    for (int i = 0; i < NF; i++) Py_XDECREF(vals[i]);
    Py_XDECREF(tool_args);
    Py_XDECREF(tmp);
    return result;
}

/* -- one line -------------------------------------------------------------------------------------------- */

typedef struct { size_t off, n; yyjson_val *resource, *scope, *spans; PyObject *py_base; } Scope;

/* The scope's attributes as a Python dict, as request_items makes them (cached on the scope). */
static PyObject *scope_base_py(Scope *sc, PyObject *scope_base) {
    if (sc->py_base == NULL) {
        PyObject *r = sc->resource ? yy_py(sc->resource) : Py_NewRef(Py_None);
        PyObject *s = r && sc->scope ? yy_py(sc->scope) : (r ? Py_NewRef(Py_None) : NULL);
        if (r && s) {
            PyObject *a[2] = {r, s};
            sc->py_base = PyObject_Vectorcall(scope_base, a, 2, NULL);
        }
        Py_XDECREF(r);
        Py_XDECREF(s);
    }
    return sc->py_base;
}

/* Python's scope attributes rule (_scope_attrs) for a scope object. 0 ok, -1 off the fast path. */
static int scope_attrs(yyjson_val *scope, Attrs *m) {
    if (!yy_truthy(scope)) return 0;
    if (!yyjson_is_obj(scope) || yy_has_dup_keys(scope)) return -1;
    int dup = 0;
    yyjson_val *a = YY_GET(scope, "attributes", &dup);
    if (yy_truthy(a) && decode_kvs(a, m) < 0) return -1;
    static const char *names[2] = {"otel.scope.name", "otel.scope.version"};
    yyjson_val *vals[2] = {YY_GET(scope, "name", &dup), YY_GET(scope, "version", &dup)};
    for (int i = 0; i < 2; i++) {
        if (!yy_truthy(vals[i])) continue;
        if (!yyjson_is_str(vals[i])) return -1;
        Attr x = {.k = names[i], .kn = strlen(names[i]), .t = A_STR, .x = vals[i]};
        key_class_of(&x);
        if (attrs_put(m, &x) < 0) return -1;
    }
    return 0;
}

static Attrs line_attrs;   /* every scope's merged attributes, one after another */

/* Pass 1: every scope of the request, with its attributes; 0 ok, -1 the line is not for this path. */
static int line_scopes(yyjson_val *root, Scope **scopes, size_t *nscopes, size_t *cap) {
    int dup = 0;
    if (!yyjson_is_obj(root) || yy_has_dup_keys(root)) return -1;
    yyjson_val *rss = YY_GET(root, "resourceSpans", &dup);
    if (rss == NULL || YY_GET(root, "resource_spans", &dup) != NULL || !yyjson_is_arr(rss)) return -1;
    size_t i, max;
    yyjson_val *rs;
    line_attrs.n = 0;
    yyjson_arr_foreach(rss, i, max, rs) {
        if (!yyjson_is_obj(rs) || yy_has_dup_keys(rs) || YY_GET(rs, "instrumentationLibrarySpans", &dup) ||
            YY_GET(rs, "scope_spans", &dup))
            return -1;
        yyjson_val *res = YY_GET(rs, "resource", &dup), *ra = NULL;
        if (yy_truthy(res)) {
            if (!yyjson_is_obj(res) || yy_has_dup_keys(res)) return -1;
            ra = YY_GET(res, "attributes", &dup);
        } else {
            res = NULL;
        }
        Attrs rattrs = {0};
        int rc = yy_truthy(ra) ? decode_kvs(ra, &rattrs) : 0;
        yyjson_val *sss = YY_GET(rs, "scopeSpans", &dup);
        if (rc == 0 && yy_truthy(sss) && !yyjson_is_arr(sss)) rc = -1;
        size_t j, max2;
        yyjson_val *ss;
        if (rc == 0 && yy_truthy(sss)) {
            yyjson_arr_foreach(sss, j, max2, ss) {
                yyjson_val *spans, *scope;
                if (!yyjson_is_obj(ss) || yy_has_dup_keys(ss) || YY_GET(ss, "instrumentationLibrary", &dup)) { rc = -1; break; }
                spans = YY_GET(ss, "spans", &dup);
                scope = YY_GET(ss, "scope", &dup);
                if (yy_truthy(spans) && !yyjson_is_arr(spans)) { rc = -1; break; }
                if (*nscopes == *cap) {
                    size_t c = *cap ? 2 * *cap : 16;
                    Scope *q = PyMem_RawRealloc(*scopes, c * sizeof(Scope));
                    if (q == NULL) { PyErr_NoMemory(); rc = -1; break; }
                    *scopes = q;
                    *cap = c;
                }
                Scope *sc = &(*scopes)[(*nscopes)++];
                sc->off = line_attrs.n;
                sc->resource = res;
                sc->scope = yy_truthy(scope) ? scope : NULL;
                sc->spans = yy_truthy(spans) ? spans : NULL;
                sc->py_base = NULL;
                /* base = resource attributes, updated by the scope's */
                Attrs b = {0};
                for (size_t q = 0; rc == 0 && q < rattrs.n; q++) rc = attrs_put(&b, &rattrs.a[q]);
                if (rc == 0) rc = scope_attrs(sc->scope, &b);
                for (size_t q = 0; rc == 0 && q < b.n; q++) {
                    if (line_attrs.n == line_attrs.cap) {   /* appended as they are: no merging across scopes */
                        size_t c = line_attrs.cap ? 2 * line_attrs.cap : 64;
                        Attr *p = PyMem_RawRealloc(line_attrs.a, c * sizeof(Attr));
                        if (p == NULL) { PyErr_NoMemory(); rc = -1; break; }
                        line_attrs.a = p;
                        line_attrs.cap = c;
                    }
                    line_attrs.a[line_attrs.n++] = b.a[q];
                }
                sc->n = line_attrs.n - sc->off;
                PyMem_RawFree(b.a);
                if (rc < 0) break;
            }
        }
        PyMem_RawFree(rattrs.a);
        if (rc < 0 || dup) return -1;
    }
    return dup ? -1 : 0;
}

static Scope *line_scope_buf;
static size_t line_scope_cap;
static int line_busy;   /* map_line's buffers are static: a second caller meanwhile (another thread, while
                         * this one is in a Python callback) is told to map its line in Python */

/* map_line(line, source, line_no, out, observe, slow, scope_base) -> bool: the whole line mapped into out
 * (True), or nothing done (False: the caller parses the line and maps it in Python). */
static PyObject *map_line(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 7 || !PyBytes_Check(args[0]) || !PyList_CheckExact(args[3])) {
        PyErr_SetString(PyExc_TypeError, "map_line(line: bytes, source, line_no, out: list, observe, slow, scope_base)");
        return NULL;
    }
    if (!check_ready()) return NULL;
    PyObject *source = args[1], *out = args[3], *observe = args[4], *slow = args[5], *scope_base = args[6];
    if (line_busy) Py_RETURN_FALSE;
    yyjson_doc *doc = yy_read(PyBytes_AS_STRING(args[0]), (size_t)PyBytes_GET_SIZE(args[0]));
    if (doc == NULL) Py_RETURN_FALSE;
    line_busy = 1;
    size_t nvals = yyjson_doc_get_val_count(doc);
    if (nvals > memo_cap) {
        Memo *q = PyMem_RawRealloc(memo, nvals * sizeof(Memo));
        if (q == NULL) {
            yyjson_doc_free(doc);
            line_busy = 0;
            return PyErr_NoMemory();
        }
        memo = q;
        memo_cap = nvals;
    }
    memset(memo, 0, nvals * sizeof(Memo));
    memo_root = yyjson_doc_get_root(doc);
    size_t nscopes = 0;
    if (line_scopes(yyjson_doc_get_root(doc), &line_scope_buf, &nscopes, &line_scope_cap) < 0) {
        memo_root = NULL;
        yyjson_doc_free(doc);
        line_busy = 0;
        if (PyErr_Occurred()) return NULL;
        Py_RETURN_FALSE;
    }
    PyObject *traces = NULL, *result = NULL;
    if (PyMethod_Check(observe) && PyMethod_GET_FUNCTION(observe) == f_observe) {
        traces = PyObject_GetAttr(PyMethod_GET_SELF(observe), s__traces);
        if (traces == NULL || !PyDict_CheckExact(traces)) {
            PyErr_Clear();
            Py_CLEAR(traces);
        }
    }
    for (size_t si = 0; si < nscopes; si++) {
        Scope *sc = &line_scope_buf[si];
        if (sc->spans == NULL) continue;
        Attrs base = {line_attrs.a + sc->off, sc->n, sc->n};
        size_t i, max;
        yyjson_val *sp;
        yyjson_arr_foreach(sc->spans, i, max, sp) {
            PyObject *span = map_one(sp, &base, source);
            if (span != Py_None) {
                int rc = PyList_Append(out, span);
                if (rc == 0 && PyList_GET_SIZE(pending_fbs)) {   /* its feedback, then its tool call, as span_item */
                    rc = PyList_SetSlice(out, PyList_GET_SIZE(out), PyList_GET_SIZE(out), pending_fbs);
                    if (rc == 0) rc = PyList_SetSlice(pending_fbs, 0, PyList_GET_SIZE(pending_fbs), NULL);
                }
                int done = rc < 0 || traces == NULL ? 0 : track_msgs(out, traces, span, &msgs_out);
                if (rc == 0 && done == 0) {
                    PyObject *outm = msgs_py(&msgs_out);
                    rc = outm == NULL ? -1 : append_call(out, observe, span, outm);
                    Py_XDECREF(outm);
                }
                Py_DECREF(span);
                if (rc < 0 || done < 0) goto fail;
                continue;
            }
            Py_DECREF(span);
            PyObject *base_py = scope_base_py(sc, scope_base), *sp_py = base_py ? yy_py(sp) : NULL;
            if (sp_py == NULL) goto fail;
            PyObject *a[5] = {sp_py, base_py, source, args[2], out};
            span = PyObject_Vectorcall(slow, a, 5, NULL);
            Py_DECREF(sp_py);
            if (span == NULL) goto fail;
            int rc = span == Py_None ? 0 : append_call(out, observe, span, NULL);
            Py_DECREF(span);
            if (rc < 0) goto fail;
        }
    }
    result = Py_NewRef(Py_True);
fail:
    msgs_done(&msgs_in);
    msgs_done(&msgs_out);
    for (size_t si = 0; si < nscopes; si++) Py_CLEAR(line_scope_buf[si].py_base);
    Py_XDECREF(traces);
    memo_root = NULL;
    yyjson_doc_free(doc);
    line_busy = 0;
    return result;
}

/* -- columns: Arrow buffers for the loader's span table ------------------------------------------------- */

/* A growable buffer backed by a bytearray, handed to pyarrow without a copy (pa.py_buffer). */
typedef struct { PyObject *ba; Py_ssize_t len; } Buf;

static int buf_put(Buf *b, const void *src, Py_ssize_t n) {
    if (b->ba == NULL && (b->ba = PyByteArray_FromStringAndSize(NULL, 0)) == NULL) return -1;
    Py_ssize_t cap = PyByteArray_GET_SIZE(b->ba);
    if (b->len + n > cap) {
        Py_ssize_t want = cap ? cap : 1024;
        while (want < b->len + n) want *= 2;
        if (PyByteArray_Resize(b->ba, want) < 0) return -1;
    }
    if (n) memcpy(PyByteArray_AS_STRING(b->ba) + b->len, src, n);
    b->len += n;
    return 0;
}

/* Allocate the buffer's final size up front (a first pass over the spans measured it): growing by
 * doubling copied every column's bytes about twice more (realloc), a third of the builder's time. */
static int buf_reserve(Buf *b, Py_ssize_t cap) {
    if (b->ba != NULL || cap <= 0) return 0;
    return (b->ba = PyByteArray_FromStringAndSize(NULL, cap)) == NULL ? -1 : 0;
}

/* The UTF-8 length of a column value as put_str writes it (0 for anything else). */
static Py_ssize_t str_size(PyObject *v) {
    if (PyBytes_CheckExact(v)) return PyBytes_GET_SIZE(v);
    if (!PyUnicode_CheckExact(v)) return 0;
    if (PyUnicode_IS_ASCII(v)) return PyUnicode_GET_LENGTH(v);
    Py_ssize_t n = 0;
    if (PyUnicode_AsUTF8AndSize(v, &n) == NULL) { PyErr_Clear(); return 0; }   /* put_str reports it */
    return n;
}

/* The bytearray cut to its length (a new reference); an empty one when nothing was written. */
static PyObject *buf_take(Buf *b) {
    if (b->ba == NULL) return PyByteArray_FromStringAndSize(NULL, 0);
    if (PyByteArray_Resize(b->ba, b->len) < 0) return NULL;
    PyObject *o = b->ba;
    b->ba = NULL;
    return o;
}

enum { C_STR = 0, C_INT64 = 1, C_FLOAT64 = 2, C_LIST_STR = 3, C_STR_EMPTY_NULL = 4 };

typedef struct {
    int field, kind;
    Buf data, offs, valid, cdata, coffs, cvalid;   /* c*: the strings of a list column */
    Py_ssize_t nulls, cn, cnulls;
} Col;

static int bit_put(Buf *bm, Py_ssize_t i, int set) {
    if ((i & 7) == 0) {
        unsigned char z = 0;
        if (buf_put(bm, &z, 1) < 0) return -1;
    }
    if (set) PyByteArray_AS_STRING(bm->ba)[i >> 3] |= (char)(1u << (i & 7));
    return 0;
}

/* Append one str (or None) to a string column; 1 = appended, 0 = not a str/None (fall back), -1 = error. */
static int put_str(PyObject *v, int empty_null, Buf *data, Buf *offs, Buf *valid, Py_ssize_t i, Py_ssize_t *nulls) {
    int ok_value = v != Py_None && PyUnicode_CheckExact(v) && !(empty_null && PyUnicode_GET_LENGTH(v) == 0);
    if (!empty_null && PyBytes_CheckExact(v)) {   /* JSON text from orjson: valid UTF-8 already */
        Py_ssize_t n = PyBytes_GET_SIZE(v);
        if (data->len + n > INT32_MAX) return 0;
        if (buf_put(data, PyBytes_AS_STRING(v), n) < 0) return -1;
        ok_value = 1;
    } else if (ok_value) {
        Py_ssize_t n;
        const char *u = PyUnicode_AsUTF8AndSize(v, &n);
        if (u == NULL) return -1;
        if (data->len + n > INT32_MAX) return 0;
        if (buf_put(data, u, n) < 0) return -1;
    } else if (v == Py_None || (empty_null && PyUnicode_CheckExact(v))) {
        (*nulls)++;
    } else {
        return 0;
    }
    if (bit_put(valid, i, ok_value) < 0) return -1;
    int32_t off = (int32_t)data->len;
    return buf_put(offs, &off, sizeof off) < 0 ? -1 : 1;
}

static int put_value(Col *c, PyObject *v, Py_ssize_t i) {
    switch (c->kind) {
    case C_STR:
    case C_STR_EMPTY_NULL:
        return put_str(v, c->kind == C_STR_EMPTY_NULL, &c->data, &c->offs, &c->valid, i, &c->nulls);
    case C_INT64:
    case C_FLOAT64: {
        union { int64_t i; double d; } x = {0};
        int ok_value = 0;
        if (v == Py_None) {
            c->nulls++;
        } else if (c->kind == C_INT64 && PyLong_CheckExact(v)) {
            int overflow = 0;
            long long y = PyLong_AsLongLongAndOverflow(v, &overflow);
            if (overflow) return 0;
            x.i = (int64_t)y;
            ok_value = 1;
        } else if (c->kind == C_FLOAT64 && (PyFloat_CheckExact(v) || PyLong_CheckExact(v))) {
            x.d = PyFloat_AsDouble(v);
            if (x.d == -1.0 && PyErr_Occurred()) return -1;
            ok_value = 1;
        } else {
            return 0;
        }
        if (bit_put(&c->valid, i, ok_value) < 0) return -1;
        return buf_put(&c->data, &x, sizeof x) < 0 ? -1 : 1;
    }
    case C_LIST_STR: {
        int ok_value = v != Py_None;
        if (v == Py_None) {
            c->nulls++;
        } else if (PyList_CheckExact(v)) {
            for (Py_ssize_t j = 0; j < PyList_GET_SIZE(v); j++) {
                int r = put_str(PyList_GET_ITEM(v, j), 0, &c->cdata, &c->coffs, &c->cvalid, c->cn, &c->cnulls);
                if (r != 1) return r;
                c->cn++;
            }
        } else {
            return 0;
        }
        if (bit_put(&c->valid, i, ok_value) < 0) return -1;
        int32_t o = (int32_t)c->cn;
        return buf_put(&c->offs, &o, sizeof o) < 0 ? -1 : 1;
    }
    }
    return 0;
}

static void col_clear(Col *c) {
    Py_CLEAR(c->data.ba); Py_CLEAR(c->offs.ba); Py_CLEAR(c->valid.ba);
    Py_CLEAR(c->cdata.ba); Py_CLEAR(c->coffs.ba); Py_CLEAR(c->cvalid.ba);
}

/* (null count, validity or None, ...buffers) of a finished column. */
static PyObject *col_take(Col *c) {
    PyObject *valid = c->nulls ? buf_take(&c->valid) : Py_NewRef(Py_None);
    if (valid == NULL) return NULL;
    if (c->kind == C_INT64 || c->kind == C_FLOAT64) return Py_BuildValue("(nNN)", c->nulls, valid, buf_take(&c->data));
    if (c->kind == C_LIST_STR) {
        PyObject *cvalid = c->cnulls ? buf_take(&c->cvalid) : Py_NewRef(Py_None);
        if (cvalid == NULL) { Py_DECREF(valid); return NULL; }
        return Py_BuildValue("(nNN(nnNNN))", c->nulls, valid, buf_take(&c->offs), c->cn, c->cnulls, cvalid,
                             buf_take(&c->coffs), buf_take(&c->cdata));
    }
    return Py_BuildValue("(nNNN)", c->nulls, valid, buf_take(&c->offs), buf_take(&c->data));
}

/* columns(spans, spec) -> [buffers per column] | None. spec: ((field index, kind), ...). One pass over
 * the spans (row by row, while each span is in cache). None when some value is of a type only
 * pyarrow's own conversion takes: the caller builds the table the slow way. */
static PyObject *columns(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 2 || !PyList_CheckExact(args[0]) || !PyTuple_Check(args[1])) {
        PyErr_SetString(PyExc_TypeError, "columns(spans: list, spec: tuple)");
        return NULL;
    }
    if (!check_ready()) return NULL;
    PyObject *spans = args[0], *spec = args[1], *out = NULL;
    Py_ssize_t n = PyList_GET_SIZE(spans), nc = PyTuple_GET_SIZE(spec);
    PyTypeObject *owner = span_type->tp_base;   /* Span: the class the descriptors belong to */
    Col *cols = PyMem_Calloc(nc ? nc : 1, sizeof(Col));
    if (cols == NULL) return PyErr_NoMemory();
    int32_t zero = 0;
    for (Py_ssize_t c = 0; c < nc; c++) {
        if (!PyArg_ParseTuple(PyTuple_GET_ITEM(spec, c), "ii", &cols[c].field, &cols[c].kind) ||
            cols[c].field < 0 || cols[c].field >= NFIELDS || cols[c].kind < 0 || cols[c].kind > C_STR_EMPTY_NULL) {
            if (!PyErr_Occurred()) PyErr_SetString(PyExc_ValueError, "bad column spec");
            goto done;
        }
    }
    /* First pass: every buffer's final size, so that none grows (see buf_reserve). */
    Py_ssize_t *text = PyMem_Calloc(nc ? nc : 1, 2 * sizeof(Py_ssize_t));   /* per column: bytes, list items */
    if (text == NULL) { PyErr_NoMemory(); goto done; }
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *sp = PyList_GET_ITEM(spans, i);
        if (!PyObject_TypeCheck(sp, owner)) continue;   /* the second pass reports it */
        for (Py_ssize_t c = 0; c < nc; c++) {
            if (cols[c].kind == C_INT64 || cols[c].kind == C_FLOAT64) continue;
            PyObject *v = SLOT(sp, cols[c].field);
            if (v == NULL) continue;
            if (cols[c].kind == C_LIST_STR && PyList_CheckExact(v)) {
                for (Py_ssize_t j = 0; j < PyList_GET_SIZE(v); j++) text[2 * c] += str_size(PyList_GET_ITEM(v, j));
                text[2 * c + 1] += PyList_GET_SIZE(v);
            } else if (cols[c].kind != C_LIST_STR) {
                text[2 * c] += str_size(v);
            }
        }
    }
    for (Py_ssize_t c = 0; c < nc; c++) {
        Col *k = &cols[c];
        int fixed = k->kind == C_INT64 || k->kind == C_FLOAT64;
        if (buf_reserve(&k->valid, (n + 7) / 8) < 0 ||
            (fixed ? buf_reserve(&k->data, n * 8) < 0
                   : (k->kind == C_LIST_STR
                          ? buf_reserve(&k->cdata, text[2 * c]) < 0 || buf_reserve(&k->cvalid, (text[2 * c + 1] + 7) / 8) < 0
                          : buf_reserve(&k->data, text[2 * c]) < 0)) ||
            (!fixed && (buf_reserve(&k->offs, (n + 1) * 4) < 0 || buf_put(&k->offs, &zero, sizeof zero) < 0)) ||
            (k->kind == C_LIST_STR &&
             (buf_reserve(&k->coffs, (text[2 * c + 1] + 1) * 4) < 0 || buf_put(&k->coffs, &zero, sizeof zero) < 0))) {
            PyMem_Free(text);
            goto done;
        }
    }
    PyMem_Free(text);
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *sp = PyList_GET_ITEM(spans, i);
        if (!PyObject_TypeCheck(sp, owner)) {
            PyErr_SetString(PyExc_TypeError, "columns() takes Span objects");
            goto done;
        }
        for (Py_ssize_t c = 0; c < nc; c++) {
            PyObject *v = SLOT(sp, cols[c].field);
            if (v == NULL) {   /* an unset field: raise what reading it in Python raises */
                PyObject *d = PyTuple_GET_ITEM(descrs, cols[c].field);
                Py_XDECREF(Py_TYPE(d)->tp_descr_get(d, sp, NULL));
                if (!PyErr_Occurred()) PyErr_SetString(PyExc_AttributeError, "unset Span field");
                goto done;
            }
            int r = put_value(&cols[c], v, i);
            if (r < 0) goto done;
            if (r == 0) { out = Py_NewRef(Py_None); goto done; }   /* a value only pyarrow converts */
        }
    }
    if ((out = PyList_New(nc)) == NULL) goto done;
    for (Py_ssize_t c = 0; c < nc; c++) {
        PyObject *t = col_take(&cols[c]);
        if (t == NULL) { Py_CLEAR(out); goto done; }
        PyList_SET_ITEM(out, c, t);
    }
done:
    for (Py_ssize_t c = 0; c < nc; c++) col_clear(&cols[c]);
    PyMem_Free(cols);
    return out;
}

/* -- setup --------------------------------------------------------------------------------------------- */

/* The UTF-8 copies of a collection of str (a tuple, set or dict's keys), for byte compares. */
static int c_strings(PyObject *coll, char ***out, size_t **lens, size_t *n) {
    PyObject *seq = PySequence_List(coll);
    if (seq == NULL) return -1;
    Py_ssize_t m = PyList_GET_SIZE(seq);
    *out = PyMem_RawCalloc(m ? (size_t)m : 1, sizeof(char *));
    *lens = PyMem_RawCalloc(m ? (size_t)m : 1, sizeof(size_t));
    if (*out == NULL || *lens == NULL) { Py_DECREF(seq); PyErr_NoMemory(); return -1; }
    for (Py_ssize_t i = 0; i < m; i++) {
        Py_ssize_t len;
        const char *s = PyUnicode_AsUTF8AndSize(PyList_GET_ITEM(seq, i), &len);
        if (s == NULL || ((*out)[i] = PyMem_RawMalloc((size_t)len + 1)) == NULL) {
            Py_DECREF(seq);
            if (!PyErr_Occurred()) PyErr_NoMemory();
            return -1;
        }
        memcpy((*out)[i], s, (size_t)len + 1);
        (*lens)[i] = (size_t)len;
    }
    *n = (size_t)m;
    Py_DECREF(seq);
    return 0;
}

/* The key table: fast_keys' classes, the message keys, and the keys the span kind is told by. */
static int line_setup(void) {
    for (int c = 0; c < 256; c++) esc_tab[c] = c < 0x20 || c == '"' || c == '\\';
    if ((yy_alc = yyjson_alc_dyn_new()) == NULL) { PyErr_NoMemory(); return -1; }
    if ((pending_fbs = PyList_New(0)) == NULL) return -1;
    if ((ktab = PyMem_RawCalloc(KCAP, sizeof(KEnt))) == NULL) { PyErr_NoMemory(); return -1; }
    if (c_strings(decline_prefixes, &decl_prefix, &decl_prefix_len, &n_decl_prefix) < 0 ||
        c_strings(decline_keys, &decl_key, &decl_key_len, &n_decl_key) < 0 ||
        c_strings(role_aliases, &alias_key, &alias_key_len, &n_alias_key) < 0)
        return -1;
    Py_ssize_t pos = 0;
    PyObject *k, *v;
    while (PyDict_Next(fast_keys, &pos, &k, &v)) {   /* a field's key: field*16 + its rank when GenAI is native */
        Py_ssize_t n;
        const char *s = PyUnicode_AsUTF8AndSize(k, &n);
        if (s == NULL) return -1;
        int cls = (int)PyLong_AsLong(PyTuple_GET_ITEM(v, 0)) * 16 + (int)PyLong_AsLong(PyTuple_GET_ITEM(v, 1));
        if (PyErr_Occurred()) return -1;
        if (kput(s, (size_t)n, khash(s, (size_t)n), cls) == NULL) { PyErr_NoMemory(); return -1; }
    }
    static const struct { const char *k; int flags; } flagged[] = {
        {"gen_ai.operation.name", FL_OP},
        {"gen_ai.tool.name", FL_TOOL_NAME}, {"gen_ai.request.model", FL_HINT}, {"gen_ai.response.model", FL_HINT},
        {"gen_ai.usage.input_tokens", FL_HINT},
    };
    for (size_t i = 0; i < sizeof flagged / sizeof flagged[0]; i++) {   /* a field's entry keeps its class */
        size_t n = strlen(flagged[i].k);
        KEnt *e = kput(flagged[i].k, n, khash(flagged[i].k, n), rule_class(flagged[i].k, n));
        if (e == NULL) { PyErr_NoMemory(); return -1; }
        e->flags |= flagged[i].flags;
    }
    return 0;
}

static PyObject *need(PyObject *cfg, const char *key) {
    PyObject *v = PyDict_GetItemString(cfg, key);
    if (v == NULL) {
        PyErr_Format(PyExc_KeyError, "setup() needs %s", key);
        return NULL;
    }
    return Py_NewRef(v);
}

#define INTERN(var, text) if ((var = PyUnicode_InternFromString(text)) == NULL) return NULL

static PyObject *setup(PyObject *self, PyObject *cfg) {
    if (!PyDict_Check(cfg)) {
        PyErr_SetString(PyExc_TypeError, "setup(config: dict)");
        return NULL;
    }
#define NEED(var, key) if ((var = need(cfg, key)) == NULL) return NULL
    NEED(f_dumps, "dumps"); NEED(f_loads, "loads"); NEED(f_int, "to_int"); NEED(f_float, "to_float");
    NEED(f_str, "to_str"); NEED(f_tags, "tags"); NEED(f_maybe_json, "maybe_json");
    NEED(f_normalize, "normalize_messages"); NEED(f_render, "render_tool_calls"); NEED(f_json_text, "json_text");
    NEED(f_observe, "tracker_observe"); NEED(f_tool_call, "tool_call_from_span");
    NEED(f_eval_fb, "evaluation_feedback");
    NEED(kind_map, "kind_map"); NEED(status_map, "status_map"); NEED(role_aliases, "role_aliases");
    NEED(fast_keys, "fast_keys"); NEED(decline_prefixes, "decline_prefixes"); NEED(decline_keys, "decline_keys");
    PyObject *st; NEED(st, "span_type");
    span_type = (PyTypeObject *)st;
    NEED(descrs, "descriptors");
    if (!PyTuple_Check(descrs) || PyTuple_GET_SIZE(descrs) != NFIELDS) {
        PyErr_SetString(PyExc_ValueError, "descriptors must be a tuple of the 32 Span field descriptors");
        return NULL;
    }
    for (int i = 0; i < NFIELDS; i++) {   /* plain object slots of Span, read and written by offset */
        PyObject *d = PyTuple_GET_ITEM(descrs, i);
        if (!Py_IS_TYPE(d, &PyMemberDescr_Type) || ((PyMemberDescrObject *)d)->d_member->type != T_OBJECT_EX ||
            (((PyMemberDescrObject *)d)->d_member->flags & READONLY) ||
            ((PyDescrObject *)d)->d_type != span_type->tp_base) {
            PyErr_SetString(PyExc_TypeError, "descriptors must be Span's own writable object slots");
            return NULL;
        }
        slot_off[i] = ((PyMemberDescrObject *)d)->d_member->offset;
    }
    if (!PyTuple_Check(decline_prefixes) || !PyAnySet_Check(decline_keys) || !PyDict_Check(fast_keys)) {
        PyErr_SetString(PyExc_TypeError, "decline_prefixes: tuple, decline_keys: set, fast_keys: dict");
        return NULL;
    }
#undef NEED
    INTERN(s_name, "name"); INTERN(s_role, "role"); INTERN(s_content, "content"); INTERN(s_id, "id");
    INTERN(s_arguments, "arguments"); INTERN(s_tool_calls, "tool_calls"); INTERN(s__traces, "_traces");
    INTERN(s_user, "user"); INTERN(s_assistant, "assistant"); INTERN(s_tool, "tool"); INTERN(s_llm, "llm");
    INTERN(s_unknown, "unknown"); INTERN(s_unset, "unset"); INTERN(s_error, "error");
    PyObject *sys_s;
    INTERN(sys_s, "system");
    PyObject *default_s;   /* interned: orjson matches keyword names by identity */
    INTERN(default_s, "default");
    if ((kw_default = PyTuple_Pack(1, default_s)) == NULL) return NULL;
    if ((roles_user = PyTuple_Pack(1, s_user)) == NULL) return NULL;
    if ((roles_assistant = PyTuple_Pack(1, s_assistant)) == NULL) return NULL;
    if ((roles_input = PyTuple_Pack(3, s_user, s_tool, sys_s)) == NULL) return NULL;
    debug = getenv("TRACEMILL_NATIVE_DEBUG") != NULL;
    if (line_setup() < 0) return NULL;
    configured = 1;
    Py_RETURN_NONE;
}

static PyObject *last_decline(PyObject *self, PyObject *unused) { return PyLong_FromLong(decline_line); }

static PyMethodDef methods[] = {
    {"map_line", (PyCFunction)(void (*)(void))map_line, METH_FASTCALL,
     "map_line(line, source, line_no, out, observe, slow, scope_base) -> bool: one OTLP/JSON line into out."},
    {"columns", (PyCFunction)(void (*)(void))columns, METH_FASTCALL,
     "columns(spans, ((field index, kind), ...)) -> Arrow buffers per column | None (None: use pyarrow)."},
    {"last_decline", last_decline, METH_NOARGS, "The C source line where the last declined span was declined."},
    {"setup", setup, METH_O, "setup(config): the Python helpers and tables the fast path defers to."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, .m_name = "_otlp_native", .m_doc = NULL, .m_size = -1, .m_methods = methods,
};

/* Bumped whenever setup()'s config or a function's signature changes: native.py ignores a stale build. */
#define NATIVE_API 6

PyMODINIT_FUNC PyInit__otlp_native(void) {
    PyObject *m = PyModule_Create(&module);
    if (m != NULL && PyModule_AddIntConstant(m, "API", NATIVE_API) < 0) Py_CLEAR(m);
    return m;
}
