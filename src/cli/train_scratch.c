/* train_scratch.c - `graft train --from-scratch`: the base model's
 * architecture with fresh weights, through the public API only. */
#include "train_scratch.h"

int cliTrainFromScratch(graft_ctx *ctx, graft_model *m, cli_args *a, uint64_t seed)
{
    (void)ctx; /* failures are recorded in the model's context, which is ctx */
    if (!cliFlag(a, "from-scratch")) return GRAFT_OK;
    /* Every layer, as graft_model_reinit() would draw it, but the epochs
     * done are kept: an --unfreeze-from schedule was set counting from
     * them. */
    int n = graft_model_layer_count(m);
    int st = n > 0 ? graft_model_reinit_layers(m, 0, n - 1, 0, seed) : GRAFT_OK;
    if (st == GRAFT_OK && !cliOpt(a, "freeze-through") && !cliOpt(a, "unfreeze-from"))
        st = graft_model_set_trainable(m, 0, graft_model_layer_count(m) - 1, 1);
    return st;
}
