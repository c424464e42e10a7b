/* testutil.c - see testutil.h. */
#include "testutil.h"

#include "model/optim.h"
#include "onnx/onnx_pb.h"

#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

graft_ctx *tu_ctx(void)
{
    graft_ctx *ctx = NULL;
    ck_assert_int_eq(graft_ctx_create(&ctx), GRAFT_OK);
    ck_assert_ptr_nonnull(ctx);
    return ctx;
}

void tu_add_tcases(Suite *s, const tu_named_test *tests, size_t n, double timeout)
{
    for (size_t k = 0; k < n; k++) {
        TCase *tc = tcase_create(tests[k].name);
        tcase_set_timeout(tc, timeout);
        tcase_add_test(tc, tests[k].test);
        suite_add_tcase(s, tc);
    }
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

/* A context whose allocations go through these hooks. */
static graft_ctx *ctx_with_allocator(void *(*alloc)(void *, size_t),
                                     void (*release)(void *, void *), void *opaque)
{
    graft_allocator a = GRAFT_ALLOCATOR_INIT;
    a.alloc = alloc;
    a.free = release;
    a.opaque = opaque;
    graft_ctx *ctx = NULL;
    ck_assert_int_eq(graft_ctx_create_advanced(&a, &ctx), GRAFT_OK);
    return ctx;
}

graft_ctx *tu_counting_ctx(tu_alloc_counter *c)
{
    return ctx_with_allocator(tu_counting_alloc, tu_counting_free, c);
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

/* ---- layers ---------------------------------------------------------------------- */

const graft_tensor *tu_forward(graft_layer *l, int n, graft_tensor **in)
{
    const graft_tensor *y = NULL;
    ck_assert_msg(graft_layer_forward(l, n, (const graft_tensor *const *)in, &y) == GRAFT_OK,
                  "%s", graft_errmsg(l->ctx));
    return y;
}

void tu_build(graft_layer *l, int n, graft_tensor **in)
{
    ck_assert_msg(graft_layer_build(l, n, (const graft_tensor *const *)in, 1) == GRAFT_OK, "%s",
                  graft_errmsg(l->ctx));
}

void tu_assert_dims(const graft_tensor *t, int ndim, const int64_t *dims)
{
    ck_assert_int_eq(graft_tensor_ndim(t), ndim);
    for (int d = 0; d < ndim; d++) ck_assert_int_eq(graft_tensor_dim(t, d), dims[d]);
}

size_t tu_first_bit_difference(const float *a, const float *b, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (memcmp(a + i, b + i, sizeof *a) != 0) return i;
    return n;
}

int tu_load_patched(graft_layer *l, size_t attr_offset, const void *v)
{
    graftWriter w;
    graftWriterInit(&w, l->ctx);
    ck_assert_int_eq(graftLayerSave(l, &w), GRAFT_OK);
    size_t start = 4 + strlen(l->vtbl->kind) + 4; /* kind string, version */
    ck_assert_uint_le(start + attr_offset + 4, w.size);
    memcpy(w.data + start + attr_offset, v, 4);
    graftReader r;
    graftReaderInit(&r, l->ctx, w.data, w.size);
    graft_layer *back = (graft_layer *)1;
    int st = graftLayerLoad(l->ctx, &r, &back);
    if (st != GRAFT_OK) ck_assert_ptr_null(back);
    else graft_layer_free(back);
    graftWriterDispose(&w);
    return st;
}

void tu_check_roundtrip_small(graft_layer *l, int n_inputs)
{
    ck_assert(n_inputs >= 1 && n_inputs <= 3);
    graft_tensor *in[3] = {tu_tensor(l->ctx, 4, 2, 2, 3, 3), tu_tensor(l->ctx, 4, 2, 2, 3, 3),
                           tu_tensor(l->ctx, 4, 2, 4, 3, 3)};
    for (int i = 0; i < 3; i++) tu_fill_uniform(in[i], (uint64_t)(60 + i), -3, 3);
    tu_forward(l, n_inputs, in);
    tu_check_roundtrip(l, n_inputs, in);
    for (int i = 0; i < 3; i++) graft_tensor_free(in[i]);
}


/* ---- allocators ------------------------------------------------------------------- */

static void *capped_alloc(void *opaque, size_t size)
{
    (void)opaque;
    return size > ((size_t)64 << 20) ? NULL : malloc(size);
}

static void capped_free(void *opaque, void *ptr)
{
    (void)opaque;
    free(ptr);
}

graft_ctx *tu_capped_ctx(void)
{
    return ctx_with_allocator(capped_alloc, capped_free, NULL);
}

static void *fail_heap_alloc(void *opaque, size_t size)
{
    tu_fail_heap *h = opaque;
    if (h->armed) {
        h->calls++;
        if (h->fail_at > 0 &&
            (h->calls == h->fail_at || (h->persistent && h->calls > h->fail_at))) {
            if (!h->injected) h->first_size = size;
            h->injected++;
            return NULL;
        }
    }
    void *p = malloc(size);
    if (p) h->allocs++;
    return p;
}

static void fail_heap_free(void *opaque, void *ptr)
{
    tu_fail_heap *h = opaque;
    if (!ptr) return;
    h->frees++;
    free(ptr);
}

graft_ctx *tu_fail_heap_ctx(tu_fail_heap *h)
{
    memset(h, 0, sizeof *h);
    graft_ctx *ctx = ctx_with_allocator(fail_heap_alloc, fail_heap_free, h);
    ck_assert_int_eq(graft_ctx_set_int(ctx, GRAFT_CTX_USE_BLAS, 0), GRAFT_OK);
    return ctx;
}

void tu_fail_heap_arm(tu_fail_heap *h, long fail_at, int persistent)
{
    h->calls = 0;
    h->fail_at = fail_at;
    h->persistent = persistent;
    h->injected = 0;
    h->armed = 1;
}

/* Each block carries its size in 16 bytes before what the caller sees. */
static void *peak_malloc(void *opaque, size_t size)
{
    tu_peak_alloc *p = opaque;
    size_t *block = malloc(size + 16);
    if (!block) return NULL;
    block[0] = size;
    p->now += size;
    if (p->now > p->peak) p->peak = p->now;
    return (unsigned char *)block + 16;
}

static void peak_free(void *opaque, void *ptr)
{
    if (!ptr) return;
    size_t *block = (size_t *)((unsigned char *)ptr - 16);
    ((tu_peak_alloc *)opaque)->now -= block[0];
    free(block);
}

graft_ctx *tu_peak_ctx(tu_peak_alloc *p)
{
    p->now = p->peak = 0;
    return ctx_with_allocator(peak_malloc, peak_free, p);
}

/* ---- files and folders ------------------------------------------------------------ */

void tu_make_dir(char *buf, size_t size, const char *tag)
{
    ck_assert_int_lt(snprintf(buf, size, "/tmp/graft-%s-XXXXXX", tag), (int)size);
    ck_assert_msg(mkdtemp(buf) != NULL, "mkdtemp %s: %s", buf, strerror(errno));
}

void tu_rm_tree(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d) return;
    struct dirent *e;
    char p[1024];
    while ((e = readdir(d)) != NULL) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        struct stat st;
        if (lstat(p, &st) == 0 && S_ISDIR(st.st_mode)) tu_rm_tree(p);
        else unlink(p);
    }
    closedir(d);
    rmdir(dir);
}

