/*
 * layer_transpose.c - a permutation of the axes after the batch.
 *
 * Input X of rank r (2 to GRAFT_MAX_DIMS); perm is a permutation of
 * 0 .. r-1 with perm[0] == 0 (the batch axis stays first). Output Y has
 * dims[d] = X.dims[perm[d]] and
 *   Y[i_0, ..., i_{r-1}] = X[j] with j[perm[d]] = i_d,
 * as ONNX Transpose and torch.permute define it. Backward is the same copy
 * with the inverse permutation: dX = transpose(dY, perm^-1).
 *
 * The copy walks strides: axes of size 1 are dropped and axes that stay
 * next to each other in the same order are merged first. When the last
 * output axis is also the last input axis, each output row is one memcpy;
 * otherwise the two axes that are innermost in the input and in the output
 * are copied in square tiles, so that reads and writes both stay within a
 * few cache lines. The other axes advance by an odometer of offsets: no
 * division per element. Runs of samples go to graft's worker threads
 * (core/parallel.h).
 */
#include "layer.h"
#include "core/parallel.h"

#include <stdio.h>
#include <string.h>

typedef struct transpose_state {
    int ndim;                  /* rank with the batch axis */
    int perm[GRAFT_MAX_DIMS];  /* perm[0] == 0; entries from ndim on are d */
} transpose_state;

/* Checks a permutation as the constructor and load take it. */
static int transpose_check(graft_ctx *ctx, const char *func, int ndim, const int *perm)
{
    GRAFT_RETURN_IF_AT(ndim < 2 || ndim > GRAFT_MAX_DIMS, ctx, GRAFT_E_INVALID_ARG, func,
                       "ndim is %d, must be 2 to %d (the rank with the batch axis)", ndim,
                       GRAFT_MAX_DIMS);
    GRAFT_RETURN_IF_AT(!perm, ctx, GRAFT_E_INVALID_ARG, func, "perm is NULL");
    int seen[GRAFT_MAX_DIMS] = {0};
    for (int d = 0; d < ndim; d++) {
        GRAFT_RETURN_IF_AT(perm[d] < 0 || perm[d] >= ndim || seen[perm[d]]++, ctx,
                           GRAFT_E_INVALID_ARG, func,
                           "perm[%d] is %d; perm must hold each of 0 to %d once", d, perm[d],
                           ndim - 1);
    }
    GRAFT_RETURN_IF_AT(perm[0] != 0, ctx, GRAFT_E_INVALID_ARG, func,
                       "perm[0] is %d, must be 0: the batch axis stays first", perm[0]);
    return GRAFT_OK;
}

static int transpose_infer_shape(graft_layer *l, int n_inputs, const graftShape *in,
                                 graftShape *out)
{
    const transpose_state *s = l->state;
    (void)n_inputs;
    if (in[0].ndim != s->ndim) {
        char got[160];
        graftShapeString(in[0].ndim, in[0].dims, got, sizeof got);
        return graftError(l->ctx, GRAFT_E_SHAPE, "graft_layer_build",
                          "transpose layer: the input %s has rank %d, perm has %d entries",
                          got, in[0].ndim, s->ndim);
    }
    out->ndim = s->ndim;
    for (int d = 0; d < s->ndim; d++) out->dims[d] = in[0].dims[s->perm[d]];
    return GRAFT_OK;
}

/* Output elements per tile side of the two-axis copy. */
#define TILE 32

/* y (contiguous, dims od) = x read with stride is[d] along output axis d:
 * the copy of the file's comment, for r simplified axes (no size 1, no two
 * mergeable). */
