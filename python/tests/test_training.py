"""Datasets, fitting (with callbacks), evaluation, prediction and
checkpoints."""

import array
import gc
import math
import os
import signal
import subprocess
import sys
import unittest

import graft_testutil as tu
from graft_testutil import graft, layers

from test_model import flat


# Run by the Ctrl-C test: fits "forever" until interrupted.
CHILD = """
import signal, sys
# A process started with SIGINT ignored (a background job, some CI runners)
# passes that on, and Python then installs no Ctrl-C handler: give this
# child the one an interactive Python has.
signal.signal(signal.SIGINT, signal.default_int_handler)
import graft_testutil as tu
from graft_testutil import graft
ds, m, opt = tu.dataset(64, 5, "quadrant"), tu.small_cnn(), graft.Optimizer.sgd()
def cb(p):
    if p.epoch == 1 and p.batch == 1:
        print("started", flush=True)
try:
    m.fit(ds, opt, epochs=200000, batch_size=16, callback=cb)
except KeyboardInterrupt:
    restored = signal.getsignal(signal.SIGINT) is signal.default_int_handler
    print("KeyboardInterrupt after %d of 800000 steps, %d running"
          % (opt.steps, m._busy + (not restored)), flush=True)
    sys.exit(3)
"""


def softmax(row):
    mx = max(row)
    e = [math.exp(v - mx) for v in row]
    s = sum(e)
    return [v / s for v in e]


