/* check_model.c - models as layer graphs (src/model/model.c): building with
 * shape checks, inspection, the summary, backward through a graph with
 * branches against finite differences, and the fused conv2d -> batch_norm
 * [-> relu | clip] inference forward. */
#include "testutil.h"

#include "model/model.h"

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static graft_model *new_model(graft_ctx *ctx, int c, int h, int w)
{
    int64_t dims[3] = {c, h, w};
    graft_model *m = NULL;
    ck_assert_int_eq(graft_model_create(ctx, 3, dims, 11, &m), GRAFT_OK);
    return m;
}

static graft_layer *conv(graft_ctx *ctx, int out, int k, int pad)
{
    graft_conv2d_spec s = GRAFT_CONV2D_SPEC_INIT;
    graft_layer *l = NULL;
    s.out_channels = out;
    s.kernel_h = s.kernel_w = k;
    s.pad_top = s.pad_left = s.pad_bottom = s.pad_right = pad;
    ck_assert_int_eq(graft_layer_conv2d(ctx, &s, &l), GRAFT_OK);
    return l;
}

static graft_layer *relu(graft_ctx *ctx)
{
    graft_layer *l = NULL;
    ck_assert_int_eq(graft_layer_relu(ctx, &l), GRAFT_OK);
    return l;
}

static graft_layer *dense(graft_ctx *ctx, int units)
{
    graft_layer *l = NULL;
    ck_assert_int_eq(graft_layer_dense(ctx, units, 1, &l), GRAFT_OK);
    return l;
}

#define ADD(m, name, layer, n, ...)                                                     \
    do {                                                                                \
        const char *ins_[] = {__VA_ARGS__};                                             \
        int st_ = graft_model_add((m), (name), (layer), (n), (n) ? ins_ : NULL);        \
        ck_assert_msg(st_ == GRAFT_OK, "%s", graft_errmsg(NULL));                       \
    } while (0)

/* A residual block and a concat: input -> c1 -> r1 -> c2 -> add(r1, c2) ->
 * concat(add, r1) -> gap -> flatten -> fc. */
static graft_model *branchy(graft_ctx *ctx)
{
    graft_model *m = new_model(ctx, 2, 5, 5);
    graft_layer *l;
    ADD(m, "c1", conv(ctx, 3, 3, 1), 0, NULL);
    ADD(m, "r1", relu(ctx), 0, NULL);
    ADD(m, "c2", conv(ctx, 3, 3, 1), 0, NULL);
    ck_assert_int_eq(graft_layer_add(ctx, &l), GRAFT_OK);
    ADD(m, "sum", l, 2, "r1", "c2");
    ck_assert_int_eq(graft_layer_concat(ctx, &l), GRAFT_OK);
    ADD(m, "cat", l, 2, "sum", "r1");
    ck_assert_int_eq(graft_layer_global_avg_pool(ctx, &l), GRAFT_OK);
    ADD(m, "gap", l, 0, NULL);
    ck_assert_int_eq(graft_layer_flatten(ctx, &l), GRAFT_OK);
    ADD(m, "flat", l, 0, NULL);
    ADD(m, "fc", dense(ctx, 4), 0, NULL);
    return m;
}

START_TEST(test_build_and_inspect)
{
    graft_ctx *ctx = tu_ctx();
    graft_model *m = branchy(ctx);
    ck_assert_int_eq(graft_model_layer_count(m), 8);
    ck_assert_int_eq(graft_model_find_layer(m, "sum"), 3);
    ck_assert_int_eq(graft_model_find_layer(m, "nope"), GRAFT_E_NOT_FOUND);
    ck_assert_str_eq(graft_model_layer_name(m, 4), "cat");
    ck_assert_str_eq(graft_layer_kind(graft_model_layer(m, 4)), "concat");
    ck_assert_int_eq(graft_model_layer_input_count(m, 3), 2);
    ck_assert_str_eq(graft_model_layer_input_name(m, 3, 0), "r1");
    ck_assert_str_eq(graft_model_layer_input_name(m, 3, 1), "c2");
    ck_assert_str_eq(graft_model_layer_input_name(m, 0, 0), GRAFT_MODEL_INPUT);
    ck_assert_ptr_null(graft_model_layer_input_name(m, 3, 2));
    int nd;
    int64_t d[GRAFT_MAX_DIMS];
    ck_assert_int_eq(graft_model_layer_output_shape(m, 4, &nd, d), GRAFT_OK);
    ck_assert_int_eq(nd, 3);
    ck_assert(d[0] == 6 && d[1] == 5 && d[2] == 5);
    ck_assert_int_eq(graft_model_layer_output_shape(m, -1, &nd, d), GRAFT_OK);
    ck_assert(nd == 3 && d[0] == 2);
    ck_assert_int_eq(graft_model_layer_output_shape(m, 8, &nd, d), GRAFT_E_RANGE);
    /* c1: 3*2*9 + 3 = 57; c2: 3*3*9 + 3 = 84; fc: 4*6 + 4 = 28 */
    ck_assert_int_eq(graft_model_layer_param_count(m, 0), 57);
    ck_assert_int_eq(graft_model_layer_param_count(m, 2), 84);
    ck_assert_int_eq(graft_model_layer_param_count(m, 7), 28);
    ck_assert_int_eq(graft_model_param_count(m, 0), 57 + 84 + 28);
    ck_assert_int_eq(graft_model_layer_trainable(m, 0), 1);
    ck_assert_int_eq(graft_model_class_count(m), 4);
    /* FLOPs per sample: c1 (2*2*9+1)*3*25 = 2775; r1 75; c2 (2*3*9+1)*3*25 = 4125;
       sum 75; cat 150; gap 150; flat 6; fc 4*(2*6+1) = 52 */
    ck_assert_int_eq(graft_model_flops(m), 2775 + 75 + 4125 + 75 + 150 + 150 + 6 + 52);
    graft_model_free(m);
    graft_ctx_free(ctx);
}
END_TEST

START_TEST(test_summary)
{
    graft_ctx *ctx = tu_ctx();
    graft_model *m = branchy(ctx);
    size_t need = 0;
    ck_assert_int_eq(graft_model_summary(m, NULL, 0, &need), GRAFT_OK);
    ck_assert(need > 200);
    char *buf = malloc(need + 1);
    size_t again = 0;
    ck_assert_int_eq(graft_model_summary(m, buf, need + 1, &again), GRAFT_OK);
    ck_assert_uint_eq(again, need);
    ck_assert_uint_eq(strlen(buf), need);
    ck_assert_ptr_nonnull(strstr(buf, "sum (add)"));
    ck_assert_ptr_nonnull(strstr(buf, "r1,c2"));
    ck_assert_ptr_nonnull(strstr(buf, "(6, 5, 5)"));
    ck_assert_ptr_nonnull(strstr(buf, "Total params: 169 (trainable: 169, frozen: 0)"));
    /* a short buffer is cut and terminated */
    char small[16];
    ck_assert_int_eq(graft_model_summary(m, small, sizeof small, NULL), GRAFT_OK);
    ck_assert_uint_eq(strlen(small), 15);
    ck_assert_int_eq(graft_model_summary(m, NULL, 4, NULL), GRAFT_E_INVALID_ARG);
    free(buf);
    graft_model_free(m);
    graft_ctx_free(ctx);
}
END_TEST

