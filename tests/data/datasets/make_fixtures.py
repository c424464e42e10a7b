"""Writes the small IDX fixtures of tests/check_dataset_idx.c.

    /usr/bin/python3 tests/data/datasets/make_fixtures.py

tiny-images-idx3-ubyte: 3 images of 2 x 3 unsigned bytes,
    image 0: 0 1 2 / 3 4 255, image 1: 10 11 12 / 13 14 15,
    image 2: 200 201 202 / 203 204 205;
tiny-labels-idx1-ubyte: the labels 2 0 1;
and the same two gzip-compressed (.gz, mtime 0 so the bytes are stable).
"""
import gzip
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))

IMAGES = [[0, 1, 2, 3, 4, 255], [10, 11, 12, 13, 14, 15], [200, 201, 202, 203, 204, 205]]
LABELS = [2, 0, 1]


def idx(type_code, dims, values):
    head = bytes([0, 0, type_code, len(dims)]) + b"".join(struct.pack(">I", d) for d in dims)
    return head + bytes(values)


def write(name, data):
    with open(os.path.join(HERE, name), "wb") as f:
        f.write(data)
    with open(os.path.join(HERE, name + ".gz"), "wb") as raw:
        with gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as g:
            g.write(data)


write("tiny-images-idx3-ubyte", idx(0x08, [3, 2, 3], [v for im in IMAGES for v in im]))
write("tiny-labels-idx1-ubyte", idx(0x08, [3], LABELS))
