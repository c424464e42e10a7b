/*
 * check_torch_refs.c - every layer kind and loss against PyTorch.
 *
 * tests/make_torch_refs.py writes tests/data/torch_refs.txt (its docstring
 * describes the line format): for each case the kind, attributes, mode,
 * inputs, parameters, an upstream gradient, and PyTorch's output, input and
 * parameter gradients and the buffers after the pass (batch-norm running
 * statistics; scale_shift's scale and shift, constants that graft does not
 * train, so they have no gradient and must come back unchanged). Each case is run
 * here through the public API: constructor, graft_layer_build,
 * graft_layer_param (to copy the parameters in), graft_layer_set_training,
 * graft_layer_forward and graft_layer_backward, or the loss function.
 *
 * Tolerance: every value must satisfy |got - want| <= 1e-4 + 1e-4 * |want|
 * (atol 1e-4, rtol 1e-4). PyTorch computed the references in float64 from
 * the float32 inputs, so this bounds graft's float32 rounding.
 *
 * The fixture is read from GRAFT_TEST_DATA "/torch_refs.txt" (default
 * "tests/data", relative to the repository root, where make test runs).
 * The parser validates every record; a malformed fixture fails the test with
 * the line number and the reason.
 */
#include "testutil.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FIXTURE_PATH GRAFT_TEST_DATA "/torch_refs.txt"

#define REF_ATOL 1e-4
#define REF_RTOL 1e-4

#define RT_NAME 64
#define RT_MAX_ATTRS 16
#define RT_MAX_INPUTS 8
#define RT_MAX_PARAMS GRAFT_LAYER_MAX_PARAMS
#define RT_MAX_NUMEL ((int64_t)1 << 20)
#define RT_ERR 512

/* Every kind the fixture must cover: the registered layer kinds (kinds.h),
 * then the two losses. */
static const char *const all_kinds[] = {
#define GRAFT_LAYER_KIND(ENUM, name, vtable) #name,
#include "layers/kinds.h"
#undef GRAFT_LAYER_KIND
    "softmax_cross_entropy", "mse",
};
#define N_KINDS ((int)(sizeof all_kinds / sizeof all_kinds[0]))

/* ---- fixture data ----------------------------------------------------------- */

typedef struct rt_tensor {
    char name[RT_NAME]; /* parameter name; "" for unnamed records */
    int ndim;
    int64_t dims[GRAFT_MAX_DIMS];
    size_t numel;
    float *data;
} rt_tensor;

typedef struct rt_case {
    char name[RT_NAME];
    char kind[RT_NAME];
    int line; /* of the "case" record */
    int n_attrs;
    char attr_key[RT_MAX_ATTRS][RT_NAME];
    double attr_val[RT_MAX_ATTRS];
    int attr_used[RT_MAX_ATTRS];
    int training; /* -1 until a "train" record */
    int n_in, n_din, n_param, n_dparam, n_after;
    rt_tensor in[RT_MAX_INPUTS], din[RT_MAX_INPUTS];
    rt_tensor param[RT_MAX_PARAMS], dparam[RT_MAX_PARAMS], after[RT_MAX_PARAMS];
    int has_dout, has_out, has_loss, has_labels;
    rt_tensor dout, out;
    double loss;
    int n_labels;
    int32_t *labels;
} rt_case;

typedef struct rt_fixture {
    int n_cases, capacity;
    rt_case *cases;
    char error[RT_ERR]; /* "line N: reason" after a failed parse */
} rt_fixture;

static void tensor_clear(rt_tensor *t)
{
    free(t->data);
    t->data = NULL;
}

static void case_clear(rt_case *c)
{
    for (int i = 0; i < c->n_in; i++) tensor_clear(&c->in[i]);
    for (int i = 0; i < c->n_din; i++) tensor_clear(&c->din[i]);
    for (int i = 0; i < c->n_param; i++) tensor_clear(&c->param[i]);
    for (int i = 0; i < c->n_dparam; i++) tensor_clear(&c->dparam[i]);
    for (int i = 0; i < c->n_after; i++) tensor_clear(&c->after[i]);
    if (c->has_dout) tensor_clear(&c->dout);
    if (c->has_out) tensor_clear(&c->out);
    free(c->labels);
    c->labels = NULL;
}

static void fixture_free(rt_fixture *fx)
{
    for (int i = 0; i < fx->n_cases; i++) case_clear(&fx->cases[i]);
    free(fx->cases);
    fx->cases = NULL;
    fx->n_cases = fx->capacity = 0;
}

static int kind_index(const char *kind)
{
    for (int i = 0; i < N_KINDS; i++)
        if (strcmp(all_kinds[i], kind) == 0) return i;
    return -1;
}

static int is_loss_kind(const char *kind)
{
    return strcmp(kind, "softmax_cross_entropy") == 0 || strcmp(kind, "mse") == 0;
}

/* ---- parser ------------------------------------------------------------------- */

/* A cursor over one line. */
typedef struct rt_line {
    const char *p, *end;
    int number;
    char *err; /* the fixture's error buffer */
} rt_line;

