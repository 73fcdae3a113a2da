#!/usr/bin/env python3
"""Train the PACS parent models of issue #14 (CPU, Debian PyTorch, seeded) and write them in the
engine's format under models/pacs/ with their training logs and an accuracy table.

usage:
  /usr/bin/python3 tools/train_parents.py --all               # every model below + the table
  /usr/bin/python3 tools/train_parents.py --model photo       # one domain parent
  /usr/bin/python3 tools/train_parents.py --model base        # the shared base (Table 2)
  /usr/bin/python3 tools/train_parents.py --model ft_photo    # a fine-tune of the base
  /usr/bin/python3 tools/train_parents.py --table             # accuracy table of the files present
  /usr/bin/python3 tools/train_parents.py --time-steps 20     # time 20 training steps, write nothing

Architecture: torchvision's ResNet-18 layout (conv1 7x7/2, maxpool, 4 stages of 2 BasicBlocks,
fc) at width 16 (stage widths 16, 32, 64, 128; 0.70 M parameters, 2.8 MB in f32), input 64 x 64,
ImageNet mean/std. Names and forward are torchvision's, so the engine's `resnet` path loads it.

Data: ../shared/data/pacs64 (7 classes, 4 domains, DomainNet-format lists; images already 64 px).

Recipe (the same for every model; only seed, data and start differ):
  * domain parents `pacs_<domain>`: from scratch (torchvision init) with seed SEEDS[domain] on
    `<domain>_train.txt` — different initialisation *and* different data, as in the paper.
  * Table 2: `pacs_base` from scratch (seed 100) on Tiny ImageNet's 10,000 labelled images
    (200 classes; the stand-in for ImageNet pre-training, as the paper's parents are fine-tunes of
    ImageNet models), then `pacs_ft_<domain>`: the base with a new 7-way head (seed 200 + i),
    every layer fine-tuned on `<domain>_train.txt` (lr x 0.3, half the epochs).
  * SGD, momentum 0.9, Nesterov, weight decay 5e-4, batch 64, label smoothing 0.1, one-cycle
    cosine LR (peak 0.1, 20 % warm-up), EPOCHS epochs scaled so that every domain model sees
    about the same number of steps (STEPS // steps per epoch, at least 8 epochs); random crop 64
    with 8 px reflect padding + horizontal flip. Class-balanced sampling is not used (PACS is
    unbalanced; the test lists are too).
  * Deterministic for a seed: one process, torch.set_num_threads(2), deterministic algorithms.
The log of each run (every epoch's loss, train accuracy, LR and time; the final test accuracy)
goes to models/pacs/logs/<name>.log; `--table` writes models/pacs/accuracy.json and .md (every
model on all four domains' test lists).
"""
import argparse
import json
import math
import os
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from PIL import Image  # noqa: E402

import convert_torch  # noqa: E402
import st_io  # noqa: E402
from pt_models import ResNet, build_model  # noqa: E402

ROOT = os.path.dirname(HERE)
PACS = os.path.join(ROOT, "..", "shared", "data", "pacs64")
TINY = os.path.join(ROOT, "..", "shared", "data", "tiny-imagenet-200")
OUT_DIR = os.path.join(ROOT, "models", "pacs")
DOMAINS = ["art_painting", "cartoon", "photo", "sketch"]
CLASSES = ["dog", "elephant", "giraffe", "guitar", "horse", "house", "person"]
SEEDS = {"art_painting": 1, "cartoon": 2, "photo": 3, "sketch": 4}
WIDTHS = (16, 32, 64, 128)
MEAN, STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
STEPS = 4000        # target optimiser steps of a domain parent (about 190 epochs of photo, 80 of sketch)
BATCH = 64
LR = 0.1


# ------------------------------------------------------------------------------------------- data


def read_list(domain, split):
    path = os.path.join(PACS, f"{domain}_{split}.txt")
    items = []
    with open(path) as f:
        for line in f:
            if line.strip():
                rel, lab = line.rsplit(None, 1)
                items.append((os.path.join(PACS, rel), int(lab)))
    return items


def read_tiny():
    wnids = [w.strip() for w in open(os.path.join(TINY, "wnids.txt")) if w.strip()]
    pos = {w: i for i, w in enumerate(wnids)}
    items = []
    with open(os.path.join(TINY, "val", "val_annotations.txt")) as f:
        for line in f:
            p = line.rstrip("\n").split("\t")
            if len(p) >= 2:
                items.append((os.path.join(TINY, "val", "images", p[0]), pos[p[1]]))
    return items, len(wnids)


def load_images(items, size=64):
    """uint8 [N, 3, size, size] (RGB; grayscale files converted) and int64 labels."""
    x = np.empty((len(items), 3, size, size), np.uint8)
    for i, (p, _) in enumerate(items):
        im = Image.open(p).convert("RGB")
        if im.size != (size, size):
            im = im.resize((size, size), Image.BILINEAR)
        x[i] = np.asarray(im).transpose(2, 0, 1)
    y = np.array([lab for _, lab in items], np.int64)
    return torch.from_numpy(x), torch.from_numpy(y)


