"""Optimizers: keyword defaults equal graft's, hyperparameters by name,
schedules and bounds."""

import math
import unittest

from graft_testutil import graft  # also sets up the import path


class Optimizers(unittest.TestCase):
    def test_keyword_defaults_are_the_library_defaults(self):
        # Optimizer(kind) has graft's own defaults; the classmethods set
        # every keyword explicitly, so equal dicts mean equal defaults.
        for kind, make in (("sgd", graft.Optimizer.sgd), ("adam", graft.Optimizer.adam),
                           ("adamw", graft.Optimizer.adamw)):
            with graft.Optimizer(kind) as plain, make() as keyword:
                self.assertEqual(plain.hyperparameters(), keyword.hyperparameters(), kind)
                self.assertEqual(keyword.kind, kind)
        with graft.Optimizer.sgd() as o:
            self.assertEqual(o.hyperparameters(), {
                "lr": 0.01, "momentum": 0.0, "nesterov": False, "weight_decay": 0.0,
                "schedule": "constant", "step_epochs": 10.0, "gamma": 0.1,
                "cosine_epochs": 0.0, "min_lr": 0.0, "warmup_epochs": 0.0})
        with graft.Optimizer.adamw() as o:
            self.assertEqual((o.lr, o["weight_decay"], o["beta2"]), (0.001, 0.01, 0.999))

    def test_set_and_get_by_name(self):
        with graft.Optimizer.sgd(lr=0.1, momentum=0.9, nesterov=True) as o:
            self.assertEqual((o.lr, o["momentum"], o["nesterov"]), (0.1, 0.9, True))
            o.lr = 0.2
            o["momentum"] = 0.5
            o.set("schedule", "step")
            self.assertEqual((o.get("lr"), o["momentum"], o["schedule"]), (0.2, 0.5, "step"))
            with self.assertRaises(graft.NotFoundError) as cm:
                o["beta1"] = 0.5
            self.assertEqual(cm.exception.message,
                             "graft_optim_set(): GRAFT_OPT_BETA1 is not used by SGD optimizers")
            with self.assertRaises(graft.RangeError):
                o["momentum"] = 1.0
            with self.assertRaises(ValueError):
                o["schedule"] = "weird"
            with self.assertRaises(KeyError):
                o["no_such"]

    def test_schedules(self):
        with graft.Optimizer.sgd(lr=0.1, schedule="step", step_epochs=2, gamma=0.5) as o:
            # base * gamma^floor(e / step_epochs)
            self.assertAlmostEqual(o.lr_at(0), 0.1)
            self.assertAlmostEqual(o.lr_at(1.9), 0.1)
            self.assertAlmostEqual(o.lr_at(2), 0.05)
            self.assertAlmostEqual(o.lr_at(4.5), 0.025)
        with graft.Optimizer.adam(lr=0.01, warmup_epochs=2) as o:
            self.assertAlmostEqual(o.lr_at(1), 0.005)  # base * e / W during warm-up
            self.assertAlmostEqual(o.lr_at(3), 0.01)
        with graft.Optimizer.sgd(lr=0.1, schedule="cosine") as o:
            self.assertTrue(math.isnan(o.lr_at(1)))  # cosine needs cosine_epochs
            o["cosine_epochs"] = 4
            o["min_lr"] = 0.02
            self.assertAlmostEqual(o.lr_at(2), 0.02 + 0.08 * 0.5)
            self.assertAlmostEqual(o.lr_at(10), 0.02)

    def test_bounds(self):
        self.assertEqual(graft.Optimizer.bounds("sgd", "momentum"), (0.0, 1.0))
        self.assertEqual(graft.Optimizer.bounds("adam", "lr"), (0.0, 10.0))
        with self.assertRaises(graft.NotFoundError):
            graft.Optimizer.bounds("sgd", "beta1")

    def test_steps_and_repr(self):
        with graft.Optimizer.adam() as o:
            self.assertEqual(o.steps, 0)
            self.assertEqual(repr(o), "<graft.Optimizer adam lr=0.001 steps=0>")
        self.assertEqual(repr(o), "<graft.Optimizer closed>")


if __name__ == "__main__":
    unittest.main()