class Datasets(unittest.TestCase):
    def test_from_lists(self):
        xs = [[0.5, 1.0, 1.5], [2.0, 2.5, 3.0], [-1.0, 0.0, 1.0], [4.0, 4.5, 5.0]]
        with graft.Dataset.from_memory(xs, [0, 2, 1, 2]) as ds:
            self.assertEqual(len(ds), 4)
            self.assertEqual(ds.n_classes, 3)  # the largest label + 1
            self.assertEqual(ds.sample_shape, (3,))
            x, y = ds[1]
            self.assertEqual((flat(x), y), ([2.0, 2.5, 3.0], 2))
            self.assertEqual(flat(ds[-1][0]), [4.0, 4.5, 5.0])
            self.assertEqual([y for _, y in ds], [0, 2, 1, 2])
            self.assertEqual(ds.labels, [0, 2, 1, 2])
            self.assertEqual([y for _, y in ds[1:3]], [2, 1])
            with self.assertRaises(IndexError):
                ds[4]

    def test_sample_shape_and_flat_features(self):
        feats = array.array("f", [float(i) for i in range(12)])
        with graft.Dataset.from_memory(feats, [0, 1, 0], sample_shape=(2, 2)) as ds:
            self.assertEqual(ds.sample_shape, (2, 2))
            self.assertEqual(flat(ds[2][0]), [8.0, 9.0, 10.0, 11.0])
            self.assertEqual(len(ds[2][0]), 2)
        with graft.Dataset.from_memory(feats, [0, 1, 0, 1], n_classes=5) as ds:
            self.assertEqual(ds.sample_shape, (3,))
            self.assertEqual(ds.n_classes, 5)
        with self.assertRaises(ValueError):
            graft.Dataset.from_memory(feats, [0, 1, 0], sample_shape=(5,))
        with self.assertRaises(graft.RangeError):
            graft.Dataset.from_memory(feats, [0, 1, 3], n_classes=2)

    def test_copy_false_reads_in_place_and_keeps_the_arrays_alive(self):
        feats = array.array("f", [1.0, 2.0, 3.0, 4.0])
        labels = array.array("i", [0, 1])
        borrowed = graft.Dataset.from_memory(feats, labels, copy=False)
        copied = graft.Dataset.from_memory(feats, labels, copy=True)
        feats[0] = 9.0  # shows which one reads the caller's memory
        self.assertEqual(flat(borrowed[0][0]), [9.0, 2.0])
        self.assertEqual(flat(copied[0][0]), [1.0, 2.0])
        # Built from temporaries, borrowed data stays valid, also in splits.
        ds = graft.Dataset.from_memory(array.array("f", [0.5] * 20),
                                       array.array("i", [0, 1] * 5), copy=False)
        train, val = ds.split(0.5, seed=1)
        ds.close()
        gc.collect()
        self.assertEqual([flat(x) for x, _ in train], [[0.5, 0.5]] * 5)
        for d in (borrowed, copied, train, val):
            d.close()

    def test_split(self):
        xs, ys = tu.images(40, 2, "quadrant")
        with graft.Dataset.from_memory(xs, ys, sample_shape=(1, 8, 8)) as ds:
            a_train, a_val = ds.split(0.25, seed=3)
            b_train, b_val = ds.split(0.25, seed=3)
            c_train, c_val = ds.split(0.25, seed=4)
        # The parts outlive their parent.
        self.assertEqual((len(a_train), len(a_val)), (30, 10))
        self.assertEqual(a_val.labels, b_val.labels)
        self.assertEqual(a_train.labels, b_train.labels)
        self.assertEqual(sorted(a_train.labels + a_val.labels), sorted(ys))
        self.assertNotEqual([flat(x) for x, _ in a_val], [flat(x) for x, _ in c_val])
        self.assertEqual(a_val.sample_shape, (1, 8, 8))
        for d in (a_train, a_val, b_train, b_val, c_train, c_val):
            d.close()
        with graft.Dataset.from_memory(xs[:4], ys[:4]) as small:
            with self.assertRaises(graft.RangeError):
                small.split(0.01)
            with self.assertRaises(graft.InvalidArgumentError):
                small.split(1.5)


    def test_split_stratified_and_subset_per_class(self):
        # 30 of class 0, 10 of class 1: each class gives a quarter to val.
        xs, ys = tu.images(40, 2, "quadrant")
        ys = [0] * 30 + [1] * 10
        with graft.Dataset.from_memory(xs, ys, sample_shape=(1, 8, 8)) as ds:
            train, val = ds.split_stratified(0.25, seed=3)
            again, _ = ds.split_stratified(0.25, seed=3)
            few = ds.subset_per_class(4, seed=1)
            most = ds.subset_per_class(20, seed=1)
        self.assertEqual(sorted(val.labels), [0] * 8 + [1] * 2)
        self.assertEqual(sorted(train.labels), [0] * 22 + [1] * 8)
        self.assertEqual(train.labels, again.labels)
        self.assertEqual(few.labels, [0] * 4 + [1] * 4)
        self.assertEqual(sorted(most.labels), [0] * 20 + [1] * 10)
        self.assertEqual(few.sample_shape, (1, 8, 8))
        with self.assertRaises(graft.InvalidArgumentError):
            few.subset_per_class(0)
        with self.assertRaises(graft.RangeError):
            few.split_stratified(0.9)
        for d in (train, val, again, few, most):
            d.close()

