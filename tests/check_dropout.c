/* check_dropout.c - the inverted dropout layer. */
#include "testutil.h"

#include <math.h>
#include <string.h>

/* The generator restart every training step goes through. */
static void reseed_dropout(graft_layer *l, uint64_t seed) { l->vtbl->reseed(l, seed); }

static graft_layer *built_dropout(graft_ctx *ctx, float rate, uint64_t seed, graft_tensor *x)
{
    graft_layer *l = NULL;
    ck_assert_msg(graft_layer_dropout(ctx, rate, seed, &l) == GRAFT_OK, "%s", graft_errmsg(ctx));
    const graft_tensor *in[1] = {x};
    ck_assert_msg(graft_layer_build(l, 1, in, 0) == GRAFT_OK, "%s", graft_errmsg(ctx));
    return l;
}

static const graft_tensor *forward(graft_layer *l, graft_tensor *x)
{
    const graft_tensor *in[1] = {x}, *y = NULL;
    ck_assert_msg(graft_layer_forward(l, 1, in, &y) == GRAFT_OK, "%s", graft_errmsg(l->ctx));
    return y;
}

START_TEST(test_dropout_training_rate_and_scale)
{
    graft_ctx *ctx = tu_ctx();
    /* 100000 elements: the zero fraction has standard deviation
     * sqrt(p (1 - p) / n) ~ 0.0015, so +-0.01 is over 6 deviations. */
    graft_tensor *x = tu_tensor(ctx, 4, 100, 10, 10, 10);
    tu_fill_uniform(x, 1, 0.5f, 1.5f); /* no zeros of its own */
    const float rates[] = {0.1f, 0.3f, 0.5f, 0.9f};
    for (int r = 0; r < 4; r++) {
        float rate = rates[r], scale = 1.0f / (1.0f - rate);
        graft_layer *l = built_dropout(ctx, rate, 1234, x);
        ck_assert_str_eq(graft_layer_kind(l), "dropout");
        ck_assert_int_eq(graft_layer_param_count(l), 0);
        const graft_tensor *y = forward(l, x);
        const float *xp = graft_tensor_data(x), *yp = graft_tensor_data_const(y);
        size_t n = graft_tensor_numel(x), zeros = 0;
        for (size_t i = 0; i < n; i++) {
            if (yp[i] == 0.0f) zeros++;
            else ck_assert_msg(yp[i] == xp[i] * scale, "element %zu: %.9g is not %.9g * %.9g", i,
                               yp[i], xp[i], scale);
        }
        double frac = (double)zeros / (double)n;
        ck_assert_msg(fabs(frac - rate) < 0.01, "rate %g: %.4f of the elements are zero", rate,
                      frac);
        graft_layer_free(l);
    }
    graft_tensor_free(x);
    graft_ctx_free(ctx);
}
END_TEST

START_TEST(test_dropout_seed_repeatable)
{
    graft_ctx *ctx = tu_ctx();
    graft_tensor *x = tu_tensor(ctx, 2, 20, 50);
    tu_fill_uniform(x, 2, 0.5f, 1.5f);
    size_t n = graft_tensor_numel(x);
    graft_layer *a = built_dropout(ctx, 0.5f, 42, x), *b = built_dropout(ctx, 0.5f, 42, x),
                *c = built_dropout(ctx, 0.5f, 43, x);
    const graft_tensor *ya = forward(a, x), *yb = forward(b, x), *yc = forward(c, x);
    ck_assert(memcmp(graft_tensor_data_const(ya), graft_tensor_data_const(yb), n * 4) == 0);
    ck_assert(memcmp(graft_tensor_data_const(ya), graft_tensor_data_const(yc), n * 4) != 0);

    /* The generator advances: the next step draws a different mask, the same
     * one for the two layers of the same seed. */
    float first[1000];
    memcpy(first, graft_tensor_data_const(ya), sizeof first);
    ya = forward(a, x);
    yb = forward(b, x);
    ck_assert(memcmp(first, graft_tensor_data_const(ya), sizeof first) != 0);
    ck_assert(memcmp(graft_tensor_data_const(ya), graft_tensor_data_const(yb), n * 4) == 0);

    /* Reseeding restarts the sequence. */
    reseed_dropout(a, 42);
    ya = forward(a, x);
    ck_assert(memcmp(first, graft_tensor_data_const(ya), sizeof first) == 0);
    graft_layer_free(a);
    graft_layer_free(b);
    graft_layer_free(c);
    graft_tensor_free(x);
    graft_ctx_free(ctx);
}
END_TEST

