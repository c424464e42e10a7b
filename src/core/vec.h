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

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && defined(__ELF__) && \
    !defined(GRAFT_NO_CLONES)
#define GRAFT_VECTOR_CLONES __attribute__((target_clones("arch=x86-64-v3", "default")))
#else
#define GRAFT_VECTOR_CLONES
#endif

#endif /* GRAFT_VEC_H */