class Fitting(tu.TempDirTest):
    def setUp(self):
        super().setUp()
        self.train = tu.dataset(96, 5, "quadrant")
        self.addCleanup(self.train.close)

    def test_fit_learns_and_returns_epoch_records(self):
        with tu.small_cnn() as m, graft.Optimizer.adam(lr=0.01) as opt, \
                tu.dataset(400, 1, "quadrant") as train, tu.dataset(200, 2, "quadrant") as val:
            history = m.fit(train, opt, val=val, epochs=4, batch_size=16, seed=1)
            self.assertEqual([h.epoch for h in history], [1, 2, 3, 4])
            self.assertTrue(all(h.event == "epoch" and h.epochs == 4 for h in history))
            self.assertEqual(history[0].batches, 25)
            self.assertLess(history[-1].loss, history[0].loss)
            self.assertGreater(history[-1].val_accuracy, 0.9)
            self.assertEqual(m.epochs_done, 4)
            self.assertEqual(opt.steps, 100)
            r = m.evaluate(val)
            self.assertAlmostEqual(r.accuracy, history[-1].val_accuracy, places=6)
            self.assertAlmostEqual(r.loss, history[-1].val_loss, places=5)
            history = m.fit(train, opt, epochs=1)
            self.assertIsNone(history[0].val_loss)

    def test_callback_stops_early_in_an_epoch(self):
        seen = []

        def cb(p):
            seen.append((p.event, p.epoch, p.batch))
            return p.batch == 3

        with tu.small_cnn() as m, graft.Optimizer.sgd() as opt:
            history = m.fit(self.train, opt, epochs=3, batch_size=16, callback=cb)
            self.assertEqual(seen, [("batch", 1, 1), ("batch", 1, 2), ("batch", 1, 3)])
            self.assertEqual(history, [])
            self.assertEqual(m.epochs_done, 0)
            self.assertEqual(opt.steps, 3)

    def test_callback_stops_at_an_epoch_end(self):
        with tu.small_cnn() as m, graft.Optimizer.sgd() as opt:
            history = m.fit(self.train, opt, epochs=5, batch_size=32,
                            callback=lambda p: p.event == "epoch" and p.epoch == 2)
            self.assertEqual(len(history), 2)
            self.assertEqual(m.epochs_done, 2)
            self.assertEqual(opt.steps, 6)

    def test_exception_in_callback_stops_and_is_reraised(self):
        class Boom(Exception):
            pass

        def cb(p):
            if p.batch == 2:
                raise Boom("stop here")

        with tu.small_cnn() as m, graft.Optimizer.sgd() as opt:
            with self.assertRaises(Boom) as cm:
                m.fit(self.train, opt, epochs=2, batch_size=16, callback=cb)
            self.assertEqual(str(cm.exception), "stop here")
            self.assertEqual(opt.steps, 2)
            # The model is usable afterwards.
            m.fit(self.train, opt, epochs=1, batch_size=16)
            self.assertEqual(m.epochs_done, 1)
            self.assertEqual(opt.steps, 8)

    def test_keyboard_interrupt_in_callback(self):
        def cb(p):
            raise KeyboardInterrupt

        with tu.small_cnn() as m, graft.Optimizer.sgd() as opt:
            with self.assertRaises(KeyboardInterrupt):
                m.fit(self.train, opt, epochs=1, batch_size=16, callback=cb)
            self.assertEqual(opt.steps, 1)

    def test_ctrl_c_stops_the_fit_with_keyboard_interrupt(self):
        script = self.path("child.py")
        with open(script, "w") as f:
            f.write(CHILD)
        env = dict(os.environ, PYTHONPATH=tu.TESTS_DIR)
        p = subprocess.Popen([sys.executable, script], stdout=subprocess.PIPE, text=True,
                             env=env)
        try:
            # Events, not the clock: the child says it is inside the fit,
            # then the interrupt goes, then the child's exit is awaited. The
            # long timeout only guards against a hang; a lost interrupt
            # shows as the wrong exit status.
            self.assertEqual(p.stdout.readline(), "started\n")
            p.send_signal(signal.SIGINT)
            out, _ = p.communicate(timeout=900)
        finally:
            if p.poll() is None:
                p.kill()
                p.wait()
        self.assertEqual(p.returncode, 3, out)
        self.assertRegex(out, r"^KeyboardInterrupt after [0-9]+ of 800000 steps, 0 running\n$")

    def test_callback_may_save_but_not_run_or_change_the_model(self):
        path = self.path("during.graft")
        with tu.small_cnn() as m, graft.Optimizer.sgd() as opt:
            def saving(p):
                if p.event == "epoch":
                    m.save(path)
            m.fit(self.train, opt, epochs=1, batch_size=32, callback=saving)
            with graft.Model.load(path) as saved:
                self.assertEqual(saved.epochs_done, 1)

            for action in (lambda: m.predict([0.0] * 64), lambda: m.freeze_through("pool"),
                           lambda: m.add(layers.relu()), lambda: opt.close(),
                           lambda: self.train.close(), lambda: m.close()):
                with self.assertRaises(graft.StateError) as cm:
                    m.fit(self.train, opt, epochs=1, batch_size=32,
                          callback=lambda p, a=action: a())
                self.assertEqual(cm.exception.code, graft.errors.E_STATE)
            self.assertFalse(opt.closed or m.closed or self.train.closed)

    def test_bad_fit_options(self):
        with tu.small_cnn() as m, graft.Optimizer.sgd() as opt:
            with self.assertRaises(graft.InvalidArgumentError) as cm:
                m.fit(self.train, opt, epochs=0)
            self.assertEqual(cm.exception.message,
                             "graft_model_fit(): epochs is 0, must be >= 1")
            with tu.dataset(8, 1, "side") as two:
                with self.assertRaises(graft.ShapeError):
                    m.fit(two, opt)
            with self.assertRaises(TypeError):
                m.fit([1, 2], opt)