static int fail_at(rt_line *ln, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

static int fail_at(rt_line *ln, const char *fmt, ...)
{
    int n = snprintf(ln->err, RT_ERR, "line %d: ", ln->number);
    if (n < 0) n = 0;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(ln->err + n, RT_ERR - (size_t)n, fmt, ap);
    va_end(ap);
    return -1;
}

/* Copies the next space-separated token into buf (NUL-terminated). Returns
 * 1 when there is one, 0 at the end of the line, -1 when it is too long. */
static int next_token(rt_line *ln, char *buf, size_t size)
{
    while (ln->p < ln->end && (*ln->p == ' ' || *ln->p == '\t')) ln->p++;
    if (ln->p >= ln->end) return 0;
    const char *start = ln->p;
    while (ln->p < ln->end && *ln->p != ' ' && *ln->p != '\t') ln->p++;
    size_t len = (size_t)(ln->p - start);
    if (len >= size) return -1;
    memcpy(buf, start, len);
    buf[len] = '\0';
    return 1;
}

static int read_word(rt_line *ln, char *buf, size_t size, const char *what)
{
    int r = next_token(ln, buf, size);
    if (r == 0) return fail_at(ln, "missing %s", what);
    if (r < 0) return fail_at(ln, "%s is longer than %zu characters", what, size - 1);
    return 0;
}

static int read_int(rt_line *ln, long long lo, long long hi, long long *v, const char *what)
{
    char tok[RT_NAME];
    if (read_word(ln, tok, sizeof tok, what) != 0) return -1;
    char *endp;
    errno = 0;
    long long x = strtoll(tok, &endp, 10);
    if (endp == tok || *endp != '\0' || errno == ERANGE)
        return fail_at(ln, "%s \"%s\" is not an integer", what, tok);
    if (x < lo || x > hi)
        return fail_at(ln, "%s is %lld, must be in [%lld, %lld]", what, x, lo, hi);
    *v = x;
    return 0;
}

static int read_double(rt_line *ln, double *v, const char *what)
{
    char tok[RT_NAME];
    if (read_word(ln, tok, sizeof tok, what) != 0) return -1;
    char *endp;
    double x = strtod(tok, &endp);
    if (endp == tok || *endp != '\0') return fail_at(ln, "%s \"%s\" is not a number", what, tok);
    if (!isfinite(x)) return fail_at(ln, "%s \"%s\" is not finite", what, tok);
    *v = x;
    return 0;
}

static int expect_line_end(rt_line *ln)
{
    char tok[RT_NAME];
    int r = next_token(ln, tok, sizeof tok);
    if (r != 0) return fail_at(ln, "unexpected text after the record");
    return 0;
}

/* Reads "NDIM D0 ... V0 V1 ..." to the end of the line. */
static int read_tensor(rt_line *ln, rt_tensor *t, const char *what)
{
    long long v;
    char label[RT_NAME + 32];
    snprintf(label, sizeof label, "%s rank", what);
    if (read_int(ln, 1, GRAFT_MAX_DIMS, &v, label) != 0) return -1;
    t->ndim = (int)v;
    int64_t numel = 1;
    for (int d = 0; d < t->ndim; d++) {
        snprintf(label, sizeof label, "%s size %d", what, d);
        if (read_int(ln, 1, RT_MAX_NUMEL, &v, label) != 0) return -1;
        t->dims[d] = v;
        numel *= v;
        if (numel > RT_MAX_NUMEL)
            return fail_at(ln, "%s has more than %lld elements", what, (long long)RT_MAX_NUMEL);
    }
    t->numel = (size_t)numel;
    t->data = malloc(t->numel * sizeof(float));
    if (!t->data) return fail_at(ln, "cannot allocate %zu floats for %s", t->numel, what);
    for (size_t i = 0; i < t->numel; i++) {
        char tok[RT_NAME];
        int r = next_token(ln, tok, sizeof tok);
        if (r == 0)
            return fail_at(ln, "%s has %zu values, its shape needs %zu", what, i, t->numel);
        if (r < 0) return fail_at(ln, "%s value %zu is too long", what, i);
        char *endp;
        float x = strtof(tok, &endp);
        if (endp == tok || *endp != '\0')
            return fail_at(ln, "%s value %zu \"%s\" is not a number", what, i, tok);
        if (!isfinite(x)) return fail_at(ln, "%s value %zu \"%s\" is not finite", what, i, tok);
        t->data[i] = x;
    }
    if (next_token(ln, (char[RT_NAME]){0}, RT_NAME) != 0)
        return fail_at(ln, "%s has more values than its shape's %zu", what, t->numel);
    return 0;
}

/* Reads "NAME T" into the next free slot of a named-tensor list. */
static int read_named_tensor(rt_line *ln, rt_tensor *list, int *count, const char *tag)
{
    if (*count >= RT_MAX_PARAMS) return fail_at(ln, "more than %d %s records", RT_MAX_PARAMS, tag);
    rt_tensor *t = &list[*count];
    memset(t, 0, sizeof *t);
    if (read_word(ln, t->name, sizeof t->name, "parameter name") != 0) return -1;
    for (int i = 0; i < *count; i++)
        if (strcmp(list[i].name, t->name) == 0)
            return fail_at(ln, "a second %s record for \"%s\"", tag, t->name);
    (*count)++; /* counted before reading, so a failure frees the data */
    char what[RT_NAME + 16];
    snprintf(what, sizeof what, "%s %s", tag, t->name);
    return read_tensor(ln, t, what);
}

/* Checks that a finished case has what its kind needs. */
static int check_case(rt_line *ln, const rt_case *c)
{
    if (c->training < 0) return fail_at(ln, "case %s has no train record", c->name);
    if (is_loss_kind(c->kind)) {
        int want_in = strcmp(c->kind, "mse") == 0 ? 2 : 1;
        if (c->n_in != want_in)
            return fail_at(ln, "case %s: a %s case needs %d in records, has %d", c->name,
                           c->kind, want_in, c->n_in);
        if (!c->has_loss || c->n_din != 1)
            return fail_at(ln, "case %s needs one loss and one din record", c->name);
        if (c->has_dout || c->has_out || c->n_param || c->n_dparam || c->n_after)
            return fail_at(ln, "case %s: a loss takes no dout, out, param, dparam or after",
                           c->name);
        int is_sce = strcmp(c->kind, "softmax_cross_entropy") == 0;
        if (is_sce != c->has_labels)
            return fail_at(ln, "case %s: labels go with softmax_cross_entropy only, and it "
                           "needs them", c->name);
        if (is_sce && (c->in[0].ndim != 2 || c->in[0].dims[0] != c->n_labels))
            return fail_at(ln, "case %s: %d labels for logits that are not (%d, C)", c->name,
                           c->n_labels, c->n_labels);
        return 0;
    }
    if (c->n_in < 1) return fail_at(ln, "case %s has no in record", c->name);
    if (!c->has_dout || !c->has_out)
        return fail_at(ln, "case %s needs a dout and an out record", c->name);
    if (c->n_din != c->n_in)
        return fail_at(ln, "case %s has %d din records for %d inputs", c->name, c->n_din,
                       c->n_in);
    if (c->has_loss || c->has_labels)
        return fail_at(ln, "case %s: loss and labels are for losses only", c->name);
    return 0;
}

/* Parses a whole fixture. Returns 0, or -1 with fx->error set. */
static int fixture_parse(const char *text, size_t size, rt_fixture *fx)
{
    memset(fx, 0, sizeof *fx);
    rt_case *c = NULL; /* the open case */
    rt_line ln = {NULL, NULL, 0, fx->error};
    const char *p = text, *end = text + size;
    while (p < end) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        if (!eol) eol = end;
        ln.p = p;
        ln.end = eol;
        if (ln.end > ln.p && ln.end[-1] == '\r') ln.end--;
        ln.number++;
        p = eol + 1;
        if (memchr(ln.p, '\0', (size_t)(ln.end - ln.p)))
            return fail_at(&ln, "a NUL byte in the line");

        char tag[RT_NAME];
        int r = next_token(&ln, tag, sizeof tag);
        if (r == 0 || (r > 0 && tag[0] == '#')) continue;
        if (r < 0) return fail_at(&ln, "record name too long");

        if (strcmp(tag, "case") == 0) {
            if (c) return fail_at(&ln, "case %s is not ended before the next case", c->name);
            if (fx->n_cases == fx->capacity) {
                int cap = fx->capacity ? 2 * fx->capacity : 32;
                rt_case *nc = realloc(fx->cases, (size_t)cap * sizeof *nc);
                if (!nc) return fail_at(&ln, "out of memory");
                fx->cases = nc;
                fx->capacity = cap;
            }
            c = &fx->cases[fx->n_cases++];
            memset(c, 0, sizeof *c);
            c->training = -1;
            c->line = ln.number;
            if (read_word(&ln, c->name, sizeof c->name, "case name") != 0) return -1;
            if (read_word(&ln, c->kind, sizeof c->kind, "case kind") != 0) return -1;
            if (kind_index(c->kind) < 0)
                return fail_at(&ln, "case %s has unknown kind \"%s\"", c->name, c->kind);
            for (int i = 0; i + 1 < fx->n_cases; i++)
                if (strcmp(fx->cases[i].name, c->name) == 0)
                    return fail_at(&ln, "a second case named %s", c->name);
            if (expect_line_end(&ln) != 0) return -1;
            continue;
        }
        if (!c) return fail_at(&ln, "\"%s\" record outside a case", tag);

        if (strcmp(tag, "end") == 0) {
            if (expect_line_end(&ln) != 0 || check_case(&ln, c) != 0) return -1;
            c = NULL;
        } else if (strcmp(tag, "attr") == 0) {
            if (c->n_attrs >= RT_MAX_ATTRS)
                return fail_at(&ln, "more than %d attributes", RT_MAX_ATTRS);
            int k = c->n_attrs;
            if (read_word(&ln, c->attr_key[k], RT_NAME, "attribute name") != 0 ||
                read_double(&ln, &c->attr_val[k], "attribute value") != 0 ||
                expect_line_end(&ln) != 0)
                return -1;
            for (int i = 0; i < k; i++)
                if (strcmp(c->attr_key[i], c->attr_key[k]) == 0)
                    return fail_at(&ln, "attribute %s given twice", c->attr_key[k]);
            c->n_attrs++;
        } else if (strcmp(tag, "train") == 0) {
            long long v;
            if (c->training >= 0) return fail_at(&ln, "a second train record");
            if (read_int(&ln, 0, 1, &v, "train flag") != 0 || expect_line_end(&ln) != 0)
                return -1;
            c->training = (int)v;
        } else if (strcmp(tag, "in") == 0 || strcmp(tag, "din") == 0) {
            int is_in = tag[0] == 'i';
            int *count = is_in ? &c->n_in : &c->n_din;
            rt_tensor *t = is_in ? &c->in[*count] : &c->din[*count];
            if (*count >= RT_MAX_INPUTS)
                return fail_at(&ln, "more than %d %s records", RT_MAX_INPUTS, tag);
            memset(t, 0, sizeof *t);
            (*count)++;
            char what[RT_NAME + 16];
            snprintf(what, sizeof what, "%s %d", tag, *count - 1);
            if (read_tensor(&ln, t, what) != 0) return -1;
        } else if (strcmp(tag, "dout") == 0 || strcmp(tag, "out") == 0) {
            int is_dout = tag[0] == 'd';
            int *has = is_dout ? &c->has_dout : &c->has_out;
            rt_tensor *t = is_dout ? &c->dout : &c->out;
            if (*has) return fail_at(&ln, "a second %s record", tag);
            memset(t, 0, sizeof *t);
            *has = 1;
            if (read_tensor(&ln, t, tag) != 0) return -1;
        } else if (strcmp(tag, "param") == 0) {
            if (read_named_tensor(&ln, c->param, &c->n_param, tag) != 0) return -1;
        } else if (strcmp(tag, "dparam") == 0) {
            if (read_named_tensor(&ln, c->dparam, &c->n_dparam, tag) != 0) return -1;
        } else if (strcmp(tag, "after") == 0) {
            if (read_named_tensor(&ln, c->after, &c->n_after, tag) != 0) return -1;
        } else if (strcmp(tag, "loss") == 0) {
            if (c->has_loss) return fail_at(&ln, "a second loss record");
            if (read_double(&ln, &c->loss, "loss") != 0 || expect_line_end(&ln) != 0) return -1;
            c->has_loss = 1;
        } else if (strcmp(tag, "labels") == 0) {
            long long n, v;
            if (c->has_labels) return fail_at(&ln, "a second labels record");
            if (read_int(&ln, 1, RT_MAX_NUMEL, &n, "label count") != 0) return -1;
            c->labels = malloc((size_t)n * sizeof *c->labels);
            if (!c->labels) return fail_at(&ln, "out of memory");
            c->has_labels = 1;
            c->n_labels = (int)n;
            for (long long i = 0; i < n; i++) {
                if (read_int(&ln, INT32_MIN, INT32_MAX, &v, "label") != 0) return -1;
                c->labels[i] = (int32_t)v;
            }
            if (expect_line_end(&ln) != 0) return -1;
        } else {
            return fail_at(&ln, "unknown record \"%s\"", tag);
        }
    }
    if (c) {
        ln.number = c->line;
        return fail_at(&ln, "case %s has no end record", c->name);
    }
    return 0;
}

