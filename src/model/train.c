/*
 * train.c - fitting a model to a dataset, evaluating it, predicting.
 *
 * Determinism: the order of epoch e is a permutation drawn from (seed, e),
 * and before every step each layer that draws random numbers is reseeded
 * from (seed, e, batch, layer), so the whole run is a function of the seed,
 * the model and the data; a run resumed from a checkpoint continues exactly.
 */
#include "core/finite.h"
#include "core/options.h"
#include "data/dataset.h"
#include "model.h"
#include "optim.h"

#include <math.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

/* The highest GRAFT_PROGRESS_* key: graft_progress holds one slot per key. */
#define GRAFT_PROGRESS_KEY_MAX GRAFT_PROGRESS_VAL_ACCURACY
#define GRAFT_PROGRESS_SLOTS (GRAFT_PROGRESS_KEY_MAX + 1)

struct graft_progress {
    double values[GRAFT_PROGRESS_SLOTS]; /* indexed by GRAFT_PROGRESS_* (slot 0 unused) */
};

/* A new GRAFT_PROGRESS_* key must become GRAFT_PROGRESS_KEY_MAX (and be set
 * in graft_model_fit()): this fails to compile until the count is updated. */
_Static_assert(GRAFT_PROGRESS_KEY_MAX == 11 && GRAFT_PROGRESS_EVENT == 1,
               "GRAFT_PROGRESS_KEY_MAX must be the highest GRAFT_PROGRESS_* key");
_Static_assert(sizeof ((graft_progress *)0)->values / sizeof(double) == GRAFT_PROGRESS_SLOTS,
               "graft_progress must hold one slot per GRAFT_PROGRESS_* key");

GRAFT_API double graft_progress_get(const graft_progress *p, int key)
{
    if (!p || key < GRAFT_PROGRESS_EVENT || key > GRAFT_PROGRESS_KEY_MAX) return NAN;
    return p->values[key];
}

struct graft_eval {
    graft_ctx *ctx;
    int64_t count;
    double loss, accuracy, topk_accuracy;
    int k, n_classes;
    int64_t *confusion; /* n_classes * n_classes, row = true class */
};

static uint64_t mix_seed(uint64_t seed, uint64_t a, uint64_t b, uint64_t c)
{
    graftRng rng;
    graftRngSeed(&rng, seed ^ (a * 0x9E3779B97F4A7C15ull) ^ (b * 0xC2B2AE3D27D4EB4Full) ^
                           (c * 0x165667B19E3779F9ull));
    return graftRngNext(&rng);
}

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Checks that a dataset's samples fit the model and its classes match the
 * model's outputs, which must be (N, classes). */
static int check_fit(graft_model *m, const graft_dataset *ds, const char *what, const char *func)
{
    graft_ctx *ctx = m->ctx;
    int out = graftModelOutputNode(m);
    GRAFT_RETURN_IF_AT(out < 0, ctx, GRAFT_E_STATE, func, "the model has no layers");
    GRAFT_RETURN_IF_AT(ds->ctx != ctx, ctx, GRAFT_E_INVALID_ARG, func,
                       "the %s dataset belongs to another context", what);
    const graftShape *ms = &m->input_shape, *ss = &ds->src->sample_shape;
    int same = ms->ndim == ss->ndim;
    for (int d = 1; same && d < ms->ndim; d++) same = ms->dims[d] == ss->dims[d];
    if (!same) {
        char a[128], b[128];
        graftShapeString(ss->ndim - 1, ss->dims + 1, a, sizeof a);
        graftShapeString(ms->ndim - 1, ms->dims + 1, b, sizeof b);
        return graftError(ctx, GRAFT_E_SHAPE, func,
                          "the %s dataset's samples have shape %s, the model takes %s", what, a, b);
    }
    const graftShape *os = &m->nodes[out].layer->out_shape;
    GRAFT_RETURN_IF_AT(os->ndim != 2, ctx, GRAFT_E_SHAPE, func,
                       "the model's output must be (N, classes) for classification; it has %d "
                       "dimensions (end the model with dense, or flatten)", os->ndim);
    GRAFT_RETURN_IF_AT(os->dims[1] != ds->src->n_classes, ctx, GRAFT_E_SHAPE, func,
                       "the %s dataset has %d classes but the model outputs %lld", what,
                       ds->src->n_classes, (long long)os->dims[1]);
    return GRAFT_OK;
}

/* Per-batch buffers, allocated once per call. */
typedef struct batch_buffers {
    graft_tensor *x, *grad;
    int32_t *labels;
    int64_t *order;
    int cap;
} batch_buffers;

