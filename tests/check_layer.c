/* check_layer.c - what all layer kinds share (src/layer.c): the registry,
 * building, the checks around forward and backward, parameter access,
 * serialisation of any layer, and allocation-free steady-state steps. */
#include "testutil.h"

#include <stdlib.h>
#include <string.h>

START_TEST(test_registry_names_unique_and_found)
{
    static const char *const names[] = {
        "conv2d", "max_pool2d", "avg_pool2d", "global_avg_pool", "dense", "batch_norm",
        "relu", "clip", "leaky_relu", "sigmoid", "tanh", "hard_swish", "dropout", "flatten",
        "add", "concat", "softmax", "mul", "hard_sigmoid", "pad2d", "reshape", "scale_shift"};
    ck_assert_int_eq((int)(sizeof names / sizeof names[0]), GRAFT_LAYER_KIND_COUNT);
    for (int i = 0; i < GRAFT_LAYER_KIND_COUNT; i++) {
        const graftLayerVtbl *v = graftLayerKindByName(names[i]);
        ck_assert_msg(v != NULL, "kind %s is not registered", names[i]);
        ck_assert_str_eq(v->kind, names[i]);
        ck_assert(v->infer_shape && v->forward && v->backward);
        ck_assert(v->min_inputs >= 1 && v->max_inputs >= v->min_inputs);
        ck_assert(v->max_inputs <= GRAFT_LAYER_MAX_INPUTS);
        ck_assert(v->version >= 1);
        ck_assert(!v->save == !v->load);
    }
    ck_assert_ptr_null(graftLayerKindByName("conv3d"));
    ck_assert_str_eq(graft_layer_kind(NULL), "");
}
END_TEST

START_TEST(test_forward_builds_lazily_and_batch_may_change)
{
    graft_ctx *ctx = tu_ctx();
    graft_layer *l = NULL;
    ck_assert_int_eq(graft_layer_dense(ctx, 3, 1, &l), GRAFT_OK);
    ck_assert_int_eq(graft_layer_param_count(l), 0);
    graft_tensor *x = tu_tensor(ctx, 2, 4, 5), *x2 = tu_tensor(ctx, 2, 9, 5);
    const graft_tensor *in[1] = {x}, *y = NULL, *dx[1];
    ck_assert_int_eq(graft_layer_forward(l, 1, in, &y), GRAFT_OK);
    ck_assert_int_eq(graft_layer_param_count(l), 2);
    ck_assert_int_eq(graft_tensor_dim(y, 0), 4);
    in[0] = x2;
    ck_assert_int_eq(graft_layer_forward(l, 1, in, &y), GRAFT_OK);
    ck_assert_int_eq(graft_tensor_dim(y, 0), 9);
    in[0] = x;
    ck_assert_int_eq(graft_layer_backward(l, 1, in, y, dx), GRAFT_E_STATE);
    ck_assert(strstr(graft_errmsg(ctx), "batch 4 but the last forward had 9") != NULL);
    graft_layer_free(l);
    graft_tensor_free(x);
    graft_tensor_free(x2);
    graft_ctx_free(ctx);
}
END_TEST

START_TEST(test_backward_without_input_grads_and_frozen_params)
{
    graft_ctx *ctx = tu_ctx();
    graft_layer *l = NULL;
    ck_assert_int_eq(graft_layer_dense(ctx, 2, 1, &l), GRAFT_OK);
    graft_tensor *x = tu_tensor(ctx, 2, 3, 4);
    tu_fill_uniform(x, 1, -1, 1);
    const graft_tensor *in[1] = {x}, *y = NULL, *g = NULL;
    ck_assert_int_eq(graft_layer_forward(l, 1, in, &y), GRAFT_OK);
    ck_assert_int_eq(graft_layer_backward(l, 1, in, y, NULL), GRAFT_OK);
    ck_assert_int_eq(graft_layer_param(l, 0, NULL, NULL, &g, NULL), GRAFT_OK);
    float first = graft_tensor_data_const(g)[0];
    ck_assert(first != 0.0f);
    /* With parameter gradients switched off they are left alone. */
    graftTensorResize((graft_tensor *)g, g->ndim, g->dims);
    ((graft_tensor *)g)->data[0] = 123.0f;
    l->need_param_grad = 0;
    const graft_tensor *dx[1] = {NULL};
    ck_assert_int_eq(graft_layer_backward(l, 1, in, y, dx), GRAFT_OK);
    ck_assert_float_eq(graft_tensor_data_const(g)[0], 123.0f);
    ck_assert_ptr_nonnull(dx[0]);
    graft_layer_free(l);
    graft_tensor_free(x);
    graft_ctx_free(ctx);
}
END_TEST