/* Reads and parses the fixture file; fails the test with the reason. */
static void fixture_load(rt_fixture *fx)
{
    FILE *f = fopen(FIXTURE_PATH, "rb");
    ck_assert_msg(f != NULL, "cannot open %s: %s (run the tests from the repository root, or "
                  "define GRAFT_TEST_DATA)", FIXTURE_PATH, strerror(errno));
    size_t cap = 1 << 16, size = 0;
    char *buf = malloc(cap);
    ck_assert_ptr_nonnull(buf);
    for (;;) {
        if (size == cap) {
            ck_assert_msg(cap < ((size_t)64 << 20), "%s is larger than 64 MB", FIXTURE_PATH);
            cap *= 2;
            char *nb = realloc(buf, cap);
            ck_assert_ptr_nonnull(nb);
            buf = nb;
        }
        size_t got = fread(buf + size, 1, cap - size, f);
        size += got;
        if (got == 0) break;
    }
    int read_error = ferror(f);
    fclose(f);
    ck_assert_msg(!read_error, "cannot read %s", FIXTURE_PATH);
    int st = fixture_parse(buf, size, fx);
    free(buf);
    if (st != 0) {
        char msg[RT_ERR];
        memcpy(msg, fx->error, sizeof msg);
        fixture_free(fx);
        ck_abort_msg("%s: %s", FIXTURE_PATH, msg);
    }
}

/* ---- comparing --------------------------------------------------------------- */

static void shape_string(int ndim, const int64_t *dims, char *buf, size_t size)
{
    size_t pos = (size_t)snprintf(buf, size, "(");
    for (int i = 0; i < ndim && pos < size; i++)
        pos += (size_t)snprintf(buf + pos, size - pos, "%s%lld", i ? ", " : "",
                                (long long)dims[i]);
    if (pos < size) snprintf(buf + pos, size - pos, ")");
}

/* Asserts that got matches the reference: shape, then every element. */
static void compare(const rt_case *c, const char *what, const graft_tensor *got,
                    const rt_tensor *want)
{
    ck_assert_msg(got != NULL, "case %s: %s is NULL", c->name, what);
    int ndim = graft_tensor_ndim(got);
    int same = ndim == want->ndim;
    for (int d = 0; same && d < ndim; d++) same = graft_tensor_dim(got, d) == want->dims[d];
    if (!same) {
        int64_t gd[GRAFT_MAX_DIMS];
        for (int d = 0; d < ndim && d < GRAFT_MAX_DIMS; d++) gd[d] = graft_tensor_dim(got, d);
        char a[128], b[128];
        shape_string(ndim, gd, a, sizeof a);
        shape_string(want->ndim, want->dims, b, sizeof b);
        ck_abort_msg("case %s: %s has shape %s, PyTorch's has %s", c->name, what, a, b);
    }
    const float *g = graft_tensor_data_const(got);
    for (size_t i = 0; i < want->numel; i++) {
        double w = want->data[i], v = g[i], diff = fabs(v - w);
        double tol = REF_ATOL + REF_RTOL * fabs(w);
        if (diff <= tol) continue; /* false for NaN */
        int64_t idx[GRAFT_MAX_DIMS];
        size_t rest = i;
        for (int d = want->ndim - 1; d >= 0; d--) {
            idx[d] = (int64_t)(rest % (size_t)want->dims[d]);
            rest /= (size_t)want->dims[d];
        }
        char at[128];
        shape_string(want->ndim, idx, at, sizeof at);
        at[0] = '[';
        at[strlen(at) - 1] = ']';
        ck_abort_msg("case %s: %s element %zu %s: graft %.9g, PyTorch %.9g (difference %.3g, "
                     "tolerance %.3g)", c->name, what, i, at, v, w, diff, tol);
    }
}

