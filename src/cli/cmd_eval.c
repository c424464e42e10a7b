/* cmd_eval.c - `graft eval`: accuracy, per-class figures and a confusion
 * matrix of a model on a folder of images. */
#include "cli.h"
#include "plot.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static const char usage[] =
    "usage: graft eval MODEL --data DIR [options]\n"
    "\n"
    "Evaluates MODEL on the images under DIR/<class name>/..., whose class folders\n"
    "must match the model's classes. Images are prepared as the model's saved\n"
    "preprocessing says. Prints the loss, top-1 and top-k accuracy, the macro F1\n"
    "and ROC-AUC (one-vs-rest; binary for two classes) and each class's\n"
    "precision, recall, F1 and ROC-AUC.\n"
    "  --top K          k of the top-k accuracy (default 5, at most the classes)\n"
    "  --batch N        batch size (default 64)\n"
    "  --normalize MODE unit, imagenet or byte: overrides the model's saved\n"
    "                   preprocessing (with a note when they differ); default: the\n"
    "                   saved one (graft train records it), else unit\n"
    "  --threads N      image decoding threads (default 2)\n"
    "  --plot PNG       write the confusion matrix with class names\n"
    "  --skip-bad       decode every image first; leave out and list those that\n"
    "                   cannot be read (default: stop at the first one)\n"
    "  --json           one JSON object on standard output\n"
    CLI_INPUT_SHAPE_USAGE;

