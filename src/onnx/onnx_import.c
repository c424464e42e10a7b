/*
 * onnx_import.c - ONNX model files to graft models (graft_onnx_import).
 *
 * The file is decoded by onnx_pb.c into borrowed views of the buffer. The
 * graph is then walked once, node by node, in file order (ONNX requires a
 * topological order). Every ONNX value becomes one of:
 *  - a constant (initializers, Constant nodes, and anything computed only
 *    from constants: the shape arithmetic exporters emit is evaluated here);
 *  - an activation: the output of a graft layer, or the model input, with its
 *    ONNX shape;
 *  - unavailable (an output graft does not compute, such as MaxPool's
 *    indices), with the reason, reported if something reads it.
 * A node whose inputs are all constants is folded; otherwise it is mapped to
 * one or more graft layers appended with graft_model_add(), whose parameters
 * are then overwritten with the file's weights. Nothing is skipped: an
 * operator graft cannot compute is refused with GRAFT_E_UNSUPPORTED naming
 * the operator and the node.
 *
 * Batch axis. With batch_axis 1 (the default) axis 0 of the graph input is
 * graft's batch axis and an activation's ONNX shape equals its graft shape;
 * the batch size is unknown at import, so a folded shape value that holds it
 * carries the marker SYM_BATCH, which may be moved around (Gather, Concat,
 * Unsqueeze, ...) but not computed with. With batch_axis 0 the graph works
 * on one sample: an ONNX shape (d0, ..., dk) is graft's (1, d0, ..., dk), so
 * ONNX axis a is graft axis a + 1.
 *
 * Bounds. All memory comes from the decoded model's arena, freed at the end.
 * Initializers are converted only after the element count their dims declare
 * has been checked against the count their data holds; folded constants
 * share a budget of elements proportional to the file's size.
 */
#include "model/model.h"
#include "onnx_pb.h"

#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#define SYM_BATCH INT64_MIN  /* a folded shape value: the batch size */
#define OPSET_MIN 1
#define OPSET_MAX 18
#define FOLD_BASE_ELEMS ((size_t)1 << 22)

/* ---- values ------------------------------------------------------------------ */

typedef struct cval {
    int is_int;    /* 1: values in i (integer and bool types); 0: in f */
    int dtype;     /* ONNX element type */
    int ndim;
    int64_t dims[ONNX_MAX_RANK];
    size_t numel;
    float *f;
    int64_t *i;
} cval;

enum { V_NONE, V_CONST, V_ACT, V_DEAD };

typedef struct val {
    const char *name;
    int kind;
    cval c;               /* V_CONST */
    const char *layer;    /* V_ACT: the graft layer it is the output of, or GRAFT_MODEL_INPUT */
    int ndim;             /* V_ACT: ONNX rank */
    int64_t dims[ONNX_MAX_RANK]; /* V_ACT: ONNX shape; dims[0] is SYM_BATCH when batched */
    int pads[4];          /* V_ACT: zero padding waiting for the conv that reads it
                             (top, left, bottom, right) */
    const char *why;      /* V_DEAD: why it cannot be read */
    int consumers;        /* node inputs that read it, plus graph outputs */
    int last_consumer;    /* index of the last node that reads it, or -1 */
    int is_output;        /* a graph output */
} val;

typedef struct imp {
    graft_ctx *ctx;
    const char *func;
    onnxModel om;          /* the decoded file; its arena holds everything */
    const onnxGraph *g;
    int64_t opset;
    int batched;
    int64_t static_batch;  /* the graph input's fixed batch size, or -1 */
    int keep_softmax;
    graft_model *m;
    val *vals;
    size_t cap;            /* hash table size, a power of 2 */
    size_t fold_budget;    /* elements folded constants may still take */
    const onnxNode *node;  /* the node being imported, for messages */
    int node_index;
    unsigned char *done;   /* per node: handled by a fusion with an earlier node */
    const char **names;    /* hash set of the layer names in use */
    size_t names_cap, names_used;
} imp;

static const char *node_label(const imp *im, char *buf, size_t size)
{
    if (im->node->name[0])
        snprintf(buf, size, "node \"%s\" (%s)", im->node->name, im->node->op_type);
    else snprintf(buf, size, "node #%d (%s)", im->node_index, im->node->op_type);
    return buf;
}

/* Records "func(): node "name" (Op): message" (without the node part outside
 * nodes) and returns st. */