static graft_tensor *make_tensor(graft_ctx *ctx, const rt_tensor *t)
{
    return tu_tensor_from(ctx, t->ndim, t->dims, t->data);
}

/* ---- attributes -------------------------------------------------------------- */

static double attr(rt_case *c, const char *key)
{
    for (int i = 0; i < c->n_attrs; i++) {
        if (strcmp(c->attr_key[i], key) == 0) {
            c->attr_used[i] = 1;
            return c->attr_val[i];
        }
    }
    ck_abort_msg("case %s (line %d): the %s attribute %s is missing", c->name, c->line, c->kind,
                 key);
    return 0;
}

static int attr_int(rt_case *c, const char *key)
{
    double v = attr(c, key);
    ck_assert_msg(v == floor(v) && fabs(v) <= 2147483647.0,
                  "case %s: attribute %s is %g, not an integer", c->name, key, v);
    return (int)v;
}

/* A per-sample shape given as the attributes ndim and dim0 ... dim(ndim-1)
 * (reshape, scale_shift). Returns ndim. */
static int sample_dims(rt_case *c, int64_t *dims)
{
    int ndim = attr_int(c, "ndim");
    ck_assert_msg(ndim >= 1 && ndim < GRAFT_MAX_DIMS, "case %s: ndim %d is not in [1, %d]",
                  c->name, ndim, GRAFT_MAX_DIMS - 1);
    for (int d = 0; d < ndim; d++) {
        char key[16];
        snprintf(key, sizeof key, "dim%d", d);
        dims[d] = attr_int(c, key);
    }
    return ndim;
}

/* The value of attribute key without marking it used, or dflt when absent. */
static double attr_or(const rt_case *c, const char *key, double dflt)
{
    for (int i = 0; i < c->n_attrs; i++)
        if (strcmp(c->attr_key[i], key) == 0) return c->attr_val[i];
    return dflt;
}

/* Every attribute given must be one the kind takes. */
static void check_attrs_used(const rt_case *c)
{
    for (int i = 0; i < c->n_attrs; i++)
        ck_assert_msg(c->attr_used[i], "case %s: a %s layer takes no attribute %s", c->name,
                      c->kind, c->attr_key[i]);
}

static void pool_spec(rt_case *c, graft_pool2d_spec *s)
{
    *s = (graft_pool2d_spec)GRAFT_POOL2D_SPEC_INIT;
    s->kernel_h = attr_int(c, "kernel_h");
    s->kernel_w = attr_int(c, "kernel_w");
    s->stride_h = attr_int(c, "stride_h");
    s->stride_w = attr_int(c, "stride_w");
    s->pad_top = attr_int(c, "pad_top");
    s->pad_left = attr_int(c, "pad_left");
    s->pad_bottom = attr_int(c, "pad_bottom");
    s->pad_right = attr_int(c, "pad_right");
    s->ceil_mode = attr_int(c, "ceil_mode");
    s->count_include_pad = attr_int(c, "count_include_pad");
}

