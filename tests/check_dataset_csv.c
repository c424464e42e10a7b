/*
 * check_dataset_csv.c - datasets read from CSV files (src/data/dataset_csv.c),
 * plain and gzip-compressed: values, a header line and the label first,
 * parse errors with their line and column, and the options. The CSV text is
 * written by the tests in a fresh folder under /tmp.
 */
#include "testutil.h"

#include "data/dataset.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <stddef.h>
#include <string.h>

/* ---- CSV ------------------------------------------------------------------------ */

/* Loads text as a CSV file with opts; returns the status (ds may be NULL
 * to free the result at once). */
static int csv_from_text(graft_ctx *ctx, const char *dir, const char *text,
                         const graft_csv_opts *opts, graft_dataset **ds, char *path,
                         size_t path_size)
{
    snprintf(path, path_size, "%s/data.csv", dir);
    tu_write_text(path, text);
    graft_dataset *tmp = NULL;
    int st = graft_dataset_from_csv(ctx, path, opts, &tmp);
    if (st != GRAFT_OK) ck_assert_ptr_null(tmp);
    if (ds) *ds = tmp;
    else graft_dataset_free(tmp);
    return st;
}

static void assert_row(graft_dataset *ds, int64_t i, const float *want, int n, int32_t label)
{
    float f[16];
    int32_t l = -1;
    ck_assert_int_eq(graft_dataset_get(ds, i, f, &l), GRAFT_OK);
    ck_assert_int_eq(l, label);
    for (int k = 0; k < n; k++)
        ck_assert_msg(f[k] == want[k], "row %lld value %d is %g, expected %g", (long long)i, k,
                      (double)f[k], (double)want[k]);
}

START_TEST(test_csv_good)
{
    graft_ctx *ctx = tu_ctx();
    char dir[64], p[128];
    tu_make_dir(dir, sizeof dir, "csv");
    graft_csv_opts o = GRAFT_CSV_OPTS_INIT;
    o.ndim = 3;
    o.dims[0] = 1;
    o.dims[1] = 2;
    o.dims[2] = 2;
    o.scale = 0.5f;
    /* Number forms, spaces around fields, a CR LF line, trailing empty lines. */
    graft_dataset *ds = NULL;
    int st = csv_from_text(ctx, dir, "1,2,3,4,1\n -2.5 , +3e1,.5,5.,0\r\n8,6,4,2,4\n\n\n", &o, &ds,
                           p, sizeof p);
    ck_assert_msg(st == GRAFT_OK, "%s", graft_errmsg(ctx));
    ck_assert_int_eq(graft_dataset_size(ds), 3);
    ck_assert_int_eq(graft_dataset_class_count(ds), 5); /* max label 4 + 1 */
    const graftShape *s = &ds->src->sample_shape;
    ck_assert_int_eq(s->ndim, 4);
    ck_assert_int_eq(s->dims[1], 1);
    ck_assert_int_eq(s->dims[2], 2);
    ck_assert_int_eq(s->dims[3], 2);
    /* value * 0.5: -2.5 -> -1.25, +3e1 -> 15, .5 -> 0.25, 5. -> 2.5 */
    const float r0[4] = {0.5f, 1.0f, 1.5f, 2.0f}, r1[4] = {-1.25f, 15.0f, 0.25f, 2.5f},
                r2[4] = {4.0f, 3.0f, 2.0f, 1.0f};
    assert_row(ds, 0, r0, 4, 1);
    assert_row(ds, 1, r1, 4, 0);
    assert_row(ds, 2, r2, 4, 4);
    graft_dataset_free(ds);

    /* Defaults (opts NULL): shape (F) from the first row, label last, and
     * the decimal conversion is exact where a float can be: 0.1 is the
     * float nearest 0.1. */
    st = csv_from_text(ctx, dir, "0.1,7,2\n3,4,0\n", NULL, &ds, p, sizeof p);
    ck_assert_msg(st == GRAFT_OK, "%s", graft_errmsg(ctx));
    ck_assert_int_eq(ds->src->sample_shape.ndim, 2);
    ck_assert_int_eq(ds->src->sample_shape.dims[1], 2);
    ck_assert_int_eq(graft_dataset_class_count(ds), 3);
    const float d0[2] = {0.1f, 7.0f}, d1[2] = {3.0f, 4.0f};
    assert_row(ds, 0, d0, 2, 2);
    assert_row(ds, 1, d1, 2, 0);
    ck_assert_int_eq(graft_dataset_is_deterministic(ds), 1);
    graft_dataset_free(ds);

    /* A whole-number label written as a decimal, and a semicolon file. */
    o = (graft_csv_opts)GRAFT_CSV_OPTS_INIT;
    o.delimiter = ';';
    o.n_classes = 10;
    st = csv_from_text(ctx, dir, "1;2;3.0\n4;5;9e0\n", &o, &ds, p, sizeof p);
    ck_assert_msg(st == GRAFT_OK, "%s", graft_errmsg(ctx));
    ck_assert_int_eq(graft_dataset_class_count(ds), 10);
    const float s0[2] = {1.0f, 2.0f}, s1[2] = {4.0f, 5.0f};
    assert_row(ds, 0, s0, 2, 3);
    assert_row(ds, 1, s1, 2, 9);
    graft_dataset_free(ds);

    /* Tab-separated: spaces around fields are still blanks. */
    o = (graft_csv_opts)GRAFT_CSV_OPTS_INIT;
    o.delimiter = '\t';
    st = csv_from_text(ctx, dir, "1\t 2 \t1\n-4\t5\t0\n", &o, &ds, p, sizeof p);
    ck_assert_msg(st == GRAFT_OK, "%s", graft_errmsg(ctx));
    const float t0[2] = {1.0f, 2.0f}, t1[2] = {-4.0f, 5.0f};
    assert_row(ds, 0, t0, 2, 1);
    assert_row(ds, 1, t1, 2, 0);
    graft_dataset_free(ds);
    tu_rm_tree(dir);
    graft_ctx_free(ctx);
}
END_TEST

