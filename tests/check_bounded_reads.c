/*
 * check_bounded_reads.c - every file loader against files that never end or
 * are absurdly large (across modules: src/core/file.c, src/model/model_io.c,
 * src/onnx/onnx_import.c, src/data/image.c, src/data/file_reader.c,
 * src/data/dataset_idx.c, src/data/dataset_csv.c).
 *
 * The hostile files: /dev/zero; a FIFO whose writer (a child process) writes
 * forever, zeros or a plausible header then zeros, killed at the end; a
 * FIFO with no writer at all; a 1 TB sparse file (ftruncate to 2^40 in the
 * test's folder; skipped, with a note on stderr, where the file system
 * refuses), of zeros or behind a valid header. Each loader must check its
 * header first and read no more than its header declares or its ceiling
 * allows (model files and checkpoints 8 GiB, ONNX 2 GiB, images 1 GiB, CSV
 * 4 GiB; IDX reads regular files only, exactly as its header declares), and
 * return an error at once, naming the file (and the ceiling, where that is
 * the reason).
 *
 * So that the old unbounded code fails rather than hangs or fills memory:
 * each test arms alarm() (a hang kills the test process: Check reports it),
 * and the loads run in contexts whose allocator refuses to hold more than
 * 64 MiB (unbounded reading then ends in GRAFT_E_NOMEM, not the status the
 * test wants). Every test also checks the largest allocation.
 */
#include "testutil.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif

/* Seconds a test may take before alarm() kills it: far more than any of
 * them needs (they take milliseconds), far less than Check's own timeout. */
#define GUARD_SECONDS 20

/* ---- a capped, measuring allocator ---------------------------------------------------- */

#define CAP_BYTES ((size_t)64 << 20)
#define HEADER 16 /* keeps the alignment of the allocator's blocks */

typedef struct capped {
    size_t live, peak, largest, cap;
} capped;

static void *capped_alloc(void *opaque, size_t size)
{
    capped *c = opaque;
    if (size > c->largest) c->largest = size;
    if (size > c->cap - c->live) return NULL;
    unsigned char *p = malloc(size + HEADER);
    if (!p) return NULL;
    memcpy(p, &size, sizeof size);
    c->live += size;
    if (c->live > c->peak) c->peak = c->live;
    return p + HEADER;
}

static void capped_free(void *opaque, void *ptr)
{
    capped *c = opaque;
    if (!ptr) return;
    unsigned char *p = (unsigned char *)ptr - HEADER;
    size_t size;
    memcpy(&size, p, sizeof size);
    c->live -= size;
    free(p);
}

static graft_ctx *capped_ctx(capped *c)
{
    memset(c, 0, sizeof *c);
    c->cap = CAP_BYTES;
    graft_allocator a = GRAFT_ALLOCATOR_INIT;
    a.alloc = capped_alloc;
    a.free = capped_free;
    a.opaque = c;
    graft_ctx *ctx = NULL;
    ck_assert_int_eq(graft_ctx_create_advanced(&a, &ctx), GRAFT_OK);
    return ctx;
}

/* ---- the test's folder, FIFOs and their writers -------------------------------------- */

static char dir[256];

typedef struct writer {
    pid_t pid; /* a child writing forever, or 0 */
    int keep;  /* a read end held open so the FIFO's data outlives its writer, or -1 */
} writer;

static writer writers[4];
static int n_writers;

static void setup(void)
{
    const char *base = getenv("TMPDIR");
    snprintf(dir, sizeof dir, "%s/graft-bounded-XXXXXX", base && base[0] ? base : "/tmp");
    ck_assert_ptr_nonnull(mkdtemp(dir));
    n_writers = 0;
    alarm(GUARD_SECONDS);
}

/* Kills and reaps the writers, removes the folder (files only). */
static void teardown(void)
{
    alarm(0);
    for (int i = 0; i < n_writers; i++) {
        if (writers[i].pid > 0) {
            kill(writers[i].pid, SIGKILL);
            waitpid(writers[i].pid, NULL, 0);
        }
        if (writers[i].keep >= 0) close(writers[i].keep);
    }
    n_writers = 0;
    DIR *d = opendir(dir);
    if (d) {
        struct dirent *e;
        char p[600];
        while ((e = readdir(d)) != NULL) {
            if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
            snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
            unlink(p);
        }
        closedir(d);
    }
    rmdir(dir);
}

