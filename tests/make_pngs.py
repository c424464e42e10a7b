"""Writes a small folder-per-class image dataset of grey PNGs (standard library only).

usage: make_pngs.py ROOT [PER_CLASS]

Three classes of 20x20 images on noise: "bar" (a bright horizontal bar),
"column" (a vertical bar), "dot" (a bright square), placed at seeded random
positions. Used by tests/cli_test.sh.
"""
import random
import struct
import sys
import zlib
import os


def png_bytes(width, height, rows):
    def chunk(kind, data):
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body) & 0xFFFFFFFF)

    raw = b"".join(b"\x00" + bytes(row) for row in rows)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def image(kind, rng, side=20):
    rows = [[rng.randrange(0, 60) for _ in range(side)] for _ in range(side)]
    a, b = rng.randrange(2, side - 6), rng.randrange(2, side - 6)
    for y in range(side):
        for x in range(side):
            if (kind == "bar" and a <= y < a + 3) or (kind == "column" and a <= x < a + 3) or \
               (kind == "dot" and a <= y < a + 5 and b <= x < b + 5):
                rows[y][x] = 230
    return rows


def main():
    root = sys.argv[1]
    per_class = int(sys.argv[2]) if len(sys.argv) > 2 else 16
    rng = random.Random(7)
    for kind in ("bar", "column", "dot"):
        os.makedirs(os.path.join(root, kind), exist_ok=True)
        for i in range(per_class):
            with open(os.path.join(root, kind, "%03d.png" % i), "wb") as f:
                f.write(png_bytes(20, 20, image(kind, rng)))


if __name__ == "__main__":
    main()
