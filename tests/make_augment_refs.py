#!/usr/bin/python3
"""Write torchvision reference results for graft's deterministic image steps.

Run with the system Python that has torch and torchvision:

    /usr/bin/python3 tests/make_augment_refs.py > tests/data/augment_refs.txt

tests/check_image_augment.c reads the output and runs each case through
graft. Inputs are float32 values in [0, 1) from a fixed numpy seed, so the
file is reproducible; torchvision computes the results on float32 tensors
(as graft does), printed with %.9g.

File format (one record per line, fields separated by single spaces; lines
starting with '#' are ignored). A case is three lines:

    case OP NAME C H W P1 P2 ...   OP and its parameters (below)
    in V...                        C*H*W input values, planar (C, H, W)
    out OH OW V...                 the output's size, then C*OH*OW values

OPs and their parameters:

    affine ANGLE TX TY FILL   F.affine(img - FILL, angle=-ANGLE, translate=
                              [TX, TY], scale=1, shear=0, BILINEAR) + FILL
                              (graft's rotation by ANGLE counter-clockwise)
    saturation F              F.adjust_saturation(img, F)
    hue H                     F.adjust_hue(img, H)
    grey                      F.rgb_to_grayscale(img, 3)
    pad L T R B FILL          F.pad(img, [L, T, R, B], FILL)
    letterbox OW OH FILL      F.resize(img, [nh, nw], BILINEAR,
                              antialias=True) then F.pad centred with FILL,
                              nw and nh as graft_image_letterbox() says
"""

import numpy as np
import torch
import torchvision.transforms.functional as F
from torchvision.transforms import InterpolationMode


def fmt(a):
    return " ".join("%.9g" % float(v) for v in np.asarray(a, dtype=np.float32).ravel())


def emit(op, name, img, params, out):
    c, h, w = img.shape
    oh, ow = out.shape[-2:]
    print("case %s %s %d %d %d %s" % (op, name, c, h, w, " ".join(str(p) for p in params)))
    print("in " + fmt(img))
    print("out %d %d %s" % (oh, ow, fmt(out)))


def letterbox_size(w, h, width, height):
    if w * height <= h * width:
        nh, nw = height, (2 * w * height + h) // (2 * h)
    else:
        nw, nh = width, (2 * h * width + w) // (2 * w)
    return min(max(nw, 1), width), min(max(nh, 1), height)


def main():
    rng = np.random.RandomState(20261208)

    def image(c, h, w):
        return torch.from_numpy(rng.rand(c, h, w).astype(np.float32))

    print("# graft image augmentation references (tests/make_augment_refs.py)")
    print("# torch %s" % torch.__version__)
    for name, (c, h, w), angle, tx, ty, fill in [
        ("rot30", (3, 6, 7), 30.0, 0, 0, 0.0),
        ("rot_neg45_odd", (1, 5, 5), -45.0, 0, 0, 0.0),
        ("rot90", (1, 4, 6), 90.0, 0, 0, 0.0),
        ("rot12_fill", (3, 7, 5), 12.5, 0, 0, 0.25),
        ("shift", (3, 5, 6), 0.0, 2, -1, 0.0),
        ("rot_shift_fill", (3, 8, 8), -20.0, -1, 2, 0.5),
    ]:
        img = image(c, h, w)
        out = F.affine(img - fill, angle=-angle, translate=[tx, ty], scale=1.0, shear=[0.0, 0.0],
                       interpolation=InterpolationMode.BILINEAR) + fill
        emit("affine", name, img, [angle, tx, ty, fill], out)
    for name, f in [("sat0", 0.0), ("sat_half", 0.5), ("sat_1p7", 1.7)]:
        img = image(3, 4, 5)
        emit("saturation", name, img, [f], F.adjust_saturation(img, f))
    for name, hshift in [("hue_pos", 0.2), ("hue_neg", -0.35), ("hue_half", 0.5)]:
        img = image(3, 5, 4)
        img[:, 0, 0] = 0.5  # a grey pixel: hue 0, saturation 0
        img[:, 0, 1] = torch.tensor([0.9, 0.9, 0.1])  # two channels equal at the maximum
        emit("hue", name, img, [hshift], F.adjust_hue(img, hshift))
    img = image(3, 3, 4)
    emit("grey", "grey", img, [], F.rgb_to_grayscale(img, num_output_channels=3))
    for name, (c, h, w), pads, fill in [
        ("pad_all", (3, 3, 4), (1, 2, 3, 0), 0.5),
        ("pad_grey", (1, 2, 2), (0, 0, 2, 1), -1.0),
    ]:
        img = image(c, h, w)
        emit("pad", name, img, list(pads) + [fill], F.pad(img, list(pads), fill=fill))
    for name, (c, h, w), (ow, oh), fill in [
        ("lb_wide", (3, 6, 12), (8, 8), 0.0),
        ("lb_tall", (3, 12, 5), (7, 6), 0.5),
        ("lb_up", (1, 3, 4), (10, 9), 0.25),
        ("lb_same_ratio", (3, 4, 8), (6, 3), 0.0),
    ]:
        img = image(c, h, w)
        nw, nh = letterbox_size(w, h, ow, oh)
        small = F.resize(img, [nh, nw], interpolation=InterpolationMode.BILINEAR, antialias=True)
        left, top = (ow - nw) // 2, (oh - nh) // 2
        out = F.pad(small, [left, top, ow - nw - left, oh - nh - top], fill=fill)
        emit("letterbox", name, img, [ow, oh, fill], out)


if __name__ == "__main__":
    main()
