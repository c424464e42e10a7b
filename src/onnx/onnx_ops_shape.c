/*
 * onnx_ops_shape.c - the ONNX importer's shape operators (onnx_import.h):
 * Shape, Size, Reshape, Flatten, Squeeze, Unsqueeze, Transpose, Concat,
 * Slice, Split, Identity, Dropout and Cast. On constants they are folded;
 * on activations they become aliases (when graft's per-sample shape does
 * not change) or reshape, flatten, transpose, concat and slice layers.
 */
#include "onnx_import.h"

#include <stdio.h>
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

/* Transpose of an activation: an alias or a reshape when the order of the
 * elements does not change (the axes that are not of size 1 keep their
 * order), else a transpose layer, which keeps the batch axis first. */
static int h_transpose(imp *im, val *out)
{
    val *x, tmp;
    GRAFT_FORWARD_IF_ERROR(graftOnnxImpReqInput(im, 0, &x));
    if (x->kind == V_CONST) return graftOnnxImpFoldTranspose(im, out, &x->c);
    const int64_t *perm_attr;
    int np, seen[ONNX_MAX_RANK] = {0}, perm[GRAFT_MAX_DIMS];
    int64_t dims[ONNX_MAX_RANK];
    GRAFT_FORWARD_IF_ERROR(graftOnnxImpAttrInts(im, "perm", &perm_attr, &np));
    if (np >= 0 && np != x->ndim)
        return graftOnnxImpFail(im, GRAFT_E_FORMAT, "perm has %d entries", np);
    int last = -1, moves = 0;
    for (int d = 0; d < x->ndim; d++) {
        int64_t p = np >= 0 ? perm_attr[d] : x->ndim - 1 - d;
        if (p < 0 || p >= x->ndim || seen[p]++)
            return graftOnnxImpFail(im, GRAFT_E_FORMAT, "perm is not a permutation");
        dims[d] = x->dims[p];
        if (d < GRAFT_MAX_DIMS) perm[d] = (int)p;
        if (x->dims[p] == 1) continue;
        moves |= p < last;
        last = (int)p;
    }
    if (!moves) return graftOnnxImpEmitReshape(im, x, x->ndim, dims, NULL, out);
    int off = im->batched ? 0 : 1, r = x->ndim + off, gperm[GRAFT_MAX_DIMS];
    if (im->batched && perm[0] != 0)
        return graftOnnxImpFail(im, GRAFT_E_UNSUPPORTED,
                                "it moves the batch axis (perm[0] is %d); graft transposes the "
                                "axes after the batch",
                                perm[0]);
    if (r > GRAFT_MAX_DIMS)
        return graftOnnxImpFail(im, GRAFT_E_UNSUPPORTED, "its input has rank %d; graft handles %d",
                                x->ndim, GRAFT_MAX_DIMS - off);
    gperm[0] = 0;
    for (int d = off; d < r; d++) gperm[d] = perm[d - off] + off;
    GRAFT_FORWARD_IF_ERROR(graftOnnxImpAsShaped(im, x, "shape", &tmp, &x));
    graft_layer *l = NULL;
    int st = graft_layer_transpose(im->ctx, r, gperm, &l);
    return graftOnnxImpAddLayer(im, st, l, NULL, 1, &x, out, NULL);
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
    int gaxis = graftOnnxImpGraftAxis(im, axis);
    if (gaxis == 0)
        return graftOnnxImpFail(im, GRAFT_E_UNSUPPORTED,
                                "it concatenates along the batch axis; graft concatenates along "
                                "the axes after it");
    for (int k = 0; k < n; k++) {
        val *v, *shaped, tmp;
        GRAFT_FORWARD_IF_ERROR(graftOnnxImpReqInput(im, k, &v));
        if (v->ndim != first->ndim)
            return graftOnnxImpFail(im, GRAFT_E_FORMAT, "inputs of different ranks");
        shaped = v;
        if (gaxis != 1) {
            /* the layer counts axes: its inputs must have their ONNX ranks */
            char suffix[32];
            snprintf(suffix, sizeof suffix, "shape%d", k);
            GRAFT_FORWARD_IF_ERROR(graftOnnxImpAsShaped(im, v, suffix, &tmp, &shaped));
        }
        names[k] = shaped->layer;
    }
    graft_layer *l = NULL;
    int st = gaxis == 1 ? graft_layer_concat(im->ctx, &l)
                        : graft_layer_concat_axis(im->ctx, gaxis, &l);
    return graftOnnxImpAddLayerN(im, st, l, NULL, n, names, out, NULL);
}

