"""The data helpers of 1.3: PNG writing (Image.save_png, Tensor.save_png),
Dataset.from_callback, Dataset.from_grid, Model.predict_dataset and
Model.reinit."""

import math
import os
import unittest

import graft_testutil as tu
from graft_testutil import graft, layers

from test_model import flat
from test_training import softmax


def params_of(model):
    """Every parameter of every layer, as flat lists, layer by layer."""
    return [(layer.name, name, flat(value))
            for layer in model.layers for name, value in sorted(layer.parameters().items())]


class Png(tu.TempDirTest):
    def test_image_round_trip(self):
        w, h = 5, 3
        values = [[[((c * 7 + y * 5 + x) % 11) / 10.0 for x in range(w)] for y in range(h)]
                  for c in range(3)]
        with graft.Image.from_array(values, width=w, height=h, channels=3) as img:
            path = self.path("a.png")
            img.save_png(path)
            data = img.encode_png()
            self.assertEqual(graft.image_format(data), "png")
            with open(path, "rb") as f:
                self.assertEqual(f.read(), data)
            with graft.Image.load(path) as back:
                self.assertEqual(back.shape, (3, h, w))
                for a, b in zip(flat(values), flat(back.to_array())):
                    self.assertLessEqual(abs(a - b), 0.5 / 255 + 1e-7)

    def test_image_errors(self):
        with graft.Image.new(2, 2, 1) as img:
            with self.assertRaises(graft.GraftIOError):
                img.save_png(self.path("missing/a.png"))
        nan = float("nan")
        with graft.Image.from_array([[[0.0, 0.5], [nan, 1.0]]], width=2, height=2,
                                    channels=1) as img:
            with self.assertRaises(graft.NumericError) as cm:
                img.encode_png()
            self.assertIn("channel 0 at row 1, column 0 is NaN", str(cm.exception))

    def test_tensor_grid(self):
        # 3 samples (1, 2, 2) of values -1, 0, 1: a 2 x 2 grid of cells
        t = graft.Tensor([[[[float(n - 1)] * 2] * 2] for n in range(3)])
        self.assertEqual(t.shape, (3, 1, 2, 2))
        t.save_png(self.path("g.png"), lo=-1.0, hi=1.0)
        with graft.Image.load(self.path("g.png")) as img:
            self.assertEqual(img.shape, (1, 4, 4))
            rows = img.to_array()[0]
            got = [[round(v * 255) for v in row] for row in (list(r) for r in rows)]
            self.assertEqual(got, [[0, 0, 128, 128], [0, 0, 128, 128],
                                   [255, 255, 0, 0], [255, 255, 0, 0]])
        self.assertEqual(graft.image_format(t.encode_png(columns=1)), "png")
        with self.assertRaises(graft.InvalidArgumentError):
            t.encode_png(lo=1.0, hi=1.0)
        with self.assertRaises(graft.ShapeError):
            graft.Tensor([1.0, 2.0]).encode_png()


class FromCallback(unittest.TestCase):
    def test_samples_and_splits(self):
        calls = []

        def make(i):
            calls.append(i)
            return [float(i), i + 0.5], i % 3

        ds = graft.Dataset.from_callback(make, 9, (2,), 3)
        self.assertEqual(calls, [])
        self.assertEqual(len(ds), 9)
        self.assertEqual(ds.sample_shape, (2,))
        self.assertFalse(ds.deterministic)
        features, label = ds[4]
        self.assertEqual(flat(features), [4.0, 4.5])
        self.assertEqual(label, 1)
        self.assertEqual(ds.labels, [i % 3 for i in range(9)])
        train, val = ds.split(0.34, seed=2)
        del ds
        self.assertEqual(len(train) + len(val), 9)
        for f, y in val:
            self.assertEqual(int(flat(f)[0]) % 3, y)
        det = graft.Dataset.from_callback(make, 2, 2, 3, deterministic=True)
        self.assertTrue(det.deterministic)

    def test_exceptions_are_raised_not_crashes(self):
        class Boom(Exception):
            pass

        def make(i):
            if i == 3:
                raise Boom("no sample 3")
            if i == 4:
                return [1.0], 0  # too few features
            if i == 5:
                return [1.0, 2.0], 7  # label out of range
            return [1.0, 2.0], 0

        ds = graft.Dataset.from_callback(make, 6, (2,), 2)
        with self.assertRaises(Boom) as cm:
            ds[3]
        self.assertIsInstance(cm.exception.__cause__, graft.CancelledError)
        self.assertIn("sample 3", str(cm.exception.__cause__))
        with self.assertRaises(ValueError):
            ds[4]
        with self.assertRaises(graft.RangeError) as cm:
            ds[5]
        self.assertIn("sample 5 the label 7", str(cm.exception))
        # a failed read leaves nothing pending: the next good one succeeds
        self.assertEqual(ds[0][1], 0)
        # an exception during fit is raised by fit
        m = graft.Model((2,), seed=1)
        m.add(layers.dense(2), "fc")
        with self.assertRaises(Boom):
            m.fit(ds, graft.Optimizer.sgd(), batch_size=2, shuffle=False)

    def test_fit_checks_values(self):
        def make(i):
            return [float("nan") if i == 2 else 0.5, 1.0], i % 2

        ds = graft.Dataset.from_callback(make, 4, (2,), 2)
        m = graft.Model((2,), seed=1)
        m.add(layers.dense(2), "fc")
        with self.assertRaises(graft.NumericError) as cm:
            m.fit(ds, graft.Optimizer.sgd(), batch_size=4)
        self.assertIn("sample 2", str(cm.exception))