int tu_count_entries(const char *dir, const char *prefix)
{
    DIR *d = opendir(dir);
    ck_assert_msg(d != NULL, "cannot list %s: %s", dir, strerror(errno));
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        if (!prefix || strncmp(e->d_name, prefix, strlen(prefix)) == 0) n++;
    }
    closedir(d);
    return n;
}

void tu_write_file(const char *path, const void *data, size_t n)
{
    FILE *f = fopen(path, "wb");
    ck_assert_msg(f != NULL, "cannot write %s: %s", path, strerror(errno));
    ck_assert_uint_eq(fwrite(data, 1, n, f), n);
    ck_assert_int_eq(fclose(f), 0);
}

void tu_write_text(const char *path, const char *text)
{
    tu_write_file(path, text, strlen(text));
}

void tu_write_gzip(const char *path, const char *mode, const void *data, size_t n)
{
    gzFile g = gzopen(path, mode);
    ck_assert_msg(g != NULL, "cannot write %s", path);
    if (n) ck_assert_int_eq(gzwrite(g, data, (unsigned)n), (int)n);
    ck_assert_int_eq(gzclose(g), Z_OK);
}

unsigned char *tu_read_file(const char *path, size_t *size)
{
    FILE *f = fopen(path, "rb");
    ck_assert_msg(f != NULL, "cannot open %s: %s (run from the repository root)", path,
                  strerror(errno));
    size_t cap = 1 << 16, n = 0;
    unsigned char *buf = malloc(cap);
    ck_assert_ptr_nonnull(buf);
    for (;;) {
        n += fread(buf + n, 1, cap - n, f);
        if (n < cap) break;
        cap *= 2;
        buf = realloc(buf, cap);
        ck_assert_ptr_nonnull(buf);
    }
    ck_assert_msg(!ferror(f), "cannot read %s", path);
    fclose(f);
    *size = n;
    return buf;
}

void tu_expect_error(graft_ctx *ctx, int st, int code, const char *msg)
{
    ck_assert_msg(st == code, "status %d, expected %d (%s)", st, code, graft_errmsg(ctx));
    ck_assert_str_eq(graft_errmsg(ctx), msg);
}

/* ---- optimizers -------------------------------------------------------------------- */

graft_optim *tu_optim_new(graft_ctx *ctx, int kind)
{
    graft_optim *o = NULL;
    ck_assert_msg(graft_optim_create(ctx, kind, &o) == GRAFT_OK, "%s", graft_errmsg(ctx));
    ck_assert_ptr_nonnull(o);
    return o;
}

void tu_optim_set(graft_optim *o, int key, double v)
{
    int st = graft_optim_set(o, key, v);
    ck_assert_msg(st == GRAFT_OK, "set key %d to %g: %d %s", key, v, st, graft_errmsg(NULL));
}