int cmd_eval(int argc, char **argv, cli_out *out)
{
    static const char *const accepted[] = {"data=", "top=", "batch=", "normalize=", "threads=",
                                           "plot=", "skip-bad", "input-shape=", "quiet", "json", "help", NULL};
    cli_args a;
    if (cliParse(argc, argv, accepted, &a)) return 2;
    if (cliFlag(&a, "help")) {
        fputs(usage, stdout);
        return 0;
    }
    const char *data = cliOpt(&a, "data");
    int top, batch;
    if (a.n_pos != 1 || !data) {
        fputs(usage, stderr);
        return 2;
    }
    if (cliInt(&a, "top", 5, 1, 1 << 20, &top) || cliInt(&a, "batch", 64, 1, 65536, &batch) ||
        cliImageOptsCheck(&a) || cliInputShapeCheck(&a, a.pos[0]))
        return 2;
    const char *plot = cliOpt(&a, "plot");
    if (plot && cliCheckOutputPath(plot, "--plot")) return 1;
    int skip_bad = cliFlag(&a, "skip-bad");
    int rc = 1;
    graft_ctx *ctx;
    graft_model *m = NULL;
    graft_dataset *ds = NULL;
    graft_eval *ev = NULL;
    if (graft_ctx_create(&ctx) != GRAFT_OK) return cliFail(NULL, "cannot start");
    if (cliLoadModel(ctx, a.pos[0], &a, &m)) goto done;
    graft_folder_opts fo;
    if ((rc = cliImageOpts(m, &a, &fo)) != 0) goto done;
    rc = 1;
    if (skip_bad) {
        fo.on_error = GRAFT_FOLDER_ON_ERROR_SKIP;
        fo.verify = GRAFT_FOLDER_VERIFY_DECODE;
    }
    int st = graft_dataset_from_folder(ctx, data, &fo, &ds);
    if (st != GRAFT_OK) {
        rc = cliFail(ctx, "cannot read the images");
        if (!skip_bad) cliHintSkipBad(st, NULL);
        goto done;
    }
    if (skip_bad && !out->json) cliReportSkipped(ds, data);
    int n = graft_model_class_count(m);
    if (graft_dataset_class_count(ds) != n) {
        cliError("%s has %d classes but the model has %d", data, graft_dataset_class_count(ds), n);
        goto done;
    }
    for (int c = 0; c < n; c++) {
        const char *mc = graft_model_class_name(m, c), *dc = graft_dataset_class_name(ds, c);
        if (mc && dc && strcmp(mc, dc) != 0) {
            cliError("class %d is \"%s\" in the model but \"%s\" in %s", c, mc, dc, data);
            goto done;
        }
    }
    if (top > n) top = n;
    if (graft_model_evaluate(m, ds, batch, top, &ev) != GRAFT_OK) {
        rc = cliFail(ctx, "evaluation failed");
        if (!skip_bad) cliHintSkipBad(GRAFT_OK, graft_errmsg(ctx));
        goto done;
    }
    const char **names = calloc((size_t)n, sizeof *names);
    for (int c = 0; names && c < n; c++)
        names[c] = graft_model_class_name(m, c) ? graft_model_class_name(m, c) : graft_dataset_class_name(ds, c);
    if (out->json) {
        printf("{\"count\": %lld, \"loss\": ", (long long)graft_eval_get(ev, GRAFT_EVAL_COUNT));
        cliJsonNumber(stdout, graft_eval_get(ev, GRAFT_EVAL_LOSS));
        printf(", \"accuracy\": ");
        cliJsonNumber(stdout, graft_eval_get(ev, GRAFT_EVAL_ACCURACY));
        printf(", \"top_k\": %d, \"top_k_accuracy\": ", top);
        cliJsonNumber(stdout, graft_eval_get(ev, GRAFT_EVAL_TOPK_ACCURACY));
        printf(", \"f1_macro\": ");
        cliJsonNumber(stdout, graft_eval_get(ev, GRAFT_EVAL_F1_MACRO));
        printf(", \"auc\": ");
        cliJsonNumber(stdout, graft_eval_get(ev, GRAFT_EVAL_AUC_MACRO));
        printf(", \"classes\": [");
        for (int c = 0; c < n; c++) {
            printf("%s{\"name\": ", c ? ", " : "");
            cliJsonString(stdout, names[c]);
            printf(", \"precision\": ");
            cliJsonNumber(stdout, graft_eval_precision(ev, c));
            printf(", \"recall\": ");
            cliJsonNumber(stdout, graft_eval_recall(ev, c));
            printf(", \"f1\": ");
            cliJsonNumber(stdout, graft_eval_f1(ev, c));
            printf(", \"auc\": ");
            cliJsonNumber(stdout, graft_eval_auc(ev, c));
            printf("}");
        }
        printf("], \"confusion\": [");
        for (int t = 0; t < n; t++) {
            printf("%s[", t ? ", " : "");
            for (int p = 0; p < n; p++) printf("%s%lld", p ? ", " : "", (long long)graft_eval_confusion(ev, t, p));
            printf("]");
        }
        printf("]");
        if (skip_bad) {
            printf(", \"skipped\": ");
            cliJsonSkippedFiles(stdout, ds);
        }
        printf("}\n");
    } else {
        printf("%lld images: loss %.4f, accuracy %.2f%%, top-%d accuracy %.2f%%\n",
               (long long)graft_eval_get(ev, GRAFT_EVAL_COUNT), graft_eval_get(ev, GRAFT_EVAL_LOSS),
               100 * graft_eval_get(ev, GRAFT_EVAL_ACCURACY), top,
               100 * graft_eval_get(ev, GRAFT_EVAL_TOPK_ACCURACY));
        printf("macro F1 %.4f, ROC-AUC %.4f (%s)\n", graft_eval_get(ev, GRAFT_EVAL_F1_MACRO),
               graft_eval_get(ev, GRAFT_EVAL_AUC_MACRO),
               n == 2 ? "binary, of the second class" : "macro, one-vs-rest");
        printf("%-24s %10s %10s %10s %10s\n", "class", "precision", "recall", "F1", "ROC-AUC");
        for (int c = 0; c < n; c++)
            printf("%-24s %10.3f %10.3f %10.3f %10.3f\n", names[c], graft_eval_precision(ev, c),
                   graft_eval_recall(ev, c), graft_eval_f1(ev, c), graft_eval_auc(ev, c));
    }
    if (plot) {
        int64_t *counts = malloc((size_t)n * n * sizeof *counts);
        graftCanvas cv;
        int side = 200 + 40 * n;
        if (side > 1600) side = 1600;
        if (counts && names && graftCanvasInit(&cv, side + 120, side + 120, (graftColor){255, 255, 255}) == 0) {
            for (int t = 0; t < n; t++)
                for (int p = 0; p < n; p++) counts[(size_t)t * n + p] = graft_eval_confusion(ev, t, p);
            graftPlotConfusion(&cv, "CONFUSION MATRIX", counts, n, names);
            char why[256];
            if (graftCanvasSavePng(&cv, plot, why, sizeof why)) cliError("%s", why);
            else rc = 0;
            graftCanvasDispose(&cv);
        }
        free(counts);
        if (rc != 0) {
            free(names);
            goto done;
        }
    }
    free(names);
    rc = 0;
done:
    graft_eval_free(ev);
    graft_dataset_free(ds);
    graft_model_free(m);
    graft_ctx_free(ctx);
    return rc;
}
