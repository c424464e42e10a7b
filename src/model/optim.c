/*
 * optim.c - what every optimizer kind shares: creation, the hyperparameter
 * table (defaults, bounds, which kinds use each key), set/get/bounds, the
 * learning-rate schedule, the per-slot state, the step dispatch and
 * save/load. The update rules are in optim_sgd.c and optim_adam.c.
 *
 * Learning-rate schedule
 * ----------------------
 * With base = GRAFT_OPT_LR, W = GRAFT_OPT_WARMUP_EPOCHS and e >= 0 the point
 * of training in epochs (fractions allowed), the main schedule S(x) for
 * x >= 0 is
 *   constant: S(x) = base
 *   step:     S(x) = base * gamma^floor(x / STEP_EPOCHS)
 *   cosine:   S(x) = MIN_LR + (base - MIN_LR) * (1 + cos(pi * min(x, T) / T)) / 2,
 *             T = COSINE_EPOCHS (T = 0 leaves the schedule undefined: NaN)
 * and the learning rate at e is
 *   e <  W:   S(0) * e / W        (linear warm-up from 0; S(0) = base)
 *   e >= W:   S(e - W)            (the main schedule starts after warm-up)
 * so with W = 0 it is S(e). A NaN or negative e gives NaN.
 *
 * Step state
 * ----------
 * The first graftOptimStep() records the slot count and each slot's element
 * count and allocates, once, the slot table and one block of
 * n_buffers * numel floats per slot (zero-filled); later steps must pass the
 * same layout (GRAFT_E_STATE otherwise) and allocate nothing. Each slot
 * keeps its own update count (frozen steps are not counted, as PyTorch skips
 * parameters without a gradient and keeps a per-parameter step).
 * Every step (the first included) is refused with GRAFT_E_STATE, before any
 * other check and without touching anything, when the schedule is cosine
 * with COSINE_EPOCHS 0 (the schedule's lr is then NaN), or when an SGD
 * optimizer has NESTEROV 1 and MOMENTUM 0. Step errors name graft_model_fit,
 * the public function that makes steps.
 *
 * Checked steps
 * -------------
 * graftOptimStepChecked() (what graft_model_fit() calls) proves a step
 * finite before making it: one read of each updated slot's gradient gives
 * its largest magnitude (and finds any inf or NaN); the largest magnitudes
 * of the value and the state come from bounds the previous checked step
 * left (or from one read of them, at the first step of a fit or when the
 * bounds have grown too loose); the kind's stays_finite() turns them into
 * bounds on every intermediate of its rule and on the new magnitudes, and
 * only where they reach GRAFT_OPTIM_FINITE_LIMIT (1e37) with the values
 * read does the update run on a copy first. So a step that would store an
 * inf or a NaN is refused whole, with nothing to restore, no copy of the
 * parameters is kept, and the ordinary step costs one extra read of the
 * gradients (a third to a seventh of what the update itself moves). The
 * kept bounds are widened by a relative 1e-6 at every step, more than the
 * few roundings to float of a step can add, so they stay bounds however
 * many steps a fit makes.
 *
 * Serialised form (little-endian, graftWriter/graftReader)
 * -------------------------------------------------------
 *   u32 record version (1)
 *   u32 kind (GRAFT_OPTIM_*)
 *   u32 H, the number of hyperparameters that follow (at most the number of
 *       keys the kind uses), then H times: u32 key, u64 IEEE-754 bits of its
 *       double value (keys not written keep their defaults)
 *   i64 step count (>= 0)
 *   u32 has_state (0 or 1; 1 exactly when the step count is > 0)
 *   when has_state:
 *     u32 S, the slot count
 *     S times: i64 numel (1 to 2^40), i64 the slot's update count (0 to the
 *       step count)
 *     then every slot's state: n_buffers * numel f32, slot after slot
 *       (finite; Adam's second moments >= 0)
 * Loading validates every field (GRAFT_E_FORMAT naming the field and its
 * offset) and allocates only after checking that the remaining bytes can
 * hold what the counts announce.
 */
#include "optim_impl.h"
#include "core/finite.h"

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#define OPTIM_PI 3.14159265358979323846
#define LOAD_FUNC "graft_load"
#define STEP_FUNC "graft_model_fit"
#define OPTIM_RECORD_VERSION 1u

#define K_SGD (1u << GRAFT_OPTIM_SGD)
#define K_ADAM (1u << GRAFT_OPTIM_ADAM)
#define K_ADAMW (1u << GRAFT_OPTIM_ADAMW)
#define K_ALL (K_SGD | K_ADAM | K_ADAMW)

/* One hyperparameter: its name, closed range [lo, hi] with optional
 * exclusion of either end, whether it takes whole numbers only, the kinds
 * that use it, and its default per kind. */
typedef struct key_info {
    const char *name; /* NULL: no such key */
    double lo, hi;
    unsigned char lo_open, hi_open, whole;
    unsigned kinds; /* bit k: used by kind k */
    double def[GRAFT_OPTIM_KIND_MAX + 1];
} key_info;

