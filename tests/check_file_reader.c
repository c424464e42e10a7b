/*
 * check_file_reader.c - the sequential plain-or-gzip file reader
 * (src/data/file_reader.c) that the IDX and CSV datasets read through:
 * plain and gzip files (one member or several) read back exactly in chunks
 * of every size, gzip told by its first two bytes only, truncated and
 * damaged gzip data, files that cannot be opened, and allocation failures.
 * The gzip files are written by zlib's own gzip writer (tu_write_gzip).
 */
#include "testutil.h"

#include "data/file_reader.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define FN "graft_test_reader"

/* ---- helpers ------------------------------------------------------------------ */

static char dir[64];

static void dir_setup(void)
{
    tu_make_dir(dir, sizeof dir, "reader");
}

static void dir_teardown(void)
{
    tu_rm_tree(dir);
}

static const char *path_of(const char *name)
{
    static char p[256];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    return p;
}

/* Data that compresses, but not to nothing: a mix of runs and noise. */
static unsigned char *sample_data(size_t n)
{
    unsigned char *d = malloc(n ? n : 1);
    uint64_t s = 12345;
    for (size_t i = 0; i < n; i++) {
        s = s * 6364136223846793005ull + 1442695040888963407ull;
        d[i] = (i / 64) % 3 == 0 ? (unsigned char)(i / 64) : (unsigned char)(s >> 58);
    }
    return d;
}

/* Reads the whole file in chunks of `chunk` bytes; every read but the last
 * must fill its chunk. Returns the bytes (malloc'd) and their count. */
static unsigned char *read_chunks(graft_ctx *ctx, const char *path, size_t chunk, size_t *total,
                                  int *gzip)
{
    graftFileReader r;
    ck_assert_msg(graftFileOpen(&r, ctx, FN, path) == GRAFT_OK, "%s", graft_errmsg(ctx));
    *gzip = r.gzip;
    size_t cap = 1 << 20, n = 0, got;
    unsigned char *out = malloc(cap);
    int ended = 0;
    for (;;) {
        ck_assert_uint_le(n + chunk, cap);
        int st = graftFileRead(&r, out + n, chunk, &got);
        ck_assert_msg(st == GRAFT_OK, "%s", graft_errmsg(ctx));
        ck_assert_uint_le(got, chunk);
        if (got == 0) break;
        ck_assert_msg(!ended, "a short read was followed by more data");
        ended = got < chunk;
        n += got;
    }
    /* At the end, reads keep returning nothing. */
    ck_assert_int_eq(graftFileRead(&r, out, chunk, &got), GRAFT_OK);
    ck_assert_uint_eq(got, 0);
    graftFileClose(&r);
    *total = n;
    return out;
}

/* ---- reading ------------------------------------------------------------------ */

START_TEST(test_reader_plain_and_gzip_in_every_chunk_size)
{
    graft_ctx *ctx = tu_ctx();
    const size_t sizes[] = {0, 1, 2, 3, 1000, 70000, 200000};
    const size_t chunks[] = {1, 2, 7, 4096, 65536, 65537, 300000};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        size_t n = sizes[i];
        unsigned char *data = sample_data(n);
        tu_write_file(path_of("plain"), data, n);
        tu_write_gzip(path_of("packed.gz"), "wb", data, n);
        for (size_t c = 0; c < sizeof chunks / sizeof chunks[0]; c++) {
            if (n > 3000 && chunks[c] < 7) continue; /* 1- and 2-byte chunks on small files only */
            for (int gz = 0; gz <= 1; gz++) {
                size_t got;
                int is_gzip;
                const char *name = gz ? "packed.gz" : "plain";
                unsigned char *back = read_chunks(ctx, path_of(name), chunks[c], &got, &is_gzip);
                ck_assert_int_eq(is_gzip, gz);
                ck_assert_msg(got == n, "%s of %zu bytes in chunks of %zu: %zu read",
                              gz ? "gzip" : "plain", n, chunks[c], got);
                ck_assert(n == 0 || memcmp(back, data, n) == 0);
                free(back);
            }
        }
        free(data);
    }
    graft_ctx_free(ctx);
}
END_TEST

/* Several gzip members one after the other read as one stream (as zcat
 * does); a reader also reports the file's size on disk. */
