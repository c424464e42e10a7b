/*
 * check_losses.c - the losses of 1.3 (weighted and smoothed cross-entropy,
 * binary cross-entropy with logits, L1), gradient clipping, mixup and
 * cutmix, multi-label and regression fits and their evaluation.
 *
 * Values are compared with PyTorch 1.13: tests/make_torch_loss_refs.py
 * writes tests/data/torch_loss_refs.txt (its docstring describes the
 * format): each loss and its gradient, and short SGD fits of a dense layer
 * whose weights after the last step must match.
 */
#include "testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LOSS_FIXTURE GRAFT_TEST_DATA "/torch_loss_refs.txt"

/* ---- the reference file ---------------------------------------------------------- */

enum { MAX_KEYS = 16 };

typedef struct ref_case {
    char name[64], kind[16];
    int n_keys;
    char keys[MAX_KEYS][16];
    int counts[MAX_KEYS];
    double *vals[MAX_KEYS];
} ref_case;

static const double *ref_get(const ref_case *c, const char *key, int *count)
{
    for (int k = 0; k < c->n_keys; k++)
        if (!strcmp(c->keys[k], key)) {
            if (count) *count = c->counts[k];
            return c->vals[k];
        }
    if (count) *count = 0;
    return NULL;
}

static float *ref_floats(const ref_case *c, const char *key, int *count)
{
    int n;
    const double *v = ref_get(c, key, &n);
    if (count) *count = n;
    if (!v) return NULL;
    float *f = malloc((size_t)(n ? n : 1) * sizeof *f);
    for (int i = 0; i < n; i++) f[i] = (float)v[i];
    return f;
}

static void ref_free(ref_case *c)
{
    for (int k = 0; k < c->n_keys; k++) free(c->vals[k]);
    memset(c, 0, sizeof *c);
}

/* Reads the next case; 0 at the end of the file. */
static int ref_next(FILE *f, ref_case *c)
{
    char line[65536];
    memset(c, 0, sizeof *c);
    int in_case = 0;
    while (fgets(line, sizeof line, f)) {
        if (line[0] == '#' || line[0] == '\n') continue;
        if (!strncmp(line, "case ", 5)) {
            ck_assert_int_eq(sscanf(line, "case %63s %15s", c->name, c->kind), 2);
            in_case = 1;
            continue;
        }
        ck_assert_msg(in_case, "record outside a case: %s", line);
        if (!strncmp(line, "end", 3)) return 1;
        ck_assert_int_lt(c->n_keys, MAX_KEYS);
        char *p = line, *end;
        int used = 0;
        ck_assert_int_eq(sscanf(p, "%15s %d%n", c->keys[c->n_keys], &c->counts[c->n_keys], &used),
                         2);
        p += used;
        int n = c->counts[c->n_keys];
        double *v = malloc((size_t)(n ? n : 1) * sizeof *v);
        for (int i = 0; i < n; i++) {
            v[i] = strtod(p, &end);
            ck_assert_msg(end != p, "case %s: short record %s", c->name, c->keys[c->n_keys]);
            p = end;
        }
        c->vals[c->n_keys++] = v;
    }
    ck_assert_msg(!in_case, "case %s has no end", c->name);
    return 0;
}

/* ---- losses against PyTorch ---------------------------------------------------- */

static void run_loss_case(graft_ctx *ctx, const ref_case *c)
{
    const double *shape = ref_get(c, "shape", NULL);
    const int64_t d[2] = {(int64_t)shape[0], (int64_t)shape[1]};
    const size_t numel = (size_t)(d[0] * d[1]);
    float *x = ref_floats(c, "x", NULL), *cw = ref_floats(c, "cw", NULL);
    float *sw = ref_floats(c, "sw", NULL), *pw = ref_floats(c, "pw", NULL);
    float *want_grad = ref_floats(c, "grad", NULL);
    const double *ls = ref_get(c, "ls", NULL);
    const double want = ref_get(c, "loss", NULL)[0];
    graft_tensor *logits = tu_tensor_from(ctx, 2, d, x), *grad = tu_tensor(ctx, 2, (int)d[0], (int)d[1]);
    graft_loss_opts o = GRAFT_LOSS_OPTS_INIT;
    o.class_weights = cw;
    o.sample_weights = sw;
    o.pos_weight = pw;
    o.label_smoothing = ls ? (float)ls[0] : 0.0f;
    float loss = NAN;
    int st;
    if (!strcmp(c->kind, "ce")) {
        int n;
        const double *lv = ref_get(c, "labels", &n);
        int32_t *labels = malloc((size_t)n * sizeof *labels);
        for (int i = 0; i < n; i++) labels[i] = (int32_t)lv[i];
        st = graft_loss_cross_entropy(logits, labels, &o, &loss, grad);
        if (!cw && !sw && !ls) { /* the same as the 1.0 function */
            float l0 = NAN;
            graft_tensor *g0 = tu_tensor(ctx, 2, (int)d[0], (int)d[1]);
            ck_assert_int_eq(graft_loss_softmax_cross_entropy(logits, labels, &l0, g0), GRAFT_OK);
            ck_assert_float_eq(l0, loss);
            ck_assert_uint_eq(tu_first_bit_difference(graft_tensor_data_const(g0),
                                                      graft_tensor_data_const(grad), numel),
                              numel);
            graft_tensor_free(g0);
        }
        free(labels);
    } else {
        float *t = ref_floats(c, "targets", NULL);
        graft_tensor *targets = tu_tensor_from(ctx, 2, d, t);
        if (!strcmp(c->kind, "bce")) {
            st = graft_loss_bce_with_logits(logits, targets, &o, &loss, grad);
        } else if (!sw) {
            st = !strcmp(c->kind, "mse") ? graft_loss_mse(logits, targets, &loss, grad)
                                         : graft_loss_l1(logits, targets, &loss, grad);
        } else { /* sample weights: through a one-step view, the fit's regression core,
                    is tested by the fits; here the weighted mean by hand */
            double num = 0, den = 0;
            for (int64_t i = 0; i < d[0]; i++) {
                double row = 0;
                for (int64_t j = 0; j < d[1]; j++) {
                    double e = (double)x[i * d[1] + j] - (double)t[i * d[1] + j];
                    row += !strcmp(c->kind, "mse") ? e * e : fabs(e);
                }
                num += sw[i] * row / (double)d[1];
                den += sw[i];
            }
            loss = (float)(num / den);
            st = GRAFT_OK;
            free(want_grad);
            want_grad = NULL;
        }
        graft_tensor_free(targets);
        free(t);
    }
    ck_assert_msg(st == GRAFT_OK, "case %s: %s", c->name, graft_errmsg(ctx));
    ck_assert_msg(fabs(loss - want) <= 1e-6 + 1e-5 * fabs(want), "case %s: loss %.9g, torch %.9g",
                  c->name, (double)loss, want);
    if (want_grad) tu_assert_close(graft_tensor_data_const(grad), want_grad, numel, 1e-7f, 1e-4f,
                                   c->name);
    graft_tensor_free(logits);
    graft_tensor_free(grad);
    free(x);
    free(cw);
    free(sw);
    free(pw);
    free(want_grad);
}

