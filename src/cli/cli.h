/*
 * cli.h - shared pieces of the graft command-line tool: argument parsing,
 * messages, progress display, model loading.
 */
#ifndef GRAFT_CLI_H
#define GRAFT_CLI_H

#include <graft.h>

#include <stdint.h>
#include <stdio.h>

/* Output modes chosen by --quiet and --json. */
typedef struct cli_out {
    int quiet;
    int json;
    int tty; /* stderr is a terminal: progress bars */
} cli_out;

/* A parsed command line: positional arguments and --name[=value] options.
 * The option names are copied into the struct itself, so every parse keeps
 * its own (values and positional arguments point into argv). */
typedef struct cli_args {
    int n_pos;
    const char *pos[64];
    int n_opt;
    char opt_name[64][64];
    const char *opt_value[64]; /* NULL for flags */
    int opt_used[64];
} cli_args;

/* The options a command accepts: "name" is a flag, "name=" takes a value,
 * "name=?" is a flag that may take a value given as --name=value.
 * Returns 0, or -1 after printing why (exit status 2). */
int cliParse(int argc, char **argv, const char *const *accepted, cli_args *a);
const char *cliOpt(cli_args *a, const char *name);    /* value or NULL */
int cliFlag(cli_args *a, const char *name);           /* 1 when given */
int cliInt(cli_args *a, const char *name, int dflt, int lo, int hi, int *out);
int cliDouble(cli_args *a, const char *name, double dflt, double lo, double hi, double *out);

/* Prints "graft: message" to stderr. */
void cliError(const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 1, 2)))
#endif
    ;
/* Prints the failed call's graft message and returns 1. */
int cliFail(graft_ctx *ctx, const char *what);

/* Checks, before any work, that a file can be created at path (the value
 * of option, for messages): its folder exists, is a folder and is
 * writable, and path is not itself a folder. Returns 0, or 1 after printing
 * a message that names the folder. */
int cliCheckOutputPath(const char *path, const char *option);

/* --input-shape S (every command that reads a model): the graph input's
 * shape for an .onnx model that leaves sizes open, as positive whole
 * numbers separated by 'x' ("1x3x224x224"). Checks the value, and that
 * model (the path given) is an .onnx file, before any work. Returns 0, or
 * -1 after printing why (exit status 2). */
int cliInputShapeCheck(cli_args *a, const char *model);

/* `graft train`'s loss options (train_loss.c): --label-smoothing X,
 * --class-weights balanced|W1,W2,..., --clip-grad-norm X, --mixup A,
 * --cutmix A, checked and set in fit (class weights for train's classes;
 * the array stays valid until the program ends). Returns 0, 2 after
 * printing a usage error, or 1 after printing another failure. */
int cliTrainLoss(cli_args *a, graft_dataset *train, graft_fit_opts *fit);

/* The usage line of --input-shape, for the commands' help. */
#define CLI_INPUT_SHAPE_USAGE \
    "  --input-shape S  an .onnx MODEL's input shape, e.g. 1x3x224x224: fixes the\n" \
    "                   sizes the file leaves open (height, width, ...)\n"

/* Loads a .graft model, or imports an .onnx one (told by the extension)
 * with a's --input-shape (checked by cliInputShapeCheck()). Returns 0, or
 * 1 after printing why. */
int cliLoadModel(graft_ctx *ctx, const char *path, cli_args *a, graft_model **out);
/* Imports the ONNX file at path with the options a gives (--input-shape);
 * returns graft_onnx_import()'s status, reporting nothing. */
int cliImportOnnx(graft_ctx *ctx, const char *path, cli_args *a, graft_model **out);

/* Writes s as a JSON string literal; v as a number, or null when not finite. */
void cliJsonString(FILE *f, const char *s);
void cliJsonNumber(FILE *f, double v);

