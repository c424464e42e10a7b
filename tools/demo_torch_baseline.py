#!/usr/bin/python3
"""Is graft's demo base as good as a PyTorch one? (`make demo-torch`)

Pretrains the demo's base architecture (three conv/batch-norm/relu blocks of
16, 32 and 64 channels, max pooling after the first two, global average
pooling, a 10-class dense head) in PyTorch on Fashion-MNIST with the recipe
`graft demo --pretrain` uses (Adam 0.003 with cosine decay per step, batch
64, the same epochs, random shifts of up to 2 pixels and left-right mirroring
drawn anew every epoch), writes its weights into a .graft file through the
Python binding (the same layer names as graft's base, so the demo cuts and
unfreezes it at the same places), then runs `bin/graft demo` on graft's
shipped base and on the PyTorch one with the same splits and seeds and prints
the two tables side by side. The scratch column trains no base, so it must
come out the same in both runs: the script checks that the two runs saw the
same data.

Run from the source tree after `make`, with Debian's python3 (torch, numpy)
and Fashion-MNIST (dataset-fashion-mnist):
    PYTHONPATH=python /usr/bin/python3 tools/demo_torch_baseline.py
Options: --epochs N, --no-augment (the recipe of the old base: 4 epochs, no
augmentation), --seeds N, --budget N (passed to graft demo), --reuse (keep an
existing PyTorch base instead of training it again), --no-demo (only train
it), --graft-output FILE (graft demo's saved output for --graft-base, instead
of running it again), --torch-output FILE (the same for --torch-base),
--threads N.
"""
import argparse
import gzip
import math
import os
import re
import subprocess
import sys
import time

import numpy as np
import torch
from torch import nn

import graft

SIDE = 28
SHIFT = 2


def read_idx(path):
    with gzip.open(path, "rb") as f:
        data = f.read()
    ndim = data[3]
    dims = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def load_fashion(folder):
    def part(prefix):
        x = read_idx(os.path.join(folder, prefix + "-images-idx3-ubyte.gz"))
        y = read_idx(os.path.join(folder, prefix + "-labels-idx1-ubyte.gz"))
        return (x.astype(np.float32) / 255.0)[:, None, :, :], y.astype(np.int64)
    return part("train"), part("t10k")


def augment(x, rng):
    """Each image shifted by up to SHIFT pixels (black border) and mirrored
    half the time: the distribution graft's pretraining draws from."""
    n = len(x)
    padded = np.zeros((n, 1, SIDE + 2 * SHIFT, SIDE + 2 * SHIFT), np.float32)
    padded[:, :, SHIFT:SHIFT + SIDE, SHIFT:SHIFT + SIDE] = x
    flip = rng.random(n) < 0.5
    padded[flip] = padded[flip, :, :, ::-1]
    dx = rng.integers(-SHIFT, SHIFT + 1, n)
    dy = rng.integers(-SHIFT, SHIFT + 1, n)
    out = np.empty_like(x)
    for sy in range(-SHIFT, SHIFT + 1):
        for sx in range(-SHIFT, SHIFT + 1):
            sel = (dy == sy) & (dx == sx)
            out[sel] = padded[sel, :, SHIFT - sy:SHIFT - sy + SIDE, SHIFT - sx:SHIFT - sx + SIDE]
    return out


def torch_model():
    layers = []
    channels = 1
    for b, width in enumerate((16, 32, 64)):
        layers += [nn.Conv2d(channels, width, 3, padding=1), nn.BatchNorm2d(width), nn.ReLU()]
        if b < 2:
            layers.append(nn.MaxPool2d(2))
        channels = width
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(64, 10)]
    return nn.Sequential(*layers)


