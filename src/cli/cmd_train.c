/* cmd_train.c - `graft train`: fine-tune a model on a folder of images. */
#include "cli.h"
#include "plot.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static const char usage[] =
    "usage: graft train BASE --data DIR --out MODEL [options]\n"
    "\n"
    "Fine-tunes BASE (a .graft or .onnx model) on the images under DIR, laid out\n"
    "as DIR/<class name>/<image files> (PNG or JPEG). The classifier is replaced\n"
    "by a new one for DIR's classes, the rest is frozen (unless told otherwise),\n"
    "and the result is saved to MODEL with the class names.\n"
    "\n"
    "  --epochs N            epochs (default 5)\n"
    "  --batch N             batch size (default 32)\n"
    "  --lr X                learning rate (default 0.001)\n"
    "  --optim NAME          adam (default), adamw or sgd (momentum 0.9)\n"
    "  --cosine              cosine learning-rate decay over the epochs\n"
    "  --freeze-through NAME freeze layers up to NAME (default: all but the new head)\n"
    "  --train-all           train every layer\n"
    "  --hidden N            a hidden layer of N units in the new head\n"
    "  --dropout P           dropout before the classifier (default 0)\n"
    "  --unfreeze-from NAME  staged fine-tuning: unfreeze NAME and what follows ...\n"
    "  --unfreeze-at E       ... at the start of epoch E (0-based; default 2) ...\n"
    "  --unfreeze-lr-scale S ... at S times the learning rate (default 0.1)\n"
    "  --augment             random resized crops, flips, brightness/contrast jitter\n"
    "  --val-fraction F      held out for validation (default 0.2; 0 for none)\n"
    "  --normalize MODE      unit ([0,1], default), imagenet, or byte ([0,255])\n"
    "  --seed N              seed of the split, head, order and augmentation (default 0)\n"
    "  --threads N           image decoding threads (default 2)\n"
    "  --plot PNG            loss/accuracy curves (default: MODEL with .png)\n"
    "  --skip-bad            decode every image first; leave out and list those that\n"
    "                        cannot be read (default: stop at the first one)\n"
    "  --input-shape S       an .onnx BASE's input shape, e.g. 1x3x224x224: fixes the\n"
    "                        sizes the file leaves open (height, width, ...)\n"
    "  --label-smoothing X   cross-entropy label smoothing in [0, 1] (default 0)\n"
    "  --class-weights W     balanced (count / (classes * class count)) or one weight\n"
    "                        per class folder, comma-separated, in folder order\n"
    "  --clip-grad-norm X    clip the gradients' total L2 norm to X (default: off)\n"
    "  --mixup A             mixup with lambda ~ Beta(A, A) (default: off)\n"
    "  --cutmix A            cutmix with lambda ~ Beta(A, A) (default: off; with\n"
    "                        --mixup, each batch uses one of the two)\n"
    "  --quiet, --json       no progress; or JSON lines on standard output\n";

static int save_curves(const cli_progress *pr, const char *path)
{
    graftCanvas c;
    if (graftCanvasInit(&c, 900, 420, (graftColor){255, 255, 255})) return -1;
    graftCanvas left = {450, 420, NULL}, right = {450, 420, NULL};
    graftCanvasInit(&left, 450, 420, (graftColor){255, 255, 255});
    graftCanvasInit(&right, 450, 420, (graftColor){255, 255, 255});
    graftSeries loss[2] = {{"training", pr->epoch, pr->loss, pr->n, graftPaletteColor(0), 0},
                           {"validation", pr->epoch, pr->val_loss, pr->n, graftPaletteColor(1), 0}};
    graftSeries acc[2] = {{"training", pr->epoch, pr->acc, pr->n, graftPaletteColor(0), 0},
                          {"validation", pr->epoch, pr->val_acc, pr->n, graftPaletteColor(1), 0}};
    int has_val = pr->n > 0 && isfinite(pr->val_loss[0]);
    graftPlotLines(&left, "LOSS", "EPOCH", "LOSS", loss, has_val ? 2 : 1, 0, 0, 0);
    graftPlotLines(&right, "ACCURACY", "EPOCH", "ACCURACY", acc, has_val ? 2 : 1, 0, 1, 0);
    for (int y = 0; y < 420; y++) {
        memcpy(c.rgb + (size_t)y * 900 * 3, left.rgb + (size_t)y * 450 * 3, 450 * 3);
        memcpy(c.rgb + ((size_t)y * 900 + 450) * 3, right.rgb + (size_t)y * 450 * 3, 450 * 3);
    }
    char why[256];
    int st = graftCanvasSavePng(&c, path, why, sizeof why);
    if (st) cliError("%s", why);
    graftCanvasDispose(&left);
    graftCanvasDispose(&right);
    graftCanvasDispose(&c);
    return st;
}

