/*
 * check_protobuf.c - writing protocol buffer fields (src/core/protobuf.c):
 * the bytes of varints, tags, integer, float, bytes and string fields, and
 * nested messages whose length prefix is inserted when they end, against
 * encodings worked out by hand from the protobuf wire-format rules; and a
 * writer that failed, which must stay failed.
 */
#include "testutil.h"

#include "core/protobuf.h"

#include <string.h>

static void assert_bytes(const graftWriter *w, const unsigned char *want, size_t n,
                         const char *what)
{
    ck_assert_int_eq(w->status, GRAFT_OK);
    ck_assert_msg(w->size == n, "%s: %zu bytes, expected %zu", what, w->size, n);
    for (size_t i = 0; i < n; i++)
        ck_assert_msg(w->data[i] == want[i], "%s: byte %zu is %02x, expected %02x", what, i,
                      w->data[i], want[i]);
}

/* Varints: 7 bits a byte, low first, the high bit set on all but the last. */
START_TEST(test_pb_varints)
{
    graft_ctx *ctx = tu_ctx();
    static const struct {
        uint64_t v;
        unsigned char bytes[10];
        size_t n;
    } cases[] = {
        {0, {0x00}, 1},
        {1, {0x01}, 1},
        {127, {0x7f}, 1},
        {128, {0x80, 0x01}, 2},
        {300, {0xac, 0x02}, 2},
        {16383, {0xff, 0x7f}, 2},
        {16384, {0x80, 0x80, 0x01}, 3},
        {0xffffffffull, {0xff, 0xff, 0xff, 0xff, 0x0f}, 5},
        {UINT64_MAX, {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}, 10},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        graftWriter w;
        graftWriterInit(&w, ctx);
        graftPbWriteVarint(&w, cases[k].v);
        assert_bytes(&w, cases[k].bytes, cases[k].n, "varint");
        graftWriterDispose(&w);
    }
    graft_ctx_free(ctx);
}
END_TEST

/* Tags (field << 3 | wire type) and the scalar fields. */
START_TEST(test_pb_scalar_fields)
{
    graft_ctx *ctx = tu_ctx();
    graftWriter w;
    graftWriterInit(&w, ctx);
    graftPbWriteTag(&w, 1, PB_VARINT);   /* 0x08 */
    graftPbWriteTag(&w, 16, PB_LEN);     /* 130 = 0x82 0x01 */
    graftPbWriteInt(&w, 2, 150);         /* 0x10 0x96 0x01 */
    graftPbWriteInt(&w, 3, -1);          /* 0x18, ten bytes of two's complement */
    graftPbWriteFloat(&w, 4, 1.0f);      /* 0x25, 00 00 80 3f */
    graftPbWriteString(&w, 5, "hi");     /* 0x2a 0x02 'h' 'i' */
    graftPbWriteBytes(&w, 6, "\0\1", 2); /* 0x32 0x02 00 01 */
    graftPbWriteString(&w, 7, "");       /* 0x3a 0x00 */
    const unsigned char want[] = {0x08, 0x82, 0x01, 0x10, 0x96, 0x01, 0x18, 0xff, 0xff, 0xff,
                                  0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01, 0x25, 0x00, 0x00,
                                  0x80, 0x3f, 0x2a, 0x02, 'h',  'i',  0x32, 0x02, 0x00, 0x01,
                                  0x3a, 0x00};
    assert_bytes(&w, want, sizeof want, "fields");
    graftWriterDispose(&w);
    graft_ctx_free(ctx);
}
END_TEST

/* A nested message is written in place and its length inserted when it
 * ends: one byte for up to 127 bytes, two from 128, and nesting inside
 * nesting counts the inner prefix in the outer length. */
