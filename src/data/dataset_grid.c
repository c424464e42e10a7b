/*
 * dataset_grid.c - datasets cut from one image holding the samples as a
 * grid of equal cells (graft_dataset_from_grid()): sprite sheets, digit
 * sheets, contact sheets.
 *
 * The image is decoded once (graft_image_load()); every cell is copied out
 * and normalised into one owned array of floats, checked finite, and the
 * image is freed. Reads then copy a sample, as the memory source does.
 */
#include "dataset.h"

#include "core/options.h"

#include <math.h>
#include <stddef.h>
#include <string.h>

typedef struct grid_source {
    float *features; /* count * sample_numel */
    int32_t *labels; /* count */
} grid_source;

static int grid_get(graftSource *src, int64_t i, float *features, int32_t *label)
{
    const grid_source *g = src->impl;
    if (features)
        memcpy(features, g->features + (size_t)i * src->sample_numel,
               src->sample_numel * sizeof(float));
    if (label) *label = g->labels[i];
    return GRAFT_OK;
}

static void grid_destroy(graftSource *src)
{
    grid_source *g = src->impl;
    if (!g) return;
    graftFree(src->ctx, g->features);
    graftFree(src->ctx, g->labels);
    graftFree(src->ctx, g);
    src->impl = NULL;
}

static const graftSourceVtbl grid_vtbl = {
    .get = grid_get,
    .destroy = grid_destroy,
};

static const uint32_t grid_opts_sizes[] = {(uint32_t)sizeof(graft_grid_opts)};
static const graftOptionsKind grid_opts_kind = {
    "opts", "GRAFT_GRID_OPTS_INIT", grid_opts_sizes, GRAFT_OPTIONS_COUNT(grid_opts_sizes),
    offsetof(graft_grid_opts, reserved), sizeof(((graft_grid_opts *)0)->reserved) / sizeof(uint32_t)};

static int check_opts(graft_ctx *ctx, const graft_grid_opts *o, const char *func)
{
    GRAFT_RETURN_IF_AT(o->cell_width < 1 || o->cell_height < 1, ctx, GRAFT_E_INVALID_ARG, func,
                       "cell_width %d and cell_height %d must both be >= 1", o->cell_width,
                       o->cell_height);
    GRAFT_RETURN_IF_AT(o->margin < 0 || o->spacing < 0, ctx, GRAFT_E_INVALID_ARG, func,
                       "margin %d and spacing %d must be >= 0", o->margin, o->spacing);
    GRAFT_RETURN_IF_AT(o->rows < 0 || o->columns < 0, ctx, GRAFT_E_INVALID_ARG, func,
                       "rows %d and columns %d must be >= 0 (0: as many as fit)", o->rows,
                       o->columns);
    GRAFT_RETURN_IF_AT(o->count < 0, ctx, GRAFT_E_INVALID_ARG, func,
                       "count is %lld, must be >= 0 (0: every cell)", (long long)o->count);
    GRAFT_RETURN_IF_AT(o->label_by < GRAFT_GRID_LABEL_ROW || o->label_by > GRAFT_GRID_LABEL_ARRAY,
                       ctx, GRAFT_E_INVALID_ARG, func,
                       "label_by is %d, must be a GRAFT_GRID_LABEL_* value (0 to 2)", o->label_by);
    GRAFT_RETURN_IF_AT(o->label_by == GRAFT_GRID_LABEL_ARRAY && !o->labels, ctx,
                       GRAFT_E_INVALID_ARG, func, "label_by is GRAFT_GRID_LABEL_ARRAY but labels is NULL");
    GRAFT_RETURN_IF_AT(o->label_by != GRAFT_GRID_LABEL_ARRAY && o->labels, ctx,
                       GRAFT_E_INVALID_ARG, func,
                       "labels is set but label_by is not GRAFT_GRID_LABEL_ARRAY");
    GRAFT_RETURN_IF_AT(o->n_classes < 0, ctx, GRAFT_E_INVALID_ARG, func,
                       "n_classes is %d, must be >= 1 (or 0: the largest label + 1)", o->n_classes);
    GRAFT_RETURN_IF_AT(o->channels != 0 && o->channels != 1 && o->channels != 3, ctx,
                       GRAFT_E_INVALID_ARG, func, "channels is %d, must be 0, 1 or 3", o->channels);
    GRAFT_RETURN_IF_AT(o->normalize < GRAFT_FOLDER_NORM_SCALE ||
                           o->normalize > GRAFT_FOLDER_NORM_MEAN_STD,
                       ctx, GRAFT_E_INVALID_ARG, func,
                       "normalize is %d, must be a GRAFT_FOLDER_NORM_* value (0 to 2)", o->normalize);
    GRAFT_RETURN_IF_AT(o->normalize == GRAFT_FOLDER_NORM_SCALE &&
                           (!isfinite(o->scale) || o->scale == 0.0f),
                       ctx, GRAFT_E_INVALID_ARG, func, "scale is %g, must be finite and != 0",
                       (double)o->scale);
    if (o->normalize == GRAFT_FOLDER_NORM_MEAN_STD)
        for (int c = 0; c < 3; c++)
            GRAFT_RETURN_IF_AT(!isfinite(o->mean[c]) || !isfinite(o->std[c]) || !(o->std[c] > 0),
                               ctx, GRAFT_E_INVALID_ARG, func,
                               "mean[%d] %g and std[%d] %g must be finite, std > 0", c,
                               (double)o->mean[c], c, (double)o->std[c]);
    return GRAFT_OK;
}

