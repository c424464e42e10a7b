/* check_kinds.c - what every registered layer kind must pass, driven by the
 * one list of kinds (src/layers/kinds.h).
 *
 * Each kind has one entry below, a function make_<name>() that builds a
 * layer of it and says which inputs fit. The table is expanded from
 * kinds.h, so a kind added to the list without an entry here does not
 * compile. For every kind, the same checks then run:
 *   - the registry: the vtable's name, slots and attribute table are sane;
 *   - a PyTorch reference: tests/data/torch_refs.txt has a case of the kind
 *     (check_torch_refs.c compares them);
 *   - gradients: input and parameter gradients against central differences;
 *   - save/load: the loaded layer computes the same bits, every declared
 *     attribute comes back equal, every truncation fails with GRAFT_E_FORMAT;
 *   - ONNX: a one-layer model exports, imports back and computes the same
 *     outputs;
 *   - steady state: after the first step, forward and backward allocate
 *     nothing.
 * A kind's own behaviour is tested in its module's check file.
 */
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_CASE_INPUTS 3

/* A layer of one kind and the inputs that fit it. */
typedef struct kind_case {
    int n_inputs;
    int ndim;                    /* per-sample input rank (every input alike) */
    int64_t dims[4];             /* per-sample input shape */
    /* The kind the layer comes back as from ONNX; NULL: its own. "" when it
     * comes back as something else or nothing (the reason in a comment). */
    const char *onnx_kind;
    int gradcheck_inference;     /* 1: gradients checked in inference mode */
} kind_case;

typedef graft_layer *(*make_fn)(graft_ctx *ctx, kind_case *c);

/* The constructor's status, then the layer it made (a pointer, read after
 * the call: arguments have no order of evaluation). */
static graft_layer *made(graft_ctx *ctx, int st, graft_layer *const *l)
{
    ck_assert_msg(st == GRAFT_OK, "%s", graft_errmsg(ctx));
    return *l;
}

static void image_input(kind_case *c, int n_inputs)
{
    c->n_inputs = n_inputs;
    c->ndim = 3;
    c->dims[0] = 3;
    c->dims[1] = 6;
    c->dims[2] = 6;
}

/* ---- one entry per kind ---------------------------------------------------- */

static graft_layer *make_conv2d(graft_ctx *ctx, kind_case *c)
{
    graft_layer *l = NULL;
    graft_conv2d_spec s = GRAFT_CONV2D_SPEC_INIT;
    s.out_channels = 4;
    s.kernel_h = s.kernel_w = 3;
    s.stride_w = 2;
    s.pad_top = s.pad_left = s.pad_bottom = 1;
    image_input(c, 1);
    return made(ctx, graft_layer_conv2d(ctx, &s, &l), &l);
}

static graft_pool2d_spec pool_spec(void)
{
    graft_pool2d_spec s = GRAFT_POOL2D_SPEC_INIT;
    s.kernel_h = s.kernel_w = 3;
    s.stride_h = s.stride_w = 2;
    s.pad_top = s.pad_left = 1;
    return s;
}

static graft_layer *make_max_pool2d(graft_ctx *ctx, kind_case *c)
{
    graft_layer *l = NULL;
    graft_pool2d_spec s = pool_spec();
    image_input(c, 1);
    return made(ctx, graft_layer_max_pool2d(ctx, &s, &l), &l);
}

static graft_layer *make_avg_pool2d(graft_ctx *ctx, kind_case *c)
{
    graft_layer *l = NULL;
    graft_pool2d_spec s = pool_spec();
    s.count_include_pad = 1;
    image_input(c, 1);
    return made(ctx, graft_layer_avg_pool2d(ctx, &s, &l), &l);
}

static graft_layer *make_global_avg_pool(graft_ctx *ctx, kind_case *c)
{
    graft_layer *l = NULL;
    image_input(c, 1);
    return made(ctx, graft_layer_global_avg_pool(ctx, &l), &l);
}

static graft_layer *make_dense(graft_ctx *ctx, kind_case *c)
{
    graft_layer *l = NULL;
    image_input(c, 1);
    /* on (N, 3, 6, 6) it exports as Flatten then Gemm: two layers back */
    c->onnx_kind = "";
    return made(ctx, graft_layer_dense(ctx, 5, 1, &l), &l);
}

