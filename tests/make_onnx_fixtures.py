#!/usr/bin/python3
"""Regenerates the whole-network ONNX fixtures in tests/data/onnx/.

Run from the source root with Debian's PyTorch:

    /usr/bin/python3 tests/make_onnx_fixtures.py [NAME ...]

(with names, only those fixtures are written; "activations" names the act_*
ones).

For each network it writes <name>.onnx (exported with torch.onnx.export,
opset 13, a symbolic batch axis), <name>.input.pb (a fixed input batch) and
<name>.output.pb (PyTorch's output for it), both as ONNX TensorProto
messages. tests/check_onnx_import.c imports each file with graft and compares
graft's output with PyTorch's to 1e-4 relative.

The networks have random weights (correctness does not depend on them) and
reduced widths and input sizes so that the files stay small:
  mobilenet_v2   torchvision MobileNetV2, width 0.25, 10 classes, 64x64 input;
                 batch norms folded into the convolutions by the exporter
  resnet18       torchvision's ResNet-18 layout (BasicBlock, [2, 2, 2, 2]) at
                 1/8 of the widths, 10 classes, 64x64 input; batch norms kept
  squeezenet1_1  torchvision SqueezeNet 1.1, 10 classes, 64x64 input
  vgg_style      a small VGG-like network that also exercises explicit
                 padding, LeakyReLU, a squeeze-and-excitation gate with
                 hardsigmoid, hardswish, x.view(x.size(0), -1) (a shape
                 subgraph) and dropout; batch norms kept; 32x32 input
  shufflenet_v2  torchvision ShuffleNetV2 with stage repeats 2, 2, 1 and
                 widths 8, 16, 32, 64, 128, 10 classes, 32x32 input: the
                 channel split (chunk, exported as Split), the channel
                 shuffle (Reshape, Transpose, Reshape) and Concat; batch
                 norms folded; its own generators (seeds 3 and 4)
The sequence fixtures take (N, 16, 32) input, are exported at opset 13 and
17 (<name>_op13, <name>_op17) and are compared by tests/check_onnx_ops_nn.c
to 1e-5:
  seq_layernorm  nn.LayerNorm(32) then nn.Linear(32, 8) on every position:
                 LayerNormalization at 17, PyTorch's decomposition at 13;
                 the Linear is MatMul and Add
  seq_attention  one attention head without a transpose: q = x Wq, k = Wk'
                 applied as x Wk (both (N, 16, 16)), v = x Wv,
                 softmax(q k / 4, dim=-1) v + x, then nn.LayerNorm(32)
  seq_attention_kt  the usual softmax(q k^T / sqrt(d)) v, where k^T is an
                 ONNX Transpose of an activation
  act_*          Conv, an activation, Conv on a 6x6 input, one per way PyTorch
                 writes an activation that ONNX opset 13 has no operator for
                 (tests/check_onnx_ops_elementwise.c imports each as one
                 layer of the activation and compares to 1e-5):
                   act_hardswish        nn.Hardswish (HardSigmoid, Mul)
                   act_hardswish_clamp  x * clamp(x + 3, 0, 6) / 6 (Add, Clip,
                                        Mul, Div)
                   act_hardsigmoid_clamp clamp(x + 3, 0, 6) / 6
                   act_silu             nn.SiLU (Sigmoid, Mul)
                   act_gelu             nn.GELU (Div, Erf, Add, Mul, Mul)
                   act_gelu_tanh        nn.GELU(approximate="tanh") (Mul, Mul,
                                        Mul, Add, Mul, Tanh, Add, Mul, Mul)
  keras_style    the shape tf2onnx gives a Keras model, built node by node
                 with onnx.helper (make_keras_style): an NHWC input
                 (N, 16, 16, 3) and a Transpose to NCHW (a transpose layer), Conv, Relu, MaxPool,
                 Conv (auto_pad SAME_UPPER, stride 2), Relu,
                 GlobalAveragePool, Reshape to (N, 16), then the dense layer
                 as MatMul by a (16, 5) kernel initializer (Keras' (in, out)
                 layout), the bias as a Constant node placed after the
                 MatMul, Add, and a final Softmax; the expected output is
                 computed with PyTorch's functional operators
  unsupported    a graph with five nodes graft does not import (Erf twice,
                 Resize with mode "cubic", LpNormalization, a GRU that reads
                 the output of another refused node) and three nodes that
                 only read refused nodes' outputs, for the all-at-once
                 refusal; it has no stored input or output

Two networks leave the height and width of their input open (dynamic_axes
"height" and "width", as Paddle2ONNX, tf2onnx and many PyTorch exports do);
graft imports them with the import option input_shape. For each of two
input sizes HxW they have <name>.HxW.input.pb and <name>.HxW.output.pb:
  fcn_open_hw    a fully convolutional network (convolutions, batch norm,
                 ReLU, a stride-2 convolution); sizes 24x32 and 17x23
  shape_open_hw  a network whose shapes are computed from the input's:
                 F.interpolate(b, size=a.shape[2:]) (a Resize whose sizes
                 come from Shape of another tensor), x.view(n, c, h * w), a
                 sigmoid and x.view(n, c, h, w) (Reshapes
                 whose targets come from Shape), global average pooling and
                 a linear layer; sizes 20x28 and 15x21 (odd sizes, so the
                 upsampling is not a whole factor); their own generators
                 (seeds 5 and 6)
"""
import os
import struct
import sys

