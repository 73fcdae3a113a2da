#!/usr/bin/env python3
"""Convert a PyTorch checkpoint to .safetensors (or .h5) with architecture metadata.

usage: convert_torch.py IN OUT [--arch NAME] [--classes A,B,...] [--heads H] [--config FILE.json]
                        [--mean R,G,B] [--std R,G,B]

See tools/README.md. Exit status 0 on success, 2 on any user-facing error (message names the file).
"""
import argparse
import hashlib
import json
import os
import re
import sys
from collections import Counter

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import numpy as np  # noqa: E402

FORMAT_VERSION = "1"
IMAGENET_MEAN = [0.485, 0.456, 0.406]
IMAGENET_STD = [0.229, 0.224, 0.225]
CIFAR10_CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
WRAPPER_KEYS = ("state_dict", "model_state_dict", "model", "net", "module", "params")
STRIP_PREFIXES = ("module.", "_orig_mod.")
# ViT heads cannot be read from the weights: presets by embed dim (timm/torchvision convention).
HEADS_BY_DIM = {192: 3, 384: 6, 768: 12, 1024: 16, 1280: 16}
# The tintn tutorial ViT (tintn/vision-transformer-from-scratch; the zoo's vit_tintn_*.pt): inputs
# (x - 0.5) / 0.5, CIFAR-10 classes.
TINTN_MEAN = [0.5, 0.5, 0.5]
TINTN_STD = [0.5, 0.5, 0.5]
TINTN_PATCH = "embedding.patch_embeddings.projection"
# tutorial config key -> our config key, cross-checked against the weights when --config is given
TINTN_CONFIG_KEYS = {"hidden_size": "dim", "num_hidden_layers": "depth", "intermediate_size": "mlp_dim",
                     "patch_size": "patch_size", "image_size": "image_size", "num_classes": "num_classes",
                     "qkv_bias": "qkv_bias"}
# hidden_act values (HuggingFace naming) -> engine act; the tutorial has no such key and always
# uses the tanh approximation (its NewGELUActivation)
HIDDEN_ACTS = {"gelu_new": "gelu_tanh", "gelu_tanh": "gelu_tanh", "gelu_pytorch_tanh": "gelu_tanh", "gelu": "gelu"}


class ConvertError(Exception):
    pass


# --------------------------------------------------------------------------------------------
# loading
# --------------------------------------------------------------------------------------------


def load_checkpoint(path):
    import torch

    if not os.path.exists(path):
        raise ConvertError(f"{path}: no such file")
    if os.path.isdir(path):
        raise ConvertError(f"{path}: is a directory, expected a torch checkpoint file")
    try:
        # map_location: the akamaster files were saved from cuda:0.
        return torch.load(path, map_location="cpu")
    except Exception as e:  # pickle errors, bad zip, bad magic number, EOF ...
        raise ConvertError(f"{path}: not a PyTorch checkpoint (torch.load failed: {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''})")


def find_state_dict(obj, depth=0):
    """Returns the state dict inside a checkpoint object, or None."""
    import torch

    if isinstance(obj, torch.nn.Module):
        return obj.state_dict()
    if isinstance(obj, dict) and depth < 4:
        tensors = {k: v for k, v in obj.items() if isinstance(v, torch.Tensor)}
        if tensors and len(tensors) == len(obj):
            return obj
        for key in WRAPPER_KEYS:
            if key in obj:
                sd = find_state_dict(obj[key], depth + 1)
                if sd:
                    return sd
    return None


def clean_state_dict(sd):
    """Strips DataParallel/compile prefixes, drops num_batches_tracked. Returns {name: tensor}."""
    out = {}
    for k, v in sd.items():
        changed = True
        while changed:
            changed = False
            for p in STRIP_PREFIXES:
                if k.startswith(p):
                    k, changed = k[len(p):], True
        if k.endswith("num_batches_tracked"):
            continue
        if k in out:
            raise ConvertError(f"duplicate tensor name after prefix stripping: {k}")
        out[k] = v.detach().cpu().contiguous()
    return out


# --------------------------------------------------------------------------------------------
# architecture inference
# --------------------------------------------------------------------------------------------