static graft_layer *make_batch_norm(graft_ctx *ctx, kind_case *c)
{
    graft_layer *l = NULL;
    image_input(c, 1);
    return made(ctx, graft_layer_batch_norm(ctx, 1e-3f, 0.2f, &l), &l);
}

static graft_layer *make_relu(graft_ctx *ctx, kind_case *c)
{
    graft_layer *l = NULL;
    image_input(c, 1);
    return made(ctx, graft_layer_relu(ctx, &l), &l);
}

static graft_layer *make_clip(graft_ctx *ctx, kind_case *c)
{
    graft_layer *l = NULL;
    image_input(c, 1);
    return made(ctx, graft_layer_clip(ctx, -0.53f, 0.77f, &l), &l);
}

static graft_layer *make_leaky_relu(graft_ctx *ctx, kind_case *c)
{
    graft_layer *l = NULL;
    image_input(c, 1);
    return made(ctx, graft_layer_leaky_relu(ctx, 0.1f, &l), &l);
}

static graft_layer *make_sigmoid(graft_ctx *ctx, kind_case *c)
{
    graft_layer *l = NULL;
    image_input(c, 1);
    return made(ctx, graft_layer_sigmoid(ctx, &l), &l);
}

static graft_layer *make_tanh(graft_ctx *ctx, kind_case *c)
{
    graft_layer *l = NULL;
    image_input(c, 1);
    return made(ctx, graft_layer_tanh(ctx, &l), &l);
}

static graft_layer *make_hard_swish(graft_ctx *ctx, kind_case *c)
{
    graft_layer *l = NULL;
    image_input(c, 1);
    return made(ctx, graft_layer_hard_swish(ctx, &l), &l);
}

static graft_layer *make_dropout(graft_ctx *ctx, kind_case *c)
{
    graft_layer *l = NULL;
    image_input(c, 1);
    /* an identity in inference, so the importer drops it */
    c->onnx_kind = "";
    /* a fresh mask every forward: differences would mix two masks */
    c->gradcheck_inference = 1;
    return made(ctx, graft_layer_dropout(ctx, 0.25f, 9, &l), &l);
}

static graft_layer *make_flatten(graft_ctx *ctx, kind_case *c)
{
    graft_layer *l = NULL;
    image_input(c, 1);
    return made(ctx, graft_layer_flatten(ctx, &l), &l);
}

static graft_layer *make_add(graft_ctx *ctx, kind_case *c)
{
    graft_layer *l = NULL;
    image_input(c, 3);
    return made(ctx, graft_layer_add(ctx, &l), &l);
}

static graft_layer *make_concat(graft_ctx *ctx, kind_case *c)
{
    graft_layer *l = NULL;
    image_input(c, 3);
    return made(ctx, graft_layer_concat(ctx, &l), &l);
}

static graft_layer *make_softmax(graft_ctx *ctx, kind_case *c)
{
    graft_layer *l = NULL;
    /* over the last axis of (N, 3, 6, 6): the axis attribute (Since 1.2)
     * is saved, compared and exported; axis 1 is check_softmax.c's */
    image_input(c, 1);
    return made(ctx, graft_layer_softmax_axis(ctx, -1, &l), &l);
}

static graft_layer *make_mul(graft_ctx *ctx, kind_case *c)
{
    graft_layer *l = NULL;
    image_input(c, 2);
    return made(ctx, graft_layer_mul(ctx, &l), &l);
}

static graft_layer *make_hard_sigmoid(graft_ctx *ctx, kind_case *c)
{
    graft_layer *l = NULL;
    image_input(c, 1);
    return made(ctx, graft_layer_hard_sigmoid(ctx, 0.2f, 0.5f, &l), &l);
}

static graft_layer *make_silu(graft_ctx *ctx, kind_case *c)
{
    graft_layer *l = NULL;
    image_input(c, 1);
    return made(ctx, graft_layer_silu(ctx, &l), &l);
}

static graft_layer *make_gelu(graft_ctx *ctx, kind_case *c)
{
    graft_layer *l = NULL;
    image_input(c, 1);
    return made(ctx, graft_layer_gelu(ctx, GRAFT_GELU_ERF, &l), &l);
}

