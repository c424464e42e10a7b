/*
 * check_clone.c - graft_model_clone() (src/model/clone.c), and the
 * executors concurrent predictions run on (src/model/model.c): a prediction
 * made while the model's own layers are taken (held here through
 * graftModelInferBegin(), as another thread's call would) runs on an
 * executor and gives the same bits, also after the model changes.
 */
#include "testutil.h"

#include "model/model.h"

#include <string.h>

#define N 5

/* conv -> bn -> relu -> max pool -> conv -> bn -> flatten -> dense (3), the
 * batch norms given statistics away from the defaults. */
static graft_model *make_net(graft_ctx *ctx)
{
    const int64_t dims[3] = {2, 8, 8};
    graft_model *m = NULL;
    graft_layer *l = NULL;
    ck_assert_int_eq(graft_model_create(ctx, 3, dims, 77, &m), GRAFT_OK);
    graft_conv2d_spec cs = GRAFT_CONV2D_SPEC_INIT;
    cs.out_channels = 4;
    cs.kernel_h = cs.kernel_w = 3;
    cs.pad_top = cs.pad_left = cs.pad_bottom = cs.pad_right = 1;
    graft_pool2d_spec ps = GRAFT_POOL2D_SPEC_INIT;
    ps.kernel_h = ps.kernel_w = ps.stride_h = ps.stride_w = 2;
    ck_assert_int_eq(graft_layer_conv2d(ctx, &cs, &l), GRAFT_OK);
    ck_assert_int_eq(graft_model_add(m, "c1", l, 0, NULL), GRAFT_OK);
    ck_assert_int_eq(graft_layer_batch_norm(ctx, 1e-5f, 0.1f, &l), GRAFT_OK);
    ck_assert_int_eq(graft_model_add(m, "bn1", l, 0, NULL), GRAFT_OK);
    ck_assert_int_eq(graft_layer_relu(ctx, &l), GRAFT_OK);
    ck_assert_int_eq(graft_model_add(m, "r1", l, 0, NULL), GRAFT_OK);
    ck_assert_int_eq(graft_layer_max_pool2d(ctx, &ps, &l), GRAFT_OK);
    ck_assert_int_eq(graft_model_add(m, "p1", l, 0, NULL), GRAFT_OK);
    ck_assert_int_eq(graft_layer_conv2d(ctx, &cs, &l), GRAFT_OK);
    ck_assert_int_eq(graft_model_add(m, "c2", l, 0, NULL), GRAFT_OK);
    ck_assert_int_eq(graft_layer_batch_norm(ctx, 1e-5f, 0.1f, &l), GRAFT_OK);
    ck_assert_int_eq(graft_model_add(m, "bn2", l, 0, NULL), GRAFT_OK);
    ck_assert_int_eq(graft_layer_flatten(ctx, &l), GRAFT_OK);
    ck_assert_int_eq(graft_model_add(m, "flat", l, 0, NULL), GRAFT_OK);
    ck_assert_int_eq(graft_layer_dense(ctx, 3, 1, &l), GRAFT_OK);
    ck_assert_int_eq(graft_model_add(m, "fc", l, 0, NULL), GRAFT_OK);
    const char *bns[2] = {"bn1", "bn2"};
    for (int b = 0; b < 2; b++) {
        graft_layer *bn = graft_model_layer(m, graft_model_find_layer(m, bns[b]));
        for (int p = 0; p < graft_layer_param_count(bn); p++) {
            graft_tensor *t = NULL;
            ck_assert_int_eq(graft_layer_param(bn, p, NULL, &t, NULL, NULL), GRAFT_OK);
            tu_fill_uniform(t, 10 + (uint64_t)(b * 4 + p), 0.5f, 1.5f);
        }
    }
    return m;
}

static graft_tensor *make_input(graft_ctx *ctx, uint64_t seed)
{
    graft_tensor *x = tu_tensor(ctx, 4, N, 2, 8, 8);
    tu_fill_uniform(x, seed, -1.0f, 1.0f);
    return x;
}

