"""Datasets from files: IDX (MNIST's format), CSV and folders of images, all
written by the tests."""

import gzip
import os
import struct

import graft_testutil as tu
from graft_testutil import graft, layers

from test_model import flat


def idx_images(count, height, width):
    pixels = bytes((i * 7) % 256 for i in range(count * height * width))
    return struct.pack(">BBBBIII", 0, 0, 8, 3, count, height, width) + pixels, pixels


def idx_labels(labels):
    return struct.pack(">BBBBI", 0, 0, 8, 1, len(labels)) + bytes(labels)


class Idx(tu.TempDirTest):
    def write(self, name, data, gz=False):
        path = self.path(name)
        with (gzip.open if gz else open)(path, "wb") as f:
            f.write(data)
        return path

    def test_plain_and_gzip(self):
        data, pixels = idx_images(5, 3, 2)
        for gz in (False, True):
            images = self.write("img%d" % gz, data, gz)
            labels = self.write("lab%d" % gz, idx_labels([0, 2, 1, 2, 0]), gz)
            with graft.Dataset.from_idx(images, labels) as ds:
                self.assertEqual(len(ds), 5)
                self.assertEqual(ds.n_classes, 3)
                self.assertEqual(ds.sample_shape, (1, 3, 2))
                self.assertEqual(ds.labels, [0, 2, 1, 2, 0])
                x, y = ds[1]
                for a, b in zip(flat(x), pixels[6:12]):
                    self.assertAlmostEqual(a, b / 255.0, places=6)
            with graft.Dataset.from_idx(images, labels, scale=1.0, n_classes=4) as ds:
                self.assertEqual(ds.n_classes, 4)
                self.assertEqual(flat(ds[1][0]), [float(v) for v in pixels[6:12]])

    def test_errors(self):
        data, _ = idx_images(5, 3, 2)
        images = self.write("img", data)
        labels = self.write("lab", idx_labels([0, 1, 0]))
        with self.assertRaises(graft.FormatError) as cm:
            graft.Dataset.from_idx(images, labels)
        self.assertTrue(cm.exception.message.startswith("graft_dataset_from_idx(): "))
        with self.assertRaises(graft.GraftIOError):
            graft.Dataset.from_idx(self.path("none"), labels)
        with self.assertRaises(graft.InvalidArgumentError):
            graft.Dataset.from_idx(images, labels, scale=0.0)


class Csv(tu.TempDirTest):
    def write(self, text, name="d.csv"):
        path = self.path(name)
        with open(path, "w") as f:
            f.write(text)
        return path

    def test_label_last_and_first(self):
        path = self.write("0.5,1.5,2\n3,4,0\n5,6,1\n")
        with graft.Dataset.from_csv(path) as ds:
            self.assertEqual((len(ds), ds.n_classes, ds.sample_shape), (3, 3, (2,)))
            self.assertEqual(ds.labels, [2, 0, 1])
            self.assertEqual(flat(ds[0][0]), [0.5, 1.5])
        path = self.write("name;a;b;c;d\n1;1;2;3;4\n0;5;6;7;8\n", "first.csv")
        with graft.Dataset.from_csv(path, label_column="first", header_rows=1, delimiter=";",
                                    sample_shape=(1, 2, 2), scale=0.5, n_classes=3) as ds:
            self.assertEqual((ds.sample_shape, ds.n_classes, ds.labels), ((1, 2, 2), 3, [1, 0]))
            self.assertEqual(flat(ds[1][0]), [2.5, 3.0, 3.5, 4.0])
            self.assertEqual(len(ds[1][0][0]), 2)

    def test_errors(self):
        path = self.write("1,2,0\n3,x,1\n")
        with self.assertRaises(graft.FormatError) as cm:
            graft.Dataset.from_csv(path)
        self.assertEqual(cm.exception.message, "graft_dataset_from_csv(): '%s' line 2, "
                         "column 2: 'x' is not a number" % path)
        with self.assertRaises(ValueError):
            graft.Dataset.from_csv(path, label_column="middle")
        with self.assertRaises(graft.InvalidArgumentError):
            graft.Dataset.from_csv(path, delimiter="#")


