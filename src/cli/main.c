/*
 * main.c - the graft command-line tool: fine-tune, evaluate, inspect,
 * predict with and export models from the shell.
 */
#include "cli.h"

#include <string.h>
#include <unistd.h>

static const char usage[] =
    "usage: graft COMMAND [ARGS] [--help]\n"
    "\n"
    "Commands:\n"
    "  info MODEL                  the model's layers, parameters and classes\n"
    "  train BASE --data DIR --out MODEL\n"
    "                              fine-tune BASE on a folder of images, one folder per class\n"
    "  eval MODEL --data DIR       accuracy, per-class figures, confusion matrix\n"
    "  predict MODEL IMAGE...      the most likely classes of images\n"
    "  export MODEL OUT.onnx       write an ONNX file\n"
    "  demo                        transfer learning on a shipped model, measured\n"
    "\n"
    "Options for every command: --quiet (no progress), --json (machine-readable\n"
    "output on standard output), --help. Errors go to standard error and the exit\n"
    "status is 1 (2 for a wrong command line). See `man graft` (docs/graft.1).\n";

int main(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "help") == 0 ||
        strcmp(argv[1], "-h") == 0) {
        fputs(usage, argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (strcmp(argv[1], "--version") == 0) {
        printf("graft %s\n", graft_version_string());
        return 0;
    }
    cli_out out = {0, 0, isatty(2)};
    for (int i = 2; i < argc; i++) {
        if (strcmp(argv[i], "--quiet") == 0) out.quiet = 1;
        if (strcmp(argv[i], "--json") == 0) out.json = 1;
    }
    static const struct {
        const char *name;
        int (*run)(int, char **, cli_out *);
    } commands[] = {{"info", cmd_info},       {"train", cmd_train},   {"eval", cmd_eval},
                    {"predict", cmd_predict}, {"export", cmd_export}, {"demo", cmd_demo}};
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (strcmp(argv[1], commands[i].name) == 0) return commands[i].run(argc - 2, argv + 2, &out);
    cliError("unknown command \"%s\"", argv[1]);
    fputs(usage, stderr);
    return 2;
}
