/*
 * image_png_write.c - PNG encoding with libpng: images, and tensors drawn
 * as pictures (one image, or a grid of a batch).
 *
 * Both go through one picture description: N planar images of C channels
 * and H x W values, laid out in a grid of `columns` cells, each value
 * mapped from [lo, hi] to the 8-bit samples 0..255. The encoder asks for
 * one row of interleaved samples at a time, so the only memory besides
 * libpng's is one row. Values are checked finite before libpng starts.
 *
 * libpng reports errors by calling an error function that must not return;
 * ours copies the message and longjmps back into png_write_run(), the only
 * function here that calls setjmp. Nothing png_write_run() changes after
 * its setjmp lives in an automatic variable, and no jump leaves the file.
 * No time or text chunk is written, so the same picture gives the same
 * bytes.
 */
#include "image.h"

#include "core/finite.h"

#include <math.h>
#include <png.h>
#include <setjmp.h>
#include <stdio.h>
#include <string.h>

/* What is drawn: data holds n images of c planes of h x w floats. */
typedef struct picture {
    const float *data;
    int64_t n, c, h, w;
    int64_t columns, rows; /* the grid, in cells */
    double lo, hi;
} picture;

typedef struct writeJob {
    graft_ctx *ctx;
    const picture *pic;
    graftWriter out;
    unsigned char *row; /* one row of the picture, interleaved samples */
    int oom;            /* an allocation through png_wmalloc failed */
    char msg[256];      /* libpng's reason */
} writeJob;

static unsigned char sample8(double v, double lo, double hi)
{
    double t = (v - lo) / (hi - lo);
    if (!(t > 0.0)) return 0;
    if (t >= 1.0) return 255;
    return (unsigned char)floor(t * 255.0 + 0.5);
}

/* Row y of the picture into job->row. */
static void fill_row(writeJob *job, int64_t y)
{
    const picture *p = job->pic;
    const int64_t gr = y / p->h, yy = y % p->h, width = p->columns * p->w;
    unsigned char *o = job->row;
    for (int64_t x = 0; x < width; x++) {
        const int64_t n = gr * p->columns + x / p->w, xx = x % p->w;
        for (int64_t ch = 0; ch < p->c; ch++) {
            if (n >= p->n) {
                *o++ = 0;
                continue;
            }
            float v = p->data[((n * p->c + ch) * p->h + yy) * p->w + xx];
            *o++ = sample8((double)v, p->lo, p->hi);
        }
    }
}

static void png_werror(png_structp png, png_const_charp text)
{
    writeJob *job = png_get_error_ptr(png);
    snprintf(job->msg, sizeof job->msg, "%s", text ? text : "unknown libpng error");
    png_longjmp(png, 1);
}

static void png_wwarning(png_structp png, png_const_charp text)
{
    (void)png;
    (void)text; /* never printed */
}

static png_voidp png_wmalloc(png_structp png, png_alloc_size_t size)
{
    writeJob *job = png_get_mem_ptr(png);
    void *p = graftAlloc(job->ctx, size);
    if (!p) job->oom = 1;
    return p;
}

static void png_wfree(png_structp png, png_voidp ptr)
{
    writeJob *job = png_get_mem_ptr(png);
    graftFree(job->ctx, ptr);
}

static void png_wwrite(png_structp png, png_bytep data, png_size_t length)
{
    writeJob *job = png_get_io_ptr(png);
    graftWriteBytes(&job->out, data, length);
    if (job->out.status != GRAFT_OK) {
        job->oom = 1;
        png_error(png, "out of memory");
    }
}

static void png_wflush(png_structp png) { (void)png; }

/* Everything that can make libpng jump. Returns 0, or -1 with job->msg. */
static int png_write_run(writeJob *job, png_structp png, png_infop info)
{
    if (setjmp(png_jmpbuf(png))) return -1;
    static const int types[5] = {0, PNG_COLOR_TYPE_GRAY, PNG_COLOR_TYPE_GRAY_ALPHA,
                                 PNG_COLOR_TYPE_RGB, PNG_COLOR_TYPE_RGB_ALPHA};
    const picture *p = job->pic;
    png_set_write_fn(png, job, png_wwrite, png_wflush);
    png_set_user_limits(png, 0x7fffffffu, 0x7fffffffu);
    png_set_IHDR(png, info, (png_uint_32)(p->columns * p->w), (png_uint_32)(p->rows * p->h), 8,
                 types[p->c], PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT,
                 PNG_FILTER_TYPE_DEFAULT);
    png_write_info(png, info);
    for (int64_t y = 0; y < p->rows * p->h; y++) {
        fill_row(job, y);
        png_write_row(png, job->row);
    }
    png_write_end(png, NULL);
    return 0;
}

