/*
 * dataset_csv.c - datasets from CSV files: one sample per line, numeric
 * fields, one of them the label.
 *
 * The file is read line by line (plain or gzip, through graftFileReader)
 * and parsed strictly: a field's syntax is checked here, so "nan", "inf",
 * hexadecimal numbers, "1,5" in a comma-separated file or an empty field are
 * errors that name the line and column, and only then is the text converted
 * by strtod() in the "C" locale (uselocale() is per thread), so a program
 * that set another LC_NUMERIC reads the same numbers.
 *
 * The samples are stored as floats (value * scale) in arrays that double as
 * rows arrive; the source owns them.
 *
 * Reading is bounded: a line is at most CSV_MAX_LINE (16 MiB) and a file at
 * most CSV_MAX_BYTES (4 GiB of text, once decompressed; a value takes at
 * least 2 bytes of it, a digit and a separator, so at most 8 GiB of
 * floats). A plain file over that is refused from its size before anything
 * is read; FIFOs and devices are refused (file_reader.c).
 */
#include "dataset.h"
#include "core/options.h"
#include "file_reader.h"

#include <locale.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const FUNC = "graft_dataset_from_csv";

#define CSV_MAX_LINE ((size_t)16 << 20)
/* The most bytes a CSV file may hold, once decompressed: 4 GiB (see
 * graft_dataset_from_csv() in graft.h). A plain file over it is refused
 * from its size before anything is read; a gzip file as soon as its
 * decompressed text passes it. */
#define CSV_MAX_BYTES ((uint64_t)1 << 32)
#define CSV_CHUNK 65536

/* ---- the source ---------------------------------------------------------------- */

typedef struct csv_source {
    float *features; /* count * numel */
    int32_t *labels; /* count; NULL with float targets */
    float *targets;  /* count * n_targets (opts->n_targets, since 1.3), or NULL */
} csv_source;

static int csv_get(graftSource *src, int64_t i, float *features, int32_t *label)
{
    const csv_source *s = src->impl;
    if (features)
        memcpy(features, s->features + (size_t)i * src->sample_numel,
               src->sample_numel * sizeof(float));
    if (label) *label = s->labels ? s->labels[i] : -1;
    return GRAFT_OK;
}

static int csv_get_targets(graftSource *src, int64_t i, float *targets)
{
    const csv_source *s = src->impl;
    const size_t n = (size_t)src->n_targets;
    memcpy(targets, s->targets + (size_t)i * n, n * sizeof(float));
    return GRAFT_OK;
}

static void csv_destroy(graftSource *src)
{
    csv_source *s = src->impl;
    if (!s) return;
    graftFree(src->ctx, s->features);
    graftFree(src->ctx, s->labels);
    graftFree(src->ctx, s->targets);
    graftFree(src->ctx, s);
    src->impl = NULL;
}

static const graftSourceVtbl csv_vtbl = {
    .get = csv_get,
    .destroy = csv_destroy,
};

static const graftSourceVtbl csv_targets_vtbl = {
    .get = csv_get,
    .destroy = csv_destroy,
    .get_targets = csv_get_targets,
};

/* ---- lines ------------------------------------------------------------------- */

typedef struct line_reader {
    graftFileReader f;
    unsigned char *chunk;
    size_t chunk_len, chunk_pos;
    int eof;
    char *line; /* the current line, without its LF (and CR) */
    size_t len, cap;
    int64_t number; /* 1-based number of the current line */
    uint64_t total; /* bytes read (decompressed), at most CSV_MAX_BYTES */
} line_reader;

/* Appends n bytes to the line, growing it up to CSV_MAX_LINE. */
static int line_append(line_reader *lr, const unsigned char *p, size_t n)
{
    graft_ctx *ctx = lr->f.ctx;
    if (lr->len + n + 1 > lr->cap) {
        GRAFT_RETURN_IF_AT(lr->len + n > CSV_MAX_LINE, ctx, GRAFT_E_FORMAT, FUNC,
                           "'%s' line %lld is longer than 16 MiB", lr->f.path,
                           (long long)lr->number);
        size_t cap = lr->cap ? lr->cap : 256;
        while (cap < lr->len + n + 1) cap *= 2;
        char *q = graftAlloc(ctx, cap);
        GRAFT_RETURN_IF_AT(!q, ctx, GRAFT_E_NOMEM, FUNC, "cannot allocate a line of %zu bytes",
                           cap);
        if (lr->len) memcpy(q, lr->line, lr->len);
        graftFree(ctx, lr->line);
        lr->line = q;
        lr->cap = cap;
    }
    memcpy(lr->line + lr->len, p, n);
    lr->len += n;
    lr->line[lr->len] = '\0';
    return GRAFT_OK;
}

