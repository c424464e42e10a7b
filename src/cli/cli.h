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

/* A parsed command line: positional arguments and --name[=value] options. */
typedef struct cli_args {
    int n_pos;
    const char *pos[64];
    int n_opt;
    const char *opt_name[64];
    const char *opt_value[64]; /* NULL for flags */
    int opt_used[64];
} cli_args;

/* The options a command accepts: "name" is a flag, "name=" takes a value. */
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

/* Loads a .graft model, or imports an .onnx one (told by the extension). */
int cliLoadModel(graft_ctx *ctx, const char *path, graft_model **out);

/* Writes s as a JSON string literal; v as a number, or null when not finite. */
void cliJsonString(FILE *f, const char *s);
void cliJsonNumber(FILE *f, double v);

/* Progress of a fit shown as a bar on a terminal, lines otherwise. */
typedef struct cli_progress {
    cli_out *out;
    double started;
    int epochs_total, first_epoch;
    /* per-epoch history for the curves */
    int n;
    double epoch[1024], loss[1024], acc[1024], val_loss[1024], val_acc[1024];
} cli_progress;

int cliOnProgress(void *user, const graft_progress *p);

/* Folder-dataset options that fit the model's input (channels, size) and
 * the --normalize and --threads options. */
int cliImageOpts(graft_model *m, cli_args *a, graft_folder_opts *fo);
double cliNow(void);

int cmd_info(int argc, char **argv, cli_out *out);
int cmd_train(int argc, char **argv, cli_out *out);
int cmd_eval(int argc, char **argv, cli_out *out);
int cmd_predict(int argc, char **argv, cli_out *out);
int cmd_export(int argc, char **argv, cli_out *out);
int cmd_demo(int argc, char **argv, cli_out *out);

#endif
