/*
 * graft.h - the public interface of graft, a C library for transfer learning.
 *
 * This header is the reference manual. A function, type or constant that is
 * not declared here is not part of graft's API, whatever the shared library
 * happens to contain.
 *
 * Conventions used throughout
 * ---------------------------
 *  - Every object is an opaque handle (graft_ctx, graft_tensor, graft_layer).
 *    The library never reads a caller's struct after the call that took it.
 *  - Fallible functions return int: GRAFT_OK (0) or a negative GRAFT_E_* code.
 *    Objects are returned through an out-parameter, which is set to NULL on
 *    failure.
 *  - Every destructor (graft_*_free) accepts NULL and does nothing with it.
 *  - Memory the library allocates, the library frees. Pointers returned as
 *    "borrowed" stay valid until the event named in the function's comment;
 *    never pass them to free().
 *  - Tensors are float32, row-major, images in NCHW order (batch, channels,
 *    height, width).
 *  - Thread-safety: a graft_ctx and every object created in it may be used by
 *    one thread at a time. Distinct contexts, and the objects in them, may be
 *    used concurrently from different threads. Functions that take no handle
 *    are reentrant.
 *
 * The library is licensed under the MIT licence; see LICENSE.
 */
#ifndef GRAFT_H
#define GRAFT_H

#include <stddef.h> /* size_t */
#include <stdint.h> /* int64_t, uint32_t, uint64_t */

