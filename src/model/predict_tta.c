/*
 * predict_tta.c - test-time augmentation: class probabilities averaged
 * over flipped and cropped views of a batch, each view predicted as
 * graft_model_predict() does.
 */
#include "model.h"
#include "data/image.h"

#include <limits.h>
#include <string.h>

#define CROP_NUM 7 /* crops of 7/8 of each side: 224 of 256 */
#define CROP_DEN 8

/* ch = round(7/8 * side), halves up, at least 1. */
static int crop_side(int64_t side)
{
    int64_t c = (CROP_NUM * 2 * side + CROP_DEN) / (2 * CROP_DEN);
    return c < 1 ? 1 : (int)c;
}

/* Mirrors every row of n planes of w x h in place. */
static void flip_rows(float *x, size_t rows, int w)
{
    for (size_t r = 0; r < rows; r++) {
        float *p = x + r * (size_t)w;
        for (int a = 0, b = w - 1; a < b; a++, b--) {
            float t = p[a];
            p[a] = p[b];
            p[b] = t;
        }
    }
}

/* probs (the view's) is added to sum. */
static void add_into(float *sum, const float *p, size_t n, int first)
{
    if (first) memcpy(sum, p, n * sizeof *sum);
    else
        for (size_t i = 0; i < n; i++) sum[i] += p[i];
}

GRAFT_API int graft_model_predict_tta(graft_model *m, const graft_tensor *input, int views,
                                      graft_tensor *probs)
{
    const char *f = __func__;
    graftClearError(m ? m->ctx : NULL);
    GRAFT_RETURN_IF(!m || !input || !probs, m ? m->ctx : NULL, GRAFT_E_INVALID_ARG,
                    "model, input and probs must not be NULL");
    graft_ctx *ctx = m->ctx;
    GRAFT_RETURN_IF(views & ~(GRAFT_TTA_FLIP | GRAFT_TTA_CROPS), ctx, GRAFT_E_INVALID_ARG,
                    "views is %d, must combine GRAFT_TTA_FLIP (1) and GRAFT_TTA_CROPS (2)",
                    views);
    if (views == 0) {
        int st = graft_model_predict(m, input, probs);
        return st == GRAFT_OK ? st : graftErrorAt(ctx, st, f);
    }
    GRAFT_RETURN_IF(input->ndim != 4, ctx, GRAFT_E_SHAPE,
                    "input has %d dimensions; views need a batch of images (N, C, H, W)",
                    input->ndim);
    int64_t n = input->dims[0], c = input->dims[1], h = input->dims[2], w = input->dims[3];
    GRAFT_RETURN_IF(n * c > INT_MAX || h > INT_MAX || w > INT_MAX, ctx, GRAFT_E_SHAPE,
                    "input's N * C, H or W is above %d", INT_MAX);
    size_t numel = (size_t)(n * c * h * w), n_probs = (size_t)graft_tensor_numel(probs);
    int planes = (int)(n * c);

    graft_tensor *view = NULL, *vp = NULL;
    float *crop = NULL, *sum = NULL;
    int st = graft_tensor_create(ctx, input->ndim, input->dims, &view);
    if (st == GRAFT_OK) st = graft_tensor_create(ctx, probs->ndim, probs->dims, &vp);
    if (st != GRAFT_OK) goto fail;
    sum = graftAlloc(ctx, (n_probs ? n_probs : 1) * sizeof *sum);
    if (!sum) {
        st = graftError(ctx, GRAFT_E_NOMEM, f, "cannot allocate %zu floats", n_probs);
        goto fail;
    }
    int ch = crop_side(h), cw = crop_side(w);
    if (views & GRAFT_TTA_CROPS) {
        crop = graftAlloc(ctx, (size_t)planes * ch * cw * sizeof *crop);
        if (!crop) {
            st = graftError(ctx, GRAFT_E_NOMEM, f, "cannot allocate a crop buffer");
            goto fail;
        }
    }
    /* Base views: 0 the input, 1..5 the crops (top-left, top-right,
     * bottom-left, bottom-right, centre); each then mirrored with FLIP. */
    const int n_base = views & GRAFT_TTA_CROPS ? 6 : 1;
    const int lefts[6] = {0, 0, (int)w - cw, 0, (int)w - cw, ((int)w - cw) / 2};
    const int tops[6] = {0, 0, 0, (int)h - ch, (int)h - ch, ((int)h - ch) / 2};
    int count = 0;
    for (int b = 0; b < n_base; b++) {
        if (b == 0) {
            memcpy(view->data, input->data, numel * sizeof(float));
        } else {
            for (int p = 0; p < planes; p++)
                for (int y = 0; y < ch; y++)
                    memcpy(crop + ((size_t)p * ch + y) * cw,
                           input->data + ((size_t)p * h + tops[b] + y) * w + lefts[b],
                           (size_t)cw * sizeof(float));
            st = graftImageResizePlanes(ctx, f, crop, planes, cw, ch, view->data, (int)w, (int)h);
            if (st != GRAFT_OK) goto fail;
        }
        for (int mirrored = 0; mirrored <= (views & GRAFT_TTA_FLIP ? 1 : 0); mirrored++) {
            if (mirrored) flip_rows(view->data, (size_t)planes * h, (int)w);
            st = graft_model_predict(m, view, vp);
            if (st != GRAFT_OK) {
                st = graftErrorAt(ctx, st, f);
                goto fail;
            }
            add_into(sum, vp->data, n_probs, count == 0);
            count++;
        }
    }
    for (size_t i = 0; i < n_probs; i++) probs->data[i] = sum[i] / (float)count;
fail:
    graftFree(ctx, crop);
    graftFree(ctx, sum);
    graft_tensor_free(view);
    graft_tensor_free(vp);
    return st;
}
