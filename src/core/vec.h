/*
 * vec.h - vector types and per-CPU copies of hot loops, for graft's own
 * kernels (the matrix products are OpenBLAS's).
 *
 * v8f is eight floats as one value (GCC's and Clang's vector extension):
 * one AVX register, or two SSE ones where AVX is not enabled. v8f_mem
 * reads and writes eight floats anywhere (alignment of a float, may alias
 * them): *(const v8f_mem *)p.
 *
 * GRAFT_VECTOR_CLONES before a function definition compiles it twice, for
 * x86-64-v3 CPUs (AVX2, FMA) and for any x86-64 CPU, the copy being chosen
 * once at load time (GNU ifunc). Elsewhere it expands to nothing. The two
 * copies compute the same values unless the file allows contraction into
 * fused multiply-adds (-ffp-contract=fast).
 */
#ifndef GRAFT_VEC_H
#define GRAFT_VEC_H

#if defined(__GNUC__)
#define GRAFT_HAVE_V8F 1
typedef float v8f __attribute__((vector_size(32)));
typedef float v8f_mem __attribute__((vector_size(32), aligned(4), may_alias));
#else
#define GRAFT_HAVE_V8F 0
#endif

/*
 * GRAFT_SHUFFLE4(a, b, i0, i1, i2, i3): the four lanes {c[i0], c[i1], c[i2],
 * c[i3]} of the eight c = (a's lanes, then b's), a and b being vectors of
 * four 32-bit lanes of one type (e.g. four floats, four int32); the indices
 * are integer constants 0..7. The result has a's type. A pure permutation of
 * lanes, so the same bits whichever compiler: Clang's __builtin_shufflevector
 * (Clang has no __builtin_shuffle), GCC's __builtin_shuffle with the indices
 * as a vector of four ints (GCC has __builtin_shufflevector only from 12).
 * Defined where GRAFT_HAVE_V8F is 1.
 */
#if defined(__clang__)
#define GRAFT_SHUFFLE4(a, b, i0, i1, i2, i3) \
    ((__typeof__(a))__builtin_shufflevector((a), (b), i0, i1, i2, i3))
#elif defined(__GNUC__)
typedef int graft_shuffle4_mask __attribute__((vector_size(16)));
#define GRAFT_SHUFFLE4(a, b, i0, i1, i2, i3) \
    __builtin_shuffle((a), (b), (graft_shuffle4_mask){i0, i1, i2, i3})
#endif

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && defined(__ELF__) && \
    !defined(GRAFT_NO_CLONES)
#define GRAFT_VECTOR_CLONES __attribute__((target_clones("arch=x86-64-v3", "default")))
#else
#define GRAFT_VECTOR_CLONES
#endif

#endif /* GRAFT_VEC_H */