/* Creates the case's layer through its public constructor. */
static graft_layer *make_layer(graft_ctx *ctx, rt_case *c)
{
    graft_layer *l = NULL;
    const char *k = c->kind;
    int st;
    if (strcmp(k, "conv2d") == 0) {
        graft_conv2d_spec s = GRAFT_CONV2D_SPEC_INIT;
        s.out_channels = attr_int(c, "out_channels");
        s.kernel_h = attr_int(c, "kernel_h");
        s.kernel_w = attr_int(c, "kernel_w");
        s.stride_h = attr_int(c, "stride_h");
        s.stride_w = attr_int(c, "stride_w");
        s.pad_top = attr_int(c, "pad_top");
        s.pad_left = attr_int(c, "pad_left");
        s.pad_bottom = attr_int(c, "pad_bottom");
        s.pad_right = attr_int(c, "pad_right");
        s.dilation_h = attr_int(c, "dilation_h");
        s.dilation_w = attr_int(c, "dilation_w");
        s.groups = attr_int(c, "groups");
        s.bias = attr_int(c, "bias");
        st = graft_layer_conv2d(ctx, &s, &l);
    } else if (strcmp(k, "max_pool2d") == 0 || strcmp(k, "avg_pool2d") == 0) {
        graft_pool2d_spec s;
        pool_spec(c, &s);
        st = k[0] == 'm' ? graft_layer_max_pool2d(ctx, &s, &l) : graft_layer_avg_pool2d(ctx, &s, &l);
    } else if (strcmp(k, "global_avg_pool") == 0) {
        st = graft_layer_global_avg_pool(ctx, &l);
    } else if (strcmp(k, "dense") == 0) {
        int last_axis = attr_or(c, "last_axis", 0) != 0;
        if (last_axis) (void)attr(c, "last_axis");
        st = last_axis ? graft_layer_linear(ctx, attr_int(c, "units"), attr_int(c, "bias"), &l)
                       : graft_layer_dense(ctx, attr_int(c, "units"), attr_int(c, "bias"), &l);
    } else if (strcmp(k, "batch_norm") == 0) {
        st = graft_layer_batch_norm(ctx, (float)attr(c, "epsilon"), (float)attr(c, "momentum"),
                                    &l);
    } else if (strcmp(k, "relu") == 0) {
        st = graft_layer_relu(ctx, &l);
    } else if (strcmp(k, "clip") == 0) {
        st = graft_layer_clip(ctx, (float)attr(c, "lo"), (float)attr(c, "hi"), &l);
    } else if (strcmp(k, "leaky_relu") == 0) {
        st = graft_layer_leaky_relu(ctx, (float)attr(c, "alpha"), &l);
    } else if (strcmp(k, "sigmoid") == 0) {
        st = graft_layer_sigmoid(ctx, &l);
    } else if (strcmp(k, "tanh") == 0) {
        st = graft_layer_tanh(ctx, &l);
    } else if (strcmp(k, "hard_swish") == 0) {
        st = graft_layer_hard_swish(ctx, &l);
    } else if (strcmp(k, "silu") == 0) {
        st = graft_layer_silu(ctx, &l);
    } else if (strcmp(k, "gelu") == 0) {
        st = graft_layer_gelu(ctx, attr_int(c, "approximate"), &l);
    } else if (strcmp(k, "dropout") == 0) {
        double seed = attr(c, "seed");
        ck_assert_msg(seed >= 0 && seed == floor(seed) && seed < 9.0e15,
                      "case %s: seed %g is not a non-negative integer", c->name, seed);
        st = graft_layer_dropout(ctx, (float)attr(c, "rate"), (uint64_t)seed, &l);
    } else if (strcmp(k, "flatten") == 0) {
        st = graft_layer_flatten(ctx, &l);
    } else if (strcmp(k, "add") == 0) {
        st = graft_layer_add(ctx, &l);
    } else if (strcmp(k, "concat") == 0) {
        /* no "axis": graft_layer_concat(), axis 1 */
        st = attr_or(c, "axis", 0) != 0 ? graft_layer_concat_axis(ctx, attr_int(c, "axis"), &l)
                                        : graft_layer_concat(ctx, &l);
    } else if (strcmp(k, "transpose") == 0) {
        int perm[GRAFT_MAX_DIMS] = {0};
        int ndim = attr_int(c, "ndim");
        ck_assert_msg(ndim >= 2 && ndim <= GRAFT_MAX_DIMS, "case %s: ndim %d is not in [2, %d]",
                      c->name, ndim, GRAFT_MAX_DIMS);
        for (int d = 0; d < ndim; d++) {
            char key[16];
            snprintf(key, sizeof key, "perm%d", d);
            perm[d] = attr_int(c, key);
        }
        st = graft_layer_transpose(ctx, ndim, perm, &l);
    } else if (strcmp(k, "slice") == 0) {
        st = graft_layer_slice(ctx, attr_int(c, "axis"), attr_int(c, "start"), attr_int(c, "end"),
                               attr_int(c, "step"), &l);
    } else if (strcmp(k, "softmax") == 0) {
        /* without an axis attribute: graft_layer_softmax (axis 1) */
        int has_axis = attr_or(c, "axis", 0) != 0;
        st = has_axis ? graft_layer_softmax_axis(ctx, attr_int(c, "axis"), &l)
                      : graft_layer_softmax(ctx, &l);
    } else if (strcmp(k, "layer_norm") == 0) {
        st = graft_layer_layer_norm(ctx, attr_int(c, "axes"), (float)attr(c, "epsilon"),
                                    attr_int(c, "affine"), &l);
    } else if (strcmp(k, "matmul") == 0) {
        st = graft_layer_matmul(ctx, &l);
    } else if (strcmp(k, "mul") == 0) {
        st = graft_layer_mul(ctx, &l);
    } else if (strcmp(k, "hard_sigmoid") == 0) {
        st = graft_layer_hard_sigmoid(ctx, (float)attr(c, "alpha"), (float)attr(c, "beta"), &l);
    } else if (strcmp(k, "pad2d") == 0) {
        /* The fixture's mode codes: 0 constant, 1 reflect, 2 edge. */
        static const int modes[3] = {GRAFT_PAD_CONSTANT, GRAFT_PAD_REFLECT, GRAFT_PAD_EDGE};
        graft_pad2d_spec s = GRAFT_PAD2D_SPEC_INIT;
        s.pad_top = attr_int(c, "pad_top");
        s.pad_left = attr_int(c, "pad_left");
        s.pad_bottom = attr_int(c, "pad_bottom");
        s.pad_right = attr_int(c, "pad_right");
        int mode = attr_int(c, "mode");
        ck_assert_msg(mode >= 0 && mode <= 2, "case %s: pad2d mode %d is not 0, 1 or 2", c->name,
                      mode);
        s.mode = modes[mode];
        s.value = (float)attr(c, "value");
        st = graft_layer_pad2d(ctx, &s, &l);
    } else if (strcmp(k, "upsample2d") == 0) {
        graft_upsample2d_spec s = GRAFT_UPSAMPLE2D_SPEC_INIT;
        s.scale_h = (float)attr(c, "scale_h");
        s.scale_w = (float)attr(c, "scale_w");
        s.out_h = attr_int(c, "out_h");
        s.out_w = attr_int(c, "out_w");
        s.mode = attr_int(c, "mode");
        s.coord = attr_int(c, "coord");
        s.nearest = attr_int(c, "nearest");
        st = graft_layer_upsample2d(ctx, &s, &l);
    } else if (strcmp(k, "conv_transpose2d") == 0) {
        graft_conv_transpose2d_spec s = GRAFT_CONV_TRANSPOSE2D_SPEC_INIT;
        s.out_channels = attr_int(c, "out_channels");
        s.kernel_h = attr_int(c, "kernel_h");
        s.kernel_w = attr_int(c, "kernel_w");
        s.stride_h = attr_int(c, "stride_h");
        s.stride_w = attr_int(c, "stride_w");
        s.pad_top = attr_int(c, "pad_top");
        s.pad_left = attr_int(c, "pad_left");
        s.pad_bottom = attr_int(c, "pad_bottom");
        s.pad_right = attr_int(c, "pad_right");
        s.output_padding_h = attr_int(c, "output_padding_h");
        s.output_padding_w = attr_int(c, "output_padding_w");
        s.dilation_h = attr_int(c, "dilation_h");
        s.dilation_w = attr_int(c, "dilation_w");
        s.groups = attr_int(c, "groups");
        s.bias = attr_int(c, "bias");
        st = graft_layer_conv_transpose2d(ctx, &s, &l);
    } else if (strcmp(k, "reshape") == 0 || strcmp(k, "scale_shift") == 0) {
        int64_t dims[GRAFT_MAX_DIMS];
        int ndim = sample_dims(c, dims);
        st = k[0] == 'r' ? graft_layer_reshape(ctx, ndim, dims, &l)
                         : graft_layer_scale_shift(ctx, ndim, dims, &l);
    } else {
        ck_abort_msg("case %s: no constructor for kind %s", c->name, k);
        return NULL;
    }
    ck_assert_msg(st == GRAFT_OK && l != NULL, "case %s: creating the %s layer: status %d, %s",
                  c->name, k, st, graft_errmsg(ctx));
    check_attrs_used(c);
    ck_assert_str_eq(graft_layer_kind(l), k);
    return l;
}

/* The layer's parameter named name: its index, or -1. */
static int find_param(graft_layer *l, const char *name)
{
    for (int i = 0; i < graft_layer_param_count(l); i++) {
        const char *pn = NULL;
        ck_assert_int_eq(graft_layer_param(l, i, &pn, NULL, NULL, NULL), GRAFT_OK);
        if (pn && strcmp(pn, name) == 0) return i;
    }
    return -1;
}

/* ---- running cases ------------------------------------------------------------ */