static int buffers_init(graft_model *m, batch_buffers *b, int batch, int64_t count,
                        int with_grad, const char *func)
{
    graft_ctx *ctx = m->ctx;
    memset(b, 0, sizeof *b);
    graftShape xs = m->input_shape;
    xs.dims[0] = batch;
    int64_t gd[2] = {batch, graftModelOutputSize(m)};
    int st = graftTensorNew(ctx, xs.ndim, xs.dims, &b->x);
    if (st == GRAFT_OK && with_grad) st = graftTensorNew(ctx, 2, gd, &b->grad);
    if (st != GRAFT_OK) return st;
    b->labels = graftCalloc(ctx, (size_t)batch, sizeof *b->labels);
    b->order = graftCalloc(ctx, (size_t)count, sizeof *b->order);
    if (!b->labels || !b->order)
        return graftError(ctx, GRAFT_E_NOMEM, func, "cannot allocate batch buffers");
    b->cap = batch;
    return GRAFT_OK;
}

static void buffers_free(graft_ctx *ctx, batch_buffers *b)
{
    graft_tensor_free(b->x);
    graft_tensor_free(b->grad);
    graftFree(ctx, b->labels);
    graftFree(ctx, b->order);
}

/* Loads positions order[0..n) into b->x (resized to batch n) and b->labels. */
static int load_batch(graft_dataset *ds, batch_buffers *b, const int64_t *order, int n)
{
    b->x->dims[0] = n;
    b->x->numel = (size_t)n * ds->src->sample_numel;
    return graft_dataset_gather(ds, order, n, b->x->data, b->labels);
}

/* When the context checks inputs (GRAFT_CTX_CHECK_INPUTS): GRAFT_E_NUMERIC,
 * named func, if the batch x (the samples at dataset positions order[0..))
 * holds an inf or a NaN; the message names the first such sample by its
 * position (and file, for folders), the element, and, for e >= 0, the
 * epoch e and the batch bi (0-based). Datasets whose values were checked
 * when they were made and cannot change (dataset.h) are not read again. */
static int check_batch(graft_model *m, graft_dataset *ds, const graft_tensor *x,
                       const int64_t *order, const char *what, int64_t e, int64_t bi,
                       const char *func)
{
    if (!m->ctx->check_inputs || ds->src->finite) return GRAFT_OK;
    const size_t bad = graftFirstNonFinite(x->data, x->numel);
    if (bad == x->numel) return GRAFT_OK;
    const size_t per = ds->src->sample_numel;
    const int64_t pos = order[bad / per];
    const char *path = graft_dataset_sample_path(ds, pos);
    char where[64] = "";
    if (e >= 0)
        snprintf(where, sizeof where, " at epoch %lld, batch %lld", (long long)e + 1,
                 (long long)bi + 1);
    return graftError(m->ctx, GRAFT_E_NUMERIC, func,
                      "%s sample %lld%s%s%s holds %s at element %zu%s; inputs must be finite "
                      "(GRAFT_CTX_CHECK_INPUTS)",
                      what, (long long)pos, path ? " (" : "", path ? path : "", path ? ")" : "",
                      graftNonFiniteName(x->data[bad]), bad % per, where);
}

static int argmax_row(const float *row, int c)
{
    int best = 0;
    for (int j = 1; j < c; j++)
        if (row[j] > row[best]) best = j;
    return best;
}

/* Rank of the true class: how many classes score strictly higher (ties
 * count for the true class). */
static int rank_of(const float *row, int c, int label)
{
    int r = 0;
    for (int j = 0; j < c; j++) r += row[j] > row[label];
    return r;
}

static int run_eval(graft_model *m, graft_dataset *ds, int batch, int top_k, graft_eval *e,
                    const char *what, const char *func)
{
    batch_buffers b;
    int st = buffers_init(m, &b, batch, batch, 0, func);
    if (st != GRAFT_OK) goto done;
    int c = (int)graftModelOutputSize(m);
    double loss_sum = 0;
    int64_t top1 = 0, topk = 0;
    graftModelSetMode(m, 0);
    for (int64_t start = 0; start < ds->count; start += batch) {
        int n = (int)(ds->count - start < batch ? ds->count - start : batch);
        for (int i = 0; i < n; i++) b.order[i] = start + i;
        st = load_batch(ds, &b, b.order, n);
        if (st == GRAFT_OK) st = check_batch(m, ds, b.x, b.order, what, -1, 0, func);
        if (st != GRAFT_OK) goto done;
        const graft_tensor *logits;
        st = graftModelForward(m, b.x, &logits);
        if (st != GRAFT_OK) goto done;
        float loss;
        st = graft_loss_softmax_cross_entropy(logits, b.labels, &loss, NULL);
        if (st != GRAFT_OK) goto done;
        loss_sum += (double)loss * n;
        for (int i = 0; i < n; i++) {
            const float *row = logits->data + (size_t)i * c;
            int pred = argmax_row(row, c);
            top1 += pred == b.labels[i];
            topk += rank_of(row, c, b.labels[i]) < top_k;
            e->confusion[(size_t)b.labels[i] * c + pred]++;
        }
    }
    e->count = ds->count;
    e->loss = loss_sum / (double)ds->count;
    e->accuracy = (double)top1 / (double)ds->count;
    e->topk_accuracy = (double)topk / (double)ds->count;
done:
    buffers_free(m->ctx, &b);
    return st;
}

