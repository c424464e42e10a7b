/* check_reinit.c - fresh parameters for a built model (src/model/reinit.c):
 * equal to a new model's, after training too; ranges, trainable-only, and
 * what is kept. */
#include "testutil.h"

#include <math.h>
#include <string.h>

/* (1, 6, 6) -> conv 3x3 (4) -> batch_norm -> relu -> flatten -> dense 8
 * -> scale_shift (8) -> dense 3, built with seed. */
static graft_model *build(graft_ctx *ctx, uint64_t seed)
{
    int64_t dims[3] = {1, 6, 6};
    graft_model *m = NULL;
    graft_layer *l = NULL;
    ck_assert_int_eq(graft_model_create(ctx, 3, dims, seed, &m), GRAFT_OK);
    graft_conv2d_spec cs = GRAFT_CONV2D_SPEC_INIT;
    cs.out_channels = 4;
    cs.kernel_h = cs.kernel_w = 3;
    graft_layer_conv2d(ctx, &cs, &l);
    ck_assert_int_eq(graft_model_add(m, "conv", l, 0, NULL), GRAFT_OK);
    graft_layer_batch_norm(ctx, 1e-5f, 0.1f, &l);
    ck_assert_int_eq(graft_model_add(m, "bn", l, 0, NULL), GRAFT_OK);
    graft_layer_relu(ctx, &l);
    ck_assert_int_eq(graft_model_add(m, "relu", l, 0, NULL), GRAFT_OK);
    graft_layer_flatten(ctx, &l);
    ck_assert_int_eq(graft_model_add(m, "flat", l, 0, NULL), GRAFT_OK);
    graft_layer_dense(ctx, 8, 1, &l);
    ck_assert_int_eq(graft_model_add(m, "fc1", l, 0, NULL), GRAFT_OK);
    int64_t ss[1] = {8};
    graft_layer_scale_shift(ctx, 1, ss, &l);
    ck_assert_int_eq(graft_model_add(m, "ss", l, 0, NULL), GRAFT_OK);
    graft_layer_dense(ctx, 3, 1, &l);
    ck_assert_int_eq(graft_model_add(m, "fc2", l, 0, NULL), GRAFT_OK);
    return m;
}

/* Asserts that layer i's parameters of a and b are the same bits (same == 1)
 * or that some differ (same == 0). */
static void expect_layer(graft_model *a, graft_model *b, int i, int same)
{
    graft_layer *la = graft_model_layer(a, i), *lb = graft_model_layer(b, i);
    int differs = 0;
    for (int p = 0; p < graft_layer_param_count(la); p++) {
        graft_tensor *ta, *tb;
        ck_assert_int_eq(graft_layer_param(la, p, NULL, &ta, NULL, NULL), GRAFT_OK);
        ck_assert_int_eq(graft_layer_param(lb, p, NULL, &tb, NULL, NULL), GRAFT_OK);
        size_t n = graft_tensor_numel(ta);
        if (tu_first_bit_difference(graft_tensor_data(ta), graft_tensor_data(tb), n) != n)
            differs = 1;
    }
    ck_assert_msg(differs == !same, "layer %d (%s): expected %s parameters", i,
                  graft_model_layer_name(a, i), same ? "the same" : "different");
}

static graft_dataset *data(graft_ctx *ctx)
{
    float x[24 * 36];
    int32_t y[24];
    graftRng rng;
    graftRngSeed(&rng, 3);
    for (int k = 0; k < 24 * 36; k++) x[k] = graftRngUniform(&rng);
    for (int i = 0; i < 24; i++) y[i] = i % 3;
    int64_t dims[3] = {1, 6, 6};
    graft_dataset *ds = NULL;
    ck_assert_int_eq(graft_dataset_from_memory(ctx, 24, 3, dims, x, y, 3, 1, &ds), GRAFT_OK);
    return ds;
}

static void train(graft_ctx *ctx, graft_model *m, graft_dataset *ds)
{
    graft_optim *o = tu_sgd(ctx, 0.1, 0.9);
    graft_fit_opts fo = GRAFT_FIT_OPTS_INIT;
    fo.epochs = 2;
    fo.batch_size = 8;
    ck_assert_int_eq(graft_model_fit(m, o, ds, NULL, &fo), GRAFT_OK);
    graft_optim_free(o);
}

