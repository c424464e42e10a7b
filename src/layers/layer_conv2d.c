/*
 * layer_conv2d.c - 2-D convolution over NCHW input.
 *
 * Input X (N, C, H, W), weight Wt (O, C/G, KH, KW), bias b (O), output
 * Y (N, O, OH, OW), G groups. Per image n and group g, with Cg = C/G,
 * Og = O/G, K = Cg*KH*KW and P = OH*OW, the convolution is one matrix
 * product over the image's column matrix col (K x P), whose row
 * (c*KH + i)*KW + j holds X[n, g*Cg + c, y*SH - PT + i*DH, x*SW - PL + j*DW]
 * at column y*OW + x (zero outside the input):
 *   Y_g   = Wt_g col + b_g         (Og x P)
 *   dWt_g = sum_n dY_g col^T       (Og x K), accumulated image by image
 *   db    = sum over n, y, x of dY
 *   dcol  = Wt_g^T dY_g            (K x P), added back (col2im) into dX.
 *
 * Special cases:
 *  - a 1x1 kernel with stride 1 and no padding: col is the input itself
 *    (Cg x H*W, contiguous in NCHW), so no copy is made;
 *  - small images (P < MIN_PRODUCT_COLS): the column matrices of several
 *    images sit side by side (K x m*P) so that one product covers them;
 *    outputs and output gradients pass through an Og x m*P block;
 *  - Cg == 1 with at most 4 outputs per input channel (depthwise): direct
 *    loops per output channel, row by row, no matrix product;
 *  - 3x3 and 5x5 kernels with stride 1 and 16 or more channels each way:
 *    Winograd's algorithm (conv_winograd.h).
 * The column matrices live in the layer's scratch (layer.h): its own for a
 * standalone layer, the model's (shared by all its layers) in a model. It is
 * used within one call only, grows only when a build or a larger batch needs
 * more, and is freed with its holder.
 *
 * graftConv2dForwardFused() runs the same forward and passes each output
 * plane, right after it is computed, through a per-channel epilogue (the
 * affine step of an inference-mode batch norm, then relu or clip), so that
 * a model runs conv2d -> batch_norm -> activation in one sweep.
 */
#include "conv_winograd.h"
#include "layer.h"
#include "core/parallel.h"
#include "core/vec.h"

#include <limits.h>
#include <math.h>
#include <string.h>

typedef struct conv2d_state {
    graft_conv2d_spec spec; /* validated attributes */
    /* set by infer_shape */
    int in_c, in_h, in_w, out_h, out_w;
} conv2d_state;

/* ---- geometry ------------------------------------------------------------- */

static int64_t floor_div(int64_t a, int64_t b) /* b > 0 */
{
    return a >= 0 ? a / b : -((-a + b - 1) / b);
}

/* floor((size + pad_a + pad_b - dilation*(kernel-1) - 1) / stride) + 1 */
static int64_t out_size(int64_t size, int pad_a, int pad_b, int dilation, int kernel, int stride)
{
    int64_t span = (int64_t)dilation * (kernel - 1) + 1;
    return floor_div(size + pad_a + pad_b - span, stride) + 1;
}

/* The outputs t in [*lo, *hi) of [0, n_out) whose input coordinate
 * t*stride + off lies in [0, size). */
static void tap_range(int64_t off, int stride, int size, int n_out, int *lo, int *hi)
{
    int64_t a = -floor_div(off, stride); /* ceil(-off / stride) */
    int64_t b = floor_div((int64_t)size - 1 - off, stride) + 1;
    if (a < 0) a = 0;
    if (a > n_out) a = n_out;
    if (b > n_out) b = n_out;
    if (b < a) b = a;
    *lo = (int)a;
    *hi = (int)b;
}

/* Per-call sizes derived from the state. */
typedef struct conv_dims {
    int c, h, w, o, oh, ow;
    int groups, cg, og;
    int k;     /* Cg * KH * KW: rows of the column matrix */
    int p;     /* OH * OW */
    size_t hw; /* H * W */
    int direct; /* 1x1, stride 1, no padding: the input is the column matrix */
} conv_dims;

static conv_dims get_dims(const conv2d_state *s)
{
    const graft_conv2d_spec *sp = &s->spec;
    conv_dims d;
    d.c = s->in_c;
    d.h = s->in_h;
    d.w = s->in_w;
    d.o = sp->out_channels;
    d.oh = s->out_h;
    d.ow = s->out_w;
    d.groups = sp->groups;
    d.cg = d.c / d.groups;
    d.og = d.o / d.groups;
    d.k = d.cg * sp->kernel_h * sp->kernel_w;
    d.p = d.oh * d.ow;
    d.hw = (size_t)d.h * (size_t)d.w;
    d.direct = sp->kernel_h == 1 && sp->kernel_w == 1 && sp->stride_h == 1 &&
               sp->stride_w == 1 && sp->pad_top == 0 && sp->pad_left == 0 &&
               sp->pad_bottom == 0 && sp->pad_right == 0;
    return d;
}

/* ---- row kernels ---------------------------------------------------------- */

/* Row kernels. The bodies are unrolled by 8 with independent lanes so that a
 * compiler vectorises them at -O2 (straight-line code), whatever its loop
 * cost model. */

/* d[t] += w * s[t] for t < n */
GRAFT_VECTOR_CLONES
static void row_axpy(float *restrict d, const float *restrict s, float w, int n)
{
    int t = 0;
    for (; t + 8 <= n; t += 8) {
        d[t] += w * s[t];
        d[t + 1] += w * s[t + 1];
        d[t + 2] += w * s[t + 2];
        d[t + 3] += w * s[t + 3];
        d[t + 4] += w * s[t + 4];
        d[t + 5] += w * s[t + 5];
        d[t + 6] += w * s[t + 6];
        d[t + 7] += w * s[t + 7];
    }
    for (; t < n; t++) d[t] += w * s[t];
}

/* d[t] += w0 * s[t] + w1 * s[t + step] + w2 * s[t + 2*step] for t < n */
GRAFT_VECTOR_CLONES
static void row_axpy3(float *restrict d, const float *restrict s, int64_t step, float w0,
                      float w1, float w2, int n)
{
    const float *restrict s1 = s + step, *restrict s2 = s + 2 * step;
    int t = 0;
    for (; t + 8 <= n; t += 8)
        for (int u = 0; u < 8; u++) d[t + u] += w0 * s[t + u] + w1 * s1[t + u] + w2 * s2[t + u];
    for (; t < n; t++) d[t] += w0 * s[t] + w1 * s1[t] + w2 * s2[t];
}

/* d[t] += sum over j < taps of w[j] * s[t + j*step] for t < n: one output row
 * against one kernel row, three taps per pass over d. */
static void row_taps(float *d, const float *s, const float *w, int taps, int64_t step, int n)
{
    int j = 0;
    for (; j + 3 <= taps; j += 3) row_axpy3(d, s + j * step, step, w[j], w[j + 1], w[j + 2], n);
    for (; j < taps; j++) row_axpy(d, s + j * step, w[j], n);
}

/* d[t] += s[t] for t < n */
GRAFT_VECTOR_CLONES
static void row_add(float *restrict d, const float *restrict s, int n)
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

/* sum of a[t] * b[t] for t < n, or of a[t] when b is NULL */
GRAFT_VECTOR_CLONES
static float row_dot(const float *restrict a, const float *restrict b, int n)
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

/* ---- column matrix -------------------------------------------------------- */

/* ---- fused epilogue --------------------------------------------------------- */

/* col (K x P, rows ld floats apart) from in (Cg planes of H x W). */
static void im2col(const graft_conv2d_spec *sp, const conv_dims *d, const float *in, float *col,
                   size_t ld)
{
    const int kh = sp->kernel_h, kw = sp->kernel_w, sh = sp->stride_h, sw = sp->stride_w;
    const int ow = d->ow, oh = d->oh;
    for (int c = 0; c < d->cg; c++) {
        const float *plane = in + (size_t)c * d->hw;
        for (int i = 0; i < kh; i++) {
            int64_t offy = (int64_t)i * sp->dilation_h - sp->pad_top;
            int ylo, yhi;
            tap_range(offy, sh, d->h, oh, &ylo, &yhi);
            for (int j = 0; j < kw; j++) {
                int64_t offx = (int64_t)j * sp->dilation_w - sp->pad_left;
                int xlo, xhi;
                tap_range(offx, sw, d->w, ow, &xlo, &xhi);
                float *row = col + ((size_t)(c * kh + i) * kw + j) * ld;
                memset(row, 0, (size_t)ylo * ow * sizeof *row);
                memset(row + (size_t)yhi * ow, 0, (size_t)(oh - yhi) * ow * sizeof *row);
                for (int y = ylo; y < yhi; y++) {
                    float *dst = row + (size_t)y * ow;
                    /* src index of output x: base + x*sw (>= 0 for x in [xlo, xhi)) */
                    int64_t base = ((int64_t)y * sh + offy) * d->w + offx;
                    for (int x = 0; x < xlo; x++) dst[x] = 0.0f;
                    if (sw == 1) {
                        if (xhi > xlo)
                            memcpy(dst + xlo, plane + (base + xlo),
                                   (size_t)(xhi - xlo) * sizeof *dst);
                    } else {
                        for (int x = xlo; x < xhi; x++) dst[x] = plane[base + (int64_t)x * sw];
                    }
                    for (int x = xhi; x < ow; x++) dst[x] = 0.0f;
                }
            }
        }
    }
}