/* ---- fits against PyTorch ---------------------------------------------------------- */

static void set_param(graft_model *m, int layer, int k, const float *v)
{
    graft_tensor *t = NULL;
    ck_assert_int_eq(graft_layer_param(graft_model_layer(m, layer), k, NULL, &t, NULL, NULL),
                     GRAFT_OK);
    memcpy(graft_tensor_data(t), v, graft_tensor_numel(t) * sizeof(float));
}

static const float *param(graft_model *m, int layer, int k)
{
    graft_tensor *t = NULL;
    ck_assert_int_eq(graft_layer_param(graft_model_layer(m, layer), k, NULL, &t, NULL, NULL),
                     GRAFT_OK);
    return graft_tensor_data_const(t);
}

/* A model of one dense layer "fc" of c units on f inputs. */
static graft_model *dense_model(graft_ctx *ctx, int f, int c, int task)
{
    const int64_t in[1] = {f};
    graft_model *m = NULL;
    graft_layer *l = NULL;
    ck_assert_int_eq(graft_model_create(ctx, 1, in, 1, &m), GRAFT_OK);
    ck_assert_int_eq(graft_layer_dense(ctx, c, 1, &l), GRAFT_OK);
    ck_assert_int_eq(graft_model_add(m, "fc", l, 0, NULL), GRAFT_OK);
    ck_assert_int_eq(graft_model_set_option(m, GRAFT_MODEL_TASK, task), GRAFT_OK);
    return m;
}

static void run_fit_case(graft_ctx *ctx, const ref_case *c)
{
    const double *shape = ref_get(c, "shape", NULL), *fit = ref_get(c, "fit", NULL);
    const int n = (int)shape[0], f = (int)shape[1], k = (int)shape[2];
    const char *loss = c->kind + 4;
    const int task = !strcmp(loss, "ce")    ? GRAFT_TASK_CLASSIFICATION
                     : !strcmp(loss, "bce") ? GRAFT_TASK_MULTI_LABEL
                                            : GRAFT_TASK_REGRESSION;
    graft_model *m = dense_model(ctx, f, k, task);
    float *w0 = ref_floats(c, "w0", NULL), *b0 = ref_floats(c, "b0", NULL);
    float *w1 = ref_floats(c, "w1", NULL), *b1 = ref_floats(c, "b1", NULL);
    set_param(m, 0, 0, w0);
    set_param(m, 0, 1, b0);
    float *x = ref_floats(c, "x", NULL), *cw = ref_floats(c, "cw", NULL);
    float *sw = ref_floats(c, "sw", NULL), *pw = ref_floats(c, "pw", NULL);
    const double *ls = ref_get(c, "ls", NULL);
    const int64_t dims[1] = {f};
    graft_dataset *ds = NULL;
    if (task == GRAFT_TASK_CLASSIFICATION) {
        const double *lv = ref_get(c, "labels", NULL);
        int32_t *labels = malloc((size_t)n * sizeof *labels);
        for (int i = 0; i < n; i++) labels[i] = (int32_t)lv[i];
        ck_assert_int_eq(graft_dataset_from_memory(ctx, n, 1, dims, x, labels, k, 1, &ds),
                         GRAFT_OK);
        free(labels);
    } else {
        float *t = ref_floats(c, "targets", NULL);
        ck_assert_int_eq(graft_dataset_from_memory_targets(ctx, n, 1, dims, x, k, t, 1, &ds),
                         GRAFT_OK);
        free(t);
    }
    graft_optim *o = tu_sgd(ctx, fit[2], fit[3]);
    graft_fit_opts fo = GRAFT_FIT_OPTS_INIT;
    fo.batch_size = (int)fit[0];
    fo.epochs = (int)fit[1];
    fo.shuffle = 0;
    fo.clip_grad_norm = (float)fit[4];
    fo.class_weights = cw;
    fo.n_class_weights = cw ? k : 0;
    fo.sample_weights = sw;
    fo.n_sample_weights = sw ? n : 0;
    fo.pos_weight = pw;
    fo.n_pos_weight = pw ? k : 0;
    fo.label_smoothing = ls ? (float)ls[0] : 0.0f;
    fo.regression_loss = !strcmp(loss, "l1") ? GRAFT_LOSS_L1 : GRAFT_LOSS_MSE;
    ck_assert_msg(graft_model_fit(m, o, ds, NULL, &fo) == GRAFT_OK, "case %s: %s", c->name,
                  graft_errmsg(ctx));
    char what[96];
    snprintf(what, sizeof what, "%s weight", c->name);
    tu_assert_close(param(m, 0, 0), w1, (size_t)k * f, 2e-6f, 1e-4f, what);
    snprintf(what, sizeof what, "%s bias", c->name);
    tu_assert_close(param(m, 0, 1), b1, (size_t)k, 2e-6f, 1e-4f, what);
    /* the fit moved the weights: the comparison is not of the start */
    ck_assert_uint_lt(tu_first_bit_difference(param(m, 0, 0), w0, (size_t)k * f), (size_t)k * f);
    graft_optim_free(o);
    graft_dataset_free(ds);
    graft_model_free(m);
    free(w0), free(b0), free(w1), free(b1), free(x), free(cw), free(sw), free(pw);
}

START_TEST(test_torch_references)
{
    FILE *f = fopen(LOSS_FIXTURE, "r");
    ck_assert_msg(f != NULL, "cannot open %s", LOSS_FIXTURE);
    graft_ctx *ctx = tu_ctx();
    ref_case c;
    int losses = 0, fits = 0;
    while (ref_next(f, &c)) {
        if (!strncmp(c.kind, "fit-", 4)) {
            run_fit_case(ctx, &c);
            fits++;
        } else {
            run_loss_case(ctx, &c);
            losses++;
        }
        ref_free(&c);
    }
    fclose(f);
    ck_assert_int_ge(losses, 14);
    ck_assert_int_ge(fits, 6);
    graft_ctx_free(ctx);
}
END_TEST

/* ---- argument checks ----------------------------------------------------------- */