static int fail(imp *im, int st, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

static int fail(imp *im, int st, const char *fmt, ...)
{
    char msg[GRAFT_ERRMSG_SIZE], label[160];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (!im->node) return graftError(im->ctx, st, im->func, "%s", msg);
    return graftError(im->ctx, st, im->func, "%s: %s", node_label(im, label, sizeof label), msg);
}

static int nomem(imp *im) { return fail(im, GRAFT_E_NOMEM, "out of memory"); }

static void *arena(imp *im, size_t n) { return graftOnnxArenaAlloc(&im->om, n); }

static const char *arena_strdup(imp *im, const char *s)
{
    size_t n = strlen(s) + 1;
    char *p = arena(im, n);
    if (p) memcpy(p, s, n);
    return p;
}

static uint64_t hash_name(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

/* The entry of name; created (V_NONE) when create is set and it is absent.
 * NULL when absent (or out of room, which the sizing prevents). */
static val *lookup(imp *im, const char *name, int create)
{
    size_t mask = im->cap - 1;
    for (size_t k = hash_name(name) & mask, n = 0; n < im->cap; k = (k + 1) & mask, n++) {
        val *v = &im->vals[k];
        if (!v->name) {
            if (!create) return NULL;
            v->name = name;
            v->last_consumer = -1;
            return v;
        }
        if (strcmp(v->name, name) == 0) return v;
    }
    return NULL;
}

/* Defines value name (an output of the current node, an initializer or an
 * input); a second definition is a malformed file. */
static int define(imp *im, const char *name, val **out)
{
    val *v = lookup(im, name, 1);
    if (!v) return nomem(im);
    if (v->kind != V_NONE)
        return fail(im, GRAFT_E_FORMAT, "value \"%s\" is defined twice", name);
    *out = v;
    return GRAFT_OK;
}

/* ---- constants ----------------------------------------------------------------- */

static int is_float_type(int t)
{
    return t == ONNX_FLOAT || t == ONNX_DOUBLE || t == ONNX_FLOAT16 || t == ONNX_BFLOAT16;
}

static int shape_numel(imp *im, int ndim, const int64_t *dims, size_t *numel)
{
    int64_t n = 1;
    for (int d = 0; d < ndim; d++) {
        if (dims[d] < 0 || dims[d] > GRAFT_MAX_NUMEL ||
            (dims[d] > 0 && n > GRAFT_MAX_NUMEL / dims[d]))
            return fail(im, GRAFT_E_FORMAT, "a tensor dimension is %lld, or the element count "
                        "exceeds 2^40", (long long)dims[d]);
        n *= dims[d];
    }
    *numel = (size_t)n;
    return GRAFT_OK;
}

/* Allocates a folded constant's storage, charged to the fold budget. */
static int cval_alloc(imp *im, cval *c, int is_int, int dtype, int ndim, const int64_t *dims)
{
    memset(c, 0, sizeof *c);
    if (ndim < 0 || ndim > ONNX_MAX_RANK)
        return fail(im, GRAFT_E_UNSUPPORTED, "a constant of rank %d (graft folds up to %d)", ndim,
                    ONNX_MAX_RANK);
    GRAFT_FORWARD_IF_ERROR(shape_numel(im, ndim, dims, &c->numel));
    if (c->numel > im->fold_budget)
        return fail(im, GRAFT_E_UNSUPPORTED,
                    "computing constants of %zu more elements exceeds what graft evaluates "
                    "at import for a file of this size",
                    c->numel);
    im->fold_budget -= c->numel;
    c->is_int = is_int;
    c->dtype = dtype;
    c->ndim = ndim;
    if (ndim) memcpy(c->dims, dims, (size_t)ndim * sizeof *dims);
    if (is_int) c->i = arena(im, c->numel * sizeof *c->i);
    else c->f = arena(im, c->numel * sizeof *c->f);
    if (!c->i && !c->f) return nomem(im);
    return GRAFT_OK;
}

/* A constant from a TensorProto: the stored count must match the dims
 * before anything is allocated. */
static int cval_from_tensor(imp *im, const onnxTensor *t, cval *c)
{
    size_t numel, stored;
    memset(c, 0, sizeof *c);
    GRAFT_FORWARD_IF_ERROR(graftOnnxTensorNumel(im->ctx, im->func, t, &numel));
    GRAFT_FORWARD_IF_ERROR(graftOnnxTensorStoredCount(im->ctx, im->func, t, &stored));
    if (stored != numel)
        return fail(
            im, GRAFT_E_FORMAT,
            "tensor \"%s\" at offset %zu: its dimensions need %zu elements but it holds %zu",
            t->name, t->offset, numel, stored);
    c->is_int = !is_float_type(t->data_type);
    c->dtype = t->data_type;
    c->ndim = t->ndim;
    c->numel = numel;
    if (t->ndim) memcpy(c->dims, t->dims, (size_t)t->ndim * sizeof *t->dims);
    if (c->is_int) {
        c->i = arena(im, numel * sizeof *c->i);
        if (!c->i) return nomem(im);
        return graftOnnxTensorReadI64(im->ctx, im->func, t, c->i, numel);
    }
    c->f = arena(im, numel * sizeof *c->f);
    if (!c->f) return nomem(im);
    return graftOnnxTensorReadF32(im->ctx, im->func, t, c->f, numel);
}

static double cget(const cval *c, size_t k) { return c->is_int ? (double)c->i[k] : c->f[k]; }

static int has_sym(const cval *c)
{
    if (!c->is_int) return 0;
    for (size_t k = 0; k < c->numel; k++)
        if (c->i[k] == SYM_BATCH) return 1;
    return 0;
}

static int sym_fail(imp *im)
{
    return fail(im, GRAFT_E_UNSUPPORTED,
                "it computes with the batch size, which graft does not know at import");
}

/* Reads a constant's values as integers into out (room for max): floats must
 * be whole. SYM_BATCH passes only with allow_sym. */
static int cval_ints(imp *im, const cval *c, const char *what, int allow_sym, int64_t *out,
                     size_t max, size_t *n)
{
    if (c->numel > max)
        return fail(im, GRAFT_E_UNSUPPORTED, "%s has %zu values, graft takes at most %zu", what,
                    c->numel, max);
    for (size_t k = 0; k < c->numel; k++) {
        if (c->is_int) {
            if (c->i[k] == SYM_BATCH && !allow_sym) return sym_fail(im);
            out[k] = c->i[k];
        } else {
            double v = c->f[k];
            if (!(v >= -9.2e18 && v <= 9.2e18) || v != floor(v))
                return fail(im, GRAFT_E_FORMAT, "%s holds %g, not an integer", what, v);
            out[k] = (int64_t)v;
        }
    }
    *n = c->numel;
    return GRAFT_OK;
}

/* ---- node inputs and attributes ------------------------------------------------- */

/* Input k of the current node, or NULL when it is absent or empty. */
static int opt_input(imp *im, int k, val **out)
{
    *out = NULL;
    if (k >= im->node->n_inputs || !im->node->inputs[k][0]) return GRAFT_OK;
    val *v = lookup(im, im->node->inputs[k], 0);
    if (!v || v->kind == V_NONE)
        return fail(im, GRAFT_E_FORMAT,
                    "input \"%s\" is not an initializer, a graph input or the output of an "
                    "earlier node",
                    im->node->inputs[k]);
    if (v->kind == V_DEAD) return fail(im, GRAFT_E_UNSUPPORTED, "it reads %s", v->why);
    *out = v;
    return GRAFT_OK;
}

static int req_input(imp *im, int k, val **out)
{
    GRAFT_FORWARD_IF_ERROR(opt_input(im, k, out));
    if (!*out) return fail(im, GRAFT_E_FORMAT, "input %d is missing", k);
    return GRAFT_OK;
}

/* Input k as an activation (a computed tensor). */
static int act_input(imp *im, int k, val **out)
{
    GRAFT_FORWARD_IF_ERROR(req_input(im, k, out));
    if ((*out)->kind != V_ACT)
        return fail(im, GRAFT_E_UNSUPPORTED, "graft does not evaluate %s on constants",
                    im->node->op_type);
    return GRAFT_OK;
}

/* Input k as a constant; what names it in messages. */
static int const_input(imp *im, int k, const char *what, int required, cval **out)
{
    val *v;
    *out = NULL;
    GRAFT_FORWARD_IF_ERROR(opt_input(im, k, &v));
    if (!v) {
        if (required) return fail(im, GRAFT_E_FORMAT, "the %s input is missing", what);
        return GRAFT_OK;
    }
    if (v->kind != V_CONST)
        return fail(im, GRAFT_E_UNSUPPORTED,
                    "its %s (\"%s\") is computed from the graph input; graft needs a constant",
                    what, v->name);
    *out = &v->c;
    return GRAFT_OK;
}

static const onnxAttr *attr(const imp *im, const char *name)
{
    return graftOnnxNodeAttr(im->node, name);
}

static int attr_type_fail(imp *im, const onnxAttr *a, const char *want)
{
    return fail(im, GRAFT_E_FORMAT, "attribute %s has type %d, expected %s", a->name, a->type,
                want);
}

static int attr_int(imp *im, const char *name, int64_t def, int64_t *out)
{
    const onnxAttr *a = attr(im, name);
    *out = def;
    if (!a) return GRAFT_OK;
    if (a->type != ONNX_ATTR_INT) return attr_type_fail(im, a, "int");
    *out = a->i;
    return GRAFT_OK;
}

static int attr_float(imp *im, const char *name, float def, float *out)
{
    const onnxAttr *a = attr(im, name);
    *out = def;
    if (!a) return GRAFT_OK;
    if (a->type != ONNX_ATTR_FLOAT) return attr_type_fail(im, a, "float");
    *out = a->f;
    return GRAFT_OK;
}

/* An ints attribute: *n is -1 when absent. */
static int attr_ints(imp *im, const char *name, const int64_t **vals, int *n)
{
    const onnxAttr *a = attr(im, name);
    *vals = NULL;
    *n = -1;
    if (!a) return GRAFT_OK;
    if (a->type != ONNX_ATTR_INTS) return attr_type_fail(im, a, "ints");
    *vals = a->ints;
    *n = a->n_ints;
    return GRAFT_OK;
}

/* A string attribute compared with s; absent attributes equal def. */
static int attr_string(imp *im, const char *name, const char *def, char *buf, size_t size)
{
    const onnxAttr *a = attr(im, name);
    if (!a) {
        snprintf(buf, size, "%s", def);
        return GRAFT_OK;
    }
    if (a->type != ONNX_ATTR_STRING) return attr_type_fail(im, a, "string");
    size_t n = a->s.n < size - 1 ? a->s.n : size - 1;
    if (n) memcpy(buf, a->s.p, n);
    buf[n] = '\0';
    for (size_t k = 0; k < n; k++)
        if (buf[k] == '\0') buf[k] = '?';
    return GRAFT_OK;
}

/* Axis attribute or value a normalised for rank r: -r <= a < r. */
static int norm_axis(imp *im, int64_t a, int r, const char *what, int *out)
{
    if (a < -r || a >= r || r == 0)
        return fail(im, GRAFT_E_FORMAT, "%s %lld is out of range for rank %d", what,
                    (long long)a, r);
    *out = (int)(a < 0 ? a + r : a);
    return GRAFT_OK;
}

/* ---- activations and layers -------------------------------------------------------- */

/* graft axis of ONNX axis a of an activation. */
static int gaxis(const imp *im, int a) { return im->batched ? a : a + 1; }

/* The per-sample graft shape of an ONNX activation shape. */
static int sample_dims(const imp *im, int ndim, const int64_t *dims, int64_t *out)
{
    int off = im->batched ? 1 : 0;
    for (int d = off; d < ndim; d++) out[d - off] = dims[d];
    return ndim - off;
}

static void shape_text(int ndim, const int64_t *dims, char *buf, size_t size)
{
    size_t pos = 0;
    pos += (size_t)snprintf(buf, size, "(");
    for (int d = 0; d < ndim && pos < size; d++) {
        if (dims[d] == SYM_BATCH)
            pos += (size_t)snprintf(buf + pos, size - pos, "%sN", d ? ", " : "");
        else
            pos += (size_t)snprintf(buf + pos, size - pos, "%s%lld", d ? ", " : "",
                                    (long long)dims[d]);
    }
    if (pos < size) snprintf(buf + pos, size - pos, ")");
}

/* The slot of name in the set of layer names: holds name, or NULL where it
 * would go. The set is sized for three layers per node, at most. */
static const char **name_slot(imp *im, const char *name)
{
    size_t mask = im->names_cap - 1, k = hash_name(name) & mask;
    while (im->names[k] && strcmp(im->names[k], name) != 0) k = (k + 1) & mask;
    return &im->names[k];
}

/* Writes a valid, unused layer name for the current node (with an optional
 * suffix such as "reshape") into out[GRAFT_NAME_MAX + 1]. */
static void layer_name(imp *im, const onnxNode *node, int index, const char *suffix, char *out)
{
    char base[GRAFT_NAME_MAX + 1], cand[GRAFT_NAME_MAX + 1];
    if (node->name[0]) {
        snprintf(base, sizeof base, "%s", node->name);
    } else {
        snprintf(base, sizeof base, "%s_%d", node->op_type, index);
    }
    for (char *p = base; *p; p++) {
        char c = *p;
        int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                 c == '_' || c == '.' || c == ':' || c == '/' || c == '-';
        if (!ok) *p = '_';
    }
    if (!base[0]) snprintf(base, sizeof base, "node_%d", index);
    for (int n = 1;; n++) {
        char tail[48];
        if (n == 1) snprintf(tail, sizeof tail, "%s%s", suffix ? "/" : "", suffix ? suffix : "");
        else snprintf(tail, sizeof tail, "%s%s_%d", suffix ? "/" : "", suffix ? suffix : "", n);
        size_t tl = strlen(tail), bl = strlen(base);
        if (bl + tl > GRAFT_NAME_MAX) bl = GRAFT_NAME_MAX - tl;
        memcpy(cand, base, bl);
        memcpy(cand + bl, tail, tl + 1);
        if (strcmp(cand, GRAFT_MODEL_INPUT) != 0 && !name_slot(im, cand)[0]) break;
    }
    memcpy(out, cand, strlen(cand) + 1);
}

/* Rewrites a failure of a layer constructor or of graft_model_add() as a
 * failure of the node: attributes graft's layers refuse are unsupported. */
static int layer_fail(imp *im, int st)
{
    char cause[GRAFT_ERRMSG_SIZE];
    const char *msg = graft_errmsg(im->ctx), *p = strstr(msg, "(): ");
    snprintf(cause, sizeof cause, "%s", p ? p + 4 : msg);
    /* A layer graft cannot build from the file's attributes and shapes:
     * the file asks for something graft does not compute. */
    if (st == GRAFT_E_INVALID_ARG || st == GRAFT_E_SHAPE) st = GRAFT_E_UNSUPPORTED;
    return fail(im, st, "%s", cause);
}

/* Appends layer l (st is its constructor's status) reading the layers
 * in_names, names it after the current node (plus suffix), and makes dst an
 * activation of its output. *added (may be NULL) receives the layer. */
static int add_layer_n(imp *im, int st, graft_layer *l, const char *suffix, int n_in,
                       const char *const *in_names, val *dst, graft_layer **added)
{
    char name[GRAFT_NAME_MAX + 1];
    if (st != GRAFT_OK) return layer_fail(im, st);
    layer_name(im, im->node, im->node_index, suffix, name);
    st = graft_model_add(im->m, name, l, n_in, in_names);
    if (st != GRAFT_OK) return layer_fail(im, st);
    const char *kept = arena_strdup(im, name);
    if (!kept) return nomem(im);
    if (im->names_used + 1 >= im->names_cap / 2)
        return fail(im, GRAFT_E_INTERNAL, "more layers than the name table holds");
    *name_slot(im, kept) = kept;
    im->names_used++;
    const graft_layer *layer = im->m->nodes[im->m->n_nodes - 1].layer;
    const graftShape *s = &layer->out_shape;
    dst->kind = V_ACT;
    dst->layer = kept;
    memset(dst->pads, 0, sizeof dst->pads);
    int off = im->batched ? 0 : 1;
    dst->ndim = s->ndim - off;
    for (int d = 0; d < dst->ndim; d++) dst->dims[d] = s->dims[d + off];
    if (im->batched) dst->dims[0] = SYM_BATCH;
    if (added) *added = im->m->nodes[im->m->n_nodes - 1].layer;
    return GRAFT_OK;
}

/* The same for a layer reading up to 4 activations. */
static int add_layer(imp *im, int st, graft_layer *l, const char *suffix, int n_in, val *const *ins,
                     val *dst, graft_layer **added)
{
    const char *in_names[4];
    if (n_in > 4) {
        graft_layer_free(l);
        return fail(im, GRAFT_E_INTERNAL, "too many layer inputs");
    }
    for (int k = 0; k < n_in; k++) in_names[k] = ins[k]->layer;
    return add_layer_n(im, st, l, suffix, n_in, in_names, dst, added);
}

/* Copies a layer parameter's values from data (n floats). */
static int set_param(imp *im, graft_layer *l, const char *name, const float *data, size_t n)
{
    graftParam *p = graftLayerFindParam(l, name);
    if (!p || p->value->numel != n)
        return fail(im, GRAFT_E_INTERNAL, "the %s layer's %s does not have %zu values",
                    l->vtbl->kind, name, n);
    memcpy(p->value->data, data, n * sizeof *data);
    return GRAFT_OK;
}

/* dst becomes src under another name (Identity, Dropout, no-op reshapes). */
static void alias(val *dst, const val *src)
{
    const char *name = dst->name;
    int consumers = dst->consumers, last = dst->last_consumer, is_output = dst->is_output;
    *dst = *src;
    dst->name = name;
    dst->consumers = consumers;
    dst->last_consumer = last;
    dst->is_output = is_output;
}

/* Makes dst the activation src reshaped to the ONNX shape (ndim, dims) (same
 * element count; dims[0] is SYM_BATCH when batched): an alias when graft's
 * per-sample shape does not change, else a reshape layer. */
static int emit_reshape(imp *im, val *src, int ndim, const int64_t *dims, const char *suffix,
                        val *dst)
{
    int64_t want[ONNX_MAX_RANK], have[ONNX_MAX_RANK];
    if (im->batched && (ndim < 1 || dims[0] != SYM_BATCH))
        return fail(im, GRAFT_E_UNSUPPORTED, "it moves the batch axis");
    int wn = sample_dims(im, ndim, dims, want), hn = sample_dims(im, src->ndim, src->dims, have);
    if (wn < 1)
        return fail(im, GRAFT_E_UNSUPPORTED,
                    "its result has no axis but the batch; graft layers output (N, ...)");
    if (wn > GRAFT_MAX_DIMS - 1)
        return fail(im, GRAFT_E_UNSUPPORTED, "its result has rank %d; graft handles up to %d",
                    ndim, GRAFT_MAX_DIMS - (im->batched ? 0 : 1));
    int same = wn == hn;
    for (int d = 0; same && d < wn; d++) same = want[d] == have[d];
    if (same) {
        alias(dst, src);
        dst->ndim = ndim;
        memcpy(dst->dims, dims, (size_t)ndim * sizeof *dims);
        return GRAFT_OK;
    }
    graft_layer *l = NULL;
    int st = graft_layer_reshape(im->ctx, wn, want, &l);
    GRAFT_FORWARD_IF_ERROR(add_layer(im, st, l, suffix, 1, &src, dst, NULL));
    dst->ndim = ndim;
    memcpy(dst->dims, dims, (size_t)ndim * sizeof *dims);
    return GRAFT_OK;
}

/* A node's single consumer: the node index when the value is read exactly
 * once by a node (not as a graph output), else -1. */
static int single_consumer(const val *v)
{
    return v->consumers == 1 && !v->is_output ? v->last_consumer : -1;
}

/* ---- constant folding ------------------------------------------------------------ */

/* Row-major strides of dims. */
static void strides_of(int ndim, const int64_t *dims, int64_t *st)
{
    int64_t acc = 1;
    for (int d = ndim - 1; d >= 0; d--) {
        st[d] = acc;
        acc *= dims[d];
    }
}

/* Advances a multi-index over dims; returns 0 after the last. */
static int next_index(int ndim, const int64_t *dims, int64_t *idx)
{
    for (int d = ndim - 1; d >= 0; d--) {
        if (++idx[d] < dims[d]) return 1;
        idx[d] = 0;
    }
    return 0;
}

/* NumPy broadcasting of shapes a and b into out. */
static int bcast_shapes(imp *im, int na, const int64_t *a, int nb, const int64_t *b, int *nout,
                        int64_t *out)
{
    int n = na > nb ? na : nb;
    for (int d = 0; d < n; d++) {
        int64_t x = d - (n - na) >= 0 ? a[d - (n - na)] : 1;
        int64_t y = d - (n - nb) >= 0 ? b[d - (n - nb)] : 1;
        if (x != y && x != 1 && y != 1) {
            char sa[96], sb[96];
            shape_text(na, a, sa, sizeof sa);
            shape_text(nb, b, sb, sizeof sb);
            return fail(im, GRAFT_E_FORMAT, "shapes %s and %s do not broadcast", sa, sb);
        }
        out[d] = x == 1 ? y : x;
    }
    *nout = n;
    return GRAFT_OK;
}

/* Strides for reading a tensor of shape (n, dims) broadcast to (nout, out):
 * 0 on broadcast axes. */
static void bcast_strides(int n, const int64_t *dims, int nout, const int64_t *out, int64_t *st)
{
    int64_t own[ONNX_MAX_RANK];
    strides_of(n, dims, own);
    for (int d = 0; d < nout; d++) {
        int k = d - (nout - n);
        st[d] = k < 0 || (dims[k] == 1 && out[d] != 1) ? 0 : own[k];
    }
}

static int fold_copy(imp *im, val *dst, const cval *src)
{
    (void)im;
    dst->kind = V_CONST;
    dst->c = *src;
    return GRAFT_OK;
}

/* Same values, other dims (Reshape, Squeeze, Unsqueeze, Flatten). */
static int fold_redim(imp *im, val *dst, const cval *src, int ndim, const int64_t *dims)
{
    size_t numel = 0;
    GRAFT_FORWARD_IF_ERROR(shape_numel(im, ndim, dims, &numel));
    if (numel != src->numel || ndim > ONNX_MAX_RANK)
        return fail(im, GRAFT_E_FORMAT, "the new shape does not hold the %zu elements",
                    src->numel);
    dst->kind = V_CONST;
    dst->c = *src;
    dst->c.ndim = ndim;
    if (ndim) memcpy(dst->c.dims, dims, (size_t)ndim * sizeof *dims);
    return GRAFT_OK;
}

static int op_is(const imp *im, const char *op) { return strcmp(im->node->op_type, op) == 0; }

static int fold_binary(imp *im, val *dst, const cval *a, const cval *b)
{
    int n;
    int64_t dims[ONNX_MAX_RANK], sa[ONNX_MAX_RANK], sb[ONNX_MAX_RANK], idx[ONNX_MAX_RANK] = {0};
    GRAFT_FORWARD_IF_ERROR(bcast_shapes(im, a->ndim, a->dims, b->ndim, b->dims, &n, dims));
    if (has_sym(a) || has_sym(b)) return sym_fail(im);
    int cmp = op_is(im, "Equal") || op_is(im, "Less") || op_is(im, "Greater");
    int is_int = cmp || (a->is_int && b->is_int);
    cval *c = &dst->c;
    GRAFT_FORWARD_IF_ERROR(cval_alloc(im, c, is_int, cmp ? ONNX_BOOL : a->dtype, n, dims));
    bcast_strides(a->ndim, a->dims, n, dims, sa);
    bcast_strides(b->ndim, b->dims, n, dims, sb);
    char op = op_is(im, "Add") ? '+' : op_is(im, "Sub") ? '-' : op_is(im, "Mul") ? '*'
            : op_is(im, "Div") ? '/' : op_is(im, "Equal") ? '=' : op_is(im, "Less") ? '<'
            : op_is(im, "Greater") ? '>' : op_is(im, "Max") ? 'M' : op_is(im, "Min") ? 'm' : 'p';
    for (size_t k = 0; k < c->numel; k++) {
        size_t ia = 0, ib = 0;
        for (int d = 0; d < n; d++) {
            ia += (size_t)(idx[d] * sa[d]);
            ib += (size_t)(idx[d] * sb[d]);
        }
        if (is_int && !cmp) {
            int64_t x = a->i[ia], y = b->i[ib], r;
            switch (op) {
            case '+': r = (int64_t)((uint64_t)x + (uint64_t)y); break;
            case '-': r = (int64_t)((uint64_t)x - (uint64_t)y); break;
            case '*': r = (int64_t)((uint64_t)x * (uint64_t)y); break;
            case '/':
                if (y == 0 || (x == INT64_MIN && y == -1))
                    return fail(im, GRAFT_E_FORMAT, "integer division by %lld", (long long)y);
                r = x / y;
                break;
            case 'M': r = x > y ? x : y; break;
            case 'm': r = x < y ? x : y; break;
            default: {
                double p = pow((double)x, (double)y);
                if (!(p >= -9.2e18 && p <= 9.2e18))
                    return fail(im, GRAFT_E_UNSUPPORTED, "an integer power overflows");
                r = (int64_t)p;
            }
            }
            c->i[k] = r;
        } else {
            double x = cget(a, ia), y = cget(b, ib), r;
            switch (op) {
            case '+': r = x + y; break;
            case '-': r = x - y; break;
            case '*': r = x * y; break;
            case '/': r = x / y; break;
            case '=': r = x == y; break;
            case '<': r = x < y; break;
            case '>': r = x > y; break;
            case 'M': r = x > y ? x : y; break;
            case 'm': r = x < y ? x : y; break;
            default: r = pow(x, y); break;
            }
            if (cmp) c->i[k] = r != 0;
            else c->f[k] = (float)r;
        }
        next_index(n, dims, idx);
    }
    dst->kind = V_CONST;
    return GRAFT_OK;
}

static int fold_unary(imp *im, val *dst, const cval *a)
{
    if (has_sym(a)) return sym_fail(im);
    const char *op = im->node->op_type;
    int keep_int = a->is_int && (!strcmp(op, "Neg") || !strcmp(op, "Abs") ||
                                 !strcmp(op, "Floor") || !strcmp(op, "Ceil") ||
                                 !strcmp(op, "Relu") || !strcmp(op, "Not"));
    cval *c = &dst->c;
    GRAFT_FORWARD_IF_ERROR(cval_alloc(im, c, keep_int, keep_int ? a->dtype : ONNX_FLOAT, a->ndim,
                                      a->dims));
    for (size_t k = 0; k < a->numel; k++) {
        if (keep_int) {
            int64_t x = a->i[k];
            if (!strcmp(op, "Neg")) x = (int64_t)(0 - (uint64_t)x);
            else if (!strcmp(op, "Abs")) x = x < 0 ? (int64_t)(0 - (uint64_t)x) : x;
            else if (!strcmp(op, "Relu")) x = x < 0 ? 0 : x;
            else if (!strcmp(op, "Not")) x = !x;
            c->i[k] = x;
            continue;
        }
        double x = cget(a, k), r;
        if (!strcmp(op, "Neg")) r = -x;
        else if (!strcmp(op, "Abs")) r = fabs(x);
        else if (!strcmp(op, "Sqrt")) r = sqrt(x);
        else if (!strcmp(op, "Exp")) r = exp(x);
        else if (!strcmp(op, "Log")) r = log(x);
        else if (!strcmp(op, "Reciprocal")) r = 1.0 / x;
        else if (!strcmp(op, "Floor")) r = floor(x);
        else if (!strcmp(op, "Ceil")) r = ceil(x);
        else if (!strcmp(op, "Relu")) r = x < 0 ? 0 : x;
        else if (!strcmp(op, "Sigmoid")) r = 1.0 / (1.0 + exp(-x));
        else if (!strcmp(op, "Tanh")) r = tanh(x);
        else r = x;
        c->f[k] = (float)r;
    }
    dst->kind = V_CONST;
    return GRAFT_OK;
}

static int fold_cast(imp *im, val *dst, const cval *a)
{
    int64_t to;
    GRAFT_FORWARD_IF_ERROR(attr_int(im, "to", ONNX_UNDEFINED, &to));
    if (to == ONNX_STRING || to == ONNX_COMPLEX64 || to == ONNX_COMPLEX128 || to <= 0 || to > 16)
        return fail(im, GRAFT_E_UNSUPPORTED, "a cast to %s", graftOnnxTypeName((int)to));
    int to_int = !is_float_type((int)to);
    if (!to_int && has_sym(a)) return sym_fail(im);
    if (to_int == a->is_int && (to == ONNX_INT64 || to == ONNX_FLOAT || to == a->dtype)) {
        GRAFT_FORWARD_IF_ERROR(fold_copy(im, dst, a));
        dst->c.dtype = (int)to;
        return GRAFT_OK;
    }
    cval *c = &dst->c;
    GRAFT_FORWARD_IF_ERROR(cval_alloc(im, c, to_int, (int)to, a->ndim, a->dims));
    for (size_t k = 0; k < a->numel; k++) {
        if (!to_int) {
            c->f[k] = (float)cget(a, k);
            continue;
        }
        int64_t v;
        if (a->is_int) {
            v = a->i[k];
        } else {
            double x = a->f[k];
            if (to == ONNX_BOOL) {
                c->i[k] = x != 0;
                continue;
            }
            if (!(x > -9.2e18 && x < 9.2e18))
                return fail(im, GRAFT_E_UNSUPPORTED, "a cast of %g to an integer", x);
            v = (int64_t)x;
        }
        if (v == SYM_BATCH && to != ONNX_INT64 && to != ONNX_INT32) return sym_fail(im);
        switch (to) {
        case ONNX_BOOL: v = v != 0; break;
        case ONNX_UINT8: v = (uint8_t)v; break;
        case ONNX_INT8: v = (int8_t)v; break;
        case ONNX_UINT16: v = (uint16_t)v; break;
        case ONNX_INT16: v = (int16_t)v; break;
        case ONNX_INT32: if (v != SYM_BATCH) v = (int32_t)v; break;
        case ONNX_UINT32: v = (uint32_t)v; break;
        default: break;
        }
        c->i[k] = v;
    }
    dst->kind = V_CONST;
    return GRAFT_OK;
}

static int fold_gather(imp *im, val *dst, const cval *data, const cval *ind)
{
    int64_t axis_attr, idx[ONNX_MAX_RANK] = {0};
    int axis = 0;
    GRAFT_FORWARD_IF_ERROR(attr_int(im, "axis", 0, &axis_attr));
    GRAFT_FORWARD_IF_ERROR(norm_axis(im, axis_attr, data->ndim, "axis", &axis));
    if (!ind->is_int) return fail(im, GRAFT_E_FORMAT, "the indices are not integers");
    int n = data->ndim - 1 + ind->ndim;
    if (n > ONNX_MAX_RANK) return fail(im, GRAFT_E_UNSUPPORTED, "the result has rank %d", n);
    int64_t dims[ONNX_MAX_RANK], st[ONNX_MAX_RANK];
    int k = 0;
    for (int d = 0; d < axis; d++) dims[k++] = data->dims[d];
    for (int d = 0; d < ind->ndim; d++) dims[k++] = ind->dims[d];
    for (int d = axis + 1; d < data->ndim; d++) dims[k++] = data->dims[d];
    strides_of(data->ndim, data->dims, st);
    cval *c = &dst->c;
    GRAFT_FORWARD_IF_ERROR(cval_alloc(im, c, data->is_int, data->dtype, n, dims));
    int64_t size = data->dims[axis];
    for (size_t e = 0; e < c->numel; e++) {
        /* idx = (outer..., indices..., inner...) */
        size_t ipos = 0;
        for (int d = 0; d < ind->ndim; d++)
            ipos = ipos * (size_t)ind->dims[d] + (size_t)idx[axis + d];
        int64_t j = ind->i[ipos];
        if (j < -size || j >= size)
            return fail(im, GRAFT_E_FORMAT, "index %lld is out of range for a dimension of %lld",
                        (long long)j, (long long)size);
        if (j < 0) j += size;
        size_t src = (size_t)(j * st[axis]);
        for (int d = 0; d < axis; d++) src += (size_t)(idx[d] * st[d]);
        for (int d = axis + 1; d < data->ndim; d++)
            src += (size_t)(idx[d - 1 + ind->ndim] * st[d]);
        if (c->is_int) c->i[e] = data->i[src];
        else c->f[e] = data->f[src];
        next_index(n, dims, idx);
    }
    dst->kind = V_CONST;
    return GRAFT_OK;
}

static int fold_concat(imp *im, val *dst)
{
    const onnxNode *node = im->node;
    int64_t axis_attr;
    int axis = 0;
    cval *first = NULL;
    GRAFT_FORWARD_IF_ERROR(attr_int(im, "axis", 1, &axis_attr));
    int64_t total = 0, dims[ONNX_MAX_RANK];
    int is_int = 1;
    for (int k = 0; k < node->n_inputs; k++) {
        cval *c;
        GRAFT_FORWARD_IF_ERROR(const_input(im, k, "input", 1, &c));
        if (!first) {
            first = c;
            GRAFT_FORWARD_IF_ERROR(norm_axis(im, axis_attr, c->ndim, "axis", &axis));
        }
        if (c->ndim != first->ndim) return fail(im, GRAFT_E_FORMAT, "inputs of different ranks");
        for (int d = 0; d < c->ndim; d++)
            if (d != axis && c->dims[d] != first->dims[d])
                return fail(im, GRAFT_E_FORMAT, "inputs of different shapes off the axis");
        total += c->dims[axis];
        is_int &= c->is_int;
    }
    if (!first) return fail(im, GRAFT_E_FORMAT, "no inputs");
    memcpy(dims, first->dims, (size_t)first->ndim * sizeof *dims);
    dims[axis] = total;
    cval *out = &dst->c;
    GRAFT_FORWARD_IF_ERROR(cval_alloc(im, out, is_int, first->dtype, first->ndim, dims));
    size_t outer = 1, inner = 1;
    for (int d = 0; d < axis; d++) outer *= (size_t)dims[d];
    for (int d = axis + 1; d < first->ndim; d++) inner *= (size_t)dims[d];
    size_t pos = 0;
    for (size_t o = 0; o < outer; o++) {
        for (int k = 0; k < node->n_inputs; k++) {
            cval *c;
            GRAFT_FORWARD_IF_ERROR(const_input(im, k, "input", 1, &c));
            size_t run = (size_t)c->dims[axis] * inner;
            for (size_t e = 0; e < run; e++, pos++) {
                size_t src = o * run + e;
                if (is_int) out->i[pos] = c->i[src];
                else out->f[pos] = (float)cget(c, src);
            }
        }
    }
    dst->kind = V_CONST;
    return GRAFT_OK;
}

static int fold_transpose(imp *im, val *dst, const cval *a)
{
    const int64_t *perm_attr;
    int np, perm[ONNX_MAX_RANK], seen[ONNX_MAX_RANK] = {0};
    GRAFT_FORWARD_IF_ERROR(attr_ints(im, "perm", &perm_attr, &np));
    if (np >= 0 && np != a->ndim) return fail(im, GRAFT_E_FORMAT, "perm has %d entries", np);
    for (int d = 0; d < a->ndim; d++) {
        int64_t p = np >= 0 ? perm_attr[d] : a->ndim - 1 - d;
        if (p < 0 || p >= a->ndim || seen[p]++)
            return fail(im, GRAFT_E_FORMAT, "perm is not a permutation");
        perm[d] = (int)p;
    }
    int64_t dims[ONNX_MAX_RANK], st[ONNX_MAX_RANK], idx[ONNX_MAX_RANK] = {0};
    for (int d = 0; d < a->ndim; d++) dims[d] = a->dims[perm[d]];
    strides_of(a->ndim, a->dims, st);
    cval *c = &dst->c;
    GRAFT_FORWARD_IF_ERROR(cval_alloc(im, c, a->is_int, a->dtype, a->ndim, dims));
    for (size_t e = 0; e < c->numel; e++) {
        size_t src = 0;
        for (int d = 0; d < a->ndim; d++) src += (size_t)(idx[d] * st[perm[d]]);
        if (c->is_int) c->i[e] = a->i[src];
        else c->f[e] = a->f[src];
        next_index(a->ndim, dims, idx);
    }
    dst->kind = V_CONST;
    return GRAFT_OK;
}

/* ONNX Slice's clamping of one axis: start, end and step to the first index
 * and the count. */
static int slice_axis(imp *im, int64_t dim, int64_t start, int64_t end, int64_t step,
                      int64_t *first, int64_t *count)
{
    if (step == 0) return fail(im, GRAFT_E_FORMAT, "a slice step of 0");
    if (start < 0) start += dim;
    if (end < 0) end += dim;
    if (step > 0) {
        start = start < 0 ? 0 : start > dim ? dim : start;
        end = end < 0 ? 0 : end > dim ? dim : end;
        /* a step beyond the axis takes one element at most */
        uint64_t s = (uint64_t)step > (uint64_t)dim ? (uint64_t)dim + 1 : (uint64_t)step;
        *count = end > start ? (int64_t)((uint64_t)(end - start - 1) / s + 1) : 0;
    } else {
        start = start < 0 ? 0 : start > dim - 1 ? dim - 1 : start;
        end = end < -1 ? -1 : end > dim - 1 ? dim - 1 : end;
        uint64_t s = step < -dim ? (uint64_t)dim + 1 : (uint64_t)(-step);
        *count = start > end ? (int64_t)((uint64_t)(start - end - 1) / s + 1) : 0;
    }
    *first = start;
    return GRAFT_OK;
}

/* Slice of a constant (both the attribute form, opset < 10, and the input
 * form). */
static int fold_slice(imp *im, val *dst, const cval *a)
{
    int64_t starts[ONNX_MAX_RANK], ends[ONNX_MAX_RANK], axes[ONNX_MAX_RANK],
        steps[ONNX_MAX_RANK];
    size_t ns, ne, na = 0, nst = 0;
    if (im->node->n_inputs >= 2) {
        cval *cs, *ce, *ca, *cst;
        GRAFT_FORWARD_IF_ERROR(const_input(im, 1, "starts", 1, &cs));
        GRAFT_FORWARD_IF_ERROR(const_input(im, 2, "ends", 1, &ce));
        GRAFT_FORWARD_IF_ERROR(const_input(im, 3, "axes", 0, &ca));
        GRAFT_FORWARD_IF_ERROR(const_input(im, 4, "steps", 0, &cst));
        GRAFT_FORWARD_IF_ERROR(cval_ints(im, cs, "starts", 0, starts, ONNX_MAX_RANK, &ns));
        GRAFT_FORWARD_IF_ERROR(cval_ints(im, ce, "ends", 0, ends, ONNX_MAX_RANK, &ne));
        if (ca) GRAFT_FORWARD_IF_ERROR(cval_ints(im, ca, "axes", 0, axes, ONNX_MAX_RANK, &na));
        if (cst) GRAFT_FORWARD_IF_ERROR(cval_ints(im, cst, "steps", 0, steps, ONNX_MAX_RANK, &nst));
        if (!ca) na = (size_t)-1;
        if (!cst) nst = (size_t)-1;
    } else {
        const int64_t *v;
        int n;
        GRAFT_FORWARD_IF_ERROR(attr_ints(im, "starts", &v, &n));
        if (n < 0 || n > ONNX_MAX_RANK) return fail(im, GRAFT_E_FORMAT, "bad starts");
        ns = (size_t)n;
        memcpy(starts, v, ns * sizeof *v);
        GRAFT_FORWARD_IF_ERROR(attr_ints(im, "ends", &v, &n));
        if (n < 0 || n > ONNX_MAX_RANK) return fail(im, GRAFT_E_FORMAT, "bad ends");
        ne = (size_t)n;
        memcpy(ends, v, ne * sizeof *v);
        GRAFT_FORWARD_IF_ERROR(attr_ints(im, "axes", &v, &n));
        if (n > ONNX_MAX_RANK) return fail(im, GRAFT_E_FORMAT, "bad axes");
        na = n < 0 ? (size_t)-1 : (size_t)n;
        if (n > 0) memcpy(axes, v, (size_t)n * sizeof *v);
        nst = (size_t)-1;
    }
    if (na == (size_t)-1) {
        na = ns;
        for (size_t k = 0; k < na; k++) axes[k] = (int64_t)k;
    }
    if (nst == (size_t)-1) {
        nst = ns;
        for (size_t k = 0; k < nst; k++) steps[k] = 1;
    }
    if (ne != ns || na != ns || nst != ns)
        return fail(im, GRAFT_E_FORMAT, "starts, ends, axes and steps differ in length");
    int64_t first[ONNX_MAX_RANK], step[ONNX_MAX_RANK], dims[ONNX_MAX_RANK];
    int set[ONNX_MAX_RANK] = {0};
    for (int d = 0; d < a->ndim; d++) {
        first[d] = 0;
        step[d] = 1;
        dims[d] = a->dims[d];
    }
    for (size_t k = 0; k < ns; k++) {
        int ax = 0;
        GRAFT_FORWARD_IF_ERROR(norm_axis(im, axes[k], a->ndim, "axis", &ax));
        if (set[ax]++) return fail(im, GRAFT_E_FORMAT, "axis %d is sliced twice", ax);
        GRAFT_FORWARD_IF_ERROR(
            slice_axis(im, a->dims[ax], starts[k], ends[k], steps[k], &first[ax], &dims[ax]));
        step[ax] = steps[k];
    }
    int64_t st[ONNX_MAX_RANK], idx[ONNX_MAX_RANK] = {0};
    strides_of(a->ndim, a->dims, st);
    cval *c = &dst->c;
    GRAFT_FORWARD_IF_ERROR(cval_alloc(im, c, a->is_int, a->dtype, a->ndim, dims));
    for (size_t e = 0; e < c->numel; e++) {
        size_t src = 0;
        for (int d = 0; d < a->ndim; d++) src += (size_t)((first[d] + idx[d] * step[d]) * st[d]);
        if (c->is_int) c->i[e] = a->i[src];
        else c->f[e] = a->f[src];
        next_index(a->ndim, dims, idx);
    }
    dst->kind = V_CONST;
    return GRAFT_OK;
}

/* Reads Unsqueeze's or Squeeze's axes (attribute before opset 13, input
 * after); *n is -1 when none are given. */
static int squeeze_axes(imp *im, int64_t *axes, int *n)
{
    const int64_t *v;
    int na;
    cval *c;
    *n = -1;
    GRAFT_FORWARD_IF_ERROR(const_input(im, 1, "axes", 0, &c));
    if (c) {
        size_t k;
        GRAFT_FORWARD_IF_ERROR(cval_ints(im, c, "axes", 0, axes, ONNX_MAX_RANK, &k));
        *n = (int)k;
        return GRAFT_OK;
    }
    GRAFT_FORWARD_IF_ERROR(attr_ints(im, "axes", &v, &na));
    if (na > ONNX_MAX_RANK)
        return fail(im, GRAFT_E_UNSUPPORTED, "more than %d axes", ONNX_MAX_RANK);
    if (na > 0) memcpy(axes, v, (size_t)na * sizeof *v);
    *n = na;
    return GRAFT_OK;
}

/* The shape Unsqueeze (unsq 1) or Squeeze (0) gives to (ndim, dims). */
static int squeeze_shape(imp *im, int unsq, int ndim, const int64_t *dims, int *nout,
                         int64_t *out)
{
    int64_t axes[ONNX_MAX_RANK];
    int na, mark[ONNX_MAX_RANK + 1] = {0};
    GRAFT_FORWARD_IF_ERROR(squeeze_axes(im, axes, &na));
    if (unsq) {
        if (na < 0) return fail(im, GRAFT_E_FORMAT, "no axes");
        int r = ndim + na;
        if (r > ONNX_MAX_RANK) return fail(im, GRAFT_E_UNSUPPORTED, "the result has rank %d", r);
        for (int k = 0; k < na; k++) {
            int ax = 0;
            GRAFT_FORWARD_IF_ERROR(norm_axis(im, axes[k], r, "axis", &ax));
            if (mark[ax]++) return fail(im, GRAFT_E_FORMAT, "axis %d is given twice", ax);
        }
        for (int d = 0, s = 0; d < r; d++) out[d] = mark[d] ? 1 : dims[s++];
        *nout = r;
        return GRAFT_OK;
    }
    if (na < 0) {
        for (int d = 0; d < ndim; d++) mark[d] = dims[d] == 1;
    } else {
        for (int k = 0; k < na; k++) {
            int ax = 0;
            GRAFT_FORWARD_IF_ERROR(norm_axis(im, axes[k], ndim, "axis", &ax));
            if (dims[ax] != 1)
                return fail(im, GRAFT_E_FORMAT, "axis %d has size %s, not 1", ax,
                            dims[ax] == SYM_BATCH ? "N (the batch)" : "other than 1");
            mark[ax] = 1;
        }
    }
    int r = 0;
    for (int d = 0; d < ndim; d++)
        if (!mark[d]) out[r++] = dims[d];
    *nout = r;
    return GRAFT_OK;
}

/* Resolves Reshape's target t (tn values) for input dims in (rank in_n)
 * following ONNX: 0 copies the input's size (unless allowzero), -1 is
 * inferred. For a batched activation, in[0] and the result's first size are
 * SYM_BATCH. */
static int reshape_target(imp *im, int in_n, const int64_t *in, size_t tn, const int64_t *t,
                          int allowzero, int activation, int64_t *out)
{
    if (tn > ONNX_MAX_RANK)
        return fail(im, GRAFT_E_UNSUPPORTED, "a target of rank %zu", tn);
    int batch = activation && im->batched;
    int64_t have = 1, known = 1;
    int infer = -1;
    for (int d = batch ? 1 : 0; d < in_n; d++) have *= in[d];
    for (size_t k = 0; k < tn; k++) {
        int64_t v = t[k];
        if (batch && k == 0) {
            if (v == SYM_BATCH || (v == 0 && !allowzero) ||
                (im->static_batch > 0 && v == im->static_batch)) {
                out[0] = SYM_BATCH;
                continue;
            }
            if (v == -1) {
                infer = 0;
                out[0] = SYM_BATCH;
                continue;
            }
            return fail(im, GRAFT_E_UNSUPPORTED,
                        "its target shape's first size is %lld, not the batch", (long long)v);
        }
        if (v == SYM_BATCH) return sym_fail(im);
        if (v == 0 && !allowzero) {
            if ((int)k >= in_n) return fail(im, GRAFT_E_FORMAT, "size 0 at %zu copies no axis", k);
            v = in[k];
        } else if (v == -1) {
            if (infer >= 0) return fail(im, GRAFT_E_FORMAT, "more than one -1 in the target");
            infer = (int)k;
            out[k] = -1;
            continue;
        } else if (v < 0) {
            return fail(im, GRAFT_E_FORMAT, "size %lld in the target", (long long)v);
        }
        if (v > GRAFT_MAX_NUMEL || (v > 0 && known > GRAFT_MAX_NUMEL / v))
            return fail(im, GRAFT_E_FORMAT, "the target shape is too large");
        out[k] = v;
        known *= v;
    }
    if (infer == 0 && batch) {
        if (known != have)
            return fail(im, GRAFT_E_UNSUPPORTED,
                        "its target infers the batch size from %lld elements per sample",
                        (long long)known);
    } else if (infer >= 0) {
        if (known == 0 || have % known)
            return fail(im, GRAFT_E_FORMAT, "cannot infer the -1 size: %lld elements into %lld",
                        (long long)have, (long long)known);
        out[infer] = have / known;
    } else if (known != have) {
        return fail(im, GRAFT_E_FORMAT, "the target holds %lld elements, the input %lld",
                    (long long)known, (long long)have);
    }
    return GRAFT_OK;
}

static int fold_shape_of(imp *im, val *dst, int ndim, const int64_t *dims)
{
    int64_t start, end;
    GRAFT_FORWARD_IF_ERROR(attr_int(im, "start", 0, &start));
    GRAFT_FORWARD_IF_ERROR(attr_int(im, "end", ndim, &end));
    if (start < 0) start += ndim;
    if (end < 0) end += ndim;
    if (start < 0) start = 0;
    if (end > ndim) end = ndim;
    if (start > ndim) start = ndim;
    int64_t n = end > start ? end - start : 0;
    cval *c = &dst->c;
    GRAFT_FORWARD_IF_ERROR(cval_alloc(im, c, 1, ONNX_INT64, 1, &n));
    for (int64_t k = 0; k < n; k++) c->i[k] = dims[start + k];
    dst->kind = V_CONST;
    return GRAFT_OK;
}

static int fold_constant_of_shape(imp *im, val *dst, const cval *shape)
{
    int64_t dims[ONNX_MAX_RANK];
    size_t n;
    GRAFT_FORWARD_IF_ERROR(cval_ints(im, shape, "shape", 0, dims, ONNX_MAX_RANK, &n));
    cval value;
    const onnxAttr *a = attr(im, "value");
    memset(&value, 0, sizeof value);
    if (a) {
        if (a->type != ONNX_ATTR_TENSOR || !a->t) return attr_type_fail(im, a, "tensor");
        GRAFT_FORWARD_IF_ERROR(cval_from_tensor(im, a->t, &value));
        if (value.numel != 1)
            return fail(im, GRAFT_E_FORMAT, "value holds %zu elements", value.numel);
    }
    cval *c = &dst->c;
    GRAFT_FORWARD_IF_ERROR(cval_alloc(im, c, a ? value.is_int : 0, a ? value.dtype : ONNX_FLOAT,
                                      (int)n, dims));
    for (size_t k = 0; k < c->numel; k++) {
        if (c->is_int) c->i[k] = value.i[0];
        else c->f[k] = a ? value.f[0] : 0.0f;
    }
    dst->kind = V_CONST;
    return GRAFT_OK;
}

static int fold_range(imp *im, val *dst, const cval *start, const cval *limit, const cval *delta)
{
    if (start->numel != 1 || limit->numel != 1 || delta->numel != 1)
        return fail(im, GRAFT_E_FORMAT, "start, limit and delta must be scalars");
    if (has_sym(start) || has_sym(limit) || has_sym(delta)) return sym_fail(im);
    double s = cget(start, 0), l = cget(limit, 0), d = cget(delta, 0);
    if (d == 0 || !isfinite(s) || !isfinite(l) || !isfinite(d))
        return fail(im, GRAFT_E_FORMAT, "a range of step %g", d);
    double count = ceil((l - s) / d);
    if (count < 0) count = 0;
    if (count > (double)GRAFT_MAX_NUMEL) return fail(im, GRAFT_E_UNSUPPORTED, "a range too long");
    int64_t n = (int64_t)count;
    int is_int = start->is_int && limit->is_int && delta->is_int;
    cval *c = &dst->c;
    GRAFT_FORWARD_IF_ERROR(cval_alloc(im, c, is_int, start->dtype, 1, &n));
    for (int64_t k = 0; k < n; k++) {
        if (c->is_int) c->i[k] = start->i[0] + k * delta->i[0];
        else c->f[k] = (float)(s + (double)k * d);
    }
    dst->kind = V_CONST;
    return GRAFT_OK;
}

static int fold_expand(imp *im, val *dst, const cval *a, const cval *shape)
{
    int64_t want[ONNX_MAX_RANK], dims[ONNX_MAX_RANK], st[ONNX_MAX_RANK], idx[ONNX_MAX_RANK] = {0};
    size_t n;
    int nd;
    GRAFT_FORWARD_IF_ERROR(cval_ints(im, shape, "shape", 0, want, ONNX_MAX_RANK, &n));
    GRAFT_FORWARD_IF_ERROR(bcast_shapes(im, a->ndim, a->dims, (int)n, want, &nd, dims));
    bcast_strides(a->ndim, a->dims, nd, dims, st);
    cval *c = &dst->c;
    GRAFT_FORWARD_IF_ERROR(cval_alloc(im, c, a->is_int, a->dtype, nd, dims));
    for (size_t e = 0; e < c->numel; e++) {
        size_t src = 0;
        for (int d = 0; d < nd; d++) src += (size_t)(idx[d] * st[d]);
        if (c->is_int) c->i[e] = a->i[src];
        else c->f[e] = a->f[src];
        next_index(nd, dims, idx);
    }
    dst->kind = V_CONST;
    return GRAFT_OK;
}

static int fold_where(imp *im, val *dst, const cval *cond, const cval *x, const cval *y)
{
    int n1, n;
    int64_t d1[ONNX_MAX_RANK], dims[ONNX_MAX_RANK], sc[ONNX_MAX_RANK], sx[ONNX_MAX_RANK],
        sy[ONNX_MAX_RANK], idx[ONNX_MAX_RANK] = {0};
    if (has_sym(cond)) return sym_fail(im);
    GRAFT_FORWARD_IF_ERROR(bcast_shapes(im, cond->ndim, cond->dims, x->ndim, x->dims, &n1, d1));
    GRAFT_FORWARD_IF_ERROR(bcast_shapes(im, n1, d1, y->ndim, y->dims, &n, dims));
    bcast_strides(cond->ndim, cond->dims, n, dims, sc);
    bcast_strides(x->ndim, x->dims, n, dims, sx);
    bcast_strides(y->ndim, y->dims, n, dims, sy);
    int is_int = x->is_int && y->is_int;
    cval *c = &dst->c;
    GRAFT_FORWARD_IF_ERROR(cval_alloc(im, c, is_int, x->dtype, n, dims));
    for (size_t e = 0; e < c->numel; e++) {
        size_t ic = 0, ix = 0, iy = 0;
        for (int d = 0; d < n; d++) {
            ic += (size_t)(idx[d] * sc[d]);
            ix += (size_t)(idx[d] * sx[d]);
            iy += (size_t)(idx[d] * sy[d]);
        }
        int take_x = cget(cond, ic) != 0;
        if (is_int) c->i[e] = take_x ? x->i[ix] : y->i[iy];
        else c->f[e] = (float)(take_x ? cget(x, ix) : cget(y, iy));
        next_index(n, dims, idx);
    }
    dst->kind = V_CONST;
    return GRAFT_OK;
}

static int fold_constant(imp *im, val *dst)
{
    const onnxAttr *a;
    cval *c = &dst->c;
    if ((a = attr(im, "value"))) {
        if (a->type != ONNX_ATTR_TENSOR || !a->t) return attr_type_fail(im, a, "tensor");
        GRAFT_FORWARD_IF_ERROR(cval_from_tensor(im, a->t, c));
    } else if ((a = attr(im, "value_float"))) {
        if (a->type != ONNX_ATTR_FLOAT) return attr_type_fail(im, a, "float");
        GRAFT_FORWARD_IF_ERROR(cval_alloc(im, c, 0, ONNX_FLOAT, 0, NULL));
        c->f[0] = a->f;
    } else if ((a = attr(im, "value_int"))) {
        if (a->type != ONNX_ATTR_INT) return attr_type_fail(im, a, "int");
        GRAFT_FORWARD_IF_ERROR(cval_alloc(im, c, 1, ONNX_INT64, 0, NULL));
        c->i[0] = a->i;
    } else if ((a = attr(im, "value_floats"))) {
        if (a->type != ONNX_ATTR_FLOATS) return attr_type_fail(im, a, "floats");
        int64_t n = a->n_floats;
        GRAFT_FORWARD_IF_ERROR(cval_alloc(im, c, 0, ONNX_FLOAT, 1, &n));
        if (n) memcpy(c->f, a->floats, (size_t)n * sizeof *c->f);
    } else if ((a = attr(im, "value_ints"))) {
        if (a->type != ONNX_ATTR_INTS) return attr_type_fail(im, a, "ints");
        int64_t n = a->n_ints;
        GRAFT_FORWARD_IF_ERROR(cval_alloc(im, c, 1, ONNX_INT64, 1, &n));
        if (n) memcpy(c->i, a->ints, (size_t)n * sizeof *c->i);
    } else {
        return fail(im, GRAFT_E_UNSUPPORTED,
                    "it has no value, value_float(s) or value_int(s) attribute (sparse and "
                    "string constants are not supported)");
    }
    dst->kind = V_CONST;
    return GRAFT_OK;
}

/* ---- elementwise operators ------------------------------------------------------------ */

enum { SS_ADD, SS_SUB, SS_RSUB, SS_MUL, SS_DIV, SS_NEG };

/* x op c with c a constant that broadcasts over x without growing it:
 * a scale_shift layer. legacy_axis >= 0 places c at that axis (the
 * broadcast attribute of opsets before 7). */
static int emit_scale_shift(imp *im, val *x, const cval *c, int mode, int legacy_axis, val *dst)
{
    int r = x->ndim;
    int64_t al[ONNX_MAX_RANK];
    for (int d = 0; d < r; d++) al[d] = 1;
    if (c) {
        int first = legacy_axis >= 0 ? legacy_axis : r - c->ndim;
        if (first < 0 || first + c->ndim > r) {
            char cs[96], xs[96];
            shape_text(c->ndim, c->dims, cs, sizeof cs);
            shape_text(x->ndim, x->dims, xs, sizeof xs);
            return fail(im, GRAFT_E_UNSUPPORTED,
                        "the constant %s has more axes than the computed tensor %s", cs, xs);
        }
        for (int k = 0; k < c->ndim; k++) al[first + k] = c->dims[k];
        for (int d = 0; d < r; d++) {
            int bad = al[d] != 1 && (x->dims[d] == SYM_BATCH || al[d] != x->dims[d]);
            if (bad) {
                char cs[96], xs[96];
                shape_text(c->ndim, c->dims, cs, sizeof cs);
                shape_text(x->ndim, x->dims, xs, sizeof xs);
                return fail(im, GRAFT_E_UNSUPPORTED,
                            "the constant %s does not broadcast over the computed tensor %s %s",
                            cs, xs,
                            x->dims[d] == SYM_BATCH ? "(it varies along the batch axis)"
                                                    : "without growing it");
            }
        }
        if (has_sym(c)) return sym_fail(im);
    }
    int64_t cd[ONNX_MAX_RANK];
    int cn = sample_dims(im, r, al, cd);
    if (cn < 1)
        return fail(im, GRAFT_E_UNSUPPORTED,
                    "the computed tensor has no axis but the batch; graft layers take (N, ...)");
    graft_layer *l = NULL, *added;
    int st = graft_layer_scale_shift(im->ctx, cn, cd, &l);
    GRAFT_FORWARD_IF_ERROR(add_layer(im, st, l, NULL, 1, &x, dst, &added));
    graftParam *ps = graftLayerFindParam(added, "scale"), *pt = graftLayerFindParam(added, "shift");
    if (!ps || !pt) return fail(im, GRAFT_E_INTERNAL, "scale_shift parameters missing");
    size_t n = ps->value->numel;
    if (c && c->numel != n) return fail(im, GRAFT_E_INTERNAL, "scale_shift size mismatch");
    for (size_t k = 0; k < n; k++) {
        double v = c ? cget(c, k) : 0.0;
        float scale = 1.0f, shift = 0.0f;
        switch (mode) {
        case SS_ADD: shift = (float)v; break;
        case SS_SUB: shift = (float)-v; break;
        case SS_RSUB: scale = -1.0f; shift = (float)v; break;
        case SS_MUL: scale = (float)v; break;
        case SS_DIV: scale = (float)(1.0 / v); break;
        default: scale = -1.0f; break;
        }
        ps->value->data[k] = scale;
        pt->value->data[k] = shift;
    }
    return GRAFT_OK;
}

/* Present inputs are all constants. */
static int all_const(imp *im)
{
    for (int k = 0; k < im->node->n_inputs; k++) {
        val *v;
        if (opt_input(im, k, &v) != GRAFT_OK) return 0;
        if (v && v->kind != V_CONST) return 0;
    }
    return 1;
}

static int only_constants_fail(imp *im)
{
    return fail(im, GRAFT_E_UNSUPPORTED,
                "graft computes this operator only on constants, and an input here is computed "
                "from the graph input");
}

static int h_binary(imp *im, val *out)
{
    val *a, *b;
    GRAFT_FORWARD_IF_ERROR(req_input(im, 0, &a));
    if (im->node->n_inputs == 1 && (op_is(im, "Max") || op_is(im, "Min"))) {
        if (a->kind == V_CONST) return fold_copy(im, out, &a->c);
        alias(out, a);
        return GRAFT_OK;
    }
    if (im->node->n_inputs != 2)
        return fail(im, GRAFT_E_UNSUPPORTED, "%d inputs", im->node->n_inputs);
    GRAFT_FORWARD_IF_ERROR(req_input(im, 1, &b));
    if (a->kind == V_CONST && b->kind == V_CONST) return fold_binary(im, out, &a->c, &b->c);
    int add = op_is(im, "Add"), sub = op_is(im, "Sub"), mul = op_is(im, "Mul"),
        div = op_is(im, "Div");
    if (!add && !sub && !mul && !div) return only_constants_fail(im);
    if (a->kind == V_ACT && b->kind == V_ACT) {
        if (add || mul) {
            int same = a->ndim == b->ndim;
            for (int d = 0; same && d < a->ndim; d++) same = a->dims[d] == b->dims[d];
            if (add && !same) {
                char sa[96], sb[96];
                shape_text(a->ndim, a->dims, sa, sizeof sa);
                shape_text(b->ndim, b->dims, sb, sizeof sb);
                return fail(im, GRAFT_E_UNSUPPORTED,
                            "it adds computed tensors of shapes %s and %s; graft's add layer "
                            "needs one shape",
                            sa, sb);
            }
            if (mul && a->ndim != b->ndim)
                return fail(im, GRAFT_E_UNSUPPORTED,
                            "it multiplies computed tensors of ranks %d and %d; graft's mul "
                            "layer needs one rank",
                            a->ndim, b->ndim);
            val *ins[2] = {a, b};
            graft_layer *l = NULL;
            int st = add ? graft_layer_add(im->ctx, &l) : graft_layer_mul(im->ctx, &l);
            return add_layer(im, st, l, NULL, 2, ins, out, NULL);
        }
        return fail(im, GRAFT_E_UNSUPPORTED,
                    "graft subtracts or divides only by a constant, and both inputs are "
                    "computed");
    }
    int64_t bc, axis = -1;
    GRAFT_FORWARD_IF_ERROR(attr_int(im, "broadcast", 0, &bc));
    if (bc && attr(im, "axis")) {
        GRAFT_FORWARD_IF_ERROR(attr_int(im, "axis", 0, &axis));
        val *x = a->kind == V_ACT ? a : b;
        int ax = 0;
        GRAFT_FORWARD_IF_ERROR(norm_axis(im, axis, x->ndim, "axis", &ax));
        axis = ax;
    }
    if (a->kind == V_ACT) {
        int mode = add ? SS_ADD : sub ? SS_SUB : mul ? SS_MUL : SS_DIV;
        return emit_scale_shift(im, a, &b->c, mode, (int)axis, out);
    }
    if (div)
        return fail(im, GRAFT_E_UNSUPPORTED,
                    "graft divides only by a constant, and the divisor is computed");
    if (axis >= 0)
        return fail(im, GRAFT_E_UNSUPPORTED, "legacy broadcasting of the first input");
    int mode = add ? SS_ADD : sub ? SS_RSUB : SS_MUL;
    return emit_scale_shift(im, b, &a->c, mode, -1, out);
}

static int h_sum(imp *im, val *out)
{
    const char *names[GRAFT_LAYER_MAX_INPUTS];
    val *first = NULL;
    int n = im->node->n_inputs;
    if (n < 1 || n > GRAFT_LAYER_MAX_INPUTS) return fail(im, GRAFT_E_UNSUPPORTED, "%d inputs", n);
    for (int k = 0; k < n; k++) {
        val *v;
        GRAFT_FORWARD_IF_ERROR(req_input(im, k, &v));
        if (v->kind != V_ACT)
            return fail(im, GRAFT_E_UNSUPPORTED, "it sums constants; graft sums computed tensors");
        if (!first) first = v;
        int same = v->ndim == first->ndim;
        for (int d = 0; same && d < v->ndim; d++) same = v->dims[d] == first->dims[d];
        if (!same) return fail(im, GRAFT_E_UNSUPPORTED, "inputs of different shapes");
        names[k] = v->layer;
    }
    if (n == 1) {
        alias(out, first);
        return GRAFT_OK;
    }
    graft_layer *l = NULL;
    int st = graft_layer_add(im->ctx, &l);
    return add_layer_n(im, st, l, NULL, n, names, out, NULL);
}

static int h_unary(imp *im, val *out)
{
    val *x;
    GRAFT_FORWARD_IF_ERROR(req_input(im, 0, &x));
    if (x->kind == V_CONST) return fold_unary(im, out, &x->c);
    graft_layer *l = NULL;
    int st;
    if (op_is(im, "Neg")) return emit_scale_shift(im, x, NULL, SS_NEG, -1, out);
    if (op_is(im, "Relu")) st = graft_layer_relu(im->ctx, &l);
    else if (op_is(im, "Sigmoid")) st = graft_layer_sigmoid(im->ctx, &l);
    else if (op_is(im, "Tanh")) st = graft_layer_tanh(im->ctx, &l);
    else return only_constants_fail(im);
    return add_layer(im, st, l, NULL, 1, &x, out, NULL);
}

static int h_leaky_relu(imp *im, val *out)
{
    val *x;
    float alpha;
    GRAFT_FORWARD_IF_ERROR(act_input(im, 0, &x));
    GRAFT_FORWARD_IF_ERROR(attr_float(im, "alpha", 0.01f, &alpha));
    graft_layer *l = NULL;
    int st = graft_layer_leaky_relu(im->ctx, alpha, &l);
    return add_layer(im, st, l, NULL, 1, &x, out, NULL);
}

/* PRelu with one slope for every element is a leaky ReLU. */
static int h_prelu(imp *im, val *out)
{
    val *x;
    cval *slope;
    GRAFT_FORWARD_IF_ERROR(act_input(im, 0, &x));
    GRAFT_FORWARD_IF_ERROR(const_input(im, 1, "slope", 1, &slope));
    if (slope->numel != 1)
        return fail(im, GRAFT_E_UNSUPPORTED,
                    "a slope of %zu values; graft maps only a single slope (to leaky_relu)",
                    slope->numel);
    graft_layer *l = NULL;
    int st = graft_layer_leaky_relu(im->ctx, (float)cget(slope, 0), &l);
    return add_layer(im, st, l, NULL, 1, &x, out, NULL);
}

static int h_hard_swish(imp *im, val *out)
{
    val *x;
    GRAFT_FORWARD_IF_ERROR(act_input(im, 0, &x));
    graft_layer *l = NULL;
    int st = graft_layer_hard_swish(im->ctx, &l);
    return add_layer(im, st, l, NULL, 1, &x, out, NULL);
}

/* HardSigmoid; when its only reader is Mul(x, HardSigmoid(x)) with PyTorch's
 * constants, the pair becomes one hard_swish layer named after the Mul. */
static int h_hard_sigmoid(imp *im, val *out)
{
    val *x;
    float alpha, beta;
    GRAFT_FORWARD_IF_ERROR(act_input(im, 0, &x));
    GRAFT_FORWARD_IF_ERROR(attr_float(im, "alpha", 0.2f, &alpha));
    GRAFT_FORWARD_IF_ERROR(attr_float(im, "beta", 0.5f, &beta));
    int j = single_consumer(out);
    if (j >= 0 && fabsf(alpha - 1.0f / 6.0f) < 1e-6f && fabsf(beta - 0.5f) < 1e-7f) {
        const onnxNode *mul = &im->g->nodes[j];
        if (strcmp(mul->op_type, "Mul") == 0 && !mul->domain[0] && mul->n_inputs == 2 &&
            mul->n_outputs >= 1 && mul->outputs[0][0] &&
            ((!strcmp(mul->inputs[0], x->name) && !strcmp(mul->inputs[1], out->name)) ||
             (!strcmp(mul->inputs[1], x->name) && !strcmp(mul->inputs[0], out->name)))) {
            const onnxNode *self = im->node;
            int self_index = im->node_index;
            val *y;
            im->node = mul;
            im->node_index = j;
            int st = define(im, mul->outputs[0], &y);
            if (st == GRAFT_OK) {
                graft_layer *l = NULL;
                st = graft_layer_hard_swish(im->ctx, &l);
                st = add_layer(im, st, l, NULL, 1, &x, y, NULL);
            }
            im->node = self;
            im->node_index = self_index;
            GRAFT_FORWARD_IF_ERROR(st);
            im->done[j] = 1;
            out->kind = V_DEAD;
            out->why = "a HardSigmoid output fused into hard_swish";
            return GRAFT_OK;
        }
    }
    graft_layer *l = NULL;
    int st = graft_layer_hard_sigmoid(im->ctx, alpha, beta, &l);
    return add_layer(im, st, l, NULL, 1, &x, out, NULL);
}

static int h_clip(imp *im, val *out)
{
    val *x;
    float lo = -FLT_MAX, hi = FLT_MAX;
    GRAFT_FORWARD_IF_ERROR(req_input(im, 0, &x));
    if (im->node->n_inputs > 1) {
        cval *cmin, *cmax;
        GRAFT_FORWARD_IF_ERROR(const_input(im, 1, "min", 0, &cmin));
        GRAFT_FORWARD_IF_ERROR(const_input(im, 2, "max", 0, &cmax));
        if ((cmin && cmin->numel != 1) || (cmax && cmax->numel != 1))
            return fail(im, GRAFT_E_FORMAT, "min and max must be scalars");
        if (cmin) lo = (float)cget(cmin, 0);
        if (cmax) hi = (float)cget(cmax, 0);
    } else {
        GRAFT_FORWARD_IF_ERROR(attr_float(im, "min", -FLT_MAX, &lo));
        GRAFT_FORWARD_IF_ERROR(attr_float(im, "max", FLT_MAX, &hi));
    }
    if (isnan(lo) || isnan(hi)) return fail(im, GRAFT_E_UNSUPPORTED, "a NaN bound");
    if (lo < -FLT_MAX) lo = -FLT_MAX;
    if (hi > FLT_MAX) hi = FLT_MAX;
    if (x->kind == V_CONST) {
        cval *c = &out->c;
        if (has_sym(&x->c)) return sym_fail(im);
        GRAFT_FORWARD_IF_ERROR(cval_alloc(im, c, 0, ONNX_FLOAT, x->c.ndim, x->c.dims));
        for (size_t k = 0; k < c->numel; k++) {
            double v = cget(&x->c, k);
            c->f[k] = (float)(v < lo ? lo : v > hi ? hi : v);
        }
        out->kind = V_CONST;
        return GRAFT_OK;
    }
    if (lo > hi)
        return fail(im, GRAFT_E_UNSUPPORTED, "min %g is above max %g", (double)lo, (double)hi);
    graft_layer *l = NULL;
    int st = lo == 0.0f && hi == FLT_MAX ? graft_layer_relu(im->ctx, &l)
                                         : graft_layer_clip(im->ctx, lo, hi, &l);
    return add_layer(im, st, l, NULL, 1, &x, out, NULL);
}

/* 1: value v reaches the graph output through Identity nodes only. */
static int is_final(imp *im, const val *v)
{
    for (int hops = 0; hops < im->g->n_nodes + 1; hops++) {
        if (v->is_output) return v->consumers == 1;
        int j = single_consumer(v);
        if (j < 0) return 0;
        const onnxNode *n = &im->g->nodes[j];
        if (strcmp(n->op_type, "Identity") != 0 || n->n_outputs < 1) return 0;
        v = lookup(im, n->outputs[0], 0);
        if (!v) return 0;
    }
    return 0;
}

static int h_softmax(imp *im, val *out)
{
    val *x;
    int64_t axis_attr;
    int axis = 0, legacy = im->opset < 13;
    GRAFT_FORWARD_IF_ERROR(act_input(im, 0, &x));
    GRAFT_FORWARD_IF_ERROR(attr_int(im, "axis", legacy ? 1 : -1, &axis_attr));
    GRAFT_FORWARD_IF_ERROR(norm_axis(im, axis_attr, x->ndim, "axis", &axis));
    if (!im->keep_softmax && is_final(im, out)) {
        alias(out, x);
        return GRAFT_OK;
    }
    int ga = gaxis(im, axis), grank = x->ndim + (im->batched ? 0 : 1);
    if (ga != 1)
        return fail(im, GRAFT_E_UNSUPPORTED,
                    "softmax over axis %d of a rank-%d tensor; graft's softmax runs over the "
                    "axis after the batch%s",
                    axis, x->ndim, im->batched ? "" : " (axis 0 when the graph has no batch axis)");
    if (!legacy || grank == 2) {
        graft_layer *l = NULL;
        int st = graft_layer_softmax(im->ctx, &l);
        return add_layer(im, st, l, NULL, 1, &x, out, NULL);
    }
    /* Before opset 13 the softmax runs over every axis from axis on:
     * flatten, softmax, reshape back. */
    val flat, soft;
    memset(&flat, 0, sizeof flat);
    memset(&soft, 0, sizeof soft);
    graft_layer *l = NULL;
    int st = graft_layer_flatten(im->ctx, &l);
    GRAFT_FORWARD_IF_ERROR(add_layer(im, st, l, "flatten", 1, &x, &flat, NULL));
    val *pf = &flat;
    st = graft_layer_softmax(im->ctx, &l);
    GRAFT_FORWARD_IF_ERROR(add_layer(im, st, l, NULL, 1, &pf, &soft, NULL));
    return emit_reshape(im, &soft, x->ndim, x->dims, "reshape", out);
}

/* ---- shape operators on activations ------------------------------------------------------ */

static int h_identity(imp *im, val *out)
{
    val *x;
    GRAFT_FORWARD_IF_ERROR(req_input(im, 0, &x));
    if (op_is(im, "Dropout")) {
        cval *train;
        GRAFT_FORWARD_IF_ERROR(const_input(im, 2, "training_mode", 0, &train));
        if (train && train->numel == 1 && cget(train, 0) != 0) {
            cval *ratio;
            float r;
            GRAFT_FORWARD_IF_ERROR(const_input(im, 1, "ratio", 0, &ratio));
            r = ratio && ratio->numel == 1 ? (float)cget(ratio, 0) : 0.5f;
            if (r != 0)
                return fail(im, GRAFT_E_UNSUPPORTED,
                            "dropout in training mode (ratio %g) is random; graft imports "
                            "inference graphs",
                            (double)r);
        }
    }
    if (x->kind == V_CONST) return fold_copy(im, out, &x->c);
    alias(out, x);
    return GRAFT_OK;
}

static int h_cast(imp *im, val *out)
{
    val *x;
    GRAFT_FORWARD_IF_ERROR(req_input(im, 0, &x));
    if (x->kind == V_CONST) return fold_cast(im, out, &x->c);
    int64_t to;
    GRAFT_FORWARD_IF_ERROR(attr_int(im, "to", 0, &to));
    if (to != ONNX_FLOAT)
        return fail(im, GRAFT_E_UNSUPPORTED, "it casts a computed tensor to %s; graft computes in "
                    "float", graftOnnxTypeName((int)to));
    alias(out, x);
    return GRAFT_OK;
}

static int h_shape(imp *im, val *out)
{
    val *x;
    GRAFT_FORWARD_IF_ERROR(req_input(im, 0, &x));
    if (x->kind == V_CONST) return fold_shape_of(im, out, x->c.ndim, x->c.dims);
    return fold_shape_of(im, out, x->ndim, x->dims);
}

static int h_size(imp *im, val *out)
{
    val *x;
    int64_t n = 1;
    GRAFT_FORWARD_IF_ERROR(req_input(im, 0, &x));
    int nd = x->kind == V_CONST ? x->c.ndim : x->ndim;
    const int64_t *dims = x->kind == V_CONST ? x->c.dims : x->dims;
    for (int d = 0; d < nd; d++) {
        if (dims[d] == SYM_BATCH) return sym_fail(im);
        n *= dims[d];
    }
    GRAFT_FORWARD_IF_ERROR(cval_alloc(im, &out->c, 1, ONNX_INT64, 0, NULL));
    out->c.i[0] = n;
    out->kind = V_CONST;
    return GRAFT_OK;
}

static int h_squeeze(imp *im, val *out)
{
    val *x;
    int64_t dims[ONNX_MAX_RANK];
    int n, unsq = op_is(im, "Unsqueeze");
    GRAFT_FORWARD_IF_ERROR(req_input(im, 0, &x));
    if (x->kind == V_CONST) {
        GRAFT_FORWARD_IF_ERROR(squeeze_shape(im, unsq, x->c.ndim, x->c.dims, &n, dims));
        return fold_redim(im, out, &x->c, n, dims);
    }
    if (!unsq && im->batched) {
        int64_t axes[ONNX_MAX_RANK];
        int na;
        GRAFT_FORWARD_IF_ERROR(squeeze_axes(im, axes, &na));
        for (int k = 0; k < na; k++)
            if (axes[k] == 0 || axes[k] == -x->ndim)
                return fail(im, GRAFT_E_UNSUPPORTED, "it removes the batch axis");
    }
    GRAFT_FORWARD_IF_ERROR(squeeze_shape(im, unsq, x->ndim, x->dims, &n, dims));
    return emit_reshape(im, x, n, dims, NULL, out);
}

static int h_reshape(imp *im, val *out)
{
    val *x;
    int64_t target[ONNX_MAX_RANK], dims[ONNX_MAX_RANK], allowzero;
    size_t tn;
    GRAFT_FORWARD_IF_ERROR(req_input(im, 0, &x));
    GRAFT_FORWARD_IF_ERROR(attr_int(im, "allowzero", 0, &allowzero));
    if (im->node->n_inputs >= 2) {
        cval *shape;
        GRAFT_FORWARD_IF_ERROR(const_input(im, 1, "shape", 1, &shape));
        GRAFT_FORWARD_IF_ERROR(cval_ints(im, shape, "shape", 1, target, ONNX_MAX_RANK, &tn));
    } else {
        const int64_t *v;
        int n;
        GRAFT_FORWARD_IF_ERROR(attr_ints(im, "shape", &v, &n));
        if (n < 0 || n > ONNX_MAX_RANK) return fail(im, GRAFT_E_FORMAT, "no usable shape");
        tn = (size_t)n;
        if (n) memcpy(target, v, tn * sizeof *v);
    }
    if (x->kind == V_CONST) {
        GRAFT_FORWARD_IF_ERROR(
            reshape_target(im, x->c.ndim, x->c.dims, tn, target, allowzero != 0, 0, dims));
        return fold_redim(im, out, &x->c, (int)tn, dims);
    }
    GRAFT_FORWARD_IF_ERROR(
        reshape_target(im, x->ndim, x->dims, tn, target, allowzero != 0, 1, dims));
    for (size_t k = 0; k < tn; k++)
        if (dims[k] == 0)
            return fail(im, GRAFT_E_UNSUPPORTED, "its result has a size-0 axis");
    return emit_reshape(im, x, (int)tn, dims, NULL, out);
}

static int h_flatten(imp *im, val *out)
{
    val *x;
    int64_t axis_attr, dims[2] = {1, 1};
    int axis = 0;
    GRAFT_FORWARD_IF_ERROR(req_input(im, 0, &x));
    GRAFT_FORWARD_IF_ERROR(attr_int(im, "axis", 1, &axis_attr));
    int nd = x->kind == V_CONST ? x->c.ndim : x->ndim;
    const int64_t *in = x->kind == V_CONST ? x->c.dims : x->dims;
    if (axis_attr == nd) axis = nd;
    else GRAFT_FORWARD_IF_ERROR(norm_axis(im, axis_attr, nd, "axis", &axis));
    if (x->kind == V_CONST) {
        for (int d = 0; d < nd; d++) dims[d < axis ? 0 : 1] *= in[d];
        return fold_redim(im, out, &x->c, 2, dims);
    }
    if (im->batched) {
        if (axis == 0) return fail(im, GRAFT_E_UNSUPPORTED, "it flattens the batch axis (axis 0)");
        for (int d = 1; d < nd; d++) dims[d < axis ? 0 : 1] *= in[d];
        if (dims[0] != 1)
            return fail(im, GRAFT_E_UNSUPPORTED, "it merges the batch axis with axes 1 to %d",
                        axis - 1);
        dims[0] = SYM_BATCH;
        if (axis == 1 && nd > 2) {
            graft_layer *l = NULL;
            int st = graft_layer_flatten(im->ctx, &l);
            return add_layer(im, st, l, NULL, 1, &x, out, NULL);
        }
        return emit_reshape(im, x, 2, dims, NULL, out);
    }
    for (int d = 0; d < nd; d++) dims[d < axis ? 0 : 1] *= in[d];
    return emit_reshape(im, x, 2, dims, NULL, out);
}

/* Transpose of an activation: only when the order of the elements does not
 * change (the axes that are not of size 1 keep their order). */
static int h_transpose(imp *im, val *out)
{
    val *x;
    GRAFT_FORWARD_IF_ERROR(req_input(im, 0, &x));
    if (x->kind == V_CONST) return fold_transpose(im, out, &x->c);
    const int64_t *perm_attr;
    int np, seen[ONNX_MAX_RANK] = {0};
    int64_t dims[ONNX_MAX_RANK];
    GRAFT_FORWARD_IF_ERROR(attr_ints(im, "perm", &perm_attr, &np));
    if (np >= 0 && np != x->ndim) return fail(im, GRAFT_E_FORMAT, "perm has %d entries", np);
    int last = -1;
    for (int d = 0; d < x->ndim; d++) {
        int64_t p = np >= 0 ? perm_attr[d] : x->ndim - 1 - d;
        if (p < 0 || p >= x->ndim || seen[p]++)
            return fail(im, GRAFT_E_FORMAT, "perm is not a permutation");
        dims[d] = x->dims[p];
        if (x->dims[p] == 1) continue;
        if (p < last)
            return fail(im, GRAFT_E_UNSUPPORTED,
                        "it reorders the elements in memory; graft imports a Transpose only when "
                        "it moves size-1 axes");
        last = (int)p;
    }
    return emit_reshape(im, x, x->ndim, dims, NULL, out);
}

static int h_concat(imp *im, val *out)
{
    const char *names[GRAFT_LAYER_MAX_INPUTS];
    int n = im->node->n_inputs, n_const = 0, axis = 0;
    int64_t axis_attr;
    if (n < 1 || n > GRAFT_LAYER_MAX_INPUTS) return fail(im, GRAFT_E_UNSUPPORTED, "%d inputs", n);
    for (int k = 0; k < n; k++) {
        val *v;
        GRAFT_FORWARD_IF_ERROR(req_input(im, k, &v));
        n_const += v->kind == V_CONST;
    }
    if (n_const == n) return fold_concat(im, out);
    if (n_const)
        return fail(im, GRAFT_E_UNSUPPORTED,
                    "it concatenates constants with computed tensors; graft concatenates "
                    "computed tensors only");
    val *first;
    GRAFT_FORWARD_IF_ERROR(req_input(im, 0, &first));
    GRAFT_FORWARD_IF_ERROR(attr_int(im, "axis", 1, &axis_attr));
    GRAFT_FORWARD_IF_ERROR(norm_axis(im, axis_attr, first->ndim, "axis", &axis));
    if (gaxis(im, axis) != 1)
        return fail(im, GRAFT_E_UNSUPPORTED,
                    "it concatenates along axis %d; graft concatenates along the axis after "
                    "the batch",
                    axis);
    for (int k = 0; k < n; k++) {
        val *v;
        GRAFT_FORWARD_IF_ERROR(req_input(im, k, &v));
        if (v->ndim != first->ndim) return fail(im, GRAFT_E_FORMAT, "inputs of different ranks");
        names[k] = v->layer;
    }
    graft_layer *l = NULL;
    int st = graft_layer_concat(im->ctx, &l);
    return add_layer_n(im, st, l, NULL, n, names, out, NULL);
}

/* ---- layers with weights and windows ------------------------------------------------------ */

/* Input 0 as an activation of a batched graph, for operators that only work
 * on (N, C, ...) tensors. */
static int batched_input(imp *im, val **x)
{
    GRAFT_FORWARD_IF_ERROR(req_input(im, 0, x));
    if ((*x)->kind == V_CONST)
        return fail(im, GRAFT_E_UNSUPPORTED, "graft does not evaluate %s on constants",
                    im->node->op_type);
    if (!im->batched)
        return fail(im, GRAFT_E_UNSUPPORTED,
                    "%s needs the batch axis (N, C, ...), and the import has batch_axis 0",
                    im->node->op_type);
    return GRAFT_OK;
}

/* Window geometry of Conv and pooling along 1 or 2 spatial axes, as graft's
 * 2-D layers see it (index 0 is H, 1 is W; a 1-D window has H of 1). */
typedef struct window {
    int k[2], s[2], d[2], pb[2], pe[2];
} window;

static int small_int(imp *im, int64_t v, int64_t lo, const char *what, int *out)
{
    if (v < lo || v > (1 << 30))
        return fail(im, v < lo ? GRAFT_E_FORMAT : GRAFT_E_UNSUPPORTED, "%s is %lld", what,
                    (long long)v);
    *out = (int)v;
    return GRAFT_OK;
}

/* Reads strides, dilations, pads and auto_pad for n spatial axes of x with
 * the given kernel. */
static int read_window(imp *im, const val *x, int n, const int64_t *kernel, window *w)
{
    const int64_t *strides, *dil, *pads;
    int ns, nd, np;
    char autopad[32];
    GRAFT_FORWARD_IF_ERROR(attr_ints(im, "strides", &strides, &ns));
    GRAFT_FORWARD_IF_ERROR(attr_ints(im, "dilations", &dil, &nd));
    GRAFT_FORWARD_IF_ERROR(attr_ints(im, "pads", &pads, &np));
    GRAFT_FORWARD_IF_ERROR(attr_string(im, "auto_pad", "NOTSET", autopad, sizeof autopad));
    if ((ns >= 0 && ns != n) || (nd >= 0 && nd != n) || (np >= 0 && np != 2 * n))
        return fail(im, GRAFT_E_FORMAT, "strides, dilations or pads do not have one entry per "
                    "spatial axis");
    for (int a = 0; a < 2; a++) {
        w->k[a] = w->s[a] = w->d[a] = 1;
        w->pb[a] = w->pe[a] = 0;
    }
    int notset = !strcmp(autopad, "NOTSET"), valid = !strcmp(autopad, "VALID"),
        upper = !strcmp(autopad, "SAME_UPPER"), lower = !strcmp(autopad, "SAME_LOWER");
    if (!notset && !valid && !upper && !lower)
        return fail(im, GRAFT_E_FORMAT, "auto_pad is \"%s\"", autopad);
    for (int i = 0; i < n; i++) {
        int a = i + 2 - n; /* graft axis: 1-D windows run along W */
        GRAFT_FORWARD_IF_ERROR(small_int(im, kernel[i], 1, "a kernel size", &w->k[a]));
        GRAFT_FORWARD_IF_ERROR(small_int(im, ns >= 0 ? strides[i] : 1, 1, "a stride", &w->s[a]));
        GRAFT_FORWARD_IF_ERROR(small_int(im, nd >= 0 ? dil[i] : 1, 1, "a dilation", &w->d[a]));
        if (notset && np >= 0) {
            GRAFT_FORWARD_IF_ERROR(small_int(im, pads[i], 0, "a pad", &w->pb[a]));
            GRAFT_FORWARD_IF_ERROR(small_int(im, pads[i + n], 0, "a pad", &w->pe[a]));
        } else if (upper || lower) {
            int64_t in = x->dims[2 + i];
            int64_t outn = (in + w->s[a] - 1) / w->s[a];
            int64_t total = (outn - 1) * w->s[a] + (int64_t)(w->k[a] - 1) * w->d[a] + 1 - in;
            if (total < 0) total = 0;
            int64_t small = total / 2;
            w->pb[a] = (int)(upper ? small : total - small);
            w->pe[a] = (int)(total - w->pb[a]);
        }
    }
    return GRAFT_OK;
}

/* The view of a 1-D (N, C, L) activation as (N, C, 1, L), or x itself. */
static int to_2d(imp *im, val *x, val *tmp, val **xin)
{
    if (x->ndim == 4) {
        *xin = x;
        return GRAFT_OK;
    }
    int64_t dims[4] = {x->dims[0], x->dims[1], 1, x->dims[2]};
    memset(tmp, 0, sizeof *tmp);
    GRAFT_FORWARD_IF_ERROR(emit_reshape(im, x, 4, dims, "to2d", tmp));
    *xin = tmp;
    return GRAFT_OK;
}

/* y (N, C, 1, L') back to (N, C, L') in out, for 1-D operators. */
static int from_2d(imp *im, int spatial, val *y, val *out)
{
    if (spatial == 2) return GRAFT_OK;
    int64_t dims[3] = {y->dims[0], y->dims[1], y->dims[3]};
    return emit_reshape(im, y, 3, dims, "to1d", out);
}

static int spatial_rank(imp *im, const val *x)
{
    if (x->ndim != 3 && x->ndim != 4)
        return fail(im, GRAFT_E_UNSUPPORTED,
                    "a %d-D input; graft computes 1-D (N, C, L) and 2-D (N, C, H, W) windows",
                    x->ndim);
    return x->ndim - 2;
}

static int h_conv(imp *im, val *out)
{
    val *x, tmp, y, *xin;
    cval *w, *b;
    window win;
    GRAFT_FORWARD_IF_ERROR(batched_input(im, &x));
    GRAFT_FORWARD_IF_ERROR(const_input(im, 1, "weight", 1, &w));
    GRAFT_FORWARD_IF_ERROR(const_input(im, 2, "bias", 0, &b));
    int n = spatial_rank(im, x);
    if (n < 0) return n;
    int64_t group, c = x->dims[1];
    GRAFT_FORWARD_IF_ERROR(attr_int(im, "group", 1, &group));
    if (w->is_int || w->ndim != x->ndim || group < 1 || w->dims[1] * group != c ||
        w->dims[0] % group != 0)
        return fail(im, GRAFT_E_FORMAT,
                    "the weight's shape does not fit %lld input channels in %lld groups",
                    (long long)c, (long long)group);
    if (b && (b->numel != (size_t)w->dims[0] || b->is_int))
        return fail(im, GRAFT_E_FORMAT, "the bias has %zu values for %lld outputs", b->numel,
                    (long long)w->dims[0]);
    const int64_t *ks;
    int nk;
    GRAFT_FORWARD_IF_ERROR(attr_ints(im, "kernel_shape", &ks, &nk));
    for (int i = 0; nk >= 0 && i < n; i++)
        if (nk != n || ks[i] != w->dims[2 + i])
            return fail(im, GRAFT_E_FORMAT, "kernel_shape disagrees with the weight");
    GRAFT_FORWARD_IF_ERROR(read_window(im, x, n, w->dims + 2, &win));
    graft_conv2d_spec spec = GRAFT_CONV2D_SPEC_INIT;
    GRAFT_FORWARD_IF_ERROR(
        small_int(im, w->dims[0], 1, "the output channel count", &spec.out_channels));
    GRAFT_FORWARD_IF_ERROR(small_int(im, group, 1, "group", &spec.groups));
    spec.kernel_h = win.k[0];
    spec.kernel_w = win.k[1];
    spec.stride_h = win.s[0];
    spec.stride_w = win.s[1];
    spec.dilation_h = win.d[0];
    spec.dilation_w = win.d[1];
    spec.pad_top = win.pb[0] + x->pads[0];
    spec.pad_left = win.pb[1] + x->pads[1];
    spec.pad_bottom = win.pe[0] + x->pads[2];
    spec.pad_right = win.pe[1] + x->pads[3];
    spec.bias = b != NULL;
    GRAFT_FORWARD_IF_ERROR(to_2d(im, x, &tmp, &xin));
    graft_layer *l = NULL, *added;
    int st = graft_layer_conv2d(im->ctx, &spec, &l);
    memset(&y, 0, sizeof y);
    GRAFT_FORWARD_IF_ERROR(add_layer(im, st, l, NULL, 1, &xin, n == 2 ? out : &y, &added));
    GRAFT_FORWARD_IF_ERROR(set_param(im, added, "weight", w->f, w->numel));
    if (b) GRAFT_FORWARD_IF_ERROR(set_param(im, added, "bias", b->f, b->numel));
    return from_2d(im, n, &y, out);
}

static int h_pool(imp *im, val *out)
{
    val *x, tmp, y, *xin;
    window win;
    int is_max = op_is(im, "MaxPool");
    GRAFT_FORWARD_IF_ERROR(batched_input(im, &x));
    int n = spatial_rank(im, x);
    if (n < 0) return n;
    const int64_t *ks;
    int nk;
    int64_t ceil_mode, cip;
    GRAFT_FORWARD_IF_ERROR(attr_ints(im, "kernel_shape", &ks, &nk));
    if (nk != n) return fail(im, GRAFT_E_FORMAT, "kernel_shape has %d entries for %d axes", nk, n);
    GRAFT_FORWARD_IF_ERROR(read_window(im, x, n, ks, &win));
    GRAFT_FORWARD_IF_ERROR(attr_int(im, "ceil_mode", 0, &ceil_mode));
    GRAFT_FORWARD_IF_ERROR(attr_int(im, "count_include_pad", 0, &cip));
    if (win.d[0] != 1 || win.d[1] != 1)
        return fail(im, GRAFT_E_UNSUPPORTED, "dilated pooling windows");
    for (int a = 0; a < 2; a++)
        if (win.pb[a] >= win.k[a] || win.pe[a] >= win.k[a])
            return fail(im, GRAFT_E_UNSUPPORTED,
                        "a pad of %d for a window of %d; graft pads pooling windows by less "
                        "than their size",
                        win.pb[a] > win.pe[a] ? win.pb[a] : win.pe[a], win.k[a]);
    graft_pool2d_spec spec = GRAFT_POOL2D_SPEC_INIT;
    spec.kernel_h = win.k[0];
    spec.kernel_w = win.k[1];
    spec.stride_h = win.s[0];
    spec.stride_w = win.s[1];
    spec.pad_top = win.pb[0];
    spec.pad_left = win.pb[1];
    spec.pad_bottom = win.pe[0];
    spec.pad_right = win.pe[1];
    spec.ceil_mode = ceil_mode != 0;
    spec.count_include_pad = !is_max && cip != 0;
    GRAFT_FORWARD_IF_ERROR(to_2d(im, x, &tmp, &xin));
    graft_layer *l = NULL;
    int st = is_max ? graft_layer_max_pool2d(im->ctx, &spec, &l)
                    : graft_layer_avg_pool2d(im->ctx, &spec, &l);
    memset(&y, 0, sizeof y);
    GRAFT_FORWARD_IF_ERROR(add_layer(im, st, l, NULL, 1, &xin, n == 2 ? out : &y, NULL));
    return from_2d(im, n, &y, out);
}

static int h_global_pool(imp *im, val *out)
{
    val *x;
    GRAFT_FORWARD_IF_ERROR(batched_input(im, &x));
    if (x->ndim != 4)
        return fail(im, GRAFT_E_UNSUPPORTED, "a %d-D input; graft pools (N, C, H, W)", x->ndim);
    graft_layer *l = NULL;
    int st;
    if (op_is(im, "GlobalAveragePool")) {
        st = graft_layer_global_avg_pool(im->ctx, &l);
    } else {
        graft_pool2d_spec spec = GRAFT_POOL2D_SPEC_INIT;
        GRAFT_FORWARD_IF_ERROR(small_int(im, x->dims[2], 1, "the height", &spec.kernel_h));
        GRAFT_FORWARD_IF_ERROR(small_int(im, x->dims[3], 1, "the width", &spec.kernel_w));
        st = graft_layer_max_pool2d(im->ctx, &spec, &l);
    }
    return add_layer(im, st, l, NULL, 1, &x, out, NULL);
}

/* ReduceMean over H and W of (N, C, H, W) is global average pooling. */
static int h_reduce_mean(imp *im, val *out)
{
    val *x;
    int64_t keep, axes[ONNX_MAX_RANK];
    int na, mark[ONNX_MAX_RANK] = {0};
    GRAFT_FORWARD_IF_ERROR(batched_input(im, &x));
    GRAFT_FORWARD_IF_ERROR(attr_int(im, "keepdims", 1, &keep));
    GRAFT_FORWARD_IF_ERROR(squeeze_axes(im, axes, &na));
    int ok = x->ndim == 4 && na == 2;
    for (int k = 0; ok && k < na; k++) {
        int ax = 0;
        GRAFT_FORWARD_IF_ERROR(norm_axis(im, axes[k], x->ndim, "axis", &ax));
        mark[ax] = 1;
    }
    if (!ok || !mark[2] || !mark[3])
        return fail(im, GRAFT_E_UNSUPPORTED,
                    "graft computes ReduceMean only over axes 2 and 3 of (N, C, H, W)");
    val pooled, *pp = &pooled;
    memset(&pooled, 0, sizeof pooled);
    graft_layer *l = NULL;
    int st = graft_layer_global_avg_pool(im->ctx, &l);
    GRAFT_FORWARD_IF_ERROR(add_layer(im, st, l, NULL, 1, &x, keep ? out : pp, NULL));
    if (keep) return GRAFT_OK;
    int64_t dims[2] = {SYM_BATCH, x->dims[1]};
    return emit_reshape(im, pp, 2, dims, "squeeze", out);
}

static int h_batch_norm(imp *im, val *out)
{
    val *x;
    cval *p[4];
    static const char *const names[4] = {"scale", "bias", "mean", "var"};
    static const char *const params[4] = {"weight", "bias", "running_mean", "running_var"};
    float eps, momentum;
    int64_t training, spatial;
    GRAFT_FORWARD_IF_ERROR(batched_input(im, &x));
    if (x->ndim < 2) return fail(im, GRAFT_E_FORMAT, "a rank-%d input", x->ndim);
    for (int k = 0; k < 4; k++) {
        GRAFT_FORWARD_IF_ERROR(const_input(im, k + 1, names[k], 1, &p[k]));
        if (p[k]->numel != (size_t)x->dims[1] || p[k]->is_int)
            return fail(im, GRAFT_E_FORMAT, "%s has %zu values for %lld channels", names[k],
                        p[k]->numel, (long long)x->dims[1]);
    }
    GRAFT_FORWARD_IF_ERROR(attr_float(im, "epsilon", 1e-5f, &eps));
    GRAFT_FORWARD_IF_ERROR(attr_float(im, "momentum", 0.9f, &momentum));
    GRAFT_FORWARD_IF_ERROR(attr_int(im, "training_mode", 0, &training));
    GRAFT_FORWARD_IF_ERROR(attr_int(im, "spatial", 1, &spatial));
    if (training)
        return fail(im, GRAFT_E_UNSUPPORTED,
                    "training_mode is set; graft imports inference graphs");
    if (!spatial) return fail(im, GRAFT_E_UNSUPPORTED, "spatial is 0");
    if (!(eps > 0) || !(momentum >= 0 && momentum <= 1))
        return fail(im, GRAFT_E_UNSUPPORTED,
                    "epsilon %g and momentum %g; graft needs epsilon > 0 and momentum in [0, 1]",
                    (double)eps, (double)momentum);
    graft_layer *l = NULL, *added;
    int st = graft_layer_batch_norm(im->ctx, eps, 1.0f - momentum, &l);
    GRAFT_FORWARD_IF_ERROR(add_layer(im, st, l, NULL, 1, &x, out, &added));
    for (int k = 0; k < 4; k++)
        GRAFT_FORWARD_IF_ERROR(set_param(im, added, params[k], p[k]->f, p[k]->numel));
    return GRAFT_OK;
}

/* The row count of the matrix a dense layer reads from x: 1 per sample. The
 * activation must be (N, K) (batched) or (K) or (1, K) (one sample). */
static int dense_input(imp *im, const val *x, int64_t *k)
{
    int ok = im->batched ? x->ndim == 2 : (x->ndim == 1 || (x->ndim == 2 && x->dims[0] == 1));
    if (!ok) {
        char xs[96];
        shape_text(x->ndim, x->dims, xs, sizeof xs);
        return fail(im, GRAFT_E_UNSUPPORTED,
                    "a matrix product of the %s tensor; graft's dense layer takes one row per "
                    "sample",
                    xs);
    }
    *k = x->dims[x->ndim - 1];
    return GRAFT_OK;
}

/* A dense layer of `units` outputs on x, with weight (units, K) from w and
 * bias from b (NULL: none); dst gets x's leading shape with `units` last. */
static int emit_dense(imp *im, val *x, int64_t units, const float *w, size_t nw, const float *b,
                      val *dst, graft_layer **added_out)
{
    val y, *py = &y;
    graft_layer *l = NULL, *added;
    int units_i = 0;
    GRAFT_FORWARD_IF_ERROR(small_int(im, units, 1, "the output size", &units_i));
    int st = graft_layer_dense(im->ctx, units_i, b != NULL, &l);
    memset(&y, 0, sizeof y);
    int needs_reshape = x->ndim == 2 && !im->batched;
    GRAFT_FORWARD_IF_ERROR(add_layer(im, st, l, NULL, 1, &x, needs_reshape ? py : dst, &added));
    GRAFT_FORWARD_IF_ERROR(set_param(im, added, "weight", w, nw));
    if (b) GRAFT_FORWARD_IF_ERROR(set_param(im, added, "bias", b, (size_t)units));
    if (added_out) *added_out = added;
    if (!needs_reshape) return GRAFT_OK;
    int64_t dims[2] = {1, units};
    return emit_reshape(im, py, 2, dims, "reshape", dst);
}

static int h_gemm(imp *im, val *out)
{
    val *a;
    cval *bm, *cm;
    float alpha, beta;
    int64_t ta, tb, k = 0;
    GRAFT_FORWARD_IF_ERROR(req_input(im, 0, &a));
    if (a->kind == V_CONST)
        return fail(im, GRAFT_E_UNSUPPORTED, "its first input is a constant; graft's dense layer "
                    "multiplies the computed tensor");
    GRAFT_FORWARD_IF_ERROR(const_input(im, 1, "B matrix", 1, &bm));
    GRAFT_FORWARD_IF_ERROR(const_input(im, 2, "C bias", 0, &cm));
    GRAFT_FORWARD_IF_ERROR(attr_float(im, "alpha", 1.0f, &alpha));
    GRAFT_FORWARD_IF_ERROR(attr_float(im, "beta", 1.0f, &beta));
    GRAFT_FORWARD_IF_ERROR(attr_int(im, "transA", 0, &ta));
    GRAFT_FORWARD_IF_ERROR(attr_int(im, "transB", 0, &tb));
    if (ta) return fail(im, GRAFT_E_UNSUPPORTED, "transA is set on the computed input");
    if (a->ndim != 2) return fail(im, GRAFT_E_FORMAT, "A has rank %d", a->ndim);
    GRAFT_FORWARD_IF_ERROR(dense_input(im, a, &k));
    if (bm->ndim != 2 || bm->is_int || bm->dims[tb ? 1 : 0] != k)
        return fail(im, GRAFT_E_FORMAT, "B does not fit A's %lld columns", (long long)k);
    int64_t units = bm->dims[tb ? 0 : 1];
    float *w = arena(im, bm->numel * sizeof *w);
    float *bias = NULL;
    if (!w) return nomem(im);
    for (int64_t u = 0; u < units; u++)
        for (int64_t j = 0; j < k; j++)
            w[u * k + j] = alpha * bm->f[tb ? u * k + j : j * units + u];
    if (cm && beta != 0.0f) {
        /* C broadcasts to (M, units): it may vary along units only. */
        int64_t rows = cm->ndim == 2 ? cm->dims[0] : 1;
        int64_t cols = cm->ndim >= 1 ? cm->dims[cm->ndim - 1] : 1;
        if (cm->ndim > 2 || (cols != 1 && cols != units) || cm->is_int)
            return fail(im, GRAFT_E_FORMAT, "C does not broadcast to the output");
        for (int64_t r = 1; r < rows; r++)
            for (int64_t j = 0; j < cols; j++)
                if (cm->f[r * cols + j] != cm->f[j])
                    return fail(im, GRAFT_E_UNSUPPORTED,
                                "C differs from row to row; graft's bias is the same for every "
                                "sample");
        bias = arena(im, (size_t)units * sizeof *bias);
        if (!bias) return nomem(im);
        for (int64_t u = 0; u < units; u++) bias[u] = beta * cm->f[cols == 1 ? 0 : u];
    }
    return emit_dense(im, a, units, w, (size_t)(units * k), bias, out, NULL);
}

/* MatMul by a constant matrix; when the only reader is Add of a constant
 * bias, the pair becomes one dense layer with bias. */
static int h_matmul(imp *im, val *out)
{
    val *a, *b;
    int64_t k = 0;
    GRAFT_FORWARD_IF_ERROR(req_input(im, 0, &a));
    GRAFT_FORWARD_IF_ERROR(req_input(im, 1, &b));
    if (a->kind == V_CONST && b->kind == V_CONST)
        return fail(im, GRAFT_E_UNSUPPORTED, "graft does not evaluate MatMul on constants");
    if (a->kind != V_ACT || b->kind != V_CONST)
        return fail(im, GRAFT_E_UNSUPPORTED,
                    "graft multiplies a computed tensor by a constant matrix on its right");
    GRAFT_FORWARD_IF_ERROR(dense_input(im, a, &k));
    const cval *bm = &b->c;
    if (bm->ndim != 2 || bm->is_int || bm->dims[0] != k)
        return fail(im, bm->ndim != 2 ? GRAFT_E_UNSUPPORTED : GRAFT_E_FORMAT,
                    "the constant is not a matrix of %lld rows", (long long)k);
    int64_t units = bm->dims[1];
    float *w = arena(im, bm->numel * sizeof *w);
    if (!w) return nomem(im);
    for (int64_t u = 0; u < units; u++)
        for (int64_t j = 0; j < k; j++) w[u * k + j] = bm->f[j * units + u];
    /* Add fusion. */
    int j = single_consumer(out);
    const val *bias = NULL;
    const onnxNode *add = j >= 0 ? &im->g->nodes[j] : NULL;
    if (add && !strcmp(add->op_type, "Add") && !add->domain[0] && add->n_inputs == 2 &&
        add->n_outputs >= 1 && add->outputs[0][0]) {
        const char *other = !strcmp(add->inputs[0], out->name) ? add->inputs[1] : add->inputs[0];
        const val *c = lookup(im, other, 0);
        int ok = c && c->kind == V_CONST && !c->c.is_int && c->c.numel == (size_t)units &&
                 c->c.ndim <= 2 && graftOnnxNodeAttr(add, "broadcast") == NULL;
        for (int d = 0; ok && d + 1 < c->c.ndim; d++) ok = c->c.dims[d] == 1;
        if (ok && c->c.ndim == 2 && a->ndim == 1) ok = 0; /* would add an axis */
        if (ok) bias = c;
    }
    if (!bias) return emit_dense(im, a, units, w, (size_t)(units * k), NULL, out, NULL);
    val *y;
    GRAFT_FORWARD_IF_ERROR(define(im, add->outputs[0], &y));
    GRAFT_FORWARD_IF_ERROR(emit_dense(im, a, units, w, (size_t)(units * k), bias->c.f, y, NULL));
    im->done[j] = 1;
    out->kind = V_DEAD;
    out->why = "a MatMul output fused with its bias into a dense layer";
    return GRAFT_OK;
}

static int h_pad(imp *im, val *out)
{
    val *x;
    char mode[32];
    int64_t pads[2 * ONNX_MAX_RANK], axes[ONNX_MAX_RANK];
    size_t np = 0, na = 0;
    float value = 0.0f;
    GRAFT_FORWARD_IF_ERROR(req_input(im, 0, &x));
    if (x->kind == V_CONST)
        return fail(im, GRAFT_E_UNSUPPORTED, "graft does not evaluate Pad on constants");
    GRAFT_FORWARD_IF_ERROR(attr_string(im, "mode", "constant", mode, sizeof mode));
    int r = x->ndim;
    if (im->node->n_inputs >= 2) {
        cval *cp, *cv, *ca;
        GRAFT_FORWARD_IF_ERROR(const_input(im, 1, "pads", 1, &cp));
        GRAFT_FORWARD_IF_ERROR(const_input(im, 2, "constant_value", 0, &cv));
        GRAFT_FORWARD_IF_ERROR(const_input(im, 3, "axes", 0, &ca));
        GRAFT_FORWARD_IF_ERROR(cval_ints(im, cp, "pads", 0, pads, 2 * ONNX_MAX_RANK, &np));
        if (cv && cv->numel > 1) return fail(im, GRAFT_E_FORMAT, "constant_value is not a scalar");
        if (cv && cv->numel == 1) value = (float)cget(cv, 0);
        if (ca) GRAFT_FORWARD_IF_ERROR(cval_ints(im, ca, "axes", 0, axes, ONNX_MAX_RANK, &na));
        if (!ca) na = (size_t)r;
        if (!ca)
            for (int d = 0; d < r; d++) axes[d] = d;
    } else {
        const int64_t *v;
        int n;
        GRAFT_FORWARD_IF_ERROR(attr_ints(im, "pads", &v, &n));
        if (n < 0) GRAFT_FORWARD_IF_ERROR(attr_ints(im, "paddings", &v, &n));
        if (n < 0 || n > 2 * ONNX_MAX_RANK) return fail(im, GRAFT_E_FORMAT, "no usable pads");
        np = (size_t)n;
        if (n) memcpy(pads, v, np * sizeof *v);
        GRAFT_FORWARD_IF_ERROR(attr_float(im, "value", 0.0f, &value));
        na = (size_t)r;
        for (int d = 0; d < r; d++) axes[d] = d;
    }
    if (np != 2 * na) return fail(im, GRAFT_E_FORMAT, "%zu pads for %zu axes", np, na);
    int64_t begin[ONNX_MAX_RANK] = {0}, end[ONNX_MAX_RANK] = {0};
    for (size_t k = 0; k < na; k++) {
        int ax = 0;
        GRAFT_FORWARD_IF_ERROR(norm_axis(im, axes[k], r, "axis", &ax));
        begin[ax] = pads[k];
        end[ax] = pads[k + na];
    }
    int any = 0;
    for (int d = 0; d < r; d++) {
        if (begin[d] < 0 || end[d] < 0)
            return fail(im, GRAFT_E_UNSUPPORTED, "negative pads (cropping)");
        if (begin[d] || end[d]) {
            any = 1;
            if (d < r - 2 || (im->batched && d == 0))
                return fail(im, GRAFT_E_UNSUPPORTED,
                            "it pads axis %d; graft pads the last two axes (H, W)", d);
        }
    }
    int constant = !strcmp(mode, "constant"), reflect = !strcmp(mode, "reflect"),
        edge = !strcmp(mode, "edge");
    if (!constant && !reflect && !edge)
        return fail(im, GRAFT_E_UNSUPPORTED, "mode \"%s\"; graft pads constant, reflect and edge",
                    mode);
    if (!any) {
        alias(out, x);
        return GRAFT_OK;
    }
    /* A zero pad read only by a convolution becomes the convolution's own
     * padding. */
    int j = single_consumer(out);
    if (j >= 0 && constant && value == 0.0f && im->batched &&
        (r == 4 || (r == 3 && !begin[1] && !end[1]))) {
        const onnxNode *conv = &im->g->nodes[j];
        if (!strcmp(conv->op_type, "Conv") && !conv->domain[0] && conv->n_inputs >= 1 &&
            !strcmp(conv->inputs[0], out->name) && begin[r - 1] <= (1 << 20) &&
            end[r - 1] <= (1 << 20) && begin[r - 2] <= (1 << 20) && end[r - 2] <= (1 << 20)) {
            alias(out, x);
            if (r == 4) {
                out->pads[0] += (int)begin[2];
                out->pads[2] += (int)end[2];
            }
            out->pads[1] += (int)begin[r - 1];
            out->pads[3] += (int)end[r - 1];
            return GRAFT_OK;
        }
    }
    if (r + (im->batched ? 0 : 1) < 3)
        return fail(im, GRAFT_E_UNSUPPORTED, "a rank-%d input; graft pads (N, ..., H, W)", r);
    graft_pad2d_spec spec = GRAFT_PAD2D_SPEC_INIT;
    GRAFT_FORWARD_IF_ERROR(small_int(im, begin[r - 2], 0, "a pad", &spec.pad_top));
    GRAFT_FORWARD_IF_ERROR(small_int(im, begin[r - 1], 0, "a pad", &spec.pad_left));
    GRAFT_FORWARD_IF_ERROR(small_int(im, end[r - 2], 0, "a pad", &spec.pad_bottom));
    GRAFT_FORWARD_IF_ERROR(small_int(im, end[r - 1], 0, "a pad", &spec.pad_right));
    spec.mode = constant ? GRAFT_PAD_CONSTANT : reflect ? GRAFT_PAD_REFLECT : GRAFT_PAD_EDGE;
    spec.value = value;
    if (reflect && (spec.pad_top >= x->dims[r - 2] || spec.pad_bottom >= x->dims[r - 2] ||
                    spec.pad_left >= x->dims[r - 1] || spec.pad_right >= x->dims[r - 1]))
        return fail(im, GRAFT_E_UNSUPPORTED,
                    "reflect pads as large as the axis; graft reflects pads smaller than it");
    graft_layer *l = NULL;
    int st = graft_layer_pad2d(im->ctx, &spec, &l);
    return add_layer(im, st, l, NULL, 1, &x, out, NULL);
}

/* ---- operators evaluated on constants only -------------------------------------------------- */

static int h_gather(imp *im, val *out)
{
    cval *data, *ind;
    if (!all_const(im)) return only_constants_fail(im);
    GRAFT_FORWARD_IF_ERROR(const_input(im, 0, "data", 1, &data));
    GRAFT_FORWARD_IF_ERROR(const_input(im, 1, "indices", 1, &ind));
    return fold_gather(im, out, data, ind);
}

static int h_slice(imp *im, val *out)
{
    cval *data;
    if (!all_const(im)) return only_constants_fail(im);
    GRAFT_FORWARD_IF_ERROR(const_input(im, 0, "data", 1, &data));
    return fold_slice(im, out, data);
}

static int h_constant_of_shape(imp *im, val *out)
{
    cval *shape;
    GRAFT_FORWARD_IF_ERROR(const_input(im, 0, "shape", 1, &shape));
    return fold_constant_of_shape(im, out, shape);
}

static int h_range(imp *im, val *out)
{
    cval *s, *l, *d;
    GRAFT_FORWARD_IF_ERROR(const_input(im, 0, "start", 1, &s));
    GRAFT_FORWARD_IF_ERROR(const_input(im, 1, "limit", 1, &l));
    GRAFT_FORWARD_IF_ERROR(const_input(im, 2, "delta", 1, &d));
    return fold_range(im, out, s, l, d);
}

static int h_expand(imp *im, val *out)
{
    cval *data, *shape;
    if (!all_const(im)) return only_constants_fail(im);
    GRAFT_FORWARD_IF_ERROR(const_input(im, 0, "input", 1, &data));
    GRAFT_FORWARD_IF_ERROR(const_input(im, 1, "shape", 1, &shape));
    return fold_expand(im, out, data, shape);
}

static int h_where(imp *im, val *out)
{
    cval *c, *x, *y;
    if (!all_const(im)) return only_constants_fail(im);
    GRAFT_FORWARD_IF_ERROR(const_input(im, 0, "condition", 1, &c));
    GRAFT_FORWARD_IF_ERROR(const_input(im, 1, "X", 1, &x));
    GRAFT_FORWARD_IF_ERROR(const_input(im, 2, "Y", 1, &y));
    return fold_where(im, out, c, x, y);
}

static int h_constant(imp *im, val *out) { return fold_constant(im, out); }

typedef int (*op_handler)(imp *im, val *out);

static const struct {
    const char *op;
    op_handler fn;
} op_table[] = {
    {"Abs", h_unary},
    {"Add", h_binary},
    {"AveragePool", h_pool},
    {"BatchNormalization", h_batch_norm},
    {"Cast", h_cast},
    {"Ceil", h_unary},
    {"Clip", h_clip},
    {"Concat", h_concat},
    {"Constant", h_constant},
    {"ConstantOfShape", h_constant_of_shape},
    {"Conv", h_conv},
    {"Div", h_binary},
    {"Dropout", h_identity},
    {"Equal", h_binary},
    {"Exp", h_unary},
    {"Expand", h_expand},
    {"Flatten", h_flatten},
    {"Floor", h_unary},
    {"Gather", h_gather},
    {"Gemm", h_gemm},
    {"GlobalAveragePool", h_global_pool},
    {"GlobalMaxPool", h_global_pool},
    {"Greater", h_binary},
    {"HardSigmoid", h_hard_sigmoid},
    {"HardSwish", h_hard_swish},
    {"Identity", h_identity},
    {"LeakyRelu", h_leaky_relu},
    {"Less", h_binary},
    {"Log", h_unary},
    {"MatMul", h_matmul},
    {"Max", h_binary},
    {"MaxPool", h_pool},
    {"Min", h_binary},
    {"Mul", h_binary},
    {"Neg", h_unary},
    {"Not", h_unary},
    {"Pad", h_pad},
    {"Pow", h_binary},
    {"PRelu", h_prelu},
    {"Range", h_range},
    {"Reciprocal", h_unary},
    {"ReduceMean", h_reduce_mean},
    {"Relu", h_unary},
    {"Reshape", h_reshape},
    {"Shape", h_shape},
    {"Sigmoid", h_unary},
    {"Size", h_size},
    {"Slice", h_slice},
    {"Softmax", h_softmax},
    {"Sqrt", h_unary},
    {"Squeeze", h_squeeze},
    {"Sub", h_binary},
    {"Sum", h_sum},
    {"Tanh", h_unary},
    {"Transpose", h_transpose},
    {"Unsqueeze", h_squeeze},
    {"Where", h_where},
};

static op_handler find_handler(const char *op)
{
    for (size_t k = 0; k < sizeof op_table / sizeof op_table[0]; k++)
        if (strcmp(op_table[k].op, op) == 0) return op_table[k].fn;
    return NULL;
}

static int import_node(imp *im, int index)
{
    const onnxNode *node = &im->g->nodes[index];
    char why[GRAFT_ERRMSG_SIZE], label[160];
    val *out;
    im->node = node;
    im->node_index = index;
    if (node->domain[0] && strcmp(node->domain, "ai.onnx") != 0)
        return fail(im, GRAFT_E_UNSUPPORTED, "operators of domain \"%s\" are not supported",
                    node->domain);
    if (im->opset == 0)
        return fail(im, GRAFT_E_FORMAT, "the file imports no opset of the default domain");
    op_handler fn = find_handler(node->op_type);
    if (!fn) return fail(im, GRAFT_E_UNSUPPORTED, "graft does not support the operator %s",
                         node->op_type);
    if (node->n_outputs < 1 || !node->outputs[0][0])
        return fail(im, GRAFT_E_FORMAT, "the node has no output");
    for (int k = 0; k < node->n_inputs; k++) {
        val *v;
        GRAFT_FORWARD_IF_ERROR(opt_input(im, k, &v));
    }
    GRAFT_FORWARD_IF_ERROR(define(im, node->outputs[0], &out));
    GRAFT_FORWARD_IF_ERROR(fn(im, out));
    if (out->kind == V_NONE) return fail(im, GRAFT_E_INTERNAL, "no output was produced");
    for (int k = 1; k < node->n_outputs; k++) {
        if (!node->outputs[k][0]) continue;
        val *v;
        GRAFT_FORWARD_IF_ERROR(define(im, node->outputs[k], &v));
        snprintf(why, sizeof why, "output %d of %s, which graft does not compute", k,
                 node_label(im, label, sizeof label));
        v->kind = V_DEAD;
        v->why = arena_strdup(im, why);
        if (!v->why) return nomem(im);
    }
    return GRAFT_OK;
}

/* ---- the graph ------------------------------------------------------------------------ */

static int default_opset(imp *im)
{
    int found = 0;
    for (int k = 0; k < im->om.n_opsets; k++) {
        const onnxOpset *o = &im->om.opsets[k];
        if (o->domain[0] && strcmp(o->domain, "ai.onnx") != 0) continue;
        im->opset = o->version;
        found = 1;
    }
    if (!found) return GRAFT_OK; /* refused if a node of the default domain appears */
    if (im->opset > OPSET_MAX)
        return fail(im, GRAFT_E_VERSION,
                    "the file uses opset %lld; this graft reads opsets %d to %d",
                    (long long)im->opset, OPSET_MIN, OPSET_MAX);
    if (im->opset < OPSET_MIN) return fail(im, GRAFT_E_FORMAT, "opset %lld", (long long)im->opset);
    return GRAFT_OK;
}

/* Counts the readers of every value, creating its table entry. */
static int count_consumers(imp *im)
{
    const onnxGraph *g = im->g;
    size_t names = (size_t)g->n_inits + (size_t)g->n_inputs + (size_t)g->n_outputs;
    for (int i = 0; i < g->n_nodes; i++)
        names += (size_t)g->nodes[i].n_inputs + (size_t)g->nodes[i].n_outputs;
    size_t cap = 16;
    while (cap < 2 * names) {
        if (cap > SIZE_MAX / 4 / sizeof(val)) return nomem(im);
        cap *= 2;
    }
    im->cap = cap;
    im->vals = arena(im, cap * sizeof *im->vals);
    im->done = arena(im, (size_t)g->n_nodes + 1);
    size_t ncap = 64;
    while (ncap < 8 * (size_t)g->n_nodes + 64) ncap *= 2;
    im->names_cap = ncap;
    im->names = arena(im, ncap * sizeof *im->names);
    if (!im->vals || !im->done || !im->names) return nomem(im);
    for (int i = 0; i < g->n_nodes; i++) {
        const onnxNode *n = &g->nodes[i];
        for (int k = 0; k < n->n_inputs; k++) {
            if (!n->inputs[k][0]) continue;
            val *v = lookup(im, n->inputs[k], 1);
            if (!v) return nomem(im);
            v->consumers++;
            v->last_consumer = i;
        }
    }
    for (int k = 0; k < g->n_outputs; k++) {
        val *v = lookup(im, g->outputs[k].name, 1);
        if (!v) return nomem(im);
        v->consumers++;
        v->is_output = 1;
    }
    return GRAFT_OK;
}

static const onnxValueInfo *find_input(const onnxGraph *g, const char *name)
{
    for (int k = 0; k < g->n_inputs; k++)
        if (strcmp(g->inputs[k].name, name) == 0) return &g->inputs[k];
    return NULL;
}

static int is_initializer(const onnxGraph *g, const char *name)
{
    for (int k = 0; k < g->n_inits; k++)
        if (strcmp(g->inits[k].name, name) == 0) return 1;
    return 0;
}

/* A bound graph input becomes a constant with the graph's declared type and
 * (when it is fully known and holds as many elements) shape. */
static int bind_input(imp *im, const char *name, const graft_tensor *t)
{
    const onnxValueInfo *vi = find_input(im->g, name);
    if (!vi)
        return fail(im, GRAFT_E_INVALID_ARG, "bound_names names \"%s\", which is not a graph input",
                    name);
    if (!t) return fail(im, GRAFT_E_INVALID_ARG, "the value bound to \"%s\" is NULL", name);
    val *v = lookup(im, name, 1);
    if (!v) return nomem(im);
    if (v->kind != V_NONE) return fail(im, GRAFT_E_INVALID_ARG, "\"%s\" is bound twice", name);
    int64_t dims[ONNX_MAX_RANK];
    int ndim = t->ndim;
    size_t numel = t->numel;
    memcpy(dims, t->dims, (size_t)t->ndim * sizeof *dims);
    if (vi->has_shape && vi->ndim <= ONNX_MAX_RANK) {
        int64_t n = 1;
        int known = 1;
        for (int d = 0; d < vi->ndim; d++) {
            if (vi->dims[d] < 0) known = 0;
            else n *= vi->dims[d];
        }
        if (known && (size_t)n == numel) {
            ndim = vi->ndim;
            memcpy(dims, vi->dims, (size_t)ndim * sizeof *dims);
        }
    }
    int type = vi->is_tensor && vi->elem_type ? vi->elem_type : ONNX_FLOAT;
    int is_int = !is_float_type(type);
    size_t budget = im->fold_budget;
    im->fold_budget = SIZE_MAX;
    int st = cval_alloc(im, &v->c, is_int, type, ndim, dims);
    im->fold_budget = budget;
    GRAFT_FORWARD_IF_ERROR(st);
    for (size_t k = 0; k < numel; k++) {
        float x = t->data[k];
        if (!is_int) {
            v->c.f[k] = x;
        } else {
            if (!(x >= -9.2e18f && x <= 9.2e18f) || x != floorf(x))
                return fail(im, GRAFT_E_INVALID_ARG,
                            "the value bound to \"%s\" (type %s) holds %g, not an integer", name,
                            graftOnnxTypeName(type), (double)x);
            v->c.i[k] = type == ONNX_BOOL ? x != 0 : (int64_t)x;
        }
    }
    v->kind = V_CONST;
    return GRAFT_OK;
}

/* Sets up the model from the graph input. */
static int make_input(imp *im, const graft_onnx_import_opts *o)
{
    const onnxGraph *g = im->g;
    const onnxValueInfo *in = NULL;
    if (o->input_name) {
        in = find_input(g, o->input_name);
        if (!in) return fail(im, GRAFT_E_NOT_FOUND, "the graph has no input \"%s\"", o->input_name);
        val *v = lookup(im, in->name, 0);
        if (v && v->kind != V_NONE)
            return fail(im, GRAFT_E_INVALID_ARG, "input \"%s\" is also bound", in->name);
    } else {
        int n = 0;
        for (int k = 0; k < g->n_inputs; k++) {
            val *v = lookup(im, g->inputs[k].name, 0);
            if (v && v->kind != V_NONE) continue; /* an initializer or a bound value */
            if (!in) in = &g->inputs[k];
            n++;
        }
        if (n != 1)
            return fail(im, GRAFT_E_UNSUPPORTED,
                        "the graph has %d inputs without a value; graft models have one input "
                        "(choose it with input_name and bind the others)",
                        n);
    }
    if (!in->is_tensor || in->elem_type != ONNX_FLOAT)
        return fail(im, GRAFT_E_UNSUPPORTED, "the graph input \"%s\" is of type %s; graft models "
                    "take float tensors", in->name,
                    in->is_tensor ? graftOnnxTypeName(in->elem_type) : "not a tensor");
    if (!in->has_shape)
        return fail(im, GRAFT_E_UNSUPPORTED, "the graph input \"%s\" has no shape", in->name);
    int off = im->batched ? 1 : 0;
    int n = in->ndim - off;
    if (n < 1 || n > GRAFT_MAX_DIMS - 1)
        return fail(im, GRAFT_E_UNSUPPORTED,
                    "the graph input \"%s\" has rank %d; with batch_axis %d graft takes ranks %d "
                    "to %d",
                    in->name, in->ndim, im->batched, 1 + off, GRAFT_MAX_DIMS - 1 + off);
    int64_t dims[GRAFT_MAX_DIMS];
    for (int d = 0; d < n; d++) {
        dims[d] = in->dims[d + off];
        if (dims[d] < 1)
            return fail(im, GRAFT_E_UNSUPPORTED,
                        "axis %d of the graph input \"%s\" has no fixed size; graft needs every "
                        "size fixed%s",
                        d + off, in->name,
                        im->batched ? " but the batch" : " when batch_axis is 0");
    }
    im->static_batch = im->batched && in->dims[0] > 0 ? in->dims[0] : -1;
    GRAFT_FORWARD_IF_ERROR(graft_model_create(im->ctx, n, dims, o->seed, &im->m));
    val *v = lookup(im, in->name, 1);
    if (!v) return nomem(im);
    v->kind = V_ACT;
    v->layer = GRAFT_MODEL_INPUT;
    v->ndim = in->ndim;
    memcpy(v->dims, in->dims, (size_t)in->ndim * sizeof *v->dims);
    if (im->batched) v->dims[0] = SYM_BATCH;
    return GRAFT_OK;
}

static int import_graph(imp *im, const graft_onnx_import_opts *o)
{
    GRAFT_FORWARD_IF_ERROR(default_opset(im));
    if (!im->om.has_graph) return fail(im, GRAFT_E_FORMAT, "the file holds no graph");
    im->g = &im->om.graph;
    const onnxGraph *g = im->g;
    if (g->n_sparse_inits)
        return fail(im, GRAFT_E_UNSUPPORTED, "the graph has sparse initializers");
    GRAFT_FORWARD_IF_ERROR(count_consumers(im));
    for (int k = 0; k < g->n_inits; k++) {
        val *v;
        const onnxTensor *t = &g->inits[k];
        if (!t->name[0]) return fail(im, GRAFT_E_FORMAT, "initializer %d has no name", k);
        GRAFT_FORWARD_IF_ERROR(define(im, t->name, &v));
        GRAFT_FORWARD_IF_ERROR(cval_from_tensor(im, t, &v->c));
        v->kind = V_CONST;
    }
    for (int k = 0; k < o->n_bound; k++) {
        if (!o->bound_names || !o->bound_values || !o->bound_names[k])
            return fail(im, GRAFT_E_INVALID_ARG, "bound_names or bound_values is NULL");
        if (is_initializer(g, o->bound_names[k])) {
            /* A bound value replaces an initializer's default. */
            val *v = lookup(im, o->bound_names[k], 0);
            v->kind = V_NONE;
        }
        GRAFT_FORWARD_IF_ERROR(bind_input(im, o->bound_names[k], o->bound_values[k]));
    }
    GRAFT_FORWARD_IF_ERROR(make_input(im, o));
    for (int i = 0; i < g->n_nodes; i++) {
        if (im->done[i]) continue;
        GRAFT_FORWARD_IF_ERROR(import_node(im, i));
    }
    im->node = NULL;
    if (g->n_outputs != 1)
        return fail(im, GRAFT_E_UNSUPPORTED, "the graph has %d outputs; graft models have one",
                    g->n_outputs);
    const val *y = lookup(im, g->outputs[0].name, 0);
    if (!y || y->kind == V_NONE)
        return fail(im, GRAFT_E_FORMAT, "the graph output \"%s\" is not computed by any node",
                    g->outputs[0].name);
    if (y->kind == V_DEAD)
        return fail(im, GRAFT_E_UNSUPPORTED, "the graph output is %s", y->why);
    if (y->kind == V_CONST)
        return fail(im, GRAFT_E_UNSUPPORTED,
                    "the graph output \"%s\" is a constant; graft models compute from their input",
                    y->name);
    if (strcmp(y->layer, GRAFT_MODEL_INPUT) == 0)
        return fail(im, GRAFT_E_UNSUPPORTED,
                    "the graph output is its input unchanged; a graft model needs a layer");
    if (strcmp(y->layer, im->m->nodes[im->m->n_nodes - 1].name) != 0) {
        int st = graft_model_cut(im->m, y->layer);
        if (st != GRAFT_OK) return fail(im, st, "%s", graft_errmsg(im->ctx));
    }
    return GRAFT_OK;
}

static int check_opts(graft_ctx *ctx, const char *func, const graft_onnx_import_opts *o)
{
    GRAFT_RETURN_IF_AT(o->struct_size != sizeof(graft_onnx_import_opts), ctx, GRAFT_E_VERSION,
                       func,
                       "opts->struct_size is %u; this graft knows %zu (use "
                       "GRAFT_ONNX_IMPORT_OPTS_INIT)",
                       (unsigned)o->struct_size, sizeof(graft_onnx_import_opts));
    GRAFT_RETURN_IF_AT(o->keep_softmax != 0 && o->keep_softmax != 1, ctx, GRAFT_E_INVALID_ARG,
                       func, "keep_softmax is %d, must be 0 or 1", o->keep_softmax);
    GRAFT_RETURN_IF_AT(o->batch_axis != 0 && o->batch_axis != 1, ctx, GRAFT_E_INVALID_ARG, func,
                       "batch_axis is %d, must be 0 or 1", o->batch_axis);
    GRAFT_RETURN_IF_AT(o->n_bound < 0 || (o->n_bound > 0 && (!o->bound_names || !o->bound_values)),
                       ctx, GRAFT_E_INVALID_ARG, func,
                       "n_bound is %d with bound_names or bound_values NULL", o->n_bound);
    return GRAFT_OK;
}

static int import_buffer(graft_ctx *ctx, const char *func, const void *data, size_t size,
                         const graft_onnx_import_opts *opts, graft_model **out)
{
    graft_onnx_import_opts defaults = GRAFT_ONNX_IMPORT_OPTS_INIT;
    const graft_onnx_import_opts *o = opts ? opts : &defaults;
    GRAFT_FORWARD_IF_ERROR(check_opts(ctx, func, o));
    imp im;
    memset(&im, 0, sizeof im);
    im.ctx = ctx;
    im.func = func;
    im.batched = o->batch_axis;
    im.keep_softmax = o->keep_softmax;
    im.static_batch = -1;
    im.fold_budget = FOLD_BASE_ELEMS + 2 * size;
    static const unsigned char empty[1] = {0};
    int st = graftOnnxModelDecode(ctx, func, size ? data : empty, size, &im.om);
    if (st == GRAFT_OK) st = import_graph(&im, o);
    graftOnnxModelDispose(&im.om);
    if (st != GRAFT_OK) {
        graft_model_free(im.m);
        return st;
    }
    *out = im.m;
    return GRAFT_OK;
}

GRAFT_API int graft_onnx_import_buffer(graft_ctx *ctx, const void *data, size_t size,
                                       const graft_onnx_import_opts *opts, graft_model **out)
{
    graftClearError(ctx);
    if (out) *out = NULL;
    GRAFT_RETURN_IF(!ctx, NULL, GRAFT_E_INVALID_ARG, "ctx is NULL");
    GRAFT_RETURN_IF(!out || (!data && size > 0), ctx, GRAFT_E_INVALID_ARG,
                    "out is NULL, or data is NULL with a size");
    return import_buffer(ctx, __func__, data, size, opts, out);
}

/* Reads the whole file at path into a new allocation. */
static int read_file(graft_ctx *ctx, const char *func, const char *path, unsigned char **data,
                     size_t *size)
{
    /* Protobuf messages, and so ONNX files, hold at most 2 GiB. */
    const size_t limit = (size_t)1 << 31;
    graftFileFailure fail;
    switch (graftReadWholeFile(ctx, path, limit, data, size, &fail)) {
    case GRAFT_FILE_OK:
        return GRAFT_OK;
    case GRAFT_FILE_OPEN:
        return graftError(ctx, GRAFT_E_IO, func, "cannot open \"%s\": %s", path,
                          strerror(fail.sys_errno));
    case GRAFT_FILE_NOMEM:
        return graftError(ctx, GRAFT_E_NOMEM, func, "cannot allocate %zu bytes to read \"%s\"",
                          fail.bytes, path);
    case GRAFT_FILE_TOO_LARGE:
        return graftError(ctx, GRAFT_E_FORMAT, func,
                          "\"%s\" is larger than 2 GiB, the most an ONNX file can hold", path);
    default: /* fstat or read failed, or a directory */
        return graftError(ctx, GRAFT_E_IO, func, "cannot read \"%s\": %s", path,
                          strerror(fail.sys_errno));
    }
}

GRAFT_API int graft_onnx_import(graft_ctx *ctx, const char *path,
                                const graft_onnx_import_opts *opts, graft_model **out)
{
    graftClearError(ctx);
    if (out) *out = NULL;
    GRAFT_RETURN_IF(!ctx, NULL, GRAFT_E_INVALID_ARG, "ctx is NULL");
    GRAFT_RETURN_IF(!path || !path[0] || !out, ctx, GRAFT_E_INVALID_ARG,
                    "path (non-empty) and out must not be NULL");
    unsigned char *data;
    size_t size;
    GRAFT_FORWARD_IF_ERROR(read_file(ctx, __func__, path, &data, &size));
    int st = import_buffer(ctx, __func__, data, size, opts, out);
    graftFree(ctx, data);
    return st;
}
