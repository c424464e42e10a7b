/*
 * error.c - status descriptions and detailed error messages.
 *
 * A failure records "function(): cause" in the context it happened in (when
 * there is one) and in a thread-local slot, so graft_errmsg(NULL) always
 * reports the calling thread's last failure.
 *
 * Threads sharing a context (concurrent predictions on one model): the
 * context's copy is written under its errlock, so writes never race; and the
 * thread remembers which context its last call used (thread_ctx_id), so that
 * graft_errmsg(ctx) gives each thread its own message rather than whichever
 * thread failed last.
 */
#include "internal.h"

#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#if defined(__STDC_VERSION__) && __STDC_VERSION__ >= 201112L && !defined(__STDC_NO_THREADS__)
#define GRAFT_THREAD_LOCAL _Thread_local
#else
#define GRAFT_THREAD_LOCAL __thread
#endif

static GRAFT_THREAD_LOCAL char thread_errmsg[GRAFT_ERRMSG_SIZE];
/* The id of the context the calling thread's last call cleared or recorded
 * a failure in (0: none, or a call without a context). */
static GRAFT_THREAD_LOCAL uint64_t thread_ctx_id;

static atomic_uint_fast64_t last_ctx_id;

uint64_t graftNextContextId(void) { return (uint64_t)atomic_fetch_add(&last_ctx_id, 1) + 1; }

/* Copies msg into ctx's message under its lock. */
static void set_ctx_message(graft_ctx *ctx, const char *msg, size_t size)
{
    pthread_mutex_lock(&ctx->errlock);
    memcpy(ctx->errmsg, msg, size);
    atomic_store(&ctx->has_errmsg, msg[0] != '\0');
    pthread_mutex_unlock(&ctx->errlock);
}

GRAFT_API const char *graft_strerror(int status)
{
    switch (status) {
    case GRAFT_OK: return "success";
    case GRAFT_E_INVALID_ARG: return "invalid argument";
    case GRAFT_E_NOMEM: return "out of memory";
    case GRAFT_E_SHAPE: return "tensor shape mismatch";
    case GRAFT_E_RANGE: return "index or value out of range";
    case GRAFT_E_IO: return "input/output error";
    case GRAFT_E_FORMAT: return "corrupt or unrecognised data";
    case GRAFT_E_UNSUPPORTED: return "not supported";
    case GRAFT_E_STATE: return "call not valid in the object's state";
    case GRAFT_E_NOT_FOUND: return "not found";
    case GRAFT_E_VERSION: return "version not supported";
    case GRAFT_E_NUMERIC: return "non-finite number";
    case GRAFT_E_CANCELLED: return "cancelled";
    case GRAFT_E_INTERNAL: return "internal error";
    default: return "unknown error";
    }
}

int graftError(graft_ctx *ctx, int status, const char *func, const char *fmt, ...)
{
    char msg[GRAFT_ERRMSG_SIZE];
    int n = snprintf(msg, sizeof msg, "%s(): ", func ? func : "graft");
    if (n < 0) n = 0;
    if ((size_t)n < sizeof msg) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg + n, sizeof msg - (size_t)n, fmt, ap);
        va_end(ap);
    }
    memcpy(thread_errmsg, msg, sizeof msg);
    thread_ctx_id = ctx ? ctx->id : 0; /* the thread's message is now ctx's, or no context's */
    if (ctx) set_ctx_message(ctx, msg, sizeof msg);
    return status;
}

int graftErrorAt(graft_ctx *ctx, int status, const char *func)
{
    /* the thread's copy: graftError() wrote it with ctx's, and another
     * thread may have changed ctx's since */
    const char *msg = thread_errmsg, *sep = strstr(msg, "(): ");
    size_t n = strlen(func);
    if (status == GRAFT_OK || (strncmp(msg, func, n) == 0 && strncmp(msg + n, "(): ", 4) == 0))
        return status;
    char cause[GRAFT_ERRMSG_SIZE];
    snprintf(cause, sizeof cause, "%s", sep ? sep + 4 : msg);
    return graftError(ctx, status, func, "%s", cause);
}

void graftClearError(graft_ctx *ctx)
{
    thread_errmsg[0] = '\0';
    thread_ctx_id = ctx ? ctx->id : 0;
    /* The common case, nothing to clear, takes no lock: it runs at the
     * start of every public call, per layer in hand-run graphs. */
    if (ctx && atomic_load(&ctx->has_errmsg)) set_ctx_message(ctx, "", 1);
}

const char *graftThreadMessage(void) { return thread_errmsg; }

GRAFT_API const char *graft_errmsg(const graft_ctx *ctx)
{
    if (!ctx || ctx->id == thread_ctx_id) return thread_errmsg;
    return ctx->errmsg;
}