START_TEST(test_loss_argument_errors)
{
    graft_ctx *ctx = tu_ctx();
    const float xv[] = {1, 2, 3, -1, 0, 1};
    const int64_t d[2] = {2, 3};
    graft_tensor *x = tu_tensor_from(ctx, 2, d, xv), *g = tu_tensor(ctx, 2, 2, 3);
    const int32_t labels[] = {0, 2};
    float loss = 42;
    graft_loss_opts o = GRAFT_LOSS_OPTS_INIT;
    o.label_smoothing = 1.5f;
    ck_assert_int_eq(graft_loss_cross_entropy(x, labels, &o, &loss, g), GRAFT_E_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(graft_errmsg(ctx), "label_smoothing is 1.5"));
    o.label_smoothing = 0;
    const float bad_w[] = {1, -1, 1};
    o.class_weights = bad_w;
    ck_assert_int_eq(graft_loss_cross_entropy(x, labels, &o, &loss, g), GRAFT_E_RANGE);
    ck_assert_ptr_nonnull(strstr(graft_errmsg(ctx), "opts->class_weights[1] is -1"));
    ck_assert_float_eq(loss, 42); /* nothing written */
    o.class_weights = NULL;
    o.struct_size = 8;
    ck_assert_int_eq(graft_loss_cross_entropy(x, labels, &o, &loss, g), GRAFT_E_VERSION);
    o.struct_size = (uint32_t)sizeof o;
    /* zero total weight: loss 0, gradient 0 */
    const float zero_w[] = {0, 1, 0};
    o.class_weights = zero_w;
    ck_assert_int_eq(graft_loss_cross_entropy(x, labels, &o, &loss, g), GRAFT_OK);
    ck_assert_float_eq(loss, 0);
    for (int i = 0; i < 6; i++) ck_assert_float_eq(graft_tensor_data_const(g)[i], 0);
    /* BCE: targets in [0, 1], not cross-entropy's options */
    const float tv[] = {0, 1, 0.5f, 1, 2, 0};
    graft_tensor *t = tu_tensor_from(ctx, 2, d, tv);
    ck_assert_int_eq(graft_loss_bce_with_logits(x, t, &o, &loss, g), GRAFT_E_INVALID_ARG);
    ck_assert_int_eq(graft_loss_bce_with_logits(x, t, NULL, &loss, g), GRAFT_E_RANGE);
    ck_assert_ptr_nonnull(strstr(graft_errmsg(ctx), "targets[1, 1] is 2"));
    graft_tensor *wrong = tu_tensor(ctx, 2, 3, 2);
    ck_assert_int_eq(graft_loss_l1(x, wrong, &loss, NULL), GRAFT_E_SHAPE);
    ck_assert_int_eq(graft_loss_l1(x, NULL, &loss, NULL), GRAFT_E_INVALID_ARG);
    graft_tensor_free(wrong);
    graft_tensor_free(t);
    graft_tensor_free(x);
    graft_tensor_free(g);
    graft_ctx_free(ctx);
}
END_TEST

/* ---- datasets with targets ------------------------------------------------------ */

START_TEST(test_dataset_targets)
{
    graft_ctx *ctx = tu_ctx();
    const float x[] = {1, 2, 3, 4, 5, 6, 7, 8};
    const float t[] = {0, 1, 1, 1, 0, 0, 1, 0};
    const int64_t dims[1] = {2};
    graft_dataset *ds = NULL, *tr = NULL, *va = NULL;
    ck_assert_int_eq(graft_dataset_from_memory_targets(ctx, 4, 1, dims, x, 2, t, 1, &ds), GRAFT_OK);
    ck_assert_int_eq(graft_dataset_target_count(ds), 2);
    ck_assert_int_eq(graft_dataset_class_count(ds), 0);
    int32_t label = 5;
    ck_assert_int_eq(graft_dataset_get(ds, 1, NULL, &label), GRAFT_OK);
    ck_assert_int_eq(label, -1);
    const int64_t pos[2] = {3, 1};
    float got[4];
    ck_assert_int_eq(graft_dataset_gather_targets(ds, pos, 2, got), GRAFT_OK);
    const float want[4] = {1, 0, 1, 1};
    tu_assert_close(got, want, 4, 0, 0, "gathered targets");
    const int64_t bad[1] = {4};
    ck_assert_int_eq(graft_dataset_gather_targets(ds, bad, 1, got), GRAFT_E_RANGE);
    /* splits keep the targets of their samples */
    ck_assert_int_eq(graft_dataset_split(ds, 0.5, 3, &tr, &va), GRAFT_OK);
    for (int64_t i = 0; i < graft_dataset_size(tr); i++) {
        float f[2], tt[2];
        ck_assert_int_eq(graft_dataset_get(tr, i, f, NULL), GRAFT_OK);
        ck_assert_int_eq(graft_dataset_gather_targets(tr, &i, 1, tt), GRAFT_OK);
        const int src = (int)(f[0] - 1) / 2;
        ck_assert_float_eq(tt[0], t[2 * src]);
        ck_assert_float_eq(tt[1], t[2 * src + 1]);
    }
    /* a labelled dataset has no targets; bad targets are refused */
    graft_dataset *lab = NULL;
    const int32_t y[4] = {0, 1, 0, 1};
    ck_assert_int_eq(graft_dataset_from_memory(ctx, 4, 1, dims, x, y, 2, 1, &lab), GRAFT_OK);
    ck_assert_int_eq(graft_dataset_target_count(lab), 0);
    ck_assert_int_eq(graft_dataset_gather_targets(lab, pos, 2, got), GRAFT_E_STATE);
    float tn[8];
    memcpy(tn, t, sizeof tn);
    tn[5] = NAN;
    graft_dataset *bad_ds = NULL;
    ck_assert_int_eq(graft_dataset_from_memory_targets(ctx, 4, 1, dims, x, 2, tn, 1, &bad_ds),
                     GRAFT_E_NUMERIC);
    ck_assert_ptr_nonnull(strstr(graft_errmsg(ctx), "sample 2, target 1 is NaN"));
    ck_assert_ptr_null(bad_ds);
    ck_assert_int_eq(graft_dataset_from_memory_targets(ctx, 4, 1, dims, x, 0, t, 1, &bad_ds),
                     GRAFT_E_INVALID_ARG);
    graft_dataset_free(lab);
    graft_dataset_free(tr);
    graft_dataset_free(va);
    graft_dataset_free(ds);
    graft_ctx_free(ctx);
}
END_TEST

