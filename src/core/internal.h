/*
 * internal.h - private declarations shared by graft's source files.
 *
 * Nothing here is part of the API. Internal non-static functions are named
 * graftCamelCase so that a symbol check can tell them from the public
 * graft_snake_case ones; they are hidden by -fvisibility=hidden.
 */
#ifndef GRAFT_INTERNAL_H
#define GRAFT_INTERNAL_H

#include "graft.h"

#include <pthread.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

/* ---- context -------------------------------------------------------------- */

#define GRAFT_ERRMSG_SIZE 512

struct graft_ctx {
    graft_allocator allocator;
    int use_blas;
    int winograd; /* GRAFT_CTX_WINOGRAD */
    int check_inputs; /* GRAFT_CTX_CHECK_INPUTS */
    /* The message of the last failure any thread recorded in the context.
     * Written (and cleared) under errlock, since concurrent predictions on
     * one model share the context; each thread also keeps its own copy
     * (error.c), which graft_errmsg(ctx) returns when the thread's last
     * call was on this context. */
    char errmsg[GRAFT_ERRMSG_SIZE];
    pthread_mutex_t errlock;
    /* 1 while errmsg holds a message: clearing an empty message (every
     * public call does) then takes no lock. */
    _Atomic int has_errmsg;
    uint64_t id; /* unique per context of the process, never reused */
};

/* Allocation through the context's hooks. graftAlloc returns NULL on failure
 * (and on a size of 0 returns a valid 1-byte block). graftCalloc zero-fills
 * and checks count * size for overflow. graftFree accepts NULL. */
void *graftAlloc(graft_ctx *ctx, size_t size);
void *graftCalloc(graft_ctx *ctx, size_t count, size_t size);
void graftFree(graft_ctx *ctx, void *ptr);
char *graftStrdup(graft_ctx *ctx, const char *s);

/* ---- errors --------------------------------------------------------------- */

/* Records "func(): message" in ctx (when not NULL) and in the calling thread's
 * slot, and returns status, so callers can write
 *   return graftError(ctx, GRAFT_E_SHAPE, __func__, "...", ...); */
int graftError(graft_ctx *ctx, int status, const char *func, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 4, 5)))
#endif
    ;
/* Makes the last message (ctx's and the thread's) name func, the public
 * function being called, when a helper it used recorded it under its own
 * name: "graftTensorNew(): cause" becomes "func(): cause". Returns status. */
int graftErrorAt(graft_ctx *ctx, int status, const char *func);

/* Clears the thread's and ctx's message at the start of a public call. */
void graftClearError(graft_ctx *ctx);

/* The calling thread's last message (what graft_errmsg(NULL) returns): the
 * one to read back within a call, since another thread may record its own in
 * a shared context meanwhile. */
const char *graftThreadMessage(void);

/* A new context's id (error.c): distinct for every context of the process. */
uint64_t graftNextContextId(void);

/* GRAFT_RETURN_IF(cond, ctx, code, fmt, ...): on cond, record and return code. */
#define GRAFT_RETURN_IF(cond, ctx, code, ...)                      \
    do {                                                           \
        if (cond) return graftError((ctx), (code), __func__, __VA_ARGS__); \
    } while (0)

/* GRAFT_RETURN_IF_AT: the same, naming func (for helpers that check on behalf
 * of a public function). */
#define GRAFT_RETURN_IF_AT(cond, ctx, code, func, ...)                   \
    do {                                                                 \
        if (cond) return graftError((ctx), (code), (func), __VA_ARGS__); \
    } while (0)

/* GRAFT_FORWARD_IF_ERROR(expr): return expr's status when it fails (the callee
 * has already recorded the message). */
#define GRAFT_FORWARD_IF_ERROR(expr)    \
    do {                                \
        int graft_status_ = (expr);     \
        if (graft_status_ != GRAFT_OK) return graft_status_; \
    } while (0)

/* ---- tensors -------------------------------------------------------------- */

/* A shape; dims[0] is the batch size (1 in per-sample shapes, where it is a
 * placeholder). */
typedef struct graftShape {
    int ndim;
    int64_t dims[GRAFT_MAX_DIMS];
} graftShape;


#define GRAFT_MAX_NUMEL ((int64_t)1 << 40)

struct graft_tensor {
    graft_ctx *ctx;
    int ndim;
    int64_t dims[GRAFT_MAX_DIMS];
    size_t numel;
    size_t capacity; /* floats allocated (or viewed) at data */
    float *data;
    int is_view; /* 1: data belongs to the caller */
};

