"""Layer constructors.

Each function creates an unbuilt layer (a :class:`Layer`) from its
attributes; :meth:`graft.Model.add` builds it for the shapes it reads and
takes it over. Defaults are graft's (``GRAFT_CONV2D_SPEC_INIT``,
``GRAFT_POOL2D_SPEC_INIT``); bad attributes raise
:class:`~graft.InvalidArgumentError` with graft's message naming the
attribute. Images are NCHW.

Sizes given as ``int or pair`` accept ``3`` or ``(3, 5)`` (height, width);
``padding`` also accepts four values (top, left, bottom, right).
Shapes given to :func:`reshape` and :func:`scale_shift` are per sample (no
batch dimension) and accept an int or a sequence of ints.
"""

import ctypes

from . import _api
from . import _lib
from .context import Handle, resolve

#: The layer kinds, in the order of graft's registry (src/layers/kinds.h):
#: the names graft_layer_kind() reports and model files use. Each has a
#: constructor of that name here (tests/test_layer_kinds.py checks it).
KINDS = _api.LAYER_KINDS

# One constructor per kind, and relu6, a clip of its own.
__all__ = ["Layer"] + list(KINDS) + ["relu6"]

# pad2d's modes by name: GRAFT_PAD_REFLECT is "reflect", and so on.
_PAD_MODES = _api.named("GRAFT_PAD_")
# upsample2d's choices by name, likewise.
_UPSAMPLE_MODES = _api.named("GRAFT_UPSAMPLE_")
_COORDS = _api.named("GRAFT_COORD_")
_NEAREST = _api.named("GRAFT_NEAREST_")
# gelu's forms: "erf" and "tanh", and PyTorch's name "none" for the erf form.
_GELU_FORMS = dict(_api.named("GRAFT_GELU_"), none=_api.CONSTANTS["GRAFT_GELU_ERF"])


class Layer(Handle):
    """A layer not (yet) in a model. The Python object owns it until it is
    passed to :meth:`graft.Model.add`, which takes it over whether or not
    the add succeeds; the object is then closed (``layer.closed`` is True).
    """

    _free_name = "graft_layer_free"

    @classmethod
    def _create(cls, ctx, fn, *args):
        ctx = resolve(ctx)
        out = ctypes.c_void_p()
        _lib.call(fn, ctx.handle, *args, ctypes.byref(out))
        self = cls.__new__(cls)
        self._adopt(ctx, out.value)
        return self

    @property
    def kind(self):
        """The stable kind name, e.g. "conv2d", "dense" (graft_layer_kind())."""
        return _lib.decode(_lib.C.graft_layer_kind(self.handle))

    def __repr__(self):
        if self.closed:
            return "<graft.Layer (handed over or closed)>"
        return "<graft.Layer %s>" % self.kind


def _pair(value, what):
    if isinstance(value, int):
        return value, value
    v = tuple(value)
    if len(v) != 2:
        raise ValueError("%s must be an int or a pair of ints" % what)
    return int(v[0]), int(v[1])


def _padding(value):
    if isinstance(value, int):
        return value, value, value, value
    v = tuple(int(x) for x in value)
    if len(v) == 2:
        return v[0], v[1], v[0], v[1]
    if len(v) == 4:
        return v
    raise ValueError("padding must be an int, (height, width) or (top, left, bottom, right)")


