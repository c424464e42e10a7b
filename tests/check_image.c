/*
 * check_image.c - image decoding (PNG, JPEG), export, transforms and seeded
 * augmentation.
 *
 * Decoded pixels are compared with independent decoders: pngtopnm (Debian
 * package netpbm) for PNG, exactly, and djpeg -pnm (libjpeg-turbo-progs)
 * for JPEG, within 1/255. Resizing is compared with PyTorch's
 * F.interpolate results stored in tests/data/images/resize_refs.txt.
 * tests/make_image_fixtures.py writes every fixture in tests/data/images.
 */
#include "testutil.h"

#include "core/crc32.h"
#include "graft.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jpeglib.h>

#ifndef GRAFT_TEST_DATA
#define GRAFT_TEST_DATA "tests/data"
#endif
#define IMAGES GRAFT_TEST_DATA "/images/"

/* ---- helpers ---------------------------------------------------------------- */

static unsigned char *read_all(const char *path, size_t *size)
{
    FILE *f = fopen(path, "rb");
    ck_assert_msg(f != NULL, "cannot open fixture %s: %s (run from the repository root)", path,
                  strerror(errno));
    size_t cap = 1 << 16, n = 0;
    unsigned char *buf = malloc(cap);
    for (;;) {
        n += fread(buf + n, 1, cap - n, f);
        if (n < cap) break;
        cap *= 2;
        buf = realloc(buf, cap);
    }
    fclose(f);
    *size = n;
    return buf;
}

static unsigned char *fixture(const char *name, size_t *size)
{
    char path[512];
    snprintf(path, sizeof path, IMAGES "%s", name);
    return read_all(path, size);
}

static graft_image *load_fixture(graft_ctx *ctx, const char *name, int channels)
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

/* A decoded PNM: samples interleaved, as the file has them. */
typedef struct pnm {
    int width, height, channels, maxval;
    unsigned *v;
} pnm;

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

/* Runs tool on the file at path and parses its binary PNM output (P4, P5
 * or P6). */
static pnm run_pnm_tool_path(const char *tool, const char *path)
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
    pnm p = {0, 0, 0, 0, NULL};
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

/* The same for a fixture in tests/data/images. */
static pnm run_pnm_tool(const char *tool, const char *name)
{
    char path[512];
    snprintf(path, sizeof path, IMAGES "%s", name);
    return run_pnm_tool_path(tool, path);
}

static float pnm_value(const pnm *p, int c, int y, int x)
{
    return (float)p->v[((size_t)y * p->width + x) * p->channels + c] / (float)p->maxval;
}

/* Compares im (CHW) with the reference, sample by sample, within tol (0:
 * bit-exact). want_channels: the image's count; a grey reference is
 * repeated for 3, an RGB one turned into Y for 1. */
static void compare_with_pnm(const graft_image *im, const pnm *p, float tol, const char *what)
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

/* Redirects stdout and stderr into a temporary file, to check that nothing
 * is printed. */
typedef struct quiet {
    int saved_out, saved_err;
    FILE *file;
} quiet;

static quiet quiet_begin(void)
{
    quiet q;
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

static void quiet_end(quiet q)
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

/* An allocator that counts, can fail the nth call, and tracks the largest
 * request. */
typedef struct counting {
    long calls, fail_at; /* fail_at < 0: never */
    size_t largest;
    long live;
} counting;

static void *counting_alloc(void *opaque, size_t size)
{
    counting *c = opaque;
    if (c->calls++ == c->fail_at) return NULL;
    if (size > c->largest) c->largest = size;
    void *p = malloc(size);
    if (p) c->live++;
    return p;
}

static void counting_free(void *opaque, void *ptr)
{
    counting *c = opaque;
    if (ptr) c->live--;
    free(ptr);
}

static graft_ctx *counting_ctx(counting *c)
{
    graft_allocator a = GRAFT_ALLOCATOR_INIT;
    a.alloc = counting_alloc;
    a.free = counting_free;
    a.opaque = c;
    graft_ctx *ctx = NULL;
    ck_assert_int_eq(graft_ctx_create_advanced(&a, &ctx), GRAFT_OK);
    return ctx;
}

static void put_be32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)(v >> 24);
    p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
}

/* An image of w x h x ch with value (c * 1000 + y * 100 + x) / 10000. */
static graft_image *coded_image(graft_ctx *ctx, int w, int h, int ch)
{
    graft_image *im = NULL;
    ck_assert_int_eq(graft_image_create(ctx, w, h, ch, &im), GRAFT_OK);
    float *d = graft_image_data(im);
    for (int c = 0; c < ch; c++)
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++)
                d[((size_t)c * h + y) * w + x] = (float)(c * 1000 + y * 100 + x) / 10000.0f;
    return im;
}

/* ---- PNG against pngtopnm ------------------------------------------------------ */

static const char *const png_fixtures[] = {
    "grey1.png",          "grey2.png",           "grey4.png",
    "grey8.png",          "grey16.png",          "grey8_trns.png",
    "grey_alpha8.png",    "grey_alpha16.png",    "rgb8.png",
    "rgb16.png",          "rgba8.png",           "rgba16.png",
    "palette1.png",       "palette2.png",        "palette4.png",
    "palette8.png",       "palette4_trns.png",   "rgb8_interlaced.png",
    "grey2_interlaced.png", "rgba16_interlaced.png", "palette2_interlaced_trns.png",
};

START_TEST(test_png_matches_pngtopnm)
{
    graft_ctx *ctx = tu_ctx();
    const char *name = png_fixtures[_i];
    pnm ref = run_pnm_tool("pngtopnm", name);
    /* The file's own kind: grey PNGs give 1 channel, the others 3. */
    graft_image *im = load_fixture(ctx, name, 0);
    int grey = strncmp(name, "grey", 4) == 0;
    ck_assert_int_eq(graft_image_channels(im), grey ? 1 : 3);
    ck_assert_int_eq(ref.channels, grey ? 1 : 3);
    compare_with_pnm(im, &ref, 0.0f, name);
    graft_image_free(im);
    /* Converted the other way: grey repeated, colour as BT.601 luma. */
    im = load_fixture(ctx, name, grey ? 3 : 1);
    compare_with_pnm(im, &ref, 0.0f, name);
    graft_image_free(im);
    /* From memory: the same pixels. */
    size_t size;
    unsigned char *bytes = fixture(name, &size);
    graft_image *a = load_fixture(ctx, name, 0), *b = NULL;
    ck_assert_int_eq(graft_image_load_buffer(ctx, bytes, size, NULL, &b), GRAFT_OK);
    ck_assert_int_eq(graft_image_channels(b), graft_image_channels(a));
    size_t n = (size_t)graft_image_channels(a) * graft_image_width(a) * graft_image_height(a);
    ck_assert_int_eq(memcmp(graft_image_data_const(a), graft_image_data_const(b),
                            n * sizeof(float)), 0);
    graft_image_free(a);
    graft_image_free(b);
    free(bytes);
    free(ref.v);
    graft_ctx_free(ctx);
}
END_TEST

/* tiny_rgb.png holds known values (see the generator): row 0 red, green,
 * blue; row 1 black, white, (51, 102, 153). */
