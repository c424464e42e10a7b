/* testutil.c - see testutil.h. */
#include "testutil.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

graft_ctx *tu_ctx(void)
{
    graft_ctx *ctx = NULL;
    ck_assert_int_eq(graft_ctx_create(&ctx), GRAFT_OK);
    ck_assert_ptr_nonnull(ctx);
    return ctx;
}

void *tu_counting_alloc(void *opaque, size_t size)
{
    tu_alloc_counter *c = opaque;
    if (c->fail_at && c->allocs + 1 == c->fail_at) {
        c->fail_at = 0;
        return NULL;
    }
    c->allocs++;
    if (size > c->largest) c->largest = size;
    return malloc(size);
}

void tu_counting_free(void *opaque, void *ptr)
{
    tu_alloc_counter *c = opaque;
    if (ptr) c->frees++;
    free(ptr);
}

graft_ctx *tu_counting_ctx(tu_alloc_counter *c)
{
    graft_allocator a = GRAFT_ALLOCATOR_INIT;
    a.alloc = tu_counting_alloc;
    a.free = tu_counting_free;
    a.opaque = c;
    graft_ctx *ctx = NULL;
    ck_assert_int_eq(graft_ctx_create_advanced(&a, &ctx), GRAFT_OK);
    return ctx;
}

graft_tensor *tu_tensor(graft_ctx *ctx, int ndim, ...)
{
    int64_t dims[GRAFT_MAX_DIMS];
    va_list ap;
    va_start(ap, ndim);
    for (int i = 0; i < ndim && i < GRAFT_MAX_DIMS; i++) dims[i] = va_arg(ap, int);
    va_end(ap);
    graft_tensor *t = NULL;
    ck_assert_msg(graft_tensor_create(ctx, ndim, dims, &t) == GRAFT_OK, "%s", graft_errmsg(ctx));
    return t;
}

graft_tensor *tu_tensor_from(graft_ctx *ctx, int ndim, const int64_t *dims, const float *data)
{
    graft_tensor *t = NULL;
    ck_assert_msg(graft_tensor_create(ctx, ndim, dims, &t) == GRAFT_OK, "%s", graft_errmsg(ctx));
    ck_assert_int_eq(graft_tensor_copy_from(t, data, graft_tensor_numel(t)), GRAFT_OK);
    return t;
}

void tu_fill_uniform(graft_tensor *t, uint64_t seed, float lo, float hi)
{
    graftRng rng;
    graftRngSeed(&rng, seed);
    float *p = graft_tensor_data(t);
    for (size_t i = 0; i < graft_tensor_numel(t); i++) p[i] = lo + (hi - lo) * graftRngUniform(&rng);
}

void tu_fill_distinct(graft_tensor *t, uint64_t seed, float lo, float step)
{
    graftRng rng;
    graftRngSeed(&rng, seed);
    size_t n = graft_tensor_numel(t);
    float *p = graft_tensor_data(t);
    for (size_t i = 0; i < n; i++) p[i] = lo + step * (float)i;
    for (size_t i = n; i > 1; i--) {
        size_t j = (size_t)(graftRngNext(&rng) % i);
        float tmp = p[i - 1];
        p[i - 1] = p[j];
        p[j] = tmp;
    }
}

void tu_assert_close(const float *a, const float *b, size_t n, float atol, float rtol,
                     const char *what)
{
    for (size_t i = 0; i < n; i++) {
        float d = fabsf(a[i] - b[i]);
        ck_assert_msg(d <= atol + rtol * fabsf(b[i]) && !isnan(a[i]),
                      "%s[%zu]: got %.8g, expected %.8g (difference %.3g)", what, i, a[i], b[i], d);
    }
}

/* L = sum(out * R) in double. */
static double loss_of(graft_layer *l, int n, graft_tensor **in, const float *r,
                      const tu_gradcheck_opts *o)
{
    const graft_tensor *out = NULL;
    if (o->before_forward) o->before_forward(l, o->arg);
    int st = graft_layer_forward(l, n, (const graft_tensor *const *)in, &out);
    ck_assert_msg(st == GRAFT_OK, "forward: %s", graft_errmsg(l->ctx));
    double s = 0.0;
    const float *y = graft_tensor_data_const(out);
    for (size_t i = 0; i < graft_tensor_numel(out); i++) s += (double)y[i] * r[i];
    return s;
}

