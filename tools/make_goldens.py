#!/usr/bin/env python3
"""Writes the golden fixtures under tests/goldens/ (see tests/goldens/README.md).

usage: make_goldens.py [--out DIR] [--only NAME,...] [--verify]

For every golden NAME two safetensors files (written by tools/st_io.py, not the pip package):
  NAME.weights.safetensors  the model's state dict (no num_batches_tracked), metadata exactly as
                            convert_torch.py writes it ("config" JSON, "arch", ...)
  NAME.io.safetensors       "input" [B,3,H,W], "logits" [B,classes], and for each hooked module
                            path P: "act.P.out" (its output) and, for hooks listed as "P:in",
                            "act.P.in" (the module's first positional input); metadata "config"
                            (same JSON), "hooks" (comma-separated), "reference" (how computed)
All reference values are computed in float64 from the float32 weights/input (cast up exactly), then
rounded to float32; metadata "f32_max_abs_diff_logits" is the max |difference| of a plain float32
PyTorch forward from those values (a guide for test tolerances).

--verify rebuilds each model from the "config" metadata of the committed files, reruns it and
compares with the stored logits/activations (exit 1 on mismatch).
"""
import argparse
import json
import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn as nn  # noqa: E402

import st_io  # noqa: E402
from convert_torch import FORMAT_VERSION, TINTN_MEAN, TINTN_STD, _s, convert_checkpoint, engine_metadata  # noqa: E402
from pt_models import build_model, count_params, timm_to_tintn, tintn_from_config  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# name -> (config, batch, seed, hooked module paths). "P" records act.P.out, "P:in" records
# act.P.in as well.
GOLDENS = {
    "cifar_resnet20": (
        {"arch": "cifar_resnet20", "family": "cifar_resnet", "depth": 20, "width": 16, "num_classes": 10,
         "shortcut": "A", "bn_eps": 1e-5, "image_size": 32},
        2, 20,
        ["conv1", "bn1", "layer1.0.conv1", "layer1.0:in", "layer2.0:in", "layer2.0.conv1", "layer2.0.shortcut",
         "layer3.0:in", "layer3.2.bn2", "layer3", "linear:in"],
    ),
    "resnet18_w12": (
        {"arch": "resnet18", "family": "resnet", "block": "basic", "layers": [2, 2, 2, 2], "stem_width": 12,
         "widths": [12, 24, 48, 96], "width_per_group": 64, "num_classes": 10, "bn_eps": 1e-5, "image_size": 64},
        2, 18,
        ["conv1", "bn1", "relu", "maxpool", "layer1.0.conv1", "layer1.0", "layer2.0:in", "layer2.0.downsample",
         "layer2.0.downsample.0", "layer3.1.bn2", "layer4", "avgpool", "fc:in"],
    ),
    "resnet50_w8": (
        {"arch": "resnet50", "family": "resnet", "block": "bottleneck", "layers": [3, 4, 6, 3], "stem_width": 8,
         "widths": [8, 16, 32, 64], "width_per_group": 64, "num_classes": 10, "bn_eps": 1e-5, "image_size": 64},
        2, 50,
        ["conv1", "maxpool", "layer1.0:in", "layer1.0.conv3", "layer1.0.downsample", "layer2.0.conv2:in",
         "layer2.0", "layer2.0.downsample", "layer3.5:in", "layer4.2.bn3", "layer4", "avgpool", "fc:in"],
    ),
    "vit_tiny": (
        {"arch": "vit", "family": "vit", "image_size": 32, "patch_size": 8, "dim": 64, "depth": 2, "heads": 4,
         "mlp_dim": 256, "num_classes": 10, "ln_eps": 1e-6, "qkv_bias": True, "pool": "cls", "gelu": "erf"},
        2, 7,
        ["patch_embed.proj", "patch_embed", "blocks.0.norm1:in", "blocks.0.attn.qkv", "blocks.0.attn.proj:in",
         "blocks.0.attn", "blocks.0.mlp.fc1:in", "blocks.0.mlp.act", "blocks.0.mlp", "blocks.0", "blocks.1",
         "norm", "head:in"],
    ),
    # The tintn tutorial layout (the zoo's vit_tintn_*.pt) at reduced size: tanh GELU, no final
    # LayerNorm (head on the last block's cls token), LayerNorm eps 1e-5, head width 12 as in the zoo.
    # Stored converted (engine names); make_one checks it against TintnViT and the converter.
    "vit_tintn": (
        {"arch": "vit", "family": "vit", "image_size": 32, "patch_size": 8, "dim": 48, "depth": 2, "heads": 4,
         "mlp_dim": 192, "num_classes": 10, "ln_eps": 1e-5, "qkv_bias": True, "pool": "cls", "gelu": "tanh",
         "act": "gelu_tanh", "final_norm": "none", "layout": "tintn"},
        2, 13,
        ["patch_embed.proj", "patch_embed", "blocks.0.norm1:in", "blocks.0.attn.qkv", "blocks.0.attn.proj:in",
         "blocks.0.attn", "blocks.0.mlp.fc1:in", "blocks.0.mlp.act", "blocks.0.mlp", "blocks.0", "blocks.1.norm2:in",
         "blocks.1.mlp.act", "blocks.1", "head:in"],
    ),
}


