/* train_scratch.h - `graft train --from-scratch` (train_scratch.c). */
#ifndef GRAFT_CLI_TRAIN_SCRATCH_H
#define GRAFT_CLI_TRAIN_SCRATCH_H

#include "cli.h"

/* With --from-scratch in a: gives every layer of m fresh weights drawn from
 * seed (as graft_model_reinit() draws them, so the base's architecture is
 * kept and its weights are not; its epochs done are kept), and makes every layer trainable unless --freeze-through
 * or --unfreeze-from chose the frozen layers (a frozen random trunk is a
 * baseline some want). Without the flag it does nothing. Returns a graft
 * status; a failure's message is in graft_errmsg(ctx). */
int cliTrainFromScratch(graft_ctx *ctx, graft_model *m, cli_args *a, uint64_t seed);

#endif
