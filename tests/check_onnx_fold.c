/*
 * check_onnx_fold.c - constant folding at import (src/onnx/onnx_fold.c):
 * Constant nodes in their forms, the operators graft evaluates on constants
 * only (ConstantOfShape, Expand, Gather, Range, Slice, Where, Mod,
 * ScatterND), the
 * symbolic batch size, and the fold budget that bounds what a file can make
 * graft compute.
 */
#include "testutil.h"
#include "onnx/onnx_pb.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FN "graft_onnx_import_buffer(): "

/* Constant nodes in their forms (a value tensor, value_float, value_ints)
 * feed Clip's bounds and a Reshape's shape. */
START_TEST(test_constant_nodes)
{
    graft_ctx *ctx = tu_ctx();
    const int64_t xd[2] = {-1, 4}, xs[2] = {1, 4}, target[3] = {0, 2, 2};
    const float lo = -1.0f;
    tu_mb b;
    tu_mb_begin(&b, ctx, 13);
    tu_mb_input(&b, "x", 2, xd);
    size_t n = tu_mb_node(&b, "Constant", "lo", "", "lo");
    tu_mb_attr_tensor_f(&b, "value", 0, NULL, &lo);
    tu_mb_end(&b, n);
    n = tu_mb_node(&b, "Constant", "hi", "", "hi");
    tu_mb_attr_f(&b, "value_float", 2.0f);
    tu_mb_end(&b, n);
    n = tu_mb_node(&b, "Constant", "shape", "", "shape");
    tu_mb_attr_ints(&b, "value_ints", 3, target);
    tu_mb_end(&b, n);
    tu_mb_simple(&b, "Clip", "clip", "x,lo,hi", "c");
    tu_mb_simple(&b, "Reshape", "square", "c,shape", "y");
    tu_mb_output(&b, "y");
    tu_mb_finish(&b);
    graft_model *m = tu_onnx_import_ok(&b, NULL);
    static const char *const kinds[] = {"clip", "reshape"};
    tu_assert_kinds(m, kinds, 2);
    const float x[4] = {-3, 0.5f, 1.5f, 9};
    const float want[4] = {-1, 0.5f, 1.5f, 2};
    float y[4];
    const int64_t ys[3] = {1, 2, 2};
    tu_assert_dims(tu_onnx_run(m, ctx, 2, xs, x, y, 4), 3, ys);
    tu_assert_close(y, want, 4, 0, 0, "clip by constants");
    graft_model_free(m);
    tu_mb_free(&b);
    graft_ctx_free(ctx);
}
END_TEST

/* The operators graft evaluates on constants only, each feeding what a
 * layer needs. x (N, 2, 3) is clipped and reshaped to (N, 6):
 *   seq = Range(0, 6, 1) = 0 .. 5; part = Slice(seq, [1], [2]) = (1)
 *   cond = Greater(part, 0) = (true)
 *   upper = Where(cond, ConstantOfShape([1], value 2), 100) = (2)
 *   lower = Expand(-1, [1]) = (-1)
 *   target = Gather((6, 0, 9), (1, 0)) = (0, 6) */
