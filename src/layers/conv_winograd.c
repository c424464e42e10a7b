/*
 * conv_winograd.c - stride-1 convolutions by Winograd's minimal filtering
 * (see conv_winograd.h for the algorithm and its rounding).
 *
 * Transforms. For points p_0..p_4 = 0, 1, -1, 2, -2 and a point at infinity,
 * with a = 6, a linear convolution of a length-m signal with a length-r
 * kernel is s = E^-1 ((G g) .* (A h)), where A (a x m) and G (a x r) evaluate
 * polynomials at the points (row j: p_j^0, p_j^1, ...; the last row picks
 * the leading coefficient) and E (a x a) does the same for degree a - 1, so
 * E^-1 interpolates. The correlation a convolution layer computes is its
 * transpose: y = A^T ((G g) .* (E^-T d)), hence B^T = E^-T. Each row j of
 * B^T is then divided by its smallest non-zero magnitude and row j of G
 * multiplied by it, which makes B^T's entries small integers:
 *   4  0 -5  0  1  0      B^T d and its adjoint, and A^T's products with
 *   0  4  4 -1 -1  0      M (entries 0, +-1, +-2, +-4, +-8), run as the
 *   0 -4  4  1 -1  0      short sums below (fixed kernels); kernels of
 *   0 -2 -1  2  1  0      weights, transformed once a call, as products
 *   0  2 -1 -2  1  0      with the dense matrices.
 *   0  4  0 -5  0  1
 *
 * Layout. Tiles are numbered image by image, row by row: tile (ty, tx) of
 * image n reads input rows ty*m - pad_top + [0, a) and columns
 * tx*m - pad_left + [0, a) (zero outside the image) and writes outputs
 * ty*m + [0, m), tx*m + [0, m) (those inside the output). A chunk is a run of
 * whole tile rows, at most chunk_tiles tiles, taken one after another:
 *   U  [O][a*a][C]   transformed kernels (and dU in the backward pass)
 *   V  [C][a*a][T]   transformed input tiles of the chunk, T = chunk_tiles
 *   M  [O][a*a][T]   their products (dM in the backward pass)
 * so that one channel's a*a transformed rows lie together; the product for
 * element xi reads U and V and writes M as matrices whose rows lie a*a*C or
 * a*a*T floats apart. One more a*a x T buffer holds a channel's gathered
 * tiles. Each transform (transform2d) runs eight tiles at a time as vectors,
 * with its two matrix products in registers. T is a multiple of 8; lanes
 * past a chunk's last tile hold zeros, which every step maps to zeros.
 */
#include "conv_winograd.h"
#include "core/parallel.h"
#include "core/vec.h"

#include <math.h>
#include <string.h>

#define A GRAFT_WINOGRAD_A
#define XI (A * A)
/* Tiles per chunk: enough columns for the BLAS to run near its best, few
 * enough that a chunk's V and M stay near the cache. */
#define CHUNK_TILES 448
/* Fewer channels than this leave too little work per transformed value for
 * the transforms to pay off. */
#define MIN_CHANNELS 16
/* Fewer tiles than this in a call (deep layers at batch 1) make matrix
 * products too narrow, and too few to spread the kernels' transform over. */
#define MIN_TILES 16

static void coef_matrix(graftWinogradCoefs *L, int rows, int cols, const float *mat, int ld,
                        int transpose);
static void coef_fixed(graftWinogradCoefs *L, int kind);
static void inside_range(int off, int m, int size, int tiles, int *lo, int *hi);

/* ---- transform matrices ---------------------------------------------------- */

/* inv = e^-1 by Gauss-Jordan elimination with partial pivoting (e is
 * invertible: a Vandermonde matrix on distinct points, with one more row). */
static void invert(double e[A][A], double inv[A][A])
{
    for (int i = 0; i < A; i++)
        for (int j = 0; j < A; j++) inv[i][j] = i == j;
    for (int col = 0; col < A; col++) {
        int piv = col;
        for (int i = col + 1; i < A; i++)
            if (fabs(e[i][col]) > fabs(e[piv][col])) piv = i;
        for (int j = 0; j < A; j++) {
            double t = e[col][j];
            e[col][j] = e[piv][j];
            e[piv][j] = t;
            t = inv[col][j];
            inv[col][j] = inv[piv][j];
            inv[piv][j] = t;
        }
        const double d = e[col][col];
        for (int j = 0; j < A; j++) {
            e[col][j] /= d;
            inv[col][j] /= d;
        }
        for (int i = 0; i < A; i++) {
            if (i == col || e[i][col] == 0.0) continue;
            const double f = e[i][col];
            for (int j = 0; j < A; j++) {
                e[i][j] -= f * e[col][j];
                inv[i][j] -= f * inv[col][j];
            }
        }
    }
}

