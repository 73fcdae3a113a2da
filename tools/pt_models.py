"""Plain-PyTorch reference models for goldens and reference evaluation.

* CifarResNet  - akamaster/pytorch_resnet_cifar10 layout (option-A shortcut), any depth 6n+2,
                 any base width, any number of classes. State-dict names match the zoo files
                 (after stripping `module.`).
* ResNet       - torchvision ResNet layout (conv1/bn1/maxpool/layer1-4/fc, blocks from
                 torchvision.models.resnet, downsample.0/.1) with configurable stem and stage
                 widths. With the default widths it is torchvision's resnet18/34/50/... and loads
                 their state dicts strictly.
* ViT          - timm VisionTransformer layout (patch_embed.proj, cls_token, pos_embed,
                 blocks.N.{norm1,attn.qkv,attn.proj,norm2,mlp.fc1,mlp.fc2}, norm, head), pre-norm,
                 exact (erf) GELU, LayerNorm eps 1e-6, qkv with bias, head on the cls token.
                 Options: tanh GELU (act="gelu_tanh"), no final LayerNorm (final_norm="none").
* TintnViT     - the ViT of the tutorial tintn/vision-transformer-from-scratch (the zoo's two
                 vit_tintn_*.pt), written from ../shared/data/zoo/README.md with the tutorial's own
                 names (embedding.*, encoder.blocks.N.{layernorm_1, attention.qkv_projection, ...},
                 classifier): pre-norm, tanh GELU, no final LayerNorm, LayerNorm eps 1e-5. It loads
                 the zoo state dicts strictly; tintn_to_timm / timm_to_tintn rename between it and
                 the timm names the converter writes (the tensors are identical).

`build_model(config)` builds any of them (plus torchvision's own ViT for "tv_vit") from the
config dict stored as JSON under metadata key "config" by convert_torch.py / make_goldens.py.
"""
import json
import math
import re

import torch
import torch.nn as nn
import torch.nn.functional as F

# --------------------------------------------------------------------------------------------
# CIFAR ResNet (He et al. 2016, Sec. 4.2; akamaster's resnet.py)
# --------------------------------------------------------------------------------------------


class LambdaLayer(nn.Module):
    def __init__(self, fn):
        super().__init__()
        self.fn = fn

    def forward(self, x):
        return self.fn(x)


class CifarBasicBlock(nn.Module):
    expansion = 1

    def __init__(self, in_planes, planes, stride=1):
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.shortcut = nn.Sequential()
        if stride != 1 or in_planes != planes:
            # Option A: subsample by 2 (rows/cols 0,2,4,...), zero-pad planes//4 channels on
            # each side (the input channels land in the middle).
            pad = planes // 4
            self.shortcut = LambdaLayer(lambda x: F.pad(x[:, :, ::2, ::2], (0, 0, 0, 0, pad, pad), "constant", 0))

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        out = out + self.shortcut(x)
        return F.relu(out)


