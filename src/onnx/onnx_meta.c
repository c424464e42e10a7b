/*
 * onnx_meta.c - the model's input preprocessing in ONNX metadata_props
 * (graft's own keys, "graft.preprocess.*"; docs/ONNX.md, "Metadata").
 *
 * Every value is text: whole numbers in decimal, the modes by name, and
 * floats in the shortest "%.9g" form that gives the same float back,
 * written and read in the "C" locale whatever the program's (uselocale()
 * is per thread), so a file means the same everywhere.
 */
#include "onnx_meta.h"
#include "core/protobuf.h"
#include "model/model.h"

#include <locale.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PREFIX "graft.preprocess."

/* The keys, in the order they are written. */
enum { K_VERSION, K_CHANNELS, K_WIDTH, K_HEIGHT, K_RESIZE, K_SHORTER, K_NORMALIZE, K_SCALE,
       K_MEAN, K_STD, K_COUNT };
static const char *const keys[K_COUNT] = {
    PREFIX "version", PREFIX "channels",  PREFIX "width", PREFIX "height",
    PREFIX "resize",  PREFIX "shorter_side", PREFIX "normalize", PREFIX "scale",
    PREFIX "mean",    PREFIX "std"};

static const char *const resize_names[] = {"shorter_crop", "stretch"};
static const char *const norm_names[] = {"scale", "imagenet", "mean_std"};

static void write_entry(graftWriter *w, const char *key, const char *value)
{
    size_t at = graftPbBeginMessage(w, 14);
    graftPbWriteString(w, 1, key);
    graftPbWriteString(w, 2, value);
    graftPbEndMessage(w, at);
}

/* "%.9g" of v in the "C" locale (the caller has switched to it). */
static void float_text(char *buf, size_t size, float v)
{
    for (int digits = 6; digits <= 9; digits++) {
        snprintf(buf, size, "%.*g", digits, (double)v);
        if (strtof(buf, NULL) == v) return;
    }
}

void graftOnnxWritePreprocess(graftWriter *w, const graft_model *m)
{
    if (!m->has_preprocess) return;
    const graft_preprocess *p = &m->preprocess;
    locale_t c_locale = newlocale(LC_NUMERIC_MASK, "C", (locale_t)0);
    if (!c_locale) {
        if (w->status == GRAFT_OK)
            w->status = graftError(w->ctx, GRAFT_E_NOMEM, __func__, "cannot create the C locale");
        return;
    }
    locale_t old = uselocale(c_locale);
    char buf[160], a[32], b[32], c[32];
    write_entry(w, keys[K_VERSION], "1");
    snprintf(buf, sizeof buf, "%d", p->channels);
    write_entry(w, keys[K_CHANNELS], buf);
    snprintf(buf, sizeof buf, "%d", p->width);
    write_entry(w, keys[K_WIDTH], buf);
    snprintf(buf, sizeof buf, "%d", p->height);
    write_entry(w, keys[K_HEIGHT], buf);
    write_entry(w, keys[K_RESIZE], resize_names[p->resize]);
    snprintf(buf, sizeof buf, "%d", p->shorter_side);
    write_entry(w, keys[K_SHORTER], buf);
    write_entry(w, keys[K_NORMALIZE], norm_names[p->normalize]);
    float_text(buf, sizeof buf, p->scale);
    write_entry(w, keys[K_SCALE], buf);
    for (int k = 0; k < 2; k++) {
        const float *v = k ? p->std : p->mean;
        float_text(a, sizeof a, v[0]);
        float_text(b, sizeof b, v[1]);
        float_text(c, sizeof c, v[2]);
        snprintf(buf, sizeof buf, "%s,%s,%s", a, b, c);
        write_entry(w, keys[k ? K_STD : K_MEAN], buf);
    }
    uselocale(old);
    freelocale(c_locale);
}

/* A whole number in [lo, hi] written with digits only (a leading '-'
 * allowed when lo < 0). */
static int parse_int(const char *s, int lo, int hi, int *out)
{
    const char *p = s;
    int neg = *p == '-' && lo < 0;
    if (neg) p++;
    if (!*p) return -1;
    long long v = 0;
    for (; *p; p++) {
        if (*p < '0' || *p > '9') return -1;
        v = v * 10 + (*p - '0');
        if (v > 1000000000LL) return -1;
    }
    if (neg) v = -v;
    if (v < lo || v > hi) return -1;
    *out = (int)v;
    return 0;
}

/* n floats separated by ',' (strtof in the "C" locale; every character used,
 * no blanks, finite). */
