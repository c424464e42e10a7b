/* train_callbacks.c - `graft train`'s callback options: early stopping,
 * restore best, save best and reduce on plateau (graft_fit_opts' 1.3
 * fields). */
#include "cli.h"

#include <stdlib.h>
#include <string.h>

static const struct {
    const char *name;
    int monitor;
    int needs_val;
} monitors[] = {
    {"val_loss", GRAFT_MONITOR_VAL_LOSS, 1},
    {"val_accuracy", GRAFT_MONITOR_VAL_ACCURACY, 1},
    {"loss", GRAFT_MONITOR_LOSS, 0},
    {"accuracy", GRAFT_MONITOR_ACCURACY, 0},
};

/* --reduce-on-plateau F,N: the factor in (0, 1) and the patience >= 0. */
static int parse_plateau(const char *v, double *factor, int *patience)
{
    char *end;
    double f = strtod(v, &end);
    if (end == v || *end != ',' || !(f > 0 && f < 1)) return -1;
    const char *n = end + 1;
    long p = strtol(n, &end, 10);
    if (end == n || *end != '\0' || p < 0 || p > 100000) return -1;
    *factor = f;
    *patience = (int)p;
    return 0;
}

int cliTrainCallbacks(cli_args *a, int has_val, graft_fit_opts *fit)
{
    int patience;
    double min_delta, min_lr;
    if (cliInt(a, "early-stop", 0, 1, 100000, &patience) ||
        cliDouble(a, "min-delta", 0, 0, 1e9, &min_delta) ||
        cliDouble(a, "min-lr", 0, 0, 10, &min_lr))
        return 2;
    const char *mon = cliOpt(a, "monitor"), *plateau = cliOpt(a, "reduce-on-plateau");
    const char *save = cliOpt(a, "save-best");
    int restore = cliFlag(a, "restore-best");
    int monitor = GRAFT_MONITOR_AUTO;
    if (mon) {
        size_t i = 0, n = sizeof monitors / sizeof monitors[0];
        while (i < n && strcmp(monitors[i].name, mon) != 0) i++;
        if (i == n) {
            cliError("--monitor takes val_loss, val_accuracy, loss or accuracy, not \"%s\"", mon);
            return 2;
        }
        if (monitors[i].needs_val && !has_val) {
            cliError("--monitor %s needs a validation set, and there is none (--val-fraction 0, "
                     "or fewer than 30 images in a class: give --val-fraction)", mon);
            return 2;
        }
        monitor = monitors[i].monitor;
    }
    double factor = 0;
    int plateau_patience = 10;
    if (plateau && parse_plateau(plateau, &factor, &plateau_patience)) {
        cliError("--reduce-on-plateau takes F,N: a factor between 0 and 1 (exclusive) and a "
                 "patience of 0 or more epochs, e.g. 0.5,3; not \"%s\"", plateau);
        return 2;
    }
    if (!plateau && cliOpt(a, "min-lr")) {
        cliError("--min-lr goes with --reduce-on-plateau");
        return 2;
    }
    int any = cliOpt(a, "early-stop") || restore || save || plateau;
    if (!any && (mon || cliOpt(a, "min-delta"))) {
        cliError("--monitor and --min-delta go with --early-stop, --restore-best, --save-best "
                 "or --reduce-on-plateau");
        return 2;
    }
    if (save && cliCheckOutputPath(save, "--save-best")) return 1;
    if (!fit) return 0;
    fit->monitor = monitor;
    fit->min_delta = min_delta;
    fit->early_stop_patience = patience;
    fit->restore_best = restore;
    fit->save_best = save;
    fit->plateau_factor = factor;
    fit->plateau_patience = plateau_patience;
    fit->plateau_min_lr = min_lr;
    return 0;
}