/* Adds col (K x P, rows ld floats apart) back into out (Cg planes of H x W):
 * the transpose of im2col. */
static void col2im(const graft_conv2d_spec *sp, const conv_dims *d, const float *col, size_t ld,
                   float *out)
{
    const int kh = sp->kernel_h, kw = sp->kernel_w, sh = sp->stride_h, sw = sp->stride_w;
    for (int c = 0; c < d->cg; c++) {
        float *plane = out + (size_t)c * d->hw;
        for (int i = 0; i < kh; i++) {
            int64_t offy = (int64_t)i * sp->dilation_h - sp->pad_top;
            int ylo, yhi;
            tap_range(offy, sh, d->h, d->oh, &ylo, &yhi);
            for (int j = 0; j < kw; j++) {
                int64_t offx = (int64_t)j * sp->dilation_w - sp->pad_left;
                int xlo, xhi;
                tap_range(offx, sw, d->w, d->ow, &xlo, &xhi);
                if (xlo >= xhi) continue;
                const float *row = col + ((size_t)(c * kh + i) * kw + j) * ld;
                for (int y = ylo; y < yhi; y++) {
                    const float *src = row + (size_t)y * d->ow;
                    int64_t base = ((int64_t)y * sh + offy) * d->w + offx;
                    if (sw == 1) {
                        row_add(plane + (base + xlo), src + xlo, xhi - xlo);
                    } else {
                        for (int x = xlo; x < xhi; x++) plane[base + (int64_t)x * sw] += src[x];
                    }
                }
            }
        }
    }
}

/* The workspace (the layer's scratch, see layer.h) with room for at least
 * count floats, in *col; valid until the call returns. */
static int ensure_col(graft_layer *l, size_t count, const char *func, float **col)
{
    *col = graftLayerScratch(l, count, func, "column workspace");
    return *col ? GRAFT_OK : GRAFT_E_NOMEM;
}

/* ---- direct loops for one input channel per group ------------------------- */

/* The output columns [*lo, *hi) of a row where every tap of a kernel row
 * reads inside the input; empty (*lo = *hi = OW) when there are none. The
 * other columns are the edges, taken one by one with bounds checks. */
static void interior_columns(const graft_conv2d_spec *sp, const conv_dims *d, int *lo, int *hi)
{
    int unused;
    /* the first tap's range starts last, the last tap's range ends first */
    tap_range(-(int64_t)sp->pad_left, sp->stride_w, d->w, d->ow, lo, &unused);
    tap_range((int64_t)(sp->kernel_w - 1) * sp->dilation_w - sp->pad_left, sp->stride_w, d->w,
              d->ow, &unused, hi);
    if (*lo >= *hi) *lo = *hi = d->ow;
}

/* yo (OH x OW) = bias + the convolution of xc (H x W) with wo (KH x KW),
 * one output row at a time so that the row stays in the L1 cache. */
static void depthwise_forward_plane(const graft_conv2d_spec *sp, const conv_dims *d,
                                    const float *xc, const float *wo, float bias, float *yo)
{
    const int sw = sp->stride_w, kw = sp->kernel_w, dw = sp->dilation_w, w = d->w;
    int in_lo, in_hi;
    interior_columns(sp, d, &in_lo, &in_hi);
    for (int y = 0; y < d->oh; y++) {
        float *dst = yo + (size_t)y * d->ow;
        for (int x = 0; x < d->ow; x++) dst[x] = bias;
        for (int i = 0; i < sp->kernel_h; i++) {
            int64_t iy = (int64_t)y * sp->stride_h - sp->pad_top + (int64_t)i * sp->dilation_h;
            if (iy < 0 || iy >= d->h) continue;
            const float *srow = xc + (size_t)iy * w;
            const float *wrow = wo + (size_t)i * kw;
            /* output x, tap j reads input column x*sw - pad_left + j*dw */
            if (sw == 1) {
                if (in_lo < in_hi)
                    row_taps(dst + in_lo, srow + (in_lo - sp->pad_left), wrow, kw, dw,
                             in_hi - in_lo);
            } else {
                for (int x = in_lo; x < in_hi; x++) {
                    const float *s = srow + ((int64_t)x * sw - sp->pad_left);
                    float acc = 0.0f;
                    for (int j = 0; j < kw; j++) acc += wrow[j] * s[(int64_t)j * dw];
                    dst[x] += acc;
                }
            }
            for (int x = 0; x < d->ow; x++) {
                if (x == in_lo) x = in_hi;
                if (x >= d->ow) break;
                int64_t ix = (int64_t)x * sw - sp->pad_left;
                float acc = 0.0f;
                for (int j = 0; j < kw; j++, ix += dw)
                    if (ix >= 0 && ix < w) acc += wrow[j] * srow[ix];
                dst[x] += acc;
            }
        }
    }
}

/* Adds to dwo (KH x KW), when not NULL, the weight gradient of one plane and
 * to dxc (H x W), when not NULL, its input gradient. The weight gradient
 * walks the output columns (interior, then edges); with stride 1 the input
 * gradient walks the input columns, where an interior column c receives
 * sum over j of w[j] * dy[c + pad_left - j*dw] in one pass (row_taps with a
 * negative step). */
static void depthwise_backward_plane(const graft_conv2d_spec *sp, const conv_dims *d,
                                     const float *xc, const float *wo, const float *dyo,
                                     float *dwo, float *dxc)
{
    const int sw = sp->stride_w, kw = sp->kernel_w, dw = sp->dilation_w, w = d->w;
    const int pl = sp->pad_left;
    int in_lo, in_hi;
    interior_columns(sp, d, &in_lo, &in_hi);
    /* stride 1: the input columns [c_lo, c_hi) that every tap writes */
    int c_lo = w, c_hi = w;
    if (sw == 1) {
        int64_t a = (int64_t)(kw - 1) * dw - pl, b = (int64_t)d->ow - pl;
        if (a < 0) a = 0;
        if (b > w) b = w;
        if (a < b) {
            c_lo = (int)a;
            c_hi = (int)b;
        }
    }
    for (int y = 0; y < d->oh; y++) {
        const float *g = dyo + (size_t)y * d->ow;
        for (int i = 0; i < sp->kernel_h; i++) {
            int64_t iy = (int64_t)y * sp->stride_h - sp->pad_top + (int64_t)i * sp->dilation_h;
            if (iy < 0 || iy >= d->h) continue;
            const float *srow = xc + (size_t)iy * w;
            float *drow = dxc ? dxc + (size_t)iy * w : NULL;
            float *dwrow = dwo ? dwo + (size_t)i * kw : NULL;
            const float *wrow = wo + (size_t)i * kw;
            /* output x, tap j reads input column x*sw - pad_left + j*dw */
            if (in_lo < in_hi) {
                const int n = in_hi - in_lo;
                for (int j = 0; j < kw; j++) {
                    int64_t c0 = (int64_t)in_lo * sw - pl + (int64_t)j * dw;
                    if (sw == 1) {
                        if (dwrow) dwrow[j] += row_dot(g + in_lo, srow + c0, n);
                    } else {
                        if (dwrow) {
                            float acc = 0.0f;
                            for (int t = 0; t < n; t++)
                                acc += g[in_lo + t] * srow[c0 + (int64_t)t * sw];
                            dwrow[j] += acc;
                        }
                        if (drow)
                            for (int t = 0; t < n; t++)
                                drow[c0 + (int64_t)t * sw] += wrow[j] * g[in_lo + t];
                    }
                }
            }
            for (int x = 0; x < d->ow; x++) {
                if (x == in_lo) x = in_hi;
                if (x >= d->ow) break;
                int64_t ix = (int64_t)x * sw - pl;
                for (int j = 0; j < kw; j++, ix += dw) {
                    if (ix < 0 || ix >= w) continue;
                    if (dwrow) dwrow[j] += g[x] * srow[ix];
                    if (drow && sw != 1) drow[ix] += wrow[j] * g[x];
                }
            }
            if (drow && sw == 1) {
                if (c_lo < c_hi)
                    row_taps(drow + c_lo, g + (c_lo + pl), wrow, kw, -(int64_t)dw, c_hi - c_lo);
                for (int c = 0; c < w; c++) {
                    if (c == c_lo) c = c_hi;
                    if (c >= w) break;
                    int64_t x = (int64_t)c + pl;
                    float acc = 0.0f;
                    for (int j = 0; j < kw; j++, x -= dw)
                        if (x >= 0 && x < d->ow) acc += wrow[j] * g[x];
                    drow[c] += acc;
                }
            }
        }
    }
}

