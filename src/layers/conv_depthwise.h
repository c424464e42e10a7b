/*
 * conv_depthwise.h - convolutions with one input channel per group and few
 * outputs per input channel (depthwise, as in MobileNet), by direct loops
 * per channel instead of a matrix product; used by layer_conv2d.c.
 *
 * Output channel o = c*Og + j of such a layer reads input channel c only,
 * so each output plane is a sum of shifted, weighted input rows:
 *  - 3x3 kernels with dilation 1 and strides of 1 or 2 split the zero-padded
 *    input plane into stride-phase planes, in which every tap is one shifted
 *    stream and a whole plane is one vector loop (conv_depthwise.c);
 *  - any other kernel, stride, dilation and padding go one output row at a
 *    time (it stays in the L1 cache), each kernel row in one pass over the
 *    columns where all its taps read inside the input, the edge columns one
 *    by one.
 * The backward pass is the exact adjoint of these loops: weight gradients
 * as dot products of output-gradient rows with input rows, input gradients
 * by the same taps at negated shifts.
 *
 * Rounding: each value is summed in a fixed order, the same in the copies
 * compiled per CPU (vec.h; conv_depthwise.c does not contract multiply-adds).
 *
 * Threads: a call runs on p->workers threads (parallel.h), split by input
 * channel: input channel c feeds output channels c*Og .. c*Og + Og - 1 of
 * every image, so a range of input channels owns their input planes, output
 * planes, weights and weight gradients, and each value is summed in the
 * order one thread uses (images in order, then output channels). The bytes
 * are the same for any count. None of these keep state; a plan and its
 * workspace are the caller's.
 */
#ifndef GRAFT_CONV_DEPTHWISE_H
#define GRAFT_CONV_DEPTHWISE_H

#include "conv_common.h"
#include "layer.h"

/* The geometry of the 3x3 kernels on phase planes (conv_depthwise.c). */
typedef struct graftDepthwise3x3 {
    int sh, sw, pt, pl, h, w, oh, ow;
    int hq, wq;   /* phase plane height and width */
    int nph;      /* SH * SW phases */
    size_t plen;  /* floats per phase plane, with a zeroed tail for over-reads */
    size_t n;     /* OH * WQ: flat length of one output plane at width WQ */
    size_t dq;    /* zeros in front of dYq */
} graftDepthwise3x3;

typedef struct graftDepthwise {
    graft_conv2d_spec sp; /* the layer's attributes */
    graftConvDims d;      /* the call's sizes */
    int n;                /* images */
    int workers;          /* threads the loops run on (parallel.h) */
    int dw3;              /* 1: the 3x3 kernels on phase planes; 0: the generic loops */
    graftDepthwise3x3 g;  /* dw3: their geometry */
    size_t work_len;      /* dw3: floats of workspace per worker */
} graftDepthwise;

/* Fills *p for n images of a convolution with attributes sp and sizes d and
 * returns 1, or returns 0 when this module does not take it: more than one
 * input channel per group, or more than 4 outputs per input channel (a
 * one-channel input with many output channels, a network's first layer on
 * grey images, goes to the matrix product, which reads each input row once
 * for all of them). */
int graftDepthwisePlan(graftDepthwise *p, const graft_conv2d_spec *sp, const graftConvDims *d,
                       int n);

/* Floats of workspace forward and backward need: 0 for the generic loops. */
size_t graftDepthwiseWorkspace(const graftDepthwise *p);

/* y = conv(x, wt) + bias (bias may be NULL); with ep, each output plane
 * then goes through the fused epilogue (layer.h) while it is in cache. */
void graftDepthwiseForward(const graftDepthwise *p, const float *x, const float *wt,
                           const float *bias, float *y, float *work, const graftEpilogue *ep);

/* Given dy, overwrites dw (when not NULL) with the kernel gradient and dx
 * (when not NULL) with the input gradient. The bias gradient is the caller's. */
void graftDepthwiseBackward(const graftDepthwise *p, const float *x, const float *wt,
                            const float *dy, float *dw, float *dx, float *work);

#endif /* GRAFT_CONV_DEPTHWISE_H */
