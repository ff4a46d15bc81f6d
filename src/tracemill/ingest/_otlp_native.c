/* Optional C fast path for mapping OTLP/JSON span dicts onto frozen ``Span``s, and for turning spans
 * into the loader's Arrow columns.
 *
 * It does what ``otlp_json.span_item`` + ``semconv.map_span`` + ``loader._freeze`` do, for the common
 * shape only: a GenAI-convention span with no events, lowercase hex ids, plain attribute values and
 * GenAI parts-based messages. Anything else (OpenInference, Vercel, deprecated forms, evaluation
 * attributes, odd types, any error) is *declined*: the Python path (otlp_json.span_item) maps that
 * span, so its results and its quarantine reasons stay the reference. Value rules that are not
 * plain (token coercion, tags, JSON sniffing, message shapes off the fast path) call the Python
 * helpers themselves, so they cannot drift. tests/test_native_parity.py checks both paths agree.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <structmember.h>
#include <stdlib.h>
#include <stdint.h>
#include <string.h>

/* -- configuration (set once by setup()) ------------------------------------------------------------ */

static PyObject *f_dumps, *f_loads, *f_int, *f_float, *f_str, *f_tags, *f_maybe_json, *f_normalize,
    *f_render, *f_json_text, *f_observe, *f_tool_call;
static PyObject *kind_map, *status_map, *role_aliases, *fast_keys, *decline_prefixes, *decline_keys;
static PyObject *key_class;        /* key -> int class (cache) */
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

static PyObject *s_traceId, *s_spanId, *s_parentSpanId, *s_name, *s_start, *s_end, *s_status, *s_events,
    *s_attributes, *s_key, *s_value, *s_stringValue, *s_intValue, *s_doubleValue, *s_boolValue,
    *s_arrayValue, *s_values, *s_code, *s_status_code, *s_message, *s_description, *s_parts, *s_role,
    *s_type, *s_content, *s_finish_reason, *s_id, *s_arguments, *s_response, *s_tool_calls, *s__traces,
    *s_tool_call_id, *s_op, *s_gen_tool_name, *s_hint_req, *s_hint_resp, *s_hint_in, *s_in_msgs,
    *s_out_msgs, *s_user, *s_assistant, *s_tool, *s_llm, *s_unknown, *s_unset, *s_text, *s_tool_call,
    *s_tool_call_response;

/* -- small helpers ------------------------------------------------------------------------------------ */

/* Borrowed d[k] or NULL (no error set on a miss; -1/error means decline). */
static inline PyObject *dget(PyObject *d, PyObject *k) { return PyDict_GetItemWithError(d, k); }

static int is_ascii_str(PyObject *o) { return PyUnicode_CheckExact(o) && PyUnicode_IS_ASCII(o); }

static int eq_ascii(PyObject *o, const char *s) {
    return PyUnicode_CheckExact(o) && PyUnicode_CompareWithASCIIString(o, s) == 0;
}

/* 2*nbytes lowercase hex digits, not all zeros. 1 = yes, 0 = all zeros, -1 = something else. */
static int lower_hex(PyObject *v, Py_ssize_t n) {
    if (!is_ascii_str(v) || PyUnicode_GET_LENGTH(v) != n) return -1;
    const char *c = (const char *)PyUnicode_1BYTE_DATA(v);
    int nonzero = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        char x = c[i];
        if (!((x >= '0' && x <= '9') || (x >= 'a' && x <= 'f'))) return -1;
        if (x != '0') nonzero = 1;
    }
    return nonzero;
}

/* unix_ns for the plain cases: new ref (an int or None), or NULL = decline. */
static PyObject *time_ns(PyObject *v) {
    if (v == NULL || v == Py_None) Py_RETURN_NONE;
    PyObject *n;
    if (PyUnicode_CheckExact(v)) {
        if (PyUnicode_GET_LENGTH(v) == 0) Py_RETURN_NONE;
        n = PyLong_FromUnicodeObject(v, 10);
        if (n == NULL) return NULL;
    } else if (PyLong_CheckExact(v)) {
        n = Py_NewRef(v);
    } else {
        return NULL;
    }
    int overflow = 0;
    long long x = PyLong_AsLongLongAndOverflow(n, &overflow);
    if (overflow || x < 0 || (x == -1 && PyErr_Occurred())) {
        Py_DECREF(n);
        return NULL;
    }
    return n;
}