static void run_layer_case(rt_case *c)
{
    graft_ctx *ctx = tu_ctx();
    graft_tensor *in[RT_MAX_INPUTS];
    for (int i = 0; i < c->n_in; i++) in[i] = make_tensor(ctx, &c->in[i]);
    const graft_tensor *const *cin = (const graft_tensor *const *)in;
    graft_layer *l = make_layer(ctx, c);
    ck_assert_msg(graft_layer_build(l, c->n_in, cin, 1) == GRAFT_OK, "case %s: build: %s",
                  c->name, graft_errmsg(ctx));

    /* Copy every parameter in; the fixture must set all of them. */
    ck_assert_msg(graft_layer_param_count(l) == c->n_param,
                  "case %s: the %s layer has %d parameters, the fixture sets %d", c->name,
                  c->kind, graft_layer_param_count(l), c->n_param);
    for (int k = 0; k < c->n_param; k++) {
        const rt_tensor *p = &c->param[k];
        int idx = find_param(l, p->name);
        ck_assert_msg(idx >= 0, "case %s: the %s layer has no parameter \"%s\"", c->name,
                      c->kind, p->name);
        graft_tensor *value = NULL;
        ck_assert_int_eq(graft_layer_param(l, idx, NULL, &value, NULL, NULL), GRAFT_OK);
        int same = graft_tensor_ndim(value) == p->ndim;
        for (int d = 0; same && d < p->ndim; d++) same = graft_tensor_dim(value, d) == p->dims[d];
        char a[128];
        shape_string(p->ndim, p->dims, a, sizeof a);
        ck_assert_msg(same, "case %s: parameter %s of the %s layer does not have PyTorch's "
                      "shape %s", c->name, p->name, c->kind, a);
        ck_assert_int_eq(graft_tensor_copy_from(value, p->data, p->numel), GRAFT_OK);
    }
    ck_assert_msg(graft_layer_set_training(l, c->training) == GRAFT_OK, "case %s: %s", c->name,
                  graft_errmsg(ctx));

    const graft_tensor *out = NULL;
    ck_assert_msg(graft_layer_forward(l, c->n_in, cin, &out) == GRAFT_OK, "case %s: forward: %s",
                  c->name, graft_errmsg(ctx));
    compare(c, "output", out, &c->out);

    /* Buffers after the forward pass (updated in training, kept in inference). */
    for (int k = 0; k < c->n_after; k++) {
        int idx = find_param(l, c->after[k].name);
        ck_assert_msg(idx >= 0, "case %s: no buffer \"%s\"", c->name, c->after[k].name);
        graft_tensor *value = NULL;
        ck_assert_int_eq(graft_layer_param(l, idx, NULL, &value, NULL, NULL), GRAFT_OK);
        char what[RT_NAME + 32];
        snprintf(what, sizeof what, "%s after forward", c->after[k].name);
        compare(c, what, value, &c->after[k]);
    }

    graft_tensor *dout = make_tensor(ctx, &c->dout);
    const graft_tensor *din[RT_MAX_INPUTS] = {NULL};
    ck_assert_msg(graft_layer_backward(l, c->n_in, cin, dout, din) == GRAFT_OK,
                  "case %s: backward: %s", c->name, graft_errmsg(ctx));
    for (int i = 0; i < c->n_in; i++) {
        char what[48];
        snprintf(what, sizeof what, "input gradient %d", i);
        compare(c, what, din[i], &c->din[i]);
    }

    /* Every trainable parameter has a reference gradient, and it matches. */
    int trainable_count = 0;
    for (int i = 0; i < graft_layer_param_count(l); i++) {
        int trainable = 0;
        const char *pn = NULL;
        ck_assert_int_eq(graft_layer_param(l, i, &pn, NULL, NULL, &trainable), GRAFT_OK);
        trainable_count += trainable;
        if (!trainable) continue;
        int found = 0;
        for (int k = 0; k < c->n_dparam; k++) found |= strcmp(c->dparam[k].name, pn) == 0;
        ck_assert_msg(found, "case %s: no reference gradient for parameter %s", c->name, pn);
    }
    ck_assert_msg(trainable_count == c->n_dparam,
                  "case %s: the layer has %d trainable parameters, the fixture %d gradients",
                  c->name, trainable_count, c->n_dparam);
    for (int k = 0; k < c->n_dparam; k++) {
        int idx = find_param(l, c->dparam[k].name);
        ck_assert_msg(idx >= 0, "case %s: no parameter \"%s\"", c->name, c->dparam[k].name);
        const graft_tensor *grad = NULL;
        ck_assert_int_eq(graft_layer_param(l, idx, NULL, NULL, &grad, NULL), GRAFT_OK);
        char what[RT_NAME + 32];
        snprintf(what, sizeof what, "%s gradient", c->dparam[k].name);
        compare(c, what, grad, &c->dparam[k]);
    }

    graft_tensor_free(dout);
    graft_layer_free(l);
    for (int i = 0; i < c->n_in; i++) graft_tensor_free(in[i]);
    graft_ctx_free(ctx);
}

static void check_loss_value(const rt_case *c, float got)
{
    double diff = fabs((double)got - c->loss), tol = REF_ATOL + REF_RTOL * fabs(c->loss);
    ck_assert_msg(diff <= tol, "case %s: loss: graft %.9g, PyTorch %.9g (difference %.3g, "
                  "tolerance %.3g)", c->name, got, c->loss, diff, tol);
}

static void run_loss_case(rt_case *c)
{
    graft_ctx *ctx = tu_ctx();
    graft_tensor *a = make_tensor(ctx, &c->in[0]);
    graft_tensor *grad = make_tensor(ctx, &c->in[0]);
    ck_assert_int_eq(graft_tensor_fill(grad, NAN), GRAFT_OK); /* must be overwritten */
    float loss = NAN;
    int st;
    graft_tensor *b = NULL;
    if (strcmp(c->kind, "mse") == 0) {
        b = make_tensor(ctx, &c->in[1]);
        st = graft_loss_mse(a, b, &loss, grad);
    } else {
        st = graft_loss_softmax_cross_entropy(a, c->labels, &loss, grad);
    }
    ck_assert_msg(st == GRAFT_OK, "case %s: status %d, %s", c->name, st, graft_errmsg(ctx));
    check_loss_value(c, loss);
    compare(c, "gradient", grad, &c->din[0]);
    graft_tensor_free(a);
    graft_tensor_free(b);
    graft_tensor_free(grad);
    graft_ctx_free(ctx);
}

/* Runs every case of one kind; a kind with no case fails. */
static void run_kind(const char *kind)
{
    rt_fixture fx;
    fixture_load(&fx);
    int ran = 0;
    for (int i = 0; i < fx.n_cases; i++) {
        rt_case *c = &fx.cases[i];
        if (strcmp(c->kind, kind) != 0) continue;
        if (is_loss_kind(kind)) run_loss_case(c);
        else run_layer_case(c);
        ran++;
    }
    fixture_free(&fx);
    ck_assert_msg(ran > 0, "%s has no %s case", FIXTURE_PATH, kind);
}

/* Every registered layer kind, one loop iteration each (its index in
 * kinds.h). */
START_TEST(test_ref_layer_kind) { run_kind(all_kinds[_i]); }
END_TEST

#define KIND_TEST(fn, kind) \
    START_TEST(fn) { run_kind(kind); } \
    END_TEST

KIND_TEST(test_ref_softmax_cross_entropy, "softmax_cross_entropy")
KIND_TEST(test_ref_mse, "mse")

