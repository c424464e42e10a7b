#!/usr/bin/python3
"""Regenerates the compact model-zoo fixtures in tests/data/zoo/.

Run from the source root with Debian's PyTorch (make zoo-fixtures):

    /usr/bin/python3 tests/zoo/make_zoo_fixtures.py

For each architecture it writes <name>.onnx (torch.onnx.export, opset 13,
a symbolic batch axis, eval mode, batch norms folded by the exporter where
it can), <name>.input.pb (a fixed batch of 2) and <name>.output.pb
(PyTorch's output for it), both ONNX TensorProto messages.
tests/check_onnx_zoo.c imports each, compares graft's output with
PyTorch's, replaces the head, fine-tunes and exports.

These are the architectures of docs/ONNX-ZOO.md that tests/data/onnx
(MobileNetV2, ResNet-18, SqueezeNet, a VGG-style network) does not already
cover, built from torchvision's own classes with reduced widths and depths,
random weights (seeded; batch norms given random running statistics) and
10 classes, on 64x64 inputs (the transformer: 8 tokens of 32):

  mobilenet_v3_small   MobileNetV3 small, width 0.15, last channel 64
  efficientnet_b0      EfficientNet-B0's blocks, width 0.15, depth 0.25
  mnasnet              MNASNet, alpha 0.1, last convolution 32 wide
  regnet_x             a RegNetX (group convolutions), depth 6, widths from 8
  densenet             DenseNet, growth 4, blocks (2, 2, 2), bn_size 2
  googlenet            GoogLeNet's stem and inception blocks, narrow
  lraspp               LR-ASPP's head on a MobileNetV3-large trunk of width
                       0.1 (dilated), inner width 16 (the "out" map, 64x64x10)
  shufflenet_v2        ShuffleNetV2, stages (2, 2, 2) of 8/16/32 channels
  convnext             ConvNeXt, stages of 8/16/32 channels, one block each
  transformer_encoder  nn.TransformerEncoder (2 layers, d_model 32, 4 heads,
                       batch_first), Flatten, Linear. PyTorch's attention
                       moves the batch axis (Transpose perm 1, 0, 2), so it is
                       exported for one sequence (a fixed batch of 1) and
                       imported with batch_axis 0: its input and output are
                       stored as (2, 1, 8, 32) and (2, 1, 10), graft's
                       batches of that one-sequence graph
"""
import os
import sys

import torch
import torch.nn as nn

# the TensorProto writer and the batch-norm statistics of tests/make_onnx_fixtures.py
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from make_onnx_fixtures import randomise_batch_norms, tensor_proto  # noqa: E402

OUT = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "data", "zoo")
MAX_FILE = 300 * 1024


# ---- the architectures -------------------------------------------------------------------


def mobilenet_v3_small():
    from torchvision.models.mobilenetv3 import MobileNetV3, _mobilenet_v3_conf

    setting, last = _mobilenet_v3_conf("mobilenet_v3_small", width_mult=0.15)
    return MobileNetV3(setting, 64, num_classes=10)


def efficientnet_b0():
    from torchvision.models.efficientnet import EfficientNet, _efficientnet_conf

    setting, last = _efficientnet_conf("efficientnet_b0", width_mult=0.15, depth_mult=0.25)
    return EfficientNet(setting, 0.2, num_classes=10, last_channel=64)


def mnasnet():
    from torchvision.models.mnasnet import MNASNet

    m = MNASNet(0.1, num_classes=10)
    # The last 1x1 convolution is 1280 wide at every alpha; narrow it.
    conv, bn = m.layers[14], m.layers[15]
    m.layers[14] = nn.Conv2d(conv.in_channels, 32, 1, bias=False)
    m.layers[15] = nn.BatchNorm2d(32, momentum=bn.momentum)
    m.classifier[1] = nn.Linear(32, 10)
    return m


def regnet_x():
    from torchvision.models.regnet import BlockParams, RegNet

    params = BlockParams.from_init_params(depth=6, w_0=8, w_a=8.0, w_m=2.0, group_width=4)
    return RegNet(params, num_classes=10, stem_width=8)


def densenet():
    from torchvision.models.densenet import DenseNet

    return DenseNet(growth_rate=4, block_config=(2, 2, 2), num_init_features=8, bn_size=2,
                    num_classes=10)


class SmallGoogLeNet(nn.Module):
    """GoogLeNet's layout (stem, max pools with ceil_mode, inception blocks
    of four branches, average pool, dropout, linear) at small widths."""

    def __init__(self):
        super().__init__()
        from torchvision.models.googlenet import BasicConv2d, Inception

        self.conv1 = BasicConv2d(3, 8, kernel_size=7, stride=2, padding=3)
        self.maxpool1 = nn.MaxPool2d(3, stride=2, ceil_mode=True)
        self.conv2 = BasicConv2d(8, 16, kernel_size=3, padding=1)
        self.maxpool2 = nn.MaxPool2d(3, stride=2, ceil_mode=True)
        self.inception3a = Inception(16, 8, 8, 12, 4, 4, 4)
        self.inception3b = Inception(28, 12, 8, 16, 4, 8, 8)
        self.maxpool3 = nn.MaxPool2d(3, stride=2, ceil_mode=True)
        self.inception4a = Inception(44, 16, 8, 16, 4, 8, 8)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.dropout = nn.Dropout(0.2)
        self.fc = nn.Linear(48, 10)

    def forward(self, x):
        x = self.maxpool1(self.conv1(x))
        x = self.maxpool2(self.conv2(x))
        x = self.maxpool3(self.inception3b(self.inception3a(x)))
        x = self.avgpool(self.inception4a(x))
        return self.fc(self.dropout(torch.flatten(x, 1)))