/* One OTLP AnyValue of a plain kind (string, int, double, bool, array of those): new ref or NULL. */
static PyObject *any_value(PyObject *v, int depth) {
    if (!PyDict_CheckExact(v) || PyDict_GET_SIZE(v) != 1 || depth > 8) return NULL;
    Py_ssize_t pos = 0;
    PyObject *k, *x;
    PyDict_Next(v, &pos, &k, &x);
    if (k == s_stringValue || eq_ascii(k, "stringValue")) {
        return PyUnicode_CheckExact(x) ? Py_NewRef(x) : NULL;   /* None/other: Python decides */
    }
    if (k == s_intValue || eq_ascii(k, "intValue")) {
        if (PyLong_CheckExact(x)) return Py_NewRef(x);
        if (PyUnicode_CheckExact(x)) return PyLong_FromUnicodeObject(x, 10);
        return NULL;
    }
    if (k == s_doubleValue || eq_ascii(k, "doubleValue")) {
        if (PyFloat_CheckExact(x) || PyLong_CheckExact(x) || PyUnicode_CheckExact(x)) return PyNumber_Float(x);
        return NULL;
    }
    if (k == s_boolValue || eq_ascii(k, "boolValue")) {
        return PyBool_Check(x) ? Py_NewRef(x) : NULL;
    }
    if (k == s_arrayValue || eq_ascii(k, "arrayValue")) {
        if (!PyDict_CheckExact(x)) return NULL;
        PyObject *vals = dget(x, s_values);
        if (vals == NULL) {
            if (PyErr_Occurred()) return NULL;
            if (PyDict_GET_SIZE(x) != 0) return NULL;
            return PyList_New(0);
        }
        if (!PyList_CheckExact(vals)) return NULL;
        Py_ssize_t n = PyList_GET_SIZE(vals);
        PyObject *out = PyList_New(n);
        if (out == NULL) return NULL;
        for (Py_ssize_t i = 0; i < n; i++) {
            PyObject *e = any_value(PyList_GET_ITEM(vals, i), depth + 1);
            if (e == NULL) {
                Py_DECREF(out);
                return NULL;
            }
            PyList_SET_ITEM(out, i, e);
        }
        return out;
    }
    return NULL;
}

/* decode_kvlist into ``out`` (later keys overwrite earlier ones). 0 ok, -1 decline. */
static int decode_attrs(PyObject *kvs, PyObject *out) {
    if (!PyList_CheckExact(kvs)) return -1;
    Py_ssize_t n = PyList_GET_SIZE(kvs);
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *kv = PyList_GET_ITEM(kvs, i);
        if (!PyDict_CheckExact(kv)) return -1;
        PyObject *k = dget(kv, s_key);
        PyObject *v = k ? dget(kv, s_value) : NULL;
        if (k == NULL || v == NULL || !PyUnicode_CheckExact(k)) return -1;
        PyObject *x = any_value(v, 0);
        if (x == NULL) return -1;
        int rc = PyDict_SetItem(out, k, x);
        Py_DECREF(x);
        if (rc < 0) return -1;
    }
    return 0;
}

