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
 *    are reentrant. Since 1.3 one exception: predictions
 *    (graft_model_predict(), graft_model_predict_topk()) and clones
 *    (graft_model_clone()) may run on one model from many threads at once;
 *    see "Threads" under Models. The context's error message is then kept
 *    per thread (graft_errmsg()).
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
#define GRAFT_VERSION_MINOR 3
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

/* Returns the name of the kernels OpenBLAS chose for this processor
 * ("Haswell", "SkylakeX", ...; the OPENBLAS_CORETYPE environment variable
 * can force one), or "none" without BLAS. Static storage: do not free.
 * Thread-safe. Since 1.0. */
GRAFT_API const char *graft_blas_core_name(void);

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
#define GRAFT_CTX_NUM_THREADS 2 /* threads the matrix products (and graft's own
                                   loops between them) may use, 1 to 256;
                                   default: OpenBLAS's own (OPENBLAS_NUM_THREADS, else
                                   the cores). OpenBLAS keeps one thread pool per
                                   process, so this setting is process-wide: setting
                                   it through one context changes it for all, and
                                   reading it gives the current process value.
                                   Without BLAS only 1 is accepted. Results can differ
                                   in the last bits between thread counts. With more
                                   than one thread, OPENBLAS_THREAD_TIMEOUT=4 in the
                                   environment (read when OpenBLAS loads) stops
                                   OpenBLAS's idle threads from spinning against
                                   graft's own between products. */
#define GRAFT_CTX_WINOGRAD 3 /* 1 (default): stride-1, one-group 3x3 and 5x5
                                convolutions with at least 16 input and 16 output
                                channels and 16 output tiles (4x4 for 3x3 kernels,
                                2x2 for 5x5) per call run by Winograd's minimal
                                filtering, F(4x4, 3x3) and F(2x2, 5x5): 36 products
                                per tile where the direct sum takes 144 or 100;
                                results within about 1e-6 of the output's scale of
                                the direct sum's. 2: every stride-1 one-group 3x3
                                and 5x5 convolution, whatever its size. 0: every
                                convolution is a direct sum (column matrix and
                                matrix product) */
