/*
 * onnx_import_helpers.c - what the ONNX importer's operator files share
 * (onnx_import.h): errors, the arena and the value table, constants, the
 * current node's inputs and attributes, and the layer emission helpers.
 * It calls no other file of the importer: the graph walk (onnx_import.c)
 * sits on the operator files (onnx_ops_*.c), which sit on constant folding
 * (onnx_fold.c), which sits on this file.
 */
#include "onnx_import.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* ---- errors, the arena and the value table ------------------------------------------ */

const char *graftOnnxImpNodeLabel(const imp *im, char *buf, size_t size)
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
    return graftError(im->ctx, st, im->func, "%s: %s",
                      graftOnnxImpNodeLabel(im, label, sizeof label), msg);
}

int graftOnnxImpNomem(imp *im) { return graftOnnxImpFail(im, GRAFT_E_NOMEM, "out of memory"); }

void *graftOnnxImpAlloc(imp *im, size_t n) { return graftOnnxArenaAlloc(&im->om, n); }

const char *graftOnnxImpStrdup(imp *im, const char *s)
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

int graftOnnxImpSqueezeAxes(imp *im, int64_t *axes, int *n)
{
    const int64_t *v;
    int na;
    cval *c;
    *n = -1;
    GRAFT_FORWARD_IF_ERROR(graftOnnxImpConstInput(im, 1, "axes", 0, &c));
    if (c) {
        size_t k;
        GRAFT_FORWARD_IF_ERROR(graftOnnxImpCvalInts(im, c, "axes", 0, axes, ONNX_MAX_RANK, &k));
        *n = (int)k;
        return GRAFT_OK;
    }
    GRAFT_FORWARD_IF_ERROR(graftOnnxImpAttrInts(im, "axes", &v, &na));
    if (na > ONNX_MAX_RANK)
        return graftOnnxImpFail(im, GRAFT_E_UNSUPPORTED, "more than %d axes", ONNX_MAX_RANK);
    if (na > 0) memcpy(axes, v, (size_t)na * sizeof *v);
    *n = na;
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
    const char *kept = graftOnnxImpStrdup(im, name);
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

int graftOnnxImpAsShaped(imp *im, val *x, const char *suffix, val *tmp, val **out)
{
    const graftShape *s = &im->m->input_shape;
    if (strcmp(x->layer, GRAFT_MODEL_INPUT) != 0) {
        int at = graftModelFindNode(im->m, x->layer);
        if (at < 0)
            return graftOnnxImpFail(im, GRAFT_E_INTERNAL, "no layer \"%s\" for value \"%s\"",
                                    x->layer, x->name);
        s = &im->m->nodes[at].layer->out_shape;
    }
    int64_t want[ONNX_MAX_RANK];
    int wn = graftOnnxImpSampleDims(im, x->ndim, x->dims, want);
    int same = wn == s->ndim - 1;
    for (int d = 0; same && d < wn; d++) same = want[d] == s->dims[d + 1];
    *out = x;
    if (same) return GRAFT_OK;
    if (wn < 1 || wn > GRAFT_MAX_DIMS - 1)
        return graftOnnxImpFail(im, GRAFT_E_UNSUPPORTED,
                                "its input has rank %d; graft handles 1 to %d axes besides the "
                                "batch",
                                x->ndim, GRAFT_MAX_DIMS - 1);
    graft_layer *l = NULL;
    memset(tmp, 0, sizeof *tmp);
    tmp->name = x->name;
    int st = graft_layer_reshape(im->ctx, wn, want, &l);
    GRAFT_FORWARD_IF_ERROR(graftOnnxImpAddLayer(im, st, l, suffix, 1, &x, tmp, NULL));
    tmp->ndim = x->ndim;
    memcpy(tmp->dims, x->dims, (size_t)x->ndim * sizeof *x->dims);
    *out = tmp;
    return GRAFT_OK;
}

int graftOnnxImpSingleConsumer(const val *v)
{
    return v->consumers == 1 && !v->is_output ? v->last_consumer : -1;
}
