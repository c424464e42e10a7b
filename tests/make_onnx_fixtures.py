#!/usr/bin/python3
"""Regenerates the whole-network ONNX fixtures in tests/data/onnx/.

Run from the source root with Debian's PyTorch:

    /usr/bin/python3 tests/make_onnx_fixtures.py [NAME ...]

(with names, only those networks are written).

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


def randomise_batch_norms(model, gen):
    """Non-trivial running statistics and affine parameters."""
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
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
    if not names or names & {"mobilenet_v2", "resnet18", "squeezenet1_1", "vgg_style"}:
        # one generator for the four: they are written together
        torch.manual_seed(1)
        gen = torch.Generator().manual_seed(2)
        export("mobilenet_v2", torchvision.models.mobilenet_v2(width_mult=0.25, num_classes=10),
               64, False, gen)
        export("resnet18", SmallResNet18(), 64, True, gen)
        export("squeezenet1_1", torchvision.models.squeezenet1_1(num_classes=10), 64, False, gen)
        export("vgg_style", VggStyle(), 32, True, gen)
    if not names or "shufflenet_v2" in names:
        torch.manual_seed(3)
        gen = torch.Generator().manual_seed(4)
        export("shufflenet_v2",
               torchvision.models.ShuffleNetV2([2, 2, 1], [8, 16, 32, 64, 128], num_classes=10),
               32, False, gen)
    if not names or names & {"fcn_open_hw", "shape_open_hw"}:
        torch.manual_seed(5)
        gen = torch.Generator().manual_seed(6)
        export_open_hw("fcn_open_hw", FcnOpenHw(), [(24, 32), (17, 23)], gen)
        export_open_hw("shape_open_hw", ShapeOpenHw(), [(20, 28), (15, 21)], gen)
    return 0


if __name__ == "__main__":
    sys.exit(main())