/* Reads the next line; *have is 0 at the end of the file. */
static int line_next(line_reader *lr, int *have)
{
    *have = 0;
    lr->len = 0;
    if (lr->line) lr->line[0] = '\0';
    int any = 0;
    for (;;) {
        if (lr->chunk_pos == lr->chunk_len) {
            if (lr->eof) break;
            GRAFT_FORWARD_IF_ERROR(graftFileRead(&lr->f, lr->chunk, CSV_CHUNK, &lr->chunk_len));
            lr->total += lr->chunk_len;
            GRAFT_RETURN_IF_AT(lr->total > CSV_MAX_BYTES, lr->f.ctx, GRAFT_E_FORMAT, FUNC,
                               "'%s' is larger than the %llu-byte limit of CSV files (4 GiB, "
                               "once decompressed)", lr->f.path,
                               (unsigned long long)CSV_MAX_BYTES);
            lr->chunk_pos = 0;
            if (lr->chunk_len < CSV_CHUNK) lr->eof = 1;
            if (lr->chunk_len == 0) break;
        }
        if (!any) {
            lr->number++;
            any = 1;
        }
        const unsigned char *start = lr->chunk + lr->chunk_pos;
        size_t avail = lr->chunk_len - lr->chunk_pos;
        const unsigned char *nl = memchr(start, '\n', avail);
        size_t take = nl ? (size_t)(nl - start) : avail;
        GRAFT_FORWARD_IF_ERROR(line_append(lr, start, take));
        lr->chunk_pos += take + (nl ? 1 : 0);
        if (nl) break;
    }
    if (!any) return GRAFT_OK;
    if (lr->len && lr->line[lr->len - 1] == '\r') lr->line[--lr->len] = '\0';
    *have = 1;
    return GRAFT_OK;
}

/* ---- fields ------------------------------------------------------------------ */

/* Copies a field's text for a message: at most 40 bytes, unprintable bytes
 * as '?'. */
static void field_text(const char *p, size_t n, char *buf, size_t size)
{
    size_t k = 0;
    for (; k < n && k < 40 && k + 4 < size; k++) {
        unsigned char c = (unsigned char)p[k];
        buf[k] = c >= 0x20 && c < 0x7f ? (char)c : '?';
    }
    if (k < n && k + 4 < size) {
        memcpy(buf + k, "...", 3);
        k += 3;
    }
    buf[k] = '\0';
}

/* Checks the syntax [+-]digits[.digits][(e|E)[+-]digits] (at least one digit
 * in the mantissa) of p[0..n). */
static int number_syntax_ok(const char *p, size_t n)
{
    size_t k = 0, digits = 0;
    if (k < n && (p[k] == '+' || p[k] == '-')) k++;
    while (k < n && p[k] >= '0' && p[k] <= '9') k++, digits++;
    if (k < n && p[k] == '.') {
        k++;
        while (k < n && p[k] >= '0' && p[k] <= '9') k++, digits++;
    }
    if (digits == 0) return 0;
    if (k < n && (p[k] == 'e' || p[k] == 'E')) {
        k++;
        if (k < n && (p[k] == '+' || p[k] == '-')) k++;
        size_t exp_digits = 0;
        while (k < n && p[k] >= '0' && p[k] <= '9') k++, exp_digits++;
        if (exp_digits == 0) return 0;
    }
    return k == n;
}

/* Parses p[0..n) (syntax already checked) as a double. The text is short
 * enough in practice; longer mantissas are copied into a heap buffer. */
