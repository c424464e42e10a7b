/*
 * fuzz_image.c - fuzz target "image": PNG and JPEG through graft's decoders
 * (graft_image_load_buffer()), then the transforms on what they return.
 *
 * Each input is decoded as it is and, for a PNG, once more with every
 * chunk's CRC recomputed, so that mutated headers and palettes get past
 * libpng's checksum test and reach graft's conversions. It is decoded with
 * at most 2^20 pixels (so a small file that
 * announces a huge image is refused as GRAFT_E_FORMAT instead of exhausting
 * the machine), once keeping the file's channels and once converted to
 * grey. A failure must be GRAFT_E_FORMAT, GRAFT_E_UNSUPPORTED or
 * GRAFT_E_NOMEM with a message naming graft_image_load_buffer() and *out
 * NULL; an input graft_image_format() does not recognise must fail. An image
 * that decodes must have sane dimensions and finite pixels in [0, 1], and
 * survive conversion, resizing, cropping, flipping and export to a tensor.
 * Nothing may stay allocated.
 */
#include "fuzz.h"

#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

/* A copy of a PNG with every chunk's CRC recomputed where the chunk
 * framing holds, or NULL when the input is not a PNG or nothing changed. */
static uint8_t *repair_png(const uint8_t *data, size_t size)
{
    static const uint8_t sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};
    if (size < 8 + 12 || memcmp(data, sig, 8) != 0) return NULL;
    uint8_t *copy = malloc(size);
    if (!copy) fuzz_fail("out of memory");
    memcpy(copy, data, size);
    int changed = 0;
    for (size_t pos = 8; size - pos >= 12;) {
        size_t len = (size_t)copy[pos] << 24 | (size_t)copy[pos + 1] << 16 |
                     (size_t)copy[pos + 2] << 8 | copy[pos + 3];
        if (len > size - pos - 12) break;
        uint32_t crc = (uint32_t)crc32(0L, copy + pos + 4, (uInt)(4 + len));
        uint8_t be[4] = {(uint8_t)(crc >> 24), (uint8_t)(crc >> 16), (uint8_t)(crc >> 8),
                         (uint8_t)crc};
        if (memcmp(copy + pos + 8 + len, be, 4) != 0) {
            memcpy(copy + pos + 8 + len, be, 4);
            changed = 1;
        }
        pos += 12 + len;
    }
    if (!changed) {
        free(copy);
        return NULL;
    }
    return copy;
}

static void exercise(graft_ctx *ctx, graft_image *im)
{
    int w = graft_image_width(im), h = graft_image_height(im), c = graft_image_channels(im);
    if (w < 1 || h < 1 || (int64_t)w * h > ((int64_t)1 << 20) || (c != 1 && c != 3))
        fuzz_fail("a decoded image is %d x %d x %d", w, h, c);
    const float *p = graft_image_data_const(im);
    for (size_t i = 0; i < (size_t)w * h * c; i++)
        if (!(p[i] >= 0.0f && p[i] <= 1.0f)) fuzz_fail("pixel %zu is %g, outside [0, 1]", i, p[i]);
    graft_tensor *t = NULL;
    int st = graft_image_to_tensor(im, 0, &t);
    if (st != GRAFT_OK && st != GRAFT_E_NOMEM)
        fuzz_fail("graft_image_to_tensor returned %d: %s", st, graft_errmsg(ctx));
    graft_tensor_free(t);
    static const int ok_or_nomem[] = {GRAFT_E_NOMEM};
    st = graft_image_convert(im, c == 1 ? 3 : 1);
    if (st != GRAFT_OK) fuzz_check_failure(ctx, st, "graft_image_convert", ok_or_nomem, 1);
    st = graft_image_flip_horizontal(im);
    if (st != GRAFT_OK) fuzz_check_failure(ctx, st, "graft_image_flip_horizontal", ok_or_nomem, 1);
    st = graft_image_crop(im, 0, 0, (w + 1) / 2, (h + 1) / 2);
    if (st != GRAFT_OK) fuzz_check_failure(ctx, st, "graft_image_crop", ok_or_nomem, 1);
    st = graft_image_resize(im, 7, 5);
    if (st != GRAFT_OK) fuzz_check_failure(ctx, st, "graft_image_resize", ok_or_nomem, 1);
    if (st == GRAFT_OK && (graft_image_width(im) != 7 || graft_image_height(im) != 5))
        fuzz_fail("resized to 7 x 5, got %d x %d", graft_image_width(im), graft_image_height(im));
}

static void decode(const uint8_t *data, size_t size)
{
    static const int codes[] = {GRAFT_E_FORMAT, GRAFT_E_UNSUPPORTED, GRAFT_E_NOMEM};
    int format = graft_image_format(data, size);
    for (int channels = 0; channels <= 1; channels++) {
        graft_ctx *ctx = fuzz_ctx();
        graft_image_load_opts opts = GRAFT_IMAGE_LOAD_OPTS_INIT;
        opts.channels = channels;
        opts.max_pixels = (int64_t)1 << 20;
        graft_image *im = (graft_image *)&opts; /* must be overwritten */
        int st = graft_image_load_buffer(ctx, data, size, &opts, &im);
        if (st != GRAFT_OK) {
            if (im) fuzz_fail("a failed graft_image_load_buffer left *out set");
            fuzz_check_failure(ctx, st, "graft_image_load_buffer", codes, 3);
        } else {
            if (format == GRAFT_IMAGE_FORMAT_UNKNOWN)
                fuzz_fail("an input graft_image_format() does not recognise decoded");
            if (channels == 1 && graft_image_channels(im) != 1)
                fuzz_fail("channels 1 asked, %d given", graft_image_channels(im));
            exercise(ctx, im);
            graft_image_free(im);
        }
        fuzz_ctx_free(ctx);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    decode(data, size);
    uint8_t *repaired = repair_png(data, size);
    if (repaired) {
        decode(repaired, size);
        free(repaired);
    }
    return 0;
}