class CifarResNet(nn.Module):
    def __init__(self, depth=20, width=16, num_classes=10):
        super().__init__()
        if (depth - 2) % 6 != 0:
            raise ValueError(f"CIFAR ResNet depth must be 6n+2, got {depth}")
        if width % 4 != 0:
            raise ValueError(f"CIFAR ResNet width must be a multiple of 4 (option-A padding), got {width}")
        n = (depth - 2) // 6
        self.in_planes = width
        self.conv1 = nn.Conv2d(3, width, 3, stride=1, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.layer1 = self._make_layer(width, n, 1)
        self.layer2 = self._make_layer(2 * width, n, 2)
        self.layer3 = self._make_layer(4 * width, n, 2)
        self.linear = nn.Linear(4 * width, num_classes)

    def _make_layer(self, planes, n, stride):
        layers = []
        for s in [stride] + [1] * (n - 1):
            layers.append(CifarBasicBlock(self.in_planes, planes, s))
            self.in_planes = planes
        return nn.Sequential(*layers)

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.layer3(self.layer2(self.layer1(out)))
        out = F.avg_pool2d(out, out.size()[3])
        return self.linear(out.view(out.size(0), -1))


# --------------------------------------------------------------------------------------------
# torchvision-layout ResNet with configurable widths
# --------------------------------------------------------------------------------------------

RESNET_LAYERS = {
    "resnet18": ("basic", [2, 2, 2, 2]),
    "resnet34": ("basic", [3, 4, 6, 3]),
    "resnet50": ("bottleneck", [3, 4, 6, 3]),
    "resnet101": ("bottleneck", [3, 4, 23, 3]),
    "resnet152": ("bottleneck", [3, 8, 36, 3]),
}


class ResNet(nn.Module):
    """torchvision.models.ResNet with configurable widths (same module names, same forward).

    widths are the per-stage `planes` (torchvision: 64,128,256,512); a bottleneck stage outputs
    4*planes channels and its inner (conv1/conv2) width is planes * width_per_group / 64
    (torchvision's base_width; wide_resnet50_2 has 128). Bottleneck is torchvision's v1.5
    (stride on the 3x3 conv2)."""

    def __init__(self, block="basic", layers=(2, 2, 2, 2), widths=(64, 128, 256, 512), stem_width=64, num_classes=1000, width_per_group=64):
        super().__init__()
        self.base_width = width_per_group
        from torchvision.models.resnet import BasicBlock, Bottleneck

        blk = {"basic": BasicBlock, "bottleneck": Bottleneck}[block]
        self.inplanes = stem_width
        self.conv1 = nn.Conv2d(3, stem_width, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(stem_width)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.layer1 = self._make_layer(blk, widths[0], layers[0], 1)
        self.layer2 = self._make_layer(blk, widths[1], layers[1], 2)
        self.layer3 = self._make_layer(blk, widths[2], layers[2], 2)
        self.layer4 = self._make_layer(blk, widths[3], layers[3], 2)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(widths[3] * blk.expansion, num_classes)
        for m in self.modules():  # torchvision's init
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.constant_(m.weight, 1)
                nn.init.constant_(m.bias, 0)

    def _make_layer(self, blk, planes, blocks, stride):
        downsample = None
        if stride != 1 or self.inplanes != planes * blk.expansion:
            downsample = nn.Sequential(
                nn.Conv2d(self.inplanes, planes * blk.expansion, 1, stride=stride, bias=False),
                nn.BatchNorm2d(planes * blk.expansion),
            )
        kw = {"base_width": self.base_width} if blk.expansion == 4 else {}
        layers = [blk(self.inplanes, planes, stride, downsample, **kw)]
        self.inplanes = planes * blk.expansion
        for _ in range(1, blocks):
            layers.append(blk(self.inplanes, planes, **kw))
        return nn.Sequential(*layers)

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        x = torch.flatten(self.avgpool(x), 1)
        return self.fc(x)


# --------------------------------------------------------------------------------------------
# timm-layout Vision Transformer in plain PyTorch
# --------------------------------------------------------------------------------------------

VIT_PRESETS = {  # name: (dim, depth, heads, patch, image_size)
    "vit_ti16": (192, 12, 3, 16, 224),
    "vit_s16": (384, 12, 6, 16, 224),
    "vit_b16": (768, 12, 12, 16, 224),
    "vit_b32": (768, 12, 12, 32, 224),
    "vit_l16": (1024, 24, 16, 16, 224),
}
TV_VIT_PRESETS = {  # torchvision names
    "tv_vit_b_16": (768, 12, 12, 16, 224),
    "tv_vit_b_32": (768, 12, 12, 32, 224),
    "tv_vit_l_16": (1024, 24, 16, 16, 224),
    "tv_vit_l_32": (1024, 24, 16, 32, 224),
    "tv_vit_h_14": (1280, 32, 16, 14, 224),
}


class PatchEmbed(nn.Module):
    def __init__(self, patch, dim):
        super().__init__()
        self.proj = nn.Conv2d(3, dim, kernel_size=patch, stride=patch, bias=True)

    def forward(self, x):
        return self.proj(x).flatten(2).transpose(1, 2)  # [B, N, D]


class Attention(nn.Module):
    def __init__(self, dim, heads, qkv_bias=True):
        super().__init__()
        if dim % heads:
            raise ValueError(f"dim {dim} not divisible by heads {heads}")
        self.heads = heads
        self.head_dim = dim // heads
        self.scale = self.head_dim ** -0.5
        self.qkv = nn.Linear(dim, 3 * dim, bias=qkv_bias)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x):
        B, N, C = x.shape
        qkv = self.qkv(x).reshape(B, N, 3, self.heads, self.head_dim).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]  # [B, H, N, hd]
        attn = (q * self.scale) @ k.transpose(-2, -1)
        attn = attn.softmax(dim=-1)
        x = (attn @ v).transpose(1, 2).reshape(B, N, C)
        return self.proj(x)


