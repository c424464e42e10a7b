/*
 * bad_inputs.c - the table of bad model files and checkpoints in
 * docs/ROBUSTNESS.md, as a test.
 *
 *   bad_inputs              run every case, end with "N passed, N failed"
 *   bad_inputs --markdown   print the table rows for docs/ROBUSTNESS.md
 *
 * Each case writes a file with its own small writer, from docs/FORMAT.md
 * (not with graft's): the model of FORMAT.md section 5 (input (4), one dense
 * layer "fc" of 2 units, class names "no" and "yes"), or a checkpoint of it
 * with an SGD record, with exactly one thing wrong, and every checksum
 * right unless the case is about checksums. It loads the file with
 * graft_model_load_buffer() (or graft_checkpoint_load() from a temporary
 * file) and checks the exact status and that the message names the public
 * function and contains the expected words. The first cases load the valid
 * files, so the writer itself is checked.
 *
 * The last cases load from paths that never end or are absurdly large:
 * /dev/zero, a FIFO whose writer never stops, a FIFO with no writer, a 1 TB
 * sparse file (skipped, with a note, where the file system refuses one).
 * Each load runs in a child process under alarm() with a context capped at
 * 64 MiB, so a loader that hangs or reads without bound fails its case.
 */
#include "graft.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif

/* ---- a little-endian writer -------------------------------------------------------- */

typedef struct buf {
    unsigned char *p;
    size_t n, cap;
} buf;

static void put(buf *b, const void *data, size_t n)
{
    if (b->n + n > b->cap) {
        b->cap = (b->n + n) * 2 + 64;
        b->p = realloc(b->p, b->cap);
        if (!b->p) {
            fprintf(stderr, "bad_inputs: out of memory\n");
            exit(3);
        }
    }
    if (n) memcpy(b->p + b->n, data, n);
    b->n += n;
}

static void u32(buf *b, uint32_t v)
{
    unsigned char c[4] = {(unsigned char)v, (unsigned char)(v >> 8), (unsigned char)(v >> 16),
                          (unsigned char)(v >> 24)};
    put(b, c, 4);
}

static void u64(buf *b, uint64_t v)
{
    u32(b, (uint32_t)v);
    u32(b, (uint32_t)(v >> 32));
}

static void f32(buf *b, float v)
{
    uint32_t u;
    memcpy(&u, &v, 4);
    u32(b, u);
}

static void f64(buf *b, double v)
{
    uint64_t u;
    memcpy(&u, &v, 8);
    u64(b, u);
}

static void str(buf *b, const char *s)
{
    u32(b, (uint32_t)strlen(s));
    put(b, s, strlen(s));
}

/* A section: tag, flags, length, payload, CRC-32 of all four. */
static void section(buf *file, const char *tag, uint32_t flags, const buf *payload)
{
    size_t at = file->n;
    put(file, tag, 4);
    u32(file, flags);
    u64(file, payload->n);
    put(file, payload->p, payload->n);
    uLong crc = crc32(0L, file->p + at, (uInt)(file->n - at));
    u32(file, (uint32_t)crc);
}

/* ---- the file, field by field ---------------------------------------------------------- */

/* Every field of the test file; a case changes one. */
typedef struct desc {
    const char *magic;
    uint32_t version, kind;
    /* META */
    uint32_t rank;
    int64_t size0;
    int64_t epochs;
    uint32_t n_names;
    const char *name0, *name1;
    /* GRPH */
    uint32_t n_nodes;
    const char *node;
    uint32_t n_inputs;
    int32_t input0;
    uint32_t trainable;
    const char *layer_kind;
    uint32_t layer_version;
    int raw_attributes; /* 1: attributes (and nothing after) from `attributes` */
    buf attributes;
    int32_t units, bias;
    uint32_t built, rec_inputs, shape_rank;
    int64_t shape_batch, shape_size;
    uint32_t n_params;
    const char *param0;
    int64_t w_rows;
    float w0;
    /* XFER (when xfer) */
    int xfer;
    uint32_t xfer_layers;
    float lr_scale;
    uint32_t n_events;
    const char *event_layer;
    /* PREP (when prep; since 1.3): optional, 56 bytes */
    int prep;
    uint32_t prep_version;
    int32_t prep_channels, prep_width, prep_height;
    size_t prep_cut; /* write only this many payload bytes (0: all) */
    /* OPTM (when optm): an SGD record */
    int optm;
    uint32_t o_version, o_kind, o_key;
    double o_value;
    int64_t o_steps;
    uint32_t o_has_state, o_slots;
    float o_state0;
    /* framing */
    const char *extra_tag; /* an extra section before END, or NULL */
    uint32_t extra_flags;
    int meta_twice, omit_meta, omit_end, bad_crc, reserved_flag;
    size_t trailing; /* bytes after END */
    size_t cut;      /* keep only this many bytes (0: all) */
} desc;

