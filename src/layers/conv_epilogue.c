/*
 * conv_epilogue.c - the fused step after a convolution's product: a batch
 * norm's per-channel affine map and a relu, clip or hard_swish, applied while a plane
 * is in cache (layer.h, "fused inference"). Both convolution paths use it:
 * the matrix product in layer_conv2d.c and conv_winograd.c.
 */
#include "layer.h"
#include "core/vec.h"

/* The per-element bodies repeat batch_norm's inference expression
 * (a * v + b in float) and relu's, clip's and hard_swish's, so that a fused value is the
 * value the three layers compute one after the other, a NaN passing through
 * relu and clip as it does in layer_activation.c. Blocks of 8 with
 * fixed-length inner loops, as the row kernels above. */
#define EPI_EACH(n, ...)                                        \
    do {                                                        \
        size_t i_ = 0;                                          \
        for (; i_ + 8 <= (n); i_ += 8)                          \
            for (size_t u_ = 0; u_ < 8; u_++) {                 \
                const size_t i = i_ + u_;                       \
                __VA_ARGS__;                                    \
            }                                                   \
        for (; i_ < (n); i_++) {                                \
            const size_t i = i_;                                \
            __VA_ARGS__;                                        \
        }                                                       \
    } while (0)

/* The clamp of an epilogue applied to v, stored to dst. */
#define EPI_STORE(dst, v, ep_act, lo, hi)                       \
    do {                                                        \
        float v_ = (v);                                         \
        if ((ep_act) == GRAFT_EPI_RELU) v_ = v_ <= 0.0f ? 0.0f : v_; \
        if ((ep_act) == GRAFT_EPI_CLIP) {                       \
            v_ = v_ < (lo) ? (lo) : v_;                         \
            v_ = v_ > (hi) ? (hi) : v_;                         \
        }                                                       \
        if ((ep_act) == GRAFT_EPI_HARD_SWISH) {                 \
            float g_ = v_ + 3.0f;                               \
            g_ = g_ < 0.0f ? 0.0f : g_;                         \
            g_ = g_ > 6.0f ? 6.0f : g_;                         \
            v_ = v_ * g_ / 6.0f;                                \
        }                                                       \
        (dst) = v_;                                             \
    } while (0)

/* d[i] = clamp(a * (s[i] + bias) + b), i < n (d and s do not overlap).
 * The bias is added first, in float, as the unfused forward stores it. */
GRAFT_VECTOR_CLONES
void graftEpilogueCopy(float *restrict d, const float *restrict s, size_t n, float bias, float a,
                     float b, const graftEpilogue *ep)
{
    const float lo = ep->lo, hi = ep->hi;
    switch (ep->act) {
    case GRAFT_EPI_NONE:
        EPI_EACH(n, EPI_STORE(d[i], a * (s[i] + bias) + b, GRAFT_EPI_NONE, lo, hi));
        break;
    case GRAFT_EPI_RELU:
        EPI_EACH(n, EPI_STORE(d[i], a * (s[i] + bias) + b, GRAFT_EPI_RELU, lo, hi));
        break;
    case GRAFT_EPI_CLIP:
        EPI_EACH(n, EPI_STORE(d[i], a * (s[i] + bias) + b, GRAFT_EPI_CLIP, lo, hi));
        break;
    case GRAFT_EPI_HARD_SWISH:
        EPI_EACH(n, EPI_STORE(d[i], a * (s[i] + bias) + b, GRAFT_EPI_HARD_SWISH, lo, hi));
        break;
    }
}

/* One output channel's plane (or row) in place, o the channel (layer.h). */
GRAFT_VECTOR_CLONES
void graftEpiloguePlane(float *restrict y, size_t n, const graftEpilogue *ep, int o)
{
    const float a = ep->scale[o], b = ep->shift[o], lo = ep->lo, hi = ep->hi;
    switch (ep->act) {
    case GRAFT_EPI_NONE:
        EPI_EACH(n, EPI_STORE(y[i], a * y[i] + b, GRAFT_EPI_NONE, lo, hi));
        break;
    case GRAFT_EPI_RELU:
        EPI_EACH(n, EPI_STORE(y[i], a * y[i] + b, GRAFT_EPI_RELU, lo, hi));
        break;
    case GRAFT_EPI_CLIP:
        EPI_EACH(n, EPI_STORE(y[i], a * y[i] + b, GRAFT_EPI_CLIP, lo, hi));
        break;
    case GRAFT_EPI_HARD_SWISH:
        EPI_EACH(n, EPI_STORE(y[i], a * y[i] + b, GRAFT_EPI_HARD_SWISH, lo, hi));
        break;
    }
}