START_TEST(test_add_errors_name_the_layer)
{
    graft_ctx *ctx = tu_ctx();
    graft_model *m = new_model(ctx, 1, 4, 4);
    ADD(m, "c1", conv(ctx, 2, 3, 1), 0, NULL);
    /* a dense layer on 4-D input flattens; a conv kernel larger than the image fails */
    ck_assert_int_eq(graft_model_add(m, "big", conv(ctx, 2, 7, 0), 0, NULL), GRAFT_E_SHAPE);
    ck_assert_ptr_nonnull(strstr(graft_errmsg(ctx), "graft_model_add(): layer \"big\" (conv2d): "));
    ck_assert_int_eq(graft_model_add(m, "c1", relu(ctx), 0, NULL), GRAFT_E_INVALID_ARG);
    ck_assert_str_eq(graft_errmsg(ctx), "graft_model_add(): a layer named \"c1\" already exists");
    ck_assert_int_eq(graft_model_add(m, "bad name", relu(ctx), 0, NULL), GRAFT_E_INVALID_ARG);
    ck_assert_int_eq(graft_model_add(m, "input", relu(ctx), 0, NULL), GRAFT_E_INVALID_ARG);
    const char *ins[] = {"c9"};
    ck_assert_int_eq(graft_model_add(m, "r", relu(ctx), 1, ins), GRAFT_E_NOT_FOUND);
    ck_assert_str_eq(graft_errmsg(ctx),
                     "graft_model_add(): layer \"r\": input \"c9\" is not an earlier layer");
    ck_assert_int_eq(graft_model_add(m, "r", NULL, 0, NULL), GRAFT_E_INVALID_ARG);
    graft_layer *l;
    ck_assert_int_eq(graft_layer_add(ctx, &l), GRAFT_OK);
    const char *two[] = {"c1", GRAFT_MODEL_INPUT};
    ck_assert_int_eq(graft_model_add(m, "sum", l, 2, two), GRAFT_E_SHAPE);
    ck_assert_ptr_nonnull(strstr(graft_errmsg(ctx), "layer \"sum\" (add)"));
    /* a layer already in a model stays there */
    graft_layer *owned = graft_model_layer(m, 0);
    ck_assert_int_eq(graft_model_add(m, "again", owned, 0, NULL), GRAFT_E_INVALID_ARG);
    ck_assert_int_eq(graft_model_layer_count(m), 1);
    ck_assert_int_eq(graft_model_add(NULL, "x", relu(ctx), 0, NULL), GRAFT_E_INVALID_ARG);
    ck_assert_int_eq(graft_model_set_class_names(m, 1, (const char *const[]){"a"}),
                     GRAFT_E_SHAPE);
    graft_model_free(m);
    int64_t d[2] = {0, 3};
    ck_assert_int_eq(graft_model_create(ctx, 2, d, 0, &m), GRAFT_E_SHAPE);
    ck_assert_int_eq(graft_model_create(ctx, 8, d, 0, &m), GRAFT_E_SHAPE);
    graft_ctx_free(ctx); /* valgrind: the failed adds freed their layers */
}
END_TEST

START_TEST(test_class_names)
{
    graft_ctx *ctx = tu_ctx();
    graft_model *m = branchy(ctx);
    const char *names[] = {"cat", "dog", "bird", "fish"};
    ck_assert_ptr_null(graft_model_class_name(m, 0));
    ck_assert_int_eq(graft_model_set_class_names(m, 4, names), GRAFT_OK);
    ck_assert_str_eq(graft_model_class_name(m, 2), "bird");
    ck_assert_ptr_null(graft_model_class_name(m, 4));
    const char *bad[] = {"a", "", "c", "d"};
    ck_assert_int_eq(graft_model_set_class_names(m, 4, bad), GRAFT_E_INVALID_ARG);
    ck_assert_str_eq(graft_model_class_name(m, 1), "dog");
    graft_model_free(m);
    graft_ctx_free(ctx);
}
END_TEST

static double model_loss(graft_model *m, graft_tensor *x, const int32_t *labels)
{
    const graft_tensor *y;
    float loss;
    ck_assert_int_eq(graftModelForward(m, x, &y), GRAFT_OK);
    ck_assert_int_eq(graft_loss_softmax_cross_entropy(y, labels, &loss, NULL), GRAFT_OK);
    return loss;
}

/* Every parameter gradient of a graph with a residual add and a concat
 * (whose inputs fan out to two consumers) against central differences. */
START_TEST(test_backward_through_branches_gradcheck)
{
    graft_ctx *ctx = tu_ctx();
    graft_model *m = branchy(ctx);
    graft_tensor *x = tu_tensor(ctx, 4, 3, 2, 5, 5);
    tu_fill_uniform(x, 5, -1, 1);
    int32_t labels[3] = {0, 3, 1};
    graftModelSetMode(m, 1);
    const graft_tensor *y;
    ck_assert_int_eq(graftModelForward(m, x, &y), GRAFT_OK);
    graft_tensor *g = tu_tensor(ctx, 2, 3, 4);
    float loss;
    ck_assert_int_eq(graft_loss_softmax_cross_entropy(y, labels, &loss, g), GRAFT_OK);
    ck_assert_int_eq(graftModelBackward(m, x, g), GRAFT_OK);
    size_t checked = 0;
    for (int i = 0; i < graft_model_layer_count(m); i++) {
        graft_layer *l = graft_model_layer(m, i);
        for (int k = 0; k < l->n_params; k++) {
            graftParam *p = &l->params[k];
            float *analytic = malloc(p->grad->numel * sizeof(float));
            memcpy(analytic, p->grad->data, p->grad->numel * sizeof(float));
            for (size_t e = 0; e < p->value->numel; e++) {
                float saved = p->value->data[e];
                const double h = 1e-2;
                p->value->data[e] = (float)(saved + h);
                double lp = model_loss(m, x, labels);
                p->value->data[e] = (float)(saved - h);
                double lm = model_loss(m, x, labels);
                p->value->data[e] = saved;
                double num = (lp - lm) / (2 * h);
                ck_assert_msg(fabs(num - analytic[e]) <= 2e-3 + 2e-2 * fabs(num),
                              "%s.%s[%zu]: analytic %g numeric %g", graft_model_layer_name(m, i),
                              p->name, e, analytic[e], num);
                checked++;
            }
            free(analytic);
        }
    }
    ck_assert_uint_eq(checked, 57 + 84 + 28);
    graft_tensor_free(x);
    graft_tensor_free(g);
    graft_model_free(m);
    graft_ctx_free(ctx);
}
END_TEST

/* With the trunk frozen, backward never reaches it: its layers compute no
 * parameter and no input gradient. */