#define GRAFT_CTX_CHECK_INPUTS 4 /* 1 (default): graft_model_forward(), _predict(),
                                    _predict_topk(), _evaluate() and _fit() refuse an
                                    input sample holding NaN or an infinity with
                                    GRAFT_E_NUMERIC, the message naming the sample and
                                    the element (one read of the input per call or
                                    batch; fit and evaluate skip datasets whose values
                                    were checked when made and cannot change, see
                                    graft_model_fit()). The read costs up to a few
                                    percent of a call of the smallest dense models,
                                    nothing measurable for convolutional ones.
                                    0: inputs are not checked; non-finite values flow
                                    through the layers into the outputs (every
                                    activation and max pooling propagate NaN, as
                                    PyTorch's do), and graft_model_fit() still stops
                                    when the loss, a gradient or a parameter would not
                                    be finite. Since 1.1 */

/* Sets a context setting. Errors: GRAFT_E_INVALID_ARG (NULL ctx),
 * GRAFT_E_NOT_FOUND (unknown key), GRAFT_E_RANGE (value outside the key's
 * range), GRAFT_E_UNSUPPORTED (GRAFT_CTX_USE_BLAS=1, or more than one thread,
 * without BLAS). Since 1.0. */
GRAFT_API int graft_ctx_set_int(graft_ctx *ctx, int key, int value);

/* Reads a context setting into *value. Errors: GRAFT_E_INVALID_ARG,
 * GRAFT_E_NOT_FOUND. Since 1.0. */
GRAFT_API int graft_ctx_get_int(const graft_ctx *ctx, int key, int *value);

/* Returns the detailed message of the last failed call on objects of ctx, in
 * the form "function(): cause", or "" when no call has failed. With ctx NULL,
 * returns the calling thread's last message, which every failure also sets
 * (this is where failures with no usable handle report).
 * Borrowed: valid until the next graft call on ctx (or, for NULL, on this
 * thread). Since 1.0.
 * Threads (since 1.3): when the calling thread's last graft call was on ctx,
 * the message is that call's, even if other threads have since called into
 * ctx (concurrent predictions on one model): each thread reads its own, and
 * the pointer is then the thread's (as for NULL: valid until the thread's
 * next graft call). Otherwise it is the last message any thread recorded in
 * ctx, which must not be read while another thread calls into ctx. Writes
 * to the context's message are serialised, so concurrent calls on one
 * context never race on it. */
GRAFT_API const char *graft_errmsg(const graft_ctx *ctx);

/* Frees a buffer that graft allocated in ctx and handed to the caller:
 * from graft_model_save_buffer(), graft_checkpoint_save_buffer(),
 * graft_onnx_export_buffer(), graft_image_encode_png() or
 * graft_tensor_encode_png() (ctx: the context of the model, image or tensor
 * that made it). Accepts NULL data. Since 1.3. */
GRAFT_API void graft_buffer_free(graft_ctx *ctx, void *data);

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
/* Images                                                                   */
/* ======================================================================== */

/* A decoded image: float32 pixels, planar CHW (every value of channel 0 row
 * by row, then channel 1, ...), 1 channel (grey) or 3 (red, green, blue, in
 * that order). Decoding gives values in [0, 1]: an 8-bit sample v becomes
 * v / 255, a 16-bit one v / 65535, a 1-, 2- or 4-bit grey sample v becomes
 * v / (2^depth - 1). Transforms work in place on the handle; the value range
 * after them is what they document (normalisation leaves [0, 1]).
 *
 * An image belongs to the context it was created in, which records its
 * errors; one thread at a time may use the context and its images (decode
 * in several threads with one context per thread). Images must be freed
 * before their context. */
typedef struct graft_image graft_image;

/* The largest width * height graft decodes or creates by default: 2^28
 * pixels (3 GiB of float32 at 3 channels). A file whose header claims more
 * is refused before any pixel memory is allocated. */
#define GRAFT_IMAGE_MAX_PIXELS ((int64_t)1 << 28)

/* Formats, as graft_image_format() reports them. */
#define GRAFT_IMAGE_FORMAT_UNKNOWN 0
#define GRAFT_IMAGE_FORMAT_PNG 1
#define GRAFT_IMAGE_FORMAT_JPEG 2

/* Options of graft_image_load() and graft_image_load_buffer(). Initialise
 * with GRAFT_IMAGE_LOAD_OPTS_INIT; a NULL options pointer means the
 * defaults.
 *
 * channels: 0 (default) keeps the file's kind: 1 for grey images (grey and
 * grey+alpha PNGs, greyscale JPEGs), 3 for all others (RGB, RGBA, palette
 * PNGs, colour and CMYK JPEGs). 1 converts colour to grey as
 * Y = 0.299 R + 0.587 G + 0.114 B (ITU-R BT.601 luma, computed in float on
 * the [0, 1] values); 3 converts grey to RGB by repeating it. Alpha is
 * always dropped, never composited: the colour values are kept as they are
 * stored (as pngtopnm and PIL's convert("RGB") do), and palette
 * transparency (tRNS) is ignored likewise.
 *
 * max_pixels: 0 (default) means GRAFT_IMAGE_MAX_PIXELS; otherwise 1 to
 * GRAFT_IMAGE_MAX_PIXELS, the largest width * height accepted. */
typedef struct graft_image_load_opts {
    uint32_t struct_size; /* sizeof(graft_image_load_opts) */
    int channels;         /* 0 (default), 1 or 3 */
    int64_t max_pixels;   /* 0 (default: GRAFT_IMAGE_MAX_PIXELS) or 1..that */
} graft_image_load_opts;
#define GRAFT_IMAGE_LOAD_OPTS_INIT { (uint32_t)sizeof(graft_image_load_opts), 0, 0 }

/* Decodes the PNG or JPEG file at path into a new image. The whole file is
 * read (at most 1 GiB) and its format detected from its first bytes, not
 * from its name.
 *
 * Bounded reads: the first 16 bytes are read first and must be a PNG or
 * JPEG signature before anything more is read (so /dev/zero costs 16
 * bytes). The ceiling is 1 GiB (1073741824 bytes): a larger regular file is
 * refused from its size, a FIFO, pipe or device as soon as its data passes
 * the ceiling ("... larger than the 1073741824-byte limit of image files").
 * Opening never waits for a FIFO's writer: a FIFO without one reads as
 * empty.
 *
 * PNG: every colour type and bit depth (grey 1/2/4/8/16, grey+alpha 8/16,
 * palette 1/2/4/8 with or without tRNS, RGB 8/16, RGBA 8/16), interlaced or
 * not. Gamma, colour-profile and other ancillary chunks are ignored; the
 * stored values are returned. The file must be complete up to its IEND
 * chunk, and a CRC error in a critical chunk is an error.
 * JPEG: baseline and progressive, greyscale, YCbCr (any subsampling), RGB,
 * and CMYK/YCCK, which are converted to RGB as R = C * K / 255 (likewise G
 * from M, B from Y) on the stored values, which is correct for the inverted
 * CMYK that Adobe applications write and the same as djpeg's PNM output.
 * Decoding uses libjpeg's accurate integer IDCT with smooth (fancy)
 * upsampling. A JPEG that libjpeg can only decode with a warning (truncated
 * data, corrupt entropy-coded data) is refused rather than returned with
 * made-up pixels, and so is a progressive JPEG of more than 500 scans. EXIF
 * orientation is not applied.
 *
 * ctx: the context (errors are recorded there). path: the file name.
 * opts: may be NULL for the defaults. out: receives the image; caller owns
 * it, free with graft_image_free(); set to NULL on failure.
 *
 * Errors: GRAFT_E_INVALID_ARG (NULL ctx, path or out, bad options),
 * GRAFT_E_VERSION (an opts->struct_size graft does not know), GRAFT_E_IO
 * (the file cannot be opened or read; the message names the file and the
 * system's reason), GRAFT_E_FORMAT (an empty, truncated or corrupt file, a
 * file over 1 GiB, a file that is neither PNG nor JPEG, or a width * height
 * above max_pixels;
 * the message is "graft_image_load(): <path>: <reason>", with libpng's or
 * libjpeg's own text as the reason where they found the fault),
 * GRAFT_E_UNSUPPORTED (a recognised format graft does not decode - GIF, BMP,
 * TIFF, WebP - or a JPEG colour space other than those listed),
 * GRAFT_E_NOMEM. Nothing is ever printed. Since 1.0. */
GRAFT_API int graft_image_load(graft_ctx *ctx, const char *path,
                               const graft_image_load_opts *opts, graft_image **out);

/* Like graft_image_load() from size bytes at data (read, not kept); error
 * messages name the source "<memory>". Since 1.0. */
GRAFT_API int graft_image_load_buffer(graft_ctx *ctx, const void *data, size_t size,
                                      const graft_image_load_opts *opts, graft_image **out);

/* Detects the format from the first bytes of data (the PNG signature, or
 * the JPEG SOI marker FF D8 FF): GRAFT_IMAGE_FORMAT_PNG, _JPEG or _UNKNOWN
 * (also for NULL or too few bytes). Thread-safe. Since 1.0. */
GRAFT_API int graft_image_format(const void *data, size_t size);

/* Creates a zero-filled image of width x height pixels and channels 1 or 3.
 * out: caller owns it, free with graft_image_free().
 * Errors: GRAFT_E_INVALID_ARG (NULL ctx or out, channels not 1 or 3),
 * GRAFT_E_RANGE (width or height < 1, or width * height above
 * GRAFT_IMAGE_MAX_PIXELS), GRAFT_E_NOMEM. Since 1.0. */
GRAFT_API int graft_image_create(graft_ctx *ctx, int width, int height, int channels,
                                 graft_image **out);

/* Creates an image from width * height * channels floats at pixels (copied,
 * not kept), laid out as flags says (see GRAFT_IMAGE_HWC, GRAFT_IMAGE_BGR).
 * Errors: as graft_image_create(), GRAFT_E_INVALID_ARG also for NULL pixels
 * or unknown flags. Since 1.0. */
GRAFT_API int graft_image_import(graft_ctx *ctx, int width, int height, int channels,
                                 int flags, const float *pixels, graft_image **out);

/* Creates a copy of image in the same context (caller owns it). Errors:
 * GRAFT_E_INVALID_ARG, GRAFT_E_NOMEM. Since 1.0. */
GRAFT_API int graft_image_copy(const graft_image *image, graft_image **out);

/* Frees an image. Accepts NULL. Since 1.0. */
GRAFT_API void graft_image_free(graft_image *image);

/* Width, height and channel count (1 or 3); 0 for NULL. Since 1.0. */
GRAFT_API int graft_image_width(const graft_image *image);
GRAFT_API int graft_image_height(const graft_image *image);
GRAFT_API int graft_image_channels(const graft_image *image);

/* The pixels, planar CHW: the value of channel c at row y, column x is at
 * index (c * height + y) * width + x. Borrowed: valid until the image is
 * freed or a transform or graft_image_convert() is applied to it (they may
 * move the pixels); writing through the pointer changes the image. NULL for
 * NULL. Since 1.0. */
GRAFT_API float *graft_image_data(graft_image *image);

/* Read-only form of graft_image_data(). Since 1.0. */
GRAFT_API const float *graft_image_data_const(const graft_image *image);

/* Layout flags for graft_image_import(), graft_image_export(),
 * graft_image_to_tensor() and graft_image_write_tensor(); combine with |.
 * 0 means planar CHW, channels in R, G, B order. */
#define GRAFT_IMAGE_HWC 1 /* interleaved: (y * width + x) * channels + c;
                             caller memory only, never tensors */
#define GRAFT_IMAGE_BGR 2 /* 3-channel images: channels in B, G, R order
                             (no effect on 1 channel) */

/* Copies the pixels into dst, which holds count floats; count must be
 * width * height * channels. flags: 0, GRAFT_IMAGE_HWC, GRAFT_IMAGE_BGR or
 * both. Errors: GRAFT_E_INVALID_ARG (NULL, unknown flags), GRAFT_E_SHAPE
 * (count). Since 1.0. */
GRAFT_API int graft_image_export(const graft_image *image, int flags, float *dst,
                                 size_t count);

/* Creates a new tensor (channels, height, width) holding the pixels (add
 * the batch dimension with graft_tensor_reshape() to pass one image to a
 * model). flags: 0 or GRAFT_IMAGE_BGR. out: caller owns the tensor, free
 * with graft_tensor_free(). Errors: GRAFT_E_INVALID_ARG (NULL, flags),
 * GRAFT_E_NOMEM. Since 1.0. */
GRAFT_API int graft_image_to_tensor(const graft_image *image, int flags, graft_tensor **out);

/* Writes the pixels into slot n of a batch tensor of shape (N, channels,
 * height, width), without allocating: batch[n] = image. flags: 0 or
 * GRAFT_IMAGE_BGR. Errors: GRAFT_E_INVALID_ARG (NULL, flags), GRAFT_E_SHAPE
 * (batch is not 4-D or its C, H, W differ from the image's; the message
 * gives both), GRAFT_E_RANGE (n outside [0, N)). Since 1.0. */
GRAFT_API int graft_image_write_tensor(const graft_image *image, int flags,
                                       graft_tensor *batch, int64_t n);

/* ---- transforms: each changes the image in place --------------------------
 * Each returns GRAFT_OK or an error code, and on failure leaves the image as
 * it was. Errors common to all: GRAFT_E_INVALID_ARG (NULL image),
 * GRAFT_E_NOMEM. Transforms keep a workspace in the image, so applying the
 * same transforms to a steady image size allocates nothing after the first
 * time. Since 1.0. */

/* Converts to channels (1 or 3) as graft_image_load_opts describes (grey to
 * RGB repeats the plane; RGB to grey takes Y = 0.299 R + 0.587 G + 0.114 B);
 * the same count does nothing. Errors: GRAFT_E_INVALID_ARG (channels). */
GRAFT_API int graft_image_convert(graft_image *image, int channels);

/* Resizes to width x height (each >= 1, width * height at most
 * GRAFT_IMAGE_MAX_PIXELS, else GRAFT_E_RANGE). Separable, one axis at a
 * time (width first), each output sample a weighted mean of input samples
 * with triangle (bilinear) weights; this is exactly PyTorch's
 * F.interpolate(mode="bilinear", align_corners=False, antialias=True) and
 * Pillow's resize(BILINEAR):
 *  - along an axis that grows or keeps its size, plain bilinear
 *    interpolation between the two nearest input samples, pixel centres
 *    aligned (input coordinate (i + 0.5) * in / out - 0.5, clamped at the
 *    edges): the same as F.interpolate(mode="bilinear",
 *    align_corners=False, antialias=False);
 *  - along an axis that shrinks by s = in / out > 1, an antialiased mean:
 *    output sample i has centre c = (i + 0.5) * s and takes input samples
 *    j with |j + 0.5 - c| < s, weighted by 1 - |j + 0.5 - c| / s and
 *    divided by the weights' sum (at the edges only the samples inside the
 *    image count). Every input sample contributes, so the image is not
 *    aliased (not a box filter: the triangle is twice as wide).
 * The same size does nothing. Values stay within the input's range. */
GRAFT_API int graft_image_resize(graft_image *image, int width, int height);

/* Resizes (as graft_image_resize()) so that the shorter side becomes size
 * and the longer floor(size * longer / shorter) (at least 1), keeping the
 * aspect ratio as torchvision.transforms.Resize(size) does; a square image
 * becomes size x size. Errors: GRAFT_E_RANGE (size < 1, or the result too
 * large). */
GRAFT_API int graft_image_resize_shorter(graft_image *image, int size);

/* Keeps the rectangle of width x height pixels whose top-left pixel is
 * (x, y). It must lie inside the image (x, y >= 0, width, height >= 1,
 * x + width <= image width, y + height <= image height), else
 * GRAFT_E_RANGE. */
GRAFT_API int graft_image_crop(graft_image *image, int x, int y, int width, int height);

/* Crops the central width x height pixels: left = (W - width) / 2 and
 * top = (H - height) / 2, halves rounded to the nearest even integer as
 * torchvision.transforms.CenterCrop does (so an odd excess of 1 starts at
 * 0, of 3 at 2). width <= W and height <= H, else GRAFT_E_RANGE (no
 * padding). */
GRAFT_API int graft_image_center_crop(graft_image *image, int width, int height);

/* Pads the image with fill on each side: left, top, right and bottom
 * columns and rows (each >= 0) of the value fill in every channel, the
 * image's pixels unchanged between them: out(x + left, y + top) = in(x, y).
 * The same as torchvision.transforms.functional.pad(img, [left, top,
 * right, bottom], fill). All 0 does nothing. Errors: GRAFT_E_INVALID_ARG (a
 * side < 0, fill not finite), GRAFT_E_RANGE (the result above
 * GRAFT_IMAGE_MAX_PIXELS). Since 1.3. */
GRAFT_API int graft_image_pad(graft_image *image, int left, int top, int right, int bottom,
                              float fill);

/* Fits the image into a width x height canvas keeping its aspect ratio
 * (the "letterbox" of detection models): resizes it (graft_image_resize())
 * to the largest size that fits, then pads it (graft_image_pad()) with
 * fill, centred. For a W x H image: when W * height <= H * width, the new
 * height is height and the new width round(W * height / H) (halves up,
 * at least 1, at most width); otherwise the new width is width and the
 * new height round(H * width / W). The padding is left = (width - new
 * width) / 2 and top = (height - new height) / 2 rounded down, the rest
 * right and at the bottom. An image of the same aspect ratio is only
 * resized. Errors: GRAFT_E_INVALID_ARG (fill not finite), GRAFT_E_RANGE
 * (width or height < 1, or width * height above GRAFT_IMAGE_MAX_PIXELS).
 * Since 1.3. */
GRAFT_API int graft_image_letterbox(graft_image *image, int width, int height, float fill);

/* Mirrors the image left to right: out(x, y) = in(W - 1 - x, y), exactly. */
GRAFT_API int graft_image_flip_horizontal(graft_image *image);

/* Multiplies every value by factor (finite, else GRAFT_E_INVALID_ARG):
 * 255 turns decoded [0, 1] values into [0, 255] (for models trained on that
 * range), 1 / 255.0f turns them back. */
GRAFT_API int graft_image_scale(graft_image *image, float factor);

/* Per-channel normalisation: value = (value - mean[c]) / std[c] for each
 * channel c. mean and std hold channels values each; every std must be
 * > 0 and all finite, else GRAFT_E_INVALID_ARG. */
GRAFT_API int graft_image_normalize(graft_image *image, const float *mean, const float *std);

/* The ImageNet statistics that torchvision's pretrained models expect on
 * [0, 1] RGB input, as initialisers: float m[3] = GRAFT_IMAGENET_MEAN; */
#define GRAFT_IMAGENET_MEAN { 0.485f, 0.456f, 0.406f }
#define GRAFT_IMAGENET_STD { 0.229f, 0.224f, 0.225f }

/* graft_image_normalize() with GRAFT_IMAGENET_MEAN and GRAFT_IMAGENET_STD.
 * The image must have 3 channels (RGB, in [0, 1]), else GRAFT_E_SHAPE. */
GRAFT_API int graft_image_normalize_imagenet(graft_image *image);

/* ---- seeded augmentation ------------------------------------------------ */

/* What graft_image_augment() does. Initialise with GRAFT_AUGMENT_SPEC_INIT,
 * which does nothing until fields are set; for the usual ImageNet training
 * recipe set crop_width = crop_height = 224 and flip_prob = 0.5. The steps
 * run in the order below, each drawing from its own generator seeded from
 * (seed, step), so turning one step on or off does not change the others'
 * draws. The same image, spec and seed always give the same result on
 * every platform; to vary per sample and epoch, derive seed from them
 * (e.g. seed = base ^ (epoch * 0x9E3779B97F4A7C15 + index)).
 *
 * 1. Random resized crop (when crop_width and crop_height are >= 1; both 0
 *    turns it off), torchvision's RandomResizedCrop: up to 10 times, draw
 *    a fraction s uniform in [scale_min, scale_max] and log r uniform in
 *    [log ratio_min, log ratio_max]; w = round(sqrt(W*H*s*r)),
 *    h = round(sqrt(W*H*s/r)); if 1 <= w <= W and 1 <= h <= H, take the
 *    rectangle at x uniform in [0, W - w], y uniform in [0, H - h]. If all
 *    10 fail, take the central crop of the whole image clamped to the
 *    ratio range (w = W, h = round(W / ratio_min) when W/H < ratio_min;
 *    h = H, w = round(H * ratio_max) when W/H > ratio_max; else the whole
 *    image), at x = (W - w) / 2, y = (H - h) / 2 rounded down. The
 *    rectangle is then resized to crop_width x crop_height with
 *    graft_image_resize().
 * 2. Horizontal flip (graft_image_flip_horizontal()) with probability
 *    flip_prob: a uniform u in [0, 1) is drawn and the image flipped when
 *    u < flip_prob.
 * 3. Brightness (when brightness > 0): a factor b uniform in
 *    [1 - brightness, 1 + brightness]; value = clamp(value * b, 0, 1).
 * 2b. Rotation and translation (since 1.3; when rotation, translate_x or
 *    translate_y is > 0): an angle a uniform in [-rotation, rotation]
 *    degrees, then shifts tx = round(u) with u uniform in
 *    [-translate_x * W, translate_x * W], then ty likewise with
 *    translate_y and H (halves away from 0), W x H being the image's size
 *    at this step; each is drawn, in that order, only when its field is
 *    > 0, else 0. The image keeps its size; output pixel
 *    (x, y), with u = x + 0.5 - W/2 - tx and v = y + 0.5 - H/2 - ty, takes
 *    the input at (cos a * u - sin a * v + W/2 - 0.5,
 *    sin a * u + cos a * v + H/2 - 0.5), interpolated bilinearly between
 *    the four nearest pixels, each pixel outside the image counting as
 *    fill. A positive angle turns the content counter-clockwise and tx,
 *    ty > 0 move it right and down: for fill 0 this is exactly
 *    torchvision's F.affine(img, angle=-a, translate=[tx, ty], scale=1,
 *    shear=0, interpolation=BILINEAR) on a float tensor (F.rotate(img, a)
 *    without translation) with fill None; for another fill, that applied
 *    to img - fill, plus fill (torchvision's own fill blends the edges
 *    differently).
 * 3. Brightness (when brightness > 0): a factor b uniform in
 *    [1 - brightness, 1 + brightness]; value = clamp(value * b, 0, 1).
 * 4. Contrast (when contrast > 0): a factor k uniform in
 *    [1 - contrast, 1 + contrast]; with m the mean of the image's grey
 *    values (Y as in graft_image_convert(); for 1 channel, the plain mean),
 *    value = clamp(k * value + (1 - k) * m, 0, 1).
 * 5. Saturation (since 1.3; when saturation > 0 and the image has 3
 *    channels): a factor f uniform in [1 - saturation, 1 + saturation];
 *    with g = 0.2989 R + 0.587 G + 0.114 B per pixel (torchvision's
 *    rgb_to_grayscale), value = clamp(f * value + (1 - f) * g, 0, 1).
 * 6. Hue (since 1.3; when hue > 0 and the image has 3 channels): a shift h
 *    uniform in [-hue, hue]; each pixel goes to HSV, its hue H (in
 *    [0, 1)) becomes (H + h) mod 1, and back to RGB, as torchvision's
 *    adjust_hue on a float tensor.
 * 7. Grey (since 1.3; when grayscale_prob > 0 and the image has 3
 *    channels): with probability grayscale_prob (a uniform u < p), every
 *    channel becomes g of step 5 (torchvision's RandomGrayscale).
 * Steps 3 to 6 are torchvision's ColorJitter(brightness, contrast,
 * saturation, hue) in a fixed order, and assume values in [0, 1]: augment
 * before normalising. Each step's generator is the k-th output of a
 * graftRng seeded with seed (k = 0 crop, 1 flip, 2 brightness, 3 contrast,
 * 4 rotation and translation, 5 saturation, 6 hue, 7 grey), so a 1.0 spec
 * gives the same images as in 1.0.
 *
 * graft_augment_preset() fills a spec with a named recipe. */
typedef struct graft_augment_spec {
    uint32_t struct_size;        /* sizeof(graft_augment_spec) */
    uint64_t seed;               /* default 0 */
    int crop_width, crop_height; /* 0 (default): no crop; else 1..65535 each */
    float scale_min, scale_max;  /* area fraction, 0 < min <= max <= 1;
                                    default 0.08, 1 */
    float ratio_min, ratio_max;  /* width / height, 0 < min <= max, finite;
                                    default 3/4, 4/3 */
    float flip_prob;             /* [0, 1], default 0 */
    float brightness;            /* [0, 1], default 0 (off) */
    float contrast;              /* [0, 1], default 0 (off) */
    /* Since 1.3 (a 1.0 caller's smaller struct leaves them at the defaults): */
    float rotation;              /* largest |angle| in degrees, [0, 180], default 0 (off) */
    float translate_x;           /* largest shift, a fraction of the width, [0, 1], default 0 */
    float translate_y;           /* ... of the height, [0, 1], default 0 */
    float fill;                  /* finite, default 0: the value of the pixels that rotation
                                    and translation bring in from outside the image */
    float saturation;            /* [0, 1], default 0 (off) */
    float hue;                   /* [0, 0.5], default 0 (off) */
    float grayscale_prob;        /* [0, 1], default 0 */
} graft_augment_spec;
#define GRAFT_AUGMENT_SPEC_INIT                                                  \
    { (uint32_t)sizeof(graft_augment_spec), 0, 0, 0, 0.08f, 1.0f, 0.75f,          \
      4.0f / 3.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f }

/* Applies the augmentation spec describes to image, in place.
 * Errors: GRAFT_E_INVALID_ARG (NULL image or spec, a field out of range:
 * the message names it), GRAFT_E_VERSION (a struct_size graft does not
 * know), GRAFT_E_RANGE (crop_width * crop_height above
 * GRAFT_IMAGE_MAX_PIXELS), GRAFT_E_NOMEM. Since 1.0. */
GRAFT_API int graft_image_augment(graft_image *image, const graft_augment_spec *spec);

/* ---- writing PNG files ---------------------------------------------------- */

/* Encodes the image as an 8-bit PNG: grey for 1 channel, RGB for 3 (colour
 * type 0 or 2, not interlaced, no ancillary chunks, so the same pixels
 * always give the same bytes). Each value v is clamped to [0, 1] and
 * becomes the sample round(v * 255) (halves up), so graft_image_load() of
 * the file gives back every value of [0, 1] to within 0.5 / 255, and a
 * decoded 8-bit image exactly. A NaN or infinite value is refused: the
 * message names the channel, row and column.
 * *data receives *size bytes that the caller frees with
 * graft_buffer_free() (with the image's context); both are set to
 * NULL and 0 on failure.
 * Errors: GRAFT_E_INVALID_ARG (NULL image, data or size), GRAFT_E_NUMERIC
 * (a value that is not finite), GRAFT_E_NOMEM, GRAFT_E_INTERNAL (libpng
 * refused to write: its reason is in the message). Since 1.3. */
GRAFT_API int graft_image_encode_png(const graft_image *image, void **data, size_t *size);

/* Writes the image as graft_image_encode_png() encodes it to path,
 * atomically: the bytes go to a temporary file in the same folder, which is
 * flushed and renamed over path, so path never holds a partial file.
 * Errors: as graft_image_encode_png(), GRAFT_E_INVALID_ARG also for a NULL
 * path, GRAFT_E_IO (the message names the file and the system's reason).
 * Since 1.3. */
GRAFT_API int graft_image_save_png(const graft_image *image, const char *path);

/* Encodes a tensor as an 8-bit PNG, for looking at inputs, feature maps and
 * batches. The value v becomes the sample round(255 * (v - lo) / (hi - lo))
 * clamped to [0, 255], so lo is black and hi white (lo 0 and hi 1 for
 * decoded images; lo 0, hi 255 for [0, 255] data). The shape says what is
 * drawn:
 *   (H, W)          one grey image;
 *   (C, H, W)       one image of C = 1 (grey), 2 (grey and alpha), 3 (RGB)
 *                   or 4 (RGBA) planar channels;
 *   (N, C, H, W)    a grid of the N images, C as above, sample n at row
 *                   n / columns and column n % columns of cells of H x W
 *                   pixels with no gap between them; columns 0 means
 *                   ceil(sqrt(N)), more than N means N. Cells past the last sample are black
 *                   (transparent with alpha).
 * columns is ignored (it must still be >= 0) for the other shapes. The
 * picture is at most GRAFT_IMAGE_MAX_PIXELS pixels and 2^31 - 1 pixels on a
 * side. *data and *size as for graft_image_encode_png().
 * Errors: GRAFT_E_INVALID_ARG (NULL tensor, data or size; lo or hi not
 * finite or lo >= hi; columns < 0), GRAFT_E_SHAPE (another rank or channel
 * count: the message gives the shape), GRAFT_E_RANGE (a picture too large),
 * GRAFT_E_NUMERIC (a NaN or infinite value: the message names its index),
 * GRAFT_E_NOMEM, GRAFT_E_INTERNAL (as graft_image_encode_png()). Since 1.3. */
GRAFT_API int graft_tensor_encode_png(const graft_tensor *tensor, float lo, float hi,
                                      int columns, void **data, size_t *size);

/* Writes graft_tensor_encode_png()'s result to path, atomically as
 * graft_image_save_png() does. Errors: as graft_tensor_encode_png(),
 * GRAFT_E_INVALID_ARG for a NULL path, GRAFT_E_IO. Since 1.3. */
GRAFT_API int graft_tensor_save_png(const graft_tensor *tensor, const char *path, float lo,
                                    float hi, int columns);
/* Named augmentation recipes for fine-tuning, for graft_augment_preset().
 * Each draws as graft_augment_spec says; the crop is a random resized
 * crop to the size given (none when it is 0 x 0), ratio 3/4 to 4/3:
 *   NONE      nothing (every step off, crop included): the identity;
 *   LIGHT     crop of scale 0.35 to 1, flip 0.5, brightness and contrast 0.1;
 *   STANDARD  crop of scale 0.08 to 1, flip 0.5: torchvision's ImageNet
 *             training recipe, and what graft_folder_opts.augment 1 does
 *             with its defaults (and `graft train --augment`);
 *   STRONG    crop of scale 0.08 to 1, flip 0.5, rotation 15 degrees,
 *             brightness, contrast and saturation 0.4, hue 0.1,
 *             grayscale_prob 0.1.
 * The recipes may be tuned in a later minor release (a program that needs
 * fixed images sets the fields itself). Since 1.3. */
#define GRAFT_AUGMENT_PRESET_NONE 0
#define GRAFT_AUGMENT_PRESET_LIGHT 1
#define GRAFT_AUGMENT_PRESET_STANDARD 2
#define GRAFT_AUGMENT_PRESET_STRONG 3

/* Fills *out with preset (a GRAFT_AUGMENT_PRESET_*) cropping to
 * crop_width x crop_height (both 0: no crop; else 1 to 65535 each, as the
 * spec's fields). out must be initialised with GRAFT_AUGMENT_SPEC_INIT: its
 * struct_size and seed are kept, every other field the caller's struct
 * has is set (to the preset's value or its default). Nothing is written on
 * failure. Errors (message in graft_errmsg(NULL)): GRAFT_E_INVALID_ARG
 * (NULL out, an unknown preset, a crop size out of range),
 * GRAFT_E_VERSION (out->struct_size). Thread-safe. Since 1.3. */
GRAFT_API int graft_augment_preset(int preset, int crop_width, int crop_height,
                                   graft_augment_spec *out);

/* The preset's name: "none", "light", "standard" or "strong" (static);
 * NULL for any other value. Thread-safe. Since 1.3. */
GRAFT_API const char *graft_augment_preset_name(int preset);

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
 * or until it is freed. One thread at a time (the context's rule).
 *
 * Inside a model these tensors are the model's working memory: when the
 * model runs (graft_model_forward(), graft_model_fit(), ...), an activation
 * (relu, clip, sigmoid, tanh) that is the only reader of a conv2d, batch
 * norm, add or dense layer may write its output over that layer's, and the
 * gradients passed between layers live in buffers the model reuses, not in
 * the layers' input-gradient tensors. So after a model call, read only the
 * model's output; to inspect a layer of a model, run it with
 * graft_layer_forward() and graft_layer_backward(). */
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
/* Max pooling; padding cells never win, and a NaN in a window does (the
 * first in row-major order), so NaN propagates as in PyTorch. */
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
/* out = max(0, x). Every activation below gives NaN for a NaN input, as
 * PyTorch's do (relu(NaN) = NaN, not 0): a NaN is never hidden. */
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
 * other dimensions must agree. graft_layer_concat_axis() joins along
 * another axis. */
GRAFT_API int graft_layer_concat(graft_ctx *ctx, graft_layer **out);
/* Softmax along axis 1 of (N, C, ...), computed stably (max subtracted). */
GRAFT_API int graft_layer_softmax(graft_ctx *ctx, graft_layer **out);
/* Softmax along any axis but the batch, computed stably (max subtracted).
 * axis is counted as ONNX counts it, on the whole tensor with the batch as
 * axis 0: 1 <= axis < rank, or negative from the end (-1: the last axis,
 * what attention needs on (N, L, L) scores). An axis the input's rank does
 * not have fails graft_layer_build() with GRAFT_E_SHAPE. axis 0, or outside
 * -(GRAFT_MAX_DIMS - 1) to GRAFT_MAX_DIMS - 1, is GRAFT_E_INVALID_ARG.
 * graft_layer_softmax() is axis 1. Since 1.2. */
GRAFT_API int graft_layer_softmax_axis(graft_ctx *ctx, int axis, graft_layer **out);
/* Layer normalisation (PyTorch's nn.LayerNorm, ONNX LayerNormalization):
 * each group of the last `axes` axes of the input (N, d1, ..., dr) is
 * normalised on its own, with its mean and biased variance:
 *   out = (x - mean) / sqrt(var + epsilon) * weight + bias
 * weight (init 1) and bias (init 0) have the normalised shape (the last
 * `axes` sizes) and exist when affine is 1; with affine 0, out is the
 * normalised x. axes 1 to GRAFT_MAX_DIMS - 1 (more than the input's
 * non-batch axes fails graft_layer_build() with GRAFT_E_SHAPE); epsilon
 * finite and > 0 (PyTorch's default 1e-5); affine 0 or 1. Since 1.2. */
GRAFT_API int graft_layer_layer_norm(graft_ctx *ctx, int axes, float epsilon, int affine,
                                     graft_layer **out);
/* Batched matrix product of two inputs (ONNX MatMul, torch.matmul), as in
 * attention's Q K^T and attn V: A (N, ..., M, K) times B (N, ..., K, P),
 * one rank >= 3, gives (N, ..., M, P). The axes between the batch and the
 * last two broadcast: their sizes agree or one is 1 (that matrix then
 * serves every index of the other); the output takes the larger size.
 * Since 1.2. */
GRAFT_API int graft_layer_matmul(graft_ctx *ctx, graft_layer **out);
/* Fully connected over the last axis (torch.nn.Linear): the input
 * (N, d1, ..., F) gives (N, d1, ..., units), every position of the leading
 * axes multiplied alike: out = in * weight^T + bias, weight (units, F), bias
 * (units). The layer is of kind "dense" (graft_layer_kind()), saved with
 * this mode; on (N, F) input it computes what graft_layer_dense() does.
 * units >= 1; bias 1 or 0. Since 1.2. */
GRAFT_API int graft_layer_linear(graft_ctx *ctx, int units, int bias, graft_layer **out);


/* Elementwise product of two inputs with broadcasting: both have the same
 * rank (>= 2) and batch size, and on every other axis their sizes are equal
 * or one of them is 1; the output takes the larger size, and a size-1 axis
 * repeats its values. A squeeze-and-excitation gate (N, C, 1, 1) times the
 * features (N, C, H, W) is the typical use. */
GRAFT_API int graft_layer_mul(graft_ctx *ctx, graft_layer **out);
/* out = min(max(alpha * x + beta, 0), 1), any shape. alpha and beta finite.
 * alpha 1/6 and beta 1/2 give PyTorch's hardsigmoid. */
GRAFT_API int graft_layer_hard_sigmoid(graft_ctx *ctx, float alpha, float beta,
                                       graft_layer **out);
/* SiLU (swish): out = x * sigmoid(x), computed as x / (1 + exp(-x)) as
 * PyTorch does; any shape. The gradient is exact: dy * s * (1 + x (1 - s)),
 * s = sigmoid(x). ONNX export writes Sigmoid and Mul, which the importer
 * folds back into one silu layer. Since 1.2. */
GRAFT_API int graft_layer_silu(graft_ctx *ctx, graft_layer **out);
/* The forms of graft_layer_gelu(), its attribute "approximate". */
#define GRAFT_GELU_ERF 0  /* exact: x * (1 + erf(x / sqrt(2))) / 2 (PyTorch's default) */
#define GRAFT_GELU_TANH 1 /* x * (1 + tanh(sqrt(2 / pi) * (x + 0.044715 x^3))) / 2
                             (PyTorch's approximate="tanh") */
/* GELU: out = x * P(x), P the standard normal CDF, in the form approximate
 * (GRAFT_GELU_*; anything else is GRAFT_E_INVALID_ARG); any shape. The
 * gradient is exact for the form. ONNX export writes the Erf form as Div by
 * sqrt(2), Erf, Add 1, Mul by x, Mul 0.5, and the tanh form as its
 * elementwise nodes (Mul, Add, Tanh), as PyTorch does (ONNX's Gelu operator
 * is opset 20); the importer folds either back into one gelu layer.
 * Since 1.2. */
GRAFT_API int graft_layer_gelu(graft_ctx *ctx, int approximate, graft_layer **out);

/* Padding modes of graft_pad2d_spec. With a row x0 x1 x2 x3 padded by 2 on
 * the left: CONSTANT gives v v x0 ..., REFLECT x2 x1 x0 ... (the edge is not
 * repeated), EDGE x0 x0 x0 ... */
#define GRAFT_PAD_CONSTANT 0
#define GRAFT_PAD_REFLECT 1
#define GRAFT_PAD_EDGE 2

/* Padding of the last two axes (H, W) of an input (N, ..., H, W) of rank >= 3:
 * the output is (N, ..., pad_top + H + pad_bottom, pad_left + W + pad_right).
 * REFLECT needs every pad smaller than the size of its axis. */
typedef struct graft_pad2d_spec {
    uint32_t struct_size;                         /* sizeof(graft_pad2d_spec) */
    int pad_top, pad_left, pad_bottom, pad_right; /* >= 0, default 0 */
    int mode;                                     /* GRAFT_PAD_*, default CONSTANT */
    float value;                                  /* CONSTANT's fill value, finite; default 0 */
} graft_pad2d_spec;
#define GRAFT_PAD2D_SPEC_INIT \
    { (uint32_t)sizeof(graft_pad2d_spec), 0, 0, 0, 0, GRAFT_PAD_CONSTANT, 0.0f }

/* Padding; see graft_pad2d_spec. */
GRAFT_API int graft_layer_pad2d(graft_ctx *ctx, const graft_pad2d_spec *spec,
                                graft_layer **out);
/* Resizing modes of graft_upsample2d_spec. */
#define GRAFT_UPSAMPLE_NEAREST 0 /* the nearest input cell */
#define GRAFT_UPSAMPLE_LINEAR 1  /* bilinear: the four cells around, weighted */
/* Where output coordinate y (of OH) falls in the input (of H), s the scale
 * (ONNX Resize's coordinate_transformation_mode). */
#define GRAFT_COORD_HALF_PIXEL 0         /* (y + 0.5) / s - 0.5 */
#define GRAFT_COORD_ALIGN_CORNERS 1      /* y * (H - 1) / (H * s - 1); 0 when H * s <= 1 */
#define GRAFT_COORD_ASYMMETRIC 2         /* y / s */
#define GRAFT_COORD_PYTORCH_HALF_PIXEL 3 /* as HALF_PIXEL, but 0 when OH == 1 */
/* How NEAREST rounds that coordinate (ONNX Resize's nearest_mode). */
#define GRAFT_NEAREST_ROUND_PREFER_FLOOR 0 /* to the nearest, halves down */
#define GRAFT_NEAREST_ROUND_PREFER_CEIL 1  /* to the nearest, halves up */
#define GRAFT_NEAREST_FLOOR 2
#define GRAFT_NEAREST_CEIL 3

/* Resizing of the last two axes (H, W) of an input (N, ..., H, W) of rank
 * >= 3, as ONNX Resize and PyTorch's interpolate do. The output is
 * (N, ..., OH, OW): OH = out_h, or floor(H * scale_h) when out_h is 0 (W
 * alike); the scale in the coordinate formulas is scale_h, or OH / H when
 * out_h is given. LINEAR clamps the coordinate to [0, H - 1]; NEAREST
 * rounds it, then clamps. PyTorch's nearest is ASYMMETRIC with FLOOR;
 * its bilinear is HALF_PIXEL (PYTORCH_HALF_PIXEL) or, with align_corners,
 * ALIGN_CORNERS. Backward is exact (each output gradient goes back to the
 * cells it read, with their weights). Since 1.1. */
typedef struct graft_upsample2d_spec {
    uint32_t struct_size; /* sizeof(graft_upsample2d_spec) */
    float scale_h, scale_w; /* finite, > 0 where out_h, out_w are 0; default 2 */
    int out_h, out_w;       /* >= 0; 0 (default): from the scale */
    int mode;               /* GRAFT_UPSAMPLE_*, default NEAREST */
    int coord;              /* GRAFT_COORD_*, default HALF_PIXEL (ONNX's default) */
    int nearest;            /* GRAFT_NEAREST_*, default ROUND_PREFER_FLOOR (ONNX's) */
} graft_upsample2d_spec;
#define GRAFT_UPSAMPLE2D_SPEC_INIT                                                        \
    { (uint32_t)sizeof(graft_upsample2d_spec), 2.0f, 2.0f, 0, 0, GRAFT_UPSAMPLE_NEAREST, \
      GRAFT_COORD_HALF_PIXEL, GRAFT_NEAREST_ROUND_PREFER_FLOOR }

/* Resizing; see graft_upsample2d_spec. Since 1.1. */
GRAFT_API int graft_layer_upsample2d(graft_ctx *ctx, const graft_upsample2d_spec *spec,
                                     graft_layer **out);
/* Transposed convolution over NCHW input (ONNX ConvTranspose, PyTorch's
 * ConvTranspose2d): the input gradient of a conv2d with the same weight.
 * Every input cell scatters into the output,
 *   out[n, g*O/groups + o, i*stride_h - pad_top + ki*dilation_h,
 *       j*stride_w - pad_left + kj*dilation_w]
 *     += in[n, g*C/groups + c, i, j] * weight[g*C/groups + c, o, ki, kj]
 * for every input channel c of group g and kernel tap (ki, kj), terms
 * falling outside the output dropped, plus bias[o] on every output cell.
 * Weight shape (in_channels, out_channels/groups, kernel_h, kernel_w), as
 * ONNX and PyTorch store it. Output size:
 *   OH = stride_h*(H-1) + output_padding_h + dilation_h*(kernel_h-1) + 1
 *        - pad_top - pad_bottom
 * (W alike), which must be >= 1 when the layer is built (GRAFT_E_SHAPE
 * otherwise). The pads remove rows and columns from the edges of the full
 * scatter (ONNX's pads: begin values, then end values); output_padding adds
 * rows at the bottom and columns at the right, which hold the bias where
 * no input reaches. Backward gives the input gradient (a conv2d of the
 * output gradient), the weight gradient and the bias gradient. Since 1.2. */
typedef struct graft_conv_transpose2d_spec {
    uint32_t struct_size; /* sizeof(graft_conv_transpose2d_spec) */
    int out_channels;     /* >= 1, divisible by groups */
    int kernel_h, kernel_w;                       /* >= 1 */
    int stride_h, stride_w;                       /* >= 1, default 1 */
    int pad_top, pad_left, pad_bottom, pad_right; /* >= 0, default 0 */
    int output_padding_h, output_padding_w; /* >= 0, default 0; each smaller than its
                                               stride or its dilation (ONNX's and
                                               PyTorch's rule) */
    int dilation_h, dilation_w;                   /* >= 1, default 1 */
    int groups;           /* >= 1, divides in and out channels; default 1 */
    int bias;             /* 1 (default): add a learned bias; 0: no bias */
} graft_conv_transpose2d_spec;
#define GRAFT_CONV_TRANSPOSE2D_SPEC_INIT \
    { (uint32_t)sizeof(graft_conv_transpose2d_spec), 0, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1 }

/* Transposed convolution; see graft_conv_transpose2d_spec. Errors as for
 * the constructors above (an output_padding not smaller than its stride
 * or dilation is GRAFT_E_INVALID_ARG). Since 1.2. */
GRAFT_API int graft_layer_conv_transpose2d(graft_ctx *ctx,
                                           const graft_conv_transpose2d_spec *spec,
                                           graft_layer **out);
/* (N, ...) -> (N, dims[0], ..., dims[ndim-1]): the same elements in the same
 * row-major order. ndim 1 to GRAFT_MAX_DIMS - 1, sizes >= 1; their product
 * must equal the input's per-sample element count (checked when built). */
GRAFT_API int graft_layer_reshape(graft_ctx *ctx, int ndim, const int64_t *dims,
                                  graft_layer **out);
/* Axes of the three constructors below count the batch as axis 0, as
 * graft_layer_concat's "axis 1" does and as ONNX and PyTorch count them for
 * a batched tensor: axis 1 is the first axis after the batch. A negative
 * axis counts from the end (-1 is the last axis), resolved when the layer is
 * built. The batch axis itself is never moved, sliced nor joined. */

/* Permutation of the axes: (N, d_1, ..., d_{r-1}) -> output with
 * dims[k] = input dims[perm[k]], out[i_0, ..., i_{r-1}] = in[j] where
 * j[perm[k]] = i_k (torch.permute(x, perm), ONNX Transpose). ndim is the
 * input's rank with the batch axis, 2 to GRAFT_MAX_DIMS; perm holds each of
 * 0 to ndim - 1 once (copied) and perm[0] must be 0. The input must have
 * rank ndim (checked when built). Backward applies the inverse permutation
 * to the output gradient. Errors: GRAFT_E_INVALID_ARG (NULL, a rank out of
 * range, perm not a permutation or moving the batch axis), GRAFT_E_NOMEM.
 * Since 1.2. */
GRAFT_API int graft_layer_transpose(graft_ctx *ctx, int ndim, const int *perm,
                                    graft_layer **out);
/* A range of one axis (ONNX Slice on one axis; x[:, start:end:step] on axis
 * 1 in Python): with n the input's size on axis, a negative start or end
 * has n added; then for step > 0 both are clamped to [0, n], for step < 0
 * start to [0, n - 1] and end to [-1, n - 1], and the output holds entries
 * start, start + step, ... before end. axis >= 1 or < 0 (from the end); step
 * != 0. Values beyond the int range are clamped to it (which changes no
 * result: axes of 2^31 - 1 entries or more are refused when built). A range
 * that selects nothing is refused when built (GRAFT_E_SHAPE). Backward puts
 * the output gradient at the entries read and zero elsewhere. Errors:
 * GRAFT_E_INVALID_ARG (NULL, axis 0 or beyond GRAFT_MAX_DIMS - 1, step 0),
 * GRAFT_E_NOMEM. Since 1.2. */
GRAFT_API int graft_layer_slice(graft_ctx *ctx, int axis, int64_t start, int64_t end,
                                int64_t step, graft_layer **out);
/* graft_layer_concat() along another axis: the inputs agree on every
 * dimension but axis (>= 1, or < 0 from the end), along which the output
 * holds them one after the other. graft_layer_concat() is
 * graft_layer_concat_axis() with axis 1. Model files keep the axis; files
 * written before 1.2 hold concat layers of axis 1. Errors:
 * GRAFT_E_INVALID_ARG (NULL, axis 0 or beyond GRAFT_MAX_DIMS - 1),
 * GRAFT_E_NOMEM. Since 1.2. */
GRAFT_API int graft_layer_concat_axis(graft_ctx *ctx, int axis, graft_layer **out);

/* out = x * scale + shift, where the buffers "scale" (init 1) and "shift"
 * (init 0) have the per-sample shape (ndim, dims) and broadcast over the
 * input (N, ...): ndim is the input's rank less one, and each size is 1 or
 * the input's size on that axis. (C, 1, 1) gives a per-channel affine map of
 * (N, C, H, W). The buffers are constants: they are not trained. ndim 1 to
 * GRAFT_MAX_DIMS - 1, sizes >= 1. */
GRAFT_API int graft_layer_scale_shift(graft_ctx *ctx, int ndim, const int64_t *dims,
                                      graft_layer **out);

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
 * read, not kept. The batch (the first dimension) is at most 2^31 - 1
 * samples per call. out: receives the output, borrowed (see graft_layer).
 * In training mode, batch norm updates its running statistics.
 * Errors: GRAFT_E_INVALID_ARG, GRAFT_E_SHAPE (shapes that do not match the
 * build, or a larger batch), GRAFT_E_NOMEM. Since 1.0. */
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

/* Options of graft_loss_cross_entropy() and graft_loss_bce_with_logits().
 * Initialise with GRAFT_LOSS_OPTS_INIT; a NULL options pointer means the
 * defaults. The arrays are read during the call only. Since 1.3. */
typedef struct graft_loss_opts {
    uint32_t struct_size;         /* sizeof(graft_loss_opts) */
    const float *class_weights;   /* cross-entropy: NULL (default, all 1) or C weights,
                                     finite and >= 0 (PyTorch's weight=) */
    const float *sample_weights;  /* NULL (default, all 1) or N weights, finite, >= 0 */
    float label_smoothing;        /* cross-entropy: in [0, 1]; default 0 */
    const float *pos_weight;      /* binary cross-entropy: NULL (default, all 1) or C
                                     weights of the positive term, finite, >= 0 */
} graft_loss_opts;
#define GRAFT_LOSS_OPTS_INIT { (uint32_t)sizeof(graft_loss_opts), NULL, NULL, 0.0f, NULL }

/* Softmax cross-entropy with PyTorch's CrossEntropyLoss(weight=w,
 * label_smoothing=e) semantics (mean reduction), from logits (N, C) and
 * labels[N] in [0, C), extended by per-sample weights s (all 1 when
 * sample_weights is NULL):
 *   a_n  = (1 - e) w[y_n] (-log p[n, y_n]) + (e / C) sum_j w_j (-log p[n, j])
 *   loss = sum_n s_n a_n / sum_n s_n w[y_n]
 * with p = softmax(logits[n]), computed stably. So it is the weighted mean
 * PyTorch computes with weight= (the smoothing term shares the
 * denominator, as in PyTorch), and with s the mean weighted by s_n w[y_n].
 * A batch whose weights s_n w[y_n] sum to 0 has loss 0 and gradient 0
 * (PyTorch gives NaN). With NULL opts it equals
 * graft_loss_softmax_cross_entropy(). grad (the logits' shape, may be NULL)
 * receives d(loss)/d(logits); it may be logits itself.
 * Errors: GRAFT_E_INVALID_ARG (NULL logits, labels or loss; label_smoothing
 * outside [0, 1]; pos_weight set), GRAFT_E_VERSION (opts->struct_size),
 * GRAFT_E_SHAPE, GRAFT_E_RANGE (a label outside [0, C), a weight negative or
 * not finite; the message names it), GRAFT_E_NUMERIC (a logit that is not
 * finite). Nothing is written on failure. Since 1.3. */
GRAFT_API int graft_loss_cross_entropy(const graft_tensor *logits, const int32_t *labels,
                                       const graft_loss_opts *opts, float *loss,
                                       graft_tensor *grad);

/* Sigmoid binary cross-entropy with PyTorch's BCEWithLogitsLoss(pos_weight=P)
 * semantics (mean reduction): for logits x and targets t of one shape (N,
 * C), targets in [0, 1] (0/1 for multi-label, fractions allowed),
 *   l[n, j] = -(P_j t log sigmoid(x) + (1 - t) log(1 - sigmoid(x)))
 *   loss    = sum_n s_n sum_j l[n, j] / (C sum_n s_n)
 * computed without overflow for any finite logit; s are the sample weights
 * (all 1 when NULL, giving PyTorch's mean over all N * C elements). grad
 * (may be NULL, may be logits) receives d(loss)/d(logits) =
 * s_n (sigmoid(x) (P_j t + 1 - t) - P_j t) / (C sum s).
 * Errors: GRAFT_E_INVALID_ARG (NULL logits, targets or loss;
 * class_weights or label_smoothing set), GRAFT_E_VERSION, GRAFT_E_SHAPE,
 * GRAFT_E_RANGE (a target outside [0, 1], a bad weight), GRAFT_E_NUMERIC (a
 * logit that is not finite). Nothing is written on failure. Since 1.3. */
GRAFT_API int graft_loss_bce_with_logits(const graft_tensor *logits, const graft_tensor *targets,
                                         const graft_loss_opts *opts, float *loss,
                                         graft_tensor *grad);

/* Mean absolute error (PyTorch's L1Loss): mean over all elements of
 * |pred - target|. When grad is not NULL (pred's shape) it receives
 * sign(pred - target) / numel (0 where they are equal).
 * Errors: GRAFT_E_INVALID_ARG, GRAFT_E_SHAPE (shapes differ). Since 1.3. */
GRAFT_API int graft_loss_l1(const graft_tensor *pred, const graft_tensor *target, float *loss,
                            graft_tensor *grad);

/* ======================================================================== */
/* Models                                                                   */
/* ======================================================================== */

/* A model is a graph of named layers without cycles: each layer reads the
 * model input or the outputs of layers added before it, so residual and
 * concatenating networks work; a plain stack is the common case. The last
 * layer added is the model's output (its logits, for classifiers). Shapes are
 * inferred and checked as layers are added. A model also carries its class
 * names and how many training epochs it has seen. One thread at a time (the
 * context's rule), except predictions and clones, which many threads may run
 * at once (since 1.3; see "Threads" before graft_model_forward()). */
typedef struct graft_model graft_model;

/* The model input's name, usable in graft_model_add()'s input lists. */
#define GRAFT_MODEL_INPUT "input"

/* Creates an empty model whose input has the per-sample shape (ndim, dims),
 * e.g. {1, 28, 28} for 28x28 grey images (the batch dimension is not given).
 * seed drives the initialisation of every layer added (layer i is built with
 * a seed derived from seed and i), so the same calls give the same weights.
 * out: receives the model; caller owns it, free with graft_model_free().
 * Errors: GRAFT_E_INVALID_ARG, GRAFT_E_SHAPE (ndim 1 to GRAFT_MAX_DIMS - 1,
 * sizes >= 1), GRAFT_E_NOMEM. Since 1.0. */
GRAFT_API int graft_model_create(graft_ctx *ctx, int ndim, const int64_t *dims, uint64_t seed,
                                 graft_model **out);

/* Frees a model and its layers. Accepts NULL. Since 1.0.
 * Since 1.3: a model whose weights clones made with GRAFT_CLONE_SHARE_WEIGHTS
 * still read is released (the handle must not be used again) but its memory
 * stays until the last of those clones is freed: models and their clones may
 * be freed in any order (all before their context). Not concurrent with any
 * other call on the model. */
GRAFT_API void graft_model_free(graft_model *model);

/* Flags of graft_model_clone(). Since 1.3. */
#define GRAFT_CLONE_SHARE_WEIGHTS 1 /* the clone reads the original's parameter
                                       tensors instead of copying them */

/* Makes *out a second model with the same layers (kinds, attributes, names,
 * inputs), parameters and batch-norm statistics, trainable flags and
 * learning-rate multipliers, class names, epochs done, options
 * (graft_model_set_option()) and unfreeze schedule, in the same context. Its
 * predictions are bit for bit the original's. What layers cached from
 * earlier calls is not copied, and random generators (dropout) restart from
 * their seeds, as after graft_model_load().
 * flags 0: the parameters are copied: the clone is a model of its own, and
 * training or changing either leaves the other as it was.
 * GRAFT_CLONE_SHARE_WEIGHTS: the clone's layers read the original's parameter
 * tensors (no copy of the weights; each clone still has its own activations).
 * Such a clone runs inference only: graft_model_fit() and anything else that
 * would run it in training mode fail with GRAFT_E_STATE (training it would
 * change the original). Weights changed in place on either side (fitting
 * the original, graft_model_load_weights(), writing a parameter's data) are
 * seen by both. The original's memory stays until its last sharing clone is
 * freed (see graft_model_free()); cloning a sharing clone shares the same
 * tensors. While sharing clones exist, the original keeps its layers:
 * graft_model_cut() and graft_model_replace_head() on it fail with
 * GRAFT_E_STATE (free the clones first).
 * Threads: may run while other threads clone the same model or predict with
 * it (see "Threads" below); the clone is then used like any model (one
 * thread at a time, or concurrent predictions). Calls that change the
 * original must not run meanwhile. The context's allocator must be
 * thread-safe when clones are made or used from several threads (the
 * default one is).
 * *out: caller owns the clone; free with graft_model_free().
 * Errors: GRAFT_E_INVALID_ARG (NULL, unknown flags), GRAFT_E_NOMEM. Since 1.3. */
GRAFT_API int graft_model_clone(const graft_model *model, int flags, graft_model **out);

/* Adds layer under name, reading the outputs of the n_inputs layers named in
 * inputs (GRAFT_MODEL_INPUT for the model input). With n_inputs 0 (inputs
 * may be NULL) the layer reads the previous layer's output, or the model
 * input for the first layer. The layer is built for those shapes (its
 * parameters initialised, see graft_model_create()) and becomes the output.
 * name: 1 to 63 characters from [A-Za-z0-9_.:/-], unique in the model.
 * Ownership: the layer is consumed. On success the model owns it; on
 * failure it is freed (but a layer that already belongs to a model is
 * refused and stays with that model). A NULL layer is GRAFT_E_INVALID_ARG,
 * so the result of a failed constructor can be passed straight in.
 * Errors: GRAFT_E_INVALID_ARG (NULL, a bad or duplicate name, a layer from
 * another context or already in a model), GRAFT_E_NOT_FOUND (an input name
 * that is not an earlier layer), GRAFT_E_SHAPE (the layer cannot take those
 * shapes; the message names the layer and the shapes), GRAFT_E_NOMEM.
 * Since 1.0. */
GRAFT_API int graft_model_add(graft_model *model, const char *name, graft_layer *layer,
                              int n_inputs, const char *const *inputs);

/* Number of layers, or 0 for NULL. Since 1.0. */
GRAFT_API int graft_model_layer_count(const graft_model *model);

/* Index of the layer called name, or GRAFT_E_NOT_FOUND (negative) when there
 * is none, GRAFT_E_INVALID_ARG for NULL arguments. Since 1.0. */
GRAFT_API int graft_model_find_layer(const graft_model *model, const char *name);

/* Layer i, borrowed (owned by the model; valid until the model is freed or
 * the layer removed). NULL for a bad index. Reading its parameters with
 * graft_layer_param() is the way to inspect or set weights. Since 1.0. */
GRAFT_API graft_layer *graft_model_layer(graft_model *model, int i);

/* Layer i's name; its number of inputs; the name of its input k (which may
 * be GRAFT_MODEL_INPUT). Strings are borrowed, valid as long as the layer.
 * NULL / 0 for bad indices. Since 1.0. */
GRAFT_API const char *graft_model_layer_name(const graft_model *model, int i);
GRAFT_API int graft_model_layer_input_count(const graft_model *model, int i);
GRAFT_API const char *graft_model_layer_input_name(const graft_model *model, int i, int k);

/* Layer i's per-sample output shape: *ndim receives the number of
 * dimensions without the batch, dims (room for GRAFT_MAX_DIMS) the sizes.
 * i = -1 gives the model input's shape. Errors: GRAFT_E_INVALID_ARG,
 * GRAFT_E_RANGE. Since 1.0. */
GRAFT_API int graft_model_layer_output_shape(const graft_model *model, int i, int *ndim,
                                             int64_t *dims);

/* Number of scalar parameters of layer i (buffers such as batch norm's
 * running statistics excluded); -1 for a bad index. Since 1.0. */
GRAFT_API int64_t graft_model_layer_param_count(const graft_model *model, int i);

/* 1 when layer i's parameters are trained, 0 when it is frozen; -1 for a
 * bad index. New layers are trainable. Since 1.0. */
GRAFT_API int graft_model_layer_trainable(const graft_model *model, int i);

/* Total scalar parameters of the model; with trainable_only 1, only those
 * of trainable layers. 0 for NULL. Since 1.0. */
GRAFT_API int64_t graft_model_param_count(const graft_model *model, int trainable_only);

/* Forward floating-point operations for one sample (a multiply-add counts
 * as 2), the usual measure of a network's cost. 0 for NULL. Since 1.0. */
GRAFT_API int64_t graft_model_flops(const graft_model *model);

/* Writes a printable table of the model, one row per layer (name, kind,
 * inputs, output shape, parameters, trainable), then the totals, like
 * Keras's model.summary(). Writes at most size bytes including the NUL
 * (buf may be NULL with size 0); *needed, if not NULL, receives the full
 * length without the NUL, so a caller can size the buffer and call again.
 * Errors: GRAFT_E_INVALID_ARG. Since 1.0. */
GRAFT_API int graft_model_summary(const graft_model *model, char *buf, size_t size,
                                  size_t *needed);

/* Sets the class names (n_classes strings, copied), which travel with the
 * model in its files. n_classes must equal the output's size per sample.
 * Errors: GRAFT_E_INVALID_ARG (NULL, empty or over 255 bytes), GRAFT_E_SHAPE.
 * Since 1.0. */
GRAFT_API int graft_model_set_class_names(graft_model *model, int n_classes,
                                          const char *const *names);

/* Number of classes: the output's size per sample. 0 for NULL. Since 1.0. */
GRAFT_API int graft_model_class_count(const graft_model *model);

/* Class c's name (borrowed, valid until the names change or the model is
 * freed); NULL when no names were set or c is out of range. Since 1.0. */
GRAFT_API const char *graft_model_class_name(const graft_model *model, int c);

/* Training epochs the model has completed (kept in its files and
 * checkpoints). Since 1.0. */
GRAFT_API int64_t graft_model_epochs_done(const graft_model *model);

/* Threads (since 1.3). graft_model_predict() and graft_model_predict_topk()
 * may be called on one model from many threads at once, with the same or
 * different inputs, and each result is bit for bit what the call would
 * give alone. A call runs on the model's own layers when no other
 * prediction is running on it; each further concurrent call takes an
 * executor: a second set of the layers that reads the model's weights (no
 * copy) and keeps its own activations and workspace. Executors are made as
 * needed (the first use by N threads at once makes N - 1), kept for later
 * calls, and freed with the model; so steady use allocates nothing, and
 * the memory grows by one set of activations per extra concurrent call.
 * graft_model_clone() may run alongside them, and so may the functions that
 * only read the model (graft_model_layer_count(), _layer_name(),
 * _class_name(), _summary(), _param_count(), ...).
 * Everything else that takes the model is not concurrent with a
 * prediction, nor with anything else on the model: graft_model_forward()
 * (its output lives in the model's layers), fit, evaluate, add,
 * replace_head, set_trainable and the other transfer calls, loading
 * weights, set_option, save and export, writing to a parameter's data, and
 * graft_model_free(). The rule is the caller's to keep (as SQLite's
 * "multi-thread" mode): finish the predictions, then change the model; the
 * next predictions see the change. Executors notice a changed graph (added
 * or replaced layers) and remake themselves.
 * The predicting threads may also create and free their own tensors in the
 * model's context meanwhile (graft_tensor_create(), _create_view(),
 * graft_tensor_free()); the context's settings stay as they are.
 * Errors of concurrent calls: graft_errmsg(ctx) and graft_errmsg(NULL) give
 * each thread its own call's message. The context's allocator must be
 * thread-safe (the default one is). Python releases the GIL in these calls
 * (see docs/PYTHON.md). Threads running predictions each use graft's own
 * worker threads and OpenBLAS's (GRAFT_CTX_NUM_THREADS): with many
 * predicting threads, 1 is usually best. */

/* Runs the model in inference mode on input (N, per-sample input shape...),
 * N at most 2^31 - 1 samples per call.
 * *output receives the last layer's output (N, ...): borrowed, valid until
 * the next call that runs the model or until it is freed.
 * Threads: not concurrent with any other call on the model (not even
 * predictions); use graft_model_predict() from several threads, or one
 * clone per thread.
 * Errors: GRAFT_E_INVALID_ARG, GRAFT_E_SHAPE (another shape, or a larger
 * N), GRAFT_E_NUMERIC (an input element is NaN or infinite, while
 * GRAFT_CTX_CHECK_INPUTS is 1, the default: the message names the sample
 * and the element, and nothing runs; since 1.1), GRAFT_E_NOMEM. Since 1.0. */
GRAFT_API int graft_model_forward(graft_model *model, const graft_tensor *input,
                                  const graft_tensor **output);

/* Class probabilities: softmax of the outputs, written to probs, which must
 * have shape (N, classes). Since 1.3, as the model's GRAFT_MODEL_TASK says:
 * a multi-label model gives each label's sigmoid probability (compare with
 * the label's threshold), a regression model its outputs as they are.
 * Errors: as graft_model_forward(), GRAFT_E_SHAPE for probs. Since 1.0.
 * Threads: may run concurrently on one model (since 1.3; see "Threads"
 * above), each thread with its own input and probs. */
GRAFT_API int graft_model_predict(graft_model *model, const graft_tensor *input,
                                  graft_tensor *probs);

/* The k most probable classes of each sample, best first: indices and probs
 * each hold N*k values (row n at n*k). k in [1, classes]. Errors: as
 * graft_model_predict(), GRAFT_E_RANGE for k. For a multi-label model the
 * labels are ranked by their sigmoid probabilities; a regression model is
 * GRAFT_E_STATE (since 1.3). Since 1.0. Threads: as graft_model_predict()
 * (since 1.3). */
GRAFT_API int graft_model_predict_topk(graft_model *model, const graft_tensor *input, int k,
                                       int32_t *indices, float *probs);

/* Views of graft_model_predict_tta(), combined with |; 0 is the input
 * alone. Since 1.3. */
#define GRAFT_TTA_FLIP 1  /* each view and its horizontal mirror (out(x) = in(W - 1 - x)) */
#define GRAFT_TTA_CROPS 2 /* besides the input, five crops of ch x cw pixels, ch =
                             round(0.875 * H) and cw = round(0.875 * W) (halves up, at
                             least 1): at the top-left, top-right, bottom-left and
                             bottom-right corners and the centre (left (W - cw) / 2,
                             top (H - ch) / 2, rounded down), each resized back to
                             H x W as graft_image_resize() does */

/* Test-time augmentation: class probabilities averaged over views of each
 * input image. input is a batch (N, C, H, W) as for graft_model_predict()
 * (any C: the views are spatial, made on the values as given, e.g. already
 * normalised); probs (N, classes) receives, per sample, the arithmetic
 * mean of the softmax probabilities graft_model_predict() gives for each
 * view: 1 view (views 0: exactly graft_model_predict()), 2 with
 * GRAFT_TTA_FLIP (the input and its mirror), 6 with GRAFT_TTA_CROPS (the
 * input and the five crops), 12 with both (those six and their mirrors).
 * The model runs once per view on the whole batch, so it costs that many
 * predictions; memory: two more tensors of input's size. Sums are in float
 * in the order above, then divided by the number of views.
 * Errors: as graft_model_predict(), GRAFT_E_INVALID_ARG (views other than
 * a combination of GRAFT_TTA_*), GRAFT_E_SHAPE (views other than 0 with an
 * input that is not 4-D). On failure probs is unspecified. Since 1.3. */
GRAFT_API int graft_model_predict_tta(graft_model *model, const graft_tensor *input, int views,
                                      graft_tensor *probs);

/* ======================================================================== */
/* Optimizers and learning-rate schedules                                   */
/* ======================================================================== */

/* An optimizer: its kind, hyperparameters, learning-rate schedule, step
 * count and per-parameter state (momentum, moments), created when it first
 * updates a model. Use one optimizer with one model. One thread at a time. */
typedef struct graft_optim graft_optim;

#define GRAFT_OPTIM_SGD 1   /* SGD with optional momentum, Nesterov, L2 weight decay */
#define GRAFT_OPTIM_ADAM 2  /* Adam (Kingma and Ba); weight decay added to the gradient */
#define GRAFT_OPTIM_ADAMW 3 /* Adam with decoupled weight decay (Loshchilov and Hutter) */

/* Hyperparameter keys for graft_optim_set/get/bounds, with defaults. Keys a
 * kind does not use are GRAFT_E_NOT_FOUND for it. Values are stored as
 * double; flags and counts are whole numbers. */
#define GRAFT_OPT_LR 1            /* base learning rate; SGD 0.01, Adam(W) 0.001; (0, 10] */
#define GRAFT_OPT_MOMENTUM 2      /* SGD: 0; [0, 1) */
#define GRAFT_OPT_NESTEROV 3      /* SGD: 0; 0 or 1 (needs momentum > 0 when stepping) */
#define GRAFT_OPT_WEIGHT_DECAY 4  /* SGD, Adam 0; AdamW 0.01; [0, 1] */
#define GRAFT_OPT_BETA1 5         /* Adam(W): 0.9; [0, 1) */
#define GRAFT_OPT_BETA2 6         /* Adam(W): 0.999; [0, 1) */
#define GRAFT_OPT_EPSILON 7       /* Adam(W): 1e-8; (0, 1] */
#define GRAFT_OPT_SCHEDULE 8      /* GRAFT_SCHEDULE_*: CONSTANT (default) */
#define GRAFT_OPT_STEP_EPOCHS 9   /* step schedule: epochs between decays; 10; [1, 1e6] */
#define GRAFT_OPT_GAMMA 10        /* step schedule: decay factor; 0.1; (0, 1] */
#define GRAFT_OPT_COSINE_EPOCHS 11 /* cosine: epochs from the peak down to MIN_LR; 0 (must be
                                      set for cosine); [0, 1e6] */
#define GRAFT_OPT_MIN_LR 12       /* cosine: the floor; 0; [0, 10] */
#define GRAFT_OPT_WARMUP_EPOCHS 13 /* warm-up length W in epochs (fractions allowed); 0;
                                      [0, 1e6] */

/* Schedules. With base = GRAFT_OPT_LR and W = GRAFT_OPT_WARMUP_EPOCHS, the
 * rate at epoch e (fractions: 2.5 is half-way through the third epoch) is
 * base * e / W while e < W (a linear warm-up from 0), and S(e - W) after,
 * where S(x) is: */
#define GRAFT_SCHEDULE_CONSTANT 0 /* S(x) = base */
#define GRAFT_SCHEDULE_STEP 1     /* S(x) = base * gamma^floor(x / STEP_EPOCHS) */
#define GRAFT_SCHEDULE_COSINE 2   /* S(x) = MIN_LR + (base - MIN_LR) *
                                            (1 + cos(pi * min(x, T) / T)) / 2,
                                     T = COSINE_EPOCHS */
/* graft_model_fit() measures e as the optimizer's own progress: the updates
 * it has made divided by the batches per epoch, so a new optimizer starts
 * its schedule at 0, also on a model trained before, and one loaded from a
 * checkpoint continues where it stopped. */

/* Creates an optimizer of the given kind with default hyperparameters.
 * Errors: GRAFT_E_INVALID_ARG (NULL ctx or out, unknown kind),
 * GRAFT_E_NOMEM. Caller owns it; free with graft_optim_free(). Since 1.0. */
GRAFT_API int graft_optim_create(graft_ctx *ctx, int kind, graft_optim **out);

/* Frees an optimizer. Accepts NULL. Since 1.0. */
GRAFT_API void graft_optim_free(graft_optim *optim);

/* Sets a hyperparameter. Errors: GRAFT_E_INVALID_ARG (NULL), GRAFT_E_NOT_FOUND
 * (a key this kind does not use), GRAFT_E_RANGE (outside the key's bounds,
 * not a whole number where one is needed, or NaN). Since 1.0. */
GRAFT_API int graft_optim_set(graft_optim *optim, int key, double value);

/* Reads a hyperparameter. Errors: GRAFT_E_INVALID_ARG, GRAFT_E_NOT_FOUND.
 * Since 1.0. */
GRAFT_API int graft_optim_get(const graft_optim *optim, int key, double *value);

/* The closed range [*lo, *hi] of key for optimizers of kind, before
 * exclusions the key's comment states ((0, 10] reports lo 0). Errors:
 * GRAFT_E_INVALID_ARG, GRAFT_E_NOT_FOUND. Thread-safe. Since 1.0. */
GRAFT_API int graft_optim_bounds(int kind, int key, double *lo, double *hi);

/* The learning rate the schedule gives at a point of training measured in
 * epochs (fractions allowed: 2.5 is half-way through the third epoch). NaN
 * for NULL, a negative or NaN epoch, or the cosine schedule without
 * GRAFT_OPT_COSINE_EPOCHS. Since 1.0. */
GRAFT_API double graft_optim_lr_at(const graft_optim *optim, double epoch);

/* Number of updates the optimizer has made; 0 for NULL. Since 1.0. */
GRAFT_API int64_t graft_optim_steps(const graft_optim *optim);

/* ======================================================================== */
/* Datasets                                                                 */
/* ======================================================================== */

/* A labelled set of samples of one shape. One thread at a time. */
typedef struct graft_dataset graft_dataset;

/* Creates a dataset over count samples held in memory: features holds
 * count * prod(dims) floats, sample after sample, each of the per-sample
 * shape (ndim, dims) (no batch dimension); labels holds count class indices
 * in [0, n_classes). With copy 1 both arrays are copied and the caller may
 * free them at once; with copy 0 they are borrowed, must stay valid and
 * unchanged until the dataset (and every split of it) is freed, and are
 * never freed by graft (fit and evaluate check borrowed features again as
 * they read them, see GRAFT_CTX_CHECK_INPUTS).
 * Errors: GRAFT_E_INVALID_ARG (NULL, count < 1, n_classes < 1, copy not 0 or
 * 1), GRAFT_E_SHAPE, GRAFT_E_RANGE (a label out of range: the message names
 * it), GRAFT_E_NUMERIC (a NaN or infinite feature), GRAFT_E_NOMEM.
 * Since 1.0. */
GRAFT_API int graft_dataset_from_memory(graft_ctx *ctx, int64_t count, int ndim,
                                        const int64_t *dims, const float *features,
                                        const int32_t *labels, int n_classes, int copy,
                                        graft_dataset **out);

/* Creates a dataset with float targets instead of class labels: for
 * multi-label classification (n_targets 0/1 values per sample, one per
 * label) and regression (n_targets values per sample). features as for
 * graft_dataset_from_memory(); targets holds count * n_targets floats,
 * sample after sample; copy as there, for both arrays. Such a dataset has
 * graft_dataset_class_count() 0, graft_dataset_target_count() n_targets,
 * and reads label -1 (graft_dataset_get(), graft_dataset_gather()); splits
 * keep the targets. graft_model_fit() and graft_model_evaluate_targets()
 * read the targets for models whose GRAFT_MODEL_TASK is multi-label or
 * regression. Errors: GRAFT_E_INVALID_ARG (NULL, count < 1, n_targets
 * outside 1 to 2^24, copy not 0 or 1), GRAFT_E_SHAPE, GRAFT_E_NUMERIC (a
 * feature or a target that is not finite: the message names the sample),
 * GRAFT_E_NOMEM. Since 1.3. */
GRAFT_API int graft_dataset_from_memory_targets(graft_ctx *ctx, int64_t count, int ndim,
                                                const int64_t *dims, const float *features,
                                                int n_targets, const float *targets, int copy,
                                                graft_dataset **out);

/* Floats of target per sample: 0 for a dataset of class labels and for
 * NULL. Since 1.3. */
GRAFT_API int graft_dataset_target_count(const graft_dataset *dataset);

/* Reads the targets of the n samples at positions[0..n) into targets (n *
 * graft_dataset_target_count() floats, sample after sample). Every position
 * is checked before anything is read. Errors: GRAFT_E_INVALID_ARG (NULL
 * dataset, NULL positions or targets with n > 0, n < 0), GRAFT_E_STATE (a
 * dataset of class labels), GRAFT_E_RANGE (a position out of range).
 * Since 1.3. */
GRAFT_API int graft_dataset_gather_targets(graft_dataset *dataset, const int64_t *positions,
                                           int n, float *targets);

/* Frees a dataset. A split keeps what it needs of its parent alive, so the
 * two may be freed in any order. Accepts NULL. Since 1.0. */
GRAFT_API void graft_dataset_free(graft_dataset *dataset);

/* Number of samples; 0 for NULL. Since 1.0. */
GRAFT_API int64_t graft_dataset_size(const graft_dataset *dataset);

/* Number of classes; 0 for NULL (and, since 1.3, for a dataset of float
 * targets: graft_dataset_target_count()). Since 1.0. */
GRAFT_API int graft_dataset_class_count(const graft_dataset *dataset);

/* The per-sample shape (without the batch dimension): *ndim receives the
 * number of dimensions, dims (room for GRAFT_MAX_DIMS) the sizes.
 * Errors: GRAFT_E_INVALID_ARG (a NULL argument). Since 1.0. */
GRAFT_API int graft_dataset_sample_shape(const graft_dataset *dataset, int *ndim,
                                         int64_t *dims);

/* Reads sample i: its features into features (prod(dims) floats; may be
 * NULL) and its label into *label (may be NULL). Errors: GRAFT_E_INVALID_ARG,
 * GRAFT_E_RANGE. Since 1.0. */
GRAFT_API int graft_dataset_get(graft_dataset *dataset, int64_t i, float *features,
                                int32_t *label);

/* Splits a dataset into a training and a validation part: a permutation
 * drawn from seed puts round(val_fraction * size) samples in *val and the
 * rest in *train, each part keeping the original order. The same dataset,
 * fraction and seed always give the same split. val_fraction in (0, 1), and
 * each part must get at least one sample. Both parts are new datasets the
 * caller frees. Errors: GRAFT_E_INVALID_ARG, GRAFT_E_RANGE, GRAFT_E_NOMEM.
 * Since 1.0. */
GRAFT_API int graft_dataset_split(graft_dataset *dataset, double val_fraction, uint64_t seed,
                                  graft_dataset **train, graft_dataset **val);

/* Splits a dataset into a training and a validation part class by class, so
 * that each class is in both parts in about the proportion val_fraction:
 *  1. n_val = round(val_fraction * size), as graft_dataset_split(); each
 *     part must get at least one sample.
 *  2. Class c, with n_c samples, gives floor(val_fraction * n_c) of them to
 *     validation, but never its last one: at most n_c - 1 (a class of one
 *     sample stays in training). The samples still missing from n_val go
 *     one at a time to the classes with the largest fractional parts of
 *     val_fraction * n_c (ties: the lower class), in passes over the
 *     classes, each within its n_c - 1.
 *  3. Which samples: one generator seeded with seed shuffles each class's
 *     samples in turn (class 0 first; Fisher-Yates from the end, as
 *     graft_dataset_split()), and the first ones after the shuffle go to
 *     validation.
 * Each part keeps the original order. The same dataset (its labels), fraction
 * and seed always give the same split. Labels are read without the
 * features (no image is decoded). Both parts are new datasets the caller
 * frees (with graft_dataset_free()); they may outlive dataset.
 * Errors: GRAFT_E_INVALID_ARG (NULL, train == val, val_fraction outside
 * (0, 1)), GRAFT_E_RANGE (an empty part; more validation samples than the
 * classes can give while each keeps one), GRAFT_E_NOMEM. Since 1.3. */
GRAFT_API int graft_dataset_split_stratified(graft_dataset *dataset, double val_fraction,
                                             uint64_t seed, graft_dataset **train,
                                             graft_dataset **val);

/* A dataset of at most k samples of each class of dataset: one generator
 * seeded with seed shuffles each class's samples in turn (as
 * graft_dataset_split_stratified() does) and the first k of each class are
 * kept; a class with k or fewer samples gives all of them (compare
 * graft_dataset_size() with k times the classes to tell). The result keeps
 * the original order. The same dataset, k and seed always give the same
 * subset. *out is a new dataset the caller frees (with graft_dataset_free());
 * it may outlive dataset. Errors: GRAFT_E_INVALID_ARG (NULL, k < 1),
 * GRAFT_E_RANGE, GRAFT_E_NOMEM. Since 1.3. */
GRAFT_API int graft_dataset_subset_per_class(graft_dataset *dataset, int64_t k, uint64_t seed,
                                             graft_dataset **out);

/* ======================================================================== */
/* Datasets from files: IDX, CSV, folders of images                        */
/* ======================================================================== */

/* Files may be plain or gzip-compressed: graft looks at the first two bytes
 * (0x1f 0x8b) and decompresses as it reads, never more than the file's own
 * header announces plus one byte to check that nothing follows. */

/* Creates a dataset from a pair of IDX files, the format of MNIST and
 * Fashion-MNIST (train-images-idx3-ubyte, train-labels-idx1-ubyte and their
 * .gz forms).
 *
 * An IDX file is a 4-byte magic 0x00 0x00 TYPE RANK, then RANK big-endian
 * uint32 sizes, then the values, row-major. The images file must be TYPE
 * 0x08 (unsigned bytes) of RANK 3 (count, height, width); the labels file
 * TYPE 0x08 of RANK 1 (count), with the same count. Sample i is the float
 * tensor (1, height, width) whose element is pixel * scale, its label the
 * i-th label byte.
 *
 * images_path, labels_path: the files (borrowed; read during the call only).
 * scale: finite and > 0, with 255 * scale finite too (at most FLT_MAX / 255),
 *   e.g. 1.0f / 255 for values in [0, 1].
 * n_classes: 0 to use max label + 1; otherwise >= 1 and every label must be
 *   below it.
 * out: receives the dataset; caller owns it, free with graft_dataset_free().
 *   The pixels stay in memory as bytes (one per pixel) and are converted
 *   when samples are read.
 *
 * Everything is checked before use: the magic, the type, the rank, sizes of
 * zero, the size the header announces against the file's size (so a header
 * announcing absurd sizes is refused before anything is allocated; for a
 * gzip file against the most that deflate can expand its size to, 1032
 * times), truncated data, bytes after the data, a damaged gzip stream (its
 * CRC is checked), the two counts, and the labels' range. Nothing is read
 * beyond what the header declares (plus one byte to check the end), and at
 * most 2^40 values. Only regular files are read: a FIFO, pipe or device
 * (/dev/zero) is GRAFT_E_IO, and opening never waits for a FIFO's writer.
 *
 * Errors: GRAFT_E_INVALID_ARG (NULL argument, scale or n_classes out of
 * range), GRAFT_E_IO (a file cannot be opened or read; the message names it
 * and gives the system's reason), GRAFT_E_FORMAT (a file that is not as
 * described above; the message names the file and what is wrong),
 * GRAFT_E_UNSUPPORTED (IDX types other than unsigned bytes), GRAFT_E_RANGE (a
 * label >= n_classes; the message names the sample), GRAFT_E_NOMEM.
 * Thread-safety: as any call on ctx. Since 1.0. */
GRAFT_API int graft_dataset_from_idx(graft_ctx *ctx, const char *images_path,
                                     const char *labels_path, float scale, int n_classes,
                                     graft_dataset **out);

/* Where the label is in a CSV row. */
#define GRAFT_CSV_LABEL_LAST 0  /* features first, the label in the last field */
#define GRAFT_CSV_LABEL_FIRST 1 /* the label in the first field, then the features */

/* Options of graft_dataset_from_csv(). Initialise with GRAFT_CSV_OPTS_INIT
 * and change the fields you need. */
typedef struct graft_csv_opts {
    uint32_t struct_size; /* sizeof(graft_csv_opts) */
    int label_column;     /* GRAFT_CSV_LABEL_LAST (default) or GRAFT_CSV_LABEL_FIRST */
    int header_rows;      /* lines skipped at the top, unread: 0 (default) to 1000000 */
    float scale;          /* every feature is multiplied by it; finite, != 0; default 1 */
    int ndim;             /* per-sample shape: 0 (default) for (F), F the features of
                             the first row; else 1 to GRAFT_MAX_DIMS - 1 sizes in dims,
                             whose product every row must have as features */
    int64_t dims[GRAFT_MAX_DIMS - 1]; /* e.g. {1, 8, 8}; sizes >= 1 */
    int n_classes;        /* 0 (default): max label + 1; else >= 1, labels below it */
    int delimiter;        /* the field separator: ',' (default), ';', '|', ':' or '\t' */
    uint32_t reserved[4]; /* must be 0 */
    int n_targets;        /* 0 (default): one label field; 1 to 65536: that many float
                             target fields instead (multi-label 0/1 values, regression
                             values; graft_dataset_from_memory_targets()), at the end of
                             the row or, with GRAFT_CSV_LABEL_FIRST, at its start; not
                             scaled; n_classes must be 0. Since 1.3 */
} graft_csv_opts;
#define GRAFT_CSV_OPTS_INIT                                                          \
    { (uint32_t)sizeof(graft_csv_opts), GRAFT_CSV_LABEL_LAST, 0, 1.0f, 0, { 0 }, 0, ',', \
      { 0 }, 0 }

/* Creates a dataset from a text file of one sample per line: numeric fields
 * separated by opts->delimiter, one of them the label (see label_column;
 * since 1.3, opts->n_targets float targets in its place make a dataset of
 * targets, as graft_dataset_from_memory_targets() does), the
 * others the features in row-major order of the per-sample shape (the UCI
 * 8x8 digits layout: 64 values then the label, with ndim 3, dims {1, 8, 8}).
 *
 * Parsing is strict and does not depend on the C locale: a field is optional
 * blanks (spaces, and tabs unless the delimiter is a tab), a decimal number
 * ([+-]digits[.digits][(e|E)[+-]digits], with at least one digit before the
 * exponent; so no "nan", "inf", hexadecimal, quotes or empty fields), then
 * optional blanks. Lines may end with LF or CR LF; empty (or blank) lines
 * are allowed only at the end of the file. A label must be a whole number
 * in [0, 2^31 - 1) ("3" or "3.0"). Header rows are skipped unread but
 * counted in line numbers.
 * The file may be gzip-compressed. Lines are at most 16 MiB, and the file
 * at most 4 GiB (4294967296 bytes) of text once decompressed: a larger
 * plain file is refused from its size before anything is read, a gzip file
 * as soon as its text passes the ceiling ("... larger than the
 * 4294967296-byte limit of CSV files"). Only regular files are read: a
 * FIFO, pipe or device is GRAFT_E_IO, and opening never waits for a FIFO's
 * writer.
 *
 * path: the file (borrowed; read during the call). opts: may be NULL for
 * the defaults (read during the call only). out: receives the dataset;
 * caller owns it, free with graft_dataset_free(). Features are stored as
 * floats (value * scale).
 *
 * Errors: GRAFT_E_INVALID_ARG (NULL ctx, path or out, an option out of
 * range; the message names it), GRAFT_E_VERSION (opts->struct_size),
 * GRAFT_E_IO (cannot open or read; the message names the file and gives the
 * system's reason), GRAFT_E_FORMAT (the message gives "line L" and, for a
 * bad field, "column C" (1-based field number) and the field's text: a
 * field that is not a number, a label that is not a whole number >= 0, a row
 * with too few or too many fields, an empty line before the end, a file with
 * no data rows, a too long line or file, a damaged gzip stream),
 * GRAFT_E_RANGE (a label >= n_classes; the message gives the line),
 * GRAFT_E_NUMERIC (a value that overflows float after scaling; the line
 * and column), GRAFT_E_NOMEM.
 * Thread-safety: as any call on ctx. Since 1.0. */
GRAFT_API int graft_dataset_from_csv(graft_ctx *ctx, const char *path,
                                     const graft_csv_opts *opts, graft_dataset **out);

/* ---- folders of images --------------------------------------------------- */

/* How a decoded image becomes width x height (without augmentation). */
#define GRAFT_FOLDER_RESIZE_SHORTER_CROP 0 /* shorter side to shorter_side keeping the
                                              aspect ratio, then the central
                                              width x height (torchvision's
                                              Resize + CenterCrop) */
#define GRAFT_FOLDER_RESIZE_STRETCH 1      /* straight to width x height (aspect not kept) */
#define GRAFT_FOLDER_RESIZE_LETTERBOX 2    /* the whole image fitted into width x height keeping
                                              the aspect ratio, padded with the options'
                                              fill (graft_image_letterbox()). Since 1.3 */

/* How the [0, 1] pixel values are normalised, last. */
#define GRAFT_FOLDER_NORM_SCALE 0    /* value * scale (scale 1: [0, 1]; 255: [0, 255]) */
#define GRAFT_FOLDER_NORM_IMAGENET 1 /* (value - mean[c]) / std[c] with GRAFT_IMAGENET_MEAN
                                        and GRAFT_IMAGENET_STD; needs channels 3 */
#define GRAFT_FOLDER_NORM_MEAN_STD 2 /* (value - mean[c]) / std[c] with the options' values */

/* What happens to a file that has an image extension but cannot be read. */
#define GRAFT_FOLDER_ON_ERROR_FAIL 0 /* graft_dataset_from_folder() fails, naming it */
#define GRAFT_FOLDER_ON_ERROR_SKIP 1 /* it is left out and listed (graft_dataset_skipped_*) */

/* How much graft_dataset_from_folder() checks each file. */
#define GRAFT_FOLDER_VERIFY_HEADER 0 /* the format's header (fast): PNG signature and IHDR
                                        (with its CRC), JPEG markers up to the frame header */
#define GRAFT_FOLDER_VERIFY_DECODE 1 /* a full decode and transform of every image (slow;
                                        serial), so that reading batches cannot fail later
                                        on a damaged file while the files stay unchanged */

/* Options of graft_dataset_from_folder(). Initialise with
 * GRAFT_FOLDER_OPTS_INIT and change the fields you need. */
typedef struct graft_folder_opts {
    uint32_t struct_size; /* sizeof(graft_folder_opts) */
    int channels;         /* 3 (default): RGB, grey images repeated; 1: grey, colour
                             images as Y = 0.299 R + 0.587 G + 0.114 B */
    int width, height;    /* the samples' size, 1 to 65535 each (default 224 x 224) */
    int resize;           /* GRAFT_FOLDER_RESIZE_* (default SHORTER_CROP) */
    int shorter_side;     /* SHORTER_CROP: 0 (default) for round(max(width, height) *
                             256 / 224) (256 for 224), else max(width, height) to 65535 */
    int normalize;        /* GRAFT_FOLDER_NORM_* (default SCALE) */
    float scale;          /* NORM_SCALE: finite, != 0 (default 1) */
    float mean[3], std[3];/* NORM_MEAN_STD: per channel (the first `channels` are read);
                             finite, std > 0 (default 0 and 1), and such that
                             (v - mean) / std is finite in float for every pixel
                             value v in [0, 1] (so std >= about 3e-39 for mean 0):
                             settings that would make samples overflow are refused
                             when the dataset is created */
    int augment;          /* 0 (default) or 1: training augmentation, see below */
    float crop_scale_min, crop_scale_max; /* area fraction: 0 < min <= max <= 1
                                             (default 0.08, 1) */
    float crop_ratio_min, crop_ratio_max; /* width / height: 0 < min <= max, finite
                                             (default 3/4, 4/3) */
    float flip_prob;      /* [0, 1], default 0.5 */
    float brightness;     /* [0, 1], default 0 (off) */
    float contrast;       /* [0, 1], default 0 (off) */
    uint64_t seed;        /* augmentation seed, default 0 */
    int threads;          /* decoding threads, 1 to 64 (default 2) */
    int on_error;         /* GRAFT_FOLDER_ON_ERROR_* (default FAIL) */
    int verify;           /* GRAFT_FOLDER_VERIFY_* (default HEADER) */
    uint32_t reserved[4]; /* must be 0 */
    /* Since 1.3 (a 1.0 caller's smaller struct leaves them at the defaults): */
    const graft_augment_spec *augment_spec; /* read only with augment 1 (then copied):
                             NULL (default): the augmentation the fields above
                             describe, as in 1.0; else this spec's steps instead,
                             and the fields crop_scale_* to contrast must keep
                             their defaults. Its crop is 0 x 0 (then the image is
                             first resized as resize says, as without augmentation)
                             or width x height; its seed must be 0 (each sample's
                             seed is derived from the seed above). */
    float fill;           /* RESIZE_LETTERBOX: the padding's value in [0, 1] pixel
                             units (before normalisation); finite, default 0 */
} graft_folder_opts;
#define GRAFT_FOLDER_OPTS_INIT                                                              \
    { (uint32_t)sizeof(graft_folder_opts), 3, 224, 224, GRAFT_FOLDER_RESIZE_SHORTER_CROP, 0, \
      GRAFT_FOLDER_NORM_SCALE, 1.0f, { 0.0f, 0.0f, 0.0f }, { 1.0f, 1.0f, 1.0f }, 0, 0.08f,    \
      1.0f, 0.75f, 4.0f / 3.0f, 0.5f, 0.0f, 0.0f, 0, 2, GRAFT_FOLDER_ON_ERROR_FAIL,            \
      GRAFT_FOLDER_VERIFY_HEADER, { 0 }, NULL, 0.0f }

/* Creates a dataset of the images under root, laid out as torchvision's
 * ImageFolder and Keras's image_dataset_from_directory expect:
 * root/<class name>/<image file>.
 *
 * Classes are the sub-folders of root, sorted by name in byte order
 * (strcmp); class c is the c-th. A class folder with no image is still a
 * class (with no samples), so that the labels of a training folder and a
 * validation folder with the same class folders agree. Samples are the
 * files directly in each class folder whose names end in .png, .jpg or
 * .jpeg (any case), sorted by name in byte order, class after class; other
 * files, files and folders whose name starts with '.', files directly in
 * root and folders inside class folders are ignored. Symbolic links are
 * followed. The format is read from a file's first bytes, not its name.
 *
 * Only the file names are kept; each image is decoded when a sample is read
 * (graft_dataset_get(), graft_dataset_gather(), graft_model_fit()), then
 * goes through this pipeline, and is freed:
 *   1. decode (graft_image_load()), converted to opts->channels;
 *   2. without augmentation: resize as opts->resize says (graft_image_resize
 *      or graft_image_resize_shorter + graft_image_center_crop, or
 *      graft_image_letterbox);
 *      with augmentation: graft_image_augment() with a random resized crop
 *      to width x height (crop_scale_*, crop_ratio_*), a horizontal flip
 *      with flip_prob, brightness and contrast jitter; or, with
 *      opts->augment_spec (since 1.3), that spec's steps, after the resize
 *      of the line above when its crop is 0 x 0;
 *   3. normalise as opts->normalize says.
 * A sample is the tensor (channels, height, width), planar RGB or grey.
 * Memory: the dataset holds the names; reading holds at most one decoded
 * image per decoding thread, whatever the number of files.
 *
 * Augmentation is seeded per sample: the image of source sample i (its
 * place in the sorted list of the whole folder, whichever split view reads
 * it) in epoch e is augmented with the seed
 *   s1 = first output of graftRng seeded with seed ^ (0x9E3779B97F4A7C15 * (e + 1)),
 *   s = first output of graftRng seeded with s1 ^ (0xC2B2AE3D27D4EB4F * (i + 1))
 * (graftRng: SplitMix64 seeding xoshiro256**), so the same seed, epoch and
 * sample give the same image, whatever the batch, the order or the thread
 * count. The epoch is set with graft_dataset_set_epoch() (0 at creation).
 * For a validation set without augmentation, create a second dataset from
 * the same root with augment 0 and split both with the same fraction and
 * seed: graft_dataset_split() depends only on the size, the fraction and
 * the seed, so the two splits hold the same files.
 *
 * Files are checked as opts->verify says. A file that fails the check is,
 * as opts->on_error says, refused (the call fails, naming the file and the
 * reason) or left out and listed with its reason (see
 * graft_dataset_skipped_count()); no file is ever given another file's
 * label. A file that passes the header check but is damaged further on
 * makes the read of that sample fail, naming the file.
 *
 * ctx: the context. root: the folder (borrowed; read during the call).
 * opts: may be NULL for the defaults (read during the call only). out:
 * receives the dataset; caller owns it, free with graft_dataset_free()
 * (which also stops its threads).
 *
 * Errors: GRAFT_E_INVALID_ARG (NULL ctx, root or out, an option out of
 * range: the message names it), GRAFT_E_VERSION (opts->struct_size),
 * GRAFT_E_IO (root or a class folder cannot be listed; with ON_ERROR_FAIL
 * also an image that cannot be opened or read), GRAFT_E_FORMAT (with
 * ON_ERROR_FAIL, a damaged image: the message names it),
 * GRAFT_E_UNSUPPORTED (with ON_ERROR_FAIL, an image in a format graft does
 * not decode), GRAFT_E_NOT_FOUND (no class folder, or no image in any),
 * GRAFT_E_NOMEM (also when a thread cannot be started).
 * Thread-safety: as any call on ctx; the dataset's own threads use their
 * own contexts, whose allocations go to ctx's allocator under a lock.
 * Since 1.0. */
GRAFT_API int graft_dataset_from_folder(graft_ctx *ctx, const char *root,
                                        const graft_folder_opts *opts, graft_dataset **out);

/* Name of class c of a dataset made by graft_dataset_from_folder() (the
 * folder's name), or of a split of it. Borrowed: valid until the dataset is
 * freed. NULL for NULL, a c out of range, or other kinds of dataset.
 * Since 1.0. */
GRAFT_API const char *graft_dataset_class_name(const graft_dataset *dataset, int c);

/* Path of the file of sample i (as graft_dataset_get() counts samples) of a
 * folder dataset or a split of it: root/<class>/<file>. Borrowed, valid
 * until the dataset is freed. NULL for NULL, an i out of range, or other
 * kinds of dataset. Since 1.0. */
GRAFT_API const char *graft_dataset_sample_path(const graft_dataset *dataset, int64_t i);

/* Number of files that graft_dataset_from_folder() left out with
 * GRAFT_FOLDER_ON_ERROR_SKIP (a split reports its parent's list); 0 for
 * NULL or other kinds of dataset. Since 1.0. */
GRAFT_API int64_t graft_dataset_skipped_count(const graft_dataset *dataset);

/* Path of skipped file i (in the order the files were scanned), and why it
 * was skipped (e.g. "not a PNG or JPEG file", "PNG header: bad CRC").
 * Borrowed, valid until the dataset is freed. NULL for NULL or i outside
 * [0, graft_dataset_skipped_count()). Since 1.0. */
GRAFT_API const char *graft_dataset_skipped_path(const graft_dataset *dataset, int64_t i);
GRAFT_API const char *graft_dataset_skipped_reason(const graft_dataset *dataset, int64_t i);

/* Sets the epoch the dataset's augmentation draws for (see
 * graft_dataset_from_folder()); every view of the same source (splits)
 * shares it. Training loops call it at the start of every epoch with the
 * epoch counted over the whole training, so a resumed run augments as an
 * uninterrupted one. Datasets without augmentation ignore it.
 * Errors: GRAFT_E_INVALID_ARG (NULL, epoch < 0). Since 1.0. */
GRAFT_API int graft_dataset_set_epoch(graft_dataset *dataset, int64_t epoch);

/* 1 when reading a sample always gives the same values (no augmentation),
 * 0 when it may differ between epochs, -1 for NULL. Since 1.0. */
GRAFT_API int graft_dataset_is_deterministic(const graft_dataset *dataset);

/* Reads the n samples at positions[0..n) (as graft_dataset_get() counts
 * them) into a batch: features receives n * prod(sample shape) floats,
 * sample k at k * prod(sample shape) (may be NULL to read labels only),
 * labels n labels (may be NULL). Folder datasets decode the samples in
 * parallel on their threads; the result does not depend on the thread
 * count. Every position is checked before anything is read. On failure
 * the buffers' contents are unspecified, and the message names the
 * (lowest) failing sample and its file.
 * Errors: GRAFT_E_INVALID_ARG (NULL dataset, NULL positions with n > 0, n
 * < 0), GRAFT_E_RANGE (a position out of range), and for folder datasets
 * the errors of graft_image_load() (GRAFT_E_IO, GRAFT_E_FORMAT,
 * GRAFT_E_UNSUPPORTED) and GRAFT_E_NOMEM. Since 1.0. */
GRAFT_API int graft_dataset_gather(graft_dataset *dataset, const int64_t *positions, int n,
                                   float *features, int32_t *labels);

/* ---- datasets from a callback ------------------------------------------- */

/* Writes sample index (0 <= index < count) of a callback dataset:
 * features receives prod(dims) floats (never NULL: graft passes room of
 * its own when it reads labels only) and *label its class in
 * [0, n_classes) (never NULL; it holds -1 before the call). Return 0
 * (GRAFT_OK) when the sample is written. Any other value fails the read
 * that asked for it: a negative value is passed on as its status (return a
 * GRAFT_E_* code, e.g. GRAFT_E_IO), a positive one becomes
 * GRAFT_E_CANCELLED; the message names the sample and the value. The
 * callback runs on the thread that reads the dataset, one sample at a
 * time, and must not call graft on the dataset's context. Since 1.3. */
typedef int (*graft_sample_fn)(void *user_data, int64_t index, float *features,
                               int32_t *label);

/* Flags of graft_dataset_from_callback(). */
#define GRAFT_CALLBACK_DETERMINISTIC 1 /* the callback gives the same values for an
                                          index every time (no augmentation), so fit
                                          may cache features computed from them */

/* Creates a dataset of count samples of the per-sample shape (ndim, dims)
 * and n_classes classes that are made by fn when they are read
 * (graft_dataset_get(), graft_dataset_gather(), graft_model_fit(), ...):
 * data that lives in the caller's own structures, is generated, or is
 * decoded by the caller. Nothing is called during creation. Every read
 * checks the label fn gives (GRAFT_E_RANGE naming the sample when it is
 * outside [0, n_classes)); the features are not known to be finite, so
 * fit and evaluate check each batch while GRAFT_CTX_CHECK_INPUTS is 1.
 * Without GRAFT_CALLBACK_DETERMINISTIC in flags the dataset reports
 * itself as not deterministic (graft_dataset_is_deterministic() 0) and
 * fit never caches features computed from it. Splits share fn and
 * user_data. user_data is passed to fn as it is: it must stay valid until
 * the dataset and every split of it are freed.
 * out: receives the dataset; caller owns it, free with
 * graft_dataset_free().
 * Errors: GRAFT_E_INVALID_ARG (NULL ctx, dims, fn or out, count < 1,
 * n_classes < 1, unknown flags), GRAFT_E_SHAPE (ndim outside 1 to
 * GRAFT_MAX_DIMS - 1, a size < 1, more than 2^40 values in all),
 * GRAFT_E_NOMEM. Since 1.3. */
GRAFT_API int graft_dataset_from_callback(graft_ctx *ctx, int64_t count, int ndim,
                                          const int64_t *dims, int n_classes, int flags,
                                          graft_sample_fn fn, void *user_data,
                                          graft_dataset **out);

/* ---- datasets from a sprite sheet ------------------------------------------ */

/* How graft_dataset_from_grid() labels its cells. */
#define GRAFT_GRID_LABEL_ROW 0    /* the cell's row: each row of the sheet is a class */
#define GRAFT_GRID_LABEL_COLUMN 1 /* the cell's column: each column is a class */
#define GRAFT_GRID_LABEL_ARRAY 2  /* labels[k] for cell k (row-major order) */

/* Options of graft_dataset_from_grid(). Initialise with
 * GRAFT_GRID_OPTS_INIT and set at least cell_width and cell_height. */
typedef struct graft_grid_opts {
    uint32_t struct_size; /* sizeof(graft_grid_opts) */
    int cell_width, cell_height; /* a cell's size in pixels, >= 1 (default 0:
                                    must be set) */
    int margin;           /* pixels before the first row and column, >= 0 (default 0) */
    int spacing;          /* pixels between two cells, across and down, >= 0 (default 0) */
    int rows, columns;    /* 0 (default): as many whole cells as fit; else that
                             many, which must fit */
    int64_t count;        /* 0 (default): every cell; else the first count cells
                             in row-major order (a last row left partly empty) */
    int label_by;         /* GRAFT_GRID_LABEL_* (default ROW) */
    const int32_t *labels;/* LABEL_ARRAY: one label per sample (read during the
                             call only); else must be NULL */
    int n_classes;        /* 0 (default): the largest label + 1; else >= 1 and
                             every label below it */
    int channels;         /* 0 (default): the file's (1 for grey images, 3
                             otherwise); 1 or 3 convert as graft_image_load() */
    int normalize;        /* GRAFT_FOLDER_NORM_* (default SCALE) */
    float scale;          /* NORM_SCALE: finite, != 0 (default 1) */
    float mean[3], std[3];/* NORM_MEAN_STD: per channel; finite, std > 0 */
    uint32_t reserved[4]; /* must be 0 */
} graft_grid_opts;
#define GRAFT_GRID_OPTS_INIT                                                          \
    { (uint32_t)sizeof(graft_grid_opts), 0, 0, 0, 0, 0, 0, 0, GRAFT_GRID_LABEL_ROW,    \
      NULL, 0, 0, GRAFT_FOLDER_NORM_SCALE, 1.0f, { 0.0f, 0.0f, 0.0f },                 \
      { 1.0f, 1.0f, 1.0f }, { 0 } }

/* Creates a dataset from one image holding the samples as a grid of equal
 * cells (a sprite sheet, a digits sheet, a contact sheet): cell (r, c) is
 * the cell_width x cell_height rectangle whose top-left pixel is
 * (margin + c * (cell_width + spacing), margin + r * (cell_height +
 * spacing)). Sample k is cell (k / columns, k % columns), for k below
 * count (or rows * columns), as the tensor (channels, cell_height,
 * cell_width) of its [0, 1] pixel values normalised as opts->normalize
 * says (as graft_dataset_from_folder() does); its label is its row, its
 * column or labels[k] (opts->label_by). The image is decoded once, with
 * graft_image_load(); the samples are kept as floats (the dataset owns
 * them) and are checked finite, so fit does not check them again.
 * Errors: GRAFT_E_INVALID_ARG (NULL ctx, path, opts or out, an option out
 * of range: the message names it), GRAFT_E_VERSION (opts->struct_size),
 * GRAFT_E_RANGE (no whole cell fits, rows or columns more than fit, count
 * more than the cells, a label outside [0, n_classes): the message gives
 * the sizes or the sample), GRAFT_E_NUMERIC (a normalisation whose result
 * is not finite), GRAFT_E_NOMEM, and graft_image_load()'s errors (GRAFT_E_IO,
 * GRAFT_E_FORMAT, GRAFT_E_UNSUPPORTED). Since 1.3. */
GRAFT_API int graft_dataset_from_grid(graft_ctx *ctx, const char *path,
                                      const graft_grid_opts *opts, graft_dataset **out);
/* ---- input preprocessing that travels with a model (since 1.3) ----------- */

/* How an image becomes a model's input: the decoding, resizing and
 * normalisation steps of graft_dataset_from_folder() without augmentation
 * (see graft_folder_opts for each field's meaning and rules). A model can
 * carry one (graft_model_set_preprocess()); it is saved in model files and
 * checkpoints (docs/FORMAT.md, section PREP), exported to and imported from
 * ONNX metadata (docs/ONNX.md), and applied by graft_model_predict_image().
 * Initialise with GRAFT_PREPROCESS_INIT and change the fields you need. */
typedef struct graft_preprocess {
    uint32_t struct_size; /* sizeof(graft_preprocess) */
    int channels;         /* 3 (default): RGB, grey images repeated; 1: grey (BT.601 luma) */
    int width, height;    /* the input's size, 1 to 65535 each (default 224 x 224) */
    int resize;           /* GRAFT_FOLDER_RESIZE_* (default SHORTER_CROP) */
    int shorter_side;     /* SHORTER_CROP: 0 (default) for round(max(width, height) *
                             256 / 224), else max(width, height) to 65535 */
    int normalize;        /* GRAFT_FOLDER_NORM_* (default SCALE) */
    float scale;          /* NORM_SCALE: finite, != 0 (default 1: [0, 1]; 255: [0, 255]) */
    float mean[3], std[3];/* NORM_MEAN_STD: per channel, the first `channels` read;
                             rules as graft_folder_opts's (default 0 and 1) */
    uint32_t reserved[4]; /* must be 0 */
} graft_preprocess;
#define GRAFT_PREPROCESS_INIT                                                             \
    { (uint32_t)sizeof(graft_preprocess), 3, 224, 224, GRAFT_FOLDER_RESIZE_SHORTER_CROP, 0, \
      GRAFT_FOLDER_NORM_SCALE, 1.0f, { 0.0f, 0.0f, 0.0f }, { 1.0f, 1.0f, 1.0f }, { 0 } }

/* Sets the preprocessing images go through before they reach the model
 * (copied), or removes it when preprocess is NULL. The model's input must be
 * (channels, height, width) as preprocess gives them. Fields a NORM_* mode
 * does not read are stored as given, but whatever the mode scale must be
 * finite and != 0 and all three means and stds finite with std > 0 (the
 * overflow rule of NORM_MEAN_STD applies to the first `channels` under that
 * mode only). Nothing changes on failure. Thread-safety: as any call on the
 * model.
 * Errors: GRAFT_E_INVALID_ARG (NULL model, a field out of range: the message
 * names it), GRAFT_E_VERSION (preprocess->struct_size), GRAFT_E_SHAPE (the
 * model's input is not (channels, height, width); the message gives both).
 * Since 1.3. */
GRAFT_API int graft_model_set_preprocess(graft_model *model, const graft_preprocess *preprocess);

/* Copies the model's preprocessing into *out, whose struct_size the caller
 * sets (GRAFT_PREPROCESS_INIT); only that many bytes are written.
 * Returns GRAFT_OK, or GRAFT_E_NOT_FOUND when the model has none (models
 * saved before 1.3, or never given one; *out is left as it was).
 * Errors: GRAFT_E_INVALID_ARG (NULL), GRAFT_E_VERSION (out->struct_size).
 * Since 1.3. */
GRAFT_API int graft_model_get_preprocess(const graft_model *model, graft_preprocess *out);

/* Sets the preprocessing fields of *opts (channels, width, height, resize,
 * shorter_side, normalize, scale, mean, std) from the model's preprocessing,
 * so that a dataset made with them matches the model; the other fields
 * (augmentation, threads, on_error, ...) are left as they are. opts->
 * struct_size must be set (GRAFT_FOLDER_OPTS_INIT).
 * Errors: GRAFT_E_INVALID_ARG (NULL), GRAFT_E_VERSION (opts->struct_size),
 * GRAFT_E_NOT_FOUND (the model has no preprocessing; *opts unchanged).
 * Since 1.3. */
GRAFT_API int graft_model_folder_opts(const graft_model *model, graft_folder_opts *opts);

/* Decodes the PNG or JPEG file at path (graft_image_load()), prepares it with
 * the model's preprocessing exactly as graft_dataset_from_folder() without
 * augmentation would, runs the model on it and writes its class
 * probabilities (softmax of the outputs):
 *   k >= 1: the k most probable classes, best first (ties to the lower
 *           index): indices[0..k) and probs[0..k), k at most the classes;
 *   k == 0: every class's probability in probs[0..classes); indices is not
 *           used and may be NULL.
 * The model's output must be (N, classes).
 * Errors: GRAFT_E_INVALID_ARG (NULL model, path or probs, NULL indices with
 * k >= 1), GRAFT_E_RANGE (k < 0 or above the classes), GRAFT_E_STATE (the
 * model has no preprocessing: set one with graft_model_set_preprocess(); or
 * no layers), GRAFT_E_SHAPE (an output that is not (N, classes)), and the
 * errors of graft_image_load() (GRAFT_E_IO, GRAFT_E_FORMAT,
 * GRAFT_E_UNSUPPORTED; the message names the file), GRAFT_E_NOMEM. Nothing
 * is written to indices or probs on failure. Since 1.3. */
GRAFT_API int graft_model_predict_image(graft_model *model, const char *path, int k,
                                        int32_t *indices, float *probs);

/* Like graft_model_predict_image() from size bytes of PNG or JPEG at data
 * (read, not kept), as graft_image_load_buffer() decodes them. Since 1.3. */
GRAFT_API int graft_model_predict_image_buffer(graft_model *model, const void *data,
                                               size_t size, int k, int32_t *indices,
                                               float *probs);

/* Decodes the PNG or JPEG file at path and prepares it with the model's
 * preprocessing, as graft_model_predict_image() does, into sample slot of x
 * (a tensor of shape (N, channels, height, width) of that preprocessing, 0 <=
 * slot < N), so a batch of files can be predicted in one call, or with
 * graft_model_predict_tta(). The other samples of x are not touched.
 * Errors: GRAFT_E_INVALID_ARG (NULL), GRAFT_E_STATE (the model has no
 * preprocessing), GRAFT_E_SHAPE (x of another shape), GRAFT_E_RANGE (slot),
 * and the errors of graft_image_load(); on failure slot's values are
 * unspecified. Since 1.3. */
GRAFT_API int graft_model_prepare_image(graft_model *model, const char *path, graft_tensor *x,
                                        int64_t slot);

/* ======================================================================== */
/* Training, evaluation                                                     */
/* ======================================================================== */

/* Progress of a fit, passed to the progress callback; read it with
 * graft_progress_get(). Valid only during the callback. */
typedef struct graft_progress graft_progress;

#define GRAFT_PROGRESS_EVENT 1        /* GRAFT_EVENT_BATCH_END or GRAFT_EVENT_EPOCH_END */
#define GRAFT_PROGRESS_EPOCH 2        /* 1-based epoch of the model's whole training */
#define GRAFT_PROGRESS_EPOCHS 3       /* the epoch this fit call runs up to */
#define GRAFT_PROGRESS_BATCH 4        /* 1-based batch within the epoch */
#define GRAFT_PROGRESS_BATCHES 5      /* batches per epoch */
#define GRAFT_PROGRESS_LOSS 6         /* mean training loss over the epoch so far */
#define GRAFT_PROGRESS_ACCURACY 7     /* training top-1 accuracy over the epoch so far
                                         (since 1.3: multi-label, the fraction of labels
                                         right; regression, NaN) */
#define GRAFT_PROGRESS_LR 8           /* learning rate of the last step */
#define GRAFT_PROGRESS_IMAGES_PER_SEC 9 /* samples per second over the epoch so far */
#define GRAFT_PROGRESS_VAL_LOSS 10    /* at epoch end with a validation set, else NaN */
#define GRAFT_PROGRESS_VAL_ACCURACY 11 /* at epoch end with a validation set, else NaN */
/* The callbacks of graft_fit_opts (Since 1.3). At batch end they hold the
 * state after the last epoch end; at an epoch end, after that epoch. */
#define GRAFT_PROGRESS_LR_SCALE 12    /* reduce-on-plateau's multiplier of the scheduled
                                       * rate (1 when it is off or has not reduced) */
#define GRAFT_PROGRESS_BEST_EPOCH 13  /* 1-based epoch (whole training) with the best
                                       * monitored figure in this call; NaN before one */
#define GRAFT_PROGRESS_BEST 14        /* that best value of the monitored figure; NaN before */

#define GRAFT_EVENT_BATCH_END 1
#define GRAFT_EVENT_EPOCH_END 2

/* Returns the value of key, or NaN for NULL or an unknown key. Since 1.0. */
GRAFT_API double graft_progress_get(const graft_progress *progress, int key);

/* The user callback of graft_model_fit(): called after every batch
 * (GRAFT_EVENT_BATCH_END) and at the end of every epoch
 * (GRAFT_EVENT_EPOCH_END, after validation and after the built-in
 * callbacks of graft_fit_opts have run for that epoch). Return 0 to go on,
 * anything else to stop after this point (early stopping by hand). The callback may read the
 * model (its parameters, or save it) but must not change its parameters or
 * the optimizer: graft_model_fit() keeps bounds on their magnitudes from
 * one step to the next (see graft_model_fit()'s checks). */
typedef int (*graft_progress_fn)(void *user_data, const graft_progress *progress);

/* Options of graft_model_fit(). Initialise with GRAFT_FIT_OPTS_INIT. */
typedef struct graft_fit_opts {
    uint32_t struct_size;       /* sizeof(graft_fit_opts) */
    int epochs;                 /* epochs to run in this call, >= 1 (default 1) */
    int batch_size;             /* >= 1 (default 32); the last batch may be smaller */
    uint64_t seed;              /* shuffling and dropout (default 0) */
    int shuffle;                /* 1 (default): a new seeded order every epoch */
    graft_progress_fn progress; /* may be NULL */
    void *user_data;            /* passed to progress */
    /* Since 1.3: losses and targets (see "Losses in graft_model_fit()" below). */
    const float *class_weights; /* classification: NULL (default) or n_class_weights
                                   weights, one per class, finite, >= 0 (read during
                                   the call) */
    int n_class_weights;        /* the model's classes when class_weights is set */
    float label_smoothing;      /* classification: in [0, 1]; default 0 */
    const float *sample_weights; /* NULL (default) or one weight per position of the
                                    training dataset, finite, >= 0 (read during the
                                    call) */
    int64_t n_sample_weights;   /* graft_dataset_size(train) when sample_weights is set */
    const float *pos_weight;    /* multi-label: NULL (default) or n_pos_weight weights of
                                   the positive term, one per label, finite, >= 0 */
    int n_pos_weight;           /* the model's labels when pos_weight is set */
    int regression_loss;        /* regression: GRAFT_LOSS_MSE (default) or GRAFT_LOSS_L1 */
    float clip_grad_norm;       /* 0 (default): off; > 0: the largest total L2 norm of
                                   the trained parameters' gradients (finite) */
    float mixup_alpha;          /* 0 (default): off; else in (0, 1000]: mixup with
                                   lambda ~ Beta(alpha, alpha) */
    float cutmix_alpha;         /* 0 (default): off; else in (0, 1000]: cutmix with
                                   lambda ~ Beta(alpha, alpha) */
    /* 1.3 callback fields (Since 1.3; see "Callbacks" below). */
    int monitor;                /* GRAFT_MONITOR_*: the figure the callbacks watch
                                 * (default GRAFT_MONITOR_AUTO) */
    double min_delta;           /* an improvement beats the best by more than this,
                                 * >= 0 (default 0) */
    int early_stop_patience;    /* 0 (default): off; n >= 1: stop after n epochs in a
                                 * row without improvement */
    int restore_best;           /* 1: end with the model of the best epoch; 0 (default) */
    const char *save_best;      /* NULL (default), or a checkpoint path rewritten at
                                 * every improvement (read during the call only) */
    double plateau_factor;      /* 0 (default): reduce-on-plateau off; else (0, 1) */
    int plateau_patience;       /* epochs without improvement tolerated, >= 0 (default 10) */
    double plateau_threshold;   /* relative improvement needed, [0, 1) (default 1e-4) */
    int plateau_cooldown;       /* epochs to wait after a reduction, >= 0 (default 0) */
    double plateau_min_lr;      /* floor of the reduced base rate, >= 0 (default 0) */
} graft_fit_opts;
#define GRAFT_FIT_OPTS_INIT                                                                   \
    { (uint32_t)sizeof(graft_fit_opts), 1, 32, 0, 1, NULL, NULL, NULL, 0, 0.0f, NULL, 0, NULL, \
      0, 0, 0.0f, 0.0f, 0.0f, GRAFT_MONITOR_AUTO, 0.0, 0, 0, NULL, 0.0, 10, 1e-4, 0, 0.0 }

/* The figures the callbacks can monitor (graft_fit_opts.monitor). Losses
 * improve downwards, accuracies upwards. Since 1.3. */
#define GRAFT_MONITOR_AUTO 0         /* validation loss with a validation set, else
                                      * training loss */
#define GRAFT_MONITOR_VAL_LOSS 1     /* the validation set's mean loss */
#define GRAFT_MONITOR_VAL_ACCURACY 2 /* the validation set's top-1 accuracy */
#define GRAFT_MONITOR_LOSS 3         /* the epoch's mean training loss */
#define GRAFT_MONITOR_ACCURACY 4     /* the epoch's training top-1 accuracy */

/* Callbacks. graft_model_fit() runs four built-in callbacks, each off by
 * default, at the end of every epoch (after validation), all watching one
 * figure (opts->monitor), in this order: the improvement check (with
 * restore best's copy and save best's checkpoint), early stopping, reduce
 * on plateau; then it calls opts->progress. Their state (the best value,
 * the epochs without improvement, the learning-rate multiplier) lives for
 * one graft_model_fit() call: a second call, or a resumed checkpoint,
 * starts afresh (the multiplier back at 1). Since 1.3.
 *
 * Improvement: the epoch's value v improves on the best b when v < b -
 * min_delta for a loss, v > b + min_delta for an accuracy (the first epoch
 * always improves). The best epoch is the last that improved.
 *
 * Early stopping (early_stop_patience = n >= 1), as Keras' EarlyStopping:
 * after n epochs in a row without improvement, the fit ends at that epoch
 * (GRAFT_OK).
 *
 * Restore best (restore_best = 1): when the fit ends with GRAFT_OK (all its
 * epochs run, stopped early, or stopped by the progress callback) after at
 * least one epoch ended, the model is put back as it was at the end of the
 * best epoch: every parameter,
 * the batch norms' running statistics, the trainable flags and learning-rate
 * multipliers (scheduled unfreezing), and graft_model_epochs_done(), which
 * becomes the best epoch's. Unlike Keras it restores whenever the last
 * epoch is not the best, not only after an early stop. The optimizer is not
 * rewound: its step count and state stay those of the last step (a
 * checkpoint from save_best holds the optimizer of the best epoch). On an
 * error nothing is restored. Costs one copy of the parameters and buffers.
 *
 * Save best (save_best = path): at every improvement, the model and the
 * optimizer are written to path with graft_checkpoint_save() (atomic: the
 * previous best stays whole until the new one is complete). The file is a
 * checkpoint that resumes training exactly from the best epoch, and
 * graft_model_load() reads its model. A write that fails ends the fit with
 * its error (GRAFT_E_IO, ...) after that epoch, which counts as done.
 *
 * Reduce on plateau (plateau_factor in (0, 1)), with the semantics of
 * torch.optim.lr_scheduler.ReduceLROnPlateau (threshold_mode "rel", mode
 * "min" for a loss, "max" for an accuracy, eps 1e-8), stepped once per
 * epoch with the monitored value: an epoch is better than its own best b
 * when v < b * (1 - threshold) (min) or v > b * (1 + threshold) (max); after
 * more than plateau_patience epochs in a row that are not, and outside the
 * cooldown, the rate is multiplied by plateau_factor, not below
 * plateau_min_lr, and plateau_cooldown epochs follow during which bad
 * epochs are not counted. It composes with the optimizer's schedule
 * (GRAFT_OPT_SCHEDULE) as a multiplier s (starting at 1): every step uses
 * s times the scheduled rate, and a reduction sets s to max(s * factor,
 * plateau_min_lr / GRAFT_OPT_LR) when that lowers s * GRAFT_OPT_LR by more
 * than 1e-8. With the constant schedule this is torch's rate sequence
 * exactly; with warm-up, step or cosine, the schedule keeps its shape,
 * scaled by s. The optimizer's GRAFT_OPT_LR is not changed.
 * GRAFT_PROGRESS_LR is the rate used (s included); GRAFT_PROGRESS_LR_SCALE
 * is s.
 *
 * Errors (before any step, as GRAFT_E_INVALID_ARG): a monitor out of range,
 * a validation monitor without a validation set while a callback is on, an
 * accuracy monitor for a regression model (GRAFT_MODEL_TASK),
 * min_delta or plateau_min_lr negative or not finite, early_stop_patience,
 * plateau_patience or plateau_cooldown negative, restore_best not 0 or 1,
 * plateau_factor not 0 and not in (0, 1), plateau_threshold not in [0, 1);
 * an empty save_best. */

/* Values of graft_fit_opts.regression_loss. Since 1.3. */
#define GRAFT_LOSS_MSE 0 /* mean squared error (PyTorch's MSELoss) */
#define GRAFT_LOSS_L1 1  /* mean absolute error (PyTorch's L1Loss) */

/* Losses in graft_model_fit() (since 1.3). The model's GRAFT_MODEL_TASK
 * chooses the loss and the dataset it takes:
 *  - GRAFT_TASK_CLASSIFICATION: softmax cross-entropy on class labels, with
 *    class_weights and label_smoothing as graft_loss_cross_entropy() (the
 *    weighted mean of PyTorch's CrossEntropyLoss(weight, label_smoothing));
 *  - GRAFT_TASK_MULTI_LABEL: sigmoid binary cross-entropy
 *    (graft_loss_bce_with_logits(), with pos_weight) on a dataset of 0/1
 *    targets (graft_dataset_from_memory_targets()), one per output;
 *  - GRAFT_TASK_REGRESSION: GRAFT_LOSS_MSE or GRAFT_LOSS_L1 on a dataset of
 *    float targets, one per output; end the model with a dense layer (no
 *    activation) for a linear head.
 * The model's output must be (N, outputs) for each. sample_weights weight
 * each sample's loss (indexed by the position in train, whatever the
 * shuffled order): each batch's loss is its weighted mean (for
 * cross-entropy with the class weights' denominator, see
 * graft_loss_cross_entropy(); a batch of total weight 0 has loss 0 and does
 * a step with zero gradients, so the optimizer's momentum and decay still
 * act). The loss graft_progress reports is the mean of the batches' losses,
 * each counted once per sample.
 *
 * Gradient clipping (clip_grad_norm > 0) is PyTorch's clip_grad_norm_ over
 * every parameter the step trains: after backward, when the total L2 norm
 * T of their gradients is above the limit, every gradient is multiplied by
 * clip_grad_norm / (T + 1e-6); the optimizer's checks then see the clipped
 * gradients. A gradient that is not finite is never scaled (a NaN would
 * reach every parameter): the step is refused by the usual check, which
 * names the parameter.
 *
 * Mixup and cutmix mix each batch with a permutation of itself: lambda is
 * drawn from Beta(alpha, alpha), the permutation and (cutmix) the box from
 * a generator seeded by (seed, epoch, batch), so runs are reproducible and
 * resume exactly like the rest of fit. With both alphas set, each batch
 * uses one of the two, chosen with equal odds. Mixup: x = lambda x_i + (1 -
 * lambda) x_perm(i). Cutmix: a box of area (1 - lambda) of the last two
 * dimensions (H, W; samples must have at least 2 dimensions) centred at a
 * uniform point and clipped to the image is copied from x_perm(i), and
 * lambda becomes 1 - (box area) / (H W). The targets mix alike: soft
 * targets lambda onehot(y_i) + (1 - lambda) onehot(y_perm(i)), the loss
 * being lambda L(y_i) + (1 - lambda) L(y_perm(i)) (equal to soft-target
 * cross-entropy without class weights); float targets (multi-label,
 * regression) are mixed as lambda t_i + (1 - lambda) t_perm(i). A sample
 * keeps its own weight. Training accuracy counts y_i. Mixing changes the
 * inputs, so a frozen trunk's features are not cached while mixup or cutmix
 * is on (GRAFT_MODEL_FEATURE_CACHE): fit computes the trunk at every step,
 * as torchvision recipes do. (Mixing cached features instead would be
 * manifold mixup, a different method.)
 *
 * Training accuracy (GRAFT_PROGRESS_ACCURACY) is top-1 for classification,
 * the fraction of labels right at probability 0.5 for multi-label, NaN for
 * regression; the validation figures are graft_model_evaluate_targets()'s
 * loss and accuracy for the two target tasks. */

/* Trains the model (with softmax cross-entropy, or the loss of its
 * GRAFT_MODEL_TASK, above) on train for opts->epochs more
 * epochs, updating it with optim, then evaluating val (may be NULL) after
 * every epoch. The order of epoch e (counted over the model's whole
 * training) and the dropout masks depend only on opts->seed, e and the step,
 * so fitting 2 epochs, saving a checkpoint, loading it and fitting 2 more
 * gives bit for bit the model that 4 epochs in one call give (same thread
 * count). Scheduled unfreezing (graft_model_schedule_unfreeze()) happens at
 * the start of its epoch; frozen trunks may be cached (GRAFT_MODEL_FEATURE_CACHE).
 * Since 1.3 the built-in callbacks of opts (early stopping, restore best,
 * save best, reduce on plateau; see "Callbacks" above) run at every epoch
 * end. Returns GRAFT_OK also when the progress callback or early stopping
 * stops early.
 * Errors: GRAFT_E_INVALID_ARG (NULL, bad options), GRAFT_E_VERSION
 * (struct_size), GRAFT_E_SHAPE (samples that do not fit the model's input,
 * or classes or targets that do not match its output), GRAFT_E_STATE (since
 * 1.3: a dataset of labels for a multi-label or regression model, or of
 * float targets for a classifier), GRAFT_E_RANGE (since 1.3: a weight
 * negative or not finite, a target outside [0, 1] for multi-label),
 * GRAFT_E_NUMERIC (see below), GRAFT_E_NOMEM, the errors of reading the
 * datasets (graft_dataset_gather()) and of writing the save_best checkpoint
 * (graft_checkpoint_save()).
 *
 * Training never goes on with, and never returns GRAFT_OK after making, a
 * NaN or an infinity. Every step checks, before it changes anything: the
 * batch's input values (while GRAFT_CTX_CHECK_INPUTS is 1; datasets whose
 * values were checked when they were made and cannot change - copies made
 * by graft_dataset_from_memory(), IDX and CSV datasets - are not read
 * again), the loss, the batch norms' running statistics, and the gradient
 * of every parameter it trains; and it proves, from the gradients' largest
 * magnitudes and bounds the optimizer keeps on the parameters and its
 * state, that the update leaves every parameter and every optimizer state
 * finite (where the bound does not show it, the update is first tried on a
 * copy). A step that fails any of these is not made: graft_model_fit()
 * returns GRAFT_E_NUMERIC with a message naming the epoch and the batch and
 * the sample (by its position, and its file for folders), or the layer and
 * the parameter, at fault; the parameters, the optimizer (its state and its
 * step count) and the batch-norm running statistics are exactly as they
 * were before that step, and graft_model_epochs_done() counts the completed
 * epochs only. The checks cost one read of the gradients per step (and of
 * the parameters and optimizer state once per epoch): measured at 1 to 3%
 * of a step of the smallest networks and up to 5% for a large dense
 * network at a small batch (where the update itself is a fifth of the
 * step), under 0.2% for convolutional ones. Since 1.0 (the per-step checks
 * since 1.1; 1.0 checked the loss only). The progress callback must not
 * change the parameters (see graft_progress_fn). */
GRAFT_API int graft_model_fit(graft_model *model, graft_optim *optim, graft_dataset *train,
                              graft_dataset *val, const graft_fit_opts *opts);

/* Results of graft_model_evaluate() (and, since 1.3,
 * graft_model_evaluate_targets()). */
typedef struct graft_eval graft_eval;

#define GRAFT_EVAL_COUNT 1     /* samples evaluated */
#define GRAFT_EVAL_LOSS 2      /* mean softmax cross-entropy (since 1.3, for
                                  graft_model_evaluate_targets(): binary cross-entropy
                                  or squared error) */
