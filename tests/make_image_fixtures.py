#!/usr/bin/python3
"""Writes the image fixtures of tests/check_image.c into tests/data/images/.

Run from the repository root with Debian's Python (it needs python3-pil,
python3-numpy and python3-torch):

    /usr/bin/python3 tests/make_image_fixtures.py

PNG files are written by the small encoder below, so that every colour type,
bit depth, filter type and Adam7 interlacing can be produced (Pillow writes
only some of them). JPEG files are written by Pillow (libjpeg). The pixels
come from a fixed pseudo-random sequence, so the outputs are the same on
every run. The test decodes each fixture with graft and compares it with
what pngtopnm (netpbm) and djpeg (libjpeg-turbo-progs) give; this script
does not produce expected pixels for the decoders.

resize_refs.txt holds PyTorch's F.interpolate(mode="bilinear",
align_corners=False) results (antialias=False when every side grows,
antialias=True when one shrinks) on a fixed input, one case per block:
    case <name> <channels> <in_h> <in_w> <out_h> <out_w> <antialias>
    in <values...>      (channels*in_h*in_w, CHW)
    out <values...>     (channels*out_h*out_w, CHW)
"""
import io
import os
import random
import struct
import zlib

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

OUT = os.path.join("tests", "data", "images")

ADAM7 = [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2),
         (0, 1, 1, 2)]  # (x0, y0, dx, dy)

CHANNELS = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}  # PNG colour type -> samples per pixel


def chunk(kind, data):
    body = kind + data
    return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body) & 0xFFFFFFFF)


def pack_row(samples, depth):
    """Packs a list of samples of depth bits, big-endian, MSB first."""
    if depth == 16:
        return b"".join(struct.pack(">H", s) for s in samples)
    if depth == 8:
        return bytes(samples)
    out, acc, nbits = bytearray(), 0, 0
    for s in samples:
        acc = (acc << depth) | s
        nbits += depth
        if nbits == 8:
            out.append(acc)
            acc, nbits = 0, 0
    if nbits:
        out.append(acc << (8 - nbits))
    return bytes(out)


def paeth(a, b, c):
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    if pa <= pb and pa <= pc:
        return a
    return b if pb <= pc else c


def filter_rows(rows, bpp, first_filter):
    """Filters each row with types cycling 0..4 from first_filter."""
    out, prev = bytearray(), bytes(len(rows[0])) if rows else b""
    for i, row in enumerate(rows):
        ft = (first_filter + i) % 5
        f = bytearray()
        for x, v in enumerate(row):
            a = row[x - bpp] if x >= bpp else 0
            b = prev[x]
            c = prev[x - bpp] if x >= bpp else 0
            pred = [0, a, b, (a + b) // 2, paeth(a, b, c)][ft]
            f.append((v - pred) & 0xFF)
        out.append(ft)
        out += f
        prev = row
    return bytes(out)


def encode_png(width, height, colour_type, depth, pixels, interlace=False, palette=None,
               trns=None):
    """pixels[y][x] is a tuple of samples. Returns the PNG bytes."""
    spp = CHANNELS[colour_type]
    bpp = max(1, spp * depth // 8)
    raw = bytearray()
    passes = ADAM7 if interlace else [(0, 0, 1, 1)]
    for i, (x0, y0, dx, dy) in enumerate(passes):
        xs = list(range(x0, width, dx))
        ys = list(range(y0, height, dy))
        if not xs or not ys:
            continue
        rows = [pack_row([s for x in xs for s in pixels[y][x]], depth) for y in ys]
        raw += filter_rows(rows, bpp, i)
    png = b"\x89PNG\r\n\x1a\n"
    png += chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, depth, colour_type, 0, 0,
                                      1 if interlace else 0))
    if palette is not None:
        png += chunk(b"PLTE", b"".join(bytes(p) for p in palette))
    if trns is not None:
        png += chunk(b"tRNS", trns)
    png += chunk(b"tEXt", b"Comment\x00graft test fixture")
    png += chunk(b"IDAT", zlib.compress(bytes(raw), 9))
    png += chunk(b"IEND", b"")
    return png


def random_pixels(rng, width, height, spp, maxval):
    return [[tuple(rng.randint(0, maxval) for _ in range(spp)) for _ in range(width)]
            for _ in range(height)]


def write(name, data):
    with open(os.path.join(OUT, name), "wb") as f:
        f.write(data)