START_TEST(test_png_known_values)
{
    graft_ctx *ctx = tu_ctx();
    graft_image *im = load_fixture(ctx, "tiny_rgb.png", 0);
    ck_assert_int_eq(graft_image_width(im), 3);
    ck_assert_int_eq(graft_image_height(im), 2);
    ck_assert_int_eq(graft_image_channels(im), 3);
    const float want[18] = {
        1, 0, 0, 0, 1, 0.2f,    /* R plane */
        0, 1, 0, 0, 1, 0.4f,    /* G plane: 102 / 255 = 0.4 */
        0, 0, 1, 0, 1, 0.6f,    /* B plane: 153 / 255 = 0.6 */
    };
    tu_assert_close(graft_image_data_const(im), want, 18, 1e-7f, 0, "tiny_rgb planes");
    graft_image_free(im);
    /* As grey: Y = 0.299 R + 0.587 G + 0.114 B; for (51, 102, 153):
       0.299*0.2 + 0.587*0.4 + 0.114*0.6 = 0.0598 + 0.2348 + 0.0684 = 0.363 */
    im = load_fixture(ctx, "tiny_rgb.png", 1);
    const float grey[6] = {0.299f, 0.587f, 0.114f, 0, 1, 0.363f};
    tu_assert_close(graft_image_data_const(im), grey, 6, 1e-6f, 0, "tiny_rgb as grey");
    graft_image_free(im);
    /* 16-bit samples keep their precision: v / 65535, not v >> 8. */
    im = load_fixture(ctx, "grey16.png", 0);
    const float *d = graft_image_data_const(im);
    int fine = 0;
    for (int i = 0; i < 13 * 7; i++) {
        float v8 = roundf(d[i] * 255.0f) / 255.0f;
        if (fabsf(d[i] - v8) > 1e-5f) fine++;
    }
    ck_assert_int_gt(fine, 40);
    graft_image_free(im);
    graft_ctx_free(ctx);
}
END_TEST

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
    char dir[] = "/tmp/graft-img-XXXXXX", path[600];
    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/photo.png", dir);
    size_t size;
    unsigned char *bytes = fixture("small.jpg", &size);
    FILE *f = fopen(path, "wb");
    ck_assert_uint_eq(fwrite(bytes, 1, size, f), size);
    fclose(f);
    graft_image *im = NULL;
    ck_assert_int_eq(graft_image_load(ctx, path, NULL, &im), GRAFT_OK);
    ck_assert_int_eq(graft_image_width(im), 16);
    graft_image_free(im);
    remove(path);
    rmdir(dir);
    free(bytes);
    graft_ctx_free(ctx);
}
END_TEST

/* ---- JPEG against djpeg --------------------------------------------------------- */

static const char *const jpeg_fixtures[] = {
    "baseline420.jpg", "baseline444.jpg", "progressive.jpg", "grey.jpg", "cmyk.jpg", "small.jpg",
};

START_TEST(test_jpeg_matches_djpeg)
{
    graft_ctx *ctx = tu_ctx();
    const char *name = jpeg_fixtures[_i];
    pnm ref = run_pnm_tool("djpeg", name);
    int grey = strcmp(name, "grey.jpg") == 0;
    graft_image *im = load_fixture(ctx, name, 0);
    ck_assert_int_eq(graft_image_channels(im), grey ? 1 : 3);
    ck_assert_int_eq(ref.channels, grey ? 1 : 3);
    compare_with_pnm(im, &ref, 1.0f / 255.0f + 1e-6f, name);
    graft_image_free(im);
    im = load_fixture(ctx, name, grey ? 3 : 1);
    compare_with_pnm(im, &ref, 1.0f / 255.0f + 1e-6f, name);
    graft_image_free(im);
    free(ref.v);
    graft_ctx_free(ctx);
}
END_TEST

/* YCCK: a CMYK raster written by libjpeg with the YCCK transform (Adobe
 * marker, transform 2), made here at run time since Pillow cannot write it.
 * graft and djpeg must agree within 1/255. */
START_TEST(test_jpeg_ycck_matches_djpeg)
{
    enum { W = 19, H = 10 };
    unsigned char cmyk[W * H * 4];
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) {
            unsigned char *p = cmyk + (y * W + x) * 4;
            p[0] = (unsigned char)(40 + 10 * x);
            p[1] = (unsigned char)(250 - 20 * y);
            p[2] = (unsigned char)(128 + 6 * (x - y));
            p[3] = (unsigned char)(100 + 7 * x + 5 * y);
        }
    struct jpeg_compress_struct c;
    struct jpeg_error_mgr err;
    unsigned char *jpg = NULL;
    unsigned long size = 0;
    c.err = jpeg_std_error(&err);
    jpeg_create_compress(&c);
    jpeg_mem_dest(&c, &jpg, &size);
    c.image_width = W;
    c.image_height = H;
    c.input_components = 4;
    c.in_color_space = JCS_CMYK;
    jpeg_set_defaults(&c);
    jpeg_set_colorspace(&c, JCS_YCCK);
    jpeg_set_quality(&c, 95, TRUE);
    jpeg_start_compress(&c, TRUE);
    while (c.next_scanline < c.image_height) {
        JSAMPROW row = cmyk + c.next_scanline * W * 4;
        jpeg_write_scanlines(&c, &row, 1);
    }
    jpeg_finish_compress(&c);
    jpeg_destroy_compress(&c);

    char dir[] = "/tmp/graft-img-XXXXXX", path[600];
    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/ycck.jpg", dir);
    FILE *f = fopen(path, "wb");
    ck_assert_uint_eq(fwrite(jpg, 1, size, f), size);
    fclose(f);
    free(jpg);
    pnm ref = run_pnm_tool_path("djpeg", path);
    ck_assert_int_eq(ref.channels, 3);
    graft_ctx *ctx = tu_ctx();
    graft_image *im = NULL;
    ck_assert_int_eq(graft_image_load(ctx, path, NULL, &im), GRAFT_OK);
    ck_assert_int_eq(graft_image_channels(im), 3);
    compare_with_pnm(im, &ref, 1.0f / 255.0f + 1e-6f, "ycck");
    /* And it is not a plain picture: R = C * K / 255 varies. */
    const float *d = graft_image_data_const(im);
    ck_assert(fabsf(d[0] - d[W - 1]) > 0.05f);
    graft_image_free(im);
    free(ref.v);
    remove(path);
    rmdir(dir);
    graft_ctx_free(ctx);
}
END_TEST

/* ---- decoding errors ------------------------------------------------------------ */

/* Decodes every proper prefix of a fixture from memory; each must fail with
 * GRAFT_E_FORMAT naming "<memory>", and nothing may be printed. */
static void check_every_truncation(const char *name)
{
    graft_ctx *ctx = tu_ctx();
    size_t size;
    unsigned char *bytes = fixture(name, &size);
    const char *prefix = "graft_image_load_buffer(): <memory>: ";
    quiet q = quiet_begin();
    for (size_t len = 0; len < size; len++) {
        graft_image *im = (graft_image *)1;
        int st = graft_image_load_buffer(ctx, bytes, len, NULL, &im);
        if (st != GRAFT_E_FORMAT || im != NULL ||
            strncmp(graft_errmsg(ctx), prefix, strlen(prefix)) != 0) {
            quiet_end(q);
            ck_abort_msg("%s cut to %zu of %zu bytes: status %d, message \"%s\"", name, len, size,
                         st, graft_errmsg(ctx));
        }
    }
    quiet_end(q);
    /* The whole file still decodes. */
    graft_image *im = NULL;
    ck_assert_int_eq(graft_image_load_buffer(ctx, bytes, size, NULL, &im), GRAFT_OK);
    graft_image_free(im);
    free(bytes);
    graft_ctx_free(ctx);
}

START_TEST(test_png_every_truncation) { check_every_truncation("rgb8.png"); }
END_TEST

START_TEST(test_png_interlaced_every_truncation)
{
    check_every_truncation("palette2_interlaced_trns.png");
}
END_TEST

START_TEST(test_jpeg_every_truncation) { check_every_truncation("small.jpg"); }
END_TEST

START_TEST(test_progressive_jpeg_every_truncation) { check_every_truncation("progressive.jpg"); }
END_TEST

START_TEST(test_truncation_messages)
{
    graft_ctx *ctx = tu_ctx();
    size_t size;
    unsigned char *png = fixture("rgb8.png", &size);
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
    unsigned char *jpg = fixture("small.jpg", &size);
    ck_assert_int_eq(graft_image_load_buffer(ctx, jpg, size - 10, NULL, &im), GRAFT_E_FORMAT);
    ck_assert_str_eq(graft_errmsg(ctx),
                     "graft_image_load_buffer(): <memory>: corrupt JPEG: Premature end of JPEG file");
    ck_assert_int_eq(graft_image_load_buffer(ctx, jpg, 2, NULL, &im), GRAFT_E_FORMAT);
    ck_assert_str_eq(graft_errmsg(ctx),
                     "graft_image_load_buffer(): <memory>: truncated JPEG (2 bytes)");
    /* Through a file, the message names the file. */
    char dir[] = "/tmp/graft-img-XXXXXX", path[600], want[800];
    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/cut.jpg", dir);
    FILE *f = fopen(path, "wb");
    ck_assert_uint_eq(fwrite(jpg, 1, size / 2, f), size / 2);
    fclose(f);
    ck_assert_int_eq(graft_image_load(ctx, path, NULL, &im), GRAFT_E_FORMAT);
    ck_assert_ptr_null(im);
    snprintf(want, sizeof want, "graft_image_load(): %s: corrupt JPEG: Premature end of JPEG file",
             path);
    ck_assert_str_eq(graft_errmsg(ctx), want);
    ck_assert_str_eq(graft_errmsg(NULL), want);
    remove(path);
    rmdir(dir);
    free(jpg);
    graft_ctx_free(ctx);
}
END_TEST

