"""PyTorch's side of `make bench`: the workloads of bench/models.c, one per
process, printed in the same one-line format.

    torch_models.py WORKLOAD THREADS [RUNS] [WARMUP]

The driver (bench/run_bench.sh) starts it with OPENBLAS_NUM_THREADS=1 (so
OpenBLAS's pool does not fight torch's threads) and tcmalloc preloaded.
Networks come from torchvision (mobilenet_v2, resnet18, no pretrained
weights); training steps use SGD (lr 0.001, momentum 0.9) and cross-entropy
on one batch of random data, as graft's side does. Prints
    torch WORKLOAD threads=T median=X min=Y max=Z hwm_kib=K core=-
in images per second.
"""
import sys
import time

import torch
import torch.nn as nn
import torchvision


def peak_kib():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return -1


def lenet():
    return nn.Sequential(
        nn.Conv2d(1, 32, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(64 * 7 * 7, 1024), nn.ReLU(), nn.Linear(1024, 10))


# name: (constructor, batch, channels, side, classes, mode)
WORKLOADS = {
    "lenet_train": (lenet, 64, 1, 28, 10, "train"),
    "mnv2_train": (torchvision.models.mobilenet_v2, 16, 3, 224, 1000, "train"),
    "mnv2_infer16": (torchvision.models.mobilenet_v2, 16, 3, 224, 1000, "infer"),
    "mnv2_infer1": (torchvision.models.mobilenet_v2, 1, 3, 224, 1000, "infer"),
    "r18_train": (torchvision.models.resnet18, 16, 3, 224, 1000, "train"),
    "r18_infer16": (torchvision.models.resnet18, 16, 3, 224, 1000, "infer"),
    "r18_infer1": (torchvision.models.resnet18, 1, 3, 224, 1000, "infer"),
    "mnv2_frozen": (torchvision.models.mobilenet_v2, 16, 3, 224, 5, "frozen"),
    "mnv2_cached": (torchvision.models.mobilenet_v2, 16, 3, 224, 5, "cached"),
}

CACHED_SAMPLES = 64


def main():
    name, threads = sys.argv[1], int(sys.argv[2])
    runs = int(sys.argv[3]) if len(sys.argv) > 3 else 5
    warmup = int(sys.argv[4]) if len(sys.argv) > 4 else 2
    make, batch, c, side, classes, mode = WORKLOADS[name]
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    model = make()
    loss_fn = nn.CrossEntropyLoss()
    count = CACHED_SAMPLES if mode == "cached" else batch
    x = torch.rand(count, c, side, side) * 2 - 1
    y = torch.arange(count) % classes

    if mode == "train":
        model.train()
        opt = torch.optim.SGD(model.parameters(), lr=0.001, momentum=0.9)

        def step():
            opt.zero_grad()
            loss = loss_fn(model(x), y)
            loss.backward()
            opt.step()
    elif mode == "infer":
        model.eval()

        def step():
            with torch.no_grad():
                model(x)
    else:
        trunk = nn.Sequential(model.features, nn.AdaptiveAvgPool2d(1), nn.Flatten()).eval()
        for p in trunk.parameters():
            p.requires_grad_(False)
        head = nn.Linear(1280, classes)
        opt = torch.optim.SGD(head.parameters(), lr=0.001, momentum=0.9)
        if mode == "frozen":
            def step():
                with torch.no_grad():
                    f = trunk(x)
                opt.zero_grad()
                loss = loss_fn(head(f), y)
                loss.backward()
                opt.step()
        else:
            with torch.no_grad():  # the first epoch: features computed once
                feats = torch.cat([trunk(x[i:i + batch]) for i in range(0, count, batch)])

            def step():  # one epoch of the head on the cached features
                for i in range(0, count, batch):
                    opt.zero_grad()
                    loss = loss_fn(head(feats[i:i + batch]), y[i:i + batch])
                    loss.backward()
                    opt.step()

    for _ in range(warmup):
        step()
    rates = []
    for _ in range(runs):
        t0 = time.perf_counter()
        step()
        rates.append(count / (time.perf_counter() - t0))
    rates.sort()
    print("torch %s threads=%d median=%.2f min=%.2f max=%.2f hwm_kib=%d core=-"
          % (name, torch.get_num_threads(), rates[len(rates) // 2], rates[0], rates[-1],
             peak_kib()))


if __name__ == "__main__":
    main()