START_TEST(test_frozen_trunk_gets_no_backward)
{
    graft_ctx *ctx = tu_ctx();
    graft_model *m = branchy(ctx);
    for (int i = 0; i < 7; i++) m->nodes[i].trainable = 0;
    graft_tensor *x = tu_tensor(ctx, 4, 2, 2, 5, 5);
    tu_fill_uniform(x, 6, -1, 1);
    const graft_tensor *y;
    ck_assert_int_eq(graftModelForward(m, x, &y), GRAFT_OK);
    graft_tensor *g = tu_tensor(ctx, 2, 2, 4);
    graft_tensor_fill(g, 0.5f);
    graft_layer *c1 = graft_model_layer(m, 0);
    c1->params[0].grad->data[0] = 42.0f;
    ck_assert_int_eq(graftModelBackward(m, x, g), GRAFT_OK);
    for (int i = 0; i < 7; i++) {
        graft_layer *l = graft_model_layer(m, i);
        for (int k = 0; k < l->n_inputs; k++)
            ck_assert_msg(l->input_grads[k] == NULL, "layer %s ran backward",
                          graft_model_layer_name(m, i));
        ck_assert_msg(l->backward_calls == 0, "layer %s ran backward",
                      graft_model_layer_name(m, i));
    }
    ck_assert_float_eq(c1->params[0].grad->data[0], 42.0f);
    ck_assert(graft_model_layer(m, 7)->params[0].grad->data[0] != 0.0f);
    ck_assert_int_eq(graft_model_param_count(m, 1), 28);
    graft_tensor_free(x);
    graft_tensor_free(g);
    graft_model_free(m);
    graft_ctx_free(ctx);
}
END_TEST

/* input -> c1 -> bn1 -> r1 -> c2 -> bn2 -> add(bn2, r1) -> clip -> c3 ->
 * concat(c3, clip) -> gap -> flatten -> fc1 -> tanh -> fc2: residual and
 * concat branches (r1 and clip have two consumers), and relu, clip and tanh
 * that run in place over batch_norm, add and dense outputs. */
static graft_model *inplace_net(graft_ctx *ctx)
{
    graft_model *m = new_model(ctx, 2, 5, 5);
    graft_layer *l;
    ADD(m, "c1", conv(ctx, 3, 3, 1), 0, NULL);
    ck_assert_int_eq(graft_layer_batch_norm(ctx, 1e-5f, 0.1f, &l), GRAFT_OK);
    ADD(m, "bn1", l, 0, NULL);
    ADD(m, "r1", relu(ctx), 0, NULL);
    ADD(m, "c2", conv(ctx, 3, 3, 1), 0, NULL);
    ck_assert_int_eq(graft_layer_batch_norm(ctx, 1e-5f, 0.1f, &l), GRAFT_OK);
    ADD(m, "bn2", l, 0, NULL);
    ck_assert_int_eq(graft_layer_add(ctx, &l), GRAFT_OK);
    ADD(m, "sum", l, 2, "bn2", "r1");
    ck_assert_int_eq(graft_layer_clip(ctx, -0.25f, 0.5f, &l), GRAFT_OK);
    ADD(m, "clip", l, 0, NULL);
    ADD(m, "c3", conv(ctx, 2, 3, 1), 0, NULL);
    ck_assert_int_eq(graft_layer_concat(ctx, &l), GRAFT_OK);
    ADD(m, "cat", l, 2, "c3", "clip");
    ck_assert_int_eq(graft_layer_global_avg_pool(ctx, &l), GRAFT_OK);
    ADD(m, "gap", l, 0, NULL);
    ck_assert_int_eq(graft_layer_flatten(ctx, &l), GRAFT_OK);
    ADD(m, "flat", l, 0, NULL);
    ADD(m, "fc1", dense(ctx, 6), 0, NULL);
    ck_assert_int_eq(graft_layer_tanh(ctx, &l), GRAFT_OK);
    ADD(m, "tanh", l, 0, NULL);
    ADD(m, "fc2", dense(ctx, 4), 0, NULL);
    return m;
}

/* Copies of every parameter gradient of m, in graftModelForEachParam order. */
typedef struct grad_copy {
    float *data[64];
    size_t numel[64];
    int n;
} grad_copy;

static void copy_grad(void *arg, int node, int param, graft_tensor *value,
                      const graft_tensor *grad, int trainable)
{
    grad_copy *c = arg;
    (void)node, (void)param, (void)value, (void)trainable;
    ck_assert_int_lt(c->n, 64);
    c->numel[c->n] = grad->numel;
    c->data[c->n] = malloc(grad->numel * sizeof(float));
    memcpy(c->data[c->n], grad->data, grad->numel * sizeof(float));
    c->n++;
}

static void free_grad_copy(grad_copy *c)
{
    for (int i = 0; i < c->n; i++) free(c->data[i]);
    c->n = 0;
}

/* The reference: every layer run by hand with graft_layer_forward() and
 * graft_layer_backward() (owned outputs, the layers' own input-gradient
 * tensors, nothing shared), gradients summed in graftModelBackward()'s order
 * (consumers from the last node down, inputs in order). */
static void backward_by_hand(graft_model *m, const graft_tensor *x, const graft_tensor *dout)
{
    int n = m->n_nodes;
    const graft_tensor *outs[32];
    float *acc[32] = {0};
    ck_assert_int_le(n, 32);
    for (int i = 0; i < n; i++) {
        graftNode *node = &m->nodes[i];
        const graft_tensor *ins[4];
        for (int k = 0; k < node->n_inputs; k++)
            ins[k] = node->inputs[k] == GRAFT_INPUT_NODE ? x : outs[node->inputs[k]];
        ck_assert_int_eq(graft_layer_forward(node->layer, node->n_inputs, ins, &outs[i]),
                         GRAFT_OK);
    }
    graft_tensor *owned_dout[32] = {0};
    for (int i = n - 1; i >= 0; i--) {
        graftNode *node = &m->nodes[i];
        const graft_tensor *g = dout;
        if (i != n - 1) {
            ck_assert_ptr_nonnull(acc[i]);
            owned_dout[i] = tu_tensor_from(m->ctx, outs[i]->ndim, outs[i]->dims, acc[i]);
            g = owned_dout[i];
        }
        const graft_tensor *ins[4], *din[4];
        int want = 0;
        for (int k = 0; k < node->n_inputs; k++) {
            ins[k] = node->inputs[k] == GRAFT_INPUT_NODE ? x : outs[node->inputs[k]];
            want |= node->inputs[k] != GRAFT_INPUT_NODE;
        }
        node->layer->need_param_grad = 1;
        ck_assert_int_eq(graft_layer_backward(node->layer, node->n_inputs, ins, g,
                                              want ? din : NULL),
                         GRAFT_OK);
        for (int k = 0; want && k < node->n_inputs; k++) {
            int j = node->inputs[k];
            if (j == GRAFT_INPUT_NODE) continue;
            size_t numel = din[k]->numel;
            if (!acc[j]) {
                acc[j] = malloc(numel * sizeof(float));
                memcpy(acc[j], din[k]->data, numel * sizeof(float));
            } else {
                for (size_t e = 0; e < numel; e++) acc[j][e] += din[k]->data[e];
            }
        }
    }
    for (int i = 0; i < n; i++) {
        free(acc[i]);
        graft_tensor_free(owned_dout[i]);
    }
}

