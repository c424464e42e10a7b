/*
 * conv_winograd.h - stride-1 convolutions by Winograd's minimal filtering
 * algorithm, used by layer_conv2d.c.
 *
 * F(m x m, r x r) computes an m x m block of outputs of an r x r kernel from
 * an a x a block of input (a = m + r - 1, here always 6) with a*a products
 * instead of m*m*r*r: 36 against 144 for F(4x4, 3x3), 36 against 100 for
 * F(2x2, 5x5). With U = G g G^T (kernel), V = B^T d B (input tile) and
 * Y = A^T (U .* V) A (output tile), summed over input channels the a*a
 * element-wise products become a*a matrix products, which go to the BLAS:
 *   M[xi] (O x T) = U[xi] (O x C) V[xi] (C x T),  xi < a*a, T tiles.
 * The backward pass is the exact adjoint of each of these linear steps, so it
 * is the gradient of what the forward computes.
 *
 * Rounding: the transforms cost a few float roundings, so outputs differ from
 * the direct sum by about 1e-6 relative to the output's scale (F(4x4, 3x3)
 * with the points 0, 1, -1, 2, -2).
 *
 * Threads: the transforms of a call run on p->workers threads (parallel.h),
 * split by channel, with the same results for any count. None of these keep
 * state; a plan and its workspace are the caller's.
 */
#ifndef GRAFT_CONV_WINOGRAD_H
#define GRAFT_CONV_WINOGRAD_H

#include "layer.h"

#define GRAFT_WINOGRAD_A 6 /* input tile side */

/* How a transform runs: products with the dense matrix, or one of the fixed
 * kernels of conv_winograd.c (B^T, B, A^T and A for m = 4 and m = 2). */
enum {
    GRAFT_WINOGRAD_DENSE,
    GRAFT_WINOGRAD_BT,
    GRAFT_WINOGRAD_B,
    GRAFT_WINOGRAD_AT4,
    GRAFT_WINOGRAD_A4,
    GRAFT_WINOGRAD_AT2,
    GRAFT_WINOGRAD_A2
};

/* A rows x cols coefficient matrix (at most a x a). */
typedef struct graftWinogradCoefs {
    int kind; /* GRAFT_WINOGRAD_DENSE or a fixed kernel computing val */
    int rows, cols;
    float val[GRAFT_WINOGRAD_A][GRAFT_WINOGRAD_A];
} graftWinogradCoefs;

typedef struct graftWinograd {
    /* the convolution: input (n, c, h, w), kernel (o, c, r, r), output
     * (n, o, oh, ow), stride 1, dilation 1, one group */
    int n, c, h, w, o, oh, ow, r, pad_top, pad_left;
    /* tiling */
    int m;              /* output tile side: 4 for r = 3, 2 for r = 5 */
    int tiles_y, tiles_x; /* tiles per image: rows, columns */
    int rows_per_chunk; /* tile rows whose products are taken together */
    int chunk_tiles;    /* rows_per_chunk * tiles_x rounded up to a multiple
                           of 8: the matrices' ld */
    /* tile columns [col_lo[l], col_hi[l]) read input column tx*m + l -
     * pad_left inside the image; tiles [0, out_hi[b]) write output column
     * tx*m + b inside the output */
    int col_lo[GRAFT_WINOGRAD_A], col_hi[GRAFT_WINOGRAD_A], out_hi[4];
    int workers;        /* threads the transforms run on (parallel.h) */
    /* each transform L x L^T and its adjoint, as the matrix L: B^T (a x a),
     * A^T (m x a) and G (a x r), built by conv_winograd.c */
    graftWinogradCoefs input_fwd, input_adj;   /* B^T, B */
    graftWinogradCoefs output_fwd, output_adj; /* A^T, A */
    graftWinogradCoefs kernel_fwd, kernel_adj; /* G, G^T */
} graftWinograd;

/* Fills *p for a stride-1, dilation-1, one-group r x r convolution of that
 * size and returns 1, or returns 0 when this module does not take it: a
 * kernel other than 3x3 and 5x5, or, unless always, too few channels or
 * tiles for the transforms to pay off. */
int graftWinogradPlan(graftWinograd *p, int n, int c, int h, int w, int o, int oh, int ow, int r,
                      int pad_top, int pad_left, int always);

/* Floats of workspace the forward (backward = 0) or backward (1) needs. */
size_t graftWinogradWorkspace(const graftWinograd *p, int backward);

/* y = conv(x, wt) + bias (bias may be NULL); with ep, every output row then
 * goes through graftEpiloguePlane() (the fused batch norm and activation). */
void graftWinogradForward(const graft_ctx *ctx, const graftWinograd *p, const float *x,
                          const float *wt, const float *bias, float *y, float *work,
                          const graftEpilogue *ep);

/* Given dy, overwrites dw (when not NULL) with the kernel gradient and dx
 * (when not NULL) with the input gradient. The bias gradient is the caller's. */
void graftWinogradBackward(const graft_ctx *ctx, const graftWinograd *p, const float *x,
                           const float *wt, const float *dy, float *dw, float *dx, float *work);

#endif /* GRAFT_CONV_WINOGRAD_H */
