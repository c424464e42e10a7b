/*
 * fit_loss.c - the losses graft_model_fit() trains with beyond softmax
 * cross-entropy on labels, and mixup and cutmix (graft.h, "Losses in
 * graft_model_fit()"; fit_loss.h).
 *
 * Mixing draws, from one generator seeded per (seed, epoch, batch): the
 * choice between mixup and cutmix (one uniform, only when both are on),
 * lambda ~ Beta(alpha, alpha) as X / (X + Y) with X, Y ~ Gamma(alpha)
 * (Marsaglia and Tsang, normals by Box-Muller; alpha < 1 through
 * Gamma(alpha + 1) U^(1 / alpha)), the permutation (Fisher-Yates from the
 * end), then for cutmix the box's centre (two uniforms).
 */
#include "fit_loss.h"

#include "batch.h"
#include "data/dataset.h"
#include "layers/loss.h"

#include <math.h>
#include <string.h>

static const char *const task_names[] = {"classification", "multi-label", "regression"};

int graftFitLossInit(graft_model *m, const graft_fit_opts *o, graft_dataset *train, int batch,
                     graftFitLoss *fl, const char *func)
{
    graft_ctx *ctx = m->ctx;
    memset(fl, 0, sizeof *fl);
    fl->task = m->task;
    fl->c = (int)graftModelOutputSize(m);
    fl->lambda = 1.0;
    const char *task = task_names[m->task];
    const int classify = m->task == GRAFT_TASK_CLASSIFICATION;
    GRAFT_RETURN_IF_AT(o->class_weights && !classify, ctx, GRAFT_E_INVALID_ARG, func,
                       "opts->class_weights is for classification; the model's task is %s",
                       task);
    GRAFT_RETURN_IF_AT(o->label_smoothing != 0.0f && !classify, ctx, GRAFT_E_INVALID_ARG, func,
                       "opts->label_smoothing is for classification; the model's task is %s",
                       task);
    GRAFT_RETURN_IF_AT(o->pos_weight && m->task != GRAFT_TASK_MULTI_LABEL, ctx,
                       GRAFT_E_INVALID_ARG, func,
                       "opts->pos_weight is for multi-label models; the model's task is %s", task);
    GRAFT_RETURN_IF_AT(!(o->label_smoothing >= 0.0f && o->label_smoothing <= 1.0f), ctx,
                       GRAFT_E_INVALID_ARG, func, "opts->label_smoothing is %g, must be in [0, 1]",
                       (double)o->label_smoothing);
    GRAFT_RETURN_IF_AT(o->regression_loss != GRAFT_LOSS_MSE && o->regression_loss != GRAFT_LOSS_L1,
                       ctx, GRAFT_E_INVALID_ARG, func,
                       "opts->regression_loss is %d, must be GRAFT_LOSS_MSE (0) or GRAFT_LOSS_L1 "
                       "(1)", o->regression_loss);
    GRAFT_RETURN_IF_AT(!(o->clip_grad_norm >= 0.0f) || !isfinite(o->clip_grad_norm), ctx,
                       GRAFT_E_INVALID_ARG, func,
                       "opts->clip_grad_norm is %g, must be 0 (off) or positive and finite",
                       (double)o->clip_grad_norm);
    GRAFT_RETURN_IF_AT(!(o->mixup_alpha >= 0.0f && o->mixup_alpha <= 1000.0f), ctx,
                       GRAFT_E_INVALID_ARG, func,
                       "opts->mixup_alpha is %g, must be 0 (off) or in (0, 1000]",
                       (double)o->mixup_alpha);
    GRAFT_RETURN_IF_AT(!(o->cutmix_alpha >= 0.0f && o->cutmix_alpha <= 1000.0f), ctx,
                       GRAFT_E_INVALID_ARG, func,
                       "opts->cutmix_alpha is %g, must be 0 (off) or in (0, 1000]",
                       (double)o->cutmix_alpha);
    if (o->class_weights) {
        GRAFT_RETURN_IF_AT(o->n_class_weights != fl->c, ctx, GRAFT_E_INVALID_ARG, func,
                           "opts->n_class_weights is %d; the model has %d classes",
                           o->n_class_weights, fl->c);
        GRAFT_FORWARD_IF_ERROR(graftLossCheckWeights(ctx, func, "opts->class_weights",
                                                     o->class_weights, fl->c));
    }
    if (o->pos_weight) {
        GRAFT_RETURN_IF_AT(o->n_pos_weight != fl->c, ctx, GRAFT_E_INVALID_ARG, func,
                           "opts->n_pos_weight is %d; the model has %d labels", o->n_pos_weight,
                           fl->c);
        GRAFT_FORWARD_IF_ERROR(
            graftLossCheckWeights(ctx, func, "opts->pos_weight", o->pos_weight, fl->c));
    }
    if (o->sample_weights) {
        GRAFT_RETURN_IF_AT(o->n_sample_weights != train->count, ctx, GRAFT_E_INVALID_ARG, func,
                           "opts->n_sample_weights is %lld; the training dataset has %lld "
                           "samples", (long long)o->n_sample_weights, (long long)train->count);
        GRAFT_FORWARD_IF_ERROR(graftLossCheckWeights(ctx, func, "opts->sample_weights",
                                                     o->sample_weights, train->count));
    }
    const graftShape *ss = &train->src->sample_shape;
    if (o->cutmix_alpha > 0) {
        GRAFT_RETURN_IF_AT(ss->ndim < 3, ctx, GRAFT_E_INVALID_ARG, func,
                           "cutmix needs samples of at least 2 dimensions (..., H, W); the "
                           "training samples have %d", ss->ndim - 1);
        fl->hw[0] = (int)ss->dims[ss->ndim - 2];
        fl->hw[1] = (int)ss->dims[ss->ndim - 1];
    }
    fl->class_w = o->class_weights;
    fl->pos_w = o->pos_weight;
    fl->sample_w = o->sample_weights;
    fl->smoothing = o->label_smoothing;
    fl->l1 = o->regression_loss == GRAFT_LOSS_L1;
    fl->mixup = o->mixup_alpha;
    fl->cutmix = o->cutmix_alpha;
    fl->sample_numel = train->src->sample_numel;

    const size_t nb = (size_t)batch, per = (size_t)fl->c;
    int nomem = 0;
    if (!classify) {
        fl->targets = graftAlloc(ctx, nb * per * sizeof(float));
        nomem |= !fl->targets;
    }
    if (fl->sample_w) {
        fl->sw = graftAlloc(ctx, nb * sizeof(float));
        nomem |= !fl->sw;
    }
    if (graftFitLossMixes(fl)) {
        fl->perm = graftAlloc(ctx, nb * sizeof(int));
        fl->labels_b = graftAlloc(ctx, nb * sizeof(int32_t));
        fl->x_copy = graftAlloc(ctx, nb * fl->sample_numel * sizeof(float));
        nomem |= !fl->perm || !fl->labels_b || !fl->x_copy;
        if (!classify) {
            fl->targets_b = graftAlloc(ctx, nb * per * sizeof(float));
            nomem |= !fl->targets_b;
        }
    }
    GRAFT_RETURN_IF_AT(nomem, ctx, GRAFT_E_NOMEM, func, "cannot allocate the loss's buffers");
    return GRAFT_OK;
}