class FromGrid(tu.TempDirTest):
    def sheet(self, rows, cols, cell):
        """A grey sheet of rows x cols cells of cell x cell pixels; cell
        (r, c) filled with (r * cols + c) / 255."""
        w, h = cols * cell, rows * cell
        pix = [[[((y // cell) * cols + x // cell) / 255.0 for x in range(w)] for y in range(h)]]
        path = self.path("sheet.png")
        with graft.Image.from_array(pix, width=w, height=h, channels=1) as img:
            img.save_png(path)
        return path

    def test_rows_columns_and_arrays(self):
        path = self.sheet(2, 3, 4)
        ds = graft.Dataset.from_grid(path, 4, 4, scale=255.0)
        self.assertEqual(len(ds), 6)
        self.assertEqual(ds.sample_shape, (1, 4, 4))
        self.assertEqual(ds.n_classes, 2)
        self.assertEqual(ds.labels, [0, 0, 0, 1, 1, 1])
        for k in range(6):
            self.assertEqual(set(flat(ds[k][0])), {float(k)})
        ds = graft.Dataset.from_grid(path, 4, 4, labels="column", channels=3, count=5)
        self.assertEqual(ds.labels, [0, 1, 2, 0, 1])
        self.assertEqual(ds.sample_shape, (3, 4, 4))
        ds = graft.Dataset.from_grid(path, 4, 4, labels=[3, 1, 0, 2])
        self.assertEqual(len(ds), 4)
        self.assertEqual(ds.labels, [3, 1, 0, 2])
        self.assertEqual(ds.n_classes, 4)

    def test_errors(self):
        path = self.sheet(2, 3, 4)
        with self.assertRaises(graft.RangeError):
            graft.Dataset.from_grid(path, 4, 4, rows=3)
        with self.assertRaises(graft.InvalidArgumentError):
            graft.Dataset.from_grid(path, 0, 4)
        with self.assertRaises(ValueError):
            graft.Dataset.from_grid(path, 4, 4, labels="diagonal")
        with self.assertRaises(graft.RangeError):
            graft.Dataset.from_grid(path, 4, 4, labels=[0, 1, 2], n_classes=2)
        with self.assertRaises(graft.GraftIOError):
            graft.Dataset.from_grid(self.path("none.png"), 4, 4)


class PredictAndReinit(unittest.TestCase):
    def test_predict_dataset_matches_predict(self):
        ds = tu.dataset(13, 3, "quadrant")
        m = tu.small_cnn()
        probs = m.predict_dataset(ds, batch_size=5)
        xs = [flat(f) for f, _ in ds]
        want = m.predict(xs)
        self.assertEqual(len(probs), 13)
        for a, b in zip(flat(probs), flat(want)):
            self.assertAlmostEqual(a, b, places=6)
        probs2, top1 = m.predict_dataset(ds, batch_size=13, top1=True)
        rows = [flat(r) for r in probs2]
        self.assertEqual(list(top1), [r.index(max(r)) for r in rows])
        with self.assertRaises(graft.ShapeError):
            m.predict_dataset(graft.Dataset.from_memory([[1.0, 2.0]], [0]))
        with self.assertRaises(TypeError):
            m.predict_dataset([1, 2])

    def test_reinit_gives_back_the_initial_weights(self):
        ds = tu.dataset(32, 4, "quadrant")
        m, fresh = tu.small_cnn(seed=5), tu.small_cnn(seed=5)
        initial = params_of(fresh)
        m.fit(ds, graft.Optimizer.sgd(lr=0.1), epochs=1, batch_size=8)
        self.assertNotEqual(params_of(m), initial)
        self.assertEqual(m.epochs_done, 1)
        self.assertIs(m.reinit(5), m)
        self.assertEqual(params_of(m), initial)
        self.assertEqual(m.epochs_done, 0)
        # the head alone
        m.fit(ds, graft.Optimizer.sgd(lr=0.1), epochs=1, batch_size=8)
        m.reinit(5, first=len(m.layers) - 1)
        after = params_of(m)
        self.assertEqual(after[-2:], initial[-2:])
        self.assertNotEqual(after[:2], initial[:2])
        with self.assertRaises(graft.RangeError):
            m.reinit(5, first=3, last=99)


if __name__ == "__main__":
    unittest.main()
