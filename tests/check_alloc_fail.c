/*
 * check_alloc_fail.c - allocation failures injected through the context's
 * allocator hook (graft_ctx_create_advanced()).
 *
 * For each operation below, a first run counts the N allocations it makes;
 * then, for k = 1 to N, a fresh context fails the k-th allocation of the
 * operation, in two modes: once (later allocations succeed again) and for
 * good (every allocation from the k-th on fails). Each time the operation
 * must return GRAFT_E_NOMEM (or, where graft documents a fallback, succeed),
 * with a message naming the public function, set its out-pointers to NULL,
 * leave every handle it was given usable (the operation then succeeds when
 * run again without failures, and the objects still compute), and, once
 * everything is freed, the allocator must have seen as many frees as
 * allocations.
 *
 * Operations: loading a model (from a buffer and from a file), loading a
 * checkpoint, the layer constructors, graft_model_create, graft_model_add of
 * several kinds (one and two inputs), datasets from memory (copied and
 * borrowed) and their split, a training step (graft_model_fit of one epoch of
 * one batch, with SGD and Adam, with optimizer state already there, with a
 * validation set, and over a frozen trunk whose features are cached),
 * evaluation, prediction, and saving a model and a checkpoint (the file
 * already at the path must stay as it was, with no temporary file left).
 */
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

Suite *suite_alloc_fail(void);

/* ---- scenarios ----------------------------------------------------------------------- */

/* One operation under test. setup builds what it needs (allocations not
 * failed); run is the operation (its k-th allocation fails) and returns its
 * status; after checks the state after run (again without failures) and
 * that every handle still works; teardown frees everything. fallback, when
 * set, says whether run may succeed although an allocation of the given
 * size failed. func is the public function whose name the message must
 * carry (NULL: run names it in state->func). */
typedef struct scenario {
    const char *name;
    const char *func;
    void (*setup)(graft_ctx *ctx, void *state);
    int (*run)(void *state);
    void (*after)(void *state, int status);
    void (*teardown)(void *state);
    int (*fallback)(void *state, size_t size);
    size_t state_size;
} scenario;

/* Common state header: every scenario's state starts with it. */
typedef struct base_state {
    graft_ctx *ctx;
    const char *func; /* for scenarios whose function varies */
} base_state;

/* The message of a failure: "function(): cause", the same in the context
 * and the thread's slot. With GRAFT_STRICT_MESSAGES set in the environment,
 * function must also be the public function called (graft_errmsg()'s
 * documented form), not an internal helper. */
static void check_message(const scenario *s, void *state, graft_ctx *ctx, long k)
{
    const char *msg = graft_errmsg(ctx), *sep = strstr(msg, "(): ");
    ck_assert_msg(sep && sep > msg && sep[4] != '\0',
                  "%s: allocation %ld failed; the message \"%s\" is not \"function(): cause\"",
                  s->name, k, msg);
    ck_assert_msg(strcmp(graft_errmsg(NULL), msg) == 0,
                  "%s: allocation %ld failed; the thread's message \"%s\" differs from the "
                  "context's \"%s\"", s->name, k, graft_errmsg(NULL), msg);
    const char *strict = getenv("GRAFT_STRICT_MESSAGES");
    if (strict && strict[0] && strcmp(strict, "0") != 0) {
        const char *func = s->func ? s->func : ((base_state *)state)->func;
        size_t n = strlen(func);
        ck_assert_msg(strncmp(msg, func, n) == 0 && strncmp(msg + n, "(): ", 4) == 0,
                      "%s: allocation %ld failed; the message \"%s\" does not start with "
                      "\"%s(): \"", s->name, k, msg, func);
    }
}

/* Runs s once without failures and returns how many allocations run made. */
static long count_allocations(const scenario *s)
{
    tu_fail_heap h;
    graft_ctx *ctx = tu_fail_heap_ctx(&h);
    void *state = calloc(1, s->state_size);
    ck_assert_ptr_nonnull(state);
    ((base_state *)state)->ctx = ctx;
    s->setup(ctx, state);
    tu_fail_heap_arm(&h, 0, 0);
    int st = s->run(state);
    h.armed = 0;
    ck_assert_msg(st == GRAFT_OK, "%s: fails without injected failures: %d: %s", s->name, st,
                  graft_errmsg(ctx));
    s->after(state, st);
    s->teardown(state);
    graft_ctx_free(ctx);
    ck_assert_msg(h.allocs == h.frees, "%s: %ld allocations, %ld frees without failures",
                  s->name, h.allocs, h.frees);
    free(state);
    return h.calls;
}

/* Fails each allocation of s in turn, in both modes. Returns the number of
 * runs that ended in GRAFT_E_NOMEM. */
static long run_scenario(const scenario *s)
{
    long n = count_allocations(s), nomem = 0;
    ck_assert_msg(n > 0, "%s makes no allocation: nothing to test", s->name);
    for (int persistent = 0; persistent <= 1; persistent++) {
        for (long k = 1; k <= n; k++) {
            tu_fail_heap h;
            graft_ctx *ctx = tu_fail_heap_ctx(&h);
            void *state = calloc(1, s->state_size);
            ck_assert_ptr_nonnull(state);
            ((base_state *)state)->ctx = ctx;
            s->setup(ctx, state);
            tu_fail_heap_arm(&h, k, persistent);
            int st = s->run(state);
            h.armed = 0;
            ck_assert_msg(h.injected > 0, "%s: allocation %ld of %ld was never requested", s->name,
                          k, n);
            if (st == GRAFT_OK) {
                ck_assert_msg(s->fallback && s->fallback(state, h.first_size),
                              "%s: succeeded although allocation %ld (%zu bytes, %s) failed",
                              s->name, k, h.first_size, persistent ? "for good" : "once");
            } else {
                ck_assert_msg(st == GRAFT_E_NOMEM,
                              "%s: allocation %ld of %ld (%s) failed; returned %d, not "
                              "GRAFT_E_NOMEM: %s", s->name, k, n, persistent ? "for good" : "once",
                              st, graft_errmsg(ctx));
                nomem++;
                check_message(s, state, ctx, k);
            }
            s->after(state, st);
            s->teardown(state);
            graft_ctx_free(ctx);
            ck_assert_msg(h.allocs == h.frees,
                          "%s: allocation %ld (%s) failed: %ld allocations but %ld frees "
                          "(a leak)", s->name, k, persistent ? "for good" : "once", h.allocs,
                          h.frees);
            free(state);
        }
    }
    return nomem;
}

