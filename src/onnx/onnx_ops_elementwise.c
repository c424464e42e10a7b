/*
 * onnx_ops_elementwise.c - the ONNX importer's elementwise operators
 * (onnx_import.h): Add, Sub, Mul, Div and the other binary operators, the
 * unary ones (Relu, Sigmoid, Tanh, Neg, ...) and Sum. On constants they are
 * folded; two computed tensors are added or multiplied by an add or mul
 * layer; a computed tensor and a constant that broadcasts over it become a
 * scale_shift layer.
 *
 * Some chains of these operators are one activation written out, and are
 * imported as that one layer (the layer takes the name of the chain's last
 * node):
 *   Sigmoid(x), Mul with x                         silu
 *   x + 3, Clip 0..6, / 6 (or * 1/6)               hard_sigmoid (1/6, 1/2)
 *   the same, then Mul with x (or Mul with x
 *   before the / 6)                                hard_swish
 *   x / sqrt(2) (or * 1/sqrt(2)), Erf, + 1, Mul
 *   with x, * 0.5 (or the * 0.5 before the Mul)    gelu (erf)
 *   x * x, Mul with x, * 0.044715, + x,
 *   * sqrt(2 / pi), Tanh, + 1, Mul with x, * 0.5   gelu (tanh)
 * The chain is found from its first node, whose handler looks at the nodes
 * that read its output. It is folded only when every value inside it is
 * read by the next node of the chain alone (not by another node, not a
 * graph output), Mul and Add in either operand order, and every constant
 * is a single value within 8 float32 ulps of the one expected; the
 * constants may be initializers or Constant nodes anywhere in the file.
 * Otherwise the nodes are imported one by one, as before.
 */
#include "onnx_import.h"

#include <float.h>
#include <math.h>
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

/* ---- chains folded into one activation ------------------------------------------- */

/* 1: node n is op of the default domain. */
static int node_is(const onnxNode *n, const char *op)
{
    return strcmp(n->op_type, op) == 0 && (!n->domain[0] || strcmp(n->domain, "ai.onnx") == 0);
}

/* 1: v is want, to float32 precision (8 ulps; 0 must be 0). */
static int near(double v, double want)
{
    return fabs(v - want) <= 8.0 * FLT_EPSILON * fabs(want);
}

/* The value of the single-valued constant `name` of rank <= rank, into *v,
 * *known set to 1; *known 0 when it is not one. The constant is either
 * defined already or the output of a Constant node not yet imported (its
 * value is read here; the node is imported in its turn). */
static int peek_scalar(imp *im, const char *name, int rank, int *known, double *v)
{
    *known = 0;
    if (!name[0]) return GRAFT_OK;
    val *e = graftOnnxImpLookup(im, name, 0);
    if (!e) return GRAFT_OK;
    if (e->kind == V_CONST) {
        if (e->c.numel == 1 && e->c.ndim <= rank && !graftOnnxImpHasSym(&e->c)) {
            *v = graftOnnxImpCget(&e->c, 0);
            *known = 1;
        }
        return GRAFT_OK;
    }
    if (e->kind != V_NONE) return GRAFT_OK;
    const onnxGraph *g = im->g;
    for (int j = im->node_index + 1; j < g->n_nodes; j++) {
        const onnxNode *n = &g->nodes[j];
        if (n->n_outputs < 1 || strcmp(n->outputs[0], name) != 0) continue;
        if (!node_is(n, "Constant") || im->done[j]) return GRAFT_OK;
        for (int k = 0; k < n->n_attrs; k++) {
            const onnxAttr *a = &n->attrs[k];
            if (strcmp(a->name, "value_float") == 0 && a->type == ONNX_ATTR_FLOAT) {
                *v = a->f;
                *known = 1;
            } else if (strcmp(a->name, "value_int") == 0 && a->type == ONNX_ATTR_INT) {
                *v = (double)a->i;
                *known = 1;
            } else if (strcmp(a->name, "value") == 0 && a->type == ONNX_ATTR_TENSOR && a->t) {
                /* read in the Constant node's name, for messages */
                const onnxNode *self = im->node;
                int self_index = im->node_index;
                cval c;
                im->node = n;
                im->node_index = j;
                int st = graftOnnxImpCvalFromTensor(im, a->t, &c);
                im->node = self;
                im->node_index = self_index;
                GRAFT_FORWARD_IF_ERROR(st);
                if (c.numel == 1 && c.ndim <= rank) {
                    *v = graftOnnxImpCget(&c, 0);
                    *known = 1;
                }
            }
        }
        return GRAFT_OK;
    }
    return GRAFT_OK;
}

/* *ok: the constant `name` is a single value near want (see peek_scalar). */
static int const_near(imp *im, const char *name, int rank, double want, int *ok)
{
    int known;
    double v = 0;
    GRAFT_FORWARD_IF_ERROR(peek_scalar(im, name, rank, &known, &v));
    *ok = known && near(v, want);
    return GRAFT_OK;
}