/* The model's backward, with its in-place nodes and pooled gradient buffers,
 * gives bit for bit the parameter gradients of the same layers run one by
 * one with nothing shared; and its gradient buffers hold less than the sum
 * of the gradients they carried. */
START_TEST(test_inplace_and_pooled_grads_match_layer_by_layer)
{
    graft_ctx *ctx = tu_ctx();
    graft_model *m = inplace_net(ctx);
    graft_tensor *x = tu_tensor(ctx, 4, 3, 2, 5, 5);
    tu_fill_uniform(x, 7, -1, 1);
    int32_t labels[3] = {0, 3, 1};
    graft_tensor *g = tu_tensor(ctx, 2, 3, 4);
    grad_copy model = {{0}, {0}, 0}, ref = {{0}, {0}, 0};
    for (int pass = 0; pass < 2; pass++) { /* the second reuses the buffers */
        graftModelSetMode(m, 1);
        const graft_tensor *y;
        ck_assert_int_eq(graftModelForward(m, x, &y), GRAFT_OK);
        float loss;
        ck_assert_int_eq(graft_loss_softmax_cross_entropy(y, labels, &loss, g), GRAFT_OK);
        ck_assert_int_eq(graftModelBackward(m, x, g), GRAFT_OK);
    }
    const char *inplace[] = {"r1", "clip", "tanh"};
    for (int i = 0; i < m->n_nodes; i++) {
        int want = 0;
        for (int k = 0; k < 3; k++) want |= strcmp(m->nodes[i].name, inplace[k]) == 0;
        ck_assert_msg(m->nodes[i].inplace == want, "%s: inplace %d", m->nodes[i].name,
                      m->nodes[i].inplace);
    }
    /* no layer of the model allocated input gradients of its own */
    for (int i = 0; i < m->n_nodes; i++)
        for (int k = 0; k < m->nodes[i].n_inputs; k++)
            ck_assert_ptr_null(m->nodes[i].layer->input_grads[k]);
    /* the pool holds less than every gradient at once would */
    size_t pooled = 0, all = 0;
    for (int b = 0; b < m->grads.n; b++) pooled += m->grads.bufs[b]->capacity;
    for (int i = 0; i + 1 < m->n_nodes; i++)
        if (m->nodes[i].upstream)
            all += (size_t)(3 * graftShapeSampleNumel(&m->nodes[i].layer->out_shape));
    ck_assert_msg(pooled < all, "pooled %zu floats, all gradients %zu", pooled, all);
    graftModelForEachParam(m, copy_grad, &model);

    backward_by_hand(m, x, g);
    graftModelForEachParam(m, copy_grad, &ref);
    ck_assert_int_eq(model.n, ref.n);
    ck_assert_int_eq(model.n, 14);
    for (int i = 0; i < model.n; i++) {
        ck_assert_uint_eq(model.numel[i], ref.numel[i]);
        ck_assert_msg(memcmp(model.data[i], ref.data[i], ref.numel[i] * sizeof(float)) == 0,
                      "parameter gradient %d differs", i);
    }
    free_grad_copy(&model);
    free_grad_copy(&ref);
    graft_tensor_free(x);
    graft_tensor_free(g);
    graft_model_free(m);
    graft_ctx_free(ctx);
}
END_TEST

/* Once warmed up, training steps (forward, backward) allocate nothing, also
 * at a smaller batch; the forward after an inference-mode one reuses the
 * in-place views' producers. */
START_TEST(test_training_steps_allocate_nothing)
{
    tu_alloc_counter count = {0, 0, 0, 0};
    graft_ctx *ctx = tu_counting_ctx(&count);
    graft_model *m = inplace_net(ctx);
    graft_tensor *x = tu_tensor(ctx, 4, 3, 2, 5, 5), *x1 = tu_tensor(ctx, 4, 2, 2, 5, 5);
    graft_tensor *g = tu_tensor(ctx, 2, 3, 4), *g1 = tu_tensor(ctx, 2, 2, 4);
    tu_fill_uniform(x, 8, -1, 1);
    tu_fill_uniform(x1, 9, -1, 1);
    graft_tensor_fill(g, 0.25f);
    graft_tensor_fill(g1, -0.5f);
    const graft_tensor *y;
    graftModelSetMode(m, 1);
    long before = 0;
    for (int r = 0; r < 4; r++) {
        if (r == 1) before = count.allocs;
        ck_assert_int_eq(graftModelForward(m, x, &y), GRAFT_OK);
        ck_assert_int_eq(graftModelBackward(m, x, g), GRAFT_OK);
        ck_assert_int_eq(graftModelForward(m, x1, &y), GRAFT_OK);
        ck_assert_int_eq(graftModelBackward(m, x1, g1), GRAFT_OK);
    }
    ck_assert_int_eq(count.allocs, before);
    graft_tensor_free(x);
    graft_tensor_free(x1);
    graft_tensor_free(g);
    graft_tensor_free(g1);
    graft_model_free(m);
    graft_ctx_free(ctx);
}
END_TEST

START_TEST(test_forward_checks_input_shape)
{
    graft_ctx *ctx = tu_ctx();
    graft_model *m = branchy(ctx);
    graft_tensor *x = tu_tensor(ctx, 4, 2, 3, 5, 5);
    const graft_tensor *y = NULL;
    ck_assert_int_eq(graft_model_forward(m, x, &y), GRAFT_E_SHAPE);
    ck_assert_str_eq(graft_errmsg(ctx), "graft_model_forward(): the input has shape (2, 3, 5, 5), "
                                        "the model takes (2, 2, 5, 5) (batch first)");
    graft_tensor *ok = tu_tensor(ctx, 4, 2, 2, 5, 5);
    ck_assert_int_eq(graft_model_forward(m, ok, &y), GRAFT_OK);
    ck_assert_int_eq(graft_tensor_dim(y, 1), 4);
    graft_model *empty = new_model(ctx, 2, 5, 5);
    ck_assert_int_eq(graft_model_forward(empty, ok, &y), GRAFT_E_STATE);
    graft_model_free(empty);
    graft_tensor_free(x);
    graft_tensor_free(ok);
    graft_model_free(m);
    graft_ctx_free(ctx);
}
END_TEST

/* ---- fused conv2d -> batch_norm [-> relu | clip] ---------------------------------------
 *
 * The model's fused forward (plan_fusion in src/model/model.c, running
 * graftConv2dForwardFused and the epilogue of src/layers/conv_epilogue.c)
 * must give the values the layers give one after the other. The references
 * here are the same layers run through graft_layer_forward() in order, and
 * the same model with fusion switched off (m->fusion = 0). Tolerance:
 * |fused - reference| <= FUSE_TOL + FUSE_TOL * |reference| with
 * FUSE_TOL = 4 * FLT_EPSILON, i.e. 4 ulps at magnitude 1. (The fused kernels
 * repeat the unfused float expressions, so on x86-64 the values are in fact
 * identical; the tolerance leaves room for a compiler that contracts a * x + b
 * into a fused multiply-add in one file and not in the other.)
 */