def make_pngs():
    rng = random.Random(20240501)
    w, h = 13, 7
    for depth in (1, 2, 4, 8, 16):
        px = random_pixels(rng, w, h, 1, (1 << depth) - 1)
        write("grey%d.png" % depth, encode_png(w, h, 0, depth, px))
    for depth in (8, 16):
        write("grey_alpha%d.png" % depth,
              encode_png(w, h, 4, depth, random_pixels(rng, w, h, 2, (1 << depth) - 1)))
        write("rgb%d.png" % depth,
              encode_png(w, h, 2, depth, random_pixels(rng, w, h, 3, (1 << depth) - 1)))
        write("rgba%d.png" % depth,
              encode_png(w, h, 6, depth, random_pixels(rng, w, h, 4, (1 << depth) - 1)))
    for depth in (1, 2, 4, 8):
        n = 1 << depth
        palette = [(rng.randint(0, 255), rng.randint(0, 255), rng.randint(0, 255))
                   for _ in range(n)]
        px = random_pixels(rng, w, h, 1, n - 1)
        write("palette%d.png" % depth, encode_png(w, h, 3, depth, px, palette=palette))
    # Palette with transparency for some entries; grey with a transparent value.
    palette = [(rng.randint(0, 255), rng.randint(0, 255), rng.randint(0, 255)) for _ in range(16)]
    px = random_pixels(rng, w, h, 1, 15)
    write("palette4_trns.png",
          encode_png(w, h, 3, 4, px, palette=palette, trns=bytes([0, 128, 255, 7, 64])))
    px = random_pixels(rng, w, h, 1, 255)
    write("grey8_trns.png", encode_png(w, h, 0, 8, px, trns=struct.pack(">H", px[0][0][0])))
    # Interlaced (Adam7), including a size where some passes are empty.
    iw, ih = 11, 9
    write("rgb8_interlaced.png",
          encode_png(iw, ih, 2, 8, random_pixels(rng, iw, ih, 3, 255), interlace=True))
    write("grey2_interlaced.png",
          encode_png(iw, ih, 0, 2, random_pixels(rng, iw, ih, 1, 3), interlace=True))
    write("rgba16_interlaced.png",
          encode_png(iw, ih, 6, 16, random_pixels(rng, iw, ih, 4, 65535), interlace=True))
    palette = [(rng.randint(0, 255), rng.randint(0, 255), rng.randint(0, 255)) for _ in range(4)]
    write("palette2_interlaced_trns.png",
          encode_png(3, 2, 3, 2, random_pixels(rng, 3, 2, 1, 3), interlace=True,
                     palette=palette, trns=bytes([0, 200])))
    # A tiny RGB image with known values for hand-written checks.
    px = [[(255, 0, 0), (0, 255, 0), (0, 0, 255)], [(0, 0, 0), (255, 255, 255), (51, 102, 153)]]
    write("tiny_rgb.png", encode_png(3, 2, 2, 8, px))


def smooth_image(width, height, seed):
    """A smooth colour picture with a little noise (JPEG-friendly)."""
    r = np.random.RandomState(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float64)
    img = np.stack([128 + 100 * np.sin(x / 5.0 + y / 9.0),
                    128 + 90 * np.cos(y / 4.0),
                    128 + 80 * np.sin((x + y) / 7.0)], axis=-1)
    img += r.uniform(-12, 12, img.shape)
    return np.clip(img, 0, 255).astype(np.uint8)


def make_jpegs():
    img = Image.fromarray(smooth_image(37, 22, 7), "RGB")
    def save(im, name, **kw):
        buf = io.BytesIO()
        im.save(buf, "JPEG", quality=85, **kw)
        write(name, buf.getvalue())
    save(img, "baseline420.jpg", subsampling=2)
    save(img, "baseline444.jpg", subsampling=0)
    save(img, "progressive.jpg", subsampling=2, progressive=True)
    save(img.convert("L"), "grey.jpg")
    save(img.convert("CMYK"), "cmyk.jpg")
    # A 16x8 picture big enough that every truncation matters, for the error tests.
    save(Image.fromarray(smooth_image(16, 8, 3), "RGB"), "small.jpg", subsampling=2)


def fmt(values):
    return " ".join("%.9g" % v for v in values)


def make_resize_refs():
    torch.manual_seed(1234)
    cases = [  # name, channels, in_h, in_w, out_h, out_w
        ("up_2x", 3, 4, 5, 8, 10),
        ("up_odd", 1, 3, 4, 7, 9),
        ("up_width_only", 1, 5, 3, 5, 8),
        ("down_2x", 3, 8, 10, 4, 5),
        ("down_odd", 1, 11, 13, 4, 5),
        ("down_big", 1, 40, 33, 3, 7),
        ("mixed", 3, 6, 9, 10, 4),
        ("down_height_only", 1, 12, 5, 5, 5),
    ]
    lines = []
    for name, c, ih, iw, oh, ow in cases:
        x = torch.rand(1, c, ih, iw, dtype=torch.float32)
        aa = oh < ih or ow < iw
        y = F.interpolate(x, size=(oh, ow), mode="bilinear", align_corners=False, antialias=aa)
        lines.append("case %s %d %d %d %d %d %d" % (name, c, ih, iw, oh, ow, int(aa)))
        lines.append("in " + fmt(x.flatten().tolist()))
        lines.append("out " + fmt(y.flatten().tolist()))
    with open(os.path.join(OUT, "resize_refs.txt"), "w") as f:
        f.write("# Written by tests/make_image_fixtures.py (PyTorch %s); do not edit.\n"
                % torch.__version__)
        f.write("\n".join(lines) + "\n")


def main():
    os.makedirs(OUT, exist_ok=True)
    make_pngs()
    make_jpegs()
    make_resize_refs()


if __name__ == "__main__":
    main()