START_TEST(test_reader_gzip_members_concatenated)
{
    graft_ctx *ctx = tu_ctx();
    unsigned char *data = sample_data(150000);
    tu_write_gzip(path_of("multi.gz"), "wb", data, 100000);
    tu_write_gzip(path_of("multi.gz"), "ab", data + 100000, 50000);
    tu_write_gzip(path_of("multi.gz"), "ab", NULL, 0); /* an empty member */
    size_t got;
    int is_gzip;
    unsigned char *back = read_chunks(ctx, path_of("multi.gz"), 4000, &got, &is_gzip);
    ck_assert_int_eq(is_gzip, 1);
    ck_assert_uint_eq(got, 150000);
    ck_assert(memcmp(back, data, 150000) == 0);
    free(back);
    graftFileReader r;
    ck_assert_int_eq(graftFileOpen(&r, ctx, FN, path_of("multi.gz")), GRAFT_OK);
    struct stat st;
    ck_assert_int_eq(stat(path_of("multi.gz"), &st), 0);
    ck_assert(r.file_size == (uint64_t)st.st_size);
    graftFileClose(&r);
    free(data);
    graft_ctx_free(ctx);
}
END_TEST

/* Only the magic bytes 1f 8b make a file gzip: a text file, a file holding
 * only 1f, and one whose name ends in .gz but is plain are read as they are. */
START_TEST(test_reader_detects_gzip_by_content)
{
    graft_ctx *ctx = tu_ctx();
    const unsigned char one[1] = {0x1f}, other[3] = {0x1f, 0x8c, 0x00};
    tu_write_file(path_of("one"), one, 1);
    tu_write_file(path_of("plain.gz"), "a,b\n1,2\n", 8);
    tu_write_file(path_of("other"), other, 3);
    const char *names[] = {"one", "plain.gz", "other"};
    const size_t lens[] = {1, 8, 3};
    for (int k = 0; k < 3; k++) {
        size_t got;
        int is_gzip;
        unsigned char *back = read_chunks(ctx, path_of(names[k]), 5, &got, &is_gzip);
        ck_assert_int_eq(is_gzip, 0);
        ck_assert_uint_eq(got, lens[k]);
        free(back);
    }
    graft_ctx_free(ctx);
}
END_TEST

/* ---- damage and errors ----------------------------------------------------------- */

/* Reads until an error; returns the status. */
static int read_to_error(graft_ctx *ctx, const char *path)
{
    graftFileReader r;
    ck_assert_int_eq(graftFileOpen(&r, ctx, FN, path), GRAFT_OK);
    unsigned char buf[4096];
    size_t got;
    int st;
    do st = graftFileRead(&r, buf, sizeof buf, &got);
    while (st == GRAFT_OK && got > 0);
    graftFileClose(&r);
    return st;
}