/* ---- shared fixtures ------------------------------------------------------------------- */

#define SIDE 6
#define CLASSES 3

static void add_ok(graft_model *m, const char *name, graft_layer *l, const char *a, const char *b)
{
    const char *ins[2] = {a, b};
    int n = b ? 2 : a ? 1 : 0;
    int st = graft_model_add(m, name, l, n, n ? ins : NULL);
    ck_assert_msg(st == GRAFT_OK, "adding %s: %s", name, graft_errmsg(NULL));
}

/* conv - batch norm - relu - (depthwise conv, add) - max pool - concat with
 * an average pool of the input - dropout - flatten - dense - class names,
 * and a learning-rate multiplier (an XFER section in its files). */
static graft_model *test_model(graft_ctx *ctx, uint64_t seed, int dropout)
{
    const int64_t dims[3] = {1, SIDE, SIDE};
    graft_model *m = NULL;
    graft_layer *l = NULL;
    ck_assert_int_eq(graft_model_create(ctx, 3, dims, seed, &m), GRAFT_OK);
    graft_conv2d_spec cs = GRAFT_CONV2D_SPEC_INIT;
    cs.out_channels = 3;
    cs.kernel_h = cs.kernel_w = 3;
    cs.pad_top = cs.pad_left = cs.pad_bottom = cs.pad_right = 1;
    ck_assert_int_eq(graft_layer_conv2d(ctx, &cs, &l), GRAFT_OK);
    add_ok(m, "conv", l, NULL, NULL);
    ck_assert_int_eq(graft_layer_batch_norm(ctx, 1e-5f, 0.1f, &l), GRAFT_OK);
    add_ok(m, "bn", l, NULL, NULL);
    ck_assert_int_eq(graft_layer_relu(ctx, &l), GRAFT_OK);
    add_ok(m, "relu", l, NULL, NULL);
    cs.groups = 3;
    ck_assert_int_eq(graft_layer_conv2d(ctx, &cs, &l), GRAFT_OK);
    add_ok(m, "dw", l, NULL, NULL);
    ck_assert_int_eq(graft_layer_add(ctx, &l), GRAFT_OK);
    add_ok(m, "res", l, "relu", "dw");
    graft_pool2d_spec ps = GRAFT_POOL2D_SPEC_INIT;
    ps.kernel_h = ps.kernel_w = ps.stride_h = ps.stride_w = 2;
    ck_assert_int_eq(graft_layer_max_pool2d(ctx, &ps, &l), GRAFT_OK);
    add_ok(m, "pool", l, NULL, NULL);
    ck_assert_int_eq(graft_layer_avg_pool2d(ctx, &ps, &l), GRAFT_OK);
    add_ok(m, "side", l, GRAFT_MODEL_INPUT, NULL);
    ck_assert_int_eq(graft_layer_concat(ctx, &l), GRAFT_OK);
    add_ok(m, "cat", l, "pool", "side");
    if (dropout) {
        ck_assert_int_eq(graft_layer_dropout(ctx, 0.25f, 3, &l), GRAFT_OK);
        add_ok(m, "drop", l, NULL, NULL);
    }
    ck_assert_int_eq(graft_layer_flatten(ctx, &l), GRAFT_OK);
    add_ok(m, "flat", l, NULL, NULL);
    ck_assert_int_eq(graft_layer_dense(ctx, CLASSES, 1, &l), GRAFT_OK);
    add_ok(m, "fc", l, NULL, NULL);
    const char *names[CLASSES] = {"left", "middle", "right"};
    ck_assert_int_eq(graft_model_set_class_names(m, CLASSES, names), GRAFT_OK);
    ck_assert_int_eq(graft_model_set_lr_scale(m, 0, 1, 0.5f), GRAFT_OK);
    return m;
}

#define SAMPLES 6

static void test_data(float *x, int32_t *y)
{
    for (int i = 0; i < SAMPLES * SIDE * SIDE; i++) x[i] = (float)((i * 13) % 11) / 5.0f - 1.0f;
    for (int i = 0; i < SAMPLES; i++) y[i] = i % CLASSES;
}

static graft_dataset *test_dataset(graft_ctx *ctx)
{
    float x[SAMPLES * SIDE * SIDE];
    int32_t y[SAMPLES];
    test_data(x, y);
    const int64_t dims[3] = {1, SIDE, SIDE};
    graft_dataset *ds = NULL;
    ck_assert_int_eq(graft_dataset_from_memory(ctx, SAMPLES, 3, dims, x, y, CLASSES, 1, &ds),
                     GRAFT_OK);
    return ds;
}