/* Appends the slice layer of ONNX axis a (graft axis from the importer's
 * batch rule), entries first, first + step, ... (count of them), of x into
 * dst. */
static int emit_slice(imp *im, val *x, int a, int64_t first, int64_t count, int64_t step,
                      const char *suffix, val *dst)
{
    /* the entry after the last one taken; below 0 when counting down past
     * the front, which the layer reads as "before entry 0" */
    int64_t end = first + count * step;
    if (end < 0) end = INT64_MIN;
    graft_layer *l = NULL;
    int st = graft_layer_slice(im->ctx, graftOnnxImpGraftAxis(im, a), first, end, step, &l);
    return graftOnnxImpAddLayer(im, st, l, suffix, 1, &x, dst, NULL);
}

/* Slice of an activation: one slice layer per axis it changes (none: an
 * alias); the batch axis must be kept whole. */
static int h_slice(imp *im, val *out)
{
    val *x, tmp, steps[ONNX_MAX_RANK];
    GRAFT_FORWARD_IF_ERROR(graftOnnxImpReqInput(im, 0, &x));
    if (x->kind == V_CONST) {
        if (!graftOnnxImpAllConst(im)) return graftOnnxImpOnlyConstantsFail(im);
        return graftOnnxImpFoldSlice(im, out, &x->c);
    }
    graftOnnxSliceArg sl[ONNX_MAX_RANK];
    GRAFT_FORWARD_IF_ERROR(graftOnnxImpSliceArgs(im, x->ndim, sl));
    int64_t first[ONNX_MAX_RANK], count[ONNX_MAX_RANK];
    int changed[ONNX_MAX_RANK], n_changed = 0;
    for (int d = 0; d < x->ndim; d++) {
        changed[d] = 0;
        if (!sl[d].set) continue;
        if (x->dims[d] == SYM_BATCH) {
            /* the batch size is unknown: only [0, end of the axis) keeps it */
            if (sl[d].step != 1 || sl[d].start != 0 || sl[d].end < INT32_MAX)
                return graftOnnxImpFail(im, GRAFT_E_UNSUPPORTED,
                                        "it slices the batch axis (starts %lld, ends %lld, "
                                        "steps %lld); graft slices the axes after it",
                                        (long long)sl[d].start, (long long)sl[d].end,
                                        (long long)sl[d].step);
            continue;
        }
        GRAFT_FORWARD_IF_ERROR(graftOnnxImpSliceAxis(im, x->dims[d], sl[d].start, sl[d].end,
                                                     sl[d].step, &first[d], &count[d]));
        if (count[d] == 0)
            return graftOnnxImpFail(im, GRAFT_E_UNSUPPORTED,
                                    "its result is empty on axis %d; graft tensors have no "
                                    "size-0 axis",
                                    d);
        if (first[d] == 0 && count[d] == x->dims[d] && sl[d].step == 1) continue;
        changed[d] = 1;
        n_changed++;
    }
    if (n_changed == 0) {
        graftOnnxImpAlias(out, x);
        return GRAFT_OK;
    }
    GRAFT_FORWARD_IF_ERROR(graftOnnxImpAsShaped(im, x, "shape", &tmp, &x));
    for (int d = 0, k = 0; d < x->ndim; d++) {
        if (!changed[d]) continue;
        char suffix[32];
        snprintf(suffix, sizeof suffix, "axis%d", d);
        val *dst = ++k == n_changed ? out : &steps[d];
        if (dst != out) {
            memset(dst, 0, sizeof *dst);
            dst->name = out->name;
        }
        GRAFT_FORWARD_IF_ERROR(
            emit_slice(im, x, d, first[d], count[d], sl[d].step, dst == out ? NULL : suffix, dst));
        x = dst;
    }
    return GRAFT_OK;
}

/* Gather: on constants, folded; on an activation, one entry of an axis
 * (a constant index, scalar or of one element) is a slice layer, and the
 * axis is dropped for a scalar index (PyTorch's q, k, v = qkv[0], qkv[1],
 * qkv[2]). */