START_TEST(test_reader_truncated_and_damaged_gzip)
{
    graft_ctx *ctx = tu_ctx();
    unsigned char *data = sample_data(20000);
    tu_write_gzip(path_of("good.gz"), "wb", data, 20000);
    size_t n;
    unsigned char *gz = tu_read_file(path_of("good.gz"), &n);
    char want[512];

    /* Every cut of the compressed bytes (past the magic) is refused. */
    for (size_t len = 2; len < n; len += len < 40 ? 1 : 97) {
        tu_write_file(path_of("cut.gz"), gz, len);
        int st = read_to_error(ctx, path_of("cut.gz"));
        ck_assert_msg(st == GRAFT_E_FORMAT, "cut at %zu of %zu: %d %s", len, n, st,
                      graft_errmsg(ctx));
    }
    tu_write_file(path_of("cut.gz"), gz, n - 4); /* the length field missing */
    ck_assert_int_eq(read_to_error(ctx, path_of("cut.gz")), GRAFT_E_FORMAT);
    snprintf(want, sizeof want, FN "(): '%s': the gzip data is truncated", path_of("cut.gz"));
    ck_assert_str_eq(graft_errmsg(ctx), want);

    /* A changed byte in the stored CRC. */
    gz[n - 6] ^= 0x40;
    tu_write_file(path_of("crc.gz"), gz, n);
    ck_assert_int_eq(read_to_error(ctx, path_of("crc.gz")), GRAFT_E_FORMAT);
    snprintf(want, sizeof want, FN "(): '%s': the gzip data is damaged (", path_of("crc.gz"));
    ck_assert_msg(strncmp(graft_errmsg(ctx), want, strlen(want)) == 0, "%s", graft_errmsg(ctx));
    gz[n - 6] ^= 0x40;

    /* Bytes after the member that are not another member. */
    memcpy(gz + n, "junk", 4);
    tu_write_file(path_of("tail.gz"), gz, n + 4);
    ck_assert_int_eq(read_to_error(ctx, path_of("tail.gz")), GRAFT_E_FORMAT);
    ck_assert_ptr_nonnull(strstr(graft_errmsg(ctx), "the gzip data is damaged"));

    /* The magic alone, then garbage. */
    const unsigned char bad[8] = {0x1f, 0x8b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
    tu_write_file(path_of("bad.gz"), bad, sizeof bad);
    ck_assert_int_eq(read_to_error(ctx, path_of("bad.gz")), GRAFT_E_FORMAT);
    free(gz);
    free(data);
    graft_ctx_free(ctx);
}
END_TEST

START_TEST(test_reader_open_errors)
{
    graft_ctx *ctx = tu_ctx();
    char want[512];
    graftFileReader r;
    ck_assert_int_eq(graftFileOpen(&r, ctx, FN, path_of("missing")), GRAFT_E_IO);
    snprintf(want, sizeof want, FN "(): cannot open '%s': No such file or directory",
             path_of("missing"));
    ck_assert_str_eq(graft_errmsg(ctx), want);
    graftFileClose(&r); /* closing a reader that failed to open is allowed */
    graftFileClose(&r);
    /* A folder is not a file to read. */
    ck_assert_int_eq(graftFileOpen(&r, ctx, FN, dir), GRAFT_E_IO);
    snprintf(want, sizeof want, FN "(): cannot read '%s': ", dir);
    ck_assert_msg(strncmp(graft_errmsg(ctx), want, strlen(want)) == 0, "%s", graft_errmsg(ctx));
    graftFileClose(&r);
    /* Unreadable (unless running as root, who reads anything). */
    tu_write_file(path_of("secret"), "x", 1);
    ck_assert_int_eq(chmod(path_of("secret"), 0), 0);
    if (geteuid() != 0) {
        ck_assert_int_eq(graftFileOpen(&r, ctx, FN, path_of("secret")), GRAFT_E_IO);
        snprintf(want, sizeof want, FN "(): cannot open '%s': Permission denied",
                 path_of("secret"));
        ck_assert_str_eq(graft_errmsg(ctx), want);
        graftFileClose(&r);
    }
    graft_ctx_free(ctx);
}
END_TEST

/* Failing each allocation of opening and reading a gzip file in turn:
 * GRAFT_E_NOMEM every time, nothing leaked, until it succeeds. A plain file
 * needs no allocation at all. */
START_TEST(test_reader_allocation_failures)
{
    unsigned char *data = sample_data(5000);
    tu_write_gzip(path_of("a.gz"), "wb", data, 5000);
    tu_write_file(path_of("a"), data, 5000);
    tu_alloc_counter c = {0, 0, 0, 0};
    graft_ctx *ctx = tu_counting_ctx(&c);
    long before = c.allocs;
    size_t got;
    int is_gzip;
    free(read_chunks(ctx, path_of("a"), 999, &got, &is_gzip));
    ck_assert_int_eq(c.allocs, before);
    graft_ctx_free(ctx);

    int nomem = 0, done = 0;
    for (long k = 1; k < 50 && !done; k++) {
        c = (tu_alloc_counter){0, 0, 0, 0};
        ctx = tu_counting_ctx(&c);
        c.fail_at = c.allocs + k;
        graftFileReader r;
        unsigned char buf[6000];
        int st = graftFileOpen(&r, ctx, FN, path_of("a.gz"));
        if (st == GRAFT_OK) {
            st = graftFileRead(&r, buf, sizeof buf, &got);
            graftFileClose(&r);
        }
        if (c.fail_at == 0) { /* the failure happened */
            ck_assert_msg(st == GRAFT_E_NOMEM, "allocation %ld failing: %d %s", k, st,
                          graft_errmsg(ctx));
            ck_assert_ptr_nonnull(strstr(graft_errmsg(ctx), FN "(): "));
            nomem++;
        } else {
            ck_assert_int_eq(st, GRAFT_OK);
            ck_assert_uint_eq(got, 5000);
            ck_assert(memcmp(buf, data, 5000) == 0);
            done = 1;
        }
        graft_ctx_free(ctx);
        ck_assert_int_eq(c.allocs, c.frees);
    }
    ck_assert(done);
    ck_assert_int_ge(nomem, 2);
    free(data);
}
END_TEST

Suite *suite_file_reader(void)
{
    Suite *s = suite_create("file_reader");
    TCase *tc = tcase_create("reading");
    tcase_set_timeout(tc, 60);
    tcase_add_checked_fixture(tc, dir_setup, dir_teardown);
    tcase_add_test(tc, test_reader_plain_and_gzip_in_every_chunk_size);
    tcase_add_test(tc, test_reader_gzip_members_concatenated);
    tcase_add_test(tc, test_reader_detects_gzip_by_content);
    suite_add_tcase(s, tc);
    tc = tcase_create("errors");
    tcase_set_timeout(tc, 60);
    tcase_add_checked_fixture(tc, dir_setup, dir_teardown);
    tcase_add_test(tc, test_reader_truncated_and_damaged_gzip);
    tcase_add_test(tc, test_reader_open_errors);
    tcase_add_test(tc, test_reader_allocation_failures);
    suite_add_tcase(s, tc);
    return s;
}
