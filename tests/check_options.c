/* check_options.c - reading the option structs callers fill in
 * (src/core/options.c): every released struct_size is accepted with the
 * newer fields left at their defaults, any other size is GRAFT_E_VERSION,
 * reserved words must be 0, and a failure changes nothing. */
#include "testutil.h"
#include "core/options.h"

#include <stddef.h>
#include <stdio.h>
#include <string.h>

/* A struct that grew once: release 1 had struct_size and a, release 2
 * appended b and the reserved words. */
typedef struct grown {
    uint32_t struct_size;
    int a;
    float b;
    uint32_t reserved[2];
} grown;
#define GROWN_V1_SIZE ((uint32_t)offsetof(grown, b))
static const uint32_t grown_sizes[] = {GROWN_V1_SIZE, (uint32_t)sizeof(grown)};
static const graftOptionsKind grown_kind = {"opts", "GROWN_INIT", grown_sizes,
                                            GRAFT_OPTIONS_COUNT(grown_sizes),
                                            offsetof(grown, reserved), 2};

static grown defaults(void)
{
    grown g;
    memset(&g, 0, sizeof g);
    g.struct_size = sizeof g;
    g.a = 1;
    g.b = 2.5f;
    return g;
}

START_TEST(test_an_older_size_keeps_the_newer_defaults)
{
    graft_ctx *ctx = tu_ctx();
    /* What a caller built against release 1 passes: only its fields. */
    struct {
        uint32_t struct_size;
        int a;
    } old = {GROWN_V1_SIZE, 7};
    grown out = defaults();
    ck_assert_int_eq(graftOptionsRead(ctx, "f", &grown_kind, &old, &out), GRAFT_OK);
    ck_assert_uint_eq(out.struct_size, sizeof out);
    ck_assert_int_eq(out.a, 7);
    ck_assert(out.b == 2.5f); /* not in the caller's struct: the default */
    graft_ctx_free(ctx);
}
END_TEST

START_TEST(test_the_current_size_is_copied_whole)
{
    graft_ctx *ctx = tu_ctx();
    grown in = defaults(), out = defaults();
    in.a = 3;
    in.b = -1.0f;
    ck_assert_int_eq(graftOptionsRead(ctx, "f", &grown_kind, &in, &out), GRAFT_OK);
    ck_assert_int_eq(out.a, 3);
    ck_assert(out.b == -1.0f);
    graft_ctx_free(ctx);
}
END_TEST

START_TEST(test_other_sizes_are_refused_and_change_nothing)
{
    graft_ctx *ctx = tu_ctx();
    const uint32_t bad[] = {0, 4, GROWN_V1_SIZE + 4, (uint32_t)sizeof(grown) + 4, 0xffffffffu};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        grown in = defaults(), out = defaults();
        in.struct_size = bad[i];
        in.a = 99;
        ck_assert_int_eq(graftOptionsRead(ctx, "graft_f", &grown_kind, &in, &out), GRAFT_E_VERSION);
        ck_assert_int_eq(out.a, 1);
        char want[160];
        snprintf(want, sizeof want,
                 "graft_f(): opts->struct_size is %u; this graft reads %u, %u (use GROWN_INIT)",
                 (unsigned)bad[i], (unsigned)GROWN_V1_SIZE, (unsigned)sizeof(grown));
        ck_assert_str_eq(graft_errmsg(ctx), want);
    }
    graft_ctx_free(ctx);
}
END_TEST

START_TEST(test_reserved_words_must_be_zero)
{
    graft_ctx *ctx = tu_ctx();
    grown in = defaults(), out = defaults();
    in.reserved[1] = 5;
    ck_assert_int_eq(graftOptionsRead(ctx, "graft_f", &grown_kind, &in, &out),
                     GRAFT_E_INVALID_ARG);
    ck_assert_str_eq(graft_errmsg(ctx), "graft_f(): opts->reserved[1] is 5, must be 0");
    ck_assert(out.b == 2.5f);
    graft_ctx_free(ctx);
}
END_TEST

/* Every public struct answers a wrong size with the same code. */
START_TEST(test_public_structs_refuse_a_short_size_alike)
{
    graft_ctx *ctx = tu_ctx();
    graft_layer *l = NULL;
    graft_conv2d_spec c = GRAFT_CONV2D_SPEC_INIT;
    c.out_channels = 1;
    c.struct_size = 8;
    ck_assert_int_eq(graft_layer_conv2d(ctx, &c, &l), GRAFT_E_VERSION);
    graft_pool2d_spec p = GRAFT_POOL2D_SPEC_INIT;
    p.struct_size = 8;
    ck_assert_int_eq(graft_layer_max_pool2d(ctx, &p, &l), GRAFT_E_VERSION);
    graft_pad2d_spec d = GRAFT_PAD2D_SPEC_INIT;
    d.struct_size = 8;
    ck_assert_int_eq(graft_layer_pad2d(ctx, &d, &l), GRAFT_E_VERSION);
    graft_upsample2d_spec u = GRAFT_UPSAMPLE2D_SPEC_INIT;
    u.struct_size = 8;
    ck_assert_int_eq(graft_layer_upsample2d(ctx, &u, &l), GRAFT_E_VERSION);
    ck_assert_ptr_null(l);
    graft_allocator a = GRAFT_ALLOCATOR_INIT;
    a.alloc = tu_counting_alloc;
    a.free = tu_counting_free;
    a.struct_size = 8;
    graft_ctx *c2 = NULL;
    ck_assert_int_eq(graft_ctx_create_advanced(&a, &c2), GRAFT_E_VERSION);
    char want[160];
    snprintf(want, sizeof want,
             "graft_ctx_create_advanced(): allocator->struct_size is 8; this graft reads %u "
             "(use GRAFT_ALLOCATOR_INIT)", (unsigned)sizeof(graft_allocator));
    ck_assert_str_eq(graft_errmsg(NULL), want);
    graft_ctx_free(ctx);
}
END_TEST

Suite *suite_options(void)
{
    Suite *s = suite_create("options");
    TCase *tc = tcase_create("struct_size");
    tcase_add_test(tc, test_an_older_size_keeps_the_newer_defaults);
    tcase_add_test(tc, test_the_current_size_is_copied_whole);
    tcase_add_test(tc, test_other_sizes_are_refused_and_change_nothing);
    tcase_add_test(tc, test_reserved_words_must_be_zero);
    tcase_add_test(tc, test_public_structs_refuse_a_short_size_alike);
    suite_add_tcase(s, tc);
    return s;
}