/* 1 when tensor a has size 1 on an axis where b is larger (a broadcasts). */
static int broadcasts_over(const rt_tensor *a, const rt_tensor *b)
{
    if (a->ndim != b->ndim) return 0;
    for (int d = 1; d < a->ndim; d++)
        if (a->dims[d] == 1 && b->dims[d] > 1) return 1;
    return 0;
}

/* The fixture covers every kind, with the variants the layers' options need,
 * and batch norm in both modes with running statistics. */
START_TEST(test_ref_fixture_covers_every_kind)
{
    rt_fixture fx;
    fixture_load(&fx);
    int count[N_KINDS] = {0};
    int bn_train_after = 0, bn_eval = 0, multi_input = 0;
    int mul_equal = 0, mul_bcast_second = 0, mul_bcast_first = 0;
    int pad_mode[3] = {0}, pad_const_value = 0, hs_torch = 0, hs_other = 0;
    int gelu_form[2] = {0};
    int ss_bcast = 0, ss_after = 0;
    for (int i = 0; i < fx.n_cases; i++) {
        const rt_case *c = &fx.cases[i];
        int k = kind_index(c->kind);
        ck_assert_int_ge(k, 0); /* the parser rejects unknown kinds */
        count[k]++;
        if (strcmp(c->kind, "batch_norm") == 0) {
            if (c->training && c->n_after == 2) bn_train_after++;
            if (!c->training) bn_eval++;
        }
        if (c->n_in == 3) multi_input++;
        if (strcmp(c->kind, "mul") == 0 && c->n_in == 2) {
            const rt_tensor *a = &c->in[0], *b = &c->in[1];
            int equal = a->ndim == b->ndim;
            for (int d = 0; equal && d < a->ndim; d++) equal = a->dims[d] == b->dims[d];
            mul_equal += equal;
            mul_bcast_second += broadcasts_over(b, a);
            mul_bcast_first += broadcasts_over(a, b);
        }
        if (strcmp(c->kind, "pad2d") == 0) {
            double mode = attr_or(c, "mode", -1);
            if (mode >= 0 && mode <= 2) pad_mode[(int)mode]++;
            if (mode == 0 && attr_or(c, "value", 0) != 0) pad_const_value++;
        }
        if (strcmp(c->kind, "hard_sigmoid") == 0) {
            int torch_default = fabs(attr_or(c, "alpha", 0) - 1.0 / 6.0) < 1e-6 &&
                                attr_or(c, "beta", 0) == 0.5;
            hs_torch += torch_default;
            hs_other += !torch_default;
        }
        if (strcmp(c->kind, "gelu") == 0) {
            double a = attr_or(c, "approximate", -1);
            if (a == 0 || a == 1) gelu_form[(int)a]++;
        }
        if (strcmp(c->kind, "scale_shift") == 0 && c->n_param == 2) {
            /* scale (p1, ..., pk) against the input (N, d1, ..., dk) */
            for (int d = 1; d < c->in[0].ndim && d - 1 < c->param[0].ndim; d++)
                if (c->param[0].dims[d - 1] == 1 && c->in[0].dims[d] > 1) {
                    ss_bcast++;
                    break;
                }
            ss_after += c->n_after == 2;
        }
    }
    for (int k = 0; k < N_KINDS; k++)
        ck_assert_msg(count[k] >= 1, "%s has no %s case", FIXTURE_PATH, all_kinds[k]);
    ck_assert_msg(count[kind_index("conv2d")] >= 8, "fewer conv2d variants than expected");
    ck_assert_msg(count[kind_index("max_pool2d")] >= 5, "fewer max_pool2d variants than expected");
    ck_assert_msg(count[kind_index("avg_pool2d")] >= 5, "fewer avg_pool2d variants than expected");
    ck_assert_msg(bn_train_after >= 1 && bn_eval >= 1,
                  "batch norm needs training cases with running statistics and inference cases");
    ck_assert_msg(multi_input >= 2, "add and concat need 3-input cases");
    ck_assert_msg(mul_equal >= 1 && mul_bcast_second >= 1 && mul_bcast_first >= 1,
                  "mul needs equal shapes and each input broadcast");
    ck_assert_msg(pad_mode[0] >= 1 && pad_mode[1] >= 1 && pad_mode[2] >= 1 && pad_const_value >= 1,
                  "pad2d needs constant (with a non-zero value), reflect and edge cases");
    ck_assert_msg(hs_torch >= 1 && hs_other >= 1,
                  "hard_sigmoid needs PyTorch's alpha 1/6, beta 1/2 and another pair");
    ck_assert_msg(gelu_form[0] >= 1 && gelu_form[1] >= 1, "gelu needs the erf and tanh forms");
    ck_assert_msg(count[kind_index("reshape")] >= 2, "fewer reshape variants than expected");
    ck_assert_msg(ss_bcast >= 1 && ss_after >= 1,
                  "scale_shift needs broadcast coefficients and their values after the pass");
    fixture_free(&fx);
}
END_TEST

/* ---- parser robustness ------------------------------------------------------- */

#define GOOD_RELU                                           \
    "# a comment\n"                                         \
    "\n"                                                    \
    "case r relu\n"                                         \
    "train 1\n"                                             \
    "in 2 1 3 -1 0.5 2\n"                                   \
    "dout 2 1 3 1 1 1\n"                                    \
    "out 2 1 3 0 0.5 2\r\n"                                 \
    "din 2 1 3 0 1 1\n"                                     \
    "end\n"

START_TEST(test_ref_parser_accepts_valid_text)
{
    rt_fixture fx;
    const char *text = GOOD_RELU
        "case s softmax_cross_entropy\n"
        "train 1\n"
        "in 2 2 2 0 1 1 0\n"
        "labels 2 1 0\n"
        "loss 0.313261688\n"
        "din 2 2 2 0.1 -0.1 -0.1 0.1\n"
        "end\n"
        "case c conv2d\n"
        "attr out_channels 1\n"
        "attr bias 1\n"
        "train 0\n"
        "in 4 1 1 1 1 2.5\n"
        "param weight 4 1 1 1 1 3\n"
        "param bias 1 1 -1\n"
        "dout 4 1 1 1 1 1\n"
        "out 4 1 1 1 1 6.5\n"
        "din 4 1 1 1 1 3\n"
        "dparam weight 4 1 1 1 1 2.5\n"
        "dparam bias 1 1 1\n"
        "end"; /* no final newline */
    int st = fixture_parse(text, strlen(text), &fx);
    ck_assert_msg(st == 0, "%s", fx.error);
    ck_assert_int_eq(fx.n_cases, 3);
    const rt_case *r = &fx.cases[0];
    ck_assert_str_eq(r->name, "r");
    ck_assert_str_eq(r->kind, "relu");
    ck_assert_int_eq(r->line, 3);
    ck_assert_int_eq(r->training, 1);
    ck_assert_int_eq(r->n_in, 1);
    ck_assert_int_eq(r->in[0].ndim, 2);
    ck_assert_int_eq(r->in[0].dims[1], 3);
    ck_assert_float_eq(r->in[0].data[0], -1.0f);
    ck_assert_float_eq(r->out.data[2], 2.0f);
    const rt_case *s = &fx.cases[1];
    ck_assert_int_eq(s->n_labels, 2);
    ck_assert_int_eq(s->labels[0], 1);
    ck_assert_double_eq_tol(s->loss, 0.313261688, 1e-12);
    const rt_case *c = &fx.cases[2];
    ck_assert_int_eq(c->training, 0);
    ck_assert_int_eq(c->n_attrs, 2);
    ck_assert_str_eq(c->attr_key[0], "out_channels");
    ck_assert_int_eq(c->n_param, 2);
    ck_assert_str_eq(c->param[1].name, "bias");
    ck_assert_int_eq(c->n_dparam, 2);
    fixture_free(&fx);

    ck_assert_int_eq(fixture_parse("", 0, &fx), 0);
    ck_assert_int_eq(fx.n_cases, 0);
    fixture_free(&fx);
}
END_TEST