START_TEST(test_csv_header_and_label_first)
{
    graft_ctx *ctx = tu_ctx();
    char dir[64], p[128];
    tu_make_dir(dir, sizeof dir, "csv");
    graft_csv_opts o = GRAFT_CSV_OPTS_INIT;
    o.header_rows = 2; /* skipped unread, even when not numeric */
    o.label_column = GRAFT_CSV_LABEL_FIRST;
    graft_dataset *ds = NULL;
    int st = csv_from_text(ctx, dir, "label,a,b,c\n# any text, even \"quoted\"\n2,1,2,3\n0,4,5,6",
                           &o, &ds, p, sizeof p);
    ck_assert_msg(st == GRAFT_OK, "%s", graft_errmsg(ctx));
    ck_assert_int_eq(graft_dataset_size(ds), 2);
    ck_assert_int_eq(ds->src->sample_shape.dims[1], 3);
    const float r0[3] = {1, 2, 3}, r1[3] = {4, 5, 6};
    assert_row(ds, 0, r0, 3, 2);
    assert_row(ds, 1, r1, 3, 0);
    graft_dataset_free(ds);

    /* The UCI digits layout: 64 values, then the label, as 1 x 8 x 8. */
    char text[4096];
    size_t k = 0;
    for (int row = 0; row < 2; row++) {
        for (int j = 0; j < 64; j++) k += (size_t)sprintf(text + k, "%d,", (j + row) % 17);
        k += (size_t)sprintf(text + k, "%d\n", 8 - row);
    }
    o = (graft_csv_opts)GRAFT_CSV_OPTS_INIT;
    o.ndim = 3;
    o.dims[0] = 1;
    o.dims[1] = 8;
    o.dims[2] = 8;
    o.scale = 1.0f / 16.0f;
    o.n_classes = 10;
    st = csv_from_text(ctx, dir, text, &o, &ds, p, sizeof p);
    ck_assert_msg(st == GRAFT_OK, "%s", graft_errmsg(ctx));
    float f[64];
    int32_t label;
    ck_assert_int_eq(graft_dataset_get(ds, 1, f, &label), GRAFT_OK);
    ck_assert_int_eq(label, 7);
    for (int j = 0; j < 64; j++) ck_assert(f[j] == (float)((j + 1) % 17) / 16.0f);
    graft_dataset_free(ds);

    /* The same text gzip-compressed. */
    snprintf(p, sizeof p, "%s/digits.csv.gz", dir);
    tu_write_gzip(p, "wb", text, strlen(text));
    st = graft_dataset_from_csv(ctx, p, &o, &ds);
    ck_assert_msg(st == GRAFT_OK, "%s", graft_errmsg(ctx));
    ck_assert_int_eq(graft_dataset_size(ds), 2);
    ck_assert_int_eq(graft_dataset_get(ds, 0, f, &label), GRAFT_OK);
    ck_assert_int_eq(label, 8);
    ck_assert(f[16] == 16.0f / 16.0f);
    graft_dataset_free(ds);
    tu_rm_tree(dir);
    graft_ctx_free(ctx);
}
END_TEST