static graft_tensor *test_batch(graft_ctx *ctx)
{
    const int64_t dims[4] = {2, 1, SIDE, SIDE};
    graft_tensor *x = NULL;
    ck_assert_int_eq(graft_tensor_create(ctx, 4, dims, &x), GRAFT_OK);
    float *p = graft_tensor_data(x);
    for (size_t i = 0; i < graft_tensor_numel(x); i++) p[i] = (float)((i * 7) % 9) / 4.0f - 1.0f;
    return x;
}

/* The model computes, and its output on the test batch is finite. */
static void assert_model_runs(graft_ctx *ctx, graft_model *m)
{
    graft_tensor *x = test_batch(ctx);
    const graft_tensor *y = NULL;
    ck_assert_msg(graft_model_forward(m, x, &y) == GRAFT_OK, "forward: %s", graft_errmsg(ctx));
    ck_assert_int_eq((int)graft_tensor_numel(y), 2 * graft_model_class_count(m));
    for (size_t i = 0; i < graft_tensor_numel(y); i++)
        ck_assert(graft_tensor_data_const(y)[i] == graft_tensor_data_const(y)[i]);
    graft_tensor_free(x);
}

static void fit_one_batch(graft_ctx *ctx, graft_model *m, graft_optim *o, graft_dataset *ds,
                          graft_dataset *val)
{
    graft_fit_opts fo = GRAFT_FIT_OPTS_INIT;
    fo.batch_size = SAMPLES;
    fo.seed = 4;
    int st = graft_model_fit(m, o, ds, val, &fo);
    ck_assert_msg(st == GRAFT_OK, "fit: %s", graft_errmsg(ctx));
}

/* A folder under /tmp, and the files saved by a fixture model (made once). */
static char tmp_dir[256], model_file[320], ckpt_file[320];
static unsigned char *model_bytes;
static size_t model_size;

static void files_setup(void)
{
    tu_make_dir(tmp_dir, sizeof tmp_dir, "allocfail");
    snprintf(model_file, sizeof model_file, "%s/fixture.graft", tmp_dir);
    snprintf(ckpt_file, sizeof ckpt_file, "%s/fixture.ckpt", tmp_dir);
    graft_ctx *ctx = tu_ctx();
    ck_assert_int_eq(graft_ctx_set_int(ctx, GRAFT_CTX_USE_BLAS, 0), GRAFT_OK);
    graft_model *m = test_model(ctx, 5, 1);
    ck_assert_int_eq(graft_model_schedule_unfreeze(m, "dw", 3, 0.1f), GRAFT_OK);
    graft_dataset *ds = test_dataset(ctx);
    graft_optim *o = NULL;
    ck_assert_int_eq(graft_optim_create(ctx, GRAFT_OPTIM_ADAM, &o), GRAFT_OK);
    fit_one_batch(ctx, m, o, ds, NULL);
    ck_assert_int_eq(graft_model_save(m, model_file), GRAFT_OK);
    ck_assert_int_eq(graft_checkpoint_save(m, o, ckpt_file), GRAFT_OK);
    model_bytes = tu_read_file(model_file, &model_size);
    graft_dataset_free(ds);
    graft_optim_free(o);
    graft_model_free(m);
    graft_ctx_free(ctx);
}

static void files_teardown(void)
{
    free(model_bytes);
    model_bytes = NULL;
    tu_rm_tree(tmp_dir); /* with what a failed save test may have left */
}

/* ---- loading ------------------------------------------------------------------------------ */

typedef struct load_state {
    base_state b;
    graft_model *m;
    graft_optim *o;
    int from_file, checkpoint;
} load_state;

static void load_setup(graft_ctx *ctx, void *p)
{
    (void)ctx;
    load_state *s = p;
    s->m = (graft_model *)s; /* must be overwritten with NULL on failure */
    s->o = (graft_optim *)s;
}

static int load_run(void *p)
{
    load_state *s = p;
    if (s->checkpoint) return graft_checkpoint_load(s->b.ctx, ckpt_file, &s->m, &s->o);
    if (s->from_file) return graft_model_load(s->b.ctx, model_file, &s->m);
    return graft_model_load_buffer(s->b.ctx, model_bytes, model_size, &s->m);
}

static void load_buffer_setup(graft_ctx *ctx, void *p)
{
    load_setup(ctx, p);
}

static void load_file_setup(graft_ctx *ctx, void *p)
{
    load_setup(ctx, p);
    ((load_state *)p)->from_file = 1;
}

static void load_ckpt_setup(graft_ctx *ctx, void *p)
{
    load_setup(ctx, p);
    ((load_state *)p)->checkpoint = 1;
}

static void load_after(void *p, int status)
{
    load_state *s = p;
    if (status != GRAFT_OK) {
        ck_assert_ptr_null(s->m);
        if (s->checkpoint) ck_assert_ptr_null(s->o);
        ck_assert_int_eq(load_run(s), GRAFT_OK); /* the context still works */
    }
    ck_assert_int_eq(graft_model_layer_count(s->m), 11);
    ck_assert_str_eq(graft_model_class_name(s->m, 2), "right");
    assert_model_runs(s->b.ctx, s->m);
    if (s->checkpoint) {
        ck_assert_int_eq(graft_optim_steps(s->o), 1);
        graft_dataset *ds = test_dataset(s->b.ctx);
        fit_one_batch(s->b.ctx, s->m, s->o, ds, NULL);
        graft_dataset_free(ds);
    }
}

static void load_teardown(void *p)
{
    load_state *s = p;
    graft_optim_free(s->checkpoint ? s->o : NULL);
    graft_model_free(s->m);
}

START_TEST(test_model_load_buffer)
{
    const scenario s = {"graft_model_load_buffer", "graft_model_load_buffer", load_buffer_setup,
                        load_run, load_after, load_teardown, NULL, sizeof(load_state)};
    ck_assert_int_gt(run_scenario(&s), 0);
}
END_TEST