/* Progress of a fit shown as a bar on a terminal, lines otherwise.
 *
 * The images per second shown are the tool's own measure: images that went
 * through the model (its trunk) divided by the wall-clock time of the
 * epoch, cache building and validation included. Samples served from
 * graft's feature cache (GRAFT_MODEL_FEATURE_CACHE) are counted apart: the
 * library's GRAFT_PROGRESS_IMAGES_PER_SEC counts them as images and leaves
 * the time spent building the cache out. */
typedef struct cli_progress {
    cli_out *out;
    double started;
    int epochs_total, first_epoch;
    /* what is trained on, for the accounting */
    graft_model *model;
    graft_dataset *train;
    int64_t train_count, val_count;
    int batch_size;
    /* the current epoch */
    int cur_epoch;         /* -1 before the first callback */
    double epoch_started;  /* wall clock at the end of the previous epoch */
    int cache_node;        /* the layer whose outputs are cached, or -1 */
    int from_cache;        /* this epoch's training batches skip the trunk */
    int cache_built;       /* ... and the cache was (re)built at its start */
    int mixes;             /* mixup or cutmix: graft_model_fit() caches nothing */
    /* per-epoch history for the curves */
    int n;
    double epoch[1024], loss[1024], acc[1024], val_loss[1024], val_acc[1024];
} cli_progress;

/* Prepares pr for a graft_model_fit() call starting now. val may be NULL. */
void cliProgressStart(cli_progress *pr, cli_out *out, graft_model *m, graft_dataset *train,
                      graft_dataset *val, int batch_size);
int cliOnProgress(void *user, const graft_progress *p);

/* The layer whose outputs graft_model_fit() caches for the model's current
 * trainable flags and this training set (graft.h, GRAFT_MODEL_FEATURE_CACHE:
 * the frozen, deterministic trunk below the trained layers, when the dataset
 * has no augmentation and the cache fits GRAFT_MODEL_FEATURE_CACHE_MB), or
 * -1 when every training image goes through the whole model. */
int cliFeatureCacheLayer(graft_model *m, graft_dataset *train);

/* Checks the --normalize and --threads values alone (before any work).
 * Returns 0, or -1 after printing why (exit status 2). */
int cliImageOptsCheck(cli_args *a);

/* Folder-dataset options that fit the model's input (channels, size): the
 * model's saved preprocessing (graft_model_folder_opts()) when it has one,
 * else the defaults (shorter side and centre crop, unit values); then the
 * --normalize and --threads options. An explicit --normalize wins: when it
 * differs from the saved preprocessing, a note on standard error says so.
 * Returns 0, 1 (the model does not take images) or 2 (an option that does
 * not fit the model, e.g. --normalize imagenet for a grey model): the exit
 * status. */
int cliImageOpts(graft_model *m, cli_args *a, graft_folder_opts *fo);

/* Makes fo's preprocessing fields (channels, size, resizing, normalisation)
 * the model's (graft_model_set_preprocess()); returns its status. */
int cliSetPreprocess(graft_model *m, const graft_folder_opts *fo);

/* The files a folder dataset made with GRAFT_FOLDER_ON_ERROR_SKIP left out
 * (--skip-bad): cliReportSkipped() prints their count and one line per file
 * ("  path: reason") on standard error, when there are any;
 * cliJsonSkippedFiles() writes them as a JSON array of {"path", "reason"}. */
void cliReportSkipped(const graft_dataset *ds, const char *dir);
/* After a failure to read the images without --skip-bad: points to it when
 * status (or the message, for a sample read during the work) says an image
 * file is damaged or not an image. */
void cliHintSkipBad(int status, const char *message);
void cliJsonSkippedFiles(FILE *f, const graft_dataset *ds);

/* --augment[=PRESET] of graft train (train_augment.c). cliTrainAugmentCheck
 * checks the value before any work (0, or -1 after printing why: exit status
 * 2). cliTrainAugment sets fo from it: no --augment, or --augment=none, is no
 * augmentation; --augment alone is 1.0's augmentation (the same images as
 * the "standard" preset); --augment=light|standard|strong fills spec with
 * that preset (graft_augment_preset()) for fo's size and points
 * fo->augment_spec at it, so spec must outlive the dataset's creation. */
