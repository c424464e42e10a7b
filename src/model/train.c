/*
 * train.c - fitting a model to a dataset.
 *
 * Determinism: the order of epoch e is a permutation drawn from (seed, e),
 * and before every step each layer that draws random numbers is reseeded
 * from (seed, e, batch, layer), so the whole run is a function of the seed,
 * the model and the data; a run resumed from a checkpoint continues exactly.
 */
#include "core/finite.h"
#include "core/options.h"
#include "data/dataset.h"
#include "batch.h"
#include "fit_callbacks.h"
#include "fit_loss.h"
#include "optim.h"

#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

/* The highest GRAFT_PROGRESS_* key: graft_progress holds one slot per key. */
#define GRAFT_PROGRESS_KEY_MAX GRAFT_PROGRESS_BEST
#define GRAFT_PROGRESS_SLOTS (GRAFT_PROGRESS_KEY_MAX + 1)

struct graft_progress {
    double values[GRAFT_PROGRESS_SLOTS]; /* indexed by GRAFT_PROGRESS_* (slot 0 unused) */
};

/* A new GRAFT_PROGRESS_* key must become GRAFT_PROGRESS_KEY_MAX (and be set
 * in graft_model_fit()): this fails to compile until the count is updated. */
_Static_assert(GRAFT_PROGRESS_KEY_MAX == 14 && GRAFT_PROGRESS_EVENT == 1,
               "GRAFT_PROGRESS_KEY_MAX must be the highest GRAFT_PROGRESS_* key");
_Static_assert(sizeof ((graft_progress *)0)->values / sizeof(double) == GRAFT_PROGRESS_SLOTS,
               "graft_progress must hold one slot per GRAFT_PROGRESS_* key");

