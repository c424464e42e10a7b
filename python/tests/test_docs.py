"""The Python snippets of docs/PYTHON.md run as written, in order, in an
empty folder (blocks starting with "# needs numpy" only where numpy is
installed)."""

import contextlib
import io
import os
import re
import unittest

import graft_testutil as tu

GUIDE = os.path.join(tu.REPO_DIR, "docs", "PYTHON.md")


def snippets():
    with open(GUIDE, encoding="utf-8") as f:
        return re.findall(r"^```python\n(.*?)^```$", f.read(), re.S | re.M)


@unittest.skipUnless(os.path.isfile(GUIDE), "docs/PYTHON.md not found")
class Guide(tu.TempDirTest):
    def test_snippets_run_in_order(self):
        blocks = snippets()
        self.assertGreaterEqual(len(blocks), 8)
        namespace = {"__name__": "__guide__"}
        out = io.StringIO()
        cwd = os.getcwd()
        os.chdir(self.tmp)
        try:
            for k, code in enumerate(blocks):
                if code.startswith("# needs numpy") and not tu.HAVE_NUMPY:
                    continue
                with self.subTest(block=k), contextlib.redirect_stdout(out):
                    exec(compile(code, "%s block %d" % (GUIDE, k + 1), "exec"), namespace)
        finally:
            os.chdir(cwd)
        text = out.getvalue()
        self.assertIn("['conv/weight', 'conv/bias']\n['fc/weight', 'fc/bias']\n", text)
        self.assertIn("-5 graft_model_load(): cannot open \"missing.graft\"", text)
        self.assertIn("ShapeError graft_model_predict(): ", text)
        self.assertIn("(3, 8, 8)\n['blue', 'red'] 8\n", text)
        self.assertIn("6 [0, 0, 0, 1, 1, 1]\n[0, 0, 0, 1, 1, 1]\nTrue 0\n(1, 8, 12)\n", text)
        self.assertIn("['conv', 'relu', 'pool', 'features', 'fc']\nNone (2,)\n", text)
        accuracy = re.search(r"held-out accuracy ([0-9.]+)%", text)
        self.assertIsNotNone(accuracy, text)
        self.assertGreater(float(accuracy.group(1)), 90.0, text)


if __name__ == "__main__":
    unittest.main()
