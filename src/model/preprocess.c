/*
 * preprocess.c - the input preprocessing a model carries (graft_preprocess:
 * channels, size, resizing, normalisation), the folder-dataset options that
 * match it, and predicting the classes of one image file or buffer with it.
 *
 * The pipeline is graft_dataset_from_folder()'s without augmentation (see
 * prepare() and dataset_folder.c's transform()), so an image predicted here
 * gives the same input tensor, bit for bit, as the same file read through a
 * folder dataset made with graft_model_folder_opts().
 */
#include "core/options.h"
#include "model.h"

#include <math.h>
#include <string.h>

/* The sizes graft_preprocess has had: 1.3. */
static const uint32_t preprocess_sizes[] = {(uint32_t)sizeof(graft_preprocess)};
static const graftOptionsKind preprocess_kind = {
    "preprocess", "GRAFT_PREPROCESS_INIT", preprocess_sizes,
    GRAFT_OPTIONS_COUNT(preprocess_sizes), offsetof(graft_preprocess, reserved), 4};

/* The sizes graft_folder_opts has had: 1.0. */
static const uint32_t folder_opts_sizes[] = {(uint32_t)sizeof(graft_folder_opts)};
static const graftOptionsKind folder_opts_kind = {
    "opts", "GRAFT_FOLDER_OPTS_INIT", folder_opts_sizes, GRAFT_OPTIONS_COUNT(folder_opts_sizes),
    0, 0};

int graftPreprocessCheck(const graft_model *m, const graft_preprocess *p, const char *what,
                         const char *func)
{
    graft_ctx *ctx = m->ctx;
    GRAFT_RETURN_IF_AT(p->channels != 1 && p->channels != 3, ctx, GRAFT_E_INVALID_ARG, func,
                       "%s->channels is %d, must be 1 or 3", what, p->channels);
    GRAFT_RETURN_IF_AT(p->width < 1 || p->width > 65535 || p->height < 1 || p->height > 65535,
                       ctx, GRAFT_E_INVALID_ARG, func,
                       "%s->width and %s->height are %d and %d, must be 1 to 65535", what, what,
                       p->width, p->height);
    GRAFT_RETURN_IF_AT((int64_t)p->width * p->height > GRAFT_IMAGE_MAX_PIXELS, ctx,
                       GRAFT_E_INVALID_ARG, func,
                       "%s->width * %s->height is above GRAFT_IMAGE_MAX_PIXELS", what, what);
    GRAFT_RETURN_IF_AT(p->resize != GRAFT_FOLDER_RESIZE_SHORTER_CROP &&
                           p->resize != GRAFT_FOLDER_RESIZE_STRETCH,
                       ctx, GRAFT_E_INVALID_ARG, func,
                       "%s->resize is %d, must be GRAFT_FOLDER_RESIZE_SHORTER_CROP or "
                       "GRAFT_FOLDER_RESIZE_STRETCH (a model's preprocessing cannot "
                       "letterbox)", what, p->resize);
    int longer = p->width > p->height ? p->width : p->height;
    GRAFT_RETURN_IF_AT(p->shorter_side != 0 &&
                           (p->shorter_side < longer || p->shorter_side > 65535),
                       ctx, GRAFT_E_INVALID_ARG, func,
                       "%s->shorter_side is %d, must be 0 or %d (max(width, height)) to 65535",
                       what, p->shorter_side, longer);
    GRAFT_RETURN_IF_AT(p->normalize != GRAFT_FOLDER_NORM_SCALE &&
                           p->normalize != GRAFT_FOLDER_NORM_IMAGENET &&
                           p->normalize != GRAFT_FOLDER_NORM_MEAN_STD,
                       ctx, GRAFT_E_INVALID_ARG, func,
                       "%s->normalize is %d, must be a GRAFT_FOLDER_NORM_* value", what,
                       p->normalize);
    GRAFT_RETURN_IF_AT(p->normalize == GRAFT_FOLDER_NORM_IMAGENET && p->channels != 3, ctx,
                       GRAFT_E_INVALID_ARG, func,
                       "%s->normalize GRAFT_FOLDER_NORM_IMAGENET needs %s->channels 3", what,
                       what);
    GRAFT_RETURN_IF_AT(!isfinite(p->scale) || p->scale == 0.0f, ctx, GRAFT_E_INVALID_ARG, func,
                       "%s->scale is %g, must be finite and not 0", what, (double)p->scale);
    for (int c = 0; c < 3; c++) {
        GRAFT_RETURN_IF_AT(!isfinite(p->mean[c]) || !isfinite(p->std[c]) ||
                               !(p->std[c] > 0.0f),
                           ctx, GRAFT_E_INVALID_ARG, func,
                           "%s->mean[%d] and %s->std[%d] are %g and %g; must be finite, std > 0",
                           what, c, what, c, (double)p->mean[c], (double)p->std[c]);
        /* As graft_dataset_from_folder(): finite at both ends of [0, 1],
           widened for rounding, means finite for every pixel. */
        const float at0 = (-1.0f / 1024 - p->mean[c]) / p->std[c];
        const float at1 = (1.0f + 1.0f / 1024 - p->mean[c]) / p->std[c];
        GRAFT_RETURN_IF_AT(p->normalize == GRAFT_FOLDER_NORM_MEAN_STD && c < p->channels &&
                               (!isfinite(at0) || !isfinite(at1)),
                           ctx, GRAFT_E_INVALID_ARG, func,
                           "%s->mean[%d] and %s->std[%d] are %g and %g: (v - mean) / std "
                           "overflows float for pixel values v in [0, 1]",
                           what, c, what, c, (double)p->mean[c], (double)p->std[c]);
    }
    for (int k = 0; k < 4; k++)
        GRAFT_RETURN_IF_AT(p->reserved[k] != 0, ctx, GRAFT_E_INVALID_ARG, func,
                           "%s->reserved[%d] is %u, must be 0", what, k,
                           (unsigned)p->reserved[k]);
    const graftShape *in = &m->input_shape;
    GRAFT_RETURN_IF_AT(in->ndim != 4 || in->dims[1] != p->channels ||
                           in->dims[2] != p->height || in->dims[3] != p->width,
                       ctx, GRAFT_E_SHAPE, func,
                       "%s gives images of (%d, %d, %d) (channels, height, width), but the "
                       "model's input is %s",
                       what, p->channels, p->height, p->width,
                       in->ndim != 4 ? "not (channels, height, width)" : "another shape");
    return GRAFT_OK;
}

