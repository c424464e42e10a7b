/*
 * image_png.c - PNG decoding with libpng.
 *
 * libpng reports errors by calling an error function that must not return;
 * ours copies the message into the job and longjmps back into png_run(),
 * the only function here that calls setjmp. Everything png_run() changes
 * after its setjmp lives in the job struct (memory, not automatic
 * variables), so nothing depends on local values after the jump, and no
 * jump leaves this file. Warnings are recorded, never printed.
 *
 * Transforms asked of libpng: palette to RGB, 1/2/4-bit grey expanded to 8
 * bits (v * 255 / (2^depth - 1), exact), interlace handling. The rows then
 * hold 1 to 4 samples per pixel of 8 or 16 bits; alpha, when libpng keeps
 * it, is skipped here.
 */
#include "image_decode.h"

#include <png.h>
#include <setjmp.h>
#include <stdio.h>
#include <string.h>

typedef struct pngJob {
    const graftDecodeJob *in;
    size_t pos;          /* read position in in->data */
    png_structp png;
    png_infop info;
    graft_image *image;  /* the result, allocated inside png_run() */
    unsigned char *rows; /* raw rows (interlaced images) or one row */
    png_bytep *row_ptrs; /* interlaced images only */
    int status;          /* the error code when png_run() fails */
    int oom;             /* an allocation through png_malloc_fn failed */
    int own_msg;         /* msg is graft's whole reason, not libpng's */
    char msg[256];       /* libpng's or graft's reason */
    char warning[256];   /* the last warning, kept for debugging, never printed */
} pngJob;

static void png_error_fn(png_structp png, png_const_charp text)
{
    pngJob *job = png_get_error_ptr(png);
    snprintf(job->msg, sizeof job->msg, "%s", text ? text : "unknown libpng error");
    png_longjmp(png, 1);
}

static void png_warning_fn(png_structp png, png_const_charp text)
{
    pngJob *job = png_get_error_ptr(png);
    snprintf(job->warning, sizeof job->warning, "%s", text ? text : "");
}

static png_voidp png_malloc_fn(png_structp png, png_alloc_size_t size)
{
    pngJob *job = png_get_mem_ptr(png);
    void *p = graftAlloc(job->in->ctx, size);
    if (!p) job->oom = 1;
    return p;
}

static void png_free_fn(png_structp png, png_voidp ptr)
{
    pngJob *job = png_get_mem_ptr(png);
    graftFree(job->in->ctx, ptr);
}

static void png_read_fn(png_structp png, png_bytep out, png_size_t length)
{
    pngJob *job = png_get_io_ptr(png);
    if (length > job->in->size - job->pos)
        png_error(png, "the data ends early (truncated file)");
    memcpy(out, job->in->data + job->pos, length);
    job->pos += length;
}

/* Converts one decoded row (samples of depth bits, cs per pixel, alpha last
 * when cs is 2 or 4) into row y of the image's planes. */
static void convert_row(graft_image *im, const unsigned char *row, int cs, int depth, int y)
{
    int w = im->width, colour = cs >= 3;
    size_t plane = (size_t)w * (size_t)im->height;
    float *out = im->data + (size_t)y * w;
    for (int x = 0; x < w; x++) {
        for (int c = 0; c < (colour ? 3 : 1); c++) {
            float v;
            if (depth == 16) {
                const unsigned char *p = row + ((size_t)x * cs + c) * 2;
                v = (float)((p[0] << 8) | p[1]) / 65535.0f;
            } else {
                v = graftImageU8(row[(size_t)x * cs + c]);
            }
            out[c * plane + x] = v;
        }
    }
}

/* Everything that can make libpng jump. Returns 0, or -1 with job->status
 * and job->msg set. */
