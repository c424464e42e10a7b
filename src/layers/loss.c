/*
 * loss.c - loss functions: softmax cross-entropy and mean squared error.
 *
 * Softmax cross-entropy over logits X (N, C) and labels y[N] in [0, C):
 *   lse_n   = m_n + log(sum_j exp(X[n, j] - m_n)),  m_n = max_j X[n, j]
 *   loss    = (1 / N) * sum_n (lse_n - X[n, y_n])
 *   dX[n,j] = (exp(X[n, j] - lse_n) - [j == y_n]) / N
 * Subtracting the row maximum keeps every exponent <= 0, so logits of any
 * finite size neither overflow nor lose the label's term. Sums are kept in
 * double.
 *
 * Mean squared error over P and T of one shape with M elements:
 *   loss = (1 / M) * sum_i (P_i - T_i)^2,   dP_i = 2 (P_i - T_i) / M
 *
 * Since 1.3 the cross-entropy takes class weights, sample weights and label
 * smoothing (PyTorch's CrossEntropyLoss(weight, label_smoothing), mean
 * reduction), with sample weights s_n, class weights w_j, smoothing e:
 *   a_n   = (1 - e) w[y_n] (lse_n - X[n, y_n]) + (e / C) sum_j w_j (lse_n - X[n, j])
 *   loss  = sum_n s_n a_n / D,   D = sum_n s_n w[y_n]
 *   dX[n,k] = s_n ((1 - e) w[y_n] (p_nk - [k == y_n]) + (e / C)(W p_nk - w_k)) / D
 * with p = softmax(X[n]) and W = sum_j w_j; a batch with D = 0 has loss 0
 * and gradient 0. Binary cross-entropy with logits (BCEWithLogitsLoss with
 * pos_weight P_j), per element
 *   l_nj = P_j t log(1 + e^-x) + (1 - t) log(1 + e^x)
 *   dl/dx = sigmoid(x) (P_j t + 1 - t) - P_j t
 * with log(1 + e^x) computed as max(x, 0) + log1p(e^-|x|); the loss is
 * sum_n s_n sum_j l_nj / (C sum_n s_n). Mean absolute error: the mean of
 * |P_i - T_i|, gradient sign(P_i - T_i) / M (0 where they are equal, as
 * PyTorch's L1Loss).
 *
 * Every function validates everything before writing anything, so on failure
 * neither *loss nor grad is touched. grad may be the logits (or pred) tensor
 * itself: each element is read before it is overwritten.
 */
#include "loss.h"

#include "core/finite.h"
#include "core/options.h"

#include <math.h>

/* Returns 1 when two tensors have the same shape, writing both shapes into
 * the buffers for a message otherwise. */
static int same_shape(const graft_tensor *a, const graft_tensor *b, char *sa, char *sb,
                      size_t size)
{
    if (graftTensorSameShape(a, b)) return 1;
    graftShapeString(a->ndim, a->dims, sa, size);
    graftShapeString(b->ndim, b->dims, sb, size);
    return 0;
}

