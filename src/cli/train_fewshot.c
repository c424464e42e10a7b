/* train_fewshot.c - what `graft train` chooses when the user does not:
 * the head's attachment point, the training budget, the validation split,
 * and the warning at chance accuracy (train_fewshot.h). */
#include "train_fewshot.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static const char *kind_of(graft_model *m, int i)
{
    const char *k = graft_layer_kind(graft_model_layer(m, i));
    return k ? k : "";
}

/* Layer i's only input as an index; -1 for the model input, several
 * inputs, or a bad index. */
static int sole_input(graft_model *m, int i)
{
    if (i < 0 || graft_model_layer_input_count(m, i) != 1) return -1;
    const char *in = graft_model_layer_input_name(m, i, 0);
    if (!in || strcmp(in, GRAFT_MODEL_INPUT) == 0) return -1;
    int j = graft_model_find_layer(m, in);
    return j >= 0 ? j : -1;
}

static int64_t layer_numel(const graft_model *m, int i, int *ndim, int64_t *dims)
{
    if (graft_model_layer_output_shape(m, i, ndim, dims) != GRAFT_OK) return 0;
    int64_t n = 1;
    for (int d = 0; d < *ndim; d++) n *= dims[d];
    return n;
}

/* The automatic point: the classifier (the output dense layer, or the one a
 * final softmax reads) reads, through flatten, reshape and dropout layers
 * only, a global average pool, whose input is spatial and holds at most
 * CLI_HEAD_SPATIAL_MAX values. Else -1. */
static int automatic_point(graft_model *m)
{
    int c = graft_model_layer_count(m) - 1;
    if (c >= 0 && strcmp(kind_of(m, c), "softmax") == 0) c = sole_input(m, c);
    if (c < 0 || strcmp(kind_of(m, c), "dense") != 0) return -1;
    int p = sole_input(m, c);
    while (p >= 0 && (strcmp(kind_of(m, p), "flatten") == 0 || strcmp(kind_of(m, p), "reshape") == 0 ||
                      strcmp(kind_of(m, p), "dropout") == 0))
        p = sole_input(m, p);
    if (p < 0 || strcmp(kind_of(m, p), "global_avg_pool") != 0) return -1;
    int x = sole_input(m, p), nd = 0;
    int64_t dims[GRAFT_MAX_DIMS];
    if (x < 0) return -1;
    int64_t n = layer_numel(m, x, &nd, dims);
    return nd > 1 && n > 0 && n <= CLI_HEAD_SPATIAL_MAX ? x : -1;
}

/* keep[i] = 1 for at and every layer it reads, directly or not. */
static void mark_kept(graft_model *m, int at, unsigned char *keep)
{
    keep[at] = 1;
    for (int i = at; i >= 0; i--) {
        if (!keep[i]) continue;
        for (int k = 0; k < graft_model_layer_input_count(m, i); k++) {
            const char *in = graft_model_layer_input_name(m, i, k);
            int j = in && strcmp(in, GRAFT_MODEL_INPUT) != 0 ? graft_model_find_layer(m, in) : -1;
            if (j >= 0) keep[j] = 1;
        }
    }
}

static int is_head_name(const char *name, const cli_head_plan *plan, int hidden, double dropout)
{
    return strcmp(name, "head/fc") == 0 ||
           (hidden && (strcmp(name, "head/hidden") == 0 || strcmp(name, "head/relu") == 0)) ||
           (dropout > 0 && strcmp(name, "head/dropout") == 0) ||
           (plan->flatten && strcmp(name, "head/flatten") == 0);
}

/* Sets plan to read layer at, with its keep list. */
static int plan_at(graft_model *m, int at, const char *why, cli_head_plan *plan)
{
    int nd = 0, n = graft_model_layer_count(m);
    int64_t dims[GRAFT_MAX_DIMS];
    plan->at = at;
    plan->name = graft_model_layer_name(m, at);
    plan->features = layer_numel(m, at, &nd, dims);
    plan->flatten = nd > 1;
    plan->why = why;
    plan->keep = calloc((size_t)n, 1);
    if (!plan->keep) {
        cliError("out of memory");
        return 1;
    }
    mark_kept(m, at, plan->keep);
    return 0;
}

int cliHeadPlan(graft_model *m, const char *base, const char *head_at, const char *through,
                const char *unfreeze_from, int hidden, double dropout, cli_head_plan *plan)
{
    memset(plan, 0, sizeof *plan);
    plan->at = -1;
    int n = graft_model_layer_count(m);
    const char *opt = head_at ? "head-at" : "freeze-through";
    int at = -1;
    const char *why = NULL;
    if (head_at) {
        at = graft_model_find_layer(m, head_at);
        if (at < 0) {
            cliError("--head-at: %s has no layer called \"%s\" (graft info %s lists them)", base,
                     head_at, base);
            return 2;
        }
        why = "--head-at";
    } else {
        at = automatic_point(m);
        why = "automatically: the spatial features before the base's global average pooling";
        int t = through ? graft_model_find_layer(m, through) : -1;
        if (at >= 0 && t >= 0) {
            unsigned char *keep = calloc((size_t)n, 1);
            if (!keep) {
                cliError("out of memory");
                return 1;
            }
            mark_kept(m, at, keep);
            if (!keep[t]) {
                /* --freeze-through names a layer past the automatic point:
                 * the head goes after it instead. */
                at = t;
                why = "after the --freeze-through layer";
            }
            free(keep);
        }
    }
    if (at >= 0) {
        if (strcmp(kind_of(m, at), "dense") == 0) {
            cliError("--%s %s: that is a dense layer, which a new head would replace rather than "
                     "read; name the layer after it", opt, graft_model_layer_name(m, at));
            return 2;
        }
        if (plan_at(m, at, why, plan)) return 1;
        for (int i = 0; i < n; i++)
            if (plan->keep[i] && strcmp(kind_of(m, i), "dense") == 0) {
                cliError("--%s %s: the layers up to it include a dense layer (%s); graft train "
                         "puts a new head on features without one: name the layer before it",
                         opt, plan->name, graft_model_layer_name(m, i));
                cliHeadPlanDispose(plan);
                return 2;
            }
    }
    const char *names[2] = {through, unfreeze_from}, *opts[2] = {"freeze-through", "unfreeze-from"};
    for (int k = 0; k < 2; k++) {
        if (!names[k] || is_head_name(names[k], plan, hidden, dropout)) continue;
        int i = graft_model_find_layer(m, names[k]);
        if (i < 0) {
            cliError("--%s: %s has no layer called \"%s\" (graft info %s lists them)", opts[k],
                     base, names[k], base);
        } else if (plan->keep && !plan->keep[i]) {
            cliError("--%s %s: the new head reads %s (%s), so %s is cut away; give --head-at %s "
                     "to put the head after it, or name a layer up to %s",
                     opts[k], names[k], plan->name, plan->why, names[k], names[k], plan->name);
        } else {
            continue;
        }
        cliHeadPlanDispose(plan);
        return 2;
    }
    return 0;
}