START_TEST(test_model_load_file)
{
    const scenario s = {"graft_model_load", "graft_model_load", load_file_setup, load_run,
                        load_after, load_teardown, NULL, sizeof(load_state)};
    ck_assert_int_gt(run_scenario(&s), 0);
}
END_TEST

START_TEST(test_checkpoint_load)
{
    const scenario s = {"graft_checkpoint_load", "graft_checkpoint_load", load_ckpt_setup,
                        load_run, load_after, load_teardown, NULL, sizeof(load_state)};
    ck_assert_int_gt(run_scenario(&s), 0);
}
END_TEST

/* ---- layers and model building --------------------------------------------------------------- */

#define N_KINDS 17

typedef struct ctor_state {
    base_state b;
    graft_layer *layers[N_KINDS];
    int made;
} ctor_state;

static void ctor_setup(graft_ctx *ctx, void *p)
{
    (void)ctx;
    (void)p;
}

/* Every constructor in turn; stops at the first failure, whose function
 * it records. */
static int ctor_run(void *p)
{
    ctor_state *s = p;
    graft_ctx *ctx = s->b.ctx;
    graft_conv2d_spec cs = GRAFT_CONV2D_SPEC_INIT;
    cs.out_channels = 2;
    graft_pool2d_spec ps = GRAFT_POOL2D_SPEC_INIT;
    for (int i = 0; i < N_KINDS; i++) {
        graft_layer **out = &s->layers[i];
        int st;
        *out = (graft_layer *)s;
        switch (i) {
        case 0: s->b.func = "graft_layer_conv2d"; st = graft_layer_conv2d(ctx, &cs, out); break;
        case 1: s->b.func = "graft_layer_max_pool2d"; st = graft_layer_max_pool2d(ctx, &ps, out); break;
        case 2: s->b.func = "graft_layer_avg_pool2d"; st = graft_layer_avg_pool2d(ctx, &ps, out); break;
        case 3: s->b.func = "graft_layer_global_avg_pool"; st = graft_layer_global_avg_pool(ctx, out); break;
        case 4: s->b.func = "graft_layer_dense"; st = graft_layer_dense(ctx, 4, 1, out); break;
        case 5: s->b.func = "graft_layer_batch_norm"; st = graft_layer_batch_norm(ctx, 1e-3f, 0.1f, out); break;
        case 6: s->b.func = "graft_layer_relu"; st = graft_layer_relu(ctx, out); break;
        case 7: s->b.func = "graft_layer_clip"; st = graft_layer_clip(ctx, 0, 6, out); break;
        case 8: s->b.func = "graft_layer_leaky_relu"; st = graft_layer_leaky_relu(ctx, 0.1f, out); break;
        case 9: s->b.func = "graft_layer_sigmoid"; st = graft_layer_sigmoid(ctx, out); break;
        case 10: s->b.func = "graft_layer_tanh"; st = graft_layer_tanh(ctx, out); break;
        case 11: s->b.func = "graft_layer_hard_swish"; st = graft_layer_hard_swish(ctx, out); break;
        case 12: s->b.func = "graft_layer_dropout"; st = graft_layer_dropout(ctx, 0.5f, 1, out); break;
        case 13: s->b.func = "graft_layer_flatten"; st = graft_layer_flatten(ctx, out); break;
        case 14: s->b.func = "graft_layer_add"; st = graft_layer_add(ctx, out); break;
        case 15: s->b.func = "graft_layer_concat"; st = graft_layer_concat(ctx, out); break;
        default: s->b.func = "graft_layer_softmax"; st = graft_layer_softmax(ctx, out); break;
        }
        if (st != GRAFT_OK) {
            ck_assert_ptr_null(*out);
            return st;
        }
        ck_assert_ptr_nonnull(*out);
        s->made++;
    }
    return GRAFT_OK;
}

static void ctor_after(void *p, int status)
{
    ctor_state *s = p;
    (void)status;
    for (int i = 0; i < s->made; i++) ck_assert(graft_layer_kind(s->layers[i])[0] != '\0');
}

static void ctor_teardown(void *p)
{
    ctor_state *s = p;
    for (int i = 0; i < s->made; i++) graft_layer_free(s->layers[i]);
}

START_TEST(test_layer_constructors)
{
    const scenario s = {"layer constructors", NULL, ctor_setup, ctor_run, ctor_after,
                        ctor_teardown, NULL, sizeof(ctor_state)};
    ck_assert_int_ge(run_scenario(&s), 2 * N_KINDS);
}
END_TEST

typedef struct create_state {
    base_state b;
    graft_model *m;
} create_state;

static void create_setup(graft_ctx *ctx, void *p)
{
    (void)ctx;
    ((create_state *)p)->m = (graft_model *)p;
}

static int create_run(void *p)
{
    create_state *s = p;
    const int64_t dims[3] = {1, SIDE, SIDE};
    return graft_model_create(s->b.ctx, 3, dims, 1, &s->m);
}

static void create_after(void *p, int status)
{
    create_state *s = p;
    if (status != GRAFT_OK) {
        ck_assert_ptr_null(s->m);
        ck_assert_int_eq(create_run(s), GRAFT_OK);
    }
    ck_assert_int_eq(graft_model_layer_count(s->m), 0);
}

static void create_teardown(void *p)
{
    graft_model_free(((create_state *)p)->m);
}

START_TEST(test_model_create)
{
    const scenario s = {"graft_model_create", "graft_model_create", create_setup, create_run,
                        create_after, create_teardown, NULL, sizeof(create_state)};
    ck_assert_int_gt(run_scenario(&s), 0);
}
END_TEST