/* ---- 3x3 depthwise kernels, stride 1 or 2 ---------------------------------- */

/* A 3x3 kernel with dilation 1 and strides of 1 or 2 on one input channel
 * per group (MobileNet's depthwise layers) splits the zero-padded input
 * plane P (P[r][c] = X[r - PT][c - PL], zero outside X) into SH x SW phase
 * planes Q_ab[r][u] = P[r*SH + a][u*SW + b], each HQ x WQ with
 * HQ = OH + 2/SH and WQ = OW + 2/SW. Tap (i, j) of output (y, x) reads
 * P[y*SH + i][x*SW + j] = Q_ab[y + di][x + dj] with a = i % SH, di = i / SH,
 * b = j % SW, dj = j / SW, so in a phase plane's flat index t = y*WQ + x it
 * reads Q_ab[t + di*WQ + dj]: every tap is one shifted stream and a whole
 * plane is one vectorisable loop of OH*WQ elements. The columns x >= OW of
 * that loop are scratch (dropped in forward; zero in the output gradient
 * dYq, laid out at width WQ, so that they add nothing in backward). Backward
 * gathers the phases of dP from dYq at the negated shifts (dYq has DQ zeros
 * in front and zeros past row OH: DQ = 2/SH*WQ + 2/SW, the largest shift)
 * and dW[i][j] = sum over t of dYq[t] * Q_ab[t + di*WQ + dj]. */

typedef struct dw3_geom {
    int sh, sw, pt, pl, h, w, oh, ow;
    int hq, wq;     /* phase plane height and width */
    int nph;        /* SH * SW phases */
    size_t plen;    /* floats per phase plane, with a zeroed tail for over-reads */
    size_t n;       /* OH * WQ: flat length of one output plane at width WQ */
    size_t dq;      /* zeros in front of dYq */
} dw3_geom;

/* 1 when the 3x3 phase kernels apply: one input channel per group, 3x3,
 * dilation 1, strides 1 or 2. */
static int dw3_applies(const graft_conv2d_spec *sp, const conv_dims *d)
{
    return d->cg == 1 && sp->kernel_h == 3 && sp->kernel_w == 3 && sp->dilation_h == 1 &&
           sp->dilation_w == 1 && (sp->stride_h == 1 || sp->stride_h == 2) &&
           (sp->stride_w == 1 || sp->stride_w == 2);
}

static dw3_geom dw3_geometry(const graft_conv2d_spec *sp, const conv_dims *d)
{
    dw3_geom g;
    g.sh = sp->stride_h;
    g.sw = sp->stride_w;
    g.pt = sp->pad_top;
    g.pl = sp->pad_left;
    g.h = d->h;
    g.w = d->w;
    g.oh = d->oh;
    g.ow = d->ow;
    g.hq = d->oh + 2 / g.sh;
    g.wq = d->ow + 2 / g.sw;
    g.nph = g.sh * g.sw;
    /* the largest read is t + 2/SH*WQ + 2/SW for t < OH*WQ: HQ*WQ + 1 at most */
    g.plen = ((size_t)g.hq * (size_t)g.wq + 2 + 7) & ~(size_t)7;
    g.n = (size_t)g.oh * (size_t)g.wq;
    g.dq = ((size_t)(2 / g.sh) * (size_t)g.wq + (size_t)(2 / g.sw) + 7) & ~(size_t)7;
    return g;
}

/* Workspace floats: forward needs the phases and one output plane at width
 * WQ; backward the phases, dYq and the phases of dP. */
static size_t dw3_workspace(const dw3_geom *g)
{
    return 2 * (size_t)g->nph * g->plen + g->dq + g->plen;
}

/* The two kernels below run on 8-float vectors (vec.h) where the compiler
 * has GCC's vector extension, so that the nine weights and the
 * accumulators stay in registers, in a copy for AVX2 CPUs and a portable
 * one (two SSE registers per vector on x86-64); elsewhere the same loops
 * run on scalars. Both copies compute the same values: this file does not
 * contract multiply-adds. */

/* dst[t] = init + sum over k < ntaps of wt[k] * src[k][t] for t < n,
 * ntaps <= 9. */
GRAFT_VECTOR_CLONES
static void taps_gather(float *restrict dst, const float *const *src, const float *wt,
                        int ntaps, float init, size_t n)
{
    size_t t = 0;
#if GRAFT_HAVE_V8F
#define LOAD8(p) (*(const v8f_mem *)(p))
    if (ntaps == 9) {
        const float *s0 = src[0], *s1 = src[1], *s2 = src[2], *s3 = src[3], *s4 = src[4];
        const float *s5 = src[5], *s6 = src[6], *s7 = src[7], *s8 = src[8];
        const float w0 = wt[0], w1 = wt[1], w2 = wt[2], w3 = wt[3], w4 = wt[4], w5 = wt[5];
        const float w6 = wt[6], w7 = wt[7], w8 = wt[8];
        for (; t + 8 <= n; t += 8) {
            v8f a = init + w0 * LOAD8(s0 + t);
            a += w1 * LOAD8(s1 + t);
            a += w2 * LOAD8(s2 + t);
            a += w3 * LOAD8(s3 + t);
            a += w4 * LOAD8(s4 + t);
            a += w5 * LOAD8(s5 + t);
            a += w6 * LOAD8(s6 + t);
            a += w7 * LOAD8(s7 + t);
            a += w8 * LOAD8(s8 + t);
            *(v8f_mem *)(dst + t) = a;
        }
    } else {
        for (; t + 8 <= n; t += 8) {
            v8f a = (v8f){0, 0, 0, 0, 0, 0, 0, 0} + init;
            for (int k = 0; k < ntaps; k++) a += wt[k] * LOAD8(src[k] + t);
            *(v8f_mem *)(dst + t) = a;
        }
    }
#endif
    for (; t < n; t++) {
        float acc = init;
        for (int k = 0; k < ntaps; k++) acc += wt[k] * src[k][t];
        dst[t] = acc;
    }
}

/* out[k] += sum over t < n of g[t] * s[k][t], k < 3. */
GRAFT_VECTOR_CLONES
static void dot3(const float *g, const float *s0, const float *s1, const float *s2, size_t n,
                 float *out)
{
    float r0 = 0.0f, r1 = 0.0f, r2 = 0.0f;
    size_t t = 0;
#if GRAFT_HAVE_V8F
    v8f a0 = {0, 0, 0, 0, 0, 0, 0, 0}, a1 = a0, a2 = a0;
    for (; t + 8 <= n; t += 8) {
        const v8f gv = LOAD8(g + t);
        a0 += gv * LOAD8(s0 + t);
        a1 += gv * LOAD8(s1 + t);
        a2 += gv * LOAD8(s2 + t);
    }
    /* lanes 0-3 plus lanes 4-7, then pairwise */
    r0 = ((a0[0] + a0[4]) + (a0[1] + a0[5])) + ((a0[2] + a0[6]) + (a0[3] + a0[7]));
    r1 = ((a1[0] + a1[4]) + (a1[1] + a1[5])) + ((a1[2] + a1[6]) + (a1[3] + a1[7]));
    r2 = ((a2[0] + a2[4]) + (a2[1] + a2[5])) + ((a2[2] + a2[6]) + (a2[3] + a2[7]));
#undef LOAD8
#endif
    for (; t < n; t++) {
        r0 += g[t] * s0[t];
        r1 += g[t] * s1[t];
        r2 += g[t] * s2[t];
    }
    out[0] += r0;
    out[1] += r1;
    out[2] += r2;
}