/* Encodes the picture into *data (graftAlloc'd) and *size. */
static int encode(graft_ctx *ctx, const char *func, const picture *p, void **data, size_t *size)
{
    writeJob job;
    memset(&job, 0, sizeof job);
    job.ctx = ctx;
    job.pic = p;
    graftWriterInit(&job.out, ctx);
    job.row = graftAlloc(ctx, (size_t)(p->columns * p->w * p->c));
    png_structp png = NULL;
    png_infop info = NULL;
    if (job.row)
        png = png_create_write_struct_2(PNG_LIBPNG_VER_STRING, &job, png_werror, png_wwarning,
                                        &job, png_wmalloc, png_wfree);
    if (png) info = png_create_info_struct(png);
    if (!job.row || !png || !info) {
        png_destroy_write_struct(png ? &png : NULL, NULL);
        graftFree(ctx, job.row);
        return graftError(ctx, GRAFT_E_NOMEM, func, "cannot set up libpng to write a PNG");
    }
    int failed = png_write_run(&job, png, info);
    png_destroy_write_struct(&png, &info);
    graftFree(ctx, job.row);
    if (failed) {
        graftWriterDispose(&job.out);
        if (job.oom)
            return graftError(ctx, GRAFT_E_NOMEM, func, "out of memory encoding a PNG: %s",
                              job.msg);
        return graftError(ctx, GRAFT_E_INTERNAL, func, "libpng refused to write: %s", job.msg);
    }
    *data = job.out.data;
    *size = job.out.size;
    return GRAFT_OK;
}

/* ---- images ---------------------------------------------------------------- */

static int image_picture(const graft_image *im, picture *p, const char *func)
{
    size_t numel = graftImageNumel(im);
    size_t bad = graftFirstNonFinite(im->data, numel);
    if (bad < numel) {
        size_t plane = (size_t)im->width * (size_t)im->height;
        return graftError(im->ctx, GRAFT_E_NUMERIC, func,
                          "the value of channel %zu at row %zu, column %zu is %s; a PNG needs "
                          "finite values", bad / plane, bad % plane / (size_t)im->width,
                          bad % (size_t)im->width, graftNonFiniteName(im->data[bad]));
    }
    *p = (picture){im->data, 1, im->channels, im->height, im->width, 1, 1, 0.0, 1.0};
    return GRAFT_OK;
}

GRAFT_API int graft_image_encode_png(const graft_image *image, void **data, size_t *size)
{
    graft_ctx *ctx = image ? image->ctx : NULL;
    graftClearError(ctx);
    if (data) *data = NULL;
    if (size) *size = 0;
    GRAFT_RETURN_IF(!image || !data || !size, ctx, GRAFT_E_INVALID_ARG,
                    "image, data and size must not be NULL");
    picture p;
    GRAFT_FORWARD_IF_ERROR(image_picture(image, &p, __func__));
    return encode(ctx, __func__, &p, data, size);
}

GRAFT_API int graft_image_save_png(const graft_image *image, const char *path)
{
    graft_ctx *ctx = image ? image->ctx : NULL;
    graftClearError(ctx);
    GRAFT_RETURN_IF(!image || !path, ctx, GRAFT_E_INVALID_ARG,
                    "image and path must not be NULL");
    picture p;
    GRAFT_FORWARD_IF_ERROR(image_picture(image, &p, __func__));
    void *data;
    size_t size;
    GRAFT_FORWARD_IF_ERROR(encode(ctx, __func__, &p, &data, &size));
    int st = graftWriteFileAtomic(ctx, __func__, path, data, size);
    graftFree(ctx, data);
    return st;
}

/* ---- tensors ---------------------------------------------------------------- */