START_TEST(test_reinit_equals_fresh_model)
{
    graft_ctx *ctx = tu_ctx();
    graft_model *a = build(ctx, 11), *fresh = build(ctx, 11), *other = build(ctx, 12);
    graft_dataset *ds = data(ctx);
    /* set the scale_shift constants as an import would */
    graft_tensor *scale;
    ck_assert_int_eq(graft_layer_param(graft_model_layer(a, 5), 0, NULL, &scale, NULL, NULL),
                     GRAFT_OK);
    graft_tensor_fill(scale, 2.0f);
    ck_assert_int_eq(graft_layer_param(graft_model_layer(fresh, 5), 0, NULL, &scale, NULL, NULL),
                     GRAFT_OK);
    graft_tensor_fill(scale, 2.0f);
    graft_model_set_trainable(a, 0, 1, 0);
    train(ctx, a, ds);
    ck_assert_int_eq(graft_model_epochs_done(a), 2);
    for (int i = 4; i < 7; i += 2) expect_layer(a, fresh, i, 0);
    /* reinit with another seed differs from the fresh model ... */
    ck_assert_int_eq(graft_model_reinit(a, 12), GRAFT_OK);
    expect_layer(a, fresh, 0, 0);
    expect_layer(a, other, 0, 1);
    /* ... and with the build seed gives it back, batch norm statistics too */
    ck_assert_int_eq(graft_model_reinit(a, 11), GRAFT_OK);
    for (int i = 0; i < 7; i++) expect_layer(a, fresh, i, 1);
    ck_assert_int_eq(graft_model_epochs_done(a), 0);
    /* kept: flags, the scale_shift constants (checked above: equal to 2) */
    ck_assert_int_eq(graft_model_layer_trainable(a, 0), 0);
    ck_assert_int_eq(graft_model_layer_trainable(a, 4), 1);
    /* layers added later draw from the new seed, as in a fresh model */
    graft_layer *l = NULL;
    graft_layer_dense(ctx, 3, 1, &l);
    ck_assert_int_eq(graft_model_add(a, "fc3", l, 0, NULL), GRAFT_OK);
    graft_layer_dense(ctx, 3, 1, &l);
    ck_assert_int_eq(graft_model_add(fresh, "fc3", l, 0, NULL), GRAFT_OK);
    expect_layer(a, fresh, 7, 1);
    /* the same outputs, and training again from here gives the same model */
    graft_model_set_trainable(fresh, 0, 1, 0);
    train(ctx, a, ds);
    train(ctx, fresh, ds);
    for (int i = 0; i < 8; i++) expect_layer(a, fresh, i, 1);
    graft_model_free(a);
    graft_model_free(fresh);
    graft_model_free(other);
    graft_dataset_free(ds);
    graft_ctx_free(ctx);
}
END_TEST

START_TEST(test_reinit_layers_range_and_trainable)
{
    graft_ctx *ctx = tu_ctx();
    graft_model *a = build(ctx, 11), *fresh = build(ctx, 11);
    graft_dataset *ds = data(ctx);
    train(ctx, a, ds);
    /* the head only */
    ck_assert_int_eq(graft_model_reinit_layers(a, 6, 6, 0, 11), GRAFT_OK);
    expect_layer(a, fresh, 6, 1);
    expect_layer(a, fresh, 4, 0);
    expect_layer(a, fresh, 0, 0);
    ck_assert_int_eq(graft_model_epochs_done(a), 2);
    /* trainable only: conv and bn frozen keep their trained values */
    graft_model_set_trainable(a, 0, 1, 0);
    ck_assert_int_eq(graft_model_reinit_layers(a, 0, 6, 1, 11), GRAFT_OK);
    expect_layer(a, fresh, 4, 1);
    expect_layer(a, fresh, 0, 0);
    expect_layer(a, fresh, 1, 0);
    /* errors change nothing */
    tu_expect_error(ctx, graft_model_reinit_layers(a, 3, 7, 0, 1), GRAFT_E_RANGE,
                    "graft_model_reinit_layers(): layers 3 to 7: need 0 <= first <= last < 7 "
                    "(the layer count)");
    ck_assert_int_eq(graft_model_reinit_layers(a, 4, 3, 0, 1), GRAFT_E_RANGE);
    ck_assert_int_eq(graft_model_reinit_layers(a, -1, 3, 0, 1), GRAFT_E_RANGE);
    ck_assert_int_eq(graft_model_reinit_layers(a, 0, 3, 2, 1), GRAFT_E_INVALID_ARG);
    ck_assert_int_eq(graft_model_reinit_layers(NULL, 0, 3, 0, 1), GRAFT_E_INVALID_ARG);
    ck_assert_int_eq(graft_model_reinit(NULL, 1), GRAFT_E_INVALID_ARG);
    expect_layer(a, fresh, 0, 0);
    graft_model_free(a);
    graft_model_free(fresh);
    graft_dataset_free(ds);
    graft_ctx_free(ctx);
}
END_TEST

Suite *suite_reinit(void)
{
    Suite *s = suite_create("reinit");
    TCase *tc = tcase_create("reinit");
    tcase_add_test(tc, test_reinit_equals_fresh_model);
    tcase_add_test(tc, test_reinit_layers_range_and_trainable);
    tcase_set_timeout(tc, 120);
    suite_add_tcase(s, tc);
    return s;
}
