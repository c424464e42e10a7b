"""Building, inspecting, saving, loading and operating on models: layers,
freezing, cutting, replacing the head, loading weights by name."""

import os
import pathlib
import unittest

import graft_testutil as tu
from graft_testutil import graft, layers


def flat(values):
    """Nested lists or a numpy array as a flat list of floats."""
    if hasattr(values, "tolist"):
        values = values.tolist()
    out = []
    stack = [values]
    while stack:
        v = stack.pop()
        if isinstance(v, list):
            stack.extend(reversed(v))
        else:
            out.append(float(v))
    return out


class Building(unittest.TestCase):
    def test_add_names_layers_and_iterates(self):
        with graft.Model((4,), seed=3) as m:
            first = m.add(layers.dense(3))
            m.add(layers.relu())
            m.add(layers.dense(2))
            self.assertEqual(first.name, "dense")
            self.assertEqual([l.name for l in m], ["dense", "relu", "dense_1"])
            self.assertEqual([l.kind for l in m.layers], ["dense", "relu", "dense"])
            self.assertEqual(len(m), 3)
            self.assertEqual(m[-1].name, "dense_1")
            self.assertEqual(m["relu"].index, 1)
            self.assertIn("relu", m)
            self.assertNotIn("softmax", m)
            self.assertEqual(m.input_shape, (4,))
            self.assertEqual(m.output_shape, (2,))
            self.assertEqual(m.n_classes, 2)
            self.assertEqual([l.output_shape for l in m], [(3,), (3,), (2,)])
            self.assertEqual([l.params for l in m], [15, 0, 8])  # 4*3+3, 3*2+2
            self.assertEqual([l.inputs for l in m], [["input"], ["dense"], ["relu"]])
            self.assertEqual(m.param_count, 23)
            with self.assertRaises(IndexError):
                m[3]
            with self.assertRaises(graft.NotFoundError):
                m["nope"]

    def test_model_takes_the_layer_over(self):
        with graft.Model((4,)) as m:
            layer = layers.dense(3)
            self.assertEqual(layer.kind, "dense")
            self.assertFalse(layer.closed)
            m.add(layer, "fc")
            self.assertTrue(layer.closed)
            with self.assertRaises(ValueError):
                m.add(layer, "again")
            layer.close()  # nothing left to free; must not touch the model's layer
            self.assertEqual(m["fc"].kind, "dense")

    def test_failed_add_consumes_the_layer(self):
        with graft.Model((4,)) as m:
            layer = layers.dense(3)
            with self.assertRaises(graft.InvalidArgumentError) as cm:
                m.add(layer, "bad name!")
            self.assertTrue(cm.exception.message.startswith(
                'graft_model_add(): bad layer name "bad name!"'), cm.exception.message)
            self.assertTrue(layer.closed)
            self.assertEqual(len(m), 0)

    def test_layer_of_another_context_is_refused(self):
        with graft.Context() as other, graft.Model((4,)) as m:
            layer = layers.dense(3, ctx=other)
            with self.assertRaises(graft.InvalidArgumentError) as cm:
                m.add(layer, "fc")
            self.assertEqual(cm.exception.message,
                             "graft_model_add(): the layer belongs to another context")
            self.assertTrue(layer.closed)

    def test_graph_with_named_inputs(self):
        with graft.Model((4,)) as m:
            m.add(layers.dense(4), "a")
            m.add(layers.relu(), "r")
            res = m.add(layers.add(), "sum", inputs=["a", m["r"]])
            m.add(layers.concat(), "cat", inputs=[res, graft.INPUT])
            self.assertEqual(m["sum"].inputs, ["a", "r"])
            self.assertEqual(m["cat"].inputs, ["sum", "input"])
            self.assertEqual(m.output_shape, (8,))
            with self.assertRaises(graft.NotFoundError) as cm:
                m.add(layers.relu(), "x", inputs="missing")
            self.assertIn('"missing"', cm.exception.message)

    def test_parameters_read_and_write(self):
        with graft.Model((2,)) as m:
            fc = m.add(layers.dense(2), "fc")
            self.assertEqual(fc.param_names, ["weight", "bias"])
            fc.set_parameter("weight", [[1.0, 2.0], [3.0, 4.0]])
            fc.set_parameter("bias", [0.5, -1.0])
            # out = x W^T + b with x = (1, 1): (1+2+0.5, 3+4-1)
            self.assertEqual(flat(m.forward([[1.0, 1.0]])), [3.5, 6.0])
            self.assertEqual(flat(fc.get_parameter("weight")), [1.0, 2.0, 3.0, 4.0])
            params = fc.parameters()
            self.assertEqual(sorted(params), ["bias", "weight"])
            self.assertEqual(flat(params["bias"]), [0.5, -1.0])
            with self.assertRaises(graft.ShapeError):
                fc.set_parameter("bias", [1.0, 2.0, 3.0])
            with self.assertRaises(graft.NotFoundError):
                fc.get_parameter("gamma")

    def test_class_names(self):
        with graft.Model((2,)) as m:
            m.add(layers.dense(3))
            self.assertIsNone(m.class_names)
            m.class_names = ["a", "b", "c"]
            self.assertEqual(m.class_names, ["a", "b", "c"])
            with self.assertRaises(graft.ShapeError):
                m.class_names = ["a", "b"]

    def test_summary(self):
        with tu.small_cnn() as m:
            text = m.summary()
            self.assertIn("conv (conv2d)", text)
            self.assertIn("fc (dense)", text)
            self.assertIn("Total params: 300 (trainable: 300, frozen: 0)", text)
            m.freeze_through("features")
            self.assertIn("Total params: 300 (trainable: 260, frozen: 40)", m.summary())

    def test_closed_model(self):
        m = tu.small_cnn()
        fc = m["fc"]
        m.close()
        m.close()
        self.assertTrue(m.closed)
        with self.assertRaises(ValueError):
            len(m)
        with self.assertRaises(ValueError):
            fc.kind