static graft_ctx *the_ctx; /* the test's context (one per test) */

/* graft_model_predict() of m on x into a new (N, 3) tensor. */
static graft_tensor *predict(graft_model *m, const graft_tensor *x)
{
    graft_tensor *p = tu_tensor(the_ctx, 2, N, 3);
    ck_assert_msg(graft_model_predict(m, x, p) == GRAFT_OK, "%s", graft_errmsg(the_ctx));
    return p;
}

static void assert_same_bits(const graft_tensor *a, const graft_tensor *b)
{
    ck_assert_uint_eq(graft_tensor_numel(a), graft_tensor_numel(b));
    ck_assert_uint_eq(tu_first_bit_difference(graft_tensor_data_const(a),
                                              graft_tensor_data_const(b), graft_tensor_numel(a)),
                      graft_tensor_numel(a));
}

static float *weight_of(graft_model *m, const char *layer)
{
    graft_tensor *w = NULL;
    graft_layer *l = graft_model_layer(m, graft_model_find_layer(m, layer));
    ck_assert_int_eq(graft_layer_param(l, 0, NULL, &w, NULL, NULL), GRAFT_OK);
    return graft_tensor_data(w);
}

START_TEST(test_clone_copy_predicts_the_same_and_is_independent)
{
    graft_ctx *ctx = the_ctx = tu_ctx();
    graft_model *m = make_net(ctx), *c = NULL;
    const char *names[3] = {"cat", "dog", "eel"};
    ck_assert_int_eq(graft_model_set_class_names(m, 3, names), GRAFT_OK);
    ck_assert_int_eq(graft_model_set_trainable_by_name(m, "c1", 0), GRAFT_OK);
    graft_tensor *x = make_input(ctx, 3), *want = predict(m, x);
    ck_assert_int_eq(graft_model_clone(m, 0, &c), GRAFT_OK);
    ck_assert_ptr_ne(c, m);
    ck_assert_int_eq(graft_model_layer_count(c), graft_model_layer_count(m));
    for (int i = 0; i < graft_model_layer_count(m); i++) {
        ck_assert_str_eq(graft_model_layer_name(c, i), graft_model_layer_name(m, i));
        ck_assert_int_eq(graft_model_layer_trainable(c, i), graft_model_layer_trainable(m, i));
    }
    ck_assert_str_eq(graft_model_class_name(c, 2), "eel");
    ck_assert_int_eq(graft_model_param_count(c, 1), graft_model_param_count(m, 1));
    graft_tensor *got = predict(c, x);
    assert_same_bits(got, want);
    /* Its weights are its own: changing them leaves the original's. */
    float *wc = weight_of(c, "fc"), *wm = weight_of(m, "fc");
    ck_assert_ptr_ne(wc, wm);
    float before = wm[0];
    wc[0] += 1.0f;
    ck_assert_float_eq(wm[0], before);
    graft_tensor *again = predict(m, x);
    assert_same_bits(again, want);
    /* Freed first, the original leaves the copy working. */
    graft_model_free(m);
    graft_tensor *after = predict(c, x);
    ck_assert_uint_lt(tu_first_bit_difference(graft_tensor_data_const(after),
                                              graft_tensor_data_const(want), 3 * N),
                      3 * N); /* the changed weight shows */
    graft_model_free(c);
    graft_tensor_free(x);
    graft_tensor_free(want);
    graft_tensor_free(got);
    graft_tensor_free(again);
    graft_tensor_free(after);
    graft_ctx_free(ctx);
}
END_TEST