/* CSV files with target columns (graft_csv_opts.n_targets). */
START_TEST(test_csv_targets)
{
    graft_ctx *ctx = tu_ctx();
    char dir[256], path[300];
    tu_make_dir(dir, sizeof dir, "csvt");
    snprintf(path, sizeof path, "%s/t.csv", dir);
    tu_write_text(path, "1,2,0,1\n3,4,1,0.5\n5,6,1,1\n");
    graft_csv_opts o = GRAFT_CSV_OPTS_INIT;
    o.n_targets = 2;
    o.scale = 0.5f; /* features only */
    graft_dataset *ds = NULL;
    ck_assert_msg(graft_dataset_from_csv(ctx, path, &o, &ds) == GRAFT_OK, "%s", graft_errmsg(ctx));
    ck_assert_int_eq(graft_dataset_size(ds), 3);
    ck_assert_int_eq(graft_dataset_target_count(ds), 2);
    ck_assert_int_eq(graft_dataset_class_count(ds), 0);
    float f[2], t[2];
    int32_t label = 7;
    ck_assert_int_eq(graft_dataset_get(ds, 1, f, &label), GRAFT_OK);
    ck_assert_int_eq(label, -1);
    ck_assert_float_eq(f[0], 1.5f);
    ck_assert_float_eq(f[1], 2.0f);
    const int64_t pos = 1;
    ck_assert_int_eq(graft_dataset_gather_targets(ds, &pos, 1, t), GRAFT_OK);
    ck_assert_float_eq(t[0], 1.0f);
    ck_assert_float_eq(t[1], 0.5f);
    graft_dataset_free(ds);
    /* targets first */
    o.label_column = GRAFT_CSV_LABEL_FIRST;
    o.scale = 1;
    ck_assert_int_eq(graft_dataset_from_csv(ctx, path, &o, &ds), GRAFT_OK);
    ck_assert_int_eq(graft_dataset_get(ds, 2, f, NULL), GRAFT_OK);
    ck_assert_float_eq(f[0], 1.0f);
    ck_assert_float_eq(f[1], 1.0f);
    const int64_t p2 = 2;
    ck_assert_int_eq(graft_dataset_gather_targets(ds, &p2, 1, t), GRAFT_OK);
    ck_assert_float_eq(t[0], 5.0f);
    ck_assert_float_eq(t[1], 6.0f);
    graft_dataset_free(ds);
    ds = NULL;
    /* errors: too few fields, n_classes with targets */
    o.n_targets = 4;
    ck_assert_int_eq(graft_dataset_from_csv(ctx, path, &o, &ds), GRAFT_E_FORMAT);
    ck_assert_ptr_nonnull(strstr(graft_errmsg(ctx), "at least one feature and 4 targets"));
    o.n_targets = 2;
    o.n_classes = 3;
    ck_assert_int_eq(graft_dataset_from_csv(ctx, path, &o, &ds), GRAFT_E_INVALID_ARG);
    ck_assert_ptr_null(ds);
    /* a 1.0 caller's struct: one label, as before */
    graft_csv_opts old = GRAFT_CSV_OPTS_INIT;
    old.struct_size = (uint32_t)offsetof(graft_csv_opts, n_targets);
    old.label_column = GRAFT_CSV_LABEL_FIRST;
    ck_assert_msg(graft_dataset_from_csv(ctx, path, &old, &ds) == GRAFT_OK, "%s",
                  graft_errmsg(ctx));
    ck_assert_int_eq(graft_dataset_target_count(ds), 0);
    ck_assert_int_eq(graft_dataset_class_count(ds), 6);
    graft_dataset_free(ds);
    tu_rm_tree(dir);
    graft_ctx_free(ctx);
}
END_TEST

/* ---- fit options --------------------------------------------------------------- */

static graft_dataset *labelled(graft_ctx *ctx, int n, int f, int classes)
{
    float *x = malloc((size_t)n * f * sizeof *x);
    int32_t *y = malloc((size_t)n * sizeof *y);
    for (int i = 0; i < n; i++) {
        y[i] = i % classes;
        for (int j = 0; j < f; j++) x[i * f + j] = (float)((i * 7 + j * 3) % 11) / 5.0f - 1 + y[i];
    }
    const int64_t dims[1] = {f};
    graft_dataset *ds = NULL;
    ck_assert_int_eq(graft_dataset_from_memory(ctx, n, 1, dims, x, y, classes, 1, &ds), GRAFT_OK);
    free(x);
    free(y);
    return ds;
}

START_TEST(test_fit_option_errors)
{
    graft_ctx *ctx = tu_ctx();
    graft_dataset *ds = labelled(ctx, 8, 3, 2);
    graft_model *m = dense_model(ctx, 3, 2, GRAFT_TASK_CLASSIFICATION);
    graft_optim *o = tu_sgd(ctx, 0.1, 0);
    const float w3[3] = {1, 1, 1}, wneg[2] = {1, -2};
    graft_fit_opts fo = GRAFT_FIT_OPTS_INIT;
    fo.class_weights = w3;
    fo.n_class_weights = 3;
    ck_assert_int_eq(graft_model_fit(m, o, ds, NULL, &fo), GRAFT_E_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(graft_errmsg(ctx), "n_class_weights is 3; the model has 2"));
    fo.class_weights = wneg;
    fo.n_class_weights = 2;
    ck_assert_int_eq(graft_model_fit(m, o, ds, NULL, &fo), GRAFT_E_RANGE);
    fo = (graft_fit_opts)GRAFT_FIT_OPTS_INIT;
    fo.sample_weights = w3;
    fo.n_sample_weights = 3;
    ck_assert_int_eq(graft_model_fit(m, o, ds, NULL, &fo), GRAFT_E_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(graft_errmsg(ctx), "training dataset has 8 samples"));
    fo = (graft_fit_opts)GRAFT_FIT_OPTS_INIT;
    fo.clip_grad_norm = -1;
    ck_assert_int_eq(graft_model_fit(m, o, ds, NULL, &fo), GRAFT_E_INVALID_ARG);
    fo = (graft_fit_opts)GRAFT_FIT_OPTS_INIT;
    fo.cutmix_alpha = 1; /* samples of one dimension */
    ck_assert_int_eq(graft_model_fit(m, o, ds, NULL, &fo), GRAFT_E_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(graft_errmsg(ctx), "cutmix needs samples of at least 2"));
    fo = (graft_fit_opts)GRAFT_FIT_OPTS_INIT;
    fo.pos_weight = w3;
    fo.n_pos_weight = 2;
    ck_assert_int_eq(graft_model_fit(m, o, ds, NULL, &fo), GRAFT_E_INVALID_ARG);
    /* a labelled dataset for a regression model, and targets for a classifier */
    ck_assert_int_eq(graft_model_set_option(m, GRAFT_MODEL_TASK, GRAFT_TASK_REGRESSION), GRAFT_OK);
    ck_assert_int_eq(graft_model_fit(m, o, ds, NULL, NULL), GRAFT_E_STATE);
    ck_assert_ptr_nonnull(strstr(graft_errmsg(ctx), "needs float targets"));
    ck_assert_int_eq(graft_model_set_option(m, GRAFT_MODEL_TASK, 3), GRAFT_E_RANGE);
    ck_assert_int_eq(graft_optim_steps(o), 0);
    /* a caller built against 1.0 passes the smaller struct: it still works */
    ck_assert_int_eq(graft_model_set_option(m, GRAFT_MODEL_TASK, 0), GRAFT_OK);
    fo = (graft_fit_opts)GRAFT_FIT_OPTS_INIT;
    fo.struct_size = (uint32_t)offsetof(graft_fit_opts, class_weights);
    fo.clip_grad_norm = -5; /* beyond the caller's struct: not read */
    ck_assert_int_eq(graft_model_fit(m, o, ds, NULL, &fo), GRAFT_OK);
    ck_assert_int_eq(graft_optim_steps(o), 1);
    graft_optim_free(o);
    graft_model_free(m);
    graft_dataset_free(ds);
    graft_ctx_free(ctx);
}
END_TEST

