/*
 * layer_mul.c - elementwise product of two inputs with broadcasting.
 *
 * Inputs a and b have one rank r >= 2 and one batch size N; on every other
 * axis d their sizes agree or one of them is 1, and the output y has the
 * larger size D[d]. A size-1 axis repeats its values along y's axis (the
 * broadcasting of NumPy and ONNX for equal ranks), so a squeeze-excitation
 * gate (N, C, 1, 1) scales every position of (N, C, H, W). With a(i) and b(i)
 * the elements of a and b that output index i reads:
 *   y[i]  = a(i) * b(i)
 *   da[j] = sum over the i with a(i) = a[j] of dy[i] * b(i)
 *   db[j] = sum over the i with b(i) = b[j] of dy[i] * a(i)
 * (a plain product da = dy * b when a is not broadcast).
 */
#include "layer.h"

#include <stdio.h>
#include <string.h>

/* Element strides of an input of shape dims read against the output shape
 * out: 0 on the axes where the input has 1 and the output more. */
static void bcast_strides(int ndim, const int64_t *dims, const int64_t *out, int64_t *st)
{
    int64_t acc = 1;
    for (int d = ndim - 1; d >= 0; d--) {
        st[d] = (dims[d] == 1 && out[d] != 1) ? 0 : acc;
        acc *= dims[d];
    }
}

/* Calls the row kernel for every row (last axis) of the output, with the
 * offsets of the matching rows of a and b. */
typedef struct mul_iter {
    int ndim;
    int64_t dims[GRAFT_MAX_DIMS];
    int64_t sa[GRAFT_MAX_DIMS], sb[GRAFT_MAX_DIMS];
} mul_iter;

static void iter_init(mul_iter *it, const graft_tensor *a, const graft_tensor *b,
                      const graft_tensor *y)
{
    it->ndim = y->ndim;
    memcpy(it->dims, y->dims, sizeof it->dims);
    bcast_strides(y->ndim, a->dims, y->dims, it->sa);
    bcast_strides(y->ndim, b->dims, y->dims, it->sb);
}

/* mode 0: y = a * b; mode 1: da += dy * b; mode 2: db += dy * a. */
static void run(const mul_iter *it, int mode, const float *a, const float *b, float *y,
                const float *dy)
{
    int last = it->ndim - 1;
    int64_t inner = it->dims[last], ia = it->sa[last], ib = it->sb[last];
    int64_t idx[GRAFT_MAX_DIMS] = {0};
    size_t rows = 1;
    for (int d = 0; d < last; d++) rows *= (size_t)it->dims[d];
    for (size_t row = 0; row < rows; row++) {
        int64_t oa = 0, ob = 0;
        for (int d = 0; d < last; d++) {
            oa += idx[d] * it->sa[d];
            ob += idx[d] * it->sb[d];
        }
        size_t base = row * (size_t)inner;
        if (mode == 0) {
            for (int64_t j = 0; j < inner; j++) y[base + j] = a[oa + j * ia] * b[ob + j * ib];
        } else if (mode == 1) {
            float *da = y;
            for (int64_t j = 0; j < inner; j++) da[oa + j * ia] += dy[base + j] * b[ob + j * ib];
        } else {
            float *db = y;
            for (int64_t j = 0; j < inner; j++) db[ob + j * ib] += dy[base + j] * a[oa + j * ia];
        }
        for (int d = last - 1; d >= 0; d--) {
            if (++idx[d] < it->dims[d]) break;
            idx[d] = 0;
        }
    }
}

static void sample_shape_string(const graftShape *s, char *buf, size_t size)
{
    size_t pos = (size_t)snprintf(buf, size, "(N");
    for (int d = 1; d < s->ndim && pos < size; d++)
        pos += (size_t)snprintf(buf + pos, size - pos, ", %lld", (long long)s->dims[d]);
    if (pos < size) snprintf(buf + pos, size - pos, ")");
}

static int mul_infer_shape(graft_layer *l, int n_inputs, const graftShape *in, graftShape *out)
{
    (void)n_inputs;
    int ok = in[0].ndim == in[1].ndim && in[0].ndim >= 2;
    for (int d = 1; ok && d < in[0].ndim; d++)
        ok = in[0].dims[d] == in[1].dims[d] || in[0].dims[d] == 1 || in[1].dims[d] == 1;
    if (!ok) {
        char a[160], b[160];
        sample_shape_string(&in[0], a, sizeof a);
        sample_shape_string(&in[1], b, sizeof b);
        return graftError(l->ctx, GRAFT_E_SHAPE, "graft_layer_build",
                          "mul layer: inputs of shapes %s and %s do not broadcast (same rank "
                          ">= 2, each size equal or 1)",
                          a, b);
    }
    *out = in[0];
    for (int d = 1; d < in[0].ndim; d++)
        if (in[1].dims[d] > out->dims[d]) out->dims[d] = in[1].dims[d];
    return GRAFT_OK;
}

static int mul_forward(graft_layer *l, const graft_tensor *const *in, graft_tensor *out)
{
    mul_iter it;
    (void)l;
    iter_init(&it, in[0], in[1], out);
    run(&it, 0, in[0]->data, in[1]->data, out->data, NULL);
    return GRAFT_OK;
}

static int mul_backward(graft_layer *l, const graft_tensor *const *in, const graft_tensor *out,
                        const graft_tensor *dout, graft_tensor *const *din)
{
    mul_iter it;
    (void)l;
    iter_init(&it, in[0], in[1], out);
    if (din[0]) {
        memset(din[0]->data, 0, din[0]->numel * sizeof(float));
        run(&it, 1, in[0]->data, in[1]->data, din[0]->data, dout->data);
    }
    if (din[1]) {
        memset(din[1]->data, 0, din[1]->numel * sizeof(float));
        run(&it, 2, in[0]->data, in[1]->data, din[1]->data, dout->data);
    }
    return GRAFT_OK;
}

/* ONNX: Mul (broadcasting as graft's mul does). */
static int mul_onnx_export(const graft_layer *l, graftOnnxOut *o)
{
    (void)l;
    graftOnnxNodeSame(o, "Mul");
    return GRAFT_OK;
}

const graftLayerVtbl graftMulVtbl = {
    .kind = "mul",
    .version = 1,
    .min_inputs = 2,
    .max_inputs = 2,
    .infer_shape = mul_infer_shape,
    .forward = mul_forward,
    .backward = mul_backward,
    .onnx_export = mul_onnx_export,
};

GRAFT_API int graft_layer_mul(graft_ctx *ctx, graft_layer **out)
{
    graftClearError(ctx);
    if (out) *out = NULL;
    GRAFT_RETURN_IF(!ctx, NULL, GRAFT_E_INVALID_ARG, "ctx is NULL");
    GRAFT_RETURN_IF(!out, ctx, GRAFT_E_INVALID_ARG, "out is NULL");
    return graftLayerNew(ctx, &graftMulVtbl, __func__, out);
}