class BuiltInCallbacks(tu.TempDirTest):
    def setUp(self):
        super().setUp()
        self.train = tu.dataset(64, 5, "quadrant")
        self.addCleanup(self.train.close)

    def test_early_stopping_and_restore_best(self):
        # a min_delta no epoch can beat: only the first improves
        with tu.small_cnn() as m, graft.Optimizer.sgd(lr=0.05) as opt, \
                tu.small_cnn() as ref, graft.Optimizer.sgd(lr=0.05) as ref_opt:
            history = m.fit(self.train, opt, epochs=8, batch_size=16, monitor="loss",
                            min_delta=1e9, early_stopping=2, restore_best=True)
            self.assertEqual([h.epoch for h in history], [1, 2, 3])
            self.assertEqual([h.best_epoch for h in history], [1, 1, 1])
            self.assertEqual(history[2].best, history[0].loss)
            self.assertEqual(m.epochs_done, 1)
            self.assertEqual(opt.steps, 12)
            ref.fit(self.train, ref_opt, epochs=1, batch_size=16)
            r, r_ref = m.evaluate(self.train), ref.evaluate(self.train)
            self.assertEqual(r.loss, r_ref.loss)

    def test_save_best_writes_a_checkpoint(self):
        path = self.path("best.ckpt")
        with tu.small_cnn() as m, graft.Optimizer.sgd(lr=0.05) as opt:
            m.fit(self.train, opt, val=self.train, epochs=2, batch_size=32,
                  monitor="val_accuracy", min_delta=2.0, save_best=path)
            self.assertEqual(m.epochs_done, 2)
        m2, opt2 = graft.Model.load_checkpoint(path)
        with m2, opt2:
            self.assertEqual(m2.epochs_done, 1)
            self.assertEqual(opt2.steps, 2)

    def test_reduce_on_plateau_scales_the_rate(self):
        seen = {}

        def cb(p):
            if p.event == "batch" and p.batch == 1:
                seen[p.epoch] = (p.lr, p.lr_scale)

        with tu.small_cnn() as m, graft.Optimizer.sgd(lr=0.1) as opt:
            # a threshold no epoch meets: from the second on, every epoch is bad
            history = m.fit(self.train, opt, epochs=4, batch_size=32, callback=cb,
                            reduce_on_plateau=graft.ReduceLROnPlateau(
                                factor=0.5, patience=0, threshold=0.999))
            self.assertEqual([seen[e][1] for e in range(1, 5)], [1.0, 1.0, 0.5, 0.25])
            self.assertEqual([seen[e][0] for e in range(1, 5)], [0.1, 0.1, 0.05, 0.025])
            self.assertEqual(history[-1].lr_scale, 0.125)
            self.assertEqual(opt.lr, 0.1)
            history = m.fit(self.train, opt, epochs=1)
            self.assertIsNone(history[0].best_epoch)
            self.assertEqual(history[0].lr_scale, 1.0)

    def test_bad_callback_options(self):
        with tu.small_cnn() as m, graft.Optimizer.sgd() as opt:
            with self.assertRaises(ValueError):
                m.fit(self.train, opt, monitor="val_f1")
            with self.assertRaises(TypeError):
                m.fit(self.train, opt, early_stopping=True)
            with self.assertRaises(TypeError):
                m.fit(self.train, opt, reduce_on_plateau=0.5)
            with self.assertRaises(graft.InvalidArgumentError) as cm:
                m.fit(self.train, opt, monitor="val_loss", early_stopping=3)
            self.assertIn("val is NULL", cm.exception.message)
            with self.assertRaises(graft.InvalidArgumentError):
                m.fit(self.train, opt, reduce_on_plateau={"factor": 1.5})
            self.assertEqual(opt.steps, 0)


