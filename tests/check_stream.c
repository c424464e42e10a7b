/* check_stream.c - little-endian writer and bounded reader. */
#include "testutil.h"

#include <string.h>

START_TEST(test_little_endian_layout)
{
    graft_ctx *ctx = tu_ctx();
    graftWriter w;
    graftWriterInit(&w, ctx);
    graftWriteU32(&w, 0x04030201u);
    graftWriteI64(&w, -2);
    graftWriteF32(&w, 1.0f);
    graftWriteString(&w, "ab");
    ck_assert_int_eq(w.status, GRAFT_OK);
    const unsigned char want[] = {1, 2, 3, 4, 0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
                                  0, 0, 0x80, 0x3f, 2, 0, 0, 0, 'a', 'b'};
    ck_assert_uint_eq(w.size, sizeof want);
    ck_assert(memcmp(w.data, want, sizeof want) == 0);

    graftReader r;
    graftReaderInit(&r, ctx, w.data, w.size);
    uint32_t u;
    int64_t i;
    float f;
    char *s;
    ck_assert_int_eq(graftReadU32(&r, &u, "u"), GRAFT_OK);
    ck_assert_uint_eq(u, 0x04030201u);
    ck_assert_int_eq(graftReadI64(&r, &i, "i"), GRAFT_OK);
    ck_assert_int_eq(i, -2);
    ck_assert_int_eq(graftReadF32(&r, &f, "f"), GRAFT_OK);
    ck_assert_float_eq(f, 1.0f);
    ck_assert_int_eq(graftReadString(&r, &s, 10, "s"), GRAFT_OK);
    ck_assert_str_eq(s, "ab");
    graftFree(ctx, s);
    ck_assert_uint_eq(r.pos, r.size);
    /* past the end */
    ck_assert_int_eq(graftReadU32(&r, &u, "extra field"), GRAFT_E_FORMAT);
    ck_assert_str_eq(graft_errmsg(ctx), "graft_load(): truncated data: extra field needs 4 bytes "
                                        "at offset 22, 0 left");
    /* sticky: later reads fail too */
    ck_assert_int_eq(graftReadBytes(&r, &u, 0, "nothing"), GRAFT_E_FORMAT);
    graftWriterDispose(&w);
    graft_ctx_free(ctx);
}
END_TEST

START_TEST(test_hostile_lengths)
{
    graft_ctx *ctx = tu_ctx();
    /* a string claiming 4 GiB */
    const unsigned char huge[] = {0xff, 0xff, 0xff, 0xff, 'x'};
    graftReader r;
    char *s = (char *)1;
    graftReaderInit(&r, ctx, huge, sizeof huge);
    ck_assert_int_eq(graftReadString(&r, &s, 64, "name"), GRAFT_E_FORMAT);
    ck_assert_ptr_null(s);
    ck_assert(strstr(graft_errmsg(ctx), "at most 64") != NULL);
    /* a string longer than what is left */
    const unsigned char shortstr[] = {5, 0, 0, 0, 'a', 'b'};
    graftReaderInit(&r, ctx, shortstr, sizeof shortstr);
    ck_assert_int_eq(graftReadString(&r, &s, 64, "name"), GRAFT_E_FORMAT);
    /* an embedded NUL */
    const unsigned char nul[] = {3, 0, 0, 0, 'a', 0, 'b'};
    graftReaderInit(&r, ctx, nul, sizeof nul);
    ck_assert_int_eq(graftReadString(&r, &s, 64, "name"), GRAFT_E_FORMAT);
    ck_assert(strstr(graft_errmsg(ctx), "NUL") != NULL);
    /* floats beyond the end */
    float f[4];
    graftReaderInit(&r, ctx, huge, sizeof huge);
    ck_assert_int_eq(graftReadFloats(&r, f, 2, "weights"), GRAFT_E_FORMAT);
    graft_ctx_free(ctx);
}
END_TEST

Suite *suite_stream(void)
{
    Suite *s = suite_create("stream");
    TCase *tc = tcase_create("io");
    tcase_add_test(tc, test_little_endian_layout);
    tcase_add_test(tc, test_hostile_lengths);
    suite_add_tcase(s, tc);
    return s;
}
