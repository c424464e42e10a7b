/*
 * finite.h - one pass over a float array that tells whether every element is
 * finite and how large the largest magnitude is: the check graft makes of
 * model inputs, gradients, parameters and optimizer state (model/train.c,
 * model/optim.c).
 *
 * A float's bits with the sign cleared, read as an unsigned integer, order
 * like the magnitudes of finite floats, and every infinity and NaN is at or
 * above GRAFT_NONFINITE_BITS; so the largest of them over an array is both
 * the finiteness test and the largest |x|. Integer compares and a bitwise
 * AND vectorise on every x86-64 (and need no NaN rules).
 */
#ifndef GRAFT_FINITE_H
#define GRAFT_FINITE_H

#include <stddef.h>
#include <stdint.h>

/* Bits of +inf; |x|'s bits are >= this exactly when x is inf or NaN. */
#define GRAFT_NONFINITE_BITS 0x7f800000u

/* The largest of the sign-cleared bits of x[0..n) (0 for n = 0): below
 * GRAFT_NONFINITE_BITS exactly when every element is finite, and then the
 * bits of the largest |x[i]|. Reads each element once. */
uint32_t graftMaxAbsBits(const float *x, size_t n);

/* The largest |x[i]| as a double, or +inf when some element is not finite. */
double graftMaxAbs(const float *x, size_t n);

/* The index of the first element of x[0..n) that is inf or NaN, or n when
 * there is none. Checks blocks with graftMaxAbsBits() and looks element by
 * element only inside a block that failed. */
size_t graftFirstNonFinite(const float *x, size_t n);

/* "NaN", "inf" or "-inf" (for a value that is not finite; "finite" else). */
const char *graftNonFiniteName(float v);

#endif /* GRAFT_FINITE_H */
