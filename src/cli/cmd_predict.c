/* cmd_predict.c - `graft predict MODEL IMAGE...`: the most likely classes. */
#include "cli.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static const char usage[] =
    "usage: graft predict MODEL IMAGE... [options]\n"
    "\n"
    "Classifies each PNG or JPEG image with MODEL and prints its top classes with\n"
    "their probabilities. Images are resized (shorter side, then a centre crop) to\n"
    "the model's input size.\n"
    "  --top K          classes to print per image (default 5)\n"
    "  --normalize MODE unit (default), imagenet or byte, as the model was trained\n"
    "  --json           one JSON object per image on standard output\n"
    CLI_TTA_USAGE
    CLI_INPUT_SHAPE_USAGE;

/* Decodes path and prepares it as the model expects, into slot 0 of x. */
static int prepare(graft_ctx *ctx, const char *path, const graft_folder_opts *fo, graft_tensor *x)
{
    graft_image_load_opts lo = GRAFT_IMAGE_LOAD_OPTS_INIT;
    lo.channels = fo->channels;
    graft_image *img = NULL;
    int st = graft_image_load(ctx, path, &lo, &img);
    if (st == GRAFT_OK) {
        int shorter = fo->width > fo->height ? fo->width : fo->height;
        shorter = (shorter * 256 + 112) / 224;
        st = graft_image_resize_shorter(img, shorter);
    }
    if (st == GRAFT_OK) st = graft_image_center_crop(img, fo->width, fo->height);
    if (st == GRAFT_OK && fo->normalize == GRAFT_FOLDER_NORM_IMAGENET) st = graft_image_normalize_imagenet(img);
    if (st == GRAFT_OK && fo->normalize == GRAFT_FOLDER_NORM_SCALE && fo->scale != 1.0f)
        st = graft_image_scale(img, fo->scale);
    if (st == GRAFT_OK) st = graft_image_write_tensor(img, 0, x, 0);
    graft_image_free(img);
    return st;
}

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
    graft_tensor *x = NULL;
    int32_t *idx = NULL;
    float *prob = NULL;
    if (graft_ctx_create(&ctx) != GRAFT_OK) return cliFail(NULL, "cannot start");
    if (cliLoadModel(ctx, a.pos[0], &a, &m)) goto done;
    graft_folder_opts fo;
    if ((rc = cliImageOpts(m, &a, &fo)) != 0) goto done;
    rc = 1;
    int n = graft_model_class_count(m);
    if (top > n) top = n;
    int64_t dims[4] = {1, fo.channels, fo.height, fo.width};
    idx = malloc((size_t)top * sizeof *idx);
    prob = malloc((size_t)top * sizeof *prob);
    if (!idx || !prob || graft_tensor_create(ctx, 4, dims, &x) != GRAFT_OK) {
        cliError("out of memory");
        goto done;
    }
    for (int i = 1; i < a.n_pos; i++) {
        const char *path = a.pos[i];
        if (prepare(ctx, path, &fo, x) != GRAFT_OK ||
            cliPredictTopk(&a, ctx, m, x, top, idx, prob) != GRAFT_OK) {
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
    graft_tensor_free(x);
    graft_model_free(m);
    graft_ctx_free(ctx);
    return rc;
}
