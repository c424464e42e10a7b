/*
 * parallel.c - ranges of a loop on several threads (parallel.h).
 */
#include "parallel.h"

#include <pthread.h>

/* Work below which a second thread does not pay for starting it (about
 * 30 microseconds here): in floats touched, summed over the items. */
#define MIN_PARALLEL_WORK 262144.0

typedef struct range_task {
    graftRangeFn fn;
    void *arg;
    int begin, end, worker;
    pthread_t thread;
    int started;
} range_task;

static void *run_range(void *p)
{
    range_task *t = p;
    t->fn(t->arg, t->begin, t->end, t->worker);
    return NULL;
}

int graftParallelWorkers(int n, double item_cost)
{
    int w = graftBlasThreads();
    if (w > GRAFT_MAX_WORKERS) w = GRAFT_MAX_WORKERS;
    if (w > n) w = n;
    if (w < 2 || (double)n * item_cost < MIN_PARALLEL_WORK) return 1;
    return w;
}

void graftParallelFor(int n, int workers, graftRangeFn fn, void *arg)
{
    if (n <= 0) return;
    if (workers > n) workers = n;
    if (workers > GRAFT_MAX_WORKERS) workers = GRAFT_MAX_WORKERS;
    if (workers < 2) {
        fn(arg, 0, n, 0);
        return;
    }
    range_task tasks[GRAFT_MAX_WORKERS];
    for (int w = 0; w < workers; w++) {
        range_task *t = &tasks[w];
        t->fn = fn;
        t->arg = arg;
        t->begin = (int)((int64_t)n * w / workers);
        t->end = (int)((int64_t)n * (w + 1) / workers);
        t->worker = w;
        t->started = w > 0 && pthread_create(&t->thread, NULL, run_range, t) == 0;
    }
    fn(arg, tasks[0].begin, tasks[0].end, 0);
    for (int w = 1; w < workers; w++) {
        if (tasks[w].started)
            pthread_join(tasks[w].thread, NULL);
        else
            fn(arg, tasks[w].begin, tasks[w].end, w); /* could not start: run it here */
    }
}