int graftPreprocessRead(graft_ctx *ctx, const char *func, const graft_preprocess *given,
                        graft_preprocess *out)
{
    graft_preprocess p = GRAFT_PREPROCESS_INIT;
    GRAFT_FORWARD_IF_ERROR(graftOptionsRead(ctx, func, &preprocess_kind, given, &p));
    *out = p;
    return GRAFT_OK;
}

GRAFT_API int graft_model_set_preprocess(graft_model *model, const graft_preprocess *preprocess)
{
    graft_ctx *ctx = model ? model->ctx : NULL;
    graftClearError(ctx);
    GRAFT_RETURN_IF(!model, NULL, GRAFT_E_INVALID_ARG, "model is NULL");
    if (!preprocess) {
        model->has_preprocess = 0;
        return GRAFT_OK;
    }
    graft_preprocess p = GRAFT_PREPROCESS_INIT;
    GRAFT_FORWARD_IF_ERROR(graftOptionsRead(ctx, __func__, &preprocess_kind, preprocess, &p));
    GRAFT_FORWARD_IF_ERROR(graftPreprocessCheck(model, &p, "preprocess", __func__));
    model->preprocess = p;
    model->has_preprocess = 1;
    return GRAFT_OK;
}

GRAFT_API int graft_model_get_preprocess(const graft_model *model, graft_preprocess *out)
{
    graft_ctx *ctx = model ? model->ctx : NULL;
    graftClearError(ctx);
    GRAFT_RETURN_IF(!model || !out, ctx, GRAFT_E_INVALID_ARG, "model and out must not be NULL");
    uint32_t size;
    memcpy(&size, out, sizeof size);
    int known = 0;
    for (int i = 0; i < GRAFT_OPTIONS_COUNT(preprocess_sizes); i++)
        known |= size == preprocess_sizes[i];
    GRAFT_RETURN_IF(!known, ctx, GRAFT_E_VERSION,
                    "out->struct_size is %u; this graft writes %u (use GRAFT_PREPROCESS_INIT)",
                    (unsigned)size, (unsigned)sizeof(graft_preprocess));
    GRAFT_RETURN_IF(!model->has_preprocess, ctx, GRAFT_E_NOT_FOUND,
                    "the model has no preprocessing (set one with "
                    "graft_model_set_preprocess())");
    memcpy(out, &model->preprocess, size);
    out->struct_size = size;
    return GRAFT_OK;
}