void graftFitLossFree(graft_ctx *ctx, graftFitLoss *fl)
{
    graftFree(ctx, fl->targets);
    graftFree(ctx, fl->targets_b);
    graftFree(ctx, fl->sw);
    graftFree(ctx, fl->labels_b);
    graftFree(ctx, fl->perm);
    graftFree(ctx, fl->x_copy);
}

int graftFitLossMixes(const graftFitLoss *fl) { return fl->mixup > 0 || fl->cutmix > 0; }

int graftFitLossLoad(graftFitLoss *fl, graft_dataset *ds, const int64_t *order, int n,
                     const char *func)
{
    fl->lambda = 1.0;
    if (fl->sample_w)
        for (int i = 0; i < n; i++) fl->sw[i] = fl->sample_w[order[i]];
    if (fl->task == GRAFT_TASK_CLASSIFICATION) return GRAFT_OK;
    GRAFT_FORWARD_IF_ERROR(graftDatasetGatherTargets(ds, order, n, fl->targets, func));
    const size_t c = (size_t)fl->c;
    if (!ds->src->finite) /* borrowed targets may have changed since they were checked */
        for (size_t k = 0; k < (size_t)n * c; k++)
            GRAFT_RETURN_IF_AT(!isfinite(fl->targets[k]), ds->ctx, GRAFT_E_NUMERIC, func,
                               "training sample %lld has target %g for output %zu; targets "
                               "must be finite", (long long)order[k / c],
                               (double)fl->targets[k], k % c);
    if (fl->task != GRAFT_TASK_MULTI_LABEL) return GRAFT_OK;
    for (size_t k = 0; k < (size_t)n * (size_t)fl->c; k++)
        GRAFT_RETURN_IF_AT(!(fl->targets[k] >= 0.0f && fl->targets[k] <= 1.0f), ds->ctx,
                           GRAFT_E_RANGE, func,
                           "training sample %lld has target %g for label %zu; multi-label "
                           "targets must be in [0, 1]", (long long)order[k / (size_t)fl->c],
                           (double)fl->targets[k], k % (size_t)fl->c);
    return GRAFT_OK;
}

