/* check_evaluate.c - the figures of evaluation results (src/model/evaluate.c):
 * F1 and ROC-AUC against scikit-learn (tests/data/metric_refs.txt, written
 * by tests/make_callback_refs.py; its docstring describes the format), and
 * graft_model_evaluate() on a model whose outputs are known by hand. */
#include "testutil.h"

#include "model/batch.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define METRIC_FIXTURE GRAFT_TEST_DATA "/metric_refs.txt"

static double *read_values(FILE *f, const char *tag, int want)
{
    char word[64];
    int n;
    ck_assert_int_eq(fscanf(f, "%63s %d", word, &n), 2);
    ck_assert_str_eq(word, tag);
    ck_assert_int_eq(n, want);
    double *v = malloc((size_t)n * sizeof *v);
    char tok[64];
    for (int i = 0; i < n; i++) {
        ck_assert_int_eq(fscanf(f, "%63s", tok), 1);
        v[i] = strcmp(tok, "nan") == 0 ? NAN : strtod(tok, NULL);
    }
    return v;
}

static double read_one(FILE *f, const char *tag)
{
    char word[64], tok[64];
    ck_assert_int_eq(fscanf(f, "%63s %63s", word, tok), 2);
    ck_assert_str_eq(word, tag);
    return strcmp(tok, "nan") == 0 ? NAN : strtod(tok, NULL);
}

static void assert_same(double got, double want, const char *what, const char *name, int c)
{
    if (isnan(want))
        ck_assert_msg(isnan(got), "%s %s class %d: %.17g, want nan", name, what, c, got);
    else
        ck_assert_msg(fabs(got - want) <= 1e-12, "%s %s class %d: %.17g, want %.17g", name,
                      what, c, got, want);
}

/* Each case's scores and labels give sklearn's per-class and macro ROC-AUC
 * (graftEvalAuc) and F1 (graft_eval_f1 on the confusion matrix of argmax). */
START_TEST(test_metrics_match_sklearn)
{
    FILE *f = fopen(METRIC_FIXTURE, "rb");
    ck_assert_msg(f != NULL, "cannot open %s", METRIC_FIXTURE);
    char line[256], name[64], end[8];
    int cases = 0;
    while (fscanf(f, " %255[^\n]", line) == 1) {
        if (line[0] == '#') continue;
        int n, c;
        ck_assert_int_eq(sscanf(line, "auc %63s %d %d", name, &n, &c), 3);
        double *probs = read_values(f, "probs", n * c);
        double *lab = read_values(f, "labels", n);
        double *want_auc = read_values(f, "want_auc", c);
        double want_auc_macro = read_one(f, "want_auc_macro");
        double *want_f1 = read_values(f, "want_f1", c);
        double want_f1_macro = read_one(f, "want_f1_macro");
        ck_assert_int_eq(fscanf(f, "%7s", end), 1);
        ck_assert_str_eq(end, "end");

        float *p = malloc((size_t)n * c * sizeof *p);
        int32_t *labels = malloc((size_t)n * sizeof *labels);
        graftScored *tmp = malloc((size_t)n * sizeof *tmp);
        int64_t *confusion = calloc((size_t)c * c, sizeof *confusion);
        double *auc = malloc((size_t)c * sizeof *auc);
        for (int i = 0; i < n * c; i++) p[i] = (float)probs[i];
        for (int i = 0; i < n; i++) {
            labels[i] = (int32_t)lab[i];
            confusion[(size_t)labels[i] * c + graftArgmaxRow(p + (size_t)i * c, c)]++;
        }
        for (int k = 0; k < c; k++) auc[k] = graftEvalAuc(p + k, (size_t)c, labels, n, k, tmp);
        graft_eval e = {0};
        e.n_classes = c;
        e.count = n;
        e.confusion = confusion;
        e.auc = auc;
        for (int k = 0; k < c; k++) {
            assert_same(graft_eval_auc(&e, k), want_auc[k], "auc", name, k);
            assert_same(graft_eval_f1(&e, k), want_f1[k], "f1", name, k);
        }
        assert_same(graft_eval_get(&e, GRAFT_EVAL_AUC_MACRO), want_auc_macro, "auc macro", name, -1);
        assert_same(graft_eval_get(&e, GRAFT_EVAL_F1_MACRO), want_f1_macro, "f1 macro", name, -1);
        free(p);
        free(labels);
        free(tmp);
        free(confusion);
        free(auc);
        free(probs);
        free(lab);
        free(want_auc);
        free(want_f1);
        cases++;
    }
    fclose(f);
    ck_assert_int_ge(cases, 3);
}
END_TEST

/* A dense layer with identity weights: the logits are the inputs. */
static graft_model *identity_model(graft_ctx *ctx)
{
    int64_t dims[1] = {3};
    graft_model *m = NULL;
    graft_layer *l = NULL;
    ck_assert_int_eq(graft_model_create(ctx, 1, dims, 0, &m), GRAFT_OK);
    ck_assert_int_eq(graft_layer_dense(ctx, 3, 0, &l), GRAFT_OK);
    ck_assert_int_eq(graft_model_add(m, "fc", l, 0, NULL), GRAFT_OK);
    graft_tensor *w;
    ck_assert_int_eq(graft_layer_param(graft_model_layer(m, 0), 0, NULL, &w, NULL, NULL), GRAFT_OK);
    const float eye[9] = {1, 0, 0, 0, 1, 0, 0, 0, 1};
    ck_assert_int_eq(graft_tensor_copy_from(w, eye, 9), GRAFT_OK);
    return m;
}

