/*
 * check_freeze.c - the model's trainable flags and its unfreeze schedule
 * (src/model/freeze.c), the state that model.c, model_io.c, train.c and
 * transfer.c share: ranges of nodes frozen and unfrozen, events appended
 * (names copied), applied at their epoch only (previously frozen nodes get
 * the event's lr_scale, the rest keep theirs), a schedule naming a layer the
 * model no longer has, allocation failures, and clearing. The public
 * functions over this state are check_transfer.c's.
 */
#include "testutil.h"

#include "model/model.h"

#include <string.h>

/* input (3) - a (dense 4) - b (relu) - c (dense 4) - d (dense 2) */
static graft_model *chain(graft_ctx *ctx)
{
    const int64_t in[1] = {3};
    graft_model *m = NULL;
    ck_assert_int_eq(graft_model_create(ctx, 1, in, 1, &m), GRAFT_OK);
    const char *names[4] = {"a", "b", "c", "d"};
    for (int i = 0; i < 4; i++) {
        graft_layer *l = NULL;
        int st = i == 1 ? graft_layer_relu(ctx, &l) : graft_layer_dense(ctx, i == 3 ? 2 : 4, 1, &l);
        ck_assert_int_eq(st, GRAFT_OK);
        ck_assert_msg(graft_model_add(m, names[i], l, 0, NULL) == GRAFT_OK, "%s",
                      graft_errmsg(ctx));
    }
    return m;
}

static void assert_trainable(graft_model *m, const int *want)
{
    for (int i = 0; i < graft_model_layer_count(m); i++) {
        ck_assert_msg(m->nodes[i].trainable == want[i], "node %d trainable %d", i,
                      m->nodes[i].trainable);
        ck_assert_int_eq(m->nodes[i].layer->need_param_grad, want[i]);
        ck_assert_int_eq(graft_model_layer_trainable(m, i), want[i]);
    }
}

START_TEST(test_freeze_trainable_range)
{
    graft_ctx *ctx = tu_ctx();
    graft_model *m = chain(ctx);
    const int all[4] = {1, 1, 1, 1}, first_two[4] = {0, 0, 1, 1}, middle[4] = {0, 1, 0, 1};
    assert_trainable(m, all);
    m->training = 1;
    graftModelSetTrainableRange(m, 0, 1, 0);
    assert_trainable(m, first_two);
    ck_assert_int_eq(m->training, -1); /* the layers' mode must be set again */
    graftModelSetTrainableRange(m, 1, 2, 1);
    graftModelSetTrainableRange(m, 2, 2, 0);
    assert_trainable(m, middle);
    graftModelSetTrainableRange(m, 3, 2, 0); /* an empty range changes no node */
    assert_trainable(m, middle);
    graftModelSetTrainableRange(m, 0, 3, 1);
    assert_trainable(m, all);
    graft_model_free(m);
    graft_ctx_free(ctx);
}
END_TEST

START_TEST(test_freeze_schedule_applies_at_its_epoch)
{
    graft_ctx *ctx = tu_ctx();
    graft_model *m = chain(ctx);
    graftModelSetTrainableRange(m, 0, 2, 0);
    m->nodes[3].lr_scale = 0.5f; /* trainable already: keeps its own multiplier */
    char from[8] = "c";
    ck_assert_int_eq(graftModelAddUnfreeze(m, from, 2, 0.1f, "graft_test"), GRAFT_OK);
    ck_assert_int_eq(graftModelAddUnfreeze(m, "a", 4, 0.01f, "graft_test"), GRAFT_OK);
    strcpy(from, "x"); /* the name was copied */
    ck_assert_int_eq(m->n_unfreeze, 2);
    ck_assert_str_eq(m->unfreeze[0].from, "c");
    ck_assert(m->unfreeze[0].epoch == 2 && m->unfreeze[1].epoch == 4);

    const int frozen3[4] = {0, 0, 0, 1}, from_c[4] = {0, 0, 1, 1}, all[4] = {1, 1, 1, 1};
    for (int64_t e = 0; e < 2; e++) ck_assert_int_eq(graftModelApplyUnfreeze(m, e), GRAFT_OK);
    assert_trainable(m, frozen3);
    ck_assert_int_eq(graftModelApplyUnfreeze(m, 2), GRAFT_OK);
    assert_trainable(m, from_c);
    ck_assert_float_eq(m->nodes[2].lr_scale, 0.1f);
    ck_assert_float_eq(m->nodes[3].lr_scale, 0.5f);
    ck_assert_float_eq(m->nodes[0].lr_scale, 1.0f);
    ck_assert_int_eq(graftModelApplyUnfreeze(m, 3), GRAFT_OK);
    assert_trainable(m, from_c);
    ck_assert_int_eq(graftModelApplyUnfreeze(m, 4), GRAFT_OK);
    assert_trainable(m, all);
    ck_assert_float_eq(m->nodes[0].lr_scale, 0.01f);
    ck_assert_float_eq(m->nodes[1].lr_scale, 0.01f);
    ck_assert_float_eq(m->nodes[2].lr_scale, 0.1f); /* unfrozen before: kept */
    ck_assert_float_eq(m->nodes[3].lr_scale, 0.5f);
    /* Applying an epoch again changes nothing more. */
    ck_assert_int_eq(graftModelApplyUnfreeze(m, 4), GRAFT_OK);
    assert_trainable(m, all);
    ck_assert_float_eq(m->nodes[2].lr_scale, 0.1f);
    graftModelClearUnfreeze(m);
    ck_assert_int_eq(m->n_unfreeze, 0);
    ck_assert_ptr_null(m->unfreeze);
    graftModelClearUnfreeze(m); /* twice is fine */
    graft_model_free(m);
    graft_ctx_free(ctx);
}
END_TEST