static int eval_new(graft_model *m, int top_k, graft_eval **out, const char *func)
{
    int c = (int)graftModelOutputSize(m);
    graft_eval *e = graftCalloc(m->ctx, 1, sizeof *e);
    if (e) e->confusion = graftCalloc(m->ctx, (size_t)c * (size_t)c, sizeof *e->confusion);
    if (!e || !e->confusion) {
        graftFree(m->ctx, e);
        return graftError(m->ctx, GRAFT_E_NOMEM, func, "cannot allocate evaluation results");
    }
    e->ctx = m->ctx;
    e->k = top_k;
    e->n_classes = c;
    *out = e;
    return GRAFT_OK;
}

GRAFT_API void graft_eval_free(graft_eval *e)
{
    if (!e) return;
    graftFree(e->ctx, e->confusion);
    graftFree(e->ctx, e);
}

GRAFT_API int graft_model_evaluate(graft_model *m, graft_dataset *ds, int batch_size, int top_k,
                                   graft_eval **out)
{
    const char *func = __func__;
    graftClearError(m ? m->ctx : NULL);
    if (out) *out = NULL;
    GRAFT_RETURN_IF(!m || !ds || !out, m ? m->ctx : NULL, GRAFT_E_INVALID_ARG,
                    "model, dataset and out must not be NULL");
    GRAFT_RETURN_IF(batch_size < 1, m->ctx, GRAFT_E_INVALID_ARG,
                    "batch_size is %d, must be >= 1", batch_size);
    GRAFT_FORWARD_IF_ERROR(check_fit(m, ds, "evaluation", func));
    int c = (int)graftModelOutputSize(m);
    GRAFT_RETURN_IF(top_k < 1 || top_k > c, m->ctx, GRAFT_E_RANGE,
                    "top_k is %d, must be 1 to %d (the classes)", top_k, c);
    graft_eval *e;
    GRAFT_FORWARD_IF_ERROR(eval_new(m, top_k, &e, func));
    int st = run_eval(m, ds, batch_size, top_k, e, "evaluation", func);
    if (st != GRAFT_OK) {
        graft_eval_free(e);
        return graftErrorAt(m->ctx, st, func);
    }
    *out = e;
    return GRAFT_OK;
}

GRAFT_API double graft_eval_get(const graft_eval *e, int key)
{
    if (!e) return NAN;
    switch (key) {
    case GRAFT_EVAL_COUNT: return (double)e->count;
    case GRAFT_EVAL_LOSS: return e->loss;
    case GRAFT_EVAL_ACCURACY: return e->accuracy;
    case GRAFT_EVAL_TOPK_ACCURACY: return e->topk_accuracy;
    default: return NAN;
    }
}

GRAFT_API int graft_eval_class_count(const graft_eval *e) { return e ? e->n_classes : 0; }

GRAFT_API int64_t graft_eval_confusion(const graft_eval *e, int t, int p)
{
    if (!e || t < 0 || p < 0 || t >= e->n_classes || p >= e->n_classes) return -1;
    return e->confusion[(size_t)t * e->n_classes + p];
}

GRAFT_API double graft_eval_precision(const graft_eval *e, int c)
{
    if (!e || c < 0 || c >= e->n_classes) return NAN;
    int64_t predicted = 0;
    for (int t = 0; t < e->n_classes; t++) predicted += e->confusion[(size_t)t * e->n_classes + c];
    return predicted ? (double)e->confusion[(size_t)c * e->n_classes + c] / (double)predicted : NAN;
}

GRAFT_API double graft_eval_recall(const graft_eval *e, int c)
{
    if (!e || c < 0 || c >= e->n_classes) return NAN;
    int64_t actual = 0;
    for (int p = 0; p < e->n_classes; p++) actual += e->confusion[(size_t)c * e->n_classes + p];
    return actual ? (double)e->confusion[(size_t)c * e->n_classes + c] / (double)actual : NAN;
}

/* ---- fit ----------------------------------------------------------------------- */

typedef struct slot_list {
    graftOptimSlot *slots;
    int (*where)[2]; /* per slot: its node and parameter index (for messages) */
    graftOptimBound *bounds; /* per slot: what graftOptimStepChecked() keeps */
    int n, cap;
    int failed;
    graft_ctx *ctx;
    const graft_model *m;
} slot_list;

static void collect_slot(void *arg, int node, int param, graft_tensor *value,
                         const graft_tensor *grad, int trainable)
{
    slot_list *s = arg;
    if (s->failed) return;
    if (s->n == s->cap) {
        int cap = s->cap ? 2 * s->cap : 16;
        graftOptimSlot *p = graftCalloc(s->ctx, (size_t)cap, sizeof *p);
        int(*w)[2] = graftCalloc(s->ctx, (size_t)cap, sizeof *w);
        graftOptimBound *b = graftCalloc(s->ctx, (size_t)cap, sizeof *b);
        if (!p || !w || !b) {
            graftFree(s->ctx, p);
            graftFree(s->ctx, w);
            graftFree(s->ctx, b);
            s->failed = 1;
            return;
        }
        if (s->n) {
            memcpy(p, s->slots, (size_t)s->n * sizeof *p);
            memcpy(w, s->where, (size_t)s->n * sizeof *w);
        }
        graftFree(s->ctx, s->slots);
        graftFree(s->ctx, s->where);
        graftFree(s->ctx, s->bounds);
        s->slots = p;
        s->where = w;
        s->bounds = b;
        s->cap = cap;
    }
    /* a new list: the values are read at its first step */
    s->bounds[s->n].known = 0;
    s->where[s->n][0] = node;
    s->where[s->n][1] = param;
    s->slots[s->n++] = (graftOptimSlot){value, grad, s->m->nodes[node].lr_scale, !trainable};
}