static desc base(void)
{
    desc d;
    memset(&d, 0, sizeof d);
    d.magic = "\x89GRAFT\r\n";
    d.version = 1;
    d.kind = 1;
    d.rank = 1;
    d.size0 = 4;
    d.n_names = 2;
    d.name0 = "no";
    d.name1 = "yes";
    d.n_nodes = 1;
    d.node = "fc";
    d.n_inputs = 1;
    d.input0 = -1;
    d.trainable = 1;
    d.layer_kind = "dense";
    d.layer_version = 1;
    d.units = 2;
    d.bias = 1;
    d.built = 1;
    d.rec_inputs = 1;
    d.shape_rank = 2;
    d.shape_batch = 1;
    d.shape_size = 4;
    d.n_params = 2;
    d.param0 = "weight";
    d.w_rows = 2;
    d.w0 = 1.0f;
    d.xfer_layers = 1;
    d.lr_scale = 0.5f;
    d.o_version = 1;
    d.o_kind = 1;
    d.o_key = 1; /* GRAFT_OPT_LR */
    d.o_value = 0.1;
    return d;
}

static desc checkpoint(void)
{
    desc d = base();
    d.kind = 2;
    d.optm = 1;
    return d;
}

static void write_meta(buf *p, const desc *d)
{
    u32(p, d->rank);
    for (uint32_t i = 0; i < d->rank && i < 16; i++) u64(p, (uint64_t)(i == 0 ? d->size0 : 1));
    u64(p, 7);
    u64(p, (uint64_t)d->epochs);
    u32(p, d->n_names);
    if (d->n_names >= 1 && d->n_names <= 2) str(p, d->name0);
    if (d->n_names == 2) str(p, d->name1);
}

static void write_graph(buf *p, const desc *d)
{
    static const float w[8] = {1, 2, 3, 4, -1, 0.5f, 0, 2}, bias[2] = {0.5f, -1};
    u32(p, d->n_nodes);
    str(p, d->node);
    u32(p, d->n_inputs);
    u32(p, (uint32_t)d->input0);
    u32(p, d->trainable);
    str(p, d->layer_kind);
    u32(p, d->layer_version);
    if (d->raw_attributes) {
        put(p, d->attributes.p, d->attributes.n);
        return;
    }
    u32(p, (uint32_t)d->units);
    u32(p, (uint32_t)d->bias);
    u32(p, d->built);
    if (!d->built) return;
    u32(p, d->rec_inputs);
    u32(p, d->shape_rank);
    u64(p, (uint64_t)d->shape_batch);
    if (d->shape_rank >= 2) u64(p, (uint64_t)d->shape_size);
    u32(p, d->n_params);
    str(p, d->param0);
    u32(p, 2);
    u64(p, (uint64_t)d->w_rows);
    u64(p, 4);
    f32(p, d->w0);
    for (int i = 1; i < 8; i++) f32(p, w[i]);
    str(p, "bias");
    u32(p, 1);
    u64(p, 2);
    f32(p, bias[0]);
    f32(p, bias[1]);
}

static void write_xfer(buf *p, const desc *d)
{
    u32(p, d->xfer_layers);
    for (uint32_t i = 0; i < d->xfer_layers && i < 4; i++) f32(p, d->lr_scale);
    u32(p, d->n_events);
    if (d->n_events == 1) {
        str(p, d->event_layer);
        u64(p, 3);
        f32(p, 0.1f);
    }
    u32(p, 0);
    u32(p, 1);
    u64(p, 1024);
}

static void write_optim(buf *p, const desc *d)
{
    u32(p, d->o_version);
    u32(p, d->o_kind);
    u32(p, 1);
    u32(p, d->o_key);
    f64(p, d->o_value);
    u64(p, (uint64_t)d->o_steps);
    u32(p, d->o_has_state);
    if (!d->o_has_state) return;
    /* SGD: one buffer per slot; the dense layer's slots are 8 and 2 floats. */
    u32(p, d->o_slots);
    for (uint32_t s = 0; s < d->o_slots && s < 2; s++) {
        u64(p, s == 0 ? 8 : 2);
        u64(p, (uint64_t)d->o_steps);
    }
    for (uint32_t s = 0; s < d->o_slots && s < 2; s++)
        for (int i = 0; i < (s == 0 ? 8 : 2); i++) f32(p, i == 0 && s == 0 ? d->o_state0 : 0.01f);
}

static buf build(const desc *d)
{
    buf f = {NULL, 0, 0}, p = {NULL, 0, 0};
    put(&f, d->magic, 8);
    u32(&f, d->version);
    u32(&f, d->kind);
    uint32_t req = d->reserved_flag ? 3 : 1;
    if (!d->omit_meta) {
        write_meta(&p, d);
        section(&f, "META", req, &p);
        if (d->meta_twice) section(&f, "META", 1, &p);
    }
    p.n = 0;
    write_graph(&p, d);
    section(&f, "GRPH", 1, &p);
    if (d->xfer) {
        p.n = 0;
        write_xfer(&p, d);
        section(&f, "XFER", 1, &p);
    }
    if (d->prep) {
        p.n = 0;
        u32(&p, d->prep_version);
        int32_t ints[6] = {d->prep_channels, d->prep_width, d->prep_height, 0, 0, 0};
        for (int i = 0; i < 6; i++) u32(&p, (uint32_t)ints[i]);
        f32(&p, 1.0f); /* scale */
        for (int i = 0; i < 6; i++) f32(&p, i < 3 ? 0.0f : 1.0f); /* mean, std */
        if (d->prep_cut) p.n = d->prep_cut;
        section(&f, "PREP", 0, &p);
    }
    if (d->optm) {
        p.n = 0;
        write_optim(&p, d);
        section(&f, "OPTM", 1, &p);
    }
    if (d->extra_tag) {
        p.n = 0;
        str(&p, "notes");
        section(&f, d->extra_tag, d->extra_flags, &p);
    }
    if (d->bad_crc) f.p[f.n - 1] ^= 0x40;
    p.n = 0;
    if (!d->omit_end) section(&f, "END ", 1, &p);
    for (size_t i = 0; i < d->trailing; i++) put(&f, "\0", 1);
    if (d->cut) f.n = d->cut;
    free(p.p);
    return f;
}