/* MODEL with its extension replaced by .png. */
static void default_plot_path(const char *model, char *buf, size_t size)
{
    const char *dot = strrchr(model, '.'), *slash = strrchr(model, '/');
    size_t stem = dot && (!slash || dot > slash) ? (size_t)(dot - model) : strlen(model);
    snprintf(buf, size, "%.*s.png", (int)stem, model);
}

/* The layer named by option opt exists in the model, or will once the new
 * head is made (head/...). */
static int check_layer_name(graft_model *m, const char *name, const char *opt, int hidden,
                            double dropout, const char *base)
{
    if (graft_model_find_layer(m, name) >= 0 || strcmp(name, "head/fc") == 0 ||
        (hidden && (strcmp(name, "head/hidden") == 0 || strcmp(name, "head/relu") == 0)) ||
        (dropout > 0 && strcmp(name, "head/dropout") == 0))
        return 0;
    cliError("--%s: %s has no layer called \"%s\" (graft info %s lists them)", opt, base, name, base);
    return -1;
}

/* The two datasets over one folder list the same files. */
static int same_files(const graft_dataset *a, const graft_dataset *b)
{
    int64_t n = graft_dataset_size(a);
    if (graft_dataset_size(b) != n) return 0;
    for (int64_t i = 0; i < n; i++) {
        const char *pa = graft_dataset_sample_path(a, i), *pb = graft_dataset_sample_path(b, i);
        if (!pa || !pb || strcmp(pa, pb) != 0) return 0;
    }
    return 1;
}