/* graft_model_add of one kind onto a model of conv - relu (and the input,
 * for two-input kinds); the kind is the test's loop index. */
typedef struct add_state {
    base_state b;
    graft_model *m;
    graft_layer *layer;
    int kind;
} add_state;

static graft_layer *add_kind_layer(graft_ctx *ctx, int kind)
{
    graft_layer *l = NULL;
    graft_conv2d_spec cs = GRAFT_CONV2D_SPEC_INIT;
    cs.out_channels = 2;
    cs.kernel_h = cs.kernel_w = 3;
    cs.pad_top = cs.pad_left = cs.pad_bottom = cs.pad_right = 1;
    graft_pool2d_spec ps = GRAFT_POOL2D_SPEC_INIT;
    ps.kernel_h = ps.kernel_w = 2;
    int st;
    switch (kind) {
    case 0: st = graft_layer_conv2d(ctx, &cs, &l); break;
    case 1: st = graft_layer_batch_norm(ctx, 1e-5f, 0.1f, &l); break;
    case 2: st = graft_layer_dense(ctx, 5, 1, &l); break;
    case 3: st = graft_layer_max_pool2d(ctx, &ps, &l); break;
    case 4: st = graft_layer_add(ctx, &l); break;
    case 5: st = graft_layer_concat(ctx, &l); break;
    case 6: st = graft_layer_dropout(ctx, 0.5f, 2, &l); break;
    default: st = graft_layer_flatten(ctx, &l); break;
    }
    ck_assert_int_eq(st, GRAFT_OK);
    return l;
}
#define ADD_KINDS 8

static const char *const add_names[ADD_KINDS] = {"conv2d", "batch_norm", "dense", "max_pool2d",
                                                 "add", "concat", "dropout", "flatten"};

static int add_run(void *p)
{
    add_state *s = p;
    graft_layer *l = s->layer;
    s->layer = NULL; /* consumed either way */
    if (s->kind == 4) {
        const char *ins[2] = {"c1", "r1"}; /* both (2, 6, 6) */
        return graft_model_add(s->m, "new", l, 2, ins);
    }
    if (s->kind == 5) {
        const char *ins[2] = {"r1", GRAFT_MODEL_INPUT};
        return graft_model_add(s->m, "new", l, 2, ins);
    }
    return graft_model_add(s->m, "new", l, 0, NULL);
}

static void add_after(void *p, int status)
{
    add_state *s = p;
    ck_assert_int_eq(graft_model_layer_count(s->m), status == GRAFT_OK ? 3 : 2);
    ck_assert_int_eq(graft_model_find_layer(s->m, "new"), status == GRAFT_OK ? 2 : GRAFT_E_NOT_FOUND);
    if (status != GRAFT_OK) {
        s->layer = add_kind_layer(s->b.ctx, s->kind);
        ck_assert_int_eq(add_run(s), GRAFT_OK);
    }
    /* The model runs, new layer included. */
    graft_tensor *x = test_batch(s->b.ctx);
    const graft_tensor *y = NULL;
    ck_assert_msg(graft_model_forward(s->m, x, &y) == GRAFT_OK, "%s", graft_errmsg(s->b.ctx));
    ck_assert_int_eq(graft_tensor_dim(y, 0), 2);
    graft_tensor_free(x);
}

static void add_teardown(void *p)
{
    add_state *s = p;
    graft_layer_free(s->layer);
    graft_model_free(s->m);
}

static int add_kind; /* the kind the current run adds */

static void add_setup(graft_ctx *ctx, void *p)
{
    add_state *s = p;
    s->kind = add_kind;
    const int64_t dims[3] = {1, SIDE, SIDE};
    ck_assert_int_eq(graft_model_create(ctx, 3, dims, 3, &s->m), GRAFT_OK);
    graft_conv2d_spec cs = GRAFT_CONV2D_SPEC_INIT;
    cs.out_channels = 2;
    cs.kernel_h = cs.kernel_w = 3;
    cs.pad_top = cs.pad_left = cs.pad_bottom = cs.pad_right = 1;
    graft_layer *l = NULL;
    ck_assert_int_eq(graft_layer_conv2d(ctx, &cs, &l), GRAFT_OK);
    add_ok(s->m, "c1", l, NULL, NULL);
    ck_assert_int_eq(graft_layer_relu(ctx, &l), GRAFT_OK);
    add_ok(s->m, "r1", l, NULL, NULL);
    s->layer = add_kind_layer(ctx, s->kind);
}

START_TEST(test_model_add)
{
    add_kind = _i;
    char name[64];
    snprintf(name, sizeof name, "graft_model_add of %s", add_names[_i]);
    const scenario s = {name, "graft_model_add", add_setup, add_run, add_after, add_teardown,
                        NULL, sizeof(add_state)};
    ck_assert_int_gt(run_scenario(&s), 0);
}
END_TEST

/* ---- datasets --------------------------------------------------------------------------------- */

typedef struct data_state {
    base_state b;
    float x[SAMPLES * SIDE * SIDE];
    int32_t y[SAMPLES];
    graft_dataset *ds, *train, *val;
    int copy, split;
} data_state;

static int data_copy_mode, data_split_mode;

static void data_setup(graft_ctx *ctx, void *p)
{
    data_state *s = p;
    test_data(s->x, s->y);
    s->copy = data_copy_mode;
    s->split = data_split_mode;
    if (s->split) s->ds = test_dataset(ctx);
    else s->ds = (graft_dataset *)s;
    s->train = s->val = (graft_dataset *)s;
}