/* The class of an attribute key (cached): field*16+rank, or one of the K_* codes. -100 on error. */
static int classify(PyObject *key) {
    PyObject *c = dget(key_class, key);
    if (c != NULL) return (int)PyLong_AsLong(c);
    if (PyErr_Occurred()) return -100;
    int cls;
    PyObject *fk = dget(fast_keys, key);
    if (fk != NULL) {
        cls = (int)PyLong_AsLong(PyTuple_GET_ITEM(fk, 0)) * 16 + (int)PyLong_AsLong(PyTuple_GET_ITEM(fk, 1));
    } else if (PyErr_Occurred()) {
        return -100;
    } else if (PyUnicode_Compare(key, s_in_msgs) == 0) {
        cls = K_MSG_IN;
    } else if (PyUnicode_Compare(key, s_out_msgs) == 0) {
        cls = K_MSG_OUT;
    } else {
        int hit = PySet_Contains(decline_keys, key);
        if (hit < 0) return -100;
        if (!hit) {
            for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(decline_prefixes); i++) {
                Py_ssize_t r = PyUnicode_Tailmatch(key, PyTuple_GET_ITEM(decline_prefixes, i), 0, PY_SSIZE_T_MAX, -1);
                if (r < 0) return -100;
                if (r) { hit = 1; break; }
            }
        }
        cls = hit ? K_DECLINE : K_INERT;
    }
    if (PyDict_GET_SIZE(key_class) < 100000) {
        PyObject *o = PyLong_FromLong(cls);
        if (o == NULL || PyDict_SetItem(key_class, key, o) < 0) {
            Py_XDECREF(o);
            return -100;
        }
        Py_DECREF(o);
    }
    return cls;
}

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

/* d[k] = v, taking over the new reference v (which may be NULL: a failure to make it). -1 on failure. */
static int set_steal(PyObject *d, PyObject *k, PyObject *v) {
    if (v == NULL) return -1;
    int rc = PyDict_SetItem(d, k, v);
    Py_DECREF(v);
    return rc;
}

/* semconv._call */
static PyObject *make_call(PyObject *cid, PyObject *name, PyObject *arguments) {
    PyObject *d = PyDict_New();
    if (d == NULL) return NULL;
    if (set_steal(d, s_id, as_str(cid)) < 0 || set_steal(d, s_name, as_str(name)) < 0 ||
        set_steal(d, s_arguments, maybe_json(arguments)) < 0) {
        Py_DECREF(d);
        return NULL;
    }
    return d;
}

/* The fast-path form of one GenAI message (semconv.normalize_messages' inner fast path): a new dict,
 * or NULL with no error set when the message is off the fast path (NULL with an error: a failure). */
static PyObject *fast_message(PyObject *m) {
    if (!PyDict_CheckExact(m)) return NULL;
    PyObject *parts = dget(m, s_parts);
    if (parts == NULL || !PyList_CheckExact(parts) || PyList_GET_SIZE(parts) != 1 || PyDict_GET_SIZE(m) > 3)
        return NULL;
    PyObject *p = PyList_GET_ITEM(parts, 0);
    PyObject *role = dget(m, s_role);
    if (role == NULL || !PyDict_CheckExact(p) || !PyUnicode_CheckExact(role)) return NULL;
    int alias = PyDict_Contains(role_aliases, role);
    if (alias != 0) return NULL;
    PyObject *t = dget(p, s_type);
    PyObject *fr = dget(m, s_finish_reason);
    if (fr == Py_None) fr = NULL;
    if (!(PyDict_GET_SIZE(m) == 2 || fr != NULL) || t == NULL || PyErr_Occurred()) return NULL;
    PyObject *msg = NULL, *x = NULL;
    if (eq_ascii(t, "text")) {
        PyObject *c = dget(p, s_content);
        if (c == NULL || !PyUnicode_CheckExact(c)) return NULL;
        msg = PyDict_New();
        if (msg == NULL || PyDict_SetItem(msg, s_role, role) < 0 || PyDict_SetItem(msg, s_content, c) < 0) goto fail;
    } else if (eq_ascii(t, "tool_call")) {
        PyObject *cid = dget(p, s_id), *nm = dget(p, s_name), *args = dget(p, s_arguments);
        if (PyErr_Occurred()) return NULL;
        x = make_call(cid, nm, args);
        if (x == NULL) return NULL;
        PyObject *lst = PyList_New(1);
        if (lst == NULL) goto fail;
        PyList_SET_ITEM(lst, 0, x);
        x = lst;
        msg = PyDict_New();
        if (msg == NULL || PyDict_SetItem(msg, s_role, role) < 0 || PyDict_SetItem(msg, s_content, Py_None) < 0 ||
            PyDict_SetItem(msg, s_tool_calls, x) < 0)
            goto fail;
        Py_CLEAR(x);
    } else if (eq_ascii(t, "tool_call_response") && fr == NULL) {
        PyObject *rid = dget(p, s_id), *resp = dget(p, s_response);
        if (PyErr_Occurred()) return NULL;
        msg = PyDict_New();
        if (msg == NULL || PyDict_SetItem(msg, s_role, s_tool) < 0 || set_steal(msg, s_content, json_str(resp)) < 0 ||
            set_steal(msg, s_tool_call_id, as_str(rid)) < 0)
            goto fail;
        return msg;
    } else {
        return NULL;
    }
    if (fr != NULL && PyDict_SetItem(msg, s_finish_reason, fr) < 0) goto fail;
    return msg;
fail:
    Py_XDECREF(x);
    Py_XDECREF(msg);
    if (!PyErr_Occurred()) PyErr_SetString(PyExc_RuntimeError, "fast_message");
    return NULL;
}