import torch
import torch.nn as nn
import torchvision
from torchvision.models.resnet import BasicBlock, ResNet

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "onnx")


def varint(v):
    out = bytearray()
    while True:
        b = v & 0x7F
        v >>= 7
        if v:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def tensor_proto(t):
    """A float32 TensorProto: dims (field 1), data_type 1 (field 2), raw_data (field 9)."""
    t = t.detach().contiguous().to(torch.float32)
    msg = bytearray()
    for d in t.shape:
        msg += varint(1 << 3 | 0) + varint(d)
    msg += varint(2 << 3 | 0) + varint(1)
    raw = struct.pack("<%df" % t.numel(), *t.flatten().tolist())
    msg += varint(9 << 3 | 2) + varint(len(raw)) + raw
    return bytes(msg)


class SmallResNet18(ResNet):
    """ResNet-18's layout with the widths divided by 8."""

    def __init__(self, num_classes=10):
        super().__init__(BasicBlock, [2, 2, 2, 2], num_classes=num_classes)
        self.inplanes = 8
        self.conv1 = nn.Conv2d(3, 8, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(8)
        self.layer1 = self._make_layer(BasicBlock, 8, 2)
        self.layer2 = self._make_layer(BasicBlock, 16, 2, stride=2)
        self.layer3 = self._make_layer(BasicBlock, 32, 2, stride=2)
        self.layer4 = self._make_layer(BasicBlock, 64, 2, stride=2)
        self.fc = nn.Linear(64, num_classes)


class VggStyle(nn.Module):
    def __init__(self, num_classes=10):
        super().__init__()

        def block(cin, cout):
            return [nn.Conv2d(cin, cout, 3, padding=1), nn.BatchNorm2d(cout), nn.ReLU()]

        self.features = nn.Sequential(
            *block(3, 16), *block(16, 16), nn.MaxPool2d(2),
            *block(16, 32), nn.ZeroPad2d((1, 1, 1, 1)), nn.Conv2d(32, 32, 3), nn.LeakyReLU(0.1),
            nn.MaxPool2d(2))
        self.se_pool = nn.AdaptiveAvgPool2d(1)
        self.se = nn.Sequential(nn.Conv2d(32, 8, 1), nn.ReLU(), nn.Conv2d(8, 32, 1),
                                nn.Hardsigmoid())
        self.tail = nn.Sequential(nn.Conv2d(32, 32, 3, padding=1, stride=2), nn.Hardswish())
        self.classifier = nn.Sequential(nn.Linear(32 * 4 * 4, 64), nn.ReLU(), nn.Dropout(0.5),
                                        nn.Linear(64, num_classes))

    def forward(self, x):
        x = self.features(x)
        x = x * self.se(self.se_pool(x))
        x = self.tail(x)
        x = x.view(x.size(0), -1)
        return self.classifier(x)


class Lambda(nn.Module):
    def __init__(self, fn):
        super().__init__()
        self.fn = fn

    def forward(self, x):
        return self.fn(x)


def act_net(act):
    """Conv, act, Conv: the activation reads and feeds computed tensors."""
    return nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), act, nn.Conv2d(4, 2, 1))