/* The message of a step graftOptimStepChecked() refused, for the slot's
 * layer and parameter, at epoch e and batch bi (0-based). */
static int step_fault(graft_model *m, const slot_list *sl, const graftOptimFault *f, int64_t e,
                      int64_t bi, const char *func)
{
    const graftNode *node = &m->nodes[sl->where[f->slot][0]];
    const char *param = node->layer->params[sl->where[f->slot][1]].name;
    char at[160];
    snprintf(at, sizeof at, "at epoch %lld, batch %lld, layer \"%s\" (%s) parameter \"%s\"",
             (long long)e + 1, (long long)bi + 1, node->name, node->layer->vtbl->kind, param);
    const char *kept = "the step was not made: the parameters, the optimizer and the batch-norm "
                       "statistics are as before it";
    const char *v = graftNonFiniteName(f->value);
    switch (f->kind) {
    case GRAFT_OPTIM_FAULT_GRADIENT:
        return graftError(m->ctx, GRAFT_E_NUMERIC, func,
                          "%s: its gradient is %s (element %zu); %s", at, v, f->index, kept);
    case GRAFT_OPTIM_FAULT_VALUE:
        return graftError(m->ctx, GRAFT_E_NUMERIC, func, "%s: its value is %s (element %zu); %s",
                          at, v, f->index, kept);
    case GRAFT_OPTIM_FAULT_STATE:
        return graftError(m->ctx, GRAFT_E_NUMERIC, func,
                          "%s: its optimizer state is %s (element %zu); %s", at, v, f->index,
                          kept);
    case GRAFT_OPTIM_FAULT_NEW_VALUE:
        return graftError(m->ctx, GRAFT_E_NUMERIC, func,
                          "%s: the update would make it %s (element %zu; largest |gradient| "
                          "%g); %s; lower the learning rate",
                          at, v, f->index, f->grad_max, kept);
    default:
        return graftError(m->ctx, GRAFT_E_NUMERIC, func,
                          "%s: the update would make its optimizer state %s (element %zu; "
                          "largest |gradient| %g); %s",
                          at, v, f->index, f->grad_max, kept);
    }
}

/* ---- batch-norm statistics around a step ------------------------------------------ */

/* The buffers a training forward updates (batch norms' running statistics)
 * and room for a copy, so that a step that fails after its forward can put
 * them back. Small: two floats per channel. */
typedef struct stat_backup {
    graft_tensor **bufs;
    int *node;  /* per buffer: its node, and its parameter index */
    int *param;
    int n;
    float *copy;
} stat_backup;

static int stats_init(graft_model *m, stat_backup *b, const char *func)
{
    memset(b, 0, sizeof *b);
    int n = 0;
    size_t total = 0;
    for (int i = 0; i < m->n_nodes; i++) {
        const graft_layer *l = m->nodes[i].layer;
        if (l->vtbl != &graftBatchNormVtbl) continue;
        for (int k = 0; k < l->n_params; k++)
            if (!l->params[k].grad) {
                n++;
                total += l->params[k].value->numel;
            }
    }
    if (n == 0) return GRAFT_OK;
    b->bufs = graftCalloc(m->ctx, (size_t)n, sizeof *b->bufs);
    b->node = graftCalloc(m->ctx, (size_t)n, sizeof *b->node);
    b->param = graftCalloc(m->ctx, (size_t)n, sizeof *b->param);
    b->copy = graftAlloc(m->ctx, total * sizeof(float));
    if (!b->bufs || !b->node || !b->param || !b->copy)
        return graftError(m->ctx, GRAFT_E_NOMEM, func, "cannot allocate a copy of the "
                                                       "batch-norm statistics");
    for (int i = 0; i < m->n_nodes; i++) {
        graft_layer *l = m->nodes[i].layer;
        if (l->vtbl != &graftBatchNormVtbl) continue;
        for (int k = 0; k < l->n_params; k++)
            if (!l->params[k].grad) {
                b->bufs[b->n] = l->params[k].value;
                b->node[b->n] = i;
                b->param[b->n++] = k;
            }
    }
    return GRAFT_OK;
}

static void stats_free(graft_ctx *ctx, stat_backup *b)
{
    graftFree(ctx, b->bufs);
    graftFree(ctx, b->node);
    graftFree(ctx, b->param);
    graftFree(ctx, b->copy);
}