#define FUSE_TOL (4.0f * FLT_EPSILON)

enum { ACT_NONE, ACT_RELU, ACT_CLIP6, ACT_LEAKY, ACT_HSWISH };

typedef struct conv_case {
    const char *what;
    int c, h, w, o, k, stride, pad, groups, bias, batch;
} conv_case;

/* Paths of conv2d's forward that the cases reach: im2col with several
 * images per product (A, G), the 1x1 input-as-columns product of one image
 * (B), the 3x3 depthwise kernels at strides 1 and 2 (C, D), the generic
 * depthwise loop (E) and a grouped product of one image (F). */
static const conv_case cases[] = {
    {"3x3 dense, small map", 3, 9, 9, 8, 3, 1, 1, 1, 1, 3},
    {"1x1 direct", 8, 24, 24, 16, 1, 1, 0, 1, 0, 2},
    {"3x3 depthwise s1", 8, 11, 13, 8, 3, 1, 1, 8, 0, 2},
    {"3x3 depthwise s2", 8, 12, 12, 8, 3, 2, 1, 8, 1, 2},
    {"5x5 depthwise", 6, 10, 10, 6, 5, 1, 2, 6, 1, 2},
    {"3x3 grouped", 4, 24, 24, 6, 3, 1, 1, 2, 1, 1},
    {"1x1 small map", 4, 5, 5, 8, 1, 1, 0, 1, 0, 4},
};
#define N_CASES ((int)(sizeof cases / sizeof cases[0]))

static void add_layer(graft_model *m, const char *name, graft_layer *l, int n_inputs,
                      const char *const *inputs)
{
    ck_assert_ptr_nonnull(l);
    ck_assert_msg(graft_model_add(m, name, l, n_inputs, inputs) == GRAFT_OK, "%s",
                  graft_errmsg(m->ctx));
}

static graft_layer *conv_layer(graft_ctx *ctx, const conv_case *cc)
{
    graft_conv2d_spec cs = GRAFT_CONV2D_SPEC_INIT;
    graft_layer *l = NULL;
    cs.out_channels = cc->o;
    cs.kernel_h = cs.kernel_w = cc->k;
    cs.stride_h = cs.stride_w = cc->stride;
    cs.pad_top = cs.pad_left = cs.pad_bottom = cs.pad_right = cc->pad;
    cs.groups = cc->groups;
    cs.bias = cc->bias;
    ck_assert_int_eq(graft_layer_conv2d(ctx, &cs, &l), GRAFT_OK);
    return l;
}

static graft_layer *bn_layer(graft_ctx *ctx)
{
    graft_layer *l = NULL;
    ck_assert_int_eq(graft_layer_batch_norm(ctx, 1e-3f, 0.1f, &l), GRAFT_OK);
    return l;
}

static graft_layer *act_layer(graft_ctx *ctx, int act)
{
    graft_layer *l = NULL;
    if (act == ACT_RELU) ck_assert_int_eq(graft_layer_relu(ctx, &l), GRAFT_OK);
    if (act == ACT_CLIP6) ck_assert_int_eq(graft_layer_clip(ctx, 0.0f, 6.0f, &l), GRAFT_OK);
    if (act == ACT_LEAKY) ck_assert_int_eq(graft_layer_leaky_relu(ctx, 0.1f, &l), GRAFT_OK);
    if (act == ACT_HSWISH) ck_assert_int_eq(graft_layer_hard_swish(ctx, &l), GRAFT_OK);
    return l;
}

/* Gives every parameter of layer i values drawn from seed: batch-norm
 * scales in [0.5, 2), shifts and means in [-0.5, 0.5), variances in
 * [0.25, 2), everything else in [-0.5, 0.5). */
static void randomize_layer(graft_model *m, int i, uint64_t seed)
{
    graft_layer *l = graft_model_layer(m, i);
    for (int k = 0; k < graft_layer_param_count(l); k++) {
        const char *name;
        graft_tensor *v;
        ck_assert_int_eq(graft_layer_param(l, k, &name, &v, NULL, NULL), GRAFT_OK);
        float lo = -0.5f, hi = 0.5f;
        if (l->vtbl == &graftBatchNormVtbl && !strcmp(name, "weight")) lo = 0.5f, hi = 2.0f;
        if (!strcmp(name, "running_var")) lo = 0.25f, hi = 2.0f;
        tu_fill_uniform(v, seed * 31 + (uint64_t)k, lo, hi);
    }
}

static void randomize(graft_model *m, uint64_t seed)
{
    for (int i = 0; i < graft_model_layer_count(m); i++) randomize_layer(m, i, seed + 7 * i);
}

/* input -> conv -> bn [-> act] */
static graft_model *chain(graft_ctx *ctx, const conv_case *cc, int act)
{
    int64_t dims[3] = {cc->c, cc->h, cc->w};
    graft_model *m = NULL;
    ck_assert_int_eq(graft_model_create(ctx, 3, dims, 5, &m), GRAFT_OK);
    add_layer(m, "conv", conv_layer(ctx, cc), 0, NULL);
    add_layer(m, "bn", bn_layer(ctx), 0, NULL);
    if (act != ACT_NONE) add_layer(m, "act", act_layer(ctx, act), 0, NULL);
    randomize(m, 11);
    return m;
}

static float *copy_of(const graft_tensor *t)
{
    float *c = malloc(t->numel * sizeof *c);
    ck_assert_ptr_nonnull(c);
    memcpy(c, t->data, t->numel * sizeof *c);
    return c;
}

/* The model's layers run one by one through graft_layer_forward (a chain:
 * each reads the previous); returns a copy of the last output. */
static float *layer_by_layer(graft_model *m, const graft_tensor *x)
{
    const graft_tensor *y = x;
    for (int i = 0; i < graft_model_layer_count(m); i++) {
        const graft_tensor *in[1] = {y};
        ck_assert_int_eq(graft_layer_forward(graft_model_layer(m, i), 1, in, &y), GRAFT_OK);
    }
    return copy_of(y);
}

/* graft_model_forward with fusion off; returns a copy of the output. */
static float *unfused(graft_model *m, const graft_tensor *x)
{
    const graft_tensor *y = NULL;
    m->fusion = 0;
    ck_assert_int_eq(graft_model_forward(m, x, &y), GRAFT_OK);
    m->fusion = 1;
    for (int i = 0; i < m->n_nodes; i++) ck_assert_int_eq(m->nodes[i].fused, 0);
    return copy_of(y);
}

static size_t count_eq(const graft_tensor *t, float v)
{
    size_t n = 0;
    for (size_t i = 0; i < t->numel; i++) n += t->data[i] == v;
    return n;
}

