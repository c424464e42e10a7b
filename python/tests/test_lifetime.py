"""Object lifetime: who frees what, in which order, and that nothing leaks
(counted through allocator hooks)."""

import gc
import os
import threading
import unittest

import graft_testutil as tu
from graft_testutil import graft, layers


class Contexts(unittest.TestCase):
    def test_close_waits_for_the_last_object(self):
        ctx = graft.Context()
        m = graft.Model((4,), ctx=ctx)
        m.add(layers.dense(2, ctx=ctx))
        ctx.close()
        self.assertTrue(ctx.closed)
        self.assertEqual(len(m), 1)  # still usable
        with self.assertRaises(ValueError):
            graft.Model((4,), ctx=ctx)  # no new objects in a closing context
        self.assertIsNotNone(ctx._handle)
        m.close()
        self.assertIsNone(ctx._handle)  # freed with its last object
        ctx.close()

    def test_objects_keep_their_context_alive(self):
        ctx = graft.Context()
        m = graft.Model((4,), ctx=ctx)
        del ctx
        gc.collect()
        m.add(layers.dense(2, ctx=m.context))
        self.assertEqual(m.output_shape, (2,))
        m.close()

    def test_default_context_is_per_thread(self):
        mine = graft.default_context()
        self.assertIs(graft.default_context(), mine)
        other = []
        t = threading.Thread(target=lambda: other.append(graft.default_context()))
        t.start()
        t.join()
        self.assertIsNot(other[0], mine)
        with graft.Model((2,)) as m:
            self.assertIs(m.context, mine)

    def test_use_blas_setting(self):
        with graft.Context(use_blas=False) as ctx:
            self.assertFalse(ctx.use_blas)
            if graft.has_blas():
                ctx.use_blas = True
                self.assertTrue(ctx.use_blas)
            else:
                with self.assertRaises(graft.UnsupportedError):
                    ctx.use_blas = True

    def test_winograd_setting(self):
        with graft.Context() as ctx:
            self.assertEqual(ctx.winograd, 1)
            for v in (0, 2, 1):
                ctx.winograd = v
                self.assertEqual(ctx.winograd, v)
            with self.assertRaises(graft.RangeError):
                ctx.winograd = 3

    def test_num_threads_is_process_wide(self):
        with graft.Context() as a, graft.Context() as b:
            before = a.num_threads
            self.assertGreaterEqual(before, 1)
            a.num_threads = 1
            self.assertEqual(b.num_threads, 1)
            with self.assertRaises(graft.RangeError) as err:
                a.num_threads = 0
            self.assertIn("GRAFT_CTX_NUM_THREADS takes 1 to 256, not 0", str(err.exception))
            a.num_threads = before
        self.assertNotIn(graft.blas_core_name(), ("", None))


class NoLeaks(tu.TempDirTest):
    """Every allocation made through a context's hooks is given back once its
    objects are closed or collected."""

    def workload(self, ctx, close):
        base = tu.pretrained_path()
        objs = []
        m = graft.Model.load(base, ctx=ctx)
        ds = tu.dataset(48, 3, "side", ctx=ctx)
        train, val = ds.split(0.25, seed=1)
        opt = graft.Optimizer.adam(lr=0.01, ctx=ctx)
        m.replace_head(2, hidden_units=4, class_names=["l", "r"])
        m.freeze_through("features")
        m.fit(train, opt, val=val, epochs=2, batch_size=8,
              callback=lambda p: p.epoch == 2 and p.batch == 2)
        m.evaluate(val, top_k=2)
        m.predict_topk(tu.images(2, 1, "side")[0], k=2)
        m.save_checkpoint(self.path("ck.graft"), opt)
        m2, opt2 = graft.Model.load_checkpoint(self.path("ck.graft"), ctx=ctx)
        m2.load_weights(base)
        spare = layers.conv2d(2, 3, ctx=ctx)  # never added: freed by its owner
        with graft.Tensor([[1.0, 2.0]], ctx=ctx) as t:
            t.fill(0.0)
        # Images, and a folder dataset whose decoding threads allocate
        # through the same hooks.
        for cls in ("a", "b"):
            os.makedirs(self.path(os.path.join("imgs", cls)), exist_ok=True)
            for k in range(3):
                tu.write_png(self.path(os.path.join("imgs", cls, "%d.png" % k)), 5, 4, 3,
                             [40 * k] * 60)
        img = graft.Image.load(self.path(os.path.join("imgs", "a", "1.png")), ctx=ctx)
        img.resize(8, 8).augment(seed=1, crop_width=4, crop_height=4, flip_prob=0.5)
        img.to_tensor().close()
        folder = graft.Dataset.from_folder(self.path("imgs"), width=4, height=4, augment=True,
                                           threads=2, ctx=ctx)
        folder.gather(range(6))
        with graft.Model((3, 4, 4), ctx=ctx) as fm, graft.Optimizer.sgd(ctx=ctx) as fo:
            fm.add(layers.flatten(ctx=ctx))
            fm.add(layers.dense(2, ctx=ctx))
            fm.fit(folder, fo, epochs=1, batch_size=4)
            fm.predict(img.resize(4, 4))
        objs += [m, ds, train, val, opt, m2, opt2, spare, img, folder]
        if close:
            for o in objs:
                o.close()
        objs.clear()

    def run_counted(self, close):
        alloc = graft.Allocator()
        ctx = graft.Context(allocator=alloc)
        ctx_bytes = alloc.in_use
        self.workload(ctx, close)
        gc.collect()
        self.assertEqual(alloc.in_use, ctx_bytes)
        self.assertGreater(alloc.allocations, 100)  # the hooks did see the work
        ctx.close()
        self.assertEqual(alloc.in_use, 0)
        self.assertIsNone(alloc.last_exception)

    def test_explicit_close(self):
        self.run_counted(close=True)

    def test_collected_without_close(self):
        self.run_counted(close=False)

    def test_failed_constructors_leak_nothing(self):
        alloc = graft.Allocator()
        with graft.Context(allocator=alloc) as ctx:
            before = alloc.in_use
            for fn in (lambda: layers.dense(0, ctx=ctx),
                       lambda: graft.Model.load(self.path("missing"), ctx=ctx),
                       lambda: graft.Dataset.from_memory([[1.0]], [3], n_classes=2, ctx=ctx)):
                with self.assertRaises(graft.GraftError):
                    fn()
            with graft.Model((4,), ctx=ctx) as m:
                with self.assertRaises(graft.GraftError):
                    m.add(layers.dense(2, ctx=ctx), "bad name")  # the layer is consumed
            self.assertEqual(alloc.in_use, before)


if __name__ == "__main__":
    unittest.main()