/* An event naming a layer the model no longer has (cut away after the
 * schedule was made) fails when its epoch comes, naming the layer; other
 * epochs do not look at it. */
START_TEST(test_freeze_schedule_names_a_missing_layer)
{
    graft_ctx *ctx = tu_ctx();
    graft_model *m = chain(ctx);
    graftModelSetTrainableRange(m, 0, 3, 0);
    ck_assert_int_eq(graftModelAddUnfreeze(m, "gone", 1, 1.0f, "graft_test"), GRAFT_OK);
    ck_assert_int_eq(graftModelApplyUnfreeze(m, 0), GRAFT_OK);
    ck_assert_int_eq(graftModelApplyUnfreeze(m, 1), GRAFT_E_NOT_FOUND);
    ck_assert_str_eq(graft_errmsg(ctx), "graft_model_fit(): the unfreeze schedule names layer "
                                        "\"gone\", which the model no longer has");
    const int none[4] = {0, 0, 0, 0};
    assert_trainable(m, none);
    graft_model_free(m); /* frees the schedule */
    graft_ctx_free(ctx);
}
END_TEST

/* Growing the schedule fails cleanly when an allocation fails: the message
 * names the caller's function, the schedule is as before, nothing leaks. */
START_TEST(test_freeze_schedule_allocation_failures)
{
    for (long k = 1; k <= 2; k++) {
        tu_alloc_counter c = {0, 0, 0, 0};
        graft_ctx *ctx = tu_counting_ctx(&c);
        graft_model *m = chain(ctx);
        ck_assert_int_eq(graftModelAddUnfreeze(m, "b", 1, 0.5f, "graft_test"), GRAFT_OK);
        c.fail_at = c.allocs + k;
        ck_assert_int_eq(graftModelAddUnfreeze(m, "c", 2, 0.5f, "graft_model_schedule_unfreeze"),
                         GRAFT_E_NOMEM);
        ck_assert_str_eq(graft_errmsg(ctx),
                         "graft_model_schedule_unfreeze(): cannot grow the schedule");
        ck_assert_int_eq(m->n_unfreeze, 1);
        ck_assert_str_eq(m->unfreeze[0].from, "b");
        ck_assert_int_eq(graftModelAddUnfreeze(m, "c", 2, 0.5f, "graft_test"), GRAFT_OK);
        ck_assert_int_eq(m->n_unfreeze, 2);
        graft_model_free(m);
        graft_ctx_free(ctx);
        ck_assert_int_eq(c.allocs, c.frees);
    }
}
END_TEST

Suite *suite_freeze(void)
{
    Suite *s = suite_create("freeze");
    TCase *tc = tcase_create("freeze");
    tcase_add_test(tc, test_freeze_trainable_range);
    tcase_add_test(tc, test_freeze_schedule_applies_at_its_epoch);
    tcase_add_test(tc, test_freeze_schedule_names_a_missing_layer);
    tcase_add_test(tc, test_freeze_schedule_allocation_failures);
    suite_add_tcase(s, tc);
    return s;
}