class Folder(tu.TempDirTest):
    COLORS = {"cat": [(255, 0, 0), (200, 0, 0)], "dog": [(0, 0, 255), (0, 51, 255),
                                                          (0, 102, 255)]}

    def setUp(self):
        super().setUp()
        self.root = self.path("pets")
        for cls, colors in self.COLORS.items():
            os.makedirs(os.path.join(self.root, cls))
            for k, rgb in enumerate(colors):
                tu.write_png(os.path.join(self.root, cls, "%d.png" % k), 4, 4, 3, list(rgb) * 16)
        with open(os.path.join(self.root, "cat", "notes.txt"), "w") as f:
            f.write("ignored")

    def test_reads_classes_and_pixels(self):
        with graft.Dataset.from_folder(self.root, width=2, height=2) as ds:
            self.assertEqual(len(ds), 5)
            self.assertEqual(ds.class_names, ["cat", "dog"])
            self.assertEqual(ds.labels, [0, 0, 1, 1, 1])
            self.assertEqual(ds.sample_shape, (3, 2, 2))
            self.assertEqual(ds.sample_path(3), os.path.join(self.root, "dog", "1.png"))
            self.assertIsNone(ds.sample_path(9))
            self.assertTrue(ds.deterministic)
            self.assertEqual(ds.skipped, [])
            x, y = ds[3]
            self.assertEqual(y, 1)
            for a, b in zip(flat(x), [0.0] * 4 + [0.2] * 4 + [1.0] * 4):
                self.assertAlmostEqual(a, b, places=6)
            feats, labels = ds.gather([4, 0])
            self.assertEqual(list(labels), [1, 0])
            self.assertEqual(len(feats), 2)
            self.assertAlmostEqual(flat(feats[1])[0], 1.0, places=6)

    def test_grey_imagenet_and_augment(self):
        with graft.Dataset.from_folder(self.root, channels=1, width=3, height=3,
                                       resize="stretch") as ds:
            self.assertEqual(ds.sample_shape, (1, 3, 3))
            self.assertAlmostEqual(flat(ds[0][0])[0], 0.299, places=5)
        with graft.Dataset.from_folder(self.root, width=2, height=2,
                                       normalize="imagenet") as ds:
            self.assertAlmostEqual(flat(ds[0][0])[0], (1 - 0.485) / 0.229, places=5)
        with graft.Dataset.from_folder(self.root, width=2, height=2, augment=True,
                                       brightness=0.5, seed=3) as ds:
            self.assertFalse(ds.deterministic)
            ds.set_epoch(0)
            a = flat(ds[1][0])  # (200, 0, 0): brightness does not saturate it
            ds.set_epoch(1)
            b = flat(ds[1][0])
            ds.set_epoch(0)
            self.assertEqual(flat(ds[1][0]), a)
            self.assertNotEqual(a, b)
            with self.assertRaises(graft.InvalidArgumentError):
                ds.set_epoch(-1)
        with self.assertRaises(ValueError):
            graft.Dataset.from_folder(self.root, normalize="zscore")

    def test_damaged_files(self):
        bad = os.path.join(self.root, "dog", "broken.png")
        with open(bad, "wb") as f:
            f.write(b"\x89PNG\r\n\x1a\n" + b"x" * 24)
        with self.assertRaises(graft.FormatError) as cm:
            graft.Dataset.from_folder(self.root, width=2, height=2)
        self.assertEqual(cm.exception.message, "graft_dataset_from_folder(): '%s': PNG header: "
                         "truncated (32 bytes)" % bad)
        with graft.Dataset.from_folder(self.root, width=2, height=2, on_error="skip") as ds:
            self.assertEqual(len(ds), 5)
            self.assertEqual(ds.skipped,
                             [(bad, "PNG header: truncated (32 bytes)")])
        with self.assertRaises(graft.NotFoundError):
            graft.Dataset.from_folder(os.path.join(self.root, "cat"))

    def test_file_damaged_after_its_header(self):
        path = os.path.join(self.root, "dog", "1.png")
        with open(path, "rb") as f:
            data = f.read()
        with open(path, "wb") as f:
            f.write(data[:60])  # the header is intact, the pixels are not
        with graft.Dataset.from_folder(self.root, width=2, height=2, threads=2) as ds:
            for read, func in ((lambda: ds.gather([0, 3]), "graft_dataset_gather"),
                               (lambda: ds[3], "graft_dataset_get")):
                with self.assertRaises(graft.FormatError) as cm:
                    read()
                self.assertEqual(cm.exception.message, "%s(): cannot read sample 3 (class "
                                 "'dog'): %s: corrupt PNG: the data ends early (truncated "
                                 "file)" % (func, path))
            self.assertEqual(ds.labels, [0, 0, 1, 1, 1])  # other samples still read

    def test_fit_on_a_folder(self):
        with graft.Dataset.from_folder(self.root, width=4, height=4, augment=True,
                                       seed=1) as ds:
            train, val = ds.split(0.4, seed=2)
            with train, val, graft.Model((3, 4, 4), seed=1) as m, \
                    graft.Optimizer.adam(lr=0.05) as opt:
                m.add(layers.flatten())
                m.add(layers.dense(2))
                m.class_names = ds.class_names
                history = m.fit(train, opt, val=val, epochs=3, batch_size=2)
                self.assertEqual(len(history), 3)
                self.assertEqual(val.class_names, ["cat", "dog"])
                self.assertEqual(m.evaluate(val).count, 2)
