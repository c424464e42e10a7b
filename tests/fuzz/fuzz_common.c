/*
 * fuzz_common.c - the allocator, checks and helpers graft's fuzz targets
 * share; see fuzz.h.
 */
#include "fuzz.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#define BLOCK_CAP ((size_t)64 << 20)
#define TOTAL_CAP ((size_t)256 << 20)

/* A loaded model is run only when one sample has at most this many input
 * elements and costs at most this many floating-point operations. */
#define RUN_MAX_INPUT 65536
#define RUN_MAX_FLOPS 4000000

void fuzz_fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("graft fuzz: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    fflush(stderr);
    abort();
}

/* ---- the counting, capped allocator ------------------------------------------- */

typedef struct heap {
    size_t live_bytes;
    long live_blocks;
} heap;

/* A header before every block keeps its size; the union keeps the block
 * aligned for any type. */
typedef union block_head {
    size_t size;
    max_align_t align;
} block_head;

static void *heap_alloc(void *opaque, size_t size)
{
    heap *h = opaque;
    if (size > BLOCK_CAP || size > TOTAL_CAP - h->live_bytes) return NULL;
    block_head *b = malloc(sizeof *b + size);
    if (!b) return NULL;
    b->size = size;
    h->live_bytes += size;
    h->live_blocks++;
    return b + 1;
}

static void heap_free(void *opaque, void *ptr)
{
    heap *h = opaque;
    if (!ptr) return;
    block_head *b = (block_head *)ptr - 1;
    if (b->size > h->live_bytes || h->live_blocks < 1)
        fuzz_fail("a block of %zu bytes freed that the context does not hold", b->size);
    h->live_bytes -= b->size;
    h->live_blocks--;
    free(b);
}

/* One context at a time: the targets make one per input. */
static heap the_heap;
static int ctx_live;

graft_ctx *fuzz_ctx(void)
{
    if (ctx_live) fuzz_fail("fuzz_ctx: the previous context was not freed");
    memset(&the_heap, 0, sizeof the_heap);
    graft_allocator a = GRAFT_ALLOCATOR_INIT;
    a.alloc = heap_alloc;
    a.free = heap_free;
    a.opaque = &the_heap;
    graft_ctx *ctx = NULL;
    int st = graft_ctx_create_advanced(&a, &ctx);
    if (st != GRAFT_OK) fuzz_fail("graft_ctx_create_advanced: %s", graft_errmsg(NULL));
    ctx_live = 1;
    return ctx;
}

void fuzz_ctx_free(graft_ctx *ctx)
{
    /* The context itself is the one block left. */
    if (the_heap.live_blocks != 1)
        fuzz_fail("%ld blocks still allocated when the context is freed (a leak)",
                  the_heap.live_blocks - 1);
    graft_ctx_free(ctx);
    if (the_heap.live_blocks != 0 || the_heap.live_bytes != 0)
        fuzz_fail("graft_ctx_free left %ld blocks", the_heap.live_blocks);
    ctx_live = 0;
}

/* ---- status and message checks -------------------------------------------------- */

void fuzz_check_failure(graft_ctx *ctx, int st, const char *func, const int *allowed, int n)
{
    int ok = 0;
    for (int i = 0; i < n; i++) ok |= st == allowed[i];
    if (!ok)
        fuzz_fail("%s returned %d (%s), not one of its documented codes; message: %s", func, st,
                  graft_strerror(st), graft_errmsg(ctx));
    char prefix[96];
    snprintf(prefix, sizeof prefix, "%s(): ", func);
    const char *msgs[2] = {graft_errmsg(ctx), graft_errmsg(NULL)};
    for (int i = 0; i < 2; i++) {
        if (strncmp(msgs[i], prefix, strlen(prefix)) != 0 || !msgs[i][strlen(prefix)])
            fuzz_fail("%s returned %d, but the %s message \"%s\" does not start with "
                      "\"%s\" and a cause", func, st, i ? "thread's" : "context's", msgs[i],
                      prefix);
    }
}

static void expect_ok(graft_ctx *ctx, int st, const char *what)
{
    if (st != GRAFT_OK)
        fuzz_fail("%s on a model that loaded returned %d: %s", what, st, graft_errmsg(ctx));
}