class OutOnly(nn.Module):
    """A segmentation model's "out" map (one graph output)."""

    def __init__(self, m):
        super().__init__()
        self.m = m

    def forward(self, x):
        return self.m(x)["out"]


def lraspp():
    from torchvision.models.mobilenetv3 import MobileNetV3, _mobilenet_v3_conf
    from torchvision.models.segmentation.lraspp import _lraspp_mobilenetv3

    setting, last = _mobilenet_v3_conf("mobilenet_v3_large", width_mult=0.1, dilated=True)
    m = _lraspp_mobilenetv3(MobileNetV3(setting, last), 10)
    # The head's inner width is 128 at every trunk width; narrow it.
    low = m.classifier.low_classifier.in_channels
    high = m.classifier.cbr[0].in_channels
    m.classifier = type(m.classifier)(low, high, 10, 16)
    return OutOnly(m)


def shufflenet_v2():
    from torchvision.models.shufflenetv2 import ShuffleNetV2

    return ShuffleNetV2([2, 2, 2], [8, 16, 32, 64, 64], num_classes=10)


def convnext():
    from torchvision.models.convnext import CNBlockConfig, ConvNeXt

    return ConvNeXt([CNBlockConfig(8, 16, 1), CNBlockConfig(16, 32, 1), CNBlockConfig(32, None, 1)],
                    num_classes=10)


class TransformerEncoder(nn.Module):
    def __init__(self):
        super().__init__()
        layer = nn.TransformerEncoderLayer(d_model=32, nhead=4, dim_feedforward=64, dropout=0.0,
                                           batch_first=True)
        self.encoder = nn.TransformerEncoder(layer, 2)
        self.flatten = nn.Flatten()
        self.fc = nn.Linear(8 * 32, 10)

    def forward(self, x):
        return self.fc(self.flatten(self.encoder(x)))


# name, builder, per-sample input shape
NETWORKS = [
    ("mobilenet_v3_small", mobilenet_v3_small, (3, 64, 64)),
    ("efficientnet_b0", efficientnet_b0, (3, 64, 64)),
    ("mnasnet", mnasnet, (3, 64, 64)),
    ("regnet_x", regnet_x, (3, 64, 64)),
    ("densenet", densenet, (3, 64, 64)),
    ("googlenet", SmallGoogLeNet, (3, 64, 64)),
    ("lraspp", lraspp, (3, 64, 64)),
    ("shufflenet_v2", shufflenet_v2, (3, 64, 64)),
    ("convnext", convnext, (3, 64, 64)),
    ("transformer_encoder", TransformerEncoder, (8, 32)),
]

# Exported for one sample (no batch axis in graft's sense): see above.
ONE_SAMPLE = {"transformer_encoder"}


def export(name, model, shape, gen):
    model.eval()
    randomise_batch_norms(model, gen)
    x = torch.randn((2,) + shape, generator=gen)
    with torch.no_grad():
        y = model(x)
    path = os.path.join(OUT, name + ".onnx")
    if name in ONE_SAMPLE:
        torch.onnx.export(model, x[:1], path, opset_version=13, input_names=["input"],
                          output_names=["output"])
        x, y = x.unsqueeze(1), y.unsqueeze(1)  # graft's batches of one-sample graphs
    else:
        torch.onnx.export(model, x, path, opset_version=13, input_names=["input"],
                          output_names=["output"],
                          dynamic_axes={"input": {0: "N"}, "output": {0: "N"}})
    with open(os.path.join(OUT, name + ".input.pb"), "wb") as f:
        f.write(tensor_proto(x))
    with open(os.path.join(OUT, name + ".output.pb"), "wb") as f:
        f.write(tensor_proto(y))
    size = os.path.getsize(path)
    params = sum(p.numel() for p in model.parameters())
    print("%-20s %7d parameters %7d bytes, output %s" % (name, params, size, tuple(y.shape)))
    if size > MAX_FILE:
        raise SystemExit("%s is %d bytes, over the %d-byte limit of these fixtures"
                         % (path, size, MAX_FILE))
    return size


def main(argv):
    os.makedirs(OUT, exist_ok=True)
    only = set(argv[1:])
    total = 0
    for name, builder, shape in NETWORKS:
        if only and name not in only:
            continue
        torch.manual_seed(1)
        gen = torch.Generator().manual_seed(2)
        total += export(name, builder(), shape, gen)
    print("%d bytes of .onnx in %s" % (total, OUT))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
