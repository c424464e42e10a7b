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

int graftOptimStep(graft_optim *o, int n_slots, const graftOptimSlot *slots, double lr)
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
    if (!o->has_state) {
        GRAFT_FORWARD_IF_ERROR(create_state(o, n_slots, slots));
    } else {
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