START_TEST(test_fold_operators)
{
    graft_ctx *ctx = tu_ctx();
    const int64_t xd[3] = {-1, 2, 3}, s1[1] = {1}, s2[1] = {2}, s3[1] = {3};
    const int64_t zero = 0, six = 6, one = 1, start = 1, end = 2;
    const int64_t cand[3] = {6, 0, 9}, idx[2] = {1, 0};
    const float lo = -1.0f, two = 2.0f, huge = 100.0f;
    tu_mb b;
    tu_mb_begin(&b, ctx, 13);
    tu_mb_input(&b, "x", 3, xd);
    tu_mb_init_i64(&b, "cand", 1, s3, cand);
    tu_mb_init_i64(&b, "idx", 1, s2, idx);
    tu_mb_init_i64(&b, "zero", 0, NULL, &zero);
    tu_mb_init_i64(&b, "six", 0, NULL, &six);
    tu_mb_init_i64(&b, "one", 0, NULL, &one);
    tu_mb_init_i64(&b, "start", 1, s1, &start);
    tu_mb_init_i64(&b, "end", 1, s1, &end);
    tu_mb_init_i64(&b, "shp", 1, s1, &one);
    tu_mb_init(&b, "lo", 0, NULL, &lo);
    tu_mb_init(&b, "huge", 0, NULL, &huge);
    tu_mb_simple(&b, "Range", "range", "zero,six,one", "seq");
    tu_mb_simple(&b, "Slice", "slice", "seq,start,end", "part");
    tu_mb_simple(&b, "Greater", "gt", "part,zero", "cond");
    size_t n = tu_mb_node(&b, "ConstantOfShape", "fill", "shp", "filled");
    tu_mb_attr_tensor_f(&b, "value", 1, s1, &two);
    tu_mb_end(&b, n);
    tu_mb_simple(&b, "Where", "where", "cond,filled,huge", "upper");
    tu_mb_simple(&b, "Expand", "expand", "lo,shp", "lower");
    tu_mb_simple(&b, "Gather", "gather", "cand,idx", "target");
    tu_mb_simple(&b, "Clip", "clip", "x,lower,upper", "c");
    tu_mb_simple(&b, "Reshape", "flat", "c,target", "y");
    tu_mb_output(&b, "y");
    tu_mb_finish(&b);
    graft_model *m = tu_onnx_import_ok(&b, NULL);
    static const char *const kinds[] = {"clip", "reshape"};
    tu_assert_kinds(m, kinds, 2);
    const float x[6] = {-3, -1, 0, 1.5f, 2, 9}, want[6] = {-1, -1, 0, 1.5f, 2, 2};
    float y[6];
    const int64_t xs[3] = {1, 2, 3}, ys[2] = {1, 6};
    tu_assert_dims(tu_onnx_run(m, ctx, 3, xs, x, y, 6), 2, ys);
    tu_assert_close(y, want, 6, 0, 0, "folded bounds and target");
    graft_model_free(m);
    tu_mb_free(&b);
    /* Slice with a step of 0 and a Range that never ends are malformed. */
    const int64_t step0 = 0;
    tu_mb_begin(&b, ctx, 13);
    tu_mb_input(&b, "x", 3, xd);
    tu_mb_init_i64(&b, "seq", 1, s3, cand);
    tu_mb_init_i64(&b, "start", 1, s1, &start);
    tu_mb_init_i64(&b, "end", 1, s1, &end);
    tu_mb_init_i64(&b, "axes", 1, s1, &zero);
    tu_mb_init_i64(&b, "steps", 1, s1, &step0);
    tu_mb_simple(&b, "Slice", "slice", "seq,start,end,axes,steps", "part");
    tu_mb_simple(&b, "Reshape", "flat", "x,part", "y");
    tu_mb_output(&b, "y");
    tu_mb_finish(&b);
    ck_assert_int_eq(tu_onnx_try_import(&b, NULL, &m), GRAFT_E_FORMAT);
    ck_assert_str_eq(graft_errmsg(ctx), FN "node \"slice\" (Slice): a slice step of 0");
    tu_mb_free(&b);
    tu_mb_begin(&b, ctx, 13);
    tu_mb_input(&b, "x", 3, xd);
    tu_mb_init_i64(&b, "zero", 0, NULL, &zero);
    tu_mb_init_i64(&b, "six", 0, NULL, &six);
    tu_mb_simple(&b, "Range", "range", "zero,six,zero", "seq");
    tu_mb_simple(&b, "Reshape", "flat", "x,seq", "y");
    tu_mb_output(&b, "y");
    tu_mb_finish(&b);
    ck_assert_int_eq(tu_onnx_try_import(&b, NULL, &m), GRAFT_E_FORMAT);
    ck_assert_str_eq(graft_errmsg(ctx), FN "node \"range\" (Range): a range of step 0");
    tu_mb_free(&b);
    graft_ctx_free(ctx);
}
END_TEST