/* The node that alone reads value `name` (one reader, and not a graph
 * output), when it is op (NULL: any op of the default domain) with one
 * output and not yet imported: its index, or -1. */
static int sole_reader(imp *im, const char *name, const char *op)
{
    const val *v = graftOnnxImpLookup(im, name, 0);
    if (!v) return -1;
    int j = graftOnnxImpSingleConsumer(v);
    if (j <= im->node_index || im->done[j]) return -1;
    const onnxNode *n = &im->g->nodes[j];
    if (op && !node_is(n, op)) return -1;
    if (n->domain[0] && strcmp(n->domain, "ai.onnx") != 0) return -1;
    if (n->n_outputs < 1 || !n->outputs[0][0]) return -1;
    for (int k = 1; k < n->n_outputs; k++)
        if (n->outputs[k][0]) return -1;
    return j;
}

/* The other input of a two-input node reading v, or NULL. */
static const char *other_input(const onnxNode *n, const char *v)
{
    if (n->n_inputs != 2) return NULL;
    if (strcmp(n->inputs[0], v) == 0) return n->inputs[1];
    if (strcmp(n->inputs[1], v) == 0) return n->inputs[0];
    return NULL;
}

/* *ok: node j is Mul(v, k) or Mul(k, v), or Div(v, 1 / k). */
static int is_scale(imp *im, int j, const char *v, int rank, double k, int *ok)
{
    const onnxNode *n = &im->g->nodes[j];
    const char *c = other_input(n, v);
    *ok = 0;
    if (!c || strcmp(c, v) == 0) return GRAFT_OK;
    if (node_is(n, "Mul")) return const_near(im, c, rank, k, ok);
    if (node_is(n, "Div") && strcmp(n->inputs[0], v) == 0)
        return const_near(im, c, rank, 1.0 / k, ok);
    return GRAFT_OK;
}

/* 1: node j is Mul(x, v) or Mul(v, x). */
static int is_times_x(const imp *im, int j, const char *v, const val *x)
{
    const onnxNode *n = &im->g->nodes[j];
    const char *o = node_is(n, "Mul") ? other_input(n, v) : NULL;
    return o && strcmp(o, v) != 0 && strcmp(o, x->name) == 0;
}

enum { FOLD_SILU, FOLD_HARD_SIGMOID, FOLD_HARD_SWISH, FOLD_GELU, FOLD_GELU_TANH };

/* Imports the chain that starts at the current node (output out, reading x)
 * and goes on through the nodes nodes[0..n-1] as one layer of kind `what`,
 * named after the last node and defining its output. */
static int emit_folded(imp *im, val *x, val *out, const int *nodes, int n, int what)
{
    static const char *const why[] = {
        "a value inside x * Sigmoid(x), folded into silu",
        "a value inside Clip(x + 3, 0, 6) / 6, folded into hard_sigmoid",
        "a value inside x * Clip(x + 3, 0, 6) / 6, folded into hard_swish",
        "a value inside x * (1 + Erf(x / sqrt(2))) / 2, folded into gelu",
        "a value inside x * (1 + Tanh(sqrt(2 / pi) * (x + 0.044715 x^3))) / 2, folded into gelu",
    };
    const onnxNode *self = im->node, *last = &im->g->nodes[nodes[n - 1]];
    int self_index = im->node_index;
    graft_layer *l = NULL;
    val *y;
    im->node = last;
    im->node_index = nodes[n - 1];
    int st = graftOnnxImpDefine(im, last->outputs[0], &y);
    if (st == GRAFT_OK) {
        switch (what) {
        case FOLD_SILU: st = graft_layer_silu(im->ctx, &l); break;
        case FOLD_HARD_SIGMOID:
            st = graft_layer_hard_sigmoid(im->ctx, 1.0f / 6.0f, 0.5f, &l);
            break;
        case FOLD_HARD_SWISH: st = graft_layer_hard_swish(im->ctx, &l); break;
        case FOLD_GELU: st = graft_layer_gelu(im->ctx, GRAFT_GELU_ERF, &l); break;
        default: st = graft_layer_gelu(im->ctx, GRAFT_GELU_TANH, &l); break;
        }
        st = graftOnnxImpAddLayer(im, st, l, NULL, 1, &x, y, NULL);
    }
    im->node = self;
    im->node_index = self_index;
    GRAFT_FORWARD_IF_ERROR(st);
    for (int k = 0; k < n; k++) im->done[nodes[k]] = 1;
    out->kind = V_DEAD;
    out->why = why[what];
    return GRAFT_OK;
}