static int parse_number(graft_ctx *ctx, const char *p, size_t n, double *v)
{
    char small[64];
    char *buf = small;
    if (n + 1 > sizeof small) {
        buf = graftAlloc(ctx, n + 1);
        GRAFT_RETURN_IF_AT(!buf, ctx, GRAFT_E_NOMEM, FUNC, "cannot allocate a field");
    }
    memcpy(buf, p, n);
    buf[n] = '\0';
    *v = strtod(buf, NULL); /* overflow gives +-HUGE_VAL, caught by the caller */
    if (buf != small) graftFree(ctx, buf);
    return GRAFT_OK;
}

typedef struct csv_state {
    graft_ctx *ctx;
    const char *path;
    graft_csv_opts o;
    int64_t n_fields;   /* expected per row (0 until the first row fixes it) */
    size_t numel;
    int64_t count, cap; /* rows stored, rows allocated */
    float *features;
    int32_t *labels;    /* with labels (o.n_targets 0) */
    float *targets;     /* with o.n_targets float targets per row */
    int32_t max_label;
} csv_state;

static int grow(csv_state *s)
{
    int64_t cap = s->cap ? 2 * s->cap : 256;
    GRAFT_RETURN_IF_AT((uint64_t)cap > (uint64_t)GRAFT_MAX_NUMEL / s->numel, s->ctx,
                       GRAFT_E_NOMEM, FUNC, "'%s' holds more than 2^40 values", s->path);
    const size_t nt = (size_t)s->o.n_targets;
    float *f = graftAlloc(s->ctx, (size_t)cap * s->numel * sizeof *f);
    int32_t *l = nt ? NULL : graftAlloc(s->ctx, (size_t)cap * sizeof *l);
    float *t = nt ? graftAlloc(s->ctx, (size_t)cap * nt * sizeof *t) : NULL;
    if (!f || (!nt && !l) || (nt && !t)) {
        graftFree(s->ctx, f);
        graftFree(s->ctx, l);
        graftFree(s->ctx, t);
        return graftError(s->ctx, GRAFT_E_NOMEM, FUNC, "cannot allocate %lld rows of %zu values",
                          (long long)cap, s->numel);
    }
    if (s->count) {
        memcpy(f, s->features, (size_t)s->count * s->numel * sizeof *f);
        if (l) memcpy(l, s->labels, (size_t)s->count * sizeof *l);
        if (t) memcpy(t, s->targets, (size_t)s->count * nt * sizeof *t);
    }
    graftFree(s->ctx, s->features);
    graftFree(s->ctx, s->labels);
    graftFree(s->ctx, s->targets);
    s->features = f;
    s->labels = l;
    s->targets = t;
    s->cap = cap;
    return GRAFT_OK;
}

static int is_blank(char c, int delimiter)
{
    return (c == ' ' || c == '\t') && c != delimiter;
}