/* ---- cases ----------------------------------------------------------------------------- */

typedef struct result {
    int status;
    char message[600];
} result;

static char tmp_path[512];

/* Loads f as the case says; for checkpoints through a temporary file. */
static result load(const buf *f, int as_checkpoint, int then_fit)
{
    result r;
    graft_ctx *ctx = NULL;
    if (graft_ctx_create(&ctx) != GRAFT_OK) exit(3);
    graft_model *m = NULL;
    graft_optim *o = NULL;
    if (as_checkpoint) {
        FILE *fp = fopen(tmp_path, "wb");
        if (!fp || fwrite(f->p, 1, f->n, fp) != f->n || fclose(fp) != 0) {
            perror("bad_inputs: temporary file");
            exit(3);
        }
        r.status = graft_checkpoint_load(ctx, tmp_path, &m, &o);
    } else {
        r.status = graft_model_load_buffer(ctx, f->p, f->n, &m);
    }
    snprintf(r.message, sizeof r.message, "%s", graft_errmsg(ctx));
    if (r.status != GRAFT_OK && (m || o)) {
        snprintf(r.message, sizeof r.message, "failed, but left an output set");
        r.status = 1;
    }
    if (r.status == GRAFT_OK && then_fit) {
        float x[4] = {1, 2, 3, 4};
        int32_t y[1] = {1};
        const int64_t dims[1] = {4};
        graft_dataset *ds = NULL;
        if (graft_dataset_from_memory(ctx, 1, 1, dims, x, y, 2, 1, &ds) != GRAFT_OK) exit(3);
        r.status = graft_model_fit(m, o, ds, NULL, NULL);
        snprintf(r.message, sizeof r.message, "%s", graft_errmsg(ctx));
        graft_dataset_free(ds);
    }
    graft_optim_free(o);
    graft_model_free(m);
    graft_ctx_free(ctx);
    return r;
}

static const char *code_name(int st)
{
    switch (st) {
    case GRAFT_OK: return "GRAFT_OK";
    case GRAFT_E_INVALID_ARG: return "GRAFT_E_INVALID_ARG";
    case GRAFT_E_NOMEM: return "GRAFT_E_NOMEM";
    case GRAFT_E_SHAPE: return "GRAFT_E_SHAPE";
    case GRAFT_E_RANGE: return "GRAFT_E_RANGE";
    case GRAFT_E_IO: return "GRAFT_E_IO";
    case GRAFT_E_FORMAT: return "GRAFT_E_FORMAT";
    case GRAFT_E_UNSUPPORTED: return "GRAFT_E_UNSUPPORTED";
    case GRAFT_E_STATE: return "GRAFT_E_STATE";
    case GRAFT_E_NOT_FOUND: return "GRAFT_E_NOT_FOUND";
    case GRAFT_E_VERSION: return "GRAFT_E_VERSION";
    default: return "?";
    }
}

static int passed, failed, markdown;

/* A table row: the message without its "function(): " prefix, and with the
 * temporary file's name replaced by PATH, so the table does not change from
 * run to run. */
static void row(const char *what, const char *status, const char *msg)
{
    const char *p = strstr(msg, "(): ");
    msg = p ? p + 4 : msg;
    char quoted[600];
    snprintf(quoted, sizeof quoted, "\"%s\"", tmp_path);
    const char *at = strstr(msg, quoted);
    if (at)
        printf("| %s | %s | %.*s\"PATH\"%s |\n", what, status, (int)(at - msg), msg,
               at + strlen(quoted));
    else
        printf("| %s | %s | %s |\n", what, status, msg[0] ? msg : "loads");
}

/* Runs one case: d's file, loaded as a model buffer or checkpoint, must give
 * want, with words in the message (NULL: none needed). */
static void check(const char *what, const desc *d, int want, const char *words)
{
    buf f = build(d);
    int as_checkpoint = d->kind == 2;
    result r = load(&f, as_checkpoint, 0);
    const char *func = as_checkpoint ? "graft_checkpoint_load(): " : "graft_model_load_buffer(): ";
    int ok = r.status == want;
    if (ok && want != GRAFT_OK)
        ok = strncmp(r.message, func, strlen(func)) == 0 && (!words || strstr(r.message, words));
    if (markdown) {
        row(what, code_name(r.status), r.status == GRAFT_OK ? "" : r.message);
    } else if (!ok) {
        printf("FAILED %s: want %s%s%s%s, got %s: %s\n", what, code_name(want),
               words ? " with \"" : "", words ? words : "", words ? "\"" : "",
               code_name(r.status), r.message);
    }
    ok ? passed++ : failed++;
    free(f.p);
}