GRAFT_API double graft_progress_get(const graft_progress *p, int key)
{
    if (!p || key < GRAFT_PROGRESS_EVENT || key > GRAFT_PROGRESS_KEY_MAX) return NAN;
    return p->values[key];
}


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
static int cache_build(graft_model *m, graft_dataset *train, graftBatch *b, int batch, int f,
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
        st = graftBatchLoad(train, b, b->order, n);
        if (st == GRAFT_OK) st = graftBatchCheckFinite(m, train, b->x, b->order, "training", -1, 0, func);
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

/* Gradient clipping (graft_fit_opts.clip_grad_norm, as PyTorch's
 * clip_grad_norm_): the total L2 norm of the trained slots' gradients, and
 * when it is above limit every such gradient times limit / (norm + 1e-6).
 * A norm that is not finite scales nothing: the step's check then refuses
 * the gradient and names it. */
static void clip_gradients(graft_model *m, const slot_list *sl, float limit)
{
    double sum = 0;
    for (int i = 0; i < sl->n; i++) {
        if (sl->slots[i].frozen) continue;
        const graft_tensor *g = sl->slots[i].grad;
        for (size_t k = 0; k < g->numel; k++) sum += (double)g->data[k] * (double)g->data[k];
    }
    const double norm = sqrt(sum);
    if (!isfinite(norm) || norm <= (double)limit) return;
    const float coef = (float)((double)limit / (norm + 1e-6));
    for (int i = 0; i < sl->n; i++) {
        if (sl->slots[i].frozen) continue;
        graft_tensor *g = m->nodes[sl->where[i][0]].layer->params[sl->where[i][1]].grad;
        for (size_t k = 0; k < g->numel; k++) g->data[k] *= coef;
    }
}

/* The sizes graft_fit_opts has had: 1.0, 1.3 (the loss and callback fields). */
static const uint32_t fit_opts_sizes[] = {(uint32_t)offsetof(graft_fit_opts, class_weights),
                                          (uint32_t)sizeof(graft_fit_opts)};
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
    GRAFT_FORWARD_IF_ERROR(graftBatchCheckDataset(m, train, "training", func));
    if (val) GRAFT_FORWARD_IF_ERROR(graftBatchCheckDataset(m, val, "validation", func));

    int batch = opt.batch_size < train->count ? opt.batch_size : (int)train->count;
    int c = (int)graftModelOutputSize(m);
    int64_t n_batches = (train->count + batch - 1) / batch;
    graftBatch b;
    graftFitLoss fl;
    slot_list slots = {NULL, NULL, NULL, 0, 0, 0, ctx, m};
    feature_cache cache = {-1, 0, NULL, NULL, NULL};
    stat_backup stats = {NULL, NULL, NULL, 0, NULL};
    graft_eval *ve = NULL;
    graftFitCallbacks cbs;
    GRAFT_FORWARD_IF_ERROR(graftFitCallbacksInit(&cbs, m, o, &opt, val != NULL, func));
    int st = graftBatchInit(m, &b, batch, train->count, 1, func);
    int fl_st = graftFitLossInit(m, &opt, train, batch, &fl, func);
    if (st == GRAFT_OK) st = fl_st;
    if (st == GRAFT_OK) st = stats_init(m, &stats, func);
    if (st == GRAFT_OK && val)
        st = m->task == GRAFT_TASK_CLASSIFICATION ? graftEvalNew(m, 1, &ve, func)
                                                  : graftEvalTargetsNew(m, NULL, &ve, func);
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
        int f = graftFitLossMixes(&fl) ? -1 : cacheable_node(m, train);
        if (f != cache.node) {
            cache_free(ctx, &cache);
            if (f >= 0) st = cache_build(m, train, &b, batch, f, &cache, func);
            if (st != GRAFT_OK) break;
        }

        shuffle_order(b.order, train->count, opt.seed, e, opt.shuffle);
        double loss_sum = 0, t0 = now_seconds();
        double correct = 0;
        int64_t seen = 0;
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
                st = graftBatchLoad(train, &b, order, n);
                if (st == GRAFT_OK) st = graftBatchCheckFinite(m, train, b.x, order, "training", e, bi, func);
                if (st != GRAFT_OK) break;
            }
            st = graftFitLossLoad(&fl, train, order, n, func);
            if (st != GRAFT_OK) break;
            if (graftFitLossMixes(&fl))
                graftFitLossMix(&fl, b.x, b.labels, n,
                                mix_seed(opt.seed, (uint64_t)e + 1, (uint64_t)bi + 1, 0));
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
            st = graftFitLossCompute(&fl, ctx, logits, b.labels, &loss, b.grad, func);
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
            correct += graftFitLossCorrect(&fl, logits, b.labels, n);
            st = graftModelBackward(m, x, b.grad);
            m->override_node = -2;
            if (st != GRAFT_OK) break;
            if (opt.clip_grad_norm > 0) clip_gradients(m, &slots, opt.clip_grad_norm);
            /* The schedule runs on the optimizer's own progress: a fresh
             * optimizer starts its schedule at 0 even on a pretrained model. */
            double lr = cbs.lr_scale *
                        graftOptimLearningRate(o, (double)graft_optim_steps(o) / (double)n_batches);
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
                p.values[GRAFT_PROGRESS_ACCURACY] =
                    m->task == GRAFT_TASK_REGRESSION ? NAN : correct / (double)seen;
                p.values[GRAFT_PROGRESS_LR] = lr;
                p.values[GRAFT_PROGRESS_IMAGES_PER_SEC] = dt > 0 ? (double)seen / dt : 0;
                graftFitCallbacksReport(&cbs, p.values);
                stop = opt.progress(opt.user_data, &p) != 0;
            }
        }
        m->override_node = -2;
        if (st != GRAFT_OK) break;
        if (seen == train->count) m->epochs_done = e + 1;
        if (stop && seen < train->count) break;
        if (ve && m->task != GRAFT_TASK_CLASSIFICATION) {
            st = graftEvalTargetsRun(m, val, batch, ve, "validation", func);
            if (st != GRAFT_OK) break;
        } else if (ve) {
            memset(ve->confusion, 0, (size_t)c * c * sizeof *ve->confusion);
            st = graftEvalRun(m, val, batch, 1, ve, "validation", func);
            if (st != GRAFT_OK) break;
        }
        int cb_stop;
        st = graftFitCallbacksEpochEnd(&cbs, m, o, e, loss_sum / (double)seen,
                                       (double)correct / (double)seen, ve, &cb_stop, func);
        if (st != GRAFT_OK) break;
        if (opt.progress) {
            graftFitCallbacksReport(&cbs, p.values);
            double dt = now_seconds() - t0;
            p.values[GRAFT_PROGRESS_EVENT] = GRAFT_EVENT_EPOCH_END;
            p.values[GRAFT_PROGRESS_IMAGES_PER_SEC] = dt > 0 ? (double)seen / dt : 0;
            p.values[GRAFT_PROGRESS_VAL_LOSS] = ve ? ve->loss : NAN;
            p.values[GRAFT_PROGRESS_VAL_ACCURACY] = ve ? ve->accuracy : NAN;
            stop = opt.progress(opt.user_data, &p) != 0 || stop;
        }
        stop = stop || cb_stop;
    }
    st = graftFitCallbacksEnd(&cbs, m, st);
    m->override_node = -2;
    if (st != GRAFT_OK && restore) stats_copy(&stats, 0);
    cache_free(ctx, &cache);
    graftFitLossFree(ctx, &fl);
    graft_eval_free(ve);
    graftFree(ctx, slots.slots);
    graftFree(ctx, slots.where);
    graftFree(ctx, slots.bounds);
    stats_free(ctx, &stats);
    graftBatchFree(ctx, &b);
    return graftErrorAt(ctx, st, func);
}