static const char *path_in_dir(char *buf, size_t size, const char *name)
{
    snprintf(buf, size, "%s/%s", dir, name);
    return buf;
}

/* A FIFO named name in the folder, with no writer. */
static const char *fifo_no_writer(char *buf, size_t size, const char *name)
{
    path_in_dir(buf, size, name);
    ck_assert_msg(mkfifo(buf, 0600) == 0, "mkfifo %s: %s", buf, strerror(errno));
    return buf;
}

/* A FIFO whose writer is in place before the loader opens it: the n bytes
 * at data, then (forever: 1) zeros without end from a child process, or
 * (forever: 0) nothing more, the writer closed (n must fit the pipe's
 * buffer, 64 KiB). */
static const char *fifo_with_writer(char *buf, size_t size, const char *name, const void *data,
                                    size_t n, int forever)
{
    fifo_no_writer(buf, size, name);
    ck_assert_int_lt(n_writers, (int)(sizeof writers / sizeof writers[0]));
    writer *w = &writers[n_writers++];
    w->pid = 0;
    /* A read end of our own: the writer's open() then does not wait, and
     * the bytes stay in the FIFO after it closes. */
    w->keep = open(buf, O_RDONLY | O_NONBLOCK);
    ck_assert_int_ge(w->keep, 0);
    int wfd = open(buf, O_WRONLY);
    ck_assert_int_ge(wfd, 0);
    if (!forever) {
        ck_assert_int_eq(write(wfd, data, n), (ssize_t)n);
        close(wfd);
        return buf;
    }
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
#ifdef __linux__
        prctl(PR_SET_PDEATHSIG, SIGKILL);
#endif
        alarm(GUARD_SECONDS + 30); /* a backstop, should the test never kill us */
        static const unsigned char zeros[65536];
        const unsigned char *p = data;
        while (n > 0) {
            ssize_t k = write(wfd, p, n);
            if (k <= 0) _exit(0);
            p += k;
            n -= (size_t)k;
        }
        for (;;)
            if (write(wfd, zeros, sizeof zeros) < 0) _exit(0);
    }
    w->pid = pid;
    close(wfd);
    return buf;
}

/* A 1 TB sparse file: the n bytes at data, then zeros up to 2^40 bytes.
 * NULL (with a note on stderr) when the file system refuses such a file. */
