/*
 * file_reader.c - a sequential reader for files that are plain or
 * gzip-compressed (told by their first two bytes), for the datasets read
 * from files (dataset_idx.c, dataset_csv.c).
 *
 * gzip goes through zlib (Debian zlib1g-dev). It adds no dependency in
 * practice: libpng, which graft's image decoding links, itself depends on
 * zlib. Its allocation hooks are routed to the context's allocator.
 *
 * Only regular files are read: a FIFO, pipe or device (/dev/zero) is
 * refused when it is opened, and opening never waits for a FIFO's writer
 * (graftOpenForReading). What a reader may read is bounded by its caller:
 * dataset_idx.c by the sizes the IDX header declares, checked against the
 * file's size; dataset_csv.c by its ceiling (CSV_MAX_BYTES).
 */
#include "file_reader.h"

#include <errno.h>
#include <limits.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#define READER_CHUNK 65536

static voidpf zalloc_hook(voidpf opaque, uInt items, uInt size)
{
    if (size != 0 && items > SIZE_MAX / size) return Z_NULL;
    return graftAlloc(opaque, (size_t)items * size);
}

static void zfree_hook(voidpf opaque, voidpf ptr) { graftFree(opaque, ptr); }

/* Reads raw bytes from disk, first those kept from the gzip detection. */
static int raw_read(graftFileReader *r, unsigned char *buf, size_t n, size_t *got)
{
    size_t k = 0;
    while (k < n && r->peek_pos < r->peek_len) buf[k++] = r->peek[r->peek_pos++];
    if (k < n && !r->file_eof) {
        size_t m = fread(buf + k, 1, n - k, r->file);
        if (m < n - k) {
            if (ferror(r->file))
                return graftError(r->ctx, GRAFT_E_IO, r->func, "cannot read '%s': %s", r->path,
                                  strerror(errno ? errno : EIO));
            r->file_eof = 1;
        }
        k += m;
    }
    *got = k;
    return GRAFT_OK;
}

int graftFileOpen(graftFileReader *r, graft_ctx *ctx, const char *func, const char *path)
{
    memset(r, 0, sizeof *r);
    r->ctx = ctx;
    r->func = func;
    r->path = path;
    /* Opened without waiting for a FIFO's writer; only regular files are
       read (their size bounds what is read, and gzip's expansion). */
    int fd;
    struct stat st;
    graftFileFailure fail;
    int how = graftOpenForReading(path, &fd, &st, &fail);
    if (how == GRAFT_FILE_OPEN)
        return graftError(ctx, GRAFT_E_IO, func, "cannot open '%s': %s", path,
                          strerror(fail.sys_errno ? fail.sys_errno : ENOENT));
    if (how != GRAFT_FILE_OK || !S_ISREG(st.st_mode)) {
        if (how == GRAFT_FILE_OK) close(fd);
        return graftError(ctx, GRAFT_E_IO, func, "cannot read '%s': %s", path,
                          how != GRAFT_FILE_OK ? strerror(fail.sys_errno) : "not a regular file");
    }
    r->file = fdopen(fd, "rb");
    if (!r->file) {
        int err = errno;
        close(fd);
        return graftError(ctx, err == ENOMEM ? GRAFT_E_NOMEM : GRAFT_E_IO, func,
                          "cannot read '%s': %s", path, strerror(err));
    }
    r->file_size = (uint64_t)st.st_size;
    int st_ = raw_read(r, r->peek, 2, &r->peek_len);
    if (st_ != GRAFT_OK) {
        graftFileClose(r);
        return st_;
    }
    r->peek_pos = 0;
    if (r->peek_len == 2 && r->peek[0] == 0x1f && r->peek[1] == 0x8b) {
        z_stream *zs = graftCalloc(ctx, 1, sizeof *zs);
        r->in = graftAlloc(ctx, READER_CHUNK);
        if (!zs || !r->in) {
            graftFree(ctx, zs);
            graftFileClose(r);
            return graftError(ctx, GRAFT_E_NOMEM, func, "cannot allocate a gzip reader");
        }
        zs->zalloc = zalloc_hook;
        zs->zfree = zfree_hook;
        zs->opaque = ctx;
        /* 15 + 16: a 32 KiB window, gzip wrapper only. */
        if (inflateInit2(zs, 15 + 16) != Z_OK) {
            graftFree(ctx, zs);
            graftFileClose(r);
            return graftError(ctx, GRAFT_E_NOMEM, func, "cannot start a gzip reader");
        }
        r->zs = zs;
        r->gzip = 1;
    }
    return GRAFT_OK;
}

/* Decompresses up to n bytes. A gzip file may hold several members one
 * after the other (as gzip and zcat allow); anything else after a member is
 * refused as damage. */
static int gzip_read(graftFileReader *r, unsigned char *buf, size_t n, size_t *got)
{
    z_stream *zs = r->zs;
    size_t done = 0;
    while (done < n) {
        if (r->stream_end) {
            /* Another member, or the end of the file. */
            if (zs->avail_in == 0 && !r->file_eof) {
                size_t m;
                GRAFT_FORWARD_IF_ERROR(raw_read(r, r->in, READER_CHUNK, &m));
                zs->next_in = r->in;
                zs->avail_in = (uInt)m;
            }
            if (zs->avail_in == 0) break;
            inflateReset(zs);
            r->stream_end = 0;
        }
        if (zs->avail_in == 0 && !r->file_eof) {
            size_t m;
            GRAFT_FORWARD_IF_ERROR(raw_read(r, r->in, READER_CHUNK, &m));
            zs->next_in = r->in;
            zs->avail_in = (uInt)m;
        }
        size_t want = n - done;
        if (want > UINT_MAX) want = UINT_MAX;
        zs->next_out = buf + done;
        zs->avail_out = (uInt)want;
        int z = inflate(zs, Z_NO_FLUSH);
        done += want - zs->avail_out;
        if (z == Z_STREAM_END) {
            r->stream_end = 1;
            continue;
        }
        if (z == Z_BUF_ERROR && zs->avail_in == 0 && r->file_eof)
            return graftError(r->ctx, GRAFT_E_FORMAT, r->func,
                              "'%s': the gzip data is truncated", r->path);
        if (z != Z_OK && z != Z_BUF_ERROR)
            return graftError(r->ctx, z == Z_MEM_ERROR ? GRAFT_E_NOMEM : GRAFT_E_FORMAT,
                              r->func, "'%s': the gzip data is damaged (%s)", r->path,
                              zs->msg ? zs->msg : "zlib error");
    }
    *got = done;
    return GRAFT_OK;
}

int graftFileRead(graftFileReader *r, void *buf, size_t n, size_t *got)
{
    *got = 0;
    if (n == 0) return GRAFT_OK;
    if (r->gzip) return gzip_read(r, buf, n, got);
    return raw_read(r, buf, n, got);
}

void graftFileClose(graftFileReader *r)
{
    if (r->zs) {
        inflateEnd(r->zs);
        graftFree(r->ctx, r->zs);
        r->zs = NULL;
    }
    graftFree(r->ctx, r->in);
    r->in = NULL;
    if (r->file) fclose(r->file);
    r->file = NULL;
}
