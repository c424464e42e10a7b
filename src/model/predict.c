/*
 * predict.c - class probabilities and the k best classes for a batch
 * (per-label sigmoid probabilities for multi-label models, the outputs as
 * they are for regression models: GRAFT_MODEL_TASK). Both may run
 * concurrently on one model: each call runs the graph on the model itself
 * or on an executor of its own (graftModelInferBegin(), model.h
 * "Executors"), and reads the logits before handing it back.
 */
#include "batch.h"

#include <math.h>
#include <string.h>

/* Runs m on input in inference mode: *logits is the output, valid until
 * graftModelInferEnd(m, *run), which the caller owes once this succeeds. */
static int predict_logits(graft_model *m, const graft_tensor *input, const char *func,
                          graft_model **run, const graft_tensor **logits)
{
    graft_ctx *ctx = m->ctx;
    int out = graftModelOutputNode(m);
    GRAFT_RETURN_IF_AT(out < 0, ctx, GRAFT_E_STATE, func, "the model has no layers");
    GRAFT_RETURN_IF_AT(m->nodes[out].layer->out_shape.ndim != 2, ctx, GRAFT_E_SHAPE, func,
                       "the model's output must be (N, classes)");
    GRAFT_FORWARD_IF_ERROR(graftModelCheckInput(m, input, func));
    GRAFT_FORWARD_IF_ERROR(graftModelInferBegin(m, func, run));
    graftModelSetMode(*run, 0);
    int st = graftModelForward(*run, input, logits);
    if (st != GRAFT_OK) graftModelInferEnd(m, *run);
    return st;
}

GRAFT_API int graft_model_predict(graft_model *m, const graft_tensor *input, graft_tensor *probs)
{
    graftClearError(m ? m->ctx : NULL);
    GRAFT_RETURN_IF(!m || !input || !probs, m ? m->ctx : NULL, GRAFT_E_INVALID_ARG,
                    "model, input and probs must not be NULL");
    const graft_tensor *logits;
    graft_model *run;
    int st = predict_logits(m, input, __func__, &run, &logits);
    if (st != GRAFT_OK) return graftErrorAt(m->ctx, st, __func__);
    if (!graftTensorSameShape(logits, probs)) {
        char a[128], b[128];
        graftShapeString(probs->ndim, probs->dims, a, sizeof a);
        graftShapeString(logits->ndim, logits->dims, b, sizeof b);
        graftModelInferEnd(m, run);
        return graftError(m->ctx, GRAFT_E_SHAPE, __func__, "probs has shape %s, expected %s", a, b);
    }
    int c = (int)logits->dims[1];
    for (int64_t i = 0; i < logits->dims[0]; i++)
        graftOutputRow(m->task, logits->data + i * c, probs->data + i * c, c);
    graftModelInferEnd(m, run);
    return GRAFT_OK;
}

GRAFT_API int graft_model_predict_topk(graft_model *m, const graft_tensor *input, int k,
                                       int32_t *indices, float *probs)
{
    graftClearError(m ? m->ctx : NULL);
    GRAFT_RETURN_IF(!m || !input || !indices || !probs, m ? m->ctx : NULL, GRAFT_E_INVALID_ARG,
                    "model, input, indices and probs must not be NULL");
    GRAFT_RETURN_IF(m->task == GRAFT_TASK_REGRESSION, m->ctx, GRAFT_E_STATE,
                    "a regression model (GRAFT_MODEL_TASK) has no classes to rank");
    int c = (int)graftModelOutputSize(m);
    GRAFT_RETURN_IF(k < 1 || k > c, m->ctx, GRAFT_E_RANGE,
                    "k is %d, must be 1 to %d (the classes)", k, c);
    const graft_tensor *logits;
    graft_model *run;
    int st = predict_logits(m, input, __func__, &run, &logits);
    if (st != GRAFT_OK) return graftErrorAt(m->ctx, st, __func__);
    float *row = graftAlloc(m->ctx, (size_t)c * sizeof *row);
    if (!row) {
        graftModelInferEnd(m, run);
        return graftError(m->ctx, GRAFT_E_NOMEM, __func__, "cannot allocate a row");
    }
    for (int64_t i = 0; i < logits->dims[0]; i++) {
        graftOutputRow(m->task, logits->data + i * c, row, c);
        /* selection of the k best, ties to the lower index */
        for (int r = 0; r < k; r++) {
            int best = -1;
            for (int j = 0; j < c; j++) {
                if (row[j] < 0) continue;
                if (best < 0 || row[j] > row[best]) best = j;
            }
            indices[i * k + r] = best;
            probs[i * k + r] = row[best];
            row[best] = -1.0f;
        }
    }
    graftModelInferEnd(m, run);
    graftFree(m->ctx, row);
    return GRAFT_OK;
}
