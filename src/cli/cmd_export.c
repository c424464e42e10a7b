/* cmd_export.c - `graft export MODEL OUT.onnx`. */
#include "cli.h"

#include <string.h>

static const char usage[] =
    "usage: graft export MODEL OUT.onnx [--fold-bn] [--opset N] [--input-shape S]\n"
    "\n"
    "Writes MODEL (a .graft file) as an ONNX file that computes the same outputs\n"
    "(logits), with a symbolic batch size, for ONNX Runtime, PyTorch and others.\n"
    "  --fold-bn   fold batch normalisation into the preceding convolutions\n"
    "  --opset N   ONNX opset, 13 (default) to 17\n"
    CLI_INPUT_SHAPE_USAGE;

int cmd_export(int argc, char **argv, cli_out *out)
{
    static const char *const accepted[] = {"fold-bn", "opset=", "input-shape=", "quiet", "json", "help", NULL};
    cli_args a;
    if (cliParse(argc, argv, accepted, &a)) return 2;
    if (cliFlag(&a, "help")) {
        fputs(usage, stdout);
        return 0;
    }
    int opset;
    if (a.n_pos != 2) {
        fputs(usage, stderr);
        return 2;
    }
    if (cliInt(&a, "opset", 13, 13, 17, &opset) || cliInputShapeCheck(&a, a.pos[0])) return 2;
    graft_ctx *ctx;
    graft_model *m = NULL;
    int rc = 1;
    if (graft_ctx_create(&ctx) != GRAFT_OK) return cliFail(NULL, "cannot start");
    if (cliLoadModel(ctx, a.pos[0], &a, &m) == 0) {
        graft_onnx_export_opts eo = GRAFT_ONNX_EXPORT_OPTS_INIT;
        eo.opset = opset;
        eo.fold_batch_norm = cliFlag(&a, "fold-bn");
        if (graft_onnx_export(m, a.pos[1], &eo) != GRAFT_OK) {
            rc = cliFail(ctx, "cannot export");
        } else {
            rc = 0;
            if (out->json) {
                printf("{\"onnx\": ");
                cliJsonString(stdout, a.pos[1]);
                printf("}\n");
            } else if (!out->quiet) {
                fprintf(stderr, "wrote %s\n", a.pos[1]);
            }
        }
    }
    graft_model_free(m);
    graft_ctx_free(ctx);
    return rc;
}