/* Sigmoid(x) -> out: x * out is silu. *folded: the chain was imported. */
static int fold_silu(imp *im, val *x, val *out, int *folded)
{
    int j = sole_reader(im, out->name, "Mul");
    *folded = j >= 0 && is_times_x(im, j, out->name, x);
    return *folded ? emit_folded(im, x, out, &j, 1, FOLD_SILU) : GRAFT_OK;
}

/* x + 3 -> out, then Clip(out, 0, 6) and the rest of hard_sigmoid or
 * hard_swish. */
static int fold_hard(imp *im, val *x, val *out, int *folded)
{
    int r = x->ndim, ok = 0, nodes[3];
    *folded = 0;
    int clip = sole_reader(im, out->name, "Clip");
    if (clip < 0) return GRAFT_OK;
    const onnxNode *cn = &im->g->nodes[clip];
    if (cn->n_inputs < 1 || strcmp(cn->inputs[0], out->name) != 0) return GRAFT_OK;
    if (cn->n_inputs > 1) { /* opset 11 on: min and max are inputs */
        if (cn->n_inputs != 3) return GRAFT_OK;
        GRAFT_FORWARD_IF_ERROR(const_near(im, cn->inputs[1], r, 0.0, &ok));
        if (!ok) return GRAFT_OK;
        GRAFT_FORWARD_IF_ERROR(const_near(im, cn->inputs[2], r, 6.0, &ok));
    } else { /* attributes before */
        int lo = 0, hi = 0;
        for (int k = 0; k < cn->n_attrs; k++) {
            const onnxAttr *a = &cn->attrs[k];
            if (a->type != ONNX_ATTR_FLOAT) continue;
            if (strcmp(a->name, "min") == 0) lo = a->f == 0.0f;
            if (strcmp(a->name, "max") == 0) hi = near(a->f, 6.0);
        }
        ok = lo && hi;
    }
    if (!ok) return GRAFT_OK;
    const char *c = cn->outputs[0];
    int j = sole_reader(im, c, NULL);
    if (j < 0) return GRAFT_OK;
    const char *jv = im->g->nodes[j].outputs[0];
    nodes[0] = clip;
    nodes[1] = j;
    GRAFT_FORWARD_IF_ERROR(is_scale(im, j, c, r, 1.0 / 6.0, &ok));
    if (ok) { /* Clip / 6: hard_sigmoid, and times x hard_swish */
        int m = sole_reader(im, jv, "Mul");
        *folded = 1;
        if (m >= 0 && is_times_x(im, m, jv, x)) {
            nodes[2] = m;
            return emit_folded(im, x, out, nodes, 3, FOLD_HARD_SWISH);
        }
        return emit_folded(im, x, out, nodes, 2, FOLD_HARD_SIGMOID);
    }
    if (!is_times_x(im, j, c, x)) return GRAFT_OK;
    int s = sole_reader(im, jv, NULL);
    if (s < 0) return GRAFT_OK;
    GRAFT_FORWARD_IF_ERROR(is_scale(im, s, jv, r, 1.0 / 6.0, &ok));
    if (!ok) return GRAFT_OK;
    nodes[2] = s;
    *folded = 1;
    return emit_folded(im, x, out, nodes, 3, FOLD_HARD_SWISH);
}

/* *ok: the value pv (1 + erf(...) or 1 + tanh(...)) is multiplied by x and
 * by 0.5, in either order, by the nodes put in nodes[0], nodes[1]. */
static int gelu_tail(imp *im, const val *x, const char *pv, int *nodes, int *ok)
{
    int r = x->ndim;
    *ok = 0;
    int a = sole_reader(im, pv, NULL);
    if (a < 0) return GRAFT_OK;
    const char *av = im->g->nodes[a].outputs[0];
    int b = sole_reader(im, av, NULL);
    if (b < 0) return GRAFT_OK;
    if (is_times_x(im, a, pv, x)) {
        GRAFT_FORWARD_IF_ERROR(is_scale(im, b, av, r, 0.5, ok));
    } else {
        GRAFT_FORWARD_IF_ERROR(is_scale(im, a, pv, r, 0.5, ok));
        *ok = *ok && is_times_x(im, b, av, x);
    }
    nodes[0] = a;
    nodes[1] = b;
    return GRAFT_OK;
}

/* x / sqrt(2) -> out, then Erf, + 1, times x and times 0.5 (in either
 * order): gelu. */
static int fold_gelu(imp *im, val *x, val *out, int *folded)
{
    int r = x->ndim, ok = 0, nodes[4];
    *folded = 0;
    int e = sole_reader(im, out->name, "Erf");
    if (e < 0 || im->g->nodes[e].n_inputs != 1) return GRAFT_OK;
    const char *ev = im->g->nodes[e].outputs[0];
    int p = sole_reader(im, ev, "Add");
    const char *one = p >= 0 ? other_input(&im->g->nodes[p], ev) : NULL;
    if (!one) return GRAFT_OK;
    GRAFT_FORWARD_IF_ERROR(const_near(im, one, r, 1.0, &ok));
    if (!ok) return GRAFT_OK;
    nodes[0] = e;
    nodes[1] = p;
    GRAFT_FORWARD_IF_ERROR(gelu_tail(im, x, im->g->nodes[p].outputs[0], nodes + 2, &ok));
    if (!ok) return GRAFT_OK;
    *folded = 1;
    return emit_folded(im, x, out, nodes, 4, FOLD_GELU);
}

