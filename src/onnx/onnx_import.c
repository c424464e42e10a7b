/*
 * onnx_import.c - ONNX model files to graft models (graft_onnx_import).
 *
 * The graph walk, the value table, the current node's inputs and
 * attributes, the layer emission helpers and the public entry points. How
 * values are imported, and which file handles which operators:
 * onnx_import.h.
 */
#include "onnx_import.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define OPSET_MIN 1
#define OPSET_MAX 18
#define FOLD_BASE_ELEMS ((size_t)1 << 22)

/* ---- errors, the arena and the value table ------------------------------------------ */

static const char *node_label(const imp *im, char *buf, size_t size)
{
    if (im->node->name[0])
        snprintf(buf, size, "node \"%s\" (%s)", im->node->name, im->node->op_type);
    else snprintf(buf, size, "node #%d (%s)", im->node_index, im->node->op_type);
    return buf;
}

int graftOnnxImpFail(imp *im, int st, const char *fmt, ...)
{
    char msg[GRAFT_ERRMSG_SIZE], label[160];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (!im->node) return graftError(im->ctx, st, im->func, "%s", msg);
    return graftError(im->ctx, st, im->func, "%s: %s", node_label(im, label, sizeof label), msg);
}

int graftOnnxImpNomem(imp *im) { return graftOnnxImpFail(im, GRAFT_E_NOMEM, "out of memory"); }

void *graftOnnxImpAlloc(imp *im, size_t n) { return graftOnnxArenaAlloc(&im->om, n); }

static const char *arena_strdup(imp *im, const char *s)
{
    size_t n = strlen(s) + 1;
    char *p = graftOnnxImpAlloc(im, n);
    if (p) memcpy(p, s, n);
    return p;
}

