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

/* The options a command accepts: "name" is a flag, "name=" takes a value.
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

/* Folder-dataset options that fit the model's input (channels, size) and
 * the --normalize and --threads options. Returns 0, 1 (the model does not
 * take images) or 2 (an option that does not fit the model, e.g. --normalize
 * imagenet for a grey model): the exit status. */
int cliImageOpts(graft_model *m, cli_args *a, graft_folder_opts *fo);

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

double cliNow(void);

int cmd_info(int argc, char **argv, cli_out *out);
int cmd_train(int argc, char **argv, cli_out *out);
int cmd_eval(int argc, char **argv, cli_out *out);
int cmd_predict(int argc, char **argv, cli_out *out);
int cmd_export(int argc, char **argv, cli_out *out);
int cmd_demo(int argc, char **argv, cli_out *out);

#endif