GRAFT_API int graft_loss_softmax_cross_entropy(const graft_tensor *logits, const int32_t *labels,
                                               float *loss, graft_tensor *grad)
{
    graft_ctx *ctx = logits ? logits->ctx : grad ? grad->ctx : NULL;
    graftClearError(ctx);
    GRAFT_RETURN_IF(!logits, ctx, GRAFT_E_INVALID_ARG, "logits is NULL");
    GRAFT_RETURN_IF(!labels, ctx, GRAFT_E_INVALID_ARG, "labels is NULL");
    GRAFT_RETURN_IF(!loss, ctx, GRAFT_E_INVALID_ARG, "loss is NULL");
    char sa[160], sb[160];
    if (logits->ndim != 2) {
        graftShapeString(logits->ndim, logits->dims, sa, sizeof sa);
        return graftError(ctx, GRAFT_E_SHAPE, __func__,
                          "logits has shape %s, must be 2-D (batch, classes)", sa);
    }
    const int64_t n = logits->dims[0], c = logits->dims[1];
    GRAFT_RETURN_IF(n < 1 || c < 1, ctx, GRAFT_E_SHAPE,
                    "logits has %lld samples of %lld classes, both must be >= 1", (long long)n,
                    (long long)c);
    if (grad && !same_shape(grad, logits, sa, sb, sizeof sa))
        return graftError(ctx, GRAFT_E_SHAPE, __func__,
                          "grad has shape %s, must be the logits' shape %s", sa, sb);

    const float *x = logits->data;
    for (int64_t i = 0; i < n; i++) {
        GRAFT_RETURN_IF(labels[i] < 0 || labels[i] >= c, ctx, GRAFT_E_RANGE,
                        "labels[%lld] is %ld, must be in [0, %lld)", (long long)i,
                        (long)labels[i], (long long)c);
        const float *row = x + i * c;
        for (int64_t j = 0; j < c; j++)
            GRAFT_RETURN_IF(!isfinite(row[j]), ctx, GRAFT_E_NUMERIC,
                            "logits[%lld, %lld] is %g, must be finite", (long long)i,
                            (long long)j, (double)row[j]);
    }

    double total = 0.0;
    const double inv_n = 1.0 / (double)n;
    for (int64_t i = 0; i < n; i++) {
        const float *row = x + i * c;
        double m = row[0];
        for (int64_t j = 1; j < c; j++)
            if (row[j] > m) m = row[j];
        double sum = 0.0;
        for (int64_t j = 0; j < c; j++) sum += exp((double)row[j] - m);
        const double lse = m + log(sum);
        const int64_t y = labels[i];
        total += lse - (double)row[y];
        if (grad) {
            float *g = grad->data + i * c;
            for (int64_t j = 0; j < c; j++)
                g[j] = (float)((exp((double)row[j] - lse) - (j == y ? 1.0 : 0.0)) * inv_n);
        }
    }
    *loss = (float)(total * inv_n);
    return GRAFT_OK;
}

/* The arguments of a loss between predictions and targets of one shape
 * (graft_loss_mse(), graft_loss_l1()): func names the call in messages. */
static int check_regression_args(graft_ctx *ctx, const char *func, const graft_tensor *pred,
                                 const graft_tensor *target, const float *loss,
                                 const graft_tensor *grad)
{
    GRAFT_RETURN_IF_AT(!pred, ctx, GRAFT_E_INVALID_ARG, func, "pred is NULL");
    GRAFT_RETURN_IF_AT(!target, ctx, GRAFT_E_INVALID_ARG, func, "target is NULL");
    GRAFT_RETURN_IF_AT(!loss, ctx, GRAFT_E_INVALID_ARG, func, "loss is NULL");
    char sa[160], sb[160];
    if (!same_shape(target, pred, sa, sb, sizeof sa))
        return graftError(ctx, GRAFT_E_SHAPE, func,
                          "target has shape %s, must be pred's shape %s", sa, sb);
    if (grad && !same_shape(grad, pred, sa, sb, sizeof sa))
        return graftError(ctx, GRAFT_E_SHAPE, func,
                          "grad has shape %s, must be pred's shape %s", sa, sb);
    return GRAFT_OK;
}

GRAFT_API int graft_loss_mse(const graft_tensor *pred, const graft_tensor *target, float *loss,
                             graft_tensor *grad)
{
    graft_ctx *ctx = pred ? pred->ctx : target ? target->ctx : grad ? grad->ctx : NULL;
    graftClearError(ctx);
    GRAFT_FORWARD_IF_ERROR(check_regression_args(ctx, __func__, pred, target, loss, grad));

    const size_t m = pred->numel;
    const float *p = pred->data, *t = target->data;
    const double scale = 2.0 / (double)m;
    double total = 0.0;
    for (size_t i = 0; i < m; i++) {
        const double d = (double)p[i] - (double)t[i];
        total += d * d;
        if (grad) grad->data[i] = (float)(scale * d);
    }
    *loss = (float)(total / (double)m);
    return GRAFT_OK;
}

/* ---- the common core (loss.h) ------------------------------------------------- */

int graftLossCheckWeights(graft_ctx *ctx, const char *func, const char *what, const float *w,
                          int64_t n)
{
    if (!w) return GRAFT_OK;
    for (int64_t i = 0; i < n; i++)
        GRAFT_RETURN_IF_AT(!(w[i] >= 0.0f) || !isfinite(w[i]), ctx, GRAFT_E_RANGE, func,
                           "%s[%lld] is %g, must be finite and >= 0", what, (long long)i,
                           (double)w[i]);
    return GRAFT_OK;
}

/* Stores or adds v into *g. */
static inline void put(float *g, double v, int accumulate)
{
    *g = accumulate ? (float)((double)*g + v) : (float)v;
}

