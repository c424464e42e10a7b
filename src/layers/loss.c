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
 * Both functions validate everything before writing anything, so on failure
 * neither *loss nor grad is touched. grad may be the logits (or pred) tensor
 * itself: each element is read before it is overwritten.
 */
#include "core/internal.h"

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

GRAFT_API int graft_loss_mse(const graft_tensor *pred, const graft_tensor *target, float *loss,
                             graft_tensor *grad)
{
    graft_ctx *ctx = pred ? pred->ctx : target ? target->ctx : grad ? grad->ctx : NULL;
    graftClearError(ctx);
    GRAFT_RETURN_IF(!pred, ctx, GRAFT_E_INVALID_ARG, "pred is NULL");
    GRAFT_RETURN_IF(!target, ctx, GRAFT_E_INVALID_ARG, "target is NULL");
    GRAFT_RETURN_IF(!loss, ctx, GRAFT_E_INVALID_ARG, "loss is NULL");
    char sa[160], sb[160];
    if (!same_shape(target, pred, sa, sb, sizeof sa))
        return graftError(ctx, GRAFT_E_SHAPE, __func__,
                          "target has shape %s, must be pred's shape %s", sa, sb);
    if (grad && !same_shape(grad, pred, sa, sb, sizeof sa))
        return graftError(ctx, GRAFT_E_SHAPE, __func__,
                          "grad has shape %s, must be pred's shape %s", sa, sb);

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
