/*
 * image_jpeg.c - JPEG decoding with libjpeg(-turbo).
 *
 * libjpeg reports a fatal error through error_exit, which must not return;
 * ours formats the message into the job and longjmps back into jpeg_run(),
 * the only function here that calls setjmp. Warnings that mean corrupt data
 * (a truncated file, a bad Huffman code, ...) are made fatal the same way,
 * so that no image with made-up pixels is returned; trace messages are
 * dropped. Nothing is printed. Everything jpeg_run() changes after setjmp
 * lives in the job struct, so no local value is read after a jump, and no
 * jump leaves this file.
 *
 * Output: greyscale stays grey, YCbCr and RGB become RGB, CMYK and YCCK are
 * read as CMYK (libjpeg converts YCCK) and turned into RGB as R = C*K/255,
 * G = M*K/255, B = Y*K/255 (Adobe's inverted CMYK, as djpeg does).
 */
#include "image_decode.h"

#include <setjmp.h>
#include <stdio.h>
#include <string.h>

#include <jpeglib.h>
#include <jerror.h>

/* A progressive JPEG may have many scans, each a pass over the whole
 * image; more than this is refused (a known way to make decoders spin). */
#define MAX_SCANS 500

typedef struct jpegJob {
    const graftDecodeJob *in;
    struct jpeg_decompress_struct cinfo;
    struct jpeg_error_mgr err;
    struct jpeg_progress_mgr progress;
    jmp_buf jump;
    int created;         /* jpeg_create_decompress() succeeded */
    graft_image *image;  /* the result, allocated inside jpeg_run() */
    unsigned char *row;  /* one output row */
    int status;          /* the error code when jpeg_run() fails */
    int own_msg;         /* msg is graft's whole reason, not libjpeg's */
    char msg[JMSG_LENGTH_MAX + 64];
} jpegJob;

static void jpeg_fail(j_common_ptr cinfo)
{
    jpegJob *job = cinfo->client_data;
    char text[JMSG_LENGTH_MAX];
    (*cinfo->err->format_message)(cinfo, text);
    snprintf(job->msg, sizeof job->msg, "%s", text);
    longjmp(job->jump, 1);
}

static void jpeg_error_exit(j_common_ptr cinfo) { jpeg_fail(cinfo); }

/* Level -1 is a warning: the data is damaged. Other levels are traces. */
static void jpeg_emit_message(j_common_ptr cinfo, int msg_level)
{
    if (msg_level >= 0) return;
    int code = cinfo->err->msg_code;
    /* Unknown JFIF revisions and Adobe transform codes are not damage. */
    if (code == JWRN_JFIF_MAJOR || code == JWRN_ADOBE_XFORM) return;
    jpeg_fail(cinfo);
}

static void jpeg_output_message(j_common_ptr cinfo) { (void)cinfo; }

static void jpeg_progress(j_common_ptr cinfo)
{
    j_decompress_ptr d = (j_decompress_ptr)cinfo;
    jpegJob *job = cinfo->client_data;
    if (d->input_scan_number > MAX_SCANS) {
        job->own_msg = 1;
        snprintf(job->msg, sizeof job->msg, "JPEG with more than %d scans (refused)", MAX_SCANS);
        longjmp(job->jump, 1);
    }
}

static void convert_row(jpegJob *job, int y)
{
    graft_image *im = job->image;
    const unsigned char *row = job->row;
    int w = im->width;
    size_t plane = (size_t)w * (size_t)im->height;
    float *out = im->data + (size_t)y * w;
    switch (job->cinfo.out_color_space) {
    case JCS_GRAYSCALE:
        for (int x = 0; x < w; x++) out[x] = graftImageU8(row[x]);
        break;
    case JCS_RGB:
        for (int x = 0; x < w; x++)
            for (int c = 0; c < 3; c++) out[c * plane + x] = graftImageU8(row[3 * x + c]);
        break;
    default: /* JCS_CMYK */
        for (int x = 0; x < w; x++) {
            unsigned k = row[4 * x + 3];
            for (int c = 0; c < 3; c++)
                out[c * plane + x] = (float)(row[4 * x + c] * k) / 65025.0f;
        }
        break;
    }
}

/* Everything that can make libjpeg jump. Returns 0, or -1 with job->status
 * and job->msg set. */