#ifdef __cplusplus
extern "C" {
#endif

/* GRAFT_API marks exported functions. Define it before including this header
 * to override (for example to empty when building a static-only copy). */
#ifndef GRAFT_API
#if defined(__GNUC__) && __GNUC__ >= 4
#define GRAFT_API __attribute__((visibility("default")))
#else
#define GRAFT_API
#endif
#endif

/* ======================================================================== */
/* Version                                                                  */
/* ======================================================================== */

#define GRAFT_VERSION_MAJOR 1
#define GRAFT_VERSION_MINOR 0
#define GRAFT_VERSION_PATCH 0
/* MAJOR*10000 + MINOR*100 + PATCH, e.g. 10000 for 1.0.0. */
#define GRAFT_VERSION_NUMBER \
    (GRAFT_VERSION_MAJOR * 10000 + GRAFT_VERSION_MINOR * 100 + GRAFT_VERSION_PATCH)
#define GRAFT_VERSION_STRINGIFY_(x) #x
#define GRAFT_VERSION_STRINGIFY(x) GRAFT_VERSION_STRINGIFY_(x)
#define GRAFT_VERSION_STRING                              \
    GRAFT_VERSION_STRINGIFY(GRAFT_VERSION_MAJOR) "."      \
    GRAFT_VERSION_STRINGIFY(GRAFT_VERSION_MINOR) "."      \
    GRAFT_VERSION_STRINGIFY(GRAFT_VERSION_PATCH)

/* Returns GRAFT_VERSION_NUMBER of the library actually loaded, which may be
 * newer than the header a program was compiled with. A program may check
 * graft_version_number() / 10000 == GRAFT_VERSION_MAJOR at start-up.
 * Thread-safe. Since 1.0. */
GRAFT_API int graft_version_number(void);

/* Returns the library's version as "MAJOR.MINOR.PATCH". Static storage: do not
 * free. Thread-safe. Since 1.0. */
GRAFT_API const char *graft_version_string(void);

/* Returns 1 when matrix products run through an optimised BLAS (OpenBLAS),
 * 0 when only graft's portable reference code is available. Thread-safe.
 * Since 1.0. */
GRAFT_API int graft_has_blas(void);

/* ======================================================================== */
/* Status codes and error messages                                          */
/* ======================================================================== */

/* Status codes. The values are pinned: they never change and are never
 * reused. New codes may be added in later versions, so treat any unknown
 * negative value as a failure. */
#define GRAFT_OK 0
#define GRAFT_E_INVALID_ARG (-1)  /* NULL where an object is needed, or a bad value */
#define GRAFT_E_NOMEM (-2)        /* an allocation failed */
#define GRAFT_E_SHAPE (-3)        /* tensor shapes do not fit the operation */
#define GRAFT_E_RANGE (-4)        /* an index or label is out of range */
#define GRAFT_E_IO (-5)           /* reading or writing a file failed */
#define GRAFT_E_FORMAT (-6)       /* a file or buffer is corrupt or not graft's */
#define GRAFT_E_UNSUPPORTED (-7)  /* a valid request graft does not implement */
#define GRAFT_E_STATE (-8)        /* the call is not valid in the object's state */
#define GRAFT_E_NOT_FOUND (-9)    /* a named item does not exist */
#define GRAFT_E_VERSION (-10)     /* a file or caller needs a newer graft */
#define GRAFT_E_NUMERIC (-11)     /* NaN or infinity where a finite value is needed */
#define GRAFT_E_CANCELLED (-12)   /* a callback asked to stop */
#define GRAFT_E_INTERNAL (-13)    /* a broken internal invariant; please report */

/* Returns a short static description of a status code, e.g. "out of memory"
 * for GRAFT_E_NOMEM, and "unknown error" for a value graft does not know.
 * Static storage: do not free. Thread-safe. Since 1.0. */
GRAFT_API const char *graft_strerror(int status);

/* ======================================================================== */
/* Context                                                                  */
/* ======================================================================== */

/* A context owns the allocator, the settings and the last error message of
 * everything created in it. Objects created in a context must be freed before
 * the context. One thread at a time may use a context and its objects. */
typedef struct graft_ctx graft_ctx;

/* Allocator hooks. alloc(opaque, size) returns memory aligned for any type
 * (or NULL on failure); free(opaque, ptr) releases it and accepts NULL.
 * struct_size must be sizeof(graft_allocator); use GRAFT_ALLOCATOR_INIT. */
typedef struct graft_allocator {
    uint32_t struct_size;
    void *(*alloc)(void *opaque, size_t size);
    void (*free)(void *opaque, void *ptr);
    void *opaque;
} graft_allocator;
#define GRAFT_ALLOCATOR_INIT { (uint32_t)sizeof(graft_allocator), NULL, NULL, NULL }

/* Creates a context that uses malloc/free.
 * out: receives the context (caller owns it; free with graft_ctx_free()).
 * Returns GRAFT_OK, GRAFT_E_INVALID_ARG (out is NULL) or GRAFT_E_NOMEM; the
 * message is then in graft_errmsg(NULL). Thread-safe. Since 1.0. */
GRAFT_API int graft_ctx_create(graft_ctx **out);

/* Like graft_ctx_create() with allocator hooks: every allocation graft makes
 * for this context and its objects goes through them. The hooks are copied;
 * alloc and free must both be set. Errors: GRAFT_E_INVALID_ARG (NULL
 * argument, a missing hook, or a struct_size graft does not know),
 * GRAFT_E_NOMEM. Thread-safe. Since 1.0. */
GRAFT_API int graft_ctx_create_advanced(const graft_allocator *allocator, graft_ctx **out);

/* Frees a context. Every object created in it must have been freed before.
 * Accepts NULL. Since 1.0. */
GRAFT_API void graft_ctx_free(graft_ctx *ctx);

/* Context settings, read and written with graft_ctx_set_int/get_int. */
#define GRAFT_CTX_USE_BLAS 1 /* 1 (default when graft_has_blas()): matrix products
                                through OpenBLAS; 0: graft's reference code */

/* Sets a context setting. Errors: GRAFT_E_INVALID_ARG (NULL ctx),
 * GRAFT_E_NOT_FOUND (unknown key), GRAFT_E_RANGE (value outside the key's
 * range), GRAFT_E_UNSUPPORTED (GRAFT_CTX_USE_BLAS=1 without BLAS). Since 1.0. */
GRAFT_API int graft_ctx_set_int(graft_ctx *ctx, int key, int value);

/* Reads a context setting into *value. Errors: GRAFT_E_INVALID_ARG,
 * GRAFT_E_NOT_FOUND. Since 1.0. */
GRAFT_API int graft_ctx_get_int(const graft_ctx *ctx, int key, int *value);

/* Returns the detailed message of the last failed call on objects of ctx, in
 * the form "function(): cause", or "" when no call has failed. With ctx NULL,
 * returns the calling thread's last message, which every failure also sets
 * (this is where failures with no usable handle report).
 * Borrowed: valid until the next graft call on ctx (or, for NULL, on this
 * thread). Since 1.0. */
GRAFT_API const char *graft_errmsg(const graft_ctx *ctx);

/* ======================================================================== */
/* Tensors                                                                  */
/* ======================================================================== */

/* A dense float32 array of 1 to GRAFT_MAX_DIMS dimensions, row-major.
 * Image batches are NCHW. */
typedef struct graft_tensor graft_tensor;

#define GRAFT_MAX_DIMS 8

/* Creates a zero-filled tensor.
 * ndim: 1..GRAFT_MAX_DIMS; dims: ndim sizes, each >= 1 (copied).
 * out: receives the tensor; caller owns it, free with graft_tensor_free().
 * Errors: GRAFT_E_INVALID_ARG (NULL ctx/dims/out), GRAFT_E_SHAPE (bad ndim,
 * a size < 1, or more than 2^40 elements), GRAFT_E_NOMEM. Since 1.0. */
GRAFT_API int graft_tensor_create(graft_ctx *ctx, int ndim, const int64_t *dims,
                                  graft_tensor **out);

/* Creates a tensor over caller memory, without copying. data must hold the
 * product of dims floats and stay valid, and not be freed, until the tensor
 * is freed; graft reads and writes it but never frees it. A view's shape
 * cannot grow past its first element count.
 * Errors: as graft_tensor_create(). Since 1.0. */
GRAFT_API int graft_tensor_create_view(graft_ctx *ctx, int ndim, const int64_t *dims,
                                       float *data, graft_tensor **out);

/* Frees a tensor (not the memory under a view). Accepts NULL. Since 1.0. */
GRAFT_API void graft_tensor_free(graft_tensor *tensor);

/* Returns the number of dimensions, or 0 for NULL. Since 1.0. */
GRAFT_API int graft_tensor_ndim(const graft_tensor *tensor);

/* Returns the size of dimension i (negative i counts from the end), or 0 for
 * NULL or an i out of range. Since 1.0. */
GRAFT_API int64_t graft_tensor_dim(const graft_tensor *tensor, int i);

/* Returns the number of elements, or 0 for NULL. Since 1.0. */
GRAFT_API size_t graft_tensor_numel(const graft_tensor *tensor);

/* Returns the tensor's elements, row-major. Borrowed: valid until the tensor
 * is freed or reshaped; NULL for NULL. Since 1.0. */
GRAFT_API float *graft_tensor_data(graft_tensor *tensor);

/* Read-only form of graft_tensor_data(). Since 1.0. */
GRAFT_API const float *graft_tensor_data_const(const graft_tensor *tensor);

/* Changes the shape; the element count must stay the same (the data is kept
 * as is, row-major). Errors: GRAFT_E_INVALID_ARG, GRAFT_E_SHAPE. Since 1.0. */
GRAFT_API int graft_tensor_reshape(graft_tensor *tensor, int ndim, const int64_t *dims);

/* Copies count floats from src into the tensor. count must equal
 * graft_tensor_numel(). Errors: GRAFT_E_INVALID_ARG, GRAFT_E_SHAPE. Since 1.0. */
GRAFT_API int graft_tensor_copy_from(graft_tensor *tensor, const float *src, size_t count);

/* Copies the tensor's elements into dst, which holds count floats; count
 * must equal graft_tensor_numel(). Errors: GRAFT_E_INVALID_ARG,
 * GRAFT_E_SHAPE. Since 1.0. */
GRAFT_API int graft_tensor_copy_to(const graft_tensor *tensor, float *dst, size_t count);

/* Sets every element to value. Errors: GRAFT_E_INVALID_ARG. Since 1.0. */
GRAFT_API int graft_tensor_fill(graft_tensor *tensor, float value);

/* ======================================================================== */
/* Layers                                                                   */
/* ======================================================================== */

/* A layer maps one or more input tensors (batch first) to one output tensor,
 * and back-propagates gradients. It is created unbuilt from its attributes;
 * graft_layer_build() fixes the per-sample input shapes (every dimension but
 * the first) and allocates and initialises its parameters. forward() builds
 * the layer on first use if it was not built.
 *
 * A layer owns its output and input-gradient tensors; pointers to them are
 * borrowed and stay valid until the next forward/backward call on the layer
 * or until it is freed. One thread at a time (the context's rule). */
typedef struct graft_layer graft_layer;

/* Convolution over NCHW input: out[n, o, y, x] = bias[o] + sum over the
 * input channels c of group g(o) and the kernel taps (i, j) of
 * weight[o, c, i, j] * in[n, g*C/groups + c, y*stride_h - pad_top + i*dilation_h,
 * x*stride_w - pad_left + j*dilation_w], with zeros outside the input.
 * Weight shape (out_channels, in_channels/groups, kernel_h, kernel_w).
 * Output size: floor((H + pad_top + pad_bottom - dilation_h*(kernel_h-1) - 1)
 * / stride_h) + 1, likewise for W. */
typedef struct graft_conv2d_spec {
    uint32_t struct_size; /* sizeof(graft_conv2d_spec) */
    int out_channels;     /* >= 1, divisible by groups */
    int kernel_h, kernel_w;                      /* >= 1 */
    int stride_h, stride_w;                      /* >= 1, default 1 */
    int pad_top, pad_left, pad_bottom, pad_right; /* >= 0, default 0 */
    int dilation_h, dilation_w;                  /* >= 1, default 1 */
    int groups;           /* >= 1, divides in and out channels; default 1.
                             groups == in channels == out channels: depthwise */
    int bias;             /* 1 (default): add a learned bias; 0: no bias */
} graft_conv2d_spec;
#define GRAFT_CONV2D_SPEC_INIT \
    { (uint32_t)sizeof(graft_conv2d_spec), 0, 1, 1, 1, 1, 0, 0, 0, 0, 1, 1, 1, 1 }

/* Max or average pooling over NCHW input, per channel. Output size as for
 * conv2d; with ceil_mode the division rounds up, but a window never starts
 * in the bottom or right padding. */
typedef struct graft_pool2d_spec {
    uint32_t struct_size;                         /* sizeof(graft_pool2d_spec) */
    int kernel_h, kernel_w;                       /* >= 1 */
    int stride_h, stride_w;                       /* >= 1, default 1 */
    int pad_top, pad_left, pad_bottom, pad_right; /* >= 0 and < kernel size */
    int ceil_mode;          /* 0 (default): floor the output size; 1: ceil */
    int count_include_pad;  /* average only: 1 divides by the whole window
                               (padding counted as zeros), 0 (default) by the
                               number of input cells it covers */
} graft_pool2d_spec;
#define GRAFT_POOL2D_SPEC_INIT \
    { (uint32_t)sizeof(graft_pool2d_spec), 1, 1, 1, 1, 0, 0, 0, 0, 0, 0 }

/* Constructors. Each creates an unbuilt layer in ctx; the caller owns it and
 * frees it with graft_layer_free(). Errors: GRAFT_E_INVALID_ARG (NULL ctx,
 * spec or out, or an attribute out of its documented range; the message names
 * the attribute), GRAFT_E_VERSION (a spec struct_size graft does not know),
 * GRAFT_E_NOMEM. Since 1.0. */

/* 2-D convolution; see graft_conv2d_spec. */
GRAFT_API int graft_layer_conv2d(graft_ctx *ctx, const graft_conv2d_spec *spec,
                                 graft_layer **out);
/* Max pooling; padding cells never win. */
GRAFT_API int graft_layer_max_pool2d(graft_ctx *ctx, const graft_pool2d_spec *spec,
                                     graft_layer **out);
/* Average pooling; see count_include_pad. */
GRAFT_API int graft_layer_avg_pool2d(graft_ctx *ctx, const graft_pool2d_spec *spec,
                                     graft_layer **out);
/* Global average pooling: (N, C, H, W) -> (N, C, 1, 1), the mean over H, W. */
GRAFT_API int graft_layer_global_avg_pool(graft_ctx *ctx, graft_layer **out);
/* Fully connected: the input (N, ...) is read as (N, F) with F the product of
 * the other dimensions; out = in * weight^T + bias, weight (units, F), bias
 * (units); output (N, units). units >= 1; bias 1 or 0. */
GRAFT_API int graft_layer_dense(graft_ctx *ctx, int units, int bias, graft_layer **out);
/* Batch normalisation over the channel axis of (N, C, ...) input:
 * out = gamma * (x - mean) / sqrt(var + epsilon) + beta. In training mode mean
 * and var are the batch's (biased variance) and the running statistics are
 * updated as running = (1 - momentum) * running + momentum * batch, with the
 * unbiased batch variance for running_var (PyTorch's convention). In
 * inference mode the running statistics are used. Parameters "weight"
 * (gamma, init 1), "bias" (beta, init 0); buffers "running_mean" (init 0),
 * "running_var" (init 1). epsilon > 0; momentum in [0, 1]. */
GRAFT_API int graft_layer_batch_norm(graft_ctx *ctx, float epsilon, float momentum,
                                     graft_layer **out);
/* out = max(0, x). */
GRAFT_API int graft_layer_relu(graft_ctx *ctx, graft_layer **out);
/* out = min(max(x, lo), hi); relu6 is clip(0, 6). lo <= hi, both finite. At
 * the bounds the gradient passes (lo <= x <= hi). */
GRAFT_API int graft_layer_clip(graft_ctx *ctx, float lo, float hi, graft_layer **out);
/* out = x for x >= 0, alpha * x otherwise. alpha finite. */
GRAFT_API int graft_layer_leaky_relu(graft_ctx *ctx, float alpha, graft_layer **out);
/* out = 1 / (1 + exp(-x)). */
GRAFT_API int graft_layer_sigmoid(graft_ctx *ctx, graft_layer **out);
/* out = tanh(x). */
GRAFT_API int graft_layer_tanh(graft_ctx *ctx, graft_layer **out);
/* out = x * min(max(x + 3, 0), 6) / 6. */
GRAFT_API int graft_layer_hard_swish(graft_ctx *ctx, graft_layer **out);
/* Inverted dropout: in training mode each element is zeroed with probability
 * rate and the others scaled by 1 / (1 - rate); in inference mode the
 * identity. The mask comes from a generator seeded with seed, so a run is
 * repeatable. rate in [0, 1). */
GRAFT_API int graft_layer_dropout(graft_ctx *ctx, float rate, uint64_t seed,
                                  graft_layer **out);
/* (N, d1, d2, ...) -> (N, d1*d2*...). */
GRAFT_API int graft_layer_flatten(graft_ctx *ctx, graft_layer **out);
/* Elementwise sum of 2 or more inputs of one shape (residual connections). */
GRAFT_API int graft_layer_add(graft_ctx *ctx, graft_layer **out);
/* Concatenation of 1 or more inputs along the channel axis (axis 1); the
 * other dimensions must agree. */
GRAFT_API int graft_layer_concat(graft_ctx *ctx, graft_layer **out);
/* Softmax along axis 1 of (N, C, ...), computed stably (max subtracted). */
GRAFT_API int graft_layer_softmax(graft_ctx *ctx, graft_layer **out);

/* Frees a layer and everything it owns. Accepts NULL. Since 1.0. */
GRAFT_API void graft_layer_free(graft_layer *layer);

/* Returns the layer's kind as a stable lower-case name ("conv2d",
 * "max_pool2d", "dense", ...), the same name graft's model files use.
 * Static storage; "" for NULL. Since 1.0. */
GRAFT_API const char *graft_layer_kind(const graft_layer *layer);

/* Fixes the layer's input shapes from n_inputs example tensors (only their
 * shapes are read; the first dimension, the batch, is ignored), checks them,
 * and allocates the parameters, initialised from seed: conv2d and dense
 * weights uniform in +-sqrt(6 / fan_in) (He-uniform) and biases zero, batch
 * norm as documented. Building again with other shapes rebuilds it.
 * Errors: GRAFT_E_INVALID_ARG (NULL, or n_inputs outside the kind's range),
 * GRAFT_E_SHAPE (shapes the kind cannot take; the message says why),
 * GRAFT_E_NOMEM. Since 1.0. */
GRAFT_API int graft_layer_build(graft_layer *layer, int n_inputs,
                                const graft_tensor *const *inputs, uint64_t seed);

/* Sets training (1) or inference (0) behaviour; new layers train. Batch norm
 * and dropout differ between the two. Errors: GRAFT_E_INVALID_ARG. Since 1.0. */
GRAFT_API int graft_layer_set_training(graft_layer *layer, int training);

/* Runs the layer forward. inputs: n_inputs tensors whose shapes (but for the
 * batch size, which may change from call to call) match the build; they are
 * read, not kept. out: receives the output, borrowed (see graft_layer).
 * In training mode, batch norm updates its running statistics.
 * Errors: GRAFT_E_INVALID_ARG, GRAFT_E_SHAPE, GRAFT_E_NOMEM. Since 1.0. */
GRAFT_API int graft_layer_forward(graft_layer *layer, int n_inputs,
                                  const graft_tensor *const *inputs,
                                  const graft_tensor **out);

/* Back-propagates out_grad (the gradient of the loss with respect to the last
 * forward's output, same shape) through the last forward call, which must have
 * had the same inputs, unchanged. Writes the parameter gradients (read with
 * graft_layer_param(); they are overwritten, not accumulated) and, when
 * input_grads is not NULL, sets input_grads[i] to the gradient with respect
 * to inputs[i] (borrowed, see graft_layer). With input_grads NULL the input
 * gradients are not computed.
 * Errors: GRAFT_E_INVALID_ARG, GRAFT_E_STATE (no forward before), GRAFT_E_SHAPE.
 * Since 1.0. */
GRAFT_API int graft_layer_backward(graft_layer *layer, int n_inputs,
                                   const graft_tensor *const *inputs,
                                   const graft_tensor *out_grad,
                                   const graft_tensor **input_grads);

/* Number of parameter tensors (trainable ones and buffers such as batch
 * norm's running statistics); 0 before the layer is built or for NULL.
 * Since 1.0. */
GRAFT_API int graft_layer_param_count(const graft_layer *layer);

/* Parameter i: its name ("weight", "bias", "running_mean", "running_var"),
 * its values, its gradient (NULL for buffers) and whether it is trained by
 * gradient (1) or a buffer (0). Any out-pointer may be NULL. Tensors are
 * borrowed (valid until the layer is rebuilt or freed); writing into the
 * value tensor's data sets the parameter. Errors: GRAFT_E_INVALID_ARG,
 * GRAFT_E_RANGE. Since 1.0. */
GRAFT_API int graft_layer_param(graft_layer *layer, int i, const char **name,
                                graft_tensor **value, const graft_tensor **grad,
                                int *trainable);

/* ======================================================================== */
/* Losses                                                                   */
/* ======================================================================== */

/* Softmax cross-entropy, averaged over the batch, from logits (N, C) and
 * labels[N] in [0, C). Computed stably (log-sum-exp). *loss receives the
 * mean loss. When grad is not NULL it must have the logits' shape and
 * receives d(loss)/d(logits) = (softmax(logits) - onehot(label)) / N.
 * Errors: GRAFT_E_INVALID_ARG (NULL logits/labels/loss), GRAFT_E_SHAPE,
 * GRAFT_E_RANGE (a label outside [0, C); the message names it), GRAFT_E_NUMERIC
 * (a NaN or infinite logit). Since 1.0. */
GRAFT_API int graft_loss_softmax_cross_entropy(const graft_tensor *logits,
                                               const int32_t *labels, float *loss,
                                               graft_tensor *grad);

/* Mean squared error: mean over all elements of (pred - target)^2. When grad
 * is not NULL (pred's shape) it receives 2 * (pred - target) / numel.
 * Errors: GRAFT_E_INVALID_ARG, GRAFT_E_SHAPE (shapes differ). Since 1.0. */
GRAFT_API int graft_loss_mse(const graft_tensor *pred, const graft_tensor *target,
                             float *loss, graft_tensor *grad);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* GRAFT_H */