def conv2d(out_channels, kernel_size=1, *, stride=1, padding=0, dilation=1, groups=1,
           bias=True, ctx=None):
    """2-D convolution over NCHW input (graft_layer_conv2d()).

    Args:
        out_channels: output channels, >= 1, divisible by groups.
        kernel_size: int or (height, width), >= 1 (default 1).
        stride: int or pair, >= 1 (default 1).
        padding: int, (height, width) or (top, left, bottom, right), >= 0
            (default 0).
        dilation: int or pair, >= 1 (default 1).
        groups: >= 1, dividing the input and output channels (default 1;
            groups == in == out channels is a depthwise convolution).
        bias: add a learned bias (default True).
    """
    kh, kw = _pair(kernel_size, "kernel_size")
    sh, sw = _pair(stride, "stride")
    dh, dw = _pair(dilation, "dilation")
    pt, pl, pb, pr = _padding(padding)
    spec = _lib.new_struct(
        _lib.Conv2dSpec, out_channels=int(out_channels), kernel_h=kh, kernel_w=kw,
        stride_h=sh, stride_w=sw, pad_top=pt, pad_left=pl, pad_bottom=pb, pad_right=pr,
        dilation_h=dh, dilation_w=dw, groups=int(groups), bias=1 if bias else 0)
    return Layer._create(ctx, _lib.C.graft_layer_conv2d, ctypes.byref(spec))


def _pool(fn, kernel_size, stride, padding, ceil_mode, count_include_pad, ctx):
    kh, kw = _pair(kernel_size, "kernel_size")
    sh, sw = _pair(stride, "stride")
    pt, pl, pb, pr = _padding(padding)
    spec = _lib.new_struct(
        _lib.Pool2dSpec, kernel_h=kh, kernel_w=kw, stride_h=sh, stride_w=sw, pad_top=pt,
        pad_left=pl, pad_bottom=pb, pad_right=pr, ceil_mode=1 if ceil_mode else 0,
        count_include_pad=1 if count_include_pad else 0)
    return Layer._create(ctx, fn, ctypes.byref(spec))


def max_pool2d(kernel_size, *, stride=1, padding=0, ceil_mode=False, ctx=None):
    """Max pooling per channel (graft_layer_max_pool2d()); padding never wins.

    Note graft's default stride is 1, not the kernel size: write
    ``max_pool2d(2, stride=2)`` for the usual halving.
    Padding must be smaller than the kernel; ceil_mode rounds the output
    size up.
    """
    return _pool(_lib.C.graft_layer_max_pool2d, kernel_size, stride, padding, ceil_mode,
                 False, ctx)


def avg_pool2d(kernel_size, *, stride=1, padding=0, ceil_mode=False, count_include_pad=False,
               ctx=None):
    """Average pooling per channel (graft_layer_avg_pool2d()).

    count_include_pad: True divides by the whole window (padding counted as
    zeros), False (default) by the input cells the window covers.
    """
    return _pool(_lib.C.graft_layer_avg_pool2d, kernel_size, stride, padding, ceil_mode,
                 count_include_pad, ctx)


def global_avg_pool(*, ctx=None):
    """(N, C, H, W) -> (N, C, 1, 1), the mean over H and W."""
    return Layer._create(ctx, _lib.C.graft_layer_global_avg_pool)


def dense(units, *, bias=True, ctx=None):
    """Fully connected: (N, ...) read as (N, F) -> (N, units);
    out = in @ weight.T + bias, weight (units, F)."""
    return Layer._create(ctx, _lib.C.graft_layer_dense, int(units), 1 if bias else 0)


def batch_norm(*, epsilon=1e-5, momentum=0.1, ctx=None):
    """Batch normalisation over the channel axis (PyTorch's conventions):
    epsilon > 0, momentum in [0, 1] (running = (1 - momentum) * running +
    momentum * batch)."""
    return Layer._create(ctx, _lib.C.graft_layer_batch_norm, float(epsilon), float(momentum))


def relu(*, ctx=None):
    """max(0, x)."""
    return Layer._create(ctx, _lib.C.graft_layer_relu)


def clip(lo, hi, *, ctx=None):
    """min(max(x, lo), hi); lo <= hi, both finite."""
    return Layer._create(ctx, _lib.C.graft_layer_clip, float(lo), float(hi))


def relu6(*, ctx=None):
    """clip(0, 6)."""
    return clip(0.0, 6.0, ctx=ctx)


def leaky_relu(alpha=0.01, *, ctx=None):
    """x for x >= 0, alpha * x otherwise."""
    return Layer._create(ctx, _lib.C.graft_layer_leaky_relu, float(alpha))


