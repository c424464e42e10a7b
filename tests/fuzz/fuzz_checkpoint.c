/*
 * fuzz_checkpoint.c - fuzz target "checkpoint": graft_checkpoint_load() on
 * any bytes, then a training step with what it returns.
 *
 * graft_checkpoint_load() reads a path, so each input is written to one
 * temporary file (rewritten for every input) first. As for the model
 * target, the input is loaded as it is and once more with its section CRCs
 * recomputed. A load must fail with GRAFT_E_FORMAT, GRAFT_E_VERSION or
 * GRAFT_E_NOMEM and a message naming graft_checkpoint_load(), leaving both
 * outputs NULL. A checkpoint that loads must answer every query of the
 * model and the optimizer, save, load and save again to the same bytes, and,
 * when the model is a cheap classifier, take one training step on a dataset
 * of 3 samples, which may refuse an optimizer state that does not fit the
 * model (GRAFT_E_STATE) or a loss that is not finite (GRAFT_E_NUMERIC) but
 * nothing else. Nothing may stay allocated.
 */
#include "fuzz.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void write_input(const char *path, const uint8_t *data, size_t size)
{
    FILE *f = fopen(path, "wb");
    if (!f) fuzz_fail("cannot create %s", path);
    if (size && fwrite(data, 1, size, f) != size) fuzz_fail("cannot write %s", path);
    if (fclose(f) != 0) fuzz_fail("cannot write %s", path);
}

/* Every hyperparameter the optimizer has must lie inside its bounds (the
 * loader validates them); SGD is told from Adam(W) by its momentum key. */
static void exercise_optim(graft_ctx *ctx, graft_optim *o)
{
    double v;
    int sgd = graft_optim_get(o, GRAFT_OPT_MOMENTUM, &v) == GRAFT_OK;
    for (int key = 1; key <= 13; key++) {
        v = NAN;
        int st = graft_optim_get(o, key, &v);
        if (st == GRAFT_E_NOT_FOUND) continue;
        if (st != GRAFT_OK) fuzz_fail("graft_optim_get(%d) returned %d", key, st);
        int inside = 0;
        for (int kind = sgd ? GRAFT_OPTIM_SGD : GRAFT_OPTIM_ADAM;
             kind <= (sgd ? GRAFT_OPTIM_SGD : GRAFT_OPTIM_ADAMW); kind++) {
            double lo, hi;
            if (graft_optim_bounds(kind, key, &lo, &hi) == GRAFT_OK && v >= lo && v <= hi)
                inside = 1;
        }
        if (!inside)
            fuzz_fail("a loaded optimizer has hyperparameter %d = %g, outside its bounds: %s",
                      key, v, graft_errmsg(ctx));
    }
    if (graft_optim_steps(o) < 0) fuzz_fail("graft_optim_steps is negative");
    (void)graft_optim_lr_at(o, 0.0);
    (void)graft_optim_lr_at(o, 2.5);
}

/* One step of training when the model is a small classifier. */
static void train_step(graft_ctx *ctx, graft_model *m, graft_optim *o)
{
    int n = graft_model_layer_count(m), ndim;
    int64_t dims[GRAFT_MAX_DIMS];
    if (n < 1 || graft_model_flops(m) > 2000000 || graft_model_flops(m) < 0) return;
    if (graft_model_layer_output_shape(m, n - 1, &ndim, dims) != GRAFT_OK || ndim != 1 ||
        dims[0] > 4096)
        return;
    int classes = (int)dims[0];
    if (graft_model_layer_output_shape(m, -1, &ndim, dims) != GRAFT_OK) return;
    int64_t numel = 1;
    for (int d = 0; d < ndim; d++) {
        if (dims[d] > 65536 / numel) return;
        numel *= dims[d];
    }
    float *x = malloc((size_t)(3 * numel) * sizeof *x);
    if (!x) fuzz_fail("out of memory");
    for (int64_t i = 0; i < 3 * numel; i++) x[i] = (float)((int)(i % 13) - 6) / 6.0f;
    int32_t y[3] = {0, 1 % classes, 2 % classes};
    graft_dataset *ds = NULL;
    int st = graft_dataset_from_memory(ctx, 3, ndim, dims, x, y, classes, 1, &ds);
    free(x);
    if (st == GRAFT_E_NOMEM) return;
    if (st != GRAFT_OK) fuzz_fail("graft_dataset_from_memory returned %d: %s", st,
                                  graft_errmsg(ctx));
    graft_fit_opts fo = GRAFT_FIT_OPTS_INIT;
    fo.batch_size = 2;
    fo.seed = 5;
    int64_t epochs = graft_model_epochs_done(m);
    st = graft_model_fit(m, o, ds, NULL, &fo);
    if (st == GRAFT_OK) {
        if (graft_model_epochs_done(m) != epochs + 1)
            fuzz_fail("a fit of 1 epoch took epochs done from %lld to %lld", (long long)epochs,
                      (long long)graft_model_epochs_done(m));
    } else {
        static const int codes[] = {GRAFT_E_STATE, GRAFT_E_NUMERIC, GRAFT_E_NOMEM};
        fuzz_check_failure(ctx, st, "graft_model_fit", codes, 3);
    }
    graft_dataset_free(ds);
}

static void load_one(const char *path, const uint8_t *data, size_t size, int resave)
{
    static const int codes[] = {GRAFT_E_FORMAT, GRAFT_E_VERSION, GRAFT_E_NOMEM};
    write_input(path, data, size);
    graft_ctx *ctx = fuzz_ctx();
    graft_model *m = (graft_model *)&codes; /* must be overwritten */
    graft_optim *o = (graft_optim *)&codes;
    int st = graft_checkpoint_load(ctx, path, &m, &o);
    if (st != GRAFT_OK) {
        if (m != NULL || o != NULL) fuzz_fail("a failed graft_checkpoint_load left an output set");
        fuzz_check_failure(ctx, st, "graft_checkpoint_load", codes, 3);
    } else {
        if (!m || !o) fuzz_fail("graft_checkpoint_load returned GRAFT_OK without both objects");
        fuzz_exercise_model(ctx, m);
        exercise_optim(ctx, o);
        if (resave) fuzz_check_resave(ctx, m, o);
        train_step(ctx, m, o);
        graft_optim_free(o);
        graft_model_free(m);
    }
    fuzz_ctx_free(ctx);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char path[600];
    if (!path[0]) snprintf(path, sizeof path, "%s/input.ckpt", fuzz_tmp_dir());
    uint8_t *repaired = fuzz_repair_crcs(data, size);
    load_one(path, data, size, repaired == NULL);
    if (repaired) {
        load_one(path, repaired, size, 1);
        free(repaired);
    }
    unlink(path);
    return 0;
}