int graftLossCrossEntropy(graft_ctx *ctx, const char *func, const graft_tensor *logits,
                          const int32_t *labels, const graftLossTerm *t, double *loss,
                          graft_tensor *grad)
{
    const int64_t n = logits->dims[0], c = logits->dims[1];
    const float *x = logits->data, *cw = t->class_weights, *sw = t->sample_weights;
    for (int64_t i = 0; i < n; i++)
        GRAFT_RETURN_IF_AT(labels[i] < 0 || labels[i] >= c, ctx, GRAFT_E_RANGE, func,
                           "labels[%lld] is %ld, must be in [0, %lld)", (long long)i,
                           (long)labels[i], (long long)c);
    const size_t bad = graftFirstNonFinite(x, (size_t)(n * c));
    GRAFT_RETURN_IF_AT(bad < (size_t)(n * c), ctx, GRAFT_E_NUMERIC, func,
                       "logits[%lld, %lld] is %g, must be finite", (long long)(bad / (size_t)c),
                       (long long)(bad % (size_t)c), (double)x[bad]);
    double den = 0, wsum = 0;
    for (int64_t i = 0; i < n; i++)
        den += (sw ? (double)sw[i] : 1.0) * (cw ? (double)cw[labels[i]] : 1.0);
    for (int64_t j = 0; j < c; j++) wsum += cw ? (double)cw[j] : 1.0;
    const double e = t->label_smoothing, inv = den > 0 ? (double)t->scale / den : 0.0;
    double total = 0;
    for (int64_t i = 0; i < n; i++) {
        const float *row = x + i * c;
        double m = row[0];
        for (int64_t j = 1; j < c; j++)
            if (row[j] > m) m = row[j];
        double sum = 0;
        for (int64_t j = 0; j < c; j++) sum += exp((double)row[j] - m);
        const double lse = m + log(sum);
        const int64_t y = labels[i];
        const double s = sw ? (double)sw[i] : 1.0, wy = cw ? (double)cw[y] : 1.0;
        double smooth = 0;
        if (e > 0)
            for (int64_t j = 0; j < c; j++) smooth += (cw ? (double)cw[j] : 1.0) * (lse - row[j]);
        total += s * ((1.0 - e) * wy * (lse - (double)row[y]) + e / (double)c * smooth);
        if (!grad) continue;
        float *g = grad->data + i * c;
        for (int64_t j = 0; j < c; j++) {
            const double p = exp((double)row[j] - lse), wj = cw ? (double)cw[j] : 1.0;
            const double d = (1.0 - e) * wy * (p - (j == y ? 1.0 : 0.0)) +
                             e / (double)c * (wsum * p - wj);
            put(g + j, s * d * inv, t->accumulate);
        }
    }
    *loss += total * inv; /* as graft_loss_softmax_cross_entropy() for scale 1 */
    return GRAFT_OK;
}

/* log(1 + e^x) without overflow. */
static inline double softplus(double x)
{
    return (x > 0 ? x : 0.0) + log1p(exp(-fabs(x)));
}

int graftLossBce(graft_ctx *ctx, const char *func, const graft_tensor *logits,
                 const float *targets, const graftLossTerm *t, double *loss, graft_tensor *grad)
{
    const int64_t n = logits->dims[0], c = logits->dims[1];
    const size_t total_n = (size_t)(n * c);
    const float *x = logits->data, *pw = t->pos_weight, *sw = t->sample_weights;
    for (size_t k = 0; k < total_n; k++) {
        GRAFT_RETURN_IF_AT(!(targets[k] >= 0.0f && targets[k] <= 1.0f), ctx, GRAFT_E_RANGE, func,
                           "targets[%lld, %lld] is %g, must be in [0, 1]",
                           (long long)(k / (size_t)c), (long long)(k % (size_t)c),
                           (double)targets[k]);
        GRAFT_RETURN_IF_AT(!isfinite(x[k]), ctx, GRAFT_E_NUMERIC, func,
                           "logits[%lld, %lld] is %g, must be finite", (long long)(k / (size_t)c),
                           (long long)(k % (size_t)c), (double)x[k]);
    }
    double den = 0;
    for (int64_t i = 0; i < n; i++) den += sw ? (double)sw[i] : 1.0;
    den *= (double)c;
    const double inv = den > 0 ? (double)t->scale / den : 0.0;
    double total = 0;
    for (int64_t i = 0; i < n; i++) {
        const double s = sw ? (double)sw[i] : 1.0;
        for (int64_t j = 0; j < c; j++) {
            const size_t k = (size_t)(i * c + j);
            const double xv = x[k], tv = targets[k], p = pw ? (double)pw[j] : 1.0;
            total += s * (p * tv * softplus(-xv) + (1.0 - tv) * softplus(xv));
            if (grad) {
                const double sig = 1.0 / (1.0 + exp(-xv));
                put(grad->data + k, s * (sig * (p * tv + 1.0 - tv) - p * tv) * inv,
                    t->accumulate);
            }
        }
    }
    *loss += total * inv;
    return GRAFT_OK;
}