ACTIVATIONS = [
    ("act_hardswish", nn.Hardswish()),
    ("act_hardswish_clamp", Lambda(lambda x: x * torch.clamp(x + 3, 0, 6) / 6)),
    ("act_hardsigmoid_clamp", Lambda(lambda x: torch.clamp(x + 3, 0, 6) / 6)),
    ("act_silu", nn.SiLU()),
    ("act_gelu", nn.GELU()),
    ("act_gelu_tanh", nn.GELU(approximate="tanh")),
]


def export_activations(gen):
    for name, act in ACTIVATIONS:
        model = act_net(act)
        with torch.no_grad():  # inputs of the activation across its bends
            for p in model.parameters():
                p.mul_(4.0)
        export(name, model, 6, False, gen)


def randomise_batch_norms(model, gen):
    """Non-trivial running statistics and affine parameters."""
    for m in model.modules():
        if isinstance(m, (nn.BatchNorm2d, nn.BatchNorm1d)):
            with torch.no_grad():
                m.running_mean.copy_(torch.randn(m.num_features, generator=gen) * 0.1)
                m.running_var.copy_(torch.rand(m.num_features, generator=gen) + 0.5)
                m.weight.copy_(torch.rand(m.num_features, generator=gen) + 0.5)
                m.bias.copy_(torch.randn(m.num_features, generator=gen) * 0.1)


def export(name, model, size, keep_bn, gen):
    model.eval()
    randomise_batch_norms(model, gen)
    x = torch.randn(2, 3, size, size, generator=gen)
    with torch.no_grad():
        y = model(x)
    path = os.path.join(OUT, name + ".onnx")
    mode = torch.onnx.TrainingMode.PRESERVE if keep_bn else torch.onnx.TrainingMode.EVAL
    torch.onnx.export(model, x, path, opset_version=13, input_names=["input"],
                      output_names=["logits"], dynamic_axes={"input": {0: "N"}, "logits": {0: "N"}},
                      training=mode, do_constant_folding=not keep_bn)
    with open(os.path.join(OUT, name + ".input.pb"), "wb") as f:
        f.write(tensor_proto(x))
    with open(os.path.join(OUT, name + ".output.pb"), "wb") as f:
        f.write(tensor_proto(y))
    print("%s: %d bytes" % (name, os.path.getsize(path)))


class SeqLayerNorm(nn.Module):
    def __init__(self):
        super().__init__()
        self.norm = nn.LayerNorm(32)
        self.fc = nn.Linear(32, 8)

    def forward(self, x):
        return self.fc(self.norm(x))


class SeqAttention(nn.Module):
    def __init__(self, gen, transpose_k):
        super().__init__()
        self.transpose_k = transpose_k
        kd = 32 if transpose_k else 16
        self.wq = nn.Parameter(torch.randn(32, kd, generator=gen) * 0.2)
        self.wk = nn.Parameter(torch.randn(32, kd if transpose_k else 16, generator=gen) * 0.2)
        self.wv = nn.Parameter(torch.randn(32, 32, generator=gen) * 0.2)
        self.scale = 1.0 / (kd ** 0.5)
        self.norm = nn.LayerNorm(32)
        with torch.no_grad():
            self.norm.weight.copy_(1.0 + 0.1 * torch.randn(32, generator=gen))
            self.norm.bias.copy_(0.1 * torch.randn(32, generator=gen))

    def forward(self, x):
        q = torch.matmul(x, self.wq)
        k = torch.matmul(x, self.wk)
        v = torch.matmul(x, self.wv)
        kt = k.transpose(-1, -2) if self.transpose_k else k
        attn = torch.softmax(torch.matmul(q, kt) * self.scale, dim=-1)
        return self.norm(torch.matmul(attn, v) + x)