/* Every case with every activation: the fused forward ran (node 0 folded
 * one or two nodes), and equals the layers run one by one and the model
 * with fusion off. The inputs span [-4, 4) so that relu and clip(0, 6) both
 * clamp values (checked), and hard_swish sees both flat arms. Built by GCC
 * for x86-64 (ISO C: no contraction of a * v + b into a fused multiply-add
 * in either file), the fused values are the unfused ones bit for bit. */
START_TEST(test_chain_matches_layer_by_layer)
{
    graft_ctx *ctx = tu_ctx();
    const int acts[4] = {ACT_NONE, ACT_RELU, ACT_CLIP6, ACT_HSWISH};
    for (int ci = 0; ci < N_CASES; ci++) {
        const conv_case *cc = &cases[ci];
        for (int a = 0; a < 4; a++) {
            graft_model *m = chain(ctx, cc, acts[a]);
            graft_tensor *x = tu_tensor(ctx, 4, cc->batch, cc->c, cc->h, cc->w);
            tu_fill_uniform(x, 100 + ci, -4.0f, 4.0f);
            const graft_tensor *y = NULL;
            ck_assert_msg(graft_model_forward(m, x, &y) == GRAFT_OK, "%s", graft_errmsg(ctx));
            ck_assert_msg(m->nodes[0].fused == (acts[a] == ACT_NONE ? 1 : 2),
                          "%s act %d: fused %d", cc->what, acts[a], m->nodes[0].fused);
            ck_assert_ptr_eq(y, graft_model_layer(m, m->n_nodes - 1)->output);
            if (acts[a] != ACT_NONE) ck_assert_uint_gt(count_eq(y, 0.0f), 0);
            if (acts[a] == ACT_CLIP6) ck_assert_uint_gt(count_eq(y, 6.0f), 0);
            size_t n = y->numel;
            float *got = copy_of(y);
            float *off = unfused(m, x);
            float *ref = layer_by_layer(m, x);
            char what[96];
            snprintf(what, sizeof what, "%s, act %d, against layer by layer", cc->what, acts[a]);
            tu_assert_close(got, ref, n, FUSE_TOL, FUSE_TOL, what);
            snprintf(what, sizeof what, "%s, act %d, against fusion off", cc->what, acts[a]);
            tu_assert_close(got, off, n, FUSE_TOL, FUSE_TOL, what);
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
            ck_assert_msg(tu_first_bit_difference(got, off, n) == n, "%s: bits differ at %zu",
                          what, tu_first_bit_difference(got, off, n));
#endif
            free(got);
            free(off);
            free(ref);
            graft_tensor_free(x);
            graft_model_free(m);
        }
    }
    graft_ctx_free(ctx);
}
END_TEST

/* Parameters written between two forward calls (conv weights, batch-norm
 * scale, shift and statistics) are used by the next call: the folded
 * scale and shift are not kept from the first. */
START_TEST(test_params_change_between_calls)
{
    graft_ctx *ctx = tu_ctx();
    const conv_case *cc = &cases[2];
    graft_model *m = chain(ctx, cc, ACT_CLIP6);
    graft_tensor *x = tu_tensor(ctx, 4, cc->batch, cc->c, cc->h, cc->w);
    tu_fill_uniform(x, 3, -4.0f, 4.0f);
    const graft_tensor *y = NULL;
    ck_assert_int_eq(graft_model_forward(m, x, &y), GRAFT_OK);
    float *first = copy_of(y);
    randomize_layer(m, 0, 500);
    randomize_layer(m, 1, 600);
    ck_assert_int_eq(graft_model_forward(m, x, &y), GRAFT_OK);
    ck_assert_int_eq(m->nodes[0].fused, 2);
    float *got = copy_of(y);
    float *ref = layer_by_layer(m, x);
    tu_assert_close(got, ref, y->numel, FUSE_TOL, FUSE_TOL, "after new parameters");
    size_t same = 0;
    for (size_t i = 0; i < y->numel; i++) same += got[i] == first[i];
    ck_assert_uint_lt(same, y->numel / 2); /* the new parameters did change it */
    free(first);
    free(got);
    free(ref);
    graft_tensor_free(x);
    graft_model_free(m);
    graft_ctx_free(ctx);
}
END_TEST

/* Graphs where a folded intermediate would be read by another node. */
static graft_model *fused_branchy(graft_ctx *ctx, const conv_case *cc, int variant)
{
    int64_t dims[3] = {cc->c, cc->h, cc->w};
    graft_model *m = NULL;
    graft_layer *l = NULL;
    ck_assert_int_eq(graft_model_create(ctx, 3, dims, 5, &m), GRAFT_OK);
    add_layer(m, "conv", conv_layer(ctx, cc), 0, NULL);
    add_layer(m, "bn", bn_layer(ctx), 0, NULL);
    add_layer(m, "relu", act_layer(ctx, ACT_RELU), 0, NULL);
    /* variant 0: add(relu, conv), the conv has two consumers;
     * variant 1: add(relu, bn), the batch norm has two consumers */
    const char *ins[2] = {"relu", variant == 0 ? "conv" : "bn"};
    ck_assert_int_eq(graft_layer_add(ctx, &l), GRAFT_OK);
    add_layer(m, "add", l, 2, ins);
    randomize(m, 21);
    return m;
}

/* A conv read by two consumers is not fused; a batch norm read by two is
 * fused with its conv but not with the activation, and the add reads its
 * written output. Either way the output equals the unfused model's. */
START_TEST(test_shared_outputs)
{
    graft_ctx *ctx = tu_ctx();
    const int cis[3] = {0, 1, 3};
    for (int t = 0; t < 3; t++) {
        const conv_case *cc = &cases[cis[t]];
        for (int variant = 0; variant < 2; variant++) {
            graft_model *m = fused_branchy(ctx, cc, variant);
            graft_tensor *x = tu_tensor(ctx, 4, cc->batch, cc->c, cc->h, cc->w);
            tu_fill_uniform(x, 40 + t, -2.0f, 2.0f);
            const graft_tensor *y = NULL;
            ck_assert_int_eq(graft_model_forward(m, x, &y), GRAFT_OK);
            ck_assert_int_eq(m->nodes[0].fused, variant == 0 ? 0 : 1);
            ck_assert_int_eq(m->nodes[0].layer->forward_calls, 1);
            ck_assert_int_eq(m->nodes[2].layer->forward_calls, 1);
            float *got = copy_of(y);
            float *off = unfused(m, x);
            tu_assert_close(got, off, y->numel, FUSE_TOL, FUSE_TOL, cc->what);
            free(got);
            free(off);
            graft_tensor_free(x);
            graft_model_free(m);
        }
    }
    graft_ctx_free(ctx);
}
END_TEST

/* leaky_relu is not folded (the conv and batch norm still are); a batch
 * norm that does not directly follow its conv is not folded. */