/* Mod and ScatterND, which Swin Transformer's shifted-window mask is made
 * of, folded into the (6) bias added to x (N, 6):
 *   sc  = ScatterND(zeros(6), ((1), (-1)), (10, 20))     = (0, 10, 0, 0, 0, 20)
 *   sc2 = ScatterND(zeros(2, 3), ((1)), ((1, 2, 3))), as (6) = (0, 0, 0, 1, 2, 3)
 *   mi  = Mod((-7, 7, -7, 7, 0, 5), (3, 3, -3, -3, 4, 5)), fmod 0 (the
 *         divisor's sign), as floats                    = (2, 1, -1, -2, 0, 0)
 *   mf  = Mod((-7.5, 7.5, -7.5, 7.5, 1, 0), (2, 2, -2, -2, 1, 3)), fmod 1
 *         (the dividend's sign)                         = (-1.5, 1.5, -1.5, 1.5, 0, 0)
 *   y   = x + sc + sc2 + mi + mf = x + (0.5, 12.5, -2.5, 0.5, 2, 23) */
START_TEST(test_fold_mod_scatter_nd)
{
    graft_ctx *ctx = tu_ctx();
    const int64_t xd[2] = {-1, 6}, s6[1] = {6}, s21[2] = {2, 1}, s23[2] = {2, 3},
                  s11[2] = {1, 1}, s13[2] = {1, 3}, s2[1] = {2};
    const int64_t ind[2] = {1, -1}, one = 1, ai[6] = {-7, 7, -7, 7, 0, 5},
                  bi[6] = {3, 3, -3, -3, 4, 5}, six = 6;
    const float zeros[6] = {0}, upd[2] = {10, 20}, upd2[3] = {1, 2, 3},
                af[6] = {-7.5f, 7.5f, -7.5f, 7.5f, 1, 0}, bf[6] = {2, 2, -2, -2, 1, 3};
    tu_mb b;
    tu_mb_begin(&b, ctx, 13);
    tu_mb_input(&b, "x", 2, xd);
    tu_mb_init(&b, "z6", 1, s6, zeros);
    tu_mb_init_i64(&b, "ind", 2, s21, ind);
    tu_mb_init(&b, "upd", 1, s2, upd);
    tu_mb_init(&b, "z23", 2, s23, zeros);
    tu_mb_init_i64(&b, "ind2", 2, s11, &one);
    tu_mb_init(&b, "upd2", 2, s13, upd2);
    tu_mb_init_i64(&b, "six", 1, (const int64_t[1]){1}, &six);
    tu_mb_init_i64(&b, "ai", 1, s6, ai);
    tu_mb_init_i64(&b, "bi", 1, s6, bi);
    tu_mb_init(&b, "af", 1, s6, af);
    tu_mb_init(&b, "bf", 1, s6, bf);
    tu_mb_simple(&b, "ScatterND", "scatter", "z6,ind,upd", "sc");
    tu_mb_simple(&b, "ScatterND", "scatter_rows", "z23,ind2,upd2", "sc2m");
    tu_mb_simple(&b, "Reshape", "flat", "sc2m,six", "sc2");
    size_t n = tu_mb_node(&b, "Mod", "mod", "ai,bi", "mim");
    tu_mb_attr_i(&b, "fmod", 0);
    tu_mb_end(&b, n);
    n = tu_mb_node(&b, "Cast", "cast", "mim", "mi");
    tu_mb_attr_i(&b, "to", 1);
    tu_mb_end(&b, n);
    n = tu_mb_node(&b, "Mod", "fmod", "af,bf", "mf");
    tu_mb_attr_i(&b, "fmod", 1);
    tu_mb_end(&b, n);
    tu_mb_simple(&b, "Add", "s1", "sc,sc2", "t1");
    tu_mb_simple(&b, "Add", "s2", "t1,mi", "t2");
    tu_mb_simple(&b, "Add", "s3", "t2,mf", "bias");
    tu_mb_simple(&b, "Add", "add", "x,bias", "y");
    tu_mb_output(&b, "y");
    tu_mb_finish(&b);
    graft_model *m = tu_onnx_import_ok(&b, NULL);
    ck_assert_int_eq(graft_model_layer_count(m), 1);
    const float x[6] = {1, 2, 3, 4, 5, 6}, want[6] = {1.5f, 14.5f, 0.5f, 4.5f, 7, 29};
    float y[6];
    const int64_t xs[2] = {1, 6};
    tu_onnx_run(m, ctx, 2, xs, x, y, 6);
    tu_assert_close(y, want, 6, 1e-6f, 0, "x + folded Mod and ScatterND");
    graft_model_free(m);
    tu_mb_free(&b);

    /* An integer Mod by 0, an index out of range, updates of the wrong
     * shape and Mod of floats with fmod 0 are malformed. */
    static const struct {
        const char *op, *ins;
        int fmod;
        const char *msg;
    } bad[] = {
        {"Mod", "ai,z6i", 0, "node \"bad\" (Mod): integer Mod by 0"},
        {"ScatterND", "z6,ind7,upd", -1,
         "node \"bad\" (ScatterND): index 7 is out of range for a dimension of 6"},
        {"ScatterND", "z6,ind,upd2", -1,
         "node \"bad\" (ScatterND): updates' dimension 0 is 3, the indices and data give 2"},
        {"Mod", "af,bf", 0, "node \"bad\" (Mod): Mod of floating-point values needs fmod 1"},
    };
    const int64_t ind7[2] = {7, 0}, zi[6] = {0};
    for (size_t k = 0; k < sizeof bad / sizeof *bad; k++) {
        tu_mb_begin(&b, ctx, 13);
        tu_mb_input(&b, "x", 2, xd);
        tu_mb_init(&b, "z6", 1, s6, zeros);
        tu_mb_init_i64(&b, "z6i", 1, s6, zi);
        tu_mb_init_i64(&b, "ind", 2, s21, ind);
        tu_mb_init_i64(&b, "ind7", 2, s21, ind7);
        tu_mb_init(&b, "upd", 1, s2, upd);
        tu_mb_init(&b, "upd2", 1, (const int64_t[1]){3}, upd2);
        tu_mb_init_i64(&b, "ai", 1, s6, ai);
        tu_mb_init(&b, "af", 1, s6, af);
        tu_mb_init(&b, "bf", 1, s6, bf);
        n = tu_mb_node(&b, bad[k].op, "bad", bad[k].ins, "c");
        if (bad[k].fmod >= 0) tu_mb_attr_i(&b, "fmod", bad[k].fmod);
        tu_mb_end(&b, n);
        tu_mb_simple(&b, "Add", "add", "x,c", "y");
        tu_mb_output(&b, "y");
        tu_mb_finish(&b);
        ck_assert_int_eq(tu_onnx_try_import(&b, NULL, &m), GRAFT_E_FORMAT);
        char want_msg[256];
        snprintf(want_msg, sizeof want_msg, FN "%s", bad[k].msg);
        ck_assert_str_eq(graft_errmsg(ctx), want_msg);
        tu_mb_free(&b);
    }

    /* Mod of a computed tensor is refused: graft evaluates it on constants. */
    tu_mb_begin(&b, ctx, 13);
    tu_mb_input(&b, "x", 2, xd);
    tu_mb_init(&b, "bf", 1, s6, bf);
    n = tu_mb_node(&b, "Mod", "bad", "x,bf", "y");
    tu_mb_attr_i(&b, "fmod", 1);
    tu_mb_end(&b, n);
    tu_mb_output(&b, "y");
    tu_mb_finish(&b);
    ck_assert_int_eq(tu_onnx_try_import(&b, NULL, &m), GRAFT_E_UNSUPPORTED);
    ck_assert_ptr_nonnull(strstr(graft_errmsg(ctx), "node \"bad\" (Mod): graft computes this "
                                                    "operator only on constants"));
    tu_mb_free(&b);
    graft_ctx_free(ctx);
}
END_TEST