/* ---- running a loaded model ------------------------------------------------------ */

/* Per-sample input element count, or -1 when the model input is over
 * RUN_MAX_INPUT. */
static int64_t input_numel(const graft_model *m, int *ndim, int64_t *dims)
{
    if (graft_model_layer_output_shape(m, -1, ndim, dims) != GRAFT_OK)
        fuzz_fail("graft_model_layer_output_shape(-1) failed on a loaded model");
    int64_t n = 1;
    for (int d = 0; d < *ndim; d++) {
        if (dims[d] < 1 || dims[d] > RUN_MAX_INPUT / n) return -1;
        n *= dims[d];
    }
    return n;
}

/* A batch of 2 samples with varied values, or NULL when the model is too
 * large to run cheaply or the batch cannot be allocated. */
static graft_tensor *make_batch(graft_ctx *ctx, const graft_model *m)
{
    int ndim;
    int64_t dims[GRAFT_MAX_DIMS + 1];
    int64_t n = input_numel(m, &ndim, dims + 1);
    if (n < 0 || graft_model_flops(m) > RUN_MAX_FLOPS || graft_model_flops(m) < 0) return NULL;
    dims[0] = 2;
    graft_tensor *x = NULL;
    int st = graft_tensor_create(ctx, ndim + 1, dims, &x);
    if (st == GRAFT_E_NOMEM) return NULL;
    expect_ok(ctx, st, "graft_tensor_create of the input batch");
    float *p = graft_tensor_data(x);
    for (size_t i = 0; i < graft_tensor_numel(x); i++)
        p[i] = (float)((int)(i * 7919u % 23u) - 11) / 8.0f;
    return x;
}

