/*
 * train_loss.c - the loss options of `graft train`: --label-smoothing,
 * --class-weights (balanced or a list), --clip-grad-norm, --mixup and
 * --cutmix, read and applied to the fit options in one call.
 */
#include "cli.h"

#include <stdlib.h>
#include <string.h>

/* The class weights the fit options point to: they must live until the fit
 * is over, which is the end of the command. */
static float *class_weights;

static void free_weights(void)
{
    free(class_weights);
    class_weights = NULL;
}

/* Fills w[0..classes) from "balanced" (count / (classes * count of the
 * class), 0 for a class without samples) or a comma-separated list. */
static int parse_weights(const char *v, graft_dataset *train, int classes, float *w)
{
    if (strcmp(v, "balanced") == 0) {
        int64_t n = graft_dataset_size(train);
        int64_t *pos = malloc((size_t)n * sizeof *pos);
        int32_t *labels = malloc((size_t)n * sizeof *labels);
        int64_t *count = calloc((size_t)classes, sizeof *count);
        int ok = pos && labels && count;
        for (int64_t i = 0; ok && i < n; i++) pos[i] = i;
        if (ok && n > 0x7fffffff) ok = 0;
        if (ok) ok = graft_dataset_gather(train, pos, (int)n, NULL, labels) == GRAFT_OK;
        for (int64_t i = 0; ok && i < n; i++)
            if (labels[i] >= 0 && labels[i] < classes) count[labels[i]]++;
        for (int c = 0; ok && c < classes; c++)
            w[c] = count[c] ? (float)((double)n / ((double)classes * (double)count[c])) : 0.0f;
        free(pos);
        free(labels);
        free(count);
        if (!ok) cliError("cannot count the training classes for --class-weights balanced");
        return ok ? 0 : 1;
    }
    const char *p = v;
    for (int c = 0; c < classes; c++) {
        char *end;
        double x = strtod(p, &end);
        if (end == p || !(x >= 0 && x <= 1e6) || (*end != ',' && *end != '\0') ||
            (*end == '\0') != (c == classes - 1)) {
            cliError("--class-weights takes \"balanced\" or %d numbers from 0 to 1e6 separated by "
                     "commas (one per class, in the order of the class folders), not \"%s\"",
                     classes, v);
            return 2;
        }
        w[c] = (float)x;
        p = end + 1;
    }
    return 0;
}

int cliTrainLoss(cli_args *a, graft_dataset *train, graft_fit_opts *fit)
{
    double smoothing, clip, mixup, cutmix;
    if (cliDouble(a, "label-smoothing", 0, 0, 1, &smoothing) ||
        cliDouble(a, "clip-grad-norm", 0, 0, 1e9, &clip) ||
        cliDouble(a, "mixup", 0, 0, 1000, &mixup) || cliDouble(a, "cutmix", 0, 0, 1000, &cutmix))
        return 2;
    fit->label_smoothing = (float)smoothing;
    fit->clip_grad_norm = (float)clip;
    fit->mixup_alpha = (float)mixup;
    fit->cutmix_alpha = (float)cutmix;
    const char *v = cliOpt(a, "class-weights");
    if (!v) return 0;
    int classes = graft_dataset_class_count(train);
    free_weights();
    class_weights = malloc((size_t)(classes > 0 ? classes : 1) * sizeof *class_weights);
    if (!class_weights) {
        cliError("out of memory");
        return 1;
    }
    atexit(free_weights);
    int rc = parse_weights(v, train, classes, class_weights);
    if (rc) return rc;
    fit->class_weights = class_weights;
    fit->n_class_weights = classes;
    return 0;
}