START_TEST(test_param_access)
{
    graft_ctx *ctx = tu_ctx();
    graft_layer *l = NULL;
    ck_assert_int_eq(graft_layer_dense(ctx, 2, 1, &l), GRAFT_OK);
    graft_tensor *x = tu_tensor(ctx, 2, 1, 3);
    const graft_tensor *in[1] = {x};
    ck_assert_int_eq(graft_layer_build(l, 1, in, 5), GRAFT_OK);
    const char *name = NULL;
    graft_tensor *v = NULL;
    const graft_tensor *g = NULL;
    int trainable = -1;
    ck_assert_int_eq(graft_layer_param(l, 1, &name, &v, &g, &trainable), GRAFT_OK);
    ck_assert_str_eq(name, "bias");
    ck_assert_int_eq(trainable, 1);
    ck_assert_int_eq(graft_tensor_dim(v, 0), 2);
    ck_assert_int_eq(graft_layer_param(l, 2, &name, &v, &g, &trainable), GRAFT_E_RANGE);
    ck_assert_str_eq(graft_errmsg(ctx), "graft_layer_param(): parameter index 2 out of range: "
                                        "the dense layer has 2");
    ck_assert_int_eq(graft_layer_param(l, -1, NULL, NULL, NULL, NULL), GRAFT_E_RANGE);
    ck_assert_int_eq(graft_layer_param(NULL, 0, NULL, NULL, NULL, NULL), GRAFT_E_INVALID_ARG);
    ck_assert_int_eq(graft_layer_param_count(NULL), 0);
    graft_layer_free(l);
    graft_tensor_free(x);
    graft_ctx_free(ctx);
}
END_TEST

START_TEST(test_build_and_mode_errors)
{
    graft_ctx *ctx = tu_ctx();
    graft_layer *l = NULL;
    ck_assert_int_eq(graft_layer_dense(ctx, 2, 1, &l), GRAFT_OK);
    graft_tensor *x = tu_tensor(ctx, 2, 1, 3);
    const graft_tensor *in[2] = {x, x};
    ck_assert_int_eq(graft_layer_build(l, 2, in, 0), GRAFT_E_INVALID_ARG);
    ck_assert_str_eq(graft_errmsg(ctx),
                     "graft_layer_build(): a dense layer takes 1 to 1 inputs, not 2");
    ck_assert_int_eq(graft_layer_build(l, 1, NULL, 0), GRAFT_E_INVALID_ARG);
    in[0] = NULL;
    ck_assert_int_eq(graft_layer_build(l, 1, in, 0), GRAFT_E_INVALID_ARG);
    ck_assert_str_eq(graft_errmsg(ctx), "graft_layer_build(): inputs[0] is NULL");
    ck_assert_int_eq(graft_layer_build(NULL, 1, in, 0), GRAFT_E_INVALID_ARG);
    graft_tensor *v1 = tu_tensor(ctx, 1, 3);
    in[0] = v1;
    ck_assert_int_eq(graft_layer_build(l, 1, in, 0), GRAFT_E_SHAPE);
    ck_assert_int_eq(graft_layer_set_training(l, 2), GRAFT_E_INVALID_ARG);
    ck_assert_int_eq(graft_layer_set_training(NULL, 1), GRAFT_E_INVALID_ARG);
    ck_assert_int_eq(graft_layer_set_training(l, 0), GRAFT_OK);
    graft_layer_free(l);
    graft_tensor_free(x);
    graft_tensor_free(v1);
    graft_ctx_free(ctx);
}
END_TEST

static void save_dense(graft_ctx *ctx, graftWriter *w)
{
    graft_layer *l = NULL;
    ck_assert_int_eq(graft_layer_dense(ctx, 3, 1, &l), GRAFT_OK);
    graft_tensor *x = tu_tensor(ctx, 2, 1, 4);
    const graft_tensor *in[1] = {x};
    ck_assert_int_eq(graft_layer_build(l, 1, in, 1), GRAFT_OK);
    graftWriterInit(w, ctx);
    ck_assert_int_eq(graftLayerSave(l, w), GRAFT_OK);
    graft_layer_free(l);
    graft_tensor_free(x);
}