static int parse_floats(const char *s, int n, float *out)
{
    const char *p = s;
    for (int i = 0; i < n; i++) {
        if (!((*p >= '0' && *p <= '9') || *p == '-' || *p == '+' || *p == '.')) return -1;
        char *end;
        float v = strtof(p, &end);
        if (end == p || !isfinite(v)) return -1;
        out[i] = v;
        p = end;
        if (i + 1 < n) {
            if (*p != ',') return -1;
            p++;
        }
    }
    return *p ? -1 : 0;
}

static int parse_name(const char *s, const char *const *names, int n, int *out)
{
    for (int i = 0; i < n; i++)
        if (strcmp(s, names[i]) == 0) {
            *out = i;
            return 0;
        }
    return -1;
}

static int parse_all(graft_ctx *ctx, const char *func, const char *const *v,
                     graft_preprocess *p)
{
    int version = 0;
    if (parse_int(v[K_VERSION], 1, 1000000, &version) != 0)
        return graftError(ctx, GRAFT_E_FORMAT, func,
                          "metadata_props \"%s\" is \"%s\", not a version number",
                          keys[K_VERSION], v[K_VERSION]);
    if (version != 1)
        return graftError(ctx, GRAFT_E_VERSION, func,
                          "metadata_props \"%s\" is %d; this graft reads version 1",
                          keys[K_VERSION], version);
    int *ints[4] = {&p->channels, &p->width, &p->height, &p->shorter_side};
    static const int which[4] = {K_CHANNELS, K_WIDTH, K_HEIGHT, K_SHORTER};
    for (int i = 0; i < 4; i++)
        if (parse_int(v[which[i]], -1000000000, 1000000000, ints[i]) != 0)
            return graftError(ctx, GRAFT_E_FORMAT, func,
                              "metadata_props \"%s\" is \"%s\", not a whole number",
                              keys[which[i]], v[which[i]]);
    if (parse_name(v[K_RESIZE], resize_names, 2, &p->resize) != 0)
        return graftError(ctx, GRAFT_E_FORMAT, func,
                          "metadata_props \"%s\" is \"%s\", must be shorter_crop or stretch",
                          keys[K_RESIZE], v[K_RESIZE]);
    if (parse_name(v[K_NORMALIZE], norm_names, 3, &p->normalize) != 0)
        return graftError(ctx, GRAFT_E_FORMAT, func,
                          "metadata_props \"%s\" is \"%s\", must be scale, imagenet or "
                          "mean_std", keys[K_NORMALIZE], v[K_NORMALIZE]);
    static const int fk[3] = {K_SCALE, K_MEAN, K_STD};
    float *fv[3] = {&p->scale, p->mean, p->std};
    for (int i = 0; i < 3; i++)
        if (parse_floats(v[fk[i]], i ? 3 : 1, fv[i]) != 0)
            return graftError(ctx, GRAFT_E_FORMAT, func,
                              "metadata_props \"%s\" is \"%s\", not %s", keys[fk[i]],
                              v[fk[i]], i ? "three finite numbers separated by commas"
                                          : "a finite number");
    return GRAFT_OK;
}

int graftOnnxReadPreprocess(graft_ctx *ctx, const char *func, const onnxModel *om,
                            graft_preprocess *out, int *found)
{
    const char *v[K_COUNT] = {NULL};
    int any = 0;
    *found = 0;
    for (int i = 0; i < om->n_meta; i++) {
        const char *key = om->meta_keys[i];
        if (strncmp(key, PREFIX, strlen(PREFIX)) != 0) continue;
        any = 1;
        int k = 0;
        while (k < K_COUNT && strcmp(key, keys[k]) != 0) k++;
        GRAFT_RETURN_IF_AT(k == K_COUNT, ctx, GRAFT_E_FORMAT, func,
                           "metadata_props has the key \"%s\", which graft does not know", key);
        GRAFT_RETURN_IF_AT(v[k] != NULL, ctx, GRAFT_E_FORMAT, func,
                           "metadata_props has the key \"%s\" twice", key);
        v[k] = om->meta_values[i];
    }
    if (!any) return GRAFT_OK;
    for (int k = 0; k < K_COUNT; k++)
        GRAFT_RETURN_IF_AT(!v[k], ctx, GRAFT_E_FORMAT, func,
                           "metadata_props has graft.preprocess keys but not \"%s\"", keys[k]);
    locale_t c_locale = newlocale(LC_NUMERIC_MASK, "C", (locale_t)0);
    GRAFT_RETURN_IF_AT(!c_locale, ctx, GRAFT_E_NOMEM, func, "cannot create the C locale");
    locale_t old = uselocale(c_locale);
    graft_preprocess p = GRAFT_PREPROCESS_INIT;
    int st = parse_all(ctx, func, v, &p);
    uselocale(old);
    freelocale(c_locale);
    if (st != GRAFT_OK) return st;
    *out = p;
    *found = 1;
    return GRAFT_OK;
}