int cmd_train(int argc, char **argv, cli_out *out)
{
    static const char *const accepted[] = {
        "data=", "out=", "epochs=", "batch=", "lr=", "optim=", "cosine", "freeze-through=",
        "train-all", "hidden=", "dropout=", "unfreeze-from=", "unfreeze-at=",
        "unfreeze-lr-scale=", "augment", "val-fraction=", "normalize=", "seed=", "threads=",
        "plot=", "skip-bad", "input-shape=", "quiet", "json", "help", "label-smoothing=",
        "class-weights=", "clip-grad-norm=", "mixup=", "cutmix=", NULL};
    cli_args a;
    if (cliParse(argc, argv, accepted, &a)) return 2;
    if (cliFlag(&a, "help")) {
        fputs(usage, stdout);
        return 0;
    }
    const char *data = cliOpt(&a, "data"), *dest = cliOpt(&a, "out");
    if (a.n_pos != 1 || !data || !dest) {
        fputs(usage, stderr);
        return 2;
    }
    /* Every option value is checked before any work: a wrong one is a
     * usage error (status 2). */
    int epochs, batch, hidden, seed, unfreeze_at;
    double lr, dropout, val_fraction, unfreeze_scale;
    if (cliInt(&a, "epochs", 5, 1, 100000, &epochs) || cliInt(&a, "batch", 32, 1, 65536, &batch) ||
        cliInt(&a, "hidden", 0, 0, 1 << 20, &hidden) || cliInt(&a, "seed", 0, 0, 2147483647, &seed) ||
        cliInt(&a, "unfreeze-at", 2, 0, 100000, &unfreeze_at) ||
        cliDouble(&a, "lr", 1e-3, 1e-9, 10, &lr) || cliDouble(&a, "dropout", 0, 0, 0.99, &dropout) ||
        cliDouble(&a, "val-fraction", 0.2, 0, 0.9, &val_fraction) ||
        cliDouble(&a, "unfreeze-lr-scale", 0.1, 0, 100, &unfreeze_scale) || cliImageOptsCheck(&a) ||
        cliInputShapeCheck(&a, a.pos[0]))
        return 2;
    const char *optim_name = cliOpt(&a, "optim");
    int kind = GRAFT_OPTIM_ADAM;
    if (optim_name && strcmp(optim_name, "sgd") == 0) kind = GRAFT_OPTIM_SGD;
    else if (optim_name && strcmp(optim_name, "adamw") == 0) kind = GRAFT_OPTIM_ADAMW;
    else if (optim_name && strcmp(optim_name, "adam") != 0) {
        cliError("--optim takes adam, adamw or sgd, not \"%s\"", optim_name);
        return 2;
    }
    const char *through = cliOpt(&a, "freeze-through"), *unfreeze_from = cliOpt(&a, "unfreeze-from");
    if (through && cliFlag(&a, "train-all")) {
        cliError("--freeze-through and --train-all contradict each other: give one");
        return 2;
    }
    if (!unfreeze_from && (cliOpt(&a, "unfreeze-at") || cliOpt(&a, "unfreeze-lr-scale"))) {
        cliError("--unfreeze-at and --unfreeze-lr-scale go with --unfreeze-from");
        return 2;
    }
    char plot[4096];
    if (cliOpt(&a, "plot")) snprintf(plot, sizeof plot, "%s", cliOpt(&a, "plot"));
    else default_plot_path(dest, plot, sizeof plot);
    /* Where the results go, before the (long) work that makes them. */
    if (cliCheckOutputPath(dest, "--out") ||
        cliCheckOutputPath(plot, cliOpt(&a, "plot") ? "--plot" : "the curves, beside --out"))
        return 1;
    int skip_bad = cliFlag(&a, "skip-bad");

    int rc = 1;
    graft_ctx *ctx = NULL;
    graft_model *m = NULL;
    graft_dataset *all = NULL, *all_plain = NULL, *train = NULL, *val = NULL, *drop1 = NULL,
                  *drop2 = NULL;
    graft_optim *o = NULL;
    if (graft_ctx_create(&ctx) != GRAFT_OK) return cliFail(NULL, "cannot start");
    if (cliLoadModel(ctx, a.pos[0], &a, &m)) goto done;
    if ((through && check_layer_name(m, through, "freeze-through", hidden, dropout, a.pos[0])) ||
        (unfreeze_from && check_layer_name(m, unfreeze_from, "unfreeze-from", hidden, dropout, a.pos[0]))) {
        rc = 2;
        goto done;
    }

    graft_folder_opts fo;
    if ((rc = cliImageOpts(m, &a, &fo)) != 0) goto done;
    rc = 1;
    fo.seed = (uint64_t)seed;
    fo.augment = cliFlag(&a, "augment");
    if (skip_bad) {
        /* Decode every image now, so that none can fail in the middle of
         * training, and leave out (and list) those that cannot be read. */
        fo.on_error = GRAFT_FOLDER_ON_ERROR_SKIP;
        fo.verify = GRAFT_FOLDER_VERIFY_DECODE;
    }
    int st = graft_dataset_from_folder(ctx, data, &fo, &all);
    if (st != GRAFT_OK) {
        rc = cliFail(ctx, "cannot read the images");
        if (!skip_bad) cliHintSkipBad(st, NULL);
        goto done;
    }
    if (skip_bad) {
        if (out->json) {
            printf("{\"event\": \"skipped\", \"count\": %lld, \"files\": ",
                   (long long)graft_dataset_skipped_count(all));
            cliJsonSkippedFiles(stdout, all);
            printf("}\n");
            fflush(stdout);
        } else {
            cliReportSkipped(all, data);
        }
    }
    int classes = graft_dataset_class_count(all);
    int64_t count = graft_dataset_size(all);
    {
        /* A classifier needs two classes to tell apart; class folders with
         * no (readable) image do not count. */
        char *has = calloc((size_t)classes + 1, 1);
        int with_images = 0, only = -1;
        for (int64_t i = 0; has && i < count; i++) {
            int32_t label;
            if (graft_dataset_get(all, i, NULL, &label) == GRAFT_OK && label >= 0 && label < classes &&
                !has[label]) {
                has[label] = 1;
                with_images++;
                only = label;
            }
        }
        free(has);
        if (with_images < 2) {
            cliError("%s has images in %s class%s%s%s%s: training needs at least two classes, "
                     "one folder of images for each (DIR/<class name>/<images>)",
                     data, with_images ? "only one" : "no", with_images ? "" : "es",
                     with_images ? " (" : "", with_images ? graft_dataset_class_name(all, only) : "",
                     with_images ? ")" : "");
            goto done;
        }
    }
    if (val_fraction > 0) {
        double n_val = round(val_fraction * (double)count); /* as graft_dataset_split() */
        if (n_val < 1 || n_val > (double)count - 1) {
            cliError("--val-fraction %g of %lld images leaves %s: give a larger fraction, or 0 for no "
                     "validation", val_fraction, (long long)count,
                     n_val < 1 ? "no image for validation" : "no image for training");
            rc = 2;
            goto done;
        }
        if (fo.augment) {
            /* Validation reads the same files without augmentation. */
            fo.augment = 0;
            if (graft_dataset_from_folder(ctx, data, &fo, &all_plain) != GRAFT_OK) {
                rc = cliFail(ctx, "cannot read the images");
                goto done;
            }
            if (!same_files(all, all_plain)) {
                cliError("the files under %s changed while they were read; run again", data);
                goto done;
            }
            if (graft_dataset_split(all, val_fraction, (uint64_t)seed, &train, &drop1) != GRAFT_OK ||
                graft_dataset_split(all_plain, val_fraction, (uint64_t)seed, &drop2, &val) != GRAFT_OK) {
                rc = cliFail(ctx, "cannot split the images");
                goto done;
            }
        } else if (graft_dataset_split(all, val_fraction, (uint64_t)seed, &train, &val) != GRAFT_OK) {
            rc = cliFail(ctx, "cannot split the images");
            goto done;
        }
    }
    if (!out->quiet && !out->json)
        fprintf(stderr, "%lld images in %d classes from %s (%lld for training, %lld for validation)\n",
                (long long)count, classes, data, (long long)graft_dataset_size(train ? train : all),
                (long long)graft_dataset_size(val));

    const char **names = calloc((size_t)classes, sizeof *names);
    for (int c = 0; names && c < classes; c++) names[c] = graft_dataset_class_name(all, c);
    graft_head_spec hs = GRAFT_HEAD_SPEC_INIT;
    hs.hidden_units = hidden;
    hs.dropout = (float)dropout;
    hs.seed = (uint64_t)seed;
    hs.class_names = names;
    st = graft_model_replace_head(m, classes, &hs);
    free(names);
    if (st != GRAFT_OK) {
        rc = cliFail(ctx, "cannot replace the head");
        goto done;
    }
    if (cliFlag(&a, "train-all")) st = graft_model_set_trainable(m, 0, graft_model_layer_count(m) - 1, 1);
    else if (through) st = graft_model_freeze_through(m, through);
    else st = graft_model_freeze_all_but_last(m, (hidden ? 2 : 0) + (dropout > 0) + 1);
    if (st == GRAFT_OK && unfreeze_from)
        st = graft_model_schedule_unfreeze(m, unfreeze_from,
                                           (int)graft_model_epochs_done(m) + unfreeze_at,
                                           (float)unfreeze_scale);
    if (st != GRAFT_OK) {
        /* A layer the new head replaced: still a wrong option value. */
        rc = cliFail(ctx, "cannot set up the layers");
        if (st == GRAFT_E_NOT_FOUND) rc = 2;
        goto done;
    }
    if (graft_optim_create(ctx, kind, &o) != GRAFT_OK || graft_optim_set(o, GRAFT_OPT_LR, lr) != GRAFT_OK ||
        (kind == GRAFT_OPTIM_SGD && graft_optim_set(o, GRAFT_OPT_MOMENTUM, 0.9) != GRAFT_OK) ||
        (cliFlag(&a, "cosine") &&
         (graft_optim_set(o, GRAFT_OPT_SCHEDULE, GRAFT_SCHEDULE_COSINE) != GRAFT_OK ||
          graft_optim_set(o, GRAFT_OPT_COSINE_EPOCHS, epochs) != GRAFT_OK))) {
        rc = cliFail(ctx, "cannot set up the optimizer");
        goto done;
    }
    graft_dataset *fit_train = train ? train : all;
    cli_progress pr;
    cliProgressStart(&pr, out, m, fit_train, val, batch);
    graft_fit_opts fit = GRAFT_FIT_OPTS_INIT;
    fit.epochs = epochs;
    fit.batch_size = batch;
    fit.seed = (uint64_t)seed;
    fit.progress = cliOnProgress;
    fit.user_data = &pr;
    if ((rc = cliTrainLoss(&a, fit_train, &fit)) != 0) goto done;
    rc = 1;
    if (graft_model_fit(m, o, fit_train, val, &fit) != GRAFT_OK) {
        if (out->tty && !out->quiet) fputc('\n', stderr);
        rc = cliFail(ctx, "training failed");
        if (!skip_bad) cliHintSkipBad(GRAFT_OK, graft_errmsg(ctx));
        goto done;
    }
    if (graft_model_save(m, dest) != GRAFT_OK) {
        rc = cliFail(ctx, "cannot save the model");
        goto done;
    }
    if (save_curves(&pr, plot)) goto done;
    double secs = cliNow() - pr.started;
    if (out->json) {
        printf("{\"event\": \"done\", \"model\": ");
        cliJsonString(stdout, dest);
        printf(", \"plot\": ");
        cliJsonString(stdout, plot);
        printf(", \"seconds\": %.3f, \"val_accuracy\": ", secs);
        cliJsonNumber(stdout, pr.n ? pr.val_acc[pr.n - 1] : NAN);
        printf("}\n");
    } else if (!out->quiet) {
        fprintf(stderr, "saved %s and %s (%.1f s)\n", dest, plot, secs);
    }
    rc = 0;
done:
    graft_optim_free(o);
    graft_dataset_free(train);
    graft_dataset_free(val);
    graft_dataset_free(drop1);
    graft_dataset_free(drop2);
    graft_dataset_free(all);
    graft_dataset_free(all_plain);
    graft_model_free(m);
    graft_ctx_free(ctx);
    return rc;
}