START_TEST(test_not_folded_kinds)
{
    graft_ctx *ctx = tu_ctx();
    const conv_case *cc = &cases[0];
    graft_model *m = chain(ctx, cc, ACT_LEAKY);
    graft_tensor *x = tu_tensor(ctx, 4, cc->batch, cc->c, cc->h, cc->w);
    tu_fill_uniform(x, 8, -2.0f, 2.0f);
    const graft_tensor *y = NULL;
    ck_assert_int_eq(graft_model_forward(m, x, &y), GRAFT_OK);
    ck_assert_int_eq(m->nodes[0].fused, 1);
    float *got = copy_of(y);
    float *ref = layer_by_layer(m, x);
    tu_assert_close(got, ref, y->numel, FUSE_TOL, FUSE_TOL, "leaky_relu after the fold");
    free(got);
    free(ref);
    graft_model_free(m);

    /* input -> conv_a -> conv_b(input) ... bn(conv_a): not adjacent */
    int64_t dims[3] = {cc->c, cc->h, cc->w};
    ck_assert_int_eq(graft_model_create(ctx, 3, dims, 5, &m), GRAFT_OK);
    add_layer(m, "conv_a", conv_layer(ctx, cc), 0, NULL);
    const char *in_x[1] = {GRAFT_MODEL_INPUT}, *in_a[1] = {"conv_a"};
    add_layer(m, "conv_b", conv_layer(ctx, cc), 1, in_x);
    add_layer(m, "bn", bn_layer(ctx), 1, in_a);
    const char *ins[2] = {"bn", "conv_b"};
    graft_layer *l = NULL;
    ck_assert_int_eq(graft_layer_add(ctx, &l), GRAFT_OK);
    add_layer(m, "add", l, 2, ins);
    randomize(m, 5);
    ck_assert_int_eq(graft_model_forward(m, x, &y), GRAFT_OK);
    for (int i = 0; i < m->n_nodes; i++) ck_assert_int_eq(m->nodes[i].fused, 0);
    graft_tensor_free(x);
    graft_model_free(m);
    graft_ctx_free(ctx);
}
END_TEST

/* conv -> bn -> relu -> gap -> flat -> fc */
static graft_model *with_head(graft_ctx *ctx, const conv_case *cc)
{
    graft_model *m = chain(ctx, cc, ACT_RELU);
    graft_layer *l = NULL;
    ck_assert_int_eq(graft_layer_global_avg_pool(ctx, &l), GRAFT_OK);
    add_layer(m, "gap", l, 0, NULL);
    ck_assert_int_eq(graft_layer_flatten(ctx, &l), GRAFT_OK);
    add_layer(m, "flat", l, 0, NULL);
    ck_assert_int_eq(graft_layer_dense(ctx, 3, 1, &l), GRAFT_OK);
    add_layer(m, "fc", l, 0, NULL);
    return m;
}

static int forward_training(graft_model *m, const graft_tensor *x)
{
    const graft_tensor *y = NULL;
    m->training = -1; /* apply the current flags to the layers */
    graftModelSetMode(m, 1);
    ck_assert_int_eq(graftModelForward(m, x, &y), GRAFT_OK);
    return m->nodes[0].fused;
}

/* In training mode nothing is fused while a gradient flows through the
 * group or the batch norm trains; a frozen trunk with its batch norm in
 * inference mode is. */
START_TEST(test_training_mode)
{
    graft_ctx *ctx = tu_ctx();
    const conv_case *cc = &cases[0];
    graft_model *m = with_head(ctx, cc);
    graft_tensor *x = tu_tensor(ctx, 4, cc->batch, cc->c, cc->h, cc->w);
    tu_fill_uniform(x, 9, -2.0f, 2.0f);
    /* everything trains: the batch norm uses batch statistics */
    ck_assert_int_eq(forward_training(m, x), 0);
    /* frozen trunk: fused even in training mode */
    ck_assert_int_eq(graft_model_freeze_through(m, "flat"), GRAFT_OK);
    ck_assert_int_eq(forward_training(m, x), 2);
    /* frozen batch norms that keep training on batch statistics */
    ck_assert_int_eq(graft_model_set_option(m, GRAFT_MODEL_FROZEN_BN_TRAINS, 1), GRAFT_OK);
    ck_assert_int_eq(forward_training(m, x), 0);
    ck_assert_int_eq(graft_model_set_option(m, GRAFT_MODEL_FROZEN_BN_TRAINS, 0), GRAFT_OK);
    /* trained conv under a frozen batch norm: the gradient flows through */
    ck_assert_int_eq(graft_model_set_trainable(m, 0, 0, 1), GRAFT_OK);
    ck_assert_int_eq(forward_training(m, x), 0);
    /* the same flags in inference mode: fused */
    const graft_tensor *y = NULL;
    m->training = -1;
    ck_assert_int_eq(graft_model_forward(m, x, &y), GRAFT_OK);
    ck_assert_int_eq(m->nodes[0].fused, 2);
    /* and the skipped intermediates refuse a backward pass */
    graft_tensor *g = tu_tensor(ctx, 4, cc->batch, cc->o, cc->h, cc->w);
    const graft_tensor *in[1] = {x};
    ck_assert_int_eq(graft_layer_backward(graft_model_layer(m, 0), 1, in, g, NULL),
                     GRAFT_E_STATE);
    graft_tensor_free(g);
    graft_tensor_free(x);
    graft_model_free(m);
    graft_ctx_free(ctx);
}
END_TEST

/* A small image set: class = the quadrant of the brightest of 3 channels'
 * sums. */
static graft_dataset *images(graft_ctx *ctx, int n, int c, int side)
{
    size_t per = (size_t)c * side * side;
    float *x = malloc((size_t)n * per * sizeof *x);
    int32_t *y = malloc((size_t)n * sizeof *y);
    ck_assert_ptr_nonnull(x);
    ck_assert_ptr_nonnull(y);
    graftRng rng;
    graftRngSeed(&rng, 77);
    for (int i = 0; i < n; i++) {
        float *img = x + (size_t)i * per;
        int best = 0;
        for (size_t p = 0; p < per; p++) {
            img[p] = 2.0f * graftRngUniform(&rng) - 1.0f;
            if (img[p] > img[best]) best = (int)p;
        }
        int q = best % (side * side);
        y[i] = (q / side >= side / 2) * 2 + (q % side >= side / 2);
    }
    int64_t dims[3] = {c, side, side};
    graft_dataset *ds = NULL;
    ck_assert_int_eq(graft_dataset_from_memory(ctx, n, 3, dims, x, y, 4, 1, &ds), GRAFT_OK);
    free(x);
    free(y);
    return ds;
}

/* conv 3x3 -> bn -> clip(0, 6) -> depthwise 3x3/2 -> bn -> relu -> 1x1 conv
 * -> bn -> gap -> flat -> fc (4 classes) */