static size_t check_tensor_grad(graft_layer *l, int n, graft_tensor **in, const float *r,
                                float *x, const float *analytic, size_t count, const char *what,
                                const tu_gradcheck_opts *o)
{
    for (size_t i = 0; i < count; i++) {
        float saved = x[i];
        x[i] = (float)(saved + o->eps);
        double lp = loss_of(l, n, in, r, o);
        x[i] = (float)(saved - o->eps);
        double lm = loss_of(l, n, in, r, o);
        x[i] = saved;
        double h = ((double)(float)(saved + o->eps) - (double)(float)(saved - o->eps));
        double numeric = (lp - lm) / h;
        double a = analytic[i];
        double tol = o->atol + o->rtol * fmax(fabs(a), fabs(numeric));
        ck_assert_msg(fabs(a - numeric) <= tol,
                      "%s gradient of the %s layer, element %zu: analytic %.6g, numeric %.6g",
                      what, graft_layer_kind(l), i, a, numeric);
    }
    return count;
}

size_t tu_gradcheck(graft_layer *l, int n, graft_tensor **in, const tu_gradcheck_opts *opts)
{
    tu_gradcheck_opts o = {1e-2, 2e-3, 2e-2, NULL, NULL, 0, 0};
    if (opts) {
        o = *opts;
        if (o.eps == 0) o.eps = 1e-2;
        if (o.atol == 0) o.atol = 2e-3;
        if (o.rtol == 0) o.rtol = 2e-2;
    }
    const graft_tensor *out = NULL;
    if (o.before_forward) o.before_forward(l, o.arg);
    ck_assert_msg(graft_layer_forward(l, n, (const graft_tensor *const *)in, &out) == GRAFT_OK,
                  "%s", graft_errmsg(l->ctx));
    graft_tensor *r = NULL;
    ck_assert_int_eq(graftTensorNew(l->ctx, out->ndim, out->dims, &r), GRAFT_OK);
    tu_fill_uniform(r, 977, -1.0f, 1.0f);

    const graft_tensor *din[GRAFT_LAYER_MAX_INPUTS > 64 ? 64 : GRAFT_LAYER_MAX_INPUTS];
    ck_assert(n <= 64);
    ck_assert_msg(graft_layer_backward(l, n, (const graft_tensor *const *)in, r, din) == GRAFT_OK,
                  "%s", graft_errmsg(l->ctx));

    /* Copy the analytic gradients: the finite differences rerun forward. */
    size_t checked = 0;
    if (!o.skip_inputs) {
        for (int k = 0; k < n; k++) {
            size_t cnt = graft_tensor_numel(in[k]);
            float *a = malloc(cnt * sizeof *a);
            memcpy(a, graft_tensor_data_const(din[k]), cnt * sizeof *a);
            char what[32];
            snprintf(what, sizeof what, "input %d", k);
            checked += check_tensor_grad(l, n, in, r->data, graft_tensor_data(in[k]), a, cnt,
                                         what, &o);
            free(a);
        }
    }
    if (!o.skip_params) {
        for (int k = 0; k < l->n_params; k++) {
            graftParam *p = &l->params[k];
            if (!p->grad) continue;
            size_t cnt = p->value->numel;
            float *a = malloc(cnt * sizeof *a);
            memcpy(a, p->grad->data, cnt * sizeof *a);
            checked += check_tensor_grad(l, n, in, r->data, p->value->data, a, cnt, p->name, &o);
            free(a);
        }
    }
    graft_tensor_free(r);
    return checked;
}

typedef struct pass_result {
    float *out, *din[8], *dparam[GRAFT_LAYER_MAX_PARAMS];
} pass_result;

static void run_pass(graft_layer *l, int n, graft_tensor **in, pass_result *res)
{
    const graft_tensor *out = NULL, *din[8];
    ck_assert_msg(graft_layer_forward(l, n, (const graft_tensor *const *)in, &out) == GRAFT_OK,
                  "%s", graft_errmsg(l->ctx));
    res->out = malloc(out->numel * sizeof(float));
    memcpy(res->out, out->data, out->numel * sizeof(float));
    graft_tensor *r = NULL;
    ck_assert_int_eq(graftTensorNew(l->ctx, out->ndim, out->dims, &r), GRAFT_OK);
    tu_fill_uniform(r, 4242, -1.0f, 1.0f);
    ck_assert_msg(graft_layer_backward(l, n, (const graft_tensor *const *)in, r, din) == GRAFT_OK,
                  "%s", graft_errmsg(l->ctx));
    for (int k = 0; k < n; k++) {
        res->din[k] = malloc(din[k]->numel * sizeof(float));
        memcpy(res->din[k], din[k]->data, din[k]->numel * sizeof(float));
    }
    for (int k = 0; k < l->n_params; k++) {
        res->dparam[k] = NULL;
        if (!l->params[k].grad) continue;
        res->dparam[k] = malloc(l->params[k].grad->numel * sizeof(float));
        memcpy(res->dparam[k], l->params[k].grad->data, l->params[k].grad->numel * sizeof(float));
    }
    graft_tensor_free(r);
}