def randomise(model, cfg, seed):
    """Deterministic random weights with non-trivial eval-mode BatchNorm / LayerNorm."""
    torch.manual_seed(seed)
    fam = cfg["family"]
    with torch.no_grad():
        if fam in ("cifar_resnet", "resnet"):
            # Running stats from random data (cumulative average) so activations stay O(1) through
            # the depth, then perturbed; affine parameters random.
            bns = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
            for m in bns:
                m.reset_running_stats()
                m.momentum = None
            model.train()
            for _ in range(4):
                model(torch.randn(8, 3, cfg["image_size"], cfg["image_size"]))
            model.eval()
            for m in bns:
                m.momentum = 0.1
                c = m.num_features
                m.running_mean.add_(0.1 * torch.randn(c) * m.running_var.sqrt())
                m.running_var.mul_(torch.empty(c).uniform_(0.8, 1.25))
                m.weight.copy_(torch.empty(c).uniform_(0.5, 1.5))
                m.bias.copy_(0.2 * torch.randn(c))
            for name, p in model.named_parameters():
                if name.endswith(".bias") and name.split(".")[0] in ("fc", "linear"):
                    p.copy_(0.1 * torch.randn_like(p))
        elif fam == "vit":
            for name, p in model.named_parameters():
                if "norm" in name and name.endswith("weight"):
                    p.copy_(torch.empty_like(p).uniform_(0.5, 1.5))
                elif name.endswith("bias"):
                    p.copy_(0.1 * torch.randn_like(p))
                elif name in ("cls_token", "pos_embed"):
                    p.copy_(0.5 * torch.randn_like(p))
                # Linear/Conv weights keep PyTorch's default (kaiming-uniform) init
        else:
            raise ValueError(fam)
    return model.eval()


def forward_with_hooks(model, x, hooks):
    acts = {}
    handles = []
    mods = dict(model.named_modules())
    for spec in hooks:
        path, _, want_in = spec.partition(":")
        if path not in mods:
            raise KeyError(f"no module {path!r}")

        def hook(mod, inp, out, path=path, want_in=bool(want_in)):
            if f"act.{path}.out" in acts:
                raise RuntimeError(f"module {path} ran twice in one forward; cannot hook it unambiguously")
            if want_in:
                acts[f"act.{path}.in"] = inp[0].detach().clone()
            acts[f"act.{path}.out"] = out.detach().clone()

        handles.append(mods[path].register_forward_hook(hook))
    try:
        with torch.no_grad():
            logits = model(x)
    finally:
        for h in handles:
            h.remove()
    missing = [p for p in hooks if f"act.{p.partition(':')[0]}.out" not in acts]
    if missing:
        raise RuntimeError(f"hooks never fired: {missing}")
    return logits, acts


def weight_metadata(cfg, name):
    meta = {k: _s(v) for k, v in cfg.items()}
    meta["config"] = json.dumps(cfg, sort_keys=True)
    meta["format_version"] = FORMAT_VERSION
    meta["source"] = f"make_goldens.py:{name}"
    meta.update({k: _s(v) for k, v in engine_metadata(cfg).items()})
    if cfg.get("layout") == "tintn":  # as convert_torch.py writes for this layout
        meta["input_mean"], meta["input_std"] = _s(TINTN_MEAN), _s(TINTN_STD)
    return meta


def check_tintn(name, cfg, sd, x, logits64):
    """The tintn golden is what the converter makes of a tintn-named checkpoint, and TintnViT (the
    tutorial's module structure) computes the same logits."""
    tsd = timm_to_tintn(sd)
    with tempfile.TemporaryDirectory() as d:
        pt = os.path.join(d, f"{name}.pt")
        torch.save(tsd, pt)
        csd, ccfg, _ = convert_checkpoint(pt, heads=cfg["heads"])
    if ccfg != cfg or sorted(csd) != sorted(sd) or not all(torch.equal(csd[k], sd[k]) for k in sd):
        raise RuntimeError(f"{name}: convert_torch.py does not reproduce the golden (config {ccfg})")
    t = tintn_from_config(cfg).double()
    t.load_state_dict({k: v.double() for k, v in tsd.items()}, strict=True)
    with torch.no_grad():
        d = (t(x.double()) - logits64).abs().max().item()
    if d > 1e-10:
        raise RuntimeError(f"{name}: TintnViT differs from the timm-named ViT by {d:.3e}")