/* Clipping never scales a gradient that is not finite: the step's check
 * refuses it and names the parameter (inputs +inf through a dense layer
 * whose weights are all negative, then relu: the outputs are finite, the
 * first layer's weight gradient 0 * inf = NaN). */
START_TEST(test_clip_keeps_the_finite_checks)
{
    graft_ctx *ctx = tu_ctx();
    ck_assert_int_eq(graft_ctx_set_int(ctx, GRAFT_CTX_CHECK_INPUTS, 0), GRAFT_OK);
    const int64_t in[1] = {3};
    graft_model *m = NULL;
    graft_layer *l = NULL;
    ck_assert_int_eq(graft_model_create(ctx, 1, in, 1, &m), GRAFT_OK);
    ck_assert_int_eq(graft_layer_dense(ctx, 4, 0, &l), GRAFT_OK);
    ck_assert_int_eq(graft_model_add(m, "a", l, 0, NULL), GRAFT_OK);
    ck_assert_int_eq(graft_layer_relu(ctx, &l), GRAFT_OK);
    ck_assert_int_eq(graft_model_add(m, "relu", l, 0, NULL), GRAFT_OK);
    ck_assert_int_eq(graft_layer_dense(ctx, 2, 1, &l), GRAFT_OK);
    ck_assert_int_eq(graft_model_add(m, "b", l, 0, NULL), GRAFT_OK);
    graft_tensor *w = NULL;
    ck_assert_int_eq(graft_layer_param(graft_model_layer(m, 0), 0, NULL, &w, NULL, NULL), 0);
    graft_tensor_fill(w, -0.5f);
    float x[6] = {0};
    const int32_t y[2] = {0, 1};
    graft_dataset *ds = NULL;
    ck_assert_int_eq(graft_dataset_from_memory(ctx, 2, 1, in, x, y, 2, 0, &ds), GRAFT_OK);
    for (int i = 0; i < 6; i++) x[i] = INFINITY;
    graft_optim *o = tu_sgd(ctx, 0.1, 0);
    graft_fit_opts fo = GRAFT_FIT_OPTS_INIT;
    fo.clip_grad_norm = 1.0f;
    ck_assert_int_eq(graft_model_fit(m, o, ds, NULL, &fo), GRAFT_E_NUMERIC);
    ck_assert_ptr_nonnull(strstr(graft_errmsg(ctx), "layer \"a\" (dense) parameter \"weight\": its "
                                                    "gradient is NaN"));
    ck_assert_int_eq(graft_optim_steps(o), 0);
    graft_optim_free(o);
    graft_model_free(m);
    graft_dataset_free(ds);
    graft_ctx_free(ctx);
}
END_TEST

/* ---- mixup and cutmix ------------------------------------------------------------ */

/* Images (1, 4, 4) of 3 classes for a flatten -> dense model. */
static void fit_images(graft_ctx *ctx, float mixup, float cutmix, uint64_t seed, int cache,
                       float *out)
{
    enum { N = 12, S = 4 };
    float x[N * S * S];
    int32_t y[N];
    for (int i = 0; i < N; i++) {
        y[i] = i % 3;
        for (int k = 0; k < S * S; k++) x[i * S * S + k] = (float)((i * 5 + k * 3) % 7) / 7.0f + y[i];
    }
    const int64_t dims[3] = {1, S, S};
    graft_dataset *ds = NULL;
    ck_assert_int_eq(graft_dataset_from_memory(ctx, N, 3, dims, x, y, 3, 1, &ds), GRAFT_OK);
    graft_model *m = NULL;
    graft_layer *l = NULL;
    ck_assert_int_eq(graft_model_create(ctx, 3, dims, 5, &m), GRAFT_OK);
    ck_assert_int_eq(graft_layer_flatten(ctx, &l), GRAFT_OK);
    ck_assert_int_eq(graft_model_add(m, "flat", l, 0, NULL), GRAFT_OK);
    ck_assert_int_eq(graft_layer_dense(ctx, 6, 1, &l), GRAFT_OK);
    ck_assert_int_eq(graft_model_add(m, "trunk", l, 0, NULL), GRAFT_OK);
    ck_assert_int_eq(graft_layer_dense(ctx, 3, 1, &l), GRAFT_OK);
    ck_assert_int_eq(graft_model_add(m, "fc", l, 0, NULL), GRAFT_OK);
    ck_assert_int_eq(graft_model_freeze_all_but_last(m, 1), GRAFT_OK);
    ck_assert_int_eq(graft_model_set_option(m, GRAFT_MODEL_FEATURE_CACHE, cache), GRAFT_OK);
    graft_optim *o = tu_sgd(ctx, 0.1, 0.5);
    graft_fit_opts fo = GRAFT_FIT_OPTS_INIT;
    fo.batch_size = 5;
    fo.epochs = 3;
    fo.seed = seed;
    fo.mixup_alpha = mixup;
    fo.cutmix_alpha = cutmix;
    ck_assert_msg(graft_model_fit(m, o, ds, NULL, &fo) == GRAFT_OK, "%s", graft_errmsg(ctx));
    memcpy(out, param(m, 2, 0), 18 * sizeof(float));
    graft_optim_free(o);
    graft_model_free(m);
    graft_dataset_free(ds);
}

START_TEST(test_mixup_cutmix_deterministic)
{
    graft_ctx *ctx = tu_ctx();
    float plain[18], plain_nocache[18], a[18], b[18], c[18], d[18], e[18];
    fit_images(ctx, 0, 0, 1, 1, plain);
    fit_images(ctx, 0, 0, 1, 0, plain_nocache);
    /* the cache changes nothing without mixing (the reference for below) */
    ck_assert_uint_eq(tu_first_bit_difference(plain, plain_nocache, 18), 18);
    fit_images(ctx, 0.4f, 0, 1, 1, a);
    fit_images(ctx, 0.4f, 0, 1, 1, b);
    fit_images(ctx, 0.4f, 0, 2, 1, c);
    ck_assert_uint_eq(tu_first_bit_difference(a, b, 18), 18);  /* same seed: same run */
    ck_assert_uint_lt(tu_first_bit_difference(a, c, 18), 18);  /* another seed: another */
    ck_assert_uint_lt(tu_first_bit_difference(a, plain, 18), 18); /* it mixed */
    /* with mixing the cache is not used: the same weights with and without */
    fit_images(ctx, 0.4f, 0, 1, 0, d);
    ck_assert_uint_eq(tu_first_bit_difference(a, d, 18), 18);
    fit_images(ctx, 0, 1.0f, 1, 1, d);
    fit_images(ctx, 0, 1.0f, 1, 1, e);
    ck_assert_uint_eq(tu_first_bit_difference(d, e, 18), 18);
    ck_assert_uint_lt(tu_first_bit_difference(d, plain, 18), 18);
    ck_assert_uint_lt(tu_first_bit_difference(d, a, 18), 18);
    fit_images(ctx, 0.4f, 1.0f, 1, 1, e); /* both: each batch picks one */
    ck_assert_uint_lt(tu_first_bit_difference(e, a, 18), 18);
    ck_assert_uint_lt(tu_first_bit_difference(e, d, 18), 18);
    for (int i = 0; i < 18; i++) ck_assert(isfinite(e[i]));
    graft_ctx_free(ctx);
}
END_TEST

