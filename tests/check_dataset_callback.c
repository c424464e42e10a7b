/* check_dataset_callback.c - datasets whose samples a function makes
 * (src/data/dataset_callback.c): reads, splits, errors from the callback,
 * labels checked, determinism flags and fit's input checks. */
#include "testutil.h"

#include <math.h>
#include <string.h>

/* Sample i is 4 floats i, i + 0.25, i + 0.5, i + 0.75, label i % 3; fails
 * with fail_code at fail_at, gives bad_label at label_at, NaN at nan_at. */
typedef struct gen {
    int64_t fail_at, label_at, nan_at;
    int fail_code;
    int32_t bad_label;
    int calls;
} gen;

static int make_sample(void *user, int64_t i, float *features, int32_t *label)
{
    gen *g = user;
    g->calls++;
    ck_assert_ptr_nonnull(features);
    ck_assert_ptr_nonnull(label);
    ck_assert_int_eq(*label, -1);
    if (i == g->fail_at) return g->fail_code;
    for (int k = 0; k < 4; k++) features[k] = (float)i + 0.25f * (float)k;
    if (i == g->nan_at) features[2] = NAN;
    *label = i == g->label_at ? g->bad_label : (int32_t)(i % 3);
    return 0;
}

static graft_dataset *make(graft_ctx *ctx, gen *g, int64_t count, int flags)
{
    memset(g, 0, sizeof *g);
    g->fail_at = g->label_at = g->nan_at = -1;
    int64_t dims[2] = {2, 2};
    graft_dataset *ds = NULL;
    ck_assert_int_eq(graft_dataset_from_callback(ctx, count, 2, dims, 3, flags, make_sample, g,
                                                 &ds), GRAFT_OK);
    return ds;
}

START_TEST(test_reads_and_splits)
{
    graft_ctx *ctx = tu_ctx();
    gen g;
    graft_dataset *ds = make(ctx, &g, 10, 0);
    ck_assert_int_eq(g.calls, 0); /* nothing is called at creation */
    ck_assert_int_eq(graft_dataset_size(ds), 10);
    ck_assert_int_eq(graft_dataset_class_count(ds), 3);
    int ndim;
    int64_t dims[GRAFT_MAX_DIMS];
    ck_assert_int_eq(graft_dataset_sample_shape(ds, &ndim, dims), GRAFT_OK);
    ck_assert_int_eq(ndim, 2);
    ck_assert_int_eq(dims[0], 2);
    ck_assert_int_eq(dims[1], 2);
    float f[4];
    int32_t lab;
    ck_assert_int_eq(graft_dataset_get(ds, 7, f, &lab), GRAFT_OK);
    ck_assert_float_eq(f[0], 7.0f);
    ck_assert_float_eq(f[3], 7.75f);
    ck_assert_int_eq(lab, 1);
    /* labels only: the callback still gets somewhere to write */
    ck_assert_int_eq(graft_dataset_get(ds, 5, NULL, &lab), GRAFT_OK);
    ck_assert_int_eq(lab, 2);
    ck_assert_int_eq(graft_dataset_is_deterministic(ds), 0);
    graft_dataset *tr = NULL, *va = NULL;
    ck_assert_int_eq(graft_dataset_split(ds, 0.3, 1, &tr, &va), GRAFT_OK);
    graft_dataset_free(ds); /* the splits keep the source */
    int64_t pos[3] = {0, 1, 2};
    float batch[12];
    int32_t labels[3];
    ck_assert_int_eq(graft_dataset_gather(va, pos, 3, batch, labels), GRAFT_OK);
    for (int k = 0; k < 3; k++) ck_assert_int_eq(labels[k], (int)batch[4 * k] % 3);
    graft_dataset_free(tr);
    graft_dataset_free(va);
    ds = make(ctx, &g, 2, GRAFT_CALLBACK_DETERMINISTIC);
    ck_assert_int_eq(graft_dataset_is_deterministic(ds), 1);
    graft_dataset_free(ds);
    graft_ctx_free(ctx);
}
END_TEST