START_TEST(test_pb_nested_messages)
{
    graft_ctx *ctx = tu_ctx();
    graftWriter w;
    graftWriterInit(&w, ctx);
    size_t outer = graftPbBeginMessage(&w, 1);
    graftPbWriteInt(&w, 1, 5);
    size_t inner = graftPbBeginMessage(&w, 2);
    graftPbWriteString(&w, 1, "ab");
    graftPbEndMessage(&w, inner);
    graftPbEndMessage(&w, outer);
    size_t empty = graftPbBeginMessage(&w, 3);
    graftPbEndMessage(&w, empty);
    /* outer: 0x0a len; 0x08 0x05; inner: 0x12 0x04 0x0a 0x02 'a' 'b' -> len 8 */
    const unsigned char want[] = {0x0a, 0x08, 0x08, 0x05, 0x12, 0x04, 0x0a, 0x02,
                                  'a',  'b',  0x1a, 0x00};
    assert_bytes(&w, want, sizeof want, "nested");
    graftWriterDispose(&w);

    /* 200 bytes of payload: the prefix takes two bytes (0xc8 0x01) and the
     * payload moves after it intact. */
    graftWriterInit(&w, ctx);
    unsigned char payload[198];
    for (size_t i = 0; i < sizeof payload; i++) payload[i] = (unsigned char)i;
    size_t m = graftPbBeginMessage(&w, 15);
    graftPbWriteBytes(&w, 1, payload, sizeof payload); /* 0x0a 0xc6 0x01 + 198 */
    graftPbEndMessage(&w, m);
    ck_assert_int_eq(w.status, GRAFT_OK);
    ck_assert_uint_eq(w.size, 1 + 2 + 3 + sizeof payload);
    ck_assert_int_eq(w.data[0], 0x7a); /* field 15, wire type 2 */
    ck_assert_int_eq(w.data[1], 0xc9); /* 201 = 0xc9 0x01 */
    ck_assert_int_eq(w.data[2], 0x01);
    ck_assert_int_eq(w.data[3], 0x0a);
    ck_assert_int_eq(w.data[4], 0xc6);
    ck_assert_int_eq(w.data[5], 0x01);
    ck_assert(memcmp(w.data + 6, payload, sizeof payload) == 0);
    graftWriterDispose(&w);
    graft_ctx_free(ctx);
}
END_TEST

/* When the writer cannot grow, it records GRAFT_E_NOMEM once and ignores
 * what follows; ending a message then changes nothing. */
START_TEST(test_pb_failed_writer_stays_failed)
{
    for (long fail = 1; fail <= 3; fail++) {
        tu_alloc_counter c = {0, 0, 0, 0};
        graft_ctx *ctx = tu_counting_ctx(&c);
        graftWriter w;
        graftWriterInit(&w, ctx);
        c.fail_at = c.allocs + fail;
        size_t m = graftPbBeginMessage(&w, 1);
        unsigned char big[5000];
        memset(big, 7, sizeof big);
        for (int k = 0; k < 8 && w.status == GRAFT_OK; k++)
            graftPbWriteBytes(&w, 2, big, sizeof big);
        graftPbEndMessage(&w, m);
        ck_assert_int_eq(w.status, GRAFT_E_NOMEM);
        size_t size = w.size;
        graftPbWriteInt(&w, 3, 1);
        graftPbWriteString(&w, 4, "more");
        graftPbEndMessage(&w, m);
        ck_assert_int_eq(w.status, GRAFT_E_NOMEM);
        ck_assert_uint_eq(w.size, size);
        graftWriterDispose(&w);
        graft_ctx_free(ctx);
        ck_assert_int_eq(c.allocs, c.frees);
    }
}
END_TEST

Suite *suite_protobuf(void)
{
    Suite *s = suite_create("protobuf");
    TCase *tc = tcase_create("protobuf");
    tcase_add_test(tc, test_pb_varints);
    tcase_add_test(tc, test_pb_scalar_fields);
    tcase_add_test(tc, test_pb_nested_messages);
    tcase_add_test(tc, test_pb_failed_writer_stays_failed);
    suite_add_tcase(s, tc);
    return s;
}