void tu_check_blas_vs_reference(graft_layer *l, int n, graft_tensor **in, float rtol)
{
    ck_assert(n <= 8);
    pass_result blas, ref;
    ck_assert_int_eq(graft_ctx_set_int(l->ctx, GRAFT_CTX_USE_BLAS, 1), GRAFT_OK);
    run_pass(l, n, in, &blas);
    ck_assert_int_eq(graft_ctx_set_int(l->ctx, GRAFT_CTX_USE_BLAS, 0), GRAFT_OK);
    run_pass(l, n, in, &ref);
    ck_assert_int_eq(graft_ctx_set_int(l->ctx, GRAFT_CTX_USE_BLAS, 1), GRAFT_OK);
    tu_assert_close(blas.out, ref.out, l->output->numel, 1e-5f, rtol, "output (BLAS vs reference)");
    free(blas.out);
    free(ref.out);
    for (int k = 0; k < n; k++) {
        tu_assert_close(blas.din[k], ref.din[k], in[k]->numel, 1e-5f, rtol,
                        "input gradient (BLAS vs reference)");
        free(blas.din[k]);
        free(ref.din[k]);
    }
    for (int k = 0; k < l->n_params; k++) {
        if (!blas.dparam[k]) continue;
        tu_assert_close(blas.dparam[k], ref.dparam[k], l->params[k].grad->numel, 1e-5f, rtol,
                        l->params[k].name);
        free(blas.dparam[k]);
        free(ref.dparam[k]);
    }
}

void tu_check_roundtrip(graft_layer *l, int n, graft_tensor **in)
{
    graftWriter w;
    graftWriterInit(&w, l->ctx);
    ck_assert_msg(graftLayerSave(l, &w) == GRAFT_OK, "%s", graft_errmsg(l->ctx));

    graftReader r;
    graft_layer *copy = NULL;
    graftReaderInit(&r, l->ctx, w.data, w.size);
    ck_assert_msg(graftLayerLoad(l->ctx, &r, &copy) == GRAFT_OK, "%s", graft_errmsg(l->ctx));
    ck_assert_uint_eq(r.pos, w.size);
    ck_assert_str_eq(graft_layer_kind(copy), graft_layer_kind(l));
    ck_assert_int_eq(copy->n_params, l->n_params);
    for (int k = 0; k < l->n_params; k++) {
        ck_assert_str_eq(copy->params[k].name, l->params[k].name);
        ck_assert(graftTensorSameShape(copy->params[k].value, l->params[k].value));
        ck_assert(memcmp(copy->params[k].value->data, l->params[k].value->data,
                         l->params[k].value->numel * sizeof(float)) == 0);
    }
    ck_assert_int_eq(graft_layer_set_training(l, 0), GRAFT_OK);
    ck_assert_int_eq(graft_layer_set_training(copy, 0), GRAFT_OK);
    const graft_tensor *y1 = NULL, *y2 = NULL;
    ck_assert_int_eq(graft_layer_forward(l, n, (const graft_tensor *const *)in, &y1), GRAFT_OK);
    ck_assert_int_eq(graft_layer_forward(copy, n, (const graft_tensor *const *)in, &y2), GRAFT_OK);
    ck_assert(graftTensorSameShape(y1, y2));
    ck_assert_msg(memcmp(y1->data, y2->data, y1->numel * sizeof(float)) == 0,
                  "the loaded %s layer computes a different output", graft_layer_kind(l));
    graft_layer_free(copy);
    ck_assert_int_eq(graft_layer_set_training(l, 1), GRAFT_OK);

    /* Every truncation fails cleanly. */
    for (size_t len = 0; len < w.size; len++) {
        graft_layer *bad = NULL;
        graftReaderInit(&r, l->ctx, w.data, len);
        int st = graftLayerLoad(l->ctx, &r, &bad);
        ck_assert_msg(st == GRAFT_E_FORMAT, "truncated to %zu of %zu bytes: status %d (%s)", len,
                      w.size, st, graft_errmsg(l->ctx));
        ck_assert_ptr_null(bad);
    }
    graftWriterDispose(&w);
}
