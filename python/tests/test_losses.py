"""The losses of 1.3 through Python: fit's loss options (class and sample
weights, label smoothing, pos_weight, regression losses, clipping,
mixup/cutmix), datasets with float targets, the model's task and
evaluate_targets(). The short fits are compared with PyTorch through the
references tests/make_torch_loss_refs.py wrote."""

import math
import os
import tempfile
import unittest

import graft_testutil as tu
from graft_testutil import graft, layers

REFS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tests", "data",
                    "torch_loss_refs.txt")


def read_cases(path):
    cases, cur = [], None
    with open(path) as f:
        for line in f:
            if not line.strip() or line.startswith("#"):
                continue
            parts = line.split()
            if parts[0] == "case":
                cur = {"name": parts[1], "kind": parts[2]}
            elif parts[0] == "end":
                cases.append(cur)
            else:
                cur[parts[0]] = [float(v) for v in parts[2:]]
    return cases


def flat(values):
    """Nested lists or a numpy array as one flat list of floats."""
    if hasattr(values, "tolist"):
        values = values.tolist()
    if not isinstance(values, (list, tuple)):
        return [float(values)]
    out = []
    for v in values:
        out.extend(flat(v))
    return out


def dense_model(f, c, task):
    m = graft.Model.create((f,), seed=1)
    m.add(layers.dense(c), name="fc")
    m.task = task
    return m


def rows(values, width):
    return [values[i:i + width] for i in range(0, len(values), width)]


class TestTorchFits(unittest.TestCase):
    def test_fits_match_pytorch(self):
        fits = [c for c in read_cases(REFS) if c["kind"].startswith("fit-")]
        self.assertGreaterEqual(len(fits), 6)
        for c in fits:
            with self.subTest(case=c["name"]):
                n, f, k = (int(v) for v in c["shape"])
                loss = c["kind"][4:]
                task = {"ce": "classification", "bce": "multi_label"}.get(loss, "regression")
                m = dense_model(f, k, task)
                m["fc"].set_parameter("weight", c["w0"])
                m["fc"].set_parameter("bias", c["b0"])
                x = rows(c["x"], f)
                if task == "classification":
                    ds = graft.Dataset.from_memory(x, [int(v) for v in c["labels"]], n_classes=k)
                else:
                    ds = graft.Dataset.from_targets(x, rows(c["targets"], k))
                batch, epochs, lr, momentum, clip = c["fit"]
                opt = graft.Optimizer.sgd(lr=lr, momentum=momentum)
                m.fit(ds, opt, epochs=int(epochs), batch_size=int(batch), shuffle=False,
                      class_weights=c.get("cw"), sample_weights=c.get("sw"),
                      pos_weight=c.get("pw"), label_smoothing=c.get("ls", [0.0])[0],
                      regression_loss="l1" if loss == "l1" else "mse", clip_grad_norm=clip)
                got_w = flat(m["fc"].get_parameter("weight"))
                got_b = flat(m["fc"].get_parameter("bias"))
                for got, want in zip(got_w + got_b, c["w1"] + c["b1"]):
                    self.assertAlmostEqual(got, want, delta=2e-6 + 1e-4 * abs(want))


class TestTargets(unittest.TestCase):
    def test_multi_label_evaluate_predict_and_save(self):
        m = dense_model(2, 2, "multi_label")
        m["fc"].set_parameter("weight", [1, 0, 0, 1])
        m["fc"].set_parameter("bias", [0, 0])
        x = [[1, 2], [-1, 1], [2, -3], [-2, 0]]
        ds = graft.Dataset.from_targets(x, [[1, 1], [0, 1], [0, 0], [1, 0]])
        self.assertEqual(ds.n_targets, 2)
        self.assertEqual(ds.n_classes, 0)
        self.assertEqual(flat(ds.gather_targets([2, 0])), [0, 0, 1, 1])
        r = m.evaluate_targets(ds, batch_size=3, thresholds=[0.5, 0.8])
        self.assertEqual(r.count, 4)
        self.assertAlmostEqual(r.subset_accuracy, 0.25)
        self.assertAlmostEqual(r.hamming_loss, 3 / 8)
        self.assertAlmostEqual(r.micro_f1, 4 / 7)
        self.assertAlmostEqual(r.macro_f1, 7 / 12)
        self.assertEqual(r.support, [2, 2])
        self.assertAlmostEqual(r.f1[1], 2 / 3)
        self.assertIsNone(r.r2)
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "m.graft")
            m.save(path)
            m2 = graft.Model.load(path)
        self.assertEqual(m2.task, "multi_label")
        p = flat(m2.predict(x))
        for got, v in zip(p, flat(x)):
            self.assertAlmostEqual(got, 1 / (1 + math.exp(-v)), places=6)
        with self.assertRaises(graft.StateError):
            m2.evaluate(ds)

    def test_csv_targets(self):
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "t.csv")
            with open(path, "w") as f:
                f.write("1,2,0.5\n3,4,1.5\n5,6,2.5\n")
            ds = graft.Dataset.from_csv(path, n_targets=1)
        self.assertEqual((len(ds), ds.n_targets, ds.n_classes), (3, 1, 0))
        self.assertEqual(flat(ds.gather_targets([0, 2])), [0.5, 2.5])
        m = dense_model(2, 1, "regression")
        m.fit(ds, graft.Optimizer.sgd(lr=0.01), epochs=2)
        self.assertEqual(m.evaluate_targets(ds).count, 3)

    def test_regression(self):
        m = dense_model(2, 2, "regression")
        m["fc"].set_parameter("weight", [1, 0, 0, 1])
        m["fc"].set_parameter("bias", [0, 0])
        ds = graft.Dataset.from_targets([[1, 0], [2, 1], [3, 5]], [[1, 1], [3, 1], [2, 4]])
        r = m.evaluate_targets(ds)
        self.assertAlmostEqual(r.mse, 2 / 3)
        self.assertAlmostEqual(r.mae, 2 / 3)
        self.assertAlmostEqual(r.r2, 1 / 3)
        self.assertAlmostEqual(r.output_r2[1], 2 / 3)
        self.assertEqual(flat(m.predict([[1, 0], [2, 1]])), [1, 0, 2, 1])
        m.fit(ds, graft.Optimizer.sgd(lr=0.05), epochs=20, regression_loss="l1")
        self.assertLess(m.evaluate_targets(ds).mae, 2 / 3)

    def test_errors(self):
        m = dense_model(2, 2, "classification")
        ds = graft.Dataset.from_memory([[0, 1], [1, 0], [1, 1], [0, 0]], [0, 1, 1, 0])
        opt = graft.Optimizer.sgd()
        with self.assertRaises(ValueError):
            m.task = "ranking"
        with self.assertRaises(ValueError):
            m.fit(ds, opt, class_weights=[1, 2, 3])
        with self.assertRaises(ValueError):
            m.fit(ds, opt, regression_loss="huber")
        with self.assertRaises(graft.InvalidArgumentError):
            m.fit(ds, opt, label_smoothing=2)
        with self.assertRaises(graft.RangeError):
            m.fit(ds, opt, sample_weights=[1, -1, 1, 1])
        with self.assertRaises(graft.StateError):
            m.evaluate_targets(ds)
        self.assertEqual(opt.steps, 0)
        # "balanced", smoothing, clipping and mixup together train
        m.fit(ds, opt, class_weights="balanced", label_smoothing=0.1, clip_grad_norm=1.0,
              mixup_alpha=0.2, epochs=2, batch_size=2)
        self.assertEqual(opt.steps, 4)


if __name__ == "__main__":
    unittest.main()