static graft_layer *make_pad2d(graft_ctx *ctx, kind_case *c)
{
    graft_layer *l = NULL;
    graft_pad2d_spec s = GRAFT_PAD2D_SPEC_INIT;
    s.pad_top = s.pad_right = 2;
    s.pad_left = 1;
    s.mode = GRAFT_PAD_REFLECT;
    image_input(c, 1);
    return made(ctx, graft_layer_pad2d(ctx, &s, &l), &l);
}

static graft_layer *make_reshape(graft_ctx *ctx, kind_case *c)
{
    graft_layer *l = NULL;
    const int64_t dims[2] = {18, 6};
    image_input(c, 1);
    return made(ctx, graft_layer_reshape(ctx, 2, dims, &l), &l);
}

static graft_layer *make_scale_shift(graft_ctx *ctx, kind_case *c)
{
    graft_layer *l = NULL;
    const int64_t dims[3] = {3, 1, 6};
    image_input(c, 1);
    /* exported as Mul then Add, it comes back as two layers */
    c->onnx_kind = "";
    return made(ctx, graft_layer_scale_shift(ctx, 3, dims, &l), &l);
}

static graft_layer *make_upsample2d(graft_ctx *ctx, kind_case *c)
{
    graft_layer *l = NULL;
    graft_upsample2d_spec s = GRAFT_UPSAMPLE2D_SPEC_INIT;
    s.mode = GRAFT_UPSAMPLE_LINEAR;
    s.scale_h = 2.0f;
    s.out_w = 9; /* 6 -> 9: a scale of 1.5 */
    image_input(c, 1);
    return made(ctx, graft_layer_upsample2d(ctx, &s, &l), &l);
}

static graft_layer *make_transpose(graft_ctx *ctx, kind_case *c)
{
    graft_layer *l = NULL;
    const int perm[4] = {0, 2, 3, 1}; /* NCHW -> NHWC */
    c->n_inputs = 1;
    c->ndim = 3;
    c->dims[0] = 3;
    c->dims[1] = 4;
    c->dims[2] = 5;
    return made(ctx, graft_layer_transpose(ctx, 4, perm, &l), &l);
}

static graft_layer *make_slice(graft_ctx *ctx, kind_case *c)
{
    graft_layer *l = NULL;
    image_input(c, 1);
    /* every other column from the second: x[:, :, :, 1::2] */
    return made(ctx, graft_layer_slice(ctx, -1, 1, INT64_MAX, 2, &l), &l);
}

static graft_layer *make_layer_norm(graft_ctx *ctx, kind_case *c)
{
    graft_layer *l = NULL;
    image_input(c, 1); /* over the last two axes (6, 6) */
    return made(ctx, graft_layer_layer_norm(ctx, 2, 1e-5f, 1, &l), &l);
}

static graft_layer *make_matmul(graft_ctx *ctx, kind_case *c)
{
    graft_layer *l = NULL;
    image_input(c, 2); /* (N, 3, 6, 6) times (N, 3, 6, 6) */
    return made(ctx, graft_layer_matmul(ctx, &l), &l);
}

static graft_layer *make_conv_transpose2d(graft_ctx *ctx, kind_case *c)
{
    graft_layer *l = NULL;
    graft_conv_transpose2d_spec s = GRAFT_CONV_TRANSPOSE2D_SPEC_INIT;
    s.out_channels = 4;
    s.kernel_h = s.kernel_w = 3;
    s.stride_h = 2;
    s.dilation_w = 2;
    s.pad_top = s.pad_right = 1;
    s.output_padding_h = 1; /* (3, 6, 6) -> (4, 13, 9) */
    image_input(c, 1);
    return made(ctx, graft_layer_conv_transpose2d(ctx, &s, &l), &l);
}

/* The table, one entry per registered kind, in registry order. A kind
 * without a make_<name>() above is a compile error here. */
static const struct {
    const char *name;
    make_fn make;
} kind_table[] = {
#define GRAFT_LAYER_KIND(ENUM, name, vtable) [GRAFT_KIND_##ENUM] = {#name, make_##name},
#include "layers/kinds.h"
#undef GRAFT_LAYER_KIND
};
_Static_assert(sizeof kind_table / sizeof kind_table[0] == GRAFT_LAYER_KIND_COUNT,
               "every layer kind needs an entry in kind_table");

