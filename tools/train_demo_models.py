#!/usr/bin/env python3
"""Train the two demo CIFAR-style ResNets on Fashion-MNIST (CPU, Debian PyTorch) and write them
in the engine's format (models/demo/fmnist_{a,b}.safetensors, see models/demo/README.md).

usage:
  /usr/bin/python3 tools/train_demo_models.py                 # both models + evaluation (README numbers)
  /usr/bin/python3 tools/train_demo_models.py --which a       # only model A
  /usr/bin/python3 tools/train_demo_models.py --eval-only     # re-evaluate the committed files
  /usr/bin/python3 tools/train_demo_models.py --time-epoch    # time 60 training steps, write nothing

Data: Debian's dataset-fashion-mnist (/usr/share/datasets/fashion-mnist/*-ubyte.gz), read here
from the idx files (no torchvision download). 28x28 grayscale, /255, replicated to 3 identical
channels (as the engine's IdxDataset yields them), normalised with the mean/std of all 60,000
training images (one value for all three channels). No resize: 28 -> 14 -> 7 -> global pool.

Model A: seed 1, training images with an even index (30,000); model B: seed 2, odd index (30,000).
SGD (momentum 0.9, Nesterov, weight decay 5e-4), batch 128, one-cycle LR (cosine), random crop
with zero padding 2 + horizontal flip. Deterministic given the seed (single process, fixed thread
count, torch.use_deterministic_algorithms). The checkpoints are written through
convert_torch.convert_checkpoint / write_output, so they are in the converter's format (same tensor
names, no num_batches_tracked, same metadata; the training settings are wrapper fields, recorded as
source_<key>; source_sha256, the hash of the temporary checkpoint, is dropped).
"""
import argparse
import gzip
import json
import math
import os
import struct
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

import convert_torch  # noqa: E402
import st_io  # noqa: E402
from pt_models import CifarResNet, build_model  # noqa: E402