graft_optim *tu_sgd(graft_ctx *ctx, double lr, double momentum)
{
    graft_optim *o = tu_optim_new(ctx, GRAFT_OPTIM_SGD);
    tu_optim_set(o, GRAFT_OPT_LR, lr);
    tu_optim_set(o, GRAFT_OPT_MOMENTUM, momentum);
    return o;
}

void tu_optim_step(graft_optim *o, int n, const struct graftOptimSlot *slots, double lr)
{
    int st = graftOptimStep(o, n, slots, lr);
    ck_assert_msg(st == GRAFT_OK, "step: %d %s", st, graft_errmsg(NULL));
}

graft_tensor *tu_vec(graft_ctx *ctx, int n, const float *values)
{
    const int64_t dims[1] = {n};
    return tu_tensor_from(ctx, 1, dims, values);
}

void tu_optim_two_steps(graft_optim *o, float g1, float g2, double lr, float *after1,
                        float *after2)
{
    graft_ctx *ctx = tu_ctx();
    const float one = 1;
    graft_tensor *p = tu_vec(ctx, 1, &one), *g = tu_vec(ctx, 1, &g1);
    graftOptimSlot slot = {p, g, 1.0f, 0};
    tu_optim_step(o, 1, &slot, lr);
    *after1 = graft_tensor_data(p)[0];
    graft_tensor_data(g)[0] = g2;
    tu_optim_step(o, 1, &slot, lr);
    *after2 = graft_tensor_data(p)[0];
    ck_assert_int_eq(graft_optim_steps(o), 2);
    graft_tensor_free(p);
    graft_tensor_free(g);
    graft_ctx_free(ctx);
}

/* Pseudo-random values in [-2, 2) from a xorshift state. */
static float optim_random(uint64_t *s)
{
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    const uint64_t r = *s * 0x2545F4914F6CDD1DULL;
    return (float)(int64_t)(r >> 40) / (float)(1 << 22) - 2.0f; /* [-2, 2) */
}

void tu_optim_check_rule(graft_optim *o, int n, uint64_t *seed, tu_optim_rule rule, void *state,
                         const char *what)
{
    ck_assert(n >= 1 && n <= 64);
    graft_ctx *ctx = tu_ctx();
    float v0[64], g0[64], want[64];
    for (int i = 0; i < n; i++) v0[i] = want[i] = optim_random(seed);
    graft_tensor *p = tu_vec(ctx, n, v0), *g = tu_vec(ctx, n, v0);
    graftOptimSlot slot = {p, g, 1.0f, 0};
    for (int step = 1; step <= 4; step++) {
        const double lr = 0.1 / step;
        for (int i = 0; i < n; i++) g0[i] = optim_random(seed);
        memcpy(graft_tensor_data(g), g0, (size_t)n * sizeof *g0);
        tu_optim_step(o, 1, &slot, lr);
        rule(want, g0, (size_t)n, step, lr, state);
        ck_assert_msg(memcmp(graft_tensor_data(p), want, (size_t)n * sizeof *want) == 0,
                      "%s, %d elements, step %d: values differ", what, n, step);
    }
    graft_tensor_free(p);
    graft_tensor_free(g);
    graft_ctx_free(ctx);
}

graft_tensor *tu_onnx_read_tensor(graft_ctx *ctx, const char *path)
{
    FILE *f = fopen(path, "rb");
    ck_assert_msg(f != NULL, "cannot open %s (run from the source root)", path);
    static unsigned char buf[1 << 21];
    size_t size = fread(buf, 1, sizeof buf, f);
    fclose(f);
    ck_assert_uint_lt(size, sizeof buf);
    onnxModel owner;
    onnxTensor t;
    memset(&owner, 0, sizeof owner);
    owner.ctx = ctx;
    ck_assert_int_eq(graftOnnxTensorDecode(&owner, "test", buf, size, &t), GRAFT_OK);
    size_t numel;
    ck_assert_int_eq(graftOnnxTensorNumel(ctx, "test", &t, &numel), GRAFT_OK);
    graft_tensor *out = NULL;
    ck_assert_int_eq(graft_tensor_create(ctx, t.ndim, t.dims, &out), GRAFT_OK);
    ck_assert_int_eq(graftOnnxTensorReadF32(ctx, "test", &t, graft_tensor_data(out), numel),
                     GRAFT_OK);
    graftOnnxModelDispose(&owner);
    return out;
}


void tu_onnx_assert_output(graft_model *m, graft_ctx *ctx, graft_tensor *x,
                           const graft_tensor *want, float atol, float rtol, const char *label)
{
    const graft_tensor *y = NULL;
    ck_assert_msg(graft_model_forward(m, x, &y) == GRAFT_OK, "%s: %s", label, graft_errmsg(ctx));
    ck_assert_int_eq(graft_tensor_ndim(y), graft_tensor_ndim(want));
    for (int d = 0; d < graft_tensor_ndim(y); d++)
        ck_assert_int_eq(graft_tensor_dim(y, d), graft_tensor_dim(want, d));
    tu_assert_close(graft_tensor_data_const(y), graft_tensor_data_const(want),
                    graft_tensor_numel(want), atol, rtol, label);
}
