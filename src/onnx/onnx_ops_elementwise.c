/*
 * onnx_ops_elementwise.c - the ONNX importer's elementwise operators
 * (onnx_import.h): Add, Sub, Mul, Div and the other binary operators, the
 * unary ones (Relu, Sigmoid, Tanh, Neg, ...) and Sum. On constants they are
 * folded; two computed tensors are added or multiplied by an add or mul
 * layer; a computed tensor and a constant that broadcasts over it become a
 * scale_shift layer.
 */
#include "onnx_import.h"

#include <string.h>

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
            graftOnnxImpShapeText(c->ndim, c->dims, cs, sizeof cs);
            graftOnnxImpShapeText(x->ndim, x->dims, xs, sizeof xs);
            return graftOnnxImpFail(im, GRAFT_E_UNSUPPORTED,
                                    "the constant %s has more axes than the computed tensor %s", cs,
                                    xs);
        }
        for (int k = 0; k < c->ndim; k++) al[first + k] = c->dims[k];
        for (int d = 0; d < r; d++) {
            int bad = al[d] != 1 && (x->dims[d] == SYM_BATCH || al[d] != x->dims[d]);
            if (bad) {
                char cs[96], xs[96];
                graftOnnxImpShapeText(c->ndim, c->dims, cs, sizeof cs);
                graftOnnxImpShapeText(x->ndim, x->dims, xs, sizeof xs);
                return graftOnnxImpFail(
                    im, GRAFT_E_UNSUPPORTED,
                    "the constant %s does not broadcast over the computed tensor %s %s", cs, xs,
                    x->dims[d] == SYM_BATCH ? "(it varies along the batch axis)"
                                            : "without growing it");
            }
        }
        if (graftOnnxImpHasSym(c)) return graftOnnxImpSymFail(im);
    }
    int64_t cd[ONNX_MAX_RANK];
    int cn = graftOnnxImpSampleDims(im, r, al, cd);
    if (cn < 1)
        return graftOnnxImpFail(im, GRAFT_E_UNSUPPORTED,
                                "the computed tensor has no axis but the batch; graft layers "
                                "take (N, ...)");
    graft_layer *l = NULL, *added;
    int st = graft_layer_scale_shift(im->ctx, cn, cd, &l);
    GRAFT_FORWARD_IF_ERROR(graftOnnxImpAddLayer(im, st, l, NULL, 1, &x, dst, &added));
    graftParam *ps = graftLayerFindParam(added, "scale"), *pt = graftLayerFindParam(added, "shift");
    if (!ps || !pt) return graftOnnxImpFail(im, GRAFT_E_INTERNAL, "scale_shift parameters missing");
    size_t n = ps->value->numel;
    if (c && c->numel != n)
        return graftOnnxImpFail(im, GRAFT_E_INTERNAL, "scale_shift size mismatch");
    for (size_t k = 0; k < n; k++) {
        double v = c ? graftOnnxImpCget(c, k) : 0.0;
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

static int h_binary(imp *im, val *out)
{
    val *a, *b;
    GRAFT_FORWARD_IF_ERROR(graftOnnxImpReqInput(im, 0, &a));
    if (im->node->n_inputs == 1 && (graftOnnxImpOpIs(im, "Max") || graftOnnxImpOpIs(im, "Min"))) {
        if (a->kind == V_CONST) return graftOnnxImpFoldCopy(im, out, &a->c);
        graftOnnxImpAlias(out, a);
        return GRAFT_OK;
    }
    if (im->node->n_inputs != 2)
        return graftOnnxImpFail(im, GRAFT_E_UNSUPPORTED, "%d inputs", im->node->n_inputs);
    GRAFT_FORWARD_IF_ERROR(graftOnnxImpReqInput(im, 1, &b));
    if (a->kind == V_CONST && b->kind == V_CONST)
        return graftOnnxImpFoldBinary(im, out, &a->c, &b->c);
    int add = graftOnnxImpOpIs(im, "Add"), sub = graftOnnxImpOpIs(im, "Sub"),
        mul = graftOnnxImpOpIs(im, "Mul"), div = graftOnnxImpOpIs(im, "Div");
    if (!add && !sub && !mul && !div) return graftOnnxImpOnlyConstantsFail(im);
    if (a->kind == V_ACT && b->kind == V_ACT) {
        if (add || mul) {
            int same = a->ndim == b->ndim;
            for (int d = 0; same && d < a->ndim; d++) same = a->dims[d] == b->dims[d];
            if (add && !same) {
                char sa[96], sb[96];
                graftOnnxImpShapeText(a->ndim, a->dims, sa, sizeof sa);
                graftOnnxImpShapeText(b->ndim, b->dims, sb, sizeof sb);
                return graftOnnxImpFail(im, GRAFT_E_UNSUPPORTED,
                                        "it adds computed tensors of shapes %s and %s; graft's "
                                        "add layer needs one shape",
                                        sa, sb);
            }
            if (mul && a->ndim != b->ndim)
                return graftOnnxImpFail(im, GRAFT_E_UNSUPPORTED,
                                        "it multiplies computed tensors of ranks %d and %d; "
                                        "graft's mul layer needs one rank",
                                        a->ndim, b->ndim);
            val *ins[2] = {a, b};
            graft_layer *l = NULL;
            int st = add ? graft_layer_add(im->ctx, &l) : graft_layer_mul(im->ctx, &l);
            return graftOnnxImpAddLayer(im, st, l, NULL, 2, ins, out, NULL);
        }
        return graftOnnxImpFail(im, GRAFT_E_UNSUPPORTED,
                                "graft subtracts or divides only by a constant, and both inputs "
                                "are computed");
    }
    int64_t bc, axis = -1;
    GRAFT_FORWARD_IF_ERROR(graftOnnxImpAttrInt(im, "broadcast", 0, &bc));
    if (bc && graftOnnxImpAttr(im, "axis")) {
        GRAFT_FORWARD_IF_ERROR(graftOnnxImpAttrInt(im, "axis", 0, &axis));
        val *x = a->kind == V_ACT ? a : b;
        int ax = 0;
        GRAFT_FORWARD_IF_ERROR(graftOnnxImpNormAxis(im, axis, x->ndim, "axis", &ax));
        axis = ax;
    }
    if (a->kind == V_ACT) {
        int mode = add ? SS_ADD : sub ? SS_SUB : mul ? SS_MUL : SS_DIV;
        return emit_scale_shift(im, a, &b->c, mode, (int)axis, out);
    }
    if (div)
        return graftOnnxImpFail(im, GRAFT_E_UNSUPPORTED,
                                "graft divides only by a constant, and the divisor is computed");
    if (axis >= 0)
        return graftOnnxImpFail(im, GRAFT_E_UNSUPPORTED, "legacy broadcasting of the first input");
    int mode = add ? SS_ADD : sub ? SS_RSUB : SS_MUL;
    return emit_scale_shift(im, b, &a->c, mode, -1, out);
}

static int h_sum(imp *im, val *out)
{
    const char *names[GRAFT_LAYER_MAX_INPUTS];
    val *first = NULL;
    int n = im->node->n_inputs;
    if (n < 1 || n > GRAFT_LAYER_MAX_INPUTS)
        return graftOnnxImpFail(im, GRAFT_E_UNSUPPORTED, "%d inputs", n);
    for (int k = 0; k < n; k++) {
        val *v;
        GRAFT_FORWARD_IF_ERROR(graftOnnxImpReqInput(im, k, &v));
        if (v->kind != V_ACT)
            return graftOnnxImpFail(im, GRAFT_E_UNSUPPORTED,
                                    "it sums constants; graft sums computed tensors");
        if (!first) first = v;
        int same = v->ndim == first->ndim;
        for (int d = 0; same && d < v->ndim; d++) same = v->dims[d] == first->dims[d];
        if (!same) return graftOnnxImpFail(im, GRAFT_E_UNSUPPORTED, "inputs of different shapes");
        names[k] = v->layer;
    }
    if (n == 1) {
        graftOnnxImpAlias(out, first);
        return GRAFT_OK;
    }
    graft_layer *l = NULL;
    int st = graft_layer_add(im->ctx, &l);
    return graftOnnxImpAddLayerN(im, st, l, NULL, n, names, out, NULL);
}

static int h_unary(imp *im, val *out)
{
    val *x;
    GRAFT_FORWARD_IF_ERROR(graftOnnxImpReqInput(im, 0, &x));
    if (x->kind == V_CONST) return graftOnnxImpFoldUnary(im, out, &x->c);
    graft_layer *l = NULL;
    int st;
    if (graftOnnxImpOpIs(im, "Neg")) return emit_scale_shift(im, x, NULL, SS_NEG, -1, out);
    if (graftOnnxImpOpIs(im, "Relu")) st = graft_layer_relu(im->ctx, &l);
    else if (graftOnnxImpOpIs(im, "Sigmoid")) st = graft_layer_sigmoid(im->ctx, &l);
    else if (graftOnnxImpOpIs(im, "Tanh")) st = graft_layer_tanh(im->ctx, &l);
    else return graftOnnxImpOnlyConstantsFail(im);
    return graftOnnxImpAddLayer(im, st, l, NULL, 1, &x, out, NULL);
}

/* ---- the family --------------------------------------------------------------------- */

const graftOnnxOp graftOnnxOpsElementwise[] = {
    {"Abs", h_unary},
    {"Add", h_binary},
    {"Ceil", h_unary},
    {"Div", h_binary},
    {"Equal", h_binary},
    {"Exp", h_unary},
    {"Floor", h_unary},
    {"Greater", h_binary},
    {"Less", h_binary},
    {"Log", h_unary},
    {"Max", h_binary},
    {"Min", h_binary},
    {"Mul", h_binary},
    {"Neg", h_unary},
    {"Not", h_unary},
    {"Pow", h_binary},
    {"Reciprocal", h_unary},
    {"Relu", h_unary},
    {"Sigmoid", h_unary},
    {"Sqrt", h_unary},
    {"Sub", h_binary},
    {"Sum", h_sum},
    {"Tanh", h_unary},
    {NULL, NULL},
};