class Files(tu.TempDirTest):
    def test_save_load_round_trip(self):
        base = tu.pretrained_path()
        xs, _ = tu.images(5, 9, "quadrant")
        with graft.Model.load(base) as m:
            p = pathlib.Path(self.path("copy.graft"))
            m.save(p)
            before = flat(m.predict(xs))
            names, epochs = m.class_names, m.epochs_done
        self.assertEqual(epochs, 4)
        with graft.Model.load(str(p)) as m2:
            self.assertEqual(flat(m2.predict(xs)), before)
            self.assertEqual(m2.class_names, names)
            self.assertEqual(m2.epochs_done, 4)
            self.assertEqual([l.name for l in m2], ["conv", "relu", "pool", "features", "fc"])
        with open(p, "rb") as f:
            data = f.read()
        with graft.Model.load_buffer(data) as m3:
            self.assertEqual(flat(m3.predict(xs)), before)

    def test_save_to_a_missing_folder_fails(self):
        with tu.small_cnn() as m:
            with self.assertRaises(graft.GraftIOError) as cm:
                m.save(os.path.join(self.tmp, "no", "such", "m.graft"))
            self.assertTrue(cm.exception.message.startswith("graft_model_save(): "))


class Transfer(tu.TempDirTest):
    def trainable(self, m):
        return [l.trainable for l in m]

    def test_freezing(self):
        with tu.small_cnn() as m:
            m.freeze_through("pool")
            self.assertEqual(self.trainable(m), [False, False, False, True, True])
            m.freeze_all_but_last(1)
            self.assertEqual(self.trainable(m), [False, False, False, False, True])
            m.unfreeze()
            self.assertEqual(self.trainable(m), [True] * 5)
            m.freeze("conv", -2)
            self.assertEqual(self.trainable(m), [False, False, False, False, True])
            m.set_trainable("relu", "pool", True)
            self.assertEqual(self.trainable(m), [False, True, True, False, True])
            m["conv"].trainable = True
            m["fc"].trainable = False
            self.assertEqual(self.trainable(m), [True, True, True, False, False])
            self.assertEqual(m.trainable_param_count, 40)
            with self.assertRaises(graft.RangeError):
                m.set_trainable(0, 7)
            with self.assertRaises(graft.RangeError):
                m.freeze_all_but_last(6)

    def test_lr_scale_and_unfreeze_schedule(self):
        with tu.small_cnn() as m:
            m.set_lr_scale("conv", "pool", 0.1)
            self.assertAlmostEqual(m["conv"].lr_scale, 0.1, places=6)
            self.assertEqual(m["fc"].lr_scale, 1.0)
            m["fc"].lr_scale = 0.5
            self.assertEqual(m["fc"].lr_scale, 0.5)
            with self.assertRaises(graft.RangeError):
                m.set_lr_scale(0, 0, -1.0)
            m.freeze_through("features")
            m.schedule_unfreeze("conv", 1, lr_scale=0.25)
            with tu.dataset(32, 3, "quadrant") as ds, graft.Optimizer.sgd() as opt:
                m.fit(ds, opt, epochs=1, batch_size=16)
                self.assertFalse(m["conv"].trainable)
                m.fit(ds, opt, epochs=1, batch_size=16)  # epoch 1 starts: unfrozen
                self.assertTrue(m["conv"].trainable)
                self.assertEqual(m["conv"].lr_scale, 0.25)
                m.freeze_through("features")
                m.clear_unfreeze_schedule()
                m.fit(ds, opt, epochs=1, batch_size=16)
                self.assertFalse(m["conv"].trainable)
            with self.assertRaises(graft.NotFoundError):
                m.schedule_unfreeze("nope", 1)

    def test_options(self):
        with tu.small_cnn() as m:
            self.assertFalse(m.frozen_bn_trains)
            self.assertTrue(m.feature_cache)
            self.assertEqual(m.feature_cache_mb, 1024)
            m.frozen_bn_trains = True
            m.feature_cache = False
            m.feature_cache_mb = 8
            p = self.path("m.graft")
            m.save(p)
        with graft.Model.load(p) as m:
            self.assertTrue(m.frozen_bn_trains)
            self.assertFalse(m.feature_cache)
            self.assertEqual(m.feature_cache_mb, 8)
            with self.assertRaises(graft.RangeError) as cm:
                m.feature_cache_mb = -1
            self.assertEqual(cm.exception.message, "graft_model_set_option(): "
                             "GRAFT_MODEL_FEATURE_CACHE_MB takes 0 to 2^30, not -1")

    def test_cut(self):
        with graft.Model.load(tu.pretrained_path()) as m:
            fc = m["fc"]
            m.cut("features")
            self.assertEqual([l.name for l in m], ["conv", "relu", "pool", "features"])
            self.assertEqual(m.output_shape, (64,))
            self.assertIsNone(m.class_names)  # the output size changed
            with self.assertRaises(graft.NotFoundError):
                fc.kind
            feats = m.forward(tu.images(3, 1, "quadrant")[0])
            self.assertEqual(len(feats), 3)
            self.assertEqual(len(feats[0]), 64)
            m.add(layers.dense(3), "new")
            self.assertEqual(m.output_shape, (3,))

    def test_replace_head(self):
        with graft.Model.load(tu.pretrained_path()) as m:
            m.freeze_through("features")
            m.replace_head(2, hidden_units=8, dropout=0.25, seed=7, class_names=["l", "r"])
            self.assertEqual([l.name for l in m],
                             ["conv", "relu", "pool", "features", "head/hidden", "head/relu",
                              "head/dropout", "head/fc"])
            self.assertEqual(self.trainable(m), [False] * 4 + [True] * 4)
            self.assertEqual(m.n_classes, 2)
            self.assertEqual(m.class_names, ["l", "r"])
            self.assertEqual(m["head/hidden"].params, 64 * 8 + 8)
            # Again, without a hidden layer: the whole earlier head goes.
            m.replace_head(3)
            self.assertEqual([l.name for l in m][-2:], ["features", "head/fc"])
            self.assertIsNone(m.class_names)
            with self.assertRaises(ValueError):
                m.replace_head(2, class_names=["only one"])
            with self.assertRaises(graft.InvalidArgumentError) as cm:
                m.replace_head(2, dropout=1.5)
            self.assertEqual(cm.exception.message,
                             "graft_model_replace_head(): dropout is 1.5, must be in [0, 1)")

    def test_replace_head_is_seeded(self):
        outs = []
        for _ in range(2):
            with graft.Model.load(tu.pretrained_path()) as m:
                m.replace_head(2, seed=11)
                outs.append(flat(m["head/fc"].get_parameter("weight")))
        self.assertEqual(outs[0], outs[1])

    def test_load_weights_report(self):
        base = tu.pretrained_path()
        with graft.Model.load(base) as src:
            conv_w = flat(src["conv"].get_parameter("weight"))
        with tu.small_cnn(seed=5) as m:
            m.replace_head(2)
            self.assertNotEqual(flat(m["conv"].get_parameter("weight")), conv_w)
            report = m.load_weights(base)
            self.assertEqual(report.loaded, ["conv/weight", "conv/bias"])
            self.assertEqual(report.not_in_file, ["head/fc/weight", "head/fc/bias"])
            self.assertEqual(report.not_in_model, ["fc/weight", "fc/bias"])
            self.assertEqual(report.shape_mismatch, [])
            self.assertEqual(len(report), 6)
            self.assertEqual(flat(m["conv"].get_parameter("weight")), conv_w)
            name, status, detail = report.entries[0]
            self.assertEqual((name, status, detail),
                             ("conv/weight", graft.WeightStatus.LOADED, "shape (4, 1, 3, 3)"))
        with graft.Model((1, 8, 8)) as m:
            m.add(layers.conv2d(6, 3, padding=1), "conv")
            report = m.load_weights(base)
            self.assertEqual(report.shape_mismatch, ["conv/weight", "conv/bias"])
            entry = report.entries[0]
            self.assertIs(entry.status, graft.WeightStatus.SHAPE_MISMATCH)
            self.assertEqual(entry.detail, "shape (4, 1, 3, 3) in the file, (6, 1, 3, 3) in "
                                           "the model")
            with self.assertRaises(graft.GraftIOError):
                m.load_weights(self.path("missing.graft"))


if __name__ == "__main__":
    unittest.main()