/* Rounds the matrices' exact small-integer and simple-fraction entries to
 * the nearest such value, so that zeros stay zeros after elimination. */
static double tidy(double v)
{
    double k = floor(v * 24.0 + 0.5) / 24.0;
    return fabs(v - k) < 1e-9 ? k : v;
}

static void make_matrices(graftWinograd *p)
{
    static const double pts[A - 1] = {0, 1, -1, 2, -2};
    const int m = p->m, r = p->r;
    double e[A][A], inv[A][A];
    float bt[A][A], g[A][5], at[4][A]; /* B^T, G, A^T */
    memset(g, 0, sizeof g);
    for (int j = 0; j < A; j++)
        for (int i = 0; i < A; i++) e[j][i] = j < A - 1 ? pow(pts[j], i) : (i == A - 1);
    invert(e, inv);
    for (int j = 0; j < A; j++) {
        double small = 0.0, row[A];
        for (int l = 0; l < A; l++) {
            row[l] = tidy(inv[l][j]); /* B^T = E^-T */
            if (row[l] != 0.0 && (small == 0.0 || fabs(row[l]) < small)) small = fabs(row[l]);
        }
        for (int l = 0; l < A; l++) bt[j][l] = (float)tidy(row[l] / small);
        for (int k = 0; k < r; k++) {
            const double gv = j < A - 1 ? pow(pts[j], k) : (k == r - 1);
            g[j][k] = (float)(gv * small);
        }
    }
    for (int i = 0; i < m; i++)
        for (int j = 0; j < A; j++)
            at[i][j] = (float)(j < A - 1 ? pow(pts[j], i) : (i == m - 1));
    coef_matrix(&p->input_fwd, A, A, &bt[0][0], A, 0);
    coef_matrix(&p->input_adj, A, A, &bt[0][0], A, 1);
    coef_matrix(&p->output_fwd, m, A, &at[0][0], A, 0);
    coef_matrix(&p->output_adj, A, m, &at[0][0], A, 1);
    coef_matrix(&p->kernel_fwd, A, r, &g[0][0], 5, 0);
    coef_matrix(&p->kernel_adj, r, A, &g[0][0], 5, 1);
    coef_fixed(&p->input_fwd, GRAFT_WINOGRAD_BT);
    coef_fixed(&p->input_adj, GRAFT_WINOGRAD_B);
    coef_fixed(&p->output_fwd, m == 4 ? GRAFT_WINOGRAD_AT4 : GRAFT_WINOGRAD_AT2);
    coef_fixed(&p->output_adj, m == 4 ? GRAFT_WINOGRAD_A4 : GRAFT_WINOGRAD_A2);
}

int graftWinogradPlan(graftWinograd *p, int n, int c, int h, int w, int o, int oh, int ow, int r,
                      int pad_top, int pad_left, int always)
{
    if (r != 3 && r != 5) return 0;
    if (n < 1 || c < 1 || o < 1 || oh < 1 || ow < 1) return 0;
    if (!always && (c < MIN_CHANNELS || o < MIN_CHANNELS)) return 0;
    memset(p, 0, sizeof *p);
    p->n = n;
    p->c = c;
    p->h = h;
    p->w = w;
    p->o = o;
    p->oh = oh;
    p->ow = ow;
    p->r = r;
    p->pad_top = pad_top;
    p->pad_left = pad_left;
    p->m = A - r + 1;
    p->tiles_y = (oh + p->m - 1) / p->m;
    p->tiles_x = (ow + p->m - 1) / p->m;
    if (!always && (int64_t)n * p->tiles_y * p->tiles_x < MIN_TILES) return 0;
    const int rows = n * p->tiles_y;
    int per = (CHUNK_TILES + p->tiles_x - 1) / p->tiles_x;
    if (per > rows) per = rows;
    if (per < 1) per = 1;
    p->rows_per_chunk = per;
    p->chunk_tiles = (per * p->tiles_x + 7) & ~7; /* whole vectors of 8 lanes */
    for (int l = 0; l < A; l++)
        inside_range(l - pad_left, p->m, w, p->tiles_x, &p->col_lo[l], &p->col_hi[l]);
    for (int b = 0; b < p->m; b++) p->out_hi[b] = (ow - b + p->m - 1) / p->m;
    /* a channel's transform touches about 2*a*a floats per tile */
    p->workers = graftParallelWorkers(c < o ? c : o, 2.0 * XI * p->chunk_tiles);
    make_matrices(p);
    return 1;
}

/* Workspace: U (and dU), V, M, then one a*a x T buffer of tiles per worker
 * (see carve()). */
