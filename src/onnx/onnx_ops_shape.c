/*
 * onnx_ops_shape.c - the ONNX importer's shape operators (onnx_import.h):
 * Shape, Size, Reshape, Flatten, Squeeze, Unsqueeze, Transpose, Concat,
 * Identity, Dropout and Cast. On constants they are folded; on activations
 * they become aliases (when graft's per-sample shape does not change) or
 * reshape, flatten and concat layers.
 */
#include "onnx_import.h"

#include <string.h>

/* ---- shapes ------------------------------------------------------------------------- */

/* The shape Unsqueeze (unsq 1) or Squeeze (0) gives to (ndim, dims). */
static int squeeze_shape(imp *im, int unsq, int ndim, const int64_t *dims, int *nout,
                         int64_t *out)
{
    int64_t axes[ONNX_MAX_RANK];
    int na, mark[ONNX_MAX_RANK + 1] = {0};
    GRAFT_FORWARD_IF_ERROR(graftOnnxImpSqueezeAxes(im, axes, &na));
    if (unsq) {
        if (na < 0) return graftOnnxImpFail(im, GRAFT_E_FORMAT, "no axes");
        int r = ndim + na;
        if (r > ONNX_MAX_RANK)
            return graftOnnxImpFail(im, GRAFT_E_UNSUPPORTED, "the result has rank %d", r);
        for (int k = 0; k < na; k++) {
            int ax = 0;
            GRAFT_FORWARD_IF_ERROR(graftOnnxImpNormAxis(im, axes[k], r, "axis", &ax));
            if (mark[ax]++)
                return graftOnnxImpFail(im, GRAFT_E_FORMAT, "axis %d is given twice", ax);
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
            GRAFT_FORWARD_IF_ERROR(graftOnnxImpNormAxis(im, axes[k], ndim, "axis", &ax));
            if (dims[ax] != 1)
                return graftOnnxImpFail(im, GRAFT_E_FORMAT, "axis %d has size %s, not 1", ax,
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
        return graftOnnxImpFail(im, GRAFT_E_UNSUPPORTED, "a target of rank %zu", tn);
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
            return graftOnnxImpFail(im, GRAFT_E_UNSUPPORTED,
                                    "its target shape's first size is %lld, not the batch",
                                    (long long)v);
        }
        if (v == SYM_BATCH) return graftOnnxImpSymFail(im);
        if (v == 0 && !allowzero) {
            if ((int)k >= in_n)
                return graftOnnxImpFail(im, GRAFT_E_FORMAT, "size 0 at %zu copies no axis", k);
            v = in[k];
        } else if (v == -1) {
            if (infer >= 0)
                return graftOnnxImpFail(im, GRAFT_E_FORMAT, "more than one -1 in the target");
            infer = (int)k;
            out[k] = -1;
            continue;
        } else if (v < 0) {
            return graftOnnxImpFail(im, GRAFT_E_FORMAT, "size %lld in the target", (long long)v);
        }
        if (v > GRAFT_MAX_NUMEL || (v > 0 && known > GRAFT_MAX_NUMEL / v))
            return graftOnnxImpFail(im, GRAFT_E_FORMAT, "the target shape is too large");
        out[k] = v;
        known *= v;
    }
    if (infer == 0 && batch) {
        if (known != have)
            return graftOnnxImpFail(im, GRAFT_E_UNSUPPORTED,
                                    "its target infers the batch size from %lld elements per "
                                    "sample",
                                    (long long)known);
    } else if (infer >= 0) {
        if (known == 0 || have % known)
            return graftOnnxImpFail(im, GRAFT_E_FORMAT,
                                    "cannot infer the -1 size: %lld elements into %lld",
                                    (long long)have, (long long)known);
        out[infer] = have / known;
    } else if (known != have) {
        return graftOnnxImpFail(im, GRAFT_E_FORMAT,
                                "the target holds %lld elements, the input %lld", (long long)known,
                                (long long)have);
    }
    return GRAFT_OK;
}

/* ---- operators ---------------------------------------------------------------------- */

static int h_identity(imp *im, val *out)
{
    val *x;
    GRAFT_FORWARD_IF_ERROR(graftOnnxImpReqInput(im, 0, &x));
    if (graftOnnxImpOpIs(im, "Dropout")) {
        cval *train;
        GRAFT_FORWARD_IF_ERROR(graftOnnxImpConstInput(im, 2, "training_mode", 0, &train));
        if (train && train->numel == 1 && graftOnnxImpCget(train, 0) != 0) {
            cval *ratio;
            float r;
            GRAFT_FORWARD_IF_ERROR(graftOnnxImpConstInput(im, 1, "ratio", 0, &ratio));
            r = ratio && ratio->numel == 1 ? (float)graftOnnxImpCget(ratio, 0) : 0.5f;
            if (r != 0)
                return graftOnnxImpFail(im, GRAFT_E_UNSUPPORTED,
                                        "dropout in training mode (ratio %g) is random; graft "
                                        "imports inference graphs",
                                        (double)r);
        }
    }
    if (x->kind == V_CONST) return graftOnnxImpFoldCopy(im, out, &x->c);
    graftOnnxImpAlias(out, x);
    return GRAFT_OK;
}

static int h_cast(imp *im, val *out)
{
    val *x;
    GRAFT_FORWARD_IF_ERROR(graftOnnxImpReqInput(im, 0, &x));
    if (x->kind == V_CONST) return graftOnnxImpFoldCast(im, out, &x->c);
    int64_t to;
    GRAFT_FORWARD_IF_ERROR(graftOnnxImpAttrInt(im, "to", 0, &to));
    if (to != ONNX_FLOAT)
        return graftOnnxImpFail(im, GRAFT_E_UNSUPPORTED,
                                "it casts a computed tensor to %s; graft computes in "
                                "float",
                                graftOnnxTypeName((int)to));
    graftOnnxImpAlias(out, x);
    return GRAFT_OK;
}

static int h_shape(imp *im, val *out)
{
    val *x;
    GRAFT_FORWARD_IF_ERROR(graftOnnxImpReqInput(im, 0, &x));
    if (x->kind == V_CONST) return graftOnnxImpFoldShapeOf(im, out, x->c.ndim, x->c.dims);
    return graftOnnxImpFoldShapeOf(im, out, x->ndim, x->dims);
}

static int h_size(imp *im, val *out)
{
    val *x;
    int64_t n = 1;
    GRAFT_FORWARD_IF_ERROR(graftOnnxImpReqInput(im, 0, &x));
    int nd = x->kind == V_CONST ? x->c.ndim : x->ndim;
    const int64_t *dims = x->kind == V_CONST ? x->c.dims : x->dims;
    for (int d = 0; d < nd; d++) {
        if (dims[d] == SYM_BATCH) return graftOnnxImpSymFail(im);
        n *= dims[d];
    }
    GRAFT_FORWARD_IF_ERROR(graftOnnxImpCvalAlloc(im, &out->c, 1, ONNX_INT64, 0, NULL));
    out->c.i[0] = n;
    out->kind = V_CONST;
    return GRAFT_OK;
}

static int h_squeeze(imp *im, val *out)
{
    val *x;
    int64_t dims[ONNX_MAX_RANK];
    int n, unsq = graftOnnxImpOpIs(im, "Unsqueeze");
    GRAFT_FORWARD_IF_ERROR(graftOnnxImpReqInput(im, 0, &x));
    if (x->kind == V_CONST) {
        GRAFT_FORWARD_IF_ERROR(squeeze_shape(im, unsq, x->c.ndim, x->c.dims, &n, dims));
        return graftOnnxImpFoldRedim(im, out, &x->c, n, dims);
    }
    if (!unsq && im->batched) {
        int64_t axes[ONNX_MAX_RANK];
        int na;
        GRAFT_FORWARD_IF_ERROR(graftOnnxImpSqueezeAxes(im, axes, &na));
        for (int k = 0; k < na; k++)
            if (axes[k] == 0 || axes[k] == -x->ndim)
                return graftOnnxImpFail(im, GRAFT_E_UNSUPPORTED, "it removes the batch axis");
    }
    GRAFT_FORWARD_IF_ERROR(squeeze_shape(im, unsq, x->ndim, x->dims, &n, dims));
    return graftOnnxImpEmitReshape(im, x, n, dims, NULL, out);
}

static int h_reshape(imp *im, val *out)
{
    val *x;
    int64_t target[ONNX_MAX_RANK], dims[ONNX_MAX_RANK], allowzero;
    size_t tn;
    GRAFT_FORWARD_IF_ERROR(graftOnnxImpReqInput(im, 0, &x));
    GRAFT_FORWARD_IF_ERROR(graftOnnxImpAttrInt(im, "allowzero", 0, &allowzero));
    if (im->node->n_inputs >= 2) {
        cval *shape;
        GRAFT_FORWARD_IF_ERROR(graftOnnxImpConstInput(im, 1, "shape", 1, &shape));
        GRAFT_FORWARD_IF_ERROR(
            graftOnnxImpCvalInts(im, shape, "shape", 1, target, ONNX_MAX_RANK, &tn));
    } else {
        const int64_t *v;
        int n;
        GRAFT_FORWARD_IF_ERROR(graftOnnxImpAttrInts(im, "shape", &v, &n));
        if (n < 0 || n > ONNX_MAX_RANK)
            return graftOnnxImpFail(im, GRAFT_E_FORMAT, "no usable shape");
        tn = (size_t)n;
        if (n) memcpy(target, v, tn * sizeof *v);
    }
    if (x->kind == V_CONST) {
        GRAFT_FORWARD_IF_ERROR(
            reshape_target(im, x->c.ndim, x->c.dims, tn, target, allowzero != 0, 0, dims));
        return graftOnnxImpFoldRedim(im, out, &x->c, (int)tn, dims);
    }
    GRAFT_FORWARD_IF_ERROR(
        reshape_target(im, x->ndim, x->dims, tn, target, allowzero != 0, 1, dims));
    for (size_t k = 0; k < tn; k++)
        if (dims[k] == 0)
            return graftOnnxImpFail(im, GRAFT_E_UNSUPPORTED, "its result has a size-0 axis");
    return graftOnnxImpEmitReshape(im, x, (int)tn, dims, NULL, out);
}

static int h_flatten(imp *im, val *out)
{
    val *x;
    int64_t axis_attr, dims[2] = {1, 1};
    int axis = 0;
    GRAFT_FORWARD_IF_ERROR(graftOnnxImpReqInput(im, 0, &x));
    GRAFT_FORWARD_IF_ERROR(graftOnnxImpAttrInt(im, "axis", 1, &axis_attr));
    int nd = x->kind == V_CONST ? x->c.ndim : x->ndim;
    const int64_t *in = x->kind == V_CONST ? x->c.dims : x->dims;
    if (axis_attr == nd) axis = nd;
    else GRAFT_FORWARD_IF_ERROR(graftOnnxImpNormAxis(im, axis_attr, nd, "axis", &axis));
    if (x->kind == V_CONST) {
        for (int d = 0; d < nd; d++) dims[d < axis ? 0 : 1] *= in[d];
        return graftOnnxImpFoldRedim(im, out, &x->c, 2, dims);
    }
    if (im->batched) {
        if (axis == 0)
            return graftOnnxImpFail(im, GRAFT_E_UNSUPPORTED, "it flattens the batch axis (axis 0)");
        for (int d = 1; d < nd; d++) dims[d < axis ? 0 : 1] *= in[d];
        if (dims[0] != 1)
            return graftOnnxImpFail(im, GRAFT_E_UNSUPPORTED,
                                    "it merges the batch axis with axes 1 to %d", axis - 1);
        dims[0] = SYM_BATCH;
        if (axis == 1 && nd > 2) {
            graft_layer *l = NULL;
            int st = graft_layer_flatten(im->ctx, &l);
            return graftOnnxImpAddLayer(im, st, l, NULL, 1, &x, out, NULL);
        }
        return graftOnnxImpEmitReshape(im, x, 2, dims, NULL, out);
    }
    for (int d = 0; d < nd; d++) dims[d < axis ? 0 : 1] *= in[d];
    return graftOnnxImpEmitReshape(im, x, 2, dims, NULL, out);
}

/* Transpose of an activation: only when the order of the elements does not
 * change (the axes that are not of size 1 keep their order). */
static int h_transpose(imp *im, val *out)
{
    val *x;
    GRAFT_FORWARD_IF_ERROR(graftOnnxImpReqInput(im, 0, &x));
    if (x->kind == V_CONST) return graftOnnxImpFoldTranspose(im, out, &x->c);
    const int64_t *perm_attr;
    int np, seen[ONNX_MAX_RANK] = {0};
    int64_t dims[ONNX_MAX_RANK];
    GRAFT_FORWARD_IF_ERROR(graftOnnxImpAttrInts(im, "perm", &perm_attr, &np));
    if (np >= 0 && np != x->ndim)
        return graftOnnxImpFail(im, GRAFT_E_FORMAT, "perm has %d entries", np);
    int last = -1;
    for (int d = 0; d < x->ndim; d++) {
        int64_t p = np >= 0 ? perm_attr[d] : x->ndim - 1 - d;
        if (p < 0 || p >= x->ndim || seen[p]++)
            return graftOnnxImpFail(im, GRAFT_E_FORMAT, "perm is not a permutation");
        dims[d] = x->dims[p];
        if (x->dims[p] == 1) continue;
        if (p < last)
            return graftOnnxImpFail(im, GRAFT_E_UNSUPPORTED,
                                    "it reorders the elements in memory; graft imports a "
                                    "Transpose only when it moves size-1 axes");
        last = (int)p;
    }
    return graftOnnxImpEmitReshape(im, x, x->ndim, dims, NULL, out);
}

static int h_concat(imp *im, val *out)
{
    const char *names[GRAFT_LAYER_MAX_INPUTS];
    int n = im->node->n_inputs, n_const = 0, axis = 0;
    int64_t axis_attr;
    if (n < 1 || n > GRAFT_LAYER_MAX_INPUTS)
        return graftOnnxImpFail(im, GRAFT_E_UNSUPPORTED, "%d inputs", n);
    for (int k = 0; k < n; k++) {
        val *v;
        GRAFT_FORWARD_IF_ERROR(graftOnnxImpReqInput(im, k, &v));
        n_const += v->kind == V_CONST;
    }
    if (n_const == n) return graftOnnxImpFoldConcat(im, out);
    if (n_const)
        return graftOnnxImpFail(im, GRAFT_E_UNSUPPORTED,
                                "it concatenates constants with computed tensors; graft "
                                "concatenates computed tensors only");
    val *first;
    GRAFT_FORWARD_IF_ERROR(graftOnnxImpReqInput(im, 0, &first));
    GRAFT_FORWARD_IF_ERROR(graftOnnxImpAttrInt(im, "axis", 1, &axis_attr));
    GRAFT_FORWARD_IF_ERROR(graftOnnxImpNormAxis(im, axis_attr, first->ndim, "axis", &axis));
    if (graftOnnxImpGraftAxis(im, axis) != 1)
        return graftOnnxImpFail(im, GRAFT_E_UNSUPPORTED,
                                "it concatenates along axis %d; graft concatenates along the "
                                "axis after the batch",
                                axis);
    for (int k = 0; k < n; k++) {
        val *v;
        GRAFT_FORWARD_IF_ERROR(graftOnnxImpReqInput(im, k, &v));
        if (v->ndim != first->ndim)
            return graftOnnxImpFail(im, GRAFT_E_FORMAT, "inputs of different ranks");
        names[k] = v->layer;
    }
    graft_layer *l = NULL;
    int st = graft_layer_concat(im->ctx, &l);
    return graftOnnxImpAddLayerN(im, st, l, NULL, n, names, out, NULL);
}

/* ---- the family --------------------------------------------------------------------- */

const graftOnnxOp graftOnnxOpsShape[] = {
    {"Cast", h_cast},
    {"Concat", h_concat},
    {"Dropout", h_identity},
    {"Flatten", h_flatten},
    {"Identity", h_identity},
    {"Reshape", h_reshape},
    {"Shape", h_shape},
    {"Size", h_size},
    {"Squeeze", h_squeeze},
    {"Transpose", h_transpose},
    {"Unsqueeze", h_squeeze},
    {NULL, NULL},
};
