/* cmd_info.c - `graft info MODEL`: the model's summary table. */
#include "cli.h"

#include <stdlib.h>
#include <string.h>

static const char usage[] =
    "usage: graft info MODEL [--json] [--input-shape S]\n"
    "\n"
    "Prints the layers of MODEL (a .graft file or an .onnx file): name, kind,\n"
    "inputs, output shape, parameters and whether each is trainable, then the\n"
    "totals and the class names. For an .onnx file graft cannot import because\n"
    "of nodes it does not support, it lists those nodes instead, one a line,\n"
    "and exits with status 1.\n"
    "  --json           one JSON object on standard output\n"
    CLI_INPUT_SHAPE_USAGE;

/* 1 when an item of graft_onnx_import()'s list of unsupported nodes starts
 * at s (just after a "; "): a node, "... and K more" or "M later nodes". */
static int item_starts(const char *s)
{
    if (!strncmp(s, "node \"", 6) || !strncmp(s, "node #", 6) || !strncmp(s, "... and ", 8))
        return 1;
    while (*s >= '0' && *s <= '9') s++;
    return !strncmp(s, " later node", 11);
}

/* Prints the unsupported nodes of graft_onnx_import()'s message text (the
 * part after "graft_onnx_import(): "; graft.h gives its form), one a line,
 * as text or as the JSON array's strings. */
static void print_gaps(const char *text, int json)
{
    const char *p = text, *head = strstr(text, " graft cannot import (");
    if (head && *text >= '0' && *text <= '9' && (head = strstr(head, "): "))) {
        if (!json) printf("%.*s\n", (int)(head + 2 - text), text);
        p = head + 3;
    }
    for (int first = 1; *p; first = 0) {
        const char *end = p;
        while (*end && !(end[0] == ';' && end[1] == ' ' && item_starts(end + 2))) end++;
        char item[1024];
        snprintf(item, sizeof item, "%.*s", (int)(end - p), p);
        if (json) {
            printf("%s\n  ", first ? "" : ",");
            cliJsonString(stdout, item);
        } else {
            printf("  %s\n", item);
        }
        p = *end ? end + 2 : end;
    }
}

/* Imports the ONNX file at path; an unsupported graph is listed (on
 * standard output) before the usual message (on standard error). */
static int import_onnx(graft_ctx *ctx, const char *path, cli_args *a, int json, graft_model **m)
{
    int st = cliImportOnnx(ctx, path, a, m);
    if (st == GRAFT_OK) return 0;
    const char *msg = graft_errmsg(ctx), *text = strstr(msg, "(): ");
    if (st == GRAFT_E_UNSUPPORTED && text) {
        if (json) {
            printf("{\"path\": ");
            cliJsonString(stdout, path);
            printf(", \"error\": ");
            cliJsonString(stdout, msg);
            printf(", \"unsupported\": [");
            print_gaps(text + 4, 1);
            printf("\n]}\n");
        } else {
            printf("%s: graft cannot import this model:\n", path);
            print_gaps(text + 4, 0);
        }
    }
    return cliFail(ctx, "cannot import the ONNX model");
}

/* The model's saved preprocessing (graft 1.3): a line of text, or a JSON
 * object (null when there is none). */
static void print_preprocess(const graft_model *m, int json)
{
    graft_preprocess p = GRAFT_PREPROCESS_INIT;
    int has = graft_model_get_preprocess(m, &p) == GRAFT_OK;
    static const char *const norms[] = {"scale", "imagenet", "mean_std"};
    const char *norm = p.normalize >= 0 && p.normalize <= 2 ? norms[p.normalize] : "?";
    const char *resize = p.resize == GRAFT_FOLDER_RESIZE_STRETCH ? "stretch" : "shorter_crop";
    if (json) {
        if (!has) {
            printf(", \"preprocess\": null");
            return;
        }
        printf(", \"preprocess\": {\"channels\": %d, \"height\": %d, \"width\": %d, "
               "\"resize\": \"%s\", \"shorter_side\": %d, \"normalize\": \"%s\", \"scale\": ",
               p.channels, p.height, p.width, resize, p.shorter_side, norm);
        cliJsonNumber(stdout, p.scale);
        printf(", \"mean\": [%.9g, %.9g, %.9g], \"std\": [%.9g, %.9g, %.9g]}", p.mean[0],
               p.mean[1], p.mean[2], p.std[0], p.std[1], p.std[2]);
        return;
    }
    if (!has) {
        printf("Preprocessing: none saved\n");
        return;
    }
    printf("Preprocessing: %s, %d x %d, ", p.channels == 1 ? "grey" : "RGB", p.width, p.height);
    if (p.resize == GRAFT_FOLDER_RESIZE_STRETCH) printf("stretched");
    else {
        int longer = p.width > p.height ? p.width : p.height;
        printf("shorter side to %d, centre crop",
               p.shorter_side ? p.shorter_side : (longer * 256 + 112) / 224);
    }
    if (p.normalize == GRAFT_FOLDER_NORM_IMAGENET) printf(", ImageNet mean and std\n");
    else if (p.normalize == GRAFT_FOLDER_NORM_MEAN_STD)
        printf(", mean (%g, %g, %g), std (%g, %g, %g)\n", p.mean[0], p.mean[1], p.mean[2],
               p.std[0], p.std[1], p.std[2]);
    else if (p.scale == 255.0f) printf(", values in [0, 255]\n");
    else if (p.scale == 1.0f) printf(", values in [0, 1]\n");
    else printf(", values in [0, 1] times %g\n", p.scale);
}