/* ---- drawing lambda ---------------------------------------------------------------- */

static double uniform53(graftRng *r) { return (double)(graftRngNext(r) >> 11) * 0x1p-53; }

static double normal(graftRng *r)
{
    double u = uniform53(r), v = uniform53(r);
    return sqrt(-2.0 * log(1.0 - u)) * cos(6.283185307179586 * v);
}

/* Gamma(a, 1) for a >= 1 (Marsaglia and Tsang). */
static double gamma_ge1(graftRng *r, double a)
{
    const double d = a - 1.0 / 3.0, c = 1.0 / sqrt(9.0 * d);
    for (;;) {
        double x, v;
        do {
            x = normal(r);
            v = 1.0 + c * x;
        } while (v <= 0);
        v = v * v * v;
        const double u = uniform53(r);
        if (u < 1.0 - 0.0331 * x * x * x * x) return d * v;
        if (log(u > 0 ? u : 0x1p-60) < 0.5 * x * x + d * (1.0 - v + log(v))) return d * v;
    }
}

static double gamma_draw(graftRng *r, double a)
{
    if (a >= 1.0) return gamma_ge1(r, a);
    const double g = gamma_ge1(r, a + 1.0), u = uniform53(r);
    return g * pow(u > 0 ? u : 0x1p-60, 1.0 / a);
}

static double beta_draw(graftRng *r, double a)
{
    const double x = gamma_draw(r, a), y = gamma_draw(r, a);
    return x + y > 0 ? x / (x + y) : 0.5;
}

/* ---- mixing -------------------------------------------------------------------------- */

