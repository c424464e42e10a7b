/* predict_tta.c - `graft predict --tta[=VIEWS]`: the top classes of an
 * image over test-time augmentation views. */
#include "cli.h"

#include <stdlib.h>
#include <string.h>

/* The GRAFT_TTA_* views --tta asks for, -1 without --tta, -2 for a bad value. */
static int views_of(cli_args *a)
{
    const char *v = cliOpt(a, "tta");
    if (!v) return -1;
    if (!*v || strcmp(v, "flip") == 0) return GRAFT_TTA_FLIP;
    if (strcmp(v, "crops") == 0) return GRAFT_TTA_CROPS;
    if (strcmp(v, "all") == 0) return GRAFT_TTA_FLIP | GRAFT_TTA_CROPS;
    return -2;
}

int cliTtaCheck(cli_args *a)
{
    if (views_of(a) != -2) return 0;
    cliError("--tta takes flip, crops or all, not \"%s\"", cliOpt(a, "tta"));
    return -1;
}

int cliPredictTopk(cli_args *a, graft_ctx *ctx, graft_model *m, const graft_tensor *x, int top,
                   int32_t *idx, float *prob)
{
    int views = views_of(a);
    if (views < 0) return graft_model_predict_topk(m, x, top, idx, prob);
    int n = graft_model_class_count(m);
    const int64_t dims[2] = {1, n};
    graft_tensor *p = NULL;
    int st = graft_tensor_create(ctx, 2, dims, &p);
    if (st != GRAFT_OK) return st;
    st = graft_model_predict_tta(m, x, views, p);
    if (st == GRAFT_OK) {
        /* The k best, ties to the lower index, as graft_model_predict_topk(). */
        float *row = graft_tensor_data(p);
        for (int r = 0; r < top; r++) {
            int best = -1;
            for (int j = 0; j < n; j++)
                if (row[j] >= 0 && (best < 0 || row[j] > row[best])) best = j;
            if (best < 0) { /* probabilities are >= 0: only NaN leaves none */
                st = GRAFT_E_NUMERIC;
                break;
            }
            idx[r] = best;
            prob[r] = row[best];
            row[best] = -1.0f;
        }
    }
    graft_tensor_free(p);
    return st;
}

int cliPredictImageTta(cli_args *a, graft_ctx *ctx, graft_model *m, const char *path, int top,
                       int32_t *idx, float *prob)
{
    graft_preprocess p = GRAFT_PREPROCESS_INIT;
    int st = graft_model_get_preprocess(m, &p);
    if (st != GRAFT_OK) return st;
    const int64_t dims[4] = {1, p.channels, p.height, p.width};
    graft_tensor *x = NULL;
    st = graft_tensor_create(ctx, 4, dims, &x);
    if (st == GRAFT_OK) st = graft_model_prepare_image(m, path, x, 0);
    if (st == GRAFT_OK) st = cliPredictTopk(a, ctx, m, x, top, idx, prob);
    graft_tensor_free(x);
    return st;
}
