/* check_model.c - models as layer graphs (src/model.c): building with shape
 * checks, inspection, the summary, and backward through a graph with
 * branches against finite differences. */
#include "testutil.h"

#include "model/model.h"

#include <math.h>
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
    return s;
}
