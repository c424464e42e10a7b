/* cmd_predict.c - `graft predict MODEL IMAGE...`: the most likely classes. */
#include "cli.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static const char usage[] =
    "usage: graft predict MODEL IMAGE... [options]\n"
    "\n"
    "Classifies each PNG or JPEG image with MODEL and prints its top classes with\n"
    "their probabilities. Images are prepared as the model's saved preprocessing\n"
    "says (graft train records it); a model without one (made before graft 1.3)\n"
    "gets the shorter side resized, a centre crop to its input size, and\n"
    "--normalize.\n"
    "  --top K          classes to print per image (default 5)\n"
    "  --normalize MODE unit, imagenet or byte: overrides the saved preprocessing\n"
    "                   (with a note when they differ); default: the saved one,\n"
    "                   else unit\n"
    "  --json           one JSON object per image on standard output\n"
    CLI_TTA_USAGE
    CLI_INPUT_SHAPE_USAGE;

int cmd_predict(int argc, char **argv, cli_out *out)
{
    static const char *const accepted[] = {"top=", "normalize=", "threads=", "input-shape=", "tta=?", "quiet", "json", "help", NULL};
    cli_args a;
    if (cliParse(argc, argv, accepted, &a)) return 2;
    if (cliFlag(&a, "help")) {
        fputs(usage, stdout);
        return 0;
    }
    int top;
    if (a.n_pos < 2) {
        fputs(usage, stderr);
        return 2;
    }
    if (cliInt(&a, "top", 5, 1, 1 << 20, &top) || cliImageOptsCheck(&a) || cliTtaCheck(&a) ||
        cliInputShapeCheck(&a, a.pos[0]))
        return 2;
    int rc = 1, failures = 0;
    graft_ctx *ctx;
    graft_model *m = NULL;
    int32_t *idx = NULL;
    float *prob = NULL;
    if (graft_ctx_create(&ctx) != GRAFT_OK) return cliFail(NULL, "cannot start");
    if (cliLoadModel(ctx, a.pos[0], &a, &m)) goto done;
    graft_folder_opts fo;
    if ((rc = cliImageOpts(m, &a, &fo)) != 0) goto done;
    rc = 1;
    /* The preprocessing used (saved, or from the options) is the model's
     * for graft_model_predict_image(). */
    if (cliSetPreprocess(m, &fo) != GRAFT_OK) {
        rc = cliFail(ctx, "the model cannot take these images");
        goto done;
    }
    int n = graft_model_class_count(m);
    if (n < 1) {
        cliError("%s has no outputs to classify with", a.pos[0]);
        goto done;
    }
    if (top > n) top = n;
    idx = malloc((size_t)top * sizeof *idx);
    prob = malloc((size_t)top * sizeof *prob);
    if (!idx || !prob) {
        cliError("out of memory");
        goto done;
    }
    const int tta = cliOpt(&a, "tta") != NULL;
    int64_t task = GRAFT_TASK_CLASSIFICATION;
    if (tta && graft_model_get_option(m, GRAFT_MODEL_TASK, &task) == GRAFT_OK &&
        task == GRAFT_TASK_REGRESSION) {
        cliError("--tta averages class probabilities, and %s is a regression model",
                 a.pos[0]);
        rc = 2;
        goto done;
    }
    for (int i = 1; i < a.n_pos; i++) {
        const char *path = a.pos[i];
        if ((tta ? cliPredictImageTta(&a, ctx, m, path, top, idx, prob)
                 : graft_model_predict_image(m, path, top, idx, prob)) != GRAFT_OK) {
            cliError("%s: %s", path, graft_errmsg(ctx));
            failures++;
            continue;
        }
        if (out->json) {
            printf("{\"image\": ");
            cliJsonString(stdout, path);
            printf(", \"top\": [");
            for (int k = 0; k < top; k++) {
                const char *name = graft_model_class_name(m, idx[k]);
                printf("%s{\"class\": %d, \"name\": ", k ? ", " : "", idx[k]);
                if (name) cliJsonString(stdout, name);
                else printf("null");
                printf(", \"probability\": ");
                cliJsonNumber(stdout, prob[k]);
                printf("}");
            }
            printf("]}\n");
        } else {
            printf("%s\n", path);
            for (int k = 0; k < top; k++) {
                const char *name = graft_model_class_name(m, idx[k]);
                char fallback[32];
                snprintf(fallback, sizeof fallback, "class %d", idx[k]);
                printf("  %6.2f%%  %s\n", 100.0 * prob[k], name ? name : fallback);
            }
        }
    }
    rc = failures ? 1 : 0;
done:
    free(idx);
    free(prob);
    graft_model_free(m);
    graft_ctx_free(ctx);
    return rc;
}