def sigmoid(*, ctx=None):
    """1 / (1 + exp(-x))."""
    return Layer._create(ctx, _lib.C.graft_layer_sigmoid)


def tanh(*, ctx=None):
    """tanh(x)."""
    return Layer._create(ctx, _lib.C.graft_layer_tanh)


def hard_swish(*, ctx=None):
    """x * min(max(x + 3, 0), 6) / 6."""
    return Layer._create(ctx, _lib.C.graft_layer_hard_swish)


def dropout(rate, *, seed=0, ctx=None):
    """Inverted dropout with probability rate in [0, 1) while training; the
    identity at inference. Masks come from seed (repeatable)."""
    return Layer._create(ctx, _lib.C.graft_layer_dropout, float(rate), int(seed))


def flatten(*, ctx=None):
    """(N, d1, d2, ...) -> (N, d1*d2*...)."""
    return Layer._create(ctx, _lib.C.graft_layer_flatten)


def add(*, ctx=None):
    """Elementwise sum of 2 or more inputs of one shape (residuals)."""
    return Layer._create(ctx, _lib.C.graft_layer_add)


def concat(axis=1, *, ctx=None):
    """Concatenation of inputs along axis (1, the channel axis, by default;
    axes count the batch as axis 0, and a negative axis counts from the
    end); the other dimensions must agree. Another axis than 1 needs graft
    1.2."""
    if axis == 1:
        return Layer._create(ctx, _lib.C.graft_layer_concat)
    return Layer._create(ctx, _lib.C.graft_layer_concat_axis, axis)


def softmax(*, axis=1, ctx=None):
    """Softmax along one axis, counted as ONNX counts it with the batch as
    axis 0: 1 to rank - 1, or negative from the end (-1: the last axis, as
    attention's scores need). The default, axis 1, is the channel axis."""
    if int(axis) == 1:
        return Layer._create(ctx, _lib.C.graft_layer_softmax)
    return Layer._create(ctx, _lib.C.graft_layer_softmax_axis, int(axis))


def layer_norm(axes=1, *, epsilon=1e-5, affine=True, ctx=None):
    """Layer normalisation of the last `axes` axes of each sample (PyTorch's
    nn.LayerNorm with normalized_shape those axes' sizes): (x - mean) /
    sqrt(var + epsilon) * weight + bias, weight (init 1) and bias (init 0)
    of the normalised shape when affine."""
    return Layer._create(ctx, _lib.C.graft_layer_layer_norm, int(axes), float(epsilon),
                         1 if affine else 0)


def matmul(*, ctx=None):
    """Batched matrix product of two inputs (torch.matmul, ONNX MatMul):
    (N, ..., M, K) times (N, ..., K, P), one rank >= 3, the axes between the
    batch and the last two broadcasting (equal sizes, or 1)."""
    return Layer._create(ctx, _lib.C.graft_layer_matmul)


def linear(units, *, bias=True, ctx=None):
    """Fully connected over the last axis (PyTorch's nn.Linear on any rank):
    (N, ..., F) -> (N, ..., units); a dense layer (kind "dense")."""
    return Layer._create(ctx, _lib.C.graft_layer_linear, int(units), 1 if bias else 0)


def mul(*, ctx=None):
    """Elementwise product of two inputs of one rank (>= 2) and batch size,
    broadcasting size-1 axes, e.g. a squeeze-and-excitation gate
    (N, C, 1, 1) times the features (N, C, H, W)."""
    return Layer._create(ctx, _lib.C.graft_layer_mul)


def hard_sigmoid(alpha=1.0 / 6.0, beta=0.5, *, ctx=None):
    """min(max(alpha * x + beta, 0), 1); alpha and beta finite. The
    defaults (1/6, 1/2) are PyTorch's hardsigmoid (ONNX's HardSigmoid
    defaults are alpha 0.2)."""
    return Layer._create(ctx, _lib.C.graft_layer_hard_sigmoid, float(alpha), float(beta))