/* A case where loading succeeds and the first training step must refuse. */
static void check_fit(const char *what, const desc *d, int want, const char *words)
{
    buf f = build(d);
    result r = load(&f, 1, 1);
    int ok = r.status == want && (!words || strstr(r.message, words));
    if (markdown) {
        char status[64];
        snprintf(status, sizeof status, "loads; graft_model_fit(): %s", code_name(r.status));
        row(what, status, r.message);
    } else if (!ok)
        printf("FAILED %s: want %s from the first step, got %s: %s\n", what, code_name(want),
               code_name(r.status), r.message);
    ok ? passed++ : failed++;
    free(f.p);
}

static desc with_attributes(const char *kind, const void *bytes, size_t n)
{
    desc d = base();
    d.layer_kind = kind;
    d.raw_attributes = 1;
    put(&d.attributes, bytes, n);
    return d;
}

static void layer_cases(void)
{
    /* conv2d: 13 i32; out_channels 0. */
    int32_t conv[13] = {0, 3, 3, 1, 1, 0, 0, 0, 0, 1, 1, 1, 1};
    desc d = with_attributes("conv2d", conv, sizeof conv);
    check("conv2d with out_channels 0", &d, GRAFT_E_FORMAT, NULL);
    free(d.attributes.p);
    conv[0] = 4;
    conv[3] = 0; /* stride_h */
    d = with_attributes("conv2d", conv, sizeof conv);
    check("conv2d with stride 0", &d, GRAFT_E_FORMAT, NULL);
    free(d.attributes.p);
    conv[3] = 1;
    conv[12] = 2; /* bias flag */
    d = with_attributes("conv2d", conv, sizeof conv);
    check("conv2d with bias flag 2", &d, GRAFT_E_FORMAT, NULL);
    free(d.attributes.p);
    int32_t pool[10] = {2, 2, 2, 2, 2, 0, 0, 0, 0, 0}; /* pad_top 2 = kernel */
    d = with_attributes("max_pool2d", pool, sizeof pool);
    check("max_pool2d with padding >= the kernel", &d, GRAFT_E_FORMAT, NULL);
    free(d.attributes.p);
    float bn[2] = {NAN, 0.1f};
    d = with_attributes("batch_norm", bn, sizeof bn);
    check("batch_norm with epsilon NaN", &d, GRAFT_E_FORMAT, NULL);
    free(d.attributes.p);
    bn[0] = 1e-5f;
    bn[1] = 1.5f;
    d = with_attributes("batch_norm", bn, sizeof bn);
    check("batch_norm with momentum 1.5", &d, GRAFT_E_FORMAT, NULL);
    free(d.attributes.p);
    float clip[2] = {6.0f, 0.0f};
    d = with_attributes("clip", clip, sizeof clip);
    check("clip with lo > hi", &d, GRAFT_E_FORMAT, NULL);
    free(d.attributes.p);
    float leaky = INFINITY;
    d = with_attributes("leaky_relu", &leaky, sizeof leaky);
    check("leaky_relu with alpha infinite", &d, GRAFT_E_FORMAT, NULL);
    free(d.attributes.p);
    unsigned char drop[12];
    float rate = 1.0f;
    memcpy(drop, &rate, 4);
    memset(drop + 4, 0, 8);
    d = with_attributes("dropout", drop, sizeof drop);
    check("dropout with rate 1", &d, GRAFT_E_FORMAT, NULL);
    free(d.attributes.p);
}

/* ---- files that never end, or are absurdly large ------------------------------------ */

/* Each load runs in a child process under alarm(), in a context whose
 * allocator refuses to hold more than 64 MiB: a loader that hangs (opening
 * a FIFO without a writer used to) or reads without bound (/dev/zero used
 * to) fails its case instead of the run or the machine. */
#define GUARD_SECONDS 20
#define CAP_BYTES ((size_t)64 << 20)

static size_t capped_live;

static void *capped_alloc(void *opaque, size_t size)
{
    (void)opaque;
    if (size > CAP_BYTES - capped_live) return NULL;
    unsigned char *p = malloc(size + 16);
    if (!p) return NULL;
    memcpy(p, &size, sizeof size);
    capped_live += size;
    return p + 16;
}

static void capped_free(void *opaque, void *ptr)
{
    (void)opaque;
    if (!ptr) return;
    size_t size;
    memcpy(&size, (unsigned char *)ptr - 16, sizeof size);
    capped_live -= size;
    free((unsigned char *)ptr - 16);
}