static int jpeg_run(jpegJob *job)
{
    struct jpeg_decompress_struct *cinfo = &job->cinfo;
    if (setjmp(job->jump)) {
        if (job->status == GRAFT_OK) job->status = GRAFT_E_FORMAT;
        return -1;
    }
    jpeg_create_decompress(cinfo);
    job->created = 1;
    cinfo->client_data = job;
    cinfo->progress = &job->progress;
    jpeg_mem_src(cinfo, job->in->data, (unsigned long)job->in->size);
    jpeg_read_header(cinfo, TRUE);
    int64_t pixels = (int64_t)cinfo->image_width * cinfo->image_height;
    if (pixels > job->in->max_pixels) {
        job->status = GRAFT_E_FORMAT;
        job->own_msg = 1;
        snprintf(job->msg, sizeof job->msg, "JPEG of %ux%u pixels is more than the limit of %lld",
                 (unsigned)cinfo->image_width, (unsigned)cinfo->image_height,
                 (long long)job->in->max_pixels);
        return -1;
    }
    switch (cinfo->jpeg_color_space) {
    case JCS_GRAYSCALE: cinfo->out_color_space = JCS_GRAYSCALE; break;
    case JCS_YCbCr:
    case JCS_RGB: cinfo->out_color_space = JCS_RGB; break;
    case JCS_CMYK:
    case JCS_YCCK: cinfo->out_color_space = JCS_CMYK; break;
    default:
        job->status = GRAFT_E_UNSUPPORTED;
        job->own_msg = 1;
        snprintf(job->msg, sizeof job->msg,
                 "JPEG colour space of %d components not supported (only grey, YCbCr, RGB, "
                 "CMYK, YCCK)",
                 cinfo->num_components);
        return -1;
    }
    cinfo->dct_method = JDCT_ISLOW;
    cinfo->do_fancy_upsampling = TRUE;
    jpeg_start_decompress(cinfo);
    job->status = graftImageNew(job->in->ctx, job->in->func, (int)cinfo->output_width,
                                (int)cinfo->output_height,
                                cinfo->out_color_space == JCS_GRAYSCALE ? 1 : 3, &job->image);
    if (job->status != GRAFT_OK) return -1; /* message recorded */
    job->row = graftAlloc(job->in->ctx,
                          (size_t)cinfo->output_width * (size_t)cinfo->output_components);
    if (!job->row) {
        job->status = GRAFT_E_NOMEM;
        job->own_msg = 1;
        snprintf(job->msg, sizeof job->msg, "cannot allocate a row of %u pixels",
                 (unsigned)cinfo->output_width);
        return -1;
    }
    while (cinfo->output_scanline < cinfo->output_height) {
        int y = (int)cinfo->output_scanline;
        JSAMPROW rows[1] = {job->row};
        if (jpeg_read_scanlines(cinfo, rows, 1) != 1) {
            job->status = GRAFT_E_FORMAT;
            job->own_msg = 1;
            snprintf(job->msg, sizeof job->msg, "corrupt JPEG: no data for row %d", y);
            return -1;
        }
        convert_row(job, y);
    }
    jpeg_finish_decompress(cinfo);
    return 0;
}

int graftImageDecodeJpeg(const graftDecodeJob *in, graft_image **out)
{
    jpegJob job;
    memset(&job, 0, sizeof job);
    job.in = in;
    *out = NULL;
    job.cinfo.err = jpeg_std_error(&job.err);
    job.err.error_exit = jpeg_error_exit;
    job.err.emit_message = jpeg_emit_message;
    job.err.output_message = jpeg_output_message;
    job.progress.progress_monitor = jpeg_progress;
    job.cinfo.client_data = &job;
    int failed = jpeg_run(&job);
    if (job.created) jpeg_destroy_decompress(&job.cinfo);
    graftFree(in->ctx, job.row);
    if (failed) {
        int status = job.status;
        graft_image_free(job.image);
        if (job.msg[0] == '\0') return status; /* already recorded (image allocation) */
        if (job.own_msg)
            return graftError(in->ctx, status, in->func, "%s: %s", in->source, job.msg);
        return graftError(in->ctx, status, in->func, "%s: corrupt JPEG: %s", in->source,
                          job.msg);
    }
    *out = job.image;
    return GRAFT_OK;
}