size_t graftWinogradWorkspace(const graftWinograd *p, int backward)
{
    const size_t t = (size_t)p->chunk_tiles, oc = (size_t)XI * p->o * p->c;
    return oc * (backward ? 2 : 1) + (size_t)XI * p->c * t + (size_t)XI * p->o * t +
           (size_t)p->workers * XI * t;
}

/* ---- the 2-D transform ------------------------------------------------------- */

/* The rows x cols matrix mat (row-major, ld floats per row), or its
 * transpose, as a dense rows x cols block. */
static void coef_matrix(graftWinogradCoefs *L, int rows, int cols, const float *mat, int ld,
                        int transpose)
{
    L->kind = GRAFT_WINOGRAD_DENSE;
    L->rows = rows;
    L->cols = cols;
    memset(L->val, 0, sizeof L->val);
    for (int a = 0; a < rows; a++)
        for (int i = 0; i < cols; i++) L->val[a][i] = transpose ? mat[i * ld + a] : mat[a * ld + i];
}

/* out = L in L^T for lanes [t0, t0 + 8) of every element: in is an ni x ni
 * matrix whose element (i, j) is the vector at in + (i*ni + j)*in_stride,
 * out an no x no one likewise, L no x ni. The first product stays in
 * registers or on the stack, so each input and output vector is read or
 * written once. Inlined with constant no and ni every loop unrolls; zero
 * coefficients are multiplied like the others, which costs less than
 * skipping them. */
static inline __attribute__((always_inline)) void
transform_block(const float (*L)[A], int no, int ni, const float *in, size_t in_stride,
                float *out, size_t out_stride, int t0)
{
    v8f tmp[A * A];
    for (int a = 0; a < no; a++)
        for (int j = 0; j < ni; j++) {
            v8f acc = {0, 0, 0, 0, 0, 0, 0, 0};
            for (int i = 0; i < ni; i++)
                acc += L[a][i] * *(const v8f_mem *)(in + (size_t)(i * ni + j) * in_stride + t0);
            tmp[a * ni + j] = acc;
        }
    for (int a = 0; a < no; a++)
        for (int b = 0; b < no; b++) {
            v8f acc = {0, 0, 0, 0, 0, 0, 0, 0};
            for (int j = 0; j < ni; j++) acc += L[b][j] * tmp[a * ni + j];
            *(v8f_mem *)(out + (size_t)(a * no + b) * out_stride + t0) = acc;
        }
}

/* The same for single lanes [t0, n), n - t0 < 8. */
static void transform_tail(const float (*L)[A], int no, int ni, const float *in,
                           size_t in_stride, float *out, size_t out_stride, int t0, int n)
{
    for (int t = t0; t < n; t++) {
        float tmp[A * A];
        for (int a = 0; a < no; a++)
            for (int j = 0; j < ni; j++) {
                float acc = 0.0f;
                for (int i = 0; i < ni; i++) acc += L[a][i] * in[(size_t)(i * ni + j) * in_stride + t];
                tmp[a * ni + j] = acc;
            }
        for (int a = 0; a < no; a++)
            for (int b = 0; b < no; b++) {
                float acc = 0.0f;
                for (int j = 0; j < ni; j++) acc += L[b][j] * tmp[a * ni + j];
                out[(size_t)(a * no + b) * out_stride + t] = acc;
            }
    }
}

/* transform_block over lanes [0, n), for constant sizes no x ni. */
#define TRANSFORM_ALL(no, ni)                                                                \
    do {                                                                                     \
        int t_ = 0;                                                                          \
        for (; t_ + 8 <= n; t_ += 8)                                                         \
            transform_block(L->val, (no), (ni), in, in_stride, out, out_stride, t_);         \
        if (t_ < n)                                                                          \
            transform_tail(L->val, (no), (ni), in, in_stride, out, out_stride, t_, n);       \
    } while (0)

/* The fixed kernels: o = L d for one column or row of an a x a (or m x m)
 * block, L one of the matrices above, as sums with the zeros left out and
 * shared terms taken once. */