/* Copies the statistics (save 1) or puts the copy back (save 0). */
static void stats_copy(stat_backup *b, int save)
{
    float *c = b->copy;
    for (int i = 0; i < b->n; i++) {
        const size_t n = b->bufs[i]->numel;
        if (save)
            memcpy(c, b->bufs[i]->data, n * sizeof(float));
        else
            memcpy(b->bufs[i]->data, c, n * sizeof(float));
        c += n;
    }
}

/* GRAFT_E_NUMERIC naming the first statistic that is not finite. */
static int stats_check(graft_model *m, const stat_backup *b, int64_t e, int64_t bi,
                       const char *func)
{
    for (int i = 0; i < b->n; i++) {
        const graft_tensor *t = b->bufs[i];
        const size_t k = graftFirstNonFinite(t->data, t->numel);
        if (k == t->numel) continue;
        const graftNode *node = &m->nodes[b->node[i]];
        return graftError(m->ctx, GRAFT_E_NUMERIC, func,
                          "at epoch %lld, batch %lld, layer \"%s\" (%s) buffer \"%s\": the "
                          "batch made it %s (element %zu); the step was not made: the "
                          "parameters, the optimizer and the batch-norm statistics are as "
                          "before it",
                          (long long)e + 1, (long long)bi + 1, node->name,
                          node->layer->vtbl->kind, node->layer->params[b->param[i]].name,
                          graftNonFiniteName(t->data[k]), k);
    }
    return GRAFT_OK;
}

static void shuffle_order(int64_t *order, int64_t n, uint64_t seed, int64_t epoch, int shuffle)
{
    for (int64_t i = 0; i < n; i++) order[i] = i;
    if (!shuffle) return;
    graftRng rng;
    graftRngSeed(&rng, mix_seed(seed, (uint64_t)epoch + 1, 0, 0));
    for (int64_t i = n - 1; i > 0; i--) {
        int64_t j = (int64_t)(graftRngNext(&rng) % (uint64_t)(i + 1));
        int64_t t = order[i];
        order[i] = order[j];
        order[j] = t;
    }
}

static void reseed_layers(graft_model *m, uint64_t seed, int64_t epoch, int64_t batch)
{
    for (int i = 0; i < m->n_nodes; i++) {
        graft_layer *l = m->nodes[i].layer;
        if (l->vtbl->reseed)
            l->vtbl->reseed(l, mix_seed(seed, (uint64_t)epoch + 1, (uint64_t)batch + 1,
                                        (uint64_t)i + 1));
    }
}

/* ---- feature caching -------------------------------------------------------------- */

/* Features of a frozen trunk, one row per training sample, in dataset order. */
typedef struct feature_cache {
    int node;         /* the trunk node whose output is cached, or -1: none */
    size_t row;       /* floats per sample */
    float *rows;
    int32_t *labels;  /* per sample */
    graft_tensor *batch; /* (batch, node's output shape...) */
} feature_cache;

/* The single frozen node that trained nodes read when caching is safe,
 * or -1. Needs node->upstream marked. */
static int cacheable_node(graft_model *m, const graft_dataset *train)
{
    if (!m->feature_cache || train->src->randomized) return -1;
    int frontier = -1;
    for (int i = 0; i < m->n_nodes; i++) {
        const graftNode *n = &m->nodes[i];
        if (!n->upstream) {
            /* trunk layers must compute the same output at every epoch */
            if (n->layer->vtbl->reseed) return -1;
            if (n->layer->vtbl == &graftBatchNormVtbl && m->frozen_bn_trains) return -1;
            continue;
        }
        for (int k = 0; k < n->n_inputs; k++) {
            int j = n->inputs[k];
            if (j == GRAFT_INPUT_NODE) return -1;
            if (m->nodes[j].upstream) continue;
            if (frontier >= 0 && frontier != j) return -1;
            frontier = j;
        }
    }
    return frontier;
}

static void cache_free(graft_ctx *ctx, feature_cache *c)
{
    graftFree(ctx, c->rows);
    graftFree(ctx, c->labels);
    graft_tensor_free(c->batch);
    c->rows = NULL;
    c->labels = NULL;
    c->batch = NULL;
    c->node = -1;
}

/* Builds the cache for node f over every training sample, or leaves it
 * empty when it would not fit the model's memory budget. */