static int data_run(void *p)
{
    data_state *s = p;
    const int64_t dims[3] = {1, SIDE, SIDE};
    if (s->split) return graft_dataset_split(s->ds, 0.5, 8, &s->train, &s->val);
    return graft_dataset_from_memory(s->b.ctx, SAMPLES, 3, dims, s->x, s->y, CLASSES, s->copy,
                                     &s->ds);
}

static void data_after(void *p, int status)
{
    data_state *s = p;
    if (status != GRAFT_OK) {
        if (s->split) {
            ck_assert_ptr_null(s->train);
            ck_assert_ptr_null(s->val);
        } else {
            ck_assert_ptr_null(s->ds);
        }
        ck_assert_int_eq(data_run(s), GRAFT_OK);
    }
    float f[SIDE * SIDE];
    int32_t label;
    ck_assert_int_eq(graft_dataset_get(s->ds, 4, f, &label), GRAFT_OK);
    ck_assert_int_eq(label, 4 % CLASSES);
    ck_assert(f[3] == s->x[4 * SIDE * SIDE + 3]);
    if (s->split) {
        ck_assert_int_eq(graft_dataset_size(s->train) + graft_dataset_size(s->val), SAMPLES);
        ck_assert_int_eq(graft_dataset_get(s->val, 0, f, &label), GRAFT_OK);
    }
}

static void data_teardown(void *p)
{
    data_state *s = p;
    if (s->split) {
        graft_dataset_free(s->train);
        graft_dataset_free(s->val);
    }
    graft_dataset_free(s->ds);
}

START_TEST(test_dataset_from_memory)
{
    data_copy_mode = _i;
    data_split_mode = 0;
    const scenario s = {_i ? "graft_dataset_from_memory (copy)" : "graft_dataset_from_memory",
                        "graft_dataset_from_memory", data_setup, data_run, data_after,
                        data_teardown, NULL, sizeof(data_state)};
    ck_assert_int_gt(run_scenario(&s), 0);
}
END_TEST

START_TEST(test_dataset_split)
{
    data_copy_mode = 1;
    data_split_mode = 1;
    const scenario s = {"graft_dataset_split", "graft_dataset_split", data_setup, data_run,
                        data_after, data_teardown, NULL, sizeof(data_state)};
    ck_assert_int_gt(run_scenario(&s), 0);
}
END_TEST

/* ---- training, evaluation, prediction ----------------------------------------------------------- */

enum { FIT_SGD, FIT_ADAM_AGAIN, FIT_WITH_VAL, FIT_CACHED, FIT_CALLBACKS, FIT_LOSSES, FIT_MODES };
static const char *const fit_names[FIT_MODES] = {
    "graft_model_fit (SGD, first step)", "graft_model_fit (Adam, second step)",
    "graft_model_fit (validation set)", "graft_model_fit (frozen trunk, cached features)",
    "graft_model_fit (early stopping, restore and save best, reduce on plateau)",
    "graft_model_fit (class and sample weights, smoothing, clipping, mixup, cutmix)"};

typedef struct fit_state {
    base_state b;
    graft_model *m;
    graft_optim *o;
    graft_dataset *ds, *val;
    graft_eval *ev;
    int mode;
    int64_t epochs_before, steps_before;
    size_t cache_row; /* floats per sample of the cached trunk output */
    float *params;    /* every trained parameter before the run */
    size_t n_params;
    char dir[256], best[300]; /* FIT_CALLBACKS: the save_best checkpoint */
} fit_state;

/* Every trained parameter of m (those with a gradient; buffers such as batch
 * norm's running statistics excluded), in order, into a new array. */
static float *copy_params(graft_model *m, size_t *n)
{
    float *all = NULL;
    *n = 0;
    for (int i = 0; i < graft_model_layer_count(m); i++) {
        graft_layer *l = graft_model_layer(m, i);
        for (int p = 0; p < graft_layer_param_count(l); p++) {
            graft_tensor *t = NULL;
            const graft_tensor *grad = NULL;
            ck_assert_int_eq(graft_layer_param(l, p, NULL, &t, &grad, NULL), GRAFT_OK);
            if (!grad) continue;
            size_t k = graft_tensor_numel(t);
            all = realloc(all, (*n + k) * sizeof *all);
            ck_assert_ptr_nonnull(all);
            memcpy(all + *n, graft_tensor_data_const(t), k * sizeof *all);
            *n += k;
        }
    }
    return all;
}

static int fit_mode;

static void fit_setup(graft_ctx *ctx, void *p)
{
    fit_state *s = p;
    s->mode = fit_mode;
    s->m = test_model(ctx, 9, s->mode != FIT_CACHED);
    s->ds = test_dataset(ctx);
    ck_assert_int_eq(graft_optim_create(ctx, s->mode == FIT_ADAM_AGAIN ? GRAFT_OPTIM_ADAM
                                                                        : GRAFT_OPTIM_SGD, &s->o),
                     GRAFT_OK);
    if (s->mode == FIT_SGD) ck_assert_int_eq(graft_optim_set(s->o, GRAFT_OPT_MOMENTUM, 0.9), GRAFT_OK);
    if (s->mode == FIT_ADAM_AGAIN) fit_one_batch(ctx, s->m, s->o, s->ds, NULL);
    if (s->mode == FIT_WITH_VAL || s->mode == FIT_CALLBACKS) s->val = test_dataset(ctx);
    if (s->mode == FIT_CALLBACKS) {
        tu_make_dir(s->dir, sizeof s->dir, "allocfit");
        snprintf(s->best, sizeof s->best, "%s/best.ckpt", s->dir);
    }
    if (s->mode == FIT_CACHED) {
        /* No dropout in the trunk, so its features can be cached. */
        ck_assert_int_eq(graft_model_freeze_through(s->m, "flat"), GRAFT_OK);
        int ndim;
        int64_t dims[GRAFT_MAX_DIMS];
        ck_assert_int_eq(graft_model_layer_output_shape(s->m, graft_model_find_layer(s->m, "flat"),
                                                        &ndim, dims), GRAFT_OK);
        ck_assert_int_eq(ndim, 1);
        s->cache_row = (size_t)dims[0];
    }
    s->epochs_before = graft_model_epochs_done(s->m);
    s->steps_before = graft_optim_steps(s->o);
    s->params = copy_params(s->m, &s->n_params);
}

