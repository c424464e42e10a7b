/*
 * parallel.h - graft's own loops (Winograd transforms and the like) split
 * over threads, for the time OpenBLAS's threads are idle between products.
 *
 * graftParallelFor() cuts [0, n) into one contiguous range per worker and
 * runs fn on each: the caller runs the first range, one new thread each of
 * the others, and the call returns when all are done. A range's work must
 * not depend on which worker runs it (worker only picks that worker's own
 * scratch), so results are the same for any thread count. When a thread
 * cannot be started its range runs on the caller. No allocation; nothing
 * outlives the call.
 */
#ifndef GRAFT_PARALLEL_H
#define GRAFT_PARALLEL_H

#include "internal.h"

/* Most workers one call uses. */
#define GRAFT_MAX_WORKERS 16

/* Runs items [begin, end) as worker number worker (0 = the caller). */
typedef void (*graftRangeFn)(void *arg, int begin, int end, int worker);

/* Workers worth using for n items of about item_cost floats of work each:
 * the BLAS's thread count (GRAFT_CTX_NUM_THREADS), at most n and at most
 * GRAFT_MAX_WORKERS, and 1 when the whole is too small to repay starting a
 * thread. */
int graftParallelWorkers(int n, double item_cost);

/* Runs fn over [0, n) on `workers` workers (as graftParallelWorkers gave). */
void graftParallelFor(int n, int workers, graftRangeFn fn, void *arg);

#endif /* GRAFT_PARALLEL_H */