def _count_blocks(sd, prefix):
    """Number of consecutive integer children prefix.0, prefix.1, ... present in the keys."""
    idx = set()
    pat = re.compile(re.escape(prefix) + r"\.?(\d+)\.")
    for k in sd:
        m = pat.match(k)
        if m:
            idx.add(int(m.group(1)))
    n = 0
    while n in idx:
        n += 1
    return n


def _shape(sd, k):
    return tuple(sd[k].shape)


def _check_block_indices(sd, prefix, what):
    """Block indices under prefix (e.g. "blocks.") must be 0..n-1 without gaps; returns n."""
    pat = re.compile(re.escape(prefix) + r"(\d+)\.")
    idx = sorted({int(m.group(1)) for m in (pat.match(k) for k in sd) if m})
    if not idx:
        raise ConvertError(f"{what}: no blocks ({prefix}N.* tensors) found")
    missing = [i for i in range(idx[-1] + 1) if i not in idx]
    if missing:
        raise ConvertError(f"{what}: block {prefix}{missing[0]} is missing (all its tensors are absent; "
                           f"blocks present: {', '.join(map(str, idx))}; a checkpoint of {idx[-1] + 1} blocks needs 0..{idx[-1]})")
    return len(idx)


def _expect_shape(sd, k, shape, what):
    if k not in sd:
        raise ConvertError(f"{what}: tensor {k} is missing (expected shape {list(shape)})")
    if tuple(sd[k].shape) != tuple(shape):
        raise ConvertError(f"{what}: {k} has shape {list(sd[k].shape)}, expected {list(shape)}")


def infer_cifar_resnet(sd):
    w = _shape(sd, "conv1.weight")
    if len(w) != 4 or w[1:] != (3, 3, 3):
        raise ConvertError(f"cifar_resnet: conv1.weight has shape {w}, expected [width, 3, 3, 3]")
    width = w[0]
    n = [_count_blocks(sd, f"layer{s}.") for s in (1, 2, 3)]
    if n[0] == 0 or len(set(n)) != 1:
        raise ConvertError(f"cifar_resnet: block counts per stage {n} must be equal and non-zero")
    for s, c in ((1, width), (2, 2 * width), (3, 4 * width)):
        got = _shape(sd, f"layer{s}.0.conv2.weight")[0]
        if got != c:
            raise ConvertError(f"cifar_resnet: layer{s} has {got} channels, expected {c} for base width {width}")
    nc, fin = _shape(sd, "linear.weight")
    if fin != 4 * width:
        raise ConvertError(f"cifar_resnet: linear.weight has {fin} inputs, expected {4 * width}")
    depth = 6 * n[0] + 2
    return {"arch": f"cifar_resnet{depth}", "family": "cifar_resnet", "depth": depth, "width": width,
            "num_classes": nc, "shortcut": "A", "bn_eps": 1e-5}


