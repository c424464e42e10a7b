"""The in-tree build backend makes correct wheels and sdists offline, and
`pip install` of the package works without a network."""

import base64
import hashlib
import importlib.util
import os
import subprocess
import sys
import tarfile
import unittest
import zipfile

import graft_testutil as tu
from graft_testutil import graft


def load_backend():
    path = os.path.join(tu.PYTHON_DIR, "build_backend", "graft_build.py")
    spec = importlib.util.spec_from_file_location("graft_build_under_test", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def package_modules():
    base = os.path.join(tu.PYTHON_DIR, "graft")
    return sorted("graft/" + f for f in os.listdir(base) if f.endswith(".py"))


class Backend(tu.TempDirTest):
    def setUp(self):
        super().setUp()
        self.backend = load_backend()
        self.bundled_in_source = os.path.exists(
            os.path.join(tu.PYTHON_DIR, "graft", "libgraft.so.1"))

    def check_record(self, zf):
        names = zf.namelist()
        record = [n for n in names if n.endswith(".dist-info/RECORD")]
        self.assertEqual(len(record), 1)
        lines = zf.read(record[0]).decode().splitlines()
        listed = {}
        for line in lines:
            path, digest, size = line.rsplit(",", 2)
            listed[path] = (digest, size)
        self.assertEqual(sorted(listed), sorted(names))
        for path, (digest, size) in listed.items():
            if path == record[0]:
                self.assertEqual((digest, size), ("", ""))
                continue
            data = zf.read(path)
            want = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=")
            self.assertEqual(digest, "sha256=" + want.decode(), path)
            self.assertEqual(int(size), len(data), path)

    def test_requires_nothing(self):
        self.assertEqual(self.backend.get_requires_for_build_wheel(), [])
        self.assertEqual(self.backend.get_requires_for_build_sdist(), [])
        self.assertEqual(self.backend.get_requires_for_build_editable(), [])

    def test_wheel(self):
        if self.bundled_in_source:
            self.skipTest("python/graft/libgraft.so.1 exists: the wheel bundles it")
        name = self.backend.build_wheel(self.tmp)
        self.assertEqual(name, "graft-%s-py3-none-any.whl" % graft.__version__)
        with zipfile.ZipFile(self.path(name)) as zf:
            self.check_record(zf)
            info = "graft-%s.dist-info/" % graft.__version__
            self.assertEqual(sorted(n for n in zf.namelist() if n.startswith("graft/")),
                             package_modules())
            meta = zf.read(info + "METADATA").decode()
            self.assertIn("Name: graft\n", meta)
            self.assertIn("Version: %s\n" % graft.__version__, meta)
            wheel = zf.read(info + "WHEEL").decode()
            self.assertIn("Root-Is-Purelib: true\n", wheel)
            self.assertIn("Tag: py3-none-any\n", wheel)

    def test_wheel_with_the_library_bundled(self):
        name = self.backend.build_wheel(self.tmp, {"bundle-library": graft.library_path})
        self.assertRegex(name, r"^graft-[0-9.]+-py3-none-linux_[a-z0-9_]+\.whl$")
        with zipfile.ZipFile(self.path(name)) as zf:
            self.check_record(zf)
            with open(os.path.realpath(graft.library_path), "rb") as f:
                self.assertEqual(zf.read("graft/libgraft.so.1"), f.read())
            wheel = zf.read("graft-%s.dist-info/WHEEL" % graft.__version__).decode()
            self.assertIn("Root-Is-Purelib: false\n", wheel)
        with self.assertRaises(RuntimeError):
            self.backend.build_wheel(self.tmp, {"bundle-library": self.path("none.so")})

    def test_editable_wheel_points_at_the_source(self):
        name = self.backend.build_editable(self.tmp)
        with zipfile.ZipFile(self.path(name)) as zf:
            self.check_record(zf)
            self.assertEqual(zf.read("_graft_editable.pth").decode(), tu.PYTHON_DIR + "\n")

    def test_sdist(self):
        name = self.backend.build_sdist(self.tmp)
        base = "graft-%s/" % graft.__version__
        with tarfile.open(self.path(name)) as tf:
            names = tf.getnames()
        for must in ("PKG-INFO", "pyproject.toml", "build_backend/graft_build.py",
                     "graft/__init__.py", "graft/_api.py", "tests/run.py", "tools/gen_api.py",
                     "tools/headerparse.py"):
            self.assertIn(base + must, names)

    def test_metadata_directory(self):
        d = self.backend.prepare_metadata_for_build_wheel(self.tmp)
        self.assertEqual(d, "graft-%s.dist-info" % graft.__version__)
        with open(os.path.join(self.tmp, d, "METADATA")) as f:
            self.assertIn("Requires-Python: >=3.8\n", f.read())


def _have_pip():
    return subprocess.run([sys.executable, "-m", "pip", "--version"],
                          capture_output=True).returncode == 0


@unittest.skipUnless(_have_pip(), "pip is not installed for this interpreter")
class PipInstall(tu.TempDirTest):
    def test_offline_install_and_import(self):
        target = self.path("site")
        env = dict(os.environ, PIP_NO_INDEX="1", PIP_DISABLE_PIP_VERSION_CHECK="1")
        p = subprocess.run([sys.executable, "-m", "pip", "install", "--no-index",
                            "--no-cache-dir", "--quiet", "--target", target, tu.PYTHON_DIR],
                           capture_output=True, text=True, env=env)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertTrue(os.path.isfile(os.path.join(target, "graft", "model.py")))
        env = dict(os.environ, PYTHONPATH=target)
        p = subprocess.run([sys.executable, "-c",
                            "import graft; print(graft.__file__); print(graft.version())"],
                           capture_output=True, text=True, env=env, cwd=self.tmp)
        self.assertEqual(p.returncode, 0, p.stderr)
        where, version = p.stdout.split()
        self.assertEqual(where, os.path.join(target, "graft", "__init__.py"))
        self.assertEqual(version, graft.version())


if __name__ == "__main__":
    unittest.main()