int cliTrainAugmentCheck(cli_args *a);
void cliTrainAugment(cli_args *a, graft_folder_opts *fo, graft_augment_spec *spec);
#define CLI_TRAIN_AUGMENT_USAGE \
    "  --augment[=PRESET]    random resized crops and flips; PRESET: light, standard\n" \
    "                        (what --augment alone does), strong (adds rotation and\n" \
    "                        colour jitter) or none\n"

/* --tta[=VIEWS] of graft predict (predict_tta.c): test-time augmentation,
 * VIEWS flip (what --tta alone does), crops or all (crops and their
 * mirrors); see graft_model_predict_tta(). cliTtaCheck checks the value
 * before any work (0, or -1 after printing why). cliPredictTopk gives the
 * top classes of the batch x (one image) as graft_model_predict_topk()
 * does, over the views --tta asks for; returns a graft status. */
int cliTtaCheck(cli_args *a);
int cliPredictTopk(cli_args *a, graft_ctx *ctx, graft_model *m, const graft_tensor *x, int top,
                   int32_t *idx, float *prob);
/* The top classes of the image file at path over --tta's views, the image
 * prepared with the model's saved preprocessing (graft_model_prepare_image()). */
int cliPredictImageTta(cli_args *a, graft_ctx *ctx, graft_model *m, const char *path, int top,
                       int32_t *idx, float *prob);
#define CLI_TTA_USAGE \
    "  --tta[=VIEWS]    average the probabilities over views of each image: flip\n" \
    "                   (the image and its mirror; --tta alone), crops (the image\n" \
    "                   and five crops of 7/8 of each side) or all (those six and\n" \
    "                   their mirrors); the value goes after '='\n"

double cliNow(void);

/* `graft train`'s callback options (train_callbacks.c): --early-stop N,
 * --min-delta X, --monitor NAME, --restore-best, --reduce-on-plateau F,N,
 * --min-lr X and --save-best PATH. has_val: training has a validation set.
 * Checks them (before any work, with fit NULL) and, with fit, sets fit's
 * callback fields. Returns 0, or the exit status after printing why (2: a
 * wrong value; 1: --save-best cannot be written). */
int cliTrainCallbacks(cli_args *a, int has_val, graft_fit_opts *fit);
#define CLI_TRAIN_CALLBACKS_ACCEPTED \
    "early-stop=", "min-delta=", "monitor=", "restore-best", "reduce-on-plateau=", "min-lr=", \
        "save-best="
#define CLI_TRAIN_CALLBACKS_USAGE \
    "  --early-stop N        stop after N epochs without improvement of the monitored\n" \
    "                        figure (by more than --min-delta X, default 0)\n" \
    "  --monitor NAME        val_loss (default with validation), val_accuracy, loss\n" \
    "                        (default without) or accuracy: what the options below watch\n" \
    "  --restore-best        end with the model of the best epoch\n" \
    "  --save-best PATH      write a checkpoint of the best epoch to PATH (at every\n" \
    "                        improvement; graft eval and predict read it as a model)\n" \
    "  --reduce-on-plateau F,N multiply the learning rate by F after more than N epochs\n" \
    "                        without improvement (as PyTorch's ReduceLROnPlateau)\n" \
    "  --min-lr X            ... but not below X (default 0)\n"

int cmd_info(int argc, char **argv, cli_out *out);
int cmd_train(int argc, char **argv, cli_out *out);
int cmd_eval(int argc, char **argv, cli_out *out);
int cmd_predict(int argc, char **argv, cli_out *out);
int cmd_export(int argc, char **argv, cli_out *out);
int cmd_demo(int argc, char **argv, cli_out *out);

#endif
