/*
 * check_crc32.c - CRC-32 (src/core/crc32.c), which checksums the sections of
 * model files: the standard check values, chaining, and agreement with
 * zlib's crc32() and with the bitwise definition on data of every length.
 */
#include "testutil.h"

#include "core/crc32.h"

#include <string.h>
#include <zlib.h>

START_TEST(test_crc32_known_values)
{
    /* The standard check value of CRC-32/ISO-HDLC, and chaining. */
    ck_assert_uint_eq(graftCrc32(0, "123456789", 9), 0xCBF43926u);
    ck_assert_uint_eq(graftCrc32(0, "", 0), 0);
    ck_assert_uint_eq(graftCrc32(graftCrc32(0, "1234", 4), "56789", 5), 0xCBF43926u);
    /* "The quick brown fox jumps over the lazy dog" */
    const char *fox = "The quick brown fox jumps over the lazy dog";
    ck_assert_uint_eq(graftCrc32(0, fox, strlen(fox)), 0x414FA339u);
}
END_TEST

/* The definition, one bit at a time: the reflected polynomial 0xEDB88320,
 * register and result inverted. */
static uint32_t crc_bitwise(const unsigned char *p, size_t n)
{
    uint32_t c = 0xFFFFFFFFu;
    for (size_t i = 0; i < n; i++) {
        c ^= p[i];
        for (int k = 0; k < 8; k++) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
    }
    return c ^ 0xFFFFFFFFu;
}

/* Every length from 0 to 600 of pseudo-random bytes (every byte value
 * occurs): the table-driven code, the bitwise definition and zlib agree,
 * and so does every chained split of the data. */
START_TEST(test_crc32_matches_definition_and_zlib)
{
    unsigned char buf[600];
    uint64_t s = 0x9e3779b97f4a7c15ull;
    for (size_t i = 0; i < sizeof buf; i++) {
        s = s * 6364136223846793005ull + 1442695040888963407ull;
        buf[i] = (unsigned char)(s >> 56);
    }
    for (size_t n = 0; n <= sizeof buf; n++) {
        uint32_t got = graftCrc32(0, buf, n);
        ck_assert_msg(got == crc_bitwise(buf, n), "%zu bytes: %08x", n, got);
        ck_assert_msg(got == (uint32_t)crc32(0L, buf, (uInt)n), "%zu bytes: zlib differs", n);
    }
    for (size_t cut = 0; cut <= 64; cut++)
        ck_assert_uint_eq(graftCrc32(graftCrc32(0, buf, cut), buf + cut, 64 - cut),
                          graftCrc32(0, buf, 64));
    /* All 256 single bytes: the table itself. */
    for (int b = 0; b < 256; b++) {
        unsigned char c = (unsigned char)b;
        ck_assert_uint_eq(graftCrc32(0, &c, 1), crc_bitwise(&c, 1));
    }
}
END_TEST

/* A checksum detects every single-bit change of a message. */
START_TEST(test_crc32_detects_bit_flips)
{
    unsigned char msg[48];
    for (size_t i = 0; i < sizeof msg; i++) msg[i] = (unsigned char)(i * 37 + 11);
    const uint32_t good = graftCrc32(0, msg, sizeof msg);
    for (size_t i = 0; i < sizeof msg; i++)
        for (int bit = 0; bit < 8; bit++) {
            msg[i] ^= (unsigned char)(1 << bit);
            ck_assert_uint_ne(graftCrc32(0, msg, sizeof msg), good);
            msg[i] ^= (unsigned char)(1 << bit);
        }
    ck_assert_uint_eq(graftCrc32(0, msg, sizeof msg), good);
}
END_TEST

Suite *suite_crc32(void)
{
    Suite *s = suite_create("crc32");
    TCase *tc = tcase_create("crc32");
    tcase_add_test(tc, test_crc32_known_values);
    tcase_add_test(tc, test_crc32_matches_definition_and_zlib);
    tcase_add_test(tc, test_crc32_detects_bit_flips);
    suite_add_tcase(s, tc);
    return s;
}