static int cache_build(graft_model *m, graft_dataset *train, batch_buffers *b, int batch, int f,
                       feature_cache *c, const char *func)
{
    const graftShape *fs = &m->nodes[f].layer->out_shape;
    size_t row = (size_t)graftShapeSampleNumel(fs);
    double bytes = (double)row * (double)train->count * sizeof(float);
    if (bytes > (double)m->feature_cache_mb * 1048576.0) return GRAFT_OK;
    c->rows = graftAlloc(m->ctx, row * (size_t)train->count * sizeof(float));
    c->labels = graftAlloc(m->ctx, (size_t)train->count * sizeof(int32_t));
    if (!c->rows || !c->labels) { /* no room: train without the cache */
        cache_free(m->ctx, c);
        return GRAFT_OK;
    }
    graftShape bs = *fs;
    bs.dims[0] = batch;
    int st = graftTensorNew(m->ctx, bs.ndim, bs.dims, &c->batch);
    if (st != GRAFT_OK) {
        cache_free(m->ctx, c);
        return st;
    }
    graftModelSetMode(m, 1);
    for (int64_t start = 0; start < train->count; start += batch) {
        int n = (int)(train->count - start < batch ? train->count - start : batch);
        for (int i = 0; i < n; i++) b->order[i] = start + i;
        st = load_batch(train, b, b->order, n);
        if (st == GRAFT_OK) st = check_batch(m, train, b->x, b->order, "training", -1, 0, func);
        const graft_tensor *y = NULL;
        if (st == GRAFT_OK) st = graftModelForwardTrunk(m, b->x, f, &y);
        if (st != GRAFT_OK) {
            cache_free(m->ctx, c);
            return st;
        }
        memcpy(c->rows + (size_t)start * row, y->data, (size_t)n * row * sizeof(float));
        memcpy(c->labels + start, b->labels, (size_t)n * sizeof(int32_t));
    }
    c->node = f;
    c->row = row;
    return GRAFT_OK;
}

/* Puts the cached rows and labels of positions order[0..n) into c->batch
 * and labels. */
static void cache_gather(feature_cache *c, const int64_t *order, int n, int32_t *labels)
{
    c->batch->dims[0] = n;
    c->batch->numel = (size_t)n * c->row;
    for (int i = 0; i < n; i++) {
        memcpy(c->batch->data + (size_t)i * c->row, c->rows + (size_t)order[i] * c->row,
               c->row * sizeof(float));
        labels[i] = c->labels[order[i]];
    }
}

/* The sizes graft_fit_opts has had: 1.0. */
static const uint32_t fit_opts_sizes[] = {(uint32_t)sizeof(graft_fit_opts)};
static const graftOptionsKind fit_opts_kind = {
    "opts", "GRAFT_FIT_OPTS_INIT", fit_opts_sizes, GRAFT_OPTIONS_COUNT(fit_opts_sizes), 0, 0};