/* Even and odd elements of s: e[u] = s[2u], o[u] = s[2u + 1] for u < n. */
GRAFT_VECTOR_CLONES
static void deinterleave(float *restrict e, float *restrict o, const float *restrict s, int n)
{
    int u = 0;
    for (; u + 8 <= n; u += 8)
        for (int v = 0; v < 8; v++) {
            e[u + v] = s[2 * (u + v)];
            o[u + v] = s[2 * (u + v) + 1];
        }
    for (; u < n; u++) {
        e[u] = s[2 * u];
        o[u] = s[2 * u + 1];
    }
}

/* d[ix] (= or +=, as add says) the padded column c = ix + off of a row
 * split into even (e[c / 2]) and odd (o[c / 2]) columns, ix < n. */
GRAFT_VECTOR_CLONES
static void interleave(float *restrict d, const float *restrict e, const float *restrict o,
                       int off, int n, int add)
{
    int ix = 0;
    if (off & 1) { /* the first column is odd */
        d[0] = add ? d[0] + o[off / 2] : o[off / 2];
        ix = 1;
    }
    /* from here c = ix + off is even: pairs (e[m], o[m]), m = c / 2 */
    const float *ep = e + (ix + off) / 2, *op = o + (ix + off) / 2;
    float *dp = d + ix;
    const int pairs = (n - ix) / 2;
    if (add)
        for (int m = 0; m < pairs; m++) {
            dp[2 * m] += ep[m];
            dp[2 * m + 1] += op[m];
        }
    else
        for (int m = 0; m < pairs; m++) {
            dp[2 * m] = ep[m];
            dp[2 * m + 1] = op[m];
        }
    if (ix + 2 * pairs < n) {
        float v = ep[pairs];
        dp[2 * pairs] = add ? dp[2 * pairs] + v : v;
    }
}

/* The phase planes of xc (H x W) into q (nph planes of plen floats). */
GRAFT_VECTOR_CLONES
static void dw3_phases(const dw3_geom *g, const float *xc, float *q)
{
    for (int a = 0; a < g->sh; a++) {
        float *qa0 = q + (size_t)a * g->sw * g->plen;
        float *qa1 = g->sw == 2 ? qa0 + g->plen : NULL;
        for (int r = 0; r < g->hq; r++) {
            float *d0 = qa0 + (size_t)r * g->wq, *d1 = qa1 ? qa1 + (size_t)r * g->wq : NULL;
            int64_t iy = (int64_t)r * g->sh + a - g->pt;
            if (iy < 0 || iy >= g->h) {
                memset(d0, 0, (size_t)g->wq * sizeof *d0);
                if (d1) memset(d1, 0, (size_t)g->wq * sizeof *d1);
                continue;
            }
            const float *src = xc + (size_t)iy * g->w;
            /* padded column c = ix + PL lands in phase c % SW, column c / SW;
               the padded columns [PL, PL + W) hold the input row, up to the
               WQ*SW columns the phases keep */
            int64_t c_end = (int64_t)g->wq * g->sw, c_lo = g->pl, c_hi = (int64_t)g->pl + g->w;
            if (c_hi > c_end) c_hi = c_end;
            if (g->sw == 1) {
                int lo = c_lo < c_end ? (int)c_lo : g->wq;
                memset(d0, 0, (size_t)lo * sizeof *d0);
                if (c_hi > lo) memcpy(d0 + lo, src, (size_t)(c_hi - lo) * sizeof *d0);
                int hi = c_hi > lo ? (int)c_hi : lo;
                memset(d0 + hi, 0, (size_t)(g->wq - hi) * sizeof *d0);
                continue;
            }
            for (int u = 0; u < g->wq; u++) d0[u] = d1[u] = 0.0f;
            if (c_lo >= c_hi) continue;
            int64_t c = c_lo;
            if (c & 1) { /* an odd first column: phase 1 */
                d1[c / 2] = src[0];
                c++;
            }
            /* pairs (c, c + 1) from an even c: phases 0 and 1 of column c / 2 */
            int pairs = (int)((c_hi - c) / 2);
            deinterleave(d0 + c / 2, d1 + c / 2, src + (c - c_lo), pairs);
            c += 2 * (int64_t)pairs;
            if (c < c_hi) d0[c / 2] = src[c - c_lo];
        }
    }
    for (int p = 0; p < g->nph; p++) {
        float *tail = q + (size_t)p * g->plen + (size_t)g->hq * g->wq;
        memset(tail, 0, (g->plen - (size_t)g->hq * g->wq) * sizeof *tail);
    }
}

/* yo (OH x OW) = bias + the 3x3 convolution of xc (H x W) with wo. */
static void dw3_forward_plane(const dw3_geom *g, const float *xc, const float *wo, float bias,
                              float *yo, float *ws, const graftEpilogue *ep, int o)
{
    float *q = ws, *tmp = ws + (size_t)g->nph * g->plen;
    const float *src[9];
    dw3_phases(g, xc, q);
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 3; j++) {
            const float *qp = q + (size_t)((i % g->sh) * g->sw + j % g->sw) * g->plen;
            src[i * 3 + j] = qp + (size_t)(i / g->sh) * g->wq + (size_t)(j / g->sw);
        }
    taps_gather(tmp, src, wo, 9, bias, g->n);
    if (ep) { /* tmp already holds the bias: add 0 */
        for (int y = 0; y < g->oh; y++)
            graftEpilogueCopy(yo + (size_t)y * g->ow, tmp + (size_t)y * g->wq, (size_t)g->ow, 0.0f,
                     ep->scale[o], ep->shift[o], ep);
        return;
    }
    for (int y = 0; y < g->oh; y++)
        memcpy(yo + (size_t)y * g->ow, tmp + (size_t)y * g->wq, (size_t)g->ow * sizeof *yo);
}

/* Adds to dwo (3 x 3), when not NULL, the weight gradient of one plane, and
 * writes (add == 0) or adds (add == 1) to dxc (H x W), when not NULL, its
 * input gradient. */
static void dw3_backward_plane(const dw3_geom *g, const float *xc, const float *wo,
                               const float *dyo, float *dwo, float *dxc, int add, float *ws)
{
    float *q = ws, *dyq = q + (size_t)g->nph * g->plen + g->dq;
    float *dq = dyq + g->plen;
    /* dYq: dY at width WQ, DQ zeros in front, zeros in columns >= OW and
       from row OH to the end of the plane */
    memset(dyq - g->dq, 0, g->dq * sizeof *dyq);
    for (int y = 0; y < g->oh; y++) {
        float *row = dyq + (size_t)y * g->wq;
        memcpy(row, dyo + (size_t)y * g->ow, (size_t)g->ow * sizeof *row);
        for (int x = g->ow; x < g->wq; x++) row[x] = 0.0f;
    }
    memset(dyq + g->n, 0, (g->plen - g->n) * sizeof *dyq);

    if (dwo) {
        dw3_phases(g, xc, q);
        for (int i = 0; i < 3; i++) {
            const float *s[3];
            for (int j = 0; j < 3; j++) {
                const float *qp = q + (size_t)((i % g->sh) * g->sw + j % g->sw) * g->plen;
                s[j] = qp + (size_t)(i / g->sh) * g->wq + (size_t)(j / g->sw);
            }
            dot3(dyq, s[0], s[1], s[2], g->n, dwo + 3 * i);
        }
    }
    if (!dxc) return;
    /* dQ_ab[t] = sum over the taps (i, j) of phase (a, b) of
       w[i][j] * dYq[t - di*WQ - dj], over the whole phase plane */
    const size_t qn = (size_t)g->hq * g->wq;
    for (int a = 0; a < g->sh; a++)
        for (int b = 0; b < g->sw; b++) {
            const float *src[9];
            float wt[9];
            int nt = 0;
            for (int i = a; i < 3; i += g->sh)
                for (int j = b; j < 3; j += g->sw) {
                    src[nt] = dyq - ((size_t)(i / g->sh) * g->wq + (size_t)(j / g->sw));
                    wt[nt++] = wo[i * 3 + j];
                }
            taps_gather(dq + (size_t)(a * g->sw + b) * g->plen, src, wt, nt, 0.0f, qn);
        }
    /* input (iy, ix) is padded (iy + PT, ix + PL): phase row (iy + PT) / SH,
       column (ix + PL) / SW. The phases cover every input pixel:
       HQ*SH >= PT + H + PB since OH = floor((PT + H + PB - 3) / SH) + 1, and
       likewise WQ*SW >= PL + W + PR. */
    for (int iy = 0; iy < g->h; iy++) {
        float *drow = dxc + (size_t)iy * g->w;
        const int r = iy + g->pt;
        const float *s0 = dq + (size_t)((r % g->sh) * g->sw) * g->plen +
                          (size_t)(r / g->sh) * g->wq;
        if (g->sw == 1) {
            if (add)
                row_add(drow, s0 + g->pl, g->w);
            else
                memcpy(drow, s0 + g->pl, (size_t)g->w * sizeof *drow);
        } else {
            interleave(drow, s0, s0 + g->plen, g->pl, g->w, add);
        }
    }
}