START_TEST(test_clone_shared_reads_the_original_and_refuses_training)
{
    graft_ctx *ctx = the_ctx = tu_ctx();
    graft_model *m = make_net(ctx), *c = NULL, *cc = NULL;
    graft_tensor *x = make_input(ctx, 4), *want = predict(m, x);
    ck_assert_int_eq(graft_model_clone(m, GRAFT_CLONE_SHARE_WEIGHTS, &c), GRAFT_OK);
    ck_assert_ptr_eq(weight_of(c, "c1"), weight_of(m, "c1"));
    graft_tensor *got = predict(c, x);
    assert_same_bits(got, want);
    /* forward runs (inference); training does not */
    const graft_tensor *out = NULL;
    ck_assert_int_eq(graft_model_forward(c, x, &out), GRAFT_OK);
    float feats[4 * 2 * 8 * 8] = {0};
    int32_t labels[4] = {0, 1, 2, 0};
    const int64_t dims[3] = {2, 8, 8};
    graft_dataset *ds = NULL;
    ck_assert_int_eq(graft_dataset_from_memory(ctx, 4, 3, dims, feats, labels, 3, 1, &ds),
                     GRAFT_OK);
    graft_optim *o = tu_sgd(ctx, 0.1, 0.0);
    graft_fit_opts fo = GRAFT_FIT_OPTS_INIT;
    fo.epochs = 1;
    fo.batch_size = 2;
    ck_assert_int_eq(graft_model_fit(c, o, ds, NULL, &fo), GRAFT_E_STATE);
    ck_assert_ptr_nonnull(strstr(graft_errmsg(ctx), "GRAFT_CLONE_SHARE_WEIGHTS"));
    graft_tensor *untouched = predict(m, x);
    assert_same_bits(untouched, want);
    /* A weight changed in the original shows in the clone. */
    weight_of(m, "fc")[0] += 1.0f;
    graft_tensor *m2 = predict(m, x), *c2 = predict(c, x);
    assert_same_bits(c2, m2);
    ck_assert_uint_lt(tu_first_bit_difference(graft_tensor_data_const(c2),
                                              graft_tensor_data_const(want), 3 * N),
                      3 * N);
    /* The original keeps its layers while a clone reads them. */
    tu_expect_error(ctx, graft_model_replace_head(m, 5, NULL), GRAFT_E_STATE,
                    "graft_model_replace_head(): 1 clone made with GRAFT_CLONE_SHARE_WEIGHTS "
                    "reads this model's layers: free it first, or clone without sharing; "
                    "nothing was changed");
    ck_assert_int_eq(graft_model_cut(m, "c1"), GRAFT_E_STATE);
    ck_assert_int_eq(graft_model_class_count(m), 3);
    /* A clone of the clone reads the same tensors; any freeing order. */
    ck_assert_int_eq(graft_model_clone(c, GRAFT_CLONE_SHARE_WEIGHTS, &cc), GRAFT_OK);
    ck_assert_ptr_eq(weight_of(cc, "fc"), weight_of(m, "fc"));
    graft_model_free(m);
    graft_tensor *c3 = predict(c, x);
    assert_same_bits(c3, m2);
    graft_model_free(c);
    graft_tensor *cc3 = predict(cc, x);
    assert_same_bits(cc3, m2);
    graft_model_free(cc);
    graft_optim_free(o);
    graft_dataset_free(ds);
    graft_tensor *all[] = {x, want, got, untouched, m2, c2, c3, cc3};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) graft_tensor_free(all[i]);
    graft_ctx_free(ctx);
}
END_TEST

START_TEST(test_clone_rejects_bad_arguments)
{
    graft_ctx *ctx = the_ctx = tu_ctx();
    graft_model *m = make_net(ctx), *c = (graft_model *)1;
    ck_assert_int_eq(graft_model_clone(NULL, 0, &c), GRAFT_E_INVALID_ARG);
    ck_assert_ptr_null(c);
    ck_assert_int_eq(graft_model_clone(m, 0, NULL), GRAFT_E_INVALID_ARG);
    tu_expect_error(ctx, graft_model_clone(m, 6, &c), GRAFT_E_INVALID_ARG,
                    "graft_model_clone(): unknown flags 0x6 (GRAFT_CLONE_SHARE_WEIGHTS is the "
                    "only one)");
    ck_assert_ptr_null(c);
    graft_model_free(m);
    graft_ctx_free(ctx);
}
END_TEST

