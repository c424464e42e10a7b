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

int cmd_train(int argc, char **argv, cli_out *out)
{
    static const char *const accepted[] = {
        "data=", "out=", "epochs=", "batch=", "lr=", "optim=", "cosine", "freeze-through=",
        "train-all", "hidden=", "dropout=", "unfreeze-from=", "unfreeze-at=",
        "unfreeze-lr-scale=", "augment", "val-fraction=", "normalize=", "seed=", "threads=",
        "plot=", "quiet", "json", "help", NULL};
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
    int epochs, batch, hidden, seed, unfreeze_at;
    double lr, dropout, val_fraction, unfreeze_scale;
    if (cliInt(&a, "epochs", 5, 1, 100000, &epochs) || cliInt(&a, "batch", 32, 1, 65536, &batch) ||
        cliInt(&a, "hidden", 0, 0, 1 << 20, &hidden) || cliInt(&a, "seed", 0, 0, 2147483647, &seed) ||
        cliInt(&a, "unfreeze-at", 2, 0, 100000, &unfreeze_at) ||
        cliDouble(&a, "lr", 1e-3, 1e-9, 10, &lr) || cliDouble(&a, "dropout", 0, 0, 0.99, &dropout) ||
        cliDouble(&a, "val-fraction", 0.2, 0, 0.9, &val_fraction) ||
        cliDouble(&a, "unfreeze-lr-scale", 0.1, 0, 100, &unfreeze_scale))
        return 2;
    const char *optim_name = cliOpt(&a, "optim");
    int kind = GRAFT_OPTIM_ADAM;
    if (optim_name && strcmp(optim_name, "sgd") == 0) kind = GRAFT_OPTIM_SGD;
    else if (optim_name && strcmp(optim_name, "adamw") == 0) kind = GRAFT_OPTIM_ADAMW;
    else if (optim_name && strcmp(optim_name, "adam") != 0) {
        cliError("--optim takes adam, adamw or sgd, not \"%s\"", optim_name);
        return 2;
    }

    int rc = 1;
    graft_ctx *ctx = NULL;
    graft_model *m = NULL;
    graft_dataset *all = NULL, *all_plain = NULL, *train = NULL, *val = NULL, *drop1 = NULL,
                  *drop2 = NULL;
    graft_optim *o = NULL;
    if (graft_ctx_create(&ctx) != GRAFT_OK) return cliFail(NULL, "cannot start");
    if (cliLoadModel(ctx, a.pos[0], &m)) goto done;

    graft_folder_opts fo;
    if (cliImageOpts(m, &a, &fo)) goto done;
    fo.seed = (uint64_t)seed;
    fo.augment = cliFlag(&a, "augment");
    if (graft_dataset_from_folder(ctx, data, &fo, &all) != GRAFT_OK) {
        rc = cliFail(ctx, "cannot read the images");
        goto done;
    }
    int classes = graft_dataset_class_count(all);
    if (val_fraction > 0) {
        /* Validation reads the same files without augmentation. */
        fo.augment = 0;
        if (graft_dataset_from_folder(ctx, data, &fo, &all_plain) != GRAFT_OK ||
            graft_dataset_split(all, val_fraction, (uint64_t)seed, &train, &drop1) != GRAFT_OK ||
            graft_dataset_split(all_plain, val_fraction, (uint64_t)seed, &drop2, &val) != GRAFT_OK) {
            rc = cliFail(ctx, "cannot split the images");
            goto done;
        }
    }
    if (!out->quiet && !out->json)
        fprintf(stderr, "%lld images in %d classes from %s (%lld for training, %lld for validation)\n",
                (long long)graft_dataset_size(all), classes, data,
                (long long)graft_dataset_size(train ? train : all), (long long)graft_dataset_size(val));

    const char **names = calloc((size_t)classes, sizeof *names);
    for (int c = 0; names && c < classes; c++) names[c] = graft_dataset_class_name(all, c);
    graft_head_spec hs = GRAFT_HEAD_SPEC_INIT;
    hs.hidden_units = hidden;
    hs.dropout = (float)dropout;
    hs.seed = (uint64_t)seed;
    hs.class_names = names;
    int st = graft_model_replace_head(m, classes, &hs);
    free(names);
    if (st != GRAFT_OK) {
        rc = cliFail(ctx, "cannot replace the head");
        goto done;
    }
    const char *through = cliOpt(&a, "freeze-through");
    if (cliFlag(&a, "train-all")) st = graft_model_set_trainable(m, 0, graft_model_layer_count(m) - 1, 1);
    else if (through) st = graft_model_freeze_through(m, through);
    else st = graft_model_freeze_all_but_last(m, (hidden ? 2 : 0) + (dropout > 0) + 1);
    if (st == GRAFT_OK && cliOpt(&a, "unfreeze-from"))
        st = graft_model_schedule_unfreeze(m, cliOpt(&a, "unfreeze-from"),
                                           (int)graft_model_epochs_done(m) + unfreeze_at,
                                           (float)unfreeze_scale);
    if (st != GRAFT_OK) {
        rc = cliFail(ctx, "cannot set up the layers");
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
    cli_progress pr;
    memset(&pr, 0, sizeof pr);
    pr.out = out;
    pr.started = cliNow();
    pr.first_epoch = (int)graft_model_epochs_done(m);
    graft_fit_opts fit = GRAFT_FIT_OPTS_INIT;
    fit.epochs = epochs;
    fit.batch_size = batch;
    fit.seed = (uint64_t)seed;
    fit.progress = cliOnProgress;
    fit.user_data = &pr;
    if (graft_model_fit(m, o, train ? train : all, val, &fit) != GRAFT_OK) {
        if (out->tty && !out->quiet) fputc('\n', stderr);
        rc = cliFail(ctx, "training failed");
        goto done;
    }
    if (graft_model_save(m, dest) != GRAFT_OK) {
        rc = cliFail(ctx, "cannot save the model");
        goto done;
    }
    char plot[4096];
    if (cliOpt(&a, "plot")) snprintf(plot, sizeof plot, "%s", cliOpt(&a, "plot"));
    else default_plot_path(dest, plot, sizeof plot);
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