START_TEST(test_callback_errors_name_the_sample)
{
    graft_ctx *ctx = tu_ctx();
    gen g;
    graft_dataset *ds = make(ctx, &g, 10, 0);
    float f[4];
    int32_t lab;
    g.fail_at = 4;
    g.fail_code = GRAFT_E_IO;
    tu_expect_error(ctx, graft_dataset_get(ds, 4, f, &lab), GRAFT_E_IO,
                    "graft_sample_fn(): the callback failed on sample 4: it returned -5 "
                    "(input/output error)");
    g.fail_code = 3;
    ck_assert_int_eq(graft_dataset_get(ds, 4, f, &lab), GRAFT_E_CANCELLED);
    ck_assert_ptr_nonnull(strstr(graft_errmsg(ctx), "sample 4: it returned 3"));
    g.fail_at = -1;
    g.label_at = 6;
    g.bad_label = 3;
    tu_expect_error(ctx, graft_dataset_get(ds, 6, f, &lab), GRAFT_E_RANGE,
                    "graft_sample_fn(): the callback gave sample 6 the label 3, must be in "
                    "[0, 3)");
    g.bad_label = -1;
    tu_expect_error(ctx, graft_dataset_get(ds, 6, NULL, &lab), GRAFT_E_RANGE,
                    "graft_sample_fn(): the callback gave sample 6 the label -1, must be in "
                    "[0, 3) (was the label written?)");
    /* a failing sample fails a gather */
    int64_t pos[3] = {5, 6, 7};
    float batch[12];
    int32_t labels[3];
    ck_assert_int_eq(graft_dataset_gather(ds, pos, 3, batch, labels), GRAFT_E_RANGE);
    graft_dataset_free(ds);
    graft_ctx_free(ctx);
}
END_TEST

START_TEST(test_bad_arguments)
{
    graft_ctx *ctx = tu_ctx();
    gen g;
    int64_t dims[2] = {2, 2}, zero[1] = {0};
    graft_dataset *ds = (graft_dataset *)1;
    ck_assert_int_eq(graft_dataset_from_callback(NULL, 1, 2, dims, 3, 0, make_sample, &g, &ds),
                     GRAFT_E_INVALID_ARG);
    ck_assert_ptr_null(ds);
    ck_assert_int_eq(graft_dataset_from_callback(ctx, 1, 2, dims, 3, 0, NULL, &g, &ds),
                     GRAFT_E_INVALID_ARG);
    ck_assert_int_eq(graft_dataset_from_callback(ctx, 0, 2, dims, 3, 0, make_sample, &g, &ds),
                     GRAFT_E_INVALID_ARG);
    ck_assert_int_eq(graft_dataset_from_callback(ctx, 1, 2, dims, 0, 0, make_sample, &g, &ds),
                     GRAFT_E_INVALID_ARG);
    tu_expect_error(ctx, graft_dataset_from_callback(ctx, 1, 2, dims, 3, 2, make_sample, &g, &ds),
                    GRAFT_E_INVALID_ARG,
                    "graft_dataset_from_callback(): flags is 2; the only flag is "
                    "GRAFT_CALLBACK_DETERMINISTIC (1)");
    ck_assert_int_eq(graft_dataset_from_callback(ctx, 1, 0, dims, 3, 0, make_sample, &g, &ds),
                     GRAFT_E_SHAPE);
    ck_assert_int_eq(graft_dataset_from_callback(ctx, 1, 1, zero, 3, 0, make_sample, &g, &ds),
                     GRAFT_E_SHAPE);
    int64_t huge[2] = {1 << 20, 1 << 20};
    ck_assert_int_eq(graft_dataset_from_callback(ctx, 2, 2, huge, 3, 0, make_sample, &g, &ds),
                     GRAFT_E_SHAPE);
    ck_assert_int_eq(graft_dataset_from_callback(ctx, 1, 2, dims, 3, 0, make_sample, &g, NULL),
                     GRAFT_E_INVALID_ARG);
    graft_ctx_free(ctx);
}
END_TEST