/* ---- slots ---------------------------------------------------------------- */

static int conv2d_infer_shape(graft_layer *l, int n_inputs, const graftShape *in, graftShape *out)
{
    conv2d_state *s = l->state;
    const graft_conv2d_spec *sp = &s->spec;
    const char *func = "graft_layer_build";
    (void)n_inputs;
    if (in[0].ndim != 4) {
        char got[160];
        graftShapeString(in[0].ndim, in[0].dims, got, sizeof got);
        return graftError(l->ctx, GRAFT_E_SHAPE, func,
                          "conv2d layer: input must be 4-D (N, C, H, W), got %d-D shape %s",
                          in[0].ndim, got);
    }
    int64_t c = in[0].dims[1], h = in[0].dims[2], w = in[0].dims[3];
    if (c > INT_MAX || h > INT_MAX || w > INT_MAX)
        return graftError(l->ctx, GRAFT_E_SHAPE, func,
                          "conv2d layer: input channels, height and width must each be < 2^31");
    if (c % sp->groups != 0)
        return graftError(l->ctx, GRAFT_E_SHAPE, func,
                          "conv2d layer: input channels %lld are not divisible by groups %d",
                          (long long)c, sp->groups);
    int64_t oh = out_size(h, sp->pad_top, sp->pad_bottom, sp->dilation_h, sp->kernel_h,
                          sp->stride_h);
    if (oh < 1)
        return graftError(l->ctx, GRAFT_E_SHAPE, func,
                          "conv2d layer: output height would be %lld (input height %lld, "
                          "pad_top %d, pad_bottom %d, kernel_h %d, dilation_h %d, stride_h %d), "
                          "must be >= 1",
                          (long long)oh, (long long)h, sp->pad_top, sp->pad_bottom, sp->kernel_h,
                          sp->dilation_h, sp->stride_h);
    int64_t ow = out_size(w, sp->pad_left, sp->pad_right, sp->dilation_w, sp->kernel_w,
                          sp->stride_w);
    if (ow < 1)
        return graftError(l->ctx, GRAFT_E_SHAPE, func,
                          "conv2d layer: output width would be %lld (input width %lld, "
                          "pad_left %d, pad_right %d, kernel_w %d, dilation_w %d, stride_w %d), "
                          "must be >= 1",
                          (long long)ow, (long long)w, sp->pad_left, sp->pad_right, sp->kernel_w,
                          sp->dilation_w, sp->stride_w);
    /* The matrix products take int sizes: K and P must fit. */
    int64_t k = (c / sp->groups) * sp->kernel_h;
    if (k <= INT_MAX) k *= sp->kernel_w;
    if (k > INT_MAX || oh > INT_MAX || ow > INT_MAX || oh * ow > INT_MAX)
        return graftError(l->ctx, GRAFT_E_SHAPE, func,
                          "conv2d layer: in_channels/groups*kernel_h*kernel_w (%lld) and "
                          "output height*width (%lld x %lld) must each be < 2^31",
                          (long long)k, (long long)oh, (long long)ow);
    s->in_c = (int)c;
    s->in_h = (int)h;
    s->in_w = (int)w;
    s->out_h = (int)oh;
    s->out_w = (int)ow;
    out->ndim = 4;
    out->dims[0] = 1;
    out->dims[1] = sp->out_channels;
    out->dims[2] = oh;
    out->dims[3] = ow;
    return GRAFT_OK;
}

static int conv2d_declare_params(const graft_layer *l, graftParamDecl *decl)
{
    const conv2d_state *s = l->state;
    const graft_conv2d_spec *sp = &s->spec;
    decl[0] = (graftParamDecl){"weight",
                               {4,
                                {sp->out_channels, s->in_c / sp->groups, sp->kernel_h,
                                 sp->kernel_w}},
                               1};
    if (!sp->bias) return 1;
    decl[1] = (graftParamDecl){"bias", {1, {sp->out_channels}}, 1};
    return 2;
}

static void conv2d_init_params(graft_layer *l, graftRng *rng)
{
    const conv2d_state *s = l->state;
    const graft_conv2d_spec *sp = &s->spec;
    double fan_in = (double)(s->in_c / sp->groups) * sp->kernel_h * sp->kernel_w;
    graftFillUniform(l->params[0].value, rng, (float)sqrt(6.0 / fan_in));
    if (sp->bias) {
        graft_tensor *b = l->params[1].value;
        memset(b->data, 0, b->numel * sizeof *b->data);
    }
}

/* Images per matrix product. A product over one image's P output positions
 * runs below the BLAS's best speed when P is small (deep layers: 14x14, 7x7),
 * so the columns of several images go side by side into one product:
 * images of MIN_PRODUCT_COLS or more positions alone, smaller ones together
 * up to about GROUP_PRODUCT_COLS columns (measured with bench/gemm_table.c:
 * grouping 28x28 maps slows them, grouping 14x14 and 7x7 ones by 2048
 * rather than 512 columns speeds them up). */
#define MIN_PRODUCT_COLS 512
#define GROUP_PRODUCT_COLS 2048

static int images_per_product(const conv_dims *d, int n)
{
    if (d->p >= MIN_PRODUCT_COLS) return 1;
    int nb = (GROUP_PRODUCT_COLS + d->p - 1) / d->p;
    return nb < n ? nb : n;
}

/* Workspace for the matrix-product path: the column matrices of nb images
 * (K x nb*P, unless the input is read in place) and, when nb > 1, the
 * output or output gradient of one group for those images (Og x nb*P). */
static int ensure_workspace(graft_layer *l, const conv_dims *d, int nb, int direct,
                            const char *func, float **col)
{
    size_t cols = (size_t)nb * (size_t)d->p;
    size_t need = (direct ? 0 : (size_t)d->k * cols) + (nb > 1 ? (size_t)d->og * cols : 0);
    *col = NULL;
    return need ? ensure_col(l, need, func, col) : GRAFT_OK;
}

/* 1 when the direct per-channel loops run the convolution: one input
 * channel per group (depthwise) and few outputs reading each. A one-channel
 * input with many output channels (a network's first layer on grey images)
 * goes to the matrix product, which reads each input row once for all of
 * them. */
#define MAX_DIRECT_OUTPUTS_PER_CHANNEL 4
static int per_channel_loops(const conv_dims *d)
{
    return d->cg == 1 && d->og <= MAX_DIRECT_OUTPUTS_PER_CHANNEL;
}

/* Fills *wp and returns 1 when this call runs by Winograd's algorithm
 * (conv_winograd.h): enabled in the context, one group, a square kernel,
 * stride 1, no dilation, and a size the module takes. */
static int winograd_plan(const graft_layer *l, const conv_dims *d, int n, graftWinograd *wp)
{
    const conv2d_state *s = l->state;
    const graft_conv2d_spec *sp = &s->spec;
    if (!l->ctx->winograd || d->groups != 1 || sp->kernel_h != sp->kernel_w ||
        sp->stride_h != 1 || sp->stride_w != 1 || sp->dilation_h != 1 || sp->dilation_w != 1)
        return 0;
    return graftWinogradPlan(wp, n, d->c, d->h, d->w, d->o, d->oh, d->ow, sp->kernel_h,
                             sp->pad_top, sp->pad_left, l->ctx->winograd == 2);
}

/* The per-channel loops' work, split by input channel (parallel.h): input
 * channel c feeds output channels c*og .. c*og + og - 1 of every image, so a
 * range of input channels owns their input planes, output planes, weights
 * and weight gradients, and each value is summed in the order the serial
 * loops use (images in order, then output channels). */
typedef struct dw_pass {
    const graft_conv2d_spec *sp;
    conv_dims d;
    int n, dw3;
    dw3_geom g;           /* dw3: the 3x3 kernels' geometry */
    float *work;          /* dw3: one work_len-float workspace per worker */
    size_t work_len;
    const float *x, *w, *b, *dy;
    float *y, *dwt, *dx;
    const graftEpilogue *ep;
} dw_pass;

/* The pass's common part for n images of input x and weights w, the
 * workers it runs on, and their workspaces (3x3 kernels). */