/* x * x -> out, then times x, * 0.044715, + x, * sqrt(2 / pi), Tanh, + 1,
 * times x and * 0.5 (in either order): gelu's tanh form, as PyTorch writes
 * it. */
static int fold_gelu_tanh(imp *im, val *x, val *out, int *folded)
{
    int r = x->ndim, ok = 0, nodes[8];
    *folded = 0;
    const char *v = out->name;
    /* x^3, then 0.044715 x^3 */
    if ((nodes[0] = sole_reader(im, v, "Mul")) < 0 || !is_times_x(im, nodes[0], v, x))
        return GRAFT_OK;
    v = im->g->nodes[nodes[0]].outputs[0];
    if ((nodes[1] = sole_reader(im, v, NULL)) < 0) return GRAFT_OK;
    GRAFT_FORWARD_IF_ERROR(is_scale(im, nodes[1], v, r, 0.044715, &ok));
    if (!ok) return GRAFT_OK;
    /* x + that, times sqrt(2 / pi) */
    v = im->g->nodes[nodes[1]].outputs[0];
    if ((nodes[2] = sole_reader(im, v, "Add")) < 0) return GRAFT_OK;
    const char *o = other_input(&im->g->nodes[nodes[2]], v);
    if (!o || strcmp(o, x->name) != 0) return GRAFT_OK;
    v = im->g->nodes[nodes[2]].outputs[0];
    if ((nodes[3] = sole_reader(im, v, NULL)) < 0) return GRAFT_OK;
    GRAFT_FORWARD_IF_ERROR(is_scale(im, nodes[3], v, r, 0.79788456080286535588, &ok));
    if (!ok) return GRAFT_OK;
    /* Tanh, + 1 */
    v = im->g->nodes[nodes[3]].outputs[0];
    if ((nodes[4] = sole_reader(im, v, "Tanh")) < 0) return GRAFT_OK;
    v = im->g->nodes[nodes[4]].outputs[0];
    if ((nodes[5] = sole_reader(im, v, "Add")) < 0) return GRAFT_OK;
    const char *one = other_input(&im->g->nodes[nodes[5]], v);
    if (!one) return GRAFT_OK;
    GRAFT_FORWARD_IF_ERROR(const_near(im, one, r, 1.0, &ok));
    if (!ok) return GRAFT_OK;
    GRAFT_FORWARD_IF_ERROR(gelu_tail(im, x, im->g->nodes[nodes[5]].outputs[0], nodes + 6, &ok));
    if (!ok) return GRAFT_OK;
    *folded = 1;
    return emit_folded(im, x, out, nodes, 8, FOLD_GELU_TANH);
}

/* The chains that start with a binary node of x and the constant c (the
 * node's output out). */
static int fold_from_binary(imp *im, val *x, const cval *c, val *out, int *folded)
{
    *folded = 0;
    if (c->numel != 1 || c->ndim > x->ndim || graftOnnxImpHasSym(c)) return GRAFT_OK;
    double v = graftOnnxImpCget(c, 0);
    const onnxNode *n = im->node;
    if (graftOnnxImpOpIs(im, "Add") && near(v, 3.0)) return fold_hard(im, x, out, folded);
    if ((graftOnnxImpOpIs(im, "Div") && strcmp(n->inputs[0], x->name) == 0 &&
         near(v, 1.41421356237309504880)) ||
        (graftOnnxImpOpIs(im, "Mul") && near(v, 0.70710678118654752440)))
        return fold_gelu(im, x, out, folded);
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
            if (mul && a == b) { /* x * x: maybe the start of gelu's tanh form */
                int folded;
                GRAFT_FORWARD_IF_ERROR(fold_gelu_tanh(im, a, out, &folded));
                if (folded) return GRAFT_OK;
            }
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
    if (axis < 0) {
        int folded;
        val *x = a->kind == V_ACT ? a : b;
        GRAFT_FORWARD_IF_ERROR(fold_from_binary(im, x, a->kind == V_ACT ? &b->c : &a->c, out,
                                                &folded));
        if (folded) return GRAFT_OK;
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
    if (graftOnnxImpOpIs(im, "Sigmoid")) {
        int folded;
        GRAFT_FORWARD_IF_ERROR(fold_silu(im, x, out, &folded));
        if (folded) return GRAFT_OK;
    }
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