int graftLossRegression(graft_ctx *ctx, const char *func, const graft_tensor *pred,
                        const float *targets, int l1, const graftLossTerm *t, double *loss,
                        graft_tensor *grad)
{
    const int64_t n = pred->dims[0];
    const size_t per = pred->numel / (size_t)n;
    const float *p = pred->data, *sw = t->sample_weights;
    const size_t bad = graftFirstNonFinite(p, pred->numel);
    GRAFT_RETURN_IF_AT(bad < pred->numel, ctx, GRAFT_E_NUMERIC, func,
                       "the prediction of sample %lld, element %zu is %g, must be finite",
                       (long long)(bad / per), bad % per, (double)p[bad]);
    const size_t tbad = graftFirstNonFinite(targets, pred->numel);
    GRAFT_RETURN_IF_AT(tbad < pred->numel, ctx, GRAFT_E_NUMERIC, func,
                       "the target of sample %lld, element %zu is %g, must be finite",
                       (long long)(tbad / per), tbad % per, (double)targets[tbad]);
    double den = 0;
    for (int64_t i = 0; i < n; i++) den += sw ? (double)sw[i] : 1.0;
    den *= (double)per;
    const double inv = den > 0 ? (double)t->scale / den : 0.0;
    double total = 0;
    for (int64_t i = 0; i < n; i++) {
        const double s = sw ? (double)sw[i] : 1.0;
        for (size_t k = i * per; k < (size_t)(i + 1) * per; k++) {
            const double d = (double)p[k] - (double)targets[k];
            total += s * (l1 ? fabs(d) : d * d);
            if (grad)
                put(grad->data + k, s * (l1 ? (double)((d > 0) - (d < 0)) : 2.0 * d) * inv,
                    t->accumulate);
        }
    }
    *loss += total * inv;
    return GRAFT_OK;
}

/* ---- the public functions of 1.3 ---------------------------------------------- */

/* The sizes graft_loss_opts has had: 1.3. */
static const uint32_t loss_opts_sizes[] = {(uint32_t)sizeof(graft_loss_opts)};
static const graftOptionsKind loss_opts_kind = {
    "opts", "GRAFT_LOSS_OPTS_INIT", loss_opts_sizes, GRAFT_OPTIONS_COUNT(loss_opts_sizes), 0, 0};

/* Checks logits (2-D, at least 1 x 1), grad (logits' shape or NULL), loss and
 * opts (read into *o), and the weights' values. */
static int check_logits(graft_ctx *ctx, const char *func, const graft_tensor *logits,
                        const graft_loss_opts *opts, const float *loss, const graft_tensor *grad,
                        graft_loss_opts *o)
{
    GRAFT_RETURN_IF_AT(!logits, ctx, GRAFT_E_INVALID_ARG, func, "logits is NULL");
    GRAFT_RETURN_IF_AT(!loss, ctx, GRAFT_E_INVALID_ARG, func, "loss is NULL");
    graft_loss_opts def = GRAFT_LOSS_OPTS_INIT;
    *o = def;
    if (opts) GRAFT_FORWARD_IF_ERROR(graftOptionsRead(ctx, func, &loss_opts_kind, opts, o));
    char sa[160], sb[160];
    if (logits->ndim != 2) {
        graftShapeString(logits->ndim, logits->dims, sa, sizeof sa);
        return graftError(ctx, GRAFT_E_SHAPE, func,
                          "logits has shape %s, must be 2-D (batch, classes)", sa);
    }
    const int64_t n = logits->dims[0], c = logits->dims[1];
    GRAFT_RETURN_IF_AT(n < 1 || c < 1, ctx, GRAFT_E_SHAPE, func,
                       "logits has %lld samples of %lld classes, both must be >= 1",
                       (long long)n, (long long)c);
    if (grad && !same_shape(grad, logits, sa, sb, sizeof sa))
        return graftError(ctx, GRAFT_E_SHAPE, func,
                          "grad has shape %s, must be the logits' shape %s", sa, sb);
    GRAFT_RETURN_IF_AT(!(o->label_smoothing >= 0.0f && o->label_smoothing <= 1.0f), ctx,
                       GRAFT_E_INVALID_ARG, func, "opts->label_smoothing is %g, must be in [0, 1]",
                       (double)o->label_smoothing);
    GRAFT_FORWARD_IF_ERROR(graftLossCheckWeights(ctx, func, "opts->class_weights",
                                                 o->class_weights, c));
    GRAFT_FORWARD_IF_ERROR(graftLossCheckWeights(ctx, func, "opts->pos_weight", o->pos_weight, c));
    return graftLossCheckWeights(ctx, func, "opts->sample_weights", o->sample_weights, n);
}

