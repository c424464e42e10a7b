"""Arrays in and out: nested lists, array.array, memoryview and (when
installed) numpy, with zero-copy where documented."""

import array
import unittest
from unittest import mock

import graft_testutil as tu
from graft_testutil import graft, needs_numpy, numpy as np

from graft import _arrays


class Tensors(unittest.TestCase):
    def test_from_nested_lists(self):
        with graft.Tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]) as t:
            self.assertEqual(t.shape, (2, 3))
            self.assertEqual((t.ndim, t.size, len(t)), (2, 6, 2))
            self.assertEqual(t.tolist(), [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
            t.reshape(3, 2)
            self.assertEqual(t.tolist(), [[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]])
            t.reshape((6,))
            self.assertEqual(t.shape, (6,))
            with self.assertRaises(graft.ShapeError):
                t.reshape(4)

    def test_zeros_fill_copy(self):
        with graft.Tensor(shape=(2, 2)) as t:
            self.assertEqual(t.tolist(), [[0.0, 0.0], [0.0, 0.0]])
            t.fill(1.5)
            self.assertEqual(t.tolist(), [[1.5, 1.5], [1.5, 1.5]])
            t.copy_from(array.array("f", [1, 2, 3, 4]))
            self.assertEqual(t.tolist(), [[1.0, 2.0], [3.0, 4.0]])
            with self.assertRaises(graft.ShapeError):
                t.copy_from([1.0, 2.0, 3.0])
        with self.assertRaises(graft.ShapeError):
            graft.Tensor(shape=(0, 3))

    def test_view_shares_an_array_array(self):
        buf = array.array("f", [0.0] * 6)
        with graft.Tensor.view(buf, shape=(2, 3)) as t:
            t.fill(2.5)
            self.assertEqual(list(buf), [2.5] * 6)
            buf[4] = -1.0
            self.assertEqual(t.tolist(), [[2.5, 2.5, 2.5], [2.5, -1.0, 2.5]])
        with self.assertRaises(TypeError):
            graft.Tensor.view([1.0, 2.0])  # a list cannot be shared
        with self.assertRaises(TypeError):
            graft.Tensor.view(bytes(8))  # read-only bytes, not float32

    def test_memoryview_shapes_and_formats(self):
        mv = memoryview(array.array("f", range(6))).cast("B").cast("f", (2, 3))
        with graft.Tensor(mv) as t:
            self.assertEqual(t.shape, (2, 3))
            self.assertEqual(t.tolist(), [[0.0, 1.0, 2.0], [3.0, 4.0, 5.0]])
        doubles = array.array("d", [0.25, 0.5])  # converted value by value
        with graft.Tensor(doubles) as t:
            self.assertEqual(t.tolist(), [0.25, 0.5])
        with graft.Tensor(bytearray(b"\x01\x02")) as t:
            self.assertEqual(t.tolist(), [1.0, 2.0])

    def test_bad_inputs(self):
        with self.assertRaises(ValueError):
            graft.Tensor([[1.0, 2.0], [3.0]])
        with self.assertRaises(TypeError):
            graft.Tensor("12")
        with self.assertRaises(TypeError):
            graft.Tensor([["a", "b"]])
        with self.assertRaises(TypeError):
            graft.Tensor(object())


class Outputs(unittest.TestCase):
    def test_lists_without_numpy(self):
        xs, _ = tu.images(3, 1, "quadrant")
        with mock.patch.object(_arrays, "np", None), tu.small_cnn() as m:
            self.assertFalse(graft.have_numpy())
            probs = m.predict(xs)
            self.assertIsInstance(probs, list)
            self.assertEqual([len(r) for r in probs], [4, 4, 4])
            self.assertTrue(all(isinstance(v, float) for v in probs[0]))
            idx, top = m.predict_topk(xs, k=2)
            self.assertEqual(len(idx), 3)
            self.assertTrue(all(isinstance(v, int) for v in idx[0]))
            self.assertIsInstance(m.forward(xs), list)
            with tu.dataset(2, 1, "quadrant") as ds:
                x, y = ds[0]
                self.assertEqual((len(x), len(x[0]), len(x[0][0])), (1, 8, 8))

    def test_nest(self):
        self.assertEqual(_arrays.nest(range(6), (2, 3)), [[0, 1, 2], [3, 4, 5]])
        self.assertEqual(_arrays.nest(range(8), (2, 2, 2)),
                         [[[0, 1], [2, 3]], [[4, 5], [6, 7]]])
        self.assertEqual(_arrays.nest([7], (1,)), [7])


@needs_numpy
class Numpy(unittest.TestCase):
    def test_float32_contiguous_is_not_copied(self):
        a = np.zeros((2, 3), dtype=np.float32)
        buf = _arrays.float_input(a)
        self.assertTrue(buf.borrowed)
        self.assertEqual(buf.address, a.ctypes.data)
        with graft.Tensor.view(a) as t:
            t.fill(3.0)
            self.assertTrue((a == 3.0).all())
        # Other dtypes and layouts are converted, with the right values.
        f64 = np.arange(6, dtype=np.float64).reshape(2, 3)
        self.assertFalse(_arrays.float_input(f64).borrowed)
        with graft.Tensor(np.asfortranarray(f64)) as t:
            self.assertEqual(t.tolist(), [[0.0, 1.0, 2.0], [3.0, 4.0, 5.0]])
        with graft.Tensor(f64[:, ::2]) as t:
            self.assertEqual(t.tolist(), [[0.0, 2.0], [3.0, 5.0]])
        with self.assertRaises(TypeError):
            graft.Tensor.view(f64)
        frozen = np.zeros(4, dtype=np.float32)
        frozen.flags.writeable = False
        with self.assertRaises(TypeError):
            graft.Tensor.view(frozen)
        with graft.Tensor(frozen) as t:  # reading it is fine
            self.assertEqual(t.tolist(), [0.0] * 4)
        # Lists of numpy rows.
        with graft.Tensor([np.ones(2), np.zeros(2)]) as t:
            self.assertEqual(t.tolist(), [[1.0, 1.0], [0.0, 0.0]])

    def test_results_are_numpy_arrays(self):
        xs, _ = tu.images(4, 2, "quadrant")
        x = np.asarray(xs, dtype=np.float32).reshape(4, 1, 8, 8)
        with graft.Model.load(tu.pretrained_path()) as m:
            probs = m.predict(x)
            self.assertIsInstance(probs, np.ndarray)
            self.assertEqual((probs.shape, probs.dtype), ((4, 4), np.float32))
            self.assertTrue(np.allclose(probs.sum(axis=1), 1.0, atol=1e-6))
            idx, top = m.predict_topk(x, k=2)
            self.assertEqual((idx.shape, idx.dtype), ((4, 2), np.int32))
            self.assertTrue((idx[:, 0] == probs.argmax(axis=1)).all())
            self.assertEqual(m.forward(x).shape, (4, 4))
            # The same through lists.
            self.assertTrue((m.predict(xs) == probs).all())
            self.assertIsInstance(m["fc"].get_parameter("weight"), np.ndarray)

    def test_dataset_zero_copy_and_label_dtypes(self):
        feats = np.arange(8, dtype=np.float32).reshape(4, 2)
        labels = np.array([0, 1, 1, 0], dtype=np.int64)  # converted to int32
        with graft.Dataset.from_memory(feats, labels, copy=False) as ds:
            feats[0, 0] = 42.0
            x, y = ds[0]
            self.assertEqual(x.tolist(), [42.0, 1.0])
            self.assertEqual(ds.labels, [0, 1, 1, 0])
        with self.assertRaises(TypeError):
            graft.Dataset.from_memory(feats, np.array([0.0, 1.0, 1.0, 0.0]))

    def test_fit_from_numpy(self):
        xs, ys = tu.images(64, 3, "side")
        x = np.asarray(xs, dtype=np.float32).reshape(-1, 1, 8, 8)
        y = np.asarray(ys, dtype=np.int32)
        with tu.small_cnn(n_classes=2) as m, graft.Dataset.from_memory(x, y) as ds, \
                graft.Optimizer.adam(lr=0.01) as opt:
            self.assertEqual(ds.sample_shape, (1, 8, 8))
            m.fit(ds, opt, epochs=2, batch_size=16)
            self.assertEqual(m.epochs_done, 2)


if __name__ == "__main__":
    unittest.main()