VIT_ACTS = {"gelu": "none", "gelu_tanh": "tanh"}  # engine metadata `act` -> nn.GELU(approximate=...)


class Mlp(nn.Module):
    def __init__(self, dim, hidden, act="gelu"):
        super().__init__()
        if act not in VIT_ACTS:
            raise ValueError(f"unknown ViT activation {act!r} (expected one of {sorted(VIT_ACTS)})")
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU(approximate=VIT_ACTS[act])  # exact erf GELU, or the tanh approximation
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x):
        return self.fc2(self.act(self.fc1(x)))


class Block(nn.Module):
    def __init__(self, dim, heads, mlp_dim, eps=1e-6, qkv_bias=True, act="gelu"):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=eps)
        self.attn = Attention(dim, heads, qkv_bias)
        self.norm2 = nn.LayerNorm(dim, eps=eps)
        self.mlp = Mlp(dim, mlp_dim, act)

    def forward(self, x):
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class ViT(nn.Module):
    def __init__(self, image_size=224, patch_size=16, dim=768, depth=12, heads=12, mlp_dim=None, num_classes=1000, ln_eps=1e-6, qkv_bias=True,
                 act="gelu", final_norm="layernorm"):
        super().__init__()
        if image_size % patch_size:
            raise ValueError(f"image_size {image_size} not a multiple of patch_size {patch_size}")
        if final_norm not in ("layernorm", "none"):
            raise ValueError(f"final_norm must be 'layernorm' or 'none', got {final_norm!r}")
        mlp_dim = mlp_dim or 4 * dim
        n = (image_size // patch_size) ** 2
        self.patch_embed = PatchEmbed(patch_size, dim)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.pos_embed = nn.Parameter(torch.randn(1, n + 1, dim) * 0.02)
        self.blocks = nn.Sequential(*[Block(dim, heads, mlp_dim, ln_eps, qkv_bias, act) for _ in range(depth)])
        # no final norm: no parameters (and no `norm.*` tensors), logits = head(cls token of the last block)
        self.norm = nn.LayerNorm(dim, eps=ln_eps) if final_norm == "layernorm" else nn.Identity()
        self.head = nn.Linear(dim, num_classes)

    def forward_features(self, x):
        x = self.patch_embed(x)
        x = torch.cat([self.cls_token.expand(x.shape[0], -1, -1), x], dim=1) + self.pos_embed
        return self.norm(self.blocks(x))

    def forward(self, x):
        return self.head(self.forward_features(x)[:, 0])


# --------------------------------------------------------------------------------------------
# The tintn tutorial ViT (tintn/vision-transformer-from-scratch), its own names
# --------------------------------------------------------------------------------------------


def gelu_tanh(x):
    """The tanh approximation of GELU, as the tutorial's NewGELUActivation:
    0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))."""
    return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * torch.pow(x, 3.0))))


class TintnPatchEmbeddings(nn.Module):
    def __init__(self, patch, dim):
        super().__init__()
        self.projection = nn.Conv2d(3, dim, kernel_size=patch, stride=patch)

    def forward(self, x):  # [B, 3, H, W] -> [B, (H/p)(W/p), D], row-major patch order
        return self.projection(x).flatten(2).transpose(1, 2)