GRAFT_API int graft_loss_cross_entropy(const graft_tensor *logits, const int32_t *labels,
                                       const graft_loss_opts *opts, float *loss,
                                       graft_tensor *grad)
{
    graft_ctx *ctx = logits ? logits->ctx : grad ? grad->ctx : NULL;
    graftClearError(ctx);
    graft_loss_opts o;
    GRAFT_FORWARD_IF_ERROR(check_logits(ctx, __func__, logits, opts, loss, grad, &o));
    GRAFT_RETURN_IF(!labels, ctx, GRAFT_E_INVALID_ARG, "labels is NULL");
    GRAFT_RETURN_IF(o.pos_weight, ctx, GRAFT_E_INVALID_ARG,
                    "opts->pos_weight is for graft_loss_bce_with_logits(), must be NULL");
    const graftLossTerm t = {o.class_weights, NULL, o.sample_weights, o.label_smoothing, 1.0f, 0};
    double total = 0;
    GRAFT_FORWARD_IF_ERROR(graftLossCrossEntropy(ctx, __func__, logits, labels, &t, &total, grad));
    *loss = (float)total;
    return GRAFT_OK;
}

GRAFT_API int graft_loss_bce_with_logits(const graft_tensor *logits, const graft_tensor *targets,
                                         const graft_loss_opts *opts, float *loss,
                                         graft_tensor *grad)
{
    graft_ctx *ctx = logits ? logits->ctx : grad ? grad->ctx : NULL;
    graftClearError(ctx);
    graft_loss_opts o;
    GRAFT_FORWARD_IF_ERROR(check_logits(ctx, __func__, logits, opts, loss, grad, &o));
    GRAFT_RETURN_IF(!targets, ctx, GRAFT_E_INVALID_ARG, "targets is NULL");
    char sa[160], sb[160];
    if (!same_shape(targets, logits, sa, sb, sizeof sa))
        return graftError(ctx, GRAFT_E_SHAPE, __func__,
                          "targets has shape %s, must be the logits' shape %s", sa, sb);
    GRAFT_RETURN_IF(o.class_weights || o.label_smoothing != 0.0f, ctx, GRAFT_E_INVALID_ARG,
                    "opts->class_weights and opts->label_smoothing are for "
                    "graft_loss_cross_entropy(), must be NULL and 0");
    const graftLossTerm t = {NULL, o.pos_weight, o.sample_weights, 0.0f, 1.0f, 0};
    double total = 0;
    GRAFT_FORWARD_IF_ERROR(graftLossBce(ctx, __func__, logits, targets->data, &t, &total, grad));
    *loss = (float)total;
    return GRAFT_OK;
}

GRAFT_API int graft_loss_l1(const graft_tensor *pred, const graft_tensor *target, float *loss,
                            graft_tensor *grad)
{
    graft_ctx *ctx = pred ? pred->ctx : target ? target->ctx : grad ? grad->ctx : NULL;
    graftClearError(ctx);
    GRAFT_FORWARD_IF_ERROR(check_regression_args(ctx, __func__, pred, target, loss, grad));
    const size_t m = pred->numel;
    const float *p = pred->data, *t = target->data;
    double total = 0;
    for (size_t i = 0; i < m; i++) {
        const double d = (double)p[i] - (double)t[i];
        total += fabs(d);
        if (grad) grad->data[i] = (float)((double)((d > 0) - (d < 0)) / (double)m);
    }
    *loss = (float)(total / (double)m);
    return GRAFT_OK;
}