def pretrain(train, test, epochs, use_augment):
    torch.manual_seed(2026)
    rng = np.random.default_rng(2026)
    model = torch_model()
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    x, y = train
    n, batch = len(x), 64
    per_epoch = math.ceil(n / batch)
    total = epochs * per_epoch
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: (1 + math.cos(math.pi * min(s, total) / total)) / 2)
    loss_fn = nn.CrossEntropyLoss()
    yt = torch.from_numpy(y)
    started = time.time()
    for e in range(epochs):
        xe = torch.from_numpy(augment(x, rng) if use_augment else x)
        order = torch.randperm(n)
        model.train()
        loss_sum = 0.0
        for i in range(per_epoch):
            idx = order[i * batch:(i + 1) * batch]
            opt.zero_grad()
            loss = loss_fn(model(xe[idx]), yt[idx])
            loss.backward()
            opt.step()
            sched.step()
            loss_sum += loss.item() * len(idx)
        print("pytorch pretraining: epoch %d of %d, loss %.4f, %.0f s" % (e + 1, epochs, loss_sum / n, time.time() - started),
              file=sys.stderr)
    secs = time.time() - started
    model.eval()
    with torch.no_grad():
        pred = torch.cat([model(torch.from_numpy(test[0][i:i + 1000])).argmax(1) for i in range(0, len(test[0]), 1000)])
    acc = float((pred.numpy() == test[1]).mean())
    return model, acc, secs