static const key_info key_table[GRAFT_OPT_KEY_MAX + 1] = {
    [GRAFT_OPT_LR] = {"GRAFT_OPT_LR", 0, 10, 1, 0, 0, K_ALL, {0, 0.01, 0.001, 0.001}},
    [GRAFT_OPT_MOMENTUM] = {"GRAFT_OPT_MOMENTUM", 0, 1, 0, 1, 0, K_SGD, {0, 0, 0, 0}},
    [GRAFT_OPT_NESTEROV] = {"GRAFT_OPT_NESTEROV", 0, 1, 0, 0, 1, K_SGD, {0, 0, 0, 0}},
    [GRAFT_OPT_WEIGHT_DECAY] = {"GRAFT_OPT_WEIGHT_DECAY", 0, 1, 0, 0, 0, K_ALL, {0, 0, 0, 0.01}},
    [GRAFT_OPT_BETA1] = {"GRAFT_OPT_BETA1", 0, 1, 0, 1, 0, K_ADAM | K_ADAMW, {0, 0, 0.9, 0.9}},
    [GRAFT_OPT_BETA2] = {"GRAFT_OPT_BETA2", 0, 1, 0, 1, 0, K_ADAM | K_ADAMW,
                         {0, 0, 0.999, 0.999}},
    [GRAFT_OPT_EPSILON] = {"GRAFT_OPT_EPSILON", 0, 1, 1, 0, 0, K_ADAM | K_ADAMW,
                           {0, 0, 1e-8, 1e-8}},
    [GRAFT_OPT_SCHEDULE] = {"GRAFT_OPT_SCHEDULE", GRAFT_SCHEDULE_CONSTANT, GRAFT_SCHEDULE_COSINE,
                            0, 0, 1, K_ALL, {0, 0, 0, 0}},
    [GRAFT_OPT_STEP_EPOCHS] = {"GRAFT_OPT_STEP_EPOCHS", 1, 1e6, 0, 0, 0, K_ALL,
                               {0, 10, 10, 10}},
    [GRAFT_OPT_GAMMA] = {"GRAFT_OPT_GAMMA", 0, 1, 1, 0, 0, K_ALL, {0, 0.1, 0.1, 0.1}},
    [GRAFT_OPT_COSINE_EPOCHS] = {"GRAFT_OPT_COSINE_EPOCHS", 0, 1e6, 0, 0, 0, K_ALL,
                                 {0, 0, 0, 0}},
    [GRAFT_OPT_MIN_LR] = {"GRAFT_OPT_MIN_LR", 0, 10, 0, 0, 0, K_ALL, {0, 0, 0, 0}},
    [GRAFT_OPT_WARMUP_EPOCHS] = {"GRAFT_OPT_WARMUP_EPOCHS", 0, 1e6, 0, 0, 0, K_ALL,
                                 {0, 0, 0, 0}},
};

static const graftOptimKind *const kind_table[GRAFT_OPTIM_KIND_MAX + 1] = {
    [GRAFT_OPTIM_SGD] = &graftOptimSgdKind,
    [GRAFT_OPTIM_ADAM] = &graftOptimAdamKind,
    [GRAFT_OPTIM_ADAMW] = &graftOptimAdamWKind,
};

_Static_assert(GRAFT_OPT_KEY_MAX == 13, "key_table must list every GRAFT_OPT_* key");
_Static_assert(GRAFT_OPTIM_KIND_MAX == 3, "kind_table must list every GRAFT_OPTIM_* kind");
_Static_assert(GRAFT_OPTIM_MAX_BUFFERS >= 2, "SGD keeps 1 buffer, Adam(W) 2");

typedef struct slot_state {
    size_t numel;
    int64_t step; /* updates this slot has had */
    float *buf;   /* n_buffers * numel floats inside the block */
} slot_state;

struct graft_optim {
    graft_ctx *ctx;
    int kind;
    const graftOptimKind *impl;
    double hp[GRAFT_OPT_KEY_MAX + 1]; /* by key; keys the kind does not use stay 0 */
    int64_t steps;
    int has_state; /* 1 after the first step (or a load of a stepped optimizer) */
    int n_slots;
    slot_state *slots;
    float *block;
};

/* ---- the key table --------------------------------------------------------- */

static int kind_known(int kind)
{
    return kind >= 1 && kind <= GRAFT_OPTIM_KIND_MAX && kind_table[kind] != NULL;
}

/* The entry of key when kind uses it, else NULL. */
static const key_info *key_for(int kind, int key)
{
    if (key < 1 || key > GRAFT_OPT_KEY_MAX || !key_table[key].name) return NULL;
    return (key_table[key].kinds >> kind) & 1u ? &key_table[key] : NULL;
}

/* Records the GRAFT_E_NOT_FOUND message for a key kind does not use. */
static int key_not_found(graft_ctx *ctx, const char *func, int kind, int key)
{
    if (key >= 1 && key <= GRAFT_OPT_KEY_MAX && key_table[key].name)
        return graftError(ctx, GRAFT_E_NOT_FOUND, func, "%s is not used by %s optimizers",
                          key_table[key].name, kind_table[kind]->name);
    return graftError(ctx, GRAFT_E_NOT_FOUND, func, "unknown key %d", key);
}

