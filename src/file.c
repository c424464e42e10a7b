/*
 * file.c - reading a whole file into memory, for the loaders that parse a
 * file from a buffer (model files, ONNX files, images).
 */
#include "internal.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>

/* The first buffer for a file whose size stat() does not tell (a pipe). */
#define UNSIZED_FIRST_BYTES ((size_t)65536)

static int fail_with(graftFileFailure *fail, int reason, int sys_errno, size_t bytes,
                     long long file_size)
{
    fail->reason = reason;
    fail->sys_errno = sys_errno;
    fail->bytes = bytes;
    fail->file_size = file_size;
    return reason;
}

int graftReadWholeFile(graft_ctx *ctx, const char *path, size_t max_bytes,
                       unsigned char **data, size_t *size, graftFileFailure *fail)
{
    *data = NULL;
    *size = 0;
    fail_with(fail, GRAFT_FILE_OK, 0, 0, -1);
    FILE *f = fopen(path, "rb");
    if (!f) return fail_with(fail, GRAFT_FILE_OPEN, errno, 0, -1);
    struct stat st;
    if (fstat(fileno(f), &st) != 0) {
        int e = errno;
        fclose(f);
        return fail_with(fail, GRAFT_FILE_STAT, e, 0, -1);
    }
    if (S_ISDIR(st.st_mode)) {
        fclose(f);
        return fail_with(fail, GRAFT_FILE_IS_DIR, EISDIR, 0, -1);
    }
    /* A regular file's size sizes the buffer (one byte more to see the end of
     * file in one read); anything else grows as data arrives. */
    size_t cap = UNSIZED_FIRST_BYTES;
    if (S_ISREG(st.st_mode) && st.st_size >= 0) {
        if ((uint64_t)st.st_size > max_bytes || (uint64_t)st.st_size >= SIZE_MAX) {
            fclose(f);
            return fail_with(fail, GRAFT_FILE_TOO_LARGE, 0, 0, (long long)st.st_size);
        }
        cap = (size_t)st.st_size + 1;
    }
    unsigned char *buf = graftAlloc(ctx, cap);
    size_t n = 0;
    int reason = GRAFT_FILE_OK;
    for (;;) {
        if (!buf) {
            reason = fail_with(fail, GRAFT_FILE_NOMEM, 0, cap, -1);
            break;
        }
        n += fread(buf + n, 1, cap - n, f);
        if (ferror(f)) {
            reason = fail_with(fail, GRAFT_FILE_READ, errno, 0, -1);
            break;
        }
        if (n < cap) break; /* end of file */
        /* The buffer is full: more than max_bytes, or more to come. */
        if (cap > max_bytes || cap > SIZE_MAX / 2) {
            reason = fail_with(fail, GRAFT_FILE_TOO_LARGE, 0, 0, -1);
            break;
        }
        size_t grown = cap * 2;
        if (max_bytes < SIZE_MAX && grown > max_bytes + 1) grown = max_bytes + 1;
        unsigned char *bigger = graftAlloc(ctx, grown);
        if (bigger) memcpy(bigger, buf, n);
        graftFree(ctx, buf);
        buf = bigger;
        cap = grown;
    }
    fclose(f);
    if (reason != GRAFT_FILE_OK) {
        graftFree(ctx, buf);
        return reason;
    }
    *data = buf;
    *size = n;
    return GRAFT_FILE_OK;
}
