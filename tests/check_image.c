/*
 * check_image.c - loading images (src/data/image.c): reading the file,
 * detecting the format by its signature, handing the bytes to the PNG or
 * JPEG decoder, the messages that name the file, and the load options.
 * The decoders' own tests are check_image_png.c and check_image_jpeg.c, the
 * handle's check_image_handle.c, the transforms' check_image_transform.c;
 * the helpers they share (fixtures, the independent PNM decoders, output
 * capture, truncation and allocation-failure sweeps) are defined here.
 *
 * tests/make_image_fixtures.py writes every fixture in tests/data/images.
 */
#include "testutil.h"

#include "graft.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define IMAGES GRAFT_TEST_DATA "/images/"

/* ---- helpers shared by the image suites (declared in testutil.h) ------------ */

unsigned char *tu_image_fixture(const char *name, size_t *size)
{
    char path[512];
    snprintf(path, sizeof path, IMAGES "%s", name);
    return tu_read_file(path, size);
}

graft_image *tu_image_load_fixture(graft_ctx *ctx, const char *name, int channels)
{
    char path[512];
    snprintf(path, sizeof path, IMAGES "%s", name);
    graft_image_load_opts o = GRAFT_IMAGE_LOAD_OPTS_INIT;
    o.channels = channels;
    graft_image *im = NULL;
    int st = graft_image_load(ctx, path, &o, &im);
    ck_assert_msg(st == GRAFT_OK, "loading %s: %d %s", path, st, graft_errmsg(ctx));
    ck_assert_ptr_nonnull(im);
    return im;
}

static int pnm_int(FILE *f)
{
    int c = fgetc(f);
    while (c == ' ' || c == '\n' || c == '\r' || c == '\t' || c == '#') {
        if (c == '#')
            while (c != '\n' && c != EOF) c = fgetc(f);
        c = fgetc(f);
    }
    int v = 0, digits = 0;
    while (c >= '0' && c <= '9') {
        v = v * 10 + (c - '0');
        digits++;
        c = fgetc(f);
    }
    ck_assert_msg(digits > 0, "bad PNM header");
    return v; /* the one whitespace after the number was consumed */
}

tu_pnm tu_pnm_tool_path(const char *tool, const char *path)
{
    char cmd[768];
    snprintf(cmd, sizeof cmd, "command -v %s >/dev/null 2>&1", tool);
    ck_assert_msg(system(cmd) == 0,
                  "%s is not installed: the image tests need the Debian packages netpbm "
                  "and libjpeg-turbo-progs",
                  tool);
    snprintf(cmd, sizeof cmd, "%s%s '%s' 2>/dev/null", tool,
             strcmp(tool, "djpeg") == 0 ? " -pnm" : "", path);
    FILE *f = popen(cmd, "r");
    ck_assert_ptr_nonnull(f);
    tu_pnm p = {0, 0, 0, 0, NULL};
    ck_assert_int_eq(fgetc(f), 'P');
    int kind = fgetc(f);
    ck_assert_msg(kind == '4' || kind == '5' || kind == '6', "%s: PNM type P%c", cmd, kind);
    p.width = pnm_int(f);
    p.height = pnm_int(f);
    p.maxval = kind == '4' ? 1 : pnm_int(f);
    p.channels = kind == '6' ? 3 : 1;
    size_t n = (size_t)p.width * p.height * p.channels;
    p.v = calloc(n, sizeof *p.v);
    if (kind == '4') {
        for (int y = 0; y < p.height; y++) {
            int byte = 0;
            for (int x = 0; x < p.width; x++) {
                if (x % 8 == 0) byte = fgetc(f);
                ck_assert_int_ne(byte, EOF);
                /* PBM: 1 is black. */
                p.v[(size_t)y * p.width + x] = ((byte >> (7 - x % 8)) & 1) ? 0 : 1;
            }
        }
    } else {
        for (size_t i = 0; i < n; i++) {
            int hi = fgetc(f);
            ck_assert_int_ne(hi, EOF);
            if (p.maxval > 255) {
                int lo = fgetc(f);
                ck_assert_int_ne(lo, EOF);
                p.v[i] = (unsigned)(hi << 8 | lo);
            } else {
                p.v[i] = (unsigned)hi;
            }
        }
    }
    ck_assert_int_eq(pclose(f), 0);
    return p;
}

