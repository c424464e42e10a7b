/*
 * train_fewshot.h - the choices `graft train` makes for the user: where the
 * new head reads the base (--head-at and its automatic default), the
 * training budget when --epochs and --batch are not given, whether and how
 * to hold out validation images, and the warning at chance accuracy.
 * docs/DEMO.md ("graft train with its defaults") has the measurements
 * behind the numbers below.
 */
#ifndef GRAFT_CLI_TRAIN_FEWSHOT_H
#define GRAFT_CLI_TRAIN_FEWSHOT_H

#include "cli.h"

/* The automatic attachment takes spatial features of at most this many
 * values (flattened) before a global average pool. */
#define CLI_HEAD_SPATIAL_MAX 4096
/* Samples the automatic epochs aim to show the head (a budget, as the
 * demo's), and the bounds of those epochs. */
#define CLI_SAMPLE_BUDGET 3000
#define CLI_AUTO_EPOCHS_MIN 5
#define CLI_AUTO_EPOCHS_MAX 60
/* Below this many images in the smallest class, no validation split is
 * made unless --val-fraction asks for one. */
#define CLI_VAL_MIN_PER_CLASS 30

/* Where the new head goes. */
typedef struct cli_head_plan {
    int at;            /* index of the layer the head reads after a cut, or -1: the
                          base's own classifier input (graft_model_replace_head()) */
    const char *name;  /* that layer's name (borrowed from the model), or NULL */
    int flatten;       /* 1: its output is spatial, a "head/flatten" layer goes first */
    int64_t features;  /* values per image the head reads (0 when not known) */
    const char *why;   /* how it was chosen, for the notice */
    unsigned char *keep; /* 1 for each layer the cut keeps (NULL when at is -1) */
} cli_head_plan;

/* Chooses the attachment point of model m (BASE, named base for messages):
 * --head-at when given; else --freeze-through's layer when the automatic
 * point would cut it away; else the automatic point (the input of a
 * global average pool that feeds the classifier, when it holds at most
 * CLI_HEAD_SPATIAL_MAX values); else -1. Checks that --freeze-through and
 * --unfreeze-from name layers the new model will have (hidden and dropout
 * say which head layers there are). Returns 0, or the exit status after
 * printing why (2 for a wrong option value). */
int cliHeadPlan(graft_model *m, const char *base, const char *head_at, const char *through,
                const char *unfreeze_from, int hidden, double dropout, cli_head_plan *plan);
void cliHeadPlanDispose(cli_head_plan *plan);

/* Cuts m as plan says, flattens, and puts the new head (hs) of classes
 * outputs on it. Returns 0, or 1 after printing why. */
int cliHeadAttach(graft_ctx *ctx, graft_model *m, const cli_head_plan *plan, int classes,
                  const graft_head_spec *hs);

/* The notice of what the head reads, on standard error. */
void cliHeadNotice(const cli_head_plan *plan, const graft_model *m);

/* Epochs for n_train images at this batch size when --epochs is not given:
 * CLI_SAMPLE_BUDGET / n_train, rounded, within the bounds above. */
int cliAutoEpochs(int64_t n_train);
/* Batch size when --batch is not given: 16 for fewer than 1,000 training
 * images (more steps for the few), 32 from there. */
int cliAutoBatch(int64_t n_train);

/* Images of the smallest class that has any, of ds (labels only). */
int64_t cliSmallestClass(graft_dataset *ds);

/* Warns on standard error when the final training or validation accuracy
 * is close to chance for classes classes (within a tenth of the way from
 * 1 / classes to 1). Returns 1 when it warned. */
int cliWarnChance(const cli_progress *pr, int classes);

#endif /* GRAFT_CLI_TRAIN_FEWSHOT_H */