/* A computation with the batch size, which stays symbolic at import, on a
 * folded shape is refused. */
START_TEST(test_batch_dependent_fold_is_refused)
{
    graft_ctx *ctx = tu_ctx();
    const int64_t xd[3] = {-1, 2, 3};
    tu_mb b;
    graft_model *m;
    const int64_t two = 2;
    tu_mb_begin(&b, ctx, 13);
    tu_mb_input(&b, "x", 3, xd);
    tu_mb_init_i64(&b, "two", 0, NULL, &two);
    tu_mb_simple(&b, "Shape", "shape", "x", "s");
    tu_mb_simple(&b, "Mul", "double", "s,two", "s2");
    tu_mb_simple(&b, "Reshape", "view", "x,s2", "y");
    tu_mb_output(&b, "y");
    tu_mb_finish(&b);
    ck_assert_int_eq(tu_onnx_try_import(&b, NULL, &m), GRAFT_E_UNSUPPORTED);
    ck_assert_str_eq(graft_errmsg(ctx),
                     FN "node \"double\" (Mul): it computes with the batch size, "
                        "which graft does not know at import; 1 later node that reads its "
                        "outputs was not checked");
    tu_mb_free(&b);
    graft_ctx_free(ctx);
}
END_TEST

/* A folded constant that would grow without bound (ConstantOfShape of
 * (2^20, 2^20)) is refused before anything of that size is allocated. */