/* When v is not acceptable for k, writes why ("is 0, must be in (0, 10]")
 * into buf and returns 1. */
static int value_problem(const key_info *k, double v, char *buf, size_t size)
{
    if (isnan(v)) {
        snprintf(buf, size, "is NaN");
        return 1;
    }
    if (v < k->lo || v > k->hi || (k->lo_open && v == k->lo) || (k->hi_open && v == k->hi)) {
        snprintf(buf, size, "is %g, must be in %c%g, %g%c", v, k->lo_open ? '(' : '[', k->lo,
                 k->hi, k->hi_open ? ')' : ']');
        return 1;
    }
    if (k->whole && v != floor(v)) {
        snprintf(buf, size, "is %g, must be a whole number", v);
        return 1;
    }
    return 0;
}

/* ---- creation, set/get/bounds --------------------------------------------- */

static int optim_new(graft_ctx *ctx, int kind, const char *func, graft_optim **out)
{
    graft_optim *o = graftCalloc(ctx, 1, sizeof *o);
    GRAFT_RETURN_IF_AT(!o, ctx, GRAFT_E_NOMEM, func, "cannot allocate the optimizer");
    o->ctx = ctx;
    o->kind = kind;
    o->impl = kind_table[kind];
    for (int key = 1; key <= GRAFT_OPT_KEY_MAX; key++) {
        const key_info *k = key_for(kind, key);
        if (k) o->hp[key] = k->def[kind];
    }
    *out = o;
    return GRAFT_OK;
}

GRAFT_API int graft_optim_create(graft_ctx *ctx, int kind, graft_optim **out)
{
    graftClearError(ctx);
    if (out) *out = NULL;
    GRAFT_RETURN_IF(!ctx, NULL, GRAFT_E_INVALID_ARG, "ctx is NULL");
    GRAFT_RETURN_IF(!out, ctx, GRAFT_E_INVALID_ARG, "out is NULL");
    GRAFT_RETURN_IF(!kind_known(kind), ctx, GRAFT_E_INVALID_ARG,
                    "unknown optimizer kind %d (use GRAFT_OPTIM_SGD, GRAFT_OPTIM_ADAM or "
                    "GRAFT_OPTIM_ADAMW)",
                    kind);
    return optim_new(ctx, kind, __func__, out);
}

static void free_state(graft_optim *o)
{
    graftFree(o->ctx, o->block);
    graftFree(o->ctx, o->slots);
    o->block = NULL;
    o->slots = NULL;
    o->n_slots = 0;
    o->has_state = 0;
}

GRAFT_API void graft_optim_free(graft_optim *optim)
{
    if (!optim) return;
    free_state(optim);
    graftFree(optim->ctx, optim);
}

GRAFT_API int graft_optim_set(graft_optim *optim, int key, double value)
{
    GRAFT_RETURN_IF(!optim, NULL, GRAFT_E_INVALID_ARG, "optim is NULL");
    graft_ctx *ctx = optim->ctx;
    graftClearError(ctx);
    const key_info *k = key_for(optim->kind, key);
    if (!k) return key_not_found(ctx, __func__, optim->kind, key);
    char why[128];
    GRAFT_RETURN_IF(value_problem(k, value, why, sizeof why), ctx, GRAFT_E_RANGE, "%s %s",
                    k->name, why);
    optim->hp[key] = value;
    return GRAFT_OK;
}

GRAFT_API int graft_optim_get(const graft_optim *optim, int key, double *value)
{
    GRAFT_RETURN_IF(!optim, NULL, GRAFT_E_INVALID_ARG, "optim is NULL");
    graft_ctx *ctx = optim->ctx;
    graftClearError(ctx);
    GRAFT_RETURN_IF(!value, ctx, GRAFT_E_INVALID_ARG, "value is NULL");
    if (!key_for(optim->kind, key)) return key_not_found(ctx, __func__, optim->kind, key);
    *value = optim->hp[key];
    return GRAFT_OK;
}

GRAFT_API int graft_optim_bounds(int kind, int key, double *lo, double *hi)
{
    graftClearError(NULL);
    GRAFT_RETURN_IF(!lo || !hi, NULL, GRAFT_E_INVALID_ARG, "lo and hi must not be NULL");
    GRAFT_RETURN_IF(!kind_known(kind), NULL, GRAFT_E_INVALID_ARG, "unknown optimizer kind %d",
                    kind);
    const key_info *k = key_for(kind, key);
    if (!k) return key_not_found(NULL, __func__, kind, key);
    *lo = k->lo;
    *hi = k->hi;
    return GRAFT_OK;
}

GRAFT_API int64_t graft_optim_steps(const graft_optim *optim)
{
    return optim ? optim->steps : 0;
}

/* ---- schedule -------------------------------------------------------------- */