/* ---- helpers ------------------------------------------------------------------ */

typedef struct kind_run {
    graft_ctx *ctx;
    graft_layer *l;
    kind_case c;
    graft_tensor *x[MAX_CASE_INPUTS];
} kind_run;

/* Builds kind's layer and fills batch-2 inputs with distinct values (kinks
 * and max-pool ties stay away from the finite-difference steps). */
static void run_open(kind_run *r, int kind, graft_ctx *ctx)
{
    memset(r, 0, sizeof *r);
    r->ctx = ctx ? ctx : tu_ctx();
    r->l = kind_table[kind].make(r->ctx, &r->c);
    ck_assert_str_eq(graft_layer_kind(r->l), kind_table[kind].name);
    int64_t dims[5] = {2};
    memcpy(dims + 1, r->c.dims, (size_t)r->c.ndim * sizeof dims[0]);
    for (int i = 0; i < r->c.n_inputs; i++) {
        ck_assert_int_eq(graft_tensor_create(r->ctx, r->c.ndim + 1, dims, &r->x[i]), GRAFT_OK);
        tu_fill_distinct(r->x[i], (uint64_t)(kind * 7 + i), -2.1f, 0.0571f);
    }
    const graft_tensor *y = NULL;
    ck_assert_msg(graft_layer_forward(r->l, r->c.n_inputs, (const graft_tensor *const *)r->x,
                                      &y) == GRAFT_OK,
                  "%s: %s", kind_table[kind].name, graft_errmsg(r->ctx));
    /* parameters away from zero and one, so that every term matters */
    for (int k = 0; k < graft_layer_param_count(r->l); k++) {
        graft_tensor *t = NULL;
        int trainable = 0;
        ck_assert_int_eq(graft_layer_param(r->l, k, NULL, &t, NULL, &trainable), GRAFT_OK);
        tu_fill_uniform(t, (uint64_t)(100 + kind * 5 + k), 0.3f, 1.2f);
    }
}

static void run_close(kind_run *r, int free_ctx)
{
    for (int i = 0; i < r->c.n_inputs; i++) graft_tensor_free(r->x[i]);
    graft_layer_free(r->l);
    if (free_ctx) graft_ctx_free(r->ctx);
}

/* ---- the checks ------------------------------------------------------------------ */

START_TEST(test_registry_entry)
{
    const graftLayerVtbl *v = graftLayerKindAt(_i);
    ck_assert_ptr_nonnull(v);
    ck_assert_str_eq(v->kind, kind_table[_i].name);
    ck_assert_ptr_eq(graftLayerKindByName(v->kind), v);
    ck_assert(v->infer_shape && v->forward && v->backward);
    ck_assert(v->min_inputs >= 1 && v->max_inputs >= v->min_inputs);
    ck_assert(v->max_inputs <= GRAFT_LAYER_MAX_INPUTS);
    ck_assert(v->version >= 1);
    ck_assert(!v->save == !v->load);
    ck_assert_msg(v->onnx_export != NULL, "%s has no ONNX export", v->kind);
    for (const graftAttrDecl *a = v->attrs; a && a->name; a++) {
        ck_assert(a->count >= 1 && a->count <= GRAFT_ATTR_MAX_COUNT);
        ck_assert(a->offset + (size_t)a->count * 4 <= v->state_size);
        for (const graftAttrDecl *b = v->attrs; b != a; b++)
            ck_assert_msg(strcmp(a->name, b->name) != 0, "%s: attribute %s twice", v->kind,
                          a->name);
    }
    /* names are unique across the registry */
    for (int k = 0; k < _i; k++) ck_assert_str_ne(graftLayerKindAt(k)->kind, v->kind);
}
END_TEST

START_TEST(test_has_torch_reference)
{
    FILE *f = fopen("tests/data/torch_refs.txt", "r");
    ck_assert_msg(f != NULL, "tests/data/torch_refs.txt is missing (run from the source root)");
    char line[256], want[96];
    snprintf(want, sizeof want, " %s\n", kind_table[_i].name);
    int found = 0;
    while (!found && fgets(line, sizeof line, f)) {
        size_t n = strlen(line), w = strlen(want);
        found = strncmp(line, "case ", 5) == 0 && n > w && strcmp(line + n - w, want) == 0;
    }
    fclose(f);
    ck_assert_msg(found, "kind %s has no PyTorch reference case in tests/data/torch_refs.txt "
                  "(add one to tests/make_torch_refs.py and run make refs)", kind_table[_i].name);
}
END_TEST