/* How many cells of size cell, spaced by spacing after margin, fit in side. */
static int64_t cells_fit(int64_t side, int64_t margin, int64_t cell, int64_t spacing)
{
    if (side - margin < cell) return 0;
    return 1 + (side - margin - cell) / (cell + spacing);
}

/* Copies and normalises the cells into g->features and labels them. */
static int cut_cells(graft_ctx *ctx, const graft_grid_opts *o, const graft_image *im,
                     int64_t count, int64_t cols, grid_source *g, const char *func)
{
    static const float in_mean[3] = GRAFT_IMAGENET_MEAN, in_std[3] = GRAFT_IMAGENET_STD;
    const int ch = graft_image_channels(im);
    const int64_t W = graft_image_width(im), H = graft_image_height(im);
    const int64_t cw = o->cell_width, chh = o->cell_height;
    const size_t per = (size_t)ch * (size_t)cw * (size_t)chh;
    const float *px = graft_image_data_const(im);
    for (int64_t k = 0; k < count; k++) {
        const int64_t r = k / cols, c = k % cols;
        const int64_t x0 = o->margin + c * (cw + o->spacing), y0 = o->margin + r * (chh + o->spacing);
        float *dst = g->features + (size_t)k * per;
        for (int p = 0; p < ch; p++) {
            for (int64_t y = 0; y < chh; y++) {
                const float *src = px + ((size_t)p * H + (size_t)(y0 + y)) * W + x0;
                for (int64_t x = 0; x < cw; x++) {
                    float v = src[x];
                    if (o->normalize == GRAFT_FOLDER_NORM_SCALE) v *= o->scale;
                    else if (o->normalize == GRAFT_FOLDER_NORM_IMAGENET)
                        v = (v - in_mean[p]) / in_std[p];
                    else v = (v - o->mean[p]) / o->std[p];
                    GRAFT_RETURN_IF_AT(!isfinite(v), ctx, GRAFT_E_NUMERIC, func,
                                       "sample %lld, channel %d, row %lld, column %lld becomes "
                                       "%g after normalisation; samples must be finite",
                                       (long long)k, p, (long long)y, (long long)x, (double)v);
                    *dst++ = v;
                }
            }
        }
        int32_t lab = o->label_by == GRAFT_GRID_LABEL_ROW      ? (int32_t)r
                      : o->label_by == GRAFT_GRID_LABEL_COLUMN ? (int32_t)c
                                                               : o->labels[k];
        const int32_t limit = o->n_classes > 0 ? o->n_classes : INT32_MAX;
        GRAFT_RETURN_IF_AT(lab < 0 || lab >= limit, ctx, GRAFT_E_RANGE, func,
                           "sample %lld (row %lld, column %lld) has label %d, must be in [0, %d)",
                           (long long)k, (long long)r, (long long)c, (int)lab, (int)limit);
        g->labels[k] = lab;
    }
    return GRAFT_OK;
}