void cliHeadPlanDispose(cli_head_plan *plan)
{
    free(plan->keep);
    plan->keep = NULL;
}

int cliHeadAttach(graft_ctx *ctx, graft_model *m, const cli_head_plan *plan, int classes,
                  const graft_head_spec *hs)
{
    if (plan->at >= 0) {
        char name[256];
        snprintf(name, sizeof name, "%s", plan->name);
        graft_layer *l = NULL;
        if (graft_model_cut(m, name) != GRAFT_OK) return cliFail(ctx, "cannot cut the base");
        if (plan->flatten && (graft_layer_flatten(ctx, &l) != GRAFT_OK ||
                              graft_model_add(m, "head/flatten", l, 0, NULL) != GRAFT_OK))
            return cliFail(ctx, "cannot flatten the features");
    }
    if (graft_model_replace_head(m, classes, hs) != GRAFT_OK)
        return cliFail(ctx, "cannot replace the head");
    return 0;
}

void cliHeadNotice(const cli_head_plan *plan, const graft_model *m)
{
    if (plan->at < 0) {
        int fc = graft_model_find_layer(m, "head/fc"), nd = 0;
        int64_t dims[GRAFT_MAX_DIMS];
        const char *in = fc >= 0 ? graft_model_layer_input_name(m, fc, 0) : NULL;
        int i = in ? graft_model_find_layer(m, in) : -1;
        if (i >= 0 && layer_numel(m, i, &nd, dims) > 0)
            fprintf(stderr, "the new head reads %s (%lld values), where the base's classifier read\n",
                    in, (long long)layer_numel(m, i, &nd, dims));
        return;
    }
    int nd = 0;
    int64_t dims[GRAFT_MAX_DIMS];
    char shape[128] = "";
    int at = graft_model_find_layer(m, plan->name);
    if (at >= 0 && layer_numel(m, at, &nd, dims) > 0 && nd > 1) {
        size_t len = 0;
        for (int d = 0; d < nd && len < sizeof shape - 24; d++)
            len += (size_t)snprintf(shape + len, sizeof shape - len, "%s%lld", d ? "x" : "", (long long)dims[d]);
        snprintf(shape + len, sizeof shape - len, " = ");
    }
    fprintf(stderr, "the new head reads %s (%s%lld values%s), chosen %s\n", plan->name, shape,
            (long long)plan->features, plan->flatten ? ", flattened" : "", plan->why);
}

int cliAutoEpochs(int64_t n_train)
{
    if (n_train < 1) return CLI_AUTO_EPOCHS_MAX;
    long e = lround((double)CLI_SAMPLE_BUDGET / (double)n_train);
    if (e < CLI_AUTO_EPOCHS_MIN) e = CLI_AUTO_EPOCHS_MIN;
    if (e > CLI_AUTO_EPOCHS_MAX) e = CLI_AUTO_EPOCHS_MAX;
    return (int)e;
}

int cliAutoBatch(int64_t n_train)
{
    return n_train < 1000 ? 16 : 32;
}

int64_t cliSmallestClass(graft_dataset *ds)
{
    int classes = graft_dataset_class_count(ds);
    int64_t n = graft_dataset_size(ds), smallest = 0;
    int64_t *count = calloc((size_t)classes + 1, sizeof *count);
    if (!count) return 0;
    for (int64_t i = 0; i < n; i++) {
        int32_t label;
        if (graft_dataset_get(ds, i, NULL, &label) == GRAFT_OK && label >= 0 && label < classes)
            count[label]++;
    }
    for (int c = 0; c < classes; c++)
        if (count[c] && (!smallest || count[c] < smallest)) smallest = count[c];
    free(count);
    return smallest;
}

int cliWarnChance(const cli_progress *pr, int classes)
{
    if (pr->n < 1 || classes < 2) return 0;
    double chance = 1.0 / classes, near = chance + 0.1 * (1 - chance);
    double acc = pr->acc[pr->n - 1], val = pr->val_acc[pr->n - 1];
    int train_low = isfinite(acc) && acc <= near, val_low = isfinite(val) && val <= near;
    if (!train_low && !val_low) return 0;
    cliError("warning: %s accuracy ended at %.1f%%, about chance for %d classes (%.1f%%): the model "
             "has not learnt to tell the classes apart. Try more epochs (--epochs), another "
             "learning rate (--lr), or where the head reads the base (--head-at)",
             train_low ? "training" : "validation", 100 * (train_low ? acc : val), classes,
             100 * chance);
    return 1;
}