static inline __attribute__((always_inline)) void fixed_1d(int kind, v8f *o, const v8f *d)
{
    switch (kind) {
    case GRAFT_WINOGRAD_BT: { /* B^T, 6 -> 6 */
        const v8f s12 = d[1] + d[2], s34 = d[3] + d[4], m21 = d[2] - d[1], m34 = d[3] - d[4];
        const v8f m31 = d[3] - d[1], m42 = d[4] - d[2];
        o[0] = 4.0f * d[0] - 5.0f * d[2] + d[4];
        o[1] = 4.0f * s12 - s34;
        o[2] = 4.0f * m21 + m34;
        o[3] = 2.0f * m31 + m42;
        o[4] = m42 - 2.0f * m31;
        o[5] = 4.0f * d[1] - 5.0f * d[3] + d[5];
        break;
    }
    case GRAFT_WINOGRAD_B: { /* B, 6 -> 6 */
        const v8f s34 = d[3] + d[4], m34 = d[3] - d[4], s12 = d[1] + d[2], m12 = d[1] - d[2];
        o[0] = 4.0f * d[0];
        o[1] = 4.0f * m12 - 2.0f * m34 + 4.0f * d[5];
        o[2] = -5.0f * d[0] + 4.0f * s12 - s34;
        o[3] = 2.0f * m34 - m12 - 5.0f * d[5];
        o[4] = d[0] - s12 + s34;
        o[5] = d[5];
        break;
    }
    case GRAFT_WINOGRAD_AT4: { /* A^T for m = 4, 6 -> 4 */
        const v8f s12 = d[1] + d[2], m12 = d[1] - d[2], s34 = d[3] + d[4], m34 = d[3] - d[4];
        o[0] = d[0] + s12 + s34;
        o[1] = m12 + 2.0f * m34;
        o[2] = s12 + 4.0f * s34;
        o[3] = m12 + 8.0f * m34 + d[5];
        break;
    }
    case GRAFT_WINOGRAD_A4: { /* A for m = 4, 4 -> 6 */
        const v8f s02 = d[0] + d[2], s13 = d[1] + d[3], e = d[0] + 4.0f * d[2];
        const v8f f = 2.0f * d[1] + 8.0f * d[3];
        o[0] = d[0];
        o[1] = s02 + s13;
        o[2] = s02 - s13;
        o[3] = e + f;
        o[4] = e - f;
        o[5] = d[3];
        break;
    }
    case GRAFT_WINOGRAD_AT2: { /* A^T for m = 2, 6 -> 2 */
        o[0] = d[0] + (d[1] + d[2]) + (d[3] + d[4]);
        o[1] = (d[1] - d[2]) + 2.0f * (d[3] - d[4]) + d[5];
        break;
    }
    case GRAFT_WINOGRAD_A2: { /* A for m = 2, 2 -> 6 */
        o[0] = d[0];
        o[1] = d[0] + d[1];
        o[2] = d[0] - d[1];
        o[3] = d[0] + 2.0f * d[1];
        o[4] = d[0] - 2.0f * d[1];
        o[5] = d[1];
        break;
    }
    default:
        break;
    }
}

/* out = L in L^T for lanes [t0, t0 + 8) with a fixed kernel (no x ni). */
static inline __attribute__((always_inline)) void
fixed_block(int kind, int no, int ni, const float *in, size_t in_stride, float *out,
            size_t out_stride, int t0)
{
    v8f tmp[A][A], d[A], o[A];
    for (int j = 0; j < ni; j++) {
        for (int i = 0; i < ni; i++) d[i] = *(const v8f_mem *)(in + (size_t)(i * ni + j) * in_stride + t0);
        fixed_1d(kind, o, d);
        for (int a = 0; a < no; a++) tmp[a][j] = o[a];
    }
    for (int a = 0; a < no; a++) {
        fixed_1d(kind, o, tmp[a]);
        for (int b = 0; b < no; b++) *(v8f_mem *)(out + (size_t)(a * no + b) * out_stride + t0) = o[b];
    }
}

/* Gives L the fixed kernel kind when that kernel computes exactly L's
 * matrix (checked on unit vectors), so that a change to the matrices can
 * never pair them with the wrong sums. */
static void coef_fixed(graftWinogradCoefs *L, int kind)
{
    for (int i = 0; i < L->cols; i++) {
        v8f d[A], o[A];
        for (int k = 0; k < A; k++) d[k] = (v8f){0, 0, 0, 0, 0, 0, 0, 0} + (float)(k == i);
        fixed_1d(kind, o, d);
        for (int a = 0; a < L->rows; a++)
            if (o[a][0] != L->val[a][i]) return;
    }
    L->kind = kind;
}

#define TRANSFORM_FIXED(kind, no, ni)                                                        \
    do {                                                                                     \
        int t_ = 0;                                                                          \
        for (; t_ + 8 <= n; t_ += 8)                                                         \
            fixed_block((kind), (no), (ni), in, in_stride, out, out_stride, t_);             \
        if (t_ < n)                                                                          \
            transform_tail(L->val, (no), (ni), in, in_stride, out, out_stride, t_, n);       \
    } while (0)