GRAFT_API int graft_dataset_from_grid(graft_ctx *ctx, const char *path,
                                      const graft_grid_opts *opts, graft_dataset **out)
{
    const char *func = __func__;
    graftClearError(ctx);
    if (out) *out = NULL;
    GRAFT_RETURN_IF(!ctx, NULL, GRAFT_E_INVALID_ARG, "ctx is NULL");
    GRAFT_RETURN_IF(!path || !opts || !out, ctx, GRAFT_E_INVALID_ARG,
                    "path, opts and out must not be NULL");
    graft_grid_opts o = GRAFT_GRID_OPTS_INIT;
    GRAFT_FORWARD_IF_ERROR(graftOptionsRead(ctx, func, &grid_opts_kind, opts, &o));
    GRAFT_FORWARD_IF_ERROR(check_opts(ctx, &o, func));

    graft_image_load_opts lo = GRAFT_IMAGE_LOAD_OPTS_INIT;
    lo.channels = o.channels;
    graft_image *im = NULL;
    int st = graft_image_load(ctx, path, &lo, &im);
    if (st != GRAFT_OK) return graftErrorAt(ctx, st, func);
    grid_source *g = NULL;
    const int ch = graft_image_channels(im);
    const int64_t W = graft_image_width(im), H = graft_image_height(im);
    const int64_t fit_c = cells_fit(W, o.margin, o.cell_width, o.spacing);
    const int64_t fit_r = cells_fit(H, o.margin, o.cell_height, o.spacing);
    const int64_t cols = o.columns ? o.columns : fit_c, rows = o.rows ? o.rows : fit_r;
    const int64_t cells = rows * cols, count = o.count ? o.count : cells;
    if (fit_c < 1 || fit_r < 1) {
        st = graftError(ctx, GRAFT_E_RANGE, func,
                        "%s: no whole cell of %dx%d pixels fits in the %lldx%lld image after a "
                        "margin of %d", path, o.cell_width, o.cell_height, (long long)W,
                        (long long)H, o.margin);
    } else if (cols > fit_c || rows > fit_r) {
        st = graftError(ctx, GRAFT_E_RANGE, func,
                        "%s: %lld rows and %lld columns of cells were asked for, but the "
                        "%lldx%lld image holds %lld rows and %lld columns", path, (long long)rows,
                        (long long)cols, (long long)W, (long long)H, (long long)fit_r,
                        (long long)fit_c);
    } else if (count > cells) {
        st = graftError(ctx, GRAFT_E_RANGE, func,
                        "%s: count is %lld, but the grid has %lld cells (%lld rows of %lld)",
                        path, (long long)o.count, (long long)cells, (long long)rows,
                        (long long)cols);
    } else if (o.normalize == GRAFT_FOLDER_NORM_IMAGENET && ch != 3) {
        st = graftError(ctx, GRAFT_E_INVALID_ARG, func,
                        "normalize GRAFT_FOLDER_NORM_IMAGENET needs 3 channels; the samples "
                        "have %d (set channels to 3)", ch);
    }
    if (st != GRAFT_OK) goto fail;

    const size_t per = (size_t)ch * (size_t)o.cell_width * (size_t)o.cell_height;
    g = graftCalloc(ctx, 1, sizeof *g);
    if (g) g->features = graftAlloc(ctx, (size_t)count * per * sizeof(float));
    if (g) g->labels = graftAlloc(ctx, (size_t)count * sizeof(int32_t));
    if (!g || !g->features || !g->labels) {
        st = graftError(ctx, GRAFT_E_NOMEM, func, "cannot allocate %lld samples of %zu floats",
                        (long long)count, per);
        goto fail;
    }
    st = cut_cells(ctx, &o, im, count, cols, g, func);
    if (st != GRAFT_OK) goto fail;
    int n_classes = o.n_classes;
    if (n_classes == 0)
        for (int64_t k = 0; k < count; k++)
            if (g->labels[k] >= n_classes) n_classes = g->labels[k] + 1;
    graft_image_free(im);
    const int64_t dims[3] = {ch, o.cell_height, o.cell_width};
    GRAFT_FORWARD_IF_ERROR(graftDatasetWrap(ctx, func, &grid_vtbl, g, count, 3, dims, n_classes,
                                            out));
    (*out)->src->finite = 1; /* checked above, owned, never changed */
    return GRAFT_OK;

fail:
    graft_image_free(im);
    if (g) {
        graftFree(ctx, g->features);
        graftFree(ctx, g->labels);
        graftFree(ctx, g);
    }
    return st;
}