static int png_run(pngJob *job)
{
    if (setjmp(png_jmpbuf(job->png))) {
        if (job->status == GRAFT_OK) job->status = job->oom ? GRAFT_E_NOMEM : GRAFT_E_FORMAT;
        return -1;
    }
    png_set_read_fn(job->png, job, png_read_fn);
    {
        /* Let libpng accept any side up to the pixel limit; the product is
           checked below. */
        int64_t side = job->in->max_pixels < 0x7fffffff ? job->in->max_pixels : 0x7fffffff;
        png_set_user_limits(job->png, (png_uint_32)side, (png_uint_32)side);
    }
    png_read_info(job->png, job->info);
    png_uint_32 width = png_get_image_width(job->png, job->info);
    png_uint_32 height = png_get_image_height(job->png, job->info);
    int colour_type = png_get_color_type(job->png, job->info);
    int depth = png_get_bit_depth(job->png, job->info);
    if ((int64_t)width * (int64_t)height > job->in->max_pixels) {
        job->status = GRAFT_E_FORMAT;
        job->own_msg = 1;
        snprintf(job->msg, sizeof job->msg, "PNG of %lux%lu pixels is more than the limit of %lld",
                 (unsigned long)width, (unsigned long)height, (long long)job->in->max_pixels);
        return -1;
    }
    if (colour_type == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(job->png);
    if (colour_type == PNG_COLOR_TYPE_GRAY && depth < 8) png_set_expand_gray_1_2_4_to_8(job->png);
    int passes = png_set_interlace_handling(job->png);
    png_read_update_info(job->png, job->info);
    int cs = png_get_channels(job->png, job->info);
    int out_depth = png_get_bit_depth(job->png, job->info);
    size_t rowbytes = png_get_rowbytes(job->png, job->info);
    if (cs < 1 || cs > 4 || (out_depth != 8 && out_depth != 16) ||
        rowbytes < (size_t)width * cs * (out_depth / 8)) {
        job->status = GRAFT_E_INTERNAL;
        job->own_msg = 1;
        snprintf(job->msg, sizeof job->msg,
                 "unexpected row format after libpng's transforms (%d samples of %d bits)", cs,
                 out_depth);
        return -1;
    }
    job->status = graftImageNew(job->in->ctx, job->in->func, (int)width, (int)height,
                                cs >= 3 ? 3 : 1, &job->image);
    if (job->status != GRAFT_OK) return -1; /* message recorded */
    size_t nrows = passes > 1 ? (size_t)height : 1;
    job->rows = graftCalloc(job->in->ctx, nrows, rowbytes);
    if (passes > 1) job->row_ptrs = graftCalloc(job->in->ctx, height, sizeof(png_bytep));
    if (!job->rows || (passes > 1 && !job->row_ptrs)) {
        job->status = GRAFT_E_NOMEM;
        job->own_msg = 1;
        snprintf(job->msg, sizeof job->msg, "cannot allocate %zu rows of %zu bytes", nrows,
                 rowbytes);
        return -1;
    }
    if (passes > 1) {
        for (png_uint_32 y = 0; y < height; y++) job->row_ptrs[y] = job->rows + y * rowbytes;
        png_read_image(job->png, job->row_ptrs);
        for (png_uint_32 y = 0; y < height; y++)
            convert_row(job->image, job->row_ptrs[y], cs, out_depth, (int)y);
    } else {
        for (png_uint_32 y = 0; y < height; y++) {
            png_read_row(job->png, job->rows, NULL);
            convert_row(job->image, job->rows, cs, out_depth, (int)y);
        }
    }
    /* Read through IEND so that a truncated or damaged tail is noticed. */
    png_read_end(job->png, NULL);
    return 0;
}

int graftImageDecodePng(const graftDecodeJob *in, graft_image **out)
{
    pngJob job;
    memset(&job, 0, sizeof job);
    job.in = in;
    *out = NULL;
    job.png = png_create_read_struct_2(PNG_LIBPNG_VER_STRING, &job, png_error_fn, png_warning_fn,
                                       &job, png_malloc_fn, png_free_fn);
    if (job.png) job.info = png_create_info_struct(job.png);
    if (!job.png || !job.info) {
        png_destroy_read_struct(job.png ? &job.png : NULL, NULL, NULL);
        return graftError(in->ctx, GRAFT_E_NOMEM, in->func, "%s: cannot set up libpng",
                          in->source);
    }
    int failed = png_run(&job);
    png_destroy_read_struct(&job.png, &job.info, NULL);
    graftFree(in->ctx, job.rows);
    graftFree(in->ctx, job.row_ptrs);
    if (failed) {
        int status = job.status;
        graft_image_free(job.image);
        if (job.msg[0] == '\0') return status; /* already recorded (image allocation) */
        if (job.own_msg)
            return graftError(in->ctx, status, in->func, "%s: %s", in->source, job.msg);
        if (status == GRAFT_E_NOMEM)
            return graftError(in->ctx, status, in->func, "%s: out of memory decoding PNG: %s",
                              in->source, job.msg);
        return graftError(in->ctx, status, in->func, "%s: corrupt PNG: %s", in->source, job.msg);
    }
    *out = job.image;
    return GRAFT_OK;
}