DATA_DIR = "/usr/share/datasets/fashion-mnist"
OUT_DIR = os.path.join(os.path.dirname(HERE), "models", "demo")
# Fashion-MNIST label order (no commas or slashes inside names).
FMNIST_CLASSES = ["tshirt_top", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag", "ankle_boot"]
MODELS = {"a": {"seed": 1, "half": "even"}, "b": {"seed": 2, "half": "odd"}}


# ------------------------------------------------------------------------------------------- data


def read_idx(path):
    with gzip.open(path, "rb") if path.endswith(".gz") else open(path, "rb") as f:
        buf = f.read()
    zero, dtype, ndim = struct.unpack(">HBB", buf[:4])
    if zero != 0 or dtype != 0x08:
        raise ValueError(f"{path}: not a u8 idx file")
    dims = struct.unpack(">" + "I" * ndim, buf[4 : 4 + 4 * ndim])
    return np.frombuffer(buf, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def load_split(split, data_dir=DATA_DIR):
    pre = "train" if split == "train" else "t10k"
    x = read_idx(os.path.join(data_dir, f"{pre}-images-idx3-ubyte.gz"))
    y = read_idx(os.path.join(data_dir, f"{pre}-labels-idx1-ubyte.gz"))
    return torch.from_numpy(x.copy()), torch.from_numpy(y.astype(np.int64))


def norm_stats(x_u8):
    """Mean/std of all pixels of the training set after /255 (float64), rounded to 4 digits."""
    x = x_u8.double() / 255.0
    return round(x.mean().item(), 4), round(x.std(unbiased=False).item(), 4)


def to_input(x01, mean, std):
    """[N,28,28] float in [0,1] -> normalised [N,3,28,28] (identical channels)."""
    return ((x01 - mean) / std).unsqueeze(1).expand(-1, 3, -1, -1).contiguous()


def augment(xb_u8, gen, pad=2):
    """Random crop with zero padding `pad` + horizontal flip, per image. xb_u8: [B,28,28] u8."""
    B, H, W = xb_u8.shape
    xp = F.pad(xb_u8.float() / 255.0, (pad, pad, pad, pad))
    off = torch.randint(0, 2 * pad + 1, (B, 2), generator=gen)
    flip = torch.rand(B, generator=gen) < 0.5
    rows = off[:, 0, None] + torch.arange(H)  # [B, H]
    cols = off[:, 1, None] + torch.arange(W)  # [B, W]
    cols = torch.where(flip[:, None], cols.flip(-1), cols)
    return xp[torch.arange(B)[:, None, None], rows[:, :, None], cols[:, None, :]]


# -------------------------------------------------------------------------------------- training


@torch.no_grad()
def predict_logits(model, x_u8, mean, std, batch=1000):
    model.eval()
    outs = []
    for i in range(0, len(x_u8), batch):
        outs.append(model(to_input(x_u8[i : i + batch].float() / 255.0, mean, std)))
    return torch.cat(outs)


def accuracy(logits, y):
    return (logits.argmax(1) == y).double().mean().item() * 100.0


def train(which, depth, width, epochs, xtr, ytr, mean, std, lr=0.1, log=print, max_steps=None):
    cfg = MODELS[which]
    torch.manual_seed(cfg["seed"])
    gen = torch.Generator().manual_seed(cfg["seed"])
    idx = torch.arange(len(xtr))
    idx = idx[idx % 2 == (0 if cfg["half"] == "even" else 1)]
    x, y = xtr[idx], ytr[idx]
    model = CifarResNet(depth, width, 10).to(memory_format=torch.channels_last)  # faster oneDNN convs
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9, nesterov=True, weight_decay=5e-4)
    bs = 128
    steps_per_epoch = math.ceil(len(x) / bs)
    total = steps_per_epoch * epochs
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=total, pct_start=0.2, anneal_strategy="cos",
                                                cycle_momentum=False, div_factor=10.0, final_div_factor=100.0)
    t0 = time.time()
    step = 0
    for ep in range(epochs):
        model.train()
        perm = torch.randperm(len(x), generator=gen)
        tl, tc, tn = 0.0, 0, 0
        te = time.time()
        for s in range(steps_per_epoch):
            b = perm[s * bs : (s + 1) * bs]
            xb = to_input(augment(x[b], gen), mean, std).contiguous(memory_format=torch.channels_last)
            yb = y[b]
            out = model(xb)
            loss = F.cross_entropy(out, yb)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            step += 1
            tl += loss.item() * len(b)
            tc += (out.argmax(1) == yb).sum().item()
            tn += len(b)
            if max_steps and step >= max_steps:
                return model, time.time() - t0, step
        log(f"[{which}] epoch {ep + 1}/{epochs}: loss {tl / tn:.4f}, train acc {100 * tc / tn:.2f}%, "
            f"lr {sched.get_last_lr()[0]:.4f}, {time.time() - te:.0f} s (total {time.time() - t0:.0f} s)")
    return model.eval(), time.time() - t0, step


# --------------------------------------------------------------------------------------- writing


def write_model(model, path, info, mean, std):
    """Writes `model` in the engine's format through convert_torch's own code path: the training
    info goes in as scalar wrapper fields, which the converter records as source_<key>."""
    name = os.path.splitext(os.path.basename(path))[0]
    with tempfile.TemporaryDirectory() as td:
        ckpt = os.path.join(td, name + ".pt")
        sd = {k: v.detach().clone() for k, v in model.state_dict().items()}
        torch.save(dict(state_dict=sd, **info), ckpt)
        arch = f"cifar_resnet{info['depth']}"
        sd2, cfg, meta = convert_torch.convert_checkpoint(ckpt, arch=arch, classes=list(FMNIST_CLASSES),
                                                          mean=[mean] * 3, std=[std] * 3)
        del meta["source_sha256"]  # hash of a temporary file that is not kept
        meta["image_size"] = "28"  # Fashion-MNIST resolution, used by pleas info for FLOPs
        convert_torch.write_output(path, sd2, meta)
    return cfg, meta


def load_st(path):
    tensors, meta = st_io.load(path, as_torch=True)
    m = build_model(json.loads(meta["config"]))
    m.load_state_dict(tensors, strict=False)
    return m.eval(), meta


def naive_average(ma, mb, cfg):
    """Plain weight average (no permutation); BN running stats averaged too."""
    avg = build_model(cfg)
    sa, sb = ma.state_dict(), mb.state_dict()
    avg.load_state_dict({k: (sa[k] + sb[k]) / 2 if sa[k].is_floating_point() else sa[k] for k in sa})
    return avg.eval()