class TintnEmbeddings(nn.Module):
    def __init__(self, image_size, patch, dim):
        super().__init__()
        n = (image_size // patch) ** 2
        self.patch_embeddings = TintnPatchEmbeddings(patch, dim)
        self.cls_token = nn.Parameter(torch.randn(1, 1, dim))
        self.position_embeddings = nn.Parameter(torch.randn(1, n + 1, dim))

    def forward(self, x):
        x = self.patch_embeddings(x)
        cls = self.cls_token.expand(x.shape[0], -1, -1)
        return torch.cat((cls, x), dim=1) + self.position_embeddings  # cls token first


class TintnAttention(nn.Module):
    """Fused qkv: output [q | k | v], each D wide, head h = columns h*hd .. h*hd+hd-1 of each."""

    def __init__(self, dim, heads, qkv_bias=True):
        super().__init__()
        if dim % heads:
            raise ValueError(f"hidden size {dim} is not divisible by {heads} attention heads")
        self.heads, self.head_dim = heads, dim // heads
        self.qkv_projection = nn.Linear(dim, 3 * dim, bias=qkv_bias)
        self.output_projection = nn.Linear(dim, dim)

    def forward(self, x):
        B, L, D = x.shape
        q, k, v = torch.chunk(self.qkv_projection(x), 3, dim=-1)
        q, k, v = (t.view(B, L, self.heads, self.head_dim).transpose(1, 2) for t in (q, k, v))  # [B, H, L, hd]
        scores = torch.matmul(q, k.transpose(-1, -2)) / math.sqrt(self.head_dim)
        out = torch.matmul(F.softmax(scores, dim=-1), v)  # [B, H, L, hd]
        return self.output_projection(out.transpose(1, 2).contiguous().view(B, L, D))


class TintnMLP(nn.Module):
    def __init__(self, dim, hidden):
        super().__init__()
        self.dense_1 = nn.Linear(dim, hidden)
        self.dense_2 = nn.Linear(hidden, dim)

    def forward(self, x):
        return self.dense_2(gelu_tanh(self.dense_1(x)))


class TintnBlock(nn.Module):
    def __init__(self, dim, heads, hidden, eps=1e-5, qkv_bias=True):
        super().__init__()
        self.attention = TintnAttention(dim, heads, qkv_bias)
        self.layernorm_1 = nn.LayerNorm(dim, eps=eps)
        self.mlp = TintnMLP(dim, hidden)
        self.layernorm_2 = nn.LayerNorm(dim, eps=eps)

    def forward(self, x):
        x = x + self.attention(self.layernorm_1(x))
        return x + self.mlp(self.layernorm_2(x))


class TintnEncoder(nn.Module):
    def __init__(self, dim, depth, heads, hidden, eps, qkv_bias):
        super().__init__()
        self.blocks = nn.ModuleList([TintnBlock(dim, heads, hidden, eps, qkv_bias) for _ in range(depth)])

    def forward(self, x):
        for b in self.blocks:
            x = b(x)
        return x


class TintnViT(nn.Module):
    """tintn's ViTForClassfication (eval, dropout 0): embedding -> encoder -> classifier(x[:, 0]);
    no final LayerNorm."""

    def __init__(self, image_size=32, patch_size=4, dim=48, depth=4, heads=4, mlp_dim=192, num_classes=10, ln_eps=1e-5, qkv_bias=True):
        super().__init__()
        if image_size % patch_size:
            raise ValueError(f"image_size {image_size} not a multiple of patch_size {patch_size}")
        self.embedding = TintnEmbeddings(image_size, patch_size, dim)
        self.encoder = TintnEncoder(dim, depth, heads, mlp_dim, ln_eps, qkv_bias)
        self.classifier = nn.Linear(dim, num_classes)

    def forward(self, x):
        return self.classifier(self.encoder(self.embedding(x))[:, 0, :])


def tintn_from_config(cfg):
    return TintnViT(cfg["image_size"], cfg["patch_size"], cfg["dim"], cfg["depth"], cfg["heads"], cfg["mlp_dim"],
                    cfg["num_classes"], cfg.get("ln_eps", 1e-5), cfg.get("qkv_bias", True)).eval()


# The tintn tutorial's names and timm's, as prefix pairs ("{i}" = block index); each direction's
# rename rules are built from the same table.
_TINTN_TIMM_NAMES = [
    ("embedding.patch_embeddings.projection.", "patch_embed.proj."),
    ("embedding.cls_token", "cls_token"),
    ("embedding.position_embeddings", "pos_embed"),
    ("encoder.blocks.{i}.layernorm_1.", "blocks.{i}.norm1."),
    ("encoder.blocks.{i}.layernorm_2.", "blocks.{i}.norm2."),
    ("encoder.blocks.{i}.attention.qkv_projection.", "blocks.{i}.attn.qkv."),
    ("encoder.blocks.{i}.attention.output_projection.", "blocks.{i}.attn.proj."),
    ("encoder.blocks.{i}.mlp.dense_1.", "blocks.{i}.mlp.fc1."),
    ("encoder.blocks.{i}.mlp.dense_2.", "blocks.{i}.mlp.fc2."),
    ("classifier.", "head."),
]


def _rules(pairs):
    """(source prefix, target prefix) -> (regex, replacement); a prefix without a trailing dot is a whole name."""
    out = []
    for src, dst in pairs:
        rx = "^" + re.escape(src).replace(re.escape("{i}"), r"(\d+)") + ("" if src.endswith(".") else "$")
        out.append((rx, dst.replace("{i}", r"\1")))
    return out


_TINTN_RULES = _rules(_TINTN_TIMM_NAMES)
_TIMM_RULES = _rules([(b, a) for a, b in _TINTN_TIMM_NAMES])


def _rename(sd, rules, what):
    import re

    out = {}
    for k, v in sd.items():
        for pat, rep in rules:
            n, hits = re.subn(pat, rep, k)
            if hits:
                break
        else:
            raise KeyError(f"{what}: no rule for tensor {k!r}")
        if n in out:
            raise KeyError(f"{what}: two tensors map to {n!r}")
        out[n] = v
    return out


def tintn_to_timm(sd):
    """tintn names -> timm names (the converter's output; tensors unchanged: qkv rows are already
    [q; k; v] with heads contiguous, as timm's attn.qkv). Unknown names raise KeyError."""
    return _rename(sd, _TINTN_RULES, "tintn_to_timm")


def timm_to_tintn(sd):
    return _rename(sd, _TIMM_RULES, "timm_to_tintn")


def tv_vit_to_timm(sd):
    """Renames a torchvision VisionTransformer state dict to the timm names used by ViT above
    (in_proj = [q; k; v] rows, as timm's qkv; mlp.0/mlp.3 = fc1/fc2)."""
    import re

    out = {}
    for k, v in sd.items():
        n = k
        n = n.replace("class_token", "cls_token").replace("conv_proj.", "patch_embed.proj.")
        n = n.replace("encoder.pos_embedding", "pos_embed").replace("encoder.ln.", "norm.")
        n = n.replace("heads.head.", "head.")
        n = re.sub(r"^encoder\.layers\.encoder_layer_(\d+)\.", r"blocks.\1.", n)
        n = n.replace(".ln_1.", ".norm1.").replace(".ln_2.", ".norm2.")
        n = n.replace(".self_attention.in_proj_weight", ".attn.qkv.weight").replace(".self_attention.in_proj_bias", ".attn.qkv.bias")
        n = n.replace(".self_attention.out_proj.", ".attn.proj.")
        n = n.replace(".mlp.0.", ".mlp.fc1.").replace(".mlp.3.", ".mlp.fc2.")
        out[n] = v
    return out


# --------------------------------------------------------------------------------------------
# Config <-> model
# --------------------------------------------------------------------------------------------


def parse_config(meta):
    """Config dict from a metadata dict (uses the "config" JSON if present)."""
    if "config" in meta:
        return json.loads(meta["config"])
    raise ValueError("metadata has no 'config' entry; re-run convert_torch.py")


def vit_act(cfg):
    """The MLP activation of a ViT config: `act` (engine metadata name), else `gelu` (erf | tanh)."""
    by_gelu = {"erf": "gelu", "tanh": "gelu_tanh"}
    g = cfg.get("gelu", "erf")
    if g not in by_gelu:
        raise ValueError(f"ViT config: gelu must be 'erf' or 'tanh', got {g!r}")
    act = cfg.get("act", by_gelu[g])
    if act != by_gelu[g] and "gelu" in cfg:
        raise ValueError(f"ViT config: act {act!r} disagrees with gelu {g!r}")
    return act


def build_model(cfg):
    """Builds an nn.Module (eval mode, uninitialised weights) from a config dict."""
    fam = cfg["family"]
    if fam == "cifar_resnet":
        m = CifarResNet(cfg["depth"], cfg["width"], cfg["num_classes"])
    elif fam == "resnet":
        m = ResNet(cfg["block"], cfg["layers"], cfg["widths"], cfg["stem_width"], cfg["num_classes"], cfg.get("width_per_group", 64))
    elif fam == "vit":
        m = ViT(cfg["image_size"], cfg["patch_size"], cfg["dim"], cfg["depth"], cfg["heads"], cfg["mlp_dim"], cfg["num_classes"], cfg.get("ln_eps", 1e-6), cfg.get("qkv_bias", True),
                vit_act(cfg), cfg.get("final_norm", "layernorm"))
    elif fam == "tv_vit":
        from torchvision.models.vision_transformer import VisionTransformer

        m = VisionTransformer(image_size=cfg["image_size"], patch_size=cfg["patch_size"], num_layers=cfg["depth"], num_heads=cfg["heads"], hidden_dim=cfg["dim"], mlp_dim=cfg["mlp_dim"], num_classes=cfg["num_classes"])
    else:
        raise ValueError(f"unknown model family {fam!r}")
    return m.eval()


def load_model(path, heads=None, vit_config=None):
    """Model + metadata from a converted .safetensors file or a raw torch checkpoint (heads /
    vit_config: as convert_torch.py --heads / --config, for raw ViT checkpoints)."""
    if str(path).endswith(".safetensors"):
        import st_io

        tensors, meta = st_io.load(path, as_torch=True)
        cfg = parse_config(meta)
        sd = tensors
    else:
        import convert_torch

        sd, cfg, meta = convert_torch.convert_checkpoint(path, heads=heads, vit_config=vit_config)
        sd = {k: torch.as_tensor(v) for k, v in sd.items()}
    if cfg.get("layout") == "tintn":
        # The reference for the tutorial's ViTs is TintnViT (written from the zoo README, the
        # tutorial's names), not the timm ViT the engine names come from.
        model = tintn_from_config(cfg)
        model.load_state_dict(timm_to_tintn(sd), strict=True)
        return model.eval(), cfg, meta
    model = build_model(cfg)
    missing, unexpected = model.load_state_dict(sd, strict=False)
    missing = [k for k in missing if not k.endswith("num_batches_tracked")]
    if missing or unexpected:
        raise ValueError(f"{path}: state dict mismatch: missing {missing[:8]}, unexpected {list(unexpected)[:8]}")
    return model.eval(), cfg, meta


def count_params(model):
    return sum(p.numel() for p in model.parameters())


def _selftest():
    import torchvision

    torch.manual_seed(0)
    for name, fn in [("resnet18", torchvision.models.resnet18), ("resnet50", torchvision.models.resnet50)]:
        tv = fn().eval()
        blk, layers = RESNET_LAYERS[name]
        m = ResNet(blk, layers).eval()
        m.load_state_dict(tv.state_dict(), strict=True)
        x = torch.randn(1, 3, 64, 64)
        assert torch.equal(m(x), tv(x)), name
    m = CifarResNet(20)
    assert count_params(m) == 269722, count_params(m)
    assert count_params(CifarResNet(56)) == 853018
    from torchvision.models.vision_transformer import VisionTransformer

    tv = VisionTransformer(image_size=32, patch_size=8, num_layers=2, num_heads=4, hidden_dim=64, mlp_dim=128, num_classes=10).eval()
    with torch.no_grad():
        for p in tv.parameters():
            p.normal_(0, 0.2)
    v = ViT(32, 8, 64, 2, 4, 128, 10).eval()
    v.load_state_dict(tv_vit_to_timm(tv.state_dict()), strict=True)
    x = torch.randn(2, 3, 32, 32)
    d = (v(x) - tv(x)).abs().max().item()
    assert d < 1e-4, d
    # tintn layout: TintnViT == ViT(act=gelu_tanh, final_norm=none, ln_eps=1e-5) on renamed weights
    t = TintnViT(32, 4, 48, 2, 4, 96, 10).eval()
    with torch.no_grad():
        for p in t.parameters():
            p.normal_(0, 0.3)
    v = ViT(32, 4, 48, 2, 4, 96, 10, 1e-5, True, "gelu_tanh", "none").eval()
    v.load_state_dict(tintn_to_timm(t.state_dict()), strict=True)
    assert sorted(timm_to_tintn(v.state_dict())) == sorted(t.state_dict())
    d = (v(x) - t(x)).abs().max().item()
    assert d < 1e-4, d
    xs = torch.linspace(-6, 6, 101)
    assert (gelu_tanh(xs) - F.gelu(xs, approximate="tanh")).abs().max().item() < 1e-6
    print("pt_models self-test ok")


if __name__ == "__main__":
    _selftest()
