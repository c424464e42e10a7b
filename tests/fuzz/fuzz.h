/*
 * fuzz.h - what graft's fuzz targets share (tests/fuzz/fuzz_common.c).
 *
 * Each target is one file tests/fuzz/fuzz_<name>.c defining
 * LLVMFuzzerTestOneInput(). It is linked either with libFuzzer (clang
 * -fsanitize=fuzzer, `make fuzz`) or with tests/fuzz/replay.c, a plain main()
 * that runs every file of the folders it is given (`make test`).
 *
 * A target must never let graft crash, leak or misreport: it checks every
 * status against the codes the function documents and the message against
 * "function(): ...", checks that nothing stays allocated, and calls
 * fuzz_fail() (which prints and aborts, so both drivers see a crash) on any
 * disagreement.
 */
#ifndef GRAFT_FUZZ_H
#define GRAFT_FUZZ_H

#include "graft.h"

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Prints "graft fuzz: <message>" to stderr and aborts. */
void fuzz_fail(const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 1, 2), noreturn))
#endif
    ;

/* A context whose allocator counts blocks and refuses (returns NULL for)
 * any single block over 64 MiB and any allocation that would take the live
 * total over 256 MiB, so that sizes a file makes plausible but absurd end as
 * GRAFT_E_NOMEM instead of exhausting the machine. */
graft_ctx *fuzz_ctx(void);

/* Frees ctx and fails when any block allocated through it is still live. */
void fuzz_ctx_free(graft_ctx *ctx);

/* Checks a failed call: st must be one of the n codes in allowed, and the
 * context's message (and the thread's) must start with "func(): " and say
 * something after it. */
void fuzz_check_failure(graft_ctx *ctx, int st, const char *func, const int *allowed, int n);

/* Runs read-only queries over every layer of a loaded model, its summary,
 * and, when one sample costs little, a forward pass of a batch of 2 and a
 * prediction. Fails on any status a valid model must not give. */
void fuzz_exercise_model(graft_ctx *ctx, graft_model *m);

/* Copies data and rewrites the CRC of every section whose framing is
 * intact (docs/FORMAT.md section 2.2), so mutated payloads get past the
 * checksum and reach the parsers. Returns NULL when the copy would equal the
 * input (nothing to repair). Caller frees with free(). */
uint8_t *fuzz_repair_crcs(const uint8_t *data, size_t size);

/* A folder for files a target writes, made on first use (under $TMPDIR or
 * /tmp) and removed at exit when empty. */
const char *fuzz_tmp_dir(void);

/* Reads a whole file into a malloc'd buffer; fails the run when it cannot. */
uint8_t *fuzz_read_file(const char *path, size_t *size);

/* Saves m (or, with o, a checkpoint), loads it back, saves the loaded copy
 * and fails unless both saves are byte for byte the same and the copy's
 * outputs on a small batch equal the original's bit for bit. */
void fuzz_check_resave(graft_ctx *ctx, graft_model *m, graft_optim *o);

#endif