#define GRAFT_EVAL_ACCURACY 3  /* top-1 accuracy in [0, 1] */
#define GRAFT_EVAL_TOPK_ACCURACY 4 /* top-k accuracy, k as requested */
#define GRAFT_EVAL_F1_MACRO 5  /* mean of graft_eval_f1() over the classes where it is
                                * defined (sklearn's f1_score average="macro"). Since 1.3 */
#define GRAFT_EVAL_AUC_MACRO 6 /* ROC-AUC: for 2 classes, the binary AUC of class 1's
                                * probability (sklearn's roc_auc_score(y, p[:, 1])); for
                                * more, the mean of graft_eval_auc() over the classes
                                * where it is defined (roc_auc_score(y, p, multi_class=
                                * "ovr"), which refuses a missing class); NaN if none
                                * is. Since 1.3 */

/* Evaluates the model in inference mode on every sample of dataset, in
 * batches of batch_size, with top-k accuracy for k = top_k (1 to classes).
 * *out receives the results; caller owns them, free with graft_eval_free().
 * Errors: GRAFT_E_INVALID_ARG, GRAFT_E_SHAPE, GRAFT_E_RANGE (top_k),
 * GRAFT_E_NUMERIC (a sample holds NaN or an infinity, checked as
 * graft_model_fit() checks its batches: the message names the sample; or
 * the logits are not finite), GRAFT_E_NOMEM, and the errors of reading the
 * dataset. Since 1.0. Since 1.3 the results also hold every sample's
 * softmax probabilities (for graft_eval_auc(), 4 bytes per sample and
 * class) and the F1 and ROC-AUC figures. */
GRAFT_API int graft_model_evaluate(graft_model *model, graft_dataset *dataset, int batch_size,
                                   int top_k, graft_eval **out);

/* Figures of multi-label and regression results
 * (graft_model_evaluate_targets(), since 1.3), read with graft_eval_get().
 * GRAFT_EVAL_COUNT and GRAFT_EVAL_LOSS (the mean binary cross-entropy, or
 * the mean squared error) hold too; GRAFT_EVAL_ACCURACY is the subset
 * accuracy (multi-label) or NaN (regression). A label is predicted when its
 * sigmoid probability is >= its threshold, and true when its target is >=
 * 0.5. Figures that are undefined (a division by 0) are NaN. */
#define GRAFT_EVAL_SUBSET_ACCURACY 20 /* multi-label: samples with every label right */
#define GRAFT_EVAL_HAMMING_LOSS 21    /* multi-label: labels wrong / (samples * labels) */
#define GRAFT_EVAL_MICRO_PRECISION 22 /* multi-label: over all labels' counts pooled */
#define GRAFT_EVAL_MICRO_RECALL 23
#define GRAFT_EVAL_MICRO_F1 24        /* 2 TP / (2 TP + FP + FN), counts pooled */
#define GRAFT_EVAL_MACRO_F1 25        /* the mean of the labels' F1 where it is defined
                                         (a label never true nor predicted is left out) */
#define GRAFT_EVAL_MSE 26             /* regression: mean squared error (the mean over
                                         outputs; per output with graft_eval_target_get()) */
#define GRAFT_EVAL_MAE 27             /* regression: mean absolute error */
#define GRAFT_EVAL_R2 28              /* regression: 1 - SS_res / SS_tot, the mean over the
                                         outputs whose targets vary (sklearn's
                                         uniform_average); NaN when none does */
/* Per-label figures, graft_eval_target_get() only. */
#define GRAFT_EVAL_LABEL_PRECISION 30 /* TP / (TP + FP) */
#define GRAFT_EVAL_LABEL_RECALL 31    /* TP / (TP + FN) */
#define GRAFT_EVAL_LABEL_F1 32        /* 2 TP / (2 TP + FP + FN) */
#define GRAFT_EVAL_LABEL_SUPPORT 33   /* samples for which the label is true */
#define GRAFT_EVAL_LABEL_THRESHOLD 34 /* the threshold the label was evaluated at */

/* Evaluates a multi-label or regression model (GRAFT_MODEL_TASK) in
 * inference mode on every sample of a dataset of float targets
 * (graft_dataset_from_memory_targets()), in batches of batch_size.
 * thresholds: multi-label only; NULL for 0.5 for every label, else one per
 * label in [0, 1] (copied). *out receives the results (caller owns them,
 * free with graft_eval_free()): read them with graft_eval_get() (the keys
 * above) and graft_eval_target_get(); their graft_eval_class_count() is 0
 * and graft_eval_confusion() -1 (classification's figures).
 * Errors: GRAFT_E_INVALID_ARG (NULL, batch_size < 1, thresholds for a
 * regression model), GRAFT_E_STATE (a classification model: use
 * graft_model_evaluate(); a dataset of labels), GRAFT_E_SHAPE (targets that
 * do not match the outputs), GRAFT_E_RANGE (a threshold outside [0, 1], a
 * multi-label target outside [0, 1]), GRAFT_E_NUMERIC (as
 * graft_model_evaluate()), GRAFT_E_NOMEM, and the errors of reading the
 * dataset. Since 1.3. */
GRAFT_API int graft_model_evaluate_targets(graft_model *model, graft_dataset *dataset,
                                           int batch_size, const float *thresholds,
                                           graft_eval **out);

/* Labels (multi-label) or outputs (regression) of results from
 * graft_model_evaluate_targets(); 0 for other results and NULL. Since 1.3. */
GRAFT_API int graft_eval_target_count(const graft_eval *eval);

/* Figure key of label (or output) j of results from
 * graft_model_evaluate_targets(): GRAFT_EVAL_LABEL_* for multi-label,
 * GRAFT_EVAL_MSE, _MAE or _R2 for regression. NaN for NULL, other results,
 * j out of range, an unknown key or an undefined figure. Since 1.3. */
GRAFT_API double graft_eval_target_get(const graft_eval *eval, int j, int key);

/* Frees evaluation results. Accepts NULL. Since 1.0. */
GRAFT_API void graft_eval_free(graft_eval *eval);

/* A GRAFT_EVAL_* figure; NaN for NULL or an unknown key. Since 1.0. */
GRAFT_API double graft_eval_get(const graft_eval *eval, int key);

/* Number of classes in the results. Since 1.0. */
GRAFT_API int graft_eval_class_count(const graft_eval *eval);

/* Confusion matrix entry: samples of class true_class predicted as
 * predicted (top-1); -1 for bad arguments. Since 1.0. */
GRAFT_API int64_t graft_eval_confusion(const graft_eval *eval, int true_class, int predicted);

/* Precision and recall of class c; NaN when undefined (no sample predicted
 * as c, or none of class c) or for bad arguments. Since 1.0. */
GRAFT_API double graft_eval_precision(const graft_eval *eval, int c);
GRAFT_API double graft_eval_recall(const graft_eval *eval, int c);

/* F1 score of class c: 2 tp / (2 tp + fp + fn) from the confusion matrix
 * (the harmonic mean of precision and recall, 0 when one of them is 0);
 * NaN when class c is neither a true nor a predicted class of any sample,
 * or for bad arguments. Since 1.3. */
GRAFT_API double graft_eval_f1(const graft_eval *eval, int c);

/* One-vs-rest ROC-AUC of class c: the probability that a sample of class c
 * gets a higher softmax probability of c than a sample of another class,
 * ties counting one half (average ranks, as sklearn's roc_auc_score). The
 * results of graft_model_evaluate() keep every sample's probabilities for
 * this (4 bytes per sample and class). NaN when every sample or none is of
 * class c, or for bad arguments. Since 1.3. */
GRAFT_API double graft_eval_auc(const graft_eval *eval, int c);
/* Class probabilities (and the best class) of every sample of dataset, in
 * one call: runs the model in inference mode on batches of batch_size
 * samples, in order. Row i of probs (dataset size x classes floats, row i
 * at i * classes) receives sample i's outputs as graft_model_predict()
 * computes them (softmax probabilities; for a multi-label model each
 * label's sigmoid, for a regression model the outputs as they are,
 * GRAFT_MODEL_TASK); top1[i] (dataset size values) the index of its
 * largest output, its most probable class (the lower index on ties; a
 * regression model has none: top1 must be NULL). Either may
 * be NULL, not both. The dataset's labels are not read and its class
 * count need not match the model's. Inputs are checked as
 * graft_model_evaluate() checks them. On failure probs and top1 hold
 * unspecified values; the model is unchanged.
 * Errors: GRAFT_E_INVALID_ARG (NULL model or dataset, both outputs NULL,
 * batch_size < 1, a dataset of another context), GRAFT_E_STATE (a model
 * without layers, top1 for a regression model), GRAFT_E_SHAPE (samples of another shape than the model
 * takes, an output that is not (N, classes)), GRAFT_E_NUMERIC (a sample
 * holding NaN or an infinity while GRAFT_CTX_CHECK_INPUTS is 1, or outputs
 * that are not finite: the message names the sample), GRAFT_E_NOMEM, and
 * the errors of reading the dataset. Since 1.3. */
GRAFT_API int graft_model_predict_dataset(graft_model *model, graft_dataset *dataset,
                                          int batch_size, float *probs, int32_t *top1);

/* ======================================================================== */
/* Transfer learning: freezing, surgery, staged fine-tuning, partial loads  */
/* ======================================================================== */

/* Sets layers first..last (inclusive) trainable (1) or frozen (0). A frozen
 * layer's parameters are never updated, and by default a frozen batch norm
 * runs in inference mode, so its running statistics stay as they are too
 * (see GRAFT_MODEL_FROZEN_BN_TRAINS). graft_model_fit() runs backward only
 * through layers at or above a trainable one: a frozen trunk costs its
 * forward pass alone. Errors: GRAFT_E_INVALID_ARG, GRAFT_E_RANGE. Since 1.0. */
GRAFT_API int graft_model_set_trainable(graft_model *model, int first, int last, int trainable);

/* The same for the layer called name. Errors: GRAFT_E_INVALID_ARG,
 * GRAFT_E_NOT_FOUND. Since 1.0. */
GRAFT_API int graft_model_set_trainable_by_name(graft_model *model, const char *name,
                                                int trainable);

/* Freezes every layer up to and including the one called name and makes the
 * layers after it trainable (Keras: base.trainable = False for the trunk).
 * Errors: GRAFT_E_INVALID_ARG, GRAFT_E_NOT_FOUND. Since 1.0. */
GRAFT_API int graft_model_freeze_through(graft_model *model, const char *name);

/* Freezes all layers but the last n (0 to the layer count), which become
 * trainable. Errors: GRAFT_E_INVALID_ARG, GRAFT_E_RANGE. Since 1.0. */
GRAFT_API int graft_model_freeze_all_but_last(graft_model *model, int n);

/* Multiplies the optimizer's learning rate for layers first..last by scale
 * (finite, >= 0; new layers have 1), so a trunk can fine-tune at a fraction
 * of the head's rate. Saved with the model. Errors: GRAFT_E_INVALID_ARG,
 * GRAFT_E_RANGE. Since 1.0. */
GRAFT_API int graft_model_set_lr_scale(graft_model *model, int first, int last, float scale);

/* Layer i's learning-rate multiplier; NaN for a bad index. Since 1.0. */
GRAFT_API float graft_model_layer_lr_scale(const graft_model *model, int i);

/* Schedules staged fine-tuning: at the start of epoch `epoch` (0-based,
 * counted over the model's whole training, see graft_model_epochs_done()),
 * graft_model_fit() makes the layer called from and every layer after it
 * trainable, giving the ones that were frozen the multiplier lr_scale. The
 * epoch must not have passed: it is at least graft_model_epochs_done() (the
 * next epoch fit runs), so on a model trained before, e.g. a loaded base,
 * give graft_model_epochs_done() + n for n epochs from now. The schedule is
 * saved in model files and checkpoints, so it survives a resume.
 * Errors: GRAFT_E_INVALID_ARG (NULL, or an epoch below
 * graft_model_epochs_done(), which would never come), GRAFT_E_NOT_FOUND,
 * GRAFT_E_RANGE (epoch < 0, lr_scale negative or not finite), GRAFT_E_NOMEM.
 * Since 1.0. */
GRAFT_API int graft_model_schedule_unfreeze(graft_model *model, const char *from, int epoch,
                                            float lr_scale);

/* Removes every scheduled unfreeze. Errors: GRAFT_E_INVALID_ARG. Since 1.0. */
GRAFT_API int graft_model_clear_unfreeze_schedule(graft_model *model);

/* Model options, set with graft_model_set_option(); saved with the model. */
#define GRAFT_MODEL_FROZEN_BN_TRAINS 1 /* 0 (default): frozen batch norms run in inference
                                          mode; 1: they normalise with batch statistics and
                                          update their running statistics as in training */
#define GRAFT_MODEL_FEATURE_CACHE 2    /* 1 (default): when every layer below the trained
                                          ones is frozen and deterministic and the dataset
                                          has no augmentation, graft_model_fit() computes
                                          the frozen trunk's output once per sample and
                                          trains the rest on it; 0: never */
#define GRAFT_MODEL_FEATURE_CACHE_MB 3 /* memory the cache may use, in MiB (default 1024);
                                          a larger cache is not made */
#define GRAFT_MODEL_TASK 4             /* GRAFT_TASK_*: what the model's outputs are; the
                                          loss graft_model_fit() trains with and what
                                          graft_model_predict() returns. Since 1.3 */

/* Values of GRAFT_MODEL_TASK. Since 1.3. */
#define GRAFT_TASK_CLASSIFICATION 0 /* default: one class per sample (labels); softmax
                                       cross-entropy; predict gives softmax probabilities */
#define GRAFT_TASK_MULTI_LABEL 1    /* any number of labels per sample (0/1 targets,
                                       graft_dataset_from_memory_targets()); sigmoid binary
                                       cross-entropy; predict gives per-label sigmoid
                                       probabilities */