static int dw_pass_start(graft_layer *l, const conv_dims *d, int n, const float *x,
                         const float *w, const char *func, dw_pass *ps, int *workers)
{
    const conv2d_state *s = l->state;
    memset(ps, 0, sizeof *ps);
    ps->sp = &s->spec;
    ps->d = *d;
    ps->n = n;
    ps->x = x;
    ps->w = w;
    ps->dw3 = dw3_applies(ps->sp, d);
    *workers = graftParallelWorkers(d->c, (double)n * d->og * (double)(d->hw + (size_t)d->p));
    if (!ps->dw3) return GRAFT_OK;
    ps->g = dw3_geometry(ps->sp, d);
    ps->work_len = dw3_workspace(&ps->g);
    return ensure_col(l, ps->work_len * (size_t)*workers, func, &ps->work);
}

static void dw_forward_range(void *arg, int c0, int c1, int worker)
{
    const dw_pass *ps = arg;
    const conv_dims *d = &ps->d;
    const size_t khw = (size_t)ps->sp->kernel_h * ps->sp->kernel_w;
    float *work = ps->dw3 ? ps->work + (size_t)worker * ps->work_len : NULL;
    for (int c = c0; c < c1; c++)
        for (int i = 0; i < ps->n; i++) {
            const float *xc = ps->x + ((size_t)i * d->c + (size_t)c) * d->hw;
            for (int j = 0; j < d->og; j++) {
                const int o = c * d->og + j;
                float *yo = ps->y + ((size_t)i * d->o + (size_t)o) * (size_t)d->p;
                const float bias = ps->b ? ps->b[o] : 0.0f;
                if (ps->dw3) {
                    dw3_forward_plane(&ps->g, xc, ps->w + (size_t)o * khw, bias, yo, work,
                                      ps->ep, o);
                    continue;
                }
                depthwise_forward_plane(ps->sp, d, xc, ps->w + (size_t)o * khw, bias, yo);
                if (ps->ep) graftEpiloguePlane(yo, (size_t)d->p, ps->ep, o);
            }
        }
}

static void dw_backward_range(void *arg, int c0, int c1, int worker)
{
    const dw_pass *ps = arg;
    const conv_dims *d = &ps->d;
    const size_t khw = (size_t)ps->sp->kernel_h * ps->sp->kernel_w;
    float *work = ps->dw3 ? ps->work + (size_t)worker * ps->work_len : NULL;
    for (int c = c0; c < c1; c++)
        for (int i = 0; i < ps->n; i++) {
            const size_t plane = ((size_t)i * d->c + (size_t)c) * d->hw;
            for (int j = 0; j < d->og; j++) {
                const int o = c * d->og + j;
                const float *g = ps->dy + ((size_t)i * d->o + (size_t)o) * (size_t)d->p;
                float *dwo = ps->dwt ? ps->dwt + (size_t)o * khw : NULL;
                float *dxc = ps->dx ? ps->dx + plane : NULL;
                if (ps->dw3)
                    dw3_backward_plane(&ps->g, ps->x + plane, ps->w + (size_t)o * khw, g, dwo,
                                       dxc, d->og > 1, work);
                else
                    depthwise_backward_plane(ps->sp, d, ps->x + plane, ps->w + (size_t)o * khw,
                                             g, dwo, dxc);
            }
        }
}

/* The matrix-product path's loops around each product, split over threads
 * (parallel.h) by image (column matrices) or by output channel (copying a
 * block of images' outputs out, applying the epilogue); every value is
 * computed as on one thread. */
typedef struct gemm_pass {
    const graft_conv2d_spec *sp;
    const conv_dims *d;
    const float *xg; /* the group's input planes of the first image */
    float *col, *tmp, *y; /* y: the output (forward) or input gradient (backward) */
    const float *b;
    const graftEpilogue *ep;
    int n0, m, cols, g; /* first image, images, columns (m*P), group */
} gemm_pass;

/* Column matrices of images [i0, i1) of the block. */
static void im2col_range(void *arg, int i0, int i1, int worker)
{
    const gemm_pass *ps = arg;
    const conv_dims *d = ps->d;
    (void)worker;
    for (int i = i0; i < i1; i++)
        im2col(ps->sp, d, ps->xg + (size_t)i * d->c * d->hw, ps->col + (size_t)i * d->p,
               (size_t)ps->cols);
}

/* Adds the column matrices of images [i0, i1) of the block back into their
 * input-gradient planes (y: the group's first input-gradient plane). */
static void col2im_range(void *arg, int i0, int i1, int worker)
{
    const gemm_pass *ps = arg;
    const conv_dims *d = ps->d;
    (void)worker;
    for (int i = i0; i < i1; i++)
        col2im(ps->sp, d, ps->col + (size_t)i * d->p, (size_t)ps->cols,
               ps->y + (size_t)i * d->c * d->hw);
}

/* One image's output planes [o0, o1) of the group, in place. */
static void epilogue_range(void *arg, int o0, int o1, int worker)
{
    const gemm_pass *ps = arg;
    const conv_dims *d = ps->d;
    float *yg = ps->y + ((size_t)ps->n0 * d->o + (size_t)ps->g * d->og) * (size_t)d->p;
    (void)worker;
    for (int o = o0; o < o1; o++)
        graftEpiloguePlane(yg + (size_t)o * d->p, (size_t)d->p, ps->ep, ps->g * d->og + o);
}

/* The block's product (Og x m*P) out to the output planes of channels
 * [o0, o1) of the group: bias, then the epilogue when there is one. */
static void copy_out_range(void *arg, int o0, int o1, int worker)
{
    const gemm_pass *ps = arg;
    const conv_dims *d = ps->d;
    const graftEpilogue *ep = ps->ep;
    (void)worker;
    for (int i = 0; i < ps->m; i++)
        for (int o = o0; o < o1; o++) {
            const int oc = ps->g * d->og + o;
            float *dst = ps->y + ((size_t)(ps->n0 + i) * d->o + (size_t)oc) * d->p;
            const float *src = ps->tmp + (size_t)o * ps->cols + (size_t)i * d->p;
            const float bv = ps->b ? ps->b[oc] : 0.0f;
            if (ep) {
                graftEpilogueCopy(dst, src, (size_t)d->p, bv, ep->scale[oc], ep->shift[oc], ep);
                continue;
            }
            for (int q = 0; q < d->p; q++) dst[q] = src[q] + bv;
        }
}

/* The forward pass; ep, when not NULL, is applied to each output plane (or
 * each group's rows) right after it is computed. */
static int conv_forward(graft_layer *l, const graft_tensor *const *in, graft_tensor *out,
                        const graftEpilogue *ep)
{
    conv2d_state *s = l->state;
    const graft_conv2d_spec *sp = &s->spec;
    const conv_dims d = get_dims(s);
    const int n = (int)in[0]->dims[0];
    const float *x = in[0]->data, *w = l->params[0].value->data;
    const float *b = sp->bias ? l->params[1].value->data : NULL;
    float *y = out->data;

    if (per_channel_loops(&d)) {
        dw_pass ps;
        int workers;
        GRAFT_FORWARD_IF_ERROR(dw_pass_start(l, &d, n, x, w, "graft_layer_forward", &ps, &workers));
        ps.b = b;
        ps.y = y;
        ps.ep = ep;
        graftParallelFor(d.c, workers, dw_forward_range, &ps);
        return GRAFT_OK;
    }

    graftWinograd wp;
    if (winograd_plan(l, &d, n, &wp)) {
        float *work = NULL;
        GRAFT_FORWARD_IF_ERROR(
            ensure_col(l, graftWinogradWorkspace(&wp, 0), "graft_layer_forward", &work));
        graftWinogradForward(l->ctx, &wp, x, w, b, y, work, ep);
        return GRAFT_OK;
    }

    const int nb = images_per_product(&d, n), direct = d.direct && nb == 1;
    float *col;
    GRAFT_FORWARD_IF_ERROR(ensure_workspace(l, &d, nb, direct, "graft_layer_forward", &col));
    float *tmp = nb > 1 ? col + (size_t)d.k * nb * d.p : NULL;
    for (int n0 = 0; n0 < n; n0 += nb) {
        const int m = n - n0 < nb ? n - n0 : nb, cols = m * d.p;
        for (int g = 0; g < d.groups; g++) {
            const float *xg = x + ((size_t)n0 * d.c + (size_t)g * d.cg) * d.hw;
            const float *wg = w + (size_t)g * d.og * d.k;
            const float *opnd = xg;
            gemm_pass ps = {sp, &d, xg, col, tmp, y, b, ep, n0, m, cols, g};
            if (!direct) {
                graftParallelFor(m, graftParallelWorkers(m, (double)d.k * d.p), im2col_range,
                                 &ps);
                opnd = col;
            }
            if (nb == 1) {
                /* one image: the product lands in the output directly */
                float *yg = y + ((size_t)n0 * d.o + (size_t)g * d.og) * (size_t)d.p;
                if (b)
                    for (int o = 0; o < d.og; o++) {
                        float *row = yg + (size_t)o * d.p;
                        const float bv = b[g * d.og + o];
                        for (int q = 0; q < d.p; q++) row[q] = bv;
                    }
                graftSgemm(l->ctx, 0, 0, d.og, d.p, d.k, 1.0f, wg, d.k, opnd, d.p,
                           b ? 1.0f : 0.0f, yg, d.p);
                if (ep)
                    graftParallelFor(d.og, graftParallelWorkers(d.og, 2.0 * d.p), epilogue_range,
                                     &ps);
                continue;
            }
            graftSgemm(l->ctx, 0, 0, d.og, cols, d.k, 1.0f, wg, d.k, opnd, cols, 0.0f, tmp, cols);
            graftParallelFor(d.og, graftParallelWorkers(d.og, 2.0 * cols), copy_out_range, &ps);
        }
    }
    return GRAFT_OK;
}

