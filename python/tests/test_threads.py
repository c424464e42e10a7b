"""Model.clone() and predictions on one model from several Python threads
(ctypes releases the GIL while graft runs): every thread's result is the
one a call alone gives."""

import threading
import unittest

import graft_testutil as tu
from graft_testutil import graft


def flat(a):
    """The values of a result (numpy array or nested lists) as one list."""
    a = a.tolist() if hasattr(a, "tolist") else a
    if isinstance(a, (list, tuple)):
        return [v for x in a for v in flat(x)]
    return [a]


class Clone(unittest.TestCase):
    def test_copy_predicts_the_same_and_is_independent(self):
        m = tu.small_cnn(seed=3)
        xs, _ = tu.images(6, 1, "quadrant")
        want = m.predict(xs)
        c = m.clone()
        self.assertEqual([l.name for l in c], [l.name for l in m])
        self.assertEqual(flat(c.predict(xs)), flat(want))
        c["fc"].set_parameter("bias", [1.0, 0.0, 0.0, 0.0])
        self.assertEqual(flat(m.predict(xs)), flat(want))
        self.assertNotEqual(flat(c.predict(xs)), flat(want))
        m.close()
        c.close()

    def test_shared_weights_predict_only_and_outlive_the_original(self):
        m = tu.small_cnn(seed=4)
        xs, ys = tu.images(8, 2, "quadrant")
        want = m.predict(xs)
        c = m.clone(share_weights=True)
        self.assertEqual(flat(c.predict(xs)), flat(want))
        with self.assertRaises(graft.StateError):
            c.fit(tu.dataset(8, 2, "quadrant"), graft.Optimizer.sgd(lr=0.1), epochs=1,
                  batch_size=4)
        m.close()  # the clone keeps the weights
        self.assertEqual(flat(c.predict(xs)), flat(want))
        c.close()


class SharedModel(unittest.TestCase):
    def test_threads_predict_on_one_model(self):
        m = tu.small_cnn(seed=5)
        inputs = [tu.images(1 + i % 3, 10 + i, "quadrant")[0] for i in range(6)]
        want = [flat(m.predict(x)) for x in inputs]
        want_top = [tuple(flat(a) for a in m.predict_topk(x, 2)) for x in inputs]
        failures = []

        def work(t):
            for it in range(30):
                i = (t + it) % len(inputs)
                if it % 3 == 2:
                    got = tuple(flat(a) for a in m.predict_topk(inputs[i], 2))
                    ok = got == want_top[i]
                else:
                    ok = flat(m.predict(inputs[i])) == want[i]
                if not ok:
                    failures.append((t, it, i))

        threads = [threading.Thread(target=work, args=(t,)) for t in range(8)]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        self.assertEqual(failures, [])
        m.close()


if __name__ == "__main__":
    unittest.main()
