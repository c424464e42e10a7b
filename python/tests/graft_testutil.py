"""Shared set-up of the graft Python tests.

Importing this module makes `import graft` use the package of this source
tree (python/graft) and, unless GRAFT_LIBRARY is already set, the library
built in the repository's lib/ folder.
"""

import os
import random
import shutil
import sys
import tempfile
import unittest

TESTS_DIR = os.path.dirname(os.path.abspath(__file__))
PYTHON_DIR = os.path.dirname(TESTS_DIR)
REPO_DIR = os.path.dirname(PYTHON_DIR)
HEADER = os.path.join(REPO_DIR, "include", "graft.h")
# The layer kinds, one GRAFT_LAYER_KIND(ENUM, name, vtable) line each.
KINDS_HEADER = os.path.join(REPO_DIR, "src", "layers", "kinds.h")
# python/tools: headerparse (reads graft.h) and gen_api (writes graft/_api.py).
TOOLS_DIR = os.path.join(PYTHON_DIR, "tools")

if PYTHON_DIR not in sys.path:
    sys.path.insert(0, PYTHON_DIR)
if TOOLS_DIR not in sys.path:
    sys.path.insert(0, TOOLS_DIR)
if not os.environ.get("GRAFT_LIBRARY"):
    candidate = os.path.join(REPO_DIR, "lib", "libgraft.so.1")
    if os.path.exists(candidate):
        os.environ["GRAFT_LIBRARY"] = candidate

import graft  # noqa: E402
from graft import layers  # noqa: E402

try:
    import numpy
except ImportError:
    numpy = None

HAVE_NUMPY = numpy is not None
needs_numpy = unittest.skipUnless(HAVE_NUMPY, "numpy is not installed for this interpreter")

SIDE = 8


def compiler():
    """A C compiler on PATH, or None."""
    for cc in (os.environ.get("CC"), "cc", "gcc"):
        if cc and shutil.which(cc):
            return shutil.which(cc)
    return None


def images(n, seed, task):
    """n synthetic SIDE x SIDE grey images (flat lists, one per sample) and
    labels. task "quadrant": where a 3x3 bright square is (4 classes);
    task "side": whether a 3x3 square is in the left or right half (2)."""
    rng = random.Random(seed)
    xs, ys = [], []
    for _ in range(n):
        img = [0.1 * rng.random() for _ in range(SIDE * SIDE)]
        r, c = rng.randrange(SIDE - 2), rng.randrange(SIDE - 2)
        if task == "side":
            c = rng.choice([rng.randrange(0, SIDE // 2 - 2), rng.randrange(SIDE // 2, SIDE - 2)])
        for dr in range(3):
            for dc in range(3):
                img[(r + dr) * SIDE + c + dc] = 1.0
        if task == "quadrant":
            y = (2 if r + 1 >= SIDE // 2 else 0) + (1 if c + 1 >= SIDE // 2 else 0)
        else:
            y = 1 if c + 1 >= SIDE // 2 else 0
        xs.append(img)
        ys.append(y)
    return xs, ys


def dataset(n, seed, task, ctx=None):
    xs, ys = images(n, seed, task)
    return graft.Dataset.from_memory(xs, ys, n_classes=4 if task == "quadrant" else 2,
                                     sample_shape=(1, SIDE, SIDE), ctx=ctx)


def small_cnn(ctx=None, seed=1, n_classes=4):
    """conv -> relu -> pool -> flatten ("features") -> dense ("fc")."""
    m = graft.Model((1, SIDE, SIDE), seed=seed, ctx=ctx)
    m.add(layers.conv2d(4, 3, padding=1, ctx=ctx), "conv")
    m.add(layers.relu(ctx=ctx), "relu")
    m.add(layers.max_pool2d(2, stride=2, ctx=ctx), "pool")
    m.add(layers.flatten(ctx=ctx), "features")
    m.add(layers.dense(n_classes, ctx=ctx), "fc")
    return m


class TempDirTest(unittest.TestCase):
    """A test case with a fresh temporary folder in self.tmp."""

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="graft-py-")
        self.addCleanup(shutil.rmtree, self.tmp, True)

    def path(self, name):
        return os.path.join(self.tmp, name)


_pretrained = {}


def pretrained_path():
    """A model file of small_cnn() trained on the quadrant task (made once
    per run, in a temporary folder removed at exit)."""
    if "path" not in _pretrained:
        import atexit

        d = tempfile.mkdtemp(prefix="graft-py-base-")
        atexit.register(shutil.rmtree, d, True)
        path = os.path.join(d, "base.graft")
        with small_cnn() as m, dataset(400, 1, "quadrant") as ds, \
                graft.Optimizer.adam(lr=0.01) as opt:
            m.class_names = ["top-left", "top-right", "bottom-left", "bottom-right"]
            m.fit(ds, opt, epochs=4, batch_size=16)
            m.save(path)
        _pretrained["path"] = path
    return _pretrained["path"]


def png_bytes(width, height, channels, pixels):
    """A minimal 8-bit PNG (grey for channels 1, RGB for 3) of the given
    interleaved byte values (row by row, pixel by pixel), for tests."""
    import struct
    import zlib

    def chunk(tag, data):
        body = tag + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    color = {1: 0, 3: 2}[channels]
    stride = width * channels
    raw = b"".join(b"\x00" + bytes(pixels[y * stride:(y + 1) * stride])
                   for y in range(height))
    return (b"\x89PNG\r\n\x1a\n"
            + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, color, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def write_png(path, width, height, channels, pixels):
    with open(path, "wb") as f:
        f.write(png_bytes(width, height, channels, pixels))