#define GRAFT_TASK_REGRESSION 2     /* float targets; mean squared or absolute error
                                       (graft_fit_opts.regression_loss); predict gives the
                                       outputs as they are (a linear head) */

/* Sets a model option. Errors: GRAFT_E_INVALID_ARG, GRAFT_E_NOT_FOUND,
 * GRAFT_E_RANGE. Since 1.0. */
GRAFT_API int graft_model_set_option(graft_model *model, int key, int64_t value);

/* Reads a model option. Errors: GRAFT_E_INVALID_ARG, GRAFT_E_NOT_FOUND.
 * Since 1.0. */
GRAFT_API int graft_model_get_option(const graft_model *model, int key, int64_t *value);

/* Cuts the model after the layer called name: that layer becomes the output
 * and only it and the layers it reads (directly or not) are kept; the others
 * are freed. Class names are kept only if the output size is unchanged.
 * Layers can then be appended with graft_model_add(). Errors:
 * GRAFT_E_INVALID_ARG, GRAFT_E_NOT_FOUND, GRAFT_E_NOMEM. Since 1.0. */
GRAFT_API int graft_model_cut(graft_model *model, const char *name);

/* Options of graft_model_replace_head(). */
typedef struct graft_head_spec {
    uint32_t struct_size;           /* sizeof(graft_head_spec) */
    int hidden_units;               /* 0 (default): none; else a dense layer of that size
                                       and a relu ("head/hidden", "head/relu") first */
    float dropout;                  /* 0 (default): none; else a dropout layer of that
                                       rate ("head/dropout") before the classifier */
    uint64_t seed;                  /* initialisation and dropout seed (default 0) */
    const char *const *class_names; /* NULL, or n_classes names (copied) */
} graft_head_spec;
#define GRAFT_HEAD_SPEC_INIT { (uint32_t)sizeof(graft_head_spec), 0, 0.0f, 0, NULL }

