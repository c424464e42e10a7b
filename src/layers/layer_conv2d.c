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
 *    loops per channel, no matrix product (conv_depthwise.h);
 *  - 3x3 and 5x5 kernels with stride 1 and 16 or more channels each way:
 *    Winograd's algorithm (conv_winograd.h).
 * The column matrices live in the layer's scratch (layer.h): its own for a
 * standalone layer, the model's (shared by all its layers) in a model. It is
 * used within one call only, grows only when a build or a larger batch needs
 * more, and is freed with its holder.
 *
 * graftConv2dForwardFused() runs the same forward and passes each output
 * plane, right after it is computed, through a per-channel epilogue (the
 * affine step of an inference-mode batch norm, then relu, clip or hard_swish), so that
 * a model runs conv2d -> batch_norm -> activation in one sweep.
 */
#include "conv_common.h"
#include "conv_depthwise.h"
#include "conv_winograd.h"
#include "layer.h"
#include "core/options.h"
#include "core/parallel.h"

#include <limits.h>
#include <math.h>
#include <string.h>

typedef struct conv2d_state {
    graft_conv2d_spec spec; /* validated attributes */
    /* set by infer_shape */
    int in_c, in_h, in_w, out_h, out_w;
} conv2d_state;

/* ---- geometry ------------------------------------------------------------- */

/* floor((size + pad_a + pad_b - dilation*(kernel-1) - 1) / stride) + 1 */
static int64_t out_size(int64_t size, int pad_a, int pad_b, int dilation, int kernel, int stride)
{
    int64_t span = (int64_t)dilation * (kernel - 1) + 1;
    return graftConvFloorDiv(size + pad_a + pad_b - span, stride) + 1;
}