/* One parse error: the text, the expected status and the message after
 * "graft_dataset_from_csv(): '<path>' ". */
typedef struct csv_case {
    const char *text;
    int status;
    const char *msg;
} csv_case;

START_TEST(test_csv_parse_errors)
{
    graft_ctx *ctx = tu_ctx();
    char dir[64], p[128], msg[640];
    tu_make_dir(dir, sizeof dir, "csv");
    static const csv_case cases[] = {
        {"1,2,0\n1,x,0\n", GRAFT_E_FORMAT, "line 2, column 2: 'x' is not a number"},
        {"1,,0\n", GRAFT_E_FORMAT, "line 1, column 2: '' is not a number"},
        {"nan,1,0\n", GRAFT_E_FORMAT, "line 1, column 1: 'nan' is not a number"},
        {"1,inf,0\n", GRAFT_E_FORMAT, "line 1, column 2: 'inf' is not a number"},
        {"0x10,1,0\n", GRAFT_E_FORMAT, "line 1, column 1: '0x10' is not a number"},
        {"1e,1,0\n", GRAFT_E_FORMAT, "line 1, column 1: '1e' is not a number"},
        {"1.2.3,1,0\n", GRAFT_E_FORMAT, "line 1, column 1: '1.2.3' is not a number"},
        {"1 2,1,0\n", GRAFT_E_FORMAT, "line 1, column 1: '1 2' is not a number"},
        {"\"1\",1,0\n", GRAFT_E_FORMAT, "line 1, column 1: '\"1\"' is not a number"},
        {"1,2,0\n3,4\n", GRAFT_E_FORMAT,
         "line 2 has 2 fields, expected 3 (2 features and the label)"},
        {"1,2,0\n3,4,5,1\n", GRAFT_E_FORMAT,
         "line 2 has 4 fields, expected 3 (2 features and the label)"},
        {"1,2,2.5\n", GRAFT_E_FORMAT,
         "line 1, column 3: the label '2.5' is not a whole number in [0, 2147483647)"},
        {"1,2,0\n1,2,-1\n", GRAFT_E_FORMAT,
         "line 2, column 3: the label '-1' is not a whole number in [0, 2147483647)"},
        {"1,2,0\n\n1,2,0\n", GRAFT_E_FORMAT,
         "line 2 is empty; empty lines are allowed only at the end"},
        {"7\n", GRAFT_E_FORMAT,
         "line 1 has 1 field; a row needs at least one feature and the label"},
        {"", GRAFT_E_FORMAT, "has no data rows (0 lines, 0 skipped as header)"},
        {"\n\n", GRAFT_E_FORMAT, "has no data rows (2 lines, 0 skipped as header)"},
        {"1,1e39,0\n", GRAFT_E_NUMERIC,
         "line 1, column 2: '1e39' times scale 1 is outside float's range"},
        {"1,\x01z,0\n", GRAFT_E_FORMAT, "line 1, column 2: '?z' is not a number"},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        int st = csv_from_text(ctx, dir, cases[k].text, NULL, NULL, p, sizeof p);
        snprintf(msg, sizeof msg, "graft_dataset_from_csv(): '%s' %s", p, cases[k].msg);
        ck_assert_msg(st == cases[k].status, "case %zu: status %d (%s)", k, st,
                      graft_errmsg(ctx));
        ck_assert_msg(strcmp(graft_errmsg(ctx), msg) == 0, "case %zu: '%s', expected '%s'", k,
                      graft_errmsg(ctx), msg);
    }
    /* A label over an explicit class count. */
    graft_csv_opts o = GRAFT_CSV_OPTS_INIT;
    o.n_classes = 3;
    int st = csv_from_text(ctx, dir, "1,2,0\n1,2,3\n", &o, NULL, p, sizeof p);
    snprintf(msg, sizeof msg,
             "graft_dataset_from_csv(): '%s' line 2: the label 3 must be below n_classes 3", p);
    tu_expect_error(ctx, st, GRAFT_E_RANGE, msg);
    /* Rows that do not fit the given shape (2 x 2 needs 4 features). */
    o = (graft_csv_opts)GRAFT_CSV_OPTS_INIT;
    o.ndim = 2;
    o.dims[0] = 2;
    o.dims[1] = 2;
    st = csv_from_text(ctx, dir, "1,2,3,0\n", &o, NULL, p, sizeof p);
    snprintf(msg, sizeof msg,
             "graft_dataset_from_csv(): '%s' line 1 has 4 fields, expected 5 (4 features and "
             "the label)", p);
    tu_expect_error(ctx, st, GRAFT_E_FORMAT, msg);
    /* Header rows counted in line numbers. */
    o = (graft_csv_opts)GRAFT_CSV_OPTS_INIT;
    o.header_rows = 1;
    st = csv_from_text(ctx, dir, "a,b,c\n1,2,0\n1,?,0\n", &o, NULL, p, sizeof p);
    snprintf(msg, sizeof msg,
             "graft_dataset_from_csv(): '%s' line 3, column 2: '?' is not a number", p);
    tu_expect_error(ctx, st, GRAFT_E_FORMAT, msg);
    st = csv_from_text(ctx, dir, "a,b,c\n", &o, NULL, p, sizeof p);
    snprintf(msg, sizeof msg,
             "graft_dataset_from_csv(): '%s' has no data rows (1 lines, 1 skipped as header)", p);
    tu_expect_error(ctx, st, GRAFT_E_FORMAT, msg);
    tu_rm_tree(dir);
    graft_ctx_free(ctx);
}
END_TEST