static void reseed(graft_layer *l, void *arg)
{
    (void)arg;
    if (l->vtbl->reseed) l->vtbl->reseed(l, 12345);
}

START_TEST(test_gradients)
{
    kind_run r;
    run_open(&r, _i, NULL);
    if (r.c.gradcheck_inference) ck_assert_int_eq(graft_layer_set_training(r.l, 0), GRAFT_OK);
    tu_gradcheck_opts o = {1e-2, 3e-3, 2e-2, reseed, NULL, 0, 0};
    size_t n = tu_gradcheck(r.l, r.c.n_inputs, r.x, &o);
    ck_assert_msg(n > 0, "%s: nothing was compared", kind_table[_i].name);
    run_close(&r, 1);
}
END_TEST

START_TEST(test_save_load_attributes_and_truncations)
{
    kind_run r;
    run_open(&r, _i, NULL);
    tu_check_roundtrip(r.l, r.c.n_inputs, r.x); /* bits, parameters, truncations */
    graftWriter w;
    graftWriterInit(&w, r.ctx);
    ck_assert_int_eq(graftLayerSave(r.l, &w), GRAFT_OK);
    graftReader rd;
    graftReaderInit(&rd, r.ctx, w.data, w.size);
    graft_layer *copy = NULL;
    ck_assert_int_eq(graftLayerLoad(r.ctx, &rd, &copy), GRAFT_OK);
    for (const graftAttrDecl *a = r.l->vtbl->attrs; a && a->name; a++) {
        float fa[GRAFT_ATTR_MAX_COUNT], fb[GRAFT_ATTR_MAX_COUNT];
        int n = graftLayerAttrFloats(r.l, a->name, fa, GRAFT_ATTR_MAX_COUNT);
        ck_assert_int_eq(n, a->count);
        ck_assert_int_eq(graftLayerAttrFloats(copy, a->name, fb, GRAFT_ATTR_MAX_COUNT), n);
        ck_assert_msg(memcmp(fa, fb, (size_t)n * sizeof fa[0]) == 0, "%s: attribute %s changed",
                      kind_table[_i].name, a->name);
    }
    int64_t v[GRAFT_ATTR_MAX_COUNT];
    ck_assert_int_eq(graftLayerAttrInts(r.l, "no such attribute", v, GRAFT_ATTR_MAX_COUNT), 0);
    graft_layer_free(copy);
    graftWriterDispose(&w);
    run_close(&r, 1);
}
END_TEST