/* The call's sizes (conv_common.h), from the state. */
static graftConvDims get_dims(const conv2d_state *s)
{
    const graft_conv2d_spec *sp = &s->spec;
    graftConvDims d;
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

/* ---- column matrix -------------------------------------------------------- */

/* col (K x P, rows ld floats apart) from in (Cg planes of H x W). */
static void im2col(const graft_conv2d_spec *sp, const graftConvDims *d, const float *in, float *col,
                   size_t ld)
{
    const int kh = sp->kernel_h, kw = sp->kernel_w, sh = sp->stride_h, sw = sp->stride_w;
    const int ow = d->ow, oh = d->oh;
    for (int c = 0; c < d->cg; c++) {
        const float *plane = in + (size_t)c * d->hw;
        for (int i = 0; i < kh; i++) {
            int64_t offy = (int64_t)i * sp->dilation_h - sp->pad_top;
            int ylo, yhi;
            graftConvTapRange(offy, sh, d->h, oh, &ylo, &yhi);
            for (int j = 0; j < kw; j++) {
                int64_t offx = (int64_t)j * sp->dilation_w - sp->pad_left;
                int xlo, xhi;
                graftConvTapRange(offx, sw, d->w, ow, &xlo, &xhi);
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
static void col2im(const graft_conv2d_spec *sp, const graftConvDims *d, const float *col, size_t ld,
                   float *out)
{
    const int kh = sp->kernel_h, kw = sp->kernel_w, sh = sp->stride_h, sw = sp->stride_w;
    for (int c = 0; c < d->cg; c++) {
        float *plane = out + (size_t)c * d->hw;
        for (int i = 0; i < kh; i++) {
            int64_t offy = (int64_t)i * sp->dilation_h - sp->pad_top;
            int ylo, yhi;
            graftConvTapRange(offy, sh, d->h, d->oh, &ylo, &yhi);
            for (int j = 0; j < kw; j++) {
                int64_t offx = (int64_t)j * sp->dilation_w - sp->pad_left;
                int xlo, xhi;
                graftConvTapRange(offx, sw, d->w, d->ow, &xlo, &xhi);
                if (xlo >= xhi) continue;
                const float *row = col + ((size_t)(c * kh + i) * kw + j) * ld;
                for (int y = ylo; y < yhi; y++) {
                    const float *src = row + (size_t)y * d->ow;
                    int64_t base = ((int64_t)y * sh + offy) * d->w + offx;
                    if (sw == 1) {
                        graftConvRowAdd(plane + (base + xlo), src + xlo, xhi - xlo);
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
    return graftConvDeclareParams(decl, sp->out_channels, s->in_c / sp->groups, sp->kernel_h,
                                  sp->kernel_w, sp->out_channels, sp->bias);
}

static void conv2d_init_params(graft_layer *l, graftRng *rng)
{
    const conv2d_state *s = l->state;
    const graft_conv2d_spec *sp = &s->spec;
    graftConvInitParams(l, rng, (double)(s->in_c / sp->groups) * sp->kernel_h * sp->kernel_w);
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

static int images_per_product(const graftConvDims *d, int n)
{
    if (d->p >= MIN_PRODUCT_COLS) return 1;
    int nb = (GROUP_PRODUCT_COLS + d->p - 1) / d->p;
    return nb < n ? nb : n;
}

/* Workspace for the matrix-product path: the column matrices of nb images
 * (K x nb*P, unless the input is read in place) and, when nb > 1, the
 * output or output gradient of one group for those images (Og x nb*P). */
static int ensure_workspace(graft_layer *l, const graftConvDims *d, int nb, int direct,
                            const char *func, float **col)
{
    size_t cols = (size_t)nb * (size_t)d->p;
    size_t need = (direct ? 0 : (size_t)d->k * cols) + (nb > 1 ? (size_t)d->og * cols : 0);
    *col = NULL;
    return need ? ensure_col(l, need, func, col) : GRAFT_OK;
}

/* Fills *wp and returns 1 when this call runs by Winograd's algorithm
 * (conv_winograd.h): enabled in the context, one group, a square kernel,
 * stride 1, no dilation, and a size the module takes. */
static int winograd_plan(const graft_layer *l, const graftConvDims *d, int n, graftWinograd *wp)
{
    const conv2d_state *s = l->state;
    const graft_conv2d_spec *sp = &s->spec;
    if (!l->ctx->winograd || d->groups != 1 || sp->kernel_h != sp->kernel_w ||
        sp->stride_h != 1 || sp->stride_w != 1 || sp->dilation_h != 1 || sp->dilation_w != 1)
        return 0;
    return graftWinogradPlan(wp, n, d->c, d->h, d->w, d->o, d->oh, d->ow, sp->kernel_h,
                             sp->pad_top, sp->pad_left, l->ctx->winograd == 2);
}

/* The matrix-product path's loops around each product, split over threads
 * (parallel.h) by image (column matrices) or by output channel (copying a
 * block of images' outputs out, applying the epilogue); every value is
 * computed as on one thread. */
typedef struct gemm_pass {
    const graft_conv2d_spec *sp;
    const graftConvDims *d;
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
    const graftConvDims *d = ps->d;
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
    const graftConvDims *d = ps->d;
    (void)worker;
    for (int i = i0; i < i1; i++)
        col2im(ps->sp, d, ps->col + (size_t)i * d->p, (size_t)ps->cols,
               ps->y + (size_t)i * d->c * d->hw);
}

/* One image's output planes [o0, o1) of the group, in place. */
static void epilogue_range(void *arg, int o0, int o1, int worker)
{
    const gemm_pass *ps = arg;
    const graftConvDims *d = ps->d;
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
    const graftConvDims *d = ps->d;
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
    const graftConvDims d = get_dims(s);
    const int n = (int)in[0]->dims[0]; /* <= GRAFT_LAYER_MAX_BATCH: check_inputs */
    const float *x = in[0]->data, *w = l->params[0].value->data;
    const float *b = sp->bias ? l->params[1].value->data : NULL;
    float *y = out->data;

    graftDepthwise dp;
    if (graftDepthwisePlan(&dp, sp, &d, n)) {
        float *work = NULL;
        const size_t need = graftDepthwiseWorkspace(&dp);
        if (need) GRAFT_FORWARD_IF_ERROR(ensure_col(l, need, "graft_layer_forward", &work));
        graftDepthwiseForward(&dp, x, w, b, y, work, ep);
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
    const graftConvDims d = get_dims(s);
    const int n = (int)in[0]->dims[0]; /* <= GRAFT_LAYER_MAX_BATCH: check_inputs */
    const int pgrad = l->need_param_grad;
    const float *x = in[0]->data, *w = l->params[0].value->data, *dy = dout->data;
    float *dw = pgrad ? l->params[0].grad->data : NULL;
    float *db = pgrad && sp->bias ? l->params[1].grad->data : NULL;
    float *dx = din[0] ? din[0]->data : NULL;
    (void)out;
    if (!pgrad && !dx) return GRAFT_OK;

    if (db) {
        memset(db, 0, (size_t)d.o * sizeof *db);
        for (int i = 0; i < n; i++)
            for (int o = 0; o < d.o; o++) {
                const float *g = dy + ((size_t)i * d.o + (size_t)o) * (size_t)d.p;
                db[o] += graftConvRowDot(g, NULL, d.p);
            }
    }

    graftDepthwise dp;
    if (graftDepthwisePlan(&dp, sp, &d, n)) {
        float *work = NULL;
        const size_t need = graftDepthwiseWorkspace(&dp);
        if (need) GRAFT_FORWARD_IF_ERROR(ensure_col(l, need, "graft_layer_backward", &work));
        graftDepthwiseBackward(&dp, x, w, dy, dw, dx, work);
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

/* The sizes graft_conv2d_spec has had: 1.0. */
static const uint32_t conv2d_spec_sizes[] = {(uint32_t)sizeof(graft_conv2d_spec)};
static const graftOptionsKind conv2d_spec_kind = {
    "spec", "GRAFT_CONV2D_SPEC_INIT", conv2d_spec_sizes, GRAFT_OPTIONS_COUNT(conv2d_spec_sizes), 0,
    0};

GRAFT_API int graft_layer_conv2d(graft_ctx *ctx, const graft_conv2d_spec *spec, graft_layer **out)
{
    graftClearError(ctx);
    if (out) *out = NULL;
    GRAFT_RETURN_IF(!ctx, NULL, GRAFT_E_INVALID_ARG, "ctx is NULL");
    GRAFT_RETURN_IF(!spec, ctx, GRAFT_E_INVALID_ARG, "spec is NULL");
    GRAFT_RETURN_IF(!out, ctx, GRAFT_E_INVALID_ARG, "out is NULL");
    graft_conv2d_spec sp = GRAFT_CONV2D_SPEC_INIT;
    GRAFT_FORWARD_IF_ERROR(graftOptionsRead(ctx, __func__, &conv2d_spec_kind, spec, &sp));
    GRAFT_FORWARD_IF_ERROR(conv2d_check(ctx, __func__, &sp));
    graft_layer *l;
    GRAFT_FORWARD_IF_ERROR(graftLayerNew(ctx, &graftConv2dVtbl, __func__, &l));
    conv2d_state *s = l->state;
    s->spec = sp;
    *out = l;
    return GRAFT_OK;
}