/* Parses one data line into the next row. */
static int parse_row(csv_state *s, const char *line, size_t len, int64_t number)
{
    graft_ctx *ctx = s->ctx;
    const char delim = (char)s->o.delimiter;
    /* Count the fields first, so a short or long row is named as such. */
    int64_t fields = 1;
    for (size_t k = 0; k < len; k++) fields += line[k] == delim;
    const int64_t nt = s->o.n_targets, nl = nt ? nt : 1; /* the label's (or targets') fields */
    char what[48] = "the label";
    if (nt) snprintf(what, sizeof what, "%lld targets", (long long)nt);
    if (s->n_fields == 0) {
        GRAFT_RETURN_IF_AT(fields < nl + 1, ctx, GRAFT_E_FORMAT, FUNC,
                           "'%s' line %lld has %lld field%s; a row needs at least one feature "
                           "and %s", s->path, (long long)number, (long long)fields,
                           fields == 1 ? "" : "s", what);
        s->n_fields = fields;
        s->numel = (size_t)(fields - nl);
    }
    GRAFT_RETURN_IF_AT(fields != s->n_fields, ctx, GRAFT_E_FORMAT, FUNC,
                       "'%s' line %lld has %lld fields, expected %lld (%lld features and %s)",
                       s->path, (long long)number, (long long)fields, (long long)s->n_fields,
                       (long long)(s->n_fields - nl), what);
    if (s->count == s->cap) GRAFT_FORWARD_IF_ERROR(grow(s));
    float *row = s->features + (size_t)s->count * s->numel;
    /* the label's column, or the first of the targets' */
    const int64_t label_col = s->o.label_column == GRAFT_CSV_LABEL_FIRST ? 0 : fields - nl;
    size_t pos = 0;
    int64_t out = 0;
    for (int64_t col = 0; col < fields; col++) {
        size_t end = pos;
        while (end < len && line[end] != delim) end++;
        size_t a = pos, b = end;
        while (a < b && is_blank(line[a], delim)) a++;
        while (b > a && is_blank(line[b - 1], delim)) b--;
        char text[48];
        if (!number_syntax_ok(line + a, b - a)) {
            field_text(line + a, b - a, text, sizeof text);
            return graftError(ctx, GRAFT_E_FORMAT, FUNC,
                              "'%s' line %lld, column %lld: '%s' is not a number", s->path,
                              (long long)number, (long long)col + 1, text);
        }
        double v = 0.0;
        GRAFT_FORWARD_IF_ERROR(parse_number(ctx, line + a, b - a, &v));
        if (nt && col >= label_col && col < label_col + nt) {
            const float x = (float)v; /* targets are not scaled */
            if (!isfinite(x)) {
                field_text(line + a, b - a, text, sizeof text);
                return graftError(ctx, GRAFT_E_NUMERIC, FUNC,
                                  "'%s' line %lld, column %lld: the target '%s' is outside "
                                  "float's range", s->path, (long long)number,
                                  (long long)col + 1, text);
            }
            s->targets[(size_t)s->count * (size_t)nt + (size_t)(col - label_col)] = x;
        } else if (!nt && col == label_col) {
            if (!(v >= 0.0 && v < 2147483647.0 && v == floor(v))) {
                field_text(line + a, b - a, text, sizeof text);
                return graftError(ctx, GRAFT_E_FORMAT, FUNC,
                                  "'%s' line %lld, column %lld: the label '%s' is not a whole "
                                  "number in [0, 2147483647)", s->path, (long long)number,
                                  (long long)col + 1, text);
            }
            int32_t label = (int32_t)v;
            GRAFT_RETURN_IF_AT(s->o.n_classes > 0 && label >= s->o.n_classes, ctx, GRAFT_E_RANGE,
                               FUNC, "'%s' line %lld: the label %d must be below n_classes %d",
                               s->path, (long long)number, (int)label, s->o.n_classes);
            if (label > s->max_label) s->max_label = label;
            s->labels[s->count] = label;
        } else {
            const float x = (float)(v * (double)s->o.scale);
            if (!isfinite(x)) {
                field_text(line + a, b - a, text, sizeof text);
                return graftError(ctx, GRAFT_E_NUMERIC, FUNC,
                                  "'%s' line %lld, column %lld: '%s' times scale %g is outside "
                                  "float's range", s->path, (long long)number,
                                  (long long)col + 1, text, (double)s->o.scale);
            }
            row[out++] = x;
        }
        pos = end + 1;
    }
    s->count++;
    return GRAFT_OK;
}