/* Checks ndim and dims and returns the element count in *numel. */
int graftShapeCheck(graft_ctx *ctx, const char *func, int ndim, const int64_t *dims,
                    size_t *numel);
/* Creates an owned tensor (zero-filled). */
int graftTensorNew(graft_ctx *ctx, int ndim, const int64_t *dims, graft_tensor **out);
/* Gives t the shape (ndim, dims), growing its storage only when the new
 * element count exceeds the capacity, so a steady batch size allocates
 * nothing. Contents are unspecified afterwards. Views cannot grow. */
int graftTensorResize(graft_tensor *t, int ndim, const int64_t *dims);
/* Ensures *t exists with the given shape (creating it when NULL). */
int graftTensorEnsure(graft_ctx *ctx, graft_tensor **t, int ndim, const int64_t *dims);
/* Returns 1 when a and b have the same shape. */
int graftTensorSameShape(const graft_tensor *a, const graft_tensor *b);
/* Writes "(2, 3, 4)" into buf. */
void graftShapeString(int ndim, const int64_t *dims, char *buf, size_t size);

/* ---- random numbers ------------------------------------------------------- */

/* A small, fast, seedable generator (SplitMix64 to seed xoshiro256**). The
 * same seed gives the same sequence on every platform. */
typedef struct graftRng {
    uint64_t s[4];
} graftRng;

void graftRngSeed(graftRng *rng, uint64_t seed);
uint64_t graftRngNext(graftRng *rng);
/* Uniform in [0, 1) with 24 random bits. */
float graftRngUniform(graftRng *rng);

/* ---- matrix products ------------------------------------------------------ */

/* C = alpha * op(A) * op(B) + beta * C, row-major, op(X) = X or X^T, with
 * op(A) M x K and op(B) K x N. Runs through OpenBLAS when ctx->use_blas, else
 * through graft's reference loops (which the tests compare it with). */
void graftSgemm(const graft_ctx *ctx, int trans_a, int trans_b, int m, int n, int k,
                float alpha, const float *a, int lda, const float *b, int ldb,
                float beta, float *c, int ldc);
/* OpenBLAS's process-wide thread count: set (GRAFT_OK, GRAFT_E_RANGE for
 * n < 1, GRAFT_E_UNSUPPORTED for n > 1 without BLAS) and read (1 without
 * BLAS); and the name of its kernel set. */
int graftBlasSetThreads(int n);
int graftBlasThreads(void);
const char *graftBlasCoreName(void);

/* The reference path alone, whatever the context says. */
void graftSgemmReference(int trans_a, int trans_b, int m, int n, int k, float alpha,
                         const float *a, int lda, const float *b, int ldb, float beta,
                         float *c, int ldc);

/* ---- byte streams (little-endian, bounded) -------------------------------- */

/* A growable output buffer. On an allocation failure it records the error
 * once and ignores further writes; graftWriterStatus() tells. */
typedef struct graftWriter {
    graft_ctx *ctx;
    unsigned char *data;
    size_t size, capacity;
    int status;
} graftWriter;

void graftWriterInit(graftWriter *w, graft_ctx *ctx);
void graftWriterDispose(graftWriter *w);
void graftWriteBytes(graftWriter *w, const void *p, size_t n);
void graftWriteU32(graftWriter *w, uint32_t v);
void graftWriteI32(graftWriter *w, int32_t v);
void graftWriteI64(graftWriter *w, int64_t v);
void graftWriteF32(graftWriter *w, float v);
void graftWriteString(graftWriter *w, const char *s); /* u32 length + bytes */
void graftWriteFloats(graftWriter *w, const float *p, size_t n);

/* A bounded input cursor. Every read checks the remaining length; the first
 * failure records GRAFT_E_FORMAT with what was being read and the offset, and
 * later reads fail too. */
typedef struct graftReader {
    graft_ctx *ctx;
    const unsigned char *data;
    size_t size, pos;
    int status;
} graftReader;

void graftReaderInit(graftReader *r, graft_ctx *ctx, const void *data, size_t size);
int graftReadBytes(graftReader *r, void *p, size_t n, const char *what);
int graftReadU32(graftReader *r, uint32_t *v, const char *what);
int graftReadI32(graftReader *r, int32_t *v, const char *what);
int graftReadI64(graftReader *r, int64_t *v, const char *what);
int graftReadF32(graftReader *r, float *v, const char *what);
/* Reads a string of at most max_len bytes into a new allocation (NUL added). */
int graftReadString(graftReader *r, char **s, uint32_t max_len, const char *what);
int graftReadFloats(graftReader *r, float *p, size_t n, const char *what);