static int conv2d_forward(graft_layer *l, const graft_tensor *const *in, graft_tensor *out)
{
    return conv_forward(l, in, out, NULL);
}

int graftConv2dForwardFused(graft_layer *l, const graft_tensor *x, graft_tensor *y,
                            const graftEpilogue *ep)
{
    const graft_tensor *in[1] = {x};
    return conv_forward(l, in, y, ep);
}

static int conv2d_backward(graft_layer *l, const graft_tensor *const *in, const graft_tensor *out,
                           const graft_tensor *dout, graft_tensor *const *din)
{
    conv2d_state *s = l->state;
    const graft_conv2d_spec *sp = &s->spec;
    const conv_dims d = get_dims(s);
    const int n = (int)in[0]->dims[0];
    const int pgrad = l->need_param_grad;
    const float *x = in[0]->data, *w = l->params[0].value->data, *dy = dout->data;
    float *dw = pgrad ? l->params[0].grad->data : NULL;
    float *db = pgrad && sp->bias ? l->params[1].grad->data : NULL;
    float *dx = din[0] ? din[0]->data : NULL;
    const size_t khw = (size_t)sp->kernel_h * sp->kernel_w;
    (void)out;
    if (!pgrad && !dx) return GRAFT_OK;

    if (db) {
        memset(db, 0, (size_t)d.o * sizeof *db);
        for (int i = 0; i < n; i++)
            for (int o = 0; o < d.o; o++) {
                const float *g = dy + ((size_t)i * d.o + (size_t)o) * (size_t)d.p;
                db[o] += row_dot(g, NULL, d.p);
            }
    }

    if (per_channel_loops(&d)) {
        dw_pass ps;
        int workers;
        GRAFT_FORWARD_IF_ERROR(
            dw_pass_start(l, &d, n, x, w, "graft_layer_backward", &ps, &workers));
        ps.dy = dy;
        ps.dwt = dw;
        ps.dx = dx;
        if (dw) memset(dw, 0, (size_t)d.o * khw * sizeof *dw);
        /* the 3x3 kernels write an input plane with one output channel per
           input channel and add the others' in; the generic loops always add */
        if (dx && (!ps.dw3 || d.og > 1)) memset(dx, 0, (size_t)n * d.c * d.hw * sizeof *dx);
        graftParallelFor(d.c, workers, dw_backward_range, &ps);
        return GRAFT_OK;
    }

    graftWinograd wp;
    if (winograd_plan(l, &d, n, &wp)) {
        float *work = NULL;
        GRAFT_FORWARD_IF_ERROR(
            ensure_col(l, graftWinogradWorkspace(&wp, 1), "graft_layer_backward", &work));
        graftWinogradBackward(l->ctx, &wp, x, w, dy, dw, dx, work);
        return GRAFT_OK;
    }

    const int nb = images_per_product(&d, n), direct = d.direct && nb == 1;
    float *col;
    GRAFT_FORWARD_IF_ERROR(ensure_workspace(l, &d, nb, direct, "graft_layer_backward", &col));
    float *tmp = nb > 1 ? col + (size_t)d.k * nb * d.p : NULL;
    if (dx && !direct) memset(dx, 0, (size_t)n * d.c * d.hw * sizeof *dx);
    for (int n0 = 0; n0 < n; n0 += nb) {
        const int m = n - n0 < nb ? n - n0 : nb, cols = m * d.p;
        for (int g = 0; g < d.groups; g++) {
            const size_t xoff = ((size_t)n0 * d.c + (size_t)g * d.cg) * d.hw;
            const float *wg = w + (size_t)g * d.og * d.k;
            /* dY of this group for the m images, Og x cols */
            const float *dyg = dy + ((size_t)n0 * d.o + (size_t)g * d.og) * (size_t)d.p;
            if (nb > 1) {
                for (int i = 0; i < m; i++)
                    for (int o = 0; o < d.og; o++)
                        memcpy(tmp + (size_t)o * cols + (size_t)i * d.p,
                               dy + ((size_t)(n0 + i) * d.o + (size_t)(g * d.og + o)) * d.p,
                               (size_t)d.p * sizeof *tmp);
                dyg = tmp;
            }
            gemm_pass ps = {sp, &d, x + xoff, col, tmp, dx ? dx + xoff : NULL, NULL, NULL,
                            n0, m, cols, g};
            if (dw) {
                const float *opnd = x + xoff;
                if (!direct) {
                    graftParallelFor(m, graftParallelWorkers(m, (double)d.k * d.p),
                                     im2col_range, &ps);
                    opnd = col;
                }
                graftSgemm(l->ctx, 0, 1, d.og, d.k, cols, 1.0f, dyg, cols, opnd, cols,
                           n0 == 0 ? 0.0f : 1.0f, dw + (size_t)g * d.og * d.k, d.k);
            }
            if (dx) {
                if (direct) {
                    graftSgemm(l->ctx, 1, 0, d.k, d.p, d.og, 1.0f, wg, d.k, dyg, d.p, 0.0f,
                               dx + xoff, d.p);
                } else {
                    graftSgemm(l->ctx, 1, 0, d.k, cols, d.og, 1.0f, wg, d.k, dyg, cols, 0.0f, col,
                               cols);
                    graftParallelFor(m, graftParallelWorkers(m, (double)d.k * d.p),
                                     col2im_range, &ps);
                }
            }
        }
    }
    return GRAFT_OK;
}

/* Validates the attributes of a spec whose struct_size is known. */
static int conv2d_check(graft_ctx *ctx, const char *func, const graft_conv2d_spec *sp)
{
#define CONV2D_AT_LEAST(field, min)                                                     \
    GRAFT_RETURN_IF_AT(sp->field < (min), ctx, GRAFT_E_INVALID_ARG, func,               \
                       #field " is %d, must be >= %d", sp->field, (min))
    CONV2D_AT_LEAST(out_channels, 1);
    CONV2D_AT_LEAST(kernel_h, 1);
    CONV2D_AT_LEAST(kernel_w, 1);
    CONV2D_AT_LEAST(stride_h, 1);
    CONV2D_AT_LEAST(stride_w, 1);
    CONV2D_AT_LEAST(pad_top, 0);
    CONV2D_AT_LEAST(pad_left, 0);
    CONV2D_AT_LEAST(pad_bottom, 0);
    CONV2D_AT_LEAST(pad_right, 0);
    CONV2D_AT_LEAST(dilation_h, 1);
    CONV2D_AT_LEAST(dilation_w, 1);
    CONV2D_AT_LEAST(groups, 1);
#undef CONV2D_AT_LEAST
    GRAFT_RETURN_IF_AT(sp->out_channels % sp->groups != 0, ctx, GRAFT_E_INVALID_ARG, func,
                       "out_channels %d is not divisible by groups %d", sp->out_channels,
                       sp->groups);
    GRAFT_RETURN_IF_AT(sp->bias != 0 && sp->bias != 1, ctx, GRAFT_E_INVALID_ARG, func,
                       "bias is %d, must be 0 or 1", sp->bias);
    return GRAFT_OK;
}

/* Saved attributes (version 1): 13 int32 in the order of graft_conv2d_spec,
 * out_channels to bias. */
static int conv2d_save(const graft_layer *l, graftWriter *w)
{
    const graft_conv2d_spec *sp = &((const conv2d_state *)l->state)->spec;
    const int v[] = {sp->out_channels, sp->kernel_h,   sp->kernel_w,   sp->stride_h,
                     sp->stride_w,     sp->pad_top,    sp->pad_left,   sp->pad_bottom,
                     sp->pad_right,    sp->dilation_h, sp->dilation_w, sp->groups,
                     sp->bias};
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) graftWriteI32(w, v[i]);
    return w->status;
}