_MEAN = torch.tensor(MEAN).view(1, 3, 1, 1)
_STD = torch.tensor(STD).view(1, 3, 1, 1)


def to_input(x_u8):
    # ToTensor + Normalize, in the same order of operations as the engine's transform.
    return (x_u8.float() / 255.0 - _MEAN) / _STD


def augment(xb, gen, pad=8):
    n, _, h, w = xb.shape
    xp = F.pad(xb.float(), (pad, pad, pad, pad), mode="reflect")
    ox = torch.randint(0, 2 * pad + 1, (n,), generator=gen)
    oy = torch.randint(0, 2 * pad + 1, (n,), generator=gen)
    flip = torch.rand(n, generator=gen) < 0.5
    out = torch.empty(n, 3, h, w)
    for i in range(n):
        c = xp[i, :, oy[i] : oy[i] + h, ox[i] : ox[i] + w]
        out[i] = c.flip(2) if flip[i] else c
    return out.round().clamp(0, 255).to(torch.uint8)


@torch.no_grad()
def predict(model, x_u8, batch=500):
    model.eval()
    return torch.cat([model(to_input(x_u8[i : i + batch])) for i in range(0, len(x_u8), batch)])


# -------------------------------------------------------------------------------------- training


def make_model(num_classes, seed):
    torch.manual_seed(seed)
    return ResNet("basic", (2, 2, 2, 2), WIDTHS, WIDTHS[0], num_classes)


def train(model, x, y, seed, epochs, lr, log, max_steps=None):
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9, nesterov=True, weight_decay=5e-4)
    spe = math.ceil(len(x) / BATCH)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=spe * epochs, pct_start=0.2,
                                                anneal_strategy="cos", cycle_momentum=False, div_factor=10.0,
                                                final_div_factor=100.0)
    t0, step = time.time(), 0
    for ep in range(epochs):
        model.train()
        perm = torch.randperm(len(x), generator=gen)
        tl, tc, tn, te = 0.0, 0, 0, time.time()
        for s in range(spe):
            b = perm[s * BATCH : (s + 1) * BATCH]
            if len(b) < 2:  # BatchNorm needs two samples
                continue
            xb, yb = to_input(augment(x[b], gen)), y[b]
            out = model(xb)
            loss = F.cross_entropy(out, yb, label_smoothing=0.1)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            step += 1
            tl += loss.item() * len(b)
            tc += (out.argmax(1) == yb).sum().item()
            tn += len(b)
            if max_steps and step >= max_steps:
                return model, time.time() - t0
        log(f"epoch {ep + 1}/{epochs}: loss {tl / tn:.4f}, train acc {100 * tc / tn:.2f}%, "
            f"lr {sched.get_last_lr()[0]:.5f}, {time.time() - te:.1f} s (total {time.time() - t0:.0f} s)")
    return model.eval(), time.time() - t0


def epochs_for(n):
    return max(8, round(STEPS / math.ceil(n / BATCH)))


# --------------------------------------------------------------------------------------- writing


def write_model(model, path, info):
    """Writes through convert_torch's own code path (same names and metadata as converted
    checkpoints); training settings become source_<key> metadata."""
    name = os.path.splitext(os.path.basename(path))[0]
    with tempfile.TemporaryDirectory() as td:
        ckpt = os.path.join(td, name + ".pt")
        sd = {k: v.detach().clone() for k, v in model.state_dict().items()}
        torch.save(dict(state_dict=sd, **info), ckpt)
        sd2, cfg, meta = convert_torch.convert_checkpoint(ckpt, arch=None, classes=list(CLASSES), mean=list(MEAN),
                                                          std=list(STD))
        del meta["source_sha256"]  # hash of a temporary file that is not kept
        meta["image_size"] = "64"
        meta["input_resize"] = "64"  # images of other sizes (Tiny ImageNet is 64 too; CIFAR 32) are resized
        convert_torch.write_output(path, sd2, meta)


def load_st(path):
    tensors, meta = st_io.load(path, as_torch=True)
    m = build_model(json.loads(meta["config"]))
    m.load_state_dict({k: v for k, v in tensors.items()}, strict=False)
    return m.eval()


# ------------------------------------------------------------------------------------------ runs