void fuzz_exercise_model(graft_ctx *ctx, graft_model *m)
{
    int n = graft_model_layer_count(m);
    if (n < 0) fuzz_fail("graft_model_layer_count is %d", n);
    /* A loaded preprocessing is one graft_model_set_preprocess() accepts. */
    graft_preprocess pre = GRAFT_PREPROCESS_INIT;
    int pst = graft_model_get_preprocess(m, &pre);
    if (pst == GRAFT_OK) expect_ok(ctx, graft_model_set_preprocess(m, &pre), "graft_model_set_preprocess");
    else if (pst != GRAFT_E_NOT_FOUND) fuzz_fail("graft_model_get_preprocess returned %d", pst);
    for (int i = 0; i < n; i++) {
        const char *name = graft_model_layer_name(m, i);
        graft_layer *l = graft_model_layer(m, i);
        if (!name || !l) fuzz_fail("layer %d of %d has no name or no layer", i, n);
        if (graft_model_find_layer(m, name) != i)
            fuzz_fail("graft_model_find_layer(\"%s\") is not %d", name, i);
        if (!graft_layer_kind(l)[0]) fuzz_fail("layer %d has no kind", i);
        int k = graft_model_layer_input_count(m, i);
        if (k < 1) fuzz_fail("layer %d has %d inputs", i, k);
        for (int j = 0; j < k; j++)
            if (!graft_model_layer_input_name(m, i, j))
                fuzz_fail("layer %d input %d has no name", i, j);
        int ndim;
        int64_t dims[GRAFT_MAX_DIMS];
        expect_ok(ctx, graft_model_layer_output_shape(m, i, &ndim, dims),
                  "graft_model_layer_output_shape");
        if (ndim < 1 || ndim > GRAFT_MAX_DIMS) fuzz_fail("layer %d output rank %d", i, ndim);
        if (graft_model_layer_param_count(m, i) < 0) fuzz_fail("layer %d param count < 0", i);
        int t = graft_model_layer_trainable(m, i);
        if (t != 0 && t != 1) fuzz_fail("layer %d trainable flag %d", i, t);
        int np = graft_layer_param_count(l);
        for (int p = 0; p < np; p++) {
            const char *pname = NULL;
            graft_tensor *value = NULL;
            expect_ok(ctx, graft_layer_param(l, p, &pname, &value, NULL, NULL),
                      "graft_layer_param");
            if (!pname || !value) fuzz_fail("layer %d parameter %d has no name or value", i, p);
        }
    }
    int classes = graft_model_class_count(m);
    for (int c = 0; c < classes; c++) (void)graft_model_class_name(m, c);
    (void)graft_model_param_count(m, 0);
    (void)graft_model_param_count(m, 1);
    (void)graft_model_epochs_done(m);

    size_t needed = 0;
    expect_ok(ctx, graft_model_summary(m, NULL, 0, &needed), "graft_model_summary (size)");
    char small[40];
    expect_ok(ctx, graft_model_summary(m, small, sizeof small, NULL),
              "graft_model_summary (cut)");
    if (strlen(small) >= sizeof small) fuzz_fail("summary overran its buffer");
    char *text = malloc(needed + 1);
    if (!text) fuzz_fail("out of memory for the summary");
    size_t again = 0;
    expect_ok(ctx, graft_model_summary(m, text, needed + 1, &again), "graft_model_summary");
    if (again != needed || strlen(text) != needed)
        fuzz_fail("graft_model_summary: needed %zu, then %zu, wrote %zu", needed, again,
                  strlen(text));
    free(text);

    if (n == 0) return;
    graft_tensor *x = make_batch(ctx, m);
    if (!x) return;
    const graft_tensor *y = NULL;
    int st = graft_model_forward(m, x, &y);
    if (st == GRAFT_OK) {
        if (!y || graft_tensor_dim(y, 0) != 2) fuzz_fail("forward gave no output of batch 2");
        if (classes >= 1 && (int64_t)classes * 2 == (int64_t)graft_tensor_numel(y) &&
            graft_tensor_ndim(y) == 2) {
            int64_t pd[2] = {2, classes};
            graft_tensor *probs = NULL;
            st = graft_tensor_create(ctx, 2, pd, &probs);
            if (st == GRAFT_OK) {
                st = graft_model_predict(m, x, probs);
                if (st != GRAFT_OK && st != GRAFT_E_NOMEM)
                    fuzz_fail("graft_model_predict returned %d: %s", st, graft_errmsg(ctx));
                int32_t idx[2];
                float pr[2];
                st = graft_model_predict_topk(m, x, 1, idx, pr);
                if (st != GRAFT_OK && st != GRAFT_E_NOMEM)
                    fuzz_fail("graft_model_predict_topk returned %d: %s", st, graft_errmsg(ctx));
                if (st == GRAFT_OK && (idx[0] < 0 || idx[0] >= classes))
                    fuzz_fail("graft_model_predict_topk gave class %d of %d", (int)idx[0],
                              classes);
            } else if (st != GRAFT_E_NOMEM) {
                fuzz_fail("graft_tensor_create(probs) returned %d", st);
            }
            graft_tensor_free(probs);
        }
    } else if (st != GRAFT_E_NOMEM) {
        fuzz_fail("graft_model_forward on a model that loaded returned %d: %s", st,
                  graft_errmsg(ctx));
    }
    graft_tensor_free(x);
}

/* ---- CRC repair --------------------------------------------------------------------- */

static uint64_t le64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) v = v << 8 | p[i];
    return v;
}

uint8_t *fuzz_repair_crcs(const uint8_t *data, size_t size)
{
    if (size < 16 + 20) return NULL;
    uint8_t *copy = malloc(size);
    if (!copy) fuzz_fail("out of memory for a copy of %zu bytes", size);
    memcpy(copy, data, size);
    size_t pos = 16;
    int changed = 0;
    while (size - pos >= 20) {
        uint64_t len = le64(copy + pos + 8);
        if (len > size - pos - 20) break;
        uint32_t crc = (uint32_t)crc32(0L, copy + pos, (uInt)(16 + len));
        uint8_t *at = copy + pos + 16 + len;
        uint8_t want[4] = {(uint8_t)crc, (uint8_t)(crc >> 8), (uint8_t)(crc >> 16),
                           (uint8_t)(crc >> 24)};
        if (memcmp(at, want, 4) != 0) {
            memcpy(at, want, 4);
            changed = 1;
        }
        pos += 20 + (size_t)len;
    }
    if (!changed) {
        free(copy);
        return NULL;
    }
    return copy;
}

/* ---- files -------------------------------------------------------------------------- */

static char tmp_dir[512];

static void remove_tmp_dir(void)
{
    if (tmp_dir[0]) rmdir(tmp_dir);
}

