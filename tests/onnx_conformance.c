/*
 * onnx_conformance.c - runs ONNX's own operator and model tests (Debian's
 * libonnx-testdata) through graft_onnx_import() and graft_model_forward().
 *
 * Each test is a folder holding model.onnx and test_data_set_0/ with
 * input_K.pb and output_K.pb (TensorProto files; input K belongs to the K-th
 * graph input that has no initializer). A test runs when graft can express
 * its graph: one graph input becomes the model input and the others are
 * bound to their test values as constants; the import is tried with the
 * first axis as the batch axis, then without a batch axis, for each float
 * input in turn. The first import that succeeds is run on the test's input
 * and its output compared with output_0.pb (same element count and shape,
 * |graft - onnx| <= 1e-7 + 1e-3 * |onnx|, ONNX's own tolerance). A test
 * whose every import attempt is refused with GRAFT_E_UNSUPPORTED or
 * GRAFT_E_VERSION is skipped, with graft's message as the reason (the first
 * refusal that names a node, else the first refusal); any other failure
 * fails the test.
 *
 * Usage: onnx_conformance [-d DATA_DIR] [-m SKIPPED_MD] [-v] [FILTER]
 *   -d  the data folder (default /usr/share/libonnx-testdata/data)
 *   -m  write the skipped tests and their reasons as a Markdown table
 *   -v  print every test's result
 *   FILTER  run only tests whose "suite/name" contains this text
 * The last line is "N passed, N failed, N skipped"; the exit status is 0
 * when no test failed.
 */
#include "graft.h"
#include "onnx/onnx_pb.h"

#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define MAX_INPUTS 16

static const char *const suites[] = {"node", "pytorch-converted", "pytorch-operator", "simple",
                                     "real"};

typedef struct tensor_file {
    int ndim;
    int64_t dims[ONNX_MAX_RANK];
    size_t numel;
    float *data;
} tensor_file;

typedef struct skip_entry {
    char *name;
    char *reason;
} skip_entry;

static skip_entry *skipped;
static size_t n_skipped, cap_skipped;

/* 1 when an import message (after "func(): ") names the node refused, or
 * lists several ("N nodes graft cannot import (...): ..."). */
static int names_nodes(const char *body)
{
    if (strncmp(body, "node ", 5) == 0) return 1;
    while (*body >= '0' && *body <= '9') body++;
    return strncmp(body, " nodes graft cannot import (", 28) == 0;
}

static void add_skip(const char *name, const char *reason)
{
    if (n_skipped == cap_skipped) {
        cap_skipped = cap_skipped ? 2 * cap_skipped : 64;
        skipped = realloc(skipped, cap_skipped * sizeof *skipped);
        if (!skipped) exit(2);
    }
    skipped[n_skipped].name = strdup(name);
    skipped[n_skipped].reason = strdup(reason);
    n_skipped++;
}

static unsigned char *read_all(const char *path, size_t *size)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    size_t cap = 1 << 16, n = 0;
    unsigned char *buf = malloc(cap);
    while (buf) {
        n += fread(buf + n, 1, cap - n, f);
        if (n < cap) break;
        unsigned char *b = realloc(buf, cap * 2);
        if (!b) {
            free(buf);
            buf = NULL;
            break;
        }
        buf = b;
        cap *= 2;
    }
    fclose(f);
    *size = n;
    return buf;
}

/* Reads a TensorProto file as floats. Returns 0 on success, 1 when the file
 * is absent, -1 when graft cannot read it (message in why). */
static int read_tensor(graft_ctx *ctx, const char *path, tensor_file *t, char *why, size_t wsize)
{
    size_t size;
    unsigned char *buf = read_all(path, &size);
    memset(t, 0, sizeof *t);
    if (!buf) return 1;
    onnxModel owner;
    onnxTensor pt;
    memset(&owner, 0, sizeof owner);
    owner.ctx = ctx;
    int st = graftOnnxTensorDecode(&owner, "onnx_conformance", buf, size, &pt);
    if (st == GRAFT_OK) st = graftOnnxTensorNumel(ctx, "onnx_conformance", &pt, &t->numel);
    if (st == GRAFT_OK) {
        t->data = malloc((t->numel ? t->numel : 1) * sizeof *t->data);
        st = t->data ? graftOnnxTensorReadF32(ctx, "onnx_conformance", &pt, t->data, t->numel)
                     : GRAFT_E_NOMEM;
        t->ndim = pt.ndim;
        memcpy(t->dims, pt.dims, sizeof t->dims);
    }
    if (st != GRAFT_OK) snprintf(why, wsize, "%s: %s", path, graft_errmsg(ctx));
    graftOnnxModelDispose(&owner);
    free(buf);
    return st == GRAFT_OK ? 0 : -1;
}

