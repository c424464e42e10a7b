"""Writes the demo's digits as folders of PNG images (standard library only).

usage: fewshot_digits.py CSV OUT K SEED

CSV is examples/demo/digits.csv.gz (the UCI 8x8 digits: 64 values 0 to 16,
then the label). Draws the same sets as `graft demo`: the fixed test set
(30%, its permutation from seed 2026) goes to OUT/test/<digit>/, and K
examples of each digit from the rest, chosen as the demo does for its seed
SEED, to OUT/train/<digit>/ (K 0: all of the rest). Each image is written at
its own size, 8x8 grey, value * 255 / 16; graft train resizes it to the
model's input as it would any user's images. Used by tests/fewshot_floor.sh
and to measure `graft train` against `graft demo` (docs/DEMO.md).
"""
import gzip
import os
import struct
import sys
import zlib

MASK = (1 << 64) - 1


def permutation(n, seed):
    """The demo's shuffle (src/cli/cmd_demo.c permutation())."""
    s = (0x9E3779B97F4A7C15 * (seed + 1)) & MASK
    p = list(range(n))
    for i in range(n - 1, 0, -1):
        s ^= (s << 13) & MASK
        s ^= s >> 7
        s ^= (s << 17) & MASK
        j = s % (i + 1)
        p[i], p[j] = p[j], p[i]
    return p


def png_bytes(width, height, rows):
    def chunk(kind, data):
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body) & 0xFFFFFFFF)

    raw = b"".join(b"\x00" + bytes(row) for row in rows)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def write(root, indices, pixels, labels):
    for i in indices:
        folder = os.path.join(root, str(labels[i]))
        os.makedirs(folder, exist_ok=True)
        rows = [[round(v * 255 / 16) for v in pixels[i][y * 8:y * 8 + 8]] for y in range(8)]
        with open(os.path.join(folder, "%04d.png" % i), "wb") as f:
            f.write(png_bytes(8, 8, rows))


def main():
    csv, out, k, seed = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    pixels, labels = [], []
    with gzip.open(csv, "rt") as f:
        for line in f:
            v = [int(x) for x in line.split(",")]
            pixels.append(v[:64])
            labels.append(v[64])
    n = len(labels)
    perm = permutation(n, 2026)
    n_test = n * 3 // 10
    test, pool = perm[:n_test], perm[n_test:]
    picked, per_class = [], {}
    for i in permutation(len(pool), 1000 + seed):
        idx = pool[i]
        if k and per_class.get(labels[idx], 0) >= k:
            continue
        per_class[labels[idx]] = per_class.get(labels[idx], 0) + 1
        picked.append(idx)
    write(os.path.join(out, "train"), picked, pixels, labels)
    write(os.path.join(out, "test"), test, pixels, labels)


if __name__ == "__main__":
    main()