GRAFT_API int graft_model_folder_opts(const graft_model *model, graft_folder_opts *opts)
{
    graft_ctx *ctx = model ? model->ctx : NULL;
    graftClearError(ctx);
    GRAFT_RETURN_IF(!model || !opts, ctx, GRAFT_E_INVALID_ARG,
                    "model and opts must not be NULL");
    graft_folder_opts o = GRAFT_FOLDER_OPTS_INIT;
    GRAFT_FORWARD_IF_ERROR(graftOptionsRead(ctx, __func__, &folder_opts_kind, opts, &o));
    GRAFT_RETURN_IF(!model->has_preprocess, ctx, GRAFT_E_NOT_FOUND,
                    "the model has no preprocessing (set one with "
                    "graft_model_set_preprocess())");
    const graft_preprocess *p = &model->preprocess;
    opts->channels = p->channels;
    opts->width = p->width;
    opts->height = p->height;
    opts->resize = p->resize;
    opts->shorter_side = p->shorter_side;
    opts->normalize = p->normalize;
    opts->scale = p->scale;
    memcpy(opts->mean, p->mean, sizeof opts->mean);
    memcpy(opts->std, p->std, sizeof opts->std);
    return GRAFT_OK;
}

/* ---- predicting one image ---------------------------------------------------------- */

/* Transforms a decoded image (already converted to p->channels) as
 * graft_dataset_from_folder() does without augmentation. */
static int prepare(graft_image *img, const graft_preprocess *p)
{
    if (p->resize == GRAFT_FOLDER_RESIZE_STRETCH) {
        GRAFT_FORWARD_IF_ERROR(graft_image_resize(img, p->width, p->height));
    } else {
        int longer = p->width > p->height ? p->width : p->height;
        int side = p->shorter_side ? p->shorter_side : (int)lround(longer * 256.0 / 224.0);
        GRAFT_FORWARD_IF_ERROR(graft_image_resize_shorter(img, side));
        GRAFT_FORWARD_IF_ERROR(graft_image_center_crop(img, p->width, p->height));
    }
    switch (p->normalize) {
    case GRAFT_FOLDER_NORM_IMAGENET: return graft_image_normalize_imagenet(img);
    case GRAFT_FOLDER_NORM_MEAN_STD: return graft_image_normalize(img, p->mean, p->std);
    default: return p->scale == 1.0f ? GRAFT_OK : graft_image_scale(img, p->scale);
    }
}

/* Decodes (path, or size bytes at data) with the model's preprocessing into
 * sample slot of x, which must be (N, channels, height, width) with slot < N. */
static int load_prepared(graft_model *m, const char *path, const void *data, size_t size,
                         graft_tensor *x, int64_t slot)
{
    const graft_preprocess *p = &m->preprocess;
    graft_image_load_opts lo = GRAFT_IMAGE_LOAD_OPTS_INIT;
    lo.channels = p->channels;
    graft_image *img = NULL;
    int st = path ? graft_image_load(m->ctx, path, &lo, &img)
                  : graft_image_load_buffer(m->ctx, data, size, &lo, &img);
    if (st == GRAFT_OK) st = prepare(img, p);
    if (st == GRAFT_OK) st = graft_image_write_tensor(img, 0, x, slot);
    graft_image_free(img);
    return st;
}

GRAFT_API int graft_model_prepare_image(graft_model *model, const char *path, graft_tensor *x,
                                        int64_t slot)
{
    graft_ctx *ctx = model ? model->ctx : NULL;
    graftClearError(ctx);
    GRAFT_RETURN_IF(!model || !path || !x, ctx, GRAFT_E_INVALID_ARG,
                    "model, path and x must not be NULL");
    GRAFT_RETURN_IF(!model->has_preprocess, ctx, GRAFT_E_STATE,
                    "the model has no preprocessing: set one with graft_model_set_preprocess()");
    const graft_preprocess *p = &model->preprocess;
    GRAFT_RETURN_IF(x->ndim != 4 || x->dims[1] != p->channels || x->dims[2] != p->height ||
                        x->dims[3] != p->width,
                    ctx, GRAFT_E_SHAPE, "x must be (N, %d, %d, %d), the model's preprocessed "
                    "images", p->channels, p->height, p->width);
    GRAFT_RETURN_IF(slot < 0 || slot >= x->dims[0], ctx, GRAFT_E_RANGE,
                    "slot is %lld, must be 0 to %lld", (long long)slot,
                    (long long)x->dims[0] - 1);
    int st = load_prepared(model, path, NULL, 0, x, slot);
    return st == GRAFT_OK ? GRAFT_OK : graftErrorAt(ctx, st, __func__);
}

