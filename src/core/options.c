/*
 * options.c - reading the option structs callers fill in (see options.h).
 */
#include "options.h"

#include <stdio.h>
#include <string.h>

int graftOptionsRead(graft_ctx *ctx, const char *func, const graftOptionsKind *k,
                     const void *given, void *out)
{
    uint32_t size;
    memcpy(&size, given, sizeof size);
    int known = 0;
    for (int i = 0; i < k->n_sizes; i++) known |= size == k->sizes[i];
    if (!known) {
        char list[128];
        size_t at = 0;
        list[0] = '\0';
        for (int i = 0; i < k->n_sizes && at < sizeof list; i++)
            at += (size_t)snprintf(list + at, sizeof list - at, "%s%u", i ? ", " : "",
                                   (unsigned)k->sizes[i]);
        return graftError(ctx, GRAFT_E_VERSION, func,
                          "%s->struct_size is %u; this graft reads %s (use %s)", k->arg,
                          (unsigned)size, list, k->init);
    }
    for (size_t w = 0; w < k->reserved_count; w++) {
        size_t at = k->reserved_offset + w * sizeof(uint32_t);
        uint32_t v;
        if (at + sizeof v > size) break; /* not in the caller's struct */
        memcpy(&v, (const unsigned char *)given + at, sizeof v);
        if (v != 0)
            return graftError(ctx, GRAFT_E_INVALID_ARG, func,
                              "%s->reserved[%zu] is %u, must be 0", k->arg, w, (unsigned)v);
    }
    uint32_t own;
    memcpy(&own, out, sizeof own);
    memcpy(out, given, size);
    memcpy(out, &own, sizeof own); /* the struct is now the current size */
    return GRAFT_OK;
}