/* ---- files ---------------------------------------------------------------- */

/* Why graftReadWholeFile failed. */
enum {
    GRAFT_FILE_OK = 0,
    GRAFT_FILE_OPEN,      /* fopen failed: sys_errno */
    GRAFT_FILE_STAT,      /* fstat failed: sys_errno */
    GRAFT_FILE_IS_DIR,    /* a directory: sys_errno is EISDIR */
    GRAFT_FILE_READ,      /* a read error: sys_errno */
    GRAFT_FILE_NOMEM,     /* graftAlloc of bytes failed */
    GRAFT_FILE_TOO_LARGE  /* more than max_bytes: file_size when stat told it,
                           * else -1 (found while reading) */
};

typedef struct graftFileFailure {
    int reason;          /* a GRAFT_FILE_* value */
    int sys_errno;       /* as the failing call left errno (may be 0) */
    size_t bytes;        /* the allocation that failed */
    long long file_size; /* the size stat() reported, or -1 */
} graftFileFailure;

/* Reads the whole file at path into a new graftAlloc'd buffer (*data, *size
 * bytes), at most max_bytes (SIZE_MAX: no limit beyond memory). A regular
 * file's size sizes the buffer (its size when opened: bytes appended later
 * are not read); other files (pipes, devices) grow by doubling as data
 * arrives, never past max_bytes. Opens as graftOpenForReading(). Records no message:
 * returns GRAFT_FILE_OK, or the reason, also in *fail with its details, for
 * the caller to word; *data is then NULL. */
int graftReadWholeFile(graft_ctx *ctx, const char *path, size_t max_bytes,
                       unsigned char **data, size_t *size, graftFileFailure *fail);

/* Bounded reading in steps, for the loaders that check a header (or each
 * framed record) before reading on. A FIFO, pipe or device has no size: it
 * is read as data arrives, never past the caller's limit. */
struct stat;
/* Opens path read-only without waiting for a FIFO's writer (a FIFO that has
 * none when it is opened reads as empty), then makes reads blocking; *st is
 * its fstat(). Returns GRAFT_FILE_OK with *fd, or GRAFT_FILE_OPEN or
 * GRAFT_FILE_STAT (details in *fail). A folder opens: the caller decides. */
int graftOpenForReading(const char *path, int *fd, struct stat *st, graftFileFailure *fail);

/* The bytes read so far (a graftAlloc'd buffer; free data when done). */
typedef struct graftReadBuf {
    unsigned char *data;
    size_t size, cap;
    int sized; /* 1: the bytes asked for exist (a regular file of known size):
                  room for them is made at once; 0: it grows as they arrive */
} graftReadBuf;

/* Appends up to n bytes read from fd to b, fewer only at the end of the
 * file (*got says how many) or where b would pass limit bytes: b never
 * holds, nor allocates, more than limit. Returns GRAFT_FILE_OK,
 * GRAFT_FILE_NOMEM or GRAFT_FILE_READ (details in *fail). */
int graftReadMore(graft_ctx *ctx, int fd, graftReadBuf *b, size_t n, size_t limit, size_t *got,
                  graftFileFailure *fail);

/* Reads fd to its end into b, at most limit bytes in all. When b is full
 * and probe is 1, one more byte is tried: if there is one, the file is
 * larger than limit: GRAFT_FILE_TOO_LARGE (file_size -1). Otherwise as
 * graftReadMore. */
int graftReadRest(graft_ctx *ctx, int fd, graftReadBuf *b, size_t limit, int probe,
                  graftFileFailure *fail);

/* Whether fd has at least one more byte to read (it is consumed): 0 at the
 * end of the file or on a read error. */
int graftFileGoesOn(int fd);

/* Replaces path by the size bytes at data, atomically: a temporary file in
 * the same folder is written, synced, closed and renamed over path, then the
 * folder is synced; the new file keeps the permissions of the one it
 * replaces (0666 less the umask for a new one). On failure before the
 * rename the temporary file is removed and path is left as it was. The
 * temporary is named "<path>.tmp.<pid>.<6 random characters>"; before writing, those of
 * path whose pid is no process (left by killed saves) are removed (the rule:
 * src/core/file.c). GRAFT_E_IO or GRAFT_E_NOMEM, the message naming func and
 * path. */
int graftWriteFileAtomic(graft_ctx *ctx, const char *func, const char *path,
                         const unsigned char *data, size_t size);

/* strerror(e) into buf, thread-safe. */
void graftErrnoText(int e, char *buf, size_t size);

#endif /* GRAFT_INTERNAL_H */
