/*
 * options.h - reading the option structs callers fill in.
 *
 * Every public struct a caller fills in begins with `uint32_t struct_size`,
 * set by its GRAFT_*_INIT to the size the caller was compiled with. A
 * struct only ever grows at its end (docs/ABI.md), so a program built
 * against an older header passes one of the sizes an earlier release had.
 * graftOptionsRead() accepts exactly those sizes: it copies the fields the
 * caller's size covers over the current defaults and leaves the newer
 * fields at their defaults, so a library call always works on a complete
 * current struct. Any other size is GRAFT_E_VERSION, the same code and
 * message shape for every struct.
 *
 * Each struct's table of released sizes lives with the code that reads it,
 * written as offsetof() and sizeof() so that it holds on every ABI: a
 * struct that gains a field keeps its earlier sizes as
 * offsetof(T, first_field_added_then), then sizeof(T) last. When the older
 * struct ended in tail padding (a 64-bit field inside, a 4-byte field
 * last), that offset is smaller than the older sizeof(T), and the first
 * new field sits in what the older caller had as padding: then the older
 * size is the offset rounded up to _Alignof(T), and the reader resets the
 * fields from the offset on to their defaults after graftOptionsRead()
 * (graft_augment_spec in data/image_augment.c does both).
 */
#ifndef GRAFT_OPTIONS_H
#define GRAFT_OPTIONS_H

#include "internal.h"

typedef struct graftOptionsKind {
    const char *arg;            /* the argument's name in messages: "opts", "spec" */
    const char *init;           /* its initialiser macro: "GRAFT_FIT_OPTS_INIT" */
    const uint32_t *sizes;      /* every size a release has had, ascending */
    int n_sizes;
    size_t reserved_offset;     /* a uint32_t reserved[] that must be 0, or 0 for none */
    size_t reserved_count;
} graftOptionsKind;

/* Checks given->struct_size (the first uint32_t of given) against k's
 * released sizes and copies that many bytes of given over *out, which
 * holds the current defaults (its GRAFT_*_INIT) and keeps its own
 * struct_size. Then the reserved words the caller's size covers must be 0.
 * Records GRAFT_E_VERSION or GRAFT_E_INVALID_ARG in func's name; *out is
 * unchanged on failure. */
int graftOptionsRead(graft_ctx *ctx, const char *func, const graftOptionsKind *k,
                     const void *given, void *out);

#define GRAFT_OPTIONS_COUNT(a) ((int)(sizeof(a) / sizeof((a)[0])))

#endif /* GRAFT_OPTIONS_H */