/* Replaces the classifier: removes the old head and appends an optional
 * hidden layer and dropout, then "head/fc", a dense layer of n_classes
 * outputs. The old head is found from the graph, not from layer names:
 *  - When the model's output is a dense layer, or a softmax reading one (the
 *    classifier), the head is that classifier and its softmax, with, right
 *    before it, what a head of this function's shape has: a dropout, and a
 *    dense layer with its relu (a hidden layer), each read only by the next
 *    and kept when removing it would leave nothing. So an earlier call's
 *    whole head goes, and so does the last hidden layer of an MLP classifier
 *    such as VGG's (fc7 -> relu -> [dropout ->] fc8); to keep such a layer,
 *    add the new layers with graft_model_add() instead. The new head reads
 *    what the old one read; layers only the old head read go too.
 *  - A model with no dense layer is taken as a feature extractor (e.g. a
 *    trunk cut with graft_model_cut() and flattened): the new head is
 *    appended to its output. A classifier without a dense layer (SqueezeNet's
 *    final convolution and pooling) cannot be told from features this way:
 *    cut it off first.
 *  - Any other output is refused with GRAFT_E_STATE: a model that has a dense
 *    layer but whose output is not a classifier (e.g. an import ending in a
 *    dense layer and an add or scale_shift), and a model without dense layer
 *    whose output is a softmax, add, mul or scale_shift (which end a
 *    classifier rather than give features). Cut it first (graft_model_cut()).
 * New dense layers are initialised He-uniform (weights uniform in
 * +-sqrt(6 / fan_in), biases 0) from spec->seed. New layers are trainable;
 * the others keep their flags. spec may be NULL for the defaults.
 * All or nothing: the new layers and everything else the call needs are
 * made before the model changes, so on any error the model is left as it
 * was. Class names are replaced by spec->class_names, or cleared.
 * Errors: GRAFT_E_INVALID_ARG (bad values), GRAFT_E_VERSION (struct_size),
 * GRAFT_E_STATE (an empty model, a classifier that reads the model input,
 * an output refused as above, or a kept layer already named as a new one),
 * GRAFT_E_SHAPE (a new layer cannot take the features' shape), GRAFT_E_NOMEM.
 * Since 1.0. */
