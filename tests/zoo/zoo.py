#!/usr/bin/python3
"""The ONNX model zoo check: the networks people bring, full size.

Run from the source root with Debian's PyTorch (make check-zoo does this):

    /usr/bin/python3 tests/zoo/zoo.py [--models a,b,c] [--quick] [--out docs/ONNX-ZOO.md]

The models: every torchvision classification model whose parameter count
(torchvision's own figure, the weights' "num_params") is under 30 M, found
with torchvision.models.list_models() so that none is forgotten; the
segmentation model lraspp_mobilenet_v3_large (its "out" map); and a small
sequence classifier built on a 2-layer nn.TransformerEncoder.

Each model runs in its own process (a crash fails that model, not the run)
through these steps, each timed; a failed step is recorded with graft's
exact message and the later steps that need it are skipped:

  export   torch.onnx.export with random weights (seeded), eval mode, a
           symbolic batch axis, at opset 13 or the lowest above it that works
  import   graft's Python binding, Model.import_onnx(); when the file with
           the symbolic batch is refused, the model is exported once more
           with a fixed batch (the table says so) and imported again
  match    graft's output on real photographs against PyTorch's: the largest
           absolute difference divided by the largest |PyTorch output|,
           which passes at 1e-4
  head+fit replace_head(10), then fit() one epoch on 16 crops of the photos
           with random labels, batch 4, Adam: passes when fit returns OK, the
           loss is finite and the new head's weights changed
  export   graft's export_onnx(), onnx.checker.check_model(full_check=True) on
           the file, and the file imported back into graft, whose output must
           equal the fine-tuned model's to 1e-5 relative

The photographs are china.jpg and flower.jpg of Debian's python3-sklearn
(sklearn/datasets/images; Creative Commons BY 2.0, see their README.txt):
shorter side resized to 256, 224x224 crops (centre, corners, mirrored),
normalised with ImageNet's mean and standard deviation. The transformer
reads the first photo in grey at 32x32 as a sequence of 16 patches of 8x8
(64 features each).

It writes a markdown table to --out (default docs/ONNX-ZOO.md) and prints
"N passed, N failed" last; it exits 1 when any model failed.
"""
import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
IMAGES = "/usr/lib/python3/dist-packages/sklearn/datasets/images"
PARAM_LIMIT = 30_000_000
TOLERANCE = 1e-4
EXPORT_TOLERANCE = 1e-5
BATCH = 4
FIT_SAMPLES = 16
N_CLASSES = 10
QUICK = ["mobilenet_v3_small", "resnet18", "shufflenet_v2_x0_5", "transformer_encoder"]
EXTRA = ["lraspp_mobilenet_v3_large", "transformer_encoder"]
# Keyword arguments of the builders: googlenet and inception_v3 without their
# auxiliary training classifiers (they are not part of the inference graph).
BUILD_KW = {"googlenet": {"aux_logits": False, "init_weights": True},
            "inception_v3": {"aux_logits": False, "init_weights": True}}
INPUT_SIZE = {"inception_v3": 299}


def model_list():
    """(name, torchvision's parameter count) of every model checked."""
    import torchvision.models as M

    found = []
    for name in sorted(M.list_models(module=M)):
        params = M.get_model_weights(name).DEFAULT.meta["num_params"]
        if params < PARAM_LIMIT:
            found.append(name)
    return found + EXTRA


# ---- one model (run in a child process) ------------------------------------------------


def build(name):
    import torch.nn as nn

    if name == "lraspp_mobilenet_v3_large":
        from torchvision.models.segmentation import lraspp_mobilenet_v3_large

        class OutOnly(nn.Module):
            """The model's "out" map: ONNX graphs have one output here."""

            def __init__(self):
                super().__init__()
                self.m = lraspp_mobilenet_v3_large(weights=None, weights_backbone=None)

            def forward(self, x):
                return self.m(x)["out"]

        return OutOnly()
    if name == "transformer_encoder":
        class Encoder(nn.Module):
            """nn.TransformerEncoder (2 layers, d_model 64, 4 heads,
            batch_first) read by a linear classifier over the flattened
            sequence."""

            def __init__(self):
                super().__init__()
                layer = nn.TransformerEncoderLayer(d_model=64, nhead=4, dim_feedforward=128,
                                                   dropout=0.0, batch_first=True)
                self.encoder = nn.TransformerEncoder(layer, 2)
                self.flatten = nn.Flatten()
                self.fc = nn.Linear(16 * 64, 1000)

            def forward(self, x):
                return self.fc(self.flatten(self.encoder(x)))

        return Encoder()
    import torchvision.models as M

    return M.get_model(name, weights=None, **BUILD_KW.get(name, {}))


