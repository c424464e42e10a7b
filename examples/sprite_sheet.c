/*
 * sprite_sheet.c - a dataset from a sprite sheet, trained and checked in a
 * few calls (graft 1.3's data helpers).
 *
 * Draws a sheet of 16x16 sprites, one row per class (a horizontal bar, a
 * vertical bar, a dot), each sprite shifted and noisy, and saves it as a
 * PNG (graft_image_save_png()). Cuts it into a dataset
 * (graft_dataset_from_grid(): each row of cells is a class), trains a small
 * network, scores every sprite in one call (graft_model_predict_dataset()),
 * then starts the network over with graft_model_reinit() to show the same
 * score from fresh weights, and writes the first sprites of each class as
 * a grid (graft_tensor_save_png()).
 *
 *   sprite_sheet [SHEET.png [GRID.png]]   (defaults: sheet.png, grid.png)
 *
 * test run: sheet.png grid.png
 */
#include <graft.h>

#include <stdio.h>
#include <stdlib.h>

#define SIDE 16
#define PER_CLASS 24
#define CLASSES 3

static int check(graft_ctx *ctx, int st, const char *what)
{
    if (st != GRAFT_OK) fprintf(stderr, "%s: %s\n", what, graft_errmsg(ctx));
    return st != GRAFT_OK;
}

/* A small linear congruential generator: the same sprites everywhere. */
static int next(unsigned *seed)
{
    *seed = *seed * 1103515245u + 12345u;
    return (int)((*seed >> 16) & 0x7fff);
}

/* Draws sprite (c, k) at its cell of the sheet's single (grey) plane. */
static void draw(float *plane, int width, int c, int k, unsigned *seed)
{
    int x0 = k * SIDE, y0 = c * SIDE, dx = next(seed) % 5 - 2, dy = next(seed) % 5 - 2;
    for (int y = 0; y < SIDE; y++)
        for (int x = 0; x < SIDE; x++) {
            int u = x - SIDE / 2 - dx, v = y - SIDE / 2 - dy, on;
            if (c == 0) on = abs(v) <= 1 && abs(u) <= 5;      /* horizontal bar */
            else if (c == 1) on = abs(u) <= 1 && abs(v) <= 5; /* vertical bar */
            else on = u * u + v * v <= 5;                     /* dot */
            float noise = (float)(next(seed) % 100) / 500.0f;
            plane[(size_t)(y0 + y) * width + x0 + x] = on ? 0.9f - noise : noise;
        }
}

int main(int argc, char **argv)
{
    const char *sheet_path = argc > 1 ? argv[1] : "sheet.png";
    const char *grid_path = argc > 2 ? argv[2] : "grid.png";
    graft_ctx *ctx = NULL;
    graft_image *sheet = NULL;
    graft_dataset *ds = NULL;
    graft_model *m = NULL;
    graft_layer *l = NULL;
    graft_optim *o = NULL;
    graft_tensor *batch = NULL;
    float *probs = NULL;
    int32_t *best = NULL;
    int rc = 1;
    if (graft_ctx_create(&ctx) != GRAFT_OK) return 1;

    /* 1. the sheet: CLASSES rows of PER_CLASS sprites */
    const int width = PER_CLASS * SIDE, height = CLASSES * SIDE;
    if (check(ctx, graft_image_create(ctx, width, height, 1, &sheet), "sheet")) goto done;
    unsigned seed = 7;
    for (int c = 0; c < CLASSES; c++)
        for (int k = 0; k < PER_CLASS; k++) draw(graft_image_data(sheet), width, c, k, &seed);
    if (check(ctx, graft_image_save_png(sheet, sheet_path), "save the sheet")) goto done;

    /* 2. the dataset: each row of cells is a class */
    graft_grid_opts go = GRAFT_GRID_OPTS_INIT;
    go.cell_width = go.cell_height = SIDE;
    if (check(ctx, graft_dataset_from_grid(ctx, sheet_path, &go, &ds), "cut the sheet")) goto done;
    const int64_t n = graft_dataset_size(ds);

    /* 3. a small network */
    const int64_t in[3] = {1, SIDE, SIDE};
    graft_conv2d_spec cs = GRAFT_CONV2D_SPEC_INIT;
    cs.out_channels = 8;
    cs.kernel_h = cs.kernel_w = 3;
    cs.pad_top = cs.pad_left = cs.pad_bottom = cs.pad_right = 1;
    if (check(ctx, graft_model_create(ctx, 3, in, 42, &m), "model") ||
        (graft_layer_conv2d(ctx, &cs, &l), check(ctx, graft_model_add(m, "conv", l, 0, NULL), "conv")) ||
        (graft_layer_relu(ctx, &l), check(ctx, graft_model_add(m, "relu", l, 0, NULL), "relu")) ||
        (graft_layer_global_avg_pool(ctx, &l), check(ctx, graft_model_add(m, "gap", l, 0, NULL), "gap")) ||
        (graft_layer_flatten(ctx, &l), check(ctx, graft_model_add(m, "flat", l, 0, NULL), "flat")) ||
        (graft_layer_dense(ctx, CLASSES, 1, &l), check(ctx, graft_model_add(m, "fc", l, 0, NULL), "fc")))
        goto done;

    probs = malloc((size_t)n * CLASSES * sizeof *probs);
    best = malloc((size_t)n * sizeof *best);
    if (!probs || !best) goto done;
    graft_fit_opts fo = GRAFT_FIT_OPTS_INIT;
    fo.epochs = 30;
    fo.batch_size = 8;
    for (int round = 0; round < 2; round++) {
        if (round == 1 && check(ctx, graft_model_reinit(m, 42), "reinit")) goto done;
        graft_optim_free(o);
        o = NULL;
        if (check(ctx, graft_optim_create(ctx, GRAFT_OPTIM_ADAM, &o), "optimizer") ||
            check(ctx, graft_optim_set(o, GRAFT_OPT_LR, 0.01), "learning rate") ||
            check(ctx, graft_model_fit(m, o, ds, NULL, &fo), "fit") ||
            check(ctx, graft_model_predict_dataset(m, ds, 32, probs, best), "predict"))
            goto done;
        int64_t right = 0;
        for (int64_t i = 0; i < n; i++) {
            int32_t label;
            if (check(ctx, graft_dataset_get(ds, i, NULL, &label), "label")) goto done;
            right += best[i] == label;
        }
        printf("%s: %lld of %lld sprites right\n", round ? "trained again from fresh weights"
                                                         : "trained",
               (long long)right, (long long)n);
    }

    /* 4. the first 4 sprites of each class, as one 4x3 grid */
    const int64_t bd[4] = {4 * CLASSES, 1, SIDE, SIDE};
    if (check(ctx, graft_tensor_create(ctx, 4, bd, &batch), "batch")) goto done;
    int64_t pos[4 * CLASSES];
    for (int c = 0; c < CLASSES; c++)
        for (int k = 0; k < 4; k++) pos[c * 4 + k] = (int64_t)c * PER_CLASS + k;
    if (check(ctx, graft_dataset_gather(ds, pos, 4 * CLASSES, graft_tensor_data(batch), NULL),
              "gather") ||
        check(ctx, graft_tensor_save_png(batch, grid_path, 0.0f, 1.0f, 4), "save the grid"))
        goto done;
    printf("wrote %s and %s\n", sheet_path, grid_path);
    rc = 0;
done:
    free(probs);
    free(best);
    graft_tensor_free(batch);
    graft_optim_free(o);
    graft_model_free(m);
    graft_dataset_free(ds);
    graft_image_free(sheet);
    graft_ctx_free(ctx);
    return rc;
}
