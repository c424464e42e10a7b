/*
 * conv_depthwise.c - depthwise convolutions by direct loops per channel
 * (see conv_depthwise.h): the generic loops, the 3x3 kernels on phase
 * planes, and the passes that split both over threads.
 */
#include "conv_depthwise.h"
#include "core/parallel.h"
#include "core/vec.h"

#include <string.h>

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

/* ---- direct loops for one input channel per group ------------------------- */

/* The output columns [*lo, *hi) of a row where every tap of a kernel row
 * reads inside the input; empty (*lo = *hi = OW) when there are none. The
 * other columns are the edges, taken one by one with bounds checks. */
static void interior_columns(const graft_conv2d_spec *sp, const graftConvDims *d, int *lo,
                             int *hi)
{
    int unused;
    /* the first tap's range starts last, the last tap's range ends first */
    graftConvTapRange(-(int64_t)sp->pad_left, sp->stride_w, d->w, d->ow, lo, &unused);
    graftConvTapRange((int64_t)(sp->kernel_w - 1) * sp->dilation_w - sp->pad_left, sp->stride_w,
                      d->w, d->ow, &unused, hi);
    if (*lo >= *hi) *lo = *hi = d->ow;
}

/* yo (OH x OW) = bias + the convolution of xc (H x W) with wo (KH x KW),
 * one output row at a time so that the row stays in the L1 cache. */