static const char *sparse_file(char *buf, size_t size, const char *name, const void *data,
                               size_t n)
{
    path_in_dir(buf, size, name);
    int fd = open(buf, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    ck_assert_int_ge(fd, 0);
    if (n) ck_assert_int_eq(write(fd, data, n), (ssize_t)n);
    if (ftruncate(fd, (off_t)1 << 40) != 0) {
        fprintf(stderr, "check_bounded_reads: skipped a 1 TB sparse file case: %s refuses it (%s)\n",
                dir, strerror(errno));
        close(fd);
        unlink(buf);
        return NULL;
    }
    close(fd);
    return buf;
}

/* The status is want and the message contains each of the words (up to
 * three, NULL for fewer). */
static void expect(graft_ctx *ctx, int st, int want, const char *w1, const char *w2,
                   const char *w3)
{
    const char *msg = graft_errmsg(ctx);
    ck_assert_msg(st == want, "status %d, expected %d: %s", st, want, msg);
    const char *words[3] = {w1, w2, w3};
    for (int i = 0; i < 3; i++)
        if (words[i])
            ck_assert_msg(strstr(msg, words[i]) != NULL, "\"%s\" not in the message: %s",
                          words[i], msg);
}

/* Nothing large was allocated: no more than limit at a time. */
static void expect_small(const capped *c, size_t limit)
{
    ck_assert_msg(c->largest <= limit, "an allocation of %zu bytes (at most %zu expected)",
                  c->largest, limit);
    ck_assert_msg(c->peak <= limit + 65536, "%zu bytes held at once (at most %zu expected)",
                  c->peak, limit + 65536);
    ck_assert_uint_eq(c->live, 0);
}

/* "\"path\"" for the messages that quote the path. */
static const char *quoted(char *buf, size_t size, const char *path)
{
    snprintf(buf, size, "\"%s\"", path);
    return buf;
}

/* ---- model files and checkpoints ------------------------------------------------------ */

static const unsigned char graft_header[16] = {0x89, 'G', 'R', 'A', 'F', 'T', '\r', '\n',
                                               1, 0, 0, 0, 1, 0, 0, 0};

static int load_model(graft_ctx *ctx, const char *path)
{
    graft_model *m = NULL;
    int st = graft_model_load(ctx, path, &m);
    if (st != GRAFT_OK) ck_assert_ptr_null(m);
    graft_model_free(m);
    return st;
}

static int load_checkpoint(graft_ctx *ctx, const char *path)
{
    graft_model *m = NULL;
    graft_optim *o = NULL;
    int st = graft_checkpoint_load(ctx, path, &m, &o);
    if (st != GRAFT_OK) ck_assert(m == NULL && o == NULL);
    graft_optim_free(o);
    graft_model_free(m);
    return st;
}

/* /dev/zero: the header is checked after 16 bytes. (Before: read without
 * end, 16 GB resident after 10 minutes.) */
START_TEST(test_model_dev_zero)
{
    capped c;
    graft_ctx *ctx = capped_ctx(&c);
    expect(ctx, load_model(ctx, "/dev/zero"), GRAFT_E_FORMAT, "graft_model_load(): ",
           "\"/dev/zero\"", "not a graft file");
    expect(ctx, load_checkpoint(ctx, "/dev/zero"), GRAFT_E_FORMAT, "graft_checkpoint_load(): ",
           "\"/dev/zero\"", "not a graft file");
    graft_ctx_free(ctx);
    expect_small(&c, 65536);
}
END_TEST

/* FIFOs whose writer never stops: zeros; a valid header then zeros (the
 * first section's checksum fails as soon as it is in); a valid header then
 * a section declaring 2^40 bytes (refused from the declaration, past the
 * 8 GiB ceiling, before reading it). */
START_TEST(test_model_fifo_endless)
{
    capped c;
    graft_ctx *ctx = capped_ctx(&c);
    char p[600], q[640];
    fifo_with_writer(p, sizeof p, "zeros.graft", NULL, 0, 1);
    expect(ctx, load_model(ctx, p), GRAFT_E_FORMAT, quoted(q, sizeof q, p), "not a graft file",
           NULL);

    fifo_with_writer(p, sizeof p, "header.graft", graft_header, sizeof graft_header, 1);
    expect(ctx, load_checkpoint(ctx, p), GRAFT_E_FORMAT, quoted(q, sizeof q, p),
           "at offset 16: checksum mismatch", NULL);

    unsigned char big[32];
    memcpy(big, graft_header, 16);
    memcpy(big + 16, "META\1\0\0\0\0\0\0\0\0\1\0\0", 16); /* flags 1, length 2^40 */
    fifo_with_writer(p, sizeof p, "huge.graft", big, sizeof big, 1);
    expect(ctx, load_model(ctx, p), GRAFT_E_FORMAT, quoted(q, sizeof q, p),
           "declares a 1099511627776-byte payload", "past the 8589934592-byte limit");
    graft_ctx_free(ctx);
    expect_small(&c, 65536);
}
END_TEST

/* A FIFO that no process writes: read as empty, not waited on for ever.
 * (Before: open() blocked for ever.) */
START_TEST(test_model_fifo_no_writer)
{
    capped c;
    graft_ctx *ctx = capped_ctx(&c);
    char p[600], q[640];
    fifo_no_writer(p, sizeof p, "nobody.graft");
    expect(ctx, load_model(ctx, p), GRAFT_E_FORMAT, quoted(q, sizeof q, p),
           "the header needs 16 bytes, only 0 present", NULL);
    expect(ctx, load_checkpoint(ctx, p), GRAFT_E_FORMAT, quoted(q, sizeof q, p),
           "the header needs 16 bytes, only 0 present", NULL);
    graft_ctx_free(ctx);
    expect_small(&c, 65536);
}
END_TEST

/* A valid model file through a FIFO loads (the unsized path reads it
 * section by section); with bytes after its END section it is refused. */
START_TEST(test_model_fifo_valid)
{
    graft_ctx *ctx = tu_ctx();
    const int64_t dims[1] = {4};
    graft_model *m = NULL;
    graft_layer *l = NULL;
    ck_assert_int_eq(graft_model_create(ctx, 1, dims, 7, &m), GRAFT_OK);
    ck_assert_int_eq(graft_layer_dense(ctx, 3, 1, &l), GRAFT_OK);
    ck_assert_int_eq(graft_model_add(m, "fc", l, 0, NULL), GRAFT_OK);
    char file[600], p[600], q[640];
    path_in_dir(file, sizeof file, "model.graft");
    ck_assert_int_eq(graft_model_save(m, file), GRAFT_OK);
    graft_model_free(m);
    graft_ctx_free(ctx);
    unsigned char bytes[8192];
    FILE *f = fopen(file, "rb");
    ck_assert_ptr_nonnull(f);
    size_t n = fread(bytes, 1, sizeof bytes - 8, f);
    fclose(f);
    ck_assert(n > 16 && n < sizeof bytes - 8);

    capped c;
    ctx = capped_ctx(&c);
    fifo_with_writer(p, sizeof p, "fifo.graft", bytes, n, 0);
    m = NULL;
    int st = graft_model_load(ctx, p, &m);
    ck_assert_msg(st == GRAFT_OK, "%s", graft_errmsg(ctx));
    ck_assert_int_eq(graft_model_layer_count(m), 1);
    graft_model_free(m);

    memset(bytes + n, 0, 8);
    fifo_with_writer(p, sizeof p, "trailing.graft", bytes, n + 8, 0);
    expect(ctx, load_model(ctx, p), GRAFT_E_FORMAT, quoted(q, sizeof q, p),
           "unexpected bytes after the END section", NULL);
    graft_ctx_free(ctx);
    ck_assert_uint_eq(c.live, 0);
}
END_TEST

/* 1 TB sparse files: zeros (the header, 16 bytes, refuses it), and a valid
 * header followed by zeros (its size, past the 8 GiB ceiling, refuses it).
 * (Before: GRAFT_E_NOMEM, after asking for 1 TB.) */
START_TEST(test_model_sparse)
{
    capped c;
    graft_ctx *ctx = capped_ctx(&c);
    char p[600], q[640];
    if (sparse_file(p, sizeof p, "zeros.graft", NULL, 0)) {
        expect(ctx, load_model(ctx, p), GRAFT_E_FORMAT, quoted(q, sizeof q, p),
               "not a graft file", NULL);
        unlink(p);
    }
    if (sparse_file(p, sizeof p, "header.ckpt", graft_header, sizeof graft_header)) {
        expect(ctx, load_checkpoint(ctx, p), GRAFT_E_FORMAT, quoted(q, sizeof q, p),
               "the file is 1099511627776 bytes",
               "larger than the 8589934592-byte limit of model files and checkpoints");
        expect(ctx, load_model(ctx, p), GRAFT_E_FORMAT, quoted(q, sizeof q, p),
               "larger than the 8589934592-byte limit", NULL);
        unlink(p);
    }
    graft_ctx_free(ctx);
    expect_small(&c, 65536);
}
END_TEST

/* ---- ONNX ------------------------------------------------------------------------------ */

static int import_onnx(graft_ctx *ctx, const char *path)
{
    graft_model *m = NULL;
    int st = graft_onnx_import(ctx, path, NULL, &m);
    if (st != GRAFT_OK) ck_assert_ptr_null(m);
    graft_model_free(m);
    return st;
}

/* /dev/zero and an endless FIFO of zeros: byte 0 is no protobuf key (field
 * number 0), so reading stops after it. (Before: read up to 2 GiB.) */
START_TEST(test_onnx_endless)
{
    capped c;
    graft_ctx *ctx = capped_ctx(&c);
    char p[600], q[640];
    expect(ctx, import_onnx(ctx, "/dev/zero"), GRAFT_E_FORMAT, "graft_onnx_import(): ",
           "offset 0: field number 0", NULL);
    fifo_with_writer(p, sizeof p, "zeros.onnx", NULL, 0, 1);
    expect(ctx, import_onnx(ctx, p), GRAFT_E_FORMAT, "offset 0: field number 0", NULL, NULL);
    /* Field 7 (the graph), wire type 2, declaring 2^32 bytes: past 2 GiB. */
    static const unsigned char huge[7] = {0x3a, 0x80, 0x80, 0x80, 0x80, 0x10, 0};
    fifo_with_writer(p, sizeof p, "huge.onnx", huge, 6, 1);
    expect(ctx, import_onnx(ctx, p), GRAFT_E_FORMAT, quoted(q, sizeof q, p),
           "field 7 at offset 0 declares 4294967296 bytes", "past the 2147483648-byte limit");
    /* ir_version 7, then a 1000-byte field 20 (unknown to ModelProto:
     * skipped) of zeros, then zeros: the next key (field number 0, at
     * offset 1006) ends the reading. */
    static const unsigned char prefix[6] = {0x08, 0x07, 0xa2, 0x01, 0xe8, 0x07};
    fifo_with_writer(p, sizeof p, "prefix.onnx", prefix, sizeof prefix, 1);
    expect(ctx, import_onnx(ctx, p), GRAFT_E_FORMAT, "offset 1006: field number 0", NULL, NULL);
    graft_ctx_free(ctx);
    expect_small(&c, 65536);
}
END_TEST

/* A FIFO that no process writes reads as empty (no graph). (Before:
 * open() blocked for ever.) */
START_TEST(test_onnx_fifo_no_writer)
{
    capped c;
    graft_ctx *ctx = capped_ctx(&c);
    char p[600];
    fifo_no_writer(p, sizeof p, "nobody.onnx");
    expect(ctx, import_onnx(ctx, p), GRAFT_E_FORMAT, "graft_onnx_import(): ", NULL, NULL);
    graft_ctx_free(ctx);
    expect_small(&c, 65536);
}
END_TEST

/* A valid ONNX model through a FIFO imports (the unsized path, field by
 * field). */
START_TEST(test_onnx_fifo_valid)
{
    graft_ctx *ctx = tu_ctx();
    tu_mb b;
    tu_onnx_small_model(ctx, &b);
    ck_assert(b.w.size < 60000);
    capped c;
    graft_ctx *load_ctx = capped_ctx(&c);
    char p[600];
    fifo_with_writer(p, sizeof p, "small.onnx", b.w.data, b.w.size, 0);
    graft_model *m = NULL;
    int st = graft_onnx_import(load_ctx, p, NULL, &m);
    ck_assert_msg(st == GRAFT_OK, "%s", graft_errmsg(load_ctx));
    ck_assert_int_gt(graft_model_layer_count(m), 0);
    graft_model_free(m);
    graft_ctx_free(load_ctx);
    tu_mb_free(&b);
    graft_ctx_free(ctx);
}
END_TEST

/* 1 TB sparse files: zeros (the first key refuses it, before the size is
 * looked at), and a valid first field then zeros (its size refuses it). */
START_TEST(test_onnx_sparse)
{
    capped c;
    graft_ctx *ctx = capped_ctx(&c);
    char p[600], q[640];
    if (sparse_file(p, sizeof p, "zeros.onnx", NULL, 0)) {
        expect(ctx, import_onnx(ctx, p), GRAFT_E_FORMAT, "offset 0: field number 0", NULL, NULL);
        unlink(p);
    }
    static const unsigned char ir_version[2] = {0x08, 0x07};
    if (sparse_file(p, sizeof p, "key.onnx", ir_version, sizeof ir_version)) {
        expect(ctx, import_onnx(ctx, p), GRAFT_E_FORMAT, quoted(q, sizeof q, p),
               "is 1099511627776 bytes", "larger than the 2147483648-byte limit of ONNX files");
        unlink(p);
    }
    graft_ctx_free(ctx);
    expect_small(&c, 65536);
}
END_TEST

/* ---- images ----------------------------------------------------------------------------- */

static const unsigned char png_signature[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};

static int load_image(graft_ctx *ctx, const char *path)
{
    graft_image *im = NULL;
    int st = graft_image_load(ctx, path, NULL, &im);
    if (st != GRAFT_OK) ck_assert_ptr_null(im);
    graft_image_free(im);
    return st;
}

/* /dev/zero, an endless FIFO of zeros, a FIFO without a writer: the
 * signature is checked in the first 16 bytes. (Before: 1 GiB read from
 * /dev/zero, the FIFOs read likewise or waited on for ever.) */
START_TEST(test_image_endless)
{
    capped c;
    graft_ctx *ctx = capped_ctx(&c);
    char p[600];
    expect(ctx, load_image(ctx, "/dev/zero"), GRAFT_E_FORMAT, "graft_image_load(): /dev/zero: ",
           "unrecognised signature", NULL);
    fifo_with_writer(p, sizeof p, "zeros.png", NULL, 0, 1);
    expect(ctx, load_image(ctx, p), GRAFT_E_FORMAT, p, "unrecognised signature", NULL);
    fifo_no_writer(p, sizeof p, "nobody.png");
    expect(ctx, load_image(ctx, p), GRAFT_E_FORMAT, p, "empty (0 bytes)", NULL);
    graft_ctx_free(ctx);
    expect_small(&c, 65536);
}
END_TEST

/* A PNG through a FIFO decodes. */
START_TEST(test_image_fifo_valid)
{
    size_t n;
    unsigned char *bytes = tu_image_fixture("tiny_rgb.png", &n);
    ck_assert(n < 60000);
    capped c;
    graft_ctx *ctx = capped_ctx(&c);
    char p[600];
    fifo_with_writer(p, sizeof p, "tiny.png", bytes, n, 0);
    graft_image *im = NULL;
    int st = graft_image_load(ctx, p, NULL, &im);
    ck_assert_msg(st == GRAFT_OK, "%s", graft_errmsg(ctx));
    graft_image_free(im);
    graft_ctx_free(ctx);
    free(bytes);
}
END_TEST

/* 1 TB sparse files: zeros (the signature refuses it), and a PNG signature
 * then zeros (its size, past the 1 GiB ceiling, refuses it). */
START_TEST(test_image_sparse)
{
    capped c;
    graft_ctx *ctx = capped_ctx(&c);
    char p[600];
    if (sparse_file(p, sizeof p, "zeros.png", NULL, 0)) {
        expect(ctx, load_image(ctx, p), GRAFT_E_FORMAT, p, "unrecognised signature", NULL);
        unlink(p);
    }
    if (sparse_file(p, sizeof p, "big.png", png_signature, sizeof png_signature)) {
        expect(ctx, load_image(ctx, p), GRAFT_E_FORMAT, p, "1099511627776 bytes",
               "larger than the 1073741824-byte limit of image files");
        unlink(p);
    }
    graft_ctx_free(ctx);
    expect_small(&c, 65536);
}
END_TEST

/* ---- IDX and CSV ------------------------------------------------------------------------ */

static int load_idx(graft_ctx *ctx, const char *images, const char *labels)
{
    graft_dataset *ds = NULL;
    int st = graft_dataset_from_idx(ctx, images, labels, 1.0f, 0, &ds);
    if (st != GRAFT_OK) ck_assert_ptr_null(ds);
    graft_dataset_free(ds);
    return st;
}

static int load_csv(graft_ctx *ctx, const char *path)
{
    graft_dataset *ds = NULL;
    int st = graft_dataset_from_csv(ctx, path, NULL, &ds);
    if (st != GRAFT_OK) ck_assert_ptr_null(ds);
    graft_dataset_free(ds);
    return st;
}

/* IDX and CSV read regular files only: /dev/zero and FIFOs, with a writer
 * or without, are refused when opened, which never waits. (Before: a FIFO
 * without a writer blocked open() for ever.) */
START_TEST(test_datasets_not_regular)
{
    capped c;
    graft_ctx *ctx = capped_ctx(&c);
    char p[600], want[700];
    expect(ctx, load_idx(ctx, "/dev/zero", "/dev/zero"), GRAFT_E_IO,
           "cannot read '/dev/zero': not a regular file", NULL, NULL);
    expect(ctx, load_csv(ctx, "/dev/zero"), GRAFT_E_IO,
           "cannot read '/dev/zero': not a regular file", NULL, NULL);
    fifo_no_writer(p, sizeof p, "nobody");
    snprintf(want, sizeof want, "cannot read '%s': not a regular file", p);
    expect(ctx, load_idx(ctx, p, p), GRAFT_E_IO, want, NULL, NULL);
    expect(ctx, load_csv(ctx, p), GRAFT_E_IO, want, NULL, NULL);
    fifo_with_writer(p, sizeof p, "zeros", NULL, 0, 1);
    snprintf(want, sizeof want, "cannot read '%s': not a regular file", p);
    expect(ctx, load_idx(ctx, p, p), GRAFT_E_IO, want, NULL, NULL);
    expect(ctx, load_csv(ctx, p), GRAFT_E_IO, want, NULL, NULL);
    graft_ctx_free(ctx);
    expect_small(&c, 65536);
}
END_TEST

/* 1 TB sparse files. IDX: zeros (the magic's type refuses it), and a valid
 * header declaring 10 images of 28 x 28 (the data the header declares
 * against the file's size). CSV: its size, past the 4 GiB ceiling, refuses
 * it before anything is read, even behind valid rows. (Before, CSV: 16 MiB
 * read and a "line too long" error.) */
START_TEST(test_datasets_sparse)
{
    capped c;
    graft_ctx *ctx = capped_ctx(&c);
    char p[600], want[700];
    if (sparse_file(p, sizeof p, "zeros.idx", NULL, 0)) {
        expect(ctx, load_idx(ctx, p, p), GRAFT_E_FORMAT, p, "unknown IDX type code 0x00", NULL);
        unlink(p);
    }
    static const unsigned char idx_header[16] = {0, 0, 8, 3, 0, 0, 0, 10, 0, 0, 0, 28, 0, 0, 0, 28};
    if (sparse_file(p, sizeof p, "images.idx", idx_header, sizeof idx_header)) {
        expect(ctx, load_idx(ctx, p, p), GRAFT_E_FORMAT, p,
               "longer than its header says: 7840 bytes of data announced", NULL);
        unlink(p);
    }
    if (sparse_file(p, sizeof p, "zeros.csv", NULL, 0)) {
        snprintf(want, sizeof want, "'%s' is larger than the 4294967296-byte limit of CSV files", p);
        expect(ctx, load_csv(ctx, p), GRAFT_E_FORMAT, want, "1099511627776 bytes", NULL);
        unlink(p);
    }
    static const char rows[] = "1,0\n2,1\n";
    if (sparse_file(p, sizeof p, "rows.csv", rows, sizeof rows - 1)) {
        snprintf(want, sizeof want, "'%s' is larger than the 4294967296-byte limit of CSV files", p);
        expect(ctx, load_csv(ctx, p), GRAFT_E_FORMAT, want, NULL, NULL);
        unlink(p);
    }
    graft_ctx_free(ctx);
    expect_small(&c, 65536);
}
END_TEST

Suite *suite_bounded_reads(void)
{
    Suite *s = suite_create("bounded_reads");
    TCase *tc = tcase_create("bounded_reads");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_model_dev_zero);
    tcase_add_test(tc, test_model_fifo_endless);
    tcase_add_test(tc, test_model_fifo_no_writer);
    tcase_add_test(tc, test_model_fifo_valid);
    tcase_add_test(tc, test_model_sparse);
    tcase_add_test(tc, test_onnx_endless);
    tcase_add_test(tc, test_onnx_fifo_no_writer);
    tcase_add_test(tc, test_onnx_fifo_valid);
    tcase_add_test(tc, test_onnx_sparse);
    tcase_add_test(tc, test_image_endless);
    tcase_add_test(tc, test_image_fifo_valid);
    tcase_add_test(tc, test_image_sparse);
    tcase_add_test(tc, test_datasets_not_regular);
    tcase_add_test(tc, test_datasets_sparse);
    suite_add_tcase(s, tc);
    return s;
}