static int conv2d_load(graft_layer *l, graftReader *r, uint32_t version)
{
    conv2d_state *s = l->state;
    graft_conv2d_spec sp = GRAFT_CONV2D_SPEC_INIT;
    int *const fields[] = {&sp.out_channels, &sp.kernel_h,   &sp.kernel_w,   &sp.stride_h,
                           &sp.stride_w,     &sp.pad_top,    &sp.pad_left,   &sp.pad_bottom,
                           &sp.pad_right,    &sp.dilation_h, &sp.dilation_w, &sp.groups,
                           &sp.bias};
    (void)version;
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++) {
        int32_t v;
        GRAFT_FORWARD_IF_ERROR(graftReadI32(r, &v, "conv2d attributes"));
        *fields[i] = v;
    }
    if (conv2d_check(l->ctx, "graft_load", &sp) != GRAFT_OK) return GRAFT_E_FORMAT;
    s->spec = sp;
    return GRAFT_OK;
}

/* 2 * (C/G) * KH * KW per output element, plus the bias add. */
static int64_t conv2d_flops(const graft_layer *l)
{
    const conv2d_state *s = l->state;
    const graft_conv2d_spec *sp = &s->spec;
    int64_t per_output = 2 * (int64_t)(s->in_c / sp->groups) * sp->kernel_h * sp->kernel_w +
                         (sp->bias ? 1 : 0);
    return per_output * sp->out_channels * s->out_h * s->out_w;
}

/* ---- ONNX: Conv, with a following batch norm folded in when asked ---------- */

static const graftAttrDecl conv2d_attrs[] = {
    {"out_channels", GRAFT_ATTR_INT, offsetof(conv2d_state, spec.out_channels), 1},
    {"kernel_shape", GRAFT_ATTR_INT, offsetof(conv2d_state, spec.kernel_h), 2},
    {"strides", GRAFT_ATTR_INT, offsetof(conv2d_state, spec.stride_h), 2},
    {"pads", GRAFT_ATTR_INT, offsetof(conv2d_state, spec.pad_top), 4},
    {"dilations", GRAFT_ATTR_INT, offsetof(conv2d_state, spec.dilation_h), 2},
    {"group", GRAFT_ATTR_INT, offsetof(conv2d_state, spec.groups), 1},
    {"bias", GRAFT_ATTR_INT, offsetof(conv2d_state, spec.bias), 1},
    {NULL, GRAFT_ATTR_INT, 0, 0},
};

/* The weights and bias with o->absorbed's batch norm folded in:
 * W' = W * s, b' = (b - mean) * s + beta with s = gamma / sqrt(var + eps),
 * written as the initializers wn and bn. */
static int conv2d_onnx_fold(const graft_layer *l, graftOnnxOut *o, const char *wn,
                            const char *bn)
{
    const graft_layer *b = o->absorbed;
    const graftParam *wp = graftLayerFindParam((graft_layer *)l, "weight");
    const graftParam *bp = graftLayerFindParam((graft_layer *)l, "bias");
    const graftParam *g = graftLayerFindParam((graft_layer *)b, "weight");
    const graftParam *be = graftLayerFindParam((graft_layer *)b, "bias");
    const graftParam *mean = graftLayerFindParam((graft_layer *)b, "running_mean");
    const graftParam *var = graftLayerFindParam((graft_layer *)b, "running_var");
    float eps;
    if (!wp || !g || !be || !mean || !var || graftLayerAttrFloats(b, "epsilon", &eps, 1) != 1)
        return graftOnnxInternal(o, "the batch norm to fold is incomplete");
    const graft_tensor *wt = wp->value;
    const float *wv = wt->data, *bv = bp ? bp->value->data : NULL;
    size_t per = wt->numel / (size_t)wt->dims[0];
    float *fw = graftAlloc(o->ctx, wt->numel * sizeof *fw);
    float *fb = graftAlloc(o->ctx, (size_t)wt->dims[0] * sizeof *fb);
    if (!fw || !fb) {
        graftFree(o->ctx, fw);
        graftFree(o->ctx, fb);
        return graftError(o->ctx, GRAFT_E_NOMEM, o->func,
                          "cannot fold batch norm into layer \"%s\"", o->name);
    }
    for (int64_t c = 0; c < wt->dims[0]; c++) {
        double sc = g->value->data[c] / sqrt((double)var->value->data[c] + eps);
        for (size_t k = 0; k < per; k++) fw[c * per + k] = (float)(wv[c * per + k] * sc);
        fb[c] = (float)(((bv ? bv[c] : 0.0) - mean->value->data[c]) * sc + be->value->data[c]);
    }
    graftOnnxInitF32(o, wn, wt->ndim, wt->dims, fw);
    graftOnnxInitF32(o, bn, 1, wt->dims, fb);
    graftFree(o->ctx, fw);
    graftFree(o->ctx, fb);
    return GRAFT_OK;
}

static int conv2d_onnx_export(const graft_layer *l, graftOnnxOut *o)
{
    const conv2d_state *s = l->state;
    const graft_conv2d_spec *sp = &s->spec;
    char wn[GRAFT_ONNX_NAME_MAX], bn[GRAFT_ONNX_NAME_MAX];
    int has_bias = sp->bias;
    if (o->absorbed) {
        graftOnnxAuxName(o, "weight", wn);
        graftOnnxAuxName(o, "bias", bn);
        GRAFT_FORWARD_IF_ERROR(conv2d_onnx_fold(l, o, wn, bn));
        has_bias = 1;
    } else {
        GRAFT_FORWARD_IF_ERROR(graftOnnxInitParam(o, l, "weight", wn));
        if (has_bias) GRAFT_FORWARD_IF_ERROR(graftOnnxInitParam(o, l, "bias", bn));
    }
    const char *ins[3] = {o->inputs[0], wn, bn};
    size_t n = graftOnnxNodeBegin(o, "Conv", NULL, has_bias ? 3 : 2, ins, o->output);
    const int64_t ks[2] = {sp->kernel_h, sp->kernel_w}, st[2] = {sp->stride_h, sp->stride_w},
                  pads[4] = {sp->pad_top, sp->pad_left, sp->pad_bottom, sp->pad_right},
                  dil[2] = {sp->dilation_h, sp->dilation_w};
    graftOnnxAttrInts(o, "kernel_shape", 2, ks);
    graftOnnxAttrInts(o, "strides", 2, st);
    graftOnnxAttrInts(o, "pads", 4, pads);
    graftOnnxAttrInts(o, "dilations", 2, dil);
    graftOnnxAttrInt(o, "group", sp->groups);
    graftOnnxNodeEnd(o, n);
    return GRAFT_OK;
}

const graftLayerVtbl graftConv2dVtbl = {
    .kind = "conv2d",
    .version = 1,
    .state_size = sizeof(conv2d_state),
    .min_inputs = 1,
    .max_inputs = 1,
    .infer_shape = conv2d_infer_shape,
    .declare_params = conv2d_declare_params,
    .init_params = conv2d_init_params,
    .forward = conv2d_forward,
    .backward = conv2d_backward,
    .save = conv2d_save,
    .load = conv2d_load,
    .flops = conv2d_flops,
    .backward_ignores_output = 1,
    .attrs = conv2d_attrs,
    .onnx_export = conv2d_onnx_export,
    .onnx_folds_batch_norm = 1,
};

GRAFT_API int graft_layer_conv2d(graft_ctx *ctx, const graft_conv2d_spec *spec, graft_layer **out)
{
    graftClearError(ctx);
    if (out) *out = NULL;
    GRAFT_RETURN_IF(!ctx, NULL, GRAFT_E_INVALID_ARG, "ctx is NULL");
    GRAFT_RETURN_IF(!spec, ctx, GRAFT_E_INVALID_ARG, "spec is NULL");
    GRAFT_RETURN_IF(!out, ctx, GRAFT_E_INVALID_ARG, "out is NULL");
    GRAFT_RETURN_IF(spec->struct_size != sizeof(graft_conv2d_spec), ctx, GRAFT_E_VERSION,
                    "spec->struct_size is %u, this graft knows %zu (sizeof(graft_conv2d_spec))",
                    (unsigned)spec->struct_size, sizeof(graft_conv2d_spec));
    GRAFT_FORWARD_IF_ERROR(conv2d_check(ctx, __func__, spec));
    graft_layer *l;
    GRAFT_FORWARD_IF_ERROR(graftLayerNew(ctx, &graftConv2dVtbl, __func__, &l));
    conv2d_state *s = l->state;
    s->spec = *spec;
    *out = l;
    return GRAFT_OK;
}
