/*
 * onnx_ops_nn.c - the ONNX importer's network operators (onnx_import.h):
 * the activations with attributes or constants (LeakyRelu, PRelu,
 * HardSwish, HardSigmoid, Clip; Relu, Sigmoid and Tanh are unary operators,
 * in onnx_ops_elementwise.c), Softmax, Conv, the pooling operators,
 * ConvTranspose, ReduceMean, LayerNormalization, BatchNormalization, Gemm,
 * MatMul, Pad and Resize. Each becomes a graft layer (with reshapes around it
 * for the 1-D forms), and Conv, ConvTranspose, LayerNormalization,
 * BatchNormalization, Gemm and MatMul by a constant copy the file's weights
 * into its parameters; some fuse with the nodes that read them (HardSigmoid
 * with Mul, MatMul with Add, Pad with Conv, ReduceMean with the rest of a
 * layer normalisation).
 */
#include "onnx_import.h"

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

/* ---- activations -------------------------------------------------------------------- */

static int h_leaky_relu(imp *im, val *out)
{
    val *x;
    float alpha;
    GRAFT_FORWARD_IF_ERROR(graftOnnxImpActInput(im, 0, &x));
    GRAFT_FORWARD_IF_ERROR(graftOnnxImpAttrFloat(im, "alpha", 0.01f, &alpha));
    graft_layer *l = NULL;
    int st = graft_layer_leaky_relu(im->ctx, alpha, &l);
    return graftOnnxImpAddLayer(im, st, l, NULL, 1, &x, out, NULL);
}

/* PRelu with one slope for every element is a leaky ReLU. */
static int h_prelu(imp *im, val *out)
{
    val *x;
    cval *slope;
    GRAFT_FORWARD_IF_ERROR(graftOnnxImpActInput(im, 0, &x));
    GRAFT_FORWARD_IF_ERROR(graftOnnxImpConstInput(im, 1, "slope", 1, &slope));
    if (slope->numel != 1)
        return graftOnnxImpFail(im, GRAFT_E_UNSUPPORTED,
                                "a slope of %zu values; graft maps only a single slope (to "
                                "leaky_relu)",
                                slope->numel);
    graft_layer *l = NULL;
    int st = graft_layer_leaky_relu(im->ctx, (float)graftOnnxImpCget(slope, 0), &l);
    return graftOnnxImpAddLayer(im, st, l, NULL, 1, &x, out, NULL);
}

static int h_hard_swish(imp *im, val *out)
{
    val *x;
    GRAFT_FORWARD_IF_ERROR(graftOnnxImpActInput(im, 0, &x));
    graft_layer *l = NULL;
    int st = graft_layer_hard_swish(im->ctx, &l);
    return graftOnnxImpAddLayer(im, st, l, NULL, 1, &x, out, NULL);
}

/* HardSigmoid; when its only reader is Mul(x, HardSigmoid(x)) with PyTorch's
 * constants, the pair becomes one hard_swish layer named after the Mul. */