class EvaluateAndPredict(unittest.TestCase):
    def test_evaluate_figures_agree_with_the_confusion_matrix(self):
        with graft.Model.load(tu.pretrained_path()) as m, tu.dataset(120, 8, "quadrant") as ds:
            r = m.evaluate(ds, batch_size=7, top_k=2)
            self.assertEqual(r.count, 120)
            self.assertEqual(r.n_classes, 4)
            self.assertEqual(r.top_k, 2)
            self.assertEqual(r.class_names, m.class_names)
            self.assertEqual(sum(map(sum, r.confusion)), 120)
            self.assertEqual([sum(row) for row in r.confusion],
                             [ds.labels.count(c) for c in range(4)])
            diag = [r.confusion[c][c] for c in range(4)]
            self.assertAlmostEqual(r.accuracy, sum(diag) / 120, places=12)
            self.assertGreaterEqual(r.topk_accuracy, r.accuracy)
            for c in range(4):
                col = sum(r.confusion[t][c] for t in range(4))
                self.assertAlmostEqual(r.precision[c], diag[c] / col, places=12)
                self.assertAlmostEqual(r.recall[c], diag[c] / sum(r.confusion[c]), places=12)

    def test_f1_and_auc(self):
        # one-hot logits on classes 0,0,1,2,2,2 for labels 0,1,1,2,2,0
        # (the C tests work these figures out by hand)
        with graft.Model((3,)) as m:
            m.add(layers.dense(3, bias=False), "fc")
            m["fc"].set_parameter("weight", [1, 0, 0, 0, 1, 0, 0, 0, 1])
            xs = [[1, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1], [0, 0, 1], [0, 0, 1]]
            with graft.Dataset.from_memory(xs, [0, 1, 1, 2, 2, 0]) as ds:
                r = m.evaluate(ds)
            for got, want in zip(r.f1, [0.5, 2 / 3, 0.8]):
                self.assertAlmostEqual(got, want, places=12)
            self.assertAlmostEqual(r.f1_macro, (0.5 + 2 / 3 + 0.8) / 3, places=12)
            for got, want in zip(r.auc, [0.625, 0.75, 0.875]):
                self.assertAlmostEqual(got, want, places=12)
            self.assertAlmostEqual(r.auc_macro, 0.75, places=12)

    def test_undefined_precision_is_nan(self):
        with tu.small_cnn() as m, tu.dataset(20, 8, "quadrant") as ds:
            fc = m["fc"]
            fc.set_parameter("weight", [0.0] * (4 * 64))
            fc.set_parameter("bias", [1.0, 0.0, 0.0, 0.0])  # always class 0
            r = m.evaluate(ds)
            n0 = ds.labels.count(0)
            self.assertEqual([row[0] for row in r.confusion], [ds.labels.count(c)
                                                               for c in range(4)])
            self.assertAlmostEqual(r.precision[0], n0 / 20, places=12)
            self.assertTrue(all(math.isnan(p) for p in r.precision[1:]))
            self.assertEqual(r.recall[0], 1.0)
            self.assertEqual(r.recall[1:], [0.0, 0.0, 0.0])
            with self.assertRaises(graft.RangeError):
                m.evaluate(ds, top_k=5)

    def test_predict_is_the_softmax_of_forward(self):
        xs, _ = tu.images(6, 4, "quadrant")
        with graft.Model.load(tu.pretrained_path()) as m:
            probs = m.predict(xs)
            logits = m.forward(xs)
            self.assertEqual(len(probs), 6)
            for p, z in zip(probs, logits):
                p, z = flat(p), flat(z)
                self.assertAlmostEqual(sum(p), 1.0, places=5)
                for a, b in zip(p, softmax(z)):
                    self.assertAlmostEqual(a, b, places=6)
            # One sample given in the model's own shape (1, 8, 8).
            one = [[xs[0][r * 8:(r + 1) * 8] for r in range(8)]]
            self.assertEqual(flat(m.predict(one)), flat(probs[0]))

    def test_predict_topk(self):
        xs, _ = tu.images(5, 6, "quadrant")
        with graft.Model.load(tu.pretrained_path()) as m:
            probs = m.predict(xs)
            idx, top = m.predict_topk(xs, k=3)
            self.assertEqual((len(idx), len(idx[0])), (5, 3))
            for p, i, t in zip(probs, idx, top):
                p = flat(p)
                order = sorted(range(4), key=lambda c: -p[c])[:3]
                self.assertEqual([int(v) for v in i], order)
                self.assertEqual(flat(t), [p[c] for c in order])
            idx1, _ = m.predict_topk(xs[0], k=1)
            self.assertEqual(len(idx1), 1)
            default, _ = m.predict_topk(xs)  # min(5, classes)
            self.assertEqual([len(row) for row in default], [4] * 5)


