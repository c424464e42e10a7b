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