static int h_gather(imp *im, val *out)
{
    val *x, one;
    cval *ind;
    GRAFT_FORWARD_IF_ERROR(graftOnnxImpReqInput(im, 0, &x));
    if (graftOnnxImpAllConst(im)) {
        cval *data;
        GRAFT_FORWARD_IF_ERROR(graftOnnxImpConstInput(im, 0, "data", 1, &data));
        GRAFT_FORWARD_IF_ERROR(graftOnnxImpConstInput(im, 1, "indices", 1, &ind));
        return graftOnnxImpFoldGather(im, out, data, ind);
    }
    if (x->kind == V_CONST) return graftOnnxImpOnlyConstantsFail(im);
    GRAFT_FORWARD_IF_ERROR(graftOnnxImpConstInput(im, 1, "indices", 1, &ind));
    int64_t axis_attr, j;
    int axis;
    size_t n;
    GRAFT_FORWARD_IF_ERROR(graftOnnxImpAttrInt(im, "axis", 0, &axis_attr));
    GRAFT_FORWARD_IF_ERROR(graftOnnxImpNormAxis(im, axis_attr, x->ndim, "axis", &axis));
    if (ind->numel != 1 || ind->ndim > 1)
        return graftOnnxImpFail(im, GRAFT_E_UNSUPPORTED,
                                "it gathers %zu entries (indices of rank %d) from a computed "
                                "tensor; graft takes one (a scalar index or one of shape (1))",
                                ind->numel, ind->ndim);
    GRAFT_FORWARD_IF_ERROR(graftOnnxImpCvalInts(im, ind, "the index", 0, &j, 1, &n));
    int64_t size = x->dims[axis];
    if (size == SYM_BATCH)
        return graftOnnxImpFail(im, GRAFT_E_UNSUPPORTED,
                                "it gathers from the batch axis; graft gathers from the axes "
                                "after it");
    if (j < -size || j >= size)
        return graftOnnxImpFail(im, GRAFT_E_FORMAT,
                                "index %lld is out of range for a dimension of %lld",
                                (long long)j, (long long)size);
    if (j < 0) j += size;
    int64_t dims[ONNX_MAX_RANK];
    int nd = 0;
    for (int d = 0; d < x->ndim; d++)
        if (d != axis || ind->ndim == 1) dims[nd++] = d == axis ? 1 : x->dims[d];
    if (size == 1) return graftOnnxImpEmitReshape(im, x, nd, dims, NULL, out);
    memset(&one, 0, sizeof one);
    one.name = out->name;
    GRAFT_FORWARD_IF_ERROR(graftOnnxImpAsShaped(im, x, "shape", &one, &x));
    val *dst = ind->ndim == 1 ? out : &one;
    GRAFT_FORWARD_IF_ERROR(emit_slice(im, x, axis, j, 1, 1, ind->ndim == 1 ? NULL : "slice", dst));
    if (ind->ndim == 1) return GRAFT_OK;
    return graftOnnxImpEmitReshape(im, &one, nd, dims, NULL, out);
}

/* Split: output k is the k-th part of the axis, as one slice layer (or a
 * folded constant), sizes from the split attribute (opset < 13) or input
 * (opset >= 13), else equal parts (num_outputs from opset 18, where the
 * last part may be smaller). */