def export_seq(name, model, gen):
    model.eval()
    x = torch.randn(2, 16, 32, generator=gen)
    with torch.no_grad():
        y = model(x)
    for opset in (13, 17):
        full = "%s_op%d" % (name, opset)
        path = os.path.join(OUT, full + ".onnx")
        torch.onnx.export(model, x, path, opset_version=opset, input_names=["input"],
                          output_names=["output"],
                          dynamic_axes={"input": {0: "N"}, "output": {0: "N"}})
        print("%s: %d bytes" % (full, os.path.getsize(path)))
    with open(os.path.join(OUT, name + ".input.pb"), "wb") as f:
        f.write(tensor_proto(x))
    with open(os.path.join(OUT, name + ".output.pb"), "wb") as f:
        f.write(tensor_proto(y))


def seq_fixtures(wanted):
    gen = torch.Generator().manual_seed(3)
    torch.manual_seed(3)
    if not wanted or "seq_layernorm" in wanted:
        m = SeqLayerNorm()
        with torch.no_grad():
            m.norm.weight.copy_(1.0 + 0.1 * torch.randn(32, generator=gen))
            m.norm.bias.copy_(0.1 * torch.randn(32, generator=gen))
        export_seq("seq_layernorm", m, gen)
    if not wanted or "seq_attention" in wanted:
        export_seq("seq_attention", SeqAttention(gen, False), gen)
    if not wanted or "seq_attention_kt" in wanted:
        export_seq("seq_attention_kt", SeqAttention(gen, True), gen)


def make_keras_style(gen):
    """The keras_style fixture (see the module's comment)."""
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper
    import torch.nn.functional as F

    def rand(*shape, scale=0.5):
        return torch.randn(*shape, generator=gen) * scale

    w1, b1 = rand(8, 3, 3, 3), rand(8, scale=0.1)
    w2, b2 = rand(16, 8, 3, 3, scale=0.2), rand(16, scale=0.1)
    kernel, bias = rand(16, 5), rand(5, scale=0.1)  # Keras' Dense kernel is (in, out)
    x = torch.randn(2, 16, 16, 3, generator=gen)

    def init(name, t):
        return numpy_helper.from_array(t.numpy().astype(np.float32), name)

    nodes = [
        helper.make_node("Transpose", ["input_1"], ["input_1__6:0"], name="model/conv2d/Conv2D__6",
                         perm=[0, 3, 1, 2]),
        helper.make_node("Conv", ["input_1__6:0", "conv1/W", "conv1/B"], ["conv1:0"],
                         name="model/conv2d/Conv2D", kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["conv1:0"], ["relu1:0"], name="model/conv2d/Relu"),
        helper.make_node("MaxPool", ["relu1:0"], ["pool1:0"], name="model/max_pooling2d/MaxPool",
                         kernel_shape=[2, 2], strides=[2, 2]),
        helper.make_node("Conv", ["pool1:0", "conv2/W", "conv2/B"], ["conv2:0"],
                         name="model/conv2d_1/Conv2D", kernel_shape=[3, 3], strides=[2, 2],
                         auto_pad="SAME_UPPER"),
        helper.make_node("Relu", ["conv2:0"], ["relu2:0"], name="model/conv2d_1/Relu"),
        helper.make_node("GlobalAveragePool", ["relu2:0"], ["gap:0"],
                         name="model/global_average_pooling2d/Mean"),
        helper.make_node("Reshape", ["gap:0", "flat_shape"], ["flat:0"],
                         name="model/global_average_pooling2d/Mean_Squeeze__12"),
        helper.make_node("MatMul", ["flat:0", "model/dense/MatMul/ReadVariableOp:0"],
                         ["model/dense/MatMul:0"], name="model/dense/MatMul"),
        helper.make_node("Constant", [], ["model/dense/BiasAdd/ReadVariableOp:0"],
                         name="model/dense/BiasAdd/ReadVariableOp",
                         value=init("model/dense/BiasAdd/ReadVariableOp:0", bias)),
        helper.make_node("Add", ["model/dense/MatMul:0", "model/dense/BiasAdd/ReadVariableOp:0"],
                         ["model/dense/BiasAdd:0"], name="model/dense/BiasAdd"),
        helper.make_node("Softmax", ["model/dense/BiasAdd:0"], ["dense"],
                         name="model/dense/Softmax", axis=-1),
    ]
    inits = [init("conv1/W", w1), init("conv1/B", b1), init("conv2/W", w2), init("conv2/B", b2),
             init("model/dense/MatMul/ReadVariableOp:0", kernel),
             numpy_helper.from_array(np.array([-1, 16], dtype=np.int64), "flat_shape")]
    graph = helper.make_graph(
        nodes, "tf2onnx",
        [helper.make_tensor_value_info("input_1", TensorProto.FLOAT, ["unk__20", 16, 16, 3])],
        [helper.make_tensor_value_info("dense", TensorProto.FLOAT, ["unk__21", 5])], inits)
    model = helper.make_model(graph, producer_name="tf2onnx", producer_version="1.9.3",
                              opset_imports=[helper.make_opsetid("", 13)])
    onnx.checker.check_model(model, full_check=True)

    with torch.no_grad():
        h = x.permute(0, 3, 1, 2)
        h = F.max_pool2d(F.relu(F.conv2d(h, w1, b1, padding=1)), 2)
        h = F.relu(F.conv2d(F.pad(h, (0, 1, 0, 1)), w2, b2, stride=2))
        h = h.mean(dim=(2, 3))
        y = torch.softmax(h @ kernel + bias, dim=-1)
    return model, x, y