START_TEST(test_fold_budget)
{
    tu_peak_alloc pa;
    graft_ctx *ctx = tu_peak_ctx(&pa);
    const int64_t xd[2] = {-1, 4}, huge[2] = {(int64_t)1 << 20, (int64_t)1 << 20};
    tu_mb b;
    const int64_t sd[1] = {2};
    tu_mb_begin(&b, ctx, 13);
    tu_mb_input(&b, "x", 2, xd);
    tu_mb_init_i64(&b, "shape", 1, sd, huge);
    tu_mb_simple(&b, "ConstantOfShape", "big", "shape", "c");
    tu_mb_simple(&b, "MatMul", "mm", "x,c", "y");
    tu_mb_output(&b, "y");
    tu_mb_finish(&b);
    graft_model *m = NULL;
    pa.peak = pa.now;
    ck_assert_int_eq(tu_onnx_try_import(&b, NULL, &m), GRAFT_E_UNSUPPORTED);
    ck_assert_str_eq(graft_errmsg(ctx), FN "node \"big\" (ConstantOfShape): computing constants of "
                                           "1099511627776 more elements exceeds what graft "
                                           "evaluates at import for a file of this size; 1 "
                                           "later node that reads its outputs was not checked");
    ck_assert_uint_lt(pa.peak - b.w.capacity, 1 << 20);
    tu_mb_free(&b);
    graft_ctx_free(ctx);
    ck_assert_uint_eq(pa.now, 0);
}
END_TEST

Suite *suite_onnx_fold(void)
{
    Suite *s = suite_create("onnx_fold");
    TCase *tc = tcase_create("fold");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_constant_nodes);
    tcase_add_test(tc, test_fold_operators);
    tcase_add_test(tc, test_fold_mod_scatter_nd);
    tcase_add_test(tc, test_batch_dependent_fold_is_refused);
    tcase_add_test(tc, test_fold_budget);
    suite_add_tcase(s, tc);
    return s;
}