/* NaN when the schedule is undefined (cosine without COSINE_EPOCHS). */
static double schedule_lr(const double *hp, double epoch)
{
    if (isnan(epoch) || epoch < 0) return NAN;
    const double base = hp[GRAFT_OPT_LR], warmup = hp[GRAFT_OPT_WARMUP_EPOCHS];
    double factor = 1.0, x = epoch - warmup;
    if (epoch < warmup) {
        factor = epoch / warmup;
        x = 0.0;
    }
    double lr = base;
    switch ((int)hp[GRAFT_OPT_SCHEDULE]) {
    case GRAFT_SCHEDULE_STEP:
        lr = base * pow(hp[GRAFT_OPT_GAMMA], floor(x / hp[GRAFT_OPT_STEP_EPOCHS]));
        break;
    case GRAFT_SCHEDULE_COSINE: {
        const double t = hp[GRAFT_OPT_COSINE_EPOCHS], floor_lr = hp[GRAFT_OPT_MIN_LR];
        if (t == 0) return NAN;
        lr = floor_lr + (base - floor_lr) * (1.0 + cos(OPTIM_PI * fmin(x, t) / t)) / 2.0;
        break;
    }
    default: break; /* GRAFT_SCHEDULE_CONSTANT */
    }
    return lr * factor;
}

GRAFT_API double graft_optim_lr_at(const graft_optim *optim, double epoch)
{
    return optim ? schedule_lr(optim->hp, epoch) : NAN;
}

double graftOptimLearningRate(const graft_optim *o, double epoch)
{
    return o ? schedule_lr(o->hp, epoch) : NAN;
}

/* ---- steps ----------------------------------------------------------------- */

/* Allocates the slot table and the state block for the layout of slots. */
static int create_state(graft_optim *o, int n_slots, const graftOptimSlot *slots)
{
    graft_ctx *ctx = o->ctx;
    const size_t nb = (size_t)o->impl->n_buffers;
    size_t elems = 0;
    for (int i = 0; i < n_slots; i++) {
        const size_t n = slots[i].value->numel;
        GRAFT_RETURN_IF_AT(n > (SIZE_MAX / sizeof(float)) / nb - elems, ctx, GRAFT_E_NOMEM,
                           STEP_FUNC, "optimizer state too large");
        elems += n;
    }
    const size_t total = elems * nb;
    slot_state *st = graftCalloc(ctx, (size_t)n_slots, sizeof *st);
    float *block = graftCalloc(ctx, total, sizeof(float));
    if (!st || !block) {
        graftFree(ctx, st);
        graftFree(ctx, block);
        return graftError(ctx, GRAFT_E_NOMEM, STEP_FUNC,
                          "cannot allocate the optimizer state (%zu floats)", total);
    }
    size_t offset = 0;
    for (int i = 0; i < n_slots; i++) {
        st[i].numel = slots[i].value->numel;
        st[i].buf = block + offset;
        offset += st[i].numel * nb;
    }
    o->slots = st;
    o->block = block;
    o->n_slots = n_slots;
    o->has_state = 1;
    return GRAFT_OK;
}

/* Every check of a step that comes before anything is touched: arguments,
 * hyperparameters, and the layout against existing state. */
static int step_check(graft_optim *o, int n_slots, const graftOptimSlot *slots, double lr)
{
    GRAFT_RETURN_IF_AT(!o, NULL, GRAFT_E_INVALID_ARG, STEP_FUNC, "optimizer is NULL");
    graft_ctx *ctx = o->ctx;
    GRAFT_RETURN_IF_AT(n_slots < 0 || (n_slots > 0 && !slots), ctx, GRAFT_E_INVALID_ARG,
                       STEP_FUNC, "bad parameter list (%d slots%s)", n_slots,
                       slots ? "" : ", NULL array");
    /* before the learning rate: an undefined schedule gives a NaN lr */
    GRAFT_RETURN_IF_AT(o->hp[GRAFT_OPT_SCHEDULE] == GRAFT_SCHEDULE_COSINE &&
                           o->hp[GRAFT_OPT_COSINE_EPOCHS] == 0,
                       ctx, GRAFT_E_STATE, STEP_FUNC,
                       "GRAFT_OPT_COSINE_EPOCHS must be set for the cosine schedule");
    const char *why = o->impl->check ? o->impl->check(o->hp) : NULL;
    GRAFT_RETURN_IF_AT(why != NULL, ctx, GRAFT_E_STATE, STEP_FUNC, "%s", why);
    GRAFT_RETURN_IF_AT(!isfinite(lr) || lr < 0, ctx, GRAFT_E_INVALID_ARG, STEP_FUNC,
                       "learning rate is %g, must be finite and >= 0", lr);
    for (int i = 0; i < n_slots; i++) {
        const graftOptimSlot *s = &slots[i];
        GRAFT_RETURN_IF_AT(!s->value, ctx, GRAFT_E_INVALID_ARG, STEP_FUNC,
                           "parameter %d: value is NULL", i);
        GRAFT_RETURN_IF_AT(s->frozen != 0 && s->frozen != 1, ctx, GRAFT_E_INVALID_ARG,
                           STEP_FUNC, "parameter %d: frozen is %d, must be 0 or 1", i,
                           s->frozen);
        GRAFT_RETURN_IF_AT(!isfinite(s->lr_scale) || s->lr_scale < 0, ctx, GRAFT_E_INVALID_ARG,
                           STEP_FUNC, "parameter %d: lr_scale is %g, must be finite and >= 0",
                           i, (double)s->lr_scale);
        if (s->frozen) continue;
        GRAFT_RETURN_IF_AT(!s->grad, ctx, GRAFT_E_INVALID_ARG, STEP_FUNC,
                           "parameter %d: gradient is NULL", i);
        GRAFT_RETURN_IF_AT(s->grad->numel != s->value->numel, ctx, GRAFT_E_SHAPE, STEP_FUNC,
                           "parameter %d: gradient has %zu elements, the value %zu", i,
                           s->grad->numel, s->value->numel);
    }
    if (o->has_state) {
        GRAFT_RETURN_IF_AT(n_slots != o->n_slots, ctx, GRAFT_E_STATE, STEP_FUNC,
                           "this optimizer was used with another model: its state is for %d "
                           "parameter tensors, not %d",
                           o->n_slots, n_slots);
        for (int i = 0; i < n_slots; i++)
            GRAFT_RETURN_IF_AT(slots[i].value->numel != o->slots[i].numel, ctx, GRAFT_E_STATE,
                               STEP_FUNC,
                               "this optimizer was used with another model: parameter %d has "
                               "%zu elements, its state %zu",
                               i, slots[i].value->numel, o->slots[i].numel);
    }
    return GRAFT_OK;
}