def make_unsupported():
    """The unsupported fixture (see the module's comment)."""
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    h = 4
    gru_w = numpy_helper.from_array(np.zeros((1, 3 * h, 8), np.float32), "gru_w")
    gru_r = numpy_helper.from_array(np.zeros((1, 3 * h, h), np.float32), "gru_r")
    nodes = [
        helper.make_node("Erf", ["x"], ["e1"], name="gelu/erf"),
        helper.make_node("Relu", ["x"], ["r"], name="relu"),
        helper.make_node("Erf", ["r"], ["e2"], name="gelu_1/erf"),
        helper.make_node("Resize", ["r", "", "scales"], ["z"], name="upsample", mode="cubic"),
        helper.make_node("LpNormalization", ["r"], ["n"], name="norm", axis=1, p=1),
        helper.make_node("Add", ["e1", "e2"], ["s"], name="sum"),
        helper.make_node("Unsqueeze", ["n", "axis0"], ["seq"], name="to_seq"),
        helper.make_node("GRU", ["seq", "gru_w", "gru_r"], ["", "g"], name="rnn", hidden_size=h),
        helper.make_node("Relu", ["s"], ["y"], name="out"),
    ]
    graph = helper.make_graph(
        nodes, "unsupported",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 8])],
        [gru_w, gru_r, numpy_helper.from_array(np.array([0], dtype=np.int64), "axis0"),
         numpy_helper.from_array(np.array([1, 2], dtype=np.float32), "scales")])
    model = helper.make_model(graph, producer_name="graft-tests",
                              opset_imports=[helper.make_opsetid("", 13)])
    onnx.checker.check_model(model, full_check=True)
    return model


class FcnOpenHw(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
                                  nn.Conv2d(8, 8, 3, padding=1, stride=2), nn.ReLU(),
                                  nn.Conv2d(8, 4, 1))

    def forward(self, x):
        return self.body(x)