class Checkpoints(tu.TempDirTest):
    def test_resume_gives_the_same_model(self):
        xs, _ = tu.images(10, 3, "quadrant")
        with tu.dataset(64, 5, "quadrant") as ds:
            with tu.small_cnn() as m, graft.Optimizer.sgd(lr=0.05, momentum=0.9) as opt:
                m.fit(ds, opt, epochs=4, batch_size=16, seed=2)
                straight = flat(m.predict(xs))
            with tu.small_cnn() as m, graft.Optimizer.sgd(lr=0.05, momentum=0.9) as opt:
                m.fit(ds, opt, epochs=2, batch_size=16, seed=2)
                m.save_checkpoint(self.path("ck.graft"), opt)
            m, opt = graft.Model.load_checkpoint(self.path("ck.graft"))
            with m, opt:
                self.assertEqual(m.epochs_done, 2)
                self.assertEqual(opt.steps, 8)
                self.assertEqual(opt.kind, "sgd")
                self.assertEqual(opt["momentum"], 0.9)
                m.fit(ds, opt, epochs=2, batch_size=16, seed=2)
                self.assertEqual(flat(m.predict(xs)), straight)

    def test_model_file_is_not_a_checkpoint(self):
        p = self.path("m.graft")
        with tu.small_cnn() as m:
            m.save(p)
        with self.assertRaises(graft.FormatError) as cm:
            graft.Model.load_checkpoint(p)
        self.assertTrue(cm.exception.message.startswith("graft_checkpoint_load(): "))
        self.assertTrue(os.path.exists(p))