/* The update itself, after step_check(): creates the state at the first
 * step, then updates every slot that is not frozen. */
static int step_apply(graft_optim *o, int n_slots, const graftOptimSlot *slots, double lr)
{
    if (!o->has_state) GRAFT_FORWARD_IF_ERROR(create_state(o, n_slots, slots));
    for (int i = 0; i < n_slots; i++) {
        const graftOptimSlot *s = &slots[i];
        slot_state *st = &o->slots[i];
        if (s->frozen) continue;
        st->step++;
        o->impl->update(s->value->data, s->grad->data, st->buf, st->numel, st->step,
                        lr * (double)s->lr_scale, o->hp);
    }
    o->steps++;
    return GRAFT_OK;
}

int graftOptimStep(graft_optim *o, int n_slots, const graftOptimSlot *slots, double lr)
{
    GRAFT_FORWARD_IF_ERROR(step_check(o, n_slots, slots, lr));
    return step_apply(o, n_slots, slots, lr);
}

/* ---- checked steps ----------------------------------------------------------- */

/* The factor kept bounds grow by at each step (see "Checked steps"). */
#define BOUND_SLACK (1.0 + 1e-6)

/* Elements per piece of a trial update (a multiple of every kind's block of
 * 8, so each element takes the same path, vector or scalar, as in place). */
#define TRIAL_CHUNK 1024

static int fault_at(graftOptimFault *f, int slot, graftOptimFaultKind kind, const float *x,
                    size_t n, size_t offset, double grad_max)
{
    const size_t i = graftFirstNonFinite(x, n);
    f->slot = slot;
    f->kind = kind;
    f->index = offset + (i < n ? i : 0);
    f->value = i < n ? x[i] : NAN;
    f->grad_max = grad_max;
    return GRAFT_E_NUMERIC;
}

/* Runs slot s's update (its state buffers at state, n elements each, NULL
 * for zeros) on copies, TRIAL_CHUNK elements at a time, in scratch
 * ((1 + n_buffers) * TRIAL_CHUNK floats): GRAFT_E_NUMERIC and *f when a
 * value or a buffer would not be finite. */
static int trial_update(const graft_optim *o, const graftOptimSlot *s, const float *state,
                        size_t n, int64_t step, double lr, float *scratch, int slot,
                        double grad_max, graftOptimFault *f)
{
    const size_t nb = (size_t)o->impl->n_buffers;
    float *pv = scratch, *sv = scratch + TRIAL_CHUNK;
    for (size_t off = 0; off < n; off += TRIAL_CHUNK) {
        const size_t len = n - off < TRIAL_CHUNK ? n - off : TRIAL_CHUNK;
        memcpy(pv, s->value->data + off, len * sizeof(float));
        for (size_t b = 0; b < nb; b++) {
            if (state)
                memcpy(sv + b * len, state + b * n + off, len * sizeof(float));
            else
                memset(sv + b * len, 0, len * sizeof(float));
        }
        o->impl->update(pv, s->grad->data + off, sv, len, step, lr, o->hp);
        if (graftMaxAbsBits(pv, len) >= GRAFT_NONFINITE_BITS)
            return fault_at(f, slot, GRAFT_OPTIM_FAULT_NEW_VALUE, pv, len, off, grad_max);
        for (size_t b = 0; b < nb; b++)
            if (graftMaxAbsBits(sv + b * len, len) >= GRAFT_NONFINITE_BITS)
                return fault_at(f, slot, GRAFT_OPTIM_FAULT_NEW_STATE, sv + b * len, len, off,
                                grad_max);
    }
    return GRAFT_OK;
}