GRAFT_API int graft_model_replace_head(graft_model *model, int n_classes,
                                       const graft_head_spec *spec);

/* What graft_model_load_weights() did with each tensor. */
typedef struct graft_load_report graft_load_report;

#define GRAFT_WEIGHT_LOADED 0         /* copied from the file */
#define GRAFT_WEIGHT_SHAPE_MISMATCH 1 /* same name, other shape: kept its own values */
#define GRAFT_WEIGHT_NOT_IN_FILE 2    /* no tensor of that name: kept its own values */
#define GRAFT_WEIGHT_NOT_IN_MODEL 3   /* in the file only: ignored */

/* Loads into model the parameters and buffers of the graft model file at
 * path whose layer name, layer kind, parameter name and shape all match,
 * leaving every other tensor as it is; nothing is ever loaded into a tensor
 * of another shape. *report (may be NULL) receives one entry per tensor of
 * either side, named "layer/param"; caller frees it with
 * graft_load_report_free(). Errors: as graft_model_load(). Since 1.0. */
GRAFT_API int graft_model_load_weights(graft_model *model, const char *path,
                                       graft_load_report **report);

/* ---- re-initialisation --------------------------------------------------- */

/* Gives every layer of the model fresh parameters, drawn exactly as a new
 * model created with this seed and the same graft_model_add() calls would
 * get them: layer i is initialised from the seed graft_model_add() derives
 * from (seed, i), so graft_model_reinit(m, s) on a model built with seed s
 * gives back its initial weights, whatever training or loading did since.
 * Weights and biases are drawn as each kind documents (conv2d and dense
 * He-uniform, biases 0), batch norm gets gamma 1, beta 0 and its running
 * statistics reset to mean 0 and variance 1, layer norm weight 1 and bias
 * 0. A layer whose parameters are all buffers (none has a gradient) keeps
 * its values, whatever its trainable flag: scale_shift's buffers are
 * constants (an imported model's input normalisation), not weights; a
 * frozen layer is re-initialised like any other (graft_model_reinit_layers()
 * can spare it). Also reset: graft_model_epochs_done() to 0, and the model's
 * seed becomes seed (layers added later draw from it). Kept: the graph,
 * layer names, trainable flags, learning-rate multipliers, the unfreeze
 * schedule (whose epochs count over the model's training, which now starts
 * again at 0), class names and options. The call does not touch any
 * optimizer: one used with the model before keeps its step count and
 * state (momentum, moments), so to train from scratch create a new one.
 * Nothing can fail once the arguments are checked, so the model is
 * changed entirely or not at all.
 * Errors: GRAFT_E_INVALID_ARG (NULL model). Since 1.3. */