/* (2, 2) -> flatten -> dense 3 */
static graft_model *small_model(graft_ctx *ctx)
{
    int64_t dims[2] = {2, 2};
    graft_model *m = NULL;
    graft_layer *l = NULL;
    ck_assert_int_eq(graft_model_create(ctx, 2, dims, 1, &m), GRAFT_OK);
    graft_layer_flatten(ctx, &l);
    ck_assert_int_eq(graft_model_add(m, "flat", l, 0, NULL), GRAFT_OK);
    graft_layer_dense(ctx, 3, 1, &l);
    ck_assert_int_eq(graft_model_add(m, "fc", l, 0, NULL), GRAFT_OK);
    return m;
}

START_TEST(test_fit_checks_callback_values)
{
    graft_ctx *ctx = tu_ctx();
    gen g;
    graft_dataset *ds = make(ctx, &g, 12, GRAFT_CALLBACK_DETERMINISTIC);
    graft_model *m = small_model(ctx);
    graft_optim *o = tu_sgd(ctx, 0.001, 0.0);
    graft_fit_opts fo = GRAFT_FIT_OPTS_INIT;
    fo.batch_size = 4;
    fo.shuffle = 0;
    ck_assert_int_eq(graft_model_fit(m, o, ds, NULL, &fo), GRAFT_OK);
    g.nan_at = 9;
    int st = graft_model_fit(m, o, ds, NULL, &fo);
    ck_assert_int_eq(st, GRAFT_E_NUMERIC);
    ck_assert_ptr_nonnull(strstr(graft_errmsg(ctx), "sample 9"));
    g.nan_at = -1;
    g.fail_at = 2;
    g.fail_code = GRAFT_E_IO;
    st = graft_model_fit(m, o, ds, NULL, &fo);
    ck_assert_int_eq(st, GRAFT_E_IO);
    ck_assert_ptr_nonnull(strstr(graft_errmsg(ctx), "sample 2"));
    graft_optim_free(o);
    graft_model_free(m);
    graft_dataset_free(ds);
    graft_ctx_free(ctx);
}
END_TEST

/* Each allocation of graft_dataset_from_callback() failed in turn:
 * GRAFT_E_NOMEM naming the function, no dataset, nothing leaked. */
START_TEST(test_allocation_failures)
{
    long k = 1;
    for (;; k++) {
        tu_fail_heap h;
        graft_ctx *ctx = tu_fail_heap_ctx(&h);
        gen g;
        memset(&g, 0, sizeof g);
        int64_t dims[2] = {2, 2};
        graft_dataset *ds = (graft_dataset *)1;
        tu_fail_heap_arm(&h, k, 0);
        int st = graft_dataset_from_callback(ctx, 5, 2, dims, 3, 0, make_sample, &g, &ds);
        const int injected = h.injected;
        tu_fail_heap_arm(&h, 0, 0);
        if (injected) {
            ck_assert_int_eq(st, GRAFT_E_NOMEM);
            ck_assert_ptr_null(ds);
            ck_assert_msg(strncmp(graft_errmsg(ctx), "graft_dataset_from_callback(): ", 31) == 0,
                          "allocation %ld: %s", k, graft_errmsg(ctx));
        } else {
            ck_assert_int_eq(st, GRAFT_OK);
            graft_dataset_free(ds);
        }
        graft_ctx_free(ctx);
        ck_assert_int_eq(h.allocs, h.frees);
        if (!injected) break;
    }
    /* 4 allocations: the source, its scratch, the source record and the view */
    ck_assert_int_eq(k, 5);
}
END_TEST

Suite *suite_dataset_callback(void)
{
    Suite *s = suite_create("dataset_callback");
    TCase *tc = tcase_create("reads");
    tcase_add_test(tc, test_reads_and_splits);
    tcase_add_test(tc, test_callback_errors_name_the_sample);
    tcase_add_test(tc, test_bad_arguments);
    tcase_add_test(tc, test_allocation_failures);
    suite_add_tcase(s, tc);
    tc = tcase_create("fit");
    tcase_add_test(tc, test_fit_checks_callback_values);
    suite_add_tcase(s, tc);
    return s;
}