/* Reads slot i's value and state buffers (n elements each; state NULL
 * before the first step: zeros) into *mp and ms: GRAFT_E_NUMERIC and *f
 * when one of them is not finite. */
static int read_bounds(const graft_optim *o, const graftOptimSlot *s, const float *state,
                       size_t n, int slot, double grad_max, double *mp, double *ms,
                       graftOptimFault *f)
{
    *mp = graftMaxAbs(s->value->data, n);
    if (!isfinite(*mp))
        return fault_at(f, slot, GRAFT_OPTIM_FAULT_VALUE, s->value->data, n, 0, grad_max);
    for (int b = 0; b < GRAFT_OPTIM_MAX_BUFFERS; b++) ms[b] = 0.0;
    for (int b = 0; state && b < o->impl->n_buffers; b++) {
        ms[b] = graftMaxAbs(state + (size_t)b * n, n);
        if (!isfinite(ms[b]))
            return fault_at(f, slot, GRAFT_OPTIM_FAULT_STATE, state + (size_t)b * n, n, 0,
                            grad_max);
    }
    return GRAFT_OK;
}

int graftOptimStepChecked(graft_optim *o, int n_slots, const graftOptimSlot *slots, double lr,
                          graftOptimBound *bounds, graftOptimFault *fault)
{
    GRAFT_FORWARD_IF_ERROR(step_check(o, n_slots, slots, lr));
    graft_ctx *ctx = o->ctx;
    const int nb = o->impl->n_buffers;
    float *scratch = NULL;
    int st = GRAFT_OK;
    memset(fault, 0, sizeof *fault);
    fault->slot = -1;
    for (int i = 0; i < n_slots && st == GRAFT_OK; i++) {
        const graftOptimSlot *s = &slots[i];
        if (s->frozen) continue;
        graftOptimBound scratch_bound, *bd = bounds ? &bounds[i] : &scratch_bound;
        if (!bounds) bd->known = 0;
        const size_t n = s->value->numel;
        const float *state = o->has_state ? o->slots[i].buf : NULL;
        const int64_t step = (o->has_state ? o->slots[i].step : 0) + 1;
        const double slot_lr = lr * (double)s->lr_scale;
        const double mg = graftMaxAbs(s->grad->data, n);
        if (!isfinite(mg)) {
            st = fault_at(fault, i, GRAFT_OPTIM_FAULT_GRADIENT, s->grad->data, n, 0, mg);
            break;
        }
        /* the magnitudes before the update: the kept bounds, else read */
        double mp, ms[GRAFT_OPTIM_MAX_BUFFERS];
        int read = !bd->known;
        if (read) {
            st = read_bounds(o, s, state, n, i, mg, &mp, ms, fault);
            if (st != GRAFT_OK) break;
        } else {
            mp = bd->value;
            memcpy(ms, bd->state, sizeof ms);
        }
        bd->next_known = 1;
        memset(bd->next_state, 0, sizeof bd->next_state);
        if (o->impl->stays_finite(o->hp, step, slot_lr, mp, mg, ms, &bd->next_value,
                                  bd->next_state))
            continue;
        if (!read) { /* kept bounds may be loose: the values themselves */
            st = read_bounds(o, s, state, n, i, mg, &mp, ms, fault);
            if (st != GRAFT_OK) break;
            if (o->impl->stays_finite(o->hp, step, slot_lr, mp, mg, ms, &bd->next_value,
                                      bd->next_state))
                continue;
        }
        /* the bound does not show it: run the update on a copy */
        bd->next_known = 0;
        if (!scratch) {
            scratch = graftAlloc(ctx, (size_t)(1 + nb) * TRIAL_CHUNK * sizeof(float));
            if (!scratch) {
                st = graftError(ctx, GRAFT_E_NOMEM, STEP_FUNC,
                                "cannot allocate a trial update's buffer");
                break;
            }
        }
        st = trial_update(o, s, state, n, step, slot_lr, scratch, i, mg, fault);
    }
    graftFree(ctx, scratch);
    if (st != GRAFT_OK) return st;
    GRAFT_FORWARD_IF_ERROR(step_apply(o, n_slots, slots, lr));
    for (int i = 0; bounds && i < n_slots; i++) {
        graftOptimBound *bd = &bounds[i];
        if (slots[i].frozen) continue;
        bd->known = bd->next_known;
        bd->value = bd->next_value * BOUND_SLACK;
        for (int b = 0; b < GRAFT_OPTIM_MAX_BUFFERS; b++)
            bd->state[b] = bd->next_state[b] * BOUND_SLACK;
    }
    return GRAFT_OK;
}

/* ---- save / load ----------------------------------------------------------- */