@torch.no_grad()
def reset_bn(model, x_u8, mean, std, n=10000, bs=500):
    """Recomputes BatchNorm running stats (cumulative average) on the first n images."""
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.reset_running_stats()
            m.momentum = None
    model.train()
    for i in range(0, n, bs):
        model(to_input(x_u8[i : i + bs].float() / 255.0, mean, std))
    return model.eval()


def evaluate_pair(path_a, path_b, xte, yte, xtr, log=print):
    ma, meta = load_st(path_a)
    mb, _ = load_st(path_b)
    mean = float(meta["input_mean"].split(",")[0])
    std = float(meta["input_std"].split(",")[0])
    la, lb = predict_logits(ma, xte, mean, std), predict_logits(mb, xte, mean, std)
    avg = naive_average(ma, mb, json.loads(meta["config"]))
    lavg = predict_logits(avg, xte, mean, std)
    lavg_bn = predict_logits(reset_bn(avg, xtr, mean, std), xte, mean, std)
    res = {"a": accuracy(la, yte), "b": accuracy(lb, yte), "ensemble": accuracy((la + lb) / 2, yte),
           "naive_average": accuracy(lavg, yte), "naive_average_bn_reset": accuracy(lavg_bn, yte),
           "agreement_a_b": (la.argmax(1) == lb.argmax(1)).double().mean().item() * 100}
    for k, v in res.items():
        log(f"  {k:24s} {v:6.2f} %")
    return res


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--which", choices=["a", "b", "both"], default="both")
    ap.add_argument("--depth", type=int, default=20)
    ap.add_argument("--width", type=int, default=16)
    ap.add_argument("--epochs", type=int, default=6)
    ap.add_argument("--lr", type=float, default=0.1)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out-dir", default=OUT_DIR)
    ap.add_argument("--data-dir", default=DATA_DIR)
    ap.add_argument("--eval-only", action="store_true")
    ap.add_argument("--time-epoch", action="store_true", help="time 60 training steps and extrapolate one epoch")
    a = ap.parse_args(argv)
    torch.set_num_threads(a.threads)
    torch.use_deterministic_algorithms(True)
    xtr, ytr = load_split("train", a.data_dir)
    xte, yte = load_split("test", a.data_dir)
    mean, std = norm_stats(xtr)
    print(f"Fashion-MNIST: {len(xtr)} train, {len(xte)} test images; mean {mean}, std {std}; "
          f"{a.threads} threads", flush=True)
    log = lambda s: print(s, flush=True)  # noqa: E731
    if a.time_epoch:
        _, dt, steps = train("a", a.depth, a.width, 1, xtr, ytr, mean, std, a.lr, log, max_steps=60)
        print(f"ResNet-{a.depth} width {a.width}: {dt / steps * 1000:.0f} ms/step, "
              f"~{dt / steps * math.ceil(30000 / 128):.0f} s/epoch")
        return 0
    paths = {w: os.path.join(a.out_dir, f"fmnist_{w}.safetensors") for w in "ab"}
    if not a.eval_only:
        os.makedirs(a.out_dir, exist_ok=True)
        for w in (["a", "b"] if a.which == "both" else [a.which]):
            model, dt, _ = train(w, a.depth, a.width, a.epochs, xtr, ytr, mean, std, a.lr, log)
            acc = accuracy(predict_logits(model, xte, mean, std), yte)
            info = {"seed": MODELS[w]["seed"], "half": MODELS[w]["half"], "train_images": 30000, "epochs": a.epochs,
                    "depth": a.depth, "width": a.width, "lr": a.lr, "batch": 128, "weight_decay": 5e-4,
                    "test_acc": round(acc, 2), "threads": a.threads,
                    "dataset": "fashion-mnist", "tool": "tools/train_demo_models.py"}
            write_model(model, paths[w], info, mean, std)
            log(f"[{w}] test accuracy {acc:.2f}% ({int(round(acc * 100))} / 10000), {dt:.0f} s -> {paths[w]} "
                f"({os.path.getsize(paths[w])} bytes)")
    if all(os.path.exists(p) for p in paths.values()):
        log("PyTorch test accuracy (10,000 Fashion-MNIST test images):")
        evaluate_pair(paths["a"], paths["b"], xte, yte, xtr, log)
    return 0


if __name__ == "__main__":
    sys.exit(main())
