/*
 * util.c - argument parsing, messages, progress display and model loading
 * for the graft command-line tool.
 */
#include "cli.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

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
        int takes_value = -1; /* 0 flag, 1 value, 2 optional value (only as --name=value) */
        for (const char *const *acc = accepted; *acc; acc++) {
            size_t al = strlen(*acc), base = al;
            int kind = 0;
            if (al >= 2 && strcmp(*acc + al - 2, "=?") == 0) base = al - 2, kind = 2;
            else if (al && (*acc)[al - 1] == '=') base = al - 1, kind = 1;
            if (base == len && strncmp(*acc, name, len) == 0) takes_value = kind;
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
        if (takes_value == 2) {
            value = eq ? eq + 1 : NULL;
        } else if (takes_value) {
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
        /* len fits: it matched an accepted name, all of them short. */
        snprintf(a->opt_name[a->n_opt], sizeof a->opt_name[0], "%.*s", (int)len, name);
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

int cliCheckOutputPath(const char *path, const char *option)
{
    struct stat st;
    if (!*path) {
        cliError("%s needs a file name", option);
        return 1;
    }
    if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
        cliError("cannot write %s (%s): it is a directory", path, option);
        return 1;
    }
    /* The folder the file goes in: what precedes the last '/'. */
    const char *slash = strrchr(path, '/');
    char dir[4096];
    if (!slash) snprintf(dir, sizeof dir, ".");
    else if (slash == path) snprintf(dir, sizeof dir, "/");
    else snprintf(dir, sizeof dir, "%.*s", (int)(slash - path), path);
    if (stat(dir, &st) != 0) {
        cliError("cannot write %s (%s): the directory %s %s", path, option, dir,
                 errno == ENOENT ? "does not exist" : strerror(errno));
        return 1;
    }
    if (!S_ISDIR(st.st_mode)) {
        cliError("cannot write %s (%s): %s is not a directory", path, option, dir);
        return 1;
    }
    if (access(dir, W_OK | X_OK) != 0) {
        cliError("cannot write %s (%s): the directory %s is not writable (%s)", path, option, dir,
                 strerror(errno));
        return 1;
    }
    return 0;
}

static int ends_with(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && strcasecmp(s + a - b, suffix) == 0;
}

/* Reads "1x3x224x224" into dims (room for GRAFT_MAX_DIMS): 1 to
 * GRAFT_MAX_DIMS whole numbers from 1 to 2147483647, each written with
 * digits only, separated by single 'x's. Returns the count, or -1. */
static int parse_shape(const char *s, int64_t *dims)
{
    int n = 0;
    for (const char *p = s;; p++) {
        int64_t v = 0;
        const char *start = p;
        for (; *p >= '0' && *p <= '9'; p++) {
            v = v * 10 + (*p - '0');
            if (v > 2147483647) return -1;
        }
        if (p == start || v < 1 || n == GRAFT_MAX_DIMS) return -1;
        dims[n++] = v;
        if (*p == '\0') return n;
        if (*p != 'x') return -1;
    }
}

int cliInputShapeCheck(cli_args *a, const char *model)
{
    const char *v = cliOpt(a, "input-shape");
    int64_t dims[GRAFT_MAX_DIMS];
    if (!v) return 0;
    if (parse_shape(v, dims) < 0) {
        cliError("--input-shape takes 1 to %d sizes from 1 to 2147483647 separated by 'x', "
                 "such as 1x3x224x224, not \"%s\"",
                 GRAFT_MAX_DIMS, v);
        return -1;
    }
    if (!ends_with(model, ".onnx")) {
        cliError("--input-shape is for .onnx models, whose input sizes may be open; %s is a "
                 "graft model, whose input shape is fixed",
                 model);
        return -1;
    }
    return 0;
}

int cliImportOnnx(graft_ctx *ctx, const char *path, cli_args *a, graft_model **out)
{
    graft_onnx_import_opts o = GRAFT_ONNX_IMPORT_OPTS_INIT;
    int64_t dims[GRAFT_MAX_DIMS];
    const char *v = a ? cliOpt(a, "input-shape") : NULL;
    if (v) {
        o.input_ndim = parse_shape(v, dims);
        if (o.input_ndim < 0) { /* cliInputShapeCheck() has refused it already */
            cliError("--input-shape \"%s\" is not a shape", v);
            return GRAFT_E_INVALID_ARG;
        }
        o.input_shape = dims;
    }
    return graft_onnx_import(ctx, path, &o, out);
}

int cliLoadModel(graft_ctx *ctx, const char *path, cli_args *a, graft_model **out)
{
    if (ends_with(path, ".onnx")) {
        if (cliImportOnnx(ctx, path, a, out) != GRAFT_OK)
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

/* Whether layer i of m runs in the backward pass: graft_model_fit() runs
 * backward through the layers at or above a trainable layer with parameters
 * (graft.h, graft_model_set_trainable()); the others form the frozen trunk. */
static int is_upstream(graft_model *m, int i, const signed char *up)
{
    if (graft_model_layer_trainable(m, i) == 1 && graft_model_layer_param_count(m, i) > 0) return 1;
    for (int k = 0; k < graft_model_layer_input_count(m, i); k++) {
        int j = graft_model_find_layer(m, graft_model_layer_input_name(m, i, k));
        if (j >= 0 && j < i && up[j]) return 1;
    }
    return 0;
}

int cliFeatureCacheLayer(graft_model *m, graft_dataset *train)
{
    int64_t on = 0, frozen_bn_trains = 0, budget_mb = 0;
    if (!m || !train || graft_model_get_option(m, GRAFT_MODEL_FEATURE_CACHE, &on) != GRAFT_OK ||
        !on || graft_dataset_is_deterministic(train) != 1 ||
        graft_model_get_option(m, GRAFT_MODEL_FROZEN_BN_TRAINS, &frozen_bn_trains) != GRAFT_OK ||
        graft_model_get_option(m, GRAFT_MODEL_FEATURE_CACHE_MB, &budget_mb) != GRAFT_OK)
        return -1;
    int n = graft_model_layer_count(m), frontier = -1;
    signed char *up = calloc((size_t)(n > 0 ? n : 1), 1);
    if (!up) return -1;
    for (int i = 0; i < n && frontier != -2; i++) {
        up[i] = (signed char)is_upstream(m, i, up);
        const char *kind = graft_layer_kind(graft_model_layer(m, i));
        if (!up[i]) {
            /* the trunk must give the same output at every epoch */
            if (strcmp(kind, "dropout") == 0 || (strcmp(kind, "batch_norm") == 0 && frozen_bn_trains))
                frontier = -2;
            continue;
        }
        for (int k = 0; k < graft_model_layer_input_count(m, i) && frontier != -2; k++) {
            const char *in = graft_model_layer_input_name(m, i, k);
            int j = strcmp(in, GRAFT_MODEL_INPUT) == 0 ? -1 : graft_model_find_layer(m, in);
            if (j < 0) frontier = -2; /* a trained layer reads the input: nothing to cache */
            else if (!up[j] && frontier >= 0 && frontier != j) frontier = -2;
            else if (!up[j]) frontier = j;
        }
    }
    free(up);
    if (frontier < 0) return -1;
    int nd;
    int64_t d[GRAFT_MAX_DIMS];
    if (graft_model_layer_output_shape(m, frontier, &nd, d) != GRAFT_OK) return -1;
    double bytes = (double)graft_dataset_size(train) * sizeof(float);
    for (int k = 0; k < nd; k++) bytes *= (double)d[k];
    return bytes > (double)budget_mb * 1048576.0 ? -1 : frontier;
}

void cliProgressStart(cli_progress *pr, cli_out *out, graft_model *m, graft_dataset *train,
                      graft_dataset *val, int batch_size)
{
    memset(pr, 0, sizeof *pr);
    pr->out = out;
    pr->model = m;
    pr->train = train;
    pr->train_count = graft_dataset_size(train);
    pr->val_count = val ? graft_dataset_size(val) : 0;
    pr->batch_size = batch_size;
    pr->first_epoch = (int)graft_model_epochs_done(m);
    pr->cur_epoch = -1;
    pr->cache_node = -1;
    pr->started = pr->epoch_started = cliNow();
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
    if (epoch != pr->cur_epoch) {
        /* The first callback of an epoch: graft_model_fit() has applied the
         * epoch's unfreezing, so the flags say what it caches. */
        int node = pr->mixes ? -1 : cliFeatureCacheLayer(pr->model, pr->train);
        pr->cur_epoch = epoch;
        pr->from_cache = node >= 0;
        pr->cache_built = node >= 0 && node != pr->cache_node;
        pr->cache_node = node;
    }
    /* Training images that went through the trunk this epoch so far: all of
     * them once when the cache was built, none from a built cache, else the
     * batches done. */
    double samples = fmin(batch * pr->batch_size, (double)pr->train_count);
    if (event == GRAFT_EVENT_EPOCH_END) samples = (double)pr->train_count;
    double through = pr->from_cache ? (pr->cache_built ? (double)pr->train_count : 0) : samples;
    double secs = cliNow() - pr->epoch_started;
    if (event == GRAFT_EVENT_BATCH_END) {
        if (!o->tty || o->quiet || o->json) return 0;
        double done = (epoch - 1) + batch / batches;
        double total = epochs;
        double elapsed = cliNow() - pr->started;
        double eta = done > 0 ? elapsed * (total - done) / done : 0;
        char eta_s[32], rate_s[32];
        format_duration(eta, eta_s, sizeof eta_s);
        if (through > 0) snprintf(rate_s, sizeof rate_s, "%7.1f img/s", secs > 0 ? through / secs : 0);
        else snprintf(rate_s, sizeof rate_s, "   from cache");
        int width = 24, filled = (int)(width * batch / batches);
        char bar[32];
        for (int i = 0; i < width; i++) bar[i] = i < filled ? '#' : '.';
        bar[width] = '\0';
        fprintf(stderr, "\repoch %d/%d [%s] %3.0f%% %s ETA %s loss %.4f acc %.3f ", epoch, epochs, bar,
                100 * batch / batches, rate_s, eta_s, loss, acc);
        fflush(stderr);
        return 0;
    }
    double vl = graft_progress_get(p, GRAFT_PROGRESS_VAL_LOSS);
    double va = graft_progress_get(p, GRAFT_PROGRESS_VAL_ACCURACY);
    /* the callbacks of --early-stop and the like (NaN best epoch: none on) */
    double lr_scale = graft_progress_get(p, GRAFT_PROGRESS_LR_SCALE);
    double best_epoch = graft_progress_get(p, GRAFT_PROGRESS_BEST_EPOCH) - pr->first_epoch;
    /* Validation runs the whole model on every validation image. */
    int64_t trunk = (int64_t)through + (isnan(vl) ? 0 : pr->val_count);
    int64_t cached = pr->from_cache && !pr->cache_built ? pr->train_count : 0;
    double rate = secs > 0 ? (double)trunk / secs : 0;
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
        printf(", \"seconds\": %.6f, \"trunk_images\": %lld, \"cached_samples\": %lld, "
               "\"images_per_sec\": ", secs, (long long)trunk, (long long)cached);
        cliJsonNumber(stdout, rate);
        printf(", \"lr_scale\": ");
        cliJsonNumber(stdout, lr_scale);
        printf(", \"best_epoch\": ");
        cliJsonNumber(stdout, best_epoch);
        printf("}\n");
        fflush(stdout);
    } else if (!o->quiet) {
        if (o->tty) fputc('\r', stderr);
        fprintf(stderr, "epoch %d/%d: loss %.4f, accuracy %.3f", epoch, epochs, loss, acc);
        if (!isnan(vl)) fprintf(stderr, ", validation loss %.4f, accuracy %.3f", vl, va);
        if (trunk > 0)
            fprintf(stderr, "; %lld images through the model in %.2f s (%.1f img/s)", (long long)trunk,
                    secs, rate);
        if (cached > 0)
            fprintf(stderr, "%s %lld samples from the feature cache", trunk > 0 ? "," : ";",
                    (long long)cached);
        if (trunk == 0) fprintf(stderr, " in %.2f s", secs);
        if (lr_scale != 1) fprintf(stderr, "; learning rate now x%g", lr_scale);
        if (!isnan(best_epoch) && best_epoch != epoch) fprintf(stderr, "; best epoch %g", best_epoch);
        fprintf(stderr, "%s\n", o->tty ? "          " : "");
    }
    pr->epoch_started = cliNow();
    return 0;
}

int cliImageOptsCheck(cli_args *a)
{
    const char *norm = cliOpt(a, "normalize");
    int threads;
    if (norm && strcmp(norm, "unit") != 0 && strcmp(norm, "imagenet") != 0 &&
        strcmp(norm, "byte") != 0) {
        cliError("--normalize takes unit, imagenet or byte, not \"%s\"", norm);
        return -1;
    }
    return cliInt(a, "threads", 2, 1, 64, &threads);
}

/* The normalisation fo describes, for messages: "unit ([0, 1])". */
static void norm_text(const graft_folder_opts *fo, char *buf, size_t size)
{
    if (fo->normalize == GRAFT_FOLDER_NORM_IMAGENET)
        snprintf(buf, size, "imagenet");
    else if (fo->normalize == GRAFT_FOLDER_NORM_MEAN_STD)
        snprintf(buf, size, "mean (%g, %g, %g), std (%g, %g, %g)", fo->mean[0], fo->mean[1],
                 fo->mean[2], fo->std[0], fo->std[1], fo->std[2]);
    else if (fo->scale == 1.0f)
        snprintf(buf, size, "unit ([0, 1])");
    else if (fo->scale == 255.0f)
        snprintf(buf, size, "byte ([0, 255])");
    else
        snprintf(buf, size, "values times %g", fo->scale);
}

int cliImageOpts(graft_model *m, cli_args *a, graft_folder_opts *fo)
{
    int nd;
    int64_t d[GRAFT_MAX_DIMS];
    *fo = (graft_folder_opts)GRAFT_FOLDER_OPTS_INIT;
    if (cliImageOptsCheck(a)) return 2;
    if (graft_model_layer_output_shape(m, -1, &nd, d) != GRAFT_OK || nd != 3 ||
        (d[0] != 1 && d[0] != 3)) {
        cliError("the model does not take images: its input must be (1 or 3 channels, height, "
                 "width)");
        return 1;
    }
    fo->channels = (int)d[0];
    fo->height = (int)d[1];
    fo->width = (int)d[2];
    /* The model's saved preprocessing, when it has one (graft 1.3). */
    int saved = graft_model_folder_opts(m, fo) == GRAFT_OK;
    graft_folder_opts flag = *fo;
    const char *norm = cliOpt(a, "normalize");
    if (!norm && saved) {
        /* as saved */
    } else if (!norm || strcmp(norm, "unit") == 0) {
        flag.normalize = GRAFT_FOLDER_NORM_SCALE;
        flag.scale = 1.0f;
    } else if (strcmp(norm, "imagenet") == 0) {
        if (fo->channels != 3) {
            cliError("--normalize imagenet needs a 3-channel model; this one takes %d channel",
                     fo->channels);
            return 2;
        }
        flag.normalize = GRAFT_FOLDER_NORM_IMAGENET;
    } else {
        flag.normalize = GRAFT_FOLDER_NORM_SCALE;
        flag.scale = 255.0f;
    }
    if (norm && saved &&
        (flag.normalize != fo->normalize ||
         (flag.normalize == GRAFT_FOLDER_NORM_SCALE && flag.scale != fo->scale))) {
        char was[128];
        norm_text(fo, was, sizeof was);
        cliError("note: --normalize %s overrides the model's saved preprocessing, %s", norm, was);
    }
    *fo = flag;
    int threads;
    cliInt(a, "threads", 2, 1, 64, &threads); /* checked above */
    fo->threads = threads;
    return 0;
}

int cliSetPreprocess(graft_model *m, const graft_folder_opts *fo)
{
    graft_preprocess p = GRAFT_PREPROCESS_INIT;
    p.channels = fo->channels;
    p.width = fo->width;
    p.height = fo->height;
    p.resize = fo->resize;
    p.shorter_side = fo->shorter_side;
    p.normalize = fo->normalize;
    p.scale = fo->scale;
    memcpy(p.mean, fo->mean, sizeof p.mean);
    memcpy(p.std, fo->std, sizeof p.std);
    return graft_model_set_preprocess(m, &p);
}

void cliHintSkipBad(int status, const char *message)
{
    if (status == GRAFT_E_FORMAT || status == GRAFT_E_UNSUPPORTED ||
        (message && strstr(message, "cannot read sample")))
        cliError("--skip-bad decodes every image first and leaves out, and lists, those that cannot "
                 "be read");
}

void cliReportSkipped(const graft_dataset *ds, const char *dir)
{
    int64_t n = graft_dataset_skipped_count(ds);
    if (n == 0) return;
    cliError("skipped %lld unreadable image file%s under %s (--skip-bad):", (long long)n,
             n == 1 ? "" : "s", dir);
    for (int64_t i = 0; i < n; i++)
        fprintf(stderr, "  %s: %s\n", graft_dataset_skipped_path(ds, i),
                graft_dataset_skipped_reason(ds, i));
}

void cliJsonSkippedFiles(FILE *f, const graft_dataset *ds)
{
    int64_t n = graft_dataset_skipped_count(ds);
    fputc('[', f);
    for (int64_t i = 0; i < n; i++) {
        fprintf(f, "%s{\"path\": ", i ? ", " : "");
        cliJsonString(f, graft_dataset_skipped_path(ds, i));
        fprintf(f, ", \"reason\": ");
        cliJsonString(f, graft_dataset_skipped_reason(ds, i));
        fputc('}', f);
    }
    fputc(']', f);
}
