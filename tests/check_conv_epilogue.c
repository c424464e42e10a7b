/*
 * check_conv_epilogue.c - the fused step after a convolution's product
 * (src/layers/conv_epilogue.c): a batch norm's per-channel affine map, then
 * nothing, relu or clip, in place on a plane (graftEpiloguePlane) or while
 * copying one with the convolution's bias added first (graftEpilogueCopy).
 * Every length from 0 to 40 (blocks of 8 and remainders), against the float
 * expressions of batch_norm's inference forward and of relu and clip, with
 * NaN, infinities and signed zeros. The functions cannot fail: there is no
 * error path. The fused model forward that uses them is check_model.c's.
 */
#include "testutil.h"

#include <math.h>
#include <string.h>

/* The unfused expressions, one value at a time. */
static float ref_act(float v, graftEpilogueAct act, float lo, float hi)
{
    if (act == GRAFT_EPI_RELU) return v <= 0.0f ? 0.0f : v;
    if (act == GRAFT_EPI_CLIP) {
        v = v < lo ? lo : v;
        return v > hi ? hi : v;
    }
    return v;
}

static float ref_affine(float a, float v, float b)
{
    volatile float t = a * v; /* rounded, as the unfused batch norm stores it */
    return t + b;
}

static int same_float(float a, float b)
{
    return (isnan(a) && isnan(b)) || memcmp(&a, &b, sizeof a) == 0;
}

static float input_value(size_t i)
{
    static const float special[6] = {NAN, INFINITY, -INFINITY, 0.0f, -0.0f, 1e30f};
    if (i % 7 == 3) return special[(i / 7) % 6];
    return (float)((int)(i * 37 % 23) - 11) / 4.0f;
}

START_TEST(test_epilogue_plane)
{
    const float scale[3] = {1.5f, -0.75f, 0.0f}, shift[3] = {0.25f, -1.0f, 2.0f};
    const graftEpilogueAct acts[3] = {GRAFT_EPI_NONE, GRAFT_EPI_RELU, GRAFT_EPI_CLIP};
    float y[40], x[40];
    for (int a = 0; a < 3; a++)
        for (int o = 0; o < 3; o++)
            for (size_t n = 0; n <= 40; n++) {
                graftEpilogue ep = {scale, shift, acts[a], -0.5f, 3.0f};
                for (size_t i = 0; i < 40; i++) x[i] = y[i] = input_value(i + n);
                graftEpiloguePlane(y, n, &ep, o);
                for (size_t i = 0; i < 40; i++) {
                    const float want = i < n ? ref_act(ref_affine(scale[o], x[i], shift[o]),
                                                       acts[a], -0.5f, 3.0f)
                                             : x[i]; /* past n: untouched */
                    ck_assert_msg(same_float(y[i], want),
                                  "act %d, channel %d, n %zu, [%zu]: %g from %g, expected %g", a,
                                  o, n, i, (double)y[i], (double)x[i], (double)want);
                }
            }
}
END_TEST

START_TEST(test_epilogue_copy)
{
    const graftEpilogueAct acts[3] = {GRAFT_EPI_NONE, GRAFT_EPI_RELU, GRAFT_EPI_CLIP};
    float s[40], d[40];
    for (int a = 0; a < 3; a++)
        for (size_t n = 0; n <= 40; n++) {
            graftEpilogue ep = {NULL, NULL, acts[a], 0.0f, 6.0f}; /* relu6 as clip */
            const float bias = 0.3f, sa = 2.5f, sb = -0.125f;
            for (size_t i = 0; i < 40; i++) {
                s[i] = input_value(3 * i + n);
                d[i] = -7.0f;
            }
            graftEpilogueCopy(d, s, n, bias, sa, sb, &ep);
            for (size_t i = 0; i < 40; i++) {
                volatile float biased = s[i] + bias; /* the bias first, in float */
                const float want =
                    i < n ? ref_act(ref_affine(sa, biased, sb), acts[a], 0.0f, 6.0f) : -7.0f;
                ck_assert_msg(same_float(d[i], want), "act %d, n %zu, [%zu]: %g, expected %g",
                              a, n, i, (double)d[i], (double)want);
            }
        }
}
END_TEST

/* The clamps as the activation layers have them: relu maps -0 and 0 to +0
 * and keeps NaN; clip keeps NaN and its bounds are inclusive. */
START_TEST(test_epilogue_special_values)
{
    const float one = 1.0f, zero = 0.0f;
    float y[4] = {-0.0f, NAN, -INFINITY, INFINITY};
    graftEpilogue relu = {&one, &zero, GRAFT_EPI_RELU, 0, 0};
    graftEpiloguePlane(y, 4, &relu, 0);
    ck_assert(memcmp(&y[0], &zero, sizeof zero) == 0);
    ck_assert(isnan(y[1]));
    ck_assert_float_eq(y[2], 0.0f);
    ck_assert(isinf(y[3]) && y[3] > 0);
    float z[5] = {NAN, -1.0f, 1.0f, -INFINITY, INFINITY};
    graftEpilogue clip = {&one, &zero, GRAFT_EPI_CLIP, -1.0f, 1.0f};
    graftEpiloguePlane(z, 5, &clip, 0);
    ck_assert(isnan(z[0]));
    ck_assert_float_eq(z[1], -1.0f);
    ck_assert_float_eq(z[2], 1.0f);
    ck_assert_float_eq(z[3], -1.0f);
    ck_assert_float_eq(z[4], 1.0f);
}
END_TEST

Suite *suite_conv_epilogue(void)
{
    Suite *s = suite_create("conv_epilogue");
    TCase *tc = tcase_create("epilogue");
    tcase_add_test(tc, test_epilogue_plane);
    tcase_add_test(tc, test_epilogue_copy);
    tcase_add_test(tc, test_epilogue_special_values);
    suite_add_tcase(s, tc);
    return s;
}