static int fit_run(void *p)
{
    fit_state *s = p;
    graft_fit_opts fo = GRAFT_FIT_OPTS_INIT;
    fo.batch_size = SAMPLES;
    fo.seed = 4;
    if (s->mode == FIT_CALLBACKS) {
        fo.early_stop_patience = 1;
        fo.restore_best = 1;
        fo.save_best = s->best;
        fo.plateau_factor = 0.5;
    }
    static const float class_w[CLASSES] = {1.0f, 0.5f, 2.0f};
    static const float sample_w[SAMPLES] = {1, 2, 0.5f, 1, 1, 3};
    if (s->mode == FIT_LOSSES) {
        fo.class_weights = class_w;
        fo.n_class_weights = CLASSES;
        fo.sample_weights = sample_w;
        fo.n_sample_weights = SAMPLES;
        fo.label_smoothing = 0.1f;
        fo.clip_grad_norm = 0.5f;
        fo.mixup_alpha = 0.4f;
        fo.cutmix_alpha = 1.0f;
    }
    return graft_model_fit(s->m, s->o, s->ds, s->val, &fo);
}

/* The cache of the frozen trunk's features and its labels: graft_model_fit
 * documents that it trains without the cache when there is no room. */
static int fit_fallback(void *p, size_t size)
{
    fit_state *s = p;
    return s->mode == FIT_CACHED && (size == (size_t)SAMPLES * s->cache_row * sizeof(float) ||
                                     size == SAMPLES * sizeof(int32_t));
}

static void fit_after(void *p, int status)
{
    fit_state *s = p;
    int64_t epochs = s->epochs_before;
    if (status != GRAFT_OK) {
        /* The one batch's step did not happen, or (with a validation set)
         * the epoch was trained and its evaluation failed (or, with the
         * callbacks, writing its checkpoint). */
        epochs = graft_model_epochs_done(s->m);
        ck_assert_msg(epochs == s->epochs_before ||
                          ((s->mode == FIT_WITH_VAL || s->mode == FIT_CALLBACKS) &&
                           epochs == s->epochs_before + 1),
                      "a failed fit took epochs done from %lld to %lld",
                      (long long)s->epochs_before, (long long)epochs);
        if (epochs == s->epochs_before) {
            /* Then the trained parameters and the optimizer are as they
             * were. (Batch norm's running statistics may have moved: the
             * forward pass of the failed step updates them.) */
            size_t n;
            float *now = copy_params(s->m, &n);
            ck_assert_msg(n == s->n_params && memcmp(now, s->params, n * sizeof *now) == 0,
                          "a fit that failed before completing its only step changed the "
                          "parameters");
            free(now);
            ck_assert_int_eq(graft_optim_steps(s->o), s->steps_before);
        }
        ck_assert_int_eq(fit_run(s), GRAFT_OK);
    }
    ck_assert_int_eq(graft_model_epochs_done(s->m), epochs + 1);
    ck_assert_int_ge(graft_optim_steps(s->o), s->steps_before + 1);
    assert_model_runs(s->b.ctx, s->m);
}

static void fit_teardown(void *p)
{
    fit_state *s = p;
    if (s->dir[0]) tu_rm_tree(s->dir);
    free(s->params);
    graft_eval_free(s->ev);
    graft_dataset_free(s->val);
    graft_dataset_free(s->ds);
    graft_optim_free(s->o);
    graft_model_free(s->m);
}

START_TEST(test_fit)
{
    fit_mode = _i;
    const scenario s = {fit_names[_i], "graft_model_fit", fit_setup, fit_run, fit_after,
                        fit_teardown, fit_fallback, sizeof(fit_state)};
    ck_assert_int_gt(run_scenario(&s), 0);
}
END_TEST

static void eval_setup(graft_ctx *ctx, void *p)
{
    fit_state *s = p;
    s->m = test_model(ctx, 9, 1);
    s->ds = test_dataset(ctx);
    s->ev = (graft_eval *)s;
}

static int eval_run(void *p)
{
    fit_state *s = p;
    return graft_model_evaluate(s->m, s->ds, 4, 2, &s->ev);
}

static void eval_after(void *p, int status)
{
    fit_state *s = p;
    if (status != GRAFT_OK) {
        ck_assert_ptr_null(s->ev);
        ck_assert_int_eq(eval_run(s), GRAFT_OK);
    }
    ck_assert(graft_eval_get(s->ev, GRAFT_EVAL_COUNT) == SAMPLES);
    ck_assert_int_eq(graft_eval_class_count(s->ev), CLASSES);
    assert_model_runs(s->b.ctx, s->m);
}

START_TEST(test_evaluate)
{
    const scenario s = {"graft_model_evaluate", "graft_model_evaluate", eval_setup, eval_run,
                        eval_after, fit_teardown, NULL, sizeof(fit_state)};
    ck_assert_int_gt(run_scenario(&s), 0);
}
END_TEST

typedef struct predict_state {
    base_state b;
    graft_model *m;
    graft_tensor *x;
    int32_t top[2 * 2];
    float probs[2 * 2];
} predict_state;