static int check_opts(graft_ctx *ctx, const graft_csv_opts *o, size_t *numel)
{
    GRAFT_RETURN_IF_AT(o->label_column != GRAFT_CSV_LABEL_LAST &&
                           o->label_column != GRAFT_CSV_LABEL_FIRST,
                       ctx, GRAFT_E_INVALID_ARG, FUNC,
                       "opts->label_column is %d, must be GRAFT_CSV_LABEL_LAST (0) or "
                       "GRAFT_CSV_LABEL_FIRST (1)", o->label_column);
    GRAFT_RETURN_IF_AT(o->header_rows < 0 || o->header_rows > 1000000, ctx, GRAFT_E_INVALID_ARG,
                       FUNC, "opts->header_rows is %d, must be 0 to 1000000", o->header_rows);
    GRAFT_RETURN_IF_AT(!isfinite(o->scale) || o->scale == 0.0f, ctx, GRAFT_E_INVALID_ARG, FUNC,
                       "opts->scale is %g, must be finite and not 0", (double)o->scale);
    GRAFT_RETURN_IF_AT(o->ndim < 0 || o->ndim > GRAFT_MAX_DIMS - 1, ctx, GRAFT_E_INVALID_ARG,
                       FUNC, "opts->ndim is %d, must be 0 to %d", o->ndim, GRAFT_MAX_DIMS - 1);
    *numel = 0;
    if (o->ndim > 0) {
        int64_t n = 1;
        for (int d = 0; d < o->ndim; d++) {
            GRAFT_RETURN_IF_AT(o->dims[d] < 1 || o->dims[d] > GRAFT_MAX_NUMEL, ctx,
                               GRAFT_E_INVALID_ARG, FUNC,
                               "opts->dims[%d] is %lld, must be >= 1", d, (long long)o->dims[d]);
            GRAFT_RETURN_IF_AT(n > GRAFT_MAX_NUMEL / o->dims[d], ctx, GRAFT_E_INVALID_ARG, FUNC,
                               "opts->dims has more than 2^40 elements");
            n *= o->dims[d];
        }
        *numel = (size_t)n;
    }
    GRAFT_RETURN_IF_AT(o->n_classes < 0, ctx, GRAFT_E_INVALID_ARG, FUNC,
                       "opts->n_classes is %d, must be >= 1 (or 0: max label + 1)",
                       o->n_classes);
    GRAFT_RETURN_IF_AT(o->n_targets < 0 || o->n_targets > 65536, ctx, GRAFT_E_INVALID_ARG, FUNC,
                       "opts->n_targets is %d, must be 0 (a label) to 65536", o->n_targets);
    GRAFT_RETURN_IF_AT(o->n_targets > 0 && o->n_classes != 0, ctx, GRAFT_E_INVALID_ARG, FUNC,
                       "opts->n_classes is %d; a dataset of targets (opts->n_targets %d) has "
                       "no classes, it must be 0", o->n_classes, o->n_targets);
    const int dl = o->delimiter;
    GRAFT_RETURN_IF_AT(dl != ',' && dl != ';' && dl != '|' && dl != ':' && dl != '\t', ctx,
                       GRAFT_E_INVALID_ARG, FUNC,
                       "opts->delimiter is %d, must be ',', ';', '|', ':' or '\\t'", dl);
    for (int k = 0; k < 4; k++)
        GRAFT_RETURN_IF_AT(o->reserved[k] != 0, ctx, GRAFT_E_INVALID_ARG, FUNC,
                           "opts->reserved[%d] is %u, must be 0", k, (unsigned)o->reserved[k]);
    return GRAFT_OK;
}

/* Reads every line of the file into s. */
static int read_rows(csv_state *s, line_reader *lr)
{
    int64_t blank_line = 0; /* the first empty line seen after data, if any */
    for (;;) {
        int have;
        GRAFT_FORWARD_IF_ERROR(line_next(lr, &have));
        if (!have) break;
        if (lr->number <= s->o.header_rows) continue;
        size_t a = 0;
        while (a < lr->len && is_blank(lr->line[a], s->o.delimiter)) a++;
        if (a == lr->len) {
            if (!blank_line) blank_line = lr->number;
            continue;
        }
        GRAFT_RETURN_IF_AT(blank_line, s->ctx, GRAFT_E_FORMAT, FUNC,
                           "'%s' line %lld is empty; empty lines are allowed only at the end",
                           s->path, (long long)blank_line);
        GRAFT_FORWARD_IF_ERROR(parse_row(s, lr->line, lr->len, lr->number));
    }
    GRAFT_RETURN_IF_AT(s->count == 0, s->ctx, GRAFT_E_FORMAT, FUNC,
                       "'%s' has no data rows (%lld lines, %d skipped as header)", s->path,
                       (long long)lr->number, s->o.header_rows);
    return GRAFT_OK;
}

/* The sizes graft_csv_opts has had: 1.0, 1.3 (n_targets); its reserved words
 * are check_opts's. */
static const uint32_t csv_opts_sizes[] = {(uint32_t)offsetof(graft_csv_opts, n_targets),
                                          (uint32_t)sizeof(graft_csv_opts)};