/* out = L in L^T (see transform_block) for lanes [0, n). */
GRAFT_VECTOR_CLONES
static void transform2d(const graftWinogradCoefs *L, const float *in, size_t in_stride,
                        float *out, size_t out_stride, int n)
{
    switch (L->kind) {
    case GRAFT_WINOGRAD_BT: TRANSFORM_FIXED(GRAFT_WINOGRAD_BT, 6, 6); break;
    case GRAFT_WINOGRAD_B: TRANSFORM_FIXED(GRAFT_WINOGRAD_B, 6, 6); break;
    case GRAFT_WINOGRAD_AT4: TRANSFORM_FIXED(GRAFT_WINOGRAD_AT4, 4, 6); break;
    case GRAFT_WINOGRAD_A4: TRANSFORM_FIXED(GRAFT_WINOGRAD_A4, 6, 4); break;
    case GRAFT_WINOGRAD_AT2: TRANSFORM_FIXED(GRAFT_WINOGRAD_AT2, 2, 6); break;
    case GRAFT_WINOGRAD_A2: TRANSFORM_FIXED(GRAFT_WINOGRAD_A2, 6, 2); break;
    default: /* kernels: G (a x r) and G^T, constant sizes so that loops unroll */
        switch (L->rows * 8 + L->cols) {
        case 6 * 8 + 3: TRANSFORM_ALL(6, 3); break;
        case 3 * 8 + 6: TRANSFORM_ALL(3, 6); break;
        case 6 * 8 + 5: TRANSFORM_ALL(6, 5); break;
        case 5 * 8 + 6: TRANSFORM_ALL(5, 6); break;
        default: TRANSFORM_ALL(L->rows, L->cols); break;
        }
        break;
    }
}

/* ---- tile gathers and scatters -------------------------------------------------- */

/* The tile columns [*lo, *hi) of a tile row whose column l of every tile
 * (input column tx*m + off, off = l - pad_left) lies inside [0, size). */
static void inside_range(int off, int m, int size, int tiles, int *lo, int *hi)
{
    int a = off >= 0 ? 0 : (-off + m - 1) / m;
    int b = size - 1 - off < 0 ? 0 : (size - 1 - off) / m + 1;
    if (b > tiles) b = tiles;
    if (a > b) a = b;
    *lo = a;
    *hi = b;
}

/* d[tx] = s[tx*M + off] for tx in [lo, hi): strided reads in blocks of 8
 * with a constant stride, which the vectoriser turns into loads and
 * shuffles. */
static inline __attribute__((always_inline)) void strided_copy(float *restrict d,
                                                               const float *restrict s, int M,
                                                               int off, int lo, int hi)
{
    int tx = lo;
    for (; tx + 8 <= hi; tx += 8)
        for (int v = 0; v < 8; v++) d[tx + v] = s[(tx + v) * M + off];
    for (; tx < hi; tx++) d[tx] = s[tx * M + off];
}

/* x6[k][l][t0 + tx] = input (image img, channel c) at row ty*m - pad_top + k,
 * column tx*m - pad_left + l, zero outside: one tile row's a x a patches,
 * rows T floats apart. */
GRAFT_VECTOR_CLONES
static void gather_patches(const graftWinograd *p, const float *plane, int ty, float *x6,
                           size_t t_ld, int t0)
{
    const int m = p->m, tx_n = p->tiles_x;
    for (int k = 0; k < A; k++) {
        const int row = ty * m - p->pad_top + k;
        for (int l = 0; l < A; l++) {
            float *d = x6 + (size_t)(k * A + l) * t_ld + t0;
            if (row < 0 || row >= p->h) {
                for (int tx = 0; tx < tx_n; tx++) d[tx] = 0.0f;
                continue;
            }
            const float *s = plane + (size_t)row * p->w;
            const int off = l - p->pad_left, lo = p->col_lo[l], hi = p->col_hi[l];
            for (int tx = 0; tx < lo; tx++) d[tx] = 0.0f;
            if (m == 4)
                strided_copy(d, s, 4, off, lo, hi);
            else
                strided_copy(d, s, 2, off, lo, hi);
            for (int tx = hi; tx < tx_n; tx++) d[tx] = 0.0f;
        }
    }
}

/* The adjoint of gather_patches: adds x6's values back into the input plane
 * (positions outside the image dropped). */
static void scatter_add_patches(const graftWinograd *p, float *plane, int ty, const float *x6,
                                size_t t_ld, int t0)
{
    const int m = p->m;
    for (int k = 0; k < A; k++) {
        const int row = ty * m - p->pad_top + k;
        if (row < 0 || row >= p->h) continue;
        float *d = plane + (size_t)row * p->w;
        for (int l = 0; l < A; l++) {
            const float *s = x6 + (size_t)(k * A + l) * t_ld + t0;
            const int off = l - p->pad_left;
            for (int tx = p->col_lo[l]; tx < p->col_hi[l]; tx++) d[tx * m + off] += s[tx];
        }
    }
}