def silu(*, ctx=None):
    """x * sigmoid(x) (SiLU, swish), PyTorch's nn.SiLU. Since 1.2."""
    return Layer._create(ctx, _lib.C.graft_layer_silu)


def gelu(approximate="none", *, ctx=None):
    """x * P(x), P the standard normal CDF: approximate "none" (or "erf") is
    the exact erf form, "tanh" the tanh approximation, as PyTorch's
    nn.GELU(approximate=...). Since 1.2."""
    try:
        form = _GELU_FORMS[approximate]
    except (KeyError, TypeError):
        raise ValueError("approximate must be one of %s, not %r"
                         % (", ".join(map(repr, _GELU_FORMS)), approximate)) from None
    return Layer._create(ctx, _lib.C.graft_layer_gelu, form)


def pad2d(padding, *, mode="constant", value=0.0, ctx=None):
    """Pads the last two axes (H, W) of (N, ..., H, W) input, rank >= 3.

    Args:
        padding: int, (height, width) or (top, left, bottom, right), >= 0.
        mode: "constant" (fill with value), "reflect" (mirror without
            repeating the edge; every pad smaller than its axis) or "edge"
            (repeat the edge).
        value: the fill value of "constant", finite (default 0).
    """
    pt, pl, pb, pr = _padding(padding)
    spec = _lib.new_struct(_lib.Pad2dSpec, pad_top=pt, pad_left=pl, pad_bottom=pb,
                           pad_right=pr, mode=_mode(mode), value=float(value))
    return Layer._create(ctx, _lib.C.graft_layer_pad2d, ctypes.byref(spec))


def upsample2d(scale=2.0, *, size=None, mode="nearest", coord="half_pixel",
               nearest="round_prefer_floor", ctx=None):
    """Resizes the last two axes (H, W) of (N, ..., H, W) input, rank >= 3,
    as ONNX Resize does.

    Args:
        scale: a number or (height, width): the output is floor(H * scale);
            used for an axis whose size is not given.
        size: None, or (height, width) of the output (0 in either keeps
            that axis on its scale).
        mode: "nearest" or "linear" (bilinear).
        coord: "half_pixel" (ONNX's default), "align_corners",
            "asymmetric" or "pytorch_half_pixel". PyTorch's nearest is
            "asymmetric" with nearest="floor"; its bilinear is "half_pixel"
            or, with align_corners, "align_corners".
        nearest: rounding of "nearest": "round_prefer_floor",
            "round_prefer_ceil", "floor" or "ceil".
    """
    sh, sw = (scale, scale) if isinstance(scale, (int, float)) else scale
    oh, ow = (0, 0) if size is None else size
    spec = _lib.new_struct(_lib.Upsample2dSpec, scale_h=float(sh), scale_w=float(sw),
                           out_h=int(oh), out_w=int(ow),
                           mode=_choice("mode", mode, _UPSAMPLE_MODES),
                           coord=_choice("coord", coord, _COORDS),
                           nearest=_choice("nearest", nearest, _NEAREST))
    return Layer._create(ctx, _lib.C.graft_layer_upsample2d, ctypes.byref(spec))