static uint64_t hash_name(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

val *graftOnnxImpLookup(imp *im, const char *name, int create)
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

int graftOnnxImpDefine(imp *im, const char *name, val **out)
{
    val *v = graftOnnxImpLookup(im, name, 1);
    if (!v) return graftOnnxImpNomem(im);
    if (v->kind != V_NONE)
        return graftOnnxImpFail(im, GRAFT_E_FORMAT, "value \"%s\" is defined twice", name);
    *out = v;
    return GRAFT_OK;
}

/* ---- constants ---------------------------------------------------------------------- */

int graftOnnxImpIsFloatType(int t)
{
    return t == ONNX_FLOAT || t == ONNX_DOUBLE || t == ONNX_FLOAT16 || t == ONNX_BFLOAT16;
}

int graftOnnxImpShapeNumel(imp *im, int ndim, const int64_t *dims, size_t *numel)
{
    int64_t n = 1;
    for (int d = 0; d < ndim; d++) {
        if (dims[d] < 0 || dims[d] > GRAFT_MAX_NUMEL ||
            (dims[d] > 0 && n > GRAFT_MAX_NUMEL / dims[d]))
            return graftOnnxImpFail(im, GRAFT_E_FORMAT,
                                    "a tensor dimension is %lld, or the element count "
                                    "exceeds 2^40",
                                    (long long)dims[d]);
        n *= dims[d];
    }
    *numel = (size_t)n;
    return GRAFT_OK;
}

int graftOnnxImpCvalAlloc(imp *im, cval *c, int is_int, int dtype, int ndim, const int64_t *dims)
{
    memset(c, 0, sizeof *c);
    if (ndim < 0 || ndim > ONNX_MAX_RANK)
        return graftOnnxImpFail(im, GRAFT_E_UNSUPPORTED,
                                "a constant of rank %d (graft folds up to %d)", ndim,
                                ONNX_MAX_RANK);
    GRAFT_FORWARD_IF_ERROR(graftOnnxImpShapeNumel(im, ndim, dims, &c->numel));
    if (c->numel > im->fold_budget)
        return graftOnnxImpFail(im, GRAFT_E_UNSUPPORTED,
                                "computing constants of %zu more elements exceeds what graft "
                                "evaluates at import for a file of this size",
                                c->numel);
    im->fold_budget -= c->numel;
    c->is_int = is_int;
    c->dtype = dtype;
    c->ndim = ndim;
    if (ndim) memcpy(c->dims, dims, (size_t)ndim * sizeof *dims);
    if (is_int) c->i = graftOnnxImpAlloc(im, c->numel * sizeof *c->i);
    else c->f = graftOnnxImpAlloc(im, c->numel * sizeof *c->f);
    if (!c->i && !c->f) return graftOnnxImpNomem(im);
    return GRAFT_OK;
}

int graftOnnxImpCvalFromTensor(imp *im, const onnxTensor *t, cval *c)
{
    size_t numel, stored;
    memset(c, 0, sizeof *c);
    GRAFT_FORWARD_IF_ERROR(graftOnnxTensorNumel(im->ctx, im->func, t, &numel));
    GRAFT_FORWARD_IF_ERROR(graftOnnxTensorStoredCount(im->ctx, im->func, t, &stored));
    if (stored != numel)
        return graftOnnxImpFail(im, GRAFT_E_FORMAT,
                                "tensor \"%s\" at offset %zu: its dimensions need %zu elements "
                                "but it holds %zu",
                                t->name, t->offset, numel, stored);
    c->is_int = !graftOnnxImpIsFloatType(t->data_type);
    c->dtype = t->data_type;
    c->ndim = t->ndim;
    c->numel = numel;
    if (t->ndim) memcpy(c->dims, t->dims, (size_t)t->ndim * sizeof *t->dims);
    if (c->is_int) {
        c->i = graftOnnxImpAlloc(im, numel * sizeof *c->i);
        if (!c->i) return graftOnnxImpNomem(im);
        return graftOnnxTensorReadI64(im->ctx, im->func, t, c->i, numel);
    }
    c->f = graftOnnxImpAlloc(im, numel * sizeof *c->f);
    if (!c->f) return graftOnnxImpNomem(im);
    return graftOnnxTensorReadF32(im->ctx, im->func, t, c->f, numel);
}

int graftOnnxImpHasSym(const cval *c)
{
    if (!c->is_int) return 0;
    for (size_t k = 0; k < c->numel; k++)
        if (c->i[k] == SYM_BATCH) return 1;
    return 0;
}

int graftOnnxImpSymFail(imp *im)
{
    return graftOnnxImpFail(im, GRAFT_E_UNSUPPORTED,
                            "it computes with the batch size, which graft does not know at import");
}

int graftOnnxImpCvalInts(imp *im, const cval *c, const char *what, int allow_sym, int64_t *out,
                                size_t max, size_t *n)
{
    if (c->numel > max)
        return graftOnnxImpFail(im, GRAFT_E_UNSUPPORTED,
                                "%s has %zu values, graft takes at most %zu", what, c->numel, max);
    for (size_t k = 0; k < c->numel; k++) {
        if (c->is_int) {
            if (c->i[k] == SYM_BATCH && !allow_sym) return graftOnnxImpSymFail(im);
            out[k] = c->i[k];
        } else {
            double v = c->f[k];
            if (!(v >= -9.2e18 && v <= 9.2e18) || v != floor(v))
                return graftOnnxImpFail(im, GRAFT_E_FORMAT, "%s holds %g, not an integer", what, v);
            out[k] = (int64_t)v;
        }
    }
    *n = c->numel;
    return GRAFT_OK;
}

/* ---- node inputs and attributes ----------------------------------------------------- */

int graftOnnxImpOptInput(imp *im, int k, val **out)
{
    *out = NULL;
    if (k >= im->node->n_inputs || !im->node->inputs[k][0]) return GRAFT_OK;
    val *v = graftOnnxImpLookup(im, im->node->inputs[k], 0);
    if (!v || v->kind == V_NONE)
        return graftOnnxImpFail(im, GRAFT_E_FORMAT,
                                "input \"%s\" is not an initializer, a graph input or the output "
                                "of an earlier node",
                                im->node->inputs[k]);
    if (v->kind == V_DEAD) return graftOnnxImpFail(im, GRAFT_E_UNSUPPORTED, "it reads %s", v->why);
    *out = v;
    return GRAFT_OK;
}

int graftOnnxImpReqInput(imp *im, int k, val **out)
{
    GRAFT_FORWARD_IF_ERROR(graftOnnxImpOptInput(im, k, out));
    if (!*out) return graftOnnxImpFail(im, GRAFT_E_FORMAT, "input %d is missing", k);
    return GRAFT_OK;
}

int graftOnnxImpActInput(imp *im, int k, val **out)
{
    GRAFT_FORWARD_IF_ERROR(graftOnnxImpReqInput(im, k, out));
    if ((*out)->kind != V_ACT)
        return graftOnnxImpFail(im, GRAFT_E_UNSUPPORTED, "graft does not evaluate %s on constants",
                                im->node->op_type);
    return GRAFT_OK;
}

int graftOnnxImpConstInput(imp *im, int k, const char *what, int required, cval **out)
{
    val *v;
    *out = NULL;
    GRAFT_FORWARD_IF_ERROR(graftOnnxImpOptInput(im, k, &v));
    if (!v) {
        if (required) return graftOnnxImpFail(im, GRAFT_E_FORMAT, "the %s input is missing", what);
        return GRAFT_OK;
    }
    if (v->kind != V_CONST)
        return graftOnnxImpFail(im, GRAFT_E_UNSUPPORTED,
                                "its %s (\"%s\") is computed from the graph input; graft needs a "
                                "constant",
                                what, v->name);
    *out = &v->c;
    return GRAFT_OK;
}

int graftOnnxImpAllConst(imp *im)
{
    for (int k = 0; k < im->node->n_inputs; k++) {
        val *v;
        if (graftOnnxImpOptInput(im, k, &v) != GRAFT_OK) return 0;
        if (v && v->kind != V_CONST) return 0;
    }
    return 1;
}

int graftOnnxImpOnlyConstantsFail(imp *im)
{
    return graftOnnxImpFail(im, GRAFT_E_UNSUPPORTED,
                            "graft computes this operator only on constants, and an input here "
                            "is computed from the graph input");
}

int graftOnnxImpOpIs(const imp *im, const char *op) { return strcmp(im->node->op_type, op) == 0; }

const onnxAttr *graftOnnxImpAttr(const imp *im, const char *name)
{
    return graftOnnxNodeAttr(im->node, name);
}

int graftOnnxImpAttrTypeFail(imp *im, const onnxAttr *a, const char *want)
{
    return graftOnnxImpFail(im, GRAFT_E_FORMAT, "attribute %s has type %d, expected %s", a->name,
                            a->type, want);
}

int graftOnnxImpAttrInt(imp *im, const char *name, int64_t def, int64_t *out)
{
    const onnxAttr *a = graftOnnxImpAttr(im, name);
    *out = def;
    if (!a) return GRAFT_OK;
    if (a->type != ONNX_ATTR_INT) return graftOnnxImpAttrTypeFail(im, a, "int");
    *out = a->i;
    return GRAFT_OK;
}

int graftOnnxImpAttrFloat(imp *im, const char *name, float def, float *out)
{
    const onnxAttr *a = graftOnnxImpAttr(im, name);
    *out = def;
    if (!a) return GRAFT_OK;
    if (a->type != ONNX_ATTR_FLOAT) return graftOnnxImpAttrTypeFail(im, a, "float");
    *out = a->f;
    return GRAFT_OK;
}

int graftOnnxImpAttrInts(imp *im, const char *name, const int64_t **vals, int *n)
{
    const onnxAttr *a = graftOnnxImpAttr(im, name);
    *vals = NULL;
    *n = -1;
    if (!a) return GRAFT_OK;
    if (a->type != ONNX_ATTR_INTS) return graftOnnxImpAttrTypeFail(im, a, "ints");
    *vals = a->ints;
    *n = a->n_ints;
    return GRAFT_OK;
}

int graftOnnxImpAttrString(imp *im, const char *name, const char *def, char *buf, size_t size)
{
    const onnxAttr *a = graftOnnxImpAttr(im, name);
    if (!a) {
        snprintf(buf, size, "%s", def);
        return GRAFT_OK;
    }
    if (a->type != ONNX_ATTR_STRING) return graftOnnxImpAttrTypeFail(im, a, "string");
    size_t n = a->s.n < size - 1 ? a->s.n : size - 1;
    if (n) memcpy(buf, a->s.p, n);
    buf[n] = '\0';
    for (size_t k = 0; k < n; k++)
        if (buf[k] == '\0') buf[k] = '?';
    return GRAFT_OK;
}

int graftOnnxImpNormAxis(imp *im, int64_t a, int r, const char *what, int *out)
{
    if (a < -r || a >= r || r == 0)
        return graftOnnxImpFail(im, GRAFT_E_FORMAT, "%s %lld is out of range for rank %d", what,
                                (long long)a, r);
    *out = (int)(a < 0 ? a + r : a);
    return GRAFT_OK;
}

/* ---- activations and layers --------------------------------------------------------- */

int graftOnnxImpGraftAxis(const imp *im, int a) { return im->batched ? a : a + 1; }

int graftOnnxImpSampleDims(const imp *im, int ndim, const int64_t *dims, int64_t *out)
{
    int off = im->batched ? 1 : 0;
    for (int d = off; d < ndim; d++) out[d - off] = dims[d];
    return ndim - off;
}

void graftOnnxImpShapeText(int ndim, const int64_t *dims, char *buf, size_t size)
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
    return graftOnnxImpFail(im, st, "%s", cause);
}

