/*
 * fuzz_idx.c - fuzz target "idx": graft_dataset_from_idx() on any pair of
 * files, plain or gzipped.
 *
 * Input: a little-endian u32 n, then the images file (the next n bytes, or
 * all that remain when fewer), then the labels file (the rest). Both are
 * written to temporary files. A failure must be GRAFT_E_FORMAT,
 * GRAFT_E_UNSUPPORTED, GRAFT_E_RANGE or GRAFT_E_NOMEM with a message naming
 * graft_dataset_from_idx() and *out NULL. A dataset that loads must hold
 * samples of the announced size whose labels are below its class count,
 * and split. Nothing may stay allocated.
 */
#include "fuzz.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void write_file(const char *path, const uint8_t *data, size_t size)
{
    FILE *f = fopen(path, "wb");
    if (!f || (size && fwrite(data, 1, size, f) != size) || fclose(f) != 0)
        fuzz_fail("cannot write %s", path);
}

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const int codes[] = {GRAFT_E_FORMAT, GRAFT_E_UNSUPPORTED, GRAFT_E_RANGE,
                                GRAFT_E_NOMEM};
    static char images[600], labels[600];
    if (!images[0]) {
        snprintf(images, sizeof images, "%s/images-idx3-ubyte", fuzz_tmp_dir());
        snprintf(labels, sizeof labels, "%s/labels-idx1-ubyte", fuzz_tmp_dir());
    }
    if (size < 4) return 0;
    size_t n = (size_t)data[0] | (size_t)data[1] << 8 | (size_t)data[2] << 16 |
               (size_t)data[3] << 24;
    if (n > size - 4) n = size - 4;
    write_file(images, data + 4, n);
    write_file(labels, data + 4 + n, size - 4 - n);

    graft_ctx *ctx = fuzz_ctx();
    graft_dataset *ds = (graft_dataset *)&n; /* must be overwritten */
    int st = graft_dataset_from_idx(ctx, images, labels, 1.0f / 255, 0, &ds);
    if (st != GRAFT_OK) {
        if (ds) fuzz_fail("a failed graft_dataset_from_idx left *out set");
        fuzz_check_failure(ctx, st, "graft_dataset_from_idx", codes, 4);
    } else {
        /* A plain file that loaded starts with its header: rows and columns
         * at bytes 8 and 12 (a gzipped one is not read back here). */
        size_t sample = 1 << 20;
        if (n >= 16 && data[4] == 0 && data[5] == 0) sample = (size_t)be32(data + 12) * be32(data + 16);
        float *features = malloc(sample * sizeof *features + 1);
        if (!features) fuzz_fail("out of memory");
        int64_t count = graft_dataset_size(ds);
        int classes = graft_dataset_class_count(ds);
        if (count < 1 || classes < 1) fuzz_fail("%lld samples of %d classes", (long long)count, classes);
        for (int64_t i = 0; i < count && i < 64; i++) {
            int32_t label = -1;
            st = graft_dataset_get(ds, i, n >= 16 && data[4] == 0 ? features : NULL, &label);
            if (st != GRAFT_OK || label < 0 || label >= classes)
                fuzz_fail("sample %lld: status %d, label %d of %d classes", (long long)i, st,
                          (int)label, classes);
        }
        free(features);
        graft_dataset *a = NULL, *b = NULL;
        if (count >= 2) {
            st = graft_dataset_split(ds, 0.5, 1, &a, &b);
            if (st != GRAFT_OK && st != GRAFT_E_NOMEM) fuzz_fail("split returned %d", st);
        }
        graft_dataset_free(a);
        graft_dataset_free(b);
        graft_dataset_free(ds);
    }
    fuzz_ctx_free(ctx);
    unlink(images);
    unlink(labels);
    return 0;
}
