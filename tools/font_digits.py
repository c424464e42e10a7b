"""Renders the digits 0-9 from the system's fonts as a second few-shot task.

usage: /usr/bin/python3 tools/font_digits.py OUT.csv.gz [RENDERS_PER_FONT]

Needs python3-pil and fonts (Debian: fonts-dejavu-core fonts-dejavu-extra
fonts-liberation fonts-freefont-ttf fonts-noto-mono fonts-urw-base35; the
fonts are under free licences and nothing rendered here is committed).
Each digit of each font (symbol fonts left out) is drawn white on black on
32x32 pixels with a random affine distortion (rotation up to 15 degrees,
shear up to 0.3, scale 0.7 to 1.05, a shift of up to 3 pixels), thresholded,
1% of its pixels flipped as noise, and reduced as the UCI digits were: the
count of set pixels in each 4x4 block, an 8x8 image of values 0 to 16.
The output has the format of examples/demo/digits.csv.gz (64 values, then
the label, one image a line), so `graft demo --digits OUT.csv.gz` and
tests/fewshot_digits.py read it as they read the demo's digits. Seeded: the
same fonts give the same file. Used for docs/DEMO.md, "graft train with its
defaults".
"""
import glob
import gzip
import math
import os
import random
import sys

from PIL import Image, ImageDraw, ImageFont

SKIP = ("D050000L", "StandardSymbols", "MathTeXGyre", "Z003")


def fonts():
    found = []
    for pattern in ("*.ttf", "*.otf"):
        found += glob.glob(os.path.join("/usr/share/fonts", "**", pattern), recursive=True)
    return sorted(f for f in set(found) if not any(s in f for s in SKIP))


def render(font_path, digit, rng):
    big = Image.new("L", (96, 96), 0)
    font = ImageFont.truetype(font_path, 64)
    draw = ImageDraw.Draw(big)
    box = draw.textbbox((0, 0), str(digit), font=font)
    w, h = box[2] - box[0], box[3] - box[1]
    draw.text(((96 - w) / 2 - box[0], (96 - h) / 2 - box[1]), str(digit), fill=255, font=font)
    # The glyph's box scaled to about 24 of 32 pixels, then distorted.
    scale = 24.0 / max(w, h, 1) * rng.uniform(0.7, 1.05)
    angle = math.radians(rng.uniform(-15, 15))
    shear = rng.uniform(-0.3, 0.3)
    dx, dy = rng.uniform(-3, 3), rng.uniform(-3, 3)
    # Output pixel (x, y) around (16, 16) maps back to the 96x96 drawing.
    c, s = math.cos(angle), math.sin(angle)
    a, b = c / scale, (s + shear * c) / scale
    d, e = -s / scale, (c - shear * s) / scale
    ox, oy = 16 + dx, 16 + dy
    small = big.transform((32, 32), Image.AFFINE,
                          (a, b, 48 - a * ox - b * oy, d, e, 48 - d * ox - e * oy),
                          resample=Image.BILINEAR)
    px = small.load()
    bits = [[1 if px[x, y] >= 128 else 0 for x in range(32)] for y in range(32)]
    for y in range(32):
        for x in range(32):
            if rng.random() < 0.01:
                bits[y][x] ^= 1
    return [sum(bits[4 * by + i][4 * bx + j] for i in range(4) for j in range(4))
            for by in range(8) for bx in range(8)]


def main():
    out = sys.argv[1]
    per_font = int(sys.argv[2]) if len(sys.argv) > 2 else 2
    rng = random.Random(2026)
    rows = []
    paths = fonts()
    for path in paths:
        for digit in range(10):
            for _ in range(per_font):
                rows.append(render(path, digit, rng) + [digit])
    rng.shuffle(rows)
    with gzip.open(out, "wt") as f:
        for r in rows:
            f.write(",".join(map(str, r)) + "\n")
    print("%d images from %d fonts written to %s" % (len(rows), len(paths), out))


if __name__ == "__main__":
    main()
