"""The sequence layers: linear (per position), matmul of two inputs, softmax
over the last axis and layer_norm, in one small attention block, against a
pure-Python computation from the model's own parameters."""

import math
import unittest

import graft_testutil as tu
from graft_testutil import graft, layers


def flat(values):
    """Nested lists or a numpy array as a flat list of floats."""
    if hasattr(values, "tolist"):
        values = values.tolist()
    out, stack = [], [values]
    while stack:
        v = stack.pop()
        if isinstance(v, list):
            stack.extend(reversed(v))
        else:
            out.append(float(v))
    return out


def linear(x, rows, f, w, b, units):
    """rows x f times w.T (units x f), plus b."""
    return [[sum(x[r][k] * w[u * f + k] for k in range(f)) + (b[u] if b else 0.0)
             for u in range(units)] for r in range(rows)]


def matmul(a, b):
    return [[sum(a[i][k] * b[k][j] for k in range(len(b))) for j in range(len(b[0]))]
            for i in range(len(a))]


class AttentionBlock(unittest.TestCase):
    def test_block_matches_python(self):
        with graft.Model((4, 4), seed=5) as m:
            m.add(layers.linear(4), "q", inputs=[graft.INPUT])
            m.add(layers.linear(4, bias=False), "k", inputs=[graft.INPUT])
            m.add(layers.matmul(), "scores", inputs=["q", "k"])
            m.add(layers.softmax(axis=-1), "attn")
            m.add(layers.matmul(), "mix", inputs=["attn", graft.INPUT])
            m.add(layers.layer_norm(1, epsilon=1e-5), "norm")
            self.assertEqual(m["q"].kind, "dense")
            self.assertEqual(m["scores"].kind, "matmul")
            self.assertEqual(m["norm"].kind, "layer_norm")
            self.assertEqual(m["mix"].output_shape, (4, 4))
            m["norm"].set_parameter("weight", [1.0, 2.0, 0.5, -1.0])
            m["norm"].set_parameter("bias", [0.0, 0.25, -1.0, 3.0])
            x = [[[math.sin(0.7 * (n * 16 + i * 4 + j)) for j in range(4)] for i in range(4)]
                 for n in range(2)]
            y = flat(m.forward(x))
            wq, bq = flat(m["q"].get_parameter("weight")), flat(m["q"].get_parameter("bias"))
            wk = flat(m["k"].get_parameter("weight"))
            g, beta = [1.0, 2.0, 0.5, -1.0], [0.0, 0.25, -1.0, 3.0]
            want = []
            for n in range(2):
                q = linear(x[n], 4, 4, wq, bq, 4)
                k = linear(x[n], 4, 4, wk, None, 4)
                s = matmul(q, k)
                attn = []
                for row in s:
                    mx = max(row)
                    e = [math.exp(v - mx) for v in row]
                    attn.append([v / sum(e) for v in e])
                mix = matmul(attn, x[n])
                for row in mix:
                    mean = sum(row) / 4
                    var = sum((v - mean) ** 2 for v in row) / 4
                    want.extend((v - mean) / math.sqrt(var + 1e-5) * g[j] + beta[j]
                                for j, v in enumerate(row))
            self.assertEqual(len(y), len(want))
            for a, b in zip(y, want):
                self.assertAlmostEqual(a, b, delta=1e-4 + 1e-4 * abs(b))

    def test_softmax_axis_one_is_the_old_layer(self):
        with layers.softmax() as a, layers.softmax(axis=1) as b, layers.softmax(axis=-1) as c:
            self.assertEqual([a.kind, b.kind, c.kind], ["softmax"] * 3)

    def test_bad_arguments_raise(self):
        with self.assertRaises(graft.InvalidArgumentError):
            layers.softmax(axis=0)
        with self.assertRaises(graft.InvalidArgumentError):
            layers.layer_norm(0)
        with self.assertRaises(graft.InvalidArgumentError):
            layers.layer_norm(1, epsilon=0.0)
        with self.assertRaises(graft.InvalidArgumentError):
            layers.linear(0)


if __name__ == "__main__":
    unittest.main()