static int h_split(imp *im, val *out)
{
    const onnxNode *node = im->node;
    val *x, tmp;
    int64_t axis_attr, sizes[GRAFT_LAYER_MAX_INPUTS], num_outputs;
    int axis = 0, n = node->n_outputs;
    size_t ns = (size_t)-1;
    GRAFT_FORWARD_IF_ERROR(graftOnnxImpReqInput(im, 0, &x));
    int nd = x->kind == V_CONST ? x->c.ndim : x->ndim;
    const int64_t *in = x->kind == V_CONST ? x->c.dims : x->dims;
    GRAFT_FORWARD_IF_ERROR(graftOnnxImpAttrInt(im, "axis", 0, &axis_attr));
    GRAFT_FORWARD_IF_ERROR(graftOnnxImpNormAxis(im, axis_attr, nd, "axis", &axis));
    GRAFT_FORWARD_IF_ERROR(graftOnnxImpAttrInt(im, "num_outputs", 0, &num_outputs));
    if (n > GRAFT_LAYER_MAX_INPUTS)
        return graftOnnxImpFail(im, GRAFT_E_UNSUPPORTED, "%d outputs; graft splits into up to %d",
                                n, GRAFT_LAYER_MAX_INPUTS);
    if (num_outputs && num_outputs != n)
        return graftOnnxImpFail(im, GRAFT_E_FORMAT, "num_outputs is %lld but the node has %d",
                                (long long)num_outputs, n);
    if (im->opset < 13) {
        const int64_t *v;
        int nv;
        GRAFT_FORWARD_IF_ERROR(graftOnnxImpAttrInts(im, "split", &v, &nv));
        if (nv > GRAFT_LAYER_MAX_INPUTS)
            return graftOnnxImpFail(im, GRAFT_E_FORMAT, "split has %d entries", nv);
        if (nv >= 0) {
            ns = (size_t)nv;
            if (nv) memcpy(sizes, v, ns * sizeof *v);
        }
    } else {
        cval *split;
        GRAFT_FORWARD_IF_ERROR(graftOnnxImpConstInput(im, 1, "split", 0, &split));
        if (split)
            GRAFT_FORWARD_IF_ERROR(graftOnnxImpCvalInts(im, split, "split", 0, sizes,
                                                        GRAFT_LAYER_MAX_INPUTS, &ns));
    }
    int64_t dim = in[axis];
    if (dim == SYM_BATCH)
        return graftOnnxImpFail(im, GRAFT_E_UNSUPPORTED,
                                "it splits the batch axis; graft splits the axes after it");
    if (ns == (size_t)-1) {
        /* equal parts; from opset 18 the last may be smaller */
        int64_t part = (dim + n - 1) / n;
        if (im->opset < 18 && dim % n)
            return graftOnnxImpFail(im, GRAFT_E_FORMAT,
                                    "axis %d of size %lld does not split into %d equal parts",
                                    axis, (long long)dim, n);
        for (int k = 0; k < n; k++) sizes[k] = dim - k * part < part ? dim - k * part : part;
        ns = (size_t)n;
    }
    if (ns != (size_t)n)
        return graftOnnxImpFail(im, GRAFT_E_FORMAT, "split has %zu sizes for %d outputs", ns, n);
    int64_t sum = 0;
    for (int k = 0; k < n; k++) {
        if (sizes[k] < 0 || sizes[k] > dim)
            return graftOnnxImpFail(im, GRAFT_E_FORMAT, "split size %lld", (long long)sizes[k]);
        if (sizes[k] == 0)
            return graftOnnxImpFail(im, GRAFT_E_UNSUPPORTED,
                                    "output %d is empty; graft tensors have no size-0 axis", k);
        sum += sizes[k];
    }
    if (sum != dim)
        return graftOnnxImpFail(im, GRAFT_E_FORMAT, "the split sizes add up to %lld, not %lld",
                                (long long)sum, (long long)dim);
    if (x->kind == V_ACT) GRAFT_FORWARD_IF_ERROR(graftOnnxImpAsShaped(im, x, "shape", &tmp, &x));
    int64_t at = 0;
    for (int k = 0; k < n; k++, at += sizes[k - 1]) {
        val *dst = out;
        if (k > 0) {
            if (!node->outputs[k][0]) continue;
            GRAFT_FORWARD_IF_ERROR(graftOnnxImpDefine(im, node->outputs[k], &dst));
        }
        im->outputs_defined = k + 1;
        if (x->kind == V_CONST) {
            GRAFT_FORWARD_IF_ERROR(graftOnnxImpFoldAxisRange(im, dst, &x->c, axis, at, sizes[k]));
            continue;
        }
        char suffix[32];
        snprintf(suffix, sizeof suffix, "out%d", k);
        GRAFT_FORWARD_IF_ERROR(emit_slice(im, x, axis, at, sizes[k], 1, k ? suffix : NULL, dst));
    }
    im->outputs_defined = n;
    return GRAFT_OK;
}

/* ---- the family --------------------------------------------------------------------- */

const graftOnnxOp graftOnnxOpsShape[] = {
    {"Cast", h_cast},
    {"Concat", h_concat},
    {"Dropout", h_identity},
    {"Flatten", h_flatten},
    {"Gather", h_gather},
    {"Identity", h_identity},
    {"Reshape", h_reshape},
    {"Shape", h_shape},
    {"Size", h_size},
    {"Slice", h_slice},
    {"Split", h_split},
    {"Squeeze", h_squeeze},
    {"Transpose", h_transpose},
    {"Unsqueeze", h_squeeze},
    {NULL, NULL},
};