def write_graft(model, path):
    """The PyTorch weights in a graft model built as `graft demo` builds its base."""
    L = graft.layers
    g = graft.Model((1, SIDE, SIDE), seed=2026)
    mods = list(model)
    k = 0
    for b in range(3):
        conv, bn = mods[k], mods[k + 1]
        g.add(L.conv2d(conv.out_channels, 3, padding=1), "block%d/conv" % (b + 1))
        g.add(L.batch_norm(epsilon=1e-5, momentum=0.1), "block%d/bn" % (b + 1))
        g.add(L.relu(), "block%d/relu" % (b + 1))
        g["block%d/conv" % (b + 1)].set_parameter("weight", conv.weight.detach().numpy())
        g["block%d/conv" % (b + 1)].set_parameter("bias", conv.bias.detach().numpy())
        for name in ("weight", "bias", "running_mean", "running_var"):
            g["block%d/bn" % (b + 1)].set_parameter(name, getattr(bn, name).detach().numpy())
        k += 3
        if b < 2:
            g.add(L.max_pool2d(2, stride=2), "block%d/pool" % (b + 1))
            k += 1
    g.add(L.global_avg_pool(), "gap")
    g.add(L.flatten(), "features")
    g.add(L.dense(10), "fc")
    fc = mods[-1]
    g["fc"].set_parameter("weight", fc.weight.detach().numpy())
    g["fc"].set_parameter("bias", fc.bias.detach().numpy())
    g.class_names = ["t-shirt", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag", "boot"]
    g.save(path)
    return g


def run_demo(binary, base, seeds, extra, out_dir):
    cmd = [binary, "demo", "--base", base, "--seeds", str(seeds), "--out", out_dir, "--quiet"] + extra
    print("running:", " ".join(cmd), file=sys.stderr)
    res = subprocess.run(cmd, stdout=subprocess.PIPE, universal_newlines=True, check=True)
    return parse_table(res.stdout), res.stdout


def parse_table(text):
    """{row label: ([frozen, staged, scratch] accuracy, [their spreads])} from graft demo's table."""
    rows = {}
    for line in text.splitlines():
        m = re.match(r"^(\d+|all \(~\d+\))\s+\|(.*)$", line)
        if not m:
            continue
        cells = [c.strip() for c in m.group(2).split("|")]
        accs = [float(re.match(r"([\d.]+)%\s*\+-\s*([\d.]+)", c).group(1)) for c in cells[:3]]
        sds = [float(re.match(r"([\d.]+)%\s*\+-\s*([\d.]+)", c).group(2)) for c in cells[:3]]
        rows[m.group(1)] = (accs, sds)
    return rows


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--fashion", default="/usr/share/datasets/fashion-mnist")
    ap.add_argument("--graft-base", default="examples/demo/fashion-base.graft")
    ap.add_argument("--torch-base", default="demo-output/torch-base.graft")
    ap.add_argument("--bin", default="bin/graft")
    ap.add_argument("--epochs", type=int, default=8)
    ap.add_argument("--no-augment", action="store_true")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--budget", type=int, default=0, help="samples seen per demo run (graft demo --budget)")
    ap.add_argument("--reuse", action="store_true", help="use an existing --torch-base")
    ap.add_argument("--no-demo", action="store_true", help="only pretrain the PyTorch base")
    ap.add_argument("--graft-output", help="the saved output of graft demo on --graft-base (not run again)")
    ap.add_argument("--torch-output", help="the saved output of graft demo on --torch-base (not run again)")
    ap.add_argument("--threads", type=int, default=2, help="PyTorch threads")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    os.makedirs(os.path.dirname(a.torch_base) or ".", exist_ok=True)
    if not (a.reuse and os.path.exists(a.torch_base)):
        train, test = load_fashion(a.fashion)
        model, acc, secs = pretrain(train, test, a.epochs, not a.no_augment)
        g = write_graft(model, a.torch_base)
        # The copy must compute what PyTorch computes.
        model.eval()
        probe = test[0][:64]
        with torch.no_grad():
            want = torch.softmax(model(torch.from_numpy(probe)), 1).numpy()
        got = np.asarray(g.predict(probe)).reshape(want.shape)
        gap = float(np.abs(got - want).max())
        print("PyTorch base: %d epochs, %s; Fashion-MNIST test accuracy %.2f%%, %.0f s; written to %s "
              "(graft's class probabilities differ from PyTorch's by at most %.1e)"
              % (a.epochs, "no augmentation" if a.no_augment else "shifts and mirroring", 100 * acc, secs,
                 a.torch_base, gap))
        if gap > 1e-3:
            sys.exit("the graft copy of the PyTorch base computes something else")
    if a.no_demo:
        return
    extra = ["--budget", str(a.budget)] if a.budget else []
    out_dir = os.path.dirname(a.torch_base) or "."
    if a.graft_output:
        with open(a.graft_output) as f:
            g_text = f.read()
        g_rows = parse_table(g_text)
    else:
        g_rows, g_text = run_demo(a.bin, a.graft_base, a.seeds, extra, os.path.join(out_dir, "demo-graft-base"))
    if a.torch_output:
        with open(a.torch_output) as f:
            t_text = f.read()
        t_rows = parse_table(t_text)
    else:
        t_rows, t_text = run_demo(a.bin, a.torch_base, a.seeds, extra, os.path.join(out_dir, "demo-torch-base"))
    print("\ngraft demo, accuracy on the held-out digits (mean over %d seeds), graft base vs PyTorch base:\n" % a.seeds)
    print("%-12s | %-24s | %-24s | %s" % ("labels", "frozen graft/torch", "staged graft/torch", "scratch (both runs)"))
    worse = 0
    for k in g_rows:
        ga, _ = g_rows[k]
        ta, _ = t_rows[k]
        cells = []
        for m in range(2):
            cells.append("%5.1f / %5.1f (%+.1f)" % (ga[m], ta[m], ga[m] - ta[m]))
            worse += ga[m] < ta[m]
        print("%-12s | %-24s | %-24s | %5.1f / %5.1f" % (k, cells[0], cells[1], ga[2], ta[2]))
        if ga[2] != ta[2]:
            sys.exit("the scratch columns differ: the two runs did not train on the same data")
    for line in g_text.splitlines():
        if line.startswith("Total demo time"):
            print("graft base run: " + line)
    for line in t_text.splitlines():
        if line.startswith("Total demo time"):
            print("PyTorch base run: " + line)
    print("\nThe graft base is below the PyTorch base in %d of %d transfer cells (differences in points)."
          % (worse, 2 * len(g_rows)))


if __name__ == "__main__":
    main()