/* Every allocation of a clone may fail: each failure is GRAFT_E_NOMEM and
 * frees what was made (the counts balance). */
START_TEST(test_clone_out_of_memory)
{
    tu_alloc_counter counter = {0, 0, 0, 0};
    graft_ctx *ctx = tu_counting_ctx(&counter);
    graft_model *m = make_net(ctx);
    for (int share = 0; share < 2; share++) {
        for (long k = 1;; k++) {
            long allocs = counter.allocs, frees = counter.frees;
            graft_model *c = NULL;
            counter.fail_at = counter.allocs + k;
            int st = graft_model_clone(m, share ? GRAFT_CLONE_SHARE_WEIGHTS : 0, &c);
            counter.fail_at = 0;
            if (st == GRAFT_OK) {
                graft_model_free(c);
                ck_assert_int_eq(counter.allocs - allocs, counter.frees - frees);
                break;
            }
            ck_assert_int_eq(st, GRAFT_E_NOMEM);
            ck_assert_ptr_null(c);
            ck_assert_msg(strncmp(graft_errmsg(ctx), "graft_model_clone(): ", 21) == 0, "%s",
                          graft_errmsg(ctx));
            ck_assert_int_eq(counter.allocs - allocs, counter.frees - frees);
        }
    }
    graft_model_free(m);
    graft_ctx_free(ctx);
}
END_TEST

/* With the model's own layers taken, a prediction runs on an executor: the
 * same bits, and again after the weights change in place, after the graph
 * grows and after a layer is swapped for another. */
START_TEST(test_executor_predicts_the_same_bits)
{
    graft_ctx *ctx = the_ctx = tu_ctx();
    graft_model *m = make_net(ctx), *run = NULL;
    graft_tensor *x = make_input(ctx, 5), *want = predict(m, x);
    ck_assert_int_eq(graftModelInferBegin(m, "test", &run), GRAFT_OK);
    ck_assert_ptr_eq(run, m); /* the first takes the model itself */
    graft_tensor *got = predict(m, x); /* now on an executor */
    assert_same_bits(got, want);
    int32_t top_e[N], top_m[N];
    float p_e[N], p_m[N];
    ck_assert_int_eq(graft_model_predict_topk(m, x, 1, top_e, p_e), GRAFT_OK);
    graftModelInferEnd(m, run);
    ck_assert_int_eq(graft_model_predict_topk(m, x, 1, top_m, p_m), GRAFT_OK);
    ck_assert_mem_eq(top_e, top_m, sizeof top_e);
    ck_assert_mem_eq(p_e, p_m, sizeof p_e);

    /* weights changed in place: the executor reads them */
    weight_of(m, "c2")[3] -= 0.5f;
    graft_tensor *want2 = predict(m, x);
    ck_assert_int_eq(graftModelInferBegin(m, "test", &run), GRAFT_OK);
    graft_tensor *got2 = predict(m, x);
    graftModelInferEnd(m, run);
    assert_same_bits(got2, want2);

    /* a layer added: the executor remakes itself */
    graft_layer *l = NULL;
    ck_assert_int_eq(graft_layer_dense(ctx, 3, 1, &l), GRAFT_OK);
    ck_assert_int_eq(graft_model_add(m, "fc2", l, 0, NULL), GRAFT_OK);
    graft_tensor *want3 = predict(m, x);
    ck_assert_int_eq(graftModelInferBegin(m, "test", &run), GRAFT_OK);
    graft_tensor *got3 = predict(m, x);
    graftModelInferEnd(m, run);
    assert_same_bits(got3, want3);

    /* the last layer cut and another kind added in its place (its memory
     * may well be the freed one's): the executor remakes itself */
    ck_assert_int_eq(graft_layer_relu(ctx, &l), GRAFT_OK);
    ck_assert_int_eq(graft_model_add(m, "act", l, 0, NULL), GRAFT_OK);
    ck_assert_int_eq(graftModelInferBegin(m, "test", &run), GRAFT_OK);
    graft_tensor_free(predict(m, x)); /* the executor now has a relu */
    graftModelInferEnd(m, run);
    ck_assert_int_eq(graft_model_cut(m, "fc2"), GRAFT_OK);
    ck_assert_int_eq(graft_layer_sigmoid(ctx, &l), GRAFT_OK);
    ck_assert_int_eq(graft_model_add(m, "act", l, 0, NULL), GRAFT_OK);
    graft_tensor *want4 = predict(m, x);
    ck_assert_int_eq(graftModelInferBegin(m, "test", &run), GRAFT_OK);
    graft_tensor *got4 = predict(m, x);
    graftModelInferEnd(m, run);
    assert_same_bits(got4, want4);

    /* a shape error on an executor names the public function */
    graft_tensor *bad = tu_tensor(ctx, 4, 1, 2, 7, 8), *p = tu_tensor(ctx, 2, 1, 3);
    ck_assert_int_eq(graftModelInferBegin(m, "test", &run), GRAFT_OK);
    tu_expect_error(ctx, graft_model_predict(m, bad, p), GRAFT_E_SHAPE,
                    "graft_model_predict(): the input has shape (1, 2, 7, 8), the model takes "
                    "(1, 2, 8, 8) (batch first)");
    graftModelInferEnd(m, run);
    graft_model_free(m);
    graft_tensor *all[] = {x, want, got, want2, got2, want3, got3, want4, got4, bad, p};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) graft_tensor_free(all[i]);
    graft_ctx_free(ctx);
}
END_TEST