START_TEST(test_onnx_round_trip)
{
    graft_ctx *ctx = tu_ctx();
    kind_run r;
    run_open(&r, _i, ctx);
    graft_model *m = NULL;
    ck_assert_int_eq(graft_model_create(ctx, r.c.ndim, r.c.dims, 3, &m), GRAFT_OK);
    const char *ins[MAX_CASE_INPUTS] = {"input", "input", "input"};
    ck_assert_msg(graft_model_add(m, "k", r.l, r.c.n_inputs, ins) == GRAFT_OK, "%s",
                  graft_errmsg(ctx));
    graft_layer *l = r.l;
    r.l = NULL; /* the model owns it now */
    if (r.c.onnx_kind && !r.c.onnx_kind[0]) {
        /* a kind that may vanish on import (dropout) must not be the whole
         * graph: a tanh after it keeps one layer */
        graft_layer *tail = NULL;
        const char *from = "k";
        ck_assert_int_eq(graft_layer_tanh(ctx, &tail), GRAFT_OK);
        ck_assert_int_eq(graft_model_add(m, "tail", tail, 1, &from), GRAFT_OK);
    }
    for (int k = 0; k < graft_layer_param_count(l); k++) {
        graft_tensor *t = NULL;
        ck_assert_int_eq(graft_layer_param(l, k, NULL, &t, NULL, NULL), GRAFT_OK);
        tu_fill_uniform(t, (uint64_t)(200 + k), 0.3f, 1.2f);
    }
    void *buf = NULL;
    size_t size = 0;
    ck_assert_msg(graft_onnx_export_buffer(m, NULL, &buf, &size) == GRAFT_OK, "%s: %s",
                  kind_table[_i].name, graft_errmsg(ctx));
    graft_onnx_import_opts io = GRAFT_ONNX_IMPORT_OPTS_INIT;
    io.keep_softmax = 1;
    graft_model *m2 = NULL;
    ck_assert_msg(graft_onnx_import_buffer(ctx, buf, size, &io, &m2) == GRAFT_OK, "%s: %s",
                  kind_table[_i].name, graft_errmsg(ctx));
    graft_onnx_buffer_free(ctx, buf);
    const char *want = r.c.onnx_kind ? r.c.onnx_kind : kind_table[_i].name;
    if (want[0]) {
        int at = graft_model_find_layer(m2, "k");
        ck_assert_msg(at >= 0, "%s: layer k is gone after the round trip", want);
        ck_assert_str_eq(graft_layer_kind(graft_model_layer(m2, at)), want);
    }
    const graft_tensor *y = NULL, *y2 = NULL;
    ck_assert_int_eq(graft_model_forward(m, r.x[0], &y), GRAFT_OK);
    size_t n = graft_tensor_numel(y);
    float *copy = malloc(n * sizeof *copy);
    memcpy(copy, graft_tensor_data_const(y), n * sizeof *copy);
    ck_assert_msg(graft_model_forward(m2, r.x[0], &y2) == GRAFT_OK, "%s", graft_errmsg(ctx));
    ck_assert_uint_eq(graft_tensor_numel(y2), n);
    tu_assert_close(graft_tensor_data_const(y2), copy, n, 1e-6f, 1e-5f, kind_table[_i].name);
    free(copy);
    graft_model_free(m2);
    graft_model_free(m);
    run_close(&r, 1);
}
END_TEST

/* After the first step at a batch size, forward and backward allocate
 * nothing: the hot loop of training is allocation-free. */
START_TEST(test_steady_state_steps_do_not_allocate)
{
    tu_alloc_counter c = {0, 0, 0, 0};
    kind_run r;
    run_open(&r, _i, tu_counting_ctx(&c));
    const graft_tensor *const *in = (const graft_tensor *const *)r.x;
    const graft_tensor *y = NULL, *dx[MAX_CASE_INPUTS];
    for (int round = 0; round < 3; round++) {
        long before = c.allocs;
        ck_assert_int_eq(graft_layer_forward(r.l, r.c.n_inputs, in, &y), GRAFT_OK);
        ck_assert_int_eq(graft_layer_backward(r.l, r.c.n_inputs, in, y, dx), GRAFT_OK);
        if (round > 0)
            ck_assert_msg(c.allocs == before, "%s: step %d allocated %ld blocks",
                          kind_table[_i].name, round + 1, c.allocs - before);
    }
    /* inference mode and backward without input gradients work too */
    ck_assert_int_eq(graft_layer_set_training(r.l, 0), GRAFT_OK);
    ck_assert_int_eq(graft_layer_forward(r.l, r.c.n_inputs, in, &y), GRAFT_OK);
    ck_assert_int_eq(graft_layer_backward(r.l, r.c.n_inputs, in, y, NULL), GRAFT_OK);
    run_close(&r, 1);
    ck_assert_int_eq(c.allocs, c.frees);
}
END_TEST

Suite *suite_kinds(void)
{
    Suite *s = suite_create("kinds");
    TCase *tc = tcase_create("every kind");
    tcase_add_loop_test(tc, test_registry_entry, 0, GRAFT_LAYER_KIND_COUNT);
    tcase_add_loop_test(tc, test_has_torch_reference, 0, GRAFT_LAYER_KIND_COUNT);
    tcase_add_loop_test(tc, test_gradients, 0, GRAFT_LAYER_KIND_COUNT);
    tcase_add_loop_test(tc, test_save_load_attributes_and_truncations, 0,
                        GRAFT_LAYER_KIND_COUNT);
    tcase_add_loop_test(tc, test_onnx_round_trip, 0, GRAFT_LAYER_KIND_COUNT);
    tcase_add_loop_test(tc, test_steady_state_steps_do_not_allocate, 0, GRAFT_LAYER_KIND_COUNT);
    suite_add_tcase(s, tc);
    return s;
}