int graftOnnxImpAddLayerN(imp *im, int st, graft_layer *l, const char *suffix, int n_in,
                                 const char *const *in_names, val *dst, graft_layer **added)
{
    char name[GRAFT_NAME_MAX + 1];
    if (st != GRAFT_OK) return layer_fail(im, st);
    layer_name(im, im->node, im->node_index, suffix, name);
    st = graft_model_add(im->m, name, l, n_in, in_names);
    if (st != GRAFT_OK) return layer_fail(im, st);
    const char *kept = arena_strdup(im, name);
    if (!kept) return graftOnnxImpNomem(im);
    if (im->names_used + 1 >= im->names_cap / 2)
        return graftOnnxImpFail(im, GRAFT_E_INTERNAL, "more layers than the name table holds");
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

int graftOnnxImpAddLayer(imp *im, int st, graft_layer *l, const char *suffix, int n_in,
                         val *const *ins, val *dst, graft_layer **added)
{
    const char *in_names[4];
    if (n_in > 4) {
        graft_layer_free(l);
        return graftOnnxImpFail(im, GRAFT_E_INTERNAL, "too many layer inputs");
    }
    for (int k = 0; k < n_in; k++) in_names[k] = ins[k]->layer;
    return graftOnnxImpAddLayerN(im, st, l, suffix, n_in, in_names, dst, added);
}

int graftOnnxImpSetParam(imp *im, graft_layer *l, const char *name, const float *data, size_t n)
{
    graftParam *p = graftLayerFindParam(l, name);
    if (!p || p->value->numel != n)
        return graftOnnxImpFail(im, GRAFT_E_INTERNAL, "the %s layer's %s does not have %zu values",
                                l->vtbl->kind, name, n);
    memcpy(p->value->data, data, n * sizeof *data);
    return GRAFT_OK;
}

void graftOnnxImpAlias(val *dst, const val *src)
{
    const char *name = dst->name;
    int consumers = dst->consumers, last = dst->last_consumer, is_output = dst->is_output;
    *dst = *src;
    dst->name = name;
    dst->consumers = consumers;
    dst->last_consumer = last;
    dst->is_output = is_output;
}

int graftOnnxImpEmitReshape(imp *im, val *src, int ndim, const int64_t *dims, const char *suffix,
                                   val *dst)
{
    int64_t want[ONNX_MAX_RANK], have[ONNX_MAX_RANK];
    if (im->batched && (ndim < 1 || dims[0] != SYM_BATCH))
        return graftOnnxImpFail(im, GRAFT_E_UNSUPPORTED, "it moves the batch axis");
    int wn = graftOnnxImpSampleDims(im, ndim, dims, want),
        hn = graftOnnxImpSampleDims(im, src->ndim, src->dims, have);
    if (wn < 1)
        return graftOnnxImpFail(im, GRAFT_E_UNSUPPORTED,
                                "its result has no axis but the batch; graft layers output (N, "
                                "...)");
    if (wn > GRAFT_MAX_DIMS - 1)
        return graftOnnxImpFail(im, GRAFT_E_UNSUPPORTED,
                                "its result has rank %d; graft handles up to %d", ndim,
                                GRAFT_MAX_DIMS - (im->batched ? 0 : 1));
    int same = wn == hn;
    for (int d = 0; same && d < wn; d++) same = want[d] == have[d];
    if (same) {
        graftOnnxImpAlias(dst, src);
        dst->ndim = ndim;
        memcpy(dst->dims, dims, (size_t)ndim * sizeof *dims);
        return GRAFT_OK;
    }
    graft_layer *l = NULL;
    int st = graft_layer_reshape(im->ctx, wn, want, &l);
    GRAFT_FORWARD_IF_ERROR(graftOnnxImpAddLayer(im, st, l, suffix, 1, &src, dst, NULL));
    dst->ndim = ndim;
    memcpy(dst->dims, dims, (size_t)ndim * sizeof *dims);
    return GRAFT_OK;
}

int graftOnnxImpSingleConsumer(const val *v)
{
    return v->consumers == 1 && !v->is_output ? v->last_consumer : -1;
}

/* ---- operators ---------------------------------------------------------------------- */

/* Every family's table (onnx_import.h). */
static const graftOnnxOp *const families[] = {graftOnnxOpsNn, graftOnnxOpsShape,
                                              graftOnnxOpsElementwise, graftOnnxOpsFold};

static pthread_once_t registry_once = PTHREAD_ONCE_INIT;
static const char *registered_twice; /* an op type in two table entries, or NULL */

/* Looks for an op type registered twice, in one family or in two (which
 * handler ran would then depend on the order of the families). */
static void check_registry(void)
{
    size_t nf = sizeof families / sizeof families[0];
    for (size_t f = 0; f < nf; f++)
        for (const graftOnnxOp *a = families[f]; a->op_type; a++)
            for (size_t g = f; g < nf; g++)
                for (const graftOnnxOp *b = g == f ? a + 1 : families[g]; b->op_type; b++)
                    if (strcmp(a->op_type, b->op_type) == 0) {
                        registered_twice = a->op_type;
                        return;
                    }
}

static graftOnnxHandler find_handler(const char *op)
{
    for (size_t f = 0; f < sizeof families / sizeof families[0]; f++)
        for (const graftOnnxOp *o = families[f]; o->op_type; o++)
            if (strcmp(o->op_type, op) == 0) return o->handler;
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
        return graftOnnxImpFail(im, GRAFT_E_UNSUPPORTED,
                                "operators of domain \"%s\" are not supported", node->domain);
    if (im->opset == 0)
        return graftOnnxImpFail(im, GRAFT_E_FORMAT,
                                "the file imports no opset of the default domain");
    graftOnnxHandler fn = find_handler(node->op_type);
    if (!fn)
        return graftOnnxImpFail(im, GRAFT_E_UNSUPPORTED, "graft does not support the operator %s",
                                node->op_type);
    if (node->n_outputs < 1 || !node->outputs[0][0])
        return graftOnnxImpFail(im, GRAFT_E_FORMAT, "the node has no output");
    for (int k = 0; k < node->n_inputs; k++) {
        val *v;
        GRAFT_FORWARD_IF_ERROR(graftOnnxImpOptInput(im, k, &v));
    }
    GRAFT_FORWARD_IF_ERROR(graftOnnxImpDefine(im, node->outputs[0], &out));
    GRAFT_FORWARD_IF_ERROR(fn(im, out));
    if (out->kind == V_NONE)
        return graftOnnxImpFail(im, GRAFT_E_INTERNAL, "no output was produced");
    for (int k = 1; k < node->n_outputs; k++) {
        if (!node->outputs[k][0]) continue;
        val *v;
        GRAFT_FORWARD_IF_ERROR(graftOnnxImpDefine(im, node->outputs[k], &v));
        snprintf(why, sizeof why, "output %d of %s, which graft does not compute", k,
                 node_label(im, label, sizeof label));
        v->kind = V_DEAD;
        v->why = arena_strdup(im, why);
        if (!v->why) return graftOnnxImpNomem(im);
    }
    return GRAFT_OK;
}

/* ---- the graph ---------------------------------------------------------------------- */

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
        return graftOnnxImpFail(im, GRAFT_E_VERSION,
                                "the file uses opset %lld; this graft reads opsets %d to %d",
                                (long long)im->opset, OPSET_MIN, OPSET_MAX);
    if (im->opset < OPSET_MIN)
        return graftOnnxImpFail(im, GRAFT_E_FORMAT, "opset %lld", (long long)im->opset);
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
        if (cap > SIZE_MAX / 4 / sizeof(val)) return graftOnnxImpNomem(im);
        cap *= 2;
    }
    im->cap = cap;
    im->vals = graftOnnxImpAlloc(im, cap * sizeof *im->vals);
    im->done = graftOnnxImpAlloc(im, (size_t)g->n_nodes + 1);
    size_t ncap = 64;
    while (ncap < 8 * (size_t)g->n_nodes + 64) ncap *= 2;
    im->names_cap = ncap;
    im->names = graftOnnxImpAlloc(im, ncap * sizeof *im->names);
    if (!im->vals || !im->done || !im->names) return graftOnnxImpNomem(im);
    for (int i = 0; i < g->n_nodes; i++) {
        const onnxNode *n = &g->nodes[i];
        for (int k = 0; k < n->n_inputs; k++) {
            if (!n->inputs[k][0]) continue;
            val *v = graftOnnxImpLookup(im, n->inputs[k], 1);
            if (!v) return graftOnnxImpNomem(im);
            v->consumers++;
            v->last_consumer = i;
        }
    }
    for (int k = 0; k < g->n_outputs; k++) {
        val *v = graftOnnxImpLookup(im, g->outputs[k].name, 1);
        if (!v) return graftOnnxImpNomem(im);
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
        return graftOnnxImpFail(im, GRAFT_E_INVALID_ARG,
                                "bound_names names \"%s\", which is not a graph input", name);
    if (!t)
        return graftOnnxImpFail(im, GRAFT_E_INVALID_ARG, "the value bound to \"%s\" is NULL", name);
    val *v = graftOnnxImpLookup(im, name, 1);
    if (!v) return graftOnnxImpNomem(im);
    if (v->kind != V_NONE)
        return graftOnnxImpFail(im, GRAFT_E_INVALID_ARG, "\"%s\" is bound twice", name);
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
    int is_int = !graftOnnxImpIsFloatType(type);
    size_t budget = im->fold_budget;
    im->fold_budget = SIZE_MAX;
    int st = graftOnnxImpCvalAlloc(im, &v->c, is_int, type, ndim, dims);
    im->fold_budget = budget;
    GRAFT_FORWARD_IF_ERROR(st);
    for (size_t k = 0; k < numel; k++) {
        float x = t->data[k];
        if (!is_int) {
            v->c.f[k] = x;
        } else {
            if (!(x >= -9.2e18f && x <= 9.2e18f) || x != floorf(x))
                return graftOnnxImpFail(im, GRAFT_E_INVALID_ARG,
                                        "the value bound to \"%s\" (type %s) holds %g, not an "
                                        "integer",
                                        name, graftOnnxTypeName(type), (double)x);
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
        if (!in)
            return graftOnnxImpFail(im, GRAFT_E_NOT_FOUND, "the graph has no input \"%s\"",
                                    o->input_name);
        val *v = graftOnnxImpLookup(im, in->name, 0);
        if (v && v->kind != V_NONE)
            return graftOnnxImpFail(im, GRAFT_E_INVALID_ARG, "input \"%s\" is also bound",
                                    in->name);
    } else {
        int n = 0;
        for (int k = 0; k < g->n_inputs; k++) {
            val *v = graftOnnxImpLookup(im, g->inputs[k].name, 0);
            if (v && v->kind != V_NONE) continue; /* an initializer or a bound value */
            if (!in) in = &g->inputs[k];
            n++;
        }
        if (n != 1)
            return graftOnnxImpFail(im, GRAFT_E_UNSUPPORTED,
                                    "the graph has %d inputs without a value; graft models have "
                                    "one input (choose it with input_name and bind the others)",
                                    n);
    }
    if (!in->is_tensor || in->elem_type != ONNX_FLOAT)
        return graftOnnxImpFail(im, GRAFT_E_UNSUPPORTED,
                                "the graph input \"%s\" is of type %s; graft models "
                                "take float tensors",
                                in->name,
                                in->is_tensor ? graftOnnxTypeName(in->elem_type) : "not a tensor");
    if (!in->has_shape)
        return graftOnnxImpFail(im, GRAFT_E_UNSUPPORTED, "the graph input \"%s\" has no shape",
                                in->name);
    int off = im->batched ? 1 : 0;
    int n = in->ndim - off;
    if (n < 1 || n > GRAFT_MAX_DIMS - 1)
        return graftOnnxImpFail(im, GRAFT_E_UNSUPPORTED,
                                "the graph input \"%s\" has rank %d; with batch_axis %d graft "
                                "takes ranks %d to %d",
                                in->name, in->ndim, im->batched, 1 + off, GRAFT_MAX_DIMS - 1 + off);
    int64_t dims[GRAFT_MAX_DIMS];
    for (int d = 0; d < n; d++) {
        dims[d] = in->dims[d + off];
        if (dims[d] < 1)
            return graftOnnxImpFail(im, GRAFT_E_UNSUPPORTED,
                                    "axis %d of the graph input \"%s\" has no fixed size; graft "
                                    "needs every size fixed%s",
                                    d + off, in->name,
                                    im->batched ? " but the batch" : " when batch_axis is 0");
    }
    im->static_batch = im->batched && in->dims[0] > 0 ? in->dims[0] : -1;
    GRAFT_FORWARD_IF_ERROR(graft_model_create(im->ctx, n, dims, o->seed, &im->m));
    val *v = graftOnnxImpLookup(im, in->name, 1);
    if (!v) return graftOnnxImpNomem(im);
    v->kind = V_ACT;
    v->layer = GRAFT_MODEL_INPUT;
    v->ndim = in->ndim;
    memcpy(v->dims, in->dims, (size_t)in->ndim * sizeof *v->dims);
    if (im->batched) v->dims[0] = SYM_BATCH;
    return GRAFT_OK;
}

static int import_graph(imp *im, const graft_onnx_import_opts *o)
{
    pthread_once(&registry_once, check_registry);
    if (registered_twice)
        return graftOnnxImpFail(im, GRAFT_E_INTERNAL, "the operator %s is registered twice",
                                registered_twice);
    GRAFT_FORWARD_IF_ERROR(default_opset(im));
    if (!im->om.has_graph) return graftOnnxImpFail(im, GRAFT_E_FORMAT, "the file holds no graph");
    im->g = &im->om.graph;
    const onnxGraph *g = im->g;
    if (g->n_sparse_inits)
        return graftOnnxImpFail(im, GRAFT_E_UNSUPPORTED, "the graph has sparse initializers");
    GRAFT_FORWARD_IF_ERROR(count_consumers(im));
    for (int k = 0; k < g->n_inits; k++) {
        val *v;
        const onnxTensor *t = &g->inits[k];
        if (!t->name[0])
            return graftOnnxImpFail(im, GRAFT_E_FORMAT, "initializer %d has no name", k);
        GRAFT_FORWARD_IF_ERROR(graftOnnxImpDefine(im, t->name, &v));
        GRAFT_FORWARD_IF_ERROR(graftOnnxImpCvalFromTensor(im, t, &v->c));
        v->kind = V_CONST;
    }
    for (int k = 0; k < o->n_bound; k++) {
        if (!o->bound_names || !o->bound_values || !o->bound_names[k])
            return graftOnnxImpFail(im, GRAFT_E_INVALID_ARG, "bound_names or bound_values is NULL");
        if (is_initializer(g, o->bound_names[k])) {
            /* A bound value replaces an initializer's default. */
            val *v = graftOnnxImpLookup(im, o->bound_names[k], 0);
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
        return graftOnnxImpFail(im, GRAFT_E_UNSUPPORTED,
                                "the graph has %d outputs; graft models have one", g->n_outputs);
    const val *y = graftOnnxImpLookup(im, g->outputs[0].name, 0);
    if (!y || y->kind == V_NONE)
        return graftOnnxImpFail(im, GRAFT_E_FORMAT,
                                "the graph output \"%s\" is not computed by any node",
                                g->outputs[0].name);
    if (y->kind == V_DEAD)
        return graftOnnxImpFail(im, GRAFT_E_UNSUPPORTED, "the graph output is %s", y->why);
    if (y->kind == V_CONST)
        return graftOnnxImpFail(im, GRAFT_E_UNSUPPORTED,
                                "the graph output \"%s\" is a constant; graft models compute "
                                "from their input",
                                y->name);
    if (strcmp(y->layer, GRAFT_MODEL_INPUT) == 0)
        return graftOnnxImpFail(im, GRAFT_E_UNSUPPORTED,
                                "the graph output is its input unchanged; a graft model needs a "
                                "layer");
    if (strcmp(y->layer, im->m->nodes[im->m->n_nodes - 1].name) != 0) {
        int st = graft_model_cut(im->m, y->layer);
        if (st != GRAFT_OK) return graftOnnxImpFail(im, st, "%s", graft_errmsg(im->ctx));
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