GRAFT_API int graft_model_reinit(graft_model *model, uint64_t seed);

/* Like graft_model_reinit() for layers first..last (inclusive) only, and
 * with trainable_only 1 only those of them that are trainable
 * (graft_model_layer_trainable()), e.g. a head to train again on a frozen
 * trunk. Each chosen layer gets what graft_model_reinit(model, seed) would
 * give it; the others, the epochs done and the model's seed are unchanged.
 * Errors: GRAFT_E_INVALID_ARG (NULL model, trainable_only not 0 or 1),
 * GRAFT_E_RANGE (first or last outside [0, layer count), or first > last).
 * Since 1.3. */
GRAFT_API int graft_model_reinit_layers(graft_model *model, int first, int last,
                                        int trainable_only, uint64_t seed);

/* Number of entries with the given GRAFT_WEIGHT_* status, or of all entries
 * for status -1; 0 for NULL. Since 1.0. */
GRAFT_API int graft_load_report_count(const graft_load_report *report, int status);

/* Entry i: the tensor's name, its status and a detail such as the two
 * shapes (strings borrowed from the report). Any out-pointer may be NULL.
 * Errors: GRAFT_E_INVALID_ARG, GRAFT_E_RANGE. Since 1.0. */
GRAFT_API int graft_load_report_entry(const graft_load_report *report, int i, const char **name,
                                      int *status, const char **detail);