/* semconv.normalize_messages(value, role): the fast path here, the Python function for the rest. */
static PyObject *normalize(PyObject *value, PyObject *role) {
    if (value == NULL || value == Py_None) Py_RETURN_NONE;
    if (!PyUnicode_CheckExact(value)) goto python;
    {
        /* Only a JSON list is mapped here. Leading JSON whitespace is whitespace to str.lstrip() too,
         * and orjson skips it, so parsing the whole string equals _maybe_json's parse of the stripped one. */
        Py_ssize_t n = PyUnicode_GET_LENGTH(value), i = 0;
        Py_UCS4 ch = 0;
        while (i < n && ((ch = PyUnicode_READ_CHAR(value, i)) == ' ' || ch == '\t' || ch == '\n' || ch == '\r')) i++;
        if (i >= n || ch != '[') goto python;
    }
    {
        PyObject *parsed = call1(f_loads, value);
        if (parsed == NULL) {
            PyErr_Clear();
            goto python;
        }
        if (!PyList_CheckExact(parsed)) {
            Py_DECREF(parsed);
            goto python;
        }
        Py_ssize_t n = PyList_GET_SIZE(parsed);
        PyObject *out = PyList_New(n);
        if (out == NULL) {
            Py_DECREF(parsed);
            return NULL;
        }
        for (Py_ssize_t i = 0; i < n; i++) {
            PyObject *msg = fast_message(PyList_GET_ITEM(parsed, i));
            if (msg == NULL) {
                Py_DECREF(out);
                Py_DECREF(parsed);
                if (PyErr_Occurred()) return NULL;
                goto python;
            }
            PyList_SET_ITEM(out, i, msg);
        }
        Py_DECREF(parsed);
        return out;
    }
python:
    {
        PyObject *args[2] = {value, role};
        return PyObject_Vectorcall(f_normalize, args, 2, NULL);
    }
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

/* -- the span ----------------------------------------------------------------------------------------- */

/* The frozen Span of one OTLP span dict (new ref), with its parsed output messages in *outm_out (new
 * ref); or None (new ref) when the span is declined. Never NULL: any error is a decline. */
static PyObject *map_one(PyObject *sp, PyObject *base, PyObject *source, PyObject **outm_out) {
    PyObject *f[NFIELDS] = {0};
    PyObject *merged = NULL, *vals[NF] = {0}, *inp = NULL, *outm = NULL, *tool_args = NULL;
    PyObject *result = NULL;
    int ranks[NF];
    for (int i = 0; i < NF; i++) ranks[i] = 100;
    if (!PyDict_CheckExact(sp) || !PyDict_CheckExact(base)) DECLINE;

    /* ids */
    PyObject *tid = dget(sp, s_traceId), *sid = dget(sp, s_spanId), *pid = dget(sp, s_parentSpanId);
    if (PyErr_Occurred() || tid == NULL || sid == NULL) DECLINE;
    if (lower_hex(tid, 32) != 1 || lower_hex(sid, 16) != 1) DECLINE;
    f[S_TRACE_ID] = Py_NewRef(tid);
    f[S_SPAN_ID] = Py_NewRef(sid);
    if (pid == NULL || pid == Py_None || (PyUnicode_CheckExact(pid) && PyUnicode_GET_LENGTH(pid) == 0)) {
        f[S_PARENT] = Py_NewRef(Py_None);
    } else {
        int h = lower_hex(pid, 16);
        if (h < 0) DECLINE;
        f[S_PARENT] = Py_NewRef(h ? pid : Py_None);
    }
    /* events: none (the Python path maps them) */
    PyObject *evs = dget(sp, s_events);
    if (evs != NULL) {
        int t = PyObject_IsTrue(evs);
        if (t != 0) DECLINE;
    } else if (PyErr_Occurred()) {
        DECLINE;
    }
    /* times, status, name */
    if ((f[S_START] = time_ns(dget(sp, s_start))) == NULL) DECLINE;
    if ((f[S_END] = time_ns(dget(sp, s_end))) == NULL) DECLINE;
    PyObject *st = dget(sp, s_status);
    if (PyErr_Occurred()) DECLINE;
    int st_true = st == NULL ? 0 : PyObject_IsTrue(st);
    if (st_true < 0) DECLINE;
    if (!st_true) {
        f[S_STATUS_CODE] = Py_NewRef(s_unset);
        f[S_STATUS_MSG] = Py_NewRef(Py_None);
    } else {
        if (!PyDict_CheckExact(st)) DECLINE;
        PyObject *code = dget(st, s_code);
        if (code == NULL && !PyErr_Occurred()) code = dget(st, s_status_code);
        if (PyErr_Occurred()) DECLINE;
        PyObject *sc = dget(status_map, code ? code : Py_None);
        if (PyErr_Occurred()) DECLINE;
        f[S_STATUS_CODE] = Py_NewRef(sc ? sc : s_unset);
        PyObject *msg = dget(st, s_message);
        if (msg == NULL && !PyErr_Occurred()) msg = dget(st, s_description);
        if (PyErr_Occurred()) DECLINE;
        int mt = msg == NULL ? 0 : PyObject_IsTrue(msg);
        if (mt < 0) DECLINE;
        f[S_STATUS_MSG] = Py_NewRef(mt ? msg : Py_None);
    }
    PyObject *name = dget(sp, s_name);
    if (PyErr_Occurred()) DECLINE;
    if (name != NULL && name != Py_None && !PyUnicode_CheckExact(name)) DECLINE;
    f[S_NAME] = Py_NewRef(name ? name : Py_None);
    f[S_SOURCE] = Py_NewRef(source);

    /* attributes: base (resource + scope) updated by the span's own */
    merged = PyDict_Copy(base);
    if (merged == NULL) DECLINE;
    PyObject *a = dget(sp, s_attributes);
    if (PyErr_Occurred()) DECLINE;
    if (a != NULL) {
        int t = PyObject_IsTrue(a);
        if (t < 0) DECLINE;
        if (t && decode_attrs(a, merged) < 0) DECLINE;
    }

    /* one pass over the attributes: fields by rank, messages, and anything only Python maps */
    PyObject *msg_in = NULL, *msg_out = NULL;
    {
        Py_ssize_t pos = 0;
        PyObject *k, *v;
        while (PyDict_Next(merged, &pos, &k, &v)) {
            if (!PyUnicode_CheckExact(k)) DECLINE;
            int cls = classify(k);
            if (cls == -100 || cls == K_DECLINE) DECLINE;
            if (cls == K_INERT || v == Py_None) continue;
            if (cls == K_MSG_IN) { msg_in = v; continue; }
            if (cls == K_MSG_OUT) { msg_out = v; continue; }
            int fi = cls / 16, rk = cls % 16;
            if (fi < 0 || fi >= NF) DECLINE;
            if (rk < ranks[fi]) {
                ranks[fi] = rk;
                vals[fi] = v;   /* borrowed from merged */
            }
        }
    }

    /* kind */
    PyObject *kind = NULL;
    PyObject *op = dget(merged, s_op);
    if (PyErr_Occurred()) DECLINE;
    if (op != NULL && PyUnicode_CheckExact(op)) {
        kind = dget(kind_map, op);
        if (PyErr_Occurred()) DECLINE;
    }
    if (kind == NULL) {
        int h;
        if ((h = PyDict_Contains(merged, s_gen_tool_name)) < 0) DECLINE;
        if (h) {
            kind = s_tool;
        } else {
            int a1 = PyDict_Contains(merged, s_hint_req), a2 = PyDict_Contains(merged, s_hint_resp),
                a3 = PyDict_Contains(merged, s_hint_in);
            if (a1 < 0 || a2 < 0 || a3 < 0) DECLINE;
            kind = (a1 || a2 || a3) ? s_llm : s_unknown;
        }
    }
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
    f[S_TAGS] = vals[F_TAGS] ? call1(f_tags, vals[F_TAGS]) : Py_NewRef(Py_None);
    if (f[S_TAGS] == NULL) DECLINE;
    if ((f[S_ENV] = as_str(vals[F_ENV])) == NULL) DECLINE;
    if ((f[S_VERSION] = as_str(vals[F_VERSION])) == NULL) DECLINE;
    if ((f[S_SERVICE] = as_str(vals[F_SERVICE])) == NULL) DECLINE;

    /* tools */
    if (is_tool || vals[F_TOOL_NAME] != NULL) {
        if ((f[S_TOOL_NAME] = as_str(vals[F_TOOL_NAME])) == NULL) DECLINE;
        if ((f[S_TOOL_ID] = as_str(vals[F_TOOL_ID])) == NULL) DECLINE;
        if ((tool_args = maybe_json(vals[F_TOOL_ARGS])) == NULL) DECLINE;
        if ((f[S_TOOL_RES] = json_str(vals[F_TOOL_RES])) == NULL) DECLINE;
        f[S_TOOL_ARGS] = tool_args == Py_None ? Py_NewRef(Py_None) : call1(f_json_text, tool_args);
        if (f[S_TOOL_ARGS] == NULL) DECLINE;
    } else {
        tool_args = Py_NewRef(Py_None);
        f[S_TOOL_NAME] = Py_NewRef(Py_None);
        f[S_TOOL_ID] = Py_NewRef(Py_None);
        f[S_TOOL_ARGS] = Py_NewRef(Py_None);
        f[S_TOOL_RES] = Py_NewRef(Py_None);
    }

    /* messages (GenAI parts-based attributes only; every other source declined above) */
    if ((inp = normalize(msg_in, s_user)) == NULL) DECLINE;
    if ((outm = normalize(msg_out, s_assistant)) == NULL) DECLINE;

    /* readable text */
    PyObject *in_text = last_content(inp, roles_user);
    if (in_text == NULL) DECLINE;
    if (in_text == Py_None) {
        Py_DECREF(in_text);
        if (is_tool && tool_args != Py_None) {
            in_text = json_str(tool_args);
        } else {
            in_text = (inp != Py_None && PyList_GET_SIZE(inp) > 0) ? last_content(inp, roles_input) : Py_NewRef(Py_None);
        }
        if (in_text == NULL) DECLINE;
    }
    f[S_IN_TEXT] = in_text;
    PyObject *out_text = last_content(outm, roles_assistant);
    if (out_text == NULL) DECLINE;
    if (out_text == Py_None && is_tool && f[S_TOOL_RES] != Py_None) {
        Py_DECREF(out_text);
        out_text = Py_NewRef(f[S_TOOL_RES]);
    }
    f[S_OUT_TEXT] = out_text;

    /* frozen JSON text */
    if ((f[S_IN_MSGS] = inp == Py_None ? Py_NewRef(Py_None) : dumps_json(inp)) == NULL) DECLINE;
    if ((f[S_OUT_MSGS] = outm == Py_None ? Py_NewRef(Py_None) : dumps_json(outm)) == NULL) DECLINE;
    if ((f[S_ATTRS] = dumps_json(merged)) == NULL) DECLINE;
    if ((f[S_RAW] = dumps_json(sp)) == NULL) DECLINE;

    /* the Span */
    PyObject *span = span_type->tp_alloc(span_type, 0);
    if (span == NULL) DECLINE;
    for (int i = 0; i < NFIELDS; i++) {   /* a fresh object: every slot is NULL, and takes f[i] over */
        SLOT(span, i) = f[i];
        f[i] = NULL;
    }
    result = span;
    *outm_out = Py_NewRef(outm);
    goto done;

decline:
    if (debug && PyErr_Occurred()) PyErr_Print();
    PyErr_Clear();
    result = Py_NewRef(Py_None);
done:
    for (int i = 0; i < NFIELDS; i++) Py_XDECREF(f[i]);
    Py_XDECREF(merged);
    Py_XDECREF(inp);
    Py_XDECREF(outm);
    Py_XDECREF(tool_args);
    return result;
}

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
    PyObject *e = trace_entry(traces, tid);
    if (e == NULL) return PyErr_Occurred() ? -1 : 0;
    PyObject *sid = SLOT(span, S_SPAN_ID), *src = SLOT(span, S_SOURCE), *end = SLOT(span, S_END);
    if (sid == NULL || src == NULL || end == NULL) return 0;
    PyObject *ref = PyTuple_Pack(3, sid, src, end);   /* not the span: the loader may mutate it */
    if (ref == NULL) return -1;
    int rc = 0;
    for (Py_ssize_t i = 0; rc == 0 && i < PyList_GET_SIZE(outm); i++) {
        PyObject *tcs = dget(PyList_GET_ITEM(outm, i), s_tool_calls);
        if (tcs == NULL || tcs == Py_None) continue;
        for (Py_ssize_t j = 0; rc == 0 && j < PyList_GET_SIZE(tcs); j++) {
            PyObject *seq = next_seq(e);
            PyObject *pi = PyLong_FromSsize_t(i), *pj = PyLong_FromSsize_t(j);
            PyObject *rec = (seq && pi && pj) ? PyTuple_Pack(5, seq, ref, pi, pj, PyList_GET_ITEM(tcs, j)) : NULL;
            rc = rec == NULL ? -1 : PyList_Append(PyList_GET_ITEM(e, 2), rec);
            Py_XDECREF(rec);
            Py_XDECREF(seq);
            Py_XDECREF(pi);
            Py_XDECREF(pj);
        }
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

/* map_spans(spans, base, source, line_no, out, observe, slow): the span loop of one scope of an OTLP
 * request. Each span is mapped here or, when declined, by ``slow(sp, base, source, line_no, out)``
 * (otlp_json.span_item, which appends the span or its Rejected); items go to ``out`` in order, each
 * mapped span followed by the ToolCall ``observe`` returns for it. */
static PyObject *map_spans(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 7 || !PyList_CheckExact(args[0]) || !PyList_CheckExact(args[4])) {
        PyErr_SetString(PyExc_TypeError, "map_spans(spans: list, base, source, line_no, out: list, observe, slow)");
        return NULL;
    }
    if (!check_ready()) return NULL;
    PyObject *spans = args[0], *base = args[1], *source = args[2], *out = args[4], *observe = args[5], *slow = args[6];
    /* observe is ToolCallTracker.observe: its records for the spans mapped here are made here (track) */
    PyObject *traces = NULL;
    if (PyMethod_Check(observe) && PyMethod_GET_FUNCTION(observe) == f_observe) {
        traces = PyObject_GetAttr(PyMethod_GET_SELF(observe), s__traces);
        if (traces == NULL || !PyDict_CheckExact(traces)) {
            PyErr_Clear();
            Py_CLEAR(traces);
        }
    }
    PyObject *result = NULL;
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(spans); i++) {
        PyObject *sp = PyList_GET_ITEM(spans, i);
        PyObject *outm = NULL, *span = map_one(sp, base, source, &outm);
        if (span != Py_None) {
            int rc = PyList_Append(out, span), done = rc < 0 || traces == NULL ? 0 : track(out, traces, span, outm);
            if (rc == 0 && done == 0) rc = append_call(out, observe, span, outm);   /* as the Python loop does */
            Py_DECREF(span);
            Py_DECREF(outm);
            if (rc < 0 || done < 0) goto fail;
            continue;
        }
        Py_DECREF(span);
        PyObject *a[5] = {sp, base, source, args[3], out};
        span = PyObject_Vectorcall(slow, a, 5, NULL);
        if (span == NULL) goto fail;
        int rc = span == Py_None ? 0 : append_call(out, observe, span, NULL);
        Py_DECREF(span);
        if (rc < 0) goto fail;
    }
    result = Py_NewRef(Py_None);
fail:
    Py_XDECREF(traces);
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
    if ((key_class = PyDict_New()) == NULL) return NULL;
    INTERN(s_traceId, "traceId"); INTERN(s_spanId, "spanId"); INTERN(s_parentSpanId, "parentSpanId");
    INTERN(s_name, "name"); INTERN(s_start, "startTimeUnixNano"); INTERN(s_end, "endTimeUnixNano");
    INTERN(s_status, "status"); INTERN(s_events, "events"); INTERN(s_attributes, "attributes");
    INTERN(s_key, "key"); INTERN(s_value, "value"); INTERN(s_stringValue, "stringValue");
    INTERN(s_intValue, "intValue"); INTERN(s_doubleValue, "doubleValue"); INTERN(s_boolValue, "boolValue");
    INTERN(s_arrayValue, "arrayValue"); INTERN(s_values, "values"); INTERN(s_code, "code");
    INTERN(s_status_code, "status_code"); INTERN(s_message, "message"); INTERN(s_description, "description");
    INTERN(s_parts, "parts"); INTERN(s_role, "role"); INTERN(s_type, "type"); INTERN(s_content, "content");
    INTERN(s_finish_reason, "finish_reason"); INTERN(s_id, "id"); INTERN(s_arguments, "arguments");
    INTERN(s_response, "response"); INTERN(s_tool_calls, "tool_calls"); INTERN(s__traces, "_traces"); INTERN(s_tool_call_id, "tool_call_id");
    INTERN(s_op, "gen_ai.operation.name"); INTERN(s_gen_tool_name, "gen_ai.tool.name");
    INTERN(s_hint_req, "gen_ai.request.model"); INTERN(s_hint_resp, "gen_ai.response.model");
    INTERN(s_hint_in, "gen_ai.usage.input_tokens"); INTERN(s_in_msgs, "gen_ai.input.messages");
    INTERN(s_out_msgs, "gen_ai.output.messages"); INTERN(s_user, "user"); INTERN(s_assistant, "assistant");
    INTERN(s_tool, "tool"); INTERN(s_llm, "llm"); INTERN(s_unknown, "unknown"); INTERN(s_unset, "unset");
    INTERN(s_text, "text"); INTERN(s_tool_call, "tool_call"); INTERN(s_tool_call_response, "tool_call_response");
    PyObject *sys_s;
    INTERN(sys_s, "system");
    PyObject *default_s;   /* interned: orjson matches keyword names by identity */
    INTERN(default_s, "default");
    if ((kw_default = PyTuple_Pack(1, default_s)) == NULL) return NULL;
    if ((roles_user = PyTuple_Pack(1, s_user)) == NULL) return NULL;
    if ((roles_assistant = PyTuple_Pack(1, s_assistant)) == NULL) return NULL;
    if ((roles_input = PyTuple_Pack(3, s_user, s_tool, sys_s)) == NULL) return NULL;
    debug = getenv("TRACEMILL_NATIVE_DEBUG") != NULL;
    configured = 1;
    Py_RETURN_NONE;
}

static PyObject *last_decline(PyObject *self, PyObject *unused) { return PyLong_FromLong(decline_line); }

static PyMethodDef methods[] = {
    {"map_spans", (PyCFunction)(void (*)(void))map_spans, METH_FASTCALL,
     "map_spans(spans, base, source, line_no, out, observe, slow): map one scope's spans into out."},
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
#define NATIVE_API 4

PyMODINIT_FUNC PyInit__otlp_native(void) {
    PyObject *m = PyModule_Create(&module);
    if (m != NULL && PyModule_AddIntConstant(m, "API", NATIVE_API) < 0) Py_CLEAR(m);
    return m;
}
