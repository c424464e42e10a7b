/*
 * finite.c - the finiteness and magnitude pass of finite.h.
 */
#include "finite.h"
#include "vec.h"

#include <math.h>
#include <string.h>

#define ABS_MASK 0x7fffffffu

/* Blocks of 16 as two vectors of eight int32 (two accumulators, so that the
 * loop is not one chain of dependent compares), then the rest one by one.
 * The sign-cleared bits are >= 0 as int32, so a signed compare orders them;
 * the select is a mask AND, as the activations' kernels do (vec.h). The
 * result is the same integer on every path: a maximum does not depend on
 * the order it is taken in. */
GRAFT_VECTOR_CLONES
uint32_t graftMaxAbsBits(const float *x, size_t n)
{
    size_t i = 0;
    uint32_t best = 0;
#if GRAFT_HAVE_V8F
    typedef int32_t v8i32 __attribute__((vector_size(32)));
    const v8i32 mask = {0x7fffffff, 0x7fffffff, 0x7fffffff, 0x7fffffff,
                        0x7fffffff, 0x7fffffff, 0x7fffffff, 0x7fffffff};
    v8i32 m0 = {0, 0, 0, 0, 0, 0, 0, 0}, m1 = m0;
    for (; i + 16 <= n; i += 16) {
        v8i32 a, b;
        memcpy(&a, x + i, sizeof a);
        memcpy(&b, x + i + 8, sizeof b);
        a &= mask;
        b &= mask;
        const v8i32 ga = a > m0, gb = b > m1;
        m0 = (a & ga) | (m0 & ~ga);
        m1 = (b & gb) | (m1 & ~gb);
    }
    const v8i32 g = m1 > m0;
    m0 = (m1 & g) | (m0 & ~g);
    for (int k = 0; k < 8; k++)
        if ((uint32_t)m0[k] > best) best = (uint32_t)m0[k];
#endif
    for (; i < n; i++) {
        uint32_t u;
        memcpy(&u, x + i, sizeof u);
        u &= ABS_MASK;
        if (u > best) best = u;
    }
    return best;
}

double graftMaxAbs(const float *x, size_t n)
{
    const uint32_t bits = graftMaxAbsBits(x, n);
    if (bits >= GRAFT_NONFINITE_BITS) return INFINITY;
    float v;
    memcpy(&v, &bits, sizeof v);
    return (double)v;
}

/* Elements per block of the search: small enough that the scan of a failed
 * block is short, large enough that the calls cost nothing. */
#define FIND_BLOCK 1024

size_t graftFirstNonFinite(const float *x, size_t n)
{
    for (size_t i0 = 0; i0 < n; i0 += FIND_BLOCK) {
        const size_t len = n - i0 < FIND_BLOCK ? n - i0 : FIND_BLOCK;
        if (graftMaxAbsBits(x + i0, len) < GRAFT_NONFINITE_BITS) continue;
        for (size_t i = i0; i < i0 + len; i++)
            if (!isfinite(x[i])) return i;
    }
    return n;
}

const char *graftNonFiniteName(float v)
{
    if (isnan(v)) return "NaN";
    if (isinf(v)) return v > 0 ? "inf" : "-inf";
    return "finite";
}