GRAFT_API int graft_model_fit(graft_model *m, graft_optim *o, graft_dataset *train,
                              graft_dataset *val, const graft_fit_opts *opts)
{
    const char *func = __func__;
    graft_ctx *ctx = m ? m->ctx : NULL;
    graftClearError(ctx);
    GRAFT_RETURN_IF(!m || !o || !train, ctx, GRAFT_E_INVALID_ARG,
                    "model, optim and train must not be NULL");
    graft_fit_opts opt = GRAFT_FIT_OPTS_INIT;
    if (opts) {
        GRAFT_FORWARD_IF_ERROR(graftOptionsRead(ctx, func, &fit_opts_kind, opts, &opt));
    }
    GRAFT_RETURN_IF(opt.epochs < 1, ctx, GRAFT_E_INVALID_ARG, "epochs is %d, must be >= 1",
                    opt.epochs);
    GRAFT_RETURN_IF(opt.batch_size < 1, ctx, GRAFT_E_INVALID_ARG,
                    "batch_size is %d, must be >= 1", opt.batch_size);
    GRAFT_RETURN_IF(opt.shuffle != 0 && opt.shuffle != 1, ctx, GRAFT_E_INVALID_ARG,
                    "shuffle is %d, must be 0 or 1", opt.shuffle);
    GRAFT_FORWARD_IF_ERROR(check_fit(m, train, "training", func));
    if (val) GRAFT_FORWARD_IF_ERROR(check_fit(m, val, "validation", func));

    int batch = opt.batch_size < train->count ? opt.batch_size : (int)train->count;
    int c = (int)graftModelOutputSize(m);
    int64_t n_batches = (train->count + batch - 1) / batch;
    batch_buffers b;
    slot_list slots = {NULL, NULL, NULL, 0, 0, 0, ctx, m};
    feature_cache cache = {-1, 0, NULL, NULL, NULL};
    stat_backup stats = {NULL, NULL, NULL, 0, NULL};
    graft_eval *ve = NULL;
    int st = buffers_init(m, &b, batch, train->count, 1, func);
    if (st == GRAFT_OK) st = stats_init(m, &stats, func);
    if (st == GRAFT_OK && val) st = eval_new(m, 1, &ve, func);
    int restore = 0; /* 1 while a step has changed the statistics and not finished */

    graft_progress p;
    int stop = 0;
    int64_t first = m->epochs_done;
    for (int64_t e = first; st == GRAFT_OK && !stop && e < first + opt.epochs; e++) {
        /* Staged unfreezing, then the parameter list (flags and rate
         * multipliers may have changed), then the trunk cache. */
        st = graftModelApplyUnfreeze(m, e);
        if (st == GRAFT_OK) st = graft_dataset_set_epoch(train, e); /* augmentation draws */
        if (st != GRAFT_OK) break;
        slots.n = 0;
        graftModelForEachParam(m, collect_slot, &slots);
        if (slots.failed) {
            st = graftError(ctx, GRAFT_E_NOMEM, func, "cannot list parameters");
            break;
        }
        graftModelMarkUpstream(m);
        int f = cacheable_node(m, train);
        if (f != cache.node) {
            cache_free(ctx, &cache);
            if (f >= 0) st = cache_build(m, train, &b, batch, f, &cache, func);
            if (st != GRAFT_OK) break;
        }

        shuffle_order(b.order, train->count, opt.seed, e, opt.shuffle);
        double loss_sum = 0, t0 = now_seconds();
        int64_t correct = 0, seen = 0;
        for (int64_t bi = 0; bi < n_batches && !stop; bi++) {
            int n = (int)(train->count - bi * batch < batch ? train->count - bi * batch : batch);
            const int64_t *order = b.order + bi * batch;
            const graft_tensor *x = b.x;
            if (cache.node >= 0) {
                cache_gather(&cache, order, n, b.labels);
                x = cache.batch;
                m->override_node = cache.node;
                m->override_tensor = cache.batch;
            } else {
                st = load_batch(train, &b, order, n);
                if (st == GRAFT_OK) st = check_batch(m, train, b.x, order, "training", e, bi, func);
                if (st != GRAFT_OK) break;
            }
            graftModelSetMode(m, 1);
            reseed_layers(m, opt.seed, e, bi);
            /* Every check below runs before the update is made, so a step
             * that fails leaves the parameters and the optimizer as they
             * were; the forward's running statistics are put back. */
            stats_copy(&stats, 1);
            restore = 1;
            const graft_tensor *logits;
            st = graftModelForward(m, x, &logits);
            if (st != GRAFT_OK) break;
            b.grad->dims[0] = n;
            b.grad->numel = (size_t)n * c;
            float loss;
            st = graft_loss_softmax_cross_entropy(logits, b.labels, &loss, b.grad);
            if (st == GRAFT_OK && !isfinite(loss))
                st = GRAFT_E_NUMERIC;
            if (st != GRAFT_OK) {
                if (st == GRAFT_E_NUMERIC)
                    st = graftError(ctx, GRAFT_E_NUMERIC, func,
                                    "the loss or the model's outputs became non-finite at epoch "
                                    "%lld, batch %lld (%s); the step was not made",
                                    (long long)e + 1, (long long)bi + 1,
                                    ctx->check_inputs ? "lower the learning rate"
                                                      : "an input that is not finite, or a "
                                                        "learning rate too high");
                break;
            }
            st = stats_check(m, &stats, e, bi, func);
            if (st != GRAFT_OK) break;
            for (int i = 0; i < n; i++)
                correct += argmax_row(logits->data + (size_t)i * c, c) == b.labels[i];
            st = graftModelBackward(m, x, b.grad);
            m->override_node = -2;
            if (st != GRAFT_OK) break;
            /* The schedule runs on the optimizer's own progress: a fresh
             * optimizer starts its schedule at 0 even on a pretrained model. */
            double lr = graftOptimLearningRate(o, (double)graft_optim_steps(o) / (double)n_batches);
            graftOptimFault fault;
            st = graftOptimStepChecked(o, slots.n, slots.slots, lr, slots.bounds, &fault);
            if (st == GRAFT_E_NUMERIC && fault.slot >= 0)
                st = step_fault(m, &slots, &fault, e, bi, func);
            if (st != GRAFT_OK) break;
            restore = 0;
            loss_sum += (double)loss * n;
            seen += n;
            if (opt.progress) {
                double dt = now_seconds() - t0;
                for (int k = 0; k < GRAFT_PROGRESS_SLOTS; k++) p.values[k] = NAN;
                p.values[GRAFT_PROGRESS_EVENT] = GRAFT_EVENT_BATCH_END;
                p.values[GRAFT_PROGRESS_EPOCH] = (double)(e + 1);
                p.values[GRAFT_PROGRESS_EPOCHS] = (double)(first + opt.epochs);
                p.values[GRAFT_PROGRESS_BATCH] = (double)(bi + 1);
                p.values[GRAFT_PROGRESS_BATCHES] = (double)n_batches;
                p.values[GRAFT_PROGRESS_LOSS] = loss_sum / (double)seen;
                p.values[GRAFT_PROGRESS_ACCURACY] = (double)correct / (double)seen;
                p.values[GRAFT_PROGRESS_LR] = lr;
                p.values[GRAFT_PROGRESS_IMAGES_PER_SEC] = dt > 0 ? (double)seen / dt : 0;
                stop = opt.progress(opt.user_data, &p) != 0;
            }
        }
        m->override_node = -2;
        if (st != GRAFT_OK) break;
        if (seen == train->count) m->epochs_done = e + 1;
        if (stop && seen < train->count) break;
        if (ve) {
            memset(ve->confusion, 0, (size_t)c * c * sizeof *ve->confusion);
            st = run_eval(m, val, batch, 1, ve, "validation", func);
            if (st != GRAFT_OK) break;
        }
        if (opt.progress) {
            double dt = now_seconds() - t0;
            p.values[GRAFT_PROGRESS_EVENT] = GRAFT_EVENT_EPOCH_END;
            p.values[GRAFT_PROGRESS_IMAGES_PER_SEC] = dt > 0 ? (double)seen / dt : 0;
            p.values[GRAFT_PROGRESS_VAL_LOSS] = ve ? ve->loss : NAN;
            p.values[GRAFT_PROGRESS_VAL_ACCURACY] = ve ? ve->accuracy : NAN;
            stop = opt.progress(opt.user_data, &p) != 0 || stop;
        }
    }
    m->override_node = -2;
    if (st != GRAFT_OK && restore) stats_copy(&stats, 0);
    cache_free(ctx, &cache);
    graft_eval_free(ve);
    graftFree(ctx, slots.slots);
    graftFree(ctx, slots.where);
    graftFree(ctx, slots.bounds);
    stats_free(ctx, &stats);
    buffers_free(ctx, &b);
    return graftErrorAt(ctx, st, func);
}

