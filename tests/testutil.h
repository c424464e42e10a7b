/*
 * testutil.h - helpers shared by graft's Check suites: tensor builders, a
 * finite-difference gradient checker, BLAS-vs-reference and save/load
 * round-trip checks that work for any layer kind.
 */
#ifndef GRAFT_TESTUTIL_H
#define GRAFT_TESTUTIL_H

#include <check.h>

#include "graft.h"
#include "layers/layer.h"

/* Suites, one per module (tests/check_<module>.c). */
Suite *suite_context(void);
Suite *suite_tensor(void);
Suite *suite_blas(void);
Suite *suite_parallel(void);
Suite *suite_stream(void);
Suite *suite_layer(void);
Suite *suite_kinds(void);
Suite *suite_dense(void);
Suite *suite_conv2d(void);
Suite *suite_pool(void);
Suite *suite_batchnorm(void);
Suite *suite_activation(void);
Suite *suite_dropout(void);
Suite *suite_shape_ops(void);
Suite *suite_loss(void);
Suite *suite_torch_refs(void);
Suite *suite_model(void);
Suite *suite_optim(void);
Suite *suite_dataset(void);
Suite *suite_train(void);
Suite *suite_model_io(void);
Suite *suite_image(void);
Suite *suite_dataset_files(void);
Suite *suite_onnx(void);
Suite *suite_onnx_layers(void);
Suite *suite_transfer(void);
Suite *suite_alloc_fail(void);
Suite *suite_fusion(void);

/* Allocator hooks that count allocations and frees, remember the largest
 * request, and fail the fail_at-th allocation (1-based; 0: none). Pass a
 * tu_alloc_counter as the hooks' opaque pointer, or use tu_counting_ctx(). */
typedef struct tu_alloc_counter {
    long allocs, frees, fail_at;
    size_t largest;
} tu_alloc_counter;
void *tu_counting_alloc(void *opaque, size_t size);
void tu_counting_free(void *opaque, void *ptr);
/* A context whose every allocation goes through c. */
graft_ctx *tu_counting_ctx(tu_alloc_counter *c);

/* A context that fails the test when it cannot be made. */
graft_ctx *tu_ctx(void);

/* A zero-filled tensor of ndim dimensions given as ints, e.g.
 * tu_tensor(ctx, 4, 2, 3, 5, 5). Fails the test on error. */
graft_tensor *tu_tensor(graft_ctx *ctx, int ndim, ...);
/* A tensor holding count values from data with the given dims. */
graft_tensor *tu_tensor_from(graft_ctx *ctx, int ndim, const int64_t *dims, const float *data);
/* Fills with values uniform in [lo, hi) from seed. */
void tu_fill_uniform(graft_tensor *t, uint64_t seed, float lo, float hi);
/* Fills with distinct values: a random permutation of lo + k * step. Keeps
 * max pooling and ReLU-like kinks away from finite-difference steps. */
void tu_fill_distinct(graft_tensor *t, uint64_t seed, float lo, float step);

/* Asserts that two float arrays agree: |a - b| <= atol + rtol * |b|, and
 * names the first index that does not. */
void tu_assert_close(const float *a, const float *b, size_t n, float atol, float rtol,
                     const char *what);

/* Options of the gradient check. */
typedef struct tu_gradcheck_opts {
    double eps;   /* finite-difference step (default 1e-2) */
    double atol;  /* absolute tolerance (default 2e-3) */
    double rtol;  /* relative tolerance (default 2e-2) */
    /* Called before every forward, e.g. to reseed a dropout mask; may be NULL. */
    void (*before_forward)(graft_layer *layer, void *arg);
    void *arg;
    int skip_inputs; /* 1: do not check input gradients */
    int skip_params; /* 1: do not check parameter gradients */
} tu_gradcheck_opts;

/* Checks the input and parameter gradients of a built layer against central
 * differences of L = sum(out * R), R random. Fails the test on the first
 * mismatch, naming the tensor and the element. Returns the number of
 * elements compared (so a caller can assert the check did something). */
size_t tu_gradcheck(graft_layer *layer, int n_inputs, graft_tensor **inputs,
                    const tu_gradcheck_opts *opts);

/* Runs forward and backward with OpenBLAS and with the reference GEMM and
 * asserts that outputs, input gradients and parameter gradients agree within
 * rtol. Leaves the context on BLAS. */
void tu_check_blas_vs_reference(graft_layer *layer, int n_inputs, graft_tensor **inputs,
                                float rtol);

/* Saves the layer, loads it back, and asserts that kind, parameters and
 * inference-mode outputs are bit-identical; then loads every truncation of
 * the saved bytes and asserts each fails cleanly with GRAFT_E_FORMAT. */
void tu_check_roundtrip(graft_layer *layer, int n_inputs, graft_tensor **inputs);

#endif