/* out[a][b][t0 + tx] (a, b < m) goes to output (image, channel) plane rows
 * ty*m + a, columns tx*m + b, those inside the output. */
static void scatter_outputs(const graftWinograd *p, float *plane, int ty, const float *ym,
                            size_t t_ld, int t0)
{
    const int m = p->m;
    for (int a = 0; a < m; a++) {
        const int row = ty * m + a;
        if (row >= p->oh) break;
        float *d = plane + (size_t)row * p->ow;
        for (int b = 0; b < m; b++) {
            const float *s = ym + (size_t)(a * m + b) * t_ld + t0;
            const int hi = p->out_hi[b];
            for (int tx = 0; tx < hi; tx++) d[tx * m + b] = s[tx];
        }
    }
}

/* The adjoint of scatter_outputs: ym[a][b][t0 + tx] = the plane's value
 * there, zero outside the output. */
static void gather_outputs(const graftWinograd *p, const float *plane, int ty, float *ym,
                           size_t t_ld, int t0)
{
    const int m = p->m, tx_n = p->tiles_x;
    for (int a = 0; a < m; a++) {
        const int row = ty * m + a;
        for (int b = 0; b < m; b++) {
            float *d = ym + (size_t)(a * m + b) * t_ld + t0;
            if (row >= p->oh) {
                memset(d, 0, (size_t)tx_n * sizeof *d);
                continue;
            }
            const float *s = plane + (size_t)row * p->ow;
            const int hi = p->out_hi[b];
            for (int tx = 0; tx < hi; tx++) d[tx] = s[tx * m + b];
            for (int tx = hi; tx < tx_n; tx++) d[tx] = 0.0f;
        }
    }
}

/* ---- the four transforms ------------------------------------------------------ */

/* Kernels are transformed KERNEL_BLOCK input channels of one output channel
 * at a time, as vectors over the channels: kb[y*r + x][q] holds tap (y, x)
 * of channel c0 + q. */
#define KERNEL_BLOCK 64

/* ---- passes ------------------------------------------------------------------ */

/* The chunk's tile rows: [first, first + count) of n * tiles_y. */
typedef struct chunk {
    int first, count, tiles;
    int lanes; /* tiles rounded up to whole vectors of 8: the transforms and
                  products run over the lanes; the extra ones hold zeros */
} chunk;

static chunk chunk_at(const graftWinograd *p, int first)
{
    chunk k;
    const int rows = p->n * p->tiles_y;
    k.first = first;
    k.count = rows - first < p->rows_per_chunk ? rows - first : p->rows_per_chunk;
    k.tiles = k.count * p->tiles_x;
    k.lanes = (k.tiles + 7) & ~7;
    return k;
}

/* Zeros lanes [tiles, lanes) of rows vectors T floats apart. */
static void zero_lanes(float *buf, int rows, size_t t, const chunk *k)
{
    if (k->lanes == k->tiles) return;
    for (int e = 0; e < rows; e++)
        memset(buf + (size_t)e * t + k->tiles, 0, (size_t)(k->lanes - k->tiles) * sizeof *buf);
}

/* Everything a pass's ranges share. Each range works on its own channels
 * (input channels c or output channels o) and its worker's tile buffer. */
typedef struct pass {
    const graftWinograd *p;
    chunk k;
    const float *x, *wt, *dy, *bias;
    float *u, *du, *v, *m, *y, *dx, *dw;
    float *tiles;          /* workers buffers of a*a x T floats */
    const graftEpilogue *ep;
} pass;

static float *worker_tiles(const pass *ps, int worker)
{
    return ps->tiles + (size_t)worker * XI * ps->p->chunk_tiles;
}

/* The tile row q of the chunk: its image and its row of tiles there. */
static void chunk_row(const pass *ps, int q, int *img, int *ty)
{
    const int row = ps->k.first + q;
    *img = row / ps->p->tiles_y;
    *ty = row % ps->p->tiles_y;
}

/* U[o][xi][c] = (G w[o][c] G^T)[i][j], xi = i*a + j, for o in [o0, o1). */
static void kernels_range(void *arg, int o0, int o1, int worker)
{
    const pass *ps = arg;
    const graftWinograd *p = ps->p;
    const int rr = p->r * p->r;
    float kb[25 * KERNEL_BLOCK];
    (void)worker;
    for (int o = o0; o < o1; o++)
        for (int c0 = 0; c0 < p->c; c0 += KERNEL_BLOCK) {
            const int nq = p->c - c0 < KERNEL_BLOCK ? p->c - c0 : KERNEL_BLOCK;
            const float *w0 = ps->wt + ((size_t)o * p->c + (size_t)c0) * rr;
            for (int q = 0; q < nq; q++)
                for (int e = 0; e < rr; e++) kb[e * KERNEL_BLOCK + q] = w0[(size_t)q * rr + e];
            transform2d(&p->kernel_fwd, kb, KERNEL_BLOCK, ps->u + (size_t)o * XI * p->c + c0,
                        (size_t)p->c, nq);
        }
}