/* Offsets [start, end) of the chunk of the given type in a PNG. */
static void png_chunk_span(const unsigned char *p, size_t size, const char *type, size_t *start,
                           size_t *end)
{
    size_t pos = 8;
    while (pos + 12 <= size) {
        uint32_t len = (uint32_t)p[pos] << 24 | (uint32_t)p[pos + 1] << 16 |
                       (uint32_t)p[pos + 2] << 8 | p[pos + 3];
        if (memcmp(p + pos + 4, type, 4) == 0) {
            *start = pos;
            *end = pos + 12 + len;
            return;
        }
        pos += 12 + len;
    }
    ck_abort_msg("no %s chunk", type);
}

/* Flips one bit in every byte. PNG: every critical chunk is covered by a
 * CRC (and the pixels by zlib's Adler-32), so each flip outside the tEXt
 * chunk must be refused; a flip in tEXt (ancillary) may be ignored. */
START_TEST(test_png_bit_flips)
{
    graft_ctx *ctx = tu_ctx();
    size_t size, text_start, text_end;
    unsigned char *bytes = fixture("rgb8.png", &size);
    png_chunk_span(bytes, size, "tEXt", &text_start, &text_end);
    int refused = 0;
    quiet q = quiet_begin();
    for (size_t i = 0; i < size; i++) {
        int bit = (int)(i * 5 % 8);
        bytes[i] ^= (unsigned char)(1 << bit);
        graft_image *im = NULL;
        int st = graft_image_load_buffer(ctx, bytes, size, NULL, &im);
        bytes[i] ^= (unsigned char)(1 << bit);
        int in_text = i >= text_start && i < text_end;
        if ((st != GRAFT_E_FORMAT && !(in_text && st == GRAFT_OK)) ||
            (st == GRAFT_E_FORMAT && strstr(graft_errmsg(ctx), "<memory>: ") == NULL)) {
            quiet_end(q);
            ck_abort_msg("bit %d of byte %zu flipped: status %d, \"%s\"", bit, i, st,
                         graft_errmsg(ctx));
        }
        refused += st == GRAFT_E_FORMAT;
        graft_image_free(im);
    }
    quiet_end(q);
    ck_assert_int_ge(refused, (int)(size - (text_end - text_start)));
    free(bytes);
    graft_ctx_free(ctx);
}
END_TEST

/* JPEG has no checksum: a flip may pass unnoticed (other pixels), but it
 * must never crash, leak or print, and the header flips must be refused. */
START_TEST(test_jpeg_bit_flips)
{
    graft_ctx *ctx = tu_ctx();
    size_t size;
    unsigned char *bytes = fixture("small.jpg", &size);
    int refused = 0, passed = 0;
    quiet q = quiet_begin();
    for (size_t i = 0; i < size; i++) {
        int bit = (int)(i * 3 % 8);
        bytes[i] ^= (unsigned char)(1 << bit);
        graft_image *im = NULL;
        int st = graft_image_load_buffer(ctx, bytes, size, NULL, &im);
        bytes[i] ^= (unsigned char)(1 << bit);
        if (st != GRAFT_OK && st != GRAFT_E_FORMAT && st != GRAFT_E_UNSUPPORTED) {
            quiet_end(q);
            ck_abort_msg("bit %d of byte %zu flipped: status %d, \"%s\"", bit, i, st,
                         graft_errmsg(ctx));
        }
        if (st == GRAFT_OK) {
            passed++;
            ck_assert_ptr_nonnull(im);
        } else {
            refused++;
            ck_assert_ptr_null(im);
        }
        graft_image_free(im);
    }
    quiet_end(q);
    /* The first bytes (SOI, APP0 marker) cannot be changed unnoticed. */
    ck_assert_int_gt(refused, 3);
    ck_assert_int_gt(passed, 0);
    free(bytes);
    graft_ctx_free(ctx);
}
END_TEST

