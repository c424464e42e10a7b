#!/usr/bin/python3
"""Write PyTorch references for graft's losses, gradient clipping and fits.

Run with the system Python that has torch 1.13:

    /usr/bin/python3 tests/make_torch_loss_refs.py > tests/data/torch_loss_refs.txt

tests/check_losses.c reads the output. Every case draws its values from a
fixed seed, so the file is reproducible; values are printed with %.9g.

File format (plain text, one record per line, fields separated by single
spaces; blank lines and lines starting with '#' are ignored):

    case NAME KIND        starts a case. KIND is ce, bce, mse or l1 (a loss
                          and its gradient), or fit-ce, fit-bce, fit-mse,
                          fit-l1 (a short fit of a dense layer)
    KEY N V...            an array of N values; the keys are
                            shape    N C: logits (loss cases) or the dataset's
                                     sample count and the layer's inputs
                                     (fits), then C outputs in 'outs'
                            x        logits or predictions (loss cases), or
                                     the dataset's features (fits)
                            labels   class indices
                            targets  float targets (row-major)
                            cw       class weights      sw  sample weights
                            pw       pos_weight         ls  label smoothing
                            loss     the loss           grad  its gradient
                            w0 b0    a dense layer's initial weight (out, in)
                                     and bias; w1 b1 after the fit
                            fit      batch, epochs, SGD learning rate,
                                     momentum, clip_grad_norm (0: none)
    end                   ends the case

Fits run SGD over the samples in order (no shuffling), batch after batch,
each step: forward, loss, backward, clip_grad_norm_ over the weight and the
bias when clip > 0, optimizer step; as graft_model_fit() with shuffle 0.
"""

import sys

import torch
import torch.nn.functional as F

FMT = "%.9g"


def line(out, key, t):
    flat = [float(v) for v in torch.as_tensor(t).detach().reshape(-1).tolist()]
    out.write(" ".join([key, str(len(flat))] + [FMT % v for v in flat]) + "\n")


def ce_numerator(logits, labels, cw, ls):
    """Per-sample a_n of graft_loss_cross_entropy()."""
    return F.cross_entropy(logits, labels, weight=cw, label_smoothing=ls, reduction="none")


def ce_loss(logits, labels, cw, sw, ls):
    n, c = logits.shape
    a = ce_numerator(logits, labels, cw, ls)
    w = cw[labels] if cw is not None else torch.ones(n, dtype=torch.float64)
    s = sw if sw is not None else torch.ones(n, dtype=torch.float64)
    return (s * a).sum() / (s * w).sum()


def bce_loss(logits, targets, pw, sw):
    per = F.binary_cross_entropy_with_logits(logits, targets, pos_weight=pw, reduction="none")
    if sw is None:
        return per.mean()
    return (sw[:, None] * per).sum() / (sw.sum() * logits.shape[1])


def reg_loss(pred, targets, l1, sw):
    per = (pred - targets).abs() if l1 else (pred - targets) ** 2
    per = per.reshape(per.shape[0], -1).mean(1)
    if sw is None:
        return per.mean()
    return (sw * per).sum() / sw.sum()


def loss_case(out, g, name, kind, n, c, cw=False, sw=False, ls=0.0, pw=False, big=False):
    x = torch.randn(n, c, generator=g, dtype=torch.float64) * (30.0 if big else 2.0)
    x = x.float().double().requires_grad_(True)
    cwt = (torch.rand(c, generator=g, dtype=torch.float64) * 2).float().double() if cw else None
    swt = (torch.rand(n, generator=g, dtype=torch.float64) * 2).float().double() if sw else None
    pwt = (torch.rand(c, generator=g, dtype=torch.float64) * 3).float().double() if pw else None
    out.write("case %s %s\n" % (name, kind))
    line(out, "shape", [n, c])
    line(out, "x", x)
    if kind == "ce":
        labels = torch.randint(0, c, (n,), generator=g)
        loss = ce_loss(x, labels, cwt, swt, ls)
        line(out, "labels", labels)
    elif kind == "bce":
        targets = (torch.rand(n, c, generator=g) > 0.5).double()
        loss = bce_loss(x, targets, pwt, swt)
        line(out, "targets", targets)
    else:
        targets = torch.randn(n, c, generator=g, dtype=torch.float64).float().double()
        loss = reg_loss(x, targets, kind == "l1", swt)
        line(out, "targets", targets)
    for key, t in (("cw", cwt), ("sw", swt), ("pw", pwt)):
        if t is not None:
            line(out, key, t)
    if ls:
        line(out, "ls", [ls])
    loss.backward()
    line(out, "loss", [loss.item()])
    line(out, "grad", x.grad)
    out.write("end\n")