/* The adjoint: dw[o][c] = G^T dU[o][.][c] G, for o in [o0, o1). */
static void kernel_grads_range(void *arg, int o0, int o1, int worker)
{
    const pass *ps = arg;
    const graftWinograd *p = ps->p;
    const int rr = p->r * p->r;
    float kb[25 * KERNEL_BLOCK];
    (void)worker;
    for (int o = o0; o < o1; o++)
        for (int c0 = 0; c0 < p->c; c0 += KERNEL_BLOCK) {
            const int nq = p->c - c0 < KERNEL_BLOCK ? p->c - c0 : KERNEL_BLOCK;
            transform2d(&p->kernel_adj, ps->du + (size_t)o * XI * p->c + c0, (size_t)p->c, kb,
                        KERNEL_BLOCK, nq);
            float *w0 = ps->dw + ((size_t)o * p->c + (size_t)c0) * rr;
            for (int q = 0; q < nq; q++)
                for (int e = 0; e < rr; e++) w0[(size_t)q * rr + e] = kb[e * KERNEL_BLOCK + q];
        }
}

/* V[c][.][.] = B^T d B for the chunk's tiles, c in [c0, c1). */
static void inputs_range(void *arg, int c0, int c1, int worker)
{
    const pass *ps = arg;
    const graftWinograd *p = ps->p;
    const size_t t = (size_t)p->chunk_tiles, hw = (size_t)p->h * p->w;
    float *x6 = worker_tiles(ps, worker);
    for (int c = c0; c < c1; c++) {
        for (int q = 0; q < ps->k.count; q++) {
            int img, ty;
            chunk_row(ps, q, &img, &ty);
            gather_patches(p, ps->x + ((size_t)img * p->c + c) * hw, ty, x6, t, q * p->tiles_x);
        }
        zero_lanes(x6, XI, t, &ps->k);
        transform2d(&p->input_fwd, x6, t, ps->v + (size_t)c * XI * t, t, ps->k.lanes);
    }
}

/* Outputs A^T M A (+ bias, then the epilogue) of channels o in [o0, o1). */
static void outputs_range(void *arg, int o0, int o1, int worker)
{
    const pass *ps = arg;
    const graftWinograd *p = ps->p;
    const size_t t = (size_t)p->chunk_tiles, ohw = (size_t)p->oh * p->ow;
    const int mm2 = p->m * p->m;
    float *ym = worker_tiles(ps, worker); /* m*m x T */
    for (int o = o0; o < o1; o++) {
        transform2d(&p->output_fwd, ps->m + (size_t)o * XI * t, t, ym, t, ps->k.lanes);
        for (int e = 0; e < mm2; e++) {
            float *row = ym + (size_t)e * t;
            if (ps->bias)
                for (int q = 0; q < ps->k.tiles; q++) row[q] += ps->bias[o];
            if (ps->ep) graftEpiloguePlane(row, (size_t)ps->k.tiles, ps->ep, o);
        }
        for (int q = 0; q < ps->k.count; q++) {
            int img, ty;
            chunk_row(ps, q, &img, &ty);
            scatter_outputs(p, ps->y + ((size_t)img * p->o + o) * ohw, ty, ym, t, q * p->tiles_x);
        }
    }
}

/* dM[o][.][.] = A dY A^T for channels o in [o0, o1). */
static void output_grads_range(void *arg, int o0, int o1, int worker)
{
    const pass *ps = arg;
    const graftWinograd *p = ps->p;
    const size_t t = (size_t)p->chunk_tiles, ohw = (size_t)p->oh * p->ow;
    float *ym = worker_tiles(ps, worker);
    for (int o = o0; o < o1; o++) {
        for (int q = 0; q < ps->k.count; q++) {
            int img, ty;
            chunk_row(ps, q, &img, &ty);
            gather_outputs(p, ps->dy + ((size_t)img * p->o + o) * ohw, ty, ym, t, q * p->tiles_x);
        }
        zero_lanes(ym, p->m * p->m, t, &ps->k);
        transform2d(&p->output_adj, ym, t, ps->m + (size_t)o * XI * t, t, ps->k.lanes);
    }
}