/* Inputs one-hot on classes 0,0,1,2,2,2 and labels 0,1,1,2,2,0: each
 * class's probability is high (e / (e + 2)) on the rows one-hot on it and
 * low (1 / (e + 2), tied) elsewhere. By hand: AUC(0) = (0.5 + 3 + 0 + 1.5)
 * / 8, AUC(1) = (2 + 4) / 8, AUC(2) = (3.5 + 3.5) / 8; F1 = 2 tp / (2 tp +
 * fp + fn): 2/4, 2/3, 4/5. */
START_TEST(test_evaluate_f1_and_auc_by_hand)
{
    graft_ctx *ctx = tu_ctx();
    graft_model *m = identity_model(ctx);
    int64_t dims[1] = {3};
    const float x[18] = {1, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 1, 0, 0, 1};
    const int32_t y[6] = {0, 1, 1, 2, 2, 0};
    graft_dataset *ds = NULL;
    ck_assert_int_eq(graft_dataset_from_memory(ctx, 6, 1, dims, x, y, 3, 0, &ds), GRAFT_OK);
    graft_eval *ev = NULL;
    ck_assert_int_eq(graft_model_evaluate(m, ds, 4, 1, &ev), GRAFT_OK);
    ck_assert_double_eq_tol(graft_eval_auc(ev, 0), 5.0 / 8, 1e-12);
    ck_assert_double_eq_tol(graft_eval_auc(ev, 1), 6.0 / 8, 1e-12);
    ck_assert_double_eq_tol(graft_eval_auc(ev, 2), 7.0 / 8, 1e-12);
    ck_assert_double_eq_tol(graft_eval_get(ev, GRAFT_EVAL_AUC_MACRO), 0.75, 1e-12);
    ck_assert_double_eq_tol(graft_eval_f1(ev, 0), 0.5, 1e-12);
    ck_assert_double_eq_tol(graft_eval_f1(ev, 1), 2.0 / 3, 1e-12);
    ck_assert_double_eq_tol(graft_eval_f1(ev, 2), 0.8, 1e-12);
    ck_assert_double_eq_tol(graft_eval_get(ev, GRAFT_EVAL_F1_MACRO), (0.5 + 2.0 / 3 + 0.8) / 3,
                            1e-12);
    ck_assert(isnan(graft_eval_f1(ev, 3)));
    ck_assert(isnan(graft_eval_auc(ev, -1)));
    ck_assert(isnan(graft_eval_f1(NULL, 0)));
    ck_assert(isnan(graft_eval_auc(NULL, 0)));
    ck_assert(isnan(graft_eval_get(NULL, GRAFT_EVAL_AUC_MACRO)));
    graft_eval_free(ev);
    graft_dataset_free(ds);

    /* class 1 neither true nor predicted: its F1 and AUC are undefined and
     * the macro figures average the other two */
    const float x2[12] = {1, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 1};
    const int32_t y2[4] = {0, 2, 2, 0};
    ck_assert_int_eq(graft_dataset_from_memory(ctx, 4, 1, dims, x2, y2, 3, 0, &ds), GRAFT_OK);
    ck_assert_int_eq(graft_model_evaluate(m, ds, 4, 1, &ev), GRAFT_OK);
    ck_assert(isnan(graft_eval_f1(ev, 1)));
    ck_assert(isnan(graft_eval_auc(ev, 1)));
    ck_assert_double_eq_tol(graft_eval_f1(ev, 0), 0.5, 1e-12);
    ck_assert_double_eq_tol(graft_eval_get(ev, GRAFT_EVAL_F1_MACRO), 0.5, 1e-12);
    /* AUC(0): positives rows 0 (high) and 3 (low) against 1 (high), 2 (low) */
    ck_assert_double_eq_tol(graft_eval_auc(ev, 0), (0.5 + 1 + 0 + 0.5) / 4, 1e-12);
    ck_assert_double_eq_tol(graft_eval_get(ev, GRAFT_EVAL_AUC_MACRO),
                            (graft_eval_auc(ev, 0) + graft_eval_auc(ev, 2)) / 2, 1e-12);
    graft_eval_free(ev);
    graft_dataset_free(ds);
    graft_model_free(m);
    graft_ctx_free(ctx);
}
END_TEST

Suite *suite_evaluate(void)
{
    Suite *s = suite_create("evaluate");
    const tu_named_test tests[] = {
        {"metrics_match_sklearn", test_metrics_match_sklearn},
        {"f1_and_auc_by_hand", test_evaluate_f1_and_auc_by_hand},
    };
    tu_add_tcases(s, tests, sizeof tests / sizeof tests[0], 30);
    return s;
}