const char *fuzz_tmp_dir(void)
{
    if (!tmp_dir[0]) {
        const char *base = getenv("TMPDIR");
        snprintf(tmp_dir, sizeof tmp_dir, "%s/graft-fuzz-XXXXXX", base && base[0] ? base : "/tmp");
        if (!mkdtemp(tmp_dir)) fuzz_fail("cannot create a folder like %s", tmp_dir);
        atexit(remove_tmp_dir);
    }
    return tmp_dir;
}

uint8_t *fuzz_read_file(const char *path, size_t *size)
{
    FILE *f = fopen(path, "rb");
    if (!f) fuzz_fail("cannot open %s", path);
    size_t cap = 4096, n = 0;
    uint8_t *buf = malloc(cap);
    for (;;) {
        if (!buf) fuzz_fail("out of memory reading %s", path);
        n += fread(buf + n, 1, cap - n, f);
        if (n < cap) break;
        cap *= 2;
        buf = realloc(buf, cap);
    }
    if (ferror(f)) fuzz_fail("cannot read %s", path);
    fclose(f);
    *size = n;
    return buf;
}

/* ---- save, load, save ------------------------------------------------------------------ */

/* The outputs of m on batch x (malloc'd copy), or NULL when it cannot run. */
static float *outputs(graft_ctx *ctx, graft_model *m, const graft_tensor *x, size_t *n)
{
    const graft_tensor *y = NULL;
    int st = graft_model_forward(m, x, &y);
    if (st == GRAFT_E_NOMEM) return NULL;
    expect_ok(ctx, st, "graft_model_forward");
    *n = graft_tensor_numel(y);
    float *copy = malloc(*n * sizeof *copy + 1);
    if (!copy) fuzz_fail("out of memory for outputs");
    memcpy(copy, graft_tensor_data_const(y), *n * sizeof *copy);
    return copy;
}

void fuzz_check_resave(graft_ctx *ctx, graft_model *m, graft_optim *o)
{
    char a[600], b[600];
    snprintf(a, sizeof a, "%s/a.graft", fuzz_tmp_dir());
    snprintf(b, sizeof b, "%s/b.graft", fuzz_tmp_dir());
    const char *save_fn = o ? "graft_checkpoint_save" : "graft_model_save";
    const int save_codes[] = {GRAFT_E_NOMEM};
    int st = o ? graft_checkpoint_save(m, o, a) : graft_model_save(m, a);
    if (st != GRAFT_OK) {
        fuzz_check_failure(ctx, st, save_fn, save_codes, 1);
        return;
    }
    graft_model *m2 = NULL;
    graft_optim *o2 = NULL;
    st = o ? graft_checkpoint_load(ctx, a, &m2, &o2) : graft_model_load(ctx, a, &m2);
    if (st == GRAFT_E_NOMEM) {
        unlink(a);
        return;
    }
    if (st != GRAFT_OK)
        fuzz_fail("a file graft saved from a loaded model does not load: %d: %s", st,
                  graft_errmsg(ctx));
    st = o ? graft_checkpoint_save(m2, o2, b) : graft_model_save(m2, b);
    if (st != GRAFT_OK) fuzz_check_failure(ctx, st, save_fn, save_codes, 1);
    if (st == GRAFT_OK) {
        size_t na, nb;
        uint8_t *da = fuzz_read_file(a, &na), *db = fuzz_read_file(b, &nb);
        if (na != nb || memcmp(da, db, na) != 0)
            fuzz_fail("saving, loading and saving again changed the file (%zu -> %zu bytes)", na,
                      nb);
        free(da);
        free(db);
    }
    graft_tensor *x = make_batch(ctx, m);
    if (x && graft_model_layer_count(m) > 0) {
        size_t n1 = 0, n2 = 0;
        float *y1 = outputs(ctx, m, x, &n1);
        float *y2 = y1 ? outputs(ctx, m2, x, &n2) : NULL;
        if (y1 && y2 && (n1 != n2 || memcmp(y1, y2, n1 * sizeof *y1) != 0))
            fuzz_fail("the reloaded model computes other outputs than the loaded one");
        free(y1);
        free(y2);
    }
    graft_tensor_free(x);
    graft_optim_free(o2);
    graft_model_free(m2);
    unlink(a);
    unlink(b);
}
