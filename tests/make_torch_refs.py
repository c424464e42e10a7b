#!/usr/bin/python3
"""Write PyTorch reference results for every graft layer kind and loss.

Run with the system Python that has torch (``make refs``):

    /usr/bin/python3 tests/make_torch_refs.py > tests/data/torch_refs.txt

tests/check_torch_refs.c reads the output and runs each case through graft.
Every case draws its tensors from a fixed seed, so the file is reproducible.
Inputs, parameters and upstream gradients are float32 values; PyTorch
computes the expected results from them in float64, and they are printed with
%.9g, which round-trips float32.

File format (plain text, one record per line, fields separated by single
spaces; blank lines and lines starting with '#' are ignored):

    case NAME KIND          starts a case; NAME unique, KIND a graft kind
                            ("conv2d", ... as graft_layer_kind() names them)
                            or a loss ("softmax_cross_entropy", "mse")
    attr KEY VALUE          a constructor attribute (integer or float),
                            e.g. "attr kernel_h 3"; any number of them
    train 0|1               1: training mode, 0: inference mode
    in T                    an input tensor, in input order (a loss: the
                            logits, or pred then target)
    labels N L0 ... L(N-1)  softmax_cross_entropy only: the class labels
    param NAME T            a parameter or buffer value before the forward
                            pass, by graft_layer_param() name ("weight",
                            "bias", "running_mean", "running_var", "scale",
                            "shift")
    dout T                  the upstream gradient d(loss)/d(output)
    out T                   the expected output
    loss VALUE              losses only: the expected loss value
    din T                   the expected gradient of input i (i-th line)
    dparam NAME T           the expected gradient of parameter NAME
    after NAME T            the expected value of buffer NAME after the
                            forward pass (batch norm running statistics;
                            scale_shift's constant scale and shift, which
                            must come back unchanged)
    end                     ends the case

where a tensor T is written as NDIM D0 ... D(NDIM-1) V0 V1 ... : its rank,
its sizes, then its product(D) values in row-major (NCHW) order.

Attributes that are not plain constructor arguments: pad2d's "mode" is 0
(constant, filled with "value"), 1 (reflect) or 2 (edge, PyTorch's
'replicate'), as GRAFT_PAD_CONSTANT, _REFLECT and _EDGE; reshape's and
scale_shift's per-sample shape is "ndim" and "dim0" ... "dim(ndim-1)";
transpose's permutation is "ndim" and "perm0" ... "perm(ndim-1)" (the batch
axis included, perm0 is 0); concat's "axis" (absent: axis 1) and slice's
"axis" count the batch as axis 0;
upsample2d's "mode", "coord" and "nearest" are the GRAFT_UPSAMPLE_*,
GRAFT_COORD_* and GRAFT_NEAREST_* codes.

Layers take input gradients for every input and parameter gradients for
every trainable parameter, both after one forward pass and one backward pass
with dout. Losses use mean reduction and have no dout (d(loss)/d(loss) = 1);
their din is the gradient of the mean loss with respect to the logits or
pred. Dropout appears only with rate 0 or in inference mode: graft's masks
cannot match PyTorch's generator.
"""

import sys

import torch
import torch.nn.functional as F

FMT = "%.9g"


def fmt(v):
    return FMT % float(v)


class Writer:
    def __init__(self, out):
        self.out = out
        self.names = set()
        self.count = 0

    def line(self, *fields):
        self.out.write(" ".join(str(f) for f in fields) + "\n")

    def tensor(self, tag, t, name=None):
        t = t.detach().to(torch.float64).contiguous()
        fields = [tag] if name is None else [tag, name]
        fields.append(str(t.dim()))
        fields.extend(str(d) for d in t.shape)
        fields.extend(fmt(v) for v in t.reshape(-1).tolist())
        self.line(*fields)

    def case(self, name, kind, attrs, train):
        assert name not in self.names, name
        self.names.add(name)
        self.count += 1
        self.line("case", name, kind)
        for key, value in attrs:
            self.line("attr", key, value if isinstance(value, int) else fmt(value))
        self.line("train", 1 if train else 0)

    def end(self):
        self.line("end")


def randn(gen, *shape, scale=1.0):
    """float32 normal values, returned as float64 (exact copies)."""
    t = torch.randn(*shape, generator=gen, dtype=torch.float32) * scale
    return t.to(torch.float64)


def gen_for(seed):
    g = torch.Generator()
    g.manual_seed(seed)
    return g


def run_layer(w, name, kind, attrs, train, inputs, params, fn, buffers=()):
    """inputs: list of float64 tensors; params: list of (name, tensor) with
    float64 values, trainable unless listed in buffers; fn(inputs, params)
    returns the output (and may update buffers in place)."""
    gen = gen_for(hash_name(name) + 1)
    xs = [x.clone().requires_grad_(True) for x in inputs]
    ps = {}
    for pname, value in params:
        ps[pname] = value.clone().requires_grad_(pname not in buffers)
    w.case(name, kind, attrs, train)
    for x in inputs:
        w.tensor("in", x)
    for pname, value in params:
        w.tensor("param", value, pname)
    out = fn(xs, ps)
    dout = randn(gen, *out.shape)
    out.backward(dout)
    w.tensor("dout", dout)
    w.tensor("out", out)
    for x in xs:
        w.tensor("din", x.grad)
    for pname, _ in params:
        if pname not in buffers:
            w.tensor("dparam", ps[pname].grad, pname)
    for pname in buffers:
        w.tensor("after", ps[pname], pname)
    w.end()


