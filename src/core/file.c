/*
 * file.c - whole files: reading one into memory, for the loaders that parse
 * a file from a buffer (model files, ONNX files, images), and replacing one
 * atomically, for the saves (model files, checkpoints, ONNX export).
 *
 * Bounded reads. Every read takes a limit from its caller, which documents
 * it (model_io.c: 8 GiB, onnx_import.c: 2 GiB, image.c: 1 GiB). A regular
 * file's size, as fstat() gives it when the file is opened, is checked
 * against the limit before anything is allocated and then bounds the read.
 * Anything else (a FIFO, a pipe, a character device such as /dev/zero) has
 * no size: it is read in steps, its buffer doubling as data arrives and
 * never past the limit, and a read that fills the limit tries one more byte
 * to tell "larger than the limit" from "exactly the limit". Files are
 * opened without blocking (graftOpenForReading), so a FIFO with no writer
 * reads as empty rather than waiting for ever. The loaders read their
 * header first through graftReadMore() and then only what it declares.
 *
 * Temporary files. A save writes "<target>.tmp.<pid>.<random>" beside the
 * target (pid: the saving process's, in decimal without leading zeros;
 * random: six letters or digits chosen by mkstemp()) and renames it over the
 * target. A process killed mid-save leaves that file behind. Before it
 * writes, every save of a target removes the stale temporaries of that same
 * target, that is the entries of its folder that
 *   - are named exactly "<target's name>.tmp.<pid>.<random>" as above,
 *   - are regular files (not folders or symbolic links) owned by the
 *     effective user, and
 *   - whose pid names no process: kill(pid, 0) fails with ESRCH.
 * Everything else is left alone: a live writer's temporary (this process's,
 * whatever the thread, or another process's, even one kill() may not signal:
 * EPERM), other targets' temporaries, other names (among them the
 * "<target>.tmp.<random>" of earlier graft versions, whose writer cannot be
 * known), other users' files. A file of one's own named like a temporary of
 * a target in its folder counts as one: names of that pattern are graft's.
 * The cleanup is best effort: it never fails a save. Its limit: a pid means
 * something only to processes of the same pid namespace on the same machine.
 * A folder shared with another machine (NFS) or another pid namespace
 * (containers) could see a live writer's temporary removed, whose save then
 * fails cleanly (the rename finds no file; the target is left as it was),
 * and a dead writer's temporary whose pid was since reused is kept until
 * that process ends.
 */
#include "internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

/* The first step of reading a file whose size stat() does not tell (a pipe,
 * a device): the buffer then doubles as data arrives. */
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

