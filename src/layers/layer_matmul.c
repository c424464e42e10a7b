/*
 * layer_matmul.c - batched matrix product of two inputs (ONNX MatMul,
 * torch.matmul), as attention's Q K^T and attn V use it.
 *
 * Inputs A (N, ..., M, K) and B (N, ..., K, P) of one rank r >= 3 and one
 * batch size N. The axes between the batch and the last two broadcast: on
 * each, the sizes agree or one of them is 1 (that matrix is then used for
 * every index of the other). Output Y (N, ..., M, P), each leading axis
 * the larger size. Per matrix t of Y, with A(t) and B(t) the matrices it
 * reads:
 *   Y(t) = A(t) B(t)
 *   dA(s) = sum over the t reading A's matrix s of dY(t) B(t)^T
 *   dB(s) = sum over the t reading B's matrix s of A(t)^T dY(t)
 * Each product is one sgemm of src/core/blas.c.
 */
#include "layer.h"

#include <stdio.h>
#include <string.h>

typedef struct mm_state {
    int64_t m, k, p; /* set by infer_shape */
} mm_state;

static void shape_text(const graftShape *s, char *buf, size_t size)
{
    size_t pos = (size_t)snprintf(buf, size, "(N");
    for (int d = 1; d < s->ndim && pos < size; d++)
        pos += (size_t)snprintf(buf + pos, size - pos, ", %lld", (long long)s->dims[d]);
    if (pos < size) snprintf(buf + pos, size - pos, ")");
}

static int mm_infer_shape(graft_layer *l, int n_inputs, const graftShape *in, graftShape *out)
{
    mm_state *s = l->state;
    (void)n_inputs;
    const graftShape *a = &in[0], *b = &in[1];
    int r = a->ndim;
    int ok = a->ndim == b->ndim && r >= 3 && a->dims[r - 1] == b->dims[r - 2];
    for (int d = 1; ok && d < r - 2; d++)
        ok = a->dims[d] == b->dims[d] || a->dims[d] == 1 || b->dims[d] == 1;
    if (!ok) {
        char sa[160], sb[160];
        shape_text(a, sa, sizeof sa);
        shape_text(b, sb, sizeof sb);
        return graftError(l->ctx, GRAFT_E_SHAPE, "graft_layer_build",
                          "matmul layer: inputs of shapes %s and %s do not multiply (same rank "
                          ">= 3, (..., M, K) times (..., K, P), leading sizes equal or 1)",
                          sa, sb);
    }
    if (a->dims[r - 2] > INT32_MAX || a->dims[r - 1] > INT32_MAX || b->dims[r - 1] > INT32_MAX)
        return graftError(l->ctx, GRAFT_E_SHAPE, "graft_layer_build",
                          "matmul layer: a matrix side above 2^31 - 1");
    s->m = a->dims[r - 2];
    s->k = a->dims[r - 1];
    s->p = b->dims[r - 1];
    *out = *a;
    for (int d = 1; d < r - 2; d++)
        if (b->dims[d] > out->dims[d]) out->dims[d] = b->dims[d];
    out->dims[r - 1] = s->p;
    size_t numel;
    return graftShapeCheck(l->ctx, "graft_layer_build", out->ndim, out->dims, &numel);
}

/* The matrix indices of A and B that output matrix t reads. */
typedef struct mm_index {
    int lead;                       /* leading axes, the batch included */
    int64_t dims[GRAFT_MAX_DIMS];   /* the output's leading sizes */
    int64_t sa[GRAFT_MAX_DIMS], sb[GRAFT_MAX_DIMS]; /* matrix strides, 0 where broadcast */
    size_t count;                   /* output matrices */
} mm_index;

static void index_init(mm_index *ix, const graft_tensor *a, const graft_tensor *b,
                       const graft_tensor *y)
{
    int lead = y->ndim - 2;
    int64_t acc_a = 1, acc_b = 1;
    ix->lead = lead;
    ix->count = 1;
    for (int d = lead - 1; d >= 0; d--) {
        ix->dims[d] = y->dims[d];
        ix->sa[d] = a->dims[d] == 1 && y->dims[d] != 1 ? 0 : acc_a;
        ix->sb[d] = b->dims[d] == 1 && y->dims[d] != 1 ? 0 : acc_b;
        acc_a *= a->dims[d];
        acc_b *= b->dims[d];
        ix->count *= (size_t)y->dims[d];
    }
}