START_TEST(test_load_rejects_unknown_kind_and_version)
{
    graft_ctx *ctx = tu_ctx();
    graftWriter w;
    save_dense(ctx, &w);
    graftReader r;
    graft_layer *l = NULL;
    /* kind name "dense" -> "dunse" */
    w.data[5] = 'u';
    graftReaderInit(&r, ctx, w.data, w.size);
    ck_assert_int_eq(graftLayerLoad(ctx, &r, &l), GRAFT_E_FORMAT);
    ck_assert_str_eq(graft_errmsg(ctx), "graft_load(): unknown layer kind \"dunse\"");
    w.data[5] = 'e';
    w.data[9] = 2; /* version 2 of dense does not exist yet */
    graftReaderInit(&r, ctx, w.data, w.size);
    ck_assert_int_eq(graftLayerLoad(ctx, &r, &l), GRAFT_E_VERSION);
    ck_assert_ptr_null(l);
    graftWriterDispose(&w);
    graft_ctx_free(ctx);
}
END_TEST

/* Every single-byte corruption is either harmless or refused; none crashes
 * or leaks (valgrind runs this too). */
START_TEST(test_load_survives_flipped_bytes)
{
    graft_ctx *ctx = tu_ctx();
    graftWriter w;
    save_dense(ctx, &w);
    int refused = 0;
    for (size_t i = 0; i < w.size; i++) {
        for (int bit = 0; bit < 8; bit += 3) {
            w.data[i] ^= (unsigned char)(1u << bit);
            graftReader r;
            graft_layer *l = NULL;
            graftReaderInit(&r, ctx, w.data, w.size);
            int st = graftLayerLoad(ctx, &r, &l);
            if (st != GRAFT_OK) {
                refused++;
                ck_assert_ptr_null(l);
                ck_assert(st == GRAFT_E_FORMAT || st == GRAFT_E_VERSION || st == GRAFT_E_NOMEM);
            }
            graft_layer_free(l);
            w.data[i] ^= (unsigned char)(1u << bit);
        }
    }
    ck_assert(refused > 0);
    graftWriterDispose(&w);
    graft_ctx_free(ctx);
}
END_TEST

/* One layer of every kind with inputs that fit it. */
static graft_layer *make_kind(graft_ctx *ctx, int kind, int *n_inputs)
{
    graft_layer *l = NULL;
    graft_conv2d_spec conv = GRAFT_CONV2D_SPEC_INIT;
    graft_pool2d_spec pool = GRAFT_POOL2D_SPEC_INIT;
    conv.out_channels = 4;
    conv.kernel_h = conv.kernel_w = 3;
    conv.pad_top = conv.pad_left = conv.pad_bottom = conv.pad_right = 1;
    pool.kernel_h = pool.kernel_w = pool.stride_h = pool.stride_w = 2;
    *n_inputs = 1;
    int st;
    switch (kind) {
    case GRAFT_KIND_CONV2D: st = graft_layer_conv2d(ctx, &conv, &l); break;
    case GRAFT_KIND_MAX_POOL2D: st = graft_layer_max_pool2d(ctx, &pool, &l); break;
    case GRAFT_KIND_AVG_POOL2D: st = graft_layer_avg_pool2d(ctx, &pool, &l); break;
    case GRAFT_KIND_GLOBAL_AVG_POOL: st = graft_layer_global_avg_pool(ctx, &l); break;
    case GRAFT_KIND_DENSE: st = graft_layer_dense(ctx, 5, 1, &l); break;
    case GRAFT_KIND_BATCH_NORM: st = graft_layer_batch_norm(ctx, 1e-5f, 0.1f, &l); break;
    case GRAFT_KIND_RELU: st = graft_layer_relu(ctx, &l); break;
    case GRAFT_KIND_CLIP: st = graft_layer_clip(ctx, 0, 6, &l); break;
    case GRAFT_KIND_LEAKY_RELU: st = graft_layer_leaky_relu(ctx, 0.1f, &l); break;
    case GRAFT_KIND_SIGMOID: st = graft_layer_sigmoid(ctx, &l); break;
    case GRAFT_KIND_TANH: st = graft_layer_tanh(ctx, &l); break;
    case GRAFT_KIND_HARD_SWISH: st = graft_layer_hard_swish(ctx, &l); break;
    case GRAFT_KIND_DROPOUT: st = graft_layer_dropout(ctx, 0.5f, 3, &l); break;
    case GRAFT_KIND_FLATTEN: st = graft_layer_flatten(ctx, &l); break;
    case GRAFT_KIND_ADD: st = graft_layer_add(ctx, &l); *n_inputs = 2; break;
    case GRAFT_KIND_CONCAT: st = graft_layer_concat(ctx, &l); *n_inputs = 3; break;
    case GRAFT_KIND_SOFTMAX: st = graft_layer_softmax(ctx, &l); break;
    case GRAFT_KIND_MUL: st = graft_layer_mul(ctx, &l); *n_inputs = 2; break;
    case GRAFT_KIND_HARD_SIGMOID: st = graft_layer_hard_sigmoid(ctx, 0.2f, 0.5f, &l); break;
    case GRAFT_KIND_PAD2D: {
        graft_pad2d_spec pad = GRAFT_PAD2D_SPEC_INIT;
        pad.pad_top = pad.pad_right = 1;
        pad.mode = GRAFT_PAD_REFLECT;
        st = graft_layer_pad2d(ctx, &pad, &l);
        break;
    }
    case GRAFT_KIND_RESHAPE: {
        const int64_t dims[2] = {18, 6};
        st = graft_layer_reshape(ctx, 2, dims, &l);
        break;
    }
    case GRAFT_KIND_SCALE_SHIFT: {
        const int64_t dims[3] = {3, 1, 6};
        st = graft_layer_scale_shift(ctx, 3, dims, &l);
        break;
    }
    default: st = GRAFT_E_INTERNAL;
    }
    ck_assert_msg(st == GRAFT_OK, "kind %d: %s", kind, graft_errmsg(ctx));
    return l;
}