def hash_name(name):
    """A stable per-case seed (Python's hash() is salted per run)."""
    h = 5381
    for ch in name.encode():
        h = (h * 33 + ch) % 1000003
    return h


# ---- conv2d ------------------------------------------------------------------


def conv2d_case(w, name, n, c, h, wd, out_c, kh, kw, stride=(1, 1), pad=(0, 0, 0, 0),
                dilation=(1, 1), groups=1, bias=True):
    """pad = (top, left, bottom, right); applied with F.pad, so asymmetric
    padding is exact."""
    g = gen_for(hash_name(name))
    x = randn(g, n, c, h, wd)
    weight = randn(g, out_c, c // groups, kh, kw, scale=0.5)
    params = [("weight", weight)]
    if bias:
        params.append(("bias", randn(g, out_c, scale=0.5)))
    top, left, bottom, right = pad
    attrs = [("out_channels", out_c), ("kernel_h", kh), ("kernel_w", kw),
             ("stride_h", stride[0]), ("stride_w", stride[1]),
             ("pad_top", top), ("pad_left", left), ("pad_bottom", bottom), ("pad_right", right),
             ("dilation_h", dilation[0]), ("dilation_w", dilation[1]),
             ("groups", groups), ("bias", 1 if bias else 0)]

    def fn(xs, ps):
        xp = F.pad(xs[0], (left, right, top, bottom))
        return F.conv2d(xp, ps["weight"], ps.get("bias"), stride=stride, dilation=dilation,
                        groups=groups)

    run_layer(w, name, "conv2d", attrs, True, [x], params, fn)


def conv2d_cases(w):
    conv2d_case(w, "conv2d_3x3_pad1", 2, 3, 5, 5, 4, 3, 3, pad=(1, 1, 1, 1))
    conv2d_case(w, "conv2d_stride2_asym_pad", 2, 3, 6, 7, 4, 3, 3, stride=(2, 2),
                pad=(0, 1, 1, 0))
    conv2d_case(w, "conv2d_dilation2", 2, 3, 7, 6, 2, 3, 3, pad=(2, 1, 2, 1),
                dilation=(2, 2))
    conv2d_case(w, "conv2d_groups2", 2, 4, 5, 5, 6, 3, 3, pad=(1, 1, 1, 1), groups=2)
    conv2d_case(w, "conv2d_depthwise", 2, 3, 5, 5, 3, 3, 3, stride=(2, 2),
                pad=(1, 1, 1, 1), groups=3)
    conv2d_case(w, "conv2d_1x1", 2, 3, 4, 5, 5, 1, 1)
    conv2d_case(w, "conv2d_no_bias", 2, 3, 5, 5, 2, 3, 3, pad=(1, 1, 1, 1), bias=False)
    conv2d_case(w, "conv2d_nonsquare", 2, 2, 6, 7, 3, 2, 3, stride=(2, 1),
                pad=(1, 0, 1, 2), dilation=(1, 2))


# ---- pooling -----------------------------------------------------------------


def pool_attrs(kh, kw, stride, pad, ceil_mode, count_include_pad):
    top, left, bottom, right = pad
    return [("kernel_h", kh), ("kernel_w", kw), ("stride_h", stride[0]),
            ("stride_w", stride[1]), ("pad_top", top), ("pad_left", left),
            ("pad_bottom", bottom), ("pad_right", right), ("ceil_mode", ceil_mode),
            ("count_include_pad", count_include_pad)]


def max_pool_case(w, name, n, c, h, wd, kh, kw, stride, pad=(0, 0, 0, 0), ceil_mode=0):
    """Symmetric padding goes to torch's padding argument (so ceil_mode
    follows torch's rule); asymmetric padding is F.pad with -inf, used
    without ceil_mode."""
    g = gen_for(hash_name(name))
    x = randn(g, n, c, h, wd)
    for plane in x.reshape(n * c, h * wd):
        assert plane.unique().numel() == h * wd, name  # no ties for the maximum
    top, left, bottom, right = pad
    symmetric = top == bottom and left == right

    def fn(xs, ps):
        if symmetric:
            return F.max_pool2d(xs[0], (kh, kw), stride, (top, left), ceil_mode=bool(ceil_mode))
        assert not ceil_mode
        xp = F.pad(xs[0], (left, right, top, bottom), value=float("-inf"))
        return F.max_pool2d(xp, (kh, kw), stride)

    run_layer(w, name, "max_pool2d", pool_attrs(kh, kw, stride, pad, ceil_mode, 0), True, [x],
              [], fn)


def avg_pool_case(w, name, n, c, h, wd, kh, kw, stride, pad=(0, 0, 0, 0), ceil_mode=0,
                  count_include_pad=0):
    """Asymmetric padding is F.pad with zeros, which equals padding counted
    in the divisor, so it is used only with count_include_pad and without
    ceil_mode."""
    g = gen_for(hash_name(name))
    x = randn(g, n, c, h, wd)
    top, left, bottom, right = pad
    symmetric = top == bottom and left == right

    def fn(xs, ps):
        if symmetric:
            return F.avg_pool2d(xs[0], (kh, kw), stride, (top, left), ceil_mode=bool(ceil_mode),
                                count_include_pad=bool(count_include_pad))
        assert count_include_pad and not ceil_mode
        xp = F.pad(xs[0], (left, right, top, bottom))
        return F.avg_pool2d(xp, (kh, kw), stride)

    run_layer(w, name, "avg_pool2d",
              pool_attrs(kh, kw, stride, pad, ceil_mode, count_include_pad), True, [x], [], fn)


def pool_cases(w):
    max_pool_case(w, "max_pool2d_2x2_s2", 2, 3, 6, 6, 2, 2, (2, 2))
    max_pool_case(w, "max_pool2d_3x3_s2_pad1", 2, 3, 5, 5, 3, 3, (2, 2), pad=(1, 1, 1, 1))
    max_pool_case(w, "max_pool2d_ceil", 2, 3, 6, 7, 3, 3, (2, 2), ceil_mode=1)
    max_pool_case(w, "max_pool2d_ceil_pad1", 2, 3, 6, 6, 3, 3, (2, 2), pad=(1, 1, 1, 1),
                  ceil_mode=1)
    max_pool_case(w, "max_pool2d_asym_pad", 2, 3, 5, 5, 2, 2, (2, 2), pad=(0, 1, 1, 0))
    max_pool_case(w, "max_pool2d_nonsquare", 2, 2, 5, 7, 2, 3, (1, 2), pad=(1, 1, 1, 1))

    avg_pool_case(w, "avg_pool2d_2x2_s2", 2, 3, 6, 6, 2, 2, (2, 2))
    avg_pool_case(w, "avg_pool2d_pad1_include", 2, 3, 5, 5, 3, 3, (2, 2), pad=(1, 1, 1, 1),
                  count_include_pad=1)
    avg_pool_case(w, "avg_pool2d_pad1_exclude", 2, 3, 5, 5, 3, 3, (2, 2), pad=(1, 1, 1, 1),
                  count_include_pad=0)
    avg_pool_case(w, "avg_pool2d_ceil_exclude", 2, 3, 6, 7, 3, 3, (2, 2), pad=(1, 1, 1, 1),
                  ceil_mode=1, count_include_pad=0)
    avg_pool_case(w, "avg_pool2d_ceil_nopad", 2, 3, 6, 7, 3, 3, (2, 2), ceil_mode=1,
                  count_include_pad=0)
    # PyTorch's convention for a ceil_mode window that runs past the bottom or
    # right padding: with count_include_pad it divides by the part of the
    # window inside the padded input, not by kernel_h * kernel_w. Rows 0..5,
    # pad 1: the last window starts at row 5 and covers rows 5, 6 (padding)
    # and 7 (beyond), so its divisor counts 2 rows.
    avg_pool_case(w, "avg_pool2d_ceil_include", 2, 3, 6, 6, 3, 3, (2, 2), pad=(1, 1, 1, 1),
                  ceil_mode=1, count_include_pad=1)
    avg_pool_case(w, "avg_pool2d_asym_pad_include", 2, 3, 5, 5, 2, 2, (2, 2),
                  pad=(1, 1, 0, 0), count_include_pad=1)
    avg_pool_case(w, "avg_pool2d_nonsquare", 2, 2, 5, 7, 2, 3, (1, 2), pad=(1, 1, 1, 1),
                  count_include_pad=0)


def global_avg_pool_cases(w):
    for name, shape in (("global_avg_pool_5x5", (2, 3, 5, 5)),
                        ("global_avg_pool_6x7", (2, 4, 6, 7))):
        g = gen_for(hash_name(name))
        x = randn(g, *shape)
        run_layer(w, name, "global_avg_pool", [], True, [x], [],
                  lambda xs, ps: xs[0].mean(dim=(2, 3), keepdim=True))


# ---- dense -------------------------------------------------------------------


def dense_case(w, name, shape, units, bias=True):
    g = gen_for(hash_name(name))
    x = randn(g, *shape)
    features = 1
    for d in shape[1:]:
        features *= d
    params = [("weight", randn(g, units, features, scale=0.5))]
    if bias:
        params.append(("bias", randn(g, units, scale=0.5)))

    def fn(xs, ps):
        return F.linear(xs[0].flatten(1), ps["weight"], ps.get("bias"))

    run_layer(w, name, "dense", [("units", units), ("bias", 1 if bias else 0)], True, [x],
              params, fn)


def linear_case(w, name, shape, units, bias=True):
    """graft_layer_linear: a dense layer with last_axis 1 (nn.Linear on any
    rank)."""
    g = gen_for(hash_name(name))
    x = randn(g, *shape)
    params = [("weight", randn(g, units, shape[-1], scale=0.5))]
    if bias:
        params.append(("bias", randn(g, units, scale=0.5)))

    def fn(xs, ps):
        return F.linear(xs[0], ps["weight"], ps.get("bias"))

    run_layer(w, name, "dense", [("units", units), ("bias", 1 if bias else 0), ("last_axis", 1)],
              True, [x], params, fn)


def dense_cases(w):
    linear_case(w, "dense_last_axis_3d", (2, 4, 5), 3)
    linear_case(w, "dense_last_axis_4d_no_bias", (2, 3, 2, 4), 2, bias=False)
    dense_case(w, "dense_2d", (2, 5), 3)
    dense_case(w, "dense_4d_flattened", (2, 3, 2, 2), 4)
    dense_case(w, "dense_no_bias", (3, 4), 2, bias=False)


# ---- batch norm --------------------------------------------------------------


def batch_norm_case(w, name, shape, train, eps, momentum):
    g = gen_for(hash_name(name))
    c = shape[1]
    x = randn(g, *shape)
    gamma = 1.0 + randn(g, c, scale=0.3)
    beta = randn(g, c, scale=0.3)
    running_mean = randn(g, c, scale=0.5)
    running_var = 0.5 + torch.rand(c, generator=g, dtype=torch.float32).to(torch.float64)
    params = [("weight", gamma), ("bias", beta), ("running_mean", running_mean),
              ("running_var", running_var)]

    def fn(xs, ps):
        return F.batch_norm(xs[0], ps["running_mean"], ps["running_var"], ps["weight"],
                            ps["bias"], training=train, momentum=momentum, eps=eps)

    buffers = ("running_mean", "running_var")
    run_layer(w, name, "batch_norm", [("epsilon", eps), ("momentum", momentum)], train, [x],
              params, fn, buffers=buffers)


def batch_norm_cases(w):
    batch_norm_case(w, "batch_norm_train_4d", (2, 3, 5, 5), True, 1e-5, 0.1)
    batch_norm_case(w, "batch_norm_train_4d_momentum", (3, 2, 4, 3), True, 1e-3, 0.7)
    batch_norm_case(w, "batch_norm_eval_4d", (2, 3, 5, 5), False, 1e-5, 0.1)
    batch_norm_case(w, "batch_norm_train_2d", (4, 3), True, 1e-5, 0.1)
    batch_norm_case(w, "batch_norm_eval_2d", (4, 3), False, 1e-3, 0.1)


# ---- activations and shape ops -------------------------------------------------


def unary_case(w, name, kind, attrs, shape, scale, fn, train=True, kinks=()):
    """kinks: points where fn's derivative jumps; no input may sit on one."""
    g = gen_for(hash_name(name))
    x = randn(g, *shape, scale=scale)
    for k in kinks:
        assert not bool((x == k).any()), (name, k)
    run_layer(w, name, kind, attrs, train, [x], [], lambda xs, ps: fn(xs[0]))


def activation_cases(w):
    s = (2, 3, 4, 5)
    unary_case(w, "relu", "relu", [], s, 1.0, F.relu, kinks=(0.0,))
    unary_case(w, "relu_2d", "relu", [], (3, 7), 1.0, F.relu, kinks=(0.0,))
    unary_case(w, "clip_0_6", "clip", [("lo", 0.0), ("hi", 6.0)], s, 4.0,
               lambda x: torch.clamp(x, 0.0, 6.0), kinks=(0.0, 6.0))
    unary_case(w, "clip_m1_0.5", "clip", [("lo", -1.0), ("hi", 0.5)], s, 1.5,
               lambda x: torch.clamp(x, -1.0, 0.5), kinks=(-1.0, 0.5))
    unary_case(w, "leaky_relu_0.1", "leaky_relu", [("alpha", 0.1)], s, 1.0,
               lambda x: F.leaky_relu(x, 0.1), kinks=(0.0,))
    unary_case(w, "sigmoid", "sigmoid", [], s, 2.0, torch.sigmoid)
    unary_case(w, "tanh", "tanh", [], s, 1.5, torch.tanh)
    unary_case(w, "hard_swish", "hard_swish", [], s, 3.0, F.hardswish,
               kinks=(-3.0, 3.0))
    unary_case(w, "silu", "silu", [], s, 3.0, F.silu)
    unary_case(w, "silu_wide", "silu", [], (3, 7), 12.0, F.silu)
    unary_case(w, "gelu", "gelu", [("approximate", 0)], s, 2.5, F.gelu)
    unary_case(w, "gelu_tanh", "gelu", [("approximate", 1)], s, 2.5,
               lambda x: F.gelu(x, approximate="tanh"))
    unary_case(w, "dropout_rate0_train", "dropout", [("rate", 0.0), ("seed", 7)], s, 1.0,
               lambda x: F.dropout(x, 0.0, training=True))
    unary_case(w, "dropout_rate0.5_eval", "dropout", [("rate", 0.5), ("seed", 7)], s, 1.0,
               lambda x: F.dropout(x, 0.5, training=False), train=False)
    unary_case(w, "flatten_4d", "flatten", [], s, 1.0, lambda x: x.flatten(1))
    unary_case(w, "flatten_3d", "flatten", [], (2, 3, 4), 1.0, lambda x: x.flatten(1))
    unary_case(w, "softmax_2d", "softmax", [], (3, 5), 2.0, lambda x: F.softmax(x, dim=1))
    unary_case(w, "softmax_4d", "softmax", [], s, 2.0, lambda x: F.softmax(x, dim=1))


def merge_cases(w):
    name = "add_3_inputs"
    g = gen_for(hash_name(name))
    xs = [randn(g, 2, 3, 4, 5) for _ in range(3)]
    run_layer(w, name, "add", [], True, xs, [], lambda v, ps: v[0] + v[1] + v[2])
    name = "concat_1_2_3_channels"
    g = gen_for(hash_name(name))
    xs = [randn(g, 2, c, 4, 5) for c in (1, 2, 3)]
    run_layer(w, name, "concat", [], True, xs, [], lambda v, ps: torch.cat(v, dim=1))
    name = "concat_2d"
    g = gen_for(hash_name(name))
    xs = [randn(g, 3, c) for c in (2, 4)]
    run_layer(w, name, "concat", [], True, xs, [], lambda v, ps: torch.cat(v, dim=1))
    for name, shapes, axis in (("concat_axis_last", ((2, 3, 4, 2), (2, 3, 4, 5)), -1),
                               ("concat_axis_2", ((2, 3, 1, 4), (2, 3, 2, 4), (2, 3, 3, 4)), 2)):
        g = gen_for(hash_name(name))
        xs = [randn(g, *s) for s in shapes]
        run_layer(w, name, "concat", [("axis", axis)], True, xs, [],
                  lambda v, ps, a=axis: torch.cat(v, dim=a))


# ---- mul, hard_sigmoid, pad2d, reshape, scale_shift ------------------------------


def mul_case(w, name, shape_a, shape_b):
    """Elementwise product; PyTorch broadcasts the size-1 axes and its
    autograd sums the gradient of a broadcast input over them."""
    g = gen_for(hash_name(name))
    a = randn(g, *shape_a)
    b = randn(g, *shape_b)
    run_layer(w, name, "mul", [], True, [a, b], [], lambda xs, ps: xs[0] * xs[1])


def hard_sigmoid_case(w, name, alpha, beta, shape, scale):
    """alpha 1/6, beta 1/2 is PyTorch's F.hardsigmoid; other values go through
    F.hardtanh(alpha * x + beta, 0, 1), ONNX's HardSigmoid. Every input must
    be clear of the two kinks (alpha * x + beta = 0 or 1), so that float32
    rounding cannot move it across one, and the inputs must reach all three
    pieces."""
    g = gen_for(hash_name(name))
    x = randn(g, *shape, scale=scale)
    t = alpha * x + beta
    assert float(torch.minimum(t.abs(), (t - 1.0).abs()).min()) > 1e-3, name
    assert bool((t < 0).any()) and bool((t > 1).any()), name
    assert bool(((t > 0) & (t < 1)).any()), name
    if (alpha, beta) == (1.0 / 6.0, 0.5):
        fn = F.hardsigmoid
    else:
        def fn(v):
            return F.hardtanh(alpha * v + beta, 0.0, 1.0)
    run_layer(w, name, "hard_sigmoid", [("alpha", alpha), ("beta", beta)], True, [x], [],
              lambda xs, ps: fn(xs[0]))


PAD_MODES = {"constant": 0, "reflect": 1, "replicate": 2}  # GRAFT_PAD_*


def pad2d_case(w, name, shape, pad, mode, value=0.0):
    """pad = (top, left, bottom, right); mode is F.pad's ("replicate" is
    graft's edge). Inputs of rank 5 go through F.pad as (N*C*D, H, W) planes."""
    g = gen_for(hash_name(name))
    x = randn(g, *shape)
    top, left, bottom, right = pad
    attrs = [("pad_top", top), ("pad_left", left), ("pad_bottom", bottom), ("pad_right", right),
             ("mode", PAD_MODES[mode]), ("value", float(value))]

    def fn(xs, ps):
        v = xs[0]
        lead, (h, wd) = v.shape[:-2], v.shape[-2:]
        if v.dim() > 4:
            v = v.reshape(-1, h, wd)
        kw = {"value": value} if mode == "constant" else {}
        y = F.pad(v, (left, right, top, bottom), mode=mode, **kw)
        return y.reshape(*lead, h + top + bottom, wd + left + right)

    run_layer(w, name, "pad2d", attrs, True, [x], [], fn)


def sample_dims_attrs(dims):
    return [("ndim", len(dims))] + [("dim%d" % i, d) for i, d in enumerate(dims)]


def reshape_case(w, name, shape, dims):
    g = gen_for(hash_name(name))
    x = randn(g, *shape)
    run_layer(w, name, "reshape", sample_dims_attrs(dims), True, [x], [],
              lambda xs, ps: xs[0].reshape(shape[0], *dims))


def scale_shift_case(w, name, shape, dims):
    """scale and shift have the per-sample shape dims and broadcast over the
    input as PyTorch aligns trailing axes. graft keeps them as constant
    buffers (not trainable), so the case gives no parameter gradients, only
    their values after the pass, unchanged."""
    g = gen_for(hash_name(name))
    x = randn(g, *shape)
    scale = randn(g, *dims)
    shift = randn(g, *dims, scale=0.5)
    run_layer(w, name, "scale_shift", sample_dims_attrs(dims), True, [x],
              [("scale", scale), ("shift", shift)],
              lambda xs, ps: xs[0] * ps["scale"] + ps["shift"], buffers=("scale", "shift"))


def registry_layer_cases(w):
    mul_case(w, "mul_same_shape", (2, 3, 4, 5), (2, 3, 4, 5))
    mul_case(w, "mul_broadcast_gate", (2, 3, 4, 5), (2, 3, 1, 1))
    mul_case(w, "mul_broadcast_first", (2, 1, 4, 5), (2, 3, 4, 5))
    mul_case(w, "mul_broadcast_both", (2, 3, 1, 5), (2, 1, 4, 1))
    mul_case(w, "mul_2d_broadcast", (3, 4), (3, 1))

    s = (2, 3, 4, 5)
    hard_sigmoid_case(w, "hard_sigmoid_torch", 1.0 / 6.0, 0.5, s, 4.0)
    hard_sigmoid_case(w, "hard_sigmoid_0.2_0.5", 0.2, 0.5, s, 4.0)
    hard_sigmoid_case(w, "hard_sigmoid_m0.75_0.25", -0.75, 0.25, (3, 7), 1.5)

    pad2d_case(w, "pad2d_constant_value", (2, 3, 4, 5), (1, 2, 0, 3), "constant", -1.5)
    pad2d_case(w, "pad2d_constant_zero_3d", (2, 4, 5), (2, 0, 1, 1), "constant")
    pad2d_case(w, "pad2d_reflect", (2, 3, 5, 6), (2, 1, 3, 2), "reflect")
    pad2d_case(w, "pad2d_reflect_max", (2, 2, 3, 4), (2, 3, 2, 3), "reflect")
    pad2d_case(w, "pad2d_edge", (2, 3, 4, 5), (1, 2, 3, 0), "replicate")
    pad2d_case(w, "pad2d_edge_wide_5d", (2, 2, 3, 3, 4), (4, 5, 3, 6), "replicate")

    reshape_case(w, "reshape_4d_to_3d", (2, 3, 4, 5), (12, 5))
    reshape_case(w, "reshape_2d_to_4d", (3, 24), (2, 3, 4))
    reshape_case(w, "reshape_4d_to_2d", (2, 3, 4, 5), (60,))

    scale_shift_case(w, "scale_shift_per_channel", (2, 3, 4, 5), (3, 1, 1))
    scale_shift_case(w, "scale_shift_full", (2, 3, 4), (3, 4))
    scale_shift_case(w, "scale_shift_mixed", (2, 3, 4, 5), (1, 4, 1))
    scale_shift_case(w, "scale_shift_scalar", (2, 3, 4, 5), (1, 1, 1))
    scale_shift_case(w, "scale_shift_2d", (3, 5), (5,))


# ---- upsample2d ------------------------------------------------------------------

# GRAFT_UPSAMPLE_* and GRAFT_COORD_* / GRAFT_NEAREST_* codes of the attributes.
UPSAMPLE_NEAREST, UPSAMPLE_LINEAR = 0, 1
COORD_HALF_PIXEL, COORD_ALIGN_CORNERS, COORD_ASYMMETRIC = 0, 1, 2
NEAREST_FLOOR = 2


def upsample2d_case(w, name, shape, scale=None, size=None, mode="nearest", align_corners=None):
    """F.interpolate on (N, C, H, W): scale_factor (kept as the coordinate
    scale, recompute_scale_factor off) or an output size. PyTorch's nearest
    is graft's asymmetric coordinates with floor; its bilinear is
    half_pixel (clamped at 0), or align_corners."""
    g = gen_for(hash_name(name))
    x = randn(g, *shape)
    sh, sw = scale if scale else (0.0, 0.0)
    oh, ow = size if size else (0, 0)
    if mode == "nearest":
        kind, coord = UPSAMPLE_NEAREST, COORD_ASYMMETRIC
    else:
        kind, coord = UPSAMPLE_LINEAR, COORD_ALIGN_CORNERS if align_corners else COORD_HALF_PIXEL
    attrs = [("scale_h", float(sh)), ("scale_w", float(sw)), ("out_h", oh), ("out_w", ow),
             ("mode", kind), ("coord", coord), ("nearest", NEAREST_FLOOR)]

    def fn(xs, ps):
        kw = {"mode": mode}
        if mode == "bilinear":
            kw["align_corners"] = bool(align_corners)
        if scale:
            return F.interpolate(xs[0], scale_factor=scale, recompute_scale_factor=False, **kw)
        return F.interpolate(xs[0], size=size, **kw)

    run_layer(w, name, "upsample2d", attrs, True, [x], [], fn)


def upsample2d_cases(w):
    upsample2d_case(w, "upsample2d_nearest_x2", (2, 3, 4, 5), scale=(2.0, 2.0))
    upsample2d_case(w, "upsample2d_nearest_size", (2, 2, 4, 5), size=(7, 9))
    upsample2d_case(w, "upsample2d_bilinear_x2", (2, 3, 4, 5), scale=(2.0, 2.0), mode="bilinear")
    upsample2d_case(w, "upsample2d_bilinear_x1.5_x3", (1, 2, 4, 6), scale=(1.5, 3.0),
                    mode="bilinear")
    upsample2d_case(w, "upsample2d_bilinear_corners", (2, 2, 4, 5), size=(7, 9), mode="bilinear",
                    align_corners=True)
    upsample2d_case(w, "upsample2d_bilinear_down", (2, 2, 5, 7), size=(3, 4), mode="bilinear")


# ---- transpose, slice -----------------------------------------------------------


def transpose_case(w, name, shape, perm):
    """torch.permute with the batch axis first (perm[0] == 0)."""
    g = gen_for(hash_name(name))
    x = randn(g, *shape)
    attrs = [("ndim", len(perm))] + [("perm%d" % d, p) for d, p in enumerate(perm)]
    run_layer(w, name, "transpose", attrs, True, [x], [],
              lambda xs, ps: xs[0].permute(*perm).contiguous())


def slice_case(w, name, shape, axis, start, end, step, fn):
    """A range of one axis, computed by fn (narrow, basic slicing, chunk)."""
    g = gen_for(hash_name(name))
    x = randn(g, *shape)
    attrs = [("axis", axis), ("start", start), ("end", end), ("step", step)]
    run_layer(w, name, "slice", attrs, True, [x], [], lambda xs, ps: fn(xs[0]).contiguous())


def transpose_slice_cases(w):
    transpose_case(w, "transpose_nchw_nhwc", (2, 3, 4, 5), (0, 2, 3, 1))
    transpose_case(w, "transpose_nhwc_nchw", (2, 4, 5, 3), (0, 3, 1, 2))
    transpose_case(w, "transpose_shuffle", (2, 2, 3, 4, 5), (0, 2, 1, 3, 4))
    transpose_case(w, "transpose_heads", (2, 5, 3, 4), (0, 2, 1, 3))
    transpose_case(w, "transpose_2d_wide", (2, 37, 41), (0, 2, 1))
    slice_case(w, "slice_narrow_channels", (2, 6, 3, 4), 1, 2, 5, 1,
               lambda x: x.narrow(1, 2, 3))
    slice_case(w, "slice_chunk_second_half", (2, 6, 3, 4), 1, 3, 6, 1,
               lambda x: torch.chunk(x, 2, dim=1)[1])
    slice_case(w, "slice_last_axis_step2", (2, 3, 4, 7), -1, 1, 2147483647, 2,
               lambda x: x[..., 1::2])
    slice_case(w, "slice_negative_start", (2, 5, 6), 2, -4, -1, 1, lambda x: x[:, :, -4:-1])
    slice_case(w, "slice_reversed", (2, 5, 3), 1, -1, -2147483647, -1,
               lambda x: torch.flip(x, [1]))
    slice_case(w, "slice_reversed_step3", (2, 7, 3), 1, 5, 0, -3,
               lambda x: torch.flip(x, [1])[:, 1:6:3])
# ---- conv_transpose2d -----------------------------------------------------------


def conv_transpose2d_case(w, name, n, c, h, wd, out_c, kh, kw, stride=(1, 1), pad=(0, 0, 0, 0),
                          output_padding=(0, 0), dilation=(1, 1), groups=1, bias=True):
    """pad = (top, left, bottom, right). torch takes symmetric padding only,
    so the layer runs unpadded with the extra end padding given as output
    padding, and the pads are then cropped off its output: the full scatter
    with pad rows and columns removed, as ONNX's asymmetric pads define it."""
    g = gen_for(hash_name(name))
    x = randn(g, n, c, h, wd)
    weight = randn(g, c, out_c // groups, kh, kw, scale=0.5)
    params = [("weight", weight)]
    if bias:
        params.append(("bias", randn(g, out_c, scale=0.5)))
    top, left, bottom, right = pad
    attrs = [("out_channels", out_c), ("kernel_h", kh), ("kernel_w", kw),
             ("stride_h", stride[0]), ("stride_w", stride[1]),
             ("pad_top", top), ("pad_left", left), ("pad_bottom", bottom), ("pad_right", right),
             ("output_padding_h", output_padding[0]), ("output_padding_w", output_padding[1]),
             ("dilation_h", dilation[0]), ("dilation_w", dilation[1]),
             ("groups", groups), ("bias", 1 if bias else 0)]
    symmetric = top == bottom and left == right

    def fn(xs, ps):
        if symmetric:
            return F.conv_transpose2d(xs[0], ps["weight"], ps.get("bias"), stride=stride,
                                      padding=(top, left), output_padding=output_padding,
                                      groups=groups, dilation=dilation)
        full = F.conv_transpose2d(xs[0], ps["weight"], ps.get("bias"), stride=stride,
                                  output_padding=output_padding, groups=groups,
                                  dilation=dilation)
        return full[:, :, top:full.shape[2] - bottom, left:full.shape[3] - right]

    run_layer(w, name, "conv_transpose2d", attrs, True, [x], params, fn)


def conv_transpose2d_cases(w):
    conv_transpose2d_case(w, "conv_transpose2d_3x3", 2, 3, 4, 5, 4, 3, 3)
    conv_transpose2d_case(w, "conv_transpose2d_stride2_pad1", 2, 3, 4, 4, 2, 3, 3,
                          stride=(2, 2), pad=(1, 1, 1, 1))
    conv_transpose2d_case(w, "conv_transpose2d_output_padding", 2, 2, 3, 4, 3, 3, 3,
                          stride=(2, 3), pad=(1, 1, 1, 1), output_padding=(1, 2))
    conv_transpose2d_case(w, "conv_transpose2d_k4_s2_asym_pad", 2, 3, 4, 3, 2, 4, 4,
                          stride=(2, 2), pad=(1, 0, 2, 1))
    conv_transpose2d_case(w, "conv_transpose2d_groups2", 2, 4, 3, 4, 6, 3, 3, stride=(2, 1),
                          pad=(1, 1, 1, 1), groups=2)
    conv_transpose2d_case(w, "conv_transpose2d_depthwise", 2, 3, 4, 4, 3, 3, 3, stride=(2, 2),
                          groups=3)
    conv_transpose2d_case(w, "conv_transpose2d_dilation2", 2, 2, 4, 3, 3, 3, 2, stride=(1, 2),
                          pad=(2, 0, 1, 1), dilation=(2, 3), output_padding=(1, 0))
    conv_transpose2d_case(w, "conv_transpose2d_no_bias", 2, 3, 4, 4, 2, 2, 2, stride=(2, 2),
                          bias=False)
    conv_transpose2d_case(w, "conv_transpose2d_1x1", 2, 3, 4, 5, 5, 1, 1)


# ---- losses ------------------------------------------------------------------


def loss_cases(w):
    for name, n, c, scale in (("softmax_cross_entropy_4x5", 4, 5, 2.0),
                              ("softmax_cross_entropy_3x10_wide", 3, 10, 8.0)):
        g = gen_for(hash_name(name))
        logits = randn(g, n, c, scale=scale)
        labels = torch.randint(0, c, (n,), generator=g)
        x = logits.clone().requires_grad_(True)
        loss = F.cross_entropy(x, labels, reduction="mean")
        loss.backward()
        w.case(name, "softmax_cross_entropy", [], True)
        w.tensor("in", logits)
        w.line("labels", n, *[int(v) for v in labels.tolist()])
        w.line("loss", fmt(loss.item()))
        w.tensor("din", x.grad)
        w.end()
    for name, shape in (("mse_2d", (3, 4)), ("mse_4d", (2, 3, 2, 2))):
        g = gen_for(hash_name(name))
        pred = randn(g, *shape)
        target = randn(g, *shape)
        p = pred.clone().requires_grad_(True)
        loss = F.mse_loss(p, target, reduction="mean")
        loss.backward()
        w.case(name, "mse", [], True)
        w.tensor("in", pred)
        w.tensor("in", target)
        w.line("loss", fmt(loss.item()))
        w.tensor("din", p.grad)
        w.end()


# ---- layer_norm, matmul, softmax over an axis -----------------------------------


def layer_norm_case(w, name, shape, axes, eps, affine=True):
    g = gen_for(hash_name(name))
    x = randn(g, *shape, scale=2.0) + 0.5
    norm = tuple(shape[len(shape) - axes:])
    params = []
    if affine:
        params = [("weight", 1.0 + randn(g, *norm, scale=0.3)), ("bias", randn(g, *norm, scale=0.3))]

    def fn(xs, ps):
        return F.layer_norm(xs[0], norm, ps.get("weight"), ps.get("bias"), eps)

    run_layer(w, name, "layer_norm",
              [("axes", axes), ("epsilon", eps), ("affine", 1 if affine else 0)], True, [x],
              params, fn)


def matmul_case(w, name, shape_a, shape_b):
    """torch.matmul with the leading axes broadcast; autograd sums the
    gradient of a broadcast input over them."""
    g = gen_for(hash_name(name))
    a = randn(g, *shape_a)
    b = randn(g, *shape_b)
    run_layer(w, name, "matmul", [], True, [a, b], [], lambda xs, ps: torch.matmul(xs[0], xs[1]))


def sequence_cases(w):
    layer_norm_case(w, "layer_norm_last_axis", (2, 4, 6), 1, 1e-5)
    layer_norm_case(w, "layer_norm_two_axes", (2, 3, 4, 5), 2, 1e-3)
    layer_norm_case(w, "layer_norm_no_affine", (3, 7), 1, 1e-5, affine=False)
    matmul_case(w, "matmul_3d", (2, 3, 4), (2, 4, 5))
    matmul_case(w, "matmul_4d_broadcast", (2, 3, 2, 4), (2, 1, 4, 3))
    matmul_case(w, "matmul_4d_broadcast_first", (2, 1, 3, 2), (2, 4, 2, 3))
    for name, shape, axis in (("softmax_axis_last", (2, 3, 5), -1),
                              ("softmax_axis_2_of_4d", (2, 3, 4, 5), 2),
                              ("softmax_axis_1", (3, 6), 1)):
        unary_case(w, name, "softmax", [("axis", axis)], shape, 2.0,
                   lambda x, a=axis: F.softmax(x, dim=a))


def main():
    out = sys.stdout
    out.write("# graft PyTorch reference cases, written by tests/make_torch_refs.py\n")
    out.write("# with torch %s. Format: see that script. Regenerate with `make refs`.\n"
              % torch.__version__)
    w = Writer(out)
    conv2d_cases(w)
    pool_cases(w)
    global_avg_pool_cases(w)
    dense_cases(w)
    batch_norm_cases(w)
    activation_cases(w)
    merge_cases(w)
    registry_layer_cases(w)
    upsample2d_cases(w)
    transpose_slice_cases(w)
    sequence_cases(w)
    conv_transpose2d_cases(w)
    loss_cases(w)
    out.write("# %d cases\n" % w.count)


if __name__ == "__main__":
    torch.set_default_dtype(torch.float64)
    main()