/* Loads path as a model file or checkpoint in a guarded child process. */
static result load_path_guarded(const char *path, int as_checkpoint)
{
    result r;
    memset(&r, 0, sizeof r);
    int fds[2];
    if (pipe(fds) != 0) exit(3);
    fflush(stdout);
    pid_t pid = fork();
    if (pid < 0) exit(3);
    if (pid == 0) {
        close(fds[0]);
        alarm(GUARD_SECONDS);
        graft_allocator a = GRAFT_ALLOCATOR_INIT;
        a.alloc = capped_alloc;
        a.free = capped_free;
        graft_ctx *ctx = NULL;
        if (graft_ctx_create_advanced(&a, &ctx) != GRAFT_OK) _exit(3);
        graft_model *m = NULL;
        graft_optim *o = NULL;
        r.status = as_checkpoint ? graft_checkpoint_load(ctx, path, &m, &o)
                                 : graft_model_load(ctx, path, &m);
        snprintf(r.message, sizeof r.message, "%s", graft_errmsg(ctx));
        if (r.status != GRAFT_OK && (m || o)) {
            snprintf(r.message, sizeof r.message, "failed, but left an output set");
            r.status = 1;
        }
        graft_optim_free(o);
        graft_model_free(m);
        graft_ctx_free(ctx);
        _exit(write(fds[1], &r, sizeof r) == (ssize_t)sizeof r ? 0 : 3);
    }
    close(fds[1]);
    size_t got = 0;
    while (got < sizeof r) {
        ssize_t k = read(fds[0], (char *)&r + got, sizeof r - got);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) break;
        got += (size_t)k;
    }
    close(fds[0]);
    int wst = 0;
    waitpid(pid, &wst, 0);
    if (got != sizeof r) {
        r.status = 1;
        if (WIFSIGNALED(wst) && WTERMSIG(wst) == SIGALRM)
            snprintf(r.message, sizeof r.message, "no answer within %d s (the load hangs)",
                     GUARD_SECONDS);
        else
            snprintf(r.message, sizeof r.message, "the loading process died");
    }
    return r;
}

/* The writer of a FIFO at tmp_path: a child writing forever, or none. */
static pid_t fifo_writer;
static int fifo_keep = -1;

/* Makes tmp_path a FIFO: with writer 0, nobody writes to it; with 1, the n
 * bytes at data are in it and its writer has closed it (n must fit the
 * pipe's buffer); with 2, a child writes them and then zeros without end. */
static void make_fifo(int writer, const void *data, size_t n)
{
    unlink(tmp_path);
    if (mkfifo(tmp_path, 0600) != 0) {
        perror("bad_inputs: mkfifo");
        exit(3);
    }
    if (writer == 0) return;
    fifo_keep = open(tmp_path, O_RDONLY | O_NONBLOCK); /* so the writer's open() does not wait */
    int wfd = open(tmp_path, O_WRONLY);
    if (fifo_keep < 0 || wfd < 0) {
        perror("bad_inputs: FIFO");
        exit(3);
    }
    if (writer == 1) {
        if (write(wfd, data, n) != (ssize_t)n) exit(3);
        close(wfd);
        return;
    }
    fflush(stdout);
    fifo_writer = fork();
    if (fifo_writer < 0) exit(3);
    if (fifo_writer == 0) {
#ifdef __linux__
        prctl(PR_SET_PDEATHSIG, SIGKILL);
#endif
        alarm(GUARD_SECONDS + 30);
        static const unsigned char zeros[65536];
        if (n && write(wfd, data, n) != (ssize_t)n) _exit(0);
        for (;;)
            if (write(wfd, zeros, sizeof zeros) < 0) _exit(0);
    }
    close(wfd);
}

/* Ends the FIFO's writer and removes tmp_path. */
static void end_fifo(void)
{
    if (fifo_writer > 0) {
        kill(fifo_writer, SIGKILL);
        waitpid(fifo_writer, NULL, 0);
    }
    fifo_writer = 0;
    if (fifo_keep >= 0) close(fifo_keep);
    fifo_keep = -1;
    unlink(tmp_path);
}

/* Makes tmp_path a 1 TB sparse file: the n bytes at data, then zeros up to
 * 2^40 bytes. 0 (after a note) when the file system refuses it. */
static int make_sparse(const void *data, size_t n)
{
    int fd = open(tmp_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0 || (n && write(fd, data, n) != (ssize_t)n)) {
        perror("bad_inputs: temporary file");
        exit(3);
    }
    int ok = ftruncate(fd, (off_t)1 << 40) == 0;
    if (!ok && !markdown)
        printf("skipped: the file system of %s refuses a 1 TB sparse file (%s)\n", tmp_path,
               strerror(errno));
    close(fd);
    if (!ok) unlink(tmp_path);
    return ok;
}

/* Runs one case on the file at path (made by the caller): must give want,
 * with words in the message, which must name the file. */
static void check_path(const char *what, const char *path, int as_checkpoint, int want,
                       const char *words)
{
    result r = load_path_guarded(path, as_checkpoint);
    const char *func = as_checkpoint ? "graft_checkpoint_load(): " : "graft_model_load(): ";
    char quoted[600];
    snprintf(quoted, sizeof quoted, "\"%s\"", path);
    int ok = r.status == want;
    if (ok && want != GRAFT_OK)
        ok = strncmp(r.message, func, strlen(func)) == 0 && strstr(r.message, quoted) &&
             (!words || strstr(r.message, words));
    if (markdown)
        row(what, code_name(r.status), r.status == GRAFT_OK ? "" : r.message);
    else if (!ok)
        printf("FAILED %s: want %s%s%s%s, got %s: %s\n", what, code_name(want),
               words ? " with \"" : "", words ? words : "", words ? "\"" : "",
               code_name(r.status), r.message);
    ok ? passed++ : failed++;
}