static void write_f64(graftWriter *w, double v)
{
    int64_t bits;
    memcpy(&bits, &v, sizeof bits);
    graftWriteI64(w, bits);
}

static int read_f64(graftReader *r, double *v, const char *what)
{
    int64_t bits;
    GRAFT_FORWARD_IF_ERROR(graftReadI64(r, &bits, what));
    memcpy(v, &bits, sizeof bits);
    return GRAFT_OK;
}

int graftOptimSave(const graft_optim *o, graftWriter *w)
{
    if (!o || !w) return graftError(w ? w->ctx : NULL, GRAFT_E_INVALID_ARG, "graft_save",
                                    "optimizer or writer is NULL");
    uint32_t n_keys = 0;
    for (int key = 1; key <= GRAFT_OPT_KEY_MAX; key++) n_keys += key_for(o->kind, key) != NULL;
    graftWriteU32(w, OPTIM_RECORD_VERSION);
    graftWriteU32(w, (uint32_t)o->kind);
    graftWriteU32(w, n_keys);
    for (int key = 1; key <= GRAFT_OPT_KEY_MAX; key++) {
        if (!key_for(o->kind, key)) continue;
        graftWriteU32(w, (uint32_t)key);
        write_f64(w, o->hp[key]);
    }
    graftWriteI64(w, o->steps);
    graftWriteU32(w, (uint32_t)o->has_state);
    if (o->has_state) {
        const size_t nb = (size_t)o->impl->n_buffers;
        graftWriteU32(w, (uint32_t)o->n_slots);
        for (int i = 0; i < o->n_slots; i++) {
            graftWriteI64(w, (int64_t)o->slots[i].numel);
            graftWriteI64(w, o->slots[i].step);
        }
        for (int i = 0; i < o->n_slots; i++)
            graftWriteFloats(w, o->slots[i].buf, o->slots[i].numel * nb);
    }
    return w->status;
}