class NonFiniteTraining(tu.TempDirTest):
    """The issue "Training that diverges must never report success": a
    conv -> relu -> dense model fed values that overflow to inf or NaN used
    to fit "successfully" with NaN conv weights (relu turned NaN into 0, so
    the loss stayed finite), and save wrote them."""

    SIDE = 8

    def model(self, n_classes=2, ctx=None):
        m = graft.Model((3, self.SIDE, self.SIDE), seed=1, ctx=ctx)
        m.add(layers.conv2d(4, 3, padding=1, ctx=ctx), "conv")
        m.add(layers.relu(ctx=ctx), "relu")
        m.add(layers.dense(n_classes, ctx=ctx), "fc")
        return m

    def image_folder(self):
        root = self.path("images")
        pixels = [(37 * i) % 256 for i in range(self.SIDE * self.SIDE * 3)]
        for c in ("cat", "dog"):
            os.makedirs(os.path.join(root, c))
            for i in range(4):
                tu.write_png(os.path.join(root, c, "%d.png" % i), self.SIDE, self.SIDE, 3,
                             pixels[i:] + pixels[:i])
        return root

    def test_folder_normalisation_that_overflows_is_refused(self):
        root = self.image_folder()
        # std 1e-39 is finite and > 0, but (v - mean) / std overflows float
        # for pixel values in [0, 1]: refused when the dataset is made.
        with self.assertRaises(graft.InvalidArgumentError) as cm:
            graft.Dataset.from_folder(root, width=self.SIDE, height=self.SIDE,
                                      normalize="mean_std", mean=(0.0, 0.0, 0.0),
                                      std=(1e-39,) * 3)
        self.assertIn("overflows float for pixel values", cm.exception.message)
        self.assertIn("opts->std[0]", cm.exception.message)
        # A small but workable std trains, and the weights stay finite.
        with graft.Dataset.from_folder(root, width=self.SIDE, height=self.SIDE,
                                       normalize="mean_std", mean=(0.5, 0.5, 0.5),
                                       std=(1e-3,) * 3) as ds, \
                self.model() as m, graft.Optimizer.sgd(lr=1e-6) as opt:
            m.fit(ds, opt, epochs=1, batch_size=4)
            self.assertEqual(opt.steps, 2)
            self.assertTrue(all(math.isfinite(v) for v in flat(m["conv"].get_parameter("weight"))))

    def test_borrowed_buffer_that_becomes_nan(self):
        n, per = 8, 3 * self.SIDE * self.SIDE
        feats = array.array("f", [((i * 7) % 13) / 13.0 for i in range(n * per)])
        labels = array.array("i", [i % 2 for i in range(n)])
        with graft.Dataset.from_memory(feats, labels, sample_shape=(3, self.SIDE, self.SIDE),
                                       copy=False) as ds, \
                self.model() as m, graft.Optimizer.sgd(lr=0.1, momentum=0.9) as opt:
            feats[2 * per + 5] = float("nan")  # after the dataset checked its values
            before = flat(m["conv"].get_parameter("weight"))
            with self.assertRaises(graft.NumericError) as cm:
                m.fit(ds, opt, epochs=1, batch_size=4, shuffle=False)
            self.assertEqual(cm.exception.message,
                             "graft_model_fit(): training sample 2 holds NaN at element 5 at "
                             "epoch 1, batch 1; inputs must be finite (GRAFT_CTX_CHECK_INPUTS)")
            self.assertEqual(flat(m["conv"].get_parameter("weight")), before)
            self.assertEqual(opt.steps, 0)
            self.assertEqual(m.epochs_done, 0)
            # predict refuses such input too
            x = [list(feats[2 * per:3 * per])]
            with self.assertRaises(graft.NumericError):
                m.predict([[v for v in row] for row in x])
            # the same buffer made finite again trains, and saves finite weights
            feats[2 * per + 5] = 0.5
            m.fit(ds, opt, epochs=1, batch_size=4, shuffle=False)
            self.assertEqual(opt.steps, 2)
            m.save(self.path("m.graft"))
            with graft.Model.load(self.path("m.graft")) as back:
                self.assertTrue(all(math.isfinite(v)
                                    for v in flat(back["conv"].get_parameter("weight"))))

    def test_unchecked_inputs_still_stop_the_fit(self):
        # With the input check off, the NaN flows through relu (relu(NaN) is
        # NaN, as in PyTorch) into the loss, and fit stops before any update.
        n, per = 4, 3 * self.SIDE * self.SIDE
        feats = array.array("f", [((i * 5) % 11) / 11.0 for i in range(n * per)])
        labels = array.array("i", [0, 1, 0, 1])
        with graft.Context() as ctx:
            self.assertTrue(ctx.check_inputs)
            ctx.check_inputs = False
            self.assertFalse(ctx.check_inputs)
            with graft.Dataset.from_memory(feats, labels, sample_shape=(3, self.SIDE, self.SIDE),
                                           copy=False, ctx=ctx) as ds, \
                    self.model(ctx=ctx) as m, graft.Optimizer.sgd(lr=0.1, ctx=ctx) as opt:
                feats[per + 7] = float("nan")
                before = flat(m["conv"].get_parameter("weight"))
                with self.assertRaises(graft.NumericError) as cm:
                    m.fit(ds, opt, epochs=1, batch_size=4)
                self.assertIn("non-finite at epoch 1, batch 1", cm.exception.message)
                self.assertEqual(flat(m["conv"].get_parameter("weight")), before)
                self.assertEqual(opt.steps, 0)


if __name__ == "__main__":
    unittest.main()