static void index_of(const mm_index *ix, size_t t, size_t *ia, size_t *ib)
{
    size_t oa = 0, ob = 0;
    for (int d = ix->lead - 1; d >= 0; d--) {
        size_t i = t % (size_t)ix->dims[d];
        t /= (size_t)ix->dims[d];
        oa += i * (size_t)ix->sa[d];
        ob += i * (size_t)ix->sb[d];
    }
    *ia = oa;
    *ib = ob;
}

static int mm_forward(graft_layer *l, const graft_tensor *const *in, graft_tensor *out)
{
    const mm_state *s = l->state;
    int m = (int)s->m, k = (int)s->k, p = (int)s->p;
    mm_index ix;
    index_init(&ix, in[0], in[1], out);
    for (size_t t = 0; t < ix.count; t++) {
        size_t ia, ib;
        index_of(&ix, t, &ia, &ib);
        graftSgemm(l->ctx, 0, 0, m, p, k, 1.0f, in[0]->data + ia * (size_t)(m * (int64_t)k), k,
                   in[1]->data + ib * (size_t)(k * (int64_t)p), p, 0.0f,
                   out->data + t * (size_t)(m * (int64_t)p), p);
    }
    return GRAFT_OK;
}

static int mm_backward(graft_layer *l, const graft_tensor *const *in, const graft_tensor *out,
                       const graft_tensor *dout, graft_tensor *const *din)
{
    const mm_state *s = l->state;
    int m = (int)s->m, k = (int)s->k, p = (int)s->p;
    size_t mk = (size_t)(m * (int64_t)k), kp = (size_t)(k * (int64_t)p),
           mp = (size_t)(m * (int64_t)p);
    mm_index ix;
    index_init(&ix, in[0], in[1], out);
    if (din[0]) memset(din[0]->data, 0, din[0]->numel * sizeof(float));
    if (din[1]) memset(din[1]->data, 0, din[1]->numel * sizeof(float));
    for (size_t t = 0; t < ix.count; t++) {
        size_t ia, ib;
        index_of(&ix, t, &ia, &ib);
        const float *dy = dout->data + t * mp;
        if (din[0]) /* dA += dY B^T: (M, P) (P, K) */
            graftSgemm(l->ctx, 0, 1, m, k, p, 1.0f, dy, p, in[1]->data + ib * kp, p, 1.0f,
                       din[0]->data + ia * mk, k);
        if (din[1]) /* dB += A^T dY: (K, M) (M, P) */
            graftSgemm(l->ctx, 1, 0, k, p, m, 1.0f, in[0]->data + ia * mk, k, dy, p, 1.0f,
                       din[1]->data + ib * kp, p);
    }
    return GRAFT_OK;
}

/* 2 * K per output element. */
static int64_t mm_flops(const graft_layer *l)
{
    const mm_state *s = l->state;
    return 2 * s->k * graftShapeSampleNumel(&l->out_shape);
}

/* ONNX: MatMul (the same broadcasting). */
static int mm_onnx_export(const graft_layer *l, graftOnnxOut *o)
{
    (void)l;
    graftOnnxNodeSame(o, "MatMul");
    return GRAFT_OK;
}

const graftLayerVtbl graftMatmulVtbl = {
    .kind = "matmul",
    .version = 1,
    .state_size = sizeof(mm_state),
    .min_inputs = 2,
    .max_inputs = 2,
    .infer_shape = mm_infer_shape,
    .forward = mm_forward,
    .backward = mm_backward,
    .flops = mm_flops,
    .backward_ignores_output = 1,
    .onnx_export = mm_onnx_export,
};

GRAFT_API int graft_layer_matmul(graft_ctx *ctx, graft_layer **out)
{
    graftClearError(ctx);
    if (out) *out = NULL;
    GRAFT_RETURN_IF(!ctx, NULL, GRAFT_E_INVALID_ARG, "ctx is NULL");
    GRAFT_RETURN_IF(!out, ctx, GRAFT_E_INVALID_ARG, "out is NULL");
    return graftLayerNew(ctx, &graftMatmulVtbl, __func__, out);
}