int cmd_info(int argc, char **argv, cli_out *out)
{
    static const char *const accepted[] = {"json", "quiet", "input-shape=", "help", NULL};
    cli_args a;
    if (cliParse(argc, argv, accepted, &a)) return 2;
    if (cliFlag(&a, "help")) {
        fputs(usage, stdout);
        return 0;
    }
    if (a.n_pos != 1) {
        fputs(usage, stderr);
        return 2;
    }
    if (cliInputShapeCheck(&a, a.pos[0])) return 2;
    graft_ctx *ctx;
    if (graft_ctx_create(&ctx) != GRAFT_OK) return cliFail(NULL, "cannot start");
    graft_model *m;
    size_t len = strlen(a.pos[0]);
    int onnx = len > 5 && strcmp(a.pos[0] + len - 5, ".onnx") == 0;
    if (onnx ? import_onnx(ctx, a.pos[0], &a, out->json, &m) : cliLoadModel(ctx, a.pos[0], &a, &m)) {
        graft_ctx_free(ctx);
        return 1;
    }
    if (out->json) {
        printf("{\"path\": ");
        cliJsonString(stdout, a.pos[0]);
        printf(", \"layers\": [");
        for (int i = 0; i < graft_model_layer_count(m); i++) {
            int nd;
            int64_t d[GRAFT_MAX_DIMS];
            graft_model_layer_output_shape(m, i, &nd, d);
            printf("%s\n  {\"name\": ", i ? "," : "");
            cliJsonString(stdout, graft_model_layer_name(m, i));
            printf(", \"kind\": ");
            cliJsonString(stdout, graft_layer_kind(graft_model_layer(m, i)));
            printf(", \"inputs\": [");
            for (int k = 0; k < graft_model_layer_input_count(m, i); k++) {
                if (k) printf(", ");
                cliJsonString(stdout, graft_model_layer_input_name(m, i, k));
            }
            printf("], \"output_shape\": [");
            for (int k = 0; k < nd; k++) printf("%s%lld", k ? ", " : "", (long long)d[k]);
            printf("], \"params\": %lld, \"trainable\": %s}",
                   (long long)graft_model_layer_param_count(m, i),
                   graft_model_layer_trainable(m, i) ? "true" : "false");
        }
        printf("\n], \"params\": %lld, \"trainable_params\": %lld, \"flops\": %lld, \"classes\": [",
               (long long)graft_model_param_count(m, 0), (long long)graft_model_param_count(m, 1),
               (long long)graft_model_flops(m));
        for (int c = 0; c < graft_model_class_count(m); c++) {
            const char *name = graft_model_class_name(m, c);
            if (!name) break;
            if (c) printf(", ");
            cliJsonString(stdout, name);
        }
        printf("]");
        print_preprocess(m, 1);
        printf("}\n");
    } else {
        size_t need = 0;
        graft_model_summary(m, NULL, 0, &need);
        char *buf = malloc(need + 1);
        if (buf && graft_model_summary(m, buf, need + 1, NULL) == GRAFT_OK) fputs(buf, stdout);
        free(buf);
        if (graft_model_class_name(m, 0)) {
            printf("Classes (%d):", graft_model_class_count(m));
            for (int c = 0; c < graft_model_class_count(m); c++) printf(" %s", graft_model_class_name(m, c));
            printf("\n");
        }
        printf("Epochs trained: %lld\n", (long long)graft_model_epochs_done(m));
        print_preprocess(m, 0);
    }
    graft_model_free(m);
    graft_ctx_free(ctx);
    return 0;
}