/* Records a GRAFT_E_FORMAT failure on r, so later reads fail too. */
static int load_fail(graftReader *r, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

static int load_fail(graftReader *r, const char *fmt, ...)
{
    char msg[GRAFT_ERRMSG_SIZE];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    r->status = graftError(r->ctx, GRAFT_E_FORMAT, LOAD_FUNC, "%s", msg);
    return r->status;
}

static int load_hyperparameters(graft_optim *o, graftReader *r)
{
    uint32_t n_keys, max_keys = 0;
    for (int key = 1; key <= GRAFT_OPT_KEY_MAX; key++) max_keys += key_for(o->kind, key) != NULL;
    size_t at = r->pos;
    GRAFT_FORWARD_IF_ERROR(graftReadU32(r, &n_keys, "optimizer hyperparameter count"));
    if (n_keys > max_keys)
        return load_fail(r, "optimizer hyperparameter count at offset %zu is %u, %s optimizers "
                            "have %u",
                         at, n_keys, o->impl->name, max_keys);
    unsigned seen = 0;
    for (uint32_t i = 0; i < n_keys; i++) {
        uint32_t key;
        double v;
        at = r->pos;
        GRAFT_FORWARD_IF_ERROR(graftReadU32(r, &key, "optimizer hyperparameter key"));
        const key_info *k = key <= (uint32_t)GRAFT_OPT_KEY_MAX ? key_for(o->kind, (int)key) : NULL;
        if (!k)
            return load_fail(r, "optimizer hyperparameter key at offset %zu is %u, not a key of "
                                "%s optimizers",
                             at, key, o->impl->name);
        if (seen & (1u << key))
            return load_fail(r, "optimizer hyperparameter %s at offset %zu appears twice",
                             k->name, at);
        seen |= 1u << key;
        at = r->pos;
        GRAFT_FORWARD_IF_ERROR(read_f64(r, &v, k->name));
        char why[128];
        if (value_problem(k, v, why, sizeof why))
            return load_fail(r, "optimizer hyperparameter %s at offset %zu %s", k->name, at, why);
        o->hp[key] = v;
    }
    return GRAFT_OK;
}

static int load_state(graft_optim *o, graftReader *r)
{
    graft_ctx *ctx = o->ctx;
    const size_t nb = (size_t)o->impl->n_buffers;
    const size_t header = 8 + 8; /* numel, step */
    uint32_t n_slots;
    size_t at = r->pos;
    GRAFT_FORWARD_IF_ERROR(graftReadU32(r, &n_slots, "optimizer slot count"));
    if (n_slots > INT_MAX || n_slots > (r->size - r->pos) / header)
        return load_fail(r, "optimizer slot count at offset %zu is %u, more than the %zu bytes "
                            "left can hold",
                         at, n_slots, r->size - r->pos);
    slot_state *st = graftCalloc(ctx, n_slots, sizeof *st);
    if (!st) {
        r->status = graftError(ctx, GRAFT_E_NOMEM, LOAD_FUNC, "cannot allocate the optimizer "
                                                              "state");
        return r->status;
    }
    o->slots = st;
    o->n_slots = (int)n_slots;
    o->has_state = 1;
    size_t total = 0;
    for (uint32_t i = 0; i < n_slots; i++) {
        int64_t numel, step;
        at = r->pos;
        GRAFT_FORWARD_IF_ERROR(graftReadI64(r, &numel, "optimizer slot element count"));
        if (numel < 1 || numel > GRAFT_MAX_NUMEL)
            return load_fail(r, "optimizer slot %u element count at offset %zu is %lld", i, at,
                             (long long)numel);
        at = r->pos;
        GRAFT_FORWARD_IF_ERROR(graftReadI64(r, &step, "optimizer slot step count"));
        if (step < 0 || step > o->steps)
            return load_fail(r, "optimizer slot %u step count at offset %zu is %lld, must be in "
                                "[0, %lld]",
                             i, at, (long long)step, (long long)o->steps);
        st[i].numel = (size_t)numel;
        st[i].step = step;
        /* numel <= 2^40 and total grows only while the bytes can hold it */
        total += (size_t)numel * nb;
        if (total > (r->size - r->pos) / sizeof(float))
            return load_fail(r, "optimizer state of %u slots needs more than the %zu bytes left "
                                "(at slot %u, offset %zu)",
                             n_slots, r->size - r->pos, i, at);
    }
    o->block = graftCalloc(ctx, total, sizeof(float));
    if (!o->block) {
        r->status = graftError(ctx, GRAFT_E_NOMEM, LOAD_FUNC,
                               "cannot allocate the optimizer state (%zu floats)", total);
        return r->status;
    }
    size_t offset = 0;
    for (uint32_t i = 0; i < n_slots; i++) {
        st[i].buf = o->block + offset;
        offset += st[i].numel * nb;
        at = r->pos;
        GRAFT_FORWARD_IF_ERROR(graftReadFloats(r, st[i].buf, st[i].numel * nb,
                                               "optimizer state"));
        for (size_t b = 0; b < nb; b++) {
            const float *p = st[i].buf + b * st[i].numel;
            const int nonneg = (o->impl->nonneg_buffers >> b) & 1u;
            for (size_t j = 0; j < st[i].numel; j++)
                if (!isfinite(p[j]) || (nonneg && p[j] < 0))
                    return load_fail(r, "optimizer state of slot %u at offset %zu is %g, must be "
                                        "finite%s",
                                     i, at + 4 * (b * st[i].numel + j), (double)p[j],
                                     nonneg ? " and >= 0" : "");
        }
    }
    return GRAFT_OK;
}

static int load_body(graft_optim *o, graftReader *r)
{
    GRAFT_FORWARD_IF_ERROR(load_hyperparameters(o, r));
    int64_t steps;
    uint32_t has_state;
    size_t at = r->pos;
    GRAFT_FORWARD_IF_ERROR(graftReadI64(r, &steps, "optimizer step count"));
    if (steps < 0)
        return load_fail(r, "optimizer step count at offset %zu is %lld, must be >= 0", at,
                         (long long)steps);
    o->steps = steps;
    at = r->pos;
    GRAFT_FORWARD_IF_ERROR(graftReadU32(r, &has_state, "optimizer state flag"));
    if (has_state != (steps > 0 ? 1u : 0u))
        return load_fail(r, "optimizer state flag at offset %zu is %u, must be %d for %lld steps",
                         at, has_state, steps > 0, (long long)steps);
    return has_state ? load_state(o, r) : GRAFT_OK;
}

int graftOptimLoad(graft_ctx *ctx, graftReader *r, graft_optim **out)
{
    if (out) *out = NULL;
    GRAFT_RETURN_IF_AT(!ctx || !r || !out, ctx, GRAFT_E_INVALID_ARG, LOAD_FUNC,
                       "NULL argument to the optimizer loader");
    uint32_t version, kind;
    size_t at = r->pos;
    GRAFT_FORWARD_IF_ERROR(graftReadU32(r, &version, "optimizer record version"));
    if (version == 0) return load_fail(r, "optimizer record version at offset %zu is 0", at);
    if (version > OPTIM_RECORD_VERSION) {
        r->status = graftError(ctx, GRAFT_E_VERSION, LOAD_FUNC,
                               "optimizer record version %u at offset %zu needs a newer graft "
                               "(this one reads version %u)",
                               version, at, OPTIM_RECORD_VERSION);
        return r->status;
    }
    at = r->pos;
    GRAFT_FORWARD_IF_ERROR(graftReadU32(r, &kind, "optimizer kind"));
    if (kind > (uint32_t)GRAFT_OPTIM_KIND_MAX || !kind_known((int)kind))
        return load_fail(r, "optimizer kind at offset %zu is %u, not a GRAFT_OPTIM_* kind", at,
                         kind);
    graft_optim *o;
    int st = optim_new(ctx, (int)kind, LOAD_FUNC, &o);
    if (st != GRAFT_OK) {
        r->status = st;
        return st;
    }
    st = load_body(o, r);
    if (st != GRAFT_OK) {
        graft_optim_free(o);
        return st;
    }
    *out = o;
    return GRAFT_OK;
}