/* Frees a report. Accepts NULL. Since 1.0. */
GRAFT_API void graft_load_report_free(graft_load_report *report);

/* ======================================================================== */
/* Model files and checkpoints                                              */
/* ======================================================================== */

/* Saves the model (layer graph, attributes, parameters and batch-norm
 * statistics, trainable flags, class names, epochs done, and since 1.3 its
 * input preprocessing, graft_model_set_preprocess()) in graft's format,
 * specified in docs/FORMAT.md. The save is atomic: the data goes to a
 * temporary file in the same folder, which is flushed to disk and renamed
 * over path, so a crash or a full disk never leaves a damaged file at path;
 * the previous file stays until the new one is complete.
 * Errors: GRAFT_E_INVALID_ARG, GRAFT_E_IO (the message names the file and
 * the system's reason), GRAFT_E_NOMEM. Since 1.0. */
GRAFT_API int graft_model_save(const graft_model *model, const char *path);

/* Loads a model saved by graft_model_save() (or the model part of a
 * checkpoint). Every length, count, shape and checksum is validated; a file
 * that disagrees with itself is refused with a message saying what and
 * where. *out: caller owns the model. Errors: GRAFT_E_INVALID_ARG, GRAFT_E_IO,
 * GRAFT_E_FORMAT, GRAFT_E_VERSION (a newer format), GRAFT_E_NOMEM. Since 1.0.
 *
 * Bounded reads (as graft_checkpoint_load()): the 16-byte header is read and
 * checked first, then each section's header and only the payload it
 * declares, each section checked as it arrives; a file that is not graft's
 * (/dev/zero) costs 16 bytes. The ceiling is 8 GiB (8589934592 bytes): a
 * larger regular file is GRAFT_E_FORMAT from its size ("... larger than the
 * 8589934592-byte limit of model files and checkpoints"); a FIFO, pipe or
 * device as soon as a section's declared length would pass it, and it must
 * end right after the END section. Opening never waits for a FIFO's writer:
 * a FIFO without one reads as empty. */
GRAFT_API int graft_model_load(graft_ctx *ctx, const char *path, graft_model **out);

/* Like graft_model_load() from size bytes at data (read, not kept). Since 1.0. */
GRAFT_API int graft_model_load_buffer(graft_ctx *ctx, const void *data, size_t size,
                                      graft_model **out);

/* Saves a checkpoint: the model plus the optimizer (kind, hyperparameters,
 * schedule, step count, per-parameter state), so that loading it and calling
 * graft_model_fit() with the same options continues exactly as if training
 * had not stopped. Atomic, like graft_model_save(). Errors: as
 * graft_model_save(). Since 1.0. */
GRAFT_API int graft_checkpoint_save(const graft_model *model, const graft_optim *optim,
                                    const char *path);

/* Loads a checkpoint into a new model and optimizer (caller owns both).
 * Errors: as graft_model_load(); a plain model file is GRAFT_E_FORMAT.
 * Since 1.0. */
GRAFT_API int graft_checkpoint_load(graft_ctx *ctx, const char *path, graft_model **model,
                                    graft_optim **optim);

/* Like graft_model_save() into memory: *data receives *size bytes, exactly
 * the bytes graft_model_save() would write, allocated in the model's
 * context; the caller frees them with graft_buffer_free(). *data and *size
 * are NULL and 0 on failure. Errors: GRAFT_E_INVALID_ARG (NULL arguments),
 * GRAFT_E_NOMEM. Since 1.3. */
GRAFT_API int graft_model_save_buffer(const graft_model *model, void **data, size_t *size);

/* Like graft_checkpoint_save() into memory; *data as for
 * graft_model_save_buffer(). Since 1.3. */
GRAFT_API int graft_checkpoint_save_buffer(const graft_model *model, const graft_optim *optim,
                                           void **data, size_t *size);

/* Like graft_checkpoint_load() from size bytes at data (read, not kept);
 * messages name no file. Errors: as graft_model_load_buffer(); a model
 * file (kind 1) is GRAFT_E_FORMAT. Since 1.3. */
GRAFT_API int graft_checkpoint_load_buffer(graft_ctx *ctx, const void *data, size_t size,
                                           graft_model **model, graft_optim **optim);


/* ======================================================================== */
/* ONNX import and export                                                   */
/* ======================================================================== */

/* graft reads and writes ONNX model files (the protobuf ModelProto) with its
 * own bounded decoder: no ONNX or protobuf library is needed. docs/ONNX.md
 * lists the operators, how each maps to graft's layers, and the limits. */

/* Options of graft_onnx_import(). Initialise with GRAFT_ONNX_IMPORT_OPTS_INIT;
 * a NULL options pointer means the defaults. */
typedef struct graft_onnx_import_opts {
    uint32_t struct_size; /* sizeof(graft_onnx_import_opts) */
    int keep_softmax;     /* 0 (default): a Softmax that produces the graph output
                             is dropped, so the model outputs logits, as
                             graft_model_fit() and graft_model_predict() expect;
                             1: it is kept as a softmax layer */
    int batch_axis;       /* 1 (default): the graph input's first axis is the
                             batch; 0: the graph has no batch axis, its input is
                             one sample (graft adds the batch axis) */
    const char *input_name; /* the graph input that becomes the model input;
                               NULL (default): the only graph input that has no
                               initializer and no bound value */
    int n_bound;            /* graph inputs fixed to constant values (default 0) */
    const char *const *bound_names;           /* n_bound input names */
    const graft_tensor *const *bound_values;  /* n_bound values, in the ONNX
                                                 shape of each input (read, not
                                                 kept) */
    uint64_t seed;          /* the model's seed (see graft_model_create()) */
    int input_ndim;         /* the number of sizes at input_shape; 0 (default):
                               none given. Since 1.2 */
    const int64_t *input_shape; /* input_ndim sizes fixing the graph input's open
                                   sizes (read, not kept; see graft_onnx_import()).
                                   Since 1.2 */
    const graft_preprocess *preprocess; /* the model's input preprocessing
                                   (read, not kept); NULL (default): the file's
                                   "graft.preprocess.*" metadata_props when it has
                                   them, else none (see graft_onnx_import()).
                                   Since 1.3 */
} graft_onnx_import_opts;
#define GRAFT_ONNX_IMPORT_OPTS_INIT \
    { (uint32_t)sizeof(graft_onnx_import_opts), 0, 1, NULL, 0, NULL, NULL, 0, 0, NULL, NULL }

/* Imports the ONNX model file at path as a graft model with its weights.
 * The graph must have one float input of fixed shape (but for a fixed or
 * symbolic batch size; open sizes are fixed with input_shape, below), NCHW
 * for images, and one output. Each ONNX node
 * becomes a layer named after the node (characters outside
 * [A-Za-z0-9_.:/-] become '_', names are cut to 63 characters and made
 * unique with a _2, _3, ... suffix; a node without a name is named after its
 * operator and index, e.g. "Conv_3"), so layers can be frozen and cut by
 * name. Constant subgraphs (the shape computations exporters emit, Constant
 * nodes, initializers) are evaluated at import; Identity and Dropout nodes
 * are removed; a zero constant Pad read only by a convolution becomes its
 * padding; MatMul followed by Add of a constant becomes one dense layer with
 * that bias; HardSigmoid times its own input becomes hard_swish. Every
 * constant is evaluated before any layer is made, so these fusions do not
 * depend on where a constant's node is in the file (tf2onnx writes a Keras
 * Dense as MatMul, the bias's Constant node, then Add). Activations written
 * out as chains of elementwise nodes become their one layer (since 1.2): x *
 * Sigmoid(x) silu; Clip(x + 3, 0, 6) / 6 hard_sigmoid and x times it
 * hard_swish (either order, / 6 or * 1/6); x * (1 + Erf(x / sqrt(2))) / 2
 * gelu and PyTorch's tanh approximation gelu (GRAFT_GELU_TANH), when every
 * value inside the chain is read by the chain alone and its constants are
 * the expected ones to float32 precision (docs/ONNX.md, section 1.5).
 * BatchNormalization becomes a batch_norm layer with the file's running
 * statistics, epsilon and momentum; it is not folded into the convolution
 * at import, but an inference forward runs conv2d -> batch_norm (-> relu,
 * clip or hard_swish) as one fused pass, and training runs them as
 * separate layers. Every layer is trainable. Opsets 1 to 18 of the default domain
 * are read; docs/ONNX.md lists the operators.
 * *out: caller owns the model; free with graft_model_free().
 * Errors: GRAFT_E_INVALID_ARG (NULL ctx, path or out, bad options),
 * GRAFT_E_VERSION (opts->struct_size, or an opset above 18), GRAFT_E_IO,
 * GRAFT_E_FORMAT (a malformed file: the message gives the offset or the
 * node and what was wrong; a file over the ceiling below), GRAFT_E_NOT_FOUND (input_name is not a graph
 * input), GRAFT_E_UNSUPPORTED (an operator, attribute or shape graft cannot
 * compute; nothing is ever skipped: see below), GRAFT_E_SHAPE (a layer
 * cannot take the shapes the graph gives it), GRAFT_E_NOMEM. Since 1.0.
 *
 * Unsupported nodes are reported all at once: the import goes on past a
 * node it cannot import, to find the others. A node that reads the output
 * of such a node is not tried (the shapes it would get are not known), but
 * it is reported too when graft has no handler for its operator at all.
 * One node gives the message "node "x" (Op): reason"; several give "N nodes
 * graft cannot import (a Op1, b Op2, ...): node "x" (Op1): reason; node "y"
 * (Op2): reason; ...", with the count of each operator in order of first
 * appearance, then the nodes in file order, as many as the message holds
 * (graft_errmsg() text is bounded; the rest is counted as "; ... and K
 * more"). The reason names the attribute values graft does not compute
 * (e.g. mode "cubic"). Either form ends with "; M later nodes that read
 * their outputs were not checked" (in the singular for one node) when such
 * nodes were passed over: fixing the listed nodes may reveal more. Any other
 * failure (a malformed file, memory) stops the import at once with its own
 * status.
 *
 * Open input sizes (Since 1.2). Exporters often leave sizes of the graph
 * input open: symbolic (a dim_param such as "height") or unset. graft
 * builds a model for one input shape, so every size but the batch must be
 * known. Without input_shape (input_ndim 0) an open size is
 * GRAFT_E_UNSUPPORTED, and the message names every open axis of the input
 * and the option, e.g. "axis 2 ("height") and axis 3 ("width") of the graph
 * input "x" have no fixed size; give them with the import option
 * input_shape (CLI: --input-shape 1x3xheightxwidth)". With input_shape,
 * input_ndim is the rank of the graph input and input_shape[a] the size of
 * its ONNX axis a: the batch axis included when batch_axis is 1, every axis
 * when it is 0. A size must be positive, except the batch entry (batch_axis
 * 1), which may also be 0 or -1. graft models take any batch size whatever
 * is given; a positive batch entry is read as the exporter's fixed batch
 * size would be (a Reshape whose target starts with it keeps the batch). A
 * size the file fixes must be given unchanged. The given sizes replace the
 * open ones before the graph is walked, so every shape computed from the
 * input (Shape, Gather, Concat, ... feeding a Reshape's target or a
 * Resize's sizes) is evaluated with them. A graph input stored without a
 * shape takes input_shape whole. Refused with GRAFT_E_INVALID_ARG:
 * input_ndim below 0 or above 8, input_shape NULL with input_ndim above 0,
 * a size below 1 (but the batch entry as said), input_ndim other than the
 * input's rank ("input_shape has 3 sizes; the graph input "x" has rank 4"),
 * a size other than the file's ("input_shape gives axis 1 of the graph
 * input "x" the size 4; the file fixes it at 3"). A caller built against
 * 1.0 or 1.1 (a smaller struct_size) gets input_ndim 0.
 *
 * Preprocessing (Since 1.3). The model gets opts->preprocess when it is not
 * NULL (checked as graft_model_set_preprocess() checks it: GRAFT_E_INVALID_ARG,
 * GRAFT_E_VERSION or GRAFT_E_SHAPE), else the preprocessing graft_onnx_export()
 * wrote into the file's metadata_props ("graft.preprocess.*" keys,
 * docs/ONNX.md), else none. Metadata that is incomplete, repeated, does not
 * parse or does not fit the model is GRAFT_E_FORMAT naming the key; a
 * "graft.preprocess.version" above 1 is GRAFT_E_VERSION. Other
 * metadata_props are ignored. A caller built against 1.0 to 1.2 gets NULL.
 *
 * Bounded reads: ONNX has no header, so the file is read one top-level
 * protobuf field at a time, each key checked before its value is read and
 * each value read only as far as its key declares; a key no message can
 * have ends the reading (so /dev/zero costs one byte). The ceiling is 2 GiB
 * (2147483648 bytes, the most a protobuf message can hold): a larger
 * regular file is refused from its size, a FIFO, pipe or device as soon as
 * a field's declared length would pass it ("... larger than the
 * 2147483648-byte limit of ONNX files"). Opening never waits for a FIFO's
 * writer: a FIFO without one reads as empty. */
GRAFT_API int graft_onnx_import(graft_ctx *ctx, const char *path,
                                const graft_onnx_import_opts *opts, graft_model **out);

/* Like graft_onnx_import() from size bytes at data (read, not kept).
 * Since 1.0. */
GRAFT_API int graft_onnx_import_buffer(graft_ctx *ctx, const void *data, size_t size,
                                       const graft_onnx_import_opts *opts,
                                       graft_model **out);

/* Options of graft_onnx_export(). Initialise with GRAFT_ONNX_EXPORT_OPTS_INIT;
 * a NULL options pointer means the defaults. */
typedef struct graft_onnx_export_opts {
    uint32_t struct_size;    /* sizeof(graft_onnx_export_opts) */
    int opset;               /* ONNX opset of the file, 13 (default) to 17 */
    int fold_batch_norm;     /* 1: a batch_norm layer that reads a conv2d layer
                                read by nothing else is folded into the conv's
                                weight and bias (inference-equivalent); 0
                                (default): exported as BatchNormalization */
    const char *input_name;  /* graph input name; NULL: "input" */
    const char *output_name; /* graph output name; NULL: "output" */
} graft_onnx_export_opts;
#define GRAFT_ONNX_EXPORT_OPTS_INIT \
    { (uint32_t)sizeof(graft_onnx_export_opts), 13, 0, NULL, NULL }

/* Writes the model as an ONNX file (IR version 7 for opsets 13 and 14, 8
 * for 15 to 17) whose graph computes what graft_model_forward() computes,
 * with a symbolic batch size "N". Every layer kind is exported; layer names
 * become node names, so graft_onnx_import() gives the layers back under
 * their names. Since 1.3 the model's input preprocessing, when it has one,
 * is written as metadata_props ("graft.preprocess.*", docs/ONNX.md), which
 * graft_onnx_import() reads back. The file is written to a temporary file beside path, flushed
 * and renamed over it.
 * Errors: GRAFT_E_INVALID_ARG (NULL, bad options), GRAFT_E_VERSION
 * (struct_size), GRAFT_E_STATE (a model without layers), GRAFT_E_IO,
 * GRAFT_E_NOMEM. Since 1.0. */
GRAFT_API int graft_onnx_export(const graft_model *model, const char *path,
                                const graft_onnx_export_opts *opts);

/* Like graft_onnx_export() into memory: *data receives size bytes the
 * caller frees with graft_onnx_buffer_free(). Since 1.0. */
GRAFT_API int graft_onnx_export_buffer(const graft_model *model,
                                       const graft_onnx_export_opts *opts, void **data,
                                       size_t *size);

/* Frees a buffer from graft_onnx_export_buffer(); ctx is the model's
 * context. Accepts NULL data. Since 1.0. */
GRAFT_API void graft_onnx_buffer_free(graft_ctx *ctx, void *data);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* GRAFT_H */
