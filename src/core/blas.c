/*
 * blas.c - every matrix product in graft goes through graftSgemm(), which
 * calls OpenBLAS's cblas_sgemm or, when the context says so (or the build has
 * no BLAS), graft's reference loops. The tests run both and compare.
 */
#include "internal.h"

#ifndef GRAFT_NO_BLAS
#include <cblas.h>
#endif

void graftSgemmReference(int trans_a, int trans_b, int m, int n, int k, float alpha,
                         const float *a, int lda, const float *b, int ldb, float beta,
                         float *c, int ldc)
{
    for (int i = 0; i < m; i++) {
        float *crow = c + (size_t)i * ldc;
        if (beta == 0.0f)
            for (int j = 0; j < n; j++) crow[j] = 0.0f;
        else if (beta != 1.0f)
            for (int j = 0; j < n; j++) crow[j] *= beta;
        for (int p = 0; p < k; p++) {
            float av = trans_a ? a[(size_t)p * lda + i] : a[(size_t)i * lda + p];
            av *= alpha;
            if (av == 0.0f) continue;
            if (!trans_b) {
                const float *brow = b + (size_t)p * ldb;
                for (int j = 0; j < n; j++) crow[j] += av * brow[j];
            } else {
                for (int j = 0; j < n; j++) crow[j] += av * b[(size_t)j * ldb + p];
            }
        }
    }
}

void graftSgemm(const graft_ctx *ctx, int trans_a, int trans_b, int m, int n, int k,
                float alpha, const float *a, int lda, const float *b, int ldb, float beta,
                float *c, int ldc)
{
    if (m <= 0 || n <= 0) return;
#ifndef GRAFT_NO_BLAS
    if (ctx->use_blas) {
        if (k <= 0) {
            graftSgemmReference(trans_a, trans_b, m, n, 0, alpha, a, lda, b, ldb, beta, c, ldc);
            return;
        }
        cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans,
                    trans_b ? CblasTrans : CblasNoTrans, m, n, k, alpha, a, lda, b, ldb, beta,
                    c, ldc);
        return;
    }
#else
    (void)ctx;
#endif
    graftSgemmReference(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

/* ---- the BLAS's threads ------------------------------------------------------
 * OpenBLAS keeps one thread pool per process; these set and read its size.
 * They back the proposed public context setting GRAFT_CTX_NUM_THREADS
 * (bench/API_PROPOSAL.md). Without BLAS graft runs on the calling thread
 * alone: the count is 1 and setting another is GRAFT_E_UNSUPPORTED. */

int graftBlasSetThreads(int n);
int graftBlasThreads(void);
const char *graftBlasCoreName(void);

/* Sets the BLAS's thread count (n >= 1). Returns GRAFT_OK,
 * GRAFT_E_RANGE for n < 1, GRAFT_E_UNSUPPORTED for n > 1 without BLAS. */
int graftBlasSetThreads(int n)
{
    if (n < 1) return GRAFT_E_RANGE;
#ifndef GRAFT_NO_BLAS
    openblas_set_num_threads(n);
    return GRAFT_OK;
#else
    return n == 1 ? GRAFT_OK : GRAFT_E_UNSUPPORTED;
#endif
}

/* The BLAS's thread count (1 without BLAS). */
int graftBlasThreads(void)
{
#ifndef GRAFT_NO_BLAS
    return openblas_get_num_threads();
#else
    return 1;
#endif
}

/* The name of the kernel set OpenBLAS chose ("Haswell", "SkylakeX", ...),
 * or "none" without BLAS. Static storage. */
const char *graftBlasCoreName(void)
{
#ifndef GRAFT_NO_BLAS
    const char *name = openblas_get_corename();
    return name ? name : "unknown";
#else
    return "none";
#endif
}