def infer_resnet(sd):
    from pt_models import RESNET_LAYERS

    w = _shape(sd, "conv1.weight")
    if len(w) != 4 or w[1:] != (3, 7, 7):
        raise ConvertError(f"resnet: conv1.weight has shape {w}, expected [stem, 3, 7, 7]")
    bottleneck = "layer1.0.conv3.weight" in sd
    block = "bottleneck" if bottleneck else "basic"
    layers = [_count_blocks(sd, f"layer{s}.") for s in (1, 2, 3, 4)]
    if 0 in layers:
        raise ConvertError(f"resnet: block counts per stage {layers}")
    widths, inner = [], []
    for s in (1, 2, 3, 4):
        if bottleneck:
            widths.append(_shape(sd, f"layer{s}.0.conv3.weight")[0] // 4)
            c2 = _shape(sd, f"layer{s}.0.conv2.weight")
        else:
            widths.append(_shape(sd, f"layer{s}.0.conv1.weight")[0])
            c2 = _shape(sd, f"layer{s}.0.conv2.weight")
        if c2[0] != c2[1]:
            raise ConvertError(f"resnet: layer{s}.0.conv2 is a grouped convolution {c2} (ResNeXt is not supported)")
        inner.append(c2[0])
    wpg = 64
    if bottleneck:
        wpg = inner[0] * 64 // widths[0]
        if any(int(p * wpg / 64) != i for p, i in zip(widths, inner)):
            raise ConvertError(f"resnet: bottleneck inner widths {inner} not consistent with planes {widths}")
    nc, fin = _shape(sd, "fc.weight")
    if fin != widths[3] * (4 if bottleneck else 1):
        raise ConvertError(f"resnet: fc.weight has {fin} inputs, expected {widths[3] * (4 if bottleneck else 1)}")
    depth = sum(layers) * (3 if bottleneck else 2) + 2
    arch = f"resnet{depth}"
    if arch in RESNET_LAYERS and RESNET_LAYERS[arch] != (block, layers):
        arch = f"resnet{depth}_{block}"
    if wpg != 64:
        arch = {("resnet50", 128): "wide_resnet50_2", ("resnet101", 128): "wide_resnet101_2"}.get((arch, wpg), arch)
    return {"arch": arch, "family": "resnet", "block": block, "layers": layers, "stem_width": w[0], "widths": widths,
            "width_per_group": wpg, "num_classes": nc, "bn_eps": 1e-5}


def _vit_arch_name(presets, dim, depth, heads, patch):
    for name, (d, L, h, p, _img) in presets.items():
        if (d, L, h, p) == (dim, depth, heads, patch):
            return name
    return None


def infer_vit(sd, heads=None, arch=None):
    from pt_models import VIT_PRESETS

    dim, cin, p, p2 = _shape(sd, "patch_embed.proj.weight")
    if cin != 3 or p != p2:
        raise ConvertError(f"vit: patch_embed.proj.weight has shape {(dim, cin, p, p2)}")
    if "cls_token" not in sd or "pos_embed" not in sd:
        raise ConvertError("vit: cls_token/pos_embed missing (only class-token ViTs are supported)")
    ntok = _shape(sd, "pos_embed")[1] - 1
    g = int(round(ntok ** 0.5))
    if g * g != ntok:
        raise ConvertError(f"vit: pos_embed has {ntok} patch tokens, not a square grid")
    depth = _check_block_indices(sd, "blocks.", "vit")
    mlp_dim = _shape(sd, "blocks.0.mlp.fc1.weight")[0]
    nc = _shape(sd, "head.weight")[0] if "head.weight" in sd else 0
    if arch and arch in VIT_PRESETS:
        heads = heads or VIT_PRESETS[arch][2]
    heads = heads or HEADS_BY_DIM.get(dim, max(1, dim // 64))
    name = _vit_arch_name(VIT_PRESETS, dim, depth, heads, p) or "vit"
    return {"arch": name, "family": "vit", "image_size": g * p, "patch_size": p, "dim": dim, "depth": depth,
            "heads": heads, "mlp_dim": mlp_dim, "num_classes": nc, "ln_eps": 1e-6,
            "qkv_bias": "blocks.0.attn.qkv.bias" in sd, "pool": "cls", "gelu": "erf"}


def infer_tintn_vit(sd, heads=None, arch=None, vit_config=None):
    """The tintn tutorial ViT (own names). Heads come from --heads or --config (num_attention_heads);
    the weights do not determine them."""
    from pt_models import VIT_PRESETS

    what = "tintn vit"
    pw = _shape(sd, TINTN_PATCH + ".weight") if TINTN_PATCH + ".weight" in sd else None
    if pw is None or len(pw) != 4 or pw[1] != 3 or pw[2] != pw[3]:
        raise ConvertError(f"{what}: {TINTN_PATCH}.weight has shape {list(pw) if pw else None}, expected [D, 3, p, p]")
    dim, _, p, _ = pw
    _expect_shape(sd, TINTN_PATCH + ".bias", (dim,), what)
    _expect_shape(sd, "embedding.cls_token", (1, 1, dim), what)
    if "embedding.position_embeddings" not in sd:
        raise ConvertError(f"{what}: tensor embedding.position_embeddings is missing (expected [1, 1 + patches, {dim}])")
    pos = _shape(sd, "embedding.position_embeddings")
    if len(pos) != 3 or pos[0] != 1 or pos[2] != dim:
        raise ConvertError(f"{what}: embedding.position_embeddings has shape {list(pos)}, expected [1, 1 + patches, {dim}]")
    ntok = pos[1] - 1
    g = int(round(max(ntok, 0) ** 0.5))
    if ntok < 1 or g * g != ntok:
        raise ConvertError(f"{what}: embedding.position_embeddings has {ntok} patch tokens, not a square grid")
    depth = _check_block_indices(sd, "encoder.blocks.", what)
    k1 = "encoder.blocks.0.mlp.dense_1.weight"
    if k1 not in sd or len(sd[k1].shape) != 2:
        raise ConvertError(f"{what}: tensor {k1} is missing or not a matrix (expected [mlp_dim, {dim}])")
    mlp_dim = _shape(sd, k1)[0]
    qkv_bias = "encoder.blocks.0.attention.qkv_projection.bias" in sd
    for i in range(depth):
        b = f"encoder.blocks.{i}."
        _expect_shape(sd, b + "attention.qkv_projection.weight", (3 * dim, dim), what)
        if qkv_bias:
            _expect_shape(sd, b + "attention.qkv_projection.bias", (3 * dim,), what)
        _expect_shape(sd, b + "attention.output_projection.weight", (dim, dim), what)
        _expect_shape(sd, b + "mlp.dense_1.weight", (mlp_dim, dim), what)
        _expect_shape(sd, b + "mlp.dense_2.weight", (dim, mlp_dim), what)
        for ln in ("layernorm_1", "layernorm_2"):
            _expect_shape(sd, b + ln + ".weight", (dim,), what)
    if "classifier.weight" not in sd or len(sd["classifier.weight"].shape) != 2 or sd["classifier.weight"].shape[1] != dim:
        got = list(sd["classifier.weight"].shape) if "classifier.weight" in sd else "missing"
        raise ConvertError(f"{what}: classifier.weight is {got}, expected [classes, {dim}]")
    nc = _shape(sd, "classifier.weight")[0]
    cfg = {"arch": "vit", "family": "vit", "image_size": g * p, "patch_size": p, "dim": dim, "depth": depth,
           "heads": 0, "mlp_dim": mlp_dim, "num_classes": nc, "ln_eps": 1e-5, "qkv_bias": qkv_bias, "pool": "cls",
           "gelu": "tanh", "act": "gelu_tanh", "final_norm": "none", "layout": "tintn"}
    cfg_heads = None
    if vit_config is not None:
        conf, conf_path = vit_config
        for ck, k in TINTN_CONFIG_KEYS.items():
            if ck in conf and conf[ck] != cfg[k]:
                raise ConvertError(f"{what}: --config {conf_path} says {ck} = {conf[ck]!r} but the weights have {k} = {cfg[k]!r}")
        if conf.get("num_channels", 3) != 3:
            raise ConvertError(f"{what}: --config {conf_path} says num_channels = {conf['num_channels']!r}; the weights take 3")
        act = conf.get("hidden_act", "gelu_new")
        if act not in HIDDEN_ACTS:
            raise ConvertError(f"{what}: --config {conf_path}: unsupported hidden_act {act!r} (supported: {', '.join(sorted(HIDDEN_ACTS))})")
        cfg["act"], cfg["gelu"] = HIDDEN_ACTS[act], {"gelu_tanh": "tanh", "gelu": "erf"}[HIDDEN_ACTS[act]]
        cfg_heads = conf.get("num_attention_heads")
        if cfg_heads is not None and (not isinstance(cfg_heads, int) or isinstance(cfg_heads, bool) or cfg_heads < 1):
            raise ConvertError(f"{what}: --config {conf_path}: num_attention_heads = {cfg_heads!r} is not a positive integer")
    if heads is not None and cfg_heads is not None and heads != cfg_heads:
        raise ConvertError(f"{what}: --heads {heads} disagrees with num_attention_heads = {cfg_heads} in --config {vit_config[1]}")
    heads = heads if heads is not None else cfg_heads
    if heads is None:
        raise ConvertError(f"{what}: the number of attention heads is not stored in the weights of this layout "
                           f"(qkv_projection is [{3 * dim}, {dim}] for any head count dividing {dim}); pass --heads H or "
                           f"--config CONFIG.json (the tutorial's config, key num_attention_heads, e.g. "
                           f"../shared/data/zoo/vit_tintn_config.json)")
    if heads < 1 or dim % heads:
        raise ConvertError(f"{what}: {heads} attention heads do not divide the hidden size {dim}")
    cfg["heads"] = heads
    if arch is not None:
        if arch in VIT_PRESETS and VIT_PRESETS[arch][:4] != (dim, depth, heads, p):
            raise ConvertError(f"--arch {arch} is (dim, depth, heads, patch) = {VIT_PRESETS[arch][:4]} but the weights are "
                               f"{(dim, depth, heads, p)}")
        cfg["arch"] = arch
    check_names(sd, tintn_reference_shapes(cfg), cfg["arch"] + " (tintn layout)")
    return cfg


def tintn_reference_shapes(cfg):
    import torch

    from pt_models import tintn_from_config

    torch.manual_seed(0)
    return {k: tuple(v.shape) for k, v in tintn_from_config(cfg).state_dict().items()}


def to_engine_names(sd, cfg):
    """The state dict under the names the engine loads (timm's); only the tintn layout is renamed."""
    if cfg.get("layout") == "tintn":
        from pt_models import tintn_to_timm

        return tintn_to_timm(sd)
    return sd


def engine_metadata(cfg):
    """Metadata the engine reads beyond the flat config copies (models/vit.h)."""
    if cfg.get("family") == "vit" and cfg.get("layout") == "tintn":
        return {"num_heads": cfg["heads"]}
    return {}


def infer_tv_vit(sd, heads=None, arch=None):
    from pt_models import TV_VIT_PRESETS

    dim, cin, p, _ = _shape(sd, "conv_proj.weight")
    ntok = _shape(sd, "encoder.pos_embedding")[1] - 1
    g = int(round(ntok ** 0.5))
    if g * g != ntok:
        raise ConvertError(f"tv_vit: encoder.pos_embedding has {ntok} patch tokens, not a square grid")
    depth = _check_block_indices(sd, "encoder.layers.encoder_layer_", "tv_vit")
    mlp_dim = _shape(sd, "encoder.layers.encoder_layer_0.mlp.0.weight")[0]
    nc = _shape(sd, "heads.head.weight")[0]
    if arch and arch in TV_VIT_PRESETS:
        heads = heads or TV_VIT_PRESETS[arch][2]
    heads = heads or HEADS_BY_DIM.get(dim, max(1, dim // 64))
    name = _vit_arch_name(TV_VIT_PRESETS, dim, depth, heads, p) or "tv_vit"
    return {"arch": name, "family": "tv_vit", "image_size": g * p, "patch_size": p, "dim": dim, "depth": depth,
            "heads": heads, "mlp_dim": mlp_dim, "num_classes": nc, "ln_eps": 1e-6, "qkv_bias": True,
            "pool": "cls", "gelu": "erf"}


def describe_keys(sd, limit=12):
    tops = Counter(k.split(".")[0] for k in sd)
    lines = [f"{len(sd)} tensors; top-level names: " + ", ".join(f"{t} ({c})" for t, c in sorted(tops.items())[:30])]
    for k in list(sd)[:limit]:
        lines.append(f"  {k} {list(sd[k].shape)}")
    return "\n".join(lines)


def family_of(sd):
    if "linear.weight" in sd and "conv1.weight" in sd and "layer3.0.conv1.weight" in sd and "layer4.0.conv1.weight" not in sd:
        return "cifar_resnet"
    if "fc.weight" in sd and "conv1.weight" in sd and "layer4.0.conv1.weight" in sd:
        return "resnet"
    if "patch_embed.proj.weight" in sd and "blocks.0.attn.qkv.weight" in sd:
        return "vit"
    if "conv_proj.weight" in sd and "encoder.layers.encoder_layer_0.self_attention.in_proj_weight" in sd:
        return "tv_vit"
    if TINTN_PATCH + ".weight" in sd and any(k.startswith("encoder.blocks.") for k in sd):
        return "tintn_vit"
    return None


def family_of_arch(arch):
    if arch.startswith("cifar_resnet"):
        return "cifar_resnet"
    if arch.startswith("tv_vit"):
        return "tv_vit"
    if arch.startswith("vit"):
        return "vit"
    if arch.startswith("resnet") or arch.startswith("wide_resnet"):
        return "resnet"
    return None


def infer_config(sd, arch=None, heads=None, vit_config=None):
    """vit_config: (dict, path) of a --config file (the tintn tutorial's config json), or None."""
    fam = family_of(sd)
    if fam is None:
        raise ConvertError("unrecognised architecture (supported: CIFAR ResNet (akamaster), torchvision ResNet, "
                           "timm ViT, torchvision ViT, tintn tutorial ViT); found:\n" + describe_keys(sd))
    if vit_config is not None and fam in ("cifar_resnet", "resnet"):
        raise ConvertError(f"--config {vit_config[1]} is for ViT checkpoints, but the weights are a {fam} model")
    if vit_config is not None and fam in ("vit", "tv_vit") and heads is None:
        heads = vit_config[0].get("num_attention_heads")
    if arch is not None:
        afam = family_of_arch(arch)
        if afam is None:
            raise ConvertError(f"unknown --arch {arch!r} (expected cifar_resnetN, resnetN, vit_*, tv_vit_*)")
        if afam != fam and not (fam == "tintn_vit" and afam == "vit"):
            raise ConvertError(f"--arch {arch} is a {afam} model but the weights look like a {fam} model:\n" + describe_keys(sd))
    try:
        if fam == "cifar_resnet":
            cfg = infer_cifar_resnet(sd)
        elif fam == "resnet":
            cfg = infer_resnet(sd)
        elif fam == "vit":
            cfg = infer_vit(sd, heads, arch)
        elif fam == "tintn_vit":
            cfg = infer_tintn_vit(sd, heads, arch, vit_config)
        else:
            cfg = infer_tv_vit(sd, heads, arch)
    except KeyError as e:
        raise ConvertError(f"looks like a {fam} model but tensor {e} is missing; found:\n" + describe_keys(sd))
    if arch is not None and fam in ("cifar_resnet", "resnet") and arch != cfg["arch"]:
        raise ConvertError(f"--arch {arch} does not match the weights, which are a {cfg['arch']} "
                           f"({json.dumps({k: v for k, v in cfg.items() if k != 'arch'})})")
    if arch is not None and fam in ("vit", "tv_vit"):
        cfg["arch"] = arch
    check_against_model(to_engine_names(sd, cfg), cfg)
    return cfg


def check_against_model(sd, cfg):
    """Builds the reference model for cfg and checks names and shapes match exactly."""
    import torch

    from pt_models import build_model

    torch.manual_seed(0)
    ref = {k: tuple(v.shape) for k, v in build_model(cfg).state_dict().items() if not k.endswith("num_batches_tracked")}
    check_names(sd, ref, cfg["arch"])


def check_names(sd, ref, arch):
    missing = sorted(set(ref) - set(sd))
    extra = sorted(set(sd) - set(ref))
    wrong = sorted(k for k in set(ref) & set(sd) if ref[k] != tuple(sd[k].shape))
    if missing or extra or wrong:
        msg = [f"weights recognised as {arch} but do not match that architecture exactly:"]
        if missing:
            msg.append(f"  missing ({len(missing)}): {', '.join(missing[:10])}")
        if extra:
            msg.append(f"  unexpected ({len(extra)}): {', '.join(extra[:10])}")
        for k in wrong[:10]:
            msg.append(f"  shape of {k}: {list(sd[k].shape)}, expected {list(ref[k])}")
        raise ConvertError("\n".join(msg))


# --------------------------------------------------------------------------------------------
# metadata and writing
# --------------------------------------------------------------------------------------------


def _s(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (list, tuple)):
        return ",".join(_s(x) for x in v)
    return str(v)


def build_metadata(cfg, source_path, classes=None, mean=None, std=None, extra=None):
    meta = {k: _s(v) for k, v in cfg.items()}
    meta["config"] = json.dumps(cfg, sort_keys=True)
    meta["format_version"] = FORMAT_VERSION
    meta["source"] = os.path.basename(source_path)
    with open(source_path, "rb") as f:
        meta["source_sha256"] = hashlib.sha256(f.read()).hexdigest()
    if classes:
        meta["classes"] = ",".join(classes)
    meta["input_mean"] = _s(mean or IMAGENET_MEAN)
    meta["input_std"] = _s(std or IMAGENET_STD)
    for k, v in (extra or {}).items():
        meta[k] = _s(v)
    return meta


def load_vit_config(path):
    """The tutorial's config json (--config) as (dict, path)."""
    if not os.path.isfile(path):
        raise ConvertError(f"--config {path}: no such file")
    try:
        with open(path) as f:
            conf = json.load(f)
    except (OSError, ValueError) as e:
        raise ConvertError(f"--config {path}: not a JSON file ({e})")
    if not isinstance(conf, dict):
        raise ConvertError(f"--config {path}: expected a JSON object")
    return conf, path


def convert_checkpoint(path, arch=None, classes=None, heads=None, mean=None, std=None, vit_config=None):
    """Loads, cleans and inspects a checkpoint. Returns (state dict {name: torch tensor} under the
    engine's names, cfg, metadata). vit_config: a --config file path, or (dict, path)."""
    import torch

    obj = load_checkpoint(path)
    raw = find_state_dict(obj)
    if raw is None:
        what = f"dict with keys {sorted(map(str, obj.keys()))[:20]}" if isinstance(obj, dict) else type(obj).__name__
        raise ConvertError(f"{path}: no state dict found in the checkpoint (top level: {what})")
    sd = clean_state_dict(raw)
    if not sd:
        raise ConvertError(f"{path}: the state dict is empty")
    try:
        if isinstance(vit_config, str):
            vit_config = load_vit_config(vit_config)
        cfg = infer_config(sd, arch, heads, vit_config)
    except ConvertError as e:
        raise ConvertError(f"{path}: {e}")
    sd = to_engine_names(sd, cfg)
    if cfg.get("layout") == "tintn":
        mean, std = mean or TINTN_MEAN, std or TINTN_STD
        if classes is None and cfg["num_classes"] == len(CIFAR10_CLASSES):
            classes = list(CIFAR10_CLASSES)  # the tutorial trains on CIFAR-10
    extra = {}
    if isinstance(obj, dict) and obj is not raw:
        for k, v in obj.items():  # small scalar fields of the wrapper (best_prec1, epoch, num_classes ...)
            if isinstance(v, (int, float, str, bool)) and not isinstance(v, torch.Tensor) and len(str(v)) < 200:
                extra[f"source_{k}"] = v
        if "num_classes" in obj and isinstance(obj["num_classes"], int) and obj["num_classes"] != cfg["num_classes"]:
            raise ConvertError(f"{path}: checkpoint says num_classes={obj['num_classes']} but the head has {cfg['num_classes']} outputs")
    if classes is not None and len(classes) != cfg["num_classes"]:
        raise ConvertError(f"{path}: --classes lists {len(classes)} names but the model has {cfg['num_classes']} outputs")
    for k, v in sd.items():
        if v.dtype == torch.bool:
            sd[k] = v.to(torch.uint8)
        elif v.dtype in (torch.int8, torch.int16):
            sd[k] = v.to(torch.int32)
        elif v.dtype not in (torch.float32, torch.float64, torch.float16, torch.bfloat16, torch.int32, torch.int64, torch.uint8):
            raise ConvertError(f"{path}: tensor {k} has unsupported dtype {v.dtype}")
    extra.update(engine_metadata(cfg))
    meta = build_metadata(cfg, path, classes, mean, std, extra)
    return sd, cfg, meta


def write_h5(out, sd, meta):
    try:
        import h5py
    except ImportError:
        raise ConvertError(f"{out}: writing .h5 needs h5py (Debian: apt-get install python3-h5py); "
                           "write .safetensors instead")
    import torch

    with h5py.File(out, "w") as f:
        for k in sorted(sd):
            v = sd[k]
            if v.dtype == torch.bfloat16:
                raise ConvertError(f"{out}: bf16 tensor {k} cannot be written to HDF5; use .safetensors")
            f.create_dataset(k, data=v.numpy())
        for k, v in sorted(meta.items()):
            f.attrs[k] = v


def write_output(out, sd, meta):
    import st_io

    ext = os.path.splitext(out)[1].lower()
    d = os.path.dirname(os.path.abspath(out))
    if not os.path.isdir(d):
        raise ConvertError(f"{out}: output directory {d} does not exist")
    if ext == ".safetensors":
        st_io.save(out, sd, meta)
    elif ext in (".h5", ".hdf5"):
        write_h5(out, sd, meta)
    else:
        raise ConvertError(f"{out}: unknown output extension {ext!r} (use .safetensors or .h5)")


def _floats3(s):
    v = [float(x) for x in s.split(",")]
    if len(v) != 3:
        raise argparse.ArgumentTypeError("expected three comma-separated numbers (R,G,B)")
    return v


def main(argv=None):
    ap = argparse.ArgumentParser(description="Convert a PyTorch checkpoint to .safetensors/.h5 with architecture metadata.")
    ap.add_argument("input", metavar="IN", help="PyTorch checkpoint (.th/.pt/.pth; legacy or zip torch.save format)")
    ap.add_argument("output", metavar="OUT", help="output file, .safetensors or .h5")
    ap.add_argument("--arch", help="architecture name (checked against the weights); default: inferred")
    ap.add_argument("--classes", help="comma-separated class names, in model output order")
    ap.add_argument("--heads", type=int, help="ViT attention heads (not inferable from the weights; default from --config, the preset, "
                                              "dim/64; required (or --config) for the tintn layout)")
    ap.add_argument("--config", help="ViT training config json with num_attention_heads (the tintn tutorial's config.json); "
                                     "for the tintn layout also checked against the weights")
    ap.add_argument("--mean", type=_floats3, help="input normalisation mean R,G,B (default ImageNet 0.485,0.456,0.406; tintn ViT 0.5,0.5,0.5)")
    ap.add_argument("--std", type=_floats3, help="input normalisation std R,G,B (default ImageNet 0.229,0.224,0.225; tintn ViT 0.5,0.5,0.5)")
    ap.add_argument("-q", "--quiet", action="store_true")
    a = ap.parse_args(argv)
    classes = [c.strip() for c in a.classes.split(",")] if a.classes else None
    if classes and (any(not c for c in classes) or len(set(classes)) != len(classes)):
        print(f"convert_torch.py: error: {a.input}: --classes must be distinct non-empty names", file=sys.stderr)
        return 2
    ext = os.path.splitext(a.output)[1].lower()
    if ext not in (".safetensors", ".h5", ".hdf5"):
        print(f"convert_torch.py: error: {a.output}: unknown output extension {ext!r} (use .safetensors or .h5)", file=sys.stderr)
        return 2
    if ext != ".safetensors":
        try:
            import h5py  # noqa: F401
        except ImportError:
            print(f"convert_torch.py: error: {a.output}: writing .h5 needs h5py (Debian: apt-get install python3-h5py); "
                  "write .safetensors instead", file=sys.stderr)
            return 2
    try:
        import torch

        torch.set_num_threads(1)
        sd, cfg, meta = convert_checkpoint(a.input, a.arch, classes, a.heads, a.mean, a.std, a.config)
        write_output(a.output, sd, meta)
    except ConvertError as e:
        print(f"convert_torch.py: error: {e}", file=sys.stderr)
        return 2
    if not a.quiet:
        n = sum(int(np.prod(v.shape)) for v in sd.values())
        print(f"{a.input} -> {a.output}: {cfg['arch']}, {len(sd)} tensors, {n} values, num_classes {cfg['num_classes']}"
              + (f", classes {meta['classes']}" if "classes" in meta else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