class ShapeOpenHw(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU())
        self.b = nn.Sequential(nn.Conv2d(8, 8, 3, padding=1, stride=2), nn.ReLU())
        self.fc = nn.Linear(8, 5)

    def forward(self, x):
        a = self.a(x)
        u = nn.functional.interpolate(self.b(a), size=a.shape[2:], mode="nearest")
        s = a + u
        n, c, h, w = s.shape
        s = torch.sigmoid(s.view(n, c, h * w)).view(n, c, h, w)
        return self.fc(s.mean(dim=(2, 3)))


def export_open_hw(name, model, sizes, gen):
    """Exports with the height and width open and stores, for each size, an
    input of one sample and PyTorch's output for it."""
    model.eval()
    randomise_batch_norms(model, gen)
    path = os.path.join(OUT, name + ".onnx")
    x = torch.randn(1, 3, 16, 16, generator=gen)
    torch.onnx.export(model, x, path, opset_version=13, input_names=["x"], output_names=["y"],
                      dynamic_axes={"x": {0: "N", 2: "height", 3: "width"},
                                    "y": {0: "N"}},
                      training=torch.onnx.TrainingMode.EVAL, do_constant_folding=True)
    for h, w in sizes:
        x = torch.randn(1, 3, h, w, generator=gen)
        with torch.no_grad():
            y = model(x)
        for part, t in (("input", x), ("output", y)):
            with open(os.path.join(OUT, "%s.%dx%d.%s.pb" % (name, h, w, part)), "wb") as f:
                f.write(tensor_proto(t))
    print("%s: %d bytes" % (name, os.path.getsize(path)))


def main():
    os.makedirs(OUT, exist_ok=True)
    names = set(sys.argv[1:])
    every = not names
    if every or names & {"mobilenet_v2", "resnet18", "squeezenet1_1", "vgg_style"}:
        # one generator for the four: they are written together
        torch.manual_seed(1)
        gen = torch.Generator().manual_seed(2)
        export("mobilenet_v2", torchvision.models.mobilenet_v2(width_mult=0.25, num_classes=10),
               64, False, gen)
        export("resnet18", SmallResNet18(), 64, True, gen)
        export("squeezenet1_1", torchvision.models.squeezenet1_1(num_classes=10), 64, False, gen)
        export("vgg_style", VggStyle(), 32, True, gen)
    if every or "shufflenet_v2" in names:
        torch.manual_seed(3)
        gen = torch.Generator().manual_seed(4)
        export("shufflenet_v2",
               torchvision.models.ShuffleNetV2([2, 2, 1], [8, 16, 32, 64, 128], num_classes=10),
               32, False, gen)
    if every or "activations" in names:
        export_activations(torch.Generator().manual_seed(3))
    seq = sorted(n for n in names if n.startswith("seq_"))
    if every or seq:
        seq_fixtures(seq)
    import onnx
    if every or "keras_style" in names:
        model, x, y = make_keras_style(torch.Generator().manual_seed(3))
        onnx.save(model, os.path.join(OUT, "keras_style.onnx"))
        with open(os.path.join(OUT, "keras_style.input.pb"), "wb") as f:
            f.write(tensor_proto(x))
        with open(os.path.join(OUT, "keras_style.output.pb"), "wb") as f:
            f.write(tensor_proto(y))
        print("keras_style: %d bytes" % os.path.getsize(os.path.join(OUT, "keras_style.onnx")))
    if every or "unsupported" in names:
        onnx.save(make_unsupported(), os.path.join(OUT, "unsupported.onnx"))
        print("unsupported: %d bytes" % os.path.getsize(os.path.join(OUT, "unsupported.onnx")))
    if not names or names & {"fcn_open_hw", "shape_open_hw"}:
        torch.manual_seed(5)
        gen = torch.Generator().manual_seed(6)
        export_open_hw("fcn_open_hw", FcnOpenHw(), [(24, 32), (17, 23)], gen)
        export_open_hw("shape_open_hw", ShapeOpenHw(), [(20, 28), (15, 21)], gen)
    return 0


if __name__ == "__main__":
    sys.exit(main())