def photo_crops(size, count):
    """count crops of size x size from the two photographs, ImageNet-normalised,
    as a float32 array (count, 3, size, size)."""
    import numpy as np
    from PIL import Image

    crops = []
    for flip in (False, True):
        for pos in ("centre", "tl", "br", "tr", "bl"):
            for fname in ("china.jpg", "flower.jpg"):
                img = Image.open(os.path.join(IMAGES, fname)).convert("RGB")
                w, h = img.size
                s = size * 256 / 224 / min(w, h)
                img = img.resize((round(w * s), round(h * s)), Image.BILINEAR)
                w, h = img.size
                x0 = {"centre": (w - size) // 2, "tl": 0, "bl": 0}.get(pos, w - size)
                y0 = {"centre": (h - size) // 2, "tl": 0, "tr": 0}.get(pos, h - size)
                img = img.crop((x0, y0, x0 + size, y0 + size))
                if flip:
                    img = img.transpose(Image.FLIP_LEFT_RIGHT)
                a = np.asarray(img, dtype=np.float32) / 255.0
                a = (a - np.array([0.485, 0.456, 0.406], np.float32)) / \
                    np.array([0.229, 0.224, 0.225], np.float32)
                crops.append(a.transpose(2, 0, 1))
    while len(crops) < count:
        crops += crops
    return np.ascontiguousarray(np.stack(crops[:count]), dtype=np.float32)


def photo_sequences(count):
    """count sequences (16, 64): the photographs in grey at 32x32, cut into
    16 patches of 8x8, shifted by a pixel per sequence."""
    import numpy as np
    from PIL import Image

    seqs = []
    for k in range(count):
        img = Image.open(os.path.join(IMAGES, ("china.jpg", "flower.jpg")[k % 2])).convert("L")
        img = img.resize((36, 36), Image.BILINEAR)
        d = (k // 2) % 4
        a = np.asarray(img, dtype=np.float32)[d:d + 32, d:d + 32] / 255.0
        a = (a - 0.45) / 0.225
        seqs.append(a.reshape(4, 8, 4, 8).transpose(0, 2, 1, 3).reshape(16, 64))
    return np.ascontiguousarray(np.stack(seqs), dtype=np.float32)


def inputs_for(name, count):
    if name == "transformer_encoder":
        return photo_sequences(count)
    return photo_crops(INPUT_SIZE.get(name, 224), count)


def torch_export(model, x, path, dynamic):
    """Exports at opset 13, or the lowest opset above it that works; returns it."""
    import torch

    last = None
    for opset in range(13, 18):
        try:
            kw = {}
            if dynamic:
                kw["dynamic_axes"] = {"input": {0: "N"}, "output": {0: "N"}}
            torch.onnx.export(model, torch.from_numpy(x), path, opset_version=opset,
                              input_names=["input"], output_names=["output"], **kw)
            return opset
        except Exception as e:  # the next opset may have what this one lacked
            last = e
    raise RuntimeError("torch.onnx.export failed at opsets 13 to 17: %s" % last)


def rel_err(a, b):
    import numpy as np

    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError("shapes differ: graft %s, reference %s" % (a.shape, b.shape))
    return float(np.max(np.abs(a - b)) / max(float(np.max(np.abs(b))), 1e-30))


def ops_named(message):
    """The operator a graft import error names ('node "..." (Op): ...'), or None."""
    import re

    m = re.search(r'node "[^"]*" \(([A-Za-z]+)\)', message)
    return m.group(1) if m else None


def error_text(e):
    import graft

    if isinstance(e, graft.GraftError):
        return "%s: %s" % (e.status_name, e.message)
    return "%s: %s" % (type(e).__name__, e)


def run_one(name, r, tmp):
    """Runs the steps on one model, filling the dict r as it goes."""
    import numpy as np
    import onnx
    import torch

    import graft

    sys.path.insert(0, os.path.join(ROOT, "tests"))
    from make_onnx_fixtures import randomise_batch_norms

    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(1)
    t = time.time()
    model = build(name)
    model.eval()
    randomise_batch_norms(model, gen)
    r["params"] = sum(p.numel() for p in model.parameters())
    x = inputs_for(name, BATCH)
    with torch.no_grad():
        want = model(torch.from_numpy(x)).numpy()
    path = os.path.join(tmp, name + ".onnx")
    r["step"] = "export"
    r["opset"] = torch_export(model, x, path, True)
    r["t_export"] = time.time() - t

    r["step"] = "import"
    t = time.time()
    one = False  # a graph of one sample, batched by graft (batch_axis 0)
    try:
        m = graft.Model.import_onnx(path)
    except graft.GraftError as e:
        first = error_text(e)
        # The same graph with a fixed batch size; then for one sample, as
        # graft imports graphs whose batch axis moves (PyTorch's attention).
        torch_export(model, x, path, False)
        try:
            m = graft.Model.import_onnx(path)
            r["note"] = "fixed batch %d (symbolic batch refused: %s)" % (BATCH, first)
        except graft.GraftError:
            torch_export(model, x[:1], path, False)
            try:
                m = graft.Model.import_onnx(path, batch_axis=False)
                one = True
                r["note"] = ("exported for one sample, imported with batch_axis 0 (symbolic "
                             "batch refused: %s)" % first)
            except graft.GraftError:
                op = ops_named(e.message)
                if op:
                    n = sum(1 for node in onnx.load(path).graph.node if node.op_type == op)
                    r["note"] = "the graph has %d %s node%s" % (n, op, "s" if n > 1 else "")
                raise e from None
    if one:  # graft's batches of the one-sample graph: (N, 1, ...)
        x, want = x[:, None], want[:, None]
    r["import"] = "ok (%d layers)" % len(m)
    r["t_import"] = time.time() - t

    r["step"] = "match"
    t = time.time()
    got = m.forward(x)
    r["rel_err"] = rel_err(got, want)
    r["t_match"] = time.time() - t
    if not r["rel_err"] <= TOLERANCE:
        r["failed"].append("match: max rel err %.3g > %g" % (r["rel_err"], TOLERANCE))

    r["step"] = "head+fit"
    t = time.time()
    m.replace_head(N_CLASSES, seed=0)
    head = m["head/fc"]
    before = np.array(head.get_parameter("weight"), dtype=np.float32)
    feats = inputs_for(name, FIT_SAMPLES)
    if one:
        feats = feats[:, None]
    labels = np.random.default_rng(0).integers(0, N_CLASSES, FIT_SAMPLES).astype(np.int32)
    data = graft.Dataset.from_memory(feats, labels, n_classes=N_CLASSES)
    history = m.fit(data, graft.Optimizer.adam(lr=1e-4), epochs=1,
                    batch_size=BATCH, seed=0)
    loss = history[-1].loss if history else float("nan")
    after = np.array(head.get_parameter("weight"), dtype=np.float32)
    changed = float(np.max(np.abs(after - before)))
    r["t_fit"] = time.time() - t
    if not math.isfinite(loss):
        raise RuntimeError("fit: the loss is %r" % loss)
    if changed == 0.0:
        raise RuntimeError("fit: the head's weights did not change")
    r["fit"] = "loss %.3f" % loss

    r["step"] = "export+checker"
    t = time.time()
    out = os.path.join(tmp, name + ".graft.onnx")
    m.export_onnx(out)
    onnx.checker.check_model(onnx.load(out), full_check=True)
    tuned = m.forward(x)
    back = graft.Model.import_onnx(out)
    r["export_err"] = rel_err(back.forward(x), tuned)
    r["t_export2"] = time.time() - t
    if not r["export_err"] <= EXPORT_TOLERANCE:
        raise RuntimeError("the export imported back differs by %.3g relative"
                           % r["export_err"])
    r["export"] = "ok (%d KB)" % (os.path.getsize(out) // 1024)
    r["step"] = "done"


def child(name):
    r = {"name": name, "failed": [], "step": "build"}
    t0 = time.time()
    try:
        with tempfile.TemporaryDirectory(prefix="graft-zoo-") as tmp:
            run_one(name, r, tmp)
    except Exception as e:
        r["failed"].append("%s: %s" % (r["step"], error_text(e)))
    r["seconds"] = time.time() - t0
    print("ZOO-RESULT " + json.dumps(r), flush=True)


# ---- the run ----------------------------------------------------------------------------


def run_child(name, timeout):
    env = dict(os.environ)
    env.setdefault("GRAFT_LIBRARY", os.path.join(ROOT, "lib", "libgraft.so.1"))
    env["PYTHONPATH"] = os.path.join(ROOT, "python") + os.pathsep + env.get("PYTHONPATH", "")
    t0 = time.time()
    try:
        p = subprocess.run([sys.executable, "-B", os.path.abspath(__file__), "--child", name],
                           env=env, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"name": name, "failed": ["timed out after %d s" % timeout],
                "seconds": time.time() - t0}
    for line in p.stdout.splitlines():
        if line.startswith("ZOO-RESULT "):
            return json.loads(line[len("ZOO-RESULT "):])
    tail = " ".join(p.stderr.strip().splitlines()[-3:])
    return {"name": name, "seconds": time.time() - t0,
            "failed": ["the process ended with status %d: %s" % (p.returncode, tail)]}


HEADER = """# graft on the ONNX models people bring

Written by `tests/zoo/zoo.py` (`make check-zoo`; not part of `make test`,
which runs the compact versions in `tests/data/zoo/` instead, see
`tests/check_onnx_zoo.c`). Regenerate with `make check-zoo`.

The models: every torchvision {tv} classification model whose parameter
count is under 30 M (from `torchvision.models.list_models()`, so none is
left out), the segmentation model `lraspp_mobilenet_v3_large` (its `out`
map) and a sequence classifier over a 2-layer `nn.TransformerEncoder`
(d_model 64, 4 heads, feed-forward 128, batch_first, then Flatten and
Linear), all with random weights (seeded; batch norms given random running
statistics) in eval mode, exported by PyTorch {pt} with a symbolic batch
axis at opset 13 (or the lowest above it that works).

Each model, in its own process:

1. **import**: `graft.Model.import_onnx()`. When the file with a symbolic
   batch is refused, the model is exported again with a fixed batch of
   {batch} and imported again; when that is refused too, it is exported for
   one sample and imported with `batch_axis` 0, graft batching the
   one-sample graph (PyTorch's attention moves the batch axis, which
   graft's batch axis cannot do); both noted below.
2. **max rel err**: graft's output against PyTorch's on a batch of {batch}
   real photographs: the largest absolute difference over the largest
   absolute PyTorch output. Passes at {tol:g}. The photographs are
   `china.jpg` and `flower.jpg` of Debian's python3-sklearn
   (`sklearn/datasets/images/`, Creative Commons Attribution 2.0, by
   danielbuechele and vultilion on Flickr, credited in the README.txt
   beside them), shorter side resized to 256 (299 / 224 of that for
   inception_v3), 224x224 crops (299x299) at the centre and corners and
   mirrored, normalised with ImageNet's mean and standard deviation. The
   transformer reads the same photographs in grey at 32x32 as 16 patches
   of 8x8.
3. **head+fit**: `replace_head(10)`, then `fit()` for one epoch on {fit}
   crops with random labels, batch {batch}, Adam (lr 1e-4),
   every layer trainable. Passes when fit returns OK with a finite loss and
   the new head's weights changed (the table gives the epoch's loss). For
   the classifiers the new head replaces the last Linear; the transformer's
   is the Linear after its Flatten; `lraspp_mobilenet_v3_large` has no
   dense layer, so `replace_head()` takes it as a feature extractor and
   appends a dense layer to its 21x224x224 map: this checks that training
   and export work through the segmentation graph, not a useful
   segmentation fine-tune (graft trains classifiers). The losses are
   large for some models (inception_v3, the resnets): PyTorch's exporter
   in eval mode folds each batch norm that follows a convolution into it,
   so the imported graph has no batch norm to renormalise in training, and
   with random weights the activations are as large as PyTorch's own in
   eval mode (inception_v3's logits reach about 1e10 there too). Export
   with `training=torch.onnx.TrainingMode.PRESERVE` and
   `do_constant_folding=False` to keep the batch norms for fine-tuning.
4. **export+checker**: `export_onnx()`, `onnx.checker.check_model()` with
   `full_check=True`, and the file imported back into graft, whose outputs
   must equal the fine-tuned model's to {etol:g} relative.

The seconds are the whole process's (building the model in PyTorch
included), then in brackets each step's that ran: PyTorch's export (with
PyTorch's own run), import, graft's run and the comparison, head and fit,
export and checks; on the machine it ran on ({machine}), shared with other
work while it ran.

"""


def seconds(r):
    """The whole time, then each step's that ran (export, import, match, fit,
    export+checker)."""
    steps = [r[k] for k in ("t_export", "t_import", "t_match", "t_fit", "t_export2") if k in r]
    return "%.0f (%s)" % (r.get("seconds", 0), " / ".join("%.1f" % t for t in steps))


def write_table(results, path, argv_note, json_path=None):
    import platform

    import torch
    import torchvision

    rows = ["| model | params | opset | import | max rel err | head+fit | export+checker | "
            "seconds | error |", "|---|---:|---:|---|---:|---|---|---|---|"]
    for r in results:
        err = "; ".join(r.get("failed", [])) + (
            ("; " if r.get("failed") else "") + "note: " + r["note"] if r.get("note") else "")
        rel = r.get("rel_err")
        rows.append("| %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (
            r["name"], "%.2f M" % (r["params"] / 1e6) if "params" in r else "",
            r.get("opset", ""), r.get("import", "FAIL" if r.get("failed") else ""),
            "%.2e" % rel if rel is not None else "", r.get("fit", ""),
            r.get("export", ""), seconds(r),
            err.replace("|", "\\|").replace("\n", " ")))
    passed = sum(1 for r in results if not r.get("failed"))
    text = HEADER.format(tv=torchvision.__version__.split("+")[0],
                         pt=torch.__version__.split("+")[0], batch=BATCH, tol=TOLERANCE,
                         fit=FIT_SAMPLES, etol=EXPORT_TOLERANCE,
                         machine="%s, %d cores" % (platform.machine(), os.cpu_count()))
    text += "**%d passed, %d failed** (%s).\n\n" % (passed, len(results) - passed, argv_note)
    text += "\n".join(rows) + "\n"
    with open(path, "w") as f:
        f.write(text)
    if json_path:
        with open(json_path, "w") as f:
            json.dump(results, f, indent=1)


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--models", help="comma-separated names (default: the whole list)")
    ap.add_argument("--quick", action="store_true", help="only " + ", ".join(QUICK))
    ap.add_argument("--out", default=os.path.join(ROOT, "docs", "ONNX-ZOO.md"))
    ap.add_argument("--json", help="also write every result's fields to this file")
    ap.add_argument("--timeout", type=int, default=1800, help="seconds per model")
    ap.add_argument("--from-json", metavar="FILE",
                    help="write the table from the results --json saved, running nothing")
    ap.add_argument("--note", default=None, help="with --from-json: what the run covered")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args(argv[1:])
    if args.child:
        child(args.child)
        return 0
    if args.from_json:
        with open(args.from_json) as f:
            results = json.load(f)
        write_table(results, args.out, args.note or "%d models" % len(results))
        failed = sum(1 for r in results if r["failed"])
        print("%d passed, %d failed" % (len(results) - failed, failed))
        return 1 if failed else 0
    if not os.path.isdir(IMAGES):
        print("zoo.py: %s is missing (Debian's python3-sklearn)" % IMAGES, file=sys.stderr)
        return 2
    everything = model_list()
    if args.models:
        names = [n for n in args.models.split(",") if n]
        unknown = [n for n in names if n not in everything]
        if unknown:
            print("zoo.py: not in the list: %s" % ", ".join(unknown), file=sys.stderr)
            return 2
        note = "the models given with --models"
    elif args.quick:
        names = QUICK
        note = "--quick: " + ", ".join(QUICK)
    else:
        names = everything
        note = "the whole list"
    results = []
    for name in names:
        r = run_child(name, args.timeout)
        results.append(r)
        print("%-28s %s %6.0f s  %s" % (name, "FAIL" if r["failed"] else "ok  ",
                                        r.get("seconds", 0), "; ".join(r["failed"])), flush=True)
        so_far = "" if len(results) == len(names) else ", %d of %d so far" % (len(results),
                                                                              len(names))
        write_table(results, args.out, note + so_far, args.json)
    failed = sum(1 for r in results if r["failed"])
    print("%d passed, %d failed" % (len(results) - failed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