static int h_hard_sigmoid(imp *im, val *out)
{
    val *x;
    float alpha, beta;
    GRAFT_FORWARD_IF_ERROR(graftOnnxImpActInput(im, 0, &x));
    GRAFT_FORWARD_IF_ERROR(graftOnnxImpAttrFloat(im, "alpha", 0.2f, &alpha));
    GRAFT_FORWARD_IF_ERROR(graftOnnxImpAttrFloat(im, "beta", 0.5f, &beta));
    int j = graftOnnxImpSingleConsumer(out);
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
            int st = graftOnnxImpDefine(im, mul->outputs[0], &y);
            if (st == GRAFT_OK) {
                graft_layer *l = NULL;
                st = graft_layer_hard_swish(im->ctx, &l);
                st = graftOnnxImpAddLayer(im, st, l, NULL, 1, &x, y, NULL);
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
    return graftOnnxImpAddLayer(im, st, l, NULL, 1, &x, out, NULL);
}

static int h_clip(imp *im, val *out)
{
    val *x;
    float lo = -FLT_MAX, hi = FLT_MAX;
    GRAFT_FORWARD_IF_ERROR(graftOnnxImpReqInput(im, 0, &x));
    if (im->node->n_inputs > 1) {
        cval *cmin, *cmax;
        GRAFT_FORWARD_IF_ERROR(graftOnnxImpConstInput(im, 1, "min", 0, &cmin));
        GRAFT_FORWARD_IF_ERROR(graftOnnxImpConstInput(im, 2, "max", 0, &cmax));
        if ((cmin && cmin->numel != 1) || (cmax && cmax->numel != 1))
            return graftOnnxImpFail(im, GRAFT_E_FORMAT, "min and max must be scalars");
        if (cmin) lo = (float)graftOnnxImpCget(cmin, 0);
        if (cmax) hi = (float)graftOnnxImpCget(cmax, 0);
    } else {
        GRAFT_FORWARD_IF_ERROR(graftOnnxImpAttrFloat(im, "min", -FLT_MAX, &lo));
        GRAFT_FORWARD_IF_ERROR(graftOnnxImpAttrFloat(im, "max", FLT_MAX, &hi));
    }
    if (isnan(lo) || isnan(hi)) return graftOnnxImpFail(im, GRAFT_E_UNSUPPORTED, "a NaN bound");
    if (lo < -FLT_MAX) lo = -FLT_MAX;
    if (hi > FLT_MAX) hi = FLT_MAX;
    if (x->kind == V_CONST) {
        cval *c = &out->c;
        if (graftOnnxImpHasSym(&x->c)) return graftOnnxImpSymFail(im);
        GRAFT_FORWARD_IF_ERROR(graftOnnxImpCvalAlloc(im, c, 0, ONNX_FLOAT, x->c.ndim, x->c.dims));
        for (size_t k = 0; k < c->numel; k++) {
            double v = graftOnnxImpCget(&x->c, k);
            c->f[k] = (float)(v < lo ? lo : v > hi ? hi : v);
        }
        out->kind = V_CONST;
        return GRAFT_OK;
    }
    if (lo > hi)
        return graftOnnxImpFail(im, GRAFT_E_UNSUPPORTED, "min %g is above max %g", (double)lo,
                                (double)hi);
    graft_layer *l = NULL;
    int st = lo == 0.0f && hi == FLT_MAX ? graft_layer_relu(im->ctx, &l)
                                         : graft_layer_clip(im->ctx, lo, hi, &l);
    return graftOnnxImpAddLayer(im, st, l, NULL, 1, &x, out, NULL);
}

/* 1: value v reaches the graph output through Identity nodes only. */
static int is_final(imp *im, const val *v)
{
    for (int hops = 0; hops < im->g->n_nodes + 1; hops++) {
        if (v->is_output) return v->consumers == 1;
        int j = graftOnnxImpSingleConsumer(v);
        if (j < 0) return 0;
        const onnxNode *n = &im->g->nodes[j];
        if (strcmp(n->op_type, "Identity") != 0 || n->n_outputs < 1) return 0;
        v = graftOnnxImpLookup(im, n->outputs[0], 0);
        if (!v) return 0;
    }
    return 0;
}

static int h_softmax(imp *im, val *out)
{
    val *x;
    int64_t axis_attr;
    int axis = 0, legacy = im->opset < 13;
    GRAFT_FORWARD_IF_ERROR(graftOnnxImpActInput(im, 0, &x));
    GRAFT_FORWARD_IF_ERROR(graftOnnxImpAttrInt(im, "axis", legacy ? 1 : -1, &axis_attr));
    GRAFT_FORWARD_IF_ERROR(graftOnnxImpNormAxis(im, axis_attr, x->ndim, "axis", &axis));
    if (!im->keep_softmax && is_final(im, out)) {
        graftOnnxImpAlias(out, x);
        return GRAFT_OK;
    }
    int ga = graftOnnxImpGraftAxis(im, axis), grank = x->ndim + (im->batched ? 0 : 1);
    if (ga < 1)
        return graftOnnxImpFail(im, GRAFT_E_UNSUPPORTED,
                                "softmax over the batch axis; graft's softmax runs within each "
                                "sample");
    /* Before opset 13 the softmax runs over every axis from axis on: one
     * axis when it is the last. */
    if (!legacy || ga == grank - 1) {
        graft_layer *l = NULL;
        int st = ga == 1 ? graft_layer_softmax(im->ctx, &l)
                         : graft_layer_softmax_axis(im->ctx, ga, &l);
        return graftOnnxImpAddLayer(im, st, l, NULL, 1, &x, out, NULL);
    }
    if (ga != 1)
        return graftOnnxImpFail(im, GRAFT_E_UNSUPPORTED,
                                "a softmax before opset 13 over axes %d to %d together; graft "
                                "flattens them only from the axis after the batch",
                                axis, x->ndim - 1);
    /* Before opset 13 the softmax runs over every axis from axis on:
     * flatten, softmax, reshape back. */
    val flat, soft;
    memset(&flat, 0, sizeof flat);
    memset(&soft, 0, sizeof soft);
    graft_layer *l = NULL;
    int st = graft_layer_flatten(im->ctx, &l);
    GRAFT_FORWARD_IF_ERROR(graftOnnxImpAddLayer(im, st, l, "flatten", 1, &x, &flat, NULL));
    val *pf = &flat;
    st = graft_layer_softmax(im->ctx, &l);
    GRAFT_FORWARD_IF_ERROR(graftOnnxImpAddLayer(im, st, l, NULL, 1, &pf, &soft, NULL));
    return graftOnnxImpEmitReshape(im, &soft, x->ndim, x->dims, "reshape", out);
}

/* ---- layers with weights and windows ------------------------------------------------ */

/* Input 0 as an activation of a batched graph, for operators that only work
 * on (N, C, ...) tensors. */
static int batched_input(imp *im, val **x)
{
    GRAFT_FORWARD_IF_ERROR(graftOnnxImpReqInput(im, 0, x));
    if ((*x)->kind == V_CONST)
        return graftOnnxImpFail(im, GRAFT_E_UNSUPPORTED, "graft does not evaluate %s on constants",
                                im->node->op_type);
    if (!im->batched)
        return graftOnnxImpFail(im, GRAFT_E_UNSUPPORTED,
                                "%s needs the batch axis (N, C, ...), and the import has "
                                "batch_axis 0",
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
        return graftOnnxImpFail(im, v < lo ? GRAFT_E_FORMAT : GRAFT_E_UNSUPPORTED, "%s is %lld",
                                what, (long long)v);
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
    GRAFT_FORWARD_IF_ERROR(graftOnnxImpAttrInts(im, "strides", &strides, &ns));
    GRAFT_FORWARD_IF_ERROR(graftOnnxImpAttrInts(im, "dilations", &dil, &nd));
    GRAFT_FORWARD_IF_ERROR(graftOnnxImpAttrInts(im, "pads", &pads, &np));
    GRAFT_FORWARD_IF_ERROR(
        graftOnnxImpAttrString(im, "auto_pad", "NOTSET", autopad, sizeof autopad));
    if ((ns >= 0 && ns != n) || (nd >= 0 && nd != n) || (np >= 0 && np != 2 * n))
        return graftOnnxImpFail(im, GRAFT_E_FORMAT,
                                "strides, dilations or pads do not have one entry per "
                                "spatial axis");
    for (int a = 0; a < 2; a++) {
        w->k[a] = w->s[a] = w->d[a] = 1;
        w->pb[a] = w->pe[a] = 0;
    }
    int notset = !strcmp(autopad, "NOTSET"), valid = !strcmp(autopad, "VALID"),
        upper = !strcmp(autopad, "SAME_UPPER"), lower = !strcmp(autopad, "SAME_LOWER");
    if (!notset && !valid && !upper && !lower)
        return graftOnnxImpFail(im, GRAFT_E_FORMAT, "auto_pad is \"%s\"", autopad);
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
    GRAFT_FORWARD_IF_ERROR(graftOnnxImpEmitReshape(im, x, 4, dims, "to2d", tmp));
    *xin = tmp;
    return GRAFT_OK;
}

/* y (N, C, 1, L') back to (N, C, L') in out, for 1-D operators. */
static int from_2d(imp *im, int spatial, val *y, val *out)
{
    if (spatial == 2) return GRAFT_OK;
    int64_t dims[3] = {y->dims[0], y->dims[1], y->dims[3]};
    return graftOnnxImpEmitReshape(im, y, 3, dims, "to1d", out);
}

/* Appends the (transposed) convolution l (st is its constructor's status)
 * reading xin, the 2-D form of the node's input, copies the weight w and
 * the bias b (NULL: none) into it, and makes out its output, back in the
 * node's `spatial` dimensions. */
static int add_weighted_2d(imp *im, int st, graft_layer *l, val *xin, const cval *w,
                           const cval *b, int spatial, val *out)
{
    val y;
    graft_layer *added;
    memset(&y, 0, sizeof y);
    GRAFT_FORWARD_IF_ERROR(
        graftOnnxImpAddLayer(im, st, l, NULL, 1, &xin, spatial == 2 ? out : &y, &added));
    GRAFT_FORWARD_IF_ERROR(graftOnnxImpSetParam(im, added, "weight", w->f, w->numel));
    if (b) GRAFT_FORWARD_IF_ERROR(graftOnnxImpSetParam(im, added, "bias", b->f, b->numel));
    return from_2d(im, spatial, &y, out);
}

static int spatial_rank(imp *im, const val *x)
{
    if (x->ndim != 3 && x->ndim != 4)
        return graftOnnxImpFail(im, GRAFT_E_UNSUPPORTED,
                                "a %d-D input; graft computes 1-D (N, C, L) and 2-D (N, C, H, W) "
                                "windows",
                                x->ndim);
    return x->ndim - 2;
}

static int h_conv(imp *im, val *out)
{
    val *x, tmp, *xin;
    cval *w, *b;
    window win;
    GRAFT_FORWARD_IF_ERROR(batched_input(im, &x));
    GRAFT_FORWARD_IF_ERROR(graftOnnxImpConstInput(im, 1, "weight", 1, &w));
    GRAFT_FORWARD_IF_ERROR(graftOnnxImpConstInput(im, 2, "bias", 0, &b));
    int n = spatial_rank(im, x);
    if (n < 0) return n;
    int64_t group, c = x->dims[1];
    GRAFT_FORWARD_IF_ERROR(graftOnnxImpAttrInt(im, "group", 1, &group));
    if (w->is_int || w->ndim != x->ndim || group < 1 || w->dims[1] * group != c ||
        w->dims[0] % group != 0)
        return graftOnnxImpFail(im, GRAFT_E_FORMAT,
                                "the weight's shape does not fit %lld input channels in %lld "
                                "groups",
                                (long long)c, (long long)group);
    if (b && (b->numel != (size_t)w->dims[0] || b->is_int))
        return graftOnnxImpFail(im, GRAFT_E_FORMAT, "the bias has %zu values for %lld outputs",
                                b->numel, (long long)w->dims[0]);
    const int64_t *ks;
    int nk;
    GRAFT_FORWARD_IF_ERROR(graftOnnxImpAttrInts(im, "kernel_shape", &ks, &nk));
    for (int i = 0; nk >= 0 && i < n; i++)
        if (nk != n || ks[i] != w->dims[2 + i])
            return graftOnnxImpFail(im, GRAFT_E_FORMAT, "kernel_shape disagrees with the weight");
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
    graft_layer *l = NULL;
    int st = graft_layer_conv2d(im->ctx, &spec, &l);
    return add_weighted_2d(im, st, l, xin, w, b, n, out);
}

static int h_pool(imp *im, val *out)
{
    val *x, tmp, y, *xin;
    window win;
    int is_max = graftOnnxImpOpIs(im, "MaxPool");
    GRAFT_FORWARD_IF_ERROR(batched_input(im, &x));
    int n = spatial_rank(im, x);
    if (n < 0) return n;
    const int64_t *ks;
    int nk;
    int64_t ceil_mode, cip;
    GRAFT_FORWARD_IF_ERROR(graftOnnxImpAttrInts(im, "kernel_shape", &ks, &nk));
    if (nk != n)
        return graftOnnxImpFail(im, GRAFT_E_FORMAT, "kernel_shape has %d entries for %d axes", nk,
                                n);
    GRAFT_FORWARD_IF_ERROR(read_window(im, x, n, ks, &win));
    GRAFT_FORWARD_IF_ERROR(graftOnnxImpAttrInt(im, "ceil_mode", 0, &ceil_mode));
    GRAFT_FORWARD_IF_ERROR(graftOnnxImpAttrInt(im, "count_include_pad", 0, &cip));
    if (win.d[0] != 1 || win.d[1] != 1)
        return graftOnnxImpFail(im, GRAFT_E_UNSUPPORTED, "dilated pooling windows");
    for (int a = 0; a < 2; a++)
        if (win.pb[a] >= win.k[a] || win.pe[a] >= win.k[a])
            return graftOnnxImpFail(im, GRAFT_E_UNSUPPORTED,
                                    "a pad of %d for a window of %d; graft pads pooling windows "
                                    "by less than their size",
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
    GRAFT_FORWARD_IF_ERROR(graftOnnxImpAddLayer(im, st, l, NULL, 1, &xin, n == 2 ? out : &y, NULL));
    return from_2d(im, n, &y, out);
}

static int h_global_pool(imp *im, val *out)
{
    val *x;
    GRAFT_FORWARD_IF_ERROR(batched_input(im, &x));
    if (x->ndim != 4)
        return graftOnnxImpFail(im, GRAFT_E_UNSUPPORTED, "a %d-D input; graft pools (N, C, H, W)",
                                x->ndim);
    graft_layer *l = NULL;
    int st;
    if (graftOnnxImpOpIs(im, "GlobalAveragePool")) {
        st = graft_layer_global_avg_pool(im->ctx, &l);
    } else {
        graft_pool2d_spec spec = GRAFT_POOL2D_SPEC_INIT;
        GRAFT_FORWARD_IF_ERROR(small_int(im, x->dims[2], 1, "the height", &spec.kernel_h));
        GRAFT_FORWARD_IF_ERROR(small_int(im, x->dims[3], 1, "the width", &spec.kernel_w));
        st = graft_layer_max_pool2d(im->ctx, &spec, &l);
    }
    return graftOnnxImpAddLayer(im, st, l, NULL, 1, &x, out, NULL);
}

/* ---- layer normalisation -------------------------------------------------------------- */

/* A layer_norm over the last `axes` axes of x into dst, with weight and
 * bias from w and b (n values each, NULL: affine off or zero bias). */
static int emit_layer_norm(imp *im, val *x, int axes, float eps, const float *w, const float *b,
                           size_t n, val *dst)
{
    graft_layer *l = NULL, *added;
    int st = graft_layer_layer_norm(im->ctx, axes, eps, w != NULL, &l);
    GRAFT_FORWARD_IF_ERROR(graftOnnxImpAddLayer(im, st, l, NULL, 1, &x, dst, &added));
    if (!w) return GRAFT_OK;
    GRAFT_FORWARD_IF_ERROR(graftOnnxImpSetParam(im, added, "weight", w, n));
    if (b) return graftOnnxImpSetParam(im, added, "bias", b, n);
    return GRAFT_OK;
}

/* 1 when the constant c (float) has the normalised shape of x's last
 * `axes` axes, leading 1s allowed: it multiplies or adds elementwise. */
static int fits_group(const val *x, int axes, const cval *c)
{
    if (c->is_int || c->ndim > x->ndim) return 0;
    size_t n = 1;
    for (int k = 0; k < axes; k++) n *= (size_t)x->dims[x->ndim - 1 - k];
    if (c->numel != n) return 0;
    for (int k = 0; k < c->ndim; k++) {
        int64_t want = k < axes ? x->dims[x->ndim - 1 - k] : 1;
        if (c->dims[c->ndim - 1 - k] != want) return 0;
    }
    return 1;
}

/* LayerNormalization (opset 17): X, Scale, optional B; axis (default -1)
 * and every axis after it normalised. */
static int h_layer_norm(imp *im, val *out)
{
    val *x;
    cval *scale, *bias;
    int64_t axis_attr;
    float eps;
    int axis = 0;
    GRAFT_FORWARD_IF_ERROR(graftOnnxImpActInput(im, 0, &x));
    GRAFT_FORWARD_IF_ERROR(graftOnnxImpConstInput(im, 1, "Scale", 1, &scale));
    GRAFT_FORWARD_IF_ERROR(graftOnnxImpConstInput(im, 2, "B", 0, &bias));
    GRAFT_FORWARD_IF_ERROR(graftOnnxImpAttrInt(im, "axis", -1, &axis_attr));
    GRAFT_FORWARD_IF_ERROR(graftOnnxImpAttrFloat(im, "epsilon", 1e-5f, &eps));
    GRAFT_FORWARD_IF_ERROR(graftOnnxImpNormAxis(im, axis_attr, x->ndim, "axis", &axis));
    if (graftOnnxImpGraftAxis(im, axis) < 1)
        return graftOnnxImpFail(im, GRAFT_E_UNSUPPORTED,
                                "it normalises over the batch axis; graft normalises each sample "
                                "on its own");
    int axes = x->ndim - axis;
    if (!fits_group(x, axes, scale) || (bias && !fits_group(x, axes, bias)))
        return graftOnnxImpFail(im, GRAFT_E_UNSUPPORTED,
                                "Scale or B does not have the normalised shape (the last %d "
                                "axes); graft's layer_norm has one weight per normalised element",
                                axes);
    if (!(eps > 0.0f))
        return graftOnnxImpFail(im, GRAFT_E_UNSUPPORTED, "epsilon %g; graft needs > 0",
                                (double)eps);
    return emit_layer_norm(im, x, axes, eps, scale->f, bias ? bias->f : NULL, scale->numel, out);
}

/* The index of the node whose first output is name, or -1. */
static int producer(const imp *im, const char *name)
{
    for (int i = 0; i < im->g->n_nodes; i++) {
        const onnxNode *n = &im->g->nodes[i];
        if (n->n_outputs >= 1 && !strcmp(n->outputs[0], name)) return i;
    }
    return -1;
}

/* The constant called name: a constant already in the value table, or the
 * value of a Constant node still ahead in the walk. NULL otherwise. */
static const cval *ahead_const(imp *im, const char *name)
{
    const val *v = graftOnnxImpLookup(im, name, 0);
    if (v && v->kind == V_CONST) return &v->c;
    if (v && v->kind != V_NONE) return NULL;
    int i = producer(im, name);
    if (i < 0) return NULL;
    const onnxNode *n = &im->g->nodes[i];
    if (strcmp(n->op_type, "Constant") != 0 || n->domain[0]) return NULL;
    const onnxAttr *a = graftOnnxNodeAttr(n, "value");
    cval *c = graftOnnxImpAlloc(im, sizeof *c);
    if (!c) return NULL;
    if (a && a->t) return graftOnnxImpCvalFromTensor(im, a->t, c) == GRAFT_OK ? c : NULL;
    a = graftOnnxNodeAttr(n, "value_float");
    if (!a) return NULL;
    if (graftOnnxImpCvalAlloc(im, c, 0, ONNX_FLOAT, 0, NULL) != GRAFT_OK) return NULL;
    c->f[0] = a->f;
    return c;
}

/* The scalar constant called name, into *v; 0 when it is not one. */
static int ahead_scalar(imp *im, const char *name, double *v)
{
    const cval *c = ahead_const(im, name);
    if (!c || c->numel != 1 || graftOnnxImpHasSym(c)) return 0;
    *v = graftOnnxImpCget(c, 0);
    return 1;
}

/* The single node reading value name as the only consumer, if it is of type
 * op with two inputs and an output; -1 otherwise. */
static int next_node(imp *im, const char *name, const char *op)
{
    const val *v = graftOnnxImpLookup(im, name, 0);
    int j = v ? graftOnnxImpSingleConsumer(v) : -1;
    if (j < 0) {
        /* a value not defined yet: count its readers in the graph */
        int count = 0;
        for (int i = 0; i < im->g->n_nodes; i++)
            for (int k = 0; k < im->g->nodes[i].n_inputs; k++)
                if (!strcmp(im->g->nodes[i].inputs[k], name)) {
                    count++;
                    j = i;
                }
        for (int k = 0; k < im->g->n_outputs; k++)
            if (!strcmp(im->g->outputs[k].name, name)) count = 0;
        if (count != 1) return -1;
    }
    const onnxNode *n = &im->g->nodes[j];
    if (strcmp(n->op_type, op) != 0 || n->domain[0] || n->n_outputs < 1 || !n->outputs[0][0] ||
        im->done[j])
        return -1;
    return j;
}

/* The other input of binary node j besides name (which it must read once). */
static const char *other_input(const onnxNode *n, const char *name)
{
    if (n->n_inputs != 2) return NULL;
    int a = !strcmp(n->inputs[0], name), b = !strcmp(n->inputs[1], name);
    if (a == b) return NULL;
    return a ? n->inputs[1] : n->inputs[0];
}

/* 1 when ReduceMean node n (keepdims 1, axes as an attribute) reduces over
 * the last `axes` axes of a rank-r tensor and nothing else. */
static int reduces_last(const onnxNode *n, int r, int axes)
{
    const onnxAttr *ka = graftOnnxNodeAttr(n, "keepdims");
    const onnxAttr *aa = graftOnnxNodeAttr(n, "axes");
    if (n->n_inputs != 1 || (ka && ka->i != 1) || !aa || aa->n_ints != axes) return 0;
    int mark[ONNX_MAX_RANK] = {0};
    for (int k = 0; k < aa->n_ints; k++) {
        int64_t a = aa->ints[k] < 0 ? aa->ints[k] + r : aa->ints[k];
        if (a < r - axes || a >= r || mark[a]) return 0;
        mark[a] = 1;
    }
    return 1;
}

/* The layer normalisation PyTorch exports before opset 17, read from its
 * first node m = ReduceMean(x, axes) (the current node):
 *   d = Sub(x, m); v = ReduceMean(Pow(d, 2), axes); y = Div(d, Sqrt(Add(v, eps)))
 *   and optionally z = Mul(y, gamma), out = Add(z, beta)
 * with every intermediate read only by the next step (d by Pow and Div
 * alone), axes the last ones, eps, gamma and beta constants (gamma and beta
 * of the normalised shape). When it matches, one layer_norm layer named
 * after the last node (as the hard_swish fusion names its layer) defines
 * that node's output, the other nodes are marked done and *fused is set;
 * otherwise nothing is changed. */
static int try_layer_norm(imp *im, val *x, val *out, int *fused)
{
    int64_t keep, axv[ONNX_MAX_RANK];
    int na;
    *fused = 0;
    if (x->kind != V_ACT) return GRAFT_OK;
    GRAFT_FORWARD_IF_ERROR(graftOnnxImpAttrInt(im, "keepdims", 1, &keep));
    GRAFT_FORWARD_IF_ERROR(graftOnnxImpSqueezeAxes(im, axv, &na));
    int r = x->ndim, axes = na;
    if (keep != 1 || na < 1 || na >= r) return GRAFT_OK;
    int mark[ONNX_MAX_RANK] = {0};
    for (int k = 0; k < na; k++) {
        int64_t a = axv[k] < 0 ? axv[k] + r : axv[k];
        if (a < r - axes || a >= r || mark[a]) return GRAFT_OK;
        mark[a] = 1;
    }
    if (graftOnnxImpGraftAxis(im, r - axes) < 1) return GRAFT_OK;
    const onnxNode *nodes = im->g->nodes;
    /* d = Sub(x, m) */
    int i_sub = next_node(im, out->name, "Sub");
    if (i_sub < 0 || nodes[i_sub].n_inputs != 2 || strcmp(nodes[i_sub].inputs[0], x->name) ||
        strcmp(nodes[i_sub].inputs[1], out->name))
        return GRAFT_OK;
    const char *d = nodes[i_sub].outputs[0];
    /* d read by exactly Pow(d, 2) and Div(d, s) */
    int i_pow = -1, i_div = -1, readers = 0;
    for (int i = 0; i < im->g->n_nodes; i++)
        for (int k = 0; k < nodes[i].n_inputs; k++)
            if (!strcmp(nodes[i].inputs[k], d)) {
                readers++;
                if (!strcmp(nodes[i].op_type, "Pow") && k == 0) i_pow = i;
                if (!strcmp(nodes[i].op_type, "Div") && k == 0) i_div = i;
            }
    for (int k = 0; k < im->g->n_outputs; k++)
        if (!strcmp(im->g->outputs[k].name, d)) readers = 0;
    if (readers != 2 || i_pow < 0 || i_div < 0 || nodes[i_pow].n_inputs != 2 ||
        nodes[i_div].n_inputs != 2 || nodes[i_pow].domain[0] || nodes[i_div].domain[0] ||
        nodes[i_pow].n_outputs < 1 || nodes[i_div].n_outputs < 1)
        return GRAFT_OK;
    double two, eps;
    if (!ahead_scalar(im, nodes[i_pow].inputs[1], &two) || two != 2.0) return GRAFT_OK;
    /* v = ReduceMean(p) over the same axes */
    int i_var = next_node(im, nodes[i_pow].outputs[0], "ReduceMean");
    if (i_var < 0 || !reduces_last(&nodes[i_var], r, axes)) return GRAFT_OK;
    /* Add(v, eps), Sqrt, then Div(d, s) */
    const char *v = nodes[i_var].outputs[0];
    int i_eps = next_node(im, v, "Add");
    const char *ce = i_eps >= 0 ? other_input(&nodes[i_eps], v) : NULL;
    if (!ce || !ahead_scalar(im, ce, &eps) || !(eps > 0.0 && eps <= FLT_MAX)) return GRAFT_OK;
    int i_sqrt = next_node(im, nodes[i_eps].outputs[0], "Sqrt");
    if (i_sqrt < 0 || nodes[i_sqrt].n_inputs != 1) return GRAFT_OK;
    if (next_node(im, nodes[i_sqrt].outputs[0], "Div") != i_div ||
        strcmp(nodes[i_div].inputs[1], nodes[i_sqrt].outputs[0]))
        return GRAFT_OK;
    /* optional Mul(y, gamma) then Add(z, beta) */
    int last = i_div, i_mul = -1, i_bias = -1;
    const cval *gamma = NULL, *beta = NULL;
    int j = next_node(im, nodes[i_div].outputs[0], "Mul");
    const char *cg = j >= 0 ? other_input(&nodes[j], nodes[i_div].outputs[0]) : NULL;
    if (cg && (gamma = ahead_const(im, cg)) && fits_group(x, axes, gamma)) {
        i_mul = last = j;
        j = next_node(im, nodes[i_mul].outputs[0], "Add");
        const char *cb = j >= 0 ? other_input(&nodes[j], nodes[i_mul].outputs[0]) : NULL;
        if (cb && (beta = ahead_const(im, cb)) && fits_group(x, axes, beta)) i_bias = last = j;
        else beta = NULL;
    } else {
        gamma = NULL;
    }
    /* one layer, named after the ReduceMean, defines the last node's output */
    val *y;
    const onnxNode *self = im->node;
    int self_index = im->node_index;
    im->node = &nodes[last];
    im->node_index = last;
    int st = graftOnnxImpDefine(im, nodes[last].outputs[0], &y);
    if (st == GRAFT_OK)
        st = emit_layer_norm(im, x, axes, (float)eps, gamma ? gamma->f : NULL,
                             beta ? beta->f : NULL, gamma ? gamma->numel : 0, y);
    im->node = self;
    im->node_index = self_index;
    GRAFT_FORWARD_IF_ERROR(st);
    int fused_nodes[8] = {i_sub, i_pow, i_var, i_eps, i_sqrt, i_div, i_mul, i_bias};
    for (int k = 0; k < 8; k++)
        if (fused_nodes[k] >= 0) im->done[fused_nodes[k]] = 1;
    out->kind = V_DEAD;
    out->why = "a ReduceMean fused into layer_norm";
    *fused = 1;
    return GRAFT_OK;
}

/* ReduceMean: the first node of a decomposed layer normalisation
 * (try_layer_norm); over H and W of (N, C, H, W), global average pooling. */
static int h_reduce_mean(imp *im, val *out)
{
    val *x;
    int64_t keep, axes[ONNX_MAX_RANK];
    int na, mark[ONNX_MAX_RANK] = {0}, fused = 0;
    GRAFT_FORWARD_IF_ERROR(graftOnnxImpReqInput(im, 0, &x));
    GRAFT_FORWARD_IF_ERROR(try_layer_norm(im, x, out, &fused));
    if (fused) return GRAFT_OK;
    GRAFT_FORWARD_IF_ERROR(batched_input(im, &x));
    GRAFT_FORWARD_IF_ERROR(graftOnnxImpAttrInt(im, "keepdims", 1, &keep));
    GRAFT_FORWARD_IF_ERROR(graftOnnxImpSqueezeAxes(im, axes, &na));
    int ok = x->ndim == 4 && na == 2;
    for (int k = 0; ok && k < na; k++) {
        int ax = 0;
        GRAFT_FORWARD_IF_ERROR(graftOnnxImpNormAxis(im, axes[k], x->ndim, "axis", &ax));
        mark[ax] = 1;
    }
    if (!ok || !mark[2] || !mark[3])
        return graftOnnxImpFail(im, GRAFT_E_UNSUPPORTED,
                                "graft computes ReduceMean only over axes 2 and 3 of (N, C, H, W), "
                                "or as the first node of a layer normalisation");
    val pooled, *pp = &pooled;
    memset(&pooled, 0, sizeof pooled);
    graft_layer *l = NULL;
    int st = graft_layer_global_avg_pool(im->ctx, &l);
    GRAFT_FORWARD_IF_ERROR(graftOnnxImpAddLayer(im, st, l, NULL, 1, &x, keep ? out : pp, NULL));
    if (keep) return GRAFT_OK;
    int64_t dims[2] = {SYM_BATCH, x->dims[1]};
    return graftOnnxImpEmitReshape(im, pp, 2, dims, "squeeze", out);
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
    if (x->ndim < 2) return graftOnnxImpFail(im, GRAFT_E_FORMAT, "a rank-%d input", x->ndim);
    for (int k = 0; k < 4; k++) {
        GRAFT_FORWARD_IF_ERROR(graftOnnxImpConstInput(im, k + 1, names[k], 1, &p[k]));
        if (p[k]->numel != (size_t)x->dims[1] || p[k]->is_int)
            return graftOnnxImpFail(im, GRAFT_E_FORMAT, "%s has %zu values for %lld channels",
                                    names[k], p[k]->numel, (long long)x->dims[1]);
    }
    GRAFT_FORWARD_IF_ERROR(graftOnnxImpAttrFloat(im, "epsilon", 1e-5f, &eps));
    GRAFT_FORWARD_IF_ERROR(graftOnnxImpAttrFloat(im, "momentum", 0.9f, &momentum));
    GRAFT_FORWARD_IF_ERROR(graftOnnxImpAttrInt(im, "training_mode", 0, &training));
    GRAFT_FORWARD_IF_ERROR(graftOnnxImpAttrInt(im, "spatial", 1, &spatial));
    if (training)
        return graftOnnxImpFail(im, GRAFT_E_UNSUPPORTED,
                                "training_mode is set; graft imports inference graphs");
    if (!spatial) return graftOnnxImpFail(im, GRAFT_E_UNSUPPORTED, "spatial is 0");
    if (!(eps > 0) || !(momentum >= 0 && momentum <= 1))
        return graftOnnxImpFail(im, GRAFT_E_UNSUPPORTED,
                                "epsilon %g and momentum %g; graft needs epsilon > 0 and "
                                "momentum in [0, 1]",
                                (double)eps, (double)momentum);
    graft_layer *l = NULL, *added;
    int st = graft_layer_batch_norm(im->ctx, eps, 1.0f - momentum, &l);
    GRAFT_FORWARD_IF_ERROR(graftOnnxImpAddLayer(im, st, l, NULL, 1, &x, out, &added));
    for (int k = 0; k < 4; k++)
        GRAFT_FORWARD_IF_ERROR(graftOnnxImpSetParam(im, added, params[k], p[k]->f, p[k]->numel));
    return GRAFT_OK;
}

/* The row count of the matrix a dense layer reads from x: 1 per sample. The
 * activation must be (N, K) (batched) or (K) or (1, K) (one sample); with
 * last_axis (MatMul), any rank with a per-sample axis. */
static int dense_input(imp *im, const val *x, int last_axis, int64_t *k)
{
    int ok = im->batched ? x->ndim == 2 : (x->ndim == 1 || (x->ndim == 2 && x->dims[0] == 1));
    if (last_axis && x->ndim + (im->batched ? 0 : 1) >= 3) ok = 1;
    if (!ok) {
        char xs[96];
        graftOnnxImpShapeText(x->ndim, x->dims, xs, sizeof xs);
        return graftOnnxImpFail(im, GRAFT_E_UNSUPPORTED,
                                "a matrix product of the %s tensor; graft's dense layer takes "
                                "one row per sample",
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
    /* MatMul of (N, ..., K) of rank 3 or more in graft, or Gemm of an (M, K)
     * matrix of M > 1 rows when the graph has no batch axis (a sequence of M
     * positions: graft's (1, M, K)): the product per position of the leading
     * axes (a linear layer) */
    int rank = x->ndim + (im->batched ? 0 : 1);
    int linear = graftOnnxImpOpIs(im, "MatMul") ? rank >= 3 : rank == 3 && x->dims[0] != 1;
    val y, *py = &y;
    graft_layer *l = NULL, *added;
    int units_i = 0;
    GRAFT_FORWARD_IF_ERROR(small_int(im, units, 1, "the output size", &units_i));
    int st = linear ? graft_layer_linear(im->ctx, units_i, b != NULL, &l)
                    : graft_layer_dense(im->ctx, units_i, b != NULL, &l);
    memset(&y, 0, sizeof y);
    int needs_reshape = !linear && x->ndim == 2 && !im->batched;
    GRAFT_FORWARD_IF_ERROR(
        graftOnnxImpAddLayer(im, st, l, NULL, 1, &x, needs_reshape ? py : dst, &added));
    GRAFT_FORWARD_IF_ERROR(graftOnnxImpSetParam(im, added, "weight", w, nw));
    if (b) GRAFT_FORWARD_IF_ERROR(graftOnnxImpSetParam(im, added, "bias", b, (size_t)units));
    if (added_out) *added_out = added;
    if (!needs_reshape) return GRAFT_OK;
    int64_t dims[2] = {1, units};
    return graftOnnxImpEmitReshape(im, py, 2, dims, "reshape", dst);
}

static int h_gemm(imp *im, val *out)
{
    val *a;
    cval *bm, *cm;
    float alpha, beta;
    int64_t ta, tb, k = 0;
    GRAFT_FORWARD_IF_ERROR(graftOnnxImpReqInput(im, 0, &a));
    if (a->kind == V_CONST)
        return graftOnnxImpFail(im, GRAFT_E_UNSUPPORTED,
                                "its first input is a constant; graft's dense layer "
                                "multiplies the computed tensor");
    GRAFT_FORWARD_IF_ERROR(graftOnnxImpConstInput(im, 1, "B matrix", 1, &bm));
    GRAFT_FORWARD_IF_ERROR(graftOnnxImpConstInput(im, 2, "C bias", 0, &cm));
    GRAFT_FORWARD_IF_ERROR(graftOnnxImpAttrFloat(im, "alpha", 1.0f, &alpha));
    GRAFT_FORWARD_IF_ERROR(graftOnnxImpAttrFloat(im, "beta", 1.0f, &beta));
    GRAFT_FORWARD_IF_ERROR(graftOnnxImpAttrInt(im, "transA", 0, &ta));
    GRAFT_FORWARD_IF_ERROR(graftOnnxImpAttrInt(im, "transB", 0, &tb));
    if (ta) return graftOnnxImpFail(im, GRAFT_E_UNSUPPORTED, "transA is set on the computed input");
    if (a->ndim != 2) return graftOnnxImpFail(im, GRAFT_E_FORMAT, "A has rank %d", a->ndim);
    /* without a batch axis, the rows of A are positions of one sample */
    GRAFT_FORWARD_IF_ERROR(dense_input(im, a, !im->batched, &k));
    if (bm->ndim != 2 || bm->is_int || bm->dims[tb ? 1 : 0] != k)
        return graftOnnxImpFail(im, GRAFT_E_FORMAT, "B does not fit A's %lld columns",
                                (long long)k);
    int64_t units = bm->dims[tb ? 0 : 1];
    float *w = graftOnnxImpAlloc(im, bm->numel * sizeof *w);
    float *bias = NULL;
    if (!w) return graftOnnxImpNomem(im);
    for (int64_t u = 0; u < units; u++)
        for (int64_t j = 0; j < k; j++)
            w[u * k + j] = alpha * bm->f[tb ? u * k + j : j * units + u];
    if (cm && beta != 0.0f) {
        /* C broadcasts to (M, units): it may vary along units only. */
        int64_t rows = cm->ndim == 2 ? cm->dims[0] : 1;
        int64_t cols = cm->ndim >= 1 ? cm->dims[cm->ndim - 1] : 1;
        if (cm->ndim > 2 || (cols != 1 && cols != units) || cm->is_int)
            return graftOnnxImpFail(im, GRAFT_E_FORMAT, "C does not broadcast to the output");
        for (int64_t r = 1; r < rows; r++)
            for (int64_t j = 0; j < cols; j++)
                if (cm->f[r * cols + j] != cm->f[j])
                    return graftOnnxImpFail(im, GRAFT_E_UNSUPPORTED,
                                            "C differs from row to row; graft's bias is the same "
                                            "for every sample");
        bias = graftOnnxImpAlloc(im, (size_t)units * sizeof *bias);
        if (!bias) return graftOnnxImpNomem(im);
        for (int64_t u = 0; u < units; u++) bias[u] = beta * cm->f[cols == 1 ? 0 : u];
    }
    return emit_dense(im, a, units, w, (size_t)(units * k), bias, out, NULL);
}

/* MatMul of two computed tensors: a matmul layer (same rank >= 3 in graft,
 * leading axes broadcasting). */
static int emit_matmul(imp *im, val *a, val *b, val *out)
{
    int ra = a->ndim + (im->batched ? 0 : 1), rb = b->ndim + (im->batched ? 0 : 1);
    if (ra != rb || ra < 3) {
        char sa[96], sb[96];
        graftOnnxImpShapeText(a->ndim, a->dims, sa, sizeof sa);
        graftOnnxImpShapeText(b->ndim, b->dims, sb, sizeof sb);
        return graftOnnxImpFail(im, GRAFT_E_UNSUPPORTED,
                                "a product of computed tensors %s and %s; graft's matmul layer "
                                "multiplies stacks of matrices of one rank, (N, ..., M, K) by "
                                "(N, ..., K, P)",
                                sa, sb);
    }
    val *ins[2] = {a, b};
    graft_layer *l = NULL;
    int st = graft_layer_matmul(im->ctx, &l);
    return graftOnnxImpAddLayer(im, st, l, NULL, 2, ins, out, NULL);
}

/* MatMul by a constant matrix (a dense layer, per position of the leading
 * axes for inputs of rank 3 or more); when the only reader is Add of a
 * constant bias, the pair becomes one dense layer with bias. MatMul of two
 * computed tensors is a matmul layer. */
static int h_matmul(imp *im, val *out)
{
    val *a, *b;
    int64_t k = 0;
    GRAFT_FORWARD_IF_ERROR(graftOnnxImpReqInput(im, 0, &a));
    GRAFT_FORWARD_IF_ERROR(graftOnnxImpReqInput(im, 1, &b));
    if (a->kind == V_CONST && b->kind == V_CONST)
        return graftOnnxImpFail(im, GRAFT_E_UNSUPPORTED,
                                "graft does not evaluate MatMul on constants");
    if (a->kind == V_ACT && b->kind == V_ACT) return emit_matmul(im, a, b, out);
    if (a->kind != V_ACT || b->kind != V_CONST)
        return graftOnnxImpFail(im, GRAFT_E_UNSUPPORTED,
                                "graft multiplies a computed tensor by a constant matrix on its "
                                "right");
    GRAFT_FORWARD_IF_ERROR(dense_input(im, a, 1, &k));
    const cval *bm = &b->c;
    if (bm->ndim != 2 || bm->is_int || bm->dims[0] != k)
        return graftOnnxImpFail(im, bm->ndim != 2 ? GRAFT_E_UNSUPPORTED : GRAFT_E_FORMAT,
                                "the constant is not a matrix of %lld rows", (long long)k);
    int64_t units = bm->dims[1];
    float *w = graftOnnxImpAlloc(im, bm->numel * sizeof *w);
    if (!w) return graftOnnxImpNomem(im);
    for (int64_t u = 0; u < units; u++)
        for (int64_t j = 0; j < k; j++) w[u * k + j] = bm->f[j * units + u];
    /* Add fusion. */
    int j = graftOnnxImpSingleConsumer(out);
    const val *bias = NULL;
    const onnxNode *add = j >= 0 ? &im->g->nodes[j] : NULL;
    if (add && !strcmp(add->op_type, "Add") && !add->domain[0] && add->n_inputs == 2 &&
        add->n_outputs >= 1 && add->outputs[0][0]) {
        const char *other = !strcmp(add->inputs[0], out->name) ? add->inputs[1] : add->inputs[0];
        const val *c = graftOnnxImpLookup(im, other, 0);
        int ok = c && c->kind == V_CONST && !c->c.is_int && c->c.numel == (size_t)units &&
                 c->c.ndim <= 2 && graftOnnxNodeAttr(add, "broadcast") == NULL;
        for (int d = 0; ok && d + 1 < c->c.ndim; d++) ok = c->c.dims[d] == 1;
        if (ok && c->c.ndim == 2 && a->ndim == 1) ok = 0; /* would add an axis */
        if (ok) bias = c;
    }
    if (!bias) return emit_dense(im, a, units, w, (size_t)(units * k), NULL, out, NULL);
    val *y;
    GRAFT_FORWARD_IF_ERROR(graftOnnxImpDefine(im, add->outputs[0], &y));
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
    GRAFT_FORWARD_IF_ERROR(graftOnnxImpReqInput(im, 0, &x));
    if (x->kind == V_CONST)
        return graftOnnxImpFail(im, GRAFT_E_UNSUPPORTED,
                                "graft does not evaluate Pad on constants");
    GRAFT_FORWARD_IF_ERROR(graftOnnxImpAttrString(im, "mode", "constant", mode, sizeof mode));
    int r = x->ndim;
    if (im->node->n_inputs >= 2) {
        cval *cp, *cv, *ca;
        GRAFT_FORWARD_IF_ERROR(graftOnnxImpConstInput(im, 1, "pads", 1, &cp));
        GRAFT_FORWARD_IF_ERROR(graftOnnxImpConstInput(im, 2, "constant_value", 0, &cv));
        GRAFT_FORWARD_IF_ERROR(graftOnnxImpConstInput(im, 3, "axes", 0, &ca));
        GRAFT_FORWARD_IF_ERROR(
            graftOnnxImpCvalInts(im, cp, "pads", 0, pads, 2 * ONNX_MAX_RANK, &np));
        if (cv && cv->numel > 1)
            return graftOnnxImpFail(im, GRAFT_E_FORMAT, "constant_value is not a scalar");
        if (cv && cv->numel == 1) value = (float)graftOnnxImpCget(cv, 0);
        if (ca)
            GRAFT_FORWARD_IF_ERROR(
                graftOnnxImpCvalInts(im, ca, "axes", 0, axes, ONNX_MAX_RANK, &na));
        if (!ca) na = (size_t)r;
        if (!ca)
            for (int d = 0; d < r; d++) axes[d] = d;
    } else {
        const int64_t *v;
        int n;
        GRAFT_FORWARD_IF_ERROR(graftOnnxImpAttrInts(im, "pads", &v, &n));
        if (n < 0) GRAFT_FORWARD_IF_ERROR(graftOnnxImpAttrInts(im, "paddings", &v, &n));
        if (n < 0 || n > 2 * ONNX_MAX_RANK)
            return graftOnnxImpFail(im, GRAFT_E_FORMAT, "no usable pads");
        np = (size_t)n;
        if (n) memcpy(pads, v, np * sizeof *v);
        GRAFT_FORWARD_IF_ERROR(graftOnnxImpAttrFloat(im, "value", 0.0f, &value));
        na = (size_t)r;
        for (int d = 0; d < r; d++) axes[d] = d;
    }
    if (np != 2 * na) return graftOnnxImpFail(im, GRAFT_E_FORMAT, "%zu pads for %zu axes", np, na);
    int64_t begin[ONNX_MAX_RANK] = {0}, end[ONNX_MAX_RANK] = {0};
    for (size_t k = 0; k < na; k++) {
        int ax = 0;
        GRAFT_FORWARD_IF_ERROR(graftOnnxImpNormAxis(im, axes[k], r, "axis", &ax));
        begin[ax] = pads[k];
        end[ax] = pads[k + na];
    }
    int any = 0;
    for (int d = 0; d < r; d++) {
        if (begin[d] < 0 || end[d] < 0)
            return graftOnnxImpFail(im, GRAFT_E_UNSUPPORTED, "negative pads (cropping)");
        if (begin[d] || end[d]) {
            any = 1;
            if (im->batched && d == 0)
                return graftOnnxImpFail(im, GRAFT_E_UNSUPPORTED,
                                        "it pads the batch axis; graft pads the axes after it");
        }
    }
    int constant = !strcmp(mode, "constant"), reflect = !strcmp(mode, "reflect"),
        edge = !strcmp(mode, "edge");
    if (!constant && !reflect && !edge)
        return graftOnnxImpFail(im, GRAFT_E_UNSUPPORTED,
                                "mode \"%s\"; graft pads constant, reflect and edge", mode);
    if (!any) {
        graftOnnxImpAlias(out, x);
        return GRAFT_OK;
    }
    /* A zero pad read only by a convolution becomes the convolution's own
     * padding. */
    int j = graftOnnxImpSingleConsumer(out);
    if (j >= 0 && constant && value == 0.0f && im->batched &&
        (r == 4 || (r == 3 && !begin[1] && !end[1]))) {
        const onnxNode *conv = &im->g->nodes[j];
        if (!strcmp(conv->op_type, "Conv") && !conv->domain[0] && conv->n_inputs >= 1 &&
            !strcmp(conv->inputs[0], out->name) && begin[r - 1] <= (1 << 20) &&
            end[r - 1] <= (1 << 20) && begin[r - 2] <= (1 << 20) && end[r - 2] <= (1 << 20)) {
            graftOnnxImpAlias(out, x);
            if (r == 4) {
                out->pads[0] += (int)begin[2];
                out->pads[2] += (int)end[2];
            }
            out->pads[1] += (int)begin[r - 1];
            out->pads[3] += (int)end[r - 1];
            return GRAFT_OK;
        }
    }
    int rank = r + (im->batched ? 0 : 1); /* graft's */
    if (rank < 3)
        return graftOnnxImpFail(im, GRAFT_E_UNSUPPORTED,
                                "a rank-%d input; graft pads (N, ..., H, W)", r);
    int padded[ONNX_MAX_RANK], n_padded = 0;
    for (int d = 0; d < r; d++)
        if (begin[d] || end[d]) padded[n_padded++] = d;
    for (int k = 0; reflect && k < n_padded; k++)
        if (begin[padded[k]] >= x->dims[padded[k]] || end[padded[k]] >= x->dims[padded[k]])
            return graftOnnxImpFail(im, GRAFT_E_UNSUPPORTED,
                                    "reflect pads as large as the axis; graft reflects pads "
                                    "smaller than it");
    /* The padded axes two at a time (the last two as they are; others moved
     * last by a transpose layer and back after the pad2d layer). */
    val steps[3 * ONNX_MAX_RANK], tmp;
    int n_steps = 0;
    for (int k = 0; k < n_padded; k += 2) {
        int a = padded[k], b = k + 1 < n_padded ? padded[k + 1] : -1, last = k + 2 >= n_padded;
        int in_place = b >= 0 ? (a == r - 2 && b == r - 1) : a >= r - 2;
        int ph = b >= 0 || (in_place && a == r - 2) ? a : -1, pw = b >= 0 ? b : ph < 0 ? a : -1;
        int perm[GRAFT_MAX_DIMS], inv[GRAFT_MAX_DIMS], np_ = 0;
        char suffix[32];
        if (!in_place) {
            GRAFT_FORWARD_IF_ERROR(graftOnnxImpAsShaped(im, x, "shape", &tmp, &x));
            for (int g = 0; g < rank; g++)
                if (g != graftOnnxImpGraftAxis(im, a) && (b < 0 || g != graftOnnxImpGraftAxis(im, b)))
                    perm[np_++] = g;
            perm[np_++] = graftOnnxImpGraftAxis(im, a);
            if (b >= 0) perm[np_++] = graftOnnxImpGraftAxis(im, b);
            for (int g = 0; g < rank; g++) inv[perm[g]] = g;
            val *t = &steps[n_steps++];
            memset(t, 0, sizeof *t);
            t->name = out->name;
            graft_layer *l = NULL;
            snprintf(suffix, sizeof suffix, "to_end%d", k / 2);
            int st = graft_layer_transpose(im->ctx, rank, perm, &l);
            GRAFT_FORWARD_IF_ERROR(graftOnnxImpAddLayer(im, st, l, suffix, 1, &x, t, NULL));
            x = t;
        }
        graft_pad2d_spec spec = GRAFT_PAD2D_SPEC_INIT;
        if (ph >= 0) {
            GRAFT_FORWARD_IF_ERROR(small_int(im, begin[ph], 0, "a pad", &spec.pad_top));
            GRAFT_FORWARD_IF_ERROR(small_int(im, end[ph], 0, "a pad", &spec.pad_bottom));
        }
        if (pw >= 0) {
            GRAFT_FORWARD_IF_ERROR(small_int(im, begin[pw], 0, "a pad", &spec.pad_left));
            GRAFT_FORWARD_IF_ERROR(small_int(im, end[pw], 0, "a pad", &spec.pad_right));
        }
        spec.mode = constant ? GRAFT_PAD_CONSTANT : reflect ? GRAFT_PAD_REFLECT : GRAFT_PAD_EDGE;
        spec.value = value;
        val *p = last && in_place ? out : &steps[n_steps++];
        if (p != out) {
            memset(p, 0, sizeof *p);
            p->name = out->name;
        }
        graft_layer *l = NULL;
        snprintf(suffix, sizeof suffix, "pad%d", k / 2);
        int st = graft_layer_pad2d(im->ctx, &spec, &l);
        GRAFT_FORWARD_IF_ERROR(graftOnnxImpAddLayer(im, st, l, p == out ? NULL : suffix, 1, &x,
                                                    p, NULL));
        x = p;
        if (in_place) continue;
        val *back = last ? out : &steps[n_steps++];
        if (back != out) {
            memset(back, 0, sizeof *back);
            back->name = out->name;
        }
        snprintf(suffix, sizeof suffix, "back%d", k / 2);
        st = graft_layer_transpose(im->ctx, rank, inv, &l);
        GRAFT_FORWARD_IF_ERROR(
            graftOnnxImpAddLayer(im, st, l, back == out ? NULL : suffix, 1, &x, back, NULL));
        x = back;
    }
    return GRAFT_OK;
}

/* Resize (opset 10+) and Upsample (7 to 9): nearest or (bi)linear over the
 * last two axes, from scales or output sizes, as an upsample2d layer. */
static int h_resize(imp *im, val *out)
{
    val *x;
    const int upsample = graftOnnxImpOpIs(im, "Upsample");
    const int opset11 = !upsample && im->opset >= 11;
    char mode[32], coord[32], nearest[32];
    GRAFT_FORWARD_IF_ERROR(graftOnnxImpReqInput(im, 0, &x));
    if (x->kind == V_CONST)
        return graftOnnxImpFail(im, GRAFT_E_UNSUPPORTED,
                                "graft does not evaluate %s on constants", im->node->op_type);
    GRAFT_FORWARD_IF_ERROR(graftOnnxImpAttrString(im, "mode", "nearest", mode, sizeof mode));
    /* Before opset 11 the coordinates were x / scale, rounded down. */
    GRAFT_FORWARD_IF_ERROR(graftOnnxImpAttrString(im, "coordinate_transformation_mode",
                                                  opset11 ? "half_pixel" : "asymmetric", coord,
                                                  sizeof coord));
    GRAFT_FORWARD_IF_ERROR(graftOnnxImpAttrString(im, "nearest_mode",
                                                  opset11 ? "round_prefer_floor" : "floor",
                                                  nearest, sizeof nearest));
    int64_t exclude = 0, antialias = 0;
    GRAFT_FORWARD_IF_ERROR(graftOnnxImpAttrInt(im, "exclude_outside", 0, &exclude));
    GRAFT_FORWARD_IF_ERROR(graftOnnxImpAttrInt(im, "antialias", 0, &antialias));
    if (exclude || antialias || graftOnnxImpAttr(im, "axes") ||
        graftOnnxImpAttr(im, "keep_aspect_ratio_policy"))
        return graftOnnxImpFail(im, GRAFT_E_UNSUPPORTED,
                                "exclude_outside, antialias, axes and keep_aspect_ratio_policy "
                                "are not supported");
    static const char *const coords[4] = {"half_pixel", "align_corners", "asymmetric",
                                          "pytorch_half_pixel"};
    static const char *const roundings[4] = {"round_prefer_floor", "round_prefer_ceil", "floor",
                                             "ceil"};
    graft_upsample2d_spec spec = GRAFT_UPSAMPLE2D_SPEC_INIT;
    if (!strcmp(mode, "nearest")) spec.mode = GRAFT_UPSAMPLE_NEAREST;
    else if (!strcmp(mode, "linear") || !strcmp(mode, "bilinear")) spec.mode = GRAFT_UPSAMPLE_LINEAR;
    else
        return graftOnnxImpFail(im, GRAFT_E_UNSUPPORTED,
                                "mode \"%s\"; graft resizes nearest and linear", mode);
    spec.coord = -1;
    for (int k = 0; k < 4; k++)
        if (!strcmp(coord, coords[k])) spec.coord = k;
    spec.nearest = -1;
    for (int k = 0; k < 4; k++)
        if (!strcmp(nearest, roundings[k])) spec.nearest = k;
    if (spec.coord < 0 || spec.nearest < 0)
        return graftOnnxImpFail(im, GRAFT_E_UNSUPPORTED,
                                "coordinate_transformation_mode \"%s\" with nearest_mode \"%s\"; "
                                "graft has half_pixel, align_corners, asymmetric and "
                                "pytorch_half_pixel, and the four roundings",
                                coord, nearest);
    const int r = x->ndim;
    if (r + (im->batched ? 0 : 1) < 3)
        return graftOnnxImpFail(im, GRAFT_E_UNSUPPORTED,
                                "a rank-%d input; graft resizes (N, ..., H, W)", r);
    /* Scales: Upsample's attribute (7, 8) or input 1 (9); Resize's input 1
     * (10) or 2 (11+). Sizes: Resize's input 3 (11+). */
    cval *cs = NULL, *cz = NULL;
    int64_t sizes[ONNX_MAX_RANK];
    float scales[ONNX_MAX_RANK];
    size_t ns = 0;
    const onnxAttr *as = upsample ? graftOnnxImpAttr(im, "scales") : NULL;
    if (as) {
        if (as->type != ONNX_ATTR_FLOATS) return graftOnnxImpAttrTypeFail(im, as, "floats");
        if (as->n_floats != r) return graftOnnxImpFail(im, GRAFT_E_FORMAT, "%d scales for rank %d", as->n_floats, r);
        for (int d = 0; d < r; d++) scales[d] = as->floats[d];
        ns = (size_t)r;
    } else {
        GRAFT_FORWARD_IF_ERROR(graftOnnxImpConstInput(im, opset11 ? 2 : 1, "scales", 0, &cs));
        if (opset11) GRAFT_FORWARD_IF_ERROR(graftOnnxImpConstInput(im, 3, "sizes", 0, &cz));
        if (cs && cs->numel == 0) cs = NULL; /* an empty scales input: sizes given */
        if (cs) {
            if (cs->numel != (size_t)r || cs->is_int)
                return graftOnnxImpFail(im, GRAFT_E_FORMAT, "scales has %zu values for rank %d",
                                        cs->numel, r);
            for (int d = 0; d < r; d++) scales[d] = cs->f[d];
            ns = (size_t)r;
        }
    }
    if (opset11 && !strcmp(coord, "tf_crop_and_resize"))
        return graftOnnxImpFail(im, GRAFT_E_UNSUPPORTED, "tf_crop_and_resize");
    if (ns) {
        for (int d = 0; d < r - 2; d++)
            if (scales[d] != 1.0f)
                return graftOnnxImpFail(im, GRAFT_E_UNSUPPORTED,
                                        "it scales axis %d by %g; graft resizes the last two "
                                        "axes (H, W)",
                                        d, (double)scales[d]);
        spec.scale_h = scales[r - 2];
        spec.scale_w = scales[r - 1];
    } else if (cz) {
        size_t n = 0;
        GRAFT_FORWARD_IF_ERROR(graftOnnxImpCvalInts(im, cz, "sizes", 1, sizes, ONNX_MAX_RANK, &n));
        if (n != (size_t)r)
            return graftOnnxImpFail(im, GRAFT_E_FORMAT, "sizes has %zu values for rank %d", n, r);
        for (int d = 0; d < r - 2; d++)
            if (sizes[d] != x->dims[d] && x->dims[d] != SYM_BATCH && sizes[d] != SYM_BATCH)
                return graftOnnxImpFail(im, GRAFT_E_UNSUPPORTED,
                                        "it resizes axis %d; graft resizes the last two axes "
                                        "(H, W)",
                                        d);
        GRAFT_FORWARD_IF_ERROR(small_int(im, sizes[r - 2], 1, "an output size", &spec.out_h));
        GRAFT_FORWARD_IF_ERROR(small_int(im, sizes[r - 1], 1, "an output size", &spec.out_w));
    } else {
        return graftOnnxImpFail(im, GRAFT_E_FORMAT, "neither scales nor sizes is given");
    }
    graft_layer *l = NULL;
    int st = graft_layer_upsample2d(im->ctx, &spec, &l);
    return graftOnnxImpAddLayer(im, st, l, NULL, 1, &x, out, NULL);
}

/* ConvTranspose: conv_transpose2d (1-D as (N, C, 1, L)). Per spatial axis
 * the full scatter has S*(in-1) + OP + D*(K-1) + 1 cells; the pads come
 * from the pads attribute, or from output_shape or auto_pad SAME_* as ONNX
 * defines them: total = full - target (target: output_shape, or in*S for
 * SAME_*), split as begin = total/2, end = total - total/2 for SAME_UPPER
 * and the other way round otherwise (begin gets the odd unit). A target
 * larger than the full scatter is output padding at the end. */
static int convt_axis_pads(imp *im, int64_t full, int64_t target, int upper, int *pb, int *pe,
                           int *op)
{
    const int64_t total = full - target;
    /* halves rounded down, as ONNX's reference computes them */
    const int64_t half = total >= 0 ? total / 2 : -((-total + 1) / 2);
    int64_t begin = upper ? half : total - half, end = total - begin;
    if (begin < 0)
        return graftOnnxImpFail(im, GRAFT_E_UNSUPPORTED,
                                "an output size of %lld from a scatter of %lld cells needs a "
                                "negative leading pad; graft adds cells at the end only",
                                (long long)target, (long long)full);
    if (end < 0) {
        if (-end > (1 << 30) - *op)
            return graftOnnxImpFail(im, GRAFT_E_UNSUPPORTED, "an output size of %lld",
                                    (long long)target);
        *op += (int)-end;
        end = 0;
    }
    GRAFT_FORWARD_IF_ERROR(small_int(im, begin, 0, "a pad", pb));
    return small_int(im, end, 0, "a pad", pe);
}

static int h_conv_transpose(imp *im, val *out)
{
    val *x, tmp, *xin;
    cval *w, *b;
    GRAFT_FORWARD_IF_ERROR(batched_input(im, &x));
    GRAFT_FORWARD_IF_ERROR(graftOnnxImpConstInput(im, 1, "weight", 1, &w));
    GRAFT_FORWARD_IF_ERROR(graftOnnxImpConstInput(im, 2, "bias", 0, &b));
    int n = spatial_rank(im, x);
    if (n < 0) return n;
    int64_t group, c = x->dims[1];
    GRAFT_FORWARD_IF_ERROR(graftOnnxImpAttrInt(im, "group", 1, &group));
    if (w->is_int || w->ndim != x->ndim || group < 1 || w->dims[0] != c || c % group != 0)
        return graftOnnxImpFail(im, GRAFT_E_FORMAT,
                                "the weight's shape does not fit %lld input channels in %lld "
                                "groups",
                                (long long)c, (long long)group);
    const int64_t oc = w->dims[1] * group;
    if (b && (b->numel != (size_t)oc || b->is_int))
        return graftOnnxImpFail(im, GRAFT_E_FORMAT, "the bias has %zu values for %lld outputs",
                                b->numel, (long long)oc);
    const int64_t *ks, *strides, *dil, *pads, *opad, *oshape;
    int nk, ns, nd, np, nop, nos;
    char autopad[32];
    GRAFT_FORWARD_IF_ERROR(graftOnnxImpAttrInts(im, "kernel_shape", &ks, &nk));
    GRAFT_FORWARD_IF_ERROR(graftOnnxImpAttrInts(im, "strides", &strides, &ns));
    GRAFT_FORWARD_IF_ERROR(graftOnnxImpAttrInts(im, "dilations", &dil, &nd));
    GRAFT_FORWARD_IF_ERROR(graftOnnxImpAttrInts(im, "pads", &pads, &np));
    GRAFT_FORWARD_IF_ERROR(graftOnnxImpAttrInts(im, "output_padding", &opad, &nop));
    GRAFT_FORWARD_IF_ERROR(graftOnnxImpAttrInts(im, "output_shape", &oshape, &nos));
    GRAFT_FORWARD_IF_ERROR(
        graftOnnxImpAttrString(im, "auto_pad", "NOTSET", autopad, sizeof autopad));
    for (int i = 0; nk >= 0 && i < n; i++)
        if (nk != n || ks[i] != w->dims[2 + i])
            return graftOnnxImpFail(im, GRAFT_E_FORMAT, "kernel_shape disagrees with the weight");
    if ((ns >= 0 && ns != n) || (nd >= 0 && nd != n) || (np >= 0 && np != 2 * n) ||
        (nop >= 0 && nop != n) || (nos >= 0 && nos != n && nos != n + 2))
        return graftOnnxImpFail(im, GRAFT_E_FORMAT,
                                "strides, dilations, pads, output_padding or output_shape do not "
                                "have one entry per spatial axis");
    const int notset = !strcmp(autopad, "NOTSET"), valid = !strcmp(autopad, "VALID"),
              upper = !strcmp(autopad, "SAME_UPPER"), lower = !strcmp(autopad, "SAME_LOWER");
    if (!notset && !valid && !upper && !lower)
        return graftOnnxImpFail(im, GRAFT_E_FORMAT, "auto_pad is \"%s\"", autopad);
    int k[2] = {1, 1}, st[2] = {1, 1}, dl[2] = {1, 1}, op[2] = {0, 0}, pb[2] = {0, 0},
        pe[2] = {0, 0};
    for (int i = 0; i < n; i++) {
        const int a = i + 2 - n; /* graft axis: 1-D runs along W */
        GRAFT_FORWARD_IF_ERROR(small_int(im, w->dims[2 + i], 1, "a kernel size", &k[a]));
        GRAFT_FORWARD_IF_ERROR(small_int(im, ns >= 0 ? strides[i] : 1, 1, "a stride", &st[a]));
        GRAFT_FORWARD_IF_ERROR(small_int(im, nd >= 0 ? dil[i] : 1, 1, "a dilation", &dl[a]));
        GRAFT_FORWARD_IF_ERROR(
            small_int(im, nop >= 0 ? opad[i] : 0, 0, "an output padding", &op[a]));
        const int64_t in = x->dims[2 + i];
        const int64_t full =
            (int64_t)st[a] * (in - 1) + op[a] + (int64_t)dl[a] * (k[a] - 1) + 1;
        if (nos >= 0) {
            const int64_t target = oshape[nos - n + i];
            if (target < 1 || target > (1 << 30))
                return graftOnnxImpFail(im, target < 1 ? GRAFT_E_FORMAT : GRAFT_E_UNSUPPORTED,
                                        "output_shape has %lld", (long long)target);
            GRAFT_FORWARD_IF_ERROR(
                convt_axis_pads(im, full, target, upper, &pb[a], &pe[a], &op[a]));
        } else if (upper || lower) {
            GRAFT_FORWARD_IF_ERROR(
                convt_axis_pads(im, full, in * st[a], upper, &pb[a], &pe[a], &op[a]));
        } else if (notset && np >= 0) {
            GRAFT_FORWARD_IF_ERROR(small_int(im, pads[i], 0, "a pad", &pb[a]));
            GRAFT_FORWARD_IF_ERROR(small_int(im, pads[i + n], 0, "a pad", &pe[a]));
        }
    }
    graft_conv_transpose2d_spec spec = GRAFT_CONV_TRANSPOSE2D_SPEC_INIT;
    GRAFT_FORWARD_IF_ERROR(small_int(im, oc, 1, "the output channel count", &spec.out_channels));
    GRAFT_FORWARD_IF_ERROR(small_int(im, group, 1, "group", &spec.groups));
    spec.kernel_h = k[0];
    spec.kernel_w = k[1];
    spec.stride_h = st[0];
    spec.stride_w = st[1];
    spec.dilation_h = dl[0];
    spec.dilation_w = dl[1];
    spec.pad_top = pb[0];
    spec.pad_left = pb[1];
    spec.pad_bottom = pe[0];
    spec.pad_right = pe[1];
    spec.output_padding_h = op[0];
    spec.output_padding_w = op[1];
    spec.bias = b != NULL;
    GRAFT_FORWARD_IF_ERROR(to_2d(im, x, &tmp, &xin));
    graft_layer *l = NULL;
    int cst = graft_layer_conv_transpose2d(im->ctx, &spec, &l);
    return add_weighted_2d(im, cst, l, xin, w, b, n, out);
}

/* ---- one-sample graphs ---------------------------------------------------------------- */

/* With batch_axis 0, the operators that need (N, C, ...) read a one-sample
 * activation of ONNX shape (1, C, ...) (graft's (N, 1, C, ...)) with graft's
 * batch as theirs: the handler runs as in a batched import on the view
 * (N, C, ...) of x, and its output (N, C', ...) is reshaped back to ONNX's
 * (1, C', ...). Other inputs go to the handler, which refuses them. */
static int as_batched(imp *im, val *out, graftOnnxHandler h)
{
    val *x, view, saved, y;
    if (im->batched) return h(im, out);
    GRAFT_FORWARD_IF_ERROR(graftOnnxImpReqInput(im, 0, &x));
    if (x->kind != V_ACT || x->ndim < 2 || x->dims[0] != 1) return h(im, out);
    memset(&view, 0, sizeof view);
    GRAFT_FORWARD_IF_ERROR(
        graftOnnxImpEmitReshape(im, x, x->ndim - 1, x->dims + 1, "sample", &view));
    saved = *x;
    graftOnnxImpAlias(x, &view);
    x->ndim = saved.ndim;
    memcpy(x->dims, saved.dims, sizeof x->dims);
    memcpy(x->pads, saved.pads, sizeof x->pads);
    x->dims[0] = SYM_BATCH;
    im->batched = 1;
    int st = h(im, out);
    im->batched = 0;
    *x = saved;
    if (st != GRAFT_OK || out->kind != V_ACT) return st;
    if (im->outputs_defined > 1)
        return graftOnnxImpFail(im, GRAFT_E_INTERNAL, "a one-sample view of a node with %d outputs",
                                im->outputs_defined);
    y = *out;
    y.ndim = out->ndim - 1;
    memmove(y.dims, out->dims + 1, (size_t)y.ndim * sizeof *y.dims);
    int64_t dims[ONNX_MAX_RANK];
    dims[0] = 1;
    memcpy(dims + 1, y.dims, (size_t)y.ndim * sizeof *dims);
    return graftOnnxImpEmitReshape(im, &y, y.ndim + 1, dims, "unsample", out);
}

static int h_conv_1(imp *im, val *out) { return as_batched(im, out, h_conv); }
static int h_conv_transpose_1(imp *im, val *out) { return as_batched(im, out, h_conv_transpose); }
static int h_pool_1(imp *im, val *out) { return as_batched(im, out, h_pool); }
static int h_global_pool_1(imp *im, val *out) { return as_batched(im, out, h_global_pool); }
static int h_batch_norm_1(imp *im, val *out) { return as_batched(im, out, h_batch_norm); }

/* ---- the family --------------------------------------------------------------------- */

const graftOnnxOp graftOnnxOpsNn[] = {
    {"AveragePool", h_pool_1},
    {"BatchNormalization", h_batch_norm_1},
    {"Clip", h_clip},
    {"Conv", h_conv_1},
    {"ConvTranspose", h_conv_transpose_1},
    {"Gemm", h_gemm},
    {"GlobalAveragePool", h_global_pool_1},
    {"GlobalMaxPool", h_global_pool_1},
    {"HardSigmoid", h_hard_sigmoid},
    {"HardSwish", h_hard_swish},
    {"LayerNormalization", h_layer_norm},
    {"LeakyRelu", h_leaky_relu},
    {"MatMul", h_matmul},
    {"MaxPool", h_pool_1},
    {"Pad", h_pad},
    {"PRelu", h_prelu},
    {"ReduceMean", h_reduce_mean},
    {"Resize", h_resize},
    {"Softmax", h_softmax},
    {"Upsample", h_resize},
    {NULL, NULL},
};