tu_pnm tu_pnm_tool(const char *tool, const char *name)
{
    char path[512];
    snprintf(path, sizeof path, IMAGES "%s", name);
    return tu_pnm_tool_path(tool, path);
}

static float pnm_value(const tu_pnm *p, int c, int y, int x)
{
    return (float)p->v[((size_t)y * p->width + x) * p->channels + c] / (float)p->maxval;
}

void tu_compare_with_pnm(const graft_image *im, const tu_pnm *p, float tol, const char *what)
{
    ck_assert_int_eq(graft_image_width(im), p->width);
    ck_assert_int_eq(graft_image_height(im), p->height);
    int ch = graft_image_channels(im), w = p->width, h = p->height;
    const float *d = graft_image_data_const(im);
    for (int c = 0; c < ch; c++)
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++) {
                float want;
                if (ch == p->channels)
                    want = pnm_value(p, c, y, x);
                else if (ch == 3)
                    want = pnm_value(p, 0, y, x);
                else
                    want = 0.299f * pnm_value(p, 0, y, x) + 0.587f * pnm_value(p, 1, y, x) +
                           0.114f * pnm_value(p, 2, y, x);
                float got = d[((size_t)c * h + y) * w + x];
                ck_assert_msg(fabsf(got - want) <= tol,
                              "%s: channel %d, row %d, column %d: got %.9g, the reference "
                              "gives %.9g",
                              what, c, y, x, (double)got, (double)want);
            }
}

tu_quiet tu_quiet_begin(void)
{
    tu_quiet q;
    fflush(stdout);
    fflush(stderr);
    q.file = tmpfile();
    ck_assert_ptr_nonnull(q.file);
    q.saved_out = dup(1);
    q.saved_err = dup(2);
    dup2(fileno(q.file), 1);
    dup2(fileno(q.file), 2);
    return q;
}

void tu_quiet_end(tu_quiet q)
{
    fflush(stdout);
    fflush(stderr);
    dup2(q.saved_out, 1);
    dup2(q.saved_err, 2);
    close(q.saved_out);
    close(q.saved_err);
    fseek(q.file, 0, SEEK_END);
    long size = ftell(q.file);
    char head[200] = "";
    rewind(q.file);
    size_t n = fread(head, 1, sizeof head - 1, q.file);
    head[n] = '\0';
    fclose(q.file);
    ck_assert_msg(size == 0, "the library printed %ld bytes: \"%s\"", size, head);
}

void tu_image_check_every_truncation(const char *name)
{
    graft_ctx *ctx = tu_ctx();
    size_t size;
    unsigned char *bytes = tu_image_fixture(name, &size);
    const char *prefix = "graft_image_load_buffer(): <memory>: ";
    tu_quiet q = tu_quiet_begin();
    for (size_t len = 0; len < size; len++) {
        graft_image *im = (graft_image *)1;
        int st = graft_image_load_buffer(ctx, bytes, len, NULL, &im);
        if (st != GRAFT_E_FORMAT || im != NULL ||
            strncmp(graft_errmsg(ctx), prefix, strlen(prefix)) != 0) {
            tu_quiet_end(q);
            ck_abort_msg("%s cut to %zu of %zu bytes: status %d, message \"%s\"", name, len, size,
                         st, graft_errmsg(ctx));
        }
    }
    tu_quiet_end(q);
    /* The whole file still decodes. */
    graft_image *im = NULL;
    ck_assert_int_eq(graft_image_load_buffer(ctx, bytes, size, NULL, &im), GRAFT_OK);
    graft_image_free(im);
    free(bytes);
    graft_ctx_free(ctx);
}

void tu_image_check_oom(const char *name)
{
    size_t size;
    unsigned char *bytes = tu_image_fixture(name, &size);
    int nomem = 0, ok = 0;
    for (long n = 0; n < 200 && !ok; n++) {
        tu_alloc_counter cnt = {0, 0, 0, 0};
        graft_ctx *ctx = tu_counting_ctx(&cnt);
        cnt.fail_at = cnt.allocs + n + 1; /* the (n + 1)-th allocation of the decode */
        graft_image *im = NULL;
        int st = graft_image_load_buffer(ctx, bytes, size, NULL, &im);
        if (st == GRAFT_OK) {
            ok = 1;
            graft_image_free(im);
        } else {
            ck_assert_msg(st == GRAFT_E_NOMEM, "%s, allocation %ld failing: %d %s", name, n, st,
                          graft_errmsg(ctx));
            ck_assert_ptr_null(im);
            nomem++;
        }
        ck_assert_int_eq(cnt.allocs - cnt.frees, 1);
        graft_ctx_free(ctx);
    }
    ck_assert_int_eq(ok, 1);
    ck_assert_int_ge(nomem, 2);
    free(bytes);
}

