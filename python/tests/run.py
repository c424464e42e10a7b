"""Runs the graft Python test suite and ends with the line "N passed, N failed".

    python3 python/tests/run.py [-v]

Exits with 0 when every test passed (skipped tests, e.g. the numpy ones on
an interpreter without numpy, are listed but count as neither), 1 otherwise.
The library is taken from $GRAFT_LIBRARY, else the repository's lib/.
"""

import os
import sys
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))


def main(argv):
    sys.path.insert(0, HERE)
    verbosity = 2 if "-v" in argv[1:] else 1
    suite = unittest.defaultTestLoader.discover(HERE, pattern="test_*.py", top_level_dir=HERE)
    result = unittest.TextTestRunner(stream=sys.stdout, verbosity=verbosity).run(suite)
    failed = len(result.failures) + len(result.errors) + len(result.unexpectedSuccesses)
    skipped = len(result.skipped)
    passed = result.testsRun - failed - skipped
    for test, reason in result.skipped:
        print("skipped: %s (%s)" % (test.id(), reason))
    try:
        import graft

        print("python %s, %s, libgraft %s, numpy %s"
              % (sys.version.split()[0], graft.library_path, graft.version(),
                 "yes" if graft.have_numpy() else "no"))
    except ImportError as e:
        print("graft cannot be imported: %s" % e)
    print("%d passed, %d failed" % (passed, failed))
    return 0 if failed == 0 and result.testsRun > 0 else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
