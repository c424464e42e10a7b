/*
 * check_registry.c - the registry of layer kinds (src/layers/registry.c):
 * finding a kind by index and by name, and loading a layer saved under its
 * kind's name, with the errors of the kind and version fields. What every
 * registered kind must pass (its entry, gradients, save/load, ONNX) is
 * check_kinds.c's, driven by the same list.
 */
#include "testutil.h"

#include <stdio.h>
#include <string.h>

/* The names in kinds.h's order, expanded from the list itself. */
static const char *const names[] = {
#define GRAFT_LAYER_KIND(ENUM, name, vtable) [GRAFT_KIND_##ENUM] = #name,
#include "layers/kinds.h"
#undef GRAFT_LAYER_KIND
};

START_TEST(test_registry_lookup)
{
    ck_assert_int_eq((int)(sizeof names / sizeof names[0]), GRAFT_LAYER_KIND_COUNT);
    for (int i = 0; i < GRAFT_LAYER_KIND_COUNT; i++) {
        const graftLayerVtbl *v = graftLayerKindAt(i);
        ck_assert_ptr_nonnull(v);
        ck_assert_str_eq(v->kind, names[i]);
        ck_assert_ptr_eq(graftLayerKindByName(names[i]), v);
    }
    ck_assert_ptr_null(graftLayerKindAt(-1));
    ck_assert_ptr_null(graftLayerKindAt(GRAFT_LAYER_KIND_COUNT));
    /* Names match whole and exactly. */
    ck_assert_ptr_null(graftLayerKindByName("conv3d"));
    ck_assert_ptr_null(graftLayerKindByName("conv"));
    ck_assert_ptr_null(graftLayerKindByName("Dense"));
    ck_assert_ptr_null(graftLayerKindByName("dense "));
    ck_assert_ptr_null(graftLayerKindByName(""));
}
END_TEST

/* The saved record of a small dense layer: kind string (u32 length, bytes),
 * u32 version, then the body. */
static void saved_dense(graft_ctx *ctx, graftWriter *w)
{
    graft_layer *l = NULL;
    ck_assert_int_eq(graft_layer_dense(ctx, 2, 1, &l), GRAFT_OK);
    graft_tensor *x = tu_tensor(ctx, 2, 1, 3);
    const graft_tensor *in[1] = {x};
    ck_assert_int_eq(graft_layer_build(l, 1, in, 5), GRAFT_OK);
    graftWriterInit(w, ctx);
    ck_assert_int_eq(graftLayerSave(l, w), GRAFT_OK);
    graft_tensor_free(x);
    graft_layer_free(l);
}

static int load(graft_ctx *ctx, const graftWriter *w, size_t size)
{
    graftReader r;
    graftReaderInit(&r, ctx, w->data, size);
    graft_layer *l = (graft_layer *)1;
    int st = graftLayerLoad(ctx, &r, &l);
    if (st != GRAFT_OK) ck_assert_ptr_null(l);
    else ck_assert_str_eq(graft_layer_kind(l), "dense");
    graft_layer_free(l);
    return st;
}

START_TEST(test_registry_load_errors)
{
    graft_ctx *ctx = tu_ctx();
    graftWriter w;
    saved_dense(ctx, &w);
    ck_assert_int_eq(load(ctx, &w, w.size), GRAFT_OK);
    /* bytes 0-3: length 5; 4-8: "dense"; 9-12: version */
    ck_assert_int_eq(w.data[0], 5);
    ck_assert(memcmp(w.data + 4, "dense", 5) == 0);
    ck_assert_int_eq(w.data[9], 1);
    w.data[9] = 0;
    ck_assert_int_eq(load(ctx, &w, w.size), GRAFT_E_FORMAT);
    ck_assert_str_eq(graft_errmsg(ctx),
                     "graft_load(): dense layer version 0 is not valid (versions start at 1)");
    const uint32_t newest = graftLayerKindByName("dense")->version;
    char want[128];
    w.data[9] = (unsigned char)(newest + 1);
    ck_assert_int_eq(load(ctx, &w, w.size), GRAFT_E_VERSION);
    snprintf(want, sizeof want, "graft_load(): dense layer version %u; this graft reads versions "
             "1 to %u", newest + 1, newest);
    ck_assert_str_eq(graft_errmsg(ctx), want);
    w.data[9] = 1;
    /* A kind name of another case, cut short, or longer than any kind. */
    w.data[4] = 'D';
    ck_assert_int_eq(load(ctx, &w, w.size), GRAFT_E_FORMAT);
    ck_assert_str_eq(graft_errmsg(ctx), "graft_load(): unknown layer kind \"Dense\"");
    w.data[4] = 'd';
    ck_assert_int_eq(load(ctx, &w, 7), GRAFT_E_FORMAT);
    ck_assert_ptr_nonnull(strstr(graft_errmsg(ctx), "layer kind"));
    ck_assert_int_eq(load(ctx, &w, 11), GRAFT_E_FORMAT); /* the version cut */
    ck_assert_ptr_nonnull(strstr(graft_errmsg(ctx), "layer version"));
    w.data[0] = GRAFT_LAYER_MAX_NAME + 1;
    ck_assert_int_eq(load(ctx, &w, w.size), GRAFT_E_FORMAT);
    ck_assert_str_eq(graft_errmsg(ctx), "graft_load(): layer kind at offset 0 is 65 bytes long, "
                                        "at most 64 allowed");
    graftWriterDispose(&w);
    graft_ctx_free(ctx);
}
END_TEST

/* Loading allocates the kind's name and the layer: each failing allocation
 * gives GRAFT_E_NOMEM and leaks nothing, until the load succeeds. */
START_TEST(test_registry_load_allocation_failures)
{
    graft_ctx *plain = tu_ctx();
    graftWriter w;
    saved_dense(plain, &w);
    int nomem = 0, done = 0;
    for (long k = 1; k < 100 && !done; k++) {
        tu_alloc_counter c = {0, 0, 0, 0};
        graft_ctx *ctx = tu_counting_ctx(&c);
        c.fail_at = c.allocs + k;
        int st = load(ctx, &w, w.size);
        if (st == GRAFT_OK) {
            done = 1;
        } else {
            ck_assert_msg(st == GRAFT_E_NOMEM, "allocation %ld: %d %s", k, st, graft_errmsg(ctx));
            nomem++;
        }
        graft_ctx_free(ctx);
        ck_assert_int_eq(c.allocs, c.frees);
    }
    ck_assert(done);
    ck_assert_int_ge(nomem, 2);
    graftWriterDispose(&w);
    graft_ctx_free(plain);
}
END_TEST

Suite *suite_registry(void)
{
    Suite *s = suite_create("registry");
    TCase *tc = tcase_create("registry");
    tcase_add_test(tc, test_registry_lookup);
    tcase_add_test(tc, test_registry_load_errors);
    tcase_add_test(tc, test_registry_load_allocation_failures);
    suite_add_tcase(s, tc);
    return s;
}