/* ---- evaluation, prediction, save and load ------------------------------------- */

/* A dense layer 2 -> 2 with identity weights and zero bias: the logits are
 * the features. Multi-label, thresholds 0.5 (logit 0) and 0.8 (logit
 * ln 4 = 1.386):
 *   sample  logits      targets   predicted (0.5, 0.8)
 *   0       ( 1,  2)    (1, 1)    (1, 1)
 *   1       (-1,  1)    (0, 1)    (0, 0)   label 1: 0.73 < 0.8
 *   2       ( 2, -3)    (0, 0)    (1, 0)
 *   3       (-2,  0)    (1, 0)    (0, 0)
 * label 0: TP 1, FP 1, FN 1: P 1/2, R 1/2, F1 1/2, support 2
 * label 1: TP 1, FP 0, FN 1: P 1, R 1/2, F1 2/3, support 2
 * micro: TP 2, FP 1, FN 2: P 2/3, R 1/2, F1 4/7; macro F1 7/12;
 * subset accuracy 1/4 (sample 0); Hamming loss 3/8. */
START_TEST(test_multi_label_evaluate_predict_save)
{
    graft_ctx *ctx = tu_ctx();
    graft_model *m = dense_model(ctx, 2, 2, GRAFT_TASK_MULTI_LABEL);
    const float eye[4] = {1, 0, 0, 1}, zero[2] = {0, 0};
    set_param(m, 0, 0, eye);
    set_param(m, 0, 1, zero);
    const float x[8] = {1, 2, -1, 1, 2, -3, -2, 0}, t[8] = {1, 1, 0, 1, 0, 0, 1, 0};
    const int64_t dims[1] = {2};
    graft_dataset *ds = NULL;
    ck_assert_int_eq(graft_dataset_from_memory_targets(ctx, 4, 1, dims, x, 2, t, 1, &ds), GRAFT_OK);
    const float thr[2] = {0.5f, 0.8f};
    graft_eval *e = NULL;
    ck_assert_int_eq(graft_model_evaluate_targets(m, ds, 3, thr, &e), GRAFT_OK);
    ck_assert_int_eq(graft_eval_target_count(e), 2);
    ck_assert_int_eq(graft_eval_class_count(e), 0);
    ck_assert_int_eq(graft_eval_confusion(e, 0, 0), -1);
    ck_assert_double_eq(graft_eval_get(e, GRAFT_EVAL_COUNT), 4);
    ck_assert_double_eq_tol(graft_eval_get(e, GRAFT_EVAL_SUBSET_ACCURACY), 0.25, 1e-12);
    ck_assert_double_eq_tol(graft_eval_get(e, GRAFT_EVAL_ACCURACY), 0.25, 1e-12);
    ck_assert_double_eq_tol(graft_eval_get(e, GRAFT_EVAL_HAMMING_LOSS), 3.0 / 8, 1e-12);
    ck_assert_double_eq_tol(graft_eval_get(e, GRAFT_EVAL_MICRO_PRECISION), 2.0 / 3, 1e-12);
    ck_assert_double_eq_tol(graft_eval_get(e, GRAFT_EVAL_MICRO_RECALL), 0.5, 1e-12);
    ck_assert_double_eq_tol(graft_eval_get(e, GRAFT_EVAL_MICRO_F1), 4.0 / 7, 1e-12);
    ck_assert_double_eq_tol(graft_eval_get(e, GRAFT_EVAL_MACRO_F1), 7.0 / 12, 1e-12);
    ck_assert_double_eq_tol(graft_eval_target_get(e, 0, GRAFT_EVAL_LABEL_PRECISION), 0.5, 1e-12);
    ck_assert_double_eq_tol(graft_eval_target_get(e, 1, GRAFT_EVAL_LABEL_PRECISION), 1, 1e-12);
    ck_assert_double_eq_tol(graft_eval_target_get(e, 1, GRAFT_EVAL_LABEL_RECALL), 0.5, 1e-12);
    ck_assert_double_eq_tol(graft_eval_target_get(e, 1, GRAFT_EVAL_LABEL_F1), 2.0 / 3, 1e-12);
    ck_assert_double_eq(graft_eval_target_get(e, 0, GRAFT_EVAL_LABEL_SUPPORT), 2);
    ck_assert_double_eq_tol(graft_eval_target_get(e, 1, GRAFT_EVAL_LABEL_THRESHOLD), 0.8, 1e-7);
    ck_assert(isnan(graft_eval_target_get(e, 2, GRAFT_EVAL_LABEL_F1)));
    ck_assert(isnan(graft_eval_get(e, GRAFT_EVAL_R2)));
    /* the loss is the mean BCE of the logits */
    double want = 0;
    for (int k = 0; k < 8; k++) want += log1p(exp(-x[k])) + (1 - t[k]) * x[k];
    ck_assert_double_eq_tol(graft_eval_get(e, GRAFT_EVAL_LOSS), want / 8, 1e-6);
    graft_eval_free(e);
    /* predictions over the dataset are the labels' sigmoids, as predict's */
    float pd[8];
    int32_t best[4];
    ck_assert_int_eq(graft_model_predict_dataset(m, ds, 3, pd, best), GRAFT_OK);
    for (int k = 0; k < 8; k++)
        ck_assert_double_eq_tol(pd[k], 1.0 / (1.0 + exp(-(double)x[k])), 1e-6);

    /* graft_model_evaluate() is for classifiers */
    ck_assert_int_eq(graft_model_evaluate(m, ds, 2, 1, &e), GRAFT_E_STATE);
    const float bad_thr[2] = {0.5f, 1.5f};
    ck_assert_int_eq(graft_model_evaluate_targets(m, ds, 2, bad_thr, &e), GRAFT_E_RANGE);

    /* predict gives sigmoid probabilities, also after a save and a load */
    const int64_t bd[2] = {4, 2};
    graft_tensor *in = tu_tensor_from(ctx, 2, bd, x), *p = tu_tensor(ctx, 2, 4, 2);
    char dir[256], path[300];
    tu_make_dir(dir, sizeof dir, "losses");
    snprintf(path, sizeof path, "%s/m.graft", dir);
    ck_assert_int_eq(graft_model_save(m, path), GRAFT_OK);
    graft_model *m2 = NULL;
    ck_assert_int_eq(graft_model_load(ctx, path, &m2), GRAFT_OK);
    int64_t task = -1;
    ck_assert_int_eq(graft_model_get_option(m2, GRAFT_MODEL_TASK, &task), GRAFT_OK);
    ck_assert_int_eq(task, GRAFT_TASK_MULTI_LABEL);
    ck_assert_int_eq(graft_model_predict(m2, in, p), GRAFT_OK);
    for (int k = 0; k < 8; k++)
        ck_assert_float_eq_tol(graft_tensor_data_const(p)[k], 1 / (1 + exp(-x[k])), 1e-6);
    int32_t idx[4];
    float pr[4];
    ck_assert_int_eq(graft_model_predict_topk(m2, in, 1, idx, pr), GRAFT_OK);
    ck_assert_int_eq(idx[0], 1);
    ck_assert_int_eq(idx[2], 0);
    /* a classifier's file is as before: no task recorded, so the same bytes */
    ck_assert_int_eq(graft_model_set_option(m2, GRAFT_MODEL_TASK, 0), GRAFT_OK);
    graft_model *m3 = dense_model(ctx, 2, 2, GRAFT_TASK_REGRESSION);
    ck_assert_int_eq(graft_model_save(m3, path), GRAFT_OK);
    graft_model_free(m3);
    ck_assert_int_eq(graft_model_load(ctx, path, &m3), GRAFT_OK);
    ck_assert_int_eq(graft_model_get_option(m3, GRAFT_MODEL_TASK, &task), GRAFT_OK);
    ck_assert_int_eq(task, GRAFT_TASK_REGRESSION);
    ck_assert_int_eq(graft_model_predict_topk(m3, in, 1, idx, pr), GRAFT_E_STATE);
    graft_model_free(m3);
    tu_rm_tree(dir);
    graft_tensor_free(in);
    graft_tensor_free(p);
    graft_model_free(m2);
    graft_model_free(m);
    graft_dataset_free(ds);
    graft_ctx_free(ctx);
}
END_TEST