/* ---- loading ------------------------------------------------------------------ */

START_TEST(test_format_detection)
{
    const unsigned char png[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    const unsigned char jpg[3] = {0xff, 0xd8, 0xff};
    ck_assert_int_eq(graft_image_format(png, 8), GRAFT_IMAGE_FORMAT_PNG);
    ck_assert_int_eq(graft_image_format(png, 7), GRAFT_IMAGE_FORMAT_UNKNOWN);
    ck_assert_int_eq(graft_image_format(jpg, 3), GRAFT_IMAGE_FORMAT_JPEG);
    ck_assert_int_eq(graft_image_format(jpg, 2), GRAFT_IMAGE_FORMAT_UNKNOWN);
    ck_assert_int_eq(graft_image_format("GIF89a", 6), GRAFT_IMAGE_FORMAT_UNKNOWN);
    ck_assert_int_eq(graft_image_format(NULL, 8), GRAFT_IMAGE_FORMAT_UNKNOWN);
    /* The name does not matter: a JPEG called .png decodes as a JPEG. */
    graft_ctx *ctx = tu_ctx();
    char dir[64], path[600];
    tu_make_dir(dir, sizeof dir, "img");
    snprintf(path, sizeof path, "%s/photo.png", dir);
    size_t size;
    unsigned char *bytes = tu_image_fixture("small.jpg", &size);
    tu_write_file(path, bytes, size);
    graft_image *im = NULL;
    ck_assert_int_eq(graft_image_load(ctx, path, NULL, &im), GRAFT_OK);
    ck_assert_int_eq(graft_image_width(im), 16);
    graft_image_free(im);
    tu_rm_tree(dir);
    free(bytes);
    graft_ctx_free(ctx);
}
END_TEST

START_TEST(test_truncation_messages)
{
    graft_ctx *ctx = tu_ctx();
    size_t size;
    unsigned char *png = tu_image_fixture("rgb8.png", &size);
    graft_image *im = NULL;
    /* Exact texts: the signature cut, libpng's reason, libjpeg's reason. */
    ck_assert_int_eq(graft_image_load_buffer(ctx, png, 5, NULL, &im), GRAFT_E_FORMAT);
    ck_assert_str_eq(graft_errmsg(ctx), "graft_image_load_buffer(): <memory>: truncated PNG "
                                        "(5 bytes, the signature alone is 8)");
    ck_assert_int_eq(graft_image_load_buffer(ctx, png, 60, NULL, &im), GRAFT_E_FORMAT);
    ck_assert_str_eq(graft_errmsg(ctx), "graft_image_load_buffer(): <memory>: corrupt PNG: the "
                                        "data ends early (truncated file)");
    /* The last byte (of IEND's CRC) missing is noticed too. */
    ck_assert_int_eq(graft_image_load_buffer(ctx, png, size - 1, NULL, &im), GRAFT_E_FORMAT);
    ck_assert_str_eq(graft_errmsg(ctx), "graft_image_load_buffer(): <memory>: corrupt PNG: the "
                                        "data ends early (truncated file)");
    free(png);
    unsigned char *jpg = tu_image_fixture("small.jpg", &size);
    ck_assert_int_eq(graft_image_load_buffer(ctx, jpg, size - 10, NULL, &im), GRAFT_E_FORMAT);
    ck_assert_str_eq(graft_errmsg(ctx),
                     "graft_image_load_buffer(): <memory>: corrupt JPEG: Premature end of JPEG file");
    ck_assert_int_eq(graft_image_load_buffer(ctx, jpg, 2, NULL, &im), GRAFT_E_FORMAT);
    ck_assert_str_eq(graft_errmsg(ctx),
                     "graft_image_load_buffer(): <memory>: truncated JPEG (2 bytes)");
    /* Through a file, the message names the file. */
    char dir[64], path[600], want[800];
    tu_make_dir(dir, sizeof dir, "img");
    snprintf(path, sizeof path, "%s/cut.jpg", dir);
    tu_write_file(path, jpg, size / 2);
    ck_assert_int_eq(graft_image_load(ctx, path, NULL, &im), GRAFT_E_FORMAT);
    ck_assert_ptr_null(im);
    snprintf(want, sizeof want, "graft_image_load(): %s: corrupt JPEG: Premature end of JPEG file",
             path);
    ck_assert_str_eq(graft_errmsg(ctx), want);
    ck_assert_str_eq(graft_errmsg(NULL), want);
    tu_rm_tree(dir);
    free(jpg);
    graft_ctx_free(ctx);
}
END_TEST

START_TEST(test_empty_random_and_foreign_data)
{
    graft_ctx *ctx = tu_ctx();
    char dir[64], path[600], want[800];
    tu_make_dir(dir, sizeof dir, "img");
    snprintf(path, sizeof path, "%s/empty.png", dir);
    tu_write_file(path, "", 0);
    graft_image *im = (graft_image *)1;
    tu_quiet q = tu_quiet_begin();
    int st = graft_image_load(ctx, path, NULL, &im);
    tu_quiet_end(q);
    ck_assert_int_eq(st, GRAFT_E_FORMAT);
    ck_assert_ptr_null(im);
    snprintf(want, sizeof want, "graft_image_load(): %s: empty (0 bytes)", path);
    ck_assert_str_eq(graft_errmsg(ctx), want);
    tu_rm_tree(dir);

    ck_assert_int_eq(graft_image_load_buffer(ctx, "", 0, NULL, &im), GRAFT_E_FORMAT);
    ck_assert_str_eq(graft_errmsg(ctx), "graft_image_load_buffer(): <memory>: empty (0 bytes)");
    /* Random bytes, then random bytes behind a PNG or JPEG signature. */
    unsigned char junk[4096];
    uint64_t s = 12345;
    for (size_t i = 0; i < sizeof junk; i++) {
        s = s * 6364136223846793005ull + 1442695040888963407ull;
        junk[i] = (unsigned char)(s >> 56);
    }
    junk[0] = 0x42; /* not the first byte of any recognised signature */
    junk[1] = 0x00;
    q = tu_quiet_begin();
    int st_random = graft_image_load_buffer(ctx, junk, sizeof junk, NULL, &im);
    tu_quiet_end(q);
    ck_assert_int_eq(st_random, GRAFT_E_FORMAT);
    ck_assert_str_eq(graft_errmsg(ctx), "graft_image_load_buffer(): <memory>: not a PNG or JPEG "
                                        "image (unrecognised signature)");
    const unsigned char sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    memcpy(junk, sig, 8);
    q = tu_quiet_begin();
    int st_png = graft_image_load_buffer(ctx, junk, sizeof junk, NULL, &im);
    tu_quiet_end(q);
    ck_assert_int_eq(st_png, GRAFT_E_FORMAT);
    ck_assert_ptr_nonnull(strstr(graft_errmsg(ctx), "<memory>: corrupt PNG: "));
    junk[0] = 0xff;
    junk[1] = 0xd8;
    junk[2] = 0xff;
    q = tu_quiet_begin();
    int st_jpg = graft_image_load_buffer(ctx, junk, sizeof junk, NULL, &im);
    tu_quiet_end(q);
    ck_assert_int_eq(st_jpg, GRAFT_E_FORMAT);
    ck_assert_ptr_nonnull(strstr(graft_errmsg(ctx), "<memory>: corrupt JPEG: "));
    /* Formats graft recognises but does not decode. */
    const char gif[] = "GIF89a\x01\x00\x01\x00\x00\x00\x00";
    ck_assert_int_eq(graft_image_load_buffer(ctx, gif, sizeof gif, NULL, &im),
                     GRAFT_E_UNSUPPORTED);
    ck_assert_str_eq(graft_errmsg(ctx), "graft_image_load_buffer(): <memory>: GIF images are not "
                                        "supported (only PNG and JPEG)");
    graft_ctx_free(ctx);
}
END_TEST

START_TEST(test_unreadable_paths)
{
    graft_ctx *ctx = tu_ctx();
    graft_image *im = (graft_image *)1;
    ck_assert_int_eq(graft_image_load(ctx, "/nonexistent/graft/cat.png", NULL, &im), GRAFT_E_IO);
    ck_assert_ptr_null(im);
    ck_assert_str_eq(graft_errmsg(ctx), "graft_image_load(): /nonexistent/graft/cat.png: cannot "
                                        "open: No such file or directory");
    ck_assert_int_eq(graft_image_load(ctx, "/tmp", NULL, &im), GRAFT_E_IO);
    ck_assert_str_eq(graft_errmsg(ctx), "graft_image_load(): /tmp: is a directory");
    graft_ctx_free(ctx);
}
END_TEST

START_TEST(test_load_options)
{
    graft_ctx *ctx = tu_ctx();
    size_t size;
    unsigned char *png = tu_image_fixture("rgb8.png", &size); /* 13 x 7 = 91 pixels */
    graft_image_load_opts o = GRAFT_IMAGE_LOAD_OPTS_INIT;
    graft_image *im = NULL;
    o.max_pixels = 90;
    ck_assert_int_eq(graft_image_load_buffer(ctx, png, size, &o, &im), GRAFT_E_FORMAT);
    ck_assert_str_eq(graft_errmsg(ctx), "graft_image_load_buffer(): <memory>: PNG of 13x7 "
                                        "pixels is more than the limit of 90");
    o.max_pixels = 91;
    ck_assert_int_eq(graft_image_load_buffer(ctx, png, size, &o, &im), GRAFT_OK);
    graft_image_free(im);
    o.max_pixels = GRAFT_IMAGE_MAX_PIXELS + 1;
    ck_assert_int_eq(graft_image_load_buffer(ctx, png, size, &o, &im), GRAFT_E_INVALID_ARG);
    ck_assert_str_eq(graft_errmsg(ctx), "graft_image_load_buffer(): opts->max_pixels is "
                                        "268435457, must be 0 (default) or 1 to 268435456");
    o.max_pixels = 0;
    o.channels = 2;
    ck_assert_int_eq(graft_image_load_buffer(ctx, png, size, &o, &im), GRAFT_E_INVALID_ARG);
    ck_assert_str_eq(graft_errmsg(ctx),
                     "graft_image_load_buffer(): opts->channels is 2, must be 0, 1 or 3");
    o.channels = 0;
    o.struct_size = 4;
    ck_assert_int_eq(graft_image_load_buffer(ctx, png, size, &o, &im), GRAFT_E_VERSION);
    ck_assert_ptr_nonnull(strstr(graft_errmsg(ctx), "opts->struct_size is 4; this graft reads"));
    ck_assert_int_eq(graft_image_load_buffer(NULL, png, size, NULL, &im), GRAFT_E_INVALID_ARG);
    ck_assert_str_eq(graft_errmsg(NULL), "graft_image_load_buffer(): ctx is NULL");
    ck_assert_int_eq(graft_image_load_buffer(ctx, png, size, NULL, NULL), GRAFT_E_INVALID_ARG);
    ck_assert_int_eq(graft_image_load_buffer(ctx, NULL, 10, NULL, &im), GRAFT_E_INVALID_ARG);
    ck_assert_int_eq(graft_image_load(ctx, NULL, NULL, &im), GRAFT_E_INVALID_ARG);
    ck_assert_str_eq(graft_errmsg(ctx), "graft_image_load(): path and out must not be NULL");
    /* The JPEG decoder checks the limit as well: 16 x 8 = 128. */
    unsigned char *jpg = tu_image_fixture("small.jpg", &size);
    o = (graft_image_load_opts)GRAFT_IMAGE_LOAD_OPTS_INIT;
    o.max_pixels = 127;
    ck_assert_int_eq(graft_image_load_buffer(ctx, jpg, size, &o, &im), GRAFT_E_FORMAT);
    ck_assert_str_eq(graft_errmsg(ctx), "graft_image_load_buffer(): <memory>: JPEG of 16x8 "
                                        "pixels is more than the limit of 127");
    free(jpg);
    free(png);
    graft_ctx_free(ctx);
}
END_TEST

Suite *suite_image(void)
{
    Suite *s = suite_create("image");
    TCase *tc = tcase_create("load");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_format_detection);
    tcase_add_test(tc, test_truncation_messages);
    tcase_add_test(tc, test_empty_random_and_foreign_data);
    tcase_add_test(tc, test_unreadable_paths);
    tcase_add_test(tc, test_load_options);
    suite_add_tcase(s, tc);
    return s;
}