/* dX += B dV B^T, scattered into the input planes of channels [c0, c1). */
static void input_grads_range(void *arg, int c0, int c1, int worker)
{
    const pass *ps = arg;
    const graftWinograd *p = ps->p;
    const size_t t = (size_t)p->chunk_tiles, hw = (size_t)p->h * p->w;
    float *x6 = worker_tiles(ps, worker);
    for (int c = c0; c < c1; c++) {
        transform2d(&p->input_adj, ps->v + (size_t)c * XI * t, t, x6, t, ps->k.lanes);
        for (int q = 0; q < ps->k.count; q++) {
            int img, ty;
            chunk_row(ps, q, &img, &ty);
            scatter_add_patches(p, ps->dx + ((size_t)img * p->c + c) * hw, ty, x6, t,
                                q * p->tiles_x);
        }
    }
}

/* The workspace: U (and dU), V, M, then one tile buffer per worker. */
static void carve(const graftWinograd *p, float *work, int backward, pass *ps)
{
    const size_t t = (size_t)p->chunk_tiles, oc = (size_t)p->o * p->c;
    ps->u = work;
    ps->du = backward ? ps->u + XI * oc : NULL;
    ps->v = ps->u + XI * oc * (backward ? 2 : 1);
    ps->m = ps->v + (size_t)XI * p->c * t;
    ps->tiles = ps->m + (size_t)XI * p->o * t;
}

void graftWinogradForward(const graft_ctx *ctx, const graftWinograd *p, const float *x,
                          const float *wt, const float *bias, float *y, float *work,
                          const graftEpilogue *ep)
{
    const size_t t = (size_t)p->chunk_tiles;
    pass ps;
    memset(&ps, 0, sizeof ps);
    ps.p = p;
    ps.x = x;
    ps.wt = wt;
    ps.bias = bias;
    ps.y = y;
    ps.ep = ep;
    carve(p, work, 0, &ps);
    graftParallelFor(p->o, p->workers, kernels_range, &ps);
    for (int first = 0; first < p->n * p->tiles_y; first += p->rows_per_chunk) {
        ps.k = chunk_at(p, first);
        graftParallelFor(p->c, p->workers, inputs_range, &ps);
        for (int xi = 0; xi < XI; xi++)
            graftSgemm(ctx, 0, 0, p->o, ps.k.lanes, p->c, 1.0f, ps.u + (size_t)xi * p->c,
                       XI * p->c, ps.v + (size_t)xi * t, XI * (int)t, 0.0f,
                       ps.m + (size_t)xi * t, XI * (int)t);
        graftParallelFor(p->o, p->workers, outputs_range, &ps);
    }
}

void graftWinogradBackward(const graft_ctx *ctx, const graftWinograd *p, const float *x,
                           const float *wt, const float *dy, float *dw, float *dx, float *work)
{
    const size_t t = (size_t)p->chunk_tiles, hw = (size_t)p->h * p->w;
    pass ps;
    memset(&ps, 0, sizeof ps);
    ps.p = p;
    ps.x = x;
    ps.wt = wt;
    ps.dy = dy;
    ps.dx = dx;
    ps.dw = dw;
    carve(p, work, 1, &ps);
    if (dx) {
        graftParallelFor(p->o, p->workers, kernels_range, &ps);
        memset(dx, 0, (size_t)p->n * p->c * hw * sizeof *dx);
    }
    for (int first = 0; first < p->n * p->tiles_y; first += p->rows_per_chunk) {
        ps.k = chunk_at(p, first);
        if (dw) graftParallelFor(p->c, p->workers, inputs_range, &ps);
        graftParallelFor(p->o, p->workers, output_grads_range, &ps);
        for (int xi = 0; xi < XI; xi++) {
            float *dm_xi = ps.m + (size_t)xi * t, *v_xi = ps.v + (size_t)xi * t;
            const int ld = XI * (int)t;
            if (dw)
                graftSgemm(ctx, 0, 1, p->o, p->c, ps.k.lanes, 1.0f, dm_xi, ld, v_xi, ld,
                           first == 0 ? 0.0f : 1.0f, ps.du + (size_t)xi * p->c, XI * p->c);
            if (dx) /* dV overwrites V, which this xi no longer needs */
                graftSgemm(ctx, 1, 0, p->c, ps.k.lanes, p->o, 1.0f, ps.u + (size_t)xi * p->c,
                           XI * p->c, dm_xi, ld, 0.0f, v_xi, ld);
        }
        if (dx) graftParallelFor(p->c, p->workers, input_grads_range, &ps);
    }
    if (dw) graftParallelFor(p->o, p->workers, kernel_grads_range, &ps);
}