/* Identity model, regression: outputs are the features.
 *   outputs (1, 0), (2, 1), (3, 5); targets (1, 1), (3, 1), (2, 4)
 *   output 0: errors 0, -1, 1: MSE 2/3, MAE 2/3; targets 1, 3, 2: mean 2,
 *             SS_tot 2, R^2 = 1 - 2/2 = 0
 *   output 1: errors -1, 0, 1: MSE 2/3, MAE 2/3; targets 1, 1, 4: mean 2,
 *             SS_tot 6, R^2 = 1 - 2/6 = 2/3
 *   mean: MSE 2/3, MAE 2/3, R^2 1/3; predict returns the outputs. Then a
 *   short fit lowers the error. */
START_TEST(test_regression_evaluate_and_fit)
{
    graft_ctx *ctx = tu_ctx();
    graft_model *m = dense_model(ctx, 2, 2, GRAFT_TASK_REGRESSION);
    const float eye[4] = {1, 0, 0, 1}, zero[2] = {0, 0};
    set_param(m, 0, 0, eye);
    set_param(m, 0, 1, zero);
    const float x[6] = {1, 0, 2, 1, 3, 5}, t[6] = {1, 1, 3, 1, 2, 4};
    const int64_t dims[1] = {2};
    graft_dataset *ds = NULL;
    ck_assert_int_eq(graft_dataset_from_memory_targets(ctx, 3, 1, dims, x, 2, t, 1, &ds), GRAFT_OK);
    graft_eval *e = NULL;
    ck_assert_int_eq(graft_model_evaluate_targets(m, ds, 2, NULL, &e), GRAFT_OK);
    ck_assert_double_eq_tol(graft_eval_get(e, GRAFT_EVAL_MSE), 2.0 / 3, 1e-12);
    ck_assert_double_eq_tol(graft_eval_get(e, GRAFT_EVAL_LOSS), 2.0 / 3, 1e-6);
    ck_assert_double_eq_tol(graft_eval_get(e, GRAFT_EVAL_MAE), 2.0 / 3, 1e-12);
    ck_assert_double_eq_tol(graft_eval_get(e, GRAFT_EVAL_R2), 1.0 / 3, 1e-12);
    ck_assert_double_eq_tol(graft_eval_target_get(e, 0, GRAFT_EVAL_R2), 0, 1e-12);
    ck_assert_double_eq_tol(graft_eval_target_get(e, 1, GRAFT_EVAL_R2), 2.0 / 3, 1e-12);
    ck_assert(isnan(graft_eval_get(e, GRAFT_EVAL_ACCURACY)));
    ck_assert(isnan(graft_eval_get(e, GRAFT_EVAL_MICRO_F1)));
    const float thr[2] = {0.5f, 0.5f};
    graft_eval *e2 = NULL;
    ck_assert_int_eq(graft_model_evaluate_targets(m, ds, 2, thr, &e2), GRAFT_E_INVALID_ARG);
    {
        /* Targets that never vary (1000 of 7.77 for output 0): R^2 of that
         * output is NaN, not the -1e9 a sum of squares minus a squared sum
         * leaves in doubles, and the mean is output 1's alone. */
        enum { K = 1000 };
        float *cx = calloc(2 * K, sizeof *cx), *ct = calloc(2 * K, sizeof *ct);
        ck_assert(cx && ct);
        for (int k = 0; k < K; k++) {
            cx[2 * k] = 7.0f;
            ct[2 * k] = 7.77f;
            cx[2 * k + 1] = ct[2 * k + 1] = (float)(k % 7);
        }
        graft_dataset *cds = NULL;
        ck_assert_int_eq(graft_dataset_from_memory_targets(ctx, K, 1, dims, cx, 2, ct, 1, &cds),
                         GRAFT_OK);
        graft_eval *ce = NULL;
        ck_assert_int_eq(graft_model_evaluate_targets(m, cds, 64, NULL, &ce), GRAFT_OK);
        ck_assert(isnan(graft_eval_target_get(ce, 0, GRAFT_EVAL_R2)));
        ck_assert_double_eq_tol(graft_eval_target_get(ce, 1, GRAFT_EVAL_R2), 1, 1e-12);
        ck_assert_double_eq_tol(graft_eval_get(ce, GRAFT_EVAL_R2), 1, 1e-12);
        graft_eval_free(ce);
        graft_dataset_free(cds);
        free(cx);
        free(ct);
    }
    const int64_t bd[2] = {3, 2};
    graft_tensor *in = tu_tensor_from(ctx, 2, bd, x), *p = tu_tensor(ctx, 2, 3, 2);
    ck_assert_int_eq(graft_model_predict(m, in, p), GRAFT_OK);
    tu_assert_close(graft_tensor_data_const(p), x, 6, 0, 0, "regression outputs");
    float pd[6];
    int32_t best[3];
    ck_assert_int_eq(graft_model_predict_dataset(m, ds, 2, pd, NULL), GRAFT_OK);
    tu_assert_close(pd, x, 6, 0, 0, "regression outputs over the dataset");
    ck_assert_int_eq(graft_model_predict_dataset(m, ds, 2, pd, best), GRAFT_E_STATE);
    graft_optim *o = tu_sgd(ctx, 0.05, 0.5);
    graft_fit_opts fo = GRAFT_FIT_OPTS_INIT;
    fo.epochs = 40;
    fo.regression_loss = GRAFT_LOSS_L1;
    ck_assert_msg(graft_model_fit(m, o, ds, ds, &fo) == GRAFT_OK, "%s", graft_errmsg(ctx));
    ck_assert_int_eq(graft_model_evaluate_targets(m, ds, 2, NULL, &e2), GRAFT_OK);
    ck_assert_double_lt(graft_eval_get(e2, GRAFT_EVAL_MAE), 0.75 * graft_eval_get(e, GRAFT_EVAL_MAE));
    graft_eval_free(e2);
    graft_eval_free(e);
    graft_optim_free(o);
    graft_tensor_free(in);
    graft_tensor_free(p);
    graft_model_free(m);
    graft_dataset_free(ds);
    graft_ctx_free(ctx);
}
END_TEST

