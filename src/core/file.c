/*
 * file.c - whole files: reading one into memory, for the loaders that parse
 * a file from a buffer (model files, ONNX files, images), and replacing one
 * atomically, for the saves (model files, checkpoints, ONNX export).
 */
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

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

void graftErrnoText(int e, char *buf, size_t size)
{
    if (strerror_r(e, buf, size) != 0) snprintf(buf, size, "error %d", e);
}

/* ---- atomic file replacement ------------------------------------------------- */

/* The process's file-creation mask, read without changing it (umask() would
 * change it for every thread for a moment). Returns 0 when unknown. */
static int read_umask(mode_t *mask)
{
    FILE *f = fopen("/proc/self/status", "r");
    if (!f) return 0;
    char line[256];
    int found = 0;
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, "Umask:", 6) != 0) continue;
        char *end;
        unsigned long v = strtoul(line + 6, &end, 8);
        if (end != line + 6 && v <= 0777) {
            *mask = (mode_t)v;
            found = 1;
        }
        break;
    }
    fclose(f);
    return found;
}

/* Gives the temporary file the permissions the final file should have: those
 * of the file it replaces, or 0666 less the umask for a new file (mkstemp
 * creates it 0600; it stays so when the umask cannot be read). */
static void set_file_mode(int fd, const char *path)
{
    struct stat st;
    mode_t mask;
    if (stat(path, &st) == 0 && S_ISREG(st.st_mode))
        (void)fchmod(fd, st.st_mode & 07777);
    else if (read_umask(&mask))
        (void)fchmod(fd, (mode_t)(0666 & ~mask));
}

/* Writes all n bytes, retrying short writes and interruptions. */
static int write_all(int fd, const unsigned char *p, size_t n)
{
    while (n > 0) {
        size_t chunk = n > ((size_t)1 << 30) ? (size_t)1 << 30 : n;
        ssize_t done = write(fd, p, chunk);
        if (done < 0) {
            if (errno == EINTR) continue;
            return -1;
        }
        if (done == 0) {
            errno = ENOSPC;
            return -1;
        }
        p += done;
        n -= (size_t)done;
    }
    return 0;
}

/* The folder holding path ("." for a bare name), as a new string. */
static char *folder_of(graft_ctx *ctx, const char *path)
{
    const char *slash = strrchr(path, '/');
    if (!slash) return graftStrdup(ctx, ".");
    size_t n = slash == path ? 1 : (size_t)(slash - path);
    char *dir = graftAlloc(ctx, n + 1);
    if (dir) {
        memcpy(dir, path, n);
        dir[n] = '\0';
    }
    return dir;
}

/* Flushes the folder dir holding path, so the rename itself is durable. */
static int sync_folder(graft_ctx *ctx, const char *func, const char *path, const char *dir)
{
    int st = GRAFT_OK;
    int fd = open(dir, O_RDONLY | O_DIRECTORY);
    /* Some file systems cannot sync folders (EINVAL); the file itself is synced. */
    if (fd < 0 || (fsync(fd) != 0 && errno != EINVAL)) {
        char why[128];
        graftErrnoText(errno, why, sizeof why);
        st = graftError(ctx, GRAFT_E_IO, func,
                        "\"%s\" was written, but its folder \"%s\" could not be flushed: %s",
                        path, dir, why);
    }
    if (fd >= 0) close(fd);
    return st;
}

/* Replaces path by the size bytes at data, atomically: temporary file in the
 * same folder, written, synced, closed, renamed over path, folder synced. On
 * failure before the rename the temporary file is removed and path is left
 * as it was. */
int graftWriteFileAtomic(graft_ctx *ctx, const char *func, const char *path,
                         const unsigned char *data, size_t size)
{
    /* mkstemp() takes a name whose last six characters are X and replaces
     * them with ones that make the file new: path.tmp.<6 unique chars> */
    static const char mkstemp_suffix[] = ".tmp.XXXXXX";
    size_t plen = strlen(path);
    char *tmp = plen < SIZE_MAX - sizeof mkstemp_suffix
                    ? graftAlloc(ctx, plen + sizeof mkstemp_suffix)
                    : NULL;
    char *dir = folder_of(ctx, path);
    if (!tmp || !dir) {
        graftFree(ctx, tmp);
        graftFree(ctx, dir);
        return graftError(ctx, GRAFT_E_NOMEM, func, "cannot allocate file names");
    }
    memcpy(tmp, path, plen);
    memcpy(tmp + plen, mkstemp_suffix, sizeof mkstemp_suffix);

    char why[128];
    const char *step;
    int st;
    int fd = mkstemp(tmp);
    if (fd < 0) {
        graftErrnoText(errno, why, sizeof why);
        st = graftError(ctx, GRAFT_E_IO, func, "cannot create a temporary file for \"%s\": %s",
                        path, why);
        goto done;
    }
    set_file_mode(fd, path);
    if (write_all(fd, data, size) != 0) {
        step = "write";
        goto fail_open;
    }
    if (fsync(fd) != 0) {
        step = "flush";
        goto fail_open;
    }
    if (close(fd) != 0) {
        fd = -1;
        step = "close";
        goto fail_open;
    }
    fd = -1;
    if (rename(tmp, path) != 0) {
        graftErrnoText(errno, why, sizeof why);
        unlink(tmp);
        st = graftError(ctx, GRAFT_E_IO, func, "cannot replace \"%s\": %s", path, why);
        goto done;
    }
    st = sync_folder(ctx, func, path, dir);
    goto done;

fail_open:
    graftErrnoText(errno, why, sizeof why);
    if (fd >= 0) close(fd);
    unlink(tmp);
    st = graftError(ctx, GRAFT_E_IO, func, "cannot %s \"%s\" (through a temporary file): %s",
                    step, path, why);
done:
    graftFree(ctx, tmp);
    graftFree(ctx, dir);
    return st;
}