def fit_case(out, g, name, kind, n, f, c, batch, epochs, lr, momentum=0.0, clip=0.0,
             cw=False, sw=False, ls=0.0, pw=False):
    x = torch.randn(n, f, generator=g)
    lin = torch.nn.Linear(f, c)
    with torch.no_grad():
        lin.weight.copy_(torch.randn(c, f, generator=g) * 0.5)
        lin.bias.copy_(torch.randn(c, generator=g) * 0.1)
    cwt = torch.rand(c, generator=g) * 2 + 0.1 if cw else None
    swt = torch.rand(n, generator=g) * 2 + 0.1 if sw else None
    pwt = torch.rand(c, generator=g) * 3 + 0.1 if pw else None
    out.write("case %s fit-%s\n" % (name, kind))
    line(out, "shape", [n, f, c])
    line(out, "x", x)
    if kind == "ce":
        labels = torch.randint(0, c, (n,), generator=g)
        line(out, "labels", labels)
    elif kind == "bce":
        targets = (torch.rand(n, c, generator=g) > 0.5).float()
        line(out, "targets", targets)
    else:
        targets = torch.randn(n, c, generator=g)
        line(out, "targets", targets)
    for key, t in (("cw", cwt), ("sw", swt), ("pw", pwt)):
        if t is not None:
            line(out, key, t)
    if ls:
        line(out, "ls", [ls])
    line(out, "fit", [batch, epochs, lr, momentum, clip])
    line(out, "w0", lin.weight)
    line(out, "b0", lin.bias)
    opt = torch.optim.SGD(lin.parameters(), lr=lr, momentum=momentum)
    for _ in range(epochs):
        for start in range(0, n, batch):
            sl = slice(start, min(n, start + batch))
            opt.zero_grad()
            y = lin(x[sl])
            s = swt[sl] if swt is not None else None
            if kind == "ce":
                loss = ce_loss(y, labels[sl], cwt, s, ls)
            elif kind == "bce":
                loss = bce_loss(y, targets[sl], pwt, s)
            else:
                loss = reg_loss(y, targets[sl], kind == "l1", s)
            loss.backward()
            if clip > 0:
                torch.nn.utils.clip_grad_norm_(lin.parameters(), clip)
            opt.step()
    line(out, "w1", lin.weight)
    line(out, "b1", lin.bias)
    out.write("end\n")


def main():
    out = sys.stdout
    g = torch.Generator().manual_seed(20261208)
    out.write("# PyTorch %s references for losses; see tests/make_torch_loss_refs.py\n"
              % torch.__version__)
    loss_case(out, g, "ce_plain", "ce", 5, 4)
    loss_case(out, g, "ce_class_weights", "ce", 6, 3, cw=True)
    loss_case(out, g, "ce_smoothing", "ce", 5, 4, ls=0.1)
    loss_case(out, g, "ce_weights_smoothing", "ce", 7, 5, cw=True, ls=0.25)
    loss_case(out, g, "ce_all_weights_smoothing", "ce", 7, 5, cw=True, sw=True, ls=0.2)
    loss_case(out, g, "ce_large_logits", "ce", 4, 3, cw=True, ls=0.1, big=True)
    loss_case(out, g, "bce_plain", "bce", 5, 3)
    loss_case(out, g, "bce_pos_weight", "bce", 6, 4, pw=True)
    loss_case(out, g, "bce_pos_weight_samples", "bce", 6, 4, pw=True, sw=True)
    loss_case(out, g, "bce_large_logits", "bce", 4, 3, pw=True, big=True)
    loss_case(out, g, "mse_plain", "mse", 5, 3)
    loss_case(out, g, "mse_samples", "mse", 5, 3, sw=True)
    loss_case(out, g, "l1_plain", "l1", 5, 3)
    loss_case(out, g, "l1_samples", "l1", 6, 2, sw=True)
    torch.manual_seed(0)
    fit_case(out, g, "fit_ce_weighted", "ce", 12, 4, 3, 4, 2, 0.1, cw=True, ls=0.1)
    fit_case(out, g, "fit_ce_samples", "ce", 10, 3, 4, 4, 2, 0.2, momentum=0.9, sw=True)
    fit_case(out, g, "fit_ce_clip", "ce", 8, 5, 3, 4, 3, 0.5, clip=0.05)
    fit_case(out, g, "fit_bce", "bce", 10, 4, 3, 5, 2, 0.3, pw=True)
    fit_case(out, g, "fit_mse", "mse", 9, 3, 2, 3, 2, 0.05)
    fit_case(out, g, "fit_l1_clip", "l1", 9, 3, 2, 4, 2, 0.1, clip=0.3, sw=True)


if __name__ == "__main__":
    main()