def run(name, log_dir=OUT_DIR, max_steps=None):
    torch.set_num_threads(2)
    torch.use_deterministic_algorithms(True)
    os.makedirs(os.path.join(log_dir, "logs"), exist_ok=True)
    log_path = os.path.join(log_dir, "logs", f"{name}.log")
    lines = []

    def log(s):
        print(f"[{name}] {s}", flush=True)
        lines.append(s)

    t0 = time.time()
    if name == "base":
        items, nc = read_tiny()
        x, y = load_images(items)
        seed, epochs, lr = 100, 30, LR
        log(f"Tiny ImageNet val: {len(x)} images, {nc} classes; seed {seed}, {epochs} epochs, peak lr {lr}")
        model = make_model(nc, seed)
        model, secs = train(model, x, y, seed, epochs, lr, log, max_steps)
        info = dict(seed=seed, epochs=epochs, lr=lr, data="tiny-imagenet-200/val", recipe="tools/train_parents.py")
        if max_steps:
            return secs
        # The base keeps its 200-way head in the file (classes are Tiny ImageNet's wnids).
        path = os.path.join(log_dir, "pacs_base.pt")
        torch.save({"state_dict": model.state_dict(), **info}, path)
    else:
        ft = name.startswith("ft_")
        domain = name[3:] if ft else name
        if domain not in DOMAINS:
            raise SystemExit(f"unknown model {name}: one of {DOMAINS}, base, ft_<domain>")
        x, y = load_images(read_list(domain, "train"))
        if ft:
            seed = 200 + DOMAINS.index(domain)
            epochs, lr = max(4, epochs_for(len(x)) // 2), LR * 0.3
            base = torch.load(os.path.join(log_dir, "pacs_base.pt"))
            model = make_model(len(CLASSES), seed)
            sd = {k: v for k, v in base["state_dict"].items() if not k.startswith("fc.")}
            missing = model.load_state_dict(sd, strict=False).missing_keys
            assert sorted(missing) == ["fc.bias", "fc.weight"], missing
        else:
            seed, epochs, lr = SEEDS[domain], epochs_for(len(x)), LR
            model = make_model(len(CLASSES), seed)
        log(f"{domain}_train: {len(x)} images; {'fine-tune of pacs_base' if ft else 'from scratch'}; seed {seed}, "
            f"{epochs} epochs, peak lr {lr}")
        model, secs = train(model, x, y, seed, epochs, lr, log, max_steps)
        if max_steps:
            return secs
        xt, yt = load_images(read_list(domain, "test"))
        acc = 100.0 * (predict(model, xt).argmax(1) == yt).float().mean().item()
        log(f"{domain}_test accuracy {acc:.2f}% ({len(xt)} images)")
        info = dict(seed=seed, epochs=epochs, lr=lr, data=f"pacs64/{domain}_train.txt", train_seconds=round(secs),
                    finetune_of="pacs_base" if ft else "none", recipe="tools/train_parents.py")
        out = os.path.join(log_dir, f"pacs_{name}.safetensors")
        write_model(model, out, info)
        log(f"wrote {os.path.relpath(out, ROOT)} ({os.path.getsize(out) / 1e6:.2f} MB)")
    log(f"done in {time.time() - t0:.0f} s")
    with open(log_path, "w") as f:
        f.write("\n".join(lines) + "\n")


def table(log_dir=OUT_DIR):
    torch.set_num_threads(2)
    tests = {d: load_images(read_list(d, "test")) for d in DOMAINS}
    rows = {}
    names = [f"pacs_{d}" for d in DOMAINS] + [f"pacs_ft_{d}" for d in DOMAINS]
    for n in names:
        p = os.path.join(log_dir, n + ".safetensors")
        if not os.path.exists(p):
            continue
        m = load_st(p)
        rows[n] = {d: round(100.0 * (predict(m, x).argmax(1) == y).float().mean().item(), 2)
                   for d, (x, y) in tests.items()}
    with open(os.path.join(log_dir, "accuracy.json"), "w") as f:
        json.dump({"metric": "top-1 % on <domain>_test.txt", "models": rows}, f, indent=2)
    md = ["| model | " + " | ".join(DOMAINS) + " |", "|---" * (len(DOMAINS) + 1) + "|"]
    for n, r in rows.items():
        md.append(f"| {n} | " + " | ".join(f"{r[d]:.2f}" for d in DOMAINS) + " |")
    with open(os.path.join(log_dir, "accuracy.md"), "w") as f:
        f.write("\n".join(md) + "\n")
    print("\n".join(md))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", action="append", help="art_painting | cartoon | photo | sketch | base | ft_<domain>")
    ap.add_argument("--all", action="store_true", help="every model, then the table")
    ap.add_argument("--table", action="store_true", help="accuracy of every model on every domain's test list")
    ap.add_argument("--time-steps", type=int, help="time this many training steps of a photo parent, write nothing")
    ap.add_argument("--out", default=OUT_DIR, help="output folder (default models/pacs)")
    a = ap.parse_args(argv)
    if a.time_steps:
        s = run("photo", tempfile.mkdtemp(), max_steps=a.time_steps)
        print(f"{a.time_steps} steps in {s:.1f} s: {s / a.time_steps:.3f} s/step")
        return
    models = a.model or []
    if a.all:
        models = DOMAINS + ["base"] + [f"ft_{d}" for d in DOMAINS]
    for n in models:
        run(n, a.out)
    if a.table or a.all:
        table(a.out)


if __name__ == "__main__":
    main()