START_TEST(test_dropout_identity_cases)
{
    graft_ctx *ctx = tu_ctx();
    graft_tensor *x = tu_tensor(ctx, 3, 4, 5, 6), *dy = tu_tensor(ctx, 3, 4, 5, 6);
    tu_fill_uniform(x, 3, -2, 2);
    tu_fill_uniform(dy, 4, -2, 2);
    size_t n = graft_tensor_numel(x);
    const graft_tensor *in[1] = {x}, *din[1] = {NULL};

    /* Inference mode: y = x, dx = dy, bit for bit. */
    graft_layer *l = built_dropout(ctx, 0.5f, 7, x);
    ck_assert_int_eq(graft_layer_set_training(l, 0), GRAFT_OK);
    const graft_tensor *y = forward(l, x);
    ck_assert(memcmp(graft_tensor_data_const(y), graft_tensor_data(x), n * 4) == 0);
    ck_assert_int_eq(graft_layer_backward(l, 1, in, dy, din), GRAFT_OK);
    ck_assert(memcmp(graft_tensor_data_const(din[0]), graft_tensor_data(dy), n * 4) == 0);
    /* Back in training mode the mask applies again. */
    ck_assert_int_eq(graft_layer_set_training(l, 1), GRAFT_OK);
    y = forward(l, x);
    ck_assert(memcmp(graft_tensor_data_const(y), graft_tensor_data(x), n * 4) != 0);
    graft_layer_free(l);

    /* Rate 0 in training mode is the identity too. */
    l = built_dropout(ctx, 0.0f, 7, x);
    y = forward(l, x);
    ck_assert(memcmp(graft_tensor_data_const(y), graft_tensor_data(x), n * 4) == 0);
    ck_assert_int_eq(graft_layer_backward(l, 1, in, dy, din), GRAFT_OK);
    ck_assert(memcmp(graft_tensor_data_const(din[0]), graft_tensor_data(dy), n * 4) == 0);
    graft_layer_free(l);
    graft_tensor_free(x);
    graft_tensor_free(dy);
    graft_ctx_free(ctx);
}
END_TEST

/* Checks dx == dy * (kept ? scale : 0) exactly, with kept read off y. */
static void check_backward_uses_mask(graft_layer *l, graft_tensor *x, float scale, uint64_t seed)
{
    graft_tensor *dy = NULL;
    ck_assert_int_eq(graft_tensor_create(l->ctx, x->ndim, x->dims, &dy), GRAFT_OK);
    tu_fill_uniform(dy, seed, 0.5f, 1.5f);
    const graft_tensor *in[1] = {x}, *din[1] = {NULL};
    const graft_tensor *y = forward(l, x);
    ck_assert_int_eq(graft_layer_backward(l, 1, in, dy, din), GRAFT_OK);
    size_t n = graft_tensor_numel(x), kept = 0;
    const float *yp = graft_tensor_data_const(y), *g = graft_tensor_data(dy);
    const float *dx = graft_tensor_data_const(din[0]);
    for (size_t i = 0; i < n; i++) {
        float want = yp[i] != 0.0f ? g[i] * scale : 0.0f;
        kept += yp[i] != 0.0f;
        ck_assert_msg(dx[i] == want, "element %zu: dx %.9g, expected %.9g", i, dx[i], want);
    }
    ck_assert(kept > 0 && kept < n);
    graft_tensor_free(dy);
}