static int close_enough(float got, float want)
{
    if (isnan(want)) return isnan(got);
    if (isinf(want)) return got == want;
    return fabsf(got - want) <= 1e-7f + 1e-3f * fabsf(want);
}

typedef enum { R_PASS, R_FAIL, R_SKIP } result;

/* Runs one test folder; the reason goes to why. */
static result run_test(const char *dir, char *why, size_t wsize)
{
    char path[4096];
    result res = R_SKIP;
    size_t size;
    if ((size_t)snprintf(path, sizeof path, "%s/model.onnx", dir) >= sizeof path) {
        snprintf(why, wsize, "the path is too long");
        return R_FAIL;
    }
    unsigned char *model = read_all(path, &size);
    if (!model) {
        snprintf(why, wsize, "no model.onnx: the test names a model to download, which the "
                 "package does not ship");
        return R_SKIP;
    }
    graft_ctx *ctx = NULL;
    if (graft_ctx_create(&ctx) != GRAFT_OK) exit(2);
    onnxModel om;
    tensor_file inputs[MAX_INPUTS], expected;
    const char *names[MAX_INPUTS];
    int n_in = 0, float_in[MAX_INPUTS];
    memset(inputs, 0, sizeof inputs);
    memset(&expected, 0, sizeof expected);
    int st = graftOnnxModelDecode(ctx, "onnx_conformance", model, size, &om);
    if (st != GRAFT_OK) {
        snprintf(why, wsize, "%s", graft_errmsg(ctx));
        res = R_FAIL;
        goto done_model;
    }
    for (int k = 0; k < om.graph.n_inputs; k++) {
        const char *name = om.graph.inputs[k].name;
        int is_init = 0;
        for (int j = 0; j < om.graph.n_inits; j++)
            if (strcmp(om.graph.inits[j].name, name) == 0) is_init = 1;
        if (is_init) continue;
        if (n_in == MAX_INPUTS) {
            snprintf(why, wsize, "more than %d graph inputs", MAX_INPUTS);
            goto done;
        }
        float_in[n_in] = om.graph.inputs[k].elem_type == 1;
        names[n_in++] = name;
    }
    for (int k = 0; k < n_in; k++) {
        if ((size_t)snprintf(path, sizeof path, "%s/test_data_set_0/input_%d.pb", dir, k) >=
            sizeof path)
            goto done;
        int r = read_tensor(ctx, path, &inputs[k], why, wsize);
        if (r == 1) {
            snprintf(why, wsize, "graph input %d (\"%s\") has no test data", k, names[k]);
            goto done;
        }
        if (r < 0) goto done;
    }
    if ((size_t)snprintf(path, sizeof path, "%s/test_data_set_0/output_0.pb", dir) >= sizeof path)
        goto done;
    int r = read_tensor(ctx, path, &expected, why, wsize);
    if (r == 1) snprintf(why, wsize, "no output_0.pb");
    if (r != 0) goto done;

    char first_refusal[1024] = "";
    for (int batch_axis = 1; batch_axis >= 0; batch_axis--) {
        for (int choice = 0; choice < n_in; choice++) {
            if (!float_in[choice]) continue;
            graft_tensor *bound[MAX_INPUTS];
            const char *bound_names[MAX_INPUTS];
            int nb = 0, ok = 1;
            for (int k = 0; k < n_in && ok; k++) {
                if (k == choice) continue;
                int64_t one = 1;
                int nd = inputs[k].ndim ? inputs[k].ndim : 1;
                const int64_t *dims = inputs[k].ndim ? inputs[k].dims : &one;
                int zero = inputs[k].numel == 0;
                if (zero || graft_tensor_create(ctx, nd, dims, &bound[nb]) != GRAFT_OK) {
                    if (!first_refusal[0])
                        snprintf(first_refusal, sizeof first_refusal,
                                 "input \"%s\" is empty or cannot be held in a graft tensor",
                                 names[k]);
                    ok = 0;
                    break;
                }
                graft_tensor_copy_from(bound[nb], inputs[k].data, inputs[k].numel);
                bound_names[nb++] = names[k];
            }
            graft_model *m = NULL;
            int ist = GRAFT_E_UNSUPPORTED;
            if (ok) {
                graft_onnx_import_opts o = GRAFT_ONNX_IMPORT_OPTS_INIT;
                o.batch_axis = batch_axis;
                o.keep_softmax = 1;
                o.input_name = names[choice];
                o.n_bound = nb;
                o.bound_names = bound_names;
                o.bound_values = (const graft_tensor *const *)bound;
                ist = graft_onnx_import_buffer(ctx, model, size, &o, &m);
            }
            for (int k = 0; k < nb; k++) graft_tensor_free(bound[k]);
            if (!ok) continue;
            if (ist != GRAFT_OK) {
                if (ist != GRAFT_E_UNSUPPORTED && ist != GRAFT_E_VERSION) {
                    snprintf(why, wsize, "import (batch_axis %d, input \"%s\"): %s", batch_axis,
                             names[choice], graft_errmsg(ctx));
                    res = R_FAIL;
                    goto done;
                }
                /* Keep the first refusal, or the first that names a node
                 * (or lists several): it says more than one about the
                 * graph's input. */
                const char *msg = graft_errmsg(ctx), *body = strstr(msg, "(): ");
                body = body ? body + 4 : msg;
                if (!first_refusal[0] || (!names_nodes(first_refusal) && names_nodes(body)))
                    snprintf(first_refusal, sizeof first_refusal, "%s", body);
                continue;
            }
            /* Run it. */
            const tensor_file *in = &inputs[choice];
            int64_t dims[GRAFT_MAX_DIMS];
            int nd = 0;
            if (!batch_axis) dims[nd++] = 1;
            for (int d = 0; d < in->ndim && nd < GRAFT_MAX_DIMS; d++) dims[nd++] = in->dims[d];
            graft_tensor *x = NULL;
            const graft_tensor *y = NULL;
            res = R_FAIL;
            if (graft_tensor_create(ctx, nd, dims, &x) != GRAFT_OK ||
                graft_tensor_copy_from(x, in->data, in->numel) != GRAFT_OK) {
                snprintf(why, wsize, "cannot make the input tensor: %s", graft_errmsg(ctx));
            } else if (graft_model_forward(m, x, &y) != GRAFT_OK) {
                snprintf(why, wsize, "forward: %s", graft_errmsg(ctx));
            } else {
                int64_t want[GRAFT_MAX_DIMS + 1];
                int wn = 0;
                if (!batch_axis) want[wn++] = 1;
                for (int d = 0; d < expected.ndim && wn < GRAFT_MAX_DIMS; d++)
                    want[wn++] = expected.dims[d];
                int same = graft_tensor_ndim(y) == wn ||
                           (expected.ndim == 0 && graft_tensor_numel(y) == 1);
                for (int d = 0; same && d < wn && graft_tensor_ndim(y) == wn; d++)
                    same = graft_tensor_dim(y, d) == want[d];
                if (!same || graft_tensor_numel(y) != expected.numel) {
                    snprintf(why, wsize, "output has %d dimensions and %zu elements, expected %d "
                             "and %zu", graft_tensor_ndim(y), graft_tensor_numel(y), wn,
                             expected.numel);
                } else {
                    const float *g = graft_tensor_data_const(y);
                    size_t bad = expected.numel;
                    for (size_t e = 0; e < expected.numel && bad == expected.numel; e++)
                        if (!close_enough(g[e], expected.data[e])) bad = e;
                    if (bad < expected.numel)
                        snprintf(why, wsize, "element %zu is %.9g, expected %.9g (batch_axis %d)",
                                 bad, (double)g[bad], (double)expected.data[bad], batch_axis);
                    else
                        res = R_PASS;
                }
            }
            graft_tensor_free(x);
            graft_model_free(m);
            goto done;
        }
    }
    snprintf(why, wsize, "%s",
             first_refusal[0] ? first_refusal
                              : "no graph input of type float; graft models take float tensors");
    res = R_SKIP;
done:
    for (int k = 0; k < n_in; k++) free(inputs[k].data);
    free(expected.data);
    graftOnnxModelDispose(&om);
done_model:
    free(model);
    graft_ctx_free(ctx);
    return res;
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Writes the skipped tests as Markdown. */
static int write_markdown(const char *path, const char *data_dir, int passed, int failed)
{
    FILE *f = fopen(path, "w");
    if (!f) return -1;
    fprintf(f, "# ONNX conformance: skipped tests\n\n");
    fprintf(f, "Generated by `tests/onnx_conformance -m` (see its header comment and\n"
               "`docs/ONNX.md`) over Debian's libonnx-testdata in `%s`.\n\n", data_dir);
    fprintf(f, "Result: %d passed, %d failed, %zu skipped.\n\n", passed, failed, n_skipped);
    fprintf(f, "A test is skipped when graft refuses to import its graph (with\n"
               "`GRAFT_E_UNSUPPORTED` or `GRAFT_E_VERSION`) in every way the runner tries;\n"
               "the reason is graft's message (of graft_onnx_import_buffer()) for the first\n"
               "attempt refused at a node (or at several: graft lists every node it cannot\n"
               "import), or else for the first attempt.\n\n");
    fprintf(f, "| Test | Reason |\n|------|--------|\n");
    for (size_t k = 0; k < n_skipped; k++) {
        fprintf(f, "| %s | ", skipped[k].name);
        for (const char *p = skipped[k].reason; *p; p++) {
            if (*p == '|') fputs("\\|", f);
            else if (*p == '\n') fputc(' ', f);
            else fputc(*p, f);
        }
        fprintf(f, " |\n");
    }
    return fclose(f) == 0 ? 0 : -1;
}

int main(int argc, char **argv)
{
    const char *data_dir = "/usr/share/libonnx-testdata/data", *md = NULL, *filter = NULL;
    int verbose = 0;
    for (int k = 1; k < argc; k++) {
        if (!strcmp(argv[k], "-d") && k + 1 < argc) data_dir = argv[++k];
        else if (!strcmp(argv[k], "-m") && k + 1 < argc) md = argv[++k];
        else if (!strcmp(argv[k], "-v")) verbose = 1;
        else if (argv[k][0] != '-' && !filter) filter = argv[k];
        else {
            fprintf(stderr, "usage: %s [-d DATA_DIR] [-m SKIPPED_MD] [-v] [FILTER]\n", argv[0]);
            return 2;
        }
    }
    int passed = 0, failed = 0, found = 0;
    for (size_t s = 0; s < sizeof suites / sizeof suites[0]; s++) {
        char dirpath[4096];
        if ((size_t)snprintf(dirpath, sizeof dirpath, "%s/%s", data_dir, suites[s]) >=
            sizeof dirpath)
            continue;
        DIR *d = opendir(dirpath);
        if (!d) continue;
        found = 1;
        char **names = NULL;
        size_t n = 0, cap = 0;
        struct dirent *e;
        while ((e = readdir(d))) {
            if (e->d_name[0] == '.') continue;
            if (n == cap) {
                cap = cap ? 2 * cap : 256;
                names = realloc(names, cap * sizeof *names);
                if (!names) return 2;
            }
            names[n++] = strdup(e->d_name);
        }
        closedir(d);
        qsort(names, n, sizeof *names, cmp_names);
        for (size_t k = 0; k < n; k++) {
            char label[1024], dir[4096], why[2048] = "";
            int too_long = (size_t)snprintf(label, sizeof label, "%s/%s", suites[s], names[k]) >=
                               sizeof label ||
                           (size_t)snprintf(dir, sizeof dir, "%s/%s", dirpath, names[k]) >=
                               sizeof dir;
            free(names[k]);
            if (too_long || (filter && !strstr(label, filter))) continue;
            result r = run_test(dir, why, sizeof why);
            if (r == R_PASS) passed++;
            else if (r == R_FAIL) failed++;
            else add_skip(label, why);
            if (r == R_FAIL) printf("FAIL %s: %s\n", label, why);
            else if (verbose) printf("%s %s%s%s\n", r == R_PASS ? "pass" : "skip", label,
                                     r == R_SKIP ? ": " : "", r == R_SKIP ? why : "");
        }
        free(names);
    }
    if (!found) {
        fprintf(stderr, "onnx_conformance: no test data in %s (install libonnx-testdata)\n",
                data_dir);
        return 2;
    }
    if (md && write_markdown(md, data_dir, passed, failed) != 0) {
        fprintf(stderr, "onnx_conformance: cannot write %s: %s\n", md, strerror(errno));
        return 2;
    }
    printf("%d passed, %d failed, %zu skipped\n", passed, failed, n_skipped);
    for (size_t k = 0; k < n_skipped; k++) {
        free(skipped[k].name);
        free(skipped[k].reason);
    }
    free(skipped);
    return failed ? 1 : 0;
}