static graft_model *trunk_model(graft_ctx *ctx)
{
    int64_t dims[3] = {3, 12, 12};
    graft_model *m = NULL;
    ck_assert_int_eq(graft_model_create(ctx, 3, dims, 17, &m), GRAFT_OK);
    const conv_case c1 = {"c1", 3, 12, 12, 8, 3, 1, 1, 1, 0, 1};
    const conv_case c2 = {"c2", 8, 12, 12, 8, 3, 2, 1, 8, 0, 1};
    const conv_case c3 = {"c3", 8, 6, 6, 16, 1, 1, 0, 1, 1, 1};
    add_layer(m, "c1", conv_layer(ctx, &c1), 0, NULL);
    add_layer(m, "bn1", bn_layer(ctx), 0, NULL);
    add_layer(m, "act1", act_layer(ctx, ACT_CLIP6), 0, NULL);
    add_layer(m, "c2", conv_layer(ctx, &c2), 0, NULL);
    add_layer(m, "bn2", bn_layer(ctx), 0, NULL);
    add_layer(m, "act2", act_layer(ctx, ACT_RELU), 0, NULL);
    add_layer(m, "c3", conv_layer(ctx, &c3), 0, NULL);
    add_layer(m, "bn3", bn_layer(ctx), 0, NULL);
    graft_layer *l = NULL;
    ck_assert_int_eq(graft_layer_global_avg_pool(ctx, &l), GRAFT_OK);
    add_layer(m, "gap", l, 0, NULL);
    ck_assert_int_eq(graft_layer_flatten(ctx, &l), GRAFT_OK);
    add_layer(m, "flat", l, 0, NULL);
    ck_assert_int_eq(graft_layer_dense(ctx, 4, 1, &l), GRAFT_OK);
    add_layer(m, "fc", l, 0, NULL);
    randomize(m, 3);
    ck_assert_int_eq(graft_model_set_option(m, GRAFT_MODEL_FEATURE_CACHE, 0), GRAFT_OK);
    ck_assert_int_eq(graft_model_freeze_through(m, "flat"), GRAFT_OK);
    return m;
}

/* Fitting the head over a frozen trunk (no feature cache, so the trunk runs
 * forward at every step) trains the same head with the trunk fused as with
 * fusion off, within 1e-5 relative; the trunk ran fused and never backward. */
START_TEST(test_frozen_trunk_fit)
{
    graft_ctx *ctx = tu_ctx();
    graft_dataset *ds = images(ctx, 48, 3, 12);
    graft_model *fused = trunk_model(ctx), *plain = trunk_model(ctx);
    plain->fusion = 0;
    graft_model *ms[2] = {fused, plain};
    for (int k = 0; k < 2; k++) {
        graft_optim *o = tu_sgd(ctx, 0.05, 0.9);
        graft_fit_opts fo = GRAFT_FIT_OPTS_INIT;
        fo.epochs = 3;
        fo.batch_size = 16;
        fo.seed = 4;
        ck_assert_msg(graft_model_fit(ms[k], o, ds, NULL, &fo) == GRAFT_OK, "%s",
                      graft_errmsg(ctx));
        graft_optim_free(o);
    }
    ck_assert_int_eq(fused->nodes[0].fused, 2);
    ck_assert_int_eq(fused->nodes[3].fused, 2);
    ck_assert_int_eq(fused->nodes[6].fused, 1);
    for (int i = 0; i < fused->n_nodes; i++) {
        ck_assert_int_eq(plain->nodes[i].fused, 0);
        ck_assert_int_eq(fused->nodes[i].layer->forward_calls, 9); /* 3 epochs x 3 batches */
        ck_assert_int_eq(plain->nodes[i].layer->forward_calls, 9);
        if (i < 10) ck_assert_int_eq(fused->nodes[i].layer->backward_calls, 0);
    }
    graft_layer *a = graft_model_layer(fused, 10), *b = graft_model_layer(plain, 10);
    for (int k = 0; k < a->n_params; k++) {
        const graft_tensor *va = a->params[k].value, *vb = b->params[k].value;
        tu_assert_close(va->data, vb->data, va->numel, 1e-7f, 1e-5f, "trained head");
    }
    /* the head did train: it differs from a fresh model's */
    graft_model *fresh = trunk_model(ctx);
    const graft_tensor *w0 = graft_model_layer(fresh, 10)->params[0].value;
    float diff = 0.0f;
    for (size_t e = 0; e < w0->numel; e++)
        diff = fmaxf(diff, fabsf(w0->data[e] - a->params[0].value->data[e]));
    ck_assert_float_gt(diff, 1e-3f);
    graft_model_free(fresh);
    graft_model_free(fused);
    graft_model_free(plain);
    graft_dataset_free(ds);
    graft_ctx_free(ctx);
}
END_TEST

/* Once warmed up at a batch size, fused forwards allocate nothing, also at
 * a smaller batch. */
START_TEST(test_no_steady_state_allocation)
{
    tu_alloc_counter count = {0, 0, 0, 0};
    graft_ctx *ctx = tu_counting_ctx(&count);
    const conv_case *cc = &cases[3];
    graft_model *m = chain(ctx, cc, ACT_CLIP6);
    graft_tensor *x = tu_tensor(ctx, 4, 2, cc->c, cc->h, cc->w);
    graft_tensor *x1 = tu_tensor(ctx, 4, 1, cc->c, cc->h, cc->w);
    tu_fill_uniform(x, 1, -1.0f, 1.0f);
    tu_fill_uniform(x1, 2, -1.0f, 1.0f);
    const graft_tensor *y = NULL;
    ck_assert_int_eq(graft_model_forward(m, x, &y), GRAFT_OK);
    ck_assert_int_eq(m->nodes[0].fused, 2);
    long before = count.allocs;
    for (int r = 0; r < 3; r++) {
        ck_assert_int_eq(graft_model_forward(m, x, &y), GRAFT_OK);
        ck_assert_int_eq(graft_model_forward(m, x1, &y), GRAFT_OK);
    }
    ck_assert_int_eq(count.allocs, before);
    graft_tensor_free(x);
    graft_tensor_free(x1);
    graft_model_free(m);
    graft_ctx_free(ctx);
}
END_TEST

Suite *suite_model(void)
{
    Suite *s = suite_create("model");
    TCase *tc = tcase_create("build");
    tcase_add_test(tc, test_build_and_inspect);
    tcase_add_test(tc, test_summary);
    tcase_add_test(tc, test_add_errors_name_the_layer);
    tcase_add_test(tc, test_class_names);
    suite_add_tcase(s, tc);
    tc = tcase_create("run");
    tcase_add_test(tc, test_backward_through_branches_gradcheck);
    tcase_add_test(tc, test_frozen_trunk_gets_no_backward);
    tcase_add_test(tc, test_inplace_and_pooled_grads_match_layer_by_layer);
    tcase_add_test(tc, test_training_steps_allocate_nothing);
    tcase_add_test(tc, test_forward_checks_input_shape);
    tcase_set_timeout(tc, 120);
    suite_add_tcase(s, tc);
    tc = tcase_create("fusion");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_chain_matches_layer_by_layer);
    tcase_add_test(tc, test_params_change_between_calls);
    tcase_add_test(tc, test_shared_outputs);
    tcase_add_test(tc, test_not_folded_kinds);
    tcase_add_test(tc, test_training_mode);
    tcase_add_test(tc, test_frozen_trunk_fit);
    tcase_add_test(tc, test_no_steady_state_allocation);
    suite_add_tcase(s, tc);
    return s;
}