void graftFitLossMix(graftFitLoss *fl, graft_tensor *x, const int32_t *labels, int n,
                     uint64_t seed)
{
    graftRng r;
    graftRngSeed(&r, seed);
    int cut = fl->cutmix > 0;
    if (fl->mixup > 0 && fl->cutmix > 0) cut = uniform53(&r) >= 0.5;
    double lam = beta_draw(&r, cut ? fl->cutmix : fl->mixup);
    for (int i = 0; i < n; i++) fl->perm[i] = i;
    for (int i = n - 1; i > 0; i--) {
        int j = (int)(graftRngNext(&r) % (uint64_t)(i + 1));
        int t = fl->perm[i];
        fl->perm[i] = fl->perm[j];
        fl->perm[j] = t;
    }
    const size_t per = fl->sample_numel;
    memcpy(fl->x_copy, x->data, (size_t)n * per * sizeof(float));
    if (!cut) {
        const float a = (float)lam, b = (float)(1.0 - lam);
        for (int i = 0; i < n; i++) {
            float *d = x->data + (size_t)i * per;
            const float *p = fl->x_copy + (size_t)fl->perm[i] * per;
            for (size_t k = 0; k < per; k++) d[k] = a * d[k] + b * p[k];
        }
    } else {
        const int h = fl->hw[0], w = fl->hw[1];
        const double rat = sqrt(1.0 - lam);
        const int ch = (int)(h * rat), cw = (int)(w * rat);
        const int cy = (int)(uniform53(&r) * h), cx = (int)(uniform53(&r) * w);
        const int y0 = cy - ch / 2 < 0 ? 0 : cy - ch / 2, y1 = cy + ch / 2 > h ? h : cy + ch / 2;
        const int x0 = cx - cw / 2 < 0 ? 0 : cx - cw / 2, x1 = cx + cw / 2 > w ? w : cx + cw / 2;
        const size_t plane = (size_t)h * (size_t)w, planes = per / plane;
        for (int i = 0; i < n; i++)
            for (size_t pl = 0; pl < planes; pl++) {
                float *d = x->data + (size_t)i * per + pl * plane;
                const float *p = fl->x_copy + (size_t)fl->perm[i] * per + pl * plane;
                for (int y = y0; y < y1; y++)
                    memcpy(d + (size_t)y * w + x0, p + (size_t)y * w + x0,
                           (size_t)(x1 - x0) * sizeof(float));
            }
        lam = 1.0 - (double)(y1 - y0) * (double)(x1 - x0) / (double)plane;
    }
    fl->lambda = lam;
    if (fl->task == GRAFT_TASK_CLASSIFICATION) {
        for (int i = 0; i < n; i++) fl->labels_b[i] = labels[fl->perm[i]];
        return;
    }
    const size_t c = (size_t)fl->c;
    memcpy(fl->targets_b, fl->targets, (size_t)n * c * sizeof(float));
    for (int i = 0; i < n; i++)
        for (size_t j = 0; j < c; j++)
            fl->targets[i * c + j] = (float)(lam * fl->targets_b[i * c + j] +
                                             (1.0 - lam) * fl->targets_b[fl->perm[i] * c + j]);
}

/* ---- the loss --------------------------------------------------------------------- */

int graftFitLossCompute(graftFitLoss *fl, graft_ctx *ctx, const graft_tensor *logits,
                        const int32_t *labels, float *loss, graft_tensor *grad,
                        const char *func)
{
    graftLossTerm t = {fl->class_w, fl->pos_w, fl->sample_w ? fl->sw : NULL, fl->smoothing,
                       1.0f, 0};
    double total = 0;
    int st;
    switch (fl->task) {
    case GRAFT_TASK_CLASSIFICATION:
        if (fl->lambda >= 1.0) {
            st = graftLossCrossEntropy(ctx, func, logits, labels, &t, &total, grad);
            break;
        }
        t.scale = (float)fl->lambda;
        st = graftLossCrossEntropy(ctx, func, logits, labels, &t, &total, grad);
        t.scale = (float)(1.0 - fl->lambda);
        t.accumulate = 1;
        if (st == GRAFT_OK)
            st = graftLossCrossEntropy(ctx, func, logits, fl->labels_b, &t, &total, grad);
        break;
    case GRAFT_TASK_MULTI_LABEL:
        st = graftLossBce(ctx, func, logits, fl->targets, &t, &total, grad);
        break;
    default:
        st = graftLossRegression(ctx, func, logits, fl->targets, fl->l1, &t, &total, grad);
        break;
    }
    if (st == GRAFT_OK) *loss = (float)total;
    return st;
}

double graftFitLossCorrect(const graftFitLoss *fl, const graft_tensor *logits,
                           const int32_t *labels, int n)
{
    const int c = fl->c;
    double right = 0;
    for (int i = 0; i < n; i++) {
        const float *row = logits->data + (size_t)i * c;
        if (fl->task == GRAFT_TASK_CLASSIFICATION) {
            right += graftArgmaxRow(row, c) == labels[i];
        } else if (fl->task == GRAFT_TASK_MULTI_LABEL) {
            int k = 0;
            for (int j = 0; j < c; j++)
                k += (row[j] >= 0.0f) == (fl->targets[(size_t)i * c + j] >= 0.5f);
            right += (double)k / (double)c;
        }
    }
    return right;
}
