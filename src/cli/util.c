/*
 * util.c - argument parsing, messages, progress display and model loading
 * for the graft command-line tool.
 */
#include "cli.h"

#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

void cliError(const char *fmt, ...)
{
    va_list ap;
    fputs("graft: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

int cliFail(graft_ctx *ctx, const char *what)
{
    cliError("%s: %s", what, graft_errmsg(ctx));
    return 1;
}

int cliParse(int argc, char **argv, const char *const *accepted, cli_args *a)
{
    memset(a, 0, sizeof *a);
    for (int i = 0; i < argc; i++) {
        const char *s = argv[i];
        if (strncmp(s, "--", 2) != 0 || strcmp(s, "--") == 0) {
            if (a->n_pos == 64) {
                cliError("too many arguments");
                return -1;
            }
            a->pos[a->n_pos++] = s;
            continue;
        }
        const char *name = s + 2, *eq = strchr(name, '=');
        size_t len = eq ? (size_t)(eq - name) : strlen(name);
        int takes_value = -1;
        for (const char *const *acc = accepted; *acc; acc++) {
            size_t al = strlen(*acc), base = al && (*acc)[al - 1] == '=' ? al - 1 : al;
            if (base == len && strncmp(*acc, name, len) == 0) takes_value = base != al;
        }
        if (takes_value < 0) {
            cliError("unknown option --%.*s (see --help)", (int)len, name);
            return -1;
        }
        if (a->n_opt == 64) {
            cliError("too many options");
            return -1;
        }
        const char *value = NULL;
        if (takes_value) {
            if (eq) value = eq + 1;
            else if (i + 1 < argc) value = argv[++i];
            else {
                cliError("option --%.*s needs a value", (int)len, name);
                return -1;
            }
        } else if (eq) {
            cliError("option --%.*s takes no value", (int)len, name);
            return -1;
        }
        static char names[64][64];
        snprintf(names[a->n_opt], sizeof names[0], "%.*s", (int)len, name);
        a->opt_name[a->n_opt] = names[a->n_opt];
        a->opt_value[a->n_opt] = value;
        a->n_opt++;
    }
    return 0;
}

const char *cliOpt(cli_args *a, const char *name)
{
    for (int i = a->n_opt - 1; i >= 0; i--)
        if (strcmp(a->opt_name[i], name) == 0) return a->opt_value[i] ? a->opt_value[i] : "";
    return NULL;
}

int cliFlag(cli_args *a, const char *name) { return cliOpt(a, name) != NULL; }

int cliInt(cli_args *a, const char *name, int dflt, int lo, int hi, int *out)
{
    const char *v = cliOpt(a, name);
    *out = dflt;
    if (!v) return 0;
    char *end;
    long x = strtol(v, &end, 10);
    if (*v == '\0' || *end != '\0' || x < lo || x > hi) {
        cliError("--%s takes a whole number from %d to %d, not \"%s\"", name, lo, hi, v);
        return -1;
    }
    *out = (int)x;
    return 0;
}

int cliDouble(cli_args *a, const char *name, double dflt, double lo, double hi, double *out)
{
    const char *v = cliOpt(a, name);
    *out = dflt;
    if (!v) return 0;
    char *end;
    double x = strtod(v, &end);
    if (*v == '\0' || *end != '\0' || !(x >= lo && x <= hi)) {
        cliError("--%s takes a number from %g to %g, not \"%s\"", name, lo, hi, v);
        return -1;
    }
    *out = x;
    return 0;
}

static int ends_with(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && strcasecmp(s + a - b, suffix) == 0;
}

int cliLoadModel(graft_ctx *ctx, const char *path, graft_model **out)
{
    if (ends_with(path, ".onnx")) {
        if (graft_onnx_import(ctx, path, NULL, out) != GRAFT_OK)
            return cliFail(ctx, "cannot import the ONNX model");
        return 0;
    }
    if (graft_model_load(ctx, path, out) != GRAFT_OK) return cliFail(ctx, "cannot load the model");
    return 0;
}

void cliJsonString(FILE *f, const char *s)
{
    fputc('"', f);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') fprintf(f, "\\%c", c);
        else if (c < 0x20) fprintf(f, "\\u%04x", c);
        else fputc(c, f);
    }
    fputc('"', f);
}

void cliJsonNumber(FILE *f, double v)
{
    if (isfinite(v)) fprintf(f, "%.6g", v);
    else fputs("null", f);
}

double cliNow(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void format_duration(double s, char *buf, size_t size)
{
    if (!isfinite(s) || s < 0) s = 0;
    long t = (long)(s + 0.5);
    if (t >= 3600) snprintf(buf, size, "%ld:%02ld:%02ld", t / 3600, t / 60 % 60, t % 60);
    else snprintf(buf, size, "%ld:%02ld", t / 60, t % 60);
}

int cliOnProgress(void *user, const graft_progress *p)
{
    cli_progress *pr = user;
    cli_out *o = pr->out;
    int event = (int)graft_progress_get(p, GRAFT_PROGRESS_EVENT);
    /* Epochs of this run (a pretrained model has trained before). */
    int epoch = (int)graft_progress_get(p, GRAFT_PROGRESS_EPOCH) - pr->first_epoch;
    int epochs = (int)graft_progress_get(p, GRAFT_PROGRESS_EPOCHS) - pr->first_epoch;
    double batch = graft_progress_get(p, GRAFT_PROGRESS_BATCH);
    double batches = graft_progress_get(p, GRAFT_PROGRESS_BATCHES);
    double loss = graft_progress_get(p, GRAFT_PROGRESS_LOSS);
    double acc = graft_progress_get(p, GRAFT_PROGRESS_ACCURACY);
    double rate = graft_progress_get(p, GRAFT_PROGRESS_IMAGES_PER_SEC);
    if (event == GRAFT_EVENT_BATCH_END) {
        if (!o->tty || o->quiet || o->json) return 0;
        double done = (epoch - 1) + batch / batches;
        double total = epochs;
        double elapsed = cliNow() - pr->started;
        double eta = done > 0 ? elapsed * (total - done) / done : 0;
        char eta_s[32];
        format_duration(eta, eta_s, sizeof eta_s);
        int width = 24, filled = (int)(width * batch / batches);
        char bar[32];
        for (int i = 0; i < width; i++) bar[i] = i < filled ? '#' : '.';
        bar[width] = '\0';
        fprintf(stderr, "\repoch %d/%d [%s] %3.0f%% %7.1f img/s ETA %s loss %.4f acc %.3f ", epoch,
                epochs, bar, 100 * batch / batches, rate, eta_s, loss, acc);
        fflush(stderr);
        return 0;
    }
    double vl = graft_progress_get(p, GRAFT_PROGRESS_VAL_LOSS);
    double va = graft_progress_get(p, GRAFT_PROGRESS_VAL_ACCURACY);
    if (pr->n < 1024) {
        pr->epoch[pr->n] = epoch;
        pr->loss[pr->n] = loss;
        pr->acc[pr->n] = acc;
        pr->val_loss[pr->n] = vl;
        pr->val_acc[pr->n] = va;
        pr->n++;
    }
    if (o->json) {
        printf("{\"event\": \"epoch\", \"epoch\": %d, \"loss\": ", epoch);
        cliJsonNumber(stdout, loss);
        printf(", \"accuracy\": ");
        cliJsonNumber(stdout, acc);
        printf(", \"val_loss\": ");
        cliJsonNumber(stdout, vl);
        printf(", \"val_accuracy\": ");
        cliJsonNumber(stdout, va);
        printf(", \"images_per_sec\": ");
        cliJsonNumber(stdout, rate);
        printf("}\n");
        fflush(stdout);
        return 0;
    }
    if (o->quiet) return 0;
    if (o->tty) fputc('\r', stderr);
    fprintf(stderr, "epoch %d/%d: loss %.4f, accuracy %.3f", epoch, epochs, loss, acc);
    if (!isnan(vl)) fprintf(stderr, ", validation loss %.4f, accuracy %.3f", vl, va);
    fprintf(stderr, ", %.1f img/s%s\n", rate, o->tty ? "                    " : "");
    return 0;
}

int cliImageOpts(graft_model *m, cli_args *a, graft_folder_opts *fo)
{
    int nd;
    int64_t d[GRAFT_MAX_DIMS];
    *fo = (graft_folder_opts)GRAFT_FOLDER_OPTS_INIT;
    if (graft_model_layer_output_shape(m, -1, &nd, d) != GRAFT_OK || nd != 3 ||
        (d[0] != 1 && d[0] != 3)) {
        cliError("the model does not take images: its input must be (1 or 3 channels, height, "
                 "width)");
        return -1;
    }
    fo->channels = (int)d[0];
    fo->height = (int)d[1];
    fo->width = (int)d[2];
    const char *norm = cliOpt(a, "normalize");
    if (!norm || strcmp(norm, "unit") == 0) {
        fo->normalize = GRAFT_FOLDER_NORM_SCALE;
        fo->scale = 1.0f;
    } else if (strcmp(norm, "imagenet") == 0) {
        if (fo->channels != 3) {
            cliError("--normalize imagenet needs a 3-channel model");
            return -1;
        }
        fo->normalize = GRAFT_FOLDER_NORM_IMAGENET;
    } else if (strcmp(norm, "byte") == 0) {
        fo->normalize = GRAFT_FOLDER_NORM_SCALE;
        fo->scale = 255.0f;
    } else {
        cliError("--normalize takes unit, imagenet or byte, not \"%s\"", norm);
        return -1;
    }
    int threads;
    if (cliInt(a, "threads", 2, 1, 64, &threads)) return -1;
    fo->threads = threads;
    return 0;
}