static void strided_copy(float *y, const float *x, int r, const int64_t *od, const int64_t *is)
{
    int64_t os[GRAFT_MAX_DIMS];
    int64_t acc = 1;
    for (int d = r - 1; d >= 0; d--) {
        os[d] = acc;
        acc *= od[d];
    }
    if (r == 0) {
        y[0] = x[0];
        return;
    }
    int a = r - 1, b = -1; /* a: innermost in y; b: innermost in x, when not a */
    if (is[a] != 1)
        for (int d = 0; d < r - 1; d++)
            if (is[d] == 1) b = d;
    /* the odometer's axes: every axis but a (and b) */
    int ax[GRAFT_MAX_DIMS], n = 0;
    for (int d = 0; d < r; d++)
        if (d != a && d != b) ax[n++] = d;
    int64_t idx[GRAFT_MAX_DIMS] = {0};
    int64_t xo = 0, yo = 0;
    for (;;) {
        if (b < 0) {
            if (is[a] == 1) {
                memcpy(y + yo, x + xo, (size_t)od[a] * sizeof(float));
            } else {
                const float *xp = x + xo;
                float *yp = y + yo;
                const int64_t st = is[a];
                for (int64_t j = 0; j < od[a]; j++) yp[j] = xp[j * st];
            }
        } else {
            const int64_t na = od[a], nb = od[b], sa = is[a], ob = os[b];
            for (int64_t i0 = 0; i0 < nb; i0 += TILE) {
                const int64_t i1 = i0 + TILE < nb ? i0 + TILE : nb;
                for (int64_t j0 = 0; j0 < na; j0 += TILE) {
                    const int64_t j1 = j0 + TILE < na ? j0 + TILE : na;
                    for (int64_t i = i0; i < i1; i++) {
                        const float *xp = x + xo + i;
                        float *yp = y + yo + i * ob;
                        for (int64_t j = j0; j < j1; j++) yp[j] = xp[j * sa];
                    }
                }
            }
        }
        int k = n - 1;
        for (; k >= 0; k--) {
            int d = ax[k];
            xo += is[d];
            yo += os[d];
            if (++idx[k] < od[d]) break;
            xo -= is[d] * od[d];
            yo -= os[d] * od[d];
            idx[k] = 0;
        }
        if (k < 0) return;
    }
}

/* y = x (dims xd, rank r) with its axes permuted by perm. */
static void permute(float *y, const float *x, int r, const int64_t *xd, const int *perm)
{
    int64_t xs[GRAFT_MAX_DIMS], od[GRAFT_MAX_DIMS], is[GRAFT_MAX_DIMS];
    int64_t acc = 1;
    for (int d = r - 1; d >= 0; d--) {
        xs[d] = acc;
        acc *= xd[d];
    }
    /* output axes in order, size-1 axes dropped, an axis merged into the one
     * before it when it follows it in x too */
    int n = 0, prev = -1;
    for (int d = 0; d < r; d++) {
        int p = perm[d];
        if (xd[p] == 1) continue;
        if (n > 0 && prev >= 0 && xs[prev] == xd[p] * xs[p]) {
            /* axis p is the next inner axis of x after prev, skipping none
             * of size > 1: one axis of od[n-1] * xd[p] with stride xs[p] */
            od[n - 1] *= xd[p];
            is[n - 1] = xs[p];
        } else {
            od[n] = xd[p];
            is[n] = xs[p];
            n++;
        }
        prev = p;
    }
    strided_copy(y, x, n, od, is);
}

/* A forward or backward pass: y = x permuted by perm, split over the batch
 * (the batch axis stays first, so a run of samples is contiguous in both). */
typedef struct permute_pass {
    float *y;
    const float *x;
    int r;
    int64_t dims[GRAFT_MAX_DIMS]; /* x's, batch included */
    const int *perm;
    size_t sample;                /* elements per sample */
} permute_pass;

static void permute_range(void *arg, int b0, int b1, int worker)
{
    const permute_pass *p = arg;
    int64_t d[GRAFT_MAX_DIMS];
    (void)worker;
    memcpy(d, p->dims, sizeof d);
    d[0] = b1 - b0;
    permute(p->y + (size_t)b0 * p->sample, p->x + (size_t)b0 * p->sample, p->r, d, p->perm);
}

static void permute_batch(float *y, const float *x, int r, const int64_t *dims, const int *perm)
{
    permute_pass p;
    p.y = y;
    p.x = x;
    p.r = r;
    memcpy(p.dims, dims, (size_t)r * sizeof *dims);
    p.perm = perm;
    p.sample = 1;
    for (int d = 1; d < r; d++) p.sample *= (size_t)dims[d];
    int n = (int)dims[0]; /* batches are at most GRAFT_LAYER_MAX_BATCH */
    /* each element read and written once */
    graftParallelFor(n, graftParallelWorkers(n, 2.0 * (double)p.sample), permute_range, &p);
}

static int transpose_forward(graft_layer *l, const graft_tensor *const *in, graft_tensor *out)
{
    const transpose_state *s = l->state;
    permute_batch(out->data, in[0]->data, s->ndim, in[0]->dims, s->perm);
    return GRAFT_OK;
}