/* After the first step at a batch size, forward and backward of every kind
 * allocate nothing: the hot loop of training is allocation-free. */
START_TEST(test_steady_state_steps_do_not_allocate)
{
    for (int kind = 0; kind < GRAFT_LAYER_KIND_COUNT; kind++) {
        tu_alloc_counter c = {0, 0, 0, 0};
        graft_allocator a = GRAFT_ALLOCATOR_INIT;
        a.alloc = tu_counting_alloc;
        a.free = tu_counting_free;
        a.opaque = &c;
        graft_ctx *ctx = NULL;
        ck_assert_int_eq(graft_ctx_create_advanced(&a, &ctx), GRAFT_OK);
        int n = 1;
        graft_layer *l = make_kind(ctx, kind, &n);
        graft_tensor *x[3];
        for (int i = 0; i < n; i++) {
            x[i] = tu_tensor(ctx, 4, 8, 3, 6, 6);
            tu_fill_uniform(x[i], (uint64_t)(kind * 3 + i), -2, 2);
        }
        const graft_tensor *in[3] = {x[0], n > 1 ? x[1] : NULL, n > 2 ? x[2] : NULL};
        const graft_tensor *y = NULL, *dx[3];
        for (int round = 0; round < 3; round++) {
            long before = c.allocs;
            ck_assert_int_eq(graft_layer_forward(l, n, in, &y), GRAFT_OK);
            ck_assert_int_eq(graft_layer_backward(l, n, in, y, dx), GRAFT_OK);
            if (round > 0)
                ck_assert_msg(c.allocs == before, "%s: step %d allocated %ld blocks",
                              graft_layer_kind(l), round + 1, c.allocs - before);
        }
        /* Inference mode and backward without input gradients work too. */
        ck_assert_int_eq(graft_layer_set_training(l, 0), GRAFT_OK);
        ck_assert_int_eq(graft_layer_forward(l, n, in, &y), GRAFT_OK);
        ck_assert_int_eq(graft_layer_backward(l, n, in, y, NULL), GRAFT_OK);
        graft_layer_free(l);
        for (int i = 0; i < n; i++) graft_tensor_free(x[i]);
        graft_ctx_free(ctx);
        ck_assert_int_eq(c.allocs, c.frees);
    }
}
END_TEST

Suite *suite_layer(void)
{
    Suite *s = suite_create("layer");
    TCase *tc = tcase_create("registry");
    tcase_add_test(tc, test_registry_names_unique_and_found);
    suite_add_tcase(s, tc);
    tc = tcase_create("calls");
    tcase_add_test(tc, test_forward_builds_lazily_and_batch_may_change);
    tcase_add_test(tc, test_backward_without_input_grads_and_frozen_params);
    tcase_add_test(tc, test_param_access);
    tcase_add_test(tc, test_build_and_mode_errors);
    tcase_add_test(tc, test_steady_state_steps_do_not_allocate);
    suite_add_tcase(s, tc);
    tc = tcase_create("serialisation");
    tcase_add_test(tc, test_load_rejects_unknown_kind_and_version);
    tcase_add_test(tc, test_load_survives_flipped_bytes);
    tcase_set_timeout(tc, 60);
    suite_add_tcase(s, tc);
    return s;
}