def conv_transpose2d(out_channels, kernel_size=1, *, stride=1, padding=0, output_padding=0,
                     dilation=1, groups=1, bias=True, ctx=None):
    """2-D transposed convolution over NCHW input
    (graft_layer_conv_transpose2d()), as ONNX ConvTranspose and PyTorch's
    ConvTranspose2d: the weight is (in_channels, out_channels/groups,
    kernel_h, kernel_w) and the output height is
    stride*(H-1) + output_padding + dilation*(kernel-1) + 1 - pad_top -
    pad_bottom (the width likewise).

    Args:
        out_channels: output channels, >= 1, divisible by groups.
        kernel_size: int or (height, width), >= 1 (default 1).
        stride: int or pair, >= 1 (default 1).
        padding: int, (height, width) or (top, left, bottom, right), >= 0
            (default 0): rows and columns removed from the output's edges.
        output_padding: int or pair, >= 0 (default 0): rows added at the
            bottom and columns at the right; each smaller than its stride or
            its dilation.
        dilation: int or pair, >= 1 (default 1).
        groups: >= 1, dividing the input and output channels (default 1).
        bias: add a learned bias (default True).
    """
    kh, kw = _pair(kernel_size, "kernel_size")
    sh, sw = _pair(stride, "stride")
    oph, opw = _pair(output_padding, "output_padding")
    dh, dw = _pair(dilation, "dilation")
    pt, pl, pb, pr = _padding(padding)
    spec = _lib.new_struct(
        _lib.ConvTranspose2dSpec, out_channels=int(out_channels), kernel_h=kh, kernel_w=kw,
        stride_h=sh, stride_w=sw, pad_top=pt, pad_left=pl, pad_bottom=pb, pad_right=pr,
        output_padding_h=oph, output_padding_w=opw, dilation_h=dh, dilation_w=dw,
        groups=int(groups), bias=1 if bias else 0)
    return Layer._create(ctx, _lib.C.graft_layer_conv_transpose2d, ctypes.byref(spec))


def _choice(what, value, table):
    try:
        return table[value]
    except (KeyError, TypeError):
        raise ValueError("%s must be one of %s, not %r"
                         % (what, ", ".join(map(repr, table)), value)) from None


def _mode(mode):
    try:
        return _PAD_MODES[mode]
    except (KeyError, TypeError):
        raise ValueError("mode must be one of %s, not %r"
                         % (", ".join(map(repr, _PAD_MODES)), mode)) from None


def _dims(shape):
    shape = (shape,) if isinstance(shape, int) else tuple(int(d) for d in shape)
    return len(shape), _lib.int64_array(shape, "shape")


def reshape(shape, *, ctx=None):
    """(N, ...) -> (N, *shape): the same elements in the same row-major
    order. shape has 1 to 7 sizes, each >= 1, whose product is the input's
    per-sample size (checked when the layer is added)."""
    ndim, dims = _dims(shape)
    return Layer._create(ctx, _lib.C.graft_layer_reshape, ndim, dims)


def scale_shift(shape, *, ctx=None):
    """x * scale + shift, with the constant (untrained) buffers "scale"
    (init 1) and "shift" (init 0) of the per-sample shape given, which
    broadcasts over the input: one size per input axis after the batch,
    each 1 or that axis's size. (C, 1, 1) is a per-channel affine map of
    (N, C, H, W); set the values with ``model[name].set_parameter()``."""
    ndim, dims = _dims(shape)
    return Layer._create(ctx, _lib.C.graft_layer_scale_shift, ndim, dims)


def transpose(perm, *, ctx=None):
    """Permutes the axes: output axis k is input axis perm[k], as
    ``torch.permute(x, perm)`` and ONNX Transpose. perm counts the batch as
    axis 0 and must keep it first: (0, 2, 3, 1) turns (N, C, H, W) into
    (N, H, W, C). The input's rank must be len(perm), 2 to 8. Since graft
    1.2."""
    perm = tuple(int(p) for p in perm)
    arr = (ctypes.c_int * max(len(perm), 1))(
        *[_lib.check_int(p, "perm[%d]" % k, "c_int") for k, p in enumerate(perm)])
    return Layer._create(ctx, _lib.C.graft_layer_transpose, len(perm), arr)


def slice(axis, start, end=None, step=1, *, ctx=None):
    """The entries start, start + step, ... before end of one axis, as
    ``x[:, start:end:step]`` on axis 1 and ONNX Slice: axis counts the batch
    as axis 0 (>= 1, or negative from the end); negative start and end
    count from the end of the axis and both are clamped to it. end None
    runs to the end of the axis (the front for a negative step). step is
    not 0. Since graft 1.2."""
    if end is None:
        end = 2 ** 63 - 1 if step > 0 else -2 ** 63
    return Layer._create(ctx, _lib.C.graft_layer_slice, axis, start, end, step)