START_TEST(test_dropout_backward_uses_mask)
{
    graft_ctx *ctx = tu_ctx();
    graft_tensor *x = tu_tensor(ctx, 2, 3, 40), *big = tu_tensor(ctx, 2, 9, 40);
    tu_fill_uniform(x, 5, 0.5f, 1.5f);
    tu_fill_uniform(big, 6, 0.5f, 1.5f);
    const float scale = 1.0f / (1.0f - 0.25f);
    graft_layer *l = built_dropout(ctx, 0.25f, 99, x);
    /* Batches 3, 9 (the mask grows), then 3 again (it does not shrink). */
    check_backward_uses_mask(l, x, scale, 10);
    check_backward_uses_mask(l, big, scale, 11);
    check_backward_uses_mask(l, x, scale, 12);
    /* Without input gradients, backward succeeds and computes nothing. */
    graft_tensor *dy = tu_tensor(ctx, 2, 3, 40);
    const graft_tensor *in[1] = {x};
    forward(l, x);
    ck_assert_int_eq(graft_layer_backward(l, 1, in, dy, NULL), GRAFT_OK);
    graft_tensor_free(dy);
    graft_layer_free(l);
    graft_tensor_free(x);
    graft_tensor_free(big);
    graft_ctx_free(ctx);
}
END_TEST

static void reseed_hook(graft_layer *l, void *arg)
{
    reseed_dropout(l, *(const uint64_t *)arg);
}

START_TEST(test_dropout_gradcheck)
{
    graft_ctx *ctx = tu_ctx();
    graft_tensor *x = tu_tensor(ctx, 4, 2, 3, 4, 4);
    tu_fill_uniform(x, 7, -1, 1);
    graft_layer *l = built_dropout(ctx, 0.4f, 5, x);
    uint64_t seed = 77;
    tu_gradcheck_opts o = {0, 0, 0, reseed_hook, &seed, 0, 0};
    ck_assert_uint_eq(tu_gradcheck(l, 1, &x, &o), 96);
    graft_layer_free(l);
    graft_tensor_free(x);
    graft_ctx_free(ctx);
}
END_TEST

START_TEST(test_dropout_roundtrip)
{
    graft_ctx *ctx = tu_ctx();
    graft_tensor *x = tu_tensor(ctx, 2, 6, 30);
    tu_fill_uniform(x, 8, 0.5f, 1.5f);
    graft_layer *l = built_dropout(ctx, 0.3f, 0x123456789ABCDEFull, x);
    tu_check_roundtrip(l, 1, &x);
    graft_layer_free(l);

    /* Rate and the whole 64-bit seed come back: a fresh layer and its loaded
     * copy draw the same training mask. */
    graft_layer *fresh = built_dropout(ctx, 0.3f, 0xFEDCBA9876543210ull, x);
    graftWriter w;
    graftWriterInit(&w, ctx);
    ck_assert_int_eq(graftLayerSave(fresh, &w), GRAFT_OK);
    graftReader r;
    graftReaderInit(&r, ctx, w.data, w.size);
    graft_layer *copy = NULL;
    ck_assert_int_eq(graftLayerLoad(ctx, &r, &copy), GRAFT_OK);
    ck_assert_str_eq(graft_layer_kind(copy), "dropout");
    size_t n = graft_tensor_numel(x);
    float a[180];
    memcpy(a, graft_tensor_data_const(forward(fresh, x)), sizeof a);
    const float *b = graft_tensor_data_const(forward(copy, x));
    ck_assert(memcmp(a, b, n * 4) == 0);
    /* ... and a different seed would not. */
    graft_layer *other = built_dropout(ctx, 0.3f, 0xFEDCBA9876543211ull, x);
    ck_assert(memcmp(a, graft_tensor_data_const(forward(other, x)), n * 4) != 0);
    graft_layer_free(other);
    graft_layer_free(copy);
    graftWriterDispose(&w);
    graft_layer_free(fresh);
    graft_tensor_free(x);
    graft_ctx_free(ctx);
}
END_TEST

/* Saves an unbuilt dropout layer, replaces its rate (offset 4 + 7 + 4 = 15:
 * kind length, "dropout", version) with v and loads it. */
static int load_with_rate(graft_ctx *ctx, float v)
{
    graft_layer *l = NULL, *copy = (graft_layer *)1;
    ck_assert_int_eq(graft_layer_dropout(ctx, 0.5f, 1, &l), GRAFT_OK);
    graftWriter w;
    graftWriterInit(&w, ctx);
    ck_assert_int_eq(graftLayerSave(l, &w), GRAFT_OK);
    ck_assert_uint_ge(w.size, 19);
    memcpy(w.data + 15, &v, 4); /* little-endian hosts, as the format */
    graftReader r;
    graftReaderInit(&r, ctx, w.data, w.size);
    int st = graftLayerLoad(ctx, &r, &copy);
    if (st != GRAFT_OK) ck_assert_ptr_null(copy);
    graft_layer_free(copy);
    graftWriterDispose(&w);
    graft_layer_free(l);
    return st;
}