/* Progress of a multi-label fit with validation: accuracy is the fraction
 * of labels right, the validation figures those of evaluate_targets. */
static int last_progress(void *user, const graft_progress *p)
{
    double *v = user;
    if (graft_progress_get(p, GRAFT_PROGRESS_EVENT) == GRAFT_EVENT_EPOCH_END) {
        v[0] = graft_progress_get(p, GRAFT_PROGRESS_ACCURACY);
        v[1] = graft_progress_get(p, GRAFT_PROGRESS_VAL_LOSS);
        v[2] = graft_progress_get(p, GRAFT_PROGRESS_VAL_ACCURACY);
    }
    return 0;
}

START_TEST(test_multi_label_fit_learns)
{
    graft_ctx *ctx = tu_ctx();
    enum { N = 32 };
    float x[N * 2], t[N * 2];
    for (int i = 0; i < N; i++) {
        x[2 * i] = (float)((i * 7) % 11) / 5.0f - 1;
        x[2 * i + 1] = (float)((i * 5) % 13) / 6.0f - 1;
        t[2 * i] = x[2 * i] > 0;
        t[2 * i + 1] = x[2 * i] + x[2 * i + 1] > 0;
    }
    const int64_t dims[1] = {2};
    graft_dataset *ds = NULL;
    ck_assert_int_eq(graft_dataset_from_memory_targets(ctx, N, 1, dims, x, 2, t, 1, &ds), GRAFT_OK);
    graft_model *m = dense_model(ctx, 2, 2, GRAFT_TASK_MULTI_LABEL);
    graft_optim *o = tu_sgd(ctx, 0.5, 0.9);
    graft_fit_opts fo = GRAFT_FIT_OPTS_INIT;
    fo.epochs = 30;
    fo.batch_size = 8;
    fo.progress = last_progress;
    double v[3] = {NAN, NAN, NAN};
    fo.user_data = v;
    const float pw[2] = {1.0f, 2.0f};
    fo.pos_weight = pw;
    fo.n_pos_weight = 2;
    fo.mixup_alpha = 0.2f;
    ck_assert_msg(graft_model_fit(m, o, ds, ds, &fo) == GRAFT_OK, "%s", graft_errmsg(ctx));
    graft_eval *e = NULL;
    ck_assert_int_eq(graft_model_evaluate_targets(m, ds, 8, NULL, &e), GRAFT_OK);
    ck_assert_double_gt(graft_eval_get(e, GRAFT_EVAL_MICRO_F1), 0.85);
    ck_assert_double_eq_tol(v[1], graft_eval_get(e, GRAFT_EVAL_LOSS), 1e-9);
    ck_assert_double_eq_tol(v[2], graft_eval_get(e, GRAFT_EVAL_SUBSET_ACCURACY), 1e-12);
    ck_assert(v[0] > 0.5 && v[0] <= 1);
    graft_eval_free(e);
    graft_optim_free(o);
    graft_model_free(m);
    graft_dataset_free(ds);
    graft_ctx_free(ctx);
}
END_TEST

/* Borrowed targets that became NaN after the dataset was made: fit names
 * the sample and makes no step. */
START_TEST(test_fit_refuses_borrowed_targets_that_became_nan)
{
    graft_ctx *ctx = tu_ctx();
    float x[8] = {1, 2, 3, 4, 5, 6, 7, 8}, t[4] = {1, 2, 3, 4};
    const int64_t dims[1] = {2};
    graft_dataset *ds = NULL;
    ck_assert_int_eq(graft_dataset_from_memory_targets(ctx, 4, 1, dims, x, 1, t, 0, &ds), GRAFT_OK);
    t[2] = NAN;
    graft_model *m = dense_model(ctx, 2, 1, GRAFT_TASK_REGRESSION);
    graft_optim *o = tu_sgd(ctx, 0.01, 0);
    graft_fit_opts fo = GRAFT_FIT_OPTS_INIT;
    fo.shuffle = 0;
    ck_assert_int_eq(graft_model_fit(m, o, ds, NULL, &fo), GRAFT_E_NUMERIC);
    ck_assert_ptr_nonnull(strstr(graft_errmsg(ctx), "training sample 2 has target nan for output 0"));
    ck_assert_int_eq(graft_optim_steps(o), 0);
    graft_optim_free(o);
    graft_model_free(m);
    graft_dataset_free(ds);
    graft_ctx_free(ctx);
}
END_TEST

Suite *suite_losses(void)
{
    Suite *s = suite_create("losses");
    TCase *tc = tcase_create("losses");
    tcase_add_test(tc, test_torch_references);
    tcase_add_test(tc, test_loss_argument_errors);
    tcase_add_test(tc, test_dataset_targets);
    tcase_add_test(tc, test_csv_targets);
    tcase_add_test(tc, test_fit_option_errors);
    tcase_add_test(tc, test_clip_keeps_the_finite_checks);
    tcase_add_test(tc, test_mixup_cutmix_deterministic);
    tcase_add_test(tc, test_multi_label_evaluate_predict_save);
    tcase_add_test(tc, test_regression_evaluate_and_fit);
    tcase_add_test(tc, test_multi_label_fit_learns);
    tcase_add_test(tc, test_fit_refuses_borrowed_targets_that_became_nan);
    suite_add_tcase(s, tc);
    return s;
}