/* ---- predict ---------------------------------------------------------------- */

static int predict_probs(graft_model *m, const graft_tensor *input, const char *func,
                         const graft_tensor **logits)
{
    graft_ctx *ctx = m->ctx;
    int out = graftModelOutputNode(m);
    GRAFT_RETURN_IF_AT(out < 0, ctx, GRAFT_E_STATE, func, "the model has no layers");
    GRAFT_RETURN_IF_AT(m->nodes[out].layer->out_shape.ndim != 2, ctx, GRAFT_E_SHAPE, func,
                       "the model's output must be (N, classes)");
    GRAFT_FORWARD_IF_ERROR(graftModelCheckInput(m, input, func));
    graftModelSetMode(m, 0);
    return graftModelForward(m, input, logits);
}

static void softmax_row(const float *in, float *out, int c)
{
    float mx = in[0];
    for (int j = 1; j < c; j++) mx = in[j] > mx ? in[j] : mx;
    double sum = 0;
    for (int j = 0; j < c; j++) sum += exp((double)(in[j] - mx));
    for (int j = 0; j < c; j++) out[j] = (float)(exp((double)(in[j] - mx)) / sum);
}

GRAFT_API int graft_model_predict(graft_model *m, const graft_tensor *input, graft_tensor *probs)
{
    graftClearError(m ? m->ctx : NULL);
    GRAFT_RETURN_IF(!m || !input || !probs, m ? m->ctx : NULL, GRAFT_E_INVALID_ARG,
                    "model, input and probs must not be NULL");
    const graft_tensor *logits;
    int st = predict_probs(m, input, __func__, &logits);
    if (st != GRAFT_OK) return graftErrorAt(m->ctx, st, __func__);
    if (!graftTensorSameShape(logits, probs)) {
        char a[128], b[128];
        graftShapeString(probs->ndim, probs->dims, a, sizeof a);
        graftShapeString(logits->ndim, logits->dims, b, sizeof b);
        return graftError(m->ctx, GRAFT_E_SHAPE, __func__, "probs has shape %s, expected %s", a, b);
    }
    int c = (int)logits->dims[1];
    for (int64_t i = 0; i < logits->dims[0]; i++)
        softmax_row(logits->data + i * c, probs->data + i * c, c);
    return GRAFT_OK;
}

GRAFT_API int graft_model_predict_topk(graft_model *m, const graft_tensor *input, int k,
                                       int32_t *indices, float *probs)
{
    graftClearError(m ? m->ctx : NULL);
    GRAFT_RETURN_IF(!m || !input || !indices || !probs, m ? m->ctx : NULL, GRAFT_E_INVALID_ARG,
                    "model, input, indices and probs must not be NULL");
    int c = (int)graftModelOutputSize(m);
    GRAFT_RETURN_IF(k < 1 || k > c, m->ctx, GRAFT_E_RANGE,
                    "k is %d, must be 1 to %d (the classes)", k, c);
    const graft_tensor *logits;
    int st = predict_probs(m, input, __func__, &logits);
    if (st != GRAFT_OK) return graftErrorAt(m->ctx, st, __func__);
    float *row = graftAlloc(m->ctx, (size_t)c * sizeof *row);
    GRAFT_RETURN_IF(!row, m->ctx, GRAFT_E_NOMEM, "cannot allocate a row");
    for (int64_t i = 0; i < logits->dims[0]; i++) {
        softmax_row(logits->data + i * c, row, c);
        /* selection of the k best, ties to the lower index */
        for (int r = 0; r < k; r++) {
            int best = -1;
            for (int j = 0; j < c; j++) {
                if (row[j] < 0) continue;
                if (best < 0 || row[j] > row[best]) best = j;
            }
            indices[i * k + r] = best;
            probs[i * k + r] = row[best];
            row[best] = -1.0f;
        }
    }
    graftFree(m->ctx, row);
    return GRAFT_OK;
}
