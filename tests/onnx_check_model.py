#!/usr/bin/python3
"""Validates ONNX files with onnx.checker (Debian's python3-onnx).

Usage: onnx_check_model.py FILE...

tests/check_onnx_export.c runs it on the files graft_onnx_export() writes. Exit
status: 0 when every file passes onnx.checker.check_model (with shape
inference), 1 when one does not (the checker's message is printed), 77 when
the onnx package is not installed (the caller then skips the check).

Debian's libonnx-testdata installs data under .../dist-packages/onnx/backend/
without python3-onnx, so "import onnx" can succeed and give an empty
namespace package. Only a module that has onnx.load and onnx.checker counts.
"""
import sys

try:
    import onnx
    import onnx.checker
    usable = callable(getattr(onnx, "load", None)) and \
        callable(getattr(onnx.checker, "check_model", None))
except ImportError:
    usable = False
if not usable:
    print("python3-onnx is not installed (only an empty 'onnx' namespace, if any)",
          file=sys.stderr)
    sys.exit(77)


def main():
    for path in sys.argv[1:]:
        try:
            model = onnx.load(path)
            onnx.checker.check_model(model, full_check=True)
        except Exception as e:  # the checker raises several exception types
            print("%s: %s" % (path, e), file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