static int tensor_picture(const graft_tensor *t, float lo, float hi, int columns, picture *p,
                          const char *func)
{
    graft_ctx *ctx = t->ctx;
    GRAFT_RETURN_IF_AT(!isfinite(lo) || !isfinite(hi) || !(lo < hi), ctx, GRAFT_E_INVALID_ARG,
                       func, "lo %g and hi %g must be finite with lo < hi", (double)lo,
                       (double)hi);
    GRAFT_RETURN_IF_AT(columns < 0, ctx, GRAFT_E_INVALID_ARG, func,
                       "columns is %d, must be >= 0 (0: about a square grid)", columns);
    int64_t n = 1, c = 1, h, w;
    const int r = t->ndim;
    if (r == 2) {
        h = t->dims[0];
        w = t->dims[1];
    } else if (r == 3 || r == 4) {
        n = r == 4 ? t->dims[0] : 1;
        c = t->dims[r - 3];
        h = t->dims[r - 2];
        w = t->dims[r - 1];
    } else {
        c = 0;
        h = w = 0;
    }
    if (c < 1 || c > 4) {
        char s[160];
        graftShapeString(t->ndim, t->dims, s, sizeof s);
        return graftError(ctx, GRAFT_E_SHAPE, func,
                          "the tensor has shape %s; a PNG is drawn from (H, W), (C, H, W) or "
                          "(N, C, H, W) with C 1 to 4", s);
    }
    int64_t cols = r == 4 ? (columns > 0 ? columns : (int64_t)ceil(sqrt((double)n))) : 1;
    if (cols > n) cols = n;
    while (cols * cols < n && columns == 0 && r == 4) cols++; /* sqrt's rounding */
    const int64_t rows = (n + cols - 1) / cols;
    GRAFT_RETURN_IF_AT(cols * w > INT32_MAX || rows * h > INT32_MAX ||
                           (cols * w) * (rows * h) > GRAFT_IMAGE_MAX_PIXELS,
                       ctx, GRAFT_E_RANGE, func,
                       "the picture would be %lld x %lld pixels, more than the %lld a PNG of "
                       "graft's may have", (long long)(cols * w), (long long)(rows * h),
                       (long long)GRAFT_IMAGE_MAX_PIXELS);
    size_t bad = graftFirstNonFinite(t->data, t->numel);
    GRAFT_RETURN_IF_AT(bad < t->numel, ctx, GRAFT_E_NUMERIC, func,
                       "element %zu is %s; a PNG needs finite values", bad,
                       graftNonFiniteName(t->data[bad]));
    *p = (picture){t->data, n, c, h, w, cols, rows, (double)lo, (double)hi};
    return GRAFT_OK;
}

GRAFT_API int graft_tensor_encode_png(const graft_tensor *tensor, float lo, float hi, int columns,
                                      void **data, size_t *size)
{
    graft_ctx *ctx = tensor ? tensor->ctx : NULL;
    graftClearError(ctx);
    if (data) *data = NULL;
    if (size) *size = 0;
    GRAFT_RETURN_IF(!tensor || !data || !size, ctx, GRAFT_E_INVALID_ARG,
                    "tensor, data and size must not be NULL");
    picture p;
    GRAFT_FORWARD_IF_ERROR(tensor_picture(tensor, lo, hi, columns, &p, __func__));
    return encode(ctx, __func__, &p, data, size);
}

GRAFT_API int graft_tensor_save_png(const graft_tensor *tensor, const char *path, float lo,
                                    float hi, int columns)
{
    graft_ctx *ctx = tensor ? tensor->ctx : NULL;
    graftClearError(ctx);
    GRAFT_RETURN_IF(!tensor || !path, ctx, GRAFT_E_INVALID_ARG,
                    "tensor and path must not be NULL");
    picture p;
    GRAFT_FORWARD_IF_ERROR(tensor_picture(tensor, lo, hi, columns, &p, __func__));
    void *data;
    size_t size;
    GRAFT_FORWARD_IF_ERROR(encode(ctx, __func__, &p, &data, &size));
    int st = graftWriteFileAtomic(ctx, __func__, path, data, size);
    graftFree(ctx, data);
    return st;
}