START_TEST(test_csv_options)
{
    graft_ctx *ctx = tu_ctx();
    char dir[64], p[128], msg[640];
    tu_make_dir(dir, sizeof dir, "csv");
    snprintf(p, sizeof p, "%s/data.csv", dir);
    tu_write_text(p, "1,0\n");
    graft_dataset *ds = NULL;
    graft_csv_opts o = GRAFT_CSV_OPTS_INIT;
    o.struct_size = 8;
    tu_expect_error(ctx, graft_dataset_from_csv(ctx, p, &o, &ds), GRAFT_E_VERSION,
                    "graft_dataset_from_csv(): opts->struct_size is 8; this graft reads 104, 112 "
                    "(use GRAFT_CSV_OPTS_INIT)");
    /* x86-64 and other LP64 ABIs: 1.0's 104 bytes, and 1.3's n_targets */
    ck_assert_uint_eq(offsetof(graft_csv_opts, n_targets), 104);
    ck_assert_uint_eq(sizeof(graft_csv_opts), 112);
    o = (graft_csv_opts)GRAFT_CSV_OPTS_INIT;
    o.label_column = 2;
    tu_expect_error(ctx, graft_dataset_from_csv(ctx, p, &o, &ds), GRAFT_E_INVALID_ARG,
                    "graft_dataset_from_csv(): opts->label_column is 2, must be "
                    "GRAFT_CSV_LABEL_LAST (0) or GRAFT_CSV_LABEL_FIRST (1)");
    o = (graft_csv_opts)GRAFT_CSV_OPTS_INIT;
    o.delimiter = '.';
    tu_expect_error(ctx, graft_dataset_from_csv(ctx, p, &o, &ds), GRAFT_E_INVALID_ARG,
                    "graft_dataset_from_csv(): opts->delimiter is 46, must be ',', ';', '|', ':' "
                    "or '\\t'");
    o = (graft_csv_opts)GRAFT_CSV_OPTS_INIT;
    o.scale = INFINITY;
    tu_expect_error(ctx, graft_dataset_from_csv(ctx, p, &o, &ds), GRAFT_E_INVALID_ARG,
                    "graft_dataset_from_csv(): opts->scale is inf, must be finite and not 0");
    o = (graft_csv_opts)GRAFT_CSV_OPTS_INIT;
    o.ndim = 2;
    o.dims[0] = 3;
    o.dims[1] = 0;
    tu_expect_error(ctx, graft_dataset_from_csv(ctx, p, &o, &ds), GRAFT_E_INVALID_ARG,
                    "graft_dataset_from_csv(): opts->dims[1] is 0, must be >= 1");
    o = (graft_csv_opts)GRAFT_CSV_OPTS_INIT;
    o.header_rows = -1;
    tu_expect_error(ctx, graft_dataset_from_csv(ctx, p, &o, &ds), GRAFT_E_INVALID_ARG,
                    "graft_dataset_from_csv(): opts->header_rows is -1, must be 0 to 1000000");
    o = (graft_csv_opts)GRAFT_CSV_OPTS_INIT;
    o.reserved[3] = 1;
    tu_expect_error(ctx, graft_dataset_from_csv(ctx, p, &o, &ds), GRAFT_E_INVALID_ARG,
                    "graft_dataset_from_csv(): opts->reserved[3] is 1, must be 0");
    tu_expect_error(ctx, graft_dataset_from_csv(ctx, NULL, NULL, &ds), GRAFT_E_INVALID_ARG,
                    "graft_dataset_from_csv(): path is NULL");
    char missing[160];
    snprintf(missing, sizeof missing, "%s/none.csv", dir);
    snprintf(msg, sizeof msg,
             "graft_dataset_from_csv(): cannot open '%s': No such file or directory", missing);
    tu_expect_error(ctx, graft_dataset_from_csv(ctx, missing, NULL, &ds), GRAFT_E_IO, msg);
    ck_assert_ptr_null(ds);
    /* A folder is not a file. */
    snprintf(msg, sizeof msg, "graft_dataset_from_csv(): cannot read '%s': not a regular file",
             dir);
    tu_expect_error(ctx, graft_dataset_from_csv(ctx, dir, NULL, &ds), GRAFT_E_IO, msg);
    tu_rm_tree(dir);
    graft_ctx_free(ctx);
}
END_TEST

Suite *suite_dataset_csv(void)
{
    const tu_named_test cases[] = {
        {"csv_good", test_csv_good},
        {"csv_header_and_label_first", test_csv_header_and_label_first},
        {"csv_parse_errors", test_csv_parse_errors},
        {"csv_options", test_csv_options},
    };
    Suite *s = suite_create("dataset_csv");
    tu_add_tcases(s, cases, sizeof cases / sizeof cases[0], 60);
    return s;
}
