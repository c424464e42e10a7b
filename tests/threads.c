/*
 * threads.c - checks graft's thread-safety rules (include/graft.h,
 * "Conventions"): distinct contexts, and the objects in them, may be used
 * concurrently from different threads, and each thread sees its own last
 * error message.
 *
 *   threads [ROUNDS]     (default 3)
 *
 * A job builds a model in a context of its own, trains it, evaluates it,
 * saves and reloads a checkpoint, trains one more epoch from it, and
 * records every parameter, buffer, evaluation figure and prediction. The
 * jobs differ in model, optimizer, seed and whether matrix products go
 * through OpenBLAS. Each job first runs alone, in sequence; then all jobs
 * run at once in threads, ROUNDS times, together with a twin of each job
 * (the same job in another context). Every threaded result must be bit for
 * bit the sequential one. While they run, each thread also provokes
 * failures naming itself and checks that graft_errmsg(NULL) and
 * graft_errmsg(ctx) report its own.
 *
 * Then one model shared by SHARED_THREADS threads (graft.h, "Threads"
 * before graft_model_forward()): for each of a conv net with batch norm,
 * pooling, a residual branch and dense, and the ONNX fixtures of
 * SHARED_ONNX, every thread predicts (probabilities and top-k) on inputs of
 * its own choosing many times, all on the one model, and every result must
 * be bit for bit the one a call alone gave; each thread also provokes
 * shape errors and checks that it reads its own message. In a second run
 * half the threads first clone the model (a copy, or sharing its weights)
 * while the others predict, and predict with their clone. `make test-tsan`
 * runs this program under ThreadSanitizer. Ends with "N passed, N failed"
 * (one test per job and round, and per shared model and run).
 */
#include "graft.h"

#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define N_JOBS 4
#define SAMPLES 48
#define SIDE 8

typedef struct job {
    int id;
    int slot; /* unique among the jobs running at once (names its file) */
    int use_blas;
    int optim_kind;
    int wide; /* 1: a wider network with a residual branch */
    uint64_t seed;
    /* results */
    float *values;
    size_t n_values;
    char error[512];
} job;

/* Appends n floats to the job's result. */
static int record(job *j, const float *p, size_t n)
{
    float *grown = realloc(j->values, (j->n_values + n) * sizeof *grown);
    if (!grown) return -1;
    memcpy(grown + j->n_values, p, n * sizeof *p);
    j->values = grown;
    j->n_values += n;
    return 0;
}