/* Each malformed text fails with the line and the reason; none crashes. */
START_TEST(test_ref_parser_rejects_malformed_text)
{
    static const struct {
        const char *text, *error;
    } bad[] = {
        {"in 2 1 1 0\n", "line 1: \"in\" record outside a case"},
        {"case a relu\ntrain 1\nin 2 1 3 1 2\n", "line 3: in 0 has 2 values, its shape needs 3"},
        {"case a relu\ntrain 1\nin 2 1 3 1 2 3 4\n", "line 3: in 0 has more values than its shape's 3"},
        {"case a relu\nin 9 1 1 1 1 1 1 1 1 1 0\n", "line 2: in 0 rank is 9, must be in [1, 8]"},
        {"case a relu\nin 2 0 2\n", "line 2: in 0 size 0 is 0, must be in [1, 1048576]"},
        {"case a relu\nin 2 1024 1025\n", "line 2: in 0 has more than 1048576 elements"},
        {"case a relu\nin 1 2 1 x\n", "line 2: in 0 value 1 \"x\" is not a number"},
        {"case a relu\nin 1 2 1 nan\n", "line 2: in 0 value 1 \"nan\" is not finite"},
        {"case a relu\nin 1 2 1 1e99\n", "line 2: in 0 value 1 \"1e99\" is not finite"},
        {"case a relu\nin 1.5 2 1 1\n", "line 2: in 0 rank \"1.5\" is not an integer"},
        {"case a relu\nin\n", "line 2: missing in 0 rank"},
        {"case a relu\ntrain 1\n", "line 1: case a has no end record"},
        {"case a bogus\n", "line 1: case a has unknown kind \"bogus\""},
        {"case a\n", "line 1: missing case kind"},
        {"case a relu extra\n", "line 1: unexpected text after the record"},
        {"case a relu\nfoo 1\n", "line 2: unknown record \"foo\""},
        {"case a relu\ncase b relu\n", "line 2: case a is not ended before the next case"},
        {"case a relu\ntrain 2\n", "line 2: train flag is 2, must be in [0, 1]"},
        {"case a relu\ntrain 1\ntrain 0\n", "line 3: a second train record"},
        {"case a relu\nend\n", "line 2: case a has no train record"},
        {"case a relu\ntrain 1\nin 1 1 1\nend\n", "line 4: case a needs a dout and an out record"},
        {"case a relu\ntrain 1\nin 1 1 1\ndout 1 1 1\nout 1 1 1\nend\n",
         "line 6: case a has 0 din records for 1 inputs"},
        {"case a relu\ntrain 1\nend\n", "line 3: case a has no in record"},
        {"case a dense\nattr units\n", "line 2: missing attribute value"},
        {"case a dense\nattr units 3\nattr units 4\n", "line 3: attribute units given twice"},
        {"case a dense\nparam weight 1 1 1\nparam weight 1 1 1\n",
         "line 3: a second param record for \"weight\""},
        {"case a mse\ntrain 1\nin 1 1 1\nloss 1\ndin 1 1 1\nend\n",
         "line 6: case a: a mse case needs 2 in records, has 1"},
        {"case a softmax_cross_entropy\ntrain 1\nin 2 2 1 0 0\nloss 1\ndin 2 2 1 0 0\nend\n",
         "line 6: case a: labels go with softmax_cross_entropy only, and it needs them"},
        {"case a softmax_cross_entropy\ntrain 1\nin 2 2 1 0 0\nlabels 3 0 0 0\nloss 1\n"
         "din 2 2 1 0 0\nend\n",
         "line 7: case a: 3 labels for logits that are not (3, C)"},
        {"case a softmax_cross_entropy\nlabels 2 0 x\n", "line 2: label \"x\" is not an integer"},
        {"case a relu\nloss inf\n", "line 2: loss \"inf\" is not finite"},
        {GOOD_RELU "case r relu\n", "line 10: a second case named r"},
        {"case a relu\nin 1 1 0.123456789012345678901234567890123456789012345678901234567890123\n",
         "line 2: in 0 value 0 is too long"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        rt_fixture fx;
        int st = fixture_parse(bad[i].text, strlen(bad[i].text), &fx);
        ck_assert_msg(st == -1, "malformed text %zu was accepted", i);
        ck_assert_msg(strcmp(fx.error, bad[i].error) == 0, "text %zu: error \"%s\", expected \"%s\"",
                      i, fx.error, bad[i].error);
        fixture_free(&fx);
    }
    /* A NUL byte inside a line. */
    rt_fixture fx;
    const char nul[] = "case a relu\ntrain\0 1\n";
    ck_assert_int_eq(fixture_parse(nul, sizeof nul - 1, &fx), -1);
    ck_assert_str_eq(fx.error, "line 2: a NUL byte in the line");
    fixture_free(&fx);
    /* Every truncation of a valid text parses or fails cleanly. */
    const char *good = GOOD_RELU;
    size_t n = strlen(good), ok = 0;
    for (size_t len = 0; len <= n; len++) {
        char *copy = malloc(len + 1);
        memcpy(copy, good, len);
        int st = fixture_parse(copy, len, &fx);
        if (st == 0) ok++;
        else ck_assert(strncmp(fx.error, "line ", 5) == 0);
        fixture_free(&fx);
        free(copy);
    }
    /* Only the prefixes ending outside the case parse: the 14 within the
     * comment and blank lines (lengths 0 to 13), and the 2 ending in "end"
     * with or without its newline. */
    ck_assert_uint_eq(ok, 16);
}
END_TEST

Suite *suite_torch_refs(void)
{
    Suite *s = suite_create("torch_refs");
    TCase *tc = tcase_create("fixture");
    tcase_add_test(tc, test_ref_fixture_covers_every_kind);
    tcase_add_test(tc, test_ref_parser_accepts_valid_text);
    tcase_add_test(tc, test_ref_parser_rejects_malformed_text);
    suite_add_tcase(s, tc);

    tc = tcase_create("layers");
    tcase_set_timeout(tc, 60);
    tcase_add_loop_test(tc, test_ref_layer_kind, 0, GRAFT_LAYER_KIND_COUNT);
    suite_add_tcase(s, tc);

    tc = tcase_create("losses");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_ref_softmax_cross_entropy);
    tcase_add_test(tc, test_ref_mse);
    suite_add_tcase(s, tc);
    return s;
}
