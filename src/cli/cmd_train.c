/* cmd_train.c - `graft train`: fine-tune a model on a folder of images. */
#include "cli.h"
#include "plot.h"
#include "train_fewshot.h"
#include "train_scratch.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static const char usage[] =
    "usage: graft train BASE --data DIR --out MODEL [options]\n"
    "\n"
    "Fine-tunes BASE (a .graft or .onnx model) on the images under DIR, laid out\n"
    "as DIR/<class name>/<image files> (PNG or JPEG). The classifier is replaced\n"
    "by a new one for DIR's classes, the rest is frozen (unless told otherwise),\n"
    "and the result is saved to MODEL with the class names. The defaults are\n"
    "made for few labels too (5 to 20 images per class): see docs/DEMO.md.\n"
    "\n"
    "  --head-at NAME        the new head reads layer NAME's output (flattened if\n"
    "                        spatial); the layers after NAME go. Default: the spatial\n"
    "                        features before the base's global average pooling when\n"
    "                        they hold at most 4096 values, else where the base's\n"
    "                        classifier read\n"
    "  --epochs N            epochs (default: about 3000 images seen, 5 to 60 epochs)\n"
    "  --batch N             batch size (default 16 below 1000 training images, else 32)\n"
    "  --lr X                learning rate (default 0.001)\n"
    "  --optim NAME          adam (default), adamw or sgd (momentum 0.9)\n"
    "  --constant-lr         no learning-rate decay (default: cosine decay over the\n"
    "                        epochs; --cosine, which asked for it, is still accepted)\n"
    "  --freeze-through NAME freeze layers up to NAME (default: all but the new head);\n"
    "                        a NAME past the default attachment moves the head after it\n"
    "  --train-all           train every layer\n"
    "  --from-scratch        BASE's trunk with fresh weights (from --seed), every layer\n"
    "                        trained unless --freeze-through or --unfreeze-from; the\n"
    "                        new head goes where it would on the pretrained base\n"
    "  --hidden N            a hidden layer of N units in the new head\n"
    "  --dropout P           dropout before the classifier (default 0)\n"
    "  --unfreeze-from NAME  staged fine-tuning: unfreeze NAME and what follows ...\n"
    "  --unfreeze-at E       ... at the start of epoch E (0-based; default 2) ...\n"
    "  --unfreeze-lr-scale S ... at S times the learning rate (default 0.1)\n"
    CLI_TRAIN_AUGMENT_USAGE
    "  --val-fraction F      held out for validation, class by class (default 0.2 when\n"
    "                        every class has 30 images or more, else none; 0 for none)\n"
    "  --normalize MODE      unit ([0,1]), imagenet, or byte ([0,255]); default: BASE's\n"
    "                        saved preprocessing, else unit. Saved with MODEL\n"
    "  --seed N              seed of the split, head, order and augmentation (default 0)\n"
    "  --threads N           image decoding threads (default 2)\n"
    "  --plot PNG            loss/accuracy curves (default: MODEL with .png)\n"
    CLI_TRAIN_CALLBACKS_USAGE
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
        "data=", "out=", "epochs=", "batch=", "lr=", "optim=", "cosine", "constant-lr",
        "head-at=", "freeze-through=",
        "train-all", "hidden=", "dropout=", "unfreeze-from=", "unfreeze-at=",
        "unfreeze-lr-scale=", "augment=?", "val-fraction=", "normalize=", "seed=", "threads=",
        "plot=", "skip-bad", "input-shape=", "from-scratch", "quiet", "json", "help",
        "label-smoothing=", "class-weights=", "clip-grad-norm=", "mixup=", "cutmix=",
        CLI_TRAIN_CALLBACKS_ACCEPTED, NULL};
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
    /* 0: chosen from the training set's size (train_fewshot.c). */
    if (cliInt(&a, "epochs", 0, 1, 100000, &epochs) || cliInt(&a, "batch", 0, 1, 65536, &batch) ||
        cliInt(&a, "hidden", 0, 0, 1 << 20, &hidden) || cliInt(&a, "seed", 0, 0, 2147483647, &seed) ||
        cliInt(&a, "unfreeze-at", 2, 0, 100000, &unfreeze_at) ||
        cliDouble(&a, "lr", 1e-3, 1e-9, 10, &lr) || cliDouble(&a, "dropout", 0, 0, 0.99, &dropout) ||
        cliDouble(&a, "val-fraction", 0.2, 0, 0.9, &val_fraction) ||
        cliDouble(&a, "unfreeze-lr-scale", 0.1, 0, 100, &unfreeze_scale) || cliImageOptsCheck(&a) ||
        cliTrainAugmentCheck(&a) || cliInputShapeCheck(&a, a.pos[0]))
        return 2;
    int cb_status = cliTrainCallbacks(&a, val_fraction > 0, NULL); /* exit status or 0 */
    if (cb_status) return cb_status;
    const char *optim_name = cliOpt(&a, "optim");
    int kind = GRAFT_OPTIM_ADAM;
    if (optim_name && strcmp(optim_name, "sgd") == 0) kind = GRAFT_OPTIM_SGD;
    else if (optim_name && strcmp(optim_name, "adamw") == 0) kind = GRAFT_OPTIM_ADAMW;
    else if (optim_name && strcmp(optim_name, "adam") != 0) {
        cliError("--optim takes adam, adamw or sgd, not \"%s\"", optim_name);
        return 2;
    }
    const char *through = cliOpt(&a, "freeze-through"), *unfreeze_from = cliOpt(&a, "unfreeze-from");
    if (cliFlag(&a, "cosine") && cliFlag(&a, "constant-lr")) {
        cliError("--cosine and --constant-lr contradict each other: give one");
        return 2;
    }
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
    cli_head_plan plan = {-1, NULL, 0, 0, NULL, NULL};
    if (graft_ctx_create(&ctx) != GRAFT_OK) return cliFail(NULL, "cannot start");
    if (cliLoadModel(ctx, a.pos[0], &a, &m)) goto done;
    /* Where the head goes, and whether the layer options name layers the
     * new model has, before the images are read. */
    if ((rc = cliHeadPlan(m, a.pos[0], cliOpt(&a, "head-at"), through, unfreeze_from, hidden, dropout,
                          &plan)) != 0)
        goto done;

    graft_folder_opts fo;
    graft_augment_spec augment_spec;
    if ((rc = cliImageOpts(m, &a, &fo)) != 0) goto done;
    rc = 1;
    fo.seed = (uint64_t)seed;
    cliTrainAugment(&a, &fo, &augment_spec);
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
    if (!cliOpt(&a, "val-fraction")) {
        /* A few-shot set keeps every label for training. */
        int64_t smallest = cliSmallestClass(all);
        if (smallest < CLI_VAL_MIN_PER_CLASS) {
            val_fraction = 0;
            if (!out->quiet && !out->json)
                fprintf(stderr, "no validation split: the smallest class has %lld images (fewer than "
                        "%d), so every image trains; --val-fraction F holds F of each class out\n",
                        (long long)smallest, CLI_VAL_MIN_PER_CLASS);
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
            st = graft_dataset_split_stratified(all, val_fraction, (uint64_t)seed, &train, &drop1);
            if (st == GRAFT_OK)
                st = graft_dataset_split_stratified(all_plain, val_fraction, (uint64_t)seed, &drop2, &val);
        } else {
            st = graft_dataset_split_stratified(all, val_fraction, (uint64_t)seed, &train, &val);
        }
        if (st != GRAFT_OK) {
            rc = cliFail(ctx, "cannot split the images");
            if (st == GRAFT_E_RANGE) rc = 2; /* a --val-fraction the classes cannot give */
            goto done;
        }
    }
    graft_dataset *fit_train = train ? train : all;
    int64_t n_train = graft_dataset_size(fit_train);
    if (!epochs) epochs = cliAutoEpochs(n_train);
    if (!batch) batch = cliAutoBatch(n_train);
    if (!out->quiet && !out->json)
        fprintf(stderr, "%lld images in %d classes from %s (%lld for training, %lld for validation); "
                "%d epochs%s, batch %d\n", (long long)count, classes, data, (long long)n_train,
                (long long)graft_dataset_size(val), epochs, cliOpt(&a, "epochs") ? "" : " (for the size)",
                batch);

    const char **names = calloc((size_t)classes, sizeof *names);
    for (int c = 0; names && c < classes; c++) names[c] = graft_dataset_class_name(all, c);
    graft_head_spec hs = GRAFT_HEAD_SPEC_INIT;
    hs.hidden_units = hidden;
    hs.dropout = (float)dropout;
    hs.seed = (uint64_t)seed;
    hs.class_names = names;
    st = cliHeadAttach(ctx, m, &plan, classes, &hs);
    free(names);
    if (st != 0) goto done;
    if (!out->quiet && !out->json) cliHeadNotice(&plan, m);
    if (cliFlag(&a, "train-all")) st = graft_model_set_trainable(m, 0, graft_model_layer_count(m) - 1, 1);
    else if (through) st = graft_model_freeze_through(m, through);
    else st = graft_model_freeze_all_but_last(m, (hidden ? 2 : 0) + (dropout > 0) + 1);
    if (st == GRAFT_OK && unfreeze_from)
        st = graft_model_schedule_unfreeze(m, unfreeze_from,
                                           (int)graft_model_epochs_done(m) + unfreeze_at,
                                           (float)unfreeze_scale);
    if (st == GRAFT_OK) st = cliTrainFromScratch(ctx, m, &a, (uint64_t)seed);
    if (st != GRAFT_OK) {
        /* A layer the new head replaced: still a wrong option value. */
        rc = cliFail(ctx, "cannot set up the layers");
        if (st == GRAFT_E_NOT_FOUND) rc = 2;
        goto done;
    }
    if (graft_optim_create(ctx, kind, &o) != GRAFT_OK || graft_optim_set(o, GRAFT_OPT_LR, lr) != GRAFT_OK ||
        (kind == GRAFT_OPTIM_SGD && graft_optim_set(o, GRAFT_OPT_MOMENTUM, 0.9) != GRAFT_OK) ||
        (!cliFlag(&a, "constant-lr") &&
         (graft_optim_set(o, GRAFT_OPT_SCHEDULE, GRAFT_SCHEDULE_COSINE) != GRAFT_OK ||
          graft_optim_set(o, GRAFT_OPT_COSINE_EPOCHS, epochs) != GRAFT_OK))) {
        rc = cliFail(ctx, "cannot set up the optimizer");
        goto done;
    }
    cli_progress pr;
    cliProgressStart(&pr, out, m, fit_train, val, batch);
    graft_fit_opts fit = GRAFT_FIT_OPTS_INIT;
    fit.epochs = epochs;
    fit.batch_size = batch;
    fit.seed = (uint64_t)seed;
    fit.progress = cliOnProgress;
    fit.user_data = &pr;
    /* Checked before any work, but the validation set is known only now
     * (none below 30 images per class unless --val-fraction asks). */
    if ((rc = cliTrainCallbacks(&a, val != NULL, &fit)) != 0 ||
        (rc = cliTrainLoss(&a, fit_train, &fit)) != 0)
        goto done;
    rc = 1;
    pr.mixes = fit.mixup_alpha > 0 || fit.cutmix_alpha > 0;
    /* The preprocessing the images go through travels with the model (and
     * with --save-best's checkpoints), so predict and eval apply it without
     * being told. */
    if (cliSetPreprocess(m, &fo) != GRAFT_OK) {
        rc = cliFail(ctx, "cannot record the preprocessing");
        goto done;
    }
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
    if (!out->quiet) cliWarnChance(&pr, classes);
    double secs = cliNow() - pr.started;
    /* The epoch saved (counted in this run, as the progress lines count):
     * the last, or with --restore-best the best one. */
    const long long saved_epoch = (long long)graft_model_epochs_done(m) - pr.first_epoch;
    int saved = pr.n - 1;
    for (int k = 0; k < pr.n; k++)
        if ((long long)pr.epoch[k] == saved_epoch) saved = k;
    if (out->json) {
        printf("{\"event\": \"done\", \"model\": ");
        cliJsonString(stdout, dest);
        printf(", \"plot\": ");
        cliJsonString(stdout, plot);
        printf(", \"seconds\": %.3f, \"epoch\": %lld, \"val_accuracy\": ", secs, saved_epoch);
        cliJsonNumber(stdout, saved >= 0 ? pr.val_acc[saved] : NAN);
        printf("}\n");
    } else if (!out->quiet) {
        if (saved >= 0 && saved != pr.n - 1)
            fprintf(stderr, "restored epoch %lld, the best of the run (--restore-best)\n",
                    saved_epoch);
        fprintf(stderr, "saved %s and %s (%.1f s)\n", dest, plot, secs);
    }
    rc = 0;
done:
    cliHeadPlanDispose(&plan);
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