static void predict_setup(graft_ctx *ctx, void *p)
{
    predict_state *s = p;
    s->m = test_model(ctx, 9, 1);
    s->x = test_batch(ctx);
}

static int predict_run(void *p)
{
    predict_state *s = p;
    return graft_model_predict_topk(s->m, s->x, 2, s->top, s->probs);
}

static void predict_after(void *p, int status)
{
    predict_state *s = p;
    if (status != GRAFT_OK) ck_assert_int_eq(predict_run(s), GRAFT_OK);
    ck_assert(s->top[0] >= 0 && s->top[0] < CLASSES && s->top[1] != s->top[0]);
    ck_assert(s->probs[0] >= s->probs[1]);
}

static void predict_teardown(void *p)
{
    predict_state *s = p;
    graft_tensor_free(s->x);
    graft_model_free(s->m);
}

START_TEST(test_predict_topk)
{
    const scenario s = {"graft_model_predict_topk", "graft_model_predict_topk", predict_setup,
                        predict_run, predict_after, predict_teardown, NULL,
                        sizeof(predict_state)};
    ck_assert_int_gt(run_scenario(&s), 0);
}
END_TEST

/* ---- saving ------------------------------------------------------------------------------------ */

typedef struct save_state {
    base_state b;
    graft_model *m;
    graft_optim *o;
    char path[400];
    unsigned char *before;
    size_t before_size;
    int checkpoint;
} save_state;

static int save_checkpoint_mode;

static void save_setup(graft_ctx *ctx, void *p)
{
    save_state *s = p;
    s->checkpoint = save_checkpoint_mode;
    s->m = test_model(ctx, 11, 1);
    if (s->checkpoint) {
        ck_assert_int_eq(graft_optim_create(ctx, GRAFT_OPTIM_ADAM, &s->o), GRAFT_OK);
        graft_dataset *ds = test_dataset(ctx);
        fit_one_batch(ctx, s->m, s->o, ds, NULL);
        graft_dataset_free(ds);
    }
    /* The file already at the path: the fixture's. */
    snprintf(s->path, sizeof s->path, "%s/target%s", tmp_dir, s->checkpoint ? ".ckpt" : ".graft");
    tu_write_file(s->path, model_bytes, model_size);
    s->before = tu_read_file(s->path, &s->before_size);
}

static int save_run(void *p)
{
    save_state *s = p;
    return s->checkpoint ? graft_checkpoint_save(s->m, s->o, s->path)
                         : graft_model_save(s->m, s->path);
}

static void save_after(void *p, int status)
{
    save_state *s = p;
    /* The target and no temporary file "<name>.tmp.<pid>.<random>" beside it. */
    ck_assert_int_eq(tu_count_entries(tmp_dir, strrchr(s->path, '/') + 1), 1);
    size_t size;
    unsigned char *now = tu_read_file(s->path, &size);
    if (status != GRAFT_OK) {
        ck_assert_msg(size == s->before_size && memcmp(now, s->before, size) == 0,
                      "a failed save changed the file at the path");
        ck_assert_int_eq(save_run(s), GRAFT_OK);
        free(now);
        now = tu_read_file(s->path, &size);
    }
    graft_model *m = NULL;
    graft_optim *o = NULL;
    int st = s->checkpoint ? graft_checkpoint_load(s->b.ctx, s->path, &m, &o)
                           : graft_model_load(s->b.ctx, s->path, &m);
    ck_assert_msg(st == GRAFT_OK, "%s", graft_errmsg(s->b.ctx));
    ck_assert_int_eq(graft_model_epochs_done(m), s->checkpoint ? 1 : 0);
    graft_optim_free(o);
    graft_model_free(m);
    free(now);
}

static void save_teardown(void *p)
{
    save_state *s = p;
    unlink(s->path);
    free(s->before);
    graft_optim_free(s->o);
    graft_model_free(s->m);
}

START_TEST(test_save)
{
    save_checkpoint_mode = _i;
    const scenario s = {_i ? "graft_checkpoint_save" : "graft_model_save",
                        _i ? "graft_checkpoint_save" : "graft_model_save", save_setup, save_run,
                        save_after, save_teardown, NULL, sizeof(save_state)};
    ck_assert_int_gt(run_scenario(&s), 0);
}
END_TEST

/* ---- the suite --------------------------------------------------------------------------------- */

Suite *suite_alloc_fail(void)
{
    Suite *s = suite_create("alloc_fail");
    TCase *tc = tcase_create("load");
    tcase_add_unchecked_fixture(tc, files_setup, files_teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_model_load_buffer);
    tcase_add_test(tc, test_model_load_file);
    tcase_add_test(tc, test_checkpoint_load);
    suite_add_tcase(s, tc);

    tc = tcase_create("build");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_layer_constructors);
    tcase_add_test(tc, test_model_create);
    tcase_add_loop_test(tc, test_model_add, 0, ADD_KINDS);
    suite_add_tcase(s, tc);

    tc = tcase_create("dataset");
    tcase_set_timeout(tc, 120);
    tcase_add_loop_test(tc, test_dataset_from_memory, 0, 2);
    tcase_add_test(tc, test_dataset_split);
    suite_add_tcase(s, tc);

    tc = tcase_create("train");
    tcase_set_timeout(tc, 120);
    tcase_add_loop_test(tc, test_fit, 0, FIT_MODES);
    tcase_add_test(tc, test_evaluate);
    tcase_add_test(tc, test_predict_topk);
    suite_add_tcase(s, tc);

    tc = tcase_create("save");
    tcase_add_unchecked_fixture(tc, files_setup, files_teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_loop_test(tc, test_save, 0, 2);
    suite_add_tcase(s, tc);
    return s;
}