static int transpose_backward(graft_layer *l, const graft_tensor *const *in,
                              const graft_tensor *out, const graft_tensor *dout,
                              graft_tensor *const *din)
{
    const transpose_state *s = l->state;
    (void)in;
    (void)out;
    if (!din[0]) return GRAFT_OK;
    int inv[GRAFT_MAX_DIMS];
    for (int d = 0; d < s->ndim; d++) inv[s->perm[d]] = d;
    permute_batch(din[0]->data, dout->data, s->ndim, dout->dims, inv);
    return GRAFT_OK;
}

static const graftAttrDecl transpose_attrs[] = {
    {"rank", GRAFT_ATTR_INT, offsetof(transpose_state, ndim), 1},
    {"perm", GRAFT_ATTR_INT, offsetof(transpose_state, perm), GRAFT_MAX_DIMS},
    {NULL, GRAFT_ATTR_INT, 0, 0},
};

/* The record is the attribute table: the rank, then GRAFT_MAX_DIMS entries
 * of perm (those from the rank on hold their own index). */
static int transpose_save(const graft_layer *l, graftWriter *w)
{
    return graftLayerWriteAttrs(l, w);
}

static int transpose_load(graft_layer *l, graftReader *r, uint32_t version)
{
    transpose_state *s = l->state, read = *s;
    (void)version;
    GRAFT_FORWARD_IF_ERROR(graftLayerReadAttrs(l, r, &read));
    if (transpose_check(l->ctx, "graft_load", read.ndim, read.perm) != GRAFT_OK)
        return GRAFT_E_FORMAT;
    for (int d = read.ndim; d < GRAFT_MAX_DIMS; d++)
        if (read.perm[d] != d)
            return graftError(l->ctx, GRAFT_E_FORMAT, "graft_load",
                              "transpose layer: perm[%d] is %d beyond the rank %d, must be %d",
                              d, read.perm[d], read.ndim, d);
    *s = read;
    return GRAFT_OK;
}

static int64_t transpose_flops(const graft_layer *l)
{
    (void)l;
    return 0;
}

/* ONNX: Transpose with perm (the batch axis included, perm[0] == 0). */
static int transpose_onnx_export(const graft_layer *l, graftOnnxOut *o)
{
    const transpose_state *s = l->state;
    int64_t perm[GRAFT_MAX_DIMS];
    for (int d = 0; d < s->ndim; d++) perm[d] = s->perm[d];
    size_t n = graftOnnxNodeBegin(o, "Transpose", NULL, 1, o->inputs, o->output);
    graftOnnxAttrInts(o, "perm", s->ndim, perm);
    graftOnnxNodeEnd(o, n);
    return GRAFT_OK;
}

const graftLayerVtbl graftTransposeVtbl = {
    .kind = "transpose",
    .version = 1,
    .state_size = sizeof(transpose_state),
    .min_inputs = 1,
    .max_inputs = 1,
    .infer_shape = transpose_infer_shape,
    .forward = transpose_forward,
    .backward = transpose_backward,
    .backward_ignores_output = 1,
    .save = transpose_save,
    .load = transpose_load,
    .flops = transpose_flops,
    .attrs = transpose_attrs,
    .onnx_export = transpose_onnx_export,
};

GRAFT_API int graft_layer_transpose(graft_ctx *ctx, int ndim, const int *perm,
                                    graft_layer **out)
{
    graftClearError(ctx);
    if (out) *out = NULL;
    GRAFT_RETURN_IF(!ctx, NULL, GRAFT_E_INVALID_ARG, "ctx is NULL");
    GRAFT_RETURN_IF(!out, ctx, GRAFT_E_INVALID_ARG, "out is NULL");
    GRAFT_FORWARD_IF_ERROR(transpose_check(ctx, __func__, ndim, perm));
    graft_layer *l;
    GRAFT_FORWARD_IF_ERROR(graftLayerNew(ctx, &graftTransposeVtbl, __func__, &l));
    transpose_state *s = l->state;
    s->ndim = ndim;
    for (int d = 0; d < GRAFT_MAX_DIMS; d++) s->perm[d] = d < ndim ? perm[d] : d;
    *out = l;
    return GRAFT_OK;
}
