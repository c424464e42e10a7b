#!/usr/bin/python3
"""Validates ONNX files with onnx.checker (Debian's python3-onnx).

Usage: onnx_check_model.py FILE...

tests/check_onnx.c runs it on the files graft_onnx_export() writes. Exit
status: 0 when every file passes onnx.checker.check_model (with shape
inference), 1 when one does not (the checker's message is printed), 77 when
the onnx module is not installed (the caller then skips the check).
"""
import sys

try:
    import onnx
except ImportError:
    print("python3-onnx is not installed", file=sys.stderr)
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