static const graftOptionsKind csv_opts_kind = {"opts", "GRAFT_CSV_OPTS_INIT", csv_opts_sizes,
                                          GRAFT_OPTIONS_COUNT(csv_opts_sizes), 0, 0};

GRAFT_API int graft_dataset_from_csv(graft_ctx *ctx, const char *path,
                                     const graft_csv_opts *opts, graft_dataset **out)
{
    graftClearError(ctx);
    if (out) *out = NULL;
    GRAFT_RETURN_IF(!ctx, NULL, GRAFT_E_INVALID_ARG, "ctx is NULL");
    GRAFT_RETURN_IF(!path, ctx, GRAFT_E_INVALID_ARG, "path is NULL");
    GRAFT_RETURN_IF(!out, ctx, GRAFT_E_INVALID_ARG, "out is NULL");
    csv_state s;
    memset(&s, 0, sizeof s);
    graft_csv_opts defaults = GRAFT_CSV_OPTS_INIT;
    s.o = defaults;
    if (opts) {
        GRAFT_FORWARD_IF_ERROR(graftOptionsRead(ctx, __func__, &csv_opts_kind, opts, &s.o));
    }
    size_t numel = 0;
    GRAFT_FORWARD_IF_ERROR(check_opts(ctx, &s.o, &numel));
    s.ctx = ctx;
    s.path = path;
    if (numel) {
        s.numel = numel;
        s.n_fields = (int64_t)numel + (s.o.n_targets ? s.o.n_targets : 1);
    }

    line_reader lr;
    memset(&lr, 0, sizeof lr);
    locale_t c_locale = newlocale(LC_NUMERIC_MASK, "C", (locale_t)0);
    locale_t old_locale = c_locale ? uselocale(c_locale) : (locale_t)0;
    csv_source *src = NULL;
    int st = c_locale ? GRAFT_OK
                      : graftError(ctx, GRAFT_E_NOMEM, __func__, "cannot create the C locale");
    if (st == GRAFT_OK) st = graftFileOpen(&lr.f, ctx, __func__, path);
    if (st == GRAFT_OK && !lr.f.gzip && lr.f.file_size > CSV_MAX_BYTES)
        st = graftError(ctx, GRAFT_E_FORMAT, __func__,
                        "'%s' is larger than the %llu-byte limit of CSV files (4 GiB): %llu bytes",
                        path, (unsigned long long)CSV_MAX_BYTES,
                        (unsigned long long)lr.f.file_size);
    if (st == GRAFT_OK) {
        lr.chunk = graftAlloc(ctx, CSV_CHUNK);
        if (!lr.chunk) st = graftError(ctx, GRAFT_E_NOMEM, __func__, "cannot allocate a buffer");
    }
    if (st == GRAFT_OK) st = read_rows(&s, &lr);
    if (c_locale) {
        uselocale(old_locale);
        freelocale(c_locale);
    }
    graftFileClose(&lr.f);
    graftFree(ctx, lr.chunk);
    graftFree(ctx, lr.line);
    if (st == GRAFT_OK) {
        src = graftCalloc(ctx, 1, sizeof *src);
        if (!src) st = graftError(ctx, GRAFT_E_NOMEM, __func__, "cannot allocate a dataset");
    }
    if (st != GRAFT_OK) {
        graftFree(ctx, s.features);
        graftFree(ctx, s.labels);
        graftFree(ctx, s.targets);
        return st;
    }
    src->features = s.features;
    src->labels = s.labels;
    src->targets = s.targets;
    int64_t flat[1] = {(int64_t)s.numel};
    const int ndim = s.o.ndim > 0 ? s.o.ndim : 1;
    const int64_t *dims = s.o.ndim > 0 ? s.o.dims : flat;
    const int nt = s.o.n_targets;
    int st2 = graftDatasetWrap(ctx, __func__, nt ? &csv_targets_vtbl : &csv_vtbl, src, s.count,
                               ndim, dims,
                               nt ? 0 : s.o.n_classes > 0 ? s.o.n_classes : s.max_label + 1, out);
    if (st2 == GRAFT_OK) {
        (*out)->src->finite = 1; /* every value checked finite, owned */
        (*out)->src->n_targets = nt;
    }
    return st2;
}