START_TEST(test_empty_random_and_foreign_data)
{
    graft_ctx *ctx = tu_ctx();
    char dir[] = "/tmp/graft-img-XXXXXX", path[600], want[800];
    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/empty.png", dir);
    FILE *f = fopen(path, "wb");
    fclose(f);
    graft_image *im = (graft_image *)1;
    quiet q = quiet_begin();
    int st = graft_image_load(ctx, path, NULL, &im);
    quiet_end(q);
    ck_assert_int_eq(st, GRAFT_E_FORMAT);
    ck_assert_ptr_null(im);
    snprintf(want, sizeof want, "graft_image_load(): %s: empty (0 bytes)", path);
    ck_assert_str_eq(graft_errmsg(ctx), want);
    remove(path);
    rmdir(dir);

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
    q = quiet_begin();
    int st_random = graft_image_load_buffer(ctx, junk, sizeof junk, NULL, &im);
    quiet_end(q);
    ck_assert_int_eq(st_random, GRAFT_E_FORMAT);
    ck_assert_str_eq(graft_errmsg(ctx), "graft_image_load_buffer(): <memory>: not a PNG or JPEG "
                                        "image (unrecognised signature)");
    const unsigned char sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    memcpy(junk, sig, 8);
    q = quiet_begin();
    int st_png = graft_image_load_buffer(ctx, junk, sizeof junk, NULL, &im);
    quiet_end(q);
    ck_assert_int_eq(st_png, GRAFT_E_FORMAT);
    ck_assert_ptr_nonnull(strstr(graft_errmsg(ctx), "<memory>: corrupt PNG: "));
    junk[0] = 0xff;
    junk[1] = 0xd8;
    junk[2] = 0xff;
    q = quiet_begin();
    int st_jpg = graft_image_load_buffer(ctx, junk, sizeof junk, NULL, &im);
    quiet_end(q);
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

/* A PNG header claiming 100000 x 100000 pixels (CRC recomputed) and a JPEG
 * claiming 65000 x 65000 are refused before any large allocation. */
START_TEST(test_hostile_dimensions)
{
    counting cnt = {0, -1, 0, 0};
    graft_ctx *ctx = counting_ctx(&cnt);
    size_t size;
    unsigned char *png = fixture("rgb8.png", &size);
    /* IHDR: length at 8, type at 12, width at 16, height at 20, CRC at 29. */
    ck_assert_int_eq(memcmp(png + 12, "IHDR", 4), 0);
    put_be32(png + 16, 100000);
    put_be32(png + 20, 100000);
    put_be32(png + 29, graftCrc32(0, png + 12, 17));
    graft_image *im = NULL;
    quiet q = quiet_begin();
    int st = graft_image_load_buffer(ctx, png, size, NULL, &im);
    quiet_end(q);
    ck_assert_int_eq(st, GRAFT_E_FORMAT);
    ck_assert_str_eq(graft_errmsg(ctx), "graft_image_load_buffer(): <memory>: PNG of "
                                        "100000x100000 pixels is more than the limit of 268435456");
    ck_assert_uint_lt(cnt.largest, 1u << 20);
    free(png);

    unsigned char *jpg = fixture("small.jpg", &size);
    /* Walk the marker segments to the start of frame. */
    size_t sof = 0, pos = 2;
    while (pos + 4 <= size && jpg[pos] == 0xff) {
        if (jpg[pos + 1] >= 0xc0 && jpg[pos + 1] <= 0xc2) {
            sof = pos;
            break;
        }
        pos += 2 + ((size_t)jpg[pos + 2] << 8 | jpg[pos + 3]);
    }
    ck_assert_uint_gt(sof, 0);
    /* SOF: FF C0, length (2), precision (1), height (2), width (2). */
    jpg[sof + 5] = 0xfd;
    jpg[sof + 6] = 0xe8; /* 65000 */
    jpg[sof + 7] = 0xfd;
    jpg[sof + 8] = 0xe8;
    q = quiet_begin();
    st = graft_image_load_buffer(ctx, jpg, size, NULL, &im);
    quiet_end(q);
    ck_assert_int_eq(st, GRAFT_E_FORMAT);
    ck_assert_str_eq(graft_errmsg(ctx), "graft_image_load_buffer(): <memory>: JPEG of "
                                        "65000x65000 pixels is more than the limit of 268435456");
    ck_assert_uint_lt(cnt.largest, 1u << 20);
    free(jpg);
    ck_assert_int_eq(cnt.live, 1); /* only the context is left */
    graft_ctx_free(ctx);
}
END_TEST

START_TEST(test_load_options)
{
    graft_ctx *ctx = tu_ctx();
    size_t size;
    unsigned char *png = fixture("rgb8.png", &size); /* 13 x 7 = 91 pixels */
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
    ck_assert_ptr_nonnull(strstr(graft_errmsg(ctx), "opts->struct_size is 4, expected"));
    ck_assert_int_eq(graft_image_load_buffer(NULL, png, size, NULL, &im), GRAFT_E_INVALID_ARG);
    ck_assert_str_eq(graft_errmsg(NULL), "graft_image_load_buffer(): ctx is NULL");
    ck_assert_int_eq(graft_image_load_buffer(ctx, png, size, NULL, NULL), GRAFT_E_INVALID_ARG);
    ck_assert_int_eq(graft_image_load_buffer(ctx, NULL, 10, NULL, &im), GRAFT_E_INVALID_ARG);
    ck_assert_int_eq(graft_image_load(ctx, NULL, NULL, &im), GRAFT_E_INVALID_ARG);
    ck_assert_str_eq(graft_errmsg(ctx), "graft_image_load(): path and out must not be NULL");
    /* The JPEG decoder checks the limit as well: 16 x 8 = 128. */
    unsigned char *jpg = fixture("small.jpg", &size);
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

/* Failing each allocation in turn: every failure is a clean GRAFT_E_NOMEM
 * with nothing leaked, until the decode succeeds. */
static void check_oom(const char *name)
{
    size_t size;
    unsigned char *bytes = fixture(name, &size);
    int nomem = 0, ok = 0;
    for (long n = 0; n < 200 && !ok; n++) {
        counting cnt = {0, -1, 0, 0};
        graft_ctx *ctx = counting_ctx(&cnt);
        cnt.fail_at = n;
        cnt.calls = 0;
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
        ck_assert_int_eq(cnt.live, 1);
        graft_ctx_free(ctx);
    }
    ck_assert_int_eq(ok, 1);
    ck_assert_int_ge(nomem, 2);
    free(bytes);
}

START_TEST(test_png_out_of_memory) { check_oom("rgb8_interlaced.png"); }
END_TEST

START_TEST(test_jpeg_out_of_memory) { check_oom("baseline420.jpg"); }
END_TEST

/* ---- export ----------------------------------------------------------------- */

START_TEST(test_export_layouts)
{
    graft_ctx *ctx = tu_ctx();
    graft_image *im = load_fixture(ctx, "tiny_rgb.png", 0);
    float out[18];
    /* CHW, RGB: the planes as stored. */
    ck_assert_int_eq(graft_image_export(im, 0, out, 18), GRAFT_OK);
    ck_assert_int_eq(memcmp(out, graft_image_data_const(im), sizeof out), 0);
    /* HWC, RGB: pixel (x=2, y=1) is (51, 102, 153) / 255 at 15..17. */
    ck_assert_int_eq(graft_image_export(im, GRAFT_IMAGE_HWC, out, 18), GRAFT_OK);
    const float hwc[18] = {1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 1, 1, 0.2f, 0.4f, 0.6f};
    tu_assert_close(out, hwc, 18, 1e-7f, 0, "HWC");
    /* HWC, BGR. */
    ck_assert_int_eq(graft_image_export(im, GRAFT_IMAGE_HWC | GRAFT_IMAGE_BGR, out, 18),
                     GRAFT_OK);
    const float hwc_bgr[18] = {0, 0, 1, 0, 1, 0, 1, 0, 0, 0, 0, 0, 1, 1, 1, 0.6f, 0.4f, 0.2f};
    tu_assert_close(out, hwc_bgr, 18, 1e-7f, 0, "HWC BGR");
    /* CHW, BGR: the B plane first. */
    ck_assert_int_eq(graft_image_export(im, GRAFT_IMAGE_BGR, out, 18), GRAFT_OK);
    const float chw_bgr[18] = {0, 0, 1, 0, 1, 0.6f, 0, 1, 0, 0, 1, 0.4f, 1, 0, 0, 0, 1, 0.2f};
    tu_assert_close(out, chw_bgr, 18, 1e-7f, 0, "CHW BGR");
    /* Import is the inverse of export. */
    graft_image *back = NULL;
    ck_assert_int_eq(graft_image_import(ctx, 3, 2, 3, GRAFT_IMAGE_HWC | GRAFT_IMAGE_BGR, hwc_bgr,
                                        &back),
                     GRAFT_OK);
    ck_assert_int_eq(memcmp(graft_image_data_const(back), graft_image_data_const(im),
                            sizeof out),
                     0);
    graft_image_free(back);
    ck_assert_int_eq(graft_image_export(im, 0, out, 17), GRAFT_E_SHAPE);
    ck_assert_str_eq(graft_errmsg(ctx),
                     "graft_image_export(): count is 17, the image has 3 x 2 x 3 = 18 values");
    ck_assert_int_eq(graft_image_export(im, 4, out, 18), GRAFT_E_INVALID_ARG);
    ck_assert_int_eq(graft_image_export(NULL, 0, out, 18), GRAFT_E_INVALID_ARG);
    ck_assert_int_eq(graft_image_export(im, 0, NULL, 18), GRAFT_E_INVALID_ARG);
    graft_image_free(im);
    graft_ctx_free(ctx);
}
END_TEST

START_TEST(test_tensor_export)
{
    graft_ctx *ctx = tu_ctx();
    graft_image *im = load_fixture(ctx, "tiny_rgb.png", 0);
    graft_tensor *t = NULL;
    ck_assert_int_eq(graft_image_to_tensor(im, 0, &t), GRAFT_OK);
    ck_assert_int_eq(graft_tensor_ndim(t), 3);
    ck_assert_int_eq(graft_tensor_dim(t, 0), 3);
    ck_assert_int_eq(graft_tensor_dim(t, 1), 2);
    ck_assert_int_eq(graft_tensor_dim(t, 2), 3);
    ck_assert_int_eq(memcmp(graft_tensor_data_const(t), graft_image_data_const(im),
                            18 * sizeof(float)),
                     0);
    graft_tensor_free(t);
    ck_assert_int_eq(graft_image_to_tensor(im, GRAFT_IMAGE_BGR, &t), GRAFT_OK);
    ck_assert_float_eq(graft_tensor_data_const(t)[5], 0.6f); /* B of (51, 102, 153) first */
    ck_assert_float_eq(graft_tensor_data_const(t)[17], 0.2f);
    graft_tensor_free(t);
    ck_assert_int_eq(graft_image_to_tensor(im, GRAFT_IMAGE_HWC, &t), GRAFT_E_INVALID_ARG);
    ck_assert_ptr_null(t);

    /* Slot 1 of a (3, 3, 2, 3) batch; the other slots keep their values. */
    graft_tensor *batch = tu_tensor(ctx, 4, 3, 3, 2, 3);
    ck_assert_int_eq(graft_tensor_fill(batch, -7.0f), GRAFT_OK);
    ck_assert_int_eq(graft_image_write_tensor(im, 0, batch, 1), GRAFT_OK);
    const float *b = graft_tensor_data_const(batch);
    for (int i = 0; i < 18; i++) {
        ck_assert_float_eq(b[i], -7.0f);
        ck_assert_float_eq(b[18 + i], graft_image_data_const(im)[i]);
        ck_assert_float_eq(b[36 + i], -7.0f);
    }
    ck_assert_int_eq(graft_image_write_tensor(im, 0, batch, 3), GRAFT_E_RANGE);
    ck_assert_str_eq(graft_errmsg(ctx), "graft_image_write_tensor(): n is 3, the batch has 3 slots");
    ck_assert_int_eq(graft_image_write_tensor(im, 0, batch, -1), GRAFT_E_RANGE);
    graft_tensor *wrong = tu_tensor(ctx, 4, 2, 3, 3, 2);
    ck_assert_int_eq(graft_image_write_tensor(im, 0, wrong, 0), GRAFT_E_SHAPE);
    ck_assert_str_eq(graft_errmsg(ctx),
                     "graft_image_write_tensor(): batch has shape (2, 3, 3, 2), expected (N, 3, "
                     "2, 3) for a 3x2 image of 3 channels");
    ck_assert_int_eq(graft_image_write_tensor(im, GRAFT_IMAGE_HWC, batch, 0), GRAFT_E_INVALID_ARG);
    ck_assert_int_eq(graft_image_write_tensor(im, 0, NULL, 0), GRAFT_E_INVALID_ARG);
    graft_tensor_free(wrong);
    graft_tensor_free(batch);
    graft_image_free(im);
    graft_ctx_free(ctx);
}
END_TEST

START_TEST(test_create_copy_accessors)
{
    graft_ctx *ctx = tu_ctx();
    graft_image *im = NULL, *cp = NULL;
    ck_assert_int_eq(graft_image_create(ctx, 4, 3, 1, &im), GRAFT_OK);
    for (int i = 0; i < 12; i++) ck_assert_float_eq(graft_image_data_const(im)[i], 0.0f);
    graft_image_data(im)[5] = 0.5f;
    ck_assert_int_eq(graft_image_copy(im, &cp), GRAFT_OK);
    ck_assert_float_eq(graft_image_data_const(cp)[5], 0.5f);
    graft_image_data(im)[5] = 0.25f; /* the copy is independent */
    ck_assert_float_eq(graft_image_data_const(cp)[5], 0.5f);
    ck_assert_int_eq(graft_image_convert(cp, 3), GRAFT_OK);
    ck_assert_int_eq(graft_image_channels(cp), 3);
    ck_assert_float_eq(graft_image_data_const(cp)[12 + 5], 0.5f);
    ck_assert_float_eq(graft_image_data_const(cp)[24 + 5], 0.5f);
    ck_assert_int_eq(graft_image_convert(cp, 2), GRAFT_E_INVALID_ARG);
    ck_assert_int_eq(graft_image_width(NULL), 0);
    ck_assert_int_eq(graft_image_height(NULL), 0);
    ck_assert_int_eq(graft_image_channels(NULL), 0);
    ck_assert_ptr_null(graft_image_data(NULL));
    ck_assert_ptr_null(graft_image_data_const(NULL));
    graft_image *bad = (graft_image *)1;
    ck_assert_int_eq(graft_image_create(ctx, 0, 3, 1, &bad), GRAFT_E_RANGE);
    ck_assert_ptr_null(bad);
    ck_assert_str_eq(graft_errmsg(ctx),
                     "graft_image_create(): width and height must be >= 1 (got 0 x 3)");
    ck_assert_int_eq(graft_image_create(ctx, 65536, 65536, 1, &bad), GRAFT_E_RANGE);
    ck_assert_str_eq(graft_errmsg(ctx), "graft_image_create(): 65536 x 65536 pixels is more than "
                                        "GRAFT_IMAGE_MAX_PIXELS (268435456)");
    ck_assert_int_eq(graft_image_create(ctx, 3, 3, 4, &bad), GRAFT_E_INVALID_ARG);
    ck_assert_str_eq(graft_errmsg(ctx), "graft_image_create(): channels is 4, must be 1 or 3");
    ck_assert_int_eq(graft_image_create(NULL, 3, 3, 1, &bad), GRAFT_E_INVALID_ARG);
    graft_image_free(NULL);
    graft_image_free(cp);
    graft_image_free(im);
    graft_ctx_free(ctx);
}
END_TEST

/* ---- resize ----------------------------------------------------------------- */

/* Hand-computed 1-D cases (height 1).
 * Up, [0, 1] to 4 samples: input coordinates (i + 0.5) / 2 - 0.5 =
 * -0.25, 0.25, 0.75, 1.25, clamped to 0, 0.25, 0.75, 1 -> 0, 0.25, 0.75, 1.
 * Down, [0, 1, 2, 3] to 2 samples, s = 2: output 0 has centre 1, weights
 * 1 - |j + 0.5 - 1| / 2 = 0.75, 0.75, 0.25, 0 (sum 1.75):
 * (0*0.75 + 1*0.75 + 2*0.25) / 1.75 = 1.25 / 1.75 = 0.714285714;
 * output 1 (centre 3): weights 0, 0.25, 0.75, 0.75:
 * (0.25 + 1.5 + 2.25) / 1.75 = 4 / 1.75 = 2.285714286.
 * (A box filter would give 0.5 and 2.5.) */
START_TEST(test_resize_hand_computed)
{
    graft_ctx *ctx = tu_ctx();
    const float up_in[2] = {0, 1};
    graft_image *im = NULL;
    ck_assert_int_eq(graft_image_import(ctx, 2, 1, 1, 0, up_in, &im), GRAFT_OK);
    ck_assert_int_eq(graft_image_resize(im, 4, 1), GRAFT_OK);
    const float up_want[4] = {0, 0.25f, 0.75f, 1};
    tu_assert_close(graft_image_data_const(im), up_want, 4, 1e-7f, 0, "upscale");
    graft_image_free(im);

    const float down_in[4] = {0, 1, 2, 3};
    ck_assert_int_eq(graft_image_import(ctx, 4, 1, 1, 0, down_in, &im), GRAFT_OK);
    ck_assert_int_eq(graft_image_resize(im, 2, 1), GRAFT_OK);
    const float down_want[2] = {1.25f / 1.75f, 4.0f / 1.75f};
    tu_assert_close(graft_image_data_const(im), down_want, 2, 1e-6f, 0, "downscale");
    graft_image_free(im);

    /* The same along the height. */
    ck_assert_int_eq(graft_image_import(ctx, 1, 4, 1, 0, down_in, &im), GRAFT_OK);
    ck_assert_int_eq(graft_image_resize(im, 1, 2), GRAFT_OK);
    tu_assert_close(graft_image_data_const(im), down_want, 2, 1e-6f, 0, "downscale height");
    graft_image_free(im);

    /* The same size leaves the pixels bit for bit. */
    im = coded_image(ctx, 5, 4, 3);
    graft_image *orig = NULL;
    ck_assert_int_eq(graft_image_copy(im, &orig), GRAFT_OK);
    ck_assert_int_eq(graft_image_resize(im, 5, 4), GRAFT_OK);
    ck_assert_int_eq(memcmp(graft_image_data_const(im), graft_image_data_const(orig),
                            60 * sizeof(float)),
                     0);
    /* A constant image stays constant whatever the sizes. */
    float *d = graft_image_data(im);
    for (int i = 0; i < 60; i++) d[i] = 0.375f;
    ck_assert_int_eq(graft_image_resize(im, 17, 2), GRAFT_OK);
    for (int i = 0; i < 3 * 17 * 2; i++)
        ck_assert_float_eq_tol(graft_image_data_const(im)[i], 0.375f, 1e-6f);
    ck_assert_int_eq(graft_image_resize(im, 0, 2), GRAFT_E_RANGE);
    ck_assert_str_eq(graft_errmsg(ctx),
                     "graft_image_resize(): width and height must be >= 1 (got 0 x 2)");
    ck_assert_int_eq(graft_image_width(im), 17); /* unchanged by the failure */
    ck_assert_int_eq(graft_image_resize(NULL, 2, 2), GRAFT_E_INVALID_ARG);
    graft_image_free(orig);
    graft_image_free(im);
    graft_ctx_free(ctx);
}
END_TEST

static float *read_floats(char *line, const char *tag, size_t n)
{
    size_t tl = strlen(tag);
    ck_assert_msg(strncmp(line, tag, tl) == 0 && line[tl] == ' ', "expected a \"%s\" line", tag);
    float *v = malloc(n * sizeof *v);
    char *p = line + tl, *end;
    for (size_t i = 0; i < n; i++) {
        v[i] = strtof(p, &end);
        ck_assert_msg(end != p, "%s: value %zu missing", tag, i);
        p = end;
    }
    return v;
}

START_TEST(test_resize_matches_torch)
{
    graft_ctx *ctx = tu_ctx();
    FILE *f = fopen(IMAGES "resize_refs.txt", "r");
    ck_assert_msg(f != NULL, "cannot open " IMAGES "resize_refs.txt: %s", strerror(errno));
    static char line[1 << 16];
    int cases = 0, downs = 0;
    while (fgets(line, sizeof line, f)) {
        if (line[0] == '#') continue;
        char name[64];
        int c, ih, iw, oh, ow, aa;
        ck_assert_int_eq(sscanf(line, "case %63s %d %d %d %d %d %d", name, &c, &ih, &iw, &oh, &ow,
                                &aa),
                         7);
        ck_assert_ptr_nonnull(fgets(line, sizeof line, f));
        float *in = read_floats(line, "in", (size_t)c * ih * iw);
        ck_assert_ptr_nonnull(fgets(line, sizeof line, f));
        float *want = read_floats(line, "out", (size_t)c * oh * ow);
        graft_image *im = NULL;
        ck_assert_int_eq(graft_image_import(ctx, iw, ih, c, 0, in, &im), GRAFT_OK);
        ck_assert_int_eq(graft_image_resize(im, ow, oh), GRAFT_OK);
        tu_assert_close(graft_image_data_const(im), want, (size_t)c * oh * ow, 1e-4f, 0, name);
        graft_image_free(im);
        free(in);
        free(want);
        cases++;
        downs += aa;
    }
    fclose(f);
    ck_assert_int_eq(cases, 8);
    ck_assert_int_eq(downs, 5);
    graft_ctx_free(ctx);
}
END_TEST

START_TEST(test_resize_shorter_side)
{
    graft_ctx *ctx = tu_ctx();
    /* torchvision Resize(size): the longer side is floor(size * long / short). */
    const int cases[][5] = {
        /* w, h, size, want w, want h */
        {40, 20, 10, 20, 10}, {7, 3, 2, 4, 2}, {3, 7, 2, 2, 4},
        {9, 9, 4, 4, 4},      {10, 30, 20, 20, 60}, {500, 375, 256, 341, 256},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        graft_image *im = coded_image(ctx, cases[i][0], cases[i][1], 1);
        ck_assert_int_eq(graft_image_resize_shorter(im, cases[i][2]), GRAFT_OK);
        ck_assert_int_eq(graft_image_width(im), cases[i][3]);
        ck_assert_int_eq(graft_image_height(im), cases[i][4]);
        graft_image_free(im);
    }
    graft_image *im = coded_image(ctx, 4, 4, 1);
    ck_assert_int_eq(graft_image_resize_shorter(im, 0), GRAFT_E_RANGE);
    ck_assert_str_eq(graft_errmsg(ctx), "graft_image_resize_shorter(): size is 0, must be >= 1");
    graft_image_free(im);
    graft_ctx_free(ctx);
}
END_TEST

/* Steady sizes allocate nothing after the first round. */
START_TEST(test_transforms_reuse_workspace)
{
    counting cnt = {0, -1, 0, 0};
    graft_ctx *ctx = counting_ctx(&cnt);
    graft_image *im = coded_image(ctx, 40, 30, 3);
    for (int round = 0; round < 3; round++) {
        long before = cnt.calls;
        ck_assert_int_eq(graft_image_resize(im, 20, 15), GRAFT_OK);
        ck_assert_int_eq(graft_image_resize(im, 40, 30), GRAFT_OK);
        ck_assert_int_eq(graft_image_center_crop(im, 32, 24), GRAFT_OK);
        ck_assert_int_eq(graft_image_resize(im, 40, 30), GRAFT_OK);
        if (round > 0) ck_assert_int_eq(cnt.calls, before);
    }
    graft_image_free(im);
    ck_assert_int_eq(cnt.live, 1);
    graft_ctx_free(ctx);
}
END_TEST

/* ---- crops, flips, normalisation --------------------------------------------------- */

START_TEST(test_crop_and_center_crop)
{
    graft_ctx *ctx = tu_ctx();
    graft_image *im = coded_image(ctx, 6, 5, 3);
    ck_assert_int_eq(graft_image_crop(im, 2, 1, 3, 2), GRAFT_OK);
    ck_assert_int_eq(graft_image_width(im), 3);
    ck_assert_int_eq(graft_image_height(im), 2);
    const float *d = graft_image_data_const(im);
    for (int c = 0; c < 3; c++)
        for (int y = 0; y < 2; y++)
            for (int x = 0; x < 3; x++)
                ck_assert_float_eq(d[(c * 2 + y) * 3 + x],
                                   (float)(c * 1000 + (y + 1) * 100 + (x + 2)) / 10000.0f);
    ck_assert_int_eq(graft_image_crop(im, 1, 0, 3, 2), GRAFT_E_RANGE);
    ck_assert_str_eq(graft_errmsg(ctx),
                     "graft_image_crop(): the rectangle 3x2 at (1, 0) is not inside the 3x2 image");
    ck_assert_int_eq(graft_image_crop(im, 0, 0, 0, 1), GRAFT_E_RANGE);
    ck_assert_int_eq(graft_image_crop(im, -1, 0, 1, 1), GRAFT_E_RANGE);
    graft_image_free(im);

    /* Centre offsets: torchvision rounds (W - w) / 2 half to even:
       excess 1 -> 0, 2 -> 1, 3 -> 2 (1.5), 5 -> 2 (2.5), 7 -> 4 (3.5). */
    const int cases[][3] = {{1, 0, 0}, {2, 1, 0}, {3, 2, 0}, {5, 2, 0}, {7, 4, 0}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int excess = cases[i][0], left = cases[i][1];
        im = coded_image(ctx, 2 + excess, 3 + excess, 1);
        ck_assert_int_eq(graft_image_center_crop(im, 2, 3), GRAFT_OK);
        ck_assert_int_eq(graft_image_width(im), 2);
        ck_assert_int_eq(graft_image_height(im), 3);
        /* top-left pixel of the crop is (left, left) */
        ck_assert_float_eq(graft_image_data_const(im)[0],
                           (float)(left * 100 + left) / 10000.0f);
        graft_image_free(im);
    }
    im = coded_image(ctx, 4, 4, 1);
    ck_assert_int_eq(graft_image_center_crop(im, 5, 4), GRAFT_E_RANGE);
    ck_assert_str_eq(graft_errmsg(ctx),
                     "graft_image_center_crop(): a 5x4 crop does not fit in the 4x4 image");
    graft_image_free(im);
    graft_ctx_free(ctx);
}
END_TEST

START_TEST(test_flip)
{
    graft_ctx *ctx = tu_ctx();
    graft_image *im = coded_image(ctx, 5, 3, 3), *orig = NULL;
    ck_assert_int_eq(graft_image_copy(im, &orig), GRAFT_OK);
    ck_assert_int_eq(graft_image_flip_horizontal(im), GRAFT_OK);
    const float *d = graft_image_data_const(im), *o = graft_image_data_const(orig);
    for (int c = 0; c < 3; c++)
        for (int y = 0; y < 3; y++)
            for (int x = 0; x < 5; x++)
                ck_assert_float_eq(d[(c * 3 + y) * 5 + x], o[(c * 3 + y) * 5 + (4 - x)]);
    ck_assert_int_eq(graft_image_flip_horizontal(im), GRAFT_OK); /* twice: identity */
    ck_assert_int_eq(memcmp(d, o, 45 * sizeof(float)), 0);
    ck_assert_int_eq(graft_image_flip_horizontal(NULL), GRAFT_E_INVALID_ARG);
    graft_image_free(orig);
    graft_image_free(im);
    graft_ctx_free(ctx);
}
END_TEST

START_TEST(test_normalize_and_scale)
{
    graft_ctx *ctx = tu_ctx();
    graft_image *im = NULL;
    const float px[6] = {0.5f, 1.0f, 0.5f, 0.0f, 0.5f, 0.25f}; /* 2x1, CHW */
    ck_assert_int_eq(graft_image_import(ctx, 2, 1, 3, 0, px, &im), GRAFT_OK);
    ck_assert_int_eq(graft_image_normalize_imagenet(im), GRAFT_OK);
    /* (0.5 - 0.485) / 0.229 = 0.0655022, (1 - 0.485) / 0.229 = 2.2489083,
       (0.5 - 0.456) / 0.224 = 0.1964286, (0 - 0.456) / 0.224 = -2.0357143,
       (0.5 - 0.406) / 0.225 = 0.4177778, (0.25 - 0.406) / 0.225 = -0.6933333 */
    const float want[6] = {0.0655022f, 2.2489083f, 0.1964286f, -2.0357143f, 0.4177778f,
                           -0.6933333f};
    tu_assert_close(graft_image_data_const(im), want, 6, 1e-6f, 0, "ImageNet");
    const float mean[3] = GRAFT_IMAGENET_MEAN, std[3] = GRAFT_IMAGENET_STD;
    ck_assert_float_eq(mean[0], 0.485f);
    ck_assert_float_eq(mean[1], 0.456f);
    ck_assert_float_eq(mean[2], 0.406f);
    ck_assert_float_eq(std[0], 0.229f);
    ck_assert_float_eq(std[1], 0.224f);
    ck_assert_float_eq(std[2], 0.225f);
    graft_image_free(im);

    ck_assert_int_eq(graft_image_import(ctx, 2, 1, 3, 0, px, &im), GRAFT_OK);
    ck_assert_int_eq(graft_image_scale(im, 255.0f), GRAFT_OK);
    ck_assert_float_eq(graft_image_data_const(im)[1], 255.0f);
    ck_assert_float_eq(graft_image_data_const(im)[5], 63.75f);
    const float m2[3] = {127.5f, 0.0f, 10.0f}, s2[3] = {127.5f, 2.0f, 0.5f};
    ck_assert_int_eq(graft_image_normalize(im, m2, s2), GRAFT_OK);
    /* (127.5 - 127.5) / 127.5 = 0, (255 - 127.5) / 127.5 = 1, 127.5 / 2, 0 / 2,
       (127.5 - 10) / 0.5 = 235, (63.75 - 10) / 0.5 = 107.5 */
    const float want2[6] = {0, 1, 63.75f, 0, 235, 107.5f};
    tu_assert_close(graft_image_data_const(im), want2, 6, 1e-6f, 0, "custom mean/std");
    const float bad_std[3] = {1, 0, 1};
    ck_assert_int_eq(graft_image_normalize(im, m2, bad_std), GRAFT_E_INVALID_ARG);
    ck_assert_str_eq(graft_errmsg(ctx),
                     "graft_image_normalize(): std[1] is 0, must be finite and > 0");
    ck_assert_float_eq(graft_image_data_const(im)[1], 1.0f); /* unchanged */
    ck_assert_int_eq(graft_image_normalize(im, NULL, s2), GRAFT_E_INVALID_ARG);
    ck_assert_int_eq(graft_image_scale(im, INFINITY), GRAFT_E_INVALID_ARG);
    graft_image_free(im);

    im = coded_image(ctx, 2, 2, 1);
    ck_assert_int_eq(graft_image_normalize_imagenet(im), GRAFT_E_SHAPE);
    ck_assert_str_eq(graft_errmsg(ctx), "graft_image_normalize_imagenet(): the ImageNet "
                                        "statistics need 3 channels (RGB), the image has 1");
    graft_image_free(im);
    graft_ctx_free(ctx);
}
END_TEST

/* ---- augmentation ----------------------------------------------------------------- */

static graft_image *augmented(graft_ctx *ctx, const graft_image *src,
                              const graft_augment_spec *spec)
{
    graft_image *im = NULL;
    ck_assert_int_eq(graft_image_copy(src, &im), GRAFT_OK);
    int st = graft_image_augment(im, spec);
    ck_assert_msg(st == GRAFT_OK, "%s", graft_errmsg(ctx));
    return im;
}

static int same_pixels(const graft_image *a, const graft_image *b)
{
    if (graft_image_width(a) != graft_image_width(b) ||
        graft_image_height(a) != graft_image_height(b) ||
        graft_image_channels(a) != graft_image_channels(b))
        return 0;
    size_t n = (size_t)graft_image_width(a) * graft_image_height(a) * graft_image_channels(a);
    return memcmp(graft_image_data_const(a), graft_image_data_const(b), n * sizeof(float)) == 0;
}

START_TEST(test_augment_reproducible)
{
    graft_ctx *ctx = tu_ctx();
    graft_image *src = load_fixture(ctx, "baseline444.jpg", 0);
    graft_augment_spec spec = GRAFT_AUGMENT_SPEC_INIT;
    spec.crop_width = 16;
    spec.crop_height = 12;
    spec.flip_prob = 0.5f;
    spec.brightness = 0.4f;
    spec.contrast = 0.4f;
    spec.seed = 42;
    graft_image *a = augmented(ctx, src, &spec), *b = augmented(ctx, src, &spec);
    ck_assert_int_eq(graft_image_width(a), 16);
    ck_assert_int_eq(graft_image_height(a), 12);
    ck_assert_msg(same_pixels(a, b), "the same seed gave different images");
    int differ = 0;
    for (uint64_t seed = 43; seed < 48; seed++) {
        spec.seed = seed;
        graft_image *c = augmented(ctx, src, &spec);
        differ += !same_pixels(a, c);
        graft_image_free(c);
    }
    ck_assert_int_eq(differ, 5);
    /* Values stay in [0, 1] after brightness and contrast. */
    const float *d = graft_image_data_const(a);
    for (int i = 0; i < 3 * 16 * 12; i++) ck_assert(d[i] >= 0.0f && d[i] <= 1.0f);
    /* The default spec does nothing. */
    graft_augment_spec none = GRAFT_AUGMENT_SPEC_INIT;
    none.seed = 9;
    graft_image *n = augmented(ctx, src, &none);
    ck_assert(same_pixels(n, src));
    graft_image_free(n);
    graft_image_free(a);
    graft_image_free(b);
    graft_image_free(src);
    graft_ctx_free(ctx);
}
END_TEST

/* With scale 1/4 and ratio 1 on a 40x40 image, the crop is 20x20, resized
 * to 20x20 (an exact copy): the result must be a block of the input at an
 * offset inside [0, 20]^2. Over many seeds several offsets must occur. */
START_TEST(test_augment_crop_bounds)
{
    graft_ctx *ctx = tu_ctx();
    graft_image *src = coded_image(ctx, 40, 40, 1);
    const float *s = graft_image_data_const(src);
    graft_augment_spec spec = GRAFT_AUGMENT_SPEC_INIT;
    spec.crop_width = spec.crop_height = 20;
    spec.scale_min = spec.scale_max = 0.25f;
    spec.ratio_min = spec.ratio_max = 1.0f;
    int seen_x[21] = {0};
    for (uint64_t seed = 0; seed < 60; seed++) {
        spec.seed = seed;
        graft_image *im = augmented(ctx, src, &spec);
        const float *d = graft_image_data_const(im);
        /* The top-left value encodes the offset: (y * 100 + x) / 10000. */
        int code = (int)lroundf(d[0] * 10000.0f), x0 = code % 100, y0 = code / 100;
        ck_assert_int_le(x0, 20);
        ck_assert_int_le(y0, 20);
        for (int y = 0; y < 20; y++)
            for (int x = 0; x < 20; x++)
                ck_assert_float_eq(d[y * 20 + x], s[(y0 + y) * 40 + x0 + x]);
        seen_x[x0] = 1;
        graft_image_free(im);
    }
    int distinct = 0;
    for (int i = 0; i <= 20; i++) distinct += seen_x[i];
    ck_assert_int_ge(distinct, 8);

    /* Scale 1 and the image's own ratio: the whole image. */
    spec.scale_min = spec.scale_max = 1.0f;
    spec.crop_width = spec.crop_height = 40;
    graft_image *whole = augmented(ctx, src, &spec);
    ck_assert(same_pixels(whole, src));
    graft_image_free(whole);

    /* No attempt can fit (ratio 2 at scale 1 needs 14x7 of a 10x10 image's
       area 100: w = round(sqrt(200)) = 14 > 10), so the fallback applies:
       W/H = 1 < 2 gives w = 10, h = round(10 / 2) = 5, y = (10 - 5) / 2 = 2. */
    graft_image *sq = coded_image(ctx, 10, 10, 1);
    spec.ratio_min = spec.ratio_max = 2.0f;
    spec.crop_width = 10;
    spec.crop_height = 5;
    graft_image *fb = augmented(ctx, sq, &spec);
    const float *f = graft_image_data_const(fb), *q = graft_image_data_const(sq);
    for (int y = 0; y < 5; y++)
        for (int x = 0; x < 10; x++) ck_assert_float_eq(f[y * 10 + x], q[(y + 2) * 10 + x]);
    graft_image_free(fb);
    graft_image_free(sq);
    graft_image_free(src);
    graft_ctx_free(ctx);
}
END_TEST

START_TEST(test_augment_flip_and_colour)
{
    graft_ctx *ctx = tu_ctx();
    graft_image *src = load_fixture(ctx, "rgb8.png", 0), *flipped = NULL;
    ck_assert_int_eq(graft_image_copy(src, &flipped), GRAFT_OK);
    ck_assert_int_eq(graft_image_flip_horizontal(flipped), GRAFT_OK);
    graft_augment_spec spec = GRAFT_AUGMENT_SPEC_INIT;
    spec.flip_prob = 1.0f;
    int flips = 0;
    for (uint64_t seed = 0; seed < 10; seed++) {
        spec.seed = seed;
        graft_image *im = augmented(ctx, src, &spec);
        ck_assert(same_pixels(im, flipped)); /* probability 1: always, exactly */
        graft_image_free(im);
    }
    spec.flip_prob = 0.5f;
    for (uint64_t seed = 0; seed < 200; seed++) {
        spec.seed = seed;
        graft_image *im = augmented(ctx, src, &spec);
        if (same_pixels(im, flipped))
            flips++;
        else
            ck_assert(same_pixels(im, src));
        graft_image_free(im);
    }
    ck_assert_int_gt(flips, 70); /* binomial(200, 0.5): 70..130 fails with p < 1e-4 */
    ck_assert_int_lt(flips, 130);

    /* Brightness alone: every unclamped value is scaled by one factor in
       [0.7, 1.3]. */
    spec.flip_prob = 0.0f;
    spec.brightness = 0.3f;
    spec.seed = 5;
    graft_image *br = augmented(ctx, src, &spec);
    const float *d = graft_image_data_const(br), *s = graft_image_data_const(src);
    float factor = -1.0f;
    for (int i = 0; i < 3 * 13 * 7; i++) {
        if (s[i] < 0.05f || d[i] >= 1.0f) continue;
        float r = d[i] / s[i];
        if (factor < 0.0f) factor = r;
        ck_assert_float_eq_tol(r, factor, 1e-4f);
    }
    ck_assert(factor >= 0.7f && factor <= 1.3f);
    ck_assert(fabsf(factor - 1.0f) > 1e-6f);
    graft_image_free(br);
    /* Contrast alone on a constant image changes nothing: m is the value. */
    graft_image *flat = NULL;
    ck_assert_int_eq(graft_image_create(ctx, 4, 4, 3, &flat), GRAFT_OK);
    for (int i = 0; i < 48; i++) graft_image_data(flat)[i] = 0.3f;
    spec.brightness = 0.0f;
    spec.contrast = 0.5f;
    graft_image *ct = augmented(ctx, flat, &spec);
    for (int i = 0; i < 48; i++) ck_assert_float_eq_tol(graft_image_data_const(ct)[i], 0.3f, 1e-6f);
    graft_image_free(ct);
    graft_image_free(flat);
    graft_image_free(flipped);
    graft_image_free(src);
    graft_ctx_free(ctx);
}
END_TEST

START_TEST(test_augment_errors)
{
    graft_ctx *ctx = tu_ctx();
    graft_image *im = coded_image(ctx, 8, 8, 3);
    graft_augment_spec spec = GRAFT_AUGMENT_SPEC_INIT;
    spec.struct_size = 8;
    ck_assert_int_eq(graft_image_augment(im, &spec), GRAFT_E_VERSION);
    ck_assert_ptr_nonnull(strstr(graft_errmsg(ctx), "spec->struct_size is 8, expected"));
    spec = (graft_augment_spec)GRAFT_AUGMENT_SPEC_INIT;
    spec.crop_width = 4;
    ck_assert_int_eq(graft_image_augment(im, &spec), GRAFT_E_INVALID_ARG);
    ck_assert_str_eq(graft_errmsg(ctx), "graft_image_augment(): spec->crop_width and crop_height "
                                        "are 4 and 0: both must be 0 (no crop) or 1 to 65535");
    spec.crop_height = 4;
    spec.scale_min = 0.0f;
    ck_assert_int_eq(graft_image_augment(im, &spec), GRAFT_E_INVALID_ARG);
    ck_assert_str_eq(graft_errmsg(ctx), "graft_image_augment(): spec->scale_min and scale_max "
                                        "are 0 and 1: need 0 < min <= max <= 1");
    spec.scale_min = 0.5f;
    spec.ratio_max = 0.5f;
    ck_assert_int_eq(graft_image_augment(im, &spec), GRAFT_E_INVALID_ARG);
    spec.ratio_max = 2.0f;
    spec.flip_prob = 1.5f;
    ck_assert_int_eq(graft_image_augment(im, &spec), GRAFT_E_INVALID_ARG);
    ck_assert_str_eq(graft_errmsg(ctx),
                     "graft_image_augment(): spec->flip_prob is 1.5, must be in [0, 1]");
    spec.flip_prob = NAN;
    ck_assert_int_eq(graft_image_augment(im, &spec), GRAFT_E_INVALID_ARG);
    spec.flip_prob = 0.0f;
    spec.brightness = -0.1f;
    ck_assert_int_eq(graft_image_augment(im, &spec), GRAFT_E_INVALID_ARG);
    spec.brightness = 0.0f;
    spec.contrast = 2.0f;
    ck_assert_int_eq(graft_image_augment(im, &spec), GRAFT_E_INVALID_ARG);
    ck_assert_int_eq(graft_image_width(im), 8); /* untouched by the failures */
    ck_assert_int_eq(graft_image_augment(NULL, &spec), GRAFT_E_INVALID_ARG);
    ck_assert_int_eq(graft_image_augment(im, NULL), GRAFT_E_INVALID_ARG);
    ck_assert_str_eq(graft_errmsg(ctx), "graft_image_augment(): spec is NULL");
    graft_image_free(im);
    graft_ctx_free(ctx);
}
END_TEST

Suite *suite_image(void)
{
    Suite *s = suite_create("image");
    TCase *tc = tcase_create("png_decode");
    tcase_add_loop_test(tc, test_png_matches_pngtopnm, 0,
                        (int)(sizeof png_fixtures / sizeof png_fixtures[0]));
    tcase_add_test(tc, test_png_known_values);
    tcase_add_test(tc, test_format_detection);
    suite_add_tcase(s, tc);
    tc = tcase_create("jpeg_decode");
    tcase_add_loop_test(tc, test_jpeg_matches_djpeg, 0,
                        (int)(sizeof jpeg_fixtures / sizeof jpeg_fixtures[0]));
    tcase_add_test(tc, test_jpeg_ycck_matches_djpeg);
    suite_add_tcase(s, tc);
    tc = tcase_create("decode_errors");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_png_every_truncation);
    tcase_add_test(tc, test_png_interlaced_every_truncation);
    tcase_add_test(tc, test_jpeg_every_truncation);
    tcase_add_test(tc, test_progressive_jpeg_every_truncation);
    tcase_add_test(tc, test_truncation_messages);
    tcase_add_test(tc, test_png_bit_flips);
    tcase_add_test(tc, test_jpeg_bit_flips);
    tcase_add_test(tc, test_empty_random_and_foreign_data);
    tcase_add_test(tc, test_unreadable_paths);
    tcase_add_test(tc, test_hostile_dimensions);
    tcase_add_test(tc, test_load_options);
    tcase_add_test(tc, test_png_out_of_memory);
    tcase_add_test(tc, test_jpeg_out_of_memory);
    suite_add_tcase(s, tc);
    tc = tcase_create("export");
    tcase_add_test(tc, test_export_layouts);
    tcase_add_test(tc, test_tensor_export);
    tcase_add_test(tc, test_create_copy_accessors);
    suite_add_tcase(s, tc);
    tc = tcase_create("resize");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_resize_hand_computed);
    tcase_add_test(tc, test_resize_matches_torch);
    tcase_add_test(tc, test_resize_shorter_side);
    tcase_add_test(tc, test_transforms_reuse_workspace);
    suite_add_tcase(s, tc);
    tc = tcase_create("crop_flip_normalize");
    tcase_add_test(tc, test_crop_and_center_crop);
    tcase_add_test(tc, test_flip);
    tcase_add_test(tc, test_normalize_and_scale);
    suite_add_tcase(s, tc);
    tc = tcase_create("augment");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_augment_reproducible);
    tcase_add_test(tc, test_augment_crop_bounds);
    tcase_add_test(tc, test_augment_flip_and_colour);
    tcase_add_test(tc, test_augment_errors);
    suite_add_tcase(s, tc);
    return s;
}