START_TEST(test_dropout_errors)
{
    graft_ctx *ctx = tu_ctx();
    graft_layer *l = (graft_layer *)1;
    ck_assert_int_eq(graft_layer_dropout(ctx, -0.1f, 1, &l), GRAFT_E_INVALID_ARG);
    ck_assert_ptr_null(l);
    ck_assert_str_eq(graft_errmsg(ctx), "graft_layer_dropout(): rate is -0.1, must be in [0, 1)");
    ck_assert_int_eq(graft_layer_dropout(ctx, 1.0f, 1, &l), GRAFT_E_INVALID_ARG);
    ck_assert_str_eq(graft_errmsg(ctx), "graft_layer_dropout(): rate is 1, must be in [0, 1)");
    ck_assert_int_eq(graft_layer_dropout(ctx, NAN, 1, &l), GRAFT_E_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(graft_errmsg(ctx), "rate is nan"));
    ck_assert_int_eq(graft_layer_dropout(ctx, INFINITY, 1, &l), GRAFT_E_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(graft_errmsg(ctx), "rate is inf"));
    ck_assert_int_eq(graft_layer_dropout(NULL, 0.5f, 1, &l), GRAFT_E_INVALID_ARG);
    ck_assert_str_eq(graft_errmsg(NULL), "graft_layer_dropout(): ctx is NULL");
    ck_assert_int_eq(graft_layer_dropout(ctx, 0.5f, 1, NULL), GRAFT_E_INVALID_ARG);
    ck_assert_str_eq(graft_errmsg(ctx), "graft_layer_dropout(): out is NULL");

    /* Shapes must match the build; backward needs a forward. */
    graft_tensor *x = tu_tensor(ctx, 2, 2, 5), *bad = tu_tensor(ctx, 2, 2, 6);
    l = built_dropout(ctx, 0.5f, 1, x);
    const graft_tensor *in[1] = {x}, *y = NULL, *din[1];
    ck_assert_int_eq(graft_layer_backward(l, 1, in, x, din), GRAFT_E_STATE);
    in[0] = bad;
    ck_assert_int_eq(graft_layer_forward(l, 1, in, &y), GRAFT_E_SHAPE);
    ck_assert_str_eq(graft_errmsg(ctx),
                     "graft_layer_forward(): dropout layer: inputs[0] has shape (2, 6), expected (2, 5)");
    graft_layer_free(l);

    /* A saved rate out of range. */
    ck_assert_int_eq(load_with_rate(ctx, 0.25f), GRAFT_OK);
    ck_assert_int_eq(load_with_rate(ctx, 1.0f), GRAFT_E_FORMAT);
    ck_assert_str_eq(graft_errmsg(ctx), "graft_load(): rate is 1, must be in [0, 1)");
    ck_assert_int_eq(load_with_rate(ctx, -0.5f), GRAFT_E_FORMAT);
    ck_assert_int_eq(load_with_rate(ctx, NAN), GRAFT_E_FORMAT);
    graft_tensor_free(x);
    graft_tensor_free(bad);
    graft_ctx_free(ctx);
}
END_TEST

Suite *suite_dropout(void)
{
    Suite *s = suite_create("dropout");
    TCase *tc = tcase_create("forward");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_dropout_training_rate_and_scale);
    tcase_add_test(tc, test_dropout_seed_repeatable);
    tcase_add_test(tc, test_dropout_identity_cases);
    suite_add_tcase(s, tc);
    tc = tcase_create("gradients");
    tcase_add_test(tc, test_dropout_backward_uses_mask);
    tcase_add_test(tc, test_dropout_gradcheck);
    suite_add_tcase(s, tc);
    tc = tcase_create("serialisation");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_dropout_roundtrip);
    suite_add_tcase(s, tc);
    tc = tcase_create("errors");
    tcase_add_test(tc, test_dropout_errors);
    suite_add_tcase(s, tc);
    return s;
}
