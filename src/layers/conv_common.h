/*
 * conv_common.h - what layer_conv2d.c, conv_depthwise.c and
 * layer_conv_transpose2d.c share: the parameters and their initialisation,
 * the sizes of one convolution call, the outputs a kernel tap reads inside
 * the input, and two row kernels.
 *
 * All static inline, so each file compiles its own copy and neither calls
 * the other for them. The row kernels are unrolled by 8 with independent
 * lanes so that a compiler vectorises them at -O2 (straight-line code),
 * whatever its loop cost model, and are compiled per CPU (GRAFT_VECTOR_CLONES,
 * vec.h); both copies compute the same values in a file that does not
 * contract multiply-adds, which the files including this one do not.
 */
#ifndef GRAFT_CONV_COMMON_H
#define GRAFT_CONV_COMMON_H

#include "core/vec.h"
#include "layer.h"

#include <math.h>
#include <stddef.h>
#include <string.h>
#include <stdint.h>

/* Per-call sizes of a conv2d layer (layer_conv2d.c fills them from its
 * state): input (N, C, H, W), output (N, O, OH, OW), G groups. */
typedef struct graftConvDims {
    int c, h, w, o, oh, ow;
    int groups, cg, og; /* G, C/G, O/G */
    int k;      /* Cg * KH * KW: rows of the column matrix */
    int p;      /* OH * OW */
    size_t hw;  /* H * W */
    int direct; /* 1x1, stride 1, no padding: the input is the column matrix */
} graftConvDims;

/* floor(a / b) for b > 0 */
static inline int64_t graftConvFloorDiv(int64_t a, int64_t b)
{
    return a >= 0 ? a / b : -((-a + b - 1) / b);
}

/* The outputs t in [*lo, *hi) of [0, n_out) whose input coordinate
 * t*stride + off lies in [0, size). */
static inline void graftConvTapRange(int64_t off, int stride, int size, int n_out, int *lo,
                                     int *hi)
{
    int64_t a = -graftConvFloorDiv(off, stride); /* ceil(-off / stride) */
    int64_t b = graftConvFloorDiv((int64_t)size - 1 - off, stride) + 1;
    if (a < 0) a = 0;
    if (a > n_out) a = n_out;
    if (b > n_out) b = n_out;
    if (b < a) b = a;
    *lo = (int)a;
    *hi = (int)b;
}

/* d[t] += s[t] for t < n */
GRAFT_VECTOR_CLONES
static inline void graftConvRowAdd(float *restrict d, const float *restrict s, int n)
{
    int t = 0;
    for (; t + 8 <= n; t += 8) {
        d[t] += s[t];
        d[t + 1] += s[t + 1];
        d[t + 2] += s[t + 2];
        d[t + 3] += s[t + 3];
        d[t + 4] += s[t + 4];
        d[t + 5] += s[t + 5];
        d[t + 6] += s[t + 6];
        d[t + 7] += s[t + 7];
    }
    for (; t < n; t++) d[t] += s[t];
}

/* sum of a[t] * b[t] for t < n, or of a[t] when b is NULL: eight lanes,
 * then a fixed pairwise order. */
GRAFT_VECTOR_CLONES
static inline float graftConvRowDot(const float *restrict a, const float *restrict b, int n)
{
    float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0}, tail = 0.0f;
    int t = 0;
    if (b) {
        for (; t + 8 <= n; t += 8)
            for (int u = 0; u < 8; u++) acc[u] += a[t + u] * b[t + u];
        for (; t < n; t++) tail += a[t] * b[t];
    } else {
        for (; t + 8 <= n; t += 8)
            for (int u = 0; u < 8; u++) acc[u] += a[t + u];
        for (; t < n; t++) tail += a[t];
    }
    return ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7])) +
           tail;
}

/* The parameters of a convolution or a transposed one: "weight" (d0, d1,
 * kh, kw) and, with bias, "bias" (out_channels). Returns their count. */
static inline int graftConvDeclareParams(graftParamDecl *decl, int64_t d0, int64_t d1, int kh,
                                         int kw, int out_channels, int bias)
{
    decl[0] = (graftParamDecl){"weight", {4, {d0, d1, kh, kw}}, 1};
    if (!bias) return 1;
    decl[1] = (graftParamDecl){"bias", {1, {out_channels}}, 1};
    return 2;
}

/* He uniform over fan_in for the weight (the first parameter), a zero bias
 * (the second, when there is one). */
static inline void graftConvInitParams(graft_layer *l, graftRng *rng, double fan_in)
{
    graftFillUniform(l->params[0].value, rng, (float)sqrt(6.0 / fan_in));
    if (l->n_params > 1) {
        graft_tensor *b = l->params[1].value;
        memset(b->data, 0, b->numel * sizeof *b->data);
    }
}

#endif /* GRAFT_CONV_COMMON_H */