#define TRY(call)                                                                          \
    do {                                                                                   \
        int st_ = (call);                                                                  \
        if (st_ != GRAFT_OK) {                                                             \
            snprintf(j->error, sizeof j->error, "line %d: %s returned %d: %s", __LINE__,   \
                     #call, st_, graft_errmsg(ctx));                                       \
            goto done;                                                                     \
        }                                                                                  \
    } while (0)

#define EXPECT(cond, ...)                                                                  \
    do {                                                                                   \
        if (!(cond)) {                                                                     \
            int n_ = snprintf(j->error, sizeof j->error, "line %d: ", __LINE__);           \
            snprintf(j->error + n_, sizeof j->error - (size_t)n_, __VA_ARGS__);            \
            goto done;                                                                     \
        }                                                                                  \
    } while (0)

/* In a helper returning 0 or the failing status. */
#define GRAFT_TRY_SHARED(call)             \
    do {                                   \
        int st_ = (call);                  \
        if (st_ != GRAFT_OK) return st_;   \
    } while (0)

static int add_layer(graft_model *m, const char *name, graft_layer *l, int n, const char *a,
                     const char *b)
{
    const char *ins[2] = {a, b};
    return graft_model_add(m, name, l, n, n ? ins : NULL);
}

static int build_model(graft_ctx *ctx, const job *j, graft_model **out)
{
    const int64_t dims[3] = {1, SIDE, SIDE};
    graft_model *m = NULL;
    graft_layer *l = NULL;
    int st = graft_model_create(ctx, 3, dims, j->seed, &m);
    graft_conv2d_spec cs = GRAFT_CONV2D_SPEC_INIT;
    cs.out_channels = j->wide ? 6 : 4;
    cs.kernel_h = cs.kernel_w = 3;
    cs.pad_top = cs.pad_left = cs.pad_bottom = cs.pad_right = 1;
    graft_pool2d_spec ps = GRAFT_POOL2D_SPEC_INIT;
    ps.kernel_h = ps.kernel_w = ps.stride_h = ps.stride_w = 2;
    if (st == GRAFT_OK) st = graft_layer_conv2d(ctx, &cs, &l);
    if (st == GRAFT_OK) st = add_layer(m, "conv", l, 0, NULL, NULL);
    if (st == GRAFT_OK) st = graft_layer_batch_norm(ctx, 1e-5f, 0.1f, &l);
    if (st == GRAFT_OK) st = add_layer(m, "bn", l, 0, NULL, NULL);
    if (st == GRAFT_OK) st = graft_layer_relu(ctx, &l);
    if (st == GRAFT_OK) st = add_layer(m, "relu", l, 0, NULL, NULL);
    if (j->wide) {
        cs.groups = cs.out_channels;
        if (st == GRAFT_OK) st = graft_layer_conv2d(ctx, &cs, &l);
        if (st == GRAFT_OK) st = add_layer(m, "dw", l, 0, NULL, NULL);
        if (st == GRAFT_OK) st = graft_layer_hard_swish(ctx, &l);
        if (st == GRAFT_OK) st = add_layer(m, "hs", l, 0, NULL, NULL);
        if (st == GRAFT_OK) st = graft_layer_add(ctx, &l);
        if (st == GRAFT_OK) st = add_layer(m, "res", l, 2, "relu", "hs");
    }
    if (st == GRAFT_OK) st = graft_layer_max_pool2d(ctx, &ps, &l);
    if (st == GRAFT_OK) st = add_layer(m, "pool", l, 0, NULL, NULL);
    if (st == GRAFT_OK) st = graft_layer_flatten(ctx, &l);
    if (st == GRAFT_OK) st = add_layer(m, "flat", l, 0, NULL, NULL);
    if (st == GRAFT_OK) st = graft_layer_dropout(ctx, 0.2f, j->seed + 1, &l);
    if (st == GRAFT_OK) st = add_layer(m, "drop", l, 0, NULL, NULL);
    if (st == GRAFT_OK) st = graft_layer_dense(ctx, 3, 1, &l);
    if (st == GRAFT_OK) st = add_layer(m, "fc", l, 0, NULL, NULL);
    if (st != GRAFT_OK) {
        graft_model_free(m);
        m = NULL;
    }
    *out = m;
    return st;
}

/* Appends every parameter and buffer of m. */
static int record_params(job *j, graft_model *m)
{
    for (int i = 0; i < graft_model_layer_count(m); i++) {
        graft_layer *l = graft_model_layer(m, i);
        for (int p = 0; p < graft_layer_param_count(l); p++) {
            graft_tensor *t = NULL;
            if (graft_layer_param(l, p, NULL, &t, NULL, NULL) != GRAFT_OK) return -1;
            if (record(j, graft_tensor_data_const(t), graft_tensor_numel(t)) != 0) return -1;
        }
    }
    return 0;
}

/* Provokes failures that name this job and checks that both messages are
 * this thread's own. Returns 0 or -1 with j->error set. */
static int check_own_errors(graft_ctx *ctx, graft_model *m, job *j, int rounds)
{
    char name[32], want[64];
    snprintf(name, sizeof name, "missing_layer_of_job_%d", j->id);
    snprintf(want, sizeof want, "\"%s\"", name);
    for (int r = 0; r < rounds; r++) {
        int st = graft_model_set_trainable_by_name(m, name, 1);
        const char *thread_msg = graft_errmsg(NULL), *ctx_msg = graft_errmsg(ctx);
        if (st != GRAFT_E_NOT_FOUND || !strstr(thread_msg, want) || !strstr(ctx_msg, want) ||
            strncmp(thread_msg, "graft_model_set_trainable_by_name(): ", 37) != 0) {
            snprintf(j->error, sizeof j->error,
                     "job %d: status %d, thread message \"%s\", context message \"%s\"", j->id,
                     st, thread_msg, ctx_msg);
            return -1;
        }
        /* A success clears both. */
        if (graft_model_set_trainable_by_name(m, "fc", 1) != GRAFT_OK ||
            graft_errmsg(NULL)[0] || graft_errmsg(ctx)[0]) {
            snprintf(j->error, sizeof j->error, "job %d: a successful call left \"%s\"", j->id,
                     graft_errmsg(NULL));
            return -1;
        }
        if (r % 16 == 0) sched_yield();
    }
    return 0;
}

static void *run_job(void *arg)
{
    job *j = arg;
    graft_ctx *ctx = NULL;
    graft_model *m = NULL, *m2 = NULL;
    graft_optim *o = NULL, *o2 = NULL;
    graft_dataset *ds = NULL, *train = NULL, *val = NULL;
    graft_eval *ev = NULL;
    graft_tensor *x = NULL;
    float *features = NULL;
    char path[4200] = "";
    free(j->values);
    j->values = NULL;
    j->n_values = 0;
    j->error[0] = '\0';

    if (graft_ctx_create(&ctx) != GRAFT_OK) {
        snprintf(j->error, sizeof j->error, "graft_ctx_create: %s", graft_errmsg(NULL));
        return NULL;
    }
    if (graft_has_blas()) TRY(graft_ctx_set_int(ctx, GRAFT_CTX_USE_BLAS, j->use_blas));
    TRY(build_model(ctx, j, &m));

    /* Features: a bright 3x3 square in one of three columns of a noisy
     * image; the label is the column. */
    features = malloc((size_t)SAMPLES * SIDE * SIDE * sizeof *features);
    int32_t labels[SAMPLES];
    EXPECT(features != NULL, "out of memory");
    uint64_t r = j->seed * 0x9E3779B97F4A7C15ull + 1;
    for (int s = 0; s < SAMPLES; s++) {
        float *img = features + (size_t)s * SIDE * SIDE;
        for (int p = 0; p < SIDE * SIDE; p++) {
            r = r * 6364136223846793005ull + 1442695040888963407ull;
            img[p] = (float)(r >> 40) / (float)(1ull << 24) * 0.3f;
        }
        labels[s] = s % 3;
        int row = (int)((r >> 20) % 5), col = labels[s] * 2 + 1;
        for (int dr = 0; dr < 3; dr++)
            for (int dc = 0; dc < 3; dc++) img[(row + dr) * SIDE + col + dc] = 1.0f;
    }
    const int64_t dims[3] = {1, SIDE, SIDE};
    TRY(graft_dataset_from_memory(ctx, SAMPLES, 3, dims, features, labels, 3, 0, &ds));
    TRY(graft_dataset_split(ds, 0.25, j->seed, &train, &val));

    TRY(graft_optim_create(ctx, j->optim_kind, &o));
    if (j->optim_kind == GRAFT_OPTIM_SGD) {
        TRY(graft_optim_set(o, GRAFT_OPT_MOMENTUM, 0.9));
        TRY(graft_optim_set(o, GRAFT_OPT_LR, 0.05));
    }
    graft_fit_opts fo = GRAFT_FIT_OPTS_INIT;
    fo.epochs = 2;
    fo.batch_size = 8;
    fo.seed = j->seed;
    TRY(graft_model_fit(m, o, train, val, &fo));
    if (check_own_errors(ctx, m, j, 200) != 0) goto done;

    TRY(graft_model_evaluate(m, val, 5, 2, &ev));
    float figures[3] = {(float)graft_eval_get(ev, GRAFT_EVAL_LOSS),
                        (float)graft_eval_get(ev, GRAFT_EVAL_ACCURACY),
                        (float)graft_eval_get(ev, GRAFT_EVAL_TOPK_ACCURACY)};
    EXPECT(record(j, figures, 3) == 0, "out of memory");

    /* Checkpoint, reload, one more epoch from the copy. */
    const char *base = getenv("TMPDIR");
    snprintf(path, sizeof path, "%s/graft-threads-%ld-%d.ckpt", base && base[0] ? base : "/tmp",
             (long)getpid(), j->slot);
    TRY(graft_checkpoint_save(m, o, path));
    TRY(graft_checkpoint_load(ctx, path, &m2, &o2));
    fo.epochs = 1;
    TRY(graft_model_fit(m2, o2, train, NULL, &fo));
    EXPECT(graft_model_epochs_done(m2) == 3, "epochs done %lld after 2 + 1",
           (long long)graft_model_epochs_done(m2));
    EXPECT(record_params(j, m2) == 0, "cannot read the parameters");
    if (check_own_errors(ctx, m2, j, 200) != 0) goto done;

    /* Predictions of the trained copy on the whole dataset. */
    int64_t xd[4] = {SAMPLES, 1, SIDE, SIDE};
    TRY(graft_tensor_create(ctx, 4, xd, &x));
    TRY(graft_tensor_copy_from(x, features, (size_t)SAMPLES * SIDE * SIDE));
    int32_t top[SAMPLES * 2];
    float probs[SAMPLES * 2];
    TRY(graft_model_predict_topk(m2, x, 2, top, probs));
    float topf[SAMPLES * 2];
    for (int i = 0; i < SAMPLES * 2; i++) topf[i] = (float)top[i];
    EXPECT(record(j, topf, SAMPLES * 2) == 0 && record(j, probs, SAMPLES * 2) == 0,
           "out of memory");

done:
    if (path[0]) unlink(path);
    graft_tensor_free(x);
    graft_eval_free(ev);
    graft_dataset_free(train);
    graft_dataset_free(val);
    graft_dataset_free(ds);
    graft_optim_free(o2);
    graft_model_free(m2);
    graft_optim_free(o);
    graft_model_free(m);
    graft_ctx_free(ctx);
    free(features);
    return NULL;
}

/* ---- one model, many predicting threads ---------------------------------- */

#define SHARED_THREADS 8
#define SHARED_INPUTS 12
#define SHARED_ITERS 24
#define SHARED_TOPK 2

typedef struct shared_case {
    const char *name;
    graft_ctx *ctx;
    graft_model *model;
    int classes;
    graft_tensor *inputs[SHARED_INPUTS]; /* batch 1 + i % 4 */
    float *want[SHARED_INPUTS];          /* what predict gave alone */
    int32_t *want_top[SHARED_INPUTS];    /* and predict_topk */
    float *want_topp[SHARED_INPUTS];
} shared_case;

typedef struct shared_worker {
    shared_case *c;
    int id;
    int clone_flags; /* -1: predict on the shared model; else clone it first */
    graft_tensor *probs[SHARED_INPUTS]; /* made before the threads start */
    graft_tensor *bad;                  /* an input of a wrong shape, naming the thread */
    char bad_shape[64];
    char error[512];
} shared_worker;

/* Takes m into c, makes c's inputs and records what each prediction gives
 * alone. Returns 0 or -1 (with a message printed when a prediction fails). */
static int shared_case_init(shared_case *c, const char *name, graft_model *m)
{
    c->name = name;
    c->model = m;
    c->classes = graft_model_class_count(m);
    int nd;
    int64_t d[8];
    if (graft_model_layer_output_shape(m, -1, &nd, d) != GRAFT_OK) return -1;
    uint64_t r = 0x243F6A8885A308D3ull;
    for (int i = 0; i < SHARED_INPUTS; i++) {
        int64_t dims[9];
        dims[0] = 1 + i % 4;
        size_t numel = (size_t)dims[0];
        for (int k = 0; k < nd; k++) {
            dims[k + 1] = d[k];
            numel *= (size_t)d[k];
        }
        if (graft_tensor_create(c->ctx, nd + 1, dims, &c->inputs[i]) != GRAFT_OK) return -1;
        float *x = graft_tensor_data(c->inputs[i]);
        for (size_t e = 0; e < numel; e++) {
            r = r * 6364136223846793005ull + 1442695040888963407ull;
            x[e] = (float)(r >> 40) / (float)(1ull << 24) * 2.0f - 1.0f;
        }
        size_t n = (size_t)dims[0] * (size_t)c->classes, nk = (size_t)dims[0] * SHARED_TOPK;
        const int64_t pd[2] = {dims[0], c->classes};
        graft_tensor *p = NULL;
        c->want[i] = malloc(n * sizeof(float));
        c->want_top[i] = malloc(nk * sizeof(int32_t));
        c->want_topp[i] = malloc(nk * sizeof(float));
        if (!c->want[i] || !c->want_top[i] || !c->want_topp[i]) return -1;
        if (graft_tensor_create(c->ctx, 2, pd, &p) != GRAFT_OK) return -1;
        int st = graft_model_predict(m, c->inputs[i], p);
        if (st == GRAFT_OK) memcpy(c->want[i], graft_tensor_data(p), n * sizeof(float));
        graft_tensor_free(p);
        if (st == GRAFT_OK)
            st = graft_model_predict_topk(m, c->inputs[i], SHARED_TOPK, c->want_top[i],
                                          c->want_topp[i]);
        if (st != GRAFT_OK) {
            printf("%s: a prediction alone failed: %s\n", name, graft_errmsg(c->ctx));
            return -1;
        }
    }
    return 0;
}

static void shared_case_free(shared_case *c)
{
    for (int i = 0; i < SHARED_INPUTS; i++) {
        graft_tensor_free(c->inputs[i]);
        free(c->want[i]);
        free(c->want_top[i]);
        free(c->want_topp[i]);
    }
    graft_model_free(c->model);
    graft_ctx_free(c->ctx);
}

#define WFAIL(...)                                                                         \
    do {                                                                                   \
        int n_ = snprintf(w->error, sizeof w->error, "thread %d, line %d: ", w->id, __LINE__); \
        snprintf(w->error + n_, sizeof w->error - (size_t)n_, __VA_ARGS__);                \
        goto done;                                                                         \
    } while (0)

static void *shared_worker_run(void *arg)
{
    shared_worker *w = arg;
    shared_case *c = w->c;
    graft_ctx *ctx = c->ctx;
    graft_model *m = c->model, *mine = NULL;
    int32_t top[4 * SHARED_TOPK];
    float topp[4 * SHARED_TOPK];
    if (w->clone_flags >= 0) {
        if (graft_model_clone(c->model, w->clone_flags, &mine) != GRAFT_OK)
            WFAIL("graft_model_clone: %s", graft_errmsg(ctx));
        m = mine;
    }
    for (int it = 0; it < SHARED_ITERS; it++) {
        int i = (w->id * 5 + it * 7) % SHARED_INPUTS;
        int64_t batch = graft_tensor_dim(c->inputs[i], 0);
        size_t n = (size_t)batch * (size_t)c->classes, nk = (size_t)batch * SHARED_TOPK;
        if (it % 3 == 2) {
            if (graft_model_predict_topk(m, c->inputs[i], SHARED_TOPK, top, topp) != GRAFT_OK)
                WFAIL("predict_topk: %s", graft_errmsg(ctx));
            if (memcmp(top, c->want_top[i], nk * sizeof *top) != 0 ||
                memcmp(topp, c->want_topp[i], nk * sizeof *topp) != 0)
                WFAIL("iteration %d: predict_topk on input %d differs from the call alone", it, i);
        } else {
            if (graft_model_predict(m, c->inputs[i], w->probs[i]) != GRAFT_OK)
                WFAIL("predict: %s", graft_errmsg(ctx));
            if (memcmp(graft_tensor_data(w->probs[i]), c->want[i], n * sizeof(float)) != 0)
                WFAIL("iteration %d: predict on input %d differs from the call alone", it, i);
        }
        if (graft_errmsg(ctx)[0] || graft_errmsg(NULL)[0])
            WFAIL("a successful prediction left the message \"%s\"", graft_errmsg(ctx));
        if (it % 4 == 1) { /* a failure of this thread's own, read back while others run */
            int st = graft_model_predict(m, w->bad, w->probs[0]);
            const char *cm = graft_errmsg(ctx), *tm = graft_errmsg(NULL);
            if (st != GRAFT_E_SHAPE || !strstr(cm, w->bad_shape) || !strstr(tm, w->bad_shape) ||
                strncmp(cm, "graft_model_predict(): ", 23) != 0)
                WFAIL("status %d, context message \"%s\", thread message \"%s\" (want %s)", st,
                      cm, tm, w->bad_shape);
        }
        if (it % 8 == 0) sched_yield();
    }
done:
    graft_model_free(mine);
    return NULL;
}

/* Runs SHARED_THREADS threads on c (clones: 1, every odd thread clones the
 * model first, alternately copying and sharing its weights). Returns the
 * failures. */
static int shared_run(shared_case *c, int clones)
{
    shared_worker w[SHARED_THREADS];
    pthread_t threads[SHARED_THREADS];
    int started[SHARED_THREADS], failed = 0;
    memset(w, 0, sizeof w);
    for (int t = 0; t < SHARED_THREADS; t++) {
        w[t].c = c;
        w[t].id = t;
        w[t].clone_flags = clones && t % 2 ? (t % 4 == 1 ? 0 : GRAFT_CLONE_SHARE_WEIGHTS) : -1;
        for (int i = 0; i < SHARED_INPUTS; i++) {
            const int64_t pd[2] = {graft_tensor_dim(c->inputs[i], 0), c->classes};
            if (graft_tensor_create(c->ctx, 2, pd, &w[t].probs[i]) != GRAFT_OK) return 1;
        }
        const int64_t bd[4] = {t + 2, 1, 3 + t, 5};
        if (graft_tensor_create(c->ctx, 4, bd, &w[t].bad) != GRAFT_OK) return 1;
        snprintf(w[t].bad_shape, sizeof w[t].bad_shape, "(%d, 1, %d, 5)", t + 2, 3 + t);
    }
    /* Leaves the model's layers' mode unknown (values unchanged), so the
     * first prediction sets every layer's mode while the others start. */
    int last = graft_model_layer_count(c->model) - 1;
    if (graft_model_set_trainable_by_name(c->model, graft_model_layer_name(c->model, last), 1) !=
        GRAFT_OK)
        return 1;
    for (int t = 0; t < SHARED_THREADS; t++) {
        started[t] = pthread_create(&threads[t], NULL, shared_worker_run, &w[t]) == 0;
        if (!started[t]) shared_worker_run(&w[t]);
    }
    for (int t = 0; t < SHARED_THREADS; t++)
        if (started[t]) pthread_join(threads[t], NULL);
    for (int t = 0; t < SHARED_THREADS; t++) {
        if (w[t].error[0]) {
            printf("%s%s: FAILED: %s\n", c->name, clones ? " (clones)" : "", w[t].error);
            failed++;
        }
        for (int i = 0; i < SHARED_INPUTS; i++) graft_tensor_free(w[t].probs[i]);
        graft_tensor_free(w[t].bad);
    }
    /* the model alone afterwards: as before */
    for (int i = 0; i < SHARED_INPUTS && !failed; i++) {
        const int64_t pd[2] = {graft_tensor_dim(c->inputs[i], 0), c->classes};
        graft_tensor *p = NULL;
        int st = graft_tensor_create(c->ctx, 2, pd, &p);
        if (st == GRAFT_OK) st = graft_model_predict(c->model, c->inputs[i], p);
        if (st != GRAFT_OK || memcmp(graft_tensor_data(p), c->want[i],
                                     (size_t)pd[0] * (size_t)pd[1] * sizeof(float)) != 0) {
            printf("%s: FAILED: the model alone afterwards gives another result (%s)\n",
                   c->name, graft_errmsg(c->ctx));
            failed++;
        }
        graft_tensor_free(p);
    }
    return failed;
}

/* The conv net of the jobs (wide), its batch norm given statistics and
 * scales away from the defaults, so that folding them matters. */
static int shared_conv_model(graft_ctx *ctx, graft_model **out)
{
    job j;
    memset(&j, 0, sizeof j);
    j.wide = 1;
    j.seed = 4242;
    GRAFT_TRY_SHARED(build_model(ctx, &j, out));
    graft_layer *bn = graft_model_layer(*out, graft_model_find_layer(*out, "bn"));
    for (int p = 0; p < graft_layer_param_count(bn); p++) {
        graft_tensor *t = NULL;
        GRAFT_TRY_SHARED(graft_layer_param(bn, p, NULL, &t, NULL, NULL));
        float *v = graft_tensor_data(t);
        for (size_t e = 0; e < graft_tensor_numel(t); e++) v[e] = 0.5f + 0.25f * (float)((e + p) % 5);
    }
    return 0;
}

/* Every shared case (the conv net, then each fixture) in runs without and
 * with clones. Adds to *passed and *failed. */
static void shared_tests(int *passed, int *failed)
{
    static const char *const onnx[] = {"tests/data/onnx/shufflenet_v2.onnx",
                                       "tests/data/onnx/keras_style.onnx"};
    const int n_cases = 1 + (int)(sizeof onnx / sizeof onnx[0]);
    for (int k = 0; k < n_cases; k++) {
        shared_case c;
        memset(&c, 0, sizeof c);
        graft_model *m = NULL;
        const char *name = k == 0 ? "shared conv net" : onnx[k - 1];
        int ok = graft_ctx_create(&c.ctx) == GRAFT_OK;
        /* the BLAS when there is one, so that its calls run concurrently too */
        if (ok && graft_has_blas()) ok = graft_ctx_set_int(c.ctx, GRAFT_CTX_USE_BLAS, 1) == GRAFT_OK;
        if (ok) ok = (k == 0 ? shared_conv_model(c.ctx, &m)
                             : graft_onnx_import(c.ctx, onnx[k - 1], NULL, &m)) == GRAFT_OK;
        if (ok) ok = shared_case_init(&c, name, m) == 0;
        else graft_model_free(m);
        if (!ok) {
            printf("%s: FAILED to set up: %s\n", name, c.ctx ? graft_errmsg(c.ctx) : "no context");
            *failed += 2;
        } else {
            for (int clones = 0; clones < 2; clones++) {
                int f = shared_run(&c, clones);
                *failed += f > 0;
                *passed += f == 0;
            }
        }
        shared_case_free(&c);
    }
}

static job make_job(int id)
{
    static const int kinds[N_JOBS] = {GRAFT_OPTIM_SGD, GRAFT_OPTIM_ADAM, GRAFT_OPTIM_ADAMW,
                                      GRAFT_OPTIM_SGD};
    job j;
    memset(&j, 0, sizeof j);
    j.id = id;
    j.use_blas = id % 2 == 0;
    j.optim_kind = kinds[id % N_JOBS];
    j.wide = id >= 2;
    j.seed = 1000 + (uint64_t)id * 17;
    return j;
}

int main(int argc, char **argv)
{
    int rounds = argc > 1 ? atoi(argv[1]) : 3;
    if (rounds < 1) {
        fprintf(stderr, "usage: threads [ROUNDS]\n");
        return 2;
    }
    int passed = 0, failed = 0;
    job ref[N_JOBS];
    for (int i = 0; i < N_JOBS; i++) {
        ref[i] = make_job(i);
        run_job(&ref[i]);
        if (ref[i].error[0] || ref[i].n_values == 0) {
            printf("job %d alone: FAILED: %s\n", i, ref[i].error);
            failed++;
        }
    }
    if (failed) {
        printf("%d passed, %d failed\n", passed, failed);
        return 1;
    }
    printf("threads: %d jobs (%zu to %zu values each) run alone; now %d rounds of %d threads\n",
           N_JOBS, ref[0].n_values, ref[N_JOBS - 1].n_values, rounds, 2 * N_JOBS);

    for (int r = 0; r < rounds; r++) {
        job jobs[2 * N_JOBS];
        pthread_t threads[2 * N_JOBS];
        int started[2 * N_JOBS];
        for (int i = 0; i < 2 * N_JOBS; i++) {
            jobs[i] = make_job(i % N_JOBS);
            jobs[i].slot = i;
            started[i] = pthread_create(&threads[i], NULL, run_job, &jobs[i]) == 0;
            if (!started[i]) run_job(&jobs[i]); /* still checked, just not concurrent */
        }
        for (int i = 0; i < 2 * N_JOBS; i++)
            if (started[i]) pthread_join(threads[i], NULL);
        for (int i = 0; i < 2 * N_JOBS; i++) {
            const job *a = &ref[i % N_JOBS], *b = &jobs[i];
            if (b->error[0]) {
                printf("round %d, thread %d (job %d): FAILED: %s\n", r + 1, i, i % N_JOBS,
                       b->error);
                failed++;
            } else if (b->n_values != a->n_values ||
                       memcmp(a->values, b->values, a->n_values * sizeof *a->values) != 0) {
                size_t k = 0;
                while (k < a->n_values && k < b->n_values && memcmp(&a->values[k], &b->values[k],
                                                                    sizeof(float)) == 0)
                    k++;
                printf("round %d, thread %d (job %d): FAILED: the result differs from the "
                       "sequential run at value %zu of %zu (%.9g vs %.9g)\n", r + 1, i,
                       i % N_JOBS, k, a->n_values, k < a->n_values ? a->values[k] : 0.0,
                       k < b->n_values ? b->values[k] : 0.0);
                failed++;
            } else {
                passed++;
            }
            free(jobs[i].values);
        }
    }
    for (int i = 0; i < N_JOBS; i++) free(ref[i].values);
    shared_tests(&passed, &failed);
    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