static void depthwise_forward_plane(const graft_conv2d_spec *sp, const graftConvDims *d,
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
static void depthwise_backward_plane(const graft_conv2d_spec *sp, const graftConvDims *d,
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
                        if (dwrow) dwrow[j] += graftConvRowDot(g + in_lo, srow + c0, n);
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

/* 1 when the 3x3 phase kernels apply: one input channel per group, 3x3,
 * dilation 1, strides 1 or 2. */
static int dw3_applies(const graft_conv2d_spec *sp, const graftConvDims *d)
{
    return d->cg == 1 && sp->kernel_h == 3 && sp->kernel_w == 3 && sp->dilation_h == 1 &&
           sp->dilation_w == 1 && (sp->stride_h == 1 || sp->stride_h == 2) &&
           (sp->stride_w == 1 || sp->stride_w == 2);
}

static graftDepthwise3x3 dw3_geometry(const graft_conv2d_spec *sp, const graftConvDims *d)
{
    graftDepthwise3x3 g;
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
static size_t dw3_workspace(const graftDepthwise3x3 *g)
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
static void dw3_phases(const graftDepthwise3x3 *g, const float *xc, float *q)
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
static void dw3_forward_plane(const graftDepthwise3x3 *g, const float *xc, const float *wo,
                              float bias, float *yo, float *ws, const graftEpilogue *ep, int o)
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
static void dw3_backward_plane(const graftDepthwise3x3 *g, const float *xc, const float *wo,
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
                graftConvRowAdd(drow, s0 + g->pl, g->w);
            else
                memcpy(drow, s0 + g->pl, (size_t)g->w * sizeof *drow);
        } else {
            interleave(drow, s0, s0 + g->plen, g->pl, g->w, add);
        }
    }
}

/* ---- plan and passes ------------------------------------------------------- */

/* More outputs per input channel than this go to the matrix product. */
#define MAX_DIRECT_OUTPUTS_PER_CHANNEL 4

int graftDepthwisePlan(graftDepthwise *p, const graft_conv2d_spec *sp, const graftConvDims *d,
                       int n)
{
    if (d->cg != 1 || d->og > MAX_DIRECT_OUTPUTS_PER_CHANNEL) return 0;
    memset(p, 0, sizeof *p);
    p->sp = *sp;
    p->d = *d;
    p->n = n;
    p->dw3 = dw3_applies(sp, d);
    p->workers = graftParallelWorkers(d->c, (double)n * d->og * (double)(d->hw + (size_t)d->p));
    if (p->dw3) {
        p->g = dw3_geometry(sp, d);
        p->work_len = dw3_workspace(&p->g);
    }
    return 1;
}

size_t graftDepthwiseWorkspace(const graftDepthwise *p)
{
    return p->work_len * (size_t)p->workers;
}

/* One call's plan and buffers; work: one work_len-float workspace per
 * worker (dw3). */
typedef struct dw_pass {
    const graftDepthwise *p;
    const float *x, *w, *b, *dy;
    float *y, *dwt, *dx, *work;
    const graftEpilogue *ep;
} dw_pass;

static void dw_forward_range(void *arg, int c0, int c1, int worker)
{
    const dw_pass *ps = arg;
    const graftDepthwise *p = ps->p;
    const graftConvDims *d = &p->d;
    const size_t khw = (size_t)p->sp.kernel_h * p->sp.kernel_w;
    float *work = p->dw3 ? ps->work + (size_t)worker * p->work_len : NULL;
    for (int c = c0; c < c1; c++)
        for (int i = 0; i < p->n; i++) {
            const float *xc = ps->x + ((size_t)i * d->c + (size_t)c) * d->hw;
            for (int j = 0; j < d->og; j++) {
                const int o = c * d->og + j;
                float *yo = ps->y + ((size_t)i * d->o + (size_t)o) * (size_t)d->p;
                const float bias = ps->b ? ps->b[o] : 0.0f;
                if (p->dw3) {
                    dw3_forward_plane(&p->g, xc, ps->w + (size_t)o * khw, bias, yo, work,
                                      ps->ep, o);
                    continue;
                }
                depthwise_forward_plane(&p->sp, d, xc, ps->w + (size_t)o * khw, bias, yo);
                if (ps->ep) graftEpiloguePlane(yo, (size_t)d->p, ps->ep, o);
            }
        }
}

static void dw_backward_range(void *arg, int c0, int c1, int worker)
{
    const dw_pass *ps = arg;
    const graftDepthwise *p = ps->p;
    const graftConvDims *d = &p->d;
    const size_t khw = (size_t)p->sp.kernel_h * p->sp.kernel_w;
    float *work = p->dw3 ? ps->work + (size_t)worker * p->work_len : NULL;
    for (int c = c0; c < c1; c++)
        for (int i = 0; i < p->n; i++) {
            const size_t plane = ((size_t)i * d->c + (size_t)c) * d->hw;
            for (int j = 0; j < d->og; j++) {
                const int o = c * d->og + j;
                const float *g = ps->dy + ((size_t)i * d->o + (size_t)o) * (size_t)d->p;
                float *dwo = ps->dwt ? ps->dwt + (size_t)o * khw : NULL;
                float *dxc = ps->dx ? ps->dx + plane : NULL;
                if (p->dw3)
                    dw3_backward_plane(&p->g, ps->x + plane, ps->w + (size_t)o * khw, g, dwo,
                                       dxc, d->og > 1, work);
                else
                    depthwise_backward_plane(&p->sp, d, ps->x + plane, ps->w + (size_t)o * khw,
                                             g, dwo, dxc);
            }
        }
}

void graftDepthwiseForward(const graftDepthwise *p, const float *x, const float *wt,
                           const float *bias, float *y, float *work, const graftEpilogue *ep)
{
    dw_pass ps = {p, x, wt, bias, NULL, y, NULL, NULL, work, ep};
    graftParallelFor(p->d.c, p->workers, dw_forward_range, &ps);
}

void graftDepthwiseBackward(const graftDepthwise *p, const float *x, const float *wt,
                            const float *dy, float *dw, float *dx, float *work)
{
    const graftConvDims *d = &p->d;
    dw_pass ps = {p, x, wt, NULL, dy, NULL, dw, dx, work, NULL};
    if (dw) memset(dw, 0, (size_t)d->o * p->sp.kernel_h * p->sp.kernel_w * sizeof *dw);
    /* the 3x3 kernels write an input plane with one output channel per
       input channel and add the others' in; the generic loops always add */
    if (dx && (!p->dw3 || d->og > 1)) memset(dx, 0, (size_t)p->n * d->c * d->hw * sizeof *dx);
    graftParallelFor(d->c, p->workers, dw_backward_range, &ps);
}
