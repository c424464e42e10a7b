"""The library is found where documented and its major version is checked at
import."""

import os
import subprocess
import sys
import unittest
from unittest import mock

import graft_testutil as tu
from graft_testutil import graft

from graft import _lib


class _FakeFunction:
    def __init__(self, value):
        self.value = value
        self.restype = None
        self.argtypes = None

    def __call__(self):
        return self.value


class _FakeLibrary:
    """Stands in for a CDLL whose graft_version_number() says 2.0.0."""

    def __init__(self, number, text):
        self.graft_version_number = _FakeFunction(number)
        self.graft_version_string = _FakeFunction(text)


def _run_import(env_library):
    """Imports graft in a fresh interpreter with GRAFT_LIBRARY set; returns
    (exit status, stderr)."""
    env = dict(os.environ)
    env["GRAFT_LIBRARY"] = env_library
    env["PYTHONPATH"] = tu.PYTHON_DIR
    p = subprocess.run([sys.executable, "-c", "import graft; print(graft.version())"],
                       env=env, capture_output=True, text=True, cwd=tu.TESTS_DIR)
    return p.returncode, p.stdout, p.stderr


class VersionCheck(tu.TempDirTest):
    def test_loaded_library_has_the_binding_major(self):
        number = graft.version_number()
        self.assertEqual(number // 10000, graft.LIBRARY_MAJOR)
        self.assertEqual(_lib.check_version(_lib.C, graft.library_path), number)
        major, minor, patch = (int(x) for x in graft.version().split("."))
        self.assertEqual(number, major * 10000 + minor * 100 + patch)

    def test_mismatch_is_an_import_error_naming_both(self):
        fake = _FakeLibrary(20000, b"2.0.0")
        with mock.patch.object(_lib.ctypes, "CDLL", lambda path: fake):
            with self.assertRaises(ImportError) as cm:
                _lib.open_library("/opt/other/libgraft.so.1")
        self.assertEqual(
            str(cm.exception),
            "the graft Python package is written for libgraft major version 1, but "
            "/opt/other/libgraft.so.1 is version 2.0.0 (major version 2); install libgraft "
            "1.x or a graft package made for version 2")

    def test_older_major_is_refused_too(self):
        with self.assertRaises(ImportError) as cm:
            _lib.check_version(_FakeLibrary(9900, b"0.99.0"), "x.so")
        self.assertIn("is version 0.99.0 (major version 0)", str(cm.exception))

    def test_same_major_newer_minor_is_accepted(self):
        self.assertEqual(_lib.check_version(_FakeLibrary(10203, b"1.2.3"), "x.so"), 10203)

    @unittest.skipUnless(tu.compiler(), "no C compiler")
    def test_import_fails_against_a_library_of_another_major(self):
        src = self.path("fake.c")
        lib = self.path("libgraft.so.1")
        with open(src, "w") as f:
            f.write("int graft_version_number(void) { return 20300; }\n"
                    "const char *graft_version_string(void) { return \"2.3.0\"; }\n")
        subprocess.run([tu.compiler(), "-shared", "-fPIC", "-o", lib, src], check=True)
        status, out, err = _run_import(lib)
        self.assertNotEqual(status, 0, out)
        self.assertIn("ImportError: the graft Python package is written for libgraft major "
                      "version 1, but %s is version 2.3.0 (major version 2)" % lib, err)

    @unittest.skipUnless(tu.compiler(), "no C compiler")
    def test_import_fails_against_a_library_missing_functions(self):
        src = self.path("fake.c")
        lib = self.path("libgraft.so.1")
        with open(src, "w") as f:
            f.write("int graft_version_number(void) { return 10000; }\n"
                    "const char *graft_version_string(void) { return \"1.0.0\"; }\n")
        subprocess.run([tu.compiler(), "-shared", "-fPIC", "-o", lib, src], check=True)
        status, out, err = _run_import(lib)
        self.assertNotEqual(status, 0, out)
        self.assertIn("ImportError: %s lacks %d function(s) this graft package needs: "
                      "graft_has_blas, " % (lib, len(_lib.PROTOTYPES) - 2), err)


class LibraryLookup(unittest.TestCase):
    def test_env_variable_is_the_only_candidate(self):
        with mock.patch.dict(os.environ, {"GRAFT_LIBRARY": "/some/where/libgraft.so.1"}):
            self.assertEqual(_lib.candidate_paths(),
                             [("/some/where/libgraft.so.1", "GRAFT_LIBRARY")])

    def test_env_variable_may_name_a_folder(self):
        folder = os.path.dirname(graft.library_path)
        with mock.patch.dict(os.environ, {"GRAFT_LIBRARY": folder}):
            self.assertEqual(_lib.candidate_paths(),
                             [(os.path.join(folder, "libgraft.so.1"), "GRAFT_LIBRARY")])

    def test_default_order(self):
        env = {k: v for k, v in os.environ.items() if k != "GRAFT_LIBRARY"}
        with mock.patch.dict(os.environ, env, clear=True):
            found = _lib.candidate_paths()
        pkg = os.path.join(tu.PYTHON_DIR, "graft", "libgraft.so.1")
        self.assertEqual(found[0], (pkg, "the package folder"))
        self.assertEqual(found[1], (os.path.join(tu.REPO_DIR, "lib", "libgraft.so.1"),
                                    "the source checkout"))
        self.assertEqual(found[2], ("libgraft.so.1", "the dynamic loader's search path"))
        self.assertEqual(found[3:], [("/usr/local/lib/libgraft.so.1", "/usr/local/lib"),
                                     ("/usr/lib/libgraft.so.1", "/usr/lib")])

    def test_missing_library_import_error_names_the_path(self):
        status, out, err = _run_import("/nonexistent/libgraft.so.1")
        self.assertNotEqual(status, 0, out)
        self.assertIn("ImportError: cannot load libgraft.so.1; tried:\n  "
                      "/nonexistent/libgraft.so.1 (GRAFT_LIBRARY): no such file", err)

    def test_import_works_in_a_fresh_interpreter(self):
        status, out, err = _run_import(graft.library_path)
        self.assertEqual(status, 0, err)
        self.assertEqual(out.strip(), graft.version())


if __name__ == "__main__":
    unittest.main()