static void endless_and_huge_cases(void)
{
    static const unsigned char header[16] = {0x89, 'G', 'R', 'A', 'F', 'T', '\r', '\n',
                                             1, 0, 0, 0, 1, 0, 0, 0};
    check_path("/dev/zero as a model file", "/dev/zero", 0, GRAFT_E_FORMAT,
               "not a graft file");
    check_path("/dev/zero as a checkpoint", "/dev/zero", 1, GRAFT_E_FORMAT, "not a graft file");

    make_fifo(2, NULL, 0);
    check_path("a FIFO whose writer sends zeros without end", tmp_path, 0, GRAFT_E_FORMAT,
               "not a graft file");
    end_fifo();
    make_fifo(2, header, sizeof header);
    check_path("a FIFO whose writer sends a valid header, then zeros without end", tmp_path, 0,
               GRAFT_E_FORMAT, "checksum mismatch");
    end_fifo();
    unsigned char huge[32];
    memcpy(huge, header, 16);
    memcpy(huge + 16, "META\1\0\0\0\0\0\0\0\0\1\0\0", 16);
    make_fifo(2, huge, sizeof huge);
    check_path("a FIFO whose writer declares a 2^40-byte section, then sends zeros without end",
               tmp_path, 1, GRAFT_E_FORMAT, "past the 8589934592-byte limit");
    end_fifo();
    make_fifo(0, NULL, 0);
    check_path("a FIFO that no process writes", tmp_path, 0, GRAFT_E_FORMAT, "only 0 present");
    end_fifo();
    desc d = base();
    buf f = build(&d);
    make_fifo(1, f.p, f.n);
    check_path("the valid model file through a FIFO", tmp_path, 0, GRAFT_OK, NULL);
    end_fifo();
    free(f.p);

    if (make_sparse(NULL, 0)) {
        check_path("a 1 TB sparse file of zeros", tmp_path, 0, GRAFT_E_FORMAT,
                   "not a graft file");
        unlink(tmp_path);
    }
    if (make_sparse(header, sizeof header)) {
        check_path("a 1 TB sparse file behind a valid header", tmp_path, 1, GRAFT_E_FORMAT,
                   "larger than the 8589934592-byte limit");
        unlink(tmp_path);
    }
}