/* Each allocation of making an executor may fail: GRAFT_E_NOMEM named
 * graft_model_predict, and the next call makes it and gives the same bits;
 * all is freed with the model. */
START_TEST(test_executor_out_of_memory)
{
    tu_alloc_counter counter = {0, 0, 0, 0};
    graft_ctx *ctx = the_ctx = tu_counting_ctx(&counter);
    graft_model *m = make_net(ctx), *run = NULL;
    graft_tensor *x = make_input(ctx, 6), *want = predict(m, x);
    graft_tensor *p = tu_tensor(ctx, 2, N, 3);
    ck_assert_int_eq(graftModelInferBegin(m, "test", &run), GRAFT_OK);
    int failures = 0;
    for (long k = 1;; k++) {
        counter.fail_at = counter.allocs + k;
        int st = graft_model_predict(m, x, p);
        counter.fail_at = 0;
        if (st == GRAFT_OK) break;
        failures++;
        ck_assert_int_eq(st, GRAFT_E_NOMEM);
        ck_assert_msg(strncmp(graft_errmsg(ctx), "graft_model_predict(): ", 23) == 0, "%s",
                      graft_errmsg(ctx));
    }
    ck_assert_int_gt(failures, 3);
    assert_same_bits(p, want);
    graftModelInferEnd(m, run);
    graft_model_free(m);
    graft_tensor_free(x);
    graft_tensor_free(want);
    graft_tensor_free(p);
    graft_ctx_free(ctx);
    ck_assert_int_eq(counter.allocs, counter.frees); /* the context's own block too */
}
END_TEST

Suite *suite_clone(void)
{
    Suite *s = suite_create("clone");
    const tu_named_test tests[] = {
        {"copy", test_clone_copy_predicts_the_same_and_is_independent},
        {"shared", test_clone_shared_reads_the_original_and_refuses_training},
        {"arguments", test_clone_rejects_bad_arguments},
        {"out_of_memory", test_clone_out_of_memory},
        {"executor", test_executor_predicts_the_same_bits},
        {"executor_out_of_memory", test_executor_out_of_memory},
    };
    tu_add_tcases(s, tests, sizeof tests / sizeof tests[0], 30);
    return s;
}