def make_one(name, outdir):
    cfg, batch, seed, hooks = GOLDENS[name]
    torch.manual_seed(seed)
    model = build_model(cfg)
    randomise(model, cfg, seed)
    sd = {k: v.detach().clone().float() for k, v in model.state_dict().items() if not k.endswith("num_batches_tracked")}
    g = torch.Generator().manual_seed(seed + 1000)
    x = torch.randn(batch, 3, cfg["image_size"], cfg["image_size"], generator=g)

    logits32, _ = forward_with_hooks(model, x, [])
    model64 = build_model(cfg).double()
    model64.load_state_dict({k: v.double() for k, v in model.state_dict().items()})
    logits64, acts64 = forward_with_hooks(model64.eval(), x.double(), hooks)
    diff = (logits32.double() - logits64).abs().max().item()
    if cfg.get("layout") == "tintn":
        check_tintn(name, cfg, sd, x, logits64)

    io = {"input": x, "logits": logits64.float()}
    io.update({k: v.float() for k, v in acts64.items()})
    full_cfg = dict(cfg, batch=batch, seed=seed)
    wmeta = weight_metadata(cfg, name)
    wmeta["config"] = json.dumps(full_cfg, sort_keys=True)
    iometa = {
        "config": json.dumps(full_cfg, sort_keys=True),
        "hooks": ",".join(hooks),  # "P" -> act.P.out; "P:in" -> act.P.in and act.P.out
        "reference": "float64 forward of the float32 weights and input, rounded to float32; "
                     "act.P.in = first positional input of module P, act.P.out = its output",
        "input": "torch.randn (already normalised), NCHW",
        "f32_max_abs_diff_logits": f"{diff:.3e}",
        "max_abs_logit": f"{logits64.abs().max().item():.4g}",
        "torch_version": torch.__version__,
        "format_version": FORMAT_VERSION,
    }
    wpath = os.path.join(outdir, f"{name}.weights.safetensors")
    iopath = os.path.join(outdir, f"{name}.io.safetensors")
    nw = st_io.save(wpath, sd, wmeta)
    nio = st_io.save(iopath, io, iometa)
    print(f"{name}: {count_params(model)} params, weights {nw} B, io {nio} B, logits |max| "
          f"{logits64.abs().max().item():.3g}, f32-vs-f64 {diff:.2e}")
    return nw + nio


def verify_one(name, outdir):
    wt, wmeta = st_io.load(os.path.join(outdir, f"{name}.weights.safetensors"), as_torch=True)
    io, iometa = st_io.load(os.path.join(outdir, f"{name}.io.safetensors"), as_torch=True)
    cfg = json.loads(wmeta["config"])
    model = build_model(cfg).double()
    model.load_state_dict({k: v.double() for k, v in wt.items()}, strict=False)
    hooks = iometa["hooks"].split(",")
    logits, acts = forward_with_hooks(model.eval(), io["input"].double(), hooks)
    worst = 0.0
    for k, ref in [("logits", logits)] + sorted(acts.items()):
        d = (ref.float() - io[k]).abs().max().item()
        scale = max(1.0, io[k].abs().max().item())
        worst = max(worst, d / scale)
    ok = worst < 1e-5
    print(f"{name}: verify {'ok' if ok else 'MISMATCH'} (max rel diff {worst:.2e}, {len(io)} io tensors)")
    return ok


def main(argv=None):
    ap = argparse.ArgumentParser(description="Write/verify the golden fixtures.")
    ap.add_argument("--out", default=os.path.join(ROOT, "tests", "goldens"))
    ap.add_argument("--only", help="comma-separated golden names (default all: " + ",".join(GOLDENS) + ")")
    ap.add_argument("--verify", action="store_true", help="check the existing files instead of writing")
    a = ap.parse_args(argv)
    torch.set_num_threads(1)
    names = a.only.split(",") if a.only else list(GOLDENS)
    bad = [n for n in names if n not in GOLDENS]
    if bad:
        print(f"make_goldens.py: error: unknown golden(s) {bad}", file=sys.stderr)
        return 2
    if a.verify:
        return 0 if all([verify_one(n, a.out) for n in names]) else 1
    os.makedirs(a.out, exist_ok=True)
    total = sum(make_one(n, a.out) for n in names)
    print(f"total {total} B")
    ok = all([verify_one(n, a.out) for n in names])
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