int main(int argc, char **argv)
{
    markdown = argc > 1 && strcmp(argv[1], "--markdown") == 0;
    const char *base_dir = getenv("TMPDIR");
    snprintf(tmp_path, sizeof tmp_path, "%s/graft-bad-inputs-%ld.ckpt",
             base_dir && base_dir[0] ? base_dir : "/tmp", (long)getpid());
    if (markdown) {
        printf("| bad input | status | message (after \"function(): \") |\n");
        printf("|---|---|---|\n");
    }
    desc d;

    d = base();
    check("the valid model file (FORMAT.md section 5)", &d, GRAFT_OK, NULL);
    d = checkpoint();
    check("the valid checkpoint", &d, GRAFT_OK, NULL);
    d = base();
    d.xfer = 1;
    d.n_events = 1;
    d.event_layer = "fc";
    check("the valid model file with an XFER section", &d, GRAFT_OK, NULL);

    /* Header */
    graft_ctx *ctx = NULL;
    graft_model *m = NULL;
    if (graft_ctx_create(&ctx) != GRAFT_OK) return 3;
    int st = graft_model_load_buffer(ctx, NULL, 5, &m);
    if (markdown) row("NULL data with a size", code_name(st), graft_errmsg(ctx));
    st == GRAFT_E_INVALID_ARG ? passed++ : (printf("FAILED NULL data: %d\n", st), failed++);
    graft_ctx_free(ctx);
    d = base();
    d.cut = 1;
    d.magic = "\x89GRAFT\r\n";
    check("1 byte (the magic's first)", &d, GRAFT_E_FORMAT, "truncated");
    d = base();
    d.magic = "\x89PNG\r\n\x1a\n";
    check("a PNG file (other magic)", &d, GRAFT_E_FORMAT, "not a graft file");
    d = base();
    d.magic = "\x89GRAFT\n\n";
    check("magic damaged by a text-mode transfer (CR LF -> LF)", &d, GRAFT_E_FORMAT,
          "not a graft file");
    d = base();
    d.cut = 12;
    check("header cut at 12 bytes", &d, GRAFT_E_FORMAT, "truncated");
    d = base();
    d.version = 0;
    check("format version 0", &d, GRAFT_E_FORMAT, "version 0");
    d = base();
    d.version = 2;
    check("format version 2 (newer)", &d, GRAFT_E_VERSION, "newer");
    d = base();
    d.kind = 3;
    check("file kind 3", &d, GRAFT_E_FORMAT, "file kind");

    /* Framing */
    d = base();
    d.cut = 286 - 4;
    check("cut inside the END section", &d, GRAFT_E_FORMAT, NULL);
    d = base();
    d.cut = 16 + 20 + 45;
    check("cut between two sections", &d, GRAFT_E_FORMAT, "without an END section");
    d = base();
    d.cut = 100;
    check("cut inside a section (length past the end)", &d, GRAFT_E_FORMAT, "past the end");
    d = base();
    d.bad_crc = 1;
    check("a flipped bit in a payload (checksum)", &d, GRAFT_E_FORMAT, "checksum mismatch");
    d = base();
    d.reserved_flag = 1;
    check("a reserved flag bit set", &d, GRAFT_E_FORMAT, "flag bits");
    d = base();
    d.extra_tag = "NOTE";
    d.extra_flags = 0;
    check("an unknown optional section (skipped)", &d, GRAFT_OK, NULL);
    d = base();
    d.extra_tag = "NOTE";
    d.extra_flags = 1;
    check("an unknown required section", &d, GRAFT_E_VERSION, "required but unknown");
    d = base();
    d.extra_tag = "N\x01TE";
    d.extra_flags = 0;
    check("a tag with a control byte", &d, GRAFT_E_FORMAT, "printable");
    d = base();
    d.extra_tag = "GRPH";
    d.extra_flags = 1;
    check("a second GRPH section", &d, GRAFT_E_FORMAT, "second");
    d = base();
    d.meta_twice = 1;
    check("a second META section", &d, GRAFT_E_FORMAT, "second");
    d = base();
    d.omit_meta = 1;
    check("no META section", &d, GRAFT_E_FORMAT, "no META");
    d = base();
    d.omit_end = 1;
    check("no END section", &d, GRAFT_E_FORMAT, "without an END");
    d = base();
    d.trailing = 3;
    check("3 bytes after the END section", &d, GRAFT_E_FORMAT, "after the END");
    d = base();
    d.optm = 1;
    check("an OPTM section in a model file (kind 1)", &d, GRAFT_E_FORMAT, NULL);

    /* META */
    d = base();
    d.rank = 0;
    check("input rank 0", &d, GRAFT_E_FORMAT, "input rank");
    d = base();
    d.rank = 8;
    check("input rank 8", &d, GRAFT_E_FORMAT, "input rank");
    d = base();
    d.size0 = 0;
    check("input size 0", &d, GRAFT_E_FORMAT, "input size");
    d = base();
    d.size0 = (int64_t)1 << 41;
    check("input size 2^41 (over 2^40 elements)", &d, GRAFT_E_FORMAT, "input size");
    d = base();
    d.epochs = -1;
    check("epochs done -1", &d, GRAFT_E_FORMAT, "epochs done");
    d = base();
    d.n_names = 0x7FFFFFFF;
    check("2^31-1 class names announced (refused before allocating)", &d, GRAFT_E_FORMAT,
          "cannot fit");
    d = base();
    d.name1 = "";
    check("an empty class name", &d, GRAFT_E_FORMAT, "empty");
    d = base();
    d.n_names = 1;
    check("1 class name for 2 outputs", &d, GRAFT_E_FORMAT, "class names");

    /* GRPH */
    d = base();
    d.n_nodes = 1000000;
    check("10^6 nodes announced (refused before allocating)", &d, GRAFT_E_FORMAT, "cannot fit");
    d = base();
    d.node = "input";
    check("a layer named \"input\"", &d, GRAFT_E_FORMAT, "not a valid layer name");
    d = base();
    d.node = "f c";
    check("a layer name with a space", &d, GRAFT_E_FORMAT, "not a valid layer name");
    d = base();
    d.n_inputs = 0;
    check("a node with 0 inputs", &d, GRAFT_E_FORMAT, "input count");
    d = base();
    d.input0 = 0;
    check("a node reading itself (a cycle)", &d, GRAFT_E_FORMAT, "refers to node 0");
    d = base();
    d.trainable = 2;
    check("trainable flag 2", &d, GRAFT_E_FORMAT, "trainable flag");
    d = base();
    d.layer_kind = "lstm";
    check("unknown layer kind \"lstm\"", &d, GRAFT_E_FORMAT, "unknown layer kind");
    d = base();
    d.layer_version = 99; /* dense's records are versions 1 and 2 */
    check("layer record version 99 (newer)", &d, GRAFT_E_VERSION, "version");
    d = base();
    d.layer_version = 0;
    check("layer record version 0", &d, GRAFT_E_FORMAT, "version");
    d = base();
    d.units = 0;
    check("dense with 0 units", &d, GRAFT_E_FORMAT, NULL);
    d = base();
    d.built = 0;
    check("an unbuilt layer record", &d, GRAFT_E_FORMAT, "not built");
    d = base();
    d.rec_inputs = 2;
    check("a dense record with 2 inputs", &d, GRAFT_E_FORMAT, NULL);
    d = base();
    d.shape_size = 5;
    check("a stored input shape (1, 5) for the model input (4)", &d, GRAFT_E_FORMAT, NULL);
    d = base();
    d.shape_rank = 9;
    check("a stored shape of rank 9", &d, GRAFT_E_FORMAT, "dimensions");
    d = base();
    d.shape_batch = -1;
    check("a stored shape with a negative size", &d, GRAFT_E_FORMAT, "shape");
    d = base();
    d.n_params = 3;
    check("3 parameters stored for a dense layer's 2", &d, GRAFT_E_FORMAT, "parameters");
    d = base();
    d.param0 = "bias";
    check("parameters in the wrong order", &d, GRAFT_E_FORMAT, "weight");
    d = base();
    d.w_rows = 3;
    check("weight of shape (3, 4) for (2, 4)", &d, GRAFT_E_FORMAT, "shape");
    d = base();
    d.w0 = NAN;
    check("a NaN weight (loaded as stored, bit for bit)", &d, GRAFT_OK, NULL);
    layer_cases();

    /* XFER */
    d = base();
    d.xfer = 1;
    d.xfer_layers = 2;
    check("XFER for 2 layers in a 1-layer model", &d, GRAFT_E_FORMAT, "multipliers");
    d = base();
    d.xfer = 1;
    d.lr_scale = -1.0f;
    check("a learning-rate multiplier of -1", &d, GRAFT_E_FORMAT, "multiplier");
    d = base();
    d.xfer = 1;
    d.n_events = 1;
    d.event_layer = "nope";
    check("an unfreeze event naming a missing layer", &d, GRAFT_E_FORMAT, "does not have");

    /* PREP (the input preprocessing, since 1.3; optional) */
    d = base();
    d.prep = 1;
    d.prep_version = 1;
    d.prep_channels = 3;
    d.prep_width = d.prep_height = 4;
    check("PREP on a model whose input (4) is not an image", &d, GRAFT_E_FORMAT,
          "not (channels, height, width)");
    d.prep_version = 2;
    check("PREP record version 2 (newer)", &d, GRAFT_E_VERSION, "newer than this graft");
    d.prep_version = 1;
    d.prep_cut = 52;
    check("PREP cut 4 bytes short", &d, GRAFT_E_FORMAT, "PREP section");

    /* Checkpoints */
    d = base();
    {
        buf f = build(&d);
        result r = load(&f, 1, 0);
        int ok = r.status == GRAFT_E_FORMAT && strstr(r.message, "not a checkpoint");
        if (markdown)
            row("a model file given to graft_checkpoint_load()", code_name(r.status), r.message);
        else if (!ok)
            printf("FAILED model file as checkpoint: %s: %s\n", code_name(r.status), r.message);
        ok ? passed++ : failed++;
        free(f.p);
    }
    d = checkpoint();
    d.optm = 0;
    d.kind = 2;
    check("a checkpoint without OPTM", &d, GRAFT_E_FORMAT, "no OPTM");
    d = checkpoint();
    d.o_version = 2;
    check("optimizer record version 2 (newer)", &d, GRAFT_E_VERSION, "newer");
    d = checkpoint();
    d.o_kind = 9;
    check("optimizer kind 9", &d, GRAFT_E_FORMAT, "kind");
    d = checkpoint();
    d.o_key = 5;
    check("an Adam key (BETA1) in an SGD record", &d, GRAFT_E_FORMAT, "not a key");
    d = checkpoint();
    d.o_value = 20.0;
    check("learning rate 20 (bounds (0, 10])", &d, GRAFT_E_FORMAT, "LR");
    d = checkpoint();
    d.o_value = NAN;
    check("learning rate NaN", &d, GRAFT_E_FORMAT, NULL);
    d = checkpoint();
    d.o_steps = -1;
    check("step count -1", &d, GRAFT_E_FORMAT, "step count");
    d = checkpoint();
    d.o_has_state = 1;
    d.o_slots = 2;
    check("optimizer state with 0 steps", &d, GRAFT_E_FORMAT, "state flag");
    d = checkpoint();
    d.o_steps = 1;
    d.o_has_state = 1;
    d.o_slots = 0x40000000;
    check("2^30 optimizer slots announced (refused before allocating)", &d, GRAFT_E_FORMAT,
          "slot count");
    d = checkpoint();
    d.o_steps = 1;
    d.o_has_state = 1;
    d.o_slots = 2;
    d.o_state0 = INFINITY;
    check("an infinite momentum value", &d, GRAFT_E_FORMAT, "finite");
    d = checkpoint();
    d.o_steps = 1;
    d.o_has_state = 1;
    d.o_slots = 2;
    check("the valid checkpoint with optimizer state", &d, GRAFT_OK, NULL);
    d = checkpoint();
    d.o_steps = 1;
    d.o_has_state = 1;
    d.o_slots = 1;
    d.o_state0 = 0.0f;
    check_fit("optimizer state for 1 slot, the model has 2", &d, GRAFT_E_STATE, NULL);

    ctx = NULL;
    graft_optim *o = NULL;
    if (graft_ctx_create(&ctx) != GRAFT_OK) return 3;
    st = graft_checkpoint_load(ctx, "/nonexistent/graft.ckpt", &m, &o);
    if (markdown) row("a path that does not exist", code_name(st), graft_errmsg(ctx));
    st == GRAFT_E_IO ? passed++ : (printf("FAILED missing path: %d\n", st), failed++);
    st = graft_checkpoint_load(ctx, "/tmp", &m, &o);
    if (markdown) row("a folder", code_name(st), graft_errmsg(ctx));
    st == GRAFT_E_IO ? passed++ : (printf("FAILED folder: %d\n", st), failed++);
    graft_ctx_free(ctx);

    /* Files that never end, or are absurdly large: loaded from paths */
    endless_and_huge_cases();

    unlink(tmp_path);
    if (!markdown) printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