/* Decodes (path, or size bytes at data), prepares, runs and writes the
 * probabilities; func names the public call in messages. */
static int predict_image(graft_model *m, const char *path, const void *data, size_t size,
                         int k, int32_t *indices, float *probs, const char *func)
{
    graft_ctx *ctx = m->ctx;
    int64_t classes = graftModelOutputSize(m);
    GRAFT_RETURN_IF_AT(graftModelOutputNode(m) < 0, ctx, GRAFT_E_STATE, func,
                       "the model has no layers");
    GRAFT_RETURN_IF_AT(!m->has_preprocess, ctx, GRAFT_E_STATE, func,
                       "the model has no preprocessing: set one with "
                       "graft_model_set_preprocess()");
    GRAFT_RETURN_IF_AT(k < 0 || k > classes, ctx, GRAFT_E_RANGE, func,
                       "k is %d, must be 0 (every class) or 1 to %lld (the classes)", k,
                       (long long)classes);
    GRAFT_RETURN_IF_AT(k > 0 && !indices, ctx, GRAFT_E_INVALID_ARG, func,
                       "indices is NULL with k %d", k);
    const graft_preprocess *p = &m->preprocess;
    graft_tensor *x = NULL, *all = NULL;
    int32_t *idx = NULL;
    float *pr = NULL;
    const int64_t dims[4] = {1, p->channels, p->height, p->width};
    int st = graft_tensor_create(ctx, 4, dims, &x);
    if (st == GRAFT_OK) st = load_prepared(m, path, data, size, x, 0);
    if (st == GRAFT_OK && k == 0) {
        const int64_t dims[2] = {1, classes};
        st = graft_tensor_create(ctx, 2, dims, &all);
        if (st == GRAFT_OK) st = graft_model_predict(m, x, all);
        if (st == GRAFT_OK)
            memcpy(probs, graft_tensor_data_const(all), (size_t)classes * sizeof *probs);
    } else if (st == GRAFT_OK) {
        /* Into scratch first, so nothing is written on failure. */
        idx = graftAlloc(ctx, (size_t)k * sizeof *idx);
        pr = graftAlloc(ctx, (size_t)k * sizeof *pr);
        if (!idx || !pr)
            st = graftError(ctx, GRAFT_E_NOMEM, func, "cannot allocate %d results", k);
        if (st == GRAFT_OK) st = graft_model_predict_topk(m, x, k, idx, pr);
        if (st == GRAFT_OK) {
            memcpy(indices, idx, (size_t)k * sizeof *idx);
            memcpy(probs, pr, (size_t)k * sizeof *pr);
        }
    }
    graftFree(ctx, idx);
    graftFree(ctx, pr);
    graft_tensor_free(all);
    graft_tensor_free(x);
    return st == GRAFT_OK ? GRAFT_OK : graftErrorAt(ctx, st, func);
}

GRAFT_API int graft_model_predict_image(graft_model *model, const char *path, int k,
                                        int32_t *indices, float *probs)
{
    graft_ctx *ctx = model ? model->ctx : NULL;
    graftClearError(ctx);
    GRAFT_RETURN_IF(!model || !path || !probs, ctx, GRAFT_E_INVALID_ARG,
                    "model, path and probs must not be NULL");
    return predict_image(model, path, NULL, 0, k, indices, probs, __func__);
}

GRAFT_API int graft_model_predict_image_buffer(graft_model *model, const void *data,
                                               size_t size, int k, int32_t *indices,
                                               float *probs)
{
    graft_ctx *ctx = model ? model->ctx : NULL;
    graftClearError(ctx);
    GRAFT_RETURN_IF(!model || !probs || (!data && size > 0), ctx, GRAFT_E_INVALID_ARG,
                    "model and probs must not be NULL, nor data with a size");
    static const unsigned char empty[1] = {0};
    return predict_image(model, NULL, data ? data : empty, data ? size : 0, k, indices, probs,
                         __func__);
}