int graftOpenForReading(const char *path, int *fd, struct stat *st, graftFileFailure *fail)
{
    fail_with(fail, GRAFT_FILE_OK, 0, 0, -1);
    /* O_NONBLOCK: open() of a FIFO would otherwise wait for a writer, for
     * ever if none comes. Reads are made blocking again at once. */
    *fd = open(path, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
    if (*fd < 0) return fail_with(fail, GRAFT_FILE_OPEN, errno, 0, -1);
    int flags;
    if (fstat(*fd, st) != 0 || (flags = fcntl(*fd, F_GETFL)) == -1 ||
        fcntl(*fd, F_SETFL, flags & ~O_NONBLOCK) == -1) {
        int e = errno;
        close(*fd);
        *fd = -1;
        return fail_with(fail, GRAFT_FILE_STAT, e, 0, -1);
    }
    return GRAFT_FILE_OK;
}

/* Makes room in b for want bytes in all (want <= limit): the capacity at
 * least doubles (at most limit), from 64 KiB when b is unsized. */
static int reserve(graft_ctx *ctx, graftReadBuf *b, size_t want, size_t limit,
                   graftFileFailure *fail)
{
    if (want <= b->cap) return GRAFT_FILE_OK;
    size_t cap = b->cap ? (b->cap > limit / 2 ? limit : b->cap * 2)
                        : (b->sized ? want : UNSIZED_FIRST_BYTES);
    if (cap > limit) cap = limit;
    if (cap < want) cap = want;
    unsigned char *bigger = graftAlloc(ctx, cap);
    if (!bigger) return fail_with(fail, GRAFT_FILE_NOMEM, 0, cap, -1);
    if (b->size) memcpy(bigger, b->data, b->size);
    graftFree(ctx, b->data);
    b->data = bigger;
    b->cap = cap;
    return GRAFT_FILE_OK;
}

int graftReadMore(graft_ctx *ctx, int fd, graftReadBuf *b, size_t n, size_t limit, size_t *got,
                  graftFileFailure *fail)
{
    *got = 0;
    fail_with(fail, GRAFT_FILE_OK, 0, 0, -1);
    if (b->size >= limit) return GRAFT_FILE_OK;
    if (n > limit - b->size) n = limit - b->size;
    while (*got < n) {
        size_t left = n - *got;
        /* Sized: room for all that is asked; unsized: for the next byte
         * (the buffer grows as data arrives). */
        if (b->cap - b->size < (b->sized ? left : 1)) {
            int r = reserve(ctx, b, b->size + (b->sized ? left : 1), limit, fail);
            if (r != GRAFT_FILE_OK) return r;
        }
        size_t step = b->cap - b->size;
        if (step > left) step = left;
        if (step > ((size_t)1 << 30)) step = (size_t)1 << 30;
        ssize_t done = read(fd, b->data + b->size, step);
        if (done < 0) {
            if (errno == EINTR) continue;
            return fail_with(fail, GRAFT_FILE_READ, errno, 0, -1);
        }
        if (done == 0) break; /* end of file */
        b->size += (size_t)done;
        *got += (size_t)done;
    }
    return GRAFT_FILE_OK;
}

int graftReadRest(graft_ctx *ctx, int fd, graftReadBuf *b, size_t limit, int probe,
                  graftFileFailure *fail)
{
    size_t got;
    do {
        size_t want = limit - b->size;
        int r = graftReadMore(ctx, fd, b, want, limit, &got, fail);
        if (r != GRAFT_FILE_OK) return r;
        if (got < want) return GRAFT_FILE_OK; /* the end of the file */
    } while (b->size < limit);
    if (!probe) return GRAFT_FILE_OK;
    unsigned char extra;
    for (;;) {
        ssize_t done = read(fd, &extra, 1);
        if (done < 0 && errno == EINTR) continue;
        if (done < 0) return fail_with(fail, GRAFT_FILE_READ, errno, 0, -1);
        return done == 0 ? GRAFT_FILE_OK : fail_with(fail, GRAFT_FILE_TOO_LARGE, 0, 0, -1);
    }
}

int graftFileGoesOn(int fd)
{
    unsigned char extra;
    ssize_t done;
    do done = read(fd, &extra, 1);
    while (done < 0 && errno == EINTR);
    return done > 0;
}

int graftReadWholeFile(graft_ctx *ctx, const char *path, size_t max_bytes,
                       unsigned char **data, size_t *size, graftFileFailure *fail)
{
    *data = NULL;
    *size = 0;
    int fd;
    struct stat st;
    int reason = graftOpenForReading(path, &fd, &st, fail);
    if (reason != GRAFT_FILE_OK) return reason;
    if (S_ISDIR(st.st_mode)) {
        close(fd);
        return fail_with(fail, GRAFT_FILE_IS_DIR, EISDIR, 0, -1);
    }
    /* A regular file's size bounds the read and sizes the buffer; anything
     * else is read as data arrives, at most max_bytes. */
    graftReadBuf b = {NULL, 0, 0, 0};
    size_t limit = max_bytes;
    if (S_ISREG(st.st_mode) && st.st_size > 0) {
        if ((uint64_t)st.st_size > max_bytes) {
            close(fd);
            return fail_with(fail, GRAFT_FILE_TOO_LARGE, 0, 0, (long long)st.st_size);
        }
        limit = (size_t)st.st_size;
        b.sized = 1;
    }
    reason = graftReadRest(ctx, fd, &b, limit, !b.sized, fail);
    close(fd);
    if (reason == GRAFT_FILE_OK && !b.data) {
        b.data = graftAlloc(ctx, 0); /* an empty file: a valid pointer all the same */
        if (!b.data) reason = fail_with(fail, GRAFT_FILE_NOMEM, 0, 1, -1);
    }
    if (reason != GRAFT_FILE_OK) {
        graftFree(ctx, b.data);
        return reason;
    }
    *data = b.data;
    *size = b.size;
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

/* ---- temporary files ---------------------------------------------------------- */

/* "<target>.tmp.<pid>.<random>": what follows the target's name. */
#define TMP_MARK ".tmp."
#define TMP_RANDOM_CHARS 6 /* the characters mkstemp() replaces: its template ends in
                              this many 'X's */
/* Room for the temporary name after the target's: the mark, a pid (at most
 * 20 digits), '.', the random characters and the terminating NUL. */
#define TMP_SUFFIX_MAX (sizeof TMP_MARK - 1 + 20 + 1 + TMP_RANDOM_CHARS + 1)

static int is_digit(char c) { return c >= '0' && c <= '9'; }

static int is_alnum(char c)
{
    return is_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/* Whether name is exactly a temporary that a save of the target named base
 * (base_len bytes) makes, "<base>.tmp.<pid>.<random>", with pid written as
 * graft writes it (decimal, no sign, no leading zero, a valid pid_t above
 * 0); the pid in *pid. */
static int parse_temporary_name(const char *name, const char *base, size_t base_len, pid_t *pid)
{
    if (strncmp(name, base, base_len) != 0) return 0;
    const char *p = name + base_len;
    if (strncmp(p, TMP_MARK, sizeof TMP_MARK - 1) != 0) return 0;
    p += sizeof TMP_MARK - 1;
    if (!is_digit(*p) || *p == '0') return 0;
    long long v = 0;
    int digits = 0;
    for (; is_digit(*p); p++) {
        if (++digits > 10) return 0;
        v = v * 10 + (*p - '0');
    }
    if (v > INT32_MAX || (long long)(pid_t)v != v) return 0;
    if (*p++ != '.') return 0;
    for (int i = 0; i < TMP_RANDOM_CHARS; i++)
        if (!is_alnum(p[i])) return 0;
    if (p[TMP_RANDOM_CHARS] != '\0') return 0;
    *pid = (pid_t)v;
    return 1;
}

/* Removes, from folder dir, the stale temporaries of the target named base:
 * the rule is in the comment at the top of this file. Best effort, silent;
 * allocates nothing through the context. */
static void remove_stale_temporaries(const char *dir, const char *base)
{
    size_t base_len = strlen(base);
    if (base_len == 0) return;
    int saved_errno = errno;
    DIR *d = opendir(dir);
    if (!d) {
        errno = saved_errno;
        return;
    }
    int dfd = dirfd(d);
    pid_t self = getpid();
    uid_t user = geteuid();
    struct dirent *e;
    while (dfd >= 0 && (e = readdir(d)) != NULL) {
        pid_t pid;
        if (!parse_temporary_name(e->d_name, base, base_len, &pid)) continue;
        if (pid == self) continue; /* this process: alive, maybe another thread's */
        if (kill(pid, 0) == 0 || errno != ESRCH) continue; /* alive, or not provably dead */
        struct stat st;
        if (fstatat(dfd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) continue;
        if (!S_ISREG(st.st_mode) || st.st_uid != user) continue;
        (void)unlinkat(dfd, e->d_name, 0);
    }
    closedir(d);
    errno = saved_errno;
}

/* Replaces path by the size bytes at data, atomically: temporary file in the
 * same folder, written, synced, closed, renamed over path, folder synced. On
 * failure before the rename the temporary file is removed and path is left
 * as it was. Stale temporaries of path are removed first (see the top of
 * this file). */
int graftWriteFileAtomic(graft_ctx *ctx, const char *func, const char *path,
                         const unsigned char *data, size_t size)
{
    /* mkstemp() takes a name whose last six characters are X and replaces
     * them with ones that make the file new: path.tmp.<pid>.<6 unique chars> */
    size_t plen = strlen(path);
    size_t tmp_size = plen < SIZE_MAX - TMP_SUFFIX_MAX ? plen + TMP_SUFFIX_MAX : 0;
    char *tmp = tmp_size ? graftAlloc(ctx, tmp_size) : NULL;
    char *dir = folder_of(ctx, path);
    if (!tmp || !dir) {
        graftFree(ctx, tmp);
        graftFree(ctx, dir);
        return graftError(ctx, GRAFT_E_NOMEM, func, "cannot allocate file names");
    }
    memcpy(tmp, path, plen);
    int n = snprintf(tmp + plen, TMP_SUFFIX_MAX, TMP_MARK "%lld.", (long long)getpid());
    memset(tmp + plen + n, 'X', TMP_RANDOM_CHARS); /* mkstemp()'s template */
    tmp[plen + (size_t)n + TMP_RANDOM_CHARS] = '\0';

    const char *slash = strrchr(path, '/');
    remove_stale_temporaries(dir, slash ? slash + 1 : path);

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
